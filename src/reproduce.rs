//! `tender reproduce`: the SALE paper's Table 1 in calibrated simulation, with ablations and
//! sensitivity sweeps, written to docs/reproduction.md.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use tender_analysis::metrics::{Metric, Scope, Summary};
use tender_analysis::{Estimate, output, summarise};
use tender_engine::mechanisms::baselines::Single;
use tender_engine::{MechanismSpec, SaleParams, Scenario};

use crate::backends::load;
use crate::backends::{LiveOptions, prepare};
use crate::calibrate::{Achieved, Measured, PINNED_SHARE, PROFILE_POINTS, PROFILE_SLACK, Problem, Profile, fit_table};
use crate::cli::{ReproduceArgs, TaskRows};
use crate::io::{RUNS, emit, progress_bar};
use crate::results::{RunFiles, write_run};

/// Episodes per value of each sensitivity sweep, by default.
const SWEEP_EPISODES: u32 = 20;

/// One domain of the paper: its published numbers (`reproduce/published.ron`).
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Domain {
    /// The scenario file in the scenarios folder, without `.ron`.
    file: String,
    title: String,
    /// Table 1: (Tender's mechanism, the paper's label, pass@1 %, $ per million tokens).
    table: Vec<(String, String, f64, f64)>,
    reliance_cut: f64,
    cost_cut: f64,
    /// Published per-bin pass@1 of the 32B agent: (bin, value %).
    bins_32b: Vec<(usize, f64)>,
    /// Published 4B/32B ratios in the easiest and hardest bins.
    ratios: (f64, f64),
    /// The paper's oracle (every agent once, the cheapest correct answer), pass@1 %.
    oracle: f64,
    /// The paper's ablations: (Tender's mechanism, pass@1 %).
    ablations: Vec<(String, f64)>,
}

/// Factor by which the smallest agent's share must rise along the stream for the paper's
/// "severalfold" to hold.
const RISES_SEVERALFOLD: f64 = 2.0;

/// Points within which an ablation's pass@1 counts as reproduced (its calibration tolerance).
const ABLATION_TOLERANCE: f64 = 2.0;

/// The paper's published numbers, per domain, as data: the report compares against them.
const PUBLISHED: &str = include_str!("reproduce/published.ron");

/// The report's fixed prose.
const CALIBRATION: &str = include_str!("reproduce/calibration.md");
const READING: &str = include_str!("reproduce/reading.md");

fn published() -> Result<Vec<Domain>> {
    ron::from_str(PUBLISHED).context("reproduce/published.ron, the paper's numbers, does not parse")
}

/// What each sensitivity point runs: the headline SALE, without memory, and the 32B agent.
fn sensitivity_mechanisms(base: &SaleParams) -> Vec<MechanismSpec> {
    let mut no_memory = base.clone();
    no_memory.memory = false;
    vec![
        MechanismSpec::new(base.clone()),
        MechanismSpec::new(no_memory),
        MechanismSpec::new(Single { agent: "qwen3-32b".into(), name: None }),
    ]
}

/// A parameter the paper does not pin down, the values tried (the default among them) and how
/// to set one.
struct Sensitivity {
    /// What it varies: one field's sweep path in backticks, or a description.
    name: &'static str,
    what: &'static str,
    values: &'static [f64],
    /// The scenario's own value.
    current: fn(&Scenario) -> f64,
    set: fn(&mut Scenario, f64),
}

impl Sensitivity {
    /// The sweep path it sets, when it is one field (its name): a scenario that calibrates
    /// that path has it pinned by the targets, and it is no sensitivity there.
    fn path(&self) -> Option<&'static str> {
        self.name.strip_prefix('`')?.strip_suffix('`')
    }
}

/// Whether the scenario's `calibrate:` block fits `path`.
fn calibrates(scenario: &Scenario, path: &str) -> bool {
    scenario
        .calibrate
        .as_ref()
        .is_some_and(|c| c.params.iter().any(|p| p.path == path || p.also.iter().any(|a| a == path)))
}

/// The first SALE of a scenario (its weights attached).
fn first_sale(s: &Scenario) -> Option<&SaleParams> {
    s.mechanisms.iter().find_map(MechanismSpec::get::<SaleParams>)
}

const SENSITIVITIES: [Sensitivity; 9] = [
    Sensitivity {
        name: "juror accuracy (shift of every juror's `accuracy`)",
        what: "how well jurors' Likert scores track the truth; defaults 0.45/0.55/0.65/0.75 from 4B to 32B",
        values: &[-0.3, -0.15, 0.0, 0.1, 0.2],
        current: |_| 0.0,
        set: |s, v| {
            for a in &mut s.agents {
                a.juror.accuracy = (a.juror.accuracy + v).clamp(0.0, 1.0);
            }
        },
    },
    Sensitivity {
        name: "juror `self_bias` (every agent)",
        what: "latent units a juror adds to its own plans",
        values: &[0.0, 0.15, 0.3, 0.6],
        current: |s| s.agents.first().map_or(f64::NAN, |a| a.juror.self_bias),
        set: |s, v| {
            for a in &mut s.agents {
                a.juror.self_bias = v;
            }
        },
    },
    Sensitivity {
        name: "`standins.jury_shared_noise`",
        what: "share of a juror's noise common to the whole jury of a plan",
        values: &[0.0, 0.25, 0.5, 0.75],
        current: |s| s.standins.jury_shared_noise,
        set: |s, v| s.standins.jury_shared_noise = v,
    },
    Sensitivity {
        name: "`standins.lesson_min_similarity`",
        what: "similarity below which a past task teaches a refining agent nothing",
        values: &[0.3, 0.4, 0.5, 0.6, 0.7],
        current: |s| s.standins.lesson_min_similarity,
        set: |s, v| s.standins.lesson_min_similarity = v,
    },
    Sensitivity {
        name: "`standins.failed_lesson_weight`",
        what: "weight of a past task whose winner failed, relative to one whose winner succeeded",
        values: &[0.0, 0.25, 0.5, 1.0],
        current: |s| s.standins.failed_lesson_weight,
        set: |s, v| s.standins.failed_lesson_weight = v,
    },
    Sensitivity {
        name: "`standins.length_failure_correlation`",
        what: "how much longer plans and traces run when the fit is poor",
        values: &[0.0, 0.15, 0.3, 0.5],
        current: |s| s.standins.length_failure_correlation,
        set: |s, v| s.standins.length_failure_correlation = v,
    },
    Sensitivity {
        name: "`workload.topic_spread`",
        what: "spread of tasks around their topic's centroid in embedding space (how similar a topic's tasks look)",
        values: &[0.3, 0.6, 0.9, 1.2],
        current: |s| s.workload.topic_spread,
        set: |s, v| s.workload.topic_spread = v,
    },
    Sensitivity {
        name: "plan entropy `sd` (every agent)",
        what: "spread of plans' mean per-token entropy",
        values: &[0.1, 0.25, 0.5],
        current: |s| s.agents.first().map_or(f64::NAN, |a| a.entropy.sd),
        set: |s, v| {
            for a in &mut s.agents {
                a.entropy.sd = v;
            }
        },
    },
    Sensitivity {
        name: "plan length `median` (every agent)",
        what: "tokens in a typical plan (the paper: a few hundred)",
        values: &[110.0, 220.0, 440.0],
        current: |s| s.agents.first().map_or(f64::NAN, |a| a.plan_tokens.median),
        set: |s, v| {
            for a in &mut s.agents {
                a.plan_tokens.median = v;
            }
        },
    },
];

/// What a run reports beyond its summary: SALE's allocation along the stream and how each agent
/// fares when SALE picks it.
struct SaleDetail {
    /// For SALE, then SALE without memory: per agent, its share of the wins in the first tenth
    /// of the stream, in the second half, and pass@1 on the tasks it was given (NaN when none).
    allocation: Vec<(String, Allocation)>,
    /// Every SALE's weights as fitted: (name, w_c, w_h, the juror weights in agent order, none
    /// without a jury).
    weights: Vec<(String, f64, f64, Vec<f64>)>,
}

/// Every SALE's weights, from the prepared scenario (where fits have written them).
fn fitted_weights(scenario: &Scenario) -> Vec<(String, f64, f64, Vec<f64>)> {
    let agents: Vec<&str> = scenario.agents.iter().map(|a| a.name.as_str()).collect();
    scenario
        .mechanisms
        .iter()
        .filter_map(MechanismSpec::get::<SaleParams>)
        .map(|p| {
            let c = p.config(&agents);
            let jury = if p.jury == tender_engine::mechanisms::sale::Jury::Off { Vec::new() } else { c.w_jury };
            (p.display_name(), c.w_c, c.w_h, jury)
        })
        .collect()
}

/// Per agent: its name, its share of the wins in the first tenth of the stream and in the second
/// half, and pass@1 on the tasks it was given.
type Allocation = Vec<(String, f64, f64, f64)>;

fn allocation(batch: &tender_engine::BatchResult, mechanism: &str) -> Option<Allocation> {
    let m = batch.mechanisms.iter().position(|c| c.name == mechanism)?;
    let n = batch.agents.len();
    let (mut early, mut late, mut picked, mut solved) = (vec![0u64; n], vec![0u64; n], vec![0u64; n], vec![0u64; n]);
    let (mut early_total, mut late_total) = (0u64, 0u64);
    for run in batch.runs.iter().filter(|r| usize::from(r.mechanism) == m) {
        let len = run.records.len() as u32;
        for r in &run.records {
            let a = usize::from(r.winner);
            picked[a] += 1;
            solved[a] += u64::from(r.success);
            if r.step * 10 < len {
                early[a] += 1;
                early_total += 1;
            } else if r.step * 2 >= len {
                late[a] += 1;
                late_total += 1;
            }
        }
    }
    let frac = |x: u64, t: u64| if t == 0 { f64::NAN } else { x as f64 / t as f64 };
    Some(
        (0..n)
            .map(|a| {
                (
                    batch.agents[a].name.clone(),
                    frac(early[a], early_total),
                    frac(late[a], late_total),
                    frac(solved[a], picked[a]),
                )
            })
            .collect(),
    )
}

/// Run a scenario and summarise it; `out` (if given) gets summary.csv, tasks.csv and the plots.
fn run(scenario: &Scenario, file: &Path, jobs: Option<usize>, out: Option<&Path>) -> Result<(Summary, SaleDetail)> {
    let prepared = prepare(scenario.clone(), file, &LiveOptions::default())?.prepared;
    let scenario = &prepared.scenario;
    let bar = progress_bar(u64::from(scenario.episodes) * prepared.mechanisms.len() as u64, RUNS);
    let batch = prepared.run(&prepared.options(jobs), &|| bar.inc(1))?;
    bar.finish_and_clear();
    let summary = summarise(&batch, &scenario.workload);
    let detail = SaleDetail {
        allocation: ["SALE", "SALE (no memory)"]
            .iter()
            .filter_map(|m| allocation(&batch, m).map(|a| ((*m).to_string(), a)))
            .collect(),
        weights: fitted_weights(scenario),
    };
    if let Some(out) = out {
        let routing = tender_analysis::routing::routing(&batch);
        let files = RunFiles {
            scenario,
            batch: &batch,
            summary: &summary,
            routing: routing.as_ref(),
            tasks: TaskRows::Csv,
            format: crate::cli::Format::Csv,
            plots: true,
        };
        let staged = crate::results::Staged::new(out, "reproduce", &[])?;
        write_run(staged.path(), out, &files)?;
        staged.commit()?;
    }
    Ok((summary, detail))
}

fn est(s: &Summary, mechanism: &str, scope: &Scope, metric: &Metric) -> Option<Estimate> {
    let m = s.mechanisms.iter().position(|n| n == mechanism)?;
    s.get(m, scope, metric).copied()
}

fn pm(e: Option<Estimate>, scale: f64, decimals: usize) -> String {
    tender_analysis::table::cell(e.as_ref(), scale, decimals)
}

fn mean(e: Option<Estimate>) -> f64 {
    e.map_or(f64::NAN, |e| e.mean)
}

pub fn reproduce(args: &ReproduceArgs) -> Result<()> {
    // The tracked report only at the documented episode counts, unless asked.
    let documented = args.episodes.is_none() && args.sweep_episodes.is_none();
    let report = args.out.clone().unwrap_or_else(|| {
        if documented { PathBuf::from("docs/reproduction.md") } else { args.results.join("reproduction.md") }
    });
    crate::results::check_own_file(&report, GENERATED)?;
    // Every results folder is checked before the runs, not after them.
    for d in &published()? {
        crate::results::check_replaceable(&args.results.join(&d.file), &[])?;
    }
    let sweep_episodes = args.sweep_episodes.unwrap_or(SWEEP_EPISODES);
    let figures = report.parent().unwrap_or(Path::new(".")).join("reproduction");
    std::fs::create_dir_all(&figures).with_context(|| format!("cannot create {}", figures.display()))?;
    let mut doc = String::new();
    let mut sections = Vec::new();
    let mut inputs = Vec::new();
    for d in &published()? {
        let file = args.scenarios.join(format!("{}.ron", d.file));
        let mut scenario = load(&file)?;
        if let Some(e) = args.episodes {
            scenario.episodes = e;
        }
        let results = args.results.join(&d.file);
        emit(&format!("{}: {} episodes of every method", d.title, scenario.episodes))?;
        let (main, detail) = run(&scenario, &file, args.threads.jobs, Some(&results))?;
        emit(&format!("{}: what pins each calibrated parameter", d.title))?;
        let problem = Problem::new(&scenario, args.threads.jobs)?;
        // The profiles at the episode count the calibration evaluated, so they judge the same
        // distance it minimised.
        let fit_episodes = args.sweep_episodes.unwrap_or(problem.episodes());
        let pins = problem.attribution(fit_episodes)?;
        emit(&format!("{}: how well the targets pin each parameter (profiles)", d.title))?;
        let profiles = problem.profiles(&problem.start()?, fit_episodes)?;
        let measured = Measured { summary: main, batch: None };
        let fit = Fit { achieved: problem.achieved(&measured)?, pins, profiles, problem: &problem };
        let main = measured.summary;
        let copied = copy_figures(&results, &figures, &d.file)?;

        let mut base = first_sale(&scenario).cloned().context("the scenario has no SALE")?;
        base.name = None;

        let mut sweeps = Vec::new();
        for sens in &SENSITIVITIES {
            let mut points = Vec::new();
            if sens.path().is_some_and(|path| calibrates(&scenario, path)) {
                sweeps.push(points);
                continue;
            }
            emit(&format!("{}: sensitivity to {}", d.title, sens.name))?;
            for &v in sens.values {
                let mut s = scenario.clone();
                s.episodes = sweep_episodes;
                s.mechanisms = sensitivity_mechanisms(&base);
                s.calibrate = None;
                (sens.set)(&mut s, v);
                points.push((v, run(&s, &file, args.threads.jobs, None)?.0));
            }
            sweeps.push(points);
        }
        sections.push(domain_section(d, &scenario, &main, &fit, &detail, &sweeps, &copied));
        inputs.push(inputs_section(d, &scenario));
    }
    doc.push_str(&header(args));
    for s in &sections {
        doc.push_str(s);
    }
    doc.push_str(CALIBRATION);
    for s in &inputs {
        doc.push_str(s);
    }
    doc.push_str(READING);
    output::write_atomic(&report, |w| w.write_all(doc.as_bytes()))?;
    emit(&format!("Written {} and its figures in {}/", report.display(), figures.display()))
}

/// Copy the run's figures next to the report; returns (caption, path relative to the report).
fn copy_figures(results: &Path, figures: &Path, key: &str) -> Result<Vec<(String, String)>> {
    let mut out = Vec::new();
    for (stem, caption) in [
        (
            "cost_vs_pass",
            "Cost against pass@1 for every method (95% whiskers, Pareto frontier; cost per million tokens processed, auction calls included, where the table divides by the tokens delivered)",
        ),
        ("pass_by_bin", "pass@1 per complexity bin"),
        ("shares_by_bin", "Who executes, per complexity bin (allocation)"),
        ("learning_curve", "Learning curve: the 4B agent's cumulative share of SALE's wins along the stream"),
    ] {
        let from = results.join(format!("{stem}.png"));
        let name = format!("{key}-{stem}.png");
        std::fs::copy(&from, figures.join(&name)).with_context(|| format!("cannot copy {}", from.display()))?;
        out.push((caption.to_string(), format!("reproduction/{name}")));
    }
    Ok(out)
}

/// How the report begins: `tender reproduce` replaces only a report holding it.
const GENERATED: &str = "Generated by `cargo run --release -- reproduce`";

fn header(args: &ReproduceArgs) -> String {
    format!(
        "# Reproducing the SALE paper in calibrated simulation\n\n\
         *{GENERATED} (`tender reproduce{}`); do not edit by hand: rerun it.* \
         Every number below was measured by that command on the scenarios in `scenarios/sale-paper/`; the \
         paper's numbers are from Alazraki et al., ICML 2026, Table 1 and section 5 (see \
         `../shared/design/sale-paper.md`). Intervals are Student-t 95% over episodes. Each scenario runs \
         five fixed task orders (`order: Orders(5)`, as the paper's five random orders) with fresh draws in \
         every replication.\n\n",
        args.episodes.map_or_else(String::new, |e| format!(" --episodes {e}"))
    )
}

/// Tolerances per tenth of a parameter's range below which the targets hardly constrain it.
const WEAKLY_PINNED: f64 = 0.25;

/// A domain's calibration as the main run achieved it.
struct Fit<'a> {
    achieved: Vec<Achieved<'a>>,
    /// Per free parameter: the target it moves most, and by how many tolerances per tenth of its
    /// range.
    pins: Vec<(usize, f64)>,
    profiles: Vec<Profile>,
    problem: &'a Problem,
}

#[allow(clippy::too_many_arguments)]
fn domain_section(
    d: &Domain,
    scenario: &Scenario,
    main: &Summary,
    fit: &Fit<'_>,
    detail: &SaleDetail,
    sweeps: &[Vec<(f64, Summary)>],
    figures: &[(String, String)],
) -> String {
    let all = Scope::All;
    let mut s = String::new();
    let _ = writeln!(
        s,
        "## {}\n\n{} episodes ({} per task order) × {} tasks; training: a separately drawn task set.\n",
        d.title,
        scenario.episodes,
        scenario.episodes / 5,
        scenario.workload.task_count()
    );
    let _ = writeln!(s, "### Table 1, beside the paper\n");
    let _ = writeln!(s, "| method | Tender pass@1 % | paper pass@1 % | Tender $ / M tokens | paper $ / M tokens |");
    let _ = writeln!(s, "|---|---|---|---|---|");
    // (Tender's mechanism, the row's label, the paper's cells with a slot for Tender's cost)
    let mut rows: Vec<(&str, String, String)> = d
        .table
        .iter()
        .map(|(m, label, p, c)| (m.as_str(), format!("{label} (`{m}`)"), format!("{p:.1} | {{}} | {c:.2}")))
        .collect();
    rows.push((
        "oracle",
        "Oracle: every agent once, the cheapest correct answer (`oracle`)".into(),
        format!("{:.1} | {{}} | —", d.oracle),
    ));
    for m in &main.mechanisms {
        if !rows.iter().any(|r| r.0 == m) {
            rows.push((m.as_str(), format!("`{m}` (not in the paper's table)"), "— | {} | —".into()));
        }
    }
    for (m, label, paper) in &rows {
        let pass = pm(est(main, m, &all, &Metric::PassAt1), 100.0, 1);
        let cost = pm(est(main, m, &all, &Metric::CostPerDeliveredMTok), 1.0, 3);
        let _ = writeln!(s, "| {label} | {pass} | {} |", paper.replacen("{}", &cost, 1));
    }
    let reliance = est(main, "SALE", &all, &Metric::RelianceReduction);
    let cost_cut = est(main, "SALE", &all, &Metric::CostReduction);
    let overhead = est(main, "SALE", &all, &Metric::OverheadTokenShare);
    let _ = writeln!(
        s,
        "\nCost is dollars per million tokens of the delivered executions plus the auction (the paper's \
         measure: the 32B agent alone scores its price, and a cascade scores above it because it pays for \
         discarded attempts). The oracle with best refinements also credits each agent's best plan from a \
         full memory: an upper bound on every mechanism, not the paper's oracle.\n\n\
         | SALE against the 32B agent alone | Tender | paper |\n|---|---|---|\n\
         | reliance on the 32B agent falls by | {} % | {:.0} % |\n\
         | $ per million tokens falls by | {} % | {:.0} % |\n\
         | pass@1 gain, points | {:+.1} | {:+.1} |\n\
         | auction share of all tokens (prediction) | {} % | under 1 % |\n",
        pm(reliance, 100.0, 1),
        d.reliance_cut,
        pm(cost_cut, 100.0, 1),
        d.cost_cut,
        100.0
            * (mean(est(main, "SALE", &all, &Metric::PassAt1))
                - mean(est(main, "qwen3-32b alone", &all, &Metric::PassAt1))),
        d.table[1].2 - d.table[0].2,
        pm(overhead, 100.0, 2),
    );
    // The calibration.
    let missed = fit.achieved.iter().filter(|a| !a.within()).count();
    let _ = writeln!(
        s,
        "### Calibration fit\n\n`tender calibrate scenarios/sale-paper/{}.ron` fitted the free parameters below to \
         these targets (shares and cuts as fractions, costs in $ per million tokens). Achieved values are this \
         run's; {} of {} targets lie outside their tolerance.\n\n{}",
        d.file,
        missed,
        fit.achieved.len(),
        fit_table(&fit.achieved)
    );
    let _ = writeln!(
        s,
        "| calibrated parameter | range | value | moves most (tolerances per tenth of the range) | values that fit as well | pinned |\n|---|---|---|---|---|---|"
    );
    let values = fit.problem.start().map(|x| fit.problem.values(&x)).unwrap_or_default();
    for (((p, v), (t, dz)), profile) in fit.problem.spec().params.iter().zip(&values).zip(&fit.pins).zip(&fit.profiles)
    {
        let target = &fit.problem.spec().targets[*t];
        let mut tied = if p.also.is_empty() { String::new() } else { format!(" (also {})", p.also.join(", ")) };
        if p.path.starts_with("mechanisms.") {
            // A router's one trade-off knob, unpublished: placed at the paper's operating point.
            tied.push_str(" (a router's trade-off knob, placed at the paper's operating point)");
        }
        let weak = if *dz < WEAKLY_PINNED { "weakly: " } else { "" };
        let (lo, hi) = profile.fitting();
        let pinned = if profile.pinned(p.min, p.max) { "yes" } else { "**no**" };
        let _ = writeln!(
            s,
            "| `{}`{tied} | [{}, {}] | {v:.4} | {weak}{} {} ({dz:.2}) | {lo:.3} to {hi:.3} | {pinned} |",
            p.path, p.min, p.max, target.mechanism, target.metric
        );
    }
    let _ = writeln!(
        s,
        "\n*Moves most*: the target the parameter moves most when nudged by a tenth of its range (*weakly*: \
         by less than a quarter of its tolerance). *Values that fit as well*: the parameter alone moved to \
         {PROFILE_POINTS} evenly spaced values of its range, the others held; those whose distance stays within \
         {PROFILE_SLACK} (one tolerance, squared) of the best fit as well. A parameter is *pinned* when they span \
         at most {:.0}% of its range; one that is not is one of many values that fit as well, and reads as an \
         assumption, not a measurement.\n",
        PINNED_SHARE * 100.0
    );
    // Per-bin pass@1.
    let bins: Vec<f64> = main.domains.first().map(|(_, b)| b.clone()).unwrap_or_default();
    let _ = writeln!(
        s,
        "### Out-of-sample predictions\n\nNothing in this section was a calibration target.\n\n#### pass@1 per complexity bin (%)\n"
    );
    let _ = write!(s, "| method |");
    for b in &bins {
        let _ = write!(s, " τ ≤ {b} |");
    }
    let _ = writeln!(s, "\n|---|{}", "---|".repeat(bins.len()));
    for m in ["SALE", "SALE (no memory)", "qwen3-4b alone", "qwen3-32b alone", "oracle"] {
        let _ = write!(s, "| {m} |");
        for b in 0..bins.len() {
            let _ = write!(s, " {} |", pm(est(main, m, &Scope::Bin(0, b as u8), &Metric::PassAt1), 100.0, 1));
        }
        let _ = writeln!(s);
    }
    let _ = write!(s, "| paper, Qwen3-32B alone |");
    for b in 0..bins.len() {
        let published = d.bins_32b.iter().find(|(i, _)| *i == b).map_or("—".to_string(), |(_, v)| format!("{v:.1}"));
        let _ = write!(s, " {published} |");
    }
    let small = |b: usize| mean(est(main, "qwen3-4b alone", &Scope::Bin(0, b as u8), &Metric::PassAt1));
    let large = |b: usize| mean(est(main, "qwen3-32b alone", &Scope::Bin(0, b as u8), &Metric::PassAt1));
    let last = bins.len().saturating_sub(1);
    let _ = writeln!(
        s,
        "\n\n4B/32B pass@1 ratio (an input of the skill table): easiest bin {:.2} (paper {:.2}), hardest bin {:.2} (paper {:.2}).\n",
        small(0) / large(0),
        d.ratios.0,
        small(last) / large(last),
        d.ratios.1
    );
    let _ = writeln!(
        s,
        "#### SALE's allocation along the stream\n\nShare of the wins in the first tenth of each task stream and in \
         its second half, and pass@1 on the tasks each agent was given. The paper reports that the smallest agent's \
         share of SALE's wins starts at a few percent and rises severalfold as memory fills, and that without \
         memory it does not rise.\n"
    );
    let mut rises = Vec::new();
    for (mechanism, agents) in &detail.allocation {
        let _ = writeln!(
            s,
            "{mechanism}:\n\n| agent | share, first tenth % | share, second half % | pass@1 when picked % |\n|---|---|---|---|"
        );
        for (name, early, late, pass) in agents {
            let _ = writeln!(s, "| {name} | {:.1} | {:.1} | {:.1} |", 100.0 * early, 100.0 * late, 100.0 * pass);
        }
        if let Some((name, early, late, _)) = agents.first() {
            let _ = writeln!(
                s,
                "\nUnder {mechanism}, {name}'s share goes from {:.1}% to {:.1}%, a factor of {:.2}.\n",
                100.0 * early,
                100.0 * late,
                late / early
            );
            rises.push((mechanism.as_str(), late / early));
        }
    }
    if let [(_, with), (_, without)] = rises[..] {
        let holds = with >= RISES_SEVERALFOLD && without < RISES_SEVERALFOLD;
        let _ = writeln!(
            s,
            "The paper's claim (the smallest agent's share rises at least {RISES_SEVERALFOLD}-fold with memory, and not \
             without it) {}: a factor of {with:.2} with memory, {without:.2} without.\n",
            if holds { "**holds**" } else { "**does not hold**" }
        );
    }
    for (caption, path) in figures {
        let _ = writeln!(s, "![{caption}]({path})\n\n*{caption}.*\n");
    }
    // Ablations, each refitted on the features it keeps.
    let _ = writeln!(
        s,
        "#### SALE ablations (targets, each within ± {ABLATION_TOLERANCE} points)\n\nEvery variant's weights were fitted \
         on the training split on the features it keeps (`fit:` in the scenario); none was calibrated. Weights are \
         raw: `w_c` per ($ per M tokens × plan token), `w_h` per unit of entropy, jurors' weights in pool order.\n\n\
         | variant | Tender pass@1 % | paper pass@1 % | within | $ / M tokens | 32B share % | fitted `w_c` | fitted `w_h` | fitted juror weights |\n\
         |---|---|---|---|---|---|---|---|---|"
    );
    for (m, paper) in &d.ablations {
        let pass = est(main, m, &all, &Metric::PassAt1);
        let within = if (100.0 * mean(pass) - paper).abs() <= ABLATION_TOLERANCE { "yes" } else { "**no**" };
        let (w_c, w_h, jury) = detail.weights.iter().find(|w| w.0 == *m).map_or(
            (String::from("—"), String::from("—"), String::from("—")),
            |w| {
                let jury: Vec<String> = w.3.iter().map(|j| format!("{j:.2}")).collect();
                let jury = if jury.is_empty() { String::from("(no jury)") } else { jury.join(" / ") };
                (format!("{:.5}", w.1), format!("{:.3}", w.2), jury)
            },
        );
        let _ = writeln!(
            s,
            "| {m} | {} | {paper:.1} | {within} | {} | {} | {w_c} | {w_h} | {jury} |",
            pm(pass, 100.0, 1),
            pm(est(main, m, &all, &Metric::CostPerDeliveredMTok), 1.0, 3),
            pm(est(main, m, &all, &Metric::Share(main.largest)), 100.0, 1),
        );
    }
    // Sensitivity.
    let _ = writeln!(s, "\n### Sensitivity to what neither the paper nor the calibration pins down\n");
    for (sens, points) in SENSITIVITIES.iter().zip(sweeps) {
        if points.is_empty() {
            let _ = writeln!(s, "**{}**: calibrated in this domain (the fit table above), not swept.\n", sens.name);
            continue;
        }
        let current = (sens.current)(scenario);
        let episodes = points.first().map_or(0, |(_, p)| p.episodes);
        let _ = writeln!(
            s,
            "**{}**: {}. {} episodes per value; the scenario's value is marked.\n\n\
             | value | SALE pass@1 % | 32B alone pass@1 % | SALE $ / M tokens | SALE's 32B share % | memory's gain, points | SALE's auction share of tokens % |\n\
             |---|---|---|---|---|---|---|",
            sens.name, sens.what, episodes
        );
        for (v, p) in points {
            let mark = if (*v - current).abs() < 1e-12 { " (scenario)" } else { "" };
            let sale = est(p, "SALE", &all, &Metric::PassAt1);
            let nomem = est(p, "SALE (no memory)", &all, &Metric::PassAt1);
            let _ = writeln!(
                s,
                "| {v}{mark} | {} | {} | {} | {} | {:+.1} | {} |",
                pm(sale, 100.0, 1),
                pm(est(p, "qwen3-32b alone", &all, &Metric::PassAt1), 100.0, 1),
                pm(est(p, "SALE", &all, &Metric::CostPerDeliveredMTok), 1.0, 3),
                pm(est(p, "SALE", &all, &Metric::Share(p.largest)), 100.0, 1),
                100.0 * (mean(sale) - mean(nomem)),
                pm(est(p, "SALE", &all, &Metric::OverheadTokenShare), 100.0, 2),
            );
        }
        let _ = writeln!(s);
    }
    if missed > 0 {
        let _ = writeln!(s, "### Targets this calibration misses\n");
        for a in fit.achieved.iter().filter(|a| !a.within()) {
            let _ = writeln!(
                s,
                "- {} `{}`: target {} ± {}, achieved {:.3} ± {:.3}.",
                a.target.mechanism,
                a.target.metric,
                a.target.value,
                a.target.tolerance,
                a.estimate.mean,
                a.estimate.half_width()
            );
        }
        let _ = writeln!(s);
    }
    s
}

/// The stand-in inputs of one domain, read from its scenario.
fn inputs_section(d: &Domain, scenario: &Scenario) -> String {
    let mut s = format!(
        "### {}: the stand-ins' inputs\n\n| agent | price $ / M tokens | pass@1 per bin | median plan tokens | juror accuracy | self-bias | memory gain |\n|---|---|---|---|---|---|---|\n",
        d.title
    );
    for a in &scenario.agents {
        let skill: Vec<String> = a.skill.values().flatten().map(|p| format!("{p:.3}")).collect();
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {} | {} | {:.3} |",
            a.name,
            a.price,
            skill.join(", "),
            a.plan_tokens.median,
            a.juror.accuracy,
            a.juror.self_bias,
            a.memory_gain
        );
    }
    let st = &scenario.standins;
    let _ = writeln!(
        s,
        "\nPool-wide: shared difficulty {:.3}, topic affinity {:.3}, entropy signal {:.3}, skill signal {:.3}, \
         jurors' verbosity bias {:.3} per unit of log plan length, self-knowledge {:.3}, lesson half-saturation {:.2} (minimum \
         similarity {:.2}), refinement noise correlation {:.3}, complementary topics {:.3} at strength {:.3} \
         ({:.3} of tasks complementary on their own, not by topic); task-embedding complexity signal {:.3}.\n",
        st.shared_difficulty,
        st.topic_affinity,
        st.entropy_signal,
        st.skill_signal,
        st.verbosity_bias,
        st.self_knowledge,
        st.lesson_half,
        st.lesson_min_similarity,
        st.refine_noise_correlation,
        st.complementary_topics,
        st.complementary_strength,
        st.complementary_by_task,
        scenario.workload.complexity_signal
    );
    s
}
