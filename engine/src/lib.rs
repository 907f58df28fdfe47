//! Tender's market engine.
//!
//! One bevy_ecs [`World`](bevy_ecs::world::World) per episode: agents, tasks and bids are
//! entities; the auction's phases are chained system sets ([`world::Phase`]); a mechanism is a
//! plugin that adds its systems to those phases, written in one file against the API of
//! [`mechanisms::api`] and registered by one line ([`mechanisms`]). A [`Scenario`] is the file
//! form; a [`Prepared`] is what a run uses. Every potential outcome is read
//! through the charging [`ledger::Ledger`], and decisions leave the world as plain
//! [`record::TaskRecord`] rows. The [`batch`] runner spreads episodes over threads with rayon.
//!
//! The engine does no IO: scenario text comes in as a string, records go out as values.

pub mod batch;
pub mod calibration;
pub mod clock;
pub mod episode;
pub mod error;
pub mod fit;
pub mod format;
pub mod game_spec;
pub mod ledger;
pub mod mechanisms;
pub mod memory;
pub mod paths;
pub mod prelude;
pub mod prepared;
pub mod record;
pub mod scenario;
pub mod sweep;
pub mod sweep_spec;
pub mod training;
pub mod training_bids;
pub mod weights;
pub mod world;

pub use batch::{BatchResult, EpisodeRun, RunOptions, run_batch};
pub use episode::run_episode;
pub use error::EngineError;
pub use mechanisms::sale::{SaleConfig, SaleParams};
pub use mechanisms::{Mechanism, MechanismKind, MechanismSpec, Resolved, Role};
pub use prepared::{PrepareError, Prepared};
pub use record::TaskRecord;
pub use scenario::{Scenario, ScenarioError};
pub use training::{Draw, EpisodeTasks, Training};
