//! Embedding a trained model: load the run directory `wasserflow train` (or
//! `demo`) wrote, draw samples, score points, map them to the latent space.
//!
//! ```sh
//! cargo run --release -- demo                        # writes runs/demo
//! cargo run --release --example embed -- runs/demo
//! ```

use wasserflow::io::Model;
use wasserflow::{Result, Tensor};

fn main() -> Result<()> {
    let dir = std::env::args().nth(1).unwrap_or_else(|| "runs/demo".into());
    let model = Model::load(&dir)?;
    println!("{dir}: a {}-block flow on ℝ^{}", model.blocks(), model.dim());
    let x = model.sample(5, 7)?;
    let log_p = model.log_prob(&x)?;
    let z = model.transport(&x)?;
    let back = model.invert(&z)?;
    let (xv, zv, bv) = (x.to_vec()?, z.to_vec()?, back.to_vec()?);
    let d = model.dim();
    for i in 0..5 {
        println!(
            "x = {:>8.4?}  log p(x) = {:>8.4}  z = {:>8.4?}  |T⁻¹(T(x)) − x| = {:.1e}",
            &xv[i * d..(i + 1) * d],
            log_p[i],
            &zv[i * d..(i + 1) * d],
            xv[i * d..(i + 1) * d]
                .iter()
                .zip(&bv[i * d..(i + 1) * d])
                .map(|(a, b)| (a - b).abs())
                .fold(0.0f32, f32::max)
        );
    }
    // A point far from the data has a much lower density.
    let far = Tensor::from_vec(vec![40.0f32; d], [1, d])?;
    println!("log p at (40, …): {:.2}", model.log_prob(&far)?[0]);
    Ok(())
}
