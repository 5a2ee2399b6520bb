//! A k-class MLP classifier: logits on a tape (so a risk built on it can be
//! differentiated with respect to its input), softmax cross-entropy,
//! minibatch training with Adam, accuracy.
//!
//! The network sees its input through a fixed isotropic normalization
//! `(x − μ) / s` with a per-dimension shift `μ` and one scalar scale `s`,
//! fitted to the training data and stored with the weights. One scale for all
//! dimensions keeps the geometry of the input space: a perturbation of
//! Euclidean length `r` in data units is one of length `r / s` for the network
//! whatever its direction (a per-pixel scale would make perturbations of the
//! constant border pixels of digits enormous).

use super::data_parallel::combine_shards;
use super::init::Init;
use super::mlp::Mlp;
use super::params::{ParamStore, Params};
use crate::autodiff::{Tape, Var};
use crate::backend::Activation;
use crate::optim::{Adam, Optimizer};
use crate::tensor::random::Rng;
use crate::tensor::{Float, Tensor};
use crate::{Error, Result, invalid_arg, shape_err};

/// The smallest input scale: data with (almost) no spread is not blown up.
pub const SCALE_FLOOR: f64 = 1e-6;

/// Everything that defines a classifier's network, so that it can be rebuilt
/// from a file's metadata.
#[derive(Clone, Debug, PartialEq)]
pub struct ClassifierSpec {
    pub dim: usize,
    pub classes: usize,
    pub hidden: Vec<usize>,
    pub act: Activation,
    /// `μ`, subtracted from every input row.
    pub input_shift: Vec<f64>,
    /// `s`, dividing every input coordinate after the shift.
    pub input_scale: f64,
}

impl ClassifierSpec {
    /// A specification whose normalization is fitted to the rows of `x`:
    /// `μ` the column means, `s` the root mean square deviation from them
    /// over all coordinates (floored at [`SCALE_FLOOR`]).
    pub fn fitted<T: Float>(x: &Tensor<T>, classes: usize, hidden: &[usize], act: Activation) -> Result<Self> {
        let (shift, scale) = isotropic_normalization(x)?;
        let spec = ClassifierSpec {
            dim: x.dims()[1],
            classes,
            hidden: hidden.to_vec(),
            act,
            input_shift: shift,
            input_scale: scale,
        };
        spec.validate()?;
        Ok(spec)
    }

    pub fn validate(&self) -> Result<()> {
        if self.dim == 0 {
            invalid_arg!("a classifier needs a positive input dimension");
        }
        if self.classes < 2 {
            invalid_arg!("a classifier needs at least 2 classes, got {}", self.classes);
        }
        if self.hidden.contains(&0) {
            invalid_arg!("hidden layer widths must be positive, got {:?}", self.hidden);
        }
        if self.input_shift.len() != self.dim {
            shape_err!("the input shift has {} values for {} dimensions", self.input_shift.len(), self.dim);
        }
        if self.input_shift.iter().any(|v| !v.is_finite()) || !(self.input_scale.is_finite() && self.input_scale > 0.0)
        {
            invalid_arg!("the input normalization must be finite with a positive scale (got {})", self.input_scale);
        }
        Ok(())
    }

    fn widths(&self) -> Vec<usize> {
        let mut w = vec![self.dim];
        w.extend_from_slice(&self.hidden);
        w.push(self.classes);
        w
    }
}

/// Column means of `x` (`[n, d]`, finite) and the root mean square deviation
/// from them over all coordinates, floored at [`SCALE_FLOOR`].
pub fn isotropic_normalization<T: Float>(x: &Tensor<T>) -> Result<(Vec<f64>, f64)> {
    if x.rank() != 2 || x.dims()[0] == 0 || x.dims()[1] == 0 {
        shape_err!("a normalization needs a non-empty [n, d] set of points, got shape {}", x.shape());
    }
    let (n, d) = (x.dims()[0], x.dims()[1]);
    let v = x.to_f64_vec()?;
    if let Some(i) = v.iter().position(|a| !a.is_finite()) {
        return Err(Error::NonFinite(format!("point {} holds {} in column {}", i / d, v[i], i % d)));
    }
    let mut mean = vec![0.0; d];
    for row in v.chunks(d) {
        mean.iter_mut().zip(row).for_each(|(m, a)| *m += a);
    }
    mean.iter_mut().for_each(|m| *m /= n as f64);
    let ss: f64 = v.chunks(d).map(|row| row.iter().zip(&mean).map(|(a, m)| (a - m) * (a - m)).sum::<f64>()).sum();
    Ok((mean, (ss / (n * d) as f64).sqrt().max(SCALE_FLOOR)))
}

/// Labels checked against a batch of `n` rows and `classes` classes.
pub fn check_labels(labels: &[usize], n: usize, classes: usize) -> Result<()> {
    if labels.len() != n {
        shape_err!("{} labels for {n} points", labels.len());
    }
    if let Some(&bad) = labels.iter().find(|&&l| l >= classes) {
        invalid_arg!("label {bad} is not one of the {classes} classes 0..{}", classes - 1);
    }
    Ok(())
}

/// The softmax cross-entropy `logsumexp(z) − z_y` of each row of `logits`
/// (`[n, k]`) against its label, as `[n, 1]` on the tape.
pub fn cross_entropy<'t, T: Float>(logits: Var<'t, T>, labels: &[usize]) -> Result<Var<'t, T>> {
    let (n, k) = logits.shape().as_matrix()?;
    check_labels(labels, n, k)?;
    let mut onehot = vec![T::ZERO; n * k];
    for (i, &l) in labels.iter().enumerate() {
        onehot[i * k + l] = T::ONE;
    }
    let picked = logits.mul(&logits.tape().constant(Tensor::from_vec(onehot, [n, k])?))?.sum_axis(1, true)?;
    logits.logsumexp(1, true)?.sub(&picked)
}

/// An MLP classifier with its parameters.
#[derive(Clone, Debug)]
pub struct Classifier<T: Float> {
    pub spec: ClassifierSpec,
    pub mlp: Mlp,
    pub store: ParamStore<T>,
}

impl<T: Float> Classifier<T> {
    /// A freshly initialized classifier (PyTorch's default linear init).
    pub fn new(spec: ClassifierSpec, rng: &mut Rng) -> Result<Self> {
        spec.validate()?;
        let mut store = ParamStore::new();
        let mlp = Mlp::new(&mut store, "clf", &spec.widths(), spec.act, Init::TorchLinear, rng)?;
        Ok(Classifier { spec, mlp, store })
    }

    /// A classifier with given parameters, which must match the
    /// specification's network in names and shapes (say which do not).
    pub fn with_params(spec: ClassifierSpec, store: ParamStore<T>) -> Result<Self> {
        let mut c = Self::new(spec, &mut Rng::seed(0))?;
        let mut problems = Vec::new();
        for (name, want) in c.store.names().iter().zip(c.store.values()) {
            match store.id(name) {
                None => problems.push(format!("missing parameter '{name}'")),
                Some(id) if store.get(id).dims() != want.dims() => problems.push(format!(
                    "parameter '{name}' has shape {:?}, the classifier needs {:?}",
                    store.get(id).dims(),
                    want.dims()
                )),
                Some(_) => {}
            }
        }
        for name in store.names() {
            if c.store.id(name).is_none() {
                problems.push(format!("unexpected parameter '{name}'"));
            }
        }
        if !problems.is_empty() {
            invalid_arg!("parameters do not fit the classifier: {}", problems.join("; "));
        }
        let mut ordered = ParamStore::new();
        for name in c.store.names() {
            ordered.add(name.clone(), store.get(store.id(name).expect("checked")).clone())?;
        }
        c.store = ordered;
        Ok(c)
    }

    pub fn dim(&self) -> usize {
        self.spec.dim
    }
    pub fn classes(&self) -> usize {
        self.spec.classes
    }

    fn check_points(&self, x: &crate::Shape) -> Result<()> {
        if x.rank() != 2 || x.dim(1) != self.spec.dim {
            shape_err!("this classifier takes points of dimension {}, got shape {x}", self.spec.dim);
        }
        Ok(())
    }

    fn shift_and_scale(&self) -> Result<(Tensor<T>, f64)> {
        let shift = self.spec.input_shift.iter().map(|&v| T::from_f64(v)).collect();
        Ok((Tensor::from_vec(shift, [1, self.spec.dim])?, 1.0 / self.spec.input_scale))
    }

    /// The logits `[n, classes]` of the points `x` (data units) with the
    /// parameters `p` recorded on `x`'s tape.
    pub fn logits<'t>(&self, p: &Params<'t, T>, x: Var<'t, T>) -> Result<Var<'t, T>> {
        self.check_points(&x.shape())?;
        let (shift, inv_scale) = self.shift_and_scale()?;
        let u = x.sub(&x.tape().constant(shift))?.mul_scalar(inv_scale)?;
        self.mlp.forward(p, u)
    }

    /// The logits with the parameters recorded as constants on `x`'s tape:
    /// differentiable in `x` only (what a risk needs).
    pub fn logits_frozen<'t>(&self, x: Var<'t, T>) -> Result<Var<'t, T>> {
        let p = self.store.attach_frozen(x.tape());
        self.logits(&p, x)
    }

    /// The logits without a tape.
    pub fn eval_logits(&self, x: &Tensor<T>) -> Result<Tensor<T>> {
        self.check_points(x.shape())?;
        let (shift, inv_scale) = self.shift_and_scale()?;
        self.mlp.eval(&self.store, &x.sub(&shift)?.scale(inv_scale)?)
    }

    /// The most likely class of every row of `x` (ties to the lower class).
    pub fn predict(&self, x: &Tensor<T>) -> Result<Vec<usize>> {
        let logits = self.eval_logits(x)?.to_f64_vec()?;
        let k = self.spec.classes;
        Ok(logits
            .chunks(k)
            .map(|row| {
                row.iter().enumerate().fold((0, f64::NEG_INFINITY), |b, (i, &v)| if v > b.1 { (i, v) } else { b }).0
            })
            .collect())
    }

    /// The fraction of rows of `x` classified as their label.
    pub fn accuracy(&self, x: &Tensor<T>, labels: &[usize]) -> Result<f64> {
        check_labels(labels, x.dims().first().copied().unwrap_or(0), self.spec.classes)?;
        if labels.is_empty() {
            invalid_arg!("accuracy of no points");
        }
        let predicted = self.predict(x)?;
        Ok(predicted.iter().zip(labels).filter(|(p, l)| p == l).count() as f64 / labels.len() as f64)
    }

    /// The cross-entropy of every row of `x` against its label, without a tape.
    pub fn cross_entropies(&self, x: &Tensor<T>, labels: &[usize]) -> Result<Vec<f64>> {
        let tape = Tape::new();
        let logits = tape.constant(self.eval_logits(x)?);
        cross_entropy(logits, labels)?.value().to_f64_vec()
    }
}

/// How a classifier is trained.
#[derive(Clone, Debug, PartialEq)]
pub struct ClassifierTraining {
    pub hidden: Vec<usize>,
    pub act: Activation,
    pub iterations: usize,
    pub batch: usize,
    pub lr: f64,
    /// AdamW's decoupled weight decay (0: plain Adam).
    pub weight_decay: f64,
    pub seed: u64,
}

impl Default for ClassifierTraining {
    /// Two hidden layers of 64 SiLU units, 1000 Adam steps of 1e-3 on batches of 128.
    fn default() -> Self {
        ClassifierTraining {
            hidden: vec![64, 64],
            act: Activation::Silu,
            iterations: 1000,
            batch: 128,
            lr: 1e-3,
            weight_decay: 0.0,
            seed: 0,
        }
    }
}

impl ClassifierTraining {
    pub fn validate(&self) -> Result<()> {
        if self.iterations == 0 || self.batch == 0 {
            invalid_arg!("classifier training needs positive iterations and batch size");
        }
        if !(self.lr.is_finite() && self.lr > 0.0 && self.weight_decay.is_finite() && self.weight_decay >= 0.0) {
            invalid_arg!("the learning rate must be positive and the weight decay non-negative");
        }
        if self.hidden.contains(&0) {
            invalid_arg!("hidden layer widths must be positive, got {:?}", self.hidden);
        }
        Ok(())
    }
}

/// The mean cross-entropy of `x` against `labels` and its gradients with
/// respect to the classifier's parameters (store order), in shards across
/// the threads.
pub fn cross_entropy_and_grads<T: Float>(
    c: &Classifier<T>,
    x: &Tensor<T>,
    labels: &[usize],
) -> Result<(f64, Vec<Tensor<T>>)> {
    c.check_points(x.shape())?;
    check_labels(labels, x.dims()[0], c.spec.classes)?;
    if labels.is_empty() {
        invalid_arg!("cross-entropy of an empty batch");
    }
    let r = combine_shards(x.dims()[0], x.device(), |lo, hi| {
        let tape = Tape::new();
        let p = c.store.attach(&tape);
        let logits = c.logits(&p, tape.constant(x.slice(0, lo, hi - lo)?))?;
        let loss = cross_entropy(logits, &labels[lo..hi])?.mean_all()?;
        let grads = p.grads(&tape.backward(loss)?)?;
        Ok((loss.value().item()?.to_f64(), grads, ()))
    })?;
    Ok((r.loss, r.grads))
}

/// Trains a classifier of `classes` classes on the rows of `x` and their
/// labels: minibatches drawn without replacement (reshuffled each epoch),
/// Adam(W). `on_iteration(iteration, loss)` sees every minibatch loss. A
/// non-finite loss stops training with an error naming the iteration.
pub fn train_classifier<T: Float>(
    x: &Tensor<T>,
    labels: &[usize],
    classes: usize,
    cfg: &ClassifierTraining,
    mut on_iteration: impl FnMut(usize, f64),
) -> Result<Classifier<T>> {
    cfg.validate()?;
    let spec = ClassifierSpec::fitted(x, classes, &cfg.hidden, cfg.act)?;
    let n = x.dims()[0];
    check_labels(labels, n, classes)?;
    let mut rng = Rng::seed(cfg.seed);
    let mut c = Classifier::new(spec, &mut rng.split())?;
    let mut opt = if cfg.weight_decay > 0.0 { Adam::adamw(cfg.lr, cfg.weight_decay) } else { Adam::new(cfg.lr) };
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
        let xb = x.gather_rows(rows)?;
        let lb: Vec<usize> = rows.iter().map(|&r| labels[r]).collect();
        let (loss, grads) = cross_entropy_and_grads(&c, &xb, &lb)?;
        if !loss.is_finite() {
            return Err(Error::NonFinite(format!("classifier training loss became {loss} at iteration {iteration}")));
        }
        opt.step(&mut c.store, &grads)?;
        on_iteration(iteration, loss);
    }
    Ok(c)
}
