//! The affine layer `y = x·W + b`.

use super::init::Init;
use super::params::{ParamId, ParamStore, Params};
use crate::Result;
use crate::autodiff::Var;
use crate::tensor::random::Rng;
use crate::tensor::{Float, Tensor};

/// `y = x·W + b` with `W` of shape `[in_dim, out_dim]`.
#[derive(Clone, Debug)]
pub struct Linear {
    pub w: ParamId,
    pub b: ParamId,
    pub in_dim: usize,
    pub out_dim: usize,
}

impl Linear {
    /// Adds `{name}.weight` and `{name}.bias` to `store`.
    pub fn new<T: Float>(
        store: &mut ParamStore<T>,
        name: &str,
        in_dim: usize,
        out_dim: usize,
        init: Init,
        rng: &mut Rng,
    ) -> Result<Self> {
        let w = store.add(format!("{name}.weight"), init.weight(in_dim, out_dim, rng)?)?;
        let b = store.add(format!("{name}.bias"), init.bias(in_dim, out_dim, rng)?)?;
        Ok(Linear { w, b, in_dim, out_dim })
    }
    /// Recorded on a tape.
    pub fn forward<'t, T: Float>(&self, p: &Params<'t, T>, x: Var<'t, T>) -> Result<Var<'t, T>> {
        x.affine(&p.var(self.w), &p.var(self.b))
    }
    /// The tangent map `t ↦ t·W` (the layer's Jacobian applied to `t`).
    pub fn tangent<'t, T: Float>(&self, p: &Params<'t, T>, t: Var<'t, T>) -> Result<Var<'t, T>> {
        t.matmul(&p.var(self.w))
    }
    /// Untracked evaluation.
    pub fn eval<T: Float>(&self, store: &ParamStore<T>, x: &Tensor<T>) -> Result<Tensor<T>> {
        x.affine(store.get(self.w), store.get(self.b))
    }
}
