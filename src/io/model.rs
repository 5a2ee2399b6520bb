//! A trained model for embedding in another program: load the directory
//! that `wasserflow train` wrote (or its `checkpoints/` folder), then ask for
//! log-densities, samples or the transport to the latent space, all in the
//! data's own units (the run's standardization is applied and undone here).
//!
//! ```no_run
//! use wasserflow::io::Model;
//! let model = Model::load("runs/demo")?;
//! let x = model.sample(1000, 7)?;          // [1000, d] points from the model
//! let log_p = model.log_prob(&x)?;         // their log-densities, in nats
//! let z = model.transport(&x)?;            // their images under the flow
//! # Ok::<(), wasserflow::Error>(())
//! ```

use std::path::Path;

use super::checkpoint::load_flow;
use crate::data::Standardizer;
use crate::data::standardize::standardizer_from_json;
use crate::density::{Divergence, Probe};
use crate::flows::{BlockFlow, EvalOptions};
use crate::io::json::Value;
use crate::tensor::Tensor;
use crate::{Error, Result, Rng, shape_err};

/// Above this dimension the log-density uses Hutchinson's estimator (one
/// Rademacher probe per point) instead of the exact trace, as `eval` does.
pub const EXACT_DIVERGENCE_MAX_DIM: usize = 16;

/// How a trained flow's log-density is evaluated in `dim` dimensions: the
/// exact trace where it is affordable, Hutchinson's estimator above, and the
/// discrete map's log-determinant for a flow trained on it (`jacobian`).
pub fn evaluation_divergence(dim: usize, jacobian: bool) -> Divergence {
    if dim > EXACT_DIVERGENCE_MAX_DIM {
        Divergence::Hutchinson { probes: 1, probe: Probe::Rademacher }
    } else if jacobian {
        Divergence::DiscreteJacobian
    } else {
        Divergence::Exact
    }
}

/// A trained flow with its data standardization.
pub struct Model {
    flow: BlockFlow<f32>,
    standardizer: Option<Standardizer>,
    opts: EvalOptions,
}

impl Model {
    /// Loads a run directory (the one holding `checkpoints/`) or a folder of
    /// `block-NNNN.safetensors` files.
    pub fn load(path: impl AsRef<Path>) -> Result<Model> {
        let path = path.as_ref();
        let nested = path.join("checkpoints");
        let dir = if nested.is_dir() { nested } else { path.to_path_buf() };
        let (flow, infos) = load_flow::<f32>(&dir)?;
        let first = infos.first().ok_or_else(|| Error::Format { path: dir.clone(), message: "no blocks".into() })?;
        let standardization = first.run.get("standardization").cloned().unwrap_or(Value::Null);
        let standardizer = standardizer_from_json(&standardization)?;
        if let Some(st) = &standardizer
            && st.dim() != flow.dim
        {
            return Err(Error::Format {
                path: dir,
                message: format!("the standardization has {} dimensions, the flow {}", st.dim(), flow.dim),
            });
        }
        let trained_on_jacobian = flow.blocks.iter().any(|b| b.spec.divergence.carries_jacobian());
        let divergence = evaluation_divergence(flow.dim, trained_on_jacobian);
        Ok(Model { flow, standardizer, opts: EvalOptions { divergence: Some(divergence), ..EvalOptions::default() } })
    }

    /// The dimension of the points.
    pub fn dim(&self) -> usize {
        self.flow.dim
    }

    /// The number of flow blocks.
    pub fn blocks(&self) -> usize {
        self.flow.len()
    }

    /// The same model evaluated with other solver options (a finer step, Dopri5, ...).
    pub fn with_options(mut self, opts: EvalOptions) -> Self {
        self.opts = opts;
        self
    }

    fn check(&self, x: &Tensor<f32>) -> Result<()> {
        match x.dims() {
            [_, d] if *d == self.dim() => Ok(()),
            _ => shape_err!("the model takes points of shape [n, {}], got {}", self.dim(), x.shape()),
        }
    }

    fn standardized(&self, x: &Tensor<f32>) -> Result<Tensor<f32>> {
        match &self.standardizer {
            Some(st) => st.apply(x),
            None => Ok(x.clone()),
        }
    }

    /// `log p(x)` per row of `x` (`[n, d]`), in nats in the data's units.
    /// Hutchinson probes (d > 16) are drawn from a fixed seed, so the same
    /// points give the same numbers.
    pub fn log_prob(&self, x: &Tensor<f32>) -> Result<Vec<f64>> {
        self.check(x)?;
        let log_det = self.standardizer.as_ref().map_or(0.0, Standardizer::log_det);
        let lp = self.flow.log_prob(&self.standardized(x)?, 4096, &mut Rng::seed(0), self.opts)?;
        Ok(lp.into_iter().map(|l| l - log_det).collect())
    }

    /// `n` points drawn from the model with `seed`.
    pub fn sample(&self, n: usize, seed: u64) -> Result<Tensor<f32>> {
        let z = self.flow.sample(n, &mut Rng::seed(seed), self.opts)?;
        match &self.standardizer {
            Some(st) => st.invert(&z),
            None => Ok(z),
        }
    }

    /// The flow's map from data to the latent space (≈ N(0, I) when trained well).
    pub fn transport(&self, x: &Tensor<f32>) -> Result<Tensor<f32>> {
        self.check(x)?;
        self.flow.transport(&self.standardized(x)?, self.opts)
    }

    /// The inverse map, from latent points to data.
    pub fn invert(&self, z: &Tensor<f32>) -> Result<Tensor<f32>> {
        self.check(z)?;
        let x = self.flow.invert(z, self.opts)?;
        match &self.standardizer {
            Some(st) => st.invert(&x),
            None => Ok(x),
        }
    }
}
