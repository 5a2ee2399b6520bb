//! Continuous normalizing flows: gradients through the solver (direct,
//! checkpointed, adjoint) against finite differences and each other, the
//! adjoint's convergence to the discrete gradient at the solver's order,
//! normalization of the model density, and inversion accuracy.

mod common;

use wasserflow::autodiff::Tape;
use wasserflow::autodiff::gradcheck::{GradCheck, random_inputs};
use wasserflow::backend::Device;
use wasserflow::data::Toy;
use wasserflow::density::{Backprop, Cnf, Divergence, Probe, nll_loss};
use wasserflow::flows::{CnfConfig, train_cnf};
use wasserflow::nn::{Activation, Init, ParamStore, Params, TimeMlp};
use wasserflow::ode::tableau::RK4;
use wasserflow::{Rng, Tensor};

/// A small CNF with its parameters on `dev`.
fn small_cnf(steps: usize, div: Divergence, dev: Device) -> (ParamStore<f64>, Cnf<TimeMlp>) {
    let mut store = ParamStore::new();
    let f = TimeMlp::new(&mut store, "v", 2, &[8, 8], Activation::Tanh, Init::XavierNormal, &mut Rng::seed(7)).unwrap();
    (store.to_device(dev).unwrap(), Cnf::new(f, 1.0, steps, &RK4, div).unwrap())
}

fn batch(dev: Device) -> (Tensor<f64>, usize) {
    (random_inputs(&[&[3, 2]], -1.5, 1.5).remove(0).to_device(dev).unwrap(), 3)
}

fn direct_gradient_matches_finite_differences(dev: Device) {
    for div in [
        Divergence::Exact,
        Divergence::Hutchinson { probes: 1, probe: Probe::Rademacher },
        Divergence::DiscreteJacobian,
    ] {
        let (store, cnf) = small_cnf(4, div, dev);
        let (x, b) = batch(dev);
        let dirs = div.directions_for::<f64>(b, 2, dev, &mut Rng::seed(1)).unwrap();
        let mut inputs = vec![x, dirs];
        inputs.extend(store.values().iter().cloned());
        let r = GradCheck::on(dev)
            .run(&inputs, |v| {
                let p = Params::from_vars(v[2..].to_vec());
                let (z, l) = cnf.forward_on_tape(&p, v[0], v[1])?;
                nll_loss(z, l)
            })
            .unwrap();
        assert!(r.checked > 100);
    }
}

fn flat(g: &[Tensor<f64>]) -> Vec<f64> {
    g.iter().flat_map(|t| t.to_vec().unwrap()).collect()
}

fn grads(method: Backprop, steps: usize, dev: Device) -> (f64, Vec<f64>, Vec<f64>) {
    grads_with(Divergence::Exact, method, steps, dev)
}

fn grads_with(div: Divergence, method: Backprop, steps: usize, dev: Device) -> (f64, Vec<f64>, Vec<f64>) {
    let (store, cnf) = small_cnf(steps, div, dev);
    let (x, b) = batch(dev);
    let dirs = div.directions_for::<f64>(b, 2, dev, &mut Rng::seed(1)).unwrap();
    let r = method.loss_and_grads(&cnf, &store, &x, &dirs, &nll_loss).unwrap();
    (r.loss, flat(&r.param_grads), r.input_grad.to_vec().unwrap())
}

fn checkpointed_equals_direct(dev: Device) {
    for div in [Divergence::Exact, Divergence::DiscreteJacobian] {
        let (l1, p1, x1) = grads_with(div, Backprop::Direct, 6, dev);
        let (l2, p2, x2) = grads_with(div, Backprop::Checkpointed, 6, dev);
        assert_eq!(l1, l2);
        for (a, b) in p1.iter().chain(&x1).zip(p2.iter().chain(&x2)) {
            assert!((a - b).abs() <= 1e-12 * (1.0 + a.abs()), "{div:?}: {a} vs {b}");
        }
    }
}

/// `ℓ` from [`Cnf::forward_on_tape`] per row.
fn log_dets(cnf: &Cnf<TimeMlp>, store: &ParamStore<f64>, x: &Tensor<f64>) -> Vec<f64> {
    let tape = Tape::new();
    let p = store.attach_frozen(&tape);
    let dirs = cnf.divergence.directions_for::<f64>(x.dims()[0], 2, x.device(), &mut Rng::seed(1)).unwrap();
    let (_, l) = cnf.forward_on_tape(&p, tape.constant(x.clone()), tape.constant(dirs)).unwrap();
    l.value().to_vec().unwrap()
}

/// The untracked evaluation ([`Cnf::forward`], one tape per dynamics call)
/// computes what the recorded one does, bit for bit, for every divergence.
fn untracked_forward_is_the_recorded_one(dev: Device) {
    let probes = Divergence::Hutchinson { probes: 2, probe: Probe::Rademacher };
    for div in [Divergence::Exact, probes, Divergence::DiscreteJacobian] {
        let (store, cnf) = small_cnf(4, div, dev);
        let (x, n) = batch(dev);
        let dirs = cnf.divergence.directions_for::<f64>(n, 2, x.device(), &mut Rng::seed(3)).unwrap();
        let tape = Tape::new();
        let p = store.attach_frozen(&tape);
        let (z_taped, l_taped) =
            cnf.forward_on_tape(&p, tape.constant(x.clone()), tape.constant(dirs.clone())).unwrap();
        let (z, l) = cnf.forward(&store, &x, &dirs).unwrap();
        let bits = |t: &Tensor<f64>| t.to_vec().unwrap().iter().map(|v| v.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&z), bits(&z_taped.value()), "{div:?}: z");
        assert_eq!(bits(&l), bits(&l_taped.value()), "{div:?}: ℓ");
    }
}

/// Three RK4 steps of a field with large weights, on its discrete map's
/// Jacobian: far from the flow map, so the divergence integral and the map's
/// log-determinant differ, and reverse steps do not invert the map.
fn steep_cnf(dev: Device) -> (ParamStore<f64>, Cnf<TimeMlp>) {
    let mut store = ParamStore::new();
    let f = TimeMlp::new(&mut store, "v", 2, &[8, 8], Activation::Tanh, Init::XavierNormal, &mut Rng::seed(7)).unwrap();
    for v in store.values_mut() {
        *v = v.scale(2.5).unwrap();
    }
    let store = store.to_device(dev).unwrap();
    let cnf = Cnf::new(f, 1.0, 3, &RK4, Divergence::DiscreteJacobian).unwrap();
    (store, cnf)
}

fn the_discrete_jacobian_is_the_derivative_of_the_solver_map(dev: Device) {
    let (store, cnf) = steep_cnf(dev);
    let (x, b) = batch(dev);
    let l = log_dets(&cnf, &store, &x);
    let xv = x.to_vec().unwrap();
    let h = 1e-6;
    for i in 0..b {
        // Central differences of the map the solver computes.
        let mut jac = [[0.0; 2]; 2];
        for c in 0..2 {
            let at = |d: f64| {
                let mut v = xv[2 * i..2 * i + 2].to_vec();
                v[c] += d;
                cnf.transport(&store, &Tensor::from_vec(v, [1, 2]).unwrap().to_device(dev).unwrap())
                    .unwrap()
                    .to_vec()
                    .unwrap()
            };
            let (plus, minus) = (at(h), at(-h));
            for r in 0..2 {
                jac[r][c] = (plus[r] - minus[r]) / (2.0 * h);
            }
        }
        let fd = (jac[0][0] * jac[1][1] - jac[0][1] * jac[1][0]).abs().ln();
        assert!((l[i] - fd).abs() < 1e-7, "sample {i}: carried {} vs finite differences {fd}", l[i]);
    }
    let exact = Cnf { divergence: Divergence::Exact, ..cnf };
    let integral = log_dets(&exact, &store, &x);
    let gap = l.iter().zip(&integral).map(|(a, b)| (a - b).abs()).fold(0.0, f64::max);
    assert!(gap > 1e-3, "the test needs a coarse grid where the two differ (gap {gap})");
}

fn the_discrete_map_is_inverted_to_round_off(dev: Device) {
    let (store, cnf) = steep_cnf(dev);
    let x = random_inputs(&[&[64, 2]], -1.5, 1.5).remove(0).to_device(dev).unwrap();
    let z = cnf.transport(&store, &x).unwrap();
    let err = |back: Tensor<f64>| back.sub(&x).unwrap().to_vec().unwrap().iter().map(|v| v.abs()).fold(0.0, f64::max);
    let (exact, reverse) = (err(cnf.invert_map(&store, &z).unwrap()), err(cnf.invert(&store, &z).unwrap()));
    eprintln!("round trip error: Newton {exact:.2e}, reverse steps {reverse:.2e}");
    assert!(exact < 1e-12, "Newton inverse error {exact}");
    assert!(reverse > 1e-4, "the test needs a grid where the reverse steps are not an inverse ({reverse})");
}

fn the_map_log_det_and_the_divergence_integral_meet_at_the_solver_order(dev: Device) {
    // Both converge to the flow map's log-determinant at RK4's order 4, so
    // their difference shrinks ~16× per halving of the step.
    let (store, jac) = small_cnf(4, Divergence::DiscreteJacobian, dev);
    let (x, _) = batch(dev);
    let mut gaps = Vec::new();
    for steps in [4, 8, 16] {
        let grid = wasserflow::ode::fixed::uniform_grid(0.0, 1.0, steps).unwrap();
        let a = Cnf {
            field: jac.field.clone(),
            grid: grid.clone(),
            solver: &RK4,
            divergence: Divergence::DiscreteJacobian,
        };
        let b = Cnf { field: jac.field.clone(), grid, solver: &RK4, divergence: Divergence::Exact };
        let (la, lb) = (log_dets(&a, &store, &x), log_dets(&b, &store, &x));
        gaps.push(la.iter().zip(&lb).map(|(p, q)| (p - q).abs()).fold(0.0, f64::max));
    }
    eprintln!("log-det gaps at 4, 8, 16 steps: {gaps:?}");
    for w in gaps.windows(2) {
        let order = (w[0] / w[1]).log2();
        assert!((3.3..=4.7).contains(&order), "observed order {order}, gaps {gaps:?}");
    }
}

#[test]
fn the_adjoint_refuses_the_discrete_jacobian() {
    let (store, cnf) = small_cnf(3, Divergence::DiscreteJacobian, Device::Cpu);
    let (x, b) = batch(Device::Cpu);
    let dirs = Divergence::DiscreteJacobian.directions_for::<f64>(b, 2, Device::Cpu, &mut Rng::seed(1)).unwrap();
    let err = Backprop::Adjoint.loss_and_grads(&cnf, &store, &x, &dirs, &nll_loss).err().expect("an error");
    assert!(err.to_string().contains("direct or checkpointed"), "{err}");
}

fn max_rel_diff(a: &[f64], b: &[f64]) -> f64 {
    let scale = a.iter().map(|v| v.abs()).fold(0.0, f64::max);
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f64::max) / scale
}

fn adjoint_converges_to_direct_at_the_solver_order(dev: Device) {
    let mut diffs = Vec::new();
    let steps = [4usize, 8, 16, 32];
    for &n in &steps {
        let (l1, p1, x1) = grads(Backprop::Direct, n, dev);
        let (l2, p2, x2) = grads(Backprop::Adjoint, n, dev);
        assert!((l1 - l2).abs() < 1e-12, "the forward solve is the same");
        diffs.push(max_rel_diff(&[p1, x1].concat(), &[p2, x2].concat()));
    }
    // Log-log slope of the difference against the step size h = 1/n.
    let xs: Vec<f64> = steps.iter().map(|&n| (1.0 / n as f64).ln()).collect();
    let ys: Vec<f64> = diffs.iter().map(|d| d.ln()).collect();
    let (mx, my) = (xs.iter().sum::<f64>() / 4.0, ys.iter().sum::<f64>() / 4.0);
    let slope = xs.iter().zip(&ys).map(|(x, y)| (x - mx) * (y - my)).sum::<f64>()
        / xs.iter().map(|x| (x - mx).powi(2)).sum::<f64>();
    eprintln!("adjoint vs direct: slope {slope:.3}, differences {diffs:?}");
    assert!((slope - 4.0).abs() < 0.5, "slope {slope}, differences {diffs:?}");
}

fn adjoint_gradient_matches_finite_differences(dev: Device) {
    // At 64 RK4 steps the discretization error is far below the tolerance.
    let div = Divergence::Exact;
    let (store, cnf) = small_cnf(64, div, dev);
    let (x, b) = batch(dev);
    let dirs = div.directions_for::<f64>(b, 2, dev, &mut Rng::seed(1)).unwrap();
    let adj = Backprop::Adjoint.loss_and_grads(&cnf, &store, &x, &dirs, &nll_loss).unwrap();
    let loss_at = |s: &ParamStore<f64>, x: &Tensor<f64>| {
        let tape = Tape::new();
        let p = s.attach_frozen(&tape);
        let (z, l) = cnf.forward_on_tape(&p, tape.constant(x.clone()), tape.constant(dirs.clone())).unwrap();
        nll_loss(z, l).unwrap().value().item().unwrap()
    };
    let h = 1e-6;
    for (i, g) in adj.param_grads.iter().enumerate() {
        let g = g.to_vec().unwrap();
        for j in (0..g.len()).step_by(3) {
            let shifted = |d: f64| {
                let mut s = store.clone();
                let mut v = s.values()[i].to_vec().unwrap();
                v[j] += d;
                let shape = s.values()[i].shape().clone();
                s.values_mut()[i] = Tensor::from_vec(v, shape).unwrap().to_device(dev).unwrap();
                loss_at(&s, &x)
            };
            let fd = (shifted(h) - shifted(-h)) / (2.0 * h);
            assert!((fd - g[j]).abs() < 1e-6 * (1.0 + fd.abs()), "param {i}[{j}]: fd {fd} adjoint {}", g[j]);
        }
    }
    let xv = x.to_vec().unwrap();
    let gx = adj.input_grad.to_vec().unwrap();
    for j in 0..xv.len() {
        let at = |d: f64| {
            let mut v = xv.clone();
            v[j] += d;
            loss_at(&store, &Tensor::from_vec(v, [3, 2]).unwrap().to_device(dev).unwrap())
        };
        let fd = (at(h) - at(-h)) / (2.0 * h);
        assert!((fd - gx[j]).abs() < 1e-6 * (1.0 + fd.abs()), "x[{j}]: fd {fd} adjoint {}", gx[j]);
    }
}

#[test]
fn model_density_integrates_to_one() {
    let (store, cnf) = small_cnf(20, Divergence::Exact, Device::Cpu);
    let (n, lo, h) = (120usize, -6.0, 0.1);
    let mut pts = Vec::with_capacity(2 * n * n);
    for i in 0..n {
        for j in 0..n {
            pts.push(lo + h * (i as f64 + 0.5));
            pts.push(lo + h * (j as f64 + 0.5));
        }
    }
    let x = Tensor::from_vec(pts, [n * n, 2]).unwrap();
    let lp = cnf.log_prob(&store, &x, 4096, &mut Rng::seed(0)).unwrap();
    let mass: f64 = lp.iter().map(|l| l.exp() * h * h).sum();
    assert!((mass - 1.0).abs() < 5e-3, "mass {mass}");
}

fn inversion_of_a_trained_field_is_accurate_at_fine_steps(dev: Device) {
    let cfg = CnfConfig {
        hidden: vec![32, 32],
        batch: 256,
        iterations: 40,
        lr: 1e-2,
        device: dev,
        ..CnfConfig::reference(2)
    };
    let mut losses = Vec::new();
    let model = train_cnf::<f64>(
        &cfg,
        |n, rng| Toy::EightGaussians.sample(n, rng),
        |r, _| {
            losses.push(r.loss);
            Ok(())
        },
    )
    .unwrap();
    assert!(losses[losses.len() - 1] < losses[0] - 0.3, "training made no progress: {losses:?}");
    let fine = wasserflow::flows::EvalOptions { step: Some(0.005), divergence: None, adaptive: None };
    let x = Toy::EightGaussians.sample::<f64>(200, &mut Rng::seed(9)).unwrap();
    let back = model.invert(&model.transport(&x, fine).unwrap(), fine).unwrap();
    let err = back.sub(&x).unwrap().to_vec().unwrap().iter().map(|v| v.abs()).fold(0.0, f64::max);
    let scale = x.to_vec().unwrap().iter().map(|v| v.abs()).fold(0.0, f64::max);
    eprintln!("relative inversion error {:.2e}", err / scale);
    assert!(err / scale <= 1e-5, "relative inversion error {}", err / scale);
}

#[test]
fn points_of_the_wrong_dimension_are_rejected() {
    let (store, cnf) = small_cnf(4, Divergence::Exact, Device::Cpu);
    assert!(cnf.transport(&store, &Tensor::zeros([4, 3])).is_err());
    assert!(cnf.log_prob(&store, &Tensor::zeros([4, 1]), 10, &mut Rng::seed(0)).is_err());
}

fn sharded_nll_gradient_equals_the_whole_batch_gradient(dev: Device) {
    for method in [Backprop::Direct, Backprop::Checkpointed, Backprop::Adjoint] {
        let div = Divergence::Hutchinson { probes: 2, probe: Probe::Rademacher };
        let (store, cnf) = small_cnf(3, div, dev);
        let x = Toy::EightGaussians.sample::<f64>(300, &mut Rng::seed(4)).unwrap().to_device(dev).unwrap();
        let dirs = div.directions_for::<f64>(300, 2, dev, &mut Rng::seed(5)).unwrap();
        let whole = method.loss_and_grads(&cnf, &store, &x, &dirs, &nll_loss).unwrap();
        let sharded = method.nll_and_grads(&cnf, &store, &x, &dirs).unwrap();
        assert!((whole.loss - sharded.loss).abs() < 1e-12);
        let (a, b) = (flat(&whole.param_grads), flat(&sharded.param_grads));
        assert!(max_rel_diff(&a, &b) < 1e-12, "{method:?}");
        let (a, b) = (whole.input_grad.to_vec().unwrap(), sharded.input_grad.to_vec().unwrap());
        assert!(max_rel_diff(&a, &b) < 1e-12, "{method:?}");
    }
}

fn training_is_bit_reproducible_for_a_seed(dev: Device) {
    let cfg =
        CnfConfig { hidden: vec![16, 16], batch: 256, iterations: 5, seed: 11, device: dev, ..CnfConfig::reference(2) };
    let run = || {
        let m = train_cnf::<f32>(&cfg, |n, rng| Toy::EightGaussians.sample(n, rng), |_, _| Ok(())).unwrap();
        m.blocks[0].store.values().iter().flat_map(|t| t.to_vec().unwrap()).map(f32::to_bits).collect::<Vec<u32>>()
    };
    let (a, b) = (run(), run());
    assert_eq!(a, b);
    let other = CnfConfig { seed: 12, ..cfg.clone() };
    let c = train_cnf::<f32>(&other, |n, rng| Toy::EightGaussians.sample(n, rng), |_, _| Ok(())).unwrap();
    let c: Vec<u32> = c.blocks[0].store.values().iter().flat_map(|t| t.to_vec().unwrap()).map(f32::to_bits).collect();
    assert_ne!(a, c, "a different seed must give a different model");
}

on_every_device!(
    direct_gradient_matches_finite_differences,
    untracked_forward_is_the_recorded_one,
    checkpointed_equals_direct,
    the_discrete_jacobian_is_the_derivative_of_the_solver_map,
    the_map_log_det_and_the_divergence_integral_meet_at_the_solver_order,
    the_discrete_map_is_inverted_to_round_off,
    adjoint_converges_to_direct_at_the_solver_order,
    adjoint_gradient_matches_finite_differences,
    inversion_of_a_trained_field_is_accurate_at_fine_steps,
    sharded_nll_gradient_equals_the_whole_batch_gradient,
    training_is_bit_reproducible_for_a_seed,
);
