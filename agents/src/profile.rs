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

/// One agent of the pool: its name, prices and backend, and, for a synthetic stand-in, its
/// skill, plan, jury and trace parameters.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentProfile {
    /// Unique name; also the key of the agent's random streams.
    pub name: String,
    /// Dollars per million output tokens (the `price` in SALE's cost term).
    pub price: f64,
    /// Dollars per million input tokens; the output price when omitted.
    #[serde(default)]
    pub input_price: Option<f64>,
    /// Who answers for the agent: a synthetic stand-in (the default), a live model, or a
    /// recorded trace.
    #[serde(default)]
    pub backend: Backend,
    /// pass@1 per complexity bin, for each domain by name, in the domain's bin order (synthetic
    /// agents only).
    #[serde(default, deserialize_with = "crate::validate::unique_keys")]
    pub skill: BTreeMap<String, Vec<f64>>,
    /// Length of the agent's plans, in tokens.
    #[serde(default = "LogNormalSpec::default_plan")]
    pub plan_tokens: LogNormalSpec,
    /// Length of the agent's execution traces.
    #[serde(default)]
    pub trace: TraceSpec,
    /// Mean per-token entropy of the agent's plans.
    #[serde(default)]
    pub entropy: EntropySpec,
    /// How the agent scores plans as a juror.
    #[serde(default)]
    pub juror: JurorProfile,
    /// Latent improvement of a refined plan at full memory relevance (relevance 1 means all k
    /// retrieved tasks identical to the current one and every winning plan successful).
    #[serde(default = "default_memory_gain")]
    pub memory_gain: f64,
    /// The agent as a server, when tasks arrive in time (`arrivals` other than `Sequential`).
    #[serde(default)]
    pub serving: ServingSpec,
    /// Marks the agent as the largest or the smallest of the pool, which comparisons are made
    /// against; unmarked, they are the priciest and the cheapest ([`crate::References::of`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<crate::Reference>,
    /// What a token costs the agent to produce, dollars per million tokens (input and output
    /// alike), as against `price`, what it charges: its profit on a task is what it is paid
    /// less this cost. Its prices when omitted (no margin).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit_cost: Option<f64>,
    /// How it plays the market: truthfully unless told otherwise ([docs/games.md]).
    #[serde(default, skip_serializing_if = "crate::strategy::Strategy::is_truthful")]
    pub strategy: crate::strategy::Strategy,
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

fn default_memory_gain() -> f64 {
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

/// Execution trace length: `median_at_1min * tau^tau_exponent` tokens, log-normal around it.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TraceSpec {
    pub median_at_1min: f64,
    pub tau_exponent: f64,
    pub sigma: f64,
    /// Share of the trace's tokens that are output (the rest is context read as input).
    pub output_share: f64,
}

impl Default for TraceSpec {
    fn default() -> Self {
        Self { median_at_1min: 800_000.0, tau_exponent: 0.25, sigma: 0.5, output_share: 0.1 }
    }
}

/// Plan entropy: `mean + sd * (signal * fit + noise)`, where the signal strength is pool-wide.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EntropySpec {
    pub mean: f64,
    pub sd: f64,
}

impl Default for EntropySpec {
    fn default() -> Self {
        Self { mean: 1.0, sd: 0.25 }
    }
}

/// A juror's behaviour.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JurorProfile {
    /// Correlation between the juror's impression of a plan and the plan's true chance of
    /// success (its latent margin): 0 is a coin, 1 sees the truth.
    pub accuracy: f64,
    /// Added to the juror's impression of its own plans, in latent units.
    pub self_bias: f64,
    /// Share of its peers' plans the juror does not score (an abstention), as real jurors
    /// decline or cannot read plans unlike their own. 0: it scores every plan.
    #[serde(default)]
    pub abstain: f64,
    /// Share of its verdicts that hold no readable score (unparsed: the call is paid, the
    /// verdict lost), as small models' replies often do.
    #[serde(default)]
    pub unreadable: f64,
    /// Share of its readable verdicts that are `saturated_score` whatever the plan: a juror that
    /// gives nearly every plan a 5.
    #[serde(default)]
    pub saturation: f64,
    #[serde(default = "five")]
    pub saturated_score: u8,
}

const fn five() -> u8 {
    5
}

impl Default for JurorProfile {
    fn default() -> Self {
        Self { accuracy: 0.6, self_bias: 0.3, abstain: 0.0, unreadable: 0.0, saturation: 0.0, saturated_score: 5 }
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

/// Pool-wide parameters of the synthetic world.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StandInParams {
    /// Share of the success latent's variance common to all agents on a task (hard tasks are
    /// hard for everyone).
    pub shared_difficulty: f64,
    /// Share of the success latent's variance that is the agent's affinity for the task's topic
    /// (what a router can learn from similar past tasks).
    pub topic_affinity: f64,
    /// Share of the success latent's variance common to all agents on a topic (a hard subject
    /// is hard for everyone); estimated from recorded tables with topics. 0: topics differ only
    /// in each agent's own affinity (model v1).
    pub topic_difficulty: f64,
    /// Correlation between a poor fit to the task and a long trace (failures run longer).
    pub length_failure_correlation: f64,
    /// Correlation between the log plan length and the log trace length; 0.41 gives the paper's
    /// Spearman rho of 0.39.
    pub plan_trace_correlation: f64,
    /// Correlation between a plan's entropy and the agent's fit to the task.
    pub entropy_signal: f64,
    /// Share of a juror's noise common to all jurors of the same plan (a plan that looks good
    /// to one juror tends to look good to all).
    pub jury_shared_noise: f64,
    /// Weight of a retrieved pair whose winning plan failed, relative to one that succeeded.
    pub failed_lesson_weight: f64,
    /// Input tokens of the bid prompt (task and instructions).
    pub plan_prompt_tokens: u32,
    /// Input tokens of the jury prompt, besides the plan itself.
    pub jury_prompt_tokens: u32,
    /// Output tokens of a juror's answer.
    pub jury_output_tokens: u32,
    /// Input tokens of the refinement prompt, besides the retrieved plans.
    pub refine_prompt_tokens: u32,
    // Model v2. Each feature is off at 0 (model v1); see docs/standins.md.
    /// Verbosity bias (Zheng et al. 2023, arXiv 2306.05685; Saito et al. 2023, arXiv
    /// 2310.10076): added to every juror's impression of a plan, in latent units per unit of
    /// `ln(plan length / the pool's typical plan length)`. Jurors over-reward long plans whatever
    /// their content; it is keyed on the length the juror reads, never on who wrote the plan, and
    /// it never touches execution.
    pub verbosity_bias: f64,
    /// Weight of the agent's skill on the task (`Φ⁻¹` of its pass@1 in the task's bin) in what
    /// its plan's entropy and length read, besides its deviation from its own typical fit: plan
    /// signals then tell a strong agent from a weak one.
    pub skill_signal: f64,
    /// How much better a bidder reads its own plan than its peers do: its accuracy about its own
    /// plans is `accuracy + self_knowledge * (1 - accuracy)`, and its noise about them is private
    /// (the jury's shared impression reaches it with weight `1 - self_knowledge`).
    pub self_knowledge: f64,
    /// Lessons at which a refined plan's gain from memory reaches half of its full value. A
    /// lesson is a past task in memory weighted by how similar it is (above
    /// `lesson_min_similarity`) and by whether its winner succeeded, so an agent's gain grows as
    /// relevant experience accumulates along the stream. 0: the gain depends only on the `k`
    /// retrieved pairs (model v1).
    pub lesson_half: f64,
    /// Similarity below which a past task teaches nothing; above it, a lesson's weight rises
    /// linearly to 1 at similarity 1.
    pub lesson_min_similarity: f64,
    /// Correlation of a refined plan's noise (length, entropy, the jury's impressions) with the
    /// agent's initial plan's when memory gave it everything it can (its full `memory_gain`). A
    /// refinement learns only from memory: the share of the plan it rewrites is the share of the
    /// full gain it drew, so with nothing relevant retrieved the refined plan is the initial one,
    /// and with a full memory its noise keeps this correlation. 0: a fully informed refinement is
    /// a fresh draw.
    pub refine_noise_correlation: f64,
    /// Share of topics on which agents that write short plans beat agents that write long ones
    /// (the SALE paper's failure analysis: the large model over-engineers, skips tools and
    /// verification; smaller ones plan simpler and verify more). 0: no such topics.
    pub complementary_topics: f64,
    /// Standard deviation across topics, in latent units, of the gap between the fit of the
    /// pool's most and least verbose planners (by median plan length) that complementary topics
    /// create. The effect has mean zero over topics and the rest of the latent is scaled down to
    /// make room for it, so pass@1 stays close to the calibrated table.
    pub complementary_strength: f64,
}

impl Default for StandInParams {
    fn default() -> Self {
        Self {
            shared_difficulty: 0.6,
            topic_affinity: 0.15,
            topic_difficulty: 0.0,
            length_failure_correlation: 0.3,
            plan_trace_correlation: 0.41,
            entropy_signal: 0.3,
            jury_shared_noise: 0.5,
            failed_lesson_weight: 0.5,
            plan_prompt_tokens: 150,
            jury_prompt_tokens: 120,
            jury_output_tokens: 3,
            refine_prompt_tokens: 200,
            verbosity_bias: 0.0,
            skill_signal: 0.0,
            self_knowledge: 0.0,
            lesson_half: 0.0,
            lesson_min_similarity: 0.5,
            refine_noise_correlation: 0.0,
            complementary_topics: 0.0,
            complementary_strength: 1.0,
        }
    }
}

impl StandInParams {
    pub fn check(&self, c: &mut Checker) {
        c.range("shared_difficulty", self.shared_difficulty, 0.0, 1.0);
        c.range("topic_affinity", self.topic_affinity, 0.0, 1.0);
        c.range("topic_difficulty", self.topic_difficulty, 0.0, 1.0);
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
        c.range("length_failure_correlation", self.length_failure_correlation, -1.0, 1.0);
        c.range("plan_trace_correlation", self.plan_trace_correlation, -1.0, 1.0);
        c.range("entropy_signal", self.entropy_signal, -1.0, 1.0);
        c.range("jury_shared_noise", self.jury_shared_noise, 0.0, 1.0);
        c.range("failed_lesson_weight", self.failed_lesson_weight, 0.0, 1.0);
        c.count("plan_prompt_tokens", self.plan_prompt_tokens.into(), 0, 1_000_000);
        c.count("jury_prompt_tokens", self.jury_prompt_tokens.into(), 0, 1_000_000);
        c.count("jury_output_tokens", self.jury_output_tokens.into(), 1, 1_000_000);
        c.count("refine_prompt_tokens", self.refine_prompt_tokens.into(), 0, 1_000_000);
        c.range("verbosity_bias", self.verbosity_bias, -3.0, 3.0);
        c.range("skill_signal", self.skill_signal, 0.0, 3.0);
        c.range("self_knowledge", self.self_knowledge, 0.0, 1.0);
        c.range("lesson_half", self.lesson_half, 0.0, 10_000.0);
        c.range("lesson_min_similarity", self.lesson_min_similarity, 0.0, 0.99);
        c.range("refine_noise_correlation", self.refine_noise_correlation, 0.0, 1.0);
        c.range("complementary_topics", self.complementary_topics, 0.0, 0.5);
        c.range("complementary_strength", self.complementary_strength, 0.0, 2.0);
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
        c.range("price", self.price, 0.0, 1e6);
        c.within("serving", |c| self.serving.check(c));
        if let Some(p) = self.input_price {
            c.range("input_price", p, 0.0, 1e6);
        }
        if let Some(u) = self.unit_cost {
            c.range("unit_cost", u, 0.0, 1e6);
        }
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
        c.within("trace", |c| {
            c.range("median_at_1min", self.trace.median_at_1min, 1.0, 1e9);
            c.range("tau_exponent", self.trace.tau_exponent, -3.0, 3.0);
            c.range("sigma", self.trace.sigma, 0.0, 3.0);
            c.range("output_share", self.trace.output_share, 0.0, 1.0);
        });
        c.within("entropy", |c| {
            c.range("mean", self.entropy.mean, 0.0, 100.0);
            c.range("sd", self.entropy.sd, 0.0, 100.0);
        });
        c.within("juror", |c| {
            c.range("accuracy", self.juror.accuracy, 0.0, 1.0);
            c.range("self_bias", self.juror.self_bias, -5.0, 5.0);
            c.range("abstain", self.juror.abstain, 0.0, 1.0);
            c.range("unreadable", self.juror.unreadable, 0.0, 1.0);
            c.range("saturation", self.juror.saturation, 0.0, 1.0);
            c.count("saturated_score", self.juror.saturated_score.into(), 0, 5);
        });
        c.range("memory_gain", self.memory_gain, 0.0, 5.0);
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
