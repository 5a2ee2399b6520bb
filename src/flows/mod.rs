//! Trainers: the flow models of the papers, built on the layers below.

pub mod block;
pub mod cnf;
pub mod dro;
pub mod field;
pub mod fm;
pub mod jko;
pub mod lfm;
pub mod ot;
pub mod ratio;
pub mod time_sampler;

pub use block::{Block, BlockFlow, BlockSpec, EvalOptions};
pub use cnf::{CnfConfig, IterationReport, train_cnf};
pub use dro::{ClassifierRisk, DroConfig, DroMap, LinearRisk, PgdConfig, Risk, pgd_l2, train_dro, train_dro_grid};
pub use field::{Field, FieldKind};
pub use fm::{FmConfig, FmTrainer, Interpolant, MatchingReport, train_fm};
pub use jko::{BlockReport, JkoConfig, JkoHooks, JkoOutcome, LossTerms, NoHooks, refine_jko, train_jko};
pub use lfm::{LfmBlockReport, LfmConfig, LfmRun, PushSolver, StepSchedule, train_lfm};
pub use ot::{OtConfig, OtDiagnostics, OtHooks, OtInit, OtState, OtTerms, train_ot};
pub use ratio::{ClassifierTraining, KdeRatio, LogisticClassifier, RatioModel, TelescopicRatio};
pub use time_sampler::TimeSampler;
