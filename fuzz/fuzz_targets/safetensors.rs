//! Fuzz target: safetensors parsing (`SafeTensors::parse`) and conversion of
//! every tensor it accepts.
#![no_main]
use std::path::Path;

use libfuzzer_sys::fuzz_target;
use wasserflow::io::safetensors::SafeTensors;

fuzz_target!(|bytes: &[u8]| {
    if let Ok(f) = SafeTensors::parse(bytes.to_vec(), Path::new("fuzz.safetensors")) {
        for name in f.names() {
            if let Ok(t) = f.get::<f64>(name) {
                assert_eq!(t.dims(), f.shape(name).unwrap());
            }
        }
    }
});
