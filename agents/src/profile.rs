//! Parameters of the synthetic stand-ins, as written in a scenario file.
//!
//! Defaults follow the SALE paper's Qwen3 pool where it publishes a number and are documented
//! choices where it does not (README, "Synthetic stand-ins").

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::live::LiveSpec;
use crate::serving::{Serving, ServingSpec};
use crate::validate::Checker;

/// Longest agent name: names head table rows and plot legends.
pub const MAX_NAME: usize = 64;

crate::documented! {
    /// One agent of the pool: its name, prices and backend, and, for a synthetic stand-in, its
    /// skill, plan, jury and trace parameters.
    #[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct AgentProfile {
        /// Unique name; also the key of the agent's random streams.
        pub name: String, allowed "non-empty, one line of at most 64 characters";
        /// Dollars per million output tokens (the `price` in SALE's cost term).
        pub price: f64, in [0.0, 1e6];
        /// Dollars per million input tokens.
        #[serde(default)]
        pub input_price: Option<f64>, shown "`price`", in [0.0, 1e6];
        /// Who answers for the agent: a synthetic stand-in with the fields below, a model behind
        /// an OpenAI-compatible server, or a recorded table's column
        /// ([docs/backends.md](docs/backends.md)).
        #[serde(default)]
        pub backend: Backend, shown "`Synthetic`", allowed "`Synthetic`, `Live(base_url, model, ...)`, `Recorded(column)`";
        /// pass@1 per complexity bin, for each domain by name, in the domain's bin order
        /// (synthetic agents only): `{"coding": [0.95, 0.8, ...]}`.
        #[serde(default, deserialize_with = "crate::validate::unique_keys")]
        pub skill: BTreeMap<String, Vec<f64>>, shown "required of a stand-in", allowed "one value per bin of each domain, each in [0, 1]";
        /// Length of the agent's plans in tokens, log-normal: `(median, sigma)`.
        #[serde(default = "LogNormalSpec::default_plan")]
        pub plan_tokens: LogNormalSpec, shown "`(median: 220, sigma: 0.35)`", allowed "median [1, 1,000,000], sigma [0, 3]";
        /// Length of the agent's execution traces: `median_at_1min * tau^tau_exponent`,
        /// log-normal `sigma`, `output_share`.
        #[serde(default)]
        pub trace: TraceSpec, shown "each field's default ([docs/standins.md](docs/standins.md))", allowed "each field's range (same)";
        /// Mean per-token entropy of the agent's plans: `(mean, sd)`.
        #[serde(default)]
        pub entropy: EntropySpec, shown "each field's default (same)", allowed "each field's range (same)";
        /// How the agent scores plans as a juror: `accuracy` and `self_bias`, and what real
        /// jurors also do (`abstain`, `unreadable`, `saturation`).
        #[serde(default)]
        pub juror: JurorProfile, shown "each field's default (same)", allowed "each field's range (same)";
        /// Latent improvement of a refined plan at full memory relevance (relevance 1 means all k
        /// retrieved tasks identical to the current one and every winning plan successful).
        #[serde(default = "default_memory_gain")]
        pub memory_gain: f64, default default_memory_gain(), in [0.0, 5.0];
        /// The agent as a server, when tasks arrive in time (`arrivals` other than `Sequential`):
        /// `published`, `slots`, speeds, `queue_limit`, `measured`
        /// ([docs/time.md](docs/time.md#agents-as-servers)).
        #[serde(default)]
        pub serving: ServingSpec, shown "the published speeds of the model its name names, else each field's default ([docs/time.md](docs/time.md#agents-as-servers))", allowed "each field's range (same)";
        /// Marks the agent as the largest or the smallest of the pool, which comparisons are made
        /// against (README, "Reference agents").
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub reference: Option<crate::Reference>, shown "the priciest and the cheapest, ties by model size, then place", allowed "`Largest`, `Smallest`; at most one agent each";
        /// What a token costs the agent to produce, dollars per million tokens (input and output
        /// alike), as against `price`, what it charges: its profit on a task is what it is paid
        /// less this cost ([docs/games.md](docs/games.md#money)).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub unit_cost: Option<f64>, shown "its prices (no margin)", in [0.0, 1e6];
        /// How it plays the market: the scores it gives its own and rivals' plans, a cartel, plan
        /// padding or trimming, an auction bid's markup
        /// ([docs/games.md](docs/games.md#strategic-agents)).
        #[serde(default, skip_serializing_if = "crate::strategy::Strategy::is_truthful")]
        pub strategy: crate::strategy::Strategy, shown "truthful", allowed "each field's range ([docs/games.md](docs/games.md#strategic-agents))";
    }
}

/// Who answers for an agent.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub enum Backend {
    /// A calibrated stand-in drawing from the profile's distributions.
    #[default]
    Synthetic,
    /// A model behind an OpenAI-compatible chat-completions server.
    Live(LiveSpec),
    /// The answers recorded in the workload's trace table, under this model's column.
    Recorded(RecordedSpec),
}

/// An agent answered by a recorded trace table.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecordedSpec {
    /// The model's column in the trace (`gpt-4-1106-preview`, say).
    pub column: String,
}

impl Backend {
    #[must_use]
    pub const fn is_synthetic(&self) -> bool {
        matches!(self, Self::Synthetic)
    }
}

const fn default_memory_gain() -> f64 {
    1.2
}

/// A log-normal distribution given by its median and the standard deviation of its logarithm.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogNormalSpec {
    pub median: f64,
    pub sigma: f64,
}

impl LogNormalSpec {
    #[must_use]
    pub const fn default_plan() -> Self {
        Self { median: 220.0, sigma: 0.35 }
    }
}

crate::fields! {
    /// Execution trace length: `median_at_1min * tau^tau_exponent` tokens, log-normal around
    /// it (an agent's `trace`).
    pub struct TraceSpec {
        /// Median tokens of an execution on a task a human solves in one minute.
        median_at_1min: f64 = 800_000.0, in [1.0, 1e9];
        /// How the median grows with the task's human solving time τ (minutes).
        tau_exponent: f64 = 0.25, in [-3.0, 3.0];
        /// Standard deviation of the log trace length around the median.
        sigma: f64 = 0.5, in [0.0, 3.0];
        /// Share of the trace's tokens that are output (the rest is context read as input).
        output_share: f64 = 0.1, in [0.0, 1.0];
    }
}

crate::fields! {
    /// Plan entropy: `mean + sd * (signal * fit + noise)`, where the signal strength is
    /// pool-wide (an agent's `entropy`).
    pub struct EntropySpec {
        /// Mean per-token entropy of the agent's plans.
        mean: f64 = 1.0, in [0.0, 100.0];
        /// Its standard deviation across plans.
        sd: f64 = 0.25, in [0.0, 100.0];
    }
}

crate::fields! {
    /// A juror's behaviour (an agent's `juror`).
    pub struct JurorProfile {
        /// Correlation between the juror's impression of a plan and the plan's true chance of
        /// success (its latent margin): 0 is a coin, 1 sees the truth.
        accuracy: f64 = 0.6, in [0.0, 1.0];
        /// Added to the juror's impression of its own plans, in latent units.
        self_bias: f64 = 0.3, in [-5.0, 5.0];
        /// Share of its peers' plans the juror does not score (an abstention), as real jurors
        /// decline or cannot read plans unlike their own. 0: it scores every plan.
        abstain: f64 = 0.0, in [0.0, 1.0];
        /// Share of its verdicts that hold no readable score (unparsed: the call is paid, the
        /// verdict lost), as small models' replies often do.
        unreadable: f64 = 0.0, in [0.0, 1.0];
        /// Share of its readable verdicts that are `saturated_score` whatever the plan: a juror
        /// that gives nearly every plan a 5.
        saturation: f64 = 0.0, in [0.0, 1.0];
        /// The score a saturated verdict gives (Likert, 0 to 5).
        saturated_score: u8 = 5, in [0, 5];
    }
}

impl JurorProfile {
    /// A juror that always gives a readable verdict on its own merits (no abstentions, no
    /// unreadable or saturated verdicts).
    #[must_use]
    pub fn always_reads(&self) -> bool {
        self.abstain == 0.0 && self.unreadable == 0.0 && self.saturation == 0.0
    }
}

crate::fields! {
    /// Pool-wide parameters of the synthetic world: the one definition of each (its meaning,
    /// default and range) that the scenario's parsing, `tender validate` and the docs' tables
    /// (docs/standins.md, generated) all read. Model v2's features are each off at 0 (model v1);
    /// see docs/standins.md.
    pub struct StandInParams {
        /// Share of the success latent's variance common to all agents on a task (hard tasks are
        /// hard for everyone). With `topic_difficulty` and `topic_affinity`, at most 1 in all.
        shared_difficulty: f64 = 0.6, in [0.0, 1.0];
        /// Share of the success latent's variance that is the agent's affinity for the task's
        /// topic (what a router can learn from similar past tasks).
        topic_affinity: f64 = 0.15, in [0.0, 1.0];
        /// Share of the success latent's variance common to all agents on a topic (a hard
        /// subject is hard for everyone); estimated from recorded tables with topics. 0: topics
        /// differ only in each agent's own affinity (model v1).
        topic_difficulty: f64 = 0.0, in [0.0, 1.0];
        /// Correlation between a poor fit to the task and a long trace (failures run longer).
        length_failure_correlation: f64 = 0.3, in [-1.0, 1.0];
        /// Correlation between the log plan length and the log trace length; 0.41 gives the
        /// paper's Spearman ρ of 0.39.
        plan_trace_correlation: f64 = 0.41, in [-1.0, 1.0];
        /// Correlation between a plan's entropy and the agent's fit to the task.
        entropy_signal: f64 = 0.3, in [-1.0, 1.0];
        /// Share of a juror's noise common to all jurors of the same plan (a plan that looks
        /// good to one juror tends to look good to all: LLM judges' mistakes are correlated,
        /// more so as models grow, Goel et al. 2025, arXiv 2502.04313). Peers share it in
        /// full; an author's own score shares `1 − self_knowledge` of it.
        jury_shared_noise: f64 = 0.5, in [0.0, 1.0];
        /// Weight of a retrieved pair whose winning plan failed, relative to one that succeeded.
        failed_lesson_weight: f64 = 0.5, in [0.0, 1.0];
        /// Input tokens of the bid prompt (task and instructions).
        plan_prompt_tokens: u32 = 150, in [0, 1_000_000];
        /// Input tokens of the jury prompt, besides the plan itself.
        jury_prompt_tokens: u32 = 120, in [0, 1_000_000];
        /// Output tokens of a juror's answer.
        jury_output_tokens: u32 = 3, in [1, 1_000_000];
        /// Input tokens of the refinement prompt, besides the retrieved plans.
        refine_prompt_tokens: u32 = 200, in [0, 1_000_000];
        /// Model v2. Latent units added to every juror's impression of a plan per unit of
        /// `ln(plan length / the pool's typical plan length)` (the mean of its agents' log median
        /// plan lengths): jurors over-reward long plans whatever their content, the verbosity
        /// bias of LLM judges (Zheng et al. 2023, arXiv 2306.05685; Saito et al. 2023, arXiv
        /// 2310.10076). It reads only the length the juror sees, never the author, and never
        /// touches execution. SALE's cost term, price × plan length, is what can correct it.
        verbosity_bias: f64 = 0.0, in [-3.0, 3.0];
        /// Model v2. Weight of the agent's skill on the task, `Φ⁻¹(p)`, in what its plan's
        /// entropy and length read (besides its deviation `z` from its own typical fit). With
        /// it, plan signals tell a strong agent from a weak one.
        skill_signal: f64 = 0.0, in [0.0, 3.0];
        /// Model v2. A bidder's accuracy about its own plan is `accuracy + self_knowledge × (1 −
        /// accuracy)`, and the jury's shared impression reaches it with weight `1 −
        /// self_knowledge`: it sees a private, sharper signal of its own fit; peers see less.
        self_knowledge: f64 = 0.0, in [0.0, 1.0];
        /// Model v2. Lessons at which memory's gain reaches half its full value. A refinement's
        /// boost is multiplied by `L / (L + lesson_half)`, where `L` sums, over every past task
        /// in memory, `max(0, (similarity − lesson_min_similarity) / (1 −
        /// lesson_min_similarity))`, weighted by `failed_lesson_weight` when that task's winner
        /// failed. Experience near a task accumulates along the stream, so small agents improve
        /// gradually rather than as soon as `k` similar tasks exist. With a memory index
        /// (`Sale(index: Cells())` or `Ivf()`), `L` is read from a sample of `lesson_sample`
        /// past tasks once memory holds more (docs/mechanisms.md, "Long task streams"). 0: the
        /// gain depends only on the `k` retrieved pairs (model v1).
        lesson_half: f64 = 0.0, in [0.0, 10_000.0];
        /// Model v2. Similarity below which a past task teaches nothing; above it, a lesson's
        /// weight rises linearly to 1 at similarity 1. Only read when `lesson_half > 0`.
        lesson_min_similarity: f64 = 0.5, in [0.0, 0.99];
        /// Model v2. Correlation of a fully informed refinement's noise (length, entropy, the
        /// jury's shared and own impressions) with the agent's initial plan's. **A refinement
        /// learns only from memory**: the share `u` of its full `memory_gain` that memory gave
        /// it sets how much it rewrites, its noise following the initial plan's with correlation
        /// `1 − u × (1 − refine_noise_correlation)`. With nothing relevant retrieved (`u = 0`)
        /// the refined bid is the initial bid, length, entropy and every verdict (tested), so it
        /// cannot win where the original lost; the more relevant lessons memory holds, the
        /// further the rewrite goes.
        refine_noise_correlation: f64 = 0.0, in [0.0, 1.0];
        /// Model v2. Share of topics on which terse planners beat verbose ones (the SALE paper's
        /// failure analysis: the large model over-engineers, skips tools and verification;
        /// smaller ones plan simpler and verify more). Drawn per topic from the episode's
        /// `Complementary` stream.
        complementary_topics: f64 = 0.0, in [0.0, 0.5];
        /// Model v2. Standard deviation across topics, in latent units, of the gap between the
        /// fit of the pool's most and least verbose planners (by median plan length,
        /// `plan_tokens.median`) that complementary topics create. Agents load on it in
        /// proportion to their position on a log scale of median plan length (a pool whose
        /// agents all plan alike has no complementary topics); the effect has mean zero over
        /// topics, and the rest of the agent's latent is scaled down to make room, so pass@1
        /// stays close to the skill table (tested within 3 points). Only read when
        /// `complementary_topics > 0`.
        complementary_strength: f64 = 1.0, in [0.0, 2.0];
        /// Model v2. Share of tasks whose complementarity is their own rather than their
        /// topic's: each such task is, with probability `complementary_topics`, one on which
        /// terse planners beat verbose ones, whatever its topic. The part of the terse planners'
        /// edge a task's description does not reveal: plans (and so the jury and the plan
        /// signals) read it, routers that see only the task cannot (the SALE paper: routers
        /// that look only at the task description cannot tell how hard the trajectory will
        /// be). 0: every task follows its topic. Drawn per task from the episode's
        /// `ComplementaryTask` stream; only read when `complementary_topics > 0`.
        complementary_by_task: f64 = 0.0, in [0.0, 1.0];
    }
}

impl StandInParams {
    pub fn check(&self, c: &mut Checker) {
        self.check_ranges(c);
        let shares = self.shared_difficulty + self.topic_difficulty;
        c.require(
            shares + self.topic_affinity <= 1.0,
            "topic_affinity",
            self.topic_affinity,
            &format!(
                "shared_difficulty + topic_difficulty + topic_affinity must be at most 1 (they are shares of one \
                 variance); with shared_difficulty + topic_difficulty = {shares} it must lie in [0, {}]",
                (1.0 - shares).max(0.0)
            ),
        );
    }
}

impl AgentProfile {
    /// The agent's name and prices, as every source reports them.
    #[must_use]
    pub fn info(&self) -> crate::AgentInfo {
        crate::AgentInfo {
            name: self.name.clone(),
            input_price: self.input_price.unwrap_or(self.price),
            output_price: self.price,
            reference: self.reference,
            unit_cost: self.unit_cost,
            bid_markup: self.strategy.bid_markup,
        }
    }

    /// The agent as a server: its scenario's figures over the published ones its name or
    /// `published` names.
    #[must_use]
    pub fn serving(&self) -> Serving {
        self.serving.prepare(&self.name)
    }

    /// Check the profile against the workload's domains (`(name, number of bins)`).
    pub fn check(&self, c: &mut Checker, domains: &[(&str, usize)]) {
        c.require(!self.name.trim().is_empty(), "name", format!("{:?}", self.name), "must not be empty");
        c.require(
            self.name.chars().count() <= MAX_NAME && !self.name.contains(['\n', '\r']),
            "name",
            format!("{:?}", self.name),
            &format!("must be one line of at most {MAX_NAME} characters"),
        );
        self.check_ranges(c);
        c.within("serving", |c| self.serving.check(c));
        match &self.backend {
            Backend::Synthetic => self.check_skill(c, domains),
            Backend::Live(live) => c.within("backend", |c| c.within("Live", |c| live.check(c))),
            Backend::Recorded(r) => c.require(
                !r.column.trim().is_empty(),
                "backend.Recorded.column",
                format!("{:?}", r.column),
                "must name a model column of the trace",
            ),
        }
        if !self.backend.is_synthetic() {
            c.require(
                self.skill.is_empty(),
                "skill",
                "a pass@1 table",
                "is only read by synthetic agents; remove it from a live or recorded agent",
            );
        }
        c.within("plan_tokens", |c| {
            c.range("median", self.plan_tokens.median, 1.0, 1e6);
            c.range("sigma", self.plan_tokens.sigma, 0.0, 3.0);
        });
        c.within("trace", |c| self.trace.check_ranges(c));
        c.within("entropy", |c| self.entropy.check_ranges(c));
        c.within("juror", |c| self.juror.check_ranges(c));
    }

    fn check_skill(&self, c: &mut Checker, domains: &[(&str, usize)]) {
        for (domain, bins) in domains {
            match self.skill.get(*domain) {
                None => c.require(
                    false,
                    "skill",
                    format!("{{{}}}", self.skill.keys().cloned().collect::<Vec<_>>().join(", ")),
                    &format!("must give a pass@1 curve for domain {domain:?}"),
                ),
                Some(curve) => c.within("skill", |c| {
                    c.within(format!("[{domain:?}]"), |c| {
                        c.require(
                            curve.len() == *bins,
                            "",
                            format!("{} values", curve.len()),
                            &format!("must have one pass@1 per bin of {domain:?} ({bins})"),
                        );
                        for (i, p) in curve.iter().enumerate() {
                            c.range(&format!("[{i}]"), *p, 0.0, 1.0);
                        }
                    });
                }),
            }
        }
        for name in self.skill.keys() {
            c.require(
                domains.iter().any(|(d, _)| d == name),
                "skill",
                format!("{name:?}"),
                &format!(
                    "names a domain the workload does not have; domains: {}",
                    domains.iter().map(|(d, _)| format!("{d:?}")).collect::<Vec<_>>().join(", ")
                ),
            );
        }
    }
}
