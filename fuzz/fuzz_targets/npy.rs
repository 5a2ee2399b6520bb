//! Fuzz target: `.npy` decoding (`npy_from_bytes`) under a 64 MiB load limit.
#![no_main]
use std::path::Path;

use libfuzzer_sys::fuzz_target;
use wasserflow::data::npy_from_bytes;
use wasserflow::io::LoadLimits;

fuzz_target!(|bytes: &[u8]| {
    if let Ok(t) = npy_from_bytes::<f32>(bytes, Path::new("fuzz.npy"), &LoadLimits::new(64 << 20)) {
        assert!(t.to_vec().unwrap().iter().all(|v| v.is_finite()));
    }
});
