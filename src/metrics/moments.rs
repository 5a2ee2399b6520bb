//! Sample mean and covariance of a point set, for Gaussian fits (the
//! Fréchet / FID-style distance between fitted Gaussians).

use super::points::Points;
use crate::Result;
use crate::tensor::{Float, Tensor};

/// The sample mean `m = (1/n) Σ x_i` and the unbiased sample covariance
/// `S = 1/(n−1) Σ (x_i − m)(x_i − m)ᵀ` (row-major `d × d`) of `x` `[n, d]`,
/// computed in f64 by two passes. Errors if `n < 2` or a value is
/// non-finite.
pub fn mean_covariance<T: Float>(x: &Tensor<T>) -> Result<(Vec<f64>, Vec<f64>)> {
    let p = Points::read(x, "x", 2)?;
    let (n, d) = (p.n, p.d);
    let mut mean = vec![0.0; d];
    for i in 0..n {
        for (m, v) in mean.iter_mut().zip(p.row(i)) {
            *m += v;
        }
    }
    mean.iter_mut().for_each(|m| *m /= n as f64);
    let mut cov = vec![0.0; d * d];
    let mut centred = vec![0.0; d];
    for i in 0..n {
        for ((c, v), m) in centred.iter_mut().zip(p.row(i)).zip(&mean) {
            *c = v - m;
        }
        for a in 0..d {
            for b in 0..=a {
                cov[a * d + b] += centred[a] * centred[b];
            }
        }
    }
    for a in 0..d {
        for b in 0..=a {
            let v = cov[a * d + b] / (n - 1) as f64;
            cov[a * d + b] = v;
            cov[b * d + a] = v;
        }
    }
    Ok((mean, cov))
}
