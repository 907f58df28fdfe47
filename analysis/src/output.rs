//! Result files, each written atomically: a reader sees the old file or the new one, never half.

use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use tender_engine::BatchResult;

use crate::metrics::Summary;

/// A result file could not be written.
#[derive(Debug, thiserror::Error)]
#[error("cannot write {path}")]
pub struct OutputError {
    pub path: PathBuf,
    #[source]
    pub source: io::Error,
}

/// Write `path` through a temporary file in the same folder, renamed into place when complete.
pub fn write_atomic(path: &Path, fill: impl FnOnce(&mut dyn Write) -> io::Result<()>) -> Result<(), OutputError> {
    let err = |source| OutputError { path: path.to_path_buf(), source };
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(err)?;
    let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(err)?;
    {
        let mut w = BufWriter::new(tmp.as_file_mut());
        fill(&mut w).map_err(err)?;
        w.flush().map_err(err)?;
    }
    tmp.as_file().sync_all().map_err(err)?;
    // Temporary files are private; results are ordinary files others may read.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        tmp.as_file().set_permissions(std::fs::Permissions::from_mode(0o644)).map_err(err)?;
    }
    tmp.persist(path).map_err(|e| err(e.error))?;
    Ok(())
}

fn csv_error(e: csv::Error) -> io::Error {
    io::Error::other(e)
}

/// `summary.csv`: one row per mechanism, scope and metric.
pub fn write_summary(path: &Path, s: &Summary) -> Result<(), OutputError> {
    write_atomic(path, |w| {
        let mut out = csv::Writer::from_writer(w);
        out.write_record(["mechanism", "scope", "metric", "mean", "ci_low", "ci_high", "episodes"])
            .map_err(csv_error)?;
        for r in &s.rows {
            out.write_record([
                s.mechanisms[r.mechanism].clone(),
                s.scope_name(&r.scope),
                r.metric.id(&s.agents),
                r.estimate.mean.to_string(),
                r.estimate.low.to_string(),
                r.estimate.high.to_string(),
                r.estimate.n.to_string(),
            ])
            .map_err(csv_error)?;
        }
        out.flush()
    })
}

/// `agents.csv`: the pool, one row per agent in index order, with its prices (dollars per
/// million tokens) and its role as a reference of comparisons (`largest`, `smallest` or empty,
/// as [`tender_agents::References::of`] chose): what the plots need to know of the agents.
pub fn write_agents(path: &Path, agents: &[tender_agents::AgentInfo]) -> Result<(), OutputError> {
    let r = tender_agents::References::of(agents);
    write_atomic(path, |w| {
        let mut out = csv::Writer::from_writer(w);
        out.write_record(["agent", "input_usd_per_mtok", "output_usd_per_mtok", "reference"]).map_err(csv_error)?;
        for (i, a) in agents.iter().enumerate() {
            let role = if i == r.largest {
                "largest"
            } else if i == r.smallest {
                "smallest"
            } else {
                ""
            };
            out.write_record([a.name.clone(), a.input_price.to_string(), a.output_price.to_string(), role.into()])
                .map_err(csv_error)?;
        }
        out.flush()
    })
}

/// `utilisation.csv`, for a timed run: each mechanism's first episode as each agent's busy share
/// of its slots over time, one row per (mechanism, time bin), one column per agent. Returns
/// whether the run was timed (nothing is written otherwise).
pub fn write_busy_over_time(path: &Path, batch: &BatchResult) -> Result<bool, OutputError> {
    let runs: Vec<&tender_engine::EpisodeRun> = batch.runs.iter().filter(|r| !r.busy_over_time.is_empty()).collect();
    if runs.is_empty() {
        return Ok(false);
    }
    write_atomic(path, |w| {
        let mut out = csv::Writer::from_writer(w);
        let mut header = vec!["mechanism".to_string(), "time_s".to_string()];
        header.extend(batch.agents.iter().map(|a| a.name.clone()));
        out.write_record(&header).map_err(csv_error)?;
        for run in runs {
            let name = &batch.mechanisms[usize::from(run.mechanism)].name;
            for (at, shares) in &run.busy_over_time {
                let mut row = vec![name.clone(), at.to_string()];
                row.extend(shares.iter().map(ToString::to_string));
                out.write_record(&row).map_err(csv_error)?;
            }
        }
        out.flush()
    })?;
    Ok(true)
}

/// How a task is named in `tasks.csv`: its domain by name, and, for tasks from a file, the file's
/// own id (`ids[task]`) rather than its position.
#[derive(Clone, Copy, Debug, Default)]
pub struct TaskNames<'a> {
    pub domains: &'a [String],
    /// Ids of the task file's tasks, by task id; empty for drawn tasks (named by number).
    pub ids: &'a [String],
}

/// An episode seed as `tasks.csv` and `rows.csv` write it: `0x` and 16 hex digits. A u64 above
/// 2^63 written as a number is rounded by readers that take it for a float64 (pyarrow) or refused
/// (polars' defaults); as text it stays exact (`int(s, 16)` in Python).
#[must_use]
pub fn seed_text(seed: u64) -> String {
    format!("0x{seed:016x}")
}

/// `tasks.csv`: every task decision of every episode and mechanism.
pub fn write_tasks(path: &Path, batch: &BatchResult, names: TaskNames<'_>) -> Result<(), OutputError> {
    write_atomic(path, |w| write_task_rows(w, batch, names))
}

/// `tasks.csv.gz`: the same rows, gzip-compressed (about a quarter of the size).
pub fn write_tasks_gz(path: &Path, batch: &BatchResult, names: TaskNames<'_>) -> Result<(), OutputError> {
    write_atomic(path, |w| {
        let mut gz = flate2::write::GzEncoder::new(w, flate2::Compression::default());
        write_task_rows(&mut gz, batch, names)?;
        gz.finish().map(|_| ())
    })
}

fn write_task_rows(w: &mut dyn Write, batch: &BatchResult, names: TaskNames<'_>) -> io::Result<()> {
    let TaskNames { domains, ids } = names;
    // The mechanisms' own quantities follow the core columns, in the order they first appear;
    // a task that does not report one leaves it empty.
    let mut reported: Vec<&'static str> = Vec::new();
    for (q, _) in batch.runs.iter().flat_map(|run| &run.records).flat_map(|r| &r.reported) {
        if !reported.contains(&q.id) {
            reported.push(q.id);
        }
    }
    {
        let mut out = csv::Writer::from_writer(w);
        let mut header: Vec<&str> = vec![
            "episode",
            "episode_seed",
            "mechanism",
            "step",
            "task",
            "domain",
            "bin",
            "tau",
            "value_usd",
            "winner",
            "provisional",
            "refined",
            "refiners",
            "success",
            "executions",
            "delivered_tokens",
            "overhead_input_tokens",
            "overhead_output_tokens",
            "overhead_usd",
            "execution_input_tokens",
            "execution_output_tokens",
            "execution_usd",
            "payment_usd",
            "failed_calls",
            "unparsed_replies",
            "abstentions",
        ];
        header.extend(&reported);
        // A timed run's clock, in seconds from the episode's start.
        let timed = batch.runs.iter().flat_map(|run| &run.records).any(|r| r.timing.is_some());
        if timed {
            header.extend(["arrival_s", "awarded_s", "execution_start_s", "done_s", "found_in_system", "timed_out"]);
        }
        out.write_record(&header).map_err(csv_error)?;
        let agent = |i: u16| batch.agents.get(usize::from(i)).map_or_else(String::new, |a| a.name.clone());
        for run in &batch.runs {
            for r in &run.records {
                let mut row = vec![
                    run.episode.to_string(),
                    seed_text(run.seed),
                    batch.mechanisms[usize::from(run.mechanism)].name.clone(),
                    r.step.to_string(),
                    ids.get(r.task as usize).cloned().unwrap_or_else(|| r.task.to_string()),
                    domains.get(usize::from(r.domain)).cloned().unwrap_or_default(),
                    r.bin.to_string(),
                    r.tau.to_string(),
                    r.value.to_string(),
                    agent(r.winner),
                    r.provisional.map(agent).unwrap_or_default(),
                    r.refined.to_string(),
                    r.refiners.to_string(),
                    r.success.to_string(),
                    r.executions.to_string(),
                    r.delivered.total().to_string(),
                    r.overhead.input.to_string(),
                    r.overhead.output.to_string(),
                    r.overhead_cost.to_string(),
                    r.execution.input.to_string(),
                    r.execution.output.to_string(),
                    r.execution_cost.to_string(),
                    r.payment.map(|p| p.to_string()).unwrap_or_default(),
                    r.failed_calls.to_string(),
                    r.unparsed.to_string(),
                    r.abstained.to_string(),
                ];
                row.extend(reported.iter().map(|id| {
                    r.reported.iter().find(|(q, _)| q.id == *id).map(|(_, v)| v.to_string()).unwrap_or_default()
                }));
                if timed {
                    let t = r.timing.as_deref().copied().unwrap_or_default();
                    // A dropped task was never executed: no execution times.
                    let executed = |x: f64| if r.winner == u16::MAX { String::new() } else { x.to_string() };
                    row.extend([
                        t.arrival.to_string(),
                        t.awarded.to_string(),
                        executed(t.execution_start),
                        executed(t.done),
                        t.found_in_system.to_string(),
                        t.timed_out.to_string(),
                    ]);
                }
                out.write_record(&row).map_err(csv_error)?;
            }
        }
        out.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_write_replaces_whole_files_and_leaves_no_temporaries() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/x.csv");
        write_atomic(&path, |w| w.write_all(b"one")).unwrap();
        write_atomic(&path, |w| w.write_all(b"two")).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "two");
        let failed = write_atomic(&path, |w| {
            w.write_all(b"partial")?;
            Err(io::Error::other("boom"))
        });
        assert!(failed.is_err());
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "two");
        assert_eq!(std::fs::read_dir(dir.path().join("sub")).unwrap().count(), 1);
    }
}
