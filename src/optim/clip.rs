//! Global gradient-norm clipping.

use crate::tensor::{Float, Tensor};
use crate::{Error, Result};

/// `‖g‖₂` over all gradients together (accumulated in f64).
pub fn grad_norm<T: Float>(grads: &[Tensor<T>]) -> Result<f64> {
    let mut s = 0.0;
    for g in grads {
        s += g.storage().sum_squares()?;
    }
    Ok(s.sqrt())
}

/// Clips with [`clip_grad_norm`] when `max_norm` is set: the trainers' option.
pub fn clip_if<T: Float>(grads: &mut [Tensor<T>], max_norm: Option<f64>) -> Result<()> {
    if let Some(c) = max_norm {
        clip_grad_norm(grads, c)?;
    }
    Ok(())
}

/// Checks a trainer's clipping option: unset, or finite and positive.
pub fn validate_max_norm(max_norm: Option<f64>) -> Result<()> {
    match max_norm {
        Some(c) if !(c.is_finite() && c > 0.0) => {
            Err(Error::InvalidArgument(format!("the gradient-norm clip must be finite and positive, got {c}")))
        }
        _ => Ok(()),
    }
}

/// Scales all gradients by `min(1, max_norm / ‖g‖)` so their global norm is
/// at most `max_norm`; returns the norm before clipping (as PyTorch's
/// `clip_grad_norm_`). A non-finite norm is returned unchanged and nothing is scaled,
/// so the caller can detect divergence.
pub fn clip_grad_norm<T: Float>(grads: &mut [Tensor<T>], max_norm: f64) -> Result<f64> {
    let norm = grad_norm(grads)?;
    if norm.is_finite() && norm > max_norm {
        let c = T::from_f64(max_norm / (norm + 1e-6));
        for g in grads.iter_mut() {
            g.storage_mut().scale(c)?;
        }
    }
    Ok(norm)
}
