//! Maximum mean discrepancy with Gaussian kernels: the unbiased estimate of
//! MMD² between two samples, with the bandwidth rule reported alongside.

use rayon::prelude::*;

use super::pairwise::{cross_sum, within_sum};
use super::points::{Points, same_dim, squared_distance};
use crate::tensor::random::Rng;
use crate::tensor::{Float, Tensor};
use crate::{Result, invalid_arg};

/// Points taken from each sample for the median heuristic.
pub const MEDIAN_SUBSAMPLE: usize = 1000;

/// How the Gaussian kernel bandwidths σ are chosen.
#[derive(Clone, Debug, PartialEq)]
pub enum Bandwidth {
    /// One kernel, σ = the median of the pairwise Euclidean distances
    /// `|z_a − z_b|`, `a < b`, within the pooled subsample `Z` made of
    /// `min(n_x, 1000)` points of `x` and `min(n_y, 1000)` points of `y`,
    /// each drawn without replacement by a seeded random permutation (all
    /// points when a sample has at most 1000). With an even number of
    /// distances the median is the mean of the two middle ones.
    Median,
    /// The sum of one Gaussian kernel per listed σ (multi-scale MMD); every σ
    /// must be finite and positive.
    Fixed(Vec<f64>),
}

/// An MMD² estimate and the bandwidths it used.
#[derive(Clone, Debug, PartialEq)]
pub struct MmdReport {
    /// The unbiased estimate of MMD² (see [`mmd2`]); units of the kernel,
    /// which is dimensionless (`k(x, x) = 1` per bandwidth).
    pub mmd2: f64,
    /// The σ of each kernel in the sum, in the units of the points.
    pub bandwidths: Vec<f64>,
    /// The rule that chose them, in words, for reports.
    pub rule: String,
}

/// Squared maximum mean discrepancy between the samples `x` `[n, d]` and
/// `y` `[m, d]` for the kernel `k(a, b) = Σ_σ exp(−|a − b|² / (2σ²))`,
/// estimated by the unbiased U-statistic
///
/// `MMD²_u = 1/(n(n−1)) Σ_{i≠j} k(x_i, x_j) + 1/(m(m−1)) Σ_{i≠j} k(y_i, y_j)
///          − 2/(nm) Σ_{i,j} k(x_i, y_j)`.
///
/// Its expectation is exactly MMD²(P, Q), which is 0 when the samples come
/// from one distribution; the estimate then fluctuates around 0 and can be
/// slightly negative (by O(1/n)). It is not clipped. Each kernel
/// contributes at most 2 (so the value lies in `[−2K, 2K]` for `K` kernels).
///
/// `rng` draws the subsample for [`Bandwidth::Median`] and is not used
/// otherwise. Cost O((n + m)² d), parallel over rows with rayon and
/// bit-identical for any thread count. Errors if a sample has fewer than 2
/// points, dimensions differ, a value is non-finite, a fixed σ is not
/// positive and finite, or the median distance is 0 (duplicate points).
pub fn mmd2<T: Float>(x: &Tensor<T>, y: &Tensor<T>, bandwidth: &Bandwidth, rng: &mut Rng) -> Result<MmdReport> {
    let xs = Points::read(x, "x", 2)?;
    let ys = Points::read(y, "y", 2)?;
    same_dim(&xs, &ys, "MMD")?;
    let (bandwidths, rule) = match bandwidth {
        Bandwidth::Median => {
            let sigma = median_distance(&xs, &ys, rng);
            if sigma.is_nan() || sigma <= 0.0 {
                invalid_arg!("the median heuristic gave bandwidth 0 (the samples are mostly duplicate points)");
            }
            let rule = format!(
                "median heuristic: sigma = median pairwise distance in a pooled subsample of {} + {} points",
                xs.n.min(MEDIAN_SUBSAMPLE),
                ys.n.min(MEDIAN_SUBSAMPLE)
            );
            (vec![sigma], rule)
        }
        Bandwidth::Fixed(list) => {
            if list.is_empty() {
                invalid_arg!("MMD needs at least one fixed bandwidth");
            }
            if let Some(s) = list.iter().find(|s| !(s.is_finite() && **s > 0.0)) {
                invalid_arg!("MMD bandwidths must be finite and positive, got {s}");
            }
            (list.clone(), format!("fixed: sum of {} Gaussian kernels", list.len()))
        }
    };
    // exp(−r²/(2σ²)) = exp(−r² · c) with c = 1/(2σ²).
    let coefs: Vec<f64> = bandwidths.iter().map(|s| 0.5 / (s * s)).collect();
    let mmd2 = if let [c] = coefs[..] {
        u_statistic(
            &xs,
            &ys,
            #[inline(always)]
            |r2, out| {
                for (o, &r) in out.iter_mut().zip(r2) {
                    *o = exp_nonpositive(-r * c);
                }
            },
        )
    } else {
        // Kernels added in list order, the same for every pair.
        u_statistic(
            &xs,
            &ys,
            #[inline(always)]
            |r2, out| {
                out.fill(0.0);
                for &c in &coefs {
                    for (o, &r) in out.iter_mut().zip(r2) {
                        *o += exp_nonpositive(-r * c);
                    }
                }
            },
        )
    };
    Ok(MmdReport { mmd2, bandwidths, rule })
}

/// The unbiased MMD² of [`mmd2`] for the kernel `k(a, b) = kernel(|a − b|²)`
/// (applied to slices of squared distances).
fn u_statistic(xs: &Points, ys: &Points, kernel: impl Fn(&[f64], &mut [f64]) + Sync + Copy) -> f64 {
    let (n, m) = (xs.n as f64, ys.n as f64);
    let kxx = 2.0 * within_sum(xs, kernel) / (n * (n - 1.0));
    let kyy = 2.0 * within_sum(ys, kernel) / (m * (m - 1.0));
    let kxy = cross_sum(xs, ys, kernel) / (n * m);
    kxx + kyy - 2.0 * kxy
}

/// The median heuristic of [`Bandwidth::Median`].
fn median_distance(x: &Points, y: &Points, rng: &mut Rng) -> f64 {
    let mut pool: Vec<&[f64]> = Vec::new();
    for p in [x, y] {
        let take = p.n.min(MEDIAN_SUBSAMPLE);
        let idx = if take == p.n { (0..p.n).collect() } else { rng.permutation(p.n) };
        pool.extend(idx[..take].iter().map(|&i| p.row(i)));
    }
    // Rows in parallel, concatenated in row order: the same list for any thread count.
    let rows: Vec<Vec<f64>> = (0..pool.len())
        .into_par_iter()
        .map(|a| pool[a + 1..].iter().map(|b| squared_distance(pool[a], b)).collect())
        .collect();
    let mut dists: Vec<f64> = rows.concat();
    // Squared distances have the same order statistics as distances.
    let k = dists.len();
    let (_, &mut upper, _) = dists.select_nth_unstable_by(k / 2, f64::total_cmp);
    if k % 2 == 1 {
        upper.sqrt()
    } else {
        let lower = dists[..k / 2].iter().copied().fold(f64::NEG_INFINITY, f64::max);
        0.5 * (lower.sqrt() + upper.sqrt())
    }
}

/// `e^x` for `x ≤ 0` from arithmetic and bit operations only, so that the
/// kernel loop vectorizes (a libm call per pair would dominate MMD's cost).
/// Cody–Waite reduction `x = n ln 2 + r`, `|r| ≤ ln 2 / 2`, and the Taylor
/// polynomial of degree 13 (truncation below 1e-17 relative): within a few
/// ulp of the correctly rounded value. Results below 2^−1022 (`x < −708`)
/// are flushed to 0; kernel values that small do not change any sum.
#[inline(always)]
fn exp_nonpositive(x: f64) -> f64 {
    const LN2_HI: f64 = 6.931_471_803_691_238e-1; // 33 bits: n · LN2_HI is exact
    const LN2_LO: f64 = 1.908_214_929_270_587_7e-10;
    const SHIFTER: f64 = 6_755_399_441_055_744.0; // 1.5 · 2^52: adding it rounds to an integer
    /// 1/k! for k = 0..=13.
    const INV_FACTORIAL: [f64; 14] = {
        let mut t = [1.0; 14];
        let mut k = 1;
        while k < 14 {
            t[k] = t[k - 1] / k as f64;
            k += 1;
        }
        t
    };
    let clamped = x.max(-708.0);
    let shifted = clamped * std::f64::consts::LOG2_E + SHIFTER;
    let n = shifted - SHIFTER;
    let r = (clamped - n * LN2_HI) - n * LN2_LO;
    let mut poly = INV_FACTORIAL[13];
    for k in (0..13).rev() {
        poly = poly * r + INV_FACTORIAL[k];
    }
    // n is in [−1022, 0]: its two's complement sits in the low bits of `shifted`.
    let n_int = shifted.to_bits().wrapping_sub(SHIFTER.to_bits()) as i64;
    let scale = f64::from_bits(((n_int + 1023) as u64) << 52);
    if x < -708.0 { 0.0 } else { poly * scale }
}

#[cfg(test)]
mod tests {
    use super::exp_nonpositive;

    #[test]
    fn fast_exp_matches_the_standard_library() {
        let mut worst = 0.0f64;
        for k in 0..=200_000 {
            let x = -708.0 * k as f64 / 200_000.0;
            let (fast, exact) = (exp_nonpositive(x), x.exp());
            worst = worst.max((fast - exact).abs() / exact);
        }
        assert!(worst < 4.0 * f64::EPSILON, "worst relative error {worst:e}");
        assert_eq!(exp_nonpositive(0.0), 1.0);
        assert_eq!(exp_nonpositive(-709.0), 0.0);
        assert_eq!(exp_nonpositive(f64::NEG_INFINITY), 0.0);
    }
}
