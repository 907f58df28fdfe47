//! `report.html`: every figure with its caption, and the numbers behind them as tables.

use std::path::{Path, PathBuf};

use super::draw::Est;
use super::error::PlotError;
use super::read::RunData;
use crate::metrics::{Metric, row_metric_names};
use crate::output::write_atomic;
use crate::store::Manifest;

pub(super) fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

pub(super) fn fmt_est(e: Est, scale: f64, decimals: usize) -> String {
    if !e.mean.is_finite() {
        return "—".into();
    }
    if e.low.is_finite() {
        format!("{:.*} ± {:.*}", decimals, e.mean * scale, decimals, (e.high - e.low) / 2.0 * scale)
    } else {
        format!("{:.*}", decimals, e.mean * scale)
    }
}

/// The run's tables: the headline metrics, then, when any mechanism declares quantities of its
/// own (`mechanisms.csv`), their episode values (a quantity without one, an agent, shows —).
pub(super) fn run_tables(data: &RunData, reports: &[(String, Vec<String>)]) -> Vec<String> {
    let cols = [
        Metric::PassAt1,
        Metric::CostPerMTok,
        Metric::TotalCost,
        Metric::Welfare,
        Metric::CostOfPass,
        Metric::OracleGap,
    ];
    let mut t = String::from("<table><tr><th>mechanism</th>");
    for m in &cols {
        t.push_str(&format!("<th>{}</th>", html_escape(m.shown().label)));
    }
    t.push_str("</tr>");
    for m in &data.mechanisms {
        t.push_str(&format!("<tr><td>{}</td>", html_escape(m)));
        for metric in &cols {
            let shown = metric.shown();
            t.push_str(&format!(
                "<td>{}</td>",
                fmt_est(data.get("all", &metric.id(&[]), m), shown.scale, shown.decimals)
            ));
        }
        t.push_str("</tr>");
    }
    t.push_str("</table>");
    let mut tables = vec![t];
    let mut ids: Vec<&str> = Vec::new();
    for id in reports.iter().flat_map(|(_, q)| q) {
        if !ids.contains(&id.as_str()) {
            ids.push(id);
        }
    }
    if !ids.is_empty() {
        let mut r = String::from("<h2>Reported by the mechanisms</h2><table><tr><th>mechanism</th>");
        for id in &ids {
            r.push_str(&format!("<th>{}</th>", html_escape(id)));
        }
        r.push_str("</tr>");
        for (m, own) in reports {
            r.push_str(&format!("<tr><td>{}</td>", html_escape(m)));
            for id in &ids {
                let e = data.get("all", id, m);
                let cell =
                    if own.iter().any(|q| q == id) && e.mean.is_finite() { fmt_est(e, 1.0, 3) } else { "—".into() };
                r.push_str(&format!("<td>{cell}</td>"));
            }
            r.push_str("</tr>");
        }
        r.push_str("</table>");
        tables.push(r);
    }
    tables
}

/// A sweep's table: per point and mechanism, the headline metrics, then every quantity the
/// mechanisms declare (the manifest's metrics past the fixed ones; a flag as a percentage), —
/// where a mechanism does not report it.
pub(super) fn sweep_table(manifest: &Manifest, get: &dyn Fn(usize, &str, &str) -> Option<Est>) -> String {
    let mut t = String::from("<table><tr><th>point</th>");
    if let Some(p) = manifest.points.first() {
        for (k, _) in &p.assignments {
            t.push_str(&format!("<th>{}</th>", html_escape(k)));
        }
    }
    let cols = [Metric::PassAt1, Metric::CostPerMTok, Metric::Welfare];
    let timed = manifest.metrics.contains(&Metric::Latency(95).id(&[]));
    let fixed = row_metric_names(timed, &[]);
    let reported: Vec<(&str, bool)> = manifest
        .metrics
        .iter()
        .filter(|m| !fixed.contains(m))
        .map(|m| (m.as_str(), manifest.flags.contains(m)))
        .collect();
    t.push_str("<th>mechanism</th>");
    for metric in &cols {
        t.push_str(&format!("<th>{}</th>", html_escape(metric.shown().label)));
    }
    for (id, flag) in &reported {
        t.push_str(&format!("<th>{}{}</th>", html_escape(id), if *flag { " %" } else { "" }));
    }
    t.push_str("</tr>");
    let absent = Est { mean: f64::NAN, low: f64::NAN, high: f64::NAN };
    for p in &manifest.points {
        for m in &manifest.mechanisms {
            t.push_str(&format!("<tr><td>{}</td>", p.index));
            for (_, v) in &p.assignments {
                t.push_str(&format!("<td>{}</td>", html_escape(&v.to_string())));
            }
            t.push_str(&format!("<td>{}</td>", html_escape(m)));
            for metric in &cols {
                let shown = metric.shown();
                let e = get(p.index, m, &metric.id(&[])).unwrap_or(absent);
                t.push_str(&format!("<td>{}</td>", fmt_est(e, shown.scale, shown.decimals)));
            }
            for (id, flag) in &reported {
                let (scale, decimals) = if *flag { (100.0, 1) } else { (1.0, 2) };
                t.push_str(&format!("<td>{}</td>", fmt_est(get(p.index, m, id).unwrap_or(absent), scale, decimals)));
            }
            t.push_str("</tr>");
        }
    }
    t.push_str("</table>");
    t
}

/// `report.html`: the tables and every SVG inlined, one self-contained page.
/// What a figure shows, from its file's stem.
pub(super) fn caption(stem: &str) -> String {
    let fixed = [
        ("cost_vs_pass", "Cost against pass@1 for every mechanism (95% whiskers; grey line: Pareto frontier)"),
        ("pass_by_bin", "pass@1 per complexity bin"),
        ("shares_by_bin", "Who executes, per complexity bin"),
        ("learning_curve", "Learning curve: the smallest agent's cumulative share of SALE's wins along the stream"),
        ("accuracy_vs_strong_share", "Accuracy against the share of calls to the strongest agent (routing view)"),
        ("latency_cdf", "Latency in simulated time: the share of tasks answered within each latency, per mechanism"),
    ];
    if let Some((_, c)) = fixed.iter().find(|(s, _)| *s == stem) {
        return (*c).to_string();
    }
    for (prefix, what) in [
        ("welfare_vs_", "Welfare per episode"),
        ("cost_vs_", "Cost ($ per million tokens)"),
        ("latency_p95_vs_", "p95 latency (simulated seconds)"),
    ] {
        if let Some(param) = stem.strip_prefix(prefix) {
            return format!("{what} against {param}, mean and 95% band per mechanism");
        }
    }
    stem.to_string()
}

/// `report.html`: `before` tables, every figure with its caption, then `after` tables.
pub(super) fn report(
    dir: &Path,
    shown: &Path,
    files: &[PathBuf],
    before: &[String],
    after: &[String],
) -> Result<(), PlotError> {
    let mut html = String::from(
        "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>Tender report</title><style>\
         body{font-family:sans-serif;margin:2em;max-width:1200px}table{border-collapse:collapse;margin:1em 0}\
         td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}td:first-child,th:first-child{text-align:left}\
         figure{margin:2em 0}</style></head><body><h1>Tender report</h1>",
    );
    html.push_str(&format!(
        "<p>Results in <code>{}</code>; means with 95% confidence intervals across episodes.</p>",
        html_escape(&shown.display().to_string())
    ));
    for t in before {
        html.push_str(t);
    }
    for f in files.iter().filter(|f| f.extension().is_some_and(|e| e == "svg")) {
        let svg = std::fs::read_to_string(f).map_err(|source| PlotError::Io { path: f.clone(), source })?;
        let name = f.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_default();
        let stem = f.file_stem().map(|n| n.to_string_lossy().to_string()).unwrap_or_default();
        // The XML declaration is not allowed inside HTML; the <svg> element is.
        let body = svg.find("<svg").map_or(svg.as_str(), |i| &svg[i..]);
        html.push_str(&format!(
            "<figure id=\"{}\">{body}<figcaption>{}</figcaption></figure>",
            html_escape(&name),
            html_escape(&caption(&stem))
        ));
    }
    for t in after {
        html.push_str(t);
    }
    html.push_str("</body></html>\n");
    write_atomic(&dir.join("report.html"), |w| w.write_all(html.as_bytes()))?;
    Ok(())
}
