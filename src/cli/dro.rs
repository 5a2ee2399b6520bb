//! `wasserflow classifier`, `wasserflow dro` and `wasserflow dro-sample`:
//! flow-DRO (tutorial V-C, eq. 29) from the command line.
//!
//! `classifier` trains the MLP classifier whose cross-entropy the built-in
//! risk is, on labeled data, and writes it to one safetensors file.
//!
//! `dro` trains one worst-case map per `γ` against a risk (`classifier:PATH`
//! or `linear:a1,...`) on a reference sample: the points of `--data`, or
//! samples of a flow trained by `wasserflow train` (`--reference flow:RUN`;
//! a classifier risk then labels them with the classifier's own predictions).
//! It evaluates every map on points it was not trained on, beside the PGD
//! baseline with the same average ℓ2 budget, and writes to its output
//! directory:
//!
//! - `summary.json`: the settings and, per `γ`, risk, accuracy (classifier
//!   risk), movement (W2 of the coupling, mean and max ℓ2) and the objective,
//!   for the map and for PGD;
//! - `metrics.jsonl`: the training objective, risk and transport cost per iteration;
//! - `reference.npy` (and `labels.npy`): the evaluation points before transport;
//! - `gamma-<γ>/map/block-NNNN.safetensors`: the map (flow blocks with the
//!   normalization and `γ` in their metadata), `gamma-<γ>/transported.npy`,
//!   `gamma-<γ>/pgd.npy`;
//! - `figures/before_after_gamma-<γ>.png`: for 2-D data the points before,
//!   after the map and after PGD over the classifier's decision regions; for
//!   image data a grid of images before / after / PGD.
//!
//! `dro-sample` draws new worst-case samples: fresh samples of the reference
//! flow pushed through a trained map.

use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::io::json::Value;
use crate::json;
use clap::Args;

use super::evaluate::{draw_samples, eval_options};
use super::progress::Progress;
use super::run_dir::TrainedRun;
use super::sample::write_csv;
use crate::data::{DataSource, LabeledSet, save_npy};
use crate::flows::dro::{
    ClassifierRisk, DroConfig, DroMap, LinearRisk, PgdConfig, Risk, check_gammas, mean_risk, pgd_l2, train_dro_from,
    transport_report,
};
use crate::flows::{BlockFlow, EvalOptions, FieldKind};
use crate::io::checkpoint::{block_file_name, load_flow, save_block};
use crate::io::classifier::{load_classifier, save_classifier};
use crate::io::write_bytes_atomically;
use crate::nn::{Activation, ClassifierTraining, train_classifier};
use crate::ode::tableau;
use crate::plot::Extent;
use crate::plot::figures::{LabeledPoints, decision_panels, grid_points, image_grid};
use crate::tensor::Tensor;
use crate::{Error, Result, Rng, invalid_arg};

/// The stream of random choices that draws the data of a seed.
fn data_rng(seed: u64) -> Rng {
    Rng::seed(seed ^ 0xda7a_5eed)
}

// ----- classifier -------------------------------------------------------

#[derive(Args, Debug)]
pub struct ClassifierArgs {
    /// Labeled data: moons or circles (two classes; --n points drawn), digits or mnist (every row),
    /// or a .npy/.csv file of points with --labels.
    #[arg(long)]
    pub data: String,
    /// Labels of a point file (.npy or .csv, one whole number ≥ 0 per row).
    #[arg(long)]
    pub labels: Option<PathBuf>,
    /// Output file for the classifier (.safetensors).
    #[arg(long)]
    pub out: PathBuf,
    /// Points drawn from moons or circles.
    #[arg(long, default_value_t = 2000)]
    pub n: usize,
    /// Points held out for the test accuracy (default: a fifth of the data).
    #[arg(long)]
    pub n_test: Option<usize>,
    /// Hidden layer widths.
    #[arg(long, value_delimiter = ',', default_value = "64,64")]
    pub hidden: Vec<usize>,
    /// Activation: tanh, softplus, silu, elu, relu, sigmoid, selu.
    #[arg(long, default_value = "silu")]
    pub act: String,
    /// Training iterations.
    #[arg(long, default_value_t = 2000)]
    pub iterations: usize,
    /// Minibatch size.
    #[arg(long, default_value_t = 128)]
    pub batch: usize,
    /// Adam learning rate.
    #[arg(long, default_value_t = 1e-3)]
    pub lr: f64,
    /// AdamW's decoupled weight decay (0: plain Adam).
    #[arg(long, default_value_t = 0.0)]
    pub weight_decay: f64,
    /// Seed of the data, the split, the initialization and the minibatches.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}

/// Runs `classifier`.
pub fn classifier_command(a: ClassifierArgs) -> Result<()> {
    if a.out.extension().and_then(|e| e.to_str()) != Some("safetensors") {
        invalid_arg!("--out must end in .safetensors (got '{}')", a.out.display());
    }
    let cfg = ClassifierTraining {
        hidden: a.hidden.clone(),
        act: Activation::from_name(&a.act)?,
        iterations: a.iterations,
        batch: a.batch,
        lr: a.lr,
        weight_decay: a.weight_decay,
        seed: a.seed,
    };
    cfg.validate()?;
    create_parent(&a.out)?;
    let mut rng = data_rng(a.seed);
    let data = LabeledSet::load(&a.data, a.n, a.labels.as_deref(), &mut rng)?;
    let n_test = a.n_test.unwrap_or(data.len() / 5);
    let (train, test) = data.split(n_test, &mut rng)?;
    let train_x = train.x.cast::<f32>()?;
    let started = Instant::now();
    let progress = Progress::new(cfg.iterations, "classifier");
    let trained = train_classifier(&train_x, &train.labels, data.classes, &cfg, |i, loss| progress.update(i + 1, loss));
    progress.finish();
    let c = trained?;
    let train_s = started.elapsed().as_secs_f64();
    let train_acc = c.accuracy(&train_x, &train.labels)?;
    let test_acc = c.accuracy(&test.x.cast::<f32>()?, &test.labels)?;
    let record = json!({
        "data": a.data,
        "labels": a.labels.as_ref().map(|p| p.display().to_string()),
        "n_train": train.len(),
        "n_test": test.len(),
        "classes": data.classes,
        "image_shape": data.image_shape.map(|(h, w)| [h, w]),
        "hidden": cfg.hidden,
        "act": a.act,
        "iterations": cfg.iterations,
        "batch": cfg.batch,
        "lr": cfg.lr,
        "weight_decay": cfg.weight_decay,
        "seed": cfg.seed,
        "train_accuracy": train_acc,
        "test_accuracy": test_acc,
        "train_s": train_s,
    });
    save_classifier(&a.out, &c, &record)?;
    println!(
        "trained a {}-class classifier on {} points of {} in {train_s:.1} s: train accuracy {train_acc:.4}, \
         test accuracy {test_acc:.4} ({} held out); wrote {}",
        data.classes,
        train.len(),
        a.data,
        test.len(),
        a.out.display()
    );
    Ok(())
}

// ----- dro --------------------------------------------------------------

#[derive(Args, Debug)]
pub struct DroArgs {
    /// The risk to maximize: classifier:PATH (the cross-entropy of a classifier written by
    /// `wasserflow classifier` against each point's label) or linear:a1,a2,... (R(x) = aᵀx).
    #[arg(long)]
    pub risk: String,
    /// γ of eq. (29): one value or a comma-separated grid (one map each). Larger γ moves farther.
    #[arg(long, value_delimiter = ',', required = true)]
    pub gamma: Vec<f64>,
    /// Reference data (with --reference data): for a classifier risk labeled data (moons, circles,
    /// digits, mnist, or a point file with --labels); for a linear risk any data set `train` takes.
    #[arg(long)]
    pub data: Option<String>,
    /// Labels of a point file given as --data (classifier risk).
    #[arg(long)]
    pub labels: Option<PathBuf>,
    /// Reference measure: `data` (the points of --data) or flow:RUN (samples of a flow trained by
    /// `wasserflow train`, labeled by the classifier's predictions; new worst-case samples can
    /// then be drawn with `wasserflow dro-sample`).
    #[arg(long, default_value = "data")]
    pub reference: String,
    /// Reference points the maps are trained on (fewer if a finite data set has fewer rows).
    #[arg(long, default_value_t = 2000)]
    pub n: usize,
    /// Further points, not trained on, that the maps and the PGD baseline are evaluated on.
    #[arg(long, default_value_t = 500)]
    pub n_eval: usize,
    /// Output directory (default: runs/dro-<data>).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Flow blocks composed into the map (trained jointly).
    #[arg(long, default_value_t = 1)]
    pub blocks: usize,
    /// Hidden layer widths of each block's velocity field.
    #[arg(long, value_delimiter = ',', default_value = "64,64")]
    pub hidden: Vec<usize>,
    /// Activation of the velocity fields.
    #[arg(long, default_value = "tanh")]
    pub act: String,
    /// Velocity field network: mlp or concatsquash.
    #[arg(long, default_value = "mlp")]
    pub field: String,
    /// Time length of each block.
    #[arg(long, default_value_t = 1.0)]
    pub t_end: f64,
    /// Solver steps per block.
    #[arg(long, default_value_t = 4)]
    pub steps: usize,
    /// Runge–Kutta method: euler, midpoint, heun, rk4, rk4_38.
    #[arg(long, default_value = "rk4")]
    pub solver: String,
    /// Training iterations per γ.
    #[arg(long, default_value_t = 500)]
    pub iterations: usize,
    /// Minibatch size.
    #[arg(long, default_value_t = 256)]
    pub batch: usize,
    /// Adam learning rate.
    #[arg(long, default_value_t = 5e-3)]
    pub lr: f64,
    /// Seed of the reference sample, the initialization and the minibatches.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Continuation in γ: train the γ in increasing order, each map starting from the previous
    /// one (instead of each from the identity).
    #[arg(long)]
    pub warm_start: bool,
    /// Steps of the PGD baseline (0: no baseline).
    #[arg(long, default_value_t = 20)]
    pub pgd_steps: usize,
    /// Skip the figures.
    #[arg(long)]
    pub no_figures: bool,
}

/// A risk named on the command line.
enum RiskChoice {
    Linear(LinearRisk),
    Classifier(ClassifierRisk<f32>),
}

impl RiskChoice {
    /// `classifier:PATH` or `linear:a1,a2,...`; also returns the spelling to
    /// record (a classifier's path made absolute, so `dro-sample` finds it).
    fn parse(spec: &str) -> Result<(Self, String)> {
        if let Some(path) = spec.strip_prefix("classifier:") {
            let path = Path::new(path);
            let (classifier, _) = load_classifier::<f32>(path)?;
            let abs = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
            return Ok((
                RiskChoice::Classifier(ClassifierRisk { classifier }),
                format!("classifier:{}", abs.display()),
            ));
        }
        if let Some(list) = spec.strip_prefix("linear:") {
            let a: Vec<f64> =
                list.split(',')
                    .map(|v| v.trim().parse::<f64>())
                    .collect::<std::result::Result<_, _>>()
                    .map_err(|_| Error::InvalidArgument(format!("'{spec}': linear:a1,a2,... takes numbers")))?;
            if a.is_empty() || a.iter().any(|v| !v.is_finite()) {
                invalid_arg!("'{spec}': the coefficients of a linear risk must be finite numbers");
            }
            return Ok((RiskChoice::Linear(LinearRisk { a }), spec.to_string()));
        }
        invalid_arg!("unknown risk '{spec}' (expected classifier:PATH or linear:a1,a2,...)")
    }

    fn risk(&self) -> &dyn Risk<f32> {
        match self {
            RiskChoice::Linear(r) => r,
            RiskChoice::Classifier(r) => r,
        }
    }

    fn classifier(&self) -> Option<&ClassifierRisk<f32>> {
        match self {
            RiskChoice::Classifier(r) => Some(r),
            RiskChoice::Linear(_) => None,
        }
    }

    /// The accuracy of the classifier on `x` against `labels` (classifier risk).
    fn accuracy(&self, x: &Tensor<f32>, labels: Option<&[usize]>) -> Result<Option<f64>> {
        match (self.classifier(), labels) {
            (Some(c), Some(l)) => Ok(Some(c.classifier.accuracy(x, l)?)),
            _ => Ok(None),
        }
    }
}

/// Where the reference sample comes from.
enum ReferenceChoice {
    Data(String),
    Flow(PathBuf),
}

impl ReferenceChoice {
    fn parse(a: &DroArgs) -> Result<Self> {
        match (a.reference.as_str(), &a.data) {
            ("data", Some(d)) => Ok(ReferenceChoice::Data(d.clone())),
            ("data", None) => invalid_arg!("--reference data needs --data (or give --reference flow:RUN)"),
            (r, data) => match r.strip_prefix("flow:") {
                Some(_) if data.is_some() => {
                    invalid_arg!("--data is the reference with --reference data; a flow reference takes none")
                }
                Some(_) if a.labels.is_some() => {
                    invalid_arg!("--labels goes with --data; flow samples get the classifier's labels")
                }
                Some(run) => Ok(ReferenceChoice::Flow(PathBuf::from(run))),
                None => invalid_arg!("unknown reference '{r}' (expected data or flow:RUN)"),
            },
        }
    }

    fn name(&self) -> String {
        match self {
            ReferenceChoice::Data(d) => d.clone(),
            ReferenceChoice::Flow(p) => format!("flow:{}", p.display()),
        }
    }
}

/// A reference sample with its labels (classifier risk), and the image
/// shape of image data.
struct Reference {
    train: Tensor<f32>,
    train_labels: Option<Vec<usize>>,
    eval: Tensor<f32>,
    eval_labels: Option<Vec<usize>>,
    image_shape: Option<(usize, usize)>,
}

/// Splits `x` (and its labels) into the first `n` rows and the rest.
fn split_rows(x: &Tensor<f32>, labels: Option<Vec<usize>>, n: usize) -> Result<Reference> {
    let total = x.dims()[0];
    let (train, eval) = (x.slice(0, 0, n)?, x.slice(0, n, total - n)?);
    let (train_labels, eval_labels) = match labels {
        Some(l) => (Some(l[..n].to_vec()), Some(l[n..].to_vec())),
        None => (None, None),
    };
    Ok(Reference { train, train_labels, eval, eval_labels, image_shape: None })
}

/// The number of training rows of a finite set of `rows` rows, with `n_eval` held out.
fn finite_split(rows: usize, n: usize, n_eval: usize, name: &str) -> Result<usize> {
    if n_eval >= rows {
        invalid_arg!("'{name}' has {rows} rows: --n-eval {n_eval} would leave none to train on");
    }
    Ok(n.min(rows - n_eval))
}

fn load_reference(choice: &ReferenceChoice, risk: &RiskChoice, a: &DroArgs) -> Result<Reference> {
    let mut rng = data_rng(a.seed);
    let total = a.n + a.n_eval;
    match choice {
        ReferenceChoice::Data(name) if risk.classifier().is_some() => {
            let set = LabeledSet::load(name, total, a.labels.as_deref(), &mut rng)?;
            let n = finite_split(set.len(), a.n, a.n_eval, name)?;
            let perm = rng.permutation(set.len());
            let set = set.subset(&perm[..n + a.n_eval])?;
            let mut r = split_rows(&set.x.cast::<f32>()?, Some(set.labels), n)?;
            r.image_shape = set.image_shape;
            Ok(r)
        }
        ReferenceChoice::Data(name) => {
            if a.labels.is_some() {
                invalid_arg!("--labels is for the classifier risk; a {} risk takes no labels", risk.risk().describe());
            }
            let source = DataSource::parse(name)?;
            let x = match source.rows::<f32>() {
                Some(rows) => {
                    let rows = rows?;
                    let n = finite_split(rows.dims()[0], a.n, a.n_eval, name)?;
                    let perm = rng.permutation(rows.dims()[0]);
                    let x = rows.gather_rows(&perm[..n + a.n_eval])?;
                    return Ok(Reference { image_shape: source.image_shape(), ..split_rows(&x, None, n)? });
                }
                None => source.sample::<f32>(total, &mut rng)?,
            };
            split_rows(&x, None, a.n)
        }
        ReferenceChoice::Flow(run_dir) => {
            let run = TrainedRun::load(run_dir)?;
            let opts = eval_options(&run.settings, run.flow.dim);
            let x = draw_samples(&run.flow, total, &run.standardizer, opts, &mut rng)?;
            if !x.all_finite()? {
                return Err(Error::NonFinite(format!("samples of the flow in {} are not finite", run_dir.display())));
            }
            let labels = risk.classifier().map(|c| c.classifier.predict(&x)).transpose()?;
            let image_shape =
                DataSource::parse(&crate::setting!(run.settings, data)).ok().and_then(|s| s.image_shape());
            Ok(Reference { image_shape, ..split_rows(&x, labels, a.n)? })
        }
    }
}

fn dro_config(a: &DroArgs) -> Result<DroConfig> {
    let cfg = DroConfig {
        gamma: a.gamma.first().copied().unwrap_or(f64::NAN),
        blocks: a.blocks,
        field: FieldKind::from_name(&a.field)?,
        hidden: a.hidden.clone(),
        act: Activation::from_name(&a.act)?,
        t_end: a.t_end,
        steps: a.steps,
        solver: tableau::by_name(&a.solver)?,
        iterations: a.iterations,
        batch: a.batch,
        lr: a.lr,
        seed: a.seed,
        normalize: true,
    };
    cfg.validate()?;
    Ok(cfg)
}

/// `gamma-0.5`: the directory of one `γ`'s results.
fn gamma_dir(out: &Path, gamma: f64) -> PathBuf {
    out.join(format!("gamma-{gamma}"))
}

fn create_dir(dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|source| Error::Io { path: dir.to_path_buf(), source })
}

/// Creates the directory an output file goes into.
fn create_parent(file: &Path) -> Result<()> {
    match file.parent() {
        Some(p) if !p.as_os_str().is_empty() => create_dir(p),
        _ => Ok(()),
    }
}

/// Labels as a float column for `.npy` files.
fn labels_tensor(labels: &[usize]) -> Result<Tensor<f32>> {
    Tensor::from_vec(labels.iter().map(|&l| l as f32).collect(), [labels.len(), 1])
}

/// Writes a map's blocks to `dir`, each with the map's description.
pub fn save_dro_map(dir: &Path, map: &DroMap<f32>, about: &Value) -> Result<()> {
    create_dir(dir)?;
    let meta = json!({
        "method": "dro",
        "dro": {"gamma": map.gamma, "shift": map.shift, "scale": map.scale, "about": about},
    });
    for (i, block) in map.flow.blocks.iter().enumerate() {
        save_block(&dir.join(block_file_name(i + 1)), i + 1, block, &meta)?;
    }
    Ok(())
}

/// Reads a map written by [`save_dro_map`].
pub fn load_dro_map(dir: &Path) -> Result<DroMap<f32>> {
    let (flow, infos): (BlockFlow<f32>, _) = load_flow(dir)?;
    let bad = |message: &str| Error::Format { path: dir.join(block_file_name(1)), message: message.into() };
    let dro = infos[0].run.get("dro").ok_or_else(|| bad("not a flow-DRO map (no 'dro' description)"))?;
    let gamma = dro.get("gamma").and_then(Value::as_f64).ok_or_else(|| bad("the map has no γ"))?;
    let scale = dro.get("scale").and_then(Value::as_f64).ok_or_else(|| bad("the map has no scale"))?;
    let shift = dro
        .get("shift")
        .and_then(Value::as_array)
        .and_then(|s| s.iter().map(Value::as_f64).collect::<Option<Vec<f64>>>())
        .ok_or_else(|| bad("the map has no valid shift"))?;
    DroMap::new(flow, shift, scale, gamma).map_err(|e| bad(&e.to_string()))
}

fn pairs(x: &Tensor<f32>) -> Result<Vec<[f64; 2]>> {
    Ok(x.to_f64_vec()?.chunks(2).map(|c| [c[0], c[1]]).collect())
}

fn rows(x: &Tensor<f32>, n: usize) -> Result<Vec<Vec<f64>>> {
    let d = x.dims()[1];
    Ok(x.to_f64_vec()?.chunks(d).take(n).map(<[f64]>::to_vec).collect())
}

/// The square around the reference and the moved points, but no more than
/// three times the reference's own (a few points sent far away should not
/// shrink the picture to dots).
fn figure_extent(reference: &[[f64; 2]], moved: &[&[[f64; 2]]]) -> Result<Extent> {
    let own = Extent::around(&[reference])?;
    let mut sets = vec![reference];
    sets.extend_from_slice(moved);
    let all = Extent::around(&sets)?;
    let half = |e: &Extent| (e.x_max - e.x_min) / 2.0;
    if half(&all) <= 3.0 * half(&own) {
        return Ok(all);
    }
    let (cx, cy, h) = ((own.x_min + own.x_max) / 2.0, (own.y_min + own.y_max) / 2.0, 3.0 * half(&own));
    Extent::new(cx - h, cx + h, cy - h, cy + h)
}

/// Cells per side of the decision-region grid.
const REGION_GRID: usize = 200;
/// Images per row of the before/after grid, and groups of rows.
const IMAGE_COLS: usize = 10;
const IMAGE_GROUPS: usize = 2;

/// The before/after figure of one `γ`; `None` when the data has no picture.
fn draw_before_after(
    path: &Path,
    risk: &RiskChoice,
    reference: &Reference,
    moved: &[(String, Tensor<f32>)],
) -> Result<Option<PathBuf>> {
    let x = &reference.eval;
    let n = x.dims()[0];
    if x.dims()[1] == 2 {
        let zeros = vec![0; n];
        let labels = reference.eval_labels.as_deref().unwrap_or(&zeros);
        let before = pairs(x)?;
        let after: Vec<(String, Vec<[f64; 2]>)> =
            moved.iter().map(|(t, y)| Ok((t.clone(), pairs(y)?))).collect::<Result<_>>()?;
        let moved_refs: Vec<&[[f64; 2]]> = after.iter().map(|(_, p)| p.as_slice()).collect();
        let extent = figure_extent(&before, &moved_refs)?;
        let regions = match risk.classifier() {
            Some(c) => {
                let grid = grid_points(REGION_GRID, REGION_GRID, extent);
                let flat: Vec<f32> = grid.iter().flat_map(|p| [p[0] as f32, p[1] as f32]).collect();
                Some(c.classifier.predict(&Tensor::from_vec(flat, [grid.len(), 2])?)?)
            }
            None => None,
        };
        let mut sets: Vec<LabeledPoints<'_>> = vec![("reference", &before, labels)];
        sets.extend(after.iter().map(|(t, p)| (t.as_str(), p.as_slice(), labels)));
        decision_panels(path, &sets, regions.as_deref().map(|r| (r, [REGION_GRID, REGION_GRID])), extent)?;
        return Ok(Some(path.to_path_buf()));
    }
    let Some((h, w)) = reference.image_shape else { return Ok(None) };
    if h * w != x.dims()[1] {
        return Ok(None);
    }
    let take = IMAGE_COLS.min(n);
    let before = rows(x, IMAGE_COLS * IMAGE_GROUPS)?;
    let lo = before.iter().flatten().copied().fold(f64::INFINITY, f64::min);
    let hi = before.iter().flatten().copied().fold(f64::NEG_INFINITY, f64::max);
    let range = if hi > lo { (lo, hi) } else { (lo, lo + 1.0) };
    let after: Vec<Vec<Vec<f64>>> =
        moved.iter().map(|(_, y)| rows(y, IMAGE_COLS * IMAGE_GROUPS)).collect::<Result<_>>()?;
    let mut images = Vec::new();
    for g in 0..IMAGE_GROUPS {
        let part = |set: &Vec<Vec<f64>>| set.iter().skip(g * take).take(take).cloned().collect::<Vec<_>>();
        if g * take >= before.len() {
            break;
        }
        images.extend(part(&before));
        for set in &after {
            images.extend(part(set));
        }
    }
    let names: Vec<&str> = moved.iter().map(|(t, _)| t.as_str()).collect();
    let title = format!("rows: reference, {}", names.join(", "));
    // Moved pixels may leave the data's range; they are shown clamped to it.
    let images: Vec<Vec<f64>> = images
        .into_iter()
        .map(|im| im.into_iter().map(|v| if v.is_finite() { v } else { range.0 }).collect())
        .collect();
    image_grid(path, &images, h, w, take, &title, Some(range))?;
    Ok(Some(path.to_path_buf()))
}

fn fmt_opt(v: Option<f64>) -> String {
    v.map_or_else(|| "-".into(), |v| format!("{v:.4}"))
}

/// Runs `dro`.
pub fn dro_command(a: DroArgs) -> Result<()> {
    check_gammas(&a.gamma)?;
    let base = dro_config(&a)?;
    if a.n == 0 || a.n_eval == 0 {
        invalid_arg!("--n and --n-eval must be positive");
    }
    let (risk, risk_spec) = RiskChoice::parse(&a.risk)?;
    let choice = ReferenceChoice::parse(&a)?;
    let reference = load_reference(&choice, &risk, &a)?;
    let dim = reference.train.dims()[1];
    if dim != risk.risk().dim() {
        invalid_arg!(
            "the {} risk takes {}-dimensional points; the reference '{}' is {dim}-dimensional",
            risk.risk().describe(),
            risk.risk().dim(),
            choice.name()
        );
    }
    if let (Some(c), Some(l)) = (risk.classifier(), &reference.train_labels) {
        crate::flows::dro::check_classifier_labels(c, l, l.len())?;
    }
    let out = a.out.clone().unwrap_or_else(|| {
        let name = match &choice {
            ReferenceChoice::Data(d) => d.clone(),
            ReferenceChoice::Flow(p) => p.file_name().map_or("flow".into(), |f| f.to_string_lossy().into_owned()),
        };
        Path::new("runs").join(format!("dro-{}", name.replace(['/', ':', '.'], "_")))
    });
    create_dir(&out)?;
    let reference_record = match &choice {
        ReferenceChoice::Data(d) => json!({"kind": "data", "data": d}),
        ReferenceChoice::Flow(p) => {
            let abs = std::fs::canonicalize(p).unwrap_or_else(|_| p.clone());
            json!({"kind": "flow", "run": abs.display().to_string()})
        }
    };
    save_npy(out.join("reference.npy"), &reference.eval)?;
    if let Some(l) = &reference.eval_labels {
        save_npy(out.join("labels.npy"), &labels_tensor(l)?)?;
    }
    let (train_labels, eval_labels) = (reference.train_labels.as_deref(), reference.eval_labels.as_deref());
    let eval = &reference.eval;
    let acc_before = risk.accuracy(eval, eval_labels)?;
    let risk_before = mean_risk(risk.risk(), eval, eval_labels)?;
    let mut metrics = String::new();
    let mut results = Vec::new();
    let settings = json!({
        "risk": risk_spec,
        "reference": reference_record,
        "gammas": a.gamma,
        "n": reference.train.dims()[0],
        "n_eval": eval.dims()[0],
        "blocks": a.blocks,
        "field": a.field,
        "hidden": a.hidden,
        "act": a.act,
        "t_end": a.t_end,
        "steps": a.steps,
        "solver": a.solver,
        "iterations": a.iterations,
        "batch": a.batch,
        "lr": a.lr,
        "seed": a.seed,
        "pgd_steps": a.pgd_steps,
        "warm_start": a.warm_start,
    });
    println!(
        "flow-DRO: {} risk on {} reference points of {} ({} more for evaluation)",
        risk.risk().describe(),
        reference.train.dims()[0],
        choice.name(),
        eval.dims()[0]
    );
    println!(
        "{:>8} {:>10} {:>10} {:>8} {:>8} | {:>10} {:>10} {:>8}",
        "gamma", "risk", "accuracy", "W2", "mean l2", "PGD risk", "PGD acc", "PGD l2"
    );
    let mut figures = Vec::new();
    let mut gammas = a.gamma.clone();
    if a.warm_start {
        gammas.sort_by(f64::total_cmp);
    }
    let mut previous: Option<DroMap<f32>> = None;
    for gamma in gammas {
        let cfg = DroConfig { gamma, ..base.clone() };
        let progress = Progress::new(cfg.iterations, &format!("γ={gamma}"));
        let started = Instant::now();
        let init = if a.warm_start { previous.as_ref() } else { None };
        let trained = train_dro_from(&cfg, init, risk.risk(), &reference.train, train_labels, |r| {
            progress.update(r.iteration + 1, r.objective);
            metrics.push_str(
                &json!({"kind": "iteration", "gamma": gamma, "iteration": r.iteration, "objective": r.objective,
                        "risk": r.risk, "transport_cost": r.transport_cost})
                .to_string(),
            );
            metrics.push('\n');
            Ok(())
        });
        progress.finish();
        write_bytes_atomically(&out.join("metrics.jsonl"), metrics.as_bytes())?;
        let map = trained?;
        let train_s = started.elapsed().as_secs_f64();
        let dir = gamma_dir(&out, gamma);
        save_dro_map(&dir.join("map"), &map, &settings)?;
        let moved = map.transport(eval, EvalOptions::default())?;
        if !moved.all_finite()? {
            return Err(Error::NonFinite(format!("the map of γ = {gamma} sent points to non-finite values")));
        }
        save_npy(dir.join("transported.npy"), &moved)?;
        let rep = transport_report(risk.risk(), eval, &moved, eval_labels, gamma)?;
        let acc_after = risk.accuracy(&moved, eval_labels)?;
        let mut record = json!({
            "gamma": gamma,
            "risk_before": rep.risk_before,
            "risk": rep.risk_after,
            "accuracy_before": acc_before,
            "accuracy": acc_after,
            "w2": rep.movement.w2,
            "mean_l2": rep.movement.mean_l2,
            "max_l2": rep.movement.max_l2,
            "objective": rep.objective,
            "train_s": train_s,
        });
        let mut panels = vec![(format!("flow-DRO, gamma = {gamma}"), moved.clone())];
        let mut pgd_line = String::new();
        if a.pgd_steps > 0 {
            let started = Instant::now();
            let pgd_cfg = PgdConfig { radius: rep.movement.mean_l2, steps: a.pgd_steps, step_size: None };
            let attacked = pgd_l2(risk.risk(), eval, eval_labels, &pgd_cfg)?;
            let pgd_s = started.elapsed().as_secs_f64();
            save_npy(dir.join("pgd.npy"), &attacked)?;
            let p = transport_report(risk.risk(), eval, &attacked, eval_labels, gamma)?;
            let p_acc = risk.accuracy(&attacked, eval_labels)?;
            record["pgd"] = json!({
                "radius": pgd_cfg.radius, "steps": pgd_cfg.steps, "risk": p.risk_after, "accuracy": p_acc,
                "w2": p.movement.w2, "mean_l2": p.movement.mean_l2, "max_l2": p.movement.max_l2, "seconds": pgd_s,
            });
            pgd_line = format!("{:>10.4} {:>10} {:>8.4}", p.risk_after, fmt_opt(p_acc), p.movement.mean_l2);
            panels.push((format!("PGD, r = {:.3}", pgd_cfg.radius), attacked));
        }
        println!(
            "{gamma:>8} {:>10.4} {:>10} {:>8.4} {:>8.4} | {pgd_line}",
            rep.risk_after,
            fmt_opt(acc_after),
            rep.movement.w2,
            rep.movement.mean_l2
        );
        results.push(record);
        let summary = json!({
            "written_by": format!("wasserflow {}", env!("CARGO_PKG_VERSION")),
            "settings": settings,
            "risk_before": risk_before,
            "accuracy_before": acc_before,
            "results": results,
        });
        let text = summary.to_string_pretty();
        write_bytes_atomically(&out.join("summary.json"), text.as_bytes())?;
        if !a.no_figures {
            create_dir(&out.join("figures"))?;
            let path = out.join("figures").join(format!("before_after_gamma-{gamma}.png"));
            figures.extend(draw_before_after(&path, &risk, &reference, &panels)?);
        }
        previous = Some(map);
    }
    println!("before: risk {risk_before:.4}, accuracy {}; wrote {}", fmt_opt(acc_before), out.display());
    for f in figures {
        println!("{}", f.display());
    }
    Ok(())
}

// ----- dro-sample -------------------------------------------------------

#[derive(Args, Debug)]
pub struct DroSampleArgs {
    /// Output directory of `wasserflow dro` run with --reference flow:RUN.
    pub run: PathBuf,
    /// Which γ's map (default: the only one the run trained).
    #[arg(long)]
    pub gamma: Option<f64>,
    /// Number of new worst-case samples.
    #[arg(short, long, default_value_t = 1000)]
    pub n: usize,
    /// Output file (.npy or .csv).
    #[arg(short, long)]
    pub out: PathBuf,
    /// Also write the flow samples they were transported from (.npy or .csv).
    #[arg(long)]
    pub reference_out: Option<PathBuf>,
    /// Seed of the new flow samples.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}

fn write_points(path: &Path, x: &Tensor<f32>) -> Result<()> {
    create_parent(path)?;
    match path.extension().and_then(|e| e.to_str()) {
        Some("npy") => save_npy(path, x),
        Some("csv") => write_csv(path, x),
        _ => invalid_arg!("'{}' must end in .npy or .csv", path.display()),
    }
}

/// Runs `dro-sample`.
pub fn dro_sample_command(a: DroSampleArgs) -> Result<()> {
    if a.n == 0 {
        invalid_arg!("-n must be at least 1");
    }
    for p in std::iter::once(&a.out).chain(a.reference_out.as_ref()) {
        if !matches!(p.extension().and_then(|e| e.to_str()), Some("npy" | "csv")) {
            invalid_arg!("'{}' must end in .npy or .csv", p.display());
        }
    }
    let summary_path = a.run.join("summary.json");
    let text = std::fs::read_to_string(&summary_path).map_err(|source| {
        if source.kind() == std::io::ErrorKind::NotFound {
            Error::InvalidArgument(format!(
                "{} is not a flow-DRO output directory (it has no summary.json; `wasserflow dro --out DIR` makes one)",
                a.run.display()
            ))
        } else {
            Error::Io { path: summary_path.clone(), source }
        }
    })?;
    let bad = |message: String| Error::Format { path: summary_path.clone(), message };
    let summary: Value = Value::parse(&text).map_err(|e| bad(format!("not JSON: {e}")))?;
    let settings = &summary["settings"];
    let reference = &settings["reference"];
    if reference["kind"].as_str() != Some("flow") {
        invalid_arg!(
            "the maps in {} were trained on data ('{}'), not on a flow's samples; new worst-case samples need \
             `wasserflow dro --reference flow:RUN`",
            a.run.display(),
            reference["data"].as_str().unwrap_or("?")
        );
    }
    let run_path = PathBuf::from(reference["run"].as_str().ok_or_else(|| bad("no reference run".into()))?);
    let trained: Vec<f64> = summary["results"]
        .as_array()
        .map(|r| r.iter().filter_map(|v| v["gamma"].as_f64()).collect())
        .unwrap_or_default();
    let gamma = match (a.gamma, trained.as_slice()) {
        (Some(g), _) if trained.contains(&g) => g,
        (Some(g), _) => invalid_arg!("no map for γ = {g} in {} (it has {trained:?})", a.run.display()),
        (None, [g]) => *g,
        (None, []) => invalid_arg!("{} holds no finished map", a.run.display()),
        (None, _) => invalid_arg!("{} holds maps for γ = {trained:?}; choose one with --gamma", a.run.display()),
    };
    let map = load_dro_map(&gamma_dir(&a.run, gamma).join("map"))?;
    let run = TrainedRun::load(&run_path)?;
    if run.flow.dim != map.dim() {
        return Err(bad(format!("the reference flow is {}-dimensional, the map {}", run.flow.dim, map.dim())));
    }
    let opts = eval_options(&run.settings, run.flow.dim);
    let x = draw_samples(&run.flow, a.n, &run.standardizer, opts, &mut Rng::seed(a.seed))?;
    let y = map.transport(&x, EvalOptions::default())?;
    if !y.all_finite()? {
        return Err(Error::NonFinite("the worst-case samples are not finite".into()));
    }
    write_points(&a.out, &y)?;
    if let Some(p) = &a.reference_out {
        write_points(p, &x)?;
    }
    let risk_spec = settings["risk"].as_str().ok_or_else(|| bad("no risk".into()))?;
    let (risk, _) = RiskChoice::parse(risk_spec)?;
    let labels = risk.classifier().map(|c| c.classifier.predict(&x)).transpose()?;
    let rep = transport_report(risk.risk(), &x, &y, labels.as_deref(), gamma)?;
    let acc = risk.accuracy(&y, labels.as_deref())?;
    println!(
        "wrote {} worst-case samples (γ = {gamma}) to {}: risk {:.4} → {:.4}, accuracy {}, W2 moved {:.4}",
        a.n,
        a.out.display(),
        rep.risk_before,
        rep.risk_after,
        fmt_opt(acc),
        rep.movement.w2
    );
    Ok(())
}
