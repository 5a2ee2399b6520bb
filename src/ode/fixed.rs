//! Fixed-grid explicit Runge–Kutta integration, generic over the state: the
//! same code runs untracked on tensors or records every stage on a tape.
//!
//! Grids follow torchdiffeq's fixed-grid solvers: the step from `tᵢ` to `tᵢ₊₁`
//! has size `tᵢ₊₁ − tᵢ` (so rounding in the grid is not accumulated), and a
//! stage with `c = 1` is evaluated at `tᵢ₊₁` itself rather than at `tᵢ + h`.
//! Reverse time (`t1 < t0`) is a grid that decreases: the steps are negative.

use super::state::OdeState;
use super::tableau::Tableau;
use crate::{Result, invalid_arg};

/// What a solve cost.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SolverStats {
    /// Accepted steps.
    pub steps: usize,
    /// Rejected step attempts (always 0 on a fixed grid).
    pub rejected: usize,
    /// Evaluations of the right-hand side `f`.
    pub nfev: usize,
}

/// States at every point of a grid.
#[derive(Debug, Clone)]
pub struct Trajectory<S> {
    /// The grid, from `t0` to `t1`.
    pub times: Vec<f64>,
    /// `states[i]` is the state at `times[i]`; `states[0]` is the initial state.
    pub states: Vec<S>,
}

/// Grids longer than this are refused rather than allocated.
pub const MAX_GRID_STEPS: usize = 100_000_000;

/// `steps` equal steps from `t0` to `t1`: `t0 + i·(t1 − t0)/steps`, with the
/// last point exactly `t1`.
pub fn uniform_grid(t0: f64, t1: f64, steps: usize) -> Result<Vec<f64>> {
    check_interval(t0, t1)?;
    if steps == 0 {
        invalid_arg!("fixed-grid integration needs at least one step, got steps = 0");
    }
    if steps > MAX_GRID_STEPS {
        invalid_arg!("{steps} steps exceed the limit of {MAX_GRID_STEPS}");
    }
    let h = (t1 - t0) / steps as f64;
    let mut grid: Vec<f64> = (0..steps).map(|i| t0 + i as f64 * h).collect();
    grid.push(t1);
    Ok(grid)
}

/// Steps of size `h` (> 0, in the direction from `t0` to `t1`) with a shorter
/// last step to land on `t1`: `t0, t0 ± h, t0 ± 2h, ..., t1`, as torchdiffeq's
/// grid for the `step_size` option. The number of steps is
/// `ceil(|t1 − t0|/h − 1e-9)`; the tolerance differs from torchdiffeq only
/// where `|t1 − t0|/h` is an integer up to rounding, where torchdiffeq may add
/// a step of length ~1e-16 (or of the wrong sign) and this grid does not.
pub fn step_size_grid(t0: f64, t1: f64, h: f64) -> Result<Vec<f64>> {
    check_interval(t0, t1)?;
    if !(h.is_finite() && h > 0.0) {
        invalid_arg!("step size must be finite and positive (its sign comes from t0 → t1), got {h}");
    }
    let ratio = (t1 - t0).abs() / h;
    let n = (ratio - 1e-9).ceil().max(1.0);
    if n > MAX_GRID_STEPS as f64 {
        invalid_arg!("step size {h} over [{t0}, {t1}] needs {n} steps, more than the limit of {MAX_GRID_STEPS}");
    }
    let n = n as usize;
    let hs = if t1 > t0 { h } else { -h };
    let mut grid: Vec<f64> = (0..n).map(|i| t0 + i as f64 * hs).collect();
    grid.push(t1);
    Ok(grid)
}

fn check_interval(t0: f64, t1: f64) -> Result<()> {
    if !(t0.is_finite() && t1.is_finite()) {
        invalid_arg!("integration interval [{t0}, {t1}] is not finite");
    }
    if t0 == t1 {
        invalid_arg!("integration interval is empty (t0 = t1 = {t0})");
    }
    Ok(())
}

fn check_grid(grid: &[f64]) -> Result<()> {
    if grid.len() < 2 {
        invalid_arg!("a time grid needs at least 2 points, got {}", grid.len());
    }
    if let Some(t) = grid.iter().find(|t| !t.is_finite()) {
        invalid_arg!("time grid holds the non-finite time {t}");
    }
    let up = grid[1] > grid[0];
    if let Some(w) = grid.windows(2).find(|w| if up { w[1] <= w[0] } else { w[1] >= w[0] }) {
        invalid_arg!("time grid must be strictly monotone, but {} is followed by {}", w[0], w[1]);
    }
    Ok(())
}

/// Number of leading stages that the weights `w` use (stages after the last
/// nonzero weight need not be evaluated).
pub(crate) fn stages_used(w: &[f64]) -> usize {
    w.iter().rposition(|&x| x != 0.0).map_or(1, |i| i + 1)
}

/// The first `n` stage derivatives of one step of size `h = t_end − t` from
/// `y`; `k0 = f(t, y)` when the caller already has it. Also returns the state
/// the last evaluated stage was evaluated at (for FSAL methods, the new solution).
#[allow(clippy::too_many_arguments)]
pub(crate) fn stages<S: OdeState, F: FnMut(f64, &S) -> Result<S>>(
    f: &mut F,
    t: f64,
    t_end: f64,
    y: &S,
    h: f64,
    k0: Option<S>,
    tab: &Tableau,
    n: usize,
    nfev: &mut usize,
) -> Result<(Vec<S>, Option<S>)> {
    let mut ks: Vec<S> = Vec::with_capacity(n);
    ks.push(match k0 {
        Some(k) => k,
        None => {
            *nfev += 1;
            f(t, y)?
        }
    });
    let mut last = None;
    for i in 1..n {
        let terms: Vec<(f64, &S)> = tab.a[i].iter().zip(&ks).map(|(&a, k)| (h * a, k)).collect();
        let yi = S::lincomb(y, &terms)?;
        // A stage at the end of the step is evaluated at the grid point
        // itself: t + 1.0·h may differ from it in the last bit.
        let ti = if tab.c[i] == 1.0 { t_end } else { t + tab.c[i] * h };
        *nfev += 1;
        let ki = f(ti, &yi)?;
        ks.push(ki);
        last = Some(yi);
    }
    Ok((ks, last))
}

/// `y + h·Σ bᵢ·kᵢ`.
pub(crate) fn combine<S: OdeState>(y: &S, h: f64, w: &[f64], ks: &[S]) -> Result<S> {
    let terms: Vec<(f64, &S)> = w.iter().zip(ks).map(|(&b, k)| (h * b, k)).collect();
    S::lincomb(y, &terms)
}

fn step_to<S: OdeState, F: FnMut(f64, &S) -> Result<S>>(
    f: &mut F,
    t: f64,
    t_end: f64,
    y: &S,
    tab: &Tableau,
    nfev: &mut usize,
) -> Result<S> {
    let h = t_end - t;
    // On a fixed grid a FSAL method's last stage (weight 0) would only serve
    // the next step, which evaluates it anyway as its first stage; so it is
    // never evaluated here and no derivative is carried between steps.
    let n = stages_used(tab.b);
    let (ks, _) = stages(f, t, t_end, y, h, None, tab, n, nfev)?;
    combine(y, h, tab.b, &ks)
}

/// One step of size `h` (either sign) from `(t, y)`: the building block of
/// adjoint and checkpointing schemes that replay single steps.
pub fn step<S, F>(mut f: F, t: f64, y: &S, h: f64, tableau: &Tableau) -> Result<S>
where
    S: OdeState,
    F: FnMut(f64, &S) -> Result<S>,
{
    tableau.validate()?;
    if !(t.is_finite() && h.is_finite()) {
        invalid_arg!("step from t = {t} with h = {h}: both must be finite");
    }
    let mut nfev = 0;
    step_to(&mut f, t, t + h, y, tableau, &mut nfev)
}

/// Integrates `dy/dt = f(t, y)` over the points of `grid` (strictly
/// increasing, or strictly decreasing for reverse time), one step between
/// neighbouring points; returns the state at the last point.
pub fn integrate_on_grid<S, F>(mut f: F, y0: S, grid: &[f64], tableau: &Tableau) -> Result<(S, SolverStats)>
where
    S: OdeState,
    F: FnMut(f64, &S) -> Result<S>,
{
    tableau.validate()?;
    check_grid(grid)?;
    let mut stats = SolverStats::default();
    let mut y = y0;
    for w in grid.windows(2) {
        y = step_to(&mut f, w[0], w[1], &y, tableau, &mut stats.nfev)?;
        stats.steps += 1;
    }
    Ok((y, stats))
}

/// As [`integrate_on_grid`], keeping the state at every grid point.
pub fn trajectory_on_grid<S, F>(
    mut f: F,
    y0: S,
    grid: &[f64],
    tableau: &Tableau,
) -> Result<(Trajectory<S>, SolverStats)>
where
    S: OdeState,
    F: FnMut(f64, &S) -> Result<S>,
{
    tableau.validate()?;
    check_grid(grid)?;
    let mut stats = SolverStats::default();
    let mut states = Vec::with_capacity(grid.len());
    states.push(y0);
    for w in grid.windows(2) {
        let y = step_to(&mut f, w[0], w[1], states.last().expect("starts with y0"), tableau, &mut stats.nfev)?;
        states.push(y);
        stats.steps += 1;
    }
    Ok((Trajectory { times: grid.to_vec(), states }, stats))
}

/// Integrates `dy/dt = f(t, y)` from `t0` to `t1` in `steps` equal steps
/// (`t1 < t0` integrates in reverse time). `steps = 0` is an error.
pub fn integrate<S, F>(f: F, y0: S, t0: f64, t1: f64, steps: usize, tableau: &Tableau) -> Result<(S, SolverStats)>
where
    S: OdeState,
    F: FnMut(f64, &S) -> Result<S>,
{
    integrate_on_grid(f, y0, &uniform_grid(t0, t1, steps)?, tableau)
}

/// Integrates from `t0` to `t1` in steps of size `h > 0` with a shorter last
/// step, on the grid of [`step_size_grid`] (torchdiffeq's `step_size`).
pub fn integrate_with_step<S, F>(f: F, y0: S, t0: f64, t1: f64, h: f64, tableau: &Tableau) -> Result<(S, SolverStats)>
where
    S: OdeState,
    F: FnMut(f64, &S) -> Result<S>,
{
    integrate_on_grid(f, y0, &step_size_grid(t0, t1, h)?, tableau)
}

/// As [`integrate`], keeping the state at every one of the `steps + 1` grid
/// points (for plotting, and for checkpointing schemes that recompute steps).
pub fn integrate_trajectory<S, F>(
    f: F,
    y0: S,
    t0: f64,
    t1: f64,
    steps: usize,
    tableau: &Tableau,
) -> Result<(Trajectory<S>, SolverStats)>
where
    S: OdeState,
    F: FnMut(f64, &S) -> Result<S>,
{
    trajectory_on_grid(f, y0, &uniform_grid(t0, t1, steps)?, tableau)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ode::tableau::{DOPRI5, EULER, RK4, RK4_38};
    use crate::tensor::Tensor;

    #[test]
    fn grids() {
        assert_eq!(uniform_grid(0.0, 1.0, 4).unwrap(), vec![0.0, 0.25, 0.5, 0.75, 1.0]);
        assert_eq!(uniform_grid(1.0, 0.0, 2).unwrap(), vec![1.0, 0.5, 0.0]);
        assert!(uniform_grid(0.0, 1.0, 0).is_err());
        assert!(uniform_grid(0.0, 0.0, 3).is_err());
        assert!(uniform_grid(0.0, f64::INFINITY, 3).is_err());
        assert_eq!(step_size_grid(0.0, 1.0, 0.25).unwrap(), vec![0.0, 0.25, 0.5, 0.75, 1.0]);
        assert_eq!(step_size_grid(0.0, 0.625, 0.25).unwrap(), vec![0.0, 0.25, 0.5, 0.625]);
        assert_eq!(step_size_grid(0.0, -0.625, 0.25).unwrap(), vec![0.0, -0.25, -0.5, -0.625]);
        assert_eq!(step_size_grid(0.0, 0.1, 1.0).unwrap(), vec![0.0, 0.1]);
        // 0.3/0.1 is 2.9999999999999996 and 0.7/0.1 is 6.999999999999999:
        // no sliver steps either way.
        assert_eq!(step_size_grid(0.0, 0.3, 0.1).unwrap().len(), 4);
        assert_eq!(step_size_grid(0.0, 0.7, 0.1).unwrap().len(), 8);
        assert_eq!(step_size_grid(0.0, 3.0 * 0.1, 0.1).unwrap().len(), 4);
        assert!(step_size_grid(0.0, 1.0, 0.0).is_err());
        assert!(step_size_grid(0.0, 1.0, -0.1).is_err());
        assert!(step_size_grid(0.0, 1.0, 1e-300).is_err());
        assert!(check_grid(&[0.0, 1.0, 1.0]).is_err());
        assert!(check_grid(&[0.0, 1.0, 0.5]).is_err());
        assert!(check_grid(&[0.0]).is_err());
    }

    fn decay(_: f64, y: &Tensor<f64>) -> Result<Tensor<f64>> {
        y.scale(-1.0)
    }

    #[test]
    fn stage_counts() {
        let y0 = Tensor::<f64>::from_f64s(&[1.0], [1]).unwrap();
        for (tab, per_step) in [(&EULER, 1), (&RK4, 4), (&RK4_38, 4), (&DOPRI5, 6)] {
            let (_, s) = integrate(decay, y0.clone(), 0.0, 1.0, 5, tab).unwrap();
            assert_eq!(s, SolverStats { steps: 5, rejected: 0, nfev: 5 * per_step }, "{}", tab.name);
        }
    }

    #[test]
    fn one_step_matches_the_grid() {
        let y0 = Tensor::<f64>::from_f64s(&[1.0], [1]).unwrap();
        let a = step(decay, 0.0, &y0, 0.5, &RK4).unwrap();
        let (b, _) = integrate(decay, y0, 0.0, 0.5, 1, &RK4).unwrap();
        assert_eq!(a.to_vec().unwrap(), b.to_vec().unwrap());
        // R(z) = 1 + z + z²/2 + z³/6 + z⁴/24 at z = −1/2.
        let z: f64 = -0.5;
        let r = 1.0 + z + z * z / 2.0 + z.powi(3) / 6.0 + z.powi(4) / 24.0;
        assert!((a.item().unwrap() - r).abs() < 1e-15);
    }

    #[test]
    fn trajectory_holds_every_point() {
        let y0 = Tensor::<f64>::from_f64s(&[1.0], [1]).unwrap();
        let (tr, s) = integrate_trajectory(decay, y0.clone(), 0.0, 1.0, 4, &EULER).unwrap();
        assert_eq!(tr.times, vec![0.0, 0.25, 0.5, 0.75, 1.0]);
        let v: Vec<f64> = tr.states.iter().map(|t| t.item().unwrap()).collect();
        assert_eq!(v, vec![1.0, 0.75, 0.5625, 0.421875, 0.31640625]);
        let (end, s2) = integrate(decay, y0, 0.0, 1.0, 4, &EULER).unwrap();
        assert_eq!(end.item().unwrap(), v[4]);
        assert_eq!(s, s2);
    }

    #[test]
    fn errors_from_f_propagate() {
        let y0 = Tensor::<f64>::from_f64s(&[1.0], [1]).unwrap();
        let mut calls = 0;
        let r = integrate(
            |t, y: &Tensor<f64>| {
                calls += 1;
                if t > 0.5 { Err(crate::Error::NonFinite("boom".into())) } else { Ok(y.clone()) }
            },
            y0,
            0.0,
            1.0,
            4,
            &EULER,
        );
        assert!(matches!(r, Err(crate::Error::NonFinite(_))));
        assert_eq!(calls, 4, "stops at the first failing evaluation");
    }
}
