//! Continuous normalizing flows: the flow map of `dx/dt = v(x, t)` on
//! `[0, T]` from data to noise, and log-likelihoods by the instantaneous
//! change of variables (tutorial eq. 13):
//!
//! `log p(x) = log q(x(T)) + ∫₀ᵀ ∇·v(x(t), t) dt`, with `q = N(0, I)`.
//!
//! The state integrated is `(x, ℓ)` with `dℓ/dt = ∇·v`, `ℓ(0) = 0`, or
//! `(x, M)` with `dM/dt = (∂v/∂x) M`, `M(0) = I` and `ℓ = log|det M(T)|`
//! ([`Divergence::DiscreteJacobian`]).

use crate::autodiff::{Tape, Var};
use crate::density::Divergence;
use crate::nn::{ParamStore, Params, VelocityField};
use crate::ode::{Tableau, fixed};
use crate::tensor::lu::Lu;
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
    /// The state at `t = 0` for the points `x`: `(x, ℓ = 0)`, or with
    /// [`Divergence::DiscreteJacobian`] `(x, M = I)`, the identity's columns
    /// as stacked tangents (`directions`, as [`Divergence::directions_for`]
    /// makes them).
    pub fn initial_state<T: Float>(&self, x: &Tensor<T>, directions: &Tensor<T>) -> Result<Vec<Tensor<T>>> {
        let second = if self.divergence.carries_jacobian() {
            directions.clone()
        } else {
            Tensor::zeros_on([x.dims()[0], 1], x.device())?
        };
        Ok(vec![x.clone(), second])
    }

    /// The augmented right-hand side on a tape: `(x, ℓ) ↦ (v, ∇·v)`, or with
    /// [`Divergence::DiscreteJacobian`] `(x, M) ↦ (v, (∂v/∂x) M)`.
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
        if self.divergence.carries_jacobian() {
            let (v, jm) = self.field.forward_with_tangents(p, state[0], t, state[1])?;
            return Ok(vec![v, jm]);
        }
        let (v, div) = self.divergence.velocity_and_divergence(&self.field, p, state[0], t, directions)?;
        Ok(vec![v, div])
    }

    /// `(z, ℓ)` from a terminal state on a tape: `ℓ` is the state's second
    /// part, or `log|det M|` where the state carries the Jacobian.
    pub fn terminal_on_tape<'t, T: Float>(&self, state: &[Var<'t, T>]) -> Result<(Var<'t, T>, Var<'t, T>)> {
        let l = if self.divergence.carries_jacobian() {
            state[1].logabsdet_stacked(state[0].shape().dim(0))?
        } else {
            state[1]
        };
        Ok((state[0], l))
    }

    /// [`Cnf::terminal_on_tape`] without gradients.
    pub fn terminal<T: Float>(&self, state: &[Tensor<T>]) -> Result<(Tensor<T>, Tensor<T>)> {
        let tape = Tape::new();
        let vars: Vec<Var<'_, T>> = state.iter().map(|s| tape.constant(s.clone())).collect();
        let (z, l) = self.terminal_on_tape(&vars)?;
        Ok((z.value(), l.value()))
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
        let l0 = if self.divergence.carries_jacobian() {
            directions
        } else {
            x.tape().constant(Tensor::zeros_on([x.shape().dim(0), 1], x.value().device())?)
        };
        let (y, _) = fixed::integrate_on_grid(
            |t, s: &Vec<Var<'t, T>>| self.dynamics(p, t, s, directions),
            vec![x, l0],
            &self.grid,
            self.solver,
        )?;
        self.terminal_on_tape(&y)
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

    /// `log p(x)` for each row of `x`, without gradients (by
    /// [`Cnf::forward`]: one evaluation's memory, not the trajectory's), in
    /// chunks of `chunk` rows (the divergence directions are drawn from `rng`).
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
            let dirs = self.divergence.directions_for(len, self.field_dim(), x.device(), rng)?;
            let (z, l) = self.forward(store, &xb, &dirs)?;
            let tape = Tape::new();
            let lp = standard_normal_log_prob(tape.constant(z))?.value().add(&l)?;
            out.extend(lp.to_f64_vec()?);
            start += len;
        }
        if let Some(i) = out.iter().position(|v| !v.is_finite()) {
            return Err(Error::NonFinite(format!("log-likelihood of point {i} is not finite")));
        }
        Ok(out)
    }

    /// The state at `T` from `x`, without gradients: each evaluation of the
    /// dynamics on a tape of its own that is dropped at once, so nothing
    /// outlives its step and the memory is that of one evaluation, not of the
    /// whole trajectory.
    pub fn terminal_state<T: Float>(
        &self,
        store: &ParamStore<T>,
        x: &Tensor<T>,
        directions: &Tensor<T>,
    ) -> Result<Vec<Tensor<T>>>
    where
        F: VelocityField<T>,
    {
        self.check_points(x)?;
        let (state, _) = fixed::integrate_on_grid(
            |t, s: &Vec<Tensor<T>>| {
                let tape = Tape::new();
                let p = store.attach_frozen(&tape);
                let vars: Vec<Var<'_, T>> = s.iter().map(|v| tape.constant(v.clone())).collect();
                let out = self.dynamics(&p, t, &vars, tape.constant(directions.clone()))?;
                Ok(out.iter().map(|v| v.value()).collect())
            },
            self.initial_state(x, directions)?,
            &self.grid,
            self.solver,
        )?;
        Ok(state)
    }

    /// `(z, ℓ(T))` as [`Cnf::forward_on_tape`] computes them, without
    /// gradients (from [`Cnf::terminal_state`]).
    pub fn forward<T: Float>(
        &self,
        store: &ParamStore<T>,
        x: &Tensor<T>,
        directions: &Tensor<T>,
    ) -> Result<(Tensor<T>, Tensor<T>)>
    where
        F: VelocityField<T>,
    {
        self.terminal(&self.terminal_state(store, x, directions)?)
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

    /// The inverse of the discrete map [`Cnf::transport`] computes, to
    /// round-off: each step `y ↦ Φ(y)` is undone by Newton's method on
    /// `Φ(y) = x`, started from the reverse step, with `∂Φ/∂y` carried as
    /// tangents through the step's stages (as [`Divergence::DiscreteJacobian`]
    /// does). [`Cnf::invert`] integrates backward instead, which undoes the
    /// map only up to the solver's error: right for a flow read as an ODE,
    /// not for one whose density is that of its discrete map. Each row's
    /// Newton iteration stops at round-off, at the noise floor, or when its
    /// line search gives up (see `NewtonRow`), keeping its best iterate (a map
    /// that is not invertible near a point has no exact inverse to find).
    pub fn invert_map<T: Float>(&self, store: &ParamStore<T>, z: &Tensor<T>) -> Result<Tensor<T>>
    where
        F: VelocityField<T>,
    {
        const MAX_NEWTON: usize = 30;
        self.check_points(z)?;
        let (batch, d) = (z.dims()[0], z.dims()[1]);
        if batch == 0 {
            return Ok(z.clone());
        }
        let jacobian_dynamics = |t: f64, s: &Vec<Tensor<T>>| -> Result<Vec<Tensor<T>>> {
            let tape = Tape::new();
            let p = store.attach_frozen(&tape);
            let (v, jm) =
                self.field.forward_with_tangents(&p, tape.constant(s[0].clone()), t, tape.constant(s[1].clone()))?;
            Ok(vec![v.value(), jm.value()])
        };
        let mut x = z.clone();
        for w in self.grid.windows(2).rev() {
            let (t0, h) = (w[0], w[1] - w[0]);
            let target = x.to_f64_vec()?;
            let guess = fixed::step(|t, s: &Tensor<T>| self.field.eval(store, s, t), w[1], &x, -h, self.solver)?;
            let mut rows: Vec<NewtonRow> = guess.to_f64_vec()?.chunks(d).map(NewtonRow::new).collect();
            for _ in 0..MAX_NEWTON {
                // Only the rows still iterating are evaluated: after two or
                // three steps most have converged.
                let active: Vec<usize> = (0..batch).filter(|&i| !rows[i].done).collect();
                let n = active.len();
                if n == 0 {
                    break;
                }
                let y: Vec<f64> = active.iter().flat_map(|&i| rows[i].y.iter().copied()).collect();
                let y = Tensor::<T>::from_f64s(&y, [n, d])?.to_device(z.device())?;
                let eye = Divergence::DiscreteJacobian.directions_for::<T>(n, d, z.device(), &mut Rng::seed(0))?;
                let state = fixed::step(jacobian_dynamics, t0, &vec![y, eye], h, self.solver)?;
                let (phi, m) = (state[0].to_f64_vec()?, state[1].to_f64_vec()?);
                for (k, &i) in active.iter().enumerate() {
                    // ∂Φ_r/∂y_c is component r of tangent c: row c·n + k.
                    let jac = || (0..d * d).map(|q| m[((q % d) * n + k) * d + q / d]).collect();
                    let at = &target[i * d..(i + 1) * d];
                    let round_off = 8.0 * T::EPSILON.to_f64() * at.iter().fold(1.0, |a, v| a.max(v.abs()));
                    rows[i].update(&phi[k * d..(k + 1) * d], at, jac, round_off);
                }
            }
            let best: Vec<f64> = rows.iter().flat_map(|r| r.best.iter().copied()).collect();
            x = Tensor::<T>::from_f64s(&best, [batch, d])?.to_device(z.device())?;
        }
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

/// Residuals within this factor of the round-off estimate count as converged
/// once a full Newton step stops lowering them.
const NOISE_FLOOR: f64 = 1e3;

/// One row's damped Newton iteration for `Φ(y) = x` in [`Cnf::invert_map`]:
/// a step that does not lower the residual is retried at half its length
/// from the best point, until it is 1/64 of a Newton step (or at once done,
/// at the noise floor).
struct NewtonRow {
    /// The point where `Φ` is evaluated next.
    y: Vec<f64>,
    /// The point with the least residual so far, its residual and its Newton step.
    best: Vec<f64>,
    best_residual: f64,
    step: Vec<f64>,
    damping: f64,
    done: bool,
}

impl NewtonRow {
    fn new(guess: &[f64]) -> Self {
        NewtonRow {
            y: guess.to_vec(),
            best: guess.to_vec(),
            best_residual: f64::INFINITY,
            step: vec![0.0; guess.len()],
            damping: 1.0,
            done: false,
        }
    }

    /// Takes `Φ(y)` and, lazily, `∂Φ/∂y` (row-major) at the current point.
    fn update(&mut self, phi: &[f64], target: &[f64], jac: impl FnOnce() -> Vec<f64>, round_off: f64) {
        if self.done {
            return;
        }
        let r: Vec<f64> = phi.iter().zip(target).map(|(a, b)| a - b).collect();
        let residual = r.iter().fold(0.0f64, |m, v| m.max(v.abs()));
        if residual < self.best_residual {
            self.best.clone_from(&self.y);
            self.best_residual = residual;
            self.damping = 1.0;
            match Lu::factor(jac(), r.len()) {
                Some(lu) if residual > round_off => self.step = lu.solve(&r),
                _ => self.done = true,
            }
        } else {
            // Near round-off a full step that does not help means the
            // arithmetic's noise floor is reached: no line search.
            self.damping *= 0.5;
            self.done = self.damping < 1.0 / 64.0 || self.best_residual <= NOISE_FLOOR * round_off;
        }
        for ((y, b), s) in self.y.iter_mut().zip(&self.best).zip(&self.step) {
            *y = b - self.damping * s;
        }
    }
}
