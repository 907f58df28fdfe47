//! A pool whose agents are answered by different sources: synthetic stand-ins, live models and
//! recorded tables side by side.
//!
//! Each cell goes to the source of the agent that produces it. A juror scores only plans of its
//! own kind: a live juror cannot read a stand-in's plan (it has no text) and a stand-in cannot
//! judge a live plan (it has no latent fit to it), so across kinds the juror abstains, free of
//! charge, and SALE averages over the scores it has.

use std::sync::Arc;

use crate::cells::{ExecutionCell, JuryCell, PlanCell, Recall};
use crate::live::LiveSource;
use crate::profile::{AgentProfile, Backend};
use crate::recorded::{RecordedSource, RecordedTable};
use crate::source::{AgentInfo, CellKey, OutcomeSource, Provides};
use crate::synthetic::SyntheticSource;

/// Who answers for an agent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Synthetic,
    Live,
    Recorded,
}

impl Kind {
    /// Who answers for an agent with this backend.
    #[must_use]
    pub const fn of(backend: &Backend) -> Self {
        match backend {
            Backend::Synthetic => Self::Synthetic,
            Backend::Live(_) => Self::Live,
            Backend::Recorded(_) => Self::Recorded,
        }
    }
}

/// Why a pool cannot be assembled.
#[derive(Debug, thiserror::Error)]
pub enum PoolError {
    #[error(
        "recorded agents need a trace table: set the workload's tasks to `(path: ..., format: RouteLlm)` or `RouterBench`"
    )]
    NoTable,
    #[error("live agents need a live source")]
    NoLive,
    #[error("{0}")]
    Columns(String),
}

/// The source the pool `agents` describe: every cell from its agent's backend. `synthetic`
/// covers the whole pool (its non-synthetic agents are never asked); `live` must be given when
/// an agent is live, `table` when one is recorded. A pool of stand-ins is `synthetic` itself.
pub fn assemble(
    agents: &[AgentProfile],
    synthetic: SyntheticSource,
    live: Option<Arc<LiveSource>>,
    table: Option<&RecordedTable>,
) -> Result<Arc<dyn OutcomeSource>, PoolError> {
    let kinds: Vec<Kind> = agents.iter().map(|a| Kind::of(&a.backend)).collect();
    if kinds.iter().all(|k| *k == Kind::Synthetic) {
        return Ok(Arc::new(synthetic));
    }
    if kinds.contains(&Kind::Live) && live.is_none() {
        return Err(PoolError::NoLive);
    }
    let recorded = recorded(agents, synthetic.agents(), table)?;
    Ok(Arc::new(PoolSource::new(kinds, synthetic, live, recorded)))
}

/// The source of the pool's recorded agents (none without them), or the error naming a column
/// the table lacks: what `assemble` builds, and `tender validate` checks.
pub fn recorded(
    agents: &[AgentProfile],
    infos: &[AgentInfo],
    table: Option<&RecordedTable>,
) -> Result<Option<RecordedSource>, PoolError> {
    if !agents.iter().any(|a| Kind::of(&a.backend) == Kind::Recorded) {
        return Ok(None);
    }
    let columns: Vec<Option<String>> = agents
        .iter()
        .map(|a| match &a.backend {
            Backend::Recorded(r) => Some(r.column.clone()),
            _ => None,
        })
        .collect();
    let table = table.ok_or(PoolError::NoTable)?;
    Ok(Some(RecordedSource::new(infos, &columns, table).map_err(PoolError::Columns)?))
}

/// A mixed pool.
pub struct PoolSource {
    agents: Vec<AgentInfo>,
    kinds: Vec<Kind>,
    synthetic: SyntheticSource,
    live: Option<Arc<LiveSource>>,
    recorded: Option<RecordedSource>,
}

impl PoolSource {
    /// `synthetic` covers the whole pool (its non-synthetic agents are never asked); `live` and
    /// `recorded` must be given when some agent is of their kind.
    #[must_use]
    pub fn new(
        kinds: Vec<Kind>,
        synthetic: SyntheticSource,
        live: Option<Arc<LiveSource>>,
        recorded: Option<RecordedSource>,
    ) -> Self {
        Self { agents: synthetic.agents().to_vec(), kinds, synthetic, live, recorded }
    }

    fn live(&self) -> &LiveSource {
        self.live.as_deref().unwrap_or_else(|| panic!("a live agent without a live source"))
    }

    fn recorded(&self) -> &RecordedSource {
        self.recorded.as_ref().unwrap_or_else(|| panic!("a recorded agent without a recorded table"))
    }
}

impl OutcomeSource for PoolSource {
    fn agents(&self) -> &[AgentInfo] {
        &self.agents
    }

    fn provides(&self) -> Provides {
        Provides { bids: !self.kinds.contains(&Kind::Recorded) }
    }

    fn io_parallelism(&self) -> Option<usize> {
        self.live.as_ref().map(|l| l.parallelism())
    }

    fn plan(&self, key: CellKey<'_>) -> PlanCell {
        match self.kinds[key.agent] {
            Kind::Live => self.live().plan(key),
            Kind::Synthetic => self.synthetic.plan(key),
            // A trace table holds no plans: never a stand-in's in its place.
            Kind::Recorded => no_plan(crate::cells::Round::Initial),
        }
    }

    fn refine(&self, key: CellKey<'_>, recall: &Recall<'_>) -> PlanCell {
        match self.kinds[key.agent] {
            Kind::Live => self.live().refine(key, recall.pairs, recall.k),
            Kind::Synthetic => self.synthetic.refine(key, recall),
            Kind::Recorded => no_plan(crate::cells::Round::Refined),
        }
    }

    fn best_plan(&self, key: CellKey<'_>) -> Option<PlanCell> {
        match self.kinds[key.agent] {
            Kind::Synthetic => self.synthetic.best_plan(key),
            Kind::Live | Kind::Recorded => None,
        }
    }

    fn judge(&self, key: CellKey<'_>, plan: &PlanCell, juror: usize) -> JuryCell {
        match (self.kinds[key.agent], self.kinds[juror]) {
            (Kind::Synthetic, Kind::Synthetic) => self.synthetic.judge(key, plan, juror),
            (Kind::Live, Kind::Live) => self.live().judge(key, plan, juror),
            _ => JuryCell::default(),
        }
    }

    fn judge_panel(&self, key: CellKey<'_>, plan: &PlanCell, scores: &mut [JuryCell]) {
        match self.kinds[key.agent] {
            Kind::Live => {
                let jurors: Vec<usize> = (0..scores.len()).filter(|&j| self.kinds[j] == Kind::Live).collect();
                let mut live = vec![JuryCell::default(); jurors.len()];
                self.live().judge_many(key, plan, &jurors, &mut live);
                scores.fill(JuryCell::default());
                for (j, cell) in jurors.into_iter().zip(live) {
                    scores[j] = cell;
                }
            }
            _ => {
                for (juror, slot) in scores.iter_mut().enumerate() {
                    *slot = self.judge(key, plan, juror);
                }
            }
        }
    }

    fn execute(&self, key: CellKey<'_>, plan: Option<&PlanCell>) -> ExecutionCell {
        match self.kinds[key.agent] {
            Kind::Synthetic => self.synthetic.execute(key, plan),
            Kind::Live => self.live().execute(key, plan),
            Kind::Recorded => self.recorded().execute(key, plan),
        }
    }
}

/// The failed plan of an agent that cannot plan (a recorded one).
fn no_plan(round: crate::cells::Round) -> PlanCell {
    PlanCell {
        round,
        length: 1,
        entropy: 0.0,
        boost: 0.0,
        usage: crate::cells::Usage::default(),
        text: 0,
        status: crate::cells::Status::Abstained,
        seconds: None,
    }
}
