//! Portable micro-kernel in plain Rust: the fallback on CPUs without AVX2+FMA and off x86.
//!
//! Fixed-size accumulator arrays let the compiler keep the tile in vector
//! registers with whatever SIMD the target baseline has (SSE2, NEON).

use super::{GemmScalar, Kernel, Panel, Scratch, dispatch_rows, pack};

const MR: usize = 4;

pub(super) static F32: Kernel<f32> = Kernel {
    mr: MR,
    nr: 8,
    kc: 256,
    kc_strided_a: 256,
    nc: 512,
    mc: 1536,
    direct_max_n: 64,
    row_panel: row_panel::<f32, 8>,
    pack_a: pack::pack_a::<f32, MR>,
    pack_b: pack::pack_b::<f32, 8>,
    narrow: None,
};

pub(super) static F64: Kernel<f64> = Kernel {
    mr: MR,
    nr: 4,
    kc: 256,
    kc_strided_a: 256,
    nc: 512,
    mc: 1536,
    direct_max_n: 32,
    row_panel: row_panel::<f64, 4>,
    pack_a: pack::pack_a::<f64, MR>,
    pack_b: pack::pack_b::<f64, 4>,
    narrow: None,
};

/// One `ROWS × NR` tile with unit column stride in C.
///
/// # Safety
/// A: `ROWS × k` at strides (`rsa`, `csa`); B: one `k × NR` panel, rows `rsb` apart; C: a
/// writable `ROWS × NR` tile with row stride `rsc`.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
unsafe fn tile<T: GemmScalar, const ROWS: usize, const NR: usize>(
    k: usize,
    alpha: T,
    a: *const T,
    rsa: isize,
    csa: isize,
    b: *const T,
    rsb: isize,
    beta: T,
    c: *mut T,
    rsc: isize,
) {
    let mut acc = [[T::GEMM_ZERO; NR]; ROWS];
    // SAFETY: offsets stay inside the operands described by the caller.
    unsafe {
        for p in 0..k {
            let bp = &*b.offset(p as isize * rsb).cast::<[T; NR]>();
            let ap = a.offset(p as isize * csa);
            for (i, row) in acc.iter_mut().enumerate() {
                let ai = *ap.offset(i as isize * rsa);
                for (x, &bj) in row.iter_mut().zip(bp) {
                    *x = *x + ai * bj;
                }
            }
        }
        for (i, row) in acc.iter().enumerate() {
            let cr = c.offset(i as isize * rsc);
            for (j, &x) in row.iter().enumerate() {
                let cij = cr.add(j);
                let ax = if alpha == T::GEMM_ONE { x } else { alpha * x };
                *cij = if beta == T::GEMM_ZERO { ax } else { ax + beta * *cij };
            }
        }
    }
}

/// # Safety
/// `p` must describe valid memory (see [`Panel`]).
unsafe fn row_panel_impl<T: GemmScalar, const ROWS: usize, const NR: usize>(p: &Panel<T>) {
    // SAFETY: every tile lies inside the panel; partial or strided tiles go through
    // a scratch tile.
    unsafe {
        for (jp, j0) in (0..p.ncols).step_by(NR).enumerate() {
            let cols = NR.min(p.ncols - j0);
            let b = p.b.offset(jp as isize * p.b_panel);
            let c = p.c.offset(j0 as isize * p.csc);
            if cols == NR && p.csc == 1 {
                tile::<T, ROWS, NR>(p.k, p.alpha, p.a, p.rsa, p.csa, b, p.rsb, p.beta, c, p.rsc);
            } else {
                let mut s = Scratch::<T, ROWS, NR>::load(ROWS, cols, p.beta, c, p.rsc, p.csc);
                tile::<T, ROWS, NR>(p.k, p.alpha, p.a, p.rsa, p.csa, b, p.rsb, p.beta, s.ptr(), NR as isize);
                s.store(ROWS, cols, c, p.rsc, p.csc);
            }
        }
    }
}

/// # Safety
/// `p` must describe valid memory (see [`Panel`]), with `p.rows ≤ MR`.
unsafe fn row_panel<T: GemmScalar, const NR: usize>(p: &Panel<T>) {
    // SAFETY: forwarded.
    unsafe { dispatch_rows!(p.rows, R => row_panel_impl::<T, R, NR>(p); 1 2 3 4) }
}
