//! Group normalization of channels-last images in one pass each way.
//!
//! `x` is `[images·pixels, C]`; each image's `G` groups of `C/G` channels are
//! standardized over the group's pixels and channels, `x̂ = (x − μ)·r` with
//! `r = 1/√(σ² + ε)`, and scaled per channel, `y = γ ⊙ x̂`.
//!
//! The reverse rule for `ĝ = γ ⊙ g` (`g` the gradient of `y`) is, per block,
//! `gx = r·(ĝ − mean(ĝ) − x̂ ⊙ mean(ĝ ⊙ x̂))`, and `gγ = Σ_rows g ⊙ x̂`.
//! Composed of broadcasting ops these take a dozen passes over the
//! activations; here the forward reads `x` twice (mean, then variance about
//! it, for accuracy) and writes `x̂` and `y`, the backward reads `g` and `x̂`
//! twice and writes `gx`. Images are split across the team; the per-channel
//! `gγ` partial sums are added in image-run order, so the result does not
//! depend on the thread count.

use super::team::{self, SharedMut};
use crate::tensor::Float;

/// The shape of a group norm: `images` images of `pixels` rows of `channels`
/// columns, in `groups` groups of consecutive channels.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GroupGeometry {
    pub images: usize,
    pub pixels: usize,
    pub channels: usize,
    pub groups: usize,
}

impl GroupGeometry {
    pub fn len(&self) -> usize {
        self.images * self.pixels * self.channels
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    fn image_len(&self) -> usize {
        self.pixels * self.channels
    }
    fn group_width(&self) -> usize {
        self.channels / self.groups
    }
}

/// Images per task: a fixed count (not thread-dependent), so that the order
/// of the `gγ` partial sums is fixed.
const IMAGES_PER_TASK: usize = 4;

/// Per-channel sums over an image's rows: `acc[j] += f(row[j], j)` (the
/// passes run along the rows, vectorized across channels).
fn per_channel<T: Float>(rows: &[T], c: usize, acc: &mut [T], f: impl Fn(T, usize) -> T) {
    for row in rows.chunks_exact(c) {
        for (j, (a, &v)) in acc.iter_mut().zip(row).enumerate() {
            *a += f(v, j);
        }
    }
}

/// Sums of `per_channel` values over each group's channels, in f64.
fn group_sums<T: Float>(acc: &[T], g: &GroupGeometry) -> Vec<f64> {
    acc.chunks_exact(g.group_width()).map(|grp| grp.iter().map(|v| v.to_f64()).sum()).collect()
}

/// A per-group value repeated over the group's channels.
fn spread<T: Float>(per_group: &[f64], g: &GroupGeometry) -> Vec<T> {
    per_group.iter().flat_map(|&v| std::iter::repeat_n(T::from_f64(v), g.group_width())).collect()
}

/// `(y, x̂, r)` with `r` of `[images, groups]`.
pub fn forward<T: Float>(x: &[T], gamma: &[T], g: &GroupGeometry, eps: f64, y: &mut [T], xhat: &mut [T], r: &mut [T]) {
    debug_assert!(x.len() == g.len() && y.len() == g.len() && xhat.len() == g.len());
    debug_assert!(r.len() == g.images * g.groups && gamma.len() == g.channels);
    let (il, c) = (g.image_len(), g.channels);
    let count = (g.pixels * g.group_width()) as f64;
    let (yp, xp, rp) = (SharedMut(y.as_mut_ptr()), SharedMut(xhat.as_mut_ptr()), SharedMut(r.as_mut_ptr()));
    team::run(g.images.div_ceil(IMAGES_PER_TASK), &|task| {
        let lo = task * IMAGES_PER_TASK;
        for image in lo..(lo + IMAGES_PER_TASK).min(g.images) {
            // SAFETY: each image's rows of y and x̂ and its entries of r belong to one task.
            let (y, xh, r) = unsafe {
                (
                    std::slice::from_raw_parts_mut({ yp }.0.add(image * il), il),
                    std::slice::from_raw_parts_mut({ xp }.0.add(image * il), il),
                    std::slice::from_raw_parts_mut({ rp }.0.add(image * g.groups), g.groups),
                )
            };
            let src = &x[image * il..][..il];
            let mut acc = vec![T::ZERO; c];
            per_channel(src, c, &mut acc, |v, _| v);
            let means: Vec<f64> = group_sums(&acc, g).iter().map(|s| s / count).collect();
            let mean_c: Vec<T> = spread(&means, g);
            acc.fill(T::ZERO);
            per_channel(src, c, &mut acc, |v, j| (v - mean_c[j]) * (v - mean_c[j]));
            let inv: Vec<f64> = group_sums(&acc, g).iter().map(|s| 1.0 / (s / count + eps).sqrt()).collect();
            for (r, &v) in r.iter_mut().zip(&inv) {
                *r = T::from_f64(v);
            }
            let inv_c: Vec<T> = spread(&inv, g);
            for ((yrow, xrow), srow) in y.chunks_exact_mut(c).zip(xh.chunks_exact_mut(c)).zip(src.chunks_exact(c)) {
                for j in 0..c {
                    let v = (srow[j] - mean_c[j]) * inv_c[j];
                    xrow[j] = v;
                    yrow[j] = v * gamma[j];
                }
            }
        }
    });
}

/// `(gx, gγ)` from the output gradient `gy`, the standardized `x̂` and `r`.
pub fn backward<T: Float>(
    gy: &[T],
    xhat: &[T],
    r: &[T],
    gamma: &[T],
    g: &GroupGeometry,
    gx: &mut [T],
    ggamma: &mut [T],
) {
    let (il, c, groups) = (g.image_len(), g.channels, g.groups);
    let count = (g.pixels * g.group_width()) as f64;
    let gxp = SharedMut(gx.as_mut_ptr());
    let partials: Vec<Vec<f64>> = team::map_collect(g.images.div_ceil(IMAGES_PER_TASK), |task| {
        let mut ggamma = vec![0.0f64; c];
        let lo = task * IMAGES_PER_TASK;
        for image in lo..(lo + IMAGES_PER_TASK).min(g.images) {
            // SAFETY: each image's rows of gx belong to one task.
            let gx = unsafe { std::slice::from_raw_parts_mut({ gxp }.0.add(image * il), il) };
            let (gyi, xhi) = (&gy[image * il..][..il], &xhat[image * il..][..il]);
            // Per channel: Σ g and Σ g x̂ over the image's pixels.
            let (mut sum_g, mut sum_gx) = (vec![T::ZERO; c], vec![T::ZERO; c]);
            for (grow, xrow) in gyi.chunks_exact(c).zip(xhi.chunks_exact(c)) {
                for j in 0..c {
                    sum_g[j] += grow[j];
                    sum_gx[j] += grow[j] * xrow[j];
                }
            }
            for (a, v) in ggamma.iter_mut().zip(&sum_gx) {
                *a += v.to_f64();
            }
            // Means over each block of ĝ = γ g and ĝ x̂.
            let weighted = |s: &[T]| -> Vec<f64> {
                s.chunks_exact(g.group_width())
                    .zip(gamma.chunks_exact(g.group_width()))
                    .map(|(s, gm)| s.iter().zip(gm).map(|(a, b)| a.to_f64() * b.to_f64()).sum::<f64>() / count)
                    .collect()
            };
            let (m1, m2) = (spread::<T>(&weighted(&sum_g), g), spread::<T>(&weighted(&sum_gx), g));
            let rc: Vec<T> =
                spread(&r[image * groups..(image + 1) * groups].iter().map(|v| v.to_f64()).collect::<Vec<_>>(), g);
            for ((out, grow), xrow) in gx.chunks_exact_mut(c).zip(gyi.chunks_exact(c)).zip(xhi.chunks_exact(c)) {
                for j in 0..c {
                    out[j] = rc[j] * (grow[j] * gamma[j] - m1[j] - xrow[j] * m2[j]);
                }
            }
        }
        ggamma
    });
    let mut total = vec![0.0f64; c];
    for p in partials {
        for (t, v) in total.iter_mut().zip(p) {
            *t += v;
        }
    }
    for (o, v) in ggamma.iter_mut().zip(total) {
        *o = T::from_f64(v);
    }
}
