//! Keeping one part of a task file, for split-sample checks: calibrate stand-ins on one part of a
//! recorded table, predict the other.
//!
//! Units (whole topics, or single tasks) are ranked by a seeded hash of their name and dealt into
//! `parts` parts of as near equal numbers of units as can be; the assignment depends only on the
//! seed and the names, never on the file's order, so part 0 and part 1 of the same split are
//! disjoint and together hold every task (tested).

use serde::{Deserialize, Serialize};

use crate::streams::{name_key, splitmix64};
use crate::validate::Checker;

/// One part of a task file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Split {
    /// What stays together: a whole topic (an MMLU subject), or each task on its own.
    pub by: SplitBy,
    /// The part kept, counted from 0.
    pub part: u32,
    /// How many parts the file is divided into.
    #[serde(default = "two")]
    pub parts: u32,
    /// Seed of the assignment.
    #[serde(default)]
    pub seed: u64,
}

const fn two() -> u32 {
    2
}

/// The unit a split deals out.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum SplitBy {
    /// Every task of a topic on the same side (tasks without a topic count their domain as one):
    /// a prediction across topics the calibration never saw.
    Topic,
    /// Tasks one by one, by their ids.
    Task,
}

impl Split {
    pub fn check(&self, c: &mut Checker) {
        c.count("parts", self.parts.into(), 2, 1_000);
        c.require(
            self.part < self.parts,
            "part",
            self.part,
            &format!("must be below `parts` ({}); parts count from 0", self.parts),
        );
    }

    /// Which rows the kept part holds, given each row's topic (its domain when it has none)
    /// and its id.
    #[must_use]
    pub fn keep<'a>(&self, rows: &[(&'a str, &'a str)]) -> Vec<bool> {
        let by = self.by;
        let unit = move |&(topic, id): &(&'a str, &'a str)| -> &'a str {
            match by {
                SplitBy::Topic => topic,
                SplitBy::Task => id,
            }
        };
        let mut units: Vec<&str> = rows.iter().map(unit).collect();
        units.sort_unstable();
        units.dedup();
        let rank = |u: &str| splitmix64(self.seed ^ name_key(u));
        units.sort_by_key(|u| (rank(u), *u));
        // Unit i of n goes to part floor(i * parts / n): parts differ in size by at most one unit.
        let n = units.len() as u64;
        let part_of = |u: &str| {
            let i = units.binary_search_by_key(&(rank(u), u), |v| (rank(v), *v)).unwrap_or(0) as u64;
            (i * u64::from(self.parts) / n.max(1)) as u32
        };
        rows.iter().map(|r| part_of(unit(r)) == self.part).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 60 tasks of 7 topics: `(topic, id)`.
    fn rows() -> Vec<(String, String)> {
        (0..60).map(|i| (format!("subject-{}", i % 7), format!("t{i}"))).collect()
    }

    fn view(rows: &[(String, String)]) -> Vec<(&str, &str)> {
        rows.iter().map(|(t, k)| (t.as_str(), k.as_str())).collect()
    }

    #[test]
    fn parts_are_disjoint_cover_every_task_and_keep_topics_whole() {
        let owned = rows();
        let rows = view(&owned);
        for by in [SplitBy::Topic, SplitBy::Task] {
            let keeps: Vec<Vec<bool>> = (0..3).map(|part| Split { by, part, parts: 3, seed: 5 }.keep(&rows)).collect();
            for i in 0..rows.len() {
                assert_eq!(keeps.iter().filter(|k| k[i]).count(), 1, "{by:?}: task {i} in exactly one part");
            }
            for k in &keeps {
                assert!(k.iter().any(|&x| x), "{by:?}: no part is empty");
            }
        }
        let first = Split { by: SplitBy::Topic, part: 0, parts: 2, seed: 5 }.keep(&rows);
        for (a, b) in rows.iter().zip(&first) {
            let same = rows.iter().zip(&first).filter(|(r, _)| r.0 == a.0);
            assert!(same.into_iter().all(|(_, k)| k == b), "a topic stays on one side");
        }
    }

    #[test]
    fn the_assignment_follows_the_seed_not_the_order() {
        let owned = rows();
        let rows = view(&owned);
        let split = Split { by: SplitBy::Task, part: 1, parts: 2, seed: 9 };
        let kept: Vec<&str> = rows.iter().zip(split.keep(&rows)).filter(|(_, k)| *k).map(|(r, _)| r.1).collect();
        let mut reversed = rows.clone();
        reversed.reverse();
        let mut again: Vec<&str> =
            reversed.iter().zip(split.keep(&reversed)).filter(|(_, k)| *k).map(|(r, _)| r.1).collect();
        again.reverse();
        assert_eq!(kept, again);
        assert_eq!(kept.len(), 30);
        let other = Split { seed: 10, ..split }.keep(&rows);
        assert_ne!(split.keep(&rows), other, "another seed, another split");
    }

    #[test]
    fn a_part_out_of_range_is_refused() {
        let mut c = Checker::default();
        Split { by: SplitBy::Task, part: 2, parts: 2, seed: 0 }.check(&mut c);
        let e = c.finish().unwrap_err().to_string();
        assert!(e.contains("part") && e.contains("must be below"), "{e}");
    }
}
