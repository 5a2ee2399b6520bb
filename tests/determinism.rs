//! Determinism of training runs (RELIABILITY.md, "Determinism"): the same
//! seed and thread count give the same checkpoint files byte for byte, for
//! the progressive trainers (Local Flow Matching, JKO-iFlow) on one and on two
//! threads. The thread count enters only through the shards a batch-mean
//! gradient is cut into (`nn::data_parallel`, one shard per thread of at
//! least 64 rows): batches too small to be split give the same bytes on one
//! and two threads, and split ones give models that agree to rounding.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("determinism").join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

const LFM: &[&str] = &["--method", "lfm", "--hidden", "32,32", "--blocks", "3", "--iterations", "200"];
const JKO: &[&str] = &["--method", "jko", "--hidden", "16,16", "--blocks", "2", "--iterations", "40", "--lr", "5e-3"];

/// Trains into `dir/name` and returns the run directory.
fn train(dir: &Path, name: &str, threads: usize, method: &[&str], batch: usize) -> PathBuf {
    let o = Command::new(env!("CARGO_BIN_EXE_wasserflow"))
        .args(["--threads", &threads.to_string(), "train", "--out", name, "--no-figures", "--seed", "5"])
        .args(method)
        .args(["--batch", &batch.to_string(), "--n-train", "2000", "--n-test", "200", "--eval-n", "100"])
        .args(["--data", "8gaussians", "--eval-step", "0.25"])
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    dir.join(name)
}

/// The checkpoint files of a run, by name, with their bytes.
fn checkpoints(run: &Path) -> Vec<(String, Vec<u8>)> {
    let mut files: Vec<(String, Vec<u8>)> = std::fs::read_dir(run.join("checkpoints"))
        .unwrap()
        .flatten()
        .filter(|e| e.path().is_file())
        .map(|e| (e.file_name().to_string_lossy().into_owned(), std::fs::read(e.path()).unwrap()))
        .collect();
    files.sort();
    assert!(!files.is_empty());
    files
}

fn test_nll(run: &Path) -> f64 {
    let text = std::fs::read_to_string(run.join("metrics.jsonl")).unwrap();
    let eval: Value =
        text.lines().map(|l| serde_json::from_str::<Value>(l).unwrap()).find(|v| v["kind"] == "eval").unwrap();
    eval["nll_nats"].as_f64().unwrap()
}

#[test]
fn the_same_seed_and_thread_count_give_the_same_checkpoint_bytes() {
    let dir = scratch("same");
    for (label, method, batch) in [("lfm", LFM, 256), ("jko", JKO, 200)] {
        let mut nll = Vec::new();
        for threads in [1, 2] {
            let a = train(&dir, &format!("{label}-{threads}-a"), threads, method, batch);
            let b = train(&dir, &format!("{label}-{threads}-b"), threads, method, batch);
            assert!(checkpoints(&a) == checkpoints(&b), "{label} on {threads} threads: two runs differ");
            nll.push(test_nll(&a));
        }
        // Batches of 200 and 256 rows are cut into two shards on two threads: the sums of the
        // gradients round differently, nothing else changes, and the models agree to that rounding.
        let rel = (nll[0] - nll[1]).abs() / nll[0].abs();
        eprintln!("{label}: test NLL {} on one thread, {} on two (relative difference {rel:.1e})", nll[0], nll[1]);
        assert!(rel < 1e-4, "{label}: {nll:?}");
    }
}

#[test]
fn batches_too_small_to_shard_give_the_same_bytes_on_any_thread_count() {
    let dir = scratch("small");
    // Under 2 × 64 rows a batch is one shard whatever the thread count; the kernels
    // (GEMM, maps, reductions, particle pushes) give the same bits for any count.
    for (label, method) in [("lfm", LFM), ("jko", JKO)] {
        let one = train(&dir, &format!("{label}-1"), 1, method, 100);
        let two = train(&dir, &format!("{label}-2"), 2, method, 100);
        assert!(checkpoints(&one) == checkpoints(&two), "{label}: one and two threads differ on an unsharded batch");
    }
}
