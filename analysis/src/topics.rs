//! The topic structure of a recorded table, estimated from its outcomes, in the stand-ins' terms.
//!
//! In the stand-in model an agent succeeds when `θ + z > 0`, its latent `z ~ N(0, 1)` holding a
//! topic's difficulty common to all agents (variance share `d`, `topic_difficulty`), the agent's
//! own affinity for the topic (`a`, `topic_affinity`) and parts private to the task. Given the
//! topic, an agent's success rate is `Φ((θ + √d D + √a A) / √(1 − d − a))`, so across topics the
//! probits `q` of its rates have variance `V = (d + a) / (1 − d − a)` and two agents' probits
//! covariance `C = d / (1 − d − a)`. Method of moments: the sample variances and covariances
//! across topics, less the binomial noise of each topic's rates (delta method, with the agents'
//! joint successes for the covariance's), give `V` and `C`, hence `d = C / (1 + V)` and
//! `a = (V − C) / (1 + V)`. Rates are centred on their domain's mean, so domains' levels do not
//! count as topic effects; a topic's rates are shrunk by half a success (`(k + ½) / (n + 1)`) so
//! a subject every agent solves has a finite probit.

use statrs::distribution::{Continuous, ContinuousCDF, Normal};

/// One task's outcome for every agent.
#[derive(Clone, Debug, PartialEq)]
pub struct TopicOutcome {
    pub domain: u16,
    pub topic: u32,
    /// Whether each agent (in a fixed order) solved it.
    pub success: Vec<bool>,
}

/// The estimate.
#[derive(Clone, Debug, PartialEq)]
pub struct TopicStructure {
    /// Topics with at least two tasks (the others tell nothing about spread).
    pub topics: usize,
    pub tasks: usize,
    /// Mean over agents of the noise-corrected variance of probit rates across topics (`V`).
    pub variance: f64,
    /// Mean over pairs of agents of the noise-corrected covariance (`C`).
    pub covariance: f64,
    /// `topic_difficulty`.
    pub difficulty: f64,
    /// `topic_affinity`.
    pub affinity: f64,
}

/// One topic's tasks and successes: per agent, and per pair of agents (`both[a * agents + b]`).
struct Counts {
    domain: u16,
    topic: u32,
    n: f64,
    solved: Vec<f64>,
    both: Vec<f64>,
}

/// One topic's probits of the (shrunk) rates, their normal densities and the raw rates.
struct Probits {
    q: Vec<f64>,
    density: Vec<f64>,
    rate: Vec<f64>,
}

/// Estimate the topic structure; `None` with fewer than three topics of two tasks or more, or
/// fewer than two agents.
#[must_use]
pub fn estimate(outcomes: &[TopicOutcome]) -> Option<TopicStructure> {
    let agents = outcomes.first()?.success.len();
    if agents < 2 {
        return None;
    }
    let normal = Normal::standard();
    let mut topics: Vec<Counts> = Vec::new();
    for o in outcomes.iter().filter(|o| o.success.len() == agents) {
        let i = topics.iter().position(|t| t.domain == o.domain && t.topic == o.topic).unwrap_or_else(|| {
            topics.push(Counts {
                domain: o.domain,
                topic: o.topic,
                n: 0.0,
                solved: vec![0.0; agents],
                both: vec![0.0; agents * agents],
            });
            topics.len() - 1
        });
        let t = &mut topics[i];
        t.n += 1.0;
        for a in 0..agents {
            t.solved[a] += f64::from(u8::from(o.success[a]));
            for b in 0..agents {
                t.both[a * agents + b] += f64::from(u8::from(o.success[a] && o.success[b]));
            }
        }
    }
    topics.retain(|t| t.n >= 2.0);
    if topics.len() < 3 {
        return None;
    }
    let probits: Vec<Probits> = topics
        .iter()
        .map(|t| {
            let q: Vec<f64> = t.solved.iter().map(|k| normal.inverse_cdf((k + 0.5) / (t.n + 1.0))).collect();
            Probits {
                density: q.iter().map(|q| normal.pdf(*q)).collect(),
                rate: t.solved.iter().map(|k| k / t.n).collect(),
                q,
            }
        })
        .collect();
    // Each agent's probits centred on its domain's mean.
    let mut domains: Vec<u16> = topics.iter().map(|t| t.domain).collect();
    domains.sort_unstable();
    domains.dedup();
    let mut centred: Vec<Vec<f64>> = probits.iter().map(|p| p.q.clone()).collect();
    for d in domains {
        let members: Vec<usize> = (0..topics.len()).filter(|&i| topics[i].domain == d).collect();
        let means: Vec<f64> =
            (0..agents).map(|a| members.iter().map(|&i| probits[i].q[a]).sum::<f64>() / members.len() as f64).collect();
        for &i in &members {
            for (c, (q, mean)) in centred[i].iter_mut().zip(probits[i].q.iter().zip(&means)) {
                *c = q - mean;
            }
        }
    }
    let m = topics.len() as f64;
    let moment = |a: usize, b: usize| {
        let raw = centred.iter().map(|c| c[a] * c[b]).sum::<f64>() / (m - 1.0);
        // The binomial (co)variance of the rates, carried to the probit scale.
        let noise = topics
            .iter()
            .zip(&probits)
            .map(|(t, p)| {
                let joint = if a == b { t.solved[a] / t.n } else { t.both[a * agents + b] / t.n };
                (joint - p.rate[a] * p.rate[b]) / (t.n * p.density[a] * p.density[b])
            })
            .sum::<f64>()
            / m;
        raw - noise
    };
    let variance = (0..agents).map(|a| moment(a, a)).sum::<f64>() / agents as f64;
    let pairs: Vec<f64> =
        (0..agents).flat_map(|a| (a + 1..agents).map(move |b| (a, b))).map(|(a, b)| moment(a, b)).collect();
    let covariance = pairs.iter().sum::<f64>() / pairs.len() as f64;
    let v = variance.max(0.0);
    let c = covariance.clamp(0.0, v);
    Some(TopicStructure {
        topics: topics.len(),
        tasks: topics.iter().map(|t| t.n as usize).sum(),
        variance,
        covariance,
        difficulty: c / (1.0 + v),
        affinity: (v - c) / (1.0 + v),
    })
}

/// The mean share of a task's `k` nearest neighbours (by cosine similarity of embeddings) that
/// share its topic: how well a nearest-neighbour router's neighbourhoods follow topics. Queries
/// every `step`-th task, `step` chosen so that at most `queries` tasks are asked; neighbours are
/// sought among all.
#[must_use]
pub fn same_topic_neighbours(tasks: &[(u32, &[f32])], k: usize, queries: usize) -> f64 {
    if tasks.len() <= k || k == 0 {
        return f64::NAN;
    }
    let step = tasks.len().div_ceil(queries.max(1));
    let dot = |a: &[f32], b: &[f32]| a.iter().zip(b).map(|(x, y)| f64::from(*x) * f64::from(*y)).sum::<f64>();
    let norm: Vec<f64> = tasks.iter().map(|t| dot(t.1, t.1).sqrt().max(1e-12)).collect();
    let mut shares = Vec::new();
    for q in (0..tasks.len()).step_by(step) {
        let mut sims: Vec<(f64, usize)> = (0..tasks.len())
            .filter(|&j| j != q)
            .map(|j| (dot(tasks[q].1, tasks[j].1) / (norm[q] * norm[j]), j))
            .collect();
        sims.select_nth_unstable_by(k - 1, |a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
        let same = sims[..k].iter().filter(|(_, j)| tasks[*j].0 == tasks[q].0).count();
        shares.push(same as f64 / k as f64);
    }
    shares.iter().sum::<f64>() / shares.len() as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identical_topics_give_no_structure_and_too_few_topics_none() {
        // Every topic the same: 6 of 10 solved by both.
        let outcomes: Vec<TopicOutcome> =
            (0..40).map(|i| TopicOutcome { domain: 0, topic: i / 10, success: vec![i % 10 < 6, i % 10 < 6] }).collect();
        let s = estimate(&outcomes).unwrap();
        assert!(s.difficulty.abs() < 1e-9 && s.affinity.abs() < 1e-9, "{s:?}");
        assert_eq!((s.topics, s.tasks), (4, 40));
        assert_eq!(estimate(&outcomes[..20]), None);
    }

    /// Outcomes drawn by stand-ins with a known topic structure.
    fn drawn(difficulty: f64, affinity: f64) -> Vec<TopicOutcome> {
        use tender_agents::{CellKey, OutcomeSource};
        let text = format!(
            r#"Scenario(name: "t", seed: 1, episodes: 1, agents: [
                (name: "weak", price: 0.1, skill: {{"qa": [0.6]}}),
                (name: "strong", price: 1.0, skill: {{"qa": [0.85]}}),
            ],
            standins: (shared_difficulty: 0.3, topic_difficulty: {difficulty}, topic_affinity: {affinity}),
            workload: (domains: [(name: "qa", bins: [(tau_max: 1.0, tasks: 40000)], topics: 400)]),
            mechanisms: [EachAgent])"#
        );
        let scenario = tender_engine::Scenario::parse(&text, "t.ron").unwrap();
        let source = scenario.source().unwrap();
        scenario
            .workload
            .generate(3)
            .iter()
            .map(|task| TopicOutcome {
                domain: task.domain,
                topic: task.topic,
                success: (0..2)
                    .map(|agent| source.execute(CellKey { episode_seed: 3, task, agent }, None).success)
                    .collect(),
            })
            .collect()
    }

    #[test]
    fn the_estimate_recovers_the_structure_that_made_the_outcomes() {
        for (d, a) in [(0.25, 0.1), (0.0, 0.2), (0.15, 0.0)] {
            let s = estimate(&drawn(d, a)).unwrap();
            assert!((s.difficulty - d).abs() < 0.06, "difficulty {} (true {d}): {s:?}", s.difficulty);
            assert!((s.affinity - a).abs() < 0.06, "affinity {} (true {a}): {s:?}", s.affinity);
        }
    }

    #[test]
    fn neighbours_follow_topics_when_embeddings_cluster() {
        let vectors: Vec<(u32, Vec<f32>)> = (0..40)
            .map(|i| (i % 2, if i % 2 == 0 { vec![1.0, 0.01 * i as f32] } else { vec![0.01 * i as f32, 1.0] }))
            .collect();
        let tasks: Vec<(u32, &[f32])> = vectors.iter().map(|(t, v)| (*t, v.as_slice())).collect();
        assert!((same_topic_neighbours(&tasks, 5, 100) - 1.0).abs() < 1e-12);
    }
}
