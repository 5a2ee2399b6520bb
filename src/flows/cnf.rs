//! The CNF trainer: maximum likelihood (FFJORD-style) with Adam on
//! minibatches drawn from a sampler, seeded.

use super::field::{Field, FieldKind};
use crate::density::{Backprop, Cnf, Divergence};
use crate::nn::{Activation, ParamStore};
use crate::ode::Tableau;
use crate::optim::{Adam, Optimizer};
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
    pub iterations: usize,
    pub seed: u64,
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
            iterations: 1000,
            seed: 0,
        }
    }

    fn validate(&self) -> Result<()> {
        if self.dim == 0 || self.batch == 0 {
            invalid_arg!("dimension and batch size must be positive");
        }
        if !(self.t_end > 0.0 && self.step_size > 0.0 && self.lr > 0.0) {
            invalid_arg!("T, the step size and the learning rate must be positive");
        }
        Ok(())
    }
}

/// A trained (or training) CNF: its parameters and flow.
pub struct CnfModel<T: Float> {
    pub store: ParamStore<T>,
    pub cnf: Cnf<Field>,
}

/// What one training iteration reports.
#[derive(Clone, Copy, Debug)]
pub struct IterationReport {
    pub iteration: usize,
    /// Minibatch NLL in nats.
    pub loss: f64,
}

/// Trains a CNF by maximum likelihood on minibatches from `sample(n, rng)`.
/// `on_iteration` sees every iteration's report. A non-finite loss stops
/// training with an error naming the iteration.
pub fn train_cnf<T: Float>(
    cfg: &CnfConfig,
    mut sample: impl FnMut(usize, &mut Rng) -> Result<Tensor<T>>,
    mut on_iteration: impl FnMut(&IterationReport),
) -> Result<CnfModel<T>> {
    cfg.validate()?;
    let mut rng = Rng::seed(cfg.seed);
    let mut init_rng = rng.split();
    let mut store = ParamStore::new();
    let field = Field::new(cfg.field, &mut store, cfg.dim, &cfg.hidden, cfg.act, &mut init_rng)?;
    let cnf = Cnf::with_step_size(field, cfg.t_end, cfg.step_size, cfg.solver, cfg.divergence)?;
    let mut opt = Adam::new(cfg.lr);
    for iteration in 0..cfg.iterations {
        let x = sample(cfg.batch, &mut rng)?;
        let dirs = cfg.divergence.directions_for(cfg.batch, cfg.dim, &mut rng)?;
        let r = cfg.backprop.nll_and_grads(&cnf, &store, &x, &dirs)?;
        if !r.loss.is_finite() {
            return Err(Error::NonFinite(format!("CNF training loss became {} at iteration {iteration}", r.loss)));
        }
        opt.step(&mut store, &r.param_grads)?;
        on_iteration(&IterationReport { iteration, loss: r.loss });
    }
    Ok(CnfModel { store, cnf })
}

impl<T: Float> CnfModel<T> {
    /// Mean negative log-likelihood (nats) of `x`, evaluated with solver step
    /// `step_size` (the grid is rebuilt for the evaluation).
    pub fn nll(&mut self, x: &Tensor<T>, step_size: f64, rng: &mut Rng) -> Result<f64> {
        let train_grid = self.cnf.grid.clone();
        self.cnf.regrid(crate::ode::fixed::step_size_grid(0.0, self.cnf.t_end(), step_size)?)?;
        let lp = self.cnf.log_prob(&self.store, x, 2048, rng);
        self.cnf.grid = train_grid;
        let lp = lp?;
        Ok(-lp.iter().sum::<f64>() / lp.len() as f64)
    }
}
