//! Convolution layers on channels-last image batches: `im2col` and GEMM with
//! the `[kh·kw·c_in, c_out]` filter matrix, fused per run of images
//! ([`Var::conv2d`]).
//!
//! Images travel as matrices of one row per pixel, `[images·h·w, c]`, so the
//! conv output is already laid out for a per-column bias and activation (the
//! fused [`Var::bias_act`] / [`Var::tangent_act`] of the linear layers), and
//! tangent images stacked below the primal ones go through the same GEMM.
//!
//! Derivative: with `P = im2col(x)` and `y = P·W`, `∂L/∂W = Pᵀ·∂L/∂y` and
//! `∂L/∂x = col2im(∂L/∂y·Wᵀ)`; both come from the rules of the two ops.

use super::init::Init;
use super::params::{ParamId, ParamStore, Params};
use crate::Result;
use crate::autodiff::Var;
use crate::backend::cpu::conv::ConvGeometry;
use crate::tensor::random::Rng;
use crate::tensor::{Float, Tensor};
use crate::{invalid_arg, shape_err};

/// `y = conv(x, W)` with a `kh×kw` kernel, zero padding and a stride, no bias
/// (the bias is added with the activation by the caller).
#[derive(Clone, Debug)]
pub struct Conv {
    /// Filter matrix `[kh·kw·c_in, c_out]`, rows ordered `(ky, kx, ci)`.
    pub w: ParamId,
    pub c_in: usize,
    pub c_out: usize,
    pub kh: usize,
    pub kw: usize,
    pub stride: usize,
    pub pad_h: usize,
    pub pad_w: usize,
}

impl Conv {
    /// A `k×k` kernel (`k×1`… use `kh = 1` for signals) with "same" padding
    /// `⌊k/2⌋` and stride 1; weights `U(±1/√fan_in)` as PyTorch's default.
    pub fn new<T: Float>(
        store: &mut ParamStore<T>,
        name: &str,
        c_in: usize,
        c_out: usize,
        (kh, kw): (usize, usize),
        rng: &mut Rng,
    ) -> Result<Self> {
        if c_in == 0 || c_out == 0 || kh == 0 || kw == 0 {
            invalid_arg!("a convolution needs positive channels and kernel sizes, got {c_in}→{c_out}, {kh}×{kw}");
        }
        let w = store.add(format!("{name}.weight"), Init::TorchLinear.weight(kh * kw * c_in, c_out, rng)?)?;
        Ok(Conv { w, c_in, c_out, kh, kw, stride: 1, pad_h: kh / 2, pad_w: kw / 2 })
    }

    /// The geometry over `images` inputs of `h×w` pixels.
    pub fn geometry(&self, images: usize, h: usize, w: usize) -> ConvGeometry {
        ConvGeometry {
            batch: images,
            h,
            w,
            c: self.c_in,
            kh: self.kh,
            kw: self.kw,
            stride_h: if h == 1 && self.kh == 1 { 1 } else { self.stride },
            stride_w: self.stride,
            pad_h: self.pad_h,
            pad_w: self.pad_w,
        }
    }

    fn check(&self, rows: usize, cols: usize, g: &ConvGeometry) -> Result<()> {
        if cols != self.c_in || rows != g.batch * g.h * g.w {
            shape_err!(
                "convolution over {} images of {}×{}×{} needs [{}, {}] rows, got [{rows}, {cols}]",
                g.batch,
                g.h,
                g.w,
                self.c_in,
                g.batch * g.h * g.w,
                self.c_in
            );
        }
        g.validate()
    }

    /// `x` of `[images·h·w, c_in]` to `[images·h_out·w_out, c_out]`, recorded.
    pub fn forward<'t, T: Float>(
        &self,
        p: &Params<'t, T>,
        x: Var<'t, T>,
        images: usize,
        h: usize,
        w: usize,
    ) -> Result<Var<'t, T>> {
        let g = self.geometry(images, h, w);
        let (rows, cols) = x.shape().as_matrix()?;
        self.check(rows, cols, &g)?;
        conv(x, p.var(self.w), &g)
    }

    /// Untracked evaluation.
    pub fn eval<T: Float>(
        &self,
        store: &ParamStore<T>,
        x: &Tensor<T>,
        images: usize,
        h: usize,
        w: usize,
    ) -> Result<Tensor<T>> {
        let g = self.geometry(images, h, w);
        let (rows, cols) = x.shape().as_matrix()?;
        self.check(rows, cols, &g)?;
        if is_pointwise(&g) { x.matmul(store.get(self.w)) } else { x.conv2d(store.get(self.w), &g) }
    }
}

/// A 1×1 kernel without padding or stride reads each pixel alone: its patch
/// matrix is the input itself.
fn is_pointwise(g: &ConvGeometry) -> bool {
    g.kh == 1 && g.kw == 1 && g.stride_h == 1 && g.stride_w == 1 && g.pad_h == 0 && g.pad_w == 0
}

/// `conv(x, w)` for images `x` (any shape with `g.in_len()` elements) and a
/// filter matrix `w` of `[kh·kw·c, c_out]`: `im2col(x)·w`, `[rows_out, c_out]`.
pub fn conv<'t, T: Float>(x: Var<'t, T>, w: Var<'t, T>, g: &ConvGeometry) -> Result<Var<'t, T>> {
    let (k, _) = w.shape().as_matrix()?;
    if k != g.col_width() {
        shape_err!("a {}×{} kernel over {} channels needs {} filter rows, got {k}", g.kh, g.kw, g.c, g.col_width());
    }
    if is_pointwise(g) { x.reshape([g.batch * g.h * g.w, g.c])?.matmul(&w) } else { x.conv2d(&w, g) }
}

/// The direct definition, `y[b, oy, ox, co] = Σ_{ky, kx, ci} x[b, oy·s + ky − p, ox·s + kx − p, ci]·w[(ky, kx, ci), co]`,
/// one loop per index: the reference the fast path is tested against.
pub fn conv_reference(x: &[f64], w: &[f64], g: &ConvGeometry, c_out: usize) -> Vec<f64> {
    let (oh, ow) = (g.out_h(), g.out_w());
    let mut y = vec![0.0; g.batch * oh * ow * c_out];
    for b in 0..g.batch {
        for oy in 0..oh {
            for ox in 0..ow {
                for co in 0..c_out {
                    let mut acc = 0.0;
                    for ky in 0..g.kh {
                        for kx in 0..g.kw {
                            let iy = (oy * g.stride_h + ky) as isize - g.pad_h as isize;
                            let ix = (ox * g.stride_w + kx) as isize - g.pad_w as isize;
                            if iy < 0 || ix < 0 || iy >= g.h as isize || ix >= g.w as isize {
                                continue;
                            }
                            for ci in 0..g.c {
                                let xv = x[((b * g.h + iy as usize) * g.w + ix as usize) * g.c + ci];
                                acc += xv * w[((ky * g.kw + kx) * g.c + ci) * c_out + co];
                            }
                        }
                    }
                    y[((b * oh + oy) * ow + ox) * c_out + co] = acc;
                }
            }
        }
    }
    y
}
