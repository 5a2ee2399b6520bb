//! Fuzz target: gzipped CSV (`csv_from_bytes` of a `.csv.gz`) under a 16 MiB load limit.
#![no_main]
use std::path::Path;

use libfuzzer_sys::fuzz_target;
use wasserflow::data::csv_from_bytes;
use wasserflow::io::LoadLimits;

fuzz_target!(|bytes: &[u8]| {
    if let Ok(t) = csv_from_bytes::<f32>(bytes, Path::new("fuzz.csv.gz"), &LoadLimits::new(16 << 20)) {
        assert!(t.to_vec().unwrap().iter().all(|v| v.is_finite()));
    }
});
