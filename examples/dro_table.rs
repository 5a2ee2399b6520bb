//! The flow-DRO table of RESULTS.md: on two moons (2-D, two classes) and on
//! the UCI digits (64-D, ten classes), a classifier is trained in-engine; for
//! each `γ` of a grid a worst-case map (eq. 29) is trained on reference
//! points the classifier never saw, and evaluated on further unseen points:
//! the classifier's cross-entropy (the risk) and accuracy after transport
//! against how far the points moved (W2 of the coupling, mean ℓ2), beside
//! the PGD baseline (per-sample ℓ2 projected gradient ascent, 20 steps) with
//! the radius set to the map's mean ℓ2 displacement, i.e. the same average
//! ℓ2 budget.
//!
//! ```sh
//! cargo run --release --example dro_table                 # the RESULTS.md run
//! cargo run --release --example dro_table -- --quick      # a smaller smoke run
//! cargo run --release --example dro_table -- --only moons # one problem (moons or digits)
//! ```
//!
//! Each problem gets two tables: maps trained from the identity for every `γ`
//! ("cold"), and by continuation in `γ`, each from the map of the next
//! smaller `γ` ("warm", [`train_dro_grid`] with `warm_start`). The objective
//! is not concave, so the two can end in different local optima.

use std::time::Instant;

use wasserflow::data::LabeledSet;
use wasserflow::flows::EvalOptions;
use wasserflow::flows::dro::{ClassifierRisk, DroConfig, PgdConfig, pgd_l2, train_dro_grid, transport_report};
use wasserflow::nn::{Activation, ClassifierTraining, train_classifier};
use wasserflow::{Result, Rng, Tensor};

/// One problem of the table.
struct Problem {
    name: &'static str,
    /// `(classifier train, DRO reference, evaluation)` sets.
    sets: (LabeledSet, LabeledSet, LabeledSet),
    classifier: ClassifierTraining,
    dro: DroConfig,
    gammas: Vec<f64>,
}

fn split3(set: &LabeledSet, sizes: [usize; 3], rng: &mut Rng) -> Result<(LabeledSet, LabeledSet, LabeledSet)> {
    let perm = rng.permutation(set.len());
    let (a, rest) = perm.split_at(sizes[0]);
    let (b, rest) = rest.split_at(sizes[1]);
    Ok((set.subset(a)?, set.subset(b)?, set.subset(&rest[..sizes[2]])?))
}

fn problems(quick: bool) -> Result<Vec<Problem>> {
    let mut rng = Rng::seed(2024);
    let scale = |n: usize| if quick { n / 4 } else { n };
    let moons = LabeledSet::load("moons", scale(2000) + scale(2000) + scale(1000), None, &mut rng)?;
    let digits = LabeledSet::load("digits", 0, None, &mut rng)?;
    Ok(vec![
        Problem {
            name: "moons",
            sets: split3(&moons, [scale(2000), scale(2000), scale(1000)], &mut rng)?,
            classifier: ClassifierTraining {
                hidden: vec![64, 64],
                act: Activation::Silu,
                iterations: scale(2000),
                batch: 128,
                lr: 1e-3,
                weight_decay: 0.0,
                seed: 0,
            },
            dro: DroConfig {
                hidden: vec![64, 64],
                iterations: scale(800),
                batch: 256,
                lr: 5e-3,
                ..DroConfig::new(1.0)
            },
            gammas: vec![0.2, 0.25, 0.3, 0.35, 0.4, 0.5, 1.0],
        },
        Problem {
            name: "digits",
            // 1797 rows: 897 train the classifier, 600 are the reference, 300 evaluate.
            sets: split3(&digits, [897, 600, 300], &mut rng)?,
            classifier: ClassifierTraining {
                hidden: vec![64, 64],
                act: Activation::Silu,
                iterations: scale(2000),
                batch: 128,
                lr: 1e-3,
                weight_decay: 0.0,
                seed: 0,
            },
            dro: DroConfig {
                hidden: vec![128, 128],
                iterations: scale(800),
                batch: 200,
                lr: 5e-3,
                ..DroConfig::new(1.0)
            },
            gammas: vec![2.0, 5.0, 8.0, 10.0, 15.0, 20.0],
        },
    ])
}

fn run(p: &Problem) -> Result<()> {
    let (train, reference, eval) = &p.sets;
    let started = Instant::now();
    let classifier = train_classifier(&train.x.cast::<f32>()?, &train.labels, train.classes, &p.classifier, |_, _| {})?;
    let clf_s = started.elapsed().as_secs_f64();
    let risk = ClassifierRisk { classifier };
    let eval_x: Tensor<f32> = eval.x.cast()?;
    let labels = Some(eval.labels.as_slice());
    let acc0 = risk.classifier.accuracy(&eval_x, &eval.labels)?;
    let risk0 = transport_report(&risk, &eval_x, &eval_x, labels, 1.0)?.risk_before;
    println!(
        "\n### {} (d = {}, {} classes)\n\nclassifier: MLP {:?} {}, trained on {} points in {clf_s:.1} s; \
         on the {} evaluation points: accuracy {acc0:.4}, cross-entropy {risk0:.4}. \
         Maps trained on {} reference points, evaluated on the {} evaluation points.",
        p.name,
        train.dim(),
        train.classes,
        p.classifier.hidden,
        p.classifier.act.name(),
        train.len(),
        eval.len(),
        reference.len(),
        eval.len()
    );
    for warm_start in [false, true] {
        table(p, &risk, warm_start)?;
    }
    Ok(())
}

/// One table: every `γ` of the problem, cold or warm.
fn table(p: &Problem, risk: &ClassifierRisk<f32>, warm_start: bool) -> Result<()> {
    let (_, reference, eval) = &p.sets;
    let (ref_x, eval_x): (Tensor<f32>, Tensor<f32>) = (reference.x.cast()?, eval.x.cast()?);
    let labels = Some(eval.labels.as_slice());
    let mode = if warm_start {
        "warm: each γ starts from the map of the smaller γ"
    } else {
        "cold: every γ starts from the identity"
    };
    println!("\n{mode}\n");
    println!(
        "| γ | flow risk | flow acc. | flow W2 | flow mean ℓ2 | PGD risk | PGD acc. | PGD W2 | PGD mean ℓ2 | train s | PGD s |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|");
    let mut seconds = vec![0.0; p.gammas.len()];
    let mut last = (0, Instant::now());
    let maps = train_dro_grid(&p.dro, &p.gammas, warm_start, risk, &ref_x, Some(&reference.labels), |k, _| {
        if k != last.0 {
            last = (k, Instant::now());
        }
        seconds[k] = last.1.elapsed().as_secs_f64();
        Ok(())
    })?;
    for ((map, &gamma), train_s) in maps.iter().zip(&p.gammas).zip(seconds) {
        let moved = map.transport(&eval_x, EvalOptions::default())?;
        let f = transport_report(risk, &eval_x, &moved, labels, gamma)?;
        let f_acc = risk.classifier.accuracy(&moved, &eval.labels)?;
        let t = Instant::now();
        let attacked = pgd_l2(risk, &eval_x, labels, &PgdConfig::new(f.movement.mean_l2))?;
        let pgd_s = t.elapsed().as_secs_f64();
        let g = transport_report(risk, &eval_x, &attacked, labels, gamma)?;
        let g_acc = risk.classifier.accuracy(&attacked, &eval.labels)?;
        println!(
            "| {gamma} | {:.3} | {f_acc:.3} | {:.3} | {:.3} | {:.3} | {g_acc:.3} | {:.3} | {:.3} | {train_s:.1} | {pgd_s:.2} |",
            f.risk_after, f.movement.w2, f.movement.mean_l2, g.risk_after, g.movement.w2, g.movement.mean_l2
        );
    }
    Ok(())
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let quick = args.iter().any(|a| a == "--quick");
    let only = args.iter().position(|a| a == "--only").and_then(|i| args.get(i + 1)).cloned();
    let started = Instant::now();
    for p in problems(quick)?.into_iter().filter(|p| only.as_deref().is_none_or(|o| o == p.name)) {
        run(&p)?;
    }
    println!("\ntotal {:.0} s", started.elapsed().as_secs_f64());
    Ok(())
}
