//! A run's settings: one flat set of named values, read from a TOML file and
//! from command-line flags of the same names (flags win), completed with the
//! chosen method's defaults, and written back to the run directory as
//! `config.toml` so that a run can be resumed and re-evaluated.

use std::io::Read;
use std::path::Path;

use clap::Args;
use serde::{Deserialize, Serialize};

use crate::io::LoadLimits;
use crate::{Error, Result};

/// Every setting of a training run. In a TOML file the keys are the flag
/// names with `_` for `-` (`hidden = [64, 64, 64]`, `lr = 1e-3`).
#[derive(Args, Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// Trainer: cnf (maximum likelihood), fm (flow matching), lfm (Local Flow
    /// Matching), jko (JKO-iFlow).
    #[arg(long)]
    pub method: Option<String>,
    /// Dataset: a toy (swissroll, circles, rings, moons, 8gaussians, pinwheel,
    /// 2spirals, checkerboard), rose, tree, png:<path>, digits, mnist, ecg,
    /// a Gaussian mixture (fig10-p, fig10-q), or a .npy/.csv/.idx file.
    #[arg(long)]
    pub data: Option<String>,
    /// Seed of every random choice (data, initialization, minibatches, probes).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Training set size (points drawn once from generative datasets).
    #[arg(long)]
    pub n_train: Option<usize>,
    /// Test set size.
    #[arg(long)]
    pub n_test: Option<usize>,
    /// Standardize the data (per-dimension mean and scale); NLLs are reported
    /// in the original units.
    #[arg(long)]
    pub standardize: Option<bool>,
    /// Velocity field network: mlp (t as an input), concatsquash (FFJORD) or
    /// unet:CxHxW (a convolutional U-Net on C×H×W channels-last images; --hidden
    /// gives its level widths, e.g. unet:1x8x8 with --hidden 32,64 for digits).
    #[arg(long)]
    pub field: Option<String>,
    /// Hidden layer widths, e.g. 64,64,64.
    #[arg(long, value_delimiter = ',')]
    pub hidden: Option<Vec<usize>>,
    /// Activation: tanh, softplus, silu, elu, relu, sigmoid, selu.
    #[arg(long)]
    pub act: Option<String>,
    /// β of softplus(βx)/β.
    #[arg(long)]
    pub softplus_beta: Option<f64>,
    /// Divergence: exact, hutchinson (Rademacher probes), gaussian, or jacobian (log|det| of the
    /// solver's discrete map, d tangents carried through the stages; also inverts that map exactly).
    #[arg(long)]
    pub divergence: Option<String>,
    /// Runge–Kutta method for training: euler, midpoint, heun, rk4, rk4_38.
    #[arg(long)]
    pub solver: Option<String>,
    /// Gradient through the solve (cnf): direct, checkpointed, adjoint.
    #[arg(long)]
    pub backprop: Option<String>,
    /// Integration horizon T (cnf).
    #[arg(long)]
    pub t_end: Option<f64>,
    /// Solver step size in training (cnf).
    #[arg(long)]
    pub step_size: Option<f64>,
    /// Training iterations (per block for progressive methods).
    #[arg(long)]
    pub iterations: Option<usize>,
    /// Minibatch size.
    #[arg(long)]
    pub batch: Option<usize>,
    /// Adam learning rate.
    #[arg(long)]
    pub lr: Option<f64>,
    /// Clip the global gradient norm at this before each Adam step (0: never).
    #[arg(long)]
    pub clip_grad: Option<f64>,
    /// Number of blocks (jko, lfm): the maximum when a stopping rule is set.
    #[arg(long)]
    pub blocks: Option<usize>,
    /// Solver steps per block (jko).
    #[arg(long)]
    pub steps_per_block: Option<usize>,
    /// First block's step size h₀ (jko, lfm).
    #[arg(long)]
    pub h0: Option<f64>,
    /// Growth factor ρ of the step sizes h_k = min(ρ^k h₀, h_max).
    #[arg(long)]
    pub rho: Option<f64>,
    /// Largest step size.
    #[arg(long)]
    pub h_max: Option<f64>,
    /// Stop adding blocks once a block moves the particles less than this in W2 (0: never).
    #[arg(long)]
    pub stop_w2: Option<f64>,
    /// Stop adding blocks at the first block whose W2 speed (W2 moved / h) exceeds the previous block's by more than this factor, and discard it (jko; 0: never)
    #[arg(long)]
    pub max_speed_growth: Option<f64>,
    /// Initialize each block from the previous one.
    #[arg(long)]
    pub warm_start: Option<bool>,
    /// Re-time the blocks to move equal W2 distances, then refine (jko).
    #[arg(long)]
    pub reparam: Option<bool>,
    /// Iterations per block of the refinement after re-timing (jko).
    #[arg(long)]
    pub refine_iterations: Option<usize>,
    /// Flow-matching interpolant: linear or trig.
    #[arg(long)]
    pub interpolant: Option<String>,
    /// Flow-matching time distribution: uniform or beta:<a>,<b>.
    #[arg(long)]
    pub time_dist: Option<String>,
    /// Add a final block that matches to N(0, I) independently (lfm).
    #[arg(long)]
    pub final_free_block: Option<bool>,
    /// Solver step size for likelihoods, samples and figures (0: each block's training grid).
    #[arg(long)]
    pub eval_step: Option<f64>,
    /// Evaluation sample size for MMD, energy distance and W2.
    #[arg(long)]
    pub eval_n: Option<usize>,
    /// Save a checkpoint every this many iterations (single-block methods; 0: only at the end).
    #[arg(long)]
    pub checkpoint_every: Option<usize>,
}

/// Fills every `None` of `$base` from `$over`'s `Some`s, for each field named.
macro_rules! overlay_fields {
    ($base:ident, $over:ident, $($f:ident),* $(,)?) => {
        $( if $over.$f.is_some() { $base.$f = $over.$f.clone(); } )*
    };
}

impl Settings {
    /// Reads a TOML settings file; unknown keys and wrong types are errors that name them.
    /// The file must fit the load limit ([`LoadLimits::from_env`]).
    pub fn from_toml_file(path: &Path) -> Result<Self> {
        let io_err = |source| Error::Io { path: path.to_path_buf(), source };
        let file = std::fs::File::open(path).map_err(io_err)?;
        let len = file.metadata().map_err(io_err)?.len();
        LoadLimits::from_env()?.check_file_len(path, len)?;
        let mut bytes = Vec::new();
        file.take(len).read_to_end(&mut bytes).map_err(io_err)?;
        let text = String::from_utf8(bytes)
            .map_err(|e| Error::Format { path: path.to_path_buf(), message: format!("not UTF-8 text: {e}") })?;
        Self::from_toml_str(&text, path)
    }

    /// Reads settings from TOML text; `path` names it in errors.
    pub fn from_toml_str(text: &str, path: &Path) -> Result<Self> {
        toml::from_str(text).map_err(|e| Error::Format { path: path.to_path_buf(), message: e.to_string() })
    }

    /// The TOML text of these settings.
    pub fn to_toml(&self) -> String {
        toml::to_string(self).expect("settings are plain values")
    }

    /// `self` with every value that `over` sets replaced by `over`'s.
    pub fn overlaid(mut self, over: &Settings) -> Settings {
        overlay_fields!(
            self,
            over,
            method,
            data,
            seed,
            n_train,
            n_test,
            standardize,
            field,
            hidden,
            act,
            softplus_beta,
            divergence,
            solver,
            backprop,
            t_end,
            step_size,
            iterations,
            batch,
            lr,
            clip_grad,
            blocks,
            steps_per_block,
            h0,
            rho,
            h_max,
            stop_w2,
            max_speed_growth,
            warm_start,
            reparam,
            refine_iterations,
            interpolant,
            time_dist,
            final_free_block,
            eval_step,
            eval_n,
            checkpoint_every,
        );
        self
    }

    /// The defaults of `method` (each trainer's reference setting on 2-D data).
    pub fn defaults(method: &str) -> Result<Settings> {
        let common = Settings {
            method: Some(method.to_owned()),
            data: Some("8gaussians".into()),
            seed: Some(0),
            n_train: Some(100_000),
            n_test: Some(10_000),
            standardize: Some(false),
            field: Some("mlp".into()),
            hidden: Some(vec![64, 64, 64]),
            act: Some("tanh".into()),
            softplus_beta: Some(1.0),
            divergence: Some("exact".into()),
            solver: Some("rk4".into()),
            backprop: Some("direct".into()),
            t_end: Some(1.0),
            step_size: Some(0.1),
            iterations: Some(1000),
            batch: Some(1024),
            lr: Some(1e-3),
            clip_grad: Some(0.0),
            blocks: Some(1),
            steps_per_block: Some(3),
            h0: Some(1.0),
            rho: Some(1.0),
            h_max: Some(f64::INFINITY),
            stop_w2: Some(0.0),
            max_speed_growth: Some(1.0),
            warm_start: Some(false),
            reparam: Some(false),
            refine_iterations: Some(0),
            interpolant: Some("linear".into()),
            time_dist: Some("uniform".into()),
            final_free_block: Some(false),
            eval_step: Some(0.02),
            eval_n: Some(2000),
            checkpoint_every: Some(0),
        };
        Ok(match method {
            "cnf" => Settings { solver: Some("rk4_38".into()), checkpoint_every: Some(200), ..common },
            // The flow-matching reference: evaluation grid RK4 (3/8 rule) step 0.05.
            "fm" => {
                Settings { solver: Some("rk4_38".into()), step_size: Some(0.05), checkpoint_every: Some(200), ..common }
            }
            // JKO-iFlow's paper setting for its 2-D examples, trained and
            // evaluated on the log-determinant of the discrete map (RESULTS.md, rose).
            "jko" => Settings {
                divergence: Some("jacobian".into()),
                eval_step: Some(0.0),
                hidden: Some(vec![128, 128, 128]),
                act: Some("softplus".into()),
                softplus_beta: Some(20.0),
                blocks: Some(8),
                h0: Some(0.25),
                rho: Some(1.4),
                batch: Some(2000),
                lr: Some(1e-3),
                iterations: Some(500),
                ..common
            },
            // Local Flow Matching's 2-D schedule: 8 OU blocks, h_n = 0.025·1.25^(n−1), a free block.
            "lfm" => Settings {
                solver: Some("rk4_38".into()),
                step_size: Some(0.05),
                blocks: Some(9),
                h0: Some(0.025),
                rho: Some(1.25),
                final_free_block: Some(true),
                warm_start: Some(true),
                iterations: Some(500),
                ..common
            },
            other => {
                return Err(Error::InvalidArgument(format!("unknown method '{other}' (expected cnf, fm, lfm or jko)")));
            }
        })
    }
}

/// Reads a setting that [`Settings::defaults`] always fills.
#[macro_export]
#[doc(hidden)]
macro_rules! setting {
    ($s:expr, $f:ident) => {
        $s.$f.clone().expect(concat!("defaults fill '", stringify!($f), "'"))
    };
}

/// Settings as the JSON a run records about itself (in `run.json` and every checkpoint).
pub fn to_json<S: Serialize>(settings: &S) -> crate::io::json::Value {
    let text = serde_json::to_string(settings).expect("settings are plain values");
    crate::io::json::Value::parse(&text).expect("serde_json writes valid JSON")
}
