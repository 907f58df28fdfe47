//! A FrugalGPT-style cascade (Chen et al. 2023): agents are tried in order, and after each answer
//! a scorer accepts it or escalates to the next agent. It learns nothing; every attempt and every
//! scoring is paid.

use bevy_ecs::prelude::*;
use rand::RngExt;
use serde::{Deserialize, Serialize};
use tender_agents::streams::{Stream, name_key};
use tender_agents::fields::FieldDoc;
use tender_agents::validate::Checker;
use tender_agents::{Usage, cheapest_first};

use super::api::{Mechanism, MechanismKind, Pool, Resolved};
use crate::ledger::Ledger;
use crate::world::{Decision, EpisodeSeed, OpenTask, Phase, TaskStream};

tender_agents::documented! {
    /// FrugalGPT-style cascade (Chen et al. 2023).
    #[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct CascadeParams {
        /// Name in tables.
        #[serde(default)]
        pub name: Option<String>, shown "\"FrugalGPT\"", allowed "one line, unique among the mechanisms";
        /// Agents in the order they are tried; cheapest first when empty.
        #[serde(default)]
        pub order: Vec<String>, shown "`[]`", allowed "agents of the pool, none repeated";
        /// The scorer that accepts an answer or escalates (its fields below).
        #[serde(default)]
        pub scorer: ScorerParams, shown "each field's default", allowed "each field's range";
    }
}

tender_agents::documented! {
    /// The cascade's answer scorer.
    #[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct ScorerParams {
        /// Chance that it accepts a correct answer, and that it rejects a wrong one.
        #[serde(default = "default_accuracy")]
        pub accuracy: f64, default default_accuracy(), in [0.0, 1.0];
        /// Chance that it accepts a wrong answer, when it differs from `1 − accuracy` (a scorer
        /// with a strict threshold rejects most answers, right or wrong, so a cascade climbs to
        /// its priciest agent more often).
        #[serde(default)]
        pub false_accept: Option<f64>, shown "`1 − accuracy`", in [0.0, 1.0];
        /// Tokens it reads per scored answer.
        #[serde(default = "default_tokens")]
        pub tokens: u32, default default_tokens(), in [0, 10_000_000];
        /// Its price, dollars per million tokens.
        #[serde(default = "default_price")]
        pub price: f64, default default_price(), in [0.0, 1e6];
    }
}

const fn default_accuracy() -> f64 {
    0.8
}
const fn default_tokens() -> u32 {
    400
}
const fn default_price() -> f64 {
    0.05
}

impl Default for ScorerParams {
    fn default() -> Self {
        Self { accuracy: default_accuracy(), false_accept: None, tokens: default_tokens(), price: default_price() }
    }
}

/// The scorer's draw per (task, scored agent).
const SCORER: Stream = Stream::numbered(10);

impl MechanismKind for CascadeParams {
    const NAME: &'static str = "Cascade";
    const PARAMETERS: &'static [FieldDoc] = Self::FIELDS;

    fn check(&self, c: &mut Checker, pool: &Pool<'_>) {
        for (i, a) in self.order.iter().enumerate() {
            c.within("order", |c| {
                pool.check_agent(c, &format!("[{i}]"), a);
                c.require(
                    !self.order[..i].contains(a),
                    &format!("[{i}]"),
                    format!("{a:?}"),
                    "must not repeat an agent",
                );
            });
        }
        c.within("scorer", |c| self.scorer.check_ranges(c));
    }

    fn resolve(&self, pool: &Pool<'_>) -> Vec<Resolved> {
        let cascade = Cascade { order: self.order_of(pool), scorer: self.scorer };
        vec![Resolved::new(self.name.clone().unwrap_or_else(|| "FrugalGPT".into()), cascade)]
    }
}

impl CascadeParams {
    /// Agent indices in cascade order: as listed, or cheapest first.
    #[must_use]
    pub fn order_of(&self, pool: &Pool<'_>) -> Vec<usize> {
        if self.order.is_empty() {
            cheapest_first(pool.prices)
        } else {
            self.order.iter().filter_map(|a| pool.index(a)).collect()
        }
    }
}

/// A cascade ready to run: agent indices in the order they are tried, and the scorer.
#[derive(Resource, Clone, Debug, PartialEq)]
pub struct Cascade {
    pub order: Vec<usize>,
    pub scorer: ScorerParams,
}

impl Mechanism for Cascade {
    fn install(&self, world: &mut World, schedule: &mut Schedule) {
        world.insert_resource(self.clone());
        schedule.add_systems(escalate.in_set(Phase::Award));
    }
}

/// Try agents in order; after each answer the scorer accepts it or escalates. Every attempt and
/// every scoring is paid; the last agent's answer is accepted without scoring.
fn escalate(
    mut tasks: Query<(&OpenTask, &mut Decision)>,
    stream_: Res<TaskStream>,
    cascade: Res<Cascade>,
    seed: Res<EpisodeSeed>,
    mut ledger: ResMut<Ledger>,
) {
    let Cascade { order, scorer } = &*cascade;
    for (open, mut decision) in &mut tasks {
        let task = stream_.get(open);
        for (i, &agent) in order.iter().enumerate() {
            let cell = ledger.execute(task, agent, None);
            decision.winner = Some(agent);
            decision.success = Some(cell.success);
            decision.delivered = cell.usage;
            if i + 1 == order.len() {
                break;
            }
            let usage = Usage { input: u64::from(scorer.tokens), output: 1 };
            ledger.charge_external(task, usage, scorer.price);
            let key = name_key(&ledger.agents()[agent].name);
            let mut rng = SCORER.rng(seed.0, &[u64::from(task.id), key]);
            let u = rng.random::<f64>();
            // A correct answer is accepted with chance `accuracy`; a wrong one with chance
            // `false_accept` (by default `1 - accuracy`, drawn from the same uniform, so a right
            // scorer accepts a correct answer and rejects a wrong one).
            let accepted = if cell.success {
                u < scorer.accuracy
            } else {
                u >= scorer.false_accept.map_or(scorer.accuracy, |f| 1.0 - f)
            };
            if accepted {
                break;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use tender_agents::OutcomeSource;

    use super::*;
    use crate::episode::run_episode;
    use crate::mechanisms::four_agents;
    use crate::scenario::Scenario;

    #[test]
    fn a_cascade_pays_every_attempt_and_never_less_than_the_answer_it_accepts() {
        let s = Scenario::parse(&four_agents("", "[Cascade()]"), "cascade").unwrap();
        let source: Arc<dyn OutcomeSource> = Arc::new(s.source().unwrap());
        let resolved = s.resolve_mechanisms().remove(0);
        let (name, cascade) = (resolved.name, resolved.mechanism);
        assert_eq!(name, "FrugalGPT");
        let order = s.with_pool(|pool| s.mechanisms[0].get::<CascadeParams>().unwrap().order_of(pool));
        assert_eq!(order, [0, 1, 2, 3], "cheapest first");
        let mut escalated = 0;
        for seed in 0..5 {
            let tasks = s.training.split(&s.workload, seed);
            for r in run_episode(source.clone(), tasks, &*cascade, &name, seed).unwrap() {
                let winner = usize::from(r.winner);
                let accepted = source.agents()[winner].cost(r.delivered);
                assert!(r.cost() >= accepted, "cost {} below the accepted answer's {}", r.cost(), accepted);
                // The attempts are the cascade's prefix up to the accepted agent.
                let position = order.iter().position(|&a| a == winner).unwrap();
                assert_eq!(r.executions as usize, position + 1);
                // Every answer was scored but the last agent's, which is accepted unscored.
                let scored = if position + 1 == order.len() { position } else { position + 1 };
                assert_eq!(r.overhead.total(), scored as u64 * 401);
                escalated += usize::from(r.executions > 1);
            }
        }
        assert!(escalated > 0);
    }
}
