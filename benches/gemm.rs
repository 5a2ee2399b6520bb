//! GEMM throughput: square sgemm, the MLP shapes of the flow models, and dgemm (square, and a weight gradient).
//!
//! `cargo bench --bench gemm [-- FILTER] [--kernel avx512f|avx2+fma|generic]`
//!
//! Each case: 200 ms of warm-up, then batches of ~2 ms; the table gives the
//! median and best time per call over the batches (`GEMM_BENCH_SECS`, default
//! 0.5, sets the measuring time per case). GFLOP/s = 2mnk / time.

use std::hint::black_box;
use std::time::{Duration, Instant};

use wasserflow::backend::cpu::gemm::{GemmScalar, KernelKind, Transpose, gemm_with_kernel};

use Transpose::{No, Yes};

struct Case {
    name: String,
    ta: Transpose,
    tb: Transpose,
    m: usize,
    n: usize,
    k: usize,
}

fn case(name: &str, ta: Transpose, tb: Transpose, m: usize, n: usize, k: usize) -> Case {
    Case { name: name.to_string(), ta, tb, m, n, k }
}

/// Deterministic pseudo-random fill in [-1, 1).
fn fill<T: GemmScalar>(len: usize, seed: u64, from_f64: fn(f64) -> T) -> Vec<T> {
    let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            from_f64((s >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0)
        })
        .collect()
}

/// Median and best seconds per call, and the number of calls timed.
fn time_case<T: GemmScalar>(kind: KernelKind, c: &Case, from_f64: fn(f64) -> T) -> (f64, f64, usize) {
    let (m, n, k) = (c.m, c.n, c.k);
    let (lda, ldb) = (if c.ta == No { k } else { m }, if c.tb == No { n } else { k });
    let a = fill(m * k, 1, from_f64);
    let b = fill(k * n, 2, from_f64);
    let mut out = fill(m * n, 3, from_f64);
    let (one, zero) = (from_f64(1.0), from_f64(0.0));
    let mut call = || {
        gemm_with_kernel(kind, c.ta, c.tb, m, n, k, one, black_box(&a), lda, &b, ldb, zero, &mut out, n);
        black_box(&mut out);
    };
    // Warm up (page faults, packing buffers, rayon workers, clocks), then size
    // batches to ~2 ms so that timer overhead is negligible even for 1 µs calls.
    let warm = Instant::now();
    let mut calls = 0;
    while warm.elapsed() < Duration::from_millis(200) || calls < 3 {
        call();
        calls += 1;
    }
    let per_call = warm.elapsed().as_secs_f64() / calls as f64;
    let batch = ((2e-3 / per_call) as usize).max(1);
    let budget: f64 = std::env::var("GEMM_BENCH_SECS").ok().and_then(|s| s.parse().ok()).unwrap_or(0.5);
    let samples = ((budget / (per_call * batch as f64)) as usize).clamp(11, 501);
    let mut times: Vec<f64> = (0..samples)
        .map(|_| {
            let t = Instant::now();
            for _ in 0..batch {
                call();
            }
            t.elapsed().as_secs_f64() / batch as f64
        })
        .collect();
    times.sort_by(f64::total_cmp);
    (times[times.len() / 2], times[0], samples * batch)
}

fn report<T: GemmScalar>(kind: KernelKind, c: &Case, from_f64: fn(f64) -> T) {
    let (t, best, calls) = time_case(kind, c, from_f64);
    let gflops = |t: f64| 2.0 * (c.m * c.n * c.k) as f64 / t / 1e9;
    let op = |t: Transpose| if t == No { 'N' } else { 'T' };
    if std::env::args().any(|a| a == "--json") {
        // Square sgemm under the names `benches/torch_engine.py` uses.
        if c.name.starts_with("sgemm square") {
            println!(
                "{{\"workload\": \"sgemm_n{}\", \"median_ms\": {:.6}, \"gflops\": {:.3}, \"threads\": {}, \"impl\": \"wasserflow\"}}",
                c.m,
                t * 1e3,
                gflops(t),
                rayon::current_num_threads()
            );
        }
        return;
    }
    println!(
        "{:<22} {}{} {:>5} {:>5} {:>5} {:>10.2} {:>8.1} {:>10.2} {:>8.1} {:>8}",
        c.name,
        op(c.ta),
        op(c.tb),
        c.m,
        c.n,
        c.k,
        t * 1e6,
        gflops(t),
        best * 1e6,
        gflops(best),
        calls
    );
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).filter(|a| a != "--bench" && a != "--json").collect();
    let mut kind = KernelKind::selected();
    let mut filter = None;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        if a == "--kernel" {
            let name = it.next().expect("--kernel needs a name");
            kind = [KernelKind::Avx512, KernelKind::Avx2, KernelKind::Generic]
                .into_iter()
                .find(|k| k.name() == name)
                .unwrap_or_else(|| panic!("unknown kernel {name}"));
            assert!(kind.is_available(), "kernel {name} not available on this CPU");
        } else {
            filter = Some(a.clone());
        }
    }

    let mut sgemm = Vec::new();
    for n in [64, 256, 512, 1024, 2048] {
        sgemm.push(case(&format!("sgemm square {n}"), No, No, n, n, n));
    }
    // 3072 × 64: the CNF's primal and two tangent streams stacked (batch 1024, d = 2).
    for (batch, width) in [(1024, 64), (1024, 128), (2000, 64), (2000, 128), (3072, 64)] {
        let w = width;
        let tag = format!("b{batch} w{w}");
        sgemm.push(case(&format!("mlp fwd {tag}"), No, No, batch, w, w));
        sgemm.push(case(&format!("mlp in {tag}"), No, No, batch, w, 3));
        sgemm.push(case(&format!("mlp out {tag}"), No, No, batch, 2, w));
        sgemm.push(case(&format!("mlp dX {tag}"), No, Yes, batch, w, w));
        sgemm.push(case(&format!("mlp dW {tag}"), Yes, No, w, w, batch));
        sgemm.push(case(&format!("mlp out dX {tag}"), No, Yes, batch, w, 2));
        sgemm.push(case(&format!("mlp out dW {tag}"), Yes, No, w, 2, batch));
    }
    let dgemm =
        [case("dgemm square 1024", No, No, 1024, 1024, 1024), case("dgemm dW b3072 w64", Yes, No, 64, 64, 3072)];

    let json = std::env::args().any(|a| a == "--json");
    if !json {
        println!("kernel: {}   rayon threads: {}", kind.name(), rayon::current_num_threads());
    }
    if !json {
        println!(
            "{:<22} {:>2} {:>5} {:>5} {:>5} {:>10} {:>8} {:>10} {:>8} {:>8}",
            "case", "op", "m", "n", "k", "median µs", "GFLOP/s", "best µs", "GFLOP/s", "calls"
        );
    }
    let keep = |c: &Case| filter.as_ref().is_none_or(|f| c.name.contains(f.as_str()));
    for c in sgemm.iter().filter(|c| keep(c)) {
        report::<f32>(kind, c, |x| x as f32);
    }
    for c in dgemm.iter().filter(|c| keep(c)) {
        report::<f64>(kind, c, |x| x);
    }
}
