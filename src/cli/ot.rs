//! `wasserflow ot --source A --target B`: trains an OT-flow from `A` to `B`
//! ([`crate::flows::ot`]), then fits the density-ratio estimators of
//! `log B/A` along it ([`crate::flows::ratio`]), and writes a run
//! directory:
//!
//! - `config.toml`: the resolved [`OtSettings`];
//! - `checkpoints/block-NNNN.safetensors`: the flow's blocks (forward =
//!   source → target), rewritten every `checkpoint_every` iterations and at
//!   the end; `checkpoints/kl-target.safetensors`, `kl-source.safetensors`:
//!   the classifiers of the KL terms;
//! - `ratio/`: the telescopic classifiers and the one-step classifier
//!   (see [`super::ratio`]);
//! - `metrics.jsonl`: iteration records (loss terms), an `ot` record with
//!   the flow's diagnostics (transport cost, kinetic energy per block, KL
//!   estimates at both ends — by the classifiers, and exactly where both
//!   densities are known in closed form —, inversion error, wall time) and a
//!   `ratio` record (mean squared errors of `log q/p` against the truth where
//!   it is known);
//! - `figures/` (2-D data): `trajectories.png` (particles source → target and
//!   back), `transport.png` (the samples and their images), `log_ratio.png`
//!   (the log-ratio fields over a grid: truth if known, telescopic, one-step,
//!   KDE), `loss.png`.
//!
//! Settings: built-in defaults, then a TOML file (`--config`), then flags.

use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::io::json::Value;
use crate::json;
use clap::Args;
use serde::{Deserialize, Serialize};

use super::progress::Progress;
use super::ratio::{RatioFit, fit_and_save, log_ratio_errors};
use super::run_dir::{RunDir, TrainedRun};
use crate::data::DataSource;
use crate::flows::ot::{OtHooks, OtState, OtTerms, diagnose, log_det_jacobian};
use crate::flows::{BlockFlow, ClassifierTraining, EvalOptions, FieldKind, OtConfig, OtInit, RatioModel, train_ot};
use crate::io::checkpoint::{block_file_name, save_block};
use crate::io::safetensors::save_params;
use crate::io::write_bytes_atomically;
use crate::metrics::kl_monte_carlo;
use crate::nn::Activation;
use crate::ode::tableau;
use crate::plot::{Extent, Style, loss_curves, point_panels, trajectory_panels};
use crate::tensor::Tensor;
use crate::{Error, Result, Rng, invalid_arg};

/// Every setting of an OT run. In a TOML file the keys are the flag names
/// with `_` for `-`.
#[derive(Args, Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct OtSettings {
    /// Source distribution p (any dataset `train --data` accepts).
    #[arg(long)]
    pub source: Option<String>,
    /// Target distribution q.
    #[arg(long)]
    pub target: Option<String>,
    /// Seed of every random choice (data, initialization, minibatches).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Training points drawn from each generative dataset.
    #[arg(long)]
    pub n_train: Option<usize>,
    /// Test points of each dataset (diagnostics and ratio errors).
    #[arg(long)]
    pub n_test: Option<usize>,
    /// Number of blocks of the flow (without a warm start).
    #[arg(long)]
    pub blocks: Option<usize>,
    /// RK4 (or --solver) steps per block.
    #[arg(long)]
    pub steps_per_block: Option<usize>,
    /// Hidden widths of each block's velocity field, e.g. 64,64.
    #[arg(long, value_delimiter = ',')]
    pub hidden: Option<Vec<usize>>,
    /// Activation of the velocity fields (softplus means β = 1).
    #[arg(long)]
    pub act: Option<String>,
    /// Runge–Kutta method: euler, midpoint, heun, rk4, rk4_38.
    #[arg(long)]
    pub solver: Option<String>,
    /// Weight γ of the KL terms (eq. 27).
    #[arg(long)]
    pub gamma: Option<f64>,
    /// Grow γ geometrically from this value to --gamma over training (0: constant γ).
    #[arg(long)]
    pub gamma_initial: Option<f64>,
    /// Include the reverse constraint γ KL(T⁻¹#q ‖ p).
    #[arg(long)]
    pub reverse: Option<bool>,
    /// Flow iterations.
    #[arg(long)]
    pub iterations: Option<usize>,
    /// Points of each set per iteration.
    #[arg(long)]
    pub batch: Option<usize>,
    /// Adam learning rate of the flow.
    #[arg(long)]
    pub lr: Option<f64>,
    /// Hidden widths of the KL classifiers.
    #[arg(long, value_delimiter = ',')]
    pub classifier_hidden: Option<Vec<usize>>,
    /// Hidden widths of the density-ratio classifiers.
    #[arg(long, value_delimiter = ',')]
    pub ratio_hidden: Option<Vec<usize>>,
    /// Activation of the classifiers.
    #[arg(long)]
    pub classifier_act: Option<String>,
    /// Give the classifiers quadratic features and a linear head on them.
    #[arg(long)]
    pub classifier_quadratic: Option<bool>,
    /// Adam learning rate of the classifiers.
    #[arg(long)]
    pub classifier_lr: Option<f64>,
    /// Classifier steps per flow iteration.
    #[arg(long)]
    pub classifier_steps: Option<usize>,
    /// Classifier steps on the initial flow before training it.
    #[arg(long)]
    pub classifier_warmup: Option<usize>,
    /// Warm start: run directory of a flow trained from the source to N(0, I).
    #[arg(long)]
    pub warm_source: Option<String>,
    /// Warm start: run directory of a flow trained from the target to N(0, I).
    #[arg(long)]
    pub warm_target: Option<String>,
    /// Fit the density-ratio estimators after training.
    #[arg(long)]
    pub ratio: Option<bool>,
    /// Telescopic terms: per-pair (one classifier per pair) or time-conditional.
    #[arg(long)]
    pub ratio_model: Option<String>,
    /// Snapshots per block of the telescopic bridge.
    #[arg(long)]
    pub ratio_per_block: Option<usize>,
    /// Training iterations of each ratio classifier.
    #[arg(long)]
    pub ratio_iterations: Option<usize>,
    /// Minibatch (per label) of the ratio classifiers.
    #[arg(long)]
    pub ratio_batch: Option<usize>,
    /// Learning rate of the ratio classifiers at their last step, reached by a
    /// cosine from --classifier-lr (unset: constant).
    #[arg(long)]
    pub ratio_lr_final: Option<f64>,
    /// Rewrite the checkpoints every this many iterations (0: only at the end).
    #[arg(long)]
    pub checkpoint_every: Option<usize>,
    /// Solver step size for diagnostics and figures (0: the training grid).
    #[arg(long)]
    pub eval_step: Option<f64>,
}

macro_rules! overlay {
    ($base:ident, $over:ident, $($f:ident),* $(,)?) => {
        $( if $over.$f.is_some() { $base.$f = $over.$f.clone(); } )*
    };
}

/// Reads a setting that [`OtSettings::defaults`] fills.
macro_rules! get {
    ($s:expr, $f:ident) => {
        $s.$f.clone().expect(concat!("defaults fill '", stringify!($f), "'"))
    };
}

impl OtSettings {
    /// The defaults (a 2-D setting; see [`OtConfig::reference`]).
    pub fn defaults() -> Self {
        let r = OtConfig::reference(2);
        let c = ClassifierTraining::reference();
        OtSettings {
            source: None,
            target: None,
            seed: Some(0),
            n_train: Some(10_000),
            n_test: Some(5000),
            blocks: Some(r.blocks),
            steps_per_block: Some(r.steps_per_block),
            hidden: Some(r.hidden),
            act: Some("softplus".into()),
            solver: Some("rk4".into()),
            gamma: Some(r.gamma),
            gamma_initial: Some(r.gamma_initial.unwrap_or(0.0)),
            reverse: Some(true),
            iterations: Some(r.iterations),
            batch: Some(r.batch),
            lr: Some(r.lr),
            classifier_hidden: Some(r.classifier.hidden.clone()),
            ratio_hidden: Some(c.hidden),
            classifier_act: Some(c.act.name().into()),
            classifier_quadratic: Some(c.quadratic),
            classifier_lr: Some(r.classifier.lr),
            classifier_steps: Some(r.classifier_steps),
            classifier_warmup: Some(r.classifier_warmup),
            warm_source: None,
            warm_target: None,
            ratio: Some(true),
            ratio_model: Some("per-pair".into()),
            ratio_per_block: Some(2),
            ratio_iterations: Some(c.iterations),
            ratio_batch: Some(c.batch),
            ratio_lr_final: c.lr_final,
            checkpoint_every: Some(500),
            eval_step: Some(0.01),
        }
    }

    pub fn overlaid(mut self, over: &OtSettings) -> Self {
        overlay!(
            self,
            over,
            source,
            target,
            seed,
            n_train,
            n_test,
            blocks,
            steps_per_block,
            hidden,
            act,
            solver,
            gamma,
            gamma_initial,
            reverse,
            iterations,
            batch,
            lr,
            classifier_hidden,
            ratio_hidden,
            classifier_act,
            classifier_quadratic,
            classifier_lr,
            classifier_steps,
            classifier_warmup,
            warm_source,
            warm_target,
            ratio,
            ratio_model,
            ratio_per_block,
            ratio_iterations,
            ratio_batch,
            ratio_lr_final,
            checkpoint_every,
            eval_step,
        );
        self
    }

    pub fn from_toml_file(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|source| Error::Io { path: path.to_path_buf(), source })?;
        toml::from_str(&text).map_err(|e| Error::Format { path: path.to_path_buf(), message: e.to_string() })
    }

    pub fn to_toml(&self) -> String {
        toml::to_string(self).expect("settings are plain values")
    }

    pub fn source(&self) -> Result<String> {
        self.source.clone().ok_or_else(|| Error::InvalidArgument("ot needs --source, the distribution p".into()))
    }
    pub fn target(&self) -> Result<String> {
        self.target.clone().ok_or_else(|| Error::InvalidArgument("ot needs --target, the distribution q".into()))
    }

    /// The trainer's configuration for `dim`-dimensional data; refuses
    /// settings it cannot run, naming them.
    pub fn ot_config(&self, dim: usize) -> Result<OtConfig> {
        let positive = [
            ("n-train", get!(self, n_train) as f64),
            ("n-test", get!(self, n_test) as f64),
            ("blocks", get!(self, blocks) as f64),
            ("steps-per-block", get!(self, steps_per_block) as f64),
            ("gamma", get!(self, gamma)),
            ("iterations", get!(self, iterations) as f64),
            ("batch", get!(self, batch) as f64),
            ("lr", get!(self, lr)),
            ("classifier-lr", get!(self, classifier_lr)),
            ("classifier-steps", get!(self, classifier_steps) as f64),
            ("ratio-per-block", get!(self, ratio_per_block) as f64),
            ("ratio-iterations", get!(self, ratio_iterations) as f64),
            ("ratio-batch", get!(self, ratio_batch) as f64),
        ];
        for (name, v) in positive {
            if !(v.is_finite() && v > 0.0) {
                invalid_arg!("--{name} must be positive and finite (got {v})");
            }
        }
        let g0 = get!(self, gamma_initial);
        if !(g0.is_finite() && g0 >= 0.0) {
            invalid_arg!("--gamma-initial must be 0 (constant γ) or positive (got {g0})");
        }
        let eval_step = get!(self, eval_step);
        if !(eval_step.is_finite() && eval_step >= 0.0) {
            invalid_arg!("--eval-step must be 0 (the training grid) or positive (got {eval_step})");
        }
        for (name, h) in [
            ("hidden", get!(self, hidden)),
            ("classifier-hidden", get!(self, classifier_hidden)),
            ("ratio-hidden", get!(self, ratio_hidden)),
        ] {
            if h.is_empty() || h.contains(&0) {
                invalid_arg!("--{name} must list positive layer widths, e.g. 64,64");
            }
        }
        RatioModel::from_name(&get!(self, ratio_model))?;
        let cfg = OtConfig {
            dim,
            field: FieldKind::TimeMlp,
            hidden: get!(self, hidden),
            act: Activation::from_name(&get!(self, act))?,
            blocks: get!(self, blocks),
            steps_per_block: get!(self, steps_per_block),
            solver: tableau::by_name(&get!(self, solver))?,
            gamma: get!(self, gamma),
            gamma_initial: (g0 > 0.0).then_some(g0),
            reverse: get!(self, reverse),
            iterations: get!(self, iterations),
            batch: get!(self, batch),
            lr: get!(self, lr),
            classifier: ClassifierTraining { hidden: get!(self, classifier_hidden), ..self.classifier_training()? },
            classifier_steps: get!(self, classifier_steps),
            classifier_warmup: get!(self, classifier_warmup),
            seed: get!(self, seed),
        };
        cfg.validate()?;
        Ok(cfg)
    }

    /// The ratio classifiers' network and training (the KL classifiers share
    /// the activation, features and learning rate, with their own widths).
    pub fn classifier_training(&self) -> Result<ClassifierTraining> {
        Ok(ClassifierTraining {
            hidden: get!(self, ratio_hidden),
            act: Activation::from_name(&get!(self, classifier_act))?,
            quadratic: get!(self, classifier_quadratic),
            iterations: get!(self, ratio_iterations),
            batch: get!(self, ratio_batch),
            lr: get!(self, classifier_lr),
            lr_final: self.ratio_lr_final,
        })
    }

    pub fn ratio_model(&self) -> Result<RatioModel> {
        RatioModel::from_name(&get!(self, ratio_model))
    }
    pub fn ratio_per_block(&self) -> usize {
        get!(self, ratio_per_block)
    }
    pub fn seed(&self) -> u64 {
        get!(self, seed)
    }

    /// How diagnostics and figures integrate the flow.
    pub fn eval_options(&self) -> EvalOptions {
        let h = get!(self, eval_step);
        if h > 0.0 { EvalOptions::with_step(h) } else { EvalOptions::default() }
    }
}

/// `ot`'s command line.
#[derive(Args, Debug)]
pub struct OtArgs {
    /// TOML file of settings (keys as the flags, with _ for -).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Run directory (default: runs/ot-<source>-<target>).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Skip the figures.
    #[arg(long)]
    pub no_figures: bool,
    #[command(flatten)]
    pub settings: OtSettings,
}

/// The two samples of a run, drawn by the run's seed alone.
pub struct OtData {
    pub source: DataSource,
    pub target: DataSource,
    pub p_train: Tensor<f32>,
    pub q_train: Tensor<f32>,
    pub p_test: Tensor<f32>,
    pub q_test: Tensor<f32>,
}

impl OtData {
    pub fn dim(&self) -> usize {
        self.p_train.dims()[1]
    }
}

/// Loads and draws both data sets; they must share a dimension and be finite.
pub fn prepare(s: &OtSettings) -> Result<OtData> {
    let (source, target) = (DataSource::parse(&s.source()?)?, DataSource::parse(&s.target()?)?);
    let mut rng = Rng::seed(s.seed() ^ 0x07_da7a);
    let n_test = get!(s, n_test);
    let mut split = |src: &DataSource, what: &str| -> Result<(Tensor<f32>, Tensor<f32>)> {
        let (train_src, test) = src.train_test::<f32>(n_test, &mut rng)?;
        let train = match train_src.rows::<f32>() {
            Some(rows) => rows?,
            None => train_src.sample::<f32>(get!(s, n_train), &mut rng)?,
        };
        for (x, part) in [(&train, "training"), (&test, "test")] {
            if !x.all_finite()? {
                return Err(Error::NonFinite(format!("the {what} '{}' has non-finite {part} values", src.name())));
            }
        }
        Ok((train, test))
    };
    let (p_train, p_test) = split(&source, "source")?;
    let (q_train, q_test) = split(&target, "target")?;
    if p_train.dims()[1] != q_train.dims()[1] {
        invalid_arg!(
            "the source '{}' is {}-dimensional and the target '{}' {}-dimensional; OT needs one space",
            source.name(),
            p_train.dims()[1],
            target.name(),
            q_train.dims()[1]
        );
    }
    Ok(OtData { source, target, p_train, q_train, p_test, q_test })
}

/// Settings from defaults, file and flags, and the run directory.
fn resolve(a: &OtArgs) -> Result<(OtSettings, PathBuf)> {
    let file = match &a.config {
        Some(path) => OtSettings::from_toml_file(path)?,
        None => OtSettings::default(),
    };
    let s = OtSettings::defaults().overlaid(&file).overlaid(&a.settings);
    let (src, tgt) = (s.source()?, s.target()?);
    let out = a.out.clone().unwrap_or_else(|| {
        let clean = |n: &str| n.replace(['/', ':', '.'], "_");
        Path::new("runs").join(format!("ot-{}-{}", clean(&src), clean(&tgt)))
    });
    Ok((s, out))
}

/// What every checkpoint of an OT run records about the run.
fn run_meta(s: &OtSettings) -> Value {
    json!({
        "method": "ot",
        "settings": super::settings::to_json(s),
    })
}

/// Writes the flow's blocks and the KL classifiers.
fn save_state(dir: &Path, state: &OtState<f32>, meta: &Value, iteration: usize) -> Result<()> {
    let mut m = meta.clone();
    m["trainer_state"] = json!({ "iteration": iteration });
    for (i, b) in state.flow.blocks.iter().enumerate() {
        save_block(&dir.join(block_file_name(i + 1)), i + 1, b, &m)?;
    }
    // Blocks of an earlier run in this directory beyond this flow's would be loaded with it.
    for stale in crate::io::checkpoint::block_files(dir)?.iter().skip(state.flow.len()) {
        std::fs::remove_file(stale).map_err(|source| Error::Io { path: stale.clone(), source })?;
    }
    let text = m.to_string();
    save_params(&dir.join("kl-target.safetensors"), &state.target_classifier.store, &[("wasserflow", &text)])?;
    save_params(&dir.join("kl-source.safetensors"), &state.source_classifier.store, &[("wasserflow", &text)])
}

struct Hooks<'a> {
    run: &'a mut RunDir,
    meta: Value,
    progress: Progress,
    log_every: usize,
    every: usize,
    started: Instant,
    last: OtTerms,
}

impl OtHooks<f32> for Hooks<'_> {
    fn on_iteration(&mut self, it: usize, t: &OtTerms) {
        self.progress.update(it + 1, t.loss);
        self.last = *t;
        if it.is_multiple_of(self.log_every) {
            self.run.record(json!({
                "kind": "iteration", "block": 1, "iteration": it, "loss": t.loss,
                "kinetic_forward": t.kinetic_forward, "kinetic_reverse": t.kinetic_reverse,
                "kl_forward": t.kl_forward, "kl_reverse": t.kl_reverse,
                "classifier_loss_forward": t.classifier_loss_forward,
                "classifier_loss_reverse": t.classifier_loss_reverse,
                "elapsed_s": self.started.elapsed().as_secs_f64(),
            }));
        }
    }
    fn on_checkpoint(&mut self, iteration: usize, state: &OtState<f32>) -> Result<()> {
        save_state(&self.run.checkpoints(), state, &self.meta, iteration)?;
        self.run.flush_metrics()
    }
    fn checkpoint_every(&self) -> usize {
        self.every
    }
}

/// The flow of a `train` run directory, for a warm start; it must be in the
/// data's own units.
fn warm_flow(dir: &str, what: &str) -> Result<BlockFlow<f32>> {
    let run = TrainedRun::load(Path::new(dir))?;
    if run.standardizer.is_some() {
        invalid_arg!(
            "the {what} warm-start run {dir} was trained on standardized data; the OT-flow needs a flow in the \
             data's own units (train it with --standardize false)"
        );
    }
    Ok(run.flow)
}

/// Runs `ot`.
pub fn ot_command(a: OtArgs) -> Result<()> {
    let (s, out) = resolve(&a)?;
    let data = prepare(&s)?;
    let cfg = s.ot_config(data.dim())?;
    s.classifier_training()?.validate()?;
    let init = match (&s.warm_source, &s.warm_target) {
        (None, None) => OtInit::Fresh,
        (Some(ws), Some(wt)) => {
            OtInit::WarmStart { source_to_noise: warm_flow(ws, "source")?, target_to_noise: warm_flow(wt, "target")? }
        }
        _ => invalid_arg!("a warm start needs both --warm-source and --warm-target"),
    };
    let mut run = RunDir::create(&out)?;
    let text = format!("# written by wasserflow {} (ot)\n{}", env!("CARGO_PKG_VERSION"), s.to_toml());
    write_bytes_atomically(&run.config_path(), text.as_bytes())?;
    let meta = run_meta(&s);
    let started = Instant::now();
    let mut hooks = Hooks {
        meta: meta.clone(),
        progress: Progress::new(cfg.iterations, "ot"),
        log_every: (cfg.iterations / 500).max(1),
        every: get!(s, checkpoint_every),
        started,
        last: OtTerms::default(),
        run: &mut run,
    };
    let result = train_ot(&cfg, &data.p_train, &data.q_train, init, &mut hooks);
    hooks.progress.finish();
    let last = hooks.last;
    run.flush_metrics()?;
    let state = result.map_err(|e| match e {
        Error::NonFinite(m) => {
            Error::NonFinite(format!("{m}; the last good checkpoint (if any) is in {}", run.checkpoints().display()))
        }
        e => e,
    })?;
    let train_s = started.elapsed().as_secs_f64();

    let report = flow_report(&s, &data, &state, train_s, &last)?;
    run.record(report.clone());
    run.flush_metrics()?;
    println!("{}", flow_summary(&report));

    let fit = if get!(s, ratio) {
        let t0 = Instant::now();
        let fit = fit_and_save(&run.root, &s, &state.flow, &data)?;
        let mut record =
            json!({"kind": "ratio", "model": s.ratio_model()?.name(), "fit_s": t0.elapsed().as_secs_f64()});
        if let Some(errors) = log_ratio_errors(&fit, &data)? {
            println!("{}", ratio_summary(&errors));
            record["mse"] = errors;
        }
        run.record(record);
        run.flush_metrics()?;
        Some(fit)
    } else {
        None
    };
    if !a.no_figures {
        let written = draw_figures(&run, &s, &state.flow, &data, fit.as_ref())?;
        if !written.is_empty() {
            println!("figures: {}", written.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", "));
        }
    }
    println!("trained in {train_s:.1} s; run directory {}", run.root.display());
    Ok(())
}

/// The flow's diagnostics as the `ot` metrics record.
fn flow_report(s: &OtSettings, data: &OtData, state: &OtState<f32>, train_s: f64, last: &OtTerms) -> Result<Value> {
    let opts = s.eval_options();
    let d = diagnose(state, &data.p_test, &data.q_test, opts)?;
    let mut report = json!({
        "kind": "ot",
        "blocks": state.flow.len(),
        "transport_cost": d.transport_cost,
        "reverse_transport_cost": d.reverse_transport_cost,
        "kinetic": d.kinetic,
        "kinetic_per_block": d.kinetic_per_block,
        "kl_forward_classifier": d.kl_forward,
        "kl_reverse_classifier": d.kl_reverse,
        "inversion_rms": d.inversion_rms,
        "inversion_max": d.inversion_max,
        "final_loss": last.loss,
        "train_s": train_s,
    });
    if let (Some(pm), Some(qm)) = (data.source.mixture(), data.target.mixture()) {
        let mut rng = Rng::seed(s.seed() ^ 0x6c_d3);
        let pushed = state.flow.transport(&data.p_test, opts)?;
        let ld = log_det_jacobian(&state.flow, &data.p_test, opts, &mut rng)?;
        let lp: Vec<f64> = pm.log_prob(&data.p_test)?.iter().zip(&ld).map(|(a, b)| a - b).collect();
        let fwd = kl_monte_carlo(&lp, &qm.log_prob(&pushed)?)?;
        let pulled = state.flow.invert(&data.q_test, opts)?;
        let ld = log_det_jacobian(&state.flow, &pulled, opts, &mut rng)?;
        let lq: Vec<f64> = qm.log_prob(&data.q_test)?.iter().zip(&ld).map(|(a, b)| a + b).collect();
        let rev = kl_monte_carlo(&lq, &pm.log_prob(&pulled)?)?;
        report["kl_forward_exact"] = json!(fwd.kl);
        report["kl_forward_exact_se"] = json!(fwd.std_error);
        report["kl_reverse_exact"] = json!(rev.kl);
        report["kl_reverse_exact_se"] = json!(rev.std_error);
    }
    Ok(report)
}

fn num(v: &Value, k: &str) -> f64 {
    v.get(k).and_then(Value::as_f64).unwrap_or(f64::NAN)
}

fn flow_summary(r: &Value) -> String {
    let mut out = format!(
        "transport cost E|T(x) - x|^2 {:.4} (kinetic energy {:.4}); KL(T#p || q) ≈ {:.4}, KL(T^-1#q || p) ≈ {:.4} \
         (classifiers); inversion error RMS {:.2e}",
        num(r, "transport_cost"),
        num(r, "kinetic"),
        num(r, "kl_forward_classifier"),
        num(r, "kl_reverse_classifier"),
        num(r, "inversion_rms"),
    );
    if r.get("kl_forward_exact").is_some() {
        out.push_str(&format!(
            "\nexact KL(T#p || q) {:.4} ± {:.4}, KL(T^-1#q || p) {:.4} ± {:.4} nats",
            num(r, "kl_forward_exact"),
            num(r, "kl_forward_exact_se"),
            num(r, "kl_reverse_exact"),
            num(r, "kl_reverse_exact_se"),
        ));
    }
    out
}

fn ratio_summary(errors: &Value) -> String {
    let mut lines = vec!["log q/p mean squared error (on p samples / q samples / grid):".to_string()];
    if let Some(obj) = errors.as_object() {
        for (name, e) in obj {
            lines.push(format!("  {name}: {:.3} / {:.3} / {:.3}", num(e, "p"), num(e, "q"), num(e, "grid")));
        }
    }
    lines.join("\n")
}

fn pairs(x: &Tensor<f32>) -> Result<Vec<[f64; 2]>> {
    Ok(x.to_f64_vec()?.chunks(2).map(|c| [c[0], c[1]]).collect())
}

/// Particles shown in the trajectory figure.
const TRAJECTORY_POINTS: usize = 300;

/// The figures of a 2-D run; none for other dimensions except the loss.
fn draw_figures(
    run: &RunDir,
    s: &OtSettings,
    flow: &BlockFlow<f32>,
    data: &OtData,
    fit: Option<&RatioFit>,
) -> Result<Vec<PathBuf>> {
    let dir = run.figures();
    let mut written = Vec::new();
    let opts = s.eval_options();
    if flow.dim == 2 {
        let p = data.p_test.slice(0, 0, data.p_test.dims()[0].min(5000))?;
        let q = data.q_test.slice(0, 0, data.q_test.dims()[0].min(5000))?;
        let (tp, tq) = (flow.transport(&p, opts)?, flow.invert(&q, opts)?);
        let sets = [pairs(&p)?, pairs(&tp)?, pairs(&q)?, pairs(&tq)?];
        let extent = Extent::around(&[&sets[0], &sets[2]])?;
        let path = dir.join("transport.png");
        point_panels(
            &path,
            &[("p", &sets[0]), ("T#p", &sets[1]), ("q", &sets[2]), ("T^-1#q", &sets[3])],
            extent,
            Style::Scatter,
        )?;
        written.push(path);
        let k = TRAJECTORY_POINTS.min(p.dims()[0]).min(q.dims()[0]);
        let flat = |x: &Tensor<f32>, reverse: bool| -> Result<Vec<Vec<[f64; 2]>>> {
            let per_block = flow.trajectories(&x.slice(0, 0, k)?, reverse, opts)?;
            let mut out: Vec<Vec<[f64; 2]>> = Vec::new();
            for (b, states) in per_block.iter().enumerate() {
                // Each block's first state is the previous block's last.
                for st in states.iter().skip(usize::from(b > 0)) {
                    out.push(pairs(st)?);
                }
            }
            Ok(out)
        };
        let path = dir.join("trajectories.png");
        trajectory_panels(&path, &[flat(&p, false)?, flat(&q, true)?], &["p to q", "q to p"], extent)?;
        written.push(path);
        if let Some(fit) = fit {
            written.push(super::ratio::draw_log_ratio(&dir.join("log_ratio.png"), fit, data, extent)?);
        }
    }
    let records = run.read_metrics()?;
    let losses: Vec<f64> = records
        .iter()
        .filter(|r| r.get("kind").and_then(Value::as_str) == Some("iteration"))
        .filter_map(|r| r.get("loss").and_then(Value::as_f64))
        .collect();
    if !losses.is_empty() {
        let path = dir.join("loss.png");
        loss_curves(&path, &[("OT-flow loss", &losses)], "training loss", false, 5)?;
        written.push(path);
    }
    Ok(written)
}
