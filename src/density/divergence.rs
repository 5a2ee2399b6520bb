//! The divergence `∇·v = tr(∂v/∂x)` of a velocity field, exactly (one tangent
//! pass per dimension) or by Hutchinson's estimator `E[εᵀ(∂v/∂x)ε]`.
//!
//! Both are computed from Jacobian-vector products recorded on the tape (see
//! [`crate::autodiff`]), so they are differentiable with respect to the
//! parameters and the input.

use crate::autodiff::Var;
use crate::backend::Device;
use crate::nn::{Params, VelocityField};
use crate::tensor::random::Rng;
use crate::tensor::{Float, Tensor};
use crate::{Result, invalid_arg};

/// The distribution of Hutchinson probe vectors.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Probe {
    /// Entries ±1: the estimator with the least variance for a given Jacobian.
    Rademacher,
    /// Standard normal entries.
    Gaussian,
}

/// How the divergence is computed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Divergence {
    /// `Σ_j e_jᵀ J e_j`: `d` tangent passes, exact; for small `d`.
    Exact,
    /// `(1/k) Σ_i ε_iᵀ J ε_i` with `k` probes, unbiased.
    Hutchinson { probes: usize, probe: Probe },
    /// `log|det ∂F/∂x|` of the map `F` the solver computes, instead of the
    /// integral of `∇·v` along its steps: the `d` columns of the Jacobian
    /// are carried through every stage as tangents (an explicit Runge–Kutta
    /// method applied to the variational equation `dM/dt = (∂v/∂x) M`
    /// gives exactly the Jacobian of its own step), and the log-determinant
    /// is taken once at the end. Same cost as [`Divergence::Exact`]; the
    /// density is that of the discrete map, so a coarse grid cannot buy
    /// likelihood with a divergence integral its map does not have, and a
    /// training step that would fold the map must pass `det = 0`, where the
    /// loss is infinite.
    DiscreteJacobian,
}

impl Divergence {
    /// Parses `exact`, `hutchinson` / `rademacher` (one Rademacher probe),
    /// `gaussian` or `jacobian` ([`Divergence::DiscreteJacobian`]).
    pub fn from_name(name: &str) -> Result<Self> {
        Ok(match name {
            "exact" => Divergence::Exact,
            "jacobian" => Divergence::DiscreteJacobian,
            "hutchinson" | "rademacher" => Divergence::Hutchinson { probes: 1, probe: Probe::Rademacher },
            "gaussian" => Divergence::Hutchinson { probes: 1, probe: Probe::Gaussian },
            _ => invalid_arg!(
                "unknown divergence '{name}' (expected exact, jacobian, hutchinson, rademacher or gaussian)"
            ),
        })
    }

    /// Number of tangent directions per sample.
    pub fn directions(&self, dim: usize) -> usize {
        match self {
            Divergence::Exact | Divergence::DiscreteJacobian => dim,
            Divergence::Hutchinson { probes, .. } => *probes,
        }
    }

    /// The tangent directions for a batch, stacked as `[k·batch, dim]` (row
    /// `j·batch + i` is direction `j` at sample `i`). Hutchinson probes are
    /// drawn here, once per solve, and then held fixed along the trajectory.
    /// Probes are drawn on the host (so a seed gives the same probes on every
    /// device) and copied to `device`.
    pub fn directions_for<T: Float>(
        &self,
        batch: usize,
        dim: usize,
        device: Device,
        rng: &mut Rng,
    ) -> Result<Tensor<T>> {
        let host = match *self {
            Divergence::Exact | Divergence::DiscreteJacobian => {
                let mut e = vec![T::ZERO; dim * batch * dim];
                for j in 0..dim {
                    for i in 0..batch {
                        e[(j * batch + i) * dim + j] = T::ONE;
                    }
                }
                Tensor::from_vec(e, [dim * batch, dim])
            }
            Divergence::Hutchinson { probes: 0, .. } => invalid_arg!("Hutchinson estimator needs at least one probe"),
            Divergence::Hutchinson { probes, probe: Probe::Rademacher } => {
                Tensor::rademacher([probes * batch, dim], rng)
            }
            Divergence::Hutchinson { probes, probe: Probe::Gaussian } => Tensor::randn([probes * batch, dim], rng),
        }?;
        host.to_device(device)
    }

    /// `true` where the log-determinant is carried as the Jacobian's columns
    /// (state `[d·batch, d]`) rather than integrated (state `[batch, 1]`).
    pub fn carries_jacobian(&self) -> bool {
        matches!(self, Divergence::DiscreteJacobian)
    }

    /// `(v(x, t), ∇·v(x, t))` with the divergence of shape `[batch, 1]`, given
    /// the directions from [`Divergence::directions_for`] as a tape variable.
    pub fn velocity_and_divergence<'t, T: Float, F: VelocityField<T> + ?Sized>(
        &self,
        field: &F,
        p: &Params<'t, T>,
        x: Var<'t, T>,
        t: f64,
        directions: Var<'t, T>,
    ) -> Result<(Var<'t, T>, Var<'t, T>)> {
        let batch = x.shape().dim(0);
        let k = directions.shape().dim(0) / batch.max(1);
        let (v, jt) = field.forward_with_tangents(p, x, t, directions)?;
        let quad = jt.mul(&directions)?.sum_axis(1, false)?.reshape([k, batch])?;
        // The discrete Jacobian's directions are the unit vectors: its
        // instantaneous divergence is the exact trace.
        let div = match self {
            Divergence::Exact | Divergence::DiscreteJacobian => quad.sum_axis(0, false)?,
            Divergence::Hutchinson { .. } => quad.mean_axis(0, false)?,
        };
        Ok((v, div.reshape([batch, 1])?))
    }
}
