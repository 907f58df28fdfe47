//! Agent models for Tender.
//!
//! This crate describes the world a market acts on: the tasks that arrive, and what each agent
//! *would* produce for each of them (its plan, a juror's score of a plan, its execution). Those
//! potential outcomes are served by an [`OutcomeSource`]; the synthetic stand-ins here draw them
//! from calibrated distributions on named random streams, so every mechanism run on the same
//! episode seed sees the same draws.
//!
//! Live models (the [`live`] module) answer the same cells from OpenAI-compatible servers, and
//! [`recorded`] tables from routing benchmarks; [`pool`] mixes them. Only [`live`] does IO.

pub mod answer;
pub mod cells;
pub mod embed;
pub mod fields;
pub mod live;
mod memo;
pub mod observe;
pub mod pool;
pub mod profile;
pub mod recorded;
pub mod serving;
pub mod source;
pub mod split;
pub mod strategy;
pub mod streams;
pub mod synthetic;
pub mod task;
pub mod taskfile;
pub mod validate;
pub mod workload;

pub use answer::AnswerCheck;
pub use cells::{
    ExecutionCell, JuryCell, Lessons, MemoryView, PlanCell, Recall, RetrievedPair, Round, Status, TextId, Usage,
};
pub use live::LiveSpec;
pub use profile::{AgentProfile, JurorProfile, LogNormalSpec, StandInParams, TraceSpec};
pub use profile::{Backend, RecordedSpec};
pub use serving::{Published, Serving, ServingSpec};
pub use source::{
    AgentInfo, CellKey, ChosenBy, OutcomeSource, Provides, Reference, References, cheapest_first, size_in_name,
};
pub use split::{Split, SplitBy};
pub use synthetic::SyntheticSource;
pub use task::{Task, TaskContent};
pub use taskfile::{Embedding, TaskFile, TaskFormat, TaskRow};
pub use validate::{Invalid, Invalids};
pub use workload::{BinSpec, DomainSpec, Order, WorkloadSpec};
