//! Device memory: `cust` device buffers allocated and freed in stream order
//! from the device's memory pool (no device-wide synchronization per free),
//! and the host↔device copies.

use std::mem::ManuallyDrop;

use cust::memory::{DeviceBuffer, DeviceCopy};
use cust::sys as cu;

use super::context::{CudaDevice, check, driver_error};
use crate::Result;

/// A device allocation of `bytes`, returned to the pool on drop.
pub struct DeviceMem {
    buf: ManuallyDrop<DeviceBuffer<u8>>,
    pub bytes: usize,
    pub dev: &'static CudaDevice,
}

impl DeviceMem {
    /// Uninitialized memory; every user writes it before reading.
    pub fn alloc(dev: &'static CudaDevice, bytes: usize) -> Result<Self> {
        dev.make_current()?;
        // SAFETY: ordered on the device's stream, before any use of the memory.
        let buf = unsafe { DeviceBuffer::<u8>::uninitialized_async(bytes, &dev.stream) }
            .map_err(|e| driver_error(&format!("allocating {bytes} bytes"), e))?;
        Ok(DeviceMem { buf: ManuallyDrop::new(buf), bytes, dev })
    }

    /// The raw device address (0 for an empty allocation).
    pub fn ptr(&self) -> u64 {
        self.buf.as_device_ptr().as_raw()
    }

    /// Host data copied into a new allocation.
    pub fn from_host<T: DeviceCopy>(dev: &'static CudaDevice, data: &[T]) -> Result<Self> {
        let bytes = std::mem::size_of_val(data);
        let mem = Self::alloc(dev, bytes)?;
        if bytes > 0 {
            // SAFETY: `data` is `bytes` long; pageable host memory is staged
            // before the call returns, so `data` may be dropped afterwards.
            check("host-to-device copy", unsafe {
                cu::cuMemcpyHtoDAsync_v2(mem.ptr(), data.as_ptr().cast(), bytes, dev.stream_raw())
            })?;
        }
        Ok(mem)
    }

    /// Copies the first `out.len()` elements to the host, waiting for the stream.
    pub fn to_host<T: DeviceCopy>(&self, out: &mut [T]) -> Result<()> {
        let bytes = std::mem::size_of_val(out);
        debug_assert!(bytes <= self.bytes);
        if bytes == 0 {
            return Ok(());
        }
        self.dev.make_current()?;
        check("device-to-host copy", unsafe {
            cu::cuMemcpyDtoHAsync_v2(out.as_mut_ptr().cast(), self.ptr(), bytes, self.dev.stream_raw())
        })?;
        self.dev.synchronize()
    }

    /// A new allocation with the same contents.
    pub fn duplicate(&self) -> Result<Self> {
        let mem = Self::alloc(self.dev, self.bytes)?;
        if self.bytes > 0 {
            check("device-to-device copy", unsafe {
                cu::cuMemcpyDtoDAsync_v2(mem.ptr(), self.ptr(), self.bytes, self.dev.stream_raw())
            })?;
        }
        Ok(mem)
    }
}

impl Drop for DeviceMem {
    fn drop(&mut self) {
        // SAFETY: taken once, here; the free is queued after every use on the stream.
        let buf = unsafe { ManuallyDrop::take(&mut self.buf) };
        if self.dev.make_current().is_ok() {
            // A failed free at teardown leaks the memory to the pool; nothing to report to.
            let _ = buf.drop_async(&self.dev.stream);
        } else {
            std::mem::forget(buf);
        }
    }
}
