//! Adam (Kingma & Ba) with bias correction, and AdamW's decoupled weight decay.

use super::{Optimizer, check_grads};
use crate::Result;
use crate::nn::ParamStore;
use crate::tensor::{Float, Tensor};

/// Adam / AdamW.
///
/// With `g` the gradient at step `t`: `m ← β1·m + (1−β1)·g`,
/// `v ← β2·v + (1−β2)·g²`, `p ← p − lr·(m/(1−β1^t)) / (√(v/(1−β2^t)) + ε)`.
/// Weight decay `λ` is either added to the gradient (`g + λp`, Adam's L2,
/// as PyTorch's `Adam`) or applied to the parameter directly
/// (`p ← p − lr·λ·p`, AdamW, `decoupled = true`).
#[derive(Clone, Debug)]
pub struct Adam<T: Float> {
    pub lr: f64,
    pub beta1: f64,
    pub beta2: f64,
    pub eps: f64,
    pub weight_decay: f64,
    pub decoupled: bool,
    t: u64,
    m: Vec<Tensor<T>>,
    v: Vec<Tensor<T>>,
}

impl<T: Float> Adam<T> {
    /// Adam with PyTorch's defaults (β = (0.9, 0.999), ε = 1e-8, no decay).
    pub fn new(lr: f64) -> Self {
        Adam {
            lr,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: 0.0,
            decoupled: false,
            t: 0,
            m: vec![],
            v: vec![],
        }
    }
    /// AdamW: decoupled weight decay `weight_decay`.
    pub fn adamw(lr: f64, weight_decay: f64) -> Self {
        Adam { weight_decay, decoupled: true, ..Self::new(lr) }
    }
    pub fn betas(mut self, beta1: f64, beta2: f64) -> Self {
        self.beta1 = beta1;
        self.beta2 = beta2;
        self
    }
    pub fn eps(mut self, eps: f64) -> Self {
        self.eps = eps;
        self
    }
    /// L2 weight decay added to the gradient (not decoupled).
    pub fn weight_decay(mut self, wd: f64) -> Self {
        self.weight_decay = wd;
        self
    }
    /// The moment estimates `(m, v)` in store order (empty before the first step).
    pub fn moments(&self) -> (&[Tensor<T>], &[Tensor<T>]) {
        (&self.m, &self.v)
    }
}

impl<T: Float> Optimizer<T> for Adam<T> {
    fn step(&mut self, params: &mut ParamStore<T>, grads: &[Tensor<T>]) -> Result<()> {
        check_grads(params, grads)?;
        if self.m.is_empty() {
            self.m = params.values().iter().map(|p| p.zeros_like()).collect::<Result<_>>()?;
            self.v = self.m.clone();
        }
        self.t += 1;
        let bc1 = 1.0 - self.beta1.powi(self.t as i32);
        let bc2 = 1.0 - self.beta2.powi(self.t as i32);
        let f = T::from_f64;
        let (wd_coupled, wd_decoupled) =
            if self.decoupled { (0.0, self.weight_decay) } else { (self.weight_decay, 0.0) };
        for ((p, g), (m, v)) in params.values_mut().iter_mut().zip(grads).zip(self.m.iter_mut().zip(self.v.iter_mut()))
        {
            let g = if wd_coupled != 0.0 {
                let mut g = g.clone();
                g.storage_mut().axpy(f(wd_coupled), p.storage())?;
                g
            } else {
                g.clone()
            };
            p.storage_mut().adam_update(
                g.storage(),
                m.storage_mut(),
                v.storage_mut(),
                f(self.lr),
                f(self.beta1),
                f(self.beta2),
                f(self.eps),
                f(wd_decoupled),
                f(bc1),
                f(bc2),
            )?;
        }
        Ok(())
    }
    fn lr(&self) -> f64 {
        self.lr
    }
    fn set_lr(&mut self, lr: f64) {
        self.lr = lr;
    }
    fn steps(&self) -> u64 {
        self.t
    }
}
