//! An exact nearest-neighbour index over the auction memory: a partitioned scan.
//!
//! Past tasks are grouped into cells around centroids (every past task is in the cell of its
//! most similar centroid). A cell records the widest angle between its centroid and a member and
//! its members' norms, which bound from above the similarity of any member to a query (the
//! triangle inequality on angles). A query visits cells in order of that bound and stops when
//! the bound falls below its `k`-th best similarity, so it returns exactly the scan's neighbours,
//! their similarities computed by the same kernel (the same to the bit), ties to the older task.
//!
//! Probing only the first `probe` cells in that order instead makes the search approximate (an
//! inverted file), its cost about `(2 + probe / 2) sqrt(n)` similarities.
//!
//! The partition is rebuilt from every stored embedding whenever memory doubles (from
//! [`FIRST_BUILD`] entries), with `2 sqrt(n)` centroids taken at evenly spaced places in
//! storage order; in between, each new entry joins its most similar centroid's cell.

use super::blocks::{Blocks, offer};

/// Entries from which a partition pays: below it a query scans everything.
pub const FIRST_BUILD: usize = 1024;

/// Added to every bound so that rounding in the similarities (each a float sum of `dim`
/// products) can never make a member beat its cell's bound.
const MARGIN: f64 = 1e-4;

#[derive(Clone, Debug)]
struct Cell {
    /// Storage index of each member, ascending.
    members: Vec<u32>,
    embeddings: Blocks,
    /// The widest angle between the centroid and a member, in radians.
    widest: f64,
    min_norm: f64,
    max_norm: f64,
}

impl Cell {
    fn new(dim: usize) -> Self {
        Self { members: Vec::new(), embeddings: Blocks::new(dim), widest: 0.0, min_norm: f64::INFINITY, max_norm: 0.0 }
    }

    fn add(&mut self, index: u32, embedding: &[f32], centroid: &[f32], centroid_norm: f64) {
        let norm = norm(embedding);
        let dot: f64 = embedding.iter().zip(centroid).map(|(&x, &c)| f64::from(x) * f64::from(c)).sum();
        let angle = if norm > 0.0 && centroid_norm > 0.0 {
            (dot / (norm * centroid_norm)).clamp(-1.0, 1.0).acos()
        } else {
            std::f64::consts::PI
        };
        self.widest = self.widest.max(angle);
        self.min_norm = self.min_norm.min(norm);
        self.max_norm = self.max_norm.max(norm);
        self.members.push(index);
        self.embeddings.push(embedding);
    }

    /// The largest similarity any member can have to a query of norm `query_norm` at angle
    /// `angle` from the centroid.
    fn bound(&self, angle: f64, query_norm: f64) -> f64 {
        let cos = (angle - self.widest).max(0.0).cos();
        let norm = if cos >= 0.0 { self.max_norm } else { self.min_norm };
        query_norm * norm * cos + MARGIN
    }
}

fn norm(v: &[f32]) -> f64 {
    v.iter().map(|&x| f64::from(x) * f64::from(x)).sum::<f64>().sqrt()
}

/// The partition, with scratch reused from query to query.
#[derive(Clone, Debug)]
pub struct Cells {
    dim: usize,
    /// Entries when the partition was last built.
    built_at: usize,
    centroids: Blocks,
    centroid_norms: Vec<f64>,
    cells: Vec<Cell>,
}

/// Scratch for [`Cells::nearest_into`].
#[derive(Clone, Debug, Default)]
pub struct CellScratch {
    order: Vec<(f64, u32)>,
    sims: Vec<f32>,
    maxima: Vec<f32>,
}

impl Cells {
    #[must_use]
    pub fn new(dim: usize) -> Self {
        Self { dim, built_at: 0, centroids: Blocks::new(dim), centroid_norms: Vec::new(), cells: Vec::new() }
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
        let cell = self.most_similar_centroid(embedding, scratch);
        let centroid = self.centroids.get(cell);
        self.cells[cell].add((n - 1) as u32, embedding, &centroid, self.centroid_norms[cell]);
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
        let count = (2.0 * (n as f64).sqrt()).ceil() as usize;
        self.centroids = Blocks::new(self.dim);
        self.centroid_norms.clear();
        for c in 0..count {
            let centroid = all.get(c * n / count);
            self.centroid_norms.push(norm(&centroid));
            self.centroids.push(&centroid);
        }
        self.cells = vec![Cell::new(self.dim); count];
        let centroids: Vec<Vec<f32>> = (0..count).map(|c| self.centroids.get(c)).collect();
        for i in 0..n {
            let embedding = all.get(i);
            let cell = self.most_similar_centroid(&embedding, scratch);
            self.cells[cell].add(i as u32, &embedding, &centroids[cell], self.centroid_norms[cell]);
        }
        self.built_at = n;
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
        let computed = self.cells.len();
        match probe {
            Some(probe) => self.probe(query, k, probe, best, scratch) + computed,
            None => self.exact(query, k, best, scratch) + computed,
        }
    }

    /// Every cell whose bound reaches the `k`-th best so far, in order of bound.
    fn exact(&self, query: &[f32], k: usize, best: &mut Vec<(f32, u32)>, scratch: &mut CellScratch) -> usize {
        let query_norm = norm(query);
        scratch.order.clear();
        for (c, &s) in scratch.sims.iter().enumerate() {
            let scale = query_norm * self.centroid_norms[c];
            let angle = if scale > 0.0 { (f64::from(s) / scale).clamp(-1.0, 1.0).acos() } else { std::f64::consts::PI };
            scratch.order.push((self.cells[c].bound(angle, query_norm), c as u32));
        }
        scratch.order.sort_unstable_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
        let order = std::mem::take(&mut scratch.order);
        let mut computed = 0;
        for &(bound, c) in &order {
            // No member of this cell, nor of any later one, can enter.
            if best.len() == k && bound < f64::from(best[k - 1].0) {
                break;
            }
            computed += self.score_cell(c as usize, query, k, best, scratch);
        }
        scratch.order = order;
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
        let cell = &self.cells[c];
        cell.embeddings.similarities_into(query, &mut scratch.sims, &mut scratch.maxima);
        for (&sim, &index) in scratch.sims.iter().zip(&cell.members) {
            if best.len() < k || sim >= best[k - 1].0 {
                offer(best, k, sim, index);
            }
        }
        cell.members.len()
    }
}
