//! A run's results folder, written whole or not at all, and never over what Tender did not write.
//!
//! - **Ownership.** A folder is replaced only when it is empty or Tender wrote it: its manifest
//!   (`tender-results.json`) lists every entry Tender put there, and any other entry (a user's
//!   notes, a sub-folder, the scenario file itself) makes Tender refuse, naming them.
//! - **One writer.** A lock on `.NAME.lock` beside the folder is held from the first check to the
//!   swap; a second command writing the same folder fails at once, saying so.
//! - **Staging.** Every file goes to `.NAME.partial` beside the folder, which takes the folder's
//!   place only once everything, the manifest last, is written. A failed run leaves the earlier
//!   results as they were. What a killed run left (a staging folder, or the earlier results set
//!   aside mid-swap as `.NAME.old`) is cleaned up or restored by the next command, which says so.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};
use tender_analysis::metrics::Summary;
use tender_analysis::output;
use tender_analysis::routing::RoutingReport;
use tender_engine::{BatchResult, Scenario};

use crate::cli::{Format, TaskRows};
use crate::io::write_scenario;

/// Everything a batch run leaves in its folder.
pub struct RunFiles<'a> {
    pub scenario: &'a Scenario,
    pub batch: &'a BatchResult,
    pub summary: &'a Summary,
    pub routing: Option<&'a RoutingReport>,
    pub tasks: TaskRows,
    pub format: Format,
    pub plots: bool,
}

/// Write a run's files to `out`: summary.csv, agents.csv, the per-task rows, scenario.ron, routing.csv
/// (when the run has one) and, unless asked not to, the plots and report.html, which names the
/// folder `shown`. The one way `tender run` and `tender reproduce` write results. Returns the
/// per-task file's name, if any.
pub fn write_run(out: &Path, shown: &Path, f: &RunFiles<'_>) -> Result<Option<&'static str>> {
    let domains: Vec<String> = f.scenario.workload.domains.iter().map(|d| d.name.clone()).collect();
    let ids = task_ids(f.scenario);
    let names = output::TaskNames { domains: &domains, ids: &ids };
    output::write_summary(&out.join("summary.csv"), f.summary)?;
    output::write_agents(&out.join("agents.csv"), &f.batch.agents)?;
    output::write_mechanisms(&out.join("mechanisms.csv"), f.batch)?;
    output::write_busy_over_time(&out.join("utilisation.csv"), f.batch)?;
    if f.format == Format::Parquet {
        output::write_parquet(&out.join("summary.parquet"), &tender_analysis::columns::summary(f.summary))?;
        output::write_parquet(&out.join("episodes.parquet"), &tender_analysis::columns::episodes(f.batch))?;
    }
    let tasks = match (f.tasks, f.format) {
        (TaskRows::Csv, Format::Parquet) => {
            output::write_parquet(&out.join("tasks.parquet"), &tender_analysis::columns::tasks(f.batch, names))?;
            Some("tasks.parquet")
        }
        (TaskRows::Gzip, Format::Parquet) => {
            bail!("`--tasks gzip` is a CSV form; Parquet files are compressed already")
        }
        (TaskRows::Csv, Format::Csv) => {
            output::write_tasks(&out.join("tasks.csv"), f.batch, names)?;
            Some("tasks.csv")
        }
        (TaskRows::Gzip, Format::Csv) => {
            output::write_tasks_gz(&out.join("tasks.csv.gz"), f.batch, names)?;
            Some("tasks.csv.gz")
        }
        (TaskRows::None, _) => None,
    };
    write_scenario(out, f.scenario)?;
    if let Some(r) = f.routing {
        tender_analysis::routing::write_routing(&out.join("routing.csv"), r)?;
    }
    if f.plots {
        tender_analysis::plot::plot_dir(out, shown)?;
    }
    Ok(tasks)
}

/// The ids tasks are named by in the tasks table: a task file's own ids (a task's id is its
/// position in the file), none for drawn tasks (named by number).
#[must_use]
pub fn task_ids(scenario: &Scenario) -> Vec<String> {
    scenario.workload.loaded.as_deref().map_or_else(Vec::new, |tasks| {
        tasks.iter().map(|t| t.content.as_ref().map_or_else(|| t.id.to_string(), |c| c.key.clone())).collect()
    })
}

/// The manifest in every results folder Tender writes: the entries it put there.
pub const MANIFEST: &str = "tender-results.json";

/// The response cache, which lives in a run's results folder across runs.
pub const CACHE: &str = "cache.jsonl";

/// `tender fit`'s weights, by default in the results folder: a run keeps them.
pub const FITTED: &str = "fitted-weights.ron";

/// What a run's folder keeps across runs.
pub const CARRIED: &[&str] = &[CACHE, FITTED];

#[derive(Debug, Serialize, Deserialize)]
struct Manifest {
    written_by: String,
    command: String,
    entries: Vec<String>,
}

/// Tender's lock on a folder it writes: held until dropped (the OS releases it when the process
/// ends, however it ends, so a killed command leaves no stale lock).
pub struct FolderLock {
    _file: File,
}

impl FolderLock {
    /// Lock `out` for `command`, or fail at once naming the command that holds it.
    pub fn take(out: &Path, command: &str) -> Result<Self> {
        let path = sibling(out, "lock")?;
        let mut file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(&path)
            .with_context(|| format!("cannot open the lock file {}", path.display()))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                let holder = std::fs::read_to_string(&path).unwrap_or_default();
                bail!(
                    "{} is being written by another Tender command ({}); wait for it to finish, or give this one \
                     another folder (--out)",
                    out.display(),
                    if holder.trim().is_empty() { "unknown" } else { holder.trim() }
                );
            }
            Err(TryLockError::Error(e)) => {
                return Err(e).with_context(|| format!("cannot lock {}", path.display()));
            }
        }
        // Who holds it, for the message above; the lock itself is what counts.
        let _ = file.set_len(0).and_then(|()| write!(file, "`tender {command}`, process {}", std::process::id()));
        Ok(Self { _file: file })
    }
}

/// A staging folder for `out`, with `out` locked and checked to be Tender's to replace.
pub struct Staged {
    out: PathBuf,
    staging: PathBuf,
    command: String,
    carried: Vec<String>,
    committed: bool,
    _lock: FolderLock,
}

impl Staged {
    /// Lock `out`, finish or undo what an interrupted command left beside it, refuse a folder
    /// holding anything Tender did not write, and create the staging folder (`.NAME.partial`).
    /// Files named in `carried` (the response cache) are kept across runs.
    pub fn new(out: &Path, command: &str, carried: &[&str]) -> Result<Self> {
        let lock = FolderLock::take(out, command)?;
        let carried: Vec<String> = carried.iter().map(|c| (*c).to_string()).collect();
        for note in recover(out, &carried)? {
            eprintln!("note: {note}");
        }
        check_replaceable(out, &carried)?;
        let staging = sibling(out, "partial")?;
        std::fs::create_dir_all(&staging).with_context(|| format!("cannot create {}", staging.display()))?;
        Ok(Self {
            out: out.to_path_buf(),
            staging,
            command: command.to_string(),
            carried,
            committed: false,
            _lock: lock,
        })
    }

    /// Where to write.
    #[must_use]
    pub fn path(&self) -> &Path {
        &self.staging
    }

    /// Put the staging folder in `out`'s place: the manifest is written last into the staging
    /// folder (a staging folder with a manifest is complete), then carried files move over and
    /// the folders are swapped.
    pub fn commit(mut self) -> Result<()> {
        let mut entries = entries(&self.staging)?;
        entries.extend(self.carried.iter().filter(|c| self.out.join(c).exists()).cloned());
        entries.sort();
        entries.dedup();
        write_manifest(&self.staging, &self.command, entries)?;
        swap(&self.out, &self.staging, &self.carried)?;
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

/// Move carried files from `out` into the complete `staging` folder, then put `staging` in
/// `out`'s place (the earlier folder set aside as `.NAME.old` until the new one is in place).
fn swap(out: &Path, staging: &Path, carried: &[String]) -> Result<()> {
    if out.exists() {
        for name in carried {
            let (from, to) = (out.join(name), staging.join(name));
            if from.exists() && !to.exists() {
                std::fs::rename(&from, &to).with_context(|| format!("cannot move {}", from.display()))?;
            }
        }
        let old = sibling(out, "old")?;
        std::fs::rename(out, &old).with_context(|| format!("cannot move {} aside", out.display()))?;
        std::fs::rename(staging, out).with_context(|| format!("cannot move {} into place", staging.display()))?;
        std::fs::remove_dir_all(&old).with_context(|| format!("cannot remove {}", old.display()))?;
    } else {
        std::fs::rename(staging, out).with_context(|| format!("cannot move {} into place", staging.display()))?;
    }
    // The rename is durable once the parent folder is.
    if let Ok(dir) = File::open(parent_of(out)) {
        let _ = dir.sync_all();
    }
    Ok(())
}

/// Finish or undo what a command killed while writing `out` left beside it, with a note for
/// each: a complete staging folder (its manifest written) is put in place; an incomplete one is
/// removed; earlier results set aside mid-swap come back when `out` is missing and are removed
/// otherwise. Earlier versions' `.NAME.partial-PID` and `.NAME.old-PID` are treated the same.
fn recover(out: &Path, carried: &[String]) -> Result<Vec<String>> {
    let mut notes = Vec::new();
    let (partials, olds) = leftovers(out)?;
    for partial in partials {
        if partial.join(MANIFEST).is_file() {
            swap(out, &partial, carried)?;
            notes.push(format!(
                "put the complete results of an interrupted command in place: {} (from {})",
                out.display(),
                partial.display()
            ));
        } else {
            let size = dir_size(&partial);
            std::fs::remove_dir_all(&partial).with_context(|| format!("cannot remove {}", partial.display()))?;
            notes.push(format!(
                "removed {} ({}), the unfinished staging folder of an interrupted command",
                partial.display(),
                megabytes(size)
            ));
        }
    }
    for old in olds {
        if !old.exists() {
            continue;
        }
        if out.exists() {
            std::fs::remove_dir_all(&old).with_context(|| format!("cannot remove {}", old.display()))?;
            notes.push(format!("removed {}, earlier results already replaced by newer ones", old.display()));
        } else {
            std::fs::rename(&old, out).with_context(|| format!("cannot restore {}", old.display()))?;
            notes.push(format!(
                "restored {} from {}, where an interrupted command had set it aside",
                out.display(),
                old.display()
            ));
        }
    }
    Ok(notes)
}

/// The staging and set-aside folders beside `out`: `.NAME.partial`, `.NAME.old`, and the
/// `-PID`-suffixed names of earlier versions.
fn leftovers(out: &Path) -> Result<(Vec<PathBuf>, Vec<PathBuf>)> {
    let name = folder_name(out)?;
    let parent = parent_of(out);
    let (mut partials, mut olds) = (Vec::new(), Vec::new());
    let Ok(list) = std::fs::read_dir(parent) else { return Ok((partials, olds)) };
    for entry in list.flatten() {
        let file = entry.file_name().to_string_lossy().into_owned();
        let Some(rest) = file.strip_prefix(&format!(".{name}.")) else { continue };
        let is = |kind: &str| {
            rest.strip_prefix(kind).is_some_and(|s| {
                s.is_empty() || s.strip_prefix('-').is_some_and(|pid| pid.bytes().all(|b| b.is_ascii_digit()))
            })
        };
        if !entry.file_type().is_ok_and(|t| t.is_dir()) {
            continue;
        }
        if is("partial") {
            partials.push(entry.path());
        } else if is("old") {
            olds.push(entry.path());
        }
    }
    partials.sort();
    olds.sort();
    Ok((partials, olds))
}

/// Refuse to replace `out` unless it is missing, empty (but for carried files) or holds only
/// what its manifest says Tender wrote.
pub fn check_replaceable(out: &Path, carried: &[String]) -> Result<()> {
    let listed = match std::fs::symlink_metadata(out) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", out.display())),
        Ok(m) if m.file_type().is_symlink() => {
            bail!("{} is a symbolic link; give the folder it points to (--out)", out.display())
        }
        Ok(m) if !m.is_dir() => bail!("{} is a file, not a results folder; give another --out", out.display()),
        Ok(_) => read_manifest(out).map(|m| m.entries).unwrap_or_default(),
    };
    let mut foreign: Vec<String> = Vec::new();
    for entry in std::fs::read_dir(out).with_context(|| format!("cannot list {}", out.display()))?.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name == MANIFEST || carried.contains(&name) || listed.contains(&name) {
            continue;
        }
        let dir = entry.file_type().is_ok_and(|t| t.is_dir());
        foreign.push(if dir { format!("{name}/") } else { name });
    }
    if foreign.is_empty() {
        return Ok(());
    }
    foreign.sort();
    let (why, earlier) = if out.join(MANIFEST).exists() {
        (format!("it holds {} that Tender did not write", count_of(foreign.len())), "")
    } else {
        (
            format!("it is not a results folder Tender wrote (no {MANIFEST}) and holds {}", count_of(foreign.len())),
            " (a folder an earlier version of Tender wrote has no manifest: delete it yourself if nothing in it is yours)",
        )
    };
    bail!(
        "refusing to replace {}: {why}: {}.\nTender replaces a results folder only when it is empty or Tender wrote \
         it; give another folder with --out, or move those entries away{earlier}",
        out.display(),
        foreign.join(", ")
    )
}

fn count_of(n: usize) -> String {
    if n == 1 { "an entry".into() } else { format!("{n} entries") }
}

/// A folder Tender writes into without replacing it (`tender plot`, a sweep's folder): it must
/// be one Tender wrote (a run's manifest or a sweep's `sweep.json`), or be missing or empty when
/// `fresh_ok`.
pub fn check_own_folder(dir: &Path, fresh_ok: bool) -> Result<()> {
    if dir.join(MANIFEST).is_file() || dir.join("sweep.json").is_file() {
        return Ok(());
    }
    let empty = std::fs::read_dir(dir).map_or(true, |mut l| l.next().is_none());
    if fresh_ok && empty {
        return Ok(());
    }
    if !dir.exists() {
        bail!("{}: no such folder (give the results folder of a run or a sweep)", dir.display());
    }
    bail!(
        "{} is not a folder Tender wrote (it has neither {MANIFEST} nor sweep.json), so Tender will not write into \
         it; give a run's or a sweep's results folder, or an empty or new one",
        dir.display()
    )
}

/// Add `names` to the manifest of the run folder `dir` (files `tender plot` wrote), if it has one.
pub fn record_entries(dir: &Path, names: &[String]) -> Result<()> {
    let Some(mut manifest) = read_manifest(dir) else { return Ok(()) };
    manifest.entries.extend(names.iter().cloned());
    manifest.entries.sort();
    manifest.entries.dedup();
    write_manifest(dir, &manifest.command, manifest.entries)
}

/// A file Tender replaces only when it wrote it: missing, or holding `marker`.
pub fn check_own_file(path: &Path, marker: &str) -> Result<()> {
    match std::fs::read(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
        Ok(bytes) if String::from_utf8_lossy(&bytes).contains(marker) => Ok(()),
        Ok(_) => bail!(
            "refusing to overwrite {}: Tender did not write it; give another path with --out, or move it away",
            path.display()
        ),
    }
}

fn read_manifest(dir: &Path) -> Option<Manifest> {
    serde_json::from_str(&std::fs::read_to_string(dir.join(MANIFEST)).ok()?).ok()
}

fn write_manifest(dir: &Path, command: &str, entries: Vec<String>) -> Result<()> {
    let manifest =
        Manifest { written_by: format!("tender {}", env!("CARGO_PKG_VERSION")), command: command.to_string(), entries };
    let text = serde_json::to_string_pretty(&manifest)?;
    output::write_atomic(&dir.join(MANIFEST), |w| w.write_all(format!("{text}\n").as_bytes()))?;
    Ok(())
}

/// The names in a folder, sorted.
fn entries(dir: &Path) -> Result<Vec<String>> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .with_context(|| format!("cannot list {}", dir.display()))?
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    Ok(names)
}

fn dir_size(dir: &Path) -> u64 {
    std::fs::read_dir(dir).map_or(0, |list| {
        list.flatten()
            .map(|e| match e.file_type() {
                Ok(t) if t.is_dir() => dir_size(&e.path()),
                _ => e.metadata().map_or(0, |m| m.len()),
            })
            .sum()
    })
}

fn megabytes(bytes: u64) -> String {
    format!("{:.1} MB", bytes as f64 / 1e6)
}

fn folder_name(out: &Path) -> Result<String> {
    Ok(out
        .file_name()
        .with_context(|| format!("the results folder {} has no name; give one by name (--out)", out.display()))?
        .to_string_lossy()
        .into_owned())
}

fn parent_of(out: &Path) -> &Path {
    out.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."))
}

/// `.NAME.KIND` beside `out` (its parent folder created).
fn sibling(out: &Path, kind: &str) -> Result<PathBuf> {
    let name = folder_name(out)?;
    let parent = parent_of(out);
    std::fs::create_dir_all(parent).with_context(|| format!("cannot create {}", parent.display()))?;
    Ok(parent.join(format!(".{name}.{kind}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(path: &Path, text: &str) {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).unwrap_or_else(|e| panic!("{}: {e}", parent.display()));
        }
        std::fs::write(path, text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    }

    fn read(path: &Path) -> String {
        std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }

    fn names(dir: &Path) -> Vec<String> {
        entries(dir).unwrap_or_else(|e| panic!("{e}"))
    }

    /// A results folder as a finished run leaves it.
    fn finished_run(out: &Path, summary: &str) {
        let staged = Staged::new(out, "run", &[CACHE]).unwrap_or_else(|e| panic!("{e:#}"));
        write(&staged.path().join("summary.csv"), summary);
        staged.commit().unwrap_or_else(|e| panic!("{e:#}"));
    }

    #[test]
    fn a_failed_run_leaves_the_earlier_results_whole() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let out = dir.path().join("results");
        finished_run(&out, "old summary");
        {
            let staged = Staged::new(&out, "run", &[CACHE]).unwrap_or_else(|e| panic!("{e:#}"));
            write(&staged.path().join("summary.csv"), "new summary");
            // The run fails here: the staging folder is dropped uncommitted.
        }
        assert_eq!(read(&out.join("summary.csv")), "old summary");
        assert_eq!(names(dir.path()), [".results.lock", "results"], "no staging folder is left behind");
    }

    #[test]
    fn a_finished_run_replaces_its_own_folder_whole_and_keeps_the_cache() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let out = dir.path().join("results");
        let staged = Staged::new(&out, "run", &[CACHE]).unwrap_or_else(|e| panic!("{e:#}"));
        write(&staged.path().join("summary.csv"), "old summary");
        write(&staged.path().join("routing.csv"), "a file the next run does not write");
        staged.commit().unwrap_or_else(|e| panic!("{e:#}"));
        // A live run appends to the cache in the results folder itself.
        write(&out.join(CACHE), "cached answers");
        finished_run(&out, "new summary");
        assert_eq!(read(&out.join("summary.csv")), "new summary");
        assert!(!out.join("routing.csv").exists(), "no stale file from the earlier run");
        assert_eq!(read(&out.join(CACHE)), "cached answers");
        assert_eq!(names(&out), [CACHE, "summary.csv", MANIFEST]);
        assert_eq!(names(dir.path()), [".results.lock", "results"]);
    }

    #[test]
    fn a_folder_tender_did_not_write_is_refused_and_left_whole() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let out = dir.path().join("proj");
        write(&out.join("notes.txt"), "keep");
        write(&out.join("sub/y"), "x");
        write(&out.join("quickstart.ron"), "Scenario()");
        let e = Staged::new(&out, "run", &[CACHE]).err().map(|e| format!("{e:#}")).unwrap_or_default();
        assert!(e.contains("refusing to replace") && e.contains("notes.txt, quickstart.ron, sub/"), "{e}");
        assert!(e.contains("no tender-results.json") && e.contains("--out"), "{e}");
        assert_eq!(names(&out), ["notes.txt", "quickstart.ron", "sub"]);
        assert_eq!(read(&out.join("sub/y")), "x");
        // A user's file added to a folder Tender wrote is refused too.
        let run = dir.path().join("run");
        finished_run(&run, "summary");
        write(&run.join("my-analysis.ipynb"), "{}");
        let e = Staged::new(&run, "run", &[CACHE]).err().map(|e| format!("{e:#}")).unwrap_or_default();
        assert!(e.contains("an entry that Tender did not write: my-analysis.ipynb"), "{e}");
        assert!(run.join("my-analysis.ipynb").exists());
        // Empty folders (and ones holding only the carried cache) are taken.
        let empty = dir.path().join("empty");
        std::fs::create_dir_all(&empty).unwrap_or_else(|e| panic!("{e}"));
        finished_run(&empty, "first");
        assert_eq!(read(&empty.join("summary.csv")), "first");
        // A file in the folder's place is refused.
        let file = dir.path().join("file");
        write(&file, "data");
        assert!(Staged::new(&file, "run", &[]).is_err());
        assert_eq!(read(&file), "data");
    }

    #[test]
    fn a_second_writer_fails_at_once_while_the_first_holds_the_folder() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let out = dir.path().join("results");
        let first = Staged::new(&out, "run", &[CACHE]).unwrap_or_else(|e| panic!("{e:#}"));
        let e = Staged::new(&out, "run", &[CACHE]).err().map(|e| format!("{e:#}")).unwrap_or_default();
        assert!(e.contains("being written by another Tender command (`tender run`, process"), "{e}");
        // The refused second one did not touch the first's staging folder.
        write(&first.path().join("summary.csv"), "first");
        first.commit().unwrap_or_else(|e| panic!("{e:#}"));
        assert_eq!(read(&out.join("summary.csv")), "first");
        finished_run(&out, "second, after the first");
        assert_eq!(read(&out.join("summary.csv")), "second, after the first");
    }

    #[test]
    fn what_a_killed_run_left_is_cleaned_or_restored() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let out = dir.path().join("results");
        // Killed while writing: an unfinished staging folder (an earlier version's name too).
        finished_run(&out, "kept");
        write(&dir.path().join(".results.partial/tasks.csv"), "half");
        write(&dir.path().join(".results.partial-4242/tasks.csv"), "half");
        let notes = recover(&out, &[CACHE.into()]).unwrap_or_else(|e| panic!("{e:#}"));
        assert_eq!(notes.len(), 2, "{notes:?}");
        assert!(notes.iter().all(|n| n.contains("removed") && n.contains("unfinished staging folder")), "{notes:?}");
        assert_eq!(read(&out.join("summary.csv")), "kept");
        // Killed between the two renames: the earlier results are set aside, the new ones are
        // not in place. A staging folder without its manifest is unfinished: the old results come back.
        std::fs::rename(&out, dir.path().join(".results.old-77")).unwrap_or_else(|e| panic!("{e}"));
        let notes = recover(&out, &[CACHE.into()]).unwrap_or_else(|e| panic!("{e:#}"));
        assert!(notes[0].contains("restored"), "{notes:?}");
        assert_eq!(read(&out.join("summary.csv")), "kept");
        // With its manifest written, the staging folder is complete: it is put in place, and the
        // cache carried over from the earlier folder.
        write(&out.join(CACHE), "answers");
        write(&dir.path().join(".results.partial/summary.csv"), "new");
        write_manifest(&dir.path().join(".results.partial"), "run", vec!["summary.csv".into(), CACHE.into()])
            .unwrap_or_else(|e| panic!("{e:#}"));
        let notes = recover(&out, &[CACHE.into()]).unwrap_or_else(|e| panic!("{e:#}"));
        assert!(notes[0].contains("complete results of an interrupted command"), "{notes:?}");
        assert_eq!(read(&out.join("summary.csv")), "new");
        assert_eq!(read(&out.join(CACHE)), "answers");
        assert_eq!(names(dir.path()), [".results.lock", "results"]);
    }
}
