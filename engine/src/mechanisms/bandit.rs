//! An online bandit router: the standard baseline for routers that learn from feedback.
//!
//! Each (domain, complexity bin) is a separate bandit whose arms are the agents. After every
//! executed task the router observes the execution's success and cost, and updates that arm: a
//! Beta posterior of its success rate (from `prior`) and the mean cost of its executions. For
//! each arriving task it picks the arm with the highest `p - cost_weight * cost`, where `p` is a
//! draw from the posterior (Thompson sampling) or an upper confidence bound (UCB1), and `cost`
//! the arm's mean observed cost (the agent's mean over every bin until the arm has run, and
//! zero, optimistically, until the agent has run at all). It starts knowing nothing, needs no
//! training tasks and sees only the task's domain and bin, so what it learns is what an
//! operator's feedback loop would. Ties go to the cheaper agent.

use std::collections::BTreeMap;

use bevy_ecs::prelude::*;
use rand_distr::{Beta, Distribution};
use serde::{Deserialize, Serialize};
use tender_agents::streams::Stream;
use tender_agents::fields::FieldDoc;
use tender_agents::validate::Checker;
use tender_agents::{AgentInfo, cheapest_first};

use super::api::{Meaning, Mechanism, MechanismKind, Pool, Quantity, Resolved};
use super::argmax;
use crate::ledger::Ledger;
use crate::world::{Decision, EpisodeSeed, OpenTask, Phase, TaskStream};

/// Thompson sampling's posterior draws, per (task, agent).
const POSTERIOR: Stream = Stream::named("bandit.posterior");

/// Whether the pick differed from the greedy one (the highest posterior mean less cost).
const EXPLORED: Quantity =
    Quantity { id: "explored", label: "explored %", meaning: Meaning::Flag, scale: 100.0, decimals: 1 };

tender_agents::documented! {
    /// `Bandit(policy: Thompson, cost_weight: 1.0)` as written in a scenario.
    #[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct BanditParams {
        /// Name in tables.
        #[serde(default)]
        pub name: Option<String>, shown "\"bandit (Thompson)\" or \"bandit (UCB)\"", allowed "one line, unique among the mechanisms";
        /// How an arm's success rate is scored for the pick: a draw from its Beta posterior, or
        /// UCB1, the posterior mean plus `exploration × sqrt(ln n / n_arm)` (arms never pulled
        /// first).
        #[serde(default)]
        pub policy: Policy, shown "`Thompson`", allowed "`Thompson`, `Ucb(exploration)` (exploration in [0, 1,000])";
        /// Pass@1 a dollar of expected execution cost is worth giving up (as CARROT's `lambda`).
        #[serde(default = "one")]
        pub cost_weight: f64, default one(), in [0.0, 1e9];
        /// Beta prior of every arm's success rate: pseudo-successes and pseudo-failures.
        #[serde(default = "uniform")]
        pub prior: (f64, f64), shown "`(1.0, 1.0)`", allowed "each in [0.000001, 1,000,000]";
    }
}

/// How an arm's success rate is scored for the pick.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub enum Policy {
    /// A draw from the arm's Beta posterior.
    #[default]
    Thompson,
    /// UCB1: the posterior mean plus `exploration * sqrt(ln n / n_arm)`, with `n` the bandit's
    /// pulls; arms never pulled go first.
    Ucb { exploration: f64 },
}

const fn one() -> f64 {
    1.0
}

const fn uniform() -> (f64, f64) {
    (1.0, 1.0)
}

impl MechanismKind for BanditParams {
    const NAME: &'static str = "Bandit";
    const PARAMETERS: &'static [FieldDoc] = Self::FIELDS;

    fn check(&self, c: &mut Checker, _: &Pool<'_>) {
        self.check_ranges(c);
        c.range("prior.0", self.prior.0, 1e-6, 1e6);
        c.range("prior.1", self.prior.1, 1e-6, 1e6);
        if let Policy::Ucb { exploration } = self.policy {
            c.range("policy.exploration", exploration, 0.0, 1e3);
        }
    }

    fn resolve(&self, _: &Pool<'_>) -> Vec<Resolved> {
        let default = match self.policy {
            Policy::Thompson => "bandit (Thompson)",
            Policy::Ucb { .. } => "bandit (UCB)",
        };
        vec![Resolved::new(self.name.clone().unwrap_or_else(|| default.into()), self.clone())]
    }
}

/// What one agent has shown on one (domain, bin).
#[derive(Clone, Copy, Debug, Default)]
struct Arm {
    successes: f64,
    failures: f64,
    cost: f64,
}

impl Arm {
    fn pulls(&self) -> f64 {
        self.successes + self.failures
    }
}

/// The router's state: one bandit per (domain, bin), the agents cheapest first.
#[derive(Resource)]
struct Bandits {
    params: BanditParams,
    by_price: Vec<usize>,
    arms: BTreeMap<(u16, u8), Vec<Arm>>,
    /// Per agent over every bin: total cost and executions.
    spent: Vec<(f64, f64)>,
}

impl Bandits {
    /// The arm's expected cost: its own mean, the agent's mean, or zero before any run.
    fn cost(&self, arm: &Arm, agent: usize) -> f64 {
        let (total, runs) = self.spent[agent];
        if arm.pulls() > 0.0 {
            arm.cost / arm.pulls()
        } else if runs > 0.0 {
            total / runs
        } else {
            0.0
        }
    }

    fn mean(&self, arm: &Arm) -> f64 {
        let (a, b) = self.params.prior;
        (a + arm.successes) / (a + b + arm.pulls())
    }
}

impl Mechanism for BanditParams {
    fn reports(&self) -> Vec<Quantity> {
        vec![EXPLORED]
    }

    /// It learns each arm's value from the outcomes it sees.
    fn learns(&self) -> bool {
        true
    }

    fn install(&self, world: &mut World, schedule: &mut Schedule) {
        let agents = world.resource::<Ledger>().agents();
        let by_price = cheapest_first(&AgentInfo::prices(agents));
        let spent = vec![(0.0, 0.0); agents.len()];
        world.insert_resource(Bandits { params: self.clone(), by_price, arms: BTreeMap::new(), spent });
        schedule.add_systems((pick.in_set(Phase::Award), learn.in_set(Phase::MemoryUpdate)));
    }
}

fn pick(
    mut tasks: Query<(&OpenTask, &mut Decision)>,
    stream: Res<TaskStream>,
    seed: Res<EpisodeSeed>,
    mut bandits: ResMut<Bandits>,
) {
    for (open, mut decision) in &mut tasks {
        let task = stream.get(open);
        let n = bandits.spent.len();
        let arms = bandits.arms.entry((task.domain, task.bin)).or_insert_with(|| vec![Arm::default(); n]).clone();
        let b = &*bandits;
        let w = b.params.cost_weight;
        let (prior_s, prior_f) = b.params.prior;
        let total: f64 = arms.iter().map(Arm::pulls).sum();
        let score = |a: usize| -> f64 {
            let arm = &arms[a];
            let p = match b.params.policy {
                Policy::Thompson => {
                    let mut rng = POSTERIOR.rng(seed.0, &[u64::from(task.id), a as u64]);
                    Beta::new(prior_s + arm.successes, prior_f + arm.failures).map_or(b.mean(arm), |d| d.sample(&mut rng))
                }
                Policy::Ucb { .. } if arm.pulls() == 0.0 => f64::INFINITY,
                Policy::Ucb { exploration } => b.mean(arm) + exploration * (total.max(1.0).ln() / arm.pulls()).sqrt(),
            };
            p - w * b.cost(arm, a)
        };
        let chosen = argmax(b.by_price.iter().map(|&a| (a, score(a))));
        let greedy = argmax(b.by_price.iter().map(|&a| (a, b.mean(&arms[a]) - w * b.cost(&arms[a], a))));
        decision.winner = chosen.or(b.by_price.first().copied());
        decision.report(&EXPLORED, f64::from(u8::from(chosen != greedy)));
    }
}

/// Each executed task's success and execution cost update its arm.
fn learn(tasks: Query<(&OpenTask, &Decision)>, stream: Res<TaskStream>, mut bandits: ResMut<Bandits>) {
    for (open, decision) in &tasks {
        let (Some(agent), Some(success)) = (decision.winner, decision.success) else { continue };
        let task = stream.get(open);
        let cost = decision.tab.execution_cost;
        let b = &mut *bandits;
        if let Some(arm) = b.arms.get_mut(&(task.domain, task.bin)).and_then(|arms| arms.get_mut(agent)) {
            if success {
                arm.successes += 1.0;
            } else {
                arm.failures += 1.0;
            }
            arm.cost += cost;
        }
        if let Some(spent) = b.spent.get_mut(agent) {
            spent.0 += cost;
            spent.1 += 1.0;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use tender_agents::OutcomeSource;

    use crate::episode::run_episode;
    use crate::mechanisms::four_agents;
    use crate::record::TaskRecord;
    use crate::scenario::Scenario;

    /// Each bandit's and each single agent's records over a long episode.
    fn runs(mechanisms: &str) -> Vec<(String, Vec<TaskRecord>)> {
        let text = four_agents("", mechanisms).replace("tasks: 40", "tasks: 400");
        let s = Scenario::parse(&text, "bandit").unwrap();
        let source: Arc<dyn OutcomeSource> = Arc::new(s.source().unwrap());
        s.resolve_mechanisms()
            .into_iter()
            .map(|r| {
                let records = run_episode(source.clone(), s.training.split(&s.workload, 3), &*r.mechanism, &r.name, 3);
                (r.name, records.unwrap())
            })
            .collect()
    }

    fn pass(records: &[TaskRecord]) -> f64 {
        records.iter().filter(|r| r.success).count() as f64 / records.len() as f64
    }

    #[test]
    fn a_bandit_learns_to_beat_random_and_explores_less_as_it_learns() {
        let runs = runs("[Bandit(cost_weight: 0.0), Bandit(policy: Ucb(exploration: 0.5), cost_weight: 0.0), Random]");
        let random = pass(&runs[2].1);
        for (name, records) in &runs[..2] {
            assert!(pass(records) > random + 0.05, "{name}: {} vs random {random}", pass(records));
            let explored = |part: &[TaskRecord]| {
                part.iter().map(|r| r.reported(super::EXPLORED.id).unwrap_or(0.0)).sum::<f64>()
                    / part.len() as f64
            };
            let (early, late) = records.split_at(records.len() / 4);
            assert!(explored(late) < explored(early), "{name}: explored {} early, {} late", explored(early), explored(late));
        }
    }

    #[test]
    fn a_cost_weight_moves_work_to_cheaper_agents() {
        let runs = runs("[Bandit(name: \"free\", cost_weight: 0.0), Bandit(name: \"priced\", cost_weight: 3000.0)]");
        let cost = |records: &[TaskRecord]| records.iter().map(TaskRecord::cost).sum::<f64>();
        assert!(cost(&runs[1].1) < 0.8 * cost(&runs[0].1), "{} vs {}", cost(&runs[1].1), cost(&runs[0].1));
    }

    #[test]
    fn an_episode_replays_exactly() {
        assert_eq!(runs("[Bandit()]"), runs("[Bandit()]"));
    }
}
