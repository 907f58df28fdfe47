//! The charging ledger: the only door between a mechanism and the potential outcomes.
//!
//! Every cell read through it is paid for at the producing agent's prices: plans, jury scores
//! and refinements as auction overhead, executions as execution. Cost figures therefore never
//! flatter a mechanism that peeks at outcomes it did not pay for. The free looks
//! (`hindsight_first`, `hindsight_best`, `cheapest_success`) exist for the hindsight oracle and
//! for `tender fit`'s training targets alone.

use std::sync::Arc;

use crate::clock::{Servers, TaskTiming};

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

/// A task in flight: its running tab and, with a clock, when its calls ran.
#[derive(Clone, Debug, Default)]
struct Flight {
    task: u32,
    tab: Tab,
    timing: TaskTiming,
    /// When each agent's latest plan for the task is written (its jurors wait for it).
    plan_ready: Vec<(usize, f64)>,
    /// When the task's calls so far are all done.
    busy_until: f64,
}

/// The episode's view of the outcome source, with the running tab of every task in flight and,
/// when the episode has a clock, the pool as servers.
#[derive(Resource)]
pub struct Ledger {
    source: Arc<dyn OutcomeSource>,
    episode_seed: u64,
    flights: Vec<Flight>,
    /// The flight the last call was for.
    last: usize,
    servers: Option<Servers>,
    now: f64,
}

impl Ledger {
    #[must_use]
    pub fn new(source: Arc<dyn OutcomeSource>, episode_seed: u64) -> Self {
        Self { source, episode_seed, flights: Vec::new(), last: 0, servers: None, now: 0.0 }
    }

    /// From now on calls take time on `servers` (a timed episode).
    pub fn set_servers(&mut self, servers: Servers) {
        self.servers = Some(servers);
    }

    /// The simulated time at which the phase now running started.
    pub fn set_now(&mut self, now: f64) {
        self.now = now;
    }

    /// The pool as servers, in a timed episode.
    #[must_use]
    pub fn servers(&self) -> Option<&Servers> {
        self.servers.as_ref()
    }

    /// A task arrives at `at`, its answer due at `deadline` (timed episodes).
    pub fn open(&mut self, task: &Task, at: f64, deadline: f64) {
        let f = self.flight(task);
        f.timing.arrival = at;
        f.timing.deadline = deadline;
        f.busy_until = at;
    }

    /// How many tasks were in the system when the task arrived (timed episodes).
    pub fn found_in_system(&mut self, task: &Task, tasks: u32) {
        self.flight(task).timing.found_in_system = tasks;
    }

    /// The task's winner was awarded at `at` (timed episodes).
    pub fn awarded(&mut self, task: &Task, at: f64) {
        self.flight(task).timing.awarded = at;
    }

    /// When every call made for the task so far is done.
    #[must_use]
    pub fn busy_until(&self, task: &Task) -> f64 {
        self.flights.iter().find(|f| f.task == task.id).map_or(self.now, |f| f.busy_until.max(self.now))
    }

    fn flight(&mut self, task: &Task) -> &mut Flight {
        // Calls for one task come in runs: the last task's flight is the likeliest.
        let at = match self.flights.get(self.last) {
            Some(f) if f.task == task.id => self.last,
            _ => match self.flights.iter().position(|f| f.task == task.id) {
                Some(at) => at,
                None => {
                    self.flights.push(Flight { task: task.id, ..Flight::default() });
                    self.flights.len() - 1
                }
            },
        };
        self.last = at;
        &mut self.flights[at]
    }

    /// Serve a call for `task` by `agent`, ready at `ready` (timed episodes); returns its start
    /// and end, or `(now, now)` without a clock.
    fn serve(&mut self, task: &Task, agent: usize, usage: Usage, ready: f64) -> (f64, f64) {
        let Some(servers) = self.servers.as_mut() else { return (self.now, self.now) };
        let (start, end) = servers.serve(agent, usage, ready.max(self.now));
        let f = self.flight(task);
        f.busy_until = f.busy_until.max(end);
        (start, end)
    }

    /// An execution call, remembered for the agent's queue limit.
    fn serve_execution(&mut self, task: &Task, agent: usize, usage: Usage, ready: f64) -> (f64, f64) {
        let Some(servers) = self.servers.as_mut() else { return (self.now, self.now) };
        let (start, end) = servers.serve_execution(agent, usage, ready.max(self.now), self.now);
        let f = self.flight(task);
        f.busy_until = f.busy_until.max(end);
        (start, end)
    }

    /// Public load: seconds from now until one of `agent`'s slots is free (0 without a clock).
    #[must_use]
    pub fn expected_wait(&self, agent: usize) -> f64 {
        self.servers.as_ref().map_or(0.0, |s| (s.next_free(agent) - self.now).max(0.0))
    }

    /// Public load: `agent`'s executions running or queued now (`None` without a clock).
    #[must_use]
    pub fn executions_in_flight(&self, agent: usize) -> Option<usize> {
        self.servers.as_ref().map(|s| s.executions_in_flight(agent, self.now))
    }

    /// Public load: the share of `agent`'s slots busy now (`None` without a clock).
    #[must_use]
    pub fn busy_share(&self, agent: usize) -> Option<f64> {
        self.servers.as_ref().map(|s| s.busy_share(agent, self.now))
    }

    /// Whether `agent` takes the task's execution now: always without a clock; with one, unless
    /// its queue limit of waiting executions is reached (the task is then dropped).
    #[must_use]
    pub fn admits(&self, agent: usize) -> bool {
        self.servers.as_ref().is_none_or(|s| s.admits(agent, self.now))
    }

    /// A plan call: it starts when the phase does; the agent's jurors wait for its end.
    fn time_plan(&mut self, task: &Task, agent: usize, usage: Usage) {
        if self.servers.is_none() {
            return;
        }
        let (_, end) = self.serve(task, agent, usage, self.now);
        let f = self.flight(task);
        match f.plan_ready.iter_mut().find(|(a, _)| *a == agent) {
            Some(slot) => slot.1 = end,
            None => f.plan_ready.push((agent, end)),
        }
    }

    /// A jury call about `bidder`'s plan: it starts once that plan is written.
    fn time_verdict(&mut self, task: &Task, bidder: usize, juror: usize, usage: Usage) {
        if self.servers.is_none() {
            return;
        }
        let now = self.now;
        let ready = self.flight(task).plan_ready.iter().find(|(a, _)| *a == bidder).map_or(now, |p| p.1);
        self.serve(task, juror, usage, ready);
    }

    #[must_use]
    pub fn agents(&self) -> &[AgentInfo] {
        self.source.agents()
    }

    fn key<'a>(&self, task: &'a Task, agent: usize) -> CellKey<'a> {
        CellKey { episode_seed: self.episode_seed, task, agent }
    }

    fn charge_overhead(&mut self, task: &Task, agent: usize, usage: Usage) {
        let cost = self.source.agents()[agent].cost(usage);
        let tab = &mut self.flight(task).tab;
        tab.overhead += usage;
        tab.overhead_cost += cost;
    }

    /// The agent's first plan (a bid), charged as overhead.
    pub fn plan(&mut self, task: &Task, agent: usize) -> PlanCell {
        let plan = self.source.plan(self.key(task, agent));
        let tab = &mut self.flight(task).tab;
        tab.plan_calls += 1;
        tab.count(plan.status);
        self.charge_overhead(task, agent, plan.usage);
        self.time_plan(task, agent, plan.usage);
        plan
    }

    /// A call to something outside the pool (a cascade's scorer), charged as overhead at
    /// `price` dollars per million tokens. It takes no time on the pool's servers.
    pub fn charge_external(&mut self, task: &Task, usage: Usage, price: f64) {
        let tab = &mut self.flight(task).tab;
        tab.overhead += usage;
        tab.overhead_cost += usage.total() as f64 * price / 1e6;
    }

    /// A refined plan, charged as overhead.
    pub fn refine(&mut self, task: &Task, agent: usize, recall: &Recall<'_>) -> PlanCell {
        let plan = self.source.refine(self.key(task, agent), recall);
        let tab = &mut self.flight(task).tab;
        tab.refine_calls += 1;
        tab.count(plan.status);
        self.charge_overhead(task, agent, plan.usage);
        self.time_plan(task, agent, plan.usage);
        plan
    }

    /// Juror `juror`'s score of `plan` (written by `bidder`), charged to the juror as overhead.
    pub fn judge(&mut self, task: &Task, bidder: usize, plan: &PlanCell, juror: usize) -> JuryCell {
        let cell = self.source.judge(self.key(task, bidder), plan, juror);
        let tab = &mut self.flight(task).tab;
        tab.jury_calls += 1;
        tab.count(cell.status);
        self.charge_overhead(task, juror, cell.usage);
        self.time_verdict(task, bidder, juror, cell.usage);
        cell
    }

    /// Every juror's score of `plan` (written by `bidder`) into `scores`, one slot per agent,
    /// each charged to its juror as overhead.
    pub fn judge_panel(&mut self, task: &Task, bidder: usize, plan: &PlanCell, scores: &mut [JuryCell]) {
        self.source.judge_panel(self.key(task, bidder), plan, scores);
        for (juror, cell) in scores.iter().enumerate() {
            let tab = &mut self.flight(task).tab;
            tab.jury_calls += 1;
            tab.count(cell.status);
            self.charge_overhead(task, juror, cell.usage);
            self.time_verdict(task, bidder, juror, cell.usage);
        }
    }

    /// The agent executes the task, charged as execution. With a clock, an execution starts
    /// when the phase does and after the task's earlier executions (a cascade's attempts follow
    /// one another).
    pub fn execute(&mut self, task: &Task, agent: usize, plan: Option<&PlanCell>) -> ExecutionCell {
        let cell = self.source.execute(self.key(task, agent), plan);
        let cost = cell.billed.unwrap_or_else(|| self.source.agents()[agent].cost(cell.usage));
        let tab = &mut self.flight(task).tab;
        tab.count(cell.status);
        tab.execution += cell.usage;
        tab.execution_cost += cost;
        tab.executions += 1;
        if self.servers.is_some() {
            let f = self.flight(task);
            let ready = if f.tab.executions > 1 { f.timing.done } else { 0.0 };
            let (start, end) = self.serve_execution(task, agent, cell.usage, ready);
            let timing = &mut self.flight(task).timing;
            timing.execution_start = start;
            timing.done = end;
        }
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

    /// Close the task's tab: what it cost and, with a clock, when its calls ran.
    pub fn close(&mut self, task: &Task) -> (Tab, TaskTiming) {
        match self.flights.iter().position(|f| f.task == task.id) {
            Some(at) => {
                let f = self.flights.swap_remove(at);
                (f.tab, f.timing)
            }
            None => (Tab::default(), TaskTiming::default()),
        }
    }
}
