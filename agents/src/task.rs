//! Tasks as the market sees them.

use std::sync::Arc;

use crate::answer::AnswerCheck;

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
    /// The task's text and reference answer, for tasks read from a file (live and recorded
    /// agents need them); `None` for synthetic tasks.
    pub content: Option<Arc<TaskContent>>,
}

/// A real task: what an agent reads, and how its answer is checked.
#[derive(Clone, Debug, PartialEq)]
pub struct TaskContent {
    /// The task's identity in its file (its `id`, or its line), unique within the file.
    pub key: String,
    pub text: String,
    pub reference: String,
    pub check: AnswerCheck,
    /// When the task arrives, in seconds, if its file says (`arrivals: FromTasks`).
    pub arrival: Option<f64>,
}

/// Cosine similarity of two unit-norm embeddings.
#[must_use]
#[inline]
pub fn cosine(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}
