//! The GPU workloads of the CUDA backend, timed on device 0: GEMM at
//! n = 1024, 4096, 8192 (f32 SIMT kernels and the TF32 tensor-core kernel),
//! one CNF training iteration (the workload, batch 1024 and 65536,
//! exact trace) and one flow-matching iteration (batch 1024). Same names as
//! `benches/torch_gpu.py`. Every timed call ends with a device synchronize.
//!
//! `cargo bench --features cuda --bench gpu [-- --json] [-- --filter gemm]`

mod common;

use wasserflow::backend::cuda;
use wasserflow::data::Toy;
use wasserflow::density::{Backprop, Cnf, Divergence};
use wasserflow::flows::fm::standard_normal;
use wasserflow::flows::{Block, Field, FieldKind, FmConfig, FmTrainer};
use wasserflow::nn::{Activation, ParamStore};
use wasserflow::ode::tableau::RK4_38;
use wasserflow::optim::{Adam, Optimizer};
use wasserflow::{Device, Rng, Tensor};

const STEPS: usize = 10;

fn gemm(n: usize, tf32: bool, dev: Device) -> common::Measurement {
    let mut rng = Rng::seed(n as u64);
    // Two input pairs, alternated, so repeated products do not run from L2 alone.
    let pairs: Vec<(Tensor<f32>, Tensor<f32>)> = (0..2)
        .map(|_| {
            let a = Tensor::<f32>::randn([n, n], &mut rng).unwrap().to_device(dev).unwrap();
            let b = Tensor::<f32>::randn([n, n], &mut rng).unwrap().to_device(dev).unwrap();
            (a, b)
        })
        .collect();
    cuda::set_tf32(tf32);
    let mut i = 0;
    let name = format!("gemm_{}_n{n}", if tf32 { "tf32" } else { "f32" });
    let m = common::time_fn(&name, 2.0 * (n as f64).powi(3), 3, 10, || {
        let (a, b) = &pairs[i % 2];
        i += 1;
        std::hint::black_box(a.matmul(b).unwrap());
        cuda::synchronize(0).unwrap();
    });
    cuda::set_tf32(false);
    m
}

/// GEMM FLOPs of one exact-trace CNF iteration (see benches/cnf.rs).
fn cnf_flops(batch: usize) -> f64 {
    let widths = [2usize, 64, 64, 64, 2];
    let fwd: usize = widths.windows(2).map(|w| 2 * batch * w[0] * w[1]).sum();
    (STEPS * 4) as f64 * 3.0 * (fwd * 3) as f64
}

fn cnf(batch: usize, dev: Device) -> common::Measurement {
    let mut rng = Rng::seed(0);
    let mut store = ParamStore::<f32>::new();
    let field = Field::new(FieldKind::TimeMlp, &mut store, 2, &[64, 64, 64], Activation::Tanh, &mut rng).unwrap();
    let cnf = Cnf::new(field, 1.0, STEPS, &RK4_38, Divergence::Exact).unwrap();
    let mut store = store.to_device(dev).unwrap();
    let mut opt = Adam::new(1e-3);
    let toy = Toy::EightGaussians;
    common::time_fn(&format!("gpu_cnf_exact_b{batch}"), cnf_flops(batch), 3, 10, || {
        let x = toy.sample::<f32>(batch, &mut rng).unwrap().to_device(dev).unwrap();
        let dirs = Divergence::Exact.directions_for(batch, 2, dev, &mut rng).unwrap();
        let r = Backprop::Direct.nll_and_grads(&cnf, &store, &x, &dirs).unwrap();
        opt.step(&mut store, &r.param_grads).unwrap();
        cuda::synchronize(0).unwrap();
    })
}

fn fm(batch: usize, dev: Device) -> common::Measurement {
    let cfg = FmConfig::reference(2);
    let mut rng = Rng::seed(0);
    let block = Block::<f32>::new(cfg.block_spec().unwrap(), &mut rng.split()).unwrap().to_device(dev).unwrap();
    let mut trainer = FmTrainer::new(block, cfg.interpolant, cfg.time, cfg.lr).unwrap();
    let toy = Toy::EightGaussians;
    let widths = [3usize, 64, 64, 64, 2];
    let fwd: usize = widths.windows(2).map(|w| 2 * batch * w[0] * w[1]).sum();
    let flops = (3 * fwd - 2 * batch * widths[0] * widths[1]) as f64;
    common::time_fn(&format!("gpu_fm_linear_b{batch}"), flops, 10, 20, || {
        let x0 = toy.sample::<f32>(batch, &mut rng).unwrap();
        let x1 = standard_normal::<f32>(batch, 2, &mut rng).unwrap();
        std::hint::black_box(trainer.step(&x0, &x1, &mut rng).unwrap());
        cuda::synchronize(0).unwrap();
    })
}

fn main() {
    let dev = match Device::cuda(0) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("gpu bench skipped: {e}");
            return;
        }
    };
    if !common::json_requested() {
        println!("device: {}", cuda::device_name(0).unwrap());
    }
    let filter = common::filter();
    let wanted = |name: &str| filter.as_ref().is_none_or(|f| name.contains(f.as_str()));
    let mut results = Vec::new();
    for n in [1024, 4096, 8192] {
        for tf32 in [false, true] {
            if wanted(&format!("gemm_{}_n{n}", if tf32 { "tf32" } else { "f32" })) {
                results.push(gemm(n, tf32, dev));
            }
        }
    }
    for batch in [1024, 65536] {
        if wanted(&format!("gpu_cnf_exact_b{batch}")) {
            results.push(cnf(batch, dev));
        }
    }
    if wanted("gpu_fm_linear_b1024") {
        results.push(fm(1024, dev));
    }
    common::report(&results);
}
