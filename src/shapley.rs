//! `tender shapley`: each agent's Shapley value in a scenario's markets. Every coalition of
//! agents (or the coalitions along sampled join orders) is run as its own market, on the same
//! episode seeds (common random numbers: an agent's draws follow its name, so a task is the same
//! task and an agent the same agent in every coalition), and the values are computed per
//! episode, then averaged with a 95% interval.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use tender_analysis::metrics::{EpisodeTotals, Metric};
use tender_analysis::output::write_atomic;
use tender_analysis::shapley::{Coalition, DEFAULT_ORDERS, EXACT_LIMIT, MAX_AGENTS, Method, grand, members};
use tender_analysis::stats::Estimate;
use tender_engine::{Role, Scenario};

use crate::backends::LiveOptions;
use crate::cli::{ShapleyArgs, ShapleyMetric};
use crate::io::{Bar, Progress, count, emit};

/// The metrics every run values, in the order of `shapley.csv`.
const METRICS: [ShapleyMetric; 3] = [ShapleyMetric::Welfare, ShapleyMetric::PassAt1, ShapleyMetric::Cost];

impl ShapleyMetric {
    fn metric(self) -> Metric {
        match self {
            Self::Welfare => Metric::Welfare,
            Self::PassAt1 => Metric::PassAt1,
            Self::Cost => Metric::TotalCost,
        }
    }

    /// The identifier in `shapley.csv`, the table's unit, and the factor and decimals it shows.
    fn shown(self) -> (&'static str, &'static str, f64, usize) {
        match self {
            Self::Welfare => ("welfare_usd", "welfare, $ per episode", 1.0, 2),
            Self::PassAt1 => ("pass_at_1", "pass@1, points", 100.0, 1),
            Self::Cost => ("cost_usd", "cost, $ per episode", 1.0, 3),
        }
    }
}

/// One metric's values of one market over the coalitions run: `[coalition][episode]`.
type Values = Vec<Vec<f64>>;

/// How `tender shapley` refuses live agents.
pub const DOING: &str = "`tender shapley` runs a market for every coalition of agents";

pub fn shapley(args: &ShapleyArgs) -> Result<()> {
    let (scenario, out) = crate::backends::load_for_many_runs(&args.file, &args.runs, "shapley", DOING)?;
    let ask = Ask { metric: args.metric, markets: &args.mechanism, permutations: args.permutations };
    let text = values(scenario, &args.file, &ask, args.runs.threads.jobs, &out, &Bar::default())?;
    emit(&text)
}

/// What a Shapley computation is asked for.
pub struct Ask<'a> {
    /// What the table printed and the plot show (`shapley.csv` holds every metric).
    pub metric: ShapleyMetric,
    /// The markets valued, by table name; none: every market of the scenario.
    pub markets: &'a [String],
    /// Join orders sampled instead of every coalition.
    pub permutations: Option<u32>,
}

/// Each agent's Shapley values in the scenario's markets, into `out` (`file` locates the files
/// the scenario names; `jobs` threads); returns the table `tender shapley` prints.
pub fn values(
    mut scenario: Scenario,
    file: &Path,
    ask: &Ask<'_>,
    jobs: Option<usize>,
    out: &Path,
    progress: &dyn Progress,
) -> Result<String> {
    let n = scenario.agents.len();
    if !(2..=MAX_AGENTS).contains(&n) {
        bail!("{}: {n} agents; Shapley values need from 2 to {MAX_AGENTS}", file.display());
    }
    let method = match ask.permutations {
        Some(k) => Method::sampled(n, k, scenario.seed),
        None if n <= EXACT_LIMIT => Method::Exact,
        None => Method::sampled(n, DEFAULT_ORDERS, scenario.seed),
    };
    let markets = chosen(&scenario, ask.markets)?;
    // Only the entries that stand for a valued market run in the coalitions.
    let names: Vec<String> = scenario.agents.iter().map(|a| a.name.clone()).collect();
    scenario.keep_mechanisms(&markets);
    let coalitions = method.coalitions(n);
    progress.start(
        coalitions.len() as u64 * u64::from(scenario.episodes) * markets.len() as u64,
        "runs (coalition × episode × market)",
    );
    // values[metric][market][coalition][episode]
    let mut values: Vec<Vec<Values>> = vec![vec![Vec::new(); markets.len()]; METRICS.len()];
    for &c in &coalitions {
        let who = coalition_name(&names, c);
        if progress.cancelled() {
            bail!("cancelled before the market of {who}");
        }
        progress.message(format!("coalition {who}"));
        let sub = coalition(&scenario, c);
        if let Err(errors) = sub.validate() {
            bail!("the market of {who} is not a valid scenario:\n{errors}");
        }
        let prepared =
            crate::backends::prepare(sub, file, &LiveOptions { no_trace: true, no_cache: true, ..Default::default() })
                .with_context(|| format!("cannot prepare the market of {who}"))?
                .prepared;
        let batch = prepared
            .run(&prepared.options(jobs), &|| progress.tick())
            .with_context(|| format!("the market of {who} failed"))?;
        for (k, market) in markets.iter().enumerate() {
            let column = batch.mechanisms.iter().position(|m| &m.name == market).with_context(|| {
                format!("{market:?} does not run in the market of {who}: does it name an agent not in it?")
            })?;
            let totals: Vec<EpisodeTotals> = batch
                .runs
                .iter()
                .filter(|r| usize::from(r.mechanism) == column)
                .map(|r| EpisodeTotals::of(&r.records, members(c).len()))
                .collect();
            for (m, metric) in METRICS.iter().enumerate() {
                let metric = metric.metric();
                values[m][k].push(totals.iter().map(|t| metric.of(t).unwrap_or(f64::NAN)).collect());
            }
        }
    }
    let position: BTreeMap<Coalition, usize> = coalitions.iter().enumerate().map(|(i, &c)| (c, i)).collect();
    let results = Results {
        names,
        markets,
        coalitions: coalitions.clone(),
        position,
        values,
        method,
        episodes: scenario.episodes,
    };
    let staged = crate::results::Staged::new(out, "shapley", &[])?;
    crate::io::write_scenario(staged.path(), &scenario)?;
    results.write(staged.path())?;
    let (_, unit, _, _) = ask.metric.shown();
    let series: Vec<(String, Vec<[f64; 3]>)> = results
        .markets
        .iter()
        .enumerate()
        .map(|(k, market)| {
            let m = metric_index(ask.metric);
            (market.clone(), results.shapley(m, k).iter().map(|e| [e.mean, e.low, e.high]).collect())
        })
        .collect();
    let title = format!(
        "Shapley values in {}, 95% intervals over {}",
        scenario.name,
        count(scenario.episodes, "episode", "episodes")
    );
    tender_analysis::plot::interval_bars(staged.path(), "shapley", [&title, "agent", unit], &results.names, series)?;
    staged.commit()?;
    Ok(results.table(ask.metric, out))
}

/// The markets valued: those named, or every market of the scenario.
fn chosen(scenario: &Scenario, asked: &[String]) -> Result<Vec<String>> {
    let resolved = scenario.resolve_mechanisms();
    let markets: Vec<String> = resolved.iter().filter(|m| m.role() == Role::Market).map(|m| m.name.clone()).collect();
    if asked.is_empty() {
        if markets.is_empty() {
            bail!("the scenario has no market to value (only agents alone and oracles); add one");
        }
        return Ok(markets);
    }
    for name in asked {
        if !resolved.iter().any(|m| &m.name == name) {
            bail!(
                "--mechanism {name:?}: not a mechanism of the scenario; its markets are {}",
                markets.iter().map(|m| format!("{m:?}")).collect::<Vec<_>>().join(", ")
            );
        }
    }
    Ok(asked.to_vec())
}

/// The scenario with the agents of `c` only.
fn coalition(scenario: &Scenario, c: Coalition) -> Scenario {
    let mut sub = scenario.clone();
    sub.agents = members(c).into_iter().map(|i| scenario.agents[i].clone()).collect();
    // They name agents of the whole pool, and none is run here.
    (sub.sweep, sub.calibrate, sub.game) = (None, None, None);
    sub
}

fn coalition_name(names: &[String], c: Coalition) -> String {
    members(c).iter().map(|&i| names[i].as_str()).collect::<Vec<_>>().join(" + ")
}

fn metric_index(metric: ShapleyMetric) -> usize {
    METRICS.iter().position(|&m| m == metric).unwrap_or(0)
}

struct Results {
    names: Vec<String>,
    markets: Vec<String>,
    coalitions: Vec<Coalition>,
    position: BTreeMap<Coalition, usize>,
    values: Vec<Vec<Values>>,
    method: Method,
    episodes: u32,
}

impl Results {
    fn value(&self, m: usize, k: usize, c: Coalition) -> &[f64] {
        &self.values[m][k][self.position[&c]]
    }

    /// Each agent's value of metric `m` in market `k`: the mean and 95% interval of its
    /// per-episode values.
    fn shapley(&self, m: usize, k: usize) -> Vec<Estimate> {
        let n = self.names.len();
        let per_episode: Vec<Vec<f64>> =
            (0..self.episodes as usize).map(|e| self.method.values(n, &|c| self.value(m, k, c)[e])).collect();
        (0..n).map(|i| Estimate::of(per_episode.iter().map(|phi| phi[i]))).collect()
    }

    fn coalition_estimate(&self, m: usize, k: usize, c: Coalition) -> Estimate {
        Estimate::of(self.value(m, k, c).iter().copied())
    }

    /// The sampling error of each value, from the orders' spread on the episode means.
    fn sampling_error(&self, m: usize, k: usize) -> Option<Vec<f64>> {
        self.method.sampling_error(self.names.len(), &|c| self.coalition_estimate(m, k, c).mean)
    }

    fn write(&self, dir: &Path) -> Result<()> {
        let mut rows = csv::Writer::from_writer(Vec::new());
        rows.write_record([
            "mechanism",
            "metric",
            "agent",
            "shapley",
            "ci_low",
            "ci_high",
            "sampling_se",
            "alone",
            "grand",
        ])?;
        let mut coalitions = csv::Writer::from_writer(Vec::new());
        coalitions.write_record([
            "mechanism",
            "metric",
            "coalition",
            "agents",
            "mean",
            "ci_low",
            "ci_high",
            "episodes",
        ])?;
        let n = self.names.len();
        for (m, metric) in METRICS.iter().enumerate() {
            let (id, _, _, _) = metric.shown();
            for (k, market) in self.markets.iter().enumerate() {
                let errors = self.sampling_error(m, k);
                let grand = self.coalition_estimate(m, k, grand(n)).mean;
                for (i, phi) in self.shapley(m, k).iter().enumerate() {
                    let alone = self.position.get(&(1 << i)).map(|_| self.coalition_estimate(m, k, 1 << i).mean);
                    let cell = |x: Option<f64>| x.map(|x| x.to_string()).unwrap_or_default();
                    rows.write_record([
                        market.clone(),
                        id.to_string(),
                        self.names[i].clone(),
                        phi.mean.to_string(),
                        phi.low.to_string(),
                        phi.high.to_string(),
                        cell(errors.as_ref().map(|e| e[i])),
                        cell(alone),
                        grand.to_string(),
                    ])?;
                }
                for &c in &self.coalitions {
                    let e = self.coalition_estimate(m, k, c);
                    coalitions.write_record([
                        market.clone(),
                        id.to_string(),
                        coalition_name(&self.names, c),
                        members(c).len().to_string(),
                        e.mean.to_string(),
                        e.low.to_string(),
                        e.high.to_string(),
                        e.n.to_string(),
                    ])?;
                }
            }
        }
        for (name, writer) in [("shapley.csv", rows), ("coalitions.csv", coalitions)] {
            let bytes = writer.into_inner().context("cannot finish a table")?;
            write_atomic(&dir.join(name), |w| w.write_all(&bytes))?;
        }
        Ok(())
    }

    /// The values of `metric` as a markdown table, one column per market, with the market of
    /// every agent as the last row (the values sum to it).
    fn table(&self, metric: ShapleyMetric, out: &Path) -> String {
        let m = metric_index(metric);
        let (_, unit, scale, decimals) = metric.shown();
        let n = self.names.len();
        let how = match &self.method {
            Method::Exact => format!("every coalition ({} markets)", self.coalitions.len()),
            Method::Permutations(orders) => format!(
                "{} sampled join orders ({} markets; ± is the 95% interval over episodes, `sampling_se` in \
                 shapley.csv the orders' error)",
                orders.len(),
                self.coalitions.len()
            ),
        };
        let mut text = format!(
            "Shapley values of {unit}, mean ± 95% interval over {}, {how}, common random numbers:\n\n| agent | {} |\n|---|{}\n",
            count(self.episodes, "episode", "episodes"),
            self.markets.join(" | "),
            "---|".repeat(self.markets.len())
        );
        let cell = |e: &Estimate| {
            let half = e.half_width() * scale;
            if half.is_finite() {
                format!("{:.decimals$} ± {half:.decimals$}", e.mean * scale)
            } else {
                format!("{:.decimals$}", e.mean * scale)
            }
        };
        let values: Vec<Vec<Estimate>> = (0..self.markets.len()).map(|k| self.shapley(m, k)).collect();
        for (i, name) in self.names.iter().enumerate() {
            let row: Vec<String> = values.iter().map(|v| cell(&v[i])).collect();
            text.push_str(&format!("| {name} | {} |\n", row.join(" | ")));
        }
        let all: Vec<String> =
            (0..self.markets.len()).map(|k| cell(&self.coalition_estimate(m, k, grand(n)))).collect();
        text.push_str(&format!("| all agents' market (the sum) | {} |\n", all.join(" | ")));
        text.push_str(&format!(
            "\nWritten to {}: shapley.csv (welfare, pass@1 and cost), coalitions.csv, shapley.png.",
            PathBuf::from(out).display()
        ));
        text
    }
}
