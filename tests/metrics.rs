//! Metrics against known answers: the assignment solver against brute
//! force, exact/sliced W2 against sorted matching, hand cases and the
//! Gaussian closed forms, MMD and energy distance against hand sums and
//! their null distribution, Monte Carlo KL against the closed form,
//! bits/dim numbers, bad inputs, and bit-identical results across thread
//! counts.

use wasserflow::backend::cpu::simd::{Isa, with_isa};
use wasserflow::data::GaussianMixture;
use wasserflow::metrics::linalg::{matmul, sqrt_psd, symmetric_eigen};
use wasserflow::metrics::{
    Bandwidth, bits_per_dim, bits_per_dim_dequantized, energy_distance, exact_w2, fitted_gaussian_w2, gaussian_kl,
    gaussian_w2, inversion_error, kl_monte_carlo, mean_covariance, mean_nll, mmd2, sliced_w2, solve_assignment,
    solve_assignment_from, w2,
};
use wasserflow::{Error, Rng, Tensor};

fn points(data: Vec<f64>, d: usize) -> Tensor<f64> {
    let n = data.len() / d;
    Tensor::from_vec(data, [n, d]).unwrap()
}

/// `n` draws of `N(mean, L Lᵀ)` for a lower-triangular `L` (row-major).
fn gaussian_sample(n: usize, mean: &[f64], chol: &[f64], rng: &mut Rng) -> Tensor<f64> {
    let d = mean.len();
    let mut out = Vec::with_capacity(n * d);
    for _ in 0..n {
        let z: Vec<f64> = (0..d).map(|_| rng.normal()).collect();
        for i in 0..d {
            out.push(mean[i] + (0..=i).map(|k| chol[i * d + k] * z[k]).sum::<f64>());
        }
    }
    points(out, d)
}

fn permutations(n: usize) -> Vec<Vec<usize>> {
    if n == 0 {
        return vec![vec![]];
    }
    let mut out = Vec::new();
    for p in permutations(n - 1) {
        for pos in 0..=p.len() {
            let mut q = p.clone();
            q.insert(pos, n - 1);
            out.push(q);
        }
    }
    out
}

fn brute_force_min(cost: &[f64], n: usize) -> f64 {
    permutations(n).iter().map(|p| (0..n).map(|i| cost[i * n + p[i]]).sum::<f64>()).fold(f64::INFINITY, f64::min)
}

fn close(a: f64, b: f64, tol: f64) -> bool {
    (a - b).abs() <= tol
}

// ----- assignment and exact W2 ----------------------------------------------

#[test]
fn assignment_matches_brute_force_on_small_integer_matrices() {
    let mut rng = Rng::seed(11);
    for trial in 0..300 {
        let n = 1 + trial % 7;
        // Small integer ranges make many ties, the case where a greedy or
        // badly tie-broken search goes wrong.
        let range = [3, 10, 1000][trial % 3];
        let cost: Vec<f64> = (0..n * n).map(|_| rng.below(range) as f64).collect();
        let a = solve_assignment(&cost, n).unwrap();
        let mut seen = a.row_to_col.clone();
        seen.sort();
        assert_eq!(seen, (0..n).collect::<Vec<_>>(), "not a permutation: {:?}", a.row_to_col);
        let recomputed: f64 = (0..n).map(|i| cost[i * n + a.row_to_col[i]]).sum();
        assert_eq!(recomputed, a.total_cost);
        // Integer costs: the optimum is exact in f64.
        let optimum = brute_force_min(&cost, n);
        assert_eq!(a.total_cost, optimum, "trial {trial}, n {n}, cost {cost:?}");
        // Any starting column potentials give the same optimum.
        let potentials: Vec<f64> = (0..n).map(|_| rng.uniform_in(-20.0, 20.0).round()).collect();
        let warm = solve_assignment_from(&cost, n, Some(&potentials)).unwrap();
        assert_eq!(warm.total_cost, optimum, "trial {trial}, potentials {potentials:?}");
    }
}

#[test]
fn assignment_handles_negative_costs_and_a_known_optimum() {
    // The anti-diagonal is the unique optimum (−3 on each row).
    let cost = vec![0.0, 0.0, -3.0, 0.0, -3.0, 0.0, -3.0, 0.0, 0.0];
    let a = solve_assignment(&cost, 3).unwrap();
    assert_eq!(a.row_to_col, vec![2, 1, 0]);
    assert_eq!(a.total_cost, -9.0);
}

#[test]
fn exact_w2_matches_brute_force_on_small_point_sets() {
    let mut rng = Rng::seed(5);
    for n in 1..=7 {
        for _ in 0..5 {
            let x = Tensor::<f64>::randn([n, 3], &mut rng).unwrap();
            let y = Tensor::<f64>::rand_uniform([n, 3], -2.0, 2.0, &mut rng).unwrap();
            let (xv, yv) = (x.to_vec().unwrap(), y.to_vec().unwrap());
            let cost: Vec<f64> = (0..n * n)
                .map(|k| {
                    let (i, j) = (k / n, k % n);
                    (0..3).map(|c| (xv[i * 3 + c] - yv[j * 3 + c]).powi(2)).sum()
                })
                .collect();
            let expected = brute_force_min(&cost, n) / n as f64;
            let r = exact_w2(&x, &y).unwrap();
            assert!(close(r.squared, expected, 1e-12 * expected.max(1.0)), "n {n}: {} vs {expected}", r.squared);
            assert!(close(r.value, expected.sqrt(), 1e-12));
            assert_eq!(r.method, "exact");
        }
    }
}

#[test]
fn exact_and_sliced_w2_in_one_dimension_are_the_sorted_matching() {
    let mut rng = Rng::seed(21);
    let n = 700;
    let x = Tensor::<f64>::randn([n, 1], &mut rng).unwrap();
    let y = Tensor::<f64>::rand_uniform([n, 1], -1.0, 3.0, &mut rng).unwrap();
    let mut xs = x.to_vec().unwrap();
    let mut ys = y.to_vec().unwrap();
    xs.sort_by(f64::total_cmp);
    ys.sort_by(f64::total_cmp);
    let sorted: f64 = xs.iter().zip(&ys).map(|(a, b)| (a - b) * (a - b)).sum::<f64>() / n as f64;
    let exact = exact_w2(&x, &y).unwrap();
    let sliced = sliced_w2(&x, &y, 5, &mut Rng::seed(1)).unwrap();
    assert!(close(exact.squared, sorted, 1e-10 * sorted), "{} vs {sorted}", exact.squared);
    // Every direction in 1-D is ±1: the same sorted matching, up to rounding.
    assert!(close(sliced.squared, sorted, 1e-12 * sorted), "{} vs {sorted}", sliced.squared);
    assert_eq!(sliced.method, "sliced");
    assert_eq!(sliced.projections, 5);
}

#[test]
fn sliced_w2_of_unequal_sizes_integrates_the_quantile_functions() {
    // Quantiles of {0, 1}: 0 on [0, ½), 1 on [½, 1); of {0, ½, 1}: 0, ½, 1 on
    // thirds. They differ by ½ on [⅓, ⅔): W2² = ⅓ · ¼ = 1/12.
    let r = sliced_w2(&points(vec![0.0, 1.0], 1), &points(vec![0.0, 0.5, 1.0], 1), 3, &mut Rng::seed(0)).unwrap();
    assert!(close(r.squared, 1.0 / 12.0, 1e-15), "{}", r.squared);
    // A sample against itself repeated has the same empirical measure.
    let mut rng = Rng::seed(2);
    let x = Tensor::<f64>::randn([50, 3], &mut rng).unwrap();
    let twice = Tensor::concat(&[&x, &x], 0).unwrap();
    let r = sliced_w2(&x, &twice, 20, &mut rng).unwrap();
    assert!(r.squared < 1e-24, "{}", r.squared);
}

#[test]
fn exact_w2_between_gaussian_samples_is_close_to_the_bures_distance() {
    // X ~ N(0, I), Y ~ N((6, 0), diag(1, 4)): W2² = 36 + (1 − 1)² + (1 − 2)² = 37.
    let n = 1500;
    let mut rng = Rng::seed(99);
    let x = gaussian_sample(n, &[0.0, 0.0], &[1.0, 0.0, 0.0, 1.0], &mut rng);
    let y = gaussian_sample(n, &[6.0, 0.0], &[1.0, 0.0, 0.0, 2.0], &mut rng);
    let exact = exact_w2(&x, &y).unwrap();
    let bures = gaussian_w2(&[0.0, 0.0], &[1.0, 0.0, 0.0, 1.0], &[6.0, 0.0], &[1.0, 0.0, 0.0, 4.0]).unwrap();
    assert!(close(bures.squared, 37.0, 1e-12));
    // Against the population value the sampling noise dominates: the mean
    // term |m̂1 − m̂2|² moves by 2 · 6 · N(0, (1 + 1)/n) ≈ ±0.44 (one sd); the
    // upward bias of the empirical W2² in 2-D is O(log n / n), far smaller.
    // 4 sd of the mean term:
    assert!(close(exact.squared, 37.0, 4.0 * 12.0 * (2.0 / n as f64).sqrt()), "{}", exact.squared);
    // Sharper: Gelbrich's bound says any two measures are at least as far
    // apart as the Gaussians with their means and covariances, so with the
    // samples' own moments (1/n covariances) the Bures value is a lower
    // bound, and the gap is only the non-Gaussianity of the finite samples,
    // the O(log n / n) sampling floor above. That floor is measured here as
    // the exact W2² between two independent samples of Y's distribution
    // (≈ 0.05; the gap is ≈ 0.03), and the gap must stay below twice it.
    let (m1, mut s1) = mean_covariance(&x).unwrap();
    let (m2, mut s2) = mean_covariance(&y).unwrap();
    let to_population = (n - 1) as f64 / n as f64;
    s1.iter_mut().chain(s2.iter_mut()).for_each(|v| *v *= to_population);
    let gelbrich = gaussian_w2(&m1, &s1, &m2, &s2).unwrap().squared;
    assert!(exact.squared >= gelbrich - 1e-9, "{} < {gelbrich}", exact.squared);
    let y_again = gaussian_sample(n, &[6.0, 0.0], &[1.0, 0.0, 0.0, 2.0], &mut rng);
    let floor = exact_w2(&y, &y_again).unwrap().squared;
    assert!(floor > 0.0 && floor < 0.2, "floor {floor}");
    assert!(exact.squared - gelbrich < 2.0 * floor, "gap {} vs floor {floor}", exact.squared - gelbrich);
    // The plug-in FID-style value uses (n − 1) covariances: close to it too.
    let fitted = fitted_gaussian_w2(&x, &y).unwrap().squared;
    assert!(close(fitted, gelbrich, 0.01), "{fitted} vs {gelbrich}");
}

#[test]
fn w2_picks_exact_or_sliced_by_size() {
    let mut rng = Rng::seed(3);
    let a = Tensor::<f64>::randn([20, 2], &mut rng).unwrap();
    let b = Tensor::<f64>::randn([20, 2], &mut rng).unwrap();
    let c = Tensor::<f64>::randn([21, 2], &mut rng).unwrap();
    let big_a = Tensor::<f64>::randn([2001, 2], &mut rng).unwrap();
    let big_b = Tensor::<f64>::randn([2001, 2], &mut rng).unwrap();
    assert_eq!(w2(&a, &b, &mut rng).unwrap().method, "exact");
    let unequal = w2(&a, &c, &mut rng).unwrap();
    assert_eq!((unequal.method, unequal.projections), ("sliced", 256));
    assert_eq!(w2(&big_a, &big_b, &mut rng).unwrap().method, "sliced");
}

// ----- Gaussian closed forms ------------------------------------------------

#[test]
fn gaussian_w2_hand_cases() {
    // Diagonal (commuting): |Δm|² + Σ (√a − √b)² = 14 + 1 + 1 + 1.
    let r = gaussian_w2(
        &[1.0, 2.0, 3.0],
        &[1.0, 0.0, 0.0, 0.0, 4.0, 0.0, 0.0, 0.0, 9.0],
        &[0.0; 3],
        &[4.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 16.0],
    )
    .unwrap();
    assert!(close(r.squared, 17.0, 1e-12), "{}", r.squared);
    assert_eq!(r.method, "gaussian");
    // Commuting but not diagonal: S = R diag(·) Rᵀ with one rotation R, so the
    // distance is |S1^½ − S2^½|_F² = Σ (√a − √b)² = (3 − 1)² + (1 − 2)² = 5.
    let (c, s) = (0.6f64, 0.8f64);
    let rot = |a: f64, b: f64| vec![c * c * a + s * s * b, c * s * (a - b), c * s * (a - b), s * s * a + c * c * b];
    let r = gaussian_w2(&[0.0, 0.0], &rot(9.0, 1.0), &[0.0, 0.0], &rot(1.0, 4.0)).unwrap();
    assert!(close(r.squared, 5.0, 1e-12), "{}", r.squared);
    // Non-commuting: S1 = [[2, 1], [1, 2]] (eigenvalues 3, 1), S2 = I:
    // tr S1 + 2 − 2 tr S1^½ = 6 − 2(√3 + 1).
    let s1 = [2.0, 1.0, 1.0, 2.0];
    let r = gaussian_w2(&[0.0, 0.0], &s1, &[0.0, 0.0], &[1.0, 0.0, 0.0, 1.0]).unwrap();
    assert!(close(r.squared, 4.0 - 2.0 * 3f64.sqrt(), 1e-12), "{}", r.squared);
    // Singular, non-commuting: lines along x and along y are √2 apart.
    let r = gaussian_w2(&[0.0, 0.0], &[1.0, 0.0, 0.0, 0.0], &[0.0, 0.0], &[0.0, 0.0, 0.0, 1.0]).unwrap();
    assert!(close(r.squared, 2.0, 1e-12), "{}", r.squared);
    // Symmetric in its arguments, zero on identical Gaussians, for a generic pair.
    let s2 = [3.0, -0.5, -0.5, 0.7];
    let ab = gaussian_w2(&[1.0, -1.0], &s1, &[0.0, 2.0], &s2).unwrap().squared;
    let ba = gaussian_w2(&[0.0, 2.0], &s2, &[1.0, -1.0], &s1).unwrap().squared;
    assert!(close(ab, ba, 1e-12), "{ab} vs {ba}");
    assert!(gaussian_w2(&[1.0, -1.0], &s2, &[1.0, -1.0], &s2).unwrap().squared < 1e-12);
    // 1-D: (m1 − m2)² + (σ1 − σ2)².
    let r = gaussian_w2(&[1.0], &[4.0], &[-2.0], &[0.25]).unwrap();
    assert!(close(r.squared, 9.0 + 1.5 * 1.5, 1e-12));
}

#[test]
fn jacobi_eigen_and_square_root_reconstruct_the_matrix() {
    let mut rng = Rng::seed(8);
    let d = 7;
    let b: Vec<f64> = (0..d * d).map(|_| rng.normal()).collect();
    // A = B Bᵀ + I: symmetric positive definite.
    let a: Vec<f64> = (0..d * d)
        .map(|k| (0..d).map(|t| b[(k / d) * d + t] * b[(k % d) * d + t]).sum::<f64>() + f64::from(k % (d + 1) == 0))
        .collect();
    let (lambda, v) = symmetric_eigen(&a, d).unwrap();
    for i in 0..d {
        for j in 0..d {
            let rebuilt: f64 = (0..d).map(|k| v[i * d + k] * lambda[k] * v[j * d + k]).sum();
            assert!(close(rebuilt, a[i * d + j], 1e-10 * 50.0), "({i}, {j})");
            let vtv: f64 = (0..d).map(|k| v[k * d + i] * v[k * d + j]).sum();
            assert!(close(vtv, f64::from(i == j), 1e-12));
        }
    }
    let root = sqrt_psd(&a, d, "A").unwrap();
    let squared = matmul(&root, &root, d);
    for k in 0..d * d {
        assert!(close(squared[k], a[k], 1e-10 * 50.0), "{k}: {} vs {}", squared[k], a[k]);
    }
}

#[test]
fn gaussian_kl_closed_form_hand_cases() {
    // 1-D: ln(σ2/σ1) + (σ1² + Δm²)/(2σ2²) − ½ with σ1 = 1, σ2 = 2, Δm = 1.
    let kl = gaussian_kl(&[0.0], &[1.0], &[1.0], &[4.0]).unwrap();
    assert!(close(kl, 2f64.ln() + 0.25 - 0.5, 1e-14), "{kl}");
    // Identical Gaussians.
    let s = [2.0, 0.3, 0.3, 1.0];
    assert!(gaussian_kl(&[1.0, 2.0], &s, &[1.0, 2.0], &s).unwrap().abs() < 1e-14);
    // Diagonal: a sum of 1-D terms.
    let kl = gaussian_kl(&[0.0, 0.0], &[1.0, 0.0, 0.0, 9.0], &[1.0, 0.0], &[4.0, 0.0, 0.0, 1.0]).unwrap();
    let expected = (2f64.ln() + 0.25 - 0.5) + (1f64 / 3.0).ln() + 9.0 / 2.0 - 0.5;
    assert!(close(kl, expected, 1e-13), "{kl} vs {expected}");
}

/// `log N(x; m, L Lᵀ)` for a 2-D lower-triangular `L`.
fn log_normal_2d(x: &[f64], m: &[f64], l: &[f64]) -> f64 {
    let z0 = (x[0] - m[0]) / l[0];
    let z1 = (x[1] - m[1] - l[2] * z0) / l[3];
    -0.5 * (z0 * z0 + z1 * z1) - (l[0] * l[3]).ln() - (2.0 * std::f64::consts::PI).ln()
}

#[test]
fn monte_carlo_kl_agrees_with_the_closed_form_within_three_standard_errors() {
    // Correlated 2-D pair.
    let (m1, l1) = ([0.5, -1.0], [1.0, 0.0, 0.6, 0.8]);
    let (m2, l2) = ([0.0, 0.0], [1.5, 0.0, -0.3, 1.2]);
    let cov = |l: &[f64]| vec![l[0] * l[0], l[0] * l[2], l[0] * l[2], l[2] * l[2] + l[3] * l[3]];
    let truth = gaussian_kl(&m1, &cov(&l1), &m2, &cov(&l2)).unwrap();
    let x = gaussian_sample(20_000, &m1, &l1, &mut Rng::seed(4)).to_vec().unwrap();
    let log_p: Vec<f64> = x.chunks(2).map(|p| log_normal_2d(p, &m1, &l1)).collect();
    let log_q: Vec<f64> = x.chunks(2).map(|p| log_normal_2d(p, &m2, &l2)).collect();
    let r = kl_monte_carlo(&log_p, &log_q).unwrap();
    assert_eq!(r.n, 20_000);
    assert!(r.std_error > 0.0 && r.std_error < 0.05 * truth, "{r:?}");
    assert!((r.kl - truth).abs() < 3.0 * r.std_error, "{r:?} vs {truth}");

    // Through the data module's mixtures (one component each), as the CLI uses it.
    let p = GaussianMixture::new(vec![1.0], vec![vec![1.0, 0.0, -1.0]], vec![0.7]).unwrap();
    let q = GaussianMixture::new(vec![1.0], vec![vec![0.0, 0.5, 0.0]], vec![1.3]).unwrap();
    let iso = |s: f64| vec![s * s, 0.0, 0.0, 0.0, s * s, 0.0, 0.0, 0.0, s * s];
    let truth = gaussian_kl(&[1.0, 0.0, -1.0], &iso(0.7), &[0.0, 0.5, 0.0], &iso(1.3)).unwrap();
    let samples = p.sample::<f64>(20_000, &mut Rng::seed(6)).unwrap();
    let r = kl_monte_carlo(&p.log_prob(&samples).unwrap(), &q.log_prob(&samples).unwrap()).unwrap();
    assert!((r.kl - truth).abs() < 3.0 * r.std_error, "{r:?} vs {truth}");
}

// ----- MMD and energy distance ----------------------------------------------

#[test]
fn mmd_and_energy_match_hand_sums_on_tiny_samples() {
    let x = points(vec![0.0, 1.0], 1);
    let y = points(vec![0.0, 2.0], 1);
    let k = |r: f64| (-r * r / 2.0).exp();
    let expected = k(1.0) + k(2.0) - 2.0 * (k(0.0) + k(2.0) + k(1.0) + k(1.0)) / 4.0;
    let r = mmd2(&x, &y, &Bandwidth::Fixed(vec![1.0]), &mut Rng::seed(0)).unwrap();
    assert!(close(r.mmd2, expected, 1e-15), "{} vs {expected}", r.mmd2);
    // Two bandwidths: the sum of the two single-kernel values.
    let r2 = mmd2(&x, &y, &Bandwidth::Fixed(vec![0.5]), &mut Rng::seed(0)).unwrap();
    let both = mmd2(&x, &y, &Bandwidth::Fixed(vec![1.0, 0.5]), &mut Rng::seed(0)).unwrap();
    assert!(close(both.mmd2, r.mmd2 + r2.mmd2, 1e-15));
    assert_eq!(both.bandwidths, vec![1.0, 0.5]);

    // Energy: 2 · mean|x − y| − mean_{i≠j}|x_i − x_j| − mean_{i≠j}|y_i − y_j|
    // for {0, 1} and {3, 5}: 2 · 3.5 − 1 − 2 = 4.
    let e = energy_distance(&points(vec![0.0, 1.0], 1), &points(vec![3.0, 5.0], 1)).unwrap();
    assert!(close(e, 4.0, 1e-15), "{e}");
    // In 2-D the norms are Euclidean: {(0,0), (3,4)} vs {(0,0), (0,0) + (6,8)}.
    let e = energy_distance(&points(vec![0.0, 0.0, 3.0, 4.0], 2), &points(vec![0.0, 0.0, 6.0, 8.0], 2)).unwrap();
    assert!(close(e, 2.0 * (0.0 + 10.0 + 5.0 + 5.0) / 4.0 - 5.0 - 10.0, 1e-14), "{e}");
}

/// MMD² and energy distance by the definitions, one pair at a time.
fn naive_mmd_energy(x: &[f64], y: &[f64], d: usize, sigmas: &[f64]) -> (f64, f64) {
    let (n, m) = (x.len() / d, y.len() / d);
    let dist2 = |a: &[f64], b: &[f64]| a.iter().zip(b).map(|(u, v)| (u - v) * (u - v)).sum::<f64>();
    let k = |r2: f64| sigmas.iter().map(|s| (-r2 / (2.0 * s * s)).exp()).sum::<f64>();
    let (mut kxx, mut kyy, mut kxy, mut exx, mut eyy, mut exy) = (0.0, 0.0, 0.0, 0.0, 0.0, 0.0);
    for i in 0..n {
        for j in 0..n {
            if i != j {
                let r2 = dist2(&x[i * d..(i + 1) * d], &x[j * d..(j + 1) * d]);
                kxx += k(r2);
                exx += r2.sqrt();
            }
        }
        for j in 0..m {
            let r2 = dist2(&x[i * d..(i + 1) * d], &y[j * d..(j + 1) * d]);
            kxy += k(r2);
            exy += r2.sqrt();
        }
    }
    for i in 0..m {
        for j in 0..m {
            if i != j {
                let r2 = dist2(&y[i * d..(i + 1) * d], &y[j * d..(j + 1) * d]);
                kyy += k(r2);
                eyy += r2.sqrt();
            }
        }
    }
    let (nf, mf) = (n as f64, m as f64);
    let mmd = kxx / (nf * (nf - 1.0)) + kyy / (mf * (mf - 1.0)) - 2.0 * kxy / (nf * mf);
    let energy = 2.0 * exy / (nf * mf) - exx / (nf * (nf - 1.0)) - eyy / (mf * (mf - 1.0));
    (mmd, energy)
}

#[test]
fn mmd_and_energy_match_the_definitions_in_low_and_high_dimension() {
    // Sizes that are not multiples of the blocking, and both distance paths
    // (coordinate sweeps below 16 dimensions, per-pair sums from 16 on).
    let mut rng = Rng::seed(17);
    for d in [1, 2, 5, 16, 40] {
        let x = Tensor::<f64>::randn([37, d], &mut rng).unwrap();
        let y = Tensor::<f64>::rand_uniform([53, d], -1.5, 2.0, &mut rng).unwrap();
        let sigmas = [0.7 * (d as f64).sqrt(), 2.0 * (d as f64).sqrt()];
        let (mmd_ref, energy_ref) = naive_mmd_energy(&x.to_vec().unwrap(), &y.to_vec().unwrap(), d, &sigmas);
        let mmd = mmd2(&x, &y, &Bandwidth::Fixed(sigmas.to_vec()), &mut rng).unwrap().mmd2;
        let energy = energy_distance(&x, &y).unwrap();
        // Summation order and the kernel's own exp differ: agreement to ~1e-13.
        assert!(close(mmd, mmd_ref, 1e-12 * mmd_ref.abs().max(1e-3)), "d {d}: {mmd} vs {mmd_ref}");
        assert!(close(energy, energy_ref, 1e-12 * energy_ref.abs().max(1.0)), "d {d}: {energy} vs {energy_ref}");
    }
}

#[test]
fn median_heuristic_is_the_median_pooled_distance() {
    // Pooled {0, 1, 3, 4}: distances 1, 3, 4, 2, 3, 1; median (2 + 3)/2.
    let r =
        mmd2(&points(vec![0.0, 1.0], 1), &points(vec![3.0, 4.0], 1), &Bandwidth::Median, &mut Rng::seed(0)).unwrap();
    assert_eq!(r.bandwidths, vec![2.5]);
    assert!(r.rule.contains("median"), "{}", r.rule);
}

#[test]
fn mmd_is_unbiased_for_one_dimensional_gaussians() {
    // P = N(0, 1), Q = N(1, 1), σ = 1: E k(X, X') = σ/√(σ² + 2) = E k(Y, Y'),
    // E k(X, Y) = the same · exp(−1/(2(σ² + 2))), so MMD² = 2/√3 (1 − e^{−1/6}).
    let truth = 2.0 / 3f64.sqrt() * (1.0 - (-1.0f64 / 6.0).exp());
    let mut rng = Rng::seed(13);
    let reps = 8;
    let values: Vec<f64> = (0..reps)
        .map(|_| {
            let x = Tensor::<f64>::randn([1000, 1], &mut rng).unwrap();
            let y = Tensor::<f64>::randn([1000, 1], &mut rng).unwrap().scale(1.0).unwrap();
            let y = points(y.to_vec().unwrap().iter().map(|v| v + 1.0).collect(), 1);
            mmd2(&x, &y, &Bandwidth::Fixed(vec![1.0]), &mut rng).unwrap().mmd2
        })
        .collect();
    let mean = values.iter().sum::<f64>() / reps as f64;
    let sd = (values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (reps - 1) as f64).sqrt();
    assert!((mean - truth).abs() < 4.0 * sd / (reps as f64).sqrt(), "mean {mean}, sd {sd}, truth {truth}");
}

/// Mean and standard deviation of a statistic over `reps` pairs of
/// independent samples, the second shifted by `shift` along the first axis.
fn replicate(reps: usize, shift: f64, seed: u64, stat: impl Fn(&Tensor<f64>, &Tensor<f64>) -> f64) -> (f64, f64) {
    let mut rng = Rng::seed(seed);
    let values: Vec<f64> = (0..reps)
        .map(|_| {
            let x = Tensor::<f64>::randn([400, 2], &mut rng).unwrap();
            let mut y = Tensor::<f64>::randn([400, 2], &mut rng).unwrap().to_vec().unwrap();
            y.iter_mut().step_by(2).for_each(|v| *v += shift);
            stat(&x, &points(y, 2))
        })
        .collect();
    let mean = values.iter().sum::<f64>() / reps as f64;
    let sd = (values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (reps - 1) as f64).sqrt();
    (mean, sd)
}

/// A two-sample statistic.
type Statistic = dyn Fn(&Tensor<f64>, &Tensor<f64>) -> f64;

#[test]
fn mmd_and_energy_vanish_for_one_distribution_and_not_for_a_shifted_one() {
    let reps = 20;
    let stats: [(&str, Box<Statistic>); 3] = [
        ("mmd median", Box::new(|x, y| mmd2(x, y, &Bandwidth::Median, &mut Rng::seed(1)).unwrap().mmd2)),
        (
            "mmd multi-scale",
            Box::new(|x, y| mmd2(x, y, &Bandwidth::Fixed(vec![0.2, 1.0, 5.0]), &mut Rng::seed(1)).unwrap().mmd2),
        ),
        ("energy", Box::new(|x, y| energy_distance(x, y).unwrap())),
    ];
    for (name, stat) in &stats {
        let (null_mean, null_sd) = replicate(reps, 0.0, 30, stat);
        // Unbiased: the mean over replicates is within 3 standard errors of 0.
        assert!(null_mean.abs() < 3.0 * null_sd / (reps as f64).sqrt(), "{name}: null mean {null_mean}, sd {null_sd}");
        // A shift of half a standard deviation stands far outside the null spread.
        let (alt_mean, alt_sd) = replicate(reps, 0.5, 31, stat);
        assert!(
            alt_mean > 10.0 * null_sd && alt_mean > 3.0 * alt_sd,
            "{name}: {alt_mean} ± {alt_sd} vs null sd {null_sd}"
        );
    }
}

// ----- likelihood and inversion ---------------------------------------------

#[test]
fn bits_per_dim_numbers() {
    let ln2 = std::f64::consts::LN_2;
    assert!(close(bits_per_dim(3.0 * 10.0 * ln2, 10).unwrap(), 3.0, 1e-14));
    // 1000 nats on 784 dims, 256 levels: 1000/(784 ln 2) + 8.
    assert!(close(bits_per_dim_dequantized(1000.0, 784, 256).unwrap(), 9.840172246031841, 1e-12));
    // A density of 1 on [0, 1]^d (NLL 0) is 8 bits per 8-bit pixel; 2 levels, 1 bit.
    assert!(close(bits_per_dim_dequantized(0.0, 5, 256).unwrap(), 8.0, 1e-14));
    assert!(close(bits_per_dim_dequantized(0.0, 5, 2).unwrap(), 1.0, 1e-14));
    assert!(close(bits_per_dim_dequantized(-3.0 * 256f64.ln(), 3, 256).unwrap(), 0.0, 1e-14));
    assert!(close(mean_nll(&[-1.0, -2.0, -3.0]).unwrap(), 2.0, 1e-15));
    assert!(matches!(bits_per_dim(1.0, 0), Err(Error::InvalidArgument(_))));
    assert!(matches!(bits_per_dim_dequantized(1.0, 3, 0), Err(Error::InvalidArgument(_))));
    assert!(matches!(bits_per_dim(f64::NAN, 3), Err(Error::NonFinite(_))));
    assert!(matches!(mean_nll(&[]), Err(Error::InvalidArgument(_))));
    match mean_nll(&[-1.0, f64::NEG_INFINITY, -2.0]) {
        Err(Error::NonFinite(m)) => assert!(m.contains("index 1"), "{m}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn inversion_error_is_mean_and_max_of_point_norms() {
    let x = points(vec![0.0, 0.0, 1.0, 1.0, 2.0, 2.0, 3.0, 3.0], 2);
    let back = points(vec![0.0, 0.0, 4.0, 5.0, 2.0, 2.0, 3.0, 2.0], 2);
    let r = inversion_error(&x, &back).unwrap();
    assert!(close(r.mean, (5.0 + 1.0) / 4.0, 1e-15));
    assert_eq!(r.max, 5.0);
    // f32 inputs are read in f64.
    let r32 = inversion_error(&x.cast::<f32>().unwrap(), &back.cast::<f32>().unwrap()).unwrap();
    assert_eq!(r32, r);
}

// ----- bad inputs -----------------------------------------------------------

#[test]
fn bad_inputs_are_errors() {
    let mut rng = Rng::seed(1);
    let a = Tensor::<f64>::randn([10, 2], &mut rng).unwrap();
    let b3 = Tensor::<f64>::randn([10, 3], &mut rng).unwrap();
    let empty = Tensor::<f64>::from_vec(vec![], [0, 2]).unwrap();
    let mut nan = a.to_vec().unwrap();
    nan[7] = f64::NAN;
    let nan = points(nan, 2);
    let flat = Tensor::<f64>::from_vec(vec![1.0, 2.0, 3.0], [3]).unwrap();
    let med = Bandwidth::Median;
    let shape = |r: Result<_, Error>| matches!(r, Err(Error::Shape(_)));

    assert!(shape(mmd2(&a, &b3, &med, &mut rng).map(|_| ())));
    assert!(shape(energy_distance(&a, &b3).map(|_| ())));
    assert!(shape(exact_w2(&a, &b3).map(|_| ())));
    assert!(shape(sliced_w2(&a, &b3, 4, &mut rng).map(|_| ())));
    assert!(shape(fitted_gaussian_w2(&a, &b3).map(|_| ())));
    assert!(shape(mmd2(&a, &empty, &med, &mut rng).map(|_| ())));
    assert!(shape(energy_distance(&empty, &a).map(|_| ())));
    assert!(shape(sliced_w2(&a, &empty, 4, &mut rng).map(|_| ())));
    assert!(shape(exact_w2(&flat, &flat).map(|_| ())));
    assert!(shape(inversion_error(&a, &b3).map(|_| ())));
    match mmd2(&a, &nan, &med, &mut rng) {
        Err(Error::NonFinite(m)) => assert!(m.contains("point 3"), "{m}"),
        other => panic!("{other:?}"),
    }
    assert!(matches!(energy_distance(&nan, &a), Err(Error::NonFinite(_))));
    assert!(matches!(exact_w2(&a, &nan), Err(Error::NonFinite(_))));
    assert!(matches!(inversion_error(&a, &nan), Err(Error::NonFinite(_))));
    assert!(matches!(mmd2(&a, &a, &Bandwidth::Fixed(vec![1.0, 0.0]), &mut rng), Err(Error::InvalidArgument(_))));
    assert!(matches!(mmd2(&a, &a, &Bandwidth::Fixed(vec![]), &mut rng), Err(Error::InvalidArgument(_))));
    let same = points(vec![1.0; 20], 2);
    assert!(matches!(mmd2(&same, &same, &med, &mut rng), Err(Error::InvalidArgument(_))));
    assert!(matches!(sliced_w2(&a, &a, 0, &mut rng), Err(Error::InvalidArgument(_))));

    match exact_w2(&a, &Tensor::<f64>::randn([11, 2], &mut rng).unwrap()) {
        Err(Error::InvalidArgument(m)) => assert!(m.contains("sliced"), "{m}"),
        other => panic!("{other:?}"),
    }
    let big = Tensor::<f64>::zeros([2001, 2]);
    match exact_w2(&big, &big) {
        Err(Error::InvalidArgument(m)) => assert!(m.contains("sliced"), "{m}"),
        other => panic!("{other:?}"),
    }

    assert!(matches!(solve_assignment(&[1.0, 2.0, 3.0], 2), Err(Error::InvalidArgument(_))));
    assert!(matches!(solve_assignment(&[1.0, f64::INFINITY, 3.0, 4.0], 2), Err(Error::NonFinite(_))));

    let i2 = [1.0, 0.0, 0.0, 1.0];
    assert!(shape(gaussian_w2(&[0.0, 0.0], &i2, &[0.0], &[1.0]).map(|_| ())));
    assert!(shape(gaussian_w2(&[0.0, 0.0], &[1.0, 0.0, 0.0], &[0.0, 0.0], &i2).map(|_| ())));
    assert!(matches!(
        gaussian_w2(&[0.0, 0.0], &[1.0, 0.5, 0.0, 1.0], &[0.0, 0.0], &i2),
        Err(Error::InvalidArgument(_))
    ));
    assert!(matches!(
        gaussian_w2(&[0.0, 0.0], &[1.0, 0.0, 0.0, -1.0], &[0.0, 0.0], &i2),
        Err(Error::InvalidArgument(_))
    ));
    assert!(matches!(gaussian_w2(&[f64::NAN, 0.0], &i2, &[0.0, 0.0], &i2), Err(Error::NonFinite(_))));
    assert!(matches!(
        gaussian_kl(&[0.0, 0.0], &i2, &[0.0, 0.0], &[1.0, 0.0, 0.0, 0.0]),
        Err(Error::InvalidArgument(_))
    ));

    assert!(shape(kl_monte_carlo(&[0.0, 1.0], &[0.0]).map(|_| ())));
    assert!(matches!(kl_monte_carlo(&[0.0], &[0.0]), Err(Error::InvalidArgument(_))));
    match kl_monte_carlo(&[0.0, 1.0, 2.0], &[0.0, 1.0, f64::NEG_INFINITY]) {
        Err(Error::NonFinite(m)) => assert!(m.contains("log q") && m.contains("sample 2"), "{m}"),
        other => panic!("{other:?}"),
    }
}

// ----- determinism ----------------------------------------------------------

#[test]
fn results_are_bit_identical_for_one_and_two_threads_and_any_instruction_set() {
    let mut rng = Rng::seed(42);
    let x = Tensor::<f64>::randn([3001, 3], &mut rng).unwrap();
    let y = Tensor::<f32>::rand_uniform([2500, 3], -2.0, 2.0, &mut rng).unwrap().cast::<f64>().unwrap();
    let xs = x.slice(0, 0, 600).unwrap();
    let ys = y.slice(0, 0, 600).unwrap();
    let wide_x = Tensor::<f64>::randn([900, 24], &mut rng).unwrap();
    let wide_y = Tensor::<f64>::randn([700, 24], &mut rng).unwrap();
    let run = || {
        let m = mmd2(&x, &y, &Bandwidth::Median, &mut Rng::seed(7)).unwrap();
        let f = mmd2(&x, &y, &Bandwidth::Fixed(vec![0.3, 2.0]), &mut Rng::seed(7)).unwrap();
        let e = energy_distance(&x, &y).unwrap();
        let s = sliced_w2(&x, &y, 64, &mut Rng::seed(7)).unwrap();
        let w = exact_w2(&xs, &ys).unwrap();
        let wm = mmd2(&wide_x, &wide_y, &Bandwidth::Median, &mut Rng::seed(7)).unwrap();
        let we = energy_distance(&wide_x, &wide_y).unwrap();
        [m.mmd2, m.bandwidths[0], f.mmd2, e, s.squared, w.squared, wm.mmd2, we].map(f64::to_bits)
    };
    let pool = |k: usize| rayon::ThreadPoolBuilder::new().num_threads(k).build().unwrap();
    let one = pool(1).install(run);
    let two = pool(2).install(run);
    assert_eq!(one, two);
    // The pair loops are compiled per instruction set: the baseline build gives the same bits.
    let portable = pool(2).install(|| with_isa(Isa::Portable, run));
    assert_eq!(one, portable, "best ISA here: {:?}", wasserflow::backend::cpu::simd::detected_isa());
    // Positive and of a plausible size, so the comparison is not of zeros.
    assert!(f64::from_bits(one[0]) > 0.0 && f64::from_bits(one[3]) > 0.0 && f64::from_bits(one[5]) > 0.0);
}
