//! Crash safety of progressive training runs: `wasserflow train` (Local Flow
//! Matching and JKO-iFlow) is killed with SIGKILL at random moments chosen by
//! a seeded generator, and once while a block checkpoint is being written
//! and once while metrics.jsonl is (held open by the atomic writer's test
//! hook, `WASSERFLOW_TEST_WRITE_DELAY_MS`); after every kill each file of
//! the run directory is checked to be whole (settings parse, checkpoints
//! load and equal the uninterrupted run's, metrics parse line by line), and
//! the run is resumed. The finished run must have the same checkpoint files,
//! byte for byte, as a run that was never stopped with the same seed and
//! thread count, the same block records in its metrics, and no temporary
//! file left.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use wasserflow::Rng;
use wasserflow::cli::settings::Settings;
use wasserflow::io::checkpoint::{block_files, load_block};

fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("crash_safety").join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

const LFM: &[&str] = &[
    "--method",
    "lfm",
    "--hidden",
    "32,32",
    "--blocks",
    "5",
    "--iterations",
    "400",
    "--batch",
    "256",
    "--n-train",
    "2000",
];

const JKO: &[&str] = &[
    "--method",
    "jko",
    "--hidden",
    "16,16",
    "--blocks",
    "3",
    "--iterations",
    "40",
    "--batch",
    "200",
    "--n-train",
    "2000",
    "--lr",
    "5e-3",
];

/// Settings every run here shares: small evaluation, no figures, one thread.
const COMMON: &[&str] = &["--data", "8gaussians", "--n-test", "200", "--eval-n", "100", "--eval-step", "0.25"];

fn command(dir: &Path, run: &str, method: &[&str], resume: bool) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_wasserflow"));
    c.args(["--threads", "1", "train", "--out", run, "--no-figures", "--seed", "7"])
        .args(method)
        .args(COMMON)
        .current_dir(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    if resume {
        c.arg("--resume");
    }
    c
}

#[track_caller]
fn succeeded(o: Output) {
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

/// Every file under `dir`, relative, sorted.
fn files(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                found.push(p.strip_prefix(dir).unwrap().to_path_buf());
            }
        }
    }
    found.sort();
    found
}

fn is_temporary(p: &Path) -> bool {
    let name = p.file_name().unwrap().to_string_lossy();
    name.starts_with('.') && name.ends_with(".tmp")
}

/// The block records of metrics.jsonl without their wall times.
fn block_records(run: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(run.join("metrics.jsonl")).unwrap_or_default();
    text.lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap_or_else(|e| panic!("metrics line {l:?}: {e}")))
        .filter(|v| v["kind"] == "block")
        .map(|mut v| {
            for k in ["wall_s", "train_s", "push_s"] {
                v.as_object_mut().unwrap().remove(k);
            }
            v
        })
        .collect()
}

/// What must hold of a run directory at any moment, a kill included: every
/// file other than the atomic writer's hidden temporaries is whole, and each
/// checkpoint present is the one the uninterrupted run wrote.
#[track_caller]
fn every_file_is_whole(run: &Path, whole: &Path, when: &str) {
    for f in files(run) {
        let path = run.join(&f);
        if is_temporary(&f) {
            continue;
        }
        let name = f.file_name().unwrap().to_string_lossy().into_owned();
        if name == "config.toml" {
            Settings::from_toml_file(&path).unwrap_or_else(|e| panic!("{when}: {e}"));
        } else if name == "metrics.jsonl" {
            block_records(run);
        } else if name.ends_with(".safetensors") {
            load_block::<f32>(&path).unwrap_or_else(|e| panic!("{when}: {e}"));
            let expected = std::fs::read(whole.join(&f)).unwrap();
            assert!(
                std::fs::read(&path).unwrap() == expected,
                "{when}: {} differs from the uninterrupted run's",
                f.display()
            );
        } else {
            panic!("{when}: unexpected file {}", f.display());
        }
    }
    block_files(&run.join("checkpoints")).unwrap_or_else(|e| panic!("{when}: {e}"));
}

/// Waits until `child` holds a write of `target` open: its temporary file,
/// `.{target}.{pid}-{n}.tmp`, is in `dir` (a stale one of an earlier process
/// does not count) and its contents pass `wanted` (the hook holds a write
/// after its bytes are synced). False if the process ends first.
fn wait_for_write(dir: &Path, target: &str, child: &mut std::process::Child, wanted: impl Fn(&[u8]) -> bool) -> bool {
    let prefix = format!(".{target}.{}-", child.id());
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(60) {
        let seen = std::fs::read_dir(dir).into_iter().flatten().flatten().any(|e| {
            e.file_name().to_string_lossy().starts_with(&prefix)
                && std::fs::read(e.path()).is_ok_and(|bytes| wanted(&bytes))
        });
        if seen {
            return true;
        }
        if child.try_wait().unwrap().is_some() {
            return false;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    false
}

fn kill_and_resume(name: &str, method: &[&str], seed: u64) {
    let dir = scratch(name);
    let started = Instant::now();
    succeeded(command(&dir, "whole", method, false).output().unwrap());
    let whole_ms = started.elapsed().as_millis() as u64;
    let whole = dir.join("whole");
    let expected_files: Vec<PathBuf> =
        files(&whole).into_iter().filter(|f| f.extension().is_some_and(|e| e == "safetensors")).collect();
    assert!(expected_files.len() >= 3, "{expected_files:?}");

    let run = dir.join("killed");
    let mut rng = Rng::seed(seed);
    // Two kills aimed at writes, a block checkpoint and then the metrics written
    // after one, and four at random moments.
    let mut plan: Vec<Option<&str>> = vec![Some("block"), Some("metrics")];
    plan.extend((0..4).map(|_| None));
    let mut kills = Vec::new();
    for aimed in plan {
        let resume = run.join("config.toml").is_file();
        // The writes aimed at are the next block's: its checkpoint, or the metrics holding its record.
        let next = block_files(&run.join("checkpoints")).unwrap().len() + 1;
        let next_block = format!("block-{next:04}.safetensors");
        let next_record = "\"kind\":\"block\"";
        let mut c = command(&dir, "killed", method, resume);
        c.stderr(Stdio::null());
        if aimed.is_some() {
            c.env("WASSERFLOW_TEST_WRITE_DELAY_MS", "300");
        }
        let mut child = c.spawn().unwrap();
        let held = |ok: bool| if ok { "held" } else { "the run ended first" };
        let what = match aimed {
            None => {
                // Once a random number of blocks is done, a random moment within about a block's time.
                let block = 1 + rng.below(expected_files.len());
                let ms = (rng.uniform() * whole_ms as f64 / expected_files.len() as f64) as u64;
                let checkpoints = run.join("checkpoints");
                while block_files(&checkpoints).map_or(0, |f| f.len()) + 1 < block
                    && child.try_wait().unwrap().is_none()
                {
                    std::thread::sleep(Duration::from_millis(1));
                }
                std::thread::sleep(Duration::from_millis(ms));
                format!("{ms} ms after at least {} blocks were done", block - 1)
            }
            Some("block") => {
                let ok = wait_for_write(&run.join("checkpoints"), &next_block, &mut child, |_| true);
                format!("while writing {next_block} ({})", held(ok))
            }
            Some(_) => {
                let ok = wait_for_write(&run, "metrics.jsonl", &mut child, |bytes| {
                    let text = String::from_utf8_lossy(bytes);
                    text.lines().filter(|l| l.contains(next_record)).count() >= next
                });
                format!("while writing metrics.jsonl with the record of block {next} ({})", held(ok))
            }
        };
        let _ = child.kill();
        let status = child.wait().unwrap();
        let done = block_files(&run.join("checkpoints")).map_or(0, |f| f.len());
        kills.push(format!(
            "{what}: {}",
            if status.success() { "had finished".into() } else { format!("killed with {done} blocks done") }
        ));
        every_file_is_whole(&run, &whole, &what);
        if aimed.is_some() {
            assert!(what.contains("held"), "{what}");
            assert!(files(&run).iter().any(|f| is_temporary(f)), "{what}: the held write left no temporary file");
        }
    }
    eprintln!("{name}: {}", kills.join("; "));
    succeeded(command(&dir, "killed", method, run.join("config.toml").is_file()).output().unwrap());

    every_file_is_whole(&run, &whole, "after the last resume");
    let temporaries: Vec<PathBuf> = files(&run).into_iter().filter(|f| is_temporary(f)).collect();
    assert!(temporaries.is_empty(), "left behind: {temporaries:?}");
    for f in &expected_files {
        assert!(
            std::fs::read(run.join(f)).unwrap() == std::fs::read(whole.join(f)).unwrap(),
            "{} differs",
            f.display()
        );
    }
    let got: Vec<PathBuf> =
        files(&run).into_iter().filter(|f| f.extension().is_some_and(|e| e == "safetensors")).collect();
    assert_eq!(got, expected_files);
    assert_eq!(block_records(&run), block_records(&whole), "the block records differ");
}

#[test]
fn a_local_flow_matching_run_killed_anywhere_resumes_to_the_same_bits() {
    kill_and_resume("lfm", LFM, 11);
}

#[test]
fn a_jko_run_killed_anywhere_resumes_to_the_same_bits() {
    kill_and_resume("jko", JKO, 12);
}
