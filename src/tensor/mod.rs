//! Tensors: n-d shapes over row-major storage on a device.

pub mod dtype;
pub use dtype::{DType, Float};
