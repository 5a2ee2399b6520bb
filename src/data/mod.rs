//! Datasets: 2-D toy densities, Gaussian mixtures with closed-form density.

pub mod mixture;
pub mod toy;

pub use mixture::GaussianMixture;
pub use toy::Toy;
