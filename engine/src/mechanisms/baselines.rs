//! The reference points every mechanism is compared with: each agent alone, a random
//! allocator, and the hindsight oracle.

use bevy_ecs::prelude::*;
use rand::RngExt;
use tender_agents::streams::{Purpose, stream};
use tender_agents::{AgentInfo, cheapest_first};

use crate::ledger::Ledger;
use crate::world::{Agent, Decision, EpisodeSeed, OpenTask, Phase, TaskStream};

pub fn install_single(agent: usize, schedule: &mut Schedule) {
    schedule.add_systems(
        (move |mut tasks: Query<&mut Decision>| {
            for mut d in &mut tasks {
                d.winner.get_or_insert(agent);
            }
        })
        .in_set(Phase::Award),
    );
}

pub fn install_random(schedule: &mut Schedule) {
    schedule.add_systems(award_random.in_set(Phase::Award));
}

/// Whether the oracle may also credit an agent's best plan from a full memory.
#[derive(Resource, Clone, Copy)]
struct WithBestRefinements(bool);

pub fn install_oracle(refined: bool, world: &mut World, schedule: &mut Schedule) {
    world.insert_resource(WithBestRefinements(refined));
    schedule.add_systems(award_oracle.in_set(Phase::Award));
}

fn award_random(
    mut tasks: Query<(&OpenTask, &mut Decision)>,
    agents: Query<&Agent>,
    stream_: Res<TaskStream>,
    seed: Res<EpisodeSeed>,
) {
    let n = agents.iter().count();
    for (open, mut d) in &mut tasks {
        let task = stream_.get(open);
        let mut rng = stream(seed.0, Purpose::RandomChoice, &[u64::from(task.id)]);
        d.winner = Some(rng.random_range(0..n));
    }
}

/// The SALE paper's oracle: the cheapest agent that would succeed with its first plan; with best
/// refinements, failing that, the cheapest that would succeed with the best plan it could write;
/// failing that, the cheapest agent. It pays only for the execution it picks, so with best
/// refinements no mechanism on the same ledger can beat its pass@1.
fn award_oracle(
    mut tasks: Query<(&OpenTask, &mut Decision)>,
    stream_: Res<TaskStream>,
    ledger: Res<Ledger>,
    refined: Res<WithBestRefinements>,
) {
    let by_price = cheapest_first(&AgentInfo::prices(ledger.agents()));
    for (open, mut d) in &mut tasks {
        let task = stream_.get(open);
        let best = || by_price.iter().find_map(|&a| ledger.hindsight_best(task, a).map(|p| (a, Some(p))));
        let (winner, plan) = by_price
            .iter()
            .find(|&&a| ledger.hindsight_first(task, a))
            .map(|&a| (a, None))
            .or_else(|| if refined.0 { best() } else { None })
            .unwrap_or((by_price[0], None));
        d.winner = Some(winner);
        d.plan = plan;
    }
}
