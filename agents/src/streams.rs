//! Named random streams.
//!
//! Every random quantity in Tender is drawn from a stream keyed by the episode seed, a purpose and
//! the identities it belongs to (task, agent, ...). Keys are mixed with splitmix64 and seed a
//! portable Xoshiro256++ generator, so a draw depends only on its key: never on how many other
//! draws came before it, which mechanism asked, or which thread runs the episode.

use std::convert::Infallible;

use rand::{Rng, SeedableRng, TryRng};
use rand_xoshiro::Xoshiro256PlusPlus;

/// The portable generator behind every stream.
pub type StreamRng = Xoshiro256PlusPlus;

/// What one of the stand-in model's (or the engine's own) streams is for. The discriminant is part
/// of the key, so values must never be reused. Mechanisms declare their streams as [`Stream`]s in
/// their own files.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u64)]
pub enum Purpose {
    /// A task's shared difficulty (the part of success common to all agents).
    Difficulty = 1,
    /// An agent's affinity for a topic.
    TopicFit = 2,
    /// An agent's idiosyncratic fit to one task, and its trace-length noise.
    Fit = 3,
    /// A plan's own noise (length, entropy, the jury's shared impression), per round.
    Plan = 4,
    /// One juror's noise when scoring one plan.
    Jury = 5,
    /// A task's attributes (complexity within its bin, topic, embedding noise).
    TaskAttributes = 6,
    /// A topic's centroid in embedding space.
    TopicCentroid = 7,
    /// The order in which tasks arrive.
    Order = 8,
    // 9, 10 and 11 were the random allocator's, the cascade scorer's and Ranking's streams,
    // which their mechanisms now declare as `Stream::numbered` in their own files.
    /// A random or Latin-hypercube sweep design.
    SweepDesign = 12,
    /// Whether a topic is one on which smaller agents beat larger ones.
    Complementary = 13,
    /// A topic's difficulty (the part of success common to all agents on the topic).
    TopicDifficulty = 14,
    /// Whether a task's complementarity is its own rather than its topic's, and if so which.
    ComplementaryTask = 15,
}

/// splitmix64's finaliser: a bijective mix of 64 bits.
#[must_use]
pub const fn splitmix64(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// Seed of replication `index` of a run with base seed `base`.
#[must_use]
pub const fn episode_seed(base: u64, index: u64) -> u64 {
    splitmix64(splitmix64(base) ^ index.wrapping_mul(0xD1B5_4A32_D192_ED03))
}

/// A stable 64-bit identity for a name (FNV-1a), so that draws keyed by an agent follow the agent,
/// not its position in the pool: adding an agent leaves every other agent's draws unchanged.
#[must_use]
pub const fn name_key(name: &str) -> u64 {
    let bytes = name.as_bytes();
    let mut h: u64 = 0xCBF2_9CE4_8422_2325;
    let mut i = 0;
    while i < bytes.len() {
        h ^= bytes[i] as u64;
        h = h.wrapping_mul(0x0000_0100_0000_01B3);
        i += 1;
    }
    h
}

/// A random stream a mechanism declares in its own file, e.g.
/// `const SAMPLES: Stream = Stream::named("bandit.thompson");`. Its draws are keyed like every
/// other stream's (episode seed, the stream, then the identities passed to [`Stream::rng`]), so
/// they replay exactly and never shift another stream's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stream(u64);

impl Stream {
    /// A stream keyed by its name (FNV-1a): names must be unique across mechanisms, so prefix
    /// them with the mechanism's.
    #[must_use]
    pub const fn named(name: &str) -> Self {
        Self(name_key(name))
    }

    /// A stream keyed by a small number: the streams mechanisms had before they could name them
    /// (9, 10, 11) keep their keys, so their draws stay as they were.
    #[must_use]
    pub const fn numbered(key: u64) -> Self {
        Self(key)
    }

    /// The generator for these identities (task, agent, ...) in an episode.
    #[must_use]
    pub fn rng(self, episode_seed: u64, ids: &[u64]) -> StreamRng {
        seeded(mix(episode_seed, self.0, ids))
    }
}

fn mix(episode_seed: u64, key: u64, ids: &[u64]) -> u64 {
    let mut h = splitmix64(episode_seed ^ splitmix64(key));
    for &id in ids {
        h = splitmix64(h ^ id);
    }
    h
}

/// The seed of the stream with this key.
#[must_use]
pub fn stream_seed(episode_seed: u64, purpose: Purpose, ids: &[u64]) -> u64 {
    mix(episode_seed, purpose as u64, ids)
}

/// The first identities of stream keys that share them, mixed once: `prefix.rng(&rest)` is the
/// stream `stream(episode_seed, purpose, &[first.., rest..])`, for keys that differ only at
/// their end (one plan's jurors).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KeyPrefix(u64);

impl KeyPrefix {
    #[must_use]
    pub fn new(episode_seed: u64, purpose: Purpose, first: &[u64]) -> Self {
        Self(stream_seed(episode_seed, purpose, first))
    }

    /// The generator of the stream keyed by the prefix followed by `rest`.
    #[must_use]
    pub fn rng(self, rest: &[u64]) -> StreamRng {
        seeded(self.seed(rest))
    }

    /// The same stream as [`KeyPrefix::rng`], for a draw that mostly reads one word.
    #[must_use]
    pub fn lazy(self, rest: &[u64]) -> LazyStream {
        LazyStream::new(self.seed(rest))
    }

    fn seed(self, rest: &[u64]) -> u64 {
        rest.iter().fold(self.0, |h, &id| splitmix64(h ^ id))
    }
}

/// The generator of the stream with this key.
#[must_use]
pub fn stream(episode_seed: u64, purpose: Purpose, ids: &[u64]) -> StreamRng {
    seeded(stream_seed(episode_seed, purpose, ids))
}

/// The same stream as [`stream`], for a draw that mostly reads one word.
#[must_use]
pub fn lazy_stream(episode_seed: u64, purpose: Purpose, ids: &[u64]) -> LazyStream {
    LazyStream::new(stream_seed(episode_seed, purpose, ids))
}

/// The stream of a seed, its state filled in only when a second word is asked for.
///
/// Most streams give one normal draw (a juror's noise, a task's difficulty), and the ziggurat
/// reads one word for it about 99% of the time. Xoshiro256++'s first word depends on only two of
/// its four state words, which are two of the four splitmix64 outputs seeding makes; the other
/// two, and the state update, are needed only for a second word. Every word is the
/// [`StreamRng`]'s of the same seed, to the bit.
#[derive(Clone, Debug)]
pub struct LazyStream(Lazy);

#[derive(Clone, Debug)]
enum Lazy {
    /// Nothing read yet.
    Fresh(u64),
    /// The first word read, from the seed's first and last state words.
    Started(u64),
    /// The generator, past every word read.
    Full(StreamRng),
}

impl LazyStream {
    #[must_use]
    pub const fn new(seed: u64) -> Self {
        Self(Lazy::Fresh(seed))
    }

    /// The full generator at the stream's current position.
    fn full(&mut self) -> &mut StreamRng {
        match self.0 {
            Lazy::Fresh(seed) => self.0 = Lazy::Full(seeded(seed)),
            Lazy::Started(seed) => {
                let mut rng = seeded(seed);
                rng.next_u64();
                self.0 = Lazy::Full(rng);
            }
            Lazy::Full(_) => {}
        }
        match &mut self.0 {
            Lazy::Full(rng) => rng,
            // Not input-dependent: the match above left the state full.
            Lazy::Fresh(_) | Lazy::Started(_) => unreachable!("the stream was just filled in"),
        }
    }
}

impl TryRng for LazyStream {
    type Error = Infallible;

    #[inline]
    fn try_next_u32(&mut self) -> Result<u32, Infallible> {
        // As Xoshiro256++ does: the upper bits of a word.
        Ok((self.try_next_u64()? >> 32) as u32)
    }

    #[inline]
    fn try_next_u64(&mut self) -> Result<u64, Infallible> {
        if let Lazy::Fresh(seed) = self.0 {
            self.0 = Lazy::Started(seed);
            // Xoshiro256++'s output, rotl(s0 + s3, 23) + s0, with s0 and s3 as `seeded` fills them.
            let s0 = splitmix64(seed);
            let s3 = splitmix64(seed.wrapping_add(SEED_STEP.wrapping_mul(3)));
            return Ok(s0.wrapping_add(s3).rotate_left(23).wrapping_add(s0));
        }
        Ok(self.full().next_u64())
    }

    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), Infallible> {
        self.full().fill_bytes(dest);
        Ok(())
    }
}

/// The increment between the splitmix64 outputs that seed a generator.
const SEED_STEP: u64 = 0x9E37_79B9_7F4A_7C15;

/// `StreamRng::seed_from_u64(seed)`, to the bit, without its byte-by-byte path: rand_xoshiro
/// fills the 32-byte seed with four successive SplitMix64 outputs, little-endian, which are
/// [`splitmix64`] of the seed advanced by its increment. Streams are made tens of times per
/// task, so this shows.
#[must_use]
#[inline]
fn seeded(seed: u64) -> StreamRng {
    let mut bytes = [0u8; 32];
    for (i, word) in bytes.chunks_exact_mut(8).enumerate() {
        word.copy_from_slice(&splitmix64(seed.wrapping_add(SEED_STEP.wrapping_mul(i as u64))).to_le_bytes());
    }
    StreamRng::from_seed(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::Rng;

    #[test]
    fn streams_depend_on_every_part_of_the_key() {
        let base = stream_seed(7, Purpose::Fit, &[1, 2]);
        assert_ne!(base, stream_seed(8, Purpose::Fit, &[1, 2]));
        assert_ne!(base, stream_seed(7, Purpose::Plan, &[1, 2]));
        assert_ne!(base, stream_seed(7, Purpose::Fit, &[2, 1]));
        assert_ne!(base, stream_seed(7, Purpose::Fit, &[1, 2, 0]));
        assert_eq!(base, stream_seed(7, Purpose::Fit, &[1, 2]));
    }

    #[test]
    fn a_numbered_stream_keys_like_the_purpose_of_that_number() {
        let mut a = Stream::numbered(Purpose::Jury as u64).rng(3, &[4, 5]);
        let mut b = stream(3, Purpose::Jury, &[4, 5]);
        assert_eq!(a.next_u64(), b.next_u64());
        assert_ne!(Stream::named("a.x"), Stream::named("b.x"));
    }

    #[test]
    fn a_stream_replays_exactly() {
        let mut a = stream(3, Purpose::Jury, &[4, 5]);
        let mut b = stream(3, Purpose::Jury, &[4, 5]);
        for _ in 0..100 {
            assert_eq!(a.next_u64(), b.next_u64());
        }
    }

    #[test]
    fn episode_seeds_are_distinct() {
        let seeds: std::collections::BTreeSet<u64> = (0..10_000).map(|i| episode_seed(42, i)).collect();
        assert_eq!(seeds.len(), 10_000);
    }

    #[test]
    fn splitmix_matches_reference_values() {
        // First outputs of the reference splitmix64 generator seeded with 0 are
        // splitmix64(0), splitmix64(golden), ...; the finaliser of 0 is a fixed constant.
        assert_eq!(splitmix64(0), 0xE220_A839_7B1D_CDAF);
    }

    proptest::proptest! {
        #[test]
        fn seeded_streams_are_rand_xoshiros_own(seed in proptest::num::u64::ANY) {
            proptest::prop_assert_eq!(seeded(seed), StreamRng::seed_from_u64(seed));
        }
    }

    #[test]
    fn seeded_streams_match_at_the_edges() {
        for seed in [0, 1, u64::MAX, 0x9E37_79B9_7F4A_7C15, 0x61C8_8646_80B5_83EB] {
            assert_eq!(seeded(seed), StreamRng::seed_from_u64(seed));
        }
    }

    proptest::proptest! {
        #[test]
        fn a_lazy_stream_is_the_stream(seed in proptest::num::u64::ANY, words in 0usize..6, bytes in 0usize..20) {
            let mut lazy = LazyStream::new(seed);
            let mut rng = seeded(seed);
            for _ in 0..words {
                proptest::prop_assert_eq!(lazy.next_u64(), rng.next_u64());
            }
            let (mut a, mut b) = (vec![0u8; bytes], vec![0u8; bytes]);
            lazy.fill_bytes(&mut a);
            rng.fill_bytes(&mut b);
            proptest::prop_assert_eq!(a, b);
            proptest::prop_assert_eq!(lazy.next_u32(), rng.next_u32());
            proptest::prop_assert_eq!(lazy.next_u64(), rng.next_u64());
        }

        #[test]
        fn a_lazy_normal_is_the_streams(seed in proptest::num::u64::ANY) {
            use rand::RngExt;
            let draw: f64 = LazyStream::new(seed).sample(rand_distr::StandardNormal);
            proptest::prop_assert_eq!(draw.to_bits(), seeded(seed).sample::<f64, _>(rand_distr::StandardNormal).to_bits());
        }
    }

    #[test]
    fn a_lazy_stream_reads_its_first_u32_as_the_stream_does() {
        for seed in [0, 1, u64::MAX] {
            assert_eq!(LazyStream::new(seed).next_u32(), seeded(seed).next_u32());
        }
    }

    #[test]
    fn a_key_prefix_continues_the_key() {
        let prefix = KeyPrefix::new(7, Purpose::Jury, &[1, 2]);
        assert_eq!(prefix.rng(&[3, 4]), stream(7, Purpose::Jury, &[1, 2, 3, 4]));
        assert_eq!(prefix.rng(&[]), stream(7, Purpose::Jury, &[1, 2]));
        assert_eq!(prefix.lazy(&[3, 4]).next_u64(), stream(7, Purpose::Jury, &[1, 2, 3, 4]).next_u64());
        assert_eq!(lazy_stream(7, Purpose::Jury, &[1]).next_u64(), stream(7, Purpose::Jury, &[1]).next_u64());
    }
}
