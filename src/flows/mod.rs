//! Trainers: the flow models of the papers, built on the layers below.

pub mod cnf;
pub mod field;

pub use cnf::{CnfConfig, CnfModel, IterationReport, train_cnf};
pub use field::{Field, FieldKind};
