//! Exports a CNF for the cross-framework check `benches/torch_cnf_crosscheck.py`:
//! trains the reference CNF (MLP 3→64→64→64→2 tanh on 8gaussians) briefly in
//! f64, so that the field is far from its initialization, then writes
//!
//! * `weights.safetensors`: the parameters, with the field's definition as metadata;
//! * `points.safetensors`: `x`, data points and a few far out in the tails;
//! * `ours.safetensors`: for each step size `h` in 0.1 and 0.05, `log_prob_h{h}`
//!   (log p(x) by RK4 with the 3/8 rule and the exact trace), `z_h{h}` (the
//!   flow map x ↦ z) and `grid_h{h}` (the time grid the solver stepped on).
//!
//! `cargo run --release --example export_cnf -- [--iterations 50] [--seed 0] [--out target/crosscheck]`

use std::path::PathBuf;

use wasserflow::data::Toy;
use wasserflow::flows::{CnfConfig, FieldKind, train_cnf};
use wasserflow::io::safetensors::{save_params, write_safetensors};
use wasserflow::ode::fixed::step_size_grid;
use wasserflow::{Error, Result, Rng, Tensor};

/// Step sizes of the evaluation (the training step and a finer one).
const STEP_SIZES: [f64; 2] = [0.1, 0.05];

/// Points in the tails, where the flow is extrapolating and errors would show first.
const FAR: [[f64; 2]; 8] =
    [[6.0, 0.0], [0.0, -8.0], [10.0, 10.0], [-12.0, 5.0], [20.0, -20.0], [0.0, 0.0], [3.0, -3.0], [-1e-3, 2e-3]];

fn arg<T: std::str::FromStr>(name: &str, default: T) -> Result<T> {
    let args: Vec<String> = std::env::args().collect();
    match args.iter().position(|a| a == name) {
        None => Ok(default),
        Some(i) => args
            .get(i + 1)
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| Error::InvalidArgument(format!("{name} needs a valid value"))),
    }
}

fn main() -> Result<()> {
    let iterations: usize = arg("--iterations", 50)?;
    let seed: u64 = arg("--seed", 0)?;
    let n_data: usize = arg("--points", 512)?;
    let out: PathBuf = arg("--out", PathBuf::from("target/crosscheck"))?;
    std::fs::create_dir_all(&out).map_err(|source| Error::Io { path: out.clone(), source })?;

    let toy = Toy::EightGaussians;
    let cfg = CnfConfig { seed, iterations, ..CnfConfig::reference(2) };
    let mut model = train_cnf::<f64>(
        &cfg,
        |n, rng| toy.sample(n, rng),
        |r, _| {
            if r.iteration % 10 == 0 || r.iteration + 1 == iterations {
                eprintln!("iter {:>4} loss {:.4}", r.iteration, r.loss);
            }
            Ok(())
        },
    )?;

    let hidden: Vec<String> = cfg.hidden.iter().map(|w| w.to_string()).collect();
    let field_name = cfg.field.name();
    let field = match cfg.field {
        FieldKind::TimeMlp => "time-mlp",
        _ => field_name.as_str(),
    };
    let (dim, t_end, step, its, seed_s) = (
        cfg.dim.to_string(),
        cfg.t_end.to_string(),
        cfg.step_size.to_string(),
        iterations.to_string(),
        seed.to_string(),
    );
    let meta = [
        ("field", field),
        ("dim", dim.as_str()),
        ("hidden", &hidden.join(",")),
        ("activation", cfg.act.name()),
        ("t_end", t_end.as_str()),
        ("step_size", step.as_str()),
        ("solver", cfg.solver.name),
        ("divergence", "exact"),
        ("iterations", its.as_str()),
        ("seed", seed_s.as_str()),
        ("data", toy.name()),
    ];
    save_params(&out.join("weights.safetensors"), &model.blocks[0].store, &meta)?;

    let mut rng = Rng::seed(1_000 + seed);
    let data = toy.sample::<f64>(n_data, &mut rng)?;
    let far = Tensor::from_f64s(FAR.as_flattened(), [FAR.len(), 2])?;
    let points = Tensor::concat(&[&data, &far], 0)?;
    write_safetensors(&out.join("points.safetensors"), &[("x", &points)], &[("data", toy.name())])?;

    let block = &mut model.blocks[0];
    let train_grid = block.cnf.grid.clone();
    let mut results: Vec<(String, Tensor<f64>)> = Vec::new();
    for h in STEP_SIZES {
        let grid = step_size_grid(0.0, block.cnf.t_end(), h)?;
        block.cnf.regrid(grid.clone())?;
        let lp = block.cnf.log_prob(&block.store, &points, 2048, &mut rng)?;
        let z = block.cnf.transport(&block.store, &points)?;
        let mean = lp.iter().sum::<f64>() / lp.len() as f64;
        println!("h = {h}: {} steps, mean log p over {} points {mean:.6}", grid.len() - 1, lp.len());
        results.push((format!("log_prob_h{h}"), Tensor::from_vec(lp, [points.dims()[0]])?));
        results.push((format!("z_h{h}"), z));
        results.push((format!("grid_h{h}"), Tensor::from_vec(grid.clone(), [grid.len()])?));
    }
    block.cnf.grid = train_grid;
    let steps: Vec<String> = STEP_SIZES.iter().map(|h| h.to_string()).collect();
    let tensors: Vec<(&str, &Tensor<f64>)> = results.iter().map(|(n, t)| (n.as_str(), t)).collect();
    let ours_meta = [("step_sizes", steps.join(",")), ("solver", cfg.solver.name.to_string())];
    let ours_meta: Vec<(&str, &str)> = ours_meta.iter().map(|(k, v)| (*k, v.as_str())).collect();
    write_safetensors(&out.join("ours.safetensors"), &tensors, &ours_meta)?;
    println!("wrote weights, points and log-likelihoods to {}", out.display());
    Ok(())
}
