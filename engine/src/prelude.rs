//! What a mechanism's author needs, in one import: `use tender_engine::prelude::*;`.
//!
//! It re-exports the crates a mechanism is written against at the versions the engine uses, so
//! a mechanism's own crate depends on `tender-engine` (and `serde`, for its parameters) only:
//! `bevy_ecs` (the ECS: `Query`, `Res`, `#[derive(Resource)]`, which resolve through this
//! re-export) and `rand`'s `RngExt` (to draw from a [`Stream`]). Then the mechanism API (a
//! kind's parameters, its resolved form, reported quantities, registration), the world it
//! acts in (the phases, a task's [`Decision`], the charging [`Ledger`]), the pool's helpers, and
//! [`documented!`], which defines a kind's parameters once for its serde form, its range checks
//! and its docs table.
//! `docs/mechanisms.md` ("Writing a mechanism") walks through one.

pub use bevy_ecs;
pub use bevy_ecs::prelude::*;
pub use rand::RngExt;
pub use tender_agents::documented;
pub use tender_agents::fields::{FieldDoc, markdown_table};
pub use tender_agents::streams::Stream;
pub use tender_agents::validate::Checker;
pub use tender_agents::{AgentInfo, Task, cheapest_first};

pub use crate::ledger::Ledger;
pub use crate::mechanisms::predict::Predictor;
pub use crate::mechanisms::{
    Aggregate, Meaning, Mechanism, MechanismKind, Needs, PAYMENT, Pool, Quantity, Resolved, Role, entry, register,
};
pub use crate::training::TrainingSet;
pub use crate::world::{Agent, Decision, EpisodeSeed, OpenTask, Pace, Phase, Roster, TaskStream};
