//! Matrix products on top of [`super::gemm`]: batched products and the
//! affine map `x·W + b` of a linear layer.

use super::gemm::{Transpose, gemm};
use crate::tensor::Float;

/// `out[i] = op(A_i)·op(B_i)` for `i < batch`, with `A_i` at `a[i·sa..]` and
/// `B_i` at `b[i·sb..]` (a stride of 0 shares one matrix across the batch).
#[allow(clippy::too_many_arguments)]
pub fn batched<T: Float>(
    a: &[T],
    b: &[T],
    out: &mut [T],
    ta: Transpose,
    tb: Transpose,
    batch: usize,
    m: usize,
    n: usize,
    k: usize,
    sa: usize,
    sb: usize,
) {
    let lda = if ta == Transpose::No { k } else { m };
    let ldb = if tb == Transpose::No { n } else { k };
    for i in 0..batch {
        let c = &mut out[i * m * n..(i + 1) * m * n];
        gemm(ta, tb, m, n, k, T::ONE, &a[i * sa..i * sa + m * k], lda, &b[i * sb..i * sb + k * n], ldb, T::ZERO, c, n);
    }
}

/// `out = x·w + b`: `x` is `m×k`, `w` is `k×n`, `b` has `n` entries. The
/// bias is written first and the product accumulated onto it (β = 1), so
/// the output is touched by one GEMM and one fill.
pub fn affine<T: Float>(x: &[T], w: &[T], b: &[T], out: &mut [T], m: usize, n: usize, k: usize) {
    for row in out.chunks_mut(n.max(1)) {
        row.copy_from_slice(b);
    }
    gemm(Transpose::No, Transpose::No, m, n, k, T::ONE, x, k, w, n, T::ONE, out, n);
}
