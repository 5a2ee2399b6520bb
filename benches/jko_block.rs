//! One JKO-iFlow block training iteration (minibatch from the cached
//! particles, loss (24) forward, backward, Adam step) on the issue's
//! workload: MLP on `[x, t]` 2(+1)→128→128→128→2 softplus β = 20, classic
//! RK4 with 3 steps over the block's interval `[0, h]` (h = 0.25), batch
//! 2000, exact trace, direct backprop. Same name as `torch_jko.py`.
//!
//! `cargo bench --bench jko_block [-- --json]`

mod common;

use wasserflow::Rng;
use wasserflow::backend::Device;
use wasserflow::data::Toy;
use wasserflow::density::{Backprop, Divergence};
use wasserflow::flows::Block;
use wasserflow::flows::jko::{JkoConfig, jko_loss_and_grads};
use wasserflow::optim::{Adam, Optimizer};

const BATCH: usize = 2000;
const PARTICLES: usize = 50_000;
const H: f64 = 0.25;

/// GEMM FLOPs of one iteration, counted as `benches/cnf.rs` does: one field
/// evaluation with `k` tangent directions costs `fwd·(1+k)` (the time column
/// folds into a bias), its reverse sweep twice that; 3 steps × 4 stages.
fn flops(k: usize, evals: usize) -> f64 {
    let widths = [2usize, 128, 128, 128, 2];
    let fwd: usize = widths.windows(2).map(|w| 2 * BATCH * w[0] * w[1]).sum();
    3.0 * evals as f64 * (fwd * (1 + k)) as f64
}

fn main() {
    let cfg = JkoConfig::reference(2);
    let mut rng = Rng::seed(0);
    let particles = Toy::EightGaussians.sample::<f32>(PARTICLES, &mut rng).unwrap();
    let mut block = Block::<f32>::new(cfg.block_spec(H).unwrap(), &mut rng).unwrap();
    let evals = cfg.steps_per_block * cfg.solver.stages();
    let (cnf, store) = (&block.cnf, &mut block.store);
    let mut opt = Adam::new(cfg.lr);
    let div = Divergence::Exact;
    let filter = common::filter();
    let mut results = Vec::new();
    let name = "jko_block_exact_direct";
    if filter.as_ref().is_none_or(|f| name.contains(f.as_str())) {
        results.push(common::time_fn(name, flops(div.directions(2), evals), 3, 10, || {
            let idx: Vec<usize> = (0..BATCH).map(|_| rng.below(PARTICLES)).collect();
            let x = particles.gather_rows(&idx).unwrap();
            let dirs = div.directions_for(BATCH, 2, Device::Cpu, &mut rng).unwrap();
            let (_, grads) = jko_loss_and_grads(cnf, store, &x, &dirs, H, Backprop::Direct).unwrap();
            opt.step(store, &grads).unwrap();
        }));
    }
    common::report(&results);
}
