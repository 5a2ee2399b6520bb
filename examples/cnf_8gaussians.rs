//! The CNF training-quality check of the neural-ODE issue: 8gaussians, MLP
//! 3→64→64→64→2 tanh, RK4 (3/8 rule) step 0.1, exact trace, batch 1024, Adam
//! 1e-3, 1000 iterations; test NLL on 10,000 fresh samples with step 0.05.
//!
//! `cargo run --release --example cnf_8gaussians -- [--seeds 0,1,2] [--iterations 1000] [--backprop direct]`

use std::time::Instant;

use wasserflow::data::Toy;
use wasserflow::density::Backprop;
use wasserflow::flows::{CnfConfig, train_cnf};
use wasserflow::{Result, Rng};

fn arg(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1).cloned())
}

fn main() -> Result<()> {
    let seeds: Vec<u64> =
        arg("--seeds").unwrap_or("0,1,2".into()).split(',').map(|s| s.parse().expect("seed")).collect();
    let iterations: usize = arg("--iterations").map(|s| s.parse().expect("iterations")).unwrap_or(1000);
    let backprop = Backprop::from_name(&arg("--backprop").unwrap_or("direct".into()))?;
    let toy = Toy::EightGaussians;
    let truth = toy.mixture().expect("8gaussians has a closed-form density");
    let mut nlls = Vec::new();
    for &seed in &seeds {
        let cfg = CnfConfig { seed, iterations, backprop, ..CnfConfig::reference(2) };
        let started = Instant::now();
        let model = train_cnf::<f32>(
            &cfg,
            |n, rng| toy.sample(n, rng),
            |r, _| {
                if r.iteration % 100 == 0 || r.iteration + 1 == iterations {
                    eprintln!("seed {seed} iter {:>5} loss {:.4}", r.iteration, r.loss);
                }
                Ok(())
            },
        )?;
        let train_s = started.elapsed().as_secs_f64();
        let mut rng = Rng::seed(1_000_000 + seed);
        let test = toy.sample::<f32>(10_000, &mut rng)?;
        let nll = model.nll(
            &test,
            &mut rng,
            wasserflow::flows::EvalOptions { step: Some(0.05), divergence: None, adaptive: None },
        )?;
        let floor = -truth.log_prob(&test)?.iter().sum::<f64>() / 10_000.0;
        println!(
            "seed {seed}: test NLL {nll:.4} nats (data's own density {floor:.4}); {iterations} iterations in {train_s:.1} s ({:.1} ms/iter)",
            1e3 * train_s / iterations as f64
        );
        nlls.push(nll);
    }
    println!("mean test NLL over {} seeds: {:.4} nats", nlls.len(), nlls.iter().sum::<f64>() / nlls.len() as f64);
    Ok(())
}
