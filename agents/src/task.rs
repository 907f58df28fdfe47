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
///
/// Eight independent partial sums let the compiler vectorise the loop (a single running sum
/// cannot be reordered); the summation order is fixed, so the result is still deterministic.
#[must_use]
#[inline]
pub fn cosine(a: &[f32], b: &[f32]) -> f32 {
    const LANES: usize = 8;
    let mut acc = [0.0f32; LANES];
    let (ca, cb) = (a.chunks_exact(LANES), b.chunks_exact(LANES));
    let tail: f32 = ca.remainder().iter().zip(cb.remainder()).map(|(x, y)| x * y).sum();
    for (x, y) in ca.zip(cb) {
        for i in 0..LANES {
            acc[i] += x[i] * y[i];
        }
    }
    let [a0, a1, a2, a3, a4, a5, a6, a7] = acc;
    ((a0 + a4) + (a1 + a5)) + ((a2 + a6) + (a3 + a7)) + tail
}

#[cfg(test)]
mod tests {
    use super::cosine;

    #[test]
    fn cosine_is_the_dot_product() {
        let a: Vec<f32> = (0..19).map(|i| i as f32 * 0.1).collect();
        let b: Vec<f32> = (0..19).map(|i| 1.0 - i as f32 * 0.05).collect();
        let naive: f32 = a.iter().zip(&b).map(|(x, y)| x * y).sum();
        assert!((cosine(&a, &b) - naive).abs() < 1e-5);
    }
}
