//! LU factorization with partial pivoting of one small dense matrix in f64:
//! the log-determinants, solves and inverses that per-sample `d × d`
//! Jacobians need (`d` is the data's dimension, so a few to tens).

/// `P A = L U` with `L` unit lower triangular, packed in place, row-major.
pub struct Lu {
    d: usize,
    lu: Vec<f64>,
    /// Row `k` of `P A` is row `perm[k]` of `A`.
    perm: Vec<usize>,
}

impl Lu {
    /// Factors the row-major `d × d` matrix `a`; `None` where a pivot is zero
    /// or not finite (the matrix is singular, or holds NaN or ∞).
    pub fn factor(mut a: Vec<f64>, d: usize) -> Option<Lu> {
        assert_eq!(a.len(), d * d, "a {d}×{d} matrix has {} entries", d * d);
        let mut perm: Vec<usize> = (0..d).collect();
        for k in 0..d {
            let p = (k..d).max_by(|&i, &j| a[i * d + k].abs().total_cmp(&a[j * d + k].abs())).expect("k < d");
            if a[p * d + k] == 0.0 || !a[p * d + k].is_finite() {
                return None;
            }
            if p != k {
                for c in 0..d {
                    a.swap(k * d + c, p * d + c);
                }
                perm.swap(k, p);
            }
            let pivot = a[k * d + k];
            for i in k + 1..d {
                let f = a[i * d + k] / pivot;
                a[i * d + k] = f;
                for c in k + 1..d {
                    a[i * d + c] -= f * a[k * d + c];
                }
            }
        }
        Some(Lu { d, lu: a, perm })
    }

    /// `log|det A|`.
    pub fn log_abs_det(&self) -> f64 {
        (0..self.d).map(|k| self.lu[k * self.d + k].abs().ln()).sum()
    }

    /// `x` with `A x = b`.
    pub fn solve(&self, b: &[f64]) -> Vec<f64> {
        let d = self.d;
        let mut x: Vec<f64> = self.perm.iter().map(|&r| b[r]).collect();
        for i in 0..d {
            for j in 0..i {
                x[i] -= self.lu[i * d + j] * x[j];
            }
        }
        for i in (0..d).rev() {
            for j in i + 1..d {
                x[i] -= self.lu[i * d + j] * x[j];
            }
            x[i] /= self.lu[i * d + i];
        }
        x
    }

    /// `A⁻ᵀ`, row-major: column `c` of `A⁻¹` is row `c` here.
    pub fn inverse_transpose(&self) -> Vec<f64> {
        let d = self.d;
        let mut out = Vec::with_capacity(d * d);
        let mut e = vec![0.0; d];
        for c in 0..d {
            e[c] = 1.0;
            out.extend(self.solve(&e));
            e[c] = 0.0;
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::Lu;

    #[test]
    fn solves_and_inverts_with_pivoting() {
        // A zero leading entry: without row exchanges the first pivot is 0.
        let a = vec![0.0, 2.0, 1.0, 1.0, 1.0, 0.0, 3.0, 0.0, 5.0];
        let lu = Lu::factor(a.clone(), 3).expect("non-singular");
        let b = [1.0, -2.0, 4.0];
        let x = lu.solve(&b);
        for r in 0..3 {
            let ax: f64 = (0..3).map(|c| a[r * 3 + c] * x[c]).sum();
            assert!((ax - b[r]).abs() < 1e-13, "row {r}: {ax} vs {}", b[r]);
        }
        let inv_t = lu.inverse_transpose();
        for r in 0..3 {
            for c in 0..3 {
                // (A A⁻¹)[r][c] = Σ_k A[r][k] A⁻¹[k][c] = Σ_k A[r][k] A⁻ᵀ[c][k].
                let v: f64 = (0..3).map(|k| a[r * 3 + k] * inv_t[c * 3 + k]).sum();
                assert!((v - f64::from(r == c)).abs() < 1e-13);
            }
        }
        assert!((lu.log_abs_det() - 13f64.ln()).abs() < 1e-13, "det = -13");
        assert!(Lu::factor(vec![1.0, 2.0, 2.0, 4.0], 2).is_none());
        assert!(Lu::factor(vec![f64::NAN, 0.0, 0.0, 1.0], 2).is_none());
    }
}
