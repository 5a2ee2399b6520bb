//! Densities along flows: divergences, the instantaneous change of variables
//! (log-likelihood of a continuous normalizing flow), and the two ways to
//! differentiate through the ODE solve (direct backprop, continuous adjoint).

pub mod divergence;

pub use divergence::{Divergence, Probe};
