//! The U-Net velocity field's forward + backward on MNIST-sized images:
//! batch 128 of 1×28×28, widths 32,64 (two levels: 3×3 conv blocks with
//! group norm and SiLU, 2×2 average pooling, nearest upsampling, one skip),
//! a time per row, loss `Σ|v − u|²/B`, f32. Same network and name as
//! `benches/torch_conv.py`. With `--profile`, also the per-op table.
//!
//! `cargo bench --bench conv [-- --json] [-- --profile]`

mod common;

use wasserflow::autodiff::Tape;
use wasserflow::backend::profile;
use wasserflow::nn::{ParamStore, UNet, UNetSpec, VelocityField};
use wasserflow::{Rng, Tensor};

const BATCH: usize = 128;
const SIDE: usize = 28;
const WIDTHS: [usize; 2] = [32, 64];

/// FLOPs of the convolutions (the bulk): forward `2·B·pixels·9·c_in·c_out`
/// per conv, backward twice that (input and weight gradients), less the
/// first conv's input gradient (its input is data).
fn flops() -> f64 {
    let p0 = (SIDE * SIDE) as f64;
    let p1 = p0 / 4.0;
    let b = BATCH as f64;
    let convs = [
        (p0, 1.0, WIDTHS[0] as f64),
        (p1, WIDTHS[0] as f64, WIDTHS[1] as f64),
        (p0, (WIDTHS[0] + WIDTHS[1]) as f64, WIDTHS[0] as f64),
        (p0, WIDTHS[0] as f64, 1.0),
    ];
    let fwd: f64 = convs.iter().map(|(p, ci, co)| 2.0 * b * p * 9.0 * ci * co).sum();
    3.0 * fwd - 2.0 * b * p0 * 9.0 * WIDTHS[0] as f64
}

fn main() {
    let mut store = ParamStore::<f32>::new();
    let net = UNet::new(&mut store, "v", UNetSpec::new(1, SIDE, SIDE, &WIDTHS), &mut Rng::seed(0)).unwrap();
    let mut rng = Rng::seed(1);
    let d = SIDE * SIDE;
    let x = Tensor::<f32>::randn([BATCH, d], &mut rng).unwrap();
    let u = Tensor::<f32>::randn([BATCH, d], &mut rng).unwrap();
    let t = Tensor::<f32>::rand_uniform([BATCH, 1], 0.0, 1.0, &mut rng).unwrap();
    let step = || {
        let tape = Tape::new();
        let p = store.attach(&tape);
        let v = net.forward_rows(&p, tape.constant(x.clone()), tape.constant(t.clone())).unwrap();
        let loss = v.sub(&tape.constant(u.clone())).unwrap().square().unwrap().sum_all().unwrap();
        let loss = loss.mul_scalar(1.0 / BATCH as f64).unwrap();
        let grads = p.grads(&tape.backward(loss).unwrap()).unwrap();
        std::hint::black_box(grads);
    };
    let m = common::time_fn("unet_28x28_w32-64_b128_fwd_bwd", flops(), 2, 10, step);
    common::report(&[m]);
    if std::env::args().any(|a| a == "--profile") {
        profile::enable();
        for _ in 0..5 {
            step();
            profile::end_iteration();
        }
        let prof = profile::disable();
        println!("{}", prof.table(profile::Peaks { gflops: 250.0, gbytes_per_s: 20.0 }));
    }
}
