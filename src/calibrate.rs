//! `tender calibrate`: simulation-based calibration of a scenario's free parameters to target
//! numbers (published results or a recorded table), by Nelder-Mead over common random numbers.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::Mutex;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use argmin::core::{CostFunction, Executor};
use argmin::solver::neldermead::NelderMead;
use serde_json::Value;
use tender_agents::Backend;
use tender_agents::observe::{Behaviour, Observed};
use tender_analysis::metrics::{Scope, Summary};
use tender_analysis::routing::CurveMetric;
use tender_analysis::{Estimate, output, summarise};
use tender_engine::calibration::{CalibrationSpec, Target};
use tender_engine::mechanisms::baselines::{EachAgent, Oracle};
use tender_engine::sweep::Point;
use tender_engine::{BatchResult, MechanismSpec, Prepared, Role, RunOptions, Scenario};

use crate::backends::load;
use crate::backends::{LiveOptions, prepare};
use crate::cli::CalibrateArgs;
use crate::io::{emit, progress_bar, write_scenario};

/// The calibration problem: free parameters scaled to [0, 1], targets, and the scenario (with
/// only the mechanisms the targets name) that every evaluation runs on the same seeds.
pub struct Problem {
    base: Scenario,
    spec: CalibrationSpec,
    jobs: Option<usize>,
    evaluations: Mutex<Evaluations>,
}

/// What the optimiser has seen so far.
#[derive(Default)]
struct Evaluations {
    count: u64,
    best: Option<(f64, Vec<f64>)>,
    on_eval: Option<Box<dyn Fn(u64, f64) + Send>>,
}

/// One target as achieved.
pub struct Achieved<'a> {
    pub target: &'a Target,
    pub estimate: Estimate,
}

impl Achieved<'_> {
    #[must_use]
    pub fn within(&self) -> bool {
        (self.estimate.mean - self.target.value).abs() <= self.target.tolerance
    }

    /// Distance to the target in tolerances.
    #[must_use]
    pub fn z(&self) -> f64 {
        (self.estimate.mean - self.target.value) / self.target.tolerance
    }
}

/// A run's summary and, where joint metrics need them, its records.
pub struct Measured {
    pub summary: Summary,
    pub batch: Option<tender_engine::BatchResult>,
}

/// The metric id of joint success: the share of tasks on which two mechanisms (`A & B`, say
/// `small alone & big alone`) both succeed, per episode.
pub const JOINT: &str = "joint_success";
const JOINT_SEPARATOR: &str = " & ";

/// Joint success of the two mechanisms `pair` names, paired by episode and arrival position.
pub fn joint_success(batch: &tender_engine::BatchResult, pair: &str) -> Result<Estimate> {
    let (a, b) = pair
        .split_once(JOINT_SEPARATOR)
        .with_context(|| format!("`{JOINT}` needs two mechanisms, `A{JOINT_SEPARATOR}B`, not {pair:?}"))?;
    let index = |name: &str| {
        batch
            .mechanisms
            .iter()
            .position(|m| m.name == name)
            .map(|i| i as u16)
            .with_context(|| format!("no mechanism {name:?}"))
    };
    let (ia, ib) = (index(a)?, index(b)?);
    let per_episode = batch.runs.iter().filter(|r| r.mechanism == ia).filter_map(|ra| {
        let rb = batch.runs.iter().find(|r| r.mechanism == ib && r.episode == ra.episode)?;
        let both = ra.records.iter().zip(&rb.records).filter(|(x, y)| x.success && y.success).count();
        Some(both as f64 / ra.records.len().max(1) as f64)
    });
    Ok(Estimate::of(per_episode))
}

/// The distance of a point the scenario refuses.
const INFEASIBLE: f64 = 1e9;

/// What a paired metric needs beside the mechanism: an agent alone (the largest) or the oracle.
fn reference_of(metric: &str) -> Option<fn(Role) -> bool> {
    if CurveMetric::parse(metric).is_some() {
        return Some(|r| matches!(r, Role::Alone(_)));
    }
    match metric {
        "largest_reliance_reduction" | "cost_reduction_vs_largest" | "spend_reduction_vs_largest" => {
            Some(|r| matches!(r, Role::Alone(_)))
        }
        "oracle_gap" => Some(|r| r == Role::Oracle),
        _ => None,
    }
}

impl Problem {
    /// The scenario's calibration, with its mechanisms cut to those the targets read.
    pub fn new(scenario: &Scenario, jobs: Option<usize>) -> Result<Self> {
        let spec = scenario.calibrate.clone().context("the scenario has no `calibrate:` block")?;
        let mut base = scenario.clone();
        let wanted: Vec<&str> = spec.targets.iter().flat_map(|t| t.mechanism.split(JOINT_SEPARATOR)).collect();
        let paired: Vec<fn(Role) -> bool> = spec.targets.iter().filter_map(|t| reference_of(&t.metric)).collect();
        let keep: Vec<bool> = scenario.with_pool(|pool| {
            scenario
                .mechanisms
                .iter()
                .map(|m| {
                    m.resolve(pool).iter().any(|r| {
                        wanted.contains(&r.name.as_str())
                            || r.curve.as_deref().is_some_and(|c| wanted.contains(&c))
                            || paired.iter().any(|p| p(r.role()))
                    })
                })
                .collect()
        });
        let mut keep = keep.into_iter();
        base.mechanisms.retain(|_| keep.next().unwrap_or(false));
        base.calibrate = None;
        base.sweep = None;
        // A router's curve is named by its points' `curve`.
        let names: Vec<String> =
            base.resolve_mechanisms().into_iter().flat_map(|r| std::iter::once(r.name).chain(r.curve)).collect();
        if spec.targets.is_empty() {
            bail!("the calibration has no targets: list them in `calibrate.targets` or give `--targets-from`");
        }
        for m in spec.targets.iter().flat_map(|t| t.mechanism.split(JOINT_SEPARATOR)) {
            if !names.iter().any(|n| n == m) {
                bail!(
                    "calibration target names mechanism {m:?}, which the scenario does not have; it has: {}",
                    names.join(", ")
                );
            }
        }
        Ok(Self { base, spec, jobs, evaluations: Mutex::new(Evaluations::default()) })
    }

    /// Parameter values from a point of the unit cube.
    #[must_use]
    pub fn values(&self, x: &[f64]) -> Vec<f64> {
        self.spec.params.iter().zip(x).map(|(p, &u)| p.min + u.clamp(0.0, 1.0) * (p.max - p.min)).collect()
    }

    /// The scenario with the free parameters at `values`.
    pub fn scenario_at(&self, base: &Scenario, values: &[f64]) -> Result<Scenario> {
        let assignments = self
            .spec
            .params
            .iter()
            .zip(values)
            .flat_map(|(p, &v)| std::iter::once(&p.path).chain(&p.also).map(move |path| (path.clone(), Value::from(v))))
            .collect();
        Ok(base.at(&Point { index: 0, assignments })?)
    }

    /// The scenario's own values of the free parameters, in the unit cube.
    pub fn start(&self) -> Result<Vec<f64>> {
        self.spec
            .params
            .iter()
            .map(|p| {
                let v = self
                    .base
                    .value_at(&p.path)?
                    .as_f64()
                    .with_context(|| format!("calibration parameter {} is not a number", p.path))?;
                Ok(((v - p.min) / (p.max - p.min)).clamp(0.0, 1.0))
            })
            .collect()
    }

    /// Run `scenario` for `episodes` from its seed and summarise.
    fn simulate(&self, scenario: &Scenario, episodes: u32) -> Result<Measured> {
        let prepared = Prepared::synthetic(scenario.clone()).map_err(|e| anyhow::anyhow!("{e}"))?;
        let batch = prepared.run(&RunOptions { episodes, ..prepared.options(self.jobs) }, &|| {})?;
        let summary = summarise(&batch, &scenario.workload);
        Ok(Measured { summary, batch: Some(batch) })
    }

    /// Every target as achieved in a run.
    pub fn achieved<'a>(&'a self, run: &Measured) -> Result<Vec<Achieved<'a>>> {
        let summary = &run.summary;
        self.spec
            .targets
            .iter()
            .map(|t| {
                if let Some(metric) = CurveMetric::parse(&t.metric) {
                    let batch = run.batch.as_ref().context("a router's curve needs the run's records")?;
                    let estimate = metric
                        .estimate(batch, &t.mechanism)
                        .map_err(|e| anyhow::anyhow!("calibration target {} / {}: {e}", t.mechanism, t.metric))?;
                    return Ok(Achieved { target: t, estimate });
                }
                if t.metric == JOINT {
                    let batch = run.batch.as_ref().context("joint success needs the run's records")?;
                    return Ok(Achieved { target: t, estimate: joint_success(batch, &t.mechanism)? });
                }
                let m = summary.mechanisms.iter().position(|n| *n == t.mechanism);
                let row = summary.rows.iter().find(|r| {
                    Some(r.mechanism) == m
                        && summary.scope_name(&r.scope) == t.scope
                        && r.metric.id(&summary.agents) == t.metric
                });
                let estimate = row.map(|r| r.estimate).with_context(|| {
                    format!(
                        "calibration target {} / {} / {}: no such estimate (scopes look like `all`, a domain's name, \
                         or `DOMAIN/tau<=MAX`; metrics are summary.csv's ids)",
                        t.mechanism, t.scope, t.metric
                    )
                })?;
                Ok(Achieved { target: t, estimate })
            })
            .collect()
    }

    /// Episodes per evaluation (the `calibrate:` block's, or `--episodes`).
    pub fn episodes(&self) -> u32 {
        self.spec.episodes
    }

    /// The tolerance-scaled squared distance at `x`.
    fn distance(&self, x: &[f64]) -> Result<f64> {
        self.distance_over(x, self.spec.episodes)
    }

    /// The distance at `x` over `episodes` episodes.
    fn distance_over(&self, x: &[f64], episodes: u32) -> Result<f64> {
        // Values the scenario refuses (ranges that depend on each other, such as
        // `shared_difficulty + topic_affinity <= 1`) are infeasible, not errors.
        let d = match self.scenario_at(&self.base, &self.values(x)) {
            Err(_) => INFEASIBLE,
            Ok(scenario) => {
                let run = self.simulate(&scenario, episodes)?;
                self.achieved(&run)?
                    .iter()
                    .map(|a| if a.estimate.mean.is_finite() { a.z().powi(2) } else { INFEASIBLE })
                    .sum()
            }
        };
        let mut ev = self.evaluations.lock().map_err(|_| anyhow::anyhow!("evaluation log poisoned"))?;
        ev.count += 1;
        if ev.best.as_ref().is_none_or(|(b, _)| d < *b) {
            ev.best = Some((d, x.iter().map(|u| u.clamp(0.0, 1.0)).collect()));
        }
        let best = ev.best.as_ref().map_or(d, |b| b.0);
        if let Some(f) = &ev.on_eval {
            f(ev.count, best);
        }
        Ok(d)
    }

    /// Minimise from `start` with Nelder-Mead for `iterations` steps; the best point seen.
    fn minimise(&self, start: &[f64], iterations: u32) -> Result<()> {
        let n = start.len();
        let mut simplex = vec![start.to_vec()];
        for i in 0..n {
            let mut v = start.to_vec();
            v[i] = if v[i] + 0.25 <= 1.0 { v[i] + 0.25 } else { v[i] - 0.25 };
            simplex.push(v);
        }
        let solver = NelderMead::new(simplex).with_sd_tolerance(1e-4)?;
        Executor::new(Cost(self), solver).configure(|s| s.max_iters(u64::from(iterations))).run()?;
        Ok(())
    }

    /// The best point evaluated so far and its distance.
    fn best(&self) -> Result<Option<(f64, Vec<f64>)>> {
        Ok(self.evaluations.lock().map_err(|_| anyhow::anyhow!("evaluation log poisoned"))?.best.clone())
    }

    /// Coordinate search from the best point so far: each parameter alone moved to the
    /// profile's values across its range ([`PROFILE_POINTS`]) and a twentieth and a tenth of the
    /// range either side of its best value, keeping every move that lowers the distance; up to
    /// `sweeps` sweeps, stopping after one that moved nothing.
    fn polish(&self, sweeps: u32) -> Result<()> {
        for _ in 0..sweeps {
            let Some((mut best, mut x)) = self.best()? else { return Ok(()) };
            let mut moved = false;
            for i in 0..x.len() {
                let grid = (0..PROFILE_POINTS).map(|k| k as f64 / (PROFILE_POINTS - 1) as f64);
                let near = [-0.1, -0.05, 0.05, 0.1].map(|d| x[i] + d);
                for u in grid.chain(near).filter(|u| (0.0..=1.0).contains(u)) {
                    if (u - x[i]).abs() < 1e-9 {
                        continue;
                    }
                    let mut trial = x.clone();
                    trial[i] = u;
                    let d = self.distance(&trial)?;
                    if d < best {
                        (best, x, moved) = (d, trial, true);
                    }
                }
            }
            if !moved {
                break;
            }
        }
        Ok(())
    }

    /// Calibrate: Nelder-Mead from the scenario's own values, then restarted `starts - 1`
    /// times from the best point so far with a fresh simplex (a stalled simplex in many
    /// dimensions often moves again), then `polish` sweeps of coordinate search. The best
    /// point in the unit cube, its distance and the number of evaluations.
    pub fn solve(&self, on_eval: Box<dyn Fn(u64, f64) + Send>) -> Result<(Vec<f64>, f64, u64)> {
        self.evaluations.lock().map_err(|_| anyhow::anyhow!("evaluation log poisoned"))?.on_eval = Some(on_eval);
        let mut start = self.start()?;
        for _ in 0..self.spec.starts {
            self.minimise(&start, self.spec.iterations)?;
            start = self.best()?.map_or(start, |b| b.1);
        }
        self.polish(self.spec.polish)?;
        let ev = self.evaluations.lock().map_err(|_| anyhow::anyhow!("evaluation log poisoned"))?;
        let (d, x) = ev.best.clone().context("the optimiser evaluated nothing")?;
        Ok((x, d, ev.count))
    }
}

impl Problem {
    /// For each free parameter at the scenario's values, the target it moves most when nudged
    /// by a tenth of its range (in tolerances): the number that pins it. Runs `episodes` per
    /// nudge on common random numbers.
    pub fn attribution(&self, episodes: u32) -> Result<Vec<(usize, f64)>> {
        let x = self.start()?;
        let at = |x: &[f64]| -> Result<Vec<f64>> {
            let scenario = self.scenario_at(&self.base, &self.values(x))?;
            let run = self.simulate(&scenario, episodes)?;
            Ok(self.achieved(&run)?.iter().map(Achieved::z).collect())
        };
        let centre = at(&x)?;
        (0..x.len())
            .map(|i| {
                let mut nudged = x.clone();
                nudged[i] = if x[i] + 0.1 <= 1.0 { x[i] + 0.1 } else { x[i] - 0.1 };
                let moved = at(&nudged)?;
                Ok(centre
                    .iter()
                    .zip(&moved)
                    .map(|(a, b)| (b - a).abs())
                    .enumerate()
                    .fold((0, 0.0), |best, (t, d)| if d > best.1 { (t, d) } else { best }))
            })
            .collect()
    }

    /// How well the targets pin each free parameter: its profile, the distance with the
    /// parameter alone moved across its range (`PROFILE_POINTS` values, ends included) and every
    /// other held at `x`, each point run for `episodes` episodes. Common random numbers make the
    /// profile smooth enough to read.
    pub fn profiles(&self, x: &[f64], episodes: u32) -> Result<Vec<Profile>> {
        let at_x = self.distance_over(x, episodes)?;
        (0..x.len())
            .map(|i| {
                let mut points = vec![(x[i], at_x)];
                for k in 0..PROFILE_POINTS {
                    let mut moved = x.to_vec();
                    moved[i] = k as f64 / (PROFILE_POINTS - 1) as f64;
                    points.push((moved[i], self.distance_over(&moved, episodes)?));
                }
                points.sort_by(|a, b| a.0.total_cmp(&b.0));
                let values = self.spec.params[i].min..=self.spec.params[i].max;
                let scale = |u: f64| values.start() + u * (values.end() - values.start());
                Ok(Profile { points: points.into_iter().map(|(u, d)| (scale(u), d)).collect() })
            })
            .collect()
    }

    /// The free parameters and targets.
    #[must_use]
    pub const fn spec(&self) -> &CalibrationSpec {
        &self.spec
    }
}

/// Values a profile tries across a parameter's range, ends included (besides its own value).
pub const PROFILE_POINTS: usize = 5;

/// How much worse a fit may be and still count as fitting as well: one tolerance, squared.
pub const PROFILE_SLACK: f64 = 1.0;

/// Share of its range a parameter's well-fitting values may span and still count as pinned.
pub const PINNED_SHARE: f64 = 0.5;

/// A parameter's profile: (value, distance) pairs in increasing order of value.
#[derive(Clone, Debug)]
pub struct Profile {
    pub points: Vec<(f64, f64)>,
}

impl Profile {
    /// The lowest and highest value tried that fit within [`PROFILE_SLACK`] of the best point
    /// of the profile.
    #[must_use]
    pub fn fitting(&self) -> (f64, f64) {
        let best = self.points.iter().map(|p| p.1).fold(f64::INFINITY, f64::min);
        let ok: Vec<f64> = self.points.iter().filter(|p| p.1 <= best + PROFILE_SLACK).map(|p| p.0).collect();
        (ok.iter().copied().fold(f64::INFINITY, f64::min), ok.iter().copied().fold(f64::NEG_INFINITY, f64::max))
    }

    /// Whether the well-fitting values span at most [`PINNED_SHARE`] of the range.
    #[must_use]
    pub fn pinned(&self, min: f64, max: f64) -> bool {
        let (lo, hi) = self.fitting();
        hi - lo <= PINNED_SHARE * (max - min)
    }
}

/// The identifiability table: for each free parameter, its value, the values that fit as well
/// and whether the targets pin it.
#[must_use]
pub fn identifiability_table(spec: &CalibrationSpec, values: &[f64], profiles: &[Profile]) -> String {
    let mut s = String::from(
        "| parameter | range | value | values that fit as well (profile) | pinned |\n|---|---|---|---|---|\n",
    );
    for ((p, v), prof) in spec.params.iter().zip(values).zip(profiles) {
        let (lo, hi) = prof.fitting();
        let pinned = if prof.pinned(p.min, p.max) { "yes" } else { "**no**" };
        let _ = writeln!(
            s,
            "| `{}` | [{}, {}] | {v:.4} | {} to {} | {pinned} |",
            p.path,
            p.min,
            p.max,
            short(lo),
            short(hi)
        );
    }
    let _ = writeln!(
        s,
        "\nEach parameter alone is moved to {PROFILE_POINTS} evenly spaced values of its range, the others held; \
         the values whose distance stays within {PROFILE_SLACK} (one tolerance, squared) of the best of them fit \
         as well. A parameter is pinned when those span at most {:.0}% of its range.",
        PINNED_SHARE * 100.0
    );
    s
}

/// argmin's view of the problem.
struct Cost<'a>(&'a Problem);

impl CostFunction for Cost<'_> {
    type Param = Vec<f64>;
    type Output = f64;

    fn cost(&self, x: &Self::Param) -> Result<f64, argmin::core::Error> {
        // Leaving the box costs the distance to it, so the simplex comes back.
        let outside: f64 = x.iter().map(|u| (u - u.clamp(0.0, 1.0)).abs()).sum();
        Ok(self.0.distance(x)? + 100.0 * outside)
    }
}

/// The fit table as Markdown.
#[must_use]
pub fn fit_table(achieved: &[Achieved<'_>]) -> String {
    let mut s = String::from(
        "| mechanism | scope | metric | target | tolerance | achieved (95% CI) | within | source |\n|---|---|---|---|---|---|---|---|\n",
    );
    for a in achieved {
        let t = a.target;
        let _ = writeln!(
            s,
            "| {} | {} | `{}` | {} | ± {} | {:.4} ± {:.4} | {} | {} |",
            t.mechanism,
            t.scope,
            t.metric,
            short(t.value),
            short(t.tolerance),
            a.estimate.mean,
            a.estimate.half_width(),
            if a.within() { "yes" } else { "**no**" },
            t.source
        );
    }
    s
}

/// A number with at most four decimals and no trailing zeros.
fn short(x: f64) -> String {
    let s = format!("{x:.4}");
    let s = s.trim_end_matches('0');
    s.strip_suffix('.').unwrap_or(s).to_string()
}

/// The calibrated values as a Markdown table.
#[must_use]
pub fn params_table(spec: &CalibrationSpec, start: &[f64], values: &[f64]) -> String {
    let mut s = String::from("| parameter | range | before | calibrated |\n|---|---|---|---|\n");
    for ((p, b), v) in spec.params.iter().zip(start).zip(values) {
        let _ = writeln!(s, "| `{}` | [{}, {}] | {:.4} | {:.4} |", p.path, p.min, p.max, b, v);
    }
    s
}

/// A recorded pool, run: its scenario as prepared, its records and what its agents were seen
/// doing.
pub struct RecordedRun {
    pub scenario: Scenario,
    pub batch: BatchResult,
    pub behaviour: Behaviour,
    /// Whether any agent was live (answered from the trace).
    pub live: bool,
}

/// Run a recorded pool (a scenario of `Recorded` agents, or a live scenario answered from its
/// trace `replay`, calling nothing), observed cell by cell. A recorded table runs each agent
/// alone and the oracle on the recorded run's evaluation tasks (its training split is kept); a
/// live run replays as it ran, with its own mechanisms, since its trace answers only what it
/// asked. A replay that missed requests is an error.
pub fn run_recorded(file: &Path, replay: Option<&Path>, jobs: Option<usize>) -> Result<RecordedRun> {
    let mut recorded = load(file)?;
    recorded.calibrate = None;
    recorded.sweep = None;
    let live = recorded.agents.iter().any(|a| matches!(a.backend, tender_agents::Backend::Live(_)));
    if live && replay.is_none() {
        bail!("{}: live agents give targets only from a recorded trace: add `--targets-replay TRACE`", file.display());
    }
    if !live {
        recorded.mechanisms = vec![MechanismSpec::new(EachAgent), MechanismSpec::new(Oracle)];
    }
    let options = LiveOptions { replay: replay.map(Path::to_path_buf), ..LiveOptions::default() };
    let backends = prepare(recorded, file, &options)?;
    let mut prepared = backends.prepared;
    let episodes = prepared.scenario.episodes;
    let run = observed_run(&mut prepared, jobs, episodes);
    backends.live.as_deref().map(tender_agents::live::LiveSource::finish).transpose()?;
    let (batch, behaviour) = run?;
    Ok(RecordedRun { scenario: prepared.scenario, batch, behaviour, live })
}

/// Targets measured on a recorded pool ([`run_recorded`]): each agent's pass@1 per domain, every
/// pair's joint success and the oracle's pass@1, for the agents the stand-in scenario also has.
/// Tolerances are twice the binomial standard error of the recorded share (at least 0.01), so a
/// fit is asked to agree as well as the data can tell. From a live run, also what its live agents
/// did.
pub fn recorded_targets(
    file: &Path,
    replay: Option<&Path>,
    standins: &Scenario,
    jobs: Option<usize>,
) -> Result<(Vec<Target>, Option<SeenBehaviour>)> {
    let run = run_recorded(file, replay, jobs)?;
    let ours: Vec<&str> = standins.agents.iter().map(|a| a.name.as_str()).collect();
    let targets = targets_of(&run.batch, &run.scenario, &ours, &format!("recorded: {}", file.display()))?;
    let seen = run.live.then(|| SeenBehaviour {
        live: run.scenario.agents.iter().filter(|a| !a.backend.is_synthetic()).map(|a| a.name.clone()).collect(),
        names: run.scenario.agents.iter().map(|a| a.name.clone()).collect(),
        behaviour: run.behaviour,
    });
    Ok((targets, seen))
}

/// What a live run's agents were seen doing (`Behaviour`), by name, and which were live.
pub struct SeenBehaviour {
    pub names: Vec<String>,
    pub live: Vec<String>,
    pub behaviour: Behaviour,
}

impl SeenBehaviour {
    /// Give the stand-ins of `scenario` named as live agents of the run what those did
    /// ([`tender_agents::observe::AgentBehaviour::give_to`]); a Markdown table of what was given.
    pub fn give_to(&self, scenario: &mut Scenario) -> String {
        let mut table = String::from(
            "| agent | plan length (median, σ of ln) | entropy (mean, sd) | abstains on peers | unreadable | saturated at |\n\
             |---|---|---|---|---|---|\n",
        );
        for agent in &mut scenario.agents {
            let Some(i) = self.names.iter().position(|n| *n == agent.name).filter(|_| self.live.contains(&agent.name))
            else {
                continue;
            };
            self.behaviour.agents[i].give_to(agent);
            let j = &agent.juror;
            let _ = writeln!(
                table,
                "| {} | {:.0}, {:.3} | {:.3}, {:.3} | {:.3} | {:.3} | {} |",
                agent.name,
                agent.plan_tokens.median,
                agent.plan_tokens.sigma,
                agent.entropy.mean,
                agent.entropy.sd,
                j.abstain,
                j.unreadable,
                if j.saturation > 0.0 { format!("{} ({:.3})", j.saturated_score, j.saturation) } else { "–".into() }
            );
        }
        table
    }
}

/// The similarity from which each agent counts a retrieved lesson (its live spec's, else the
/// stand-ins').
fn lesson_thresholds(scenario: &Scenario) -> Vec<f64> {
    scenario
        .agents
        .iter()
        .map(|a| match &a.backend {
            Backend::Live(spec) => spec.lesson_min_similarity,
            _ => scenario.standins.lesson_min_similarity,
        })
        .collect()
}

/// Run `prepared` with its source observed.
pub fn observed_run(prepared: &mut Prepared, jobs: Option<usize>, episodes: u32) -> Result<(BatchResult, Behaviour)> {
    let observed = Arc::new(Observed::new(Arc::clone(&prepared.source), lesson_thresholds(&prepared.scenario)));
    prepared.source = observed.clone();
    let batch = prepared.run(&RunOptions { episodes, ..prepared.options(jobs) }, &|| {})?;
    Ok((batch, Behaviour::of(&observed.log(), prepared.scenario.agents.len())))
}

/// The targets [`recorded_targets`] reads off a recorded pool's run (each agent alone and the
/// oracle), for the agents of `ours` it has; `source_note` says where they come from.
pub fn targets_of(
    batch: &tender_engine::BatchResult,
    recorded: &Scenario,
    ours: &[&str],
    source_note: &str,
) -> Result<Vec<Target>> {
    let summary = summarise(batch, &recorded.workload);
    let common: Vec<&str> = recorded.agents.iter().map(|a| a.name.as_str()).filter(|n| ours.contains(n)).collect();
    if common.is_empty() {
        bail!("{source_note}: none of its agents is in the stand-in pool ({})", ours.join(", "));
    }
    // Tasks evaluated per episode, in a scope (the binomial standard error's n).
    let evaluated = batch.runs.first().map(|r| r.records.as_slice()).unwrap_or_default();
    let tasks_in = |scope: &Scope| -> f64 {
        evaluated
            .iter()
            .filter(|r| match scope {
                Scope::All => true,
                Scope::Domain(d) => r.domain == *d,
                Scope::Bin(d, b) => r.domain == *d && r.bin == *b,
            })
            .count() as f64
    };
    let target = |mechanism: String, scope: String, metric: &str, value: f64, n: f64| Target {
        mechanism,
        scope,
        metric: metric.to_string(),
        value,
        tolerance: (2.0 * (value * (1.0 - value) / n.max(1.0)).sqrt()).max(0.01),
        source: source_note.to_string(),
    };
    let mut out = Vec::new();
    let pass = |name: &str, scope: &Scope| {
        let m = summary.mechanisms.iter().position(|n| n == name)?;
        summary.get(m, scope, &tender_analysis::metrics::Metric::PassAt1).map(|e| e.mean)
    };
    for agent in &common {
        let name = format!("{agent} alone");
        for (d, _) in summary.domains.iter().enumerate() {
            let scope = Scope::Domain(d as u16);
            if let Some(v) = pass(&name, &scope) {
                out.push(target(name.clone(), summary.scope_name(&scope), "pass_at_1", v, tasks_in(&scope)));
            }
        }
    }
    let n = tasks_in(&Scope::All);
    for (i, a) in common.iter().enumerate() {
        for b in &common[i + 1..] {
            let pair = format!("{a} alone{JOINT_SEPARATOR}{b} alone");
            let v = joint_success(batch, &pair)?.mean;
            out.push(target(pair, "all".into(), JOINT, v, n));
        }
    }
    if common.len() == ours.len()
        && common.len() == recorded.agents.len()
        && let Some(v) = pass("oracle", &Scope::All)
    {
        out.push(target("oracle".into(), "all".into(), "pass_at_1", v, n));
    }
    Ok(out)
}

pub fn calibrate(args: &CalibrateArgs) -> Result<()> {
    let mut scenario = load(&args.file)?;
    // The output folder is claimed before minutes of fitting, not after.
    let out = args.out.clone().unwrap_or_else(|| PathBuf::from("results/calibrate").join(&scenario.name));
    let staged = crate::results::Staged::new(&out, "calibrate", &[])?;
    let mut behaviour_section = String::new();
    if let Some(from) = &args.targets_from {
        let (targets, seen) = recorded_targets(from, args.targets_replay.as_deref(), &scenario, args.threads.jobs)?;
        if let Some(seen) = seen {
            let table = seen.give_to(&mut scenario);
            behaviour_section = format!(
                "\n## Behaviour read from the trace\n\nGiven to the stand-ins of the live agents before fitting (by \
                 moments: plan length and entropy; as jurors, abstentions on peers' plans, unreadable verdicts, a \
                 saturated score):\n\n{table}"
            );
            emit(&format!("Behaviour read from {}:\n{table}", from.display()))?;
        }
        let spec =
            scenario.calibrate.as_mut().context("the scenario has no `calibrate:` block (its free parameters)")?;
        emit(&format!("{} targets from {}", targets.len(), from.display()))?;
        spec.targets = targets;
    }
    if scenario.agents.iter().any(|a| !a.backend.is_synthetic()) {
        bail!("{}: calibration simulates stand-ins; every agent must be synthetic", args.file.display());
    }
    if let Some(spec) = scenario.calibrate.as_mut() {
        if let Some(e) = args.episodes {
            spec.episodes = e;
        }
        if let Some(i) = args.iterations {
            spec.iterations = i;
        }
        if let Some(s) = args.starts {
            spec.starts = s;
        }
        if let Some(p) = args.polish {
            spec.polish = p;
        }
    }
    let problem = Problem::new(&scenario, args.threads.jobs)?;
    let spec = problem.spec.clone();
    let before: Vec<f64> = problem.values(&problem.start()?);
    emit(&format!(
        "Calibrating {} parameters of {} to {} targets: {} episodes per evaluation (common random numbers), \
         up to {} Nelder-Mead iterations from {} start(s), then up to {} sweep(s) of coordinate search",
        spec.params.len(),
        args.file.display(),
        spec.targets.len(),
        spec.episodes,
        spec.iterations,
        spec.starts,
        spec.polish
    ))?;
    let clock = Instant::now();
    let polish = u64::from(spec.polish) * spec.params.len() as u64 * (PROFILE_POINTS as u64 + 4);
    let bar = progress_bar(u64::from(spec.iterations) * u64::from(spec.starts) * 2 + polish, "evaluations (about)");
    let handle = bar.clone();
    let (x, distance, evaluations) = problem.solve(Box::new(move |n, best| {
        handle.set_position(n);
        handle.set_message(format!("best distance {best:.3}"));
    }))?;
    bar.finish_and_clear();
    let elapsed = clock.elapsed().as_secs_f64();
    let values = problem.values(&x);
    let calibrated = problem.scenario_at(&scenario, &values)?;
    let check_episodes = args.check_episodes.unwrap_or(scenario.episodes);
    let check_scenario = problem.scenario_at(&problem.base, &values)?;
    let run = problem.simulate(&check_scenario, check_episodes)?;
    let achieved = problem.achieved(&run)?;
    let simulated = evaluations * u64::from(spec.episodes) * problem.base.resolve_mechanisms().len() as u64;

    emit("Profiling each parameter (how well the targets pin it)")?;
    let profiles = problem.profiles(&x, spec.episodes)?;
    write_scenario(staged.path(), &calibrated)?;
    let missed = achieved.iter().filter(|a| !a.within()).count();
    let mut report = format!(
        "# Calibration of {}\n\n{} evaluations × {} episodes ({} simulated mechanism-episodes) in {:.0} s; \
         final distance {:.3} (sum of squared tolerance-scaled misses). Achieved values below are from a check run \
         of {} episodes at the calibrated values.\n\n## Targets\n\n{}\n## Parameters\n\n{}\n## Identifiability\n\n{}",
        args.file.display(),
        evaluations,
        spec.episodes,
        simulated,
        elapsed,
        distance,
        check_episodes,
        fit_table(&achieved),
        params_table(&spec, &before, &values),
        identifiability_table(&spec, &values, &profiles)
    );
    if missed > 0 {
        let _ = write!(report, "\n{missed} of {} targets are outside their tolerance.\n", achieved.len());
    }
    report.push_str(&behaviour_section);
    output::write_atomic(&staged.path().join("fit.md"), |w| w.write_all(report.as_bytes()))?;
    staged.commit()?;
    emit(&report)?;
    emit(&format!("Written {}/scenario.ron (the calibrated scenario) and {}/fit.md", out.display(), out.display()))?;
    if missed > 0 {
        eprintln!(
            "warning: {missed} of {} targets could not be reached within tolerance (see the table)",
            achieved.len()
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A small market; `{appeal}` (the jurors' verbosity bias, which favours the large agent's
    /// longer plans) and `{shared}` are the stand-in parameters to recover.
    const WORLD: &str = r#"Scenario(
    name: "identify",
    seed: 9,
    episodes: 12,
    agents: [
        (name: "small", price: 0.05, skill: {"qa": [0.8, 0.35]}, juror: (accuracy: 0.6, self_bias: 0.0)),
        (name: "large", price: 0.36, skill: {"qa": [0.9, 0.6]}, juror: (accuracy: 0.6, self_bias: 0.0),
         plan_tokens: (median: 500.0, sigma: 0.35)),
    ],
    standins: (verbosity_bias: {appeal}, shared_difficulty: {shared}),
    workload: (domains: [(name: "qa", bins: [(tau_max: 0.5, tasks: 30), (tau_max: 5.0, tasks: 30)], topics: 4)]),
    // SALE's weights are neither free nor hand-set: SALE's own procedure fitted them once, on
    // training tasks of the market that made the data ([`fitted_sale`]), and the calibration
    // holds them, as the observed market did. (Refitted per evaluation, the welfare grid's
    // discrete weights make the distance piecewise constant on so small a market.)
    mechanisms: [{sale}, EachAgent, Oracle],
    calibrate: (
        episodes: 12,
        iterations: 40,
        params: [
            (path: "standins.verbosity_bias", min: 0.0, max: 1.5),
            (path: "standins.shared_difficulty", min: 0.1, max: 0.9),
        ],
        targets: [{targets}],
    ),
)"#;

    /// SALE as the market that made the data ran it: its weights fitted by its own procedure
    /// (welfare on a separately drawn training set) at the true stand-in values.
    fn fitted_sale() -> &'static str {
        static SALE: std::sync::OnceLock<String> = std::sync::OnceLock::new();
        SALE.get_or_init(|| {
            let text = WORLD.replace("{appeal}", "0.8").replace("{shared}", "0.35").replace("{targets}", "").replace(
                "mechanisms: [{sale}",
                "training: Separate(1), mechanisms: [Sale(name: \"SALE\", fit: (objective: Welfare), memory: false)",
            );
            let prepared = tender_engine::Prepared::synthetic(Scenario::parse(&text, "fit").unwrap()).unwrap();
            let fitted = prepared.scenario.mechanisms[0].get::<tender_engine::SaleParams>().unwrap();
            let (w_c, w_h) = (fitted.w_c.unwrap(), fitted.w_h.unwrap());
            format!("Sale(name: \"SALE\", w_c: {w_c}, w_h: {w_h}, memory: false)")
        })
    }

    fn world(appeal: f64, shared: f64, targets: &str) -> Scenario {
        let text = WORLD
            .replace("{appeal}", &appeal.to_string())
            .replace("{shared}", &shared.to_string())
            .replace("{sale}", fitted_sale())
            .replace("{targets}", targets);
        Scenario::parse(&text, "identify").unwrap()
    }

    fn target(mechanism: &str, metric: &str, value: f64, tolerance: f64) -> String {
        format!("(mechanism: {mechanism:?}, metric: {metric:?}, value: {value}, tolerance: {tolerance}),")
    }

    /// Targets simulated at the true values, then calibrated from elsewhere.
    fn recover(extra: &str) -> (Vec<f64>, Vec<bool>, String) {
        let placeholder = target("oracle", "pass_at_1", 0.5, 1.0) + &target("SALE", "pass_at_1", 0.5, 1.0);
        let truth = Problem::new(&world(0.8, 0.35, &placeholder), Some(1)).unwrap();
        let summary = truth.simulate(&truth.base, 12).unwrap();
        let get = |m: &str, metric: &str| {
            let spec = world(0.8, 0.35, &target(m, metric, 0.0, 1.0));
            let p = Problem::new(&spec, Some(1)).unwrap();
            p.achieved(&summary).unwrap()[0].estimate.mean
        };
        let targets = [
            target("SALE", "share:large", get("SALE", "share:large"), 0.02),
            target("oracle", "pass_at_1", get("oracle", "pass_at_1"), 0.01),
        ]
        .concat()
            + extra;
        let problem = Problem::new(&world(0.1, 0.8, &targets), Some(1)).unwrap();
        let (x, _, _) = problem.solve(Box::new(|_, _| {})).unwrap();
        let values = problem.values(&x);
        let at = problem.scenario_at(&problem.base, &values).unwrap();
        let achieved = problem.achieved(&problem.simulate(&at, 12).unwrap()).unwrap();
        let within = achieved.iter().map(Achieved::within).collect();
        (values, within, fit_table(&achieved))
    }

    #[test]
    fn calibration_recovers_the_parameters_that_made_the_data() {
        let (values, within, _) = recover("");
        assert!((values[0] - 0.8).abs() < 0.2, "verbosity bias {} (true 0.8)", values[0]);
        assert!((values[1] - 0.35).abs() < 0.1, "shared difficulty {} (true 0.35)", values[1]);
        assert!(within.iter().all(|&w| w));
    }

    /// A parameter the targets read is pinned by its profile; one nothing reads (the lesson
    /// threshold, without lessons) is reported unpinned.
    #[test]
    fn profiles_tell_a_pinned_parameter_from_a_free_one() {
        let targets = target("oracle", "pass_at_1", 0.8, 0.01) + &target("SALE", "share:large", 0.5, 0.02);
        let mut scenario = world(0.8, 0.35, &targets);
        let spec = scenario.calibrate.as_mut().unwrap();
        spec.params.push(tender_engine::calibration::FreeParam {
            path: "standins.lesson_min_similarity".into(),
            min: 0.0,
            max: 0.9,
            also: Vec::new(),
        });
        let problem = Problem::new(&scenario, Some(1)).unwrap();
        let x = problem.start().unwrap();
        let profiles = problem.profiles(&x, 12).unwrap();
        let spec = problem.spec();
        assert!(profiles[1].pinned(spec.params[1].min, spec.params[1].max), "shared difficulty: {:?}", profiles[1]);
        assert!(!profiles[2].pinned(0.0, 0.9), "nothing reads the threshold: {:?}", profiles[2]);
        assert_eq!(profiles[2].fitting(), (0.0, 0.9));
        let table = identifiability_table(spec, &problem.values(&x), &profiles);
        assert!(
            table.contains("| `standins.lesson_min_similarity` | [0, 0.9] | 0.5000 | 0 to 0.9 | **no** |"),
            "{table}"
        );
    }

    /// After a coordinate search that ran to a standstill, the fitted point is at least as good
    /// as every point of its own profile: the identifiability table never shows a value that
    /// fits better than the one the scenario keeps.
    #[test]
    fn a_polished_fit_is_no_worse_than_any_point_of_its_profile() {
        let targets = target("oracle", "pass_at_1", 0.8, 0.01) + &target("SALE", "share:large", 0.5, 0.02);
        let mut scenario = world(0.1, 0.8, &targets);
        let spec = scenario.calibrate.as_mut().unwrap();
        (spec.iterations, spec.polish) = (1, 20);
        let problem = Problem::new(&scenario, Some(1)).unwrap();
        let (x, d, _) = problem.solve(Box::new(|_, _| {})).unwrap();
        assert_ne!(x, problem.start().unwrap(), "the search moved");
        for (i, profile) in problem.profiles(&x, problem.spec().episodes).unwrap().iter().enumerate() {
            for &(v, pd) in &profile.points {
                assert!(pd >= d - 1e-9, "parameter {i} at {v}: {pd} beats the fit's {d}");
            }
        }
    }

    #[test]
    fn a_target_out_of_reach_is_reported_not_hidden() {
        // No free parameter moves the large agent's own pass@1.
        let (_, within, table) = recover(&target("large alone", "pass_at_1", 0.99, 0.1));
        assert_eq!(within, [true, true, false]);
        assert!(table.contains("| large alone | all | `pass_at_1` | 0.99 | ± 0.1 |"));
        assert!(table.lines().last().is_some_and(|l| l.contains("**no**")));
    }

    #[test]
    fn a_routers_curve_is_a_target_by_its_name() {
        let text = WORLD
            .replace("{appeal}", "0.5")
            .replace("{shared}", "0.4")
            .replace(
                "mechanisms: [{sale}, EachAgent, Oracle]",
                "training: Holdout(0.3), mechanisms: [EachAgent, Carrot(name: \"kNN\", k: 5, lambdas: [0, 10, 100])]",
            )
            .replace(
                "{targets}",
                &(target("kNN", "apgr", 0.6, 0.05) + &target("kNN", "accuracy_at_strong_share:0.5", 0.6, 0.05)),
            );
        let p = Problem::new(&Scenario::parse(&text, "curve").unwrap(), Some(1)).unwrap();
        let run = p.simulate(&p.base, 4).unwrap();
        let achieved = p.achieved(&run).unwrap();
        assert!(achieved.iter().all(|a| a.estimate.mean.is_finite() && a.estimate.n == 4), "per episode");
        assert!((0.0..=1.0).contains(&achieved[1].estimate.mean), "an accuracy");
        let unknown = text.replace("(mechanism: \"kNN\", metric: \"apgr\"", "(mechanism: \"kNN2\", metric: \"apgr\"");
        let e = Problem::new(&Scenario::parse(&unknown, "curve").unwrap(), Some(1)).err().unwrap();
        assert!(e.to_string().contains("\"kNN2\""), "{e}");
    }

    #[test]
    fn a_target_naming_an_unknown_mechanism_or_metric_is_refused() {
        let bad = world(0.0, 0.5, &target("nobody", "pass_at_1", 0.5, 0.1));
        assert!(Problem::new(&bad, Some(1)).err().unwrap().to_string().contains("\"nobody\""));
        let bad = world(0.0, 0.5, &target("oracle", "no_such_metric", 0.5, 0.1));
        let p = Problem::new(&bad, Some(1)).unwrap();
        let summary = p.simulate(&p.base, 2).unwrap();
        assert!(p.achieved(&summary).err().unwrap().to_string().contains("no_such_metric"));
    }
}
