//! Result tables as typed columns: the one definition of each table's columns and types, from
//! which the CSV files are written and the Python binding builds its Arrow tables.
//!
//! CSV has no types, so each kind of column says how it is written as text: numbers as Rust
//! prints them, booleans as `true`/`false`, a missing value as an empty field, and an episode seed
//! as `0x` and 16 hex digits ([`seed_text`]), since a u64 above 2^63 read as a number is rounded
//! by float64 readers. Typed readers (Arrow) get the seed as an exact unsigned integer.

use std::io::{self, Write};

use tender_agents::AgentInfo;
use tender_engine::mechanisms::{Meaning, Quantity};
use tender_engine::{BatchResult, Role};

use crate::metrics::{Scope, Summary, row_metric_names, row_metrics, row_quantities};

/// One column's values, by type. `None` is a missing value.
#[derive(Clone, Debug, PartialEq)]
pub enum Values {
    /// Counts, steps, indices.
    Int(Vec<Option<i64>>),
    /// Episode seeds: exact unsigned integers (hex text in CSV).
    Seed(Vec<u64>),
    Float(Vec<Option<f64>>),
    Bool(Vec<Option<bool>>),
    /// Names from a small set (mechanisms, agents, domains): each row an index into `levels`.
    Category {
        levels: Vec<String>,
        codes: Vec<Option<u32>>,
    },
    Text(Vec<Option<String>>),
}

impl Values {
    #[must_use]
    pub fn len(&self) -> usize {
        match self {
            Self::Int(v) => v.len(),
            Self::Seed(v) => v.len(),
            Self::Float(v) => v.len(),
            Self::Bool(v) => v.len(),
            Self::Category { codes, .. } => codes.len(),
            Self::Text(v) => v.len(),
        }
    }

    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Row `i` as CSV writes it.
    #[must_use]
    pub fn text(&self, i: usize) -> String {
        fn or_empty<T: ToString>(v: Option<&T>) -> String {
            v.map_or_else(String::new, ToString::to_string)
        }
        match self {
            Self::Int(v) => or_empty(v[i].as_ref()),
            Self::Seed(v) => seed_text(v[i]),
            Self::Float(v) => or_empty(v[i].as_ref()),
            Self::Bool(v) => or_empty(v[i].as_ref()),
            Self::Category { levels, codes } => codes[i].map_or_else(String::new, |c| levels[c as usize].clone()),
            Self::Text(v) => v[i].clone().unwrap_or_default(),
        }
    }
}

/// A named column.
#[derive(Clone, Debug, PartialEq)]
pub struct Column {
    pub name: String,
    pub values: Values,
}

/// A table: columns of equal length.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Table {
    pub columns: Vec<Column>,
}

impl Table {
    #[must_use]
    pub fn rows(&self) -> usize {
        self.columns.first().map_or(0, |c| c.values.len())
    }

    /// Add a column (of the table's length).
    pub fn push(&mut self, name: impl Into<String>, values: Values) {
        debug_assert!(self.columns.is_empty() || values.len() == self.rows(), "columns of equal length");
        self.columns.push(Column { name: name.into(), values });
    }

    /// The column named `name`.
    #[must_use]
    pub fn column(&self, name: &str) -> Option<&Values> {
        self.columns.iter().find(|c| c.name == name).map(|c| &c.values)
    }

    /// The table as CSV: a header of the column names, then one line per row.
    pub fn write_csv(&self, w: &mut dyn Write) -> io::Result<()> {
        let mut out = csv::Writer::from_writer(w);
        out.write_record(self.columns.iter().map(|c| c.name.as_str())).map_err(io::Error::other)?;
        let mut row: Vec<String> = Vec::with_capacity(self.columns.len());
        for i in 0..self.rows() {
            row.clear();
            row.extend(self.columns.iter().map(|c| c.values.text(i)));
            out.write_record(&row).map_err(io::Error::other)?;
        }
        out.flush()
    }
}

/// An episode seed as CSV writes it: `0x` and 16 hex digits. A u64 above 2^63 written as a
/// number is rounded by readers that take it for a float64 (pyarrow) or refused (polars'
/// defaults); as text it stays exact (`int(s, 16)` in Python).
#[must_use]
pub fn seed_text(seed: u64) -> String {
    format!("0x{seed:016x}")
}

/// Names from a small set, as a category column built row by row.
#[derive(Default)]
pub(crate) struct Categories {
    levels: Vec<String>,
    codes: Vec<Option<u32>>,
}

impl Categories {
    pub(crate) fn push(&mut self, name: Option<&str>) {
        let code = name.map(|n| {
            let at = self.levels.iter().position(|l| l == n).unwrap_or_else(|| {
                self.levels.push(n.to_string());
                self.levels.len() - 1
            });
            at as u32
        });
        self.codes.push(code);
    }

    pub(crate) fn values(self) -> Values {
        Values::Category { levels: self.levels, codes: self.codes }
    }
}

/// How a task is named in the tasks table: its domain by name, and, for tasks from a file, the
/// file's own id (`ids[task]`) rather than its position.
#[derive(Clone, Copy, Debug, Default)]
pub struct TaskNames<'a> {
    pub domains: &'a [String],
    /// Ids of the task file's tasks, by task id; empty for drawn tasks (named by number).
    pub ids: &'a [String],
}

/// The tasks table (`tasks.csv`): every task decision of every episode and mechanism. The
/// mechanisms' own quantities (SALE's provisional winner and refinements, payments...) follow the
/// core columns, in the order they first appear, each typed by its meaning (a task that does not
/// report one leaves it missing); a timed run adds its clock, in seconds from the
/// episode's start.
#[must_use]
pub fn tasks(batch: &BatchResult, names: TaskNames<'_>) -> Table {
    let TaskNames { domains, ids } = names;
    let records = || batch.runs.iter().flat_map(|run| run.records.iter().map(move |r| (run, r)));
    let int = |f: &dyn Fn(&tender_engine::TaskRecord) -> i64| Values::Int(records().map(|(_, r)| Some(f(r))).collect());
    let float =
        |f: &dyn Fn(&tender_engine::TaskRecord) -> Option<f64>| Values::Float(records().map(|(_, r)| f(r)).collect());
    let boolean =
        |f: &dyn Fn(&tender_engine::TaskRecord) -> bool| Values::Bool(records().map(|(_, r)| Some(f(r))).collect());
    let agent_names = || batch.agents.iter().map(|a| a.name.clone()).collect::<Vec<_>>();
    let agent_column = |f: &dyn Fn(&tender_engine::TaskRecord) -> Option<u16>| {
        // Agents keep their pool order as levels, whether or not they appear.
        let codes =
            records().map(|(_, r)| f(r).filter(|&a| usize::from(a) < batch.agents.len()).map(u32::from)).collect();
        Values::Category { levels: agent_names(), codes }
    };

    let mut t = Table::default();
    t.push("episode", int_of(records().map(|(run, _)| i64::from(run.episode))));
    t.push("episode_seed", Values::Seed(records().map(|(run, _)| run.seed).collect()));
    t.push(
        "mechanism",
        Values::Category {
            levels: batch.names(),
            codes: records().map(|(run, _)| Some(u32::from(run.mechanism))).collect(),
        },
    );
    t.push("step", int(&|r| i64::from(r.step)));
    t.push(
        "task",
        Values::Text(
            records()
                .map(|(_, r)| Some(ids.get(r.task as usize).cloned().unwrap_or_else(|| r.task.to_string())))
                .collect(),
        ),
    );
    let mut domain = Categories::default();
    for (_, r) in records() {
        domain.push(domains.get(usize::from(r.domain)).map(String::as_str));
    }
    t.push("domain", domain.values());
    t.push("bin", int(&|r| i64::from(r.bin)));
    t.push("tau", float(&|r| Some(r.tau)));
    t.push("value_usd", float(&|r| Some(r.value)));
    t.push("winner", agent_column(&|r| Some(r.winner)));
    t.push("success", boolean(&|r| r.success));
    t.push("executions", int(&|r| i64::from(r.executions)));
    t.push("delivered_tokens", int(&|r| r.delivered.total() as i64));
    t.push("overhead_input_tokens", int(&|r| r.overhead.input as i64));
    t.push("overhead_output_tokens", int(&|r| r.overhead.output as i64));
    t.push("overhead_usd", float(&|r| Some(r.overhead_cost)));
    t.push("execution_input_tokens", int(&|r| r.execution.input as i64));
    t.push("execution_output_tokens", int(&|r| r.execution.output as i64));
    t.push("execution_usd", float(&|r| Some(r.execution_cost)));
    t.push("failed_calls", int(&|r| i64::from(r.failed_calls)));
    t.push("unparsed_replies", int(&|r| i64::from(r.unparsed)));
    t.push("abstentions", int(&|r| i64::from(r.abstained)));
    let mut reported: Vec<Quantity> = Vec::new();
    for (q, _) in records().flat_map(|(_, r)| &r.reported) {
        if !reported.iter().any(|seen| seen.id == q.id) {
            reported.push(**q);
        }
    }
    for q in reported {
        let value = |r: &tender_engine::TaskRecord| r.reported(q.id);
        let column = match q.meaning {
            Meaning::Agent => agent_column(&|r| value(r).map(|a| a as u16)),
            Meaning::Flag => Values::Bool(records().map(|(_, r)| value(r).map(|v| v != 0.0)).collect()),
            Meaning::Number(_) | Meaning::Payment => float(&value),
        };
        t.push(q.id, column);
    }
    if records().any(|(_, r)| r.timing.is_some()) {
        let timing = |r: &tender_engine::TaskRecord| r.timing.as_deref().copied().unwrap_or_default();
        // A dropped task was never executed: no execution times.
        let executed = |r: &tender_engine::TaskRecord, x: f64| (r.winner != u16::MAX).then_some(x);
        t.push("arrival_s", float(&|r| Some(timing(r).arrival)));
        t.push("awarded_s", float(&|r| Some(timing(r).awarded)));
        t.push("execution_start_s", float(&|r| executed(r, timing(r).execution_start)));
        t.push("done_s", float(&|r| executed(r, timing(r).done)));
        t.push("found_in_system", int(&|r| i64::from(timing(r).found_in_system)));
        t.push("timed_out", boolean(&|r| timing(r).timed_out));
    }
    t
}

fn int_of(values: impl Iterator<Item = i64>) -> Values {
    Values::Int(values.map(Some).collect())
}

/// The summary in tidy long form: one row per mechanism, scope and metric, the scope split into
/// `domain` and `bin` (its upper bound `tau_max`, minutes) and an agent's metric into its base
/// (`share`) and `agent`, besides the ids summary.csv uses (`scope`, `metric_id`).
#[must_use]
pub fn summary(s: &Summary) -> Table {
    let (mut mechanism, mut domain, mut agent, mut metric) =
        (Categories::default(), Categories::default(), Categories::default(), Categories::default());
    let (mut scope, mut metric_id, mut bin, mut tau_max) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let (mut mean, mut low, mut high, mut episodes) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for r in &s.rows {
        mechanism.push(Some(&s.mechanisms[r.mechanism]));
        scope.push(Some(s.scope_name(&r.scope)));
        let (d, b) = match r.scope {
            Scope::All => (None, None),
            Scope::Domain(d) => (Some(d), None),
            Scope::Bin(d, b) => (Some(d), Some(b)),
        };
        domain.push(d.map(|d| s.domains[usize::from(d)].0.as_str()));
        bin.push(b.map(i64::from));
        tau_max.push(d.zip(b).map(|(d, b)| s.domains[usize::from(d)].1[usize::from(b)]));
        let id = r.metric.id(&s.agents);
        // `share:NAME`, `utilisation:NAME`: a metric of one agent.
        let (base, who) = id.split_once(':').map_or((id.as_str(), None), |(m, a)| (m, Some(a)));
        metric.push(Some(base));
        agent.push(who);
        metric_id.push(Some(id.clone()));
        mean.push(Some(r.estimate.mean));
        low.push(Some(r.estimate.low));
        high.push(Some(r.estimate.high));
        episodes.push(Some(r.estimate.n as i64));
    }
    let mut t = Table::default();
    t.push("mechanism", mechanism.values());
    t.push("scope", Values::Text(scope));
    t.push("domain", domain.values());
    t.push("bin", Values::Int(bin));
    t.push("tau_max", Values::Float(tau_max));
    t.push("metric", metric.values());
    t.push("agent", agent.values());
    t.push("metric_id", Values::Text(metric_id));
    t.push("mean", Values::Float(mean));
    t.push("ci_low", Values::Float(low));
    t.push("ci_high", Values::Float(high));
    t.push("episodes", Values::Int(episodes));
    t
}

/// One row per episode and mechanism, with the metrics a sweep row carries
/// ([`row_metric_names`]): the values paired comparisons are made of.
#[must_use]
pub fn episodes(batch: &BatchResult) -> Table {
    let refs = tender_agents::References::of(&batch.agents);
    let timed = batch.runs.iter().flat_map(|r| &r.records).any(|r| r.timing.is_some());
    let quantities = row_quantities(&batch.mechanisms);
    let names = row_metric_names(timed, &quantities);
    let values: Vec<Vec<f64>> = batch
        .runs
        .iter()
        .map(|run| row_metrics(&run.records, batch.agents.len(), (refs.largest, refs.smallest), timed, &quantities))
        .collect();
    let mut t = Table::default();
    t.push(
        "mechanism",
        Values::Category {
            levels: batch.names(),
            codes: batch.runs.iter().map(|r| Some(u32::from(r.mechanism))).collect(),
        },
    );
    t.push("episode", int_of(batch.runs.iter().map(|r| i64::from(r.episode))));
    t.push("episode_seed", Values::Seed(batch.runs.iter().map(|r| r.seed).collect()));
    t.push("tasks", int_of(batch.runs.iter().map(|r| r.records.len() as i64)));
    for (i, name) in names.iter().enumerate() {
        t.push(
            name.clone(),
            Values::Float(values.iter().map(|v| v.get(i).copied().filter(|x| x.is_finite())).collect()),
        );
    }
    t
}

/// A timed run's latencies: one row per task decision with its clock (seconds from the
/// episode's start), `latency_s` (arrival to answer; missing when the task was dropped or timed
/// out) and `auction_s` (arrival to award). `None` for sequential arrivals.
#[must_use]
pub fn latency(batch: &BatchResult) -> Option<Table> {
    let records = || batch.runs.iter().flat_map(|run| run.records.iter().map(move |r| (run, r)));
    if !records().any(|(_, r)| r.timing.is_some()) {
        return None;
    }
    let timing = |r: &tender_engine::TaskRecord| r.timing.as_deref().copied().unwrap_or_default();
    let answered =
        |r: &tender_engine::TaskRecord| r.winner != u16::MAX && !timing(r).timed_out && timing(r).done.is_finite();
    let float =
        |f: &dyn Fn(&tender_engine::TaskRecord) -> Option<f64>| Values::Float(records().map(|(_, r)| f(r)).collect());
    let mut t = Table::default();
    t.push(
        "mechanism",
        Values::Category {
            levels: batch.names(),
            codes: records().map(|(run, _)| Some(u32::from(run.mechanism))).collect(),
        },
    );
    t.push("episode", int_of(records().map(|(run, _)| i64::from(run.episode))));
    t.push("step", int_of(records().map(|(_, r)| i64::from(r.step))));
    t.push("arrival_s", float(&|r| Some(timing(r).arrival)));
    t.push("auction_s", float(&|r| Some(timing(r).awarded - timing(r).arrival)));
    t.push("latency_s", float(&|r| answered(r).then(|| timing(r).done - timing(r).arrival)));
    t.push("timed_out", Values::Bool(records().map(|(_, r)| Some(timing(r).timed_out)).collect()));
    Some(t)
}

/// The pool (`agents.csv`): one row per agent in index order, with its prices (dollars per
/// million tokens) and its role as a reference of comparisons (`largest`, `smallest` or missing,
/// as [`tender_agents::References::of`] chose).
#[must_use]
pub fn agents(agents: &[AgentInfo]) -> Table {
    let r = tender_agents::References::of(agents);
    let role = |i: usize| {
        if i == r.largest {
            Some("largest")
        } else if i == r.smallest {
            Some("smallest")
        } else {
            None
        }
    };
    let mut reference = Categories { levels: vec!["largest".into(), "smallest".into()], codes: Vec::new() };
    for i in 0..agents.len() {
        reference.push(role(i));
    }
    let mut t = Table::default();
    t.push("agent", Values::Text(agents.iter().map(|a| Some(a.name.clone())).collect()));
    t.push("input_usd_per_mtok", Values::Float(agents.iter().map(|a| Some(a.input_price)).collect()));
    t.push("output_usd_per_mtok", Values::Float(agents.iter().map(|a| Some(a.output_price)).collect()));
    t.push("reference", reference.values());
    t
}

/// `mechanisms.csv`: each column of the run with what it declares of itself (its role, its
/// curve, whether it learns along the stream, the ids of the quantities it reports, space
/// separated), so that plots and notebooks find mechanisms by
/// what they are, never by their names.
#[must_use]
pub fn mechanisms(batch: &BatchResult) -> Table {
    let role = |m: &tender_engine::mechanisms::Resolved| match m.role() {
        Role::Market => "market".to_string(),
        Role::Alone(a) => format!("alone:{}", batch.agents.get(a).map_or("?", |x| x.name.as_str())),
        Role::Oracle => "oracle".into(),
        Role::RefinedOracle => "refined_oracle".into(),
    };
    let mut t = Table::default();
    t.push("mechanism", Values::Text(batch.mechanisms.iter().map(|m| Some(m.name.clone())).collect()));
    t.push("role", Values::Text(batch.mechanisms.iter().map(|m| Some(role(m))).collect()));
    t.push("curve", Values::Text(batch.mechanisms.iter().map(|m| m.curve.clone()).collect()));
    t.push("learns", Values::Bool(batch.mechanisms.iter().map(|m| Some(m.learns())).collect()));
    let reports = |m: &tender_engine::mechanisms::Resolved| {
        m.mechanism.reports().iter().map(|q| q.id).collect::<Vec<_>>().join(" ")
    };
    t.push("reports", Values::Text(batch.mechanisms.iter().map(|m| Some(reports(m))).collect()));
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_writes_missing_values_empty_and_seeds_in_hex() {
        let mut t = Table::default();
        t.push("seed", Values::Seed(vec![u64::MAX, 1]));
        t.push("x", Values::Float(vec![Some(0.5), None]));
        t.push("ok", Values::Bool(vec![None, Some(true)]));
        t.push("who", Values::Category { levels: vec!["a".into(), "b".into()], codes: vec![Some(1), None] });
        let mut out = Vec::new();
        t.write_csv(&mut out).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "seed,x,ok,who\n0xffffffffffffffff,0.5,,b\n0x0000000000000001,,true,\n"
        );
    }
}
