//! The distribution of the interpolation time `t` in flow matching, and the
//! Gamma and Beta variates it needs, drawn from the crate's [`Rng`].
//!
//! Beta(α, β) is `X/(X+Y)` with `X ~ Gamma(α)`, `Y ~ Gamma(β)`; Gamma variates
//! come from Marsaglia and Tsang's squeeze-and-reject method (ACM TOMS 26(3),
//! 2000), with the shape boost `Gamma(a) = Gamma(a+1)·U^{1/a}` below 1. The
//! ratio is formed from logarithms, so that shapes far below 1 (whose
//! variates underflow) still give a Beta variate in `[0, 1]`.

use crate::tensor::random::Rng;
use crate::{Result, invalid_arg};

/// How the time of each training pair is drawn on `[0, 1]`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum TimeSampler {
    /// Uniform on `[0, 1)`.
    Uniform,
    /// Beta(α, β): α < β puts more pairs near the data (t = 0), α > β near the noise.
    Beta { alpha: f64, beta: f64 },
}

impl TimeSampler {
    pub fn validate(&self) -> Result<()> {
        if let TimeSampler::Beta { alpha, beta } = *self
            && !(alpha > 0.0 && beta > 0.0 && alpha.is_finite() && beta.is_finite())
        {
            invalid_arg!("Beta time distribution needs finite positive shapes, got α = {alpha}, β = {beta}");
        }
        Ok(())
    }

    /// One time.
    pub fn sample(&self, rng: &mut Rng) -> f64 {
        match *self {
            TimeSampler::Uniform => rng.uniform(),
            TimeSampler::Beta { alpha, beta } => beta_variate(alpha, beta, rng),
        }
    }

    /// `n` times.
    pub fn sample_n(&self, n: usize, rng: &mut Rng) -> Vec<f64> {
        (0..n).map(|_| self.sample(rng)).collect()
    }
}

/// `ln X` for `X ~ Gamma(shape, 1)`, `shape > 0`.
pub fn ln_gamma_variate(shape: f64, rng: &mut Rng) -> f64 {
    if shape < 1.0 {
        // Gamma(a) = Gamma(a+1)·U^{1/a}; U in (0, 1] keeps the logarithm finite.
        let u = 1.0 - rng.uniform();
        return ln_gamma_variate(shape + 1.0, rng) + u.ln() / shape;
    }
    let d = shape - 1.0 / 3.0;
    let c = 1.0 / (9.0 * d).sqrt();
    loop {
        let x = rng.normal();
        let v = 1.0 + c * x;
        if v <= 0.0 {
            continue;
        }
        let v = v * v * v;
        let u = rng.uniform();
        let x2 = x * x;
        // The squeeze accepts ~98% of candidates without a logarithm.
        if u < 1.0 - 0.0331 * x2 * x2 || (u > 0.0 && u.ln() < 0.5 * x2 + d * (1.0 - v + v.ln())) {
            return d.ln() + v.ln();
        }
    }
}

/// `X ~ Gamma(shape, 1)`, `shape > 0` (0 where the variate underflows).
pub fn gamma_variate(shape: f64, rng: &mut Rng) -> f64 {
    ln_gamma_variate(shape, rng).exp()
}

/// `X ~ Beta(α, β)`, `α, β > 0`.
pub fn beta_variate(alpha: f64, beta: f64, rng: &mut Rng) -> f64 {
    let lx = ln_gamma_variate(alpha, rng);
    let ly = ln_gamma_variate(beta, rng);
    // X/(X+Y) = 1/(1 + e^{ln Y − ln X}), finite even where X and Y underflow.
    let r = 1.0 / (1.0 + (ly - lx).exp());
    r.clamp(0.0, 1.0)
}
