//! Fitting SALE's weights on training tasks, as the paper does, with a min-max linear program.
//!
//! The paper minimises the worst training task's loss with a mixed-integer program but publishes
//! neither its normalisation nor how outcomes enter. Tender's formulation (ARCHITECTURE.md):
//!
//! - Each training task's *target* is the cheapest agent whose first plan would succeed, or the
//!   cheapest agent when none would (then only money is at stake).
//! - Features are normalised to [0, 1] over the training bids: price x plan length by its
//!   largest value, entropy by its largest value, each Likert score by 5. A bid's score is
//!   `w_c * cost - w_h * entropy - sum_j w_j * gamma_j`, lower winning, as in SALE.
//! - Weights are bounded and normalised: `w_c, w_j >= 0`, `w_h` of either sign, and
//!   `w_c + |w_h| + sum_j w_j = 1` (so the trivial all-zero weights are excluded). The program is
//!   solved once for each sign of `w_h` and the better solution kept (a split `w_h = u - v`
//!   would let `u = v` cancel and fake the normalisation).
//! - A task's loss is how far its target is from scoring best: `max_{a != target}
//!   (score(target) - score(a))`; negative means the target wins with that margin.
//! - `MinMax` minimises the worst task's loss (maximising the worst-case margin); `Average`
//!   minimises the mean loss, the variant the paper found more fragile on hard tasks.
//!
//! Both are linear programs, solved with microlp (pure Rust). The weights are then mapped back to
//! SALE's raw features, so a scenario can use them as they are. `Welfare` is not a program: a
//! grid search for the weights under which SALE itself earns the most on the training tasks
//! ([`fit_welfare`]).

use std::sync::Arc;

use good_lp::{Expression, ProblemVariables, Solution, SolverModel, microlp, variable};
use tender_agents::{OutcomeSource, Task};

use crate::ledger::Ledger;
use crate::scenario::Scenario;
pub use crate::weights::{FittedWeights, Objective};

/// The grid `Objective::Welfare` searches: no cost weight, then cost weights doubling from 1/800
/// to 0.08, and entropy
/// weights of either sign. Only ratios between weights matter to SALE's argmin, so the jury's
/// weight is fixed at 1.
pub const WELFARE_GRID_W_C: [f64; 8] = [0.0, 0.00125, 0.0025, 0.005, 0.01, 0.02, 0.04, 0.08];
pub const WELFARE_GRID_W_H: [f64; 6] = [-2.0, -1.0, 0.0, 1.0, 2.0, 4.0];

/// One training auction: every agent's normalisable features and the target agent.
#[derive(Clone, Debug)]
pub struct TrainingAuction {
    /// Per agent: price x plan length, entropy, and every juror's score.
    pub bids: Vec<(f64, f64, Vec<f64>)>,
    pub target: usize,
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
}

/// Fitting reads plans and jury scores: refuse a source that cannot give them, rather than fit
/// on made-up ones.
fn require_bids(source: &dyn OutcomeSource) -> Result<(), FitError> {
    if source.provides().bids { Ok(()) } else { Err(FitError::NoBids) }
}

/// Run the first plans and the full jury of every agent on the training tasks of `episodes`
/// episodes, and find each task's target.
pub fn collect(
    scenario: &Scenario,
    source: Arc<dyn OutcomeSource>,
    episodes: u32,
) -> Result<(Vec<TrainingAuction>, f64), FitError> {
    require_bids(source.as_ref())?;
    if scenario.training.is_none() {
        return Err(FitError::NoTraining);
    }
    let agents = source.agents().to_vec();
    let by_price = tender_agents::cheapest_first(&tender_agents::AgentInfo::prices(&agents));
    let mut auctions = Vec::new();
    let mut cost = 0.0;
    for e in 0..episodes {
        let (seed, tasks) = scenario.training.episode(&scenario.workload, scenario.seed, u64::from(e));
        let tasks = tasks.train;
        let mut ledger = Ledger::new(Arc::clone(&source), seed);
        for task in tasks.iter() {
            auctions.push(auction(&mut ledger, task, &by_price));
            cost += ledger.close(task).0.overhead_cost;
        }
    }
    Ok((auctions, cost))
}

fn auction(ledger: &mut Ledger, task: &Task, by_price: &[usize]) -> TrainingAuction {
    let n = ledger.agents().len();
    let mut bids = Vec::with_capacity(n);
    for a in 0..n {
        let plan = ledger.plan(task, a);
        // An abstention reads as the scale's midpoint.
        let jury: Vec<f64> = (0..n).map(|j| ledger.judge(task, a, &plan, j).score.map_or(2.5, f64::from)).collect();
        bids.push((ledger.agents()[a].output_price * f64::from(plan.length), plan.entropy, jury));
    }
    TrainingAuction { bids, target: ledger.cheapest_success(task, by_price).unwrap_or(by_price[0]) }
}

/// `Objective::Welfare`: run SALE (with memory, as deployed) on the training tasks of `episodes`
/// episodes under every weight pair of the grid and keep the pair with the most welfare per task
/// (ties to the earlier pair). Reading outcomes is free here, as for every fit: training tasks
/// stand for logged data.
pub fn fit_welfare(
    scenario: &Scenario,
    source: Arc<dyn OutcomeSource>,
    episodes: u32,
) -> Result<FittedWeights, FitError> {
    require_bids(source.as_ref())?;
    if scenario.training.is_none() {
        return Err(FitError::NoTraining);
    }
    let names: Vec<&str> = scenario.agents.iter().map(|a| a.name.as_str()).collect();
    if names.len() < 2 {
        return Err(FitError::TooSmall);
    }
    let train: Vec<(u64, Arc<[Task]>)> = (0..episodes)
        .map(|e| {
            let (seed, tasks) = scenario.training.episode(&scenario.workload, scenario.seed, u64::from(e));
            (seed, tasks.train)
        })
        .collect();
    let tasks: usize = train.iter().map(|(_, t)| t.len()).sum();
    if tasks == 0 {
        return Err(FitError::TooSmall);
    }
    let mut best: Option<(f64, f64, f64, f64)> = None;
    let mut spent = 0.0;
    for &w_c in &WELFARE_GRID_W_C {
        for &w_h in &WELFARE_GRID_W_H {
            let mechanism = crate::SaleConfig::published(w_c, w_h, 1.0, names.len());
            let (mut welfare, mut solved) = (0.0, 0usize);
            for (seed, tasks) in &train {
                let split = crate::EpisodeTasks { train: Arc::from([]), eval: Arc::clone(tasks) };
                let records = crate::run_episode(Arc::clone(&source), split, &mechanism, "SALE", *seed)
                    .map_err(|e| FitError::Solver(e.to_string()))?;
                for r in &records {
                    welfare += if r.success { r.value } else { 0.0 } - r.cost();
                    solved += usize::from(r.success);
                    spent += r.overhead_cost;
                }
            }
            let per_task = welfare / tasks as f64;
            if best.is_none_or(|b| per_task > b.0) {
                best = Some((per_task, w_c, w_h, solved as f64 / tasks as f64));
            }
        }
    }
    let (welfare, w_c, w_h, solved) = best.ok_or(FitError::TooSmall)?;
    Ok(FittedWeights {
        w_c,
        w_h,
        juror_weights: names.iter().map(|n| ((*n).to_string(), 1.0)).collect(),
        objective: Objective::Welfare,
        loss: -welfare,
        targets_winning: solved,
        training_tasks: tasks,
        training_cost_usd: spent / (WELFARE_GRID_W_C.len() * WELFARE_GRID_W_H.len()) as f64,
    })
}

/// Solve for the weights. `agent_names` name the jurors in the output.
pub fn fit(
    auctions: &[TrainingAuction],
    agent_names: &[String],
    objective: Objective,
    training_cost_usd: f64,
) -> Result<FittedWeights, FitError> {
    let n = agent_names.len();
    if n < 2 || auctions.is_empty() {
        return Err(FitError::TooSmall);
    }
    if objective == Objective::Welfare {
        return Err(FitError::Solver("the welfare objective runs SALE itself: use `fit_welfare`".into()));
    }
    let up = solve(auctions, agent_names, objective, 1.0)?;
    let down = solve(auctions, agent_names, objective, -1.0)?;
    let best = if down.loss < up.loss { down } else { up };
    let winning = auctions.iter().filter(|t| target_wins(&best, agent_names, t)).count();
    Ok(FittedWeights { targets_winning: winning as f64 / auctions.len() as f64, training_cost_usd, ..best })
}

/// The program with the entropy weight's sign fixed to `sign`.
fn solve(
    auctions: &[TrainingAuction],
    agent_names: &[String],
    objective: Objective,
    sign: f64,
) -> Result<FittedWeights, FitError> {
    let n = agent_names.len();
    let max_cost = auctions.iter().flat_map(|t| t.bids.iter().map(|b| b.0)).fold(0.0f64, f64::max).max(1e-12);
    let max_entropy = auctions.iter().flat_map(|t| t.bids.iter().map(|b| b.1)).fold(0.0f64, f64::max).max(1e-12);

    let mut vars = ProblemVariables::new();
    let w_c = vars.add(variable().min(0.0).max(1.0));
    let w_h = vars.add(variable().min(0.0).max(1.0));
    let w_j: Vec<_> = (0..n).map(|_| vars.add(variable().min(0.0).max(1.0))).collect();
    let losses: Vec<_> = match objective {
        Objective::MinMax | Objective::Welfare => vec![vars.add(variable().min(-10.0).max(10.0))],
        Objective::Average => auctions.iter().map(|_| vars.add(variable().min(-10.0).max(10.0))).collect(),
    };
    let score = |bid: &(f64, f64, Vec<f64>)| -> Expression {
        let mut e: Expression = (bid.0 / max_cost) * w_c - (sign * bid.1 / max_entropy) * w_h;
        for (j, &g) in bid.2.iter().enumerate() {
            e -= (g / 5.0) * w_j[j];
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
        let target = score(&auction.bids[auction.target]);
        for (a, bid) in auction.bids.iter().enumerate() {
            if a != auction.target {
                model = model.with((target.clone() - score(bid)).leq(z));
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
    // Raw weights reproduce the normalised score exactly.
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

/// SALE's score of one training bid under raw weights.
#[must_use]
pub fn raw_score(w: &FittedWeights, names: &[String], bid: &(f64, f64, Vec<f64>)) -> f64 {
    let jury: f64 = bid.2.iter().zip(names).map(|(g, n)| g * w.juror_weights.get(n).copied().unwrap_or(0.0)).sum();
    w.w_c * bid.0 - w.w_h * bid.1 - jury
}

fn target_wins(w: &FittedWeights, names: &[String], t: &TrainingAuction) -> bool {
    let target = raw_score(w, names, &t.bids[t.target]);
    t.bids.iter().enumerate().all(|(a, b)| a == t.target || target < raw_score(w, names, b))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("a{i}")).collect()
    }

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
                        (10.0 + a as f64, 1.0, vec![liked; 3])
                    })
                    .collect();
                TrainingAuction { bids, target }
            })
            .collect();
        for objective in [Objective::MinMax, Objective::Average] {
            let w = fit(&auctions, &names(3), objective, 0.0).unwrap();
            assert!(w.loss < 0.0, "{objective:?}: {w:?}");
            assert_eq!(w.targets_winning, 1.0);
        }
    }

    /// When cheaper always wins, the cost weight carries the fit.
    #[test]
    fn cost_driven_targets_load_the_cost_weight() {
        let auctions: Vec<TrainingAuction> = (0..10)
            .map(|t| TrainingAuction {
                bids: (0..2).map(|a| (if a == 0 { 1.0 } else { 5.0 } + t as f64 * 0.1, 1.0, vec![3.0, 3.0])).collect(),
                target: 0,
            })
            .collect();
        let w = fit(&auctions, &names(2), Objective::MinMax, 0.0).unwrap();
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
                        (1.0 + ((a + t) % 4) as f64, 0.5 + (t % 3) as f64 * 0.2, vec![g, 5.0 - g, g / 2.0])
                    })
                    .collect();
                TrainingAuction { bids, target }
            })
            .collect();
        let n = names(3);
        let mm = fit(&auctions, &n, Objective::MinMax, 0.0).unwrap();
        let avg = fit(&auctions, &n, Objective::Average, 0.0).unwrap();
        assert!((worst_normalised(&mm, &auctions, &n) - mm.loss).abs() < 1e-6);
        assert!(mm.loss <= worst_normalised(&avg, &auctions, &n) + 1e-6);
    }

    /// The worst loss of raw weights, on the normalised scale of the program.
    fn worst_normalised(w: &FittedWeights, auctions: &[TrainingAuction], n: &[String]) -> f64 {
        let max_cost = auctions.iter().flat_map(|t| t.bids.iter().map(|b| b.0)).fold(0.0f64, f64::max);
        let max_entropy = auctions.iter().flat_map(|t| t.bids.iter().map(|b| b.1)).fold(0.0f64, f64::max);
        let norm =
            w.w_c * max_cost + (w.w_h * max_entropy).abs() + w.juror_weights.values().map(|v| v * 5.0).sum::<f64>();
        auctions
            .iter()
            .map(|t| {
                let target = raw_score(w, n, &t.bids[t.target]);
                t.bids
                    .iter()
                    .enumerate()
                    .filter(|(a, _)| *a != t.target)
                    .map(|(_, b)| (target - raw_score(w, n, b)) / norm)
                    .fold(f64::NEG_INFINITY, f64::max)
            })
            .fold(f64::NEG_INFINITY, f64::max)
    }
}
