//! Test support shared by the integration tests: one test body, run on every
//! device. `on_every_device!(name, ...)` turns each `fn name(dev: Device)`
//! into the tests `name::cpu` and `name::cuda`; without a GPU (or without
//! the `cuda` feature) the CUDA one passes after saying it was skipped, and
//! why, on the terminal (written past the test harness's output capture).
//! Also the helpers of the command-line tests.

#![allow(dead_code)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

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

/// The `wasserflow` binary run in `cwd` on one thread.
pub fn wasserflow(args: &[&str], cwd: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_wasserflow"))
        .args(args)
        .current_dir(cwd)
        .env("RAYON_NUM_THREADS", "1")
        .output()
        .expect("the binary runs")
}

/// A fresh, empty directory for one test, named after the test file and `name`.
pub fn scratch(name: &str) -> PathBuf {
    let dir =
        std::env::temp_dir().join(format!("wasserflow-{}-{name}-{}", env!("CARGO_CRATE_NAME"), std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Files whose names mark an interrupted atomic write, anywhere under `dir`.
pub fn temporaries(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.file_name().unwrap().to_string_lossy().ends_with(".tmp") {
                found.push(p);
            }
        }
    }
    found
}

/// The command fails cleanly: non-zero exit, an error line mentioning `needle`, no panic.
#[track_caller]
pub fn fails_cleanly(o: &Output, needle: &str) {
    let err = stderr(o);
    assert!(!o.status.success(), "expected failure, got success; stderr: {err}");
    assert!(!err.contains("panicked"), "panic instead of an error: {err}");
    assert!(err.contains("error:"), "no error line: {err}");
    assert!(err.contains(needle), "message {err:?} does not mention {needle:?}");
}

/// [`fails_cleanly`], and no temporary file is left under `dir`.
#[track_caller]
pub fn fails_with(o: &Output, needle: &str, dir: &Path) {
    fails_cleanly(o, needle);
    assert!(temporaries(dir).is_empty(), "temporary files left: {:?}", temporaries(dir));
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
