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
use crate::backend::cpu::team;
use crate::tensor::{Float, Tensor};
use crate::{Result, shape_err};

/// Shards smaller than this are not worth a thread.
pub const MIN_SHARD_ROWS: usize = 64;

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
    let batch = x.dims()[0];
    let shards = team::threads().min(batch / MIN_SHARD_ROWS).max(1);
    let results = team::map_collect(shards, |s| -> Result<(f64, Vec<Tensor<T>>)> {
        let (lo, hi) = (s * batch / shards, (s + 1) * batch / shards);
        let tape = Tape::new();
        let p = store.attach(&tape);
        let value = loss(&p, tape.constant(x.slice(0, lo, hi - lo)?))?;
        let grads = p.grads(&tape.backward(value)?)?;
        let w = (hi - lo) as f64 / batch as f64;
        let grads = if shards == 1 { grads } else { grads.iter().map(|g| g.scale(w)).collect::<Result<_>>()? };
        Ok((w * value.value().item()?.to_f64(), grads))
    });
    let mut total = 0.0;
    let mut sum: Vec<Tensor<T>> = Vec::new();
    for r in results {
        let (l, g) = r?;
        total += l;
        sum = if sum.is_empty() { g } else { sum.iter().zip(&g).map(|(a, b)| a.add(b)).collect::<Result<_>>()? };
    }
    Ok((total, sum))
}
