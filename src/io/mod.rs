//! Files: checkpoints and model weights in the safetensors format, readable
//! and writable by the Python ecosystem (`safetensors`, PyTorch, JAX).

pub mod safetensors;
