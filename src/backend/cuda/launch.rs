//! Kernel launches: grid sizing and the argument array `cuLaunchKernel`
//! takes (a pointer to each argument's value, in the kernel's order).

use std::ffi::c_void;

use cust::sys as cu;

use super::context::{CudaDevice, check};
use crate::Result;

/// Threads per block of the elementwise and reduction kernels.
pub const THREADS: u32 = 256;

/// Blocks for a grid-stride loop over `n` elements: enough to fill the
/// device several times over, no more.
pub fn blocks_for(dev: &CudaDevice, n: usize) -> u32 {
    let wanted = n.div_ceil(THREADS as usize);
    wanted.clamp(1, dev.multiprocessors as usize * 16) as u32
}

/// `name_f32` or `name_f64` for the element type `T`.
macro_rules! kernel_name {
    ($base:literal, $t:ty) => {
        match <$t as $crate::tensor::Float>::DTYPE {
            $crate::tensor::DType::F32 => concat!($base, "_f32"),
            $crate::tensor::DType::F64 => concat!($base, "_f64"),
        }
    };
}
pub(crate) use kernel_name;

/// Launches `name` with each argument passed by reference to its value.
///
/// # Safety
/// The arguments must match the kernel's parameter list in number, order and
/// type, and every device pointer among them must be valid for what the kernel
/// reads and writes.
pub unsafe fn launch(
    dev: &CudaDevice,
    name: &str,
    grid: (u32, u32, u32),
    block: u32,
    args: &mut [*mut c_void],
) -> Result<()> {
    let f = dev.function(name)?;
    dev.make_current()?;
    let r = unsafe {
        cu::cuLaunchKernel(
            f,
            grid.0,
            grid.1,
            grid.2,
            block,
            1,
            1,
            0,
            dev.stream_raw(),
            args.as_mut_ptr(),
            std::ptr::null_mut(),
        )
    };
    check(&format!("launch of {name}"), r)
}

/// `&mut value` as a kernel argument pointer.
macro_rules! arg {
    ($v:expr) => {
        (&mut $v) as *mut _ as *mut std::ffi::c_void
    };
}
pub(crate) use arg;
