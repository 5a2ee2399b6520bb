//! The memory a training run is expected to need, worked out from its
//! settings before any of it is allocated, and the check `train` makes with
//! it: a run expected to need more than the machine has available
//! (`MemAvailable` in `/proc/meminfo`; other systems are not checked) is
//! refused with the estimate and its parts, unless `--force` is given.
//!
//! The estimate is deliberately simple, a sum of the large terms counted in
//! f32 values (the CLI trains in f32):
//!
//! - runtime: the program itself, 32 MiB;
//! - data: the training and test sets (a file's table also in f64);
//! - particles (jko, lfm): the training particles and their pushed copy;
//! - weights: every block kept, plus the trained block's gradients and two
//!   Adam moments;
//! - tape: one iteration's recorded network evaluations, 2 values per hidden
//!   unit per row per tangent column (an exact divergence carries `1 + dim`
//!   columns, Hutchinson `1 + probes`, flow matching none), times the
//!   evaluations kept for the backward pass (solver stages × steps when
//!   gradients go straight through the solve, as for cnf with
//!   `--backprop direct` and jko; one for flow matching);
//! - diagnostics (jko): the per-block loss terms, evaluated on up to 20,000
//!   particles in chunks of 4096 rows per thread, each chunk on a tape (4
//!   values per hidden unit, measured).
//!
//! Measured against the peak resident size of `train` on 2-D data (one
//! thread; the defaults of jko, cnf and lfm with 5 iterations, and jko with
//! smaller particle sets, batches and widths) it is between 0.9 and 2 times
//! the peak: the right size for deciding "will this fit", which is all it is
//! for. The allocator's caching is not modelled.

use crate::density::Divergence;
use crate::ode::tableau;
use crate::{Result, invalid_arg, setting};

use super::settings::Settings;

/// JKO-iFlow's diagnostic particle count (see `train::jko_config`).
const JKO_DIAGNOSTIC_PARTICLES: f64 = 20_000.0;
/// The program before it allocates for the run (code, thread stacks, buffers).
const RUNTIME_BYTES: f64 = 32.0 * 1024.0 * 1024.0;

/// The expected memory of a run, in parts.
#[derive(Clone, Debug)]
pub struct MemoryEstimate {
    /// `(what, bytes)`, the large terms.
    pub parts: Vec<(&'static str, f64)>,
}

impl MemoryEstimate {
    /// The sum of the parts, in bytes.
    pub fn total(&self) -> f64 {
        self.parts.iter().map(|(_, b)| b).sum()
    }

    /// `data 1.2 MiB, tape 30 MiB, ...`.
    pub fn describe(&self) -> String {
        self.parts.iter().map(|(what, b)| format!("{what} {}", human_bytes(*b))).collect::<Vec<_>>().join(", ")
    }
}

/// Bytes in binary units: `512 B`, `1.5 MiB`, `3.0 TiB`.
pub fn human_bytes(b: f64) -> String {
    if !b.is_finite() {
        return "an unbounded amount".into();
    }
    let units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    let mut v = b;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < units.len() {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 { format!("{v:.0} {}", units[u]) } else { format!("{v:.1} {}", units[u]) }
}

/// The memory a `train` run with settings `s` on `dim`-dimensional data is
/// expected to need; `rows` is the row count of a finite data set (`None`
/// for generators, which draw `n_train` points). Counts are f64 so that
/// absurd settings give huge numbers, never overflow.
pub fn estimate(s: &Settings, dim: usize, rows: Option<usize>) -> Result<MemoryEstimate> {
    const F32: f64 = 4.0;
    let d = dim as f64;
    let n_test = setting!(s, n_test) as f64;
    let n_train = match rows {
        Some(r) => (r as f64 - n_test).max(0.0),
        None => setting!(s, n_train) as f64,
    };
    let table = rows.map_or(0.0, |r| r as f64 * d * 8.0);
    let data = table + (n_train + n_test) * d * F32;

    let method = setting!(s, method);
    let progressive = matches!(method.as_str(), "jko" | "lfm");
    let particles = if progressive { 2.0 * n_train * d * F32 } else { 0.0 };

    let hidden: Vec<f64> = setting!(s, hidden).iter().map(|&h| h as f64).collect();
    let widths: Vec<f64> = std::iter::once(d + 1.0).chain(hidden.iter().copied()).chain([d]).collect();
    let per_block: f64 = widths.windows(2).map(|w| (w[0] + 1.0) * w[1]).sum();
    let blocks = if progressive { setting!(s, blocks) as f64 + 1.0 } else { 1.0 };
    let weights = (blocks + 3.0) * per_block * F32;

    let stages = tableau::by_name(&setting!(s, solver))?.c.len() as f64;
    let tangents = match Divergence::from_name(&setting!(s, divergence))? {
        Divergence::Exact | Divergence::DiscreteJacobian => 1.0 + d,
        Divergence::Hutchinson { probes, .. } => 1.0 + probes as f64,
    };
    let evaluations = match method.as_str() {
        "cnf" if setting!(s, backprop) == "direct" => {
            stages * (setting!(s, t_end) / setting!(s, step_size)).ceil().max(1.0)
        }
        "cnf" => stages,
        "jko" => stages * setting!(s, steps_per_block) as f64,
        "fm" | "lfm" => 1.0,
        other => invalid_arg!("unknown method '{other}' (expected cnf, fm, lfm or jko)"),
    };
    // Flow matching regresses the field itself: no divergence, no tangents.
    let tangents = if matches!(method.as_str(), "fm" | "lfm") { 1.0 } else { tangents };
    let batch = setting!(s, batch) as f64;
    let per_row = hidden.iter().sum::<f64>() * tangents * evaluations * F32;
    let tape = 2.0 * batch * per_row;
    let diagnostics = if method == "jko" {
        let rows = n_train
            .min(JKO_DIAGNOSTIC_PARTICLES)
            .min(crate::flows::jko::PUSH_CHUNK as f64 * rayon::current_num_threads() as f64);
        4.0 * rows * per_row
    } else {
        0.0
    };

    let mut parts = vec![("runtime", RUNTIME_BYTES), ("data", data)];
    if particles > 0.0 {
        parts.push(("particles", particles));
    }
    parts.push(("weights", weights));
    parts.push(("tape", tape));
    if diagnostics > 0.0 {
        parts.push(("diagnostics", diagnostics));
    }
    Ok(MemoryEstimate { parts })
}

/// Bytes the system says are available to a new process (Linux's
/// `MemAvailable`); `None` where that cannot be read.
pub fn available_bytes() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = text.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    kib.checked_mul(1024)
}

/// Refuses a run expected to need more memory than is available, saying how
/// much and why; with `force` it only warns.
pub fn check(est: &MemoryEstimate, available: Option<u64>, force: bool) -> Result<()> {
    let Some(avail) = available else {
        return Ok(());
    };
    let total = est.total();
    if total <= avail as f64 {
        return Ok(());
    }
    let message = format!(
        "this run is expected to need about {} of memory ({}), more than the {} available",
        human_bytes(total),
        est.describe(),
        human_bytes(avail as f64)
    );
    if force {
        eprintln!("warning: {message}; starting anyway (--force)");
        return Ok(());
    }
    invalid_arg!("{message}; lower --n-train, --batch, --hidden or the solver steps, or pass --force to start anyway")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn part(e: &MemoryEstimate, what: &str) -> f64 {
        e.parts.iter().find(|(w, _)| *w == what).map_or(0.0, |(_, b)| *b)
    }

    #[test]
    fn the_tape_follows_batch_width_and_solver_steps() {
        let base = Settings::defaults("cnf").unwrap();
        let e = estimate(&base, 2, None).unwrap();
        // 1024 rows × 192 hidden units × 3 tangent columns × (4 stages × 10 steps) × 4 bytes × 2.
        assert_eq!(part(&e, "tape"), 1024.0 * 192.0 * 3.0 * 40.0 * 4.0 * 2.0);
        let doubled = Settings { batch: Some(2048), ..base.clone() };
        assert_eq!(part(&estimate(&doubled, 2, None).unwrap(), "tape"), 2.0 * part(&e, "tape"));
        let adjoint = Settings { backprop: Some("adjoint".into()), ..base.clone() };
        assert_eq!(part(&estimate(&adjoint, 2, None).unwrap(), "tape"), part(&e, "tape") / 10.0);
        // Flow matching integrates nothing in training and needs no divergence.
        let fm = estimate(&Settings::defaults("fm").unwrap(), 2, None).unwrap();
        assert_eq!(part(&fm, "tape"), 1024.0 * 192.0 * 4.0 * 2.0);
    }

    #[test]
    fn data_counts_a_files_table_and_the_split() {
        let s = Settings { n_test: Some(100), ..Settings::defaults("fm").unwrap() };
        let e = estimate(&s, 10, Some(1000)).unwrap();
        assert_eq!(part(&e, "data"), 1000.0 * 10.0 * 8.0 + 1000.0 * 10.0 * 4.0);
        let huge = Settings { n_train: Some(usize::MAX), ..s };
        assert!(estimate(&huge, 10, None).unwrap().total() > 1e20);
    }

    #[test]
    fn more_than_is_available_is_refused_unless_forced() {
        let e = estimate(&Settings::defaults("jko").unwrap(), 2, None).unwrap();
        let total = e.total() as u64;
        assert!(check(&e, Some(total + 1), false).is_ok());
        assert!(check(&e, None, false).is_ok());
        let msg = check(&e, Some(total / 2), false).unwrap_err().to_string();
        assert!(msg.contains("expected to need about") && msg.contains("--force") && msg.contains("tape"), "{msg}");
        assert!(check(&e, Some(total / 2), true).is_ok());
    }

    #[test]
    fn bytes_in_binary_units() {
        assert_eq!(human_bytes(512.0), "512 B");
        assert_eq!(human_bytes(1536.0), "1.5 KiB");
        assert_eq!(human_bytes(3.0 * 1024f64.powi(4)), "3.0 TiB");
        assert_eq!(human_bytes(f64::INFINITY), "an unbounded amount");
    }
}
