//! Sums of a function of the squared distance over all pairs of two point
//! sets (or over the distinct pairs of one), the kernel of MMD and energy
//! distance.
//!
//! Cache: the second set is walked in column blocks small enough (about
//! 256 KiB) to stay in cache while a block of rows reuses them. In low
//! dimension it is stored transposed and the squared distances of one row
//! to a column block are formed coordinate by coordinate, a contiguous
//! vectorizable sweep over the block; from [`WIDE`] dimensions on, each
//! squared distance is one sum over coordinates in eight lanes instead.
//! The loops are compiled per instruction set and picked at run time
//! ([`vectorized`]).
//!
//! Determinism: every row's partial sum is accumulated by one task, over
//! columns in ascending order and into a fixed set of eight lanes, and the
//! row sums are then added in row order. The thread count changes which
//! task handles a row, never the order of any addition, so results are
//! bit-identical for any number of rayon threads.

use rayon::prelude::*;

use super::points::Points;
use crate::backend::cpu::simd::{isa, vectorized, with_isa};

/// Rows handed to one rayon task.
const ROW_BLOCK: usize = 32;
/// Bytes of transposed columns a column block may hold.
const COLUMN_BLOCK_BYTES: usize = 256 * 1024;
/// Independent accumulators per row sum (fixed, so the order is too).
const LANES: usize = 8;
/// Dimension from which distances are summed along coordinates.
const WIDE: usize = 16;

/// `Σ_i Σ_j f(|x_i − y_j|²)` over all `n_x · n_y` pairs. `f` is applied to
/// a slice at a time, `f(r2, out)` setting `out[k] = f(r2[k])`, so that it
/// is a plain loop over slices that the compiler vectorizes.
pub(crate) fn cross_sum(x: &Points, y: &Points, f: impl Fn(&[f64], &mut [f64]) + Sync) -> f64 {
    debug_assert_eq!(x.d, y.d);
    pair_sum(x, y, false, f)
}

/// `Σ_{i<j} f(|x_i − x_j|²)` over the distinct unordered pairs of one set
/// (double it for the sum over ordered pairs `i ≠ j`).
pub(crate) fn within_sum(x: &Points, f: impl Fn(&[f64], &mut [f64]) + Sync) -> f64 {
    pair_sum(x, x, true, f)
}

fn pair_sum(x: &Points, y: &Points, upper_only: bool, f: impl Fn(&[f64], &mut [f64]) + Sync) -> f64 {
    let d = x.d;
    let m = y.n;
    let wide = d >= WIDE;
    // Below WIDE, y transposed: coordinate k of point j at k * m + j.
    let mut yt = vec![0.0; if wide { 0 } else { d * m }];
    if !wide {
        for j in 0..m {
            for k in 0..d {
                yt[k * m + j] = y.data[j * d + k];
            }
        }
    }
    // A multiple of LANES, so block starts are lane-aligned.
    let col_block = (COLUMN_BLOCK_BYTES / (8 * d)).clamp(16, 1024) / LANES * LANES;
    let mut row_sums = vec![0.0; x.n];
    // The caller's instruction-set cap (see `simd::with_isa`) holds in every task.
    let caller_isa = isa();
    row_sums.par_chunks_mut(ROW_BLOCK).enumerate().for_each(|(block, sums)| {
        // Compiled once per instruction set (AVX-512, AVX2, baseline) and
        // picked at run time; no FMA contraction, so the bits are the same on all.
        with_isa(caller_isa, || {
            vectorized(
                #[inline(always)]
                || {
                    let i0 = block * ROW_BLOCK;
                    let mut dist = vec![0.0; col_block];
                    let mut values = vec![0.0; col_block];
                    let mut lanes = vec![[0.0f64; LANES]; sums.len()];
                    for j0 in (0..m).step_by(col_block) {
                        let j1 = (j0 + col_block).min(m);
                        for (r, lane) in lanes.iter_mut().enumerate() {
                            let i = i0 + r;
                            let start = if upper_only { j0.max(i + 1) } else { j0 };
                            if start >= j1 {
                                continue;
                            }
                            let width = j1 - start;
                            let dist = &mut dist[..width];
                            let xi = x.row(i);
                            if wide {
                                for (r2, j) in dist.iter_mut().zip(start..j1) {
                                    *r2 = squared_distance_lanes(xi, y.row(j));
                                }
                            } else {
                                dist.fill(0.0);
                                for (k, &xik) in xi.iter().enumerate() {
                                    let col = &yt[k * m + start..k * m + j1];
                                    for (acc, &yjk) in dist.iter_mut().zip(col) {
                                        let diff = xik - yjk;
                                        *acc += diff * diff;
                                    }
                                }
                            }
                            let values = &mut values[..width];
                            f(dist, values);
                            accumulate(lane, start, values);
                        }
                    }
                    for (s, lane) in sums.iter_mut().zip(&lanes) {
                        *s = lane.iter().sum();
                    }
                },
            )
        });
    });
    row_sums.iter().sum()
}

/// Adds `values[k]` to lane `(first + k) % LANES`: the lane of a column is
/// fixed by its index, not by where a block or the upper triangle starts,
/// so the order of additions depends on nothing else. The lane-aligned
/// middle runs eight independent sums, which vectorizes.
#[inline(always)]
fn accumulate(lane: &mut [f64; LANES], first: usize, values: &[f64]) {
    let head = ((LANES - first % LANES) % LANES).min(values.len());
    for (k, &v) in values[..head].iter().enumerate() {
        lane[(first + k) % LANES] += v;
    }
    let mut acc = *lane;
    let mut chunks = values[head..].chunks_exact(LANES);
    for chunk in &mut chunks {
        for (a, &v) in acc.iter_mut().zip(chunk) {
            *a += v;
        }
    }
    for (a, &v) in acc.iter_mut().zip(chunks.remainder()) {
        *a += v;
    }
    *lane = acc;
}

/// `|a − b|²` summed in eight interleaved lanes (coordinate k into lane
/// k mod 8), then the lanes in order: a fixed order that vectorizes.
#[inline(always)]
fn squared_distance_lanes(a: &[f64], b: &[f64]) -> f64 {
    let mut acc = [0.0f64; LANES];
    let (ca, cb) = (a.chunks_exact(LANES), b.chunks_exact(LANES));
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (pa, pb) in ca.zip(cb) {
        for ((s, &u), &v) in acc.iter_mut().zip(pa).zip(pb) {
            let diff = u - v;
            *s += diff * diff;
        }
    }
    for ((s, &u), &v) in acc.iter_mut().zip(ra).zip(rb) {
        let diff = u - v;
        *s += diff * diff;
    }
    acc.iter().sum()
}
