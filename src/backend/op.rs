//! Descriptions of the primitive elementwise ops, shared by every backend.
//!
//! Each op carries its scalar definition and derivatives here, once; the CPU
//! kernels map them over slices and the CUDA kernels mirror them.

use crate::tensor::Float;

/// Activation functions of the velocity fields, with first and second
/// derivatives (the second is what differentiating a Jacobian-vector product
/// through the network needs).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Activation {
    /// `tanh x`
    Tanh,
    /// `1 / (1 + e^{-x})`
    Sigmoid,
    /// `log(1 + e^{βx}) / β`
    Softplus { beta: f64 },
    /// `x · sigmoid(x)` (swish)
    Silu,
    /// `max(x, 0)`
    Relu,
    /// `x` for `x > 0`, `α(e^x − 1)` otherwise
    Elu { alpha: f64 },
    /// `λ·elu_α(x)` with the self-normalizing constants
    Selu,
    /// `x`
    Identity,
}

const SELU_ALPHA: f64 = 1.673_263_242_354_377_3;
const SELU_LAMBDA: f64 = 1.050_700_987_355_480_5;

impl Activation {
    /// Parses a name as the CLI and configs spell it (`softplus` means β = 1).
    pub fn from_name(name: &str) -> crate::Result<Self> {
        Ok(match name {
            "tanh" => Activation::Tanh,
            "sigmoid" => Activation::Sigmoid,
            "softplus" => Activation::Softplus { beta: 1.0 },
            "silu" | "swish" => Activation::Silu,
            "relu" => Activation::Relu,
            "elu" => Activation::Elu { alpha: 1.0 },
            "selu" => Activation::Selu,
            "identity" | "linear" => Activation::Identity,
            _ => crate::invalid_arg!(
                "unknown activation '{name}' (expected tanh, sigmoid, softplus, silu, relu, elu, selu, identity)"
            ),
        })
    }

    pub fn name(&self) -> &'static str {
        match self {
            Activation::Tanh => "tanh",
            Activation::Sigmoid => "sigmoid",
            Activation::Softplus { .. } => "softplus",
            Activation::Silu => "silu",
            Activation::Relu => "relu",
            Activation::Elu { .. } => "elu",
            Activation::Selu => "selu",
            Activation::Identity => "identity",
        }
    }

    /// `σ(x)`.
    #[inline(always)]
    pub fn eval<T: Float>(self, x: T) -> T {
        match self {
            Activation::Tanh => x.tanh(),
            Activation::Sigmoid => x.sigmoid(),
            Activation::Softplus { beta } => {
                // A product with 1/β, within an ulp of the quotient: the
                // division cost 3% of the fused bias + softplus pass.
                (T::from_f64(beta) * x).softplus() * T::from_f64(1.0 / beta)
            }
            Activation::Silu => x * x.sigmoid(),
            Activation::Relu => x.max(T::ZERO),
            Activation::Elu { alpha } => elu(x, T::from_f64(alpha)),
            Activation::Selu => T::from_f64(SELU_LAMBDA) * elu(x, T::from_f64(SELU_ALPHA)),
            Activation::Identity => x,
        }
    }

    /// `σ'(x)`, given `x` and `y = σ(x)` (whichever is cheaper is used).
    #[inline(always)]
    pub fn d1<T: Float>(self, x: T, y: T) -> T {
        match self {
            Activation::Tanh => T::ONE - y * y,
            Activation::Sigmoid => y * (T::ONE - y),
            // σ(βx) = 1 − e^{−βy} for y = softplus_β(x): one exp and no
            // division, cheaper than the sigmoid from x. Where σ(βx) < ε it
            // rounds to 0 (absolute error below ε).
            Activation::Softplus { beta } => T::ONE - softplus_tail(T::from_f64(beta) * y),
            Activation::Silu => {
                let s = x.sigmoid();
                s + x * s * (T::ONE - s)
            }
            Activation::Relu => step(x),
            Activation::Elu { alpha } => {
                let a = T::from_f64(alpha);
                if x > T::ZERO { T::ONE } else { a * x.exp() }
            }
            Activation::Selu => {
                let l = T::from_f64(SELU_LAMBDA);
                if x > T::ZERO { l } else { l * T::from_f64(SELU_ALPHA) * x.exp() }
            }
            Activation::Identity => T::ONE,
        }
    }

    /// `σ''(x)`, given `x` and `y = σ(x)`.
    #[inline(always)]
    pub fn d2<T: Float>(self, x: T, y: T) -> T {
        let two = T::from_f64(2.0);
        match self {
            Activation::Tanh => -two * y * (T::ONE - y * y),
            Activation::Sigmoid => y * (T::ONE - y) * (T::ONE - two * y),
            Activation::Softplus { beta } => {
                let b = T::from_f64(beta);
                let s = T::ONE - softplus_tail(b * y);
                b * s * (T::ONE - s)
            }
            Activation::Silu => {
                let s = x.sigmoid();
                s * (T::ONE - s) * (two + x * (T::ONE - two * s))
            }
            Activation::Relu | Activation::Identity => T::ZERO,
            Activation::Elu { alpha } => {
                if x > T::ZERO {
                    T::ZERO
                } else {
                    T::from_f64(alpha) * x.exp()
                }
            }
            Activation::Selu => {
                if x > T::ZERO {
                    T::ZERO
                } else {
                    T::from_f64(SELU_LAMBDA * SELU_ALPHA) * x.exp()
                }
            }
        }
    }
}

#[inline(always)]
fn elu<T: Float>(x: T, alpha: T) -> T {
    if x > T::ZERO { x } else { alpha * (x.exp() - T::ONE) }
}

/// `e^{−βy}` for `βy >= 0`, the complement of softplus's slope `σ(βx)`.
/// Past βy = 87 the exponential is below 2^-125, so `1 − e^{−βy}` rounds to
/// 1 in f32 and f64 alike; clamping there keeps it a normal number instead
/// of a subnormal, whose production costs a microcode assist.
#[inline(always)]
fn softplus_tail<T: Float>(by: T) -> T {
    (-by.min(T::from_f64(87.0))).exp()
}

#[inline(always)]
fn step<T: Float>(x: T) -> T {
    if x > T::ZERO { T::ONE } else { T::ZERO }
}

/// Elementwise unary ops.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum UnaryOp {
    Neg,
    Exp,
    Ln,
    Sqrt,
    Square,
    Recip,
    Abs,
    Powi(i32),
    AddScalar(f64),
    MulScalar(f64),
    /// `σ(x)`
    Act(Activation),
    /// `σ'(x)`: the activation's derivative as an op of its own, so that a
    /// Jacobian-vector product recorded on the tape can itself be differentiated.
    ActDeriv(Activation),
}

impl UnaryOp {
    pub fn name(&self) -> &'static str {
        match self {
            UnaryOp::Neg => "neg",
            UnaryOp::Exp => "exp",
            UnaryOp::Ln => "log",
            UnaryOp::Sqrt => "sqrt",
            UnaryOp::Square => "square",
            UnaryOp::Recip => "recip",
            UnaryOp::Abs => "abs",
            UnaryOp::Powi(_) => "powi",
            UnaryOp::AddScalar(_) => "add_scalar",
            UnaryOp::MulScalar(_) => "mul_scalar",
            UnaryOp::Act(a) => a.name(),
            UnaryOp::ActDeriv(_) => "act_deriv",
        }
    }

    /// `f(x)`.
    #[inline(always)]
    pub fn eval<T: Float>(self, x: T) -> T {
        match self {
            UnaryOp::Neg => -x,
            UnaryOp::Exp => x.exp(),
            UnaryOp::Ln => x.ln(),
            UnaryOp::Sqrt => x.sqrt(),
            UnaryOp::Square => x * x,
            UnaryOp::Recip => T::ONE / x,
            UnaryOp::Abs => x.abs(),
            UnaryOp::Powi(n) => x.powi(n),
            UnaryOp::AddScalar(c) => x + T::from_f64(c),
            UnaryOp::MulScalar(c) => x * T::from_f64(c),
            UnaryOp::Act(a) => a.eval(x),
            UnaryOp::ActDeriv(a) => a.d1(x, a.eval(x)),
        }
    }

    /// `f'(x)` given `x` and `y = f(x)`.
    #[inline(always)]
    pub fn deriv<T: Float>(self, x: T, y: T) -> T {
        match self {
            UnaryOp::Neg => -T::ONE,
            UnaryOp::Exp => y,
            UnaryOp::Ln => T::ONE / x,
            UnaryOp::Sqrt => T::from_f64(0.5) / y,
            UnaryOp::Square => T::from_f64(2.0) * x,
            UnaryOp::Recip => -y * y,
            UnaryOp::Abs => {
                if x > T::ZERO {
                    T::ONE
                } else if x < T::ZERO {
                    -T::ONE
                } else {
                    T::ZERO
                }
            }
            UnaryOp::Powi(n) => T::from_f64(n as f64) * x.powi(n - 1),
            UnaryOp::AddScalar(_) => T::ONE,
            UnaryOp::MulScalar(c) => T::from_f64(c),
            UnaryOp::Act(a) => a.d1(x, y),
            UnaryOp::ActDeriv(a) => a.d2(x, a.eval(x)),
        }
    }
}

/// Elementwise binary ops (with broadcasting).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BinaryOp {
    Add,
    Sub,
    Mul,
    Div,
    Max,
    Min,
}

impl BinaryOp {
    pub fn name(&self) -> &'static str {
        match self {
            BinaryOp::Add => "add",
            BinaryOp::Sub => "sub",
            BinaryOp::Mul => "mul",
            BinaryOp::Div => "div",
            BinaryOp::Max => "max",
            BinaryOp::Min => "min",
        }
    }
    #[inline(always)]
    pub fn eval<T: Float>(self, a: T, b: T) -> T {
        match self {
            BinaryOp::Add => a + b,
            BinaryOp::Sub => a - b,
            BinaryOp::Mul => a * b,
            BinaryOp::Div => a / b,
            BinaryOp::Max => a.max(b),
            BinaryOp::Min => a.min(b),
        }
    }
}

/// Reductions over axes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReduceOp {
    Sum,
    Max,
    Min,
}
