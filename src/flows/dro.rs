//! Flow-DRO (tutorial V-C, eq. 29): the worst-case distribution of a
//! reference measure `p` against a risk `R`, as the push-forward of `p` by a
//! transport map `F` of neural-ODE blocks that solves
//!
//! `max_F  E_{X∼p} R(F(X)) − (1/2γ) E_{X∼p} |X − F(X)|²`
//!
//! (eq. 29 written as risk ascent: the tutorial's minimization of the
//! negated risk). The penalty is the W2 cost of the coupling `(X, F(X))`, so
//! `γ` trades risk against how far the distribution may move: the optimal
//! risk grows with `γ`, and as `γ → 0` the map tends to the identity.
//!
//! The reference is a sample: the data itself, or samples of a trained flow
//! (then new worst-case samples are drawn by pushing new flow samples through
//! `F`). For a risk that needs labels (the cross-entropy of a classifier
//! against the true class) each point carries its label through `F`: the
//! velocity field sees the position only, not the label, so `F` is one map
//! of the input space shared by all classes, and a point keeps the label it
//! started with. Where the classes overlap little (the usual case for a
//! classifier worth attacking) a position determines its label and nothing is
//! lost; a label-conditioned field would be needed only where they overlap.
//!
//! The map works in normalized coordinates `u = (x − μ)/s` with a
//! per-dimension shift `μ` and one scalar scale `s` (fitted to the reference,
//! see [`DroConfig::normalize`]): `F(x) = μ + s·G((x − μ)/s)` with `G` the
//! composition of the blocks. One scale for all dimensions keeps the cost
//! Euclidean in data units, `|x − F(x)|² = s²|u − G(u)|²`, while the network
//! sees inputs of unit size. The last layer of every block's field starts at
//! zero, so training starts from the identity map.
//!
//! Also here: the PGD-style baseline, per-sample projected gradient ascent of
//! `R` in an ℓ2 ball ([`pgd_l2`]), and the displacement statistics
//! ([`Movement`]) that both are compared by.

use super::block::{Block, BlockFlow, BlockSpec, EvalOptions};
use super::field::{Field, FieldKind};
use crate::autodiff::{Tape, Var};
use crate::backend::cpu::team;
use crate::density::Divergence;
use crate::nn::classifier::{Classifier, check_labels, cross_entropy, isotropic_normalization};
use crate::nn::data_parallel::combine_shards;
use crate::nn::{Activation, VelocityField};
use crate::ode::{Tableau, fixed};
use crate::optim::{Adam, Optimizer};
use crate::tensor::random::Rng;
use crate::tensor::{Float, Tensor};
use crate::{Error, Result, invalid_arg, shape_err};

/// Rows per task in untracked passes over many points (transport, risk
/// gradients), fixed so that results do not depend on the thread count.
const CHUNK: usize = 1024;

/// A risk `R(x)` of points, differentiable through the tape.
///
/// [`Risk::risk`] is **per sample**: it returns `[n, 1]`, one risk per row,
/// and the trainer takes the mean. Per-sample values are what the PGD
/// baseline needs (the gradient of their sum is every point's own gradient)
/// and what reports average. Implementations must be `Sync`: the trainer
/// evaluates shards of a batch on several threads at once.
pub trait Risk<T: Float>: Sync {
    /// The risk of each row of `x` (`[n, d]`, data units) as `[n, 1]`,
    /// recorded on `x`'s tape so that it can be differentiated in `x`.
    /// `labels`, when given, hold one class per row.
    fn risk<'t>(&self, x: Var<'t, T>, labels: Option<&[usize]>) -> Result<Var<'t, T>>;
    /// The dimension `d` of the points.
    fn dim(&self) -> usize;
    /// Whether [`Risk::risk`] needs `labels`.
    fn needs_labels(&self) -> bool {
        false
    }
    /// A short description for reports (`linear`, `classifier`).
    fn describe(&self) -> String;
}

/// `R(x) = aᵀx`. Its eq. (29) has the closed-form solution `F(x) = x + γa`
/// (the objective separates per point into `aᵀy − |y − x|²/2γ`).
#[derive(Clone, Debug, PartialEq)]
pub struct LinearRisk {
    pub a: Vec<f64>,
}

impl<T: Float> Risk<T> for LinearRisk {
    fn risk<'t>(&self, x: Var<'t, T>, _labels: Option<&[usize]>) -> Result<Var<'t, T>> {
        let (_, d) = x.shape().as_matrix()?;
        if d != self.a.len() {
            shape_err!("a linear risk on ℝ^{} cannot take points of dimension {d}", self.a.len());
        }
        let a = Tensor::from_vec(self.a.iter().map(|&v| T::from_f64(v)).collect(), [d, 1])?;
        x.matmul(&x.tape().constant(a))
    }
    fn dim(&self) -> usize {
        self.a.len()
    }
    fn describe(&self) -> String {
        "linear".into()
    }
}

/// The cross-entropy of a trained classifier against each point's true
/// label: high where the classifier is wrong or unsure.
#[derive(Clone, Debug)]
pub struct ClassifierRisk<T: Float> {
    pub classifier: Classifier<T>,
}

impl<T: Float> Risk<T> for ClassifierRisk<T> {
    fn risk<'t>(&self, x: Var<'t, T>, labels: Option<&[usize]>) -> Result<Var<'t, T>> {
        let Some(labels) = labels else {
            invalid_arg!("the classifier risk needs a label for every point");
        };
        cross_entropy(self.classifier.logits_frozen(x)?, labels)
    }
    fn dim(&self) -> usize {
        self.classifier.dim()
    }
    fn needs_labels(&self) -> bool {
        true
    }
    fn describe(&self) -> String {
        "classifier".into()
    }
}

/// Checks points (finite `[n, d]`, `n ≥ 1`) and labels against a risk.
fn check_input<T: Float, R: Risk<T> + ?Sized>(risk: &R, x: &Tensor<T>, labels: Option<&[usize]>) -> Result<()> {
    if x.rank() != 2 || x.dims()[0] == 0 || x.dims()[1] != risk.dim() {
        shape_err!(
            "the {} risk takes a non-empty set of {}-dimensional points, got shape {}",
            risk.describe(),
            risk.dim(),
            x.shape()
        );
    }
    if !x.all_finite()? {
        return Err(Error::NonFinite("the points hold non-finite values".into()));
    }
    match labels {
        Some(l) if l.len() != x.dims()[0] => shape_err!("{} labels for {} points", l.len(), x.dims()[0]),
        None if risk.needs_labels() => invalid_arg!("the {} risk needs a label for every point", risk.describe()),
        _ => Ok(()),
    }
}

fn chunks(n: usize) -> Vec<(usize, usize)> {
    (0..n.div_ceil(CHUNK)).map(|c| (c * CHUNK, (c * CHUNK + CHUNK).min(n))).collect()
}

fn concat_rows<T: Float>(parts: Vec<Result<Tensor<T>>>) -> Result<Tensor<T>> {
    let parts: Vec<Tensor<T>> = parts.into_iter().collect::<Result<_>>()?;
    let refs: Vec<&Tensor<T>> = parts.iter().collect();
    Tensor::concat(&refs, 0)
}

/// The risk of every row of `x`, and its gradient with respect to each row
/// (`[n, d]`), in chunks across the threads.
pub fn risk_and_gradient<T: Float, R: Risk<T> + ?Sized>(
    risk: &R,
    x: &Tensor<T>,
    labels: Option<&[usize]>,
) -> Result<(Vec<f64>, Tensor<T>)> {
    check_input(risk, x, labels)?;
    let parts = chunks(x.dims()[0]);
    let results: Vec<Result<(Vec<f64>, Tensor<T>)>> = team::map_collect(parts.len(), |c| {
        let (lo, hi) = parts[c];
        let tape = Tape::new();
        let xv = tape.var(x.slice(0, lo, hi - lo)?);
        let r = risk.risk(xv, labels.map(|l| &l[lo..hi]))?;
        let g = tape.backward(r.sum_all()?)?;
        Ok((r.value().to_f64_vec()?, g.get_or_zeros(xv)?))
    });
    let mut values = Vec::with_capacity(x.dims()[0]);
    let mut grads = Vec::with_capacity(parts.len());
    for r in results {
        let (v, g) = r?;
        values.extend(v);
        grads.push(Ok(g));
    }
    Ok((values, concat_rows(grads)?))
}

/// The risk of every row of `x`, without gradients.
pub fn risk_values<T: Float, R: Risk<T> + ?Sized>(
    risk: &R,
    x: &Tensor<T>,
    labels: Option<&[usize]>,
) -> Result<Vec<f64>> {
    check_input(risk, x, labels)?;
    let parts = chunks(x.dims()[0]);
    let results: Vec<Result<Vec<f64>>> = team::map_collect(parts.len(), |c| {
        let (lo, hi) = parts[c];
        let tape = Tape::new();
        risk.risk(tape.constant(x.slice(0, lo, hi - lo)?), labels.map(|l| &l[lo..hi]))?.value().to_f64_vec()
    });
    let mut values = Vec::with_capacity(x.dims()[0]);
    for r in results {
        values.extend(r?);
    }
    Ok(values)
}

/// The mean risk of the rows of `x`.
pub fn mean_risk<T: Float, R: Risk<T> + ?Sized>(risk: &R, x: &Tensor<T>, labels: Option<&[usize]>) -> Result<f64> {
    let v = risk_values(risk, x, labels)?;
    Ok(v.iter().sum::<f64>() / v.len() as f64)
}

/// How far a map moved points: statistics of `|y_i − x_i|` over the rows.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Movement {
    /// `E|x − y|²`, the transport cost eq. (29) penalizes.
    pub mean_sq: f64,
    /// `√E|x − y|²`: the W2 cost of the coupling `(x, y)`, an upper bound on
    /// `W2(p, F#p)`.
    pub w2: f64,
    /// `E|x − y|`: the average ℓ2 displacement (the PGD baseline's budget).
    pub mean_l2: f64,
    pub max_l2: f64,
}

/// The displacement statistics from the rows of `x` to those of `y`.
pub fn movement<T: Float>(x: &Tensor<T>, y: &Tensor<T>) -> Result<Movement> {
    if x.rank() != 2 || x.dims() != y.dims() || x.dims()[0] == 0 {
        shape_err!("movement between point sets of shapes {} and {}", x.shape(), y.shape());
    }
    let d = x.dims()[1];
    let (a, b) = (x.to_f64_vec()?, y.to_f64_vec()?);
    let dist: Vec<f64> = a
        .chunks(d)
        .zip(b.chunks(d))
        .map(|(p, q)| p.iter().zip(q).map(|(u, v)| (u - v) * (u - v)).sum::<f64>())
        .collect();
    let n = dist.len() as f64;
    let mean_sq = dist.iter().sum::<f64>() / n;
    Ok(Movement {
        mean_sq,
        w2: mean_sq.sqrt(),
        mean_l2: dist.iter().map(|s| s.sqrt()).sum::<f64>() / n,
        max_l2: dist.iter().fold(0.0f64, |m, s| m.max(s.sqrt())),
    })
}

/// A trained worst-case map `F(x) = μ + s·G((x − μ)/s)`.
pub struct DroMap<T: Float> {
    /// `G`, the blocks in normalized coordinates.
    pub flow: BlockFlow<T>,
    /// `μ`.
    pub shift: Vec<f64>,
    /// `s`.
    pub scale: f64,
    /// The `γ` it was trained with.
    pub gamma: f64,
}

impl<T: Float> DroMap<T> {
    /// A map from its parts (shift of the flow's dimension, positive scale).
    pub fn new(flow: BlockFlow<T>, shift: Vec<f64>, scale: f64, gamma: f64) -> Result<Self> {
        if shift.len() != flow.dim {
            shape_err!("a shift of {} values for a {}-dimensional map", shift.len(), flow.dim);
        }
        if !(scale.is_finite() && scale > 0.0) || shift.iter().any(|v| !v.is_finite()) {
            invalid_arg!("a map's normalization must be finite with a positive scale (got {scale})");
        }
        if !(gamma.is_finite() && gamma > 0.0) {
            invalid_arg!("γ must be positive, got {gamma}");
        }
        if flow.is_empty() {
            invalid_arg!("a worst-case map needs at least one block");
        }
        Ok(DroMap { flow, shift, scale, gamma })
    }

    pub fn dim(&self) -> usize {
        self.flow.dim
    }

    fn shift_row(&self) -> Result<Tensor<T>> {
        Tensor::from_vec(self.shift.iter().map(|&v| T::from_f64(v)).collect(), [1, self.shift.len()])
    }

    /// `u = (x − μ)/s`.
    pub fn normalize(&self, x: &Tensor<T>) -> Result<Tensor<T>> {
        x.sub(&self.shift_row()?)?.scale(1.0 / self.scale)
    }

    /// `x = μ + s·u`.
    pub fn denormalize(&self, u: &Tensor<T>) -> Result<Tensor<T>> {
        u.scale(self.scale)?.add(&self.shift_row()?)
    }

    /// `F(x)` for every row of `x` (data units), untracked, in chunks across
    /// the threads.
    pub fn transport(&self, x: &Tensor<T>, opts: EvalOptions) -> Result<Tensor<T>> {
        if x.rank() != 2 || x.dims()[1] != self.dim() {
            shape_err!("this map lives in {} dimensions; points of shape {} do not", self.dim(), x.shape());
        }
        let parts = chunks(x.dims()[0]);
        if parts.is_empty() {
            return Ok(x.clone());
        }
        concat_rows(team::map_collect(parts.len(), |c| {
            let (lo, hi) = parts[c];
            let u = self.normalize(&x.slice(0, lo, hi - lo)?)?;
            self.denormalize(&self.flow.transport(&u, opts)?)
        }))
    }
}

/// Everything that defines a flow-DRO training run for one `γ`.
#[derive(Clone, Debug)]
pub struct DroConfig {
    /// `γ` of eq. (29): the larger, the farther the map may move the points.
    pub gamma: f64,
    /// Number of blocks composed into `F` (trained jointly on eq. 29).
    pub blocks: usize,
    pub field: FieldKind,
    pub hidden: Vec<usize>,
    pub act: Activation,
    /// Each block integrates over `[0, t_end]`...
    pub t_end: f64,
    /// ...in this many solver steps.
    pub steps: usize,
    pub solver: &'static Tableau,
    pub iterations: usize,
    pub batch: usize,
    pub lr: f64,
    pub seed: u64,
    /// Fit the normalization `(μ, s)` to the reference (column means, RMS
    /// spread); `false` uses `μ = 0`, `s = 1`.
    pub normalize: bool,
}

impl DroConfig {
    /// One block, MLP `d+1 → 64 → 64 → d` tanh on `[0, 1]` in 4 RK4 steps,
    /// 500 Adam steps of 5e-3 on batches of 256.
    pub fn new(gamma: f64) -> Self {
        DroConfig {
            gamma,
            blocks: 1,
            field: FieldKind::TimeMlp,
            hidden: vec![64, 64],
            act: Activation::Tanh,
            t_end: 1.0,
            steps: 4,
            solver: &crate::ode::tableau::RK4,
            iterations: 500,
            batch: 256,
            lr: 5e-3,
            seed: 0,
            normalize: true,
        }
    }

    /// Refuses settings no run can use.
    pub fn validate(&self) -> Result<()> {
        if !(self.gamma.is_finite() && self.gamma > 0.0) {
            invalid_arg!("γ must be positive and finite, got {}", self.gamma);
        }
        if self.blocks == 0 || self.steps == 0 || self.iterations == 0 || self.batch == 0 {
            invalid_arg!("blocks, solver steps, iterations and batch size must be positive");
        }
        if !(self.t_end.is_finite() && self.t_end > 0.0 && self.lr.is_finite() && self.lr > 0.0) {
            invalid_arg!("the block length and the learning rate must be positive");
        }
        if self.hidden.is_empty() || self.hidden.contains(&0) {
            invalid_arg!("hidden layer widths must be positive, got {:?}", self.hidden);
        }
        self.solver.validate()
    }

    /// The specification of every block of a `dim`-dimensional map.
    pub fn block_spec(&self, dim: usize) -> Result<BlockSpec> {
        Ok(BlockSpec {
            dim,
            field: self.field,
            hidden: self.hidden.clone(),
            act: self.act,
            grid: fixed::uniform_grid(0.0, self.t_end, self.steps)?,
            solver: self.solver,
            // Never used: the map needs no log-determinant.
            divergence: Divergence::Exact,
        })
    }
}

/// What one training iteration reports (minibatch values, data units).
#[derive(Clone, Copy, Debug)]
pub struct DroIteration {
    pub iteration: usize,
    /// `E R(F(x)) − E|x − F(x)|²/2γ`, the objective maximized.
    pub objective: f64,
    /// `E R(F(x))`.
    pub risk: f64,
    /// `E|x − F(x)|²`.
    pub transport_cost: f64,
}

/// Sets the output layer of a block's field to zero, so that `v ≡ 0` and the
/// block's map is the identity.
fn zero_output_layer<T: Float>(block: &mut Block<T>) -> Result<()> {
    let ids = match &block.cnf.field {
        Field::TimeMlp(f) => {
            let l = f.mlp.layers.last().expect("an MLP has layers");
            vec![l.w, l.b]
        }
        Field::ConcatSquash(f) => {
            let l = f.layers.last().expect("a field has layers");
            vec![l.layer.w, l.layer.b, l.hyper_bias]
        }
        Field::UNet(f) => f.output_params(),
    };
    for id in ids {
        let zero = block.store.get(id).zeros_like()?;
        block.store.set(id, zero)?;
    }
    Ok(())
}

/// The negated objective of eq. (29) on normalized points `u0` (their
/// labels `labels`) and its gradients with respect to every block's
/// parameters (blocks in order, each in store order), with the batch's risk
/// and transport cost.
fn loss_and_grads<T: Float, R: Risk<T> + ?Sized>(
    blocks: &[Block<T>],
    norm: (&Tensor<T>, f64),
    gamma: f64,
    risk: &R,
    u0: &Tensor<T>,
    labels: Option<&[usize]>,
) -> Result<(f64, Vec<Tensor<T>>, [f64; 2])> {
    let (shift, scale) = norm;
    let c = combine_shards(u0.dims()[0], u0.device(), |lo, hi| {
        let tape = Tape::new();
        let start = u0.slice(0, lo, hi - lo)?;
        let mut u = tape.constant(start.clone());
        let params: Vec<_> = blocks.iter().map(|b| b.store.attach(&tape)).collect();
        for (b, p) in blocks.iter().zip(&params) {
            let field = &b.cnf.field;
            u = fixed::integrate_on_grid(|t, s: &Var<'_, T>| field.forward(p, *s, t), u, &b.spec.grid, b.spec.solver)?
                .0;
        }
        let x = u.mul_scalar(scale)?.add(&tape.constant(shift.clone()))?;
        let r = risk.risk(x, labels.map(|l| &l[lo..hi]))?.mean_all()?;
        let moved = u.sub(&tape.constant(start))?;
        let cost = moved.square()?.sum_axis(1, true)?.mean_all()?.mul_scalar(scale * scale)?;
        let loss = cost.mul_scalar(0.5 / gamma)?.sub(&r)?;
        let g = tape.backward(loss)?;
        let mut grads = Vec::new();
        for p in &params {
            grads.extend(p.grads(&g)?);
        }
        let value = |v: &Var<'_, T>| -> Result<f64> { Ok(v.value().item()?.to_f64()) };
        Ok((value(&loss)?, grads, [value(&r)?, value(&cost)?]))
    })?;
    let mut terms = [0.0; 2];
    for (w, t) in &c.per_shard {
        terms[0] += w * t[0];
        terms[1] += w * t[1];
    }
    Ok((c.loss, c.grads, terms))
}

/// Trains the worst-case map of eq. (29) for `cfg.gamma` on the reference
/// sample `reference` (`[n, d]`, data units) with its `labels` (one per row,
/// for risks that need them), starting from the identity map. Minibatches
/// are drawn without replacement and reshuffled each epoch; every block has
/// its own Adam. `on_iteration` sees every iteration's report; an error it
/// returns stops training. A non-finite objective stops training with an
/// error naming the iteration.
pub fn train_dro<T: Float, R: Risk<T> + ?Sized>(
    cfg: &DroConfig,
    risk: &R,
    reference: &Tensor<T>,
    labels: Option<&[usize]>,
    on_iteration: impl FnMut(&DroIteration) -> Result<()>,
) -> Result<DroMap<T>> {
    train_dro_from(cfg, None, risk, reference, labels, on_iteration)
}

/// As [`train_dro`], starting from the map `init` (its blocks and
/// normalization) when given: continuation in `γ`, where the map of a smaller
/// `γ` starts the next. `init` must have the blocks `cfg` describes.
pub fn train_dro_from<T: Float, R: Risk<T> + ?Sized>(
    cfg: &DroConfig,
    init: Option<&DroMap<T>>,
    risk: &R,
    reference: &Tensor<T>,
    labels: Option<&[usize]>,
    mut on_iteration: impl FnMut(&DroIteration) -> Result<()>,
) -> Result<DroMap<T>> {
    cfg.validate()?;
    check_input(risk, reference, labels)?;
    let (n, d) = (reference.dims()[0], reference.dims()[1]);
    let mut rng = Rng::seed(cfg.seed);
    let mut init_rng = rng.split();
    let spec = cfg.block_spec(d)?;
    let mut flow = BlockFlow::new(d);
    let (shift, scale) = match init {
        Some(m) => {
            if m.flow.len() != cfg.blocks || m.flow.blocks.iter().any(|b| b.spec != spec) {
                invalid_arg!("the starting map's blocks are not the ones the configuration describes");
            }
            for b in &m.flow.blocks {
                flow.push(Block::with_params(spec.clone(), b.store.clone())?)?;
            }
            (m.shift.clone(), m.scale)
        }
        None => {
            for _ in 0..cfg.blocks {
                let mut block = Block::new(spec.clone(), &mut init_rng)?;
                zero_output_layer(&mut block)?;
                flow.push(block)?;
            }
            if cfg.normalize { isotropic_normalization(reference)? } else { (vec![0.0; d], 1.0) }
        }
    };
    let mut map = DroMap::new(flow, shift, scale, cfg.gamma)?;
    let u_ref = map.normalize(reference)?;
    let shift_row = map.shift_row()?;
    let mut opts: Vec<Adam<T>> = (0..cfg.blocks).map(|_| Adam::new(cfg.lr)).collect();
    let batch = cfg.batch.min(n);
    let mut order = rng.permutation(n);
    let mut next = 0;
    for iteration in 0..cfg.iterations {
        if next + batch > n {
            order = rng.permutation(n);
            next = 0;
        }
        let rows = &order[next..next + batch];
        next += batch;
        let u0 = u_ref.gather_rows(rows)?;
        let lb: Option<Vec<usize>> = labels.map(|l| rows.iter().map(|&r| l[r]).collect());
        let (loss, grads, [r, cost]) =
            loss_and_grads(&map.flow.blocks, (&shift_row, scale), cfg.gamma, risk, &u0, lb.as_deref())?;
        if !loss.is_finite() {
            return Err(Error::NonFinite(format!(
                "flow-DRO objective became {} at iteration {iteration} (γ = {})",
                -loss, cfg.gamma
            )));
        }
        let mut rest = grads.as_slice();
        for (block, opt) in map.flow.blocks.iter_mut().zip(&mut opts) {
            let (mine, others) = rest.split_at(block.store.len());
            opt.step(&mut block.store, mine)?;
            rest = others;
        }
        on_iteration(&DroIteration { iteration, objective: -loss, risk: r, transport_cost: cost })?;
    }
    Ok(map)
}

/// Trains one map per `γ` of `gammas` with the settings of `base`; returns
/// them in the order of `gammas`. Without `warm_start` each starts from the
/// identity with the same seed, so that they differ by `γ` alone. With
/// `warm_start` they are trained in increasing `γ`, each starting from the
/// map of the next smaller `γ` (continuation: the objective is not concave,
/// and a confident classifier's risk is flat near its data, so a map started
/// at the identity can stay there while one started from a map that already
/// crossed the decision boundary does not fall back). `on_iteration(k,
/// report)` sees the iterations of `gammas[k]`.
pub fn train_dro_grid<T: Float, R: Risk<T> + ?Sized>(
    base: &DroConfig,
    gammas: &[f64],
    warm_start: bool,
    risk: &R,
    reference: &Tensor<T>,
    labels: Option<&[usize]>,
    mut on_iteration: impl FnMut(usize, &DroIteration) -> Result<()>,
) -> Result<Vec<DroMap<T>>> {
    check_gammas(gammas)?;
    let mut order: Vec<usize> = (0..gammas.len()).collect();
    if warm_start {
        order.sort_by(|&i, &j| gammas[i].total_cmp(&gammas[j]));
    }
    let mut maps: Vec<Option<DroMap<T>>> = (0..gammas.len()).map(|_| None).collect();
    let mut previous: Option<usize> = None;
    for k in order {
        let cfg = DroConfig { gamma: gammas[k], ..base.clone() };
        let init = if warm_start { previous.and_then(|p| maps[p].as_ref()) } else { None };
        let map = train_dro_from(&cfg, init, risk, reference, labels, |r| on_iteration(k, r))?;
        maps[k] = Some(map);
        previous = Some(k);
    }
    Ok(maps.into_iter().map(|m| m.expect("every γ trained")).collect())
}

/// A `γ` grid must be non-empty, positive and finite.
pub fn check_gammas(gammas: &[f64]) -> Result<()> {
    if gammas.is_empty() {
        invalid_arg!("the γ grid is empty");
    }
    if let Some(g) = gammas.iter().find(|g| !(g.is_finite() && **g > 0.0)) {
        invalid_arg!("every γ must be positive and finite, got {g}");
    }
    Ok(())
}

/// A transport's effect on a set of points: risk before and after, how far
/// the points moved, and the value of eq. (29) it reaches.
#[derive(Clone, Copy, Debug)]
pub struct TransportReport {
    pub risk_before: f64,
    pub risk_after: f64,
    pub movement: Movement,
    /// `E R(y) − E|x − y|²/2γ`.
    pub objective: f64,
}

/// The report of moving the rows of `x` to those of `y` (same labels).
pub fn transport_report<T: Float, R: Risk<T> + ?Sized>(
    risk: &R,
    x: &Tensor<T>,
    y: &Tensor<T>,
    labels: Option<&[usize]>,
    gamma: f64,
) -> Result<TransportReport> {
    let movement = movement(x, y)?;
    let risk_before = mean_risk(risk, x, labels)?;
    let risk_after = mean_risk(risk, y, labels)?;
    Ok(TransportReport { risk_before, risk_after, movement, objective: risk_after - movement.mean_sq / (2.0 * gamma) })
}

/// The PGD-style baseline: per-sample projected gradient ascent of the risk
/// in the ℓ2 ball of radius `radius` around each point.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PgdConfig {
    pub radius: f64,
    pub steps: usize,
    /// Length of each normalized-gradient step (default `2.5·radius/steps`,
    /// Madry et al.'s choice).
    pub step_size: Option<f64>,
}

impl PgdConfig {
    /// 20 steps of `2.5·radius/20`.
    pub fn new(radius: f64) -> Self {
        PgdConfig { radius, steps: 20, step_size: None }
    }
}

/// `x_{k+1} = Π_{B(x_0, r)}(x_k + α ∇R(x_k)/|∇R(x_k)|)` for every row, from
/// `x_0 = x`. A point whose gradient vanishes stays where it is. Radius 0
/// returns `x`.
pub fn pgd_l2<T: Float, R: Risk<T> + ?Sized>(
    risk: &R,
    x: &Tensor<T>,
    labels: Option<&[usize]>,
    cfg: &PgdConfig,
) -> Result<Tensor<T>> {
    check_input(risk, x, labels)?;
    if !(cfg.radius.is_finite() && cfg.radius >= 0.0) {
        invalid_arg!("the PGD radius must be non-negative and finite, got {}", cfg.radius);
    }
    if cfg.steps == 0 {
        invalid_arg!("PGD needs at least one step");
    }
    let alpha = cfg.step_size.unwrap_or(2.5 * cfg.radius / cfg.steps as f64);
    if !(alpha.is_finite() && alpha >= 0.0) {
        invalid_arg!("the PGD step size must be non-negative and finite, got {alpha}");
    }
    if cfg.radius == 0.0 {
        return Ok(x.clone());
    }
    let (n, d) = (x.dims()[0], x.dims()[1]);
    let x0 = x.to_f64_vec()?;
    let mut cur = x0.clone();
    for _ in 0..cfg.steps {
        let xt = Tensor::from_vec(cur.iter().map(|&v| T::from_f64(v)).collect(), [n, d])?;
        let (_, g) = risk_and_gradient(risk, &xt, labels)?;
        let g = g.to_f64_vec()?;
        for i in 0..n {
            let (row, gr, start) = (&mut cur[i * d..(i + 1) * d], &g[i * d..(i + 1) * d], &x0[i * d..(i + 1) * d]);
            let norm = gr.iter().map(|v| v * v).sum::<f64>().sqrt();
            if !(norm > 0.0 && norm.is_finite()) {
                continue;
            }
            for (v, gv) in row.iter_mut().zip(gr) {
                *v += alpha * gv / norm;
            }
            let dist = row.iter().zip(start).map(|(a, b)| (a - b) * (a - b)).sum::<f64>().sqrt();
            if dist > cfg.radius {
                let shrink = cfg.radius / dist;
                for (v, s) in row.iter_mut().zip(start) {
                    *v = s + (*v - s) * shrink;
                }
            }
        }
    }
    Tensor::from_vec(cur.into_iter().map(T::from_f64).collect(), [n, d])
}

/// Checks that labels fit a classifier risk's classes (a convenience for callers
/// that take labels from files).
pub fn check_classifier_labels<T: Float>(risk: &ClassifierRisk<T>, labels: &[usize], n: usize) -> Result<()> {
    check_labels(labels, n, risk.classifier.classes())
}
