//! The routing view of a run (RouteLLM's): each mechanism's share of calls to the strongest
//! agent against its accuracy, the performance gap it recovers, and the average over a curve of
//! trade-offs (APGR).
//!
//! The *strong* agent is the priciest (by output price), the *weak* one the cheapest. For a
//! mechanism with accuracy `a`, PGR = (a − a_weak) / (a_strong − a_weak), where `a_weak` and
//! `a_strong` are the single-agent runs of those two on the same episodes. A *curve* is a family
//! of mechanisms that differ only in a trade-off parameter (a kNN router at several λ): its APGR
//! is the area under PGR against the strong-call share, from (0, 0) (the weak agent alone) to
//! (1, 1) (the strong agent alone), by the trapezoid rule over the curve's points sorted by share.
//! A random mixture of the two lies on the diagonal, APGR 0.5.

use std::path::Path;

use tender_engine::{BatchResult, Role};

use crate::output::{OutputError, write_atomic};
use crate::stats::Estimate;

/// One mechanism's point.
#[derive(Clone, Debug, PartialEq)]
pub struct RoutingPoint {
    pub mechanism: String,
    /// The curve the mechanism belongs to, if any.
    pub curve: Option<String>,
    pub strong_share: Estimate,
    pub accuracy: Estimate,
    /// Dollars per task.
    pub cost: Estimate,
    pub pgr: f64,
    /// `weak` or `strong` for the single-agent runs PGR is anchored on.
    pub role: Option<&'static str>,
}

/// The routing report of a run.
#[derive(Clone, Debug, PartialEq)]
pub struct RoutingReport {
    pub weak: String,
    pub strong: String,
    pub weak_accuracy: f64,
    pub strong_accuracy: f64,
    pub points: Vec<RoutingPoint>,
    /// `(curve, APGR)` per curve with at least one point.
    pub apgr: Vec<(String, f64)>,
}

/// Area under PGR against share, anchored at (0, 0) and (1, 1).
#[must_use]
pub fn apgr(points: &[(f64, f64)]) -> f64 {
    let mut pts: Vec<(f64, f64)> = points.iter().copied().filter(|(s, p)| s.is_finite() && p.is_finite()).collect();
    pts.push((0.0, 0.0));
    pts.push((1.0, 1.0));
    pts.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.total_cmp(&b.1)));
    pts.windows(2).map(|w| (w[1].0 - w[0].0) * (w[0].1 + w[1].1) / 2.0).sum()
}

/// The report, when the run has single-agent runs of both the weak and the strong agent (and
/// they differ).
#[must_use]
pub fn routing(batch: &BatchResult) -> Option<RoutingReport> {
    let r = tender_agents::References::of(&batch.agents);
    let (strong, weak) = (r.largest, r.smallest);
    if strong == weak {
        return None;
    }
    let solo = |agent: usize| batch.mechanisms.iter().position(|m| m.role() == Role::Alone(agent));
    let (solo_weak, solo_strong) = (solo(weak)?, solo(strong)?);
    let episodes = |m: usize, f: &dyn Fn(&[tender_engine::TaskRecord]) -> f64| -> Vec<f64> {
        batch.runs.iter().filter(|r| usize::from(r.mechanism) == m).map(|r| f(&r.records)).collect()
    };
    let per_mechanism = |m: usize, f: &dyn Fn(&[tender_engine::TaskRecord]) -> f64| Estimate::of(episodes(m, f));
    // Accuracy and the strong agent's share are proportions: their intervals stay inside [0, 1].
    let proportion =
        |m: usize, f: &dyn Fn(&[tender_engine::TaskRecord]) -> f64| Estimate::of_proportion(episodes(m, f));
    let mean = |records: &[tender_engine::TaskRecord], f: &dyn Fn(&tender_engine::TaskRecord) -> f64| {
        if records.is_empty() { f64::NAN } else { records.iter().map(f).sum::<f64>() / records.len() as f64 }
    };
    let accuracy = |m: usize| proportion(m, &|rs| mean(rs, &|r| f64::from(u8::from(r.success))));
    let (a_weak, a_strong) = (accuracy(solo_weak).mean, accuracy(solo_strong).mean);
    let gap = a_strong - a_weak;
    let points: Vec<RoutingPoint> = (0..batch.mechanisms.len())
        .map(|m| {
            let acc = accuracy(m);
            RoutingPoint {
                mechanism: batch.mechanisms[m].name.clone(),
                curve: batch.mechanisms[m].curve.clone(),
                strong_share: proportion(m, &|rs| mean(rs, &|r| f64::from(u8::from(usize::from(r.winner) == strong)))),
                cost: per_mechanism(m, &|rs| mean(rs, &tender_engine::TaskRecord::cost)),
                pgr: if gap.abs() > f64::EPSILON { (acc.mean - a_weak) / gap } else { f64::NAN },
                accuracy: acc,
                role: if m == solo_weak {
                    Some("weak")
                } else if m == solo_strong {
                    Some("strong")
                } else {
                    None
                },
            }
        })
        .collect();
    let mut names: Vec<String> = points.iter().filter_map(|p| p.curve.clone()).collect();
    names.dedup();
    let apgr = names
        .into_iter()
        .map(|c| {
            let pts: Vec<(f64, f64)> =
                points.iter().filter(|p| p.curve.as_ref() == Some(&c)).map(|p| (p.strong_share.mean, p.pgr)).collect();
            let value = apgr(&pts);
            (c, value)
        })
        .collect();
    Some(RoutingReport {
        weak: batch.agents[weak].name.clone(),
        strong: batch.agents[strong].name.clone(),
        weak_accuracy: a_weak,
        strong_accuracy: a_strong,
        points,
        apgr,
    })
}

/// A router's result read per episode, so that it has a confidence interval and can be a
/// calibration target: its curve's APGR, or its accuracy at a share of calls to the strong agent
/// (read off the curve by linear interpolation between its points, anchored at the weak agent
/// alone, share 0, and the strong one alone, share 1).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum CurveMetric {
    Apgr,
    AccuracyAtStrongShare(f64),
}

impl CurveMetric {
    /// `apgr` or `accuracy_at_strong_share:S` (S in [0, 1]).
    #[must_use]
    pub fn parse(id: &str) -> Option<Self> {
        if id == "apgr" {
            return Some(Self::Apgr);
        }
        let share: f64 = id.strip_prefix("accuracy_at_strong_share:")?.parse().ok()?;
        (0.0..=1.0).contains(&share).then_some(Self::AccuracyAtStrongShare(share))
    }

    /// The metric per episode of curve `curve` (its mechanisms' `curve`), or why it cannot be read.
    pub fn estimate(self, batch: &BatchResult, curve: &str) -> Result<Estimate, String> {
        let r = tender_agents::References::of(&batch.agents);
        let (strong, weak) = (r.largest, r.smallest);
        let solo = |agent: usize| batch.mechanisms.iter().position(|m| m.role() == Role::Alone(agent));
        let (Some(solo_weak), Some(solo_strong)) = (solo(weak), solo(strong)) else {
            return Err("a router's curve is read against each agent alone: add `EachAgent`".into());
        };
        if strong == weak {
            return Err("a router's curve needs a weak and a strong agent".into());
        }
        let members: Vec<usize> =
            (0..batch.mechanisms.len()).filter(|&m| batch.mechanisms[m].curve.as_deref() == Some(curve)).collect();
        if members.is_empty() {
            return Err(format!("no mechanism is a point of curve {curve:?}"));
        }
        let run = |m: usize, episode: u32| {
            batch.runs.iter().find(|r| usize::from(r.mechanism) == m && r.episode == episode).map(|r| &r.records)
        };
        let rate = |records: &[tender_engine::TaskRecord], f: &dyn Fn(&tender_engine::TaskRecord) -> bool| {
            records.iter().filter(|r| f(r)).count() as f64 / records.len().max(1) as f64
        };
        let mut episodes: Vec<u32> = batch.runs.iter().map(|r| r.episode).collect();
        episodes.sort_unstable();
        episodes.dedup();
        let per_episode = episodes.iter().filter_map(|&e| {
            let (a_weak, a_strong) =
                (rate(run(solo_weak, e)?, &|r| r.success), rate(run(solo_strong, e)?, &|r| r.success));
            let mut points: Vec<(f64, f64)> = members
                .iter()
                .filter_map(|&m| {
                    let records = run(m, e)?;
                    Some((rate(records, &|r| usize::from(r.winner) == strong), rate(records, &|r| r.success)))
                })
                .collect();
            Some(match self {
                Self::Apgr => {
                    let gap = a_strong - a_weak;
                    if gap.abs() <= f64::EPSILON {
                        return None;
                    }
                    let pgr: Vec<(f64, f64)> = points.iter().map(|&(s, a)| (s, (a - a_weak) / gap)).collect();
                    apgr(&pgr)
                }
                Self::AccuracyAtStrongShare(share) => {
                    points.push((0.0, a_weak));
                    points.push((1.0, a_strong));
                    points.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.total_cmp(&b.1)));
                    let i = points.partition_point(|p| p.0 < share).clamp(1, points.len() - 1);
                    let ((s0, a0), (s1, a1)) = (points[i - 1], points[i]);
                    if s1 - s0 <= f64::EPSILON { a1 } else { a0 + (a1 - a0) * (share - s0) / (s1 - s0) }
                }
            })
        });
        Ok(Estimate::of(per_episode))
    }
}

/// The routing view (RouteLLM's) as a table: one row per mechanism with its share of calls to the
/// strong agent, accuracy (each with its 95% interval), dollars per task, PGR and, for the two
/// single-agent anchors, `role` (`weak`, `strong`). Each curve's APGR is in `report.apgr`.
#[must_use]
pub fn table(report: &RoutingReport) -> crate::columns::Table {
    let p = &report.points;
    let mut curve = crate::columns::Categories::default();
    let mut role = crate::columns::Categories::default();
    for point in p {
        curve.push(point.curve.as_deref());
        role.push(point.role);
    }
    let float =
        |f: &dyn Fn(&RoutingPoint) -> f64| crate::columns::Values::Float(p.iter().map(|x| Some(f(x))).collect());
    let mut t = crate::columns::Table::default();
    t.push("mechanism", crate::columns::Values::Text(p.iter().map(|x| Some(x.mechanism.clone())).collect()));
    t.push("curve", curve.values());
    t.push("strong_share", float(&|x| x.strong_share.mean));
    t.push("strong_share_low", float(&|x| x.strong_share.low));
    t.push("strong_share_high", float(&|x| x.strong_share.high));
    t.push("accuracy", float(&|x| x.accuracy.mean));
    t.push("accuracy_low", float(&|x| x.accuracy.low));
    t.push("accuracy_high", float(&|x| x.accuracy.high));
    t.push("usd_per_task", float(&|x| x.cost.mean));
    t.push("pgr", float(&|x| x.pgr));
    t.push("role", role.values());
    t
}

/// `routing.csv`: one row per mechanism, then one per curve's APGR.
pub fn write_routing(path: &Path, report: &RoutingReport) -> Result<(), OutputError> {
    // Plain RFC 4180 with a header row: the weak and strong anchors are marked in `role`.
    let mut text = String::from(
        "mechanism,curve,strong_share,strong_share_low,strong_share_high,accuracy,accuracy_low,accuracy_high,usd_per_task,pgr,role\n",
    );
    for p in &report.points {
        text.push_str(&format!(
            "{},{},{},{},{},{},{},{},{},{},{}\n",
            csv_field(&p.mechanism),
            csv_field(p.curve.as_deref().unwrap_or("")),
            p.strong_share.mean,
            p.strong_share.low,
            p.strong_share.high,
            p.accuracy.mean,
            p.accuracy.low,
            p.accuracy.high,
            p.cost.mean,
            p.pgr,
            p.role.unwrap_or("")
        ));
    }
    for (curve, value) in &report.apgr {
        text.push_str(&format!("{},APGR,,,,,,,,{value},\n", csv_field(curve)));
    }
    write_atomic(path, |w| w.write_all(text.as_bytes()))
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) { format!("\"{}\"", s.replace('"', "\"\"")) } else { s.to_string() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn apgr_of_the_diagonal_is_one_half_and_of_a_perfect_router_near_one() {
        assert!((apgr(&[]) - 0.5).abs() < 1e-12);
        assert!((apgr(&[(0.3, 0.3), (0.6, 0.6)]) - 0.5).abs() < 1e-12);
        // Recovering the whole gap with 10% of strong calls.
        let a = apgr(&[(0.1, 1.0)]);
        assert!((a - (0.1 * 0.5 + 0.9)).abs() < 1e-12, "{a}");
        assert!(apgr(&[(0.5, 0.2)]) < 0.5);
    }

    #[test]
    fn curve_metrics_parse_their_ids() {
        assert_eq!(CurveMetric::parse("apgr"), Some(CurveMetric::Apgr));
        assert_eq!(CurveMetric::parse("accuracy_at_strong_share:0.5"), Some(CurveMetric::AccuracyAtStrongShare(0.5)));
        assert_eq!(CurveMetric::parse("accuracy_at_strong_share:1.5"), None);
        assert_eq!(CurveMetric::parse("pass_at_1"), None);
    }
}
