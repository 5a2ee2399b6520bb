//! The recorded ops and their gradient rules (vector-Jacobian products).
//!
//! Each rule receives the gradient of the op's output and returns one
//! gradient per input, computed with eager [`Tensor`] ops. Inputs whose
//! gradient is not wanted (constants) are skipped: the first layer's input
//! gradient, for example, costs nothing when the input is data.

use std::sync::Arc;

use super::tape::Node;
use crate::backend::cpu::conv::{ConvGeometry, PoolGeometry};
use crate::backend::cpu::gemm::Transpose;
use crate::backend::{Activation, BinaryOp, ReduceOp, UnaryOp};
use crate::tensor::{Float, Shape, Tensor};
use crate::{Result, invalid_arg};

/// A user-supplied backward rule: `(inputs, output, grad_output) -> grads`.
pub type CustomRule<T> = Arc<dyn Fn(&[Tensor<T>], &Tensor<T>, &Tensor<T>) -> Result<Vec<Option<Tensor<T>>>>>;

pub(crate) enum Op<T: Float> {
    Leaf,
    Unary { x: usize, op: UnaryOp },
    Binary { a: usize, b: usize, op: BinaryOp },
    MatMul { a: usize, b: usize, ta: Transpose, tb: Transpose },
    Affine { x: usize, w: usize, b: usize },
    SumAxis { x: usize },
    Reshape { x: usize },
    BroadcastTo { x: usize },
    Slice { x: usize, axis: usize, start: usize },
    Concat { xs: Vec<usize>, axis: usize },
    GatherRows { x: usize, idx: Arc<[usize]> },
    Transpose { x: usize },
    LinComb { xs: Vec<usize>, coeffs: Vec<f64> },
    TangentAct { z: usize, b: usize, batch: usize, act: Activation },
    BiasAct { z: usize, b: usize, act: Activation },
    LogSumExp { x: usize },
    Im2Col { x: usize, g: ConvGeometry },
    Conv2d { x: usize, w: usize, g: ConvGeometry },
    Col2Im { x: usize, g: ConvGeometry },
    PoolSum { x: usize, g: PoolGeometry },
    Upsample { x: usize, g: PoolGeometry },
    Custom { inputs: Vec<usize>, rule: CustomRule<T> },
}

impl<T: Float> Op<T> {
    pub fn inputs(&self) -> Vec<usize> {
        match self {
            Op::Leaf => vec![],
            Op::Unary { x, .. }
            | Op::SumAxis { x, .. }
            | Op::Reshape { x }
            | Op::BroadcastTo { x }
            | Op::Slice { x, .. }
            | Op::GatherRows { x, .. }
            | Op::Transpose { x }
            | Op::LogSumExp { x, .. }
            | Op::Im2Col { x, .. }
            | Op::Col2Im { x, .. }
            | Op::PoolSum { x, .. }
            | Op::Upsample { x, .. } => vec![*x],
            Op::Binary { a, b, .. } | Op::MatMul { a, b, .. } => vec![*a, *b],
            Op::Conv2d { x, w, .. } => vec![*x, *w],
            Op::TangentAct { z, b, .. } | Op::BiasAct { z, b, .. } => vec![*z, *b],
            Op::Affine { x, w, b } => vec![*x, *w, *b],
            Op::Concat { xs, .. } | Op::LinComb { xs, .. } => xs.clone(),
            Op::Custom { inputs, .. } => inputs.clone(),
        }
    }

    pub fn name(&self) -> &'static str {
        match self {
            Op::Leaf => "leaf",
            Op::Unary { op, .. } => op.name(),
            Op::Binary { op, .. } => op.name(),
            Op::MatMul { .. } => "matmul",
            Op::Affine { .. } => "affine",
            Op::SumAxis { .. } => "sum",
            Op::Reshape { .. } => "reshape",
            Op::BroadcastTo { .. } => "broadcast_to",
            Op::Slice { .. } => "slice",
            Op::Concat { .. } => "concat",
            Op::GatherRows { .. } => "gather_rows",
            Op::Transpose { .. } => "transpose",
            Op::LinComb { .. } => "lincomb",
            Op::TangentAct { .. } => "tangent_act",
            Op::BiasAct { .. } => "bias_act",
            Op::LogSumExp { .. } => "logsumexp",
            Op::Im2Col { .. } => "im2col",
            Op::Conv2d { .. } => "conv2d",
            Op::Col2Im { .. } => "col2im",
            Op::PoolSum { .. } => "pool_sum",
            Op::Upsample { .. } => "upsample_nearest",
            Op::Custom { .. } => "custom",
        }
    }
}

fn flip(t: Transpose) -> Transpose {
    match t {
        Transpose::No => Transpose::Yes,
        Transpose::Yes => Transpose::No,
    }
}

/// Gradients of `op`'s inputs given its output `y` and output gradient `gy`;
/// `wanted[i]` says whether input `i` needs one.
pub(crate) fn backward<T: Float>(
    op: &Op<T>,
    nodes: &[Node<T>],
    y: &Tensor<T>,
    gy: &Tensor<T>,
    wanted: &[bool],
) -> Result<Vec<Option<Tensor<T>>>> {
    let val = |i: usize| &nodes[i].value;
    Ok(match op {
        Op::Leaf => vec![],
        Op::Unary { x, op } => vec![Some(val(*x).unary_backward(y, gy, *op)?)],
        Op::Binary { a, b, op } => {
            let (va, vb) = (val(*a), val(*b));
            let (ga, gb) = match op {
                BinaryOp::Add => (gy.clone(), gy.clone()),
                BinaryOp::Sub => (gy.clone(), if wanted[1] { gy.scale(-1.0)? } else { gy.clone() }),
                BinaryOp::Mul => {
                    (if wanted[0] { gy.mul(vb)? } else { gy.clone() }, if wanted[1] { gy.mul(va)? } else { gy.clone() })
                }
                BinaryOp::Div => (
                    if wanted[0] { gy.div(vb)? } else { gy.clone() },
                    // d(a/b)/db = −y/b
                    if wanted[1] { gy.mul(y)?.div(vb)?.scale(-1.0)? } else { gy.clone() },
                ),
                BinaryOp::Max | BinaryOp::Min => invalid_arg!("{} has no gradient rule", op.name()),
            };
            vec![
                if wanted[0] { Some(ga.sum_to(va.shape())?) } else { None },
                if wanted[1] { Some(gb.sum_to(vb.shape())?) } else { None },
            ]
        }
        Op::MatMul { a, b, ta, tb } => {
            let (va, vb) = (val(*a), val(*b));
            // C = op(A)·op(B). For op(A) = A: gA = gC·op(B)ᵀ; for op(A) = Aᵀ:
            // gA = op(B)·gCᵀ. Symmetrically for B. No transpose is materialized.
            let ga = if wanted[0] {
                let g = match ta {
                    Transpose::No => gy.matmul_t(vb, Transpose::No, flip(*tb))?,
                    Transpose::Yes => vb.matmul_t(gy, *tb, Transpose::Yes)?,
                };
                Some(sum_batch_to(g, va.shape())?)
            } else {
                None
            };
            let gb = if wanted[1] {
                let g = match tb {
                    Transpose::No => va.matmul_t(gy, flip(*ta), Transpose::No)?,
                    Transpose::Yes => gy.matmul_t(va, Transpose::Yes, *ta)?,
                };
                Some(sum_batch_to(g, vb.shape())?)
            } else {
                None
            };
            vec![ga, gb]
        }
        Op::Affine { x, w, b } => {
            let (vx, vw, vb) = (val(*x), val(*w), val(*b));
            vec![
                if wanted[0] { Some(gy.matmul_t(vw, Transpose::No, Transpose::Yes)?) } else { None },
                if wanted[1] { Some(vx.matmul_t(gy, Transpose::Yes, Transpose::No)?) } else { None },
                if wanted[2] { Some(gy.sum_axis(0)?.reshape(vb.shape().clone())?) } else { None },
            ]
        }
        Op::SumAxis { x } => vec![Some(gy.broadcast_to(val(*x).shape().clone())?)],
        Op::BroadcastTo { x } => vec![Some(gy.sum_to(val(*x).shape())?)],
        Op::Reshape { x } => vec![Some(gy.reshape(val(*x).shape().clone())?)],
        Op::Slice { x, axis, start } => vec![Some(gy.pad_axis(*axis, *start, val(*x).shape().dim(*axis))?)],
        Op::Concat { xs, axis } => {
            let mut at = 0;
            let mut out = Vec::with_capacity(xs.len());
            for (i, &x) in xs.iter().enumerate() {
                let len = val(x).shape().dim(*axis);
                out.push(if wanted[i] { Some(gy.slice(*axis, at, len)?) } else { None });
                at += len;
            }
            out
        }
        Op::GatherRows { x, idx } => vec![Some(gy.scatter_add_rows(idx, val(*x).shape().dim(0))?)],
        Op::Transpose { .. } => vec![Some(gy.t()?)],
        Op::BiasAct { z, b, act } => {
            let (gz, gb) = val(*z).bias_act_backward(val(*b), y, gy, *act)?;
            vec![Some(gz), Some(gb)]
        }
        Op::TangentAct { z, b, batch, act } => {
            let (gz, gb) = val(*z).tangent_act_backward(val(*b), y, gy, *batch, *act)?;
            vec![Some(gz), Some(gb)]
        }
        Op::LinComb { coeffs, .. } => coeffs
            .iter()
            .zip(wanted)
            .map(|(&c, &w)| if w { gy.scale(c).map(Some) } else { Ok(None) })
            .collect::<Result<_>>()?,
        Op::LogSumExp { x } => {
            // ∂/∂x_i log Σ_j e^{x_j} = e^{x_i − y}
            let p = val(*x).sub(y)?.unary(UnaryOp::Exp)?;
            vec![Some(p.mul(gy)?)]
        }
        // The four resampling ops are linear, and pairwise adjoint:
        // im2col ↔ col2im, window sum ↔ nearest upsampling.
        Op::Im2Col { x, g } => vec![Some(gy.col2im(g)?.reshape(val(*x).shape().clone())?)],
        // y = im2col(x)·W: gx = col2im(gy·Wᵀ), gW = im2col(x)ᵀ·gy, fused per run of images.
        Op::Conv2d { x, w, g } => vec![
            if wanted[0] {
                Some(gy.conv2d_backward_input(val(*w), g)?.reshape(val(*x).shape().clone())?)
            } else {
                None
            },
            if wanted[1] { Some(val(*x).conv2d_backward_weight(gy, g)?) } else { None },
        ],
        Op::Col2Im { x, g } => vec![Some(gy.im2col(g)?.reshape(val(*x).shape().clone())?)],
        Op::PoolSum { x, g } => vec![Some(gy.upsample_nearest(g)?.reshape(val(*x).shape().clone())?)],
        Op::Upsample { x, g } => vec![Some(gy.pool_sum(g)?.reshape(val(*x).shape().clone())?)],
        Op::Custom { inputs, rule } => {
            let vals: Vec<Tensor<T>> = inputs.iter().map(|&i| val(i).clone()).collect();
            let g = rule(&vals, y, gy)?;
            if g.len() != inputs.len() {
                invalid_arg!("custom op returned {} gradients for {} inputs", g.len(), inputs.len());
            }
            g
        }
    })
}

/// A batched product's gradient for an operand that was shared across the
/// batch (rank 2) is the sum over the batch.
fn sum_batch_to<T: Float>(g: Tensor<T>, target: &Shape) -> Result<Tensor<T>> {
    if g.shape() == target { Ok(g) } else { g.reduce_axis(ReduceOp::Sum, 0)?.reshape(target.clone()) }
}
