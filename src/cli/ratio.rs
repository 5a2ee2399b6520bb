//! `wasserflow ratio --model DIR --at points.npy`: estimates `log q/p` at
//! given points with the density-ratio estimators of an `ot` run
//! ([`crate::flows::ratio`]): the telescopic estimator along the run's flow
//! (default: both bridges averaged, [`FlowRatio`]; or `telescopic-forward`,
//! `telescopic-reverse`), the one-step classifier, or KDE. The classifiers
//! live in the run's `ratio/` folder (`forward-NNNN.safetensors` and
//! `reverse-NNNN.safetensors`, one per pair or one time-conditional, and
//! `one-step.safetensors`, each with a JSON description of its network); if
//! the run has none (`ot --ratio false`) they are fitted now and saved. The KDE is rebuilt from the run's samples,
//! which its seed redraws. The estimates go to `--out` (`.npy` or `.csv`, one
//! column); a summary is printed, with the mean squared error against the
//! true `log q/p` where both densities are known in closed form.

use std::path::{Path, PathBuf};

use crate::io::classifier::{activation_from_json, activation_to_json};
use crate::io::json::Value;
use crate::json;
use clap::Args;

use super::ot::{OtData, OtSettings, prepare};
use super::run_dir::RunDir;
use super::sample::write_csv;
use crate::data::{DataSource, save_npy};
use crate::flows::BlockFlow;
use crate::flows::ratio::{
    Bridge, ClassifierSpec, FlowRatio, KdeRatio, LogisticClassifier, RatioModel, TelescopicRatio, fit_one_step,
};
use crate::io::checkpoint::load_flow;
use crate::io::safetensors::{read_safetensors, save_params};
use crate::nn::ParamStore;
use crate::plot::{Colormap, Extent, field_panels, grid_points};
use crate::tensor::Tensor;
use crate::{Error, Result, Rng, invalid_arg};

/// `ratio`'s command line.
#[derive(Args, Debug)]
pub struct RatioArgs {
    /// Run directory of `wasserflow ot`.
    #[arg(long)]
    pub model: PathBuf,
    /// Points at which to estimate log q/p: a .npy or .csv file of [n, d] rows.
    #[arg(long)]
    pub at: PathBuf,
    /// Where to write the estimates (.npy or .csv, one column); default: summary only.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// telescopic (both bridges averaged), telescopic-weighted (the forward bridge where q
    /// dominates), telescopic-forward, telescopic-reverse, one-step or kde.
    #[arg(long, default_value = "telescopic")]
    pub estimator: String,
    /// Print one JSON object instead of a summary.
    #[arg(long)]
    pub json: bool,
}

/// The estimators of an `ot` run.
pub struct RatioFit {
    pub telescopic: FlowRatio<f32>,
    pub one_step: LogisticClassifier<f32>,
    pub kde: KdeRatio,
}

/// Which estimator.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Estimator {
    Telescopic(Bridge),
    OneStep,
    Kde,
}

/// Every estimator, in the order reports list them.
pub const ESTIMATORS: [Estimator; 6] = [
    Estimator::Telescopic(Bridge::Both),
    Estimator::Telescopic(Bridge::Weighted),
    Estimator::Telescopic(Bridge::Forward),
    Estimator::Telescopic(Bridge::Reverse),
    Estimator::OneStep,
    Estimator::Kde,
];

impl Estimator {
    pub fn from_name(name: &str) -> Result<Self> {
        match ESTIMATORS.iter().find(|e| e.name() == name) {
            Some(e) => Ok(*e),
            None => invalid_arg!(
                "unknown estimator '{name}' (expected telescopic, telescopic-weighted, telescopic-forward, telescopic-reverse, one-step or kde)"
            ),
        }
    }
    pub fn name(&self) -> &'static str {
        match self {
            Estimator::Telescopic(Bridge::Both) => "telescopic",
            Estimator::Telescopic(Bridge::Forward) => "telescopic-forward",
            Estimator::Telescopic(Bridge::Reverse) => "telescopic-reverse",
            Estimator::Telescopic(Bridge::Weighted) => "telescopic-weighted",
            Estimator::OneStep => "one-step",
            Estimator::Kde => "kde",
        }
    }
}

impl RatioFit {
    /// `log q/p` at the rows of `x` by `estimator`.
    pub fn log_ratio(&self, estimator: Estimator, x: &Tensor<f32>) -> Result<Vec<f64>> {
        match estimator {
            Estimator::Telescopic(b) => self.telescopic.log_ratio(x, b),
            Estimator::OneStep => self.one_step.logits(x, None),
            Estimator::Kde => self.kde.log_ratio(x),
        }
    }
}

fn ratio_dir(root: &Path) -> PathBuf {
    root.join("ratio")
}

fn spec_json(spec: &ClassifierSpec) -> Value {
    let act = activation_to_json(spec.act);
    json!({"dim": spec.dim, "hidden": spec.hidden, "activation": act, "time_input": spec.time_input,
           "quadratic": spec.quadratic})
}

fn spec_from_json(v: &Value) -> std::result::Result<ClassifierSpec, String> {
    let dim = v.get("dim").and_then(Value::as_u64).ok_or("no 'dim'")? as usize;
    let hidden = v
        .get("hidden")
        .and_then(Value::as_array)
        .and_then(|a| a.iter().map(|h| h.as_u64().map(|u| u as usize)).collect::<Option<Vec<_>>>())
        .ok_or("no valid 'hidden'")?;
    let act = activation_from_json(v.get("activation").ok_or("no 'activation'")?)?;
    let time_input = v.get("time_input").and_then(Value::as_bool).ok_or("no 'time_input'")?;
    let quadratic = v.get("quadratic").and_then(Value::as_bool).ok_or("no 'quadratic'")?;
    Ok(ClassifierSpec { dim, hidden, act, time_input, quadratic })
}

fn save_classifier(path: &Path, c: &LogisticClassifier<f32>, extra: Value) -> Result<()> {
    let mut doc = json!({"spec": spec_json(&c.spec)});
    doc["estimator"] = extra;
    save_params(path, &c.store, &[("wasserflow", &doc.to_string())])
}

fn load_classifier(path: &Path) -> Result<(LogisticClassifier<f32>, Value)> {
    let file = read_safetensors(path)?;
    let bad = |message: String| Error::Format { path: path.to_path_buf(), message };
    let doc: Value = Value::parse(file.meta("wasserflow").ok_or_else(|| bad("no wasserflow metadata".into()))?)
        .map_err(|e| bad(format!("metadata is not JSON: {e}")))?;
    let spec = spec_from_json(doc.get("spec").unwrap_or(&Value::Null)).map_err(|m| bad(format!("classifier: {m}")))?;
    let mut store = ParamStore::new();
    for name in file.names() {
        store.add(name, file.get::<f32>(name)?)?;
    }
    let c = LogisticClassifier::with_params(spec, store).map_err(|e| bad(e.to_string()))?;
    Ok((c, doc.get("estimator").cloned().unwrap_or(Value::Null)))
}

fn telescopic_file(bridge: &str, n: usize) -> String {
    format!("{bridge}-{n:04}.safetensors")
}

/// Fits the estimators for a run's flow and data and saves the classifiers.
pub fn fit_and_save(root: &Path, s: &OtSettings, flow: &BlockFlow<f32>, data: &OtData) -> Result<RatioFit> {
    let tr = s.classifier_training()?;
    let model = s.ratio_model()?;
    let mut rng = Rng::seed(s.seed() ^ 0x4a_7105);
    let (p, q) = (&data.p_train, &data.q_train);
    let telescopic = FlowRatio::fit(flow, p, q, s.ratio_per_block(), s.eval_options(), model, &tr, &mut rng)?;
    let one_step = fit_one_step(p, q, &tr, &mut rng)?;
    let kde = KdeRatio::scott(p, q)?;
    let dir = ratio_dir(root);
    std::fs::create_dir_all(&dir).map_err(|source| Error::Io { path: dir.clone(), source })?;
    for (bridge, t) in [("forward", &telescopic.forward), ("reverse", &telescopic.reverse)] {
        for (i, c) in t.classifiers.iter().enumerate() {
            let extra = json!({"kind": "telescopic", "bridge": bridge, "model": model.name(), "pairs": t.pairs,
                               "index": i + 1, "final_loss": t.final_losses[i]});
            save_classifier(&dir.join(telescopic_file(bridge, i + 1)), c, extra)?;
        }
    }
    save_classifier(&dir.join("one-step.safetensors"), &one_step, json!({"kind": "one-step"}))?;
    Ok(RatioFit { telescopic, one_step, kde })
}

/// One bridge's saved telescopic classifiers.
fn load_bridge(dir: &Path, bridge: &str) -> Result<TelescopicRatio<f32>> {
    let mut classifiers = Vec::new();
    let mut info = Value::Null;
    while dir.join(telescopic_file(bridge, classifiers.len() + 1)).is_file() {
        let (c, extra) = load_classifier(&dir.join(telescopic_file(bridge, classifiers.len() + 1)))?;
        info = extra;
        classifiers.push(c);
    }
    let bad = |message: String| Error::Format { path: dir.to_path_buf(), message };
    let model = RatioModel::from_name(info.get("model").and_then(Value::as_str).unwrap_or(""))
        .map_err(|e| bad(format!("{bridge} telescopic classifiers: {e}")))?;
    let pairs = info.get("pairs").and_then(Value::as_u64).unwrap_or(0) as usize;
    let expected = if model == RatioModel::PerPair { pairs } else { 1 };
    if pairs == 0 || classifiers.len() != expected {
        return Err(bad(format!(
            "{} {bridge} telescopic classifier files for a {} model of {pairs} pairs (expected {expected})",
            classifiers.len(),
            model.name()
        )));
    }
    let final_losses = vec![f64::NAN; classifiers.len()];
    Ok(TelescopicRatio { model, classifiers, pairs, final_losses })
}

/// The saved estimators of a run, if it has them.
fn load_fit(root: &Path, data: &OtData) -> Result<Option<RatioFit>> {
    let dir = ratio_dir(root);
    let one = dir.join("one-step.safetensors");
    if !one.is_file() {
        return Ok(None);
    }
    let (one_step, _) = load_classifier(&one)?;
    let telescopic = FlowRatio { forward: load_bridge(&dir, "forward")?, reverse: load_bridge(&dir, "reverse")? };
    let kde = KdeRatio::scott(&data.p_train, &data.q_train)?;
    Ok(Some(RatioFit { telescopic, one_step, kde }))
}

/// Cells per side of the error grid and the figure.
const GRID: usize = 60;

/// The error grid over `extent`, and which cells have `p + q ≥ 1e-3`.
fn error_grid(
    extent: Extent,
    p: &crate::data::GaussianMixture,
    q: &crate::data::GaussianMixture,
) -> Result<(Tensor<f32>, Vec<bool>)> {
    let grid = grid_points(GRID, GRID, extent);
    let x = Tensor::from_vec(grid.iter().flat_map(|g| [g[0] as f32, g[1] as f32]).collect(), [grid.len(), 2])?;
    let (lp, lq) = (p.log_prob(&x)?, q.log_prob(&x)?);
    let mass = lp.iter().zip(&lq).map(|(a, b)| a.exp() + b.exp() >= 1e-3).collect();
    Ok((x, mass))
}

fn extent_of(data: &OtData) -> Result<Extent> {
    let pts =
        |x: &Tensor<f32>| -> Result<Vec<[f64; 2]>> { Ok(x.to_f64_vec()?.chunks(2).map(|c| [c[0], c[1]]).collect()) };
    Extent::around(&[&pts(&data.p_test)?, &pts(&data.q_test)?])
}

/// Mean squared errors of `log q/p` on the test samples of `p` and `q` and
/// (2-D) on a grid over both where `p + q ≥ 1e-3`, per estimator; `None`
/// unless both densities are known in closed form.
pub fn log_ratio_errors(fit: &RatioFit, data: &OtData) -> Result<Option<Value>> {
    let (Some(pm), Some(qm)) = (data.source.mixture(), data.target.mixture()) else { return Ok(None) };
    let truth = |x: &Tensor<f32>| -> Result<Vec<f64>> {
        Ok(qm.log_prob(x)?.iter().zip(pm.log_prob(x)?).map(|(a, b)| a - b).collect())
    };
    let mut sets = vec![("p", data.p_test.clone(), None), ("q", data.q_test.clone(), None)];
    if data.dim() == 2 {
        let (grid, mass) = error_grid(extent_of(data)?, &pm, &qm)?;
        sets.push(("grid", grid, Some(mass)));
    }
    let mut out = crate::io::json::Map::new();
    for est in ESTIMATORS {
        let mut e = crate::io::json::Map::new();
        for (name, x, keep) in &sets {
            let (est_v, true_v) = (fit.log_ratio(est, x)?, truth(x)?);
            let (mut sum, mut n) = (0.0, 0usize);
            for (i, (a, b)) in est_v.iter().zip(&true_v).enumerate() {
                if keep.as_ref().is_none_or(|k| k[i]) {
                    sum += (a - b).powi(2);
                    n += 1;
                }
            }
            e.insert((*name).into(), json!(sum / n.max(1) as f64));
        }
        out.insert(est.name().into(), Value::Object(e));
    }
    Ok(Some(Value::Object(out)))
}

/// The log-ratio fields over a grid on `extent`: the truth if known, then
/// telescopic, one-step and KDE, on one colour scale (±20, clamped).
pub fn draw_log_ratio(path: &Path, fit: &RatioFit, data: &OtData, extent: Extent) -> Result<PathBuf> {
    let grid = grid_points(GRID, GRID, extent);
    let x = Tensor::from_vec(grid.iter().flat_map(|g| [g[0] as f32, g[1] as f32]).collect(), [grid.len(), 2])?;
    let mut fields: Vec<(String, Vec<f64>)> = Vec::new();
    if let (Some(pm), Some(qm)) = (data.source.mixture(), data.target.mixture()) {
        fields
            .push(("true log q/p".into(), qm.log_prob(&x)?.iter().zip(pm.log_prob(&x)?).map(|(a, b)| a - b).collect()));
    }
    for est in [
        Estimator::Telescopic(Bridge::Both),
        Estimator::Telescopic(Bridge::Weighted),
        Estimator::OneStep,
        Estimator::Kde,
    ] {
        fields.push((est.name().into(), fit.log_ratio(est, &x)?));
    }
    let refs: Vec<(&str, &[f64])> = fields.iter().map(|(n, v)| (n.as_str(), v.as_slice())).collect();
    field_panels(path, &refs, GRID, GRID, extent, Colormap::Diverging, (-20.0, 20.0))?;
    Ok(path.to_path_buf())
}

/// Runs `ratio`.
pub fn ratio_command(a: RatioArgs) -> Result<()> {
    let estimator = Estimator::from_name(&a.estimator)?;
    let out_kind = match &a.out {
        Some(p) => match p.extension().and_then(|e| e.to_str()) {
            Some("npy") => Some(("npy", p.clone())),
            Some("csv") => Some(("csv", p.clone())),
            _ => invalid_arg!("--out must end in .npy or .csv (got '{}')", p.display()),
        },
        None => None,
    };
    let name = a.at.to_string_lossy().into_owned();
    let lower = name.to_ascii_lowercase();
    if !(lower.ends_with(".npy") || lower.ends_with(".csv") || lower.ends_with(".csv.gz")) {
        invalid_arg!("--at must be a .npy or .csv file of points (got '{name}')");
    }
    let run = RunDir::open(&a.model)?;
    let s = OtSettings::defaults().overlaid(&OtSettings::from_toml_file(&run.config_path())?);
    if s.source.is_none() || s.target.is_none() {
        return Err(Error::Format {
            path: run.config_path(),
            message: "this is not an `ot` run (its settings name no source and target)".into(),
        });
    }
    let points: Tensor<f32> = match DataSource::parse(&name)?.rows::<f32>() {
        Some(rows) => rows?,
        None => invalid_arg!("--at must be a file of points"),
    };
    let (flow, _) = load_flow::<f32>(&run.checkpoints())?;
    if points.dims()[1] != flow.dim {
        invalid_arg!(
            "the points are {}-dimensional; the run's flow lives in {} dimensions",
            points.dims()[1],
            flow.dim
        );
    }
    if !points.all_finite()? {
        return Err(Error::NonFinite(format!("the points in {name} contain non-finite values")));
    }
    let data = prepare(&s)?;
    let fit = match load_fit(&run.root, &data)? {
        Some(f) => f,
        None => {
            eprintln!(
                "the run has no ratio classifiers yet; fitting them (saved in {})",
                ratio_dir(&run.root).display()
            );
            fit_and_save(&run.root, &s, &flow, &data)?
        }
    };
    let values = fit.log_ratio(estimator, &points)?;
    if let Some(i) = values.iter().position(|v| !v.is_finite()) {
        return Err(Error::NonFinite(format!("the {} estimate at point {i} is {}", estimator.name(), values[i])));
    }
    let truth = match (data.source.mixture(), data.target.mixture()) {
        (Some(pm), Some(qm)) => {
            Some(qm.log_prob(&points)?.iter().zip(pm.log_prob(&points)?).map(|(a, b)| a - b).collect::<Vec<f64>>())
        }
        _ => None,
    };
    if let Some((kind, path)) = &out_kind {
        let t = Tensor::from_vec(values.iter().map(|v| *v as f32).collect(), [values.len(), 1])?;
        match *kind {
            "npy" => save_npy(path, &t)?,
            _ => write_csv(path, &t)?,
        }
    }
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n;
    let (lo, hi) = values.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &v| (a.min(v), b.max(v)));
    let mse = truth.as_ref().map(|t| values.iter().zip(t).map(|(a, b)| (a - b).powi(2)).sum::<f64>() / n);
    if a.json {
        let mut v = json!({"estimator": estimator.name(), "n": values.len(), "mean": mean, "min": lo, "max": hi});
        if let Some(m) = mse {
            v["mse_vs_truth"] = json!(m);
        }
        if let Some((_, path)) = &out_kind {
            v["out"] = json!(path.display().to_string());
        }
        println!("{v}");
    } else {
        println!(
            "{} estimate of log q/p at {} points: mean {mean:.4}, min {lo:.4}, max {hi:.4}",
            estimator.name(),
            values.len()
        );
        if let Some(m) = mse {
            println!("mean squared error against the true log q/p: {m:.4}");
        }
        if let Some((_, path)) = &out_kind {
            println!("wrote {}", path.display());
        }
    }
    Ok(())
}
