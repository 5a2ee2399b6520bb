//! Models and optimizers: the MLP, its Jacobian-vector products and their
//! parameter gradients (the Hutchinson term), Adam/AdamW/SGD against scalar
//! reference implementations, clipping and schedules.

mod common;

use wasserflow::autodiff::Tape;
use wasserflow::autodiff::gradcheck::{GradCheck, random_inputs};
use wasserflow::nn::{Activation, Init, Mlp, ParamStore, Params};
use wasserflow::optim::{Adam, Ema, Optimizer, Sgd, clip_grad_norm, grad_norm};
use wasserflow::{Device, Rng, Tensor};

fn small_mlp(act: Activation, dev: Device) -> (ParamStore<f64>, Mlp) {
    let mut store = ParamStore::new();
    let mut rng = Rng::seed(11);
    let mlp = Mlp::new(&mut store, "v", &[3, 5, 4, 2], act, Init::XavierNormal, &mut rng).unwrap();
    (store.to_device(dev).unwrap(), mlp)
}

fn forward_on_tape_matches_eval(dev: Device) {
    let (store, mlp) = small_mlp(Activation::Tanh, dev);
    let x = random_inputs(&[&[7, 3]], -1.0, 1.0).remove(0).to_device(dev).unwrap();
    let tape = Tape::new();
    let p = store.attach(&tape);
    let y = mlp.forward(&p, tape.constant(x.clone())).unwrap().value().to_vec().unwrap();
    let z = mlp.eval(&store, &x).unwrap().to_vec().unwrap();
    assert_eq!(y, z);
}

fn tangents_are_jacobian_vector_products(dev: Device) {
    for act in [Activation::Tanh, Activation::Softplus { beta: 1.0 }, Activation::Silu, Activation::Elu { alpha: 1.0 }]
    {
        let (store, mlp) = small_mlp(act, dev);
        let ins: Vec<_> =
            random_inputs(&[&[4, 3], &[8, 3]], -1.0, 1.0).into_iter().map(|t| t.to_device(dev).unwrap()).collect();
        let (x, t) = (&ins[0], &ins[1]);
        let tape = Tape::new();
        let p = store.attach_frozen(&tape);
        let (_, jt) = mlp.forward_with_tangents(&p, tape.constant(x.clone()), tape.constant(t.clone())).unwrap();
        let jt = jt.value().to_vec().unwrap();
        // Central differences of the network along each direction.
        let (xv, tv) = (x.to_vec().unwrap(), t.to_vec().unwrap());
        let h = 1e-6;
        for probe in 0..2 {
            let shifted = |s: f64| {
                let v: Vec<f64> = (0..12).map(|i| xv[i] + s * tv[probe * 12 + i]).collect();
                mlp.eval(&store, &Tensor::from_vec(v, [4, 3]).unwrap().to_device(dev).unwrap())
                    .unwrap()
                    .to_vec()
                    .unwrap()
            };
            let (up, down) = (shifted(h), shifted(-h));
            for i in 0..8 {
                let fd = (up[i] - down[i]) / (2.0 * h);
                assert!((fd - jt[probe * 8 + i]).abs() < 1e-7, "{act:?}: {fd} vs {}", jt[probe * 8 + i]);
            }
        }
    }
}

fn gradient_of_hutchinson_term_matches_finite_differences(dev: Device) {
    for act in [Activation::Tanh, Activation::Softplus { beta: 1.0 }, Activation::Sigmoid, Activation::Silu] {
        // A 3 → 5 → 4 → 3 field so that εᵀ J ε is defined (square Jacobian).
        let mut store = ParamStore::new();
        let mut rng = Rng::seed(5);
        let mlp = Mlp::new(&mut store, "v", &[3, 5, 4, 3], act, Init::XavierNormal, &mut rng).unwrap();
        let mut inputs = random_inputs(&[&[4, 3]], -1.0, 1.0);
        inputs.push(Tensor::rademacher([4, 3], &mut rng).unwrap());
        inputs.extend(store.values().iter().cloned());
        let r = GradCheck::on(dev)
            .run(&inputs, |v| {
                let p = Params::from_vars(v[2..].to_vec());
                let (y, jt) = mlp.forward_with_tangents(&p, v[0], v[1])?;
                jt.mul(&v[1])?.sum_all()?.add(&y.square()?.sum_all()?)
            })
            .unwrap_or_else(|e| panic!("{act:?}: {e}"));
        assert!(r.checked > 60);
    }
}

fn gradient_of_exact_trace_matches_finite_differences(dev: Device) {
    // tr(∂v/∂x) with d = 2 unit tangents (the exact divergence), differentiated
    // with respect to x and every parameter.
    let mut store = ParamStore::new();
    let mut rng = Rng::seed(9);
    let mlp = Mlp::new(&mut store, "v", &[2, 6, 2], Activation::Tanh, Init::XavierNormal, &mut rng).unwrap();
    let b = 3;
    let mut e = vec![0.0; 2 * b * 2];
    for i in 0..b {
        e[i * 2] = 1.0; // direction 0
        e[(b + i) * 2 + 1] = 1.0; // direction 1
    }
    let mut inputs = random_inputs(&[&[b, 2]], -1.0, 1.0);
    inputs.push(Tensor::from_vec(e, [2 * b, 2]).unwrap());
    inputs.extend(store.values().iter().cloned());
    GradCheck::on(dev)
        .run(&inputs, |v| {
            let p = Params::from_vars(v[2..].to_vec());
            let (_, jt) = mlp.forward_with_tangents(&p, v[0], v[1])?;
            jt.mul(&v[1])?.sum_all()
        })
        .unwrap();
}

#[test]
fn mlp_rejects_bad_shapes() {
    let (store, mlp) = small_mlp(Activation::Tanh, Device::Cpu);
    assert!(mlp.eval(&store, &Tensor::zeros([4, 2])).is_err());
    let mut s2 = ParamStore::<f64>::new();
    assert!(Mlp::new(&mut s2, "m", &[3], Activation::Tanh, Init::Zeros, &mut Rng::seed(0)).is_err());
    assert!(Activation::from_name("nope").is_err());
}

/// One parameter vector, optimized by us and by a scalar reference on a
/// sequence of gradients.
fn compare<O: Optimizer<f64>>(mut opt: O, reference: impl Fn(&mut [f64], &[f64], &mut Vec<Vec<f64>>, u64)) {
    let mut rng = Rng::seed(21);
    let p0: Vec<f64> = (0..10).map(|_| rng.normal()).collect();
    let mut store = ParamStore::new();
    store.add("p", Tensor::from_vec(p0.clone(), [10]).unwrap()).unwrap();
    let mut pr = p0;
    let mut state = Vec::new();
    for t in 1..=5 {
        let g: Vec<f64> = (0..10).map(|_| rng.normal()).collect();
        opt.step(&mut store, &[Tensor::from_vec(g.clone(), [10]).unwrap()]).unwrap();
        reference(&mut pr, &g, &mut state, t);
        let ours = store.values()[0].to_vec().unwrap();
        for (a, b) in ours.iter().zip(&pr) {
            assert!((a - b).abs() < 1e-12, "step {t}: {a} vs {b}");
        }
    }
}

fn adam_reference(lr: f64, wd: f64, decoupled: bool) -> impl Fn(&mut [f64], &[f64], &mut Vec<Vec<f64>>, u64) {
    move |p, g, st, t| {
        if st.is_empty() {
            *st = vec![vec![0.0; p.len()], vec![0.0; p.len()]];
        }
        let (b1, b2, eps) = (0.9f64, 0.999f64, 1e-8);
        for i in 0..p.len() {
            let gi = if decoupled { g[i] } else { g[i] + wd * p[i] };
            st[0][i] = b1 * st[0][i] + (1.0 - b1) * gi;
            st[1][i] = b2 * st[1][i] + (1.0 - b2) * gi * gi;
            let mh = st[0][i] / (1.0 - b1.powi(t as i32));
            let vh = st[1][i] / (1.0 - b2.powi(t as i32));
            if decoupled {
                p[i] -= lr * wd * p[i];
            }
            p[i] -= lr * mh / (vh.sqrt() + eps);
        }
    }
}

#[test]
fn adam_matches_reference() {
    compare(Adam::new(0.01), adam_reference(0.01, 0.0, false));
    compare(Adam::new(0.01).weight_decay(0.1), adam_reference(0.01, 0.1, false));
    compare(Adam::adamw(0.01, 0.1), adam_reference(0.01, 0.1, true));
}

#[test]
fn sgd_matches_reference() {
    for (mu, nesterov, wd) in [(0.0, false, 0.0), (0.9, false, 0.0), (0.9, true, 0.01), (0.5, false, 0.1)] {
        let lr = 0.05;
        compare(Sgd::new(lr).momentum(mu).nesterov(nesterov).weight_decay(wd), move |p, g, st, _t| {
            let first = st.is_empty();
            if first {
                st.push(vec![0.0; p.len()]);
            }
            for i in 0..p.len() {
                let mut d = g[i] + wd * p[i];
                if mu != 0.0 {
                    st[0][i] = if first { d } else { mu * st[0][i] + d };
                    d = if nesterov { d + mu * st[0][i] } else { st[0][i] };
                }
                p[i] -= lr * d;
            }
        });
    }
}

#[test]
fn adam_minimizes_a_quadratic() {
    // f(p) = ½‖p − c‖², gradient p − c.
    let c = [3.0, -1.0, 0.5];
    let mut store = ParamStore::new();
    store.add("p", Tensor::<f64>::zeros([3])).unwrap();
    let mut opt = Adam::new(0.1);
    for _ in 0..500 {
        let p = store.values()[0].to_vec().unwrap();
        let g: Vec<f64> = p.iter().zip(&c).map(|(a, b)| a - b).collect();
        opt.step(&mut store, &[Tensor::from_vec(g, [3]).unwrap()]).unwrap();
    }
    let p = store.values()[0].to_vec().unwrap();
    for (a, b) in p.iter().zip(&c) {
        assert!((a - b).abs() < 1e-3, "{p:?}");
    }
}

#[test]
fn clipping_scales_to_the_max_norm() {
    let mut g = vec![Tensor::<f64>::from_f64s(&[3.0, 4.0], [2]).unwrap(), Tensor::from_f64s(&[12.0], [1]).unwrap()];
    assert!((grad_norm(&g).unwrap() - 13.0).abs() < 1e-12);
    let before = clip_grad_norm(&mut g, 1.3).unwrap();
    assert!((before - 13.0).abs() < 1e-12);
    assert!((grad_norm(&g).unwrap() - 1.3).abs() < 1e-6);
    // Below the bound nothing changes.
    let before = clip_grad_norm(&mut g, 10.0).unwrap();
    assert!((grad_norm(&g).unwrap() - before).abs() < 1e-15);
}

#[test]
fn optimizer_rejects_mismatched_gradients() {
    let mut store = ParamStore::new();
    store.add("p", Tensor::<f64>::zeros([3])).unwrap();
    let mut opt = Adam::new(0.1);
    assert!(opt.step(&mut store, &[Tensor::zeros([2])]).is_err());
    assert!(opt.step(&mut store, &[]).is_err());
}

#[test]
fn init_is_seeded_and_scaled() {
    let mut a = Rng::seed(1);
    let mut b = Rng::seed(1);
    let w1 = Init::XavierUniform.weight::<f64>(64, 64, &mut a).unwrap().to_vec().unwrap();
    let w2 = Init::XavierUniform.weight::<f64>(64, 64, &mut b).unwrap().to_vec().unwrap();
    assert_eq!(w1, w2);
    let bound = (6.0f64 / 128.0).sqrt();
    assert!(w1.iter().all(|w| w.abs() <= bound));
    let var = w1.iter().map(|w| w * w).sum::<f64>() / w1.len() as f64;
    assert!((var - bound * bound / 3.0).abs() < 0.1 * bound * bound / 3.0);
    let k = Init::KaimingNormal.weight::<f64>(100, 200, &mut a).unwrap().to_vec().unwrap();
    let var = k.iter().map(|w| w * w).sum::<f64>() / k.len() as f64;
    assert!((var - 0.02).abs() < 0.002, "{var}");
}

#[test]
fn data_parallel_gradients_equal_the_whole_batch_gradients() {
    let (store, mlp) = small_mlp(Activation::Tanh, Device::Cpu);
    let x = random_inputs(&[&[300, 3]], -1.0, 1.0).remove(0);
    let tape = Tape::new();
    let p = store.attach(&tape);
    let l = mlp.forward(&p, tape.constant(x.clone())).unwrap().square().unwrap().mean_all().unwrap();
    let whole = p.grads(&tape.backward(l).unwrap()).unwrap();
    let (loss, sharded) =
        wasserflow::nn::mean_loss_and_grads(&store, &x, |p, xs| mlp.forward(p, xs)?.square()?.mean_all()).unwrap();
    assert!((loss - l.value().item().unwrap()).abs() < 1e-14);
    for (a, b) in whole.iter().zip(&sharded) {
        for (u, v) in a.to_vec().unwrap().iter().zip(b.to_vec().unwrap()) {
            assert!((u - v).abs() < 1e-14 * (1.0 + u.abs()), "{u} vs {v}");
        }
    }
}

on_every_device!(
    forward_on_tape_matches_eval,
    tangents_are_jacobian_vector_products,
    gradient_of_hutchinson_term_matches_finite_differences,
    gradient_of_exact_trace_matches_finite_differences,
);

/// The moving average is the warm-up recursion `θ̄ ← d_t·θ̄ + (1 − d_t)·θ`,
/// `d_t = min(decay, (1 + t)/(10 + t))`, on every parameter; bad decays and a
/// store of another size are errors.
#[test]
fn ema_follows_its_recursion() {
    let mut store = ParamStore::<f64>::new();
    let a = store.add("a", Tensor::from_vec(vec![1.0, -2.0, 3.0], [3]).unwrap()).unwrap();
    let b = store.add("b", Tensor::from_vec(vec![0.5], [1, 1]).unwrap()).unwrap();
    let mut ema = Ema::new(0.6, &store).unwrap();
    let mut want: Vec<Vec<f64>> = store.values().iter().map(|v| v.to_vec().unwrap()).collect();
    for t in 0..12u32 {
        let x = t as f64;
        store.set(a, Tensor::from_vec(vec![x, 2.0 * x, -x], [3]).unwrap()).unwrap();
        store.set(b, Tensor::from_vec(vec![x * x], [1, 1]).unwrap()).unwrap();
        let d = 0.6f64.min((1.0 + x) / (10.0 + x));
        assert_eq!(ema.next_decay(), d);
        ema.update(&store).unwrap();
        for (w, p) in want.iter_mut().zip(store.values()) {
            for (wv, pv) in w.iter_mut().zip(p.to_vec().unwrap()) {
                *wv = d * *wv + (1.0 - d) * pv;
            }
        }
        for (w, got) in want.iter().zip(ema.average().values()) {
            for (wv, gv) in w.iter().zip(got.to_vec().unwrap()) {
                assert!((wv - gv).abs() <= 1e-12 * (1.0 + wv.abs()), "step {t}: {gv} vs {wv}");
            }
        }
    }
    for bad in [-0.1, 1.0, f64::NAN] {
        assert!(Ema::new(bad, &store).is_err(), "decay {bad}");
    }
    let mut other = ParamStore::<f64>::new();
    other.add("a", Tensor::zeros([3])).unwrap();
    assert!(ema.update(&other).is_err());
}
