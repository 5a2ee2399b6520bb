//! Gradients through the ODE solve by backpropagating through the solver's
//! steps: the exact gradient of the discretized flow.
//!
//! [`Backprop::Direct`] records the whole solve on one tape (memory grows
//! with the number of steps). [`Backprop::Checkpointed`] stores only the
//! state at each grid point during an untracked forward solve, then replays
//! one step at a time on a fresh tape from the last to the first, carrying
//! the state's adjoint backwards: the same gradient, with the activations of
//! a single step alive at a time.

use crate::autodiff::{Tape, Var};
use crate::density::cnf::Cnf;
use crate::nn::data_parallel::{combine_shards, shard_bounds};
use crate::nn::{ParamStore, VelocityField};
use crate::ode::fixed;
use crate::tensor::{Float, Tensor};
use crate::{Result, shape_err};

/// A scalar loss of the terminal state `(z, ℓ(T))`, recorded on a tape.
pub trait TerminalLoss<T: Float>: for<'t> Fn(Var<'t, T>, Var<'t, T>) -> Result<Var<'t, T>> {}
impl<T: Float, L: for<'t> Fn(Var<'t, T>, Var<'t, T>) -> Result<Var<'t, T>>> TerminalLoss<T> for L {}

/// The negative log-likelihood `−mean(log N(z) + ℓ)`: maximum-likelihood training.
pub fn nll_loss<'t, T: Float>(z: Var<'t, T>, l: Var<'t, T>) -> Result<Var<'t, T>> {
    super::cnf::standard_normal_log_prob(z)?.add(&l)?.mean_all()?.neg()
}

/// A loss value with its gradients.
pub struct LossAndGrads<T: Float> {
    pub loss: f64,
    /// With respect to every parameter, in store order.
    pub param_grads: Vec<Tensor<T>>,
    /// With respect to the input points.
    pub input_grad: Tensor<T>,
}

/// How gradients are taken through the solver.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backprop {
    /// Record every step on one tape.
    Direct,
    /// Store the state at grid points, replay one step at a time.
    Checkpointed,
    /// The continuous adjoint method (see [`super::adjoint`]).
    Adjoint,
}

impl Backprop {
    pub fn from_name(name: &str) -> Result<Self> {
        Ok(match name {
            "direct" => Backprop::Direct,
            "checkpointed" | "checkpoint" => Backprop::Checkpointed,
            "adjoint" => Backprop::Adjoint,
            _ => crate::invalid_arg!("unknown gradient method '{name}' (expected direct, checkpointed or adjoint)"),
        })
    }

    /// The loss of the flowed batch `x` and its gradients.
    pub fn loss_and_grads<T: Float, F: VelocityField<T>>(
        self,
        cnf: &Cnf<F>,
        store: &ParamStore<T>,
        x: &Tensor<T>,
        directions: &Tensor<T>,
        loss: &impl TerminalLoss<T>,
    ) -> Result<LossAndGrads<T>> {
        match self {
            Backprop::Direct => direct(cnf, store, x, directions, loss),
            Backprop::Checkpointed => checkpointed(cnf, store, x, directions, loss),
            Backprop::Adjoint => super::adjoint::adjoint(cnf, store, x, directions, loss),
        }
    }

    /// The mean negative log-likelihood of `x` and its gradients, with the
    /// batch split into one shard per thread, each flowed and differentiated
    /// on its own thread with its own tape; the shards' gradients are then
    /// combined, weighted by their sizes, in shard order.
    ///
    /// Why: a CNF step is hundreds of mid-sized ops. Splitting each op across
    /// cores moves every intermediate between the cores' caches and costs a
    /// hand-over per op; measured on the 2-core VM, the exact/direct iteration
    /// was no faster on two threads than on one that way. Whole shards keep
    /// their data on one core (the kernels inside run on their calling
    /// thread). The result depends on the thread count through the shard
    /// boundaries (the same count gives the same bits).
    pub fn nll_and_grads<T: Float, F: VelocityField<T> + Sync>(
        self,
        cnf: &Cnf<F>,
        store: &ParamStore<T>,
        x: &Tensor<T>,
        directions: &Tensor<T>,
    ) -> Result<LossAndGrads<T>> {
        let batch = x.dims()[0];
        if shard_bounds(batch, x.device()).len() == 1 {
            return self.loss_and_grads(cnf, store, x, directions, &nll_loss);
        }
        let k = directions.dims()[0] / batch;
        let c = combine_shards(batch, x.device(), |lo, hi| {
            let rows: Vec<usize> = (0..k).flat_map(|j| (j * batch + lo)..(j * batch + hi)).collect();
            let r =
                self.loss_and_grads(cnf, store, &x.slice(0, lo, hi - lo)?, &directions.gather_rows(&rows)?, &nll_loss)?;
            Ok((r.loss, r.param_grads, r.input_grad))
        })?;
        let input_parts: Vec<Tensor<T>> = c.per_shard.iter().map(|(w, g)| g.scale(*w)).collect::<Result<_>>()?;
        let refs: Vec<&Tensor<T>> = input_parts.iter().collect();
        Ok(LossAndGrads { loss: c.loss, param_grads: c.grads, input_grad: Tensor::concat(&refs, 0)? })
    }
}

/// The terminal loss at the state `(z, ℓ)` (or `(z, M)`, see
/// [`Cnf::terminal_on_tape`]) and its gradient with respect to each part of
/// the state: where the reverse sweeps of the checkpointed and adjoint
/// methods start.
pub(crate) fn terminal_gradient<T: Float, F>(
    cnf: &Cnf<F>,
    state: &[Tensor<T>],
    loss: &impl TerminalLoss<T>,
) -> Result<(f64, Vec<Tensor<T>>)> {
    let tape = Tape::new();
    let vars: Vec<Var<'_, T>> = state.iter().map(|s| tape.var(s.clone())).collect();
    let (z, l) = cnf.terminal_on_tape(&vars)?;
    let value = loss(z, l)?;
    let g = tape.backward(value)?;
    Ok((value.value().item()?.to_f64(), vars.iter().map(|v| g.get_or_zeros(*v)).collect::<Result<_>>()?))
}

/// One tape over the whole solve.
pub fn direct<T: Float, F: VelocityField<T>>(
    cnf: &Cnf<F>,
    store: &ParamStore<T>,
    x: &Tensor<T>,
    directions: &Tensor<T>,
    loss: &impl TerminalLoss<T>,
) -> Result<LossAndGrads<T>> {
    let tape = Tape::new();
    let p = store.attach(&tape);
    let xv = tape.var(x.clone());
    let (z, l) = cnf.forward_on_tape(&p, xv, tape.constant(directions.clone()))?;
    let value = loss(z, l)?;
    let grads = tape.backward(value)?;
    Ok(LossAndGrads {
        loss: value.value().item()?.to_f64(),
        param_grads: p.grads(&grads)?,
        input_grad: grads.get_or_zeros(xv)?,
    })
}

/// Replays steps one at a time from stored grid states.
pub fn checkpointed<T: Float, F: VelocityField<T>>(
    cnf: &Cnf<F>,
    store: &ParamStore<T>,
    x: &Tensor<T>,
    directions: &Tensor<T>,
    loss: &impl TerminalLoss<T>,
) -> Result<LossAndGrads<T>> {
    // Forward, untracked: the state at every grid point.
    let mut states: Vec<Vec<Tensor<T>>> = vec![cnf.initial_state(x, directions)?];
    for w in cnf.grid.windows(2) {
        let tape = Tape::new();
        let p = store.attach_frozen(&tape);
        let dirs = tape.constant(directions.clone());
        let y: Vec<Var<'_, T>> =
            states.last().expect("initial state").iter().map(|s| tape.constant(s.clone())).collect();
        let next =
            fixed::step(|t, s: &Vec<Var<'_, T>>| cnf.dynamics(&p, t, s, dirs), w[0], &y, w[1] - w[0], cnf.solver)?;
        states.push(next.iter().map(|v| v.value()).collect());
    }
    // The terminal loss and its gradient with respect to the terminal state.
    let (value, mut adj) = terminal_gradient(cnf, states.last().expect("terminal state"), loss)?;
    // Backward through each step: d/dy_n ⟨adj, step(y_n)⟩.
    let mut param_grads: Option<Vec<Tensor<T>>> = None;
    for (n, w) in cnf.grid.windows(2).enumerate().rev() {
        let tape = Tape::new();
        let p = store.attach(&tape);
        let dirs = tape.constant(directions.clone());
        let y: Vec<Var<'_, T>> = states[n].iter().map(|s| tape.var(s.clone())).collect();
        let next =
            fixed::step(|t, s: &Vec<Var<'_, T>>| cnf.dynamics(&p, t, s, dirs), w[0], &y, w[1] - w[0], cnf.solver)?;
        let mut inner: Option<Var<'_, T>> = None;
        for (yn, a) in next.iter().zip(&adj) {
            let term = yn.mul(&tape.constant(a.clone()))?.sum_all()?;
            inner = Some(match inner {
                Some(acc) => acc.add(&term)?,
                None => term,
            });
        }
        let g = tape.backward(inner.expect("the state has parts"))?;
        adj = y.iter().map(|v| g.get_or_zeros(*v)).collect::<Result<_>>()?;
        let pg = p.grads(&g)?;
        param_grads = Some(match param_grads {
            Some(acc) => acc.iter().zip(&pg).map(|(a, b)| a.add(b)).collect::<Result<_>>()?,
            None => pg,
        });
    }
    let param_grads = match param_grads {
        Some(g) => g,
        None => shape_err!("a CNF grid needs at least one step"),
    };
    Ok(LossAndGrads { loss: value, param_grads, input_grad: adj.swap_remove(0) })
}
