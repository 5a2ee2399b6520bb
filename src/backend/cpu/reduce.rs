//! Reductions along one axis of a row-major tensor viewed as `outer × len × inner`.
//!
//! The summation order is fixed (sequential over the reduced axis), so the
//! result does not depend on the thread count.

use super::team;

use crate::backend::ReduceOp;
use crate::tensor::Float;

/// Above this many input elements the outer axis is split across threads.
const PARALLEL_MIN_ELEMS: usize = 1 << 17;
/// Input elements a task reduces at least, when the outer axis is split.
const TASK_MIN_ELEMS: usize = 1 << 14;

/// `out[o, i] = reduce_l x[o, l, i]`.
pub fn reduce_axis<T: Float>(op: ReduceOp, x: &[T], outer: usize, len: usize, inner: usize, out: &mut [T]) {
    debug_assert_eq!(x.len(), outer * len * inner);
    debug_assert_eq!(out.len(), outer * inner);
    if out.is_empty() {
        return;
    }
    let block = |o: usize, dst: &mut [T]| {
        let src = &x[o * len * inner..(o + 1) * len * inner];
        match op {
            ReduceOp::Sum => reduce_block(src, len, inner, dst, T::ZERO, |a, b| a + b),
            ReduceOp::Max => reduce_block(src, len, inner, dst, T::from_f64(f64::NEG_INFINITY), |a: T, b| a.max(b)),
            ReduceOp::Min => reduce_block(src, len, inner, dst, T::from_f64(f64::INFINITY), |a: T, b| a.min(b)),
        }
    };
    if x.len() >= PARALLEL_MIN_ELEMS && outer > 1 {
        // Whole runs of outer indices per task: a task per index would cost
        // more in hand-overs than a short reduction does (group norm reduces
        // 4 channels at each of 800k outer indices).
        let per_task = (TASK_MIN_ELEMS / (len * inner).max(1)).clamp(1, outer.div_ceil(2 * team::threads()));
        team::for_each_chunk_mut(out, per_task * inner, |task, dst| {
            for (j, d) in dst.chunks_mut(inner).enumerate() {
                block(task * per_task + j, d);
            }
        });
    } else if x.len() >= PARALLEL_MIN_ELEMS && inner >= 256 {
        // One long reduction with wide rows: split the columns.
        const COLS: usize = 128;
        team::for_each_chunk_mut(out, COLS, |c, dst| {
            let c0 = c * COLS;
            let w = dst.len();
            dst.fill(match op {
                ReduceOp::Sum => T::ZERO,
                ReduceOp::Max => T::from_f64(f64::NEG_INFINITY),
                ReduceOp::Min => T::from_f64(f64::INFINITY),
            });
            for l in 0..len {
                let row = &x[l * inner + c0..l * inner + c0 + w];
                for (d, &v) in dst.iter_mut().zip(row) {
                    *d = match op {
                        ReduceOp::Sum => *d + v,
                        ReduceOp::Max => d.max(v),
                        ReduceOp::Min => d.min(v),
                    };
                }
            }
        });
    } else {
        for (o, dst) in out.chunks_mut(inner).enumerate() {
            block(o, dst);
        }
    }
}

fn reduce_block<T: Float>(src: &[T], len: usize, inner: usize, dst: &mut [T], init: T, f: impl Fn(T, T) -> T) {
    if inner == 1 {
        dst[0] = src.iter().fold(init, |acc, &v| f(acc, v));
        return;
    }
    dst.fill(init);
    for l in 0..len {
        let row = &src[l * inner..(l + 1) * inner];
        for (d, &v) in dst.iter_mut().zip(row) {
            *d = f(*d, v);
        }
    }
}
