//! Test support shared by the integration tests: one test body, run on every
//! device. `on_every_device!(name, ...)` turns each `fn name(dev: Device)`
//! into the tests `name::cpu` and `name::cuda`; without a GPU (or without
//! the `cuda` feature) the CUDA one passes after saying it was skipped, and
//! why, on the terminal (written past the test harness's output capture).

#![allow(dead_code)]

use std::io::Write;

use wasserflow::Device;

/// The first CUDA device, or why there is none.
pub fn cuda_device() -> Result<Device, String> {
    Device::cuda(0).map_err(|e| e.to_string())
}

/// Runs `body` on cuda:0, or reports the skip.
pub fn on_cuda(test: &str, body: impl FnOnce(Device)) {
    match cuda_device() {
        Ok(dev) => body(dev),
        Err(why) => {
            let line = format!("{test}: skipped: {}\n", why.trim_start_matches("device error: "));
            let _ = std::io::stderr().lock().write_all(line.as_bytes());
        }
    }
}

#[macro_export]
macro_rules! on_every_device {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[test]
                fn cpu() {
                    super::$name(wasserflow::Device::Cpu)
                }
                #[test]
                fn cuda() {
                    $crate::common::on_cuda(concat!(module_path!(), "::cuda"), super::$name)
                }
            }
        )*
    };
}
