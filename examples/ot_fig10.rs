//! The OT-flow experiments of RESULTS.md (tutorial V-B): first Gaussian to
//! Gaussian against the closed-form Brenier map and W2²; then the tutorial's
//! Fig. 10 pair of Gaussian mixtures `p`, `q`: the flow's transport cost,
//! KL at both ends (classifier estimates and exact, by change of variables)
//! and inversion error, and the error of `log q/p` (known in closed form)
//! estimated telescopically along the flow, by a one-step classifier, and by
//! KDE, each classifier-based estimator fitted once per ratio seed. Prints
//! the tables; `--terms true` adds the forward bridge's terms against their
//! truth (an oracle from the flow's change of variables), `--figures DIR`
//! writes `DIR/log_ratio.png` and `DIR/trajectories.png`.
//!
//! `cargo run --release --example ot_fig10 -- [--gaussian true] [--n 10000] [--iterations 2000]
//!  [--per-block 2] [--ratio-iterations 2000] [--ratio-seeds 0,1,2] [--seed 0] [--terms false]
//!  [--ratio-lr 2e-3] [--ratio-lr-final none] [--time-conditional true]
//!  [--figures DIR] [--save DIR] [--load DIR]`

use std::time::Instant;

use wasserflow::data::GaussianMixture;
use wasserflow::flows::ot::{OtHooks, OtTerms, diagnose, log_det_jacobian};
use wasserflow::flows::ratio::{Bridge, FlowRatio, KdeRatio, fit_one_step};
use wasserflow::flows::{
    Block, BlockFlow, BlockSpec, ClassifierTraining, EvalOptions, OtConfig, OtInit, RatioModel, train_ot,
};
use wasserflow::metrics::kl_monte_carlo;
use wasserflow::plot::{Colormap, Extent, field_panels, grid_points, trajectory_panels};
use wasserflow::{Result, Rng, Tensor};

fn arg<T: std::str::FromStr>(name: &str, default: T) -> T {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .map(|v| v.parse().ok().unwrap_or_else(|| panic!("{name} {v}: not a valid value")))
        .unwrap_or(default)
}

/// The grid of the error table and the figure: 80 × 80 cells on [−5, 3] × [−5.5, 4.5].
const GRID: usize = 80;

struct Progress {
    every: usize,
}
impl OtHooks<f32> for Progress {
    fn on_iteration(&mut self, it: usize, t: &OtTerms) {
        if it.is_multiple_of(self.every) {
            eprintln!(
                "iter {it:>5}: loss {:.3}, kinetic {:.3} / {:.3}, KL est. {:.4} / {:.4}, classifier loss {:.3} / {:.3}",
                t.loss,
                t.kinetic_forward,
                t.kinetic_reverse,
                t.kl_forward,
                t.kl_reverse,
                t.classifier_loss_forward,
                t.classifier_loss_reverse
            );
        }
    }
}

fn pairs(x: &Tensor<f32>) -> Result<Vec<[f64; 2]>> {
    Ok(x.to_f64_vec()?.chunks(2).map(|c| [c[0], c[1]]).collect())
}

fn mse(estimate: &[f64], truth: &[f64], keep: &[bool]) -> f64 {
    let (mut s, mut n) = (0.0, 0usize);
    for ((e, t), k) in estimate.iter().zip(truth).zip(keep) {
        if *k {
            s += (e - t).powi(2);
            n += 1;
        }
    }
    s / n.max(1) as f64
}

/// `p = N(0, I)`, `q = N((3, 1), S)`: the learned map against the Brenier map
/// `x ↦ m + S^{1/2} x` and the exact `W2²`; the Knothe–Rosenblatt (Cholesky)
/// map `x ↦ m + L x` also pushes `p` to `q` and is shown for scale.
fn gaussian_experiment() -> Result<()> {
    use wasserflow::metrics::linalg::{cholesky, sqrt_psd};
    let (m, s) = ([3.0, 1.0], [0.5, 0.6, 0.6, 1.5]);
    let (root, chol) = (sqrt_psd(&s, 2, "S")?, cholesky(&s, 2, "S")?);
    let w2 = wasserflow::metrics::gaussian_w2(&[0.0, 0.0], &[1.0, 0.0, 0.0, 1.0], &m, &s)?;
    let mut rng = Rng::seed(11);
    let n = 4000;
    let z: Vec<f64> = (0..2 * n).map(|_| rng.normal()).collect();
    let affine = |a: &[f64], r: &[f64]| [m[0] + a[0] * r[0] + a[1] * r[1], m[1] + a[2] * r[0] + a[3] * r[1]];
    let p = Tensor::<f32>::from_vec(z.iter().map(|v| *v as f32).collect(), [n, 2])?;
    let w: Vec<f64> = (0..2 * n).map(|_| rng.normal()).collect();
    let q = Tensor::<f32>::from_vec(w.chunks(2).flat_map(|r| affine(&root, r)).map(|v| v as f32).collect(), [n, 2])?;
    let cfg = OtConfig {
        blocks: 2,
        steps_per_block: 2,
        hidden: vec![32, 32],
        iterations: 1000,
        gamma: 100.0,
        gamma_initial: Some(1.0),
        classifier: ClassifierTraining { hidden: vec![32, 32], lr: 5e-3, ..ClassifierTraining::reference() },
        classifier_warmup: 200,
        seed: 3,
        ..OtConfig::reference(2)
    };
    let started = Instant::now();
    let state = train_ot(&cfg, &p, &q, OtInit::Fresh, &mut Progress { every: 250 })?;
    let secs = started.elapsed().as_secs_f64();
    let d = diagnose(&state, &p, &q, EvalOptions::default())?;
    let tx = state.flow.transport(&p, EvalOptions::default())?.to_f64_vec()?;
    let (mut to_brenier, mut kr, mut b) = (0.0, 0.0, [0.0; 4]);
    for (i, r) in z.chunks(2).enumerate() {
        let (t, bt, kt) = ([tx[2 * i], tx[2 * i + 1]], affine(&root, r), affine(&chol, r));
        to_brenier += (t[0] - bt[0]).powi(2) + (t[1] - bt[1]).powi(2);
        kr += (kt[0] - bt[0]).powi(2) + (kt[1] - bt[1]).powi(2);
        for (k, v) in b.iter_mut().enumerate() {
            *v += (t[k / 2] - m[k / 2]) * r[k % 2] / n as f64;
        }
    }
    let fine = EvalOptions::with_step(0.01);
    let back = state.flow.invert(&state.flow.transport(&p, fine)?, fine)?;
    let inv = wasserflow::metrics::inversion_error(&p, &back)?;
    println!("## Gaussian to Gaussian: p = N(0, I), q = N((3, 1), [[0.5, 0.6], [0.6, 1.5]]), 4000 samples each");
    println!();
    println!("| quantity | value |");
    println!("|---|---:|");
    println!(
        "| training wall time | {secs:.1} s ({} iterations, {} blocks × {} RK4 steps) |",
        cfg.iterations, cfg.blocks, cfg.steps_per_block
    );
    println!("| exact W2² (Bures) | {:.4} |", w2.squared);
    println!(
        "| transport cost E\\|T(x) − x\\|² | {:.4} ({:+.1}%) |",
        d.transport_cost,
        100.0 * (d.transport_cost / w2.squared - 1.0)
    );
    println!("| kinetic energy N Σ E\\|Δx_k\\|² | {:.4} |", d.kinetic);
    println!(
        "| RMS distance of T to the Brenier map x ↦ m + S^½x | {:.4} ({:.1}% of W2) |",
        (to_brenier / n as f64).sqrt(),
        100.0 * (to_brenier / n as f64).sqrt() / w2.value
    );
    println!("| RMS distance of the Knothe–Rosenblatt map to it (for scale) | {:.4} |", (kr / n as f64).sqrt());
    println!(
        "| linear part E[(T(x) − m) xᵀ] vs S^½ | [{:.3}, {:.3}; {:.3}, {:.3}] vs [{:.3}, {:.3}; {:.3}, {:.3}] |",
        b[0], b[1], b[2], b[3], root[0], root[1], root[2], root[3]
    );
    println!("| KL(T#p ‖ q), KL(T⁻¹#q ‖ p), classifier estimates | {:.4}, {:.4} |", d.kl_forward, d.kl_reverse);
    println!("| inversion error at step 0.01 (mean / max) | {:.1e} / {:.1e} |", inv.mean, inv.max);
    println!();
    Ok(())
}

fn main() -> Result<()> {
    if arg("--gaussian", true) {
        gaussian_experiment()?;
    }
    let n: usize = arg("--n", 10_000);
    let seed: u64 = arg("--seed", 0);
    let per_block: usize = arg("--per-block", 2);
    let figures: String = arg("--figures", String::new());
    let (p_mix, q_mix) = (GaussianMixture::fig10_p(), GaussianMixture::fig10_q());
    let mut rng = Rng::seed(seed ^ 0x000f_1610);
    let p_train: Tensor<f32> = p_mix.sample(n, &mut rng)?;
    let q_train: Tensor<f32> = q_mix.sample(n, &mut rng)?;
    let p_test: Tensor<f32> = p_mix.sample(5000, &mut rng)?;
    let q_test: Tensor<f32> = q_mix.sample(5000, &mut rng)?;

    let mut cfg = OtConfig::reference(2);
    cfg.iterations = arg("--iterations", cfg.iterations);
    cfg.blocks = arg("--blocks", cfg.blocks);
    cfg.gamma = arg("--gamma", cfg.gamma);
    cfg.batch = arg("--batch", cfg.batch);
    cfg.steps_per_block = arg("--steps", cfg.steps_per_block);
    cfg.lr = arg("--lr", cfg.lr);
    let g0: f64 = arg("--gamma-initial", cfg.gamma_initial.unwrap_or(0.0));
    cfg.gamma_initial = (g0 > 0.0).then_some(g0);
    cfg.classifier_steps = arg("--classifier-steps", cfg.classifier_steps);
    cfg.seed = seed;
    let started = Instant::now();
    let every = (cfg.iterations / 10).max(1);
    // `--load DIR`: start from a saved flow (and train `--iterations` more, possibly 0).
    let load: String = arg("--load", String::new());
    let init = if load.is_empty() {
        OtInit::Fresh
    } else {
        OtInit::Flow(wasserflow::io::checkpoint::load_flow::<f32>(std::path::Path::new(&load))?.0)
    };
    if load.is_empty() || cfg.iterations > 0 {
        cfg.classifier_warmup = arg("--classifier-warmup", cfg.classifier_warmup);
    }
    let state = train_ot(&cfg, &p_train, &q_train, init, &mut Progress { every })?;
    let ot_s = started.elapsed().as_secs_f64();
    let save: String = arg("--save", String::new());
    if !save.is_empty() {
        let dir = std::path::PathBuf::from(&save);
        std::fs::create_dir_all(&dir).map_err(|source| wasserflow::Error::Io { path: dir.clone(), source })?;
        for (i, b) in state.flow.blocks.iter().enumerate() {
            let path = dir.join(wasserflow::io::checkpoint::block_file_name(i + 1));
            wasserflow::io::checkpoint::save_block(&path, i + 1, b, &wasserflow::json!({"example": "ot_fig10"}))?;
        }
    }
    let opts = EvalOptions::default();

    // The flow: transport cost, kinetic energy, KL at both ends, inversion.
    let diag = diagnose(&state, &p_test, &q_test, opts)?;
    let fine = EvalOptions::with_step(0.01);
    let back = state.flow.invert(&state.flow.transport(&p_test, fine)?, fine)?;
    let inv = wasserflow::metrics::inversion_error(&p_test, &back)?;
    let mut kl_rng = Rng::seed(7);
    let ld = log_det_jacobian(&state.flow, &p_test, opts, &mut kl_rng)?;
    let tp = state.flow.transport(&p_test, opts)?;
    let lp_p = p_mix.log_prob(&p_test)?;
    let lq_tp = q_mix.log_prob(&tp)?;
    let log_pushed: Vec<f64> = lp_p.iter().zip(&ld).map(|(a, b)| a - b).collect();
    let kl_fwd = kl_monte_carlo(&log_pushed, &lq_tp)?;
    let pulled = state.flow.invert(&q_test, opts)?;
    let ld_back = log_det_jacobian(&state.flow, &pulled, opts, &mut kl_rng)?;
    let lq_q = q_mix.log_prob(&q_test)?;
    let lp_pulled = p_mix.log_prob(&pulled)?;
    let log_pulled: Vec<f64> = lq_q.iter().zip(&ld_back).map(|(a, b)| a + b).collect();
    let kl_rev = kl_monte_carlo(&log_pulled, &lp_pulled)?;

    println!("## OT-flow from p to q (Fig. 10 pair), {} blocks × {} RK4 steps", cfg.blocks, cfg.steps_per_block);
    println!();
    println!("| quantity | value |");
    println!("|---|---:|");
    println!("| training wall time | {ot_s:.1} s ({} iterations) |", cfg.iterations);
    println!("| transport cost E\\|T(x) − x\\|² | {:.4} |", diag.transport_cost);
    println!("| kinetic energy N Σ E\\|Δx_k\\|² | {:.4} |", diag.kinetic);
    println!(
        "| per-block kinetic | {} |",
        diag.kinetic_per_block.iter().map(|v| format!("{v:.3}")).collect::<Vec<_>>().join(", ")
    );
    println!("| reverse transport cost E\\|T⁻¹(y) − y\\|² | {:.4} |", diag.reverse_transport_cost);
    println!("| KL(T#p ‖ q), exact densities (MC ± se) | {:.4} ± {:.4} |", kl_fwd.kl, kl_fwd.std_error);
    println!("| KL(T#p ‖ q), classifier −E φ_q | {:.4} |", diag.kl_forward);
    println!("| KL(T⁻¹#q ‖ p), exact densities (MC ± se) | {:.4} ± {:.4} |", kl_rev.kl, kl_rev.std_error);
    println!("| KL(T⁻¹#q ‖ p), classifier −E φ_p | {:.4} |", diag.kl_reverse);
    println!(
        "| inversion error, training grid (RMS / max) | {:.2e} / {:.2e} |",
        diag.inversion_rms, diag.inversion_max
    );
    println!("| inversion error, step 0.01 (mean / max) | {:.2e} / {:.2e} |", inv.mean, inv.max);
    println!();

    // Density ratios: every classifier-based estimator is fitted once per ratio seed.
    let tr = ClassifierTraining {
        iterations: arg("--ratio-iterations", 2000),
        hidden: arg("--ratio-hidden", "32".to_string()).split(',').map(|h| h.parse().expect("a width")).collect(),
        lr: arg("--ratio-lr", ClassifierTraining::reference().lr),
        lr_final: Some(arg("--ratio-lr-final", -1.0)).filter(|v: &f64| *v >= 0.0),
        ..ClassifierTraining::reference()
    };
    // The snapshots sit on the solver grid: `--ratio-step` refines it for
    // more snapshots per block than the training grid has steps.
    let ratio_step: f64 = arg("--ratio-step", 0.0);
    let ratio_opts = if ratio_step > 0.0 { EvalOptions::with_step(ratio_step) } else { opts };
    let ratio_seeds: Vec<u64> =
        arg("--ratio-seeds", "0,1,2".to_string()).split(',').map(|v| v.parse().expect("a seed")).collect();
    let extent = Extent::new(-5.0, 3.0, -5.5, 4.5)?;
    let grid = grid_points(GRID, GRID, extent);
    let grid_t =
        Tensor::<f32>::from_vec(grid.iter().flat_map(|p| [p[0] as f32, p[1] as f32]).collect(), [grid.len(), 2])?;
    let truth = |x: &Tensor<f32>| -> Result<Vec<f64>> {
        let (lq, lp) = (q_mix.log_prob(x)?, p_mix.log_prob(x)?);
        Ok(lq.iter().zip(&lp).map(|(a, b)| a - b).collect())
    };
    let (lq_g, lp_g) = (q_mix.log_prob(&grid_t)?, p_mix.log_prob(&grid_t)?);
    let mass: Vec<bool> = lq_g.iter().zip(&lp_g).map(|(a, b)| a.exp() + b.exp() >= 1e-3).collect();
    let everywhere = vec![true; grid.len()];
    let sets = [("p", &p_test), ("q", &q_test), ("grid", &grid_t)];
    let truths: Vec<Vec<f64>> = sets.iter().map(|(_, x)| truth(x)).collect::<Result<_>>()?;
    let on_sets = |f: &dyn Fn(&Tensor<f32>) -> Result<Vec<f64>>| -> Result<Vec<Vec<f64>>> {
        sets.iter().map(|(_, x)| f(x)).collect()
    };
    /// One estimator's numbers of one seed: MSE on p, q, the mass grid, the whole grid; bias on p, q; fit seconds.
    fn scores(values: &[Vec<f64>], truths: &[Vec<f64>], mass: &[bool], everywhere: &[bool], secs: f64) -> [f64; 7] {
        let all = |k: usize| vec![true; truths[k].len()];
        let bias =
            |k: usize| values[k].iter().zip(&truths[k]).map(|(a, t)| a - t).sum::<f64>() / truths[k].len() as f64;
        [
            mse(&values[0], &truths[0], &all(0)),
            mse(&values[1], &truths[1], &all(1)),
            mse(&values[2], &truths[2], mass),
            mse(&values[2], &truths[2], everywhere),
            bias(0),
            bias(1),
            secs,
        ]
    }
    let mut names: Vec<String> = Vec::new();
    let mut table: Vec<Vec<[f64; 7]>> = Vec::new();
    // The first seed's telescopic fit and every estimator's values on the sets (for the term table and figure).
    type FirstFit = (FlowRatio<f32>, Vec<Vec<Vec<f64>>>);
    let mut first: Option<FirstFit> = None;
    let kde_t0 = Instant::now();
    let kde = KdeRatio::scott(&p_train, &q_train)?;
    let kde_values = on_sets(&|x| kde.log_ratio(x))?;
    let kde_s = kde_t0.elapsed().as_secs_f64();
    for &rs in &ratio_seeds {
        let mut fit_rng = Rng::seed(seed ^ 0x0002_a710 ^ rs.wrapping_mul(0x9e37_79b9));
        let t0 = Instant::now();
        let tele = FlowRatio::fit(
            &state.flow,
            &p_train,
            &q_train,
            per_block,
            ratio_opts,
            RatioModel::PerPair,
            &tr,
            &mut fit_rng,
        )?;
        let tele_s = t0.elapsed().as_secs_f64();
        // `--time-conditional false` skips that model (it is the slowest fit).
        let timed = if arg("--time-conditional", true) {
            let t0 = Instant::now();
            let fit = FlowRatio::fit(
                &state.flow,
                &p_train,
                &q_train,
                per_block,
                ratio_opts,
                RatioModel::TimeConditional,
                &tr,
                &mut fit_rng,
            )?;
            Some((fit, t0.elapsed().as_secs_f64()))
        } else {
            None
        };
        let n_pairs = tele.forward.pairs;
        let t0 = Instant::now();
        let one = fit_one_step(&p_train, &q_train, &tr, &mut fit_rng)?;
        let one_s = t0.elapsed().as_secs_f64();
        let t0 = Instant::now();
        let long = ClassifierTraining { iterations: 2 * n_pairs * tr.iterations, ..tr.clone() };
        let one_long = fit_one_step(&p_train, &q_train, &long, &mut fit_rng)?;
        let one_long_s = t0.elapsed().as_secs_f64();
        let mut rows: Vec<(String, Vec<Vec<f64>>, f64)> = vec![
            (
                format!("telescopic, both bridges averaged ({n_pairs} + {n_pairs} classifiers)"),
                on_sets(&|x| tele.log_ratio(x, Bridge::Both))?,
                tele_s,
            ),
            (
                "telescopic, weighted: the forward bridge where q dominates".into(),
                on_sets(&|x| tele.log_ratio(x, Bridge::Weighted))?,
                tele_s,
            ),
            (
                "telescopic, forward bridge only (p pushed to q)".into(),
                on_sets(&|x| tele.log_ratio(x, Bridge::Forward))?,
                tele_s / 2.0,
            ),
            (
                "telescopic, reverse bridge only (q pulled to p)".into(),
                on_sets(&|x| tele.log_ratio(x, Bridge::Reverse))?,
                tele_s / 2.0,
            ),
            ("one-step classifier, one telescopic term's budget".into(), on_sets(&|x| one.logits(x, None))?, one_s),
            (
                format!("one-step classifier, {}× the iterations (all telescopic terms' budget)", 2 * n_pairs),
                on_sets(&|x| one_long.logits(x, None))?,
                one_long_s,
            ),
            ("KDE, Scott's rule".into(), kde_values.clone(), kde_s),
        ];
        if let Some((timed, timed_s)) = &timed {
            rows.insert(
                3,
                (
                    "telescopic, time-conditional r(x, t), both bridges averaged".into(),
                    on_sets(&|x| timed.log_ratio(x, Bridge::Both))?,
                    *timed_s,
                ),
            );
        }
        if names.is_empty() {
            names = rows.iter().map(|r| r.0.clone()).collect();
            table = vec![Vec::new(); rows.len()];
        }
        for (k, (_, values, secs)) in rows.iter().enumerate() {
            table[k].push(scores(values, &truths, &mass, &everywhere, *secs));
        }
        eprintln!("ratio seed {rs} done");
        if first.is_none() {
            first = Some((tele, rows.into_iter().map(|r| r.1).collect()));
        }
    }
    let (tele, first_values) = first.expect("at least one ratio seed");
    let n_pairs = tele.forward.pairs;

    println!(
        "## log q/p: mean squared error, mean [min, max] over {} fits (ratio seeds {:?}); {} snapshots per bridge ({} per block); classifiers {:?} softplus, {} Adam steps, batch {} per label",
        ratio_seeds.len(),
        ratio_seeds,
        n_pairs + 1,
        per_block,
        tr.hidden,
        tr.iterations,
        tr.batch
    );
    println!();
    println!(
        "| estimator | on 5000 x ~ p | on 5000 x ~ q | grid, where p + q ≥ 1e-3 ({} cells) | whole grid ({} cells) | mean error on p / on q | fit time |",
        mass.iter().filter(|m| **m).count(),
        grid.len()
    );
    println!("|---|---:|---:|---:|---:|---:|---:|");
    for (name, runs) in names.iter().zip(&table) {
        let stat = |j: usize| {
            let v: Vec<f64> = runs.iter().map(|r| r[j]).collect();
            let m = v.iter().sum::<f64>() / v.len() as f64;
            let (lo, hi) = v.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &x| (a.min(x), b.max(x)));
            (m, lo, hi)
        };
        let cell = |j: usize| {
            let (m, lo, hi) = stat(j);
            if runs.len() > 1 { format!("{m:.2} [{lo:.2}, {hi:.2}]") } else { format!("{m:.3}") }
        };
        println!(
            "| {name} | {} | {} | {} | {} | {:+.2} / {:+.2} | {:.1} s |",
            cell(0),
            cell(1),
            cell(2),
            cell(3),
            stat(4).0,
            stat(5).0,
            stat(6).0
        );
    }
    println!();
    println!(
        "KDE bandwidths (Scott): p {:?}, q {:?}",
        kde.p.bandwidth.iter().map(|h| format!("{h:.3}")).collect::<Vec<_>>(),
        kde.q.bandwidth.iter().map(|h| format!("{h:.3}")).collect::<Vec<_>>()
    );

    if arg("--terms", false) {
        // Oracle for the forward bridge: log p_n(x) = log p(G⁻¹x) − log|det ∇G(G⁻¹x)| for the flow G up to snapshot n.
        let n_snap = n_pairs + 1;
        let sub_flow = |n: usize| -> Result<BlockFlow<f32>> {
            let mut g = BlockFlow::new(2);
            let (full, part) = ((n - 1) / per_block, (n - 1) % per_block + 1);
            for b in &state.flow.blocks[..full] {
                g.push(Block::with_params(b.spec.clone(), b.store.clone())?)?;
            }
            let b = &state.flow.blocks[full];
            let steps = b.spec.grid.len() - 1;
            let end = (part * steps).div_ceil(per_block);
            g.push(Block::with_params(
                BlockSpec { grid: b.spec.grid[..=end].to_vec(), ..b.spec.clone() },
                b.store.clone(),
            )?)?;
            Ok(g)
        };
        let log_pn = |n: usize, x: &Tensor<f32>| -> Result<Vec<f64>> {
            if n == 0 {
                return p_mix.log_prob(x);
            }
            if n == n_snap - 1 {
                return q_mix.log_prob(x);
            }
            let g = sub_flow(n)?;
            let z = g.invert(x, opts)?;
            let ld = log_det_jacobian(&g, &z, opts, &mut Rng::seed(3))?;
            Ok(p_mix.log_prob(&z)?.iter().zip(&ld).map(|(a, b)| a - b).collect())
        };
        println!();
        println!(
            "## Forward bridge, term by term: mean of log p_(n+1)/p_n at the samples of p and q (estimate / truth (mean squared error))"
        );
        println!();
        println!("| term | {} |", (0..n_pairs).map(|n| format!("{n}")).collect::<Vec<_>>().join(" | "));
        println!("|---|{}", "---:|".repeat(n_pairs));
        for (k, name) in ["p", "q"].iter().enumerate() {
            let x = sets[k].1;
            let terms = tele.forward.terms(x)?;
            let lps: Vec<Vec<f64>> = (0..n_snap).map(|n| log_pn(n, x)).collect::<Result<_>>()?;
            let m = x.dims()[0] as f64;
            let cells: Vec<String> = terms
                .iter()
                .enumerate()
                .map(|(n, t)| {
                    let est = t.iter().sum::<f64>() / m;
                    let tru = lps[n + 1].iter().zip(&lps[n]).map(|(a, b)| a - b).sum::<f64>() / m;
                    let sq = t
                        .iter()
                        .zip(lps[n + 1].iter().zip(&lps[n]))
                        .map(|(e, (a, b))| (e - (a - b)).powi(2))
                        .sum::<f64>()
                        / m;
                    format!("{est:.2} / {tru:.2} ({sq:.2})")
                })
                .collect();
            println!("| at x ~ {name} | {} |", cells.join(" | "));
        }
    }

    if !figures.is_empty() {
        let dir = std::path::PathBuf::from(&figures);
        std::fs::create_dir_all(&dir).map_err(|source| wasserflow::Error::Io { path: dir.clone(), source })?;
        let panels: Vec<(&str, &[f64])> = vec![
            ("true log q/p", &truths[2]),
            ("telescopic (both bridges)", &first_values[0][2]),
            ("one-step (long)", &first_values[first_values.len() - 2][2]),
            ("KDE", &first_values[first_values.len() - 1][2]),
        ];
        field_panels(&dir.join("log_ratio.png"), &panels, GRID, GRID, extent, Colormap::Diverging, (-20.0, 20.0))?;
        let starts = p_test.slice(0, 0, 300)?;
        let ends = q_test.slice(0, 0, 300)?;
        let fwd: Vec<Vec<[f64; 2]>> =
            state.flow.trajectories(&starts, false, opts)?.iter().flatten().map(pairs).collect::<Result<_>>()?;
        let rev: Vec<Vec<[f64; 2]>> =
            state.flow.trajectories(&ends, true, opts)?.iter().flatten().map(pairs).collect::<Result<_>>()?;
        trajectory_panels(&dir.join("trajectories.png"), &[fwd, rev], &["p to q", "q to p"], extent)?;
        println!("figures in {}", dir.display());
    }
    Ok(())
}
