//! Seeded weight initialization schemes.

use crate::Result;
use crate::tensor::random::Rng;
use crate::tensor::{Float, Tensor};

/// How to draw a `fan_in × fan_out` weight matrix.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Init {
    /// `U(±√(6/(fan_in+fan_out)))` (Glorot).
    XavierUniform,
    /// `N(0, 2/(fan_in+fan_out))`.
    XavierNormal,
    /// `U(±√(6/fan_in))` (He, for ReLU-like activations).
    KaimingUniform,
    /// `N(0, 2/fan_in)`.
    KaimingNormal,
    /// PyTorch's `nn.Linear` default: weights and biases `U(±1/√fan_in)`.
    /// The default here too, so models train like their PyTorch twins.
    TorchLinear,
    /// All zeros.
    Zeros,
}

impl Init {
    /// A weight matrix of shape `[fan_in, fan_out]` (the layer computes `x·W`).
    pub fn weight<T: Float>(self, fan_in: usize, fan_out: usize, rng: &mut Rng) -> Result<Tensor<T>> {
        let (fi, fo) = (fan_in as f64, fan_out as f64);
        let shape = [fan_in, fan_out];
        match self {
            Init::XavierUniform => {
                let a = (6.0 / (fi + fo)).sqrt();
                Tensor::rand_uniform(shape, -a, a, rng)
            }
            Init::XavierNormal => Ok(Tensor::randn(shape, rng)?.scale((2.0 / (fi + fo)).sqrt())?),
            Init::KaimingUniform => {
                let a = (6.0 / fi).sqrt();
                Tensor::rand_uniform(shape, -a, a, rng)
            }
            Init::KaimingNormal => Ok(Tensor::randn(shape, rng)?.scale((2.0 / fi).sqrt())?),
            Init::TorchLinear => {
                let a = 1.0 / fi.sqrt();
                Tensor::rand_uniform(shape, -a, a, rng)
            }
            Init::Zeros => Ok(Tensor::zeros(shape)),
        }
    }
    /// A bias vector of length `fan_out` (zeros except for [`Init::TorchLinear`]).
    pub fn bias<T: Float>(self, fan_in: usize, fan_out: usize, rng: &mut Rng) -> Result<Tensor<T>> {
        match self {
            Init::TorchLinear => {
                let a = 1.0 / (fan_in as f64).sqrt();
                Tensor::rand_uniform([fan_out], -a, a, rng)
            }
            _ => Ok(Tensor::zeros([fan_out])),
        }
    }
}
