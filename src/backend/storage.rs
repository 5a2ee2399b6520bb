//! [`Storage`]: a tensor's buffer on whichever device holds it, dispatching
//! each primitive to that device's backend.

use super::cpu::CpuStorage;
use super::cpu::conv::{self, ConvGeometry, PoolGeometry};
use super::cpu::gemm::Transpose;
use super::cpu::group_norm::{self, GroupGeometry};
use super::cuda::CudaStorage;
use super::{Activation, BackendStorage, BinaryOp, Device, ReduceOp, StridedView, UnaryOp};
use crate::tensor::{Float, Shape};
use crate::{Error, Result};

/// A buffer of `T` on some device.
pub enum Storage<T: Float> {
    Cpu(CpuStorage<T>),
    Cuda(CudaStorage<T>),
}

impl<T: Float> Clone for Storage<T> {
    fn clone(&self) -> Self {
        match self {
            Storage::Cpu(s) => Storage::Cpu(s.clone()),
            Storage::Cuda(s) => Storage::Cuda(s.clone()),
        }
    }
}

fn mismatch(a: Device, b: Device, what: &str) -> Error {
    Error::Device(format!("{what}: operands on different devices ({a} and {b})"))
}

/// Times the rest of the enclosing primitive when profiling is on; the
/// FLOP and byte counts are only evaluated then.
macro_rules! profiled {
    ($dev:expr, $op:literal, flops = $flops:expr, elems = $elems:expr) => {
        let _span = if super::profile::is_enabled() {
            super::profile::span($op, $dev, ($flops) as f64, (($elems) * std::mem::size_of::<T>()) as f64)
        } else {
            None
        };
    };
}

/// Applies one expression to the backend storage inside, whatever the device.
macro_rules! on_device {
    ($self:expr, $s:ident => $e:expr) => {
        match $self {
            Storage::Cpu($s) => $e,
            Storage::Cuda($s) => $e,
        }
    };
}

/// Same, wrapping a returned backend storage back into `Storage`.
macro_rules! on_device_wrap {
    ($self:expr, $s:ident => $e:expr) => {
        match $self {
            Storage::Cpu($s) => Ok(Storage::Cpu($e?)),
            Storage::Cuda($s) => Ok(Storage::Cuda($e?)),
        }
    };
}

impl<T: Float> Storage<T> {
    /// Host data moved onto `device`.
    pub fn from_vec(data: Vec<T>, device: Device) -> Result<Self> {
        match device {
            Device::Cpu => Ok(Storage::Cpu(CpuStorage::from_vec(data))),
            Device::Cuda(i) => Ok(Storage::Cuda(CudaStorage::from_host(&data, i)?)),
        }
    }
    pub fn from_slice(data: &[T], device: Device) -> Result<Self> {
        match device {
            Device::Cpu => Ok(Storage::Cpu(CpuStorage::from_slice(data))),
            Device::Cuda(i) => Ok(Storage::Cuda(CudaStorage::from_host(data, i)?)),
        }
    }
    pub fn full(len: usize, value: T, device: Device) -> Result<Self> {
        match device {
            Device::Cpu => Ok(Storage::Cpu(CpuStorage::full(len, value))),
            Device::Cuda(i) => Ok(Storage::Cuda(CudaStorage::full(len, value, i)?)),
        }
    }

    pub fn device(&self) -> Device {
        on_device!(self, s => s.device())
    }
    pub fn len(&self) -> usize {
        on_device!(self, s => s.len())
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// The host slice, when the storage is on the CPU.
    pub fn as_cpu_slice(&self) -> Option<&[T]> {
        match self {
            Storage::Cpu(s) => Some(s.as_slice()),
            Storage::Cuda(_) => None,
        }
    }
    pub fn as_cpu_slice_mut(&mut self) -> Option<&mut [T]> {
        match self {
            Storage::Cpu(s) => Some(s.as_mut_slice()),
            Storage::Cuda(_) => None,
        }
    }
    pub fn to_vec(&self) -> Result<Vec<T>> {
        on_device!(self, s => s.to_vec())
    }
    pub fn full_like(&self, len: usize, value: T) -> Result<Self> {
        on_device_wrap!(self, s => s.full_like(len, value))
    }
    pub fn unary(&self, op: UnaryOp) -> Result<Self> {
        profiled!(self.device(), "unary", flops = self.len(), elems = 2 * self.len());
        on_device_wrap!(self, s => s.unary(op))
    }
    pub fn unary_backward(&self, y: &Self, gy: &Self, op: UnaryOp) -> Result<Self> {
        profiled!(self.device(), "unary_backward", flops = 2 * self.len(), elems = 4 * self.len());
        match (self, y, gy) {
            (Storage::Cpu(x), Storage::Cpu(y), Storage::Cpu(g)) => Ok(Storage::Cpu(x.unary_backward(y, g, op)?)),
            (Storage::Cuda(x), Storage::Cuda(y), Storage::Cuda(g)) => Ok(Storage::Cuda(x.unary_backward(y, g, op)?)),
            _ => Err(mismatch(self.device(), gy.device(), op.name())),
        }
    }
    pub fn binary(&self, rhs: &Self, op: BinaryOp, ls: &Shape, rs: &Shape, out: &Shape) -> Result<Self> {
        profiled!(self.device(), "binary", flops = out.numel(), elems = self.len() + rhs.len() + out.numel());
        match (self, rhs) {
            (Storage::Cpu(a), Storage::Cpu(b)) => Ok(Storage::Cpu(a.binary(b, op, ls, rs, out)?)),
            (Storage::Cuda(a), Storage::Cuda(b)) => Ok(Storage::Cuda(a.binary(b, op, ls, rs, out)?)),
            _ => Err(mismatch(self.device(), rhs.device(), op.name())),
        }
    }
    pub fn reduce(&self, op: ReduceOp, shape: &Shape, axis: usize) -> Result<Self> {
        profiled!(
            self.device(),
            "reduce",
            flops = self.len(),
            elems = self.len() + self.len() / shape.dims()[axis].max(1)
        );
        on_device_wrap!(self, s => s.reduce(op, shape, axis))
    }
    pub fn copy_strided(&self, src: &StridedView) -> Result<Self> {
        profiled!(self.device(), "copy", flops = 0, elems = 2 * src.numel());
        on_device_wrap!(self, s => s.copy_strided(src))
    }
    pub fn copy_into(&self, target: &mut Self, dst: &StridedView) -> Result<()> {
        profiled!(self.device(), "copy_into", flops = 0, elems = 2 * dst.numel());
        let (sd, td) = (self.device(), target.device());
        match (self, target) {
            (Storage::Cpu(a), Storage::Cpu(t)) => a.copy_into(t, dst),
            (Storage::Cuda(a), Storage::Cuda(t)) => a.copy_into(t, dst),
            _ => Err(mismatch(sd, td, "copy")),
        }
    }
    #[allow(clippy::too_many_arguments)]
    pub fn matmul(
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
        let b_count = if b_batch_stride == 0 { 1 } else { batch };
        let a_count = if a_batch_stride == 0 { 1 } else { batch };
        profiled!(
            self.device(),
            "matmul",
            flops = 2 * batch * m * n * k,
            elems = a_count * m * k + b_count * k * n + batch * m * n
        );
        match (self, rhs) {
            (Storage::Cpu(a), Storage::Cpu(b)) => {
                Ok(Storage::Cpu(a.matmul(b, ta, tb, batch, m, n, k, a_batch_stride, b_batch_stride)?))
            }
            (Storage::Cuda(a), Storage::Cuda(b)) => {
                Ok(Storage::Cuda(a.matmul(b, ta, tb, batch, m, n, k, a_batch_stride, b_batch_stride)?))
            }
            _ => Err(mismatch(self.device(), rhs.device(), "matmul")),
        }
    }
    pub fn affine(&self, w: &Self, b: &Self, m: usize, n: usize, k: usize) -> Result<Self> {
        profiled!(self.device(), "affine", flops = 2 * m * n * k + m * n, elems = m * k + k * n + n + m * n);
        match (self, w, b) {
            (Storage::Cpu(x), Storage::Cpu(w), Storage::Cpu(b)) => Ok(Storage::Cpu(x.affine(w, b, m, n, k)?)),
            (Storage::Cuda(x), Storage::Cuda(w), Storage::Cuda(b)) => Ok(Storage::Cuda(x.affine(w, b, m, n, k)?)),
            _ => Err(mismatch(self.device(), w.device(), "affine")),
        }
    }
    pub fn bias_act(&self, b: &Self, width: usize, act: Activation) -> Result<Self> {
        profiled!(self.device(), "bias_act", flops = 2 * self.len(), elems = 2 * self.len() + width);
        match (self, b) {
            (Storage::Cpu(z), Storage::Cpu(b)) => Ok(Storage::Cpu(z.bias_act(b, width, act)?)),
            (Storage::Cuda(z), Storage::Cuda(b)) => Ok(Storage::Cuda(z.bias_act(b, width, act)?)),
            _ => Err(mismatch(self.device(), b.device(), "bias_act")),
        }
    }
    pub fn bias_act_backward(
        &self,
        b: &Self,
        y: &Self,
        g: &Self,
        width: usize,
        act: Activation,
    ) -> Result<(Self, Self)> {
        profiled!(self.device(), "bias_act_backward", flops = 4 * self.len(), elems = 4 * self.len() + 2 * width);
        match (self, b, y, g) {
            (Storage::Cpu(z), Storage::Cpu(b), Storage::Cpu(y), Storage::Cpu(g)) => {
                let (gz, gb) = z.bias_act_backward(b, y, g, width, act)?;
                Ok((Storage::Cpu(gz), Storage::Cpu(gb)))
            }
            (Storage::Cuda(z), Storage::Cuda(b), Storage::Cuda(y), Storage::Cuda(g)) => {
                let (gz, gb) = z.bias_act_backward(b, y, g, width, act)?;
                Ok((Storage::Cuda(gz), Storage::Cuda(gb)))
            }
            _ => Err(mismatch(self.device(), g.device(), "bias_act")),
        }
    }
    pub fn tangent_act(&self, b: &Self, batch: usize, width: usize, act: Activation) -> Result<Self> {
        profiled!(self.device(), "tangent_act", flops = 2 * self.len(), elems = 2 * self.len() + width);
        match (self, b) {
            (Storage::Cpu(z), Storage::Cpu(b)) => Ok(Storage::Cpu(z.tangent_act(b, batch, width, act)?)),
            (Storage::Cuda(z), Storage::Cuda(b)) => Ok(Storage::Cuda(z.tangent_act(b, batch, width, act)?)),
            _ => Err(mismatch(self.device(), b.device(), "tangent_act")),
        }
    }
    pub fn tangent_act_backward(
        &self,
        b: &Self,
        y: &Self,
        g: &Self,
        batch: usize,
        width: usize,
        act: Activation,
    ) -> Result<(Self, Self)> {
        profiled!(self.device(), "tangent_act_backward", flops = 4 * self.len(), elems = 3 * self.len() + 2 * width);
        match (self, b, y, g) {
            (Storage::Cpu(z), Storage::Cpu(b), Storage::Cpu(y), Storage::Cpu(g)) => {
                let (gz, gb) = z.tangent_act_backward(b, y, g, batch, width, act)?;
                Ok((Storage::Cpu(gz), Storage::Cpu(gb)))
            }
            (Storage::Cuda(z), Storage::Cuda(b), Storage::Cuda(y), Storage::Cuda(g)) => {
                let (gz, gb) = z.tangent_act_backward(b, y, g, batch, width, act)?;
                Ok((Storage::Cuda(gz), Storage::Cuda(gb)))
            }
            _ => Err(mismatch(self.device(), g.device(), "tangent_act")),
        }
    }
    pub fn gather_rows(&self, idx: &[usize], row_len: usize) -> Result<Self> {
        profiled!(self.device(), "gather_rows", flops = 0, elems = 2 * idx.len() * row_len);
        on_device_wrap!(self, s => s.gather_rows(idx, row_len))
    }
    pub fn scatter_add_rows(&self, idx: &[usize], n_rows: usize, row_len: usize) -> Result<Self> {
        profiled!(
            self.device(),
            "scatter_add_rows",
            flops = idx.len() * row_len,
            elems = (idx.len() + n_rows) * row_len
        );
        on_device_wrap!(self, s => s.scatter_add_rows(idx, n_rows, row_len))
    }
    pub fn lincomb(terms: &[(T, &Self)]) -> Result<Self> {
        let first = terms.first().ok_or_else(|| Error::InvalidArgument("lincomb of no terms".into()))?.1;
        profiled!(
            first.device(),
            "lincomb",
            flops = 2 * terms.len() * first.len(),
            elems = (terms.len() + 1) * first.len()
        );
        match first {
            Storage::Cpu(_) => {
                let parts = terms
                    .iter()
                    .map(|&(c, x)| match x {
                        Storage::Cpu(s) => Ok((c, s)),
                        other => Err(mismatch(first.device(), other.device(), "lincomb")),
                    })
                    .collect::<Result<Vec<_>>>()?;
                Ok(Storage::Cpu(CpuStorage::lincomb(&parts)?))
            }
            Storage::Cuda(_) => {
                let parts = terms
                    .iter()
                    .map(|&(c, x)| match x {
                        Storage::Cuda(s) => Ok((c, s)),
                        other => Err(mismatch(first.device(), other.device(), "lincomb")),
                    })
                    .collect::<Result<Vec<_>>>()?;
                Ok(Storage::Cuda(CudaStorage::lincomb(&parts)?))
            }
        }
    }
    pub fn axpy(&mut self, alpha: T, x: &Self) -> Result<()> {
        profiled!(self.device(), "axpy", flops = 2 * self.len(), elems = 3 * self.len());
        let (sd, xd) = (self.device(), x.device());
        match (self, x) {
            (Storage::Cpu(a), Storage::Cpu(b)) => a.axpy(alpha, b),
            (Storage::Cuda(a), Storage::Cuda(b)) => a.axpy(alpha, b),
            _ => Err(mismatch(sd, xd, "axpy")),
        }
    }
    pub fn scale(&mut self, alpha: T) -> Result<()> {
        profiled!(self.device(), "scale", flops = self.len(), elems = 2 * self.len());
        on_device!(self, s => s.scale(alpha))
    }
    pub fn sum_squares(&self) -> Result<f64> {
        profiled!(self.device(), "sum_squares", flops = 2 * self.len(), elems = self.len());
        on_device!(self, s => s.sum_squares())
    }
    pub fn all_finite(&self) -> Result<bool> {
        profiled!(self.device(), "all_finite", flops = self.len(), elems = self.len());
        on_device!(self, s => s.all_finite())
    }
    #[allow(clippy::too_many_arguments)]
    pub fn adam_update(
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
        profiled!(self.device(), "adam", flops = 12 * self.len(), elems = 7 * self.len());
        let (pd, gd) = (self.device(), grad.device());
        match (self, grad, m, v) {
            (Storage::Cpu(p), Storage::Cpu(g), Storage::Cpu(m), Storage::Cpu(v)) => {
                p.adam_update(g, m, v, lr, beta1, beta2, eps, weight_decay, bc1, bc2)
            }
            (Storage::Cuda(p), Storage::Cuda(g), Storage::Cuda(m), Storage::Cuda(v)) => {
                p.adam_update(g, m, v, lr, beta1, beta2, eps, weight_decay, bc1, bc2)
            }
            _ => Err(mismatch(pd, gd, "adam")),
        }
    }

    // ----- convolution and resampling (channels-last images) ------------

    /// The patch matrix `[batch·h_out·w_out, kh·kw·c]` of `g`'s convolution
    /// (see [`conv::im2col`]).
    pub fn im2col(&self, g: &ConvGeometry) -> Result<Self> {
        g.validate()?;
        check_len(self.len(), g.in_len(), "im2col")?;
        profiled!(self.device(), "im2col", flops = 0, elems = g.in_len() + g.cols_len());
        match self {
            Storage::Cpu(x) => {
                let mut out = CpuStorage::uninit(g.cols_len());
                conv::im2col(x.as_slice(), g, out.as_mut_slice());
                Ok(Storage::Cpu(out))
            }
            Storage::Cuda(_) => Err(not_on_cuda("im2col")),
        }
    }
    /// The adjoint of [`Storage::im2col`]: patch entries summed back onto the
    /// `[batch, h, w, c]` pixels they came from.
    pub fn col2im(&self, g: &ConvGeometry) -> Result<Self> {
        g.validate()?;
        check_len(self.len(), g.cols_len(), "col2im")?;
        profiled!(self.device(), "col2im", flops = g.cols_len(), elems = g.in_len() + g.cols_len());
        match self {
            Storage::Cpu(c) => {
                let mut out = CpuStorage::uninit(g.in_len());
                conv::col2im(c.as_slice(), g, out.as_mut_slice());
                Ok(Storage::Cpu(out))
            }
            Storage::Cuda(_) => Err(not_on_cuda("col2im")),
        }
    }
    /// The convolution `im2col(x)·w` of `[batch, h, w, c]` images with a
    /// `[kh·kw·c, c_out]` filter matrix, `[batch·h_out·w_out, c_out]`, fused per
    /// run of images ([`conv::conv_forward`]).
    pub fn conv2d(&self, w: &Self, g: &ConvGeometry, c_out: usize) -> Result<Self> {
        g.validate()?;
        check_len(self.len(), g.in_len(), "conv2d input")?;
        check_len(w.len(), g.col_width() * c_out, "conv2d filters")?;
        profiled!(
            self.device(),
            "conv2d",
            flops = 2 * g.col_rows() * g.col_width() * c_out,
            elems = g.in_len() + w.len() + g.col_rows() * c_out
        );
        match (self, w) {
            (Storage::Cpu(x), Storage::Cpu(w)) => {
                let mut out = CpuStorage::uninit(g.col_rows() * c_out);
                conv::conv_forward(x.as_slice(), w.as_slice(), g, c_out, out.as_mut_slice());
                Ok(Storage::Cpu(out))
            }
            (Storage::Cuda(_), Storage::Cuda(_)) => Err(not_on_cuda("conv2d")),
            _ => Err(mismatch(self.device(), w.device(), "conv2d")),
        }
    }
    /// The input gradient of [`Storage::conv2d`] from the output gradient `self`.
    pub fn conv2d_backward_input(&self, w: &Self, g: &ConvGeometry, c_out: usize) -> Result<Self> {
        g.validate()?;
        check_len(self.len(), g.col_rows() * c_out, "conv2d output gradient")?;
        check_len(w.len(), g.col_width() * c_out, "conv2d filters")?;
        profiled!(
            self.device(),
            "conv2d_grad_input",
            flops = 2 * g.col_rows() * g.col_width() * c_out,
            elems = g.in_len() + w.len() + g.col_rows() * c_out
        );
        match (self, w) {
            (Storage::Cpu(gy), Storage::Cpu(w)) => {
                let mut out = CpuStorage::uninit(g.in_len());
                conv::conv_backward_input(gy.as_slice(), w.as_slice(), g, c_out, out.as_mut_slice());
                Ok(Storage::Cpu(out))
            }
            (Storage::Cuda(_), Storage::Cuda(_)) => Err(not_on_cuda("conv2d backward")),
            _ => Err(mismatch(self.device(), w.device(), "conv2d backward")),
        }
    }
    /// The filter gradient of [`Storage::conv2d`] at input `self` and output gradient `gy`.
    pub fn conv2d_backward_weight(&self, gy: &Self, g: &ConvGeometry, c_out: usize) -> Result<Self> {
        g.validate()?;
        check_len(self.len(), g.in_len(), "conv2d input")?;
        check_len(gy.len(), g.col_rows() * c_out, "conv2d output gradient")?;
        profiled!(
            self.device(),
            "conv2d_grad_weight",
            flops = 2 * g.col_rows() * g.col_width() * c_out,
            elems = g.in_len() + g.col_width() * c_out + g.col_rows() * c_out
        );
        match (self, gy) {
            (Storage::Cpu(x), Storage::Cpu(gy)) => {
                let mut out = CpuStorage::uninit(g.col_width() * c_out);
                conv::conv_backward_weight(x.as_slice(), gy.as_slice(), g, c_out, out.as_mut_slice());
                Ok(Storage::Cpu(out))
            }
            (Storage::Cuda(_), Storage::Cuda(_)) => Err(not_on_cuda("conv2d backward")),
            _ => Err(mismatch(self.device(), gy.device(), "conv2d backward")),
        }
    }
    /// Group normalization `(y = γ ⊙ x̂, x̂, r)` of `[images·pixels, C]` rows,
    /// `r = 1/√(σ² + ε)` per image and group ([`group_norm::forward`]).
    pub fn group_norm(&self, gamma: &Self, g: &GroupGeometry, eps: f64) -> Result<(Self, Self, Self)> {
        check_len(self.len(), g.len(), "group norm input")?;
        check_len(gamma.len(), g.channels, "group norm scale")?;
        profiled!(self.device(), "group_norm", flops = 7 * g.len(), elems = 4 * g.len());
        match (self, gamma) {
            (Storage::Cpu(x), Storage::Cpu(gm)) => {
                let (mut y, mut xh) = (CpuStorage::uninit(g.len()), CpuStorage::uninit(g.len()));
                let mut r = CpuStorage::uninit(g.images * g.groups);
                group_norm::forward(
                    x.as_slice(),
                    gm.as_slice(),
                    g,
                    eps,
                    y.as_mut_slice(),
                    xh.as_mut_slice(),
                    r.as_mut_slice(),
                );
                Ok((Storage::Cpu(y), Storage::Cpu(xh), Storage::Cpu(r)))
            }
            (Storage::Cuda(_), Storage::Cuda(_)) => Err(not_on_cuda("group norm")),
            _ => Err(mismatch(self.device(), gamma.device(), "group norm")),
        }
    }
    /// `(gx, gγ)` of [`Storage::group_norm`] from the output gradient `self`.
    pub fn group_norm_backward(&self, xhat: &Self, r: &Self, gamma: &Self, g: &GroupGeometry) -> Result<(Self, Self)> {
        check_len(self.len(), g.len(), "group norm output gradient")?;
        check_len(xhat.len(), g.len(), "group norm standardized input")?;
        check_len(r.len(), g.images * g.groups, "group norm scales")?;
        check_len(gamma.len(), g.channels, "group norm scale")?;
        profiled!(self.device(), "group_norm_backward", flops = 9 * g.len(), elems = 5 * g.len());
        match (self, xhat, r, gamma) {
            (Storage::Cpu(gy), Storage::Cpu(xh), Storage::Cpu(r), Storage::Cpu(gm)) => {
                let (mut gx, mut gg) = (CpuStorage::uninit(g.len()), CpuStorage::uninit(g.channels));
                group_norm::backward(
                    gy.as_slice(),
                    xh.as_slice(),
                    r.as_slice(),
                    gm.as_slice(),
                    g,
                    gx.as_mut_slice(),
                    gg.as_mut_slice(),
                );
                Ok((Storage::Cpu(gx), Storage::Cpu(gg)))
            }
            (Storage::Cuda(_), ..) => Err(not_on_cuda("group norm backward")),
            _ => Err(mismatch(self.device(), xhat.device(), "group norm backward")),
        }
    }
    /// Sums over non-overlapping `kh×kw` windows: `[batch, h, w, c]` → `[batch, h/kh, w/kw, c]`.
    pub fn pool_sum(&self, g: &PoolGeometry) -> Result<Self> {
        g.validate()?;
        check_len(self.len(), g.fine_len(), "pool_sum")?;
        profiled!(self.device(), "pool_sum", flops = g.fine_len(), elems = g.fine_len() + g.coarse_len());
        match self {
            Storage::Cpu(x) => {
                let mut out = CpuStorage::uninit(g.coarse_len());
                conv::pool_sum(x.as_slice(), g, out.as_mut_slice());
                Ok(Storage::Cpu(out))
            }
            Storage::Cuda(_) => Err(not_on_cuda("pool_sum")),
        }
    }
    /// Nearest-neighbour upsampling by `kh×kw`, the adjoint of [`Storage::pool_sum`].
    pub fn upsample_nearest(&self, g: &PoolGeometry) -> Result<Self> {
        g.validate()?;
        check_len(self.len(), g.coarse_len(), "upsample_nearest")?;
        profiled!(self.device(), "upsample_nearest", flops = 0, elems = g.fine_len() + g.coarse_len());
        match self {
            Storage::Cpu(x) => {
                let mut out = CpuStorage::uninit(g.fine_len());
                conv::upsample_nearest(x.as_slice(), g, out.as_mut_slice());
                Ok(Storage::Cpu(out))
            }
            Storage::Cuda(_) => Err(not_on_cuda("upsample_nearest")),
        }
    }
}

fn check_len(got: usize, want: usize, what: &str) -> Result<()> {
    if got != want {
        return Err(Error::Shape(format!("{what}: input has {got} elements, its geometry needs {want}")));
    }
    Ok(())
}

/// The convolution primitives have no CUDA kernels yet: a clear error
/// instead of a silent host round trip.
fn not_on_cuda(what: &str) -> Error {
    Error::Device(format!("{what} is not implemented on CUDA yet (the convolution kernels are CPU-only)"))
}
