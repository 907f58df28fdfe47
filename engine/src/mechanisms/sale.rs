//! SALE, Strategy Auctions for Workload Efficiency (Alazraki et al., ICML 2026), as published.
//!
//! Every agent bids a plan. A bid's cost is `w_c * price * |plan|`, its value
//! `w_h * H(plan) + sum_j w_j * gamma_j(plan)` with every agent on the jury, the bidder included.
//! The provisional winner has the lowest cost minus value. Only agents cheaper than it refine,
//! each from the (losing, winning) plan pairs of the k most similar past tasks in the shared
//! auction memory; a refined bid wins only if its score is strictly lower (the lowest such bid if
//! several are). The winner executes, and memory stores the auction.

use std::collections::BTreeMap;
use std::path::PathBuf;

use bevy_ecs::prelude::*;
use serde::{Deserialize, Serialize};
use smallvec::{SmallVec, smallvec};
use tender_agents::fields::FieldDoc;
use tender_agents::validate::Checker;
use tender_agents::{JuryCell, PlanCell, RetrievedPair, Round, Task};

use rayon::prelude::*;

use super::api::{
    Aggregate, AttachError, Meaning, Mechanism, MechanismKind, Needs, PAYMENT, Pool, Quantity, ReadFile, Resolved, TrainingData,
    TrainingRun,
};
use super::weights_by_agent;
use crate::fit::{FitError, Features, FitSpec, FittedWeights, Jurors, Objective};
use crate::ledger::Ledger;
use crate::memory::{AuctionMemory, MemoryIndex, Neighbours};
use crate::world::{Agent, Decision, OpenTask, Pace, Phase, Roster, TaskStream};

tender_agents::documented! {
    /// SALE as written in a scenario file.
    #[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct SaleParams {
        /// Name in tables; when omitted, "SALE" followed by its departures from the published
        /// mechanism, e.g. "SALE (no price, peer-scores only, k=4)".
        #[serde(default)]
        pub name: Option<String>, shown "\"SALE\" and its ablations", allowed "one line, unique among the mechanisms";
        /// Weights written by `tender fit`, from this file (relative to the scenario file); replaces
        /// `w_c`, `w_h` and the juror weights.
        #[serde(default)]
        pub weights: Option<PathBuf>, shown "none", allowed "a file from `tender fit`";
        /// Fit the weights when the scenario is prepared, on its `training` split, as the paper
        /// does: `(objective: MinMax | Average | Welfare, episodes: 5)`, both optional (`fit: ()` is
        /// the min-max program on five episodes' training tasks). Each ablation fits on the
        /// features it keeps. With `Welfare`, a `w_c` or `w_h` given beside `fit` is held and the
        /// other fitted (what a sweep over `w_c` does). The saved `scenario.ron` carries the
        /// fitted numbers. Replaces `w_c`, `w_h` and the juror weights.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub fit: Option<crate::weights::FitSpec>, shown "none", allowed "`episodes` in [1, 10,000]";
        /// Weight of the cost term, per (dollar per million tokens × plan token). Give `w_c` and
        /// `w_h`, or `weights`, or `fit`.
        #[serde(default)]
        pub w_c: Option<f64>, shown "none", in [-1e6, 1e6];
        /// Weight of the plan's mean per-token entropy.
        #[serde(default)]
        pub w_h: Option<f64>, shown "none", in [-1e6, 1e6];
        /// Weight of each juror's Likert score, unless `juror_weights` names the juror.
        #[serde(default = "one")]
        pub w_j: f64, default one(), in [-1e6, 1e6];
        /// Load-aware SALE: adds `w_wait ×` the bidder's expected wait for a slot (seconds, public
        /// load) to its cost; 0, the published mechanism, ignores load, and only timed runs have
        /// any ([time.md](time.md)). Named "SALE (load-aware)".
        #[serde(default)]
        pub w_wait: f64, default 0.0, in [0.0, 1e6];
        /// Per-juror weights by agent name, overriding `w_j`.
        #[serde(default, deserialize_with = "tender_agents::validate::unique_keys")]
        pub juror_weights: BTreeMap<String, f64>, shown "`{}`", allowed "agents of the pool, each weight in [-1,000,000, 1,000,000]";
        /// How many similar past tasks a refining agent retrieves.
        #[serde(default = "eight")]
        pub k: u32, default eight(), in [1, 1024];
        /// Whether agents refine their bids from the shared auction memory; `false` is the paper's
        /// "SALE without memory": no refinement, no memory.
        #[serde(default = "yes")]
        pub memory: bool, shown "`true`", allowed "`true`, `false`";
        /// How memory finds a task's `k` nearest past tasks: `Scan` (every past task; exact,
        /// quadratic in the stream), `Cells(lesson_sample: 4096)` (exact, a partitioned scan),
        /// `Ivf(probe: 8, lesson_sample: 4096)` (approximate, about the square root of memory a
        /// query); see "Long task streams" below.
        #[serde(default)]
        pub index: MemoryIndex, shown "`Scan`", allowed "`Scan`, `Cells(lesson_sample)`, `Ivf(probe, lesson_sample)`";
        /// Ablation: `false` drops the agent's price from the cost term (`w_c × |plan|`).
        #[serde(default = "yes")]
        pub price: bool, shown "`true`", allowed "`true`, `false`";
        /// Ablation: `false` drops the plan length from the cost term (`w_c × price`).
        #[serde(default = "yes")]
        pub length: bool, shown "`true`", allowed "`true`, `false`";
        /// Ablation: `false` drops the entropy term from the value.
        #[serde(default = "yes")]
        pub entropy: bool, shown "`true`", allowed "`true`, `false`";
        /// Who sits on the jury: everyone; each plan scored by its bidder only; by everyone but
        /// its bidder; no jury call at all.
        #[serde(default)]
        pub jury: Jury, shown "`All`", allowed "`All`, `SelfOnly`, `PeerOnly`, `Off`";
        /// Which agents refine after the provisional award: those cheaper than the provisional
        /// winner (published), or every loser.
        #[serde(default)]
        pub refiners: Refiners, shown "`Cheaper`", allowed "`Cheaper`, `AllLosers`";
        /// When a refined bid replaces the provisional winner: with a strictly lower score
        /// (published), or a lower or equal one.
        #[serde(default)]
        pub accept: Accept, shown "`StrictlyLower`", allowed "`StrictlyLower`, `LowerOrEqual`";
        /// How the buyer pays the winner: its own price (published), or its critical price, the
        /// price at which its score would have tied the best other bid
        /// ([games.md](games.md#money)).
        #[serde(default, skip_serializing_if = "Payment::is_as_bid")]
        pub payment: Payment, shown "`AsBid`", allowed "`AsBid`, `SecondScore`";
    }
}

/// How the buyer pays SALE's winner for its execution.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub enum Payment {
    /// Its own price for the tokens it executes (published).
    #[default]
    AsBid,
    /// Its critical price: the price at which its score would have tied the best bid of any
    /// other agent (a second-score rule), for the tokens it executes. Where the score does not
    /// depend on price (`w_c` of 0) or no other agent bid, its own price.
    SecondScore,
}

impl Payment {
    fn is_as_bid(&self) -> bool {
        *self == Self::AsBid
    }
}

/// Who scores a plan.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub enum Jury {
    /// Every agent, the bidder included (published).
    #[default]
    All,
    /// Only the bidder scores its own plan.
    SelfOnly,
    /// Every agent but the bidder.
    PeerOnly,
    /// No jury: value is the entropy term alone, and no jury call is made.
    Off,
}

/// Which agents refine their bids after the provisional award.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub enum Refiners {
    /// Agents strictly cheaper than the provisional winner (published).
    #[default]
    Cheaper,
    /// Every agent but the provisional winner.
    AllLosers,
}

/// When a refined bid replaces the provisional winner.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub enum Accept {
    /// Only with a strictly lower score (published).
    #[default]
    StrictlyLower,
    /// Also on a tie.
    LowerOrEqual,
}

const fn one() -> f64 {
    1.0
}

const fn eight() -> u32 {
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
    pub w_wait: f64,
    pub k: usize,
    pub memory: bool,
    pub index: MemoryIndex,
    pub price: bool,
    pub length: bool,
    pub entropy: bool,
    pub jury: Jury,
    pub refiners: Refiners,
    pub accept: Accept,
    pub payment: Payment,
    /// Set when the parameters asked for a fit that has not happened (the scenario was resolved
    /// without being prepared): such a SALE has no weights and refuses to run.
    pub unfitted: bool,
}

impl SaleConfig {
    /// SALE as published, with these weights (uniform juror weight `w_j`).
    #[must_use]
    pub fn published(w_c: f64, w_h: f64, w_j: f64, agents: usize) -> Self {
        let params = SaleParams { w_c: Some(w_c), w_h: Some(w_h), w_j, ..SaleParams::published() };
        // No per-juror overrides: the names only count the jurors.
        params.config(&vec![""; agents])
    }
}

/// The grid `Objective::Welfare` searches: no cost weight, then cost weights doubling from 1/800
/// to 0.08, and entropy weights of either sign. Only ratios between weights matter to SALE's
/// argmin, so every juror's weight is fixed at 1.
pub const WELFARE_GRID_W_C: [f64; 8] = [0.0, 0.00125, 0.0025, 0.005, 0.01, 0.02, 0.04, 0.08];
pub const WELFARE_GRID_W_H: [f64; 6] = [-2.0, -1.0, 0.0, 1.0, 2.0, 4.0];

/// `Objective::Welfare`: run the variant `params` describes (its ablations, memory and `k`) on
/// the training tasks under every weight pair of the grid, and keep the pair with the most
/// welfare per task (ties to the earlier pair). A variant without entropy searches `w_c` alone,
/// and a weight the parameters give is held at its value.
pub fn fit_by_welfare(data: &dyn TrainingData, spec: &FitSpec, params: &SaleParams) -> Result<FittedWeights, FitError> {
    let names = data.agent_names();
    if names.len() < 2 {
        return Err(FitError::TooSmall);
    }
    // A weight the parameters give is held; a variant without entropy has none to fit.
    let w_cs: &[f64] = match &params.w_c {
        Some(w) => std::slice::from_ref(w),
        None => &WELFARE_GRID_W_C,
    };
    let w_hs: &[f64] = match (&params.w_h, params.entropy) {
        (Some(w), _) => std::slice::from_ref(w),
        (None, true) => &WELFARE_GRID_W_H,
        (None, false) => &[0.0],
    };
    let grid: Vec<(f64, f64)> = w_cs.iter().flat_map(|&w_c| w_hs.iter().map(move |&w_h| (w_c, w_h))).collect();
    let agents: Vec<&str> = names.iter().map(String::as_str).collect();
    // The grid's runs are independent: run them in parallel, then compare in grid order.
    let runs: Vec<TrainingRun> = grid
        .par_iter()
        .map(|&(w_c, w_h)| {
            let mut variant = params.clone();
            (variant.w_c, variant.w_h, variant.w_j, variant.fit) = (Some(w_c), Some(w_h), 1.0, None);
            variant.juror_weights.clear();
            data.run(spec.episodes, &variant.config(&agents))
        })
        .collect::<Result<_, _>>()?;
    let mut best: Option<(f64, f64, f64, f64)> = None;
    let (mut spent, mut tasks) = (0.0, 0usize);
    for (&(w_c, w_h), run) in grid.iter().zip(&runs) {
        if run.tasks == 0 {
            return Err(FitError::TooSmall);
        }
        (spent, tasks) = (spent + run.overhead, run.tasks);
        let per_task = run.welfare / run.tasks as f64;
        if best.is_none_or(|b| per_task > b.0) {
            best = Some((per_task, w_c, w_h, run.solved as f64 / run.tasks as f64));
        }
    }
    let (welfare, w_c, w_h, solved) = best.ok_or(FitError::TooSmall)?;
    Ok(FittedWeights {
        w_c,
        w_h,
        juror_weights: names.iter().map(|n| (n.clone(), 1.0)).collect(),
        objective: Objective::Welfare,
        loss: -welfare,
        targets_winning: solved,
        training_tasks: tasks,
        training_cost_usd: spent / runs.len() as f64,
    })
}

impl SaleParams {
    /// SALE as published, its weights still to be given.
    #[must_use]
    pub fn published() -> Self {
        Self {
            name: None,
            weights: None,
            fit: None,
            w_c: None,
            w_h: None,
            w_j: 1.0,
            w_wait: 0.0,
            juror_weights: BTreeMap::new(),
            k: eight(),
            memory: true,
            index: MemoryIndex::Scan,
            price: true,
            length: true,
            entropy: true,
            jury: Jury::All,
            refiners: Refiners::Cheaper,
            accept: Accept::StrictlyLower,
            payment: Payment::AsBid,
        }
    }

    /// The name in tables: `name`, or "SALE" with its departures from the published mechanism.
    #[must_use]
    pub fn display_name(&self) -> String {
        if let Some(name) = &self.name {
            return name.clone();
        }
        let mut tags: Vec<String> = Vec::new();
        let mut tag = |on: bool, t: &str| {
            if on {
                tags.push(t.to_string());
            }
        };
        tag(!self.price, "no price");
        tag(!self.length, "no length");
        tag(!self.entropy, "no entropy");
        tag(self.jury == Jury::Off, "no jury");
        tag(self.jury == Jury::SelfOnly, "self-scores only");
        tag(self.jury == Jury::PeerOnly, "peer-scores only");
        tag(!self.memory, "no memory");
        tag(self.w_wait != 0.0, "load-aware");
        tag(self.memory && self.refiners == Refiners::AllLosers, "all losers refine");
        tag(self.memory && self.accept == Accept::LowerOrEqual, "ties to refined");
        tag(self.payment == Payment::SecondScore, "second-score pay");
        if self.memory && self.k != 8 {
            tags.push(format!("k={}", self.k));
        }
        if let Some(index) = self.index.tag().filter(|_| self.memory) {
            tags.push(index);
        }
        if tags.is_empty() { "SALE".into() } else { format!("SALE ({})", tags.join(", ")) }
    }

    /// Weights resolved per agent index. A `weights` file must have been attached first
    /// ([`crate::Scenario::attach_files`]); until then its weights count as zero.
    #[must_use]
    pub fn config(&self, agents: &[&str]) -> SaleConfig {
        SaleConfig {
            w_c: self.w_c.unwrap_or(0.0),
            w_h: self.w_h.unwrap_or(0.0),
            w_jury: weights_by_agent(self.w_j, &self.juror_weights, agents),
            w_wait: self.w_wait,
            k: self.k as usize,
            memory: self.memory,
            index: self.index,
            price: self.price,
            length: self.length,
            entropy: self.entropy,
            jury: self.jury,
            refiners: self.refiners,
            accept: self.accept,
            payment: self.payment,
            unfitted: self.fit.is_some(),
        }
    }

    /// The features this variant keeps, which a fit may weigh.
    #[must_use]
    pub fn features(&self) -> Features {
        let jurors = match self.jury {
            Jury::All => Jurors::All,
            Jury::SelfOnly => Jurors::Own,
            Jury::PeerOnly => Jurors::Peers,
            Jury::Off => Jurors::None,
        };
        Features { price: self.price, length: self.length, entropy: self.entropy, jurors }
    }

    /// Take weights from a fitted file's contents (its `w_c`, `w_h` and juror weights).
    pub fn attach(&mut self, fitted: &crate::weights::FittedWeights) {
        self.w_c = Some(fitted.w_c);
        self.w_h = Some(fitted.w_h);
        self.juror_weights.clone_from(&fitted.juror_weights);
        self.w_j = 0.0;
    }
}

impl MechanismKind for SaleParams {
    const NAME: &'static str = "Sale";
    const PARAMETERS: &'static [FieldDoc] = Self::FIELDS;

    fn check(&self, c: &mut Checker, pool: &Pool<'_>) {
        self.check_ranges(c);
        match (self.w_c, self.w_h, &self.weights, &self.fit) {
            (Some(_), Some(_), None, None) => {}
            (None, None, Some(_), None) => {}
            (w_c, w_h, None, Some(fit)) => {
                c.within("fit", |c| c.count("episodes", fit.episodes.into(), 1, 10_000));
                // One weight given (a sweep over it, say): the welfare search fits the other.
                let given = [("w_c", w_c), ("w_h", w_h)];
                for (field, w) in given.iter().filter_map(|(f, w)| w.map(|w| (*f, w))) {
                    c.require(
                        fit.objective == Objective::Welfare && (w_c.is_none() || w_h.is_none()),
                        field,
                        w,
                        "can be held fixed only by the welfare fit (`fit: (objective: Welfare)`), which then \
                         fits the other weight; give neither, or both without `fit`",
                    );
                }
            }
            _ => c.require(
                false,
                "weights",
                format!("{:?}", self.weights),
                "give one of: `w_c` and `w_h`, a `weights` file from `tender fit`, or `fit` (weights fitted on the \
                 training split when the scenario runs)",
            ),
        }
        for (name, w) in &self.juror_weights {
            c.within("juror_weights", |c| {
                pool.check_agent(c, "", name);
                c.range(&format!("[{name:?}]"), *w, -1e6, 1e6);
            });
        }
        self.index.check(c);
    }

    fn warnings(&self, pool: &Pool<'_>) -> Vec<String> {
        let one_price = pool.prices.windows(2).all(|w| w[0].total_cmp(&w[1]).is_eq());
        if self.memory && self.refiners == Refiners::Cheaper && pool.prices.len() > 1 && one_price {
            vec![format!(
                "every agent has the same price ({}), so no agent is cheaper than a provisional winner and none \
                 refines: this SALE equals SALE without memory. Give the agents their costs as prices (local \
                 models too: say, dollars per GPU-hour over tokens per hour), or let every loser refine \
                 (`refiners: AllLosers`)",
                pool.prices[0]
            )]
        } else {
            Vec::new()
        }
    }

    fn needs(&self) -> Needs {
        Needs { bids: true, training: self.fit.is_some() }
    }

    /// `fit: (...)`: fit the weights on the training bids, on the features this variant keeps,
    /// and write them in place of the request, so that a saved copy of the scenario stands alone.
    fn fit_weights(&mut self, data: &dyn TrainingData) -> Result<bool, FitError> {
        let Some(spec) = self.fit else { return Ok(false) };
        if data.agent_names().len() < 2 {
            // One agent wins every auction and no one is cheaper to refine: every weight gives
            // the same market (a one-agent coalition of `tender shapley`), so nothing is fitted
            // and the weights given, or zero, stand.
            self.fit = None;
            (self.w_c, self.w_h) = (Some(self.w_c.unwrap_or(0.0)), Some(self.w_h.unwrap_or(0.0)));
            return Ok(true);
        }
        let fitted = match spec.objective {
            Objective::Welfare => fit_by_welfare(data, &spec, self)?,
            objective => {
                let collected = data.auctions(spec.episodes)?;
                crate::fit::fit(&collected.0, data.agent_names(), objective, self.features(), collected.1)?
            }
        };
        self.fit = None;
        self.attach(&fitted);
        Ok(true)
    }

    fn resolve(&self, pool: &Pool<'_>) -> Vec<Resolved> {
        vec![Resolved::new(self.display_name(), self.config(pool.agents))]
    }

    /// `weights: FILE` (from `tender fit`): the numbers replace the reference.
    fn attach_files(&mut self, base: &std::path::Path, read: ReadFile<'_>) -> Result<bool, AttachError> {
        let Some(rel) = self.weights.clone() else { return Ok(false) };
        let path = base.join(&rel);
        let text = read(&path)?;
        let fitted: crate::weights::FittedWeights =
            crate::format::ron_options().from_str(&text).map_err(|e| AttachError::Syntax {
                path: path.display().to_string(),
                line: e.span.start.line,
                column: e.span.start.col,
                message: e.code.to_string(),
            })?;
        self.weights = None;
        self.attach(&fitted);
        Ok(true)
    }

    /// A sweep over the weights leaves no fitted file behind it, nor a fit once both weights
    /// are given; a fit with one weight given fits the other.
    fn after_assignments(&mut self) {
        if self.w_c.is_some() || self.w_h.is_some() {
            self.weights = None;
        }
        if self.w_c.is_some() && self.w_h.is_some() {
            self.fit = None;
        }
    }
}

/// A bid: one agent's plan for a task, with its jury value and score once known.
#[derive(Clone, Copy, Debug)]
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

/// A task's bids, in the order they were made (initial bids by agent index, then refinements):
/// a component of the task's entity, so they leave the world with it.
#[derive(Component, Clone, Debug, Default)]
pub struct Bids(pub Vec<Bid>);

/// The provisional winner: the best first bid, before refinement.
pub const PROVISIONAL: Quantity =
    Quantity { id: "provisional", label: "provisional", meaning: Meaning::Agent, scale: 1.0, decimals: 0 };
/// Whether a refined bid won the task.
pub const REFINED: Quantity =
    Quantity { id: "refined", label: "refined wins %", meaning: Meaning::Flag, scale: 100.0, decimals: 1 };
/// How many agents refined their bids (SALE with memory).
pub const REFINERS: Quantity = Quantity {
    id: "refiners",
    label: "refiners",
    meaning: Meaning::Number(Aggregate::Mean),
    scale: 1.0,
    decimals: 2,
};

impl Mechanism for SaleConfig {
    fn reports(&self) -> Vec<Quantity> {
        let mut q = vec![PROVISIONAL, REFINED];
        if self.memory {
            q.push(REFINERS);
        }
        if self.payment == Payment::SecondScore {
            q.push(PAYMENT);
        }
        q
    }

    /// With memory, cheaper agents learn to win from the auctions before.
    fn learns(&self) -> bool {
        self.memory
    }

    fn install(&self, world: &mut World, schedule: &mut Schedule) {
        // Not input-dependent: a caller ran a file form without preparing it (`Prepared::new`).
        assert!(!self.unfitted, "SALE asked for `fit` but was never fitted: run scenarios through `Prepared`");
        let agents = world.resource::<Ledger>().agents().len();
        let tasks = &world.resource::<TaskStream>().tasks;
        let (dim, steps) = (tasks.first().map_or(0, |t| t.embedding.len()), tasks.len());
        world.insert_resource(self.clone());
        let mut memory = AuctionMemory::with_index(dim, agents, self.index);
        // At most one auction a task: the memory never grows by copying itself.
        memory.reserve(steps);
        world.insert_resource(memory);
        // Every task is spawned with its (empty) bids: no insertion, and they go when it goes.
        world.register_required_components::<OpenTask, Bids>();
        match *world.resource::<Pace>() {
            // Nothing happens between a task's phases: one system takes it from its bids to the
            // award, rather than a system run (and its parameters' fetch) per phase.
            Pace::Sequential => {
                schedule.add_systems(auction.in_set(Phase::Bidding));
            }
            // Each phase waits for the calls of the one before. Scoring and the award make no
            // call, so the phase after each runs at the same time: the bids are scored at the
            // start of the refinement (or of the execution, without memory) and the award is
            // made at the start of the execution, every task's step before any task's next one
            // (as separate phases would). The driver skips the empty phases: two schedule runs
            // fewer a task.
            Pace::Timed => {
                schedule.add_systems((
                    bid.in_set(Phase::Bidding),
                    judge.in_set(Phase::Jury),
                    award.in_set(Phase::Execution).before(crate::world::execute),
                ));
                if self.memory {
                    schedule.add_systems((score.in_set(Phase::Refinement).before(refine), refine.in_set(Phase::Refinement)));
                } else {
                    schedule.add_systems(score.in_set(Phase::Execution).before(award));
                }
            }
        }
        if self.memory {
            schedule.add_systems(remember.in_set(Phase::MemoryUpdate));
        }
        if self.payment == Payment::SecondScore {
            // After the tab is closed (what the execution cost) and before memory reads the
            // decision; in a phase, so a timed episode runs it once a task, not on every run.
            schedule.add_systems(pay.in_set(Phase::MemoryUpdate).before(remember));
        }
    }
}

/// A sequential episode's auction: every phase from the bids to the award, in order, for each
/// open task; the same steps as the phase systems [`bid`], [`judge`], [`score`], [`refine`]
/// and [`award`].
fn auction(
    (mut tasks, roster, stream, config, memory, mut ledger): Refining<'_, '_>,
    mut scratch: Local<RefineScratch>,
) {
    for (open, mut decision, mut bids) in &mut tasks {
        let task = stream.get(open);
        bid_for(task, &mut bids, &roster, &mut ledger);
        judge_bids(task, &mut bids, &config, &mut ledger);
        score_bids(&mut bids, &config, &ledger);
        if config.memory {
            let market = Market { roster: &roster, config: &config, memory: &memory };
            refine_for(task, &mut decision, &mut bids, &market, &mut ledger, &mut scratch);
        }
        award_to(&mut decision, &bids, &config);
    }
}

fn bid(mut tasks: Query<(&OpenTask, &mut Bids)>, roster: Res<Roster>, stream: Res<TaskStream>, mut ledger: ResMut<Ledger>) {
    for (open, mut bids) in &mut tasks {
        bid_for(stream.get(open), &mut bids, &roster, &mut ledger);
    }
}

/// Every agent's first bid, for a task without bids yet.
fn bid_for(task: &Task, bids: &mut Bids, roster: &Roster, ledger: &mut Ledger) {
    if !bids.0.is_empty() {
        return;
    }
    // Room for every agent's first bid and a refinement each, so the vector grows once.
    bids.0.reserve_exact(2 * roster.0.len());
    for &agent in &roster.0 {
        let plan = ledger.plan(task, agent.index);
        bids.0.push(Bid::new(agent, plan));
    }
}

/// `sum_j w_j * gamma_j` over the configured jury; with the full jury every agent scores the
/// plan, the bidder included. Jurors who abstain (a failed call, an unreadable answer, a plan of
/// another kind) are left out and the others' weighted scores scaled up to the full jury's
/// weight, so an abstention neither helps nor hurts the bid.
fn jury_value(ledger: &mut Ledger, config: &SaleConfig, task: &Task, bidder: usize, plan: &PlanCell) -> f64 {
    let mut tally = Tally::default();
    match config.jury {
        Jury::Off => return 0.0,
        Jury::SelfOnly => tally.add(config.w_jury[bidder], ledger.judge(task, bidder, plan, bidder)),
        Jury::PeerOnly => {
            for j in (0..config.w_jury.len()).filter(|&j| j != bidder) {
                tally.add(config.w_jury[j], ledger.judge(task, bidder, plan, j));
            }
        }
        Jury::All => {
            let mut inline = [JuryCell::default(); MAX_INLINE_JURY];
            let mut heap;
            let scores = if config.w_jury.len() <= MAX_INLINE_JURY {
                &mut inline[..config.w_jury.len()]
            } else {
                heap = vec![inline[0]; config.w_jury.len()];
                &mut heap[..]
            };
            ledger.judge_panel(task, bidder, plan, scores);
            for (w, cell) in config.w_jury.iter().zip(scores.iter()) {
                tally.add(*w, *cell);
            }
        }
    }
    tally.value()
}

/// Weighted jury scores, with abstentions set aside.
#[derive(Default)]
pub struct Tally {
    given: f64,
    weight_given: f64,
    weight_abstained: f64,
}

impl Tally {
    pub fn add(&mut self, weight: f64, cell: JuryCell) {
        match cell.score {
            Some(s) => {
                self.given += weight * f64::from(s);
                self.weight_given += weight;
            }
            None => self.weight_abstained += weight,
        }
    }

    /// The weighted sum of the scores given, scaled up to the whole jury's weight.
    #[must_use]
    pub fn value(&self) -> f64 {
        if self.weight_abstained == 0.0 {
            self.given
        } else if self.weight_given == 0.0 {
            0.0
        } else {
            self.given * (self.weight_given + self.weight_abstained) / self.weight_given
        }
    }
}

/// Pools up to this size score plans without allocating.
const MAX_INLINE_JURY: usize = 16;

/// Cost minus value of a bid whose jury value is `jury`; a load-aware SALE adds `w_wait` times
/// the bidder's expected wait for a slot, `wait` seconds.
fn bid_score(config: &SaleConfig, bid: &Bid, jury: f64, wait: f64) -> f64 {
    if !bid.plan.usable() {
        // A bid whose plan never arrived cannot win on merit.
        return f64::INFINITY;
    }
    let price = if config.price { bid.price } else { 1.0 };
    let length = if config.length { f64::from(bid.plan.length) } else { 1.0 };
    let entropy = if config.entropy { config.w_h * bid.plan.entropy } else { 0.0 };
    let cost = config.w_c * price * length;
    let cost = if config.w_wait == 0.0 { cost } else { cost + config.w_wait * wait };
    cost - (entropy + jury)
}

fn judge(mut tasks: Query<(&OpenTask, &mut Bids)>, stream: Res<TaskStream>, config: Res<SaleConfig>, mut ledger: ResMut<Ledger>) {
    for (open, mut bids) in &mut tasks {
        judge_bids(stream.get(open), &mut bids, &config, &mut ledger);
    }
}

/// The jury's value of every bid not yet judged.
fn judge_bids(task: &Task, bids: &mut Bids, config: &SaleConfig, ledger: &mut Ledger) {
    // Initial bids in (round, agent) order: the order they were made.
    for b in bids.0.iter_mut().filter(|b| b.jury.is_none()) {
        let jury = if !b.plan.usable() { 0.0 } else { jury_value(ledger, config, task, b.agent, &b.plan) };
        b.jury = Some(jury);
    }
}

fn score(mut tasks: Query<&mut Bids>, config: Res<SaleConfig>, ledger: Res<Ledger>) {
    for mut bids in &mut tasks {
        score_bids(&mut bids, &config, &ledger);
    }
}

/// The score of every judged bid not yet scored.
fn score_bids(bids: &mut Bids, config: &SaleConfig, ledger: &Ledger) {
    for b in &mut bids.0 {
        if let (Some(jury), None) = (b.jury, b.score) {
            b.score = Some(bid_score(config, b, jury, ledger.expected_wait(b.agent)));
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

/// What a refinement reads of the market besides the task.
struct Market<'a> {
    roster: &'a Roster,
    config: &'a SaleConfig,
    memory: &'a AuctionMemory,
}

/// A refinement's neighbours and retrieved pairs, reused from task to task.
type RefineScratch = (Neighbours, Vec<RetrievedPair>);

/// What refining reads and writes of the world (the one-pass [`auction`] too): the open tasks
/// with their decisions and bids, the pool, the stream, SALE's settings, memory and the ledger.
type Refining<'w, 's> = (
    Query<'w, 's, (&'static OpenTask, &'static mut Decision, &'static mut Bids)>,
    Res<'w, Roster>,
    Res<'w, TaskStream>,
    Res<'w, SaleConfig>,
    Res<'w, AuctionMemory>,
    ResMut<'w, Ledger>,
);

fn refine((mut tasks, roster, stream, config, memory, mut ledger): Refining<'_, '_>, mut scratch: Local<RefineScratch>) {
    let market = Market { roster: &roster, config: &config, memory: &memory };
    for (open, mut decision, mut bids) in &mut tasks {
        refine_for(stream.get(open), &mut decision, &mut bids, &market, &mut ledger, &mut scratch);
    }
}

/// Agents cheaper than the provisional winner refine from memory; their refined bids are judged
/// and scored here, since the jury and scoring phases of this task are already past.
fn refine_for(
    task: &Task,
    decision: &mut Decision,
    bids: &mut Bids,
    market: &Market<'_>,
    ledger: &mut Ledger,
    (neighbours, pairs): &mut RefineScratch,
) {
    let Market { roster, config, memory } = *market;
    let Some(provisional) = best(bids.0.iter(), Round::Initial).copied() else { return };
    decision.report(&REFINERS, 0.0);
    let refines = |a: &Agent| match config.refiners {
        Refiners::Cheaper => a.price < provisional.price,
        Refiners::AllLosers => a.index != provisional.agent,
    };
    if !roster.0.iter().any(refines) {
        return;
    }
    memory.nearest_into(&task.embedding, config.k, neighbours);
    let view = memory.view(neighbours, &task.embedding);
    let mut refiners = 0u16;
    for agent in roster.0.iter().filter(|a| refines(a)) {
        memory.pairs_into(neighbours, agent.index, pairs);
        let plan = ledger.refine(task, agent.index, &AuctionMemory::recall(&view, pairs, config.k));
        let mut refined = Bid::new(*agent, plan);
        let jury = if !plan.usable() { 0.0 } else { jury_value(ledger, config, task, agent.index, &plan) };
        refined.jury = Some(jury);
        refined.score = Some(bid_score(config, &refined, jury, ledger.expected_wait(agent.index)));
        bids.0.push(refined);
        refiners = refiners.saturating_add(1);
    }
    decision.report(&REFINERS, f64::from(refiners));
}

fn award(mut tasks: Query<(&mut Decision, &Bids)>, config: Res<SaleConfig>) {
    for (mut decision, bids) in &mut tasks {
        award_to(&mut decision, bids, &config);
    }
}

/// The provisional winner, unless a refined bid scores strictly lower (or, if so configured, as
/// low).
fn award_to(decision: &mut Decision, bids: &Bids, config: &SaleConfig) {
    let Some(provisional) = best(bids.0.iter(), Round::Initial) else { return };
    let p_score = provisional.score.unwrap_or(f64::INFINITY);
    let refined = best(bids.0.iter(), Round::Refined).filter(|r| {
        let score = r.score.unwrap_or(f64::INFINITY);
        match config.accept {
            Accept::StrictlyLower => score < p_score,
            Accept::LowerOrEqual => score <= p_score,
        }
    });
    let winner = refined.unwrap_or(provisional);
    decision.winner = Some(winner.agent);
    decision.plan = winner.plan.usable().then_some(winner.plan);
    decision.report(&PROVISIONAL, provisional.agent as f64);
    decision.report(&REFINED, f64::from(u8::from(refined.is_some())));
}

/// The factor on the winner's price that makes its score equal `rival`'s (its critical price
/// over its price), or 1 where price does not move its score or no rival scored.
#[must_use]
pub fn critical_factor(config: &SaleConfig, winner: &Bid, rival: f64) -> f64 {
    let (Some(own), true) = (winner.score, rival.is_finite()) else { return 1.0 };
    let length = if config.length { f64::from(winner.plan.length) } else { 1.0 };
    let slope = config.w_c * winner.price * length;
    if !config.price || slope <= 0.0 || !own.is_finite() { 1.0 } else { 1.0 + (rival - own).max(0.0) / slope }
}

/// Second-score payments: once the execution is settled, the winner is paid its tokens at its
/// critical price.
fn pay(mut tasks: Query<(&mut Decision, &Bids)>, config: Res<SaleConfig>) {
    for (mut decision, bids) in &mut tasks {
        let Some(winner) = decision.winner else { continue };
        let round = if decision.reported(REFINED.id) == Some(1.0) { Round::Refined } else { Round::Initial };
        let Some(own) = best_of(bids.0.iter().filter(|b| b.agent == winner && b.plan.round == round)) else { continue };
        let rival = best_of(bids.0.iter().filter(|b| b.agent != winner)).and_then(|b| b.score).unwrap_or(f64::INFINITY);
        let paid = decision.tab.execution_cost * critical_factor(&config, own, rival);
        decision.report(&PAYMENT, paid);
    }
}

/// Store every agent's final plan, the winner, the runner-up and the execution result.
fn remember(
    tasks: Query<(&OpenTask, &Decision, &Bids)>,
    roster: Res<Roster>,
    stream: Res<TaskStream>,
    mut memory: ResMut<AuctionMemory>,
) {
    for (open, decision, bids) in &tasks {
        let Some(winner) = decision.winner else { continue };
        // Each agent's final plan is its best bid of the task (its refinement, if that scored
        // better).
        let mut finals: SmallVec<[Option<Bid>; 8]> = smallvec![None; roster.0.len()];
        for b in &bids.0 {
            let slot = &mut finals[b.agent];
            if slot.is_none_or(|cur| b.beats(&cur)) {
                *slot = Some(*b);
            }
        }
        let lengths: SmallVec<[u32; 8]> = finals.iter().map(|b| b.map_or(0, |b| b.plan.length)).collect();
        let texts: SmallVec<[u64; 8]> = finals.iter().map(|b| b.map_or(0, |b| b.plan.text)).collect();
        let runner_up = best_of(finals.iter().flatten().filter(|b| b.agent != winner)).map(|b| b.agent);
        let succeeded = decision.success.unwrap_or(false);
        memory.store(&stream.get(open).embedding, &lengths, &texts, winner, runner_up, succeeded);
    }
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

    fn observe_award(tasks: Query<(&OpenTask, &Decision, &Bids)>, mut seen: ResMut<Observed>) {
        for (open, decision, bids) in &tasks {
            let mut bids = bids.0.clone();
            bids.sort_by_key(|b| (b.plan.round.key(), b.agent));
            seen.0.push(Auction { bids, decision: decision.clone(), step: open.step });
        }
    }

    fn observe_settlement(tasks: Query<&Decision>, mut seen: ResMut<Observed>) {
        for decision in &tasks {
            if let Some(last) = seen.0.last_mut() {
                last.decision = decision.clone();
            }
        }
    }

    fn run_observed(config: SaleConfig, seed: u64) -> (Vec<Auction>, Arc<SyntheticSource>, Arc<[Task]>) {
        let scenario = Scenario::parse(POOL, "pool").unwrap();
        let source = Arc::new(scenario.source().unwrap());
        let split = scenario.training.split(&scenario.workload, seed);
        let tasks = split.eval.clone();
        let (mut world, mut schedule) = build_episode(source.clone(), split, &config, seed, Pace::Sequential);
        world.init_resource::<Observed>();
        schedule.add_systems((
            observe_award.in_set(Phase::Award),
            observe_settlement.in_set(Phase::MemoryUpdate),
        ));
        schedule.initialize(&mut world).unwrap();
        let mut driver = crate::world::Steps::new(&mut world);
        for _ in 0..tasks.len() {
            driver.step(&mut world, &mut schedule);
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
        assert_eq!(a.decision.reported(PROVISIONAL.id), Some(provisional.agent as f64));

        // Only agents strictly cheaper than the provisional winner refine, and all of them do.
        let mut refiners: Vec<usize> = refined.iter().map(|b| b.agent).collect();
        refiners.sort_unstable();
        let expected: Vec<usize> = match (config.memory, config.refiners) {
            (false, _) => Vec::new(),
            (true, Refiners::Cheaper) => {
                (0..agents.len()).filter(|&i| agents[i].output_price < provisional.price).collect()
            }
            (true, Refiners::AllLosers) => (0..agents.len()).filter(|&i| i != provisional.agent).collect(),
        };
        assert_eq!(refiners, expected);
        if config.memory {
            assert_eq!(a.decision.reported(REFINERS.id), Some(refiners.len() as f64));
        } else {
            assert_eq!(a.decision.reported(REFINERS.id), None, "without memory nobody refines");
        }

        // A refined bid wins only with a strictly lower score (or an equal one, if so
        // configured), and then the lowest one does.
        let p_score = provisional.score.unwrap();
        let accepts = |s: f64| match config.accept {
            Accept::StrictlyLower => s < p_score,
            Accept::LowerOrEqual => s <= p_score,
        };
        let better = refined.iter().filter(|b| accepts(b.score.unwrap())).count();
        let winner = a.decision.winner.unwrap();
        if better == 0 {
            assert_eq!(a.decision.reported(REFINED.id), Some(0.0));
            assert_eq!(winner, provisional.agent);
        } else {
            let best_refined = best(a.bids.iter(), Round::Refined).unwrap();
            assert_eq!(a.decision.reported(REFINED.id), Some(1.0));
            assert_eq!(winner, best_refined.agent);
            assert!(accepts(best_refined.score.unwrap()));
        }

        // Exactly one execution; every cell read was charged, and nothing else.
        let tab = a.decision.tab;
        assert_eq!(tab.executions, 1);
        assert_eq!(tab.plan_calls as usize, agents.len());
        assert_eq!(tab.refine_calls as usize, refined.len());
        let jurors = |bidder: usize| -> Vec<usize> {
            match config.jury {
                Jury::All => (0..agents.len()).collect(),
                Jury::SelfOnly => vec![bidder],
                Jury::PeerOnly => (0..agents.len()).filter(|&j| j != bidder).collect(),
                Jury::Off => Vec::new(),
            }
        };
        assert_eq!(tab.jury_calls as usize, a.bids.iter().map(|b| jurors(b.agent).len()).sum::<usize>());
        let mut overhead = 0.0;
        for b in &a.bids {
            overhead += agents[b.agent].cost(b.plan.usage);
            let key = CellKey { episode_seed: seed, task, agent: b.agent };
            for j in jurors(b.agent) {
                overhead += agents[j].cost(source.judge(key, &b.plan, j).usage);
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
            switches in any::<[bool; 3]>(),
            jury in prop::sample::select(vec![Jury::All, Jury::SelfOnly, Jury::PeerOnly, Jury::Off]),
            refiners in prop::sample::select(vec![Refiners::Cheaper, Refiners::AllLosers]),
            accept in prop::sample::select(vec![Accept::StrictlyLower, Accept::LowerOrEqual]),
        ) {
            let [price, length, entropy] = switches;
            let config = SaleConfig {
                k, memory, price, length, entropy, jury, refiners, accept,
                ..SaleConfig::published(w_c, w_h, w_j, 4)
            };
            let (seen, source, tasks) = run_observed(config.clone(), seed);
            prop_assert_eq!(seen.len(), tasks.len());
            for a in &seen {
                check_auction(a, &config, &source, &tasks[a.step], seed);
            }
        }
    }

    /// Initial bids are pure functions of (seed, task, agent), so the same task's initial bids
    /// under two configurations differ only by what the configurations change.
    fn initial_bids(config: &SaleConfig, seed: u64) -> Vec<(usize, Vec<Bid>, ledger_calls::Calls)> {
        let (seen, _, _) = run_observed(config.clone(), seed);
        seen.into_iter()
            .map(|a| {
                let calls = ledger_calls::Calls::of(&a);
                (a.step, a.bids.into_iter().filter(|b| b.plan.round == Round::Initial).collect(), calls)
            })
            .collect()
    }

    mod ledger_calls {
        /// Calls a task's auction made, by kind.
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub struct Calls {
            pub plans: u32,
            pub jury: u32,
            pub refinements: u32,
        }

        impl Calls {
            pub fn of(a: &super::Auction) -> Self {
                let t = a.decision.tab;
                Self { plans: t.plan_calls, jury: t.jury_calls, refinements: t.refine_calls }
            }
        }
    }

    #[test]
    fn each_ablation_changes_only_what_it_names() {
        let base = SaleConfig::published(0.05, 1.5, 1.0, 4);
        let seed = 17;
        let reference = initial_bids(&base, seed);
        let n = 4u32;
        let ablations: Vec<(&str, SaleConfig)> = vec![
            ("no price", SaleConfig { price: false, ..base.clone() }),
            ("no length", SaleConfig { length: false, ..base.clone() }),
            ("no entropy", SaleConfig { entropy: false, ..base.clone() }),
            ("no jury", SaleConfig { jury: Jury::Off, ..base.clone() }),
            ("self only", SaleConfig { jury: Jury::SelfOnly, ..base.clone() }),
            ("peer only", SaleConfig { jury: Jury::PeerOnly, ..base.clone() }),
            ("no memory", SaleConfig { memory: false, ..base.clone() }),
        ];
        for (what, config) in ablations {
            for ((step, bids, calls), (rstep, rbids, rcalls)) in initial_bids(&config, seed).iter().zip(&reference) {
                assert_eq!(step, rstep);
                assert_eq!(calls.plans, rcalls.plans, "{what}: every agent still bids once");
                for (b, r) in bids.iter().zip(rbids) {
                    assert_eq!(b.plan, r.plan, "{what}: plans are unchanged");
                    let (score, rscore) = (b.score.unwrap(), r.score.unwrap());
                    let (jury, rjury) = (b.jury.unwrap(), r.jury.unwrap());
                    let length = f64::from(r.plan.length);
                    let removed = match what {
                        "no price" => base.w_c * (r.price * length - length),
                        "no length" => base.w_c * (r.price * length - r.price),
                        "no entropy" => -base.w_h * r.plan.entropy,
                        "no jury" | "self only" | "peer only" => jury - rjury,
                        _ => 0.0,
                    };
                    assert!((rscore - score - removed).abs() < 1e-9, "{what}: score moved by more than its term");
                    if !what.contains("jury") && !what.contains("only") {
                        assert_eq!(jury, rjury, "{what}: jury untouched");
                    }
                }
                let own_plans = calls.plans + calls.refinements;
                match what {
                    "no jury" => assert_eq!(calls.jury, 0),
                    "self only" => assert_eq!(calls.jury, own_plans),
                    "peer only" => assert_eq!(calls.jury, own_plans * (n - 1)),
                    "no memory" => assert_eq!((calls.refinements, calls.jury), (0, n * n)),
                    _ => assert_eq!(calls.jury, own_plans * n),
                }
            }
        }
    }

    #[test]
    fn ablated_configurations_name_themselves() {
        let parse = |text: &str| -> SaleParams { crate::format::ron_options().from_str(text).unwrap() };
        assert_eq!(parse("(w_c: 1.0, w_h: 1.0)").display_name(), "SALE");
        assert_eq!(parse("(w_c: 1.0, w_h: 1.0, memory: false)").display_name(), "SALE (no memory)");
        assert_eq!(
            parse("(w_c: 1.0, w_h: 1.0, price: false, jury: PeerOnly, k: 4)").display_name(),
            "SALE (no price, peer-scores only, k=4)"
        );
        assert_eq!(parse("(w_c: 1.0, w_h: 1.0, name: \"mine\")").display_name(), "mine");
    }

    #[test]
    fn records_cost_is_overhead_plus_execution() {
        let scenario = Scenario::parse(POOL, "pool").unwrap();
        let source: Arc<dyn OutcomeSource> = Arc::new(scenario.source().unwrap());
        let mech = scenario.resolve_mechanisms().remove(0).mechanism;
        let (world, schedule) = build_episode(source, scenario.training.split(&scenario.workload, 3), &*mech, 3, Pace::Sequential);
        let records = play(world, schedule, "SALE").unwrap();
        assert_eq!(records.len(), 40);
        for r in &records {
            assert!(r.overhead_cost > 0.0 && r.execution_cost > 0.0);
            assert_eq!(r.cost(), r.overhead_cost + r.execution_cost);
        }
    }

    #[test]
    fn memory_lets_small_agents_win_refined_auctions() {
        let config = SaleConfig::published(0.05, 1.0, 1.0, 4);
        let refined: usize =
            (0..10).map(|s| run_observed(config.clone(), s).0.iter().filter(|a| a.decision.reported(REFINED.id) == Some(1.0)).count()).sum();
        assert!(refined > 0, "no refined bid ever won");
    }
}

#[cfg(test)]
mod payment_tests {
    use std::sync::Arc;

    use tender_agents::OutcomeSource;

    use super::*;
    use crate::episode::{build_episode, play};
    use crate::scenario::Scenario;

    fn records(mechanism: &str) -> Vec<crate::TaskRecord> {
        records_at(mechanism, Pace::Sequential)
    }

    /// An episode played one task at a time, with the systems SALE installs at `pace`.
    fn records_at(mechanism: &str, pace: Pace) -> Vec<crate::TaskRecord> {
        let text = tests_pool().replace("mechanisms: [Sale(w_c: 0.05, w_h: 1.0)]", &format!("mechanisms: [{mechanism}]"));
        let scenario = Scenario::parse(&text, "pool").expect("valid");
        let source: Arc<dyn OutcomeSource> = Arc::new(scenario.source().expect("pool"));
        let mech = scenario.resolve_mechanisms().remove(0).mechanism;
        let (world, schedule) = build_episode(source, scenario.training.split(&scenario.workload, 3), &*mech, 3, pace);
        play(world, schedule, "SALE").expect("plays")
    }

    /// The one-pass auction of a sequential episode (with the engine's one system that executes
    /// and settles) is the phase systems of a timed one, run one task at a time: the same records
    /// to the bit, for every variant whose steps differ.
    #[test]
    fn the_one_pass_auction_is_the_phase_systems() {
        for mechanism in [
            "Sale(w_c: 0.05, w_h: 1.0)",
            "Sale(w_c: 0.05, w_h: 1.0, memory: false)",
            "Sale(w_c: 0.05, w_h: 1.0, payment: SecondScore)",
            "Sale(w_c: 0.05, w_h: 1.0, jury: PeerOnly, refiners: AllLosers, accept: LowerOrEqual, k: 2)",
        ] {
            let one_pass = records_at(mechanism, Pace::Sequential);
            assert!(one_pass.iter().any(|r| r.reported.iter().any(|(q, v)| q.id == REFINERS.id && *v > 0.0)) || mechanism.contains("memory: false"));
            assert_eq!(one_pass, records_at(mechanism, Pace::Timed), "{mechanism}");
        }
    }

    fn tests_pool() -> String {
        r#"Scenario(
    name: "sale-payments",
    seed: 1,
    episodes: 1,
    agents: [
        (name: "s", price: 0.05, skill: {"qa": [0.8, 0.3]}),
        (name: "m", price: 0.09, skill: {"qa": [0.85, 0.4]}),
        (name: "xl", price: 0.36, skill: {"qa": [0.92, 0.6]}),
    ],
    workload: (domains: [(name: "qa", bins: [(tau_max: 0.5, tasks: 20), (tau_max: 5.0, tasks: 20)], topics: 3)]),
    mechanisms: [Sale(w_c: 0.05, w_h: 1.0)],
)"#
        .to_string()
    }

    /// A second-score payment changes what the winner is paid, never who wins or what anything
    /// costs, and it is never below the winner's own price.
    #[test]
    fn second_score_pays_the_winner_its_critical_price_and_changes_nothing_else() {
        let as_bid = records("Sale(w_c: 0.05, w_h: 1.0)");
        let second = records("Sale(w_c: 0.05, w_h: 1.0, payment: SecondScore)");
        assert_eq!(as_bid.len(), second.len());
        let mut above = 0;
        for (a, b) in as_bid.iter().zip(&second) {
            assert_eq!((a.winner, a.success, a.cost()), (b.winner, b.success, b.cost()));
            assert_eq!(a.payment(), None, "pay-as-bid records no payment beyond the charges");
            let paid = b.payment().expect("every awarded task is paid");
            assert!(paid >= b.execution_cost - 1e-12, "{paid} < {}", b.execution_cost);
            above += usize::from(paid > b.execution_cost + 1e-12);
        }
        assert!(above > 0, "some winner beat the runner-up by a margin and is paid above its price");
    }

    #[test]
    fn the_critical_factor_ties_the_winner_with_the_rival() {
        let config = SaleConfig::published(0.05, 1.0, 1.0, 2);
        let plan = tender_agents::PlanCell {
            round: tender_agents::Round::Initial,
            length: 200,
            entropy: 1.0,
            boost: 0.0,
            usage: tender_agents::Usage::default(),
            text: 0,
            status: tender_agents::Status::Answered,
            seconds: None,
        };
        let winner = Bid { agent: 0, price: 0.1, plan, jury: Some(3.0), score: Some(-2.0) };
        let f = critical_factor(&config, &winner, -1.0);
        // At price 0.1 × f the cost term grows by exactly the margin of 1.
        assert!((config.w_c * 0.1 * f * 200.0 - config.w_c * 0.1 * 200.0 - 1.0).abs() < 1e-12);
        assert_eq!(critical_factor(&config, &winner, f64::INFINITY), 1.0, "no rival: its own price");
        let free = SaleConfig { w_c: 0.0, ..config.clone() };
        assert_eq!(critical_factor(&free, &winner, -1.0), 1.0, "price does not move the score");
        assert_eq!(SaleConfig { payment: Payment::SecondScore, ..config }.payment, Payment::SecondScore);
    }
}
