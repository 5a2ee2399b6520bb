//! The NVIDIA backend: tensor storage in device memory through `cust`, with
//! kernels written in CUDA C under `cuda/` (`<op>_<fwd|bwd>_<dtype>`),
//! compiled to PTX by `cuda/build_ptx.sh` with the pinned nvcc and embedded
//! in the library.
//!
//! Without the `cuda` feature the same names exist (`stub.rs`): the storage
//! type is uninhabited and asking for a device is a clear error, so code
//! above the backend never changes with the feature.

pub mod params;

#[cfg(feature = "cuda")]
mod context;
#[cfg(feature = "cuda")]
mod launch;
#[cfg(feature = "cuda")]
mod memory;
// Built on every build so its checks against storage.rs run without a GPU.
#[cfg_attr(not(feature = "cuda"), allow(dead_code))]
mod ptx;
#[cfg(feature = "cuda")]
mod storage;

#[cfg(feature = "cuda")]
pub use context::{set_tf32, tf32};
#[cfg(feature = "cuda")]
pub use storage::{CudaStorage, check_device};

#[cfg(not(feature = "cuda"))]
mod stub;
#[cfg(not(feature = "cuda"))]
pub use stub::{CudaStorage, check_device, set_tf32, tf32};

use crate::Result;

/// The device's name, e.g. "NVIDIA H100 80GB HBM3".
#[cfg(feature = "cuda")]
pub fn device_name(ordinal: usize) -> Result<String> {
    Ok(context::CudaDevice::get(ordinal)?.name.clone())
}

/// Waits for all work queued on the device (benchmarks time with this).
#[cfg(feature = "cuda")]
pub fn synchronize(ordinal: usize) -> Result<()> {
    context::CudaDevice::get(ordinal)?.synchronize()
}

#[cfg(not(feature = "cuda"))]
pub fn device_name(ordinal: usize) -> Result<String> {
    check_device(ordinal).map(|_| String::new())
}

#[cfg(not(feature = "cuda"))]
pub fn synchronize(ordinal: usize) -> Result<()> {
    check_device(ordinal)
}
