//! Peak heap memory of one CNF gradient: direct backprop (every step on one
//! tape), checkpointed backprop (one step's tape at a time) and the continuous
//! adjoint, at 10, 100 and 1000 RK4 steps. Direct grows with the steps; the
//! adjoint stays flat.
//!
//! `cargo bench --bench memory`

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use wasserflow::Rng;
use wasserflow::backend::Device;
use wasserflow::data::Toy;
use wasserflow::density::{Backprop, Cnf, Divergence, nll_loss};
use wasserflow::flows::{Field, FieldKind};
use wasserflow::nn::{Activation, ParamStore};
use wasserflow::ode::tableau::RK4;
use wasserflow::tensor::pool::Pooled;

/// Counts live heap bytes and their high-water mark.
struct Counting;
static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

// SAFETY: defers to the system allocator; only adds bookkeeping.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(l) };
        if !p.is_null() {
            let now = LIVE.fetch_add(l.size(), Ordering::Relaxed) + l.size();
            PEAK.fetch_max(now, Ordering::Relaxed);
        }
        p
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        unsafe { System.dealloc(p, l) };
        LIVE.fetch_sub(l.size(), Ordering::Relaxed);
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

const BATCH: usize = 64;

fn peak_mib(backprop: Backprop, steps: usize) -> f64 {
    let mut rng = Rng::seed(0);
    let mut store = ParamStore::<f32>::new();
    let field = Field::new(FieldKind::TimeMlp, &mut store, 2, &[64, 64, 64], Activation::Tanh, &mut rng).unwrap();
    let cnf = Cnf::new(field, 1.0, steps, &RK4, Divergence::Exact).unwrap();
    let x = Toy::EightGaussians.sample::<f32>(BATCH, &mut rng).unwrap();
    let dirs = Divergence::Exact.directions_for::<f32>(BATCH, 2, Device::Cpu, &mut rng).unwrap();
    // Start from an empty buffer cache so each run's peak is its own.
    f32::pool().clear();
    let base = LIVE.load(Ordering::Relaxed);
    PEAK.store(base, Ordering::Relaxed);
    let r = backprop.loss_and_grads(&cnf, &store, &x, &dirs, &nll_loss).unwrap();
    std::hint::black_box(r.loss);
    (PEAK.load(Ordering::Relaxed) - base) as f64 / (1024.0 * 1024.0)
}

fn main() {
    println!("peak heap above baseline, MiB (batch {BATCH}, MLP 3-64-64-64-2, exact trace, RK4)");
    println!("{:>6} {:>12} {:>14} {:>10}", "steps", "direct", "checkpointed", "adjoint");
    for steps in [10, 100, 1000] {
        let d = peak_mib(Backprop::Direct, steps);
        let c = peak_mib(Backprop::Checkpointed, steps);
        let a = peak_mib(Backprop::Adjoint, steps);
        println!("{steps:>6} {d:>12.2} {c:>14.2} {a:>10.2}");
    }
}
