//! JKO-iFlow (tutorial IV-A, eq. 19–24): a flow trained block by block, each
//! block one step of the JKO scheme, a Wasserstein proximal gradient step on
//! `KL(·‖N(0, I))`.
//!
//! Block `n` is a neural ODE on `[0, h_n]` with its own parameters. It is
//! trained alone on minibatches of the particles pushed through blocks
//! `1..n−1` (cached, not recomputed), with loss (24):
//!
//! `E ½|x(h_n)|² − E ∫₀^{h_n} ∇·v dt + (1/2h_n) E|x(h_n) − x(0)|²`,
//!
//! gradients by backpropagation through the solver's steps (direct by
//! default), the batch split into one shard per thread. The integration time
//! of a block is its JKO step `h_n`, so the field's speed is of the order of
//! the Wasserstein gradient whatever the step. After training, every
//! particle is pushed through the block (chunked, untracked) and cached, and
//! the block is frozen.
//!
//! What the paper describes beyond its public code, as implemented here:
//! - step sizes `h_k = min(h_0·ρ^(k−1), h_max)` ([`StepSchedule`]);
//! - a stopping rule: the pass ends after the first block whose movement
//!   `sqrt(E|x_n − x_{n−1}|²)` is below `stop_w2` (that block is kept), or at
//!   `max_blocks`;
//! - a guard of our own, from the theory: the pass also ends at the first
//!   block whose W2 speed `W2_n / h_n` exceeds `max_speed_growth` times the
//!   previous block's, and that block is discarded. For the exact scheme on
//!   `KL(·‖N(0, I))`, which is 1-convex, the speed contracts at every step
//!   (by `1/(1 + h)`), so a block that speeds up has learned something other
//!   than the JKO step. On rose with 3 RK4 steps per block this is what the
//!   late blocks do once the particles are close to `N(0, I)`: they fold the
//!   plane, which the solver's divergence integral misreads as a gain in
//!   likelihood (RESULTS.md). A resumed run does not know that its last
//!   block was discarded: it trains that block again and discards it again.
//!   With `divergence = DiscreteJacobian` the loss's `∫∇·v` is replaced by
//!   `log|det|` of the map the solver computes, which has no such gain to
//!   offer: a fold would have to pass through `det = 0`, where the loss is
//!   infinite, and the flow's density and inverse are those of the discrete
//!   map exactly. That is the setting that reaches the paper's rose NLL;
//! - time reparametrization with refinement ([`reparam`]): after the pass,
//!   the grid is re-timed so that blocks move about equal W2 distances and
//!   the blocks are retrained on it, warm-started from the old ones.
//!
//! Per-block diagnostics ([`BlockReport`]): loss terms, W2 moved, the KL
//! estimate, the Wasserstein-gradient norm estimate (see [`diagnostics`]).
//!
//! Reproducibility and resuming: every block draws its randomness
//! (initialization, minibatches, probes, diagnostics) from a generator
//! derived from `(seed, pass, block index)` alone, the particles are pushed
//! in fixed chunks, and a resumed run pushes them through the given blocks
//! with the same code. So training `N` blocks at once, or `k` blocks and then
//! resuming from them, gives the same bits (for the same thread count, which
//! fixes the gradient shards).

pub mod diagnostics;
pub mod reparam;
pub mod schedule;
mod step;

pub use diagnostics::{
    BlockReport, LossTerms, Phase, first_order_residual, half_mean_square, rms_distance, score_through_block,
};
pub use reparam::{ReparamConfig, Retiming, equal_movement_steps};
pub use schedule::StepSchedule;
pub use step::{PUSH_CHUNK, jko_loss_and_grads, push_particles};

use std::time::Instant;

use super::block::{Block, BlockFlow, BlockSpec};
use super::field::FieldKind;
use crate::density::{Backprop, Divergence};
use crate::nn::Activation;
use crate::ode::Tableau;
use crate::tensor::random::Rng;
use crate::tensor::{Float, Tensor};
use crate::{Error, Result, invalid_arg, shape_err};

/// Everything that defines a JKO-iFlow training run.
#[derive(Clone, Debug)]
pub struct JkoConfig {
    pub dim: usize,
    pub field: FieldKind,
    pub hidden: Vec<usize>,
    pub act: Activation,
    /// Solver steps per block (equal steps over `[0, h_n]`).
    pub steps_per_block: usize,
    pub solver: &'static Tableau,
    pub divergence: Divergence,
    pub backprop: Backprop,
    pub schedule: StepSchedule,
    /// The initial pass trains at most this many blocks.
    pub max_blocks: usize,
    /// Training iterations per block.
    pub iterations: usize,
    /// Minibatch size (clamped to the number of particles).
    pub batch: usize,
    /// Adam's learning rate (a fresh optimizer per block).
    pub lr: f64,
    /// Clip the global gradient norm at this before each Adam step.
    pub clip_grad: Option<f64>,
    /// Initialize block `n` with block `n−1`'s parameters (block 1 is random).
    pub warm_start: bool,
    /// Stop after the first block that moves the particles less than this.
    pub stop_w2: Option<f64>,
    /// Stop at (and discard) the first block whose W2 speed `W2 moved / h`
    /// exceeds the previous block's by more than this factor.
    pub max_speed_growth: Option<f64>,
    /// Re-time the grid after the initial pass and retrain on it.
    pub reparametrize: Option<ReparamConfig>,
    /// How many particles (evenly strided) the per-block loss terms and KL
    /// divergence integrals are evaluated on.
    pub diagnostic_particles: usize,
    pub seed: u64,
}

impl JkoConfig {
    /// The JKO-iFlow paper's 2-D setting (rose): MLP on `[x, t]` with three
    /// hidden layers of 128, softplus β = 20, 3 RK4 steps per block, exact
    /// trace, `h_k = 0.25·1.4^(k−1)` for 8 blocks, batch 2000, Adam 1e-4.
    /// Iterations per block (1000), warm starts (on) and the diagnostic
    /// subset (20,000) are our choices; no stopping rule, no re-timing.
    pub fn reference(dim: usize) -> Self {
        JkoConfig {
            dim,
            field: FieldKind::TimeMlp,
            hidden: vec![128, 128, 128],
            act: Activation::Softplus { beta: 20.0 },
            steps_per_block: 3,
            solver: &crate::ode::tableau::RK4,
            divergence: Divergence::Exact,
            backprop: Backprop::Direct,
            schedule: StepSchedule { h0: 0.25, rho: 1.4, h_max: f64::INFINITY },
            max_blocks: 8,
            iterations: 1000,
            batch: 2000,
            lr: 1e-4,
            clip_grad: None,
            warm_start: true,
            stop_w2: None,
            max_speed_growth: None,
            reparametrize: None,
            diagnostic_particles: 20_000,
            seed: 0,
        }
    }

    /// The specification of a block with step (and integration time) `h`.
    pub fn block_spec(&self, h: f64) -> Result<BlockSpec> {
        Ok(BlockSpec {
            dim: self.dim,
            field: self.field,
            hidden: self.hidden.clone(),
            act: self.act,
            grid: crate::ode::fixed::uniform_grid(0.0, h, self.steps_per_block)?,
            solver: self.solver,
            divergence: self.divergence,
        })
    }

    pub fn validate(&self) -> Result<()> {
        if self.dim == 0 || self.batch == 0 || self.steps_per_block == 0 || self.diagnostic_particles == 0 {
            invalid_arg!("dimension, batch, solver steps per block and diagnostic particles must be positive");
        }
        if !(self.lr.is_finite() && self.lr > 0.0) {
            invalid_arg!("the learning rate must be finite and positive, got {}", self.lr);
        }
        self.schedule.validate()?;
        crate::optim::validate_max_norm(self.clip_grad)?;
        if let Some(eps) = self.stop_w2
            && (eps.is_nan() || eps < 0.0)
        {
            invalid_arg!("the stopping threshold on the W2 movement must be non-negative, got {eps}");
        }
        if let Some(g) = self.max_speed_growth
            && !(g.is_finite() && g > 0.0)
        {
            invalid_arg!("the largest growth of the W2 speed must be finite and positive, got {g}");
        }
        if let Some(r) = self.reparametrize
            && let Some(lr) = r.lr
            && !(lr.is_finite() && lr > 0.0)
        {
            invalid_arg!("the refinement learning rate must be finite and positive, got {lr}");
        }
        self.solver.validate()
    }
}

/// Callbacks of a training run.
pub trait JkoHooks<T: Float> {
    /// A pass starts; it will train blocks `first..=last` (1-based).
    fn on_phase(&mut self, _phase: Phase, _first: usize, _last: usize) {}
    /// After every optimizer step of block `block` (1-based).
    fn on_iteration(&mut self, _block: usize, _iteration: usize, _terms: &LossTerms) {}
    /// A block is finished and frozen; `flow` holds it and those before it.
    /// An error aborts training and is returned.
    fn on_block(&mut self, _flow: &BlockFlow<T>, _report: &BlockReport) -> Result<()> {
        Ok(())
    }
    /// A trained block was discarded by the speed guard
    /// ([`JkoConfig::max_speed_growth`]); the pass ends without it.
    fn on_discard(&mut self, _report: &BlockReport) {}
}

/// Hooks that do nothing.
pub struct NoHooks;
impl<T: Float> JkoHooks<T> for NoHooks {}

/// Why the initial pass ended.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum StopReason {
    /// It trained `max_blocks` blocks.
    MaxBlocks,
    /// Block `block` (1-based) moved less than `stop_w2`.
    Converged { block: usize, w2_moved: f64 },
    /// Block `block` (1-based, discarded) moved at W2 speed `speed`, faster
    /// than `max_speed_growth` times the previous block's `previous`.
    SpeedGrew { block: usize, speed: f64, previous: f64 },
}

/// What a training run returns.
pub struct JkoOutcome<T: Float> {
    /// The trained flow: the refined one when re-timing ran.
    pub flow: BlockFlow<T>,
    /// Reports of the blocks trained by this call, in order (initial pass, then refinement).
    pub reports: Vec<BlockReport>,
    pub stop: StopReason,
    /// The re-timing, when it ran.
    pub retiming: Option<Retiming>,
    /// The initial pass's flow, when it was refined.
    pub initial_flow: Option<BlockFlow<T>>,
}

/// Trains a JKO-iFlow on `particles` (`[n, dim]`, the whole training set).
///
/// `resume`: a flow whose blocks are the first `k` blocks of this
/// configuration's initial pass (as saved by `on_block`); the particles are
/// pushed through them and training continues at block `k+1`, as if the run
/// had not stopped (a resumed flow that already meets the stopping rule, or
/// has `max_blocks` blocks, trains nothing more).
///
/// With re-timing configured, the refinement follows the initial pass; its
/// `on_block` calls carry [`Phase::Refine`] and the refined flow so far (a
/// new flow from the data, not an extension of the initial one), so a caller
/// that checkpoints should keep the two passes apart, and resume an
/// interrupted refinement with [`refine_jko`].
pub fn train_jko<T: Float>(
    cfg: &JkoConfig,
    particles: &Tensor<T>,
    resume: Option<BlockFlow<T>>,
    hooks: &mut impl JkoHooks<T>,
) -> Result<JkoOutcome<T>> {
    cfg.validate()?;
    check_particles(cfg, particles)?;
    let mut pass = Pass::new(cfg, Phase::Initial, particles)?;
    let mut reports = Vec::new();
    if let Some(flow) = resume {
        if flow.dim != cfg.dim {
            shape_err!("the flow to resume is {}-dimensional, the configuration {}-dimensional", flow.dim, cfg.dim);
        }
        for (i, block) in flow.blocks.into_iter().enumerate() {
            check_spec(cfg, &block.spec, i + 1, cfg.schedule.step(i + 1), "flow to resume")?;
            pass.finish_block(block, 0, Instant::now())?;
        }
    }
    let mut stop = pass.stop_reason(cfg);
    if stop.is_none() {
        let first = pass.flow.len() + 1;
        hooks.on_phase(Phase::Initial, first, cfg.max_blocks);
        for k in first..=cfg.max_blocks {
            let h = cfg.schedule.step(k);
            let init = if cfg.warm_start { pass.flow.blocks.last().map(|b| b.store.clone()) } else { None };
            let report = pass.train_next(cfg, h, init, cfg.iterations, cfg.lr, hooks)?;
            if let Some(grew) = pass.speed_grew(cfg) {
                pass.discard_last()?;
                hooks.on_discard(&report);
                stop = Some(grew);
                break;
            }
            hooks.on_block(&pass.flow, &report)?;
            reports.push(report);
            stop = pass.stop_reason(cfg);
            if stop.is_some() {
                break;
            }
        }
    }
    let stop = stop.unwrap_or(StopReason::MaxBlocks);
    match cfg.reparametrize {
        None => Ok(JkoOutcome { flow: pass.flow, reports, stop, retiming: None, initial_flow: None }),
        Some(r) => {
            let retiming = equal_movement_steps(&pass.steps, &pass.movements)?;
            let mut out = refine(cfg, r, particles, pass.flow, retiming, None, hooks)?;
            reports.append(&mut out.reports);
            out.reports = reports;
            out.stop = stop;
            Ok(out)
        }
    }
}

/// Re-times a finished initial pass `initial` (see [`reparam`]) and trains
/// the refined blocks, continuing after the refined blocks in `resume` if
/// given (as saved by `on_block` during a refinement). `cfg.reparametrize`
/// must be set, and `initial` must be a complete initial pass of `cfg`.
pub fn refine_jko<T: Float>(
    cfg: &JkoConfig,
    particles: &Tensor<T>,
    initial: BlockFlow<T>,
    resume: Option<BlockFlow<T>>,
    hooks: &mut impl JkoHooks<T>,
) -> Result<JkoOutcome<T>> {
    cfg.validate()?;
    check_particles(cfg, particles)?;
    let Some(r) = cfg.reparametrize else { invalid_arg!("refinement needs a reparametrization configuration") };
    if initial.dim != cfg.dim || initial.is_empty() {
        shape_err!(
            "the initial flow ({} blocks in {} dimensions) does not fit the configuration",
            initial.len(),
            initial.dim
        );
    }
    let mut pass = Pass::new(cfg, Phase::Initial, particles)?;
    pass.diagnose = false;
    for (i, block) in initial.blocks.into_iter().enumerate() {
        check_spec(cfg, &block.spec, i + 1, cfg.schedule.step(i + 1), "initial flow")?;
        pass.finish_block(block, 0, Instant::now())?;
    }
    let Some(stop) = pass.stop_reason(cfg) else {
        invalid_arg!(
            "the initial pass is not finished ({} of {} blocks, the last moved {:.3e}): resume it with train_jko",
            pass.flow.len(),
            cfg.max_blocks,
            pass.movements.last().copied().unwrap_or(f64::NAN)
        );
    };
    let retiming = equal_movement_steps(&pass.steps, &pass.movements)?;
    let mut out = refine(cfg, r, particles, pass.flow, retiming, resume, hooks)?;
    out.stop = stop;
    Ok(out)
}

fn refine<T: Float>(
    cfg: &JkoConfig,
    r: ReparamConfig,
    particles: &Tensor<T>,
    initial: BlockFlow<T>,
    retiming: Retiming,
    resume: Option<BlockFlow<T>>,
    hooks: &mut impl JkoHooks<T>,
) -> Result<JkoOutcome<T>> {
    let mut pass = Pass::new(cfg, Phase::Refine, particles)?;
    if let Some(flow) = resume {
        if flow.len() > retiming.new_steps.len() || flow.dim != cfg.dim {
            invalid_arg!(
                "the refined flow to resume has {} blocks in {} dimensions; the re-timed grid has {} blocks in {}",
                flow.len(),
                flow.dim,
                retiming.new_steps.len(),
                cfg.dim
            );
        }
        for (i, block) in flow.blocks.into_iter().enumerate() {
            check_spec(cfg, &block.spec, i + 1, retiming.new_steps[i], "refined flow to resume")?;
            pass.finish_block(block, 0, Instant::now())?;
        }
    }
    let first = pass.flow.len() + 1;
    let mut reports = Vec::new();
    if first <= retiming.new_steps.len() {
        hooks.on_phase(Phase::Refine, first, retiming.new_steps.len());
    }
    for k in first..=retiming.new_steps.len() {
        let init = Some(initial.blocks[retiming.warm_from[k - 1]].store.clone());
        let report =
            pass.train_next(cfg, retiming.new_steps[k - 1], init, r.iterations, r.lr.unwrap_or(cfg.lr), hooks)?;
        hooks.on_block(&pass.flow, &report)?;
        reports.push(report);
    }
    Ok(JkoOutcome {
        flow: pass.flow,
        reports,
        stop: StopReason::MaxBlocks,
        retiming: Some(retiming),
        initial_flow: Some(initial),
    })
}

fn check_particles<T: Float>(cfg: &JkoConfig, particles: &Tensor<T>) -> Result<()> {
    if particles.rank() != 2 || particles.dims()[1] != cfg.dim || particles.dims()[0] == 0 {
        shape_err!("JKO training needs a non-empty [n, {}] set of particles, got {}", cfg.dim, particles.shape());
    }
    if !particles.all_finite()? {
        return Err(Error::NonFinite("the training particles contain non-finite values".into()));
    }
    Ok(())
}

/// Checks that a saved block is block `k` of this configuration with step `h`.
fn check_spec(cfg: &JkoConfig, spec: &BlockSpec, k: usize, h: f64, what: &str) -> Result<()> {
    let want = cfg.block_spec(h)?;
    let mut problems = Vec::new();
    if spec.dim != want.dim {
        problems.push(format!("dimension {} (configured {})", spec.dim, want.dim));
    }
    if spec.field != want.field || spec.hidden != want.hidden || spec.act != want.act {
        problems.push(format!(
            "network {:?} {:?} {:?} (configured {:?} {:?} {:?})",
            spec.field, spec.hidden, spec.act, want.field, want.hidden, want.act
        ));
    }
    if spec.solver.name != want.solver.name || spec.divergence != want.divergence {
        problems.push(format!(
            "solver {} with {:?} (configured {} with {:?})",
            spec.solver.name, spec.divergence, want.solver.name, want.divergence
        ));
    }
    let grid_fits = spec.grid.len() == want.grid.len()
        && spec.grid.iter().zip(&want.grid).all(|(a, b)| (a - b).abs() <= 1e-9 * b.abs().max(1e-9));
    if !grid_fits {
        problems.push(format!("time grid {:?} (configured {} steps over [0, {h}])", spec.grid, cfg.steps_per_block));
    }
    if !problems.is_empty() {
        invalid_arg!("block {k} of the {what} does not match the configuration: {}", problems.join("; "));
    }
    Ok(())
}

/// The random streams of one block of one pass `(initialization, training,
/// diagnostics)`, from a generator seeded by a SplitMix64 hash of
/// `(seed, pass, block)`: a block's randomness does not depend on how many
/// blocks were trained before it in this process.
fn block_streams(seed: u64, phase: Phase, block: usize) -> (Rng, Rng, Rng) {
    fn mix(mut z: u64) -> u64 {
        z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    let tag = match phase {
        Phase::Initial => 1u64,
        Phase::Refine => 2u64,
    };
    let mut rng = Rng::seed(mix(mix(seed) ^ mix((tag << 56) ^ block as u64)));
    let init = rng.split();
    let diag = rng.split();
    (init, rng, diag)
}

/// The state of one pass: the blocks so far and the particles they pushed.
struct Pass<T: Float> {
    phase: Phase,
    seed: u64,
    flow: BlockFlow<T>,
    /// The training particles pushed through every block so far.
    current: Tensor<T>,
    /// The particles and divergence sum before the last block, to discard it.
    before_last: Option<(Tensor<T>, f64)>,
    /// Rows of the diagnostic subset.
    diag_rows: Vec<usize>,
    /// `E ½|x_0|²` over all particles.
    x0_half_sq: f64,
    /// `Σ_m E ℓ_m` over the diagnostic subset.
    cum_divergence: f64,
    steps: Vec<f64>,
    movements: Vec<f64>,
    /// Whether finished blocks are evaluated (loss terms, divergence integral).
    diagnose: bool,
}

impl<T: Float> Pass<T> {
    fn new(cfg: &JkoConfig, phase: Phase, particles: &Tensor<T>) -> Result<Self> {
        let n = particles.dims()[0];
        let m = cfg.diagnostic_particles.min(n);
        Ok(Pass {
            phase,
            seed: cfg.seed,
            flow: BlockFlow::new(cfg.dim),
            current: particles.clone(),
            before_last: None,
            diag_rows: (0..m).map(|i| i * n / m).collect(),
            x0_half_sq: half_mean_square(particles)?,
            cum_divergence: 0.0,
            steps: Vec::new(),
            movements: Vec::new(),
            diagnose: true,
        })
    }

    fn stop_reason(&self, cfg: &JkoConfig) -> Option<StopReason> {
        if let (Some(eps), Some(&w)) = (cfg.stop_w2, self.movements.last())
            && w < eps
        {
            return Some(StopReason::Converged { block: self.movements.len(), w2_moved: w });
        }
        (self.flow.len() >= cfg.max_blocks).then_some(StopReason::MaxBlocks)
    }

    /// The speed guard's verdict on the last block.
    fn speed_grew(&self, cfg: &JkoConfig) -> Option<StopReason> {
        let growth = cfg.max_speed_growth?;
        let n = self.movements.len();
        if n < 2 {
            return None;
        }
        let speed = |i: usize| self.movements[i] / self.steps[i];
        let (previous, last) = (speed(n - 2), speed(n - 1));
        (last > growth * previous).then_some(StopReason::SpeedGrew { block: n, speed: last, previous })
    }

    /// Undoes the last [`Pass::finish_block`].
    fn discard_last(&mut self) -> Result<()> {
        let Some((particles, cum_divergence)) = self.before_last.take() else {
            invalid_arg!("no block to discard");
        };
        self.flow.blocks.pop();
        self.steps.pop();
        self.movements.pop();
        self.current = particles;
        self.cum_divergence = cum_divergence;
        Ok(())
    }

    /// Builds, trains and finishes the next block with step `h`, starting
    /// from `init`'s parameters if given.
    fn train_next(
        &mut self,
        cfg: &JkoConfig,
        h: f64,
        init: Option<crate::nn::ParamStore<T>>,
        iterations: usize,
        lr: f64,
        hooks: &mut impl JkoHooks<T>,
    ) -> Result<BlockReport> {
        let start = Instant::now();
        let k = self.flow.len() + 1;
        let spec = cfg.block_spec(h)?;
        let (mut init_rng, mut rng, _) = block_streams(self.seed, self.phase, k);
        let mut block = match init {
            Some(store) => Block::with_params(spec, store)?,
            None => Block::new(spec, &mut init_rng)?,
        };
        let training = step::BlockTraining {
            phase: self.phase,
            block: k,
            h,
            iterations,
            lr,
            clip_grad: cfg.clip_grad,
            batch: cfg.batch,
            divergence: cfg.divergence,
            backprop: cfg.backprop,
        };
        step::train_block(&mut block, &self.current, &training, &mut rng, hooks)?;
        self.finish_block(block, iterations, start)
    }

    /// Pushes the particles through a trained block, evaluates it, and
    /// appends it to the flow.
    fn finish_block(&mut self, block: Block<T>, iterations: usize, start: Instant) -> Result<BlockReport> {
        let k = self.flow.len() + 1;
        let h = block.spec.t_end();
        // Under data parallelism each rank pushes its share of the chunks and
        // every rank gets all the pushed particles back (see `crate::dist`).
        let group = crate::dist::training_group();
        let pushed = crate::dist::push_in_shards(group, &self.current, PUSH_CHUNK, |x| push_particles(&block, x))?;
        if !pushed.all_finite()? {
            return Err(Error::NonFinite(format!(
                "block {k} ({} pass) maps some training particles to non-finite points",
                self.phase.name()
            )));
        }
        let w2_moved = rms_distance(&pushed, &self.current)?;
        let terms = if self.diagnose {
            let (_, _, mut diag_rng) = block_streams(self.seed, self.phase, k);
            let subset = self.current.gather_rows(&self.diag_rows)?;
            step::evaluate_terms(&block, &subset, h, &mut diag_rng)?
        } else {
            LossTerms { potential: f64::NAN, divergence: f64::NAN, transport: f64::NAN, total: f64::NAN }
        };
        self.before_last = Some((self.current.clone(), self.cum_divergence));
        self.cum_divergence += terms.divergence;
        let half_sq = half_mean_square(&pushed)?;
        let d = self.flow.dim as f64;
        self.steps.push(h);
        self.movements.push(w2_moved);
        self.flow.push(block)?;
        self.current = pushed;
        Ok(BlockReport {
            phase: self.phase,
            block: k,
            h,
            time: self.steps.iter().sum(),
            iterations,
            terms,
            w2_moved,
            kl_change: half_sq - self.x0_half_sq - self.cum_divergence,
            kl_up_to_entropy: half_sq + 0.5 * d * (2.0 * std::f64::consts::PI).ln() - self.cum_divergence,
            grad_norm: w2_moved / h,
            wall_s: start.elapsed().as_secs_f64(),
        })
    }
}
