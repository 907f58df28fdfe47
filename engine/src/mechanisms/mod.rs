//! Mechanisms: how a market picks the agent that executes each task.
//!
//! Each mechanism lives in its own file and implements the [`api`]: its parameters as a
//! scenario writes them ([`MechanismKind`]) and its resolved form ([`Mechanism`]), which installs
//! its systems into an episode's phases. [`BUILTIN`] lists the library's kinds, one line each;
//! [`register`] adds one from outside the engine.

pub mod api;
pub mod predict;
pub mod registry;

use std::collections::BTreeMap;

pub use api::{
    Aggregate, AttachError, Collected, Meaning, Mechanism, MechanismKind, Needs, PAYMENT, Pool, Quantity, Resolved,
    Role, TrainingData, TrainingRun, draw_for,
};
pub use registry::{DuplicateKind, Entry, MechanismSpec, entry, kinds, parameters, register};

/// Declares each mechanism file as a module and lists its kinds in [`BUILTIN`].
macro_rules! builtin {
    ($($module:ident::{$($kind:ident),+ $(,)?}),+ $(,)?) => {
        $(pub mod $module;)+
        /// Every mechanism kind a scenario can name, in the order errors list them.
        pub const BUILTIN: &[fn() -> Entry] = &[$($(entry::<$module::$kind>,)+)+];
    };
}

// The registry: one line per mechanism file.
builtin! {
    sale::{SaleParams},
    baselines::{Single, EachAgent, Random, Oracle, RefinedOracle},
    routers::{CarrotParams, ToRouterParams, WtpParams},
    cascade::{CascadeParams},
    procurement::{AuctionParams},
    mohaf::{MohafParams},
    matching::{MatchingParams},
    bandit::{BanditParams},
}

/// The candidate with the smallest value; ties go to the one listed first.
pub(crate) fn argmin(values: impl Iterator<Item = (usize, f64)>) -> Option<usize> {
    values
        .fold(None::<(usize, f64)>, |best, (i, v)| match best {
            Some((_, bv)) if bv <= v => best,
            _ => Some((i, v)),
        })
        .map(|(i, _)| i)
}

/// The candidate with the largest value; ties go to the one listed first (the cheaper one, when
/// candidates come cheapest first).
pub(crate) fn argmax(values: impl Iterator<Item = (usize, f64)>) -> Option<usize> {
    argmin(values.map(|(i, v)| (i, -v)))
}

pub(crate) fn quoted(names: &[&str]) -> String {
    names.iter().map(|n| format!("{n:?}")).collect::<Vec<_>>().join(", ")
}

/// Per-agent weights from a map by name, with a default for agents not named.
pub(crate) fn weights_by_agent(default: f64, overrides: &BTreeMap<String, f64>, agents: &[&str]) -> Vec<f64> {
    agents.iter().map(|a| overrides.get(*a).copied().unwrap_or(default)).collect()
}

/// A scenario of four agents on one domain of three bins, with `training` (a scenario field, or
/// nothing) and `mechanisms` (a RON list): the routers' and the cascade's tests share it.
#[cfg(test)]
pub(crate) fn four_agents(training: &str, mechanisms: &str) -> String {
    format!(
        r#"Scenario(
    name: "four agents",
    seed: 5,
    episodes: 1,
    agents: [
        (name: "s", price: 0.05, skill: {{"qa": [0.7, 0.35, 0.1]}}),
        (name: "m", price: 0.09, skill: {{"qa": [0.8, 0.5, 0.2]}}),
        (name: "l", price: 0.16, skill: {{"qa": [0.85, 0.6, 0.3]}}),
        (name: "xl", price: 0.36, skill: {{"qa": [0.9, 0.7, 0.45]}}),
    ],
    workload: (domains: [(name: "qa", bins: [(tau_max: 0.5, tasks: 40), (tau_max: 5.0, tasks: 40), (tau_max: 50.0, tasks: 40)], topics: 6)]),
    {training}
    mechanisms: {mechanisms},
)"#
    )
}
