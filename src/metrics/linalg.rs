//! Small dense symmetric-matrix algebra in f64 for the Gaussian closed
//! forms: a cyclic Jacobi eigen-solver, the square root of a positive
//! semi-definite matrix, and a Cholesky factorization. Matrices are
//! row-major `d × d` slices; `d` is small (tens to a few hundred).

use crate::{Error, Result, shape_err};

/// Relative tolerance for symmetry and for eigenvalues treated as zero.
const SYMMETRY_TOL: f64 = 1e-9;

/// Checks that `a` is a finite symmetric `d × d` matrix (up to a relative
/// asymmetry of 1e-9 of its largest entry); `name` is for messages.
pub fn check_symmetric(a: &[f64], d: usize, name: &str) -> Result<()> {
    if a.len() != d * d {
        shape_err!("{name} must be {d} × {d} ({} numbers), got {} numbers", d * d, a.len());
    }
    if let Some(i) = a.iter().position(|v| !v.is_finite()) {
        return Err(Error::NonFinite(format!("{name} has {} at row {}, column {}", a[i], i / d, i % d)));
    }
    let scale = a.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    for i in 0..d {
        for j in 0..i {
            if (a[i * d + j] - a[j * d + i]).abs() > SYMMETRY_TOL * scale {
                return Err(Error::InvalidArgument(format!(
                    "{name} is not symmetric: entry ({i}, {j}) = {} but ({j}, {i}) = {}",
                    a[i * d + j],
                    a[j * d + i]
                )));
            }
        }
    }
    Ok(())
}

/// Eigen-decomposition `A = V diag(λ) Vᵀ` of a symmetric matrix by cyclic
/// Jacobi rotations (sweeps over all pairs until the off-diagonal mass is
/// below `ε² ·` the total mass). Returns the eigenvalues (unsorted) and `V`
/// row-major, eigenvector `k` in column `k`. Only the symmetric part
/// `(A + Aᵀ)/2` is used.
pub fn symmetric_eigen(a: &[f64], d: usize) -> Result<(Vec<f64>, Vec<f64>)> {
    check_symmetric(a, d, "the matrix")?;
    let mut m: Vec<f64> = (0..d * d).map(|k| 0.5 * (a[k] + a[(k % d) * d + k / d])).collect();
    let mut v = identity(d);
    let total: f64 = m.iter().map(|x| x * x).sum();
    for _sweep in 0..100 {
        let off: f64 = (0..d)
            .flat_map(|i| (0..d).filter(move |&j| j != i).map(move |j| (i, j)))
            .map(|(i, j)| m[i * d + j].powi(2))
            .sum();
        if off <= f64::EPSILON * f64::EPSILON * total || off == 0.0 {
            break;
        }
        for p in 0..d {
            for q in p + 1..d {
                let apq = m[p * d + q];
                if apq == 0.0 {
                    continue;
                }
                // The rotation that zeroes (p, q): tan of its angle is the
                // smaller root of t² + 2θt − 1 = 0.
                let theta = (m[q * d + q] - m[p * d + p]) / (2.0 * apq);
                let t = if theta.abs() > 1e150 {
                    0.5 / theta // θ² would overflow; t ≈ 1/(2θ)
                } else {
                    theta.signum() / (theta.abs() + (theta * theta + 1.0).sqrt())
                };
                let c = 1.0 / (t * t + 1.0).sqrt();
                let s = t * c;
                for k in 0..d {
                    let (mkp, mkq) = (m[k * d + p], m[k * d + q]);
                    m[k * d + p] = c * mkp - s * mkq;
                    m[k * d + q] = s * mkp + c * mkq;
                }
                for k in 0..d {
                    let (mpk, mqk) = (m[p * d + k], m[q * d + k]);
                    m[p * d + k] = c * mpk - s * mqk;
                    m[q * d + k] = s * mpk + c * mqk;
                }
                m[p * d + q] = 0.0;
                m[q * d + p] = 0.0;
                for k in 0..d {
                    let (vkp, vkq) = (v[k * d + p], v[k * d + q]);
                    v[k * d + p] = c * vkp - s * vkq;
                    v[k * d + q] = s * vkp + c * vkq;
                }
            }
        }
    }
    Ok(((0..d).map(|i| m[i * d + i]).collect(), v))
}

/// The symmetric square root `A^{1/2} = V diag(√λ) Vᵀ` of a positive
/// semi-definite matrix. Eigenvalues down to `−1e-9 · max|λ|` are rounding
/// and taken as 0; more negative ones are an error.
pub fn sqrt_psd(a: &[f64], d: usize, name: &str) -> Result<Vec<f64>> {
    check_symmetric(a, d, name)?;
    let (lambda, v) = symmetric_eigen(a, d)?;
    let roots = psd_roots(&lambda, name)?;
    let mut out = vec![0.0; d * d];
    for i in 0..d {
        for j in 0..d {
            out[i * d + j] = (0..d).map(|k| v[i * d + k] * roots[k] * v[j * d + k]).sum();
        }
    }
    Ok(out)
}

/// `Σ_k √λ_k` for a positive semi-definite matrix (the trace of its square
/// root), with the tolerance of [`sqrt_psd`].
pub fn trace_sqrt_psd(a: &[f64], d: usize, name: &str) -> Result<f64> {
    let (lambda, _) = symmetric_eigen(a, d)?;
    Ok(psd_roots(&lambda, name)?.iter().sum())
}

fn psd_roots(lambda: &[f64], name: &str) -> Result<Vec<f64>> {
    let scale = lambda.iter().fold(0.0f64, |m, l| m.max(l.abs()));
    if let Some(l) = lambda.iter().find(|&&l| l < -SYMMETRY_TOL * scale) {
        return Err(Error::InvalidArgument(format!("{name} is not positive semi-definite (eigenvalue {l})")));
    }
    Ok(lambda.iter().map(|l| l.max(0.0).sqrt()).collect())
}

/// Lower-triangular `L` with `A = L Lᵀ`, row-major. Errors unless `A` is
/// symmetric positive definite.
pub fn cholesky(a: &[f64], d: usize, name: &str) -> Result<Vec<f64>> {
    check_symmetric(a, d, name)?;
    let mut l = vec![0.0; d * d];
    for i in 0..d {
        for j in 0..=i {
            let s: f64 = a[i * d + j] - (0..j).map(|k| l[i * d + k] * l[j * d + k]).sum::<f64>();
            if i == j {
                if s.is_nan() || s <= 0.0 {
                    return Err(Error::InvalidArgument(format!(
                        "{name} is not positive definite (pivot {s} at row {i})"
                    )));
                }
                l[i * d + i] = s.sqrt();
            } else {
                l[i * d + j] = s / l[j * d + j];
            }
        }
    }
    Ok(l)
}

/// Solves `L z = b` for lower-triangular `L` (forward substitution).
pub fn solve_lower(l: &[f64], d: usize, b: &[f64]) -> Vec<f64> {
    let mut z = vec![0.0; d];
    for i in 0..d {
        let s: f64 = b[i] - (0..i).map(|k| l[i * d + k] * z[k]).sum::<f64>();
        z[i] = s / l[i * d + i];
    }
    z
}

/// `A B` for row-major `d × d` matrices.
pub fn matmul(a: &[f64], b: &[f64], d: usize) -> Vec<f64> {
    let mut out = vec![0.0; d * d];
    for i in 0..d {
        for k in 0..d {
            let aik = a[i * d + k];
            for j in 0..d {
                out[i * d + j] += aik * b[k * d + j];
            }
        }
    }
    out
}

/// The `d × d` identity.
pub fn identity(d: usize) -> Vec<f64> {
    let mut out = vec![0.0; d * d];
    for i in 0..d {
        out[i * d + i] = 1.0;
    }
    out
}
