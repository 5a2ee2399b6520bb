//! Data-parallel training over MPI (issue 12): `mpirun -n 2 wasserflow train`
//! on this machine against a single process over the same global batches.
//!
//! What equality to expect: every rank draws the whole batch from the same
//! seed and takes its half; the halves' gradients are weighted by `n_r/n`
//! and summed in rank order. That is the arithmetic of one process whose two
//! threads each take one half, so 2 ranks × 1 thread must reproduce 1 process
//! × 2 threads to the last bit (checked as exactly equal parameters and
//! block reports). Against 1 process × 1 thread (one shard: the same global
//! batch, the gradient summed in another order) the parameters agree to
//! float rounding carried through a few Adam steps: |Δ| ≤ 1e-4 (the
//! learning rate is 1e-3, so this still fails for a gradient from another
//! batch, which moves the parameters by ~lr per step).
//!
//! Needs `mpirun` (Debian: openmpi-bin, libopenmpi-dev); `.ci/run` installs it.

#![cfg(feature = "mpi")]

mod common;

use std::path::Path;
use std::process::{Command, Output};

use common::scratch;
use wasserflow::io::checkpoint::load_flow;

/// The binary under `mpirun -n ranks`, one thread per rank.
fn mpirun(ranks: usize, args: &[&str], cwd: &Path) -> Output {
    Command::new("mpirun")
        // Unbound: pinned to a core that another process keeps busy, a rank
        // stalls its peer at every collective (10× slower on a shared VM).
        .args(["-n", &ranks.to_string(), "--oversubscribe", "--bind-to", "none"])
        .arg(env!("CARGO_BIN_EXE_wasserflow"))
        .args(args)
        .current_dir(cwd)
        .env("RAYON_NUM_THREADS", "1")
        // CI runs as root; Open MPI refuses that unless told it is intended.
        .env("OMPI_ALLOW_RUN_AS_ROOT", "1")
        .env("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1")
        .output()
        .expect("mpirun runs (install openmpi-bin)")
}

/// The binary as one process with `threads` threads.
fn single(threads: usize, args: &[&str], cwd: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_wasserflow"))
        .args(args)
        .current_dir(cwd)
        .env("RAYON_NUM_THREADS", threads.to_string())
        .output()
        .expect("the binary runs")
}

#[track_caller]
fn ok(o: &Output) -> String {
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(o.status.success(), "failed: {}\n{out}", String::from_utf8_lossy(&o.stderr));
    out
}

/// Every parameter of every checkpointed block of a run, in order.
fn parameters(run: &Path) -> Vec<Vec<f32>> {
    let (flow, _) = load_flow::<f32>(&run.join("checkpoints")).expect("a checkpointed run");
    flow.blocks.iter().flat_map(|b| b.store.values().iter().map(|t| t.to_vec().unwrap())).collect()
}

/// The block reports (and, for single-block runs, iteration records) of a
/// run's metrics, without wall times.
fn records(run: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(run.join("metrics.jsonl")).unwrap();
    text.lines()
        .filter_map(|l| {
            let mut v: serde_json::Value = serde_json::from_str(l).unwrap();
            let kind = v["kind"].as_str().unwrap_or("").to_owned();
            if kind == "eval" || kind == "data_parallel" {
                return None;
            }
            let fields = v.as_object_mut().unwrap();
            for timing in ["elapsed_s", "train_s", "push_s", "wall_s"] {
                fields.remove(timing);
            }
            Some(v.to_string())
        })
        .collect()
}

fn max_abs_difference(a: &[Vec<f32>], b: &[Vec<f32>]) -> f32 {
    assert_eq!(a.len(), b.len(), "different parameter lists");
    a.iter()
        .zip(b)
        .flat_map(|(x, y)| {
            assert_eq!(x.len(), y.len());
            x.iter().zip(y).map(|(p, q)| (p - q).abs())
        })
        .fold(0.0, f32::max)
}

fn refs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

/// Trains `args` as 2 ranks, 1 process × 2 threads and 1 process × 1 thread;
/// checks the equalities of the module documentation and that only rank 0 reported.
fn compare(name: &str, args: &[&str]) {
    let dir = scratch(name);
    let with_out = |out: &str| -> Vec<String> {
        let mut v: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        v.extend(["--no-figures".into(), "--out".into(), out.into()]);
        v
    };
    let [ranks, two, one] = ["ranks2", "threads2", "threads1"].map(with_out);
    let printed = ok(&mpirun(2, &refs(&ranks), &dir));
    ok(&single(2, &refs(&two), &dir));
    ok(&single(1, &refs(&one), &dir));
    assert_eq!(printed.matches("trained in").count(), 1, "only rank 0 reports:\n{printed}");
    assert!(printed.contains("2 ranks × 1 threads"), "no data-parallel summary:\n{printed}");

    let (p_ranks, p_two, p_one) =
        (parameters(&dir.join("ranks2")), parameters(&dir.join("threads2")), parameters(&dir.join("threads1")));
    assert_eq!(p_ranks, p_two, "{name}: 2 ranks × 1 thread differ from 1 process × 2 threads");
    assert_eq!(records(&dir.join("ranks2")), records(&dir.join("threads2")), "{name}: the reports differ");
    let d = max_abs_difference(&p_ranks, &p_one);
    assert!(d <= 1e-4, "{name}: 2 ranks differ from 1 process × 1 thread by {d}");
    assert!(p_ranks.iter().flatten().all(|v| v.is_finite()));
    let _ = std::fs::remove_dir_all(&dir);
}

const SMALL: [&str; 14] = [
    "--data",
    "8gaussians",
    "--hidden",
    "32,32",
    "--batch",
    "256",
    "--iterations",
    "5",
    "--n-test",
    "300",
    "--eval-n",
    "300",
    "--seed",
    "3",
];

fn with(method: &'static str, extra: &[&'static str]) -> Vec<&'static str> {
    let mut v = vec!["train", "--method", method];
    v.extend(SMALL);
    v.extend(extra);
    v
}

#[test]
fn cnf_on_two_ranks_matches_one_process() {
    compare("cnf", &with("cnf", &["--n-train", "2000"]));
}

#[test]
fn fm_on_two_ranks_matches_one_process() {
    compare("fm", &with("fm", &["--n-train", "2000"]));
}

/// 10,000 particles: three push chunks of JKO-iFlow, shared 1 + 2 by the ranks.
#[test]
fn jko_on_two_ranks_matches_one_process() {
    compare("jko", &with("jko", &["--n-train", "10000", "--blocks", "2"]));
}

#[test]
fn lfm_on_two_ranks_matches_one_process() {
    compare("lfm", &with("lfm", &["--n-train", "2000", "--blocks", "2"]));
}

/// A run stopped after one block and resumed under `mpirun` ends as one
/// that never stopped.
#[test]
fn jko_resumes_under_mpirun() {
    let dir = scratch("resume");
    let base = with("jko", &["--n-train", "3000", "--no-figures"]);
    let run = |blocks: &'static str, out: &'static str, resume: bool| {
        let mut v = base.clone();
        v.extend(["--blocks", blocks, "--out", out]);
        if resume {
            v.push("--resume");
        }
        v
    };
    ok(&mpirun(2, &run("1", "stopped", false), &dir));
    ok(&mpirun(2, &run("2", "stopped", true), &dir));
    ok(&single(2, &run("2", "whole", false), &dir));
    assert_eq!(parameters(&dir.join("stopped")), parameters(&dir.join("whole")));
    let _ = std::fs::remove_dir_all(&dir);
}

/// Only `train` is data-parallel; the other commands refuse to run under `mpirun`.
#[test]
fn other_commands_refuse_to_run_on_several_ranks() {
    let dir = scratch("refuse");
    let o = mpirun(2, &["sample", "nowhere", "--out", "x.npy"], &dir);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("only `train` runs across MPI ranks"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}
