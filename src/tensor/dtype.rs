//! The element types a tensor can hold: `f32` for speed, `f64` for gradient checks.
//!
//! Everything numeric in the crate is generic over [`Float`]. The trait carries the
//! scalar math the kernels need, so a kernel written once serves both precisions;
//! the f32 versions of the transcendental functions are the vectorizable ones of
//! [`crate::backend::cpu::vmath`], the f64 ones are the standard library's (exact
//! to the last bit, which finite-difference checks want).

use std::fmt::{Debug, Display};
use std::iter::Sum;
use std::ops::{Add, AddAssign, Div, DivAssign, Mul, MulAssign, Neg, Sub, SubAssign};

use crate::backend::cpu::gemm::GemmScalar;
use crate::backend::cpu::vmath;
use crate::tensor::pool::Pooled;

/// Run-time tag of an element type (for checkpoints, error messages, device kernels).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DType {
    F32,
    F64,
}

impl DType {
    pub fn name(self) -> &'static str {
        match self {
            DType::F32 => "f32",
            DType::F64 => "f64",
        }
    }
    pub fn size_bytes(self) -> usize {
        match self {
            DType::F32 => 4,
            DType::F64 => 8,
        }
    }
}

/// A floating-point element type: `f32` or `f64`.
pub trait Float:
    Copy
    + Send
    + Sync
    + 'static
    + Debug
    + Display
    + Default
    + PartialOrd
    + PartialEq
    + bytemuck::Pod
    + Add<Output = Self>
    + Sub<Output = Self>
    + Mul<Output = Self>
    + Div<Output = Self>
    + Neg<Output = Self>
    + AddAssign
    + SubAssign
    + MulAssign
    + DivAssign
    + Sum
    + GemmScalar
    + Pooled
{
    const DTYPE: DType;
    const ZERO: Self;
    const ONE: Self;
    /// Machine epsilon.
    const EPSILON: Self;

    fn from_f64(x: f64) -> Self;
    fn to_f64(self) -> f64;
    fn from_usize(n: usize) -> Self {
        Self::from_f64(n as f64)
    }

    fn abs(self) -> Self;
    fn sqrt(self) -> Self;
    fn powi(self, n: i32) -> Self;
    fn max(self, other: Self) -> Self;
    fn min(self, other: Self) -> Self;
    fn is_finite(self) -> bool;
    fn mul_add(self, a: Self, b: Self) -> Self;

    // Transcendentals: written without branches so loops over them vectorize.
    fn exp(self) -> Self;
    fn ln(self) -> Self;
    fn ln_1p(self) -> Self;
    fn tanh(self) -> Self;
    fn sigmoid(self) -> Self;
    /// `log(1 + e^x)`, stable for any `x`.
    fn softplus(self) -> Self;
}

macro_rules! impl_float_common {
    () => {
        const ZERO: Self = 0.0;
        const ONE: Self = 1.0;
        #[inline(always)]
        fn abs(self) -> Self {
            self.abs()
        }
        #[inline(always)]
        fn sqrt(self) -> Self {
            self.sqrt()
        }
        #[inline(always)]
        fn powi(self, n: i32) -> Self {
            self.powi(n)
        }
        #[inline(always)]
        fn max(self, other: Self) -> Self {
            if self > other { self } else { other }
        }
        #[inline(always)]
        fn min(self, other: Self) -> Self {
            if self < other { self } else { other }
        }
        #[inline(always)]
        fn is_finite(self) -> bool {
            self.is_finite()
        }
        #[inline(always)]
        fn mul_add(self, a: Self, b: Self) -> Self {
            self * a + b
        }
    };
}

impl Float for f32 {
    const DTYPE: DType = DType::F32;
    const EPSILON: Self = f32::EPSILON;
    impl_float_common!();
    #[inline(always)]
    fn from_f64(x: f64) -> Self {
        x as f32
    }
    #[inline(always)]
    fn to_f64(self) -> f64 {
        self as f64
    }
    #[inline(always)]
    fn exp(self) -> Self {
        vmath::exp_f32(self)
    }
    #[inline(always)]
    fn ln(self) -> Self {
        vmath::ln_f32(self)
    }
    #[inline(always)]
    fn ln_1p(self) -> Self {
        vmath::ln_1p_f32(self)
    }
    #[inline(always)]
    fn tanh(self) -> Self {
        vmath::tanh_f32(self)
    }
    #[inline(always)]
    fn sigmoid(self) -> Self {
        vmath::sigmoid_f32(self)
    }
    #[inline(always)]
    fn softplus(self) -> Self {
        vmath::softplus_f32(self)
    }
}

impl Float for f64 {
    const DTYPE: DType = DType::F64;
    const EPSILON: Self = f64::EPSILON;
    impl_float_common!();
    #[inline(always)]
    fn from_f64(x: f64) -> Self {
        x
    }
    #[inline(always)]
    fn to_f64(self) -> f64 {
        self
    }
    #[inline(always)]
    fn exp(self) -> Self {
        self.exp()
    }
    #[inline(always)]
    fn ln(self) -> Self {
        self.ln()
    }
    #[inline(always)]
    fn ln_1p(self) -> Self {
        self.ln_1p()
    }
    #[inline(always)]
    fn tanh(self) -> Self {
        self.tanh()
    }
    #[inline(always)]
    fn sigmoid(self) -> Self {
        // Both branches are exact; the split avoids exp overflow.
        if self >= 0.0 {
            1.0 / (1.0 + (-self).exp())
        } else {
            let e = self.exp();
            e / (1.0 + e)
        }
    }
    #[inline(always)]
    fn softplus(self) -> Self {
        self.max(0.0) + (-self.abs()).exp().ln_1p()
    }
}
