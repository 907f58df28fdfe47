//! The training data SALE fits its weights on, drawn from a scenario's `training` split
//! ([`ScenarioTraining`]): the first bids and full jury of every agent on the training tasks, and
//! runs of a mechanism on them (what the welfare objective compares).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use tender_agents::{OutcomeSource, Task};

use crate::fit::{FitError, FitSpec, FittedWeights, Objective, TrainingAuction, TrainingBid};
use crate::ledger::Ledger;
use crate::mechanisms::{Collected, Mechanism, TrainingData, TrainingRun};
use crate::scenario::Scenario;
use crate::training::Draw;

/// A scenario's training tasks with its pool's source: what [`crate::Prepared`] hands to each
/// mechanism that fits itself. Collected auctions are kept, so variants fitted on the same
/// episodes share one collection.
pub struct ScenarioTraining<'a> {
    scenario: &'a Scenario,
    source: Arc<dyn OutcomeSource>,
    names: Vec<String>,
    collected: Mutex<BTreeMap<u32, Collected>>,
}

impl<'a> ScenarioTraining<'a> {
    #[must_use]
    pub fn new(scenario: &'a Scenario, source: Arc<dyn OutcomeSource>) -> Self {
        let names = scenario.agents.iter().map(|a| a.name.clone()).collect();
        Self { scenario, source, names, collected: Mutex::new(BTreeMap::new()) }
    }
}

impl TrainingData for ScenarioTraining<'_> {
    fn agent_names(&self) -> &[String] {
        &self.names
    }

    fn auctions(&self, episodes: u32) -> Result<Collected, FitError> {
        let mut collected = self.collected.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(found) = collected.get(&episodes) {
            return Ok(Arc::clone(found));
        }
        let fresh = Arc::new(collect(self.scenario, Arc::clone(&self.source), episodes)?);
        collected.insert(episodes, Arc::clone(&fresh));
        Ok(fresh)
    }

    fn run(&self, episodes: u32, mechanism: &dyn Mechanism) -> Result<TrainingRun, FitError> {
        require_bids(self.source.as_ref())?;
        run_training(self.scenario, &self.source, episodes, mechanism)
    }
}

/// Fitting reads plans and jury scores: refuse a source that cannot give them, rather than fit
/// on made-up ones.
fn require_bids(source: &dyn OutcomeSource) -> Result<(), FitError> {
    if source.provides().bids { Ok(()) } else { Err(FitError::NoBids) }
}

/// Run the first plans and the full jury of every agent on the training tasks of `episodes`
/// episodes, and find each task's target.
pub fn collect(
    scenario: &Scenario,
    source: Arc<dyn OutcomeSource>,
    episodes: u32,
) -> Result<(Vec<TrainingAuction>, f64), FitError> {
    require_bids(source.as_ref())?;
    if scenario.training.is_none() {
        return Err(FitError::NoTraining);
    }
    let agents = source.agents().to_vec();
    let by_price = tender_agents::cheapest_first(&tender_agents::AgentInfo::prices(&agents));
    let mut auctions = Vec::new();
    let mut cost = 0.0;
    for e in 0..episodes {
        let (seed, tasks) = scenario.training.episode(&scenario.workload, scenario.seed, u64::from(e), Draw::All);
        let tasks = tasks.train;
        let mut ledger = Ledger::new(Arc::clone(&source), seed);
        for task in tasks.iter() {
            auctions.push(auction(&mut ledger, task, &by_price));
            cost += ledger.close(task).0.overhead_cost;
        }
    }
    Ok((auctions, cost))
}

fn auction(ledger: &mut Ledger, task: &Task, by_price: &[usize]) -> TrainingAuction {
    let n = ledger.agents().len();
    let mut bids = Vec::with_capacity(n);
    for a in 0..n {
        let plan = ledger.plan(task, a);
        // An abstention reads as the scale's midpoint.
        let jury: Vec<f64> = (0..n).map(|j| ledger.judge(task, a, &plan, j).score.map_or(2.5, f64::from)).collect();
        let price = ledger.agents()[a].output_price;
        bids.push(TrainingBid { price, length: f64::from(plan.length), entropy: plan.entropy, jury });
    }
    TrainingAuction { bids, target: ledger.cheapest_success(task, by_price).unwrap_or(by_price[0]) }
}

/// Run `mechanism` on the training tasks of `episodes` episodes and add up what it did.
pub fn run_training(
    scenario: &Scenario,
    source: &Arc<dyn OutcomeSource>,
    episodes: u32,
    mechanism: &dyn Mechanism,
) -> Result<TrainingRun, FitError> {
    if scenario.training.is_none() {
        return Err(FitError::NoTraining);
    }
    let mut run = TrainingRun::default();
    for e in 0..episodes {
        let (seed, tasks) = scenario.training.episode(&scenario.workload, scenario.seed, u64::from(e), Draw::All);
        run.tasks += tasks.train.len();
        let split = crate::EpisodeTasks { train: Arc::from([]), eval: tasks.train };
        let records = crate::run_episode(Arc::clone(source), split, mechanism, "training", seed)
            .map_err(|e| FitError::Run(e.to_string()))?;
        for r in &records {
            run.welfare += if r.success { r.value } else { 0.0 } - r.cost();
            run.solved += usize::from(r.success);
            run.overhead += r.overhead_cost;
        }
    }
    Ok(run)
}

/// `tender fit --objective welfare`: the published SALE's grid search
/// ([`crate::SaleParams::fit_weights`]) on the scenario's training tasks.
pub fn fit_welfare(
    scenario: &Scenario,
    source: Arc<dyn OutcomeSource>,
    episodes: u32,
) -> Result<FittedWeights, FitError> {
    let spec = FitSpec { objective: Objective::Welfare, episodes };
    crate::mechanisms::sale::fit_by_welfare(
        &ScenarioTraining::new(scenario, source),
        &spec,
        &crate::SaleParams::published(),
    )
}
