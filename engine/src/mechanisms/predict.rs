//! What routers know: estimates of each agent's success and cost on a task, learnt from the
//! episode's training tasks, seeing only the task's description (its embedding).

use bevy_ecs::prelude::*;
use tender_agents::Task;
use tender_agents::task::cosine;

use crate::ledger::Ledger;
use crate::training::TrainingSet;

/// Every agent's logged outcome on one training task.
#[derive(Clone, Debug)]
pub struct Example {
    pub embedding: Box<[f32]>,
    pub success: Vec<bool>,
    pub cost: Vec<f64>,
}

/// The logged training data of an episode.
#[derive(Clone, Debug, Default)]
pub struct TrainingLog {
    pub examples: Vec<Example>,
    pub agents: usize,
}

impl TrainingLog {
    /// Read every agent's outcome on every training task from the ledger's training log.
    #[must_use]
    pub fn collect(ledger: &Ledger, tasks: &[Task]) -> Self {
        let agents = ledger.agents().len();
        let examples = tasks
            .iter()
            .map(|t| {
                let cells: Vec<_> = (0..agents).map(|a| ledger.training_log(t, a)).collect();
                Example {
                    embedding: t.embedding.clone(),
                    success: cells.iter().map(|c| c.success).collect(),
                    cost: cells.iter().zip(ledger.agents()).map(|(c, info)| info.cost(c.usage)).collect(),
                }
            })
            .collect();
        Self { examples, agents }
    }

    /// Indices of the `k` training tasks most similar to `embedding`; ties to the earlier one.
    #[must_use]
    pub fn nearest(&self, embedding: &[f32], k: usize) -> Vec<usize> {
        let mut scored: Vec<(f32, usize)> =
            self.examples.iter().enumerate().map(|(i, e)| (cosine(embedding, &e.embedding), i)).collect();
        scored.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
        scored.into_iter().take(k).map(|(_, i)| i).collect()
    }
}

/// The `k` among `grid` (ascending) whose leave-one-out estimates (each training task's outcomes
/// predicted from its `k` nearest other training tasks, as [`knn`] does) have the lowest Brier
/// score over every agent. Ties go to the smaller `k`.
#[must_use]
pub fn cross_validated_k(log: &TrainingLog, grid: &[usize]) -> usize {
    let mut loss = vec![0.0f64; grid.len()];
    for (i, e) in log.examples.iter().enumerate() {
        let mut scored: Vec<(f32, usize)> = log
            .examples
            .iter()
            .enumerate()
            .filter(|&(j, _)| j != i)
            .map(|(j, o)| (cosine(&e.embedding, &o.embedding), j))
            .collect();
        scored.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
        let mut wins = vec![0.0f64; log.agents];
        let mut taken = 0;
        for (g, &k) in grid.iter().enumerate() {
            while taken < k.min(scored.len()) {
                let other = &log.examples[scored[taken].1];
                for (w, &s) in wins.iter_mut().zip(&other.success) {
                    *w += f64::from(u8::from(s));
                }
                taken += 1;
            }
            let m = taken as f64;
            loss[g] += wins
                .iter()
                .zip(&e.success)
                .map(|(w, &s)| ((w + 1.0) / (m + 2.0) - f64::from(u8::from(s))).powi(2))
                .sum::<f64>();
        }
    }
    let best = loss.iter().enumerate().fold(0, |b, (g, l)| if *l < loss[b] { g } else { b });
    grid[best]
}

/// An agent's estimated chance of success and cost on a task.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Estimate {
    pub success: f64,
    pub cost: f64,
}

/// k-nearest-neighbour estimates: among the `k` most similar training tasks, each agent's
/// success rate (with a uniform prior, `(s + 1) / (k + 2)`, so a few neighbours never give
/// certainty) and mean cost. Without training data every agent gets 1/2 and cost 0.
#[must_use]
pub fn knn(log: &TrainingLog, embedding: &[f32], k: usize) -> Vec<Estimate> {
    let near = log.nearest(embedding, k);
    let n = near.len() as f64;
    (0..log.agents)
        .map(|a| {
            let wins = near.iter().filter(|&&i| log.examples[i].success[a]).count() as f64;
            let cost = near.iter().map(|&i| log.examples[i].cost[a]).sum::<f64>();
            Estimate { success: (wins + 1.0) / (n + 2.0), cost: if n > 0.0 { cost / n } else { 0.0 } }
        })
        .collect()
}

/// kNN estimates for mechanisms that price or match tasks from predictions (procurement
/// auctions, multi-objective allocation, online matching), learnt from the training set.
#[derive(Resource, Clone, Debug)]
pub struct Predictor {
    pub log: TrainingLog,
    pub k: usize,
}

impl Predictor {
    /// Learn from the world's training set through its ledger's training log.
    #[must_use]
    pub fn learn(world: &World, k: usize) -> Self {
        let log = TrainingLog::collect(world.resource::<Ledger>(), TrainingSet::of(world));
        Self { log, k }
    }

    #[must_use]
    pub fn estimate(&self, task: &Task) -> Vec<Estimate> {
        knn(&self.log, &task.embedding, self.k)
    }
}

/// Multinomial logistic regression from a task's embedding to the agent that should take it.
#[derive(Clone, Debug)]
pub struct Softmax {
    /// `classes x (dim + 1)`, the last column a bias.
    weights: Vec<Vec<f64>>,
}

impl Softmax {
    /// Full-batch gradient descent from zero weights, a fixed number of epochs: deterministic.
    #[must_use]
    pub fn train(inputs: &[&[f32]], labels: &[usize], classes: usize, epochs: u32, rate: f64, l2: f64) -> Self {
        let dim = inputs.first().map_or(0, |x| x.len());
        let mut weights = vec![vec![0.0; dim + 1]; classes];
        let n = inputs.len().max(1) as f64;
        for _ in 0..epochs {
            let mut grad = vec![vec![0.0; dim + 1]; classes];
            for (x, &y) in inputs.iter().zip(labels) {
                let p = Self::probabilities(&weights, x);
                for (c, g) in grad.iter_mut().enumerate() {
                    let err = p[c] - if c == y { 1.0 } else { 0.0 };
                    for (gi, &xi) in g.iter_mut().zip(x.iter()) {
                        *gi += err * f64::from(xi);
                    }
                    g[dim] += err;
                }
            }
            for (w, g) in weights.iter_mut().zip(&grad) {
                for (wi, gi) in w.iter_mut().zip(g) {
                    *wi -= rate * (gi / n + l2 * *wi);
                }
            }
        }
        Self { weights }
    }

    fn probabilities(weights: &[Vec<f64>], x: &[f32]) -> Vec<f64> {
        let logits: Vec<f64> = weights
            .iter()
            .map(|w| {
                let dim = w.len() - 1;
                w[..dim].iter().zip(x).map(|(wi, &xi)| wi * f64::from(xi)).sum::<f64>() + w[dim]
            })
            .collect();
        let max = logits.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let exp: Vec<f64> = logits.iter().map(|l| (l - max).exp()).collect();
        let sum: f64 = exp.iter().sum();
        exp.iter().map(|e| e / sum).collect()
    }

    /// Class probabilities for one input.
    #[must_use]
    pub fn predict(&self, x: &[f32]) -> Vec<f64> {
        Self::probabilities(&self.weights, x)
    }
}

impl TrainingLog {
    /// Each agent's success rate over the training tasks.
    #[must_use]
    pub fn success_rates(&self) -> Vec<f64> {
        let n = self.examples.len().max(1) as f64;
        (0..self.agents).map(|a| self.examples.iter().filter(|e| e.success[a]).count() as f64 / n).collect()
    }
}

/// The label TO-Router learns, as its paper does: the best expert for the task. Among the agents
/// that succeeded on it, the one with the best training record overall (quality first, price
/// never); when none did, the best agent overall. Ties go to the lower index.
#[must_use]
pub fn best_agent(example: &Example, rates: &[f64]) -> usize {
    let best = |candidates: &mut dyn Iterator<Item = usize>| {
        candidates.fold(None::<usize>, |b, a| match b {
            Some(b) if rates[b] >= rates[a] => Some(b),
            _ => Some(a),
        })
    };
    best(&mut (0..rates.len()).filter(|&a| example.success[a])).or_else(|| best(&mut (0..rates.len()))).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn softmax_learns_a_separable_rule() {
        let xs: Vec<[f32; 2]> = (0..40).map(|i| if i % 2 == 0 { [1.0, 0.0] } else { [0.0, 1.0] }).collect();
        let labels: Vec<usize> = (0..40).map(|i| i % 2).collect();
        let inputs: Vec<&[f32]> = xs.iter().map(|x| x.as_slice()).collect();
        let model = Softmax::train(&inputs, &labels, 2, 200, 1.0, 0.0);
        assert!(model.predict(&[1.0, 0.0])[0] > 0.9);
        assert!(model.predict(&[0.0, 1.0])[1] > 0.9);
    }

    #[test]
    fn knn_estimates_are_smoothed_means() {
        let log = TrainingLog {
            agents: 2,
            examples: vec![
                Example { embedding: vec![1.0, 0.0].into(), success: vec![true, false], cost: vec![1.0, 3.0] },
                Example { embedding: vec![0.9, 0.1].into(), success: vec![true, true], cost: vec![2.0, 4.0] },
                Example { embedding: vec![0.0, 1.0].into(), success: vec![false, false], cost: vec![9.0, 9.0] },
            ],
        };
        let e = knn(&log, &[1.0, 0.0], 2);
        assert_eq!(e[0], Estimate { success: 3.0 / 4.0, cost: 1.5 });
        assert_eq!(e[1], Estimate { success: 2.0 / 4.0, cost: 3.5 });
        let rates = log.success_rates();
        assert_eq!(rates, [2.0 / 3.0, 1.0 / 3.0]);
        assert_eq!(best_agent(&log.examples[0], &rates), 0, "the only agent that succeeded");
        assert_eq!(best_agent(&log.examples[1], &[0.4, 0.6]), 1, "both succeeded: the better record");
        assert_eq!(best_agent(&log.examples[2], &rates), 0, "none succeeded: the best overall");
    }

    /// A log of `n` one-agent examples on a circle: success in arcs of `arc` neighbouring
    /// examples (alternating), or, with `arc` 0, a fixed pattern unrelated to position.
    fn circle(n: usize, arc: usize) -> TrainingLog {
        let examples = (0..n)
            .map(|i| {
                let angle = i as f32 / n as f32 * std::f32::consts::TAU;
                let success = match i.checked_div(arc) {
                    Some(arc_index) => arc_index.is_multiple_of(2),
                    None => tender_agents::streams::splitmix64(i as u64).is_multiple_of(2),
                };
                Example { embedding: vec![angle.cos(), angle.sin()].into(), success: vec![success], cost: vec![1.0] }
            })
            .collect();
        TrainingLog { examples, agents: 1 }
    }

    #[test]
    fn cross_validation_picks_few_neighbours_for_local_structure_and_many_for_none() {
        let grid = [1, 3, 5, 10, 30, 100];
        assert!(cross_validated_k(&circle(300, 20), &grid) <= 10, "outcomes in arcs of 20: read the arc");
        assert_eq!(cross_validated_k(&circle(300, 0), &grid), 100, "no structure: the widest average");
    }
}
