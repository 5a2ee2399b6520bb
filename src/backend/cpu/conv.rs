//! Convolution and resampling kernels on channels-last (NHWC) images: the
//! patch matrix of a convolution (`im2col`) and its adjoint (`col2im`), and
//! the non-overlapping window sum (pooling) with its adjoint, nearest-neighbour
//! upsampling.
//!
//! A convolution is `im2col` followed by one GEMM with the `[kh·kw·c, c_out]`
//! filter matrix: with the images channels-last, the patch rows of the whole
//! batch form one tall matrix `[batch·h_out·w_out, kh·kw·c]`, so the product
//! is a single large GEMM (our packed, threaded kernel) whose output is again
//! channels-last, and a bias + activation applies per column as for a linear
//! layer. A 1-D convolution is the case `h = kh = 1`.
//!
//! Each image is independent, so the kernels split the batch across the
//! thread team; within an image, each patch row is filled by copying runs of
//! `c` contiguous channels.

use super::gemm::Transpose;
use super::team;
use crate::tensor::Float;
use crate::tensor::pool::Buffer;
use crate::{Result, shape_err};

/// Below this many output elements a kernel stays on the calling thread.
const PARALLEL_MIN_ELEMS: usize = 1 << 15;

/// The shape of a 2-D convolution over a batch of channels-last images.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ConvGeometry {
    /// Number of images.
    pub batch: usize,
    /// Input height (1 for a 1-D signal).
    pub h: usize,
    /// Input width (the length of a 1-D signal).
    pub w: usize,
    /// Input channels.
    pub c: usize,
    /// Kernel height.
    pub kh: usize,
    /// Kernel width.
    pub kw: usize,
    pub stride_h: usize,
    pub stride_w: usize,
    /// Zero padding above and below.
    pub pad_h: usize,
    /// Zero padding left and right.
    pub pad_w: usize,
}

impl ConvGeometry {
    /// A square `k×k` kernel with stride `stride` and padding `pad` on both axes.
    pub fn square(batch: usize, h: usize, w: usize, c: usize, k: usize, stride: usize, pad: usize) -> Self {
        ConvGeometry { batch, h, w, c, kh: k, kw: k, stride_h: stride, stride_w: stride, pad_h: pad, pad_w: pad }
    }
    /// A 1-D kernel of length `k` over signals of length `len`.
    pub fn line(batch: usize, len: usize, c: usize, k: usize, stride: usize, pad: usize) -> Self {
        ConvGeometry { batch, h: 1, w: len, c, kh: 1, kw: k, stride_h: 1, stride_w: stride, pad_h: 0, pad_w: pad }
    }
    /// Output height `⌊(h + 2·pad_h − kh)/stride_h⌋ + 1`.
    pub fn out_h(&self) -> usize {
        (self.h + 2 * self.pad_h - self.kh) / self.stride_h + 1
    }
    /// Output width `⌊(w + 2·pad_w − kw)/stride_w⌋ + 1`.
    pub fn out_w(&self) -> usize {
        (self.w + 2 * self.pad_w - self.kw) / self.stride_w + 1
    }
    /// Elements of the input, `batch·h·w·c`.
    pub fn in_len(&self) -> usize {
        self.batch * self.h * self.w * self.c
    }
    /// Columns of the patch matrix, `kh·kw·c`.
    pub fn col_width(&self) -> usize {
        self.kh * self.kw * self.c
    }
    /// Rows of the patch matrix, `batch·h_out·w_out`.
    pub fn col_rows(&self) -> usize {
        self.batch * self.out_h() * self.out_w()
    }
    /// Elements of the patch matrix.
    pub fn cols_len(&self) -> usize {
        self.col_rows() * self.col_width()
    }
    /// An error unless the kernel fits the padded input and strides are positive.
    pub fn validate(&self) -> Result<()> {
        if self.kh == 0 || self.kw == 0 || self.stride_h == 0 || self.stride_w == 0 || self.c == 0 {
            shape_err!("convolution needs positive kernel sizes, strides and channels: {self:?}");
        }
        if self.h + 2 * self.pad_h < self.kh || self.w + 2 * self.pad_w < self.kw {
            shape_err!(
                "a {}×{} kernel does not fit a {}×{} input padded by ({}, {})",
                self.kh,
                self.kw,
                self.h,
                self.w,
                self.pad_h,
                self.pad_w
            );
        }
        Ok(())
    }
}

/// Non-overlapping `kh×kw` windows over a batch of channels-last images.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct PoolGeometry {
    pub batch: usize,
    /// Height of the fine (unpooled) images.
    pub h: usize,
    /// Width of the fine images.
    pub w: usize,
    pub c: usize,
    pub kh: usize,
    pub kw: usize,
}

impl PoolGeometry {
    /// Elements of the fine images.
    pub fn fine_len(&self) -> usize {
        self.batch * self.h * self.w * self.c
    }
    /// Elements of the coarse images, `batch·(h/kh)·(w/kw)·c`.
    pub fn coarse_len(&self) -> usize {
        self.batch * (self.h / self.kh) * (self.w / self.kw) * self.c
    }
    /// An error unless the windows tile the image exactly.
    pub fn validate(&self) -> Result<()> {
        if self.kh == 0 || self.kw == 0 || self.c == 0 {
            shape_err!("pooling needs positive window sizes and channels: {self:?}");
        }
        if !self.h.is_multiple_of(self.kh) || !self.w.is_multiple_of(self.kw) {
            shape_err!("{}×{} windows do not tile a {}×{} image", self.kh, self.kw, self.h, self.w);
        }
        Ok(())
    }
}

/// Splits `out` into one piece per image and runs `f(image, piece)`, across
/// the team when the output is large enough.
fn per_image<T: Float>(out: &mut [T], batch: usize, f: impl Fn(usize, &mut [T]) + Sync) {
    if batch == 0 {
        return;
    }
    let chunk = out.len() / batch;
    if out.len() >= PARALLEL_MIN_ELEMS && batch > 1 {
        team::for_each_chunk_mut(out, chunk, f);
    } else {
        for (i, piece) in out.chunks_mut(chunk.max(1)).enumerate() {
            f(i, piece);
        }
    }
}

/// The input pixel a kernel tap reads, or `None` in the padding.
#[inline(always)]
fn source(o: usize, k: usize, stride: usize, pad: usize, size: usize) -> Option<usize> {
    (o * stride + k).checked_sub(pad).filter(|&i| i < size)
}

/// `cols[(b, oy, ox), (ky, kx, ci)] = x[b, oy·s_h + ky − p_h, ox·s_w + kx − p_w, ci]`
/// (zero in the padding).
pub fn im2col<T: Float>(x: &[T], g: &ConvGeometry, cols: &mut [T]) {
    debug_assert_eq!(x.len(), g.in_len());
    debug_assert_eq!(cols.len(), g.cols_len());
    let image = g.h * g.w * g.c;
    per_image(cols, g.batch, |b, dst| fill_patches(&x[b * image..(b + 1) * image], g, dst));
}

/// The adjoint of [`im2col`]: every patch entry is added back onto the pixel
/// it was read from (`x` is overwritten).
pub fn col2im<T: Float>(cols: &[T], g: &ConvGeometry, x: &mut [T]) {
    debug_assert_eq!(x.len(), g.in_len());
    debug_assert_eq!(cols.len(), g.cols_len());
    let per = g.out_h() * g.out_w() * g.col_width();
    per_image(x, g.batch, |b, dst| add_patches(&cols[b * per..(b + 1) * per], g, dst));
}

/// `out[b, y, x, ci] = Σ_{dy < kh, dx < kw} x[b, y·kh + dy, x·kw + dx, ci]`.
pub fn pool_sum<T: Float>(x: &[T], g: &PoolGeometry, out: &mut [T]) {
    debug_assert_eq!(x.len(), g.fine_len());
    debug_assert_eq!(out.len(), g.coarse_len());
    let (ch, cw, c) = (g.h / g.kh, g.w / g.kw, g.c);
    let image = g.h * g.w * c;
    per_image(out, g.batch, |b, dst| {
        dst.fill(T::ZERO);
        let src = &x[b * image..(b + 1) * image];
        for y in 0..g.h {
            for xx in 0..g.w {
                let d = &mut dst[((y / g.kh) * cw + xx / g.kw) * c..][..c];
                for (d, &s) in d.iter_mut().zip(&src[(y * g.w + xx) * c..][..c]) {
                    *d += s;
                }
            }
        }
        debug_assert_eq!(dst.len(), ch * cw * c);
    });
}

/// `out[b, y, x, ci] = x[b, ⌊y/kh⌋, ⌊x/kw⌋, ci]`: the adjoint of [`pool_sum`].
pub fn upsample_nearest<T: Float>(x: &[T], g: &PoolGeometry, out: &mut [T]) {
    debug_assert_eq!(x.len(), g.coarse_len());
    debug_assert_eq!(out.len(), g.fine_len());
    let (cw, c) = (g.w / g.kw, g.c);
    let coarse = (g.h / g.kh) * cw * c;
    per_image(out, g.batch, |b, dst| {
        let src = &x[b * coarse..(b + 1) * coarse];
        for y in 0..g.h {
            for xx in 0..g.w {
                dst[(y * g.w + xx) * c..][..c].copy_from_slice(&src[((y / g.kh) * cw + xx / g.kw) * c..][..c]);
            }
        }
    });
}

/// Images per task of the fused convolution kernels: enough rows that each
/// task's GEMM is efficient, few enough that every thread gets several tasks
/// (and the per-task patch buffer stays in the last-level cache's neighbourhood).
fn images_per_task(g: &ConvGeometry) -> usize {
    let rows_per_image = (g.out_h() * g.out_w()).max(1);
    let by_threads = g.batch.div_ceil(2 * team::threads()).max(1);
    // About 2048 patch rows per task at most.
    by_threads.min((2048 / rows_per_image).max(1))
}

/// The geometry of images `[lo, hi)` of `g`'s batch.
fn part(g: &ConvGeometry, lo: usize, hi: usize) -> ConvGeometry {
    ConvGeometry { batch: hi - lo, ..*g }
}

/// `y = im2col(x)·w` for filters `w` of `[kh·kw·c, c_out]`: each task takes a
/// run of images, builds their patch rows in its own buffer and multiplies
/// them with one single-threaded GEMM (tasks run across the team), so the
/// whole patch matrix never exists at once.
pub fn conv_forward<T: Float>(x: &[T], w: &[T], g: &ConvGeometry, c_out: usize, y: &mut [T]) {
    let (k, rows_per_image) = (g.col_width(), g.out_h() * g.out_w());
    debug_assert_eq!(y.len(), g.col_rows() * c_out);
    let per = images_per_task(g);
    let image = g.h * g.w * g.c;
    team::for_each_chunk_mut(y, per * rows_per_image * c_out, |task, out| {
        let lo = task * per;
        let n = out.len() / (rows_per_image * c_out);
        let pg = part(g, lo, lo + n);
        let mut cols = Buffer::<T>::uninit(pg.cols_len());
        im2col_serial(&x[lo * image..(lo + n) * image], &pg, &mut cols);
        super::gemm::gemm(
            Transpose::No,
            Transpose::No,
            pg.col_rows(),
            c_out,
            k,
            T::ONE,
            &cols,
            k,
            w,
            c_out,
            T::ZERO,
            out,
            c_out,
        );
    });
}

/// `gx = col2im(gy·wᵀ)`, the input gradient of [`conv_forward`], per run of images.
pub fn conv_backward_input<T: Float>(gy: &[T], w: &[T], g: &ConvGeometry, c_out: usize, gx: &mut [T]) {
    let (k, rows_per_image) = (g.col_width(), g.out_h() * g.out_w());
    let per = images_per_task(g);
    let image = g.h * g.w * g.c;
    team::for_each_chunk_mut(gx, per * image, |task, out| {
        let lo = task * per;
        let n = out.len() / image;
        let pg = part(g, lo, lo + n);
        let mut cols = Buffer::<T>::uninit(pg.cols_len());
        let rows = n * rows_per_image;
        super::gemm::gemm(
            Transpose::No,
            Transpose::Yes,
            rows,
            k,
            c_out,
            T::ONE,
            &gy[lo * rows_per_image * c_out..][..rows * c_out],
            c_out,
            w,
            c_out,
            T::ZERO,
            &mut cols,
            k,
        );
        col2im_serial(&cols, &pg, out);
    });
}

/// `gw = im2col(x)ᵀ·gy`, the filter gradient of [`conv_forward`]: each task
/// accumulates its run of images into its own `[kh·kw·c, c_out]` partial
/// sum, and the partial sums are added in task order (so the result does
/// not depend on the thread count).
pub fn conv_backward_weight<T: Float>(x: &[T], gy: &[T], g: &ConvGeometry, c_out: usize, gw: &mut [T]) {
    let (k, rows_per_image) = (g.col_width(), g.out_h() * g.out_w());
    // Fixed task size (not thread-dependent): bits do not depend on the thread count.
    let per = (g.batch.div_ceil(8)).min((2048 / rows_per_image.max(1)).max(1)).max(1);
    let tasks = g.batch.div_ceil(per);
    let image = g.h * g.w * g.c;
    let partials = team::map_collect(tasks, |task| {
        let lo = task * per;
        let n = per.min(g.batch - lo);
        let pg = part(g, lo, lo + n);
        let mut cols = Buffer::<T>::uninit(pg.cols_len());
        im2col_serial(&x[lo * image..(lo + n) * image], &pg, &mut cols);
        let rows = n * rows_per_image;
        let mut out = Buffer::<T>::uninit(k * c_out);
        super::gemm::gemm(
            Transpose::Yes,
            Transpose::No,
            k,
            c_out,
            rows,
            T::ONE,
            &cols,
            k,
            &gy[lo * rows_per_image * c_out..][..rows * c_out],
            c_out,
            T::ZERO,
            &mut out,
            c_out,
        );
        out
    });
    gw.fill(T::ZERO);
    for p in partials {
        for (a, &b) in gw.iter_mut().zip(p.iter()) {
            *a += b;
        }
    }
}

/// [`im2col`] on the calling thread (inside a task).
fn im2col_serial<T: Float>(x: &[T], g: &ConvGeometry, cols: &mut [T]) {
    let (oh, ow, c, cw) = (g.out_h(), g.out_w(), g.c, g.col_width());
    let image = g.h * g.w * c;
    for (b, dst) in cols.chunks_mut(oh * ow * cw).enumerate() {
        let src = &x[b * image..(b + 1) * image];
        fill_patches(src, g, dst);
    }
}

/// [`col2im`] on the calling thread (inside a task).
fn col2im_serial<T: Float>(cols: &[T], g: &ConvGeometry, x: &mut [T]) {
    let (oh, ow, cw) = (g.out_h(), g.out_w(), g.col_width());
    let image = g.h * g.w * g.c;
    for (b, dst) in x.chunks_mut(image).enumerate() {
        add_patches(&cols[b * oh * ow * cw..(b + 1) * oh * ow * cw], g, dst);
    }
}

/// The patch rows of one image.
fn fill_patches<T: Float>(src: &[T], g: &ConvGeometry, dst: &mut [T]) {
    let (oh, ow, c, cw) = (g.out_h(), g.out_w(), g.c, g.col_width());
    for oy in 0..oh {
        for ox in 0..ow {
            let row = &mut dst[(oy * ow + ox) * cw..(oy * ow + ox + 1) * cw];
            for ky in 0..g.kh {
                let iy = source(oy, ky, g.stride_h, g.pad_h, g.h);
                for kx in 0..g.kw {
                    let tap = &mut row[(ky * g.kw + kx) * c..(ky * g.kw + kx + 1) * c];
                    match (iy, source(ox, kx, g.stride_w, g.pad_w, g.w)) {
                        (Some(iy), Some(ix)) => tap.copy_from_slice(&src[(iy * g.w + ix) * c..][..c]),
                        _ => tap.fill(T::ZERO),
                    }
                }
            }
        }
    }
}

/// One image's patch rows added back onto its pixels (`dst` overwritten).
fn add_patches<T: Float>(src: &[T], g: &ConvGeometry, dst: &mut [T]) {
    let (oh, ow, c, cw) = (g.out_h(), g.out_w(), g.c, g.col_width());
    dst.fill(T::ZERO);
    for oy in 0..oh {
        for ox in 0..ow {
            let row = &src[(oy * ow + ox) * cw..(oy * ow + ox + 1) * cw];
            for ky in 0..g.kh {
                let Some(iy) = source(oy, ky, g.stride_h, g.pad_h, g.h) else { continue };
                for kx in 0..g.kw {
                    let Some(ix) = source(ox, kx, g.stride_w, g.pad_w, g.w) else { continue };
                    let tap = &row[(ky * g.kw + kx) * c..(ky * g.kw + kx + 1) * c];
                    for (d, &s) in dst[(iy * g.w + ix) * c..][..c].iter_mut().zip(tap) {
                        *d += s;
                    }
                }
            }
        }
    }
}
