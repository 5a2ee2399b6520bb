//! The fused bias and activation of a layer, `y = σ(z + b)`, and its reverse
//! rule with the bias gradient folded in: one pass each way instead of a
//! broadcast add, an activation, its derivative and a column sum.

use super::elementwise::with_act;
use super::simd;
use super::team::{self, SharedMut};
use crate::backend::Activation;
use crate::tensor::Float;

/// Rows per task (fixed: results never depend on the pool).
const ROWS_PER_TASK: usize = 64;
/// Below this many elements everything stays on the calling thread.
const PARALLEL_MIN_ELEMS: usize = 1 << 14;

#[inline(always)]
fn same(a: Activation) -> Activation {
    a
}

/// Runs `f(r0, r1)` over blocks of rows, on the team when large.
fn over_row_blocks<R: Send>(rows: usize, elems: usize, f: impl Fn(usize, usize) -> R + Sync) -> Vec<R> {
    let blocks = rows.div_ceil(ROWS_PER_TASK);
    let block = |i: usize| f(i * ROWS_PER_TASK, ((i + 1) * ROWS_PER_TASK).min(rows));
    if elems >= PARALLEL_MIN_ELEMS && team::threads() > 1 {
        team::map_collect(blocks, block)
    } else {
        (0..blocks).map(block).collect()
    }
}

/// `y = σ(z + b)` for `z` of `rows × width`.
pub fn forward<T: Float>(z: &[T], b: &[T], y: &mut [T], width: usize, act: Activation) {
    let rows = z.len() / width.max(1);
    let out = SharedMut(y.as_mut_ptr());
    over_row_blocks(rows, z.len(), |r0, r1| {
        // SAFETY: blocks cover disjoint rows of `y`, which outlives the call.
        let y = unsafe { std::slice::from_raw_parts_mut({ out }.0.add(r0 * width), (r1 - r0) * width) };
        let z = &z[r0 * width..r1 * width];
        macro_rules! kernel {
            ($a:expr $(,)?) => {
                simd::vectorized(
                    #[inline(always)]
                    || {
                        // A local copy: read through the closure's captured
                        // reference, a payload such as softplus's β would be
                        // reloaded per element (the stores to `y` might alias
                        // it), and LLVM then vectorizes at half width.
                        let a = $a;
                        for (yr, zr) in y.chunks_exact_mut(width).zip(z.chunks_exact(width)) {
                            for ((yv, &zv), &bv) in yr.iter_mut().zip(zr).zip(b) {
                                *yv = a.eval(zv + bv);
                            }
                        }
                    },
                )
            };
        }
        with_act!(act, same, kernel!())
    });
}

/// `gz = g ⊙ σ'(z + b)` (using the saved output `y`) and `gb = Σ_rows gz`.
#[allow(clippy::too_many_arguments)]
pub fn backward<T: Float>(
    z: &[T],
    b: &[T],
    y: &[T],
    g: &[T],
    gz: &mut [T],
    gb: &mut [T],
    width: usize,
    act: Activation,
) {
    let rows = z.len() / width.max(1);
    let out = SharedMut(gz.as_mut_ptr());
    let partials = over_row_blocks(rows, z.len(), |r0, r1| {
        // SAFETY: blocks cover disjoint rows of `gz`, which outlives the call.
        let gz = unsafe { std::slice::from_raw_parts_mut({ out }.0.add(r0 * width), (r1 - r0) * width) };
        let (z, y, g) = (&z[r0 * width..r1 * width], &y[r0 * width..r1 * width], &g[r0 * width..r1 * width]);
        let mut acc = vec![T::ZERO; width];
        macro_rules! kernel {
            ($a:expr $(,)?) => {
                simd::vectorized(
                    #[inline(always)]
                    || {
                        let a = $a; // see `forward`
                        for (((gzr, zr), yr), gr) in gz
                            .chunks_exact_mut(width)
                            .zip(z.chunks_exact(width))
                            .zip(y.chunks_exact(width))
                            .zip(g.chunks_exact(width))
                        {
                            // Indexed over one row with every slice cut to
                            // `width` first: the bounds checks fold away and
                            // the loop vectorizes whole. A five-way zip left
                            // its last 32 elements to a scalar epilogue.
                            let (zr, yr, gr, b) = (&zr[..width], &yr[..width], &gr[..width], &b[..width]);
                            for j in 0..width {
                                gzr[j] = gr[j] * a.d1(zr[j] + b[j], yr[j]);
                            }
                        }
                        column_sums(gz, width, &mut acc);
                    },
                )
            };
        }
        with_act!(act, same, kernel!());
        acc
    });
    // Block sums added in block order: the same bits for any pool.
    gb.fill(T::ZERO);
    for p in &partials {
        for (s, &v) in gb.iter_mut().zip(p) {
            *s += v;
        }
    }
}

/// Columns per register block of [`column_sums`].
const SUM_COLS: usize = 64;

/// `acc[j] = Σ_rows x[row, j]` (`acc` zero on entry), rows added in order:
/// the same bits as adding row after row into `acc`, but `SUM_COLS`
/// columns at a time in registers. Through memory, each row's adds waited
/// on the previous row's stores.
#[inline(always)]
fn column_sums<T: Float>(x: &[T], width: usize, acc: &mut [T]) {
    let full = width / SUM_COLS * SUM_COLS;
    for c0 in (0..full).step_by(SUM_COLS) {
        let mut s = [T::ZERO; SUM_COLS];
        for row in x.chunks_exact(width) {
            let r = &row[c0..c0 + SUM_COLS];
            for j in 0..SUM_COLS {
                s[j] += r[j];
            }
        }
        acc[c0..c0 + SUM_COLS].copy_from_slice(&s);
    }
    for row in x.chunks_exact(width) {
        for (a, &v) in acc[full..].iter_mut().zip(&row[full..]) {
            *a += v;
        }
    }
}
