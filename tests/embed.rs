//! The embedding API ([`wasserflow::io::Model`]) on a run the CLI trained:
//! densities in the data's units integrate to one (so the standardization's
//! Jacobian is accounted for), samples and the two maps agree, and bad
//! inputs are errors.

use std::process::Command;

use wasserflow::io::Model;
use wasserflow::{Rng, Tensor};

fn trained_run(name: &str, extra: &[&str]) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("wasserflow-embed-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let out = Command::new(env!("CARGO_BIN_EXE_wasserflow"))
        .args(["--threads", "1", "train", "--method", "fm", "--data", "8gaussians", "--iterations", "300"])
        .args(["--batch", "256", "--hidden", "32,32", "--no-figures", "--n-test", "200", "--eval-n", "200"])
        .args(extra)
        .arg("--out")
        .arg(&dir)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    dir
}

#[test]
fn a_trained_run_loads_and_its_density_integrates_to_one() {
    // Standardized training: the model's density lives in standardized units
    // and the API must undo it (8gaussians spreads to ±4, far from unit scale).
    let dir = trained_run("std", &["--standardize", "true"]);
    let model = Model::load(&dir).unwrap();
    assert_eq!((model.dim(), model.blocks()), (2, 1));
    let (n, lo, h) = (100usize, -7.0f32, 0.14f32);
    let mut pts = Vec::with_capacity(2 * n * n);
    for i in 0..n {
        for j in 0..n {
            pts.push(lo + h * (i as f32 + 0.5));
            pts.push(lo + h * (j as f32 + 0.5));
        }
    }
    let grid = Tensor::from_vec(pts, [n * n, 2]).unwrap();
    let mass: f64 = model.log_prob(&grid).unwrap().iter().map(|l| l.exp() * (h * h) as f64).sum();
    assert!((mass - 1.0).abs() < 0.05, "mass {mass}");

    let x = model.sample(300, 3).unwrap();
    assert_eq!(x.dims(), [300, 2]);
    // Samples land where the data are: radius about 2√2·(1 ± a spread).
    let r: f64 = x.to_f64_vec().unwrap().chunks(2).map(|p| (p[0] * p[0] + p[1] * p[1]).sqrt()).sum::<f64>() / 300.0;
    assert!((r - 2.83).abs() < 0.6, "mean radius {r}");
    let back = model.invert(&model.transport(&x).unwrap()).unwrap();
    let err = back.sub(&x).unwrap().to_f64_vec().unwrap().iter().fold(0.0f64, |m, v| m.max(v.abs()));
    assert!(err < 1e-3, "round trip error {err}");
    // Same seed, same samples; the loaded checkpoints dir works too.
    let again = Model::load(dir.join("checkpoints")).unwrap().sample(300, 3).unwrap();
    assert_eq!(again.to_vec().unwrap(), x.to_vec().unwrap());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn bad_inputs_are_errors() {
    let dir = trained_run("plain", &[]);
    let model = Model::load(&dir).unwrap();
    assert!(model.log_prob(&Tensor::zeros([4, 3])).is_err());
    assert!(model.transport(&Tensor::zeros([4])).is_err());
    assert!(Model::load(dir.join("nowhere")).is_err());
    let lp = model.log_prob(&Tensor::<f32>::randn([10, 2], &mut Rng::seed(1)).unwrap()).unwrap();
    assert!(lp.iter().all(|v| v.is_finite()));
    let _ = std::fs::remove_dir_all(&dir);
}
