//! A fixed-size, deterministic sample of the auction memory, from which a stand-in counts the
//! lessons memory holds for a task once memory outgrows what can be read in full.
//!
//! Counting lessons means summing over every past task whose similarity to the current one
//! clears a floor: a half-space range sum, which no index answers in sub-linear time in more
//! than a few dimensions. Reading every past task makes a stream quadratic, so past `capacity`
//! entries the count is read from a sample: entry `i` is kept at level `j` when the top `j`
//! bits of a hash of `i` are zero (probability `2^-j`, independently of the embeddings and
//! outcomes), the level rising by one whenever the sample outgrows its capacity, and each kept
//! entry standing for `2^j`. The estimate is unbiased; up to `capacity` entries it is every
//! entry in storage order, so the count is the full scan's to the bit.

use tender_agents::streams::splitmix64;

use super::blocks::Blocks;

/// The hash that decides which entries a sample keeps (a fixed key: which entries stand for the
/// rest is a design of the index, not a draw of the simulation).
const SAMPLE_KEY: u64 = 0x5A4D_504C_4553_534E;

#[derive(Clone, Debug)]
pub struct LessonSample {
    capacity: usize,
    level: u32,
    /// Storage index of each kept entry, ascending.
    kept: Vec<u32>,
    embeddings: Blocks,
    succeeded: Vec<bool>,
}

/// The kept entries above a floor, for one query ([`LessonSample::above_into`]).
#[derive(Clone, Debug, Default)]
pub struct Above {
    /// The floor they are above.
    pub floor: f64,
    pub similarities: Vec<f32>,
    pub succeeded: Vec<bool>,
    /// Every kept entry's similarity, and the kernel's block maxima.
    all: Vec<f32>,
    maxima: Vec<f32>,
}

/// The largest `f32` at or below `floor`: an `f32` is above `floor` exactly when it is above
/// this (any `f32` above it is at least the next one, which is above `floor`), so the comparison
/// is made in `f32`, eight to a vector register.
fn below_or_at(floor: f64) -> f32 {
    let t = floor as f32;
    if f64::from(t) > floor { t.next_down() } else { t }
}

/// Bit `j` set where `chunk[j] > t`, for up to 64 entries; eight at a time, a pattern the
/// compiler turns into vector comparisons and a mask move.
fn mask_above(chunk: &[f32], t: f32) -> u64 {
    let mut mask = 0u64;
    let mut eights = chunk.chunks_exact(8);
    for (e, eight) in eights.by_ref().enumerate() {
        let byte = eight.iter().enumerate().fold(0u8, |m, (j, &s)| m | u8::from(s > t) << j);
        mask |= u64::from(byte) << (8 * e);
    }
    let done = chunk.len() - eights.remainder().len();
    for (j, &s) in eights.remainder().iter().enumerate() {
        mask |= u64::from(s > t) << (done + j);
    }
    mask
}

impl LessonSample {
    #[must_use]
    pub fn new(dim: usize, capacity: usize) -> Self {
        Self {
            capacity: capacity.max(1),
            level: 0,
            kept: Vec::new(),
            embeddings: Blocks::new(dim),
            succeeded: Vec::new(),
        }
    }

    fn keeps(level: u32, index: u32) -> bool {
        level == 0 || splitmix64(u64::from(index) ^ SAMPLE_KEY) >> (64 - level) == 0
    }

    /// Offer the entry stored at `index`.
    pub fn store(&mut self, index: u32, embedding: &[f32], succeeded: bool) {
        if !Self::keeps(self.level, index) {
            return;
        }
        self.kept.push(index);
        self.embeddings.push(embedding);
        self.succeeded.push(succeeded);
        while self.kept.len() > self.capacity {
            self.level += 1;
            let mut embeddings = Blocks::new(self.embeddings.dim());
            let (mut kept, mut succeeded) = (Vec::new(), Vec::new());
            for (at, &i) in self.kept.iter().enumerate() {
                if Self::keeps(self.level, i) {
                    kept.push(i);
                    embeddings.push(&self.embeddings.get(at));
                    succeeded.push(self.succeeded[at]);
                }
            }
            (self.kept, self.embeddings, self.succeeded) = (kept, embeddings, succeeded);
        }
    }

    /// How many past tasks each kept entry stands for.
    #[must_use]
    pub fn weight(&self) -> f64 {
        f64::from(self.level).exp2()
    }

    /// Whether each kept entry's winner succeeded, in storage order.
    #[must_use]
    pub fn succeeded(&self) -> &[bool] {
        &self.succeeded
    }

    /// Each kept entry's similarity to `query`, in storage order.
    pub fn similarities_into(&self, query: &[f32], sims: &mut Vec<f32>, scratch: &mut Vec<f32>) {
        self.embeddings.similarities_into(query, sims, scratch);
    }

    /// The kept entries whose similarity to `query` is above `floor`, each with its similarity
    /// and whether its winner succeeded, in storage order, into `out`. Compared 64 at a time
    /// into a mask whose set bits are then read, where a branch per entry would be mispredicted
    /// (most entries are below, and which ones is no pattern).
    pub fn above_into(&self, query: &[f32], floor: f64, out: &mut Above) {
        self.similarities_into(query, &mut out.all, &mut out.maxima);
        out.floor = floor;
        out.similarities.clear();
        out.succeeded.clear();
        let (all, below) = (&out.all[..self.len()], below_or_at(floor));
        for (c, chunk) in all.chunks(64).enumerate() {
            let mut above = mask_above(chunk, below);
            while above != 0 {
                let i = c * 64 + above.trailing_zeros() as usize;
                above &= above - 1;
                out.similarities.push(all[i]);
                out.succeeded.push(self.succeeded[i]);
            }
        }
    }

    #[must_use]
    pub fn len(&self) -> usize {
        self.kept.len()
    }

    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.kept.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sample_is_everything_up_to_capacity_then_stays_within_it() {
        let mut s = LessonSample::new(2, 64);
        for i in 0..64 {
            s.store(i, &[1.0, 0.0], i % 2 == 0);
        }
        assert_eq!((s.len(), s.weight()), (64, 1.0));
        for i in 64..10_000 {
            s.store(i, &[1.0, 0.0], i % 2 == 0);
            assert!(s.len() <= 64);
        }
        // About 10,000 / weight kept, and the estimate of the count near the truth.
        let estimate = s.len() as f64 * s.weight();
        assert!((estimate - 10_000.0).abs() < 0.5 * 10_000.0, "{estimate} from {} at {}", s.len(), s.weight());
        assert!(s.weight() >= 128.0);
        let ok = s.succeeded().iter().filter(|&&b| b).count() as f64 * s.weight();
        assert!((ok - 5_000.0).abs() < 0.5 * 5_000.0, "{ok}");
    }

    #[test]
    fn kept_entries_are_in_storage_order_with_their_embeddings() {
        let mut s = LessonSample::new(1, 8);
        for i in 0..100u32 {
            s.store(i, &[i as f32], true);
        }
        let (mut sims, mut scratch) = (Vec::new(), Vec::new());
        s.similarities_into(&[1.0], &mut sims, &mut scratch);
        let kept: Vec<u32> = sims.iter().map(|&x| x as u32).collect();
        assert_eq!(kept, s.kept);
        assert!(kept.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn the_entries_above_a_floor_are_those_of_every_similarity_above_it_in_order() {
        let mut s = LessonSample::new(2, 1000);
        for i in 0..300u32 {
            let angle = f64::from(i) * 0.37;
            s.store(i, &[angle.cos() as f32, angle.sin() as f32], i % 3 == 0);
        }
        let (mut sims, mut scratch, mut above) = (Vec::new(), Vec::new(), Above::default());
        s.similarities_into(&[0.6, 0.8], &mut sims, &mut scratch);
        for floor in [-2.0, 0.0, 0.5, 0.99, 2.0] {
            s.above_into(&[0.6, 0.8], floor, &mut above);
            let expected: Vec<(f32, bool)> = sims
                .iter()
                .zip(s.succeeded())
                .filter(|&(&x, _)| f64::from(x) > floor)
                .map(|(&x, &ok)| (x, ok))
                .collect();
            let found: Vec<(f32, bool)> =
                above.similarities.iter().copied().zip(above.succeeded.iter().copied()).collect();
            assert_eq!(found, expected, "floor {floor}");
        }
    }

    proptest::proptest! {
        /// The comparison in `f32` is the one in `f64`, at floors between two `f32`s and on one.
        #[test]
        fn the_f32_mask_is_the_f64_comparison(
            sims in proptest::collection::vec(-1.0f32..1.0, 0..64),
            floor in -1.0f64..1.0,
            on_a_sim in proptest::bool::ANY,
        ) {
            let floor = match sims.first() {
                Some(&s) if on_a_sim => f64::from(s),
                _ => floor,
            };
            let mask = mask_above(&sims, below_or_at(floor));
            for (j, &s) in sims.iter().enumerate() {
                proptest::prop_assert_eq!(mask >> j & 1 == 1, f64::from(s) > floor, "{} against {}", s, floor);
            }
            proptest::prop_assert!(sims.len() == 64 || mask >> sims.len() == 0, "no bit past the entries");
        }
    }

    #[test]
    fn the_f32_floor_is_the_largest_at_or_below() {
        for floor in [0.5, 0.1, -0.1, 1.0 / 3.0, 0.99, -2.0] {
            let t = below_or_at(floor);
            assert!(f64::from(t) <= floor && f64::from(t.next_up()) > floor, "{floor}");
        }
    }
}
