//! What the deterministic gradient sum costs across MPI ranks (issue 12):
//! seconds per all-reduce of `P` f32 values, `P` from 10k to 1M (the
//! parameter counts of this crate's velocity fields up to a wide MLP), for
//! the rank-ordered sums of `wasserflow::dist` (gather-all, segment exchange,
//! and the automatic choice the trainers use) and for `MPI_Allreduce`, whose
//! order is the library's.
//!
//! `cargo bench --features mpi --bench mpi_scaling` starts itself under
//! `mpirun -n 2` (set `MPI_BENCH_RANKS` for another count); rank 0 prints a
//! Markdown table. The training-time scaling table comes from
//! `benches/mpi_scaling.sh`.

use std::process::Command;
use std::time::Instant;

use wasserflow::dist::{self, OrderedSum};

const SIZES: [usize; 6] = [10_000, 30_000, 100_000, 300_000, 1_000_000, 3_000_000];

/// Median seconds of `f` over `reps` runs after `warmup` (every rank runs
/// the same count; rank 0's clock is reported).
fn median_seconds(reps: usize, warmup: usize, mut f: impl FnMut()) -> f64 {
    for _ in 0..warmup {
        f();
    }
    let mut t: Vec<f64> = (0..reps)
        .map(|_| {
            dist::world().barrier();
            let start = Instant::now();
            f();
            start.elapsed().as_secs_f64()
        })
        .collect();
    t.sort_by(f64::total_cmp);
    t[reps / 2]
}

fn main() {
    if !dist::mpi::launched_by_mpirun() {
        let ranks = std::env::var("MPI_BENCH_RANKS").unwrap_or_else(|_| "2".into());
        let me = std::env::current_exe().expect("the bench binary");
        let status = Command::new("mpirun")
            .args(["-n", &ranks, "--oversubscribe", "--bind-to", "none"])
            .arg(me)
            .env("OMPI_ALLOW_RUN_AS_ROOT", "1")
            .env("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1")
            .env("RAYON_NUM_THREADS", "1")
            .status()
            .expect("mpirun runs (install openmpi-bin)");
        std::process::exit(status.code().unwrap_or(1));
    }
    let _session = dist::mpi::init().expect("MPI starts");
    let world = dist::world();
    let root = world.rank() == 0;
    if root {
        println!("all-reduce of P f32 values over {} ranks, median seconds per call", world.size());
        println!();
        println!("| P | bytes | gather-all | segment exchange | trainers' choice | MPI_Allreduce | ordered / MPI |");
        println!("|---:|---:|---:|---:|---:|---:|---:|");
    }
    for p in SIZES {
        let reps = if p >= 1_000_000 { 21 } else { 101 };
        // Values that differ per rank, so that the sums are real work.
        let base: Vec<f32> = (0..p).map(|i| ((i * 7 + world.rank() * 13) % 101) as f32 * 1e-3).collect();
        let mut buf = base.clone();
        let mut run = |how: Option<OrderedSum>| {
            median_seconds(reps, 3, || {
                buf.copy_from_slice(&base);
                match how {
                    Some(h) => dist::sum_in_rank_order_with(world, &mut buf, h).expect("sum"),
                    None => dist::sum_in_rank_order(world, &mut buf).expect("sum"),
                }
            })
        };
        let gather_all = run(Some(OrderedSum::GatherAll));
        let segments = run(Some(OrderedSum::SegmentExchange));
        let auto = run(None);
        let native = median_seconds(reps, 3, || {
            buf.copy_from_slice(&base);
            world.native_sum_f32(&mut buf).expect("all-reduce");
        });
        if root {
            println!(
                "| {p} | {:.0} kB | {:.3} ms | {:.3} ms | {:.3} ms | {:.3} ms | {:.2}× |",
                p as f64 * 4e-3,
                gather_all * 1e3,
                segments * 1e3,
                auto * 1e3,
                native * 1e3,
                auto / native
            );
        }
    }
}
