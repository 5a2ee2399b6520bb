//! Backends: where tensor storage lives and the primitive kernels that run on it.

pub mod cpu;
