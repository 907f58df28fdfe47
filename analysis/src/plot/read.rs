//! Reading saved results back: CSV files, a run's per-task rows (plain or gzip) and its routing
//! report, into the figures' data.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::draw::{Est, Figure, Lines};
use super::error::PlotError;

pub(super) fn num(s: &str) -> f64 {
    s.parse().unwrap_or(f64::NAN)
}

pub(super) fn read_csv(path: &Path) -> Result<(Vec<String>, Vec<Vec<String>>), PlotError> {
    let err = |source: csv::Error| PlotError::Csv { path: path.to_path_buf(), source };
    let mut r = csv::ReaderBuilder::new().from_path(path).map_err(err)?;
    let header = r.headers().map_err(err)?.iter().map(String::from).collect();
    let rows = r
        .records()
        .map(|rec| rec.map(|x| x.iter().map(String::from).collect()).map_err(err))
        .collect::<Result<_, _>>()?;
    Ok((header, rows))
}

pub(super) fn column(header: &[String], name: &str, path: &Path) -> Result<usize, PlotError> {
    header
        .iter()
        .position(|h| h == name)
        .ok_or_else(|| PlotError::MissingColumn { path: path.to_path_buf(), column: name.to_string() })
}

/// The routing figure from `routing.csv`, when the run wrote one.
pub(super) fn routing_figure(dir: &Path) -> Result<Option<Figure>, PlotError> {
    let path = dir.join("routing.csv");
    if !path.exists() {
        return Ok(None);
    }
    let (header, rows) = read_csv(&path)?;
    let (m, c, x, y, role) = (
        column(&header, "mechanism", &path)?,
        column(&header, "curve", &path)?,
        column(&header, "strong_share", &path)?,
        column(&header, "accuracy", &path)?,
        column(&header, "role", &path)?,
    );
    let strong = rows
        .iter()
        .find(|r| r[role] == "strong")
        .map_or("the strong agent".to_string(), |r| r[m].strip_suffix(" alone").unwrap_or(&r[m]).to_string());
    let mut series: Vec<(String, Vec<(f64, f64)>)> = Vec::new();
    let mut mixture = [(0.0, f64::NAN), (100.0, f64::NAN)];
    for row in rows.iter().filter(|r| r[c] != "APGR") {
        if row[x].is_empty() {
            continue;
        }
        let point = (num(&row[x]) * 100.0, num(&row[y]) * 100.0);
        // Random mixtures run from the weak agent alone to the strong one alone.
        match row[role].as_str() {
            "weak" => mixture[0] = point,
            "strong" => mixture[1] = point,
            _ => {}
        }
        let name = if row[c].is_empty() { row[m].clone() } else { row[c].clone() };
        match series.iter_mut().find(|(n, _)| *n == name) {
            Some((_, pts)) => pts.push(point),
            None => series.push((name, vec![point])),
        }
    }
    Ok(Some(Figure::Routing {
        title: format!("Accuracy against the share of calls to {strong}"),
        strong,
        series,
        mixture,
    }))
}

/// A run's saved results: the summary and what the per-task file says about learning.
pub(super) struct RunData {
    pub mechanisms: Vec<String>,
    pub agents: Vec<String>,
    /// `(scope, metric) -> per mechanism`.
    estimates: BTreeMap<(String, String), BTreeMap<String, Est>>,
    pub bins: Vec<String>,
}

impl RunData {
    pub fn load(dir: &Path) -> Result<Self, PlotError> {
        let path = dir.join("summary.csv");
        let (header, rows) = read_csv(&path)?;
        let [m, s, k, mean, lo, hi] =
            ["mechanism", "scope", "metric", "mean", "ci_low", "ci_high"].map(|c| column(&header, c, &path));
        let (m, s, k, mean, lo, hi) = (m?, s?, k?, mean?, lo?, hi?);
        let mut mechanisms: Vec<String> = Vec::new();
        let mut agents: Vec<String> = Vec::new();
        let mut bins: Vec<String> = Vec::new();
        let mut estimates: BTreeMap<(String, String), BTreeMap<String, Est>> = BTreeMap::new();
        for r in &rows {
            if !mechanisms.contains(&r[m]) {
                mechanisms.push(r[m].clone());
            }
            if let Some(a) = r[k].strip_prefix("share:")
                && !agents.iter().any(|x| x == a)
            {
                agents.push(a.to_string());
            }
            if r[s].contains("/tau<=") && !bins.contains(&r[s]) {
                bins.push(r[s].clone());
            }
            estimates
                .entry((r[s].clone(), r[k].clone()))
                .or_default()
                .insert(r[m].clone(), Est { mean: num(&r[mean]), low: num(&r[lo]), high: num(&r[hi]) });
        }
        Ok(Self { mechanisms, agents, estimates, bins })
    }

    pub fn get(&self, scope: &str, metric: &str, mechanism: &str) -> Est {
        self.estimates
            .get(&(scope.to_string(), metric.to_string()))
            .and_then(|m| m.get(mechanism))
            .copied()
            .unwrap_or(Est { mean: f64::NAN, low: f64::NAN, high: f64::NAN })
    }
}

/// "DS = deep_search, C = coding": what the short domain names stand for.
pub(super) fn domain_key(bins: &[String]) -> String {
    let mut domains: Vec<&str> = bins.iter().filter_map(|b| b.split_once("/tau<=").map(|(d, _)| d)).collect();
    domains.dedup();
    domains.iter().map(|d| format!("{} = {d}", crate::table::short(d))).collect::<Vec<_>>().join(", ")
}

/// The run's per-task rows as text, whatever file holds them.
struct TaskRows {
    path: PathBuf,
    header: Vec<String>,
    rows: Box<dyn Iterator<Item = Result<Vec<String>, PlotError>>>,
}

/// The run's per-task rows (`tasks.csv`, `tasks.csv.gz` or `tasks.parquet`), or `None` when the
/// run wrote none. Parquet values read as the CSV writes them ([`crate::columns::Values::text`]).
fn task_rows(dir: &Path) -> Result<Option<TaskRows>, PlotError> {
    let found = ["tasks.csv", "tasks.csv.gz", "tasks.parquet"].into_iter().map(|n| dir.join(n)).find(|p| p.exists());
    let Some(path) = found else { return Ok(None) };
    let file = std::fs::File::open(&path).map_err(|source| PlotError::Io { path: path.clone(), source })?;
    if path.extension().is_some_and(|e| e == "parquet") {
        let table =
            crate::arrow::read_parquet(file).map_err(|source| PlotError::Parquet { path: path.clone(), source })?;
        let header = table.columns.iter().map(|c| c.name.clone()).collect();
        let rows = (0..table.rows()).map(move |i| Ok(table.columns.iter().map(|c| c.values.text(i)).collect()));
        return Ok(Some(TaskRows { path, header, rows: Box::new(rows) }));
    }
    let reader: Box<dyn std::io::Read> = if path.extension().is_some_and(|e| e == "gz") {
        Box::new(flate2::read::GzDecoder::new(file))
    } else {
        Box::new(file)
    };
    let mut r = csv::Reader::from_reader(reader);
    let err = {
        let path = path.clone();
        move |source: csv::Error| PlotError::Csv { path: path.clone(), source }
    };
    let header = r.headers().map_err(&err)?.iter().map(String::from).collect();
    let rows = r.into_records().map(move |rec| rec.map(|r| r.iter().map(String::from).collect()).map_err(&err));
    Ok(Some(TaskRows { path, header, rows: Box::new(rows) }))
}

/// Each mechanism's latency distribution in a timed run: the share of its answered tasks (all
/// episodes pooled) answered within each latency, at 200 evenly spaced shares. Empty for an
/// untimed run.
pub(super) fn latency_cdf(dir: &Path) -> Result<Lines, PlotError> {
    let Some(TaskRows { path, header, rows }) = task_rows(dir)? else { return Ok(Lines::new()) };
    if !header.iter().any(|h| h == "done_s") {
        return Ok(Lines::new());
    }
    let (m, a, d) =
        (column(&header, "mechanism", &path)?, column(&header, "arrival_s", &path)?, column(&header, "done_s", &path)?);
    let timed_out = header.iter().position(|h| h == "timed_out");
    let mut latencies: Vec<(String, Vec<f64>)> = Vec::new();
    for rec in rows {
        let rec = rec?;
        // A dropped or timed-out task has no answer.
        if rec[d].is_empty() || timed_out.is_some_and(|t| rec[t] == "true") {
            continue;
        }
        let latency = num(&rec[d]) - num(&rec[a]);
        match latencies.iter_mut().find(|(name, _)| name == &rec[m]) {
            Some((_, v)) => v.push(latency),
            None => latencies.push((rec[m].to_string(), vec![latency])),
        }
    }
    Ok(latencies
        .into_iter()
        .map(|(mech, mut v)| {
            v.sort_by(f64::total_cmp);
            let points = (1..=200)
                .map(|i| {
                    let share = f64::from(i) / 200.0;
                    let at = ((share * v.len() as f64).ceil() as usize).clamp(1, v.len()) - 1;
                    (v[at], Est { mean: share * 100.0, low: f64::NAN, high: f64::NAN })
                })
                .collect();
            (mech, points)
        })
        .collect())
}

/// Named panels of lines.
pub(super) type Panels = Vec<(String, Lines)>;

/// A timed run's `utilisation.csv`: the agents' names and, per mechanism, each agent's busy share
/// (%) over time in its first episode; `None` for an untimed run.
pub(super) fn busy_over_time(dir: &Path) -> Result<Option<(Vec<String>, Panels)>, PlotError> {
    let path = dir.join("utilisation.csv");
    if !path.exists() {
        return Ok(None);
    }
    let (header, rows) = read_csv(&path)?;
    let (m, t) = (column(&header, "mechanism", &path)?, column(&header, "time_s", &path)?);
    let agents: Vec<String> = header.iter().skip(2).cloned().collect();
    let mut panels: Panels = Vec::new();
    for r in &rows {
        if panels.last().is_none_or(|(name, _)| *name != r[m]) {
            panels.push((r[m].clone(), agents.iter().map(|a| (a.clone(), Vec::new())).collect()));
        }
        let Some((_, lines)) = panels.last_mut() else { continue };
        for (a, (_, points)) in lines.iter_mut().enumerate() {
            let share = r.get(2 + a).map_or(f64::NAN, |v| num(v) * 100.0);
            points.push((num(&r[t]), Est { mean: share, low: f64::NAN, high: f64::NAN }));
        }
    }
    Ok(Some((agents, panels)))
}

/// What each mechanism of a run declares it reports (`mechanisms.csv`'s `reports`), for those
/// that report anything; none for a folder without it.
pub(super) fn declared_reports(dir: &Path) -> Result<Vec<(String, Vec<String>)>, PlotError> {
    let path = dir.join("mechanisms.csv");
    if !path.exists() {
        return Ok(Vec::new());
    }
    let (header, rows) = read_csv(&path)?;
    let m = column(&header, "mechanism", &path)?;
    // Folders written before the column existed declare nothing.
    let Ok(q) = column(&header, "reports", &path) else { return Ok(Vec::new()) };
    Ok(rows
        .into_iter()
        .map(|r| (r[m].clone(), r[q].split_whitespace().map(str::to_string).collect::<Vec<_>>()))
        .filter(|(_, ids)| !ids.is_empty())
        .collect())
}

/// The mechanisms of a run that declare they learn along the stream (`mechanisms.csv`); none
/// for a folder without it.
fn learners(dir: &Path) -> Result<Vec<String>, PlotError> {
    let path = dir.join("mechanisms.csv");
    if !path.exists() {
        return Ok(Vec::new());
    }
    let (header, rows) = read_csv(&path)?;
    let (m, l) = (column(&header, "mechanism", &path)?, column(&header, "learns", &path)?);
    Ok(rows.into_iter().filter(|r| r[l] == "true").map(|r| r[m].clone()).collect())
}

/// The smallest agent's cumulative share of wins along the stream, averaged over episodes,
/// for every mechanism that declares it learns along the stream (`mechanisms.csv`).
pub(super) fn learning_curves(dir: &Path, smallest: &str) -> Result<Lines, PlotError> {
    let learners = learners(dir)?;
    if learners.is_empty() {
        return Ok(Lines::new());
    }
    let Some(TaskRows { path, header, rows }) = task_rows(dir)? else { return Ok(Lines::new()) };
    let (e, m, st, w) = (
        column(&header, "episode", &path)?,
        column(&header, "mechanism", &path)?,
        column(&header, "step", &path)?,
        column(&header, "winner", &path)?,
    );
    // (mechanism) -> step -> (sum over episodes of cumulative share, episodes)
    let mut wins: BTreeMap<(String, String), (usize, usize)> = BTreeMap::new();
    let mut sums: BTreeMap<String, Vec<(f64, usize)>> = BTreeMap::new();
    for rec in rows {
        let rec = rec?;
        let mech = &rec[m];
        if !learners.iter().any(|l| l == mech) {
            continue;
        }
        let key = (mech.to_string(), rec[e].to_string());
        let entry = wins.entry(key).or_insert((0, 0));
        entry.0 += usize::from(rec[w] == smallest);
        entry.1 += 1;
        let step: usize = rec[st].parse().unwrap_or(0);
        let share = entry.0 as f64 / entry.1 as f64;
        let v = sums.entry(mech.to_string()).or_default();
        if v.len() <= step {
            v.resize(step + 1, (0.0, 0));
        }
        v[step].0 += share;
        v[step].1 += 1;
    }
    Ok(sums
        .into_iter()
        .map(|(mech, v)| {
            let pts = v
                .iter()
                .enumerate()
                .filter(|(_, (_, n))| *n > 0)
                .map(|(i, (s, n))| {
                    let mean = s / *n as f64 * 100.0;
                    ((i + 1) as f64, Est { mean, low: f64::NAN, high: f64::NAN })
                })
                .collect();
            (mech, pts)
        })
        .collect())
}

/// The smallest agent as the run chose it (`agents.csv`'s `reference` column; in folders written
/// before it existed, the cheapest by output price, ties to the first listed); `None` for a
/// folder without `agents.csv`.
pub(super) fn smallest_agent(dir: &Path) -> Result<Option<String>, PlotError> {
    let path = dir.join("agents.csv");
    if !path.exists() {
        return Ok(None);
    }
    let (header, rows) = read_csv(&path)?;
    let name = column(&header, "agent", &path)?;
    if let Ok(role) = column(&header, "reference", &path) {
        return Ok(rows.iter().find(|r| r[role] == "smallest").map(|r| r[name].clone()));
    }
    let price = column(&header, "output_usd_per_mtok", &path)?;
    let prices: Vec<f64> = rows.iter().map(|r| num(&r[price])).collect();
    Ok(tender_agents::cheapest_first(&prices).first().map(|&i| rows[i][name].clone()))
}

/// Points `(x, estimate)` grouped into up to eight bins of equal count along `x`: each bin's mean
/// x, and the mean of its points' means with a 95% interval over them.
pub(super) fn partial_dependence(points: &[(f64, Est)]) -> Vec<(f64, Est)> {
    let mut pts: Vec<(f64, f64)> =
        points.iter().filter(|(x, e)| x.is_finite() && e.mean.is_finite()).map(|(x, e)| (*x, e.mean)).collect();
    pts.sort_by(|a, b| a.0.total_cmp(&b.0));
    let bins = pts.len().clamp(1, 8);
    let size = pts.len().div_ceil(bins).max(1);
    pts.chunks(size)
        .map(|chunk| {
            let n = chunk.len() as f64;
            let x = chunk.iter().map(|p| p.0).sum::<f64>() / n;
            let e = crate::stats::Estimate::of(chunk.iter().map(|p| p.1));
            let (low, high) = if e.low.is_finite() { (e.low, e.high) } else { (e.mean, e.mean) };
            (x, Est { mean: e.mean, low, high })
        })
        .collect()
}
