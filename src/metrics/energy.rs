//! Energy distance between two samples (Székely–Rizzo), with unbiased
//! within-sample terms.

use super::pairwise::{cross_sum, within_sum};
use super::points::{Points, same_dim};
use crate::Result;
use crate::tensor::{Float, Tensor};

/// Energy distance `D² = 2 E|X − Y| − E|X − X'| − E|Y − Y'|` between the
/// samples `x` `[n, d]` and `y` `[m, d]` (Euclidean norms), estimated as
///
/// `2/(nm) Σ_{i,j} |x_i − y_j| − 1/(n(n−1)) Σ_{i≠j} |x_i − x_j| − 1/(m(m−1)) Σ_{i≠j} |y_i − y_j|`.
///
/// All three terms are U-statistics, so the estimate is unbiased for `D²`,
/// which is 0 exactly when the two distributions agree (and positive
/// otherwise); like unbiased MMD², the estimate can therefore be slightly
/// negative for two samples of one distribution. Units: those of the
/// points (a distance, not squared, despite the conventional `D²`).
///
/// Cost O((n + m)² d), parallel over rows with rayon and bit-identical for
/// any thread count. Errors if a sample has fewer than 2 points,
/// dimensions differ, or a value is non-finite.
pub fn energy_distance<T: Float>(x: &Tensor<T>, y: &Tensor<T>) -> Result<f64> {
    let xs = Points::read(x, "x", 2)?;
    let ys = Points::read(y, "y", 2)?;
    same_dim(&xs, &ys, "energy distance")?;
    let (n, m) = (xs.n as f64, ys.n as f64);
    let exx = 2.0 * within_sum(&xs, norms) / (n * (n - 1.0));
    let eyy = 2.0 * within_sum(&ys, norms) / (m * (m - 1.0));
    let exy = cross_sum(&xs, &ys, norms) / (n * m);
    Ok(2.0 * exy - exx - eyy)
}

/// `out[k] = √r2[k]`: Euclidean distances from squared ones (inlined into
/// the per-ISA pair loop).
#[inline(always)]
fn norms(r2: &[f64], out: &mut [f64]) {
    for (o, &r) in out.iter_mut().zip(r2) {
        *o = r.sqrt();
    }
}
