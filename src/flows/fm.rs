//! Flow matching (tutorial III-E, eq. 15–17): simulation-free training of a
//! neural-ODE velocity field by regression on an interpolation between data
//! and noise.
//!
//! Convention: `t = 0` is data, `t = 1` is noise; `x0 ~ p` (data),
//! `x1 ~ q = N(0, I)`. The loss (16) is `E_t E |v(I_t, t) − ∂_t I_t|²` with
//!
//! * linear `I_t = (1−t)·x0 + t·x1`, target `x1 − x0`;
//! * trigonometric `I_t = cos(πt/2)·x0 + sin(πt/2)·x1`, target
//!   `(π/2)(cos(πt/2)·x1 − sin(πt/2)·x0)`.
//!
//! Its minimizer is `v(x, t) = E[∂_t I_t | I_t = x]` (Lemma III.1), whose flow
//! carries `p` at `t = 0` to `q` at `t = 1`. The trained model is a
//! [`BlockFlow`] of one block on `[0, 1]`: sampling and likelihood by ODE
//! integration (the block's fixed grid, or Dopri5 via [`super::EvalOptions`]).
//!
//! The same regression step serves Local Flow Matching ([`super::lfm`]), which
//! supplies coupled pairs instead of independent ones.

use super::block::{Block, BlockFlow, BlockSpec};
use super::field::FieldKind;
use super::time_sampler::TimeSampler;
use crate::autodiff::{Tape, Var};
use crate::backend::Device;
use crate::density::Divergence;
use crate::nn::data_parallel::combine_shards;
use crate::nn::{Activation, ParamStore, VelocityField};
use crate::ode::Tableau;
use crate::optim::{Adam, Ema, Optimizer, Schedule, clip_if, validate_max_norm};
use crate::tensor::random::Rng;
use crate::tensor::{Float, Tensor};
use crate::{Error, Result, invalid_arg, shape_err};

/// The path `I_t(x0, x1)` between a data point and a noise point.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Interpolant {
    /// `(1−t)·x0 + t·x1`.
    Linear,
    /// `cos(πt/2)·x0 + sin(πt/2)·x1` (variance-preserving between independent standard endpoints).
    Trigonometric,
}

impl Interpolant {
    pub fn from_name(name: &str) -> Result<Self> {
        Ok(match name {
            "linear" => Interpolant::Linear,
            "trigonometric" | "trig" => Interpolant::Trigonometric,
            _ => invalid_arg!("unknown interpolant '{name}' (expected linear or trigonometric)"),
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            Interpolant::Linear => "linear",
            Interpolant::Trigonometric => "trigonometric",
        }
    }

    /// `(a, b, a', b')` with `I_t = a·x0 + b·x1` and `∂_t I_t = a'·x0 + b'·x1`.
    pub fn coefficients(self, t: f64) -> (f64, f64, f64, f64) {
        match self {
            Interpolant::Linear => (1.0 - t, t, -1.0, 1.0),
            Interpolant::Trigonometric => {
                let h = std::f64::consts::FRAC_PI_2;
                let (s, c) = (h * t).sin_cos();
                (c, s, -h * s, h * c)
            }
        }
    }
}

/// Writes the rows of `I_t` into `xt` and of `∂_t I_t` into `target` for
/// row-major `x0`, `x1` of width `d` and one time per row.
fn interpolate_rows<T: Float>(
    interpolant: Interpolant,
    x0: &[T],
    x1: &[T],
    t: &[f64],
    d: usize,
    xt: &mut [T],
    target: &mut [T],
) {
    let rows = xt.chunks_exact_mut(d).zip(target.chunks_exact_mut(d)).zip(x0.chunks_exact(d).zip(x1.chunks_exact(d)));
    for (((xr, ur), (ar, br)), &ti) in rows.zip(t) {
        let (a, b, da, db) = interpolant.coefficients(ti);
        let (a, b, da, db) = (T::from_f64(a), T::from_f64(b), T::from_f64(da), T::from_f64(db));
        for (((x, u), &p), &q) in xr.iter_mut().zip(ur.iter_mut()).zip(ar).zip(br) {
            *x = a * p + b * q;
            *u = da * p + db * q;
        }
    }
}

/// `(I_t, ∂_t I_t)` as `[n, d]` tensors. They are made from zeros, not from
/// vectors, so that their buffers come from (and return to) the buffer pool.
fn interpolated<T: Float>(
    interpolant: Interpolant,
    x0: &[T],
    x1: &[T],
    t: &[f64],
    d: usize,
) -> Result<(Tensor<T>, Tensor<T>)> {
    let n = t.len();
    let (mut xt, mut target) = (Tensor::zeros([n, d]), Tensor::zeros([n, d]));
    interpolate_rows(interpolant, x0, x1, t, d, xt.make_mut()?, target.make_mut()?);
    Ok((xt, target))
}

fn check_pairs<T: Float>(x0: &Tensor<T>, x1: &Tensor<T>, t: &[f64]) -> Result<(usize, usize)> {
    let (n, d) = match x0.dims() {
        [n, d] if *n > 0 && *d > 0 => (*n, *d),
        _ => shape_err!("flow matching needs a non-empty batch of points [n, d], got {}", x0.shape()),
    };
    if x1.dims() != [n, d] {
        shape_err!("the two ends of the pairs differ in shape: {} and {}", x0.shape(), x1.shape());
    }
    if t.len() != n {
        shape_err!("{} times for {n} pairs", t.len());
    }
    Ok((n, d))
}

/// The interpolated points `I_t(x0ᵢ, x1ᵢ)` at each row's time `tᵢ` and the
/// regression targets `∂_t I_t`, both of the shape of `x0`.
pub fn interpolate<T: Float>(
    interpolant: Interpolant,
    x0: &Tensor<T>,
    x1: &Tensor<T>,
    t: &[f64],
) -> Result<(Tensor<T>, Tensor<T>)> {
    let (_, d) = check_pairs(x0, x1, t)?;
    interpolated(interpolant, x0.as_slice()?, x1.as_slice()?, t, d)
}

/// `(1/n) Σᵢ |vᵢ − uᵢ|²` over the `n` rows of `v`, as one op on the tape
/// (gradient `2(v − u)/n`): the flow-matching loss for a fixed target `u`.
pub fn mean_squared_distance<'t, T: Float>(v: Var<'t, T>, u: &Tensor<T>) -> Result<Var<'t, T>> {
    let vv = v.value();
    if vv.shape() != u.shape() || vv.rank() != 2 || vv.dims()[0] == 0 {
        shape_err!("squared distance between {} and {}", vv.shape(), u.shape());
    }
    let n = vv.dims()[0] as f64;
    if vv.device() != Device::Cpu {
        // On a device, as recorded ops: the same value and gradient, no host copies.
        let u = v.tape().constant(u.clone());
        return v.sub(&u)?.square()?.sum_all()?.mul_scalar(1.0 / n);
    }
    let sum: f64 = vv
        .as_slice()?
        .iter()
        .zip(u.as_slice()?)
        .map(|(&a, &b)| {
            let e = (a - b).to_f64();
            e * e
        })
        .sum();
    let u = u.clone();
    Ok(v.tape().custom(&[v], Tensor::scalar(T::from_f64(sum / n)), move |inputs, _, gy| {
        let c = T::from_f64(2.0 * gy.item()?.to_f64() / n);
        let mut g = inputs[0].zeros_like()?;
        let rows = g.make_mut()?.iter_mut().zip(inputs[0].as_slice()?.iter().zip(u.as_slice()?));
        for (gv, (&a, &b)) in rows {
            *gv = c * (a - b);
        }
        Ok(vec![Some(g)])
    }))
}

/// The flow-matching loss `(1/n) Σᵢ |v(I_{tᵢ}, tᵢ) − ∂_t I_{tᵢ}|²` over the
/// pairs `(x0ᵢ, x1ᵢ)` at times `tᵢ`, and its gradients with respect to every
/// parameter of `store` (store order). Rows are split into shards, one tape
/// per thread ([`combine_shards`]); each shard interpolates its own rows.
pub fn matching_loss_and_grads<T: Float, F: VelocityField<T> + Sync>(
    field: &F,
    store: &ParamStore<T>,
    interpolant: Interpolant,
    x0: &Tensor<T>,
    x1: &Tensor<T>,
    t: &[f64],
) -> Result<(f64, Vec<Tensor<T>>)> {
    let (n, d) = check_pairs(x0, x1, t)?;
    if d != field.dim() {
        shape_err!("a field on ℝ^{} cannot match {d}-dimensional points", field.dim());
    }
    let (a, b) = (x0.as_slice()?, x1.as_slice()?);
    let device = store.device();
    let c = combine_shards(n, device, |lo, hi| {
        // Pairs are drawn and interpolated on the host, then copied to the
        // parameters' device in one transfer each.
        let (xt, u) = interpolated(interpolant, &a[lo * d..hi * d], &b[lo * d..hi * d], &t[lo..hi], d)?;
        let mut times = Tensor::zeros([hi - lo, 1]);
        for (dst, &s) in times.make_mut()?.iter_mut().zip(&t[lo..hi]) {
            *dst = T::from_f64(s);
        }
        let (xt, u, times) = (xt.to_device(device)?, u.to_device(device)?, times.to_device(device)?);
        let tape = Tape::new();
        let p = store.attach(&tape);
        let v = field.forward_rows(&p, tape.constant(xt), tape.constant(times))?;
        let loss = mean_squared_distance(v, &u)?;
        let grads = p.grads(&tape.backward(loss)?)?;
        Ok((loss.value().item()?.to_f64(), grads, ()))
    })?;
    Ok((c.loss, c.grads))
}

/// Everything that defines a global flow-matching run.
#[derive(Clone, Debug)]
pub struct FmConfig {
    pub dim: usize,
    pub field: FieldKind,
    pub hidden: Vec<usize>,
    pub act: Activation,
    pub interpolant: Interpolant,
    pub time: TimeSampler,
    pub batch: usize,
    /// Adam's learning rate at the first iteration (of each block, for Local FM).
    pub lr: f64,
    /// The rate at the last iteration, reached from `lr` by a cosine; `None`
    /// keeps `lr` throughout.
    pub lr_final: Option<f64>,
    /// Decay of an exponential moving average of the parameters
    /// ([`crate::optim::Ema`]); the trained flow (each block, for Local FM)
    /// then holds the average instead of the last iterate. `None`: the last
    /// iterate.
    pub ema: Option<f64>,
    /// Clip the global gradient norm at this before each Adam step.
    pub clip_grad: Option<f64>,
    pub iterations: usize,
    pub seed: u64,
    /// Solver step of the model's evaluation grid on `[0, 1]` (sampling,
    /// likelihood); training never integrates.
    pub step_size: f64,
    pub solver: &'static Tableau,
    /// Divergence used by the model's likelihood.
    pub divergence: Divergence,
    /// Where training runs; the returned flow is on the host either way.
    pub device: Device,
}

impl FmConfig {
    /// The setting: MLP `d+1 → 64 → 64 → 64 → d` tanh, linear
    /// interpolant, uniform times, batch 1024, Adam 1e-3, 1000 iterations;
    /// evaluation by RK4 (3/8 rule) with step 0.05 and the exact trace.
    pub fn reference(dim: usize) -> Self {
        FmConfig {
            dim,
            field: FieldKind::TimeMlp,
            hidden: vec![64, 64, 64],
            act: Activation::Tanh,
            interpolant: Interpolant::Linear,
            time: TimeSampler::Uniform,
            batch: 1024,
            lr: 1e-3,
            lr_final: None,
            ema: None,
            clip_grad: None,
            iterations: 1000,
            seed: 0,
            step_size: 0.05,
            solver: &crate::ode::tableau::RK4_38,
            divergence: Divergence::Exact,
            device: Device::Cpu,
        }
    }

    /// Adam's learning rate at `iteration` (of a block): the cosine from `lr`
    /// to `lr_final` over the iterations.
    pub fn lr_at(&self, iteration: usize) -> f64 {
        let total = self.iterations.saturating_sub(1).max(1) as u64;
        match self.lr_final {
            Some(min_lr) => Schedule::Cosine { lr: self.lr, min_lr, total }.lr(iteration as u64),
            None => self.lr,
        }
    }

    /// The block this configuration trains: the network on `[0, 1]` with the evaluation grid.
    pub fn block_spec(&self) -> Result<BlockSpec> {
        Ok(BlockSpec {
            dim: self.dim,
            field: self.field,
            hidden: self.hidden.clone(),
            act: self.act,
            grid: crate::ode::fixed::step_size_grid(0.0, 1.0, self.step_size)?,
            solver: self.solver,
            divergence: self.divergence,
        })
    }

    pub fn validate(&self) -> Result<()> {
        if self.dim == 0 || self.batch == 0 {
            invalid_arg!("dimension and batch size must be positive");
        }
        if !(self.lr > 0.0 && self.lr.is_finite()) {
            invalid_arg!("the learning rate must be positive, got {}", self.lr);
        }
        if let Some(last) = self.lr_final
            && !(last > 0.0 && last <= self.lr)
        {
            invalid_arg!("the final learning rate must be in (0, lr = {}], got {last}", self.lr);
        }
        if !(self.step_size > 0.0 && self.step_size <= 1.0) {
            invalid_arg!("the evaluation step must be in (0, 1], got {}", self.step_size);
        }
        validate_max_norm(self.clip_grad)?;
        if let Some(d) = self.ema
            && !(0.0..1.0).contains(&d)
        {
            invalid_arg!("the EMA decay must be in [0, 1), got {d}");
        }
        self.time.validate()
    }
}

/// What one regression step reports.
#[derive(Clone, Copy, Debug)]
pub struct MatchingReport {
    /// Block number from 1 (always 1 for global flow matching).
    pub block: usize,
    /// Iteration within the block, from 0.
    pub iteration: usize,
    /// Minibatch flow-matching loss.
    pub loss: f64,
}

/// One block under flow-matching training: its parameters, Adam state and,
/// if asked for, the moving average of its parameters.
pub struct FmTrainer<T: Float> {
    pub block: Block<T>,
    pub interpolant: Interpolant,
    pub time: TimeSampler,
    opt: Adam<T>,
    ema: Option<Ema<T>>,
    clip_grad: Option<f64>,
}

impl<T: Float> FmTrainer<T> {
    /// Training of `block` from its current parameters with Adam at `lr`.
    pub fn new(block: Block<T>, interpolant: Interpolant, time: TimeSampler, lr: f64) -> Result<Self> {
        time.validate()?;
        if block.spec.t_end() != 1.0 {
            invalid_arg!("flow matching trains a block on [0, 1], this one ends at {}", block.spec.t_end());
        }
        Ok(FmTrainer { block, interpolant, time, opt: Adam::new(lr), ema: None, clip_grad: None })
    }

    /// Keeps a moving average of the parameters with `decay` from here on
    /// (`None`: none), which [`FmTrainer::into_block`] then returns.
    pub fn with_ema(mut self, decay: Option<f64>) -> Result<Self> {
        self.ema = decay.map(|d| Ema::new(d, &self.block.store)).transpose()?;
        Ok(self)
    }

    /// Clips the global gradient norm at `max_norm` before every step from
    /// here on (`None`: never).
    pub fn with_clip(mut self, max_norm: Option<f64>) -> Result<Self> {
        validate_max_norm(max_norm)?;
        self.clip_grad = max_norm;
        Ok(self)
    }

    /// One Adam step on the pairs `(x0ᵢ, x1ᵢ)`, with times drawn from `rng`;
    /// returns the minibatch loss. A non-finite loss is an error and leaves
    /// the parameters as they were.
    ///
    /// Under data parallelism ([`crate::dist`]) every rank passes the whole
    /// batch and computes the loss of its rows; the update is the batch's.
    pub fn step(&mut self, x0: &Tensor<T>, x1: &Tensor<T>, rng: &mut Rng) -> Result<f64> {
        let n = x0.dims().first().copied().unwrap_or(0);
        let t = self.time.sample_n(n, rng);
        let group = crate::dist::training_group();
        let (loss, mut grads) = if group.size() == 1 {
            matching_loss_and_grads(&self.block.cnf.field, &self.block.store, self.interpolant, x0, x1, &t)?
        } else {
            let (lo, hi) = crate::dist::rank_rows(group, n)?;
            let (a, b) = (x0.slice(0, lo, hi - lo)?, x1.slice(0, lo, hi - lo)?);
            let field = &self.block.cnf.field;
            let (loss, grads) =
                matching_loss_and_grads(field, &self.block.store, self.interpolant, &a, &b, &t[lo..hi])?;
            let m = crate::dist::mean_over_ranks(group, hi - lo, n, loss, grads, &[])?;
            (m.loss, m.grads)
        };
        if !loss.is_finite() {
            return Err(Error::NonFinite(format!("the flow-matching loss became {loss}")));
        }
        clip_if(&mut grads, self.clip_grad)?;
        self.opt.step(&mut self.block.store, &grads)?;
        if let Some(ema) = &mut self.ema {
            ema.update(&self.block.store)?;
        }
        Ok(loss)
    }

    /// Changes Adam's learning rate (for a schedule).
    pub fn set_lr(&mut self, lr: f64) {
        self.opt.set_lr(lr);
    }

    /// The trained block: with the averaged parameters if an average is kept.
    pub fn into_block(self) -> Block<T> {
        let mut block = self.block;
        if let Some(ema) = self.ema {
            block.store = ema.into_average();
        }
        block
    }
}

/// `[n, d]` standard normal entries, the same draws as [`Tensor::randn`] but
/// in a pooled buffer: a buffer made from a vector joins the pool when
/// dropped without having been taken from it, so per-iteration noise made
/// that way would grow the pool every iteration.
pub fn standard_normal<T: Float>(n: usize, d: usize, rng: &mut Rng) -> Result<Tensor<T>> {
    let mut draws = vec![0.0; n * d];
    rng.fill_normal(&mut draws);
    let mut z = Tensor::zeros([n, d]);
    for (v, &w) in z.make_mut()?.iter_mut().zip(&draws) {
        *v = T::from_f64(w);
    }
    Ok(z)
}

/// Adds where an error happened to a non-finite-loss error.
pub(crate) fn at_iteration(e: Error, what: &str, iteration: usize) -> Error {
    match e {
        Error::NonFinite(m) => Error::NonFinite(format!("{m} at iteration {iteration}{what}")),
        e => e,
    }
}

/// Trains a flow-matching model on minibatches from `sample(n, rng)`: each
/// iteration draws `x0` from `sample`, `x1 ~ N(0, I)` independently and one
/// time per pair. `on_iteration` sees every iteration's report and the block
/// after its update (to checkpoint it); an error it returns stops training. A non-finite
/// loss stops training with an error naming the iteration.
pub fn train_fm<T: Float>(
    cfg: &FmConfig,
    mut sample: impl FnMut(usize, &mut Rng) -> Result<Tensor<T>>,
    mut on_iteration: impl FnMut(&MatchingReport, &Block<T>) -> Result<()>,
) -> Result<BlockFlow<T>> {
    cfg.validate()?;
    let mut rng = Rng::seed(cfg.seed);
    let mut init_rng = rng.split();
    let block = Block::new(cfg.block_spec()?, &mut init_rng)?.to_device(cfg.device)?;
    let mut trainer =
        FmTrainer::new(block, cfg.interpolant, cfg.time, cfg.lr)?.with_ema(cfg.ema)?.with_clip(cfg.clip_grad)?;
    for iteration in 0..cfg.iterations {
        trainer.set_lr(cfg.lr_at(iteration));
        let x0 = sample(cfg.batch, &mut rng)?;
        if x0.dims() != [cfg.batch, cfg.dim] {
            shape_err!("the sampler returned {} for a batch of {}×{}", x0.shape(), cfg.batch, cfg.dim);
        }
        let x1 = standard_normal(cfg.batch, cfg.dim, &mut rng)?;
        let loss = trainer.step(&x0, &x1, &mut rng).map_err(|e| at_iteration(e, "", iteration))?;
        crate::backend::profile::end_iteration();
        on_iteration(&MatchingReport { block: 1, iteration, loss }, &trainer.block)?;
    }
    let mut flow = BlockFlow::new(cfg.dim);
    flow.push(trainer.into_block().to_device(Device::Cpu)?)?;
    Ok(flow)
}
