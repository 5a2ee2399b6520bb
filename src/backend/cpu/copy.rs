//! Data movement: strided gathers and scatters (slice, broadcast, transpose,
//! concatenate are all one of these) and row gathers for minibatches.

use crate::backend::StridedView;
use crate::tensor::Float;

/// Calls `f(dst_offset, src_offset, run_len, src_inner_stride)` for every
/// innermost run of `view`, in row-major order.
fn for_each_run(view: &StridedView, mut f: impl FnMut(usize, usize, usize, usize)) {
    let r = view.dims.len();
    if r == 0 {
        f(0, view.offset, 1, 1);
        return;
    }
    if view.dims.contains(&0) {
        return;
    }
    let n = view.dims[r - 1];
    let s_inner = view.strides[r - 1];
    let outer: usize = view.dims[..r - 1].iter().product();
    let mut idx = vec![0usize; r - 1];
    let mut src = view.offset;
    for run in 0..outer {
        f(run * n, src, n, s_inner);
        for a in (0..r - 1).rev() {
            idx[a] += 1;
            src += view.strides[a];
            if idx[a] < view.dims[a] {
                break;
            }
            src -= view.strides[a] * view.dims[a];
            idx[a] = 0;
        }
    }
}

/// `dst` (contiguous) ← the elements of `src` seen through `view`.
pub fn gather_strided<T: Float>(src: &[T], view: &StridedView, dst: &mut [T]) {
    debug_assert_eq!(dst.len(), view.numel());
    for_each_run(view, |d, s, n, st| match st {
        1 => dst[d..d + n].copy_from_slice(&src[s..s + n]),
        0 => dst[d..d + n].fill(src[s]),
        _ => {
            for (i, v) in dst[d..d + n].iter_mut().enumerate() {
                *v = src[s + i * st];
            }
        }
    });
}

/// The elements of `view` in `dst` ← `src` (contiguous). The view must not
/// alias itself (no zero strides).
pub fn scatter_strided<T: Float>(src: &[T], dst: &mut [T], view: &StridedView) {
    debug_assert_eq!(src.len(), view.numel());
    for_each_run(view, |s, d, n, st| match st {
        1 => dst[d..d + n].copy_from_slice(&src[s..s + n]),
        _ => {
            for (i, &v) in src[s..s + n].iter().enumerate() {
                dst[d + i * st] = v;
            }
        }
    });
}

/// `dst[i] = src[idx[i]]` for rows of `row_len`.
pub fn gather_rows<T: Float>(src: &[T], idx: &[usize], row_len: usize, dst: &mut [T]) {
    for (i, &r) in idx.iter().enumerate() {
        dst[i * row_len..(i + 1) * row_len].copy_from_slice(&src[r * row_len..(r + 1) * row_len]);
    }
}

/// `dst[idx[i]] += src[i]` for rows of `row_len`.
pub fn scatter_add_rows<T: Float>(src: &[T], idx: &[usize], row_len: usize, dst: &mut [T]) {
    for (i, &r) in idx.iter().enumerate() {
        let d = &mut dst[r * row_len..(r + 1) * row_len];
        for (a, &b) in d.iter_mut().zip(&src[i * row_len..(i + 1) * row_len]) {
            *a += b;
        }
    }
}
