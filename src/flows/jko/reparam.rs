//! Time reparametrization of a trained JKO flow: re-time the blocks so that
//! each moves about the same Wasserstein distance, then refine (retrain) them
//! on the new grid.
//!
//! JKO-iFlow (Xu, Cheng & Xie 2023, "adaptive time reparametrization") asks
//! for a grid on which the blocks' W2 movements are roughly equal, but leaves
//! the construction open. What this module does, exactly:
//!
//! 1. After the initial pass of `N` blocks with steps `h_1..h_N`, take the
//!    per-block movements `w_k = sqrt(E|x_k − x_{k−1}|²)` over the training
//!    particles, the cumulative times `t_k = h_1 + … + h_k` and the cumulative
//!    arc lengths `S_k = w_1 + … + w_k` (`t_0 = S_0 = 0`).
//! 2. Take `S(t)` as the piecewise-linear curve through the points
//!    `(t_k, S_k)` and place the new block boundaries where it reaches equal
//!    fractions of the total arc length:
//!    `t'_k = min{t : S(t) = k·S_N/N}`, `k = 1..N`; so `t'_N = t_N` (the total
//!    time `Σh` is kept) and the number of blocks is kept. The new steps are
//!    `h'_k = t'_k − t'_{k−1}`. If the flow's arc length were exactly this
//!    curve, each new block would move `S_N/N`; it is known only at the old
//!    grid points (and a JKO step moves less than the gradient flow over the
//!    same time), so the equalization is approximate. One round is done.
//! 3. Refinement: blocks are rebuilt on the new grid, block `k` warm-started
//!    from the old block whose time interval `(t_{j−1}, t_j]` contains the
//!    midpoint of `(t'_{k−1}, t'_k]` (its parameters are copied unchanged;
//!    only the integration interval changes), and retrained with loss (24)
//!    and step `h'_k` for [`ReparamConfig::iterations`] iterations, in order,
//!    each on the particles pushed through the refined blocks before it.
//!
//! If the flow did not move at all (`S_N = 0`) the grid is kept.

use crate::{Error, Result, invalid_arg};

/// Settings of the refinement that follows the re-timing.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ReparamConfig {
    /// Training iterations per refined block.
    pub iterations: usize,
    /// Learning rate of the refinement (`None`: the configuration's).
    pub lr: Option<f64>,
}

/// The re-timing of a flow: its steps and movements before, and the new steps.
#[derive(Clone, Debug, PartialEq)]
pub struct Retiming {
    pub old_steps: Vec<f64>,
    pub movements: Vec<f64>,
    pub new_steps: Vec<f64>,
    /// For each new block, the old block (0-based) it is warm-started from.
    pub warm_from: Vec<usize>,
}

/// The steps `h'` on which the arc-length curve through `(t_k, S_k)` is cut
/// into equal pieces (see the module documentation), and the warm-start
/// source of each new block.
pub fn equal_movement_steps(steps: &[f64], movements: &[f64]) -> Result<Retiming> {
    if steps.is_empty() || steps.len() != movements.len() {
        invalid_arg!("re-timing needs one movement per block ({} steps, {} movements)", steps.len(), movements.len());
    }
    if steps.iter().any(|h| !(h.is_finite() && *h > 0.0)) {
        invalid_arg!("re-timing needs finite positive steps, got {steps:?}");
    }
    if movements.iter().any(|w| !(w.is_finite() && *w >= 0.0)) {
        return Err(Error::NonFinite(format!("re-timing needs finite movements, got {movements:?}")));
    }
    let n = steps.len();
    let times: Vec<f64> = prefix_sums(steps);
    let arcs: Vec<f64> = prefix_sums(movements);
    let total_arc = arcs[n];
    let total_time = times[n];
    let new_times: Vec<f64> = if total_arc > 0.0 {
        (0..=n)
            .map(|k| match k {
                0 => 0.0,
                k if k == n => total_time,
                k => time_at_arc(&times, &arcs, total_arc * k as f64 / n as f64),
            })
            .collect()
    } else {
        times.clone()
    };
    let new_steps: Vec<f64> = new_times.windows(2).map(|w| w[1] - w[0]).collect();
    if new_steps.iter().any(|h| h.is_nan() || *h <= 0.0) {
        // Only reachable through rounding with extremely uneven movements.
        invalid_arg!("re-timing produced a non-positive step from steps {steps:?} and movements {movements:?}");
    }
    let warm_from = new_times
        .windows(2)
        .map(|w| {
            let mid = 0.5 * (w[0] + w[1]);
            (1..=n).find(|&j| mid <= times[j]).unwrap_or(n) - 1
        })
        .collect();
    Ok(Retiming { old_steps: steps.to_vec(), movements: movements.to_vec(), new_steps, warm_from })
}

fn prefix_sums(v: &[f64]) -> Vec<f64> {
    let mut out = Vec::with_capacity(v.len() + 1);
    out.push(0.0);
    for x in v {
        out.push(out.last().copied().unwrap_or(0.0) + x);
    }
    out
}

/// The first `t` where the piecewise-linear `S(t)` through `(times, arcs)`
/// reaches `target` (`0 < target < S_N`).
fn time_at_arc(times: &[f64], arcs: &[f64], target: f64) -> f64 {
    for j in 1..times.len() {
        if arcs[j] >= target && arcs[j] > arcs[j - 1] {
            let frac = ((target - arcs[j - 1]) / (arcs[j] - arcs[j - 1])).clamp(0.0, 1.0);
            return times[j - 1] + frac * (times[j] - times[j - 1]);
        }
    }
    times[times.len() - 1]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_movements_keep_the_grid() {
        let r = equal_movement_steps(&[0.5, 0.5, 0.5], &[1.0, 1.0, 1.0]).unwrap();
        for (a, b) in r.new_steps.iter().zip([0.5, 0.5, 0.5]) {
            assert!((a - b).abs() < 1e-12);
        }
        assert_eq!(r.warm_from, vec![0, 1, 2]);
    }

    #[test]
    fn a_block_that_moves_twice_as_far_is_split_in_time() {
        // S(t): slope 2 on [0, 1], slope 1 on [1, 2]; total arc 3, two blocks
        // of 1.5 each: the first ends at t = 0.75.
        let r = equal_movement_steps(&[1.0, 1.0], &[2.0, 1.0]).unwrap();
        assert!((r.new_steps[0] - 0.75).abs() < 1e-12, "{:?}", r.new_steps);
        assert!((r.new_steps[1] - 1.25).abs() < 1e-12, "{:?}", r.new_steps);
        assert_eq!(r.warm_from, vec![0, 1]);
    }

    #[test]
    fn a_flow_that_does_not_move_keeps_its_grid() {
        let r = equal_movement_steps(&[0.25, 0.35], &[0.0, 0.0]).unwrap();
        assert_eq!(r.new_steps, vec![0.25, 0.35]);
    }

    #[test]
    fn bad_movements_are_refused() {
        assert!(equal_movement_steps(&[1.0], &[f64::NAN]).is_err());
        assert!(equal_movement_steps(&[1.0, 1.0], &[1.0]).is_err());
    }
}
