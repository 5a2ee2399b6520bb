//! Density-ratio estimation (tutorial V-B b): logistic classifiers whose
//! logit estimates a log density ratio (Lemma V.1), the telescopic estimator
//! along a flow's intermediate distributions (eq. 28), and two baselines, a
//! one-step classifier and a kernel density estimate.
//!
//! **Lemma V.1.** For samples of `f₀` (label 0) and `f₁` (label 1), the
//! logistic loss
//!
//! `ℓ[φ] = E_{f₀} log(1 + e^{φ(x)}) + E_{f₁} log(1 + e^{−φ(x)})`
//!
//! is minimized by `φ* = log f₁/f₀`. A [`LogisticClassifier`] is an MLP
//! `φ: ℝᵈ → ℝ` (optionally with the time `t` as one more input) trained on
//! minibatches of equal size from both sets with Adam on exactly this loss;
//! its logit is the estimate of `log f₁/f₀`.
//!
//! **Telescopic estimator (eq. 28).** Given snapshots `p₀ = p, p₁, …, p_M =
//! q` of a bridge between `p` and `q` (each a set of samples),
//! `log q/p (x) = Σ_{n<M} log p_{n+1}(x)/p_n(x)`, and each term is the logit
//! of a classifier between consecutive snapshots, whose supports are close.
//! [`flow_snapshots`] makes the bridge from a flow `T` from `p` to `q`:
//! samples of `p` pushed through the blocks, snapshots at the block ends (or
//! also inside blocks), and then the samples of `q` themselves as the last
//! snapshot, so that the sum telescopes to `log q/p` exactly in population
//! even where `T#p` is not quite `q` (the last term is the classifier between
//! `T#p` and `q`, near zero for a good flow). [`reverse_flow_snapshots`] is
//! the mirror image, `q` pulled back through the blocks and closed by `p`
//! (its estimator estimates `log p/q`), and [`FlowRatio`] averages the two
//! bridges' estimates, which err in opposite directions away from the data
//! (see there). Two ways to fit the terms ([`RatioModel`]): one classifier
//! per consecutive pair, or one time-conditional classifier `r(x, s)`
//! evaluated at each pair's time `s_n`.
//!
//! **Baselines.** [`fit_one_step`]: a single classifier between the samples
//! of `p` and `q` (the same architecture and training budget as one
//! telescopic term). [`KdeRatio`]: `log q̂ − log p̂` with Gaussian kernel
//! density estimates, each with a diagonal bandwidth by Scott's rule,
//! `h_j = σ̂_j n^{−1/(d+4)}` (`σ̂_j` the sample standard deviation of
//! coordinate `j` of that sample, `n` its size).

use super::block::{BlockFlow, EvalOptions};
use crate::autodiff::{Tape, Var};
use crate::backend::Activation;
use crate::nn::{Init, Linear, Mlp, ParamStore, Params, mean_loss_and_grads};
use crate::optim::{Adam, Optimizer, Schedule};
use crate::tensor::random::Rng;
use crate::tensor::{Float, Tensor};
use crate::{Error, Result, invalid_arg, shape_err};

/// Rows per untracked evaluation chunk.
const EVAL_CHUNK: usize = 8192;

/// The network of a [`LogisticClassifier`].
#[derive(Clone, Debug, PartialEq)]
pub struct ClassifierSpec {
    /// Dimension of the points (the time, if any, comes on top).
    pub dim: usize,
    pub hidden: Vec<usize>,
    pub act: Activation,
    /// Whether the classifier takes a time `t` as one more input.
    pub time_input: bool,
    /// Whether the features include the products `x_i x_j` (`i ≤ j`) and a
    /// linear head on the features is added to the MLP: a quadratic trend
    /// (a log ratio of Gaussians is quadratic) plus the MLP's correction.
    pub quadratic: bool,
}

impl ClassifierSpec {
    fn validate(&self) -> Result<()> {
        if self.dim == 0 {
            invalid_arg!("a classifier needs a positive dimension");
        }
        if self.hidden.is_empty() || self.hidden.contains(&0) {
            invalid_arg!("a classifier needs positive hidden widths, got {:?}", self.hidden);
        }
        Ok(())
    }

    /// Columns of the raw input: `x`, then the time if any.
    fn in_dim(&self) -> usize {
        self.dim + usize::from(self.time_input)
    }

    /// Columns of the features the network sees.
    fn feature_dim(&self) -> usize {
        let products = if self.quadratic { self.dim * (self.dim + 1) / 2 } else { 0 };
        self.dim + products + usize::from(self.time_input)
    }
}

/// A binary classifier `φ(x)` (or `φ(x, t)`) whose logit, trained with the
/// logistic loss of Lemma V.1, estimates `log f₁(x)/f₀(x)`: an MLP on the
/// features (`x`, the products `x_i x_j` if quadratic, `t` if
/// time-conditional), plus a linear head on the features if quadratic
/// (initialized at zero).
#[derive(Clone, Debug)]
pub struct LogisticClassifier<T: Float> {
    pub spec: ClassifierSpec,
    pub mlp: Mlp,
    pub head: Option<Linear>,
    pub store: ParamStore<T>,
}

impl<T: Float> LogisticClassifier<T> {
    /// A freshly initialized classifier (PyTorch's default linear init).
    pub fn new(spec: ClassifierSpec, rng: &mut Rng) -> Result<Self> {
        spec.validate()?;
        let mut store = ParamStore::new();
        let mut widths = vec![spec.feature_dim()];
        widths.extend_from_slice(&spec.hidden);
        widths.push(1);
        let mlp = Mlp::new(&mut store, "phi", &widths, spec.act, Init::TorchLinear, rng)?;
        let head = if spec.quadratic {
            Some(Linear::new(&mut store, "phi.head", spec.feature_dim(), 1, Init::Zeros, rng)?)
        } else {
            None
        };
        Ok(LogisticClassifier { spec, mlp, head, store })
    }

    /// A classifier with given parameters, which must match the
    /// specification's network in names and shapes.
    pub fn with_params(spec: ClassifierSpec, store: ParamStore<T>) -> Result<Self> {
        let mut c = Self::new(spec, &mut Rng::seed(0))?;
        if c.store.names() != store.names()
            || c.store.values().iter().zip(store.values()).any(|(a, b)| a.dims() != b.dims())
        {
            invalid_arg!("parameters {:?} do not fit the classifier (it needs {:?})", store.names(), c.store.names());
        }
        c.store = store;
        Ok(c)
    }

    fn check_points(&self, x: &Tensor<T>) -> Result<()> {
        if x.rank() != 2 || x.dims()[1] != self.spec.dim {
            shape_err!("the classifier takes points of dimension {}, got shape {}", self.spec.dim, x.shape());
        }
        Ok(())
    }

    /// `[x, t]` when the classifier is time-conditional, else `x`.
    fn input(&self, x: &Tensor<T>, t: Option<f64>) -> Result<Tensor<T>> {
        match (self.spec.time_input, t) {
            (false, None) => Ok(x.clone()),
            (true, Some(t)) => {
                let col = Tensor::full([x.dims()[0], 1], T::from_f64(t), x.device())?;
                Tensor::concat(&[x, &col], 1)
            }
            (true, None) => invalid_arg!("this classifier is time-conditional: it needs a time"),
            (false, Some(_)) => invalid_arg!("this classifier takes no time input"),
        }
    }

    /// The logit `φ` of the rows of `x` (`[n, dim]`), with times `t`
    /// (`[n, 1]`) if time-conditional, on a tape: `[n, 1]`, differentiable in
    /// `x` and the parameters.
    pub fn logit_on_tape<'t>(&self, p: &Params<'t, T>, x: Var<'t, T>, t: Option<Var<'t, T>>) -> Result<Var<'t, T>> {
        if t.is_some() != self.spec.time_input {
            invalid_arg!("time input given: {}, the classifier takes one: {}", t.is_some(), self.spec.time_input);
        }
        let d = self.spec.dim;
        let mut parts = vec![x];
        if self.spec.quadratic {
            let cols: Vec<Var<'t, T>> = (0..d).map(|i| x.slice(1, i, 1)).collect::<Result<_>>()?;
            for i in 0..d {
                for j in i..d {
                    parts.push(cols[i].mul(&cols[j])?);
                }
            }
        }
        parts.extend(t);
        let features = if parts.len() == 1 { x } else { Var::concat(&parts, 1)? };
        let out = self.mlp.forward(p, features)?;
        match &self.head {
            Some(h) => out.add(&h.forward(p, features)?),
            None => Ok(out),
        }
    }

    /// The logits `φ(x)` (or `φ(x, t)`), untracked, one per row of `x`.
    pub fn logits(&self, x: &Tensor<T>, t: Option<f64>) -> Result<Vec<f64>> {
        self.check_points(x)?;
        let n = x.dims()[0];
        let mut out = Vec::with_capacity(n);
        let mut start = 0;
        while start < n {
            let len = EVAL_CHUNK.min(n - start);
            let tape = Tape::new();
            let p = self.store.attach_frozen(&tape);
            let xs = tape.constant(x.slice(0, start, len)?);
            let ts = match t {
                Some(t) => Some(tape.constant(Tensor::full([len, 1], T::from_f64(t), x.device())?)),
                None => None,
            };
            out.extend(self.logit_on_tape(&p, xs, ts)?.value().to_f64_vec()?);
            start += len;
        }
        Ok(out)
    }

    /// The logistic loss of Lemma V.1 on `x0` (label 0) and `x1` (label 1),
    /// equally many rows, at times `t` if time-conditional, and its
    /// gradients (store order). The batch is sharded across threads.
    pub fn logistic_loss_and_grads(
        &self,
        x0: &Tensor<T>,
        x1: &Tensor<T>,
        t: Option<f64>,
    ) -> Result<(f64, Vec<Tensor<T>>)> {
        let rows = labelled_rows(self, &[(x0, x1, t)])?;
        self.loss_on_rows(&rows)
    }

    /// The mean of `softplus(−s·φ)` over rows `[x, t?, s]` with `s = ±1`,
    /// times 2: the logistic loss when both labels have equally many rows.
    fn loss_on_rows(&self, rows: &Tensor<T>) -> Result<(f64, Vec<Tensor<T>>)> {
        let (d, width) = (self.spec.dim, self.spec.in_dim());
        let timed = self.spec.time_input;
        let (loss, grads) = mean_loss_and_grads(&self.store, rows, |p, r| {
            let x = r.slice(1, 0, d)?;
            let t = if timed { Some(r.slice(1, d, 1)?) } else { None };
            let sign = r.slice(1, width, 1)?;
            let phi = self.logit_on_tape(p, x, t)?;
            // Label 1 rows carry s = +1: softplus(−φ); label 0 rows s = −1: softplus(φ).
            phi.mul(&sign)?.neg()?.softplus(1.0)?.mean_all()?.mul_scalar(2.0)
        })?;
        Ok((loss, grads))
    }
}

/// Stacks `[input(x0), −1]` and `[input(x1), +1]` for every `(x0, x1, t)`.
fn labelled_rows<T: Float>(
    c: &LogisticClassifier<T>,
    pairs: &[(&Tensor<T>, &Tensor<T>, Option<f64>)],
) -> Result<Tensor<T>> {
    let mut parts = Vec::with_capacity(2 * pairs.len());
    for &(x0, x1, t) in pairs {
        c.check_points(x0)?;
        c.check_points(x1)?;
        if x0.dims()[0] != x1.dims()[0] || x0.dims()[0] == 0 {
            shape_err!(
                "a logistic minibatch needs equally many rows of both labels, got {} and {}",
                x0.dims()[0],
                x1.dims()[0]
            );
        }
        for (x, s) in [(x0, -1.0), (x1, 1.0)] {
            let input = c.input(x, t)?;
            let col = Tensor::full([x.dims()[0], 1], T::from_f64(s), x.device())?;
            parts.push(Tensor::concat(&[&input, &col], 1)?);
        }
    }
    let refs: Vec<&Tensor<T>> = parts.iter().collect();
    Tensor::concat(&refs, 0)
}

/// How classifiers are trained.
#[derive(Clone, Debug, PartialEq)]
pub struct ClassifierTraining {
    pub hidden: Vec<usize>,
    pub act: Activation,
    /// Quadratic features and a linear head (see [`ClassifierSpec::quadratic`]).
    pub quadratic: bool,
    /// Adam steps (per classifier; for the time-conditional model in total).
    pub iterations: usize,
    /// Rows of each label per step (per pair for the time-conditional model).
    pub batch: usize,
    pub lr: f64,
    /// Where a cosine takes the learning rate by the last step (`None`: constant).
    /// Only the ratio fits of `iterations` steps follow it; the online KL
    /// classifiers of OT training keep `lr`.
    pub lr_final: Option<f64>,
}

impl ClassifierTraining {
    /// One hidden layer of 32 softplus units, 2000 Adam steps at 2e-3 on
    /// minibatches of 512 per label. Small smooth networks extrapolate
    /// linearly and calmly away from their data, which every telescopic term
    /// must do (a log ratio of two close, shifted Gaussians is linear); on
    /// the Fig. 10 pair two hidden layers of 64 gave telescopic errors that
    /// varied several-fold with the number of iterations, and a quadratic
    /// head was worse still (RESULTS.md).
    pub fn reference() -> Self {
        ClassifierTraining {
            hidden: vec![32],
            act: Activation::Softplus { beta: 1.0 },
            quadratic: false,
            iterations: 2000,
            batch: 512,
            lr: 2e-3,
            lr_final: None,
        }
    }

    /// Adam's learning rate at step `iteration` of a fit.
    pub fn lr_at(&self, iteration: usize) -> f64 {
        let total = self.iterations.saturating_sub(1).max(1) as u64;
        match self.lr_final {
            Some(min_lr) => Schedule::Cosine { lr: self.lr, min_lr, total }.lr(iteration as u64),
            None => self.lr,
        }
    }

    pub fn validate(&self) -> Result<()> {
        if self.iterations == 0 || self.batch == 0 {
            invalid_arg!("classifier iterations and batch must be positive");
        }
        if !(self.lr.is_finite() && self.lr > 0.0) {
            invalid_arg!("the classifier learning rate must be finite and positive, got {}", self.lr);
        }
        if let Some(f) = self.lr_final
            && !(f.is_finite() && f >= 0.0)
        {
            invalid_arg!("the classifier's final learning rate must be finite and non-negative, got {f}");
        }
        if self.hidden.is_empty() || self.hidden.contains(&0) {
            invalid_arg!("classifier hidden widths must be positive, got {:?}", self.hidden);
        }
        Ok(())
    }

    fn spec(&self, dim: usize, time_input: bool) -> ClassifierSpec {
        ClassifierSpec { dim, hidden: self.hidden.clone(), act: self.act, time_input, quadratic: self.quadratic }
    }
}

fn check_sample<T: Float>(x: &Tensor<T>, what: &str) -> Result<()> {
    if x.rank() != 2 || x.dims()[0] == 0 || x.dims()[1] == 0 {
        shape_err!("{what} must be a non-empty [n, d] set of points, got {}", x.shape());
    }
    if !x.all_finite()? {
        return Err(Error::NonFinite(format!("{what} contains non-finite values")));
    }
    Ok(())
}

/// `batch` rows of `x` drawn with replacement.
fn draw<T: Float>(x: &Tensor<T>, batch: usize, rng: &mut Rng) -> Result<Tensor<T>> {
    let n = x.dims()[0];
    let idx: Vec<usize> = (0..batch).map(|_| rng.below(n)).collect();
    x.gather_rows(&idx)
}

/// Trains a classifier `φ ≈ log f₁/f₀` from samples `x0 ~ f₀`, `x1 ~ f₁`
/// (minibatches with replacement, Adam); returns it and its final
/// minibatch loss.
pub fn fit_classifier<T: Float>(
    x0: &Tensor<T>,
    x1: &Tensor<T>,
    tr: &ClassifierTraining,
    rng: &mut Rng,
) -> Result<(LogisticClassifier<T>, f64)> {
    tr.validate()?;
    check_sample(x0, "the label-0 sample")?;
    check_sample(x1, "the label-1 sample")?;
    if x0.dims()[1] != x1.dims()[1] {
        shape_err!("the two samples have dimensions {} and {}", x0.dims()[1], x1.dims()[1]);
    }
    let mut c = LogisticClassifier::new(tr.spec(x0.dims()[1], false), &mut rng.split())?;
    let mut opt = Adam::new(tr.lr);
    let mut loss = f64::NAN;
    for it in 0..tr.iterations {
        opt.set_lr(tr.lr_at(it));
        let (a, b) = (draw(x0, tr.batch, rng)?, draw(x1, tr.batch, rng)?);
        let (l, g) = c.logistic_loss_and_grads(&a, &b, None)?;
        if !l.is_finite() {
            return Err(Error::NonFinite(format!("the classifier's logistic loss became {l} at iteration {it}")));
        }
        opt.step(&mut c.store, &g)?;
        loss = l;
    }
    Ok((c, loss))
}

/// The one-step baseline: one classifier between samples of `p` (label 0)
/// and `q` (label 1), whose logit estimates `log q/p`.
pub fn fit_one_step<T: Float>(
    p: &Tensor<T>,
    q: &Tensor<T>,
    tr: &ClassifierTraining,
    rng: &mut Rng,
) -> Result<LogisticClassifier<T>> {
    Ok(fit_classifier(p, q, tr, rng)?.0)
}

/// How the terms of the telescopic sum are modelled.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RatioModel {
    /// One classifier per consecutive pair of snapshots.
    PerPair,
    /// One classifier `r(x, s)`, with pair `n` of `M` at `s_n = (n + ½)/M`.
    TimeConditional,
}

impl RatioModel {
    pub fn from_name(name: &str) -> Result<Self> {
        Ok(match name {
            "per-pair" | "pairs" => RatioModel::PerPair,
            "time" | "time-conditional" => RatioModel::TimeConditional,
            _ => invalid_arg!("unknown ratio model '{name}' (expected per-pair or time-conditional)"),
        })
    }
    pub fn name(&self) -> &'static str {
        match self {
            RatioModel::PerPair => "per-pair",
            RatioModel::TimeConditional => "time-conditional",
        }
    }
}

/// The telescopic estimate of `log q/p` (eq. 28): a sum of classifier logits
/// between consecutive snapshots of a bridge from `p` to `q`.
#[derive(Clone, Debug)]
pub struct TelescopicRatio<T: Float> {
    pub model: RatioModel,
    /// Per pair (`PerPair`), or the one time-conditional classifier.
    pub classifiers: Vec<LogisticClassifier<T>>,
    /// Number of consecutive pairs `M` (snapshots − 1).
    pub pairs: usize,
    /// Final minibatch loss of each classifier.
    pub final_losses: Vec<f64>,
}

impl<T: Float> TelescopicRatio<T> {
    /// The time of pair `n` for the time-conditional model.
    pub fn pair_time(&self, n: usize) -> f64 {
        (n as f64 + 0.5) / self.pairs as f64
    }

    /// Every term `log p_{n+1}(x)/p_n(x)` at the rows of `x`: `terms[n][i]`.
    pub fn terms(&self, x: &Tensor<T>) -> Result<Vec<Vec<f64>>> {
        match self.model {
            RatioModel::PerPair => self.classifiers.iter().map(|c| c.logits(x, None)).collect(),
            RatioModel::TimeConditional => {
                (0..self.pairs).map(|n| self.classifiers[0].logits(x, Some(self.pair_time(n)))).collect()
            }
        }
    }

    /// `log q(x)/p(x)` at the rows of `x`: the sum of the terms.
    pub fn log_ratio(&self, x: &Tensor<T>) -> Result<Vec<f64>> {
        let terms = self.terms(x)?;
        let mut sum = vec![0.0; x.dims()[0]];
        for t in &terms {
            for (s, v) in sum.iter_mut().zip(t) {
                *s += v;
            }
        }
        Ok(sum)
    }
}

/// Fits the telescopic estimator on `snapshots` (`snapshots[0]` from `p`,
/// the last from `q`, at least two, all of one dimension).
pub fn fit_telescopic<T: Float>(
    snapshots: &[Tensor<T>],
    model: RatioModel,
    tr: &ClassifierTraining,
    rng: &mut Rng,
) -> Result<TelescopicRatio<T>> {
    tr.validate()?;
    if snapshots.len() < 2 {
        invalid_arg!("the telescopic estimator needs at least two snapshots, got {}", snapshots.len());
    }
    for (i, s) in snapshots.iter().enumerate() {
        check_sample(s, &format!("snapshot {i}"))?;
        if s.dims()[1] != snapshots[0].dims()[1] {
            shape_err!("snapshot {i} has dimension {}, snapshot 0 has {}", s.dims()[1], snapshots[0].dims()[1]);
        }
    }
    let pairs = snapshots.len() - 1;
    match model {
        RatioModel::PerPair => {
            let mut classifiers = Vec::with_capacity(pairs);
            let mut final_losses = Vec::with_capacity(pairs);
            for w in snapshots.windows(2) {
                let (c, l) = fit_classifier(&w[0], &w[1], tr, &mut rng.split())?;
                classifiers.push(c);
                final_losses.push(l);
            }
            Ok(TelescopicRatio { model, classifiers, pairs, final_losses })
        }
        RatioModel::TimeConditional => {
            let dim = snapshots[0].dims()[1];
            let mut c = LogisticClassifier::new(tr.spec(dim, true), &mut rng.split())?;
            let mut opt = Adam::new(tr.lr);
            let mut loss = f64::NAN;
            let time = |n: usize| (n as f64 + 0.5) / pairs as f64;
            for it in 0..tr.iterations {
                opt.set_lr(tr.lr_at(it));
                let mut batches = Vec::with_capacity(pairs);
                for (n, w) in snapshots.windows(2).enumerate() {
                    batches.push((draw(&w[0], tr.batch, rng)?, draw(&w[1], tr.batch, rng)?, Some(time(n))));
                }
                let refs: Vec<(&Tensor<T>, &Tensor<T>, Option<f64>)> =
                    batches.iter().map(|(a, b, t)| (a, b, *t)).collect();
                let rows = labelled_rows(&c, &refs)?;
                // The mean over all pairs' rows; ×M makes it the sum of the pairs' losses.
                let (l, g) = c.loss_on_rows(&rows)?;
                if !l.is_finite() {
                    return Err(Error::NonFinite(format!(
                        "the time-conditional classifier's loss became {l} at iteration {it}"
                    )));
                }
                let g: Vec<Tensor<T>> = g.iter().map(|t| t.scale(pairs as f64)).collect::<Result<_>>()?;
                opt.step(&mut c.store, &g)?;
                loss = l * pairs as f64;
            }
            Ok(TelescopicRatio { model, classifiers: vec![c], pairs, final_losses: vec![loss] })
        }
    }
}

/// The bridge of the telescopic estimator along a flow `T` from `p` to `q`:
/// `p` pushed through the blocks, with `per_block` snapshots per block
/// (at evenly spaced points of its time grid refined by `opts`, the last at
/// the block's end), preceded by `p` itself and followed by `q`. The result
/// has `1 + per_block·N + 1` snapshots.
pub fn flow_snapshots<T: Float>(
    flow: &BlockFlow<T>,
    p: &Tensor<T>,
    q: &Tensor<T>,
    per_block: usize,
    opts: EvalOptions,
) -> Result<Vec<Tensor<T>>> {
    bridge(flow, p, q, per_block, opts, false)
}

/// The mirror image of [`flow_snapshots`]: the bridge from `q` to `p` made
/// of `q` pulled back through the blocks (last block first), preceded by
/// `q` and followed by `p`. A telescopic estimator fitted on it estimates
/// `log p/q`.
pub fn reverse_flow_snapshots<T: Float>(
    flow: &BlockFlow<T>,
    p: &Tensor<T>,
    q: &Tensor<T>,
    per_block: usize,
    opts: EvalOptions,
) -> Result<Vec<Tensor<T>>> {
    bridge(flow, q, p, per_block, opts, true)
}

/// `start` moved through the flow (backward with `reverse`), between `start` and `end`.
fn bridge<T: Float>(
    flow: &BlockFlow<T>,
    start: &Tensor<T>,
    end: &Tensor<T>,
    per_block: usize,
    opts: EvalOptions,
    reverse: bool,
) -> Result<Vec<Tensor<T>>> {
    if per_block == 0 {
        invalid_arg!("snapshots per block must be at least 1");
    }
    check_sample(start, "the sample the bridge starts from")?;
    check_sample(end, "the sample the bridge ends at")?;
    if end.dims()[1] != flow.dim {
        shape_err!("the samples have dimension {}, the flow {}", end.dims()[1], flow.dim);
    }
    let per = flow.trajectories(start, reverse, opts)?;
    let mut out = vec![start.clone()];
    for states in per {
        let steps = states.len() - 1;
        if per_block > steps {
            invalid_arg!(
                "{per_block} snapshots per block, but a block's grid has only {steps} steps (refine it with a smaller step)"
            );
        }
        for j in 1..=per_block {
            out.push(states[(j * steps).div_ceil(per_block)].clone());
        }
    }
    out.push(end.clone());
    Ok(out)
}

/// The telescopic estimate along both bridges of a flow `T` from `p` to
/// `q`: `forward` on [`flow_snapshots`] (estimates `log q/p`), `reverse` on
/// [`reverse_flow_snapshots`] (estimates `log p/q`), and their average
/// `½(forward − reverse)`.
///
/// Why both: a term `log p_{n+1}/p_n` is learnt where its two snapshots
/// have samples and extrapolated elsewhere. Along the forward bridge the
/// snapshots near `q` are `T#p`-like, and their log ratios at points near
/// `p` (where they have no samples) depend on tails the flow shapes
/// there; the reverse bridge has the mirror-image weakness. On the Fig. 10
/// pair the two were off in opposite directions at the samples of `p`, and
/// the average was the most accurate overall (RESULTS.md).
#[derive(Clone, Debug)]
pub struct FlowRatio<T: Float> {
    pub forward: TelescopicRatio<T>,
    pub reverse: TelescopicRatio<T>,
}

/// Which estimate of a [`FlowRatio`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Bridge {
    /// `½(forward − reverse)`.
    Both,
    Forward,
    Reverse,
    /// `w·forward + (1 − w)·½(forward − reverse)` with `w = σ(½(forward − reverse))`,
    /// the estimated probability that a point came from `q` rather than `p`.
    /// Why: where `q` dominates, the forward bridge's terms are all learnt
    /// near their data and it alone was the most accurate; where `p`
    /// dominates, the two bridges err in opposite directions and their
    /// average was. On the Fig. 10 pair, with the classifiers' learning rate
    /// decayed (`ClassifierTraining::lr_final`), this halved the average's
    /// error on the samples of `q` (RESULTS.md).
    Weighted,
}

impl<T: Float> FlowRatio<T> {
    /// Fits both bridges of `flow` on the samples `p`, `q`.
    #[allow(clippy::too_many_arguments)]
    pub fn fit(
        flow: &BlockFlow<T>,
        p: &Tensor<T>,
        q: &Tensor<T>,
        per_block: usize,
        opts: EvalOptions,
        model: RatioModel,
        tr: &ClassifierTraining,
        rng: &mut Rng,
    ) -> Result<Self> {
        let forward = fit_telescopic(&flow_snapshots(flow, p, q, per_block, opts)?, model, tr, rng)?;
        let reverse = fit_telescopic(&reverse_flow_snapshots(flow, p, q, per_block, opts)?, model, tr, rng)?;
        Ok(FlowRatio { forward, reverse })
    }

    /// The estimate of `log q/p` at the rows of `x`.
    pub fn log_ratio(&self, x: &Tensor<T>, bridge: Bridge) -> Result<Vec<f64>> {
        Ok(match bridge {
            Bridge::Forward => self.forward.log_ratio(x)?,
            Bridge::Reverse => self.reverse.log_ratio(x)?.into_iter().map(|v| -v).collect(),
            Bridge::Both => {
                let (f, r) = (self.forward.log_ratio(x)?, self.reverse.log_ratio(x)?);
                f.iter().zip(&r).map(|(a, b)| 0.5 * (a - b)).collect()
            }
            Bridge::Weighted => {
                let (f, r) = (self.forward.log_ratio(x)?, self.reverse.log_ratio(x)?);
                f.iter()
                    .zip(&r)
                    .map(|(a, b)| {
                        let both = 0.5 * (a - b);
                        let w = 1.0 / (1.0 + (-both).exp());
                        w * a + (1.0 - w) * both
                    })
                    .collect()
            }
        })
    }
}

/// A Gaussian kernel density estimate with a diagonal bandwidth.
#[derive(Clone, Debug)]
pub struct Kde {
    pub dim: usize,
    /// The points, row-major `n × dim`.
    points: Vec<f64>,
    /// Per-coordinate bandwidth `h_j`.
    pub bandwidth: Vec<f64>,
}

impl Kde {
    /// Bandwidth by Scott's rule, `h_j = σ̂_j n^{−1/(d+4)}`.
    pub fn scott<T: Float>(x: &Tensor<T>) -> Result<Self> {
        check_sample(x, "the KDE sample")?;
        let (n, d) = (x.dims()[0], x.dims()[1]);
        if n < 2 {
            invalid_arg!("a kernel density estimate needs at least two points");
        }
        let points = x.to_f64_vec()?;
        let factor = (n as f64).powf(-1.0 / (d as f64 + 4.0));
        let mut bandwidth = Vec::with_capacity(d);
        for j in 0..d {
            let mean = points.iter().skip(j).step_by(d).sum::<f64>() / n as f64;
            let var = points.iter().skip(j).step_by(d).map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1) as f64;
            let h = var.sqrt() * factor;
            if h.partial_cmp(&0.0) != Some(std::cmp::Ordering::Greater) {
                invalid_arg!("coordinate {j} of the KDE sample is constant: no bandwidth by Scott's rule");
            }
            bandwidth.push(h);
        }
        Ok(Kde { dim: d, points, bandwidth })
    }

    /// `log p̂(x)` per row of `x`: `logsumexp_i(−½ Σ_j ((x_j − x_ij)/h_j)²) − log n − Σ_j log(h_j √(2π))`.
    pub fn log_density<T: Float>(&self, x: &Tensor<T>) -> Result<Vec<f64>> {
        if x.rank() != 2 || x.dims()[1] != self.dim {
            shape_err!("the KDE is {}-dimensional; points of shape {} are not", self.dim, x.shape());
        }
        let d = self.dim;
        let n = self.points.len() / d;
        let queries = x.to_f64_vec()?;
        let inv_h: Vec<f64> = self.bandwidth.iter().map(|h| 1.0 / h).collect();
        let norm = (n as f64).ln()
            + self.bandwidth.iter().map(|h| (h * (2.0 * std::f64::consts::PI).sqrt()).ln()).sum::<f64>();
        use rayon::prelude::*;
        Ok(queries
            .par_chunks(d)
            .map(|q| {
                let mut exps = Vec::with_capacity(n);
                let mut top = f64::NEG_INFINITY;
                for p in self.points.chunks(d) {
                    let e = -0.5 * q.iter().zip(p).zip(&inv_h).map(|((a, b), s)| ((a - b) * s).powi(2)).sum::<f64>();
                    top = top.max(e);
                    exps.push(e);
                }
                top + exps.iter().map(|e| (e - top).exp()).sum::<f64>().ln() - norm
            })
            .collect())
    }
}

/// The KDE baseline: `log q̂(x) − log p̂(x)`.
#[derive(Clone, Debug)]
pub struct KdeRatio {
    pub p: Kde,
    pub q: Kde,
}

impl KdeRatio {
    pub fn scott<T: Float>(p: &Tensor<T>, q: &Tensor<T>) -> Result<Self> {
        let (p, q) = (Kde::scott(p)?, Kde::scott(q)?);
        if p.dim != q.dim {
            shape_err!("the two samples have dimensions {} and {}", p.dim, q.dim);
        }
        Ok(KdeRatio { p, q })
    }

    pub fn log_ratio<T: Float>(&self, x: &Tensor<T>) -> Result<Vec<f64>> {
        let (lq, lp) = (self.q.log_density(x)?, self.p.log_density(x)?);
        Ok(lq.iter().zip(&lp).map(|(a, b)| a - b).collect())
    }
}
