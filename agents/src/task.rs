//! Tasks as the market sees them.

/// One task of the stream.
#[derive(Clone, Debug, PartialEq)]
pub struct Task {
    /// Identity within the episode's task set (stable across arrival orders).
    pub id: u32,
    /// Index of the task's domain in the workload.
    pub domain: u16,
    /// Index of the task's complexity bin within its domain.
    pub bin: u8,
    /// Human solving time in minutes.
    pub tau: f64,
    /// Topic cluster, unique across domains.
    pub topic: u32,
    /// Unit-norm embedding of the task description, for memory retrieval.
    pub embedding: Box<[f32]>,
    /// What solving the task is worth, in dollars (for welfare).
    pub value: f64,
}

/// Cosine similarity of two unit-norm embeddings.
#[must_use]
#[inline]
pub fn cosine(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}
