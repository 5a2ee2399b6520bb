//! Time-dependent velocity fields `v(x, t)`: the right-hand sides of neural
//! ODE flows, with forward-mode tangents for their Jacobian-vector products.

use super::init::Init;
use super::linear::Linear;
use super::mlp::Mlp;
use super::params::{ParamStore, Params};
use crate::autodiff::Var;
use crate::backend::{Activation, UnaryOp};
use crate::tensor::random::Rng;
use crate::tensor::{Float, Tensor};
use crate::{Result, invalid_arg, shape_err};

/// A velocity field `v: ℝᵈ × ℝ → ℝᵈ` with parameters in a [`ParamStore`].
pub trait VelocityField<T: Float> {
    /// The dimension `d` of the space.
    fn dim(&self) -> usize;

    /// `v(x, t)` for a batch `x` of shape `[batch, d]`, recorded on a tape.
    fn forward<'t>(&self, p: &Params<'t, T>, x: Var<'t, T>, t: f64) -> Result<Var<'t, T>>;

    /// `v(x, t)` and `∂v/∂x · τ` for tangents `τ` stacked as `[k·batch, d]`
    /// (row `j·batch + i` is direction `j` at sample `i`), both on the tape.
    fn forward_with_tangents<'t>(
        &self,
        p: &Params<'t, T>,
        x: Var<'t, T>,
        t: f64,
        tangents: Var<'t, T>,
    ) -> Result<(Var<'t, T>, Var<'t, T>)>;

    /// `v(x, t)` without a tape (sampling, evaluation).
    fn eval(&self, store: &ParamStore<T>, x: &Tensor<T>, t: f64) -> Result<Tensor<T>>;

    /// `v(xᵢ, tᵢ)` with each row at its own time, `t` of shape `[batch, 1]`,
    /// recorded on a tape and differentiable in `x`, `t` and the parameters.
    /// Flow matching regresses the field at pairs that each have their own time.
    fn forward_rows<'t>(&self, p: &Params<'t, T>, x: Var<'t, T>, t: Var<'t, T>) -> Result<Var<'t, T>>;
}

fn check_batch<T: Float>(x: &Tensor<T>, d: usize) -> Result<()> {
    match x.dims() {
        [_, c] if *c == d => Ok(()),
        _ => shape_err!("velocity field on ℝ^{d} expects points of shape [batch, {d}], got {}", x.shape()),
    }
}

/// Times `t` of shape `[batch, 1]` for points `x` of `[batch, d]`.
fn check_times<T: Float>(x: &Tensor<T>, t: &Tensor<T>, d: usize) -> Result<()> {
    check_batch(x, d)?;
    if t.dims() != [x.dims()[0], 1] {
        shape_err!("per-row times for {} points must have shape [{}, 1], got {}", x.dims()[0], x.dims()[0], t.shape());
    }
    Ok(())
}

/// `(batch, k)` for points `x` of `[batch, d]` and `k` tangent directions
/// stacked as `[k·batch, d]`.
pub(super) fn check_tangents<T: Float>(x: &Tensor<T>, tangents: &Tensor<T>, d: usize) -> Result<(usize, usize)> {
    check_batch(x, d)?;
    let batch = x.dims()[0];
    match tangents.dims() {
        [rows, cols] if *cols == d && batch > 0 && rows % batch == 0 => Ok((batch, rows / batch)),
        _ => shape_err!("tangents of shape {} do not stack over a batch of {batch}×{d}", tangents.shape()),
    }
}

/// An MLP on `(x, t)`: `t` is appended to the input as one more column.
///
/// The time column is folded into the first layer's bias (`[x, t]·W + b =
/// x·W_x + (b + t·w_t)`), so no input is concatenated per evaluation.
#[derive(Clone, Debug)]
pub struct TimeMlp {
    pub mlp: Mlp,
    pub dim: usize,
}

impl TimeMlp {
    /// `widths` are the hidden widths: the network is `d+1 → widths… → d`.
    pub fn new<T: Float>(
        store: &mut ParamStore<T>,
        name: &str,
        dim: usize,
        hidden: &[usize],
        act: Activation,
        init: Init,
        rng: &mut Rng,
    ) -> Result<Self> {
        if dim == 0 {
            invalid_arg!("velocity field dimension must be positive");
        }
        let mut widths = vec![dim + 1];
        widths.extend_from_slice(hidden);
        widths.push(dim);
        Ok(TimeMlp { mlp: Mlp::new(store, name, &widths, act, init, rng)?, dim })
    }

    /// The first layer's weights split into the `x` rows and the bias at time `t`.
    fn first_layer<'t, T: Float>(&self, p: &Params<'t, T>, t: f64) -> Result<(Var<'t, T>, Var<'t, T>)> {
        let l = &self.mlp.layers[0];
        let w = p.var(l.w);
        let wx = w.slice(0, 0, self.dim)?;
        let wt = w.slice(0, self.dim, 1)?.reshape([l.out_dim])?;
        let b = wt.mul_scalar(t)?.add(&p.var(l.b))?;
        Ok((wx, b))
    }
}

impl<T: Float> VelocityField<T> for TimeMlp {
    fn dim(&self) -> usize {
        self.dim
    }

    fn forward<'t>(&self, p: &Params<'t, T>, x: Var<'t, T>, t: f64) -> Result<Var<'t, T>> {
        check_batch(&x.value(), self.dim)?;
        let (wx, b) = self.first_layer(p, t)?;
        let mut z = x.matmul(&wx)?;
        let mut bias = b;
        for l in &self.mlp.layers[1..] {
            z = z.bias_act(&bias, self.mlp.act)?.matmul(&p.var(l.w))?;
            bias = p.var(l.b);
        }
        z.bias_act(&bias, Activation::Identity)
    }

    fn forward_with_tangents<'t>(
        &self,
        p: &Params<'t, T>,
        x: Var<'t, T>,
        t: f64,
        tangents: Var<'t, T>,
    ) -> Result<(Var<'t, T>, Var<'t, T>)> {
        let (batch, k) = check_tangents(&x.value(), &tangents.value(), self.dim)?;
        // Primal and tangent rows stacked: one GEMM per layer for all of them.
        let (wx, b) = self.first_layer(p, t)?;
        let mut z = Var::concat(&[x, tangents], 0)?.matmul(&wx)?;
        let mut bias = b;
        for l in &self.mlp.layers[1..] {
            z = z.tangent_act(&bias, batch, self.mlp.act)?.matmul(&p.var(l.w))?;
            bias = p.var(l.b);
        }
        let out = z.tangent_act(&bias, batch, Activation::Identity)?;
        Ok((out.slice(0, 0, batch)?, out.slice(0, batch, k * batch)?))
    }

    fn eval(&self, store: &ParamStore<T>, x: &Tensor<T>, t: f64) -> Result<Tensor<T>> {
        check_batch(x, self.dim)?;
        let l0 = &self.mlp.layers[0];
        let w = store.get(l0.w);
        let wx = w.slice(0, 0, self.dim)?;
        let b = w.slice(0, self.dim, 1)?.reshape([l0.out_dim])?.scale(t)?.add(store.get(l0.b))?;
        let mut z = x.matmul(&wx)?;
        let mut bias = b;
        for l in &self.mlp.layers[1..] {
            z = z.bias_act(&bias, self.mlp.act)?.matmul(store.get(l.w))?;
            bias = store.get(l.b).clone();
        }
        z.bias_act(&bias, Activation::Identity)
    }

    fn forward_rows<'t>(&self, p: &Params<'t, T>, x: Var<'t, T>, t: Var<'t, T>) -> Result<Var<'t, T>> {
        check_times(&x.value(), &t.value(), self.dim)?;
        // With a time per row the time column cannot fold into a bias; `[x, t]`
        // is then the first layer's own input and `[x, t]·W` one GEMM (k = d+1).
        let l0 = &self.mlp.layers[0];
        let mut z = Var::concat(&[x, t], 1)?.matmul(&p.var(l0.w))?;
        let mut bias = p.var(l0.b);
        for l in &self.mlp.layers[1..] {
            z = z.bias_act(&bias, self.mlp.act)?.matmul(&p.var(l.w))?;
            bias = p.var(l.b);
        }
        z.bias_act(&bias, Activation::Identity)
    }
}

/// FFJORD's ConcatSquash layer: `y = (x·W + b) ⊙ σ(t·g_w + g_b) + t·h_w`,
/// a linear layer whose outputs are gated and shifted by functions of time.
#[derive(Clone, Debug)]
pub struct ConcatSquashLinear {
    pub layer: Linear,
    /// Gate: `1 → out` with bias.
    pub gate: Linear,
    /// Hyper-bias weights `h_w` (`1 → out`, no bias).
    pub hyper_bias: super::params::ParamId,
}

impl ConcatSquashLinear {
    pub fn new<T: Float>(
        store: &mut ParamStore<T>,
        name: &str,
        in_dim: usize,
        out_dim: usize,
        init: Init,
        rng: &mut Rng,
    ) -> Result<Self> {
        let layer = Linear::new(store, &format!("{name}.layer"), in_dim, out_dim, init, rng)?;
        let gate = Linear::new(store, &format!("{name}.gate"), 1, out_dim, init, rng)?;
        let hyper_bias = store.add(format!("{name}.hyper_bias.weight"), init.weight(1, out_dim, rng)?)?;
        Ok(ConcatSquashLinear { layer, gate, hyper_bias })
    }

    /// `(gate(t), shift(t))`, each of shape `[out]`.
    fn time_terms<'t, T: Float>(&self, p: &Params<'t, T>, t: f64) -> Result<(Var<'t, T>, Var<'t, T>)> {
        let n = self.layer.out_dim;
        let g = p.var(self.gate.w).reshape([n])?.mul_scalar(t)?.add(&p.var(self.gate.b))?.sigmoid()?;
        let s = p.var(self.hyper_bias).reshape([n])?.mul_scalar(t)?;
        Ok((g, s))
    }

    fn eval_time_terms<T: Float>(&self, store: &ParamStore<T>, t: f64) -> Result<(Tensor<T>, Tensor<T>)> {
        let n = self.layer.out_dim;
        let g = store
            .get(self.gate.w)
            .reshape([n])?
            .scale(t)?
            .add(store.get(self.gate.b))?
            .unary(UnaryOp::Act(Activation::Sigmoid))?;
        let s = store.get(self.hyper_bias).reshape([n])?.scale(t)?;
        Ok((g, s))
    }
}

/// A stack of ConcatSquash layers with an activation between them
/// (FFJORD's `concatsquash` ODE net).
#[derive(Clone, Debug)]
pub struct ConcatSquashMlp {
    pub layers: Vec<ConcatSquashLinear>,
    pub act: Activation,
    pub dim: usize,
}

impl ConcatSquashMlp {
    /// The network `d → hidden… → d`.
    pub fn new<T: Float>(
        store: &mut ParamStore<T>,
        name: &str,
        dim: usize,
        hidden: &[usize],
        act: Activation,
        init: Init,
        rng: &mut Rng,
    ) -> Result<Self> {
        if dim == 0 {
            invalid_arg!("velocity field dimension must be positive");
        }
        let mut widths = vec![dim];
        widths.extend_from_slice(hidden);
        widths.push(dim);
        let layers = widths
            .windows(2)
            .enumerate()
            .map(|(i, w)| ConcatSquashLinear::new(store, &format!("{name}.{i}"), w[0], w[1], init, rng))
            .collect::<Result<_>>()?;
        Ok(ConcatSquashMlp { layers, act, dim })
    }
}

impl<T: Float> VelocityField<T> for ConcatSquashMlp {
    fn dim(&self) -> usize {
        self.dim
    }

    fn forward<'t>(&self, p: &Params<'t, T>, x: Var<'t, T>, t: f64) -> Result<Var<'t, T>> {
        check_batch(&x.value(), self.dim)?;
        let mut h = x;
        for (i, l) in self.layers.iter().enumerate() {
            if i > 0 {
                h = h.act(self.act)?;
            }
            let (g, s) = l.time_terms(p, t)?;
            h = l.layer.forward(p, h)?.mul(&g)?.add(&s)?;
        }
        Ok(h)
    }

    fn forward_with_tangents<'t>(
        &self,
        p: &Params<'t, T>,
        x: Var<'t, T>,
        t: f64,
        tangents: Var<'t, T>,
    ) -> Result<(Var<'t, T>, Var<'t, T>)> {
        let (batch, k) = check_tangents(&x.value(), &tangents.value(), self.dim)?;
        let widest = self.layers.iter().map(|l| l.layer.out_dim).max().unwrap_or(0);
        let zero = x.tape().constant(Tensor::zeros_on([widest], x.value().device())?);
        let mut s = Var::concat(&[x, tangents], 0)?;
        for (i, l) in self.layers.iter().enumerate() {
            if i > 0 {
                let width = s.shape().dim(1);
                s = s.tangent_act(&zero.slice(0, 0, width)?, batch, self.act)?;
            }
            // (s·W + b) ⊙ g + shift on primal rows, (s·W) ⊙ g on tangent rows.
            let (g, shift) = l.time_terms(p, t)?;
            let bias = p.var(l.layer.b).mul(&g)?.add(&shift)?;
            s = s.matmul(&p.var(l.layer.w))?.mul(&g)?.tangent_act(&bias, batch, Activation::Identity)?;
        }
        Ok((s.slice(0, 0, batch)?, s.slice(0, batch, k * batch)?))
    }

    fn eval(&self, store: &ParamStore<T>, x: &Tensor<T>, t: f64) -> Result<Tensor<T>> {
        check_batch(x, self.dim)?;
        let mut h = x.clone();
        for (i, l) in self.layers.iter().enumerate() {
            if i > 0 {
                h = h.unary(UnaryOp::Act(self.act))?;
            }
            let (g, s) = l.eval_time_terms(store, t)?;
            h = l.layer.eval(store, &h)?.mul(&g)?.add(&s)?;
        }
        Ok(h)
    }

    fn forward_rows<'t>(&self, p: &Params<'t, T>, x: Var<'t, T>, t: Var<'t, T>) -> Result<Var<'t, T>> {
        check_times(&x.value(), &t.value(), self.dim)?;
        let mut h = x;
        for (i, l) in self.layers.iter().enumerate() {
            if i > 0 {
                h = h.act(self.act)?;
            }
            // Gate and shift per row: `σ(t·g_w + g_b)` and `t·h_w`, `[batch, out]` each.
            let gate = t.matmul(&p.var(l.gate.w))?.bias_act(&p.var(l.gate.b), Activation::Sigmoid)?;
            let shift = t.matmul(&p.var(l.hyper_bias))?;
            h = l.layer.forward(p, h)?.mul(&gate)?.add(&shift)?;
        }
        Ok(h)
    }
}
