//! Reverse-mode automatic differentiation on a tape.
//!
//! Record a forward pass with [`Var`] ops on a [`Tape`], then
//! [`Tape::backward`] gives gradients of a scalar with respect to the leaves.
//!
//! # Differentiating through Jacobian-vector products
//!
//! Training a CNF with a Hutchinson trace estimate needs `∂/∂θ εᵀ(∂v/∂x)ε`:
//! a derivative of a derivative. We do not differentiate the backward pass
//! (double backward). Instead the Jacobian-vector product `(∂v/∂x)ε` is
//! computed in *forward mode*, by propagating a tangent alongside the value
//! with ordinary tape ops: a linear layer maps the tangent by `·W`, an
//! activation multiplies it by [`Var::act_deriv`] (`σ'(z)`, itself an op
//! with derivative `σ''(z)`). The tangent is then an ordinary recorded value
//! and one reverse sweep gives its gradient. This is cheaper than double
//! backward (one extra forward-like pass per probe instead of a backward
//! pass recorded and swept again), and lets the primal and tangent rows
//! share one GEMM per layer. See [`crate::nn::Mlp::forward_with_tangents`].
//!
//! ```
//! use wasserflow::autodiff::Tape;
//! use wasserflow::Tensor;
//! let tape = Tape::new();
//! let x = tape.var(Tensor::<f64>::from_f64s(&[1.0, 2.0], [2]).unwrap());
//! let y = x.square().unwrap().sum_all().unwrap(); // Σ x²
//! let g = tape.backward(y).unwrap();
//! assert_eq!(g.get(x).unwrap().to_vec().unwrap(), vec![2.0, 4.0]);
//! ```

mod backward;
pub mod gradcheck;
mod logdet;
mod tape;
mod var;

pub use backward::CustomRule;
pub use tape::{Grads, Tape, Var};
