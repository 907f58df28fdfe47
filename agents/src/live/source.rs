//! `LiveSource`: the cells of live agents, answered by their servers, the response cache or a
//! recorded trace.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::{Duration, Instant};

use rayon::prelude::*;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::LiveSpec;
use super::chat::{ChatRequest, parse_chat, parse_score};
use super::http::{Cause, HttpClient, Limits, Retry};
use super::journal::{CallRecord, Journal, JournalError};
use super::prompts::{Lesson, Prompts};
use crate::answer::AnswerCheck;
use crate::cells::{ExecutionCell, JuryCell, PlanCell, RetrievedPair, Round, Status, TextId, Usage};
use crate::source::{AgentInfo, CellKey};
use crate::streams::name_key;
use crate::taskfile::EmbeddingServer;

/// Where answers come from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Call the servers, except for requests the cache already answers. Successful answers are
    /// added to `cache`; every answer the run uses is appended to `trace`.
    Live { cache: Option<PathBuf>, trace: Option<PathBuf> },
    /// Answer only from a recorded trace, never calling anything; a request the trace lacks is
    /// a miss (a failed cell, and an error at the end of the run).
    Replay { trace: PathBuf },
}

/// A live agent's server that has not replied for a while although requests wait on it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stall {
    pub agent: String,
    pub url: String,
    /// How long no reply has come back.
    pub quiet: Duration,
    /// Requests waiting on it.
    pub waiting: u32,
    /// When it counts as stalled and the run stops (`stall_timeout_secs`).
    pub limit: Duration,
}

/// What the live side did in a run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CallStats {
    /// Requests sent to a server (each may have taken several attempts); not those an open
    /// circuit breaker held back.
    pub calls: u64,
    pub attempts: u64,
    /// Requests answered by the response cache.
    pub cached: u64,
    /// Requests answered by the replayed trace.
    pub replayed: u64,
    /// Calls that failed after their retries, or whose answer was unusable.
    pub failures: u64,
    /// Requests a replayed trace did not hold.
    pub misses: u64,
}

impl CallStats {
    /// Attempts beyond each call's first.
    #[must_use]
    pub const fn retries(&self) -> u64 {
        self.attempts.saturating_sub(self.calls)
    }
}

/// How the replies of one kind of call (`plan`, `refine`, `judge`, `execute`) read, counted
/// once per distinct request the run used.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReplyStats {
    pub kind: String,
    /// Replies received (failed calls excluded).
    pub replies: u64,
    /// Replies that said what was asked: a plan, a score, an answer the check could read.
    pub parsed: u64,
    /// Replies in the format their prompt asked for: "Score: N" for a verdict, an `Answer:`
    /// line or a code block for an answer, a plan with log-probabilities (so its entropy was
    /// computed, not the fallback).
    pub formatted: u64,
    /// Replies cut at their token limit (`finish_reason: "length"`).
    pub truncated: u64,
    /// Latency of each reply's call as recorded, in milliseconds, in the order first used.
    pub latencies_ms: Vec<u64>,
}

/// A live endpoint whose circuit breaker stopped calls.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OpenCircuit {
    pub agent: String,
    pub url: String,
    /// The last failure before it opened (redacted).
    pub last_error: String,
}

/// Why the live side cannot start or finish.
#[derive(Debug, thiserror::Error)]
pub enum LiveError {
    #[error("agent {agent:?}: environment variable {var} (api_key_env) is not set")]
    MissingKey { agent: String, var: String },
    #[error(transparent)]
    Journal(#[from] JournalError),
    #[error(
        "replay: {count} request(s) are not in the trace {trace}; the first: {first}. Replay the scenario the trace was recorded with, or record the missing cells live"
    )]
    Misses { count: u64, trace: String, first: String },
    #[error("embeddings from {url}: {message}")]
    Embedding { url: String, message: String },
    #[error("agent {agent:?} at {url}: {message}")]
    Preflight { agent: String, url: String, message: String },
}

pub(super) struct Member {
    pub(super) name: String,
    pub(super) spec: LiveSpec,
    pub(super) client: Option<HttpClient>,
}

#[derive(Default)]
struct Counters {
    calls: AtomicU64,
    attempts: AtomicU64,
    cached: AtomicU64,
    replayed: AtomicU64,
    failures: AtomicU64,
    misses: AtomicU64,
}

/// The live agents of a pool (indices are pool indices; other agents are not its business).
pub struct LiveSource {
    pub(super) members: Vec<Option<Member>>,
    replay: Option<PathBuf>,
    answers: Mutex<HashMap<String, Arc<OnceLock<Arc<CallRecord>>>>>,
    /// Where each answer came from before this run: the cache or the replayed trace.
    preloaded: HashSet<String>,
    texts: Mutex<HashMap<TextId, Arc<str>>>,
    /// Test verdicts of coding answers, by the answering call's key and the tests' hash.
    programs: Mutex<HashMap<String, Arc<OnceLock<bool>>>>,
    cache: Option<Journal>,
    trace: Option<Journal>,
    traced: Mutex<HashSet<String>>,
    counters: Counters,
    first_miss: Mutex<Option<String>>,
    /// Failed calls by agent and cause.
    failed: Mutex<BTreeMap<(String, Cause), u64>>,
    /// How replies read, by kind, and the requests already counted.
    replies: Mutex<(BTreeMap<String, ReplyStats>, HashSet<String>)>,
    /// Per agent, the last failure's message (for an open circuit's report).
    last_error: Mutex<HashMap<String, String>>,
    journal_error: Mutex<Option<JournalError>>,
    /// The pool juror panels are asked on, built at first use, once the preflight has set each
    /// agent's concurrency from its server; `None` when it could not be built (panels are then
    /// asked one juror after another).
    io: OnceLock<Option<rayon::ThreadPool>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

pub(super) fn text_id(text: &str) -> TextId {
    name_key(text) | 1
}

/// A request body's cache key.
fn request_key(body: &str) -> String {
    Sha256::digest(body.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

/// What a call is, for its record.
#[derive(Clone, Copy)]
struct Label<'a> {
    kind: &'a str,
    agent: &'a str,
    model: &'a str,
    task: &'a str,
}

/// Lessons' plan texts, losing then winning.
type LessonTexts = Vec<(Option<Arc<str>>, Option<Arc<str>>)>;

/// What a parsed reply contributes to its record.
struct Parsed {
    content: Option<String>,
    usage: Usage,
    usage_reported: bool,
    entropy: Option<f64>,
    vector: Option<Vec<f32>>,
    truncated: bool,
}

impl LiveSource {
    /// `specs[i]` is agent `i`'s live spec, `None` for agents answered elsewhere. `env` reads
    /// environment variables (API keys are read once, here, and kept only in memory).
    pub fn new(
        agents: &[AgentInfo],
        specs: &[Option<LiveSpec>],
        mode: &Mode,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Self, LiveError> {
        let replay = match mode {
            Mode::Replay { trace } => Some(trace.clone()),
            Mode::Live { .. } => None,
        };
        let mut members = Vec::with_capacity(specs.len());
        for (info, spec) in agents.iter().zip(specs) {
            let Some(spec) = spec else {
                members.push(None);
                continue;
            };
            let client = if replay.is_some() {
                None
            } else {
                let key = match &spec.api_key_env {
                    None => None,
                    Some(var) => Some(
                        env(var).ok_or_else(|| LiveError::MissingKey { agent: info.name.clone(), var: var.clone() })?,
                    ),
                };
                Some(HttpClient::new(
                    &spec.base_url,
                    "chat/completions",
                    key,
                    Limits {
                        timeout: Duration::from_secs_f64(spec.timeout_secs),
                        deadline: Duration::from_secs_f64(spec.deadline_secs),
                        retry: Retry { max_retries: spec.max_retries, backoff_ms: spec.backoff_ms },
                        concurrency: spec.concurrency.unwrap_or(super::DEFAULT_CONCURRENCY),
                        circuit_breaker: spec.circuit_breaker,
                        stall: Duration::from_secs_f64(spec.stall_timeout()),
                    },
                ))
            };
            members.push(Some(Member { name: info.name.clone(), spec: spec.clone(), client }));
        }
        let (cache, trace, loaded) = match mode {
            Mode::Live { cache, trace } => {
                let (cache, old) = match cache {
                    Some(path) => {
                        let (j, old) = Journal::open(path)?;
                        (Some(j), old)
                    }
                    None => (None, Vec::new()),
                };
                let trace = trace.as_deref().map(Journal::create).transpose()?;
                (cache, trace, old.into_iter().filter(|r| r.ok).collect::<Vec<_>>())
            }
            Mode::Replay { trace } => {
                let text = std::fs::read_to_string(trace)
                    .map_err(|source| JournalError::Io { path: trace.clone(), source })?;
                let (records, _) = super::journal::read_records(&text, trace)?;
                (None, None, records)
            }
        };
        let mut answers = HashMap::new();
        let mut texts = HashMap::new();
        let mut preloaded = HashSet::new();
        for r in loaded {
            if let Some(content) = &r.content {
                texts.insert(text_id(content), Arc::from(content.as_str()));
            }
            preloaded.insert(r.key.clone());
            let cell = OnceLock::new();
            let key = r.key.clone();
            let _ = cell.set(Arc::new(r));
            answers.insert(key, Arc::new(cell));
        }
        Ok(Self {
            members,
            replay,
            answers: Mutex::new(answers),
            preloaded,
            texts: Mutex::new(texts),
            programs: Mutex::new(HashMap::new()),
            cache,
            trace,
            traced: Mutex::new(HashSet::new()),
            counters: Counters::default(),
            first_miss: Mutex::new(None),
            failed: Mutex::new(BTreeMap::new()),
            replies: Mutex::new((BTreeMap::new(), HashSet::new())),
            last_error: Mutex::new(HashMap::new()),
            journal_error: Mutex::new(None),
            io: OnceLock::new(),
        })
    }

    /// Requests that may usefully be in flight at once, the sum of the agents' concurrency (as
    /// set, or as their servers reported in the preflight): the episode runner sizes its pool by
    /// it, since live episodes wait on the network rather than the CPU.
    #[must_use]
    pub fn parallelism(&self) -> usize {
        self.members
            .iter()
            .flatten()
            .map(|m| {
                m.client
                    .as_ref()
                    .map_or_else(|| m.spec.concurrency.unwrap_or(super::DEFAULT_CONCURRENCY), HttpClient::concurrency)
                    as usize
            })
            .sum::<usize>()
            .clamp(1, 256)
    }

    /// The run's counts so far.
    #[must_use]
    pub fn stats(&self) -> CallStats {
        let c = &self.counters;
        CallStats {
            calls: c.calls.load(Ordering::Relaxed),
            attempts: c.attempts.load(Ordering::Relaxed),
            cached: c.cached.load(Ordering::Relaxed),
            replayed: c.replayed.load(Ordering::Relaxed),
            failures: c.failures.load(Ordering::Relaxed),
            misses: c.misses.load(Ordering::Relaxed),
        }
    }

    /// How replies read so far, by kind of call.
    #[must_use]
    pub fn reply_stats(&self) -> Vec<ReplyStats> {
        lock(&self.replies).0.values().cloned().collect()
    }

    /// Count `record`'s reply once, however often its cell is read.
    fn note_reply(&self, record: &CallRecord, parsed: bool, formatted: bool) {
        if !record.ok || record.kind == "embed" {
            return;
        }
        let mut guard = lock(&self.replies);
        let (stats, seen) = &mut *guard;
        if !seen.insert(record.key.clone()) {
            return;
        }
        let s = stats
            .entry(record.kind.clone())
            .or_insert_with(|| ReplyStats { kind: record.kind.clone(), ..ReplyStats::default() });
        s.replies += 1;
        s.parsed += u64::from(parsed);
        s.formatted += u64::from(formatted);
        s.truncated += u64::from(record.truncated);
        s.latencies_ms.push(record.latency_ms);
    }

    /// Failed calls so far, by agent and cause.
    #[must_use]
    pub fn failures_by_cause(&self) -> Vec<(String, Cause, u64)> {
        lock(&self.failed).iter().map(|((agent, cause), n)| (agent.clone(), *cause, *n)).collect()
    }

    /// Endpoints whose circuit breaker has stopped calls, by agent.
    #[must_use]
    pub fn open_circuits(&self) -> Vec<OpenCircuit> {
        let last = lock(&self.last_error);
        self.members
            .iter()
            .flatten()
            .filter(|m| m.client.as_ref().is_some_and(HttpClient::circuit_open))
            .map(|m| OpenCircuit {
                agent: m.name.clone(),
                url: m.spec.base_url.clone(),
                last_error: m
                    .client
                    .as_ref()
                    .and_then(HttpClient::stall_reason)
                    .or_else(|| last.get(&m.name).cloned())
                    .unwrap_or_default(),
            })
            .collect()
    }

    /// Live agents whose servers have not replied for `at_least` while requests waited.
    /// Servers stalled past their limit get their circuit breakers opened here, so a watcher
    /// calling this stops a hung run on time.
    #[must_use]
    pub fn stalls(&self, at_least: Duration) -> Vec<Stall> {
        self.members
            .iter()
            .flatten()
            .filter_map(|m| {
                let client = m.client.as_ref()?;
                client.check_stall();
                let (quiet, waiting) = client.stalled_for()?;
                (quiet >= at_least && !client.circuit_open()).then(|| Stall {
                    agent: m.name.clone(),
                    url: m.spec.base_url.clone(),
                    quiet,
                    waiting,
                    limit: Duration::from_secs_f64(m.spec.stall_timeout()),
                })
            })
            .collect()
    }

    /// The run's counts, or the first problem that makes its records untrustworthy: a journal
    /// that could not be written, or requests a replayed trace lacked.
    pub fn finish(&self) -> Result<CallStats, LiveError> {
        if let Some(e) = lock(&self.journal_error).take() {
            return Err(e.into());
        }
        let stats = self.stats();
        if stats.misses > 0 {
            return Err(LiveError::Misses {
                count: stats.misses,
                trace: self.replay.as_ref().map(|p| p.display().to_string()).unwrap_or_default(),
                first: lock(&self.first_miss).clone().unwrap_or_default(),
            });
        }
        Ok(stats)
    }

    fn keep_journal_error(&self, result: Result<(), JournalError>) {
        if let Err(e) = result {
            lock(&self.journal_error).get_or_insert(e);
        }
    }

    /// The answer to a request: from this run's earlier calls, the cache, the replayed trace,
    /// or the server (once, however many threads ask at the same time).
    fn answer(
        &self,
        label: Label<'_>,
        body: &Value,
        client: Option<&HttpClient>,
        parse: &dyn Fn(&str) -> Result<Parsed, String>,
    ) -> Arc<CallRecord> {
        let body = body.to_string();
        let key = request_key(&body);
        let cell = Arc::clone(lock(&self.answers).entry(key.clone()).or_insert_with(|| Arc::new(OnceLock::new())));
        let record = Arc::clone(cell.get_or_init(|| {
            let record = self.fetch(label, &key, &body, client, parse);
            if !record.ok {
                self.counters.failures.fetch_add(1, Ordering::Relaxed);
            }
            Arc::new(record)
        }));
        if lock(&self.traced).insert(key.clone()) {
            if self.preloaded.contains(&key) {
                let counter = if self.replay.is_some() { &self.counters.replayed } else { &self.counters.cached };
                counter.fetch_add(1, Ordering::Relaxed);
                if self.replay.is_some() && !record.ok {
                    self.counters.failures.fetch_add(1, Ordering::Relaxed);
                }
            }
            if let Some(trace) = &self.trace {
                self.keep_journal_error(trace.append(&record));
            }
        }
        if let Some(content) = &record.content {
            lock(&self.texts).entry(text_id(content)).or_insert_with(|| Arc::from(content.as_str()));
        }
        record
    }

    fn fetch(
        &self,
        label: Label<'_>,
        key: &str,
        body: &str,
        client: Option<&HttpClient>,
        parse: &dyn Fn(&str) -> Result<Parsed, String>,
    ) -> CallRecord {
        let Label { kind, agent, model, task } = label;
        let mut record = CallRecord {
            key: key.to_string(),
            kind: kind.to_string(),
            agent: agent.to_string(),
            model: model.to_string(),
            task: task.to_string(),
            ok: false,
            error: None,
            content: None,
            usage: Usage::default(),
            usage_reported: false,
            entropy: None,
            vector: None,
            truncated: false,
            attempts: 0,
            latency_ms: 0,
        };
        let Some(client) = client else {
            self.counters.misses.fetch_add(1, Ordering::Relaxed);
            lock(&self.first_miss).get_or_insert_with(|| format!("{kind} by {agent} for task {task:?}"));
            record.error = Some("not in the replayed trace".into());
            return record;
        };
        let started = Instant::now();
        let reply = client.post(body, name_key(key));
        record.latency_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        // A request an open circuit breaker held back was never sent: not a call.
        if reply.as_ref().map_or_else(|f| f.attempts, |r| r.attempts) > 0 {
            self.counters.calls.fetch_add(1, Ordering::Relaxed);
        }
        match reply {
            Err(failure) => {
                record.attempts = failure.attempts;
                self.note_failure(agent, failure.cause, &failure.message);
                record.error = Some(failure.message);
            }
            Ok(reply) => {
                record.attempts = reply.attempts;
                let parsed = parse(&reply.body);
                client.settle(parsed.is_ok());
                match parsed {
                    Err(message) => {
                        let message = client.redact(&message);
                        self.note_failure(agent, Cause::Unusable, &message);
                        record.error = Some(message);
                    }
                    Ok(p) => {
                        record.ok = true;
                        record.content = p.content;
                        record.usage = p.usage;
                        record.usage_reported = p.usage_reported;
                        record.entropy = p.entropy;
                        record.vector = p.vector;
                        record.truncated = p.truncated;
                    }
                }
            }
        }
        self.counters.attempts.fetch_add(u64::from(record.attempts), Ordering::Relaxed);
        if let (true, Some(cache)) = (record.ok, &self.cache) {
            self.keep_journal_error(cache.append(&record));
        }
        record
    }

    fn note_failure(&self, agent: &str, cause: Cause, message: &str) {
        *lock(&self.failed).entry((agent.to_string(), cause)).or_default() += 1;
        if cause != Cause::CircuitOpen {
            lock(&self.last_error).insert(agent.to_string(), message.to_string());
        }
    }

    fn member(&self, agent: usize) -> &Member {
        self.members[agent]
            .as_ref()
            .unwrap_or_else(|| panic!("agent {agent} is not live; the pool routes only live agents here"))
    }

    pub(super) fn chat(
        &self,
        kind: &str,
        agent: usize,
        task: &str,
        user: String,
        max_tokens: u32,
        logprobs: bool,
    ) -> Arc<CallRecord> {
        let m = self.member(agent);
        let request = ChatRequest {
            model: &m.spec.model,
            system: Prompts::SYSTEM,
            seed: name_key(&user) & 0x7FFF_FFFF,
            user,
            max_tokens,
            temperature: m.spec.temperature,
            logprobs: logprobs && m.spec.logprobs,
            reasoning: &m.spec.reasoning,
        };
        let parse = |body: &str| {
            parse_chat(body, &request).map(|a| Parsed {
                content: Some(a.content),
                usage: a.usage,
                usage_reported: a.usage_reported,
                entropy: a.entropy,
                vector: None,
                truncated: a.truncated,
            })
        };
        let label = Label { kind, agent: &m.name, model: &m.spec.model, task };
        self.answer(label, &request.body(), m.client.as_ref(), &parse)
    }

    pub(super) fn text(&self, id: TextId) -> Option<Arc<str>> {
        (id != 0).then(|| lock(&self.texts).get(&id).cloned()).flatten()
    }

    fn plan_cell(&self, agent: usize, round: Round, record: &CallRecord) -> PlanCell {
        let content = record.content.as_deref().unwrap_or_default();
        let written = !content.trim().is_empty();
        self.note_reply(record, written, record.entropy.is_some());
        let status = match (record.ok, written) {
            (false, _) => Status::Failed,
            (true, false) => Status::Unparsed,
            (true, true) => Status::Answered,
        };
        PlanCell {
            round,
            length: u32::try_from(record.usage.output.max(1)).unwrap_or(u32::MAX),
            entropy: record.entropy.unwrap_or(self.member(agent).spec.fallback_entropy),
            boost: 0.0,
            usage: record.usage,
            text: if status == Status::Answered { text_id(content) } else { 0 },
            status,
            seconds: measured(record),
        }
    }

    fn no_plan(round: Round, status: Status) -> PlanCell {
        PlanCell { round, length: 1, entropy: 0.0, boost: 0.0, usage: Usage::default(), text: 0, status, seconds: None }
    }

    /// The agent's first plan.
    #[must_use]
    pub fn plan(&self, key: CellKey<'_>) -> PlanCell {
        let Some(content) = &key.task.content else { return Self::no_plan(Round::Initial, Status::Failed) };
        let plan_tokens = self.member(key.agent).spec.plan_max_tokens;
        let record =
            self.chat("plan", key.agent, &content.key, Prompts::plan(&content.text, plan_tokens), plan_tokens, true);
        self.plan_cell(key.agent, Round::Initial, &record)
    }

    /// The agent's plan after studying `retrieved` pairs from auction memory: those at least
    /// `lesson_min_similarity` similar to the task. With none, the agent does not refine (an
    /// abstention, and no call).
    #[must_use]
    pub fn refine(&self, key: CellKey<'_>, retrieved: &[RetrievedPair], k: usize) -> PlanCell {
        let Some(content) = &key.task.content else { return Self::no_plan(Round::Refined, Status::Failed) };
        let spec = &self.member(key.agent).spec;
        let retrieved: Vec<RetrievedPair> = retrieved
            .iter()
            .take(k)
            .filter(|r| f64::from(r.similarity) >= spec.lesson_min_similarity)
            .copied()
            .collect();
        if retrieved.is_empty() {
            return Self::no_plan(Round::Refined, Status::Abstained);
        }
        // A quoted plan is cut to what a plan may be (four characters a token), so a lesson
        // cannot crowd the prompt with a runaway reply.
        let quoted =
            |id| self.text(id).map(|t: Arc<str>| Arc::<str>::from(clip(&t, spec.plan_max_tokens as usize * 4)));
        let texts: LessonTexts = retrieved.iter().map(|r| (quoted(r.losing_text), quoted(r.winning_text))).collect();
        let lessons: Vec<Lesson<'_>> = retrieved
            .iter()
            .zip(&texts)
            .map(|(r, (losing, winning))| Lesson {
                similarity: r.similarity,
                losing: losing.as_deref(),
                losing_length: r.losing_length,
                winning: winning.as_deref(),
                winning_length: r.winning_length,
                winner_succeeded: r.winner_succeeded,
            })
            .collect();
        let record = self.chat(
            "refine",
            key.agent,
            &content.key,
            Prompts::refine(&content.text, &lessons, spec.plan_max_tokens),
            spec.plan_max_tokens,
            true,
        );
        self.plan_cell(key.agent, Round::Refined, &record)
    }

    /// Live juror `juror`'s score of `plan`: an abstention when the plan has no text, unparsed
    /// when the reply holds no explicit score.
    #[must_use]
    pub fn judge(&self, key: CellKey<'_>, plan: &PlanCell, juror: usize) -> JuryCell {
        let (Some(content), Some(text)) = (&key.task.content, self.text(plan.text)) else { return JuryCell::default() };
        let tokens = self.member(juror).spec.verdict_max_tokens;
        let record = self.chat("judge", juror, &content.key, Prompts::judge(&content.text, &text), tokens, false);
        let seconds = measured(&record);
        if !record.ok {
            return JuryCell { seconds, ..JuryCell::without_score(Status::Failed, record.usage) };
        }
        let reply = record.content.as_deref().unwrap_or_default();
        let score = parse_score(reply);
        self.note_reply(&record, score.is_some(), score.is_some() && reply.to_ascii_lowercase().contains("score"));
        let cell = match score {
            Some(s) => JuryCell::scored(s, record.usage),
            None => JuryCell::without_score(Status::Unparsed, record.usage),
        };
        JuryCell { seconds, ..cell }
    }

    /// Scores by several live jurors at once, on the I/O pool; `jurors` lists pool indices.
    pub fn judge_many(&self, key: CellKey<'_>, plan: &PlanCell, jurors: &[usize], scores: &mut [JuryCell]) {
        let pool = self.io.get_or_init(|| {
            rayon::ThreadPoolBuilder::new()
                .num_threads(self.parallelism())
                .thread_name(|i| format!("tender-io-{i}"))
                .build()
                .ok()
        });
        match pool {
            Some(pool) => pool.install(|| {
                scores.par_iter_mut().zip(jurors.par_iter()).for_each(|(slot, &j)| *slot = self.judge(key, plan, j));
            }),
            None => {
                for (slot, &j) in scores.iter_mut().zip(jurors) {
                    *slot = self.judge(key, plan, j);
                }
            }
        }
    }

    /// The agent solves the task, along `plan` when given; its answer is checked against the
    /// task's reference.
    #[must_use]
    pub fn execute(&self, key: CellKey<'_>, plan: Option<&PlanCell>) -> ExecutionCell {
        let failed = ExecutionCell {
            success: false,
            usage: Usage::default(),
            billed: None,
            status: Status::Failed,
            seconds: None,
        };
        let Some(content) = &key.task.content else { return failed };
        let plan_text = plan.and_then(|p| self.text(p.text));
        let answer_tokens = self.member(key.agent).spec.answer_max_tokens;
        let prompt = Prompts::execution(content, plan_text.as_deref());
        let record = self.chat("execute", key.agent, &content.key, prompt, answer_tokens, false);
        if !record.ok {
            return ExecutionCell { usage: record.usage, seconds: measured(&record), ..failed };
        }
        let reply = record.content.as_deref().unwrap_or_default();
        let graded = content.check.grade(&content.text, reply, &content.reference);
        self.note_reply(&record, graded.stage.is_some(), graded.stage.is_some_and(crate::answer::Stage::formatted));
        let success = graded.stage.is_some()
            && match &content.check {
                AnswerCheck::PythonTests { timeout_secs } => {
                    // A program is run once per (answer, tests), however often the cell is read.
                    let verdict = format!("{}:{:016x}", record.key, name_key(&content.reference));
                    let run = Arc::clone(lock(&self.programs).entry(verdict).or_default());
                    *run.get_or_init(|| {
                        super::program::python_passes(reply, &content.reference, Duration::from_secs_f64(*timeout_secs))
                    })
                }
                _ => graded.passed,
            };
        let status = if graded.stage.is_some() { Status::Answered } else { Status::Unparsed };
        ExecutionCell { success, usage: record.usage, billed: None, status, seconds: measured(&record) }
    }

    /// Embeddings of `texts` from an OpenAI-compatible `/embeddings` endpoint, in batches,
    /// through the cache and the trace like every other call. Unit length.
    pub fn embed(
        &self,
        server: &EmbeddingServer,
        texts: &[&str],
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Vec<Vec<f32>>, LiveError> {
        let client = if self.replay.is_some() {
            None
        } else {
            let key = match &server.api_key_env {
                None => None,
                Some(var) => Some(
                    env(var).ok_or_else(|| LiveError::MissingKey { agent: "embeddings".into(), var: var.clone() })?,
                ),
            };
            Some(HttpClient::new(
                &server.base_url,
                "embeddings",
                key,
                Limits {
                    timeout: Duration::from_secs(120),
                    deadline: Duration::from_secs(600),
                    retry: Retry { max_retries: 4, backoff_ms: 500 },
                    concurrency: super::DEFAULT_CONCURRENCY,
                    circuit_breaker: 5,
                    stall: Duration::from_secs(120),
                },
            ))
        };
        let url = format!("{}/embeddings", server.base_url.trim_end_matches('/'));
        let mut out = Vec::with_capacity(texts.len());
        for batch in texts.chunks(64) {
            let body = json!({"model": server.model, "input": batch});
            let n = batch.len();
            let parse = |reply: &str| -> Result<Parsed, String> {
                let v: Value = serde_json::from_str(reply).map_err(|e| format!("malformed JSON in reply: {e}"))?;
                let data = v.get("data").and_then(Value::as_array).ok_or("reply has no `data` list")?;
                if data.len() != n {
                    return Err(format!("{} embeddings for {n} inputs", data.len()));
                }
                let mut flat = Vec::new();
                let mut dim = None;
                for item in data {
                    let e: Vec<f32> = item
                        .get("embedding")
                        .and_then(Value::as_array)
                        .ok_or("an item has no `embedding`")?
                        .iter()
                        .map(|x| x.as_f64().map(|x| x as f32).ok_or("an embedding holds a non-number"))
                        .collect::<Result<_, _>>()?;
                    if *dim.get_or_insert(e.len()) != e.len() || e.is_empty() {
                        return Err("embeddings differ in length".into());
                    }
                    flat.extend(e);
                }
                let input = v.pointer("/usage/prompt_tokens").and_then(Value::as_u64);
                Ok(Parsed {
                    content: None,
                    usage: Usage { input: input.unwrap_or_default(), output: 0 },
                    usage_reported: input.is_some(),
                    entropy: None,
                    vector: Some(flat),
                    truncated: false,
                })
            };
            let label = Label { kind: "embed", agent: "embeddings", model: &server.model, task: "" };
            let record = self.answer(label, &body, client.as_ref(), &parse);
            let (true, Some(flat)) = (record.ok, &record.vector) else {
                return Err(LiveError::Embedding {
                    url: url.clone(),
                    message: record.error.clone().unwrap_or_else(|| "no vectors".into()),
                });
            };
            let dim = flat.len() / n;
            out.extend(flat.chunks(dim).map(crate::embed::unit));
        }
        Ok(out)
    }
}

/// `text` cut to at most `chars` characters, marked when cut.
pub(super) fn clip(text: &str, chars: usize) -> String {
    match text.char_indices().nth(chars) {
        Some((at, _)) => format!("{} [...]", &text[..at]),
        None => text.to_string(),
    }
}

/// Embeddings for `texts` as a scenario asks: the built-in hashed TF-IDF, or a server's through
/// `live` (which caches and traces them).
pub fn embed_texts(
    embedding: &crate::taskfile::Embedding,
    texts: &[&str],
    live: Option<&LiveSource>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Vec<Vec<f32>>, LiveError> {
    match embedding {
        crate::taskfile::Embedding::Hashed(dim) => Ok(crate::embed::hashed_tfidf(texts, usize::from(*dim))),
        crate::taskfile::Embedding::Server(server) => match live {
            Some(live) => live.embed(server, texts, env),
            None => Err(LiveError::Embedding {
                url: server.base_url.clone(),
                message: "no live source was set up for the embedding server".into(),
            }),
        },
    }
}

/// The latency measured when a call was made (its retries included), kept in its journal line.
fn measured(record: &CallRecord) -> Option<f64> {
    (record.attempts > 0).then(|| record.latency_ms as f64 / 1e3)
}
