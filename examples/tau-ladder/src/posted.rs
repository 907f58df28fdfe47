//! `PostedPrice`: a posted-price market, the classic alternative to an auction, as a researcher
//! would add one. For each task the buyer posts one take-it-or-leave-it payment, `markup` times
//! the median of the agents' predicted execution costs (kNN on the training tasks). Every agent
//! whose own predicted cost (at its unit cost, else its price) is at most the post accepts; the
//! buyer gives the task to the acceptor it predicts most likely to succeed (ties to the cheaper
//! prediction) and pays it the post. When nobody accepts, the task goes unserved (a dropped
//! task). Nobody bids, so nobody can shade a bid: the price is the buyer's.
//!
//! Everything it has is here: parameters with their checks, a predictor learnt from the
//! training tasks, and two reported quantities, one of them the engine's `PAYMENT`, which the
//! money accounts (revenue, profit, what the buyer pays) read whatever the mechanism is called.

use serde::{Deserialize, Serialize};
use tender_engine::prelude::*;

/// How many agents accepted the post: averaged over an episode's tasks.
const TAKERS: Quantity =
    Quantity { id: "takers", label: "takers", meaning: Meaning::Number(Aggregate::Mean), scale: 1.0, decimals: 2 };

documented! {
    /// `PostedPrice(markup: 1.5, k: 10)` as a scenario writes it.
    #[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct PostedPrice {
        /// Name in tables.
        #[serde(default)]
        pub name: Option<String>, shown "\"posted price\"", allowed "one line, unique among the mechanisms";
        /// The post over the median predicted cost.
        pub markup: f64, in [0.0, 1e3];
        /// Neighbours for the cost and success predictions.
        #[serde(default = "ten")]
        pub k: u32, default ten(), in [1, 100_000];
    }
}

const fn ten() -> u32 {
    10
}

impl MechanismKind for PostedPrice {
    const NAME: &'static str = "PostedPrice";
    const PARAMETERS: &'static [FieldDoc] = Self::FIELDS;

    fn check(&self, c: &mut Checker, _: &Pool<'_>) {
        self.check_ranges(c);
    }

    /// Costs and chances of success are predicted from the training tasks.
    fn needs(&self) -> Needs {
        Needs::TRAINING
    }

    fn resolve(&self, _: &Pool<'_>) -> Vec<Resolved> {
        let name = self.name.clone().unwrap_or_else(|| "posted price".to_string());
        vec![Resolved::new(name, self.clone())]
    }
}

/// The market in the episode: its predictor and each agent's own cost over what it charges.
#[derive(Resource)]
struct Market {
    predictor: Predictor,
    own_over_charged: Vec<f64>,
    markup: f64,
}

impl Mechanism for PostedPrice {
    // It learns its predictor from the episode's training tasks.
    fn reads_training_set(&self) -> bool {
        true
    }

    fn reports(&self) -> Vec<Quantity> {
        vec![PAYMENT, TAKERS]
    }

    fn install(&self, world: &mut World, schedule: &mut Schedule) {
        let predictor = Predictor::learn(world, self.k as usize);
        let own_over_charged = world
            .resource::<Ledger>()
            .agents()
            .iter()
            .map(|a| a.unit_cost.map_or(1.0, |c| c / a.output_price))
            .collect();
        world.insert_resource(Market { predictor, own_over_charged, markup: self.markup });
        schedule.add_systems(post.in_set(Phase::Award));
    }
}

fn post(mut tasks: Query<(&OpenTask, &mut Decision)>, stream: Res<TaskStream>, market: Res<Market>) {
    for (open, mut decision) in &mut tasks {
        let estimates = market.predictor.estimate(stream.get(open));
        let mut costs: Vec<f64> = estimates.iter().map(|e| e.cost).collect();
        costs.sort_by(f64::total_cmp);
        let Some(&median) = costs.get(costs.len() / 2) else { continue };
        let offer = market.markup * median;
        let takers: Vec<usize> =
            (0..estimates.len()).filter(|&a| estimates[a].cost * market.own_over_charged[a] <= offer).collect();
        decision.report(&TAKERS, takers.len() as f64);
        let best = takers.into_iter().max_by(|&a, &b| {
            let (ea, eb) = (estimates[a], estimates[b]);
            ea.success.total_cmp(&eb.success).then(eb.cost.total_cmp(&ea.cost)).then(b.cmp(&a))
        });
        if let Some(winner) = best {
            decision.winner = Some(winner);
            decision.report(&PAYMENT, offer);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The one definition outside the engine gives the docs table and the range checks.
    #[test]
    fn its_parameters_are_defined_once_for_docs_and_checks() {
        let table = markdown_table(PostedPrice::FIELDS);
        assert!(
            table.contains("| `markup` | required | [0, 1,000] | The post over the median predicted cost. |"),
            "{table}"
        );
        assert!(table.contains("| `k` | 10 | [1, 100,000] |"), "{table}");
        let mut c = Checker::default();
        PostedPrice { name: None, markup: -1.0, k: 0 }.check_ranges(&mut c);
        let err = c.finish().expect_err("out of range").to_string();
        assert!(err.contains("markup") && err.contains("k"), "{err}");
    }
}
