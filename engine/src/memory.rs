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

/// Entries per block, for the similarity sums and the top-k bound.
const BLOCK: usize = 16;

/// The memory of one SALE market, grown online along the task stream.
#[derive(Resource, Debug)]
pub struct AuctionMemory {
    agents: usize,
    dim: usize,
    /// Embeddings in blocks of [`BLOCK`] entries: block `b` holds, dimension by dimension, its
    /// entries' components (`blocks[(b * dim + d) * BLOCK + j]` is component `d` of entry
    /// `b * BLOCK + j`), zero beyond the last entry. Scoring a query is then one contiguous run of
    /// vectorisable multiply-adds per block, its sums kept in registers.
    blocks: Vec<f32>,
    /// Length of each agent's final plan, `agents` per entry.
    plan_lengths: Vec<u32>,
    /// Text of each agent's final plan (0 for plans without text), `agents` per entry.
    plan_texts: Vec<TextId>,
    entries: Vec<Entry>,
    /// Whether each entry's winner succeeded, contiguous for [`Recall::succeeded`].
    succeeded: Vec<bool>,
}

/// The k most similar past tasks to the current one, most similar first, and every past task's
/// similarity to it (in storage order). Reused from task to task ([`AuctionMemory::nearest_into`]).
#[derive(Clone, Debug, Default)]
pub struct Neighbours {
    pub best: Vec<(f32, u32)>,
    pub similarities: Vec<f32>,
    /// The refining agents' shared slot ([`Recall::per_task`]), emptied for each task.
    per_task: std::cell::OnceCell<f64>,
    /// Scratch for the top-k bound: block maxima, and a copy to select from.
    maxima: Vec<f32>,
    selected: Vec<f32>,
}

impl AuctionMemory {
    #[must_use]
    pub fn new(dim: usize, agents: usize) -> Self {
        Self {
            agents,
            dim,
            blocks: Vec::new(),
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
        debug_assert_eq!(embedding.len(), self.dim);
        debug_assert_eq!(plan_lengths.len(), self.agents);
        debug_assert_eq!(plan_texts.len(), self.agents);
        let runner_up_length = runner_up.map_or(0, |r| plan_lengths[r]);
        let runner_up_text = runner_up.map_or(0, |r| plan_texts[r]);
        let (b, j) = (self.entries.len() / BLOCK, self.entries.len() % BLOCK);
        if j == 0 {
            self.blocks.resize(self.blocks.len() + self.dim * BLOCK, 0.0);
        }
        for (d, &x) in embedding.iter().enumerate().take(self.dim) {
            self.blocks[(b * self.dim + d) * BLOCK + j] = x;
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
        let mut out = Neighbours::default();
        self.nearest_into(embedding, k, &mut out);
        out
    }

    /// [`AuctionMemory::nearest`] into `out`, reusing its buffers.
    pub fn nearest_into(&self, embedding: &[f32], k: usize, out: &mut Neighbours) {
        let n = self.entries.len();
        out.best.clear();
        out.similarities.clear();
        out.per_task = std::cell::OnceCell::new();
        if k == 0 || n == 0 {
            return;
        }
        // Each similarity adds its products in dimension order from 0, as a plain dot product
        // does, so the similarities are the same to the bit.
        let sims = &mut out.similarities;
        sims.resize(n.div_ceil(BLOCK) * BLOCK, 0.0);
        out.maxima.clear();
        // Two blocks at a time: twice the independent sums in flight, so the adds' latency
        // overlaps (each sum is still its own chain in dimension order).
        let span = self.dim * BLOCK;
        for (two, sums) in self.blocks.chunks_exact(2 * span).zip(sims.chunks_exact_mut(2 * BLOCK)) {
            let (first, second) = two.split_at(span);
            let (mut a, mut b) = ([0.0f32; BLOCK], [0.0f32; BLOCK]);
            for ((xs, ys), &q) in first.chunks_exact(BLOCK).zip(second.chunks_exact(BLOCK)).zip(embedding) {
                for (s, &x) in a.iter_mut().zip(xs) {
                    *s += q * x;
                }
                for (s, &y) in b.iter_mut().zip(ys) {
                    *s += q * y;
                }
            }
            sums[..BLOCK].copy_from_slice(&a);
            sums[BLOCK..].copy_from_slice(&b);
            out.maxima.push(lane_max(&a));
            out.maxima.push(lane_max(&b));
        }
        // An odd block out.
        let paired = self.blocks.len() / (2 * span) * 2;
        if let (Some(block), Some(sums)) =
            (self.blocks.chunks_exact(span).nth(paired), sims.chunks_exact_mut(BLOCK).nth(paired))
        {
            let mut acc = [0.0f32; BLOCK];
            for (xs, &q) in block.chunks_exact(BLOCK).zip(embedding) {
                for (s, &x) in acc.iter_mut().zip(xs) {
                    *s += q * x;
                }
            }
            sums.copy_from_slice(&acc);
            out.maxima.push(lane_max(&acc));
        }
        sims.truncate(n);
        // The last block's padding is not a similarity.
        if let Some(last) = out.maxima.last_mut() {
            *last = block_max(&sims[(n - 1) / BLOCK * BLOCK..]);
        }
        top_k(sims, &out.maxima, k, &mut out.best, &mut out.selected);
    }

    /// What `agent` recalls for a refinement: its pairs from the neighbours, and the whole
    /// memory's similarities and outcomes (from which a stand-in reads its accumulated lessons).
    #[must_use]
    pub fn recall<'a>(&'a self, neighbours: &'a Neighbours, pairs: &'a [RetrievedPair], k: usize) -> Recall<'a> {
        Recall {
            pairs,
            k,
            similarities: &neighbours.similarities,
            succeeded: &self.succeeded,
            per_task: Some(&neighbours.per_task),
        }
    }

    /// From each neighbour, the (losing plan, winning plan) pair that involves one of `agent`'s
    /// plans (its losing plan against the winner's, or the runner-up's against its winning one),
    /// into `out`, reusing its buffer.
    pub fn pairs_into(&self, neighbours: &Neighbours, agent: usize, out: &mut Vec<RetrievedPair>) {
        out.clear();
        out.extend(neighbours.best.iter().map(|&(similarity, i)| {
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
        }));
    }
}

/// The `k` largest of `sims` as (similarity, index), largest first, ties to the lower index, in
/// place in `best`.
///
/// The `k`-th largest of the maxima of blocks of [`BLOCK`] similarities bounds the answer from
/// below (those `k` maxima are `k` similarities at least as large), so only blocks whose maximum
/// reaches it are visited, and in them only similarities that reach it; those enter in index
/// order after every kept entry at least as similar, so an equal, newer task never displaces an
/// older one.
fn top_k(sims: &[f32], maxima: &[f32], k: usize, best: &mut Vec<(f32, u32)>, selected: &mut Vec<f32>) {
    best.clear();
    if k == 0 {
        return;
    }
    let bound = if maxima.len() > k {
        selected.clear();
        selected.extend_from_slice(maxima);
        selected.select_nth_unstable_by(k - 1, |a, b| b.total_cmp(a));
        selected[k - 1]
    } else {
        f32::NEG_INFINITY
    };
    for (b, block) in sims.chunks(BLOCK).enumerate() {
        if maxima[b] < bound {
            continue;
        }
        for (j, &sim) in block.iter().enumerate() {
            if sim < bound || (best.len() == k && sim <= best[k - 1].0) {
                continue;
            }
            let at = best.partition_point(|&(s, _)| s >= sim);
            if best.len() == k {
                best.pop();
            }
            best.insert(at, (sim, (b * BLOCK + j) as u32));
        }
    }
}

/// The largest of a block's similarities.
fn block_max(block: &[f32]) -> f32 {
    block.iter().fold(f32::NEG_INFINITY, |m, &s| if s > m { s } else { m })
}

/// [`block_max`] of a full block, four lanes at a time (the maximum of numbers does not depend on
/// the order they are taken in; only comparisons read it, for which -0 and 0 are equal).
fn lane_max(block: &[f32; BLOCK]) -> f32 {
    let mut lanes = [f32::NEG_INFINITY; 4];
    for quad in block.chunks_exact(4) {
        for (m, &s) in lanes.iter_mut().zip(quad) {
            *m = if s > *m { s } else { *m };
        }
    }
    block_max(&lanes)
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

    proptest::proptest! {
        #[test]
        fn top_k_is_a_full_sort_cut_to_k_with_ties_to_the_older(
            sims in proptest::collection::vec(0u8..6, 0..60),
            k in 1usize..12,
        ) {
            // Few distinct values: many ties.
            let sims: Vec<f32> = sims.into_iter().map(|x| f32::from(x) / 5.0).collect();
            let mut all: Vec<(f32, u32)> = sims.iter().enumerate().map(|(i, &s)| (s, i as u32)).collect();
            all.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
            all.truncate(k);
            let mut best = vec![(9.0, 9)];
            let maxima: Vec<f32> = sims.chunks(BLOCK).map(block_max).collect();
            top_k(&sims, &maxima, k, &mut best, &mut Vec::new());
            proptest::prop_assert_eq!(best, all);
        }
    }

    #[test]
    fn pairs_involve_the_asking_agent() {
        let mut m = AuctionMemory::new(2, 3);
        m.store(&unit([1.0, 0.0]), &[10, 20, 30], &[7, 8, 9], 1, Some(2), false);
        let n = m.nearest(&unit([1.0, 0.0]), 8);
        let pairs = |agent| {
            let mut out = Vec::new();
            m.pairs_into(&n, agent, &mut out);
            out[0]
        };
        let lost = pairs(0);
        assert_eq!((lost.losing_length, lost.winning_length, lost.winner_succeeded), (10, 20, false));
        let won = pairs(1);
        assert_eq!((won.losing_length, won.winning_length), (30, 20));
        assert_eq!((lost.losing_text, lost.winning_text, won.losing_text), (7, 8, 9));
    }
}
