//! The `wasserflow` binary end to end: `--help` of every subcommand and
//! `eval --json` of a fixed tiny model as snapshots; a tiny train → sample →
//! eval → plot round; and every bad-input case of SPEC.md: a clear message,
//! a non-zero exit, no panic, and no temporary file left behind.

mod common;

use common::{fails_with, scratch, stderr, temporaries, wasserflow};

use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;

const TINY: &[&str] = &[
    "--method",
    "cnf",
    "--data",
    "8gaussians",
    "--hidden",
    "8",
    "--iterations",
    "6",
    "--batch",
    "64",
    "--n-train",
    "500",
    "--n-test",
    "200",
    "--eval-n",
    "100",
    "--step-size",
    "0.5",
    "--eval-step",
    "0.25",
    "--seed",
    "1",
];

fn train_tiny(dir: &Path, name: &str, extra: &[&str]) -> Output {
    let mut args = vec!["train", "--out", name, "--no-figures"];
    args.extend_from_slice(TINY);
    args.extend_from_slice(extra);
    wasserflow(&args, dir)
}

#[test]
fn help_of_every_subcommand() {
    let dir = scratch("help");
    for sub in ["", "train", "sample", "eval", "plot", "demo"] {
        let args: Vec<&str> = if sub.is_empty() { vec!["--help"] } else { vec![sub, "--help"] };
        let o = wasserflow(&args, &dir);
        assert!(o.status.success(), "{sub} --help failed: {}", stderr(&o));
        let name = if sub.is_empty() { "help".to_owned() } else { format!("help_{sub}") };
        insta::assert_snapshot!(name, String::from_utf8_lossy(&o.stdout));
    }
}

/// Numbers rounded to 4 significant digits, so the snapshot holds across
/// instruction sets (the kernels' rounding differs in the last bits).
fn rounded(v: &Value) -> Value {
    match v {
        Value::Number(n) if n.is_f64() => {
            let x = n.as_f64().unwrap();
            if x == 0.0 || !x.is_finite() {
                return v.clone();
            }
            let digits = 3 - x.abs().log10().floor() as i32;
            let scale = 10f64.powi(digits);
            serde_json::json!((x * scale).round() / scale)
        }
        Value::Array(a) => Value::Array(a.iter().map(rounded).collect()),
        Value::Object(o) => Value::Object(o.iter().map(|(k, v)| (k.clone(), rounded(v))).collect()),
        _ => v.clone(),
    }
}

#[test]
fn train_sample_eval_plot_round() {
    let dir = scratch("round");
    let o = train_tiny(&dir, "run", &[]);
    assert!(o.status.success(), "train failed: {}", stderr(&o));
    assert!(dir.join("run/config.toml").is_file());
    assert!(dir.join("run/checkpoints/block-0001.safetensors").is_file());
    let metrics = std::fs::read_to_string(dir.join("run/metrics.jsonl")).unwrap();
    assert!(metrics.lines().all(|l| serde_json::from_str::<Value>(l).is_ok()));
    assert!(metrics.contains("\"kind\":\"eval\""));

    let o = wasserflow(&["eval", "run", "--json", "--seed", "3"], &dir);
    assert!(o.status.success(), "eval failed: {}", stderr(&o));
    let mut report: Value = serde_json::from_slice(&o.stdout).expect("eval --json prints one JSON object");
    // Round-trip errors are rounding noise, different on every instruction set: bound them instead.
    for k in ["mean", "max"] {
        let e = report["inversion_error"][k].as_f64().unwrap();
        assert!((0.0..1e-4).contains(&e), "inversion error {k} = {e}");
        report["inversion_error"][k] = Value::String("< 1e-4".into());
    }
    insta::assert_snapshot!("eval_json_tiny_model", serde_json::to_string_pretty(&rounded(&report)).unwrap());

    let o = wasserflow(&["sample", "run", "-n", "50", "--out", "s.csv"], &dir);
    assert!(o.status.success(), "sample failed: {}", stderr(&o));
    let text = std::fs::read_to_string(dir.join("s.csv")).unwrap();
    assert_eq!(text.lines().count(), 50);
    assert!(text.lines().all(|l| l.split(',').count() == 2 && l.split(',').all(|c| c.parse::<f64>().is_ok())));

    let o = wasserflow(&["plot", "run"], &dir);
    assert!(o.status.success(), "plot failed: {}", stderr(&o));
    for f in ["samples.png", "density.png", "trajectories_forward.png", "trajectories_reverse.png", "loss.png"] {
        assert!(dir.join("run/figures").join(f).is_file(), "{f} missing");
    }
    assert!(temporaries(&dir).is_empty());
}

#[test]
fn the_same_seed_gives_the_same_model() {
    let dir = scratch("seed");
    for name in ["a", "b"] {
        assert!(train_tiny(&dir, name, &[]).status.success());
    }
    let a = std::fs::read(dir.join("a/checkpoints/block-0001.safetensors")).unwrap();
    let b = std::fs::read(dir.join("b/checkpoints/block-0001.safetensors")).unwrap();
    assert_eq!(a, b);
}

#[test]
fn missing_files_are_reported() {
    let dir = scratch("missing");
    fails_with(&wasserflow(&["train", "--config", "nope.toml"], &dir), "nope.toml", &dir);
    fails_with(&train_tiny(&dir, "r", &["--data", "nope.npy"]), "nope.npy", &dir);
    fails_with(&wasserflow(&["eval", "no-such-run"], &dir), "no-such-run", &dir);
}

#[test]
fn malformed_files_are_reported() {
    let dir = scratch("malformed");
    std::fs::write(dir.join("bad.toml"), "hidden = [64, \n").unwrap();
    fails_with(&wasserflow(&["train", "--config", "bad.toml"], &dir), "bad.toml", &dir);
    std::fs::write(dir.join("typo.toml"), "hiden = [64]\n").unwrap();
    fails_with(&wasserflow(&["train", "--config", "typo.toml"], &dir), "hiden", &dir);
    std::fs::write(dir.join("bad.npy"), b"\x93NUMPY garbage").unwrap();
    fails_with(&train_tiny(&dir, "r", &["--data", "bad.npy"]), "bad.npy", &dir);
    std::fs::write(dir.join("ragged.csv"), "1,2\n3\n").unwrap();
    fails_with(&train_tiny(&dir, "r", &["--data", "ragged.csv"]), "ragged.csv", &dir);
}

#[test]
fn non_finite_data_is_refused() {
    let dir = scratch("nan");
    let mut text = String::new();
    for i in 0..300 {
        text.push_str(&format!(
            "{},{}\n",
            i as f64 * 0.01,
            if i == 17 { "nan".into() } else { (i as f64).sin().to_string() }
        ));
    }
    std::fs::write(dir.join("nan.csv"), text).unwrap();
    let o = train_tiny(&dir, "r", &["--data", "nan.csv"]);
    fails_with(&o, "nan.csv", &dir);
    assert!(stderr(&o).contains("line 18, column 2"), "{}", stderr(&o));

    // In a .npy file the place is a row and column counted from 0.
    let mut x: Vec<f64> = (0..600).map(|i| (i as f64).cos()).collect();
    x[2 * 41 + 1] = f64::NEG_INFINITY;
    wasserflow::data::save_npy(dir.join("inf.npy"), &wasserflow::Tensor::from_vec(x, [300, 2]).unwrap()).unwrap();
    let o = train_tiny(&dir, "r", &["--data", "inf.npy"]);
    fails_with(&o, "inf.npy", &dir);
    assert!(stderr(&o).contains("row 41, column 1"), "{}", stderr(&o));

    // Finite in the file's f64 but not in the f32 the trainers use.
    let rows: String = (0..300).map(|i| if i == 5 { "1e39,0\n".to_string() } else { format!("{i},1\n") }).collect();
    std::fs::write(dir.join("huge.csv"), rows).unwrap();
    let o = train_tiny(&dir, "r", &["--data", "huge.csv"]);
    fails_with(&o, "huge.csv", &dir);
    assert!(stderr(&o).contains("too large for f32"), "{}", stderr(&o));
}

/// A progressive run whose loss turns non-finite in a later block stops with
/// an error naming the iteration and the block, exits non-zero, and keeps the
/// checkpoints of the blocks before it as they were.
#[test]
fn a_progressive_run_whose_loss_turns_non_finite_keeps_its_finished_blocks() {
    let dir = scratch("nonfinite-progressive");
    for method in ["lfm", "jko"] {
        let mut args = vec!["train", "--out", method, "--no-figures", "--method", method, "--blocks", "1"];
        args.extend_from_slice(&["--hidden", "16", "--iterations", "30", "--batch", "64", "--n-train", "500"]);
        args.extend_from_slice(&["--n-test", "100", "--eval-n", "100", "--eval-step", "0.25", "--seed", "4"]);
        let o = wasserflow(&args, &dir);
        assert!(o.status.success(), "{}", stderr(&o));
        let first = dir.join(method).join("checkpoints/block-0001.safetensors");
        let good = std::fs::read(&first).unwrap();

        let o =
            wasserflow(&["train", "--out", method, "--resume", "--no-figures", "--blocks", "3", "--lr", "1e30"], &dir);
        fails_with(&o, "of block 2", &dir);
        let err = stderr(&o);
        assert!(err.contains("at iteration"), "{err}");
        assert!(err.contains("checkpoints are kept"), "{err}");
        assert_eq!(std::fs::read(&first).unwrap(), good, "{method}: the last good checkpoint changed");
        assert!(!dir.join(method).join("checkpoints/block-0002.safetensors").exists());
        let metrics = std::fs::read_to_string(dir.join(method).join("metrics.jsonl")).unwrap();
        assert!(metrics.lines().all(|l| serde_json::from_str::<Value>(l).is_ok()));
    }
}

/// Loaders refuse a file whose contents would take more memory than
/// WASSERFLOW_MAX_LOAD_BYTES allows, naming the file, the size and the limit.
#[test]
fn the_load_limit_is_read_from_the_environment() {
    let dir = scratch("load-limit");
    let x = wasserflow::Tensor::<f64>::from_vec((0..2000).map(|i| i as f64).collect(), [1000, 2]).unwrap();
    wasserflow::data::save_npy(dir.join("big.npy"), &x).unwrap();
    let with_limit = |limit: &str| {
        let mut args = vec!["train", "--out", "r", "--no-figures"];
        args.extend_from_slice(TINY);
        args.extend_from_slice(&["--data", "big.npy"]);
        Command::new(env!("CARGO_BIN_EXE_wasserflow"))
            .args(&args)
            .current_dir(&dir)
            .env("RAYON_NUM_THREADS", "1")
            .env("WASSERFLOW_MAX_LOAD_BYTES", limit)
            .output()
            .unwrap()
    };
    let o = with_limit("1000");
    fails_with(&o, "big.npy", &dir);
    assert!(stderr(&o).contains("16000 bytes") && stderr(&o).contains("load limit of 1000 bytes"), "{}", stderr(&o));
    fails_with(&with_limit("lots"), "WASSERFLOW_MAX_LOAD_BYTES", &dir);
    assert!(with_limit("1M").status.success());
}

/// A run expected to need more memory than the machine has is refused before
/// it starts, with the estimate; /proc/meminfo is Linux's.
#[cfg(target_os = "linux")]
#[test]
fn a_run_too_big_for_the_machine_is_refused_before_it_starts() {
    let dir = scratch("too-big");
    let o = train_tiny(&dir, "r", &["--n-train", "1000000000000"]);
    fails_with(&o, "expected to need about", &dir);
    let err = stderr(&o);
    assert!(err.contains("TiB") && err.contains("data") && err.contains("--force"), "{err}");
    assert!(!dir.join("r").exists(), "the run directory was made before the refusal");
}

#[test]
fn unknown_names_are_reported() {
    let dir = scratch("names");
    fails_with(&train_tiny(&dir, "r", &["--data", "swirl"]), "swirl", &dir);
    fails_with(&train_tiny(&dir, "r", &["--method", "gan"]), "gan", &dir);
    fails_with(&train_tiny(&dir, "r", &["--act", "gelu2"]), "gelu2", &dir);
    fails_with(&train_tiny(&dir, "r", &["--solver", "rk9"]), "rk9", &dir);
    fails_with(&train_tiny(&dir, "r", &["--divergence", "magic"]), "magic", &dir);
    let o = wasserflow(&["trian"], &dir);
    assert!(!o.status.success() && !stderr(&o).contains("panicked"));
}

#[test]
fn data_of_the_wrong_dimension_is_refused() {
    let dir = scratch("dim");
    assert!(train_tiny(&dir, "run", &[]).status.success());
    let rows: String = (0..50).map(|i| format!("{i},1,2\n")).collect();
    std::fs::write(dir.join("three.csv"), rows).unwrap();
    fails_with(&wasserflow(&["eval", "run", "--data", "three.csv"], &dir), "dimension", &dir);
}

#[test]
fn a_checkpoint_of_another_model_is_refused() {
    let dir = scratch("other");
    assert!(train_tiny(&dir, "small", &[]).status.success());
    assert!(train_tiny(&dir, "wide", &["--hidden", "16,16"]).status.success());
    std::fs::copy(
        dir.join("small/checkpoints/block-0001.safetensors"),
        dir.join("wide/checkpoints/block-0001.safetensors"),
    )
    .unwrap();
    fails_with(&wasserflow(&["eval", "wide"], &dir), "another model", &dir);

    // A safetensors file that is not a wasserflow checkpoint, and a truncated one.
    let bytes = std::fs::read(dir.join("small/checkpoints/block-0001.safetensors")).unwrap();
    std::fs::write(dir.join("small/checkpoints/block-0001.safetensors"), &bytes[..bytes.len() / 2]).unwrap();
    fails_with(&wasserflow(&["eval", "small"], &dir), "block-0001.safetensors", &dir);
}

#[test]
fn a_loss_that_turns_non_finite_stops_and_keeps_the_last_good_checkpoint() {
    let dir = scratch("nonfinite");
    let o = train_tiny(&dir, "run", &["--lr", "1e30", "--iterations", "50", "--checkpoint-every", "1"]);
    fails_with(&o, "iteration", &dir);
    assert!(stderr(&o).contains("last good checkpoint"), "{}", stderr(&o));
    assert!(dir.join("run/checkpoints/block-0001.safetensors").is_file());
}

const TINY_JKO: &[&str] = &[
    "--method",
    "jko",
    "--data",
    "8gaussians",
    "--hidden",
    "16,16",
    "--iterations",
    "40",
    "--batch",
    "200",
    "--blocks",
    "3",
    "--n-train",
    "2000",
    "--n-test",
    "300",
    "--eval-n",
    "200",
    "--lr",
    "5e-3",
    "--seed",
    "2",
];

fn train_jko(dir: &Path, name: &str, extra: &[&str]) -> Output {
    let mut args = vec!["train", "--out", name, "--no-figures"];
    args.extend_from_slice(TINY_JKO);
    args.extend_from_slice(extra);
    wasserflow(&args, dir)
}

/// Every tensor of a safetensors file as bits, by name.
fn weights(path: &Path) -> Vec<(String, Vec<u32>)> {
    let f = wasserflow::io::safetensors::read_safetensors(path).unwrap();
    let mut names: Vec<String> = f.names().iter().map(|n| n.to_string()).collect();
    names.sort();
    names
        .into_iter()
        .map(|n| {
            let bits = f.get::<f32>(&n).unwrap().to_vec().unwrap().iter().map(|v| v.to_bits()).collect();
            (n, bits)
        })
        .collect()
}

/// A JKO-iFlow run killed at some moment resumes from its last complete
/// block and ends with the same blocks as a run that was never stopped.
#[test]
fn a_killed_progressive_run_resumes_and_finishes_with_the_same_blocks() {
    let dir = scratch("resume");
    let o = train_jko(&dir, "whole", &[]);
    assert!(o.status.success(), "{}", stderr(&o));

    for kill_after_ms in [0u64, 150, 400] {
        let name = format!("killed{kill_after_ms}");
        let mut args = vec!["train", "--out", &name, "--no-figures"];
        args.extend_from_slice(TINY_JKO);
        let mut child = Command::new(env!("CARGO_BIN_EXE_wasserflow"))
            .args(&args)
            .current_dir(&dir)
            .env("RAYON_NUM_THREADS", "1")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(std::time::Duration::from_millis(kill_after_ms));
        let _ = child.kill();
        let _ = child.wait();
        let o = if dir.join(&name).join("config.toml").is_file() {
            train_jko(&dir, &name, &["--resume"])
        } else {
            train_jko(&dir, &name, &[])
        };
        assert!(o.status.success(), "resume after {kill_after_ms} ms: {}", stderr(&o));
        for b in 1..=3 {
            let file = format!("checkpoints/block-{b:04}.safetensors");
            // The weights, not the files: the metadata records wall times.
            let whole = weights(&dir.join("whole").join(&file));
            let resumed = weights(&dir.join(&name).join(&file));
            assert!(whole == resumed, "block {b} differs after a kill at {kill_after_ms} ms");
        }
        assert!(temporaries(&dir.join(&name)).is_empty());
    }
}

#[test]
fn progressive_and_matching_methods_train_from_the_cli() {
    let dir = scratch("methods");
    let o = train_jko(&dir, "jko", &["--stop-w2", "1e-9", "--reparam", "true", "--refine-iterations", "10"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(dir.join("jko/checkpoints/initial/block-0003.safetensors").is_file());
    assert!(dir.join("jko/checkpoints/block-0003.safetensors").is_file());
    let blocks = std::fs::read_to_string(dir.join("jko/metrics.jsonl")).unwrap();
    assert!(blocks.contains("\"w2_moved\"") && blocks.contains("\"kl_change\"") && blocks.contains("\"grad_norm\""));

    let mut fm = vec!["train", "--out", "fm", "--no-figures", "--method", "fm", "--interpolant", "trig"];
    fm.extend_from_slice(&["--time-dist", "beta:2,2", "--iterations", "20"]);
    fm.extend_from_slice(&TINY[2..]);
    let o = wasserflow(&fm, &dir);
    assert!(o.status.success(), "{}", stderr(&o));

    let mut lfm = vec!["train", "--out", "lfm", "--no-figures", "--method", "lfm", "--blocks", "3"];
    lfm.extend_from_slice(&TINY[2..]);
    let o = wasserflow(&lfm, &dir);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(dir.join("lfm/checkpoints/block-0003.safetensors").is_file());
    let o = wasserflow(&["eval", "lfm", "--json"], &dir);
    assert!(o.status.success(), "{}", stderr(&o));
}
