//! Tensors: n-d shapes over row-major contiguous storage on a device, and
//! the eager (untracked) ops on them. The autodiff tape records these same
//! ops; code that needs no gradients (sampling, evaluation) calls them directly.

mod conv;
pub mod dtype;
pub mod lu;
pub mod pool;
pub mod random;
pub mod shape;

use std::sync::Arc;

pub use dtype::{DType, Float};
pub use shape::Shape;

use crate::backend::cpu::gemm::Transpose;
use crate::backend::{Activation, BinaryOp, Device, ReduceOp, Storage, StridedView, UnaryOp};
use crate::{Error, Result, invalid_arg, shape_err};

/// An immutable n-dimensional array. Cloning is cheap (the storage is shared).
#[derive(Clone)]
pub struct Tensor<T: Float> {
    shape: Shape,
    storage: Arc<Storage<T>>,
}

impl<T: Float> std::fmt::Debug for Tensor<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Tensor<{}>{} on {}", T::DTYPE.name(), self.shape, self.device())?;
        if let Some(s) = self.storage.as_cpu_slice() {
            let n = s.len().min(8);
            write!(f, " {:?}{}", &s[..n], if s.len() > n { " .." } else { "" })?;
        }
        Ok(())
    }
}

impl<T: Float> Tensor<T> {
    // ----- construction -------------------------------------------------

    pub(crate) fn from_storage(storage: Storage<T>, shape: Shape) -> Self {
        debug_assert_eq!(storage.len(), shape.numel());
        Tensor { shape, storage: Arc::new(storage) }
    }

    /// A host tensor from row-major data.
    pub fn from_vec(data: Vec<T>, shape: impl Into<Shape>) -> Result<Self> {
        let shape = shape.into();
        if data.len() != shape.numel() {
            shape_err!("{} values do not fill shape {shape} ({} elements)", data.len(), shape.numel());
        }
        Ok(Self::from_storage(Storage::from_vec(data, Device::Cpu)?, shape))
    }
    pub fn from_slice(data: &[T], shape: impl Into<Shape>) -> Result<Self> {
        let shape = shape.into();
        if data.len() != shape.numel() {
            shape_err!("{} values do not fill shape {shape} ({} elements)", data.len(), shape.numel());
        }
        Ok(Self::from_storage(Storage::from_slice(data, Device::Cpu)?, shape))
    }
    /// From f64 values (converted), convenient in tests and configs.
    pub fn from_f64s(data: &[f64], shape: impl Into<Shape>) -> Result<Self> {
        Self::from_vec(data.iter().map(|&v| T::from_f64(v)).collect(), shape)
    }
    pub fn full(shape: impl Into<Shape>, value: T, device: Device) -> Result<Self> {
        let shape = shape.into();
        Ok(Self::from_storage(Storage::full(shape.numel(), value, device)?, shape))
    }
    /// Zeros on `device`.
    pub fn zeros_on(shape: impl Into<Shape>, device: Device) -> Result<Self> {
        Self::full(shape, T::ZERO, device)
    }
    pub fn zeros(shape: impl Into<Shape>) -> Self {
        let shape = shape.into();
        Self::from_storage(Storage::Cpu(crate::backend::cpu::CpuStorage::full(shape.numel(), T::ZERO)), shape)
    }
    pub fn ones(shape: impl Into<Shape>) -> Self {
        let shape = shape.into();
        Self::from_storage(Storage::Cpu(crate::backend::cpu::CpuStorage::full(shape.numel(), T::ONE)), shape)
    }
    /// A rank-0 tensor.
    pub fn scalar(v: T) -> Self {
        Self::from_storage(Storage::Cpu(crate::backend::cpu::CpuStorage::from_slice(&[v])), Shape::scalar())
    }
    /// Same shape and device, every element `value`.
    pub fn full_like(&self, value: T) -> Result<Self> {
        Ok(Self::from_storage(self.storage.full_like(self.numel(), value)?, self.shape.clone()))
    }
    pub fn zeros_like(&self) -> Result<Self> {
        self.full_like(T::ZERO)
    }

    // ----- inspection ---------------------------------------------------

    pub fn shape(&self) -> &Shape {
        &self.shape
    }
    pub fn dims(&self) -> &[usize] {
        self.shape.dims()
    }
    pub fn rank(&self) -> usize {
        self.shape.rank()
    }
    pub fn numel(&self) -> usize {
        self.shape.numel()
    }
    pub fn device(&self) -> Device {
        self.storage.device()
    }
    pub fn storage(&self) -> &Storage<T> {
        &self.storage
    }
    /// The host data (errors for device tensors: use [`Tensor::to_vec`]).
    pub fn as_slice(&self) -> Result<&[T]> {
        self.storage
            .as_cpu_slice()
            .ok_or_else(|| Error::Device(format!("tensor is on {}, not the host", self.device())))
    }
    /// Mutable host data; copies the storage first if it is shared.
    pub fn make_mut(&mut self) -> Result<&mut [T]> {
        let dev = self.device();
        Arc::make_mut(&mut self.storage)
            .as_cpu_slice_mut()
            .ok_or_else(|| Error::Device(format!("tensor is on {dev}, not the host")))
    }
    /// Mutable storage; copies it first if it is shared.
    pub fn storage_mut(&mut self) -> &mut Storage<T> {
        Arc::make_mut(&mut self.storage)
    }
    pub fn to_vec(&self) -> Result<Vec<T>> {
        self.storage.to_vec()
    }
    pub fn to_f64_vec(&self) -> Result<Vec<f64>> {
        Ok(self.to_vec()?.into_iter().map(|v| v.to_f64()).collect())
    }
    /// The single value of a one-element tensor.
    pub fn item(&self) -> Result<T> {
        if self.numel() != 1 {
            shape_err!("item() needs one element, tensor has shape {}", self.shape);
        }
        Ok(self.to_vec()?[0])
    }
    /// Copies to `device` (a cheap clone when already there).
    pub fn to_device(&self, device: Device) -> Result<Self> {
        if device == self.device() {
            return Ok(self.clone());
        }
        Ok(Self::from_storage(Storage::from_vec(self.to_vec()?, device)?, self.shape.clone()))
    }
    /// Whether every element is finite.
    pub fn all_finite(&self) -> Result<bool> {
        self.storage.all_finite()
    }
    /// Converts the element type (through the host).
    pub fn cast<U: Float>(&self) -> Result<Tensor<U>> {
        let v: Vec<U> = self.to_vec()?.into_iter().map(|x| U::from_f64(x.to_f64())).collect();
        Ok(Tensor::from_storage(Storage::from_vec(v, self.device())?, self.shape.clone()))
    }

    pub(crate) fn with_storage(&self, storage: Storage<T>, shape: Shape) -> Self {
        Self::from_storage(storage, shape)
    }

    // ----- elementwise --------------------------------------------------

    pub fn unary(&self, op: UnaryOp) -> Result<Self> {
        Ok(self.with_storage(self.storage.unary(op)?, self.shape.clone()))
    }
    /// `gy · f'(self)` where `y = f(self)`.
    pub fn unary_backward(&self, y: &Self, gy: &Self, op: UnaryOp) -> Result<Self> {
        Ok(self.with_storage(self.storage.unary_backward(&y.storage, &gy.storage, op)?, self.shape.clone()))
    }
    /// `self op rhs` with broadcasting.
    pub fn binary(&self, rhs: &Self, op: BinaryOp) -> Result<Self> {
        let out = shape::broadcast_shapes(&self.shape, &rhs.shape)?;
        let s = self.storage.binary(&rhs.storage, op, &self.shape, &rhs.shape, &out)?;
        Ok(self.with_storage(s, out))
    }
    pub fn add(&self, rhs: &Self) -> Result<Self> {
        self.binary(rhs, BinaryOp::Add)
    }
    pub fn sub(&self, rhs: &Self) -> Result<Self> {
        self.binary(rhs, BinaryOp::Sub)
    }
    pub fn mul(&self, rhs: &Self) -> Result<Self> {
        self.binary(rhs, BinaryOp::Mul)
    }
    pub fn div(&self, rhs: &Self) -> Result<Self> {
        self.binary(rhs, BinaryOp::Div)
    }
    pub fn scale(&self, c: f64) -> Result<Self> {
        self.unary(UnaryOp::MulScalar(c))
    }
    /// `Σ cᵢ·xᵢ` over tensors of one shape (the stage combinations of
    /// Runge–Kutta methods).
    pub fn lincomb(terms: &[(f64, &Self)]) -> Result<Self> {
        let Some(&(_, x0)) = terms.first() else { invalid_arg!("lincomb of no terms") };
        for (_, x) in terms {
            if x.shape != x0.shape {
                shape_err!("lincomb: shapes {} and {} differ", x0.shape, x.shape);
            }
        }
        let parts: Vec<(T, &Storage<T>)> = terms.iter().map(|&(c, x)| (T::from_f64(c), &*x.storage)).collect();
        Ok(x0.with_storage(Storage::lincomb(&parts)?, x0.shape.clone()))
    }

    // ----- reductions ---------------------------------------------------

    /// Reduces `axis`, keeping it with length 1.
    pub fn reduce_axis(&self, op: ReduceOp, axis: usize) -> Result<Self> {
        self.shape.check_axis(axis)?;
        let s = self.storage.reduce(op, &self.shape, axis)?;
        Ok(self.with_storage(s, self.shape.with_dim(axis, 1)))
    }
    /// Sum over `axis`, keeping it with length 1.
    pub fn sum_axis(&self, axis: usize) -> Result<Self> {
        self.reduce_axis(ReduceOp::Sum, axis)
    }
    /// Sum of all elements as a rank-0 tensor.
    pub fn sum_all(&self) -> Result<Self> {
        let flat = self.reshape([self.numel()])?;
        flat.sum_axis(0)?.reshape(Shape::scalar())
    }
    /// Sums `self` down to `target` (the inverse of broadcasting `target` up
    /// to `self`'s shape): the gradient rule of every broadcasting op.
    pub fn sum_to(&self, target: &Shape) -> Result<Self> {
        if &self.shape == target {
            return Ok(self.clone());
        }
        let r = self.rank();
        if target.rank() > r {
            shape_err!("cannot sum shape {} down to {target}", self.shape);
        }
        let off = r - target.rank();
        let mut cur = self.clone();
        for ax in 0..r {
            let want = if ax < off { 1 } else { target.dim(ax - off) };
            if want == 1 && cur.shape.dim(ax) != 1 {
                cur = cur.sum_axis(ax)?;
            } else if want != cur.shape.dim(ax) {
                shape_err!("cannot sum shape {} down to {target}", self.shape);
            }
        }
        cur.reshape(target.clone())
    }

    // ----- shape and data movement --------------------------------------

    /// Same data, new shape with the same number of elements.
    pub fn reshape(&self, shape: impl Into<Shape>) -> Result<Self> {
        let shape = shape.into();
        if shape.numel() != self.numel() {
            shape_err!("cannot reshape {} into {shape}", self.shape);
        }
        Ok(Tensor { shape, storage: self.storage.clone() })
    }
    /// Materializes the broadcast of `self` to `shape`.
    pub fn broadcast_to(&self, shape: impl Into<Shape>) -> Result<Self> {
        let shape = shape.into();
        if shape::broadcast_shapes(&self.shape, &shape)? != shape {
            shape_err!("cannot broadcast {} to {shape}", self.shape);
        }
        if shape == self.shape {
            return Ok(self.clone());
        }
        let view = StridedView {
            offset: 0,
            dims: shape.dims().to_vec(),
            strides: shape::broadcast_strides(&self.shape, &shape),
        };
        Ok(self.with_storage(self.storage.copy_strided(&view)?, shape))
    }
    /// `len` entries of `axis` starting at `start`.
    pub fn slice(&self, axis: usize, start: usize, len: usize) -> Result<Self> {
        self.shape.check_axis(axis)?;
        let d = self.shape.dim(axis);
        if start + len > d {
            shape_err!("slice {start}..{} out of range for axis {axis} of shape {}", start + len, self.shape);
        }
        let out = self.shape.with_dim(axis, len);
        let (_, _, inner) = self.shape.split_at_axis(axis);
        let mut view = StridedView::contiguous(&out, start * inner);
        // Outer axes step over the full (unsliced) axis.
        let full = self.shape.strides();
        view.strides = full;
        Ok(self.with_storage(self.storage.copy_strided(&view)?, out))
    }
    /// Concatenation along `axis`; all other dimensions must agree.
    pub fn concat(parts: &[&Self], axis: usize) -> Result<Self> {
        let Some(first) = parts.first() else { invalid_arg!("concat of no tensors") };
        first.shape.check_axis(axis)?;
        let mut total = 0;
        for p in parts {
            if p.rank() != first.rank()
                || p.dims().iter().zip(first.dims()).enumerate().any(|(a, (x, y))| a != axis && x != y)
            {
                shape_err!("concat along axis {axis}: shapes {} and {} differ off the axis", first.shape, p.shape);
            }
            total += p.shape.dim(axis);
        }
        let out_shape = first.shape.with_dim(axis, total);
        let mut out = first.storage.full_like(out_shape.numel(), T::ZERO)?;
        let (_, _, inner) = out_shape.split_at_axis(axis);
        let strides = out_shape.strides();
        let mut at = 0;
        for p in parts {
            let view = StridedView { offset: at * inner, dims: p.dims().to_vec(), strides: strides.clone() };
            p.storage.copy_into(&mut out, &view)?;
            at += p.shape.dim(axis);
        }
        Ok(Self::from_storage(out, out_shape))
    }
    /// `self` padded with zeros along `axis` to length `total`, starting at `start`
    /// (the adjoint of [`Tensor::slice`]).
    pub fn pad_axis(&self, axis: usize, start: usize, total: usize) -> Result<Self> {
        self.shape.check_axis(axis)?;
        if start + self.shape.dim(axis) > total {
            shape_err!("pad: {} + {start} exceeds {total}", self.shape.dim(axis));
        }
        let out_shape = self.shape.with_dim(axis, total);
        let mut out = self.storage.full_like(out_shape.numel(), T::ZERO)?;
        let (_, _, inner) = out_shape.split_at_axis(axis);
        let view = StridedView { offset: start * inner, dims: self.dims().to_vec(), strides: out_shape.strides() };
        self.storage.copy_into(&mut out, &view)?;
        Ok(Self::from_storage(out, out_shape))
    }
    /// The transpose of a matrix.
    pub fn t(&self) -> Result<Self> {
        let (r, c) = self.shape.as_matrix()?;
        let view = StridedView { offset: 0, dims: vec![c, r], strides: vec![1, c] };
        Ok(self.with_storage(self.storage.copy_strided(&view)?, Shape::new(&[c, r])))
    }
    /// Rows `idx` of a tensor whose first axis indexes rows.
    pub fn gather_rows(&self, idx: &[usize]) -> Result<Self> {
        if self.rank() == 0 {
            shape_err!("gather_rows on a scalar");
        }
        let rows = self.shape.dim(0);
        if let Some(&bad) = idx.iter().find(|&&i| i >= rows) {
            shape_err!("row index {bad} out of range for {rows} rows");
        }
        let row_len = self.numel() / rows.max(1);
        let out = self.shape.with_dim(0, idx.len());
        Ok(self.with_storage(self.storage.gather_rows(idx, row_len)?, out))
    }
    /// `out[idx[i]] += self[i]` into `n_rows` rows of zeros (adjoint of gather).
    pub fn scatter_add_rows(&self, idx: &[usize], n_rows: usize) -> Result<Self> {
        let rows = self.shape.dim(0);
        if rows != idx.len() {
            shape_err!("scatter_add_rows: {} indices for {rows} rows", idx.len());
        }
        if let Some(&bad) = idx.iter().find(|&&i| i >= n_rows) {
            shape_err!("row index {bad} out of range for {n_rows} rows");
        }
        let row_len = self.numel() / rows.max(1);
        let out = self.shape.with_dim(0, n_rows);
        Ok(self.with_storage(self.storage.scatter_add_rows(idx, n_rows, row_len)?, out))
    }

    // ----- layers with tangents -----------------------------------------

    /// `σ(self + b)` for a matrix `self` and a bias `b` of its width.
    pub fn bias_act(&self, b: &Self, act: Activation) -> Result<Self> {
        let (_, width) = self.shape.as_matrix()?;
        if b.numel() != width {
            shape_err!("bias_act: bias {} for a matrix of width {width}", b.shape);
        }
        Ok(self.with_storage(self.storage.bias_act(&b.storage, width, act)?, self.shape.clone()))
    }
    /// The reverse rule of [`Tensor::bias_act`] given its output `y`: `(gz, gb)`.
    pub fn bias_act_backward(&self, b: &Self, y: &Self, g: &Self, act: Activation) -> Result<(Self, Self)> {
        let (_, width) = self.shape.as_matrix()?;
        let (gz, gb) = self.storage.bias_act_backward(&b.storage, &y.storage, &g.storage, width, act)?;
        Ok((self.with_storage(gz, self.shape.clone()), self.with_storage(gb, b.shape.clone())))
    }

    fn check_tangent_act(&self, b: &Self, batch: usize) -> Result<usize> {
        let (rows, width) = self.shape.as_matrix()?;
        if batch == 0 || rows % batch != 0 || b.numel() != width {
            shape_err!("tangent_act: {} rows of width {width} with bias {} over a batch of {batch}", rows, b.shape);
        }
        Ok(width)
    }
    /// For `self = z` stacked `[primal; tangents…]` (`(1+k)·batch` rows):
    /// primal rows `σ(z + b)`, tangent rows `σ'(z_primal + b) ⊙ z`.
    pub fn tangent_act(&self, b: &Self, batch: usize, act: Activation) -> Result<Self> {
        let width = self.check_tangent_act(b, batch)?;
        Ok(self.with_storage(self.storage.tangent_act(&b.storage, batch, width, act)?, self.shape.clone()))
    }
    /// The reverse rule of [`Tensor::tangent_act`]: `(gz, gb)`, given its output `y`.
    pub fn tangent_act_backward(
        &self,
        b: &Self,
        y: &Self,
        g: &Self,
        batch: usize,
        act: Activation,
    ) -> Result<(Self, Self)> {
        let width = self.check_tangent_act(b, batch)?;
        if y.shape() != self.shape() || g.shape() != self.shape() {
            shape_err!(
                "tangent_act_backward: output {} and gradient {} must have the input's shape {}",
                y.shape(),
                g.shape(),
                self.shape()
            );
        }
        let (gz, gb) = self.storage.tangent_act_backward(&b.storage, &y.storage, &g.storage, batch, width, act)?;
        Ok((self.with_storage(gz, self.shape.clone()), self.with_storage(gb, b.shape.clone())))
    }

    // ----- products -----------------------------------------------------

    /// Matrix product `op(self)·op(rhs)` of rank-2 tensors, or batched over a
    /// leading axis when either is rank 3 (a rank-2 operand is shared).
    pub fn matmul_t(&self, rhs: &Self, ta: Transpose, tb: Transpose) -> Result<Self> {
        let (ba, ra, ca) = batch_dims(&self.shape)?;
        let (bb, rb, cb) = batch_dims(&rhs.shape)?;
        let (m, k) = if ta == Transpose::No { (ra, ca) } else { (ca, ra) };
        let (k2, n) = if tb == Transpose::No { (rb, cb) } else { (cb, rb) };
        if k != k2 {
            shape_err!("matmul: inner dimensions differ ({} {ta:?} · {} {tb:?})", self.shape, rhs.shape);
        }
        let batch = match (ba, bb) {
            (Some(x), Some(y)) if x != y => shape_err!("matmul: batch sizes {x} and {y} differ"),
            (Some(x), _) | (None, Some(x)) => Some(x),
            (None, None) => None,
        };
        let nb = batch.unwrap_or(1);
        let sa = if ba.is_some() { m * k } else { 0 };
        let sb = if bb.is_some() { k * n } else { 0 };
        let s = self.storage.matmul(&rhs.storage, ta, tb, nb, m, n, k, sa, sb)?;
        let shape = match batch {
            Some(b) => Shape::new(&[b, m, n]),
            None => Shape::new(&[m, n]),
        };
        Ok(self.with_storage(s, shape))
    }
    pub fn matmul(&self, rhs: &Self) -> Result<Self> {
        self.matmul_t(rhs, Transpose::No, Transpose::No)
    }
    /// `self·w + b` for `self` of `m×k`, `w` of `k×n`, `b` of `n` (or `1×n`).
    pub fn affine(&self, w: &Self, b: &Self) -> Result<Self> {
        let (m, k) = self.shape.as_matrix()?;
        let (k2, n) = w.shape.as_matrix()?;
        if k != k2 || b.numel() != n {
            shape_err!("affine: x {} · w {} + b {} do not fit", self.shape, w.shape, b.shape);
        }
        let s = self.storage.affine(&w.storage, &b.storage, m, n, k)?;
        Ok(self.with_storage(s, Shape::new(&[m, n])))
    }
}

fn batch_dims(s: &Shape) -> Result<(Option<usize>, usize, usize)> {
    match s.dims() {
        [r, c] => Ok((None, *r, *c)),
        [b, r, c] => Ok((Some(*b), *r, *c)),
        _ => shape_err!("matmul needs rank-2 or rank-3 operands, got {s}"),
    }
}
