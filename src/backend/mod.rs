//! Backends: where tensor storage lives and the primitive kernels that run on it.
//!
//! [`BackendStorage`] has one method per primitive. Each backend implements it
//! for its storage type, and [`Storage`] dispatches on the device, so the
//! autodiff, model and trainer code above never names a backend. Without the
//! `cuda` feature the CUDA storage type is uninhabited: the API is the same
//! and asking for a CUDA device is an error.

pub mod cpu;
pub mod cuda;
pub mod op;
pub mod profile;
mod storage;

pub use op::{Activation, BinaryOp, ReduceOp, UnaryOp};
pub use storage::Storage;

use crate::Result;
use crate::tensor::{Float, Shape};
use cpu::gemm::Transpose;

/// Where a tensor's storage lives.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub enum Device {
    #[default]
    Cpu,
    /// An NVIDIA GPU by ordinal.
    Cuda(usize),
}

impl Device {
    /// The CUDA device `ordinal`, or an error if the crate was built without
    /// the `cuda` feature or no such device exists.
    pub fn cuda(ordinal: usize) -> Result<Device> {
        cuda::check_device(ordinal)?;
        Ok(Device::Cuda(ordinal))
    }
}

impl std::fmt::Display for Device {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Device::Cpu => write!(f, "cpu"),
            Device::Cuda(i) => write!(f, "cuda:{i}"),
        }
    }
}

/// A strided view of a buffer: element `(i_0, .., i_{r-1})` lives at
/// `offset + Σ i_a·strides[a]`. Used to express slicing, broadcasting,
/// transposition and concatenation as one copy primitive.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StridedView {
    pub offset: usize,
    pub dims: Vec<usize>,
    pub strides: Vec<usize>,
}

impl StridedView {
    /// The contiguous row-major view of `shape` starting at `offset`.
    pub fn contiguous(shape: &Shape, offset: usize) -> Self {
        StridedView { offset, dims: shape.dims().to_vec(), strides: shape.strides() }
    }
    pub fn numel(&self) -> usize {
        self.dims.iter().product()
    }
}

/// The primitives every backend provides. Shapes are validated by the caller
/// ([`crate::tensor::Tensor`]); a backend may assume consistent arguments.
pub trait BackendStorage<T: Float>: Sized {
    fn device(&self) -> Device;
    fn len(&self) -> usize;
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Copies the contents to host memory.
    fn to_vec(&self) -> Result<Vec<T>>;
    /// A same-device buffer of `len` copies of `value`.
    fn full_like(&self, len: usize, value: T) -> Result<Self>;

    /// `y = f(x)`.
    fn unary(&self, op: UnaryOp) -> Result<Self>;
    /// `gx = gy · f'(x)`; `y = f(x)` is passed for the ops whose derivative is cheaper from it.
    fn unary_backward(&self, y: &Self, gy: &Self, op: UnaryOp) -> Result<Self>;
    /// `out = a op b`, broadcasting both to `out_shape`.
    fn binary(&self, rhs: &Self, op: BinaryOp, lhs_shape: &Shape, rhs_shape: &Shape, out_shape: &Shape)
    -> Result<Self>;
    /// Reduces axis `axis` of `shape` (the axis is kept with length 1).
    fn reduce(&self, op: ReduceOp, shape: &Shape, axis: usize) -> Result<Self>;
    /// Copies a strided view into a new contiguous buffer.
    fn copy_strided(&self, src: &StridedView) -> Result<Self>;
    /// Copies this (contiguous) buffer into the strided view `dst` of `target`.
    fn copy_into(&self, target: &mut Self, dst: &StridedView) -> Result<()>;
    /// Batched GEMM: for each of `batch` matrices, `op(A)·op(B)` with `op(A)`
    /// of `m×k` and `op(B)` of `k×n`; a batch stride of 0 reuses one matrix.
    #[allow(clippy::too_many_arguments)]
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
    ) -> Result<Self>;
    /// `x·w + b` with `x` of `m×k`, `w` of `k×n` and `b` of `n`, in one pass.
    fn affine(&self, w: &Self, b: &Self, m: usize, n: usize, k: usize) -> Result<Self>;
    /// `y = σ(z + b)` with `self = z` of `rows × width` and `b` of `width`.
    fn bias_act(&self, b: &Self, width: usize, act: Activation) -> Result<Self>;
    /// Its reverse rule from the saved output `y`: `(gz, gb)`.
    fn bias_act_backward(&self, b: &Self, y: &Self, g: &Self, width: usize, act: Activation) -> Result<(Self, Self)>;
    /// The activation of a layer stacked with its tangents (see
    /// [`cpu::tangent`]): `self` is `z` of `(1+k)·batch × width`, `b` the bias.
    fn tangent_act(&self, b: &Self, batch: usize, width: usize, act: Activation) -> Result<Self>;
    /// Its reverse rule: `(gz, gb)` from the output gradient `g`, with the
    /// forward output `y` (the primal rows' activations need not be recomputed).
    fn tangent_act_backward(
        &self,
        b: &Self,
        y: &Self,
        g: &Self,
        batch: usize,
        width: usize,
        act: Activation,
    ) -> Result<(Self, Self)>;
    /// Rows `idx` of a `rows × row_len` matrix.
    fn gather_rows(&self, idx: &[usize], row_len: usize) -> Result<Self>;
    /// The adjoint of `gather_rows`: `out[idx[i]] += self[i]` into `n_rows` zero rows.
    fn scatter_add_rows(&self, idx: &[usize], n_rows: usize, row_len: usize) -> Result<Self>;
    /// `Σ_j c_j·x_j` over same-length buffers (at least one): the stage
    /// combinations of a Runge–Kutta step in one pass.
    fn lincomb(terms: &[(T, &Self)]) -> Result<Self>;
    /// In place: `self ← self + alpha·x`.
    fn axpy(&mut self, alpha: T, x: &Self) -> Result<()>;
    /// In place: `self ← alpha·self`.
    fn scale(&mut self, alpha: T) -> Result<()>;
    /// Sum of squares of all elements, in f64.
    fn sum_squares(&self) -> Result<f64>;
    /// Whether every element is finite.
    fn all_finite(&self) -> Result<bool>;
    /// One Adam(W) step in place on `self` (the parameter `p`) with moment
    /// buffers `m`, `v` and bias corrections `bc1 = 1 − β1^t`, `bc2 = 1 − β2^t`:
    /// `m ← β1·m + (1−β1)·g`, `v ← β2·v + (1−β2)·g²`,
    /// `p ← p − lr·wd·p − lr·(m/bc1) / (sqrt(v/bc2) + eps)`.
    #[allow(clippy::too_many_arguments)]
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
    ) -> Result<()>;
}
