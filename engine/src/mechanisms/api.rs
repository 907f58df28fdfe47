//! The mechanism API: what a mechanism implements in its own file.
//!
//! A mechanism has two forms. Its *parameters* are what a scenario file writes,
//! `NAME(field: value, ...)`: a serde type that implements [`MechanismKind`] (its name, range
//! checks against the pool, what it needs, and what it resolves into). Its *resolved* form is a
//! [`Mechanism`], ready to run: it installs its resources and systems into an episode's phases.
//! One line in the registry ([`super::BUILTIN`], or [`super::register`] from outside the
//! engine) makes the kind known to scenario files.

use std::fmt::Debug;
use std::path::Path;
use std::sync::Arc;

use bevy_ecs::prelude::*;
use serde::Serialize;
use serde::de::DeserializeOwned;
use tender_agents::validate::Checker;

use crate::fit::{FitError, TrainingAuction};
use crate::training::Draw;

/// What a mechanism reads besides each task's executions.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Needs {
    /// Plans and jury scores: only sources that bid (stand-ins, live agents) can run it.
    pub bids: bool,
    /// The scenario's training tasks (routers that learn before the episode, and mechanisms that
    /// fit themselves on them when the scenario is prepared).
    pub training: bool,
}

impl Needs {
    /// Only the training tasks (routers and other learners).
    pub const TRAINING: Self = Self { bids: false, training: true };
}

/// The pool as a mechanism's parameters see it: agent names and output prices, by index.
#[derive(Clone, Copy, Debug)]
pub struct Pool<'a> {
    pub agents: &'a [&'a str],
    /// Dollars per million output tokens.
    pub prices: &'a [f64],
}

impl Pool<'_> {
    /// The index of the agent named `name`.
    #[must_use]
    pub fn index(&self, name: &str) -> Option<usize> {
        self.agents.iter().position(|a| *a == name)
    }

    /// Require that `name` (the value of `field`) names an agent of the pool.
    pub fn check_agent(&self, c: &mut Checker, field: &str, name: &str) {
        c.require(
            self.index(name).is_some(),
            field,
            format!("{name:?}"),
            &format!("must name an agent of the pool: {}", super::quoted(self.agents)),
        );
    }
}

/// What a resolved mechanism is to the analysis: most are markets; the reference points
/// (an agent alone, the oracles) anchor the paired metrics and the routing report.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Role {
    #[default]
    Market,
    /// One agent executes every task.
    Alone(usize),
    /// The hindsight oracle (first plans only).
    Oracle,
    /// The oracle with best refinements.
    RefinedOracle,
}

/// How a numeric reported quantity becomes one number per episode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Aggregate {
    /// The sum over the tasks that report it.
    Sum,
    /// The mean over the tasks that report it.
    Mean,
}

/// What a reported quantity's value is, which decides how every output reads it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Meaning {
    /// A number of the mechanism's own (a utility, a bid spread...), one per episode as
    /// aggregated.
    Number(Aggregate),
    /// Yes (1) or no (0): `tasks.csv` holds `true`/`false`, the episode value is the share of
    /// yes.
    Flag,
    /// An agent of the pool, by index: `tasks.csv` holds its name. It has no episode value.
    Agent,
    /// Dollars the buyer pays the winner for the task, in place of the winner's charges at its
    /// price: the money accounts (revenue, profit, what the buyer pays) read it. The episode
    /// value is the sum. Report [`PAYMENT`].
    Payment,
}

/// A per-task quantity a mechanism reports beyond the core record (a utility, a bid spread,
/// whether a bandit explored, SALE's provisional winner, a payment...): declared as a `const` in
/// the mechanism's file, listed by [`Mechanism::reports`] and reported with
/// [`crate::world::Decision::report`]. It becomes a column of `tasks.csv`, a metric of
/// `summary.csv` (with its interval) and of a sweep's rows and points, a column of the terminal's
/// table of reported quantities and of the Python tables, each read by its [`Meaning`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Quantity {
    /// Column and metric identifier (snake case, unique in a run).
    pub id: &'static str,
    /// Table label.
    pub label: &'static str,
    pub meaning: Meaning,
    /// Factor and decimals the table shows the episode value at (100 and 1 for a share shown in
    /// percent).
    pub scale: f64,
    pub decimals: usize,
}

impl Quantity {
    /// How one episode's values (their sum over the `n` tasks that report it) become its
    /// episode value; `None` for what has none (an agent).
    #[must_use]
    pub fn per_episode(&self, sum: f64, n: u32) -> Option<f64> {
        match self.meaning {
            Meaning::Number(Aggregate::Sum) | Meaning::Payment => Some(sum),
            Meaning::Number(Aggregate::Mean) | Meaning::Flag => (n > 0).then(|| sum / f64::from(n)),
            Meaning::Agent => None,
        }
    }
}

/// What the buyer paid the winner for a task, in mechanisms with payments (auctions, SALE with
/// second-score pay): the one payment every output and the money accounts read.
pub const PAYMENT: Quantity =
    Quantity { id: "payment_usd", label: "payments $", meaning: Meaning::Payment, scale: 1.0, decimals: 2 };

/// A mechanism ready to run.
pub trait Mechanism: Debug + Send + Sync {
    /// Add the mechanism's resources and systems to a fresh episode's world and schedule. The
    /// mechanism owns every entity it spawns and despawns it itself (by the `Recording` phase
    /// of the task it belongs to).
    fn install(&self, world: &mut World, schedule: &mut Schedule);

    /// What the mechanism is to the analysis.
    fn role(&self) -> Role {
        Role::Market
    }

    /// The quantities it reports for each task ([`crate::world::Decision::report`]): what a
    /// sweep's rows carry for it, declared before anything runs.
    fn reports(&self) -> Vec<Quantity> {
        Vec::new()
    }

    /// Whether it adapts along the task stream (from its memory or from the outcomes it sees):
    /// the analysis draws its learning curve, whatever it is named.
    fn learns(&self) -> bool {
        false
    }

    /// Whether its `install` reads the episode's training tasks ([`crate::training::TrainingSet`]:
    /// routers and predictors that learn before the episode). Only then does an episode draw
    /// them and put them in its world; a mechanism that fits itself on them when the scenario is
    /// prepared, as SALE does, reads none while it plays.
    fn reads_training_set(&self) -> bool {
        false
    }
}

/// The task sets an episode of these columns draws: the training tasks only when one of them
/// reads them ([`Mechanism::reads_training_set`]).
#[must_use]
pub fn draw_for(columns: &[Resolved]) -> Draw {
    if columns.iter().any(|c| c.mechanism.reads_training_set()) { Draw::All } else { Draw::Evaluated }
}

/// One column of a batch: a named, resolved mechanism and what the analysis needs to know of it
/// (its reported quantities travel with its records).
#[derive(Clone, Debug)]
pub struct Resolved {
    /// Its name in tables (unique in a scenario).
    pub name: String,
    /// The curve it is one point of, when its spec stands for several settings of a trade-off.
    pub curve: Option<String>,
    /// What it reads; filled in from its spec by [`super::MechanismSpec::resolve`].
    pub needs: Needs,
    pub mechanism: Arc<dyn Mechanism>,
}

impl Resolved {
    #[must_use]
    pub fn new(name: impl Into<String>, mechanism: impl Mechanism + 'static) -> Self {
        Self { name: name.into(), curve: None, needs: Needs::default(), mechanism: Arc::new(mechanism) }
    }

    /// The same mechanism as a point of the curve `curve`.
    #[must_use]
    pub fn on_curve(mut self, curve: impl Into<String>) -> Self {
        self.curve = Some(curve.into());
        self
    }

    #[must_use]
    pub fn role(&self) -> Role {
        self.mechanism.role()
    }

    #[must_use]
    pub fn learns(&self) -> bool {
        self.mechanism.learns()
    }
}

/// Why a file a mechanism's parameters name cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum AttachError {
    #[error("cannot read {path}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}:{line}:{column}: {message}")]
    Syntax { path: String, line: usize, column: usize, message: String },
}

/// The training split of a scenario with its pool's source: what a mechanism that fits itself
/// ([`MechanismKind::fit_weights`]) learns from. Reading outcomes is free here: training tasks
/// stand for logged data.
pub trait TrainingData: Sync {
    /// The pool's agent names, by index.
    fn agent_names(&self) -> &[String];
    /// The first bids and full jury of every agent on the training tasks of `episodes`
    /// episodes, with each task's target, and what those auctions would have cost in dollars.
    fn auctions(&self, episodes: u32) -> Result<Collected, FitError>;
    /// Run `mechanism` on the training tasks of `episodes` episodes, as an evaluation would.
    fn run(&self, episodes: u32, mechanism: &dyn Mechanism) -> Result<TrainingRun, FitError>;
}

/// Training auctions with what they would have cost, in dollars, shared between the fits that
/// read them.
pub type Collected = Arc<(Vec<TrainingAuction>, f64)>;

/// What a mechanism did on the training tasks.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct TrainingRun {
    pub tasks: usize,
    /// Value of the solved tasks minus everything spent, dollars.
    pub welfare: f64,
    pub solved: usize,
    /// What the auctions (plans, jury, refinements) cost, dollars.
    pub overhead: f64,
}

/// Reads a file named by a scenario (relative to the scenario file's folder).
pub type ReadFile<'a> = &'a dyn Fn(&Path) -> Result<String, AttachError>;

/// A kind of mechanism as a scenario file names it: `NAME(params...)`, or bare `NAME` for a
/// kind without parameters. Implemented by the parameters' type, which derives `Serialize` and
/// `Deserialize` with `#[serde(deny_unknown_fields)]`.
pub trait MechanismKind: Serialize + DeserializeOwned + Clone + Debug + PartialEq + Send + Sync + 'static {
    /// The name a scenario writes (CamelCase, unique in the registry).
    const NAME: &'static str;

    /// Its parameters as the docs show them: the `FIELDS` of a struct defined with
    /// [`tender_agents::documented!`]; none for a kind written bare.
    const PARAMETERS: &'static [tender_agents::fields::FieldDoc] = &[];

    /// For a kind written bare (`Random`), its value; kinds with parameters keep `None`.
    fn bare() -> Option<Self> {
        None
    }

    /// Check every parameter against its allowed range and the pool; each error names its field.
    fn check(&self, _c: &mut Checker, _pool: &Pool<'_>) {}

    /// What a user should know of this setting although it is valid (it makes the mechanism
    /// equal to another, say), one sentence each.
    fn warnings(&self, _pool: &Pool<'_>) -> Vec<String> {
        Vec::new()
    }

    /// What its mechanisms read.
    fn needs(&self) -> Needs {
        Needs::default()
    }

    /// The named mechanisms it stands for (one, or one per setting of a curve, or one per
    /// agent). Called only after [`MechanismKind::check`] passed.
    fn resolve(&self, pool: &Pool<'_>) -> Vec<Resolved>;

    /// Read the files the parameters name and take their contents in place of the reference,
    /// so that a saved copy of the scenario stands alone; returns whether anything was read.
    fn attach_files(&mut self, _base: &Path, _read: ReadFile<'_>) -> Result<bool, AttachError> {
        Ok(false)
    }

    /// Called on each point of a sweep after its assignments, before validation: parameters
    /// that a swept value overrides give way to it.
    fn after_assignments(&mut self) {}

    /// Fit the parameters the scenario asks to be fitted on its training data, and write the
    /// fitted values in place of the request; returns whether anything was fitted. Called once
    /// when the scenario is prepared ([`crate::Prepared::new`]), before resolution, for a kind
    /// whose [`MechanismKind::needs`] include the training split.
    fn fit_weights(&mut self, _data: &dyn TrainingData) -> Result<bool, FitError> {
        Ok(false)
    }
}
