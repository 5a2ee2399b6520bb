//! Likelihood metrics: mean negative log-likelihood in nats and its
//! conversion to bits per dimension, with the dequantization convention for
//! discrete (8-bit image) data.

use std::f64::consts::LN_2;

use crate::{Error, Result, invalid_arg};

/// Mean negative log-likelihood `−(1/n) Σ_i log p(x_i)` in nats, from the
/// per-point log-densities `log_probs[i] = log p(x_i)` (natural log, each the
/// joint density of all `d` coordinates of point `i`).
///
/// This is the plain sample mean (an unbiased estimate of the cross-entropy
/// `E_data[−log p]` when the points are a held-out sample of the data).
/// Errors on an empty slice and on a non-finite entry (naming its index): a
/// model density of zero at a data point makes the NLL infinite, which is
/// reported rather than averaged.
pub fn mean_nll(log_probs: &[f64]) -> Result<f64> {
    if log_probs.is_empty() {
        invalid_arg!("mean NLL of an empty set of log-probabilities");
    }
    if let Some(i) = log_probs.iter().position(|v| !v.is_finite()) {
        return Err(Error::NonFinite(format!("log-probability {} at index {i}", log_probs[i])));
    }
    Ok(-log_probs.iter().sum::<f64>() / log_probs.len() as f64)
}

/// Bits per dimension of a continuous density: `nll_nats / (d · ln 2)`, where
/// `nll_nats` is the NLL of whole `d`-dimensional points in nats (e.g. from
/// [`mean_nll`]). Units: bits per coordinate.
///
/// Errors if `dim` is 0 or `nll_nats` is not finite.
pub fn bits_per_dim(nll_nats: f64, dim: usize) -> Result<f64> {
    if dim == 0 {
        invalid_arg!("bits per dimension needs dim > 0");
    }
    if !nll_nats.is_finite() {
        return Err(Error::NonFinite(format!("NLL {nll_nats} nats")));
    }
    Ok(nll_nats / (dim as f64 * LN_2))
}

/// Bits per dimension of discrete data with `levels` values per coordinate
/// (256 for 8-bit images), from the NLL of a continuous density fitted to
/// the dequantized data scaled to `[0, 1]`.
///
/// Convention (RealNVP, Glow, FFJORD): data `x ∈ {0, …, levels−1}^d` is
/// dequantized to `u = (x + U) / levels` with `U ~ Uniform[0, 1)^d`, and the
/// model density `p` is over `u ∈ [0, 1]^d`. The density of `x + U` is then
/// `p(u) / levels^d`, and `−log P(x) ≤ E_U[−log p(u)] + d · ln(levels)`
/// (Jensen; the bound is what the papers report as the discrete NLL). So
///
/// `bpd = (nll_nats + d · ln(levels)) / (d · ln 2) = nll_nats / (d ln 2) + log2(levels)`,
///
/// e.g. `+ 8` bits for 256 levels. `nll_nats` must be the NLL of the points
/// in the `[0, 1]` scaling: any further preprocessing inside the model
/// (logit transform, shift to `[−1, 1]`) must already be accounted for in
/// it through its log-Jacobian. Units: bits per coordinate.
///
/// Errors if `dim` is 0, `levels` is 0 or `nll_nats` is not finite.
pub fn bits_per_dim_dequantized(nll_nats: f64, dim: usize, levels: u32) -> Result<f64> {
    if levels == 0 {
        invalid_arg!("dequantization needs levels > 0");
    }
    if dim == 0 {
        invalid_arg!("bits per dimension needs dim > 0");
    }
    bits_per_dim(nll_nats + dim as f64 * (levels as f64).ln(), dim)
}
