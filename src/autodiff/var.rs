//! Differentiable ops on [`Var`]: each computes its value with the eager
//! [`Tensor`] op and records itself on the tape.

use std::sync::Arc;

use super::backward::Op;
use super::tape::Var;
use crate::backend::cpu::conv::{ConvGeometry, PoolGeometry};
use crate::backend::cpu::gemm::Transpose;
use crate::backend::{Activation, BinaryOp, ReduceOp, UnaryOp};
use crate::tensor::{Float, Shape, Tensor};
use crate::{Result, invalid_arg, shape_err};

impl<'t, T: Float> Var<'t, T> {
    fn check_same_tape(&self, other: &Var<'t, T>) -> Result<()> {
        if !std::ptr::eq(self.tape, other.tape) {
            invalid_arg!("operands recorded on different tapes");
        }
        Ok(())
    }

    // ----- elementwise unary --------------------------------------------

    /// `f(x)` for a primitive unary op; `d/dx = f'(x)`.
    pub fn unary(&self, op: UnaryOp) -> Result<Self> {
        let y = self.value().unary(op)?;
        Ok(self.tape.record(y, Op::Unary { x: self.id, op }))
    }
    /// `−x`
    pub fn neg(&self) -> Result<Self> {
        self.unary(UnaryOp::Neg)
    }
    /// `e^x`; derivative `e^x`.
    pub fn exp(&self) -> Result<Self> {
        self.unary(UnaryOp::Exp)
    }
    /// `ln x`; derivative `1/x`.
    pub fn ln(&self) -> Result<Self> {
        self.unary(UnaryOp::Ln)
    }
    /// `√x`; derivative `1/(2√x)`.
    pub fn sqrt(&self) -> Result<Self> {
        self.unary(UnaryOp::Sqrt)
    }
    /// `x²`; derivative `2x`.
    pub fn square(&self) -> Result<Self> {
        self.unary(UnaryOp::Square)
    }
    /// `1/x`; derivative `−1/x²`.
    pub fn recip(&self) -> Result<Self> {
        self.unary(UnaryOp::Recip)
    }
    /// `|x|`; derivative `sign x` (0 at 0).
    pub fn abs(&self) -> Result<Self> {
        self.unary(UnaryOp::Abs)
    }
    /// `x^n`; derivative `n·x^{n−1}`.
    pub fn powi(&self, n: i32) -> Result<Self> {
        self.unary(UnaryOp::Powi(n))
    }
    /// `x + c`
    pub fn add_scalar(&self, c: f64) -> Result<Self> {
        self.unary(UnaryOp::AddScalar(c))
    }
    /// `c·x`
    pub fn mul_scalar(&self, c: f64) -> Result<Self> {
        self.unary(UnaryOp::MulScalar(c))
    }
    /// `σ(x)` for an activation; derivative `σ'(x)`.
    pub fn act(&self, a: Activation) -> Result<Self> {
        if a == Activation::Identity {
            return Ok(*self);
        }
        self.unary(UnaryOp::Act(a))
    }
    /// `σ'(x)` as a differentiable op (derivative `σ''(x)`): what a
    /// Jacobian-vector product through an activation multiplies by.
    pub fn act_deriv(&self, a: Activation) -> Result<Self> {
        self.unary(UnaryOp::ActDeriv(a))
    }
    pub fn tanh(&self) -> Result<Self> {
        self.act(Activation::Tanh)
    }
    pub fn sigmoid(&self) -> Result<Self> {
        self.act(Activation::Sigmoid)
    }
    /// `log(1 + e^{βx})/β`
    pub fn softplus(&self, beta: f64) -> Result<Self> {
        self.act(Activation::Softplus { beta })
    }
    pub fn silu(&self) -> Result<Self> {
        self.act(Activation::Silu)
    }
    pub fn relu(&self) -> Result<Self> {
        self.act(Activation::Relu)
    }
    pub fn elu(&self, alpha: f64) -> Result<Self> {
        self.act(Activation::Elu { alpha })
    }
    pub fn selu(&self) -> Result<Self> {
        self.act(Activation::Selu)
    }

    // ----- elementwise binary (broadcasting) ----------------------------

    fn binary(&self, rhs: &Self, op: BinaryOp) -> Result<Self> {
        self.check_same_tape(rhs)?;
        let y = self.value().binary(&rhs.value(), op)?;
        Ok(self.tape.record(y, Op::Binary { a: self.id, b: rhs.id, op }))
    }
    /// `a + b`; gradients are summed over broadcast axes.
    pub fn add(&self, rhs: &Self) -> Result<Self> {
        self.binary(rhs, BinaryOp::Add)
    }
    pub fn sub(&self, rhs: &Self) -> Result<Self> {
        self.binary(rhs, BinaryOp::Sub)
    }
    /// `a ⊙ b`; `∂/∂a = b`, `∂/∂b = a`.
    pub fn mul(&self, rhs: &Self) -> Result<Self> {
        self.binary(rhs, BinaryOp::Mul)
    }
    /// `a / b`; `∂/∂a = 1/b`, `∂/∂b = −a/b²`.
    pub fn div(&self, rhs: &Self) -> Result<Self> {
        self.binary(rhs, BinaryOp::Div)
    }

    /// `Σ cᵢ·xᵢ` over variables of one shape, as one op (`∂/∂xᵢ = cᵢ`).
    pub fn lincomb(terms: &[(f64, Self)]) -> Result<Self> {
        let Some((_, first)) = terms.first() else { invalid_arg!("lincomb of no terms") };
        for (_, v) in terms {
            first.check_same_tape(v)?;
        }
        let vals: Vec<Tensor<T>> = terms.iter().map(|(_, v)| v.value()).collect();
        let refs: Vec<(f64, &Tensor<T>)> = terms.iter().zip(&vals).map(|((c, _), v)| (*c, v)).collect();
        let y = Tensor::lincomb(&refs)?;
        let op = Op::LinComb {
            xs: terms.iter().map(|(_, v)| v.id).collect(),
            coeffs: terms.iter().map(|(c, _)| *c).collect(),
        };
        Ok(first.tape.record(y, op))
    }

    /// `σ(z + b)` for a matrix `z` and a bias of its width, as one op whose
    /// reverse rule also sums the bias gradient (`∂/∂z = σ'`, `∂/∂b = Σ_rows σ'`).
    pub fn bias_act(&self, b: &Self, act: Activation) -> Result<Self> {
        self.check_same_tape(b)?;
        let y = self.value().bias_act(&b.value(), act)?;
        Ok(self.tape.record(y, Op::BiasAct { z: self.id, b: b.id, act }))
    }

    /// A layer's activation with its tangents stacked below the primal rows:
    /// for `self = z` of `(1+k)·batch` rows, primal rows become `σ(z + b)` and
    /// tangent rows `σ'(z_primal + b) ⊙ z`. Differentiable in `z` and `b`
    /// (the reverse rule uses `σ''`). With `Activation::Identity` it adds the
    /// bias to the primal rows only.
    pub fn tangent_act(&self, b: &Self, batch: usize, act: Activation) -> Result<Self> {
        self.check_same_tape(b)?;
        let y = self.value().tangent_act(&b.value(), batch, act)?;
        Ok(self.tape.record(y, Op::TangentAct { z: self.id, b: b.id, batch, act }))
    }

    // ----- products -----------------------------------------------------

    /// `op(a)·op(b)`, rank 2 or batched rank 3; gradients by the transposed
    /// products (`gA = gC·Bᵀ`, `gB = Aᵀ·gC`).
    pub fn matmul_t(&self, rhs: &Self, ta: Transpose, tb: Transpose) -> Result<Self> {
        self.check_same_tape(rhs)?;
        let y = self.value().matmul_t(&rhs.value(), ta, tb)?;
        Ok(self.tape.record(y, Op::MatMul { a: self.id, b: rhs.id, ta, tb }))
    }
    pub fn matmul(&self, rhs: &Self) -> Result<Self> {
        self.matmul_t(rhs, Transpose::No, Transpose::No)
    }
    /// `x·W + b` in one op (a linear layer).
    pub fn affine(&self, w: &Self, b: &Self) -> Result<Self> {
        self.check_same_tape(w)?;
        self.check_same_tape(b)?;
        let y = self.value().affine(&w.value(), &b.value())?;
        Ok(self.tape.record(y, Op::Affine { x: self.id, w: w.id, b: b.id }))
    }
    /// Matrix transpose.
    pub fn t(&self) -> Result<Self> {
        let y = self.value().t()?;
        Ok(self.tape.record(y, Op::Transpose { x: self.id }))
    }

    // ----- reductions ---------------------------------------------------

    /// Sum over `axis`; `keepdim` keeps it with length 1.
    pub fn sum_axis(&self, axis: usize, keepdim: bool) -> Result<Self> {
        let v = self.value();
        let y = v.sum_axis(axis)?;
        let s = self.tape.record(y, Op::SumAxis { x: self.id });
        if keepdim { Ok(s) } else { s.reshape(drop_axis(v.shape(), axis)) }
    }
    /// Mean over `axis`.
    pub fn mean_axis(&self, axis: usize, keepdim: bool) -> Result<Self> {
        let n = self.shape().dim(axis);
        self.sum_axis(axis, keepdim)?.mul_scalar(1.0 / n as f64)
    }
    /// Sum of all elements (rank 0).
    pub fn sum_all(&self) -> Result<Self> {
        let n = self.shape().numel();
        self.reshape([n])?.sum_axis(0, false)
    }
    /// Mean of all elements (rank 0).
    pub fn mean_all(&self) -> Result<Self> {
        let n = self.shape().numel();
        if n == 0 {
            shape_err!("mean of an empty tensor");
        }
        self.sum_all()?.mul_scalar(1.0 / n as f64)
    }
    /// `log Σ exp` over `axis`, computed stably (max subtracted first);
    /// derivative: the softmax along `axis`.
    pub fn logsumexp(&self, axis: usize, keepdim: bool) -> Result<Self> {
        let v = self.value();
        let m = v.reduce_axis(ReduceOp::Max, axis)?;
        // Rows that are all −∞ have no finite max; shifting by 0 keeps them −∞.
        let m = {
            let mut m = m;
            if let Ok(s) = m.make_mut() {
                for x in s.iter_mut() {
                    if !x.is_finite() {
                        *x = T::ZERO;
                    }
                }
            }
            m
        };
        let y = v.sub(&m)?.unary(UnaryOp::Exp)?.sum_axis(axis)?.unary(UnaryOp::Ln)?.add(&m)?;
        let s = self.tape.record(y, Op::LogSumExp { x: self.id });
        if keepdim { Ok(s) } else { s.reshape(drop_axis(v.shape(), axis)) }
    }

    // ----- shape and indexing -------------------------------------------

    pub fn reshape(&self, shape: impl Into<Shape>) -> Result<Self> {
        let y = self.value().reshape(shape)?;
        Ok(self.tape.record(y, Op::Reshape { x: self.id }))
    }
    pub fn broadcast_to(&self, shape: impl Into<Shape>) -> Result<Self> {
        let y = self.value().broadcast_to(shape)?;
        Ok(self.tape.record(y, Op::BroadcastTo { x: self.id }))
    }
    /// `len` entries of `axis` from `start`; the gradient pads with zeros.
    pub fn slice(&self, axis: usize, start: usize, len: usize) -> Result<Self> {
        let y = self.value().slice(axis, start, len)?;
        Ok(self.tape.record(y, Op::Slice { x: self.id, axis, start }))
    }
    /// Concatenation along `axis`; the gradient is sliced back.
    pub fn concat(parts: &[Self], axis: usize) -> Result<Self> {
        let Some(first) = parts.first() else { invalid_arg!("concat of no tensors") };
        for p in parts {
            first.check_same_tape(p)?;
        }
        let vals: Vec<Tensor<T>> = parts.iter().map(|p| p.value()).collect();
        let refs: Vec<&Tensor<T>> = vals.iter().collect();
        let y = Tensor::concat(&refs, axis)?;
        Ok(first.tape.record(y, Op::Concat { xs: parts.iter().map(|p| p.id).collect(), axis }))
    }
    /// Rows `idx` (first axis); the gradient scatter-adds back.
    pub fn gather_rows(&self, idx: &[usize]) -> Result<Self> {
        let y = self.value().gather_rows(idx)?;
        Ok(self.tape.record(y, Op::GatherRows { x: self.id, idx: Arc::from(idx) }))
    }
    // ----- convolution and resampling (channels-last images) ------------

    /// The patch matrix `[batch·h_out·w_out, kh·kw·c]` of `g`'s convolution
    /// over `[batch, h, w, c]` images; a convolution is this times the
    /// `[kh·kw·c, c_out]` filter matrix. Linear; its gradient is [`Tensor::col2im`].
    pub fn im2col(&self, g: &ConvGeometry) -> Result<Self> {
        let y = self.value().im2col(g)?;
        Ok(self.tape.record(y, Op::Im2Col { x: self.id, g: *g }))
    }
    /// The convolution `im2col(x)·w` of `[batch, h, w, c]` images with filters
    /// `w` of `[kh·kw·c, c_out]`, as one op (`[batch·h_out·w_out, c_out]`);
    /// gradients `gx = col2im(gy·wᵀ)` and `gw = im2col(x)ᵀ·gy`.
    pub fn conv2d(&self, w: &Self, g: &ConvGeometry) -> Result<Self> {
        self.check_same_tape(w)?;
        let y = self.value().conv2d(&w.value(), g)?;
        Ok(self.tape.record(y, Op::Conv2d { x: self.id, w: w.id, g: *g }))
    }
    /// The adjoint of [`Var::im2col`] (patch entries summed onto their pixels,
    /// `[batch·h·w, c]`); its gradient is `im2col`.
    pub fn col2im(&self, g: &ConvGeometry) -> Result<Self> {
        let y = self.value().col2im(g)?;
        Ok(self.tape.record(y, Op::Col2Im { x: self.id, g: *g }))
    }
    /// Sums over non-overlapping `kh×kw` windows, `[batch·(h/kh)·(w/kw), c]`;
    /// the gradient is nearest-neighbour upsampling of the output gradient.
    pub fn pool_sum(&self, g: &PoolGeometry) -> Result<Self> {
        let y = self.value().pool_sum(g)?;
        Ok(self.tape.record(y, Op::PoolSum { x: self.id, g: *g }))
    }
    /// Average pooling: [`Var::pool_sum`] divided by `kh·kw`.
    pub fn avg_pool(&self, g: &PoolGeometry) -> Result<Self> {
        self.pool_sum(g)?.mul_scalar(1.0 / (g.kh * g.kw) as f64)
    }
    /// Nearest-neighbour upsampling of `[batch, h/kh, w/kw, c]` to `[batch·h·w, c]`;
    /// the gradient sums the output gradient over each window.
    pub fn upsample_nearest(&self, g: &PoolGeometry) -> Result<Self> {
        let y = self.value().upsample_nearest(g)?;
        Ok(self.tape.record(y, Op::Upsample { x: self.id, g: *g }))
    }
}

fn drop_axis(s: &Shape, axis: usize) -> Shape {
    let mut d = s.dims().to_vec();
    d.remove(axis);
    Shape::from(d)
}
