//! Live agents: models behind OpenAI-compatible chat-completions servers (llama.cpp, vLLM,
//! Ollama, LiteLLM, hosted APIs), and the replay of what they answered.
//!
//! Unlike the rest of the crate, this module does IO: HTTP calls, the response cache and the
//! call trace. Every answer is keyed by a hash of the request it answers, so a cell asked twice
//! (by two mechanisms, or by a rerun) costs one call, and a recorded trace answers a replay
//! exactly.

mod chat;
mod doctor;
mod http;
mod journal;
mod program;
mod prompts;
mod secrets;
mod source;

pub use chat::{mean_entropy, parse_score, strip_reasoning};
pub use doctor::{Endpoint, Probe};
pub use http::{CallFailure, Cause, HttpClient, Limits, MAX_BODY, Retry};
pub use journal::{CallRecord, CompleteLines, Journal, JournalError, complete_lines, read_records, reopen_at};
pub use program::python_passes;
pub use prompts::Prompts;
pub use secrets::redact;
pub use source::{CallStats, LiveError, LiveSource, Mode, OpenCircuit, ReplyStats, Stall, embed_texts};

use serde::{Deserialize, Serialize};

use crate::validate::Checker;

crate::documented! {
    /// How to reach one live agent's model (`backend: Live(...)`).
    #[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct LiveSpec {
        /// The server's OpenAI-compatible root, such as `http://127.0.0.1:8080/v1`.
        pub base_url: String, allowed "an http(s) URL";
        /// The model name the server expects.
        pub model: String, allowed "non-empty";
        /// Name of the environment variable holding the API key, read once at start and sent as a
        /// bearer token; the key itself is never written to disk, logs, traces or results.
        #[serde(default)]
        pub api_key_env: Option<String>, shown "none", allowed "an environment variable's name (letters, digits, `_`)";
        /// Seconds one attempt may take from the moment its request is sent (waiting for a free
        /// request slot does not count) before it is abandoned; a timeout is retried.
        #[serde(default = "default_timeout")]
        pub timeout_secs: f64, default default_timeout(), in [0.001, 86_400.0];
        /// Seconds a call may take in all, waiting for a slot, every attempt and every backoff
        /// included; when it is up, no further attempt starts and the call fails with a timeout.
        #[serde(default = "default_deadline")]
        pub deadline_secs: f64, default default_deadline(), allowed "[`timeout_secs`, 604,800]";
        /// Retries after a connection error, a timeout, a 408, 409, 429 or 5xx; nothing else is
        /// retried.
        #[serde(default = "default_retries")]
        pub max_retries: u32, default default_retries(), in [0, 100];
        /// First backoff in milliseconds; doubles per retry, times a jitter factor in [0.5, 1.5),
        /// capped at 30 s; a longer `Retry-After` wins.
        #[serde(default = "default_backoff")]
        pub backoff_ms: u64, default default_backoff(), in [0, 600_000];
        /// Requests in flight at once to this agent. Unset: the number of requests the server says
        /// it runs at once (llama.cpp reports its slots in `/props`), else 4. More than the server
        /// runs queues requests inside it, where the wait counts against `timeout_secs`.
        #[serde(default)]
        pub concurrency: Option<u32>, shown "the server's", in [1, 1024];
        /// Consecutive failed calls (each after its retries; an unusable 200 reply counts too)
        /// after which the endpoint is not called again in this run: the run fails at once (or,
        /// with `--keep-going`, records the remaining cells as failed). 0 never stops calling.
        #[serde(default = "default_circuit_breaker")]
        pub circuit_breaker: u32, default default_circuit_breaker(), in [0, 1_000_000];
        /// Seconds requests may wait with no reply at all from the server (neither an answer nor an
        /// error) before the server counts as stalled: its circuit breaker opens, the requests
        /// waiting are given up and the run stops.
        #[serde(default)]
        pub stall_timeout_secs: Option<f64>, shown "1.25 × `timeout_secs` (150 s): a timed-out attempt is retried once before a silent server stops the run", in [0.001, 86_400.0];
        /// Sampling temperature (a `seed` derived from the prompt is sent too).
        #[serde(default)]
        pub temperature: f64, default 0.0, in [0.0, 2.0];
        /// Most tokens of a plan or a refined plan.
        #[serde(default = "default_plan_tokens")]
        pub plan_max_tokens: u32, default default_plan_tokens(), in [1, 1_000_000];
        /// Most tokens of an execution.
        #[serde(default = "default_answer_tokens")]
        pub answer_max_tokens: u32, default default_answer_tokens(), in [1, 1_000_000];
        /// Most tokens of a juror's verdict ("Score: N" takes about four).
        #[serde(default = "default_verdict_tokens")]
        pub verdict_max_tokens: u32, default default_verdict_tokens(), in [1, 1_000_000];
        /// Whether the model thinks before it answers, and how to turn thinking off (see
        /// *Reasoning models*).
        #[serde(default)]
        pub reasoning: Reasoning, shown "`Default`", allowed "`Default`, `Off(TemplateFlag)`, `Off(NoThinkTag)`, `Think(tokens: n)` (n in [1, 1,000,000])";
        /// Lessons from past auctions less similar than this (cosine similarity of the task
        /// embeddings) are not quoted in a refinement prompt; with none left the agent does not
        /// refine (an abstention, no call).
        #[serde(default = "default_lesson_min_similarity")]
        pub lesson_min_similarity: f64, default default_lesson_min_similarity(), in [-1.0, 1.0];
        /// Ask for token log-probabilities (`logprobs`, `top_logprobs: 5`) for plan entropy.
        /// Servers that ignore the request get the fallback.
        #[serde(default = "default_true")]
        pub logprobs: bool, shown "`true`", allowed "`true`, `false`";
        /// Plan entropy, in nats per token, when the server returns no log-probabilities.
        #[serde(default = "default_fallback_entropy")]
        pub fallback_entropy: f64, default default_fallback_entropy(), in [0.0, 100.0];
    }
}

const fn default_timeout() -> f64 {
    120.0
}
const fn default_deadline() -> f64 {
    600.0
}
const fn default_verdict_tokens() -> u32 {
    16
}
const fn default_lesson_min_similarity() -> f64 {
    0.2
}
const fn default_retries() -> u32 {
    4
}
const fn default_backoff() -> u64 {
    500
}
const fn default_circuit_breaker() -> u32 {
    5
}
/// Requests in flight when neither the agent nor its server says.
pub const DEFAULT_CONCURRENCY: u32 = 4;
const fn default_plan_tokens() -> u32 {
    256
}
const fn default_answer_tokens() -> u32 {
    1024
}
const fn default_true() -> bool {
    true
}
const fn default_fallback_entropy() -> f64 {
    1.0
}

/// Whether a model thinks before it answers. Whatever the setting, reasoning in a reply
/// (`<think>...</think>` blocks, a `reasoning_content` field) is stripped before it is parsed,
/// stored or quoted.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub enum Reasoning {
    /// Ask for nothing: the server's and model's default.
    #[default]
    Default,
    /// Ask the model not to think.
    Off(ThinkingSwitch),
    /// Let the model think, with `tokens` more in every call's budget (plans, verdicts,
    /// answers) so the thought does not eat the reply.
    Think { tokens: u32 },
}

/// How to turn a model's thinking off.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ThinkingSwitch {
    /// `chat_template_kwargs: {"enable_thinking": false}` in the request: Qwen3's template flag,
    /// honoured by llama.cpp's server, vLLM and SGLang.
    TemplateFlag,
    /// `/no_think` at the end of the user message: Qwen3's soft switch, which works on any
    /// server (Ollama included).
    NoThinkTag,
}

impl Reasoning {
    /// Tokens added to every call's budget.
    #[must_use]
    pub const fn extra_tokens(&self) -> u32 {
        match self {
            Self::Think { tokens } => *tokens,
            Self::Default | Self::Off(_) => 0,
        }
    }
}

impl LiveSpec {
    /// How long requests may wait with no reply before the server counts as stalled.
    #[must_use]
    pub fn stall_timeout(&self) -> f64 {
        self.stall_timeout_secs.unwrap_or(1.25 * self.timeout_secs)
    }

    pub fn check(&self, c: &mut Checker) {
        c.endpoint(&self.base_url, &self.model);
        if let Some(var) = &self.api_key_env {
            c.require(
                !var.is_empty() && var.chars().all(|ch| ch.is_ascii_alphanumeric() || ch == '_'),
                "api_key_env",
                format!("{var:?}"),
                "must be the name of an environment variable (letters, digits, _), not the key itself",
            );
        }
        self.check_ranges(c);
        c.range("deadline_secs", self.deadline_secs, self.timeout_secs.clamp(0.001, 86_400.0), 604_800.0);
        if let Reasoning::Think { tokens } = self.reasoning {
            c.within("reasoning", |c| c.count("tokens", tokens.into(), 1, 1_000_000));
        }
    }
}
