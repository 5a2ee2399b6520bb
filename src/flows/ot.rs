//! OT-flow (tutorial V-B a, eq. 26–27): an invertible flow `T` from `p` to
//! `q`, both given only by samples, of small kinetic energy, with the
//! terminal constraints as KL terms estimated by logistic classifiers.
//!
//! **The flow.** `N` blocks, each a neural ODE `dx/dt = v_k(x, t)` with its
//! own parameters ([`Block`]); `T = T_N ∘ … ∘ T_1` maps `p` to `q` and the
//! blocks integrated backward map `q` to `p`. Block `k` stands for the
//! segment `[(k−1)/N, k/N]` of the unit time of eq. (26), whatever its own
//! integration interval, so the particle approximation of the kinetic
//! energy is `N Σ_k E|x_k − x_{k−1}|²` over the block ends `x_k` of a
//! particle (it bounds `E|T(x) − x|²` from above, with equality for
//! straight constant-speed paths, and its minimum under `T#p = q` is `W2²`).
//!
//! **The loss (27).** With forward particles `x ~ p` and reverse particles
//! `y ~ q` (pulled back through the blocks, last first):
//!
//! `L = (N/2) Σ_k (E|x_k − x_{k−1}|² + E|y_{k−1} − y_k|²) + γ KL(T#p ‖ q) + γ KL(T⁻¹#q ‖ p)`,
//!
//! the kinetic term estimated from both particle sets (without the reverse
//! constraint, from the forward ones alone, weight `N`). The KL terms are
//! the tutorial's `KL(q‖q̂)` and `KL(p‖p̂)` in the direction that particles
//! can differentiate.
//!
//! **KL from classifier logits.** A classifier `φ_q` is trained with the
//! logistic loss (Lemma V.1) on `T(x)` (label 0) against samples of `q`
//! (label 1), so `φ_q ≈ log q/T#p`; then `KL(T#p‖q) = E_{T#p}[log T#p − log q]
//! ≈ −E_p φ_q(T(x))`. With `φ_q` held fixed, the gradient of this estimate in
//! the flow's parameters is `−E_p[∂_θT(x)ᵀ ∇φ_q(T(x))]`, which is the exact
//! gradient of `KL(T_θ#p‖q)` when `φ_q` is exact (the term from the density
//! of `T_θ#p` itself integrates to zero). So the flow's loss carries
//! `−γ E φ_q(T(x))` on the tape, through every block. **The reverse
//! constraint** is the mirror image: `φ_p` is trained on `T⁻¹(y)` (label 0)
//! against samples of `p` (label 1), `φ_p ≈ log p/T⁻¹#q`, and the loss
//! carries `−γ E_q φ_p(T⁻¹(y))`, differentiated through the blocks run
//! backward. The reported KL estimates are these same `−E φ` values.
//!
//! **Training.** All blocks are trained together: the terminal constraints
//! couple them (block `k`'s loss is its kinetic term plus the terminal terms
//! reached through the blocks after it, forward, and before it, reverse), so
//! JKO-iFlow's one-block-at-a-time training on cached particles does not
//! apply; what is reused of its machinery is the block structure itself
//! ([`BlockFlow`], per-block checkpoints, per-block kinetic diagnostics)
//! and the RK4-on-a-grid blocks. Every iteration draws a minibatch of each
//! set, flows it through the chain on a tape (sharded across threads), and
//! takes one Adam step per block (learning rate annealed by a cosine to a
//! tenth). The classifiers are then updated (`classifier_steps` Adam steps
//! each) on this iteration's pushed particles, detached, against fresh
//! samples of `p` and `q`: they trail the flow by one iteration and never
//! see the particles of the flow step before they are used in it. Before
//! the first flow step they are trained `classifier_warmup` steps on the
//! initial flow's pushed particles.
//!
//! **γ continuation** (`gamma_initial`): with a constant large `γ` the
//! coupling the flow picks up early is kept — for Gaussians a rotation of
//! the Brenier map, which preserves both marginals and costs only second
//! order in kinetic energy, so its restoring gradient drowns in the noise of
//! the classifier gradients (RESULTS.md). Starting at a small `γ` lets the
//! kinetic term shape a straight, nearly optimal path while the constraints
//! are loose; `γ` then grows geometrically to its final value, which bounds
//! the `O(1/γ)` shortfall of the terminal constraints.
//!
//! **Warm start** ([`OtInit::WarmStart`]): given flows `F_p` from `p` to
//! `N(0, I)` and `F_q` from `q` to `N(0, I)` (e.g. JKO-iFlow runs), the
//! initial flow is `F_q⁻¹ ∘ F_p`: the blocks of `F_p`, then those of `F_q`
//! reversed in order and time ([`reversed_block`]: `v'(x, s) = −v(x, T − s)`,
//! exact for MLP fields). Fresh blocks start as the identity (last layer
//! zero), so the classifiers see `T#p = p` at first.

use super::block::{Block, BlockFlow, BlockSpec, EvalOptions};
use super::field::{Field, FieldKind};
use super::ratio::{ClassifierSpec, ClassifierTraining, LogisticClassifier};
use crate::autodiff::{Tape, Var};
use crate::density::Divergence;
use crate::nn::data_parallel::combine_shards;
use crate::nn::{Activation, Params, VelocityField};
use crate::ode::{Tableau, fixed};
use crate::optim::{Adam, Optimizer, Schedule};
use crate::tensor::random::Rng;
use crate::tensor::{Float, Tensor};
use crate::{Error, Result, invalid_arg, shape_err};

/// Everything that defines an OT-flow training run.
#[derive(Clone, Debug)]
pub struct OtConfig {
    pub dim: usize,
    pub field: FieldKind,
    pub hidden: Vec<usize>,
    pub act: Activation,
    /// Number of blocks `N` of a fresh flow (a warm start brings its own).
    pub blocks: usize,
    /// Solver steps per block (equal steps over `[0, 1/N]`).
    pub steps_per_block: usize,
    pub solver: &'static Tableau,
    /// Weight `γ` of the KL terms (at the end of training, see `gamma_initial`).
    pub gamma: f64,
    /// If set, `γ` grows geometrically from this value at the first
    /// iteration to `gamma` at the last (a penalty continuation: the
    /// kinetic term shapes the path while the constraints are loose, and the
    /// `O(1/γ)` shortfall of the terminal constraints shrinks at the end).
    pub gamma_initial: Option<f64>,
    /// Whether the reverse constraint `γ KL(T⁻¹#q ‖ p)` is in the loss.
    pub reverse: bool,
    /// Flow iterations (one Adam step per block each).
    pub iterations: usize,
    /// Rows of each set per iteration.
    pub batch: usize,
    /// Adam's learning rate for the flow, annealed by a cosine to `lr/10`.
    pub lr: f64,
    /// The classifiers' network and learning rate (`iterations` and `batch` unused here).
    pub classifier: ClassifierTraining,
    /// Classifier Adam steps per flow iteration.
    pub classifier_steps: usize,
    /// Classifier Adam steps on the initial flow before the first flow step.
    pub classifier_warmup: usize,
    pub seed: u64,
}

impl OtConfig {
    /// A 2-D setting (the Fig. 10 run of RESULTS.md): 4 blocks of an MLP
    /// `[x, t]` → 64 → 64 → d with softplus, 2 RK4 steps per block, γ
    /// growing from 1 to 200, batch 256, Adam 1e-3 (cosine to 1e-4) for 2000
    /// iterations; KL classifiers 64 → 64 softplus, Adam 2e-3, 3 steps per
    /// iteration after 500 warm-up steps.
    pub fn reference(dim: usize) -> Self {
        OtConfig {
            dim,
            field: FieldKind::TimeMlp,
            hidden: vec![64, 64],
            act: Activation::Softplus { beta: 1.0 },
            blocks: 4,
            steps_per_block: 2,
            solver: &crate::ode::tableau::RK4,
            gamma: 200.0,
            gamma_initial: Some(1.0),
            reverse: true,
            iterations: 2000,
            batch: 256,
            lr: 1e-3,
            classifier: ClassifierTraining { hidden: vec![64, 64], ..ClassifierTraining::reference() },
            classifier_steps: 3,
            classifier_warmup: 500,
            seed: 0,
        }
    }

    /// The specification of a fresh block.
    pub fn block_spec(&self) -> Result<BlockSpec> {
        Ok(BlockSpec {
            dim: self.dim,
            field: self.field,
            hidden: self.hidden.clone(),
            act: self.act,
            grid: fixed::uniform_grid(0.0, 1.0 / self.blocks.max(1) as f64, self.steps_per_block)?,
            solver: self.solver,
            divergence: Divergence::Exact,
        })
    }

    pub fn validate(&self) -> Result<()> {
        if self.dim == 0 || self.blocks == 0 || self.steps_per_block == 0 || self.batch == 0 {
            invalid_arg!("dimension, blocks, solver steps per block and batch must be positive");
        }
        if self.hidden.is_empty() || self.hidden.contains(&0) {
            invalid_arg!("hidden widths must be positive, got {:?}", self.hidden);
        }
        if !(self.gamma.is_finite() && self.gamma > 0.0) {
            invalid_arg!("γ must be finite and positive, got {}", self.gamma);
        }
        if let Some(g0) = self.gamma_initial
            && !(g0.is_finite() && g0 > 0.0)
        {
            invalid_arg!("the initial γ must be finite and positive, got {g0}");
        }
        if !(self.lr.is_finite() && self.lr > 0.0) {
            invalid_arg!("the learning rate must be finite and positive, got {}", self.lr);
        }
        if self.classifier_steps == 0 {
            invalid_arg!("the classifiers need at least one step per iteration");
        }
        ClassifierTraining { iterations: 1, batch: 1, ..self.classifier.clone() }.validate()?;
        self.solver.validate()
    }

    /// `γ` at iteration `it`.
    pub fn gamma_at(&self, it: usize) -> f64 {
        match self.gamma_initial {
            Some(g0) if self.iterations > 1 => {
                g0 * (self.gamma / g0).powf(it.min(self.iterations - 1) as f64 / (self.iterations - 1) as f64)
            }
            _ => self.gamma,
        }
    }

    fn classifier_spec(&self) -> ClassifierSpec {
        ClassifierSpec {
            dim: self.dim,
            hidden: self.classifier.hidden.clone(),
            act: self.classifier.act,
            time_input: false,
            quadratic: self.classifier.quadratic,
        }
    }
}

/// Where training starts.
pub enum OtInit<T: Float> {
    /// Fresh blocks of the configuration, each the identity at first.
    Fresh,
    /// `F_q⁻¹ ∘ F_p` from flows `p → N(0, I)` and `q → N(0, I)`.
    WarmStart { source_to_noise: BlockFlow<T>, target_to_noise: BlockFlow<T> },
    /// A given flow from `p` to `q` (e.g. to train further).
    Flow(BlockFlow<T>),
}

/// A block whose forward map is `b`'s inverse: `v'(x, s) = −v(x, T − s)` on
/// the mirrored grid `T − grid`, reversed. For MLP fields on `[x, t]` this
/// is exact in the weights: the first layer's time row `w_t` becomes `−w_t`
/// with bias `b + T w_t`, and the last layer is negated.
pub fn reversed_block<T: Float>(b: &Block<T>) -> Result<Block<T>> {
    let Field::TimeMlp(f) = &b.cnf.field else {
        invalid_arg!("only mlp blocks (time as an input) can be reversed for a warm start, not concatsquash");
    };
    let t_end = b.spec.t_end();
    let mut store = b.store.clone();
    let first = &f.mlp.layers[0];
    let (rows, cols) = (first.in_dim, first.out_dim);
    let mut w = store.get(first.w).to_f64_vec()?;
    let mut bias = store.get(first.b).to_f64_vec()?;
    let time_row = rows - 1;
    for j in 0..cols {
        let wt = w[time_row * cols + j];
        bias[j] += t_end * wt;
        w[time_row * cols + j] = -wt;
    }
    store.set(first.w, Tensor::from_f64s(&w, [rows, cols])?)?;
    store.set(first.b, Tensor::from_f64s(&bias, [cols])?)?;
    let last = f.mlp.layers.last().expect("an MLP has layers");
    for id in [last.w, last.b] {
        let negated = store.get(id).scale(-1.0)?;
        store.set(id, negated)?;
    }
    let grid: Vec<f64> = b.spec.grid.iter().rev().map(|g| t_end - g).collect();
    let mut grid = grid;
    grid[0] = 0.0;
    *grid.last_mut().expect("a grid has points") = t_end;
    Block::with_params(BlockSpec { grid, ..b.spec.clone() }, store)
}

/// The warm-start flow `F_q⁻¹ ∘ F_p`.
pub fn warm_start_flow<T: Float>(
    source_to_noise: &BlockFlow<T>,
    target_to_noise: &BlockFlow<T>,
) -> Result<BlockFlow<T>> {
    if source_to_noise.dim != target_to_noise.dim {
        shape_err!("the warm-start flows live in {} and {} dimensions", source_to_noise.dim, target_to_noise.dim);
    }
    if source_to_noise.is_empty() || target_to_noise.is_empty() {
        invalid_arg!("the warm-start flows need at least one block each");
    }
    let mut flow = BlockFlow::new(source_to_noise.dim);
    for b in &source_to_noise.blocks {
        flow.push(Block::with_params(b.spec.clone(), b.store.clone())?)?;
    }
    for b in target_to_noise.blocks.iter().rev() {
        flow.push(reversed_block(b)?)?;
    }
    Ok(flow)
}

/// A trained (or training) OT-flow: the flow and its two classifiers.
pub struct OtState<T: Float> {
    /// `T`: forward from `p` to `q`, inverse from `q` to `p`.
    pub flow: BlockFlow<T>,
    /// `φ_q ≈ log q/T#p` (label 0: `T(x)`, label 1: `q`).
    pub target_classifier: LogisticClassifier<T>,
    /// `φ_p ≈ log p/T⁻¹#q` (label 0: `T⁻¹(y)`, label 1: `p`).
    pub source_classifier: LogisticClassifier<T>,
}

/// The loss terms of one iteration (means over the minibatch).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct OtTerms {
    /// The weighted total that was minimized.
    pub loss: f64,
    /// `N Σ_k E|x_k − x_{k−1}|²` of the forward particles.
    pub kinetic_forward: f64,
    /// The same for the reverse particles (0 without the reverse constraint).
    pub kinetic_reverse: f64,
    /// `−E φ_q(T(x))`, the estimate of `KL(T#p ‖ q)`.
    pub kl_forward: f64,
    /// `−E φ_p(T⁻¹(y))`, the estimate of `KL(T⁻¹#q ‖ p)` (0 without the reverse constraint).
    pub kl_reverse: f64,
    /// The classifiers' logistic losses at their last step (`2 log 2` at chance).
    pub classifier_loss_forward: f64,
    pub classifier_loss_reverse: f64,
}

impl OtTerms {
    fn weighted_sum(parts: &[(f64, OtTerms)]) -> OtTerms {
        let mut t = OtTerms::default();
        for (w, p) in parts {
            t.loss += w * p.loss;
            t.kinetic_forward += w * p.kinetic_forward;
            t.kinetic_reverse += w * p.kinetic_reverse;
            t.kl_forward += w * p.kl_forward;
            t.kl_reverse += w * p.kl_reverse;
        }
        t
    }
}

/// Callbacks of a training run.
pub trait OtHooks<T: Float> {
    /// After every flow iteration and its classifier steps.
    fn on_iteration(&mut self, _iteration: usize, _terms: &OtTerms) {}
    /// Every `checkpoint_every` iterations (as the caller asks) and at the end.
    fn on_checkpoint(&mut self, _iteration: usize, _state: &OtState<T>) -> Result<()> {
        Ok(())
    }
    /// How often [`OtHooks::on_checkpoint`] is called (0: only at the end).
    fn checkpoint_every(&self) -> usize {
        0
    }
}

/// Hooks that do nothing.
pub struct NoOtHooks;
impl<T: Float> OtHooks<T> for NoOtHooks {}

fn check_set<T: Float>(x: &Tensor<T>, dim: usize, what: &str) -> Result<()> {
    if x.rank() != 2 || x.dims()[1] != dim || x.dims()[0] == 0 {
        shape_err!("OT training needs a non-empty [n, {dim}] sample of {what}, got {}", x.shape());
    }
    if !x.all_finite()? {
        return Err(Error::NonFinite(format!("the sample of {what} contains non-finite values")));
    }
    Ok(())
}

/// `batch` rows of `x` drawn with replacement.
fn draw<T: Float>(x: &Tensor<T>, batch: usize, rng: &mut Rng) -> Result<Tensor<T>> {
    let n = x.dims()[0];
    let idx: Vec<usize> = (0..batch).map(|_| rng.below(n)).collect();
    x.gather_rows(&idx)
}

/// Block `b`'s map (or its inverse) of `x` recorded on the tape, with its
/// parameters `p` (trainable or frozen).
pub fn block_map_on_tape<'t, T: Float>(
    b: &Block<T>,
    p: &Params<'t, T>,
    x: Var<'t, T>,
    reverse: bool,
) -> Result<Var<'t, T>> {
    let grid: Vec<f64> = if reverse { b.spec.grid.iter().rev().copied().collect() } else { b.spec.grid.clone() };
    let field = &b.cnf.field;
    let (y, _) = fixed::integrate_on_grid(|t, s: &Var<'t, T>| field.forward(p, *s, t), x, &grid, b.spec.solver)?;
    Ok(y)
}

/// `Σ_k E|x_k − x_{k−1}|²` along the chain, and the chain's end, on the tape.
fn chain_on_tape<'t, T: Float>(
    flow: &BlockFlow<T>,
    params: &[Params<'t, T>],
    x: Var<'t, T>,
    reverse: bool,
) -> Result<(Var<'t, T>, Var<'t, T>)> {
    let order: Vec<usize> = if reverse { (0..flow.len()).rev().collect() } else { (0..flow.len()).collect() };
    let mut cur = x;
    let mut moved: Option<Var<'t, T>> = None;
    for k in order {
        let next = block_map_on_tape(&flow.blocks[k], &params[k], cur, reverse)?;
        let m = next.sub(&cur)?.square()?.sum_axis(1, true)?.mean_all()?;
        moved = Some(match moved {
            Some(acc) => acc.add(&m)?,
            None => m,
        });
        cur = next;
    }
    Ok((moved.expect("a flow has blocks"), cur))
}

/// What one sharded flow step computes: the terms, the gradients per block,
/// and the pushed particles `T(x)`, `T⁻¹(y)` (detached).
struct FlowStep<T: Float> {
    terms: OtTerms,
    grads: Vec<Vec<Tensor<T>>>,
    pushed: Tensor<T>,
    pulled: Option<Tensor<T>>,
}

/// Loss (27) on minibatches `x ~ p`, `y ~ q` and its gradients.
fn flow_loss_and_grads<T: Float>(
    cfg: &OtConfig,
    gamma: f64,
    (flow, to_target, to_source): (&BlockFlow<T>, &LogisticClassifier<T>, &LogisticClassifier<T>),
    x: &Tensor<T>,
    y: &Tensor<T>,
) -> Result<FlowStep<T>> {
    let n_blocks = flow.len() as f64;
    let batch = x.dims()[0];
    let c = combine_shards(batch, x.device(), |lo, hi| {
        let tape = Tape::new();
        let params: Vec<Params<'_, T>> = flow.blocks.iter().map(|b| b.store.attach(&tape)).collect();
        let (moved_f, tx) = chain_on_tape(flow, &params, tape.constant(x.slice(0, lo, hi - lo)?), false)?;
        let phi_q = to_target.store.attach_frozen(&tape);
        let kl_f = to_target.logit_on_tape(&phi_q, tx, None)?.mean_all()?.neg()?;
        let mut terms = OtTerms::default();
        let (loss, pulled) = if cfg.reverse {
            let (moved_r, ty) = chain_on_tape(flow, &params, tape.constant(y.slice(0, lo, hi - lo)?), true)?;
            let phi_p = to_source.store.attach_frozen(&tape);
            let kl_r = to_source.logit_on_tape(&phi_p, ty, None)?.mean_all()?.neg()?;
            let kinetic = moved_f.add(&moved_r)?.mul_scalar(0.5 * n_blocks)?;
            terms.kinetic_reverse = n_blocks * moved_r.value().item()?.to_f64();
            terms.kl_reverse = kl_r.value().item()?.to_f64();
            (kinetic.add(&kl_f.add(&kl_r)?.mul_scalar(gamma)?)?, Some(ty.value()))
        } else {
            (moved_f.mul_scalar(n_blocks)?.add(&kl_f.mul_scalar(gamma)?)?, None)
        };
        terms.kinetic_forward = n_blocks * moved_f.value().item()?.to_f64();
        terms.kl_forward = kl_f.value().item()?.to_f64();
        terms.loss = loss.value().item()?.to_f64();
        let g = tape.backward(loss)?;
        let mut flat = Vec::new();
        for p in &params {
            flat.extend(p.grads(&g)?);
        }
        Ok((terms.loss, flat, (terms, tx.value(), pulled)))
    })?;
    let terms = OtTerms::weighted_sum(&c.per_shard.iter().map(|(w, r)| (*w, r.0)).collect::<Vec<_>>());
    let pushed: Vec<&Tensor<T>> = c.per_shard.iter().map(|(_, r)| &r.1).collect();
    let pulled: Option<Vec<&Tensor<T>>> = c.per_shard.iter().map(|(_, r)| r.2.as_ref()).collect();
    let mut grads = Vec::with_capacity(flow.len());
    let mut rest = c.grads.into_iter();
    for b in &flow.blocks {
        grads.push(rest.by_ref().take(b.store.len()).collect());
    }
    Ok(FlowStep {
        terms,
        grads,
        pushed: Tensor::concat(&pushed, 0)?,
        pulled: match pulled {
            Some(parts) => Some(Tensor::concat(&parts, 0)?),
            None => None,
        },
    })
}

/// One Adam step of a classifier on `x0` (label 0) against `x1` (label 1).
fn classifier_step<T: Float>(
    c: &mut LogisticClassifier<T>,
    opt: &mut Adam<T>,
    x0: &Tensor<T>,
    x1: &Tensor<T>,
    iteration: usize,
) -> Result<f64> {
    let (loss, g) = c.logistic_loss_and_grads(x0, x1, None)?;
    if !loss.is_finite() {
        return Err(Error::NonFinite(format!("a KL classifier's loss became {loss} at iteration {iteration}")));
    }
    opt.step(&mut c.store, &g)?;
    Ok(loss)
}

/// Trains an OT-flow from samples `source ~ p` and `target ~ q` (`[n, d]`
/// each, any sizes).
pub fn train_ot<T: Float>(
    cfg: &OtConfig,
    source: &Tensor<T>,
    target: &Tensor<T>,
    init: OtInit<T>,
    hooks: &mut impl OtHooks<T>,
) -> Result<OtState<T>> {
    cfg.validate()?;
    check_set(source, cfg.dim, "p (the source)")?;
    check_set(target, cfg.dim, "q (the target)")?;
    let mut root = Rng::seed(cfg.seed ^ 0x07f1_0e57);
    let mut init_rng = root.split();
    let mut rng = root.split();
    let flow = match init {
        OtInit::Fresh => {
            let mut flow = BlockFlow::new(cfg.dim);
            for _ in 0..cfg.blocks {
                let mut b = Block::new(cfg.block_spec()?, &mut init_rng)?;
                zero_last_layer(&mut b)?;
                flow.push(b)?;
            }
            flow
        }
        OtInit::WarmStart { source_to_noise, target_to_noise } => warm_start_flow(&source_to_noise, &target_to_noise)?,
        OtInit::Flow(flow) => flow,
    };
    if flow.dim != cfg.dim || flow.is_empty() {
        shape_err!(
            "the initial flow has {} blocks in {} dimensions; {} dimensions are configured",
            flow.len(),
            flow.dim,
            cfg.dim
        );
    }
    let spec = cfg.classifier_spec();
    let mut state = OtState {
        flow,
        target_classifier: LogisticClassifier::new(spec.clone(), &mut init_rng)?,
        source_classifier: LogisticClassifier::new(spec, &mut init_rng)?,
    };
    let (mut opt_q, mut opt_p) = (Adam::new(cfg.classifier.lr), Adam::new(cfg.classifier.lr));
    let mut flow_opts: Vec<Adam<T>> = state.flow.blocks.iter().map(|_| Adam::new(cfg.lr)).collect();
    let schedule = Schedule::Cosine { lr: cfg.lr, min_lr: 0.1 * cfg.lr, total: cfg.iterations as u64 };

    // The classifiers first learn the initial flow's mismatch.
    if cfg.classifier_warmup > 0 {
        let pool = 4096.max(cfg.batch);
        let xs = draw(source, pool, &mut rng)?;
        let ys = draw(target, pool, &mut rng)?;
        let pushed = state.flow.transport(&xs, EvalOptions::default())?;
        let pulled = state.flow.invert(&ys, EvalOptions::default())?;
        for it in 0..cfg.classifier_warmup {
            let a = draw(&pushed, cfg.batch, &mut rng)?;
            let b = draw(target, cfg.batch, &mut rng)?;
            classifier_step(&mut state.target_classifier, &mut opt_q, &a, &b, it)?;
            if cfg.reverse {
                let a = draw(&pulled, cfg.batch, &mut rng)?;
                let b = draw(source, cfg.batch, &mut rng)?;
                classifier_step(&mut state.source_classifier, &mut opt_p, &a, &b, it)?;
            }
        }
    }

    let every = hooks.checkpoint_every();
    for it in 0..cfg.iterations {
        let x = draw(source, cfg.batch, &mut rng)?;
        let y = draw(target, cfg.batch, &mut rng)?;
        let classifiers = (&state.flow, &state.target_classifier, &state.source_classifier);
        let step = flow_loss_and_grads(cfg, cfg.gamma_at(it), classifiers, &x, &y)?;
        if !step.terms.loss.is_finite() {
            return Err(Error::NonFinite(format!(
                "the OT-flow loss became {} at iteration {it} (kinetic {:.4e}, KL terms {:.4e}, {:.4e})",
                step.terms.loss, step.terms.kinetic_forward, step.terms.kl_forward, step.terms.kl_reverse
            )));
        }
        let lr = schedule.lr(it as u64);
        for ((b, opt), g) in state.flow.blocks.iter_mut().zip(&mut flow_opts).zip(&step.grads) {
            opt.set_lr(lr);
            opt.step(&mut b.store, g)?;
        }
        let mut terms = step.terms;
        for _ in 0..cfg.classifier_steps {
            let b = draw(target, cfg.batch, &mut rng)?;
            terms.classifier_loss_forward =
                classifier_step(&mut state.target_classifier, &mut opt_q, &step.pushed, &b, it)?;
            if let Some(pulled) = &step.pulled {
                let b = draw(source, cfg.batch, &mut rng)?;
                terms.classifier_loss_reverse =
                    classifier_step(&mut state.source_classifier, &mut opt_p, pulled, &b, it)?;
            }
        }
        hooks.on_iteration(it, &terms);
        if every > 0 && (it + 1) % every == 0 && it + 1 < cfg.iterations {
            hooks.on_checkpoint(it + 1, &state)?;
        }
    }
    hooks.on_checkpoint(cfg.iterations, &state)?;
    Ok(state)
}

/// Sets a block's last layer to zero: the field is 0 and the block the identity.
fn zero_last_layer<T: Float>(b: &mut Block<T>) -> Result<()> {
    let ids = match &b.cnf.field {
        Field::TimeMlp(f) => {
            let l = f.mlp.layers.last().expect("an MLP has layers");
            vec![l.w, l.b]
        }
        Field::ConcatSquash(f) => {
            let l = f.layers.last().expect("a ConcatSquash MLP has layers");
            vec![l.layer.w, l.layer.b, l.hyper_bias]
        }
        Field::UNet(f) => f.output_params(),
    };
    for id in ids {
        let z = b.store.get(id).zeros_like()?;
        b.store.set(id, z)?;
    }
    Ok(())
}

/// Measures of a trained OT-flow on samples of `p` and `q`.
#[derive(Clone, Debug, PartialEq)]
pub struct OtDiagnostics {
    /// `N E|x_k − x_{k−1}|²` per block, forward from `p`.
    pub kinetic_per_block: Vec<f64>,
    /// Their sum: the particle kinetic energy of the path (≥ `transport_cost`).
    pub kinetic: f64,
    /// `E_p |T(x) − x|²`: the transport cost of the map.
    pub transport_cost: f64,
    /// `E_q |T⁻¹(y) − y|²`.
    pub reverse_transport_cost: f64,
    /// `−E_p φ_q(T(x))`, the classifier estimate of `KL(T#p ‖ q)`.
    pub kl_forward: f64,
    /// `−E_q φ_p(T⁻¹(y))`, the classifier estimate of `KL(T⁻¹#q ‖ p)`.
    pub kl_reverse: f64,
    /// `√(E|T⁻¹(T(x)) − x|²)` on the sample of `p`.
    pub inversion_rms: f64,
    pub inversion_max: f64,
}

/// `Σ |a_i − b_i|²` over all rows.
fn sum_sq_dist<T: Float>(a: &Tensor<T>, b: &Tensor<T>) -> Result<f64> {
    let (a, b) = (a.to_f64_vec()?, b.to_f64_vec()?);
    Ok(a.iter().zip(&b).map(|(u, v)| (u - v).powi(2)).sum::<f64>())
}

/// Evaluates a trained OT-flow with the solver settings `opts`.
pub fn diagnose<T: Float>(
    state: &OtState<T>,
    source: &Tensor<T>,
    target: &Tensor<T>,
    opts: EvalOptions,
) -> Result<OtDiagnostics> {
    let flow = &state.flow;
    check_set(source, flow.dim, "p (the source)")?;
    check_set(target, flow.dim, "q (the target)")?;
    let (n, m) = (source.dims()[0] as f64, target.dims()[0] as f64);
    let nb = flow.len() as f64;
    let mut cur = source.clone();
    let mut kinetic_per_block = Vec::with_capacity(flow.len());
    for k in 0..flow.len() {
        let next = flow.transport_blocks(&cur, k..k + 1, opts)?;
        kinetic_per_block.push(nb * sum_sq_dist(&next, &cur)? / n);
        cur = next;
    }
    let pushed = cur;
    let pulled = flow.invert(target, opts)?;
    let back = flow.invert(&pushed, opts)?;
    let per_row = |a: &Tensor<T>, b: &Tensor<T>| -> Result<Vec<f64>> {
        let d = flow.dim;
        let (a, b) = (a.to_f64_vec()?, b.to_f64_vec()?);
        Ok(a.chunks(d).zip(b.chunks(d)).map(|(u, v)| u.iter().zip(v).map(|(s, t)| (s - t).powi(2)).sum()).collect())
    };
    let inv = per_row(&back, source)?;
    Ok(OtDiagnostics {
        kinetic: kinetic_per_block.iter().sum(),
        kinetic_per_block,
        transport_cost: sum_sq_dist(&pushed, source)? / n,
        reverse_transport_cost: sum_sq_dist(&pulled, target)? / m,
        kl_forward: -mean(&state.target_classifier.logits(&pushed, None)?),
        kl_reverse: -mean(&state.source_classifier.logits(&pulled, None)?),
        inversion_rms: (inv.iter().sum::<f64>() / n).sqrt(),
        inversion_max: inv.iter().fold(0.0f64, |a, &b| a.max(b)).sqrt(),
    })
}

fn mean(v: &[f64]) -> f64 {
    v.iter().sum::<f64>() / v.len().max(1) as f64
}

/// `log|det ∇T(x)| = Σ_k ∫ ∇·v_k dt` along each row's forward path (on the
/// blocks' fixed grids refined by `opts.step`, with the exact divergence
/// unless `opts.divergence` says otherwise): with it,
/// `log T#p(T(x)) = log p(x) − log|det ∇T(x)|`, and for `x = T⁻¹(y)`,
/// `log T⁻¹#q(x) = log q(y) + log|det ∇T(x)|`, so KL terms of densities
/// known in closed form can be checked exactly by Monte Carlo.
pub fn log_det_jacobian<T: Float>(
    flow: &BlockFlow<T>,
    x: &Tensor<T>,
    opts: EvalOptions,
    rng: &mut Rng,
) -> Result<Vec<f64>> {
    let opts = EvalOptions { adaptive: None, divergence: Some(opts.divergence.unwrap_or(Divergence::Exact)), ..opts };
    let log_prob = flow.log_prob(x, 4096, rng, opts)?;
    let z = flow.transport(x, opts)?.to_f64_vec()?;
    let d = flow.dim as f64;
    let half_log_2pi = 0.5 * d * (2.0 * std::f64::consts::PI).ln();
    Ok(log_prob
        .iter()
        .zip(z.chunks(flow.dim))
        .map(|(lp, zi)| lp + 0.5 * zi.iter().map(|v| v * v).sum::<f64>() + half_log_2pi)
        .collect())
}
