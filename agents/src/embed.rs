//! Task embeddings from text, for memory retrieval and routers, when no embedding server is
//! configured: hashed n-gram TF-IDF.
//!
//! Each text is lower-cased and split into words; its features are the words, the word
//! bigrams and the character trigrams of each word (`#` marks word boundaries, so "cat" gives
//! `#ca`, `cat`, `at#`). A feature's weight is `(1 + ln tf) * idf`, with the smoothed
//! `idf = ln((1 + n) / (1 + df)) + 1` over the task set, and it is added, with a sign, to bucket
//! `h mod dim` of a 64-bit FNV-1a hash `h` (the sign from another bit of the same hash, so
//! collisions cancel on average). The vector is then scaled to unit length, so the cosine of two
//! tasks is their dot product. The result depends only on the task set's texts, never on the
//! order they are listed in.

use std::collections::BTreeMap;

use crate::streams::name_key;

/// Hashed features of one text, with their counts.
fn features(text: &str) -> BTreeMap<u64, u32> {
    let lower = text.to_lowercase();
    let words: Vec<&str> = lower.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()).collect();
    let mut counts = BTreeMap::new();
    let mut add = |feature: &str| *counts.entry(name_key(feature)).or_insert(0) += 1;
    for w in &words {
        add(&format!("w:{w}"));
        let padded: Vec<char> = format!("#{w}#").chars().collect();
        for gram in padded.windows(3) {
            add(&format!("c:{}", gram.iter().collect::<String>()));
        }
    }
    for pair in words.windows(2) {
        add(&format!("b:{} {}", pair[0], pair[1]));
    }
    counts
}

/// Unit-length embeddings of `texts`, `dim` components each.
#[must_use]
pub fn hashed_tfidf(texts: &[&str], dim: usize) -> Vec<Vec<f32>> {
    let dim = dim.max(1);
    let per_text: Vec<BTreeMap<u64, u32>> = texts.iter().map(|t| features(t)).collect();
    let mut df: BTreeMap<u64, u32> = BTreeMap::new();
    for f in &per_text {
        for key in f.keys() {
            *df.entry(*key).or_insert(0) += 1;
        }
    }
    let n = texts.len() as f64;
    per_text
        .iter()
        .map(|f| {
            let mut v = vec![0.0f64; dim];
            for (key, &tf) in f {
                let idf = ((1.0 + n) / (1.0 + f64::from(df[key]))).ln() + 1.0;
                let sign = if key >> 63 == 1 { -1.0 } else { 1.0 };
                v[(key % dim as u64) as usize] += sign * (1.0 + f64::from(tf).ln()) * idf;
            }
            let norm = v.iter().map(|x| x * x).sum::<f64>().sqrt();
            v.iter().map(|x| if norm > 0.0 { (x / norm) as f32 } else { 0.0 }).collect()
        })
        .collect()
}

/// Scale `v` to unit length (a zero vector stays zero).
#[must_use]
pub fn unit(v: &[f32]) -> Vec<f32> {
    let norm = v.iter().map(|x| f64::from(*x) * f64::from(*x)).sum::<f64>().sqrt();
    v.iter().map(|x| if norm > 0.0 { (f64::from(*x) / norm) as f32 } else { 0.0 }).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::task::cosine;

    #[test]
    fn similar_texts_are_closer_than_unrelated_ones() {
        let texts = [
            "How many eggs does the duck lay per day if it lays 16 eggs?",
            "A duck lays 12 eggs per day. How many eggs in a week?",
            "Write a Python function that reverses a linked list.",
        ];
        let e = hashed_tfidf(&texts, 256);
        assert!((cosine(&e[0], &e[0]) - 1.0).abs() < 1e-5);
        assert!(cosine(&e[0], &e[1]) > cosine(&e[0], &e[2]) + 0.1);
    }

    #[test]
    fn embeddings_do_not_depend_on_listing_order() {
        let a = hashed_tfidf(&["alpha beta", "beta gamma", "delta"], 64);
        let b = hashed_tfidf(&["delta", "beta gamma", "alpha beta"], 64);
        assert_eq!(a[0], b[2]);
        assert_eq!(a[2], b[0]);
    }
}
