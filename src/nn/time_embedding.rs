//! Sinusoidal time embedding: `t ↦ [sin(ω₁t), …, sin(ω_F t), cos(ω₁t), …, cos(ω_F t)]`
//! followed by a two-layer SiLU MLP, as in the DDPM/score U-Nets.
//!
//! Frequencies are geometric from 1 to `max_freq` (100 by default), suited to
//! times in `[0, 1]`: the lowest varies once over the interval, the highest
//! resolves steps of ~0.01, and the field stays smooth enough in `t` for the
//! ODE solvers' fixed grids.
//!
//! Derivative: `d/dt sin(ωt) = ω cos(ωt)`, `d/dt cos(ωt) = −ω sin(ωt)`; the
//! per-row embedding is a tape op with that rule, so the field stays
//! differentiable in `t`.

use super::init::Init;
use super::linear::Linear;
use super::params::{ParamStore, Params};
use crate::autodiff::Var;
use crate::backend::{Activation, Device};
use crate::tensor::random::Rng;
use crate::tensor::{Float, Tensor};
use crate::{Result, invalid_arg, shape_err};

/// The embedding network: sinusoids of `freqs` frequencies, then
/// `2F → dim → dim` with SiLU after each layer.
#[derive(Clone, Debug)]
pub struct TimeEmbedding {
    pub freqs: usize,
    pub max_freq: f64,
    pub first: Linear,
    pub second: Linear,
    pub dim: usize,
}

/// `ω_j = max_freq^{j/(F−1)}` for `j < F`.
pub fn frequencies(freqs: usize, max_freq: f64) -> Vec<f64> {
    if freqs == 1 {
        return vec![1.0];
    }
    (0..freqs).map(|j| max_freq.powf(j as f64 / (freqs - 1) as f64)).collect()
}

/// The sinusoids of one time, `[sin(ω t)…, cos(ω t)…]`.
pub fn sinusoids(t: f64, omegas: &[f64]) -> Vec<f64> {
    let mut out: Vec<f64> = omegas.iter().map(|w| (w * t).sin()).collect();
    out.extend(omegas.iter().map(|w| (w * t).cos()));
    out
}

/// The sinusoids of per-row times `t` of `[batch, 1]`, `[batch, 2F]`, recorded
/// on `t`'s tape with the rule of the module header.
pub fn sinusoids_rows<'t, T: Float>(t: Var<'t, T>, omegas: &[f64]) -> Result<Var<'t, T>> {
    let tv = t.value();
    if tv.dims().len() != 2 || tv.dims()[1] != 1 {
        shape_err!("per-row times must have shape [batch, 1], got {}", tv.shape());
    }
    let times = tv.to_f64_vec()?;
    let f = omegas.len();
    let data: Vec<f64> = times.iter().flat_map(|&ti| sinusoids(ti, omegas)).collect();
    let value = Tensor::<T>::from_f64s(&data, [times.len(), 2 * f])?.to_device(tv.device())?;
    let omegas = omegas.to_vec();
    Ok(t.tape().custom(&[t], value, move |inputs, y, gy| {
        let (y, gy) = (y.to_f64_vec()?, gy.to_f64_vec()?);
        let rows = inputs[0].dims()[0];
        let mut gt = vec![0.0; rows];
        for (i, g) in gt.iter_mut().enumerate() {
            let (row, grow) = (&y[i * 2 * f..(i + 1) * 2 * f], &gy[i * 2 * f..(i + 1) * 2 * f]);
            for (j, w) in omegas.iter().enumerate() {
                // y = [sin, cos]: d sin = ω·cos, d cos = −ω·sin.
                *g += grow[j] * w * row[f + j] - grow[f + j] * w * row[j];
            }
        }
        let g = Tensor::<T>::from_f64s(&gt, [rows, 1])?.to_device(inputs[0].device())?;
        Ok(vec![Some(g)])
    }))
}

impl TimeEmbedding {
    /// `freqs` sinusoid pairs embedded into `dim` features.
    pub fn new<T: Float>(
        store: &mut ParamStore<T>,
        name: &str,
        freqs: usize,
        dim: usize,
        rng: &mut Rng,
    ) -> Result<Self> {
        if freqs == 0 || dim == 0 {
            invalid_arg!("a time embedding needs positive frequency count and width, got {freqs} and {dim}");
        }
        let first = Linear::new(store, &format!("{name}.0"), 2 * freqs, dim, Init::TorchLinear, rng)?;
        let second = Linear::new(store, &format!("{name}.1"), dim, dim, Init::TorchLinear, rng)?;
        Ok(TimeEmbedding { freqs, max_freq: 100.0, first, second, dim })
    }

    fn omegas(&self) -> Vec<f64> {
        frequencies(self.freqs, self.max_freq)
    }

    fn mlp<'t, T: Float>(&self, p: &Params<'t, T>, s: Var<'t, T>) -> Result<Var<'t, T>> {
        let h = s.matmul(&p.var(self.first.w))?.bias_act(&p.var(self.first.b), Activation::Silu)?;
        h.matmul(&p.var(self.second.w))?.bias_act(&p.var(self.second.b), Activation::Silu)
    }

    /// The embedding of one time for the whole batch, `[1, dim]`.
    pub fn forward<'t, T: Float>(&self, p: &Params<'t, T>, t: f64, device: Device) -> Result<Var<'t, T>> {
        let s = Tensor::<T>::from_f64s(&sinusoids(t, &self.omegas()), [1, 2 * self.freqs])?.to_device(device)?;
        let tape = p.var(self.first.w).tape();
        self.mlp(p, tape.constant(s))
    }

    /// The embeddings of per-row times `t` of `[batch, 1]`, `[batch, dim]`.
    pub fn forward_rows<'t, T: Float>(&self, p: &Params<'t, T>, t: Var<'t, T>) -> Result<Var<'t, T>> {
        self.mlp(p, sinusoids_rows(t, &self.omegas())?)
    }
}
