//! Flow-DRO (tutorial V-C, eq. 29): the linear risk's closed-form optimal map
//! `x + γa`; a classifier that learns a separable problem; the worst-case
//! risk growing with `γ`; the PGD baseline staying in its ball; and the
//! `classifier`, `dro` and `dro-sample` commands end to end, including a
//! reference measure from a trained flow and every bad input.

mod common;

use common::{fails_with, scratch, stderr, wasserflow};

use wasserflow::data::labeled::two_class_moons;
use wasserflow::flows::EvalOptions;
use wasserflow::flows::dro::DroIteration;
use wasserflow::flows::dro::{
    ClassifierRisk, DroConfig, LinearRisk, PgdConfig, mean_risk, movement, pgd_l2, risk_and_gradient, train_dro,
    train_dro_grid,
};
use wasserflow::nn::{ClassifierTraining, train_classifier};
use wasserflow::{Rng, Tensor};

fn gaussian(n: usize, d: usize, seed: u64) -> Tensor<f32> {
    Tensor::randn([n, d], &mut Rng::seed(seed)).unwrap()
}

/// Largest and mean distance of the rows of `y` from those of `x` shifted by `shift`.
fn errors_from_shift(x: &Tensor<f32>, y: &Tensor<f32>, shift: &[f64]) -> (f64, f64) {
    let d = shift.len();
    let (x, y) = (x.to_f64_vec().unwrap(), y.to_f64_vec().unwrap());
    let e: Vec<f64> = x
        .chunks(d)
        .zip(y.chunks(d))
        .map(|(p, q)| p.iter().zip(q).zip(shift).map(|((a, b), s)| (b - a - s).powi(2)).sum::<f64>().sqrt())
        .collect();
    (e.iter().copied().fold(0.0, f64::max), e.iter().sum::<f64>() / e.len() as f64)
}

fn small_config(gamma: f64) -> DroConfig {
    DroConfig { hidden: vec![16], iterations: 1000, batch: 128, lr: 1e-2, ..DroConfig::new(gamma) }
}

/// For `R(x) = aᵀx` eq. (29) separates per point into `aᵀy − |y − x|²/2γ`,
/// maximized at `y = x + γa`. The learned map must be that shift within 3%
/// of `|γa|` at every one of 500 fresh points and within 0.5% on average (one
/// block, and two blocks composed), and its objective must reach the optimum
/// `aᵀx̄ + γ|a|²/2` within 0.1% of `γ|a|²`.
#[test]
fn linear_risk_learns_the_closed_form_shift() {
    let a = vec![1.0, -0.5, 0.25];
    let risk = LinearRisk { a: a.clone() };
    let reference = gaussian(512, 3, 1);
    let fresh = gaussian(500, 3, 2);
    for (gamma, blocks) in [(0.5, 1), (2.0, 2)] {
        let cfg = DroConfig { blocks, ..small_config(gamma) };
        let map = train_dro(&cfg, &risk, &reference, None, |_| Ok(())).unwrap();
        let y = map.transport(&fresh, EvalOptions::default()).unwrap();
        let shift: Vec<f64> = a.iter().map(|v| gamma * v).collect();
        let norm = shift.iter().map(|v| v * v).sum::<f64>().sqrt();
        let (max, mean) = errors_from_shift(&fresh, &y, &shift);
        assert!(max < 0.03 * norm, "γ = {gamma}, {blocks} block(s): max |F(x) − (x + γa)| = {max}, |γa| = {norm}");
        assert!(mean < 0.005 * norm, "γ = {gamma}, {blocks} block(s): mean |F(x) − (x + γa)| = {mean}, |γa| = {norm}");
        // Objective reached vs the optimum, on the fresh points.
        let a_sq: f64 = a.iter().map(|v| v * v).sum();
        let m = movement(&fresh, &y).unwrap();
        let objective = mean_risk(&risk, &y, None).unwrap() - m.mean_sq / (2.0 * gamma);
        let optimum = mean_risk(&risk, &fresh, None).unwrap() + gamma * a_sq / 2.0;
        assert!(optimum - objective < 1e-3 * gamma * a_sq, "γ = {gamma}: objective {objective}, optimum {optimum}");
    }
}

/// A classifier of 1000 points of two moons, its risk and its training data.
fn moons_classifier(seed: u64, iterations: usize, lr: f64) -> (ClassifierRisk<f32>, Tensor<f32>, Vec<usize>) {
    let (x, labels) = two_class_moons::<f32>(1000, &mut Rng::seed(seed)).unwrap();
    let cfg = ClassifierTraining { hidden: vec![32, 32], iterations, batch: 128, lr, ..Default::default() };
    let classifier = train_classifier(&x, &labels, 2, &cfg, |_, _| {}).unwrap();
    (ClassifierRisk { classifier }, x, labels)
}

/// Two moons with noise 0.1 are separable by a smooth curve: the classifier
/// must classify at least 98% of 1000 fresh points right.
#[test]
fn classifier_learns_two_moons() {
    let (risk, _, _) = moons_classifier(3, 400, 1e-2);
    let (x, labels) = two_class_moons::<f32>(1000, &mut Rng::seed(4)).unwrap();
    let acc = risk.classifier.accuracy(&x, &labels).unwrap();
    assert!(acc >= 0.98, "test accuracy {acc}");
}

/// The optimal value of eq. (29) is non-decreasing in `γ` and so is the
/// worst-case risk `E R(F*(X))` (a larger `γ` penalizes movement less), and
/// the movement grows with it. The trained maps must show both on the moons
/// classifier's cross-entropy, within a tolerance of 2% for training noise;
/// the largest `γ` must at least double the risk and bring the accuracy down
/// to at most 60%. (The cross-entropy of a confident classifier is flat near
/// its data, so small `γ` leave the points almost in place: the grid spans
/// the `γ` at which moving across the decision boundary starts to pay.)
/// Checked for maps trained from the identity and by continuation in `γ`.
#[test]
fn worst_case_risk_grows_with_gamma() {
    let (risk, x, labels) = moons_classifier(5, 300, 3e-3);
    let gammas = [0.3, 1.0, 3.0];
    let cfg = DroConfig { hidden: vec![32, 32], iterations: 250, batch: 200, lr: 1e-2, ..DroConfig::new(1.0) };
    let before = mean_risk(&risk, &x, Some(&labels)).unwrap();
    for warm in [false, true] {
        let maps = train_dro_grid(&cfg, &gammas, warm, &risk, &x, Some(&labels), |_, _| Ok(())).unwrap();
        let mut last = (before, 0.0);
        for (map, gamma) in maps.iter().zip(gammas) {
            let y = map.transport(&x, EvalOptions::default()).unwrap();
            let r = mean_risk(&risk, &y, Some(&labels)).unwrap();
            let moved = movement(&x, &y).unwrap().w2;
            assert!(r >= last.0 * 0.98, "warm {warm}, γ = {gamma}: risk {r} fell below {} of the smaller γ", last.0);
            assert!(moved >= last.1 * 0.98, "warm {warm}, γ = {gamma}: W2 moved {moved} fell below {}", last.1);
            last = (r, moved);
        }
        assert!(last.0 > 2.0 * before, "warm {warm}: the largest γ raised the risk only from {before} to {}", last.0);
        let y = maps.last().unwrap().transport(&x, EvalOptions::default()).unwrap();
        let acc = risk.classifier.accuracy(&y, &labels).unwrap();
        assert!(acc <= 0.6, "warm {warm}: accuracy after the worst-case map at γ = {}: {acc}", gammas[2]);
    }
}

/// Continuation in `γ`: with `warm_start` the grid is trained in increasing
/// `γ` and each map starts where the previous ended, so the first iteration
/// of `γ = 1` already moves the points by the `γ = 0.5` shift (transport cost
/// `|0.5a|²`, within 5%), while a cold start begins at the identity (cost 0).
/// The maps come back in the order the `γ` were given.
#[test]
fn warm_start_continues_from_the_smaller_gamma() {
    let a = [1.0, -0.5, 0.25];
    let risk = LinearRisk { a: a.to_vec() };
    let x = gaussian(512, 3, 10);
    let cfg = DroConfig { iterations: 300, ..small_config(1.0) };
    let shift_cost = 0.25 * a.iter().map(|v| v * v).sum::<f64>();
    for warm in [false, true] {
        let mut first = [f64::NAN; 2];
        let maps = train_dro_grid(&cfg, &[1.0, 0.5], warm, &risk, &x, None, |k, r: &DroIteration| {
            if r.iteration == 0 {
                first[k] = r.transport_cost;
            }
            Ok(())
        })
        .unwrap();
        assert_eq!((maps[0].gamma, maps[1].gamma), (1.0, 0.5));
        assert_eq!(first[1], 0.0, "γ = 0.5 is the smallest and starts at the identity");
        if warm {
            assert!(
                (first[0] / shift_cost - 1.0).abs() < 0.05,
                "warm γ = 1 starts at cost {}, not {shift_cost}",
                first[0]
            );
        } else {
            assert_eq!(first[0], 0.0, "a cold start is the identity");
        }
    }
}

/// PGD stays within its ℓ2 ball and raises the risk; the risk gradient of a
/// linear risk is `a` at every point; PGD on a linear risk ends at `x + r·a/|a|`.
#[test]
fn pgd_baseline_stays_in_its_ball() {
    let a = vec![3.0, 4.0];
    let risk = LinearRisk { a: a.clone() };
    let x = gaussian(300, 2, 6);
    let (_, g) = risk_and_gradient(&risk, &x, None).unwrap();
    assert!(g.to_f64_vec().unwrap().chunks(2).all(|r| (r[0] - 3.0).abs() < 1e-6 && (r[1] - 4.0).abs() < 1e-6));
    let y = pgd_l2(&risk, &x, None, &PgdConfig::new(0.5)).unwrap();
    assert!(errors_from_shift(&x, &y, &[0.3, 0.4]).0 < 1e-5);

    let (risk, x, labels) = moons_classifier(7, 400, 1e-2);
    let radius = 0.3;
    let y = pgd_l2(&risk, &x, Some(&labels), &PgdConfig::new(radius)).unwrap();
    let m = movement(&x, &y).unwrap();
    assert!(m.max_l2 <= radius * (1.0 + 1e-5), "PGD moved a point {} > {radius}", m.max_l2);
    assert!(m.mean_l2 > 0.5 * radius, "PGD hardly moved: mean {}", m.mean_l2);
    let (before, after) = (mean_risk(&risk, &x, Some(&labels)).unwrap(), mean_risk(&risk, &y, Some(&labels)).unwrap());
    assert!(after > before, "PGD lowered the risk: {before} → {after}");
}

/// Bad inputs to the library are errors, not panics.
#[test]
fn bad_library_inputs_are_errors() {
    let risk = LinearRisk { a: vec![1.0, 0.0] };
    let x = gaussian(64, 2, 8);
    for gamma in [0.0, -1.0, f64::NAN, f64::INFINITY] {
        assert!(train_dro(&small_config(gamma), &risk, &x, None, |_| Ok(())).is_err(), "γ = {gamma}");
    }
    assert!(train_dro(&small_config(1.0), &risk, &gaussian(64, 3, 8), None, |_| Ok(())).is_err(), "wrong dimension");
    let mut nan = x.to_vec().unwrap();
    nan[5] = f32::NAN;
    let nan = Tensor::from_vec(nan, [64, 2]).unwrap();
    assert!(train_dro(&small_config(1.0), &risk, &nan, None, |_| Ok(())).is_err(), "NaN in the reference");
    let (crisk, cx, _) = moons_classifier(9, 50, 1e-2);
    assert!(train_dro(&small_config(1.0), &crisk, &cx, None, |_| Ok(())).is_err(), "classifier risk without labels");
    assert!(train_dro(&small_config(1.0), &crisk, &cx, Some(&[0, 1]), |_| Ok(())).is_err(), "too few labels");
    assert!(train_dro_grid(&small_config(1.0), &[], false, &risk, &x, None, |_, _| Ok(())).is_err(), "empty γ grid");
    assert!(pgd_l2(&risk, &x, None, &PgdConfig::new(-1.0)).is_err());
}

// ----- the command line ---------------------------------------------------

use std::path::Path;
use std::process::Output;

use serde_json::Value;
use wasserflow::cli::dro::load_dro_map;
use wasserflow::data::{load_npy, save_npy};

#[track_caller]
fn succeeds(o: &Output) -> String {
    assert!(o.status.success(), "failed: {}", stderr(o));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// A small two-moons classifier at `clf.safetensors` in `dir`.
fn train_cli_classifier(dir: &Path) {
    let o = wasserflow(
        &[
            "classifier",
            "--data",
            "moons",
            "--out",
            "clf.safetensors",
            "--n",
            "600",
            "--hidden",
            "16,16",
            "--iterations",
            "300",
            "--lr",
            "3e-3",
        ],
        dir,
    );
    let out = succeeds(&o);
    assert!(out.contains("test accuracy"), "{out}");
    assert!(dir.join("clf.safetensors").is_file());
}

const SMALL_MAP: &[&str] = &["--n", "300", "--n-eval", "100", "--iterations", "60", "--hidden", "16", "--batch", "100"];

fn dro(dir: &Path, args: &[&str]) -> Output {
    let mut all = vec!["dro"];
    all.extend_from_slice(args);
    all.extend_from_slice(SMALL_MAP);
    wasserflow(&all, dir)
}

#[test]
fn help_of_the_dro_commands() {
    let dir = scratch("help");
    for sub in ["classifier", "dro", "dro-sample"] {
        let o = wasserflow(&[sub, "--help"], &dir);
        let text = succeeds(&o);
        insta::assert_snapshot!(format!("help_{}", sub.replace('-', "_")), text);
    }
}

/// `classifier` then `dro` over a γ grid (by continuation, so in increasing
/// γ): every output is written, the summary holds one result per γ with the
/// PGD baseline at the map's mean ℓ2, and the saved map, reloaded,
/// reproduces the saved transported points.
#[test]
fn classifier_then_dro_writes_maps_samples_figures_and_summary() {
    let dir = scratch("round");
    train_cli_classifier(&dir);
    let args =
        ["--risk", "classifier:clf.safetensors", "--gamma", "2,0.5", "--warm-start", "--data", "moons", "--out", "d"];
    let out = succeeds(&dro(&dir, &args));
    assert!(out.contains("PGD"), "{out}");
    let d = dir.join("d");
    for f in ["summary.json", "metrics.jsonl", "reference.npy", "labels.npy", "figures/before_after_gamma-0.5.png"] {
        assert!(d.join(f).is_file(), "{f} missing");
    }
    let summary: Value = serde_json::from_str(&std::fs::read_to_string(d.join("summary.json")).unwrap()).unwrap();
    let results = summary["results"].as_array().unwrap();
    assert_eq!(results.len(), 2);
    for (r, gamma) in results.iter().zip([0.5, 2.0]) {
        assert_eq!(r["gamma"].as_f64(), Some(gamma));
        for k in ["risk", "accuracy", "w2", "mean_l2", "objective"] {
            assert!(r[k].as_f64().is_some_and(f64::is_finite), "{k} in {r}");
        }
        let pgd_radius = r["pgd"]["radius"].as_f64().unwrap();
        assert!((pgd_radius - r["mean_l2"].as_f64().unwrap()).abs() < 1e-12, "PGD's budget is the map's mean ℓ2");
        assert!(r["pgd"]["max_l2"].as_f64().unwrap() <= pgd_radius * (1.0 + 1e-5));
    }
    let lines = std::fs::read_to_string(d.join("metrics.jsonl")).unwrap();
    assert_eq!(lines.lines().count(), 2 * 60);
    let map = load_dro_map(&d.join("gamma-2/map")).unwrap();
    assert_eq!(map.gamma, 2.0);
    let reference: Tensor<f32> = load_npy(d.join("reference.npy")).unwrap();
    let saved: Tensor<f32> = load_npy(d.join("gamma-2/transported.npy")).unwrap();
    let again = map.transport(&reference, EvalOptions::default()).unwrap();
    let diff = errors_from_shift(&saved, &again, &[0.0, 0.0]).0;
    assert!(diff < 1e-4, "the reloaded map moves points {diff} away from where the run put them");
}

/// The closed form through the command line: `linear:1,-0.5` with γ = 0.5
/// on 8gaussians moves every evaluation point by γa = (0.5, −0.25) within 3%
/// of |γa| (the reference points it was trained on are other points).
#[test]
fn linear_risk_from_the_cli_is_the_closed_form_shift() {
    let dir = scratch("linear");
    let o = wasserflow(
        &[
            "dro",
            "--risk",
            "linear:1,-0.5",
            "--gamma",
            "0.5",
            "--data",
            "8gaussians",
            "--out",
            "l",
            "--n",
            "512",
            "--n-eval",
            "200",
            "--iterations",
            "1000",
            "--hidden",
            "16",
            "--lr",
            "1e-2",
            "--batch",
            "128",
            "--pgd-steps",
            "0",
            "--no-figures",
        ],
        &dir,
    );
    succeeds(&o);
    let x: Tensor<f32> = load_npy(dir.join("l/reference.npy")).unwrap();
    let y: Tensor<f32> = load_npy(dir.join("l/gamma-0.5/transported.npy")).unwrap();
    let norm = (0.5f64 * 0.5 + 0.25 * 0.25).sqrt();
    let (max, _) = errors_from_shift(&x, &y, &[0.5, -0.25]);
    assert!(max < 0.03 * norm, "max |F(x) − (x + γa)| = {max}");
    assert!(!dir.join("l/gamma-0.5/pgd.npy").exists(), "--pgd-steps 0 runs no baseline");
}

/// The reference measure of a trained flow: `train` a small flow on moons,
/// train the map on its samples (labeled by the classifier), then
/// `dro-sample` draws new flow samples and pushes them through the saved
/// map: the files hold the asked-for points, the new samples are the map
/// of the flow samples written beside them, and the classifier's risk rises.
#[test]
fn new_worst_case_samples_from_a_trained_flow() {
    let dir = scratch("flow");
    train_cli_classifier(&dir);
    let o = wasserflow(
        &[
            "train",
            "--method",
            "fm",
            "--data",
            "moons",
            "--out",
            "flow",
            "--iterations",
            "100",
            "--hidden",
            "16,16",
            "--n-train",
            "500",
            "--n-test",
            "100",
            "--eval-n",
            "100",
            "--no-figures",
        ],
        &dir,
    );
    succeeds(&o);
    succeeds(&dro(
        &dir,
        &["--risk", "classifier:clf.safetensors", "--gamma", "1", "--reference", "flow:flow", "--out", "w"],
    ));
    let summary: Value = serde_json::from_str(&std::fs::read_to_string(dir.join("w/summary.json")).unwrap()).unwrap();
    assert_eq!(summary["settings"]["reference"]["kind"], "flow");
    let out = succeeds(&wasserflow(
        &["dro-sample", "w", "-n", "250", "--out", "new.npy", "--reference-out", "base.npy", "--seed", "4"],
        &dir,
    ));
    assert!(out.contains("worst-case samples"), "{out}");
    let (new, base): (Tensor<f32>, Tensor<f32>) =
        (load_npy(dir.join("new.npy")).unwrap(), load_npy(dir.join("base.npy")).unwrap());
    assert_eq!(new.dims(), &[250, 2]);
    assert_eq!(base.dims(), &[250, 2]);
    let map = load_dro_map(&dir.join("w/gamma-1/map")).unwrap();
    let again = map.transport(&base, EvalOptions::default()).unwrap();
    assert!(errors_from_shift(&new, &again, &[0.0, 0.0]).0 < 1e-4);
    // "risk a → b": the worst-case samples must be riskier than the flow's.
    let risks: Vec<f64> = out
        .split("risk ")
        .nth(1)
        .unwrap()
        .split(',')
        .next()
        .unwrap()
        .split(" → ")
        .map(|v| v.trim().parse().unwrap())
        .collect();
    assert!(risks[1] > risks[0], "risk {} → {}", risks[0], risks[1]);
    // A second draw with another seed gives other samples.
    succeeds(&wasserflow(&["dro-sample", "w", "-n", "250", "--out", "new2.npy", "--seed", "5"], &dir));
    let new2: Tensor<f32> = load_npy(dir.join("new2.npy")).unwrap();
    assert!(errors_from_shift(&new, &new2, &[0.0, 0.0]).0 > 1e-3);
}

/// Every bad input of SPEC.md is a message and a non-zero exit, never a panic.
#[test]
fn bad_inputs_are_clear_errors() {
    let dir = scratch("bad");
    train_cli_classifier(&dir);
    let clf = "classifier:clf.safetensors";
    let moons = ["--data", "moons", "--out", "o"];
    let with = |extra: &[&str]| -> Vec<String> { moons.iter().chain(extra).map(|s| s.to_string()).collect() };
    let run = |args: Vec<String>| {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        dro(&dir, &args)
    };
    // γ missing, zero, negative, not a number.
    fails_with(&run(with(&["--risk", clf])), "--gamma", &dir);
    fails_with(&run(with(&["--risk", clf, "--gamma", "0"])), "positive", &dir);
    fails_with(&run(with(&["--risk", clf, "--gamma=-1"])), "positive", &dir);
    fails_with(&run(with(&["--risk", clf, "--gamma", "abc"])), "abc", &dir);
    // Risks: unknown kind, missing file, a file that is not a classifier, bad coefficients, wrong dimension.
    fails_with(&run(with(&["--risk", "entropy:3", "--gamma", "1"])), "unknown risk", &dir);
    fails_with(&run(with(&["--risk", "classifier:nope.safetensors", "--gamma", "1"])), "nope.safetensors", &dir);
    std::fs::write(dir.join("junk.safetensors"), b"not a safetensors file").unwrap();
    fails_with(&run(with(&["--risk", "classifier:junk.safetensors", "--gamma", "1"])), "junk.safetensors", &dir);
    fails_with(&run(with(&["--risk", "linear:1,x", "--gamma", "1"])), "numbers", &dir);
    fails_with(&run(with(&["--risk", "linear:1,2,3", "--gamma", "1"])), "3-dimensional", &dir);
    let digits = vec!["--risk", clf, "--gamma", "1", "--data", "digits", "--out", "o"];
    fails_with(&dro(&dir, &digits), "2-dimensional", &dir);
    // Reference data: unknown, unlabeled for a classifier, labels that do not fit.
    fails_with(&dro(&dir, &["--risk", clf, "--gamma", "1", "--data", "swirl", "--out", "o"]), "swirl", &dir);
    fails_with(&dro(&dir, &["--risk", clf, "--gamma", "1", "--out", "o"]), "--data", &dir);
    let points = Tensor::<f32>::randn([400, 2], &mut Rng::seed(1)).unwrap();
    save_npy(dir.join("p.npy"), &points).unwrap();
    fails_with(&dro(&dir, &["--risk", clf, "--gamma", "1", "--data", "p.npy", "--out", "o"]), "--labels", &dir);
    let few = Tensor::<f32>::from_vec(vec![0.0; 10], [10, 1]).unwrap();
    save_npy(dir.join("few.npy"), &few).unwrap();
    fails_with(
        &dro(&dir, &["--risk", clf, "--gamma", "1", "--data", "p.npy", "--labels", "few.npy", "--out", "o"]),
        "labels",
        &dir,
    );
    let five = Tensor::<f32>::from_vec((0..400).map(|i| (i % 6) as f32).collect(), [400, 1]).unwrap();
    save_npy(dir.join("six.npy"), &five).unwrap();
    fails_with(
        &dro(&dir, &["--risk", clf, "--gamma", "1", "--data", "p.npy", "--labels", "six.npy", "--out", "o"]),
        "classes",
        &dir,
    );
    let mut nan = points.to_vec().unwrap();
    nan[7] = f32::NAN;
    save_npy(dir.join("nan.npy"), &Tensor::from_vec(nan, [400, 2]).unwrap()).unwrap();
    let halves = Tensor::<f32>::from_vec((0..400).map(|i| (i % 2) as f32).collect(), [400, 1]).unwrap();
    save_npy(dir.join("two.npy"), &halves).unwrap();
    fails_with(
        &dro(&dir, &["--risk", clf, "--gamma", "1", "--data", "nan.npy", "--labels", "two.npy", "--out", "o"]),
        "non-finite",
        &dir,
    );
    // Flow references: not a run, an unknown kind, --data given as well.
    fails_with(
        &dro(&dir, &["--risk", clf, "--gamma", "1", "--reference", "flow:nowhere", "--out", "o"]),
        "nowhere",
        &dir,
    );
    fails_with(&run(with(&["--risk", clf, "--gamma", "1", "--reference", "gan"])), "unknown reference", &dir);
    fails_with(&run(with(&["--risk", clf, "--gamma", "1", "--reference", "flow:x"])), "--data", &dir);
    // Settings no run can use.
    fails_with(&run(with(&["--risk", clf, "--gamma", "1", "--solver", "rk9"])), "rk9", &dir);
    fails_with(&run(with(&["--risk", clf, "--gamma", "1", "--blocks", "0"])), "positive", &dir);
    fails_with(&run(with(&["--risk", clf, "--gamma", "1", "--act", "gelu2"])), "gelu2", &dir);
    // classifier: bad output name, labels for a toy, too few points.
    fails_with(&wasserflow(&["classifier", "--data", "moons", "--out", "c.bin"], &dir), ".safetensors", &dir);
    let o = wasserflow(&["classifier", "--data", "moons", "--labels", "two.npy", "--out", "c.safetensors"], &dir);
    fails_with(&o, "--labels", &dir);
    let o = wasserflow(&["classifier", "--data", "moons", "--n", "3", "--out", "c.safetensors"], &dir);
    fails_with(&o, "hold out", &dir);
    // dro-sample: not a dro directory, a data reference, a γ it did not train, a broken map.
    fails_with(&wasserflow(&["dro-sample", "nothing", "--out", "s.npy"], &dir), "summary.json", &dir);
    succeeds(&dro(&dir, &["--risk", clf, "--gamma", "1", "--data", "moons", "--out", "onmoons", "--no-figures"]));
    fails_with(&wasserflow(&["dro-sample", "onmoons", "--out", "s.npy"], &dir), "trained on data", &dir);
    let o = wasserflow(&["dro-sample", "onmoons", "--out", "s.txt"], &dir);
    fails_with(&o, ".npy or .csv", &dir);
    // A classifier file given where a map is read, and a truncated map.
    let block = dir.join("onmoons/gamma-1/map/block-0001.safetensors");
    let map_err = load_dro_map(&dir.join("onmoons/gamma-1/map")).map(|_| ());
    assert!(map_err.is_ok());
    let bytes = std::fs::read(&block).unwrap();
    std::fs::write(&block, &bytes[..bytes.len() / 2]).unwrap();
    assert!(load_dro_map(&dir.join("onmoons/gamma-1/map")).is_err(), "a truncated map loads");
    std::fs::copy(dir.join("clf.safetensors"), &block).unwrap();
    assert!(load_dro_map(&dir.join("onmoons/gamma-1/map")).is_err(), "a classifier loads as a map");
}
