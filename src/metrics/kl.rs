//! Kullback–Leibler divergence: the Monte Carlo estimate from
//! log-densities at samples of the first distribution, and the closed form
//! between Gaussians.

use super::linalg::{cholesky, solve_lower};
use crate::{Error, Result, invalid_arg, shape_err};

/// A Monte Carlo KL estimate.
#[derive(Clone, Debug, PartialEq)]
pub struct KlReport {
    /// The estimate of KL(p ‖ q), in nats.
    pub kl: f64,
    /// Its standard error `s / √n`, `s` the sample standard deviation
    /// (n − 1 normalization) of the log-ratios, in nats.
    pub std_error: f64,
    /// Number of samples.
    pub n: usize,
}

/// `KL(p ‖ q) = E_p[log p(X) − log q(X)]` estimated by the sample mean
/// `(1/n) Σ_i (log p(x_i) − log q(x_i))` over samples `x_i ~ p`, given the
/// two log-densities (natural log) at those samples: `log_p[i] = log p(x_i)`
/// and `log_q[i] = log q(x_i)`. Unbiased; the standard error is that of a
/// sample mean. Individual terms can be negative and so, by chance, can the
/// estimate. Typical use: `KL(p_true ‖ p_model)` with samples from a data
/// density known in closed form (a Gaussian mixture), `log_p` its exact
/// log-density and `log_q` the model's.
///
/// The samples must come from `p`; samples from `q` would estimate
/// `−KL(q ‖ p)`. Errors if the slices differ in length, hold fewer than 2
/// values, or contain a non-finite value (naming the index: `log q = −∞`
/// where `p` has mass means an infinite KL).
pub fn kl_monte_carlo(log_p: &[f64], log_q: &[f64]) -> Result<KlReport> {
    if log_p.len() != log_q.len() {
        shape_err!("KL needs log p and log q at the same samples, got {} and {} values", log_p.len(), log_q.len());
    }
    let n = log_p.len();
    if n < 2 {
        invalid_arg!("a Monte Carlo KL with a standard error needs at least 2 samples, got {n}");
    }
    for (name, values) in [("log p", log_p), ("log q", log_q)] {
        if let Some(i) = values.iter().position(|v| !v.is_finite()) {
            return Err(Error::NonFinite(format!("{name} is {} at sample {i}", values[i])));
        }
    }
    let ratios: Vec<f64> = log_p.iter().zip(log_q).map(|(p, q)| p - q).collect();
    let mean = ratios.iter().sum::<f64>() / n as f64;
    let var = ratios.iter().map(|r| (r - mean) * (r - mean)).sum::<f64>() / (n - 1) as f64;
    Ok(KlReport { kl: mean, std_error: (var / n as f64).sqrt(), n })
}

/// `KL(N(m1, S1) ‖ N(m2, S2))` in nats, in closed form:
///
/// `½ [ tr(S2⁻¹ S1) + (m2 − m1)ᵀ S2⁻¹ (m2 − m1) − d + ln det S2 − ln det S1 ]`,
///
/// evaluated through Cholesky factors `S = L Lᵀ` (`tr(S2⁻¹S1) = |L2⁻¹ L1|_F²`,
/// `ln det S = 2 Σ ln L_ii`). Covariances are row-major `d × d`,
/// `d = m1.len()`. Errors if sizes disagree, a value is non-finite, or a
/// covariance is not symmetric positive definite.
pub fn gaussian_kl(m1: &[f64], s1: &[f64], m2: &[f64], s2: &[f64]) -> Result<f64> {
    let d = m1.len();
    if d == 0 || m2.len() != d {
        shape_err!("Gaussian KL needs two means of one positive dimension, got {} and {}", d, m2.len());
    }
    if let Some(v) = m1.iter().chain(m2).find(|v| !v.is_finite()) {
        return Err(Error::NonFinite(format!("a Gaussian mean has {v}")));
    }
    let l1 = cholesky(s1, d, "S1")?;
    let l2 = cholesky(s2, d, "S2")?;
    let mut trace = 0.0;
    for col in 0..d {
        let column: Vec<f64> = (0..d).map(|r| l1[r * d + col]).collect();
        trace += solve_lower(&l2, d, &column).iter().map(|z| z * z).sum::<f64>();
    }
    let delta: Vec<f64> = m2.iter().zip(m1).map(|(a, b)| a - b).collect();
    let mahalanobis: f64 = solve_lower(&l2, d, &delta).iter().map(|z| z * z).sum();
    let log_det = |l: &[f64]| 2.0 * (0..d).map(|i| l[i * d + i].ln()).sum::<f64>();
    Ok(0.5 * (trace + mahalanobis - d as f64 + log_det(&l2) - log_det(&l1)))
}
