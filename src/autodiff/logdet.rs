//! `log|det A|` of a batch of small square matrices, each held as the `d`
//! tangents of one sample: the log-determinant of the Jacobian of a solver's
//! discrete map (see [`crate::density::Divergence::DiscreteJacobian`]).
//!
//! Derivative: `∂ log|det A| / ∂A = A⁻ᵀ`.
//!
//! The matrices are `d × d` with `d` the dimension of the data (2 for the toy
//! sets, at most tens): one LU factorization with partial pivoting per
//! sample, in f64 on the host, is `O(d³)` against the `d` tangent passes
//! through every solver stage that produced the matrix. On a GPU the values
//! make a round trip to the host; the op runs once per solve, not per stage.
//!
//! ```
//! use wasserflow::autodiff::Tape;
//! use wasserflow::Tensor;
//! let tape = Tape::new();
//! // Two 2×2 matrices stacked as tangents: row j·2 + i is row j of matrix i.
//! // Matrix 0 = [[2, 0], [0, 3]], matrix 1 = [[0, 1], [-4, 0]].
//! let a = tape.var(Tensor::<f64>::from_f64s(&[2.0, 0.0, 0.0, 1.0, 0.0, 3.0, -4.0, 0.0], [4, 2]).unwrap());
//! let l = a.logabsdet_stacked(2).unwrap();
//! let v = l.value().to_vec().unwrap();
//! assert!((v[0] - 6f64.ln()).abs() < 1e-12 && (v[1] - 4f64.ln()).abs() < 1e-12);
//! ```

use super::tape::Var;
use crate::tensor::lu::Lu;
use crate::tensor::{Float, Tensor};
use crate::{Result, shape_err};

/// Matrix `i` of a stacked `[d·batch, d]` host buffer, row-major.
fn matrix(host: &[f64], batch: usize, d: usize, i: usize) -> Vec<f64> {
    (0..d).flat_map(|j| host[(j * batch + i) * d..(j * batch + i + 1) * d].iter().copied()).collect()
}

impl<'t, T: Float> Var<'t, T> {
    /// `log|det A_i|` as `[batch, 1]` for `self` of shape `[d·batch, d]`
    /// holding `batch` matrices whose row `j` of matrix `i` is row
    /// `j·batch + i` (the layout of stacked tangents: row `j` of `A_i` is the
    /// `j`-th tangent of sample `i`, and `det Aᵀ = det A`). A singular matrix
    /// gives `−∞`, and its gradient is not finite.
    pub fn logabsdet_stacked(&self, batch: usize) -> Result<Self> {
        let value = self.value();
        let d = match value.dims() {
            &[rows, d] if batch > 0 && rows == d * batch => d,
            _ => shape_err!("log|det| of {batch} stacked matrices needs shape [d·{batch}, d], got {}", value.shape()),
        };
        let device = value.device();
        let host = value.to_f64_vec()?;
        let out: Vec<f64> = (0..batch)
            .map(|i| Lu::factor(matrix(&host, batch, d, i), d).map_or(f64::NEG_INFINITY, |lu| lu.log_abs_det()))
            .collect();
        let y = Tensor::<T>::from_f64s(&out, [batch, 1])?.to_device(device)?;
        Ok(self.tape().custom(&[*self], y, move |inputs, _, gy| {
            let host = inputs[0].to_f64_vec()?;
            let gy = gy.to_f64_vec()?;
            let mut grad = vec![f64::NAN; d * batch * d];
            for (i, &g) in gy.iter().enumerate() {
                let Some(lu) = Lu::factor(matrix(&host, batch, d, i), d) else { continue };
                let inv_t = lu.inverse_transpose();
                for j in 0..d {
                    for c in 0..d {
                        grad[(j * batch + i) * d + c] = g * inv_t[j * d + c];
                    }
                }
            }
            Ok(vec![Some(Tensor::<T>::from_f64s(&grad, [d * batch, d])?.to_device(device)?)])
        }))
    }
}
