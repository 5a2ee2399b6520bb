//! The figures of a run, in `figures/`: for 2-D data the samples beside the
//! data, the model density from the exact log-likelihood on a grid, particle
//! trajectories through every block forward (data → noise) and in reverse
//! (noise → data); image grids for image data; ECG traces for the ECG
//! windows; the loss curves and the per-block diagnostics of every run.

use std::path::PathBuf;

use crate::io::json::Value;

use super::PlotArgs;
use super::data::{RunData, prepare, subsample};
use super::evaluate::{draw_samples, eval_options};
use super::run_dir::{RunDir, TrainedRun};
use super::settings::Settings;
use crate::flows::{BlockFlow, EvalOptions};
use crate::plot::{Extent, Style, block_metrics, density_heatmap, ecg_traces, grid_points, image_grid, loss_curves};
use crate::plot::{samples_beside_data, trajectory_panels};
use crate::tensor::Tensor;
use crate::{Result, Rng, setting};

/// Points shown in the sample and data panels.
const SCATTER_POINTS: usize = 20_000;
/// Particles whose trajectories are drawn.
const TRAJECTORY_POINTS: usize = 300;
/// Cells per side of the density grid.
const DENSITY_GRID: usize = 120;
/// ECG sampling rate of the MIT-BIH excerpt.
const ECG_HZ: f64 = 360.0;

fn pairs(x: &Tensor<f32>) -> Result<Vec<[f64; 2]>> {
    Ok(x.to_f64_vec()?.chunks(2).map(|c| [c[0], c[1]]).collect())
}

fn rows(x: &Tensor<f32>) -> Result<Vec<Vec<f64>>> {
    let d = x.dims()[1];
    Ok(x.to_f64_vec()?.chunks(d).map(<[f64]>::to_vec).collect())
}

/// Draws every figure that fits the run's data; returns the files written.
pub fn draw_all(run: &RunDir, s: &Settings, flow: &BlockFlow<f32>, data: &RunData, seed: u64) -> Result<Vec<PathBuf>> {
    let dir = run.figures();
    let mut written = Vec::new();
    let mut rng = Rng::seed(seed ^ 0xf16);
    let opts = eval_options(s, flow.dim);
    let method = setting!(s, method);
    let st = &data.standardizer;

    if flow.dim == 2 {
        let reference = subsample(&data.test, SCATTER_POINTS, &mut rng)?;
        let samples = draw_samples(flow, reference.dims()[0], st, opts, &mut rng)?;
        let (data_pts, sample_pts) = (pairs(&reference)?, pairs(&samples)?);
        let extent = Extent::around(&[&data_pts])?;
        let path = dir.join("samples.png");
        samples_beside_data(
            &path,
            &data_pts,
            &sample_pts,
            extent,
            ["data", &format!("{method} samples")],
            Style::Histogram { bins: 160 },
        )?;
        written.push(path);

        let grid = grid_points(DENSITY_GRID, DENSITY_GRID, extent);
        let flat: Vec<f32> = grid.iter().flat_map(|p| [p[0] as f32, p[1] as f32]).collect();
        let mut x = Tensor::from_vec(flat, [grid.len(), 2])?;
        let log_det = st.as_ref().map_or(0.0, |s| s.log_det());
        if let Some(st) = st {
            x = st.apply(&x)?;
        }
        let lp: Vec<f64> = flow.log_prob(&x, 4096, &mut rng, opts)?.iter().map(|l| l - log_det).collect();
        let path = dir.join("density.png");
        density_heatmap(&path, &lp, DENSITY_GRID, DENSITY_GRID, extent, &format!("{method} density"), true)?;
        written.push(path);

        written.extend(draw_trajectories(run, flow, data, opts, &mut rng)?);
    }
    if let Some((h, w)) = data.source.image_shape() {
        let samples = rows(&draw_samples(flow, 64, st, opts, &mut rng)?)?;
        let reference = rows(&subsample(&data.test, 64, &mut rng)?)?;
        let range = value_range(&reference);
        for (name, set) in [("samples_images.png", &samples), ("data_images.png", &reference)] {
            let path = dir.join(name);
            let title = if name.starts_with("samples") { format!("{method} samples") } else { "data".into() };
            image_grid(&path, set, h, w, 8, &title, Some(range))?;
            written.push(path);
        }
    }
    if data.source.name().starts_with("ecg") {
        let generated = rows(&draw_samples(flow, 4, st, opts, &mut rng)?)?;
        let real = rows(&subsample(&data.test, 4, &mut rng)?)?;
        let path = dir.join("ecg.png");
        ecg_traces(&path, &real, &generated, ECG_HZ)?;
        written.push(path);
    }
    written.extend(draw_training_curves(run)?);
    Ok(written)
}

fn value_range(images: &[Vec<f64>]) -> (f64, f64) {
    let lo = images.iter().flatten().copied().fold(f64::INFINITY, f64::min);
    let hi = images.iter().flatten().copied().fold(f64::NEG_INFINITY, f64::max);
    if hi > lo { (lo, hi) } else { (lo, lo + 1.0) }
}

/// Trajectories of test points forward through every block, and of noise
/// backward; shown in the flow's (standardized) coordinates.
fn draw_trajectories(
    run: &RunDir,
    flow: &BlockFlow<f32>,
    data: &RunData,
    opts: EvalOptions,
    rng: &mut Rng,
) -> Result<Vec<PathBuf>> {
    let mut x = subsample(&data.test, TRAJECTORY_POINTS, rng)?;
    if let Some(st) = &data.standardizer {
        x = st.apply(&x)?;
    }
    let z = Tensor::randn([TRAJECTORY_POINTS, flow.dim], rng)?;
    let mut written = Vec::new();
    for (name, start, reverse) in [("trajectories_forward.png", &x, false), ("trajectories_reverse.png", &z, true)] {
        let per_block = flow.trajectories(start, reverse, opts)?;
        let snapshots: Vec<Vec<Vec<[f64; 2]>>> = per_block
            .iter()
            .map(|states| states.iter().map(pairs).collect::<Result<Vec<_>>>())
            .collect::<Result<_>>()?;
        let all: Vec<[f64; 2]> = snapshots.iter().flatten().flatten().copied().collect();
        let extent = Extent::around(&[&all])?;
        let n = flow.len();
        let titles: Vec<String> = (0..n)
            .map(|i| {
                let block = if reverse { n - i } else { i + 1 };
                format!("block {block} {}", if reverse { "reverse" } else { "forward" })
            })
            .collect();
        let titles: Vec<&str> = titles.iter().map(String::as_str).collect();
        let path = run.figures().join(name);
        trajectory_panels(&path, &snapshots, &titles, extent)?;
        written.push(path);
    }
    Ok(written)
}

/// Loss per iteration of every block, and per-block diagnostics, from `metrics.jsonl`.
fn draw_training_curves(run: &RunDir) -> Result<Vec<PathBuf>> {
    let records = run.read_metrics()?;
    let kind = |v: &Value, k: &str| v.get("kind").and_then(Value::as_str) == Some(k);
    let mut series: Vec<(String, Vec<f64>)> = Vec::new();
    for r in records.iter().filter(|r| kind(r, "iteration")) {
        let block = r.get("block").and_then(Value::as_u64).unwrap_or(1);
        let refine = r.get("phase").and_then(Value::as_str) == Some("refine");
        let name = format!("{}block {block}", if refine { "refined " } else { "" });
        if series.last().is_none_or(|(n, _)| *n != name) {
            series.push((name, Vec::new()));
        }
        if let Some(l) = r.get("loss").and_then(Value::as_f64) {
            series.last_mut().expect("pushed").1.push(l);
        }
    }
    let mut written = Vec::new();
    if !series.is_empty() {
        let refs: Vec<(&str, &[f64])> = series.iter().map(|(n, v)| (n.as_str(), v.as_slice())).collect();
        let path = run.figures().join("loss.png");
        loss_curves(&path, &refs, "training loss", false, 5)?;
        written.push(path);
    }
    // The final pass's blocks: the refinement's when the run was re-timed.
    let refined = records.iter().any(|r| kind(r, "block") && r.get("phase").and_then(Value::as_str) == Some("refine"));
    let blocks: Vec<&Value> = records
        .iter()
        .filter(|r| kind(r, "block") && (!refined || r.get("phase").and_then(Value::as_str) == Some("refine")))
        .collect();
    let mut per_block = Vec::new();
    for key in ["w2_moved", "kl_change", "grad_norm", "nll"] {
        let values: Vec<f64> = blocks.iter().filter_map(|r| r.get(key).and_then(Value::as_f64)).collect();
        if values.len() == blocks.len() && !values.is_empty() {
            per_block.push((key.to_owned(), values));
        }
    }
    if !per_block.is_empty() && blocks.len() > 1 {
        let path = run.figures().join("blocks.png");
        block_metrics(&path, &per_block, "per-block diagnostics")?;
        written.push(path);
    }
    Ok(written)
}

/// Runs `plot`.
pub fn plot_command(a: PlotArgs) -> Result<()> {
    let run = TrainedRun::load(&a.run)?;
    let data = prepare(&run.settings)?;
    let written = draw_all(&run.dir, &run.settings, &run.flow, &data, a.seed)?;
    for p in written {
        println!("{}", p.display());
    }
    Ok(())
}
