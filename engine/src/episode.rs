//! One episode: a fresh world and schedule, one mechanism, the whole task stream.

use std::sync::Arc;

use bevy_ecs::prelude::*;
use bevy_ecs::schedule::SingleThreadedExecutor;
use bevy_ecs::schedule::{LogLevel, ScheduleBuildSettings};
use tender_agents::OutcomeSource;

use crate::error::EngineError;
use crate::ledger::Ledger;
use crate::mechanisms::Mechanism;
use crate::record::TaskRecord;
use crate::training::{EpisodeTasks, TrainingSet};
use crate::world::{EpisodeSeed, Records, TaskStream, install_core};

/// A fresh world and schedule for one episode: the pool spawned, the shared systems and the
/// mechanism's installed. The schedule is not yet built, so callers may add systems.
pub fn build_episode(
    source: Arc<dyn OutcomeSource>,
    tasks: EpisodeTasks,
    mechanism: &dyn Mechanism,
    episode_seed: u64,
) -> (World, Schedule) {
    let EpisodeTasks { train, eval: tasks } = tasks;
    let steps = tasks.len();
    let mut world = World::new();
    world.insert_resource(TrainingSet(train));
    world.insert_resource(Ledger::new(source, episode_seed));
    world.insert_resource(TaskStream { tasks, arrived: 0 });
    world.insert_resource(EpisodeSeed(episode_seed));
    world.insert_resource(Records(Vec::with_capacity(steps)));

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

/// Build the schedule, then run it once per task of the stream; returns the records.
pub fn play(mut world: World, mut schedule: Schedule, mechanism_name: &str) -> Result<Vec<TaskRecord>, EngineError> {
    if let Err(e) = schedule.initialize(&mut world) {
        return Err(EngineError::Schedule {
            mechanism: mechanism_name.to_string(),
            message: e.to_string(schedule.graph(), &world),
        });
    }
    let steps = world.resource::<TaskStream>().tasks.len();
    for _ in 0..steps {
        schedule.run(&mut world);
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
    let (world, schedule) = build_episode(source, tasks, mechanism, episode_seed);
    play(world, schedule, mechanism_name)
}
