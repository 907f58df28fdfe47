//! SALE's episode as a bare loop over the outcome source: no ECS, no ledger, no records. The
//! same model calls in the same order as the engine's SALE, so it picks the same winners with
//! the same outcomes (engine/tests/it/bare_loop.rs checks that); timing both puts a number on
//! what the engine costs on top of the model. Full jury, cheaper agents refine, a refined bid
//! wins only if it scores strictly lower, no clock: what `scenarios/hst-bench.ron` runs.

use tender_agents::{CellKey, JuryCell, OutcomeSource, PlanCell, Task};
use tender_engine::SaleConfig;
use tender_engine::mechanisms::sale::{Accept, Jury, Payment, Refiners, Tally};
use tender_engine::memory::{AuctionMemory, Neighbours};

/// One task's outcome: the winner and whether its execution succeeded.
pub type Outcome = (usize, bool);

#[derive(Clone, Copy)]
struct Bid {
    agent: usize,
    plan: PlanCell,
    score: f64,
}

impl Bid {
    /// Lowest score, then the cheaper agent, then the lower index (the engine's order).
    fn beats(&self, other: &Self, prices: &[f64]) -> bool {
        self.score
            .total_cmp(&other.score)
            .then(prices[self.agent].total_cmp(&prices[other.agent]))
            .then(self.agent.cmp(&other.agent))
            .is_lt()
    }
}

fn best(bids: &[Bid], prices: &[f64]) -> Option<Bid> {
    bids.iter().fold(None, |acc: Option<Bid>, b| match acc {
        Some(a) if !b.beats(&a, prices) => Some(a),
        _ => Some(*b),
    })
}

/// Whether the loop models this SALE: the published variant the paper-sized bench runs.
#[must_use]
pub fn supports(config: &SaleConfig) -> bool {
    config.jury == Jury::All
        && config.refiners == Refiners::Cheaper
        && config.accept == Accept::StrictlyLower
        && config.payment == Payment::AsBid
        && config.w_wait == 0.0
}

/// Run SALE over `tasks` (in arrival order) and return each task's outcome.
#[must_use]
pub fn run(source: &dyn OutcomeSource, config: &SaleConfig, tasks: &[Task], seed: u64) -> Vec<Outcome> {
    let prices: Vec<f64> = source.agents().iter().map(|a| a.output_price).collect();
    let agents = prices.len();
    let dim = tasks.first().map_or(0, |t| t.embedding.len());
    let mut memory = AuctionMemory::with_index(dim, agents, config.index);
    let (mut neighbours, mut pairs) = (Neighbours::default(), Vec::new());
    let mut verdicts = vec![JuryCell::default(); agents];
    let mut outcomes = Vec::with_capacity(tasks.len());
    let score = |task: &Task, agent: usize, plan: PlanCell, verdicts: &mut [JuryCell]| {
        let key = CellKey { episode_seed: seed, task, agent };
        if !plan.usable() {
            return f64::INFINITY;
        }
        let jury = if config.jury == Jury::Off {
            0.0
        } else {
            source.judge_panel(key, &plan, verdicts);
            let mut tally = Tally::default();
            for (w, v) in config.w_jury.iter().zip(verdicts.iter()) {
                tally.add(*w, *v);
            }
            tally.value()
        };
        let price = if config.price { prices[agent] } else { 1.0 };
        let length = if config.length { f64::from(plan.length) } else { 1.0 };
        let entropy = if config.entropy { config.w_h * plan.entropy } else { 0.0 };
        config.w_c * price * length - (entropy + jury)
    };
    for task in tasks {
        let mut bids: Vec<Bid> = (0..agents)
            .map(|agent| {
                let plan = source.plan(CellKey { episode_seed: seed, task, agent });
                Bid { agent, plan, score: 0.0 }
            })
            .collect();
        for b in &mut bids {
            b.score = score(task, b.agent, b.plan, &mut verdicts);
        }
        let Some(provisional) = best(&bids, &prices) else { continue };
        let mut winner = provisional;
        if config.memory && prices.iter().any(|&p| p < prices[provisional.agent]) {
            memory.nearest_into(&task.embedding, config.k, &mut neighbours);
            let view = memory.view(&neighbours, &task.embedding);
            let mut refined = Vec::new();
            for agent in (0..agents).filter(|&a| prices[a] < prices[provisional.agent]) {
                memory.pairs_into(&neighbours, agent, &mut pairs);
                let recall = AuctionMemory::recall(&view, &pairs, config.k);
                let plan = source.refine(CellKey { episode_seed: seed, task, agent }, &recall);
                refined.push(Bid { agent, plan, score: score(task, agent, plan, &mut verdicts) });
            }
            if let Some(r) = best(&refined, &prices).filter(|r| r.score < provisional.score) {
                winner = r;
            }
            bids.extend(refined);
        }
        let plan = winner.plan.usable().then_some(winner.plan);
        let success = source.execute(CellKey { episode_seed: seed, task, agent: winner.agent }, plan.as_ref()).success;
        outcomes.push((winner.agent, success));
        if config.memory {
            // Each agent's final plan is its best bid of the task.
            let mut finals: Vec<Option<Bid>> = vec![None; agents];
            for b in &bids {
                if finals[b.agent].is_none_or(|cur| b.beats(&cur, &prices)) {
                    finals[b.agent] = Some(*b);
                }
            }
            let lengths: Vec<u32> = finals.iter().map(|b| b.map_or(0, |b| b.plan.length)).collect();
            let texts: Vec<u64> = finals.iter().map(|b| b.map_or(0, |b| b.plan.text)).collect();
            let rivals: Vec<Bid> = finals.iter().flatten().filter(|b| b.agent != winner.agent).copied().collect();
            let runner_up = best(&rivals, &prices).map(|b| b.agent);
            memory.store(&task.embedding, &lengths, &texts, winner.agent, runner_up, success);
        }
    }
    outcomes
}
