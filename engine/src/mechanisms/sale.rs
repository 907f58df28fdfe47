//! SALE, Strategy Auctions for Workload Efficiency (Alazraki et al., ICML 2026), as published.
//!
//! Every agent bids a plan. A bid's cost is `w_c * price * |plan|`, its value
//! `w_h * H(plan) + sum_j w_j * gamma_j(plan)` with every agent on the jury, the bidder included.
//! The provisional winner has the lowest cost minus value. Only agents cheaper than it refine,
//! each from the (losing, winning) plan pairs of the k most similar past tasks in the shared
//! auction memory; a refined bid wins only if its score is strictly lower (the lowest such bid if
//! several are). The winner executes, and memory stores the auction.

use std::collections::BTreeMap;

use bevy_ecs::prelude::*;
use serde::{Deserialize, Serialize};
use tender_agents::validate::Checker;
use tender_agents::{JuryCell, PlanCell, Round, Task, Usage};

use super::{quoted, weights_by_agent};
use crate::ledger::Ledger;
use crate::memory::AuctionMemory;
use crate::world::{Agent, Decision, OpenTask, Phase, TaskStream, pool_order};

/// SALE as written in a scenario file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SaleParams {
    /// Name in tables; "SALE", or "SALE (no memory)" without memory, when omitted.
    #[serde(default)]
    pub name: Option<String>,
    /// Weight of the cost term, per (dollar per million tokens x plan token).
    pub w_c: f64,
    /// Weight of the plan's mean per-token entropy.
    pub w_h: f64,
    /// Weight of each juror's Likert score, unless `juror_weights` names the juror.
    #[serde(default = "one")]
    pub w_j: f64,
    /// Per-juror weights by agent name, overriding `w_j`.
    #[serde(default)]
    pub juror_weights: BTreeMap<String, f64>,
    /// How many similar past tasks a refining agent retrieves.
    #[serde(default = "eight")]
    pub k: u32,
    /// Whether agents refine their bids from the shared auction memory.
    #[serde(default = "yes")]
    pub memory: bool,
}

fn one() -> f64 {
    1.0
}

fn eight() -> u32 {
    8
}

fn yes() -> bool {
    true
}

/// SALE with weights resolved per agent index.
#[derive(Resource, Clone, Debug, PartialEq)]
pub struct SaleConfig {
    pub w_c: f64,
    pub w_h: f64,
    pub w_jury: Vec<f64>,
    pub k: usize,
    pub memory: bool,
}

impl SaleParams {
    #[must_use]
    pub fn display_name(&self) -> String {
        self.name.clone().unwrap_or_else(|| if self.memory { "SALE".into() } else { "SALE (no memory)".into() })
    }

    pub fn check(&self, c: &mut Checker, agents: &[&str]) {
        c.range("w_c", self.w_c, -1e6, 1e6);
        c.range("w_h", self.w_h, -1e6, 1e6);
        c.range("w_j", self.w_j, -1e6, 1e6);
        for (name, w) in &self.juror_weights {
            c.within("juror_weights", |c| {
                c.require(
                    agents.contains(&name.as_str()),
                    "",
                    format!("{name:?}"),
                    &format!("must name an agent of the pool: {}", quoted(agents)),
                );
                c.range(&format!("[{name:?}]"), *w, -1e6, 1e6);
            });
        }
        c.count("k", self.k.into(), 1, 1024);
    }

    #[must_use]
    pub fn resolve(&self, agents: &[&str]) -> SaleConfig {
        SaleConfig {
            w_c: self.w_c,
            w_h: self.w_h,
            w_jury: weights_by_agent(self.w_j, &self.juror_weights, agents),
            k: self.k as usize,
            memory: self.memory,
        }
    }
}

/// A bid: one agent's plan for the open task, with its jury value and score once known.
#[derive(Component, Clone, Copy, Debug)]
pub struct Bid {
    pub agent: usize,
    pub price: f64,
    pub plan: PlanCell,
    /// `sum_j w_j * gamma_j`, once the jury has scored the plan.
    pub jury: Option<f64>,
    /// Cost minus value; lower wins.
    pub score: Option<f64>,
}

impl Bid {
    fn new(agent: Agent, plan: PlanCell) -> Self {
        Self { agent: agent.index, price: agent.price, plan, jury: None, score: None }
    }

    /// Lowest score first, then the cheaper agent, then the lower index: a total order, so the
    /// winner never depends on the order bids are visited in.
    fn beats(&self, other: &Self) -> bool {
        let key = |b: &Self| (b.score.unwrap_or(f64::INFINITY), b.price, b.agent);
        let (a, b) = (key(self), key(other));
        a.0.total_cmp(&b.0).then(a.1.total_cmp(&b.1)).then(a.2.cmp(&b.2)).is_lt()
    }
}

pub fn install(config: &SaleConfig, world: &mut World, schedule: &mut Schedule) {
    let agents = world.resource::<Ledger>().agents().len();
    let dim = world.resource::<TaskStream>().tasks.first().map_or(0, |t| t.embedding.len());
    world.insert_resource(config.clone());
    world.insert_resource(AuctionMemory::new(dim, agents));
    schedule.add_systems((
        bid.in_set(Phase::Bidding),
        judge.in_set(Phase::Jury),
        score.in_set(Phase::Scoring),
        award.in_set(Phase::Award),
    ));
    if config.memory {
        schedule.add_systems((refine.in_set(Phase::Refinement), remember.in_set(Phase::MemoryUpdate)));
    }
}

/// The open task (one per step).
fn open_task<'s>(tasks: &Query<&OpenTask>, stream: &'s TaskStream) -> Option<&'s Task> {
    tasks.iter().next().map(|open| stream.get(open))
}

fn bid(
    mut commands: Commands,
    tasks: Query<&OpenTask>,
    agents: Query<&Agent>,
    stream: Res<TaskStream>,
    mut ledger: ResMut<Ledger>,
) {
    let Some(task) = open_task(&tasks, &stream) else { return };
    for agent in pool_order(&agents) {
        let plan = ledger.plan(task, agent.index);
        commands.spawn(Bid::new(agent, plan));
    }
}

/// Every agent scores the plan, the bidder included: `sum_j w_j * gamma_j`.
fn jury_value(ledger: &mut Ledger, config: &SaleConfig, task: &Task, bidder: usize, plan: &PlanCell) -> f64 {
    let mut scores = [JuryCell { score: 0, usage: Usage::default() }; MAX_INLINE_JURY];
    let mut heap;
    let scores = if config.w_jury.len() <= MAX_INLINE_JURY {
        &mut scores[..config.w_jury.len()]
    } else {
        heap = vec![scores[0]; config.w_jury.len()];
        &mut heap[..]
    };
    ledger.judge_panel(task, bidder, plan, scores);
    config.w_jury.iter().zip(scores.iter()).map(|(w, cell)| w * f64::from(cell.score)).sum()
}

/// Pools up to this size score plans without allocating.
const MAX_INLINE_JURY: usize = 16;

fn bid_score(config: &SaleConfig, bid: &Bid, jury: f64) -> f64 {
    let cost = config.w_c * bid.price * f64::from(bid.plan.length);
    let value = config.w_h * bid.plan.entropy + jury;
    cost - value
}

fn judge(
    mut bids: Query<&mut Bid>,
    tasks: Query<&OpenTask>,
    stream: Res<TaskStream>,
    config: Res<SaleConfig>,
    mut ledger: ResMut<Ledger>,
) {
    let Some(task) = open_task(&tasks, &stream) else { return };
    let mut pending: Vec<Mut<Bid>> = bids.iter_mut().filter(|b| b.jury.is_none()).collect();
    pending.sort_by_key(|b| (b.plan.round.key(), b.agent));
    for mut b in pending {
        let jury = jury_value(&mut ledger, &config, task, b.agent, &b.plan);
        b.jury = Some(jury);
    }
}

fn score(mut bids: Query<&mut Bid>, config: Res<SaleConfig>) {
    for mut b in &mut bids {
        if let (Some(jury), None) = (b.jury, b.score) {
            let s = bid_score(&config, &b, jury);
            b.score = Some(s);
        }
    }
}

/// The best of some bids.
fn best_of<'a>(bids: impl Iterator<Item = &'a Bid>) -> Option<&'a Bid> {
    bids.fold(None, |acc, b| match acc {
        Some(a) if !b.beats(a) => Some(a),
        _ => Some(b),
    })
}

/// The best bid of a round.
fn best<'a>(bids: impl Iterator<Item = &'a Bid>, round: Round) -> Option<&'a Bid> {
    best_of(bids.filter(|b| b.plan.round == round))
}

/// Agents cheaper than the provisional winner refine from memory; their refined bids are judged
/// and scored here, since the jury and scoring phases of this task are already past.
#[allow(clippy::too_many_arguments)]
fn refine(
    mut commands: Commands,
    bids: Query<&Bid>,
    agents: Query<&Agent>,
    mut tasks: Query<(&OpenTask, &mut Decision)>,
    stream: Res<TaskStream>,
    config: Res<SaleConfig>,
    memory: Res<AuctionMemory>,
    mut ledger: ResMut<Ledger>,
) {
    let Some((open, mut decision)) = tasks.iter_mut().next() else { return };
    let task = stream.get(open);
    let Some(provisional) = best(bids.iter(), Round::Initial).copied() else { return };
    decision.provisional = Some(provisional.agent);
    let refiners: Vec<Agent> = pool_order(&agents).into_iter().filter(|a| a.price < provisional.price).collect();
    if refiners.is_empty() {
        return;
    }
    let neighbours = memory.nearest(&task.embedding, config.k);
    for agent in &refiners {
        let pairs = memory.pairs_for(&neighbours, agent.index);
        let plan = ledger.refine(task, agent.index, &pairs, config.k);
        let mut refined = Bid::new(*agent, plan);
        let jury = jury_value(&mut ledger, &config, task, agent.index, &plan);
        refined.jury = Some(jury);
        refined.score = Some(bid_score(&config, &refined, jury));
        commands.spawn(refined);
    }
    decision.refiners = refiners.len() as u8;
}

/// The provisional winner, unless a refined bid scores strictly lower.
fn award(bids: Query<&Bid>, mut tasks: Query<&mut Decision>) {
    let Some(mut decision) = tasks.iter_mut().next() else { return };
    let Some(provisional) = best(bids.iter(), Round::Initial) else { return };
    let refined = best(bids.iter(), Round::Refined)
        .filter(|r| r.score.unwrap_or(f64::INFINITY) < provisional.score.unwrap_or(f64::INFINITY));
    let winner = refined.unwrap_or(provisional);
    decision.provisional = Some(provisional.agent);
    decision.winner = Some(winner.agent);
    decision.plan = Some(winner.plan);
    decision.refined = refined.is_some();
}

/// Store every agent's final plan, the winner, the runner-up and the execution result.
fn remember(
    bids: Query<&Bid>,
    tasks: Query<(&OpenTask, &Decision)>,
    agents: Query<&Agent>,
    stream: Res<TaskStream>,
    mut memory: ResMut<AuctionMemory>,
) {
    let Some((open, decision)) = tasks.iter().next() else { return };
    let Some(winner) = decision.winner else { return };
    let n = agents.iter().count();
    // Each agent's final plan is its best bid of the task (its refinement, if that scored better).
    let mut finals: Vec<Option<Bid>> = vec![None; n];
    for b in &bids {
        let slot = &mut finals[b.agent];
        if slot.is_none_or(|cur| b.beats(&cur)) {
            *slot = Some(*b);
        }
    }
    let lengths: Vec<u32> = finals.iter().map(|b| b.map_or(0, |b| b.plan.length)).collect();
    let runner_up = best_of(finals.iter().flatten().filter(|b| b.agent != winner)).map(|b| b.agent);
    memory.store(&stream.get(open).embedding, &lengths, winner, runner_up, decision.success.unwrap_or(false));
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use proptest::prelude::*;
    use tender_agents::{CellKey, OutcomeSource, SyntheticSource};

    use super::*;
    use crate::episode::{build_episode, play};
    use crate::scenario::Scenario;

    const POOL: &str = r#"Scenario(
    name: "sale-invariants",
    seed: 1,
    episodes: 1,
    agents: [
        (name: "s", price: 0.05, skill: {"qa": [0.8, 0.3]}),
        (name: "m", price: 0.09, skill: {"qa": [0.85, 0.4]}),
        (name: "l", price: 0.16, skill: {"qa": [0.9, 0.5]}),
        (name: "xl", price: 0.36, skill: {"qa": [0.92, 0.6]}),
    ],
    workload: (domains: [(name: "qa", bins: [(tau_max: 0.5, tasks: 20), (tau_max: 5.0, tasks: 20)], topics: 3)]),
    mechanisms: [Sale(w_c: 0.05, w_h: 1.0)],
)"#;

    /// One task's auction as seen right after the award, completed at settlement.
    #[derive(Clone, Debug)]
    struct Auction {
        bids: Vec<Bid>,
        decision: Decision,
        step: usize,
    }

    #[derive(Resource, Default)]
    struct Observed(Vec<Auction>);

    fn observe_award(bids: Query<&Bid>, tasks: Query<(&OpenTask, &Decision)>, mut seen: ResMut<Observed>) {
        for (open, decision) in &tasks {
            let mut bids: Vec<Bid> = bids.iter().copied().collect();
            bids.sort_by_key(|b| (b.plan.round.key(), b.agent));
            seen.0.push(Auction { bids, decision: *decision, step: open.step });
        }
    }

    fn observe_settlement(tasks: Query<&Decision>, mut seen: ResMut<Observed>) {
        for decision in &tasks {
            if let Some(last) = seen.0.last_mut() {
                last.decision = *decision;
            }
        }
    }

    fn run_observed(config: SaleConfig, seed: u64) -> (Vec<Auction>, Arc<SyntheticSource>, Arc<[Task]>) {
        let scenario = Scenario::parse(POOL, "pool").unwrap();
        let source = Arc::new(scenario.source().unwrap());
        let tasks: Arc<[Task]> = scenario.workload.generate(seed).into();
        let (mut world, mut schedule) =
            build_episode(source.clone(), tasks.clone(), &crate::Mechanism::Sale(config), seed);
        world.init_resource::<Observed>();
        schedule.add_systems((
            observe_award.in_set(Phase::Award).after(award),
            observe_settlement.in_set(Phase::MemoryUpdate),
        ));
        schedule.initialize(&mut world).unwrap();
        for _ in 0..tasks.len() {
            schedule.run(&mut world);
        }
        let seen = std::mem::take(&mut world.resource_mut::<Observed>().0);
        (seen, source, tasks)
    }

    fn check_auction(a: &Auction, config: &SaleConfig, source: &SyntheticSource, task: &Task, seed: u64) {
        let agents = source.agents();
        let initial: Vec<&Bid> = a.bids.iter().filter(|b| b.plan.round == Round::Initial).collect();
        let refined: Vec<&Bid> = a.bids.iter().filter(|b| b.plan.round == Round::Refined).collect();
        assert_eq!(initial.len(), agents.len(), "every agent bids once");
        let provisional = best(a.bids.iter(), Round::Initial).unwrap();
        assert_eq!(a.decision.provisional, Some(provisional.agent));

        // Only agents strictly cheaper than the provisional winner refine, and all of them do.
        let mut refiners: Vec<usize> = refined.iter().map(|b| b.agent).collect();
        refiners.sort_unstable();
        let cheaper: Vec<usize> = if config.memory {
            (0..agents.len()).filter(|&i| agents[i].output_price < provisional.price).collect()
        } else {
            Vec::new()
        };
        assert_eq!(refiners, cheaper);
        assert_eq!(usize::from(a.decision.refiners), refiners.len());

        // A refined bid wins only with a strictly lower score, and then the lowest one does.
        let p_score = provisional.score.unwrap();
        let better = refined.iter().filter(|b| b.score.unwrap() < p_score).count();
        let winner = a.decision.winner.unwrap();
        if better == 0 {
            assert!(!a.decision.refined);
            assert_eq!(winner, provisional.agent);
        } else {
            let best_refined = best(a.bids.iter(), Round::Refined).unwrap();
            assert!(a.decision.refined);
            assert_eq!(winner, best_refined.agent);
            assert!(best_refined.score.unwrap() < p_score);
        }

        // Exactly one execution; every cell read was charged, and nothing else.
        let tab = a.decision.tab;
        assert_eq!(tab.executions, 1);
        assert_eq!(tab.plan_calls as usize, agents.len());
        assert_eq!(tab.refine_calls as usize, refined.len());
        assert_eq!(tab.jury_calls as usize, agents.len() * a.bids.len());
        let mut overhead = 0.0;
        for b in &a.bids {
            overhead += agents[b.agent].cost(b.plan.usage);
            let key = CellKey { episode_seed: seed, task, agent: b.agent };
            for (j, juror) in agents.iter().enumerate() {
                overhead += juror.cost(source.judge(key, &b.plan, j).usage);
            }
        }
        assert!((tab.overhead_cost - overhead).abs() <= 1e-12 * overhead.max(1.0));
        let key = CellKey { episode_seed: seed, task, agent: winner };
        let exec = source.execute(key, a.decision.plan.as_ref());
        assert_eq!(tab.execution, exec.usage);
        assert_eq!(tab.execution_cost, agents[winner].cost(exec.usage));
        assert_eq!(a.decision.success, Some(exec.success));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]
        #[test]
        fn sale_follows_the_published_rules(
            seed in any::<u64>(),
            w_c in 0.0f64..0.3,
            w_h in -2.0f64..4.0,
            w_j in 0.0f64..2.0,
            k in 1usize..12,
            memory in any::<bool>(),
        ) {
            let config = SaleConfig { w_c, w_h, w_jury: vec![w_j; 4], k, memory };
            let (seen, source, tasks) = run_observed(config.clone(), seed);
            prop_assert_eq!(seen.len(), tasks.len());
            for a in &seen {
                check_auction(a, &config, &source, &tasks[a.step], seed);
            }
        }
    }

    #[test]
    fn records_cost_is_overhead_plus_execution() {
        let scenario = Scenario::parse(POOL, "pool").unwrap();
        let source: Arc<dyn OutcomeSource> = Arc::new(scenario.source().unwrap());
        let tasks: Arc<[Task]> = scenario.workload.generate(3).into();
        let mech = scenario.resolve_mechanisms().remove(0).1;
        let (world, schedule) = build_episode(source, tasks, &mech, 3);
        let records = play(world, schedule, "SALE").unwrap();
        assert_eq!(records.len(), 40);
        for r in &records {
            assert!(r.overhead_cost > 0.0 && r.execution_cost > 0.0);
            assert_eq!(r.cost(), r.overhead_cost + r.execution_cost);
        }
    }

    #[test]
    fn memory_lets_small_agents_win_refined_auctions() {
        let config = SaleConfig { w_c: 0.05, w_h: 1.0, w_jury: vec![1.0; 4], k: 8, memory: true };
        let refined: usize =
            (0..10).map(|s| run_observed(config.clone(), s).0.iter().filter(|a| a.decision.refined).count()).sum();
        assert!(refined > 0, "no refined bid ever won");
    }
}
