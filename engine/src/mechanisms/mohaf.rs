//! MOHAF-style multi-objective allocation: each task goes greedily to the agent with the best
//! weighted mix of (dynamically priced) cost, predicted quality, recent load and fairness of the
//! cumulative workload. Prices rise with an agent's utilisation: in a timed run the share of its
//! slots busy at the award, otherwise its share of the last `window` arrivals.

use std::collections::VecDeque;

use bevy_ecs::prelude::*;
use serde::{Deserialize, Serialize};
use tender_agents::fields::FieldDoc;
use tender_agents::validate::Checker;

use super::api::{Mechanism, MechanismKind, Needs, PAYMENT, Pool, Quantity, Resolved};
use super::argmin;
use super::predict::Predictor;
use crate::ledger::Ledger;
use crate::world::{Decision, OpenTask, Phase, TaskStream};

tender_agents::documented! {
    /// MOHAF-style allocation as written in a scenario: each task goes to the agent minimising
    /// `w_cost × price/max price − w_quality × p̂ + w_load × utilisation + w_fairness × (share −
    /// 1/n)`.
    #[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct MohafParams {
        /// Name in tables.
        #[serde(default)]
        pub name: Option<String>, shown "\"MOHAF\"", allowed "one line, unique among the mechanisms";
        /// Neighbours among the training tasks, for the predicted success `p̂` and cost.
        #[serde(default = "ten")]
        pub k: u32, default ten(), in [1, 100_000];
        /// Weight of the (dynamic) price, relative to the highest.
        #[serde(default = "one")]
        pub w_cost: f64, default one(), in [0.0, 1e6];
        /// Weight of the predicted success.
        #[serde(default = "one")]
        pub w_quality: f64, default one(), in [0.0, 1e6];
        /// Weight of the agent's utilisation: its share of the last `window` arrivals (in a timed
        /// run, the share of its slots busy at the award).
        #[serde(default = "half")]
        pub w_load: f64, default half(), in [0.0, 1e6];
        /// Weight of the agent's share of all tasks so far above an equal share.
        #[serde(default = "half")]
        pub w_fairness: f64, default half(), in [0.0, 1e6];
        /// Arrivals over which utilisation is measured.
        #[serde(default = "fifty")]
        pub window: u32, default fifty(), in [1, 10_000_000];
        /// How steeply an agent's price rises with its utilisation: `price × (1 + elasticity × u)`
        /// (recorded as the payment).
        #[serde(default = "one")]
        pub elasticity: f64, default one(), in [0.0, 1e6];
    }
}

const fn ten() -> u32 {
    10
}
const fn fifty() -> u32 {
    50
}
const fn one() -> f64 {
    1.0
}
const fn half() -> f64 {
    0.5
}

impl MechanismKind for MohafParams {
    const NAME: &'static str = "Mohaf";
    const PARAMETERS: &'static [FieldDoc] = Self::FIELDS;
    fn needs(&self) -> Needs {
        Needs::TRAINING
    }
    fn resolve(&self, _: &Pool<'_>) -> Vec<Resolved> {
        vec![Resolved::new(self.name.clone().unwrap_or_else(|| "MOHAF".into()), self.clone())]
    }
    fn check(&self, c: &mut Checker, _: &Pool<'_>) {
        self.check_ranges(c);
    }
}

#[derive(Resource)]
struct Mohaf {
    params: MohafParams,
    predictor: Predictor,
    recent: VecDeque<usize>,
    totals: Vec<u64>,
}

impl Mechanism for MohafParams {
    fn reads_training_set(&self) -> bool {
        true
    }

    fn reports(&self) -> Vec<Quantity> {
        vec![PAYMENT]
    }

    fn install(&self, world: &mut World, schedule: &mut Schedule) {
        let predictor = Predictor::learn(world, self.k as usize);
        let n = world.resource::<Ledger>().agents().len();
        world.insert_resource(Mohaf { params: self.clone(), predictor, recent: VecDeque::new(), totals: vec![0; n] });
        schedule.add_systems(award_mohaf.in_set(Phase::Award));
    }
}

fn award_mohaf(
    mut tasks: Query<(&OpenTask, &mut Decision)>,
    stream_: Res<TaskStream>,
    ledger: Res<Ledger>,
    mut state: ResMut<Mohaf>,
) {
    for (open, mut decision) in &mut tasks {
        let est = state.predictor.estimate(stream_.get(open));
        let n = est.len();
        let p = &state.params;
        let window = p.window as usize;
        let total: u64 = state.totals.iter().sum();
        // In a timed run the real load (the share of the agent's slots busy now); otherwise the
        // share of the last `window` arrivals it took.
        let utilisation: Vec<f64> = (0..n)
            .map(|a| {
                ledger.busy_share(a).unwrap_or_else(|| {
                    state.recent.iter().filter(|&&x| x == a).count() as f64 / window as f64
                })
            })
            .collect();
        let prices: Vec<f64> = (0..n).map(|a| est[a].cost * (1.0 + p.elasticity * utilisation[a])).collect();
        let top = prices.iter().copied().fold(f64::MIN_POSITIVE, f64::max);
        let objective = |a: usize| {
            let share = if total == 0 { 1.0 / n as f64 } else { state.totals[a] as f64 / total as f64 };
            p.w_cost * prices[a] / top - p.w_quality * est[a].success
                + p.w_load * utilisation[a]
                + p.w_fairness * (share - 1.0 / n as f64)
        };
        if let Some(a) = argmin((0..n).map(|a| (a, objective(a)))) {
            decision.winner = Some(a);
            decision.report(&PAYMENT, prices[a]);
            state.totals[a] += 1;
            state.recent.push_back(a);
            if state.recent.len() > window {
                state.recent.pop_front();
            }
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

    #[test]
    fn a_fairness_weight_evens_the_workload() {
        let mechanisms = r#"[Mohaf(w_fairness: 0.0, w_load: 0.0), Mohaf(name: "fair", w_fairness: 20.0, w_load: 0.0)]"#;
        let s = Scenario::parse(&four_agents("training: Separate(1),", mechanisms), "mohaf").unwrap();
        let source: Arc<dyn OutcomeSource> = Arc::new(s.source().unwrap());
        let runs: Vec<_> = s
            .resolve_mechanisms()
            .iter()
            .map(|r| run_episode(source.clone(), s.training.split(&s.workload, 2), &*r.mechanism, &r.name, 2).unwrap())
            .collect();
        let jain = |records: &[TaskRecord]| {
            let loads: Vec<f64> = (0..4).map(|a| records.iter().filter(|r| r.winner == a).count() as f64).collect();
            let sum: f64 = loads.iter().sum();
            sum * sum / (4.0 * loads.iter().map(|x| x * x).sum::<f64>())
        };
        let (plain, fair) = (jain(&runs[0]), jain(&runs[1]));
        assert!(fair > plain, "fair {fair} vs plain {plain}");
        // Posted prices rise with utilisation: never below the predicted cost.
        assert!(runs[0].iter().all(|r| r.payment().is_some()));
    }
}
