//! Agents as servers: how many calls an agent runs at once and how long a call takes, and the
//! published serving figures of the Qwen3 sizes that set the defaults.
//!
//! A call of `input` prompt tokens and `output` generated tokens occupies one slot for
//! `time_to_first_token + input / prefill_tokens_per_second + output / output_tokens_per_second`
//! seconds. Only timed episodes (`arrivals` other than `Sequential`) use it.

use serde::{Deserialize, Serialize};

use crate::cells::Usage;
use crate::validate::Checker;

/// An agent as a server, prepared: every figure set.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Serving {
    /// Calls served at once (the server's batch capacity); more wait in a FIFO queue.
    pub slots: u32,
    /// Generated tokens per second of one call.
    pub output_tokens_per_second: f64,
    /// Marginal prompt tokens processed per second of one call.
    pub prefill_tokens_per_second: f64,
    /// Seconds of a call beyond its tokens (scheduling, network).
    pub time_to_first_token: f64,
    /// Executions that may wait for a slot; a task awarded to the agent while that many wait is
    /// dropped. No limit when `None`.
    pub queue_limit: Option<u32>,
    /// A call that carries the latency measured when it was made (a live model's, also from its
    /// cache or a replayed trace) holds its slot that long instead of its modelled duration.
    pub measured: bool,
}

impl Serving {
    /// Seconds a call of this usage occupies a slot.
    #[must_use]
    pub fn duration(&self, usage: Usage) -> f64 {
        self.time_to_first_token
            + usage.input as f64 / self.prefill_tokens_per_second
            + usage.output as f64 / self.output_tokens_per_second
    }
}

/// Calls an agent serves at once unless its scenario says otherwise. The published figures below
/// are batch-1 figures and say nothing about batch capacity: this is a choice, not a measurement.
pub const DEFAULT_SLOTS: u32 = 8;

/// Published serving figures to start an agent's serving from.
///
/// Source: the Qwen team's speed benchmark of the Qwen3 series (Qwen documentation, "Speed
/// Benchmark": SGLang 0.4.6.post1 on one NVIDIA H20 96GB, BF16, batch size 1, 2,048 generated
/// tokens after prompts of 1, 6,144, 14,336 and 30,720 tokens). The page gives speed as
/// (prompt + generated tokens) / time; a call's time is therefore (prompt + 2048) / speed. A
/// least-squares line of time against prompt length per size gives the output rate (2,048 over
/// the intercept) and the marginal prompt rate (one over the slope), which also carries attention
/// over the longer context. The line is within 1.8% of every published time. The benchmark does
/// not separate a first-token delay from the tokens' time, so `time_to_first_token` is 0.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Published {
    #[serde(rename = "qwen3-4b")]
    Qwen3_4B,
    #[serde(rename = "qwen3-8b")]
    Qwen3_8B,
    #[serde(rename = "qwen3-14b")]
    Qwen3_14B,
    #[serde(rename = "qwen3-32b")]
    Qwen3_32B,
}

impl Published {
    pub const ALL: [Self; 4] = [Self::Qwen3_4B, Self::Qwen3_8B, Self::Qwen3_14B, Self::Qwen3_32B];

    /// The name a scenario writes.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Self::Qwen3_4B => "qwen3-4b",
            Self::Qwen3_8B => "qwen3-8b",
            Self::Qwen3_14B => "qwen3-14b",
            Self::Qwen3_32B => "qwen3-32b",
        }
    }

    /// The published speeds, tokens/s, at prompt lengths 1, 6144, 14336 and 30720 (BF16, SGLang).
    #[must_use]
    pub const fn speeds(self) -> [f64; 4] {
        match self {
            Self::Qwen3_4B => [133.13, 466.19, 789.25, 1165.75],
            Self::Qwen3_8B => [81.73, 296.25, 524.70, 832.67],
            Self::Qwen3_14B => [47.10, 174.85, 317.56, 525.80],
            Self::Qwen3_32B => [20.72, 77.82, 143.08, 240.75],
        }
    }

    /// The benchmark's prompt lengths and generated tokens.
    pub const PROMPTS: [f64; 4] = [1.0, 6144.0, 14336.0, 30720.0];
    pub const GENERATED: f64 = 2048.0;

    /// (output tokens/s, marginal prompt tokens/s): the least-squares line through the
    /// published call times.
    #[must_use]
    pub fn rates(self) -> (f64, f64) {
        let times = Self::PROMPTS;
        let t: Vec<f64> = times.iter().zip(self.speeds()).map(|(p, s)| (p + Self::GENERATED) / s).collect();
        let n = t.len() as f64;
        let (mx, my) = (times.iter().sum::<f64>() / n, t.iter().sum::<f64>() / n);
        let sxy: f64 = times.iter().zip(&t).map(|(x, y)| (x - mx) * (y - my)).sum();
        let sxx: f64 = times.iter().map(|x| (x - mx).powi(2)).sum();
        let slope = sxy / sxx;
        let intercept = my - slope * mx;
        (Self::GENERATED / intercept, 1.0 / slope)
    }

    /// The size an agent's name names (`qwen3-32b`, `Qwen3-32B-FP8`, `my-qwen3-8b`), if any.
    #[must_use]
    pub fn named_in(name: &str) -> Option<Self> {
        let lower = name.to_ascii_lowercase();
        // Longest names first, and a name must not continue with a digit ("qwen3-4b" is not in
        // "qwen3-14b", but "qwen3-4" is in "qwen3-40b").
        Self::ALL.into_iter().rev().find(|p| {
            lower.match_indices(p.name()).any(|(at, m)| {
                let before = lower[..at].chars().next_back();
                let after = lower[at + m.len()..].chars().next();
                !before.is_some_and(|c| c.is_ascii_alphanumeric()) && !after.is_some_and(|c| c.is_ascii_alphanumeric())
            })
        })
    }

    /// The prepared serving of these figures, with the default slots.
    #[must_use]
    pub fn serving(self) -> Serving {
        let (output, prefill) = self.rates();
        Serving {
            slots: DEFAULT_SLOTS,
            output_tokens_per_second: output,
            prefill_tokens_per_second: prefill,
            time_to_first_token: 0.0,
            queue_limit: None,
            measured: false,
        }
    }
}

/// Serving for an agent whose name names no published size and whose scenario sets no figures:
/// a generic mid-sized model (documented choices, between the published 8B and 14B figures).
pub const GENERIC: Serving = Serving {
    slots: DEFAULT_SLOTS,
    output_tokens_per_second: 40.0,
    prefill_tokens_per_second: 4000.0,
    time_to_first_token: 0.2,
    queue_limit: None,
    measured: false,
};

crate::documented! {
    /// An agent's serving as a scenario writes it (an agent's `serving`): published figures to
    /// start from, and any figure set by hand over them.
    #[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct ServingSpec {
        /// The published figures to start from.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub published: Option<Published>, shown "the size the agent's name names (`qwen3-32b`, `Qwen/Qwen3-14B-FP8`), else generic figures", allowed "`\"qwen3-4b\"`, `\"qwen3-8b\"`, `\"qwen3-14b\"`, `\"qwen3-32b\"`";
        /// Calls the agent runs at once; a call waits for the slot that frees up first.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub slots: Option<u32>, default DEFAULT_SLOTS, in [1, 100_000];
        /// Output tokens a second of one call.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub output_tokens_per_second: Option<f64>, shown "the published figures' (else generic)", in [1e-3, 1e7];
        /// Prompt tokens a second of one call (the marginal prompt rate).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub prefill_tokens_per_second: Option<f64>, shown "the published figures' (else generic)", in [1e-3, 1e9];
        /// Seconds before a call's first token.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub time_to_first_token: Option<f64>, shown "the published figures' (else generic)", in [0.0, 3600.0];
        /// Executions that may wait for the agent's slots; an execution awarded while that many
        /// wait is dropped. 0 means no waiting room (an execution that finds a slot free runs).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub queue_limit: Option<u32>, shown "none (no limit)", in [0, 100_000_000];
        /// Calls of a live model hold their slot for the latency measured when they were made (live,
        /// or read back from its cache or a replayed trace) rather than their modelled duration.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        pub measured: bool, shown "`false`", allowed "`true`, `false`";
    }
}

impl ServingSpec {
    /// The prepared serving of an agent named `name`.
    #[must_use]
    pub fn prepare(&self, name: &str) -> Serving {
        let base = self.published.or_else(|| Published::named_in(name)).map_or(GENERIC, Published::serving);
        Serving {
            slots: self.slots.unwrap_or(base.slots),
            output_tokens_per_second: self.output_tokens_per_second.unwrap_or(base.output_tokens_per_second),
            prefill_tokens_per_second: self.prefill_tokens_per_second.unwrap_or(base.prefill_tokens_per_second),
            time_to_first_token: self.time_to_first_token.unwrap_or(base.time_to_first_token),
            queue_limit: self.queue_limit.or(base.queue_limit),
            measured: self.measured,
        }
    }

    pub fn check(&self, c: &mut Checker) {
        self.check_ranges(c);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn published_rates_reproduce_the_published_times() {
        let mut largest: f64 = 0.0;
        for p in Published::ALL {
            let s = p.serving();
            for (prompt, speed) in Published::PROMPTS.iter().zip(p.speeds()) {
                let published = (prompt + Published::GENERATED) / speed;
                let usage = Usage { input: *prompt as u64, output: Published::GENERATED as u64 };
                let modelled = s.duration(usage);
                largest = largest.max((modelled / published - 1.0).abs());
                assert!((modelled / published - 1.0).abs() < 0.02, "{}: {modelled} s against {published} s", p.name());
            }
        }
        eprintln!("largest gap to a published time: {:.2}%", largest * 100.0);
        let rates: Vec<(f64, f64)> = Published::ALL.iter().map(|p| p.rates()).collect();
        assert!(rates.windows(2).all(|w| w[0].0 > w[1].0 && w[0].1 > w[1].1), "larger is slower: {rates:?}");
        let (out, _) = Published::Qwen3_32B.rates();
        assert!((out - 20.88).abs() < 0.01, "{out}");
    }

    #[test]
    fn names_pick_their_size_and_hand_set_figures_win() {
        assert_eq!(Published::named_in("qwen3-4b"), Some(Published::Qwen3_4B));
        assert_eq!(Published::named_in("Qwen/Qwen3-14B-FP8"), Some(Published::Qwen3_14B));
        assert_eq!(Published::named_in("my qwen3-32b"), Some(Published::Qwen3_32B));
        assert_eq!(Published::named_in("qwen3-40b"), None);
        assert_eq!(Published::named_in("gpt-4"), None);
        assert_eq!(ServingSpec::default().prepare("gpt-4"), GENERIC);
        let spec = ServingSpec { slots: Some(2), published: Some(Published::Qwen3_8B), ..ServingSpec::default() };
        let s = spec.prepare("qwen3-32b");
        assert_eq!(s.slots, 2);
        assert_eq!(s.output_tokens_per_second, Published::Qwen3_8B.rates().0);
    }
}
