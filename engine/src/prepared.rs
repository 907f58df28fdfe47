//! The prepared form of a scenario: what a run uses.
//!
//! A [`Scenario`] is what the file says, validated once when parsed. Preparing it loads what the
//! file only names (tasks, fitted weights: the caller's IO), builds the pool's outcome source and
//! resolves the mechanisms into named columns (name, curve, role) once; the batch runner and,
//! through the batch's columns, the analysis use this form and never go back to the file form.

use std::sync::Arc;

use tender_agents::OutcomeSource;
use tender_agents::validate::Invalids;

use crate::batch::{BatchResult, RunOptions, run_batch};
use crate::error::EngineError;
use crate::mechanisms::Resolved;
use crate::scenario::Scenario;

/// A scenario ready to run.
#[derive(Clone)]
pub struct Prepared {
    /// The file form it came from, with its tasks and files attached (saved beside the results).
    pub scenario: Scenario,
    pub source: Arc<dyn OutcomeSource>,
    /// The resolved mechanisms: the batch's columns.
    pub mechanisms: Vec<Resolved>,
}

impl Prepared {
    /// A scenario whose tasks and files are attached, with the source of its pool.
    #[must_use]
    pub fn new(scenario: Scenario, source: Arc<dyn OutcomeSource>) -> Self {
        let mechanisms = scenario.resolve_mechanisms();
        Self { scenario, source, mechanisms }
    }

    /// A synthetic scenario, its stand-ins as the source.
    pub fn synthetic(scenario: Scenario) -> Result<Self, Invalids> {
        let source = Arc::new(scenario.source()?);
        Ok(Self::new(scenario, source))
    }

    /// The run options of the scenario's own seed and episodes, on `jobs` threads.
    #[must_use]
    pub fn options(&self, jobs: Option<usize>) -> RunOptions {
        let s = &self.scenario;
        let timing = s.arrivals.timed().then(|| crate::clock::Timing {
            arrivals: s.arrivals.clone(),
            serving: s.agents.iter().map(|a| a.serving()).collect(),
            latency_target: s.latency_target,
            timeout: s.timeout,
        });
        RunOptions { seed: s.seed, episodes: s.episodes, jobs, timing }
    }

    /// Run every mechanism on every episode of `options`; `progress` is called once per finished
    /// (episode, mechanism) pair.
    pub fn run(&self, options: &RunOptions, progress: &(dyn Fn() + Sync)) -> Result<BatchResult, EngineError> {
        let s = &self.scenario;
        run_batch(Arc::clone(&self.source), &s.workload, s.training, &self.mechanisms, options, progress)
    }
}
