//! `wasserflow sample`: noise pulled back through a trained flow, written in
//! the data's units to a .npy or .csv file (atomically).

use std::path::Path;

use super::SampleArgs;
use super::evaluate::{draw_samples, eval_options};
use super::run_dir::TrainedRun;
use crate::data::save_npy;
use crate::io::write_bytes_atomically;
use crate::tensor::Tensor;
use crate::{Result, Rng, invalid_arg};

/// Runs `sample`.
pub fn sample(a: SampleArgs) -> Result<()> {
    if a.n == 0 {
        invalid_arg!("-n must be at least 1");
    }
    let kind = a.out.extension().and_then(|e| e.to_str()).unwrap_or("");
    if kind != "npy" && kind != "csv" {
        invalid_arg!("--out must end in .npy or .csv (got '{}')", a.out.display());
    }
    let run = TrainedRun::load(&a.run)?;
    let opts = eval_options(&run.settings, run.flow.dim);
    let x = draw_samples(&run.flow, a.n, &run.standardizer, opts, &mut Rng::seed(a.seed))?;
    match kind {
        "npy" => save_npy(&a.out, &x)?,
        _ => write_csv(&a.out, &x)?,
    }
    println!("wrote {} samples of dimension {} to {}", a.n, run.flow.dim, a.out.display());
    Ok(())
}

/// Rows of `x` as comma-separated values, written atomically.
pub fn write_csv(path: &Path, x: &Tensor<f32>) -> Result<()> {
    let d = x.dims()[1];
    let values = x.to_vec()?;
    let mut text = String::with_capacity(values.len() * 12);
    for row in values.chunks(d) {
        let cells: Vec<String> = row.iter().map(|v| v.to_string()).collect();
        text.push_str(&cells.join(","));
        text.push('\n');
    }
    write_bytes_atomically(path, text.as_bytes())
}
