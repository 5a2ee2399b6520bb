//! The `wasserflow` command line.

use std::process::ExitCode;

use wasserflow::autodiff::Tape;
use wasserflow::nn::{Activation, Init, Mlp, ParamStore};
use wasserflow::optim::{Adam, Optimizer, Schedule};
use wasserflow::{Result, Rng, Tensor};

const USAGE: &str = "usage: wasserflow demo [--seed N] [--iters N]

  demo   fit an MLP (2 -> 64 -> 64 -> 1, tanh) to f(x) = sin(2 x1) cos(x2) on
         [-2, 2]^2 with Adam and a cosine schedule, printing the loss";

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
    let (mut seed, mut iters) = (0u64, 2000usize);
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

fn target(x: &[f32]) -> Vec<f32> {
    x.chunks(2).map(|p| (2.0 * p[0]).sin() * p[1].cos()).collect()
}

fn demo(seed: u64, iters: usize) -> Result<()> {
    let mut rng = Rng::seed(seed);
    let mut store = ParamStore::<f32>::new();
    let mlp = Mlp::new(&mut store, "f", &[2, 64, 64, 1], Activation::Tanh, Init::TorchLinear, &mut rng)?;
    let mut opt = Adam::new(3e-3);
    let schedule = Schedule::Cosine { lr: 3e-3, min_lr: 1e-5, total: iters as u64 };
    let test_x = Tensor::<f32>::rand_uniform([4096, 2], -2.0, 2.0, &mut rng)?;
    let test_y = Tensor::from_vec(target(test_x.as_slice()?), [4096, 1])?;
    let started = std::time::Instant::now();
    for it in 0..iters {
        let x = Tensor::<f32>::rand_uniform([512, 2], -2.0, 2.0, &mut rng)?;
        let y = Tensor::from_vec(target(x.as_slice()?), [512, 1])?;
        let tape = Tape::new();
        let p = store.attach(&tape);
        let loss = mlp.forward(&p, tape.constant(x))?.sub(&tape.constant(y))?.square()?.mean_all()?;
        let grads = p.grads(&tape.backward(loss)?)?;
        opt.set_lr(schedule.lr(it as u64));
        opt.step(&mut store, &grads)?;
        if it % (iters / 10).max(1) == 0 || it + 1 == iters {
            let test = mlp.eval(&store, &test_x)?.sub(&test_y)?;
            let mse = test.mul(&test)?.sum_all()?.item()? / 4096.0;
            println!("iter {it:>6}  train mse {:.3e}  test mse {mse:.3e}", loss.value().item()?);
        }
    }
    println!("{iters} Adam steps in {:.2} s", started.elapsed().as_secs_f64());
    Ok(())
}
