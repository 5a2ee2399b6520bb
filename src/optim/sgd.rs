//! Stochastic gradient descent with (optionally Nesterov) momentum.

use super::{Optimizer, check_grads};
use crate::Result;
use crate::nn::ParamStore;
use crate::tensor::{Float, Tensor};

/// SGD: `b ← μ·b + g` (with `g + λp` under weight decay `λ`), then
/// `p ← p − lr·b`, or `p ← p − lr·(g + μ·b)` with Nesterov momentum.
/// PyTorch's conventions.
#[derive(Clone, Debug)]
pub struct Sgd<T: Float> {
    pub lr: f64,
    pub momentum: f64,
    pub nesterov: bool,
    pub weight_decay: f64,
    t: u64,
    buf: Vec<Tensor<T>>,
}

impl<T: Float> Sgd<T> {
    pub fn new(lr: f64) -> Self {
        Sgd { lr, momentum: 0.0, nesterov: false, weight_decay: 0.0, t: 0, buf: vec![] }
    }
    pub fn momentum(mut self, momentum: f64) -> Self {
        self.momentum = momentum;
        self
    }
    pub fn nesterov(mut self, on: bool) -> Self {
        self.nesterov = on;
        self
    }
    pub fn weight_decay(mut self, wd: f64) -> Self {
        self.weight_decay = wd;
        self
    }
}

impl<T: Float> Optimizer<T> for Sgd<T> {
    fn step(&mut self, params: &mut ParamStore<T>, grads: &[Tensor<T>]) -> Result<()> {
        check_grads(params, grads)?;
        let f = T::from_f64;
        self.t += 1;
        for (i, p) in params.values_mut().iter_mut().enumerate() {
            // d = g + λp, computed once and used for the buffer and the step.
            let mut d = grads[i].clone();
            if self.weight_decay != 0.0 {
                d.storage_mut().axpy(f(self.weight_decay), p.storage())?;
            }
            if self.momentum != 0.0 {
                if self.buf.len() == i {
                    // The first step initializes the buffer with d itself.
                    self.buf.push(d.clone());
                } else {
                    // Copy-on-write: a buffer still sharing d's storage is copied here.
                    let b = self.buf[i].storage_mut();
                    b.scale(f(self.momentum))?;
                    b.axpy(T::ONE, d.storage())?;
                }
                if self.nesterov {
                    d.storage_mut().axpy(f(self.momentum), self.buf[i].storage())?;
                } else {
                    d = self.buf[i].clone();
                }
            }
            p.storage_mut().axpy(f(-self.lr), d.storage())?;
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
