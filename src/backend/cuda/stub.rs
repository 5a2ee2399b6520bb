//! The CUDA backend's names in a build without the `cuda` feature: the
//! storage type is uninhabited, so the API is the same on every build and
//! asking for a CUDA device is a clear error.

use std::convert::Infallible;
use std::marker::PhantomData;

use crate::backend::cpu::gemm::Transpose;
use crate::backend::{Activation, BackendStorage, BinaryOp, Device, ReduceOp, StridedView, UnaryOp};
use crate::tensor::{Float, Shape};
use crate::{Error, Result};

/// Device memory holding `T`s. Uninhabited in this build.
pub struct CudaStorage<T> {
    never: Infallible,
    _t: PhantomData<T>,
}

/// Fails: this build has no CUDA backend.
pub fn check_device(ordinal: usize) -> Result<()> {
    Err(Error::Device(format!(
        "cuda:{ordinal} requested, but this build of wasserflow has no CUDA backend (build with `--features cuda` on a machine with the CUDA toolkit)"
    )))
}

/// Does nothing: there are no CUDA matrix products in this build.
pub fn set_tf32(_on: bool) {}

pub fn tf32() -> bool {
    false
}

impl<T: Float> CudaStorage<T> {
    /// Copies host data to the device (unreachable in this build).
    pub fn from_host(_data: &[T], ordinal: usize) -> Result<Self> {
        check_device(ordinal)?;
        unreachable!("check_device fails without a CUDA backend")
    }
    /// `len` copies of `value` on the device (unreachable in this build).
    pub fn full(_len: usize, _value: T, ordinal: usize) -> Result<Self> {
        check_device(ordinal)?;
        unreachable!("check_device fails without a CUDA backend")
    }
}

impl<T: Float> Clone for CudaStorage<T> {
    fn clone(&self) -> Self {
        match self.never {}
    }
}

impl<T: Float> BackendStorage<T> for CudaStorage<T> {
    fn device(&self) -> Device {
        match self.never {}
    }
    fn len(&self) -> usize {
        match self.never {}
    }
    fn to_vec(&self) -> Result<Vec<T>> {
        match self.never {}
    }
    fn full_like(&self, _: usize, _: T) -> Result<Self> {
        match self.never {}
    }
    fn unary(&self, _: UnaryOp) -> Result<Self> {
        match self.never {}
    }
    fn unary_backward(&self, _: &Self, _: &Self, _: UnaryOp) -> Result<Self> {
        match self.never {}
    }
    fn binary(&self, _: &Self, _: BinaryOp, _: &Shape, _: &Shape, _: &Shape) -> Result<Self> {
        match self.never {}
    }
    fn reduce(&self, _: ReduceOp, _: &Shape, _: usize) -> Result<Self> {
        match self.never {}
    }
    fn copy_strided(&self, _: &StridedView) -> Result<Self> {
        match self.never {}
    }
    fn copy_into(&self, _: &mut Self, _: &StridedView) -> Result<()> {
        match self.never {}
    }
    fn matmul(
        &self,
        _: &Self,
        _: Transpose,
        _: Transpose,
        _: usize,
        _: usize,
        _: usize,
        _: usize,
        _: usize,
        _: usize,
    ) -> Result<Self> {
        match self.never {}
    }
    fn affine(&self, _: &Self, _: &Self, _: usize, _: usize, _: usize) -> Result<Self> {
        match self.never {}
    }
    fn bias_act(&self, _: &Self, _: usize, _: Activation) -> Result<Self> {
        match self.never {}
    }
    fn bias_act_backward(&self, _: &Self, _: &Self, _: &Self, _: usize, _: Activation) -> Result<(Self, Self)> {
        match self.never {}
    }
    fn tangent_act(&self, _: &Self, _: usize, _: usize, _: Activation) -> Result<Self> {
        match self.never {}
    }
    fn tangent_act_backward(
        &self,
        _: &Self,
        _: &Self,
        _: &Self,
        _: usize,
        _: usize,
        _: Activation,
    ) -> Result<(Self, Self)> {
        match self.never {}
    }
    fn gather_rows(&self, _: &[usize], _: usize) -> Result<Self> {
        match self.never {}
    }
    fn scatter_add_rows(&self, _: &[usize], _: usize, _: usize) -> Result<Self> {
        match self.never {}
    }
    fn lincomb(terms: &[(T, &Self)]) -> Result<Self> {
        match terms[0].1.never {}
    }
    fn axpy(&mut self, _: T, _: &Self) -> Result<()> {
        match self.never {}
    }
    fn scale(&mut self, _: T) -> Result<()> {
        match self.never {}
    }
    fn sum_squares(&self) -> Result<f64> {
        match self.never {}
    }
    fn all_finite(&self) -> Result<bool> {
        match self.never {}
    }
    fn adam_update(
        &mut self,
        _: &Self,
        _: &mut Self,
        _: &mut Self,
        _: T,
        _: T,
        _: T,
        _: T,
        _: T,
        _: T,
        _: T,
    ) -> Result<()> {
        match self.never {}
    }
}
