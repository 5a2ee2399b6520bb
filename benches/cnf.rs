//! One CNF training iteration (sample, forward, backward, Adam step) on the
//! issue's workload: 8gaussians, MLP 3→64→64→64→2 tanh, batch 1024, RK4 (3/8)
//! with 10 steps on [0, 1]; four variants (exact trace or one Rademacher
//! probe, direct backprop or the adjoint). Same names as `torch_cnf.py`.
//!
//! `cargo bench --bench cnf [-- --json] [-- --filter exact]`

mod common;

use wasserflow::Rng;
use wasserflow::backend::Device;
use wasserflow::data::Toy;
use wasserflow::density::{Backprop, Cnf, Divergence, Probe};
use wasserflow::flows::{Field, FieldKind};
use wasserflow::nn::{Activation, ParamStore};
use wasserflow::ode::tableau::RK4_38;
use wasserflow::optim::{Adam, Optimizer};

const BATCH: usize = 1024;
const STEPS: usize = 10;
const STAGES: usize = 4;

/// GEMM FLOPs of one iteration. One field evaluation with `k` tangent
/// directions costs `fwd·(1+k)` (the time column folds into a bias); its
/// reverse sweep twice that. The adjoint adds an untracked forward solve and
/// replays each evaluation forward and backward during the backward solve.
fn flops(k: usize, adjoint: bool) -> f64 {
    let widths = [2usize, 64, 64, 64, 2];
    let fwd: usize = widths.windows(2).map(|w| 2 * BATCH * w[0] * w[1]).sum();
    let eval = (fwd * (1 + k)) as f64;
    let evals = (STEPS * STAGES) as f64;
    if adjoint { evals * eval + evals * 3.0 * eval } else { evals * 3.0 * eval }
}

fn bench(name: &str, div: Divergence, backprop: Backprop) -> common::Measurement {
    let mut rng = Rng::seed(0);
    let mut store = ParamStore::<f32>::new();
    let field = Field::new(FieldKind::TimeMlp, &mut store, 2, &[64, 64, 64], Activation::Tanh, &mut rng).unwrap();
    let cnf = Cnf::new(field, 1.0, STEPS, &RK4_38, div).unwrap();
    let mut opt = Adam::new(1e-3);
    let toy = Toy::EightGaussians;
    let k = div.directions(2);
    common::time_fn(name, flops(k, backprop == Backprop::Adjoint), 3, 10, || {
        let x = toy.sample::<f32>(BATCH, &mut rng).unwrap();
        let dirs = div.directions_for(BATCH, 2, Device::Cpu, &mut rng).unwrap();
        let r = backprop.nll_and_grads(&cnf, &store, &x, &dirs).unwrap();
        opt.step(&mut store, &r.param_grads).unwrap();
    })
}

fn main() {
    let hutch = Divergence::Hutchinson { probes: 1, probe: Probe::Rademacher };
    let variants = [
        ("cnf_exact_direct", Divergence::Exact, Backprop::Direct),
        ("cnf_hutch_direct", hutch, Backprop::Direct),
        ("cnf_exact_adjoint", Divergence::Exact, Backprop::Adjoint),
        ("cnf_hutch_adjoint", hutch, Backprop::Adjoint),
    ];
    let filter = common::filter();
    let results: Vec<_> = variants
        .iter()
        .filter(|v| filter.as_ref().is_none_or(|f| v.0.contains(f.as_str())))
        .map(|(n, d, b)| bench(n, *d, *b))
        .collect();
    common::report(&results);
}
