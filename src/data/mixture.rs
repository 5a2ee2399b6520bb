//! Gaussian mixtures with closed-form density: ground truth for NLL, KL and
//! density-ratio checks.

use crate::tensor::random::Rng;
use crate::tensor::{Float, Tensor};
use crate::{Result, invalid_arg, shape_err};

/// `Σ_k w_k N(μ_k, σ_k² I)` in `d` dimensions (isotropic components).
#[derive(Clone, Debug, PartialEq)]
pub struct GaussianMixture {
    pub weights: Vec<f64>,
    pub means: Vec<Vec<f64>>,
    pub stds: Vec<f64>,
}

impl GaussianMixture {
    pub fn new(weights: Vec<f64>, means: Vec<Vec<f64>>, stds: Vec<f64>) -> Result<Self> {
        if weights.is_empty() || weights.len() != means.len() || weights.len() != stds.len() {
            invalid_arg!(
                "a mixture needs as many weights, means and stds (got {}, {}, {})",
                weights.len(),
                means.len(),
                stds.len()
            );
        }
        let d = means[0].len();
        if d == 0 || means.iter().any(|m| m.len() != d) {
            invalid_arg!("mixture means must share one positive dimension");
        }
        if weights.iter().chain(&stds).any(|v| v.is_nan() || *v <= 0.0) {
            invalid_arg!("mixture weights and stds must be positive");
        }
        let total: f64 = weights.iter().sum();
        Ok(GaussianMixture { weights: weights.iter().map(|w| w / total).collect(), means, stds })
    }

    /// The 8gaussians toy: centres on the circle of radius 4 every 45°,
    /// sd 0.5, everything divided by 1.414 (ffjord's `toy_data`).
    pub fn eight_gaussians() -> Self {
        let s = std::f64::consts::FRAC_1_SQRT_2;
        let centres = [(1.0, 0.0), (-1.0, 0.0), (0.0, 1.0), (0.0, -1.0), (s, s), (s, -s), (-s, s), (-s, -s)];
        GaussianMixture {
            weights: vec![1.0 / 8.0; 8],
            means: centres.iter().map(|&(a, b)| vec![4.0 * a / 1.414, 4.0 * b / 1.414]).collect(),
            stds: vec![0.5 / 1.414; 8],
        }
    }

    pub fn dim(&self) -> usize {
        self.means[0].len()
    }

    /// `n` samples as `[n, d]`.
    pub fn sample<T: Float>(&self, n: usize, rng: &mut Rng) -> Result<Tensor<T>> {
        let d = self.dim();
        let mut out = Vec::with_capacity(n * d);
        for _ in 0..n {
            let u = rng.uniform();
            let mut acc = 0.0;
            let mut k = self.weights.len() - 1;
            for (i, w) in self.weights.iter().enumerate() {
                acc += w;
                if u < acc {
                    k = i;
                    break;
                }
            }
            for j in 0..d {
                out.push(T::from_f64(self.means[k][j] + self.stds[k] * rng.normal()));
            }
        }
        Tensor::from_vec(out, [n, d])
    }

    /// `log p(x)` for each row of `x` (`[n, d]`), in f64.
    pub fn log_prob<T: Float>(&self, x: &Tensor<T>) -> Result<Vec<f64>> {
        let d = self.dim();
        if x.rank() != 2 || x.dims()[1] != d {
            shape_err!("mixture in {d} dimensions cannot score points of shape {}", x.shape());
        }
        let v = x.to_f64_vec()?;
        let log2pi = (2.0 * std::f64::consts::PI).ln();
        Ok(v.chunks(d)
            .map(|p| {
                let terms: Vec<f64> = (0..self.weights.len())
                    .map(|k| {
                        let s2 = self.stds[k] * self.stds[k];
                        let r2: f64 = p.iter().zip(&self.means[k]).map(|(a, b)| (a - b) * (a - b)).sum();
                        self.weights[k].ln() - 0.5 * r2 / s2 - 0.5 * d as f64 * (log2pi + s2.ln())
                    })
                    .collect();
                let m = terms.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
                m + terms.iter().map(|t| (t - m).exp()).sum::<f64>().ln()
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eight_gaussians_entropy_is_the_nll_floor() {
        // The data's own NLL: E[−log p] ≈ log 8 + log(2πe σ²) with σ = 0.5/1.414.
        let g = GaussianMixture::eight_gaussians();
        let x = g.sample::<f64>(20000, &mut Rng::seed(0)).unwrap();
        let nll = -g.log_prob(&x).unwrap().iter().sum::<f64>() / 20000.0;
        let s2 = (0.5f64 / 1.414).powi(2);
        let floor = 8f64.ln() + (2.0 * std::f64::consts::PI * std::f64::consts::E * s2).ln();
        assert!((nll - floor).abs() < 0.03, "{nll} vs {floor}");
        assert!((floor - 2.84).abs() < 0.01);
    }

    #[test]
    fn density_integrates_to_one() {
        let g = GaussianMixture::new(vec![0.3, 0.7], vec![vec![-1.0, 0.0], vec![1.0, 0.5]], vec![0.4, 0.8]).unwrap();
        let h = 0.05;
        let mut pts = Vec::new();
        for i in 0..200 {
            for j in 0..200 {
                pts.push(-5.0 + h * (i as f64 + 0.5));
                pts.push(-5.0 + h * (j as f64 + 0.5));
            }
        }
        let x = Tensor::<f64>::from_vec(pts, [40000, 2]).unwrap();
        let mass: f64 = g.log_prob(&x).unwrap().iter().map(|l| l.exp() * h * h).sum();
        assert!((mass - 1.0).abs() < 1e-3, "{mass}");
    }
}
