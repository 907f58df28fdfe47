//! An exact nearest-neighbour index over the auction memory: a partitioned scan.
//!
//! Past tasks are grouped into cells around centroids (every past task is in the cell of its
//! most similar centroid). Two bounds rule a cell out for a query, each an upper bound on any
//! member's similarity to it: the cap around the centroid that holds every member (the widest
//! angle between the centroid and a member, and the members' norms: the triangle inequality on
//! angles), and the plane halfway between the cell's centroid and the query's own (every member
//! is on its centroid's side, so only the query's part across the plane can reach it). A query
//! scores its own cell first, then every cell whose bounds still reach its `k`-th best
//! similarity, in order of bound, until none does; so it returns exactly the scan's neighbours,
//! their similarities the same to the bit, ties to the older task. Inside a cell, members are
//! scanned as 8-bit integers first ([`super::quantized`]), and only those that may still reach
//! the `k`-th best are scored in floats, by the kernel's sum ([`super::blocks::similarity`]).
//!
//! Probing only the `probe` cells with the most similar centroids instead makes the search
//! approximate (an inverted file), its cost about `(2 + probe / 2) sqrt(n)` similarities.
//!
//! The partition is rebuilt from every stored embedding whenever memory doubles (from
//! [`FIRST_BUILD`] entries), with `sqrt(n)` centroids for the exact search and `2 sqrt(n)` for
//! the probed one ([`Centroids`]) placed by a few rounds of spherical k-means on an evenly spaced
//! sample (compact cells, tight bounds); in between, each new entry joins its most similar
//! centroid's cell.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use super::blocks::{BLOCK, Blocks, offer, similarity, slack};
use super::quantized::{Passed, Quantized, QuantizedQuery, Threshold, below};

/// Rounds of k-means that place the centroids, on a sample of this many entries per centroid.
const KMEANS_ROUNDS: usize = 4;
const KMEANS_SAMPLE: usize = 16;

/// How many centroids a partition of `n` entries has, per `sqrt(n)`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Centroids {
    /// For the exact search, `sqrt(n)`: every query passes over every cell's bounds, and finer
    /// cells prune too little more to pay for it on the default embeddings (the README's scale
    /// section gives the timings).
    Exact,
    /// For probing, `2 sqrt(n)`: a probe reads a few cells, so smaller ones cost less.
    Probed,
}

impl Centroids {
    fn per_sqrt(self) -> f64 {
        match self {
            Self::Exact => 1.0,
            Self::Probed => 2.0,
        }
    }
}

/// Entries from which a partition pays: below it a query scans everything.
pub const FIRST_BUILD: usize = 1024;

/// Added to every bound so that rounding in the similarities (each a float sum of `dim`
/// products) can never make a member beat its cell's bound.
const MARGIN: f64 = 1e-4;

/// The cap around a cell's centroid that holds every member: what a query reads of every
/// cell, kept apart from the members so that a query's pass over the caps is one small array.
#[derive(Clone, Copy, Debug)]
struct Cell {
    /// The cosine and sine of the widest angle between the centroid and a member.
    cos_widest: f64,
    sin_widest: f64,
    min_norm: f64,
    max_norm: f64,
}

impl Cell {
    fn new() -> Self {
        Self { cos_widest: 1.0, sin_widest: 0.0, min_norm: f64::INFINITY, max_norm: 0.0 }
    }

    /// Widen the cap to hold `embedding`.
    fn widen(&mut self, embedding: &[f32], centroid: &[f32], centroid_norm: f64) {
        let norm = norm(embedding);
        let cos = if norm > 0.0 && centroid_norm > 0.0 {
            (dot(embedding, centroid) / (norm * centroid_norm)).clamp(-1.0, 1.0)
        } else {
            -1.0
        };
        if cos < self.cos_widest {
            self.cos_widest = cos;
            self.sin_widest = (1.0 - cos * cos).sqrt();
        }
        self.min_norm = self.min_norm.min(norm);
        self.max_norm = self.max_norm.max(norm);
    }

    /// The largest similarity any member can have to a query of norm `query_norm` at angle
    /// θ from the centroid (given as its cosine): `cos(max(0, θ - widest))`, scaled.
    fn bound(&self, cos: f64, query_norm: f64, slack: f64) -> f64 {
        let cos = if cos >= self.cos_widest {
            1.0
        } else {
            cos * self.cos_widest + (1.0 - cos * cos).max(0.0).sqrt() * self.sin_widest
        };
        let norm = if cos >= 0.0 { self.max_norm } else { self.min_norm };
        // The members' similarities are rounded too.
        query_norm * (norm * cos + slack * self.max_norm) + MARGIN
    }

    /// Whether a member may reach `tau`, for a query at cosine `cos` from the centroid, given
    /// `cos(alpha)` and `sin(alpha)` where `alpha` is the widest angle at which a member of the
    /// largest norm still reaches `tau`: a member is within `widest` of the centroid, so within
    /// `widest + alpha` of the query, `cos(widest + alpha)` from it at least. No trigonometry.
    fn may_reach(&self, cos: f64, cos_alpha: f64, sin_alpha: f64) -> bool {
        // `widest + alpha` past a half turn: any angle is within it.
        if self.sin_widest * cos_alpha + self.cos_widest * sin_alpha < 0.0 {
            return true;
        }
        cos >= self.cos_widest * cos_alpha - self.sin_widest * sin_alpha
    }
}

fn norm(v: &[f32]) -> f64 {
    dot(v, v).sqrt()
}

fn dot(a: &[f32], b: &[f32]) -> f64 {
    a.iter().zip(b).map(|(&x, &y)| f64::from(x) * f64::from(y)).sum()
}

/// The cosine and sine of the widest angle from a query of norm `query_norm` at which a member
/// of norm `max_norm` still reaches similarity `tau` (a half turn when `tau` is not positive: no
/// cell is ruled out), for [`Cell::may_reach`].
fn reach(tau: f64, query_norm: f64, max_norm: f64, slack: f64) -> (f64, f64) {
    let reach = (tau - MARGIN) / (query_norm * max_norm) - slack;
    let cos = if reach > 0.0 { reach.min(1.0) } else { -1.0 };
    (cos, (1.0 - cos * cos).sqrt())
}

/// The distance between two centroids (rows and norms), as large and as small as the rounding
/// of their similarity allows, for [`plane_bound`]; in `f32`, rounded outwards.
fn centroid_distance(a: (&[f32], f64), b: (&[f32], f64)) -> [f32; 2] {
    let norms = a.1 + b.1;
    let d2 = a.1.powi(2) + b.1.powi(2) - 2.0 * dot(a.0, b.0);
    let slack = slack(a.0.len());
    let (hi, lo) = ((d2 + slack * norms * norms).max(0.0).sqrt(), (d2 - slack * norms * norms).max(0.0).sqrt());
    let (mut hi32, mut lo32) = (hi as f32, lo as f32);
    if f64::from(hi32) < hi {
        hi32 = hi32.next_up();
    }
    if f64::from(lo32) > lo {
        lo32 = lo32.next_down().max(0.0);
    }
    [hi32, lo32]
}

/// A bound on the similarity to a query of any member (of norm at most `max_norm`) of the cell
/// around a centroid, from the query's similarities `sim` to that centroid and `own_sim` to
/// another, `own` (its most similar), `norms` the two centroids' norms added and `distance`
/// theirs ([`centroid_distance`]): every member is at least as similar to its centroid as to
/// `own`, so on that side of the plane halfway between them, and the query's part across the
/// plane bounds its similarity to any member. `None` where the plane rules out nothing (or the
/// centroids nearly coincide). Rounding in the similarities and the assignment is allowed for.
fn plane_bound(
    query_norm: f64,
    (sim, own_sim): (f64, f64),
    norms: f64,
    [d_hi, d_lo]: [f32; 2],
    max_norm: f64,
    slack: f64,
) -> Option<f64> {
    let (d_hi, d_lo) = (f64::from(d_hi), f64::from(d_lo));
    let across = own_sim - sim - slack * query_norm * norms;
    if across <= 0.0 || d_lo <= 1e-3 {
        return None;
    }
    let t = across / d_hi;
    let perp = (query_norm * query_norm - t * t).max(0.0).sqrt();
    Some(max_norm * (perp + slack * norms * query_norm / d_lo + slack * query_norm) + MARGIN)
}

/// A cell a query may visit, ordered by its bound: the largest first, then the lowest index.
#[derive(Clone, Copy, Debug)]
struct Visit {
    bound: f64,
    cell: u32,
}

impl Ord for Visit {
    fn cmp(&self, other: &Self) -> Ordering {
        self.bound.total_cmp(&other.bound).then(other.cell.cmp(&self.cell))
    }
}

impl PartialOrd for Visit {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Visit {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Visit {}

/// The partition, with scratch reused from query to query.
#[derive(Clone, Debug)]
pub struct Cells {
    dim: usize,
    kind: Centroids,
    /// Entries when the partition was last built.
    built_at: usize,
    centroids: Blocks,
    /// The centroids again, row by row.
    centroid_rows: Vec<f32>,
    centroid_norms: Vec<f64>,
    /// Every pair of centroids' distance ([`centroid_distance`]), row by row, for the exact search.
    distances: Vec<[f32; 2]>,
    cells: Vec<Cell>,
    /// Each cell's members: storage indexes (ascending) and embeddings.
    members: Vec<(Vec<u32>, Quantized)>,
    /// The largest norm of any member.
    max_norm: f64,
}

/// Scratch for [`Cells::nearest_into`].
#[derive(Clone, Debug, Default)]
pub struct CellScratch {
    order: Vec<(f64, u32)>,
    /// The cells an exact query may still visit: a heap, since a query visits few of them.
    visits: Vec<Visit>,
    sims: Vec<f32>,
    maxima: Vec<f32>,
    /// The query in integers, and the blocks of a cell that may reach the `k`-th best.
    query: QuantizedQuery,
    passed: Vec<Passed>,
    query_norm: f64,
    /// The members offered first in a query's first cell.
    seeds: Vec<u32>,
}

impl Cells {
    #[must_use]
    pub fn new(dim: usize, centroids: Centroids) -> Self {
        Self {
            dim,
            kind: centroids,
            built_at: 0,
            centroids: Blocks::new(dim),
            centroid_rows: Vec::new(),
            centroid_norms: Vec::new(),
            distances: Vec::new(),
            cells: Vec::new(),
            members: Vec::new(),
            max_norm: 0.0,
        }
    }

    /// Whether a partition exists (memory has reached [`FIRST_BUILD`] entries).
    #[must_use]
    pub fn is_built(&self) -> bool {
        !self.cells.is_empty()
    }

    /// Take the entry just stored as `all`'s last, `embedding`.
    pub fn store(&mut self, all: &Blocks, embedding: &[f32], scratch: &mut CellScratch) {
        let n = all.len();
        if n >= FIRST_BUILD && n >= 2 * self.built_at {
            self.build(all, scratch);
            return;
        }
        if !self.is_built() {
            return;
        }
        self.add(n - 1, embedding, scratch);
    }

    /// Entry `i` into the cell of its most similar centroid.
    fn add(&mut self, i: usize, embedding: &[f32], scratch: &mut CellScratch) {
        let c = self.most_similar_centroid(embedding, scratch);
        let cell = &mut self.cells[c];
        cell.widen(embedding, &self.centroid_rows[c * self.dim..][..self.dim], self.centroid_norms[c]);
        self.max_norm = self.max_norm.max(cell.max_norm);
        let (members, embeddings) = &mut self.members[c];
        members.push(i as u32);
        embeddings.push(embedding);
    }

    fn most_similar_centroid(&self, embedding: &[f32], scratch: &mut CellScratch) -> usize {
        self.centroids.similarities_into(embedding, &mut scratch.sims, &mut scratch.maxima);
        // The first of equals, so the partition does not depend on anything but the entries.
        let mut best = 0;
        for (c, &s) in scratch.sims.iter().enumerate() {
            if s > scratch.sims[best] {
                best = c;
            }
        }
        best
    }

    fn build(&mut self, all: &Blocks, scratch: &mut CellScratch) {
        let n = all.len();
        let count = (self.kind.per_sqrt() * (n as f64).sqrt()).ceil() as usize;
        let mut rows: Vec<f32> = (0..count).flat_map(|c| all.get(c * n / count)).collect();
        // Spherical k-means on an evenly spaced sample: compact cells make tight bounds.
        let sample: Vec<Vec<f32>> = {
            let m = (KMEANS_SAMPLE * count).min(n);
            (0..m).map(|i| all.get(i * n / m)).collect()
        };
        for _ in 0..KMEANS_ROUNDS {
            self.set_centroids(&rows);
            let mut sums = vec![0.0f64; count * self.dim];
            for x in &sample {
                let c = self.most_similar_centroid(x, scratch);
                for (s, &v) in sums[c * self.dim..][..self.dim].iter_mut().zip(x) {
                    *s += f64::from(v);
                }
            }
            for (row, sum) in rows.chunks_exact_mut(self.dim).zip(sums.chunks_exact(self.dim)) {
                let length = sum.iter().map(|v| v * v).sum::<f64>().sqrt();
                // An empty cell keeps its centroid.
                if length > 0.0 {
                    for (r, &v) in row.iter_mut().zip(sum) {
                        *r = (v / length) as f32;
                    }
                }
            }
        }
        self.set_centroids(&rows);
        let count = self.centroid_norms.len();
        // Only the exact search bounds cells by the plane between two centroids.
        self.distances = match self.kind {
            Centroids::Exact => (0..count * count)
                .map(|i| centroid_distance(self.centroid(i / count), self.centroid(i % count)))
                .collect(),
            Centroids::Probed => Vec::new(),
        };
        self.cells = vec![Cell::new(); count];
        self.members = vec![(Vec::new(), Quantized::new(self.dim)); self.cells.len()];
        self.max_norm = 0.0;
        for i in 0..n {
            let embedding = all.get(i);
            self.add(i, &embedding, scratch);
        }
        self.built_at = n;
    }

    fn set_centroids(&mut self, rows: &[f32]) {
        self.centroids = Blocks::new(self.dim);
        self.centroid_norms.clear();
        for row in rows.chunks_exact(self.dim) {
            self.centroid_norms.push(norm(row));
            self.centroids.push(row);
        }
        self.centroid_rows = rows.to_vec();
    }

    /// Centroid `c`'s row and norm.
    fn centroid(&self, c: usize) -> (&[f32], f64) {
        (&self.centroid_rows[c * self.dim..][..self.dim], self.centroid_norms[c])
    }

    /// The `k` entries most similar to `query` into `best` (largest first, ties to the older),
    /// exactly as a scan of every entry finds them, or among the first `probe` cells; returns how
    /// many similarities it computed (centroids included).
    pub fn nearest_into(
        &self,
        query: &[f32],
        k: usize,
        probe: Option<usize>,
        best: &mut Vec<(f32, u32)>,
        scratch: &mut CellScratch,
    ) -> usize {
        best.clear();
        if k == 0 || !self.is_built() {
            return 0;
        }
        self.centroids.similarities_into(query, &mut scratch.sims, &mut scratch.maxima);
        scratch.query.set(query);
        scratch.query_norm = norm(query);
        let computed = self.cells.len();
        match probe {
            Some(probe) => self.probe(query, k, probe, best, scratch) + computed,
            None => self.exact(query, k, best, scratch) + computed,
        }
    }

    /// The query's own cell (most similar centroid) first, then every cell whose bound reaches
    /// the `k`-th best so far, in order of bound.
    fn exact(&self, query: &[f32], k: usize, best: &mut Vec<(f32, u32)>, scratch: &mut CellScratch) -> usize {
        let query_norm = scratch.query_norm;
        let sims = std::mem::take(&mut scratch.sims);
        // Cells in order of their centroid's similarity until `k` are found: nearly always the
        // query's own cell alone.
        let mut first = Vec::new();
        let mut computed = 0;
        // The first of equals, so the order depends on nothing but the similarities.
        let own = sims.iter().enumerate().fold(0, |o, (c, &s)| if s > sims[o] { c } else { o });
        first.push(own);
        computed += self.score_cell(own, query, k, best, scratch);
        while best.len() < k && first.len() < self.cells.len() {
            let mut own = None;
            for (c, &s) in sims.iter().enumerate() {
                if !first.contains(&c) && own.is_none_or(|o: usize| s > sims[o]) {
                    own = Some(c);
                }
            }
            let Some(own) = own else { break };
            first.push(own);
            computed += self.score_cell(own, query, k, best, scratch);
        }
        let own = first[0];
        let tau = |best: &Vec<(f32, u32)>| if best.len() == k { f64::from(best[k - 1].0) } else { f64::NEG_INFINITY };
        let slack = slack(self.dim);
        let (cos_alpha, sin_alpha) = reach(tau(best), query_norm, self.max_norm, slack);
        let own_sim = f64::from(sims[own]);
        let count = self.cells.len();
        // None for a partition built for probing: no plane bounds then.
        let distances = self.distances.get(own * count..(own + 1) * count);
        let mut visits = std::mem::take(&mut scratch.visits);
        visits.clear();
        for (c, &s) in sims.iter().enumerate() {
            let scale = query_norm * self.centroid_norms[c];
            // Taken as large as the rounding of `s` allows: each bound grows with it.
            let cos = if scale > 0.0 { (f64::from(s) / scale + slack).clamp(-1.0, 1.0) } else { -1.0 };
            let cell = &self.cells[c];
            if first.contains(&c) || !cell.may_reach(cos, cos_alpha, sin_alpha) {
                continue;
            }
            let mut bound = cell.bound(cos, query_norm, slack);
            let norms = self.centroid_norms[c] + self.centroid_norms[own];
            let plane = distances
                .and_then(|d| plane_bound(query_norm, (f64::from(s), own_sim), norms, d[c], cell.max_norm, slack));
            if let Some(plane) = plane {
                bound = bound.min(plane);
            }
            if bound >= tau(best) {
                visits.push(Visit { bound, cell: c as u32 });
            }
        }
        scratch.sims = sims;
        let mut visits = BinaryHeap::from(visits);
        while let Some(Visit { bound, cell }) = visits.pop() {
            // No member of this cell, nor of any later one, can enter.
            if bound < tau(best) {
                break;
            }
            computed += self.score_cell(cell as usize, query, k, best, scratch);
        }
        scratch.visits = visits.into_vec();
        computed
    }

    /// The `probe` cells whose centroids are most similar to the query (an inverted file).
    fn probe(
        &self,
        query: &[f32],
        k: usize,
        probe: usize,
        best: &mut Vec<(f32, u32)>,
        scratch: &mut CellScratch,
    ) -> usize {
        scratch.order.clear();
        scratch.order.extend(scratch.sims.iter().enumerate().map(|(c, &s)| (f64::from(s), c as u32)));
        let by_similarity = |a: &(f64, u32), b: &(f64, u32)| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1));
        if probe < scratch.order.len() {
            scratch.order.select_nth_unstable_by(probe, by_similarity);
            scratch.order.truncate(probe);
        }
        scratch.order.sort_unstable_by(by_similarity);
        let order = std::mem::take(&mut scratch.order);
        let computed = order.iter().map(|&(_, c)| self.score_cell(c as usize, query, k, best, scratch)).sum();
        scratch.order = order;
        computed
    }

    /// Offer every member of cell `c` to `best`; returns how many similarities that took.
    fn score_cell(
        &self,
        c: usize,
        query: &[f32],
        k: usize,
        best: &mut Vec<(f32, u32)>,
        scratch: &mut CellScratch,
    ) -> usize {
        let (cell, (members, embeddings)) = (&self.cells[c], &self.members[c]);
        let slack = slack(self.dim);
        let threshold =
            |floor: f32| Threshold::new(&scratch.query, f64::from(floor), scratch.query_norm, cell.max_norm, slack);
        let mut floor = if best.len() == k { best[k - 1].0 } else { f32::NEG_INFINITY };
        let mut reach = if best.len() == k { threshold(floor) } else { Threshold::NONE };
        embeddings.scan_into(&scratch.query, &reach, &mut scratch.passed);
        // Before the `k`-th best is known (every block passed), the members with the largest
        // integer sums first: the floor they set rules out most of the rest.
        let seeds = &mut scratch.seeds;
        seeds.clear();
        if best.len() < k {
            let passed = &scratch.passed;
            let sum = |i: u32| passed[i as usize / BLOCK].sums[i as usize % BLOCK];
            seeds.extend(0..members.len() as u32);
            let by_sum = |a: &u32, b: &u32| sum(*b).cmp(&sum(*a)).then(a.cmp(b));
            if k < seeds.len() {
                seeds.select_nth_unstable_by(k, by_sum);
                seeds.truncate(k);
            }
            for &i in seeds.iter() {
                offer(best, k, similarity(query, embeddings.row(i as usize)), members[i as usize]);
            }
            if best.len() == k {
                floor = best[k - 1].0;
                reach = threshold(floor);
            }
        }
        for passed in &scratch.passed {
            let at_least = embeddings.floor(passed.block, &reach);
            for (j, &sum) in passed.sums.iter().enumerate() {
                let i = passed.block * BLOCK + j;
                if below(sum, at_least) || i >= members.len() || seeds.contains(&(i as u32)) {
                    continue;
                }
                let sim = similarity(query, embeddings.row(i));
                if sim >= floor {
                    offer(best, k, sim, members[i]);
                    if best.len() == k {
                        floor = best[k - 1].0;
                        reach = threshold(floor);
                    }
                }
            }
        }
        members.len()
    }
}

#[cfg(test)]
mod tests {
    use super::super::blocks::similarity as sim;
    use super::*;
    use rand::RngExt;
    use rand_distr::StandardNormal;
    use tender_agents::streams::Stream;

    proptest::proptest! {
        /// Each bound holds for every member of a cell: the cap around the centroid, the plane
        /// between the centroid and the query's own, and the angle past which a cell cannot reach
        /// a similarity. Members are near the centroid (a tight cap) with norms from 0.5 to 2.
        #[test]
        fn every_bound_holds_for_every_member(seed in 0u64..10_000, dim in 2usize..7, spread in 0.05f64..2.0) {
            let mut rng = Stream::named("test/bounds").rng(seed, &[]);
            let mut normal = |scale: f64| (scale * rng.sample::<f64, _>(StandardNormal)) as f32;
            let centroid: Vec<f32> = (0..dim).map(|_| normal(1.0)).collect();
            let own: Vec<f32> = (0..dim).map(|_| normal(1.0)).collect();
            let (centroid_norm, own_norm) = (norm(&centroid), norm(&own));
            let mut cell = Cell::new();
            let mut members = Vec::new();
            for i in 0..400u32 {
                let scale = 0.5 + 1.5 * f64::from(i % 7) / 6.0;
                let x: Vec<f32> = centroid.iter().map(|&c| ((f64::from(c) / centroid_norm + f64::from(normal(spread))) * scale) as f32).collect();
                // Only what would join this cell rather than the query's own.
                if sim(&x, &centroid) >= sim(&x, &own) && members.len() < 60 {
                    cell.widen(&x, &centroid, centroid_norm);
                    members.push(x);
                }
            }
            proptest::prop_assume!(!members.is_empty());
            for _ in 0..20 {
                let query: Vec<f32> = own.iter().map(|&o| o + normal(spread)).collect();
                let query_norm = norm(&query);
                let (s, own_sim) = (sim(&query, &centroid), sim(&query, &own));
                proptest::prop_assume!(own_sim >= s);
                let best = members.iter().map(|x| f64::from(sim(&query, x))).fold(f64::NEG_INFINITY, f64::max);
                let cos = (f64::from(s) / (query_norm * centroid_norm)).clamp(-1.0, 1.0);
                let slack = slack(dim);
                let cos = (cos + slack).min(1.0);
                let cap = cell.bound(cos, query_norm, slack);
                proptest::prop_assert!(cap >= best, "cap {cap} < {best}");
                let distance = centroid_distance((&centroid, centroid_norm), (&own, own_norm));
                let plane = plane_bound(query_norm, (f64::from(s), f64::from(own_sim)), centroid_norm + own_norm, distance, cell.max_norm, slack);
                proptest::prop_assert!(plane.is_none_or(|p| p >= best), "plane {plane:?} < {best}");
                for tau in [best - 0.01, best, best + 0.01, 0.5 * best] {
                    let (cos_alpha, sin_alpha) = reach(tau, query_norm, cell.max_norm, slack);
                    proptest::prop_assert!(cell.may_reach(cos, cos_alpha, sin_alpha) || best < tau, "ruled out at {tau}, reached {best}");
                }
            }
        }
    }
}
