//! What a host program embeds (the Python binding): the same parse → prepare → run path as
//! `tender run`, returning the records and their summary instead of writing a folder.
//!
//! Nothing here writes a results folder: a live run's trace is not kept, and its response cache
//! is used only where the caller names one.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use anyhow::{Context, Result, bail};
use tender_analysis::columns::{self, Table, TaskNames};
use tender_analysis::metrics::Summary;
use tender_analysis::routing::RoutingReport;
use tender_analysis::summarise;
use tender_engine::{BatchResult, Scenario};

use crate::backends::{Backends, LiveOptions};

pub use crate::backends::{load as load_file, parse as parse_file};
pub use crate::fields::{Fields, generated as generated_section, tables as field_tables};
pub use crate::sweep::{SweepDone, SweepRequest, merge, run_sweep, units_of};
pub use tender_analysis::store::Shard;
pub use tender_engine::sweep_spec::{Design, Draws, ParamSpec, SweepSpec, Values, parse_set};

/// A sweep design as `tender sweep --design` writes it: `grid`, `zip`, `random:N` or `lhs:N`.
pub fn parse_design(text: &str) -> Result<Design> {
    crate::cli::design(text).map_err(|e| anyhow::anyhow!("design {text:?}: {e}"))
}

/// Parse and validate scenario text, reading the files its mechanisms name relative to `base`;
/// `name` names the text in errors.
pub fn load_text(text: &str, name: &str, base: &Path) -> Result<Scenario> {
    let mut scenario = Scenario::parse(text, name)?;
    crate::backends::attach_files(&mut scenario, base, name)?;
    Ok(scenario)
}

/// How a run is asked for, beside its scenario.
#[derive(Clone, Debug, Default)]
pub struct RunRequest {
    /// Answer live agents from this recorded trace, calling nothing.
    pub replay: Option<PathBuf>,
    /// Live agents' response cache; `None` keeps none.
    pub cache: Option<PathBuf>,
    /// Worker threads; `None`: one per core.
    pub jobs: Option<usize>,
    /// Set from another thread to stop the run.
    pub cancel: Option<Arc<AtomicBool>>,
}

/// A finished run: its records, summary and routing report, and how its tasks are named.
pub struct Finished {
    pub scenario: Scenario,
    pub batch: BatchResult,
    pub summary: Summary,
    pub routing: Option<RoutingReport>,
    domains: Vec<String>,
    ids: Vec<String>,
}

impl Finished {
    /// The tasks table (`tasks.csv`).
    #[must_use]
    pub fn tasks(&self) -> Table {
        columns::tasks(&self.batch, TaskNames { domains: &self.domains, ids: &self.ids })
    }
}

/// Prepare and run `scenario` (`file` is where relative paths start, the scenario file or a
/// folder's `.`), calling `progress` after each (episode, mechanism) run. The total is
/// [`runs_of`].
pub fn run(scenario: Scenario, file: &Path, request: &RunRequest, progress: &(dyn Fn() + Sync)) -> Result<Finished> {
    if let Err(errors) = scenario.validate_run() {
        bail!("invalid options:\n{errors}");
    }
    let live = LiveOptions {
        replay: request.replay.clone(),
        cache: request.cache.clone(),
        no_cache: request.cache.is_none(),
        trace_dir: None,
        no_trace: true,
    };
    let Backends { prepared, live } = crate::backends::prepare(scenario, file, &live)?;
    let mut options = prepared.options(request.jobs);
    options.cancel.clone_from(&request.cancel);
    let batch = prepared.run(&options, progress);
    if let Some(live) = live.as_deref() {
        // A replay that missed cells outranks the records.
        live.finish()?;
        let open = live.open_circuits();
        if !open.is_empty() {
            let which: Vec<String> =
                open.iter().map(|o| format!("agent {:?} at {} (last: {})", o.agent, o.url, o.last_error)).collect();
            bail!("the run was stopped: the circuit breaker opened for {}", which.join("; "));
        }
    }
    let batch = batch.context("the run failed")?;
    let scenario = prepared.scenario;
    let summary = summarise(&batch, &scenario.workload);
    let routing = tender_analysis::routing::routing(&batch);
    let domains = scenario.workload.domains.iter().map(|d| d.name.clone()).collect();
    let ids = crate::results::task_ids(&scenario);
    Ok(Finished { scenario, batch, summary, routing, domains, ids })
}

/// How many (episode, mechanism) runs `scenario` makes: the progress total.
#[must_use]
pub fn runs_of(scenario: &Scenario) -> u64 {
    u64::from(scenario.episodes) * scenario.resolve_mechanisms().len() as u64
}

pub use crate::io::Progress;

/// A command that runs a scenario's market many times (a game's profiles, Shapley's
/// coalitions), as the command line's `ManyRuns` flags give it.
pub struct ManyRequest {
    pub scenario: Scenario,
    /// The scenario's file, which locates the files it names.
    pub file: PathBuf,
    /// Episodes per run (at least 2) and base seed, replacing the scenario's.
    pub episodes: Option<u32>,
    pub seed: Option<u64>,
    pub jobs: Option<usize>,
    /// The folder written; by default the scenario's `output`/COMMAND.
    pub out: Option<PathBuf>,
}

/// Play the scenario's `game:` block as `tender game` does: the folder written (payoffs.csv,
/// profiles.csv, the regret plot) and the report the command prints.
pub fn game(request: ManyRequest, progress: &dyn Progress) -> Result<(PathBuf, String)> {
    let ManyRequest { scenario, file, episodes, seed, jobs, out } = request;
    let (scenario, out) =
        crate::backends::for_many_runs(scenario, &file, (episodes, seed), out, "game", crate::game::DOING)?;
    let text = crate::game::play(scenario, &file, jobs, &out, progress)?;
    Ok((out, text))
}

/// Each agent's Shapley value as `tender shapley` does, for `metric` (`welfare`, `pass_at_1` or
/// `cost`; shapley.csv holds all three) in `markets` (none: every market), over every coalition
/// or `permutations` sampled join orders: the folder written and the table the command prints.
pub fn shapley(
    request: ManyRequest,
    metric: &str,
    markets: &[String],
    permutations: Option<u32>,
    progress: &dyn Progress,
) -> Result<(PathBuf, String)> {
    use clap::ValueEnum;
    let metric = crate::cli::ShapleyMetric::from_str(metric, false)
        .map_err(|_| anyhow::anyhow!("metric {metric:?}: expected welfare, pass_at_1 or cost"))?;
    if let Some(k) = permutations
        && !(2..=100_000).contains(&k)
    {
        bail!("permutations {k}: expected 2 to 100,000");
    }
    let ManyRequest { scenario, file, episodes, seed, jobs, out } = request;
    let (scenario, out) =
        crate::backends::for_many_runs(scenario, &file, (episodes, seed), out, "shapley", crate::shapley::DOING)?;
    let ask = crate::shapley::Ask { metric, markets, permutations };
    let text = crate::shapley::values(scenario, &file, &ask, jobs, &out, progress)?;
    Ok((out, text))
}
