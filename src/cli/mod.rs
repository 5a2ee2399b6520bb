//! The `wasserflow` command line: `train`, `sample`, `eval`, `plot`, `demo`,
//! `profile`, flow-DRO's `classifier`, `dro`, `dro-sample`, `ot` (an OT-flow
//! between two sample sets) and `ratio` (density ratios along it).
//!
//! Every command works on a run directory (see [`run_dir`]). Settings come
//! from the method's defaults, then a TOML file (`--config`), then flags
//! ([`settings`]). Every error is reported as a message and a non-zero exit.

pub mod data;
pub mod demo;
pub mod dro;
pub mod evaluate;
pub mod figures;
pub mod images;
pub mod memory;
pub mod ot;
pub mod profile;
pub mod progress;
pub mod ratio;
pub mod run_dir;
pub mod sample;
pub mod settings;
pub mod train;

use std::ffi::OsString;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::{Error, Result};

/// Flow-based generative models as iterative algorithms in probability space.
#[derive(Parser, Debug)]
#[command(name = "wasserflow", version, max_term_width = 100)]
pub struct Cli {
    /// Worker threads (default: one per core). Results are reproducible for a
    /// given seed and thread count.
    #[arg(long, global = true)]
    pub threads: Option<usize>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Train a flow and write its run directory: config, checkpoints, metrics, figures.
    #[command(args_override_self = true)]
    Train(Box<TrainArgs>),
    /// Draw samples from a trained flow into a .npy or .csv file.
    Sample(SampleArgs),
    /// Evaluate a trained flow: test NLL, MMD, energy distance, W2, KL, inversion error.
    Eval(EvalArgs),
    /// Redraw a run's figures.
    Plot(PlotArgs),
    /// Train a small model on checkerboard with built-in settings, write its figures, report test NLL.
    Demo(DemoArgs),
    /// Learn an OT-flow between two sample sets and the log-ratio estimators along it.
    #[command(args_override_self = true)]
    Ot(Box<ot::OtArgs>),
    /// Estimate log q/p at given points with an `ot` run's ratio estimators.
    Ratio(ratio::RatioArgs),
    /// Train a classifier on labeled data (the risk of `dro --risk classifier:PATH`).
    #[command(after_help = "Prints train and test accuracy and writes one .safetensors file: the weights, \
        the network, its input normalization and the training record.")]
    Classifier(dro::ClassifierArgs),
    /// Flow-DRO: worst-case transport of a reference sample against a risk, one map per γ.
    #[command(after_help = "Each map F maximizes E R(F(X)) − E|X − F(X)|²/2γ (tutorial eq. 29); it is \
        evaluated on held-out points beside PGD with the same mean ℓ2 budget. The velocity field sees \
        positions only: every point keeps the label it started with.\n\n\
        Writes to --out: summary.json (per γ: risk, accuracy, W2, mean ℓ2, objective, PGD), \
        metrics.jsonl, reference.npy and labels.npy (the evaluation points), gamma-<γ>/map/ (the map's \
        blocks), gamma-<γ>/transported.npy and pgd.npy, figures/before_after_gamma-<γ>.png (2-D: \
        points over the classifier's decision regions; images: a grid).")]
    Dro(Box<dro::DroArgs>),
    /// Draw new worst-case samples: a reference flow's samples pushed through a `dro` map.
    DroSample(dro::DroSampleArgs),
    /// Time a few training iterations op by op: where the time goes, worst first.
    #[command(args_override_self = true)]
    Profile(Box<ProfileArgs>),
    /// Train a U-Net velocity field (FM or LFM) on digits, MNIST or ECG
    /// windows and evaluate it: bits/dim (images) or NLL per window (ECG),
    /// sample-quality metrics and figures, written to --out/summary.json.
    Images(Box<images::ImagesArgs>),
}

#[derive(Args, Debug)]
pub struct ProfileArgs {
    /// Iterations to profile (after the warm-up).
    #[arg(long = "profile-iterations", default_value_t = 10)]
    pub iterations: usize,
    /// Iterations run first and not profiled.
    #[arg(long, default_value_t = 3)]
    pub warmup: usize,
    /// Write the last profiled iteration as a Chrome trace-event JSON file.
    #[arg(long)]
    pub trace: Option<PathBuf>,
    /// The training configuration, as for `train` (its --iterations and --blocks are replaced).
    #[command(flatten)]
    pub train: TrainArgs,
}

#[derive(Args, Debug)]
pub struct TrainArgs {
    /// TOML file of settings (keys as the flags below, with _ for -).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Run directory (default: runs/<data>-<method>).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Continue the run in --out from its last complete block, with its saved settings.
    #[arg(long)]
    pub resume: bool,
    /// Skip the figures at the end.
    #[arg(long)]
    pub no_figures: bool,
    /// Start even when the run is expected to need more memory than the machine has available.
    #[arg(long)]
    pub force: bool,
    #[command(flatten)]
    pub settings: settings::Settings,
}

#[derive(Args, Debug)]
pub struct SampleArgs {
    /// Run directory of a trained flow.
    pub run: PathBuf,
    /// Number of samples.
    #[arg(short, long, default_value_t = 1000)]
    pub n: usize,
    /// Output file (.npy or .csv).
    #[arg(short, long)]
    pub out: PathBuf,
    /// Seed of the noise pulled back through the flow.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}

#[derive(Args, Debug)]
pub struct EvalArgs {
    /// Run directory of a trained flow.
    pub run: PathBuf,
    /// Print one JSON object instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Evaluate on this dataset instead of the run's test split.
    #[arg(long)]
    pub data: Option<String>,
    /// Number of test points (default: the run's n_test).
    #[arg(long)]
    pub n: Option<usize>,
    /// Seed of the evaluation's random choices (samples, probes, projections).
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Solver step of the evaluation (default: the run's; 0 keeps the training grid).
    #[arg(long)]
    pub eval_step: Option<f64>,
    /// Log-determinant of the evaluation, up to 16 dimensions: exact (the
    /// divergence integral) or jacobian (the discrete map's; default: the run's).
    #[arg(long)]
    pub divergence: Option<String>,
}

#[derive(Args, Debug)]
pub struct PlotArgs {
    /// Run directory of a trained flow.
    pub run: PathBuf,
    /// Seed of the samples drawn for the figures.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}

#[derive(Args, Debug)]
pub struct DemoArgs {
    /// Run directory.
    #[arg(long, default_value = "runs/demo")]
    pub out: PathBuf,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}

/// Parses `args` (with the program name first) and runs the command.
/// `Ok(code)` is the process exit code for help/usage output.
pub fn run(args: impl IntoIterator<Item = OsString>) -> Result<i32> {
    let cli = match Cli::try_parse_from(args) {
        Ok(c) => c,
        Err(e) => {
            let code = e.exit_code();
            let _ = e.print();
            return Ok(code);
        }
    };
    let world = crate::dist::world();
    if world.size() > 1 && !matches!(cli.command, Command::Train(_)) {
        return Err(Error::InvalidArgument(format!(
            "only `train` runs across MPI ranks; run this command as a single process (not under mpirun -n {})",
            world.size()
        )));
    }
    // Ranks sharing a machine share its cores: by default each takes its share.
    let threads = cli.threads.or_else(|| {
        let ranks = world.ranks_on_this_machine();
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        (ranks > 1 && std::env::var_os("RAYON_NUM_THREADS").is_none()).then(|| (cores / ranks).max(1))
    });
    if let Some(n) = threads {
        if n == 0 {
            return Err(Error::InvalidArgument("--threads must be at least 1".into()));
        }
        rayon::ThreadPoolBuilder::new()
            .num_threads(n)
            .build_global()
            .map_err(|e| Error::InvalidArgument(format!("cannot start {n} threads: {e}")))?;
    }
    match cli.command {
        Command::Train(a) => train::train(*a),
        Command::Sample(a) => sample::sample(a),
        Command::Eval(a) => evaluate::eval_command(a),
        Command::Plot(a) => figures::plot_command(a),
        Command::Demo(a) => demo::demo(a),
        Command::Classifier(a) => dro::classifier_command(a),
        Command::Dro(a) => dro::dro_command(*a),
        Command::DroSample(a) => dro::dro_sample_command(a),
        Command::Profile(a) => profile::profile_command(*a),
        Command::Ot(a) => ot::ot_command(*a),
        Command::Ratio(a) => ratio::ratio_command(a),
        Command::Images(a) => images::images_command(*a),
    }?;
    Ok(0)
}
