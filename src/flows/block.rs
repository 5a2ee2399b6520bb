//! A flow as a sequence of blocks: every trainer's model.
//!
//! Block `n` is a neural ODE `dx/dt = v_n(x, t)` on its own interval
//! `[0, T_n]` with its own parameters. The flow map from data to noise is the
//! composition of the blocks' maps in order; its log-density is the sum of
//! the blocks' log-determinants plus `log N(z; 0, I)` at the end:
//!
//! `log p(x) = log q(F_N ∘ … ∘ F_1(x)) + Σ_n ∫ ∇·v_n dt`.
//!
//! A CNF or a globally trained flow-matching model is a flow of one block;
//! JKO-iFlow and Local Flow Matching train one block at a time.

use super::field::{Field, FieldKind};
use crate::autodiff::Tape;
use crate::backend::Device;
use crate::density::cnf::standard_normal_log_prob;
use crate::density::{Cnf, Divergence};
use crate::nn::{Activation, ParamStore};
use crate::ode::{Tableau, fixed};
use crate::tensor::random::Rng;
use crate::tensor::{Float, Tensor};
use crate::{Error, Result, invalid_arg, shape_err};

/// Everything that defines a block's network and its integration, so that a
/// block can be rebuilt from a checkpoint's metadata.
#[derive(Clone, Debug, PartialEq)]
pub struct BlockSpec {
    pub dim: usize,
    pub field: FieldKind,
    pub hidden: Vec<usize>,
    pub act: Activation,
    /// Time points from 0 to the block's end time `T_n`, one solver step between neighbours.
    pub grid: Vec<f64>,
    pub solver: &'static Tableau,
    pub divergence: Divergence,
}

impl BlockSpec {
    pub fn t_end(&self) -> f64 {
        *self.grid.last().expect("a grid has points")
    }

    fn validate(&self) -> Result<()> {
        if self.dim == 0 {
            invalid_arg!("a block needs a positive dimension");
        }
        if self.grid.len() < 2
            || self.grid[0] != 0.0
            || self.grid.windows(2).any(|w| w[1].partial_cmp(&w[0]) != Some(std::cmp::Ordering::Greater))
        {
            invalid_arg!("a block's time grid must start at 0 and increase strictly");
        }
        Ok(())
    }
}

/// One block: its specification, parameters and flow.
pub struct Block<T: Float> {
    pub spec: BlockSpec,
    pub store: ParamStore<T>,
    pub cnf: Cnf<Field>,
}

impl<T: Float> Block<T> {
    /// A freshly initialized block.
    pub fn new(spec: BlockSpec, rng: &mut Rng) -> Result<Self> {
        spec.validate()?;
        let mut store = ParamStore::new();
        let field = Field::new(spec.field, &mut store, spec.dim, &spec.hidden, spec.act, rng)?;
        let cnf = Cnf { field, grid: spec.grid.clone(), solver: spec.solver, divergence: spec.divergence };
        Ok(Block { spec, store, cnf })
    }

    /// A block with given parameters, which must match the specification's
    /// network in names and shapes (say which do not).
    /// The same block with its parameters on `device`.
    pub fn to_device(self, device: Device) -> Result<Self> {
        if self.store.device() == device {
            return Ok(self);
        }
        Ok(Block { store: self.store.to_device(device)?, ..self })
    }

    pub fn with_params(spec: BlockSpec, store: ParamStore<T>) -> Result<Self> {
        let mut block = Self::new(spec, &mut Rng::seed(0))?;
        let expected = &block.store;
        let mut problems = Vec::new();
        for name in expected.names() {
            match store.id(name) {
                None => problems.push(format!("missing parameter '{name}'")),
                Some(id) => {
                    let (want, got) = (expected.get(expected.id(name).expect("own name")).dims(), store.get(id).dims());
                    if want != got {
                        problems.push(format!("parameter '{name}' has shape {got:?}, the model needs {want:?}"));
                    }
                }
            }
        }
        for name in store.names() {
            if expected.id(name).is_none() {
                problems.push(format!("unexpected parameter '{name}'"));
            }
        }
        if !problems.is_empty() {
            invalid_arg!("parameters do not fit the block: {}", problems.join("; "));
        }
        let mut ordered = ParamStore::new();
        for name in expected.names() {
            ordered.add(name.clone(), store.get(store.id(name).expect("checked")).clone())?;
        }
        block.store = ordered;
        Ok(block)
    }

    /// The block's flow with another time grid over the same interval (for
    /// evaluation with a finer solver step).
    fn cnf_with_step(&self, step: Option<f64>) -> Result<Cnf<Field>> {
        let grid = match step {
            Some(h) => fixed::step_size_grid(0.0, self.spec.t_end(), h)?,
            None => self.spec.grid.clone(),
        };
        Ok(Cnf { field: self.cnf.field.clone(), grid, solver: self.cnf.solver, divergence: self.cnf.divergence })
    }

    /// Integrates `dx/dt = v(x, t)` from `t0` to `t1` with adaptive Dopri5, untracked.
    fn integrate_adaptive(&self, x: &Tensor<T>, t0: f64, t1: f64, (rtol, atol): (f64, f64)) -> Result<Tensor<T>> {
        let (y, _) = crate::ode::integrate_dopri5(
            |t, s: &Vec<Tensor<T>>| Ok(vec![crate::nn::VelocityField::eval(&self.cnf.field, &self.store, &s[0], t)?]),
            vec![x.clone()],
            t0,
            t1,
            &crate::ode::AdaptiveOptions::with_tol(rtol, atol),
        )?;
        Ok(y.into_iter().next().expect("one part in, one part out"))
    }

    /// The block's map `x(0) ↦ x(T_n)`, or its inverse with `reverse` (on a
    /// fixed grid, the discrete map's exact inverse where the block was
    /// trained on that map's Jacobian; see [`Cnf::invert_map`]).
    fn map(&self, x: &Tensor<T>, reverse: bool, opts: EvalOptions) -> Result<Tensor<T>> {
        let t_end = self.spec.t_end();
        match (opts.adaptive, reverse) {
            (Some(tol), false) => self.integrate_adaptive(x, 0.0, t_end, tol),
            (Some(tol), true) => self.integrate_adaptive(x, t_end, 0.0, tol),
            (None, false) => self.cnf_with_step(opts.step)?.transport(&self.store, x),
            // A block whose density is its discrete map's is inverted exactly.
            (None, true) if self.spec.divergence.carries_jacobian() => {
                self.cnf_with_step(opts.step)?.invert_map(&self.store, x)
            }
            (None, true) => self.cnf_with_step(opts.step)?.invert(&self.store, x),
        }
    }
}

/// A flow of blocks applied in order from data to noise.
pub struct BlockFlow<T: Float> {
    pub dim: usize,
    pub blocks: Vec<Block<T>>,
}

/// How to integrate a flow when evaluating it (not training it).
#[derive(Clone, Copy, Debug, Default)]
pub struct EvalOptions {
    /// Solver step size; `None` keeps each block's training grid.
    pub step: Option<f64>,
    /// Override of the divergence (e.g. exact at evaluation, Hutchinson in training).
    pub divergence: Option<Divergence>,
    /// `Some((rtol, atol))`: integrate with adaptive Dormand–Prince 5(4) at
    /// these tolerances instead of the fixed grid, for [`BlockFlow::transport`],
    /// [`BlockFlow::invert`], [`BlockFlow::sample`] and [`BlockFlow::trajectories`]
    /// (which then integrates adaptively between the grid points it reports).
    /// [`BlockFlow::log_prob`] ignores it and stays on the fixed grid: its
    /// divergence is recorded on a tape, which the adaptive solver does not use.
    pub adaptive: Option<(f64, f64)>,
}

impl EvalOptions {
    /// The blocks' grids refined to solver step `h`.
    pub fn with_step(h: f64) -> Self {
        EvalOptions { step: Some(h), ..Self::default() }
    }
    /// Adaptive Dopri5 with tolerances `rtol`, `atol` where it applies (see [`EvalOptions::adaptive`]).
    pub fn dopri5(rtol: f64, atol: f64) -> Self {
        EvalOptions { adaptive: Some((rtol, atol)), ..Self::default() }
    }
}

impl<T: Float> BlockFlow<T> {
    pub fn new(dim: usize) -> Self {
        BlockFlow { dim, blocks: Vec::new() }
    }

    pub fn len(&self) -> usize {
        self.blocks.len()
    }
    pub fn is_empty(&self) -> bool {
        self.blocks.is_empty()
    }

    /// Appends a block; its dimension must be the flow's.
    pub fn push(&mut self, block: Block<T>) -> Result<()> {
        if block.spec.dim != self.dim {
            shape_err!("a {}-dimensional block cannot join a {}-dimensional flow", block.spec.dim, self.dim);
        }
        self.blocks.push(block);
        Ok(())
    }

    fn check_points(&self, x: &Tensor<T>) -> Result<()> {
        if x.rank() != 2 || x.dims()[1] != self.dim {
            shape_err!("this flow lives in {} dimensions; points of shape {} do not", self.dim, x.shape());
        }
        Ok(())
    }

    /// Pushes `x` through blocks `range` (data → noise direction), untracked.
    pub fn transport_blocks(
        &self,
        x: &Tensor<T>,
        range: std::ops::Range<usize>,
        opts: EvalOptions,
    ) -> Result<Tensor<T>> {
        self.check_points(x)?;
        let mut y = x.clone();
        for block in &self.blocks[range] {
            y = block.map(&y, false, opts)?;
        }
        Ok(y)
    }

    /// The whole flow map `x ↦ z`.
    pub fn transport(&self, x: &Tensor<T>, opts: EvalOptions) -> Result<Tensor<T>> {
        self.transport_blocks(x, 0..self.len(), opts)
    }

    /// The inverse map `z ↦ x`: every block integrated backward in time, last block first.
    pub fn invert(&self, z: &Tensor<T>, opts: EvalOptions) -> Result<Tensor<T>> {
        self.check_points(z)?;
        let mut y = z.clone();
        for block in self.blocks.iter().rev() {
            y = block.map(&y, true, opts)?;
        }
        Ok(y)
    }

    /// `n` samples: `z ~ N(0, I)` pulled back through every block.
    pub fn sample(&self, n: usize, rng: &mut Rng, opts: EvalOptions) -> Result<Tensor<T>> {
        let device = self.blocks.first().map_or(Device::Cpu, |b| b.store.device());
        let z = Tensor::randn([n, self.dim], rng)?.to_device(device)?;
        self.invert(&z, opts)
    }

    /// `log p(x)` per row, through all blocks, in chunks of `chunk` rows.
    /// Hutchinson directions are drawn from `rng` per block and chunk. Always
    /// on each block's fixed grid (refined by `opts.step`); `opts.adaptive` is ignored.
    pub fn log_prob(&self, x: &Tensor<T>, chunk: usize, rng: &mut Rng, opts: EvalOptions) -> Result<Vec<f64>> {
        self.check_points(x)?;
        let cnfs: Vec<Cnf<Field>> = self
            .blocks
            .iter()
            .map(|b| {
                let mut c = b.cnf_with_step(opts.step)?;
                if let Some(d) = opts.divergence {
                    c.divergence = d;
                }
                Ok(c)
            })
            .collect::<Result<_>>()?;
        let n = x.dims()[0];
        let mut out = Vec::with_capacity(n);
        let mut start = 0;
        while start < n {
            let len = chunk.max(1).min(n - start);
            let mut y = x.slice(0, start, len)?;
            let mut total = Tensor::zeros_on([len, 1], x.device())?;
            for (block, cnf) in self.blocks.iter().zip(&cnfs) {
                let dirs = cnf.divergence.directions_for(len, self.dim, x.device(), rng)?;
                let (z, l) = cnf.forward(&block.store, &y, &dirs)?;
                total = total.add(&l)?;
                y = z;
            }
            let tape = Tape::new();
            let lp = standard_normal_log_prob(tape.constant(y))?.value().add(&total)?;
            out.extend(lp.to_f64_vec()?);
            start += len;
        }
        if let Some(i) = out.iter().position(|v| !v.is_finite()) {
            return Err(Error::NonFinite(format!("log-likelihood of point {i} is not finite")));
        }
        Ok(out)
    }

    /// Mean negative log-likelihood (nats) of the rows of `x`.
    pub fn nll(&self, x: &Tensor<T>, rng: &mut Rng, opts: EvalOptions) -> Result<f64> {
        let lp = self.log_prob(x, 2048, rng, opts)?;
        Ok(-lp.iter().sum::<f64>() / lp.len() as f64)
    }

    /// The states of `x` at every grid point of every block: `result[n][k]`
    /// is the state at the `k`-th grid point of block `n` (forward, data →
    /// noise). With `reverse`, `x` is taken as noise and pulled back:
    /// `result[0]` is then the last block's trajectory, run backward. With
    /// `opts.adaptive` the states at the grid points come from Dopri5 runs
    /// between neighbouring points.
    pub fn trajectories(&self, x: &Tensor<T>, reverse: bool, opts: EvalOptions) -> Result<Vec<Vec<Tensor<T>>>> {
        self.check_points(x)?;
        let mut y = x.clone();
        let mut out = Vec::with_capacity(self.len());
        let order: Vec<&Block<T>> =
            if reverse { self.blocks.iter().rev().collect() } else { self.blocks.iter().collect() };
        for block in order {
            let cnf = block.cnf_with_step(opts.step)?;
            let grid: Vec<f64> = if reverse { cnf.grid.iter().rev().copied().collect() } else { cnf.grid.clone() };
            let states = match opts.adaptive {
                Some(tol) => {
                    let mut states = Vec::with_capacity(grid.len());
                    states.push(y.clone());
                    for w in grid.windows(2) {
                        let next = block.integrate_adaptive(states.last().expect("non-empty"), w[0], w[1], tol)?;
                        states.push(next);
                    }
                    states
                }
                None => {
                    fixed::trajectory_on_grid(
                        |t, s: &Tensor<T>| crate::nn::VelocityField::eval(&cnf.field, &block.store, s, t),
                        y.clone(),
                        &grid,
                        cnf.solver,
                    )?
                    .0
                    .states
                }
            };
            y = states.last().expect("a trajectory has states").clone();
            out.push(states);
        }
        Ok(out)
    }
}
