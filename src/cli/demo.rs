//! `wasserflow demo`: the main job on a built-in default. Trains JKO-iFlow
//! on checkerboard with settings sized to take about a minute on two cores,
//! writes the figures and reports the test NLL and where the files are.

use super::settings::Settings;
use super::{DemoArgs, TrainArgs, train};
use crate::Result;

/// The demo's settings: JKO-iFlow with six blocks (steps 0.25·1.4^(k−1)
/// capped at 0.7) of a 64-wide MLP, 300 iterations each.
pub fn demo_settings(seed: u64) -> Settings {
    Settings {
        method: Some("jko".into()),
        data: Some("checkerboard".into()),
        seed: Some(seed),
        n_train: Some(20_000),
        n_test: Some(5_000),
        hidden: Some(vec![64, 64, 64]),
        batch: Some(1000),
        lr: Some(1e-3),
        iterations: Some(300),
        blocks: Some(6),
        h0: Some(0.25),
        rho: Some(1.4),
        h_max: Some(0.7),
        warm_start: Some(true),
        eval_n: Some(1000),
        ..Settings::default()
    }
}

/// Runs `demo`.
pub fn demo(a: DemoArgs) -> Result<()> {
    let settings = demo_settings(a.seed);
    println!(
        "demo: {} on {}, seed {}; run directory {}",
        settings.method.as_deref().unwrap_or(""),
        settings.data.as_deref().unwrap_or(""),
        a.seed,
        a.out.display()
    );
    train::train(TrainArgs { config: None, out: Some(a.out), resume: false, no_figures: false, force: false, settings })
}
