//! Group normalization (Wu & He 2018) of channels-last image batches, with
//! forward-mode tangents.
//!
//! For images as rows `[images·pixels, C]` and `G` groups of `C/G` channels,
//! each (image, group) block is standardized over its pixels and channels:
//! `x̂ = (x − μ)/s` with `μ` the block mean and `s = √(σ² + ε)`, then scaled per
//! channel, `y = γ ⊙ x̂` (the shift `β` is left to the caller, which adds it
//! together with the time embedding inside the fused bias + activation).
//!
//! Derivatives: [`GroupNorm::forward`] is one fused kernel each way
//! ([`crate::backend::cpu::group_norm`], which gives the reverse rule). The
//! tangent path is a composite of means, differences and products on the
//! tape, so that its own gradient (through the primal's statistics) comes
//! from the tape too. The forward-mode tangent, for a
//! tangent `u` of `x`, is `dx̂ = (u − mean(u) − x̂ ⊙ mean(x̂ ⊙ u))/s` with the
//! means over the same block, and `dy = γ ⊙ dx̂`: linear in `u`, with the
//! primal's statistics.

use super::params::{ParamId, ParamStore, Params};
use crate::autodiff::Var;
use crate::backend::cpu::group_norm::GroupGeometry;
use crate::tensor::{Float, Tensor};
use crate::{Result, invalid_arg, shape_err};

/// Per-channel scale `γ` (init 1) and shift `β` (init 0) of a group norm.
#[derive(Clone, Debug)]
pub struct GroupNorm {
    pub gamma: ParamId,
    pub beta: ParamId,
    pub channels: usize,
    pub groups: usize,
    pub eps: f64,
}

/// The largest group count `≤ max_groups` that divides `channels`.
pub fn group_count(channels: usize, max_groups: usize) -> usize {
    (1..=max_groups.max(1).min(channels.max(1))).rev().find(|g| channels.is_multiple_of(*g)).unwrap_or(1)
}

impl GroupNorm {
    /// Adds `{name}.gamma` and `{name}.beta`; the group count is the largest
    /// divisor of `channels` not above `max_groups`.
    pub fn new<T: Float>(store: &mut ParamStore<T>, name: &str, channels: usize, max_groups: usize) -> Result<Self> {
        if channels == 0 {
            invalid_arg!("group norm over zero channels");
        }
        let gamma = store.add(format!("{name}.gamma"), Tensor::ones([channels]))?;
        let beta = store.add(format!("{name}.beta"), Tensor::zeros([channels]))?;
        Ok(GroupNorm { gamma, beta, channels, groups: group_count(channels, max_groups), eps: 1e-5 })
    }

    fn check(&self, x: &Var<'_, impl Float>, images: usize, pixels: usize) -> Result<()> {
        let (rows, cols) = x.shape().as_matrix()?;
        if cols != self.channels || rows != images * pixels {
            shape_err!(
                "group norm over {images} images of {pixels} pixels × {} channels got [{rows}, {cols}]",
                self.channels
            );
        }
        Ok(())
    }

    /// Block means of `x` viewed as `[n, pixels, G, C/G]`, shape `[n, 1, G, 1]`.
    fn block_mean<'t, T: Float>(&self, x: Var<'t, T>) -> Result<Var<'t, T>> {
        let dims = x.shape().dims().to_vec();
        let count = (dims[1] * dims[3]) as f64;
        x.sum_axis(3, true)?.sum_axis(1, true)?.mul_scalar(1.0 / count)
    }

    /// `(x̂, 1/s)` for `x` of `[images·pixels, C]`: `x̂` as `[images, pixels, G, C/G]`.
    fn standardize<'t, T: Float>(
        &self,
        x: Var<'t, T>,
        images: usize,
        pixels: usize,
    ) -> Result<(Var<'t, T>, Var<'t, T>)> {
        let x = x.reshape([images, pixels, self.groups, self.channels / self.groups])?;
        let centred = x.sub(&self.block_mean(x)?)?;
        let var = self.block_mean(centred.square()?)?;
        let inv_s = var.add_scalar(self.eps)?.sqrt()?.recip()?;
        Ok((centred.mul(&inv_s)?, inv_s))
    }

    /// `γ ⊙ x̂` for `x` of `[images·pixels, C]`, recorded.
    pub fn forward<'t, T: Float>(
        &self,
        p: &Params<'t, T>,
        x: Var<'t, T>,
        images: usize,
        pixels: usize,
    ) -> Result<Var<'t, T>> {
        self.check(&x, images, pixels)?;
        let g = GroupGeometry { images, pixels, channels: self.channels, groups: self.groups };
        let gamma = p.var(self.gamma);
        let (y, xhat, r) = x.value().group_norm(&gamma.value(), &g, self.eps)?;
        Ok(x.tape().custom(&[x, gamma], y, move |inputs, _, gy| {
            let (gx, ggamma) = gy.group_norm_backward(&xhat, &r, &inputs[1], &g)?;
            Ok(vec![Some(gx), Some(ggamma)])
        }))
    }

    /// The same with tangent images stacked below `batch` primal ones: `x`
    /// is `[(1+k)·batch·pixels, C]`; primal rows get `γ ⊙ x̂`, tangent rows
    /// `γ ⊙ dx̂` (see the module header).
    pub fn forward_with_tangents<'t, T: Float>(
        &self,
        p: &Params<'t, T>,
        x: Var<'t, T>,
        batch: usize,
        pixels: usize,
    ) -> Result<Var<'t, T>> {
        let rows = x.shape().as_matrix()?.0;
        let primal_rows = batch * pixels;
        if batch == 0 || rows % primal_rows != 0 {
            shape_err!("{rows} rows do not stack tangents over {batch} images of {pixels} pixels");
        }
        let k = rows / primal_rows - 1;
        self.check(&x, batch * (k + 1), pixels)?;
        let (xhat, inv_s) = self.standardize(x.slice(0, 0, primal_rows)?, batch, pixels)?;
        let gamma = p.var(self.gamma);
        let primal = xhat.reshape([primal_rows, self.channels])?.mul(&gamma)?;
        if k == 0 {
            return Ok(primal);
        }
        let (g, cg) = (self.groups, self.channels / self.groups);
        // Tangent j of image i is image j·batch + i: a leading axis of k.
        let u = x.slice(0, primal_rows, k * primal_rows)?.reshape([k, batch, pixels, g, cg])?;
        let xhat5 = xhat.reshape([1, batch, pixels, g, cg])?;
        let count = (pixels * cg) as f64;
        let mean5 =
            |v: Var<'t, T>| -> Result<Var<'t, T>> { v.sum_axis(4, true)?.sum_axis(2, true)?.mul_scalar(1.0 / count) };
        let du = u.sub(&mean5(u)?)?.sub(&xhat5.mul(&mean5(xhat5.mul(&u)?)?)?)?;
        let du = du.mul(&inv_s.reshape([1, batch, 1, g, 1])?)?;
        let tangent = du.reshape([k * primal_rows, self.channels])?.mul(&gamma)?;
        Var::concat(&[primal, tangent], 0)
    }
}
