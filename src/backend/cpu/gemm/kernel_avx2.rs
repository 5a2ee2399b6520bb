//! AVX2+FMA micro-kernels: 6 rows × 2 ymm of C in registers (6×16 f32, 6×8 f64).
//!
//! 12 accumulators + 2 B vectors + 1 broadcast fill 15 of the 16 ymm registers.
//! Ragged right edges go through a scratch tile: AVX2 masked stores
//! (`vmaskmov`) are slow on several AMD cores, and edge tiles are rare.
//!
//! Also here: the dot-product path for C with at most 4 columns (`narrow`),
//! as in `kernel_avx512`: a velocity field's output layer (n = 2) filled 2 of
//! a tile's 16 columns and ran at 8 GFLOP/s.

use core::arch::x86_64::*;

use super::{Kernel, NARROW_N, Panel, Problem, Scratch, dispatch_rows, pack, workspace::Workspace};

const MR: usize = 6;

pub(super) static F32: Kernel<f32> = Kernel {
    mr: MR,
    nr: f32k::NR,
    kc: 256,
    kc_strided_a: 64,
    nc: 512,
    mc: 1536,
    direct_max_n: 128,
    row_panel: f32k::row_panel,
    pack_a: pack::pack_a::<f32, MR>,
    pack_b: pack::pack_b::<f32, { f32k::NR }>,
    narrow: Some(f32k::narrow),
};

pub(super) static F64: Kernel<f64> = Kernel {
    mr: MR,
    nr: f64k::NR,
    kc: 256,
    kc_strided_a: 64,
    nc: 256,
    mc: 768,
    direct_max_n: 64,
    row_panel: f64k::row_panel,
    pack_a: pack::pack_a::<f64, MR>,
    pack_b: pack::pack_b::<f64, { f64k::NR }>,
    narrow: Some(f64k::narrow),
};

macro_rules! avx2_kernel {
    (
        $modname:ident, $t:ty, $v:ty, $lanes:literal,
        $set1:ident, $setzero:ident, $loadu:ident, $storeu:ident, $fmadd:ident, $mul:ident,
        $hsum:ident
    ) => {
        pub(super) mod $modname {
            use super::*;

            pub(in super::super) const NR: usize = 2 * $lanes;

            /// One `ROWS × NR` tile, unit column stride in C.
            ///
            /// # Safety
            /// A: `ROWS × k` at strides (`rsa`, 1) if `A_ROWMAJOR`, else (1, `csa`);
            /// B: one `k × NR` panel, rows `rsb` apart; C: a writable `ROWS × NR` tile at row
            /// stride `rsc`. The CPU must support AVX2 and FMA.
            #[inline]
            #[target_feature(enable = "avx2,fma")]
            #[allow(clippy::too_many_arguments)]
            unsafe fn tile<const ROWS: usize, const A_ROWMAJOR: bool>(
                k: usize,
                alpha: $t,
                a: *const $t,
                rsa: isize,
                csa: isize,
                b: *const $t,
                rsb: isize,
                beta: $t,
                c: *mut $t,
                rsc: isize,
            ) {
                let mut acc = [[$setzero(); 2]; ROWS];
                // SAFETY: all offsets stay inside the operands (caller contract);
                // prefetches never fault.
                unsafe {
                    // C is needed only after the k loop: start its misses now (a
                    // short loop would not hide them, and C is then likely cached).
                    if k >= 32 {
                        for i in 0..ROWS {
                            let cr = c.offset(i as isize * rsc) as *const i8;
                            _mm_prefetch::<_MM_HINT_T0>(cr);
                            _mm_prefetch::<_MM_HINT_T0>(cr.wrapping_add(NR * size_of::<$t>() - 1));
                        }
                    }
                    let mut bp = b;
                    let mut ap = a;
                    let (rs, cs) = if A_ROWMAJOR { (rsa, 1) } else { (1, csa) };
                    for _ in 0..k {
                        let b0 = $loadu(bp);
                        let b1 = $loadu(bp.add($lanes));
                        for (i, row) in acc.iter_mut().enumerate() {
                            let ai = $set1(*ap.offset(i as isize * rs));
                            row[0] = $fmadd(ai, b0, row[0]);
                            row[1] = $fmadd(ai, b1, row[1]);
                        }
                        // Wrapping: after the last step this may point past the matrix.
                        ap = ap.wrapping_offset(cs);
                        bp = bp.wrapping_offset(rsb);
                    }
                    let va = $set1(alpha);
                    let vb = $set1(beta);
                    for (i, row) in acc.iter().enumerate() {
                        let cr = c.offset(i as isize * rsc);
                        for (h, &x) in row.iter().enumerate() {
                            let cp = cr.add(h * $lanes);
                            // α = 1 is the common case and x·1 = x exactly: skip the multiply.
                            let mut r = if alpha == 1.0 { x } else { $mul(x, va) };
                            if beta != 0.0 {
                                r = $fmadd($loadu(cp), vb, r);
                            }
                            $storeu(cp, r);
                        }
                    }
                }
            }

            /// # Safety
            /// `p` must describe valid memory (see [`Panel`]); AVX2 and FMA required.
            #[target_feature(enable = "avx2,fma")]
            unsafe fn row_panel_impl<const ROWS: usize, const A_ROWMAJOR: bool>(p: &Panel<$t>) {
                // SAFETY: every tile lies inside the panel; ragged or strided ones
                // go through a scratch tile.
                unsafe {
                    for (jp, j0) in (0..p.ncols).step_by(NR).enumerate() {
                        let cols = NR.min(p.ncols - j0);
                        let b = p.b.offset(jp as isize * p.b_panel);
                        let c = p.c.offset(j0 as isize * p.csc);
                        if cols == NR && p.csc == 1 {
                            tile::<ROWS, A_ROWMAJOR>(p.k, p.alpha, p.a, p.rsa, p.csa, b, p.rsb, p.beta, c, p.rsc);
                        } else {
                            let mut s = Scratch::<$t, ROWS, NR>::load(ROWS, cols, p.beta, c, p.rsc, p.csc);
                            tile::<ROWS, A_ROWMAJOR>(
                                p.k, p.alpha, p.a, p.rsa, p.csa, b, p.rsb, p.beta, s.ptr(), NR as isize,
                            );
                            s.store(ROWS, cols, c, p.rsc, p.csc);
                        }
                    }
                }
            }

            /// Rows `i0..i0 + R` of a narrow product: one dot product per element of
            /// C, vectorized along k (A rows contiguous, `bt` = packed Bᵀ, `N × kpad`,
            /// zero past k). A row's last partial chunk is copied into a zeroed
            /// vector first (masked loads are slow on several AMD cores).
            ///
            /// # Safety
            /// As [`narrow`]; `bt` holds the packed Bᵀ; AVX2 and FMA required.
            #[inline]
            #[target_feature(enable = "avx2,fma")]
            unsafe fn narrow_rows<const R: usize, const N: usize>(p: &Problem<$t>, i0: usize, bt: *const $t, kpad: usize) {
                let mut acc = [[$setzero(); N]; R];
                let full = p.k / $lanes;
                let tail = p.k % $lanes;
                // SAFETY: rows i0..i0+R and columns 0..k of A exist; bt holds N·kpad.
                unsafe {
                    let a = p.a.offset(i0 as isize * p.rsa);
                    for ch in 0..full + (tail > 0) as usize {
                        let off = ch * $lanes;
                        let mut bv = [$setzero(); N];
                        for (j, v) in bv.iter_mut().enumerate() {
                            *v = $loadu(bt.add(j * kpad + off));
                        }
                        for (r, row) in acc.iter_mut().enumerate() {
                            let ar = a.offset(r as isize * p.rsa).add(off);
                            let av = if ch < full {
                                $loadu(ar)
                            } else {
                                let mut part = [0.0 as $t; $lanes];
                                std::ptr::copy_nonoverlapping(ar, part.as_mut_ptr(), tail);
                                $loadu(part.as_ptr())
                            };
                            for (x, &b) in row.iter_mut().zip(&bv) {
                                *x = $fmadd(av, b, *x);
                            }
                        }
                    }
                    for (r, row) in acc.iter().enumerate() {
                        for (j, &x) in row.iter().enumerate() {
                            let s = $hsum(x);
                            let v = if p.alpha == 1.0 { s } else { p.alpha * s };
                            let c = p.c.offset((i0 + r) as isize * p.rsc + j as isize * p.csc);
                            *c = if p.beta == 0.0 { v } else { (*c).mul_add(p.beta, v) };
                        }
                    }
                }
            }

            super::super::narrow_path!($t, $lanes, "avx2,fma");

            /// # Safety
            /// `p` must describe valid memory (see [`Panel`]), `p.rows ≤ 6`, and
            /// `p.csa == 1` or `p.rsa == 1`; AVX2 and FMA required.
            pub(in super::super) unsafe fn row_panel(p: &Panel<$t>) {
                // SAFETY: forwarded; the dispatcher only installs this kernel when
                // the CPU has AVX2 and FMA.
                unsafe {
                    if p.csa == 1 {
                        dispatch_rows!(p.rows, R => row_panel_impl::<R, true>(p); 1 2 3 4 5 6)
                    } else {
                        dispatch_rows!(p.rows, R => row_panel_impl::<R, false>(p); 1 2 3 4 5 6)
                    }
                }
            }
        }
    };
}

avx2_kernel!(
    f32k,
    f32,
    __m256,
    8,
    _mm256_set1_ps,
    _mm256_setzero_ps,
    _mm256_loadu_ps,
    _mm256_storeu_ps,
    _mm256_fmadd_ps,
    _mm256_mul_ps,
    hsum_ps
);

avx2_kernel!(
    f64k,
    f64,
    __m256d,
    4,
    _mm256_set1_pd,
    _mm256_setzero_pd,
    _mm256_loadu_pd,
    _mm256_storeu_pd,
    _mm256_fmadd_pd,
    _mm256_mul_pd,
    hsum_pd
);

/// The sum of a vector's 8 lanes, halves first (a fixed order, so a fixed result).
#[inline]
#[target_feature(enable = "avx2,fma")]
fn hsum_ps(x: __m256) -> f32 {
    let h = _mm_add_ps(_mm256_castps256_ps128(x), _mm256_extractf128_ps::<1>(x));
    let h = _mm_add_ps(h, _mm_movehl_ps(h, h));
    _mm_cvtss_f32(_mm_add_ss(h, _mm_movehdup_ps(h)))
}

/// The sum of a vector's 4 lanes, halves first.
#[inline]
#[target_feature(enable = "avx2,fma")]
fn hsum_pd(x: __m256d) -> f64 {
    let h = _mm_add_pd(_mm256_castpd256_pd128(x), _mm256_extractf128_pd::<1>(x));
    _mm_cvtsd_f64(_mm_add_sd(h, _mm_unpackhi_pd(h, h)))
}
