//! The velocity fields a trainer can be configured with, as one type.

use crate::Result;
use crate::autodiff::Var;
use crate::nn::{Activation, ConcatSquashMlp, Init, ParamStore, Params, TimeMlp, VelocityField};
use crate::tensor::random::Rng;
use crate::tensor::{Float, Tensor};

/// Which network parametrizes `v(x, t)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FieldKind {
    /// MLP on `[x, t]`.
    TimeMlp,
    /// FFJORD's ConcatSquash layers.
    ConcatSquash,
}

impl FieldKind {
    pub fn from_name(name: &str) -> Result<Self> {
        Ok(match name {
            "mlp" | "time-mlp" => FieldKind::TimeMlp,
            "concatsquash" => FieldKind::ConcatSquash,
            _ => crate::invalid_arg!("unknown velocity field '{name}' (expected mlp or concatsquash)"),
        })
    }

    pub fn name(&self) -> &'static str {
        match self {
            FieldKind::TimeMlp => "mlp",
            FieldKind::ConcatSquash => "concatsquash",
        }
    }
}

/// A configured velocity field.
#[derive(Clone, Debug)]
pub enum Field {
    TimeMlp(TimeMlp),
    ConcatSquash(ConcatSquashMlp),
}

impl Field {
    /// Creates the field's parameters in `store`.
    pub fn new<T: Float>(
        kind: FieldKind,
        store: &mut ParamStore<T>,
        dim: usize,
        hidden: &[usize],
        act: Activation,
        rng: &mut Rng,
    ) -> Result<Self> {
        Ok(match kind {
            FieldKind::TimeMlp => Field::TimeMlp(TimeMlp::new(store, "v", dim, hidden, act, Init::TorchLinear, rng)?),
            FieldKind::ConcatSquash => {
                Field::ConcatSquash(ConcatSquashMlp::new(store, "v", dim, hidden, act, Init::TorchLinear, rng)?)
            }
        })
    }
}

impl<T: Float> VelocityField<T> for Field {
    fn dim(&self) -> usize {
        match self {
            Field::TimeMlp(f) => VelocityField::<T>::dim(f),
            Field::ConcatSquash(f) => VelocityField::<T>::dim(f),
        }
    }
    fn forward<'t>(&self, p: &Params<'t, T>, x: Var<'t, T>, t: f64) -> Result<Var<'t, T>> {
        match self {
            Field::TimeMlp(f) => f.forward(p, x, t),
            Field::ConcatSquash(f) => f.forward(p, x, t),
        }
    }
    fn forward_with_tangents<'t>(
        &self,
        p: &Params<'t, T>,
        x: Var<'t, T>,
        t: f64,
        tangents: Var<'t, T>,
    ) -> Result<(Var<'t, T>, Var<'t, T>)> {
        match self {
            Field::TimeMlp(f) => f.forward_with_tangents(p, x, t, tangents),
            Field::ConcatSquash(f) => f.forward_with_tangents(p, x, t, tangents),
        }
    }
    fn eval(&self, store: &ParamStore<T>, x: &Tensor<T>, t: f64) -> Result<Tensor<T>> {
        match self {
            Field::TimeMlp(f) => f.eval(store, x, t),
            Field::ConcatSquash(f) => f.eval(store, x, t),
        }
    }
    fn forward_rows<'t>(&self, p: &Params<'t, T>, x: Var<'t, T>, t: Var<'t, T>) -> Result<Var<'t, T>> {
        match self {
            Field::TimeMlp(f) => f.forward_rows(p, x, t),
            Field::ConcatSquash(f) => f.forward_rows(p, x, t),
        }
    }
}
