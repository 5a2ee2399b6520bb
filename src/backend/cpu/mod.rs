//! The CPU backend: kernels on host memory (rayon across cores, SIMD within).

mod bias_act;
pub mod conv;
mod copy;
mod elementwise;
pub mod gemm;
pub mod group_norm;
mod matmul;
mod reduce;
pub mod simd;
pub mod tangent;
pub mod team;
mod update;
pub mod vmath;
pub mod vmath_f64;

use super::{Activation, BackendStorage, BinaryOp, Device, ReduceOp, StridedView, UnaryOp};
use crate::Result;
use crate::tensor::pool::Buffer;
use crate::tensor::{Float, Shape};
use gemm::Transpose;

/// A host buffer (pooled: see [`crate::tensor::pool`]).
#[derive(Clone)]
pub struct CpuStorage<T: Float>(Buffer<T>);

impl<T: Float> CpuStorage<T> {
    pub fn from_vec(data: Vec<T>) -> Self {
        CpuStorage(Buffer::from_vec(data))
    }
    pub fn from_slice(data: &[T]) -> Self {
        CpuStorage(Buffer::from_slice(data))
    }
    pub fn full(len: usize, value: T) -> Self {
        CpuStorage(Buffer::filled(len, value))
    }
    /// A buffer whose every element the caller overwrites.
    pub(crate) fn uninit(len: usize) -> Self {
        CpuStorage(Buffer::uninit(len))
    }
    pub fn as_slice(&self) -> &[T] {
        &self.0
    }
    pub fn as_mut_slice(&mut self) -> &mut [T] {
        &mut self.0
    }
}

impl<T: Float> BackendStorage<T> for CpuStorage<T> {
    fn device(&self) -> Device {
        Device::Cpu
    }
    fn len(&self) -> usize {
        self.0.len()
    }
    fn to_vec(&self) -> Result<Vec<T>> {
        Ok(self.0.to_vec())
    }
    fn full_like(&self, len: usize, value: T) -> Result<Self> {
        Ok(Self::full(len, value))
    }
    fn unary(&self, op: UnaryOp) -> Result<Self> {
        let mut out = Self::uninit(self.len());
        elementwise::unary(op, self.as_slice(), out.as_mut_slice());
        Ok(out)
    }
    fn unary_backward(&self, y: &Self, gy: &Self, op: UnaryOp) -> Result<Self> {
        let mut out = Self::uninit(self.len());
        elementwise::unary_backward(op, self.as_slice(), y.as_slice(), gy.as_slice(), out.as_mut_slice());
        Ok(out)
    }
    fn binary(&self, rhs: &Self, op: BinaryOp, ls: &Shape, rs: &Shape, out_shape: &Shape) -> Result<Self> {
        let mut out = Self::uninit(out_shape.numel());
        elementwise::binary(op, self.as_slice(), ls, rhs.as_slice(), rs, out.as_mut_slice(), out_shape);
        Ok(out)
    }
    fn reduce(&self, op: ReduceOp, shape: &Shape, axis: usize) -> Result<Self> {
        let (outer, len, inner) = shape.split_at_axis(axis);
        let mut out = Self::uninit(outer * inner);
        reduce::reduce_axis(op, self.as_slice(), outer, len, inner, out.as_mut_slice());
        Ok(out)
    }
    fn copy_strided(&self, src: &StridedView) -> Result<Self> {
        let mut out = Self::uninit(src.numel());
        copy::gather_strided(self.as_slice(), src, out.as_mut_slice());
        Ok(out)
    }
    fn copy_into(&self, target: &mut Self, dst: &StridedView) -> Result<()> {
        copy::scatter_strided(self.as_slice(), target.as_mut_slice(), dst);
        Ok(())
    }
    fn matmul(
        &self,
        rhs: &Self,
        ta: Transpose,
        tb: Transpose,
        batch: usize,
        m: usize,
        n: usize,
        k: usize,
        a_batch_stride: usize,
        b_batch_stride: usize,
    ) -> Result<Self> {
        let mut out = Self::uninit(batch * m * n);
        matmul::batched(
            self.as_slice(),
            rhs.as_slice(),
            out.as_mut_slice(),
            ta,
            tb,
            batch,
            m,
            n,
            k,
            a_batch_stride,
            b_batch_stride,
        );
        Ok(out)
    }
    fn affine(&self, w: &Self, b: &Self, m: usize, n: usize, k: usize) -> Result<Self> {
        let mut out = Self::uninit(m * n);
        matmul::affine(self.as_slice(), w.as_slice(), b.as_slice(), out.as_mut_slice(), m, n, k);
        Ok(out)
    }
    fn bias_act(&self, b: &Self, width: usize, act: Activation) -> Result<Self> {
        let mut out = Self::uninit(self.len());
        bias_act::forward(self.as_slice(), b.as_slice(), out.as_mut_slice(), width, act);
        Ok(out)
    }
    fn bias_act_backward(&self, b: &Self, y: &Self, g: &Self, width: usize, act: Activation) -> Result<(Self, Self)> {
        let mut gz = Self::uninit(self.len());
        let mut gb = Self::uninit(width);
        bias_act::backward(
            self.as_slice(),
            b.as_slice(),
            y.as_slice(),
            g.as_slice(),
            gz.as_mut_slice(),
            gb.as_mut_slice(),
            width,
            act,
        );
        Ok((gz, gb))
    }
    fn tangent_act(&self, b: &Self, batch: usize, width: usize, act: Activation) -> Result<Self> {
        let mut out = Self::uninit(self.len());
        tangent::forward(self.as_slice(), b.as_slice(), out.as_mut_slice(), batch, width, act);
        Ok(out)
    }
    fn tangent_act_backward(
        &self,
        b: &Self,
        y: &Self,
        g: &Self,
        batch: usize,
        width: usize,
        act: Activation,
    ) -> Result<(Self, Self)> {
        let mut gz = Self::uninit(self.len());
        let mut gb = Self::uninit(width);
        tangent::backward(
            self.as_slice(),
            b.as_slice(),
            y.as_slice(),
            g.as_slice(),
            gz.as_mut_slice(),
            gb.as_mut_slice(),
            batch,
            width,
            act,
        );
        Ok((gz, gb))
    }
    fn gather_rows(&self, idx: &[usize], row_len: usize) -> Result<Self> {
        let mut out = Self::uninit(idx.len() * row_len);
        copy::gather_rows(self.as_slice(), idx, row_len, out.as_mut_slice());
        Ok(out)
    }
    fn scatter_add_rows(&self, idx: &[usize], n_rows: usize, row_len: usize) -> Result<Self> {
        let mut out = Self::full(n_rows * row_len, T::ZERO);
        copy::scatter_add_rows(self.as_slice(), idx, row_len, out.as_mut_slice());
        Ok(out)
    }
    fn lincomb(terms: &[(T, &Self)]) -> Result<Self> {
        let (c0, x0) = terms[0];
        let mut out = Self::uninit(x0.len());
        simd::map1(x0.as_slice(), out.as_mut_slice(), move |x| c0 * x);
        for &(c, x) in &terms[1..] {
            simd::update1(out.as_mut_slice(), x.as_slice(), move |y, x| y + c * x);
        }
        Ok(out)
    }
    fn axpy(&mut self, alpha: T, x: &Self) -> Result<()> {
        simd::update1(self.as_mut_slice(), x.as_slice(), move |y, x| y + alpha * x);
        Ok(())
    }
    fn scale(&mut self, alpha: T) -> Result<()> {
        let y = self.as_mut_slice();
        for v in y.iter_mut() {
            *v *= alpha;
        }
        Ok(())
    }
    fn sum_squares(&self) -> Result<f64> {
        Ok(update::sum_squares(self.as_slice()))
    }
    fn all_finite(&self) -> Result<bool> {
        Ok(self.as_slice().iter().all(|v| v.is_finite()))
    }
    fn adam_update(
        &mut self,
        grad: &Self,
        m: &mut Self,
        v: &mut Self,
        lr: T,
        beta1: T,
        beta2: T,
        eps: T,
        weight_decay: T,
        bc1: T,
        bc2: T,
    ) -> Result<()> {
        update::adam(
            self.as_mut_slice(),
            grad.as_slice(),
            m.as_mut_slice(),
            v.as_mut_slice(),
            update::AdamCoefficients { lr, beta1, beta2, eps, weight_decay, bc1, bc2 },
        );
        Ok(())
    }
}
