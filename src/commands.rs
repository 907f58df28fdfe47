//! What each subcommand does. Only this crate prints or exits.

use std::path::Path;
use std::process::ExitCode;

use std::time::Instant;

use anyhow::{Context, Result, bail};
use indicatif::ProgressBar;
use tender_analysis::{output, summarise, table};
use tender_engine::{RunOptions, fit, training_bids};

use tender_agents::live::{CallStats, LiveSource, ReplyStats};

use crate::backends::{LiveOptions, PREFLIGHT_TIMEOUT, load, parse};
use crate::cli::{BenchArgs, FitArgs, RunArgs};
use crate::io::{RUNS, check_memory, count, emit, progress_bar, rayon_threads};
use crate::results::{RunFiles, write_run};

/// Exit code of a run that completed and wrote its results, but in which some live calls failed
/// (their cells are recorded as failures). 1 is an error that stopped the command, 2 a usage
/// error.
pub const EXIT_FAILED_CELLS: u8 = 3;

pub fn validate(file: &Path) -> Result<()> {
    let mut s = load(file)?;
    crate::backends::check_tasks(&mut s, file)?;
    let mechanisms = s.resolve_mechanisms();
    for w in s.warnings() {
        eprintln!("warning: {w}");
    }
    emit(&format!(
        "{}: ok — {}, {} per episode, {}, {}",
        file.display(),
        count(s.agents.len() as u64, "agent", "agents"),
        count(s.workload.task_count() as u64, "task", "tasks"),
        count(mechanisms.len() as u64, "mechanism", "mechanisms"),
        count(s.episodes, "episode", "episodes")
    ))
}

/// After how long without a reply a server's silence is announced on stderr.
const STALL_WARNING: std::time::Duration = std::time::Duration::from_secs(10);

/// Live status on the progress bar while a run waits on the network; a server that has not
/// replied for [`STALL_WARNING`] while requests wait, and an open circuit breaker, announced on
/// stderr at once. Without a terminal the bar is hidden and its status goes to stderr as a line
/// every 10 s, with the runs done and the ETA.
fn watch_live(live: &LiveSource, bar: &ProgressBar, done: &std::sync::atomic::AtomicBool) {
    let mut announced = 0;
    let mut warned: std::collections::BTreeSet<String> = std::collections::BTreeSet::new();
    let mut last_line = std::time::Instant::now();
    loop {
        // One last pass after the batch ends, so no open circuit goes unannounced.
        let finished = done.load(std::sync::atomic::Ordering::Relaxed);
        let c = live.stats();
        let failures: Vec<String> =
            live.failures_by_cause().iter().map(|(agent, cause, n)| format!("{agent}: {cause} ×{n}")).collect();
        let stalls = live.stalls(std::time::Duration::ZERO);
        let waiting: u32 = stalls.iter().map(|s| s.waiting).sum();
        let quiet = stalls.iter().map(|s| s.quiet).max().unwrap_or_default();
        let status = format!(
            "live: {} calls, {} failed{}, {} retries, {} in flight{}",
            c.calls,
            c.failures,
            if failures.is_empty() { String::new() } else { format!(" ({})", failures.join(", ")) },
            c.retries(),
            waiting,
            if quiet.as_secs() >= 1 { format!(", no reply for {:.0} s", quiet.as_secs_f64()) } else { String::new() },
        );
        if bar.is_hidden() {
            if last_line.elapsed() >= std::time::Duration::from_secs(10) && !finished {
                eprintln!("{}", progress_line(bar, &status));
                last_line = std::time::Instant::now();
            }
        } else {
            bar.set_message(status);
        }
        for s in stalls.iter().filter(|s| s.quiet >= STALL_WARNING.min(s.limit / 2)) {
            if warned.insert(s.agent.clone()) {
                bar.suspend(|| {
                    eprintln!(
                        "warning: agent {:?} at {}: no reply for {:.0} s ({} request(s) waiting); the run stops if none \
                         comes within {:.0} s (`stall_timeout_secs`)",
                        s.agent,
                        s.url,
                        s.quiet.as_secs_f64(),
                        s.waiting,
                        s.limit.as_secs_f64()
                    );
                });
            }
        }
        // A server that replied again may be warned about again later.
        warned.retain(|a| stalls.iter().any(|s| &s.agent == a));
        let open = live.open_circuits();
        for o in open.iter().skip(announced) {
            // `suspend` prints whether or not the bar is shown.
            bar.suspend(|| {
                eprintln!(
                    "error: agent {:?} at {}: circuit breaker open (last: {}); not calling it again",
                    o.agent, o.url, o.last_error
                );
            });
        }
        announced = announced.max(open.len());
        if finished {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(250));
    }
}

/// A progress bar's state as one line, for stderr without a terminal.
fn progress_line(bar: &ProgressBar, status: &str) -> String {
    let (pos, len) = (bar.position(), bar.length().unwrap_or(0));
    format!(
        "[{:.0} s] {pos}/{len} {RUNS}, ETA {}; {status}",
        bar.elapsed().as_secs_f64(),
        crate::io::eta(pos, len, bar.elapsed())
    )
}

/// Failed live calls by agent and cause, one line each.
fn failure_summary(live: &LiveSource) -> String {
    live.failures_by_cause()
        .iter()
        .map(|(agent, cause, n)| format!("  {agent}: {n} × {cause}"))
        .collect::<Vec<_>>()
        .join("\n")
}

pub fn run(args: &RunArgs) -> Result<ExitCode> {
    let mut scenario = load(&args.file)?;
    if let Some(seed) = args.seed {
        scenario.seed = seed;
    }
    if let Some(episodes) = args.episodes {
        scenario.episodes = episodes;
    }
    if let Some(out) = &args.out {
        scenario.output.clone_from(out);
    }
    if let Some(split) = &args.split {
        let tasks = scenario.workload.tasks.as_mut().context("`--split` divides a task file; the scenario has none")?;
        tasks.split = Some(split.clone());
    }
    if let Err(errors) = scenario.validate_run() {
        bail!("invalid options:\n{errors}");
    }
    if args.format == crate::cli::Format::Parquet && args.tasks == crate::cli::TaskRows::Gzip {
        bail!(
            "`--tasks gzip` is a CSV form; with `--format parquet` the per-task rows are a compressed Parquet file already"
        );
    }
    for w in scenario.warnings() {
        eprintln!("warning: {w}");
    }
    // Everything goes to a staging folder that replaces the results folder only when complete.
    let staged = crate::results::Staged::new(&scenario.output, "run", crate::results::CARRIED)?;
    let live_options = LiveOptions {
        replay: args.replay.clone(),
        cache: args.cache.clone(),
        no_cache: args.no_cache,
        trace_dir: Some(staged.path().to_path_buf()),
        no_trace: false,
    };
    let backends = crate::backends::prepare(scenario, &args.file, &live_options)?;
    let (scenario, mechanisms) = (&backends.prepared.scenario, &backends.prepared.mechanisms);
    if backends.live.is_some() && args.replay.is_none() {
        // Where to follow the calls while the run lasts (`tail -f`).
        eprintln!(
            "live calls are traced to {} while the run lasts, and to {} once it is done",
            staged.path().join("trace.jsonl").display(),
            scenario.output.join("trace.jsonl").display()
        );
    }
    if let Some(live) = backends.live.as_deref()
        && args.replay.is_none()
        && !args.no_preflight
    {
        let from_server = live.preflight(PREFLIGHT_TIMEOUT).context(
            "the preflight check of the live agents failed, so no episode ran \
             (`tender doctor` diagnoses it; `--no-preflight` skips it, for a rerun answered from the cache)",
        )?;
        for (agent, slots) in from_server {
            eprintln!("{agent}: {slots} request(s) at once, as its server reports");
        }
    }
    let options = backends.prepared.options(args.threads.jobs);
    let records = f64::from(scenario.episodes) * mechanisms.len() as f64 * scenario.workload.task_count() as f64;
    check_memory(scenario, records, args.threads.jobs)?;

    let bar = progress_bar(u64::from(scenario.episodes) * mechanisms.len() as u64, RUNS);
    let started = Instant::now();
    let finished = std::sync::atomic::AtomicBool::new(false);
    let batch = std::thread::scope(|scope| {
        if let Some(live) = backends.live.as_deref().filter(|_| args.replay.is_none()) {
            scope.spawn(|| watch_live(live, &bar, &finished));
        }
        let batch = backends.prepared.run(&options, &|| bar.inc(1));
        finished.store(true, std::sync::atomic::Ordering::Relaxed);
        batch
    });
    bar.finish_and_clear();
    // A replay that missed cells, or a journal that could not be written, outranks the records.
    let calls = backends.live.as_deref().map(LiveSource::finish).transpose()?;
    if let Some(live) = backends.live.as_deref() {
        let open = live.open_circuits();
        if !open.is_empty() && !args.keep_going {
            let which: Vec<String> =
                open.iter().map(|o| format!("agent {:?} at {} (last: {})", o.agent, o.url, o.last_error)).collect();
            bail!(
                "the run was stopped: the circuit breaker opened for {}.\nFailed calls:\n{}\nNothing was written; answers \
                 that succeeded are in the cache, so a rerun does not repeat them (`--keep-going` records the \
                 remaining cells as failed instead)",
                which.join("; "),
                failure_summary(live)
            );
        }
    }
    let batch = batch?;
    let elapsed = started.elapsed();

    let summary = summarise(&batch, &scenario.workload);
    let routing = tender_analysis::routing::routing(&batch);

    // Files first: a closed terminal or pipe must not lose the results.
    let out = staged.path();
    let files = RunFiles {
        scenario,
        batch: &batch,
        summary: &summary,
        routing: routing.as_ref(),
        tasks: args.tasks,
        format: args.format,
        plots: false,
    };
    // The per-task file is the bulk of a folder: its size is said, with the smaller forms.
    let tasks_file = write_run(out, &scenario.output, &files)?.map_or_else(String::new, |name| {
        let bytes = std::fs::metadata(out.join(name)).map_or(0, |m| m.len());
        let hint =
            if name == "tasks.csv" { "; `--tasks gzip` writes a quarter of it, `--tasks none` none" } else { "" };
        format!(", {name} ({:.1} MB{hint})", bytes as f64 / 1e6)
    });
    let typed = if args.format == crate::cli::Format::Parquet { ", summary.parquet, episodes.parquet" } else { "" };
    let routing_text = match &routing {
        Some(r) => {
            format!(
                "Routing: calls to the strong agent ({}) against accuracy; weak agent {}\n{}\n\n",
                r.strong,
                r.weak,
                table::routing(r)
            )
        }
        None => String::new(),
    };
    let calls_line = match (calls, backends.live.as_deref()) {
        (Some(c), Some(live)) => {
            let replies = live.reply_stats();
            output::write_atomic(&out.join("calls.json"), |w| w.write_all(calls_json(&c, &replies).as_bytes()))?;
            let tables = table::cells(&summary).map_or_else(String::new, |t| {
                format!("Cells per episode: failed calls (failures), unparsed replies, abstentions\n{t}\n\n")
            });
            format!(
                "{tables}Live agents: {} calls ({} attempts), {} from the cache, {} replayed, {} failed\n{}\n\n",
                c.calls,
                c.attempts,
                c.cached,
                c.replayed,
                c.failures,
                replies.iter().map(reply_line).collect::<Vec<_>>().join("\n")
            )
        }
        _ => String::new(),
    };

    // Plots last: they draw from every file above, calls.json included.
    if !args.no_plots {
        tender_analysis::plot::plot_dir(out, &scenario.output)?;
    }
    staged.commit()?;
    // Success is printed only once the results are in place.
    emit(&format!(
        "{} — {} episodes × {} tasks × {} mechanisms, seed {} ({:.1} s)\n\n\
         Quality and cost (mean ± 95% CI across episodes)\n{}\n\n\
         Who executes (share of tasks)\n{}\n\n\
         pass@1 % per domain and complexity bin (τ = human solving time, minutes)\n{}\n\n\
         {}{}{}{}{}{}{}Results written to {}/ (summary.csv{typed}, agents.csv{tasks_file}, scenario.ron{}{}{})",
        scenario.name,
        scenario.episodes,
        scenario.workload.task_count(),
        mechanisms.len(),
        scenario.seed,
        elapsed.as_secs_f64(),
        table::overview(&summary),
        table::allocation(&summary),
        table::per_bin(&summary),
        table::payments(&summary)
            .map_or_else(String::new, |t| format!("Payments (mechanisms that pay their winners)\n{t}\n\n")),
        table::money(&summary).map_or_else(String::new, |t| {
            format!("Money (per episode: what the buyer pays, and what the agents make over their costs; docs/games.md)\n{t}\n\n")
        }),
        table::latency(&summary).map_or_else(String::new, |t| {
            format!("Latency in simulated time (mean ± 95% CI across episodes of each episode's figure)\n{t}\n\n")
        }),
        table::utilisation(&summary).map_or_else(String::new, |t| {
            format!(
                "Agents as servers (docs/time.md)\n{}\n\nUtilisation: each agent's busy slot-seconds over its slot-seconds\n{t}\n\n",
                table::servers(&scenario.agents)
            )
        }),
        table::reported(&summary).map_or_else(String::new, |t| {
            format!("Reported by the mechanisms (per episode: sums, or means over tasks)\n{t}\n\n")
        }),
        routing_text,
        calls_line,
        scenario.output.display(),
        if routing.is_some() { ", routing.csv" } else { "" },
        if calls.is_some() && args.replay.is_none() {
            ", trace.jsonl, calls.json"
        } else if calls.is_some() {
            ", calls.json"
        } else {
            ""
        },
        if args.no_plots { "" } else { ", plots, report.html" },
    ))?;
    if let (Some(c), Some(live)) = (calls, backends.live.as_deref())
        && c.failures > 0
    {
        eprintln!(
            "warning: {} live call(s) failed; their cells are recorded as failures (exit code {EXIT_FAILED_CELLS}):\n{}",
            c.failures,
            failure_summary(live)
        );
        return Ok(ExitCode::from(EXIT_FAILED_CELLS));
    }
    Ok(ExitCode::SUCCESS)
}

/// The share `n / d` as a percentage, for a line.
fn percent(n: u64, d: u64) -> String {
    if d == 0 { "—".into() } else { format!("{:.0}%", 100.0 * n as f64 / d as f64) }
}

/// Median and 95th percentile of `values` (milliseconds), by the one percentile of the analysis.
fn quantiles(values: &[u64]) -> (u64, u64) {
    let v: Vec<f64> = values.iter().map(|&x| x as f64).collect();
    let at = |q: f64| tender_analysis::stats::percentile(&v, q).map_or(0, |x| x as u64);
    (at(50.0), at(95.0))
}

/// What a kind of reply's format is, for its line.
fn format_name(kind: &str) -> &'static str {
    match kind {
        "plan" | "refine" => "with log-probabilities",
        "judge" => "as \"Score: N\"",
        _ => "in the asked format",
    }
}

/// One kind of reply: how many, how many parsed and formatted, latency.
fn reply_line(r: &ReplyStats) -> String {
    let (p50, p95) = quantiles(&r.latencies_ms);
    format!(
        "  {:<8} {:>5} replies, {} parsed, {} {}, {} cut at the token limit; latency p50 {:.2} s, p95 {:.2} s",
        r.kind,
        r.replies,
        percent(r.parsed, r.replies),
        percent(r.formatted, r.replies),
        format_name(&r.kind),
        percent(r.truncated, r.replies),
        p50 as f64 / 1000.0,
        p95 as f64 / 1000.0
    )
}

/// The live side's counts as JSON.
fn calls_json(c: &CallStats, replies: &[ReplyStats]) -> String {
    let kinds: serde_json::Map<String, serde_json::Value> = replies
        .iter()
        .map(|r| {
            let (p50, p95) = quantiles(&r.latencies_ms);
            let mean = r.latencies_ms.iter().sum::<u64>() as f64 / r.latencies_ms.len().max(1) as f64;
            (
                r.kind.clone(),
                serde_json::json!({
                    "replies": r.replies, "parsed": r.parsed, "formatted": r.formatted, "truncated": r.truncated,
                    "latency_ms": {"mean": mean, "p50": p50, "p95": p95,
                                   "max": r.latencies_ms.iter().max().copied().unwrap_or(0)},
                }),
            )
        })
        .collect();
    let v = serde_json::json!({
        "calls": c.calls, "attempts": c.attempts, "cached": c.cached, "replayed": c.replayed,
        "failures": c.failures, "misses": c.misses, "replies": kinds,
    });
    format!("{v:#}\n")
}

pub fn bench(args: &BenchArgs) -> Result<()> {
    let mut prepared = crate::backends::prepare(load(&args.file)?, &args.file, &LiveOptions::default())?.prepared;
    let original = prepared.scenario.workload.clone();
    let workload = |tasks: Option<u64>| match tasks {
        None => Ok(original.clone()),
        Some(n) => original.scaled_to(n as usize).with_context(|| {
            format!("--tasks scales synthetic task streams; {} reads its tasks from a file", args.file.display())
        }),
    };
    if args.recall {
        let workloads = if args.tasks.is_empty() {
            vec![workload(None)?]
        } else {
            args.tasks.iter().map(|&n| workload(Some(n))).collect::<Result<_>>()?
        };
        return recall(&prepared.scenario, &workloads, args.k as usize);
    }
    let mechanisms = &prepared.mechanisms;
    let chosen = match &args.mechanism {
        None => mechanisms.iter().take(1).cloned().collect::<Vec<_>>(),
        Some(name) => {
            let found: Vec<_> = mechanisms.iter().filter(|m| &m.name == name).cloned().collect();
            if found.is_empty() {
                bail!(
                    "no mechanism named {name:?}; the scenario has: {}",
                    mechanisms.iter().map(|m| format!("{:?}", m.name)).collect::<Vec<_>>().join(", ")
                );
            }
            found
        }
    };
    let sizes: Vec<Option<u64>> =
        if args.tasks.is_empty() { vec![None] } else { args.tasks.iter().map(|&n| Some(n)).collect() };
    let episodes = args.episodes.unwrap_or(if args.tasks.is_empty() { 1000 } else { 1 });
    let mut rows = Vec::new();
    for size in sizes.iter().copied() {
        prepared.scenario.workload = workload(size)?;
        prepared.mechanisms.clone_from(&chosen);
        let options = RunOptions { episodes, ..prepared.options(args.threads.jobs) };
        let bar = progress_bar(u64::from(episodes), "episodes");
        let started = Instant::now();
        let batch = prepared.run(&options, &|| bar.inc(1))?;
        let secs = started.elapsed().as_secs_f64();
        bar.finish_and_clear();
        let tasks: usize = batch.runs.iter().map(|r| r.records.len()).sum();
        drop(batch);
        let scenario = &prepared.scenario;
        emit(&format!(
            "{}: {} of {:?} ({} tasks each) in {:.2} s: {:.0} episodes/s, {:.2} M tasks/s, {}{}",
            scenario.name,
            count(u64::from(episodes), "episode", "episodes"),
            prepared.mechanisms[0].name,
            scenario.workload.task_count(),
            secs,
            f64::from(episodes) / secs,
            tasks as f64 / secs / 1e6,
            count(args.threads.jobs.unwrap_or_else(rayon_threads) as u64, "thread", "threads"),
            peak_rss().map_or(String::new(), |b| format!(", peak RSS {:.0} MB", b as f64 / 1e6)),
        ))?;
        rows.push((scenario.workload.task_count(), secs / f64::from(episodes), peak_rss()));
    }
    if rows.len() > 1 {
        let mut out =
            "\n| tasks an episode | seconds an episode | µs a task | peak RSS (MB) |\n|---|---|---|---|\n".to_string();
        for (tasks, secs, rss) in rows {
            let rss = rss.map_or("n/a".to_string(), |b| format!("{:.0}", b as f64 / 1e6));
            out.push_str(&format!("| {tasks} | {secs:.2} | {:.1} | {rss} |\n", secs / tasks as f64 * 1e6));
        }
        emit(out.trim_end())?;
    }
    Ok(())
}

/// The process's peak resident memory in bytes, where the system tells it (Linux).
fn peak_rss() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// `tender bench --recall`: each memory index against the scan on the first episode's tasks.
fn recall(
    scenario: &tender_engine::Scenario,
    workloads: &[tender_agents::workload::WorkloadSpec],
    k: usize,
) -> Result<()> {
    use tender_engine::memory::{MemoryIndex, compare_with_scan};
    let floor = tender_agents::StandInParams::default().lesson_min_similarity;
    let mut out = format!(
        "| tasks | index | recall@{k} | similarities a query, share of the scan's | lesson count, mean relative error |\n|---|---|---|---|---|\n"
    );
    for workload in workloads {
        let tasks = workload.generate(tender_agents::streams::episode_seed(scenario.seed, 0));
        let every = (tasks.len() / 2000).max(1);
        let indexes = [
            MemoryIndex::Cells { lesson_sample: 4096 },
            MemoryIndex::Ivf { probe: 8, lesson_sample: 4096 },
            MemoryIndex::Ivf { probe: 16, lesson_sample: 4096 },
            MemoryIndex::Ivf { probe: 32, lesson_sample: 4096 },
        ];
        for index in indexes {
            let c = compare_with_scan(index, tasks.iter().map(|t| &*t.embedding), k, every, floor);
            let counted: Vec<f64> = c.lessons.iter().filter(|l| l.0 > 0.0).map(|l| (l.1 / l.0 - 1.0).abs()).collect();
            let error = counted.iter().sum::<f64>() / counted.len().max(1) as f64;
            out.push_str(&format!(
                "| {} | `{}` | {:.3} | {:.3} | {:.3} |\n",
                tasks.len(),
                ron::to_string(&index)?,
                c.recall(),
                c.computed as f64 / c.scanned.max(1) as f64,
                error
            ));
        }
    }
    emit(out.trim_end())
}

/// The first words of a weights file `tender fit` wrote: it replaces only such a file.
const FIT_HEADER: &str = "// SALE weights fitted by `tender fit";

pub fn fit(args: &FitArgs) -> Result<()> {
    // The weights a scenario names may be the very ones being fitted.
    let prepared = crate::backends::prepare(parse(&args.file)?, &args.file, &LiveOptions::default())?.prepared;
    let (scenario, source) = (&prepared.scenario, prepared.source.clone());
    let names: Vec<String> = scenario.agents.iter().map(|a| a.name.clone()).collect();
    let weights = match args.objective.into() {
        fit::Objective::Welfare => training_bids::fit_welfare(scenario, source, args.episodes)?,
        objective => {
            let (auctions, cost) = training_bids::collect(scenario, source, args.episodes)?;
            fit::fit(&auctions, &names, objective, fit::Features::default(), cost)?
        }
    };
    let out = args.out.clone().unwrap_or_else(|| scenario.output.join(crate::results::FITTED));
    crate::results::check_own_file(&out, FIT_HEADER)?;
    let text = ron::ser::to_string_pretty(&weights, ron::ser::PrettyConfig::new())?;
    let header = format!(
        "{FIT_HEADER} {}` ({:?}, {} training tasks from {} episode(s)).\n",
        args.file.display(),
        weights.objective,
        weights.training_tasks,
        args.episodes
    );
    output::write_atomic(&out, |w| w.write_all(format!("{header}{text}\n").as_bytes()))?;
    let jurors: Vec<String> = weights.juror_weights.iter().map(|(n, w)| format!("{n} {w:.4}")).collect();
    let quality = if weights.objective == fit::Objective::Welfare {
        format!(
            "welfare ${:.4} per training task; SALE solves {:.1}% of the training tasks;\n\
             a training pass of SALE costs ${:.2} on average",
            -weights.loss,
            weights.targets_winning * 100.0,
            weights.training_cost_usd
        )
    } else {
        format!(
            "loss {:.4} on normalised features; the target agent scores best on {:.1}% of training tasks;\n\
             the training auctions would cost ${:.2}",
            weights.loss,
            weights.targets_winning * 100.0,
            weights.training_cost_usd
        )
    };
    emit(&format!(
        "Fitted on {} training tasks ({:?}): w_c = {:.6}, w_h = {:.4}, juror weights: {}\n\
         {quality}.\n\
         Written to {}; use it with `Sale(weights: \"{}\")` (relative to the scenario file).",
        weights.training_tasks,
        weights.objective,
        weights.w_c,
        weights.w_h,
        jurors.join(", "),
        out.display(),
        relative_to_scenario(&out, &args.file).display(),
    ))
}

/// `path` as a scenario file in `scenario`'s folder names it: relative to that folder when
/// inside it, absolute otherwise.
fn relative_to_scenario(path: &Path, scenario: &Path) -> std::path::PathBuf {
    let (Ok(path), Ok(dir)) = (
        path.canonicalize(),
        scenario.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new(".")).canonicalize(),
    ) else {
        return path.to_path_buf();
    };
    path.strip_prefix(&dir).map_or(path.clone(), Path::to_path_buf)
}

pub fn plot(dir: &Path) -> Result<()> {
    crate::results::check_own_folder(dir, false)?;
    let _lock = crate::results::FolderLock::take(dir, "plot")?;
    let files = tender_analysis::plot::plot_dir(dir, dir)?;
    let names: Vec<String> =
        files.iter().filter_map(|f| f.file_name().map(|n| n.to_string_lossy().into_owned())).collect();
    crate::results::record_entries(dir, &names)?;
    emit(&format!("{}: {}", dir.display(), names.join(", ")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn without_a_terminal_progress_says_runs_done_and_an_eta_never_centuries() {
        let bar = ProgressBar::hidden();
        bar.set_length(40);
        let line = progress_line(&bar, "live: 0 calls");
        assert!(line.contains("0/40 runs (episode × mechanism), ETA unknown; live: 0 calls"), "{line}");
        bar.set_position(10);
        let line = progress_line(&bar, "live: 12 calls");
        assert!(line.contains("10/40 runs") && !line.contains("ETA unknown") && !line.contains('y'), "{line}");
    }

    #[test]
    fn the_eta_is_the_mean_rate_so_far_however_long_one_run_waits() {
        use std::time::Duration;
        // 4 of 5 runs in 100 s: one more at 25 s a run.
        assert_eq!(crate::io::eta(4, 5, Duration::from_secs(100)), "25 seconds");
        // The fifth run's call waits 300 s more: the estimate grows with the wait, not past it.
        assert_eq!(crate::io::eta(4, 5, Duration::from_secs(400)), "2 minutes");
        assert_eq!(crate::io::eta(0, 5, Duration::from_secs(400)), "unknown");
        assert_eq!(crate::io::eta(5, 5, Duration::from_secs(400)), "0 seconds");
    }

    #[test]
    fn live_latency_quantiles_use_the_analysis_percentile() {
        // Nearest rank, as the latency metrics: the median of 1..=4 is 2, not 3.
        assert_eq!(quantiles(&[4, 1, 3, 2]), (2, 4));
        let latencies = [0.1, 0.2, 0.3, 0.4];
        assert_eq!(tender_analysis::stats::percentile(&latencies, 50.0), Some(0.2));
        assert_eq!(quantiles(&[]), (0, 0));
    }
}
