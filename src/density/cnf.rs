//! Continuous normalizing flows: the flow map of `dx/dt = v(x, t)` on
//! `[0, T]` from data to noise, and log-likelihoods by the instantaneous
//! change of variables (tutorial eq. 13):
//!
//! `log p(x) = log q(x(T)) + ∫₀ᵀ ∇·v(x(t), t) dt`, with `q = N(0, I)`.
//!
//! The state integrated is `(x, ℓ)` with `dℓ/dt = ∇·v`, `ℓ(0) = 0`.

use crate::autodiff::{Tape, Var};
use crate::density::Divergence;
use crate::nn::{ParamStore, Params, VelocityField};
use crate::ode::{Tableau, fixed};
use crate::tensor::random::Rng;
use crate::tensor::{Float, Tensor};
use crate::{Error, Result, invalid_arg, shape_err};

/// `log N(z; 0, I)` per row of `z` (`[batch, d]` → `[batch, 1]`).
pub fn standard_normal_log_prob<'t, T: Float>(z: Var<'t, T>) -> Result<Var<'t, T>> {
    let d = z.shape().dim(1) as f64;
    z.square()?.sum_axis(1, true)?.mul_scalar(-0.5)?.add_scalar(-0.5 * d * (2.0 * std::f64::consts::PI).ln())
}

/// A CNF: a velocity field with the time grid, solver and divergence used to
/// integrate it.
pub struct Cnf<F> {
    pub field: F,
    /// Time points from 0 to `T` (strictly increasing); one solver step between neighbours.
    pub grid: Vec<f64>,
    pub solver: &'static Tableau,
    pub divergence: Divergence,
}

impl<F> Cnf<F> {
    /// `steps` equal steps over `[0, t_end]`.
    pub fn new(field: F, t_end: f64, steps: usize, solver: &'static Tableau, divergence: Divergence) -> Result<Self> {
        Ok(Cnf { field, grid: fixed::uniform_grid(0.0, t_end, steps)?, solver, divergence })
    }
    /// Steps of size `h` over `[0, t_end]`, the last one shorter if needed
    /// (torchdiffeq's `step_size` option).
    pub fn with_step_size(
        field: F,
        t_end: f64,
        h: f64,
        solver: &'static Tableau,
        divergence: Divergence,
    ) -> Result<Self> {
        Ok(Cnf { field, grid: fixed::step_size_grid(0.0, t_end, h)?, solver, divergence })
    }
    pub fn t_end(&self) -> f64 {
        *self.grid.last().expect("a grid has points")
    }
    pub fn steps(&self) -> usize {
        self.grid.len() - 1
    }
    /// The same flow on another grid over the same interval (e.g. finer for evaluation).
    pub fn regrid(&mut self, grid: Vec<f64>) -> Result<()> {
        if grid.len() < 2 || grid[0] != 0.0 || (grid[grid.len() - 1] - self.t_end()).abs() > 1e-12 {
            invalid_arg!("a CNF grid must run from 0 to T = {}", self.t_end());
        }
        self.grid = grid;
        Ok(())
    }
}

impl<F> Cnf<F> {
    /// The augmented right-hand side `(x, ℓ) ↦ (v, ∇·v)` on a tape.
    pub fn dynamics<'t, T: Float>(
        &self,
        p: &Params<'t, T>,
        t: f64,
        state: &[Var<'t, T>],
        directions: Var<'t, T>,
    ) -> Result<Vec<Var<'t, T>>>
    where
        F: VelocityField<T>,
    {
        let (v, div) = self.divergence.velocity_and_divergence(&self.field, p, state[0], t, directions)?;
        Ok(vec![v, div])
    }

    /// Integrates `(x, 0)` over the grid on the tape (every step recorded, so a
    /// reverse sweep differentiates the discretization exactly); returns
    /// `(z, ℓ(T))`.
    pub fn forward_on_tape<'t, T: Float>(
        &self,
        p: &Params<'t, T>,
        x: Var<'t, T>,
        directions: Var<'t, T>,
    ) -> Result<(Var<'t, T>, Var<'t, T>)>
    where
        F: VelocityField<T>,
    {
        let batch = x.shape().dim(0);
        let l0 = x.tape().constant(Tensor::zeros_on([batch, 1], x.value().device())?);
        let (y, _) = fixed::integrate_on_grid(
            |t, s: &Vec<Var<'t, T>>| self.dynamics(p, t, s, directions),
            vec![x, l0],
            &self.grid,
            self.solver,
        )?;
        Ok((y[0], y[1]))
    }

    /// `log p(x)` per sample (`[batch, 1]`) on the tape.
    pub fn log_prob_on_tape<'t, T: Float>(
        &self,
        p: &Params<'t, T>,
        x: Var<'t, T>,
        directions: Var<'t, T>,
    ) -> Result<Var<'t, T>>
    where
        F: VelocityField<T>,
    {
        let (z, l) = self.forward_on_tape(p, x, directions)?;
        standard_normal_log_prob(z)?.add(&l)
    }

    /// `log p(x)` for each row of `x`, without gradients, in chunks of
    /// `chunk` rows (the divergence directions are drawn from `rng`).
    pub fn log_prob<T: Float>(
        &self,
        store: &ParamStore<T>,
        x: &Tensor<T>,
        chunk: usize,
        rng: &mut Rng,
    ) -> Result<Vec<f64>>
    where
        F: VelocityField<T>,
    {
        self.check_points(x)?;
        let n = x.dims()[0];
        let mut out = Vec::with_capacity(n);
        let mut start = 0;
        while start < n {
            let len = chunk.max(1).min(n - start);
            let xb = x.slice(0, start, len)?;
            let tape = Tape::new();
            let p = store.attach_frozen(&tape);
            let dirs = tape.constant(self.divergence.directions_for(len, self.field_dim(), x.device(), rng)?);
            let lp = self.log_prob_on_tape(&p, tape.constant(xb), dirs)?;
            out.extend(lp.value().to_f64_vec()?);
            start += len;
        }
        if let Some(i) = out.iter().position(|v| !v.is_finite()) {
            return Err(Error::NonFinite(format!("log-likelihood of point {i} is not finite")));
        }
        Ok(out)
    }

    /// The flow map `x ↦ z = x(T)` (data to noise), untracked.
    pub fn transport<T: Float>(&self, store: &ParamStore<T>, x: &Tensor<T>) -> Result<Tensor<T>>
    where
        F: VelocityField<T>,
    {
        self.check_points(x)?;
        let (z, _) = fixed::integrate_on_grid(
            |t, s: &Tensor<T>| self.field.eval(store, s, t),
            x.clone(),
            &self.grid,
            self.solver,
        )?;
        Ok(z)
    }

    /// The inverse map `z ↦ x` by integrating from `T` back to 0, untracked.
    pub fn invert<T: Float>(&self, store: &ParamStore<T>, z: &Tensor<T>) -> Result<Tensor<T>>
    where
        F: VelocityField<T>,
    {
        self.check_points(z)?;
        let reverse: Vec<f64> = self.grid.iter().rev().copied().collect();
        let (x, _) = fixed::integrate_on_grid(
            |t, s: &Tensor<T>| self.field.eval(store, s, t),
            z.clone(),
            &reverse,
            self.solver,
        )?;
        Ok(x)
    }

    /// `n` samples: `z ~ N(0, I)` pulled back through the flow.
    pub fn sample<T: Float>(&self, store: &ParamStore<T>, n: usize, rng: &mut Rng) -> Result<Tensor<T>>
    where
        F: VelocityField<T>,
    {
        let z = Tensor::randn([n, self.field_dim()], rng)?.to_device(store.device())?;
        self.invert(store, &z)
    }

    fn field_dim<T: Float>(&self) -> usize
    where
        F: VelocityField<T>,
    {
        self.field.dim()
    }

    fn check_points<T: Float>(&self, x: &Tensor<T>) -> Result<()>
    where
        F: VelocityField<T>,
    {
        let d = self.field.dim();
        if x.rank() != 2 || x.dims()[1] != d {
            shape_err!("this flow lives in {d} dimensions; points of shape {} do not", x.shape());
        }
        Ok(())
    }
}
