//! The interface every source of potential outcomes implements.

use crate::cells::{ExecutionCell, JuryCell, PlanCell, Recall, Usage};
use crate::task::Task;

/// What the market needs to know about an agent without asking its model.
#[derive(Clone, Debug, PartialEq)]
pub struct AgentInfo {
    pub name: String,
    /// Dollars per million input tokens.
    pub input_price: f64,
    /// Dollars per million output tokens; the `price` of SALE's cost term.
    pub output_price: f64,
}

impl AgentInfo {
    /// Dollars paid for `usage` at this agent's prices.
    #[must_use]
    pub fn cost(&self, usage: Usage) -> f64 {
        (usage.input as f64 * self.input_price + usage.output as f64 * self.output_price) / 1e6
    }
}

/// Agent indices, cheapest first by (output) price, ties to the lower index: the one price
/// order every "cheapest" and "priciest" in Tender follows.
#[must_use]
pub fn cheapest_first(prices: &[f64]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..prices.len()).collect();
    order.sort_by(|&a, &b| prices[a].total_cmp(&prices[b]).then(a.cmp(&b)));
    order
}

/// The priciest agent, ties to the lower index.
#[must_use]
pub fn priciest(prices: &[f64]) -> Option<usize> {
    let top = *cheapest_first(prices).last()?;
    (0..prices.len()).find(|&a| prices[a].total_cmp(&prices[top]).is_eq())
}

impl AgentInfo {
    /// The pool's output prices, by agent index.
    #[must_use]
    pub fn prices(agents: &[Self]) -> Vec<f64> {
        agents.iter().map(|a| a.output_price).collect()
    }
}

/// Which cell: an episode, a task, and the agent that would produce it.
#[derive(Clone, Copy, Debug)]
pub struct CellKey<'a> {
    pub episode_seed: u64,
    pub task: &'a Task,
    pub agent: usize,
}

/// Which cells a source can fill, beyond executions (which every source fills).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Provides {
    /// Plans, refinements and jury scores: what auctions of plans (SALE) read.
    pub bids: bool,
}

/// A source of potential outcomes. Every call is a pure function of its arguments, so any
/// mechanism asking for the same cell gets the same answer.
pub trait OutcomeSource: Send + Sync {
    /// The pool, in scenario order; agents are referred to by index into it.
    fn agents(&self) -> &[AgentInfo];

    /// Which cells the source can fill; mechanisms that need others are refused before they run.
    fn provides(&self) -> Provides {
        Provides { bids: true }
    }

    /// How many episodes are worth running at once when they wait on the network (live agents),
    /// rather than on the CPU; `None` for sources that only compute.
    fn io_parallelism(&self) -> Option<usize> {
        None
    }

    /// The agent's first plan for the task.
    fn plan(&self, key: CellKey<'_>) -> PlanCell;

    /// The agent's refined plan, written after studying what it recalls from auction memory.
    fn refine(&self, key: CellKey<'_>, recall: &Recall<'_>) -> PlanCell;

    /// The best plan the agent could ever write for the task (for the synthetic source, a
    /// refinement at full memory relevance), free of charge: only the hindsight oracle asks, to
    /// bound every mechanism from above. `None` when the source cannot know it.
    fn best_plan(&self, key: CellKey<'_>) -> Option<PlanCell>;

    /// Juror `juror`'s score of `plan`, written by `key.agent`.
    fn judge(&self, key: CellKey<'_>, plan: &PlanCell, juror: usize) -> JuryCell;

    /// Every juror's score of `plan`, in pool order, written into `scores` (one slot per agent).
    /// Sources that share work across jurors override this; the default asks one at a time.
    fn judge_panel(&self, key: CellKey<'_>, plan: &PlanCell, scores: &mut [JuryCell]) {
        for (juror, slot) in scores.iter_mut().enumerate() {
            *slot = self.judge(key, plan, juror);
        }
    }

    /// The agent executes the task along `plan` (or with no plan at all: a router's pick).
    fn execute(&self, key: CellKey<'_>, plan: Option<&PlanCell>) -> ExecutionCell;
}
