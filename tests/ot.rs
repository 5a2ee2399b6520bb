//! OT-flow and density-ratio estimation (tutorial V-B): closed-form checks
//! and the `ot` / `ratio` commands end to end.
//!
//! - Gaussian → Gaussian: the OT map is the affine Brenier map
//!   `x ↦ m + A x`, `A = S^{1/2}` for `p = N(0, I)`, `q = N(m, S)`, with
//!   `W2² = |m|² + tr(I + S − 2 S^{1/2})`. The learned map's transport cost
//!   is within 10% of `W2²` and its RMS distance to the Brenier map below
//!   0.15 W2 and below half the distance of another map that also pushes `p`
//!   to `q` (the Cholesky map `x ↦ m + L x`), so the test tells the optimal
//!   map from a mere transport.
//! - A logistic classifier recovers a known quadratic log ratio of two
//!   Gaussians (Lemma V.1).
//! - Telescoping: the estimate is the sum of its terms; along a chain of
//!   Gaussians 1σ apart it recovers `log q/p` between Gaussians 6σ apart far
//!   better than one classifier between them.
//! - Reversed blocks invert, KDE's bandwidth is Scott's, snapshots have the
//!   documented layout, and bad configurations and samples are errors.
//! - CLI: `ot` then `ratio` on the Fig. 10 pair with tiny settings; bad inputs.

mod common;

use common::{fails_cleanly, scratch, stderr, wasserflow};

use std::path::Path;
use std::process::Output;

use serde_json::Value;
use wasserflow::flows::ot::{NoOtHooks, diagnose, log_det_jacobian, reversed_block, warm_start_flow};
use wasserflow::flows::ratio::{
    Bridge, FlowRatio, Kde, fit_classifier, fit_one_step, fit_telescopic, flow_snapshots, reverse_flow_snapshots,
};
use wasserflow::flows::{Block, BlockFlow, ClassifierTraining, EvalOptions, OtConfig, OtInit, RatioModel, train_ot};
use wasserflow::io::checkpoint::load_flow;
use wasserflow::metrics::gaussian_w2;
use wasserflow::metrics::linalg::{cholesky, sqrt_psd};
use wasserflow::nn::Activation;
use wasserflow::{Error, Rng, Tensor};

/// `n` points of `N(m, C Cᵀ)` as `(z, x = m + C z)` for a 2 × 2 factor `C`.
fn gaussian(n: usize, m: [f64; 2], c: &[f64], rng: &mut Rng) -> (Vec<f64>, Tensor<f32>) {
    let z: Vec<f64> = (0..2 * n).map(|_| rng.normal()).collect();
    let x: Vec<f32> = z
        .chunks(2)
        .flat_map(|r| [(m[0] + c[0] * r[0] + c[1] * r[1]) as f32, (m[1] + c[2] * r[0] + c[3] * r[1]) as f32])
        .collect();
    (z, Tensor::from_vec(x, [n, 2]).unwrap())
}

fn rms_to_affine(x: &[f64], y: &Tensor<f32>, m: [f64; 2], a: &[f64]) -> f64 {
    let y = y.to_f64_vec().unwrap();
    let n = x.len() / 2;
    let mut s = 0.0;
    for i in 0..n {
        let (u, v) = (x[2 * i], x[2 * i + 1]);
        s += (y[2 * i] - m[0] - a[0] * u - a[1] * v).powi(2) + (y[2 * i + 1] - m[1] - a[2] * u - a[3] * v).powi(2);
    }
    (s / n as f64).sqrt()
}

#[test]
fn gaussian_to_gaussian_learns_the_brenier_map() {
    let m = [3.0, 1.0];
    let s = [0.5, 0.6, 0.6, 1.5];
    let root = sqrt_psd(&s, 2, "S").unwrap();
    let chol = cholesky(&s, 2, "S").unwrap();
    let w2 = gaussian_w2(&[0.0, 0.0], &[1.0, 0.0, 0.0, 1.0], &m, &s).unwrap();
    let mut rng = Rng::seed(1);
    let (z, p) = gaussian(4000, [0.0, 0.0], &[1.0, 0.0, 0.0, 1.0], &mut rng);
    let (_, q) = gaussian(4000, m, &root, &mut rng);
    let cfg = OtConfig {
        blocks: 2,
        steps_per_block: 2,
        hidden: vec![32, 32],
        batch: 256,
        iterations: 600,
        lr: 2e-3,
        gamma: 100.0,
        gamma_initial: Some(1.0),
        classifier: ClassifierTraining { hidden: vec![32, 32], lr: 5e-3, ..ClassifierTraining::reference() },
        classifier_steps: 3,
        classifier_warmup: 200,
        seed: 3,
        ..OtConfig::reference(2)
    };
    let state = train_ot(&cfg, &p, &q, OtInit::Fresh, &mut NoOtHooks).unwrap();
    let d = diagnose(&state, &p, &q, EvalOptions::default()).unwrap();
    let rel = (d.transport_cost - w2.squared).abs() / w2.squared;
    assert!(rel < 0.10, "transport cost {} vs W2² {} (relative error {rel})", d.transport_cost, w2.squared);
    assert!(d.kinetic >= d.transport_cost * (1.0 - 1e-9), "the path energy bounds the map's cost");
    let tx = state.flow.transport(&p, EvalOptions::default()).unwrap();
    let to_brenier = rms_to_affine(&z, &tx, m, &root);
    let cholesky_to_brenier = {
        let (mut s, n) = (0.0, z.len() / 2);
        for r in z.chunks(2) {
            let d0 = (chol[0] - root[0]) * r[0] + (chol[1] - root[1]) * r[1];
            let d1 = (chol[2] - root[2]) * r[0] + (chol[3] - root[3]) * r[1];
            s += d0 * d0 + d1 * d1;
        }
        (s / n as f64).sqrt()
    };
    assert!(to_brenier < 0.15 * w2.value, "map RMS distance to Brenier {to_brenier}, W2 {}", w2.value);
    assert!(
        to_brenier < 0.5 * cholesky_to_brenier,
        "map RMS distance to Brenier {to_brenier}, Cholesky map's {cholesky_to_brenier}"
    );
    // RK4 with 2 steps per block is not exactly invertible; at step 0.01 the flow is to 1e-4.
    let fine = EvalOptions::with_step(0.01);
    let back = state.flow.invert(&state.flow.transport(&p, fine).unwrap(), fine).unwrap();
    let inv = mse(&back.to_f64_vec().unwrap(), &p.to_f64_vec().unwrap()).sqrt();
    assert!(inv < 1e-4, "inversion error {inv}");
    assert!(d.inversion_rms < 1e-2, "inversion error on the training grid {}", d.inversion_rms);
    assert!(d.kl_forward.abs() < 0.2 && d.kl_reverse.abs() < 0.2, "KL estimates {} {}", d.kl_forward, d.kl_reverse);
}

/// `log N(x; m1, diag(v1)) − log N(x; m0, I)` per row.
fn gaussian_log_ratio(x: &Tensor<f32>, m1: [f64; 2], v1: [f64; 2]) -> Vec<f64> {
    x.to_f64_vec()
        .unwrap()
        .chunks(2)
        .map(|r| {
            let l1: f64 = (0..2).map(|j| -0.5 * (r[j] - m1[j]).powi(2) / v1[j] - 0.5 * v1[j].ln()).sum();
            let l0: f64 = (0..2).map(|j| -0.5 * r[j].powi(2)).sum();
            l1 - l0
        })
        .collect()
}

fn mse(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| (x - y).powi(2)).sum::<f64>() / a.len() as f64
}

#[test]
fn logistic_classifier_recovers_a_gaussian_log_ratio() {
    let (m1, v1) = ([1.0, 0.5], [1.5f64.powi(2), 0.8f64.powi(2)]);
    let mut rng = Rng::seed(5);
    let c1 = [v1[0].sqrt(), 0.0, 0.0, v1[1].sqrt()];
    let (_, x0) = gaussian(20_000, [0.0, 0.0], &[1.0, 0.0, 0.0, 1.0], &mut rng);
    let (_, x1) = gaussian(20_000, m1, &c1, &mut rng);
    let tr = ClassifierTraining {
        hidden: vec![32, 32],
        iterations: 1500,
        batch: 256,
        lr: 5e-3,
        ..ClassifierTraining::reference()
    };
    let (c, loss) = fit_classifier(&x0, &x1, &tr, &mut rng).unwrap();
    assert!(loss < 2.0 * std::f64::consts::LN_2, "the classifier separates better than chance: {loss}");
    // Evaluated where both have mass: fresh points of the even mixture.
    let (_, e0) = gaussian(2000, [0.0, 0.0], &[1.0, 0.0, 0.0, 1.0], &mut rng);
    let (_, e1) = gaussian(2000, m1, &c1, &mut rng);
    let e = Tensor::concat(&[&e0, &e1], 0).unwrap();
    let err = mse(&c.logits(&e, None).unwrap(), &gaussian_log_ratio(&e, m1, v1));
    assert!(err < 0.05, "mean squared error of the logit against log f1/f0: {err}");
}

#[test]
fn classifier_learning_rate_follows_its_cosine() {
    let tr = ClassifierTraining { iterations: 101, lr: 1e-2, lr_final: Some(1e-4), ..ClassifierTraining::reference() };
    assert!((tr.lr_at(0) - 1e-2).abs() < 1e-15);
    assert!((tr.lr_at(50) - 0.5 * (1e-2 + 1e-4)).abs() < 1e-12);
    assert!((tr.lr_at(100) - 1e-4).abs() < 1e-15);
    assert!(tr.validate().is_ok());
    let constant = ClassifierTraining { lr_final: None, ..tr.clone() };
    assert_eq!(constant.lr_at(77), 1e-2);
    for bad in [f64::NAN, -1e-3, f64::INFINITY] {
        assert!(ClassifierTraining { lr_final: Some(bad), ..tr.clone() }.validate().is_err(), "{bad}");
    }
}

#[test]
fn telescoping_beats_one_step_across_a_density_chasm() {
    // p = N(0, I), q = N((6, 0), I), bridged by N((k, 0), I), k = 1..5.
    let mut rng = Rng::seed(9);
    let snapshots: Vec<Tensor<f32>> =
        (0..=6).map(|k| gaussian(4000, [k as f64, 0.0], &[1.0, 0.0, 0.0, 1.0], &mut rng).1).collect();
    let tr = ClassifierTraining {
        hidden: vec![16],
        iterations: 500,
        batch: 256,
        lr: 1e-2,
        ..ClassifierTraining::reference()
    };
    let tele = fit_telescopic(&snapshots, RatioModel::PerPair, &tr, &mut rng).unwrap();
    assert_eq!(tele.pairs, 6);
    let one = fit_one_step(&snapshots[0], &snapshots[6], &tr, &mut rng).unwrap();
    let (_, at_p) = gaussian(2000, [0.0, 0.0], &[1.0, 0.0, 0.0, 1.0], &mut rng);
    let (_, at_q) = gaussian(2000, [6.0, 0.0], &[1.0, 0.0, 0.0, 1.0], &mut rng);
    let x = Tensor::concat(&[&at_p, &at_q], 0).unwrap();
    let truth = gaussian_log_ratio(&x, [6.0, 0.0], [1.0, 1.0]);

    // The estimate is the sum of its terms (eq. 28).
    let terms = tele.terms(&x).unwrap();
    let sum: Vec<f64> = (0..truth.len()).map(|i| terms.iter().map(|t| t[i]).sum()).collect();
    let est = tele.log_ratio(&x).unwrap();
    assert!(est.iter().zip(&sum).all(|(a, b)| (a - b).abs() < 1e-9));

    let (e_tele, e_one) = (mse(&est, &truth), mse(&one.logits(&x, None).unwrap(), &truth));
    let spread = mse(&truth, &vec![truth.iter().sum::<f64>() / truth.len() as f64; truth.len()]);
    assert!(e_tele < 0.02 * spread, "telescopic MSE {e_tele}, variance of the truth {spread}");
    assert!(e_tele < 0.2 * e_one, "telescopic MSE {e_tele}, one-step MSE {e_one}");

    // Both bridges: the reverse one estimates log p/q on the snapshots reversed.
    let reversed: Vec<Tensor<f32>> = snapshots.iter().rev().cloned().collect();
    let reverse = fit_telescopic(&reversed, RatioModel::PerPair, &tr, &mut rng).unwrap();
    let both = FlowRatio { forward: tele.clone(), reverse };
    let (f, r) = (both.log_ratio(&x, Bridge::Forward).unwrap(), both.log_ratio(&x, Bridge::Reverse).unwrap());
    let avg = both.log_ratio(&x, Bridge::Both).unwrap();
    let weighted = both.log_ratio(&x, Bridge::Weighted).unwrap();
    for i in 0..x.dims()[0] {
        assert!((avg[i] - 0.5 * (f[i] + r[i])).abs() < 1e-9);
        // The weight is the estimated probability of q: the forward bridge where q dominates.
        let w = 1.0 / (1.0 + (-avg[i]).exp());
        assert!((weighted[i] - (w * f[i] + (1.0 - w) * avg[i])).abs() < 1e-9);
    }
    assert!(mse(&weighted, &truth) < 0.02 * spread, "weighted MSE {}", mse(&weighted, &truth));

    let tr_t = ClassifierTraining { iterations: 800, hidden: vec![32], ..tr };
    let timed = fit_telescopic(&snapshots, RatioModel::TimeConditional, &tr_t, &mut rng).unwrap();
    let e_time = mse(&timed.log_ratio(&x).unwrap(), &truth);
    assert!(e_time < 0.2 * e_one, "time-conditional MSE {e_time}, one-step MSE {e_one}");
}

fn random_block(seed: u64) -> Block<f64> {
    let spec = OtConfig { hidden: vec![16, 16], act: Activation::Tanh, steps_per_block: 40, ..OtConfig::reference(2) }
        .block_spec()
        .unwrap();
    Block::new(spec, &mut Rng::seed(seed)).unwrap()
}

#[test]
fn reversed_blocks_invert_and_warm_starts_compose() {
    let b = random_block(2);
    let r = reversed_block(&b).unwrap();
    let x = Tensor::<f64>::randn([200, 2], &mut Rng::seed(4)).unwrap();
    let mut fwd = BlockFlow::new(2);
    fwd.push(b).unwrap();
    let mut rev = BlockFlow::new(2);
    rev.push(r).unwrap();
    let y = fwd.transport(&x, EvalOptions::default()).unwrap();
    let back = rev.transport(&y, EvalOptions::default()).unwrap();
    let err = mse(&back.to_f64_vec().unwrap(), &x.to_f64_vec().unwrap()).sqrt();
    assert!(err < 1e-6, "reversed block after block: RMS {err}");
    // F⁻¹ ∘ F is the identity: a warm start from the same flow twice.
    let mut f = BlockFlow::new(2);
    f.push(random_block(3)).unwrap();
    f.push(random_block(4)).unwrap();
    let warm = warm_start_flow(&f, &f).unwrap();
    assert_eq!(warm.len(), 4);
    let same = warm.transport(&x, EvalOptions::default()).unwrap();
    let err = mse(&same.to_f64_vec().unwrap(), &x.to_f64_vec().unwrap()).sqrt();
    assert!(err < 1e-6, "F⁻¹ ∘ F: RMS {err}");
}

#[test]
fn snapshots_kde_and_log_det_on_simple_flows() {
    // A fresh OT flow is the identity: snapshots repeat p, the log-determinant is 0.
    let cfg = OtConfig { iterations: 0, classifier_warmup: 0, ..OtConfig::reference(2) };
    let mut rng = Rng::seed(6);
    let (_, p) = gaussian(300, [0.0, 0.0], &[1.0, 0.0, 0.0, 1.0], &mut rng);
    let (_, q) = gaussian(300, [2.0, 0.0], &[1.0, 0.0, 0.0, 1.0], &mut rng);
    let state = train_ot(&cfg, &p, &q, OtInit::Fresh, &mut NoOtHooks).unwrap();
    let snaps = flow_snapshots(&state.flow, &p, &q, 2, EvalOptions::default()).unwrap();
    assert_eq!(snaps.len(), 1 + 2 * cfg.blocks + 1);
    for s in &snaps[..snaps.len() - 1] {
        assert_eq!(s.to_vec().unwrap(), p.to_vec().unwrap());
    }
    assert_eq!(snaps.last().unwrap().to_vec().unwrap(), q.to_vec().unwrap());
    let back = reverse_flow_snapshots(&state.flow, &p, &q, 1, EvalOptions::default()).unwrap();
    assert_eq!(back.len(), 1 + cfg.blocks + 1);
    assert_eq!(back[0].to_vec().unwrap(), q.to_vec().unwrap());
    assert_eq!(back[back.len() - 2].to_vec().unwrap(), q.to_vec().unwrap());
    assert_eq!(back.last().unwrap().to_vec().unwrap(), p.to_vec().unwrap());
    let ld = log_det_jacobian(&state.flow, &p, EvalOptions::default(), &mut rng).unwrap();
    assert!(ld.iter().all(|v| v.abs() < 1e-5), "identity flow log-det {:?}", &ld[..3]);
    assert!(matches!(flow_snapshots(&state.flow, &p, &q, 5, EvalOptions::default()), Err(Error::InvalidArgument(_))));

    // Scott's rule and the KDE's density of N(0, 1)² near the origin.
    let (_, x) = gaussian(5000, [0.0, 0.0], &[1.0, 0.0, 0.0, 1.0], &mut rng);
    let kde = Kde::scott(&x).unwrap();
    let sd: Vec<f64> = (0..2)
        .map(|j| {
            let v: Vec<f64> = x.to_f64_vec().unwrap().iter().skip(j).step_by(2).copied().collect();
            let m = v.iter().sum::<f64>() / v.len() as f64;
            (v.iter().map(|a| (a - m).powi(2)).sum::<f64>() / (v.len() - 1) as f64).sqrt()
        })
        .collect();
    for (j, sd) in sd.iter().enumerate() {
        let want = sd * 5000f64.powf(-1.0 / 6.0);
        assert!((kde.bandwidth[j] - want).abs() < 1e-12, "bandwidth {j}: {} vs {want}", kde.bandwidth[j]);
    }
    let origin = Tensor::<f32>::zeros([1, 2]);
    let h2 = kde.bandwidth[0] * kde.bandwidth[1];
    // The KDE's mean is the density convolved with the kernel: N(0, (1 + h²) I) at 0.
    let want = -(2.0 * std::f64::consts::PI).ln()
        - 0.5 * ((1.0 + kde.bandwidth[0].powi(2)) * (1.0 + kde.bandwidth[1].powi(2))).ln();
    let got = kde.log_density(&origin).unwrap()[0];
    assert!((got - want).abs() < 0.1, "KDE log density at 0: {got} vs {want} (h² = {h2})");
}

#[test]
fn bad_configurations_and_samples_are_errors() {
    let mut rng = Rng::seed(8);
    let (_, p) = gaussian(100, [0.0, 0.0], &[1.0, 0.0, 0.0, 1.0], &mut rng);
    let run = |cfg: &OtConfig, p: &Tensor<f32>, q: &Tensor<f32>| {
        train_ot(cfg, p, q, OtInit::Fresh, &mut NoOtHooks).map(|_| ())
    };
    let base = OtConfig { iterations: 1, classifier_warmup: 1, batch: 16, ..OtConfig::reference(2) };
    assert!(matches!(run(&OtConfig { gamma: 0.0, ..base.clone() }, &p, &p), Err(Error::InvalidArgument(_))));
    assert!(matches!(
        run(&OtConfig { gamma_initial: Some(-1.0), ..base.clone() }, &p, &p),
        Err(Error::InvalidArgument(_))
    ));
    assert!(matches!(run(&OtConfig { lr: f64::NAN, ..base.clone() }, &p, &p), Err(Error::InvalidArgument(_))));
    assert!(matches!(run(&OtConfig { blocks: 0, ..base.clone() }, &p, &p), Err(Error::InvalidArgument(_))));
    let three = Tensor::<f32>::zeros([10, 3]);
    assert!(matches!(run(&base, &p, &three), Err(Error::Shape(_))));
    let mut bad = p.to_vec().unwrap();
    bad[7] = f32::NAN;
    let bad = Tensor::from_vec(bad, [100, 2]).unwrap();
    assert!(matches!(run(&base, &bad, &p), Err(Error::NonFinite(_))));
    assert!(run(&base, &p, &p).is_ok());
    let tr = ClassifierTraining { iterations: 0, ..ClassifierTraining::reference() };
    assert!(matches!(fit_classifier(&p, &p, &tr, &mut rng), Err(Error::InvalidArgument(_))));
    assert!(matches!(
        fit_telescopic(std::slice::from_ref(&p), RatioModel::PerPair, &ClassifierTraining::reference(), &mut rng),
        Err(Error::InvalidArgument(_))
    ));
    assert!(matches!(RatioModel::from_name("nope"), Err(Error::InvalidArgument(_))));
}

// ----- the command line ---------------------------------------------------

const TINY: &[&str] = &[
    "--n-train",
    "400",
    "--n-test",
    "200",
    "--blocks",
    "2",
    "--steps-per-block",
    "1",
    "--hidden",
    "8",
    "--classifier-hidden",
    "8",
    "--iterations",
    "15",
    "--batch",
    "64",
    "--classifier-warmup",
    "10",
    "--ratio-iterations",
    "10",
    "--ratio-batch",
    "64",
    "--eval-step",
    "0.1",
    "--seed",
    "2",
];

fn ot_tiny(dir: &Path, out: &str, extra: &[&str]) -> Output {
    let mut args = vec!["ot", "--source", "fig10-p", "--target", "fig10-q", "--out", out];
    args.extend_from_slice(TINY);
    args.extend_from_slice(extra);
    wasserflow(&args, dir)
}

#[test]
fn ot_then_ratio_end_to_end() {
    let dir = scratch("round");
    let o = ot_tiny(&dir, "run", &[]);
    assert!(o.status.success(), "ot failed: {}", stderr(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("transport cost") && out.contains("exact KL"), "summary: {out}");
    for f in [
        "config.toml",
        "checkpoints/block-0001.safetensors",
        "checkpoints/block-0002.safetensors",
        "checkpoints/kl-target.safetensors",
        "checkpoints/kl-source.safetensors",
        "ratio/one-step.safetensors",
        "ratio/forward-0001.safetensors",
        "ratio/forward-0005.safetensors",
        "ratio/reverse-0005.safetensors",
        "figures/trajectories.png",
        "figures/transport.png",
        "figures/log_ratio.png",
        "figures/loss.png",
    ] {
        assert!(dir.join("run").join(f).is_file(), "{f} missing");
    }
    let metrics = std::fs::read_to_string(dir.join("run/metrics.jsonl")).unwrap();
    let records: Vec<Value> = metrics.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let ot = records.iter().find(|r| r["kind"] == "ot").expect("an ot record");
    for k in ["transport_cost", "kinetic", "kl_forward_exact", "kl_reverse_exact", "inversion_rms", "train_s"] {
        assert!(ot[k].as_f64().is_some_and(f64::is_finite), "{k} in {ot}");
    }
    let ratio = records.iter().find(|r| r["kind"] == "ratio").expect("a ratio record");
    for est in ["telescopic", "telescopic-weighted", "telescopic-forward", "telescopic-reverse", "one-step", "kde"] {
        for set in ["p", "q", "grid"] {
            assert!(ratio["mse"][est][set].as_f64().is_some_and(f64::is_finite), "{est}/{set} in {ratio}");
        }
    }

    let pts = Tensor::<f32>::from_vec(vec![-1.5, 1.5, 0.75, -1.5, -2.0, -3.0], [3, 2]).unwrap();
    wasserflow::data::save_npy(dir.join("pts.npy"), &pts).unwrap();
    for est in ["telescopic", "telescopic-weighted", "telescopic-forward", "one-step", "kde"] {
        let o = wasserflow(
            &["ratio", "--model", "run", "--at", "pts.npy", "--out", "est.npy", "--estimator", est, "--json"],
            &dir,
        );
        assert!(o.status.success(), "ratio {est} failed: {}", stderr(&o));
        let v: Value = serde_json::from_slice(&o.stdout).expect("one JSON object");
        assert_eq!(v["n"], 3);
        assert!(v["mse_vs_truth"].as_f64().is_some_and(f64::is_finite));
        let est_values = wasserflow::data::load_npy::<f32>(dir.join("est.npy")).unwrap();
        assert_eq!(est_values.dims(), &[3, 1]);
        assert!(est_values.all_finite().unwrap());
    }
    // The same seed gives the same flow (the files differ in the settings they record).
    assert!(ot_tiny(&dir, "again", &["--ratio", "false"]).status.success());
    let (a, _) = load_flow::<f32>(&dir.join("run/checkpoints")).unwrap();
    let (b, _) = load_flow::<f32>(&dir.join("again/checkpoints")).unwrap();
    for (x, y) in a.blocks.iter().zip(&b.blocks) {
        for (u, v) in x.store.values().iter().zip(y.store.values()) {
            assert_eq!(u.to_vec().unwrap(), v.to_vec().unwrap(), "two runs of one seed differ");
        }
    }
    // A run without ratio classifiers fits them on demand.
    let o = wasserflow(&["ratio", "--model", "again", "--at", "pts.npy"], &dir);
    assert!(o.status.success(), "ratio on demand failed: {}", stderr(&o));
    assert!(dir.join("again/ratio/one-step.safetensors").is_file());
}

#[test]
fn ot_and_ratio_refuse_bad_input() {
    let dir = scratch("bad");
    fails_cleanly(&wasserflow(&["ot", "--target", "fig10-q"], &dir), "--source");
    fails_cleanly(&wasserflow(&["ot", "--source", "fig10-p"], &dir), "--target");
    fails_cleanly(&ot_tiny(&dir, "r", &["--source", "no-such-set"]), "no-such-set");
    fails_cleanly(&ot_tiny(&dir, "r", &["--gamma", "0"]), "--gamma");
    fails_cleanly(&ot_tiny(&dir, "r", &["--ratio-model", "nope"]), "nope");
    fails_cleanly(&ot_tiny(&dir, "r", &["--warm-source", "x"]), "--warm-target");
    let three = Tensor::<f32>::from_vec((0..900).map(|i| (i as f32 * 0.37).sin()).collect(), [300, 3]).unwrap();
    wasserflow::data::save_npy(dir.join("three.npy"), &three).unwrap();
    fails_cleanly(&ot_tiny(&dir, "r", &["--source", "three.npy"]), "dimensional");
    let mut nan = (0..600).map(|i| (i as f32 * 0.37).cos()).collect::<Vec<_>>();
    nan[11] = f32::NAN;
    wasserflow::data::save_npy(dir.join("nan.npy"), &Tensor::from_vec(nan, [300, 2]).unwrap()).unwrap();
    fails_cleanly(&ot_tiny(&dir, "r", &["--target", "nan.npy"]), "non-finite");
    std::fs::write(dir.join("typo.toml"), "gama = 3\n").unwrap();
    fails_cleanly(
        &wasserflow(&["ot", "--config", "typo.toml", "--source", "fig10-p", "--target", "fig10-q"], &dir),
        "gama",
    );

    fails_cleanly(&wasserflow(&["ratio", "--model", "no-such-run", "--at", "p.npy"], &dir), "no-such-run");
    assert!(ot_tiny(&dir, "run", &["--ratio", "false", "--no-figures"]).status.success());
    fails_cleanly(&wasserflow(&["ratio", "--model", "run", "--at", "missing.npy"], &dir), "missing.npy");
    fails_cleanly(&wasserflow(&["ratio", "--model", "run", "--at", "three.npy"], &dir), "dimensional");
    fails_cleanly(&wasserflow(&["ratio", "--model", "run", "--at", "nan.npy"], &dir), "non-finite");
    fails_cleanly(&wasserflow(&["ratio", "--model", "run", "--at", "fig10-p"], &dir), "--at");
    fails_cleanly(&wasserflow(&["ratio", "--model", "run", "--at", "nan.npy", "--estimator", "magic"], &dir), "magic");
    fails_cleanly(&wasserflow(&["ratio", "--model", "run", "--at", "three.npy", "--out", "x.txt"], &dir), "--out");
}

#[test]
fn ot_warm_starts_from_two_trained_flows() {
    let dir = scratch("warm");
    for (name, data) in [("p", "fig10-p"), ("q", "fig10-q")] {
        let o = wasserflow(
            &[
                "train",
                "--method",
                "cnf",
                "--data",
                data,
                "--out",
                name,
                "--no-figures",
                "--hidden",
                "8",
                "--iterations",
                "4",
                "--batch",
                "64",
                "--n-train",
                "300",
                "--n-test",
                "100",
                "--eval-n",
                "50",
                "--step-size",
                "0.5",
                "--eval-step",
                "0.5",
            ],
            &dir,
        );
        assert!(o.status.success(), "train {name} failed: {}", stderr(&o));
    }
    let o = ot_tiny(&dir, "warm", &["--warm-source", "p", "--warm-target", "q", "--ratio", "false", "--no-figures"]);
    assert!(o.status.success(), "warm-started ot failed: {}", stderr(&o));
    // One block from each flow; the second is the target flow's block reversed.
    let (flow, _) = load_flow::<f32>(&dir.join("warm/checkpoints")).unwrap();
    assert_eq!(flow.len(), 2);
    assert!(!dir.join("warm/checkpoints/block-0003.safetensors").exists());
}
