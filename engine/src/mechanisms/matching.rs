//! Online matching with stochastic rewards: agents serve at most `capacity` tasks per window of
//! `window` arrivals; each arriving task is matched at once, or dropped when no agent has room.
//! Greedy takes the most likely success; Ranking is its randomised perturbation (Aggarwal et al.
//! 2011: weights scaled by `1 - e^(y - 1)`, `y` uniform per agent and window); Stochastic Balance
//! (Mehta, Waggoner and Zadimoghaddam 2015) scales by `1 - e^(L - 1)` of the agent's used share
//! `L` of its capacity. The offline optimum sees each window's tasks in advance and solves the
//! window's maximum expected-reward b-matching as a linear program. In a timed run the online
//! rules read the real load instead: an agent has room while fewer than `capacity` of its
//! executions are in flight (running or queued).

use std::collections::BTreeMap;

use bevy_ecs::prelude::*;
use good_lp::{Expression, ProblemVariables, Solution, SolverModel, microlp, variable};
use rand::RngExt;
use serde::{Deserialize, Serialize};
use tender_agents::streams::{Stream, name_key};
use tender_agents::fields::FieldDoc;
use tender_agents::validate::Checker;

use super::api::{Mechanism, MechanismKind, Needs, Pool, Resolved};
use super::argmin;
use super::predict::{Estimate, Predictor};
use crate::ledger::Ledger;
use crate::world::{Decision, EpisodeSeed, OpenTask, Phase, TaskStream};

tender_agents::documented! {
    /// Online matching as written in a scenario.
    #[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct MatchingParams {
        /// Name in tables.
        #[serde(default)]
        pub name: Option<String>, shown "\"matching: \" and its rule", allowed "one line, unique among the mechanisms";
        /// How an arriving task is matched (see the list above).
        pub rule: MatchingRule, allowed "`Greedy`, `Ranking`, `StochasticBalance`, `OfflineOptimum`";
        /// Neighbours among the training tasks, for the success predictions.
        #[serde(default = "ten")]
        pub k: u32, default ten(), in [1, 100_000];
        /// Arrivals per time window.
        pub window: u32, in [1, 10_000_000];
        /// Tasks each agent can serve per window, unless `capacities` names it.
        pub capacity: u32, in [0, 10_000_000];
        /// Per-agent capacities by name, overriding `capacity`.
        #[serde(default)]
        pub capacities: BTreeMap<String, u32>, shown "`{}`", allowed "agents of the pool";
    }
}

/// How an arriving task is matched.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub enum MatchingRule {
    Greedy,
    Ranking,
    StochasticBalance,
    OfflineOptimum,
}

const fn ten() -> u32 {
    10
}

/// Ranking's random order of agents in a time window.
const RANKING: Stream = Stream::numbered(11);

impl MechanismKind for MatchingParams {
    const NAME: &'static str = "Matching";
    const PARAMETERS: &'static [FieldDoc] = Self::FIELDS;
    fn needs(&self) -> Needs {
        Needs::TRAINING
    }
    fn resolve(&self, _: &Pool<'_>) -> Vec<Resolved> {
        vec![Resolved::new(self.name.clone().unwrap_or_else(|| self.default_name()), self.clone())]
    }
    fn check(&self, c: &mut Checker, pool: &Pool<'_>) {
        self.check_ranges(c);
        for name in self.capacities.keys() {
            c.within("capacities", |c| pool.check_agent(c, "", name));
        }
    }
}

impl MatchingParams {

    #[must_use]
    pub fn default_name(&self) -> String {
        match self.rule {
            MatchingRule::Greedy => "matching: greedy".into(),
            MatchingRule::Ranking => "matching: Ranking".into(),
            MatchingRule::StochasticBalance => "matching: Stochastic Balance".into(),
            MatchingRule::OfflineOptimum => "matching: offline optimum".into(),
        }
    }
}

#[derive(Resource)]
struct Matching {
    rule: MatchingRule,
    window: usize,
    capacity: Vec<u32>,
    predictor: Predictor,
    /// Window being served, with each agent's used capacity and Ranking's perturbations.
    current: Option<usize>,
    used: Vec<u32>,
    perturbation: Vec<f64>,
    /// The offline optimum's plan for the current window, by arrival step.
    plan: BTreeMap<usize, usize>,
}

impl Mechanism for MatchingParams {
    fn reads_training_set(&self) -> bool {
        true
    }

    fn install(&self, world: &mut World, schedule: &mut Schedule) {
        let predictor = Predictor::learn(world, self.k as usize);
        let agents = world.resource::<Ledger>().agents();
        let capacity = agents.iter().map(|a| self.capacities.get(&a.name).copied().unwrap_or(self.capacity)).collect();
        let n = agents.len();
        world.insert_resource(Matching {
            rule: self.rule,
            window: self.window as usize,
            capacity,
            predictor,
            current: None,
            used: vec![0; n],
            perturbation: vec![1.0; n],
            plan: BTreeMap::new(),
        });
        schedule.add_systems(award_matching.in_set(Phase::Award));
    }
}

fn award_matching(
    mut tasks: Query<(&OpenTask, &mut Decision)>,
    stream_: Res<TaskStream>,
    seed: Res<EpisodeSeed>,
    ledger: Res<Ledger>,
    mut state: ResMut<Matching>,
) {
    // Timed runs: awards of this step, whose executions are not yet in flight.
    let mut awarded = vec![0u32; ledger.agents().len()];
    for (open, mut decision) in &mut tasks {
        let window = open.step / state.window;
        if state.current != Some(window) {
            start_window(&mut state, window, &stream_, seed.0, &ledger);
        }
        let est = state.predictor.estimate(stream_.get(open));
        let n = est.len();
        // Used capacity: in a timed run the real load, the agent's executions in flight (running
        // or queued); otherwise the tasks it took in this window of arrivals.
        let used = |a: usize| ledger.executions_in_flight(a).map_or(state.used[a], |k| k as u32 + awarded[a]);
        let free = |a: usize| used(a) < state.capacity[a];
        let pick = match state.rule {
            MatchingRule::Greedy => argmin((0..n).filter(|&a| free(a)).map(|a| (a, -est[a].success))),
            MatchingRule::Ranking => {
                argmin((0..n).filter(|&a| free(a)).map(|a| (a, -est[a].success * state.perturbation[a])))
            }
            MatchingRule::StochasticBalance => argmin((0..n).filter(|&a| free(a)).map(|a| {
                let load = f64::from(used(a)) / f64::from(state.capacity[a].max(1));
                (a, -est[a].success * (1.0 - (load - 1.0).exp()))
            })),
            MatchingRule::OfflineOptimum => state.plan.get(&open.step).copied(),
        };
        if let Some(a) = pick {
            state.used[a] += 1;
            awarded[a] += 1;
            decision.winner = Some(a);
        }
    }
}

fn start_window(state: &mut Matching, window: usize, stream_: &TaskStream, seed: u64, ledger: &Ledger) {
    state.current = Some(window);
    state.used.iter_mut().for_each(|u| *u = 0);
    let agents = ledger.agents();
    state.perturbation = agents
        .iter()
        .map(|a| {
            let y = RANKING.rng(seed, &[window as u64, name_key(&a.name)]).random::<f64>();
            1.0 - (y - 1.0).exp()
        })
        .collect();
    if state.rule == MatchingRule::OfflineOptimum {
        let first = window * state.window;
        let last = (first + state.window).min(stream_.tasks.len());
        let estimates: Vec<Vec<Estimate>> =
            stream_.tasks[first..last].iter().map(|t| state.predictor.estimate(t)).collect();
        state.plan = offline_optimum(&estimates, &state.capacity)
            .into_iter()
            .enumerate()
            .filter_map(|(i, a)| a.map(|a| (first + i, a)))
            .collect();
    }
}

/// The maximum expected-reward assignment of tasks to agents with capacities: a b-matching
/// linear program, whose vertex solutions are integral.
#[must_use]
pub fn offline_optimum(estimates: &[Vec<Estimate>], capacity: &[u32]) -> Vec<Option<usize>> {
    let n = capacity.len();
    let mut vars = ProblemVariables::new();
    let x: Vec<Vec<_>> =
        estimates.iter().map(|_| (0..n).map(|_| vars.add(variable().min(0.0).max(1.0))).collect()).collect();
    let reward: Expression =
        estimates.iter().zip(&x).flat_map(|(e, row)| row.iter().zip(e).map(|(&v, e)| e.success * v)).sum();
    let mut model = vars.maximise(reward).using(microlp);
    for row in &x {
        model = model.with(row.iter().copied().sum::<Expression>().leq(1.0));
    }
    for a in 0..n {
        model = model.with(x.iter().map(|row| row[a]).sum::<Expression>().leq(f64::from(capacity[a])));
    }
    match model.solve() {
        Ok(solution) => x.iter().map(|row| (0..n).find(|&a| solution.value(row[a]) > 0.5)).collect(),
        // The program is always feasible (all zeros); should the solver fail, assign greedily.
        Err(_) => greedy(estimates, capacity),
    }
}

fn greedy(estimates: &[Vec<Estimate>], capacity: &[u32]) -> Vec<Option<usize>> {
    let mut used = vec![0u32; capacity.len()];
    estimates
        .iter()
        .map(|e| {
            let a = argmin((0..capacity.len()).filter(|&a| used[a] < capacity[a]).map(|a| (a, -e[a].success)))?;
            used[a] += 1;
            Some(a)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use tender_agents::OutcomeSource;

    use super::*;
    use crate::episode::run_episode;
    use crate::record::TaskRecord;
    use crate::scenario::Scenario;

    const POOL: &str = r#"Scenario(
    name: "matching",
    seed: 3,
    episodes: 1,
    agents: [
        (name: "s", price: 0.05, skill: {"qa": [0.7, 0.3]}),
        (name: "m", price: 0.12, skill: {"qa": [0.8, 0.45]}),
        (name: "l", price: 0.36, skill: {"qa": [0.9, 0.6]}),
    ],
    workload: (domains: [(name: "qa", bins: [(tau_max: 0.5, tasks: 45), (tau_max: 5.0, tasks: 45)], topics: 4)]),
    training: Separate(1),
    mechanisms: [
        Matching(rule: Greedy, window: 10, capacity: 3, capacities: {"l": 2}),
        Matching(rule: Ranking, window: 10, capacity: 3, capacities: {"l": 2}),
        Matching(rule: StochasticBalance, window: 10, capacity: 3, capacities: {"l": 2}),
        Matching(rule: OfflineOptimum, window: 10, capacity: 3, capacities: {"l": 2}),
    ],
)"#;

    fn run_all(seed: u64) -> Vec<(String, Vec<TaskRecord>)> {
        let s = Scenario::parse(POOL, "load").unwrap();
        let source: Arc<dyn OutcomeSource> = Arc::new(s.source().unwrap());
        s.resolve_mechanisms()
            .into_iter()
            .map(|r| {
                let tasks = s.training.split(&s.workload, seed);
                let records = run_episode(source.clone(), tasks, &*r.mechanism, &r.name, seed).unwrap();
                (r.name, records)
            })
            .collect()
    }

    #[test]
    fn matching_respects_capacity_per_window_and_drops_the_overflow() {
        for (name, records) in run_all(1).into_iter().filter(|(n, _)| n.starts_with("matching")) {
            for window in records.chunks(10) {
                let load = |a: u16| window.iter().filter(|r| r.winner == a).count();
                assert!(load(0) <= 3 && load(1) <= 3 && load(2) <= 2, "{name}");
                // 8 slots for 10 tasks: exactly two dropped, never executed or paid.
                let dropped: Vec<_> = window.iter().filter(|r| r.winner == u16::MAX).collect();
                assert_eq!(dropped.len(), 2, "{name}");
                assert!(dropped.iter().all(|r| r.executions == 0 && r.cost() == 0.0 && !r.success));
            }
        }
    }

    #[test]
    fn the_offline_optimum_expects_more_than_online_rules() {
        let (mut offline, mut online) = (0.0, [0.0; 3]);
        for seed in 0..8 {
            let runs = run_all(seed);
            let solved = |i: usize| runs[i].1.iter().filter(|r| r.success).count() as f64;
            offline += solved(3);
            for (o, i) in online.iter_mut().zip(0..3) {
                *o += solved(i);
            }
        }
        assert!(online.iter().all(|&o| offline >= o), "offline {offline} vs online {online:?}");
    }

    fn est(p: &[f64]) -> Vec<Estimate> {
        p.iter().map(|&success| Estimate { success, cost: 0.0 }).collect()
    }

    #[test]
    fn the_offline_optimum_beats_greedy_when_greed_blocks_a_better_match() {
        // Agent 0 is good at everything, agent 1 only at task 1; one slot each.
        let tasks = vec![est(&[0.9, 0.1]), est(&[0.8, 0.7])];
        let greedy_plan = greedy(&tasks, &[1, 1]);
        let best = offline_optimum(&tasks, &[1, 1]);
        assert_eq!(greedy_plan, [Some(0), Some(1)]);
        assert_eq!(best, [Some(0), Some(1)]);
        let tasks = vec![est(&[0.8, 0.7]), est(&[0.9, 0.1])];
        assert_eq!(greedy(&tasks, &[1, 1]), [Some(0), Some(1)]);
        assert_eq!(offline_optimum(&tasks, &[1, 1]), [Some(1), Some(0)]);
    }

    #[test]
    fn capacity_is_never_exceeded_and_overflow_is_dropped() {
        let tasks = vec![est(&[0.5, 0.4]); 5];
        let plan = offline_optimum(&tasks, &[2, 1]);
        assert_eq!(plan.iter().filter(|a| **a == Some(0)).count(), 2);
        assert_eq!(plan.iter().filter(|a| **a == Some(1)).count(), 1);
        assert_eq!(plan.iter().filter(|a| a.is_none()).count(), 2);
    }
}
