//! `tender sweep` and `tender merge`.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::{Context, Result, bail};
use tender_analysis::store::{Manifest, PointSummary, Row, Shard, SweepStore, merge as merge_shards};
use tender_analysis::{row_flags, row_metric_names, row_metrics, row_quantities};
use tender_engine::Scenario;
use tender_engine::sweep::{Draws, SweepSpec, prepare, run_units};

use crate::backends::load;
use crate::cli::SweepArgs;
use crate::io::{check_memory, emit, progress_bar, rayon_threads};

/// A sweep to run: everything `tender sweep` takes, once its flags are read.
pub struct SweepRequest {
    /// The scenario, loaded; `file` is where its relative paths start.
    pub scenario: Scenario,
    pub file: PathBuf,
    pub spec: SweepSpec,
    /// The results folder [default: OUTPUT/sweep].
    pub out: Option<PathBuf>,
    pub jobs: Option<usize>,
    pub shard: Option<Shard>,
    pub plots: bool,
    /// Also write rows.parquet and points.parquet (typed, zstd).
    pub parquet: bool,
    /// Set from another thread to stop after the units in flight (what is done stays done).
    pub cancel: Option<Arc<AtomicBool>>,
}

/// A finished sweep: where its results are and what was computed now.
pub struct SweepDone {
    pub out: PathBuf,
    pub manifest: Manifest,
    pub summaries: Vec<PointSummary>,
    /// Units (point × replication) of this shard, and how many were computed now.
    pub total: usize,
    pub computed: usize,
    pub seconds: f64,
    pub shard: Shard,
}

/// Why a unit's rows did not reach the store.
#[derive(Debug, thiserror::Error)]
enum Stop {
    #[error(transparent)]
    Store(#[from] tender_analysis::store::StoreError),
    #[error("the sweep was cancelled; the units done are kept, and the same sweep resumes from them")]
    Cancelled,
}

/// How many units (point × replication) a sweep of `spec` on `scenario` has: the progress total.
pub fn units_of(scenario: &Scenario, spec: &SweepSpec) -> Result<u64> {
    let points = spec.points(scenario.seed)?;
    Ok(points.len() as u64 * u64::from(spec.replications.unwrap_or(scenario.episodes)))
}

/// Run a sweep into its folder, resuming what an earlier run of the same sweep left; `progress`
/// is told each unit done (and first how many were done already).
pub fn run_sweep(request: SweepRequest, progress: &(dyn Fn(u64) + Sync)) -> Result<SweepDone> {
    let SweepRequest { scenario, file, spec, out, jobs, shard, plots, parquet, cancel } = request;
    let replications = spec.replications.unwrap_or(scenario.episodes);
    if replications == 0 {
        bail!("`replications` = 0 is invalid: must be at least 1");
    }
    if scenario.agents.iter().any(|a| !a.backend.is_synthetic()) {
        bail!(
            "{}: sweeps run pools of synthetic stand-ins; for live or recorded agents, `tender run` each setting (the response cache makes reruns free)",
            file.display()
        );
    }
    // Reads the workload's task file, if it has one.
    let scenario =
        crate::backends::prepare(scenario, &file, &crate::backends::LiveOptions::default())?.prepared.scenario;
    scenario.check_sweep(&spec)?;
    let points = spec.points(scenario.seed)?;
    // A unit's records are held until it is written: one unit per worker.
    let workers = jobs.unwrap_or_else(rayon_threads);
    let resolved = scenario.resolve_mechanisms();
    // What the mechanisms report travels in every row: laid out from their declarations.
    let quantities = row_quantities(&resolved);
    let mechanisms: Vec<String> = resolved.into_iter().map(|r| r.name).collect();
    let records = workers as f64 * mechanisms.len() as f64 * scenario.workload.task_count() as f64;
    check_memory(&scenario, records, jobs)?;
    let prepared = prepare(&scenario, &points, scenario.seed, spec.draws)?;
    // OUTPUT/sweep, unless the scenario's output folder is a sweep's already.
    let out = out.unwrap_or_else(|| {
        if scenario.output.file_name().is_some_and(|n| n == "sweep") {
            scenario.output.clone()
        } else {
            scenario.output.join("sweep")
        }
    });
    let manifest = Manifest {
        scenario: scenario.name.clone(),
        seed: scenario.seed,
        draws: format!("{:?}", spec.draws),
        replications,
        mechanisms,
        metrics: row_metric_names(scenario.arrivals.timed(), &quantities),
        flags: row_flags(&quantities),
        points,
    };
    // One writer at a time, into a folder that is new, empty or this sweep's.
    let _lock = crate::results::FolderLock::take(&out, "sweep")?;
    crate::results::check_own_folder(&out, true)?;
    let (store, done) = SweepStore::open(&out, &manifest)?;
    let shard = shard.unwrap_or(Shard { k: 1, n: 1 });
    let Shard { k, n } = shard;
    if n > 1 {
        shard.write(&out)?;
    }
    let mine = |p: usize| p % n == k - 1;
    let all: Vec<(usize, u32)> =
        (0..manifest.points.len()).filter(|&p| mine(p)).flat_map(|p| (0..replications).map(move |r| (p, r))).collect();
    let todo: Vec<(usize, u32)> = all.iter().copied().filter(|u| !done.contains(u)).collect();
    progress((all.len() - todo.len()) as u64);
    let started = std::time::Instant::now();
    let tender_agents::References { largest, smallest, .. } =
        tender_agents::References::of(prepared[0].prepared.source.agents());
    let agents = prepared[0].prepared.source.agents().len();
    let timed = scenario.arrivals.timed();
    let outcome = run_units(&prepared, &todo, jobs, &|unit| {
        if cancel.as_ref().is_some_and(|c| c.load(Ordering::Relaxed)) {
            return Err(Stop::Cancelled);
        }
        let rows = unit
            .runs
            .iter()
            .zip(&manifest.mechanisms)
            .map(|(records, mechanism)| Row {
                point: unit.point,
                replication: unit.replication,
                seed: unit.episode_seed,
                mechanism: mechanism.clone(),
                metrics: row_metrics(records, agents, (largest, smallest), timed, &quantities)
                    .into_iter()
                    .map(|x| x.is_finite().then_some(x))
                    .collect(),
            })
            .collect();
        store.record(rows)?;
        progress(1);
        Ok(())
    })?;
    outcome?;
    let summaries = store.finalize()?;
    if parquet {
        tender_analysis::output::write_parquet(&out.join("rows.parquet"), &store.rows_table()?)?;
        tender_analysis::output::write_parquet(&out.join("points.parquet"), &store.points_table(&summaries))?;
    }
    let seconds = started.elapsed().as_secs_f64();
    // A shard holds a slice of the points: plot after merging.
    if plots && n == 1 {
        tender_analysis::plot::plot_dir(&out, &out)?;
    }
    Ok(SweepDone { out, manifest, summaries, total: all.len(), computed: todo.len(), seconds, shard })
}

pub fn sweep(args: &SweepArgs) -> Result<()> {
    let mut scenario = load(&args.file)?;
    if let Some(seed) = args.seed {
        scenario.seed = seed;
    }
    let mut spec = if args.set.is_empty() {
        scenario.sweep.clone().context("no sweep: give `--set PATH=VALUES` or a `sweep` in the scenario")?
    } else {
        SweepSpec { params: args.set.clone(), design: args.design, replications: None, draws: Draws::Common }
    };
    if args.independent_draws {
        spec.draws = Draws::Independent;
    }
    if let Some(r) = args.replications {
        spec.replications = Some(r);
    }
    let bar = progress_bar(units_of(&scenario, &spec)?, "units (point × replication)");
    let request = SweepRequest {
        scenario,
        file: args.file.clone(),
        spec,
        out: args.out.clone(),
        jobs: args.threads.jobs,
        shard: args.shard,
        plots: !args.no_plots,
        parquet: args.format == crate::cli::Format::Parquet,
        cancel: None,
    };
    let done = run_sweep(request, &|n| bar.inc(n))?;
    bar.finish_and_clear();
    let SweepDone { out, manifest, summaries, total, computed, seconds, shard: Shard { k, n } } = done;
    let episodes = computed * manifest.mechanisms.len();
    emit(&format!(
        "{}: {} points x {} replications x {} mechanisms{}; computed {} of {} units now ({} were done) in {:.1} s ({:.0} episodes/s).\n\
         Results in {}/: rows.csv (one row per point x replication x mechanism), points.csv (means with 95% CIs){}{}.",
        manifest.scenario,
        manifest.points.len(),
        manifest.replications,
        manifest.mechanisms.len(),
        if n > 1 { format!(", shard {k}/{n}") } else { String::new() },
        computed,
        total,
        total - computed,
        seconds,
        episodes as f64 / seconds.max(1e-9),
        out.display(),
        if args.format == crate::cli::Format::Parquet { ", rows.parquet and points.parquet (typed)" } else { "" },
        if args.no_plots || n > 1 { "" } else { ", plots, report.html" }
    ))?;
    // A timed sweep over one parameter: what load does to latency, the auction and quality.
    use tender_analysis::Metric;
    for metric in [Metric::Latency(95), Metric::AuctionTime, Metric::AuctionShare, Metric::PassAt1] {
        if let Some(t) = tender_analysis::table::sweep_series(&manifest, &summaries, &metric)
            && manifest.metrics.iter().any(|m| *m == Metric::Latency(95).id(&[]))
        {
            let swept: Vec<&str> = manifest.points[0].assignments.iter().map(|(p, _)| p.as_str()).collect();
            emit(&format!(
                "\n{} (simulated time) per {}, mean over replications\n{t}",
                metric.shown().label,
                swept.join(" / ")
            ))?;
        }
    }
    Ok(())
}

pub fn merge(out: &Path, shards: &[PathBuf], partial: bool) -> Result<()> {
    let _lock = crate::results::FolderLock::take(out, "merge")?;
    crate::results::check_own_folder(out, true)?;
    let (added, missing) = merge_shards(out, shards, partial)?;
    if let Some(missing) = missing {
        eprintln!("warning: a partial merge: {missing}");
    }
    emit(&format!("merged {} shard(s) into {}: {added} units added", shards.len(), out.display()))
}
