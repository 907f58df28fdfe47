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

/// `agents.csv`: the pool ([`crate::columns::agents`]): what the plots need to know of the agents.
pub fn write_agents(path: &Path, agents: &[tender_agents::AgentInfo]) -> Result<(), OutputError> {
    write_atomic(path, |w| crate::columns::agents(agents).write_csv(w))
}

/// `mechanisms.csv`: what each mechanism of the run declares of itself
/// ([`crate::columns::mechanisms`]).
pub fn write_mechanisms(path: &Path, batch: &BatchResult) -> Result<(), OutputError> {
    write_atomic(path, |w| crate::columns::mechanisms(batch).write_csv(w))
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

pub use crate::columns::{TaskNames, seed_text};

/// A table as a Parquet file ([`crate::arrow::write_parquet`]).
pub fn write_parquet(path: &Path, table: &crate::columns::Table) -> Result<(), OutputError> {
    // The writer needs an owned, sendable sink: the file is small once compressed.
    let mut bytes = Vec::new();
    crate::arrow::write_parquet(&mut bytes, table)
        .map_err(|e| OutputError { path: path.to_path_buf(), source: io::Error::other(e) })?;
    write_atomic(path, |w| w.write_all(&bytes))
}

/// `tasks.csv`: every task decision of every episode and mechanism ([`crate::columns::tasks`]).
pub fn write_tasks(path: &Path, batch: &BatchResult, names: TaskNames<'_>) -> Result<(), OutputError> {
    write_atomic(path, |w| crate::columns::tasks(batch, names).write_csv(w))
}

/// `tasks.csv.gz`: the same rows, gzip-compressed (about a quarter of the size).
pub fn write_tasks_gz(path: &Path, batch: &BatchResult, names: TaskNames<'_>) -> Result<(), OutputError> {
    write_atomic(path, |w| {
        let mut gz = flate2::write::GzEncoder::new(w, flate2::Compression::default());
        crate::columns::tasks(batch, names).write_csv(&mut gz)?;
        gz.finish().map(|_| ())
    })
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
