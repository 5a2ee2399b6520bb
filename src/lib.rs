//! wasserflow: flow-based generative models as iterative algorithms in probability space.

pub mod backend;
pub mod tensor;
