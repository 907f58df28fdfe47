//! Scenario files (RON): the agents, the task stream, the mechanisms and the run.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use tender_agents::validate::{Checker, Invalids};
use tender_agents::{AgentProfile, StandInParams, SyntheticSource, WorkloadSpec};

use crate::calibration::CalibrationSpec;
pub use crate::format::ron_options;
use crate::mechanisms::{AttachError, MechanismSpec, Pool, Resolved};
use crate::paths;
use crate::sweep_spec::{ParamSpec, Point, SweepError, SweepSpec};
use crate::training::Training;

tender_agents::documented! {
    /// A scenario as written in a `.ron` file.
    #[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct Scenario {
        /// The scenario's name, which heads its reports.
        pub name: String, allowed "non-empty, one line of at most 200 characters";
        /// What the scenario is for, in a sentence or two.
        #[serde(default)]
        pub description: String, shown "empty", allowed "any text";
        /// Base seed; episode seeds derive from it (splitmix64).
        pub seed: u64, allowed "a whole number from 0 to 2⁶⁴ − 1";
        /// Replications: independent task streams, each run by every mechanism.
        pub episodes: u32, in [1, 10_000_000];
        /// Folder for the results, relative to the working directory.
        #[serde(default = "default_output")]
        pub output: PathBuf, shown "`results`", allowed "a folder's path";
        /// The agent pool: stand-ins, live models or recorded columns (the agent's fields below).
        pub agents: Vec<AgentProfile>, allowed "at least one agent, names unique";
        /// Pool-wide parameters of the stand-ins ([docs/standins.md](docs/standins.md)).
        #[serde(default)]
        pub standins: StandInParams, shown "each field's default", allowed "each field's range";
        /// The task stream: its domains, bins, topics and order (the workload's fields below).
        pub workload: WorkloadSpec, allowed "see below";
        /// Training data for mechanisms that learn: `None`, `Holdout(fraction)` (a share of the
        /// stream's tasks held out) or `Separate(sets)` (fresh task sets)
        /// ([docs/mechanisms.md](docs/mechanisms.md)).
        #[serde(default)]
        pub training: Training, shown "`None`", allowed "`None`, `Holdout(fraction)` (fraction in (0, 1)), `Separate(sets)`";
        /// How tasks arrive: one after another, or in simulated time: `Poisson(rate)`,
        /// `Bursty(rates, mean_stay)`, `FromTasks` (each JSONL task's `arrival`) or `Trace(path,
        /// column, speedup)` (a recorded trace's timestamps) ([docs/time.md](docs/time.md)).
        #[serde(default)]
        pub arrivals: crate::clock::Arrivals, shown "`Sequential`", allowed "`Sequential`, `Poisson(rate)`, `Bursty(rates, mean_stay)`, `FromTasks`, `Trace(path, column, speedup)`";
        /// Timed runs: the latency target in seconds, for the share of tasks answered within it.
        #[serde(default)]
        pub latency_target: Option<f64>, shown "none", in [1e-9, 1e12];
        /// Timed runs: seconds from arrival after which a task is given up (its execution
        /// cancelled, recorded as timed out).
        #[serde(default)]
        pub timeout: Option<f64>, shown "none", in [1e-9, 1e12];
        /// The mechanisms run on the same tasks: `Sale(...)`, `Carrot(...)`, `EachAgent`, ...
        /// (README, "Mechanisms"); names must be unique, give one a `name` to repeat a kind.
        pub mechanisms: Vec<MechanismSpec>, allowed "at least one; names unique";
        /// A parameter sweep, run by `tender sweep` (command-line `--set`s replace it; README,
        /// "Sweeps").
        #[serde(default)]
        pub sweep: Option<SweepSpec>, shown "none", allowed "`(params: [(path, values), ...], design, replications, draws)`";
        /// Free parameters and targets for `tender calibrate`
        /// ([docs/standins.md](docs/standins.md)).
        #[serde(default)]
        pub calibrate: Option<CalibrationSpec>, shown "none", allowed "`(params: [...], targets: [...], episodes, iterations, starts, polish)`";
        /// The game `tender game` has the agents play: players, their strategies and utility
        /// ([docs/games.md](docs/games.md#games-tender-game)).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub game: Option<crate::game_spec::GameSpec>, shown "none", allowed "`(mechanisms, players, utility, profiles)`";
    }
}

fn default_output() -> PathBuf {
    PathBuf::from("results")
}

/// Why a scenario cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    /// The text is not a well-formed scenario.
    #[error("{file}:{line}:{column}: {message}")]
    Syntax { file: String, line: usize, column: usize, message: String },
    /// A file a mechanism's parameters name (SALE's fitted weights) cannot be used.
    #[error("{file}: cannot use a file a mechanism names")]
    Attach {
        file: String,
        #[source]
        source: AttachError,
    },
    /// The arrivals' trace cannot be read.
    #[error("{file}: cannot use the arrivals' trace")]
    Trace {
        file: String,
        #[source]
        source: crate::clock::TraceError,
    },
    /// The scenario parsed but some values are out of range.
    #[error("{file}: invalid scenario:\n{errors}")]
    Invalid { file: String, errors: Invalids },
}

/// A RON error in the words of a scenario's author, cut to a readable length.
fn syntax_message(code: &ron::Error) -> String {
    match code {
        ron::Error::ExceededRecursionLimit => {
            "nested too deeply (more than 128 levels of brackets): is a bracket left open?".to_string()
        }
        // ron suggests `r#0.01` where a field's name was left out (`Poisson(0.01)`).
        ron::Error::SuggestRawIdentifier(found) | ron::Error::InvalidIdentifier(found) => format!(
            "expected a field's name, found {:?}: write each value after its field's name, as in \
             `Poisson(rate: 0.01)` or `Sale(w_c: 0.01)`",
            tender_agents::validate::shorten(found)
        ),
        // The lists of allowed names stay whole; only what the input echoes is cut.
        other => shorten_quoted(&other.to_string()),
    }
}

/// `message` with every backquoted part cut to what an error echoes of the input.
fn shorten_quoted(message: &str) -> String {
    message
        .split('`')
        .enumerate()
        .map(|(i, part)| if i % 2 == 1 { tender_agents::validate::shorten(part) } else { part.to_string() })
        .collect::<Vec<_>>()
        .join("`")
}

/// Longest scenario name.
pub const MAX_SCENARIO_NAME: usize = 200;

/// Longest mechanism name (it heads a table row).
pub const MAX_MECHANISM_NAME: usize = 96;

/// Largest scenario file read, in bytes.
pub const MAX_SCENARIO_BYTES: u64 = 16 * 1024 * 1024;

/// Why scenario text cannot be read from `bytes` (a file's contents): not UTF-8, with the line
/// and column of the first bad byte.
pub fn text_of(bytes: Vec<u8>, file: &str) -> Result<String, ScenarioError> {
    String::from_utf8(bytes).map_err(|e| {
        let good = &e.as_bytes()[..e.utf8_error().valid_up_to()];
        let text = String::from_utf8_lossy(good);
        let line = text.matches('\n').count() + 1;
        let column = text.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
        ScenarioError::Syntax { file: file.to_string(), line, column, message: "not UTF-8 text".into() }
    })
}

impl Scenario {
    /// Parse and validate scenario text; `file` names it in errors.
    pub fn parse(text: &str, file: &str) -> Result<Self, ScenarioError> {
        // A byte-order mark is not part of the text.
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let scenario: Self = ron_options().from_str(text).map_err(|e| ScenarioError::Syntax {
            file: file.to_string(),
            line: e.span.start.line,
            column: e.span.start.col,
            message: syntax_message(&e.code),
        })?;
        scenario.validate().map_err(|errors| ScenarioError::Invalid { file: file.to_string(), errors })?;
        Ok(scenario)
    }

    /// `f` of the pool as mechanisms see it: agent names and output prices.
    pub fn with_pool<T>(&self, f: impl FnOnce(&Pool<'_>) -> T) -> T {
        let agents: Vec<&str> = self.agents.iter().map(|a| a.name.as_str()).collect();
        let prices: Vec<f64> = self.agents.iter().map(|a| a.price).collect();
        f(&Pool { agents: &agents, prices: &prices })
    }

    /// Check every value against its allowed range; each error names its field.
    pub fn validate(&self) -> Result<(), Invalids> {
        let mut c = Checker::default();
        c.require(!self.name.trim().is_empty(), "name", format!("{:?}", self.name), "must not be empty");
        c.require(
            self.name.chars().count() <= MAX_SCENARIO_NAME && !self.name.contains(['\n', '\r']),
            "name",
            format!("{:?}", self.name),
            &format!("must be one line of at most {MAX_SCENARIO_NAME} characters"),
        );
        self.check_run(&mut c);
        let mut errors = c.finish().err().map(|e| e.0).unwrap_or_default();
        // Every error class is reported at once; only checks that depend on a sound workload
        // wait for it.
        let mut c = Checker::default();
        c.within("workload", |c| self.workload.check(c));
        c.within("arrivals", |c| self.arrivals.check(c));
        if !self.arrivals.timed() {
            // Without a clock these would be silently ignored.
            const UNTIMED: &str = "only means something when tasks arrive in time: set `arrivals` (e.g. \
                                   `Poisson(rate: 0.01)`), or remove it";
            if let Some(t) = self.latency_target {
                c.require(false, "latency_target", t.to_string(), UNTIMED);
            }
            if let Some(t) = self.timeout {
                c.require(false, "timeout", t.to_string(), UNTIMED);
            }
            for (i, a) in self.agents.iter().enumerate() {
                if let Some(limit) = a.serving.queue_limit {
                    c.require(false, &format!("agents[{i}].serving.queue_limit"), limit.to_string(), UNTIMED);
                }
            }
        }
        let known = self.workload.tasks.is_none() || self.workload.loaded.is_some();
        c.within("training", |c| self.training.check(c, known.then(|| self.workload.task_count())));
        c.within("arrivals", |c| {
            self.arrivals.check_tasks(c, &self.workload, known.then(|| self.workload.task_count()));
        });
        if self.workload.tasks.is_some() {
            c.require(
                !matches!(self.training, Training::Separate(_)),
                "training",
                "Separate",
                "cannot draw fresh tasks from a task file; use `Holdout(f)`",
            );
        }
        let workload_sound = c.errors.is_empty();
        errors.append(&mut c.errors);
        if workload_sound {
            // Agents are checked against the workload's domains, so only once it is sound.
            if let Err(mut e) = self.source() {
                errors.append(&mut e.0);
            }
        }
        let mut c = Checker::default();
        c.count("mechanisms", self.mechanisms.len() as u64, 1, 10_000);
        let recorded = self.agents.iter().any(|a| matches!(a.backend, tender_agents::Backend::Recorded(_)));
        self.with_pool(|pool| {
            for (i, m) in self.mechanisms.iter().enumerate() {
                c.within("mechanisms", |c| {
                    let at = format!("[{i}]");
                    c.within(&at, |c| m.check(c, pool));
                    c.require(
                        !(m.needs().bids && recorded),
                        &at,
                        "an auction of plans",
                        "needs plans and jury scores, which recorded agents (trace tables) do not have; \
                         routers, single agents, random and the oracle run on any trace",
                    );
                    c.require(
                        !(m.needs().training && self.training.is_none()),
                        &at,
                        "learning or fitting on training tasks",
                        "needs training data: add `training: Holdout(0.2)` or `training: Separate(1)`",
                    );
                });
            }
        });
        if c.errors.is_empty() {
            let resolved = self.resolve_mechanisms();
            let mut seen = std::collections::HashSet::with_capacity(resolved.len());
            for r in &resolved {
                let name = &r.name;
                c.require(
                    name.chars().count() <= MAX_MECHANISM_NAME && !name.contains(['\n', '\r']),
                    "mechanisms",
                    format!("{name:?}"),
                    &format!("names must be one line of at most {MAX_MECHANISM_NAME} characters"),
                );
                c.require(
                    seen.insert(name.as_str()),
                    "mechanisms",
                    format!("{name:?}"),
                    "names must be unique (give one of them a `name`)",
                );
            }
            if let Some(game) = &self.game {
                let agents: Vec<&str> = self.agents.iter().map(|a| a.name.as_str()).collect();
                let markets: Vec<String> = resolved.iter().map(|r| r.name.clone()).collect();
                c.within("game", |c| game.check(c, &agents, &markets));
            }
        }
        if c.errors.is_empty()
            && errors.is_empty()
            && let Some(sweep) = &self.sweep
        {
            // Everything `tender sweep` will check: counts, paths, values, and every point's
            // scenario.
            c.within("sweep", |c| sweep.check_ranges(c));
            if let Err(e) = self.check_sweep(sweep) {
                c.require(false, "sweep", "the sweep", &e.to_string());
            }
        }
        if let Some(cal) = &self.calibrate {
            c.within("calibrate", |c| cal.check(c));
            if c.errors.is_empty()
                && let Err(e) = self.check_paths(&cal.sweep_spec().params)
            {
                c.require(false, "calibrate.params", "a path", &e.to_string());
            }
        }
        errors.append(&mut c.errors);
        if errors.is_empty() { Ok(()) } else { Err(Invalids(errors)) }
    }

    /// What a user should know of a valid scenario: settings that make a mechanism equal to
    /// another, and reference agents chosen by a tie-break rather than by price. One sentence
    /// each, naming where.
    #[must_use]
    pub fn warnings(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        self.with_pool(|pool| {
            for (i, m) in self.mechanisms.iter().enumerate() {
                out.extend(m.warnings(pool).into_iter().map(|w| format!("mechanisms[{i}]: {w}")));
            }
        });
        let infos: Vec<tender_agents::AgentInfo> = self.agents.iter().map(tender_agents::AgentProfile::info).collect();
        let r = tender_agents::References::of(&infos);
        for (role, chosen, by, how) in [
            ("largest", r.largest, r.largest_by, "listed last"),
            ("smallest", r.smallest, r.smallest_by, "listed first"),
        ] {
            let why = match by {
                tender_agents::ChosenBy::Size => "by the model size in its name",
                tender_agents::ChosenBy::Order => how,
                tender_agents::ChosenBy::Marked | tender_agents::ChosenBy::Price => continue,
            };
            out.push(format!(
                "agents: several agents share the {} price, so the {role} agent, which comparisons are made \
                 against (\"vs {role}\", routing's {} agent), is {:?}, {why}; mark another with `reference: {}` \
                 to choose",
                if role == "largest" { "highest" } else { "lowest" },
                if role == "largest" { "strong" } else { "weak" },
                self.agents[chosen].name,
                if role == "largest" { "Largest" } else { "Smallest" },
            ));
        }
        out
    }

    /// Check what the command line may override (episodes, output folder): all a scenario that
    /// validated needs checking again after `--episodes` or `--out`.
    pub fn validate_run(&self) -> Result<(), Invalids> {
        let mut c = Checker::default();
        self.check_run(&mut c);
        c.finish()
    }

    fn check_run(&self, c: &mut Checker) {
        self.check_ranges(c);
        c.require(!self.output.as_os_str().is_empty(), "output", "\"\"", "must name a folder");
    }

    /// Read the files the mechanisms' parameters name (SALE's `weights: FILE`) through `read`
    /// (paths are relative to `base`, the scenario file's folder), and write their contents into
    /// the parameters in place of the reference. `file` names the scenario in errors.
    pub fn attach_files(
        &mut self,
        base: &Path,
        file: &str,
        read: &dyn Fn(&Path) -> std::io::Result<String>,
    ) -> Result<(), ScenarioError> {
        let mut attached = matches!(self.arrivals, crate::clock::Arrivals::Trace { .. });
        self.arrivals
            .attach_trace(base, read)
            .map_err(|source| ScenarioError::Trace { file: file.to_string(), source })?;
        let read =
            |path: &Path| read(path).map_err(|source| AttachError::Read { path: path.display().to_string(), source });
        for m in &mut self.mechanisms {
            attached |= m
                .attach_files(base, &read)
                .map_err(|source| ScenarioError::Attach { file: file.to_string(), source })?;
        }
        // What the files hold must fit the pool, as the scenario's own values would have to (a
        // scenario without files was validated when parsed).
        if attached {
            self.validate().map_err(|errors| ScenarioError::Invalid { file: file.to_string(), errors })?;
        }
        Ok(())
    }

    /// The synthetic outcome source of the scenario's pool.
    pub fn source(&self) -> Result<SyntheticSource, Invalids> {
        SyntheticSource::new(self.agents.clone(), self.standins, &self.workload)
    }

    /// The scenario's mechanisms, resolved and named, in file order.
    #[must_use]
    pub fn resolve_mechanisms(&self) -> Vec<Resolved> {
        self.with_pool(|pool| self.mechanisms.iter().flat_map(|m| m.resolve(pool)).collect())
    }

    /// Keep only the entries of `mechanisms` that stand for at least one of the columns `names`
    /// (by table name): a command that runs some markets many times runs only those.
    pub fn keep_mechanisms(&mut self, names: &[String]) {
        let keep: Vec<bool> = self.with_pool(|pool| {
            self.mechanisms.iter().map(|m| m.resolve(pool).iter().any(|r| names.contains(&r.name))).collect()
        });
        let mut kept = keep.iter();
        self.mechanisms.retain(|_| kept.next().copied().unwrap_or(false));
    }

    /// Every table name of the scenario's mechanisms, lower-cased, with the index of the entry
    /// of `mechanisms` it comes from (`EachAgent` stands for several): how a path names a
    /// mechanism.
    #[must_use]
    pub fn table_names(&self) -> Vec<(usize, String)> {
        self.with_pool(|pool| {
            self.mechanisms
                .iter()
                .enumerate()
                .flat_map(|(i, m)| m.resolve(pool).into_iter().map(move |r| (i, r.name.to_lowercase())))
                .collect()
        })
    }

    /// Every check `tender sweep` makes before it runs `sweep` on this scenario: no parameter
    /// twice (by any spelling), every path leads somewhere, the values form points, and every point gives a valid
    /// scenario.
    pub fn check_sweep(&self, sweep: &SweepSpec) -> Result<(), SweepError> {
        self.check_paths(&sweep.params)?;
        for p in sweep.points(self.seed)?.iter().take(10_000) {
            self.at(p)?;
        }
        Ok(())
    }

    /// The scenario at one point of a sweep: every assignment applied, then validated.
    pub fn at(&self, point: &Point) -> Result<Self, SweepError> {
        let out = self.assigned(point)?;
        out.validate().map_err(|errors| SweepError::Invalid {
            point: point.index,
            assignments: point.label(),
            message: errors.to_string(),
        })?;
        Ok(out)
    }

    /// Every assignment of `point` applied, not yet validated ([`Self::at`] validates).
    pub fn assigned(&self, point: &Point) -> Result<Self, SweepError> {
        let invalid = |message: String| SweepError::Invalid { point: point.index, assignments: point.label(), message };
        let mut tree = serde_json::to_value(self).map_err(|e| invalid(e.to_string()))?;
        let names = self.table_names();
        for (path, value) in &point.assignments {
            paths::set(&mut tree, path, value.clone(), &names)?;
        }
        let mut out: Self = serde_json::from_value(tree).map_err(|e| invalid(e.to_string()))?;
        // A point is one scenario, not a sweep of its own.
        out.sweep = None;
        // Tasks and a trace's timestamps read from files are not part of the scenario's text.
        out.workload.loaded.clone_from(&self.workload.loaded);
        out.arrivals.keep_trace(&self.arrivals);
        for m in &mut out.mechanisms {
            m.after_assignments();
        }
        Ok(out)
    }

    /// Check that every path leads somewhere in the scenario.
    pub fn check_paths(&self, params: &[ParamSpec]) -> Result<(), SweepError> {
        let tree =
            serde_json::to_value(self).map_err(|e| SweepError::Path { path: String::new(), message: e.to_string() })?;
        paths::check(&tree, &self.table_names(), params)
    }

    /// The value a path names in the scenario.
    pub fn value_at(&self, path: &str) -> Result<serde_json::Value, SweepError> {
        let mut tree = serde_json::to_value(self)
            .map_err(|e| SweepError::Path { path: path.to_string(), message: e.to_string() })?;
        Ok(paths::lookup(&mut tree, path, &self.table_names())?.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = r#"Scenario(
    name: "t",
    seed: 1,
    episodes: 2,
    agents: [
        (name: "a", price: 0.1, skill: {"qa": [0.9, 0.5]}),
        (name: "b", price: 0.3, skill: {"qa": [0.95, 0.7]}),
    ],
    workload: (domains: [(name: "qa", bins: [(tau_max: 0.1, tasks: 5), (tau_max: 1.0, tasks: 5)])]),
    mechanisms: [Sale(w_c: 0.01, w_h: 1.0), EachAgent, Random, Oracle],
)"#;

    #[test]
    fn a_minimal_scenario_parses_with_defaults() {
        let s = Scenario::parse(MINIMAL, "t.ron").unwrap();
        let names: Vec<String> = s.resolve_mechanisms().into_iter().map(|r| r.name).collect();
        assert_eq!(names, ["SALE", "a alone", "b alone", "random", "oracle"]);
        assert_eq!(s.output, PathBuf::from("results"));
    }

    #[test]
    fn syntax_errors_name_file_line_and_column() {
        let text = MINIMAL.replace("episodes: 2,", "episodes: 2,,");
        let e = Scenario::parse(&text, "bad.ron").unwrap_err();
        let ScenarioError::Syntax { file, line, column, .. } = &e else { panic!("{e}") };
        assert_eq!((file.as_str(), *line), ("bad.ron", 4));
        assert!(*column > 1);
        assert!(e.to_string().starts_with("bad.ron:4:"));
    }

    #[test]
    fn unknown_fields_are_rejected() {
        let text = MINIMAL.replace("seed: 1,", "seed: 1, sed: 2,");
        let e = Scenario::parse(&text, "x.ron").unwrap_err();
        assert!(e.to_string().contains("sed"), "{e}");
    }

    #[test]
    fn out_of_range_values_name_the_field_and_range() {
        let text = MINIMAL.replace("[0.9, 0.5]", "[0.9, 1.5]").replace("Random", "Single(agent: \"zz\")");
        let e = Scenario::parse(&text, "x.ron").unwrap_err();
        let msg = e.to_string();
        assert!(msg.contains("`agents[0].skill[\"qa\"][1]` = 1.5 is invalid: must lie in [0, 1]"), "{msg}");
        assert!(msg.contains("`mechanisms[2].agent` = \"zz\""), "{msg}");
    }

    #[test]
    fn duplicate_mechanism_names_are_rejected() {
        let text = MINIMAL.replace("Random, Oracle", "Random, Random");
        assert!(Scenario::parse(&text, "x.ron").unwrap_err().to_string().contains("unique"));
    }

    fn sweep_of(sets: &[&str]) -> SweepSpec {
        SweepSpec {
            params: sets.iter().map(|a| crate::sweep_spec::parse_set(a).unwrap()).collect(),
            design: crate::sweep_spec::Design::Grid,
            replications: None,
            draws: crate::sweep_spec::Draws::Common,
        }
    }

    #[test]
    fn two_spellings_of_one_sweep_parameter_are_refused() {
        let s = Scenario::parse(MINIMAL, "x.ron").unwrap();
        let e = s.check_sweep(&sweep_of(&["mechanisms.sale.w_c=0.01,0.02", "mechanisms[0].w_c=0.03"])).unwrap_err();
        assert!(e.to_string().contains("names the same parameter as `mechanisms.sale.w_c`"), "{e}");
        let e = s.check_sweep(&sweep_of(&["agents.a.price=0.1", "agents[0].price=0.2"])).unwrap_err();
        assert!(e.to_string().contains("same parameter"), "{e}");
        assert!(s.check_sweep(&sweep_of(&["mechanisms.sale.w_c=0.01", "mechanisms.sale.w_h=1,2"])).is_ok());
    }

    #[test]
    fn a_name_with_a_dot_is_quoted_or_given_by_index() {
        let s = Scenario::parse(&MINIMAL.replace("(name: \"a\",", "(name: \"qwen2.5-0.5b\","), "x.ron").unwrap();
        assert_eq!(s.value_at("agents[\"qwen2.5-0.5b\"].price").unwrap(), serde_json::json!(0.1));
        let e = s.value_at("agents.qwen2.5-0.5b.price").unwrap_err().to_string();
        assert!(e.contains("no entry `qwen2` in `agents`"), "{e}");
        assert!(e.contains("`agents[\"qwen2.5-0.5b\"]`") && e.contains("`agents[0]`"), "{e}");
        assert!(s.check_sweep(&sweep_of(&["agents[\"qwen2.5-0.5b\"].memory_gain=0.6,1.2"])).is_ok());
    }

    #[test]
    fn syntax_errors_keep_the_allowed_names_whole_and_say_what_is_missing() {
        let e = Scenario::parse(&MINIMAL.replace("seed: 1,", "seed: 1, arrivals: Poisson(0.01),"), "x.ron")
            .unwrap_err()
            .to_string();
        assert!(e.contains("expected a field's name") && e.contains("Poisson(rate: 0.01)") && !e.contains("r#"), "{e}");
        let e = Scenario::parse(&MINIMAL.replace("Random,", "Rando,"), "x.ron").unwrap_err().to_string();
        assert!(!e.contains("more characters") && e.contains("Random") && e.contains("RefinedOracle"), "{e}");
    }

    #[test]
    fn a_pool_too_large_is_refused_before_its_agents_are_checked() {
        // Every agent invalid and named alike: checking them would be quadratic work.
        let agents: String = (0..tender_agents::synthetic::MAX_AGENTS * 3)
            .map(|_| "(name: \"x\", price: 0.1, skill: {\"qa\": [1.5, 0.5]}),")
            .collect();
        let text = MINIMAL.replace("(name: \"a\",", &format!("{agents} (name: \"a\","));
        let Err(ScenarioError::Invalid { errors, .. }) = Scenario::parse(&text, "x.ron") else { panic!("refused") };
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        assert!(fields.iter().all(|f| !f.starts_with("agents[")), "agents were checked: {:?}", &fields[..3]);
        assert!(errors.iter().any(|e| e.field == "agents" && e.allowed.contains("[1, 4096]")), "{errors}");
    }

    #[test]
    fn clock_settings_without_a_clock_are_refused() {
        for (from, to, field) in [
            ("seed: 1,", "seed: 1, timeout: 60,", "`timeout`"),
            ("seed: 1,", "seed: 1, latency_target: 60,", "`latency_target`"),
            ("price: 0.1,", "price: 0.1, serving: (queue_limit: 0),", "`agents[0].serving.queue_limit`"),
        ] {
            let e = Scenario::parse(&MINIMAL.replace(from, to), "x.ron").unwrap_err().to_string();
            assert!(e.contains(field) && e.contains("only means something when tasks arrive in time"), "{e}");
            let timed = MINIMAL.replace(from, to).replace("seed: 1,", "seed: 1, arrivals: Poisson(rate: 0.01),");
            assert!(Scenario::parse(&timed, "x.ron").is_ok(), "{field} is fine in a timed scenario");
        }
    }
}
