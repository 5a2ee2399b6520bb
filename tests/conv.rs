//! The convolution and resampling ops: outputs against direct loops at many
//! shapes (2-D and 1-D, strides, padding, odd sizes), adjointness of the
//! pairs, gradients against central differences in f64 for every new op, and
//! the group norm's forward-mode tangents against finite-difference JVPs.

use wasserflow::autodiff::Tape;
use wasserflow::autodiff::gradcheck::{GradCheck, check_op, random_inputs};
use wasserflow::backend::cpu::conv::{ConvGeometry, PoolGeometry};
use wasserflow::nn::ParamStore;
use wasserflow::nn::conv::{conv, conv_reference};
use wasserflow::nn::group_norm::{GroupNorm, group_count};
use wasserflow::nn::time_embedding::{frequencies, sinusoids_rows};
use wasserflow::{Rng, Tensor};

/// (batch, h, w, c, kh, kw, stride_h, stride_w, pad_h, pad_w, c_out)
const GEOMETRIES: &[[usize; 11]] = &[
    [1, 5, 5, 1, 3, 3, 1, 1, 1, 1, 1],
    [2, 7, 6, 3, 3, 3, 1, 1, 1, 1, 4],
    [3, 8, 8, 2, 3, 3, 2, 2, 1, 1, 5],
    [2, 9, 7, 2, 5, 3, 2, 1, 2, 0, 3],
    [1, 4, 4, 4, 1, 1, 1, 1, 0, 0, 2],
    [2, 6, 5, 1, 2, 2, 2, 2, 0, 0, 3],
    [1, 3, 3, 2, 3, 3, 3, 3, 2, 2, 2],
    [2, 11, 13, 3, 4, 2, 3, 2, 1, 1, 2],
    [2, 28, 28, 1, 3, 3, 1, 1, 1, 1, 8],
    // 1-D: h = kh = 1.
    [3, 1, 17, 2, 1, 3, 1, 1, 0, 1, 4],
    [2, 1, 16, 3, 1, 5, 1, 2, 0, 2, 2],
    [1, 1, 9, 1, 1, 4, 1, 3, 0, 0, 3],
];

fn geometry(v: &[usize; 11]) -> (ConvGeometry, usize) {
    let [batch, h, w, c, kh, kw, stride_h, stride_w, pad_h, pad_w, c_out] = *v;
    (ConvGeometry { batch, h, w, c, kh, kw, stride_h, stride_w, pad_h, pad_w }, c_out)
}

fn random(n: usize, seed: u64) -> Tensor<f64> {
    Tensor::rand_uniform([n], -1.0, 1.0, &mut Rng::seed(seed)).unwrap()
}

fn dot(a: &Tensor<f64>, b: &Tensor<f64>) -> f64 {
    a.to_vec().unwrap().iter().zip(b.to_vec().unwrap()).map(|(x, y)| x * y).sum()
}

#[test]
fn conv_matches_direct_loops_at_many_shapes() {
    for (i, v) in GEOMETRIES.iter().enumerate() {
        let (g, c_out) = geometry(v);
        let x = random(g.in_len(), i as u64);
        let w = random(g.col_width() * c_out, 100 + i as u64).reshape([g.col_width(), c_out]).unwrap();
        let tape = Tape::new();
        let y = conv(tape.constant(x.clone()), tape.constant(w.clone()), &g).unwrap().value();
        assert_eq!(y.dims(), [g.batch * g.out_h() * g.out_w(), c_out], "{g:?}");
        let want = conv_reference(&x.to_vec().unwrap(), &w.to_vec().unwrap(), &g, c_out);
        for (a, b) in y.to_vec().unwrap().iter().zip(&want) {
            assert!((a - b).abs() < 1e-12, "{g:?}: {a} vs {b}");
        }
        // f32 through the same path agrees to single precision.
        let y32 = x.cast::<f32>().unwrap().im2col(&g).unwrap().matmul(&w.cast::<f32>().unwrap()).unwrap();
        for (a, b) in y32.to_f64_vec().unwrap().iter().zip(&want) {
            assert!((a - b).abs() < 1e-5 * (1.0 + b.abs()), "{g:?} f32: {a} vs {b}");
        }
    }
}

#[test]
fn im2col_and_col2im_are_adjoint() {
    for (i, v) in GEOMETRIES.iter().enumerate() {
        let (g, _) = geometry(v);
        let x = random(g.in_len(), 7 + i as u64);
        let c = random(g.cols_len(), 70 + i as u64);
        let lhs = dot(&x.im2col(&g).unwrap().reshape([g.cols_len()]).unwrap(), &c);
        let rhs = dot(&x, &c.col2im(&g).unwrap().reshape([g.in_len()]).unwrap());
        assert!((lhs - rhs).abs() < 1e-10 * (1.0 + lhs.abs()), "{g:?}: {lhs} vs {rhs}");
    }
}

const POOLS: &[[usize; 6]] =
    &[[1, 2, 2, 1, 2, 2], [2, 4, 6, 3, 2, 2], [3, 6, 9, 2, 3, 3], [2, 1, 8, 4, 1, 2], [1, 4, 4, 1, 4, 1]];

fn pool(v: &[usize; 6]) -> PoolGeometry {
    let [batch, h, w, c, kh, kw] = *v;
    PoolGeometry { batch, h, w, c, kh, kw }
}

#[test]
fn pooling_and_upsampling_match_direct_loops_and_are_adjoint() {
    for (i, v) in POOLS.iter().enumerate() {
        let g = pool(v);
        let x = random(g.fine_len(), 11 + i as u64);
        let xs = x.to_vec().unwrap();
        let s = x.pool_sum(&g).unwrap().to_vec().unwrap();
        let (ch, cw) = (g.h / g.kh, g.w / g.kw);
        for b in 0..g.batch {
            for y in 0..ch {
                for xx in 0..cw {
                    for c in 0..g.c {
                        let mut want = 0.0;
                        for dy in 0..g.kh {
                            for dx in 0..g.kw {
                                want += xs[((b * g.h + y * g.kh + dy) * g.w + xx * g.kw + dx) * g.c + c];
                            }
                        }
                        let got = s[((b * ch + y) * cw + xx) * g.c + c];
                        assert!((got - want).abs() < 1e-12, "{g:?}");
                    }
                }
            }
        }
        let coarse = random(g.coarse_len(), 111 + i as u64);
        let up = coarse.upsample_nearest(&g).unwrap();
        let (cv, uv) = (coarse.to_vec().unwrap(), up.to_vec().unwrap());
        for b in 0..g.batch {
            for y in 0..g.h {
                for xx in 0..g.w {
                    for c in 0..g.c {
                        assert_eq!(
                            uv[((b * g.h + y) * g.w + xx) * g.c + c],
                            cv[((b * ch + y / g.kh) * cw + xx / g.kw) * g.c + c]
                        );
                    }
                }
            }
        }
        let lhs = dot(&up.reshape([g.fine_len()]).unwrap(), &x);
        let rhs = dot(&coarse, &x.pool_sum(&g).unwrap().reshape([g.coarse_len()]).unwrap());
        assert!((lhs - rhs).abs() < 1e-10 * (1.0 + lhs.abs()));
    }
}

#[test]
fn gradients_of_im2col_col2im_and_conv() {
    for v in &GEOMETRIES[..8] {
        let (g, c_out) = geometry(v);
        let r = check_op(&[&[g.in_len()]], |v| v[0].im2col(&g)).unwrap();
        assert_eq!(r.checked, g.in_len());
        check_op(&[&[g.col_rows(), g.col_width()]], |v| v[0].col2im(&g)).unwrap();
        // Both operands of the convolution at once.
        let r = check_op(&[&[g.in_len()], &[g.col_width(), c_out]], |v| conv(v[0], v[1], &g)).unwrap();
        assert_eq!(r.checked, g.in_len() + g.col_width() * c_out);
    }
    for v in &GEOMETRIES[9..] {
        let (g, c_out) = geometry(v);
        check_op(&[&[g.in_len()], &[g.col_width(), c_out]], |v| conv(v[0], v[1], &g)).unwrap();
    }
}

#[test]
fn gradients_of_pooling_and_upsampling() {
    for v in POOLS {
        let g = pool(v);
        check_op(&[&[g.fine_len()]], |v| v[0].pool_sum(&g)).unwrap();
        check_op(&[&[g.fine_len()]], |v| v[0].avg_pool(&g)).unwrap();
        check_op(&[&[g.coarse_len()]], |v| v[0].upsample_nearest(&g)).unwrap();
        // A nonlinear function after the op, so the rule is not checked only on a linear output.
        check_op(&[&[g.coarse_len()]], |v| v[0].upsample_nearest(&g)?.tanh()).unwrap();
    }
}

#[test]
fn bad_geometries_are_errors() {
    let x = Tensor::<f64>::zeros([2 * 3 * 3]);
    let too_big = ConvGeometry::square(2, 3, 3, 1, 5, 1, 0);
    assert!(x.im2col(&too_big).unwrap_err().to_string().contains("does not fit"));
    let wrong_len = ConvGeometry::square(3, 3, 3, 1, 3, 1, 1);
    assert!(x.im2col(&wrong_len).is_err());
    let zero_stride = ConvGeometry::square(2, 3, 3, 1, 3, 0, 1);
    assert!(x.im2col(&zero_stride).is_err());
    let untiled = PoolGeometry { batch: 2, h: 3, w: 3, c: 1, kh: 2, kw: 2 };
    assert!(x.pool_sum(&untiled).unwrap_err().to_string().contains("tile"));
}

fn norm_store(channels: usize, groups: usize) -> (ParamStore<f64>, GroupNorm) {
    let mut store = ParamStore::new();
    let gn = GroupNorm::new(&mut store, "gn", channels, groups).unwrap();
    // Non-trivial scale so that γ is exercised.
    let gamma = Tensor::rand_uniform([channels], 0.5, 1.5, &mut Rng::seed(3)).unwrap();
    store.set(gn.gamma, gamma).unwrap();
    (store, gn)
}

#[test]
fn group_norm_standardizes_each_block_and_has_gradients() {
    assert_eq!(group_count(12, 8), 6);
    assert_eq!(group_count(7, 8), 7);
    assert_eq!(group_count(32, 8), 8);
    let (images, pixels, channels) = (3, 5, 6);
    let mut store = ParamStore::<f64>::new();
    let gn = GroupNorm::new(&mut store, "gn", channels, 3).unwrap();
    let x = random(images * pixels * channels, 5).scale(3.0).unwrap().add_scalar_for_test(2.0);
    let tape = Tape::new();
    let p = store.attach(&tape);
    let y = gn.forward(&p, tape.constant(x.reshape([images * pixels, channels]).unwrap()), images, pixels).unwrap();
    let yv = y.value().to_vec().unwrap();
    for i in 0..images {
        for g in 0..3 {
            let block: Vec<f64> = (0..pixels)
                .flat_map(|q| (0..2).map(move |c| (i * pixels + q) * channels + g * 2 + c))
                .map(|k| yv[k])
                .collect();
            let n = block.len() as f64;
            let mean = block.iter().sum::<f64>() / n;
            let var = block.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n;
            assert!(mean.abs() < 1e-12 && (var - 1.0).abs() < 1e-3, "mean {mean} var {var}");
        }
    }
    // Gradient in x and γ (the store's parameters passed as checked inputs).
    let (store, gn) = norm_store(channels, 3);
    let gamma = store.get(gn.gamma).clone();
    let inputs =
        vec![random_inputs(&[&[images * pixels, channels]], -2.0, 2.0).remove(0), gamma, store.get(gn.beta).clone()];
    GradCheck::default()
        .run(&inputs, |v| {
            let p = wasserflow::nn::Params::from_vars(vec![v[1], v[2]]);
            gn.forward(&p, v[0], images, pixels)
        })
        .unwrap();
    // One channel per group, and one group of all channels; 9 images (more
    // than one task of the fused kernel).
    for (channels, groups) in [(5, 5), (8, 1)] {
        let (store, gn) = norm_store(channels, groups);
        let (images, pixels) = (9, 4);
        let inputs = vec![
            random_inputs(&[&[images * pixels, channels]], -2.0, 2.0).remove(0),
            store.get(gn.gamma).clone(),
            store.get(gn.beta).clone(),
        ];
        GradCheck::default()
            .run(&inputs, |v| {
                let p = wasserflow::nn::Params::from_vars(vec![v[1], v[2]]);
                gn.forward(&p, v[0], images, pixels)
            })
            .unwrap();
    }
}

trait AddScalar {
    fn add_scalar_for_test(&self, c: f64) -> Self;
}
impl AddScalar for Tensor<f64> {
    fn add_scalar_for_test(&self, c: f64) -> Self {
        self.unary(wasserflow::backend::UnaryOp::AddScalar(c)).unwrap()
    }
}

#[test]
fn group_norm_tangents_are_finite_difference_jvps() {
    let (batch, pixels, channels, k) = (2, 4, 4, 2);
    let (store, gn) = norm_store(channels, 2);
    let x = random(batch * pixels * channels, 21).reshape([batch * pixels, channels]).unwrap();
    let u = random(k * batch * pixels * channels, 22).reshape([k * batch * pixels, channels]).unwrap();
    let tape = Tape::new();
    let p = store.attach(&tape);
    let stacked = Tensor::concat(&[&x, &u], 0).unwrap();
    let out = gn.forward_with_tangents(&p, tape.constant(stacked), batch, pixels).unwrap().value();
    let got = out.slice(0, batch * pixels, k * batch * pixels).unwrap().to_vec().unwrap();
    let primal = out.slice(0, 0, batch * pixels).unwrap().to_vec().unwrap();
    let eval = |x: &Tensor<f64>| -> Vec<f64> {
        let tape = Tape::new();
        let p = store.attach(&tape);
        gn.forward(&p, tape.constant(x.clone()), batch, pixels).unwrap().value().to_vec().unwrap()
    };
    // The fused kernel (forward) and the composite (tangent path) agree.
    for (a, b) in primal.iter().zip(eval(&x)) {
        assert!((a - b).abs() < 1e-12, "{a} vs {b}");
    }
    let eps = 1e-6;
    for j in 0..k {
        let uj = u.slice(0, j * batch * pixels, batch * pixels).unwrap();
        let plus = eval(&x.add(&uj.scale(eps).unwrap()).unwrap());
        let minus = eval(&x.sub(&uj.scale(eps).unwrap()).unwrap());
        for (i, (a, b)) in plus.iter().zip(&minus).enumerate() {
            let fd = (a - b) / (2.0 * eps);
            let an = got[j * batch * pixels * channels + i];
            assert!((fd - an).abs() < 1e-7 * (1.0 + fd.abs()), "direction {j} entry {i}: {an} vs {fd}");
        }
    }
    // And the tangent rows differentiate correctly in x, u and γ.
    let inputs = vec![Tensor::concat(&[&x, &u], 0).unwrap(), store.get(gn.gamma).clone(), store.get(gn.beta).clone()];
    GradCheck::default()
        .run(&inputs, |v| {
            let p = wasserflow::nn::Params::from_vars(vec![v[1], v[2]]);
            gn.forward_with_tangents(&p, v[0], batch, pixels)
        })
        .unwrap();
}

#[test]
fn sinusoidal_embedding_values_and_gradient() {
    let omegas = frequencies(4, 100.0);
    assert!((omegas[0] - 1.0).abs() < 1e-15 && (omegas[3] - 100.0).abs() < 1e-12);
    let t = Tensor::<f64>::from_f64s(&[0.0, 0.25, 0.9], [3, 1]).unwrap();
    let tape = Tape::new();
    let s = sinusoids_rows(tape.constant(t), &omegas).unwrap().value().to_vec().unwrap();
    assert_eq!(&s[..8], &[0.0, 0.0, 0.0, 0.0, 1.0, 1.0, 1.0, 1.0]);
    assert!((s[8] - (0.25f64).sin()).abs() < 1e-15 && (s[12] - (0.25f64).cos()).abs() < 1e-15);
    GradCheck::default()
        .run(&[Tensor::from_f64s(&[0.1, 0.5, 0.77], [3, 1]).unwrap()], |v| sinusoids_rows(v[0], &omegas))
        .unwrap();
}
