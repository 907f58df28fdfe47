//! The reference points every mechanism is compared with: each agent alone, a random
//! allocator, and the hindsight oracle.

use bevy_ecs::prelude::*;
use rand::RngExt;
use serde::{Deserialize, Serialize};
use tender_agents::streams::Stream;
use tender_agents::fields::FieldDoc;
use tender_agents::validate::Checker;
use tender_agents::{AgentInfo, cheapest_first};

use super::api::{MechanismKind, Mechanism, Pool, Resolved, Role};
use crate::ledger::Ledger;
use crate::world::{Decision, EpisodeSeed, OpenTask, Phase, Roster, TaskStream};

/// The random allocator's choice per task.
const CHOICE: Stream = Stream::numbered(9);

tender_agents::documented! {
    /// `Single(agent: "qwen3-32b")`: one agent executes every task.
    #[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct Single {
        /// The agent that executes every task.
        pub agent: String, allowed "an agent of the pool";
        /// Name in tables.
        #[serde(default)]
        pub name: Option<String>, shown "\"AGENT alone\"", allowed "one line, unique among the mechanisms";
    }
}

/// `EachAgent`: one [`Single`] for every agent of the pool.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EachAgent;

/// `Random`: a uniformly random agent executes each task.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Random;

/// `Oracle`: the SALE paper's hindsight oracle. Every agent runs once with its first plan, and
/// the cheapest correct answer is taken (only that execution is paid).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Oracle;

/// `RefinedOracle`: as `Oracle`, but an agent that fails with its first plan is also credited
/// with the best plan it could write from a full memory. An upper bound on every mechanism of
/// the same ledger, SALE with memory included.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RefinedOracle;

fn alone(agent: &str) -> String {
    format!("{agent} alone")
}

impl MechanismKind for Single {
    const NAME: &'static str = "Single";
    const PARAMETERS: &'static [FieldDoc] = Self::FIELDS;
    fn check(&self, c: &mut Checker, pool: &Pool<'_>) {
        pool.check_agent(c, "agent", &self.agent);
    }
    fn resolve(&self, pool: &Pool<'_>) -> Vec<Resolved> {
        pool.index(&self.agent)
            .map(|i| Resolved::new(self.name.clone().unwrap_or_else(|| alone(&self.agent)), Alone(i)))
            .into_iter()
            .collect()
    }
}

impl MechanismKind for EachAgent {
    const NAME: &'static str = "EachAgent";
    fn bare() -> Option<Self> {
        Some(Self)
    }
    fn resolve(&self, pool: &Pool<'_>) -> Vec<Resolved> {
        pool.agents.iter().enumerate().map(|(i, a)| Resolved::new(alone(a), Alone(i))).collect()
    }
}

impl MechanismKind for Random {
    const NAME: &'static str = "Random";
    fn bare() -> Option<Self> {
        Some(Self)
    }
    fn resolve(&self, _: &Pool<'_>) -> Vec<Resolved> {
        vec![Resolved::new("random", RandomChoice)]
    }
}

impl MechanismKind for Oracle {
    const NAME: &'static str = "Oracle";
    fn bare() -> Option<Self> {
        Some(Self)
    }
    fn resolve(&self, _: &Pool<'_>) -> Vec<Resolved> {
        vec![Resolved::new("oracle", Hindsight { refined: false })]
    }
}

impl MechanismKind for RefinedOracle {
    const NAME: &'static str = "RefinedOracle";
    fn bare() -> Option<Self> {
        Some(Self)
    }
    fn resolve(&self, _: &Pool<'_>) -> Vec<Resolved> {
        vec![Resolved::new("oracle with best refinements", Hindsight { refined: true })]
    }
}

/// One agent, by index, executes every task.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Alone(pub usize);

impl Mechanism for Alone {
    fn install(&self, _: &mut World, schedule: &mut Schedule) {
        let agent = self.0;
        schedule.add_systems(
            (move |mut tasks: Query<&mut Decision>| {
                for mut d in &mut tasks {
                    d.winner.get_or_insert(agent);
                }
            })
            .in_set(Phase::Award),
        );
    }
    fn role(&self) -> Role {
        Role::Alone(self.0)
    }
}

/// A uniformly random agent per task.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RandomChoice;

impl Mechanism for RandomChoice {
    fn install(&self, _: &mut World, schedule: &mut Schedule) {
        schedule.add_systems(award_random.in_set(Phase::Award));
    }
}

/// The hindsight oracle, with or without best refinements.
#[derive(Resource, Clone, Copy, Debug, PartialEq, Eq)]
pub struct Hindsight {
    pub refined: bool,
}

impl Mechanism for Hindsight {
    fn install(&self, world: &mut World, schedule: &mut Schedule) {
        world.insert_resource(*self);
        schedule.add_systems(award_oracle.in_set(Phase::Award));
    }
    fn role(&self) -> Role {
        if self.refined { Role::RefinedOracle } else { Role::Oracle }
    }
}

fn award_random(
    mut tasks: Query<(&OpenTask, &mut Decision)>,
    roster: Res<Roster>,
    stream_: Res<TaskStream>,
    seed: Res<EpisodeSeed>,
) {
    let n = roster.0.len();
    for (open, mut d) in &mut tasks {
        let task = stream_.get(open);
        let mut rng = CHOICE.rng(seed.0, &[u64::from(task.id)]);
        d.winner = Some(rng.random_range(0..n));
    }
}

/// The SALE paper's oracle: the cheapest agent that would succeed with its first plan; with best
/// refinements, failing that, the cheapest that would succeed with the best plan it could write;
/// failing that, the cheapest agent. It pays only for the execution it picks, so with best
/// refinements no mechanism on the same ledger can beat its pass@1.
fn award_oracle(
    mut tasks: Query<(&OpenTask, &mut Decision)>,
    stream_: Res<TaskStream>,
    ledger: Res<Ledger>,
    oracle: Res<Hindsight>,
) {
    let by_price = cheapest_first(&AgentInfo::prices(ledger.agents()));
    for (open, mut d) in &mut tasks {
        let task = stream_.get(open);
        let best = || by_price.iter().find_map(|&a| ledger.hindsight_best(task, a).map(|p| (a, Some(p))));
        let (winner, plan) = ledger
            .cheapest_success(task, &by_price)
            .map(|a| (a, None))
            .or_else(|| if oracle.refined { best() } else { None })
            .unwrap_or((by_price[0], None));
        d.winner = Some(winner);
        d.plan = plan;
    }
}
