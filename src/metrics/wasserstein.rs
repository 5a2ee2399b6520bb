//! The 2-Wasserstein distance: exact between two equal-size empirical
//! measures (optimal assignment), sliced (random 1-D projections) for large
//! or unequal samples, and in closed form between Gaussians (Bures).

use rayon::prelude::*;

use super::assignment::solve_assignment_from;
use super::linalg::{check_symmetric, matmul, sqrt_psd, symmetric_eigen, trace_sqrt_psd};
use super::moments::mean_covariance;
use super::points::{Points, same_dim, squared_distance};
use crate::tensor::random::Rng;
use crate::tensor::{Float, Tensor};
use crate::{Error, Result, invalid_arg, shape_err};

/// Largest sample size for [`exact_w2`] (its cost matrix has n² entries and
/// the solver is O(n³) in the worst case).
pub const EXACT_MAX_POINTS: usize = 2000;
/// Projections [`w2`] uses when it falls back to [`sliced_w2`].
pub const DEFAULT_PROJECTIONS: usize = 256;

/// A W2 value and how it was obtained.
#[derive(Clone, Debug, PartialEq)]
pub struct W2Report {
    /// The distance (`√` of `squared`), in the units of the points.
    pub value: f64,
    /// The squared distance, in squared units.
    pub squared: f64,
    /// `"exact"`, `"sliced"` or `"gaussian"` (closed form).
    pub method: &'static str,
    /// Random directions used by the sliced estimate; 0 otherwise.
    pub projections: usize,
}

impl W2Report {
    fn new(squared: f64, method: &'static str, projections: usize) -> Self {
        // Rounding in a closed form can leave a tiny negative where 0 is exact.
        let squared = squared.max(0.0);
        W2Report { value: squared.sqrt(), squared, method, projections }
    }
}

/// Exact W2 between the uniform empirical measures on `x` `[n, d]` and `y`
/// `[n, d]`: `W2² = min_σ (1/n) Σ_i |x_i − y_σ(i)|²` over permutations σ
/// (for equal sizes and uniform weights an optimal plan is a permutation,
/// Birkhoff). Solved exactly by [`solve_assignment_from`] on the f64
/// squared-distance cost matrix (n² entries: 32 MB at n = 2000), warm-started
/// from the transport map between fitted Gaussians in up to 64 dimensions,
/// which affects only the running time (about a second at n = 2000).
///
/// This is the W2 of the samples, not of the distributions: as an estimate
/// of the population W2 it is biased upward by a sampling floor (the W2
/// between two samples of one distribution), which shrinks slowly with n
/// in high dimension.
///
/// Errors if the sizes differ or exceed [`EXACT_MAX_POINTS`] (use
/// [`sliced_w2`] there), dimensions differ, or a value is non-finite.
pub fn exact_w2<T: Float>(x: &Tensor<T>, y: &Tensor<T>) -> Result<W2Report> {
    let xs = Points::read(x, "x", 1)?;
    let ys = Points::read(y, "y", 1)?;
    same_dim(&xs, &ys, "W2")?;
    if xs.n != ys.n {
        invalid_arg!(
            "exact W2 needs samples of equal size, got {} and {} points: use the sliced W2 for unequal sizes",
            xs.n,
            ys.n
        );
    }
    if xs.n > EXACT_MAX_POINTS {
        invalid_arg!(
            "exact W2 is limited to {EXACT_MAX_POINTS} points per sample, got {}: use the sliced W2, or subsample",
            xs.n
        );
    }
    let n = xs.n;
    // The optimal permutation maximizes Σ x_i · y_σ(i) (the squared norms do
    // not depend on σ), so it is unchanged by translating either sample
    // (which adds a constant) or scaling either by a positive factor. The
    // solver works on centred, unit-RMS copies: a large mean shift or scale
    // mismatch otherwise makes every augmenting path long (each point first
    // claims the nearest edge of the other cloud). The cost is then summed
    // on the original coordinates.
    let (xn, yn) = (normalized(&xs), normalized(&ys));
    let mut cost = vec![0.0; n * n];
    cost.par_chunks_mut(n).enumerate().for_each(|(i, row)| {
        for (j, c) in row.iter_mut().enumerate() {
            *c = squared_distance(xn.row(i), yn.row(j));
        }
    });
    let potentials = gaussian_potentials(&xn, &yn);
    let plan = solve_assignment_from(&cost, n, potentials.as_deref())?;
    let total: f64 = (0..n).map(|i| squared_distance(xs.row(i), ys.row(plan.row_to_col[i]))).sum();
    Ok(W2Report::new(total / n as f64, "exact", 0))
}

/// Largest dimension for which [`exact_w2`] warm-starts the solver from the
/// Gaussian transport map (it needs `d × d` eigen-decompositions).
const WARM_START_MAX_DIM: usize = 64;

/// Column potentials for the assignment solver from the optimal transport
/// map between the Gaussians fitted to the two samples, `T(x) = m_y + A(x −
/// m_x)` with `A = S_x^{-½} (S_x^{½} S_y S_x^{½})^{½} S_x^{-½}` symmetric.
/// `T = ∇φ` for `φ(x) = ½ (x − m_x)ᵀA(x − m_x) + m_yᵀx`, and for the cost
/// `|x − y|²` the pair `u = |x|² − 2φ(x)`, `v = |y|² − 2φ*(y)` is dual
/// feasible (Fenchel–Young) and tight on `y = T(x)`, with
/// `φ*(y) = ½ wᵀA⁻¹w + m_xᵀw`, `w = y − m_y`, and `A⁻¹ = S_x^{½} (S_x^{½} S_y S_x^{½})^{-½} S_x^{½}`.
/// When the samples are close to affine images of each other the solver
/// then only makes local corrections. Only speed depends on this (the
/// solver recomputes `u` to be exactly feasible); `None` (column reduction)
/// in high dimension or when the linear algebra fails.
fn gaussian_potentials(x: &Points, y: &Points) -> Option<Vec<f64>> {
    let d = x.d;
    if d > WARM_START_MAX_DIM {
        return None;
    }
    let moments = |p: &Points| {
        let mut mean = vec![0.0; d];
        for i in 0..p.n {
            mean.iter_mut().zip(p.row(i)).for_each(|(m, v)| *m += v / p.n as f64);
        }
        let mut cov = vec![0.0; d * d];
        for i in 0..p.n {
            let row = p.row(i);
            for a in 0..d {
                for b in 0..d {
                    cov[a * d + b] += (row[a] - mean[a]) * (row[b] - mean[b]) / p.n as f64;
                }
            }
        }
        (mean, cov)
    };
    let (mx, sx) = moments(x);
    let (my, sy) = moments(y);
    let root_x = sqrt_psd(&sx, d, "S_x").ok()?;
    let middle = matmul(&matmul(&root_x, &sy, d), &root_x, d);
    let middle: Vec<f64> = (0..d * d).map(|k| 0.5 * (middle[k] + middle[(k % d) * d + k / d])).collect();
    let (mu, w) = symmetric_eigen(&middle, d).ok()?;
    // Floor the spectrum: a singular S_y would make the inverse root infinite.
    let floor = 1e-12 * mu.iter().fold(0.0f64, |m, l| m.max(l.abs())).max(f64::MIN_POSITIVE);
    let inv_roots: Vec<f64> = mu.iter().map(|l| 1.0 / l.max(floor).sqrt()).collect();
    let mut inv_root_middle = vec![0.0; d * d];
    for a in 0..d {
        for b in 0..d {
            inv_root_middle[a * d + b] = (0..d).map(|k| w[a * d + k] * inv_roots[k] * w[b * d + k]).sum();
        }
    }
    let a_inv = matmul(&matmul(&root_x, &inv_root_middle, d), &root_x, d);
    let potentials: Vec<f64> = (0..y.n)
        .map(|j| {
            let w: Vec<f64> = y.row(j).iter().zip(&my).map(|(v, m)| v - m).collect();
            let quad: f64 = (0..d).map(|a| w[a] * (0..d).map(|b| a_inv[a * d + b] * w[b]).sum::<f64>()).sum();
            let linear: f64 = mx.iter().zip(&w).map(|(m, w)| m * w).sum();
            let norm: f64 = y.row(j).iter().map(|v| v * v).sum();
            norm - quad - 2.0 * linear
        })
        .collect();
    potentials.iter().all(|p| p.is_finite()).then_some(potentials)
}

/// The sample translated to mean 0 and scaled to mean squared norm 1 (left
/// unscaled when all its points coincide).
fn normalized(p: &Points) -> Points {
    let mut mean = vec![0.0; p.d];
    for i in 0..p.n {
        mean.iter_mut().zip(p.row(i)).for_each(|(m, v)| *m += v / p.n as f64);
    }
    let mut data: Vec<f64> = p.data.iter().enumerate().map(|(k, v)| v - mean[k % p.d]).collect();
    let rms = (data.iter().map(|v| v * v).sum::<f64>() / p.n as f64).sqrt();
    if rms > 0.0 {
        data.iter_mut().for_each(|v| *v /= rms);
    }
    Points { data, n: p.n, d: p.d }
}

/// Sliced W2 between the empirical measures on `x` `[n, d]` and `y`
/// `[m, d]`: `SW2² = E_θ W2²(θᵀX, θᵀY)` over directions θ uniform on the unit
/// sphere, estimated by the mean over `projections` directions drawn from
/// `rng` (normalized standard normal vectors). Each 1-D term is exact: with
/// `F⁻¹`, `G⁻¹` the quantile functions of the projected samples (step
/// functions with steps at `k/n` and `k/m`), `W2² = ∫₀¹ |F⁻¹(t) − G⁻¹(t)|² dt`
/// is summed over the merged breakpoints, which for `n = m` is the mean
/// squared difference of the sorted projections, and for `n ≠ m`
/// interpolates the quantiles on the common refinement.
///
/// The value is an unbiased Monte Carlo estimate of the sample SW2² (over
/// directions). It is a different distance from W2: `SW2 ≤ W2`, and for
/// isotropic differences in `d` dimensions `SW2² ≈ W2²/d`; in `d = 1` it
/// equals the exact W2 (every direction is ±1). Parallel over directions
/// with rayon; bit-identical for any thread count.
///
/// Errors if `projections` is 0, a sample is empty, dimensions differ, or a
/// value is non-finite.
pub fn sliced_w2<T: Float>(x: &Tensor<T>, y: &Tensor<T>, projections: usize, rng: &mut Rng) -> Result<W2Report> {
    if projections == 0 {
        invalid_arg!("sliced W2 needs at least one projection");
    }
    let xs = Points::read(x, "x", 1)?;
    let ys = Points::read(y, "y", 1)?;
    same_dim(&xs, &ys, "sliced W2")?;
    let d = xs.d;
    // Directions first, in order, so that the draw is independent of threads.
    let directions: Vec<Vec<f64>> = (0..projections).map(|_| random_unit_vector(d, rng)).collect();
    let per_direction: Vec<f64> = directions
        .par_iter()
        .map(|theta| {
            let project = |p: &Points| -> Vec<f64> {
                let mut v: Vec<f64> = (0..p.n).map(|i| p.row(i).iter().zip(theta).map(|(a, b)| a * b).sum()).collect();
                v.sort_unstable_by(f64::total_cmp);
                v
            };
            w2_squared_sorted_1d(&project(&xs), &project(&ys))
        })
        .collect();
    let mean = per_direction.iter().sum::<f64>() / projections as f64;
    Ok(W2Report::new(mean, "sliced", projections))
}

/// W2 with the method chosen by size: [`exact_w2`] when both samples have
/// the same size `n ≤ 2000`, otherwise [`sliced_w2`] with
/// [`DEFAULT_PROJECTIONS`] directions from `rng` (the report says which).
pub fn w2<T: Float>(x: &Tensor<T>, y: &Tensor<T>, rng: &mut Rng) -> Result<W2Report> {
    let (nx, ny) = (x.dims().first().copied(), y.dims().first().copied());
    if x.dims().len() == 2 && nx == ny && nx.is_some_and(|n| n <= EXACT_MAX_POINTS) {
        exact_w2(x, y)
    } else {
        sliced_w2(x, y, DEFAULT_PROJECTIONS, rng)
    }
}

/// W2 between Gaussians `N(m1, S1)` and `N(m2, S2)` in closed form
/// (Bures–Wasserstein; the Fréchet distance of FID):
///
/// `W2² = |m1 − m2|² + tr(S1 + S2 − 2 (S2^{1/2} S1 S2^{1/2})^{1/2})`.
///
/// Covariances are row-major `d × d`, `d = m1.len()`, symmetric positive
/// semi-definite; square roots come from a Jacobi eigen-decomposition in f64
/// ([`super::linalg`]). Errors if the sizes disagree, a covariance is not
/// symmetric or has a negative eigenvalue beyond rounding, or a value is
/// non-finite.
pub fn gaussian_w2(m1: &[f64], s1: &[f64], m2: &[f64], s2: &[f64]) -> Result<W2Report> {
    let d = m1.len();
    if d == 0 || m2.len() != d {
        shape_err!("Gaussian W2 needs two means of one positive dimension, got {} and {}", d, m2.len());
    }
    if let Some(v) = m1.iter().chain(m2).find(|v| !v.is_finite()) {
        return Err(Error::NonFinite(format!("a Gaussian mean has {v}")));
    }
    check_symmetric(s1, d, "S1")?;
    check_symmetric(s2, d, "S2")?;
    let root2 = sqrt_psd(s2, d, "S2")?;
    let mut inner = matmul(&matmul(&root2, s1, d), &root2, d);
    // Symmetrize away the rounding of the products.
    for i in 0..d {
        for j in 0..i {
            let a = 0.5 * (inner[i * d + j] + inner[j * d + i]);
            inner[i * d + j] = a;
            inner[j * d + i] = a;
        }
    }
    let cross = trace_sqrt_psd(&inner, d, "S2^{1/2} S1 S2^{1/2}")?;
    // S1 is checked for semi-definiteness too, since a negative eigenvalue of S1
    // need not show in the product when S2 is singular.
    sqrt_psd(s1, d, "S1")?;
    let mean_term: f64 = m1.iter().zip(m2).map(|(a, b)| (a - b) * (a - b)).sum();
    let trace: f64 = (0..d).map(|i| s1[i * d + i] + s2[i * d + i]).sum();
    Ok(W2Report::new(mean_term + trace - 2.0 * cross, "gaussian", 0))
}

/// [`gaussian_w2`] between the Gaussians fitted to two samples (sample mean
/// and unbiased covariance, [`mean_covariance`]): the Fréchet distance of
/// FID computed on the raw coordinates. Biased upward as an estimate of the
/// population value (sampling noise in the covariances).
pub fn fitted_gaussian_w2<T: Float>(x: &Tensor<T>, y: &Tensor<T>) -> Result<W2Report> {
    if x.dims().len() == 2 && y.dims().len() == 2 && x.dims()[1] != y.dims()[1] {
        shape_err!("fitted Gaussian W2 needs point sets of one dimension, got {:?} and {:?}", x.dims(), y.dims());
    }
    let (m1, s1) = mean_covariance(x)?;
    let (m2, s2) = mean_covariance(y)?;
    gaussian_w2(&m1, &s1, &m2, &s2)
}

fn random_unit_vector(d: usize, rng: &mut Rng) -> Vec<f64> {
    loop {
        let v: Vec<f64> = (0..d).map(|_| rng.normal()).collect();
        let norm = v.iter().map(|a| a * a).sum::<f64>().sqrt();
        if norm > 1e-12 {
            return v.into_iter().map(|a| a / norm).collect();
        }
    }
}

/// `∫₀¹ |F⁻¹(t) − G⁻¹(t)|² dt` for the empirical quantile functions of two
/// sorted samples, exactly: the integrand is constant between consecutive
/// breakpoints of `{k/n} ∪ {k/m}`, whose positions are kept as integers in
/// units of `1/(nm)`.
pub(crate) fn w2_squared_sorted_1d(a: &[f64], b: &[f64]) -> f64 {
    let (n, m) = (a.len(), b.len());
    let (mut i, mut j) = (0, 0);
    let mut at = 0usize;
    let mut total = 0.0;
    while i < n && j < m {
        let (end_a, end_b) = ((i + 1) * m, (j + 1) * n);
        let next = end_a.min(end_b);
        let diff = a[i] - b[j];
        total += (next - at) as f64 * diff * diff;
        at = next;
        if end_a == next {
            i += 1;
        }
        if end_b == next {
            j += 1;
        }
    }
    total / (n * m) as f64
}
