//! Elementwise kernels: unary ops and their backward rules, broadcast binary ops.
//!
//! Each op is dispatched once per call to a loop specialized for it (the
//! `match` sits outside the loop), so the loop body inlines and vectorizes.

use super::simd;
use crate::backend::{Activation, BinaryOp, UnaryOp};
use crate::tensor::shape::BroadcastPlan;
use crate::tensor::{Float, Shape};

/// Expands `$body` once per activation with `$a` bound to a value whose
/// variant the optimizer can see.
macro_rules! specialize_act {
    ($act:expr, $a:ident => $body:expr) => {
        match $act {
            Activation::Tanh => {
                let $a = Activation::Tanh;
                $body
            }
            Activation::Sigmoid => {
                let $a = Activation::Sigmoid;
                $body
            }
            Activation::Softplus { beta } => {
                let $a = Activation::Softplus { beta };
                $body
            }
            Activation::Silu => {
                let $a = Activation::Silu;
                $body
            }
            Activation::Relu => {
                let $a = Activation::Relu;
                $body
            }
            Activation::Elu { alpha } => {
                let $a = Activation::Elu { alpha };
                $body
            }
            Activation::Selu => {
                let $a = Activation::Selu;
                $body
            }
            Activation::Identity => {
                let $a = Activation::Identity;
                $body
            }
        }
    };
}

/// Same for unary ops.
macro_rules! specialize_unary {
    ($op:expr, $o:ident => $body:expr) => {
        match $op {
            UnaryOp::Neg => {
                let $o = UnaryOp::Neg;
                $body
            }
            UnaryOp::Exp => {
                let $o = UnaryOp::Exp;
                $body
            }
            UnaryOp::Ln => {
                let $o = UnaryOp::Ln;
                $body
            }
            UnaryOp::Sqrt => {
                let $o = UnaryOp::Sqrt;
                $body
            }
            UnaryOp::Square => {
                let $o = UnaryOp::Square;
                $body
            }
            UnaryOp::Recip => {
                let $o = UnaryOp::Recip;
                $body
            }
            UnaryOp::Abs => {
                let $o = UnaryOp::Abs;
                $body
            }
            UnaryOp::Powi(n) => {
                let $o = UnaryOp::Powi(n);
                $body
            }
            UnaryOp::AddScalar(c) => {
                let $o = UnaryOp::AddScalar(c);
                $body
            }
            UnaryOp::MulScalar(c) => {
                let $o = UnaryOp::MulScalar(c);
                $body
            }
            UnaryOp::Act(a) => specialize_act!(a, sa => {
                let $o = UnaryOp::Act(sa);
                $body
            }),
            UnaryOp::ActDeriv(a) => specialize_act!(a, sa => {
                let $o = UnaryOp::ActDeriv(sa);
                $body
            }),
        }
    };
}

/// `y = f(x)`.
pub fn unary<T: Float>(op: UnaryOp, x: &[T], y: &mut [T]) {
    specialize_unary!(op, o => simd::map1(x, y, move |v| o.eval(v)))
}

/// `gx = gy · f'(x)` (with `y = f(x)` available to the derivative).
pub fn unary_backward<T: Float>(op: UnaryOp, x: &[T], y: &[T], gy: &[T], gx: &mut [T]) {
    specialize_unary!(op, o => simd::map3(x, y, gy, gx, move |x, y, g| g * o.deriv(x, y)))
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
