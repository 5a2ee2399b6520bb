//! Optimizers, learning-rate schedules, gradient clipping and parameter averaging.
//!
//! An optimizer updates a [`ParamStore`] in place from gradients given in
//! store order (as [`crate::nn::Params::grads`] returns them).

mod adam;
mod clip;
mod ema;
mod schedule;
mod sgd;

pub use adam::Adam;
pub use clip::{clip_grad_norm, clip_if, grad_norm, validate_max_norm};
pub use ema::Ema;
pub use schedule::Schedule;
pub use sgd::Sgd;

use crate::nn::ParamStore;
use crate::tensor::{Float, Tensor};
use crate::{Result, shape_err};

/// A first-order optimizer.
pub trait Optimizer<T: Float> {
    /// One update of every parameter from its gradient.
    fn step(&mut self, params: &mut ParamStore<T>, grads: &[Tensor<T>]) -> Result<()>;
    /// The learning rate the next step uses.
    fn lr(&self) -> f64;
    fn set_lr(&mut self, lr: f64);
    /// Steps taken so far.
    fn steps(&self) -> u64;
}

fn check_grads<T: Float>(params: &ParamStore<T>, grads: &[Tensor<T>]) -> Result<()> {
    if grads.len() != params.len() {
        shape_err!("{} gradients for {} parameters", grads.len(), params.len());
    }
    for (p, g) in params.values().iter().zip(grads) {
        if p.shape() != g.shape() {
            shape_err!("gradient of shape {} for a parameter of shape {}", g.shape(), p.shape());
        }
    }
    Ok(())
}
