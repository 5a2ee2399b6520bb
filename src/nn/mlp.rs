//! Multilayer perceptrons, with forward-mode tangents for Jacobian-vector
//! products (exact and Hutchinson divergences differentiate through them).

use super::init::Init;
use super::linear::Linear;
use super::params::{ParamStore, Params};
use crate::autodiff::Var;
use crate::backend::Activation;
use crate::tensor::random::Rng;
use crate::tensor::{Float, Tensor};
use crate::{Result, invalid_arg, shape_err};

/// `x ↦ L_n ∘ σ ∘ L_{n−1} ∘ … ∘ σ ∘ L_1 (x)`: affine layers with one
/// activation between them and none after the last.
#[derive(Clone, Debug)]
pub struct Mlp {
    pub layers: Vec<Linear>,
    pub act: Activation,
}

impl Mlp {
    /// Layers `widths[0] → widths[1] → … → widths[n]`, named `{name}.{i}`.
    pub fn new<T: Float>(
        store: &mut ParamStore<T>,
        name: &str,
        widths: &[usize],
        act: Activation,
        init: Init,
        rng: &mut Rng,
    ) -> Result<Self> {
        if widths.len() < 2 {
            invalid_arg!("an MLP needs at least an input and an output width, got {widths:?}");
        }
        if widths.contains(&0) {
            invalid_arg!("MLP widths must be positive, got {widths:?}");
        }
        let layers = widths
            .windows(2)
            .enumerate()
            .map(|(i, w)| Linear::new(store, &format!("{name}.{i}"), w[0], w[1], init, rng))
            .collect::<Result<_>>()?;
        Ok(Mlp { layers, act })
    }

    pub fn in_dim(&self) -> usize {
        self.layers[0].in_dim
    }
    pub fn out_dim(&self) -> usize {
        self.layers.last().expect("an MLP has layers").out_dim
    }

    fn check_input(&self, cols: usize) -> Result<()> {
        if cols != self.in_dim() {
            shape_err!("MLP expects {} input columns, got {cols}", self.in_dim());
        }
        Ok(())
    }

    /// The output for a batch `x` of shape `[batch, in_dim]`, recorded on a tape.
    pub fn forward<'t, T: Float>(&self, p: &Params<'t, T>, x: Var<'t, T>) -> Result<Var<'t, T>> {
        self.check_input(x.shape().as_matrix()?.1)?;
        let mut h = x;
        let last = self.layers.len() - 1;
        for (i, l) in self.layers.iter().enumerate() {
            h = if i == last { l.forward(p, h)? } else { h.matmul(&p.var(l.w))?.bias_act(&p.var(l.b), self.act)? };
        }
        Ok(h)
    }

    /// The output and Jacobian-vector products for a batch `x` of shape
    /// `[batch, in_dim]` and `k` tangent directions stacked as `t` of shape
    /// `[k·batch, in_dim]` (row `j·batch + i` is direction `j` at sample `i`).
    /// Returns `(v(x), J_v(x)·t)` with the tangents stacked the same way.
    ///
    /// Tangents go through the layers in forward mode: `t ↦ t·W`, then
    /// `t ↦ σ'(z) ⊙ t` at each activation, stacked below the primal rows so
    /// that each layer is one GEMM ([`Var::tangent_act`]). All of it is recorded
    /// on the tape, so the tangents can be differentiated with respect to the
    /// parameters.
    pub fn forward_with_tangents<'t, T: Float>(
        &self,
        p: &Params<'t, T>,
        x: Var<'t, T>,
        t: Var<'t, T>,
    ) -> Result<(Var<'t, T>, Var<'t, T>)> {
        let (batch, cols) = x.shape().as_matrix()?;
        self.check_input(cols)?;
        let (trows, tcols) = t.shape().as_matrix()?;
        if tcols != cols || batch == 0 || trows % batch != 0 {
            shape_err!("tangents of shape {} do not stack over a batch of {batch}×{cols}", t.shape());
        }
        let k = trows / batch;
        // Primal and tangent rows stacked: one GEMM per layer for all of them.
        let mut z = Var::concat(&[x, t], 0)?;
        let last = self.layers.len() - 1;
        for (i, l) in self.layers.iter().enumerate() {
            let act = if i == last { Activation::Identity } else { self.act };
            z = z.matmul(&p.var(l.w))?.tangent_act(&p.var(l.b), batch, act)?;
        }
        Ok((z.slice(0, 0, batch)?, z.slice(0, batch, k * batch)?))
    }

    /// Untracked evaluation (no tape): for sampling and inference.
    pub fn eval<T: Float>(&self, store: &ParamStore<T>, x: &Tensor<T>) -> Result<Tensor<T>> {
        self.check_input(x.shape().as_matrix()?.1)?;
        let mut h = x.clone();
        let last = self.layers.len() - 1;
        for (i, l) in self.layers.iter().enumerate() {
            h = if i == last {
                l.eval(store, &h)?
            } else {
                h.matmul(store.get(l.w))?.bias_act(store.get(l.b), self.act)?
            };
        }
        Ok(h)
    }
}
