//! Paired comparisons of two mechanisms: the difference of a metric episode by episode, where
//! both ran on the same draws, with its 95% interval (the comparison every user writes by hand).

use tender_engine::BatchResult;

use crate::metrics::{row_metric_names, row_metrics, row_quantities};
use crate::stats::Estimate;

/// `a − b` of one metric, paired by episode.
#[derive(Clone, Debug, PartialEq)]
pub struct Paired {
    pub metric: String,
    /// The difference's mean and Student-t 95% interval over episodes.
    pub difference: Estimate,
    /// Each mechanism's own mean over the same episodes.
    pub a: Estimate,
    pub b: Estimate,
}

/// Why a comparison cannot be made.
#[derive(Debug, thiserror::Error)]
pub enum CompareError {
    #[error("no mechanism named {name:?}; the run has: {known}")]
    Mechanism { name: String, known: String },
    #[error("no per-episode metric {name:?}; there are: {known}")]
    Metric { name: String, known: String },
}

/// Compare mechanisms `a` and `b` of a run on `metric` (a per-episode metric id, as the episodes
/// table's columns: `pass_at_1`, `cost_usd`, `usd_per_delivered_mtok`, ...).
pub fn paired(batch: &BatchResult, a: &str, b: &str, metric: &str) -> Result<Paired, CompareError> {
    let names = batch.names();
    let index = |name: &str| {
        names
            .iter()
            .position(|n| n == name)
            .ok_or_else(|| CompareError::Mechanism { name: name.to_string(), known: names.join(", ") })
    };
    let (ia, ib) = (index(a)?, index(b)?);
    let timed = batch.runs.iter().flat_map(|r| &r.records).any(|r| r.timing.is_some());
    let quantities = row_quantities(&batch.mechanisms);
    let metrics = row_metric_names(timed, &quantities);
    let m = metrics
        .iter()
        .position(|n| n == metric)
        .ok_or_else(|| CompareError::Metric { name: metric.to_string(), known: metrics.join(", ") })?;
    let refs = tender_agents::References::of(&batch.agents);
    let value_of = |mechanism: usize| -> Vec<(u32, f64)> {
        batch
            .runs
            .iter()
            .filter(|r| usize::from(r.mechanism) == mechanism)
            .map(|r| {
                let v = row_metrics(&r.records, batch.agents.len(), (refs.largest, refs.smallest), timed, &quantities);
                (r.episode, v[m])
            })
            .collect()
    };
    let (va, vb) = (value_of(ia), value_of(ib));
    // Runs are ordered by episode for every mechanism: pair them by episode all the same.
    let pairs: Vec<(f64, f64)> =
        va.iter().filter_map(|&(e, x)| vb.iter().find(|&&(f, _)| f == e).map(|&(_, y)| (x, y))).collect();
    Ok(Paired {
        metric: metric.to_string(),
        difference: Estimate::of(pairs.iter().map(|(x, y)| x - y)),
        a: Estimate::of(pairs.iter().map(|p| p.0)),
        b: Estimate::of(pairs.iter().map(|p| p.1)),
    })
}
