//! Velocity fields: tape and untracked evaluation agree, tangents are
//! Jacobian-vector products, and the Hutchinson term's parameter gradient
//! matches finite differences, for the time-MLP and ConcatSquash fields.

mod common;

use wasserflow::autodiff::Tape;
use wasserflow::autodiff::gradcheck::{GradCheck, random_inputs};
use wasserflow::nn::{Activation, ConcatSquashMlp, Init, ParamStore, Params, TimeMlp, VelocityField};
use wasserflow::{Device, Rng, Tensor};

/// Each field with its parameters on `dev`.
fn fields(dev: Device) -> Vec<(ParamStore<f64>, Box<dyn VelocityField<f64>>)> {
    let mut out: Vec<(ParamStore<f64>, Box<dyn VelocityField<f64>>)> = Vec::new();
    for act in [Activation::Tanh, Activation::Softplus { beta: 1.0 }] {
        let mut s = ParamStore::new();
        let f = TimeMlp::new(&mut s, "v", 3, &[6, 5], act, Init::XavierNormal, &mut Rng::seed(1)).unwrap();
        out.push((s.to_device(dev).unwrap(), Box::new(f)));
        let mut s = ParamStore::new();
        let f = ConcatSquashMlp::new(&mut s, "v", 3, &[6, 5], act, Init::XavierNormal, &mut Rng::seed(2)).unwrap();
        out.push((s.to_device(dev).unwrap(), Box::new(f)));
    }
    out
}

fn tape_and_eval_agree(dev: Device) {
    let x = random_inputs(&[&[5, 3]], -1.0, 1.0).remove(0).to_device(dev).unwrap();
    for (store, f) in fields(dev) {
        let tape = Tape::new();
        let p = store.attach(&tape);
        let a = f.forward(&p, tape.constant(x.clone()), 0.37).unwrap().value().to_vec().unwrap();
        let b = f.eval(&store, &x, 0.37).unwrap().to_vec().unwrap();
        for (u, v) in a.iter().zip(&b) {
            assert!((u - v).abs() < 1e-14);
        }
        let t = tape.constant(Tensor::zeros_on([10, 3], dev).unwrap());
        let (c, _) = f.forward_with_tangents(&p, tape.constant(x.clone()), 0.37, t).unwrap();
        assert_eq!(c.value().to_vec().unwrap(), a);
    }
}

fn tangents_are_jacobian_vector_products(dev: Device) {
    let ins: Vec<_> =
        random_inputs(&[&[4, 3], &[8, 3]], -1.0, 1.0).into_iter().map(|t| t.to_device(dev).unwrap()).collect();
    let (x, tan) = (&ins[0], &ins[1]);
    let (xv, tv) = (x.to_vec().unwrap(), tan.to_vec().unwrap());
    for (store, f) in fields(dev) {
        let tape = Tape::new();
        let p = store.attach_frozen(&tape);
        let (_, jt) = f.forward_with_tangents(&p, tape.constant(x.clone()), 0.8, tape.constant(tan.clone())).unwrap();
        let jt = jt.value().to_vec().unwrap();
        let h = 1e-6;
        for probe in 0..2 {
            let at = |s: f64| {
                let v: Vec<f64> = (0..12).map(|i| xv[i] + s * tv[probe * 12 + i]).collect();
                f.eval(&store, &Tensor::from_vec(v, [4, 3]).unwrap().to_device(dev).unwrap(), 0.8)
                    .unwrap()
                    .to_vec()
                    .unwrap()
            };
            let (up, down) = (at(h), at(-h));
            for i in 0..12 {
                let fd = (up[i] - down[i]) / (2.0 * h);
                assert!((fd - jt[probe * 12 + i]).abs() < 1e-7, "{fd} vs {}", jt[probe * 12 + i]);
            }
        }
    }
}

fn time_derivative_matches_finite_differences(dev: Device) {
    // The field depends on t: compare ∂v/∂t by differences with a smooth change.
    let x = random_inputs(&[&[2, 3]], -1.0, 1.0).remove(0).to_device(dev).unwrap();
    for (store, f) in fields(dev) {
        let a = f.eval(&store, &x, 0.3).unwrap().to_vec().unwrap();
        let b = f.eval(&store, &x, 0.3 + 1e-3).unwrap().to_vec().unwrap();
        assert!(a.iter().zip(&b).any(|(u, v)| (u - v).abs() > 1e-7), "field ignores time");
        assert!(a.iter().zip(&b).all(|(u, v)| (u - v).abs() < 1e-1));
    }
}

fn hutchinson_term_gradient_matches_finite_differences(dev: Device) {
    for (store, f) in fields(dev) {
        let mut rng = Rng::seed(4);
        let mut inputs = random_inputs(&[&[3, 3]], -1.0, 1.0);
        inputs.push(Tensor::rademacher([6, 3], &mut rng).unwrap()); // two probes
        inputs.extend(store.values().iter().cloned());
        GradCheck::on(dev)
            .run(&inputs, |v| {
                let p = Params::from_vars(v[2..].to_vec());
                let (y, jt) = f.forward_with_tangents(&p, v[0], 0.6, v[1])?;
                jt.mul(&v[1])?.sum_all()?.add(&y.square()?.sum_all()?)
            })
            .unwrap();
    }
}

fn wrong_dimension_is_an_error(dev: Device) {
    for (store, f) in fields(dev) {
        assert!(f.eval(&store, &Tensor::zeros_on([4, 2], dev).unwrap(), 0.0).is_err());
    }
}

on_every_device!(
    tape_and_eval_agree,
    tangents_are_jacobian_vector_products,
    time_derivative_matches_finite_differences,
    hutchinson_term_gradient_matches_finite_differences,
    wrong_dimension_is_an_error,
);
