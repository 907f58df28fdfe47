//! One episode: a fresh world and schedule, one mechanism, the whole task stream.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use bevy_ecs::prelude::*;
use bevy_ecs::schedule::SingleThreadedExecutor;
use bevy_ecs::schedule::{LogLevel, ScheduleBuildSettings};
use tender_agents::OutcomeSource;

use crate::clock::{Call, Clock, Servers, Stage, Timing, Waiting};
use crate::error::EngineError;
use crate::ledger::Ledger;
use crate::mechanisms::Mechanism;
use crate::record::TaskRecord;
use crate::training::{EpisodeTasks, TrainingSet};
use crate::world::{Decision, EpisodeSeed, OpenTask, Pace, Phase, Records, Steps, TaskStream, install_core};

/// A fresh world and schedule for one episode at `pace`: the pool spawned, the shared systems
/// and the mechanism's installed. The schedule is not yet built, so callers may add systems.
pub fn build_episode(
    source: Arc<dyn OutcomeSource>,
    tasks: EpisodeTasks,
    mechanism: &dyn Mechanism,
    episode_seed: u64,
    pace: Pace,
) -> (World, Schedule) {
    let EpisodeTasks { train, eval: tasks } = tasks;
    let steps = tasks.len();
    let mut world = World::new();
    // Only a mechanism that reads them gets them (and an episode drew them only for it): one
    // that reads them undeclared fails at once, for want of the resource.
    if mechanism.reads_training_set() {
        world.insert_resource(TrainingSet(train));
    }
    world.insert_resource(Ledger::new(source, episode_seed));
    world.insert_resource(TaskStream { tasks, arrived: 0 });
    world.insert_resource(EpisodeSeed(episode_seed));
    world.insert_resource(Records(Vec::with_capacity(steps)));
    world.insert_resource(pace);

    let mut schedule = Schedule::default();
    schedule.set_executor(SingleThreadedExecutor::new());
    schedule.set_build_settings(ScheduleBuildSettings {
        ambiguity_detection: LogLevel::Error,
        hierarchy_detection: LogLevel::Error,
        ..ScheduleBuildSettings::default()
    });
    install_core(&mut world, &mut schedule);
    mechanism.install(&mut world, &mut schedule);
    (world, schedule)
}

/// Build the schedule, then take each task of the stream through it ([`Steps`]); returns the
/// records.
pub fn play(mut world: World, mut schedule: Schedule, mechanism_name: &str) -> Result<Vec<TaskRecord>, EngineError> {
    if let Err(e) = schedule.initialize(&mut world) {
        return Err(EngineError::Schedule {
            mechanism: mechanism_name.to_string(),
            message: e.to_string(schedule.graph(), &world),
        });
    }
    let steps = world.resource::<TaskStream>().tasks.len();
    let mut driver = Steps::new(&mut world);
    for _ in 0..steps {
        driver.step(&mut world, &mut schedule);
    }
    Ok(world.remove_resource::<Records>().map(|r| r.0).unwrap_or_default())
}

/// Run `mechanism` over the evaluated tasks (in arrival order), after it studied the training
/// tasks, and return one record per evaluated task.
///
/// An episode is a pure function of its arguments: the same inputs give identical records.
pub fn run_episode(
    source: Arc<dyn OutcomeSource>,
    tasks: EpisodeTasks,
    mechanism: &dyn Mechanism,
    mechanism_name: &str,
    episode_seed: u64,
) -> Result<Vec<TaskRecord>, EngineError> {
    let (world, schedule) = build_episode(source, tasks, mechanism, episode_seed, Pace::Sequential);
    play(world, schedule, mechanism_name)
}

/// One episode, sequential (`timing` `None`) or in time: its records and, when timed, every call
/// the agents served. The one entry point batches and sweeps share.
pub fn play_episode(
    source: Arc<dyn OutcomeSource>,
    tasks: EpisodeTasks,
    mechanism: &dyn Mechanism,
    mechanism_name: &str,
    episode_seed: u64,
    timing: Option<&Timing>,
) -> Result<(Vec<TaskRecord>, Vec<Call>), EngineError> {
    let (records, calls) = match timing {
        None => (run_episode(source, tasks, mechanism, mechanism_name, episode_seed)?, Vec::new()),
        Some(t) => play_in_time(source, tasks, mechanism, mechanism_name, episode_seed, t)?,
    };
    check_declared(&records, mechanism, mechanism_name)?;
    Ok((records, calls))
}

/// Every quantity a mechanism reported is one it declares ([`Mechanism::reports`]): a sweep's
/// rows are laid out from the declarations before anything runs.
fn check_declared(records: &[TaskRecord], mechanism: &dyn Mechanism, mechanism_name: &str) -> Result<(), EngineError> {
    let declared = mechanism.reports();
    for r in records {
        if let Some((q, _)) = r.reported.iter().find(|(q, _)| !declared.iter().any(|d| d.id == q.id)) {
            return Err(EngineError::Undeclared { mechanism: mechanism_name.to_string(), quantity: q.id });
        }
    }
    Ok(())
}

/// Which phase a timed episode's schedule run is for (its index in [`STEPS`]): only that
/// phase's systems run. The driver sets it; each phase's run condition reads it directly, not
/// through a resource: bevy checks every phase's condition on every run, and a resource fetch
/// for each took 3% of a timed episode's instructions.
#[derive(Clone, Default)]
struct Gate(Arc<AtomicUsize>);

impl Gate {
    fn open(&self, step: usize) {
        self.0.store(step, Ordering::Relaxed);
    }

    fn is_open(&self, step: usize) -> bool {
        self.0.load(Ordering::Relaxed) == step
    }
}

/// The phases a timed task goes through after it arrives, in order.
const STEPS: &[Phase] = Phase::ALL.split_at(1).1;

/// Which of [`STEPS`] no system would run in (none of its own, and no system outside the phases,
/// which would run whatever the gate): a task passes through those without a schedule run, as
/// it would through a run that did nothing.
fn idle_phases(schedule: &Schedule) -> Vec<bool> {
    let graph = schedule.graph();
    let count = |phase: Phase| graph.systems_in_set(phase.intern()).map_or(0, |systems| systems.len());
    let in_phases: usize = Phase::ALL.iter().map(|&phase| count(phase)).sum();
    let everywhere = schedule.systems().map_or(0, Iterator::count) > in_phases;
    STEPS.iter().map(|&phase| !everywhere && count(phase) == 0).collect()
}

/// Run `mechanism` over the evaluated tasks arriving in simulated time, with the agents as
/// servers, and return one record per task (in arrival order) and every call the agents served.
///
/// Tasks arrive at the times `timing.arrivals` draws. Each task goes through the phases in order;
/// a phase runs for it once the calls of its previous phase are done, so many tasks are in
/// flight at once and each schedule run advances every task that is ready for one phase at the
/// current time (the others are [`Waiting`], a disabling component, so no system sees them).
/// Time moves to the next arrival or the next task ready, whichever comes first. Calls occupy their agents' slots
/// ([`Servers`]); a task waits for its own calls, and for the slots other tasks hold.
pub fn play_in_time(
    source: Arc<dyn OutcomeSource>,
    tasks: EpisodeTasks,
    mechanism: &dyn Mechanism,
    mechanism_name: &str,
    episode_seed: u64,
    timing: &Timing,
) -> Result<(Vec<TaskRecord>, Vec<Call>), EngineError> {
    let tasks = EpisodeTasks { eval: timing.arrivals.order(&tasks.eval), train: tasks.train };
    let n = tasks.eval.len();
    let arrivals = timing.arrivals.times(episode_seed, &tasks.eval).unwrap_or_else(|| vec![0.0; n]);
    let (mut world, mut schedule) = build_episode(source, tasks, mechanism, episode_seed, Pace::Timed);
    let mut servers = Servers::new(timing.serving.clone());
    servers.reserve(n * (1 + timing.serving.len() * (1 + timing.serving.len())));
    world.resource_mut::<Ledger>().set_servers(servers);
    world.insert_resource(Clock::default());
    // Every run opens the phase it is for first.
    let gate = Gate::default();
    world.register_disabling_component::<Waiting>();
    for (step, &phase) in STEPS.iter().enumerate() {
        let gate = gate.clone();
        schedule.configure_sets(phase.run_if(move || gate.is_open(step)));
    }
    // Tasks arrive here, between the schedule's runs: no run is an arrival's.
    schedule.configure_sets(Phase::Arrival.run_if(|| false));
    if let Err(e) = schedule.initialize(&mut world) {
        return Err(EngineError::Schedule {
            mechanism: mechanism_name.to_string(),
            message: e.to_string(schedule.graph(), &world),
        });
    }
    let idle = idle_phases(&schedule);
    // The agenda: every waiting task's entity by (when it is ready, arrival step); its `Stage`
    // says which phase is next. It orders the waiting tasks without a scan.
    let mut agenda: BinaryHeap<Reverse<(u64, usize, Entity)>> = BinaryHeap::new();
    let at = |t: f64| t.max(0.0).to_bits(); // non-negative floats order as their bits
    let stream = Arc::clone(&world.resource::<TaskStream>().tasks);
    let mut next_arrival = 0;
    let mut due: Vec<(usize, Entity, usize)> = Vec::new();
    let mut ready: Vec<(usize, Entity)> = Vec::new();
    loop {
        let next_ready = agenda.peek().map_or(f64::INFINITY, |Reverse((t, ..))| f64::from_bits(*t));
        let now = arrivals.get(next_arrival).copied().unwrap_or(f64::INFINITY).min(next_ready);
        if now.is_infinite() {
            break;
        }
        world.resource_mut::<Clock>().now = now;
        world.resource_mut::<Ledger>().set_now(now);
        while next_arrival < n && arrivals[next_arrival] <= now {
            // Tasks in the system: arrived and not yet recorded.
            let in_system = (next_arrival - world.resource::<Records>().0.len()) as u32;
            let task = &stream[next_arrival];
            let mut ledger = world.resource_mut::<Ledger>();
            let arrival = arrivals[next_arrival];
            let deadline = arrival + timing.latency_target.unwrap_or(f64::INFINITY);
            ledger.open(task, arrival, deadline, arrival + timing.timeout.unwrap_or(f64::INFINITY));
            ledger.found_in_system(task, in_system);
            let e = world
                .spawn((
                    OpenTask { step: next_arrival },
                    Decision::default(),
                    Stage { next: 0, ready_at: arrival },
                    Waiting,
                ))
                .id();
            agenda.push(Reverse((at(arrival), next_arrival, e)));
            world.resource_mut::<TaskStream>().arrived += 1;
            next_arrival += 1;
        }
        due.clear();
        while let Some(&Reverse((t, step, e))) = agenda.peek() {
            if f64::from_bits(t) > now {
                break;
            }
            agenda.pop();
            let next = world.get::<Stage>(e).map_or(0, |s| s.next);
            due.push((step, e, next));
        }
        for (phase_index, phase) in STEPS.iter().enumerate() {
            ready.clear();
            ready.extend(due.iter().filter(|d| d.2 == phase_index).map(|d| (d.0, d.1)));
            if ready.is_empty() {
                continue;
            }
            let runs = !idle[phase_index];
            if runs {
                for &(_, e) in &ready {
                    world.entity_mut(e).remove::<Waiting>();
                }
                gate.open(phase_index);
                schedule.run(&mut world);
            }
            for &(step, e) in &ready {
                let Ok(mut entity) = world.get_entity_mut(e) else { continue };
                if runs {
                    entity.insert(Waiting);
                }
                let task = &stream[step];
                let mut ledger = world.resource_mut::<Ledger>();
                if *phase == Phase::Award {
                    ledger.awarded(task, now);
                }
                let ready_at = ledger.busy_until(task);
                if let Some(mut s) = world.get_mut::<Stage>(e) {
                    *s = Stage { next: phase_index + 1, ready_at };
                }
                // A phase without calls leaves the task ready now: its next phase runs in this
                // step; otherwise the task waits on the agenda.
                if ready_at <= now {
                    due.push((step, e, phase_index + 1));
                } else {
                    agenda.push(Reverse((at(ready_at), step, e)));
                }
            }
        }
    }
    let mut records = world.remove_resource::<Records>().map(|r| r.0).unwrap_or_default();
    // Recorded as they finished; kept in arrival order, as sequential episodes are.
    records.sort_by_key(|r| r.step);
    // Taken, not copied: an episode's log holds tens of calls a task.
    let calls = world.resource_mut::<Ledger>().servers_mut().map(Servers::take_calls).unwrap_or_default();
    Ok((records, calls))
}
