//! One JKO step: loss (24) on a minibatch with its gradients, the training
//! loop of one block, and the untracked passes over the cached particles
//! (pushing them through a finished block, evaluating its loss terms).

use std::cell::Cell;

use super::JkoHooks;
use super::diagnostics::{LossTerms, Phase};
use crate::autodiff::Var;
use crate::backend::cpu::team;
use crate::density::{Backprop, Cnf, Divergence};
use crate::dist;
use crate::flows::block::Block;
use crate::flows::field::Field;
use crate::nn::ParamStore;
use crate::nn::data_parallel::combine_shards;
use crate::optim::{Adam, Optimizer, clip_if};
use crate::tensor::random::Rng;
use crate::tensor::{Float, Tensor};
use crate::{Error, Result, shape_err};

/// Rows per task when pushing or evaluating the cached particles (fixed, so
/// that a resumed run pushes them in the same pieces, bit for bit).
pub const PUSH_CHUNK: usize = 4096;

/// Forces the higher-ranked closure signature a terminal loss needs.
fn terminal<T: Float, F: for<'t> Fn(Var<'t, T>, Var<'t, T>) -> Result<Var<'t, T>>>(f: F) -> F {
    f
}

/// Loss (24) of the terminal state `(z, ℓ)` of particles that started at
/// `x0`, recording its terms in `terms`.
fn jko_loss<'t, T: Float>(
    z: Var<'t, T>,
    l: Var<'t, T>,
    x0: &Tensor<T>,
    h: f64,
    terms: &Cell<LossTerms>,
) -> Result<Var<'t, T>> {
    let potential = z.square()?.sum_axis(1, true)?.mean_all()?.mul_scalar(0.5)?;
    let divergence = l.mean_all()?;
    let moved = z.sub(&z.tape().constant(x0.clone()))?;
    let transport = moved.square()?.sum_axis(1, true)?.mean_all()?.mul_scalar(0.5 / h)?;
    let total = potential.sub(&divergence)?.add(&transport)?;
    let value = |v: &Var<'t, T>| -> Result<f64> { Ok(v.value().item()?.to_f64()) };
    terms.set(LossTerms {
        potential: value(&potential)?,
        divergence: value(&divergence)?,
        transport: value(&transport)?,
        total: value(&total)?,
    });
    Ok(total)
}

/// Loss (24) of a block with step `h` on the minibatch `x` and its gradients
/// with respect to the block's parameters (store order). The batch is split
/// into one shard per thread, each flowed and differentiated on its own tape
/// (as [`Backprop::nll_and_grads`]); `directions` are stacked as
/// [`Divergence::directions_for`] makes them.
pub fn jko_loss_and_grads<T: Float>(
    cnf: &Cnf<Field>,
    store: &ParamStore<T>,
    x: &Tensor<T>,
    directions: &Tensor<T>,
    h: f64,
    backprop: Backprop,
) -> Result<(LossTerms, Vec<Tensor<T>>)> {
    if x.rank() != 2 || x.dims()[0] == 0 {
        shape_err!("a JKO minibatch is a non-empty [batch, d] set of points, got {}", x.shape());
    }
    let batch = x.dims()[0];
    if directions.rank() != 2 || !directions.dims()[0].is_multiple_of(batch) {
        shape_err!("divergence directions of shape {} do not fit a batch of {batch}", directions.shape());
    }
    let k = directions.dims()[0] / batch;
    let c = combine_shards(batch, x.device(), |lo, hi| {
        let xs = x.slice(0, lo, hi - lo)?;
        let ds = if hi - lo == batch {
            directions.clone()
        } else {
            let rows: Vec<usize> = (0..k).flat_map(|j| (j * batch + lo)..(j * batch + hi)).collect();
            directions.gather_rows(&rows)?
        };
        let terms = Cell::new(LossTerms::default());
        let loss = terminal(|z, l| jko_loss(z, l, &xs, h, &terms));
        let r = backprop.loss_and_grads(cnf, store, &xs, &ds, &loss)?;
        Ok((r.loss, r.param_grads, terms.get()))
    })?;
    Ok((LossTerms::weighted_sum(&c.per_shard), c.grads))
}

/// How one block is trained.
pub(super) struct BlockTraining {
    pub phase: Phase,
    /// 1-based.
    pub block: usize,
    pub h: f64,
    pub iterations: usize,
    pub lr: f64,
    pub clip_grad: Option<f64>,
    pub batch: usize,
    pub divergence: Divergence,
    pub backprop: Backprop,
}

/// Trains `block` with Adam on minibatches of `particles` (drawn without
/// replacement, reshuffled when fewer than a batch remain).
pub(super) fn train_block<T: Float>(
    block: &mut Block<T>,
    particles: &Tensor<T>,
    tr: &BlockTraining,
    rng: &mut Rng,
    hooks: &mut impl JkoHooks<T>,
) -> Result<()> {
    let (n, d) = (particles.dims()[0], particles.dims()[1]);
    let batch = tr.batch.min(n);
    let mut opt = Adam::new(tr.lr);
    let mut order = rng.permutation(n);
    let mut next = 0;
    let (cnf, store) = (&block.cnf, &mut block.store);
    // Every rank draws the whole minibatch and takes its rows (see `crate::dist`).
    let group = dist::training_group();
    let (lo, hi) = dist::rank_rows(group, batch)?;
    for iteration in 0..tr.iterations {
        if next + batch > n {
            order = rng.permutation(n);
            next = 0;
        }
        let x = particles.gather_rows(&order[next + lo..next + hi])?;
        next += batch;
        let dirs = tr.divergence.directions_for(batch, d, x.device(), rng)?;
        let dirs = dist::stacked_rows(&dirs, batch, lo, hi)?;
        let (terms, grads) = jko_loss_and_grads(cnf, store, &x, &dirs, tr.h, tr.backprop)?;
        let (terms, mut grads) = if group.size() == 1 {
            (terms, grads)
        } else {
            let parts = [terms.potential, terms.divergence, terms.transport];
            let m = dist::mean_over_ranks(group, hi - lo, batch, terms.total, grads, &parts)?;
            let [potential, divergence, transport] = m.extra[..] else { unreachable!("three parts in, three out") };
            (LossTerms { potential, divergence, transport, total: m.loss }, m.grads)
        };
        if !terms.total.is_finite() {
            return Err(Error::NonFinite(format!(
                "JKO training loss became {} at iteration {iteration} of block {} ({} pass); \
                 the blocks before it are complete",
                terms.total,
                tr.block,
                tr.phase.name()
            )));
        }
        clip_if(&mut grads, tr.clip_grad)?;
        opt.step(store, &grads)?;
        crate::backend::profile::end_iteration();
        hooks.on_iteration(tr.block, iteration, &terms);
    }
    Ok(())
}

fn chunks(n: usize) -> Vec<(usize, usize)> {
    (0..n.div_ceil(PUSH_CHUNK)).map(|c| (c * PUSH_CHUNK, PUSH_CHUNK.min(n - c * PUSH_CHUNK))).collect()
}

/// `T(x)` for every row of `x`, in chunks of [`PUSH_CHUNK`] rows across the
/// threads (the same bits whatever the thread count).
pub fn push_particles<T: Float>(block: &Block<T>, x: &Tensor<T>) -> Result<Tensor<T>> {
    let parts = chunks(x.dims()[0]);
    let pushed: Vec<Result<Tensor<T>>> =
        team::map_collect(parts.len(), |c| block.cnf.transport(&block.store, &x.slice(0, parts[c].0, parts[c].1)?));
    let pushed: Vec<Tensor<T>> = pushed.into_iter().collect::<Result<_>>()?;
    if pushed.is_empty() {
        return Ok(x.clone());
    }
    let refs: Vec<&Tensor<T>> = pushed.iter().collect();
    Tensor::concat(&refs, 0)
}

/// Loss (24) of a trained block on the points `x` (untracked), in chunks;
/// Hutchinson probes, if any, are drawn from `rng` chunk by chunk in order.
pub(super) fn evaluate_terms<T: Float>(block: &Block<T>, x: &Tensor<T>, h: f64, rng: &mut Rng) -> Result<LossTerms> {
    let (n, d) = (x.dims()[0], x.dims()[1]);
    let parts = chunks(n);
    let dirs: Vec<Tensor<T>> = parts
        .iter()
        .map(|&(_, len)| block.cnf.divergence.directions_for(len, d, x.device(), rng))
        .collect::<Result<_>>()?;
    // Under data parallelism each rank evaluates its share of the chunks;
    // the per-chunk sums are gathered and added in chunk order, as here.
    let group = dist::training_group();
    let (c_lo, c_hi) = dist::part_bounds(parts.len(), group.size(), group.rank());
    let sums: Vec<Result<[f64; 3]>> = team::map_collect(c_hi - c_lo, |i| {
        let c = c_lo + i;
        let xs = x.slice(0, parts[c].0, parts[c].1)?;
        let (z, l) = block.cnf.forward(&block.store, &xs, &dirs[c])?;
        let (z, l) = (z.to_f64_vec()?, l.to_f64_vec()?);
        let x0 = xs.to_f64_vec()?;
        let potential = 0.5 * z.iter().map(|v| v * v).sum::<f64>();
        let moved = z.iter().zip(&x0).map(|(a, b)| (a - b).powi(2)).sum::<f64>();
        Ok([potential, l.iter().sum::<f64>(), moved])
    });
    let mine: Vec<f64> = sums.into_iter().collect::<Result<Vec<[f64; 3]>>>()?.concat();
    let all = dist::all_gather_rows(group, &Tensor::from_vec(mine, [c_hi - c_lo, 3])?)?.to_vec()?;
    let mut total = [0.0; 3];
    for s in all.chunks_exact(3) {
        for (t, &v) in total.iter_mut().zip(s) {
            *t += v;
        }
    }
    let m = n.max(1) as f64;
    let (potential, divergence, transport) = (total[0] / m, total[1] / m, total[2] / m / (2.0 * h));
    Ok(LossTerms { potential, divergence, transport, total: potential - divergence + transport })
}
