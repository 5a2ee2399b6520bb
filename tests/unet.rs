//! The U-Net velocity field: its forward-mode tangent rows equal
//! finite-difference Jacobian-vector products (2-D and 1-D), per-row times
//! agree with one shared time, `eval` with the recorded forward, gradients
//! in the input and parameters against central differences, and bad shapes
//! are errors.

use wasserflow::autodiff::Tape;
use wasserflow::autodiff::gradcheck::GradCheck;
use wasserflow::nn::{ParamStore, Params, UNet, UNetSpec, VelocityField};
use wasserflow::{Rng, Tensor};

fn small(spec: UNetSpec) -> (ParamStore<f64>, UNet) {
    let mut store = ParamStore::new();
    let mut spec = spec;
    spec.time_dim = 8;
    spec.time_freqs = 3;
    spec.max_groups = 2;
    let net = UNet::new(&mut store, "v", spec, &mut Rng::seed(1)).unwrap();
    (store, net)
}

fn points(n: usize, d: usize, seed: u64) -> Tensor<f64> {
    Tensor::rand_uniform([n, d], -1.0, 1.0, &mut Rng::seed(seed)).unwrap()
}

fn check_tangents(spec: UNetSpec) {
    let (store, net) = small(spec);
    let d = VelocityField::<f64>::dim(&net);
    let (batch, k, t) = (2, 2, 0.3);
    let x = points(batch, d, 2);
    let u = points(k * batch, d, 3);
    let tape = Tape::new();
    let p = store.attach(&tape);
    let (v, jv) = net.forward_with_tangents(&p, tape.constant(x.clone()), t, tape.constant(u.clone())).unwrap();
    let direct = net.eval(&store, &x, t).unwrap().to_vec().unwrap();
    for (a, b) in v.value().to_vec().unwrap().iter().zip(&direct) {
        assert!((a - b).abs() < 1e-12, "primal rows {a} vs {b}");
    }
    let jv = jv.value().to_vec().unwrap();
    let eps = 1e-6;
    for j in 0..k {
        let uj = u.slice(0, j * batch, batch).unwrap();
        let plus = net.eval(&store, &x.add(&uj.scale(eps).unwrap()).unwrap(), t).unwrap().to_vec().unwrap();
        let minus = net.eval(&store, &x.sub(&uj.scale(eps).unwrap()).unwrap(), t).unwrap().to_vec().unwrap();
        let mut worst: f64 = 0.0;
        for (i, (a, b)) in plus.iter().zip(&minus).enumerate() {
            let fd = (a - b) / (2.0 * eps);
            let an = jv[j * batch * d + i];
            worst = worst.max((fd - an).abs() / (1e-6 + fd.abs()));
            assert!((fd - an).abs() < 1e-6 * (1.0 + fd.abs()), "direction {j} entry {i}: {an} vs {fd}");
        }
        assert!(worst.is_finite());
    }
}

#[test]
fn tangent_rows_are_finite_difference_jvps_2d() {
    check_tangents(UNetSpec::new(1, 4, 4, &[4, 6]));
    check_tangents(UNetSpec { blocks: 2, ..UNetSpec::new(2, 4, 2, &[2, 4]) });
}

#[test]
fn tangent_rows_are_finite_difference_jvps_1d() {
    check_tangents(UNetSpec::new(1, 1, 8, &[4, 4, 6]));
}

#[test]
fn per_row_times_agree_with_a_shared_time() {
    let (store, net) = small(UNetSpec::new(1, 4, 4, &[4, 6]));
    let x = points(3, 16, 5);
    let tape = Tape::new();
    let p = store.attach(&tape);
    let t = tape.constant(Tensor::full([3, 1], 0.4, wasserflow::Device::Cpu).unwrap());
    let rows = net.forward_rows(&p, tape.constant(x.clone()), t).unwrap().value().to_vec().unwrap();
    let shared = net.eval(&store, &x, 0.4).unwrap().to_vec().unwrap();
    for (a, b) in rows.iter().zip(&shared) {
        assert!((a - b).abs() < 1e-12);
    }
    // And the time matters.
    let other = net.eval(&store, &x, 0.9).unwrap().to_vec().unwrap();
    assert!(other.iter().zip(&shared).any(|(a, b)| (a - b).abs() > 1e-6));
}

#[test]
fn gradients_in_input_time_and_parameters() {
    let (store, net) = small(UNetSpec::new(1, 4, 4, &[2, 4]));
    let x = points(2, 16, 7);
    // Input and every parameter at once, through the per-row-time path with t as an input too.
    let mut inputs = vec![x, Tensor::from_f64s(&[0.2, 0.7], [2, 1]).unwrap()];
    inputs.extend(store.values().iter().cloned());
    let r = GradCheck { rtol: 1e-5, atol: 1e-7, ..GradCheck::default() }
        .run(&inputs, |v| {
            let p = Params::from_vars(v[2..].to_vec());
            net.forward_rows(&p, v[0], v[1])
        })
        .unwrap();
    assert!(r.checked > 100, "{r:?}");
}

#[test]
fn bad_shapes_and_specs_are_errors() {
    let mut store = ParamStore::<f32>::new();
    let e = UNet::new(&mut store, "v", UNetSpec::new(1, 6, 6, &[4, 4, 4]), &mut Rng::seed(0)).unwrap_err();
    assert!(e.to_string().contains("divisible"), "{e}");
    assert!(UNet::new(&mut store, "w", UNetSpec::new(1, 4, 4, &[]), &mut Rng::seed(0)).is_err());
    let net = UNet::new(&mut store, "u", UNetSpec::new(1, 4, 4, &[4]), &mut Rng::seed(0)).unwrap();
    let e = net.eval(&store, &Tensor::zeros([2, 15]), 0.0).unwrap_err();
    assert!(e.to_string().contains("[batch, 16]"), "{e}");
}
