//! One episode: a fresh world and schedule, one mechanism, the whole task stream.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use bevy_ecs::prelude::*;
use bevy_ecs::schedule::SingleThreadedExecutor;
use bevy_ecs::schedule::{LogLevel, ScheduleBuildSettings};
use tender_agents::OutcomeSource;

use crate::clock::{Call, Clock, Servers, Timing, Waiting};
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

/// Which of its runs ([`runs`]) a timed episode's schedule run is: only the systems of that
/// run's phases run. The driver sets it; each run's condition reads it directly, not through a
/// resource: bevy checks every condition on every schedule run, and a resource fetch for each
/// took 3% of a timed episode's instructions.
#[derive(Clone, Default)]
struct Gate(Arc<AtomicUsize>);

impl Gate {
    fn open(&self, run: usize) {
        self.0.store(run, Ordering::Relaxed);
    }

    fn is_open(&self, run: usize) -> bool {
        self.0.load(Ordering::Relaxed) == run
    }
}

/// The phases of one of a timed episode's runs, under the one run condition they share.
#[derive(SystemSet, Clone, Copy, Debug, PartialEq, Eq, Hash)]
struct InRun(usize);

/// One schedule run a timed task goes through: the phases from `first` to `last` (indices of
/// [`Phase::ALL`]), in order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Run {
    first: usize,
    last: usize,
}

impl Run {
    fn phases(self) -> impl Iterator<Item = Phase> {
        Phase::ALL[self.first..=self.last].iter().copied()
    }
}

/// The runs a timed task goes through after it arrives, in order: one per phase up to its
/// settlement, and one from the settlement on. Settlement closes the task's flight, so nothing
/// after it in the task's life waits for a call: its memory update and its record follow at the
/// same time, as one run rather than three.
fn runs() -> Vec<Run> {
    let settlement = Phase::ALL.iter().position(|&p| p == Phase::Settlement).unwrap_or(Phase::ALL.len() - 1);
    (1..settlement)
        .map(|phase| Run { first: phase, last: phase })
        .chain([Run { first: settlement, last: Phase::ALL.len() - 1 }])
        .collect()
}

/// Which of `runs` no system would run in (none in its phases, and no system outside the
/// phases, which would run whatever the gate): a task passes through those without a schedule
/// run, as it would through a run that did nothing.
fn idle_runs(schedule: &Schedule, runs: &[Run]) -> Vec<bool> {
    let graph = schedule.graph();
    let count = |phase: Phase| graph.systems_in_set(phase.intern()).map_or(0, |systems| systems.len());
    let in_phases: usize = Phase::ALL.iter().map(|&phase| count(phase)).sum();
    let everywhere = schedule.systems().map_or(0, Iterator::count) > in_phases;
    runs.iter().map(|run| !everywhere && run.phases().all(|phase| count(phase) == 0)).collect()
}

/// Run `mechanism` over the evaluated tasks arriving in simulated time, with the agents as
/// servers, and return one record per task (in arrival order) and every call the agents served.
///
/// Tasks arrive at the times `timing.arrivals` draws. Each task goes through the phases in order;
/// a phase runs for it once the calls of its previous phase are done, so many tasks are in
/// flight at once and each schedule run advances every task that is ready for one phase (or for
/// the phases from settlement on, [`runs`]) at the current time (the others are [`Waiting`], a
/// disabling component, so no system sees them). Time moves to the next arrival or the next task
/// ready, whichever comes first. Calls occupy their agents' slots ([`Servers`]); a task waits for
/// its own calls, and for the slots other tasks hold.
pub fn play_in_time(
    source: Arc<dyn OutcomeSource>,
    tasks: EpisodeTasks,
    mechanism: &dyn Mechanism,
    mechanism_name: &str,
    episode_seed: u64,
    timing: &Timing,
) -> Result<(Vec<TaskRecord>, Vec<Call>), EngineError> {
    let episode = build_timed_episode(source, tasks, mechanism, episode_seed, timing);
    play_in_runs(episode, timing, mechanism_name, &runs())
}

/// A timed episode's world and schedule, and its tasks' arrival times (in the stream's order).
fn build_timed_episode(
    source: Arc<dyn OutcomeSource>,
    tasks: EpisodeTasks,
    mechanism: &dyn Mechanism,
    episode_seed: u64,
    timing: &Timing,
) -> (World, Schedule, Vec<f64>) {
    let tasks = EpisodeTasks { eval: timing.arrivals.order(&tasks.eval), train: tasks.train };
    let n = tasks.eval.len();
    let arrivals = timing.arrivals.times(episode_seed, &tasks.eval).unwrap_or_else(|| vec![0.0; n]);
    let (mut world, schedule) = build_episode(source, tasks, mechanism, episode_seed, Pace::Timed);
    let mut servers = Servers::new(timing.serving.clone());
    // Room for the most calls SALE makes a task (every agent plans and refines, every juror
    // judges both, one execution), so the log is not copied as it grows; capped, as a log of
    // millions of tasks needs no more room than it uses.
    let agents = timing.serving.len();
    servers.reserve((n * (1 + 2 * agents * (1 + agents))).min(1 << 22));
    world.resource_mut::<Ledger>().set_servers(servers);
    world.insert_resource(Clock::default());
    (world, schedule, arrivals)
}

/// [`play_in_time`]'s driver, taking each task through `runs`.
fn play_in_runs(
    (mut world, mut schedule, arrivals): (World, Schedule, Vec<f64>),
    timing: &Timing,
    mechanism_name: &str,
    runs: &[Run],
) -> Result<(Vec<TaskRecord>, Vec<Call>), EngineError> {
    let n = arrivals.len();
    // Every schedule run opens the phases it is for first.
    let gate = Gate::default();
    world.register_disabling_component::<Waiting>();
    for (index, run) in runs.iter().enumerate() {
        for phase in run.phases() {
            schedule.configure_sets(phase.in_set(InRun(index)));
        }
        let gate = gate.clone();
        schedule.configure_sets(InRun(index).run_if(move || gate.is_open(index)));
    }
    // Tasks arrive here, between the schedule's runs: no run is an arrival's.
    schedule.configure_sets(Phase::Arrival.run_if(|| false));
    if let Err(e) = schedule.initialize(&mut world) {
        return Err(EngineError::Schedule {
            mechanism: mechanism_name.to_string(),
            message: e.to_string(schedule.graph(), &world),
        });
    }
    let idle = idle_runs(&schedule, runs);
    // The agenda: every waiting task's entity by (when it is ready, arrival step), with the
    // index of its next run. It orders the waiting tasks without a scan.
    let mut agenda: BinaryHeap<Reverse<(u64, usize, Entity, usize)>> = BinaryHeap::new();
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
            let e = world.spawn((OpenTask { step: next_arrival }, Decision::default(), Waiting)).id();
            agenda.push(Reverse((at(arrival), next_arrival, e, 0)));
            world.resource_mut::<TaskStream>().arrived += 1;
            next_arrival += 1;
        }
        due.clear();
        while let Some(&Reverse((t, step, e, next))) = agenda.peek() {
            if f64::from_bits(t) > now {
                break;
            }
            agenda.pop();
            due.push((step, e, next));
        }
        for (run_index, &run) in runs.iter().enumerate() {
            ready.clear();
            ready.extend(due.iter().filter(|d| d.2 == run_index).map(|d| (d.0, d.1)));
            if ready.is_empty() {
                continue;
            }
            let runs_systems = !idle[run_index];
            if runs_systems {
                for &(_, e) in &ready {
                    world.entity_mut(e).remove::<Waiting>();
                }
                gate.open(run_index);
                schedule.run(&mut world);
            }
            let awards = run.phases().any(|phase| phase == Phase::Award);
            for &(step, e) in &ready {
                let Ok(mut entity) = world.get_entity_mut(e) else { continue };
                if runs_systems {
                    entity.insert(Waiting);
                }
                let task = &stream[step];
                let mut ledger = world.resource_mut::<Ledger>();
                if awards {
                    ledger.awarded(task, now);
                }
                // A run without calls leaves the task ready now: its next run is in this step;
                // otherwise the task waits on the agenda.
                let ready_at = ledger.busy_until(task);
                if ready_at <= now {
                    due.push((step, e, run_index + 1));
                } else {
                    agenda.push(Reverse((at(ready_at), step, e, run_index + 1)));
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::prepared::Prepared;
    use crate::scenario::Scenario;

    #[test]
    fn the_runs_take_a_task_through_every_phase_after_its_arrival_once_in_order() {
        let runs = runs();
        let phases: Vec<Phase> = runs.iter().flat_map(|run| run.phases()).collect();
        assert_eq!(phases, Phase::ALL[1..]);
        assert_eq!(runs.last().map(|run| Phase::ALL[run.first]), Some(Phase::Settlement));
        assert!(runs[..runs.len() - 1].iter().all(|run| run.first == run.last), "one phase a run before settlement");
    }

    /// Two agents on one domain in time, the slow one with one slot and a queue limit, and a
    /// timeout: `mechanisms` a RON list.
    fn market(mechanisms: &str) -> Prepared {
        let text = format!(
            r#"Scenario(
    name: "runs",
    seed: 5,
    episodes: 1,
    agents: [
        (name: "s", price: 0.05, skill: {{"qa": [0.7, 0.3]}}, trace: (median_at_1min: 400, tau_exponent: 0.0, sigma: 0.3, output_share: 1.0),
         serving: (slots: 2, output_tokens_per_second: 400, prefill_tokens_per_second: 1e9, time_to_first_token: 0.0)),
        (name: "l", price: 0.36, skill: {{"qa": [0.9, 0.6]}}, trace: (median_at_1min: 400, tau_exponent: 0.0, sigma: 0.3, output_share: 1.0),
         serving: (slots: 1, queue_limit: 1, output_tokens_per_second: 100, prefill_tokens_per_second: 1e9, time_to_first_token: 0.0)),
    ],
    workload: (domains: [(name: "qa", bins: [(tau_max: 0.5, tasks: 40), (tau_max: 5.0, tasks: 40)], topics: 4)]),
    training: Separate(1),
    arrivals: Poisson(rate: 0.3),
    timeout: 20.0,
    mechanisms: {mechanisms},
)"#
        );
        Prepared::synthetic(Scenario::parse(&text, "runs").expect("valid")).expect("prepared")
    }

    /// Every kind of mechanism, and SALE's variants whose timed systems differ.
    const EVERY_MECHANISM: &str = "[
        Sale(w_c: 0.05, w_h: 1.0), Sale(w_c: 0.05, w_h: 1.0, memory: false), Sale(w_c: 0.05, w_h: 1.0, payment: SecondScore),
        Sale(w_c: 0.05, w_h: 1.0, w_wait: 0.1), EachAgent, Random, Oracle, RefinedOracle,
        Auction(format: SecondPrice, bidding: Truthful), Mohaf(w_cost: 1.0, w_quality: 1.0, w_load: 0.5, w_fairness: 0.5, window: 10, elasticity: 1.0),
        Bandit(), Cascade(), Matching(rule: Greedy, window: 10, capacity: 2), Carrot(), Wtp(willingness_to_pay: 0.2),
    ]";

    /// SALE's timed schedule: what docs/time.md says a task takes, five schedule runs (bidding,
    /// jury, refinement, execution, and settlement with its memory update and record), four
    /// without memory (no refinement), whatever its payment.
    #[test]
    fn a_timed_sale_task_takes_five_schedule_runs_four_without_memory() {
        let prepared = market(
            "[Sale(w_c: 0.05, w_h: 1.0), Sale(w_c: 0.05, w_h: 1.0, memory: false),
              Sale(w_c: 0.05, w_h: 1.0, payment: SecondScore), Sale(w_c: 0.05, w_h: 1.0, memory: false, payment: SecondScore)]",
        );
        let timing = prepared.options(None).timing.expect("timed");
        let s = &prepared.scenario;
        let (seed, tasks) = s.training.episode(&s.workload, s.seed, 0, crate::Draw::All);
        let runs = runs();
        let mut taken = Vec::new();
        for m in s.resolve_mechanisms() {
            let (mut world, mut schedule, _) =
                build_timed_episode(Arc::clone(&prepared.source), tasks.clone(), &*m.mechanism, seed, &timing);
            schedule.initialize(&mut world).expect("a valid schedule");
            let idle = idle_runs(&schedule, &runs);
            taken.push(
                runs.iter()
                    .zip(&idle)
                    .filter(|(_, idle)| !**idle)
                    .map(|(run, _)| Phase::ALL[run.first])
                    .collect::<Vec<_>>(),
            );
        }
        use Phase::{Bidding, Execution, Jury, Refinement, Settlement};
        let (with_memory, without) =
            (vec![Bidding, Jury, Refinement, Execution, Settlement], vec![Bidding, Jury, Execution, Settlement]);
        assert_eq!(taken, [with_memory.clone(), without.clone(), with_memory, without]);
    }

    /// The phases from settlement on in one run give every mechanism the records and calls a
    /// run per phase gives, with tasks queued, dropped and timed out.
    #[test]
    fn one_run_from_settlement_on_is_a_run_per_phase() {
        let prepared = market(EVERY_MECHANISM);
        let timing = prepared.options(None).timing.expect("timed");
        let s = &prepared.scenario;
        let source: Arc<dyn OutcomeSource> = Arc::new(s.source().expect("pool"));
        let per_phase: Vec<Run> = (1..Phase::ALL.len()).map(|phase| Run { first: phase, last: phase }).collect();
        let (seed, tasks) = s.training.episode(&s.workload, s.seed, 0, crate::Draw::All);
        let mechanisms = s.resolve_mechanisms();
        assert_eq!(mechanisms.len(), 16);
        let (mut all_timed_out, mut all_dropped) = (0, 0);
        let timed_out_flag = |r: &TaskRecord| r.timing.as_deref().map(|t| t.timed_out);
        for m in mechanisms {
            let play = |runs: &[Run]| {
                let episode = build_timed_episode(Arc::clone(&source), tasks.clone(), &*m.mechanism, seed, &timing);
                play_in_runs(episode, &timing, &m.name, runs).expect("a timed run")
            };
            let (records, calls) = play(&runs());
            assert_eq!(records.len(), 80, "{}", m.name);
            let timed_out = records.iter().filter(|r| timed_out_flag(r) == Some(true)).count();
            all_timed_out += timed_out;
            // Not awarded, and not for want of time: dropped at a full queue.
            all_dropped += records.iter().filter(|r| r.winner == u16::MAX && timed_out_flag(r) == Some(false)).count();
            let (per_phase_records, per_phase_calls) = play(&per_phase);
            assert_eq!(per_phase_records.len(), 80, "{}", m.name);
            let differs = records.iter().zip(&per_phase_records).position(|(a, b)| a != b);
            assert_eq!(differs, None, "{}: the first record that differs", m.name);
            assert!(calls == per_phase_calls, "{}: the calls differ", m.name);
        }
        assert!((1..16 * 40).contains(&all_timed_out), "{all_timed_out} of 16 x 80 tasks timed out");
        assert!((1..16 * 40).contains(&all_dropped), "{all_dropped} of 16 x 80 tasks dropped");
    }
}
