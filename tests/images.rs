//! The image/ECG metrics and command: the Fréchet distance against its
//! closed form, power spectra of known signals, classifier features, and
//! `wasserflow images` end to end on the digits at a tiny budget.

mod common;

use common::{scratch, stderr, wasserflow};
use wasserflow::metrics::frechet::{classifier_features, frechet_distance};
use wasserflow::metrics::spectrum::{average_power_spectrum, spectrum_distance};
use wasserflow::nn::{ClassifierTraining, train_classifier};
use wasserflow::{Rng, Tensor};

#[test]
fn frechet_distance_of_gaussian_samples_matches_the_closed_form() {
    // 1-D: FD = (μ₁ − μ₂)² + (σ₁ − σ₂)².
    let mut rng = Rng::seed(4);
    let n = 20_000;
    let a: Vec<f64> = (0..n).map(|_| 1.0 + 2.0 * rng.normal()).collect();
    let b: Vec<f64> = (0..n).map(|_| -0.5 + 0.5 * rng.normal()).collect();
    let fd = frechet_distance(
        &Tensor::<f64>::from_f64s(&a, [n, 1]).unwrap(),
        &Tensor::<f64>::from_f64s(&b, [n, 1]).unwrap(),
    )
    .unwrap();
    let want = 1.5f64.powi(2) + 1.5f64.powi(2);
    assert!((fd - want).abs() < 0.1, "{fd} vs {want}");
    // A set against itself: 0 (up to rounding).
    let x = Tensor::<f64>::randn([200, 5], &mut rng).unwrap();
    assert!(frechet_distance(&x, &x).unwrap().abs() < 1e-9);
}

#[test]
fn power_spectrum_of_a_sinusoid_and_parseval() {
    let n = 64;
    let k0 = 5;
    let w: Vec<f64> =
        (0..2 * n).map(|j| (2.0 * std::f64::consts::PI * k0 as f64 * (j % n) as f64 / n as f64).cos()).collect();
    let p = average_power_spectrum(&w, n).unwrap();
    assert_eq!(p.len(), n / 2 + 1);
    // cos has |X_k0|² = (n/2)², so P_k0 = n/4; every other bin is 0.
    for (k, v) in p.iter().enumerate() {
        let want = if k == k0 { n as f64 / 4.0 } else { 0.0 };
        assert!((v - want).abs() < 1e-9, "bin {k}: {v}");
    }
    let d = spectrum_distance(&p, &p).unwrap();
    assert!(d.relative_l2 == 0.0 && d.log_spectral_db == 0.0);
    let doubled: Vec<f64> = p.iter().map(|v| 2.0 * v).collect();
    assert!((spectrum_distance(&p, &doubled).unwrap().relative_l2 - 1.0).abs() < 1e-12);
    assert!(average_power_spectrum(&w, 0).is_err() && average_power_spectrum(&w[..5], n).is_err());
}

#[test]
fn classifier_features_are_the_last_hidden_layer() {
    let mut rng = Rng::seed(1);
    let x = Tensor::<f64>::randn([40, 3], &mut rng).unwrap();
    let labels: Vec<usize> = (0..40).map(|i| i % 2).collect();
    let cfg = ClassifierTraining { hidden: vec![8, 5], iterations: 5, ..ClassifierTraining::default() };
    let c = train_classifier(&x, &labels, 2, &cfg, |_, _| {}).unwrap();
    let f = classifier_features(&c, &x).unwrap();
    assert_eq!(f.dims(), [40, 5]);
    // The logits are the last layer applied to the features.
    let last = c.mlp.layers.last().unwrap();
    let logits = f.affine(c.store.get(last.w), c.store.get(last.b)).unwrap().to_vec().unwrap();
    let want = c.eval_logits(&x).unwrap().to_vec().unwrap();
    for (a, b) in logits.iter().zip(&want) {
        assert!((a - b).abs() < 1e-12);
    }
}

#[test]
fn images_command_trains_and_reports_on_digits() {
    let dir = scratch("images-digits");
    let out = dir.join("run");
    let o = wasserflow(
        &[
            "images",
            "--data",
            "digits",
            "--widths",
            "4,8",
            "--iterations",
            "2",
            "--batch",
            "16",
            "--n-nll",
            "4",
            "--n-samples",
            "16",
            "--classifier-iterations",
            "3",
            "--step-size",
            "0.5",
            "--out",
            out.to_str().unwrap(),
        ],
        &dir,
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
    let bpd = summary["likelihood"]["bits_per_dim"].as_f64().unwrap();
    // Dequantized bits/dim of 17-level images: positive, and an untrained
    // model is far from the 0 a perfect one could approach.
    assert!(bpd.is_finite() && bpd > 0.5, "{bpd}");
    assert!(summary["quality"]["frechet_distance"].as_f64().unwrap() >= 0.0);
    assert!(out.join("figures/samples.png").is_file() && out.join("figures/real.png").is_file());
    // Bad input is an error, not a panic.
    let o = wasserflow(&["images", "--data", "cifar", "--out", out.to_str().unwrap()], &dir);
    assert!(!o.status.success() && stderr(&o).contains("digits, mnist or ecg"), "{}", stderr(&o));
    let o = wasserflow(&["images", "--data", "digits", "--widths", "4,4,4,4,4", "--out", out.to_str().unwrap()], &dir);
    assert!(!o.status.success() && stderr(&o).contains("divisible"), "{}", stderr(&o));
}
