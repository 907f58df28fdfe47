//! SALE's shared auction memory: every past task's plans with their win/lose labels and the
//! execution result, searchable by task similarity.

use bevy_ecs::resource::Resource;
use tender_agents::{Recall, RetrievedPair, TextId};

/// One past auction.
#[derive(Clone, Debug)]
struct Entry {
    winner: u16,
    winner_succeeded: bool,
    /// Length and text of the best losing plan (the runner-up), for pairs where the asker won.
    runner_up_length: u32,
    runner_up_text: TextId,
}

/// The memory of one SALE market, grown online along the task stream.
#[derive(Resource, Debug)]
pub struct AuctionMemory {
    agents: usize,
    /// Embeddings stored by dimension: `columns[d][i]` is component `d` of entry `i`, so that
    /// scoring a query against every entry is a run of contiguous, vectorisable multiply-adds.
    columns: Vec<Vec<f32>>,
    /// Length of each agent's final plan, `agents` per entry.
    plan_lengths: Vec<u32>,
    /// Text of each agent's final plan (0 for plans without text), `agents` per entry.
    plan_texts: Vec<TextId>,
    entries: Vec<Entry>,
    /// Whether each entry's winner succeeded, contiguous for [`Recall::succeeded`].
    succeeded: Vec<bool>,
}

/// The k most similar past tasks to the current one, most similar first, and every past task's
/// similarity to it (in storage order).
#[derive(Clone, Debug, Default)]
pub struct Neighbours {
    pub best: Vec<(f32, u32)>,
    pub similarities: Vec<f32>,
}

impl AuctionMemory {
    #[must_use]
    pub fn new(dim: usize, agents: usize) -> Self {
        Self {
            agents,
            columns: vec![Vec::new(); dim],
            plan_lengths: Vec::new(),
            plan_texts: Vec::new(),
            entries: Vec::new(),
            succeeded: Vec::new(),
        }
    }

    #[must_use]
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Store a finished auction: the final plan (length and text) of every agent, who won, who
    /// came second, and whether the winner's execution succeeded.
    pub fn store(
        &mut self,
        embedding: &[f32],
        plan_lengths: &[u32],
        plan_texts: &[TextId],
        winner: usize,
        runner_up: Option<usize>,
        winner_succeeded: bool,
    ) {
        debug_assert_eq!(embedding.len(), self.columns.len());
        debug_assert_eq!(plan_lengths.len(), self.agents);
        debug_assert_eq!(plan_texts.len(), self.agents);
        let runner_up_length = runner_up.map_or(0, |r| plan_lengths[r]);
        let runner_up_text = runner_up.map_or(0, |r| plan_texts[r]);
        for (column, &x) in self.columns.iter_mut().zip(embedding) {
            column.push(x);
        }
        self.plan_lengths.extend_from_slice(plan_lengths);
        self.plan_texts.extend_from_slice(plan_texts);
        self.entries.push(Entry { winner: winner as u16, winner_succeeded, runner_up_length, runner_up_text });
        self.succeeded.push(winner_succeeded);
    }

    /// The `k` past tasks most similar to `embedding` by cosine similarity; ties go to the
    /// older task, so retrieval is deterministic.
    #[must_use]
    pub fn nearest(&self, embedding: &[f32], k: usize) -> Neighbours {
        let n = self.entries.len();
        let mut best: Vec<(f32, u32)> = Vec::with_capacity(k + 1);
        if k == 0 || n == 0 {
            return Neighbours { best, similarities: Vec::new() };
        }
        let mut sims = vec![0.0f32; n];
        for (column, &q) in self.columns.iter().zip(embedding) {
            for (s, &x) in sims.iter_mut().zip(column) {
                *s += q * x;
            }
        }
        // A bounded insertion list: k is small, and once it is full most candidates fail the
        // single comparison with the worst kept one.
        for (i, &sim) in sims.iter().enumerate() {
            if best.len() == k && best[k - 1].0 >= sim {
                continue;
            }
            // After every kept task at least as similar: older tasks win ties.
            let at = best.partition_point(|&(s, _)| s >= sim);
            best.insert(at, (sim, i as u32));
            best.truncate(k);
        }
        Neighbours { best, similarities: sims }
    }

    /// What `agent` recalls for a refinement: its pairs from the neighbours, and the whole
    /// memory's similarities and outcomes (from which a stand-in reads its accumulated lessons).
    #[must_use]
    pub fn recall<'a>(&'a self, neighbours: &'a Neighbours, pairs: &'a [RetrievedPair], k: usize) -> Recall<'a> {
        Recall { pairs, k, similarities: &neighbours.similarities, succeeded: &self.succeeded }
    }

    /// From each neighbour, the (losing plan, winning plan) pair that involves one of `agent`'s
    /// plans: its losing plan against the winner's, or the runner-up's against its winning one.
    #[must_use]
    pub fn pairs_for(&self, neighbours: &Neighbours, agent: usize) -> Vec<RetrievedPair> {
        neighbours
            .best
            .iter()
            .map(|&(similarity, i)| {
                let i = i as usize;
                let entry = &self.entries[i];
                let row = i * self.agents..(i + 1) * self.agents;
                let (lengths, texts) = (&self.plan_lengths[row.clone()], &self.plan_texts[row]);
                let winner = usize::from(entry.winner);
                let (losing_length, losing_text) = if winner == agent {
                    (entry.runner_up_length, entry.runner_up_text)
                } else {
                    (lengths[agent], texts[agent])
                };
                RetrievedPair {
                    similarity,
                    losing_length,
                    winning_length: lengths[winner],
                    winner_succeeded: entry.winner_succeeded,
                    losing_text,
                    winning_text: texts[winner],
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tender_agents::task::cosine;

    fn unit(v: [f32; 2]) -> [f32; 2] {
        let n = (v[0] * v[0] + v[1] * v[1]).sqrt();
        [v[0] / n, v[1] / n]
    }

    #[test]
    fn nearest_returns_the_k_most_similar_most_similar_first() {
        let mut m = AuctionMemory::new(2, 2);
        for (i, v) in [[1.0, 0.0], [0.0, 1.0], [1.0, 0.1], [1.0, 1.0], [-1.0, 0.0]].iter().enumerate() {
            m.store(&unit(*v), &[10, 20], &[0, 0], i % 2, Some(1 - i % 2), true);
        }
        let n = m.nearest(&unit([1.0, 0.0]), 3);
        let ids: Vec<u32> = n.best.iter().map(|x| x.1).collect();
        assert_eq!(ids, [0, 2, 3]);
        assert_eq!(m.nearest(&unit([1.0, 0.0]), 50).best.len(), 5);
        assert!(m.nearest(&unit([1.0, 0.0]), 0).best.is_empty());
    }

    #[test]
    fn nearest_agrees_with_a_full_sort_and_breaks_ties_by_age() {
        let mut m = AuctionMemory::new(2, 1);
        let dirs = [[1.0, 0.0], [0.0, 1.0], [1.0, 0.0], [0.6, 0.8], [1.0, 0.0], [0.8, 0.6], [0.0, 1.0]];
        for v in dirs {
            m.store(&unit(v), &[1], &[0], 0, None, true);
        }
        let q = unit([0.9, 0.3]);
        for k in 1..=dirs.len() {
            let mut all: Vec<(f32, u32)> =
                dirs.iter().enumerate().map(|(i, v)| (cosine(&q, &unit(*v)), i as u32)).collect();
            all.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
            all.truncate(k);
            assert_eq!(m.nearest(&q, k).best, all);
        }
    }

    #[test]
    fn pairs_involve_the_asking_agent() {
        let mut m = AuctionMemory::new(2, 3);
        m.store(&unit([1.0, 0.0]), &[10, 20, 30], &[7, 8, 9], 1, Some(2), false);
        let n = m.nearest(&unit([1.0, 0.0]), 8);
        let lost = m.pairs_for(&n, 0)[0];
        assert_eq!((lost.losing_length, lost.winning_length, lost.winner_succeeded), (10, 20, false));
        let won = m.pairs_for(&n, 1)[0];
        assert_eq!((won.losing_length, won.winning_length), (30, 20));
        assert_eq!((lost.losing_text, lost.winning_text, won.losing_text), (7, 8, 9));
    }
}
