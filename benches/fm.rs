//! One flow-matching training iteration (sample, interpolate, forward,
//! backward, Adam step) on the workload: 8gaussians, MLP
//! 3→64→64→64→2 tanh on `[x, t]` with a time per row, batch 1024, linear
//! interpolant, uniform times, Adam 1e-3, f32. Same name as `torch_fm.py`.
//!
//! `cargo bench --bench fm [-- --json]`

mod common;

use wasserflow::Rng;
use wasserflow::data::Toy;
use wasserflow::flows::fm::standard_normal;
use wasserflow::flows::{Block, FmConfig, FmTrainer};

const BATCH: usize = 1024;

/// GEMM FLOPs of one iteration: the forward products of `[x, t]` through
/// the layers, and twice that backward less the input gradient of the first
/// layer (the interpolated points are data): `3·fwd − 2·B·in₀·out₀`.
fn flops() -> f64 {
    let widths = [3usize, 64, 64, 64, 2];
    let fwd: usize = widths.windows(2).map(|w| 2 * BATCH * w[0] * w[1]).sum();
    (3 * fwd - 2 * BATCH * widths[0] * widths[1]) as f64
}

fn main() {
    let cfg = FmConfig::reference(2);
    let mut rng = Rng::seed(0);
    let block = Block::<f32>::new(cfg.block_spec().unwrap(), &mut rng.split()).unwrap();
    let mut trainer = FmTrainer::new(block, cfg.interpolant, cfg.time, cfg.lr).unwrap();
    let toy = Toy::EightGaussians;
    let m = common::time_fn("fm_linear_b1024", flops(), 20, 20, || {
        let x0 = toy.sample::<f32>(BATCH, &mut rng).unwrap();
        let x1 = standard_normal::<f32>(BATCH, 2, &mut rng).unwrap();
        std::hint::black_box(trainer.step(&x0, &x1, &mut rng).unwrap());
    });
    common::report(&[m]);
}
