//! Files: checkpoints and model weights in the safetensors format, readable
//! and writable by the Python ecosystem (`safetensors`, PyTorch, JAX); the
//! atomic writer every file goes through; and the memory limit every loader
//! checks a file's header against.

pub mod atomic;
pub mod checkpoint;
pub mod classifier;
pub mod json;
pub mod limits;
pub mod model;
pub mod safetensors;

pub use atomic::{write_atomically, write_bytes_atomically};
pub use limits::LoadLimits;
pub use model::Model;
