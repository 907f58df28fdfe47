//! `tender sweep` and `tender merge`.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use tender_analysis::store::{Manifest, Row, Shard, SweepStore, merge as merge_shards};
use tender_analysis::{row_metric_names, row_metrics};
use tender_engine::sweep::{Draws, SweepSpec, prepare, run_units};

use crate::backends::load;
use crate::cli::SweepArgs;
use crate::io::{check_memory, emit, progress_bar, rayon_threads};

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
    let replications = spec.replications.unwrap_or(scenario.episodes);
    if replications == 0 {
        bail!("`replications` = 0 is invalid: must be at least 1");
    }
    if scenario.agents.iter().any(|a| !a.backend.is_synthetic()) {
        bail!(
            "{}: sweeps run pools of synthetic stand-ins; for live or recorded agents, `tender run` each setting (the response cache makes reruns free)",
            args.file.display()
        );
    }
    // Reads the workload's task file, if it has one.
    let scenario =
        crate::backends::prepare(scenario, &args.file, &crate::backends::LiveOptions::default())?.prepared.scenario;
    scenario.check_sweep(&spec)?;
    let points = spec.points(scenario.seed)?;
    // A unit's records are held until it is written: one unit per worker.
    let workers = args.threads.jobs.unwrap_or_else(rayon_threads);
    let mechanisms: Vec<String> = scenario.resolve_mechanisms().into_iter().map(|r| r.name).collect();
    let records = workers as f64 * mechanisms.len() as f64 * scenario.workload.task_count() as f64;
    check_memory(&scenario, records, args.threads.jobs)?;
    let prepared = prepare(&scenario, &points, scenario.seed, spec.draws)?;
    // OUTPUT/sweep, unless the scenario's output folder is a sweep's already.
    let out = args.out.clone().unwrap_or_else(|| {
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
        metrics: row_metric_names(scenario.arrivals.timed()),
        points,
    };
    // One writer at a time, into a folder that is new, empty or this sweep's.
    let _lock = crate::results::FolderLock::take(&out, "sweep")?;
    crate::results::check_own_folder(&out, true)?;
    let (store, done) = SweepStore::open(&out, &manifest)?;
    let Shard { k, n } = args.shard.unwrap_or(Shard { k: 1, n: 1 });
    if n > 1 {
        Shard { k, n }.write(&out)?;
    }
    let mine = |p: usize| p % n == k - 1;
    let all: Vec<(usize, u32)> =
        (0..manifest.points.len()).filter(|&p| mine(p)).flat_map(|p| (0..replications).map(move |r| (p, r))).collect();
    let todo: Vec<(usize, u32)> = all.iter().copied().filter(|u| !done.contains(u)).collect();

    let bar = progress_bar(all.len() as u64, "units (point × replication)");
    bar.set_position((all.len() - todo.len()) as u64);
    let started = std::time::Instant::now();
    let tender_agents::References { largest, smallest, .. } =
        tender_agents::References::of(prepared[0].prepared.source.agents());
    let agents = prepared[0].prepared.source.agents().len();
    let timed = scenario.arrivals.timed();
    let outcome = run_units(&prepared, &todo, args.threads.jobs, &|unit| {
        let rows = unit
            .runs
            .iter()
            .zip(&manifest.mechanisms)
            .map(|(records, mechanism)| Row {
                point: unit.point,
                replication: unit.replication,
                seed: unit.episode_seed,
                mechanism: mechanism.clone(),
                metrics: row_metrics(records, agents, largest, smallest, timed)
                    .into_iter()
                    .map(|x| x.is_finite().then_some(x))
                    .collect(),
            })
            .collect();
        store.record(rows)?;
        bar.inc(1);
        Ok::<(), tender_analysis::store::StoreError>(())
    })?;
    outcome?;
    bar.finish_and_clear();
    let summaries = store.finalize()?;
    let secs = started.elapsed().as_secs_f64();
    let episodes = todo.len() * manifest.mechanisms.len();
    emit(&format!(
        "{}: {} points x {} replications x {} mechanisms{}; computed {} of {} units now ({} were done) in {:.1} s ({:.0} episodes/s).\n\
         Results in {}/: rows.csv (one row per point x replication x mechanism), points.csv (means with 95% CIs){}.",
        manifest.scenario,
        manifest.points.len(),
        replications,
        manifest.mechanisms.len(),
        if n > 1 { format!(", shard {k}/{n}") } else { String::new() },
        todo.len(),
        all.len(),
        all.len() - todo.len(),
        secs,
        episodes as f64 / secs.max(1e-9),
        out.display(),
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
    // A shard holds a slice of the points: plot after merging.
    if !args.no_plots && n == 1 {
        tender_analysis::plot::plot_dir(&out, &out)?;
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
