//! Elementwise throughput: `simd::map1` with the `vmath` functions against plain
//! loops over the standard library's, `simd::map2` add, `simd::sum`, the fused
//! bias + activation of a 2000×128 layer both ways (the softplus MLP's), and a
//! scan of one versus two threads over lengths (to place the parallel threshold).
//!
//! `cargo bench --bench elementwise [-- FILTER]`

use std::hint::black_box;
use std::time::Instant;

use rand_xoshiro::Xoshiro256PlusPlus;
use rand_xoshiro::rand_core::{Rng, SeedableRng};
use rayon::{ThreadPool, ThreadPoolBuilder};
use wasserflow::Tensor;
use wasserflow::backend::Activation;
use wasserflow::backend::cpu::{simd, vmath};

const SIZES: [usize; 2] = [65_536, 256_000];
/// Timed samples per case; the median is reported.
const SAMPLES: usize = 41;
/// Each sample repeats the call until it has run at least this long, so that
/// timer resolution and per-sample overhead vanish.
const SAMPLE_NS: f64 = 300_000.0;

fn uniform(n: usize, lo: f32, hi: f32, seed: u64) -> Vec<f32> {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
    (0..n).map(|_| lo + (hi - lo) * ((rng.next_u32() >> 8) as f32 / (1u32 << 24) as f32)).collect()
}

fn pool(threads: usize) -> ThreadPool {
    ThreadPoolBuilder::new().num_threads(threads).build().expect("rayon pool")
}

/// Nanoseconds per call of `f`, run inside `pool`: the median of the samples
/// (what the tables report) and the best one (a hint of how much other load
/// on the machine inflated the median).
#[derive(Clone, Copy)]
struct Timing {
    median: f64,
    best: f64,
}

fn time(pool: &ThreadPool, mut f: impl FnMut() + Send) -> Timing {
    pool.install(|| {
        // Warm-up: caches, page faults, rayon workers spinning up, clocks.
        let start = Instant::now();
        let mut calls = 0usize;
        while calls < 3 || start.elapsed().as_nanos() < 20_000_000 {
            f();
            calls += 1;
        }
        let per_call = start.elapsed().as_nanos() as f64 / calls as f64;
        let reps = ((SAMPLE_NS / per_call).ceil() as usize).max(1);
        let mut samples: Vec<f64> = (0..SAMPLES)
            .map(|_| {
                let t = Instant::now();
                for _ in 0..reps {
                    f();
                }
                t.elapsed().as_nanos() as f64 / reps as f64
            })
            .collect();
        samples.sort_by(f64::total_cmp);
        Timing { median: samples[SAMPLES / 2], best: samples[0] }
    })
}

struct Op {
    name: &'static str,
    /// Inputs are uniform in `[lo, hi)`.
    lo: f32,
    hi: f32,
}

const OPS: [Op; 5] = [
    Op { name: "tanh", lo: -6.0, hi: 6.0 },
    Op { name: "exp", lo: -80.0, hi: 80.0 },
    Op { name: "sigmoid", lo: -20.0, hi: 20.0 },
    Op { name: "softplus", lo: -20.0, hi: 20.0 },
    Op { name: "ln", lo: 1e-3, hi: 1e3 },
];

/// The baseline: a direct loop over the standard library's functions.
fn std_loop(name: &str, x: &[f32], y: &mut [f32]) {
    let it = y.iter_mut().zip(x);
    match name {
        "tanh" => it.for_each(|(y, &x)| *y = x.tanh()),
        "exp" => it.for_each(|(y, &x)| *y = x.exp()),
        "sigmoid" => it.for_each(|(y, &x)| *y = 1.0 / (1.0 + (-x).exp())),
        "softplus" => it.for_each(|(y, &x)| *y = x.max(0.0) + (-x.abs()).exp().ln_1p()),
        "ln" => it.for_each(|(y, &x)| *y = x.ln()),
        _ => unreachable!(),
    }
}

/// `simd::map1` with the named vmath function; a `match` rather than the `fn`
/// pointer so the closure body is inlined and vectorized.
fn map1_vmath(name: &str, x: &[f32], y: &mut [f32]) {
    match name {
        "tanh" => simd::map1(x, y, vmath::tanh_f32),
        "exp" => simd::map1(x, y, vmath::exp_f32),
        "sigmoid" => simd::map1(x, y, vmath::sigmoid_f32),
        "softplus" => simd::map1(x, y, vmath::softplus_f32),
        "ln" => simd::map1(x, y, vmath::ln_f32),
        _ => unreachable!(),
    }
}

/// One table row; `bytes_per_elem` counts reads and writes, `base` is the
/// baseline the speed-up is relative to.
fn row(label: &str, n: usize, bytes_per_elem: f64, t: Timing, base: Timing) {
    println!(
        "{label:<32} {n:>8} {:>9.3} {:>8.1} {:>8.1}x {:>9.3}",
        t.median / n as f64,
        bytes_per_elem * n as f64 / t.median,
        base.median / t.median,
        t.best / n as f64
    );
}

fn main() {
    let filter: Option<String> = std::env::args().skip(1).find(|a| !a.starts_with('-'));
    let wanted = |name: &str| filter.as_deref().is_none_or(|f| name.contains(f));
    let p1 = pool(1);
    let p2 = pool(2);

    println!("ISA detected: {}   rayon threads (all-core rows): 2", simd::detected_isa().name());
    println!("speed-up is against the first row of each group (the plain loop over std)");
    println!("{:<32} {:>8} {:>9} {:>8} {:>9} {:>9}", "case", "n", "ns/elem", "GB/s", "speed-up", "best ns/e");

    for op in &OPS {
        for &n in &SIZES {
            let label = format!("{} {}", op.name, n);
            if !wanted(&label) {
                continue;
            }
            let x = uniform(n, op.lo, op.hi, 7);
            let mut y = vec![0.0f32; n];
            let base = time(&p1, || {
                std_loop(op.name, black_box(&x), &mut y);
                black_box(&mut y);
            });
            row(&format!("{} std loop, 1 thread", op.name), n, 8.0, base, base);
            for isa in [simd::Isa::Portable, simd::Isa::Avx2, simd::Isa::Avx512] {
                if isa > simd::detected_isa() {
                    continue;
                }
                let t = time(&p1, || {
                    simd::with_isa(isa, || map1_vmath(op.name, black_box(&x), &mut y));
                    black_box(&mut y);
                });
                row(&format!("{} map1 {}, 1 thread", op.name, isa.name()), n, 8.0, t, base);
            }
            let t = time(&p2, || {
                map1_vmath(op.name, black_box(&x), &mut y);
                black_box(&mut y);
            });
            row(&format!("{} map1 {}, 2 threads", op.name, simd::detected_isa().name()), n, 8.0, t, base);
        }
    }

    // The fused layer pass of `nn::Mlp`, on pre-activations in [-3, 3]: at
    // β = 20 a third of them reach |βx| > 29, where softplus's polynomial
    // once produced subnormals (see BENCHMARKS.md, engine).
    let (rows, width) = (2000, 128);
    let z = Tensor::from_vec(uniform(rows * width, -3.0, 3.0, 4), [rows, width]).expect("tensor");
    let g = Tensor::from_vec(uniform(rows * width, -1.0, 1.0, 5), [rows, width]).expect("tensor");
    let b = Tensor::from_vec(uniform(width, -0.5, 0.5, 6), [width]).expect("tensor");
    let acts = [
        ("tanh", Activation::Tanh),
        ("sigmoid", Activation::Sigmoid),
        ("softplus b1", Activation::Softplus { beta: 1.0 }),
        ("softplus b20", Activation::Softplus { beta: 20.0 }),
    ];
    for (name, act) in acts {
        let label = format!("bias_act {name}");
        if !wanted(&label) {
            continue;
        }
        let y = z.bias_act(&b, act).expect("bias_act");
        let fwd = time(&p1, || {
            black_box(z.bias_act(&b, act).expect("bias_act"));
        });
        let bwd = time(&p1, || {
            black_box(z.bias_act_backward(&b, &y, &g, act).expect("bias_act_backward"));
        });
        row(&format!("{label} fwd, 1 thread"), rows * width, 8.0, fwd, fwd);
        row(&format!("{label} bwd, 1 thread"), rows * width, 16.0, bwd, fwd);
    }

    for &n in &SIZES {
        let label = format!("add {n}");
        if !wanted(&label) {
            continue;
        }
        let a = uniform(n, -1.0, 1.0, 1);
        let b = uniform(n, -1.0, 1.0, 2);
        let mut y = vec![0.0f32; n];
        let base = time(&p1, || {
            for ((y, &a), &b) in y.iter_mut().zip(black_box(&a[..])).zip(&b[..]) {
                *y = a + b;
            }
            black_box(&mut y);
        });
        row("add plain loop, 1 thread", n, 12.0, base, base);
        let t = time(&p1, || {
            simd::map2(black_box(&a), &b, &mut y, |a, b| a + b);
            black_box(&mut y);
        });
        row("add map2, 1 thread", n, 12.0, t, base);
        let t = time(&p2, || {
            simd::map2(black_box(&a), &b, &mut y, |a, b| a + b);
            black_box(&mut y);
        });
        row("add map2, 2 threads", n, 12.0, t, base);
    }

    for &n in &SIZES {
        let label = format!("sum {n}");
        if !wanted(&label) {
            continue;
        }
        let x = uniform(n, -1.0, 1.0, 3);
        let base = time(&p1, || {
            black_box(black_box(&x).iter().sum::<f32>());
        });
        row("sum iter().sum(), 1 thread", n, 4.0, base, base);
        let t = time(&p1, || {
            black_box(simd::sum(black_box(&x)));
        });
        row("sum simd::sum, 1 thread", n, 4.0, t, base);
        let t = time(&p2, || {
            black_box(simd::sum(black_box(&x)));
        });
        row("sum simd::sum, 2 threads", n, 4.0, t, base);
    }

    // One versus two threads over lengths, to place the parallel threshold:
    // "1T" runs on one thread, "2T" always splits into CHUNK pieces on two
    // threads, "auto" is the library's own timed decision on two threads.
    // Cells are "median/best" µs per call: on a shared machine the best
    // sample shows what the split gains when the second core is free.
    if wanted("scan") {
        println!();
        println!("threshold scan: µs per call, median/best; 2T splits into {}-element tasks", simd::CHUNK);
        println!(
            "{:>8} {:>11} {:>11} {:>11} {:>11} {:>11} {:>11}",
            "n", "add 1T", "add 2T", "add auto", "tanh 1T", "tanh 2T", "tanh auto"
        );
        let cell = |t: Timing| format!("{:.1}/{:.1}", t.median / 1e3, t.best / 1e3);
        for n in [8_192, 16_384, 32_768, 65_536, 131_072, 256_000] {
            let a = uniform(n, -1.0, 1.0, 4);
            let b = uniform(n, -1.0, 1.0, 5);
            let mut y = vec![0.0f32; n];
            let mut forced = |threads: &ThreadPool, tanh: bool| {
                time(threads, || {
                    use rayon::prelude::*;
                    y.par_chunks_mut(simd::CHUNK)
                        .zip(a.par_chunks(simd::CHUNK))
                        .zip(b.par_chunks(simd::CHUNK))
                        .for_each(|((y, a), b)| {
                            // Below PAR_MIN_LEN, so each piece stays on its thread.
                            if tanh {
                                simd::map1(a, y, vmath::tanh_f32);
                            } else {
                                simd::map2(a, b, y, |a, b| a + b);
                            }
                        });
                    black_box(&mut y);
                })
            };
            let (a1, a2) = (forced(&p1, false), forced(&p2, false));
            let (t1, t2) = (forced(&p1, true), forced(&p2, true));
            let a_auto = time(&p2, || simd::map2(black_box(&a), &b, &mut y, |a, b| a + b));
            let t_auto = time(&p2, || simd::map1(black_box(&a), &mut y, vmath::tanh_f32));
            println!(
                "{n:>8} {:>11} {:>11} {:>11} {:>11} {:>11} {:>11}",
                cell(a1),
                cell(a2),
                cell(a_auto),
                cell(t1),
                cell(t2),
                cell(t_auto)
            );
        }
    }
}
