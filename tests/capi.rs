//! The C API (feature `capi`): the committed header is the generated one,
//! and `examples/c/embed.c`, compiled with the system C compiler against the
//! shared library, loads a run the CLI trained and prints what it should,
//! including the errors for a missing run and a null output pointer.
//!
//! `cargo test --release --features capi --test capi`
#![cfg(feature = "capi")]

use std::path::{Path, PathBuf};
use std::process::Command;

#[test]
fn the_committed_header_is_the_generated_one() {
    let generated = include_str!(concat!(env!("OUT_DIR"), "/wasserflow.h"));
    let committed =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("include/wasserflow.h")).unwrap();
    assert_eq!(committed, generated, "include/wasserflow.h is stale: copy it from the build's OUT_DIR");
}

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?}:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn the_c_example_runs_against_the_shared_library() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let work = std::env::temp_dir().join(format!("wasserflow-capi-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work).unwrap();
    // The shared library, in a target dir of its own (the outer cargo holds this one).
    let target = root.join("target/capi");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    run(Command::new(cargo)
        .current_dir(&root)
        .args(["rustc", "--release", "--lib", "--features", "capi", "--crate-type", "cdylib", "--target-dir"])
        .arg(&target));
    let lib_dir = target.join("release");
    let exe = work.join("embed");
    run(Command::new(std::env::var("CC").unwrap_or_else(|_| "cc".into()))
        .arg(root.join("examples/c/embed.c"))
        .arg(format!("-I{}", root.join("include").display()))
        .arg(format!("-L{}", lib_dir.display()))
        .args(["-lwasserflow", "-o"])
        .arg(&exe));
    let model = work.join("run");
    run(Command::new(env!("CARGO_BIN_EXE_wasserflow"))
        .args(["--threads", "1", "train", "--method", "fm", "--data", "8gaussians", "--iterations", "50"])
        .args(["--batch", "128", "--hidden", "16", "--no-figures", "--n-test", "100", "--eval-n", "100", "--out"])
        .arg(&model));
    let out = run(Command::new(&exe).arg(&model).env("LD_LIBRARY_PATH", &lib_dir));
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines[0].starts_with("expected failure: ") && lines[0].contains("no/such/run"), "{out}");
    assert_eq!(lines[1], "dim 2", "{out}");
    let points: Vec<&&str> = lines.iter().filter(|l| l.starts_with("x = (")).collect();
    assert_eq!(points.len(), 4, "{out}");
    for l in points {
        let lp: f64 = l.split("log p = ").nth(1).unwrap().split_whitespace().next().unwrap().parse().unwrap();
        assert!(lp.is_finite() && lp < 0.0, "{l}");
    }
    let last = lines.last().unwrap();
    assert!(last.starts_with("null output: code 1: ") && last.ends_with("out is a null pointer"), "{out}");
    let _ = std::fs::remove_dir_all(&work);
}
