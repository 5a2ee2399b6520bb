//! Named parameters: the trainable tensors of a model, and their attachment
//! to a tape for one forward/backward pass.

use crate::autodiff::{Grads, Tape, Var};
use crate::backend::Device;
use crate::tensor::{Float, Tensor};
use crate::{Result, invalid_arg};

/// Index of a parameter in its [`ParamStore`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ParamId(pub usize);

/// The trainable tensors of a model, by name, in insertion order.
#[derive(Clone, Debug, Default)]
pub struct ParamStore<T: Float> {
    names: Vec<String>,
    values: Vec<Tensor<T>>,
}

impl<T: Float> ParamStore<T> {
    pub fn new() -> Self {
        ParamStore { names: Vec::new(), values: Vec::new() }
    }
    /// Adds a parameter; names are unique.
    pub fn add(&mut self, name: impl Into<String>, value: Tensor<T>) -> Result<ParamId> {
        let name = name.into();
        if self.names.contains(&name) {
            invalid_arg!("parameter '{name}' already exists");
        }
        self.names.push(name);
        self.values.push(value);
        Ok(ParamId(self.values.len() - 1))
    }
    pub fn len(&self) -> usize {
        self.values.len()
    }
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }
    /// Where the parameters live (the host for an empty store).
    pub fn device(&self) -> Device {
        self.values.first().map_or(Device::Cpu, |t| t.device())
    }
    /// The same parameters copied to `device`.
    pub fn to_device(&self, device: Device) -> Result<Self> {
        let values = self.values.iter().map(|t| t.to_device(device)).collect::<Result<_>>()?;
        Ok(ParamStore { names: self.names.clone(), values })
    }
    /// Total number of scalars.
    pub fn num_scalars(&self) -> usize {
        self.values.iter().map(|t| t.numel()).sum()
    }
    pub fn get(&self, id: ParamId) -> &Tensor<T> {
        &self.values[id.0]
    }
    pub fn get_mut(&mut self, id: ParamId) -> &mut Tensor<T> {
        &mut self.values[id.0]
    }
    /// Replaces a parameter's value; the shape must stay the same.
    pub fn set(&mut self, id: ParamId, value: Tensor<T>) -> Result<()> {
        if value.shape() != self.values[id.0].shape() {
            invalid_arg!(
                "parameter '{}' has shape {}, new value has {}",
                self.names[id.0],
                self.values[id.0].shape(),
                value.shape()
            );
        }
        self.values[id.0] = value;
        Ok(())
    }
    pub fn name(&self, id: ParamId) -> &str {
        &self.names[id.0]
    }
    pub fn id(&self, name: &str) -> Option<ParamId> {
        self.names.iter().position(|n| n == name).map(ParamId)
    }
    pub fn ids(&self) -> impl Iterator<Item = ParamId> + use<T> {
        (0..self.values.len()).map(ParamId)
    }
    pub fn values(&self) -> &[Tensor<T>] {
        &self.values
    }
    pub fn values_mut(&mut self) -> &mut [Tensor<T>] {
        &mut self.values
    }
    pub fn names(&self) -> &[String] {
        &self.names
    }
    /// Records every parameter as a gradient-wanting leaf on `tape`.
    pub fn attach<'t>(&self, tape: &'t Tape<T>) -> Params<'t, T> {
        Params { vars: self.values.iter().map(|v| tape.var(v.clone())).collect() }
    }
    /// Records every parameter as a constant (no gradients: evaluation only).
    pub fn attach_frozen<'t>(&self, tape: &'t Tape<T>) -> Params<'t, T> {
        Params { vars: self.values.iter().map(|v| tape.constant(v.clone())).collect() }
    }
}

/// The parameters of a store as recorded on one tape.
pub struct Params<'t, T: Float> {
    vars: Vec<Var<'t, T>>,
}

impl<'t, T: Float> Params<'t, T> {
    /// Parameters given directly as variables, in store order (e.g. to
    /// gradient-check a model with respect to its weights).
    pub fn from_vars(vars: Vec<Var<'t, T>>) -> Self {
        Params { vars }
    }
    pub fn var(&self, id: ParamId) -> Var<'t, T> {
        self.vars[id.0]
    }
    /// Gradients in store order (zeros for parameters the loss does not use).
    pub fn grads(&self, grads: &Grads<T>) -> Result<Vec<Tensor<T>>> {
        self.vars.iter().map(|&v| grads.get_or_zeros(v)).collect()
    }
}
