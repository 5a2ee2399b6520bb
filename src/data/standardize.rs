//! Per-column standardization `z = (x − mean) / std`, and the log-Jacobian
//! that carries likelihoods between the two units.
//!
//! Sign convention: with `z = (x − μ) / σ` the densities relate by
//! `p_x(x) = p_z(z) · Π_i 1/σ_i`, so
//!
//! ```text
//! NLL_x(x) = NLL_z(z) + log_det,   log_det = Σ_i log σ_i
//! ```
//!
//! (NLL in nats per sample). A model trained on standardized data reports
//! `NLL_z`; add [`Standardizer::log_det`] to compare it with models of the raw data.

use crate::io::json::Value;
use crate::json;

use crate::tensor::{Float, Tensor};
use crate::{Error, Result, invalid_arg, shape_err};

/// The smallest standard deviation used: a column whose spread is below it
/// (constant pixels at an image's border, say) is divided by this instead of
/// by ~0. It keeps the transform finite and invertible; such a column adds
/// `log(1e-6) ≈ −13.8` nats to [`Standardizer::log_det`], which is the true
/// Jacobian of the transform applied.
pub const STD_FLOOR: f64 = 1e-6;

/// Column means and standard deviations of a data set `[n, d]`.
#[derive(Clone, Debug, PartialEq)]
pub struct Standardizer {
    pub mean: Vec<f64>,
    pub std: Vec<f64>,
}

impl Standardizer {
    /// Fits to the rows of `x` (`[n, d]`, n ≥ 1): per-column mean and
    /// population standard deviation (divisor n), floored at [`STD_FLOOR`].
    pub fn fit<T: Float>(x: &Tensor<T>) -> Result<Self> {
        if x.rank() != 2 || x.dims()[0] == 0 {
            shape_err!("standardization needs a non-empty [n, d] data set, got shape {}", x.shape());
        }
        let (n, d) = (x.dims()[0], x.dims()[1]);
        let v = x.to_f64_vec()?;
        if let Some(i) = v.iter().position(|a| !a.is_finite()) {
            return Err(Error::NonFinite(format!(
                "cannot standardize data holding {} at row {}, column {}",
                v[i],
                i / d,
                i % d
            )));
        }
        let mut mean = vec![0.0; d];
        for row in v.chunks(d) {
            mean.iter_mut().zip(row).for_each(|(m, a)| *m += a);
        }
        mean.iter_mut().for_each(|m| *m /= n as f64);
        // Two-pass variance: subtracting the mean first avoids cancellation.
        let mut var = vec![0.0; d];
        for row in v.chunks(d) {
            for ((s, a), m) in var.iter_mut().zip(row).zip(&mean) {
                *s += (a - m) * (a - m);
            }
        }
        let std = var.iter().map(|s| (s / n as f64).sqrt().max(STD_FLOOR)).collect();
        Ok(Standardizer { mean, std })
    }

    /// An explicit transform; every std must be positive and finite.
    pub fn new(mean: Vec<f64>, std: Vec<f64>) -> Result<Self> {
        if mean.len() != std.len() || mean.is_empty() {
            invalid_arg!(
                "standardizer needs as many means as stds, at least one (got {} and {})",
                mean.len(),
                std.len()
            );
        }
        if mean.iter().any(|m| !m.is_finite()) || std.iter().any(|s| !s.is_finite() || *s <= 0.0) {
            invalid_arg!("standardizer means must be finite and stds positive and finite");
        }
        Ok(Standardizer { mean, std })
    }

    pub fn dim(&self) -> usize {
        self.mean.len()
    }

    /// `(x − mean) / std`, row by row.
    pub fn apply<T: Float>(&self, x: &Tensor<T>) -> Result<Tensor<T>> {
        self.map(x, |a, m, s| (a - m) / s)
    }

    /// `z · std + mean`, the inverse of [`Standardizer::apply`].
    pub fn invert<T: Float>(&self, z: &Tensor<T>) -> Result<Tensor<T>> {
        self.map(z, |a, m, s| a * s + m)
    }

    /// `Σ_i log std_i`: add it to a standardized-units NLL to get the NLL in
    /// the original units (see the module docs for the sign).
    pub fn log_det(&self) -> f64 {
        self.std.iter().map(|s| s.ln()).sum()
    }

    fn map<T: Float>(&self, x: &Tensor<T>, f: impl Fn(f64, f64, f64) -> f64) -> Result<Tensor<T>> {
        let d = self.dim();
        if x.rank() != 2 || x.dims()[1] != d {
            shape_err!("standardizer for {d} columns cannot transform shape {}", x.shape());
        }
        let v = x.to_f64_vec()?;
        let out: Vec<T> = v
            .chunks(d)
            .flat_map(|row| row.iter().zip(&self.mean).zip(&self.std).map(|((a, m), s)| T::from_f64(f(*a, *m, *s))))
            .collect();
        Tensor::from_vec(out, x.dims().to_vec())
    }
}

/// The standardization as checkpoints record it (`null` when there is none).
pub fn standardizer_to_json(st: &Option<Standardizer>) -> Value {
    match st {
        Some(st) => json!({"mean": st.mean, "std": st.std}),
        None => Value::Null,
    }
}

/// Reads [`standardizer_to_json`]'s form.
pub fn standardizer_from_json(v: &Value) -> Result<Option<Standardizer>> {
    if v.is_null() {
        return Ok(None);
    }
    let list = |k: &str| -> Result<Vec<f64>> {
        v.get(k)
            .and_then(Value::as_array)
            .and_then(|a| a.iter().map(Value::as_f64).collect::<Option<Vec<f64>>>())
            .ok_or_else(|| Error::InvalidArgument(format!("the checkpoint's standardization has no valid '{k}'")))
    };
    Ok(Some(Standardizer::new(list("mean")?, list("std")?)?))
}
