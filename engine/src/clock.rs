//! Simulated time: how tasks arrive, and agents as servers whose calls take time.
//!
//! With `arrivals: Sequential` (the default) an episode has no clock: each task is decided,
//! executed and recorded before the next arrives, as the SALE paper's setting is. Any other
//! arrival process gives the episode a clock in seconds, never the wall clock: tasks arrive at
//! drawn (or given) times, every call an agent answers occupies one of its slots for a time that
//! follows from the call's tokens ([`tender_agents::Serving`]), calls wait in a FIFO queue while
//! every slot is busy, and many tasks are in flight at once.

use bevy_ecs::prelude::*;
use rand::RngExt;
use serde::{Deserialize, Serialize};
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use tender_agents::streams::Stream;
use tender_agents::validate::Checker;
use tender_agents::{Serving, Usage};

/// Inter-arrival draws, per task.
const ARRIVALS: Stream = Stream::named("clock.arrivals");

/// How tasks arrive, as a scenario writes it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub enum Arrivals {
    /// One task at a time, each after the previous one is recorded; no clock.
    #[default]
    Sequential,
    /// A Poisson process of `rate` tasks per second.
    Poisson { rate: f64 },
    /// A two-state Markov-modulated Poisson process: `rates` tasks per second in the calm and the
    /// busy state, which last exponential times of mean `mean_stay` seconds each.
    Bursty { rates: (f64, f64), mean_stay: (f64, f64) },
    /// Each task arrives at its own `arrival` (seconds) in the task file; the episode's tasks
    /// come in the order of their arrivals.
    FromTasks,
    /// The timestamps of a recorded trace: a CSV file (relative to the scenario's folder) whose
    /// `column` holds seconds or date-times (`2023-11-16 18:15:46.68`, RFC 3339); the episode's
    /// `i`-th task arrives at the `i`-th timestamp less the first, divided by `speedup`.
    Trace {
        path: std::path::PathBuf,
        #[serde(default = "default_column")]
        column: String,
        #[serde(default = "default_speedup")]
        speedup: f64,
        /// The trace's times in seconds from its first, once read ([`Arrivals::attach_trace`]).
        #[serde(skip)]
        times: Option<std::sync::Arc<[f64]>>,
    },
}

fn default_column() -> String {
    "timestamp".into()
}
fn default_speedup() -> f64 {
    1.0
}

/// Why a trace's timestamps cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum TraceError {
    /// The file could not be read (the reader's error names it).
    #[error(transparent)]
    Read(std::io::Error),
    #[error("{path}: {source}")]
    Csv {
        path: String,
        #[source]
        source: csv::Error,
    },
    #[error("{path}: no column {column:?} (columns: {columns})")]
    Column { path: String, column: String, columns: String },
    #[error("{path}:{line}: {value:?} is neither seconds nor a date-time ({reason})")]
    Value { path: String, line: u64, value: String, reason: String },
    #[error("{path}:{line}: timestamps must not go back in time")]
    Order { path: String, line: u64 },
    #[error("{path}: holds no timestamps")]
    Empty { path: String },
}

impl Arrivals {
    pub fn check(&self, c: &mut Checker) {
        match *self {
            Self::Sequential => {}
            Self::Poisson { rate } => c.range("rate", rate, 1e-9, 1e9),
            Self::Bursty { rates, mean_stay } => {
                c.range("rates.0", rates.0, 0.0, 1e9);
                c.range("rates.1", rates.1, 1e-9, 1e9);
                c.range("mean_stay.0", mean_stay.0, 1e-9, 1e12);
                c.range("mean_stay.1", mean_stay.1, 1e-9, 1e12);
            }
            Self::FromTasks => {}
            Self::Trace { ref path, ref column, speedup, .. } => {
                c.require(!path.as_os_str().is_empty(), "path", "\"\"", "must name a CSV file");
                c.require(!column.is_empty(), "column", "\"\"", "must name a column");
                c.range("speedup", speedup, 1e-9, 1e9);
            }
        }
    }

    /// Check the arrivals against the workload: `FromTasks` needs a task file whose every task
    /// has an `arrival`, and a trace one timestamp per task (`tasks`, once known).
    pub fn check_tasks(&self, c: &mut Checker, workload: &tender_agents::WorkloadSpec, tasks: Option<usize>) {
        match self {
            Self::FromTasks => {
                c.require(workload.tasks.is_some(), "FromTasks", "FromTasks", "needs a task file (`workload.tasks`)");
                if let Some(loaded) = &workload.loaded {
                    let missing = loaded.iter().filter(|t| given_arrival(t).is_none());
                    if let Some(first) = missing.clone().next() {
                        let key = first.content.as_ref().map_or_else(String::new, |c| c.key.clone());
                        c.require(
                            false,
                            "FromTasks",
                            format!("{} tasks without `arrival` (the first: {key:?})", missing.count()),
                            "needs every task's `arrival` in seconds",
                        );
                    }
                }
            }
            Self::Trace { times: Some(times), .. } => {
                if let Some(n) = tasks {
                    c.require(
                        times.len() >= n,
                        "Trace",
                        format!("{} timestamps", times.len()),
                        &format!("needs one timestamp per task ({n})"),
                    );
                }
            }
            _ => {}
        }
    }

    /// Keep `from`'s read timestamps when this is the same trace (a sweep's point of a scenario).
    pub fn keep_trace(&mut self, from: &Self) {
        if let (Self::Trace { path, times, .. }, Self::Trace { path: from_path, times: read, .. }) = (self, from)
            && path == from_path
        {
            times.clone_from(read);
        }
    }

    /// Read a `Trace`'s timestamps through `read` (paths relative to `base`, the scenario's
    /// folder); other arrivals read nothing.
    pub fn attach_trace(
        &mut self,
        base: &std::path::Path,
        read: &dyn Fn(&std::path::Path) -> std::io::Result<String>,
    ) -> Result<(), TraceError> {
        let Self::Trace { path, column, times, .. } = self else { return Ok(()) };
        let full = base.join(&*path);
        let shown = full.display().to_string();
        let text = read(&full).map_err(TraceError::Read)?;
        *times = Some(parse_trace(&text, column, &shown)?.into());
        Ok(())
    }

    /// Whether episodes have a clock.
    #[must_use]
    pub const fn timed(&self) -> bool {
        !matches!(self, Self::Sequential)
    }

    /// Whether the episode's tasks come in the order of their own arrival times.
    #[must_use]
    pub const fn from_tasks(&self) -> bool {
        matches!(self, Self::FromTasks)
    }

    /// The long-run arrival rate, tasks per second (`None` without a clock).
    #[must_use]
    pub fn mean_rate(&self) -> Option<f64> {
        match *self {
            Self::Sequential => None,
            Self::Poisson { rate } => Some(rate),
            Self::Bursty { rates, mean_stay } => {
                Some((rates.0 * mean_stay.0 + rates.1 * mean_stay.1) / (mean_stay.0 + mean_stay.1))
            }
            Self::FromTasks | Self::Trace { .. } => None,
        }
    }

    /// Arrival times of the episode's `tasks` in seconds from 0, drawn on the episode's
    /// `arrivals` stream or given (`None` without a clock). `FromTasks` expects the tasks in the
    /// order of their arrivals ([`Arrivals::order`]).
    #[must_use]
    pub fn times(&self, episode_seed: u64, tasks: &[tender_agents::Task]) -> Option<Vec<f64>> {
        if self.from_tasks() {
            let at = |t: &tender_agents::Task| given_arrival(t).unwrap_or(0.0);
            let first = tasks.first().map_or(0.0, at);
            return Some(tasks.iter().map(|t| at(t) - first).collect());
        }
        self.drawn(episode_seed, tasks.len())
    }

    /// Arrival times of `n` tasks drawn (or read from a trace), for every process but
    /// `FromTasks`.
    fn drawn(&self, episode_seed: u64, n: usize) -> Option<Vec<f64>> {
        let exp = |rng: &mut tender_agents::streams::StreamRng, rate: f64| -> f64 {
            // Inverse transform on (0, 1]: never ln(0).
            -(1.0 - rng.random::<f64>()).ln() / rate
        };
        match *self {
            Self::Sequential => None,
            Self::Poisson { rate } => {
                let mut rng = ARRIVALS.rng(episode_seed, &[0]);
                let mut t = 0.0;
                Some(
                    (0..n)
                        .map(|_| {
                            t += exp(&mut rng, rate);
                            t
                        })
                        .collect(),
                )
            }
            Self::Bursty { rates, mean_stay } => {
                // Competing exponentials: the next arrival in the current state, or a switch.
                let mut rng = ARRIVALS.rng(episode_seed, &[1]);
                let (mut t, mut busy, mut out) = (0.0, false, Vec::with_capacity(n));
                while out.len() < n {
                    let (rate, stay) = if busy { (rates.1, mean_stay.1) } else { (rates.0, mean_stay.0) };
                    let switch = exp(&mut rng, 1.0 / stay);
                    let arrival = if rate > 0.0 { exp(&mut rng, rate) } else { f64::INFINITY };
                    if arrival < switch {
                        t += arrival;
                        out.push(t);
                    } else {
                        t += switch;
                        busy = !busy;
                    }
                }
                Some(out)
            }
            Self::FromTasks => None,
            Self::Trace { ref times, speedup, .. } => {
                let times = times.as_deref().unwrap_or(&[]);
                // Validation asks one timestamp per task; a task beyond them would arrive last.
                let last = times.last().copied().unwrap_or(0.0);
                Some((0..n).map(|i| times.get(i).copied().unwrap_or(last) / speedup).collect())
            }
        }
    }

    /// `FromTasks`: the episode's tasks in the order of their arrivals (stable, so equal times
    /// keep the episode's order); other arrivals keep the episode's order.
    #[must_use]
    pub fn order(&self, tasks: &std::sync::Arc<[tender_agents::Task]>) -> std::sync::Arc<[tender_agents::Task]> {
        if !self.from_tasks() {
            return std::sync::Arc::clone(tasks);
        }
        let mut v = tasks.to_vec();
        let at = |t: &tender_agents::Task| given_arrival(t).unwrap_or(0.0);
        v.sort_by(|a, b| at(a).total_cmp(&at(b)));
        v.into()
    }
}

/// The arrival a task's file gives it (`arrivals: FromTasks`).
fn given_arrival(task: &tender_agents::Task) -> Option<f64> {
    task.content.as_ref().and_then(|c| c.arrival)
}

/// A trace's timestamps in seconds from its first: each of `column`'s values is seconds or a
/// date-time (read as UTC).
fn parse_trace(text: &str, column: &str, path: &str) -> Result<Vec<f64>, TraceError> {
    let csv_err = |source| TraceError::Csv { path: path.to_string(), source };
    let mut r = csv::Reader::from_reader(text.as_bytes());
    let header = r.headers().map_err(csv_err)?.clone();
    let at = header.iter().position(|h| h.trim().eq_ignore_ascii_case(column)).ok_or_else(|| TraceError::Column {
        path: path.to_string(),
        column: column.to_string(),
        columns: header.iter().collect::<Vec<_>>().join(", "),
    })?;
    // Nanoseconds, exact until the first is taken off (epoch nanoseconds overflow f64's 53 bits).
    let mut out: Vec<i128> = Vec::new();
    for record in r.records() {
        let record = record.map_err(csv_err)?;
        let line = record.position().map_or(0, csv::Position::line);
        let value = record.get(at).unwrap_or("").trim();
        let nanos = nanoseconds_of(value).map_err(|reason| TraceError::Value {
            path: path.to_string(),
            line,
            value: value.to_string(),
            reason,
        })?;
        if out.last().is_some_and(|&last| nanos < last) {
            return Err(TraceError::Order { path: path.to_string(), line });
        }
        out.push(nanos);
    }
    let first = *out.first().ok_or_else(|| TraceError::Empty { path: path.to_string() })?;
    Ok(out.into_iter().map(|t| (t - first) as f64 / 1e9).collect())
}

/// Nanoseconds of a timestamp: seconds as a number, or a civil date-time (UTC) or an RFC 3339
/// instant.
fn nanoseconds_of(value: &str) -> Result<i128, String> {
    if let Ok(seconds) = value.parse::<f64>() {
        return if seconds.is_finite() && seconds.abs() < 1e15 {
            Ok((seconds * 1e9).round() as i128)
        } else {
            Err("not a finite number of seconds below 10^15".into())
        };
    }
    let instant = match value.parse::<jiff::Timestamp>() {
        Ok(t) => t,
        Err(_) => value
            .parse::<jiff::civil::DateTime>()
            .and_then(|dt| dt.to_zoned(jiff::tz::TimeZone::UTC))
            .map_err(|e| e.to_string())?
            .timestamp(),
    };
    Ok(instant.as_nanosecond())
}

/// What a timed episode needs: how tasks arrive, and each agent as a server.
#[derive(Clone, Debug, PartialEq)]
pub struct Timing {
    pub arrivals: Arrivals,
    pub serving: Vec<Serving>,
    /// The latency target, seconds from arrival to answer, if the scenario sets one.
    pub latency_target: Option<f64>,
    /// Seconds from arrival after which a task's answer no longer counts, if the scenario sets
    /// one: its execution is cancelled then.
    pub timeout: Option<f64>,
}

/// The episode's simulated time, in seconds.
#[derive(Resource, Clone, Copy, Debug, Default)]
pub struct Clock {
    pub now: f64,
}

/// One call an agent served: which agent, and when it held a slot.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Call {
    pub agent: u16,
    pub start: f64,
    pub end: f64,
}

/// The pool as servers: per agent the time each slot frees up, and every call served.
#[derive(Clone, Debug)]
pub struct Servers {
    serving: Vec<Serving>,
    free_at: Vec<Vec<f64>>,
    calls: Vec<Call>,
    /// Per agent, its executions not yet ended at the latest [`Servers::advance`], by end time
    /// (the bits of non-negative floats order as the floats): an overloaded market's backlog
    /// grows with the stream, so ended ones are popped, not searched for.
    executions: Vec<BinaryHeap<Reverse<(u64, u64)>>>,
    /// The time of the latest advance.
    advanced_to: f64,
    /// Executions visited by searches and by forgetting (for scaling tests).
    visited: u64,
}

impl Servers {
    #[must_use]
    pub fn new(serving: Vec<Serving>) -> Self {
        let free_at = serving.iter().map(|s| vec![0.0; s.slots as usize]).collect();
        let executions = serving.iter().map(|_| BinaryHeap::new()).collect();
        Self { serving, free_at, calls: Vec::new(), executions, advanced_to: 0.0, visited: 0 }
    }

    /// Serve a call of `usage` by `agent`, ready to start at `ready`: it takes the slot that frees
    /// up first (the lowest among equals) and waits for it. It is cancelled at `until`: a call
    /// still running then ends then (its slot frees up), and a call that would start after it
    /// never runs. A call with `seconds` measured takes that long at an agent that serves measured
    /// latencies.
    pub fn serve_until(&mut self, agent: usize, usage: Usage, seconds: Option<f64>, ready: f64, until: f64) -> Served {
        let slots = &mut self.free_at[agent];
        let (slot, free) =
            slots.iter().copied().enumerate().fold((0, f64::INFINITY), |b, (i, f)| if f < b.1 { (i, f) } else { b });
        let start = ready.max(free);
        if start >= until {
            return Served { start: until, end: until, share: 0.0 };
        }
        let serving = &self.serving[agent];
        let duration = match seconds {
            Some(s) if serving.measured => s,
            _ => serving.duration(usage),
        };
        let end = (start + duration).min(until);
        slots[slot] = end;
        self.calls.push(Call { agent: agent as u16, start, end });
        let share = if end < start + duration { (end - start) / duration } else { 1.0 };
        Served { start, end, share }
    }

    /// Whether `agent` admits an execution ready at `ready`: a slot is free then (it waits for
    /// nothing), or fewer than its queue limit of executions are waiting for a slot. A limit of
    /// 0 is no waiting room, never no service.
    #[must_use]
    pub fn admits(&self, agent: usize, ready: f64) -> bool {
        let Some(limit) = self.serving[agent].queue_limit else { return true };
        if self.free_at[agent].iter().any(|&free| free <= ready) {
            return true;
        }
        // Executions queued then; the queue is at most `limit` long, so this scan is short.
        let waiting =
            self.executions[agent].iter().filter(|Reverse((_, start))| f64::from_bits(*start) > ready).count();
        waiting < limit as usize
    }

    /// Executions visited by searches and by forgetting ended ones, so far.
    #[must_use]
    pub fn visited(&self) -> u64 {
        self.visited
    }

    /// `agent`'s executions running or queued at `now` (at or after the latest advance).
    #[must_use]
    pub fn executions_in_flight(&self, agent: usize, now: f64) -> usize {
        let heap = &self.executions[agent];
        if now == self.advanced_to {
            // Every one left ends later.
            return heap.len();
        }
        heap.len() - heap.iter().filter(|Reverse((end, _))| f64::from_bits(*end) <= now).count()
    }

    /// Time has reached `now` (it never goes back): forget the executions that have ended.
    pub fn advance(&mut self, now: f64) {
        self.advanced_to = now;
        for heap in &mut self.executions {
            while heap.peek().is_some_and(|Reverse((end, _))| f64::from_bits(*end) <= now) {
                heap.pop();
                self.visited += 1;
            }
        }
    }

    /// Serve an execution requested at `now`: as [`Servers::serve_until`], remembered for
    /// [`Servers::admits`] and [`Servers::executions_in_flight`].
    pub fn serve_execution(
        &mut self,
        agent: usize,
        usage: Usage,
        seconds: Option<f64>,
        ready: f64,
        now: f64,
        until: f64,
    ) -> Served {
        let served = self.serve_until(agent, usage, seconds, ready, until);
        self.advance(now);
        if served.share > 0.0 {
            let bits = |t: f64| t.max(0.0).to_bits();
            self.executions[agent].push(Reverse((bits(served.end), bits(served.start))));
        }
        served
    }

    /// The share of `agent`'s slots busy at `now` (held until later).
    #[must_use]
    pub fn busy_share(&self, agent: usize, now: f64) -> f64 {
        let slots = &self.free_at[agent];
        slots.iter().filter(|&&free| free > now).count() as f64 / slots.len() as f64
    }

    /// When the first of `agent`'s slots frees up (its queued calls included).
    #[must_use]
    pub fn next_free(&self, agent: usize) -> f64 {
        self.free_at[agent].iter().copied().fold(f64::INFINITY, f64::min)
    }

    /// Room for `calls` more calls in the log.
    pub fn reserve(&mut self, calls: usize) {
        self.calls.reserve(calls);
    }

    /// Every call served so far, in the order served.
    #[must_use]
    pub fn calls(&self) -> &[Call] {
        &self.calls
    }

    /// The log of every call served, taken out (the servers' log is left empty).
    pub fn take_calls(&mut self) -> Vec<Call> {
        std::mem::take(&mut self.calls)
    }

    /// The agent's slots.
    #[must_use]
    pub fn slots(&self, agent: usize) -> usize {
        self.free_at[agent].len()
    }
}

/// Each agent's utilisation over an episode's calls: its busy slot-seconds over its slot-seconds
/// from time 0 to the last call's end.
#[must_use]
pub fn utilisation(calls: &[Call], serving: &[Serving]) -> Vec<f64> {
    let span = last_end(calls);
    let mut busy = vec![0.0; serving.len()];
    for c in calls {
        busy[usize::from(c.agent)] += c.end - c.start;
    }
    busy.iter().zip(serving).map(|(b, s)| if span > 0.0 { b / (span * f64::from(s.slots)) } else { 0.0 }).collect()
}

/// When the last of `calls` ends (0 without calls): the end of the time utilisation covers.
fn last_end(calls: &[Call]) -> f64 {
    calls.iter().map(|c| c.end).fold(0.0, f64::max)
}

/// Bins of a utilisation-over-time series.
pub const BUSY_BINS: usize = 100;

/// Each agent's busy share over time: the episode from 0 to its last call's end cut into
/// [`BUSY_BINS`] equal bins, and per bin the agent's busy slot-seconds over its slot-seconds.
/// Returns each bin's start and the shares, in agent order.
#[must_use]
pub fn busy_over_time(calls: &[Call], serving: &[Serving]) -> Vec<(f64, Vec<f64>)> {
    let end = last_end(calls);
    if end <= 0.0 {
        return Vec::new();
    }
    let width = end / BUSY_BINS as f64;
    let mut busy = vec![vec![0.0; serving.len()]; BUSY_BINS];
    for c in calls {
        // Spread the call's time over the bins it spans.
        let first = ((c.start / width) as usize).min(BUSY_BINS - 1);
        let last = ((c.end / width) as usize).min(BUSY_BINS - 1);
        for (b, bin) in busy.iter_mut().enumerate().take(last + 1).skip(first) {
            let (lo, hi) = (b as f64 * width, (b + 1) as f64 * width);
            bin[usize::from(c.agent)] += (c.end.min(hi) - c.start.max(lo)).max(0.0);
        }
    }
    busy.into_iter()
        .enumerate()
        .map(|(b, per_agent)| {
            let shares = per_agent.iter().zip(serving).map(|(s, v)| s / (width * f64::from(v.slots))).collect();
            (b as f64 * width, shares)
        })
        .collect()
}

/// A call as served: when it held its slot, and the share of it that ran (1 unless cancelled).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Served {
    pub start: f64,
    pub end: f64,
    pub share: f64,
}

/// When a task arrived, and what its calls have taken so far.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct TaskTiming {
    pub arrival: f64,
    /// When its winner was awarded (the auction's end).
    pub awarded: f64,
    /// When its (last) execution call started and ended; the end is when the answer is in.
    pub execution_start: f64,
    pub done: f64,
    /// Tasks in the system when it arrived, itself not counted.
    pub found_in_system: u32,
    /// When its answer is due: arrival plus the scenario's latency target (infinite without one).
    pub deadline: f64,
    /// Its timeout passed before its answer was in: it was not executed, or its execution was
    /// cancelled (recorded unanswered; what ran is paid).
    pub timed_out: bool,
}

/// A task waiting for its next phase: a disabling component (no system's query sees the task),
/// kept in sparse storage so that setting it aside and bringing it back moves no table rows.
#[derive(Component, Clone, Copy, Debug, Default)]
#[component(storage = "SparseSet")]
pub struct Waiting;

#[cfg(test)]
mod tests {
    use super::*;

    impl Servers {
        /// A call never cancelled and without a measured latency: when it starts and ends.
        fn serve(&mut self, agent: usize, usage: Usage, ready: f64) -> (f64, f64) {
            let served = self.serve_until(agent, usage, None, ready, f64::INFINITY);
            (served.start, served.end)
        }
    }

    #[test]
    fn poisson_arrivals_have_the_rate_asked_and_replay() {
        let a = Arrivals::Poisson { rate: 2.0 };
        let t = a.drawn(7, 20_000).unwrap();
        assert!(t.windows(2).all(|w| w[0] <= w[1]));
        let rate = t.len() as f64 / t[t.len() - 1];
        assert!((rate - 2.0).abs() < 0.06, "{rate}");
        assert_eq!(a.drawn(7, 100), a.drawn(7, 100));
        assert_ne!(a.drawn(7, 100), a.drawn(8, 100));
        assert!(Arrivals::Sequential.drawn(7, 10).is_none());
    }

    #[test]
    fn bursty_arrivals_average_their_states_rates_and_cluster() {
        let a = Arrivals::Bursty { rates: (0.5, 8.0), mean_stay: (30.0, 10.0) };
        let t = a.drawn(3, 40_000).unwrap();
        let rate = t.len() as f64 / t[t.len() - 1];
        let expected = a.mean_rate().unwrap();
        assert!((rate - expected).abs() / expected < 0.05, "{rate} vs {expected}");
        // Burstier than Poisson: the gaps' coefficient of variation exceeds 1.
        let gaps: Vec<f64> = t.windows(2).map(|w| w[1] - w[0]).collect();
        let mean = gaps.iter().sum::<f64>() / gaps.len() as f64;
        let var = gaps.iter().map(|g| (g - mean).powi(2)).sum::<f64>() / gaps.len() as f64;
        assert!(var.sqrt() / mean > 1.5, "cv {}", var.sqrt() / mean);
    }

    #[test]
    fn a_server_never_runs_more_calls_than_slots_and_queues_first_come_first_served() {
        let serving = Serving {
            slots: 2,
            output_tokens_per_second: 10.0,
            prefill_tokens_per_second: 1e9,
            time_to_first_token: 0.0,
            queue_limit: Some(1),
            measured: true,
        };
        let mut s = Servers::new(vec![serving]);
        let ten = Usage { input: 0, output: 10 };
        assert_eq!(s.serve(0, ten, 0.0), (0.0, 1.0));
        assert_eq!(s.serve(0, ten, 0.0), (0.0, 1.0));
        assert_eq!(s.serve(0, ten, 0.5), (1.0, 2.0), "waits for a slot");
        assert_eq!(s.serve(0, ten, 3.0), (3.0, 4.0));
        assert_eq!(s.calls().len(), 4);
        // Executions: two run, one waits, and with a queue limit of one the next is refused.
        let mut s = Servers::new(vec![serving]);
        for _ in 0..3 {
            assert!(s.admits(0, 0.0));
            s.serve_execution(0, ten, None, 0.0, 0.0, f64::INFINITY);
        }
        assert!(!s.admits(0, 0.0));
        assert!(s.admits(0, 1.0), "the waiting one has started");
        // A queue limit of 0 is no waiting room: executions run while slots are free.
        let mut s = Servers::new(vec![Serving { queue_limit: Some(0), ..serving }]);
        for _ in 0..2 {
            assert!(s.admits(0, 0.0), "a free slot admits with no waiting room");
            s.serve_execution(0, ten, None, 0.0, 0.0, f64::INFINITY);
        }
        assert!(!s.admits(0, 0.5), "both slots busy: it would wait, and there is no room to");
        assert!(s.admits(0, 1.0));
        // Cancelled at 1.5: a call running then ends then, one that would start later never runs.
        let mut s = Servers::new(vec![serving]);
        assert_eq!(s.serve_until(0, ten, None, 1.0, 1.5), Served { start: 1.0, end: 1.5, share: 0.5 });
        assert_eq!(s.serve_until(0, ten, None, 0.0, 1.5), Served { start: 0.0, end: 1.0, share: 1.0 });
        s.serve(0, ten, 0.0);
        assert_eq!(s.serve_until(0, ten, None, 0.0, 1.5).share, 0.0, "both slots busy until after 1.5");
        assert_eq!(s.calls().len(), 3);
        // A measured latency replaces the modelled second.
        let mut s = Servers::new(vec![serving]);
        assert_eq!(s.serve(0, ten, 0.0), (0.0, 1.0));
        assert_eq!(s.serve_until(0, ten, Some(0.25), 0.0, f64::INFINITY).end, 0.25);
    }

    /// Operation counts, not time: a server ten times overloaded holds a backlog that grows with
    /// the stream, and serving, counting and forgetting its executions must not scan it.
    #[test]
    fn an_overloaded_server_does_not_rescan_its_backlog() {
        let visited_per_execution = |n: usize| {
            let usage = Usage { input: 0, output: 10 };
            let mut s = Servers::new(vec![Serving {
                slots: 1,
                output_tokens_per_second: 10.0,
                prefill_tokens_per_second: 1e9,
                time_to_first_token: 0.0,
                queue_limit: None,
                measured: false,
            }]);
            let mut in_flight = 0;
            for i in 0..n {
                let now = i as f64 * 0.1;
                s.advance(now);
                in_flight = s.executions_in_flight(0, now);
                assert!(s.admits(0, now));
                s.serve_execution(0, usage, None, now, now, f64::INFINITY);
            }
            assert!(in_flight > n / 2, "the backlog grows: {in_flight} of {n}");
            s.visited() as f64 / n as f64
        };
        let (small, large) = (visited_per_execution(1000), visited_per_execution(8000));
        assert!(small <= 1.0 && large <= 1.0, "{small} then {large} a call");
    }

    #[test]
    fn trace_timestamps_are_seconds_or_date_times_and_start_at_zero() {
        let t =
            parse_trace("at\n2023-11-16T18:15:46Z\n2023-11-16T18:15:47.5+00:00\n2023-11-16 18:16:46\n", "AT", "t.csv")
                .expect("a trace");
        assert_eq!(t, [0.0, 1.5, 60.0]);
        assert_eq!(parse_trace("at\n10\n10.25\n", "at", "t.csv").expect("seconds"), [0.0, 0.25]);
        let e = parse_trace("at\n1\nyesterday\n", "at", "t.csv").expect_err("not a time");
        assert!(e.to_string().starts_with("t.csv:3: \"yesterday\" is neither seconds nor a date-time"), "{e}");
        assert!(parse_trace("at\n", "at", "t.csv").expect_err("empty").to_string().contains("holds no timestamps"));
    }
}
