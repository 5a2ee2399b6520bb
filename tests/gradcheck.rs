//! Every differentiable op against central finite differences in f64, at
//! random inputs, over several shapes including broadcasting and size-1 axes.

use wasserflow::Tensor;
use wasserflow::autodiff::gradcheck::{GradCheck, check_op, check_op_positive, random_inputs};
use wasserflow::autodiff::{Tape, Var};
use wasserflow::backend::Activation;
use wasserflow::backend::cpu::gemm::Transpose;

const SHAPES_1: &[&[usize]] = &[&[1], &[5], &[3, 4], &[2, 1, 3], &[1, 7]];

macro_rules! unary_check {
    ($name:ident, $check:ident, $($method:tt)+) => {
        #[test]
        fn $name() {
            for s in SHAPES_1 {
                let r = $check(&[s], |v| v[0].$($method)+).unwrap();
                assert!(r.checked == s.iter().product::<usize>(), "{r:?}");
            }
        }
    };
}

unary_check!(neg, check_op, neg());
unary_check!(exp, check_op, exp());
unary_check!(ln, check_op_positive, ln());
unary_check!(sqrt, check_op_positive, sqrt());
unary_check!(square, check_op, square());
unary_check!(recip, check_op_positive, recip());
unary_check!(powi3, check_op, powi(3));
unary_check!(powi_neg2, check_op_positive, powi(-2));
unary_check!(add_scalar, check_op, add_scalar(1.5));
unary_check!(mul_scalar, check_op, mul_scalar(-0.7));
unary_check!(tanh, check_op, tanh());
unary_check!(sigmoid, check_op, sigmoid());
unary_check!(softplus, check_op, softplus(1.0));
unary_check!(softplus_beta, check_op, softplus(2.5));
unary_check!(silu, check_op, silu());
unary_check!(elu, check_op, elu(1.3));
unary_check!(selu, check_op, selu());

// |x| and relu have a kink at 0; random inputs in [-2, 2) miss it almost surely,
// but finite differences straddling it would not, so keep inputs away from 0.
#[test]
fn abs_and_relu_away_from_kink() {
    let xs = vec![Tensor::from_f64s(&[-1.5, -0.3, 0.4, 1.9, -0.8, 0.25], [2, 3]).unwrap()];
    GradCheck::default().run(&xs, |v| v[0].abs()).unwrap();
    GradCheck::default().run(&xs, |v| v[0].relu()).unwrap();
}

#[test]
fn activation_derivatives_are_differentiable() {
    for a in [
        Activation::Tanh,
        Activation::Sigmoid,
        Activation::Softplus { beta: 1.0 },
        Activation::Softplus { beta: 3.0 },
        Activation::Silu,
        Activation::Elu { alpha: 0.9 },
        Activation::Selu,
    ] {
        for s in SHAPES_1 {
            check_op(&[s], |v| v[0].act_deriv(a)).unwrap_or_else(|e| panic!("{a:?}: {e}"));
        }
    }
}

#[test]
fn act_deriv_matches_finite_difference_of_act() {
    // σ'(x) computed by the op equals the derivative of σ itself.
    let xs = random_inputs(&[&[50]], -3.0, 3.0).remove(0);
    for a in [
        Activation::Tanh,
        Activation::Sigmoid,
        Activation::Softplus { beta: 2.0 },
        Activation::Silu,
        Activation::Elu { alpha: 1.0 },
        Activation::Selu,
    ] {
        let tape = Tape::new();
        let x = tape.var(xs.clone());
        let d = x.act_deriv(a).unwrap().value().to_vec().unwrap();
        let g = tape.backward(x.act(a).unwrap().sum_all().unwrap()).unwrap();
        let gx = g.get(x).unwrap().to_vec().unwrap();
        for (p, q) in d.iter().zip(&gx) {
            assert!((p - q).abs() < 1e-12, "{a:?}: {p} vs {q}");
        }
    }
}

const BINARY_SHAPES: &[(&[usize], &[usize])] = &[
    (&[4], &[4]),
    (&[3, 4], &[3, 4]),
    (&[3, 4], &[4]),
    (&[3, 4], &[1, 4]),
    (&[3, 4], &[3, 1]),
    (&[3, 1], &[1, 4]),
    (&[2, 3, 4], &[3, 1]),
    (&[1], &[2, 3]),
    (&[], &[2, 2]),
];

#[test]
fn add_sub_mul_broadcasting() {
    for (a, b) in BINARY_SHAPES {
        check_op(&[a, b], |v| v[0].add(&v[1])).unwrap();
        check_op(&[a, b], |v| v[0].sub(&v[1])).unwrap();
        check_op(&[a, b], |v| v[0].mul(&v[1])).unwrap();
        check_op(&[b, a], |v| v[0].mul(&v[1])).unwrap();
    }
}

#[test]
fn div_broadcasting() {
    for (a, b) in BINARY_SHAPES {
        check_op_positive(&[a, b], |v| v[0].div(&v[1])).unwrap();
        check_op_positive(&[b, a], |v| v[0].div(&v[1])).unwrap();
    }
}

#[test]
fn same_var_twice() {
    check_op(&[&[3, 2]], |v| v[0].mul(&v[0])).unwrap();
    check_op(&[&[3, 2]], |v| v[0].add(&v[0])?.tanh()?.mul(&v[0])).unwrap();
}

#[test]
fn lincomb() {
    check_op(&[&[3, 2], &[3, 2], &[3, 2]], |v| Var::lincomb(&[(0.5, v[0]), (-2.0, v[1]), (1.5, v[2])])).unwrap();
    check_op(&[&[4]], |v| Var::lincomb(&[(0.5, v[0]), (2.0, v[0])])).unwrap();
}

#[test]
fn matmul_all_transposes() {
    use Transpose::{No, Yes};
    for (ta, tb) in [(No, No), (No, Yes), (Yes, No), (Yes, Yes)] {
        for (m, n, k) in [(1, 1, 1), (3, 4, 5), (2, 1, 3), (1, 5, 2)] {
            let sa: Vec<usize> = if ta == No { vec![m, k] } else { vec![k, m] };
            let sb: Vec<usize> = if tb == No { vec![k, n] } else { vec![n, k] };
            check_op(&[&sa, &sb], |v| v[0].matmul_t(&v[1], ta, tb)).unwrap();
        }
    }
}

#[test]
fn batched_matmul_and_shared_operand() {
    check_op(&[&[2, 3, 4], &[2, 4, 5]], |v| v[0].matmul(&v[1])).unwrap();
    check_op(&[&[2, 3, 4], &[4, 5]], |v| v[0].matmul(&v[1])).unwrap();
    check_op(&[&[3, 4], &[2, 4, 5]], |v| v[0].matmul(&v[1])).unwrap();
    check_op(&[&[2, 4, 3], &[2, 5, 4]], |v| v[0].matmul_t(&v[1], Transpose::Yes, Transpose::Yes)).unwrap();
}

#[test]
fn affine() {
    for (m, n, k) in [(1, 1, 1), (5, 3, 4), (4, 1, 3), (2, 6, 1)] {
        check_op(&[&[m, k], &[k, n], &[n]], |v| v[0].affine(&v[1], &v[2])).unwrap();
        check_op(&[&[m, k], &[k, n], &[1, n]], |v| v[0].affine(&v[1], &v[2])).unwrap();
    }
}

#[test]
fn transpose() {
    check_op(&[&[3, 5]], |v| v[0].t()).unwrap();
    check_op(&[&[1, 4]], |v| v[0].t()?.matmul(&v[0])).unwrap();
}

#[test]
fn sums_and_means() {
    for s in [&[5][..], &[3, 4], &[2, 3, 4], &[1, 3], &[3, 1, 2]] {
        for axis in 0..s.len() {
            check_op(&[s], |v| v[0].sum_axis(axis, false)).unwrap();
            check_op(&[s], |v| v[0].sum_axis(axis, true)).unwrap();
            check_op(&[s], |v| v[0].mean_axis(axis, false)).unwrap();
        }
        check_op(&[s], |v| v[0].sum_all()).unwrap();
        check_op(&[s], |v| v[0].mean_all()).unwrap();
    }
}

#[test]
fn logsumexp() {
    for s in [&[5][..], &[3, 4], &[2, 3, 4], &[1, 3]] {
        for axis in 0..s.len() {
            check_op(&[s], |v| v[0].logsumexp(axis, false)).unwrap();
            check_op(&[s], |v| v[0].logsumexp(axis, true)).unwrap();
        }
    }
    // Large inputs must not overflow.
    let x = Tensor::<f64>::from_f64s(&[1000.0, 1001.0], [2]).unwrap();
    let tape = Tape::new();
    let y = tape.constant(x).logsumexp(0, false).unwrap().value().item().unwrap();
    assert!((y - (1001.0 + (1.0 + (-1.0f64).exp()).ln())).abs() < 1e-9);
}

#[test]
fn reshape_broadcast_slice_concat_gather() {
    check_op(&[&[3, 4]], |v| v[0].reshape([2, 6])).unwrap();
    check_op(&[&[4]], |v| v[0].broadcast_to([3, 4])).unwrap();
    check_op(&[&[3, 1]], |v| v[0].broadcast_to([2, 3, 5])).unwrap();
    check_op(&[&[1]], |v| v[0].broadcast_to([4])).unwrap();
    for axis in 0..3 {
        check_op(&[&[3, 4, 5]], |v| v[0].slice(axis, 1, 2)).unwrap();
    }
    check_op(&[&[2, 3], &[4, 3]], |v| Var::concat(&[v[0], v[1]], 0)).unwrap();
    check_op(&[&[2, 3], &[2, 1], &[2, 2]], |v| Var::concat(&[v[0], v[1], v[2]], 1)).unwrap();
    check_op(&[&[5, 3]], |v| v[0].gather_rows(&[4, 0, 4, 2])).unwrap();
    check_op(&[&[5]], |v| v[0].gather_rows(&[1, 1, 3])).unwrap();
}

#[test]
fn composite_mlp_loss() {
    // tanh MLP 3 → 4 → 2 with a Gaussian log-likelihood-like loss.
    check_op(&[&[6, 3], &[3, 4], &[4], &[4, 2], &[2]], |v| {
        let h = v[0].affine(&v[1], &v[2])?.tanh()?;
        let y = h.affine(&v[3], &v[4])?;
        y.square()?.sum_axis(1, false)?.mul_scalar(0.5)?.mean_all()
    })
    .unwrap();
}

#[test]
fn custom_op() {
    // x³ as a custom op with its own rule.
    check_op(&[&[4]], |v| {
        let x = v[0];
        let y = x.value().unary(wasserflow::backend::UnaryOp::Powi(3))?;
        Ok(x.tape().custom(&[x], y, |ins, _y, gy| {
            let d = ins[0].unary(wasserflow::backend::UnaryOp::Square)?.scale(3.0)?;
            Ok(vec![Some(d.mul(gy)?)])
        }))
    })
    .unwrap();
}

#[test]
fn a_wrong_rule_is_caught() {
    // The checker must be able to fail: a custom op with a rule off by 1%.
    let r = check_op(&[&[4]], |v| {
        let x = v[0];
        let y = x.value().unary(wasserflow::backend::UnaryOp::Square)?;
        Ok(x.tape().custom(&[x], y, |ins, _y, gy| Ok(vec![Some(ins[0].scale(2.02)?.mul(gy)?)])))
    });
    assert!(r.is_err());
}

#[test]
fn constants_get_no_gradient() {
    let tape = Tape::new();
    let a = tape.var(Tensor::<f64>::from_f64s(&[1.0, 2.0], [2]).unwrap());
    let c = tape.constant(Tensor::<f64>::from_f64s(&[3.0, 4.0], [2]).unwrap());
    let l = a.mul(&c).unwrap().sum_all().unwrap();
    let g = tape.backward(l).unwrap();
    assert_eq!(g.get(a).unwrap().to_vec().unwrap(), vec![3.0, 4.0]);
    assert!(g.get(c).is_none());
}

#[test]
fn backward_needs_a_scalar() {
    let tape = Tape::new();
    let a = tape.var(Tensor::<f64>::zeros([2]));
    assert!(tape.backward(a.exp().unwrap()).is_err());
}

/// Every activation, for the fused layer ops.
const FUSED_ACTIVATIONS: [Activation; 7] = [
    Activation::Tanh,
    Activation::Sigmoid,
    Activation::Softplus { beta: 1.5 },
    Activation::Silu,
    Activation::Elu { alpha: 1.0 },
    Activation::Selu,
    Activation::Identity,
];

#[test]
fn tangent_act() {
    for act in FUSED_ACTIVATIONS {
        for parts in 1..=3 {
            check_op(&[&[3 * parts, 4], &[4]], |v| v[0].tangent_act(&v[1], 3, act))
                .unwrap_or_else(|e| panic!("{act:?} with {parts} parts: {e}"));
        }
        check_op(&[&[2, 5], &[1, 5]], |v| v[0].tangent_act(&v[1], 1, act)).unwrap();
    }
}

#[test]
fn tangent_act_equals_its_composite_definition() {
    let ins = random_inputs(&[&[9, 4], &[4]], -2.0, 2.0);
    let tape = Tape::new();
    let (z, b) = (tape.constant(ins[0].clone()), tape.constant(ins[1].clone()));
    let fused = z.tangent_act(&b, 3, Activation::Tanh).unwrap().value().to_vec().unwrap();
    let u = z.slice(0, 0, 3).unwrap().add(&b).unwrap();
    let y = u.tanh().unwrap();
    let t = z.slice(0, 3, 6).unwrap().reshape([2, 3, 4]).unwrap().mul(&u.act_deriv(Activation::Tanh).unwrap()).unwrap();
    let composite = Var::concat(&[y, t.reshape([6, 4]).unwrap()], 0).unwrap().value().to_vec().unwrap();
    for (a, c) in fused.iter().zip(&composite) {
        assert!((a - c).abs() < 1e-15);
    }
}

#[test]
fn bias_act() {
    for act in FUSED_ACTIVATIONS {
        for (rows, width) in [(1, 1), (3, 4), (70, 3)] {
            check_op(&[&[rows, width], &[width]], |v| v[0].bias_act(&v[1], act))
                .unwrap_or_else(|e| panic!("{act:?} {rows}x{width}: {e}"));
        }
        check_op(&[&[2, 5], &[1, 5]], |v| v[0].bias_act(&v[1], act)).unwrap();
    }
}
