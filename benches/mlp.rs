//! MLP forward + backward (all parameter gradients) on the engine, the same
//! workloads as `benches/torch_engine.py`: `cargo bench --bench mlp [-- --json]`.

mod common;

use wasserflow::nn::{Activation, Init, Mlp, ParamStore, mean_loss_and_grads};
use wasserflow::{Rng, Tensor};

/// FLOPs of one step, counting the linear layers' products only:
/// `3·fwd − 2·B·in₀·out₀` (the network input needs no gradient).
fn mlp_flops(widths: &[usize], batch: usize) -> f64 {
    let fwd: usize = widths.windows(2).map(|w| 2 * batch * w[0] * w[1]).sum();
    (3 * fwd - 2 * batch * widths[0] * widths[1]) as f64
}

fn bench_mlp(name: &str, widths: &[usize], act: Activation, batch: usize) -> common::Measurement {
    let mut rng = Rng::seed(0);
    let mut store = ParamStore::<f32>::new();
    let mlp = Mlp::new(&mut store, "mlp", widths, act, Init::TorchLinear, &mut rng).unwrap();
    let x = Tensor::<f32>::randn([batch, widths[0]], &mut rng).unwrap();
    // Data-parallel: each thread runs forward and backward on its share of
    // the batch (see `nn::data_parallel`); the gradients are those of the
    // whole batch's mean loss.
    common::time_fn(name, mlp_flops(widths, batch), 20, 20, || {
        let (loss, grads) = mean_loss_and_grads(&store, &x, |p, xs| mlp.forward(p, xs)?.square()?.mean_all()).unwrap();
        std::hint::black_box((loss, grads));
    })
}

fn main() {
    let configs: [(&str, &[usize], Activation, usize); 2] = [
        ("mlp_3-64-64-64-2_tanh_b1024", &[3, 64, 64, 64, 2], Activation::Tanh, 1024),
        ("mlp_2-128-128-128-2_softplus_b2000", &[2, 128, 128, 128, 2], Activation::Softplus { beta: 1.0 }, 2000),
    ];
    let filter = common::filter();
    let results: Vec<_> = configs
        .iter()
        .filter(|c| filter.as_ref().is_none_or(|f| c.0.contains(f.as_str())))
        .map(|(name, w, a, b)| bench_mlp(name, w, *a, *b))
        .collect();
    common::report(&results);
}
