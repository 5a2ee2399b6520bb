//! AVX-512F micro-kernels: 12 rows × 2 zmm of C in registers (12×32 f32, 12×16 f64).
//!
//! 24 accumulators + 2 B vectors leave room for the broadcasts in the 32 zmm
//! registers; per step of k the kernel does 2 vector loads, 12 broadcasts and
//! 24 FMAs, which keeps Zen 4's FMA pipes (one zmm FMA per cycle) busy while
//! staying well under its load bandwidth. Ragged right edges use lane masks.
//!
//! Also here: the dot-product path for C with at most 4 columns (`narrow`),
//! where a 32-wide register tile would be mostly padding.
//!
//! The blocking below was measured on 2 cores of a Zen 4 EPYC (32 KiB L1d,
//! 1 MiB L2 per core): results were flat within noise for kc 256-512 and best
//! with nc ≥ 768, i.e. with each A sliver reused across many B panels.

use core::arch::x86_64::*;

use super::{Kernel, NARROW_N, Panel, Problem, Scratch, dispatch_rows, pack, pack_avx512, workspace::Workspace};

const MR: usize = 12;

const _: () = assert!(f32k::NR == 32, "pack_b_f32_32 packs 32-wide panels");

pub(super) static F32: Kernel<f32> = Kernel {
    mr: MR,
    nr: f32k::NR,
    kc: 384,
    kc_strided_a: 384,
    nc: 1024,
    mc: 1536,
    direct_max_n: 256,
    row_panel: f32k::row_panel,
    pack_a: pack_avx512::pack_a_f32::<MR>,
    pack_b: pack_avx512::pack_b_f32_32,
    narrow: Some(f32k::narrow),
};

pub(super) static F64: Kernel<f64> = Kernel {
    mr: MR,
    nr: f64k::NR,
    kc: 256,
    kc_strided_a: 256,
    nc: 512,
    mc: 768,
    direct_max_n: 128,
    row_panel: f64k::row_panel,
    pack_a: pack::pack_a::<f64, MR>,
    pack_b: pack::pack_b::<f64, { f64k::NR }>,
    narrow: Some(f64k::narrow),
};

macro_rules! avx512_kernel {
    (
        $modname:ident, $t:ty, $v:ty, $lanes:literal, $mask:ty,
        $set1:ident, $setzero:ident, $loadu:ident, $storeu:ident, $fmadd:ident, $mul:ident,
        $maskz_loadu:ident, $mask_storeu:ident, $reduce_add:ident
    ) => {
        pub(super) mod $modname {
            use super::*;

            pub(in super::super) const NR: usize = 2 * $lanes;

            /// One `ROWS × NR` tile, unit column stride in C. With `MASKED`, only the
            /// lanes in `mask` are read from and written to C.
            ///
            /// # Safety
            /// A: `ROWS × k` at strides (`rsa`, 1) if `A_ROWMAJOR`, else (1, `csa`);
            /// B: one `k × NR` panel, rows `rsb` apart; C: the (masked) `ROWS × NR` tile at row
            /// stride `rsc`, writable. The CPU must support AVX-512F.
            #[inline]
            #[target_feature(enable = "avx512f")]
            #[allow(clippy::too_many_arguments)]
            unsafe fn tile<const ROWS: usize, const A_ROWMAJOR: bool, const MASKED: bool>(
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
                mask: [$mask; 2],
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
                            if MASKED {
                                if beta != 0.0 {
                                    r = $fmadd($maskz_loadu(mask[h], cp), vb, r);
                                }
                                $mask_storeu(cp, mask[h], r);
                            } else {
                                if beta != 0.0 {
                                    r = $fmadd($loadu(cp), vb, r);
                                }
                                $storeu(cp, r);
                            }
                        }
                    }
                }
            }

            /// # Safety
            /// `p` must describe valid memory (see [`Panel`]); AVX-512F required.
            #[target_feature(enable = "avx512f")]
            unsafe fn row_panel_impl<const ROWS: usize, const A_ROWMAJOR: bool>(p: &Panel<$t>) {
                let full = p.ncols / NR;
                let rem = p.ncols % NR;
                // Wrapping: computed for in-bounds panels only, but a closure cannot
                // carry the unsafe block's contract.
                let panel = |jp: usize| p.b.wrapping_offset(jp as isize * p.b_panel);
                // SAFETY: every tile lies inside the panel; ragged or strided ones
                // are masked or go through a scratch tile.
                unsafe {
                    if p.csc == 1 {
                        for jp in 0..full {
                            tile::<ROWS, A_ROWMAJOR, false>(
                                p.k, p.alpha, p.a, p.rsa, p.csa, panel(jp), p.rsb,
                                p.beta, p.c.add(jp * NR), p.rsc, [0; 2],
                            );
                        }
                        if rem > 0 {
                            let lane_mask = |n: usize| -> $mask {
                                if n >= $lanes { !0 } else { ((1u32 << n) - 1) as $mask }
                            };
                            let mask = [lane_mask(rem), lane_mask(rem.saturating_sub($lanes))];
                            tile::<ROWS, A_ROWMAJOR, true>(
                                p.k, p.alpha, p.a, p.rsa, p.csa, panel(full), p.rsb,
                                p.beta, p.c.add(full * NR), p.rsc, mask,
                            );
                        }
                    } else {
                        for jp in 0..full + (rem > 0) as usize {
                            let cols = NR.min(p.ncols - jp * NR);
                            let c = p.c.offset((jp * NR) as isize * p.csc);
                            let mut s = Scratch::<$t, ROWS, NR>::load(ROWS, cols, p.beta, c, p.rsc, p.csc);
                            tile::<ROWS, A_ROWMAJOR, false>(
                                p.k, p.alpha, p.a, p.rsa, p.csa, panel(jp), p.rsb,
                                p.beta, s.ptr(), NR as isize, [0; 2],
                            );
                            s.store(ROWS, cols, c, p.rsc, p.csc);
                        }
                    }
                }
            }

            /// Rows `i0..i0 + R` of a narrow product: one dot product per element of
            /// C, vectorized along k (A rows contiguous, `bt` = packed Bᵀ, `N × kpad`).
            ///
            /// # Safety
            /// As [`narrow`]; `bt` holds the packed Bᵀ; AVX-512F required.
            #[inline]
            #[target_feature(enable = "avx512f")]
            unsafe fn narrow_rows<const R: usize, const N: usize>(p: &Problem<$t>, i0: usize, bt: *const $t, kpad: usize) {
                let mut acc = [[$setzero(); N]; R];
                let full = p.k / $lanes;
                let tail = p.k % $lanes;
                // SAFETY: rows i0..i0+R and columns 0..k of A exist; bt holds N·kpad.
                unsafe {
                    let a = p.a.offset(i0 as isize * p.rsa);
                    for ch in 0..full + (tail > 0) as usize {
                        let off = ch * $lanes;
                        let mask: $mask = if ch < full { !0 } else { ((1u32 << tail) - 1) as $mask };
                        let mut bv = [$setzero(); N];
                        for (j, v) in bv.iter_mut().enumerate() {
                            *v = $loadu(bt.add(j * kpad + off));
                        }
                        for (r, row) in acc.iter_mut().enumerate() {
                            let av = $maskz_loadu(mask, a.offset(r as isize * p.rsa).add(off));
                            for (x, &b) in row.iter_mut().zip(&bv) {
                                *x = $fmadd(av, b, *x);
                            }
                        }
                    }
                    for (r, row) in acc.iter().enumerate() {
                        for (j, &x) in row.iter().enumerate() {
                            let s = $reduce_add(x);
                            let v = if p.alpha == 1.0 { s } else { p.alpha * s };
                            let c = p.c.offset((i0 + r) as isize * p.rsc + j as isize * p.csc);
                            *c = if p.beta == 0.0 { v } else { (*c).mul_add(p.beta, v) };
                        }
                    }
                }
            }

            super::super::narrow_path!($t, $lanes, "avx512f");

            /// # Safety
            /// `p` must describe valid memory (see [`Panel`]), `p.rows ≤ 12`, and
            /// `p.csa == 1` or `p.rsa == 1`; AVX-512F required.
            pub(in super::super) unsafe fn row_panel(p: &Panel<$t>) {
                // SAFETY: forwarded; the dispatcher only installs this kernel when
                // the CPU has AVX-512F.
                unsafe {
                    if p.csa == 1 {
                        dispatch_rows!(p.rows, R => row_panel_impl::<R, true>(p); 1 2 3 4 5 6 7 8 9 10 11 12)
                    } else {
                        dispatch_rows!(p.rows, R => row_panel_impl::<R, false>(p); 1 2 3 4 5 6 7 8 9 10 11 12)
                    }
                }
            }
        }
    };
}

avx512_kernel!(
    f32k,
    f32,
    __m512,
    16,
    __mmask16,
    _mm512_set1_ps,
    _mm512_setzero_ps,
    _mm512_loadu_ps,
    _mm512_storeu_ps,
    _mm512_fmadd_ps,
    _mm512_mul_ps,
    _mm512_maskz_loadu_ps,
    _mm512_mask_storeu_ps,
    _mm512_reduce_add_ps
);

avx512_kernel!(
    f64k,
    f64,
    __m512d,
    8,
    __mmask8,
    _mm512_set1_pd,
    _mm512_setzero_pd,
    _mm512_loadu_pd,
    _mm512_storeu_pd,
    _mm512_fmadd_pd,
    _mm512_mul_pd,
    _mm512_maskz_loadu_pd,
    _mm512_mask_storeu_pd,
    _mm512_reduce_add_pd
);
