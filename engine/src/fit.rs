//! Fitting SALE's weights on training tasks, as the paper does, with a min-max linear program.
//!
//! The paper minimises the worst training task's loss with a mixed-integer program but publishes
//! neither its normalisation nor how outcomes enter. Tender's formulation (ARCHITECTURE.md):
//!
//! - Each training task's *target* is the cheapest agent whose first plan would succeed, or the
//!   cheapest agent when none would (then only money is at stake).
//! - Features are normalised to [0, 1] over the training bids: the cost feature (price x plan
//!   length, or whichever of the two an ablation keeps) by its largest value, entropy by its
//!   largest value, each Likert score by 5. A bid's score is
//!   `w_c * cost - w_h * entropy - sum_j w_j * gamma_j`, lower winning, as in SALE.
//! - Weights are bounded and normalised: `w_c, w_j >= 0`, `w_h` of either sign, and
//!   `w_c + |w_h| + sum_j w_j = 1` (so the trivial all-zero weights are excluded). The program is
//!   solved once for each sign of `w_h` and the better solution kept (a split `w_h = u - v`
//!   would let `u = v` cancel and fake the normalisation).
//! - A task's loss is how far its target is from scoring best: `max_{a != target}
//!   (score(target) - score(a))`; negative means the target wins with that margin.
//! - `MinMax` minimises the worst task's loss (maximising the worst-case margin); `Average`
//!   minimises the mean loss, the variant the paper found more fragile on hard tasks.
//! - An ablation is fitted on the features it keeps ([`Features`]): a variant without entropy
//!   has `w_h = 0`, one without a jury no juror weights, one with self-scores only weighs each
//!   juror's score of its own plan and nothing else.
//!
//! Both are linear programs, solved with microlp (pure Rust). The weights are then mapped back to
//! SALE's raw features, so a scenario can use them as they are. `Welfare` is not a program: a
//! grid search for the weights under which SALE itself earns the most on the training tasks
//! (`crate::training_bids`).
//!
//! The training auctions come through [`TrainingBids`], so that this module knows nothing of
//! scenarios and a mechanism can fit itself when a scenario is prepared.

use good_lp::{Expression, ProblemVariables, Solution, SolverModel, microlp, variable};

pub use crate::weights::{FitSpec, FittedWeights, Objective};

/// One agent's first bid on a training task.
#[derive(Clone, Debug)]
pub struct TrainingBid {
    /// The agent's price, dollars per million output tokens.
    pub price: f64,
    /// Plan length, tokens.
    pub length: f64,
    pub entropy: f64,
    /// Every juror's score of the plan, by juror index (an abstention reads as 2.5).
    pub jury: Vec<f64>,
}

/// One training auction: every agent's bid and the target agent.
#[derive(Clone, Debug)]
pub struct TrainingAuction {
    pub bids: Vec<TrainingBid>,
    pub target: usize,
}

/// Which jurors' scores a fitted score reads.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Jurors {
    #[default]
    All,
    /// Each juror's score of its own plan only.
    Own,
    /// Every score but the bidder's own.
    Peers,
    None,
}

/// The features a SALE variant keeps, which its fit may weigh.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Features {
    pub price: bool,
    pub length: bool,
    pub entropy: bool,
    pub jurors: Jurors,
}

impl Default for Features {
    fn default() -> Self {
        Self { price: true, length: true, entropy: true, jurors: Jurors::All }
    }
}

impl Features {
    /// The cost feature of a bid: price x length, or whichever of the two is kept (1 if neither).
    #[must_use]
    pub fn cost(&self, bid: &TrainingBid) -> f64 {
        (if self.price { bid.price } else { 1.0 }) * (if self.length { bid.length } else { 1.0 })
    }

    /// Juror `j`'s score of `bidder`'s plan as the variant reads it (0 when it does not).
    #[must_use]
    pub fn score(&self, bid: &TrainingBid, bidder: usize, j: usize) -> f64 {
        let read = match self.jurors {
            Jurors::All => true,
            Jurors::Own => j == bidder,
            Jurors::Peers => j != bidder,
            Jurors::None => false,
        };
        if read { bid.jury[j] } else { 0.0 }
    }
}

/// Why fitting failed.
#[derive(Debug, thiserror::Error)]
pub enum FitError {
    #[error("the scenario has no training data: add `training: Holdout(0.2)` or `training: Separate(1)`")]
    NoTraining,
    #[error("fitting needs at least two agents and one training task")]
    TooSmall,
    #[error("the linear program could not be solved: {0}")]
    Solver(String),
    #[error("SALE's weights are fitted on plans and jury scores, which recorded agents (trace tables) do not have")]
    NoBids,
    #[error("running SALE on the training tasks failed: {0}")]
    Run(String),
}

/// Solve for the weights. `agent_names` name the jurors in the output.
pub fn fit(
    auctions: &[TrainingAuction],
    agent_names: &[String],
    objective: Objective,
    features: Features,
    training_cost_usd: f64,
) -> Result<FittedWeights, FitError> {
    let n = agent_names.len();
    if n < 2 || auctions.is_empty() {
        return Err(FitError::TooSmall);
    }
    if objective == Objective::Welfare {
        return Err(FitError::Solver("the welfare objective runs SALE itself: use `fit_welfare`".into()));
    }
    let up = solve(auctions, agent_names, objective, features, 1.0)?;
    let best = if features.entropy {
        let down = solve(auctions, agent_names, objective, features, -1.0)?;
        if down.loss < up.loss { down } else { up }
    } else {
        up
    };
    let winning = auctions.iter().filter(|t| target_wins(&best, agent_names, features, t)).count();
    Ok(FittedWeights { targets_winning: winning as f64 / auctions.len() as f64, training_cost_usd, ..best })
}

/// The program with the entropy weight's sign fixed to `sign`; weights of features the variant
/// drops are held at 0.
fn solve(
    auctions: &[TrainingAuction],
    agent_names: &[String],
    objective: Objective,
    features: Features,
    sign: f64,
) -> Result<FittedWeights, FitError> {
    let n = agent_names.len();
    let all_bids = || auctions.iter().flat_map(|t| t.bids.iter());
    let max_cost = all_bids().map(|b| features.cost(b)).fold(0.0f64, f64::max).max(1e-12);
    let max_entropy = all_bids().map(|b| b.entropy).fold(0.0f64, f64::max).max(1e-12);
    let upper = |kept: bool| if kept { 1.0 } else { 0.0 };

    let mut vars = ProblemVariables::new();
    let w_c = vars.add(variable().min(0.0).max(1.0));
    let w_h = vars.add(variable().min(0.0).max(upper(features.entropy)));
    let w_j: Vec<_> =
        (0..n).map(|_| vars.add(variable().min(0.0).max(upper(features.jurors != Jurors::None)))).collect();
    let losses: Vec<_> = match objective {
        Objective::MinMax | Objective::Welfare => vec![vars.add(variable().min(-10.0).max(10.0))],
        Objective::Average => auctions.iter().map(|_| vars.add(variable().min(-10.0).max(10.0))).collect(),
    };
    let score = |bid: &TrainingBid, bidder: usize| -> Expression {
        let mut e: Expression = (features.cost(bid) / max_cost) * w_c - (sign * bid.entropy / max_entropy) * w_h;
        for (j, &w) in w_j.iter().enumerate() {
            e -= (features.score(bid, bidder, j) / 5.0) * w;
        }
        e
    };
    let objective_expr: Expression = match objective {
        Objective::MinMax | Objective::Welfare => losses[0].into(),
        Objective::Average => losses.iter().map(|&z| z / auctions.len() as f64).sum(),
    };
    let mut model = vars.minimise(objective_expr).using(microlp);
    let total: Expression = w_c + w_h + w_j.iter().copied().sum::<Expression>();
    model = model.with(total.eq(1.0));
    for (t, auction) in auctions.iter().enumerate() {
        let z = losses[if objective == Objective::MinMax { 0 } else { t }];
        let target = score(&auction.bids[auction.target], auction.target);
        for (a, bid) in auction.bids.iter().enumerate() {
            if a != auction.target {
                model = model.with((target.clone() - score(bid, a)).leq(z));
            }
        }
    }
    let solution = model.solve().map_err(|e| FitError::Solver(e.to_string()))?;
    let wc = solution.value(w_c);
    let wh = sign * solution.value(w_h);
    let wj: Vec<f64> = w_j.iter().map(|&v| solution.value(v)).collect();
    let loss = match objective {
        Objective::MinMax | Objective::Welfare => solution.value(losses[0]),
        Objective::Average => losses.iter().map(|&z| solution.value(z)).sum::<f64>() / auctions.len() as f64,
    };
    // Raw weights reproduce the normalised score exactly (a dropped cost factor counts as 1).
    Ok(FittedWeights {
        w_c: wc / max_cost,
        w_h: wh / max_entropy,
        juror_weights: agent_names.iter().cloned().zip(wj.iter().map(|w| w / 5.0)).collect(),
        objective,
        loss,
        targets_winning: 0.0,
        training_tasks: auctions.len(),
        training_cost_usd: 0.0,
    })
}

/// SALE's score of `bidder`'s training bid under raw weights.
#[must_use]
pub fn raw_score(w: &FittedWeights, names: &[String], features: Features, bid: &TrainingBid, bidder: usize) -> f64 {
    let jury: f64 = names
        .iter()
        .enumerate()
        .map(|(j, n)| features.score(bid, bidder, j) * w.juror_weights.get(n).copied().unwrap_or(0.0))
        .sum();
    w.w_c * features.cost(bid) - w.w_h * bid.entropy - jury
}

fn target_wins(w: &FittedWeights, names: &[String], features: Features, t: &TrainingAuction) -> bool {
    let target = raw_score(w, names, features, &t.bids[t.target], t.target);
    t.bids.iter().enumerate().all(|(a, b)| a == t.target || target < raw_score(w, names, features, b, a))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("a{i}")).collect()
    }

    fn bid(cost: f64, entropy: f64, jury: Vec<f64>) -> TrainingBid {
        TrainingBid { price: cost, length: 1.0, entropy, jury }
    }

    const ALL: Features = Features { price: true, length: true, entropy: true, jurors: Jurors::All };

    /// Targets are always the agent the jury likes best: a fit should lean on the jury and make
    /// every target win.
    #[test]
    fn separable_data_is_fitted_with_a_positive_margin() {
        let auctions: Vec<TrainingAuction> = (0..20)
            .map(|t| {
                let target = t % 3;
                let bids = (0..3)
                    .map(|a| {
                        let liked = if a == target { 5.0 } else { 1.0 };
                        bid(10.0 + a as f64, 1.0, vec![liked; 3])
                    })
                    .collect();
                TrainingAuction { bids, target }
            })
            .collect();
        for objective in [Objective::MinMax, Objective::Average] {
            let w = fit(&auctions, &names(3), objective, ALL, 0.0).unwrap();
            assert!(w.loss < 0.0, "{objective:?}: {w:?}");
            assert_eq!(w.targets_winning, 1.0);
        }
    }

    /// When cheaper always wins, the cost weight carries the fit.
    #[test]
    fn cost_driven_targets_load_the_cost_weight() {
        let auctions: Vec<TrainingAuction> = (0..10)
            .map(|t| TrainingAuction {
                bids: (0..2)
                    .map(|a| bid(if a == 0 { 1.0 } else { 5.0 } + t as f64 * 0.1, 1.0, vec![3.0, 3.0]))
                    .collect(),
                target: 0,
            })
            .collect();
        let w = fit(&auctions, &names(2), Objective::MinMax, ALL, 0.0).unwrap();
        assert!(w.w_c > 0.0);
        assert_eq!(w.targets_winning, 1.0);
    }

    #[test]
    fn minmax_never_has_a_worse_worst_case_than_average() {
        // Noisy data: the worst task under min-max is at most the worst under the average fit,
        // and the reported loss is the worst task's.
        let auctions: Vec<TrainingAuction> = (0..30)
            .map(|t| {
                let target = (t * 7 % 5) % 3;
                let bids = (0..3)
                    .map(|a| {
                        let g = ((t * 3 + a * 5) % 6) as f64;
                        bid(1.0 + ((a + t) % 4) as f64, 0.5 + (t % 3) as f64 * 0.2, vec![g, 5.0 - g, g / 2.0])
                    })
                    .collect();
                TrainingAuction { bids, target }
            })
            .collect();
        let n = names(3);
        let mm = fit(&auctions, &n, Objective::MinMax, ALL, 0.0).unwrap();
        let avg = fit(&auctions, &n, Objective::Average, ALL, 0.0).unwrap();
        assert!((worst_normalised(&mm, &auctions, &n) - mm.loss).abs() < 1e-6);
        assert!(mm.loss <= worst_normalised(&avg, &auctions, &n) + 1e-6);
    }

    /// An ablation is fitted on what it keeps: no jury, no juror weight; no entropy, no entropy
    /// weight; self-scores only, a fit that a peer's score cannot move.
    #[test]
    fn ablations_are_fitted_on_the_features_they_keep() {
        let auctions: Vec<TrainingAuction> = (0..24)
            .map(|t| {
                let target = t % 3;
                let bids = (0..3)
                    .map(|a| {
                        let own = if a == target { 5.0 } else { 1.0 };
                        let mut jury: Vec<f64> = (0..3).map(|j| ((t + j) % 5) as f64).collect();
                        jury[a] = own;
                        TrainingBid { price: 1.0 + a as f64, length: 100.0 + (t % 7) as f64, entropy: 1.0, jury }
                    })
                    .collect();
                TrainingAuction { bids, target }
            })
            .collect();
        let n = names(3);
        let no_jury = Features { jurors: Jurors::None, ..ALL };
        let w = fit(&auctions, &n, Objective::MinMax, no_jury, 0.0).unwrap();
        assert!(w.juror_weights.values().all(|&v| v == 0.0), "{w:?}");
        let no_entropy = Features { entropy: false, ..ALL };
        assert_eq!(fit(&auctions, &n, Objective::MinMax, no_entropy, 0.0).unwrap().w_h, 0.0);
        // Self-scores separate every target: the self-only fit makes every target win.
        let own = Features { jurors: Jurors::Own, ..ALL };
        let w = fit(&auctions, &n, Objective::MinMax, own, 0.0).unwrap();
        assert_eq!(w.targets_winning, 1.0, "{w:?}");
        // Peers' scores are noise here: peer-only cannot do as well.
        let peers = Features { jurors: Jurors::Peers, ..ALL };
        assert!(fit(&auctions, &n, Objective::MinMax, peers, 0.0).unwrap().targets_winning < 1.0);
        // Without price the cost feature is the length alone.
        let no_price = Features { price: false, ..ALL };
        assert_eq!(no_price.cost(&auctions[0].bids[2]), auctions[0].bids[2].length);
    }

    /// The worst loss of raw weights, on the normalised scale of the program.
    fn worst_normalised(w: &FittedWeights, auctions: &[TrainingAuction], n: &[String]) -> f64 {
        let max_cost = auctions.iter().flat_map(|t| t.bids.iter().map(|b| ALL.cost(b))).fold(0.0f64, f64::max);
        let max_entropy = auctions.iter().flat_map(|t| t.bids.iter().map(|b| b.entropy)).fold(0.0f64, f64::max);
        let norm =
            w.w_c * max_cost + (w.w_h * max_entropy).abs() + w.juror_weights.values().map(|v| v * 5.0).sum::<f64>();
        auctions
            .iter()
            .map(|t| {
                let target = raw_score(w, n, ALL, &t.bids[t.target], t.target);
                t.bids
                    .iter()
                    .enumerate()
                    .filter(|(a, _)| *a != t.target)
                    .map(|(a, b)| (target - raw_score(w, n, ALL, b, a)) / norm)
                    .fold(f64::NEG_INFINITY, f64::max)
            })
            .fold(f64::NEG_INFINITY, f64::max)
    }
}
