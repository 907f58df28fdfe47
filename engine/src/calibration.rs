//! A scenario's `calibrate:` block: which parameters `tender calibrate` may move, within which
//! ranges, and which published (or recorded) numbers the simulation must reproduce.

use serde::{Deserialize, Serialize};
use tender_agents::validate::Checker;

tender_agents::documented! {
    /// What to calibrate and against what (`calibrate: (...)`).
    #[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct CalibrationSpec {
        /// Episodes per evaluation. Every evaluation uses the same episode seeds (common random
        /// numbers), so differences between parameter values are not sampling noise.
        #[serde(default = "default_episodes")]
        pub episodes: u32, default default_episodes(), in [1, 100_000];
        /// Optimiser iterations (Nelder-Mead steps) per start.
        #[serde(default = "default_iterations")]
        pub iterations: u32, default default_iterations(), in [1, 1_000_000];
        /// Nelder-Mead runs: the first from the scenario's own values, each later one restarted
        /// from the best point so far with a fresh simplex.
        #[serde(default = "one")]
        pub starts: u32, default one(), in [1, 1_000];
        /// Coordinate-search sweeps after Nelder-Mead: each parameter alone tried across its range
        /// (the identifiability profile's values) and near its best value, moving whenever the
        /// distance falls, until a sweep moves nothing. A welfare-fitted SALE makes the distance
        /// piecewise constant, where a simplex stalls; this also leaves the fitted point at least as
        /// good as every point of its own profile. 0: none.
        #[serde(default)]
        pub polish: u32, default 0, in [0, 100];
        /// The free parameters, each a sweep path with its range (below).
        pub params: Vec<FreeParam>, allowed "1 to 64, no path twice";
        /// The numbers the simulation must reproduce (below).
        pub targets: Vec<Target>, allowed "up to 10,000";
    }
}

tender_agents::documented! {
    /// A parameter the calibration may move.
    #[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct FreeParam {
        /// A sweep path (`standins.verbosity_bias`, `agents.qwen3-4b.memory_gain`, ...).
        pub path: String, allowed "a number field of the scenario";
        /// The lower end of its range.
        pub min: f64, allowed "finite";
        /// The upper end of its range.
        pub max: f64, allowed "finite, above `min`";
        /// Further paths that take the same value (one memory gain for every agent).
        #[serde(default)]
        pub also: Vec<String>, shown "`[]`", allowed "number fields of the scenario";
    }
}

tender_agents::documented! {
    /// A number the simulation must reproduce: `metric` of `mechanism` over `scope`, within
    /// `tolerance` of `value`.
    #[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct Target {
        /// The mechanism's name in tables (`SALE`, `qwen3-32b alone`, `oracle`); two joined by
        /// ` & ` for `joint_success`.
        pub mechanism: String, allowed "a mechanism of the scenario";
        /// `all`, a domain's name, or `DOMAIN/tau<=MAX` for one bin, as in summary.csv.
        #[serde(default = "all")]
        pub scope: String, shown "`all`", allowed "`all`, a domain, `DOMAIN/tau<=MAX`";
        /// A metric id of summary.csv (`pass_at_1`, `usd_per_delivered_mtok`, `share:qwen3-32b`,
        /// `largest_reliance_reduction`, ...), in its units there (shares are fractions), or
        /// `joint_success` with `mechanism: "A alone & B alone"`: the share of tasks both solve.
        pub metric: String, allowed "a metric id of summary.csv, or `joint_success`";
        /// The number.
        pub value: f64, allowed "finite";
        /// How far from `value` counts as reproduced; the distance sums ((achieved − value) /
        /// tolerance)².
        pub tolerance: f64, allowed "positive";
        /// Where the number comes from, for the fit table.
        #[serde(default)]
        pub source: String, shown "empty", allowed "any text";
    }
}

const fn default_episodes() -> u32 {
    10
}

const fn default_iterations() -> u32 {
    150
}

const fn one() -> u32 {
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
        self.check_ranges(c);
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
