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

#[cfg(test)]
use crate::streams::name_key;

/// FNV-1a over several byte strings, as if concatenated (the same as [`name_key`] of their
/// concatenation), without building it.
fn fnv(parts: &[&[u8]]) -> u64 {
    let mut h: u64 = 0xCBF2_9CE4_8422_2325;
    for part in parts {
        for &b in *part {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0000_0100_0000_01B3);
        }
    }
    h
}

/// Hashed features of one text, with their counts.
fn features(text: &str) -> BTreeMap<u64, u32> {
    let lower = text.to_lowercase();
    let words: Vec<&str> = lower.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()).collect();
    let mut counts = BTreeMap::new();
    let mut add = |key: u64| *counts.entry(key).or_insert(0) += 1;
    let mut padded = Vec::new();
    for w in &words {
        add(fnv(&[b"w:", w.as_bytes()]));
        // Byte offsets of the characters of "#word#".
        padded.clear();
        padded.push(0);
        padded.extend(w.char_indices().map(|(i, _)| i + 1));
        padded.push(w.len() + 1);
        padded.push(w.len() + 2);
        let framed = [b"#", w.as_bytes(), b"#"].concat();
        for window in padded.windows(4) {
            add(fnv(&[b"c:", &framed[window[0]..window[3]]]));
        }
    }
    for pair in words.windows(2) {
        add(fnv(&[b"b:", pair[0].as_bytes(), b" ", pair[1].as_bytes()]));
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
    fn features_hash_like_their_strings() {
        assert_eq!(fnv(&[b"w:", b"cat"]), name_key("w:cat"));
        let f = features("Cat");
        for key in ["w:cat", "c:#ca", "c:cat", "c:at#"] {
            assert_eq!(f.get(&name_key(key)), Some(&1), "{key}");
        }
        assert_eq!(f.len(), 4);
        assert!(features("naïve café").len() > 4, "multi-byte characters make trigrams too");
    }

    #[test]
    fn embeddings_do_not_depend_on_listing_order() {
        let a = hashed_tfidf(&["alpha beta", "beta gamma", "delta"], 64);
        let b = hashed_tfidf(&["delta", "beta gamma", "alpha beta"], 64);
        assert_eq!(a[0], b[2]);
        assert_eq!(a[2], b[0]);
    }
}
