//! The continuous adjoint method (Chen et al. 2018) for a CNF.
//!
//! With `a(t) = ∂L/∂x(t)` and `a_ℓ = ∂L/∂ℓ(T)` (constant, since the dynamics
//! do not depend on `ℓ`), the gradient comes from integrating, backward from
//! `T` to 0 on the forward grid reversed and with the same solver,
//!
//! `dx/dt = v`,  `da/dt = −(aᵀ ∂v/∂x + a_ℓ ∂(∇·v)/∂x)`,
//! `dg/dt = −(aᵀ ∂v/∂θ + a_ℓ ∂(∇·v)/∂θ)`, `g(T) = 0`,
//!
//! so that `∂L/∂θ = g(0)` and `∂L/∂x(0) = a(0)`. The state `x(t)` is
//! recomputed by the reverse solve instead of stored: memory stays flat in
//! the number of steps. Each right-hand side evaluation is one vector-Jacobian
//! product of the dynamics, on a tape that lives for that evaluation only.
//! The result differs from the discrete gradient by the solver's error.

use crate::autodiff::Tape;
use crate::density::backprop::{LossAndGrads, TerminalLoss, terminal_gradient};
use crate::density::cnf::Cnf;
use crate::nn::{ParamStore, VelocityField};
use crate::ode::fixed;
use crate::tensor::{Float, Tensor};
use crate::{Error, Result, invalid_arg};

/// Loss and gradients by the continuous adjoint.
pub fn adjoint<T: Float, F: VelocityField<T>>(
    cnf: &Cnf<F>,
    store: &ParamStore<T>,
    x: &Tensor<T>,
    directions: &Tensor<T>,
    loss: &impl TerminalLoss<T>,
) -> Result<LossAndGrads<T>> {
    if cnf.divergence.carries_jacobian() {
        invalid_arg!(
            "the discrete map's Jacobian is differentiated through the solver's steps \
             (backprop direct or checkpointed), not by the continuous adjoint (or use the exact divergence)"
        );
    }
    let batch = x.dims()[0];
    // Forward solve, untracked, keeping only the terminal state.
    let end = cnf.terminal_state(store, x, directions)?;
    let (value, adj) = terminal_gradient(cnf, &end, loss)?;
    let [a_z, a_l] = <[Tensor<T>; 2]>::try_from(adj).map_err(|_| Error::Shape("a CNF state has two parts".into()))?;
    // Backward state: [x, a, g_θ...].
    let mut y0 = vec![end[0].clone(), a_z];
    for v in store.values() {
        y0.push(v.zeros_like()?);
    }
    let reverse: Vec<f64> = cnf.grid.iter().rev().copied().collect();
    let (back, _) = fixed::integrate_on_grid(
        |t, s: &Vec<Tensor<T>>| {
            let tape = Tape::new();
            let p = store.attach(&tape);
            let xv = tape.var(s[0].clone());
            let dirs = tape.constant(directions.clone());
            let f = cnf.dynamics(&p, t, &[xv, tape.constant(Tensor::zeros_on([batch, 1], x.device())?)], dirs)?;
            let v = f[0].value();
            // aᵀ f_x + a_ℓ (∇·v): one reverse sweep gives both VJPs.
            let inner = f[0]
                .mul(&tape.constant(s[1].clone()))?
                .sum_all()?
                .add(&f[1].mul(&tape.constant(a_l.clone()))?.sum_all()?)?;
            let g = tape.backward(inner)?;
            let mut out = vec![v, g.get_or_zeros(xv)?.scale(-1.0)?];
            for pg in p.grads(&g)? {
                out.push(pg.scale(-1.0)?);
            }
            Ok(out)
        },
        y0,
        &reverse,
        cnf.solver,
    )?;
    let mut back = back.into_iter();
    let _x0 = back.next().ok_or_else(|| Error::Shape("adjoint state lost its parts".into()))?;
    let input_grad = back.next().ok_or_else(|| Error::Shape("adjoint state lost its parts".into()))?;
    Ok(LossAndGrads { loss: value, param_grads: back.collect(), input_grad })
}
