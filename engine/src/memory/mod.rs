//! SALE's shared auction memory: every past task's plans with their win/lose labels and the
//! execution result, searchable by task similarity.
//!
//! Which index finds a task's neighbours is the scenario's choice ([`MemoryIndex`]): the scan of
//! every past task (the reference), or a partition of memory into cells ([`cells`]) searched
//! exactly or, probing only the most promising cells, approximately. With an index, the lessons a
//! stand-in counts over the whole memory are read from a fixed-size sample once memory outgrows
//! it ([`sample`]).

pub mod blocks;
pub mod cells;
pub mod quantized;
pub mod sample;

use std::cell::OnceCell;

use bevy_ecs::resource::Resource;
use serde::{Deserialize, Serialize};
use tender_agents::validate::Checker;
use tender_agents::{Lessons, MemoryView, Recall, RetrievedPair, TextId};

use blocks::{Blocks, top_k};
use cells::{CellScratch, Cells, Centroids};
use sample::{Above, LessonSample};

/// How SALE's memory finds a task's most similar past tasks.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub enum MemoryIndex {
    /// Every past task scored for every query: exact, and quadratic in the stream's length.
    #[default]
    Scan,
    /// A partitioned scan: the same neighbours as the scan, to the bit. Lessons are counted
    /// over every past task up to `lesson_sample` of them, then from a sample of that size.
    Cells {
        #[serde(default = "default_lesson_sample")]
        lesson_sample: u32,
    },
    /// The same cells searched approximately (an inverted file, as FAISS's IndexIVFFlat): only
    /// the `probe` cells most likely to hold neighbours are scored, so a query costs about the
    /// square root of memory and a stream of `n` tasks `n^1.5`; recall@k below 1
    /// (`tender bench --recall` measures it). Lessons as with `Cells`.
    Ivf {
        #[serde(default = "default_probe")]
        probe: u32,
        #[serde(default = "default_lesson_sample")]
        lesson_sample: u32,
    },
}

fn default_lesson_sample() -> u32 {
    4096
}

fn default_probe() -> u32 {
    8
}

impl MemoryIndex {
    pub fn check(&self, c: &mut Checker) {
        let sample = |c: &mut Checker, n: u32| c.count("lesson_sample", n.into(), 64, 100_000_000);
        match *self {
            Self::Scan => {}
            Self::Cells { lesson_sample } => c.within("index", |c| sample(c, lesson_sample)),
            Self::Ivf { probe, lesson_sample } => c.within("index", |c| {
                c.count("probe", probe.into(), 1, 1_000_000);
                sample(c, lesson_sample);
            }),
        }
    }

    /// How it appears in a mechanism's name: nothing for the scan.
    #[must_use]
    pub fn tag(&self) -> Option<String> {
        match *self {
            Self::Scan => None,
            Self::Cells { .. } => Some("cells".into()),
            Self::Ivf { probe, .. } => Some(format!("ivf probe={probe}")),
        }
    }
}

/// An index against the scan on one stream of task embeddings ([`compare_with_scan`]).
#[derive(Clone, Debug, Default)]
pub struct Comparison {
    /// Neighbours the index found that the scan found too, and neighbours the scan found.
    pub matched: usize,
    pub asked: usize,
    /// Similarities each computed for neighbours, over every compared query.
    pub computed: usize,
    pub scanned: usize,
    /// Lessons (similarity above `floor`, weighted linearly to 1, winners' successes only) counted by
    /// the scan and from the index's sample, per compared query.
    pub lessons: Vec<(f64, f64)>,
}

impl Comparison {
    /// recall@k: the share of the scan's `k` neighbours the index found.
    #[must_use]
    pub fn recall(&self) -> f64 {
        if self.asked == 0 { 1.0 } else { self.matched as f64 / self.asked as f64 }
    }
}

/// Stream `embeddings` into a memory searched by the scan and one searched by `index` (every
/// third winner failing), and before storing each `every`-th one, ask both for its `k` nearest.
#[must_use]
pub fn compare_with_scan<'a>(
    index: MemoryIndex,
    embeddings: impl IntoIterator<Item = &'a [f32]>,
    k: usize,
    every: usize,
    floor: f64,
) -> Comparison {
    // Winners' successes only, as a stand-in counts them with `failed_lesson_weight: 0`.
    let lessons = |view: &View<'_>| view.lessons(floor).count(floor, 0.0);
    let (mut scan, mut other) = (None::<AuctionMemory>, None::<AuctionMemory>);
    let (mut a, mut b) = (Neighbours::default(), Neighbours::default());
    let mut out = Comparison::default();
    for (i, t) in embeddings.into_iter().enumerate() {
        let scan = scan.get_or_insert_with(|| AuctionMemory::new(t.len(), 1));
        let other = other.get_or_insert_with(|| AuctionMemory::with_index(t.len(), 1, index));
        if i % every.max(1) == 0 && i > 0 {
            scan.nearest_into(t, k, &mut a);
            other.nearest_into(t, k, &mut b);
            out.computed += b.computed;
            out.scanned += a.computed;
            out.asked += a.best.len();
            out.matched += b.best.iter().filter(|x| a.best.contains(x)).count();
            out.lessons.push((lessons(&scan.view(&a, t)), lessons(&other.view(&b, t))));
        }
        scan.store(t, &[1], &[0], 0, None, i % 3 != 0);
        other.store(t, &[1], &[0], 0, None, i % 3 != 0);
    }
    out
}

/// One past auction.
#[derive(Clone, Debug)]
struct Entry {
    winner: u16,
    winner_succeeded: bool,
    /// Length and text of the best losing plan (the runner-up), for pairs where the asker won.
    runner_up_length: u32,
    runner_up_text: TextId,
}

/// The index a memory searches with, and its sample of lessons.
#[derive(Debug)]
enum Index {
    Scan,
    /// The partition, and how many cells a query probes (all of them: exact).
    Cells(Box<(Cells, Option<usize>, LessonSample)>),
}

/// The memory of one SALE market, grown online along the task stream.
#[derive(Resource, Debug)]
pub struct AuctionMemory {
    agents: usize,
    dim: usize,
    /// Every stored embedding, in storage order.
    embeddings: Blocks,
    /// Length of each agent's final plan, `agents` per entry.
    plan_lengths: Vec<u32>,
    /// Text of each agent's final plan (0 for plans without text), `agents` per entry.
    plan_texts: Vec<TextId>,
    entries: Vec<Entry>,
    /// Whether each entry's winner succeeded, contiguous for [`Lessons::succeeded`].
    succeeded: Vec<bool>,
    index: Index,
    scratch: CellScratch,
}

/// The k most similar past tasks to the current one, most similar first, and (with the scan)
/// every past task's similarity to it (in storage order). Reused from task to task
/// ([`AuctionMemory::nearest_into`]).
#[derive(Clone, Debug, Default)]
pub struct Neighbours {
    pub best: Vec<(f32, u32)>,
    pub similarities: Vec<f32>,
    /// Similarities computed for this query (the index's work, for scaling tests).
    pub computed: usize,
    /// The refining agents' shared slot ([`Recall::per_task`]), emptied for each task.
    per_task: OnceCell<f64>,
    /// With an index, the sampled entries above the floor first asked for, found when first
    /// read, and every sampled entry's similarity, for any other floor.
    above: OnceCell<Above>,
    sampled: OnceCell<Vec<f32>>,
    /// The last task's `above`, its buffers reused.
    spare: std::cell::RefCell<Option<Above>>,
    /// Scratch for the top-k bound: block maxima, and a copy to select from.
    maxima: Vec<f32>,
    selected: Vec<f32>,
    cells: CellScratch,
}

/// What the memory offers a source that reads more than the retrieved pairs, for one task.
#[derive(Debug)]
pub struct View<'a> {
    memory: &'a AuctionMemory,
    neighbours: &'a Neighbours,
    query: &'a [f32],
}

impl MemoryView for View<'_> {
    fn lessons(&self, floor: f64) -> Lessons<'_> {
        let sample = match &self.memory.index {
            Index::Scan => return Lessons::every(&self.neighbours.similarities, &self.memory.succeeded),
            Index::Cells(cells) => &cells.2,
        };
        let (read, weight) = (sample.len(), sample.weight());
        let above = self.neighbours.above.get_or_init(|| {
            let mut above = self.neighbours.spare.borrow_mut().take().unwrap_or_default();
            sample.above_into(self.query, floor, &mut above);
            above
        });
        if above.floor.to_bits() == floor.to_bits() {
            return Lessons { similarities: &above.similarities, succeeded: &above.succeeded, read, weight };
        }
        let similarities = self.neighbours.sampled.get_or_init(|| {
            let (mut sims, mut maxima) = (Vec::new(), Vec::new());
            sample.similarities_into(self.query, &mut sims, &mut maxima);
            sims
        });
        Lessons { similarities, succeeded: sample.succeeded(), read, weight }
    }
}

impl AuctionMemory {
    #[must_use]
    pub fn new(dim: usize, agents: usize) -> Self {
        Self::with_index(dim, agents, MemoryIndex::Scan)
    }

    /// A memory searched with `index`.
    #[must_use]
    pub fn with_index(dim: usize, agents: usize, index: MemoryIndex) -> Self {
        let (probe, lesson_sample) = match index {
            MemoryIndex::Scan => (None, 0),
            MemoryIndex::Cells { lesson_sample } => (None, lesson_sample),
            MemoryIndex::Ivf { probe, lesson_sample } => (Some(probe as usize), lesson_sample),
        };
        let index = match index {
            MemoryIndex::Scan => Index::Scan,
            _ => {
                let centroids = if probe.is_some() { Centroids::Probed } else { Centroids::Exact };
                let sample = LessonSample::new(dim, lesson_sample as usize);
                Index::Cells(Box::new((Cells::new(dim, centroids), probe, sample)))
            }
        };
        Self {
            agents,
            dim,
            embeddings: Blocks::new(dim),
            plan_lengths: Vec::new(),
            plan_texts: Vec::new(),
            entries: Vec::new(),
            succeeded: Vec::new(),
            index,
            scratch: CellScratch::default(),
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

    /// Room for `additional` more auctions (an episode's stream), so storing them never moves
    /// what is stored.
    pub fn reserve(&mut self, additional: usize) {
        self.embeddings.reserve(additional);
        self.plan_lengths.reserve(additional * self.agents);
        self.plan_texts.reserve(additional * self.agents);
        self.entries.reserve(additional);
        self.succeeded.reserve(additional);
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
        let index = self.entries.len() as u32;
        self.embeddings.push(embedding);
        self.plan_lengths.extend_from_slice(plan_lengths);
        self.plan_texts.extend_from_slice(plan_texts);
        self.entries.push(Entry { winner: winner as u16, winner_succeeded, runner_up_length, runner_up_text });
        self.succeeded.push(winner_succeeded);
        match &mut self.index {
            Index::Scan => {}
            Index::Cells(cells) => {
                let (cells, _, sample) = &mut **cells;
                cells.store(&self.embeddings, embedding, &mut self.scratch);
                sample.store(index, embedding, winner_succeeded);
            }
        }
    }

    /// The `k` past tasks most similar to `embedding` by cosine similarity (with `Ivf`, among the
    /// cells probed); ties go to the older task, so retrieval is deterministic.
    #[must_use]
    pub fn nearest(&self, embedding: &[f32], k: usize) -> Neighbours {
        let mut out = Neighbours::default();
        self.nearest_into(embedding, k, &mut out);
        out
    }

    /// [`AuctionMemory::nearest`] into `out`, reusing its buffers.
    pub fn nearest_into(&self, embedding: &[f32], k: usize, out: &mut Neighbours) {
        out.best.clear();
        out.computed = 0;
        out.per_task = OnceCell::new();
        if let Some(above) = out.above.take() {
            *out.spare.get_mut() = Some(above);
        }
        out.sampled = OnceCell::new();
        if k == 0 || self.is_empty() {
            out.similarities.clear();
            return;
        }
        match &self.index {
            Index::Cells(cells) if cells.0.is_built() => {
                out.similarities.clear();
                out.computed = cells.0.nearest_into(embedding, k, cells.1, &mut out.best, &mut out.cells);
            }
            // The scan, and an index too young to pay.
            Index::Scan | Index::Cells(..) => {
                self.embeddings.similarities_into(embedding, &mut out.similarities, &mut out.maxima);
                top_k(&out.similarities, &out.maxima, k, &mut out.best, &mut out.selected);
                out.computed = self.len();
            }
        }
    }

    /// What a refining agent may read of the whole memory for the task `query` (after
    /// [`AuctionMemory::nearest_into`] filled `neighbours` for it).
    #[must_use]
    pub fn view<'a>(&'a self, neighbours: &'a Neighbours, query: &'a [f32]) -> View<'a> {
        View { memory: self, neighbours, query }
    }

    /// What `agent` recalls for a refinement: its pairs from the neighbours, and `view`, the whole
    /// memory as it bears on the task (from which a stand-in reads its accumulated lessons).
    #[must_use]
    pub fn recall<'a>(view: &'a View<'a>, pairs: &'a [RetrievedPair], k: usize) -> Recall<'a> {
        Recall { pairs, k, memory: Some(view), per_task: Some(&view.neighbours.per_task) }
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

#[cfg(test)]
mod tests {
    use super::*;
    use rand::RngExt;
    use rand_distr::StandardNormal;
    use tender_agents::streams::Stream;
    use tender_agents::task::cosine;

    /// `n` unit embeddings in `topics` clusters of 16 dimensions, the default workload's shape
    /// (centroid plus noise of norm about 0.6); every 50th repeats an earlier one (exact ties).
    fn clustered(n: usize, topics: usize, seed: u64) -> Vec<Vec<f32>> {
        let mut rng = Stream::named("test/clustered").rng(seed, &[]);
        let mut normal = |scale: f64| (scale * rng.sample::<f64, _>(StandardNormal)) as f32;
        let centroids: Vec<Vec<f32>> = (0..topics).map(|_| (0..16).map(|_| normal(0.25)).collect()).collect();
        let mut out: Vec<Vec<f32>> = Vec::with_capacity(n);
        for i in 0..n {
            if i % 50 == 49 {
                out.push(out[i / 2].clone());
                continue;
            }
            let c = &centroids[i * 7919 % topics];
            let v: Vec<f32> = c.iter().map(|&x| x + normal(0.15)).collect();
            out.push(tender_agents::embed::unit(&v));
        }
        out
    }

    fn against_the_scan(n: usize, index: MemoryIndex, every: usize) -> Comparison {
        let tasks = clustered(n, 24, 7);
        compare_with_scan(index, tasks.iter().map(Vec::as_slice), 8, every, 0.5)
    }

    #[test]
    fn cells_find_the_scans_neighbours_and_lessons_to_the_bit() {
        let c = against_the_scan(5000, MemoryIndex::Cells { lesson_sample: 8192 }, 7);
        assert_eq!((c.matched, c.recall()), (c.asked, 1.0));
        assert!(c.lessons.iter().all(|(a, b)| a.to_bits() == b.to_bits()));
        // Exact, it prunes little in 16 dimensions (the cells' bounds are worst cases).
        assert!(c.computed < c.scanned, "{} of {}", c.computed, c.scanned);
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(12))]
        /// The cells' bounds hold for any embeddings, not only unit ones in topics: norms from
        /// 0.1 to 10, few dimensions, as many duplicates as the clustered stream.
        #[test]
        fn cells_are_exact_whatever_the_norms_and_dimensions(seed in 0u64..1_000, dim in 2usize..9) {
            let mut rng = Stream::named("test/any").rng(seed, &[]);
            let mut tasks: Vec<Vec<f32>> = Vec::new();
            for i in 0..1_500 {
                let v: Vec<f32> = if i % 40 == 39 {
                    tasks[i / 3].clone()
                } else {
                    let scale = 10f64.powf(rng.random_range(-1.0..1.0));
                    (0..dim).map(|_| (scale * rng.sample::<f64, _>(StandardNormal)) as f32).collect()
                };
                tasks.push(v);
            }
            let c = compare_with_scan(MemoryIndex::Cells { lesson_sample: 4096 }, tasks.iter().map(Vec::as_slice), 5, 7, 0.5);
            proptest::prop_assert_eq!(c.matched, c.asked);
        }
    }

    #[test]
    fn a_lesson_sample_estimates_the_count_beyond_its_capacity() {
        let c = against_the_scan(6000, MemoryIndex::Cells { lesson_sample: 512 }, 13);
        assert_eq!(c.matched, c.asked, "neighbours stay exact");
        let (exact, sampled): (f64, f64) = c.lessons.iter().fold((0.0, 0.0), |s, l| (s.0 + l.0, s.1 + l.1));
        assert!((sampled / exact - 1.0).abs() < 0.05, "unbiased: {sampled} for {exact}");
        let big: Vec<f64> = c.lessons.iter().filter(|l| l.0 > 20.0).map(|l| (l.1 / l.0 - 1.0).abs()).collect();
        let mean = big.iter().sum::<f64>() / big.len() as f64;
        assert!(mean < 0.3, "mean relative error {mean} over {} queries", big.len());
    }

    #[test]
    fn ivf_finds_most_neighbours_in_a_fraction_of_the_scans_time() {
        let c = against_the_scan(8000, MemoryIndex::Ivf { probe: 16, lesson_sample: 4096 }, 11);
        assert!(c.recall() > 0.95, "recall@8 {}", c.recall());
        assert!(c.computed * 3 < c.scanned, "{} of {}", c.computed, c.scanned);
    }

    /// Operation counts, not time: an IVF query scores about `(1 + probe) * sqrt(n)` entries, so
    /// quadrupling memory about doubles it, where the scan's quadruples.
    #[test]
    fn ivf_queries_grow_with_the_square_root_of_memory() {
        let per_query = |n: usize| {
            let mut m = AuctionMemory::with_index(16, 1, MemoryIndex::Ivf { probe: 16, lesson_sample: 64 });
            let tasks = clustered(n + 100, 24, 4);
            for t in &tasks[..n] {
                m.store(t, &[1], &[0], 0, None, true);
            }
            let mut out = Neighbours::default();
            tasks[n..]
                .iter()
                .map(|t| {
                    m.nearest_into(t, 8, &mut out);
                    out.computed
                })
                .sum::<usize>() as f64
                / 100.0
        };
        let (small, large) = (per_query(4096), per_query(16_384));
        assert!(large / small < 2.6, "{small} -> {large}");
        assert!(large < 16_384.0 / 4.0);
    }

    #[test]
    fn searches_are_the_same_on_every_run() {
        let run = || {
            let mut m = AuctionMemory::with_index(16, 1, MemoryIndex::Ivf { probe: 2, lesson_sample: 256 });
            let mut found = Vec::new();
            for t in &clustered(2500, 24, 2) {
                found.extend(m.nearest(t, 4).best);
                m.store(t, &[1], &[0], 0, None, true);
            }
            found
        };
        assert_eq!(run(), run());
    }

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
