//! The fused activation of a layer evaluated together with its tangents.
//!
//! A network evaluated with `k` tangent directions keeps one stacked matrix
//! `[primal; tangent₁; …; tangent_k]` of `(1+k)·batch` rows, so each layer is
//! one GEMM for all of them. After the GEMM, primal rows get the bias and the
//! activation, `y = σ(z + b)`, and each tangent row is scaled by the slope at
//! its primal row, `ẏ = σ'(z + b) ⊙ ż`. This pass and its reverse rule are
//! the kernels here; work is split over blocks of primal rows, each block
//! carrying its tangent rows along.

use super::elementwise::with_act;
use super::simd;
use super::team::{self, SharedMut};
use crate::backend::Activation;
use crate::tensor::Float;

/// Primal rows per task (fixed, so results never depend on the pool).
const ROWS_PER_TASK: usize = 64;
/// Below this many elements everything stays on the calling thread.
const PARALLEL_MIN_ELEMS: usize = 1 << 15;

/// `out[i] = σ(z[i] + b)` for primal rows `i < batch`, and
/// `out[j·batch + i] = σ'(z[i] + b) ⊙ z[j·batch + i]` for tangent rows.
pub fn forward<T: Float>(z: &[T], b: &[T], out: &mut [T], batch: usize, width: usize, act: Activation) {
    let blocks = batch.div_ceil(ROWS_PER_TASK);
    let run = |blk: usize, out: &mut [T]| {
        let r0 = blk * ROWS_PER_TASK;
        let r1 = (r0 + ROWS_PER_TASK).min(batch);
        macro_rules! kernel {
            ($a:expr $(,)?) => {
                simd::vectorized(
                    #[inline(always)]
                    || forward_block(z, b, out, batch, width, $a, r0, r1),
                )
            };
        }
        with_act!(act, same, kernel!())
    };
    if z.len() >= PARALLEL_MIN_ELEMS && team::threads() > 1 {
        let out_ptr = SharedMut(out.as_mut_ptr());
        let len = out.len();
        team::run(blocks, &|blk| {
            // SAFETY: block `blk` writes rows `r0..r1` of every stacked part,
            // which no other block writes; the slice outlives the job.
            let out = unsafe { std::slice::from_raw_parts_mut({ out_ptr }.0, len) };
            run(blk, out);
        });
    } else {
        for blk in 0..blocks {
            run(blk, out);
        }
    }
}

/// The activation itself: lets [`with_act`] hand over a constant.
#[inline(always)]
fn same(a: Activation) -> Activation {
    a
}

#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn forward_block<T: Float>(
    z: &[T],
    b: &[T],
    out: &mut [T],
    batch: usize,
    width: usize,
    act: Activation,
    r0: usize,
    r1: usize,
) {
    // Row by row, with every part of a row handled before the next row: the
    // row's slices stay in L1, and the first tangent row holds the slopes
    // until it is overwritten last, so no scratch memory is needed. Zipped
    // (bounds-check-free) loops over whole rows vectorize.
    let stride = batch * width;
    let parts = z.len() / stride;
    for r in r0..r1 {
        let row = r * width..(r + 1) * width;
        let (primal, tangents) = out.split_at_mut(stride);
        let y = &mut primal[row.clone()];
        if parts == 1 {
            for ((yv, &zv), &bv) in y.iter_mut().zip(&z[row.clone()]).zip(b) {
                *yv = act.eval(zv + bv);
            }
            continue;
        }
        let (first, rest) = tangents.split_at_mut(stride);
        let slope = &mut first[row.clone()];
        for (((yv, sv), &zv), &bv) in y.iter_mut().zip(slope.iter_mut()).zip(&z[row.clone()]).zip(b) {
            let u = zv + bv;
            let yo = act.eval(u);
            *yv = yo;
            *sv = act.d1(u, yo);
        }
        for j in 2..parts {
            let at = (j - 2) * stride + r * width;
            let zt = &z[j * stride + r * width..][..width];
            for ((o, &s), &zv) in rest[at..at + width].iter_mut().zip(slope.iter()).zip(zt) {
                *o = s * zv;
            }
        }
        for (s, &zv) in slope.iter_mut().zip(&z[stride + r * width..][..width]) {
            *s *= zv;
        }
    }
}

/// The reverse rule: given `g` (gradient of the stacked output), returns
/// `gz` (same stacking) into `gz` and the bias gradient into `gb`:
/// `gz[i] = g[i]·σ'(u) + Σ_j g[j·batch+i] ⊙ z[j·batch+i] ⊙ σ''(u)` and
/// `gz[j·batch+i] = g[j·batch+i] ⊙ σ'(u)`, with `u = z[i] + b`;
/// `gb = Σ_i gz[i]`. The slopes come from the forward output `y = σ(u)`
/// (for tanh and softplus without evaluating σ again: the profile of the CNF
/// iteration showed this pass re-evaluating every activation).
#[allow(clippy::too_many_arguments)]
pub fn backward<T: Float>(
    z: &[T],
    b: &[T],
    y: &[T],
    g: &[T],
    gz: &mut [T],
    gb: &mut [T],
    batch: usize,
    width: usize,
    act: Activation,
) {
    let blocks = batch.div_ceil(ROWS_PER_TASK);
    let run = |blk: usize, gz: &mut [T]| -> Vec<T> {
        let r0 = blk * ROWS_PER_TASK;
        let r1 = (r0 + ROWS_PER_TASK).min(batch);
        macro_rules! kernel {
            ($a:expr $(,)?) => {
                simd::vectorized(
                    #[inline(always)]
                    || backward_block(z, b, y, g, gz, batch, width, $a, r0, r1),
                )
            };
        }
        with_act!(act, same, kernel!())
    };
    let partials: Vec<Vec<T>> = if z.len() >= PARALLEL_MIN_ELEMS && team::threads() > 1 {
        let ptr = SharedMut(gz.as_mut_ptr());
        let len = gz.len();
        team::map_collect(blocks, |blk| {
            // SAFETY: as in `forward`, blocks write disjoint rows.
            let gz = unsafe { std::slice::from_raw_parts_mut({ ptr }.0, len) };
            run(blk, gz)
        })
    } else {
        (0..blocks).map(|blk| run(blk, gz)).collect()
    };
    // Block partial sums added in block order: the same bits for any pool.
    gb.fill(T::ZERO);
    for p in &partials {
        for (a, &v) in gb.iter_mut().zip(p) {
            *a += v;
        }
    }
}

#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn backward_block<T: Float>(
    z: &[T],
    b: &[T],
    y: &[T],
    g: &[T],
    gz: &mut [T],
    batch: usize,
    width: usize,
    act: Activation,
    r0: usize,
    r1: usize,
) -> Vec<T> {
    // Per row, in place (see `forward_block`): the primal row of `gz` first
    // collects `S = Σ_j g_j ⊙ z_j`, then becomes `g·σ' + S·σ''`; the last
    // tangent row holds σ' until it is overwritten last.
    let stride = batch * width;
    let parts = z.len() / stride;
    let mut gb = vec![T::ZERO; width];
    for r in r0..r1 {
        let off = r * width;
        let (primal, tangents) = gz.split_at_mut(stride);
        let acc = &mut primal[off..off + width];
        let (zp, yp, gp) = (&z[off..off + width], &y[off..off + width], &g[off..off + width]);
        if parts == 1 {
            for (((((a, &zv), &yv), &gv), &bv), s) in acc.iter_mut().zip(zp).zip(yp).zip(gp).zip(b).zip(gb.iter_mut()) {
                *a = gv * act.d1(zv + bv, yv);
                *s += *a;
            }
            continue;
        }
        acc.fill(T::ZERO);
        for j in 1..parts {
            let at = j * stride + off;
            for ((a, &gv), &zv) in acc.iter_mut().zip(&g[at..at + width]).zip(&z[at..at + width]) {
                *a += gv * zv;
            }
        }
        let (head, last) = tangents.split_at_mut((parts - 2) * stride);
        let slope = &mut last[off..off + width];
        let cols = acc.iter_mut().zip(slope.iter_mut()).zip(gb.iter_mut());
        for (((((a, sl), s), &zv), &yv), (&gv, &bv)) in cols.zip(zp).zip(yp).zip(gp.iter().zip(b)) {
            let u = zv + bv;
            let d1 = act.d1(u, yv);
            *a = gv * d1 + *a * act.d2(u, yv);
            *sl = d1;
            *s += *a;
        }
        for j in 1..parts - 1 {
            let at = (j - 1) * stride + off;
            let gt = &g[j * stride + off..][..width];
            for ((o, &d1), &gv) in head[at..at + width].iter_mut().zip(slope.iter()).zip(gt) {
                *o = gv * d1;
            }
        }
        for (sl, &gv) in slope.iter_mut().zip(&g[(parts - 1) * stride + off..][..width]) {
            *sl *= gv;
        }
    }
    gb
}
