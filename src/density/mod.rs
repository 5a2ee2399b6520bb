//! Densities along flows: divergences, the instantaneous change of variables
//! (log-likelihood of a continuous normalizing flow), and the ways to
//! differentiate through the ODE solve (direct or checkpointed backprop
//! through the steps, the continuous adjoint).

pub mod adjoint;
pub mod backprop;
pub mod cnf;
pub mod divergence;

pub use backprop::{Backprop, LossAndGrads, nll_loss};
pub use cnf::Cnf;
pub use divergence::{Divergence, Probe};
