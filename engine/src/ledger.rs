//! The charging ledger: the only door between a mechanism and the potential outcomes.
//!
//! Every cell read through it is paid for at the producing agent's prices: plans, jury scores
//! and refinements as auction overhead, executions as execution. Cost figures therefore never
//! flatter a mechanism that peeks at outcomes it did not pay for. The free looks
//! (`hindsight_first`, `hindsight_best`, `cheapest_success`) exist for the hindsight oracle and
//! for `tender fit`'s training targets alone.

use std::sync::Arc;

use bevy_ecs::resource::Resource;
use tender_agents::{
    AgentInfo, CellKey, ExecutionCell, JuryCell, OutcomeSource, PlanCell, Recall, Status, Task, Usage,
};

/// What the current task has cost so far.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Tab {
    pub overhead: Usage,
    pub overhead_cost: f64,
    pub execution: Usage,
    pub execution_cost: f64,
    pub executions: u32,
    pub plan_calls: u32,
    pub jury_calls: u32,
    pub refine_calls: u32,
    /// Cells whose call failed (after its retries), whose reply was not a usable API answer,
    /// or that a replayed trace lacked: the only failures.
    pub failed_calls: u32,
    /// Cells whose reply held nothing of the kind asked for (a verdict without a score, an
    /// answer the check finds nothing in, an empty plan).
    pub unparsed: u32,
    /// Cells not asked, by design (a live juror and a stand-in's plan, an agent that cannot
    /// plan, a refinement with no lesson similar enough to quote).
    pub abstained: u32,
}

impl Tab {
    fn count(&mut self, status: Status) {
        match status {
            Status::Answered => {}
            Status::Failed => self.failed_calls += 1,
            Status::Unparsed => self.unparsed += 1,
            Status::Abstained => self.abstained += 1,
        }
    }
}

/// The episode's view of the outcome source, with the running tab of the current task.
#[derive(Resource)]
pub struct Ledger {
    source: Arc<dyn OutcomeSource>,
    episode_seed: u64,
    tab: Tab,
}

impl Ledger {
    #[must_use]
    pub fn new(source: Arc<dyn OutcomeSource>, episode_seed: u64) -> Self {
        Self { source, episode_seed, tab: Tab::default() }
    }

    #[must_use]
    pub fn agents(&self) -> &[AgentInfo] {
        self.source.agents()
    }

    fn key<'a>(&self, task: &'a Task, agent: usize) -> CellKey<'a> {
        CellKey { episode_seed: self.episode_seed, task, agent }
    }

    fn charge_overhead(&mut self, agent: usize, usage: Usage) {
        let cost = self.source.agents()[agent].cost(usage);
        self.tab.overhead += usage;
        self.tab.overhead_cost += cost;
    }

    /// The agent's first plan (a bid), charged as overhead.
    pub fn plan(&mut self, task: &Task, agent: usize) -> PlanCell {
        let plan = self.source.plan(self.key(task, agent));
        self.tab.plan_calls += 1;
        self.tab.count(plan.status);
        self.charge_overhead(agent, plan.usage);
        plan
    }

    /// A call to something outside the pool (a cascade's scorer), charged as overhead at
    /// `price` dollars per million tokens.
    pub fn charge_external(&mut self, usage: Usage, price: f64) {
        self.tab.overhead += usage;
        self.tab.overhead_cost += usage.total() as f64 * price / 1e6;
    }

    /// A refined plan, charged as overhead.
    pub fn refine(&mut self, task: &Task, agent: usize, recall: &Recall<'_>) -> PlanCell {
        let plan = self.source.refine(self.key(task, agent), recall);
        self.tab.refine_calls += 1;
        self.tab.count(plan.status);
        self.charge_overhead(agent, plan.usage);
        plan
    }

    /// Juror `juror`'s score of `plan` (written by `bidder`), charged to the juror as overhead.
    pub fn judge(&mut self, task: &Task, bidder: usize, plan: &PlanCell, juror: usize) -> JuryCell {
        let cell = self.source.judge(self.key(task, bidder), plan, juror);
        self.tab.jury_calls += 1;
        self.tab.count(cell.status);
        self.charge_overhead(juror, cell.usage);
        cell
    }

    /// Every juror's score of `plan` (written by `bidder`) into `scores`, one slot per agent,
    /// each charged to its juror as overhead.
    pub fn judge_panel(&mut self, task: &Task, bidder: usize, plan: &PlanCell, scores: &mut [JuryCell]) {
        self.source.judge_panel(self.key(task, bidder), plan, scores);
        for (juror, cell) in scores.iter().enumerate() {
            self.tab.jury_calls += 1;
            self.tab.count(cell.status);
            self.charge_overhead(juror, cell.usage);
        }
    }

    /// The agent executes the task, charged as execution.
    pub fn execute(&mut self, task: &Task, agent: usize, plan: Option<&PlanCell>) -> ExecutionCell {
        let cell = self.source.execute(self.key(task, agent), plan);
        let cost = cell.billed.unwrap_or_else(|| self.source.agents()[agent].cost(cell.usage));
        self.tab.count(cell.status);
        self.tab.execution += cell.usage;
        self.tab.execution_cost += cost;
        self.tab.executions += 1;
        cell
    }

    /// Free, for training only: what `agent` did on a training task, as logged data.
    #[must_use]
    pub fn training_log(&self, task: &Task, agent: usize) -> ExecutionCell {
        self.source.execute(self.key(task, agent), None)
    }

    /// Free hindsight, for the oracle only: would `agent` succeed with its first plan?
    #[must_use]
    pub fn hindsight_first(&self, task: &Task, agent: usize) -> bool {
        self.source.execute(self.key(task, agent), None).success
    }

    /// Free hindsight: the first agent of `by_price` (cheapest first) that would succeed with its
    /// first plan — the oracle's pick, and the target `tender fit` teaches SALE.
    #[must_use]
    pub fn cheapest_success(&self, task: &Task, by_price: &[usize]) -> Option<usize> {
        by_price.iter().copied().find(|&a| self.hindsight_first(task, a))
    }

    /// Free hindsight, for the oracle only: the best plan `agent` could ever write, if it would
    /// succeed with it.
    #[must_use]
    pub fn hindsight_best(&self, task: &Task, agent: usize) -> Option<PlanCell> {
        let key = self.key(task, agent);
        let best = self.source.best_plan(key)?;
        self.source.execute(key, Some(&best)).success.then_some(best)
    }

    /// The tab of the current task; closing it starts the next task's.
    pub fn close_tab(&mut self) -> Tab {
        std::mem::take(&mut self.tab)
    }
}
