//! Eager convolution and resampling ops on channels-last image batches (the
//! layouts are described in [`crate::backend::cpu::conv`]). Images travel as
//! matrices of one row per pixel, `[batch·h·w, c]`, the layout a linear
//! layer's bias and activation already apply to.

use super::{Float, Tensor};
use crate::Result;
use crate::backend::cpu::conv::{ConvGeometry, PoolGeometry};
use crate::backend::cpu::group_norm::GroupGeometry;

impl<T: Float> Tensor<T> {
    /// The patch matrix `[batch·h_out·w_out, kh·kw·c]` of a convolution over
    /// this batch of `[batch, h, w, c]` images (any shape with that many elements).
    pub fn im2col(&self, g: &ConvGeometry) -> Result<Self> {
        let out = self.storage.im2col(g)?;
        Ok(self.with_storage(out, [g.col_rows(), g.col_width()].into()))
    }
    /// The adjoint of [`Tensor::im2col`]: a patch matrix summed back onto
    /// pixels, `[batch·h·w, c]`.
    pub fn col2im(&self, g: &ConvGeometry) -> Result<Self> {
        let out = self.storage.col2im(g)?;
        Ok(self.with_storage(out, [g.batch * g.h * g.w, g.c].into()))
    }
    /// The convolution of `[batch, h, w, c]` images (any shape with that many
    /// elements) with filters `w` of `[kh·kw·c, c_out]`: `[batch·h_out·w_out, c_out]`.
    pub fn conv2d(&self, w: &Self, g: &ConvGeometry) -> Result<Self> {
        let (k, c_out) = w.shape().as_matrix()?;
        if k != g.col_width() {
            crate::shape_err!(
                "a {}×{} kernel over {} channels needs {} filter rows, got {k}",
                g.kh,
                g.kw,
                g.c,
                g.col_width()
            );
        }
        let out = self.storage.conv2d(&w.storage, g, c_out)?;
        Ok(self.with_storage(out, [g.col_rows(), c_out].into()))
    }
    /// The input gradient of [`Tensor::conv2d`] for output gradient `self`: `[batch·h·w, c]`.
    pub fn conv2d_backward_input(&self, w: &Self, g: &ConvGeometry) -> Result<Self> {
        let c_out = w.shape().as_matrix()?.1;
        let out = self.storage.conv2d_backward_input(&w.storage, g, c_out)?;
        Ok(self.with_storage(out, [g.batch * g.h * g.w, g.c].into()))
    }
    /// The filter gradient of [`Tensor::conv2d`] at input `self`: `[kh·kw·c, c_out]`.
    pub fn conv2d_backward_weight(&self, gy: &Self, g: &ConvGeometry) -> Result<Self> {
        let c_out = gy.shape().as_matrix()?.1;
        let out = self.storage.conv2d_backward_weight(&gy.storage, g, c_out)?;
        Ok(self.with_storage(out, [g.col_width(), c_out].into()))
    }
    /// Window sums over non-overlapping `kh×kw` windows: `[batch·(h/kh)·(w/kw), c]`.
    pub fn pool_sum(&self, g: &PoolGeometry) -> Result<Self> {
        let out = self.storage.pool_sum(g)?;
        Ok(self.with_storage(out, [g.batch * (g.h / g.kh) * (g.w / g.kw), g.c].into()))
    }
    /// Nearest-neighbour upsampling of `[batch, h/kh, w/kw, c]` images to `[batch·h·w, c]`.
    pub fn upsample_nearest(&self, g: &PoolGeometry) -> Result<Self> {
        let out = self.storage.upsample_nearest(g)?;
        Ok(self.with_storage(out, [g.batch * g.h * g.w, g.c].into()))
    }

    /// Group normalization of `[images·pixels, C]` rows scaled by `gamma`:
    /// `(γ ⊙ x̂, x̂, r)` with `r = 1/√(σ² + ε)` of `[images, groups]`.
    pub fn group_norm(&self, gamma: &Self, g: &GroupGeometry, eps: f64) -> Result<(Self, Self, Self)> {
        let (y, xh, r) = self.storage.group_norm(&gamma.storage, g, eps)?;
        let rows: crate::tensor::Shape = [g.images * g.pixels, g.channels].into();
        Ok((
            self.with_storage(y, rows.clone()),
            self.with_storage(xh, rows),
            self.with_storage(r, [g.images, g.groups].into()),
        ))
    }
    /// `(gx, gγ)` of [`Tensor::group_norm`] from the output gradient `self`.
    pub fn group_norm_backward(&self, xhat: &Self, r: &Self, gamma: &Self, g: &GroupGeometry) -> Result<(Self, Self)> {
        let (gx, gg) = self.storage.group_norm_backward(&xhat.storage, &r.storage, &gamma.storage, g)?;
        Ok((
            self.with_storage(gx, [g.images * g.pixels, g.channels].into()),
            self.with_storage(gg, [g.channels].into()),
        ))
    }
}
