//! Divergence: the exact trace against finite differences, Hutchinson's
//! estimator converging to it at the 1/√samples rate, and both gradients
//! (with respect to parameters and input) against finite differences.

mod common;

use wasserflow::autodiff::Tape;
use wasserflow::autodiff::gradcheck::{GradCheck, random_inputs};
use wasserflow::backend::Device;
use wasserflow::density::{Divergence, Probe};
use wasserflow::nn::{Activation, Init, ParamStore, Params, TimeMlp, VelocityField};
use wasserflow::{Rng, Tensor};

fn field(dev: Device) -> (ParamStore<f64>, TimeMlp) {
    let mut s = ParamStore::new();
    let f = TimeMlp::new(&mut s, "v", 3, &[8, 8], Activation::Tanh, Init::XavierNormal, &mut Rng::seed(3)).unwrap();
    (s.to_device(dev).unwrap(), f)
}

fn divergence(store: &ParamStore<f64>, f: &TimeMlp, x: &Tensor<f64>, div: Divergence, rng: &mut Rng) -> Vec<f64> {
    let tape = Tape::new();
    let p = store.attach_frozen(&tape);
    let dirs = div.directions_for(x.dims()[0], 3, x.device(), rng).unwrap();
    let (_, d) = div.velocity_and_divergence(f, &p, tape.constant(x.clone()), 0.5, tape.constant(dirs)).unwrap();
    d.value().to_vec().unwrap()
}

fn exact_divergence_is_the_jacobian_trace(dev: Device) {
    let (store, f) = field(dev);
    let x = random_inputs(&[&[4, 3]], -1.0, 1.0).remove(0).to_device(dev).unwrap();
    let exact = divergence(&store, &f, &x, Divergence::Exact, &mut Rng::seed(0));
    let xv = x.to_vec().unwrap();
    let h = 1e-6;
    for i in 0..4 {
        let mut tr = 0.0;
        for j in 0..3 {
            let at = |s: f64| {
                let mut v = xv.clone();
                v[i * 3 + j] += s;
                f.eval(&store, &Tensor::from_vec(v, [4, 3]).unwrap().to_device(dev).unwrap(), 0.5)
                    .unwrap()
                    .to_vec()
                    .unwrap()[i * 3 + j]
            };
            tr += (at(h) - at(-h)) / (2.0 * h);
        }
        assert!((tr - exact[i]).abs() < 1e-7, "{tr} vs {}", exact[i]);
    }
}

#[test]
fn hutchinson_mean_converges_at_inverse_sqrt_rate() {
    let (store, f) = field(Device::Cpu);
    let x = random_inputs(&[&[2, 3]], -1.0, 1.0).remove(0);
    let exact = divergence(&store, &f, &x, Divergence::Exact, &mut Rng::seed(0));
    for probe in [Probe::Rademacher, Probe::Gaussian] {
        // The spread of single-probe estimates sets the scale of the bound.
        let mut rng = Rng::seed(42);
        let singles: Vec<f64> = (0..2000)
            .map(|_| divergence(&store, &f, &x, Divergence::Hutchinson { probes: 1, probe }, &mut rng)[0])
            .collect();
        let mean = singles.iter().sum::<f64>() / singles.len() as f64;
        let sd = (singles.iter().map(|s| (s - mean).powi(2)).sum::<f64>() / (singles.len() - 1) as f64).sqrt();
        assert!(sd > 1e-3, "{probe:?}: estimator has no spread, test would be vacuous");
        for n in [16, 256, 4096] {
            let est = divergence(&store, &f, &x, Divergence::Hutchinson { probes: n, probe }, &mut rng);
            for i in 0..2 {
                let bound = 5.0 * sd / (n as f64).sqrt();
                assert!(
                    (est[i] - exact[i]).abs() < bound,
                    "{probe:?} n={n}: {} vs {} (bound {bound})",
                    est[i],
                    exact[i]
                );
            }
        }
    }
}

fn divergence_gradients_match_finite_differences(dev: Device) {
    let (store, f) = field(dev);
    for div in [Divergence::Exact, Divergence::Hutchinson { probes: 2, probe: Probe::Rademacher }] {
        let mut inputs = random_inputs(&[&[3, 3]], -1.0, 1.0);
        inputs.push(div.directions_for::<f64>(3, 3, dev, &mut Rng::seed(8)).unwrap());
        inputs.extend(store.values().iter().cloned());
        GradCheck::on(dev)
            .run(&inputs, |v| {
                let p = Params::from_vars(v[2..].to_vec());
                let (vel, d) = div.velocity_and_divergence(&f, &p, v[0], 0.25, v[1])?;
                d.sum_all()?.add(&vel.square()?.sum_all()?)
            })
            .unwrap();
    }
}

#[test]
fn zero_probes_is_an_error() {
    let d = Divergence::Hutchinson { probes: 0, probe: Probe::Rademacher };
    assert!(d.directions_for::<f32>(4, 2, Device::Cpu, &mut Rng::seed(0)).is_err());
    assert!(Divergence::from_name("bogus").is_err());
}

on_every_device!(exact_divergence_is_the_jacobian_trace, divergence_gradients_match_finite_differences);
