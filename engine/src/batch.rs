//! The batch runner: every (episode, mechanism) pair of a run, in parallel, with results that
//! do not depend on the number of threads.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use rayon::prelude::*;
use tender_agents::{AgentInfo, OutcomeSource, WorkloadSpec};

use crate::clock::Timing;
use crate::episode::play_episode;
use crate::error::EngineError;
use crate::mechanisms::{Resolved, draw_for};
use crate::record::TaskRecord;
use crate::training::Training;

/// How to run a batch.
#[derive(Clone, Debug)]
pub struct RunOptions {
    pub seed: u64,
    pub episodes: u32,
    /// Worker threads; `None` uses rayon's default (one per core), or for live sources as many
    /// as requests may be in flight.
    pub jobs: Option<usize>,
    /// Arrivals in time and the agents as servers; `None` for sequential arrivals.
    pub timing: Option<Timing>,
    /// Set from another thread to stop the batch: episodes not yet started are not run, and the
    /// batch ends with [`EngineError::Cancelled`] (Ctrl-C in a notebook).
    pub cancel: Option<Arc<AtomicBool>>,
}

/// One mechanism's pass over one episode's task stream.
#[derive(Clone, Debug, PartialEq)]
pub struct EpisodeRun {
    pub episode: u32,
    pub seed: u64,
    pub mechanism: u16,
    pub records: Vec<TaskRecord>,
    /// Timed runs: each agent's utilisation, its busy slot-seconds over its slot-seconds from the
    /// first arrival to the last answer (empty for sequential arrivals).
    pub utilisation: Vec<f64>,
    /// Timed runs, the first episode only: each agent's busy share over time
    /// ([`crate::clock::busy_over_time`]); empty otherwise.
    pub busy_over_time: Vec<(f64, Vec<f64>)>,
}

/// Everything a batch produced, ordered by episode, then mechanism.
#[derive(Clone, Debug)]
pub struct BatchResult {
    pub agents: Vec<AgentInfo>,
    /// The columns: each mechanism with its name, curve, role and reported quantities.
    pub mechanisms: Vec<Resolved>,
    pub runs: Vec<EpisodeRun>,
}

impl BatchResult {
    /// The mechanisms' names, in column order.
    #[must_use]
    pub fn names(&self) -> Vec<String> {
        self.mechanisms.iter().map(|m| m.name.clone()).collect()
    }
}

/// `work` on `jobs` threads, or on rayon's global pool (one thread per core) when `None`.
pub fn on_threads<T: Send>(jobs: Option<usize>, work: impl FnOnce() -> T + Send) -> Result<T, EngineError> {
    match jobs {
        None => Ok(work()),
        Some(jobs) => Ok(rayon::ThreadPoolBuilder::new()
            .num_threads(jobs)
            .build()
            .map_err(|source| EngineError::ThreadPool { jobs, source })?
            .install(work)),
    }
}

/// Run every mechanism on `episodes` seeded task streams. `progress` is called once per finished
/// (episode, mechanism) pair, from worker threads.
pub fn run_batch(
    source: Arc<dyn OutcomeSource>,
    workload: &WorkloadSpec,
    training: Training,
    mechanisms: &[Resolved],
    options: &RunOptions,
    progress: &(dyn Fn() + Sync),
) -> Result<BatchResult, EngineError> {
    if let Some(m) = mechanisms.iter().find(|m| m.needs.bids && !source.provides().bids) {
        return Err(EngineError::Unsupported { mechanism: m.name.clone() });
    }
    let jobs: Vec<(u32, usize)> =
        (0..options.episodes).flat_map(|e| (0..mechanisms.len()).map(move |m| (e, m))).collect();
    let work = || {
        jobs.par_iter()
            .map(|&(episode, m)| {
                if options.cancel.as_ref().is_some_and(|c| c.load(Ordering::Relaxed)) {
                    return Err(EngineError::Cancelled);
                }
                let column = &mechanisms[m];
                let draw = draw_for(std::slice::from_ref(column));
                let (seed, tasks) = training.episode(workload, options.seed, u64::from(episode), draw);
                let timing = options.timing.as_ref();
                let (records, calls) =
                    play_episode(Arc::clone(&source), tasks, &*column.mechanism, &column.name, seed, timing)?;
                let utilisation = timing.map(|t| crate::clock::utilisation(&calls, &t.serving)).unwrap_or_default();
                let busy_over_time = timing
                    .filter(|_| episode == 0)
                    .map(|t| crate::clock::busy_over_time(&calls, &t.serving))
                    .unwrap_or_default();
                progress();
                Ok(EpisodeRun { episode, seed, mechanism: m as u16, records, utilisation, busy_over_time })
            })
            .collect::<Result<Vec<_>, EngineError>>()
    };
    // Live episodes wait on the network, not the CPU: give them as many threads as requests may
    // be in flight.
    let runs = on_threads(options.jobs.or_else(|| source.io_parallelism()), work)??;
    Ok(BatchResult { agents: source.agents().to_vec(), mechanisms: mechanisms.to_vec(), runs })
}
