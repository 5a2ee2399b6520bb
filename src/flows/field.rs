//! The velocity fields a trainer can be configured with, as one type.

use crate::Result;
use crate::autodiff::Var;
use crate::nn::{Activation, ConcatSquashMlp, Init, ParamStore, Params, TimeMlp, UNet, UNetSpec, VelocityField};
use crate::tensor::random::Rng;
use crate::tensor::{Float, Tensor};

/// Which network parametrizes `v(x, t)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FieldKind {
    /// MLP on `[x, t]`.
    TimeMlp,
    /// FFJORD's ConcatSquash layers.
    ConcatSquash,
    /// A convolutional U-Net on `channels×height×width` images in
    /// channels-last order (`height = 1` for signals); the hidden widths are
    /// the channel widths of its levels ([`crate::nn::unet`]).
    UNet { channels: usize, height: usize, width: usize },
}

impl FieldKind {
    pub fn from_name(name: &str) -> Result<Self> {
        Ok(match name {
            "mlp" | "time-mlp" => FieldKind::TimeMlp,
            "concatsquash" => FieldKind::ConcatSquash,
            _ => match name.strip_prefix("unet:").map(parse_shape) {
                Some(Some([channels, height, width])) => FieldKind::UNet { channels, height, width },
                _ => crate::invalid_arg!(
                    "unknown velocity field '{name}' (expected mlp, concatsquash or unet:CxHxW, e.g. unet:1x28x28)"
                ),
            },
        })
    }

    pub fn name(&self) -> String {
        match self {
            FieldKind::TimeMlp => "mlp".into(),
            FieldKind::ConcatSquash => "concatsquash".into(),
            FieldKind::UNet { channels, height, width } => format!("unet:{channels}x{height}x{width}"),
        }
    }
}

/// `CxHxW` as three positive numbers.
fn parse_shape(s: &str) -> Option<[usize; 3]> {
    let v: Vec<usize> = s.split('x').map(|p| p.parse().ok().filter(|&n| n > 0)).collect::<Option<_>>()?;
    v.try_into().ok()
}

/// A configured velocity field.
#[derive(Clone, Debug)]
pub enum Field {
    TimeMlp(TimeMlp),
    ConcatSquash(ConcatSquashMlp),
    UNet(Box<UNet>),
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
            FieldKind::UNet { channels, height, width } => {
                if channels * height * width != dim {
                    crate::invalid_arg!(
                        "a U-Net on {channels}×{height}×{width} images has dimension {}, not {dim}",
                        channels * height * width
                    );
                }
                // The U-Net's blocks use SiLU (its group norm and time shifts are built around it).
                let _ = act;
                Field::UNet(Box::new(UNet::new(store, "v", UNetSpec::new(channels, height, width, hidden), rng)?))
            }
        })
    }
}

impl<T: Float> VelocityField<T> for Field {
    fn dim(&self) -> usize {
        match self {
            Field::TimeMlp(f) => VelocityField::<T>::dim(f),
            Field::ConcatSquash(f) => VelocityField::<T>::dim(f),
            Field::UNet(f) => VelocityField::<T>::dim(f.as_ref()),
        }
    }
    fn forward<'t>(&self, p: &Params<'t, T>, x: Var<'t, T>, t: f64) -> Result<Var<'t, T>> {
        match self {
            Field::TimeMlp(f) => f.forward(p, x, t),
            Field::ConcatSquash(f) => f.forward(p, x, t),
            Field::UNet(f) => f.forward(p, x, t),
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
            Field::UNet(f) => f.forward_with_tangents(p, x, t, tangents),
        }
    }
    fn eval(&self, store: &ParamStore<T>, x: &Tensor<T>, t: f64) -> Result<Tensor<T>> {
        match self {
            Field::TimeMlp(f) => f.eval(store, x, t),
            Field::ConcatSquash(f) => f.eval(store, x, t),
            Field::UNet(f) => f.eval(store, x, t),
        }
    }
    fn forward_rows<'t>(&self, p: &Params<'t, T>, x: Var<'t, T>, t: Var<'t, T>) -> Result<Var<'t, T>> {
        match self {
            Field::TimeMlp(f) => f.forward_rows(p, x, t),
            Field::ConcatSquash(f) => f.forward_rows(p, x, t),
            Field::UNet(f) => f.forward_rows(p, x, t),
        }
    }
}
