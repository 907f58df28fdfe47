//! Mechanisms: how a market picks the agent that executes each task.
//!
//! A scenario names mechanisms with [`MechanismSpec`]; validation resolves them into
//! [`Mechanism`]s, each of which installs its systems into an episode's phases.

pub mod baselines;
pub mod sale;

use std::collections::BTreeMap;

use bevy_ecs::prelude::*;
use serde::{Deserialize, Serialize};
use tender_agents::validate::Checker;

pub use sale::{SaleConfig, SaleParams};

/// A mechanism as written in a scenario file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub enum MechanismSpec {
    /// Strategy auctions (SALE), as published.
    Sale(SaleParams),
    /// One agent executes every task.
    Single(SingleParams),
    /// One `Single` mechanism for every agent of the pool.
    EachAgent,
    /// A uniformly random agent executes each task.
    Random,
    /// Hindsight oracle: the cheapest agent that would succeed.
    Oracle,
}

/// Parameters of a single-agent mechanism.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SingleParams {
    pub agent: String,
    #[serde(default)]
    pub name: Option<String>,
}

/// A mechanism ready to run: names resolved to agent indices.
#[derive(Clone, Debug, PartialEq)]
pub enum Mechanism {
    Sale(SaleConfig),
    Single(usize),
    Random,
    Oracle,
}

impl Mechanism {
    /// Add the mechanism's resources and systems to an episode.
    pub fn install(&self, world: &mut World, schedule: &mut Schedule) {
        match self {
            Self::Sale(config) => sale::install(config, world, schedule),
            Self::Single(agent) => baselines::install_single(*agent, schedule),
            Self::Random => baselines::install_random(schedule),
            Self::Oracle => baselines::install_oracle(schedule),
        }
    }
}

impl MechanismSpec {
    /// Check the spec against the pool's agent names.
    pub fn check(&self, c: &mut Checker, agents: &[&str]) {
        match self {
            Self::Sale(p) => p.check(c, agents),
            Self::Single(p) => c.require(
                agents.contains(&p.agent.as_str()),
                "agent",
                format!("{:?}", p.agent),
                &format!("must name an agent of the pool: {}", quoted(agents)),
            ),
            Self::EachAgent | Self::Random | Self::Oracle => {}
        }
    }

    /// The named mechanisms this spec stands for. Call after [`MechanismSpec::check`] passed.
    #[must_use]
    pub fn resolve(&self, agents: &[&str]) -> Vec<(String, Mechanism)> {
        let index = |name: &str| agents.iter().position(|a| *a == name);
        match self {
            Self::Sale(p) => vec![(p.display_name(), Mechanism::Sale(p.resolve(agents)))],
            Self::Single(p) => index(&p.agent)
                .map(|i| (p.name.clone().unwrap_or_else(|| single_name(agents[i])), Mechanism::Single(i)))
                .into_iter()
                .collect(),
            Self::EachAgent => agents.iter().enumerate().map(|(i, a)| (single_name(a), Mechanism::Single(i))).collect(),
            Self::Random => vec![("random".to_string(), Mechanism::Random)],
            Self::Oracle => vec![("oracle".to_string(), Mechanism::Oracle)],
        }
    }
}

fn single_name(agent: &str) -> String {
    format!("{agent} alone")
}

pub(crate) fn quoted(names: &[&str]) -> String {
    names.iter().map(|n| format!("{n:?}")).collect::<Vec<_>>().join(", ")
}

/// Per-agent weights from a map by name, with a default for agents not named.
pub(crate) fn weights_by_agent(default: f64, overrides: &BTreeMap<String, f64>, agents: &[&str]) -> Vec<f64> {
    agents.iter().map(|a| overrides.get(*a).copied().unwrap_or(default)).collect()
}
