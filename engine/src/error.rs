//! Errors of the engine.

/// What can go wrong while running episodes.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// The systems of a mechanism do not form a valid schedule (for example two systems with
    /// conflicting access and no order between them).
    #[error("mechanism {mechanism:?} does not build a valid schedule: {message}")]
    Schedule { mechanism: String, message: String },
    /// The requested thread pool could not be built.
    #[error("cannot start {jobs} worker threads")]
    ThreadPool {
        jobs: usize,
        #[source]
        source: rayon::ThreadPoolBuildError,
    },
    /// The mechanism needs cells the source cannot fill.
    #[error(
        "mechanism {mechanism:?} needs plans and jury scores, which this source does not have (recorded tables hold executions only); routers, single agents, random and the oracle run on any trace"
    )]
    Unsupported { mechanism: String },
    /// A mechanism reported a quantity it does not list in [`crate::mechanisms::Mechanism::reports`].
    #[error(
        "mechanism {mechanism:?} reported {quantity:?} without declaring it: list every quantity it reports in `Mechanism::reports`"
    )]
    Undeclared { mechanism: String, quantity: &'static str },
    /// The batch was stopped before it finished ([`crate::RunOptions::cancel`]).
    #[error("the run was cancelled")]
    Cancelled,
}
