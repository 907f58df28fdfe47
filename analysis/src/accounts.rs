//! Money per agent: what each agent is paid for the tasks it executes and what producing their
//! tokens costs it, per episode.
//!
//! An agent is paid the mechanism's payment where it reports one (procurement auctions), and
//! otherwise what it charges at its prices (pay-as-bid: SALE, routers). Its cost is its own
//! (`unit_cost`, or its prices when the scenario gives none). Plans and verdicts are the
//! buyer's overhead at the agents' prices and stay out of the agents' accounts; a cascade's
//! earlier attempts count toward the agent that delivered the answer.

use tender_agents::AgentInfo;
use tender_engine::TaskRecord;

/// One agent's takings in one episode.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Account {
    /// Tasks it executed.
    pub wins: u32,
    /// Dollars it was paid.
    pub revenue: f64,
    /// Dollars its executions cost it.
    pub cost: f64,
}

impl Account {
    #[must_use]
    pub fn profit(&self) -> f64 {
        self.revenue - self.cost
    }
}

/// Every agent's account over one episode's records, by agent index.
#[must_use]
pub fn accounts(records: &[TaskRecord], agents: &[AgentInfo]) -> Vec<Account> {
    let mut out = vec![Account::default(); agents.len()];
    for r in records {
        let Some((account, agent)) = out.get_mut(usize::from(r.winner)).zip(agents.get(usize::from(r.winner))) else {
            continue;
        };
        account.wins += 1;
        account.revenue += r.payment().unwrap_or(r.execution_cost);
        account.cost += agent.own_cost(r.execution);
    }
    out
}

/// What the buyer pays in one episode: the auction's overhead at the agents' prices, and for each
/// execution the mechanism's payment, or the agent's charges where there is none.
#[must_use]
pub fn buyer_pays(records: &[TaskRecord]) -> f64 {
    records.iter().map(|r| r.overhead_cost + r.payment().unwrap_or(r.execution_cost)).sum()
}
