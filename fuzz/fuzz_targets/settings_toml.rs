//! Fuzz target: TOML settings, then everything `train` does with them before
//! any work (resolution against the method's defaults, validation, memory estimate).
#![no_main]
use std::path::Path;

use libfuzzer_sys::fuzz_target;
use wasserflow::cli::memory::estimate;
use wasserflow::cli::settings::Settings;

fuzz_target!(|bytes: &[u8]| {
    let Ok(text) = std::str::from_utf8(bytes) else { return };
    let Ok(file) = Settings::from_toml_str(text, Path::new("fuzz.toml")) else { return };
    let method = file.method.clone().unwrap_or_else(|| "jko".into());
    let Ok(defaults) = Settings::defaults(&method) else { return };
    let s = defaults.overlaid(&file);
    let _ = s.to_toml();
    if wasserflow::cli::train::validate(&s).is_err() {
        return;
    }
    let _ = estimate(&s, 2, None);
    let _ = estimate(&s, 7, Some(100));
});
