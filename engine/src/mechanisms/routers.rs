//! Routers that learn from training tasks and see only the task (the SALE paper's baselines):
//! CARROT-style kNN, a TO-Router-style classifier, and a willingness-to-pay router.

use bevy_ecs::prelude::*;
use serde::{Deserialize, Serialize};
use tender_agents::fields::FieldDoc;
use tender_agents::validate::Checker;
use tender_agents::{AgentInfo, cheapest_first};

use super::api::{Aggregate, Meaning, Mechanism, MechanismKind, Needs, Pool, Quantity, Resolved};
use super::argmax;
use super::predict::{Softmax, TrainingLog, best_agent, cross_validated_k, knn};
use crate::ledger::Ledger;
use crate::training::TrainingSet;
use crate::world::{Decision, OpenTask, Phase, TaskStream};

tender_agents::documented! {
    /// CARROT-style router (Somerstep et al. 2025, kNN version).
    #[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct CarrotParams {
        /// Name in tables.
        #[serde(default)]
        pub name: Option<String>, shown "\"CARROT\"", allowed "one line, unique among the mechanisms";
        /// Neighbours among the training tasks (cosine similarity of their embeddings).
        #[serde(default = "ten")]
        pub k: u32, default ten(), in [1, 100_000];
        /// Candidate neighbour counts: when given, each episode chooses its `k` among them, in
        /// place of `k`, by leave-one-out cross-validation on its training tasks (the lowest
        /// Brier score of every agent's estimated success), as a kNN router is tuned on its own
        /// data; the choice is reported per task (`k_chosen`).
        #[serde(default)]
        pub k_choices: Vec<u32>, shown "`[]`", allowed "at most 100 values, each in [1, 100,000]";
        /// Price of a dollar in pass@1: the router picks the highest `p̂ − lambda × ĉ`.
        #[serde(default = "one")]
        pub lambda: f64, default one(), in [0.0, 1e9];
        /// A curve of trade-offs: one router per value, named `NAME λ=VALUE`, in place of `lambda`
        /// (the routing report's APGR is taken over them).
        #[serde(default)]
        pub lambdas: Vec<f64>, shown "`[]`", allowed "at most 1,000 values, each in [0, 1,000,000,000]";
    }
}

tender_agents::documented! {
    /// TO-Router-style classifier (Stripelis et al. 2024): multinomial logistic regression from the
    /// task's embedding to the agent that should take it.
    #[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct ToRouterParams {
        /// Name in tables.
        #[serde(default)]
        pub name: Option<String>, shown "\"TO-Router\"", allowed "one line, unique among the mechanisms";
        /// Full-batch gradient-descent steps, from zero weights.
        #[serde(default = "epochs")]
        pub epochs: u32, default epochs(), in [1, 1_000_000];
        /// Step size of gradient descent.
        #[serde(default = "half")]
        pub learning_rate: f64, default half(), in [1e-9, 100.0];
        /// L2 penalty on the weights.
        #[serde(default = "small")]
        pub l2: f64, default small(), in [0.0, 100.0];
    }
}

tender_agents::documented! {
    /// Willingness-to-pay router (RouterBench style).
    #[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct WtpParams {
        /// Name in tables.
        #[serde(default)]
        pub name: Option<String>, shown "\"WTP\"", allowed "one line, unique among the mechanisms";
        /// Neighbours among the training tasks.
        #[serde(default = "ten")]
        pub k: u32, default ten(), in [1, 100_000];
        /// Candidate neighbour counts, chosen among per episode as `Carrot`'s `k_choices` are.
        #[serde(default)]
        pub k_choices: Vec<u32>, shown "`[]`", allowed "at most 100 values, each in [1, 100,000]";
        /// Dollars the buyer will pay for one task; the best predicted agent within it is chosen.
        pub willingness_to_pay: f64, in [0.0, 1e9];
    }
}

const fn ten() -> u32 {
    10
}
const fn one() -> f64 {
    1.0
}
const fn epochs() -> u32 {
    300
}
const fn half() -> f64 {
    0.5
}
const fn small() -> f64 {
    1e-3
}

/// A router ready to run.
#[derive(Clone, Debug, PartialEq)]
pub enum Router {
    Carrot { k: Neighbours, lambda: f64 },
    ToRouter { epochs: u32, learning_rate: f64, l2: f64 },
    Wtp { k: Neighbours, willingness_to_pay: f64 },
}

/// How many training tasks a kNN router reads: a given number, or one chosen per episode by
/// cross-validation among candidates (ascending, deduplicated).
#[derive(Clone, Debug, PartialEq)]
pub enum Neighbours {
    Fixed(usize),
    CrossValidated(Vec<usize>),
}

impl Neighbours {
    fn new(k: u32, choices: &[u32]) -> Self {
        if choices.is_empty() {
            return Self::Fixed(k as usize);
        }
        let mut grid: Vec<usize> = choices.iter().map(|&c| c as usize).collect();
        grid.sort_unstable();
        grid.dedup();
        Self::CrossValidated(grid)
    }

    fn choose(&self, log: &TrainingLog) -> usize {
        match self {
            Self::Fixed(k) => *k,
            Self::CrossValidated(grid) => cross_validated_k(log, grid),
        }
    }
}

/// The neighbour count a cross-validated kNN router chose for the episode.
pub const K_CHOSEN: Quantity =
    Quantity { id: "k_chosen", label: "k chosen", meaning: Meaning::Number(Aggregate::Mean), scale: 1.0, decimals: 1 };

fn check_choices(c: &mut Checker, choices: &[u32]) {
    for (i, k) in choices.iter().enumerate() {
        c.range(&format!("k_choices[{i}]"), f64::from(*k), 1.0, 100_000.0);
    }
    c.count("k_choices", choices.len() as u64, 0, 100);
}

impl MechanismKind for CarrotParams {
    const NAME: &'static str = "Carrot";
    const PARAMETERS: &'static [FieldDoc] = Self::FIELDS;
    fn check(&self, c: &mut Checker, _: &Pool<'_>) {
        self.check_ranges(c);
        check_choices(c, &self.k_choices);
        for (i, l) in self.lambdas.iter().enumerate() {
            c.range(&format!("lambdas[{i}]"), *l, 0.0, 1e9);
        }
        c.count("lambdas", self.lambdas.len() as u64, 0, 1000);
    }
    fn needs(&self) -> Needs {
        Needs::TRAINING
    }
    fn resolve(&self, _: &Pool<'_>) -> Vec<Resolved> {
        let base = self.name.clone().unwrap_or_else(|| "CARROT".into());
        let k = Neighbours::new(self.k, &self.k_choices);
        if self.lambdas.is_empty() {
            return vec![Resolved::new(base, Router::Carrot { k, lambda: self.lambda })];
        }
        self.lambdas
            .iter()
            .map(|&lambda| {
                Resolved::new(format!("{base} λ={lambda}"), Router::Carrot { k: k.clone(), lambda }).on_curve(&base)
            })
            .collect()
    }
}

impl MechanismKind for ToRouterParams {
    const NAME: &'static str = "ToRouter";
    const PARAMETERS: &'static [FieldDoc] = Self::FIELDS;
    fn check(&self, c: &mut Checker, _: &Pool<'_>) {
        self.check_ranges(c);
    }
    fn needs(&self) -> Needs {
        Needs::TRAINING
    }
    fn resolve(&self, _: &Pool<'_>) -> Vec<Resolved> {
        let router = Router::ToRouter { epochs: self.epochs, learning_rate: self.learning_rate, l2: self.l2 };
        vec![Resolved::new(self.name.clone().unwrap_or_else(|| "TO-Router".into()), router)]
    }
}

impl MechanismKind for WtpParams {
    const NAME: &'static str = "Wtp";
    const PARAMETERS: &'static [FieldDoc] = Self::FIELDS;
    fn check(&self, c: &mut Checker, _: &Pool<'_>) {
        self.check_ranges(c);
        check_choices(c, &self.k_choices);
    }
    fn needs(&self) -> Needs {
        Needs::TRAINING
    }
    fn resolve(&self, _: &Pool<'_>) -> Vec<Resolved> {
        let router =
            Router::Wtp { k: Neighbours::new(self.k, &self.k_choices), willingness_to_pay: self.willingness_to_pay };
        vec![Resolved::new(self.name.clone().unwrap_or_else(|| "WTP".into()), router)]
    }
}

impl Router {
    /// Whether it chooses its neighbour count per episode (and reports it).
    fn chooses_k(&self) -> bool {
        matches!(self, Router::Carrot { k: Neighbours::CrossValidated(_), .. } | Router::Wtp { k: Neighbours::CrossValidated(_), .. })
    }
}

/// What a trained router carries into the episode.
#[derive(Resource)]
struct Model {
    router: Router,
    /// The kNN routers' neighbour count for the episode.
    k: usize,
    log: TrainingLog,
    classifier: Option<Softmax>,
    by_price: Vec<usize>,
}

impl Mechanism for Router {
    fn reads_training_set(&self) -> bool {
        true
    }

    fn install(&self, world: &mut World, schedule: &mut Schedule) {
        let ledger = world.resource::<Ledger>();
        let log = TrainingLog::collect(ledger, TrainingSet::of(world));
        let by_price = cheapest_first(&AgentInfo::prices(ledger.agents()));
        let classifier = match self {
            Router::ToRouter { epochs, learning_rate, l2 } => {
                let inputs: Vec<&[f32]> = log.examples.iter().map(|e| &e.embedding[..]).collect();
                let rates = log.success_rates();
                let labels: Vec<usize> = log.examples.iter().map(|e| best_agent(e, &rates)).collect();
                Some(Softmax::train(&inputs, &labels, log.agents, *epochs, *learning_rate, *l2))
            }
            _ => None,
        };
        let k = match self {
            Router::Carrot { k, .. } | Router::Wtp { k, .. } => k.choose(&log),
            Router::ToRouter { .. } => 0,
        };
        world.insert_resource(Model { router: self.clone(), k, log, classifier, by_price });
        schedule.add_systems(route.in_set(Phase::Award));
    }

    fn reports(&self) -> Vec<Quantity> {
        if self.chooses_k() { vec![K_CHOSEN] } else { Vec::new() }
    }
}

fn route(mut tasks: Query<(&OpenTask, &mut Decision)>, stream_: Res<TaskStream>, model: Res<Model>) {
    for (open, mut decision) in &mut tasks {
        let task = stream_.get(open);
        let order = model.by_price.iter().copied();
        let pick = match &model.router {
            Router::Carrot { lambda, .. } => {
                let est = knn(&model.log, &task.embedding, model.k);
                argmax(order.map(|a| (a, est[a].success - lambda * est[a].cost)))
            }
            Router::Wtp { willingness_to_pay, .. } => {
                let est = knn(&model.log, &task.embedding, model.k);
                argmax(order.clone().filter(|&a| est[a].cost <= *willingness_to_pay).map(|a| (a, est[a].success)))
                    .or_else(|| argmax(order.map(|a| (a, -est[a].cost))))
            }
            Router::ToRouter { .. } => model.classifier.as_ref().and_then(|c| {
                let p = c.predict(&task.embedding);
                argmax(order.map(|a| (a, p[a])))
            }),
        };
        decision.winner = pick.or(model.by_price.first().copied());
        if model.router.chooses_k() {
            decision.report(&K_CHOSEN, model.k as f64);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use tender_agents::OutcomeSource;

    use super::*;
    use crate::episode::run_episode;
    use crate::mechanisms::four_agents;
    use crate::scenario::Scenario;
    use crate::training::Training;

    const ROUTERS: &str = "[Carrot(), ToRouter(), Wtp(willingness_to_pay: 0.2)]";

    fn scenario() -> Scenario {
        Scenario::parse(&four_agents("training: Separate(1),", ROUTERS), "routers").unwrap()
    }

    /// Kendall's tau between the estimated and the true order of the agents on one task.
    fn kendall(est: &[f64], truth: &[f64]) -> f64 {
        let mut score = 0.0;
        let mut pairs = 0.0;
        for i in 0..est.len() {
            for j in i + 1..est.len() {
                score += ((est[i] - est[j]) * (truth[i] - truth[j])).signum();
                pairs += 1.0;
            }
        }
        score / pairs
    }

    #[test]
    fn knn_recovers_the_true_skill_ranking_as_training_grows() {
        let s = scenario();
        let source = Arc::new(s.source().unwrap());
        let mut agreement = Vec::new();
        for sets in [1u32, 16] {
            let (mut tau_sum, mut n, mut mean_est) = (0.0, 0.0, vec![0.0; 4]);
            for seed in 0..3 {
                let split = Training::Separate(sets).split(&s.workload, seed);
                let ledger = Ledger::new(source.clone(), seed);
                let log = TrainingLog::collect(&ledger, &split.train);
                for task in split.eval.iter() {
                    let est: Vec<f64> = knn(&log, &task.embedding, 10).iter().map(|e| e.success).collect();
                    let truth: Vec<f64> = (0..4).map(|a| source.pass_at_1(a, task.domain, task.bin)).collect();
                    tau_sum += kendall(&est, &truth);
                    n += 1.0;
                    for (m, e) in mean_est.iter_mut().zip(&est) {
                        *m += e;
                    }
                }
            }
            agreement.push(tau_sum / n);
            if sets == 16 {
                assert!(mean_est.windows(2).all(|w| w[0] < w[1]), "mean estimates {mean_est:?} out of skill order");
            }
        }
        assert!(agreement[1] > agreement[0] + 0.05, "Kendall tau did not improve with data: {agreement:?}");
        assert!(agreement[1] > 0.4, "{agreement:?}");
    }

    #[test]
    fn routers_that_learn_require_training_data() {
        let text = four_agents("", ROUTERS);
        let err = Scenario::parse(&text, "x").unwrap_err().to_string();
        assert!(err.contains("`mechanisms[0]`"), "{err}");
        assert!(err.contains("needs training data"), "{err}");
    }

    #[test]
    fn every_router_runs_and_picks_a_pool_agent() {
        let s = scenario();
        let source: Arc<dyn OutcomeSource> = Arc::new(s.source().unwrap());
        for r in s.resolve_mechanisms() {
            let (name, tasks) = (r.name, s.training.split(&s.workload, 1));
            let records = run_episode(source.clone(), tasks, &*r.mechanism, &name, 1).unwrap();
            assert_eq!(records.len(), 120, "{name}");
            assert!(records.iter().all(|r| usize::from(r.winner) < 4), "{name}");
        }
    }

    #[test]
    fn a_cross_validated_knn_router_reports_the_k_it_chose_from_its_candidates() {
        let s = Scenario::parse(
            &four_agents("training: Separate(1),", "[Carrot(k_choices: [30, 3, 30]), Wtp(willingness_to_pay: 1)]"),
            "cv",
        )
        .unwrap();
        let source: Arc<dyn OutcomeSource> = Arc::new(s.source().unwrap());
        let mechanisms = s.resolve_mechanisms();
        assert_eq!(mechanisms[0].mechanism.reports(), vec![K_CHOSEN]);
        assert!(mechanisms[1].mechanism.reports().is_empty(), "a fixed k reports nothing");
        for seed in 0..3 {
            let records =
                run_episode(source.clone(), s.training.split(&s.workload, seed), &*mechanisms[0].mechanism, "cv", seed)
                    .unwrap();
            let k = records[0].reported("k_chosen");
            assert!(matches!(k, Some(3.0 | 30.0)), "{k:?}");
            assert!(records.iter().all(|r| r.reported("k_chosen") == k), "one choice per episode");
        }
        let bad = four_agents("training: Separate(1),", "[Carrot(k_choices: [0])]");
        let err = Scenario::parse(&bad, "x").unwrap_err().to_string();
        assert!(err.contains("k_choices[0]"), "{err}");
    }
}
