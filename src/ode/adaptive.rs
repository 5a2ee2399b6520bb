//! Adaptive step-size integration with an embedded Runge–Kutta pair
//! (Dormand–Prince 5(4) by default), on eager tensor states.
//!
//! The controller is torchdiffeq's (and Hairer's) in its parts, with two
//! deliberate differences: the last step is clipped to land on `t1` exactly
//! instead of overshooting and interpolating back, and an accepted step may
//! shrink the next one (torchdiffeq never shrinks after an acceptance). Step
//! counts are therefore close to, not identical with, torchdiffeq's.

use std::borrow::Cow;

use super::fixed::{SolverStats, combine, stages, stages_used};
use super::state::OdeState;
use super::tableau::{DOPRI5, Tableau};
use crate::tensor::{Float, Tensor};
use crate::{Error, Result, invalid_arg};

/// How the per-element scaled errors `eᵢ / (atol + rtol·max(|yᵢ|, |y_newᵢ|))`
/// of a multi-part state are reduced to one number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ErrorNorm {
    /// Root mean square over all elements of all parts together.
    #[default]
    Rms,
    /// The largest per-part root mean square: torchdiffeq's default for tuple
    /// states, which keeps a small part (a CNF's log-density) from being
    /// drowned out by a large one.
    MaxRms,
}

/// Tolerances and controller settings of [`integrate_adaptive`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AdaptiveOptions {
    /// Relative tolerance (≥ 0).
    pub rtol: f64,
    /// Absolute tolerance (> 0, so that state elements at 0, like a CNF's
    /// initial log-density, do not divide by zero).
    pub atol: f64,
    /// Size of the first attempted step (> 0); `None` selects it by Hairer's
    /// algorithm at the cost of one evaluation of `f`.
    pub h0: Option<f64>,
    /// Step attempts, accepted or rejected, before giving up with an error.
    pub max_steps: usize,
    /// Factor (< 1) applied to the optimal step size, to make the next step
    /// likely to be accepted.
    pub safety: f64,
    /// Bounds on the ratio between successive step sizes.
    pub min_factor: f64,
    pub max_factor: f64,
    /// Reduction of the scaled error to one number.
    pub norm: ErrorNorm,
}

impl Default for AdaptiveOptions {
    /// torchdiffeq's defaults (`rtol = 1e-7`, `atol = 1e-9`, safety 0.9,
    /// factors in [0.2, 10]) except `max_steps`, which torchdiffeq leaves at
    /// 2³¹ − 1: 100 000 attempts already mean a stiff or singular problem.
    fn default() -> Self {
        AdaptiveOptions {
            rtol: 1e-7,
            atol: 1e-9,
            h0: None,
            max_steps: 100_000,
            safety: 0.9,
            min_factor: 0.2,
            max_factor: 10.0,
            norm: ErrorNorm::Rms,
        }
    }
}

impl AdaptiveOptions {
    /// The defaults with tolerances `rtol` and `atol`.
    pub fn with_tol(rtol: f64, atol: f64) -> Self {
        AdaptiveOptions { rtol, atol, ..Self::default() }
    }

    fn validate(&self) -> Result<()> {
        if !(self.rtol.is_finite() && self.rtol >= 0.0) {
            invalid_arg!("rtol must be finite and ≥ 0, got {}", self.rtol);
        }
        if !(self.atol.is_finite() && self.atol > 0.0) {
            invalid_arg!("atol must be finite and > 0, got {}", self.atol);
        }
        if let Some(h) = self.h0
            && !(h.is_finite() && h > 0.0)
        {
            invalid_arg!("initial step h0 must be finite and > 0 (its sign comes from t0 → t1), got {h}");
        }
        if self.max_steps == 0 {
            invalid_arg!("max_steps must be at least 1");
        }
        if !(self.safety > 0.0 && self.safety <= 1.0) {
            invalid_arg!("safety factor must be in (0, 1], got {}", self.safety);
        }
        if !(self.min_factor > 0.0 && self.min_factor < 1.0) {
            invalid_arg!("min_factor must be in (0, 1), got {}", self.min_factor);
        }
        if !(self.max_factor > 1.0 && self.max_factor.is_finite()) {
            invalid_arg!("max_factor must be finite and > 1, got {}", self.max_factor);
        }
        Ok(())
    }
}

/// Host view of a tensor's data (a copy only for device tensors).
fn host<T: Float>(t: &Tensor<T>) -> Result<Cow<'_, [T]>> {
    match t.as_slice() {
        Ok(s) => Ok(Cow::Borrowed(s)),
        Err(_) => Ok(Cow::Owned(t.to_vec()?)),
    }
}

fn all_finite<T: Float>(y: &[Tensor<T>]) -> Result<bool> {
    for p in y {
        if !p.all_finite()? {
            return Ok(false);
        }
    }
    Ok(true)
}

/// Reduces per-part `(Σ squares, count)` by `norm`.
fn reduce(norm: ErrorNorm, parts: &[(f64, usize)]) -> f64 {
    match norm {
        ErrorNorm::Rms => {
            let (sq, n) = parts.iter().fold((0.0, 0), |(s, n), &(ps, pn)| (s + ps, n + pn));
            if n == 0 { 0.0 } else { (sq / n as f64).sqrt() }
        }
        ErrorNorm::MaxRms => {
            parts.iter().filter(|(_, n)| *n > 0).map(|&(sq, n)| (sq / n as f64).sqrt()).fold(0.0, f64::max)
        }
    }
}

/// `‖vᵢ / wᵢ‖` with weights `w` computed from the matching elements of the
/// parts of `y` and `y_new`.
fn scaled_norm<T: Float>(
    norm: ErrorNorm,
    v: &[Tensor<T>],
    y: &[Tensor<T>],
    y_new: &[Tensor<T>],
    weight: impl Fn(f64, f64) -> f64,
) -> Result<f64> {
    let mut parts = Vec::with_capacity(v.len());
    for ((v, y), yn) in v.iter().zip(y).zip(y_new) {
        let (v, y, yn) = (host(v)?, host(y)?, host(yn)?);
        let sq: f64 = v
            .iter()
            .zip(y.iter())
            .zip(yn.iter())
            .map(|((v, y), yn)| {
                let r = v.to_f64() / weight(y.to_f64(), yn.to_f64());
                r * r
            })
            .sum();
        parts.push((sq, v.len()));
    }
    Ok(reduce(norm, &parts))
}

/// Hairer, Nørsett & Wanner, *Solving ODEs I*, II.4 (torchdiffeq's
/// `_select_initial_step`): a step whose Euler error would be about the
/// tolerance, capped by the curvature of the solution seen from one trial
/// Euler step. Returns the magnitude of the step.
#[allow(clippy::too_many_arguments)]
fn initial_step<T: Float, F>(
    f: &mut F,
    t0: f64,
    dir: f64,
    y0: &Vec<Tensor<T>>,
    f0: &Vec<Tensor<T>>,
    error_order: u32,
    opts: &AdaptiveOptions,
    nfev: &mut usize,
) -> Result<f64>
where
    F: FnMut(f64, &Vec<Tensor<T>>) -> Result<Vec<Tensor<T>>>,
{
    let scale = |y: f64, _: f64| opts.atol + y.abs() * opts.rtol;
    let d0 = scaled_norm(opts.norm, y0, y0, y0, scale)?;
    let d1 = scaled_norm(opts.norm, f0, y0, y0, scale)?;
    let h0 = if d0 < 1e-5 || d1 < 1e-5 { 1e-6 } else { 0.01 * d0 / d1 };
    let y1 = OdeState::lincomb(y0, &[(dir * h0, f0)])?;
    *nfev += 1;
    let f1 = f(t0 + dir * h0, &y1)?;
    let diff: Vec<Tensor<T>> =
        f1.iter().zip(f0).map(|(a, b)| Tensor::lincomb(&[(1.0, a), (-1.0, b)])).collect::<Result<_>>()?;
    let d2 = scaled_norm(opts.norm, &diff, y0, y0, scale)? / h0;
    let h1 = if d1 <= 1e-15 && d2 <= 1e-15 {
        (h0 * 1e-3).max(1e-6)
    } else {
        (0.01 / d1.max(d2)).powf(1.0 / (error_order as f64 + 1.0))
    };
    let h = (100.0 * h0).min(h1);
    // A non-finite trial derivative leaves only the first guess; the step
    // controller takes it from there.
    Ok(if h.is_finite() && h > 0.0 { h } else { h0 })
}

/// Integrates `dy/dt = f(t, y)` from `t0` to `t1` (`t1 < t0`: reverse time)
/// with an embedded pair (`tableau.b_err` must be set; [`DOPRI5`] is the usual
/// choice), adapting the step size so that each step's estimated local error
/// satisfies the tolerances of `opts`.
///
/// A step is accepted when the norm of `err / (atol + rtol·max(|y|, |y_new|))`
/// is ≤ 1; either way the next step size is `h·clamp(safety·err^(−1/(q+1)),
/// min_factor, max_factor)` with `q` the embedded order (`max_factor` when
/// the estimate is exactly 0). A step that would end within 1% of `t1` is
/// stretched to end on it exactly. For FSAL methods the last stage of an
/// accepted step is the next step's first; a rejected step keeps its first
/// stage. A trial step that produces non-finite values is rejected and
/// retried smaller; if the step size underflows that way the result is
/// [`Error::NonFinite`]. More than `max_steps` attempts, or an initial state or
/// derivative that is not finite, is an error too.
pub fn integrate_adaptive<T, F>(
    mut f: F,
    y0: Vec<Tensor<T>>,
    t0: f64,
    t1: f64,
    opts: &AdaptiveOptions,
    tableau: &Tableau,
) -> Result<(Vec<Tensor<T>>, SolverStats)>
where
    T: Float,
    F: FnMut(f64, &Vec<Tensor<T>>) -> Result<Vec<Tensor<T>>>,
{
    opts.validate()?;
    tableau.validate()?;
    let (Some(b_err), Some(q)) = (tableau.b_err, tableau.error_order()) else {
        invalid_arg!("adaptive integration needs an embedded pair; tableau {} has no error weights", tableau.name);
    };
    if !(t0.is_finite() && t1.is_finite()) {
        invalid_arg!("integration interval [{t0}, {t1}] is not finite");
    }
    if t0 == t1 {
        invalid_arg!("integration interval is empty (t0 = t1 = {t0})");
    }
    if y0.is_empty() {
        invalid_arg!("the ODE state has no parts");
    }
    if !all_finite(&y0)? {
        return Err(Error::NonFinite(format!("initial state at t = {t0}")));
    }
    let dir = if t1 > t0 { 1.0 } else { -1.0 };
    let exponent = -1.0 / (q as f64 + 1.0);
    // FSAL methods need their last stage even where it has no weight in the
    // error estimate, to start the next step.
    let n_stages = if tableau.fsal { tableau.stages() } else { stages_used(b_err).max(stages_used(tableau.b)) };

    let mut stats = SolverStats::default();
    stats.nfev += 1;
    let mut k0 = f(t0, &y0)?;
    if !all_finite(&k0)? {
        return Err(Error::NonFinite(format!("derivative at the initial state (t = {t0})")));
    }
    let mut h = match opts.h0 {
        Some(h) => h,
        None => initial_step(&mut f, t0, dir, &y0, &k0, q, opts, &mut stats.nfev)?,
    };

    let mut t = t0;
    let mut y = y0;
    // Whether the last attempt failed by producing non-finite values.
    let mut non_finite = false;
    loop {
        if stats.steps + stats.rejected >= opts.max_steps {
            invalid_arg!(
                "adaptive {} exceeded max_steps = {} at t = {t} integrating from {t0} to {t1} \
                 ({} accepted, {} rejected): the problem may be stiff, or the tolerances too tight",
                tableau.name,
                opts.max_steps,
                stats.steps,
                stats.rejected
            );
        }
        let remaining = (t1 - t).abs();
        let last = h * 1.01 >= remaining;
        let t_end = if last { t1 } else { t + dir * h };
        let hs = t_end - t;
        if t_end == t || hs == 0.0 {
            let msg = format!("step size underflow at t = {t} integrating from {t0} to {t1}");
            return Err(if non_finite {
                Error::NonFinite(format!("{msg}: the state or its derivative stays non-finite past t = {t}"))
            } else {
                Error::InvalidArgument(format!("{msg}: the problem may be singular there"))
            });
        }

        let (ks, last_state) = stages(&mut f, t, t_end, &y, hs, Some(k0), tableau, n_stages, &mut stats.nfev)?;
        let y_new = match (tableau.fsal, last_state) {
            (true, Some(s)) => s,
            _ => combine(&y, hs, tableau.b, &ks)?,
        };
        let err: Vec<Tensor<T>> = (0..y.len())
            .map(|p| {
                let terms: Vec<(f64, &Tensor<T>)> =
                    b_err.iter().zip(&ks).filter(|(e, _)| **e != 0.0).map(|(&e, k)| (hs * e, &k[p])).collect();
                Tensor::lincomb(&terms)
            })
            .collect::<Result<_>>()?;
        let ratio = scaled_norm(opts.norm, &err, &y, &y_new, |a, b| opts.atol + opts.rtol * a.abs().max(b.abs()))?;
        non_finite = !ratio.is_finite() || !all_finite(&y_new)?;
        let mut ks = ks;
        if !non_finite && ratio <= 1.0 {
            stats.steps += 1;
            t = t_end;
            y = y_new;
            if t == t1 {
                return Ok((y, stats));
            }
            k0 = if tableau.fsal {
                ks.pop().expect("at least one stage")
            } else {
                stats.nfev += 1;
                let k = f(t, &y)?;
                if !all_finite(&k)? {
                    return Err(Error::NonFinite(format!("derivative at the accepted state at t = {t}")));
                }
                k
            };
        } else {
            stats.rejected += 1;
            k0 = ks.swap_remove(0);
        }
        let factor = if non_finite {
            opts.min_factor
        } else if ratio == 0.0 {
            opts.max_factor
        } else {
            (opts.safety * ratio.powf(exponent)).clamp(opts.min_factor, opts.max_factor)
        };
        h = hs.abs() * factor;
    }
}

/// [`integrate_adaptive`] with [`DOPRI5`].
pub fn integrate_dopri5<T, F>(
    f: F,
    y0: Vec<Tensor<T>>,
    t0: f64,
    t1: f64,
    opts: &AdaptiveOptions,
) -> Result<(Vec<Tensor<T>>, SolverStats)>
where
    T: Float,
    F: FnMut(f64, &Vec<Tensor<T>>) -> Result<Vec<Tensor<T>>>,
{
    integrate_adaptive(f, y0, t0, t1, opts, &DOPRI5)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ode::tableau::{BOSH3, HEUN, RK4};

    fn scalar(v: f64) -> Vec<Tensor<f64>> {
        vec![Tensor::from_f64s(&[v], [1]).unwrap()]
    }
    // The signature the solver calls, hence `&Vec`.
    #[allow(clippy::ptr_arg)]
    fn decay(_: f64, y: &Vec<Tensor<f64>>) -> Result<Vec<Tensor<f64>>> {
        Ok(vec![y[0].scale(-1.0)?])
    }

    #[test]
    fn norms() {
        let parts = [(4.0, 1), (0.0, 3)];
        assert_eq!(reduce(ErrorNorm::Rms, &parts), 1.0);
        assert_eq!(reduce(ErrorNorm::MaxRms, &parts), 2.0);
        assert_eq!(reduce(ErrorNorm::Rms, &[]), 0.0);
    }

    #[test]
    fn every_embedded_pair_reaches_the_end() {
        for tab in [&HEUN, &BOSH3, &DOPRI5] {
            let opts = AdaptiveOptions::with_tol(1e-8, 1e-10);
            let (y, s) = integrate_adaptive(decay, scalar(1.0), 0.0, 2.0, &opts, tab).unwrap();
            let e = (y[0].item().unwrap() - (-2.0f64).exp()).abs();
            assert!(e < 1e-6, "{}: error {e} ({s:?})", tab.name);
            assert!(s.steps > 0);
        }
    }

    #[test]
    fn needs_an_embedded_pair() {
        let r = integrate_adaptive(decay, scalar(1.0), 0.0, 1.0, &AdaptiveOptions::default(), &RK4);
        assert!(matches!(r, Err(Error::InvalidArgument(m)) if m.contains("rk4")));
    }

    #[test]
    fn bad_options_are_errors() {
        let base = AdaptiveOptions::default();
        for opts in [
            AdaptiveOptions { rtol: -1.0, ..base },
            AdaptiveOptions { atol: 0.0, ..base },
            AdaptiveOptions { h0: Some(0.0), ..base },
            AdaptiveOptions { max_steps: 0, ..base },
            AdaptiveOptions { safety: 1.5, ..base },
            AdaptiveOptions { min_factor: 1.0, ..base },
            AdaptiveOptions { max_factor: 0.5, ..base },
        ] {
            assert!(integrate_dopri5(decay, scalar(1.0), 0.0, 1.0, &opts).is_err(), "{opts:?}");
        }
        assert!(integrate_dopri5(decay, scalar(1.0), 0.0, 0.0, &base).is_err());
        assert!(integrate_dopri5(decay, Vec::new(), 0.0, 1.0, &base).is_err());
    }

    #[test]
    fn given_first_step_skips_the_selection() {
        let opts = AdaptiveOptions { h0: Some(0.1), ..AdaptiveOptions::with_tol(1e-6, 1e-9) };
        let (_, s) = integrate_dopri5(decay, scalar(1.0), 0.0, 1.0, &opts).unwrap();
        // One evaluation at the start, six per attempt (FSAL).
        assert_eq!(s.nfev, 1 + 6 * (s.steps + s.rejected));
        let (_, s) = integrate_dopri5(decay, scalar(1.0), 0.0, 1.0, &AdaptiveOptions::with_tol(1e-6, 1e-9)).unwrap();
        assert_eq!(s.nfev, 2 + 6 * (s.steps + s.rejected));
    }
}
