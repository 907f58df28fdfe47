//! The episode's world: phases, components, resources and the systems every mechanism shares.

use std::sync::Arc;

use bevy_ecs::prelude::*;
use bevy_ecs::system::SystemState;
use tender_agents::{PlanCell, Task, Usage};

use crate::clock::TaskTiming;
use crate::ledger::{Ledger, Tab};
use crate::mechanisms::Quantity;
use crate::record::{Reported, TaskRecord};

/// The phases of one task's market, run in this order once per arriving task.
#[derive(SystemSet, Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Phase {
    Arrival,
    Bidding,
    Jury,
    Scoring,
    Refinement,
    Award,
    Execution,
    Settlement,
    MemoryUpdate,
    Recording,
}

impl Phase {
    /// Every phase, in the order a task goes through them.
    pub const ALL: [Self; 10] = [
        Self::Arrival,
        Self::Bidding,
        Self::Jury,
        Self::Scoring,
        Self::Refinement,
        Self::Award,
        Self::Execution,
        Self::Settlement,
        Self::MemoryUpdate,
        Self::Recording,
    ];
}

/// How an episode's schedule runs take tasks through the phases, for mechanisms whose systems
/// can be fewer when nothing happens between phases.
#[derive(Resource, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pace {
    /// One task at a time: a schedule run takes the task that arrived through every phase.
    Sequential,
    /// In simulated time: a schedule run takes each task that is ready through one phase, and a
    /// task waits between phases for its calls.
    Timed,
}

/// An agent of the pool.
#[derive(Component, Clone, Copy, Debug)]
pub struct Agent {
    /// Index into the outcome source's pool.
    pub index: usize,
    /// Dollars per million output tokens.
    pub price: f64,
}

/// A task in the market; `step` indexes the episode's [`TaskStream`].
#[derive(Component, Clone, Copy, Debug)]
pub struct OpenTask {
    pub step: usize,
}

/// What the mechanism decided for a task, and what followed.
#[derive(Component, Clone, Debug, Default)]
pub struct Decision {
    /// The agent that executes, once awarded.
    pub winner: Option<usize>,
    /// The plan it executes along (none for a router's pick).
    pub plan: Option<PlanCell>,
    pub success: Option<bool>,
    /// Tokens of the execution whose answer is delivered.
    pub delivered: Usage,
    /// What the task cost, closed at settlement.
    pub tab: Tab,
    /// The mechanism's own quantities for this task, payments included (see
    /// [`Decision::report`]).
    pub reported: Reported,
    /// When the task arrived, was awarded and answered, in a timed episode.
    pub timing: Option<Box<TaskTiming>>,
}

impl Decision {
    /// Report a value of one of the mechanism's quantities for this task: it reaches the task's
    /// record, a `tasks.csv` column, the summary's metrics and the terminal's tables. Reporting
    /// a quantity twice keeps the last value.
    pub fn report(&mut self, quantity: &'static Quantity, value: f64) {
        match self.reported.iter_mut().find(|(q, _)| q.id == quantity.id) {
            Some(slot) => slot.1 = value,
            None => self.reported.push((quantity, value)),
        }
    }

    /// The value reported so far for the quantity `id` (one of the mechanism's own, read by a
    /// later phase).
    #[must_use]
    pub fn reported(&self, id: &str) -> Option<f64> {
        crate::record::value_of(&self.reported, id)
    }
}

/// The tasks of the episode in arrival order, and how many have arrived.
#[derive(Resource)]
pub struct TaskStream {
    pub tasks: Arc<[Task]>,
    pub arrived: usize,
}

impl TaskStream {
    /// The task an open task refers to.
    #[must_use]
    pub fn get(&self, open: &OpenTask) -> &Task {
        &self.tasks[open.step]
    }
}

/// The episode's seed, for mechanisms that draw their own randomness.
#[derive(Resource, Clone, Copy, Debug)]
pub struct EpisodeSeed(pub u64);

/// Records leaving the world.
#[derive(Resource, Default)]
pub struct Records(pub Vec<TaskRecord>);

/// The pool in index order, as spawned: for systems that visit agents in a fixed order without
/// sorting a query on every run.
#[derive(Resource, Clone, Debug)]
pub struct Roster(pub Vec<Agent>);

/// Spawn the pool and the shared systems into a fresh world and schedule.
pub fn install_core(world: &mut World, schedule: &mut Schedule) {
    let agents: Vec<Agent> = world
        .resource::<Ledger>()
        .agents()
        .iter()
        .enumerate()
        .map(|(index, a)| Agent { index, price: a.output_price })
        .collect();
    world.spawn_batch(agents.clone());
    world.insert_resource(Roster(agents));
    for pair in Phase::ALL.windows(2) {
        schedule.configure_sets(pair[1].after(pair[0]));
    }
    match *world.resource::<Pace>() {
        // The task is settled as soon as it is executed: one system run, not two. The driver
        // ([`Steps`]) brings each task in and records it, around the schedule's run.
        Pace::Sequential => schedule.add_systems(execute_and_settle.in_set(Phase::Execution)),
        // Settlement waits for the execution's call; tasks are recorded as they finish (the
        // driver brings them in at their arrival times).
        Pace::Timed => schedule.add_systems((
            execute.in_set(Phase::Execution),
            settle.in_set(Phase::Settlement),
            record.in_set(Phase::Recording),
        )),
    };
}

/// A sequential episode's driver: each step brings the stream's next task into the market, runs
/// the schedule (every phase from bidding to the memory update) and records the task. Arrival
/// and recording are the world's own work, done here rather than as systems of the schedule:
/// two system runs fewer a task, whose parameters' fetch cost more than the work.
pub struct Steps {
    settled: SystemState<Settled<'static, 'static>>,
    done: Vec<Entity>,
}

impl Steps {
    #[must_use]
    pub fn new(world: &mut World) -> Self {
        Self { settled: SystemState::new(world), done: Vec::new() }
    }

    /// One task through the market: arrival, the schedule's run, its record.
    pub fn step(&mut self, world: &mut World, schedule: &mut Schedule) {
        arrive(world);
        schedule.run(world);
        record_settled(world, &mut self.settled, &mut self.done);
    }
}

/// The next task of the stream enters the market. Spawned on the world directly rather than
/// through `Commands`, whose queue costs more than the spawn once a task.
fn arrive(world: &mut World) {
    let mut stream = world.resource_mut::<TaskStream>();
    if stream.arrived < stream.tasks.len() {
        let step = stream.arrived;
        stream.arrived += 1;
        world.spawn((OpenTask { step }, Decision::default()));
    }
}

/// The winner executes along its plan; exactly one execution per task.
pub(crate) fn execute(
    mut tasks: Query<(&OpenTask, &mut Decision)>,
    stream: Res<TaskStream>,
    mut ledger: ResMut<Ledger>,
) {
    for (open, mut decision) in &mut tasks {
        execute_task(stream.get(open), &mut decision, &mut ledger);
    }
}

fn execute_task(task: &Task, decision: &mut Decision, ledger: &mut Ledger) {
    if let (Some(winner), None) = (decision.winner, decision.success) {
        let gave_up = ledger.gave_up(task);
        if gave_up || !ledger.admits(winner) {
            // Timed out during its auction, or the winner's queue is full: the task is not
            // executed and nothing is paid for an execution.
            if gave_up {
                ledger.time_out(task);
            }
            decision.winner = None;
            decision.success = Some(false);
            return;
        }
        let plan = decision.plan;
        let cell = ledger.execute(task, winner, plan.as_ref());
        decision.success = Some(cell.success);
        // A cancelled execution delivered no answer.
        decision.delivered = if ledger.timed_out(task) { Usage::default() } else { cell.usage };
    }
}

/// Close the task's tab: everything it cost, deciding and executing, and when its calls ran.
fn settle(mut tasks: Query<(&OpenTask, &mut Decision)>, stream: Res<TaskStream>, mut ledger: ResMut<Ledger>) {
    for (open, mut decision) in &mut tasks {
        settle_task(stream.get(open), &mut decision, &mut ledger);
    }
}

fn settle_task(task: &Task, decision: &mut Decision, ledger: &mut Ledger) {
    let (tab, timing) = ledger.close(task);
    decision.tab = tab;
    decision.timing = ledger.servers().is_some().then(|| Box::new(timing));
}

/// A sequential episode's execution and settlement, one after the other for each open task.
fn execute_and_settle(
    mut tasks: Query<(&OpenTask, &mut Decision)>,
    stream: Res<TaskStream>,
    mut ledger: ResMut<Ledger>,
) {
    for (open, mut decision) in &mut tasks {
        let task = stream.get(open);
        execute_task(task, &mut decision, &mut ledger);
        settle_task(task, &mut decision, &mut ledger);
    }
}

/// What [`record`] reads of the world: the settled tasks, the stream and the records.
type Settled<'w, 's> =
    (Query<'w, 's, (Entity, &'static OpenTask, &'static mut Decision)>, Res<'w, TaskStream>, ResMut<'w, Records>);

/// Turn the settled task into a record and clear it from the world (a mechanism clears the
/// entities it spawned itself). Despawned on the world directly, as [`arrive`] spawns.
fn record(world: &mut World, state: &mut SystemState<Settled<'static, 'static>>, mut done: Local<Vec<Entity>>) {
    record_settled(world, state, &mut done);
}

fn record_settled(world: &mut World, state: &mut SystemState<Settled<'static, 'static>>, done: &mut Vec<Entity>) {
    // Not input-dependent: `build_episode` inserts both resources before any schedule runs.
    let (mut tasks, stream, mut records) =
        state.get_mut(world).expect("the task stream and the records are resources of every episode");
    for (entity, open, mut decision) in &mut tasks {
        let task = stream.get(open);
        let tab = decision.tab;
        records.0.push(TaskRecord {
            step: open.step as u32,
            task: task.id,
            domain: task.domain,
            bin: task.bin,
            tau: task.tau,
            value: task.value,
            winner: decision.winner.map_or(u16::MAX, |w| w as u16),
            success: decision.success.unwrap_or(false),
            executions: tab.executions,
            delivered: decision.delivered,
            overhead: tab.overhead,
            overhead_cost: tab.overhead_cost,
            execution: tab.execution,
            execution_cost: tab.execution_cost,
            failed_calls: tab.failed_calls,
            unparsed: tab.unparsed,
            abstained: tab.abstained,
            reported: std::mem::take(&mut decision.reported),
            timing: decision.timing.take(),
        });
        done.push(entity);
    }
    for entity in done.drain(..) {
        world.despawn(entity);
    }
}
