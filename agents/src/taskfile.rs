//! Tasks read from a file: our JSONL task format, and the task side of recorded trace tables.
//!
//! JSONL: one task per line,
//! `{"id": "gsm-1", "text": "...", "domain": "math", "tau": 2.0, "answer": "18", "check": {"numeric": {"tolerance": 1e-6}}}`.
//! `id` (default: the line number), `topic` (default: the domain's one topic), `tau` or `bin` (one of them unless the domain has a single
//! bin), `check` (default `"exact"`; also `"choice"` and `{"regex": "..."}`) and `value` (default:
//! the domain's `value_per_minute` times tau) may be left out.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::answer::AnswerCheck;
use crate::validate::{Checker, Invalids};

crate::documented! {
    /// Where a scenario's tasks come from when they are real (`workload: (tasks: (...))`).
    #[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct TaskFile {
        /// The file (or, for RouteLLM, a folder of CSV files, one domain each), relative to the
        /// scenario file's folder.
        pub path: PathBuf, allowed "a readable file or folder";
        /// Its layout: Tender's JSONL tasks, RouteLLM's per-model outcome CSV (`prompt`, one
        /// True/False column per model), or RouterBench's wide CSV (a score column per model).
        #[serde(default)]
        pub format: TaskFormat, shown "`Jsonl`", allowed "`Jsonl`, `RouteLlm`, `RouterBench`";
        /// How task texts become embeddings (for memory retrieval and routers): the built-in
        /// hashed n-gram TF-IDF with this many components, or an OpenAI-compatible
        /// `/v1/embeddings` endpoint.
        #[serde(default)]
        pub embedding: Embedding, shown "`Hashed(256)`", allowed "`Hashed(n)` (n in [2, 65,535]), `Server(base_url, model, ...)`";
        /// The domain of every task of a RouteLLM file.
        #[serde(default)]
        pub domain: Option<String>, shown "the file's name without extension", allowed "a domain's name";
        /// Keep only one part of the file (a split-sample check: calibrate on one part, predict
        /// another): `(by: Topic | Task, part, parts: 2, seed: 0)`, as `--split` gives it.
        #[serde(default)]
        pub split: Option<crate::split::Split>, shown "the whole file", allowed "`parts` in [2, 1,000], `part` below it";
    }
}

/// The layout of a task file.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub enum TaskFormat {
    /// Tender's JSONL task format.
    #[default]
    Jsonl,
    /// RouteLLM's per-model outcome CSV: `prompt`, one True/False column per model, optional
    /// `<model>_response` columns.
    RouteLlm,
    /// RouterBench's wide CSV: `sample_id`, `prompt`, `eval_name`, and per model a score
    /// column, `<model>|model_response` and `<model>|total_cost`.
    RouterBench,
}

/// How task texts become embeddings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub enum Embedding {
    /// Built-in hashed n-gram TF-IDF ([`crate::embed`]) with this many components.
    Hashed(u16),
    /// An OpenAI-compatible `/v1/embeddings` endpoint.
    Server(EmbeddingServer),
}

impl Default for Embedding {
    fn default() -> Self {
        Self::Hashed(256)
    }
}

/// An embeddings endpoint.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmbeddingServer {
    pub base_url: String,
    pub model: String,
    /// Name of the environment variable holding the API key (the key itself is never written
    /// anywhere).
    #[serde(default)]
    pub api_key_env: Option<String>,
}

impl TaskFile {
    pub fn check(&self, c: &mut Checker) {
        c.require(!self.path.as_os_str().is_empty(), "path", "\"\"", "must name a file");
        match &self.embedding {
            Embedding::Hashed(dim) => c.within("embedding", |c| c.count("Hashed", (*dim).into(), 2, 65_535)),
            Embedding::Server(s) => {
                c.within("embedding", |c| c.within("Server", |c| c.endpoint(&s.base_url, &s.model)))
            }
        }
        if let Some(split) = &self.split {
            c.within("split", |c| split.check(c));
        }
    }
}

/// One task as read from a file, before it is placed in the workload.
#[derive(Clone, Debug, PartialEq)]
pub struct TaskRow {
    pub key: String,
    pub text: String,
    pub domain: String,
    /// The task's topic within its domain, where the file says (an MMLU subject); tasks without
    /// one share their domain's single topic.
    pub topic: Option<String>,
    pub tau: Option<f64>,
    pub bin: Option<u8>,
    pub reference: String,
    pub check: AnswerCheck,
    pub value: Option<f64>,
    /// Seconds from the stream's start at which the task arrives (`arrivals: FromTasks`).
    pub arrival: Option<f64>,
}

/// Why a task file cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum TaskFileError {
    #[error("{file}:{line}: {message}")]
    Line { file: String, line: usize, message: String },
    #[error("{file}: {message}")]
    File { file: String, message: String },
    #[error("{file}: invalid tasks:\n{errors}")]
    Invalid { file: String, errors: Invalids },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct JsonTask {
    #[serde(default)]
    id: Option<String>,
    text: String,
    domain: String,
    #[serde(default)]
    topic: Option<String>,
    #[serde(default)]
    tau: Option<f64>,
    #[serde(default)]
    bin: Option<u8>,
    answer: String,
    #[serde(default)]
    check: AnswerCheck,
    #[serde(default)]
    value: Option<f64>,
    #[serde(default)]
    arrival: Option<f64>,
}

/// Parse a JSONL task file; `file` names it in errors. Blank lines are skipped.
pub fn parse_jsonl(text: &str, file: &str) -> Result<Vec<TaskRow>, TaskFileError> {
    let mut rows = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let err = |message: String| TaskFileError::Line { file: file.to_string(), line: i + 1, message };
        let t: JsonTask = serde_json::from_str(line).map_err(|e| err(e.to_string()))?;
        if let Some(problem) = t.check.problem() {
            return Err(err(problem));
        }
        if let Some(at) = t.arrival.filter(|a| !(a.is_finite() && *a >= 0.0)) {
            return Err(err(format!("arrival {at} must be seconds, finite and at least 0")));
        }
        rows.push(TaskRow {
            key: t.id.unwrap_or_else(|| format!("line-{}", i + 1)),
            text: t.text,
            domain: t.domain,
            topic: t.topic,
            tau: t.tau,
            bin: t.bin,
            reference: t.answer,
            check: t.check,
            value: t.value,
            arrival: t.arrival,
        });
    }
    if rows.is_empty() {
        return Err(TaskFileError::File { file: file.to_string(), message: "holds no tasks".into() });
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jsonl_rows_parse_with_defaults_and_errors_name_the_line() {
        let text = "{\"id\":\"a\",\"text\":\"2+2?\",\"domain\":\"math\",\"tau\":0.2,\"answer\":\"4\",\"check\":{\"numeric\":{\"tolerance\":0}}}\n\n\
                    {\"text\":\"Capital of France?\",\"domain\":\"facts\",\"answer\":\"Paris\"}\n";
        let rows = parse_jsonl(text, "t.jsonl").unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[1].key, "line-3");
        assert_eq!(rows[1].check, AnswerCheck::Exact);
        let bad =
            parse_jsonl("{\"text\":\"x\",\"domain\":\"d\",\"answer\":\"1\",\"colour\":1}", "t.jsonl").unwrap_err();
        assert!(bad.to_string().starts_with("t.jsonl:1: unknown field `colour`"), "{bad}");
        let regex =
            parse_jsonl("{\"text\":\"x\",\"domain\":\"d\",\"answer\":\"1\",\"check\":{\"regex\":\"(\"}}", "t.jsonl");
        assert!(regex.unwrap_err().to_string().contains("regex does not compile"));
    }
}
