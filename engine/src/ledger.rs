//! The charging ledger: the only door between a mechanism and the potential outcomes.
//!
//! Every cell read through it is paid for at the producing agent's prices: plans, jury scores
//! and refinements as auction overhead, executions as execution. Cost figures therefore never
//! flatter a mechanism that peeks at outcomes it did not pay for. The free looks
//! (`hindsight_first`, `hindsight_best`, `cheapest_success`) exist for the hindsight oracle and
//! for `tender fit`'s training targets alone.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::clock::{Served, Servers, TaskTiming};

use bevy_ecs::resource::Resource;
use smallvec::SmallVec;
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
    /// One call of the auction's, answered with `status`, charged as overhead.
    fn overhead_call(&mut self, status: Status, usage: Usage, cost: f64) {
        self.count(status);
        self.overhead += usage;
        self.overhead_cost += cost;
    }

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
    /// When each agent's latest plan for the task is written (its jurors wait for it): inline
    /// for pools of up to 8, so a task's flight allocates nothing.
    plan_ready: SmallVec<[(usize, f64); 8]>,
    /// When the task's calls so far are all done.
    busy_until: f64,
    /// When the task times out: its execution is cancelled then (infinite without a timeout).
    gives_up: f64,
}

impl Flight {
    /// When `bidder`'s latest plan for the task is written, now at the earliest: its jurors'
    /// verdicts start then.
    fn plan_written(&self, bidder: usize, now: f64) -> f64 {
        self.plan_ready.iter().find(|(a, _)| *a == bidder).map_or(now, |p| p.1).max(now)
    }

    /// A verdict call served by `juror`, ready at `ready` and cancelled at the task's timeout:
    /// the tokens of the part that ran.
    fn serve_verdict(&mut self, servers: &mut Servers, juror: usize, call: (Usage, Option<f64>), ready: f64) -> Usage {
        let (usage, seconds) = call;
        let served = servers.serve_until(juror, usage, seconds, ready, self.gives_up);
        self.busy_until = self.busy_until.max(served.end);
        scaled(usage, served.share)
    }
}

/// The tasks in flight.
#[derive(Default)]
struct Flights {
    all: Vec<Flight>,
    /// The flight the last call was for: calls for one task come in runs.
    last: usize,
    /// Where each task's flight is: a timed episode may hold thousands in flight (an overloaded
    /// market's backlog), so a lookup must not scan them.
    at: BTreeMap<u32, usize>,
}

impl Flights {
    fn find(&self, task: u32) -> Option<usize> {
        match self.all.get(self.last) {
            Some(f) if f.task == task => Some(self.last),
            _ => self.at.get(&task).copied(),
        }
    }

    /// The task's flight, opened if it has none yet.
    fn flight(&mut self, task: u32) -> &mut Flight {
        let at = self.find(task).unwrap_or_else(|| {
            self.all.push(Flight { task, ..Flight::default() });
            self.at.insert(task, self.all.len() - 1);
            self.all.len() - 1
        });
        self.last = at;
        &mut self.all[at]
    }

    fn close(&mut self, task: u32) -> Option<Flight> {
        let at = self.at.remove(&task)?;
        let f = self.all.swap_remove(at);
        if let Some(moved) = self.all.get(at) {
            self.at.insert(moved.task, at);
        }
        Some(f)
    }
}

/// The episode's view of the outcome source, with the running tab of every task in flight and,
/// when the episode has a clock, the pool as servers.
#[derive(Resource)]
pub struct Ledger {
    source: Arc<dyn OutcomeSource>,
    episode_seed: u64,
    flights: Flights,
    servers: Option<Servers>,
    now: f64,
}

impl Ledger {
    #[must_use]
    pub fn new(source: Arc<dyn OutcomeSource>, episode_seed: u64) -> Self {
        Self { source, episode_seed, flights: Flights::default(), servers: None, now: 0.0 }
    }

    /// From now on calls take time on `servers` (a timed episode).
    pub fn set_servers(&mut self, servers: Servers) {
        self.servers = Some(servers);
    }

    /// The simulated time at which the phase now running started.
    pub fn set_now(&mut self, now: f64) {
        self.now = now;
        if let Some(servers) = self.servers.as_mut() {
            servers.advance(now);
        }
    }

    /// The pool as servers, in a timed episode.
    #[must_use]
    pub fn servers(&self) -> Option<&Servers> {
        self.servers.as_ref()
    }

    /// The pool as servers, in a timed episode, to take what they logged.
    pub fn servers_mut(&mut self) -> Option<&mut Servers> {
        self.servers.as_mut()
    }

    /// A task arrives at `at`, its answer due at `deadline` and given up at `gives_up` (timed
    /// episodes).
    pub fn open(&mut self, task: &Task, at: f64, deadline: f64, gives_up: f64) {
        let f = self.flight(task);
        f.timing.arrival = at;
        f.timing.deadline = deadline;
        f.busy_until = at;
        f.gives_up = gives_up;
    }

    /// Whether the task's timeout has passed (never without a clock).
    #[must_use]
    pub fn gave_up(&mut self, task: &Task) -> bool {
        let now = self.now;
        self.servers.is_some() && self.flight(task).gives_up <= now
    }

    /// The task timed out before it was executed.
    pub fn time_out(&mut self, task: &Task) {
        self.flight(task).timing.timed_out = true;
    }

    /// Whether the task timed out (before or during its execution).
    #[must_use]
    pub fn timed_out(&mut self, task: &Task) -> bool {
        self.flight(task).timing.timed_out
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
        self.flights.find(task.id).map_or(self.now, |at| self.flights.all[at].busy_until.max(self.now))
    }

    fn flight(&mut self, task: &Task) -> &mut Flight {
        self.flights.flight(task.id)
    }

    /// Serve a call for `task` by `agent`, ready at `ready` (timed episodes), cancelled at the
    /// task's timeout; an execution is also remembered for the agent's queue limit.
    fn serve(&mut self, task: &Task, agent: usize, call: (Usage, Option<f64>), ready: f64, execution: bool) -> Served {
        let (now, gives_up) = (self.now, self.flight(task).gives_up);
        let Some(servers) = self.servers.as_mut() else { return Served { start: now, end: now, share: 1.0 } };
        let (usage, seconds) = call;
        let served = if execution {
            servers.serve_execution(agent, usage, seconds, ready.max(now), now, gives_up)
        } else {
            servers.serve_until(agent, usage, seconds, ready.max(now), gives_up)
        };
        let f = self.flight(task);
        f.busy_until = f.busy_until.max(served.end);
        served
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

    /// A plan call: it starts when the phase does; the agent's jurors wait for its end. Returns
    /// the tokens of the part that ran (all of them unless the task's timeout cancelled it).
    fn time_plan(&mut self, task: &Task, agent: usize, usage: Usage, seconds: Option<f64>) -> Usage {
        if self.servers.is_none() {
            return usage;
        }
        let served = self.serve(task, agent, (usage, seconds), self.now, false);
        let f = self.flight(task);
        match f.plan_ready.iter_mut().find(|(a, _)| *a == agent) {
            Some(slot) => slot.1 = served.end,
            None => f.plan_ready.push((agent, served.end)),
        }
        scaled(usage, served.share)
    }

    /// A jury call about `bidder`'s plan: it starts once that plan is written. Returns the
    /// tokens of the part that ran.
    fn time_verdict(&mut self, task: &Task, bidder: usize, juror: usize, usage: Usage, seconds: Option<f64>) -> Usage {
        let Some(servers) = self.servers.as_mut() else { return usage };
        let flight = self.flights.flight(task.id);
        let ready = flight.plan_written(bidder, self.now);
        flight.serve_verdict(servers, juror, (usage, seconds), ready)
    }

    #[must_use]
    pub fn agents(&self) -> &[AgentInfo] {
        self.source.agents()
    }

    fn key<'a>(&self, task: &'a Task, agent: usize) -> CellKey<'a> {
        CellKey { episode_seed: self.episode_seed, task, agent }
    }

    /// One of `agent`'s calls for the task, charged to its tab as overhead; the tab, for the
    /// caller to count the call's kind.
    fn charge_overhead(&mut self, task: &Task, agent: usize, status: Status, usage: Usage) -> &mut Tab {
        let cost = self.source.agents()[agent].cost(usage);
        let tab = &mut self.flight(task).tab;
        tab.overhead_call(status, usage, cost);
        tab
    }

    /// The agent's first plan (a bid), charged as overhead.
    pub fn plan(&mut self, task: &Task, agent: usize) -> PlanCell {
        let mut plan = self.source.plan(self.key(task, agent));
        plan.usage = self.time_plan(task, agent, plan.usage, plan.seconds);
        self.charge_overhead(task, agent, plan.status, plan.usage).plan_calls += 1;
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
        let mut plan = self.source.refine(self.key(task, agent), recall);
        plan.usage = self.time_plan(task, agent, plan.usage, plan.seconds);
        self.charge_overhead(task, agent, plan.status, plan.usage).refine_calls += 1;
        plan
    }

    /// Juror `juror`'s score of `plan` (written by `bidder`), charged to the juror as overhead.
    pub fn judge(&mut self, task: &Task, bidder: usize, plan: &PlanCell, juror: usize) -> JuryCell {
        let mut cell = self.source.judge(self.key(task, bidder), plan, juror);
        cell.usage = self.time_verdict(task, bidder, juror, cell.usage, cell.seconds);
        self.charge_overhead(task, juror, cell.status, cell.usage).jury_calls += 1;
        cell
    }

    /// Every juror's score of `plan` (written by `bidder`) into `scores`, one slot per agent,
    /// each charged to its juror as overhead.
    pub fn judge_panel(&mut self, task: &Task, bidder: usize, plan: &PlanCell, scores: &mut [JuryCell]) {
        self.source.judge_panel(self.key(task, bidder), plan, scores);
        // One lookup of the flight for the whole panel: served and charged juror by juror, as
        // single calls are.
        let flight = self.flights.flight(task.id);
        if let Some(servers) = self.servers.as_mut() {
            let ready = flight.plan_written(bidder, self.now);
            for (juror, cell) in scores.iter_mut().enumerate() {
                cell.usage = flight.serve_verdict(servers, juror, (cell.usage, cell.seconds), ready);
            }
        }
        let tab = &mut flight.tab;
        for (agent, cell) in self.source.agents().iter().zip(scores.iter()) {
            tab.overhead_call(cell.status, cell.usage, agent.cost(cell.usage));
            tab.jury_calls += 1;
        }
    }

    /// The agent executes the task, charged as execution. With a clock, an execution starts
    /// when the phase does and after the task's earlier executions (a cascade's attempts follow
    /// one another).
    ///
    /// An execution cut short by the task's timeout fails and is paid for the share of it that
    /// ran (its tokens scaled by that share); one that never started costs nothing.
    pub fn execute(&mut self, task: &Task, agent: usize, plan: Option<&PlanCell>) -> ExecutionCell {
        let mut cell = self.source.execute(self.key(task, agent), plan);
        let mut share = 1.0;
        if self.servers.is_some() {
            let f = self.flight(task);
            let ready = if f.tab.executions > 0 { f.timing.done } else { 0.0 };
            let served = self.serve(task, agent, (cell.usage, cell.seconds), ready, true);
            let timing = &mut self.flight(task).timing;
            if served.share > 0.0 {
                timing.execution_start = served.start;
                timing.done = served.end;
            }
            if served.share < 1.0 {
                timing.timed_out = true;
                cell.success = false;
                share = served.share;
                cell.usage = scaled(cell.usage, share);
                cell.billed = cell.billed.map(|b| b * share);
            }
        }
        let cost = cell.billed.unwrap_or_else(|| self.source.agents()[agent].cost(cell.usage));
        let tab = &mut self.flight(task).tab;
        tab.count(cell.status);
        tab.execution += cell.usage;
        tab.execution_cost += cost;
        tab.executions += u32::from(share > 0.0);
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
        let f = self.flights.close(task.id).unwrap_or_default();
        (f.tab, f.timing)
    }
}

/// The tokens of the share of a call that ran.
fn scaled(usage: Usage, share: f64) -> Usage {
    if share >= 1.0 {
        return usage;
    }
    let part = |tokens: u64| (tokens as f64 * share).round() as u64;
    Usage { input: part(usage.input), output: part(usage.output) }
}
