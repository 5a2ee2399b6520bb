//! `wasserflow demo`: the main job on a built-in default. Trains JKO-iFlow
//! on checkerboard with settings sized to take about a minute on two cores,
//! writes the figures and reports the test NLL and where the files are.

use super::settings::Settings;
use super::{DemoArgs, TrainArgs, train};
use crate::Result;

/// The demo's settings.
pub fn demo_settings(seed: u64) -> Settings {
    Settings {
        method: Some("cnf".into()),
        data: Some("checkerboard".into()),
        seed: Some(seed),
        n_train: Some(20_000),
        n_test: Some(5_000),
        hidden: Some(vec![32, 32]),
        step_size: Some(0.25),
        batch: Some(512),
        lr: Some(5e-3),
        iterations: Some(1500),
        eval_n: Some(1000),
        eval_step: Some(0.05),
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
    train::train(TrainArgs { config: None, out: Some(a.out), resume: false, no_figures: false, settings })
}
