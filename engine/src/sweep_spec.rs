//! A sweep as a scenario file writes it: swept paths, their values and the design that combines
//! them into points. Running one is [`crate::sweep`]; following a path is [`crate::paths`].

use rand::RngExt;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tender_agents::streams::{Purpose, splitmix64, stream};

tender_agents::documented! {
    /// A sweep as written in a scenario's `sweep` field.
    #[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct SweepSpec {
        /// The swept parameters, each `(path, values)` (below); command-line `--set`s replace
        /// them.
        pub params: Vec<ParamSpec>, allowed "at least one, no path twice by any spelling";
        /// How parameters combine into points: every combination (the first parameter slowest),
        /// matched lists of equal length, points drawn uniformly from the intervals, or a Latin
        /// hypercube over them.
        #[serde(default)]
        pub design: Design, shown "`Grid`", allowed "`Grid`, `Zip`, `Random(n)`, `LatinHypercube(n)`";
        /// Replications per point.
        #[serde(default)]
        pub replications: Option<u32>, shown "the scenario's `episodes`", in [1, 10_000_000];
        /// Whether points share their episodes' random draws (common random numbers: differences
        /// between points are paired) or each draws its own, as separate experiments would.
        #[serde(default)]
        pub draws: Draws, shown "`Common`", allowed "`Common`, `Independent`";
    }
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

tender_agents::documented! {
    /// One swept parameter.
    #[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct ParamSpec {
        /// A path into the scenario: `mechanisms.sale.w_c`, `agents.qwen3-4b.juror.accuracy`,
        /// `standins.shared_difficulty`, ... (README, "Sweeps").
        pub path: String, allowed "a number, boolean or name field of the scenario";
        /// Its values: these, in order (numbers, booleans or strings); `start, start + step, ...`
        /// up to `end` inclusive; or any value in [low, high], for random and Latin-hypercube
        /// designs.
        pub values: Values, allowed "`List([...])`, `Range(start, end, step)`, `Interval(low, high)`";
    }
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
