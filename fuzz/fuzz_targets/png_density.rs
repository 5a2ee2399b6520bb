//! Fuzz target: PNG-defined densities (`ImageDensity::from_png_bytes`) under
//! a 64 MiB load limit; an accepted image must sample finite points.
#![no_main]
use std::path::Path;

use libfuzzer_sys::fuzz_target;
use wasserflow::Rng;
use wasserflow::data::ImageDensity;
use wasserflow::io::LoadLimits;

fuzz_target!(|bytes: &[u8]| {
    if let Ok(d) = ImageDensity::from_png_bytes(bytes, Path::new("fuzz.png"), &LoadLimits::new(64 << 20)) {
        let total: f64 = d.mass().iter().sum();
        assert!((total - 1.0).abs() < 1e-9);
        let x = d.sample::<f32>(8, &mut Rng::seed(0)).unwrap();
        assert!(x.to_vec().unwrap().iter().all(|v| v.is_finite()));
    }
});
