//! Data-parallel gradients: a loss that is a mean over the rows of a batch,
//! computed in shards, one per thread, each on its own tape.
//!
//! Splitting every op of a small network across cores moves each
//! intermediate between the cores' caches and pays a hand-over per op; on the
//! 2-core development VM an MLP step was barely faster on two threads than on
//! one that way. Whole shards keep their data on one core (the kernels inside
//! run on their calling thread). Results depend on the thread count through
//! the shard boundaries; the same count gives the same bits.

use super::params::{ParamStore, Params};
use crate::autodiff::{Tape, Var};
use crate::backend::Device;
use crate::backend::cpu::team;
use crate::tensor::{Float, Tensor};
use crate::{Result, shape_err};

/// Shards smaller than this are not worth a thread.
pub const MIN_SHARD_ROWS: usize = 64;

/// The row ranges `[lo, hi)` a batch on `device` is cut into: on the CPU one
/// per thread, none shorter than [`MIN_SHARD_ROWS`] (a single range for small
/// batches); on a GPU one range, since its kernels already span the batch.
pub fn shard_bounds(batch: usize, device: Device) -> Vec<(usize, usize)> {
    let threads = if device == Device::Cpu { team::threads() } else { 1 };
    let shards = threads.min(batch / MIN_SHARD_ROWS).max(1);
    (0..shards).map(|s| (s * batch / shards, (s + 1) * batch / shards)).collect()
}

/// What [`combine_shards`] returns: the batch-mean loss and gradients, and
/// each shard's weight `n_s/n` with its per-row results.
pub struct Combined<T: Float, R> {
    pub loss: f64,
    pub grads: Vec<Tensor<T>>,
    pub per_shard: Vec<(f64, R)>,
}

/// Runs `shard(lo, hi)` for every range of [`shard_bounds`] across the team
/// and returns the mean over the batch, `Σ_s (n_s/n)·(loss_s, grads_s)`,
/// summed in shard order; `shard` returns the mean loss of its rows, its
/// gradients, and any per-row results (kept unweighted, in shard order).
pub fn combine_shards<T: Float, R: Send>(
    batch: usize,
    device: Device,
    shard: impl Fn(usize, usize) -> Result<(f64, Vec<Tensor<T>>, R)> + Sync,
) -> Result<Combined<T, R>> {
    let bounds = shard_bounds(batch, device);
    let results = team::map_collect(bounds.len(), |s| shard(bounds[s].0, bounds[s].1));
    let mut loss = 0.0;
    let mut sum: Vec<Tensor<T>> = Vec::new();
    let mut rows = Vec::with_capacity(bounds.len());
    for (r, &(lo, hi)) in results.into_iter().zip(&bounds) {
        let (l, g, extra) = r?;
        let w = (hi - lo) as f64 / batch as f64;
        loss += w * l;
        let g: Vec<Tensor<T>> =
            if bounds.len() == 1 { g } else { g.iter().map(|t| t.scale(w)).collect::<Result<_>>()? };
        sum = if sum.is_empty() { g } else { sum.iter().zip(&g).map(|(a, b)| a.add(b)).collect::<Result<_>>()? };
        rows.push((w, extra));
    }
    Ok(Combined { loss, grads: sum, per_shard: rows })
}

/// The mean loss over the rows of `x` and its gradients with respect to
/// every parameter (store order). `loss(params, x_shard)` must return the
/// mean over the shard's rows; shards are weighted by their sizes.
pub fn mean_loss_and_grads<T: Float>(
    store: &ParamStore<T>,
    x: &Tensor<T>,
    loss: impl for<'t> Fn(&Params<'t, T>, Var<'t, T>) -> Result<Var<'t, T>> + Sync,
) -> Result<(f64, Vec<Tensor<T>>)> {
    if x.rank() == 0 {
        shape_err!("a batch needs a leading axis of rows");
    }
    let c = combine_shards(x.dims()[0], x.device(), |lo, hi| {
        let tape = Tape::new();
        let p = store.attach(&tape);
        let value = loss(&p, tape.constant(x.slice(0, lo, hi - lo)?))?;
        let grads = p.grads(&tape.backward(value)?)?;
        Ok((value.value().item()?.to_f64(), grads, ()))
    })?;
    Ok((c.loss, c.grads))
}
