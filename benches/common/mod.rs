//! Shared timing and reporting for the `harness = false` benches, matching
//! `benches/torch_engine.py` so the two can be compared row by row.

#![allow(dead_code)]

use std::time::{Duration, Instant};

/// What one workload measured.
pub struct Measurement {
    pub workload: String,
    pub iters: usize,
    pub median_ms: f64,
    pub min_ms: f64,
    pub gflops: f64,
}

/// Warm-up (≥ `warmup` calls and ≥ 0.5 s), then times each call on its own
/// until 1 s or 200 calls (never fewer than `min_samples`); median and min.
pub fn time_fn(workload: &str, flops: f64, warmup: usize, min_samples: usize, mut f: impl FnMut()) -> Measurement {
    let start = Instant::now();
    let mut n = 0;
    while n < warmup || start.elapsed() < Duration::from_millis(500) {
        f();
        n += 1;
    }
    let mut samples = Vec::new();
    let start = Instant::now();
    while samples.len() < min_samples || (start.elapsed() < Duration::from_secs(1) && samples.len() < 200) {
        let t = Instant::now();
        f();
        samples.push(t.elapsed().as_secs_f64() * 1e3);
    }
    samples.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let median_ms = samples[samples.len() / 2];
    Measurement {
        workload: workload.to_string(),
        iters: samples.len(),
        median_ms,
        min_ms: samples[0],
        gflops: flops / (median_ms * 1e6),
    }
}

/// Whether `--json` was passed (cargo bench adds `--bench`, ignored).
pub fn json_requested() -> bool {
    std::env::args().any(|a| a == "--json")
}

/// An optional `--filter SUBSTRING`.
pub fn filter() -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter().position(|a| a == "--filter").and_then(|i| args.get(i + 1).cloned())
}

pub fn threads() -> usize {
    rayon::current_num_threads()
}

/// Prints measurements as a table, or as JSON lines with `--json`.
pub fn report(results: &[Measurement]) {
    let threads = threads();
    if json_requested() {
        for r in results {
            println!(
                "{{\"workload\": \"{}\", \"median_ms\": {:.6}, \"gflops\": {:.3}, \"threads\": {threads}, \"impl\": \"wasserflow\"}}",
                r.workload, r.median_ms, r.gflops
            );
        }
    } else {
        println!("threads: {threads}");
        println!("{:<40} {:>7} {:>11} {:>10} {:>9}", "workload", "iters", "median ms", "min ms", "GFLOP/s");
        for r in results {
            println!("{:<40} {:>7} {:>11.4} {:>10.4} {:>9.2}", r.workload, r.iters, r.median_ms, r.min_ms, r.gflops);
        }
    }
}
