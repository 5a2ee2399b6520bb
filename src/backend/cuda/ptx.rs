//! The PTX of `cuda/*.cu`, made by `cuda/build_ptx.sh` with the pinned nvcc
//! and embedded in the library; the driver compiles it for the GPU at load.

/// `(file, PTX)` of every kernel module.
pub const MODULES: [(&str, &str); 5] = [
    ("bias_act.ptx", include_str!("../../../cuda/ptx/bias_act.ptx")),
    ("copy.ptx", include_str!("../../../cuda/ptx/copy.ptx")),
    ("elementwise.ptx", include_str!("../../../cuda/ptx/elementwise.ptx")),
    ("gemm.ptx", include_str!("../../../cuda/ptx/gemm.ptx")),
    ("reduce.ptx", include_str!("../../../cuda/ptx/reduce.ptx")),
];

/// The `.entry` (kernel) names of a PTX module.
pub fn entry_names(ptx: &'static str) -> impl Iterator<Item = &'static str> {
    ptx.lines().filter_map(|l| {
        let rest = l.trim_start().strip_prefix(".visible .entry ")?;
        Some(rest.split('(').next()?.trim())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every kernel the backend launches (the names in `storage.rs`) is in
    /// the embedded PTX for both element types: checked without a GPU.
    #[test]
    fn every_launched_kernel_is_embedded() {
        let entries: Vec<&str> = MODULES.iter().flat_map(|(_, ptx)| entry_names(ptx)).collect();
        let source = include_str!("storage.rs");
        let mut checked = 0;
        for piece in source.split("kernel_name!(\"").skip(1) {
            let base = piece.split('"').next().unwrap();
            for dtype in ["f32", "f64"] {
                let name = format!("{base}_{dtype}");
                assert!(entries.contains(&name.as_str()), "{name} is launched but not in cuda/ptx");
                checked += 1;
            }
        }
        for literal in ["gemm_tf32_fwd_f32", "sum_partials_f64"] {
            assert!(source.contains(literal) && entries.contains(&literal));
        }
        assert!(checked >= 40, "only {checked} kernel names found in storage.rs");
    }

    #[test]
    fn the_ptx_targets_what_the_lent_drivers_load() {
        for (file, ptx) in MODULES {
            // PTX ISA 9.0 is CUDA 13.0's; a newer ISA fails to load on its driver.
            assert!(ptx.contains(".version 9.0") && ptx.contains(".target sm_80"), "{file}");
        }
    }
}
