//! `tender validation`: the stand-in model checked against real data, written to
//! docs/validation.md.
//!
//! A split-sample check on RouteLLM's recorded tables: each table is split in two (MMLU by
//! subject, GSM8K by a seeded split of its prompts). On part A, the topic structure is estimated
//! from the outcomes ([`tender_analysis::topics`]), the embedding's clustering is matched, and a
//! stand-in twin of the recorded pool is calibrated to A's per-agent pass@1, joint success and
//! oracle. The twin, with B's numbers of tasks and topics, then predicts B: each agent's pass@1,
//! the oracle, and the kNN router's curve (APGR and accuracy at two shares of strong calls), none
//! of which it was fitted to on B, and the router's on neither part.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use tender_agents::observe::Behaviour;
use tender_agents::{Backend, BinSpec, DomainSpec, Split, SplitBy, StandInParams, TraceSpec, WorkloadSpec};
use tender_analysis::Estimate;
use tender_analysis::metrics::{Metric, Scope};
use tender_analysis::plot::routing_comparison;
use tender_analysis::routing::CurveMetric;
use tender_analysis::topics::{TopicOutcome, TopicStructure, estimate, same_topic_neighbours};
use tender_engine::calibration::{CalibrationSpec, FreeParam, Target};
use tender_engine::mechanisms::sale;
use tender_engine::{BatchResult, Prepared, Role, Scenario};

use crate::backends::{LiveOptions, load, prepare};
use crate::calibrate::{JOINT, Problem, RecordedRun, observed_run, run_recorded, targets_of};
use crate::cli::{
    VALIDATION_CALIBRATION_EPISODES, VALIDATION_EPISODES, VALIDATION_ITERATIONS, VALIDATION_LIVE_EPISODES,
    ValidationArgs,
};
use crate::io::emit;

/// Neighbours a task's topic share is read over (the kNN router's `k` in the shipped scenarios).
const NEIGHBOURS: usize = 20;
/// Tasks whose neighbourhoods are read (a sample: each reads every task).
const NEIGHBOUR_QUERIES: usize = 600;
/// Spread of the twin's execution lengths (log scale): recorded prompts and answers vary.
const TWIN_TRACE_SIGMA: f64 = 0.5;
/// The shares of strong calls at which the router's accuracy is read off its curve.
const SHARES: [f64; 2] = [0.25, 0.5];

/// One recorded table and how it is split.
struct Dataset {
    title: &'static str,
    /// Its figure's file name.
    stem: &'static str,
    /// The recorded scenario, in the scenarios folder.
    scenario: &'static str,
    /// The data, in the RouteLLM folder.
    data: &'static str,
    by: SplitBy,
    seed: u64,
}

const DATASETS: [Dataset; 2] = [
    Dataset {
        title: "MMLU, split by subject",
        stem: "mmlu-knn",
        scenario: "routellm-mmlu.ron",
        data: "mmlu",
        by: SplitBy::Topic,
        seed: 1,
    },
    Dataset {
        title: "GSM8K, split by prompt",
        stem: "gsm8k-knn",
        scenario: "routellm-gsm8k.ron",
        data: "gsm8k_responses.csv",
        by: SplitBy::Task,
        seed: 1,
    },
];

/// A part of a recorded table, run.
struct Part {
    scenario: Scenario,
    batch: BatchResult,
}

/// A quantity compared between the real data and the stand-ins.
struct Quantity {
    label: String,
    estimate: Estimate,
    /// Tasks per episode the share is taken over (its binomial error), for shares of tasks.
    tasks: Option<f64>,
    /// Whether the calibration on part A aims at it (what `--targets-from` reads).
    target: bool,
}

/// The quantities of a run on `workload`: each agent's pass@1, every pair's joint success, the
/// oracle's (the calibration's targets), and each router curve's APGR and accuracy at
/// [`SHARES`].
fn quantities(batch: &BatchResult, workload: &WorkloadSpec) -> Result<Vec<Quantity>> {
    let summary = tender_analysis::summarise(batch, workload);
    let tasks = batch.runs.first().map(|r| r.records.len() as f64);
    let pass = |m: usize| summary.get(m, &Scope::All, &Metric::PassAt1).copied().unwrap_or(Estimate::of([]));
    let mut out = Vec::new();
    let alone: Vec<(usize, usize)> = (0..batch.mechanisms.len())
        .filter_map(|m| match batch.mechanisms[m].role() {
            Role::Alone(a) => Some((a, m)),
            _ => None,
        })
        .collect();
    for &(a, m) in &alone {
        let label = format!("{} alone: pass@1", batch.agents[a].name);
        out.push(Quantity { label, estimate: pass(m), tasks, target: true });
    }
    for (i, &(a, _)) in alone.iter().enumerate() {
        for &(b, _) in &alone[i + 1..] {
            let pair = format!("{} alone & {} alone", batch.agents[a].name, batch.agents[b].name);
            let estimate = crate::calibrate::joint_success(batch, &pair)?;
            out.push(Quantity { label: format!("both solve ({JOINT})"), estimate, tasks, target: true });
        }
    }
    if let Some(m) = batch.mechanisms.iter().position(|m| m.role() == Role::Oracle) {
        out.push(Quantity { label: "oracle: pass@1".into(), estimate: pass(m), tasks, target: true });
    }
    let mut curves: Vec<&str> = batch.mechanisms.iter().filter_map(|m| m.curve.as_deref()).collect();
    curves.dedup();
    for curve in curves {
        let apgr = CurveMetric::Apgr.estimate(batch, curve).map_err(anyhow::Error::msg)?;
        out.push(Quantity { label: format!("{curve}: APGR"), estimate: apgr, tasks: None, target: false });
        for share in SHARES {
            let metric = CurveMetric::AccuracyAtStrongShare(share);
            let estimate = metric.estimate(batch, curve).map_err(anyhow::Error::msg)?;
            let label = format!("{curve}: accuracy at {:.0}% strong calls", share * 100.0);
            out.push(Quantity { label, estimate, tasks, target: false });
        }
    }
    Ok(out)
}

/// Run part `part` of a recorded table.
fn run_part(
    file: &Path,
    data: &Path,
    dataset: &Dataset,
    part: u32,
    episodes: u32,
    jobs: Option<usize>,
) -> Result<Part> {
    let mut scenario = load(file)?;
    scenario.episodes = episodes;
    let tasks = scenario.workload.tasks.as_mut().with_context(|| format!("{}: has no task file", file.display()))?;
    tasks.path = data.to_path_buf();
    tasks.split = Some(Split { by: dataset.by, part, parts: 2, seed: dataset.seed });
    let backends = prepare(scenario, file, &LiveOptions::default())?;
    let batch = backends.prepared.run(&backends.prepared.options(jobs), &|| {})?;
    Ok(Part { scenario: backends.prepared.scenario, batch })
}

/// Every task's outcome for each agent alone, with its topic (tasks evaluated in any episode).
fn topic_outcomes(part: &Part) -> Vec<TopicOutcome> {
    let tasks = part.scenario.workload.loaded.as_deref().unwrap_or_default();
    let alone: Vec<usize> = (0..part.batch.mechanisms.len())
        .filter(|&m| matches!(part.batch.mechanisms[m].role(), Role::Alone(_)))
        .collect();
    let mut outcome: Vec<Vec<Option<bool>>> = vec![vec![None; alone.len()]; tasks.len()];
    for run in &part.batch.runs {
        let Some(slot) = alone.iter().position(|&m| m == usize::from(run.mechanism)) else { continue };
        for r in &run.records {
            outcome[r.task as usize][slot] = Some(r.success);
        }
    }
    tasks
        .iter()
        .zip(outcome)
        .filter_map(|(t, o)| {
            let success: Option<Vec<bool>> = o.into_iter().collect();
            Some(TopicOutcome { domain: t.domain, topic: t.topic, success: success? })
        })
        .collect()
}

/// The same-topic share of neighbourhoods among `tasks`.
fn neighbour_share(tasks: &[tender_agents::Task]) -> f64 {
    let view: Vec<(u32, &[f32])> = tasks.iter().map(|t| (t.topic, &*t.embedding)).collect();
    same_topic_neighbours(&view, NEIGHBOURS, NEIGHBOUR_QUERIES)
}

/// Tasks and topics per domain of a loaded workload.
fn counts(scenario: &Scenario) -> Vec<(u32, u32)> {
    let tasks = scenario.workload.loaded.as_deref().unwrap_or_default();
    (0..scenario.workload.domains.len())
        .map(|d| {
            let mine: Vec<&tender_agents::Task> = tasks.iter().filter(|t| usize::from(t.domain) == d).collect();
            let mut topics: Vec<u32> = mine.iter().map(|t| t.topic).collect();
            topics.sort_unstable();
            topics.dedup();
            (mine.len() as u32, topics.len() as u32)
        })
        .collect()
}

/// Make `agent` (pool index `a`) a stand-in of what it did alone in `batch`: its mean execution
/// lengths (input and output tokens) and, per domain, its pass@1 for every bin (clamped to
/// `[edge, 1 - edge]`). Returns the free parameters that calibrate its skill: one per domain,
/// its bins following the first.
fn standin_of(
    agent: &mut tender_agents::AgentProfile,
    a: usize,
    batch: &BatchResult,
    domains: &[(String, usize)],
    edge: f64,
) -> Result<Vec<FreeParam>> {
    let m = batch
        .mechanisms
        .iter()
        .position(|m| m.role() == Role::Alone(a))
        .context("the recorded scenario runs each agent alone")?;
    let records: Vec<&tender_engine::TaskRecord> =
        batch.runs.iter().filter(|r| usize::from(r.mechanism) == m).flat_map(|r| &r.records).collect();
    let n = records.len().max(1) as f64;
    let (input, output) = records
        .iter()
        .fold((0.0, 0.0), |(i, o), r| (i + r.delivered.input as f64 / n, o + r.delivered.output as f64 / n));
    agent.backend = Backend::Synthetic;
    agent.trace = TraceSpec {
        median_at_1min: ((input + output) * (-TWIN_TRACE_SIGMA * TWIN_TRACE_SIGMA / 2.0).exp()).max(1.0),
        tau_exponent: 0.0,
        sigma: TWIN_TRACE_SIGMA,
        output_share: output / (input + output).max(1.0),
    };
    agent.skill = domains
        .iter()
        .enumerate()
        .map(|(d, (name, bins))| {
            let mine: Vec<&&tender_engine::TaskRecord> =
                records.iter().filter(|r| usize::from(r.domain) == d).collect();
            let pass = mine.iter().filter(|r| r.success).count() as f64 / mine.len().max(1) as f64;
            (name.clone(), vec![pass.clamp(edge, 1.0 - edge); *bins])
        })
        .collect();
    Ok(domains
        .iter()
        .map(|(name, bins)| FreeParam {
            path: format!("agents[{:?}].skill.{name}[0]", agent.name),
            min: edge,
            max: 1.0 - edge,
            also: (1..*bins).map(|b| format!("agents[{:?}].skill.{name}[{b}]", agent.name)).collect(),
        })
        .collect())
}

/// The recorded pool's stand-in twin: the same agents (names, prices) as stand-ins with the
/// recorded pass@1 and execution lengths, the same mechanisms, and a synthetic workload with the
/// part's numbers of tasks and topics per domain, the estimated topic structure, and embeddings
/// clustered as `spread` makes them. Its calibration block frees each agent's skill and the
/// shared difficulty.
fn twin(part: &Part, structure: &TopicStructure, spread: f64, calibration: (u32, u32)) -> Result<Scenario> {
    let mut s = part.scenario.clone();
    s.name = format!("{}-standins", s.name);
    let batch = &part.batch;
    let domains: Vec<(String, usize)> = s.workload.domains.iter().map(|d| (d.name.clone(), d.bins.len())).collect();
    let mut params = Vec::new();
    for (a, agent) in s.agents.iter_mut().enumerate() {
        params.extend(standin_of(agent, a, batch, &domains, 0.01)?);
    }
    let room = 1.0 - structure.difficulty - structure.affinity;
    s.standins = StandInParams {
        shared_difficulty: (room / 2.0).max(0.0),
        topic_difficulty: structure.difficulty,
        topic_affinity: structure.affinity,
        ..StandInParams::default()
    };
    params.push(FreeParam {
        path: "standins.shared_difficulty".into(),
        min: 0.0,
        max: room.max(0.0),
        also: Vec::new(),
    });
    let counts = counts(&part.scenario);
    s.workload = WorkloadSpec {
        domains: s
            .workload
            .domains
            .iter()
            .zip(&counts)
            .map(|(d, &(tasks, topics))| DomainSpec {
                name: d.name.clone(),
                bins: vec![BinSpec { tau_max: d.bins.last().map_or(1.0, |b| b.tau_max), tasks }],
                topics: topics.max(1),
                value_per_minute: d.value_per_minute,
            })
            .collect(),
        order: s.workload.order,
        embedding_dim: 16,
        topic_spread: spread,
        // Whether a recorded task is hard shows in its text only as its topic does.
        complexity_signal: 0.0,
        tasks: None,
        loaded: None,
    };
    let (episodes, iterations) = calibration;
    s.calibrate = Some(CalibrationSpec { episodes, iterations, starts: 1, polish: 0, params, targets: Vec::new() });
    Ok(s)
}

/// The spread at which the twin's neighbourhoods follow topics as often as the recorded
/// embeddings' do (bisection: more spread, fewer same-topic neighbours).
fn matched_spread(twin: &Scenario, target: f64) -> f64 {
    let share = |spread: f64| {
        let mut w = twin.workload.clone();
        w.topic_spread = spread;
        neighbour_share(&w.generate(tender_agents::streams::episode_seed(twin.seed, 0)))
    };
    let (mut low, mut high) = (0.0f64, 8.0f64);
    for _ in 0..20 {
        let mid = (low + high) / 2.0;
        if share(mid) > target { low = mid } else { high = mid }
    }
    (low + high) / 2.0
}

/// The twin with another part's numbers of tasks and topics.
fn resized(twin: &Scenario, part: &Part) -> Scenario {
    let mut s = twin.clone();
    for (d, (tasks, topics)) in s.workload.domains.iter_mut().zip(counts(&part.scenario)) {
        d.bins[0].tasks = tasks;
        d.topics = topics.max(1);
    }
    s
}

fn simulate(scenario: &Scenario, jobs: Option<usize>) -> Result<BatchResult> {
    let mut s = scenario.clone();
    s.calibrate = None;
    let prepared = Prepared::synthetic(s).map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok(prepared.run(&prepared.options(jobs), &|| {})?)
}

/// Whether a prediction agrees with the data: within the combined 95% half-widths of both
/// runs' episode spreads and, for a share of tasks, twice the binomial standard error of the
/// real share over the tasks evaluated (the data's own sampling error).
fn agrees(real: &Quantity, predicted: &Quantity) -> (bool, f64) {
    let half = |e: &Estimate| if e.half_width().is_finite() { e.half_width() } else { 0.0 };
    let p = real.estimate.mean;
    let binomial = real.tasks.map_or(0.0, |n| 2.0 * (p * (1.0 - p) / n.max(1.0)).sqrt());
    let tolerance = (half(&real.estimate).powi(2) + half(&predicted.estimate).powi(2) + binomial.powi(2)).sqrt();
    ((predicted.estimate.mean - p).abs() <= tolerance, tolerance)
}

/// The split-sample check of one dataset, as a section of the report.
fn split_check(args: &ValidationArgs, dataset: &Dataset, figures: &Path) -> Result<String> {
    let file = args.scenarios.join(dataset.scenario);
    // Task paths are read from the scenario's folder: the data's is made absolute.
    let data = std::path::absolute(args.routellm.join(dataset.data))?;
    let jobs = args.threads.jobs;
    emit(&format!("{}: running the recorded parts", dataset.title))?;
    let a = run_part(&file, &data, dataset, 0, args.episodes, jobs)?;
    let b = run_part(&file, &data, dataset, 1, args.episodes, jobs)?;
    let topics_a = topic_outcomes(&a);
    let counts_a = counts(&a.scenario);
    let single_topic = counts_a.iter().all(|c| c.1 <= 1);
    let structure = if single_topic {
        TopicStructure {
            topics: 1,
            tasks: topics_a.len(),
            variance: 0.0,
            covariance: 0.0,
            difficulty: 0.0,
            affinity: 0.0,
        }
    } else {
        estimate(&topics_a).context("too few topics to estimate their structure")?
    };
    let structure_b = if single_topic { None } else { estimate(&topic_outcomes(&b)) };
    let real_share = neighbour_share(a.scenario.workload.loaded.as_deref().unwrap_or_default());
    let mut standins = twin(&a, &structure, 0.6, (args.calibration_episodes, args.iterations))?;
    let spread = if single_topic { standins.workload.topic_spread } else { matched_spread(&standins, real_share) };
    standins.workload.topic_spread = spread;
    let ours: Vec<&str> = standins.agents.iter().map(|a| a.name.as_str()).collect();
    let targets: Vec<Target> =
        targets_of(&a.batch, &a.scenario, &ours, &format!("recorded: {} part A", dataset.scenario))?;
    if let Some(spec) = standins.calibrate.as_mut() {
        spec.targets.clone_from(&targets);
    }
    emit(&format!("{}: calibrating the stand-ins on part A ({} targets)", dataset.title, targets.len()))?;
    let problem = Problem::new(&standins, jobs)?;
    let (x, distance, evaluations) = problem.solve(Box::new(|_, _| {}))?;
    let values = problem.values(&x);
    let calibrated = problem.scenario_at(&standins, &values)?;
    emit(&format!("{}: predicting part B", dataset.title))?;
    let fit_a = quantities(&simulate(&calibrated, jobs)?, &calibrated.workload)?;
    let for_b = resized(&calibrated, &b);
    let predicted = simulate(&for_b, jobs)?;
    let predicted_b = quantities(&predicted, &for_b.workload)?;
    let figure = match (curve_points(&b.batch), curve_points(&predicted)) {
        (Some(real), Some(sim)) => {
            let title = format!("{}: the kNN router on part B, real and predicted", dataset.title);
            routing_comparison(
                figures,
                dataset.stem,
                &title,
                &real.strong,
                vec![("real".into(), real.points), ("stand-ins (predicted)".into(), sim.points)],
                real.mixture,
            )?;
            Some(format!("![{title}](validation/{}.png)\n\n", dataset.stem))
        }
        _ => None,
    };
    let (real_a, real_b) = (quantities(&a.batch, &a.scenario.workload)?, quantities(&b.batch, &b.scenario.workload)?);

    let (tasks_a, tasks_b) = (a.scenario.workload.task_count(), b.scenario.workload.task_count());
    let mut s = format!("## {}\n\n", dataset.title);
    let topics_b: u32 = counts(&b.scenario).iter().map(|c| c.1).sum();
    let topics_a: u32 = counts_a.iter().map(|c| c.1).sum();
    let _ = writeln!(
        s,
        "Part A: {tasks_a} tasks ({}); part B: {tasks_b} tasks ({}). \
         `{}` with `split: (by: {:?}, part: 0 or 1, seed: {})`, {} episodes each (each a new shuffle and \
         a new 30% training split for the router).\n",
        topics(topics_a),
        topics(topics_b),
        dataset.scenario,
        dataset.by,
        dataset.seed,
        args.episodes
    );
    let _ = writeln!(s, "Estimated on part A, before any fitting:\n");
    if single_topic {
        let _ =
            writeln!(s, "- The file records no topics: the stand-ins have one topic per domain (no topic structure).");
    } else {
        let _ = writeln!(
            s,
            "- Topic structure ({} topics): `topic_difficulty` {:.3}, `topic_affinity` {:.3} (probit variance across \
             topics {:.3}, covariance between the agents {:.3}){}.",
            structure.topics,
            structure.difficulty,
            structure.affinity,
            structure.variance,
            structure.covariance,
            structure_b.as_ref().map_or(String::new(), |b| format!(
                "; part B's own data would give {:.3} and {:.3}",
                b.difficulty, b.affinity
            ))
        );
        let _ = writeln!(
            s,
            "- Neighbourhoods: {:.1}% of a task's {NEIGHBOURS} nearest neighbours (hashed embeddings) share its topic; \
             the stand-ins' `topic_spread` {spread:.3} gives the same.",
            real_share * 100.0
        );
    }
    let _ = writeln!(
        s,
        "- Calibrated to part A's {} targets (each agent's pass@1, joint success, the oracle) in {evaluations} \
         evaluations, distance {distance:.2}: {}.\n",
        targets.len(),
        problem
            .spec()
            .params
            .iter()
            .zip(&values)
            .map(|(p, v)| format!("`{}` {v:.3}", p.path))
            .collect::<Vec<_>>()
            .join(", ")
    );
    s.push_str(
        "| quantity | A: real | A: stand-ins (fitted) | B: real | B: predicted | difference | agrees |\n\
         |---|---|---|---|---|---|---|\n",
    );
    let (mut agree, mut total) = (0, 0);
    let mut misses = Vec::new();
    for q in &real_b {
        let find = |v: &[Quantity]| v.iter().position(|x| x.label == q.label);
        let (Some(ia), Some(fa), Some(pb)) = (find(&real_a), find(&fit_a), find(&predicted_b)) else { continue };
        let (ok, tolerance) = agrees(q, &predicted_b[pb]);
        let fitted = q.target;
        total += 1;
        agree += usize::from(ok);
        if !ok {
            // A level the calibration fixed on part A cannot follow a part that differs.
            let shift = q.estimate.mean - real_a[ia].estimate.mean;
            misses.push(if fitted {
                format!("{} (fitted on A; the parts differ by {shift:+.3} in the data itself)", q.label)
            } else {
                q.label.clone()
            });
        }
        let _ = writeln!(
            s,
            "| {}{} | {} | {} | {} | {} | {:+.3} (± {:.3}) | {} |",
            q.label,
            if fitted { " (target on A)" } else { "" },
            show(&real_a[ia].estimate),
            show(&fit_a[fa].estimate),
            show(&q.estimate),
            show(&predicted_b[pb].estimate),
            predicted_b[pb].estimate.mean - q.estimate.mean,
            tolerance,
            if ok { "yes" } else { "**no**" }
        );
    }
    let _ = writeln!(
        s,
        "\n{agree} of {total} predictions of part B agree with the data{}.\n",
        if misses.is_empty() { String::new() } else { format!("; missed: {}", misses.join("; ")) }
    );
    s.push_str(&figure.unwrap_or_default());
    Ok(s)
}

fn topics(n: u32) -> String {
    if n == 1 { "one topic".into() } else { format!("{n} topics") }
}

/// A router curve as drawn: the strong agent, its points (share of strong calls %, accuracy %)
/// anchored at each agent alone, and the random mixtures' line.
struct Curve {
    strong: String,
    points: Vec<(f64, f64)>,
    mixture: [(f64, f64); 2],
}

fn curve_points(batch: &BatchResult) -> Option<Curve> {
    let report = tender_analysis::routing::routing(batch)?;
    let mut points: Vec<(f64, f64)> = report
        .points
        .iter()
        .filter(|p| p.curve.is_some() || p.role.is_some())
        .map(|p| (p.strong_share.mean * 100.0, p.accuracy.mean * 100.0))
        .collect();
    points.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.total_cmp(&b.1)));
    let mixture = [(0.0, report.weak_accuracy * 100.0), (100.0, report.strong_accuracy * 100.0)];
    Some(Curve { strong: report.strong, points, mixture })
}

/// An estimate as `mean [low, high]`, three decimals.
fn show(e: &Estimate) -> String {
    if e.low.is_finite() && e.high.is_finite() {
        format!("{:.3} [{:.3}, {:.3}]", e.mean, e.low, e.high)
    } else {
        format!("{:.3}", e.mean)
    }
}

/// One SALE run's outcome: pass@1, dollars per task, each agent's share of wins, the share of
/// bids refined and of tasks won by a refined bid, per episode.
struct SaleOutcome {
    values: Vec<(String, Vec<f64>)>,
}

fn sale_outcome(batch: &BatchResult) -> Result<SaleOutcome> {
    // The auction of plans: the one mechanism of the scenario that reads bids.
    let m = batch.mechanisms.iter().position(|m| m.needs.bids).context("the scenario runs no auction of plans")?;
    let name = &batch.mechanisms[m].name;
    let runs: Vec<&tender_engine::EpisodeRun> = batch.runs.iter().filter(|r| usize::from(r.mechanism) == m).collect();
    let per =
        |f: &dyn Fn(&[tender_engine::TaskRecord]) -> f64| runs.iter().map(|r| f(&r.records)).collect::<Vec<f64>>();
    let mean = |rs: &[tender_engine::TaskRecord], g: &dyn Fn(&tender_engine::TaskRecord) -> f64| {
        rs.iter().map(g).sum::<f64>() / rs.len().max(1) as f64
    };
    let agents = batch.agents.len() as f64;
    let mut values = vec![
        (format!("{name}: pass@1"), per(&|rs| mean(rs, &|r| f64::from(u8::from(r.success))))),
        (format!("{name}: $ per task (×1000)"), per(&|rs| mean(rs, &|r| r.cost() * 1000.0))),
    ];
    for (a, agent) in batch.agents.iter().enumerate() {
        values.push((
            format!("{}'s share of wins", agent.name),
            per(&|rs| mean(rs, &|r| f64::from(u8::from(usize::from(r.winner) == a)))),
        ));
    }
    values.push((
        "bids refined".to_string(),
        per(&|rs| mean(rs, &|r| r.reported(sale::REFINERS.id).unwrap_or(0.0) / agents)),
    ));
    values.push((
        "tasks won by a refined bid".to_string(),
        per(&|rs| mean(rs, &|r| r.reported(sale::REFINED.id).unwrap_or(0.0))),
    ));
    Ok(SaleOutcome { values })
}

/// The `q` quantile (0 to 1) of `values` by linear interpolation.
fn quantile(values: &[f64], q: f64) -> f64 {
    let mut v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
    v.sort_by(f64::total_cmp);
    if v.is_empty() {
        return f64::NAN;
    }
    let at = q * (v.len() - 1) as f64;
    let (i, f) = (at.floor() as usize, at.fract());
    v[i] + (v[(i + 1).min(v.len() - 1)] - v[i]) * f
}

/// The live pool's stand-in twin: every agent a stand-in whose plans, verdicts and execution
/// lengths follow what the trace shows it doing; each live agent's skill per domain (one value for
/// its bins) and the shared difficulty are left free for the outcome calibration.
fn live_twin(live: &Scenario, batch: &BatchResult, behaviour: &Behaviour, calibration: (u32, u32)) -> Result<Scenario> {
    // The mechanisms are the live run's, SALE with the weights it ran with: the twin predicts that
    // market. Its calibration frees only stand-in parameters, and runs only the mechanisms its
    // targets read (each agent alone, the oracle), so nothing moves SALE.
    let mut s = live.clone();
    s.name = format!("{}-standins", s.name);
    let mut params = Vec::new();
    let domains: Vec<(String, usize)> = s.workload.domains.iter().map(|d| (d.name.clone(), d.bins.len())).collect();
    for (a, agent) in s.agents.iter_mut().enumerate() {
        let seen = &behaviour.agents[a];
        // Every juror abstains on peers' plans as it did (the 32B stand-in on the live plans it
        // cannot read); live agents also take their plans' and verdicts' behaviour.
        seen.give_abstentions_to(agent);
        if !agent.backend.is_synthetic() {
            params.extend(standin_of(agent, a, batch, &domains, 0.02)?);
            seen.give_to(agent);
        }
    }
    params.push(FreeParam { path: "standins.shared_difficulty".into(), min: 0.0, max: 0.85, also: Vec::new() });
    // A lesson counts from the live agents' similarity threshold, as it did for them.
    if let Some(threshold) = live.agents.iter().find_map(|a| match &a.backend {
        Backend::Live(spec) => Some(spec.lesson_min_similarity),
        _ => None,
    }) {
        s.standins.lesson_min_similarity = threshold;
    }
    let counts: Vec<Vec<u32>> = {
        let tasks = live.workload.loaded.as_deref().unwrap_or_default();
        s.workload
            .domains
            .iter()
            .enumerate()
            .map(|(d, domain)| {
                (0..domain.bins.len())
                    .map(|b| {
                        tasks.iter().filter(|t| usize::from(t.domain) == d && usize::from(t.bin) == b).count() as u32
                    })
                    .collect()
            })
            .collect()
    };
    for (domain, counts) in s.workload.domains.iter_mut().zip(counts) {
        for (bin, n) in domain.bins.iter_mut().zip(counts) {
            bin.tasks = n;
        }
        domain.topics = 1;
    }
    // Task embeddings of the real tasks' dimension: how alike unrelated tasks look depends on it.
    let dim = live.workload.loaded.as_deref().and_then(|t| t.first()).map(|t| t.embedding.len());
    s.workload.embedding_dim = dim.and_then(|d| u16::try_from(d).ok()).unwrap_or(s.workload.embedding_dim);
    s.workload.tasks = None;
    s.workload.loaded = None;
    let (episodes, iterations) = calibration;
    s.calibrate = Some(CalibrationSpec { episodes, iterations, starts: 1, polish: 0, params, targets: Vec::new() });
    Ok(s)
}

/// Episodes of each step of [`matched_retrieval`].
const RETRIEVAL_EPISODES: u32 = 40;

/// The `topic_spread` at which the twin's `agents` find a relevant lesson in memory for
/// `target` of their refinements (bisection on its auction of plans alone: more spread, tasks
/// less alike, fewer lessons).
fn matched_retrieval(twin: &Scenario, agents: &[usize], target: f64, jobs: Option<usize>) -> Result<f64> {
    let mut s = twin.clone();
    s.calibrate = None;
    s.mechanisms.retain(|m| m.needs().bids);
    let rate = |spread: f64| -> Result<f64> {
        let mut at = s.clone();
        at.workload.topic_spread = spread;
        let mut prepared = Prepared::synthetic(at).map_err(|e| anyhow::anyhow!("{e}"))?;
        Ok(observed_run(&mut prepared, jobs, RETRIEVAL_EPISODES)?.1.retrieval_rate(agents))
    };
    let (mut low, mut high) = (0.0f64, 8.0f64);
    for _ in 0..10 {
        let mid = (low + high) / 2.0;
        if rate(mid)? > target { low = mid } else { high = mid }
    }
    Ok((low + high) / 2.0)
}

/// Behaviour rows: `(label, live value, stand-ins' value)` per agent.
fn behaviour_rows(names: &[String], live: &Behaviour, twin: &Behaviour) -> String {
    let mut s = String::from("| agent | behaviour | live (trace) | stand-ins |\n|---|---|---|---|\n");
    for (a, name) in names.iter().enumerate() {
        let (l, t) = (&live.agents[a], &twin.agents[a]);
        let pair = |v: (f64, f64)| format!("{:.2} ± {:.2}", v.0, v.1);
        let rows: [(&str, String, String); 9] = [
            ("plans: ln length, mean ± sd", pair(l.log_length), pair(t.log_length)),
            ("plans: entropy, mean ± sd", pair(l.entropy), pair(t.entropy)),
            ("entropy, solved − failed tasks", format!("{:+.3}", l.entropy_gap), format!("{:+.3}", t.entropy_gap)),
            ("verdicts on own plans: mean score", format!("{:.2}", l.own.mean()), format!("{:.2}", t.own.mean())),
            (
                "verdicts on peers' plans: mean score",
                format!("{:.2}", l.peers.mean()),
                format!("{:.2}", t.peers.mean()),
            ),
            (
                "verdicts on own plans: most frequent score (share)",
                format!("{} ({:.0}%)", l.own.modal_share().0, l.own.modal_share().1 * 100.0),
                format!("{} ({:.0}%)", t.own.modal_share().0, t.own.modal_share().1 * 100.0),
            ),
            (
                "verdicts unreadable (own / peers')",
                format!("{:.0}% / {:.0}%", l.own.unparsed_rate() * 100.0, l.peers.unparsed_rate() * 100.0),
                format!("{:.0}% / {:.0}%", t.own.unparsed_rate() * 100.0, t.peers.unparsed_rate() * 100.0),
            ),
            (
                "abstains on peers' plans",
                format!("{:.0}%", l.peers.abstention_rate() * 100.0),
                format!("{:.0}%", t.peers.abstention_rate() * 100.0),
            ),
            (
                "refines / memory offered a lesson",
                format!("{:.0}% / {:.0}%", l.refinement_rate * 100.0, l.retrieval_rate * 100.0),
                format!("{:.0}% / {:.0}%", t.refinement_rate * 100.0, t.retrieval_rate * 100.0),
            ),
        ];
        for (label, live, twin) in rows {
            let _ = writeln!(s, "| {name} | {label} | {live} | {twin} |");
        }
    }
    s.replace("NaN", "–").replace("nan", "–")
}

/// The example30 section: the live run replayed and observed, its stand-in twin calibrated to
/// its outcomes and behaviour, and the twin's prediction of SALE beside the live result.
fn live_check(args: &ValidationArgs) -> Result<String> {
    let file = args.live.join("live-local.ron");
    let trace = args.live.join("trace.jsonl");
    let jobs = args.threads.jobs;
    emit("example30: replaying the live run")?;
    let RecordedRun { scenario: live, batch, behaviour: live_behaviour, .. } = run_recorded(&file, Some(&trace), jobs)?;
    let live = &live;
    let names: Vec<String> = live.agents.iter().map(|a| a.name.clone()).collect();
    let mut twin = live_twin(live, &batch, &live_behaviour, (args.calibration_episodes * 4, args.iterations))?;
    // How often memory offers a refining agent a lesson depends on how alike the tasks are:
    // the stand-ins' tasks are spread so that it does as often as in the trace.
    let live_agents: Vec<usize> = (0..live.agents.len()).filter(|&a| !live.agents[a].backend.is_synthetic()).collect();
    let retrieval = live_behaviour.retrieval_rate(&live_agents);
    if retrieval.is_finite() {
        twin.workload.topic_spread = matched_retrieval(&twin, &live_agents, retrieval, jobs)?;
    }
    let ours: Vec<&str> = names.iter().map(String::as_str).collect();
    let targets = targets_of(&batch, live, &ours, "recorded: example30 trace")?;
    if let Some(spec) = twin.calibrate.as_mut() {
        spec.targets.clone_from(&targets);
    }
    emit(&format!("example30: calibrating the stand-ins to the trace's {} outcome targets", targets.len()))?;
    let problem = Problem::new(&twin, jobs)?;
    let (x, distance, evaluations) = problem.solve(Box::new(|_, _| {}))?;
    let calibrated = problem.scenario_at(&twin, &problem.values(&x))?;
    let mut check = calibrated.clone();
    check.calibrate = None;
    let mut twin_prepared = Prepared::synthetic(check).map_err(|e| anyhow::anyhow!("{e}"))?;
    emit(&format!("example30: predicting SALE over {} stand-in episodes", args.live_episodes))?;
    let (twin_batch, twin_behaviour) = observed_run(&mut twin_prepared, jobs, args.live_episodes)?;
    let achieved = {
        let p = Problem::new(&calibrated, jobs)?;
        let run = crate::calibrate::Measured {
            summary: tender_analysis::summarise(&twin_batch, &twin_prepared.scenario.workload),
            batch: Some(twin_batch.clone()),
        };
        p.achieved(&run)?.iter().filter(|a| a.within()).count()
    };
    let (real, predicted) = (sale_outcome(&batch)?, sale_outcome(&twin_batch)?);

    let mut s = String::from("# example30: a live run and its simulation\n\n");
    let _ = writeln!(
        s,
        "The live run of `{}` (two real local models on llama.cpp, Qwen2.5-Coder-0.5B and SmolLM2-135M, and the 32B \
         stand-in, on the 30 example tasks; ../shared/data/live/example30, not shipped) is replayed from its trace \
         and observed cell by cell. Its stand-in twin takes from the trace what each agent does (plan length and \
         entropy, execution lengths; as a juror its abstentions on peers' plans, unreadable verdicts and a \
         saturated score where one score is most of its verdicts), has tasks as alike as the real ones (embeddings \
         of their dimension, spread by `topic_spread` {:.2} so that memory offers a refining agent a lesson as \
         often as in the trace) and is calibrated to the trace's {} outcome \
         targets (each agent's pass@1 per domain, joint success, the oracle) in {evaluations} evaluations \
         (distance {distance:.2}; {achieved} of {} within tolerance over {} episodes). SALE's weights are the live \
         scenario's. Nothing of SALE's outcome is a target.\n",
        file.file_name().map(|f| f.to_string_lossy().into_owned()).unwrap_or_default(),
        twin.workload.topic_spread,
        targets.len(),
        targets.len(),
        args.live_episodes
    );
    s.push_str("## What agents and jurors do\n\n");
    s.push_str(&behaviour_rows(&names, &live_behaviour, &twin_behaviour));
    s.push_str(
        "\nPlan lengths and entropies, unreadable and saturated verdicts and abstentions are read from the trace \
         into the stand-ins (by moments), and how often memory offers a lesson is matched; the entropy gap, the \
         mean scores and how often agents refine are not, and show where the stand-ins behave otherwise.\n\n",
    );
    let _ = writeln!(
        s,
        "## SALE: predicted and live\n\nThe live run is one episode of 30 tasks; the prediction is the stand-ins' \
         mean over {} episodes of the same 30-task size, with the range (2.5% to 97.5%) one such episode falls in: \
         the sampling error a single live run has.\n",
        args.live_episodes
    );
    s.push_str("| quantity | live | predicted (mean) | one episode's range | live inside |\n|---|---|---|---|---|\n");
    let (mut inside, mut total) = (0, 0);
    for ((label, live), (_, sim)) in real.values.iter().zip(&predicted.values) {
        let value = live.first().copied().unwrap_or(f64::NAN);
        let (low, high) = (quantile(sim, 0.025), quantile(sim, 0.975));
        let mean = sim.iter().sum::<f64>() / sim.len().max(1) as f64;
        let ok = (low..=high).contains(&value);
        total += 1;
        inside += usize::from(ok);
        let _ = writeln!(
            s,
            "| {label} | {value:.3} | {mean:.3} | {low:.3} to {high:.3} | {} |",
            if ok { "yes" } else { "**no**" }
        );
    }
    let _ = writeln!(s, "\nThe live value lies inside the predicted range for {inside} of {total} quantities.\n");
    Ok(s)
}

/// How the report begins: `tender validation` replaces only a report holding it.
const GENERATED: &str = "Generated by `cargo run --release -- validation`";

pub fn validation(args: &ValidationArgs) -> Result<()> {
    let documented = args.episodes == VALIDATION_EPISODES
        && args.calibration_episodes == VALIDATION_CALIBRATION_EPISODES
        && args.iterations == VALIDATION_ITERATIONS
        && args.live_episodes == VALIDATION_LIVE_EPISODES;
    let out = args.out.clone().unwrap_or_else(|| {
        PathBuf::from(if documented { "docs/validation.md" } else { "results/validation/validation.md" })
    });
    crate::results::check_own_file(&out, GENERATED)?;
    let figures = out.parent().unwrap_or(Path::new(".")).join("validation");
    std::fs::create_dir_all(&figures).with_context(|| format!("cannot create {}", figures.display()))?;
    let mut report = String::from(
        "# Validation on real data\n\n\
         *Generated by `cargo run --release -- validation`; do not edit by hand: rerun it.* The stand-in model is calibrated on one part of \
         real data and asked to predict what it was not fitted to; every number here comes from that command. \
         Intervals are 95% over episodes; *agrees* means the prediction lies within the combined half-widths of \
         both runs and, for shares of tasks, twice the binomial standard error of the real share over the tasks \
         evaluated.\n\n\
         # RouteLLM: split-sample\n\n\
         RouteLLM's recorded outcomes of Mixtral-8x7B and GPT-4 (../shared/data/routellm, not shipped) are split \
         in two parts. Part A gives the stand-ins everything they are fitted to: the topic structure, estimated \
         from the per-topic success rates by the method of moments (docs/standins.md), the clustering of the \
         task embeddings, and the outcome targets of `tender calibrate --targets-from`. Part B is predicted. The \
         kNN router's curve is a target on neither part.\n\n",
    );
    for dataset in &DATASETS {
        report.push_str(&split_check(args, dataset, &figures)?);
    }
    report.push_str(&live_check(args)?);
    tender_analysis::output::write_atomic(&out, |w| w.write_all(report.as_bytes()))?;
    emit(&report)?;
    emit(&format!("Written {}", out.display()))?;
    Ok(())
}
