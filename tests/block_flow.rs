//! A flow of several blocks: its density is normalized, its inverse inverts,
//! and checkpoint-style reconstruction from parameters is checked.

use wasserflow::Rng;
use wasserflow::density::Divergence;
use wasserflow::flows::{Block, BlockFlow, BlockSpec, EvalOptions, FieldKind};
use wasserflow::nn::Activation;
use wasserflow::ode::tableau::RK4;
use wasserflow::tensor::Tensor;

fn spec(t_end: f64, steps: usize) -> BlockSpec {
    BlockSpec {
        dim: 2,
        field: FieldKind::TimeMlp,
        hidden: vec![16, 16],
        act: Activation::Tanh,
        grid: wasserflow::ode::fixed::uniform_grid(0.0, t_end, steps).unwrap(),
        solver: &RK4,
        divergence: Divergence::Exact,
    }
}

fn three_blocks(seed: u64) -> BlockFlow<f64> {
    let mut rng = Rng::seed(seed);
    let mut flow = BlockFlow::new(2);
    for (t, steps) in [(0.5, 4), (0.7, 5), (1.0, 6)] {
        let mut block = Block::new(spec(t, steps), &mut rng).unwrap();
        // Larger weights than the default initialization, so the flow is far from the identity.
        for v in block.store.values_mut() {
            *v = v.scale(2.5).unwrap();
        }
        flow.push(block).unwrap();
    }
    flow
}

#[test]
fn the_density_through_three_blocks_integrates_to_one() {
    let flow = three_blocks(3);
    let (n, lim) = (161usize, 8.0);
    let h = 2.0 * lim / (n - 1) as f64;
    let pts: Vec<f64> = (0..n * n).flat_map(|k| [-lim + (k % n) as f64 * h, -lim + (k / n) as f64 * h]).collect();
    let x = Tensor::from_vec(pts, [n * n, 2]).unwrap();
    let lp = flow.log_prob(&x, 4096, &mut Rng::seed(0), EvalOptions::default()).unwrap();
    let mass: f64 = lp.iter().map(|l| l.exp()).sum::<f64>() * h * h;
    assert!((mass - 1.0).abs() < 5e-3, "total mass {mass}");
}

#[test]
fn hutchinson_log_prob_is_unbiased_for_the_exact_one() {
    let flow = three_blocks(4);
    let x = Tensor::<f64>::randn([64, 2], &mut Rng::seed(1)).unwrap();
    let exact = flow.log_prob(&x, 64, &mut Rng::seed(0), EvalOptions::default()).unwrap();
    let hutch = Divergence::Hutchinson { probes: 1, probe: wasserflow::density::Probe::Rademacher };
    let opts = EvalOptions { step: None, divergence: Some(hutch), adaptive: None };
    let reps = 400;
    let mut mean = vec![0.0; 64];
    let mut rng = Rng::seed(2);
    for _ in 0..reps {
        for (m, v) in mean.iter_mut().zip(flow.log_prob(&x, 64, &mut rng, opts).unwrap()) {
            *m += v / reps as f64;
        }
    }
    let worst = exact.iter().zip(&mean).map(|(a, b)| (a - b).abs()).fold(0.0, f64::max);
    let one_draw = flow.log_prob(&x, 64, &mut rng, opts).unwrap();
    let single = exact.iter().zip(&one_draw).map(|(a, b)| (a - b).abs()).fold(0.0, f64::max);
    assert!(single > 1e-3, "one Hutchinson draw should differ from the exact trace");
    assert!(worst < 0.25 * single, "mean of {reps} estimates off by {worst} (one draw off by {single})");
}

#[test]
fn inverse_pulls_back_what_the_forward_map_pushes() {
    let flow = three_blocks(5);
    let fine = EvalOptions { step: Some(0.01), divergence: None, adaptive: None };
    let x = Tensor::<f64>::randn([100, 2], &mut Rng::seed(7)).unwrap();
    let back = flow.invert(&flow.transport(&x, fine).unwrap(), fine).unwrap();
    let err = back.sub(&x).unwrap().to_vec().unwrap().iter().map(|v| v.abs()).fold(0.0, f64::max);
    assert!(err < 1e-8, "inversion error {err}");
    let traj = flow.trajectories(&x, false, EvalOptions::default()).unwrap();
    assert_eq!(traj.iter().map(Vec::len).collect::<Vec<_>>(), vec![5, 6, 7]);
    let end = flow.transport(&x, EvalOptions::default()).unwrap();
    assert_eq!(traj[2][6].to_vec().unwrap(), end.to_vec().unwrap());
}

#[test]
fn parameters_of_another_network_are_refused_with_the_difference() {
    let flow = three_blocks(6);
    let mut other = spec(0.5, 4);
    other.hidden = vec![16, 8];
    let err = match Block::with_params(other, flow.blocks[0].store.clone()) {
        Err(e) => e.to_string(),
        Ok(_) => panic!("mismatched parameters accepted"),
    };
    assert!(err.contains("shape"), "{err}");
    let same = Block::with_params(spec(0.5, 4), flow.blocks[0].store.clone()).unwrap();
    assert_eq!(same.store.values()[0].to_vec().unwrap(), flow.blocks[0].store.values()[0].to_vec().unwrap());
}

#[test]
fn points_of_another_dimension_are_refused() {
    let flow = three_blocks(8);
    let x = Tensor::<f64>::zeros([4, 3]);
    assert!(flow.transport(&x, EvalOptions::default()).is_err());
    assert!(flow.log_prob(&x, 4, &mut Rng::seed(0), EvalOptions::default()).is_err());
}
