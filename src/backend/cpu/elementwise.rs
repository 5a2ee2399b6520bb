//! Elementwise kernels: unary ops and their backward rules, broadcast binary ops.
//!
//! Each op is dispatched once per call to a loop specialized for it (the
//! `match` sits outside the loop), so the loop body inlines and vectorizes.

use super::simd;
use crate::backend::{Activation, BinaryOp, UnaryOp};
use crate::tensor::shape::BroadcastPlan;
use crate::tensor::{Float, Shape};

/// Calls `$kernel!(OP, args…)` with `OP` the tokens that construct the
/// activation, so a kernel can build it *inside* its per-element closure:
/// the closure then sees a constant and inlines and vectorizes (a value
/// captured from outside would leave a `match` in every iteration).
macro_rules! with_act {
    ($act:expr, $wrap:path, $kernel:ident!($($args:tt)*)) => {
        match $act {
            Activation::Tanh => $kernel!($wrap(Activation::Tanh), $($args)*),
            Activation::Sigmoid => $kernel!($wrap(Activation::Sigmoid), $($args)*),
            Activation::Softplus { beta } => $kernel!($wrap(Activation::Softplus { beta }), $($args)*),
            Activation::Silu => $kernel!($wrap(Activation::Silu), $($args)*),
            Activation::Relu => $kernel!($wrap(Activation::Relu), $($args)*),
            Activation::Elu { alpha } => $kernel!($wrap(Activation::Elu { alpha }), $($args)*),
            Activation::Selu => $kernel!($wrap(Activation::Selu), $($args)*),
            Activation::Identity => $kernel!($wrap(Activation::Identity), $($args)*),
        }
    };
}
pub(crate) use with_act;

/// The same for unary ops.
macro_rules! with_unary {
    ($op:expr, $kernel:ident!($($args:tt)*)) => {
        match $op {
            UnaryOp::Neg => $kernel!(UnaryOp::Neg, $($args)*),
            UnaryOp::Exp => $kernel!(UnaryOp::Exp, $($args)*),
            UnaryOp::Ln => $kernel!(UnaryOp::Ln, $($args)*),
            UnaryOp::Sqrt => $kernel!(UnaryOp::Sqrt, $($args)*),
            UnaryOp::Square => $kernel!(UnaryOp::Square, $($args)*),
            UnaryOp::Recip => $kernel!(UnaryOp::Recip, $($args)*),
            UnaryOp::Abs => $kernel!(UnaryOp::Abs, $($args)*),
            UnaryOp::Powi(n) => $kernel!(UnaryOp::Powi(n), $($args)*),
            UnaryOp::AddScalar(c) => $kernel!(UnaryOp::AddScalar(c), $($args)*),
            UnaryOp::MulScalar(c) => $kernel!(UnaryOp::MulScalar(c), $($args)*),
            UnaryOp::Act(a) => with_act!(a, UnaryOp::Act, $kernel!($($args)*)),
            UnaryOp::ActDeriv(a) => with_act!(a, UnaryOp::ActDeriv, $kernel!($($args)*)),
        }
    };
}

macro_rules! unary_kernel {
    ($o:expr, $x:expr, $y:expr) => {
        simd::map1($x, $y, move |v| $o.eval(v))
    };
}

macro_rules! unary_backward_kernel {
    ($o:expr, $x:expr, $y:expr, $gy:expr, $gx:expr) => {
        simd::map3($x, $y, $gy, $gx, move |x, y, g| g * $o.deriv(x, y))
    };
}

/// `y = f(x)`.
pub fn unary<T: Float>(op: UnaryOp, x: &[T], y: &mut [T]) {
    with_unary!(op, unary_kernel!(x, y))
}

/// `gx = gy · f'(x)` (with `y = f(x)` available to the derivative).
pub fn unary_backward<T: Float>(op: UnaryOp, x: &[T], y: &[T], gy: &[T], gx: &mut [T]) {
    with_unary!(op, unary_backward_kernel!(x, y, gy, gx))
}

/// `out = a op b` with `a`, `b` broadcast to `out_shape`.
pub fn binary<T: Float>(
    op: BinaryOp,
    a: &[T],
    a_shape: &Shape,
    b: &[T],
    b_shape: &Shape,
    out: &mut [T],
    out_shape: &Shape,
) {
    match op {
        BinaryOp::Add => binary_with(a, a_shape, b, b_shape, out, out_shape, |x, y| x + y),
        BinaryOp::Sub => binary_with(a, a_shape, b, b_shape, out, out_shape, |x, y| x - y),
        BinaryOp::Mul => binary_with(a, a_shape, b, b_shape, out, out_shape, |x, y| x * y),
        BinaryOp::Div => binary_with(a, a_shape, b, b_shape, out, out_shape, |x, y| x / y),
        BinaryOp::Max => binary_with(a, a_shape, b, b_shape, out, out_shape, |x: T, y| x.max(y)),
        BinaryOp::Min => binary_with(a, a_shape, b, b_shape, out, out_shape, |x: T, y| x.min(y)),
    }
}

/// Innermost runs shorter than this are done with a scalar loop.
const SHORT_RUN: usize = 16;

fn binary_with<T: Float, F: Fn(T, T) -> T + Copy + Send + Sync>(
    a: &[T],
    a_shape: &Shape,
    b: &[T],
    b_shape: &Shape,
    out: &mut [T],
    out_shape: &Shape,
    f: F,
) {
    if a_shape == out_shape && b_shape == out_shape {
        simd::map2(a, b, out, f);
        return;
    }
    let plan = BroadcastPlan::new(&[a_shape, b_shape], out_shape);
    let n = plan.inner_len();
    let inner = plan.inner_strides();
    let (sa, sb) = (inner[0], inner[1]);
    plan.for_each_run(|o, offs| {
        let dst = &mut out[o..o + n];
        if n < SHORT_RUN {
            // Dispatching a vector loop costs more than a few scalar operations.
            for (i, d) in dst.iter_mut().enumerate() {
                *d = f(a[offs[0] + i * sa], b[offs[1] + i * sb]);
            }
            return;
        }
        match (sa, sb) {
            (1, 1) => simd::map2(&a[offs[0]..offs[0] + n], &b[offs[1]..offs[1] + n], dst, f),
            (1, 0) => {
                let bv = b[offs[1]];
                simd::map1(&a[offs[0]..offs[0] + n], dst, move |x| f(x, bv))
            }
            (0, 1) => {
                let av = a[offs[0]];
                simd::map1(&b[offs[1]..offs[1] + n], dst, move |y| f(av, y))
            }
            _ => {
                for (i, d) in dst.iter_mut().enumerate() {
                    *d = f(a[offs[0] + i * sa], b[offs[1] + i * sb]);
                }
            }
        }
    });
}
