//! Strategic agents: how an agent may play a market other than truthfully, through actions a
//! market observes only (the scores it gives as a juror, the length of the plans it bids, the
//! markup of its bids in procurement auctions), never through its skill.
//!
//! A [`Strategy`] is part of an agent's profile; [`Strategic`] applies the pool's strategies to
//! any outcome source (stand-ins, live models, recorded tables) by post-processing its cells, so
//! a stand-in's jurors read a padded plan's length as they would a long plan's, and a live
//! agent's verdicts are changed after they are parsed.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::cells::{ExecutionCell, JuryCell, PlanCell, Recall};
use crate::source::{AgentInfo, CellKey, OutcomeSource, Provides};
use crate::validate::Checker;

/// Highest score a juror gives (scores run from 0 to 5).
pub const MAX_SCORE: u8 = 5;

/// How a juror changes the score it would honestly give.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub enum Shift {
    /// The honest score.
    #[default]
    Truthful,
    /// Always this score.
    Score(u8),
    /// The honest score plus this much, at most 5.
    Raise(u8),
    /// The honest score minus this much, at least 0.
    Lower(u8),
}

impl Shift {
    #[must_use]
    pub fn apply(self, score: u8) -> u8 {
        match self {
            Self::Truthful => score,
            Self::Score(s) => s.min(MAX_SCORE),
            Self::Raise(d) => score.saturating_add(d).min(MAX_SCORE),
            Self::Lower(d) => score.saturating_sub(d),
        }
    }

    fn check(self, c: &mut Checker, field: &str) {
        if let Self::Score(d) | Self::Raise(d) | Self::Lower(d) = self {
            c.count(field, d.into(), 0, MAX_SCORE.into());
        }
    }
}

crate::documented! {
    /// How an agent plays the market (an agent's `strategy: (...)`). The default is truthful in
    /// every respect.
    #[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
    #[serde(deny_unknown_fields, default)]
    pub struct Strategy {
        /// How it scores its own plans as a juror: always `s`, `d` more or less (at most 5, at
        /// least 0), or truthfully. Self-score inflation: `Score(5)`, `Raise(1)`.
        pub own_plans: Shift, shown "`Truthful`", allowed "`Truthful`, `Score(s)`, `Raise(d)`, `Lower(d)` (s, d in [0, 5])";
        /// The same, for every other agent's plans outside its cartel. Peer-score deflation:
        /// `Lower(1)`, `Score(0)`.
        pub rivals: Shift, shown "`Truthful`", allowed "`Truthful`, `Score(s)`, `Raise(d)`, `Lower(d)` (s, d in [0, 5])";
        /// Agents whose plans it scores 5 whatever they are worth: a jury cartel, each member
        /// naming the others.
        pub cartel: Vec<String>, shown "`[]`", allowed "other agents of the pool";
        /// Factor on the length of every plan it bids (and the output tokens billed for writing
        /// it): plan padding above 1, trimming below. SALE's cost term and the jurors read the new
        /// length.
        pub plan_length: f64, default UNCHANGED, in [0.05, 20.0];
        /// In procurement auctions, its bid is its predicted cost times `1 + bid_markup`: price
        /// shading, above 0 asking more than its cost, below 0 undercutting it.
        pub bid_markup: f64, default NO_MARKUP, in [-0.95, 100.0];
    }
}

/// A truthful agent's plan-length factor and bid markup.
const UNCHANGED: f64 = 1.0;
const NO_MARKUP: f64 = 0.0;

impl Default for Strategy {
    fn default() -> Self {
        Self {
            own_plans: Shift::Truthful,
            rivals: Shift::Truthful,
            cartel: Vec::new(),
            plan_length: UNCHANGED,
            bid_markup: NO_MARKUP,
        }
    }
}

impl Strategy {
    /// Whether it changes nothing.
    #[must_use]
    pub fn is_truthful(&self) -> bool {
        *self == Self::default()
    }

    /// Check every field; `agents` are the pool's names, `own` the agent's.
    pub fn check(&self, c: &mut Checker, agents: &[&str], own: &str) {
        self.own_plans.check(c, "own_plans");
        self.rivals.check(c, "rivals");
        self.check_ranges(c);
        for (i, name) in self.cartel.iter().enumerate() {
            c.require(
                agents.contains(&name.as_str()) && name != own,
                &format!("cartel[{i}]"),
                format!("{name:?}"),
                "must name another agent of the pool",
            );
        }
    }
}

/// An outcome source whose agents play their strategies. Cells are the inner source's, changed
/// only as each strategy says: a plan's length (and the output tokens that wrote it) scaled, a
/// verdict shifted. Executions are untouched: a strategy never changes what an agent can do.
pub struct Strategic {
    inner: Arc<dyn OutcomeSource>,
    strategies: Vec<Strategy>,
    /// `cartel[juror][author]`: whether the juror scores the author's plans 5.
    cartel: Vec<Vec<bool>>,
}

impl Strategic {
    /// `inner` with the pool's strategies (by agent index) applied, or `inner` itself when every
    /// agent is truthful (so a truthful pool's records are exactly the inner source's).
    #[must_use]
    pub fn wrap(inner: Arc<dyn OutcomeSource>, strategies: Vec<Strategy>) -> Arc<dyn OutcomeSource> {
        if strategies.iter().all(Strategy::is_truthful) {
            return inner;
        }
        let names: Vec<&str> = inner.agents().iter().map(|a| a.name.as_str()).collect();
        let cartel =
            strategies.iter().map(|s| names.iter().map(|n| s.cartel.iter().any(|c| c == n)).collect()).collect();
        Arc::new(Self { inner, strategies, cartel })
    }

    fn padded(&self, agent: usize, mut plan: PlanCell) -> PlanCell {
        let f = self.strategies[agent].plan_length;
        if f != 1.0 {
            let scale = |x: f64| (x * f).round().max(1.0);
            plan.length = scale(f64::from(plan.length)) as u32;
            plan.usage.output = scale(plan.usage.output as f64) as u64;
        }
        plan
    }

    fn verdict(&self, author: usize, juror: usize, mut cell: JuryCell) -> JuryCell {
        let s = &self.strategies[juror];
        cell.score = cell.score.map(|score| {
            if juror == author {
                s.own_plans.apply(score)
            } else if self.cartel[juror][author] {
                MAX_SCORE
            } else {
                s.rivals.apply(score)
            }
        });
        cell
    }
}

impl OutcomeSource for Strategic {
    fn agents(&self) -> &[AgentInfo] {
        self.inner.agents()
    }

    fn provides(&self) -> Provides {
        self.inner.provides()
    }

    fn io_parallelism(&self) -> Option<usize> {
        self.inner.io_parallelism()
    }

    fn plan(&self, key: CellKey<'_>) -> PlanCell {
        self.padded(key.agent, self.inner.plan(key))
    }

    fn refine(&self, key: CellKey<'_>, recall: &Recall<'_>) -> PlanCell {
        self.padded(key.agent, self.inner.refine(key, recall))
    }

    /// The oracle's bound is what the agent could do, not what it bids.
    fn best_plan(&self, key: CellKey<'_>) -> Option<PlanCell> {
        self.inner.best_plan(key)
    }

    fn judge(&self, key: CellKey<'_>, plan: &PlanCell, juror: usize) -> JuryCell {
        self.verdict(key.agent, juror, self.inner.judge(key, plan, juror))
    }

    fn judge_panel(&self, key: CellKey<'_>, plan: &PlanCell, scores: &mut [JuryCell]) {
        self.inner.judge_panel(key, plan, scores);
        for (juror, slot) in scores.iter_mut().enumerate() {
            *slot = self.verdict(key.agent, juror, *slot);
        }
    }

    fn execute(&self, key: CellKey<'_>, plan: Option<&PlanCell>) -> ExecutionCell {
        self.inner.execute(key, plan)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shifts_stay_on_the_score_scale() {
        assert_eq!(Shift::Truthful.apply(3), 3);
        assert_eq!(Shift::Score(5).apply(0), 5);
        assert_eq!(Shift::Raise(2).apply(4), 5);
        assert_eq!(Shift::Lower(2).apply(1), 0);
        assert_eq!(Shift::Score(9).apply(1), 5);
    }

    #[test]
    fn a_strategy_checks_its_ranges_and_its_cartel() {
        let mut c = Checker::default();
        let s = Strategy {
            own_plans: Shift::Raise(7),
            cartel: vec!["b".into(), "a".into(), "z".into()],
            plan_length: 0.0,
            ..Strategy::default()
        };
        s.check(&mut c, &["a", "b"], "a");
        let errors = c.finish().expect_err("invalid").to_string();
        for field in ["own_plans", "plan_length", "cartel[1]", "cartel[2]"] {
            assert!(errors.contains(field), "{field}: {errors}");
        }
        assert!(!errors.contains("cartel[0]"), "{errors}");
    }
}
