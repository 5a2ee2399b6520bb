//! A small U-Net velocity field `v(x, t)` for images (2-D) and signals (1-D).
//!
//! Points are `[batch, d]` with `d = h·w·c` in channels-last order (for one
//! channel: the pixels row by row, as the image datasets store them; for a
//! signal, `h = 1`). Internally each image is one row per pixel,
//! `[images·h·w, c]` (see [`super::conv`]).
//!
//! Architecture, for widths `w₀ … w_{L−1}` (L levels) and `n` blocks per level:
//! the encoder runs `n` blocks at level `l`, keeps the result as a skip and
//! halves the resolution by 2×2 average pooling (1×2 for signals); the
//! decoder upsamples by nearest neighbour, concatenates the skip along the
//! channels and runs `n` blocks back down to `w_l`; a final 3×3 convolution
//! with bias maps `w₀` to the data's channels. A block is
//! `SiLU(GN(conv₃ₓ₃(h)) + β + P·e(t))`: convolution, group norm, and a
//! per-channel shift made of the norm's `β` and a projection of the time
//! embedding `e(t)` ([`super::time_embedding`]), applied in the fused
//! bias + activation.
//!
//! Forward-mode tangents (for divergences): convolutions, pooling,
//! upsampling and concatenation are linear and act on tangent images as on
//! primal ones (no bias); group norm uses the primal's statistics
//! ([`GroupNorm::forward_with_tangents`]); the SiLU multiplies by `σ'` of the
//! primal pre-activation ([`Var::tangent_act`]); the time embedding does not
//! depend on `x` and only shifts primal rows.

use super::conv::Conv;
use super::field::{VelocityField, check_tangents};
use super::group_norm::GroupNorm;
use super::init::Init;
use super::linear::Linear;
use super::params::{ParamId, ParamStore, Params};
use super::time_embedding::TimeEmbedding;
use crate::autodiff::{Tape, Var};
use crate::backend::Activation;
use crate::backend::cpu::conv::PoolGeometry;
use crate::tensor::random::Rng;
use crate::tensor::{Float, Tensor};
use crate::{Result, invalid_arg, shape_err};

/// What a U-Net is built for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UNetSpec {
    /// Channels of the data.
    pub channels: usize,
    /// Image height (1 for signals).
    pub height: usize,
    /// Image width (signal length).
    pub width: usize,
    /// Channel width of each level, finest first; `L = widths.len()` levels
    /// and `L − 1` poolings, so `height` and `width` must be divisible by `2^{L−1}`
    /// (only `width` for signals).
    pub widths: Vec<usize>,
    /// Blocks per level on each side.
    pub blocks: usize,
    /// Width of the time embedding.
    pub time_dim: usize,
    /// Sinusoid frequencies of the time embedding.
    pub time_freqs: usize,
    /// Most groups of a group norm.
    pub max_groups: usize,
}

impl UNetSpec {
    /// Defaults around the given shape and widths: one block per level, a
    /// 64-wide time embedding of 16 frequencies, up to 8 groups.
    pub fn new(channels: usize, height: usize, width: usize, widths: &[usize]) -> Self {
        UNetSpec {
            channels,
            height,
            width,
            widths: widths.to_vec(),
            blocks: 1,
            time_dim: 64,
            time_freqs: 16,
            max_groups: 8,
        }
    }
    /// Whether this is a 1-D (signal) network.
    pub fn is_1d(&self) -> bool {
        self.height == 1
    }
    /// The kernel of the convolutions: 3×3, or 1×3 for signals.
    fn kernel(&self) -> (usize, usize) {
        if self.is_1d() { (1, 3) } else { (3, 3) }
    }
    /// The pooling window: 2×2, or 1×2 for signals.
    fn window(&self) -> (usize, usize) {
        if self.is_1d() { (1, 2) } else { (2, 2) }
    }
    /// `d = c·h·w`.
    pub fn dim(&self) -> usize {
        self.channels * self.height * self.width
    }
    fn validate(&self) -> Result<()> {
        if self.channels == 0 || self.height == 0 || self.width == 0 {
            invalid_arg!("a U-Net needs positive channels, height and width, got {self:?}");
        }
        if self.widths.is_empty() || self.widths.contains(&0) {
            invalid_arg!("U-Net widths must be a non-empty list of positive numbers, got {:?}", self.widths);
        }
        if self.blocks == 0 || self.time_dim == 0 || self.time_freqs == 0 || self.max_groups == 0 {
            invalid_arg!("U-Net blocks, time width, frequencies and groups must be positive, got {self:?}");
        }
        let scale = 1usize << (self.widths.len() - 1);
        let (wh, ww) = self.window();
        if !self.height.is_multiple_of(wh.pow(self.widths.len() as u32 - 1))
            || !self.width.is_multiple_of(ww.pow(self.widths.len() as u32 - 1))
        {
            invalid_arg!(
                "a {}-level U-Net halves the resolution {} times: {}×{} is not divisible by {scale}",
                self.widths.len(),
                self.widths.len() - 1,
                self.height,
                self.width
            );
        }
        Ok(())
    }
}

/// `SiLU(GN(conv(h)) + β + P·e(t))`.
#[derive(Clone, Debug)]
struct Block {
    conv: Conv,
    norm: GroupNorm,
    time: Linear,
}

/// How the time enters: one embedding for all rows, or one per image.
#[derive(Clone, Copy)]
enum TimeInput<'t, T: Float> {
    Shared(Var<'t, T>),
    PerImage(Var<'t, T>),
}

/// Rows of images at one resolution, with the tangent images (if any)
/// stacked below the first `primal` ones.
#[derive(Clone, Copy)]
struct Layout {
    images: usize,
    primal: Option<usize>,
    h: usize,
    w: usize,
}

impl Block {
    fn new<T: Float>(
        store: &mut ParamStore<T>,
        name: &str,
        c_in: usize,
        c_out: usize,
        spec: &UNetSpec,
        rng: &mut Rng,
    ) -> Result<Self> {
        Ok(Block {
            conv: Conv::new(store, &format!("{name}.conv"), c_in, c_out, spec.kernel(), rng)?,
            norm: GroupNorm::new(store, &format!("{name}.norm"), c_out, spec.max_groups)?,
            time: Linear::new(store, &format!("{name}.time"), spec.time_dim, c_out, Init::TorchLinear, rng)?,
        })
    }

    fn forward<'t, T: Float>(
        &self,
        p: &Params<'t, T>,
        h: Var<'t, T>,
        at: Layout,
        time: TimeInput<'t, T>,
    ) -> Result<Var<'t, T>> {
        let z = self.conv.forward(p, h, at.images, at.h, at.w)?;
        let pixels = at.h * at.w;
        let c = self.conv.c_out;
        let beta = p.var(self.norm.beta);
        match (time, at.primal) {
            (TimeInput::Shared(e), primal) => {
                let shift = e.affine(&p.var(self.time.w), &p.var(self.time.b))?.reshape([c])?.add(&beta)?;
                match primal {
                    None => self.norm.forward(p, z, at.images, pixels)?.bias_act(&shift, Activation::Silu),
                    Some(batch) => self.norm.forward_with_tangents(p, z, batch, pixels)?.tangent_act(
                        &shift,
                        batch * pixels,
                        Activation::Silu,
                    ),
                }
            }
            (TimeInput::PerImage(e), None) => {
                let shift = e.affine(&p.var(self.time.w), &p.var(self.time.b))?.add(&beta)?;
                let n = self.norm.forward(p, z, at.images, pixels)?.reshape([at.images, pixels, c])?;
                n.add(&shift.reshape([at.images, 1, c])?)?.silu()?.reshape([at.images * pixels, c])
            }
            (TimeInput::PerImage(_), Some(_)) => invalid_arg!("per-image times with tangents are not supported"),
        }
    }
}

/// The U-Net velocity field (see the module header).
#[derive(Clone, Debug)]
pub struct UNet {
    pub spec: UNetSpec,
    time: TimeEmbedding,
    down: Vec<Vec<Block>>,
    up: Vec<Vec<Block>>,
    out: Conv,
    out_bias: ParamId,
}

impl UNet {
    /// Creates the parameters in `store`, named `{name}.…`.
    pub fn new<T: Float>(store: &mut ParamStore<T>, name: &str, spec: UNetSpec, rng: &mut Rng) -> Result<Self> {
        spec.validate()?;
        let time = TimeEmbedding::new(store, &format!("{name}.time"), spec.time_freqs, spec.time_dim, rng)?;
        let ws = &spec.widths;
        let mut down = Vec::new();
        for (l, &w) in ws.iter().enumerate() {
            let mut blocks = Vec::new();
            for b in 0..spec.blocks {
                let c_in = if b > 0 {
                    w
                } else if l == 0 {
                    spec.channels
                } else {
                    ws[l - 1]
                };
                blocks.push(Block::new(store, &format!("{name}.down{l}.{b}"), c_in, w, &spec, rng)?);
            }
            down.push(blocks);
        }
        let mut up = Vec::new();
        for l in 0..ws.len() - 1 {
            let mut blocks = Vec::new();
            for b in 0..spec.blocks {
                let c_in = if b > 0 { ws[l] } else { ws[l + 1] + ws[l] };
                blocks.push(Block::new(store, &format!("{name}.up{l}.{b}"), c_in, ws[l], &spec, rng)?);
            }
            up.push(blocks);
        }
        let out = Conv::new(store, &format!("{name}.out"), ws[0], spec.channels, spec.kernel(), rng)?;
        let fan_in = out.kh * out.kw * ws[0];
        let out_bias = store.add(format!("{name}.out.bias"), Init::TorchLinear.bias(fan_in, spec.channels, rng)?)?;
        Ok(UNet { spec, time, down, up, out, out_bias })
    }

    /// The last convolution's weight and bias: zeroing them makes `v ≡ 0`.
    pub fn output_params(&self) -> Vec<ParamId> {
        vec![self.out.w, self.out_bias]
    }

    fn check_points<T: Float>(&self, x: &Tensor<T>) -> Result<usize> {
        match x.dims() {
            [b, d] if *d == self.spec.dim() => Ok(*b),
            _ => shape_err!(
                "a U-Net on {}×{}×{} expects points of shape [batch, {}], got {}",
                self.spec.height,
                self.spec.width,
                self.spec.channels,
                self.spec.dim(),
                x.shape()
            ),
        }
    }

    /// The network on `images` stacked images as rows `[images·h·w, c]`.
    fn run<'t, T: Float>(
        &self,
        p: &Params<'t, T>,
        x: Var<'t, T>,
        images: usize,
        primal: Option<usize>,
        time: TimeInput<'t, T>,
    ) -> Result<Var<'t, T>> {
        let (wh, ww) = self.spec.window();
        let mut at = Layout { images, primal, h: self.spec.height, w: self.spec.width };
        let mut h = x.reshape([images * at.h * at.w, self.spec.channels])?;
        let mut skips = Vec::new();
        let levels = self.spec.widths.len();
        for (l, blocks) in self.down.iter().enumerate() {
            for b in blocks {
                h = b.forward(p, h, at, time)?;
            }
            if l + 1 < levels {
                skips.push(h);
                let g = PoolGeometry { batch: images, h: at.h, w: at.w, c: self.spec.widths[l], kh: wh, kw: ww };
                h = h.avg_pool(&g)?;
                at.h /= wh;
                at.w /= ww;
            }
        }
        for l in (0..levels - 1).rev() {
            let g =
                PoolGeometry { batch: images, h: at.h * wh, w: at.w * ww, c: self.spec.widths[l + 1], kh: wh, kw: ww };
            h = h.upsample_nearest(&g)?;
            at.h *= wh;
            at.w *= ww;
            h = Var::concat(&[h, skips[l]], 1)?;
            for b in &self.up[l] {
                h = b.forward(p, h, at, time)?;
            }
        }
        let z = self.out.forward(p, h, images, at.h, at.w)?;
        let bias = p.var(self.out_bias);
        let y = match primal {
            None => z.bias_act(&bias, Activation::Identity)?,
            Some(batch) => z.tangent_act(&bias, batch * at.h * at.w, Activation::Identity)?,
        };
        y.reshape([images, self.spec.dim()])
    }
}

impl<T: Float> VelocityField<T> for UNet {
    fn dim(&self) -> usize {
        self.spec.dim()
    }

    fn forward<'t>(&self, p: &Params<'t, T>, x: Var<'t, T>, t: f64) -> Result<Var<'t, T>> {
        let batch = self.check_points(&x.value())?;
        let e = self.time.forward(p, t, x.value().device())?;
        self.run(p, x, batch, None, TimeInput::Shared(e))
    }

    fn forward_with_tangents<'t>(
        &self,
        p: &Params<'t, T>,
        x: Var<'t, T>,
        t: f64,
        tangents: Var<'t, T>,
    ) -> Result<(Var<'t, T>, Var<'t, T>)> {
        let batch = self.check_points(&x.value())?;
        let (_, k) = check_tangents(&x.value(), &tangents.value(), self.spec.dim())?;
        let rows = k * batch;
        let e = self.time.forward(p, t, x.value().device())?;
        let images = batch + rows;
        let out = self.run(p, Var::concat(&[x, tangents], 0)?, images, Some(batch), TimeInput::Shared(e))?;
        Ok((out.slice(0, 0, batch)?, out.slice(0, batch, rows)?))
    }

    fn eval(&self, store: &ParamStore<T>, x: &Tensor<T>, t: f64) -> Result<Tensor<T>> {
        // One throwaway tape with frozen parameters: no gradient bookkeeping,
        // and the intermediates are freed when it drops.
        let tape = Tape::new();
        let p = store.attach_frozen(&tape);
        let y = self.forward(&p, tape.constant(x.clone()), t)?;
        Ok(y.value())
    }

    fn forward_rows<'t>(&self, p: &Params<'t, T>, x: Var<'t, T>, t: Var<'t, T>) -> Result<Var<'t, T>> {
        let batch = self.check_points(&x.value())?;
        if t.shape().dims() != [batch, 1] {
            shape_err!("per-row times for {batch} points must have shape [{batch}, 1], got {}", t.shape());
        }
        let e = self.time.forward_rows(p, t)?;
        self.run(p, x, batch, None, TimeInput::PerImage(e))
    }
}
