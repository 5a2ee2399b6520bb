//! The `wasserflow` command line.

use std::process::ExitCode;

use wasserflow::data::Toy;
use wasserflow::flows::{CnfConfig, train_cnf};
use wasserflow::{Result, Rng};

const USAGE: &str = "usage: wasserflow demo [--seed N] [--iters N]

  demo   train a continuous normalizing flow on the 8gaussians toy by maximum
         likelihood (MLP 3 -> 32 -> 32 -> 2 tanh, RK4 3/8 rule with 4 steps,
         exact divergence, batch 512, Adam), then report the test NLL against
         the data's own density";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("demo") => parse_demo(&args[1..]).and_then(|(seed, iters)| demo(seed, iters)),
        Some("-h" | "--help" | "help") | None => {
            println!("{USAGE}");
            Ok(())
        }
        Some(other) => Err(wasserflow::Error::InvalidArgument(format!("unknown command '{other}'\n{USAGE}"))),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn parse_demo(args: &[String]) -> Result<(u64, usize)> {
    let (mut seed, mut iters) = (0u64, 1500usize);
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let value = it.next().ok_or_else(|| wasserflow::Error::InvalidArgument(format!("{a} needs a value")))?;
        let bad = |_| wasserflow::Error::InvalidArgument(format!("{a}: '{value}' is not a non-negative integer"));
        match a.as_str() {
            "--seed" => seed = value.parse().map_err(bad)?,
            "--iters" => iters = value.parse().map_err(bad)?,
            _ => return Err(wasserflow::Error::InvalidArgument(format!("unknown option '{a}'\n{USAGE}"))),
        }
    }
    Ok((seed, iters))
}

fn demo(seed: u64, iters: usize) -> Result<()> {
    let toy = Toy::EightGaussians;
    let cfg = CnfConfig {
        hidden: vec![32, 32],
        step_size: 0.25,
        batch: 512,
        lr: 5e-3,
        iterations: iters,
        seed,
        ..CnfConfig::reference(2)
    };
    println!("training a CNF on {} for {iters} iterations (seed {seed})", toy.name());
    let started = std::time::Instant::now();
    let every = (iters / 10).max(1);
    let model = train_cnf::<f32>(
        &cfg,
        |n, rng| toy.sample(n, rng),
        |r| {
            if r.iteration % every == 0 || r.iteration + 1 == iters {
                println!("iter {:>5}  minibatch NLL {:.4} nats", r.iteration, r.loss);
            }
        },
    )?;
    let train_s = started.elapsed().as_secs_f64();
    let mut rng = Rng::seed(seed ^ 0x7e57);
    let test = toy.sample::<f32>(5000, &mut rng)?;
    let nll = model.nll(
        &test,
        &mut rng,
        wasserflow::flows::EvalOptions { step: Some(0.05), divergence: None, adaptive: None },
    )?;
    let truth = toy.mixture().expect("8gaussians has a closed-form density");
    let floor = -truth.log_prob(&test)?.iter().sum::<f64>() / 5000.0;
    println!(
        "test NLL {nll:.4} nats on 5000 fresh samples (the data's own density: {floor:.4}); trained in {train_s:.1} s"
    );
    Ok(())
}
