//! What a JKO block reports, and how the reported quantities are estimated.
//!
//! With `x_{n−1}` the particles entering block `n` (step `h_n`) and
//! `x_n = T_n(x_{n−1})` the particles it pushes out, `q = N(0, I)` and
//! `ℓ_n(x) = ∫ ∇·v_n dt` along the trajectory from `x`:
//!
//! - **Loss terms** of (24): `E ½|x_n|²`, `E ℓ_n`, `E|x_n − x_{n−1}|²/(2h_n)`,
//!   evaluated after training (untracked) on a fixed, evenly strided subset of
//!   the training particles (`JkoConfig::diagnostic_particles`).
//! - **W2 moved**: `w_n = sqrt(E|x_n − x_{n−1}|²)` over all training
//!   particles. It is the cost of the map `T_n`, an upper bound on
//!   `W2(p_{n−1}, p_n)`, equal to it when `T_n` is the optimal map (which is
//!   what the JKO step converges to).
//! - **KL**: by the change of variables `log p_n(x_n) = log p_0(x_0) − Σ_{m≤n} ℓ_m`,
//!   `KL(p_n‖q) = −H(p_0) + E ½|x_n|² + (d/2) log 2π − Σ_{m≤n} E ℓ_m`.
//!   The data entropy `H(p_0)` is unknown in general, so two numbers are
//!   reported: `kl_up_to_entropy = KL(p_n‖q) + H(p_0)` (the exact KL when the
//!   data entropy is known, e.g. Gaussian data), and
//!   `kl_change = KL(p_n‖q) − KL(p_0‖q) = E ½|x_n|² − E ½|x_0|² − Σ_{m≤n} E ℓ_m`,
//!   which needs no constant. The `½|x|²` means use all particles, the `ℓ`
//!   means the diagnostic subset; both are Monte Carlo estimates, and `ℓ` is
//!   the solver's approximation of `log det ∂T_m/∂x`.
//! - **Wasserstein-gradient norm**: at an exact JKO step the first-order
//!   condition `∇log(p_n/q)∘T_n + (T_n − Id)/h_n = 0` holds `p_{n−1}`-almost
//!   everywhere, so `‖∇_W KL(p_n‖q)‖_{L²(p_n)} = ‖T_n − Id‖_{L²(p_{n−1})}/h_n
//!   = w_n/h_n`: the reported `grad_norm`. The convergence paper's Fig. A.1
//!   plots the residual of that condition instead,
//!   `‖ξ‖²_{L²(p_n)}` with `ξ = ∇log p_n + ∇V + (Id − T_n⁻¹)/h_n`, `V = |x|²/2`,
//!   which needs the score `∇log p_n`: it is known only when the data's score
//!   is, e.g. for Gaussian data as in that figure. [`score_through_block`]
//!   carries a known score through a block
//!   (`∇log p_n(T(x)) = (∂T/∂x)⁻ᵀ (∇log p_{n−1}(x) − ∇ℓ(x))`) and
//!   [`first_order_residual`] evaluates the figure's quantity from it.

use crate::autodiff::Tape;
use crate::density::{Cnf, Divergence};
use crate::flows::block::Block;
use crate::flows::field::Field;
use crate::tensor::{Float, Tensor};
use crate::{Error, Result, shape_err};

/// Which pass trained a block.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// The first pass over the step-size schedule.
    Initial,
    /// Retraining on the re-timed grid (see [`super::reparam`]).
    Refine,
}

impl Phase {
    pub fn name(&self) -> &'static str {
        match self {
            Phase::Initial => "initial",
            Phase::Refine => "refine",
        }
    }
}

/// The terms of loss (24) on a batch.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct LossTerms {
    /// `E ½|x(t_n)|²`.
    pub potential: f64,
    /// `E ∫ ∇·v dt`.
    pub divergence: f64,
    /// `E |x(t_n) − x(t_{n−1})|² / (2h_n)`.
    pub transport: f64,
    /// `potential − divergence + transport`.
    pub total: f64,
}

impl LossTerms {
    /// `Σ wᵢ·termsᵢ`.
    pub fn weighted_sum(parts: &[(f64, LossTerms)]) -> LossTerms {
        let mut s = LossTerms::default();
        for (w, t) in parts {
            s.potential += w * t.potential;
            s.divergence += w * t.divergence;
            s.transport += w * t.transport;
            s.total += w * t.total;
        }
        s
    }
}

/// What a finished block reports (see the module documentation for each estimate).
#[derive(Clone, Debug, PartialEq)]
pub struct BlockReport {
    pub phase: Phase,
    /// 1-based position of the block in its flow (block `n` of the paper).
    pub block: usize,
    /// The JKO step `h_n` (also the block's integration time).
    pub h: f64,
    /// The cumulative time `h_1 + … + h_n`.
    pub time: f64,
    pub iterations: usize,
    /// Loss (24) after training, on the diagnostic subset.
    pub terms: LossTerms,
    /// `sqrt(E|x_n − x_{n−1}|²)` over all training particles.
    pub w2_moved: f64,
    /// `KL(p_n‖q) − KL(p_0‖q)`.
    pub kl_change: f64,
    /// `KL(p_n‖q) + H(p_0)`.
    pub kl_up_to_entropy: f64,
    /// `w2_moved / h`: the Wasserstein-gradient norm of the KL at an exact JKO step.
    pub grad_norm: f64,
    /// Seconds spent on the block (training, pushing, diagnostics).
    pub wall_s: f64,
}

impl BlockReport {
    /// One JSON object (a metrics line), without a trailing newline.
    pub fn to_json(&self) -> String {
        let t = &self.terms;
        format!(
            "{{\"phase\": \"{}\", \"block\": {}, \"h\": {}, \"time\": {}, \"iterations\": {}, \
             \"loss\": {}, \"potential\": {}, \"divergence\": {}, \"transport\": {}, \"w2_moved\": {}, \
             \"kl_change\": {}, \"kl_up_to_entropy\": {}, \"grad_norm\": {}, \"wall_s\": {}}}",
            self.phase.name(),
            self.block,
            json_num(self.h),
            json_num(self.time),
            self.iterations,
            json_num(t.total),
            json_num(t.potential),
            json_num(t.divergence),
            json_num(t.transport),
            json_num(self.w2_moved),
            json_num(self.kl_change),
            json_num(self.kl_up_to_entropy),
            json_num(self.grad_norm),
            json_num(self.wall_s),
        )
    }
}

fn json_num(v: f64) -> String {
    if v.is_finite() { format!("{v}") } else { "null".to_string() }
}

/// `sqrt(mean_i |a_i − b_i|²)` over the rows of two `[n, d]` point sets.
pub fn rms_distance<T: Float>(a: &Tensor<T>, b: &Tensor<T>) -> Result<f64> {
    if a.dims() != b.dims() || a.rank() != 2 {
        shape_err!("point sets of shapes {} and {} cannot be paired", a.shape(), b.shape());
    }
    let n = a.dims()[0].max(1);
    let s: f64 = a.as_slice()?.iter().zip(b.as_slice()?).map(|(x, y)| (x.to_f64() - y.to_f64()).powi(2)).sum();
    Ok((s / n as f64).sqrt())
}

/// `mean_i ½|x_i|²`.
pub fn half_mean_square<T: Float>(x: &Tensor<T>) -> Result<f64> {
    let n = x.dims().first().copied().unwrap_or(0).max(1);
    Ok(0.5 * x.as_slice()?.iter().map(|v| v.to_f64().powi(2)).sum::<f64>() / n as f64)
}

/// Pushes points `x` through a block and carries their score along:
/// given `s = ∇log p(x)` returns `(y, ∇log p'(y))` with `y = T(x)` and
/// `p' = T#p`, from `∇_x log p'(T(x)) = (∂T/∂x)ᵀ ∇log p'(y) = s − ∇ℓ(x)` with
/// `ℓ = ∫ ∇·v dt` (exact trace). `x` and `s` are `[n, d]`; the Jacobian is
/// taken through the solver's steps (d reverse sweeps), so this is for small
/// `d` and modest `n`.
pub fn score_through_block<T: Float>(block: &Block<T>, x: &Tensor<T>, s: &Tensor<T>) -> Result<(Tensor<T>, Tensor<T>)> {
    let d = block.spec.dim;
    if x.rank() != 2 || x.dims()[1] != d || s.dims() != x.dims() {
        shape_err!("points {} and scores {} do not fit a {d}-dimensional block", x.shape(), s.shape());
    }
    let n = x.dims()[0];
    let cnf = Cnf::<Field> {
        field: block.cnf.field.clone(),
        grid: block.cnf.grid.clone(),
        solver: block.cnf.solver,
        divergence: Divergence::Exact,
    };
    let tape = Tape::new();
    let p = block.store.attach_frozen(&tape);
    let xv = tape.var(x.clone());
    let dirs = tape.constant(Divergence::Exact.directions_for(n, d, x.device(), &mut crate::Rng::seed(0))?);
    let (z, l) = cnf.forward_on_tape(&p, xv, dirs)?;
    // jac[i][j*d + k] = ∂z_ij/∂x_ik
    let mut jac = vec![0.0f64; n * d * d];
    for j in 0..d {
        let g = tape.backward(z.slice(1, j, 1)?.sum_all()?)?.get_or_zeros(xv)?.to_f64_vec()?;
        for i in 0..n {
            for k in 0..d {
                jac[i * d * d + j * d + k] = g[i * d + k];
            }
        }
    }
    let grad_l = tape.backward(l.sum_all()?)?.get_or_zeros(xv)?.to_f64_vec()?;
    let s = s.to_f64_vec()?;
    let mut out = vec![0.0f64; n * d];
    for i in 0..n {
        // Solve Jᵀ u = s − ∇ℓ: (Jᵀ)[k][j] = J[j][k].
        let mut a: Vec<f64> = (0..d * d).map(|r| jac[i * d * d + (r % d) * d + r / d]).collect();
        let mut b: Vec<f64> = (0..d).map(|k| s[i * d + k] - grad_l[i * d + k]).collect();
        solve_in_place(&mut a, &mut b, d).ok_or_else(|| {
            Error::NonFinite(format!("the block's Jacobian is singular at point {i}: the map is not invertible there"))
        })?;
        out[i * d..(i + 1) * d].copy_from_slice(&b);
    }
    Ok((z.value(), Tensor::from_f64s(&out, [n, d])?))
}

/// Solves `a·u = b` (row-major `d×d`) by Gaussian elimination with partial
/// pivoting, leaving `u` in `b`; `None` if `a` is singular.
fn solve_in_place(a: &mut [f64], b: &mut [f64], d: usize) -> Option<()> {
    for col in 0..d {
        let piv = (col..d).max_by(|&r, &s| a[r * d + col].abs().total_cmp(&a[s * d + col].abs()))?;
        if a[piv * d + col].abs() < 1e-300 || !a[piv * d + col].is_finite() {
            return None;
        }
        if piv != col {
            for k in 0..d {
                a.swap(piv * d + k, col * d + k);
            }
            b.swap(piv, col);
        }
        for r in col + 1..d {
            let f = a[r * d + col] / a[col * d + col];
            for k in col..d {
                a[r * d + k] -= f * a[col * d + k];
            }
            b[r] -= f * b[col];
        }
    }
    for col in (0..d).rev() {
        let mut v = b[col];
        for k in col + 1..d {
            v -= a[col * d + k] * b[k];
        }
        b[col] = v / a[col * d + col];
    }
    b.iter().all(|v| v.is_finite()).then_some(())
}

/// The residual of the JKO step's first-order condition (the convergence
/// paper's Fig. A.1): `mean_i |ξ_i|²` with
/// `ξ_i = score_i + y_i + (y_i − x_i)/h`, for particles `x_i` entering the
/// block, `y_i` leaving it, and `score_i = ∇log p_n(y_i)` (from
/// [`score_through_block`]). Zero at an exact JKO step.
pub fn first_order_residual<T: Float>(x: &Tensor<T>, y: &Tensor<T>, score: &Tensor<T>, h: f64) -> Result<f64> {
    if x.dims() != y.dims() || y.dims() != score.dims() || x.rank() != 2 {
        shape_err!("residual needs three point sets of one shape, got {}, {}, {}", x.shape(), y.shape(), score.shape());
    }
    let n = x.dims()[0].max(1);
    let (x, y, s) = (x.as_slice()?, y.as_slice()?, score.as_slice()?);
    let total: f64 = (0..x.len())
        .map(|k| {
            let (xv, yv) = (x[k].to_f64(), y[k].to_f64());
            (s[k].to_f64() + yv + (yv - xv) / h).powi(2)
        })
        .sum();
    Ok(total / n as f64)
}
