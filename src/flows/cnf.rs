//! The CNF trainer: maximum likelihood (FFJORD-style) with Adam on
//! minibatches drawn from a sampler, seeded.

use super::block::{Block, BlockFlow, BlockSpec};
use super::field::FieldKind;
use crate::backend::Device;
use crate::density::{Backprop, Divergence};
use crate::dist::{mean_over_ranks, stacked_rows};
use crate::nn::Activation;
use crate::ode::Tableau;
use crate::optim::{Adam, Optimizer, clip_if, validate_max_norm};
use crate::tensor::random::Rng;
use crate::tensor::{Float, Tensor};
use crate::{Error, Result, invalid_arg};

/// Everything that defines a CNF training run.
#[derive(Clone, Debug)]
pub struct CnfConfig {
    pub dim: usize,
    pub field: FieldKind,
    pub hidden: Vec<usize>,
    pub act: Activation,
    /// Integration horizon `T`.
    pub t_end: f64,
    /// Solver step size during training (the last step may be shorter).
    pub step_size: f64,
    pub solver: &'static Tableau,
    pub divergence: Divergence,
    pub backprop: Backprop,
    pub batch: usize,
    pub lr: f64,
    /// Clip the global gradient norm at this before each Adam step.
    pub clip_grad: Option<f64>,
    pub iterations: usize,
    pub seed: u64,
    /// Where training runs; the returned flow is on the host either way.
    pub device: Device,
}

impl CnfConfig {
    /// The reference setting of the tutorial and of FFJORD's toy runs: MLP
    /// `d+1 → 64 → 64 → 64 → d` tanh, RK4 (3/8 rule) with step 0.1 on
    /// `[0, 1]`, exact trace, batch 1024, Adam 1e-3, 1000 iterations.
    pub fn reference(dim: usize) -> Self {
        CnfConfig {
            dim,
            field: FieldKind::TimeMlp,
            hidden: vec![64, 64, 64],
            act: Activation::Tanh,
            t_end: 1.0,
            step_size: 0.1,
            solver: &crate::ode::tableau::RK4_38,
            divergence: Divergence::Exact,
            backprop: Backprop::Direct,
            batch: 1024,
            lr: 1e-3,
            clip_grad: None,
            iterations: 1000,
            seed: 0,
            device: Device::Cpu,
        }
    }

    /// The one block this configuration trains.
    pub fn block_spec(&self) -> Result<BlockSpec> {
        Ok(BlockSpec {
            dim: self.dim,
            field: self.field,
            hidden: self.hidden.clone(),
            act: self.act,
            grid: crate::ode::fixed::step_size_grid(0.0, self.t_end, self.step_size)?,
            solver: self.solver,
            divergence: self.divergence,
        })
    }

    fn validate(&self) -> Result<()> {
        if self.dim == 0 || self.batch == 0 {
            invalid_arg!("dimension and batch size must be positive");
        }
        if !(self.t_end > 0.0 && self.step_size > 0.0 && self.lr > 0.0) {
            invalid_arg!("T, the step size and the learning rate must be positive");
        }
        validate_max_norm(self.clip_grad)
    }
}

/// What one training iteration reports.
#[derive(Clone, Copy, Debug)]
pub struct IterationReport {
    pub iteration: usize,
    /// Minibatch NLL in nats.
    pub loss: f64,
}

/// Trains a CNF by maximum likelihood on minibatches from `sample(n, rng)`.
/// `on_iteration` sees every iteration's report and the block as it stands
/// after that iteration's update (to checkpoint it, say); an error it returns
/// stops training. A non-finite loss stops training with an error naming the
/// iteration, before the update, so the block passed last is the last good one.
pub fn train_cnf<T: Float>(
    cfg: &CnfConfig,
    mut sample: impl FnMut(usize, &mut Rng) -> Result<Tensor<T>>,
    mut on_iteration: impl FnMut(&IterationReport, &Block<T>) -> Result<()>,
) -> Result<BlockFlow<T>> {
    cfg.validate()?;
    let mut rng = Rng::seed(cfg.seed);
    let mut init_rng = rng.split();
    let mut block = Block::new(cfg.block_spec()?, &mut init_rng)?.to_device(cfg.device)?;
    let mut opt = Adam::new(cfg.lr);
    // Every rank draws the whole batch and takes its rows (see `crate::dist`).
    let group = crate::dist::training_group();
    let (lo, hi) = crate::dist::rank_rows(group, cfg.batch)?;
    for iteration in 0..cfg.iterations {
        let x = sample(cfg.batch, &mut rng)?;
        let dirs = cfg.divergence.directions_for(cfg.batch, cfg.dim, cfg.device, &mut rng)?;
        let (x, dirs) = (x.slice(0, lo, hi - lo)?.to_device(cfg.device)?, stacked_rows(&dirs, cfg.batch, lo, hi)?);
        let r = cfg.backprop.nll_and_grads(&block.cnf, &block.store, &x, &dirs)?;
        let mut r = mean_over_ranks(group, hi - lo, cfg.batch, r.loss, r.param_grads, &[])?;
        if !r.loss.is_finite() {
            return Err(Error::NonFinite(format!("CNF training loss became {} at iteration {iteration}", r.loss)));
        }
        clip_if(&mut r.grads, cfg.clip_grad)?;
        opt.step(&mut block.store, &r.grads)?;
        crate::backend::profile::end_iteration();
        on_iteration(&IterationReport { iteration, loss: r.loss }, &block)?;
    }
    let mut flow = BlockFlow::new(cfg.dim);
    flow.push(block.to_device(Device::Cpu)?)?;
    Ok(flow)
}
