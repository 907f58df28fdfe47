//! Mechanisms: how a market picks the agent that executes each task.
//!
//! A scenario names mechanisms with [`MechanismSpec`]; validation resolves them into
//! [`Mechanism`]s, each of which installs its systems into an episode's phases.

pub mod allocation;
pub mod baselines;
pub mod cascade;
pub mod predict;
pub mod procurement;
pub mod routers;
pub mod sale;

use std::collections::BTreeMap;

use bevy_ecs::prelude::*;
use serde::{Deserialize, Serialize};
use tender_agents::validate::Checker;

pub use allocation::{MatchingParams, MatchingRule, MohafParams};
pub use cascade::{Cascade, CascadeParams, ScorerParams};
pub use procurement::AuctionParams;
pub use routers::{CarrotParams, Router, ToRouterParams, WtpParams};
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
    /// The SALE paper's hindsight oracle: every agent runs once with its first plan, and the
    /// cheapest correct answer is taken (only that execution is paid).
    Oracle,
    /// The oracle with best refinements: as `Oracle`, but an agent that fails with its first
    /// plan is also credited with the best plan it could write from a full memory. An upper
    /// bound on every mechanism of the same ledger, SALE with memory included.
    RefinedOracle,
    /// CARROT-style kNN router.
    Carrot(CarrotParams),
    /// TO-Router-style classifier.
    ToRouter(ToRouterParams),
    /// Willingness-to-pay router.
    Wtp(WtpParams),
    /// FrugalGPT-style cascade.
    Cascade(CascadeParams),
    /// First- or second-price procurement auction with a quality-adjusted score.
    Auction(AuctionParams),
    /// MOHAF-style multi-objective allocation with dynamic prices.
    Mohaf(MohafParams),
    /// Online matching with stochastic rewards under capacity.
    Matching(MatchingParams),
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
    Oracle { refined: bool },
    Router(Router),
    Cascade(Cascade),
    Auction(AuctionParams),
    Mohaf(MohafParams),
    Matching(MatchingParams),
}

impl Mechanism {
    /// Whether the mechanism reads plans and jury scores (not only executions).
    #[must_use]
    pub const fn needs_bids(&self) -> bool {
        matches!(self, Self::Sale(_))
    }

    /// Add the mechanism's resources and systems to an episode.
    pub fn install(&self, world: &mut World, schedule: &mut Schedule) {
        match self {
            Self::Sale(config) => sale::install(config, world, schedule),
            Self::Single(agent) => baselines::install_single(*agent, schedule),
            Self::Random => baselines::install_random(schedule),
            Self::Oracle { refined } => baselines::install_oracle(*refined, world, schedule),
            Self::Router(router) => routers::install(router, world, schedule),
            Self::Cascade(c) => cascade::install(c, world, schedule),
            Self::Auction(p) => procurement::install(p, world, schedule),
            Self::Mohaf(p) => allocation::install_mohaf(p, world, schedule),
            Self::Matching(p) => allocation::install_matching(p, world, schedule),
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
            Self::Carrot(p) => p.check(c),
            Self::ToRouter(p) => p.check(c),
            Self::Wtp(p) => p.check(c),
            Self::Cascade(p) => p.check(c, agents),
            Self::Auction(p) => p.check(c),
            Self::Mohaf(p) => p.check(c),
            Self::Matching(p) => p.check(c, agents),
            Self::EachAgent | Self::Random | Self::Oracle | Self::RefinedOracle => {}
        }
    }

    /// Whether the mechanism reads plans and jury scores (not only executions).
    #[must_use]
    pub const fn needs_bids(&self) -> bool {
        matches!(self, Self::Sale(_))
    }

    /// The curve the spec's mechanisms form, if it stands for several settings of one
    /// trade-off (`Carrot(lambdas: [...])`).
    #[must_use]
    pub fn curve(&self) -> Option<String> {
        match self {
            Self::Carrot(p) if !p.lambdas.is_empty() => Some(p.name.clone().unwrap_or_else(|| "CARROT".into())),
            _ => None,
        }
    }

    /// Whether the mechanism learns from the scenario's training tasks.
    #[must_use]
    pub fn needs_training(&self) -> bool {
        matches!(
            self,
            Self::Carrot(_) | Self::ToRouter(_) | Self::Wtp(_) | Self::Auction(_) | Self::Mohaf(_) | Self::Matching(_)
        )
    }

    /// The named mechanisms this spec stands for, given the pool's names and output prices.
    /// Call after [`MechanismSpec::check`] passed.
    #[must_use]
    pub fn resolve(&self, agents: &[&str], prices: &[f64]) -> Vec<(String, Mechanism)> {
        let named = |name: &Option<String>, default: &str, router: Router| {
            vec![(name.clone().unwrap_or_else(|| default.to_string()), Mechanism::Router(router))]
        };
        let index = |name: &str| agents.iter().position(|a| *a == name);
        match self {
            Self::Sale(p) => vec![(p.display_name(), Mechanism::Sale(p.resolve(agents)))],
            Self::Single(p) => index(&p.agent)
                .map(|i| (p.name.clone().unwrap_or_else(|| single_name(agents[i])), Mechanism::Single(i)))
                .into_iter()
                .collect(),
            Self::EachAgent => agents.iter().enumerate().map(|(i, a)| (single_name(a), Mechanism::Single(i))).collect(),
            Self::Random => vec![("random".to_string(), Mechanism::Random)],
            Self::Oracle => vec![("oracle".to_string(), Mechanism::Oracle { refined: false })],
            Self::RefinedOracle => {
                vec![("oracle with best refinements".to_string(), Mechanism::Oracle { refined: true })]
            }
            Self::Carrot(p) if !p.lambdas.is_empty() => {
                let base = p.name.clone().unwrap_or_else(|| "CARROT".into());
                p.lambdas
                    .iter()
                    .map(|&lambda| {
                        (format!("{base} λ={lambda}"), Mechanism::Router(Router::Carrot { k: p.k as usize, lambda }))
                    })
                    .collect()
            }
            Self::Carrot(p) => named(&p.name, "CARROT", Router::Carrot { k: p.k as usize, lambda: p.lambda }),
            Self::ToRouter(p) => named(
                &p.name,
                "TO-Router",
                Router::ToRouter { epochs: p.epochs, learning_rate: p.learning_rate, l2: p.l2 },
            ),
            Self::Wtp(p) => {
                named(&p.name, "WTP", Router::Wtp { k: p.k as usize, willingness_to_pay: p.willingness_to_pay })
            }
            Self::Cascade(p) => vec![(
                p.name.clone().unwrap_or_else(|| "FrugalGPT".into()),
                Mechanism::Cascade(Cascade { order: p.resolve(agents, prices), scorer: p.scorer }),
            )],
            Self::Auction(p) => {
                vec![(p.name.clone().unwrap_or_else(|| p.default_name()), Mechanism::Auction(p.clone()))]
            }
            Self::Mohaf(p) => vec![(p.name.clone().unwrap_or_else(|| "MOHAF".into()), Mechanism::Mohaf(p.clone()))],
            Self::Matching(p) => {
                vec![(p.name.clone().unwrap_or_else(|| p.default_name()), Mechanism::Matching(p.clone()))]
            }
        }
    }
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
