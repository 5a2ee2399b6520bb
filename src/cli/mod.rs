//! The `wasserflow` command line: `train`, `sample`, `eval`, `plot`, `demo`.
//!
//! Every command works on a run directory (see [`run_dir`]). Settings come
//! from the method's defaults, then a TOML file (`--config`), then flags
//! ([`settings`]). Every error is reported as a message and a non-zero exit.

pub mod data;
pub mod demo;
pub mod evaluate;
pub mod figures;
pub mod memory;
pub mod progress;
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
    if let Some(n) = cli.threads {
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
    }?;
    Ok(0)
}
