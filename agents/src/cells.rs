//! The cells of the ledger of potential outcomes: what one agent would produce for one task.

/// Tokens of one or more model calls.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Usage {
    pub input: u64,
    pub output: u64,
}

impl Usage {
    #[must_use]
    pub const fn total(self) -> u64 {
        self.input + self.output
    }
}

impl std::ops::AddAssign for Usage {
    fn add_assign(&mut self, rhs: Self) {
        self.input += rhs.input;
        self.output += rhs.output;
    }
}

/// Whether a plan is an agent's first bid or its refinement from auction memory.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Round {
    Initial,
    Refined,
}

impl Round {
    #[must_use]
    pub const fn key(self) -> u64 {
        match self {
            Self::Initial => 0,
            Self::Refined => 1,
        }
    }
}

/// Identity of a text a live agent wrote (a plan), so that later prompts can quote it; 0 for
/// plans without text (the synthetic stand-ins').
pub type TextId = u64;

/// A plan (a bid) as written by its agent.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PlanCell {
    pub round: Round,
    /// Plan length in tokens, |s| in the paper.
    pub length: u32,
    /// Mean per-token entropy of the plan, H(s).
    pub entropy: f64,
    /// How much retrieved experience improved this plan, in latent units (0 for an initial
    /// plan). The synthetic source feeds it into execution; other sources may ignore it.
    pub boost: f64,
    /// Tokens of the call that wrote the plan.
    pub usage: Usage,
    /// The plan's text, for sources that have one.
    pub text: TextId,
    /// How the call went; a bid that is not [`Status::Answered`] cannot win on merit.
    pub status: Status,
    /// How long the call took when it was made, for a live model's call (also when answered
    /// from its cache or a replayed trace); `None` for stand-ins and recorded tables.
    pub seconds: Option<f64>,
}

impl PlanCell {
    /// Whether the plan is a bid at all (written, not failed, unparsed or declined).
    #[must_use]
    pub fn usable(&self) -> bool {
        self.status == Status::Answered
    }
}

/// How a cell's call went, for the record's accounting. Only [`Status::Failed`] is a failure.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Status {
    /// A reply that says what was asked: a plan, a score, an answer.
    #[default]
    Answered,
    /// The call succeeded but its reply held nothing of the kind asked for: a verdict without a
    /// score, an answer the check finds nothing in, an empty plan.
    Unparsed,
    /// The call failed after its retries, its reply was not a usable API answer, or a replayed
    /// trace lacked it.
    Failed,
    /// Nothing was asked, by design: a juror that cannot read the plan (a live juror and a
    /// stand-in's plan), an agent that cannot plan (a recorded one), a refinement with no
    /// lesson similar enough to quote.
    Abstained,
}

/// One juror's Likert score (0 to 5) of one plan.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct JuryCell {
    /// `Some` exactly when `status` is [`Status::Answered`].
    pub score: Option<u8>,
    pub status: Status,
    pub usage: Usage,
    /// How long the call took when it was made (live models; see [`PlanCell::seconds`]).
    pub seconds: Option<f64>,
}

impl JuryCell {
    /// A juror's score.
    #[must_use]
    pub const fn scored(score: u8, usage: Usage) -> Self {
        Self { score: Some(score), status: Status::Answered, usage, seconds: None }
    }

    /// No score, for `status`'s reason.
    #[must_use]
    pub const fn without_score(status: Status, usage: Usage) -> Self {
        Self { score: None, status, usage, seconds: None }
    }
}

impl Default for JuryCell {
    /// An abstention.
    fn default() -> Self {
        Self::without_score(Status::Abstained, Usage { input: 0, output: 0 })
    }
}

/// The result of an agent executing a task along a plan.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ExecutionCell {
    pub success: bool,
    /// Tokens of the whole trajectory.
    pub usage: Usage,
    /// What the call cost in dollars when the source knows it (a trace that records cost);
    /// otherwise the ledger prices `usage`.
    pub billed: Option<f64>,
    /// How the call went; `success` is false unless [`Status::Answered`].
    pub status: Status,
    /// How long the call took when it was made (live models; see [`PlanCell::seconds`]).
    pub seconds: Option<f64>,
}

/// One (losing plan, winning plan) pair retrieved from auction memory for a refinement.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct RetrievedPair {
    /// Cosine similarity of the past task to the current one.
    pub similarity: f32,
    pub losing_length: u32,
    pub winning_length: u32,
    /// Whether the winning plan's execution succeeded.
    pub winner_succeeded: bool,
    pub losing_text: TextId,
    pub winning_text: TextId,
}

/// What a refining agent draws on from auction memory.
#[derive(Clone, Copy, Debug, Default)]
pub struct Recall<'a> {
    /// From each of the `k` most similar past tasks, the (losing, winning) pair that involves
    /// one of the agent's plans, most similar first.
    pub pairs: &'a [RetrievedPair],
    /// Retrieval slots (SALE's `k`); fewer pairs than slots while memory is young.
    pub k: usize,
    /// The whole memory as it bears on the current task, for a source that reads more than the
    /// retrieved pairs (none: memory is empty).
    pub memory: Option<&'a dyn MemoryView>,
    /// A slot shared by every agent recalling for the same task, where a source may keep what
    /// it reads from the whole memory (it depends on the memory, not on the agent) so that it is
    /// computed once per task rather than once per refining agent.
    pub per_task: Option<&'a std::cell::OnceCell<f64>>,
}

/// The whole auction memory as it bears on one task, read on demand (an index computes it only
/// when a source asks).
pub trait MemoryView: std::fmt::Debug {
    /// The past tasks whose similarity to the task is above `floor` (an index may leave out
    /// those that are not).
    fn lessons(&self, floor: f64) -> Lessons<'_>;
}

/// Past tasks read from memory: each one's similarity to the current task and whether its
/// winner succeeded, in storage order. Every past task, or a sample in which each stands for
/// `weight` of them; of those, every one above the floor asked for, and perhaps others.
#[derive(Clone, Copy, Debug, Default)]
pub struct Lessons<'a> {
    pub similarities: &'a [f32],
    pub succeeded: &'a [bool],
    /// How many past tasks (or sampled ones) were read, those left out below the floor included.
    pub read: usize,
    pub weight: f64,
}

impl<'a> Lessons<'a> {
    /// Every past task in `similarities`, each standing for itself.
    #[must_use]
    pub fn every(similarities: &'a [f32], succeeded: &'a [bool]) -> Self {
        Self { similarities, succeeded, read: similarities.len(), weight: 1.0 }
    }

    /// The lessons these past tasks hold: each one above `floor` weighted by how far (rising
    /// linearly to 1 at similarity 1), and by `failed_weight` where its winner failed, the sum
    /// scaled by the tasks each entry stands for.
    #[must_use]
    pub fn count(&self, floor: f64, failed_weight: f64) -> f64 {
        // Past tasks at or below the floor weigh +0.0 and leave a sum of non-negative terms as
        // it is, so they are skipped (and an index may not even read them); only an empty
        // memory's sum is `-0.0`, as `Iterator::sum` gives. The same value to the bit as
        // summing every term (a proptest checks it).
        let mut sum = if self.read == 0 { -0.0 } else { 0.0 };
        let above = f32_above(floor);
        let n = self.similarities.len().min(self.succeeded.len());
        for (sims, succeeded) in self.similarities[..n].chunks(64).zip(self.succeeded[..n].chunks(64)) {
            // Which of these entries are above the floor, as bits, found without a branch per
            // entry (which way a similarity falls is a coin toss the branch predictor loses);
            // then a turn of the loop per entry that counts, in storage order.
            let mut bits = bits_above(sims, above);
            while bits != 0 {
                let j = bits.trailing_zeros() as usize;
                bits &= bits - 1;
                let weight = ((f64::from(sims[j]) - floor) / (1.0 - floor)).max(0.0);
                sum += weight * if succeeded[j] { 1.0 } else { failed_weight };
            }
        }
        // A sample's entries each stand for `weight` past tasks (1 when every one was read, and
        // then the product is the sum itself, to the bit).
        sum * self.weight
    }
}

/// Bit `j` set for each of (at most 64) `sims` above `above`: eight compared at once where
/// the CPU has AVX2.
fn bits_above(sims: &[f32], above: f32) -> u64 {
    debug_assert!(sims.len() <= 64);
    let portable = |sims: &[f32], from: usize| {
        sims.iter().enumerate().fold(0u64, |bits, (j, &sim)| bits | u64::from(sim > above) << (from + j))
    };
    #[cfg(target_arch = "x86_64")]
    if let Some(simd) = pulp::x86::V3::try_new() {
        return simd.vectorize(|| {
            let (eights, rest) = pulp::as_arrays::<8, f32>(sims);
            let threshold = simd.splat_f32x8(above);
            let mut bits = 0u64;
            for (i, &eight) in eights.iter().enumerate() {
                // The ordered comparison: a NaN is not above, as with `>`.
                let mask = simd.cmp_gt_f32x8(pulp::cast(eight), threshold);
                bits |= u64::from(simd.avx._mm256_movemask_ps(pulp::cast(mask)) as u8) << (8 * i);
            }
            bits | portable(rest, 8 * eights.len())
        });
    }
    portable(sims, 0)
}

/// The largest `f32` at or below `floor`: an `f32` similarity `s` is above `floor` (as an
/// `f64`) exactly when `s > f32_above(floor)`, so the test runs in `f32` lanes.
fn f32_above(floor: f64) -> f32 {
    let near = floor as f32;
    if f64::from(near) > floor { near.next_down() } else { near }
}

impl MemoryView for Lessons<'_> {
    fn lessons(&self, _floor: f64) -> Lessons<'_> {
        *self
    }
}

#[cfg(test)]
mod tests {
    use super::{bits_above, f32_above};

    #[test]
    fn the_bits_above_a_threshold_are_those_of_each_comparison() {
        // Values at, just around and far from the threshold, a NaN, and zeros of both signs.
        let above = 0.5f32;
        let values = [0.5, 0.5f32.next_up(), 0.5f32.next_down(), -1.0, 1.0, f32::NAN, 0.0, -0.0, 0.75, 0.25, 0.6];
        for n in 0..=64 {
            let sims: Vec<f32> = (0..n).map(|j| values[(j * 7 + n) % values.len()]).collect();
            let expected = sims.iter().enumerate().fold(0u64, |bits, (j, &s)| bits | u64::from(s > above) << j);
            assert_eq!(bits_above(&sims, above), expected, "{n} entries");
        }
    }

    #[test]
    fn an_f32_is_above_a_floor_exactly_when_it_is_above_its_f32_bound() {
        // Floors an f32 holds exactly, and floors it rounds up or down.
        for floor in
            [0.0, 0.5, 0.1, 0.3, 0.7, 0.99, 1.0 / 3.0, f64::from(0.6f32).next_up(), f64::from(0.6f32).next_down()]
        {
            let near = floor as f32;
            for s in [near.next_down().next_down(), near.next_down(), near, near.next_up(), near.next_up().next_up()] {
                assert_eq!(s > f32_above(floor), f64::from(s) > floor, "similarity {s} against floor {floor}");
            }
        }
    }
}
