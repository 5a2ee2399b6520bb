//! Neural-network building blocks: named parameters, initialization, layers.

mod init;
mod linear;
mod mlp;
mod params;

pub use crate::backend::Activation;
pub use init::Init;
pub use linear::Linear;
pub use mlp::Mlp;
pub use params::{ParamId, ParamStore, Params};
