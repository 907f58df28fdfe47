//! Records: what leaves the world, one plain row per task decision.

use tender_agents::Usage;

use crate::mechanisms::Quantity;

/// One task's decision and its consequences under one mechanism.
#[derive(Clone, Debug, PartialEq)]
pub struct TaskRecord {
    /// Position in the arrival order.
    pub step: u32,
    pub task: u32,
    pub domain: u16,
    pub bin: u8,
    /// Human solving time in minutes.
    pub tau: f64,
    /// What solving the task is worth, in dollars.
    pub value: f64,
    /// The agent that executed the task.
    pub winner: u16,
    /// SALE: the winner before refinement.
    pub provisional: Option<u16>,
    /// SALE: whether a refined bid won.
    pub refined: bool,
    /// SALE: how many agents refined their bids.
    pub refiners: u16,
    pub success: bool,
    /// Tokens and dollars spent deciding (plans, jury, refinement).
    pub overhead: Usage,
    pub overhead_cost: f64,
    /// Executions paid for (one, except for cascades, which pay every attempt).
    pub executions: u32,
    /// Tokens of the execution whose answer was delivered (the accepted one).
    pub delivered: Usage,
    /// What the buyer paid the winner, in mechanisms with payments.
    pub payment: Option<f64>,
    /// Tokens and dollars of the executions.
    pub execution: Usage,
    pub execution_cost: f64,
    /// Cells whose call failed (see [`crate::ledger::Tab`]): the only failures.
    pub failed_calls: u32,
    /// Cells whose reply held nothing of the kind asked for.
    pub unparsed: u32,
    /// Cells not asked, by design.
    pub abstained: u32,
    /// The mechanism's own per-task quantities ([`crate::world::Decision::report`]).
    pub reported: Vec<(Quantity, f64)>,
    /// When the task arrived, was awarded and answered, in a timed episode (`None` with
    /// sequential arrivals).
    pub timing: Option<Box<crate::clock::TaskTiming>>,
}

impl TaskRecord {
    #[must_use]
    pub fn cost(&self) -> f64 {
        self.overhead_cost + self.execution_cost
    }

    #[must_use]
    pub fn tokens(&self) -> u64 {
        self.overhead.total() + self.execution.total()
    }
}
