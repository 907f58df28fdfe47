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
