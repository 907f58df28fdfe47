//! `TauLadder`: a hand-written routing rule, as a researcher would add one. The agents, cheapest
//! first, are the rungs of a ladder; a task goes to the first rung whose threshold is at least
//! its human solving time τ (the priciest agent takes the rest), and with chance `escalate` one
//! rung higher, as a safety margin. It reads τ, which a real router would have to estimate, so it
//! is a demonstration of the API, not a fair competitor.
//!
//! Everything a mechanism has is here: parameters with their checks, a resolved form installed
//! into the award phase, a named random stream, and two reported quantities.

use serde::{Deserialize, Serialize};
use tender_engine::prelude::*;

/// Whether a task is sent one rung higher, per task.
const ESCALATE: Stream = Stream::named("tau-ladder.escalate");

/// The rung (0 = cheapest agent) each task went to: averaged over an episode's tasks.
const RUNG: Quantity =
    Quantity { id: "rung", label: "mean rung", meaning: Meaning::Number(Aggregate::Mean), scale: 1.0, decimals: 2 };

/// Whether the task was sent one rung higher than its τ asked.
const ESCALATED: Quantity =
    Quantity { id: "escalated", label: "escalated %", meaning: Meaning::Flag, scale: 100.0, decimals: 1 };

documented! {
    /// `TauLadder(thresholds: [0.5, 2.5, 12.5], escalate: 0.1)` as a scenario writes it.
    #[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct TauLadder {
        /// Name in tables.
        #[serde(default)]
        pub name: Option<String>, shown "\"τ ladder\"", allowed "one line, unique among the mechanisms";
        /// Largest τ (minutes) each rung takes, ascending; at most one fewer than the agents.
        pub thresholds: Vec<f64>, allowed "1 to (agents − 1) values, ascending, each in [0, 1,000,000]";
        /// Chance that a task goes one rung higher.
        #[serde(default)]
        pub escalate: f64, default 0.0, in [0.0, 1.0];
    }
}

impl MechanismKind for TauLadder {
    const NAME: &'static str = "TauLadder";
    const PARAMETERS: &'static [FieldDoc] = Self::FIELDS;

    fn check(&self, c: &mut Checker, pool: &Pool<'_>) {
        c.count("thresholds", self.thresholds.len() as u64, 1, pool.agents.len().saturating_sub(1) as u64);
        for (i, t) in self.thresholds.iter().enumerate() {
            c.range(&format!("thresholds[{i}]"), *t, 0.0, 1e6);
            if i > 0 {
                c.require(self.thresholds[i - 1] < *t, &format!("thresholds[{i}]"), t, "must exceed the one before");
            }
        }
        self.check_ranges(c);
    }

    fn resolve(&self, _: &Pool<'_>) -> Vec<Resolved> {
        vec![Resolved::new(self.name.clone().unwrap_or_else(|| "τ ladder".into()), self.clone())]
    }
}

/// The ladder in the episode: the rungs (agent indices, cheapest first) and the parameters.
#[derive(Resource)]
struct Ladder {
    rungs: Vec<usize>,
    params: TauLadder,
}

impl Mechanism for TauLadder {
    fn reports(&self) -> Vec<Quantity> {
        vec![RUNG, ESCALATED]
    }

    fn install(&self, world: &mut World, schedule: &mut Schedule) {
        let rungs = cheapest_first(&AgentInfo::prices(world.resource::<Ledger>().agents()));
        world.insert_resource(Ladder { rungs, params: self.clone() });
        schedule.add_systems(climb.in_set(Phase::Award));
    }
}

fn climb(
    mut tasks: Query<(&OpenTask, &mut Decision)>,
    stream: Res<TaskStream>,
    seed: Res<EpisodeSeed>,
    ladder: Res<Ladder>,
) {
    let top = ladder.rungs.len() - 1;
    for (open, mut decision) in &mut tasks {
        let task = stream.get(open);
        let by_tau = ladder.params.thresholds.iter().position(|&t| task.tau <= t).unwrap_or(top);
        let escalated = ESCALATE.rng(seed.0, &[u64::from(task.id)]).random::<f64>() < ladder.params.escalate;
        let rung = if escalated { (by_tau + 1).min(top) } else { by_tau };
        decision.winner = Some(ladder.rungs[rung]);
        decision.report(&RUNG, rung as f64);
        decision.report(&ESCALATED, f64::from(u8::from(escalated)));
    }
}
