//! `wasserflow train`: resolve the settings, prepare the data, run the
//! method's trainer with checkpoints and metrics as it goes, then evaluate and
//! draw the figures.

use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::io::json::Value;
use crate::json;

use super::data::{RunData, prepare_source, standardizer_to_json};
use super::progress::Progress;
use super::run_dir::RunDir;
use super::settings::Settings;
use super::{TrainArgs, evaluate, figures, memory};
use crate::Device;
use crate::data::DataSource;
use crate::density::{Backprop, Divergence};
use crate::flows::jko::{BlockReport, JkoConfig, JkoHooks, LossTerms, Phase, ReparamConfig, StepSchedule};
use crate::flows::jko::{refine_jko, train_jko};
use crate::flows::{Block, BlockFlow, BlockSpec, CnfConfig, FieldKind, train_cnf};
use crate::flows::{FmConfig, Interpolant, LfmConfig, MatchingReport, PushSolver, TimeSampler, train_fm, train_lfm};
use crate::io::checkpoint::block_file_name;
use crate::io::checkpoint::load_flow;
use crate::nn::Activation;
use crate::ode::tableau;
use crate::{Error, Result, invalid_arg, setting};

/// `println!` on the rank that reports: the only one, or rank 0 under `mpirun`.
macro_rules! report {
    ($($t:tt)*) => {
        if crate::dist::is_root() {
            println!($($t)*)
        }
    };
}

/// Writes a block's checkpoint on the rank that writes files (see [`report!`]).
fn save_block<T: crate::Float>(path: &Path, index: usize, block: &Block<T>, meta: &Value) -> Result<()> {
    if crate::dist::is_root() { crate::io::checkpoint::save_block(path, index, block, meta) } else { Ok(()) }
}

/// Runs `train` from parsed arguments.
///
/// Under `mpirun` (the `mpi` feature) every rank runs this: the same
/// settings, data and seed, the trainer data-parallel over the ranks
/// ([`crate::dist`]); rank 0 alone writes the run directory and prints, and
/// evaluates and draws the figures once training is done.
pub fn train(a: TrainArgs) -> Result<()> {
    let (settings, out) = resolve(&a)?;
    // Loading is bounded by the load limit; the run's own needs are checked before anything else.
    let source = DataSource::parse(&setting!(settings, data))?;
    let expected = memory::estimate(&settings, source.dim()?, source.n_rows())?;
    memory::check(&expected, memory::available_bytes(), a.force)?;
    let world = crate::dist::world();
    let mut run = if world.rank() == 0 { RunDir::create(&out)? } else { RunDir::follower(&out) };
    run.write_settings(&settings)?;
    let started = Instant::now();
    let data = prepare_source(source, &settings)?;
    let flow = {
        let _data_parallel = crate::dist::DataParallel::enter();
        train_run(&settings, &data, &mut run, a.resume)?
    };
    let train_s = started.elapsed().as_secs_f64();
    if world.size() > 1 {
        let comm_s = crate::dist::communication_seconds();
        let threads = rayon::current_num_threads();
        run.record(json!({"kind": "data_parallel", "ranks": world.size(), "threads_per_rank": threads,
            "communication_s": comm_s, "train_s": train_s}));
        report!(
            "{} ranks × {threads} threads; rank 0 spent {comm_s:.2} s of {train_s:.1} s in communication",
            world.size()
        );
        if world.rank() != 0 {
            return Ok(());
        }
    }
    finish(&settings, &data, &mut run, &flow, train_s, !a.no_figures)?;
    Ok(())
}

/// Settings from defaults, file and flags (or, with `--resume`, from the run
/// directory and flags), and the run directory.
pub fn resolve(a: &TrainArgs) -> Result<(Settings, PathBuf)> {
    let file = match &a.config {
        Some(path) => Settings::from_toml_file(path)?,
        None => Settings::default(),
    };
    if a.resume {
        let Some(out) = &a.out else {
            invalid_arg!("--resume needs --out, the run directory to continue");
        };
        let saved = RunDir::open(out)?.read_settings()?;
        return Ok((saved.overlaid(&file).overlaid(&a.settings), out.clone()));
    }
    let method = a.settings.method.clone().or(file.method.clone()).unwrap_or_else(|| "jko".into());
    let s = Settings::defaults(&method)?.overlaid(&file).overlaid(&a.settings);
    validate(&s)?;
    let out = a.out.clone().unwrap_or_else(|| {
        let data = setting!(s, data).replace(['/', ':', '.'], "_");
        Path::new("runs").join(format!("{data}-{method}"))
    });
    Ok((s, out))
}

/// Refuses settings no trainer can run, before any work is done.
pub fn validate(s: &Settings) -> Result<()> {
    let positive = [
        ("batch", setting!(s, batch) as f64),
        ("iterations", setting!(s, iterations) as f64),
        ("lr", setting!(s, lr)),
        ("blocks", setting!(s, blocks) as f64),
        ("steps-per-block", setting!(s, steps_per_block) as f64),
        ("h0", setting!(s, h0)),
        ("rho", setting!(s, rho)),
        ("t-end", setting!(s, t_end)),
        ("step-size", setting!(s, step_size)),
        ("n-test", setting!(s, n_test) as f64),
        ("n-train", setting!(s, n_train) as f64),
        ("eval-n", setting!(s, eval_n) as f64),
    ];
    for (name, v) in positive {
        if v.partial_cmp(&0.0) != Some(std::cmp::Ordering::Greater) {
            invalid_arg!("--{name} must be positive (got {v})");
        }
    }
    if setting!(s, hidden).is_empty() || setting!(s, hidden).contains(&0) {
        invalid_arg!("--hidden must list positive layer widths, e.g. 64,64,64");
    }
    activation(s)?;
    Divergence::from_name(&setting!(s, divergence))?;
    tableau::by_name(&setting!(s, solver))?;
    Backprop::from_name(&setting!(s, backprop))?;
    FieldKind::from_name(&setting!(s, field))?;
    Ok(())
}

/// The activation named by the settings (softplus with its β).
pub fn activation(s: &Settings) -> Result<Activation> {
    Ok(match Activation::from_name(&setting!(s, act))? {
        Activation::Softplus { .. } => Activation::Softplus { beta: setting!(s, softplus_beta) },
        a => a,
    })
}

/// What every checkpoint of this run records about the run.
fn run_meta(s: &Settings, data: &RunData) -> Value {
    json!({
        "method": setting!(s, method),
        "data": setting!(s, data),
        "standardization": standardizer_to_json(&data.standardizer),
        "settings": super::settings::to_json(s),
    })
}

/// `meta` with the trainer's state at a checkpoint. Wall-clock times are left
/// to metrics.jsonl: without them, the same seed and thread count write the
/// same checkpoint bytes, whether the run was interrupted or not.
fn with_state(meta: &Value, mut state: Value) -> Value {
    if let Some(fields) = state.as_object_mut() {
        for timing in ["wall_s", "train_s", "push_s", "elapsed_s"] {
            fields.remove(timing);
        }
    }
    let mut m = meta.clone();
    m["trainer_state"] = state;
    m
}

/// Runs the method's trainer; returns the trained flow.
pub(crate) fn train_run(s: &Settings, data: &RunData, run: &mut RunDir, resume: bool) -> Result<BlockFlow<f32>> {
    let method = setting!(s, method);
    match method.as_str() {
        "cnf" | "fm" if resume => {
            invalid_arg!(
                "--resume continues progressive trainers (jko, lfm) from their last block; {method} trains one block"
            )
        }
        "cnf" => train_cnf_run(s, data, run),
        "fm" => train_fm_run(s, data, run),
        "jko" => train_jko_run(s, data, run, resume),
        "lfm" => train_lfm_run(s, data, run, resume),
        other => invalid_arg!("unknown method '{other}' (expected cnf, fm, lfm or jko)"),
    }
}

/// The block every single-block method trains, as the settings define it.
pub fn single_block_spec(s: &Settings, dim: usize, t_end: f64, grid_step: f64) -> Result<BlockSpec> {
    Ok(BlockSpec {
        dim,
        field: FieldKind::from_name(&setting!(s, field))?,
        hidden: setting!(s, hidden),
        act: activation(s)?,
        grid: crate::ode::fixed::step_size_grid(0.0, t_end, grid_step)?,
        solver: tableau::by_name(&setting!(s, solver))?,
        divergence: Divergence::from_name(&setting!(s, divergence))?,
    })
}

/// Minibatches drawn with replacement from the training set.
fn minibatch(train: &crate::Tensor<f32>, n: usize, rng: &mut crate::Rng) -> Result<crate::Tensor<f32>> {
    let rows = train.dims()[0];
    let idx: Vec<usize> = (0..n).map(|_| rng.below(rows)).collect();
    train.gather_rows(&idx)
}

fn train_cnf_run(s: &Settings, data: &RunData, run: &mut RunDir) -> Result<BlockFlow<f32>> {
    let dim = data.train.dims()[1];
    let spec = single_block_spec(s, dim, setting!(s, t_end), setting!(s, step_size))?;
    let cfg = CnfConfig {
        dim,
        field: spec.field,
        hidden: spec.hidden.clone(),
        act: spec.act,
        t_end: setting!(s, t_end),
        step_size: setting!(s, step_size),
        solver: spec.solver,
        divergence: spec.divergence,
        backprop: Backprop::from_name(&setting!(s, backprop))?,
        batch: setting!(s, batch),
        lr: setting!(s, lr),
        clip_grad: clip_grad(s),
        iterations: setting!(s, iterations),
        seed: setting!(s, seed),
        device: Device::Cpu,
    };
    single_block_run("cnf", s, data, run, |on_iteration| {
        train_cnf::<f32>(
            &cfg,
            |n, rng| minibatch(&data.train, n, rng),
            |r, block| on_iteration(r.iteration, r.loss, block),
        )
    })
}

/// Progress, metrics and periodic checkpoints of a single-block trainer.
/// `train` runs the trainer, calling the given callback after every
/// iteration with `(iteration, loss, block)`.
fn single_block_run(
    label: &str,
    s: &Settings,
    data: &RunData,
    run: &mut RunDir,
    train: impl FnOnce(&mut dyn FnMut(usize, f64, &Block<f32>) -> Result<()>) -> Result<BlockFlow<f32>>,
) -> Result<BlockFlow<f32>> {
    let iterations = setting!(s, iterations);
    let meta = run_meta(s, data);
    let ckpt = run.checkpoints().join(block_file_name(1));
    let every = setting!(s, checkpoint_every);
    let log_every = (iterations / 500).max(1);
    let progress = Progress::new(iterations, label);
    let started = Instant::now();
    let mut saved_at = None;
    let result = train(&mut |iteration, loss, block| {
        progress.update(iteration + 1, loss);
        let last = iteration + 1 == iterations;
        if iteration.is_multiple_of(log_every) || last {
            let elapsed = started.elapsed().as_secs_f64();
            run.record(
                json!({"kind": "iteration", "block": 1, "iteration": iteration, "loss": loss, "elapsed_s": elapsed}),
            );
        }
        if (every > 0 && (iteration + 1).is_multiple_of(every)) || last {
            save_block(&ckpt, 1, block, &with_state(&meta, json!({"iteration": iteration + 1})))?;
            run.flush_metrics()?;
            saved_at = Some(iteration + 1);
        }
        Ok(())
    });
    progress.finish();
    run.flush_metrics()?;
    let flow = result.map_err(|e| keep_last_good(e, &ckpt, saved_at))?;
    let train_s = started.elapsed().as_secs_f64();
    run.record(json!({"kind": "block", "block": 1, "iterations": iterations, "train_s": train_s}));
    run.flush_metrics()?;
    Ok(flow)
}

/// Adds where the last good checkpoint is to a training error.
fn keep_last_good(e: Error, ckpt: &Path, saved_at: Option<usize>) -> Error {
    match (e, saved_at) {
        (Error::NonFinite(m), Some(it)) => {
            Error::NonFinite(format!("{m}; the last good checkpoint (iteration {it}) is {}", ckpt.display()))
        }
        (Error::NonFinite(m), None) => Error::NonFinite(format!("{m}; no checkpoint was written")),
        (e, _) => e,
    }
}

/// Evaluates the trained flow, records the evaluation, draws the figures and
/// prints where everything is.
pub fn finish(
    s: &Settings,
    data: &RunData,
    run: &mut RunDir,
    flow: &BlockFlow<f32>,
    train_s: f64,
    draw: bool,
) -> Result<Value> {
    let report = evaluate::evaluate(flow, &data.test, &data.standardizer, Some(&data.source), s, setting!(s, seed))?;
    let mut record = report.clone();
    record["kind"] = json!("eval");
    record["train_s"] = json!(train_s);
    run.record(record);
    run.flush_metrics()?;
    report!("{}", evaluate::summary(&report));
    report!("trained in {train_s:.1} s; run directory {}", run.root.display());
    if draw {
        let written = figures::draw_all(run, s, flow, data, setting!(s, seed))?;
        report!("figures: {}", written.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", "));
    }
    Ok(report)
}

/// The JKO-iFlow configuration the settings define.
fn jko_config(s: &Settings, dim: usize) -> Result<JkoConfig> {
    let stop = setting!(s, stop_w2);
    Ok(JkoConfig {
        dim,
        field: FieldKind::from_name(&setting!(s, field))?,
        hidden: setting!(s, hidden),
        act: activation(s)?,
        steps_per_block: setting!(s, steps_per_block),
        solver: tableau::by_name(&setting!(s, solver))?,
        divergence: Divergence::from_name(&setting!(s, divergence))?,
        backprop: Backprop::from_name(&setting!(s, backprop))?,
        schedule: StepSchedule { h0: setting!(s, h0), rho: setting!(s, rho), h_max: setting!(s, h_max) },
        max_blocks: setting!(s, blocks),
        iterations: setting!(s, iterations),
        batch: setting!(s, batch),
        lr: setting!(s, lr),
        clip_grad: clip_grad(s),
        warm_start: setting!(s, warm_start),
        stop_w2: (stop > 0.0).then_some(stop),
        max_speed_growth: Some(setting!(s, max_speed_growth)).filter(|&g| g > 0.0),
        reparametrize: setting!(s, reparam)
            .then(|| ReparamConfig { iterations: setting!(s, refine_iterations).max(1), lr: None }),
        diagnostic_particles: 20_000,
        seed: setting!(s, seed),
    })
}

/// Checkpoints, metrics and progress for a progressive trainer.
struct BlockHooks<'a> {
    run: &'a mut RunDir,
    meta: Value,
    /// Where each pass's blocks go: the refined (or only) pass in
    /// `checkpoints/`, an initial pass that will be re-timed in `checkpoints/initial/`.
    initial_dir: std::path::PathBuf,
    refined_dir: std::path::PathBuf,
    progress: Option<Progress>,
    phase: &'static str,
    log_every: usize,
    iterations: usize,
    started: Instant,
}

impl BlockHooks<'_> {
    /// Closes the current block's progress bar, if any.
    fn end_progress(&mut self) {
        if let Some(p) = self.progress.take() {
            p.finish();
        }
    }

    fn dir(&self, phase: &str) -> &Path {
        if phase == "initial" { &self.initial_dir } else { &self.refined_dir }
    }
}

impl JkoHooks<f32> for BlockHooks<'_> {
    fn on_phase(&mut self, phase: Phase, first: usize, last: usize) {
        self.phase = if phase == Phase::Initial { "initial" } else { "refine" };
        report!("{} pass: blocks {first}..={last}", self.phase);
    }
    fn on_iteration(&mut self, block: usize, iteration: usize, terms: &LossTerms) {
        if iteration == 0 {
            self.end_progress();
            self.progress = Some(Progress::new(self.iterations, &format!("block {block}")));
        }
        if let Some(p) = &self.progress {
            p.update(iteration + 1, terms.total);
        }
        if iteration.is_multiple_of(self.log_every) {
            self.run.record(json!({
                "kind": "iteration", "phase": self.phase, "block": block, "iteration": iteration,
                "loss": terms.total, "potential": terms.potential, "divergence": terms.divergence,
                "transport": terms.transport, "elapsed_s": self.started.elapsed().as_secs_f64(),
            }));
        }
    }
    fn on_block(&mut self, flow: &BlockFlow<f32>, report: &BlockReport) -> Result<()> {
        self.end_progress();
        let mut record: Value = Value::parse(&report.to_json()).expect("block reports are JSON");
        let phase = record["phase"].as_str().unwrap_or("initial").to_owned();
        let path = self.dir(&phase).join(block_file_name(report.block));
        let block = flow.blocks.last().expect("a finished block");
        let state = with_state(&self.meta, record.clone());
        // The block's metrics go out before its checkpoint: a run killed between the two has
        // records of a block it will train again, which --resume drops, rather than a
        // checkpoint whose records are lost.
        record["kind"] = json!("block");
        self.run.record(record);
        self.run.flush_metrics()?;
        save_block(&path, report.block, block, &state)?;
        report!(
            "block {} ({phase}): h {:.3}, W2 moved {:.4}, KL change {:.4}, {:.1} s",
            report.block,
            report.h,
            report.w2_moved,
            report.kl_change,
            report.wall_s
        );
        Ok(())
    }
    fn on_discard(&mut self, report: &BlockReport) {
        self.end_progress();
        let mut record: Value = Value::parse(&report.to_json()).expect("block reports are JSON");
        record["kind"] = json!("discarded");
        self.run.record(record);
        report!(
            "block {} discarded: its W2 speed (W2 moved / h) {:.4} grew more than --max-speed-growth allows; the pass ends",
            report.block,
            report.grad_norm
        );
    }
}

fn train_jko_run(s: &Settings, data: &RunData, run: &mut RunDir, resume: bool) -> Result<BlockFlow<f32>> {
    let cfg = jko_config(s, data.train.dims()[1])?;
    let refined_dir = run.checkpoints();
    let initial_dir = if cfg.reparametrize.is_some() { refined_dir.join("initial") } else { refined_dir.clone() };
    if crate::dist::is_root() {
        std::fs::create_dir_all(&initial_dir).map_err(|source| Error::Io { path: initial_dir.clone(), source })?;
    }
    let loaded = |dir: &Path| -> Result<Option<BlockFlow<f32>>> {
        if !resume || crate::io::checkpoint::block_files(dir)?.is_empty() {
            return Ok(None);
        }
        let (flow, infos) = load_flow::<f32>(dir)?;
        super::run_dir::check_blocks_fit(s, &infos, dir)?;
        Ok(Some(flow))
    };
    let initial = loaded(&initial_dir)?;
    let refined = if cfg.reparametrize.is_some() { loaded(&refined_dir)? } else { None };
    if resume {
        let done = |f: &Option<BlockFlow<f32>>| f.as_ref().map_or(0, BlockFlow::len);
        report!("resuming: {} initial blocks, {} refined blocks done", done(&initial), done(&refined));
        run.truncate_metrics(done(&initial), done(&refined))?;
    }
    let mut hooks = BlockHooks {
        meta: run_meta(s, data),
        run,
        initial_dir,
        refined_dir,
        progress: None,
        phase: "initial",
        log_every: (cfg.iterations / 100).max(1),
        iterations: cfg.iterations,
        started: Instant::now(),
    };
    let outcome = match (initial, refined) {
        (Some(initial), Some(refined)) => refine_jko(&cfg, &data.train, initial, Some(refined), &mut hooks),
        (initial, _) => train_jko(&cfg, &data.train, initial, &mut hooks),
    };
    hooks.end_progress();
    hooks.run.flush_metrics()?;
    let outcome = outcome.map_err(|e| match e {
        Error::NonFinite(m) => Error::NonFinite(format!(
            "{m}; the finished blocks' checkpoints are kept in {} (continue with --resume)",
            hooks.initial_dir.display()
        )),
        e => e,
    })?;
    Ok(outcome.flow)
}

/// The time distribution named by the settings: `uniform` or `beta:<a>,<b>`.
fn time_sampler(s: &Settings) -> Result<TimeSampler> {
    let name = setting!(s, time_dist);
    if name == "uniform" {
        return Ok(TimeSampler::Uniform);
    }
    let parsed = name.strip_prefix("beta:").and_then(|ab| {
        let (a, b) = ab.split_once(',')?;
        Some((a.trim().parse::<f64>().ok()?, b.trim().parse::<f64>().ok()?))
    });
    match parsed {
        Some((alpha, beta)) => {
            let t = TimeSampler::Beta { alpha, beta };
            t.validate()?;
            Ok(t)
        }
        None => invalid_arg!("unknown time distribution '{name}' (expected uniform or beta:<a>,<b>)"),
    }
}

fn fm_config(s: &Settings, dim: usize) -> Result<FmConfig> {
    let interpolant = match setting!(s, interpolant).as_str() {
        "trig" | "trigonometric" => Interpolant::Trigonometric,
        name => Interpolant::from_name(name)?,
    };
    Ok(FmConfig {
        dim,
        field: FieldKind::from_name(&setting!(s, field))?,
        hidden: setting!(s, hidden),
        act: activation(s)?,
        interpolant,
        time: time_sampler(s)?,
        batch: setting!(s, batch),
        lr: setting!(s, lr),
        clip_grad: clip_grad(s),
        lr_final: None,
        ema: None,
        iterations: setting!(s, iterations),
        seed: setting!(s, seed),
        step_size: setting!(s, step_size),
        solver: tableau::by_name(&setting!(s, solver))?,
        divergence: Divergence::from_name(&setting!(s, divergence))?,
        device: Device::Cpu,
    })
}

fn train_fm_run(s: &Settings, data: &RunData, run: &mut RunDir) -> Result<BlockFlow<f32>> {
    let cfg = fm_config(s, data.train.dims()[1])?;
    single_block_run("fm", s, data, run, |on_iteration| {
        train_fm::<f32>(
            &cfg,
            |n, rng| minibatch(&data.train, n, rng),
            |r, block| on_iteration(r.iteration, r.loss, block),
        )
    })
}

fn train_lfm_run(s: &Settings, data: &RunData, run: &mut RunDir, resume: bool) -> Result<BlockFlow<f32>> {
    let block = fm_config(s, data.train.dims()[1])?;
    let iterations = block.iterations;
    let (h0, rho) = (setting!(s, h0), setting!(s, rho));
    let cfg = LfmConfig {
        block,
        blocks: setting!(s, blocks),
        schedule: crate::flows::StepSchedule::Geometric { h0, rho },
        final_free_block: setting!(s, final_free_block),
        warm_start: setting!(s, warm_start),
        push: PushSolver::Dopri5 { rtol: 1e-5, atol: 1e-5 },
    };
    let dir = run.checkpoints();
    let existing = if resume && !crate::io::checkpoint::block_files(&dir)?.is_empty() {
        let (flow, infos) = load_flow::<f32>(&dir)?;
        super::run_dir::check_blocks_fit(s, &infos, &dir)?;
        report!("resuming after block {}", flow.len());
        Some(flow)
    } else {
        None
    };
    if resume {
        // Also with no block done: a run killed before its first checkpoint may have written that block's records.
        run.truncate_metrics(existing.as_ref().map_or(0, BlockFlow::len), 0)?;
    }
    let meta = run_meta(s, data);
    let log_every = (iterations / 100).max(1);
    let started = Instant::now();
    let run = std::cell::RefCell::new(run);
    let progress: std::cell::RefCell<Option<Progress>> = std::cell::RefCell::new(None);
    let result = train_lfm::<f32>(
        &cfg,
        &data.train,
        existing,
        |r: &MatchingReport| {
            let mut p = progress.borrow_mut();
            if r.iteration == 0 {
                if let Some(old) = p.take() {
                    old.finish();
                }
                *p = Some(Progress::new(iterations, &format!("block {}", r.block)));
            }
            if let Some(bar) = p.as_ref() {
                bar.update(r.iteration + 1, r.loss);
            }
            if r.iteration.is_multiple_of(log_every) {
                let elapsed = started.elapsed().as_secs_f64();
                run.borrow_mut().record(json!({"kind": "iteration", "block": r.block, "iteration": r.iteration, "loss": r.loss, "elapsed_s": elapsed}));
            }
        },
        |flow: &BlockFlow<f32>, r| {
            if let Some(old) = progress.borrow_mut().take() {
                old.finish();
            }
            let record = json!({
                "kind": "block", "block": r.block, "h": r.h, "loss": r.loss, "w2_moved": r.w2_moved,
                "train_s": r.train_seconds, "push_s": r.push_seconds,
            });
            let path = dir.join(block_file_name(r.block));
            let state = with_state(&meta, record.clone());
            // Metrics before the checkpoint, as for JKO-iFlow (see `BlockHooks::on_block`).
            {
                let mut run = run.borrow_mut();
                run.record(record);
                run.flush_metrics()?;
            }
            save_block(&path, r.block, flow.blocks.last().expect("a finished block"), &state)?;
            report!(
                "block {}: h {:?}, loss {:.4}, W2 moved {:.4}, {:.1} s",
                r.block,
                r.h,
                r.loss,
                r.w2_moved,
                r.train_seconds + r.push_seconds
            );
            Ok(())
        },
    );
    if let Some(old) = progress.borrow_mut().take() {
        old.finish();
    }
    run.borrow_mut().flush_metrics()?;
    let out = result.map_err(|e| match e {
        Error::NonFinite(m) => Error::NonFinite(format!(
            "{m}; the finished blocks' checkpoints are kept in {} (continue with --resume)",
            dir.display()
        )),
        e => e,
    })?;
    Ok(out.flow)
}

/// `--clip-grad`: 0 is off; anything else goes to the trainer's validation.
fn clip_grad(s: &Settings) -> Option<f64> {
    Some(setting!(s, clip_grad)).filter(|&c| c != 0.0)
}
