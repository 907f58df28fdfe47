//! A run's results folder, written whole or not at all: every file goes to a staging folder
//! beside it, which takes the folder's place only once everything is written. Until then the
//! earlier results stay as they were; a failed run leaves them untouched and its staging folder
//! removed.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use tender_analysis::metrics::Summary;
use tender_analysis::output;
use tender_analysis::routing::RoutingReport;
use tender_engine::{BatchResult, Scenario};

use crate::cli::TaskRows;
use crate::io::write_scenario;

/// Everything a batch run leaves in its folder.
pub struct RunFiles<'a> {
    pub scenario: &'a Scenario,
    pub batch: &'a BatchResult,
    pub summary: &'a Summary,
    pub routing: Option<&'a RoutingReport>,
    pub tasks: TaskRows,
    pub plots: bool,
}

/// Write a run's files to `out`: summary.csv, agents.csv, the per-task rows, scenario.ron, routing.csv
/// (when the run has one) and, unless asked not to, the plots and report.html. The one way
/// `tender run` and `tender reproduce` write results. Returns the per-task file's name, if any.
pub fn write_run(out: &Path, f: &RunFiles<'_>) -> Result<Option<&'static str>> {
    let domains: Vec<String> = f.scenario.workload.domains.iter().map(|d| d.name.clone()).collect();
    output::write_summary(&out.join("summary.csv"), f.summary)?;
    output::write_agents(&out.join("agents.csv"), &f.batch.agents)?;
    output::write_busy_over_time(&out.join("utilisation.csv"), f.batch)?;
    let tasks = match f.tasks {
        TaskRows::Csv => {
            output::write_tasks(&out.join("tasks.csv"), f.batch, &domains)?;
            Some("tasks.csv")
        }
        TaskRows::Gzip => {
            output::write_tasks_gz(&out.join("tasks.csv.gz"), f.batch, &domains)?;
            Some("tasks.csv.gz")
        }
        TaskRows::None => None,
    };
    write_scenario(out, f.scenario)?;
    if let Some(r) = f.routing {
        tender_analysis::routing::write_routing(&out.join("routing.csv"), r)?;
    }
    if f.plots {
        tender_analysis::plot::plot_dir(out)?;
    }
    Ok(tasks)
}

/// A staging folder for `out`.
pub struct Staged {
    out: PathBuf,
    staging: PathBuf,
    committed: bool,
}

impl Staged {
    /// Create the staging folder beside `out` (`.NAME.partial-PID`).
    pub fn new(out: &Path) -> Result<Self> {
        let staging = sibling(out, "partial")?;
        if staging.exists() {
            std::fs::remove_dir_all(&staging).with_context(|| format!("cannot clear {}", staging.display()))?;
        }
        std::fs::create_dir_all(&staging).with_context(|| format!("cannot create {}", staging.display()))?;
        Ok(Self { out: out.to_path_buf(), staging, committed: false })
    }

    /// Where to write.
    #[must_use]
    pub fn path(&self) -> &Path {
        &self.staging
    }

    /// Put the staging folder in `out`'s place. Files named in `carried` (a response cache that
    /// lives in the results folder across runs) move over from the old folder unless the run
    /// wrote its own.
    pub fn commit(mut self, carried: &[&str]) -> Result<()> {
        if self.out.exists() {
            for name in carried {
                let (from, to) = (self.out.join(name), self.staging.join(name));
                if from.exists() && !to.exists() {
                    std::fs::rename(&from, &to).with_context(|| format!("cannot move {}", from.display()))?;
                }
            }
            let old = sibling(&self.out, "old")?;
            if old.exists() {
                std::fs::remove_dir_all(&old).with_context(|| format!("cannot clear {}", old.display()))?;
            }
            std::fs::rename(&self.out, &old).with_context(|| format!("cannot move {} aside", self.out.display()))?;
            std::fs::rename(&self.staging, &self.out)
                .with_context(|| format!("cannot move {} into place", self.staging.display()))?;
            std::fs::remove_dir_all(&old).with_context(|| format!("cannot remove {}", old.display()))?;
        } else {
            std::fs::rename(&self.staging, &self.out)
                .with_context(|| format!("cannot move {} into place", self.staging.display()))?;
        }
        // The rename is durable once the parent folder is.
        if let Some(parent) = self.out.parent().filter(|p| !p.as_os_str().is_empty())
            && let Ok(dir) = std::fs::File::open(parent)
        {
            let _ = dir.sync_all();
        }
        self.committed = true;
        Ok(())
    }
}

impl Drop for Staged {
    fn drop(&mut self) {
        if !self.committed {
            let _ = std::fs::remove_dir_all(&self.staging);
        }
    }
}

/// `.NAME.KIND-PID` beside `out`.
fn sibling(out: &Path, kind: &str) -> Result<PathBuf> {
    let name =
        out.file_name().with_context(|| format!("the results folder {} has no name", out.display()))?.to_string_lossy();
    let parent = out.parent().unwrap_or(Path::new(""));
    std::fs::create_dir_all(if parent.as_os_str().is_empty() { Path::new(".") } else { parent })
        .with_context(|| format!("cannot create {}", parent.display()))?;
    Ok(parent.join(format!(".{name}.{kind}-{}", std::process::id())))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(path: &Path, text: &str) {
        std::fs::write(path, text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    }

    fn read(path: &Path) -> String {
        std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }

    #[test]
    fn a_failed_run_leaves_the_earlier_results_whole() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let out = dir.path().join("results");
        std::fs::create_dir_all(&out).unwrap_or_else(|e| panic!("{e}"));
        write(&out.join("summary.csv"), "old summary");
        write(&out.join("tasks.csv"), "old tasks");
        {
            let staged = Staged::new(&out).unwrap_or_else(|e| panic!("{e}"));
            write(&staged.path().join("summary.csv"), "new summary");
            // The run fails here: the staging folder is dropped uncommitted.
        }
        assert_eq!(read(&out.join("summary.csv")), "old summary");
        assert_eq!(read(&out.join("tasks.csv")), "old tasks");
        let names: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap_or_else(|e| panic!("{e}"))
            .map(|e| e.map(|e| e.file_name().to_string_lossy().into_owned()).unwrap_or_default())
            .collect();
        assert_eq!(names, ["results"], "no staging folder is left behind");
    }

    #[test]
    fn a_finished_run_replaces_the_folder_whole_and_keeps_the_cache() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let out = dir.path().join("results");
        std::fs::create_dir_all(&out).unwrap_or_else(|e| panic!("{e}"));
        write(&out.join("summary.csv"), "old summary");
        write(&out.join("routing.csv"), "a file the new run does not write");
        write(&out.join("cache.jsonl"), "cached answers");
        let staged = Staged::new(&out).unwrap_or_else(|e| panic!("{e}"));
        write(&staged.path().join("summary.csv"), "new summary");
        staged.commit(&["cache.jsonl"]).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(read(&out.join("summary.csv")), "new summary");
        assert!(!out.join("routing.csv").exists(), "no stale file from the earlier run");
        assert_eq!(read(&out.join("cache.jsonl")), "cached answers");
        let names: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap_or_else(|e| panic!("{e}"))
            .map(|e| e.map(|e| e.file_name().to_string_lossy().into_owned()).unwrap_or_default())
            .collect();
        assert_eq!(names, ["results"]);
        // A first run: nothing to replace.
        let fresh = dir.path().join("fresh");
        let staged = Staged::new(&fresh).unwrap_or_else(|e| panic!("{e}"));
        write(&staged.path().join("summary.csv"), "first");
        staged.commit(&["cache.jsonl"]).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(read(&fresh.join("summary.csv")), "first");
    }
}
