//! An exponential moving average of a model's parameters.
//!
//! Generative models trained by regression on noisy targets (flow matching,
//! diffusion) are usually evaluated with an average of their recent weights
//! rather than the last iterate: the average smooths out the minibatch noise
//! the optimizer leaves in the weights, which shows in samples more than in
//! the loss.

use crate::nn::ParamStore;
use crate::tensor::{Float, Tensor};
use crate::{Result, invalid_arg, shape_err};

/// `θ̄ ← d_t·θ̄ + (1 − d_t)·θ` after every update, where
/// `d_t = min(decay, (1 + t)/(10 + t))` at the `t`-th update (from 0). The
/// warm-up keeps the random initialization from lingering in the average of
/// a short run (with `decay` = 0.999 it would still weigh 2% after 4000
/// steps); from `t ≈ 9·decay/(1 − decay)` on, `d_t = decay`.
#[derive(Clone, Debug)]
pub struct Ema<T: Float> {
    decay: f64,
    updates: u64,
    average: ParamStore<T>,
}

impl<T: Float> Ema<T> {
    /// An average starting at the current values of `params`; `decay` in `[0, 1)`.
    pub fn new(decay: f64, params: &ParamStore<T>) -> Result<Self> {
        if !(0.0..1.0).contains(&decay) {
            invalid_arg!("the EMA decay must be in [0, 1), got {decay}");
        }
        Ok(Ema { decay, updates: 0, average: params.clone() })
    }

    /// The weight on the old average at the next update.
    pub fn next_decay(&self) -> f64 {
        let t = self.updates as f64;
        self.decay.min((1.0 + t) / (10.0 + t))
    }

    /// Folds the current values of `params` (the same parameters, in store order) into the average.
    pub fn update(&mut self, params: &ParamStore<T>) -> Result<()> {
        if params.len() != self.average.len() {
            shape_err!("the EMA holds {} parameters, the store {}", self.average.len(), params.len());
        }
        let d = self.next_decay();
        for (avg, p) in self.average.values_mut().iter_mut().zip(params.values()) {
            *avg = Tensor::lincomb(&[(d, &*avg), (1.0 - d, p)])?;
        }
        self.updates += 1;
        Ok(())
    }

    /// The averaged parameters.
    pub fn average(&self) -> &ParamStore<T> {
        &self.average
    }

    pub fn into_average(self) -> ParamStore<T> {
        self.average
    }
}
