//! Files: checkpoints and model weights in the safetensors format, readable
//! and writable by the Python ecosystem (`safetensors`, PyTorch, JAX).

pub mod atomic;
pub mod checkpoint;
pub mod classifier;
pub mod model;
pub mod safetensors;

pub use atomic::{write_atomically, write_bytes_atomically};
pub use model::Model;
