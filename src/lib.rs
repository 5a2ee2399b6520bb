//! wasserflow: flow-based generative models as iterative algorithms in
//! probability space, on a numerical engine of its own.
//!
//! Layers, bottom to top (each uses only those below it):
//! [`tensor`] and [`backend`] → [`autodiff`] → [`nn`], [`optim`] and [`dist`] → [`ode`] and [`density`] → [`flows`] → [`data`], [`metrics`], [`io`], [`plot`] → [`cli`] (and the C API, `capi`).

pub mod autodiff;
pub mod backend;
#[cfg(feature = "capi")]
pub mod capi;
#[cfg(feature = "cli")]
pub mod cli;
pub mod data;
pub mod density;
pub mod dist;
mod error;
pub mod flows;
pub mod io;
pub mod metrics;
pub mod nn;
pub mod ode;
pub mod optim;
pub mod plot;
pub mod tensor;

pub use backend::Device;
pub use error::{Error, Result};
pub use tensor::random::Rng;
pub use tensor::{DType, Float, Shape, Tensor};
