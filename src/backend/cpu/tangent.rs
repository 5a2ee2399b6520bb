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
    // Whole blocks of rows at a time, with zipped (bounds-check-free) loops,
    // so every loop below vectorizes.
    let parts = z.len() / (batch * width);
    let (lo, hi) = (r0 * width, r1 * width);
    let mut slope = vec![T::ZERO; hi - lo];
    let rows =
        out[lo..hi].chunks_exact_mut(width).zip(slope.chunks_exact_mut(width)).zip(z[lo..hi].chunks_exact(width));
    for ((yr, sr), zr) in rows {
        for (((y, s), &zv), &bv) in yr.iter_mut().zip(sr.iter_mut()).zip(zr).zip(b) {
            let u = zv + bv;
            let yv = act.eval(u);
            *y = yv;
            *s = act.d1(u, yv);
        }
    }
    for j in 1..parts {
        let o = j * batch * width;
        for ((y, &zv), &s) in out[o + lo..o + hi].iter_mut().zip(&z[o + lo..o + hi]).zip(&slope) {
            *y = s * zv;
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
    let parts = z.len() / (batch * width);
    let (lo, hi) = (r0 * width, r1 * width);
    let n = hi - lo;
    let (mut d1, mut d2, mut acc) = (vec![T::ZERO; n], vec![T::ZERO; n], vec![T::ZERO; n]);
    let rows = d1.chunks_exact_mut(width).zip(d2.chunks_exact_mut(width)).zip(acc.chunks_exact_mut(width));
    let inputs = z[lo..hi].chunks_exact(width).zip(y[lo..hi].chunks_exact(width)).zip(g[lo..hi].chunks_exact(width));
    for (((d1r, d2r), ar), ((zr, yr), gr)) in rows.zip(inputs) {
        let cols = d1r.iter_mut().zip(d2r.iter_mut()).zip(ar.iter_mut());
        for ((((d1v, d2v), a), ((&zv, &yv), &gv)), &bv) in cols.zip(zr.iter().zip(yr).zip(gr)).zip(b) {
            let u = zv + bv;
            *d1v = act.d1(u, yv);
            *d2v = act.d2(u, yv);
            *a = gv * *d1v;
        }
    }
    for j in 1..parts {
        let o = j * batch * width;
        let tangent = gz[o + lo..o + hi].iter_mut().zip(&g[o + lo..o + hi]).zip(&z[o + lo..o + hi]);
        for (((gzv, &gv), &zv), ((a, &d1v), &d2v)) in tangent.zip(acc.iter_mut().zip(&d1).zip(&d2)) {
            *a += gv * zv * d2v;
            *gzv = gv * d1v;
        }
    }
    gz[lo..hi].copy_from_slice(&acc);
    let mut gb = vec![T::ZERO; width];
    for row in acc.chunks_exact(width) {
        for (s, &a) in gb.iter_mut().zip(row) {
            *s += a;
        }
    }
    gb
}
