//! General matrix multiply on the CPU: `C ← α·op(A)·op(B) + β·C`.
//!
//! PLACEHOLDER: naive loops, to be replaced by the packed, register-blocked,
//! run-time dispatched implementation (AVX-512F, AVX2+FMA, portable).

/// Whether an operand is used as stored or transposed. Transposes are never
/// materialized: they only swap the strides the packing routines read with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transpose {
    No,
    Yes,
}

/// Element types the GEMM supports (`f32`, `f64`).
pub trait GemmScalar: Copy + Send + Sync + 'static + std::ops::Add<Output = Self> + std::ops::Mul<Output = Self> + PartialEq {
    const GEMM_ZERO: Self;
}
impl GemmScalar for f32 {
    const GEMM_ZERO: Self = 0.0;
}
impl GemmScalar for f64 {
    const GEMM_ZERO: Self = 0.0;
}

/// Row-major BLAS-style GEMM: `C[m×n] ← α·op(A)·op(B) + β·C`, where `op(A)` is
/// `m×k` and `op(B)` is `k×n`. `lda`, `ldb`, `ldc` are the row strides of the
/// stored matrices (A is stored `m×k` when `ta == No`, `k×m` when `Yes`).
/// When `β == 0`, C is write-only: whatever it held (NaN included) is ignored.
#[allow(clippy::too_many_arguments)]
pub fn gemm<T: GemmScalar>(
    ta: Transpose,
    tb: Transpose,
    m: usize,
    n: usize,
    k: usize,
    alpha: T,
    a: &[T],
    lda: usize,
    b: &[T],
    ldb: usize,
    beta: T,
    c: &mut [T],
    ldc: usize,
) {
    let (rsa, csa) = match ta {
        Transpose::No => (lda, 1),
        Transpose::Yes => (1, lda),
    };
    let (rsb, csb) = match tb {
        Transpose::No => (ldb, 1),
        Transpose::Yes => (1, ldb),
    };
    for i in 0..m {
        for j in 0..n {
            let mut acc = T::GEMM_ZERO;
            for p in 0..k {
                acc = acc + a[i * rsa + p * csa] * b[p * rsb + j * csb];
            }
            let cij = &mut c[i * ldc + j];
            *cij = if beta == T::GEMM_ZERO { alpha * acc } else { alpha * acc + beta * *cij };
        }
    }
}
