//! One CUDA device as the backend uses it: the primary context, one
//! non-blocking stream that every kernel, copy, allocation and free of the
//! device is ordered on, and the kernels of the embedded PTX modules.
//!
//! Devices are opened on first use and live for the process. `cust` makes a
//! context current only on the calling thread, so every entry point calls
//! [`CudaDevice::make_current`] first (a thread-local check, a driver call
//! only when the thread changes).

use std::cell::Cell;
use std::collections::HashMap;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};

use cust::context::Context;
use cust::device::Device as CuDevice;
use cust::module::Module;
use cust::stream::{Stream, StreamFlags};
use cust::sys as cu;

use super::ptx::{MODULES, entry_names};
use crate::{Error, Result};

/// Devices this process can open at most.
const MAX_DEVICES: usize = 16;

/// An opened device; `'static` once opened.
pub struct CudaDevice {
    pub ordinal: usize,
    pub name: String,
    pub multiprocessors: u32,
    context: Context,
    pub stream: Stream,
    _modules: Vec<Module>,
    functions: HashMap<&'static str, cu::CUfunction>,
}

// SAFETY: the raw function handles are immutable after loading and valid for
// the life of the (never unloaded) modules; the driver allows launching them
// from any thread that has the context current.
unsafe impl Send for CudaDevice {}
unsafe impl Sync for CudaDevice {}

type Slot = OnceLock<std::result::Result<CudaDevice, String>>;
static DEVICES: [Slot; MAX_DEVICES] = [const { OnceLock::new() }; MAX_DEVICES];
static TF32: AtomicBool = AtomicBool::new(false);

thread_local! {
    static CURRENT: Cell<usize> = const { Cell::new(0) };
}

pub(crate) fn driver_error(what: &str, e: impl std::fmt::Display) -> Error {
    Error::Device(format!("CUDA {what}: {e}"))
}

/// Maps a raw driver result to the crate's error.
pub(crate) fn check(what: &str, r: cu::CUresult) -> Result<()> {
    if r == cu::CUresult::CUDA_SUCCESS { Ok(()) } else { Err(Error::Device(format!("CUDA {what} failed: {r:?}"))) }
}

impl CudaDevice {
    /// The device `ordinal`, opened on first use.
    pub fn get(ordinal: usize) -> Result<&'static CudaDevice> {
        if ordinal >= MAX_DEVICES {
            return Err(Error::Device(format!("cuda:{ordinal}: at most {MAX_DEVICES} devices are supported")));
        }
        let dev = DEVICES[ordinal].get_or_init(|| Self::open(ordinal).map_err(|e| e.to_string()));
        match dev {
            Ok(d) => {
                d.make_current()?;
                Ok(d)
            }
            Err(msg) => Err(Error::Device(msg.clone())),
        }
    }

    fn open(ordinal: usize) -> Result<CudaDevice> {
        cust::init(cust::CudaFlags::empty())
            .map_err(|e| driver_error("initialization (is there a GPU and a driver?)", e))?;
        let count = CuDevice::num_devices().map_err(|e| driver_error("device count", e))? as usize;
        if ordinal >= count {
            return Err(Error::Device(format!("cuda:{ordinal} requested, but {count} CUDA device(s) present")));
        }
        let device = CuDevice::get_device(ordinal as u32).map_err(|e| driver_error("device", e))?;
        let name = device.name().map_err(|e| driver_error("device name", e))?;
        let multiprocessors = device
            .get_attribute(cust::device::DeviceAttribute::MultiprocessorCount)
            .map_err(|e| driver_error("device attribute", e))? as u32;
        let context = Context::new(device).map_err(|e| driver_error("context", e))?;
        let stream = Stream::new(StreamFlags::NON_BLOCKING, None).map_err(|e| driver_error("stream", e))?;
        // Keep freed memory in the stream-ordered pool instead of returning
        // it to the driver at every synchronization: allocation per op then
        // costs about as much as a pooled host buffer.
        unsafe {
            let mut pool = std::ptr::null_mut();
            check("default memory pool", cu::cuDeviceGetDefaultMemPool(&mut pool, device.as_raw()))?;
            let mut threshold = u64::MAX;
            check(
                "memory pool release threshold",
                cu::cuMemPoolSetAttribute(
                    pool,
                    cu::CUmemPool_attribute::CU_MEMPOOL_ATTR_RELEASE_THRESHOLD,
                    &mut threshold as *mut u64 as *mut std::ffi::c_void,
                ),
            )?;
        }
        let mut modules = Vec::new();
        let mut functions = HashMap::new();
        for (file, ptx) in MODULES {
            let module = Module::from_ptx(ptx, &[]).map_err(|e| driver_error(&format!("loading {file}"), e))?;
            for name in entry_names(ptx) {
                let f = module.get_function(name).map_err(|e| driver_error(&format!("kernel {name}"), e))?;
                functions.insert(name, f.to_raw());
            }
            modules.push(module);
        }
        Ok(CudaDevice { ordinal, name, multiprocessors, context, stream, _modules: modules, functions })
    }

    /// Makes this device's context current on the calling thread.
    pub fn make_current(&self) -> Result<()> {
        let raw = self.context.as_raw() as usize;
        // `try_with`: buffers may be dropped while the thread's locals are torn down.
        if CURRENT.try_with(|c| c.get()).unwrap_or(0) != raw {
            check("making the context current", unsafe { cu::cuCtxSetCurrent(self.context.as_raw()) })?;
            let _ = CURRENT.try_with(|c| c.set(raw));
        }
        Ok(())
    }

    pub(crate) fn function(&self, name: &str) -> Result<cu::CUfunction> {
        self.functions
            .get(name)
            .copied()
            .ok_or_else(|| Error::Device(format!("kernel {name} is not in the embedded PTX (rebuild cuda/ptx)")))
    }

    pub fn stream_raw(&self) -> cu::CUstream {
        self.stream.as_inner()
    }

    /// Waits for everything queued on the device's stream.
    pub fn synchronize(&self) -> Result<()> {
        self.make_current()?;
        self.stream.synchronize().map_err(|e| driver_error("synchronize (a kernel failed?)", e))
    }
}

/// Whether f32 matrix products use the TF32 tensor-core kernel (10-bit
/// mantissa operands, f32 accumulation); off by default.
pub fn set_tf32(on: bool) {
    TF32.store(on, Ordering::Relaxed);
}

pub fn tf32() -> bool {
    TF32.load(Ordering::Relaxed)
}
