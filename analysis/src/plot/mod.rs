//! Plots of saved results (PNG and SVG) and a self-contained HTML report. Everything is drawn
//! from the files a run or a sweep wrote; nothing is simulated again.
//!
//! Text uses DejaVu Sans, compiled in (`assets/`, Bitstream Vera licence), so no system font
//! library is needed. Legends sit in a panel beside the chart, never over the data.
//!
//! `read` reads results back into figures' data, `draw` draws figures, `report` writes the page.

mod draw;
mod error;
mod read;
mod report;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::metrics::Metric;
use crate::store::Manifest;
pub use draw::pareto;
use draw::{Est, Figure, Lines, both};
pub use error::PlotError;
use read::{
    RunData, busy_over_time, column, domain_key, latency_cdf, learning_curves, num, partial_dependence, read_csv,
    routing_figure, smallest_agent,
};
use report::{report, run_tables, sweep_table};

/// Routing curves of several runs on one chart, drawn to `stem.png` and `stem.svg` in `dir`:
/// accuracy (%) against the share of calls to the strong agent (%), each series a curve, with the
/// line of random mixtures between `mixture`'s two ends. For comparisons across runs (real and
/// simulated) that no one results folder holds.
pub fn routing_comparison(
    dir: &Path,
    stem: &str,
    title: &str,
    strong: &str,
    series: Vec<(String, Vec<(f64, f64)>)>,
    mixture: [(f64, f64); 2],
) -> Result<Vec<PathBuf>, PlotError> {
    both(dir, stem, &Figure::Routing { title: title.into(), strong: strong.into(), series, mixture })
}

/// Grouped bars with their 95% intervals, on an axis through zero, drawn to `stem.png` and
/// `stem.svg` in `dir`: for each group (an agent, a game's profile) one bar per series (a
/// market), each series holding `(mean, low, high)` per group (NaN bounds: no whisker).
pub fn interval_bars(
    dir: &Path,
    stem: &str,
    [title, x_desc, y_desc]: [&str; 3],
    groups: &[String],
    series: Vec<(String, Vec<[f64; 3]>)>,
) -> Result<Vec<PathBuf>, PlotError> {
    let series = series
        .into_iter()
        .map(|(name, values)| (name, values.into_iter().map(|[mean, low, high]| Est { mean, low, high }).collect()))
        .collect();
    let figure = Figure::IntervalBars {
        title: title.into(),
        x_desc: x_desc.into(),
        y_desc: y_desc.into(),
        groups: groups.to_vec(),
        series,
    };
    both(dir, stem, &figure)
}

/// Draw every plot the results in `dir` support and write `report.html`, which names the folder
/// `shown` (where the results will be read: a staging folder is shown as the folder it becomes).
/// Returns the files.
pub fn plot_dir(dir: &Path, shown: &Path) -> Result<Vec<PathBuf>, PlotError> {
    if dir.join("summary.csv").exists() {
        plot_run(dir, shown)
    } else if dir.join("sweep.json").exists() && dir.join("points.csv").exists() {
        plot_sweep(dir, shown)
    } else {
        Err(PlotError::NotResults(dir.to_path_buf()))
    }
}

fn plot_run(dir: &Path, shown: &Path) -> Result<Vec<PathBuf>, PlotError> {
    let data = RunData::load(dir)?;
    let mut files = Vec::new();
    let cost: Vec<Est> = data.mechanisms.iter().map(|m| data.get("all", &Metric::CostPerMTok.id(&[]), m)).collect();
    let pass: Vec<Est> = data.mechanisms.iter().map(|m| data.get("all", &Metric::PassAt1.id(&[]), m)).collect();
    let title = "Cost and pass@1 per mechanism (mean, 95% CI)".to_string();
    files.extend(both(dir, "cost_vs_pass", &Figure::CostVsPass { title, names: data.mechanisms.clone(), cost, pass })?);
    // "deep_search/tau<=0.1" reads "DS τ≤0.1", as in the terminal table.
    let groups: Vec<String> = data
        .bins
        .iter()
        .map(|b| match b.split_once("/tau<=") {
            Some((domain, tau)) => format!("{} τ≤{tau}", crate::table::short(domain)),
            None => b.clone(),
        })
        .collect();
    let series: Vec<(String, Vec<f64>)> = data
        .mechanisms
        .iter()
        .map(|m| (m.clone(), data.bins.iter().map(|b| data.get(b, &Metric::PassAt1.id(&[]), m).mean * 100.0).collect()))
        .collect();
    files.extend(both(
        dir,
        "pass_by_bin",
        &Figure::Bars {
            title: "pass@1 per domain and complexity bin".into(),
            x_desc: format!("bin (τ = human solving time, minutes; {})", domain_key(&data.bins)),
            y_desc: "pass@1 (%)".into(),
            groups: groups.clone(),
            series,
        },
    )?);
    let panels: Vec<(String, Vec<Vec<f64>>)> = data
        .mechanisms
        .iter()
        .filter(|m| !m.ends_with(" alone"))
        .map(|m| {
            let shares = data
                .bins
                .iter()
                .map(|b| data.agents.iter().map(|a| data.get(b, &format!("share:{a}"), m).mean).collect())
                .collect();
            (m.clone(), shares)
        })
        .collect();
    files.extend(both(
        dir,
        "shares_by_bin",
        &Figure::Stacked {
            title: "Share of tasks per agent, per complexity bin".into(),
            groups,
            agents: data.agents.clone(),
            panels,
        },
    )?);
    if let Some(smallest) = smallest_agent(dir)? {
        let curves = learning_curves(dir, &smallest)?;
        if !curves.is_empty() {
            files.extend(both(
                dir,
                "learning_curve",
                &Figure::Lines {
                    title: format!("Learning curve: {smallest}'s cumulative share of wins"),
                    x_desc: "tasks arrived".into(),
                    y_desc: format!("{smallest} share of wins so far (%)"),
                    series: curves,
                },
            )?);
        }
    }
    let cdf = latency_cdf(dir)?;
    if !cdf.is_empty() {
        files.extend(both(
            dir,
            "latency_cdf",
            &Figure::Lines {
                title: "Latency: share of tasks answered within a time (simulated seconds)".into(),
                x_desc: "latency, arrival to answer (s)".into(),
                y_desc: "tasks answered within it (%)".into(),
                series: cdf,
            },
        )?);
    }
    if let Some((agents, panels)) = busy_over_time(dir)? {
        files.extend(both(
            dir,
            "utilisation_over_time",
            &Figure::LinePanels {
                title: "Utilisation over time: each agent's busy share of its slots (first episode)".into(),
                x_desc: "simulated time (s)".into(),
                y_desc: "busy (%)".into(),
                series: agents,
                panels,
            },
        )?);
    }
    if let Some(figure) = routing_figure(dir)? {
        files.extend(both(dir, "accuracy_vs_strong_share", &figure)?);
    }
    let tables = run_tables(&data, &read::declared_reports(dir)?);
    report(dir, shown, &files, &tables, &[])?;
    files.push(dir.join("report.html"));
    Ok(files)
}

fn plot_sweep(dir: &Path, shown: &Path) -> Result<Vec<PathBuf>, PlotError> {
    let manifest_path = dir.join("sweep.json");
    let text = std::fs::read_to_string(&manifest_path)
        .map_err(|source| PlotError::Io { path: manifest_path.clone(), source })?;
    let manifest: Manifest =
        serde_json::from_str(&text).map_err(|source| PlotError::Json { path: manifest_path, source })?;
    let path = dir.join("points.csv");
    let (header, rows) = read_csv(&path)?;
    let (pc, mc, kc, mean, lo, hi) = (
        column(&header, "point", &path)?,
        column(&header, "mechanism", &path)?,
        column(&header, "metric", &path)?,
        column(&header, "mean", &path)?,
        column(&header, "ci_low", &path)?,
        column(&header, "ci_high", &path)?,
    );
    let mut est: BTreeMap<(usize, String, String), Est> = BTreeMap::new();
    for r in &rows {
        est.insert(
            (r[pc].parse().unwrap_or(0), r[mc].clone(), r[kc].clone()),
            Est { mean: num(&r[mean]), low: num(&r[lo]), high: num(&r[hi]) },
        );
    }
    let find = |p: usize, m: &str, k: &str| est.get(&(p, m.to_string(), k.to_string())).copied();
    let get = |p: usize, m: &str, k: &str| find(p, m, k).unwrap_or_default();
    let mut files = Vec::new();
    let params: Vec<String> =
        manifest.points.first().map(|p| p.assignments.iter().map(|a| a.0.clone()).collect()).unwrap_or_default();
    for (d, param) in params.iter().enumerate() {
        // The slice of points where every other parameter takes its first point's value.
        let first = &manifest.points[0];
        let slice: Vec<usize> = manifest
            .points
            .iter()
            .filter(|p| p.assignments.iter().enumerate().all(|(j, a)| j == d || a.1 == first.assignments[j].1))
            .map(|p| p.index)
            .collect();
        let slug: String = param.chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '_' }).collect();
        let x = |p: usize| manifest.points[p].assignments[d].1.as_f64().unwrap_or(p as f64);
        // A grid has a slice along each parameter; random and Latin-hypercube designs do not, so
        // they get partial dependence: points binned along the parameter, the metric averaged
        // over the others, with a 95% band over the points in each bin.
        let partial = params.len() > 1 && slice.len() < 3;
        let x_desc = if !partial && params.len() > 1 {
            format!("{param} (other parameters at their first value)")
        } else if partial {
            format!("{param} (binned; averaged over the other parameters)")
        } else {
            param.clone()
        };
        let timed = manifest.metrics.iter().any(|m| *m == Metric::Latency(95).id(&[]));
        let latency = timed.then(|| (Metric::Latency(95).id(&[]), "p95 latency (simulated s)", "latency_p95_vs_"));
        for (metric, label, stem) in [
            Some((Metric::Welfare.id(&[]), "welfare per episode ($)", "welfare_vs_")),
            Some((Metric::CostPerMTok.id(&[]), "cost ($ per million tokens)", "cost_vs_")),
            latency,
        ]
        .into_iter()
        .flatten()
        {
            let metric = metric.as_str();
            let series: Lines = manifest
                .mechanisms
                .iter()
                .map(|m| {
                    let pts = if partial {
                        partial_dependence(
                            &manifest.points.iter().map(|p| (x(p.index), get(p.index, m, metric))).collect::<Vec<_>>(),
                        )
                    } else {
                        slice.iter().map(|&p| (x(p), get(p, m, metric))).collect()
                    };
                    (m.clone(), pts)
                })
                .collect();
            let title = format!("{} vs {param}", label.split(" (").next().unwrap_or(label));
            let figure = Figure::Lines { title, x_desc: x_desc.clone(), y_desc: label.to_string(), series };
            files.extend(both(dir, &format!("{stem}{slug}"), &figure)?);
        }
    }
    // Cost against pass@1: every mechanism at every point.
    let mut names = Vec::new();
    let (mut cost, mut pass) = (Vec::new(), Vec::new());
    for m in &manifest.mechanisms {
        let n = manifest.points.len() as f64;
        let avg = |k: &str| {
            let v: Vec<Est> = manifest.points.iter().map(|p| get(p.index, m, k)).collect();
            Est {
                mean: v.iter().map(|e| e.mean).sum::<f64>() / n,
                low: v.iter().map(|e| e.mean).fold(f64::INFINITY, f64::min),
                high: v.iter().map(|e| e.mean).fold(f64::NEG_INFINITY, f64::max),
            }
        };
        names.push(m.clone());
        cost.push(avg(&Metric::CostPerMTok.id(&[])));
        pass.push(avg(&Metric::PassAt1.id(&[])));
    }
    let title = "Cost and pass@1 per mechanism (mean over points; whiskers: range over points)".to_string();
    files.extend(both(dir, "cost_vs_pass", &Figure::CostVsPass { title, names, cost, pass })?);
    // Figures first: a sweep's table runs to a row per point.
    let table = sweep_table(&manifest, &find);
    report(dir, shown, &files, &[], &[table])?;
    files.push(dir.join("report.html"));
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pareto_keeps_only_undominated_points() {
        let pts = [(0.1, 0.5), (0.2, 0.6), (0.15, 0.4), (0.3, 0.6), (0.05, 0.3)];
        assert_eq!(pareto(&pts), [4, 0, 1]);
    }

    #[test]
    fn random_mixtures_run_from_the_weak_agent_to_the_strong_one() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        // A middle agent alone also makes no strong calls, and comes after the weak one.
        let csv = "mechanism,curve,strong_share,strong_share_low,strong_share_high,accuracy,accuracy_low,accuracy_high,usd_per_task,pgr,role\n\
                   small alone,,0,0,0,0.4,0.39,0.41,0.01,0,weak\n\
                   big alone,,1,1,1,0.6,0.59,0.61,0.1,1,strong\n\
                   \"mid, alone\",,0,0,0,0.5,0.49,0.51,0.03,0.5,\n\
                   kNN,kNN,,,,,,,,0.6,\n";
        std::fs::write(dir.path().join("routing.csv"), csv).unwrap_or_else(|e| panic!("{e}"));
        let Ok(Some(Figure::Routing { strong, mixture, .. })) = routing_figure(dir.path()) else {
            panic!("no routing figure");
        };
        assert_eq!(strong, "big");
        assert_eq!(mixture, [(0.0, 40.0), (100.0, 60.0)]);
    }
}
