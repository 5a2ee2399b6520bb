//! Point sets as the metrics read them: a `[n, d]` tensor of any float type
//! copied to row-major f64 after its shape and values have been checked.

use crate::tensor::{Float, Tensor};
use crate::{Error, Result, shape_err};

/// `n` points in `d` dimensions, row-major, finite.
#[derive(Clone, Debug)]
pub(crate) struct Points {
    pub data: Vec<f64>,
    pub n: usize,
    pub d: usize,
}

impl Points {
    /// Checks that `x` is `[n, d]` with `n ≥ min_points`, `d ≥ 1` and finite
    /// entries; `name` is how error messages call the argument.
    pub fn read<T: Float>(x: &Tensor<T>, name: &str, min_points: usize) -> Result<Points> {
        let dims = x.dims();
        if dims.len() != 2 {
            shape_err!("{name} must be a point set [n, d], got shape {:?}", dims);
        }
        let (n, d) = (dims[0], dims[1]);
        if d == 0 {
            shape_err!("{name} has zero dimensions (shape [{n}, 0])");
        }
        if n < min_points {
            shape_err!("{name} needs at least {min_points} points, got {n}");
        }
        let data = x.to_f64_vec()?;
        if let Some(bad) = data.iter().position(|v| !v.is_finite()) {
            return Err(Error::NonFinite(format!(
                "{name} has a non-finite value {} at point {}, coordinate {}",
                data[bad],
                bad / d,
                bad % d
            )));
        }
        Ok(Points { data, n, d })
    }

    pub fn row(&self, i: usize) -> &[f64] {
        &self.data[i * self.d..(i + 1) * self.d]
    }
}

/// Errors unless the two point sets live in the same dimension.
pub(crate) fn same_dim(x: &Points, y: &Points, what: &str) -> Result<()> {
    if x.d != y.d {
        shape_err!("{what} needs point sets of one dimension, got d = {} and d = {}", x.d, y.d);
    }
    Ok(())
}

/// Squared Euclidean distance.
#[inline]
pub(crate) fn squared_distance(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(u, v)| (u - v) * (u - v)).sum()
}
