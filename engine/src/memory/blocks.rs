//! Embeddings stored in blocks for fast similarity scans, and exact top-k selection.
//!
//! Every index of the auction memory scores a query against stored embeddings with the same
//! kernel, so a similarity is the same number to the bit whichever index computed it.

/// Entries per block, for the similarity sums and the top-k bound.
pub const BLOCK: usize = 16;

/// Embeddings of one dimension in blocks of [`BLOCK`] entries: block `b` holds, dimension by
/// dimension, its entries' components (`data[(b * dim + d) * BLOCK + j]` is component `d` of
/// entry `b * BLOCK + j`), zero beyond the last entry. Scoring a query is then one contiguous run
/// of vectorisable multiply-adds per block, its sums kept in registers.
#[derive(Clone, Debug, Default)]
pub struct Blocks {
    dim: usize,
    len: usize,
    data: Vec<f32>,
}

impl Blocks {
    #[must_use]
    pub fn new(dim: usize) -> Self {
        Self { dim, len: 0, data: Vec::new() }
    }

    #[must_use]
    pub fn len(&self) -> usize {
        self.len
    }

    #[must_use]
    pub fn dim(&self) -> usize {
        self.dim
    }

    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Room for `additional` more entries, so pushing them never moves the stored blocks.
    pub fn reserve(&mut self, additional: usize) {
        let blocks = (self.len + additional).div_ceil(BLOCK);
        self.data.reserve((blocks * self.dim * BLOCK).saturating_sub(self.data.len()));
    }

    pub fn push(&mut self, embedding: &[f32]) {
        debug_assert_eq!(embedding.len(), self.dim);
        let (b, j) = (self.len / BLOCK, self.len % BLOCK);
        if j == 0 {
            self.data.resize(self.data.len() + self.dim * BLOCK, 0.0);
        }
        for (d, &x) in embedding.iter().enumerate().take(self.dim) {
            self.data[(b * self.dim + d) * BLOCK + j] = x;
        }
        self.len += 1;
    }

    /// Entry `i`'s embedding.
    #[must_use]
    pub fn get(&self, i: usize) -> Vec<f32> {
        let (b, j) = (i / BLOCK, i % BLOCK);
        (0..self.dim).map(|d| self.data[(b * self.dim + d) * BLOCK + j]).collect()
    }

    /// Every entry's dot product with `query`, in storage order, into `sims`, and each block's
    /// largest into `maxima`.
    ///
    /// Each similarity adds its products in dimension order from 0, as a plain dot product
    /// does, so the similarities are the same to the bit.
    pub fn similarities_into(&self, query: &[f32], sims: &mut Vec<f32>, maxima: &mut Vec<f32>) {
        let n = self.len;
        maxima.clear();
        if n == 0 {
            sims.clear();
            return;
        }
        // The kernel writes every slot, so only slots the buffer never had are filled first:
        // a growing memory's buffer grows by a block now and then, not zeroed on every query.
        sims.resize(n.div_ceil(BLOCK) * BLOCK, 0.0);
        // In AVX2's 8 lanes where the CPU has them (chosen when it runs), else the widest
        // vectors it has (the portable build's 4): each lane multiplies and adds as the scalar
        // loop does (no fused multiply-add), in dimension order, so the sums are the same to
        // the bit. AVX-512's 16 lanes are passed over on purpose: with them the whole episode
        // ran 8% slower on a Xeon that has them (512-bit work slows the core for everything
        // else), for a kernel that is a few percent of it.
        let score = Score { blocks: self, query, sims, maxima };
        #[cfg(target_arch = "x86_64")]
        if let Some(simd) = pulp::x86::V3::try_new() {
            pulp::Simd::vectorize(simd, score);
        } else {
            pulp::Arch::new().dispatch(score);
        }
        #[cfg(not(target_arch = "x86_64"))]
        pulp::Arch::new().dispatch(score);
        sims.truncate(n);
        // The last block's padding is not a similarity.
        if let Some(last) = maxima.last_mut() {
            *last = block_max(&sims[(n - 1) / BLOCK * BLOCK..]);
        }
    }
}

/// A bound on the relative rounding of a similarity the kernel computed, a float sum of `dim`
/// products (at most about `dim` units in the last place), with room to spare.
#[must_use]
pub fn slack(dim: usize) -> f64 {
    4.0 * (dim as f64 + 2.0) * f64::from(f32::EPSILON)
}

/// `query`'s dot product with one `row`, as the kernel sums it (products added in dimension
/// order from 0, not fused): the same number to the bit.
#[must_use]
pub fn similarity(query: &[f32], row: &[f32]) -> f32 {
    query.iter().zip(row).fold(0.0f32, |s, (&q, &x)| s + q * x)
}

/// Every block's sums into `sims` (padded to whole blocks) and each block's maximum into
/// `maxima`, with the vectors `S` has.
struct Score<'a> {
    blocks: &'a Blocks,
    query: &'a [f32],
    sims: &'a mut [f32],
    maxima: &'a mut Vec<f32>,
}

/// The `G` blocks of `group` (`span` floats each) scored against `query` into `sums`, their
/// maxima pushed onto `maxima`. Inlined into `with_simd`, so that it is compiled with the
/// target's features; `G` and the vectors per block row are constants there, so the sums stay
/// in registers.
#[inline(always)]
fn score_group<S: pulp::Simd, const G: usize>(
    simd: S,
    group: &[f32],
    span: usize,
    query: &[f32],
    sums: &mut [f32],
    maxima: &mut Vec<f32>,
) {
    // Vectors per block row; a block of 16 lanes is whole vectors on every architecture (1, 4,
    // 8 or 16 lanes).
    let per = BLOCK / S::F32_LANES;
    let mut acc = [simd.splat_f32s(0.0); SLOTS];
    let blocks: [&[f32]; G] = std::array::from_fn(|b| &group[b * span..(b + 1) * span]);
    let dim = query.len();
    assert!(dim * BLOCK <= span, "a block holds a row per dimension");
    for (d, &q) in query.iter().enumerate() {
        let q = simd.splat_f32s(q);
        let at = d * BLOCK;
        for (b, block) in blocks.iter().enumerate() {
            add_row(simd, &mut acc[b * per..(b + 1) * per], &block[at..at + BLOCK], q);
        }
    }
    for (b, out) in sums.chunks_exact_mut(BLOCK).enumerate() {
        let sums = &acc[b * per..(b + 1) * per];
        let (outs, _) = S::as_mut_simd_f32s(out);
        outs.copy_from_slice(sums);
        // The order maxima are taken in does not change the maximum of numbers (only
        // comparisons read it, for which -0 and 0 are equal).
        let max = sums.iter().fold(sums[0], |m, &v| simd.max_f32s(m, v));
        maxima.push(simd.reduce_max_f32s(max));
    }
}

/// `acc += q * row`, lane by lane: a multiply, then an add.
#[inline(always)]
fn add_row<S: pulp::Simd>(simd: S, acc: &mut [S::f32s], row: &[f32], q: S::f32s) {
    let (xs, _) = S::as_simd_f32s(row);
    for (a, &x) in acc.iter_mut().zip(xs) {
        *a = simd.add_f32s(*a, simd.mul_f32s(q, x));
    }
}

/// Independent sums in flight: enough that the adds' latency overlaps (each sum is still its own
/// chain in dimension order), few enough to stay in registers. A group is as many blocks as make
/// this many vectors.
const ACCUMULATORS: usize = 8;

/// Vectors a group's sums take: [`ACCUMULATORS`], or a whole block's in scalar lanes.
const SLOTS: usize = if BLOCK > ACCUMULATORS { BLOCK } else { ACCUMULATORS };

impl Score<'_> {
    /// Every whole group of `G` blocks, then the blocks left over one at a time.
    #[inline(always)]
    fn groups_of<S: pulp::Simd, const G: usize>(self, simd: S) {
        let Self { blocks, query, sims, maxima } = self;
        let span = blocks.dim * BLOCK;
        let whole = blocks.data.len() / (G * span) * G;
        let (grouped, rest) = blocks.data.split_at(whole * span);
        let (grouped_sums, rest_sums) = sims.split_at_mut(whole * BLOCK);
        for (group, sums) in grouped.chunks_exact(G * span).zip(grouped_sums.chunks_exact_mut(G * BLOCK)) {
            score_group::<S, G>(simd, group, span, query, sums, maxima);
        }
        for (block, sums) in rest.chunks_exact(span).zip(rest_sums.chunks_exact_mut(BLOCK)) {
            score_group::<S, 1>(simd, block, span, query, sums, maxima);
        }
    }
}

impl pulp::WithSimd for Score<'_> {
    type Output = ();

    #[inline(always)]
    fn with_simd<S: pulp::Simd>(self, simd: S) {
        // Blocks a group: `ACCUMULATORS` vectors' worth (a constant once `S` is known).
        match ACCUMULATORS * S::F32_LANES / BLOCK {
            0 | 1 => self.groups_of::<S, 1>(simd),
            2 | 3 => self.groups_of::<S, 2>(simd),
            4..=7 => self.groups_of::<S, 4>(simd),
            _ => self.groups_of::<S, 8>(simd),
        }
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
pub fn top_k(sims: &[f32], maxima: &[f32], k: usize, best: &mut Vec<(f32, u32)>, selected: &mut Vec<f32>) {
    best.clear();
    if k == 0 {
        return;
    }
    let bound = if maxima.len() > k { kth_largest(maxima, k, selected) } else { f32::NEG_INFINITY };
    for (b, block) in sims.chunks(BLOCK).enumerate() {
        if maxima[b] < bound {
            continue;
        }
        // The entries that reach the bound, as bits, found without a branch per entry; then a
        // turn of the loop for each, in index order.
        let mut bits =
            block.iter().enumerate().fold(0u32, |bits, (j, &sim)| bits | u32::from(reaches(sim, bound)) << j);
        while bits != 0 {
            let j = bits.trailing_zeros() as usize;
            bits &= bits - 1;
            let sim = block[j];
            if best.len() == k && sim <= best[k - 1].0 {
                continue;
            }
            // In the last place (the k-th's, once there are k), then up past every entry it
            // is more similar than: a few moves within `k`, not a search and a memory move.
            let entry = (sim, (b * BLOCK + j) as u32);
            if best.len() < k {
                best.push(entry);
            }
            let mut at = best.len() - 1;
            while at > 0 && !kept_before(best[at - 1].0, sim) {
                best[at] = best[at - 1];
                at -= 1;
            }
            best[at] = entry;
        }
    }
}

/// Up to this `k`, [`kth_largest`] keeps the largest values in registers.
const KEPT: usize = 8;

/// The `k`-th largest of `values` (more than `k` of them) in `f32::total_cmp`'s order.
///
/// For `k` up to [`KEPT`], the [`KEPT`] largest so far are kept as total-order keys, largest
/// first, and each value is passed down them through a max and a min: no branch on the values,
/// where a sort's comparisons go whichever way the values fall and lose to the branch
/// predictor. A larger `k` selects in `scratch`.
fn kth_largest(values: &[f32], k: usize, scratch: &mut Vec<f32>) -> f32 {
    debug_assert!(0 < k && k < values.len());
    if k > KEPT {
        scratch.clear();
        scratch.extend_from_slice(values);
        scratch.select_nth_unstable_by(k - 1, |a, b| b.total_cmp(a));
        return scratch[k - 1];
    }
    let mut kept = [i32::MIN; KEPT];
    for &value in values {
        let mut key = total_key(value);
        for slot in &mut kept {
            let larger = (*slot).max(key);
            key = (*slot).min(key);
            *slot = larger;
        }
    }
    from_total_key(kept[k - 1])
}

/// The integer that orders among others as `x` does by `f32::total_cmp` (its definition: the
/// bits, with a negative number's magnitude bits flipped).
fn total_key(x: f32) -> i32 {
    let bits = x.to_bits().cast_signed();
    bits ^ ((bits >> 31).cast_unsigned() >> 1).cast_signed()
}

/// The float of a [`total_key`] (the same flip undoes it).
fn from_total_key(key: i32) -> f32 {
    f32::from_bits((key ^ ((key >> 31).cast_unsigned() >> 1).cast_signed()).cast_unsigned())
}

/// Whether a kept entry of similarity `kept` stays before a newer one of `sim`.
fn kept_before(kept: f32, sim: f32) -> bool {
    kept >= sim
}

// A block's entries are the bits of a `u32` in [`top_k`].
const _: () = assert!(BLOCK <= 32);

/// Whether `sim` is not below `bound`; a NaN, below nothing, is not.
fn reaches(sim: f32, bound: f32) -> bool {
    sim >= bound || sim.is_nan()
}

/// Offer (`sim`, `index`) to `best`, the `k` largest so far ordered by similarity, largest first,
/// and then by index: entries may come in any index order (from several cells), and ties still go
/// to the older task.
pub fn offer(best: &mut Vec<(f32, u32)>, k: usize, sim: f32, index: u32) {
    let before = |&(s, i): &(f32, u32)| s > sim || (s == sim && i < index);
    if best.len() == k && best.last().is_some_and(before) {
        return;
    }
    let at = best.partition_point(before);
    if best.len() == k {
        best.pop();
    }
    best.insert(at, (sim, index));
}

/// The largest of a block's similarities.
#[must_use]
pub fn block_max(block: &[f32]) -> f32 {
    block.iter().fold(f32::NEG_INFINITY, |m, &s| if s > m { s } else { m })
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        #[test]
        fn top_k_is_a_full_sort_cut_to_k_with_ties_to_the_older(
            sims in proptest::collection::vec(0u8..6, 0..400),
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
            proptest::prop_assert_eq!(&best, &all);
            // Offered in any order, the same k.
            let mut offered = Vec::new();
            for (i, &s) in sims.iter().enumerate().rev() {
                offer(&mut offered, k, s, i as u32);
            }
            proptest::prop_assert_eq!(offered, all);
        }

        #[test]
        fn the_kth_largest_is_a_full_sort_by_total_order_at_k(
            values in proptest::collection::vec(proptest::prop_oneof![
                proptest::num::f32::ANY,
                proptest::sample::select(vec![0.0f32, -0.0, 1.0, -1.0, f32::NAN, -f32::NAN, f32::INFINITY, f32::NEG_INFINITY]),
            ], 2..60),
            k in 1usize..20,
        ) {
            proptest::prop_assume!(k < values.len());
            let mut sorted = values.clone();
            sorted.sort_by(|a, b| b.total_cmp(a));
            let kth = kth_largest(&values, k, &mut Vec::new());
            proptest::prop_assert_eq!(kth.to_bits(), sorted[k - 1].to_bits());
        }

        #[test]
        fn blocked_similarities_are_plain_dot_products(
            rows in proptest::collection::vec(proptest::collection::vec(-1.0f32..1.0, 5), 0..300),
            query in proptest::collection::vec(-1.0f32..1.0, 5),
        ) {
            let mut blocks = Blocks::new(5);
            for r in &rows {
                blocks.push(r);
            }
            let (mut sims, mut maxima) = (Vec::new(), Vec::new());
            blocks.similarities_into(&query, &mut sims, &mut maxima);
            let plain: Vec<f32> =
                rows.iter().map(|r| r.iter().zip(&query).fold(0.0f32, |s, (&x, &q)| s + q * x)).collect();
            proptest::prop_assert_eq!(sims.iter().map(|s| s.to_bits()).collect::<Vec<_>>(),
                plain.iter().map(|s| s.to_bits()).collect::<Vec<_>>());
            proptest::prop_assert_eq!(maxima.len(), rows.len().div_ceil(BLOCK));
            for (i, r) in rows.iter().enumerate() {
                proptest::prop_assert_eq!(&blocks.get(i), r);
            }
        }
    }
}
