//! Records: what leaves the world, one plain row per task decision.

use tender_agents::Usage;

use crate::mechanisms::{Meaning, Quantity};

/// What a task reports: each quantity with its value, in the order first reported. Inline up
/// to four (SALE reports three), so a record allocates nothing for them.
pub type Reported = smallvec::SmallVec<[(&'static Quantity, f64); 4]>;

/// The value of the quantity `id` among `reported`, if there.
#[must_use]
pub fn value_of(reported: &[(&'static Quantity, f64)], id: &str) -> Option<f64> {
    reported.iter().find(|(q, _)| q.id == id).map(|&(_, v)| v)
}

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
    pub success: bool,
    /// Tokens and dollars spent deciding (plans, jury, refinement).
    pub overhead: Usage,
    pub overhead_cost: f64,
    /// Executions paid for (one, except for cascades, which pay every attempt).
    pub executions: u32,
    /// Tokens of the execution whose answer was delivered (the accepted one).
    pub delivered: Usage,
    /// Tokens and dollars of the executions.
    pub execution: Usage,
    pub execution_cost: f64,
    /// Cells whose call failed (see [`crate::ledger::Tab`]): the only failures.
    pub failed_calls: u32,
    /// Cells whose reply held nothing of the kind asked for.
    pub unparsed: u32,
    /// Cells not asked, by design.
    pub abstained: u32,
    /// The mechanism's own per-task quantities ([`crate::world::Decision::report`]), payments
    /// included: the one channel for what a mechanism knows about a task.
    pub reported: Reported,
    /// When the task arrived, was awarded and answered, in a timed episode (`None` with
    /// sequential arrivals).
    pub timing: Option<Box<crate::clock::TaskTiming>>,
}

impl TaskRecord {
    #[must_use]
    pub fn cost(&self) -> f64 {
        self.overhead_cost + self.execution_cost
    }

    /// The value of the reported quantity `id`, if this task reports it.
    #[must_use]
    pub fn reported(&self, id: &str) -> Option<f64> {
        value_of(&self.reported, id)
    }

    /// What the buyer paid the winner ([`crate::mechanisms::Meaning::Payment`]), in mechanisms
    /// with payments.
    #[must_use]
    pub fn payment(&self) -> Option<f64> {
        self.reported.iter().find(|(q, _)| q.meaning == Meaning::Payment).map(|&(_, v)| v)
    }

    #[must_use]
    pub fn tokens(&self) -> u64 {
        self.overhead.total() + self.execution.total()
    }
}
