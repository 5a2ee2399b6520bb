//! Packing of A slivers and B blocks into the contiguous layouts the micro-kernels stream.
//!
//! Packed A: `dst[p·mr + i] = A[i, p]` (one `mr`-wide column per step of k).
//! Packed B: panels of `kc × NR`, `dst[jp·kc·NR + p·NR + j] = B[p, jp·NR + j]`,
//! zero-padded to a whole panel so kernels never branch on the width inside k.

use super::GemmScalar;

/// Packs `rows × kc` of A (strides `rsa`, `csa`) as one `MR`-interleaved sliver.
///
/// # Safety
/// The block must be readable; `dst` must hold `MR·kc` elements.
pub(super) unsafe fn pack_a<T: GemmScalar, const MR: usize>(
    rows: usize,
    kc: usize,
    a: *const T,
    rsa: isize,
    csa: isize,
    dst: *mut T,
) {
    // SAFETY: all offsets are inside the block and the buffer (caller contract).
    unsafe {
        if rsa == 1 {
            // Column-major source: each step of k is already a contiguous column.
            for p in 0..kc {
                std::ptr::copy_nonoverlapping(a.offset(p as isize * csa), dst.add(p * MR), rows);
            }
        } else if csa == 1 {
            // Row-major source: read each row contiguously, scatter with stride MR.
            for i in 0..rows {
                let src = a.offset(i as isize * rsa);
                for p in 0..kc {
                    *dst.add(p * MR + i) = *src.add(p);
                }
            }
        } else {
            for p in 0..kc {
                let src = a.offset(p as isize * csa);
                let d = dst.add(p * MR);
                for i in 0..rows {
                    *d.add(i) = *src.offset(i as isize * rsa);
                }
            }
        }
    }
}

/// Packs a `kc × nc` block of B into `NR`-wide panels.
///
/// # Safety
/// The block must be readable; `dst` must hold `kc·ceil(nc/NR)·NR` elements.
pub(super) unsafe fn pack_b<T: GemmScalar, const NR: usize>(
    kc: usize,
    nc: usize,
    b: *const T,
    rsb: isize,
    csb: isize,
    dst: *mut T,
) {
    // SAFETY: all offsets are inside the block and the buffer (caller contract).
    unsafe {
        for (jp, j0) in (0..nc).step_by(NR).enumerate() {
            let cols = NR.min(nc - j0);
            let panel = dst.add(jp * kc * NR);
            let src = b.offset(j0 as isize * csb);
            if csb == 1 && cols == NR {
                for p in 0..kc {
                    std::ptr::copy_nonoverlapping(src.offset(p as isize * rsb), panel.add(p * NR), NR);
                }
            } else if rsb == 1 {
                // Transposed source: each column of B is contiguous along k.
                for p in 0..kc {
                    for j in cols..NR {
                        *panel.add(p * NR + j) = T::GEMM_ZERO;
                    }
                }
                for j in 0..cols {
                    let s = src.offset(j as isize * csb);
                    for p in 0..kc {
                        *panel.add(p * NR + j) = *s.add(p);
                    }
                }
            } else {
                for p in 0..kc {
                    let s = src.offset(p as isize * rsb);
                    let d = panel.add(p * NR);
                    for j in 0..cols {
                        *d.add(j) = *s.offset(j as isize * csb);
                    }
                    for j in cols..NR {
                        *d.add(j) = T::GEMM_ZERO;
                    }
                }
            }
        }
    }
}
