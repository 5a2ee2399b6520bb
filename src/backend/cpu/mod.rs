//! The CPU backend: kernels on host memory (rayon across cores, SIMD within).

pub mod gemm;
pub mod simd;
pub mod vmath;
