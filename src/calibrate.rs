//! `tender calibrate`: simulation-based calibration of a scenario's free parameters to target
//! numbers (published results or a recorded table), by Nelder-Mead over common random numbers.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use argmin::core::{CostFunction, Executor};
use argmin::solver::neldermead::NelderMead;
use serde_json::Value;
use tender_analysis::metrics::Summary;
use tender_analysis::{Estimate, output, summarise};
use tender_engine::calibration::{CalibrationSpec, Target};
use tender_engine::sweep::{Point, apply, value_at};
use tender_engine::{MechanismSpec, RunOptions, Scenario, run_batch};

use crate::cli::CalibrateArgs;
use crate::commands::{emit, load, progress_bar, write_scenario};

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

/// The paired metrics need the largest agent alone and the oracle beside the mechanism.
const PAIRED: [(&str, &str); 4] = [
    ("largest_reliance_reduction", "alone"),
    ("cost_reduction_vs_largest", "alone"),
    ("spend_reduction_vs_largest", "alone"),
    ("oracle_gap", "oracle"),
];

impl Problem {
    /// The scenario's calibration, with its mechanisms cut to those the targets read.
    pub fn new(scenario: &Scenario, jobs: Option<usize>) -> Result<Self> {
        let spec = scenario.calibrate.clone().context("the scenario has no `calibrate:` block")?;
        let mut base = scenario.clone();
        let wanted: Vec<&str> = spec.targets.iter().map(|t| t.mechanism.as_str()).collect();
        let paired: Vec<&str> = spec
            .targets
            .iter()
            .filter_map(|t| PAIRED.iter().find(|(m, _)| *m == t.metric).map(|(_, needs)| *needs))
            .collect();
        let agents: Vec<&str> = base.agents.iter().map(|a| a.name.as_str()).collect();
        let prices: Vec<f64> = base.agents.iter().map(|a| a.price).collect();
        base.mechanisms.retain(|m: &MechanismSpec| {
            m.resolve(&agents, &prices).iter().any(|(name, _)| {
                wanted.contains(&name.as_str())
                    || paired.iter().any(|p| (*p == "oracle" && name == "oracle") || (*p == "alone" && name.ends_with(" alone")))
            })
        });
        base.calibrate = None;
        base.sweep = None;
        let names: Vec<String> = base.resolve_mechanisms().into_iter().map(|(n, _)| n).collect();
        for t in &spec.targets {
            if !names.contains(&t.mechanism) {
                bail!("calibration target names mechanism {:?}, which the scenario does not have; it has: {}", t.mechanism, names.join(", "));
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
        Ok(apply(base, &Point { index: 0, assignments })?)
    }

    /// The scenario's own values of the free parameters, in the unit cube.
    pub fn start(&self) -> Result<Vec<f64>> {
        self.spec
            .params
            .iter()
            .map(|p| {
                let v = value_at(&self.base, &p.path)?
                    .as_f64()
                    .with_context(|| format!("calibration parameter {} is not a number", p.path))?;
                Ok(((v - p.min) / (p.max - p.min)).clamp(0.0, 1.0))
            })
            .collect()
    }

    /// Run `scenario` for `episodes` from its seed and summarise.
    fn simulate(&self, scenario: &Scenario, episodes: u32) -> Result<Summary> {
        let source = Arc::new(scenario.source().map_err(|e| {
            anyhow::anyhow!("{}", e.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))
        })?);
        let resolved = scenario.resolve_mechanisms();
        let options = RunOptions { seed: scenario.seed, episodes, jobs: self.jobs };
        let batch = run_batch(source, &scenario.workload, scenario.training, &resolved, &options, &|| {})?;
        let kinds: Vec<_> = resolved.iter().map(|(_, m)| m.clone()).collect();
        Ok(summarise(&batch, &scenario.workload, &kinds))
    }

    /// Every target as achieved in `summary`.
    pub fn achieved<'a>(&'a self, summary: &Summary) -> Result<Vec<Achieved<'a>>> {
        self.spec
            .targets
            .iter()
            .map(|t| {
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

    /// The tolerance-scaled squared distance at `x`.
    fn distance(&self, x: &[f64]) -> Result<f64> {
        let scenario = self.scenario_at(&self.base, &self.values(x))?;
        let summary = self.simulate(&scenario, self.spec.episodes)?;
        let d: f64 = self.achieved(&summary)?.iter().map(|a| if a.estimate.mean.is_finite() { a.z().powi(2) } else { 1e6 }).sum();
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

    /// Calibrate: the best point over every start, in the unit cube, with its distance.
    pub fn solve(&self, on_eval: Box<dyn Fn(u64, f64) + Send>) -> Result<(Vec<f64>, f64, u64)> {
        self.evaluations.lock().map_err(|_| anyhow::anyhow!("evaluation log poisoned"))?.on_eval = Some(on_eval);
        let mut starts = vec![self.start()?];
        if self.spec.starts > 1 {
            let points = self.spec.sweep_spec().points(self.base.seed)?;
            for p in points.iter().take(self.spec.starts as usize - 1) {
                // Each parameter takes the draw of its own (first) path.
                let x = self
                    .spec
                    .params
                    .iter()
                    .map(|q| {
                        p.assignments.iter().find(|(path, _)| *path == q.path).and_then(|(_, v)| v.as_f64()).unwrap_or(0.5)
                    })
                    .collect();
                starts.push(x);
            }
        }
        for s in &starts {
            self.minimise(s, self.spec.iterations)?;
        }
        let ev = self.evaluations.lock().map_err(|_| anyhow::anyhow!("evaluation log poisoned"))?;
        let (d, x) = ev.best.clone().context("the optimiser evaluated nothing")?;
        Ok((x, d, ev.count))
    }
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
            t.value,
            t.tolerance,
            a.estimate.mean,
            a.estimate.half_width(),
            if a.within() { "yes" } else { "**no**" },
            t.source
        );
    }
    s
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

pub fn calibrate(args: &CalibrateArgs) -> Result<()> {
    let mut scenario = load(&args.file)?;
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
    }
    let problem = Problem::new(&scenario, args.jobs)?;
    let spec = problem.spec.clone();
    let before: Vec<f64> = problem.values(&problem.start()?);
    emit(&format!(
        "Calibrating {} parameters of {} to {} targets: {} episodes per evaluation (common random numbers), \
         up to {} Nelder-Mead iterations from {} start(s)",
        spec.params.len(),
        args.file.display(),
        spec.targets.len(),
        spec.episodes,
        spec.iterations,
        spec.starts
    ))?;
    let clock = Instant::now();
    let bar = progress_bar(u64::from(spec.iterations) * u64::from(spec.starts) * 2);
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
    let summary = problem.simulate(&check_scenario, check_episodes)?;
    let achieved = problem.achieved(&summary)?;
    let simulated = evaluations * u64::from(spec.episodes) * problem.base.resolve_mechanisms().len() as u64;

    let out = args.out.clone().unwrap_or_else(|| PathBuf::from("results/calibrate").join(&scenario.name));
    write_scenario(&out, &calibrated)?;
    let missed = achieved.iter().filter(|a| !a.within()).count();
    let mut report = format!(
        "# Calibration of {}\n\n{} evaluations × {} episodes ({} simulated mechanism-episodes) in {:.0} s; \
         final distance {:.3} (sum of squared tolerance-scaled misses). Achieved values below are from a check run \
         of {} episodes at the calibrated values.\n\n## Targets\n\n{}\n## Parameters\n\n{}",
        args.file.display(),
        evaluations,
        spec.episodes,
        simulated,
        elapsed,
        distance,
        check_episodes,
        fit_table(&achieved),
        params_table(&spec, &before, &values)
    );
    if missed > 0 {
        let _ = write!(report, "\n{missed} of {} targets are outside their tolerance.\n", achieved.len());
    }
    output::write_atomic(&out.join("fit.md"), |w| w.write_all(report.as_bytes()))?;
    emit(&report)?;
    emit(&format!("Written {}/scenario.ron (the calibrated scenario) and {}/fit.md", out.display(), out.display()))?;
    if missed > 0 {
        eprintln!("warning: {missed} of {} targets could not be reached within tolerance (see the table)", achieved.len());
    }
    Ok(())
}
