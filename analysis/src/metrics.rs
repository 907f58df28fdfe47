//! Per-mechanism metrics, overall and per domain and complexity bin.

use tender_agents::{AgentInfo, WorkloadSpec};
use tender_engine::mechanisms::{Meaning, Quantity, Resolved};
use tender_engine::{BatchResult, Role, TaskRecord};

use crate::stats::Estimate;

/// A subset of tasks a metric is computed over.
#[derive(Clone, Debug, PartialEq)]
pub enum Scope {
    All,
    Domain(u16),
    Bin(u16, u8),
}

/// What is measured. Shares and reductions are fractions; money is in dollars.
#[derive(Clone, Debug, PartialEq)]
pub enum Metric {
    /// Share of tasks solved.
    PassAt1,
    /// Dollars spent per episode, auction overhead included.
    TotalCost,
    /// Token-weighted average price paid, in dollars per million tokens.
    CostPerMTok,
    /// Dollars per million tokens of the delivered answers' executions: equal to the average
    /// price for one execution per task, above every price when attempts are discarded (the
    /// paper's cost, under which FrugalGPT exceeds the largest agent's price).
    CostPerDeliveredMTok,
    /// The same, for execution tokens only.
    ExecutionCostPerMTok,
    /// Dollars spent deciding (plans, jury, refinement) per episode.
    OverheadCost,
    /// Share of all tokens spent deciding.
    OverheadTokenShare,
    /// Share of tasks executed by an agent.
    Share(usize),
    /// `1 - share of the largest agent`: how much less the mechanism relies on the largest
    /// agent than always using it.
    RelianceReduction,
    /// `1 - (dollars per million tokens) / (the largest agent alone's)`, paired by episode.
    CostReduction,
    /// `1 - total dollars / (the largest agent alone's)`, paired by episode.
    SpendReduction,
    /// Oracle's pass@1 minus the mechanism's, paired by episode.
    OracleGap,
    /// Value of the solved tasks minus everything spent, in dollars per episode.
    Welfare,
    /// Dollars spent per solved task.
    CostOfPass,
    /// Jain's fairness index of the agents' workloads: 1 when even, 1/n when one agent does all.
    JainFairness,
    /// Share of tasks no agent executed (matching under capacity drops tasks).
    DroppedShare,
    /// Value of the solved tasks minus payments, per episode.
    BuyerSurplus,
    /// Cells per episode whose call failed: the only failures (live agents, replays).
    FailedCalls,
    /// Cells per episode whose reply held nothing of the kind asked for (a verdict without a
    /// score, an answer the check finds nothing in).
    UnparsedReplies,
    /// Cells per episode not asked, by design (a live juror and a stand-in's plan, a
    /// refinement with no lesson to quote).
    Abstentions,
    /// A quantity the mechanism reports itself, per episode as it declares.
    Reported(Quantity),
    /// Timed runs: the episode's `q`-th percentile (50, 95, 99) of task latency, arrival to
    /// answer, in seconds (nearest rank).
    Latency(u8),
    /// Timed runs: mean seconds from arrival to award (the auction's part of latency).
    AuctionTime,
    /// Timed runs: the auction's share of the total latency.
    AuctionShare,
    /// Timed runs: mean seconds the awarded execution waited for a slot.
    QueueWait,
    /// Timed runs: tasks answered per second, from the first arrival to the last answer.
    Throughput,
    /// Timed runs: an agent's busy slot-seconds over its slot-seconds (overall scope only).
    Utilisation(usize),
    /// Dollars an agent is paid per episode for the tasks it executes ([`crate::accounts`];
    /// overall scope, when the pool has unit costs or the mechanism pays).
    Revenue(usize),
    /// An agent's revenue less what its executions cost it, dollars per episode.
    Profit(usize),
    /// Every agent's profit, dollars per episode.
    AgentsProfit,
    /// What the buyer pays per episode: the auction's overhead and every payment, or charge
    /// where the mechanism has no payment.
    BuyerPays,
    /// Timed runs with a latency target: the share of tasks answered within it (a dropped task
    /// is not).
    TargetMet,
    /// Timed runs: the share of tasks whose timeout passed before their answer was in.
    TimedOutShare,
}

impl Metric {
    /// Stable identifier used in `summary.csv`.
    #[must_use]
    pub fn id(&self, agents: &[AgentInfo]) -> String {
        match self {
            Self::PassAt1 => "pass_at_1".into(),
            Self::TotalCost => "cost_usd".into(),
            Self::CostPerMTok => "usd_per_mtok".into(),
            Self::CostPerDeliveredMTok => "usd_per_delivered_mtok".into(),
            Self::ExecutionCostPerMTok => "execution_usd_per_mtok".into(),
            Self::OverheadCost => "overhead_usd".into(),
            Self::OverheadTokenShare => "overhead_token_share".into(),
            Self::Share(a) => format!("share:{}", agents[*a].name),
            Self::RelianceReduction => "largest_reliance_reduction".into(),
            Self::CostReduction => "cost_reduction_vs_largest".into(),
            Self::SpendReduction => "spend_reduction_vs_largest".into(),
            Self::OracleGap => "oracle_gap".into(),
            Self::Welfare => "welfare_usd".into(),
            Self::CostOfPass => "cost_of_pass_usd".into(),
            Self::JainFairness => "jain_fairness".into(),
            Self::DroppedShare => "dropped_share".into(),
            Self::BuyerSurplus => "buyer_surplus_usd".into(),
            Self::FailedCalls => "failed_calls".into(),
            Self::UnparsedReplies => "unparsed_replies".into(),
            Self::Abstentions => "abstentions".into(),
            Self::Reported(q) => q.id.into(),
            Self::Latency(q) => format!("latency_p{q}_s"),
            Self::AuctionTime => "auction_s".into(),
            Self::AuctionShare => "auction_latency_share".into(),
            Self::QueueWait => "queue_wait_s".into(),
            Self::Throughput => "throughput_per_s".into(),
            Self::Utilisation(a) => format!("utilisation:{}", agents[*a].name),
            Self::Revenue(a) => format!("revenue:{}", agents[*a].name),
            Self::Profit(a) => format!("profit:{}", agents[*a].name),
            Self::AgentsProfit => "agents_profit_usd".into(),
            Self::BuyerPays => "buyer_pays_usd".into(),
            Self::TargetMet => "latency_target_met".into(),
            Self::TimedOutShare => "timed_out_share".into(),
        }
    }
}

/// How a metric is shown in a table: its column label, the factor its values are shown at, and
/// the decimals.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Shown {
    pub label: &'static str,
    pub scale: f64,
    pub decimals: usize,
}

impl Metric {
    /// Whether the metric is a proportion (each episode's value in [0, 1]), whose interval is
    /// Wilson's rather than Student's t ([`Estimate::of_proportion`]).
    #[must_use]
    pub const fn is_proportion(&self) -> bool {
        matches!(
            self,
            Self::PassAt1
                | Self::OverheadTokenShare
                | Self::Share(_)
                | Self::RelianceReduction
                | Self::DroppedShare
                | Self::AuctionShare
                | Self::Utilisation(_)
                | Self::TargetMet
                | Self::TimedOutShare
        ) || matches!(self, Self::Reported(q) if matches!(q.meaning, Meaning::Flag))
    }

    /// The estimate across episodes of this metric's per-episode `values`.
    #[must_use]
    pub fn estimate(&self, values: impl IntoIterator<Item = f64>) -> Estimate {
        if self.is_proportion() { Estimate::of_proportion(values) } else { Estimate::of(values) }
    }

    /// How the metric is shown in the terminal's and the report's tables (an agent's share is
    /// labelled with the agent's name by the table itself).
    #[must_use]
    pub const fn shown(&self) -> Shown {
        let (label, scale, decimals) = match self {
            Self::PassAt1 => ("pass@1 %", 100.0, 1),
            Self::TotalCost => ("$ / episode", 1.0, 2),
            Self::CostPerMTok => ("$ / M tok", 1.0, 3),
            Self::CostPerDeliveredMTok => ("$ / M delivered", 1.0, 3),
            Self::ExecutionCostPerMTok => ("execution $ / M tok", 1.0, 3),
            Self::OverheadCost => ("auction $ / episode", 1.0, 4),
            Self::OverheadTokenShare => ("auction tok %", 100.0, 2),
            Self::Share(_) => ("share %", 100.0, 1),
            Self::RelianceReduction => ("reliance on the largest ↓ %", 100.0, 1),
            Self::CostReduction => ("$/M tok ↓ % vs largest", 100.0, 1),
            Self::SpendReduction => ("$ ↓ % vs largest", 100.0, 1),
            Self::OracleGap => ("gap to oracle pp", 100.0, 1),
            Self::Welfare => ("welfare $", 1.0, 1),
            Self::CostOfPass => ("$ / solved task", 1.0, 4),
            Self::JainFairness => ("Jain's index", 1.0, 3),
            Self::DroppedShare => ("dropped %", 100.0, 1),
            Self::BuyerSurplus => ("buyer surplus $", 1.0, 1),
            Self::FailedCalls => ("failed calls", 1.0, 1),
            Self::UnparsedReplies => ("unparsed replies", 1.0, 1),
            Self::Abstentions => ("abstentions", 1.0, 1),
            Self::Reported(q) => (q.label, q.scale, q.decimals),
            Self::Latency(50) => ("latency p50 s", 1.0, 1),
            Self::Latency(95) => ("latency p95 s", 1.0, 1),
            Self::Latency(_) => ("latency p99 s", 1.0, 1),
            Self::AuctionTime => ("auction s", 1.0, 1),
            Self::AuctionShare => ("auction % of latency", 100.0, 1),
            Self::QueueWait => ("queue wait s", 1.0, 1),
            Self::Throughput => ("tasks / s", 1.0, 3),
            Self::Utilisation(_) => ("utilisation %", 100.0, 1),
            Self::Revenue(_) => ("revenue $", 1.0, 2),
            Self::Profit(_) => ("profit $", 1.0, 2),
            Self::AgentsProfit => ("agents' profit $", 1.0, 2),
            Self::BuyerPays => ("buyer pays $", 1.0, 2),
            Self::TargetMet => ("within target %", 100.0, 1),
            Self::TimedOutShare => ("timed out %", 100.0, 1),
        };
        Shown { label, scale, decimals }
    }

    /// The metric of one episode's totals, for every metric that is not paired with another
    /// mechanism's episode (those are computed in [`summarise`]). The one definition the
    /// summaries and the sweep rows share.
    #[must_use]
    pub fn of(&self, t: &EpisodeTotals) -> Option<f64> {
        let ratio = EpisodeTotals::ratio;
        Some(match self {
            Self::PassAt1 => t.pass_at_1(),
            Self::TotalCost => t.cost,
            Self::CostPerMTok => t.cost_per_mtok(),
            Self::CostPerDeliveredMTok => ratio(t.cost * 1e6, t.delivered_tokens as f64),
            Self::ExecutionCostPerMTok => ratio(t.execution_cost * 1e6, t.execution_tokens as f64),
            Self::OverheadCost => t.overhead_cost,
            Self::OverheadTokenShare => ratio(t.overhead_tokens as f64, t.tokens as f64),
            Self::Share(a) => t.share(*a),
            Self::Welfare => t.solved_value - t.cost,
            Self::CostOfPass => ratio(t.cost, f64::from(t.solved)),
            Self::JainFairness => t.jain(),
            Self::DroppedShare => ratio(f64::from(t.dropped), f64::from(t.tasks)),
            Self::BuyerSurplus => t.buyer_surplus,
            Self::FailedCalls => f64::from(t.failed_calls),
            Self::UnparsedReplies => f64::from(t.unparsed),
            Self::Abstentions => f64::from(t.abstained),
            Self::Latency(q) => t.latency_percentile(*q)?,
            Self::AuctionTime => ratio(t.auction_time, t.latencies.len() as f64),
            Self::AuctionShare => ratio(t.auction_time, t.latencies.iter().sum()),
            Self::QueueWait => ratio(t.queue_wait, t.latencies.len() as f64),
            Self::Throughput => ratio(t.latencies.len() as f64, t.span.1 - t.span.0),
            Self::TargetMet => ratio(f64::from(t.within_target), f64::from(t.targeted)),
            Self::TimedOutShare => ratio(f64::from(t.timed_out), f64::from(t.tasks)),
            Self::Reported(q) => {
                let (_, sum, n) = t.reported.iter().find(|(r, _, _)| r.id == q.id)?;
                q.per_episode(*sum, *n)?
            }
            Self::RelianceReduction
            | Self::CostReduction
            | Self::SpendReduction
            | Self::OracleGap
            | Self::Utilisation(_)
            | Self::Revenue(_)
            | Self::Profit(_)
            | Self::AgentsProfit
            | Self::BuyerPays => return None,
        })
    }
}

/// Sums over one episode's tasks in one scope.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct EpisodeTotals {
    pub tasks: u32,
    pub solved: u32,
    pub cost: f64,
    pub tokens: u64,
    pub overhead_cost: f64,
    pub overhead_tokens: u64,
    pub execution_cost: f64,
    pub execution_tokens: u64,
    pub delivered_tokens: u64,
    pub solved_value: f64,
    pub executions: Vec<u32>,
    pub dropped: u32,
    pub paid_tasks: u32,
    pub buyer_surplus: f64,
    pub failed_calls: u32,
    pub unparsed: u32,
    pub abstained: u32,
    /// Each reported quantity's sum and count over the tasks that report it.
    pub reported: Vec<(Quantity, f64, u32)>,
    /// Timed runs: each task's latency (arrival to answer), the sums of the auctions' and the
    /// queue waits' times, and the first arrival and the last answer.
    pub latencies: Vec<f64>,
    pub auction_time: f64,
    pub queue_wait: f64,
    pub span: (f64, f64),
    /// Timed runs with a latency target: tasks with one, and those answered within it.
    pub targeted: u32,
    pub within_target: u32,
    /// Timed runs: tasks whose timeout passed before their answer was in.
    pub timed_out: u32,
}

/// What a timed run measures of latency, in the order tables show it.
pub const LATENCY: [Metric; 8] = [
    Metric::Latency(50),
    Metric::Latency(95),
    Metric::Latency(99),
    Metric::AuctionTime,
    Metric::AuctionShare,
    Metric::QueueWait,
    Metric::Throughput,
    Metric::TimedOutShare,
];

/// The metrics a sweep row carries, in order, before the largest and the smallest agent's
/// shares.
const ROW: [Metric; 9] = [
    Metric::PassAt1,
    Metric::TotalCost,
    Metric::CostPerMTok,
    Metric::CostPerDeliveredMTok,
    Metric::OverheadTokenShare,
    Metric::Welfare,
    Metric::CostOfPass,
    Metric::JainFairness,
    Metric::DroppedShare,
];

/// The quantities a sweep row carries besides its fixed metrics: those the mechanisms declare
/// ([`tender_engine::mechanisms::Mechanism::reports`]) that have an episode value, each once, in
/// the order they are first declared.
#[must_use]
pub fn row_quantities(mechanisms: &[Resolved]) -> Vec<Quantity> {
    let mut out: Vec<Quantity> = Vec::new();
    for q in mechanisms.iter().flat_map(|m| m.mechanism.reports()) {
        if q.meaning != Meaning::Agent && !out.iter().any(|seen| seen.id == q.id) {
            out.push(q);
        }
    }
    out
}

/// The names of a sweep row's metrics, in order: [`Metric::id`]s, then the largest and the
/// smallest agent's shares (named by role, since a sweep may change the pool's names), then, for
/// a timed sweep, the latency metrics, then the mechanisms' reported quantities
/// ([`row_quantities`]).
#[must_use]
pub fn row_metric_names(timed: bool, quantities: &[Quantity]) -> Vec<String> {
    let mut roles = ["largest_share", "smallest_share"].into_iter();
    row_metric_list(0, 0, timed, quantities)
        .iter()
        .map(|m| match m {
            Metric::Share(_) => roles.next().unwrap_or_default().to_string(),
            m => m.id(&[]),
        })
        .collect()
}

/// The metrics of a sweep row, in order.
fn row_metric_list(largest: usize, smallest: usize, timed: bool, quantities: &[Quantity]) -> Vec<Metric> {
    let latency = if timed { &LATENCY[..] } else { &[] };
    ROW.iter()
        .cloned()
        .chain([Metric::Share(largest), Metric::Share(smallest)])
        .chain(latency.iter().cloned())
        .chain(quantities.iter().map(|&q| Metric::Reported(q)))
        .collect()
}

/// Whether the fixed sweep row metric `id` ([`row_metric_names`]) is a proportion (a
/// reported quantity is one when it is a flag: [`row_flags`]).
#[must_use]
pub fn row_metric_is_proportion(id: &str) -> bool {
    id == "largest_share"
        || id == "smallest_share"
        || ROW.iter().chain(&LATENCY).find(|m| m.id(&[]) == id).is_some_and(Metric::is_proportion)
}

/// The ids of the reported quantities among `quantities` that are yes/no.
#[must_use]
pub fn row_flags(quantities: &[Quantity]) -> Vec<String> {
    quantities.iter().filter(|q| q.meaning == Meaning::Flag).map(|q| q.id.to_string()).collect()
}

/// One episode's row metrics ([`row_metric_names`]) from its records; `largest` and `smallest`
/// are agent indices. A quantity the mechanism does not report is NaN.
#[must_use]
pub fn row_metrics(
    records: &[TaskRecord],
    agents: usize,
    (largest, smallest): (usize, usize),
    timed: bool,
    quantities: &[Quantity],
) -> Vec<f64> {
    let t = EpisodeTotals::of(records, agents);
    row_metric_list(largest, smallest, timed, quantities).iter().map(|m| m.of(&t).unwrap_or(f64::NAN)).collect()
}

impl EpisodeTotals {
    /// The totals of one episode's records over a pool of `agents`.
    #[must_use]
    pub fn of(records: &[TaskRecord], agents: usize) -> Self {
        let mut t = Self::default();
        for r in records {
            t.add(r, agents);
        }
        t
    }

    fn add(&mut self, r: &TaskRecord, agents: usize) {
        if self.executions.is_empty() {
            self.executions = vec![0; agents];
        }
        self.tasks += 1;
        self.solved += u32::from(r.success);
        self.cost += r.cost();
        self.tokens += r.tokens();
        self.overhead_cost += r.overhead_cost;
        self.overhead_tokens += r.overhead.total();
        self.execution_cost += r.execution_cost;
        self.execution_tokens += r.execution.total();
        self.delivered_tokens += r.delivered.total();
        self.failed_calls += r.failed_calls;
        self.unparsed += r.unparsed;
        self.abstained += r.abstained;
        if r.success {
            self.solved_value += r.value;
        }
        let timed_out = r.timing.as_deref().is_some_and(|t| t.timed_out);
        self.timed_out += u32::from(timed_out);
        match self.executions.get_mut(usize::from(r.winner)) {
            Some(slot) => *slot += 1,
            None if !timed_out => self.dropped += 1,
            None => {}
        }
        let answered = r.winner != u16::MAX && !timed_out;
        if let Some(t) = r.timing.as_deref().filter(|t| t.deadline.is_finite()) {
            self.targeted += 1;
            self.within_target += u32::from(answered && t.done <= t.deadline);
        }
        // A dropped or timed-out task has no answer, so no latency (it counts in
        // `dropped_share` or `timed_out_share`).
        if let Some(t) = r.timing.as_deref().filter(|_| answered) {
            if self.latencies.is_empty() {
                self.span = (t.arrival, t.done);
            }
            self.latencies.push(t.done - t.arrival);
            self.auction_time += t.awarded - t.arrival;
            self.queue_wait += t.execution_start - t.awarded;
            self.span = (self.span.0.min(t.arrival), self.span.1.max(t.done));
        }
        for &(q, value) in &r.reported {
            match self.reported.iter_mut().find(|(seen, _, _)| seen.id == q.id) {
                Some((_, sum, n)) => {
                    *sum += value;
                    *n += 1;
                }
                None => self.reported.push((*q, value, 1)),
            }
        }
        if let Some(paid) = r.payment() {
            self.paid_tasks += 1;
            self.buyer_surplus += if r.success { r.value } else { 0.0 } - paid;
        }
    }

    fn ratio(a: f64, b: f64) -> f64 {
        if b > 0.0 { a / b } else { f64::NAN }
    }

    #[must_use]
    pub fn pass_at_1(&self) -> f64 {
        Self::ratio(f64::from(self.solved), f64::from(self.tasks))
    }

    #[must_use]
    pub fn cost_per_mtok(&self) -> f64 {
        Self::ratio(self.cost * 1e6, self.tokens as f64)
    }

    /// The `q`-th percentile of the latencies (nearest rank); `None` in an untimed run.
    #[must_use]
    pub fn latency_percentile(&self, q: u8) -> Option<f64> {
        crate::stats::percentile(&self.latencies, f64::from(q))
    }

    /// Jain's fairness index of the executions per agent.
    #[must_use]
    pub fn jain(&self) -> f64 {
        jain(&self.executions.iter().map(|&x| f64::from(x)).collect::<Vec<_>>())
    }

    fn share(&self, agent: usize) -> f64 {
        Self::ratio(f64::from(self.executions.get(agent).copied().unwrap_or(0)), f64::from(self.tasks))
    }
}

/// Jain's fairness index `(sum x)^2 / (n sum x^2)`: in [1/n, 1] for non-negative loads that are
/// not all zero; NaN otherwise.
#[must_use]
pub fn jain(loads: &[f64]) -> f64 {
    let sum: f64 = loads.iter().sum();
    let squares: f64 = loads.iter().map(|x| x * x).sum();
    if squares > 0.0 { sum * sum / (loads.len() as f64 * squares) } else { f64::NAN }
}

/// One estimate of the summary.
#[derive(Clone, Debug, PartialEq)]
pub struct SummaryRow {
    pub mechanism: usize,
    pub scope: Scope,
    pub metric: Metric,
    pub estimate: Estimate,
}

/// Every metric of every mechanism in every scope.
#[derive(Clone, Debug)]
pub struct Summary {
    pub mechanisms: Vec<String>,
    pub agents: Vec<AgentInfo>,
    /// The most expensive agent (by output price), whose solo run is the reference.
    pub largest: usize,
    pub domains: Vec<(String, Vec<f64>)>,
    pub episodes: usize,
    pub rows: Vec<SummaryRow>,
}

impl Summary {
    /// The estimate of a metric, if present.
    #[must_use]
    pub fn get(&self, mechanism: usize, scope: &Scope, metric: &Metric) -> Option<&Estimate> {
        self.rows
            .iter()
            .find(|r| r.mechanism == mechanism && &r.scope == scope && &r.metric == metric)
            .map(|r| &r.estimate)
    }

    /// Human name of a scope.
    #[must_use]
    pub fn scope_name(&self, scope: &Scope) -> String {
        match scope {
            Scope::All => "all".into(),
            Scope::Domain(d) => self.domains[usize::from(*d)].0.clone(),
            Scope::Bin(d, b) => {
                let (name, bins) = &self.domains[usize::from(*d)];
                format!("{name}/tau<={}", bins[usize::from(*b)])
            }
        }
    }

    /// All scopes, overall first.
    #[must_use]
    pub fn scopes(&self) -> Vec<Scope> {
        let mut v = vec![Scope::All];
        for (d, (_, bins)) in self.domains.iter().enumerate() {
            v.push(Scope::Domain(d as u16));
            v.extend((0..bins.len()).map(|b| Scope::Bin(d as u16, b as u8)));
        }
        v
    }
}

/// Per episode, per mechanism, per scope totals: `totals[scope][mechanism][episode]`, where
/// episodes are positions in the sorted list `episodes`.
fn totals(batch: &BatchResult, scopes: &[Scope], episodes: &[u32]) -> Vec<Vec<Vec<EpisodeTotals>>> {
    let m = batch.mechanisms.len();
    let n_agents = batch.agents.len();
    let mut out = vec![vec![vec![EpisodeTotals::default(); episodes.len()]; m]; scopes.len()];
    let scope_index = |s: &Scope| scopes.iter().position(|x| x == s);
    for run in &batch.runs {
        let e = episodes.binary_search(&run.episode).unwrap_or(0);
        for r in &run.records {
            for scope in [Scope::All, Scope::Domain(r.domain), Scope::Bin(r.domain, r.bin)] {
                if let Some(i) = scope_index(&scope) {
                    out[i][usize::from(run.mechanism)][e].add(r, n_agents);
                }
            }
        }
    }
    out
}

/// Summarise a batch run. The paired metrics (against the largest agent alone and against the
/// oracle) are omitted when the batch lacks those.
#[must_use]
pub fn summarise(batch: &BatchResult, workload: &WorkloadSpec) -> Summary {
    let largest = tender_agents::References::of(&batch.agents).largest;
    let role = |role: Role| batch.mechanisms.iter().position(|m| m.role() == role);
    let (solo_largest, oracle) = (role(Role::Alone(largest)), role(Role::Oracle));
    let mut episodes: Vec<u32> = batch.runs.iter().map(|r| r.episode).collect();
    episodes.sort_unstable();
    episodes.dedup();
    let mut summary = Summary {
        mechanisms: batch.names(),
        agents: batch.agents.clone(),
        largest,
        domains: workload
            .domains
            .iter()
            .map(|d| (d.name.clone(), d.bins.iter().map(|b| b.tau_max).collect()))
            .collect(),
        episodes: episodes.len(),
        rows: Vec::new(),
    };
    let scopes = summary.scopes();
    let totals = totals(batch, &scopes, &episodes);
    for (s, scope) in scopes.iter().enumerate() {
        // Only sources that can fail, misread or abstain (live agents, replays) report their
        // cells, and then for every mechanism.
        let counts_cells = totals[s].iter().flatten().any(|t| t.failed_calls + t.unparsed + t.abstained > 0);
        for m in 0..batch.mechanisms.len() {
            let eps = &totals[s][m];
            let paired = |reference: Option<usize>, f: &dyn Fn(&EpisodeTotals, &EpisodeTotals) -> f64| {
                reference.map(|r| Estimate::of(eps.iter().zip(&totals[s][r]).map(|(a, b)| f(a, b))))
            };
            let mut push = |metric: Metric, estimate: Option<Estimate>| {
                if let Some(estimate) = estimate {
                    summary.rows.push(SummaryRow { mechanism: m, scope: scope.clone(), metric, estimate });
                }
            };
            let each = |metric: &Metric| Some(metric.estimate(eps.iter().map(|t| metric.of(t).unwrap_or(f64::NAN))));
            for metric in [
                Metric::PassAt1,
                Metric::TotalCost,
                Metric::CostPerMTok,
                Metric::CostPerDeliveredMTok,
                Metric::ExecutionCostPerMTok,
                Metric::OverheadCost,
                Metric::OverheadTokenShare,
            ] {
                push(metric.clone(), each(&metric));
            }
            for a in 0..batch.agents.len() {
                push(Metric::Share(a), each(&Metric::Share(a)));
            }
            push(
                Metric::RelianceReduction,
                Some(Metric::RelianceReduction.estimate(eps.iter().map(|t| 1.0 - t.share(largest)))),
            );
            push(
                Metric::CostReduction,
                paired(solo_largest, &|a, b| 1.0 - EpisodeTotals::ratio(a.cost_per_mtok(), b.cost_per_mtok())),
            );
            push(Metric::SpendReduction, paired(solo_largest, &|a, b| 1.0 - EpisodeTotals::ratio(a.cost, b.cost)));
            push(Metric::OracleGap, paired(oracle, &|a, o| o.pass_at_1() - a.pass_at_1()));
            for metric in [Metric::Welfare, Metric::CostOfPass, Metric::JainFairness, Metric::DroppedShare] {
                push(metric.clone(), each(&metric));
            }
            if eps.iter().any(|t| t.paid_tasks > 0) {
                push(Metric::BuyerSurplus, each(&Metric::BuyerSurplus));
            }
            if counts_cells {
                for metric in [Metric::FailedCalls, Metric::UnparsedReplies, Metric::Abstentions] {
                    push(metric.clone(), each(&metric));
                }
            }
            if eps.iter().any(|t| !t.latencies.is_empty()) {
                for metric in LATENCY {
                    push(metric.clone(), each(&metric));
                }
                if eps.iter().any(|t| t.targeted > 0) {
                    push(Metric::TargetMet, each(&Metric::TargetMet));
                }
            }
            if *scope == Scope::All {
                let runs: Vec<&tender_engine::EpisodeRun> =
                    batch.runs.iter().filter(|r| usize::from(r.mechanism) == m && !r.utilisation.is_empty()).collect();
                if !runs.is_empty() {
                    for a in 0..batch.agents.len() {
                        let values = runs.iter().map(|r| r.utilisation.get(a).copied().unwrap_or(f64::NAN));
                        push(Metric::Utilisation(a), Some(Estimate::of(values)));
                    }
                }
                // Money, where it says more than the cost: agents with costs of their own, or a
                // mechanism that pays.
                if batch.agents.iter().any(|a| a.unit_cost.is_some()) || eps.iter().any(|t| t.paid_tasks > 0) {
                    let runs: Vec<&tender_engine::EpisodeRun> =
                        batch.runs.iter().filter(|r| usize::from(r.mechanism) == m).collect();
                    let books: Vec<Vec<crate::accounts::Account>> =
                        runs.iter().map(|r| crate::accounts::accounts(&r.records, &batch.agents)).collect();
                    for a in 0..batch.agents.len() {
                        push(Metric::Revenue(a), Some(Estimate::of(books.iter().map(|b| b[a].revenue))));
                        push(Metric::Profit(a), Some(Estimate::of(books.iter().map(|b| b[a].profit()))));
                    }
                    let profit = books.iter().map(|b| b.iter().map(crate::accounts::Account::profit).sum::<f64>());
                    push(Metric::AgentsProfit, Some(Estimate::of(profit)));
                    let pays = runs.iter().map(|r| crate::accounts::buyer_pays(&r.records));
                    push(Metric::BuyerPays, Some(Estimate::of(pays)));
                }
            }
            let mut reported: Vec<Quantity> = Vec::new();
            // An agent index has no episode value.
            for &(q, _, _) in eps.iter().flat_map(|t| &t.reported).filter(|(q, _, _)| q.meaning != Meaning::Agent) {
                if !reported.iter().any(|r| r.id == q.id) {
                    reported.push(q);
                }
            }
            for q in reported {
                let metric = Metric::Reported(q);
                push(metric.clone(), each(&metric));
            }
        }
    }
    summary
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::jain;

    proptest! {
        #[test]
        fn jains_index_lies_between_one_over_n_and_one(loads in prop::collection::vec(0.0f64..1000.0, 1..12)) {
            prop_assume!(loads.iter().any(|&x| x > 0.0));
            let j = jain(&loads);
            let n = loads.len() as f64;
            prop_assert!(j >= 1.0 / n - 1e-12 && j <= 1.0 + 1e-12, "{j}");
        }
    }

    #[test]
    fn jain_extremes() {
        assert_eq!(jain(&[3.0, 3.0, 3.0]), 1.0);
        assert_eq!(jain(&[5.0, 0.0, 0.0, 0.0]), 0.25);
        assert!(jain(&[0.0, 0.0]).is_nan());
    }
}
