//! `tender doctor FILE`: every live agent checked against its server, with sample calls through
//! the real prompts and parsers, one table and a verdict with fixes per agent.

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Result, bail};
use tender_agents::live::{Endpoint, LiveSpec, Probe};
use tender_agents::{AnswerCheck, Backend};

use crate::backends::{LiveOptions, PREFLIGHT_TIMEOUT, load};
use crate::io::emit;

/// How ready an agent is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Verdict {
    Ready,
    Warnings,
    NotUsable,
}

/// One agent's findings.
struct Findings {
    name: String,
    endpoint: Result<Endpoint, String>,
    probes: Vec<Probe>,
    /// (serious, problem and fix)
    problems: Vec<(bool, String)>,
}

impl Findings {
    fn verdict(&self) -> Verdict {
        if self.endpoint.is_err() || self.problems.iter().any(|(serious, _)| *serious) {
            Verdict::NotUsable
        } else if self.problems.is_empty() {
            Verdict::Ready
        } else {
            Verdict::Warnings
        }
    }
}

/// Tokens of context a request's prompt is allowed beside its answer.
const PROMPT_ALLOWANCE: u32 = 512;

/// The problems the findings show, each with its fix.
fn diagnose(spec: &LiveSpec, endpoint: &Endpoint, probes: &[Probe]) -> Vec<(bool, String)> {
    let mut out = Vec::new();
    let budget = spec.answer_max_tokens.saturating_add(spec.reasoning.extra_tokens());
    let needed = budget.saturating_add(PROMPT_ALLOWANCE);
    if let Some(ctx) = endpoint.context
        && ctx < needed
    {
        // llama.cpp divides its context (-c) among its slots (-np): each request gets ctx.
        let split = match endpoint.slots {
            Some(slots) if slots > 1 => format!(
                "; llama.cpp divides -c among its -np {slots} slots, so start it with -c {} or more (the slots \
                 times {needed}), or fewer slots (-np)",
                u64::from(slots) * u64::from(needed)
            ),
            _ => format!("; start it with -c {needed} or more (llama.cpp)"),
        };
        out.push((
            true,
            format!(
                "the server's context window ({ctx} tokens per request) cannot hold a prompt and an answer of \
                 up to {budget} tokens{split}; or lower `answer_max_tokens`"
            ),
        ));
    }
    for p in probes {
        if let Some(error) = &p.error {
            out.push((true, format!("the sample {} call failed: {error}", p.kind)));
            continue;
        }
        match p.kind {
            "plan" if !p.parse_ok => out.push((true, "the sample plan is empty: the model wrote nothing (if it thinks first, set `reasoning: Think(tokens: ...)` or turn thinking off)".into())),
            "plan" if spec.logprobs && !p.logprobs => out.push((
                false,
                format!(
                    "the server returns no log-probabilities, so plan entropy is the fallback ({} nats/token) for \
                     every plan: use a server that returns them (llama.cpp, vLLM, OpenAI) or set `logprobs: false`",
                    spec.fallback_entropy
                ),
            )),
            "judge" if !p.parse_ok => out.push((
                false,
                format!(
                    "the model's verdict holds no explicit score (\"Score: N\"), so it would be unparsed, not counted: \
                     an instruction-tuned juror answers in the format; if it thinks first, raise `verdict_max_tokens` \
                     (now {}) or set `reasoning`",
                    spec.verdict_max_tokens
                ),
            )),
            "execute" if !p.parse_ok => out.push((
                false,
                "no answer was found in the sample answer (unparsed): the model ignores the answer format, or ran out \
                 of `answer_max_tokens`"
                    .into(),
            )),
            _ => {}
        }
        if p.kind != "plan" && p.parse_ok && !p.usage_reported {
            out.push((
                false,
                "the server reports no token usage: tokens (and so costs) are estimated at four characters a token"
                    .into(),
            ));
        }
        if p.latency_ms as f64 > spec.timeout_secs * 1000.0 / 2.0 {
            out.push((
                false,
                format!(
                    "the sample {} call took {:.1} s, over half of `timeout_secs` ({} s): raise it, or lower \
                     `concurrency` if requests queue inside the server",
                    p.kind,
                    p.latency_ms as f64 / 1000.0,
                    spec.timeout_secs
                ),
            ));
        }
    }
    out.dedup();
    out
}

pub fn doctor(file: &Path, task: Option<&str>) -> Result<ExitCode> {
    let options = LiveOptions { no_cache: true, no_trace: true, ..LiveOptions::default() };
    let backends = crate::backends::prepare(load(file)?, file, &options)?;
    let scenario = &backends.prepared.scenario;
    let Some(live) = backends.live.as_deref() else {
        bail!("{}: the scenario has no live agents; there is nothing to check", file.display());
    };
    let tasks = scenario.workload.loaded.clone().unwrap_or_else(|| std::sync::Arc::from(Vec::new()));
    let contents: Vec<_> = tasks.iter().filter_map(|t| t.content.clone()).collect();
    let sample = match task {
        Some(key) => contents.iter().find(|c| c.key == key).cloned().ok_or_else(|| {
            anyhow::anyhow!("no task {key:?} in the task file; it has: {}", {
                let keys: Vec<&str> = contents.iter().take(10).map(|c| c.key.as_str()).collect();
                keys.join(", ")
            })
        })?,
        // The first task whose answer is checked without running code, else the first.
        None => match contents.iter().find(|c| !matches!(c.check, AnswerCheck::PythonTests { .. })) {
            Some(c) => c.clone(),
            None => contents.first().cloned().ok_or_else(|| anyhow::anyhow!("the task file holds no tasks"))?,
        },
    };
    eprintln!(
        "checking {} live agent(s) with task {:?}...",
        scenario.agents.iter().filter(|a| matches!(a.backend, Backend::Live(_))).count(),
        sample.key
    );
    let mut findings = Vec::new();
    for (i, agent) in scenario.agents.iter().enumerate() {
        let Backend::Live(spec) = &agent.backend else { continue };
        let endpoint = live.endpoint(i, PREFLIGHT_TIMEOUT).map_err(|e| e.to_string());
        let (probes, problems) = match &endpoint {
            Ok(e) => {
                let probes = live.probe(i, &sample);
                let problems = diagnose(spec, e, &probes);
                (probes, problems)
            }
            Err(_) => (Vec::new(), Vec::new()),
        };
        findings.push(Findings { name: agent.name.clone(), endpoint, probes, problems });
    }

    let mut t = tender_analysis::table::table(
        [
            "agent",
            "server",
            "slots",
            "context",
            "logprobs",
            "usage",
            "plan",
            "verdict",
            "answer",
            "latency ms (plan/verdict/answer)",
        ]
        .map(String::from)
        .to_vec(),
    );
    for f in &findings {
        let probe = |kind: &str| f.probes.iter().find(|p| p.kind == kind);
        let parsed = |kind: &str| probe(kind).map_or_else(|| "—".to_string(), |p| p.parsed.clone());
        let yes_no = |b: Option<bool>| b.map_or("—", |b| if b { "yes" } else { "no" }).to_string();
        t.add_row(vec![
            f.name.clone(),
            match &f.endpoint {
                Ok(e) => format!("ok ({} ms)", e.latency_ms),
                Err(_) => "unreachable".into(),
            },
            f.endpoint.as_ref().ok().and_then(|e| e.slots).map_or_else(|| "—".into(), |s| s.to_string()),
            f.endpoint.as_ref().ok().and_then(|e| e.context).map_or_else(|| "—".into(), |c| format!("{c} tok")),
            yes_no(probe("plan").map(|p| p.logprobs)),
            yes_no(probe("execute").map(|p| p.usage_reported)),
            parsed("plan"),
            parsed("judge"),
            parsed("execute"),
            f.probes.iter().map(|p| p.latency_ms.to_string()).collect::<Vec<_>>().join(" / "),
        ]);
    }
    let mut text = format!("{t}\n");
    for f in &findings {
        let verdict = match f.verdict() {
            Verdict::Ready => "ready",
            Verdict::Warnings => "usable, with warnings",
            Verdict::NotUsable => "NOT USABLE",
        };
        text.push_str(&format!("\n{}: {verdict}\n", f.name));
        if let Err(e) = &f.endpoint {
            text.push_str(&format!("  - {e}\n"));
        }
        for (_, problem) in &f.problems {
            text.push_str(&format!("  - {problem}\n"));
        }
        for p in &f.probes {
            text.push_str(&format!("  {} reply: {}\n", p.kind, if p.reply.is_empty() { "(empty)" } else { &p.reply }));
        }
    }
    emit(text.trim_end())?;
    let worst = findings.iter().map(Findings::verdict).max().unwrap_or(Verdict::Ready);
    Ok(if worst == Verdict::NotUsable { ExitCode::FAILURE } else { ExitCode::SUCCESS })
}
