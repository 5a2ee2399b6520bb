//! The ODE solvers against problems with known solutions: measured orders of
//! convergence, adaptive tolerances, step statistics (insta snapshots), the
//! tape path against the eager one and against the derivative of the RK map,
//! and the failures that must be errors rather than hangs or panics.

use wasserflow::autodiff::{Tape, Var};
use wasserflow::backend::Activation;
use wasserflow::backend::UnaryOp;
use wasserflow::ode::tableau::{ALL, BOSH3, DOPRI5, EULER, HEUN, MIDPOINT, RK4, RK4_38};
use wasserflow::ode::{self, AdaptiveOptions, ErrorNorm, SolverStats, Tableau};
use wasserflow::{Error, Result, Tensor};

type State = Vec<Tensor<f64>>;

fn tensor(v: &[f64]) -> Tensor<f64> {
    Tensor::from_f64s(v, [v.len()]).unwrap()
}

fn values(y: &State) -> Vec<f64> {
    y.iter().flat_map(|p| p.to_vec().unwrap()).collect()
}

/// An initial value problem with a known solution.
struct Problem {
    name: &'static str,
    f: fn(f64, &State) -> Result<State>,
    exact: fn(f64) -> Vec<f64>,
    /// Parts of the state, as `exact` lists them.
    parts: &'static [usize],
    t1: f64,
}

impl Problem {
    fn state_at(&self, t: f64) -> State {
        let v = (self.exact)(t);
        let mut at = 0;
        self.parts
            .iter()
            .map(|&n| {
                at += n;
                tensor(&v[at - n..at])
            })
            .collect()
    }
    /// Max-norm global error of `y` against the solution at `t`.
    fn error(&self, y: &State, t: f64) -> f64 {
        values(y).iter().zip((self.exact)(t)).map(|(a, b)| (a - b).abs()).fold(0.0, f64::max)
    }
}

const LAMBDA: f64 = -1.3;

/// y' = λy, y(0) = 1.
const DECAY: Problem = Problem {
    name: "decay",
    f: |_, y| Ok(vec![y[0].scale(LAMBDA)?]),
    exact: |t| vec![(LAMBDA * t).exp()],
    parts: &[1],
    t1: 1.0,
};

/// y' = −2ty, y(0) = 1: y = exp(−t²) (non-autonomous).
const GAUSS: Problem = Problem {
    name: "gauss",
    f: |t, y| Ok(vec![y[0].scale(-2.0 * t)?]),
    exact: |t| vec![(-t * t).exp()],
    parts: &[1],
    t1: 1.0,
};

/// x' = v, v' = −x from (1, 0), as a state of two parts: (cos t, −sin t).
const OSCILLATOR: Problem = Problem {
    name: "oscillator",
    f: |_, y| Ok(vec![y[1].clone(), y[0].scale(-1.0)?]),
    exact: |t| vec![t.cos(), -t.sin()],
    parts: &[1, 1],
    t1: 2.0,
};

const PROBLEMS: [&Problem; 3] = [&DECAY, &GAUSS, &OSCILLATOR];

/// Least-squares slope of `ln e` against `ln h`.
fn slope(hs: &[f64], es: &[f64]) -> f64 {
    let x: Vec<f64> = hs.iter().map(|h| h.ln()).collect();
    let y: Vec<f64> = es.iter().map(|e| e.ln()).collect();
    let n = x.len() as f64;
    let (mx, my) = (x.iter().sum::<f64>() / n, y.iter().sum::<f64>() / n);
    let sxy: f64 = x.iter().zip(&y).map(|(a, b)| (a - mx) * (b - my)).sum();
    let sxx: f64 = x.iter().map(|a| (a - mx) * (a - mx)).sum();
    sxy / sxx
}

/// Step counts for measuring a method's order: enough steps to be in the
/// asymptotic regime, few enough that the error stays far above rounding.
fn step_counts(tab: &Tableau) -> &'static [usize] {
    match tab.order {
        // On the Gaussian, Bogacki–Shampine and the 3/8 rule are still
        // pre-asymptotic at 8 steps (error ratios from 8 to 16 steps 4.5 and
        // 22.5 where 8 and 16 are due).
        3 | 4 => &[16, 32, 64, 128, 256],
        5.. => &[4, 8, 16, 32, 64],
        _ => &[8, 16, 32, 64, 128],
    }
}

/// Measured order of `tab` on `p`, forward (from 0 to t1) or backward (from
/// the exact state at t1 back to 0).
fn measured_order(p: &Problem, tab: &Tableau, reverse: bool) -> f64 {
    let (t0, t1) = if reverse { (p.t1, 0.0) } else { (0.0, p.t1) };
    let mut hs = Vec::new();
    let mut es = Vec::new();
    for &n in step_counts(tab) {
        let (y, stats) = ode::integrate(p.f, p.state_at(t0), t0, t1, n, tab).unwrap();
        assert_eq!(stats.steps, n);
        hs.push(p.t1 / n as f64);
        es.push(p.error(&y, t1));
    }
    slope(&hs, &es)
}

#[test]
fn fixed_grid_orders_of_convergence() {
    let methods = [&EULER, &MIDPOINT, &HEUN, &BOSH3, &RK4, &RK4_38, &DOPRI5];
    for p in PROBLEMS {
        for tab in methods {
            for reverse in [false, true] {
                let s = measured_order(p, tab, reverse);
                let dir = if reverse { "reverse" } else { "forward" };
                eprintln!("order {:<8} {:<10} {dir}: slope {s:.3} (order {})", tab.name, p.name, tab.order);
                assert!((s - tab.order as f64).abs() < 0.2, "{} on {} ({dir}): slope {s}", tab.name, p.name);
            }
        }
    }
}

#[test]
fn fixed_grid_with_step_size() {
    // 1/0.3: three steps of 0.3 and a last one of 0.1, as torchdiffeq's grid.
    let (y, stats) = ode::integrate_with_step(DECAY.f, DECAY.state_at(0.0), 0.0, 1.0, 0.3, &RK4_38).unwrap();
    assert_eq!(stats, SolverStats { steps: 4, rejected: 0, nfev: 16 });
    let grid = [0.0, 0.3, 0.6, 0.8999999999999999, 1.0];
    assert_eq!(ode::step_size_grid(0.0, 1.0, 0.3).unwrap(), grid);
    let (z, _) = ode::integrate_on_grid(DECAY.f, DECAY.state_at(0.0), &grid, &RK4_38).unwrap();
    assert_eq!(values(&y), values(&z));
    assert!(DECAY.error(&y, 1.0) < 1e-4);
    // Reverse time: the same steps negated.
    let (_, stats) = ode::integrate_with_step(DECAY.f, DECAY.state_at(1.0), 1.0, 0.0, 0.3, &RK4_38).unwrap();
    assert_eq!(stats.steps, 4);
}

#[test]
fn trajectory_ends_where_integrate_ends() {
    for tab in ALL {
        let (tr, s1) = ode::integrate_trajectory(OSCILLATOR.f, OSCILLATOR.state_at(0.0), 0.0, 2.0, 10, tab).unwrap();
        let (y, s2) = ode::integrate(OSCILLATOR.f, OSCILLATOR.state_at(0.0), 0.0, 2.0, 10, tab).unwrap();
        assert_eq!(s1, s2);
        assert_eq!(tr.times.len(), 11);
        assert_eq!(tr.states.len(), 11);
        assert_eq!(values(&tr.states[10]), values(&y));
        assert_eq!(values(&tr.states[0]), vec![1.0, 0.0]);
        // Each grid state is one step from the previous one.
        let y3 = ode::step(OSCILLATOR.f, tr.times[2], &tr.states[2], tr.times[3] - tr.times[2], tab).unwrap();
        assert_eq!(values(&y3), values(&tr.states[3]), "{}", tab.name);
    }
}

// ----- adaptive ------------------------------------------------------------

#[test]
fn dopri5_meets_its_tolerance() {
    // Oscillator over [0, 10] and the decay and Gaussian over [0, 3]: several
    // periods / orders of magnitude, so the global error accumulates.
    let cases: [(&Problem, f64); 3] = [(&OSCILLATOR, 10.0), (&DECAY, 3.0), (&GAUSS, 3.0)];
    for (p, t1) in cases {
        let mut last = f64::INFINITY;
        for rtol in [1e-3, 1e-5, 1e-7, 1e-9] {
            let opts = AdaptiveOptions::with_tol(rtol, rtol);
            let (y, stats) = ode::integrate_dopri5(p.f, p.state_at(0.0), 0.0, t1, &opts).unwrap();
            let e = p.error(&y, t1);
            eprintln!("dopri5 {:<10} rtol = atol = {rtol:.0e}: error {e:.2e} ({stats:?})", p.name);
            assert!(e < 30.0 * rtol, "{} at rtol {rtol}: error {e}", p.name);
            assert!(e < last, "{}: error {e} at rtol {rtol} not below {last}", p.name);
            last = e;
        }
    }
}

#[test]
fn dopri5_reverse_time_returns_to_the_start() {
    for norm in [ErrorNorm::Rms, ErrorNorm::MaxRms] {
        let opts = AdaptiveOptions { norm, ..AdaptiveOptions::with_tol(1e-9, 1e-9) };
        let y0 = OSCILLATOR.state_at(0.0);
        let (y1, fwd) = ode::integrate_dopri5(OSCILLATOR.f, y0.clone(), 0.0, 10.0, &opts).unwrap();
        assert!(OSCILLATOR.error(&y1, 10.0) < 1e-7);
        let (back, rev) = ode::integrate_dopri5(OSCILLATOR.f, y1, 10.0, 0.0, &opts).unwrap();
        let e = OSCILLATOR.error(&back, 0.0);
        assert!(e < 1e-7, "round trip error {e}");
        // The oscillator is symmetric under time reversal, so both directions
        // need about the same work.
        assert!(fwd.steps.abs_diff(rev.steps) <= 2, "{fwd:?} vs {rev:?}");
    }
    // Reverse time on a non-autonomous problem: from exp(−9) at t = 3 back to 1.
    let (y, _) =
        ode::integrate_dopri5(GAUSS.f, GAUSS.state_at(3.0), 3.0, 0.0, &AdaptiveOptions::with_tol(1e-9, 1e-12)).unwrap();
    assert!(GAUSS.error(&y, 0.0) < 1e-7, "{}", GAUSS.error(&y, 0.0));
}

/// y' = −50(y − cos t), y(0) = 0: a fast transient onto a slow manifold.
fn stiffish(t: f64, y: &State) -> Result<State> {
    let c = Tensor::from_f64s(&[t.cos()], [1])?;
    Ok(vec![Tensor::lincomb(&[(-50.0, &y[0]), (50.0, &c)])?])
}

fn stiffish_exact(t: f64) -> f64 {
    // Particular solution a·cos t + b·sin t plus a decaying transient.
    let (a, b) = (2500.0 / 2501.0, 50.0 / 2501.0);
    a * t.cos() + b * t.sin() - a * (-50.0 * t).exp()
}

#[test]
fn dopri5_stats_snapshots() {
    let tol = AdaptiveOptions::with_tol(1e-6, 1e-6);
    let (y, oscillator) = ode::integrate_dopri5(OSCILLATOR.f, OSCILLATOR.state_at(0.0), 0.0, 10.0, &tol).unwrap();
    assert!(OSCILLATOR.error(&y, 10.0) < 1e-4);
    insta::assert_debug_snapshot!("dopri5_oscillator_0_10_tol1e-6", oscillator);

    let (y, stiff) = ode::integrate_dopri5(stiffish, vec![tensor(&[0.0])], 0.0, 2.0, &tol).unwrap();
    assert!((values(&y)[0] - stiffish_exact(2.0)).abs() < 1e-4);
    assert!(stiff.rejected > 0, "the stiff-ish problem should exercise rejections: {stiff:?}");
    insta::assert_debug_snapshot!("dopri5_stiffish_0_2_tol1e-6", stiff);

    let (_, reverse) = ode::integrate_dopri5(DECAY.f, DECAY.state_at(3.0), 3.0, 0.0, &tol).unwrap();
    insta::assert_debug_snapshot!("dopri5_decay_reverse_3_0_tol1e-6", reverse);

    let (_, bosh3) = ode::integrate_adaptive(OSCILLATOR.f, OSCILLATOR.state_at(0.0), 0.0, 10.0, &tol, &BOSH3).unwrap();
    insta::assert_debug_snapshot!("bosh3_oscillator_0_10_tol1e-6", bosh3);
}

#[test]
fn adaptive_stats_are_consistent() {
    let tol = AdaptiveOptions::with_tol(1e-6, 1e-6);
    for (tab, per_attempt, start) in [(&DOPRI5, 6, 2), (&BOSH3, 3, 2)] {
        let (_, s) = ode::integrate_adaptive(stiffish, vec![tensor(&[0.0])], 0.0, 2.0, &tol, tab).unwrap();
        // f(t0), one trial Euler step for the first step size, then the
        // stages of every attempt but the first (FSAL).
        assert_eq!(s.nfev, start + per_attempt * (s.steps + s.rejected), "{}: {s:?}", tab.name);
    }
    // Without FSAL each acceptance costs one more evaluation.
    let (_, s) = ode::integrate_adaptive(stiffish, vec![tensor(&[0.0])], 0.0, 2.0, &tol, &HEUN).unwrap();
    assert_eq!(s.nfev, 2 + (s.steps + s.rejected) + (s.steps - 1), "{s:?}");
}

// ----- the tape path ---------------------------------------------------------

/// A nonlinear, non-autonomous right-hand side: x' = tanh(a·v) + t·x, v' = −x.
fn nonlinear_eager(a: &Tensor<f64>) -> impl FnMut(f64, &State) -> Result<State> + '_ {
    move |t, y| {
        let dx = y[1].mul(a)?.unary(UnaryOp::Act(Activation::Tanh))?.add(&y[0].scale(t)?)?;
        Ok(vec![dx, y[0].scale(-1.0)?])
    }
}

fn nonlinear_tape<'t>(a: Var<'t, f64>) -> impl FnMut(f64, &Vec<Var<'t, f64>>) -> Result<Vec<Var<'t, f64>>> {
    move |t, y| {
        let dx = y[1].mul(&a)?.tanh()?.add(&y[0].mul_scalar(t)?)?;
        Ok(vec![dx, y[0].mul_scalar(-1.0)?])
    }
}

#[test]
fn tape_path_gives_the_eager_numbers() {
    let a = tensor(&[0.7, -1.1, 2.0]);
    let y0 = vec![tensor(&[0.5, -0.25, 1.0]), tensor(&[1.0, 0.3, -0.6])];
    for tab in ALL {
        for (t0, t1) in [(0.0, 1.5), (1.5, 0.0)] {
            let (eager, s1) = ode::integrate(nonlinear_eager(&a), y0.clone(), t0, t1, 7, tab).unwrap();
            let tape = Tape::new();
            let av = tape.var(a.clone());
            let yv: Vec<Var<f64>> = y0.iter().map(|p| tape.var(p.clone())).collect();
            let (taped, s2) = ode::integrate(nonlinear_tape(av), yv, t0, t1, 7, tab).unwrap();
            assert_eq!(s1, s2);
            let taped: State = taped.iter().map(|v| v.value()).collect();
            assert_eq!(values(&eager), values(&taped), "{} from {t0} to {t1}", tab.name);
        }
    }
}

/// y' = a·y on the tape.
fn linear_tape<'t>(a: Var<'t, f64>) -> impl FnMut(f64, &Vec<Var<'t, f64>>) -> Result<Vec<Var<'t, f64>>> {
    move |_, y| Ok(vec![y[0].mul(&a)?])
}

/// Coefficients `r_k` of the stability polynomial `R(z) = Σ r_k z^k` of an
/// explicit method (the RK map of y' = λy is y ↦ R(hλ)·y):
/// `r_0 = 1`, `r_{k+1} = bᵀA^k·1`.
fn stability_polynomial(tab: &Tableau) -> Vec<f64> {
    let s = tab.stages();
    let mut r = vec![1.0];
    let mut v = vec![1.0; s];
    for _ in 0..s {
        r.push(tab.b.iter().zip(&v).map(|(b, x)| b * x).sum());
        v = tab.a.iter().map(|row| row.iter().zip(&v).map(|(a, x)| a * x).sum()).collect();
    }
    r
}

fn poly(r: &[f64], z: f64) -> f64 {
    r.iter().rev().fold(0.0, |acc, c| acc * z + c)
}

fn poly_deriv(r: &[f64], z: f64) -> f64 {
    r.iter().enumerate().skip(1).rev().fold(0.0, |acc, (k, c)| acc * z + k as f64 * c)
}

fn rel_close(got: f64, want: f64, tol: f64) -> bool {
    (got - want).abs() <= tol * want.abs().max(1e-300)
}

#[test]
fn tape_gradients_match_the_rk_map() {
    // RK4's R(z) is the Taylor polynomial of e^z to degree 4.
    let r4 = stability_polynomial(&RK4);
    let taylor = [1.0, 1.0, 0.5, 1.0 / 6.0, 1.0 / 24.0];
    assert!(r4.iter().zip(taylor).all(|(a, b)| (a - b).abs() < 1e-15), "{r4:?}");
    assert_eq!(r4[5..].iter().filter(|c| **c != 0.0).count(), 0);

    // y' = a·y over [0, 1] in N = 8 steps (h = 1/8, exact in binary, so
    // every step has exactly this size): y_N = R(ha)^N·y0, loss = Σ y_N.
    let (a, y0, n) = (-0.9f64, [1.5, -0.5, 0.25], 8usize);
    let h = 1.0 / n as f64;
    for tab in ALL {
        let r = stability_polynomial(tab);
        let (rz, drz) = (poly(&r, h * a), poly_deriv(&r, h * a));
        let tape = Tape::new();
        let av = tape.var(tensor(&[a]));
        let yv = vec![tape.var(tensor(&y0))];
        let (yn, _) = ode::integrate(linear_tape(av), yv.clone(), 0.0, 1.0, n, tab).unwrap();
        let got = yn[0].value().to_vec().unwrap();
        for (g, y) in got.iter().zip(y0) {
            assert!(rel_close(*g, rz.powi(n as i32) * y, 1e-13), "{}: y_N {g}", tab.name);
        }
        let grads = tape.backward(yn[0].sum_all().unwrap()).unwrap();
        let gy = grads.get(yv[0]).unwrap().to_vec().unwrap();
        for g in gy {
            assert!(rel_close(g, rz.powi(n as i32), 1e-12), "{}: dy_N/dy0 = {g}, want {}", tab.name, rz.powi(n as i32));
        }
        let ga = grads.get(av).unwrap().item().unwrap();
        let want = y0.iter().sum::<f64>() * n as f64 * rz.powi(n as i32 - 1) * drz * h;
        assert!(rel_close(ga, want, 1e-12), "{}: dy_N/da = {ga}, want {want}", tab.name);
    }
}

#[test]
fn tape_gradients_in_reverse_time() {
    // From t = 1 back to 0: h = −1/8, y_N = R(−a/8)^N·y0.
    let (a, n) = (0.6f64, 8usize);
    let h = -1.0 / n as f64;
    let r = stability_polynomial(&RK4_38);
    let tape = Tape::new();
    let av = tape.var(tensor(&[a]));
    let yv = vec![tape.var(tensor(&[2.0]))];
    let (yn, _) = ode::integrate(linear_tape(av), yv.clone(), 1.0, 0.0, n, &RK4_38).unwrap();
    let grads = tape.backward(yn[0].sum_all().unwrap()).unwrap();
    let rz = poly(&r, h * a);
    assert!(rel_close(grads.get(yv[0]).unwrap().item().unwrap(), rz.powi(n as i32), 1e-12));
    let want = 2.0 * n as f64 * rz.powi(n as i32 - 1) * poly_deriv(&r, h * a) * h;
    assert!(rel_close(grads.get(av).unwrap().item().unwrap(), want, 1e-12));
}

#[test]
fn single_precision_states() {
    let y0 = vec![Tensor::<f32>::from_f64s(&[1.0], [1]).unwrap()];
    let (y, _) =
        ode::integrate(|_, y: &Vec<Tensor<f32>>| Ok(vec![y[0].scale(-1.0)?]), y0.clone(), 0.0, 1.0, 32, &RK4).unwrap();
    assert!((y[0].item().unwrap() as f64 - (-1.0f64).exp()).abs() < 1e-6);
    let opts = AdaptiveOptions::with_tol(1e-5, 1e-6);
    let (y, _) =
        ode::integrate_dopri5(|_, y: &Vec<Tensor<f32>>| Ok(vec![y[0].scale(-1.0)?]), y0, 0.0, 1.0, &opts).unwrap();
    assert!((y[0].item().unwrap() as f64 - (-1.0f64).exp()).abs() < 1e-4);
}

// ----- failures ----------------------------------------------------------------

#[test]
fn zero_steps_and_bad_grids_are_errors() {
    let r = ode::integrate(DECAY.f, DECAY.state_at(0.0), 0.0, 1.0, 0, &RK4);
    assert!(matches!(r, Err(Error::InvalidArgument(m)) if m.contains("steps = 0")));
    assert!(ode::integrate(DECAY.f, DECAY.state_at(0.0), 0.0, 0.0, 4, &RK4).is_err());
    assert!(ode::integrate(DECAY.f, DECAY.state_at(0.0), 0.0, f64::NAN, 4, &RK4).is_err());
    assert!(ode::integrate_with_step(DECAY.f, DECAY.state_at(0.0), 0.0, 1.0, 0.0, &RK4).is_err());
    assert!(ode::integrate_with_step(DECAY.f, DECAY.state_at(0.0), 0.0, 1.0, -0.1, &RK4).is_err());
    assert!(ode::integrate_on_grid(DECAY.f, DECAY.state_at(0.0), &[0.0, 0.5, 0.4], &RK4).is_err());
    assert!(ode::step(DECAY.f, 0.0, &DECAY.state_at(0.0), f64::INFINITY, &RK4).is_err());
    let bad = Tableau { a: &[&[], &[0.5, 0.5]], ..MIDPOINT };
    assert!(ode::integrate(DECAY.f, DECAY.state_at(0.0), 0.0, 1.0, 4, &bad).is_err());
}

#[test]
fn derivative_of_the_wrong_structure_is_an_error() {
    let f = |_: f64, y: &State| Ok(vec![y[0].clone()]);
    let r = ode::integrate(f, OSCILLATOR.state_at(0.0), 0.0, 1.0, 4, &RK4);
    assert!(matches!(r, Err(Error::Shape(_))));
    let r = ode::integrate_dopri5(f, OSCILLATOR.state_at(0.0), 0.0, 1.0, &AdaptiveOptions::default());
    assert!(r.is_err());
}

#[test]
fn max_steps_exceeded_is_an_error() {
    let opts = AdaptiveOptions { max_steps: 20, ..AdaptiveOptions::with_tol(1e-8, 1e-8) };
    let r = ode::integrate_dopri5(OSCILLATOR.f, OSCILLATOR.state_at(0.0), 0.0, 10.0, &opts);
    let Err(Error::InvalidArgument(m)) = r else { panic!("expected an error, got {r:?}") };
    assert!(m.contains("max_steps = 20") && m.contains("at t = "), "{m}");
    // Reverse time counts the same way.
    let r = ode::integrate_dopri5(OSCILLATOR.f, OSCILLATOR.state_at(10.0), 10.0, 0.0, &opts);
    assert!(matches!(r, Err(Error::InvalidArgument(m)) if m.contains("max_steps")));
}

#[test]
fn non_finite_states_are_errors() {
    let opts = AdaptiveOptions::with_tol(1e-6, 1e-6);
    // A non-finite initial state or derivative is refused at once.
    let r = ode::integrate_dopri5(DECAY.f, vec![tensor(&[f64::NAN])], 0.0, 1.0, &opts);
    assert!(matches!(r, Err(Error::NonFinite(_))), "{r:?}");
    let nan = |_: f64, y: &State| Ok(vec![y[0].scale(f64::NAN)?]);
    let r = ode::integrate_dopri5(nan, DECAY.state_at(0.0), 0.0, 1.0, &opts);
    assert!(matches!(r, Err(Error::NonFinite(_))), "{r:?}");

    // A right-hand side that turns NaN at t > 0.5: the steps shrink onto 0.5
    // and then the solver gives up, rather than looping.
    let mut calls = 0;
    let cliff = |t: f64, y: &State| {
        calls += 1;
        Ok(vec![y[0].scale(if t > 0.5 { f64::NAN } else { -1.0 })?])
    };
    let r = ode::integrate_dopri5(cliff, DECAY.state_at(0.0), 0.0, 1.0, &opts);
    let Err(Error::NonFinite(m)) = r else { panic!("expected NonFinite, got {r:?}") };
    assert!(m.contains("t = 0.5"), "{m}");
    assert!(calls < 2000, "{calls} evaluations");

    // Blow-up in finite time: y' = y², y(0) = 1 is singular at t = 1.
    let blowup = |_: f64, y: &State| Ok(vec![y[0].mul(&y[0])?]);
    let r = ode::integrate_dopri5(blowup, DECAY.state_at(0.0), 0.0, 2.0, &opts);
    assert!(r.is_err(), "{r:?}");
}
