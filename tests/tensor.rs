//! Eager tensor ops against naive reference loops: broadcasting over many
//! shape pairs, reductions over every axis, data movement, and the errors
//! that bad shapes must produce.

use wasserflow::backend::{BinaryOp, ReduceOp, UnaryOp};
use wasserflow::{Rng, Shape, Tensor};

fn rand(shape: &[usize], seed: u64) -> Tensor<f64> {
    Tensor::rand_uniform(shape, -2.0, 2.0, &mut Rng::seed(seed)).unwrap()
}

/// Multi-index of flat index `i` in `dims`.
fn unravel(mut i: usize, dims: &[usize]) -> Vec<usize> {
    let mut idx = vec![0; dims.len()];
    for a in (0..dims.len()).rev() {
        idx[a] = i % dims[a];
        i /= dims[a];
    }
    idx
}

/// Element of `t` at the broadcast position `idx` (trailing alignment).
fn at_broadcast(t: &Tensor<f64>, idx: &[usize]) -> f64 {
    let dims = t.dims();
    let off = idx.len() - dims.len();
    let strides = t.shape().strides();
    let mut flat = 0;
    for a in 0..dims.len() {
        let i = if dims[a] == 1 { 0 } else { idx[a + off] };
        flat += i * strides[a];
    }
    t.as_slice().unwrap()[flat]
}

#[test]
fn broadcast_binary_matches_reference() {
    let pairs: &[(&[usize], &[usize])] = &[
        (&[7], &[7]),
        (&[3, 5], &[5]),
        (&[3, 5], &[3, 1]),
        (&[3, 1], &[1, 5]),
        (&[2, 3, 4], &[3, 4]),
        (&[2, 3, 4], &[2, 1, 4]),
        (&[2, 1, 4], &[1, 3, 1]),
        (&[1], &[4, 4]),
        (&[], &[3]),
        (&[1000, 2], &[2]),
        (&[70, 33], &[70, 1]),
        (&[300, 300], &[300, 300]),
    ];
    for (k, (sa, sb)) in pairs.iter().enumerate() {
        let a = rand(sa, k as u64);
        let b = rand(sb, 100 + k as u64);
        for op in [BinaryOp::Add, BinaryOp::Sub, BinaryOp::Mul, BinaryOp::Div, BinaryOp::Max, BinaryOp::Min] {
            for (x, y) in [(&a, &b), (&b, &a)] {
                let out = x.binary(y, op).unwrap();
                let o = out.as_slice().unwrap();
                for (i, &v) in o.iter().enumerate() {
                    let idx = unravel(i, out.dims());
                    let want = op.eval(at_broadcast(x, &idx), at_broadcast(y, &idx));
                    assert_eq!(v, want, "{op:?} {} {} at {idx:?}", x.shape(), y.shape());
                }
            }
        }
    }
}

#[test]
fn incompatible_shapes_are_errors() {
    assert!(rand(&[3], 0).add(&rand(&[4], 1)).is_err());
    assert!(rand(&[2, 3], 0).matmul(&rand(&[2, 3], 1)).is_err());
    assert!(rand(&[2, 3], 0).reshape([4, 2]).is_err());
    assert!(rand(&[2, 3], 0).slice(1, 2, 2).is_err());
    assert!(rand(&[2, 3], 0).slice(2, 0, 1).is_err());
    assert!(Tensor::concat(&[&rand(&[2, 3], 0), &rand(&[2, 4], 1)], 0).is_err());
    assert!(rand(&[4, 2], 0).gather_rows(&[4]).is_err());
    assert!(rand(&[4, 2], 0).affine(&rand(&[2, 3], 1), &rand(&[2], 2)).is_err());
    assert!(Tensor::<f32>::from_vec(vec![1.0; 5], [2, 3]).is_err());
    assert!(rand(&[2, 3], 0).broadcast_to([3, 3]).is_err());
    assert!(rand(&[2, 3], 0).item().is_err());
}

#[test]
fn reductions_match_reference() {
    for dims in [&[6][..], &[3, 4], &[2, 3, 5], &[1, 4, 1], &[513, 300], &[3, 70000]] {
        let t = rand(dims, 7);
        let x = t.as_slice().unwrap();
        for axis in 0..dims.len() {
            for op in [ReduceOp::Sum, ReduceOp::Max, ReduceOp::Min] {
                let r = t.reduce_axis(op, axis).unwrap();
                assert_eq!(r.dims()[axis], 1);
                let strides = t.shape().strides();
                for (o, &v) in r.as_slice().unwrap().iter().enumerate() {
                    let idx = unravel(o, r.dims());
                    let base: usize = idx.iter().zip(&strides).map(|(i, s)| i * s).sum();
                    let vals = (0..dims[axis]).map(|l| x[base + l * strides[axis]]);
                    let want = match op {
                        ReduceOp::Sum => vals.fold(0.0, |a, b| a + b),
                        ReduceOp::Max => vals.fold(f64::NEG_INFINITY, f64::max),
                        ReduceOp::Min => vals.fold(f64::INFINITY, f64::min),
                    };
                    assert_eq!(v, want, "{op:?} axis {axis} of {dims:?}");
                }
            }
        }
    }
}

#[test]
fn sum_to_inverts_broadcasting() {
    let t = rand(&[2, 3, 4], 3);
    let s = t.sum_to(&Shape::new(&[3, 1])).unwrap();
    assert_eq!(s.dims(), &[3, 1]);
    let x = t.to_vec().unwrap();
    for j in 0..3 {
        let want: f64 = (0..2).flat_map(|i| (0..4).map(move |k| (i, k))).map(|(i, k)| x[i * 12 + j * 4 + k]).sum();
        assert!((s.as_slice().unwrap()[j] - want).abs() < 1e-12);
    }
    assert!(t.sum_to(&Shape::new(&[5])).is_err());
}

#[test]
fn slice_pad_concat_transpose_roundtrip() {
    let t = rand(&[4, 5, 6], 9);
    for axis in 0..3 {
        let n = t.dims()[axis];
        let a = t.slice(axis, 0, 2).unwrap();
        let b = t.slice(axis, 2, n - 2).unwrap();
        let c = Tensor::concat(&[&a, &b], axis).unwrap();
        assert_eq!(c.to_vec().unwrap(), t.to_vec().unwrap());
        let padded = b.pad_axis(axis, 2, n).unwrap().add(&a.pad_axis(axis, 0, n).unwrap()).unwrap();
        assert_eq!(padded.to_vec().unwrap(), t.to_vec().unwrap());
    }
    let m = rand(&[3, 7], 4);
    let mt = m.t().unwrap();
    for i in 0..3 {
        for j in 0..7 {
            assert_eq!(m.as_slice().unwrap()[i * 7 + j], mt.as_slice().unwrap()[j * 3 + i]);
        }
    }
    assert_eq!(mt.t().unwrap().to_vec().unwrap(), m.to_vec().unwrap());
}

#[test]
fn gather_scatter_are_adjoint() {
    let t = rand(&[6, 3], 5);
    let idx = [5, 0, 0, 2];
    let g = t.gather_rows(&idx).unwrap();
    let y = rand(&[4, 3], 6);
    // ⟨gather(t), y⟩ = ⟨t, scatter(y)⟩
    let lhs: f64 = g.mul(&y).unwrap().sum_all().unwrap().item().unwrap();
    let rhs: f64 = t.mul(&y.scatter_add_rows(&idx, 6).unwrap()).unwrap().sum_all().unwrap().item().unwrap();
    assert!((lhs - rhs).abs() < 1e-12);
}

#[test]
fn unary_ops_match_scalar_definitions() {
    let t = rand(&[5000], 8);
    for op in [UnaryOp::Exp, UnaryOp::Neg, UnaryOp::Square, UnaryOp::Abs, UnaryOp::Powi(3), UnaryOp::MulScalar(2.5)] {
        let y = t.unary(op).unwrap();
        for (a, b) in t.as_slice().unwrap().iter().zip(y.as_slice().unwrap()) {
            assert_eq!(op.eval(*a), *b);
        }
    }
}

#[test]
fn matmul_and_affine_match_reference() {
    let a = rand(&[5, 7], 1);
    let b = rand(&[7, 3], 2);
    let bias = rand(&[3], 3);
    let c = a.matmul(&b).unwrap();
    let d = a.affine(&b, &bias).unwrap();
    let (av, bv) = (a.as_slice().unwrap(), b.as_slice().unwrap());
    for i in 0..5 {
        for j in 0..3 {
            let want: f64 = (0..7).map(|p| av[i * 7 + p] * bv[p * 3 + j]).sum();
            assert!((c.as_slice().unwrap()[i * 3 + j] - want).abs() < 1e-12);
            assert!((d.as_slice().unwrap()[i * 3 + j] - want - bias.as_slice().unwrap()[j]).abs() < 1e-12);
        }
    }
}

#[test]
fn cuda_device_is_a_clear_error_without_the_feature() {
    if cfg!(not(feature = "cuda")) {
        let e = wasserflow::backend::Device::cuda(0).unwrap_err().to_string();
        assert!(e.contains("CUDA"), "{e}");
    }
}

/// The fused reverse rule's bias gradient is the column sum of its rows,
/// exactly, for every width: small integers keep f32 sums exact, and
/// widths 64, 130 and 200 cover the 64-column register blocks and their tail.
#[test]
fn bias_act_backward_sums_the_columns_exactly() {
    use wasserflow::nn::Activation;
    for (rows, width) in [(3, 5), (70, 64), (7, 130), (129, 200)] {
        let g: Vec<f32> = (0..rows * width).map(|i| ((i * 7 + 3) % 9) as f32 - 4.0).collect();
        let z = Tensor::<f32>::from_vec(vec![0.5; rows * width], [rows, width]).unwrap();
        let b = Tensor::<f32>::from_vec(vec![0.25; width], [width]).unwrap();
        let y = z.bias_act(&b, Activation::Identity).unwrap();
        let gt = Tensor::<f32>::from_vec(g.clone(), [rows, width]).unwrap();
        let (gz, gb) = z.bias_act_backward(&b, &y, &gt, Activation::Identity).unwrap();
        assert_eq!(gz.to_vec().unwrap(), g);
        let want: Vec<f32> = (0..width).map(|j| (0..rows).map(|r| g[r * width + j]).sum()).collect();
        assert_eq!(gb.to_vec().unwrap(), want, "{rows}x{width}");
    }
}
