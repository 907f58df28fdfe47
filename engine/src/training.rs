//! Training data for mechanisms that learn (routers, fitted weights): which tasks of an episode
//! they may study, and which are evaluated.

use std::sync::Arc;

use bevy_ecs::resource::Resource;
use bevy_ecs::world::World;
use serde::{Deserialize, Serialize};
use tender_agents::validate::Checker;
use tender_agents::{Task, WorkloadSpec};

/// Where training tasks come from.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub enum Training {
    /// No training data: only mechanisms that learn nothing can run.
    #[default]
    None,
    /// The first fraction of each episode's arrival order is training data; every mechanism is
    /// evaluated on the rest.
    Holdout(f64),
    /// This many extra task sets, drawn from the same workload (same topics, fresh tasks), are
    /// training data; every mechanism is evaluated on the whole stream.
    Separate(u32),
}

/// Ids of separately drawn training tasks start here, far above any evaluated task's.
pub const TRAINING_IDS: u32 = 1 << 30;

/// An episode's tasks: those mechanisms may learn from, and those they are evaluated on.
#[derive(Clone, Debug)]
pub struct EpisodeTasks {
    pub train: Arc<[Task]>,
    pub eval: Arc<[Task]>,
}

/// Which of an episode's task sets to draw.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Draw {
    /// The evaluated tasks and the training tasks.
    All,
    /// The evaluated tasks only, for episodes whose mechanisms read no training tasks
    /// ([`crate::Mechanism::reads_training_set`]): separately drawn training tasks are left
    /// undrawn, since drawing them (as many tasks again) changes no other draw.
    Evaluated,
}

/// The training tasks of the episode, with every agent's outcome on them readable for free
/// through [`crate::ledger::Ledger::training_log`] (they stand for logged data).
#[derive(Resource, Clone, Debug)]
pub struct TrainingSet(pub Arc<[Task]>);

impl TrainingSet {
    /// The episode's training tasks, as a mechanism's `install` reads them.
    ///
    /// # Panics
    /// When the mechanism did not declare [`crate::Mechanism::reads_training_set`]: its episodes
    /// draw no training tasks, and reading none would change what it learns without a word.
    #[must_use]
    pub fn of(world: &World) -> &[Task] {
        match world.get_resource::<Self>() {
            Some(set) => &set.0,
            None => panic!("a mechanism read the training tasks without declaring `Mechanism::reads_training_set`"),
        }
    }
}

impl Training {
    /// `tasks` is the number of tasks per episode, when known (tasks from a file are counted
    /// once read).
    pub fn check(&self, c: &mut Checker, tasks: Option<usize>) {
        match *self {
            Self::None => {}
            Self::Holdout(f) => c.require(
                f.is_finite() && f > 0.0 && f < 1.0 && tasks.is_none_or(|n| ((1.0 - f) * n as f64).floor() >= 1.0),
                "Holdout",
                f,
                "must lie in (0, 1) and leave at least one task to evaluate",
            ),
            Self::Separate(n) => c.count("Separate", n.into(), 1, 1000),
        }
    }

    #[must_use]
    pub fn is_none(&self) -> bool {
        *self == Self::None
    }

    /// Episode `episode` of a run seeded `base`: its seed and its tasks in arrival order, split,
    /// the separately drawn training tasks only when `draw` asks for them. The one way every
    /// batch, sweep and fit sets an episode up.
    #[must_use]
    pub fn episode(&self, workload: &WorkloadSpec, base: u64, episode: u64, draw: Draw) -> (u64, EpisodeTasks) {
        let seed = tender_agents::streams::episode_seed(base, episode);
        let order = workload.order_key(base, episode, seed);
        (seed, self.split_ordered(workload, seed, order, draw))
    }

    /// Split an episode's tasks, arriving in the order keyed by the episode's seed.
    #[must_use]
    pub fn split(&self, workload: &WorkloadSpec, episode_seed: u64) -> EpisodeTasks {
        self.split_ordered(workload, episode_seed, episode_seed, Draw::All)
    }

    /// Split an episode's tasks, arriving in the order keyed by `order_key`
    /// ([`WorkloadSpec::order_key`]).
    #[must_use]
    pub fn split_ordered(
        &self,
        workload: &WorkloadSpec,
        episode_seed: u64,
        order_key: u64,
        draw: Draw,
    ) -> EpisodeTasks {
        let stream = workload.generate_ordered(episode_seed, order_key);
        match *self {
            Self::Holdout(f) => {
                let cut = ((stream.len() as f64) * f).round() as usize;
                let cut = cut.min(stream.len().saturating_sub(1));
                EpisodeTasks { train: stream[..cut].into(), eval: stream[cut..].into() }
            }
            Self::Separate(sets) if draw == Draw::All => {
                let per_set = workload.task_count() as u32;
                let train: Vec<Task> =
                    (0..sets).flat_map(|s| workload.generate_set(episode_seed, TRAINING_IDS + s * per_set)).collect();
                EpisodeTasks { train: train.into(), eval: stream.into() }
            }
            Self::None | Self::Separate(_) => EpisodeTasks { train: Arc::from([]), eval: stream.into() },
        }
    }
}
