//! A scenario's `calibrate:` block: which parameters `tender calibrate` may move, within which
//! ranges, and which published (or recorded) numbers the simulation must reproduce.

use serde::{Deserialize, Serialize};
use tender_agents::validate::Checker;

/// What to calibrate and against what.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CalibrationSpec {
    /// Episodes per evaluation. Every evaluation uses the same episode seeds (common random
    /// numbers), so differences between parameter values are not sampling noise.
    #[serde(default = "default_episodes")]
    pub episodes: u32,
    /// Optimiser iterations (Nelder-Mead steps) per start.
    #[serde(default = "default_iterations")]
    pub iterations: u32,
    /// Nelder-Mead runs: the first from the scenario's own values, each later one restarted
    /// from the best point so far with a fresh simplex.
    #[serde(default = "one")]
    pub starts: u32,
    /// Coordinate-search sweeps after Nelder-Mead: each parameter alone tried across its range
    /// (the identifiability profile's values) and near its best value, moving whenever the
    /// distance falls, until a sweep moves nothing. A welfare-fitted SALE makes the distance
    /// piecewise constant, where a simplex stalls; this also leaves the fitted point at least as
    /// good as every point of its own profile. 0: none.
    #[serde(default)]
    pub polish: u32,
    /// The free parameters, as sweep paths (`standins.juror_appeal`,
    /// `mechanisms.wtp.willingness_to_pay`, ...).
    pub params: Vec<FreeParam>,
    pub targets: Vec<Target>,
}

/// A parameter the calibration may move.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FreeParam {
    pub path: String,
    pub min: f64,
    pub max: f64,
    /// Further paths that take the same value (one memory gain for every agent, one set of
    /// weights for SALE and its no-memory ablation).
    #[serde(default)]
    pub also: Vec<String>,
}

/// A number the simulation must reproduce: `metric` of `mechanism` over `scope`, within
/// `tolerance` of `value`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Target {
    /// The mechanism's name in tables (`SALE`, `qwen3-32b alone`, `oracle`); two joined by
    /// ` & ` for `joint_success`.
    pub mechanism: String,
    /// `all`, a domain's name, or `DOMAIN/tau<=MAX` for one bin, as in summary.csv.
    #[serde(default = "all")]
    pub scope: String,
    /// A metric id of summary.csv (`pass_at_1`, `usd_per_delivered_mtok`, `share:qwen3-32b`,
    /// `largest_reliance_reduction`, ...), in its units there (shares are fractions), or
    /// `joint_success` with `mechanism: "A alone & B alone"`: the share of tasks both solve.
    pub metric: String,
    pub value: f64,
    pub tolerance: f64,
    /// Where the number comes from, for the fit table.
    #[serde(default)]
    pub source: String,
}

fn default_episodes() -> u32 {
    10
}

fn default_iterations() -> u32 {
    150
}

fn one() -> u32 {
    1
}

fn all() -> String {
    "all".into()
}

impl CalibrationSpec {
    /// Every path the calibration sets, as a sweep over the unit interval (for path checks).
    #[must_use]
    pub fn sweep_spec(&self) -> crate::sweep_spec::SweepSpec {
        crate::sweep_spec::SweepSpec {
            params: self
                .params
                .iter()
                .flat_map(|p| std::iter::once(&p.path).chain(&p.also))
                .map(|path| crate::sweep_spec::ParamSpec {
                    path: path.clone(),
                    values: crate::sweep_spec::Values::Interval { low: 0.0, high: 1.0 },
                })
                .collect(),
            design: crate::sweep_spec::Design::Grid,
            replications: None,
            draws: crate::sweep_spec::Draws::Common,
        }
    }

    pub fn check(&self, c: &mut Checker) {
        c.count("episodes", self.episodes.into(), 1, 100_000);
        c.count("iterations", self.iterations.into(), 1, 1_000_000);
        c.count("starts", self.starts.into(), 1, 1_000);
        c.count("polish", self.polish.into(), 0, 100);
        c.count("params", self.params.len() as u64, 1, 64);
        c.count("targets", self.targets.len() as u64, 0, 10_000);
        for (i, p) in self.params.iter().enumerate() {
            c.within("params", |c| {
                c.within(format!("[{i}]"), |c| {
                    c.require(
                        p.min.is_finite() && p.max.is_finite() && p.min < p.max,
                        "max",
                        p.max,
                        &format!("must be finite and above min ({})", p.min),
                    );
                    c.require(
                        !self.params[..i].iter().any(|q| q.path == p.path),
                        "path",
                        format!("{:?}", p.path),
                        "must not repeat an earlier parameter",
                    );
                });
            });
        }
        for (i, t) in self.targets.iter().enumerate() {
            c.within("targets", |c| {
                c.within(format!("[{i}]"), |c| {
                    c.require(t.value.is_finite(), "value", t.value, "must be a finite number");
                    c.require(
                        t.tolerance.is_finite() && t.tolerance > 0.0,
                        "tolerance",
                        t.tolerance,
                        "must be a positive number",
                    );
                });
            });
        }
    }
}
