//! What the per-op profiler costs when it is off: the check every primitive
//! makes (`profile::span` with profiling disabled), in nanoseconds per call,
//! beside the cheapest real primitive (adding two 1-element tensors), so the
//! overhead per training iteration can be bounded: checks per iteration ×
//! ns per check.
//!
//! `cargo bench --bench profile_overhead`

use std::hint::black_box;
use std::time::Instant;

use wasserflow::Tensor;
use wasserflow::backend::{Device, profile};

/// Median nanoseconds per call of `f` over 21 samples of `reps` calls.
fn ns_per_call(reps: usize, mut f: impl FnMut()) -> f64 {
    let mut samples: Vec<f64> = (0..21)
        .map(|_| {
            let t = Instant::now();
            for _ in 0..reps {
                f();
            }
            t.elapsed().as_nanos() as f64 / reps as f64
        })
        .collect();
    samples.sort_by(f64::total_cmp);
    samples[samples.len() / 2]
}

fn main() {
    assert!(!profile::is_enabled(), "the profiler must be off for this measurement");
    let check = ns_per_call(10_000_000, || {
        black_box(profile::span(black_box("op"), Device::Cpu, 1.0, 1.0));
    });
    let (a, b) = (Tensor::<f32>::from_vec(vec![1.0], [1]).unwrap(), Tensor::<f32>::from_vec(vec![2.0], [1]).unwrap());
    let add = ns_per_call(200_000, || {
        black_box(black_box(&a).add(black_box(&b)).unwrap());
    });
    println!("disabled profiler check: {check:.2} ns per primitive");
    println!("1-element add (the cheapest primitive, check included): {add:.1} ns");
    // The CNF iteration of `benches/cnf.rs` (exact/direct) runs about 2,400 primitives (the profile's calls per iteration).
    println!("bound for a CNF iteration (2,400 primitives): {:.1} µs", 2_400.0 * check / 1e3);
}
