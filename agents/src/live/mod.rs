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

/// How to reach one live agent's model.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LiveSpec {
    /// The server's OpenAI-compatible root, such as `http://127.0.0.1:8080/v1`.
    pub base_url: String,
    pub model: String,
    /// Name of the environment variable holding the API key; the key itself is read at run
    /// time and never written to disk, logs or results.
    #[serde(default)]
    pub api_key_env: Option<String>,
    /// Seconds an attempt may take from the moment its request is sent (waiting for a free
    /// request slot does not count) before it is abandoned and retried.
    #[serde(default = "default_timeout")]
    pub timeout_secs: f64,
    /// Seconds a call may take in all, waiting for a slot, every attempt and every backoff
    /// included; when it is up, no further attempt starts and the call fails with a timeout.
    #[serde(default = "default_deadline")]
    pub deadline_secs: f64,
    /// Retries after a 429, a 5xx, a timeout or a connection error.
    #[serde(default = "default_retries")]
    pub max_retries: u32,
    /// First backoff in milliseconds; doubles per retry, with jitter, capped at 30 s.
    #[serde(default = "default_backoff")]
    pub backoff_ms: u64,
    /// Requests in flight at once to this agent. Unset: what the server says it can run at
    /// once (llama.cpp reports its slots), else 4. More than the server runs queues requests
    /// inside it, where the wait counts against `timeout_secs`.
    #[serde(default)]
    pub concurrency: Option<u32>,
    /// Consecutive failed calls (each after its retries) after which the endpoint is not called
    /// again in this run: the run fails at once (or, with `--keep-going`, records the remaining
    /// cells as failed). 0 never stops calling.
    #[serde(default = "default_circuit_breaker")]
    pub circuit_breaker: u32,
    /// Seconds requests may wait with no reply at all from the server (neither an answer nor an
    /// error) before the server counts as stalled: its circuit breaker opens and the run stops.
    /// Unset: a quarter longer than `timeout_secs` (150 s by default), so a timed-out attempt
    /// is retried once before a silent server stops the run.
    #[serde(default)]
    pub stall_timeout_secs: Option<f64>,
    #[serde(default)]
    pub temperature: f64,
    /// Most tokens of a plan or a refined plan.
    #[serde(default = "default_plan_tokens")]
    pub plan_max_tokens: u32,
    /// Most tokens of an execution.
    #[serde(default = "default_answer_tokens")]
    pub answer_max_tokens: u32,
    /// Most tokens of a juror's verdict ("Score: N" takes about four).
    #[serde(default = "default_verdict_tokens")]
    pub verdict_max_tokens: u32,
    /// Whether the model thinks before it answers, and how to turn thinking off.
    #[serde(default)]
    pub reasoning: Reasoning,
    /// Lessons from past auctions less similar than this (cosine similarity of the task
    /// embeddings) are not quoted in a refinement prompt; with none left the agent does not
    /// refine (an abstention, no call).
    #[serde(default = "default_lesson_min_similarity")]
    pub lesson_min_similarity: f64,
    /// Ask for token log-probabilities (plan entropy). Servers that ignore the request get the
    /// fallback.
    #[serde(default = "default_true")]
    pub logprobs: bool,
    /// Plan entropy, in nats per token, when the server returns no log-probabilities.
    #[serde(default = "default_fallback_entropy")]
    pub fallback_entropy: f64,
}

fn default_timeout() -> f64 {
    120.0
}
fn default_deadline() -> f64 {
    600.0
}
fn default_verdict_tokens() -> u32 {
    16
}
fn default_lesson_min_similarity() -> f64 {
    0.2
}
fn default_retries() -> u32 {
    4
}
fn default_backoff() -> u64 {
    500
}
fn default_circuit_breaker() -> u32 {
    5
}
/// Requests in flight when neither the agent nor its server says.
pub const DEFAULT_CONCURRENCY: u32 = 4;
fn default_plan_tokens() -> u32 {
    256
}
fn default_answer_tokens() -> u32 {
    1024
}
const fn default_true() -> bool {
    true
}
fn default_fallback_entropy() -> f64 {
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
        c.range("timeout_secs", self.timeout_secs, 0.001, 86_400.0);
        c.range("deadline_secs", self.deadline_secs, self.timeout_secs.clamp(0.001, 86_400.0), 604_800.0);
        c.count("max_retries", self.max_retries.into(), 0, 100);
        c.count("backoff_ms", self.backoff_ms, 0, 600_000);
        if let Some(n) = self.concurrency {
            c.count("concurrency", n.into(), 1, 1024);
        }
        c.count("circuit_breaker", self.circuit_breaker.into(), 0, 1_000_000);
        if let Some(stall) = self.stall_timeout_secs {
            c.range("stall_timeout_secs", stall, 0.001, 86_400.0);
        }
        c.range("temperature", self.temperature, 0.0, 2.0);
        c.count("plan_max_tokens", self.plan_max_tokens.into(), 1, 1_000_000);
        c.count("answer_max_tokens", self.answer_max_tokens.into(), 1, 1_000_000);
        c.count("verdict_max_tokens", self.verdict_max_tokens.into(), 1, 1_000_000);
        if let Reasoning::Think { tokens } = self.reasoning {
            c.within("reasoning", |c| c.count("tokens", tokens.into(), 1, 1_000_000));
        }
        c.range("lesson_min_similarity", self.lesson_min_similarity, -1.0, 1.0);
        c.range("fallback_entropy", self.fallback_entropy, 0.0, 100.0);
    }
}
