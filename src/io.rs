//! What every command shares: reading input files with a bound, printing, progress bars, the
//! thread count and the memory check, and saving a scenario as run.

use std::io::Write;
use std::path::Path;

use anyhow::{Context, Result, bail};
use indicatif::{ProgressBar, ProgressState, ProgressStyle};
use tender_analysis::output;
use tender_engine::Scenario;

/// The bytes of a regular file of at most `limit` bytes (never a device, a pipe or a folder,
/// which could be endless).
pub fn read_bounded(file: &Path, limit: u64) -> Result<Vec<u8>> {
    let meta = std::fs::metadata(file).with_context(|| format!("cannot read {}", file.display()))?;
    if !meta.is_file() {
        bail!("{}: not a regular file", file.display());
    }
    if meta.len() > limit {
        bail!("{}: {} bytes; at most {} MiB are read", file.display(), meta.len(), limit >> 20);
    }
    let mut bytes = Vec::new();
    std::io::Read::read_to_end(
        &mut std::io::Read::take(
            std::fs::File::open(file).with_context(|| format!("cannot read {}", file.display()))?,
            limit + 1,
        ),
        &mut bytes,
    )
    .with_context(|| format!("cannot read {}", file.display()))?;
    if bytes.len() as u64 > limit {
        bail!("{}: more than {} MiB", file.display(), limit >> 20);
    }
    Ok(bytes)
}

/// What a command that runs a market many times (`tender game`, `tender shapley`) tells as it
/// goes: the number of runs once it knows it, each run done, and what it is on. The terminal
/// shows a bar ([`Bar`]); the Python binding counts for its notebook bar.
pub trait Progress: Sync {
    fn start(&self, total: u64, what: &str);
    fn tick(&self);
    fn message(&self, _what: String) {}
    /// Whether the caller asked to stop: checked before each market is run.
    fn cancelled(&self) -> bool {
        false
    }
}

/// [`Progress`] on the terminal: a bar from [`progress_bar`], cleared when dropped.
#[derive(Default)]
pub struct Bar(std::sync::OnceLock<ProgressBar>);

impl Progress for Bar {
    fn start(&self, total: u64, what: &str) {
        let _ = self.0.set(progress_bar(total, what));
    }
    fn tick(&self) {
        if let Some(bar) = self.0.get() {
            bar.inc(1);
        }
    }
    fn message(&self, what: String) {
        if let Some(bar) = self.0.get() {
            bar.set_message(what);
        }
    }
}

impl Drop for Bar {
    fn drop(&mut self) {
        if let Some(bar) = self.0.get() {
            bar.finish_and_clear();
        }
    }
}

/// A progress bar counting `total` of `what` (`runs (episode × mechanism)`, `units`, ...).
pub fn progress_bar(total: u64, what: &str) -> ProgressBar {
    let bar = ProgressBar::new(total);
    bar.set_style(
        ProgressStyle::with_template(&format!(
            "{{spinner}} [{{elapsed_precise}}] {{wide_bar}} {{pos}}/{{len}} {what} · ETA {{eta_known}} {{msg}}"
        ))
        .map(|style| {
            style.with_key("eta_known", |state: &ProgressState, w: &mut dyn std::fmt::Write| {
                let _ = w.write_str(&eta(state.pos(), state.len().unwrap_or(0), state.elapsed()));
            })
        })
        .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar
}

/// The time left at the mean rate so far, or "unknown" before anything is done. Not indicatif's
/// own estimate: it weighs recent time most, so while one slow run (a live call waiting on its
/// server) holds the count still, it grew without bound (CI printed "ETA 584942417355 years").
pub fn eta(done: u64, total: u64, elapsed: std::time::Duration) -> String {
    if done == 0 {
        return "unknown".into();
    }
    let left = elapsed.mul_f64(total.saturating_sub(done) as f64 / done as f64);
    indicatif::HumanDuration(left).to_string()
}

/// `1 thread`, `2 threads`.
pub fn count(n: impl Into<u64>, one: &str, many: &str) -> String {
    let n = n.into();
    format!("{n} {}", if n == 1 { one } else { many })
}

/// What a batch's progress bar counts.
pub const RUNS: &str = "runs (episode × mechanism)";

/// Refuse work that cannot fit in memory, with the figures, before it starts: `records` task
/// records are held at once (every one, for `run`'s summary), and each worker holds an episode's
/// tasks.
pub fn check_memory(scenario: &Scenario, records: f64, jobs: Option<usize>) -> Result<()> {
    let tasks = scenario.workload.task_count() as f64;
    let per_task = std::mem::size_of::<tender_agents::Task>() as f64 + 4.0 * f64::from(scenario.workload.embedding_dim);
    let workers = jobs.unwrap_or_else(rayon_threads) as f64;
    let needed = records * std::mem::size_of::<tender_engine::TaskRecord>() as f64 + workers * 2.0 * tasks * per_task;
    if let Some(available) = available_memory()
        && needed > 0.9 * available
    {
        bail!(
            "this needs about {:.1} GiB ({:.0} task records held at once of {} tasks per episode, plus the episodes \
             in flight), and the machine has {:.1} GiB available: use fewer episodes or tasks, or split the work \
             (`tender sweep` streams its rows to disk)",
            needed / GIB,
            records,
            scenario.workload.task_count(),
            available / GIB
        );
    }
    Ok(())
}

const GIB: f64 = 1024.0 * 1024.0 * 1024.0;

/// Bytes of memory available, where the system says (Linux's `MemAvailable`).
fn available_memory() -> Option<f64> {
    let info = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = info.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024.0)
}

/// Worker threads when `--jobs` is not given: one per core.
pub fn rayon_threads() -> usize {
    std::thread::available_parallelism().map_or(1, std::num::NonZero::get)
}

/// Save the scenario as run (overrides applied) as OUT/scenario.ron; `tender run` on it
/// reproduces the results.
pub fn write_scenario(out: &Path, scenario: &Scenario) -> Result<()> {
    let effective = tender_engine::format::to_ron(scenario)?;
    output::write_atomic(&out.join("scenario.ron"), |w| w.write_all(effective.as_bytes()))?;
    Ok(())
}

/// Print to stdout; a reader that went away (a closed pipe) is not an error.
pub fn emit(text: &str) -> Result<()> {
    let mut stdout = std::io::stdout().lock();
    match writeln!(stdout, "{text}").and_then(|()| stdout.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e.into()),
        _ => Ok(()),
    }
}
