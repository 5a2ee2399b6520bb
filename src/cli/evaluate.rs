//! `wasserflow eval` and the evaluation at the end of `train`: test NLL
//! (nats, and bits per dimension), sample quality (MMD with the median-
//! heuristic Gaussian kernel, energy distance, W2: exact for up to 2000
//! points, sliced above), KL(p_true ‖ p_model) where the data density is
//! known, and the flow's inversion error. Every number is in the data's own
//! units; every random choice comes from the given seed.

use crate::io::json::Value;
use crate::json;

use super::EvalArgs;
use super::data::{RunData, dequantize, subsample};
use super::run_dir::TrainedRun;
use super::settings::Settings;
use crate::data::{DataSource, Standardizer};
use crate::density::Divergence;
use crate::flows::{BlockFlow, EvalOptions};
use crate::io::model::evaluation_divergence;
use crate::metrics::{Bandwidth, bits_per_dim, energy_distance, inversion_error, kl_monte_carlo, mean_nll, mmd2, w2};
use crate::tensor::Tensor;
use crate::{Result, Rng, invalid_arg, setting};

/// How the evaluation integrates the flow: the settings' `eval_step` (0 keeps
/// the training grid) and [`evaluation_divergence`]; a flow trained on its
/// discrete map's Jacobian is evaluated on it too.
pub fn eval_options(s: &Settings, dim: usize) -> EvalOptions {
    let step = setting!(s, eval_step);
    let jacobian = matches!(Divergence::from_name(&setting!(s, divergence)), Ok(Divergence::DiscreteJacobian));
    let divergence = evaluation_divergence(dim, jacobian);
    EvalOptions { step: (step > 0.0).then_some(step), divergence: Some(divergence), ..EvalOptions::default() }
}

fn standardized(x: &Tensor<f32>, st: &Option<Standardizer>) -> Result<Tensor<f32>> {
    match st {
        Some(st) => st.apply(x),
        None => Ok(x.clone()),
    }
}

/// Samples from the flow, in the data's units.
pub fn draw_samples(
    flow: &BlockFlow<f32>,
    n: usize,
    st: &Option<Standardizer>,
    opts: EvalOptions,
    rng: &mut Rng,
) -> Result<Tensor<f32>> {
    let z = flow.sample(n, rng, opts)?;
    match st {
        Some(st) => st.invert(&z),
        None => Ok(z),
    }
}

/// Every metric of a flow on `test` (in the data's units), as one JSON object.
pub fn evaluate(
    flow: &BlockFlow<f32>,
    test: &Tensor<f32>,
    st: &Option<Standardizer>,
    source: Option<&DataSource>,
    s: &Settings,
    seed: u64,
) -> Result<Value> {
    let dim = flow.dim;
    let opts = eval_options(s, dim);
    let mut rng = Rng::seed(seed ^ 0xe7a1);
    let log_det = st.as_ref().map_or(0.0, Standardizer::log_det);

    let lp_std = flow.log_prob(&standardized(test, st)?, 2048, &mut rng, opts)?;
    let nll = mean_nll(&lp_std)? + log_det;
    let log_model: Vec<f64> = lp_std.iter().map(|l| l - log_det).collect();

    let n = setting!(s, eval_n).min(test.dims()[0]);
    let reference = subsample(test, n, &mut rng)?;
    let samples = draw_samples(flow, n, st, opts, &mut rng)?;
    let mmd = mmd2(&reference, &samples, &Bandwidth::Median, &mut rng)?;
    let energy = energy_distance(&reference, &samples)?;
    let w = w2(&reference, &samples, &mut rng)?;

    let kl = match source.and_then(|src| src.log_prob(test)) {
        Some(log_true) => {
            let r = kl_monte_carlo(&log_true?, &log_model)?;
            json!({"value": r.kl, "std_error": r.std_error, "n": r.n})
        }
        None => Value::Null,
    };

    let x = standardized(&reference, st)?;
    let round_trip = flow.invert(&flow.transport(&x, opts)?, opts)?;
    let inv = inversion_error(&x, &round_trip)?;

    let mut report = json!({
        "data": source.map(|d| d.name().to_owned()),
        "dim": dim,
        "blocks": flow.len(),
        "n_test": test.dims()[0],
        "nll_nats": nll,
        "bits_per_dim": bits_per_dim(nll, dim)?,
        "mmd2": {"value": mmd.mmd2, "kernel": "gaussian", "bandwidths": mmd.bandwidths, "rule": mmd.rule, "n": n},
        "energy_distance": {"value": energy, "n": n},
        "w2": {"value": w.value, "method": w.method, "projections": w.projections, "n": n},
        "kl_true_model": kl,
        "inversion_error": {"mean": inv.mean, "max": inv.max, "units": if st.is_some() { "standardized" } else { "data" }, "n": n},
        "eval_step": opts.step,
        "divergence": match opts.divergence {
            Some(Divergence::Exact) => "exact",
            Some(Divergence::DiscreteJacobian) => "jacobian",
            _ => "hutchinson",
        },
        "seed": seed,
    });
    if source.and_then(DataSource::levels).is_some() {
        report["dequantization"] =
            json!("uniform, x + U with U ~ Uniform[0, 1)^d: the NLL bounds the discrete NLL from above");
    }
    Ok(report)
}

/// A few readable lines of an evaluation.
pub fn summary(r: &Value) -> String {
    let f = |v: &Value| v.as_f64().map_or("n/a".to_owned(), |x| format!("{x:.4}"));
    let mut lines = vec![
        format!(
            "test NLL        {} nats ({} bits/dim) on {} points",
            f(&r["nll_nats"]),
            f(&r["bits_per_dim"]),
            r["n_test"]
        ),
        format!(
            "MMD²            {} (Gaussian kernel, {})",
            f(&r["mmd2"]["value"]),
            r["mmd2"]["rule"].as_str().unwrap_or("")
        ),
        format!("energy distance {}", f(&r["energy_distance"]["value"])),
        format!("W2              {} ({})", f(&r["w2"]["value"]), r["w2"]["method"].as_str().unwrap_or("")),
    ];
    if !r["kl_true_model"].is_null() {
        lines.push(format!(
            "KL(p_data‖model) {} ± {}",
            f(&r["kl_true_model"]["value"]),
            f(&r["kl_true_model"]["std_error"])
        ));
    }
    let e = |v: &Value| v.as_f64().map_or("n/a".to_owned(), |x| format!("{x:.2e}"));
    lines.push(format!(
        "inversion error {} mean, {} max",
        e(&r["inversion_error"]["mean"]),
        e(&r["inversion_error"]["max"])
    ));
    lines.join("\n")
}

/// Runs `eval`.
pub fn eval_command(a: EvalArgs) -> Result<()> {
    let run = TrainedRun::load(&a.run)?;
    let mut settings = run.settings.clone();
    if let Some(h) = a.eval_step {
        if !(h >= 0.0 && h.is_finite()) {
            invalid_arg!("--eval-step must be a finite number ≥ 0 (0 keeps the training grid), got {h}");
        }
        settings.eval_step = Some(h);
    }
    if let Some(d) = &a.divergence {
        if !matches!(d.as_str(), "exact" | "jacobian") {
            invalid_arg!("--divergence of an evaluation is exact or jacobian, got '{d}'");
        }
        settings.divergence = Some(d.clone());
    }
    let s = &settings;
    let (source, test) = match &a.data {
        Some(spec) => {
            let src = DataSource::parse(spec)?;
            let n = a.n.unwrap_or(setting!(s, n_test));
            let mut rng = Rng::seed(a.seed);
            let test = match src.rows::<f32>() {
                Some(rows) => subsample(&rows?, n, &mut rng)?,
                None => src.sample::<f32>(n, &mut rng)?,
            };
            let test = if src.levels().is_some() { dequantize(&test, &mut rng)? } else { test };
            (src, test)
        }
        None => {
            let mut s = s.clone();
            if let Some(n) = a.n {
                s.n_test = Some(n);
            }
            let RunData { source, test, .. } = super::data::prepare(&s)?;
            (source, test)
        }
    };
    let report = evaluate(&run.flow, &test, &run.standardizer, Some(&source), s, a.seed)?;
    if a.json {
        println!("{report}");
    } else {
        println!("{}", summary(&report));
    }
    Ok(())
}
