//! Tables for the terminal.

use comfy_table::presets::UTF8_FULL_CONDENSED;
use comfy_table::{CellAlignment, Table};

use tender_engine::mechanisms::{Meaning, PAYMENT};

use crate::metrics::{Metric, Scope, Summary};
use crate::stats::Estimate;

/// `mean ± half-width`, scaled (100 for percentages), or `—` when absent.
#[must_use]
pub fn cell(e: Option<&Estimate>, scale: f64, decimals: usize) -> String {
    match e {
        Some(e) if e.mean.is_finite() => {
            let half = e.half_width();
            if half.is_finite() {
                format!("{:.*} ± {:.*}", decimals, e.mean * scale, decimals, half * scale)
            } else {
                // One episode: no interval.
                format!("{:.*} ± n/a", decimals, e.mean * scale)
            }
        }
        _ => "—".into(),
    }
}

/// A table in the house style, with `header`.
pub fn table(header: Vec<String>) -> Table {
    let mut t = Table::new();
    t.load_style(UTF8_FULL_CONDENSED).set_header(header);
    t
}

fn right_align(t: &mut Table, from: usize) {
    let n = t.column_count();
    for i in from..n {
        if let Some(c) = t.column_mut(i) {
            c.set_cell_alignment(CellAlignment::Right);
        }
    }
}

/// The overall comparison: quality, cost and welfare per mechanism.
#[must_use]
pub fn overview(s: &Summary) -> String {
    columns(
        s,
        &[
            Metric::PassAt1,
            Metric::CostPerMTok,
            Metric::CostPerDeliveredMTok,
            Metric::OverheadTokenShare,
            Metric::TotalCost,
            Metric::CostOfPass,
            Metric::Welfare,
            Metric::OracleGap,
        ],
        &(0..s.mechanisms.len()).collect::<Vec<_>>(),
    )
}

/// A table of `metrics` (overall) for the `mechanisms`, each metric shown its way.
fn columns(s: &Summary, metrics: &[Metric], mechanisms: &[usize]) -> String {
    let mut header = vec!["mechanism".to_string()];
    header.extend(metrics.iter().map(|m| m.shown().label.to_string()));
    let mut t = table(header);
    for &m in mechanisms {
        let mut row = vec![s.mechanisms[m].clone()];
        row.extend(metrics.iter().map(|metric| {
            let shown = metric.shown();
            cell(s.get(m, &Scope::All, metric), shown.scale, shown.decimals)
        }));
        t.add_row(row);
    }
    right_align(&mut t, 1);
    t.to_string()
}

/// Who executes: each agent's share, and the reductions relative to the largest agent alone.
#[must_use]
pub fn allocation(s: &Summary) -> String {
    let largest = &s.agents[s.largest].name;
    let mut header = vec!["mechanism".to_string()];
    header.extend(s.agents.iter().map(|a| format!("{} %", a.name)));
    header.push(format!("reliance on {largest} ↓ %"));
    header.push("$/M tok ↓ % vs largest".into());
    header.push("$ ↓ % vs largest".into());
    header.push("Jain's index".into());
    header.push("dropped %".into());
    let mut t = table(header);
    for (m, name) in s.mechanisms.iter().enumerate() {
        let g = |metric: Metric| s.get(m, &Scope::All, &metric);
        let mut row = vec![name.clone()];
        row.extend((0..s.agents.len()).map(|a| cell(g(Metric::Share(a)), 100.0, 1)));
        row.push(cell(g(Metric::RelianceReduction), 100.0, 1));
        row.push(cell(g(Metric::CostReduction), 100.0, 1));
        row.push(cell(g(Metric::SpendReduction), 100.0, 1));
        row.push(cell(g(Metric::JainFairness), 1.0, 3));
        row.push(cell(g(Metric::DroppedShare), 100.0, 1));
        t.add_row(row);
    }
    right_align(&mut t, 1);
    t.to_string()
}

/// Payments, for mechanisms that pay their winners; `None` when none does.
#[must_use]
pub fn payments(s: &Summary) -> Option<String> {
    let paying: Vec<usize> =
        (0..s.mechanisms.len()).filter(|&m| s.get(m, &Scope::All, &Metric::Reported(PAYMENT)).is_some()).collect();
    (!paying.is_empty()).then(|| {
        columns(s, &[Metric::Reported(PAYMENT), Metric::AgentsProfit, Metric::BuyerSurplus, Metric::Welfare], &paying)
    })
}

/// Per episode, the cells whose call failed, whose reply was unparsed, and that were not
/// asked by design; `None` when no mechanism has any (a purely synthetic run).
#[must_use]
pub fn cells(s: &Summary) -> Option<String> {
    let live: Vec<usize> =
        (0..s.mechanisms.len()).filter(|&m| s.get(m, &Scope::All, &Metric::FailedCalls).is_some()).collect();
    (!live.is_empty()).then(|| columns(s, &[Metric::FailedCalls, Metric::UnparsedReplies, Metric::Abstentions], &live))
}

/// The quantities mechanisms report themselves, for the mechanisms that report any; `None` when
/// none does.
#[must_use]
pub fn reported(s: &Summary) -> Option<String> {
    let mut metrics: Vec<Metric> = Vec::new();
    let mut reporting: Vec<usize> = Vec::new();
    for r in s.rows.iter().filter(|r| r.scope == Scope::All) {
        // Payments have their own table.
        if let Metric::Reported(q) = &r.metric
            && q.meaning != Meaning::Payment
        {
            if !metrics.iter().any(|m| matches!(m, Metric::Reported(seen) if seen.id == q.id)) {
                metrics.push(r.metric.clone());
            }
            if !reporting.contains(&r.mechanism) {
                reporting.push(r.mechanism);
            }
        }
    }
    reporting.sort_unstable();
    (!reporting.is_empty()).then(|| columns(s, &metrics, &reporting))
}

/// Latency, for a timed run: percentiles from arrival to answer, the auction's part, the wait for
/// a slot, and throughput; `None` for sequential arrivals.
#[must_use]
pub fn latency(s: &Summary) -> Option<String> {
    let timed: Vec<usize> =
        (0..s.mechanisms.len()).filter(|&m| s.get(m, &Scope::All, &Metric::Latency(50)).is_some()).collect();
    (!timed.is_empty()).then(|| {
        let mut metrics = crate::metrics::LATENCY.to_vec();
        if timed.iter().any(|&m| s.get(m, &Scope::All, &Metric::TargetMet).is_some()) {
            metrics.push(Metric::TargetMet);
        }
        columns(s, &metrics, &timed)
    })
}

/// What the buyer pays and each agent's profit, per mechanism, where the summary has money
/// ([`Metric::BuyerPays`]: the pool has unit costs or a mechanism pays); `None` otherwise.
#[must_use]
pub fn money(s: &Summary) -> Option<String> {
    let paying: Vec<usize> =
        (0..s.mechanisms.len()).filter(|&m| s.get(m, &Scope::All, &Metric::BuyerPays).is_some()).collect();
    (!paying.is_empty()).then(|| {
        let mut header = vec!["mechanism".to_string(), "buyer pays $".into(), "agents' profit $".into()];
        header.extend(s.agents.iter().map(|a| format!("{} profit $", a.name)));
        let mut t = table(header);
        for m in paying {
            let mut row = vec![
                s.mechanisms[m].clone(),
                cell(s.get(m, &Scope::All, &Metric::BuyerPays), 1.0, 2),
                cell(s.get(m, &Scope::All, &Metric::AgentsProfit), 1.0, 2),
            ];
            row.extend((0..s.agents.len()).map(|a| cell(s.get(m, &Scope::All, &Metric::Profit(a)), 1.0, 2)));
            t.add_row(row);
        }
        right_align(&mut t, 1);
        t.to_string()
    })
}

/// Each agent's utilisation, for a timed run; `None` for sequential arrivals.
#[must_use]
pub fn utilisation(s: &Summary) -> Option<String> {
    let timed: Vec<usize> =
        (0..s.mechanisms.len()).filter(|&m| s.get(m, &Scope::All, &Metric::Utilisation(0)).is_some()).collect();
    (!timed.is_empty()).then(|| {
        let mut header = vec!["mechanism".to_string()];
        header.extend(s.agents.iter().map(|a| format!("{} %", a.name)));
        let mut t = table(header);
        for m in timed {
            let mut row = vec![s.mechanisms[m].clone()];
            row.extend((0..s.agents.len()).map(|a| cell(s.get(m, &Scope::All, &Metric::Utilisation(a)), 100.0, 1)));
            t.add_row(row);
        }
        right_align(&mut t, 1);
        t.to_string()
    })
}

/// The agents as servers in a timed run: each agent's prepared serving and where its figures come
/// from (the published figures its name or `published` names, or the generic defaults, with any
/// figure the scenario sets over them).
#[must_use]
pub fn servers(agents: &[tender_agents::AgentProfile]) -> String {
    let mut t = table(
        ["agent", "figures", "slots", "output tok/s", "prompt tok/s", "first token s", "queue limit"]
            .map(String::from)
            .to_vec(),
    );
    for a in agents {
        let s = a.serving();
        let base = a.serving.published.or_else(|| tender_agents::Published::named_in(&a.name));
        let set = [
            a.serving.slots.is_some(),
            a.serving.output_tokens_per_second.is_some(),
            a.serving.prefill_tokens_per_second.is_some(),
            a.serving.time_to_first_token.is_some(),
        ];
        let figures = base.map_or("generic", tender_agents::Published::name);
        let figures = if set.iter().any(|&b| b) { format!("{figures}, some set") } else { figures.to_string() };
        t.add_row(vec![
            a.name.clone(),
            figures,
            s.slots.to_string(),
            format!("{:.1}", s.output_tokens_per_second),
            format!("{:.0}", s.prefill_tokens_per_second),
            format!("{:.2}", s.time_to_first_token),
            s.queue_limit.map_or("—".into(), |l| l.to_string()),
        ]);
    }
    right_align(&mut t, 2);
    t.to_string()
}

/// How much above its value at the first swept point a mechanism's p95 latency must be for the
/// point to be its latency knee.
pub const KNEE: f64 = 1.5;

/// One metric of a sweep over one parameter (others held at one value): its mean per swept value,
/// one row per mechanism,
/// shown as the metric is everywhere; for p95 latency with each mechanism's knee, the first value
/// at which it is at least [`KNEE`] times its value at the first. `None` unless the sweep sweeps
/// one parameter over two or more points and has the metric.
#[must_use]
pub fn sweep_series(
    manifest: &crate::store::Manifest,
    points: &[crate::store::PointSummary],
    shown: &Metric,
) -> Option<String> {
    let id = shown.id(&[]);
    let metric = manifest.metrics.iter().position(|m| *m == id)?;
    // The one parameter that varies (others may be held at one value).
    let first = manifest.points.first()?;
    let varying: Vec<usize> = (0..first.assignments.len())
        .filter(|&i| {
            manifest.points.iter().any(|p| p.assignments.get(i).map(|a| &a.1) != Some(&first.assignments[i].1))
        })
        .collect();
    let [swept] = varying[..] else { return None };
    if points.len() < 2 {
        return None;
    }
    let knees = *shown == Metric::Latency(95);
    let crate::metrics::Shown { scale, decimals, .. } = shown.shown();
    let values: Vec<String> =
        points.iter().map(|s| swept_value(&manifest.points[s.point].assignments[swept])).collect();
    let mut header = vec!["mechanism".to_string()];
    header.extend(values.iter().cloned());
    if knees {
        header.push(format!("knee (p95 ≥ {KNEE}× first)"));
    }
    let mut t = table(header);
    for (m, name) in manifest.mechanisms.iter().enumerate() {
        let series: Vec<Option<f64>> =
            points.iter().map(|s| s.estimates.get(m).and_then(|e| e.get(metric)).and_then(|a| a.mean)).collect();
        let mut row = vec![name.clone()];
        row.extend(series.iter().map(|v| v.map_or("—".into(), |v| format!("{:.*}", decimals, v * scale))));
        if knees {
            let first = series.first().copied().flatten();
            let knee = first.and_then(|f| series.iter().position(|v| v.is_some_and(|v| v >= KNEE * f)));
            row.push(knee.map_or_else(|| format!("none up to {}", values[values.len() - 1]), |k| values[k].clone()));
        }
        t.add_row(row);
    }
    right_align(&mut t, 1);
    Some(t.to_string())
}

/// A swept value as a table heads it: an arrival rate (tasks per second) also per hour.
fn swept_value((path, value): &(String, serde_json::Value)) -> String {
    match value.as_f64() {
        Some(rate) if path.starts_with("arrivals.") => {
            let per_hour = format!("{:.1}", rate * 3600.0);
            format!("{value} ({}/h)", per_hour.trim_end_matches(".0"))
        }
        _ => value.to_string(),
    }
}

/// pass@1 per domain and complexity bin.
#[must_use]
pub fn per_bin(s: &Summary) -> String {
    let scopes: Vec<Scope> =
        s.scopes().into_iter().filter(|sc| matches!(sc, Scope::Bin(..) | Scope::Domain(_))).collect();
    let mut header = vec!["mechanism".to_string()];
    header.extend(scopes.iter().map(|sc| match sc {
        Scope::Bin(d, b) => {
            format!("{} τ≤{}", short(&s.domains[usize::from(*d)].0), s.domains[usize::from(*d)].1[usize::from(*b)])
        }
        other => s.scope_name(other),
    }));
    let mut t = table(header);
    for (m, name) in s.mechanisms.iter().enumerate() {
        let mut row = vec![name.clone()];
        row.extend(
            scopes
                .iter()
                .map(|sc| s.get(m, sc, &Metric::PassAt1).map_or("—".into(), |e| format!("{:.1}", e.mean * 100.0))),
        );
        t.add_row(row);
    }
    right_align(&mut t, 1);
    t.to_string()
}

/// A domain name cut to a few letters, to keep the per-bin table narrow.
pub(crate) fn short(name: &str) -> String {
    name.split(['_', '-', ' ']).filter_map(|w| w.chars().next()).collect::<String>().to_uppercase()
}

/// The routing view: strong-agent share, accuracy, cost per task and PGR per mechanism, then
/// each curve's APGR.
#[must_use]
pub fn routing(r: &crate::routing::RoutingReport) -> String {
    let mut t = table(vec![
        "mechanism".into(),
        format!("calls to {} %", r.strong),
        "accuracy %".into(),
        "$ per task".into(),
        "PGR".into(),
    ]);
    for p in &r.points {
        t.add_row(vec![
            p.mechanism.clone(),
            cell(Some(&p.strong_share), 100.0, 1),
            cell(Some(&p.accuracy), 100.0, 1),
            cell(Some(&p.cost), 1.0, 5),
            if p.pgr.is_finite() { format!("{:.3}", p.pgr) } else { "—".into() },
        ]);
    }
    right_align(&mut t, 1);
    let mut text = t.to_string();
    for (curve, value) in &r.apgr {
        text.push_str(&format!(
            "\nAPGR of {curve} (area under PGR against the share of calls to {}): {value:.3}",
            r.strong
        ));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_show_mean_and_half_width() {
        let e = Estimate { mean: 0.5, low: 0.45, high: 0.55, n: 10 };
        assert_eq!(cell(Some(&e), 100.0, 1), "50.0 ± 5.0");
        let single = Estimate { mean: 0.5, low: f64::NAN, high: f64::NAN, n: 1 };
        assert_eq!(cell(Some(&single), 100.0, 1), "50.0 ± n/a", "one episode has no interval");
        assert_eq!(cell(None, 1.0, 1), "—");
    }

    #[test]
    fn domains_abbreviate_by_initials() {
        assert_eq!(short("deep_search"), "DS");
        assert_eq!(short("coding"), "C");
    }
}
