//! The JKO step sizes: `h_k = min(h_0·ρ^(k−1), h_max)` for blocks `k = 1, 2, …`.
//!
//! Small first steps keep the early blocks, where the data is far from the
//! Gaussian and the Wasserstein gradient is large, from moving too far in one
//! step; growing steps let the later blocks, where the gradient is small,
//! still make progress (JKO-iFlow, Xu, Cheng & Xie 2023; the rose setting is
//! `h_0 = 0.25, ρ = 1.4`).

use crate::{Result, invalid_arg};

/// A geometric step-size schedule capped at `h_max`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct StepSchedule {
    /// Step of the first block.
    pub h0: f64,
    /// Growth factor from one block to the next.
    pub rho: f64,
    /// Cap (`f64::INFINITY` for none).
    pub h_max: f64,
}

impl StepSchedule {
    /// A constant step `h`.
    pub fn constant(h: f64) -> Self {
        StepSchedule { h0: h, rho: 1.0, h_max: f64::INFINITY }
    }

    /// The step of block `k` (1-based, as in the paper): `min(h_0·ρ^(k−1), h_max)`.
    pub fn step(&self, k: usize) -> f64 {
        let grown = self.h0 * self.rho.powi(k.saturating_sub(1).min(i32::MAX as usize) as i32);
        grown.min(self.h_max)
    }

    /// The steps of blocks `1..=n`.
    pub fn steps(&self, n: usize) -> Vec<f64> {
        (1..=n).map(|k| self.step(k)).collect()
    }

    pub fn validate(&self) -> Result<()> {
        if !(self.h0.is_finite() && self.h0 > 0.0) {
            invalid_arg!("the first JKO step h0 must be finite and positive, got {}", self.h0);
        }
        if !(self.rho.is_finite() && self.rho > 0.0) {
            invalid_arg!("the step growth factor rho must be finite and positive, got {}", self.rho);
        }
        if self.h_max.is_nan() || self.h_max <= 0.0 {
            invalid_arg!("the step cap h_max must be positive (or infinite), got {}", self.h_max);
        }
        Ok(())
    }
}
