//! Ordinary differential equation solvers.
