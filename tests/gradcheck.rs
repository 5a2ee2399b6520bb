//! Every differentiable op against central finite differences in f64, at
//! random inputs, over several shapes including broadcasting and size-1 axes.

mod common;

use wasserflow::autodiff::gradcheck::{GradCheck, check_op_on, check_op_positive_on, random_inputs};
use wasserflow::autodiff::{Tape, Var};
use wasserflow::backend::Activation;
use wasserflow::backend::cpu::gemm::Transpose;
use wasserflow::{Device, Tensor};

const SHAPES_1: &[&[usize]] = &[&[1], &[5], &[3, 4], &[2, 1, 3], &[1, 7]];

macro_rules! unary_check {
    ($name:ident, $check:ident, $($method:tt)+) => {
        fn $name(dev: Device) {
            for s in SHAPES_1 {
                let r = $check(dev, &[s], |v| v[0].$($method)+).unwrap();
                assert!(r.checked == s.iter().product::<usize>(), "{r:?}");
            }
        }
    };
}

unary_check!(neg, check_op_on, neg());
unary_check!(exp, check_op_on, exp());
unary_check!(ln, check_op_positive_on, ln());
unary_check!(sqrt, check_op_positive_on, sqrt());
unary_check!(square, check_op_on, square());
unary_check!(recip, check_op_positive_on, recip());
unary_check!(powi3, check_op_on, powi(3));
unary_check!(powi_neg2, check_op_positive_on, powi(-2));
unary_check!(add_scalar, check_op_on, add_scalar(1.5));
unary_check!(mul_scalar, check_op_on, mul_scalar(-0.7));
unary_check!(tanh, check_op_on, tanh());
unary_check!(sigmoid, check_op_on, sigmoid());
unary_check!(softplus, check_op_on, softplus(1.0));
unary_check!(softplus_beta, check_op_on, softplus(2.5));
unary_check!(silu, check_op_on, silu());
unary_check!(elu, check_op_on, elu(1.3));
unary_check!(selu, check_op_on, selu());

// |x| and relu have a kink at 0; random inputs in [-2, 2) miss it almost surely,
// but finite differences straddling it would not, so keep inputs away from 0.
fn abs_and_relu_away_from_kink(dev: Device) {
    let xs = vec![Tensor::from_f64s(&[-1.5, -0.3, 0.4, 1.9, -0.8, 0.25], [2, 3]).unwrap()];
    GradCheck::on(dev).run(&xs, |v| v[0].abs()).unwrap();
    GradCheck::on(dev).run(&xs, |v| v[0].relu()).unwrap();
}

fn activation_derivatives_are_differentiable(dev: Device) {
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
            check_op_on(dev, &[s], |v| v[0].act_deriv(a)).unwrap_or_else(|e| panic!("{a:?}: {e}"));
        }
    }
}

fn act_deriv_matches_finite_difference_of_act(dev: Device) {
    // σ'(x) computed by the op equals the derivative of σ itself.
    let xs = random_inputs(&[&[50]], -3.0, 3.0).remove(0).to_device(dev).unwrap();
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

fn add_sub_mul_broadcasting(dev: Device) {
    for (a, b) in BINARY_SHAPES {
        check_op_on(dev, &[a, b], |v| v[0].add(&v[1])).unwrap();
        check_op_on(dev, &[a, b], |v| v[0].sub(&v[1])).unwrap();
        check_op_on(dev, &[a, b], |v| v[0].mul(&v[1])).unwrap();
        check_op_on(dev, &[b, a], |v| v[0].mul(&v[1])).unwrap();
    }
}

fn div_broadcasting(dev: Device) {
    for (a, b) in BINARY_SHAPES {
        check_op_positive_on(dev, &[a, b], |v| v[0].div(&v[1])).unwrap();
        check_op_positive_on(dev, &[b, a], |v| v[0].div(&v[1])).unwrap();
    }
}

fn same_var_twice(dev: Device) {
    check_op_on(dev, &[&[3, 2]], |v| v[0].mul(&v[0])).unwrap();
    check_op_on(dev, &[&[3, 2]], |v| v[0].add(&v[0])?.tanh()?.mul(&v[0])).unwrap();
}

fn lincomb(dev: Device) {
    check_op_on(dev, &[&[3, 2], &[3, 2], &[3, 2]], |v| Var::lincomb(&[(0.5, v[0]), (-2.0, v[1]), (1.5, v[2])]))
        .unwrap();
    check_op_on(dev, &[&[4]], |v| Var::lincomb(&[(0.5, v[0]), (2.0, v[0])])).unwrap();
}

fn matmul_all_transposes(dev: Device) {
    use Transpose::{No, Yes};
    for (ta, tb) in [(No, No), (No, Yes), (Yes, No), (Yes, Yes)] {
        for (m, n, k) in [(1, 1, 1), (3, 4, 5), (2, 1, 3), (1, 5, 2)] {
            let sa: Vec<usize> = if ta == No { vec![m, k] } else { vec![k, m] };
            let sb: Vec<usize> = if tb == No { vec![k, n] } else { vec![n, k] };
            check_op_on(dev, &[&sa, &sb], |v| v[0].matmul_t(&v[1], ta, tb)).unwrap();
        }
    }
}

fn batched_matmul_and_shared_operand(dev: Device) {
    check_op_on(dev, &[&[2, 3, 4], &[2, 4, 5]], |v| v[0].matmul(&v[1])).unwrap();
    check_op_on(dev, &[&[2, 3, 4], &[4, 5]], |v| v[0].matmul(&v[1])).unwrap();
    check_op_on(dev, &[&[3, 4], &[2, 4, 5]], |v| v[0].matmul(&v[1])).unwrap();
    check_op_on(dev, &[&[2, 4, 3], &[2, 5, 4]], |v| v[0].matmul_t(&v[1], Transpose::Yes, Transpose::Yes)).unwrap();
}

fn affine(dev: Device) {
    for (m, n, k) in [(1, 1, 1), (5, 3, 4), (4, 1, 3), (2, 6, 1)] {
        check_op_on(dev, &[&[m, k], &[k, n], &[n]], |v| v[0].affine(&v[1], &v[2])).unwrap();
        check_op_on(dev, &[&[m, k], &[k, n], &[1, n]], |v| v[0].affine(&v[1], &v[2])).unwrap();
    }
}

fn transpose(dev: Device) {
    check_op_on(dev, &[&[3, 5]], |v| v[0].t()).unwrap();
    check_op_on(dev, &[&[1, 4]], |v| v[0].t()?.matmul(&v[0])).unwrap();
}

fn sums_and_means(dev: Device) {
    for s in [&[5][..], &[3, 4], &[2, 3, 4], &[1, 3], &[3, 1, 2]] {
        for axis in 0..s.len() {
            check_op_on(dev, &[s], |v| v[0].sum_axis(axis, false)).unwrap();
            check_op_on(dev, &[s], |v| v[0].sum_axis(axis, true)).unwrap();
            check_op_on(dev, &[s], |v| v[0].mean_axis(axis, false)).unwrap();
        }
        check_op_on(dev, &[s], |v| v[0].sum_all()).unwrap();
        check_op_on(dev, &[s], |v| v[0].mean_all()).unwrap();
    }
}

fn logsumexp(dev: Device) {
    for s in [&[5][..], &[3, 4], &[2, 3, 4], &[1, 3]] {
        for axis in 0..s.len() {
            check_op_on(dev, &[s], |v| v[0].logsumexp(axis, false)).unwrap();
            check_op_on(dev, &[s], |v| v[0].logsumexp(axis, true)).unwrap();
        }
    }
    // Large inputs must not overflow.
    let x = Tensor::<f64>::from_f64s(&[1000.0, 1001.0], [2]).unwrap().to_device(dev).unwrap();
    let tape = Tape::new();
    let y = tape.constant(x).logsumexp(0, false).unwrap().value().item().unwrap();
    assert!((y - (1001.0 + (1.0 + (-1.0f64).exp()).ln())).abs() < 1e-9);
}

fn logabsdet_stacked(dev: Device) {
    for d in 1..=4 {
        check_op_on(dev, &[&[3 * d, d]], |v| v[0].logabsdet_stacked(3)).unwrap();
    }
    // Against the rule of Sarrus, with a zero leading pivot (pivoting needed)
    // and a negative determinant; a singular matrix gives −∞.
    let m = [[0.0, 2.0, 1.0], [1.0, 1.0, 0.0], [3.0, 0.0, 5.0]];
    let sarrus = m[0][0] * (m[1][1] * m[2][2] - m[1][2] * m[2][1]) - m[0][1] * (m[1][0] * m[2][2] - m[1][2] * m[2][0])
        + m[0][2] * (m[1][0] * m[2][1] - m[1][1] * m[2][0]);
    let singular = [[1.0, 2.0, 3.0], [2.0, 4.0, 6.0], [0.0, 1.0, 1.0]];
    // Two matrices stacked: row j·2 + i is row j of matrix i.
    let rows: Vec<f64> = (0..3).flat_map(|j| m[j].iter().chain(&singular[j]).copied().collect::<Vec<_>>()).collect();
    let tape = Tape::new();
    let a = tape.constant(Tensor::<f64>::from_f64s(&rows, [6, 3]).unwrap().to_device(dev).unwrap());
    let l = a.logabsdet_stacked(2).unwrap().value().to_vec().unwrap();
    assert!(sarrus < 0.0 && (l[0] - sarrus.abs().ln()).abs() < 1e-12, "{l:?} vs ln|{sarrus}|");
    assert_eq!(l[1], f64::NEG_INFINITY);
    assert!(a.logabsdet_stacked(4).is_err(), "6 rows are not 4 stacked 3×3 matrices");
}

fn reshape_broadcast_slice_concat_gather(dev: Device) {
    check_op_on(dev, &[&[3, 4]], |v| v[0].reshape([2, 6])).unwrap();
    check_op_on(dev, &[&[4]], |v| v[0].broadcast_to([3, 4])).unwrap();
    check_op_on(dev, &[&[3, 1]], |v| v[0].broadcast_to([2, 3, 5])).unwrap();
    check_op_on(dev, &[&[1]], |v| v[0].broadcast_to([4])).unwrap();
    for axis in 0..3 {
        check_op_on(dev, &[&[3, 4, 5]], |v| v[0].slice(axis, 1, 2)).unwrap();
    }
    check_op_on(dev, &[&[2, 3], &[4, 3]], |v| Var::concat(&[v[0], v[1]], 0)).unwrap();
    check_op_on(dev, &[&[2, 3], &[2, 1], &[2, 2]], |v| Var::concat(&[v[0], v[1], v[2]], 1)).unwrap();
    check_op_on(dev, &[&[5, 3]], |v| v[0].gather_rows(&[4, 0, 4, 2])).unwrap();
    check_op_on(dev, &[&[5]], |v| v[0].gather_rows(&[1, 1, 3])).unwrap();
}

fn composite_mlp_loss(dev: Device) {
    // tanh MLP 3 → 4 → 2 with a Gaussian log-likelihood-like loss.
    check_op_on(dev, &[&[6, 3], &[3, 4], &[4], &[4, 2], &[2]], |v| {
        let h = v[0].affine(&v[1], &v[2])?.tanh()?;
        let y = h.affine(&v[3], &v[4])?;
        y.square()?.sum_axis(1, false)?.mul_scalar(0.5)?.mean_all()
    })
    .unwrap();
}

fn custom_op(dev: Device) {
    // x³ as a custom op with its own rule.
    check_op_on(dev, &[&[4]], |v| {
        let x = v[0];
        let y = x.value().unary(wasserflow::backend::UnaryOp::Powi(3))?;
        Ok(x.tape().custom(&[x], y, |ins, _y, gy| {
            let d = ins[0].unary(wasserflow::backend::UnaryOp::Square)?.scale(3.0)?;
            Ok(vec![Some(d.mul(gy)?)])
        }))
    })
    .unwrap();
}

fn a_wrong_rule_is_caught(dev: Device) {
    // The checker must be able to fail: a custom op with a rule off by 1%.
    let r = check_op_on(dev, &[&[4]], |v| {
        let x = v[0];
        let y = x.value().unary(wasserflow::backend::UnaryOp::Square)?;
        Ok(x.tape().custom(&[x], y, |ins, _y, gy| Ok(vec![Some(ins[0].scale(2.02)?.mul(gy)?)])))
    });
    assert!(r.is_err());
}

fn constants_get_no_gradient(dev: Device) {
    let tape = Tape::new();
    let a = tape.var(Tensor::<f64>::from_f64s(&[1.0, 2.0], [2]).unwrap().to_device(dev).unwrap());
    let c = tape.constant(Tensor::<f64>::from_f64s(&[3.0, 4.0], [2]).unwrap().to_device(dev).unwrap());
    let l = a.mul(&c).unwrap().sum_all().unwrap();
    let g = tape.backward(l).unwrap();
    assert_eq!(g.get(a).unwrap().to_vec().unwrap(), vec![3.0, 4.0]);
    assert!(g.get(c).is_none());
}

fn backward_needs_a_scalar(dev: Device) {
    let tape = Tape::new();
    let a = tape.var(Tensor::<f64>::zeros_on([2], dev).unwrap());
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

fn tangent_act(dev: Device) {
    for act in FUSED_ACTIVATIONS {
        for parts in 1..=3 {
            check_op_on(dev, &[&[3 * parts, 4], &[4]], |v| v[0].tangent_act(&v[1], 3, act))
                .unwrap_or_else(|e| panic!("{act:?} with {parts} parts: {e}"));
        }
        check_op_on(dev, &[&[2, 5], &[1, 5]], |v| v[0].tangent_act(&v[1], 1, act)).unwrap();
    }
}

fn tangent_act_equals_its_composite_definition(dev: Device) {
    // Sizes past one block of rows (64) and past the parallel threshold, with
    // up to three tangent parts: values and gradients against the same map
    // written with separate ops.
    for (batch, width, parts, act) in [
        (3, 4, 3, Activation::Tanh),
        (130, 37, 4, Activation::Tanh),
        (300, 64, 2, Activation::Softplus { beta: 20.0 }),
        (70, 5, 1, Activation::Silu),
    ] {
        let ins: Vec<_> = random_inputs(&[&[batch * parts, width], &[width], &[batch * parts, width]], -2.0, 2.0)
            .into_iter()
            .map(|t| t.to_device(dev).unwrap())
            .collect();
        let tape = Tape::new();
        let (z, b, w) = (tape.var(ins[0].clone()), tape.var(ins[1].clone()), tape.constant(ins[2].clone()));
        let fused = z.tangent_act(&b, batch, act).unwrap();
        let u = z.slice(0, 0, batch).unwrap().add(&b).unwrap();
        let mut rows = vec![u.act(act).unwrap()];
        if parts > 1 {
            let t = z.slice(0, batch, (parts - 1) * batch).unwrap().reshape([parts - 1, batch, width]).unwrap();
            rows.push(t.mul(&u.act_deriv(act).unwrap()).unwrap().reshape([(parts - 1) * batch, width]).unwrap());
        }
        let composite = Var::concat(&rows, 0).unwrap();
        let (fv, cv) = (fused.value().to_vec().unwrap(), composite.value().to_vec().unwrap());
        for (a, c) in fv.iter().zip(&cv) {
            assert!((a - c).abs() < 1e-13, "{act:?} {batch}x{width}x{parts}: {a} vs {c}");
        }
        let gf = tape.backward(fused.mul(&w).unwrap().sum_all().unwrap()).unwrap();
        let gc = tape.backward(composite.mul(&w).unwrap().sum_all().unwrap()).unwrap();
        for v in [z, b] {
            let (a, c) = (gf.get_or_zeros(v).unwrap().to_vec().unwrap(), gc.get_or_zeros(v).unwrap().to_vec().unwrap());
            for (x, y) in a.iter().zip(&c) {
                assert!(
                    (x - y).abs() < 1e-11 * (1.0 + y.abs()),
                    "{act:?} {batch}x{width}x{parts} gradient: {x} vs {y}"
                );
            }
        }
    }
}

fn bias_act(dev: Device) {
    for act in FUSED_ACTIVATIONS {
        for (rows, width) in [(1, 1), (3, 4), (70, 3)] {
            check_op_on(dev, &[&[rows, width], &[width]], |v| v[0].bias_act(&v[1], act))
                .unwrap_or_else(|e| panic!("{act:?} {rows}x{width}: {e}"));
        }
        check_op_on(dev, &[&[2, 5], &[1, 5]], |v| v[0].bias_act(&v[1], act)).unwrap();
    }
}

on_every_device!(
    neg,
    exp,
    ln,
    sqrt,
    square,
    recip,
    powi3,
    powi_neg2,
    add_scalar,
    mul_scalar,
    tanh,
    sigmoid,
    softplus,
    softplus_beta,
    silu,
    elu,
    selu,
    abs_and_relu_away_from_kink,
    activation_derivatives_are_differentiable,
    act_deriv_matches_finite_difference_of_act,
    add_sub_mul_broadcasting,
    div_broadcasting,
    same_var_twice,
    lincomb,
    matmul_all_transposes,
    batched_matmul_and_shared_operand,
    affine,
    transpose,
    sums_and_means,
    logsumexp,
    logabsdet_stacked,
    reshape_broadcast_slice_concat_gather,
    composite_mlp_loss,
    custom_op,
    a_wrong_rule_is_caught,
    constants_get_no_gradient,
    backward_needs_a_scalar,
    tangent_act,
    tangent_act_equals_its_composite_definition,
    bias_act,
);
