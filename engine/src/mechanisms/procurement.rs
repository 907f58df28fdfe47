//! First-price and second-price (Vickrey) procurement auctions with a quality-adjusted score.
//!
//! Each agent has a private cost for a task (its predicted execution cost) and a quality (its
//! predicted chance of success). The buyer values a solved task at `value`, so an offer `b`
//! from an agent of quality `q` is worth `value * q - b` to it; the highest such score wins.
//! First-price pays the winner its bid. Second-price pays the bid at which the winner would have
//! tied the runner-up's score (Che 1993's second-score auction), which makes truthful bidding
//! dominant. Agents bid their cost, or shade it as in the symmetric equilibrium of a
//! first-price procurement auction with costs i.i.d. uniform on [low, high]:
//! `b(c) = c + (high - c) / n`.

use bevy_ecs::prelude::*;
use serde::{Deserialize, Serialize};
use tender_agents::fields::FieldDoc;
use tender_agents::validate::Checker;

use super::api::{Mechanism, MechanismKind, Needs, PAYMENT, Pool, Quantity, Resolved};
use super::predict::Predictor;
use crate::ledger::Ledger;
use crate::world::{Decision, OpenTask, Phase, TaskStream};

/// How the winner is paid.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub enum Format {
    FirstPrice,
    SecondPrice,
}

/// How agents bid.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub enum Bidding {
    /// Bid the private cost.
    #[default]
    Truthful,
    /// First-price equilibrium shading for i.i.d. uniform costs, with `high` the largest cost
    /// among the task's offers.
    Shaded,
}

tender_agents::documented! {
    /// A procurement auction as written in a scenario.
    #[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct AuctionParams {
        /// Name in tables.
        #[serde(default)]
        pub name: Option<String>, shown "its format and bidding, e.g. \"first-price auction (shaded)\"", allowed "one line, unique among the mechanisms";
        /// How the winner is paid: its bid, or the bid at which it would have tied the
        /// runner-up's score.
        pub format: Format, allowed "`FirstPrice`, `SecondPrice`";
        /// How agents bid: their private cost, or the first-price equilibrium shading for i.i.d.
        /// uniform costs, `b(c) = c + (high − c)/n`.
        #[serde(default)]
        pub bidding: Bidding, shown "`Truthful`", allowed "`Truthful`, `Shaded`";
        /// Neighbours for the cost and quality predictions.
        #[serde(default = "ten")]
        pub k: u32, default ten(), in [1, 100_000];
    }
}

const fn ten() -> u32 {
    10
}

impl MechanismKind for AuctionParams {
    const NAME: &'static str = "Auction";
    const PARAMETERS: &'static [FieldDoc] = Self::FIELDS;
    fn check(&self, c: &mut Checker, _: &Pool<'_>) {
        self.check_ranges(c);
    }
    /// Costs and qualities are predicted from the training tasks.
    fn needs(&self) -> Needs {
        Needs::TRAINING
    }
    fn resolve(&self, _: &Pool<'_>) -> Vec<Resolved> {
        vec![Resolved::new(self.name.clone().unwrap_or_else(|| self.default_name()), self.clone())]
    }
}

impl Mechanism for AuctionParams {
    fn reads_training_set(&self) -> bool {
        true
    }

    fn reports(&self) -> Vec<Quantity> {
        vec![PAYMENT]
    }

    fn install(&self, world: &mut World, schedule: &mut Schedule) {
        let predictor = Predictor::learn(world, self.k as usize);
        world.insert_resource(Auction { format: self.format, bidding: self.bidding, predictor });
        schedule.add_systems(award.in_set(Phase::Award));
    }
}

impl AuctionParams {
    #[must_use]
    pub fn default_name(&self) -> String {
        let format = match self.format {
            Format::FirstPrice => "first-price",
            Format::SecondPrice => "second-price",
        };
        match self.bidding {
            Bidding::Truthful => format!("{format} auction"),
            Bidding::Shaded => format!("{format} auction (shaded)"),
        }
    }
}

/// The equilibrium bid of a first-price procurement auction among `n` bidders with costs
/// i.i.d. uniform on [low, high], for cost `cost`.
#[must_use]
pub fn shaded_bid(cost: f64, high: f64, n: usize) -> f64 {
    cost + (high - cost).max(0.0) / n.max(1) as f64
}

/// Who wins and what it is paid.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Award {
    pub winner: usize,
    pub payment: f64,
}

/// Run one auction over `bids` with buyer valuations `worth[i] = value * quality_i`. Ties go to
/// the lower index. `None` without bidders.
#[must_use]
pub fn run(format: Format, bids: &[f64], worth: &[f64]) -> Option<Award> {
    let score = |i: usize| worth[i] - bids[i];
    let mut order: Vec<usize> = (0..bids.len()).collect();
    order.sort_by(|&a, &b| score(b).total_cmp(&score(a)).then(a.cmp(&b)));
    let winner = *order.first()?;
    let payment = match format {
        Format::FirstPrice => bids[winner],
        // The bid at which the winner's score equals the runner-up's; alone, its own bid.
        Format::SecondPrice => order.get(1).map_or(bids[winner], |&second| worth[winner] - score(second)),
    };
    Some(Award { winner, payment })
}

#[derive(Resource)]
struct Auction {
    format: Format,
    bidding: Bidding,
    predictor: Predictor,
}

fn award(
    mut tasks: Query<(&OpenTask, &mut Decision)>,
    stream: Res<TaskStream>,
    auction: Res<Auction>,
    ledger: Res<Ledger>,
) {
    let agents = ledger.agents();
    for (open, mut decision) in &mut tasks {
        let task = stream.get(open);
        let est = auction.predictor.estimate(task);
        let costs: Vec<f64> = est.iter().map(|e| e.cost).collect();
        let high = costs.iter().copied().fold(0.0, f64::max);
        let bids: Vec<f64> = match auction.bidding {
            Bidding::Truthful => costs,
            Bidding::Shaded => costs.iter().map(|&c| shaded_bid(c, high, est.len())).collect(),
        };
        // A strategic agent marks its bid up (or down) from what the bidding rule gives.
        let bids: Vec<f64> = bids.iter().zip(agents).map(|(b, a)| b * (1.0 + a.bid_markup)).collect();
        let worth: Vec<f64> = est.iter().map(|e| task.value * e.success).collect();
        if let Some(a) = run(auction.format, &bids, &worth) {
            decision.winner = Some(a.winner);
            decision.report(&PAYMENT, a.payment);
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use rand::{RngExt, SeedableRng};
    use tender_agents::streams::StreamRng;

    use super::*;

    /// Mean and 95% half-width.
    fn mean_ci(xs: &[f64]) -> (f64, f64) {
        let n = xs.len() as f64;
        let m = xs.iter().sum::<f64>() / n;
        let var = xs.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (n - 1.0);
        (m, 1.96 * (var / n).sqrt())
    }

    #[test]
    fn revenue_equivalence_with_uniform_costs() {
        for n in [2usize, 3, 5] {
            let mut rng = StreamRng::seed_from_u64(n as u64);
            let (mut first, mut second) = (Vec::new(), Vec::new());
            for _ in 0..40_000 {
                let costs: Vec<f64> = (0..n).map(|_| rng.random::<f64>()).collect();
                // Equal qualities: the score ranks bids alone.
                let worth = vec![10.0; n];
                let shaded: Vec<f64> = costs.iter().map(|&c| shaded_bid(c, 1.0, n)).collect();
                first.push(run(Format::FirstPrice, &shaded, &worth).unwrap().payment);
                second.push(run(Format::SecondPrice, &costs, &worth).unwrap().payment);
            }
            // E[second-lowest of n uniform costs] = 2 / (n + 1).
            let closed = 2.0 / (n as f64 + 1.0);
            let (m1, h1) = mean_ci(&first);
            let (m2, h2) = mean_ci(&second);
            assert!((m1 - closed).abs() < h1 + 1e-3, "n={n}: first-price {m1} ± {h1} vs {closed}");
            assert!((m2 - closed).abs() < h2 + 1e-3, "n={n}: second-price {m2} ± {h2} vs {closed}");
            assert!((m1 - m2).abs() < h1 + h2, "n={n}: {m1} vs {m2}");
        }
    }

    proptest! {
        /// In the second-score auction no misreport beats bidding one's cost.
        #[test]
        fn second_price_is_truthful(
            costs in prop::collection::vec(0.0f64..10.0, 2..6),
            qualities in prop::collection::vec(0.0f64..1.0, 6),
            value in 0.0f64..50.0,
            liar in 0usize..6,
            report in 0.0f64..20.0,
        ) {
            let n = costs.len();
            let liar = liar % n;
            let worth: Vec<f64> = qualities[..n].iter().map(|q| value * q).collect();
            let utility = |bids: &[f64]| {
                let a = run(Format::SecondPrice, bids, &worth).unwrap();
                if a.winner == liar { a.payment - costs[liar] } else { 0.0 }
            };
            let honest = utility(&costs);
            let mut lie = costs.clone();
            lie[liar] = report;
            prop_assert!(utility(&lie) <= honest + 1e-9);
        }

        /// Winners are never paid less than they bid.
        #[test]
        fn winners_are_paid_at_least_their_bid(
            bids in prop::collection::vec(0.0f64..10.0, 1..6),
            qualities in prop::collection::vec(0.0f64..1.0, 6),
            value in 0.0f64..50.0,
        ) {
            let worth: Vec<f64> = qualities[..bids.len()].iter().map(|q| value * q).collect();
            for format in [Format::FirstPrice, Format::SecondPrice] {
                let a = run(format, &bids, &worth).unwrap();
                prop_assert!(a.payment >= bids[a.winner] - 1e-12);
            }
        }
    }
}
