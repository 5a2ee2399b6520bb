//! Neural-network building blocks: named parameters, initialization, layers,
//! and the time-dependent velocity fields of neural ODEs.

pub mod classifier;
pub mod conv;
pub mod data_parallel;
mod field;
pub mod group_norm;
mod init;
mod linear;
mod mlp;
mod params;
pub mod time_embedding;
pub mod unet;

pub use crate::backend::Activation;
pub use classifier::{Classifier, ClassifierSpec, ClassifierTraining, train_classifier};
pub use data_parallel::mean_loss_and_grads;
pub use field::{ConcatSquashLinear, ConcatSquashMlp, TimeMlp, VelocityField};
pub use init::Init;
pub use linear::Linear;
pub use mlp::Mlp;
pub use params::{ParamId, ParamStore, Params};
pub use unet::{UNet, UNetSpec};
