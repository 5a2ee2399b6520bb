//! `wasserflow profile`: runs a few iterations of any training configuration
//! with the per-op profiler on ([`crate::backend::profile`]) and prints
//! where the time goes, worst offenders first, against the machine's
//! measured GEMM and memory-copy ceilings; optionally writes the last
//! iteration as a Chrome trace.

use std::time::Instant;

use super::ProfileArgs;
use super::data::prepare;
use super::run_dir::RunDir;
use super::settings::Settings;
use super::train::{resolve, train_run};
use crate::backend::profile::{self, Peaks};
use crate::io::atomic::write_bytes_atomically;
use crate::tensor::Tensor;
use crate::{Result, Rng, invalid_arg, setting};

pub fn profile_command(a: ProfileArgs) -> Result<()> {
    if a.iterations == 0 {
        invalid_arg!("--iterations must be at least 1");
    }
    let (mut s, _) = resolve(&a.train)?;
    // One block of a progressive method is one trainer's worth of iterations.
    s.iterations = Some(a.warmup + a.iterations);
    s.blocks = Some(1);
    s.reparam = Some(false);
    s.checkpoint_every = Some(0);
    let dir = std::env::temp_dir().join(format!("wasserflow-profile-{}", std::process::id()));
    let result = run_profiled(&s, &dir, &a);
    let _ = std::fs::remove_dir_all(&dir);
    let prof = result?;
    let peaks = measure_peaks();
    println!(
        "{} on {}, {} iterations after {} warm-up, {} thread(s); peaks: GEMM {:.1} GFLOP/s, copy {:.1} GB/s",
        setting!(s, method),
        setting!(s, data),
        prof.iterations,
        a.warmup,
        rayon::current_num_threads(),
        peaks.gflops,
        peaks.gbytes_per_s
    );
    print!("{}", prof.table(peaks));
    if let Some(path) = &a.trace {
        write_bytes_atomically(path, prof.chrome_trace().as_bytes())?;
        println!("trace of the last iteration: {} (open in Perfetto or chrome://tracing)", path.display());
    }
    Ok(())
}

fn run_profiled(s: &Settings, dir: &std::path::Path, a: &ProfileArgs) -> Result<profile::Profile> {
    let mut run = RunDir::create(dir)?;
    run.write_settings(s)?;
    let data = prepare(s)?;
    profile::enable_for(a.warmup as u64, a.iterations as u64);
    let trained = train_run(s, &data, &mut run, false);
    let prof = profile::disable();
    trained?;
    Ok(prof)
}

/// The ceilings the table compares with: a 512³ f32 product on all threads
/// (GFLOP/s) and a 64 MiB copy (bytes read plus written per second).
pub fn measure_peaks() -> Peaks {
    let mut rng = Rng::seed(0);
    let (a, b) = match (Tensor::<f32>::randn([512, 512], &mut rng), Tensor::<f32>::randn([512, 512], &mut rng)) {
        (Ok(a), Ok(b)) => (a, b),
        _ => return Peaks { gflops: f64::NAN, gbytes_per_s: f64::NAN },
    };
    let best = |f: &mut dyn FnMut()| {
        let mut best = f64::INFINITY;
        for _ in 0..8 {
            let t = Instant::now();
            f();
            best = best.min(t.elapsed().as_secs_f64());
        }
        best
    };
    let gemm = best(&mut || {
        std::hint::black_box(a.matmul(&b).ok());
    });
    let src = vec![1.0f32; 16 << 20];
    let mut dst = vec![0.0f32; 16 << 20];
    let copy = best(&mut || {
        dst.copy_from_slice(std::hint::black_box(&src));
        std::hint::black_box(&dst);
    });
    Peaks { gflops: 2.0 * 512f64.powi(3) / gemm / 1e9, gbytes_per_s: 2.0 * (64 << 20) as f64 / copy / 1e9 }
}
