//! What a live agent's server can do, checked before a run (the preflight) and, with sample
//! calls through the real prompts, by `tender doctor`.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::chat::parse_score;
use super::http::Cause;
use super::prompts::Prompts;
use super::source::{LiveError, LiveSource, clip};
use crate::answer::AnswerCheck;
use crate::task::TaskContent;

/// What a server says about itself, for one agent.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Endpoint {
    /// The models it serves, when it lists them (`GET /models`).
    pub models: Option<Vec<String>>,
    /// Requests it runs at once, when it says (llama.cpp's `/props`: `total_slots`).
    pub slots: Option<u32>,
    /// Its context window in tokens per request, when it says (llama.cpp).
    pub context: Option<u32>,
    /// How long `GET /models` took.
    pub latency_ms: u64,
}

/// The model ids of an OpenAI-style `/models` reply (`{"data": [{"id": ...}]}`); none when the
/// reply has another shape.
fn model_ids(body: &str) -> Vec<String> {
    serde_json::from_str::<Value>(body)
        .ok()
        .and_then(|v| v.get("data").and_then(Value::as_array).cloned())
        .map(|items| items.iter().filter_map(|i| i.get("id").and_then(Value::as_str).map(String::from)).collect())
        .unwrap_or_default()
}

/// Slots and context window from llama.cpp's `/props` (`total_slots`,
/// `default_generation_settings.n_ctx`).
fn props(body: &str) -> (Option<u32>, Option<u32>) {
    let Ok(v) = serde_json::from_str::<Value>(body) else { return (None, None) };
    let n = |p: &str| v.pointer(p).and_then(Value::as_u64).and_then(|n| u32::try_from(n).ok()).filter(|&n| n > 0);
    (n("/total_slots"), n("/default_generation_settings/n_ctx"))
}

/// One sample call of `tender doctor`.
#[derive(Clone, Debug, PartialEq)]
pub struct Probe {
    /// `plan`, `judge` or `execute`.
    pub kind: &'static str,
    /// The call's error, when it failed.
    pub error: Option<String>,
    pub latency_ms: u64,
    /// Whether the reply reported its token usage (otherwise it is estimated).
    pub usage_reported: bool,
    /// Whether the reply carried log-probabilities (plans only: otherwise plan entropy is the
    /// fallback).
    pub logprobs: bool,
    /// The reply, cut to a line.
    pub reply: String,
    /// What the parser read: a score, an answer and its grade, or why nothing.
    pub parsed: String,
    /// Whether the parser read what was asked.
    pub parse_ok: bool,
}

impl LiveSource {
    /// What agent `agent`'s server says about itself: reachable, accepting the credentials,
    /// serving the model (`GET {base_url}/models`; a server without that route is given the
    /// benefit of the doubt), and, where it says, its slots and context window. A problem
    /// names the agent, URL and cause, and the fix.
    pub fn endpoint(&self, agent: usize, timeout: Duration) -> Result<Endpoint, LiveError> {
        let Some(m) = self.members.get(agent).and_then(Option::as_ref) else { return Ok(Endpoint::default()) };
        let Some(client) = &m.client else { return Ok(Endpoint::default()) };
        let fail =
            |message: String| LiveError::Preflight { agent: m.name.clone(), url: m.spec.base_url.clone(), message };
        let started = Instant::now();
        let models = match client.get("models", timeout) {
            Ok(body) => Some(model_ids(&body)),
            Err(f) => match f.cause {
                Cause::Status(404 | 405) => None,
                Cause::Connect => {
                    return Err(fail(format!(
                        "nothing is listening there ({}); start the server, or fix `base_url`",
                        f.message
                    )));
                }
                Cause::Timeout => {
                    return Err(fail(format!(
                        "no reply within {} s ({}); is the server still loading its model?",
                        timeout.as_secs_f64(),
                        f.message
                    )));
                }
                Cause::Status(401 | 403) => {
                    return Err(fail(format!(
                        "the server refuses the credentials ({}); check the key in the agent's `api_key_env`",
                        f.message
                    )));
                }
                _ => return Err(fail(f.message)),
            },
        };
        let latency_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        if let Some(ids) = &models
            && !ids.is_empty()
            && !ids.contains(&m.spec.model)
        {
            let served = ids.iter().take(20).map(|i| format!("{i:?}")).collect::<Vec<_>>().join(", ");
            // A one-model server (llama.cpp) serving another model is most likely another
            // model's server: changing `model` would silently swap the agent's model.
            return Err(fail(if ids.len() == 1 {
                format!(
                    "the server at this address serves another model ({served}), not {:?}: check `base_url` (is \
                     it another agent's server, on another port?); set `model` to {served} only if that model is \
                     the one this agent should be",
                    m.spec.model
                )
            } else {
                format!(
                    "the server does not serve model {:?}; it serves {served}: check `base_url`, or set `model` to \
                     the one this agent should be",
                    m.spec.model
                )
            }));
        }
        let (slots, context) = client.get_root("props", timeout).map_or((None, None), |body| props(&body));
        Ok(Endpoint { models, slots, context, latency_ms })
    }

    /// Before any episode, the cheap part of `tender doctor`: every distinct endpoint is
    /// reachable, accepts the credentials and serves the agent's model; an agent without a set
    /// `concurrency` takes the server's slots where it reports them. Returns, per agent whose
    /// concurrency came from its server, the agent's name and that concurrency.
    pub fn preflight(&self, timeout: Duration) -> Result<Vec<(String, u32)>, LiveError> {
        let mut seen: HashMap<&str, Endpoint> = HashMap::new();
        let mut from_server = Vec::new();
        for (i, m) in self.members.iter().enumerate() {
            let Some(m) = m else { continue };
            let Some(client) = &m.client else { continue };
            let endpoint = match seen.get(m.spec.base_url.as_str()) {
                // One check per server, but every agent's model is checked against its list.
                Some(e) if e.models.as_ref().is_none_or(|ids| ids.is_empty() || ids.contains(&m.spec.model)) => {
                    e.clone()
                }
                _ => {
                    let e = self.endpoint(i, timeout)?;
                    seen.insert(m.spec.base_url.as_str(), e.clone());
                    e
                }
            };
            if let (None, Some(slots)) = (m.spec.concurrency, endpoint.slots) {
                client.set_concurrency(slots);
                from_server.push((m.name.clone(), slots));
            }
        }
        Ok(from_server)
    }

    /// `tender doctor`'s sample calls for agent `agent` on `task`: a plan, the agent's verdict
    /// on it, and an answer along it, through the real prompts and parsers, calling the server
    /// (the run's cache is not consulted).
    #[must_use]
    pub fn probe(&self, agent: usize, task: &TaskContent) -> Vec<Probe> {
        let Some(m) = self.members.get(agent).and_then(Option::as_ref) else { return Vec::new() };
        let line = |text: &str| clip(&text.split_whitespace().collect::<Vec<_>>().join(" "), 80);
        let probe = |kind: &'static str, record: &super::CallRecord, parsed: String, parse_ok: bool| Probe {
            kind,
            error: record.error.clone(),
            latency_ms: record.latency_ms,
            usage_reported: record.usage_reported,
            logprobs: record.entropy.is_some(),
            reply: line(record.content.as_deref().unwrap_or_default()),
            parsed: if record.ok { parsed } else { "call failed".into() },
            parse_ok: record.ok && parse_ok,
        };
        let plan = self.chat(
            "plan",
            agent,
            &task.key,
            Prompts::plan(&task.text, m.spec.plan_max_tokens),
            m.spec.plan_max_tokens,
            true,
        );
        let plan_text = plan.content.clone().unwrap_or_default();
        let written = !plan_text.trim().is_empty();
        let mut out = vec![probe(
            "plan",
            &plan,
            match (written, plan.entropy) {
                (false, _) => "empty plan".into(),
                (true, Some(h)) => format!("{} tokens, entropy {h:.2} nats/token", plan.usage.output),
                (true, None) => format!("{} tokens, no log-probabilities (fallback entropy)", plan.usage.output),
            },
            written,
        )];
        let verdict = self.chat(
            "judge",
            agent,
            &task.key,
            Prompts::judge(&task.text, &plan_text),
            m.spec.verdict_max_tokens,
            false,
        );
        let score = parse_score(verdict.content.as_deref().unwrap_or_default());
        out.push(probe(
            "judge",
            &verdict,
            score.map_or_else(|| "no score (unparsed)".into(), |s| format!("score {s}")),
            score.is_some(),
        ));
        let prompt = Prompts::execution(task, written.then_some(plan_text.as_str()));
        let answer = self.chat("execute", agent, &task.key, prompt, m.spec.answer_max_tokens, false);
        let reply = answer.content.as_deref().unwrap_or_default();
        let graded = task.check.grade(&task.text, reply, &task.reference);
        let parsed = match (graded.stage, &task.check) {
            (None, _) => "no answer found (unparsed)".to_string(),
            (Some(stage), AnswerCheck::PythonTests { .. }) => format!("a program, from the {stage} (not run)"),
            (Some(stage), _) => {
                format!("from the {stage}: {}", if graded.passed { "correct" } else { "wrong" })
            }
        };
        out.push(probe("execute", &answer, parsed, graded.stage.is_some()));
        out
    }
}
