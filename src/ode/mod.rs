//! Ordinary differential equation solvers: explicit Runge–Kutta methods on a
//! fixed grid (generic over the state, so a solve can be recorded on the
//! autodiff tape) and with adaptive steps (eager tensors only).
//!
//! A neural ODE flow integrates `dx/dt = v(x, t)`, often augmented with the
//! log-density, forward to sample and in reverse time to evaluate densities.
//! The state is a list of tensors (`Vec<Tensor<T>>` or `Vec<Var<T>>`, see
//! [`OdeState`]) and the right-hand side a closure `f(t, &state) -> state`.
//!
//! ```
//! use wasserflow::Tensor;
//! use wasserflow::ode::{self, tableau::RK4};
//! // y' = −y from y(0) = 1: y(1) = e⁻¹.
//! let y0 = vec![Tensor::<f64>::from_f64s(&[1.0], [1]).unwrap()];
//! let (y, stats) = ode::integrate(|_, y: &Vec<Tensor<f64>>| Ok(vec![y[0].scale(-1.0)?]), y0, 0.0, 1.0, 16, &RK4).unwrap();
//! assert!((y[0].item().unwrap() - (-1.0f64).exp()).abs() < 1e-6);
//! assert_eq!(stats.nfev, 64);
//! ```

pub mod adaptive;
pub mod fixed;
pub mod state;
pub mod tableau;

pub use adaptive::{AdaptiveOptions, ErrorNorm, integrate_adaptive, integrate_dopri5};
pub use fixed::{
    SolverStats, Trajectory, integrate, integrate_on_grid, integrate_trajectory, integrate_with_step, step,
    step_size_grid, trajectory_on_grid, uniform_grid,
};
pub use state::OdeState;
pub use tableau::Tableau;
