//! Behaviour seen through a source: every plan, verdict, refinement and execution a run asks for,
//! so that a live run (replayed from its trace) and stand-ins can be compared on what agents and
//! jurors *do*, not only on outcomes: plan lengths and entropies, verdicts on their own and on
//! others' plans, unreadable verdicts and abstentions, refinements and what memory offered them.

use std::sync::{Arc, Mutex};

use crate::cells::{ExecutionCell, JuryCell, PlanCell, Recall, Status};
use crate::profile::{AgentProfile, EntropySpec, LogNormalSpec};
use crate::source::{AgentInfo, CellKey, OutcomeSource, Provides};

/// A source that passes every call through and notes what came back.
pub struct Observed {
    inner: Arc<dyn OutcomeSource>,
    /// Per agent: the similarity from which a retrieved lesson counts as relevant.
    thresholds: Vec<f64>,
    log: Mutex<Log>,
}

/// What was seen, in call order (which depends on threads: [`Behaviour::of`] reads it in an
/// order of its own).
#[derive(Clone, Debug, Default)]
pub struct Log {
    /// `(episode seed, task, agent, plan)`, initial plans only.
    pub plans: Vec<(u64, u32, usize, PlanCell)>,
    /// `(author, juror, verdict)`.
    pub verdicts: Vec<(usize, usize, JuryCell)>,
    /// `(agent, relevant lessons offered, refined plan)`.
    pub refinements: Vec<(usize, usize, PlanCell)>,
    /// `(episode seed, task, agent, success)`.
    pub executions: Vec<(u64, u32, usize, bool)>,
}

impl Observed {
    /// `thresholds[agent]`: the similarity at which a retrieved lesson counts (its
    /// `lesson_min_similarity`).
    pub fn new(inner: Arc<dyn OutcomeSource>, thresholds: Vec<f64>) -> Self {
        Self { inner, thresholds, log: Mutex::new(Log::default()) }
    }

    /// Everything seen so far.
    #[must_use]
    pub fn log(&self) -> Log {
        self.log.lock().map(|l| l.clone()).unwrap_or_default()
    }

    fn note(&self, f: impl FnOnce(&mut Log)) {
        if let Ok(mut log) = self.log.lock() {
            f(&mut log);
        }
    }
}

impl OutcomeSource for Observed {
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
        let plan = self.inner.plan(key);
        self.note(|l| l.plans.push((key.episode_seed, key.task.id, key.agent, plan)));
        plan
    }

    fn refine(&self, key: CellKey<'_>, recall: &Recall<'_>) -> PlanCell {
        let plan = self.inner.refine(key, recall);
        let threshold = self.thresholds.get(key.agent).copied().unwrap_or(0.0);
        let relevant = recall.pairs.iter().take(recall.k).filter(|p| f64::from(p.similarity) >= threshold).count();
        self.note(|l| l.refinements.push((key.agent, relevant, plan)));
        plan
    }

    fn best_plan(&self, key: CellKey<'_>) -> Option<PlanCell> {
        self.inner.best_plan(key)
    }

    fn judge(&self, key: CellKey<'_>, plan: &PlanCell, juror: usize) -> JuryCell {
        let verdict = self.inner.judge(key, plan, juror);
        self.note(|l| l.verdicts.push((key.agent, juror, verdict)));
        verdict
    }

    fn judge_panel(&self, key: CellKey<'_>, plan: &PlanCell, scores: &mut [JuryCell]) {
        self.inner.judge_panel(key, plan, scores);
        self.note(|l| l.verdicts.extend(scores.iter().enumerate().map(|(j, v)| (key.agent, j, *v))));
    }

    fn execute(&self, key: CellKey<'_>, plan: Option<&PlanCell>) -> ExecutionCell {
        let cell = self.inner.execute(key, plan);
        if plan.is_none() {
            // An agent's own try at the task (each agent alone): what its plans are read against.
            self.note(|l| l.executions.push((key.episode_seed, key.task.id, key.agent, cell.success)));
        }
        cell
    }
}

/// Verdicts of one juror on one kind of plan (its own, or its peers').
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Verdicts {
    pub asked: usize,
    /// Scored verdicts by score, 0 to 5.
    pub scores: [usize; 6],
    pub unparsed: usize,
    pub abstained: usize,
}

impl Verdicts {
    /// Count one verdict.
    pub fn add(&mut self, v: &JuryCell) {
        self.asked += 1;
        match (v.score, v.status) {
            (Some(s), _) => self.scores[usize::from(s.min(5))] += 1,
            (None, Status::Unparsed) => self.unparsed += 1,
            (None, Status::Abstained) => self.abstained += 1,
            (None, _) => {}
        }
    }

    #[must_use]
    pub fn scored(&self) -> usize {
        self.scores.iter().sum()
    }

    /// Mean score of the scored verdicts.
    #[must_use]
    pub fn mean(&self) -> f64 {
        self.scores.iter().enumerate().map(|(s, n)| (s * n) as f64).sum::<f64>() / self.scored() as f64
    }

    /// The share of scored verdicts that give the most frequent score: 1 for a juror that
    /// always says the same.
    #[must_use]
    pub fn modal_share(&self) -> (u8, f64) {
        let (score, n) = self.scores.iter().enumerate().max_by_key(|(s, n)| (**n, usize::MAX - s)).unwrap_or((0, &0));
        (score as u8, *n as f64 / self.scored() as f64)
    }

    /// Unparsed verdicts among those asked of a juror that did not abstain.
    #[must_use]
    pub fn unparsed_rate(&self) -> f64 {
        self.unparsed as f64 / (self.asked - self.abstained) as f64
    }

    #[must_use]
    pub fn abstention_rate(&self) -> f64 {
        self.abstained as f64 / self.asked as f64
    }
}

/// Mean and standard deviation.
fn moments(values: &[f64]) -> (f64, f64) {
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n;
    let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0).max(1.0);
    (mean, var.sqrt())
}

/// What one agent did, as planner, juror and refiner.
#[derive(Clone, Debug, PartialEq)]
pub struct AgentBehaviour {
    /// Initial plans written (not failed).
    pub plans: usize,
    /// Mean and standard deviation of `ln(plan length in tokens)`.
    pub log_length: (f64, f64),
    /// Mean and standard deviation of the plans' entropy.
    pub entropy: (f64, f64),
    /// Mean entropy of plans for tasks the agent then solved alone, minus that for tasks it
    /// failed (NaN without both).
    pub entropy_gap: f64,
    /// The same for `ln(plan length)`.
    pub log_length_gap: f64,
    /// As a juror: on its own plans, and on its peers'.
    pub own: Verdicts,
    pub peers: Verdicts,
    /// Refinements asked of it, and per initial plan.
    pub refinements: usize,
    pub refinement_rate: f64,
    /// Refinements to which memory offered at least one relevant lesson.
    pub retrieval_rate: f64,
}

impl AgentBehaviour {
    /// Give a stand-in what this agent was seen doing, by moments: its plans' log-length and
    /// entropy distributions, and as a juror its abstentions on peers' plans, its unreadable
    /// verdicts, and a saturated score when one score is at least half of its readable verdicts
    /// (with no self-bias: a saturated juror shows none). Skill, accuracy and memory gain are
    /// outcomes, left to calibration.
    pub fn give_to(&self, profile: &mut AgentProfile) {
        if self.plans > 0 {
            profile.plan_tokens = LogNormalSpec { median: self.log_length.0.exp(), sigma: self.log_length.1 };
            profile.entropy = EntropySpec { mean: self.entropy.0, sd: self.entropy.1 };
        }
        self.give_abstentions_to(profile);
        let mut all = self.own;
        for (n, p) in all.scores.iter_mut().zip(self.peers.scores) {
            *n += p;
        }
        all.unparsed += self.peers.unparsed;
        all.asked += self.peers.asked - self.peers.abstained;
        let unreadable = all.unparsed_rate();
        profile.juror.unreadable = if unreadable.is_finite() { unreadable } else { 0.0 };
        let (score, share) = all.modal_share();
        (profile.juror.saturation, profile.juror.saturated_score) =
            if share.is_finite() && share >= 0.5 { (share, score) } else { (0.0, 5) };
        profile.juror.self_bias = 0.0;
    }

    /// Only the juror's abstentions on its peers' plans.
    pub fn give_abstentions_to(&self, profile: &mut AgentProfile) {
        let abstain = self.peers.abstention_rate();
        profile.juror.abstain = if abstain.is_finite() { abstain } else { 0.0 };
    }
}

/// Everyone's behaviour in a log.
#[derive(Clone, Debug, PartialEq)]
pub struct Behaviour {
    pub agents: Vec<AgentBehaviour>,
}

impl Behaviour {
    /// The share of the refinements of `agents` to which memory offered a relevant lesson.
    #[must_use]
    pub fn retrieval_rate(&self, agents: &[usize]) -> f64 {
        let (found, asked) = agents.iter().filter_map(|&a| self.agents.get(a)).fold((0.0, 0.0), |(f, n), b| {
            let r = b.refinements as f64;
            (f + if r > 0.0 { b.retrieval_rate * r } else { 0.0 }, n + r)
        });
        found / asked
    }

    /// Read a log of `agents` agents.
    #[must_use]
    pub fn of(log: &Log, agents: usize) -> Self {
        let mut executions: Vec<(u64, u32, usize, bool)> = log.executions.clone();
        executions.sort_unstable();
        executions.dedup();
        let solved = |seed: u64, task: u32, agent: usize| {
            executions.binary_search_by(|e| (e.0, e.1, e.2).cmp(&(seed, task, agent))).ok().map(|i| executions[i].3)
        };
        let out = (0..agents)
            .map(|a| {
                let mut mine: Vec<&(u64, u32, usize, PlanCell)> =
                    log.plans.iter().filter(|p| p.2 == a && p.3.status == Status::Answered).collect();
                mine.sort_by_key(|p| (p.0, p.1));
                let lengths: Vec<f64> = mine.iter().map(|p| f64::from(p.3.length.max(1)).ln()).collect();
                let entropies: Vec<f64> = mine.iter().map(|p| p.3.entropy).collect();
                let gap = |values: &[f64]| {
                    let split = |want: bool| -> Vec<f64> {
                        mine.iter()
                            .zip(values)
                            .filter(|(p, _)| solved(p.0, p.1, a) == Some(want))
                            .map(|(_, v)| *v)
                            .collect()
                    };
                    let (yes, no) = (split(true), split(false));
                    if yes.is_empty() || no.is_empty() { f64::NAN } else { moments(&yes).0 - moments(&no).0 }
                };
                let (mut own, mut peers) = (Verdicts::default(), Verdicts::default());
                for (author, juror, v) in &log.verdicts {
                    if *juror == a {
                        if *author == a { own.add(v) } else { peers.add(v) }
                    }
                }
                let refinements: Vec<&(usize, usize, PlanCell)> = log.refinements.iter().filter(|r| r.0 == a).collect();
                let asked = log.plans.iter().filter(|p| p.2 == a).count();
                AgentBehaviour {
                    plans: mine.len(),
                    log_length: moments(&lengths),
                    entropy: moments(&entropies),
                    entropy_gap: gap(&entropies),
                    log_length_gap: gap(&lengths),
                    own,
                    peers,
                    refinements: refinements.len(),
                    refinement_rate: refinements.len() as f64 / asked as f64,
                    retrieval_rate: refinements.iter().filter(|r| r.1 > 0).count() as f64 / refinements.len() as f64,
                }
            })
            .collect();
        Self { agents: out }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cells::Usage;

    #[test]
    fn verdicts_count_scores_unreadable_and_abstentions_apart() {
        let mut v = Verdicts::default();
        for cell in [
            JuryCell::scored(5, Usage::default()),
            JuryCell::scored(5, Usage::default()),
            JuryCell::scored(2, Usage::default()),
            JuryCell::without_score(Status::Unparsed, Usage::default()),
            JuryCell::without_score(Status::Abstained, Usage::default()),
        ] {
            v.add(&cell);
        }
        assert_eq!((v.asked, v.scored(), v.unparsed, v.abstained), (5, 3, 1, 1));
        assert_eq!(v.modal_share(), (5, 2.0 / 3.0));
        assert!((v.mean() - 4.0).abs() < 1e-12);
        assert!((v.unparsed_rate() - 0.25).abs() < 1e-12);
        assert!((v.abstention_rate() - 0.2).abs() < 1e-12);
    }
}
