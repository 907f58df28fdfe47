//! The prepared form of a scenario: what a run uses.
//!
//! A [`Scenario`] is what the file says, validated once when parsed. Preparing it loads what the
//! file only names (tasks, fitted weights: the caller's IO), builds the pool's outcome source and
//! resolves the mechanisms into named columns (name, curve, role) once; the batch runner and,
//! through the batch's columns, the analysis use this form and never go back to the file form.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, LazyLock, Mutex, OnceLock};

use rayon::prelude::*;

use tender_agents::OutcomeSource;
use tender_agents::validate::Invalids;

use crate::batch::{BatchResult, RunOptions, run_batch};
use crate::error::EngineError;
use crate::fit::FitError;
use crate::mechanisms::{MechanismSpec, Resolved};
use crate::scenario::Scenario;
use crate::training_bids::ScenarioTraining;

/// A scenario ready to run.
#[derive(Clone)]
pub struct Prepared {
    /// The file form it came from, with its tasks and files attached (saved beside the results).
    pub scenario: Scenario,
    pub source: Arc<dyn OutcomeSource>,
    /// The resolved mechanisms: the batch's columns.
    pub mechanisms: Vec<Resolved>,
}

/// Why a scenario could not be prepared.
#[derive(Debug, thiserror::Error)]
pub enum PrepareError {
    #[error(transparent)]
    Invalid(#[from] Invalids),
    /// Fitting a mechanism's weights on the training split failed.
    #[error(transparent)]
    Fit(#[from] FitError),
}

impl Prepared {
    /// A scenario whose tasks and files are attached, with the source of its pool. Mechanisms
    /// that fit themselves (`Sale(fit: ...)`) are fitted here, on the training split and this
    /// source, so that every run of the scenario (a sweep's points, a calibration's evaluations)
    /// fits them on its own world.
    pub fn new(mut scenario: Scenario, source: Arc<dyn OutcomeSource>) -> Result<Self, PrepareError> {
        // Agents play their strategies in training as in the episodes: a fit learns the market
        // they make.
        let strategies = scenario.agents.iter().map(|a| a.strategy.clone()).collect();
        let source = tender_agents::strategy::Strategic::wrap(source, strategies);
        fit_mechanisms(&mut scenario, &source)?;
        let mechanisms = scenario.resolve_mechanisms();
        Ok(Self { scenario, source, mechanisms })
    }

    /// A synthetic scenario, its stand-ins as the source.
    pub fn synthetic(scenario: Scenario) -> Result<Self, PrepareError> {
        let source = Arc::new(scenario.source()?);
        Self::new(scenario, source)
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
        RunOptions { seed: s.seed, episodes: s.episodes, jobs, timing, cancel: None }
    }

    /// Run every mechanism on every episode of `options`; `progress` is called once per finished
    /// (episode, mechanism) pair.
    pub fn run(&self, options: &RunOptions, progress: &(dyn Fn() + Sync)) -> Result<BatchResult, EngineError> {
        let s = &self.scenario;
        run_batch(Arc::clone(&self.source), &s.workload, s.training, &self.mechanisms, options, progress)
    }
}

/// Mechanisms fitted so far in this process, by the text of everything a fit reads (the world:
/// pool, stand-ins, workload, training split, seed; and the mechanism's own parameters): the
/// points of a sweep that change nothing a fit reads (an arrival rate, say) fit once.
static FITTED: LazyLock<Mutex<BTreeMap<String, MechanismSpec>>> = LazyLock::new(|| Mutex::new(BTreeMap::new()));

/// Fit every mechanism that asks for it ([`crate::MechanismKind::fit_weights`]), each at most once per
/// world and parameters in a process.
fn fit_mechanisms(scenario: &mut Scenario, source: &Arc<dyn OutcomeSource>) -> Result<(), FitError> {
    // What a fit reads of the scenario, as text: not its name, output, episodes or other
    // mechanisms (the episodes a fit uses are the mechanism's own parameter). Written only if a
    // mechanism may fit; without it (a scenario that cannot be written), nothing is cached.
    let world = OnceLock::new();
    let world_text = || {
        world
            .get_or_init(|| {
                let mut world = scenario.clone();
                world.mechanisms.clear();
                (world.name, world.description, world.episodes, world.output) =
                    (String::new(), String::new(), 1, PathBuf::new());
                (world.sweep, world.calibrate, world.game) = (None, None, None);
                serde_json::to_string(&world).ok()
            })
            .as_deref()
    };
    let training = ScenarioTraining::new(scenario, Arc::clone(source));
    // Mechanisms fit independently: in parallel, kept in file order. Only those that learn from
    // the training split can fit (`Needs::training`).
    let fitted = scenario
        .mechanisms
        .par_iter()
        .map(|m| {
            if !m.needs().training {
                return Ok(m.clone());
            }
            let key = world_text().zip(serde_json::to_string(m).ok()).map(|(w, text)| format!("{w}\n{text}"));
            if let Some(known) = key.as_ref().and_then(|k| lock().get(k).cloned()) {
                return Ok(known);
            }
            let mut spec = m.clone();
            if spec.fit_weights(&training)?
                && let Some(k) = key
            {
                lock().insert(k, spec.clone());
            }
            Ok(spec)
        })
        .collect::<Result<Vec<_>, FitError>>()?;
    drop(training);
    scenario.mechanisms = fitted;
    Ok(())
}

fn lock() -> std::sync::MutexGuard<'static, BTreeMap<String, MechanismSpec>> {
    FITTED.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}
