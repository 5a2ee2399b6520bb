//! Gaussian mixtures with closed-form density: ground truth for NLL, KL and
//! density-ratio checks.
//!
//! Components are isotropic (`σ² I`, the cheap common case) or carry a full
//! covariance, kept as its Cholesky factor `Σ = L Lᵀ`: sampling is `μ + L z`
//! and the log-density needs one triangular solve per point and component.

use std::f64::consts::PI;

use crate::tensor::random::Rng;
use crate::tensor::{Float, Tensor};
use crate::{Result, invalid_arg, shape_err};

/// The covariance of one component.
#[derive(Clone, Debug, PartialEq)]
enum Covariance {
    /// `σ² I`, stored as σ.
    Isotropic(f64),
    /// `L Lᵀ` with `L` lower triangular, `d × d` row-major (the upper part is zero).
    Full { chol: Vec<f64> },
}

/// `Σ_k w_k N(μ_k, Σ_k)` in `d` dimensions.
#[derive(Clone, Debug, PartialEq)]
pub struct GaussianMixture {
    weights: Vec<f64>,
    means: Vec<Vec<f64>>,
    covs: Vec<Covariance>,
}

impl GaussianMixture {
    /// Isotropic components `N(μ_k, σ_k² I)`; the weights are normalized to sum to 1.
    pub fn new(weights: Vec<f64>, means: Vec<Vec<f64>>, stds: Vec<f64>) -> Result<Self> {
        check_counts(&weights, &means, stds.len(), "stds")?;
        if stds.iter().any(|s| !s.is_finite() || *s <= 0.0) {
            invalid_arg!("mixture stds must be positive and finite (got {stds:?})");
        }
        Ok(GaussianMixture {
            weights: normalize(weights),
            means,
            covs: stds.into_iter().map(Covariance::Isotropic).collect(),
        })
    }

    /// Isotropic components `N(μ_k, v_k I)` given by their variances `v_k`.
    pub fn with_variances(weights: Vec<f64>, means: Vec<Vec<f64>>, variances: Vec<f64>) -> Result<Self> {
        if variances.iter().any(|v| !v.is_finite() || *v <= 0.0) {
            invalid_arg!("mixture variances must be positive and finite (got {variances:?})");
        }
        Self::new(weights, means, variances.iter().map(|v| v.sqrt()).collect())
    }

    /// Components with full covariances, each `d × d` row-major. Each must be
    /// symmetric (to a relative 1e-10) and positive definite: a Cholesky pivot
    /// at or below `1e-12 ×` the largest diagonal entry is refused, since such a
    /// matrix is singular to working precision and its density has no meaning.
    pub fn with_covariances(weights: Vec<f64>, means: Vec<Vec<f64>>, covs: Vec<Vec<f64>>) -> Result<Self> {
        check_counts(&weights, &means, covs.len(), "covariances")?;
        let d = means[0].len();
        let mut factors = Vec::with_capacity(covs.len());
        for (k, c) in covs.iter().enumerate() {
            if c.len() != d * d {
                invalid_arg!("covariance {k} has {} entries; a {d}-dimensional one needs {}", c.len(), d * d);
            }
            factors.push(Covariance::Full {
                chol: cholesky(c, d).map_err(|m| invalid_err(format!("covariance {k} {m}")))?,
            });
        }
        Ok(GaussianMixture { weights: normalize(weights), means, covs: factors })
    }

    /// The 8gaussians toy: centres on the circle of radius 4 every 45°,
    /// sd 0.5, everything divided by 1.414 (ffjord's `toy_data`).
    pub fn eight_gaussians() -> Self {
        let s = std::f64::consts::FRAC_1_SQRT_2;
        let centres = [(1.0, 0.0), (-1.0, 0.0), (0.0, 1.0), (0.0, -1.0), (s, s), (s, -s), (-s, s), (-s, -s)];
        GaussianMixture {
            weights: vec![1.0 / 8.0; 8],
            means: centres.iter().map(|&(a, b)| vec![4.0 * a / 1.414, 4.0 * b / 1.414]).collect(),
            covs: vec![Covariance::Isotropic(0.5 / 1.414); 8],
        }
    }

    /// The tutorial's Fig. 10 `p`: `⅓ N([−2, 2], 0.75 I) + ⅓ N([−1.5, 1.5], 0.25 I) + ⅓ N([−1, 1], 0.75 I)`
    /// (the second arguments are covariances).
    pub fn fig10_p() -> Self {
        Self::with_variances(
            vec![1.0; 3],
            vec![vec![-2.0, 2.0], vec![-1.5, 1.5], vec![-1.0, 1.0]],
            vec![0.75, 0.25, 0.75],
        )
        .expect("fixed parameters are valid")
    }

    /// The tutorial's Fig. 10 `q`: `½ N([0.75, −1.5], 0.5 I) + ½ N([−2, −3], 0.5 I)` (covariances).
    pub fn fig10_q() -> Self {
        Self::with_variances(vec![1.0; 2], vec![vec![0.75, -1.5], vec![-2.0, -3.0]], vec![0.5, 0.5])
            .expect("fixed parameters are valid")
    }

    pub fn dim(&self) -> usize {
        self.means[0].len()
    }
    pub fn n_components(&self) -> usize {
        self.weights.len()
    }
    /// The normalized weights.
    pub fn weights(&self) -> &[f64] {
        &self.weights
    }
    pub fn means(&self) -> &[Vec<f64>] {
        &self.means
    }
    /// Component `k`'s covariance as a dense `d × d` row-major matrix.
    pub fn covariance(&self, k: usize) -> Vec<f64> {
        let d = self.dim();
        match &self.covs[k] {
            Covariance::Isotropic(s) => {
                let mut c = vec![0.0; d * d];
                for i in 0..d {
                    c[i * d + i] = s * s;
                }
                c
            }
            Covariance::Full { chol } => {
                let mut c = vec![0.0; d * d];
                for i in 0..d {
                    for j in 0..d {
                        c[i * d + j] = (0..=i.min(j)).map(|m| chol[i * d + m] * chol[j * d + m]).sum();
                    }
                }
                c
            }
        }
    }

    /// `n` samples as `[n, d]`.
    pub fn sample<T: Float>(&self, n: usize, rng: &mut Rng) -> Result<Tensor<T>> {
        let d = self.dim();
        // Per point: the component's uniform, then d normals.
        let (mut picks, mut normals) = (vec![0.0; n], vec![0.0; n * d]);
        rng.uniforms_and_normals(n, 1, d, &mut picks, &mut normals);
        let mut out = Vec::with_capacity(n * d);
        for (&u, z) in picks.iter().zip(normals.chunks_exact(d.max(1))) {
            let k = self.pick_component(u);
            let mu = &self.means[k];
            match &self.covs[k] {
                Covariance::Isotropic(s) => out.extend(mu.iter().zip(z).map(|(m, v)| T::from_f64(m + s * v))),
                Covariance::Full { chol } => {
                    for i in 0..d {
                        let lz: f64 = chol[i * d..i * d + i + 1].iter().zip(z).map(|(l, v)| l * v).sum();
                        out.push(T::from_f64(mu[i] + lz));
                    }
                }
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
        let log2pi = (2.0 * PI).ln();
        // log w_k − ½ log det(2π Σ_k), the part of each term that does not depend on x.
        let consts: Vec<f64> = self
            .covs
            .iter()
            .zip(&self.weights)
            .map(|(c, w)| {
                let half_log_det = match c {
                    Covariance::Isotropic(s) => d as f64 * s.ln(),
                    Covariance::Full { chol } => (0..d).map(|i| chol[i * d + i].ln()).sum(),
                };
                w.ln() - 0.5 * d as f64 * log2pi - half_log_det
            })
            .collect();
        let mut r = vec![0.0; d];
        let mut terms = vec![0.0; self.weights.len()];
        Ok(v.chunks(d)
            .map(|p| {
                for (k, t) in terms.iter_mut().enumerate() {
                    for ((ri, pi), mi) in r.iter_mut().zip(p).zip(&self.means[k]) {
                        *ri = pi - mi;
                    }
                    let maha = match &self.covs[k] {
                        Covariance::Isotropic(s) => r.iter().map(|a| a * a).sum::<f64>() / (s * s),
                        Covariance::Full { chol } => {
                            // Forward substitution L y = r, in place; |y|² is the Mahalanobis distance.
                            for i in 0..d {
                                let partial: f64 = chol[i * d..i * d + i].iter().zip(&r[..i]).map(|(l, y)| l * y).sum();
                                r[i] = (r[i] - partial) / chol[i * d + i];
                            }
                            r.iter().map(|a| a * a).sum()
                        }
                    };
                    *t = consts[k] - 0.5 * maha;
                }
                let m = terms.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
                m + terms.iter().map(|t| (t - m).exp()).sum::<f64>().ln()
            })
            .collect())
    }

    fn pick_component(&self, u: f64) -> usize {
        let mut acc = 0.0;
        for (i, w) in self.weights.iter().enumerate() {
            acc += w;
            if u < acc {
                return i;
            }
        }
        self.weights.len() - 1
    }
}

fn invalid_err(m: String) -> crate::Error {
    crate::Error::InvalidArgument(m)
}

fn check_counts(weights: &[f64], means: &[Vec<f64>], n_cov: usize, what: &str) -> Result<()> {
    if weights.is_empty() || weights.len() != means.len() || weights.len() != n_cov {
        invalid_arg!(
            "a mixture needs as many weights, means and {what} (got {}, {}, {n_cov})",
            weights.len(),
            means.len()
        );
    }
    let d = means[0].len();
    if d == 0 || means.iter().any(|m| m.len() != d) {
        invalid_arg!("mixture means must share one positive dimension");
    }
    if means.iter().flatten().any(|m| !m.is_finite()) {
        invalid_arg!("mixture means must be finite");
    }
    if weights.iter().any(|w| !w.is_finite() || *w <= 0.0) {
        invalid_arg!("mixture weights must be positive and finite (got {weights:?})");
    }
    Ok(())
}

fn normalize(weights: Vec<f64>) -> Vec<f64> {
    let total: f64 = weights.iter().sum();
    weights.iter().map(|w| w / total).collect()
}

/// The lower Cholesky factor of the symmetric positive-definite `d × d` matrix `a`.
fn cholesky(a: &[f64], d: usize) -> std::result::Result<Vec<f64>, String> {
    if a.iter().any(|v| !v.is_finite()) {
        return Err("has non-finite entries".into());
    }
    let scale = (0..d).map(|i| a[i * d + i].abs()).fold(0.0, f64::max);
    for i in 0..d {
        for j in 0..i {
            if (a[i * d + j] - a[j * d + i]).abs() > 1e-10 * scale.max(f64::MIN_POSITIVE) {
                return Err(format!(
                    "is not symmetric (entry ({i}, {j}) = {} but ({j}, {i}) = {})",
                    a[i * d + j],
                    a[j * d + i]
                ));
            }
        }
    }
    let mut l = vec![0.0; d * d];
    for i in 0..d {
        for j in 0..=i {
            let s: f64 = (0..j).map(|m| l[i * d + m] * l[j * d + m]).sum();
            if i == j {
                let pivot = a[i * d + i] - s;
                if pivot <= 1e-12 * scale || scale == 0.0 {
                    return Err(format!("is not positive definite (Cholesky pivot {i} is {pivot:e})"));
                }
                l[i * d + i] = pivot.sqrt();
            } else {
                l[i * d + j] = (a[i * d + j] - s) / l[j * d + j];
            }
        }
    }
    Ok(l)
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

    #[test]
    fn cholesky_reproduces_the_matrix_and_refuses_bad_ones() {
        let a = vec![4.0, 2.0, 0.4, 2.0, 2.0, 0.5, 0.4, 0.5, 3.0];
        let g = GaussianMixture::with_covariances(vec![1.0], vec![vec![0.0; 3]], vec![a.clone()]).unwrap();
        for (x, y) in g.covariance(0).iter().zip(&a) {
            assert!((x - y).abs() < 1e-12);
        }
        let bad = [
            vec![1.0, 2.0, 2.0, 1.0],      // indefinite
            vec![1.0, 1.0, 1.0, 1.0],      // singular
            vec![1.0, 0.5, 0.4, 1.0],      // not symmetric
            vec![1.0, 0.0, 0.0, f64::NAN], // non-finite
            vec![1.0, 0.0, 0.0],           // wrong size
        ];
        for c in bad {
            let r = GaussianMixture::with_covariances(vec![1.0], vec![vec![0.0; 2]], vec![c.clone()]);
            assert!(matches!(r, Err(crate::Error::InvalidArgument(_))), "{c:?} accepted");
        }
    }
}
