//! The C API (feature `capi`; build the shared library with
//! `cargo rustc --release --lib --features capi --crate-type cdylib`): opaque
//! model handles over [`crate::io::Model`], integer error codes, the last
//! error's message per thread, and no panic ever crossing the boundary. The
//! header, `include/wasserflow.h`, is generated from this file by cbindgen
//! (`build.rs`); `examples/c/embed.c` shows the calls.

use std::cell::RefCell;
use std::ffi::{CStr, CString, c_char};
use std::panic::{AssertUnwindSafe, catch_unwind};

use crate::io::Model;
use crate::{Error, Result, Tensor};

/// Success.
pub const WF_OK: i32 = 0;
/// An argument out of range or a null pointer.
pub const WF_ERR_ARGUMENT: i32 = 1;
/// A file could not be read.
pub const WF_ERR_IO: i32 = 2;
/// A file's contents are not what its format promises.
pub const WF_ERR_FORMAT: i32 = 3;
/// Points of the wrong shape for the model.
pub const WF_ERR_SHAPE: i32 = 4;
/// A computation produced NaN or infinity.
pub const WF_ERR_NUMERIC: i32 = 5;
/// A device error.
pub const WF_ERR_DEVICE: i32 = 6;
/// A bug inside wasserflow (a caught panic); the handle should be freed.
pub const WF_ERR_INTERNAL: i32 = 7;

/// A loaded model (opaque).
pub struct WfModel {
    model: Model,
}

thread_local! {
    static LAST_ERROR: RefCell<CString> = RefCell::new(CString::default());
}

fn set_error(message: &str) {
    let text = CString::new(message.replace('\0', " ")).unwrap_or_default();
    LAST_ERROR.with(|e| *e.borrow_mut() = text);
}

fn code(e: &Error) -> i32 {
    match e {
        Error::Shape(_) => WF_ERR_SHAPE,
        Error::InvalidArgument(_) => WF_ERR_ARGUMENT,
        Error::Device(_) => WF_ERR_DEVICE,
        Error::NonFinite(_) => WF_ERR_NUMERIC,
        Error::Io { .. } => WF_ERR_IO,
        Error::Format { .. } => WF_ERR_FORMAT,
    }
}

/// Runs `f`, turning errors and panics into codes and messages.
fn guarded(f: impl FnOnce() -> Result<()>) -> i32 {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(())) => {
            set_error("");
            WF_OK
        }
        Ok(Err(e)) => {
            set_error(&e.to_string());
            code(&e)
        }
        Err(_) => {
            set_error("internal error (a panic inside wasserflow)");
            WF_ERR_INTERNAL
        }
    }
}

fn null(what: &str) -> Error {
    Error::InvalidArgument(format!("{what} is a null pointer"))
}

/// The message of the last failed call on this thread ("" after a success).
/// Valid until the next call on this thread.
#[unsafe(no_mangle)]
pub extern "C" fn wf_last_error() -> *const c_char {
    LAST_ERROR.with(|e| e.borrow().as_ptr())
}

/// Loads the run directory (or checkpoints folder) at `path` into `*out`.
///
/// # Safety
/// `path` is a NUL-terminated string; `out` points to writable storage.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wf_model_load(path: *const c_char, out: *mut *mut WfModel) -> i32 {
    guarded(|| {
        if path.is_null() {
            return Err(null("path"));
        }
        if out.is_null() {
            return Err(null("out"));
        }
        // SAFETY: checked non-null; the caller promises NUL termination.
        let path = unsafe { CStr::from_ptr(path) }
            .to_str()
            .map_err(|_| Error::InvalidArgument("the path is not UTF-8".into()))?;
        let model = Model::load(path)?;
        // SAFETY: checked non-null; the caller owns the storage.
        unsafe { *out = Box::into_raw(Box::new(WfModel { model })) };
        Ok(())
    })
}

/// Frees a model from [`wf_model_load`] (null is ignored).
///
/// # Safety
/// `model` came from `wf_model_load` and is not used afterwards.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wf_model_free(model: *mut WfModel) {
    if !model.is_null() {
        // SAFETY: the caller hands back ownership of a Box made by wf_model_load.
        let _ = catch_unwind(AssertUnwindSafe(|| drop(unsafe { Box::from_raw(model) })));
    }
}

fn model_ref<'a>(model: *const WfModel) -> Result<&'a Model> {
    // SAFETY: non-null handles come from wf_model_load and live until wf_model_free.
    unsafe { model.as_ref() }.map(|m| &m.model).ok_or_else(|| null("model"))
}

/// `*out_dim` ← the dimension of the model's points.
///
/// # Safety
/// `model` is a live handle; `out_dim` points to writable storage.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wf_model_dim(model: *const WfModel, out_dim: *mut usize) -> i32 {
    guarded(|| {
        let m = model_ref(model)?;
        if out_dim.is_null() {
            return Err(null("out_dim"));
        }
        // SAFETY: checked non-null.
        unsafe { *out_dim = m.dim() };
        Ok(())
    })
}

/// Points `[n, dim]` (row-major floats) as a tensor.
fn points(ptr: *const f32, n: usize, dim: usize) -> Result<Tensor<f32>> {
    if ptr.is_null() {
        return Err(null("points"));
    }
    // SAFETY: the caller promises n·dim readable floats.
    let data = unsafe { std::slice::from_raw_parts(ptr, n * dim) };
    Tensor::from_slice(data, [n, dim])
}

/// `out[i]` ← log p(x_i) in nats for the `n` points `x` (`n × dim` floats, row-major).
///
/// # Safety
/// `x` holds `n·dim` floats and `out` room for `n` doubles.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wf_model_log_prob(model: *const WfModel, x: *const f32, n: usize, out: *mut f64) -> i32 {
    guarded(|| {
        let m = model_ref(model)?;
        if out.is_null() {
            return Err(null("out"));
        }
        let lp = m.log_prob(&points(x, n, m.dim())?)?;
        // SAFETY: room for n doubles, as promised.
        unsafe { std::slice::from_raw_parts_mut(out, n) }.copy_from_slice(&lp);
        Ok(())
    })
}

/// `out` ← `n` points drawn from the model with `seed` (`n × dim` floats).
///
/// # Safety
/// `out` has room for `n·dim` floats.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wf_model_sample(model: *const WfModel, n: usize, seed: u64, out: *mut f32) -> i32 {
    guarded(|| {
        let m = model_ref(model)?;
        if out.is_null() {
            return Err(null("out"));
        }
        let x = m.sample(n, seed)?.to_vec()?;
        // SAFETY: room for n·dim floats, as promised.
        unsafe { std::slice::from_raw_parts_mut(out, x.len()) }.copy_from_slice(&x);
        Ok(())
    })
}

/// `out` ← the flow's image of the `n` points `x` in the latent space.
///
/// # Safety
/// `x` holds `n·dim` floats and `out` has room for as many.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wf_model_transport(model: *const WfModel, x: *const f32, n: usize, out: *mut f32) -> i32 {
    guarded(|| {
        let m = model_ref(model)?;
        if out.is_null() {
            return Err(null("out"));
        }
        let z = m.transport(&points(x, n, m.dim())?)?.to_vec()?;
        // SAFETY: room for n·dim floats, as promised.
        unsafe { std::slice::from_raw_parts_mut(out, z.len()) }.copy_from_slice(&z);
        Ok(())
    })
}
