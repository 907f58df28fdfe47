//! Parameter sweeps: which scenario variants to run, and with which seeds.
//!
//! A sweep names scenario parameters by path (`mechanisms.sale.w_c`, `agents.qwen3-4b.memory_gain`,
//! `standins.shared_difficulty`, `workload.complexity_signal`, `mechanisms[1].k`) and the values
//! each takes. A path is followed through the scenario as JSON: object keys by name, list entries
//! by `[index]`, by the value of their `name` field, or — in `mechanisms` — by their kind or table
//! name (`sale`, `carrot`, `sale (no memory)`); a mechanism's parameters are then reached directly.
//! Designs: the full factorial grid, zipped (matched) lists, uniform random and Latin-hypercube
//! samples of intervals. By default every point runs on the same episode seeds (common random
//! numbers: replication `r` of every point runs on `episode_seed(base, r)`, as `tender run`'s
//! episode `r` does), so differences between points are paired and a mechanism a parameter
//! cannot affect gives the same numbers at every point. With independent draws, each point gets
//! its own seed stream: replication `r` of point `p` runs on `episode_seed(point_seed(base, p), r)`.

use rand::RngExt;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tender_agents::streams::{Purpose, splitmix64, stream};

use crate::scenario::Scenario;

/// A sweep as written in a scenario's `sweep` field.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SweepSpec {
    pub params: Vec<ParamSpec>,
    #[serde(default)]
    pub design: Design,
    /// Replications per point; the scenario's `episodes` when omitted.
    #[serde(default)]
    pub replications: Option<u32>,
    /// Whether points share their episodes' random draws.
    #[serde(default)]
    pub draws: Draws,
}

/// Whether the points of a sweep share random draws.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub enum Draws {
    /// Every point runs on the same episode seeds (common random numbers): differences between
    /// points are paired, free of sampling noise between them.
    #[default]
    Common,
    /// Every point draws its own episodes, as separate experiments would.
    Independent,
}

impl Draws {
    /// The seed stream of point `index`.
    #[must_use]
    pub const fn point_seed(self, base: u64, index: usize) -> u64 {
        match self {
            Self::Common => base,
            Self::Independent => point_seed(base, index),
        }
    }
}

/// One swept parameter.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ParamSpec {
    pub path: String,
    pub values: Values,
}

/// The values a parameter takes.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub enum Values {
    /// These values, in order (numbers, booleans or strings).
    List(Vec<Value>),
    /// `start, start + step, ...` up to `end` inclusive.
    Range { start: f64, end: f64, step: f64 },
    /// Any value in [low, high], for random and Latin-hypercube designs.
    Interval { low: f64, high: f64 },
}

/// How parameters combine into points.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub enum Design {
    /// Every combination (the first parameter varies slowest).
    #[default]
    Grid,
    /// The i-th value of every parameter together; lists must have equal lengths.
    Zip,
    /// This many points drawn uniformly from the parameters' intervals.
    Random(u32),
    /// This many points of a Latin hypercube over the parameters' intervals.
    LatinHypercube(u32),
}

/// Why a sweep cannot run.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum SweepError {
    #[error("`--set {0}`: expected PATH=VALUES, e.g. mechanisms.sale.w_c=0..2:0.25 or k=4,8,16")]
    Syntax(String),
    #[error("sweep parameter `{path}`: {message}")]
    Path { path: String, message: String },
    #[error("sweep parameter `{path}`: {message}")]
    Values { path: String, message: String },
    #[error("sweep point {point} ({assignments}): {message}")]
    Invalid { point: usize, assignments: String, message: String },
    #[error("a sweep needs at least one parameter (`--set PATH=VALUES` or the scenario's `sweep`)")]
    Empty,
}

/// One point of a sweep: each swept path with its value.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Point {
    pub index: usize,
    pub assignments: Vec<(String, Value)>,
}

impl Point {
    /// `path=value, ...`, for messages and tables.
    #[must_use]
    pub fn label(&self) -> String {
        self.assignments.iter().map(|(p, v)| format!("{p}={v}")).collect::<Vec<_>>().join(", ")
    }
}

/// Parse a command-line `PATH=VALUES`: `a..b:step` (a range), `a..b` (an interval), or a comma
/// list of numbers, booleans or strings.
pub fn parse_set(arg: &str) -> Result<ParamSpec, SweepError> {
    let (path, values) = arg.split_once('=').ok_or_else(|| SweepError::Syntax(arg.to_string()))?;
    let (path, values) = (path.trim(), values.trim());
    if path.is_empty() || values.is_empty() {
        return Err(SweepError::Syntax(arg.to_string()));
    }
    let number = |s: &str| s.trim().parse::<f64>().map_err(|_| SweepError::Syntax(arg.to_string()));
    let values = if let Some((range, step)) = values.split_once(':') {
        let (start, end) = range.split_once("..").ok_or_else(|| SweepError::Syntax(arg.to_string()))?;
        Values::Range { start: number(start)?, end: number(end)?, step: number(step)? }
    } else if let Some((low, high)) = values.split_once("..") {
        Values::Interval { low: number(low)?, high: number(high)? }
    } else {
        Values::List(values.split(',').map(|v| literal(v.trim())).collect())
    };
    Ok(ParamSpec { path: path.to_string(), values })
}

fn literal(s: &str) -> Value {
    if let Ok(i) = s.parse::<i64>() {
        return Value::from(i);
    }
    if let Ok(f) = s.parse::<f64>() {
        return Value::from(f);
    }
    match s {
        "true" => Value::Bool(true),
        "false" => Value::Bool(false),
        _ => Value::String(s.trim_matches('"').to_string()),
    }
}

impl Values {
    /// The listed values (ranges expanded); `None` for an interval.
    fn listed(&self, path: &str) -> Result<Option<Vec<Value>>, SweepError> {
        let bad = |message: &str| SweepError::Values { path: path.to_string(), message: message.to_string() };
        match self {
            Self::List(v) if v.is_empty() => Err(bad("the list is empty")),
            Self::List(v) => Ok(Some(v.clone())),
            Self::Range { start, end, step } => {
                if !(start.is_finite() && end.is_finite() && step.is_finite() && *step > 0.0 && end >= start) {
                    return Err(bad("a range needs finite start <= end and step > 0"));
                }
                let n = ((end - start) / step + 1e-9).floor() as usize + 1;
                if n > 100_000 {
                    return Err(bad("a range may hold at most 100000 values"));
                }
                // Computed from the index, not by accumulation, so 0.1 steps stay exact-ish and
                // every machine gets the same values.
                Ok(Some((0..n).map(|i| Value::from(start + step * i as f64)).collect()))
            }
            Self::Interval { .. } => Ok(None),
        }
    }

    fn interval(&self, path: &str) -> Result<(f64, f64), SweepError> {
        match self {
            Self::Interval { low, high } | Self::Range { start: low, end: high, .. }
                if low.is_finite() && high.is_finite() && low <= high =>
            {
                Ok((*low, *high))
            }
            _ => Err(SweepError::Values {
                path: path.to_string(),
                message: "random and Latin-hypercube designs need an interval `low..high`".into(),
            }),
        }
    }
}

impl SweepSpec {
    /// Every check `tender sweep` makes before it runs: no path twice, every path leads
    /// somewhere, the values form points, and every point gives a valid scenario.
    pub fn check(&self, scenario: &Scenario) -> Result<(), SweepError> {
        for (i, p) in self.params.iter().enumerate() {
            if self.params[..i].iter().any(|q| q.path == p.path) {
                return Err(SweepError::Path {
                    path: p.path.clone(),
                    message: "is swept twice; give each path once, with all its values".into(),
                });
            }
        }
        check_paths(scenario, self)?;
        let points = self.points(scenario.seed)?;
        for p in points.iter().take(10_000) {
            apply(scenario, p)?;
        }
        Ok(())
    }

    /// The points of the sweep, in order.
    pub fn points(&self, seed: u64) -> Result<Vec<Point>, SweepError> {
        if self.params.is_empty() {
            return Err(SweepError::Empty);
        }
        let paths: Vec<String> = self.params.iter().map(|p| p.path.clone()).collect();
        let rows: Vec<Vec<Value>> = match self.design {
            Design::Grid => {
                let lists = self.lists()?;
                let total: usize = lists.iter().map(Vec::len).product();
                (0..total)
                    .map(|mut i| {
                        let mut row = vec![Value::Null; lists.len()];
                        for (d, list) in lists.iter().enumerate().rev() {
                            row[d] = list[i % list.len()].clone();
                            i /= list.len();
                        }
                        row
                    })
                    .collect()
            }
            Design::Zip => {
                let lists = self.lists()?;
                let n = lists[0].len();
                if let Some(p) = self.params.iter().zip(&lists).find(|(_, l)| l.len() != n) {
                    return Err(SweepError::Values {
                        path: p.0.path.clone(),
                        message: format!("a zipped sweep needs lists of equal length ({n} and {})", p.1.len()),
                    });
                }
                (0..n).map(|i| lists.iter().map(|l| l[i].clone()).collect()).collect()
            }
            Design::Random(n) => {
                let bounds = self.intervals()?;
                (0..n as usize)
                    .map(|i| {
                        bounds
                            .iter()
                            .enumerate()
                            .map(|(d, (lo, hi))| {
                                let u = stream(seed, Purpose::SweepDesign, &[0, i as u64, d as u64]).random::<f64>();
                                Value::from(lo + (hi - lo) * u)
                            })
                            .collect()
                    })
                    .collect()
            }
            Design::LatinHypercube(n) => {
                let n = n as usize;
                let bounds = self.intervals()?;
                // Per dimension, a random permutation of the n strata and a jitter within each.
                let columns: Vec<Vec<f64>> = bounds
                    .iter()
                    .enumerate()
                    .map(|(d, (lo, hi))| {
                        let mut rng = stream(seed, Purpose::SweepDesign, &[1, d as u64]);
                        let mut strata: Vec<usize> = (0..n).collect();
                        for i in (1..n).rev() {
                            strata.swap(i, rng.random_range(0..=i));
                        }
                        strata.iter().map(|&s| lo + (hi - lo) * (s as f64 + rng.random::<f64>()) / n as f64).collect()
                    })
                    .collect();
                (0..n).map(|i| columns.iter().map(|c| Value::from(c[i])).collect()).collect()
            }
        };
        if rows.is_empty() {
            return Err(SweepError::Empty);
        }
        Ok(rows
            .into_iter()
            .enumerate()
            .map(|(index, row)| Point { index, assignments: paths.iter().cloned().zip(row).collect() })
            .collect())
    }

    fn lists(&self) -> Result<Vec<Vec<Value>>, SweepError> {
        self.params
            .iter()
            .map(|p| {
                p.values.listed(&p.path)?.ok_or_else(|| SweepError::Values {
                    path: p.path.clone(),
                    message: "grid and zipped designs need a list or a range `start..end:step`".into(),
                })
            })
            .collect()
    }

    fn intervals(&self) -> Result<Vec<(f64, f64)>, SweepError> {
        self.params.iter().map(|p| p.values.interval(&p.path)).collect()
    }
}

/// The seed stream of point `index`, independent of every other point's.
#[must_use]
pub const fn point_seed(base: u64, index: usize) -> u64 {
    splitmix64(base ^ splitmix64(0x5EED_0000_0000_0000 ^ index as u64))
}

/// The scenario at one point: every assignment applied, then validated.
pub fn apply(scenario: &Scenario, point: &Point) -> Result<Scenario, SweepError> {
    let invalid = |message: String| SweepError::Invalid { point: point.index, assignments: point.label(), message };
    let mut tree = serde_json::to_value(scenario).map_err(|e| invalid(e.to_string()))?;
    let names = table_names(scenario);
    for (path, value) in &point.assignments {
        set(&mut tree, path, value.clone(), &names)?;
    }
    let mut out: Scenario = serde_json::from_value(tree).map_err(|e| invalid(e.to_string()))?;
    // A point is one scenario, not a sweep of its own.
    out.sweep = None;
    // Tasks read from a file are not part of the scenario's text.
    out.workload.loaded.clone_from(&scenario.workload.loaded);
    // A sweep over a SALE's weights leaves no fitted file behind it.
    for m in &mut out.mechanisms {
        if let crate::MechanismSpec::Sale(p) = m
            && p.w_c.is_some()
        {
            p.weights = None;
        }
    }
    out.validate().map_err(|errors| invalid(errors.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ")))?;
    Ok(out)
}

/// Check that every path of the sweep leads somewhere in `scenario`.
pub fn check_paths(scenario: &Scenario, spec: &SweepSpec) -> Result<(), SweepError> {
    let mut tree =
        serde_json::to_value(scenario).map_err(|e| SweepError::Path { path: String::new(), message: e.to_string() })?;
    let names = table_names(scenario);
    for p in &spec.params {
        let probe = lookup(&mut tree, &p.path, &names)?.clone();
        set(&mut tree, &p.path, probe, &names)?;
    }
    Ok(())
}

/// Every table name of the scenario's mechanisms, lower-cased, with the index of the entry of
/// `mechanisms` it comes from (`EachAgent` stands for several).
fn table_names(scenario: &Scenario) -> Vec<(usize, String)> {
    let agents: Vec<&str> = scenario.agents.iter().map(|a| a.name.as_str()).collect();
    let prices: Vec<f64> = scenario.agents.iter().map(|a| a.price).collect();
    scenario
        .mechanisms
        .iter()
        .enumerate()
        .flat_map(|(i, m)| m.resolve(&agents, &prices).into_iter().map(move |(n, _)| (i, n.to_lowercase())))
        .collect()
}

/// The value a path names in `scenario`.
pub fn value_at(scenario: &Scenario, path: &str) -> Result<Value, SweepError> {
    let mut tree = serde_json::to_value(scenario)
        .map_err(|e| SweepError::Path { path: path.to_string(), message: e.to_string() })?;
    let names = table_names(scenario);
    Ok(lookup(&mut tree, path, &names)?.clone())
}

fn set(tree: &mut Value, path: &str, value: Value, names: &[(usize, String)]) -> Result<(), SweepError> {
    let slot = lookup(tree, path, names)?;
    // Keep integers integers (a count swept as 4.0 would not parse back).
    *slot = match (&*slot, &value) {
        (Value::Number(old), Value::Number(new)) if old.is_u64() || old.is_i64() => {
            new.as_f64().filter(|f| f.fract() == 0.0).map_or(value.clone(), |f| Value::from(f as i64))
        }
        _ => value,
    };
    Ok(())
}

/// The JSON slot a path names.
fn lookup<'a>(
    tree: &'a mut Value,
    path: &str,
    mechanism_names: &[(usize, String)],
) -> Result<&'a mut Value, SweepError> {
    let fail = |message: String| SweepError::Path { path: path.to_string(), message };
    let mut node = tree;
    let mut parent_key = String::new();
    for raw in split_path(path) {
        let segment = raw.as_str();
        node = match node {
            Value::Object(map) => {
                // Optional fields left out of a scenario appear as nulls; a variant's payload is
                // entered transparently.
                if !map.contains_key(segment) && map.len() == 1 {
                    let (_, inner) = map.iter_mut().next().ok_or_else(|| fail("empty object".into()))?;
                    match inner {
                        Value::Object(m) if m.contains_key(segment) => {
                            m.get_mut(segment).ok_or_else(|| fail(segment.into()))?
                        }
                        _ => return Err(fail(format!("no field `{segment}`"))),
                    }
                } else {
                    let keys: Vec<String> = map.keys().cloned().collect();
                    map.get_mut(segment)
                        .ok_or_else(|| fail(format!("no field `{segment}`; fields here: {}", keys.join(", "))))?
                }
            }
            Value::Array(items) => {
                let index = if let Some(i) = segment.strip_prefix('[').and_then(|s| s.strip_suffix(']')) {
                    i.parse::<usize>().map_err(|_| fail(format!("`{segment}` is not an index")))?
                } else {
                    find_entry(items, segment, &parent_key, mechanism_names)
                        .ok_or_else(|| fail(format!("no entry `{segment}` in `{parent_key}`")))?
                };
                let len = items.len();
                items.get_mut(index).ok_or_else(|| fail(format!("index {index} out of range (length {len})")))?
            }
            _ => return Err(fail(format!("`{segment}` goes below a value"))),
        };
        parent_key = segment.to_string();
    }
    Ok(node)
}

fn split_path(path: &str) -> Vec<String> {
    let mut out = Vec::new();
    for part in path.split('.') {
        // `mechanisms[1]` is `mechanisms` then `[1]`.
        match part.find('[') {
            Some(i) if i > 0 => {
                out.push(part[..i].to_string());
                out.push(part[i..].to_string());
            }
            _ => out.push(part.to_string()),
        }
    }
    out
}

/// An entry of a list by its `name`, or a mechanism by kind or table name.
fn find_entry(items: &[Value], segment: &str, list: &str, mechanism_names: &[(usize, String)]) -> Option<usize> {
    let wanted = segment.to_lowercase();
    if let Some(i) =
        items.iter().position(|v| v.get("name").and_then(Value::as_str).is_some_and(|n| n.to_lowercase() == wanted))
    {
        return Some(i);
    }
    if list == "mechanisms" {
        // A table name, then a kind (the first mechanism of that kind).
        if let Some((i, _)) = mechanism_names.iter().find(|(_, n)| *n == wanted) {
            return Some(*i).filter(|&i| i < items.len());
        }
        return items.iter().position(|v| match v {
            Value::Object(m) => m.keys().next().is_some_and(|k| k.to_lowercase() == wanted),
            Value::String(s) => s.to_lowercase() == wanted,
            _ => false,
        });
    }
    None
}

/// A sweep point ready to run.
pub struct PreparedPoint {
    pub point: Point,
    pub scenario: Scenario,
    pub source: std::sync::Arc<dyn tender_agents::OutcomeSource>,
    pub mechanisms: Vec<(String, crate::Mechanism)>,
    pub seed: u64,
}

/// Prepare every point: apply it to the scenario and build its pool.
pub fn prepare(base: &Scenario, points: &[Point], seed: u64, draws: Draws) -> Result<Vec<PreparedPoint>, SweepError> {
    points
        .iter()
        .map(|p| {
            let scenario = apply(base, p)?;
            let source = scenario.source().map_err(|e| SweepError::Invalid {
                point: p.index,
                assignments: p.label(),
                message: e.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "),
            })?;
            let mechanisms = scenario.resolve_mechanisms();
            Ok(PreparedPoint {
                point: p.clone(),
                source: std::sync::Arc::new(source),
                mechanisms,
                seed: draws.point_seed(seed, p.index),
                scenario,
            })
        })
        .collect()
}

/// Everything one replication of one point produced: each mechanism's records.
pub struct UnitResult {
    pub point: usize,
    pub replication: u32,
    pub episode_seed: u64,
    pub runs: Vec<Vec<crate::TaskRecord>>,
}

/// Run `units` — (point, replication) pairs — in parallel, handing each finished unit to `done`
/// (from worker threads, in no particular order). Stops at the first error `done` returns.
pub fn run_units<E: Send>(
    points: &[PreparedPoint],
    units: &[(usize, u32)],
    jobs: Option<usize>,
    done: &(dyn Fn(UnitResult) -> Result<(), E> + Sync),
) -> Result<Result<(), E>, crate::EngineError> {
    use rayon::prelude::*;
    let work = || {
        units.par_iter().try_for_each(|&(p, r)| {
            let point = &points[p];
            let seed = tender_agents::streams::episode_seed(point.seed, u64::from(r));
            let mut runs = Vec::with_capacity(point.mechanisms.len());
            for (name, mechanism) in &point.mechanisms {
                let workload = &point.scenario.workload;
                let order = workload.order_key(point.seed, u64::from(r), seed);
                let tasks = point.scenario.training.split_ordered(workload, seed, order);
                match crate::run_episode(std::sync::Arc::clone(&point.source), tasks, mechanism, name, seed) {
                    Ok(records) => runs.push(records),
                    Err(e) => return Err(Err(e)),
                }
            }
            done(UnitResult { point: p, replication: r, episode_seed: seed, runs }).map_err(Ok)
        })
    };
    let outcome = match jobs {
        None => work(),
        Some(n) => rayon::ThreadPoolBuilder::new()
            .num_threads(n)
            .build()
            .map_err(|source| crate::EngineError::ThreadPool { jobs: n, source })?
            .install(work),
    };
    match outcome {
        Ok(()) => Ok(Ok(())),
        Err(Ok(e)) => Ok(Err(e)),
        Err(Err(e)) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: &str = r#"Scenario(
    name: "s",
    seed: 1,
    episodes: 2,
    agents: [(name: "a", price: 0.1, skill: {"qa": [0.5]}), (name: "b", price: 0.3, skill: {"qa": [0.7]})],
    workload: (domains: [(name: "qa", bins: [(tau_max: 1.0, tasks: 4)])]),
    mechanisms: [Sale(w_c: 0.01, w_h: 1.0), Sale(w_c: 0.01, w_h: 1.0, memory: false), EachAgent],
)"#;

    fn scenario() -> Scenario {
        Scenario::parse(BASE, "s").unwrap()
    }

    #[test]
    fn set_arguments_parse_into_ranges_intervals_and_lists() {
        assert_eq!(
            parse_set("mechanisms.sale.w_c=0..2:0.5").unwrap().values,
            Values::Range { start: 0.0, end: 2.0, step: 0.5 }
        );
        assert_eq!(parse_set("x=0.1..0.9").unwrap().values, Values::Interval { low: 0.1, high: 0.9 });
        assert_eq!(
            parse_set("k=4,8,true,abc").unwrap().values,
            Values::List(vec![4.into(), 8.into(), true.into(), "abc".into()])
        );
        assert!(matches!(parse_set("nothing"), Err(SweepError::Syntax(_))));
    }

    #[test]
    fn grids_are_factorial_and_zips_are_matched() {
        let spec = SweepSpec {
            params: vec![parse_set("a=1,2").unwrap(), parse_set("b=0..1:0.5").unwrap()],
            design: Design::Grid,
            replications: None,
            draws: Draws::Common,
        };
        let points = spec.points(0).unwrap();
        assert_eq!(points.len(), 6);
        assert_eq!(points[1].assignments, [("a".to_string(), 1.into()), ("b".to_string(), 0.5.into())]);
        let zip = SweepSpec {
            params: vec![parse_set("a=1,2,3").unwrap(), parse_set("b=4,5,6").unwrap()],
            design: Design::Zip,
            replications: None,
            draws: Draws::Common,
        };
        assert_eq!(zip.points(0).unwrap()[2].label(), "a=3, b=6");
        let bad = SweepSpec {
            params: vec![parse_set("a=1,2").unwrap(), parse_set("b=4").unwrap()],
            design: Design::Zip,
            replications: None,
            draws: Draws::Common,
        };
        assert!(bad.points(0).is_err());
    }

    #[test]
    fn latin_hypercubes_fill_every_stratum_once() {
        let spec = SweepSpec {
            params: vec![parse_set("a=0..1").unwrap(), parse_set("b=10..20").unwrap()],
            design: Design::LatinHypercube(10),
            replications: None,
            draws: Draws::Common,
        };
        let points = spec.points(7).unwrap();
        for (d, (lo, hi)) in [(0, (0.0, 1.0)), (1, (10.0, 20.0))] {
            let mut strata: Vec<usize> = points
                .iter()
                .map(|p| (((p.assignments[d].1.as_f64().unwrap() - lo) / (hi - lo)) * 10.0) as usize)
                .collect();
            strata.sort_unstable();
            assert_eq!(strata, (0..10).collect::<Vec<_>>());
        }
        assert_eq!(points, spec.points(7).unwrap());
        assert_ne!(points, spec.points(8).unwrap());
    }

    #[test]
    fn paths_reach_mechanisms_by_kind_and_name_and_agents_by_name() {
        let s = scenario();
        let point = Point {
            index: 0,
            assignments: vec![
                ("mechanisms.sale.w_c".into(), 0.5.into()),
                ("mechanisms.sale (no memory).w_h".into(), 3.into()),
                ("mechanisms[0].k".into(), 4.0.into()),
                ("agents.b.memory_gain".into(), 0.7.into()),
                ("standins.shared_difficulty".into(), 0.3.into()),
            ],
        };
        let out = apply(&s, &point).unwrap();
        let crate::MechanismSpec::Sale(first) = &out.mechanisms[0] else { panic!() };
        let crate::MechanismSpec::Sale(second) = &out.mechanisms[1] else { panic!() };
        assert_eq!((first.w_c, first.k, second.w_h), (Some(0.5), 4, Some(3.0)));
        assert_eq!(out.agents[1].memory_gain, 0.7);
        assert_eq!(out.standins.shared_difficulty, 0.3);
    }

    #[test]
    fn bad_paths_and_values_are_named() {
        let s = scenario();
        let spec = SweepSpec {
            params: vec![parse_set("mechanisms.sale.w_x=1,2").unwrap()],
            design: Design::Grid,
            replications: None,
            draws: Draws::Common,
        };
        let err = check_paths(&s, &spec).unwrap_err().to_string();
        assert!(err.contains("mechanisms.sale.w_x") && err.contains("no field `w_x`"), "{err}");
        let point = Point { index: 3, assignments: vec![("agents.a.juror.accuracy".into(), 1.5.into())] };
        let err = apply(&s, &point).unwrap_err().to_string();
        assert!(err.contains("point 3") && err.contains("must lie in [0, 1]"), "{err}");
    }
}
