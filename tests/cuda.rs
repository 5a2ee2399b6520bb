//! The CUDA backend against the CPU backend, primitive by primitive, and
//! whole training runs on both devices. Every test here needs a GPU; without
//! one (or without the `cuda` feature) each says it was skipped and why.
//!
//! GEMM checks follow matrixmultiply's: integer-valued inputs, so f32
//! products are exact and any wrong index shows as a wrong integer; every
//! transpose combination and every tail size around the tile sizes. Strided
//! writes are checked with sentinels around them.

mod common;

use common::on_cuda;
use wasserflow::backend::cpu::gemm::Transpose;
use wasserflow::backend::{Activation, BinaryOp, ReduceOp, UnaryOp};
use wasserflow::density::{Divergence, Probe};
use wasserflow::flows::cnf::{CnfConfig, train_cnf};
use wasserflow::flows::fm::{FmConfig, train_fm};
use wasserflow::{Device, Float, Rng, Tensor};

fn close<T: Float>(what: &str, gpu: &Tensor<T>, cpu: &Tensor<T>, rtol: f64) {
    assert_eq!(gpu.shape(), cpu.shape(), "{what}: shapes");
    let (g, c) = (gpu.to_f64_vec().unwrap(), cpu.to_f64_vec().unwrap());
    for (i, (a, b)) in g.iter().zip(&c).enumerate() {
        let tol = rtol * (1.0 + b.abs());
        assert!((a - b).abs() <= tol, "{what}: element {i}: gpu {a} vs cpu {b}");
    }
}

fn integers(shape: &[usize], seed: u64) -> Tensor<f32> {
    let mut rng = Rng::seed(seed);
    let n: usize = shape.iter().product();
    let v: Vec<f32> = (0..n).map(|_| rng.below(7) as f32 - 3.0).collect();
    Tensor::from_vec(v, shape).unwrap()
}

#[test]
fn gemm_is_exact_on_integers_for_every_layout_and_tail() {
    on_cuda("gemm_is_exact_on_integers_for_every_layout_and_tail", |dev| {
        use Transpose::{No, Yes};
        let sizes = [1, 2, 7, 31, 32, 33, 63, 64, 65, 127, 128, 129, 200];
        let mut seed = 0;
        for (ta, tb) in [(No, No), (No, Yes), (Yes, No), (Yes, Yes)] {
            for &m in &sizes {
                for &n in &[1, 3, 32, 65, 130] {
                    for &k in &[1, 8, 9, 70] {
                        seed += 1;
                        let a = integers(&if ta == No { [m, k] } else { [k, m] }, seed);
                        let b = integers(&if tb == No { [k, n] } else { [n, k] }, seed + 1000);
                        let cpu = a.matmul_t(&b, ta, tb).unwrap();
                        let gpu = a.to_device(dev).unwrap().matmul_t(&b.to_device(dev).unwrap(), ta, tb).unwrap();
                        assert_eq!(gpu.to_vec().unwrap(), cpu.to_vec().unwrap(), "{ta:?}{tb:?} m={m} n={n} k={k}");
                    }
                }
            }
        }
    });
}

#[test]
fn batched_gemm_affine_and_f64() {
    on_cuda("batched_gemm_affine_and_f64", |dev| {
        let a = integers(&[3, 17, 9], 1);
        let b = integers(&[9, 5], 2);
        let bias = integers(&[5], 3);
        let g = |t: &Tensor<f32>| t.to_device(dev).unwrap();
        assert_eq!(g(&a).matmul(&g(&b)).unwrap().to_vec().unwrap(), a.matmul(&b).unwrap().to_vec().unwrap());
        let x = integers(&[300, 9], 4);
        assert_eq!(
            g(&x).affine(&g(&b), &g(&bias)).unwrap().to_vec().unwrap(),
            x.affine(&b, &bias).unwrap().to_vec().unwrap()
        );
        let mut rng = Rng::seed(9);
        let a = Tensor::<f64>::randn([150, 70], &mut rng).unwrap();
        let b = Tensor::<f64>::randn([70, 90], &mut rng).unwrap();
        let cpu = a.matmul(&b).unwrap();
        close("f64 gemm", &a.to_device(dev).unwrap().matmul(&b.to_device(dev).unwrap()).unwrap(), &cpu, 1e-12);
    });
}

#[test]
fn tf32_gemm_is_within_tf32_rounding() {
    on_cuda("tf32_gemm_is_within_tf32_rounding", |dev| {
        let mut rng = Rng::seed(4);
        let a = Tensor::<f32>::randn([300, 257], &mut rng).unwrap();
        let b = Tensor::<f32>::randn([257, 190], &mut rng).unwrap();
        let reference = a.cast::<f64>().unwrap().matmul(&b.cast::<f64>().unwrap()).unwrap();
        wasserflow::backend::cuda::set_tf32(true);
        let gpu = a.to_device(dev).unwrap().matmul(&b.to_device(dev).unwrap());
        wasserflow::backend::cuda::set_tf32(false);
        let (g, r) = (gpu.unwrap().to_f64_vec().unwrap(), reference.to_f64_vec().unwrap());
        let err: f64 = g.iter().zip(&r).map(|(a, b)| (a - b).powi(2)).sum::<f64>().sqrt();
        let norm: f64 = r.iter().map(|b| b * b).sum::<f64>().sqrt();
        assert!(err / norm < 2e-3 && err / norm > 0.0, "relative error {}", err / norm);
    });
}

#[test]
fn elementwise_and_activations_match_the_cpu() {
    on_cuda("elementwise_and_activations_match_the_cpu", |dev| {
        let mut rng = Rng::seed(5);
        let x = Tensor::<f64>::rand_uniform([37, 11], -3.0, 3.0, &mut rng).unwrap();
        let pos = Tensor::<f64>::rand_uniform([37, 11], 0.2, 3.0, &mut rng).unwrap();
        let gy = Tensor::<f64>::randn([37, 11], &mut rng).unwrap();
        let d = |t: &Tensor<f64>| t.to_device(dev).unwrap();
        let acts = [
            Activation::Tanh,
            Activation::Sigmoid,
            Activation::Softplus { beta: 20.0 },
            Activation::Silu,
            Activation::Relu,
            Activation::Elu { alpha: 1.3 },
            Activation::Selu,
            Activation::Identity,
        ];
        let mut ops = vec![
            UnaryOp::Neg,
            UnaryOp::Exp,
            UnaryOp::Square,
            UnaryOp::Abs,
            UnaryOp::Powi(3),
            UnaryOp::Powi(-2),
            UnaryOp::AddScalar(0.3),
            UnaryOp::MulScalar(-1.7),
        ];
        for a in acts {
            ops.push(UnaryOp::Act(a));
            ops.push(UnaryOp::ActDeriv(a));
        }
        for op in ops {
            let (cpu, gpu) = (x.unary(op).unwrap(), d(&x).unary(op).unwrap());
            close(op.name(), &gpu, &cpu, 1e-13);
            let back = d(&x).unary_backward(&gpu, &d(&gy), op).unwrap();
            close(op.name(), &back, &x.unary_backward(&cpu, &gy, op).unwrap(), 1e-12);
        }
        for op in [UnaryOp::Ln, UnaryOp::Sqrt, UnaryOp::Recip] {
            close(op.name(), &d(&pos).unary(op).unwrap(), &pos.unary(op).unwrap(), 1e-13);
        }
        // f32 activations against the CPU's vectorized ones.
        let xf = x.cast::<f32>().unwrap();
        for a in acts {
            let op = UnaryOp::Act(a);
            close(a.name(), &xf.to_device(dev).unwrap().unary(op).unwrap(), &xf.unary(op).unwrap(), 2e-6);
        }
    });
}

#[test]
fn broadcasting_binary_ops_and_reductions_match_the_cpu() {
    on_cuda("broadcasting_binary_ops_and_reductions_match_the_cpu", |dev| {
        let mut rng = Rng::seed(6);
        let shapes: [(&[usize], &[usize]); 6] = [
            (&[4, 5], &[4, 5]),
            (&[4, 5], &[5]),
            (&[4, 5], &[4, 1]),
            (&[3, 1], &[1, 6]),
            (&[2, 3, 4], &[3, 1]),
            (&[], &[2, 2]),
        ];
        for (sa, sb) in shapes {
            let a = Tensor::<f64>::randn(sa, &mut rng).unwrap();
            let b = Tensor::<f64>::rand_uniform(sb, 0.5, 2.0, &mut rng).unwrap();
            for op in [BinaryOp::Add, BinaryOp::Sub, BinaryOp::Mul, BinaryOp::Div, BinaryOp::Max, BinaryOp::Min] {
                let gpu = a.to_device(dev).unwrap().binary(&b.to_device(dev).unwrap(), op).unwrap();
                close(op.name(), &gpu, &a.binary(&b, op).unwrap(), 1e-14);
            }
        }
        for shape in [&[1000, 3][..], &[3, 1000], &[5, 70, 4], &[100_000], &[2, 3]] {
            let x = Tensor::<f64>::randn(shape, &mut rng).unwrap();
            for axis in 0..shape.len() {
                for op in [ReduceOp::Sum, ReduceOp::Max, ReduceOp::Min] {
                    let gpu = x.to_device(dev).unwrap().reduce_axis(op, axis).unwrap();
                    close("reduce", &gpu, &x.reduce_axis(op, axis).unwrap(), 1e-12);
                }
            }
            let (g, c) = (x.to_device(dev).unwrap(), x.clone());
            let (sg, sc) = (g.storage().sum_squares().unwrap(), c.storage().sum_squares().unwrap());
            assert!((sg - sc).abs() <= 1e-10 * sc, "sum of squares {sg} vs {sc}");
            assert!(g.all_finite().unwrap());
        }
        let mut bad = vec![1.0f32; 5000];
        bad[4321] = f32::NAN;
        assert!(!Tensor::from_vec(bad, [5000]).unwrap().to_device(dev).unwrap().all_finite().unwrap());
    });
}

#[test]
fn copies_gathers_and_strided_writes_keep_their_sentinels() {
    on_cuda("copies_gathers_and_strided_writes_keep_their_sentinels", |dev| {
        let x = integers(&[6, 5, 4], 7);
        let g = x.to_device(dev).unwrap();
        for axis in 0..3 {
            assert_eq!(g.slice(axis, 1, 2).unwrap().to_vec().unwrap(), x.slice(axis, 1, 2).unwrap().to_vec().unwrap());
        }
        let t = integers(&[7, 3], 8);
        assert_eq!(t.to_device(dev).unwrap().t().unwrap().to_vec().unwrap(), t.t().unwrap().to_vec().unwrap());
        let parts = [integers(&[2, 3], 9), integers(&[4, 3], 10)];
        let cpu = Tensor::concat(&[&parts[0], &parts[1]], 0).unwrap();
        let dp: Vec<_> = parts.iter().map(|p| p.to_device(dev).unwrap()).collect();
        assert_eq!(Tensor::concat(&[&dp[0], &dp[1]], 0).unwrap().to_vec().unwrap(), cpu.to_vec().unwrap());
        let cols = [integers(&[3, 2], 11), integers(&[3, 1], 12)];
        let cpu = Tensor::concat(&[&cols[0], &cols[1]], 1).unwrap();
        let dc: Vec<_> = cols.iter().map(|p| p.to_device(dev).unwrap()).collect();
        assert_eq!(Tensor::concat(&[&dc[0], &dc[1]], 1).unwrap().to_vec().unwrap(), cpu.to_vec().unwrap());
        // Padding writes a block into a sentinel-free zero tensor: every
        // element outside the block must stay exactly 0.
        let padded = g.pad_axis(1, 2, 9).unwrap().to_vec().unwrap();
        assert_eq!(padded, x.pad_axis(1, 2, 9).unwrap().to_vec().unwrap());
        let idx = [4, 0, 4, 2, 5, 5];
        let rows = integers(&[6, 3], 13);
        let gr = rows.to_device(dev).unwrap();
        assert_eq!(gr.gather_rows(&idx).unwrap().to_vec().unwrap(), rows.gather_rows(&idx).unwrap().to_vec().unwrap());
        let src = integers(&[6, 3], 14);
        assert_eq!(
            src.to_device(dev).unwrap().scatter_add_rows(&idx, 7).unwrap().to_vec().unwrap(),
            src.scatter_add_rows(&idx, 7).unwrap().to_vec().unwrap()
        );
        let b = integers(&[1, 4], 15);
        assert_eq!(
            b.to_device(dev).unwrap().broadcast_to([3, 4]).unwrap().to_vec().unwrap(),
            b.broadcast_to([3, 4]).unwrap().to_vec().unwrap()
        );
        let terms = [integers(&[50], 16), integers(&[50], 17), integers(&[50], 18)];
        let dt: Vec<_> = terms.iter().map(|t| t.to_device(dev).unwrap()).collect();
        let many: Vec<(f64, &Tensor<f32>)> = (0..11).map(|j| (j as f64 - 4.0, &terms[j % 3])).collect();
        let many_d: Vec<(f64, &Tensor<f32>)> = (0..11).map(|j| (j as f64 - 4.0, &dt[j % 3])).collect();
        assert_eq!(
            Tensor::lincomb(&many_d).unwrap().to_vec().unwrap(),
            Tensor::lincomb(&many).unwrap().to_vec().unwrap()
        );
    });
}

#[test]
fn fused_layer_kernels_match_the_cpu() {
    on_cuda("fused_layer_kernels_match_the_cpu", |dev| {
        let mut rng = Rng::seed(21);
        for act in
            [Activation::Tanh, Activation::Softplus { beta: 20.0 }, Activation::Silu, Activation::Elu { alpha: 1.0 }]
        {
            for (batch, parts, width) in [(1, 1, 1), (64, 3, 64), (1000, 3, 17), (3, 2, 300)] {
                let z = Tensor::<f64>::randn([batch * parts, width], &mut rng).unwrap();
                let b = Tensor::<f64>::randn([width], &mut rng).unwrap();
                let g = Tensor::<f64>::randn([batch * parts, width], &mut rng).unwrap();
                let d = |t: &Tensor<f64>| t.to_device(dev).unwrap();
                let y = z.bias_act(&b, act).unwrap();
                close("bias_act", &d(&z).bias_act(&d(&b), act).unwrap(), &y, 1e-13);
                let (gz, gb) = z.bias_act_backward(&b, &y, &g, act).unwrap();
                let (dgz, dgb) = d(&z).bias_act_backward(&d(&b), &d(&y), &d(&g), act).unwrap();
                close("bias_act gz", &dgz, &gz, 1e-12);
                close("bias_act gb", &dgb, &gb, 1e-11);
                let ty = z.tangent_act(&b, batch, act).unwrap();
                close("tangent_act", &d(&z).tangent_act(&d(&b), batch, act).unwrap(), &ty, 1e-13);
                let (gz, gb) = z.tangent_act_backward(&b, &ty, &g, batch, act).unwrap();
                let (dgz, dgb) = d(&z).tangent_act_backward(&d(&b), &d(&ty), &d(&g), batch, act).unwrap();
                close("tangent_act gz", &dgz, &gz, 1e-12);
                close("tangent_act gb", &dgb, &gb, 1e-11);
            }
        }
    });
}

#[test]
fn mixing_devices_is_an_error_not_a_crash() {
    on_cuda("mixing_devices_is_an_error_not_a_crash", |dev| {
        let a = Tensor::<f32>::zeros([2, 2]);
        let b = a.to_device(dev).unwrap();
        assert!(a.add(&b).is_err());
        assert!(a.matmul(&b).is_err());
        assert!(Device::cuda(99).is_err());
    });
}

#[test]
fn cnf_training_matches_the_cpu_run() {
    on_cuda("cnf_training_matches_the_cpu_run", |dev| {
        let data = wasserflow::data::Toy::EightGaussians;
        for divergence in [Divergence::Exact, Divergence::Hutchinson { probes: 1, probe: Probe::Rademacher }] {
            let base =
                CnfConfig { hidden: vec![32, 32], batch: 256, iterations: 8, divergence, ..CnfConfig::reference(2) };
            let run = |device: Device| {
                let mut losses = Vec::new();
                let flow = train_cnf::<f64>(
                    &CnfConfig { device, ..base.clone() },
                    |n, rng| data.sample(n, rng),
                    |r, _| {
                        losses.push(r.loss);
                        Ok(())
                    },
                )
                .unwrap();
                (losses, flow)
            };
            let (cpu, cpu_flow) = run(Device::Cpu);
            let (gpu, gpu_flow) = run(dev);
            for (a, b) in gpu.iter().zip(&cpu) {
                assert!((a - b).abs() < 1e-9 * (1.0 + b.abs()), "{divergence:?}: losses {gpu:?} vs {cpu:?}");
            }
            for (p, q) in gpu_flow.blocks[0].store.values().iter().zip(cpu_flow.blocks[0].store.values()) {
                close("trained parameters", p, q, 1e-8);
            }
        }
    });
}

#[test]
fn fm_training_matches_the_cpu_run() {
    on_cuda("fm_training_matches_the_cpu_run", |dev| {
        let data = wasserflow::data::Toy::EightGaussians;
        let base = FmConfig { hidden: vec![32, 32], batch: 256, iterations: 10, ..FmConfig::reference(2) };
        let run = |device: Device| {
            let mut losses = Vec::new();
            train_fm::<f32>(
                &FmConfig { device, ..base.clone() },
                |n, rng| data.sample(n, rng),
                |r, _| {
                    losses.push(r.loss);
                    Ok(())
                },
            )
            .unwrap();
            losses
        };
        let (cpu, gpu) = (run(Device::Cpu), run(dev));
        for (a, b) in gpu.iter().zip(&cpu) {
            assert!((a - b).abs() < 1e-4 * (1.0 + b.abs()), "losses {gpu:?} vs {cpu:?}");
        }
    });
}
