//! Inversion error of a flow: how far `F⁻¹(F(x))` lands from `x`.

use super::points::Points;
use crate::tensor::{Float, Tensor};
use crate::{Result, shape_err};

/// Per-point Euclidean round-trip errors `e_i = |F⁻¹(F(x_i)) − x_i|`
/// summarized, in the units of `x`.
#[derive(Clone, Debug, PartialEq)]
pub struct InversionReport {
    /// `(1/n) Σ_i e_i`.
    pub mean: f64,
    /// `max_i e_i`.
    pub max: f64,
}

/// The round-trip error of `x_roundtrip = F⁻¹(F(x))` against `x`, both
/// `[n, d]` (row `i` of one is the image of row `i` of the other): mean and
/// maximum over points of the Euclidean norm of the difference, computed
/// in f64.
///
/// Errors if the shapes differ, a set is empty, or any value is non-finite
/// (a flow that blows up gives an error, not an infinite mean).
pub fn inversion_error<T: Float>(x: &Tensor<T>, x_roundtrip: &Tensor<T>) -> Result<InversionReport> {
    if x.dims() != x_roundtrip.dims() {
        shape_err!(
            "inversion error needs x and its round trip of one shape, got {:?} and {:?}",
            x.dims(),
            x_roundtrip.dims()
        );
    }
    let a = Points::read(x, "x", 1)?;
    let b = Points::read(x_roundtrip, "the round trip F⁻¹(F(x))", 1)?;
    let errors: Vec<f64> = (0..a.n).map(|i| super::points::squared_distance(a.row(i), b.row(i)).sqrt()).collect();
    Ok(InversionReport {
        mean: errors.iter().sum::<f64>() / a.n as f64,
        max: errors.iter().copied().fold(0.0, f64::max),
    })
}
