//! The interface every source of potential outcomes implements.

use serde::{Deserialize, Serialize};

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
    /// Whether the scenario marks the agent as a reference of comparisons.
    pub reference: Option<Reference>,
    /// What a token costs the agent, dollars per million tokens; `None`: its prices.
    pub unit_cost: Option<f64>,
    /// Its strategy's markup on its bids in procurement auctions (0: it bids its cost).
    pub bid_markup: f64,
}

/// The agents comparisons are made against: "reliance on the largest", "vs the largest alone",
/// routing's strong and weak agents, the learning curve's smallest agent.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Reference {
    Largest,
    Smallest,
}

/// How a reference agent was chosen.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChosenBy {
    /// The scenario marks it (`reference: Largest`).
    Marked,
    /// Its price alone.
    Price,
    /// Among agents of its price, by the model size its name gives.
    Size,
    /// Among agents of its price and size, by its place in the list.
    Order,
}

/// The pool's reference agents and how each was chosen.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct References {
    pub largest: usize,
    pub smallest: usize,
    pub largest_by: ChosenBy,
    pub smallest_by: ChosenBy,
}

impl References {
    /// The agents a scenario marks `reference: Largest` and `Smallest`; otherwise the priciest
    /// and the cheapest by output price, ties broken by the model size in the name
    /// ([`size_in_name`]: larger for the largest, smaller for the smallest; a name without one
    /// counts as no size), then by place (the largest listed last, the smallest listed first).
    #[must_use]
    pub fn of(agents: &[AgentInfo]) -> Self {
        let marked = |r: Reference| agents.iter().position(|a| a.reference == Some(r));
        let key = |i: usize| (agents[i].output_price, size_in_name(&agents[i].name).unwrap_or(0.0));
        let order: Vec<usize> = (0..agents.len()).collect();
        let pick = |better: &dyn Fn(usize, usize) -> bool| {
            order.iter().copied().reduce(|best, i| if better(i, best) { i } else { best }).unwrap_or(0)
        };
        let cmp = |a: usize, b: usize| {
            let ((pa, sa), (pb, sb)) = (key(a), key(b));
            pa.total_cmp(&pb).then(sa.total_cmp(&sb))
        };
        let largest = pick(&|i, best| cmp(i, best).is_ge());
        let smallest = pick(&|i, best| cmp(i, best).is_lt());
        let by = |chosen: usize| {
            let same_price = |i: usize| agents[i].output_price.total_cmp(&agents[chosen].output_price).is_eq();
            let same = |i: usize| i != chosen && same_price(i);
            if !order.iter().any(|&i| same(i)) {
                ChosenBy::Price
            } else if order.iter().any(|&i| same(i) && cmp(i, chosen).is_eq()) {
                ChosenBy::Order
            } else {
                ChosenBy::Size
            }
        };
        let (largest, largest_by) =
            marked(Reference::Largest).map_or((largest, by(largest)), |i| (i, ChosenBy::Marked));
        let (smallest, smallest_by) =
            marked(Reference::Smallest).map_or((smallest, by(smallest)), |i| (i, ChosenBy::Marked));
        Self { largest, smallest, largest_by, smallest_by }
    }
}

/// A model's size in billions of parameters as its name gives it: the last part of the name
/// (split at `-`, `_`, `/`, `:` and spaces) that is a number followed by `b` or `m`
/// (`qwen3-32b`: 32, `Qwen/Qwen3-14B-FP8`: 14, `qwen2.5-0.5b`: 0.5, `smollm2-135m`: 0.135,
/// `qwen3:8b`: 8).
#[must_use]
pub fn size_in_name(name: &str) -> Option<f64> {
    name.split(['-', '_', '/', ':', ' ']).rev().find_map(|part| {
        let (number, unit) = part.split_at(part.len().checked_sub(1)?);
        let scale = match unit {
            "b" | "B" => 1.0,
            "m" | "M" => 1e-3,
            _ => return None,
        };
        number.parse::<f64>().ok().filter(|n| n.is_finite() && *n > 0.0).map(|n| n * scale)
    })
}

impl AgentInfo {
    /// Dollars paid for `usage` at this agent's prices.
    #[must_use]
    pub fn cost(&self, usage: Usage) -> f64 {
        (usage.input as f64 * self.input_price + usage.output as f64 * self.output_price) / 1e6
    }

    /// What producing `usage` costs the agent itself: at its unit cost, or its prices.
    #[must_use]
    pub fn own_cost(&self, usage: Usage) -> f64 {
        self.unit_cost.map_or_else(|| self.cost(usage), |c| usage.total() as f64 * c / 1e6)
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
