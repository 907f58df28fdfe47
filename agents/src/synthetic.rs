//! Synthetic LLM stand-ins: potential outcomes drawn from calibrated distributions.
//!
//! For a task and an agent there is one latent *fit* `z ~ N(0, 1)`, built from a part shared by
//! all agents (task difficulty), a part shared by the agent's tasks of the same topic, and an
//! idiosyncratic part. The agent succeeds when `Φ⁻¹(p) + z + boost > 0`, where `p` is the agent's
//! calibrated pass@1 for the task's domain and bin and `boost` is what a refined plan gained from
//! memory: with `boost = 0` the success rate is exactly `p`. Plan length, plan entropy and the
//! jurors' scores are noisy functions of the same latent, so bids carry real but imperfect
//! information about the execution to come.
//!
//! Model v2 adds, each behind a parameter that is off at 0 ([`StandInParams`]): jurors' bias for
//! long plans, plan signals that read the agent's skill, bidders' private knowledge of their own
//! plans, memory gains that grow with accumulated lessons, refinements that rewrite only as much
//! of the original bid as memory taught them, and topics on which terse planners beat verbose
//! ones. Nothing in the model reads an agent's price or name: every effect is keyed on what an
//! agent does (its plans' length and entropy, its fit) or what a juror sees (the plan, whether it
//! is its own).

use std::cell::RefCell;
use std::sync::atomic::{AtomicU64, Ordering};

use rand::RngExt;
use rand_distr::StandardNormal;
use statrs::distribution::{ContinuousCDF, Normal};

use crate::cells::{ExecutionCell, JuryCell, PlanCell, Recall, RetrievedPair, Round, Status, Usage};
#[cfg(test)]
use crate::cells::{Lessons, MemoryView};
use crate::memo::{Memo, get_or_draw};
use crate::profile::{AgentProfile, StandInParams};
use crate::source::{AgentInfo, CellKey, OutcomeSource};
use crate::streams::{KeyPrefix, Purpose, lazy_stream, name_key, stream};
use crate::task::Task;
use crate::validate::{Checker, Invalids};
use crate::workload::WorkloadSpec;

/// The synthetic outcome source of one scenario.
#[derive(Clone, Debug)]
pub struct SyntheticSource {
    agents: Vec<AgentInfo>,
    profiles: Vec<AgentProfile>,
    keys: Vec<u64>,
    /// `Φ⁻¹(pass@1)` per agent, domain and bin.
    thresholds: Vec<Vec<Vec<f64>>>,
    params: StandInParams,
    /// Weights of the shared, topic-affinity, idiosyncratic and topic-difficulty parts of the latent fit.
    weights: [f64; 4],
    /// The pool's typical log plan length (the mean of its agents' log median plan lengths), from
    /// which the jurors' verbosity bias counts.
    typical_log_length: f64,
    /// Per agent: its position between the tersest (-0.5) and the most verbose (+0.5) planner of
    /// the pool on a log scale of median plan length, times `complementary_strength`: its
    /// complementary-topic loading.
    loading: Vec<f64>,
    /// Tells this source's draws from another's in the per-thread memo (clones draw alike).
    memo_id: u64,
    /// Per juror: how it mixes its impression of others' plans, and of its own.
    juror_mix: Vec<[JurorMix; 2]>,
}

/// Sources built so far: each gets its own `memo_id`.
static SOURCES: AtomicU64 = AtomicU64::new(0);

/// Key of a juror's behaviour draws (abstaining, unreadable, saturated) in a plan's jury stream,
/// beside the rounds' keys of its noise.
const JUROR_BEHAVIOUR: u64 = 0xB0;

thread_local! {
    static FITS: RefCell<Memo<Fit>> = const { RefCell::new(Memo::new()) };
    static PLAN_NOISE: RefCell<Memo<PlanNoise>> = const { RefCell::new(Memo::new()) };
    /// A task's shared difficulty and an agent's topic affinity: parts of every fit of the task,
    /// or of the topic.
    static SHARED_PARTS: RefCell<Memo<f64>> = const { RefCell::new(Memo::new()) };
}

/// The agent's latent fit to a task and the trace-length latent that goes with it.
#[derive(Clone, Copy, Debug)]
struct Fit {
    /// `Φ⁻¹(p) + z`: succeeds when positive (before any boost).
    margin: f64,
    /// The agent's deviation from its typical fit to tasks of this bin.
    z: f64,
    /// `Φ⁻¹(p)`: the agent's skill in the task's domain and bin.
    skill: f64,
    length: f64,
}

/// What all jurors of one plan share.
struct Panel {
    margin: f64,
    impression: f64,
    /// How closely the plan follows its author's initial plan ([`SyntheticSource::refine_correlation`]).
    rho: f64,
    /// What the jurors' verbosity bias adds for the plan's length.
    verbosity: f64,
    /// The jurors' noise streams' common key (task, author), mixed once for the whole panel.
    jury: KeyPrefix,
}

/// Draws of a plan's own noise.
#[derive(Clone, Copy)]
struct PlanNoise {
    length: f64,
    entropy: f64,
    impression: f64,
}

fn normal(rng: &mut impl rand::Rng) -> f64 {
    rng.sample(StandardNormal)
}

/// `v.round().clamp(0.0, 5.0) as u8` to the bit, without a call to the C library's `round` (the
/// portable x86-64 build has no rounding instruction, and every juror's verdict rounds): between
/// 0.5 and 4.5, `v + 0.5` is exact where it could reach the next integer, so truncating it
/// rounds half away from zero.
fn likert(v: f64) -> u8 {
    if v >= 4.5 {
        5
    } else if v >= 0.5 {
        (v + 0.5) as u8
    } else {
        // Below 0.5, or not a number.
        0
    }
}

/// `a * x + sqrt(1 - a²) * y`: a standard normal with correlation `a` to `x`.
fn mix(a: f64, x: f64, y: f64) -> f64 {
    Mixer::new(a).apply(x, y)
}

/// [`mix`] with a fixed `a`, its square root taken once.
#[derive(Clone, Copy, Debug)]
struct Mixer {
    a: f64,
    b: f64,
}

impl Mixer {
    fn new(a: f64) -> Self {
        Self { a, b: (1.0 - a * a).max(0.0).sqrt() }
    }

    fn apply(self, x: f64, y: f64) -> f64 {
        self.a * x + self.b * y
    }
}

/// How one juror mixes its impressions, of others' plans and of its own: the shared panel noise
/// with its own, then the plan's margin with that noise.
#[derive(Clone, Copy, Debug)]
struct JurorMix {
    noise: Mixer,
    margin: Mixer,
    bias: f64,
}

/// Most agents in a pool.
pub const MAX_AGENTS: u64 = 4096;

impl SyntheticSource {
    /// Build the source, checking every profile against the workload.
    pub fn new(profiles: Vec<AgentProfile>, params: StandInParams, workload: &WorkloadSpec) -> Result<Self, Invalids> {
        let mut c = Checker::default();
        // The pool's size first: a pool too large is refused before its agents are checked.
        c.count("agents", profiles.len() as u64, 1, MAX_AGENTS);
        c.finish()?;
        let mut c = Checker::default();
        let shapes = workload.domain_shapes();
        c.within("standins", |c| params.check(c));
        for role in [crate::Reference::Largest, crate::Reference::Smallest] {
            let marked: Vec<usize> = (0..profiles.len()).filter(|&i| profiles[i].reference == Some(role)).collect();
            if let [_, second, ..] = marked[..] {
                c.within("agents", |c| {
                    c.within(format!("[{second}]"), |c| {
                        c.require(
                            false,
                            "reference",
                            format!("{role:?}"),
                            "at most one agent of the pool is marked so",
                        );
                    });
                });
            }
        }
        let mut names = std::collections::HashSet::with_capacity(profiles.len());
        let pool: Vec<&str> = profiles.iter().map(|p| p.name.as_str()).collect();
        for (i, p) in profiles.iter().enumerate() {
            c.within("agents", |c| {
                c.within(format!("[{i}]"), |c| {
                    p.check(c, &shapes);
                    c.within("strategy", |c| p.strategy.check(c, &pool, &p.name));
                });
            });
            if !names.insert(p.name.as_str()) {
                c.within("agents", |c| {
                    c.within(format!("[{i}]"), |c| {
                        c.require(false, "name", format!("{:?}", p.name), "must be unique in the pool");
                    });
                });
            }
        }
        c.finish()?;

        let std_normal = Normal::standard();
        let thresholds = profiles
            .iter()
            .map(|p| {
                shapes
                    .iter()
                    .map(|(domain, bins)| match p.skill.get(*domain) {
                        Some(curve) => {
                            curve.iter().map(|&pass| std_normal.inverse_cdf(pass.clamp(1e-9, 1.0 - 1e-9))).collect()
                        }
                        // Live and recorded agents: never asked.
                        None => vec![0.0; *bins],
                    })
                    .collect()
            })
            .collect();
        let agents = profiles.iter().map(AgentProfile::info).collect();
        let keys = profiles.iter().map(|p| name_key(&p.name)).collect();
        let idio = (1.0 - params.shared_difficulty - params.topic_difficulty - params.topic_affinity).max(0.0);
        let weights = [
            params.shared_difficulty.sqrt(),
            params.topic_affinity.sqrt(),
            idio.sqrt(),
            params.topic_difficulty.sqrt(),
        ];
        let log_lengths: Vec<f64> = profiles.iter().map(|p| p.plan_tokens.median.max(1.0).ln()).collect();
        let typical_log_length = log_lengths.iter().sum::<f64>() / log_lengths.len() as f64;
        let tersest = log_lengths.iter().copied().fold(f64::INFINITY, f64::min);
        let span = log_lengths.iter().copied().fold(f64::NEG_INFINITY, f64::max) - tersest;
        let loading = log_lengths
            .iter()
            .map(|ll| if span > 0.0 { params.complementary_strength * ((ll - tersest) / span - 0.5) } else { 0.0 })
            .collect();
        let memo_id = SOURCES.fetch_add(1, Ordering::Relaxed);
        let shared = params.jury_shared_noise.sqrt();
        let sk = params.self_knowledge;
        let juror_mix = profiles
            .iter()
            .map(|p| {
                let j = &p.juror;
                [
                    JurorMix { noise: Mixer::new(shared), margin: Mixer::new(j.accuracy), bias: 0.0 },
                    JurorMix {
                        noise: Mixer::new(shared * (1.0 - sk)),
                        margin: Mixer::new(j.accuracy + sk * (1.0 - j.accuracy)),
                        bias: j.self_bias,
                    },
                ]
            })
            .collect();
        Ok(Self {
            agents,
            profiles,
            keys,
            thresholds,
            params,
            weights,
            typical_log_length,
            loading,
            memo_id,
            juror_mix,
        })
    }

    /// The calibrated pass@1 of `agent` on tasks of this domain and bin.
    #[must_use]
    pub fn pass_at_1(&self, agent: usize, domain: u16, bin: u8) -> f64 {
        Normal::standard().cdf(self.thresholds[agent][usize::from(domain)][usize::from(bin)])
    }

    /// The agent's latent fit to the task, drawn once per (episode, task, agent) and thread.
    fn fit(&self, seed: u64, task: &Task, agent: usize) -> Fit {
        // Everything the draw reads of the task.
        let task_key = u64::from(task.id) | u64::from(task.topic) << 32;
        let cell = agent as u64 | u64::from(task.domain) << 32 | u64::from(task.bin) << 48;
        get_or_draw(&FITS, [self.memo_id, seed, task_key, cell], || self.draw_fit(seed, task, agent))
    }

    fn draw_fit(&self, seed: u64, task: &Task, agent: usize) -> Fit {
        let key = self.keys[agent];
        let part = |purpose: Purpose, ids: &[u64]| {
            let memo_key = [self.memo_id << 4 | purpose as u64, seed, ids[0], ids.get(1).copied().unwrap_or(0)];
            get_or_draw(&SHARED_PARTS, memo_key, || normal(&mut lazy_stream(seed, purpose, ids)))
        };
        let shared = part(Purpose::Difficulty, &[u64::from(task.id)]);
        let topic = part(Purpose::TopicFit, &[u64::from(task.topic), key]);
        let mut rng = stream(seed, Purpose::Fit, &[u64::from(task.id), key]);
        let own = normal(&mut rng);
        let [ws, wt, wi, wd] = self.weights;
        let mut z = ws * shared + wt * topic + wi * own;
        if wd > 0.0 {
            z += wd * part(Purpose::TopicDifficulty, &[u64::from(task.topic)]);
        }
        let length = mix(-self.params.length_failure_correlation, z, normal(&mut rng));
        let loading = self.loading[agent];
        if self.params.complementary_topics > 0.0 && loading != 0.0 {
            // A topic on which smaller agents beat larger ones, or (less strongly) the reverse:
            // `(indicator - share) / sd` has mean 0 and variance 1 over topics.
            let share = self.params.complementary_topics;
            let uniform = |purpose: Purpose, id: u64| {
                let memo_key = [self.memo_id << 4 | purpose as u64, seed, id, 0];
                get_or_draw(&SHARED_PARTS, memo_key, || lazy_stream(seed, purpose, &[id]).random::<f64>())
            };
            // A task of its own (drawn with probability `complementary_by_task`) reuses that
            // draw, rescaled, as its own uniform; the others read their topic's. Either way the
            // indicator is Bernoulli(share). At 0 nothing more is drawn.
            let by_task = self.params.complementary_by_task;
            let own = if by_task > 0.0 { Some(uniform(Purpose::ComplementaryTask, u64::from(task.id))) } else { None };
            let inverted = match own {
                Some(u) if u < by_task => u / by_task < share,
                _ => uniform(Purpose::Complementary, u64::from(task.topic)) < share,
            };
            let unit = (f64::from(u8::from(inverted)) - share) / (share * (1.0 - share)).sqrt();
            let effect = (loading * loading).min(1.0);
            z = (1.0 - effect).sqrt() * z - effect.sqrt() * loading.signum() * unit;
        }
        let skill = self.thresholds[agent][usize::from(task.domain)][usize::from(task.bin)];
        Fit { margin: skill + z, z, skill, length }
    }

    /// A plan's own noise. A refinement's follows the initial plan's with the correlation
    /// [`Self::refine_correlation`] gives it: it rewrites the bid only as far as memory taught it.
    fn plan_noise(&self, seed: u64, task: &Task, agent: usize, plan: Round, boost: f64) -> PlanNoise {
        let agent_key = self.keys[agent];
        let draw = |round: Round| {
            let key = [self.memo_id << 1 | round.key(), seed, u64::from(task.id), agent_key];
            get_or_draw(&PLAN_NOISE, key, || {
                let mut rng = stream(seed, Purpose::Plan, &[u64::from(task.id), agent_key, round.key()]);
                PlanNoise { length: normal(&mut rng), entropy: normal(&mut rng), impression: normal(&mut rng) }
            })
        };
        let first = draw(Round::Initial);
        let rho = self.refine_correlation(agent, plan, boost);
        if rho >= 1.0 {
            return first;
        }
        let fresh = draw(plan);
        PlanNoise {
            length: mix(rho, first.length, fresh.length),
            entropy: mix(rho, first.entropy, fresh.entropy),
            impression: mix(rho, first.impression, fresh.impression),
        }
    }

    /// How closely a plan's noise follows the agent's initial plan for the task: 1 for the
    /// initial plan itself, and for a refinement `1 - u * (1 - refine_noise_correlation)`, where
    /// `u` is the share of its full `memory_gain` that memory gave it. A refinement that learnt
    /// nothing is the initial plan, word for word.
    fn refine_correlation(&self, agent: usize, plan: Round, boost: f64) -> f64 {
        let full = self.profiles[agent].memory_gain;
        if plan == Round::Initial || full <= 0.0 {
            return 1.0;
        }
        let learnt = (boost / full).clamp(0.0, 1.0);
        1.0 - learnt * (1.0 - self.params.refine_noise_correlation)
    }

    fn write_plan(&self, key: CellKey<'_>, round: Round, boost: f64, prompt: u64) -> PlanCell {
        let p = &self.profiles[key.agent];
        let fit = self.fit(key.episode_seed, key.task, key.agent);
        let noise = self.plan_noise(key.episode_seed, key.task, key.agent, round, boost);
        // Plan signals read the agent's fit and, with `skill_signal`, its skill on the task: the
        // length through the same (negative) link the trace has to the fit.
        let skill = self.params.skill_signal * fit.skill;
        let length_latent = fit.length - self.params.length_failure_correlation * skill;
        let log_len = p.plan_tokens.sigma * mix(self.params.plan_trace_correlation, length_latent, noise.length);
        let length = (p.plan_tokens.median * log_len.exp()).round().max(1.0) as u32;
        let entropy =
            p.entropy.mean + p.entropy.sd * mix(self.params.entropy_signal, fit.z + skill + boost, noise.entropy);
        PlanCell {
            round,
            length,
            entropy: entropy.max(0.0),
            boost,
            usage: Usage { input: prompt, output: u64::from(length) },
            text: 0,
            status: Status::Answered,
            seconds: None,
        }
    }

    /// What every juror of this plan sees in common: the plan's true margin and its shared
    /// impression noise.
    fn panel(&self, key: CellKey<'_>, plan: &PlanCell) -> Panel {
        let fit = self.fit(key.episode_seed, key.task, key.agent);
        let impression = self.plan_noise(key.episode_seed, key.task, key.agent, plan.round, plan.boost).impression;
        let jury = KeyPrefix::new(key.episode_seed, Purpose::Jury, &[u64::from(key.task.id), self.keys[key.agent]]);
        let verbosity = self.params.verbosity_bias * (f64::from(plan.length.max(1)).ln() - self.typical_log_length);
        Panel {
            margin: fit.margin + plan.boost,
            impression,
            jury,
            rho: self.refine_correlation(key.agent, plan.round, plan.boost),
            verbosity,
        }
    }

    /// One juror's own noise about a plan; a refinement's follows the initial plan's as closely
    /// as the plan does.
    fn juror_noise(&self, panel: &Panel, round: Round, juror: usize) -> f64 {
        // The stream of (task, author, juror, round).
        let draw = |round: Round| normal(&mut panel.jury.lazy(&[self.keys[juror], round.key()]));
        let first = draw(Round::Initial);
        if panel.rho >= 1.0 { first } else { mix(panel.rho, first, draw(round)) }
    }

    /// One juror's Likert score: its impression of the plan's margin, with its own noise, its
    /// verbosity bias and, for its own plans, its self-bias and self-knowledge.
    fn verdict(&self, key: CellKey<'_>, plan: &PlanCell, panel: &Panel, juror: usize) -> JuryCell {
        let usage = Usage {
            input: u64::from(self.params.jury_prompt_tokens) + u64::from(plan.length),
            output: u64::from(self.params.jury_output_tokens),
        };
        let behaviour = self.profiles[juror].juror;
        if !behaviour.always_reads() {
            // Its own stream of (task, author, juror, round): drawn only for jurors that have
            // such behaviour, so every other draw is unchanged.
            let mut rng = panel.jury.rng(&[self.keys[juror], plan.round.key(), JUROR_BEHAVIOUR]);
            let [abstains, unreadable, saturated]: [f64; 3] = std::array::from_fn(|_| rng.random::<f64>());
            if juror != key.agent && abstains < behaviour.abstain {
                return JuryCell::without_score(Status::Abstained, Usage::default());
            }
            if unreadable < behaviour.unreadable {
                return JuryCell::without_score(Status::Unparsed, usage);
            }
            if saturated < behaviour.saturation {
                return JuryCell::scored(behaviour.saturated_score.min(5), usage);
            }
        }
        let own = self.juror_noise(panel, plan.round, juror);
        // Self-knowledge sharpens, and self-bias shifts, a juror's view of its own plans.
        let m = self.juror_mix[juror][usize::from(juror == key.agent)];
        let noise = m.noise.apply(panel.impression, own);
        let impression = m.margin.apply(panel.margin, noise) + m.bias + panel.verbosity;
        JuryCell::scored(likert(2.5 + 1.25 * impression), usage)
    }

    /// How relevant retrieved experience is, in [0, 1]: the mean over `k` slots of each pair's
    /// similarity, discounted when its winning plan failed. Empty slots count as zero, so a young
    /// memory helps less than a full one.
    #[must_use]
    pub fn relevance(&self, retrieved: &[RetrievedPair], k: usize) -> f64 {
        if k == 0 {
            return 0.0;
        }
        let sum: f64 = retrieved
            .iter()
            .take(k)
            .map(|r| {
                let lesson = if r.winner_succeeded { 1.0 } else { self.params.failed_lesson_weight };
                f64::from(r.similarity.max(0.0)) * lesson
            })
            .sum();
        (sum / k as f64).clamp(0.0, 1.0)
    }

    /// The lessons memory holds for this task: every past task weighted by how far its
    /// similarity exceeds `lesson_min_similarity` (rising linearly to 1 at similarity 1) and,
    /// when its winner failed, by `failed_lesson_weight`.
    #[must_use]
    pub fn lessons(&self, recall: &Recall<'_>) -> f64 {
        match recall.per_task {
            Some(slot) => *slot.get_or_init(|| self.count_lessons(recall)),
            None => self.count_lessons(recall),
        }
    }

    fn count_lessons(&self, recall: &Recall<'_>) -> f64 {
        let Some(memory) = recall.memory else { return 0.0 };
        let floor = self.params.lesson_min_similarity;
        memory.lessons(floor).count(floor, self.params.failed_lesson_weight)
    }

    /// What a refinement gains, in latent units: the agent's `memory_gain`, times the relevance
    /// of the `k` retrieved pairs, times (with `lesson_half`) the saturating share
    /// `lessons / (lessons + lesson_half)` of the gain that accumulated lessons unlock.
    #[must_use]
    pub fn gain(&self, agent: usize, recall: &Recall<'_>) -> f64 {
        let half = self.params.lesson_half;
        let accumulated = if half > 0.0 {
            let lessons = self.lessons(recall);
            lessons / (lessons + half)
        } else {
            1.0
        };
        self.profiles[agent].memory_gain * self.relevance(recall.pairs, recall.k) * accumulated
    }
}

impl OutcomeSource for SyntheticSource {
    fn agents(&self) -> &[AgentInfo] {
        &self.agents
    }

    fn plan(&self, key: CellKey<'_>) -> PlanCell {
        self.write_plan(key, Round::Initial, 0.0, u64::from(self.params.plan_prompt_tokens))
    }

    fn refine(&self, key: CellKey<'_>, recall: &Recall<'_>) -> PlanCell {
        let boost = self.gain(key.agent, recall);
        let shown: u64 =
            recall.pairs.iter().take(recall.k).map(|r| u64::from(r.losing_length + r.winning_length)).sum();
        let prompt = u64::from(self.params.plan_prompt_tokens + self.params.refine_prompt_tokens) + shown;
        self.write_plan(key, Round::Refined, boost, prompt)
    }

    fn best_plan(&self, key: CellKey<'_>) -> Option<PlanCell> {
        let mut plan = self.write_plan(key, Round::Refined, self.profiles[key.agent].memory_gain, 0);
        plan.usage = Usage::default();
        Some(plan)
    }

    fn judge(&self, key: CellKey<'_>, plan: &PlanCell, juror: usize) -> JuryCell {
        let panel = self.panel(key, plan);
        self.verdict(key, plan, &panel, juror)
    }

    fn judge_panel(&self, key: CellKey<'_>, plan: &PlanCell, scores: &mut [JuryCell]) {
        let panel = self.panel(key, plan);
        for (juror, slot) in scores.iter_mut().enumerate() {
            *slot = self.verdict(key, plan, &panel, juror);
        }
    }

    fn execute(&self, key: CellKey<'_>, plan: Option<&PlanCell>) -> ExecutionCell {
        let p = &self.profiles[key.agent];
        let fit = self.fit(key.episode_seed, key.task, key.agent);
        let boost = plan.map_or(0.0, |pl| pl.boost);
        let median = p.trace.median_at_1min * key.task.tau.powf(p.trace.tau_exponent);
        let tokens = (median * (p.trace.sigma * fit.length).exp()).round().max(1.0);
        let output = (tokens * p.trace.output_share).round();
        ExecutionCell {
            success: fit.margin + boost > 0.0,
            usage: Usage { input: (tokens - output) as u64, output: output as u64 },
            billed: None,
            status: Status::Answered,
            seconds: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::profile::{EntropySpec, JurorProfile, LogNormalSpec, TraceSpec};
    use crate::workload::{BinSpec, DomainSpec, Order};
    use std::collections::BTreeMap;

    fn workload(tasks: u32) -> WorkloadSpec {
        WorkloadSpec {
            domains: vec![DomainSpec {
                name: "qa".into(),
                bins: vec![BinSpec { tau_max: 0.1, tasks }, BinSpec { tau_max: 10.0, tasks }],
                topics: 8,
                value_per_minute: 1.0,
            }],
            order: Order::AsListed,
            embedding_dim: 8,
            topic_spread: 0.5,
            complexity_signal: 0.5,
            tasks: None,
            loaded: None,
        }
    }

    fn agent(name: &str, skill: [f64; 2], accuracy: f64) -> AgentProfile {
        AgentProfile {
            name: name.into(),
            price: 1.0,
            input_price: None,
            backend: crate::profile::Backend::Synthetic,
            skill: BTreeMap::from([("qa".to_string(), skill.to_vec())]),
            plan_tokens: LogNormalSpec::default_plan(),
            trace: TraceSpec::default(),
            entropy: EntropySpec::default(),
            juror: JurorProfile { accuracy, self_bias: 0.0, ..JurorProfile::default() },
            memory_gain: 1.0,
            serving: crate::serving::ServingSpec::default(),
            reference: None,
            unit_cost: None,
            strategy: crate::strategy::Strategy::default(),
        }
    }

    fn source() -> SyntheticSource {
        SyntheticSource::new(
            vec![agent("small", [0.7, 0.2], 0.5), agent("large", [0.9, 0.5], 0.8)],
            StandInParams::default(),
            &workload(1),
        )
        .unwrap()
    }

    fn key(task: &Task, agent: usize, episode_seed: u64) -> CellKey<'_> {
        CellKey { episode_seed, task, agent }
    }

    /// A strategy acts only on what the agent reports: its verdicts and its plans' length. A
    /// padded plan reads as a long plan to the stand-in jurors (their verbosity bias), and the
    /// agent's executions are the truthful agent's.
    #[test]
    fn strategies_change_verdicts_and_plan_lengths_and_nothing_else() {
        use crate::strategy::{Shift, Strategic, Strategy};
        let biased = StandInParams { verbosity_bias: 1.0, ..StandInParams::default() };
        let agents = vec![agent("small", [0.7, 0.2], 0.5), agent("large", [0.9, 0.5], 0.8)];
        let truthful: std::sync::Arc<dyn OutcomeSource> =
            std::sync::Arc::new(SyntheticSource::new(agents, biased, &workload(1)).expect("valid"));
        let playing = Strategic::wrap(
            truthful.clone(),
            vec![
                Strategy {
                    own_plans: Shift::Score(5),
                    rivals: Shift::Lower(1),
                    plan_length: 3.0,
                    ..Strategy::default()
                },
                Strategy { cartel: vec!["small".into()], ..Strategy::default() },
            ],
        );
        let tasks = workload(1).generate(0);
        let (mut verbose, mut plain) = (0.0, 0.0);
        for e in 0..200 {
            let task = &tasks[e as usize % tasks.len()];
            let (k0, k1) = (key(task, 0, e), key(task, 1, e));
            let (honest, padded) = (truthful.plan(k0), playing.plan(k0));
            assert_eq!(padded.length, (f64::from(honest.length) * 3.0).round() as u32);
            assert!(padded.usage.output > honest.usage.output);
            assert_eq!(playing.plan(k1), truthful.plan(k1), "a truthful agent's plans are its own");
            assert_eq!(playing.execute(k0, Some(&padded)).success, truthful.execute(k0, Some(&honest)).success);
            // Agent 0 scores its own plan 5 and the large agent's one lower; the large agent
            // scores its cartel partner's plan 5.
            assert_eq!(playing.judge(k0, &honest, 0).score, Some(5));
            let rival = truthful.plan(k1);
            let lowered = truthful.judge(k1, &rival, 0).score.map(|s| s.saturating_sub(1));
            assert_eq!(playing.judge(k1, &rival, 0).score, lowered);
            assert_eq!(playing.judge(k0, &honest, 1).score, Some(5));
            assert_eq!(playing.judge(k1, &rival, 1), truthful.judge(k1, &rival, 1), "its own plans, truthfully");
            let mut panel = [JuryCell::scored(0, Usage::default()); 2];
            playing.judge_panel(k0, &padded, &mut panel);
            assert_eq!(panel[1].score, Some(5));
            verbose += f64::from(truthful.judge(k0, &padded, 1).score.unwrap_or(0));
            plain += f64::from(truthful.judge(k0, &honest, 1).score.unwrap_or(0));
        }
        assert!(verbose > plain, "jurors with a verbosity bias score padded plans higher: {verbose} vs {plain}");
        let all_truthful = Strategic::wrap(truthful.clone(), vec![Strategy::default(); 2]);
        assert!(std::sync::Arc::ptr_eq(&all_truthful, &truthful), "a truthful pool is the source itself");
    }

    #[test]
    fn reference_agents_are_marked_or_priciest_and_cheapest_with_ties_by_size_then_place() {
        use crate::{AgentInfo, ChosenBy, Reference, References, size_in_name};
        let info = |name: &str, price: f64| AgentInfo {
            name: name.into(),
            input_price: price,
            output_price: price,
            reference: None,
            unit_cost: None,
            bid_markup: 0.0,
        };
        assert_eq!(size_in_name("qwen3-32b"), Some(32.0));
        assert_eq!(size_in_name("Qwen/Qwen3-14B-FP8"), Some(14.0));
        assert_eq!(size_in_name("qwen2.5-0.5b"), Some(0.5));
        assert_eq!(size_in_name("qwen3:8b"), Some(8.0));
        assert!((size_in_name("smollm2-135m").unwrap_or(0.0) - 0.135).abs() < 1e-12);
        assert_eq!(size_in_name("gpt-4"), None);
        // Distinct prices: by price.
        let pool = [info("a", 0.05), info("b", 0.36), info("c", 0.16)];
        let r = References::of(&pool);
        assert_eq!((r.largest, r.smallest, r.largest_by, r.smallest_by), (1, 0, ChosenBy::Price, ChosenBy::Price));
        // Local models, every price 0: the names' sizes decide, not the first listed.
        let local = [info("qwen2.5-0.5b", 0.0), info("smollm2-135m", 0.0), info("qwen2.5-7b", 0.0)];
        let r = References::of(&local);
        assert_eq!((r.largest, r.smallest, r.largest_by), (2, 1, ChosenBy::Size));
        // No sizes either: the largest is listed last, the smallest first.
        let r = References::of(&[info("x", 0.0), info("y", 0.0), info("z", 0.0)]);
        assert_eq!((r.largest, r.smallest, r.largest_by, r.smallest_by), (2, 0, ChosenBy::Order, ChosenBy::Order));
        // A scenario's marks win.
        let mut marked = local.clone();
        marked[0].reference = Some(Reference::Largest);
        let r = References::of(&marked);
        assert_eq!((r.largest, r.largest_by, r.smallest), (0, ChosenBy::Marked, 1));
    }

    #[test]
    fn success_rates_match_the_calibrated_pass_at_1() {
        let s = source();
        let tasks = workload(1).generate(0);
        for (agent, want) in [(0, [0.7, 0.2]), (1, [0.9, 0.5])] {
            for (bin, task) in tasks.iter().enumerate() {
                let n = 40_000;
                let wins = (0..n).filter(|&e| s.execute(key(task, agent, e), None).success).count();
                let rate = wins as f64 / n as f64;
                assert!((rate - want[bin]).abs() < 0.01, "agent {agent} bin {bin}: {rate} vs {}", want[bin]);
            }
        }
    }

    #[test]
    fn cells_are_pure_functions_of_their_key() {
        let s = source();
        let tasks = workload(3).generate(5);
        for t in &tasks {
            let plan = s.plan(key(t, 1, 5));
            assert_eq!(plan, s.plan(key(t, 1, 5)));
            assert_eq!(s.judge(key(t, 1, 5), &plan, 0), s.judge(key(t, 1, 5), &plan, 0));
            assert_eq!(s.execute(key(t, 1, 5), Some(&plan)), s.execute(key(t, 1, 5), Some(&plan)));
        }
    }

    #[test]
    fn a_boost_never_turns_success_into_failure() {
        let s = source();
        let tasks = workload(200).generate(2);
        let pair = RetrievedPair {
            similarity: 0.9,
            losing_length: 100,
            winning_length: 100,
            winner_succeeded: true,
            ..Default::default()
        };
        let mut gained = 0;
        for t in &tasks {
            let plain = s.execute(key(t, 0, 2), None).success;
            let refined = s.refine(key(t, 0, 2), &Recall { pairs: &[pair; 4], k: 4, ..Recall::default() });
            assert!(refined.boost > 0.0);
            let boosted = s.execute(key(t, 0, 2), Some(&refined)).success;
            assert!(boosted || !plain);
            gained += usize::from(boosted && !plain);
        }
        assert!(gained > 0);
    }

    #[test]
    fn jurors_scores_carry_information_about_success() {
        let s = source();
        let tasks = workload(1).generate(0);
        let (mut ok, mut nok, mut bad, mut nbad) = (0.0, 0, 0.0, 0);
        for e in 0..4000 {
            let k = key(&tasks[1], 0, e);
            let plan = s.plan(k);
            let score = f64::from(s.judge(k, &plan, 1).score.unwrap_or(0));
            if s.execute(k, Some(&plan)).success {
                ok += score;
                nok += 1;
            } else {
                bad += score;
                nbad += 1;
            }
        }
        assert!(ok / f64::from(nok) > bad / f64::from(nbad) + 0.5);
    }

    #[test]
    fn relevance_grows_with_similarity_and_fills_k_slots() {
        let s = source();
        let pair = |similarity| RetrievedPair {
            similarity,
            losing_length: 1,
            winning_length: 1,
            winner_succeeded: true,
            ..Default::default()
        };
        assert_eq!(s.relevance(&[], 8), 0.0);
        assert!(s.relevance(&[pair(0.5); 8], 8) < s.relevance(&[pair(0.9); 8], 8));
        assert!(s.relevance(&[pair(0.9); 2], 8) < s.relevance(&[pair(0.9); 8], 8));
        assert!((s.relevance(&[pair(1.0); 8], 8) - 1.0).abs() < 1e-9);
    }

    fn source_with(params: StandInParams) -> SyntheticSource {
        let mut small = agent("small", [0.7, 0.2], 0.5);
        small.price = 0.05;
        let mut large = agent("large", [0.9, 0.5], 0.5);
        large.price = 0.36;
        // The larger agent writes longer plans (what complementary topics key on).
        large.plan_tokens.median = 400.0;
        SyntheticSource::new(vec![small, large], params, &workload(1)).unwrap()
    }

    /// Mean of `f` over many episodes of the hard task.
    fn mean_over(n: u64, f: impl Fn(CellKey<'_>) -> f64) -> f64 {
        let tasks = workload(1).generate(0);
        (0..n).map(|e| f(key(&tasks[1], 0, e))).sum::<f64>() / n as f64
    }

    fn corr(xs: &[f64], ys: &[f64]) -> f64 {
        let n = xs.len() as f64;
        let (mx, my) = (xs.iter().sum::<f64>() / n, ys.iter().sum::<f64>() / n);
        let cov: f64 = xs.iter().zip(ys).map(|(x, y)| (x - mx) * (y - my)).sum();
        let vx: f64 = xs.iter().map(|x| (x - mx).powi(2)).sum();
        let vy: f64 = ys.iter().map(|y| (y - my).powi(2)).sum();
        cov / (vx * vy).sqrt()
    }

    /// Every cell an auction and an execution read, for a few tasks and episodes.
    fn cells(s: &SyntheticSource) -> Vec<String> {
        let tasks = workload(20).generate(3);
        let pair = RetrievedPair { similarity: 0.8, winner_succeeded: true, ..Default::default() };
        let memory = Lessons::every(&[0.9, 0.7, 0.2], &[true, false, true]);
        let recall = Recall { pairs: &[pair; 3], k: 4, memory: Some(&memory), per_task: None };
        let mut out = Vec::new();
        for t in &tasks {
            for a in 0..2 {
                let k = key(t, a, 11);
                let plan = s.plan(k);
                let refined = s.refine(k, &recall);
                out.push(format!(
                    "{plan:?} {refined:?} {:?} {:?} {:?}",
                    s.judge(k, &plan, 0),
                    s.judge(k, &refined, 1),
                    s.execute(k, Some(&refined))
                ));
            }
        }
        out
    }

    #[test]
    fn v2_features_switched_off_change_nothing() {
        let v1 = cells(&source_with(StandInParams::default()));
        // Parameters that only shape a feature that is off.
        let idle =
            StandInParams { lesson_min_similarity: 0.1, complementary_strength: 1.7, ..StandInParams::default() };
        assert_eq!(cells(&source_with(idle)), v1);
        for on in [
            StandInParams { verbosity_bias: 0.5, ..StandInParams::default() },
            StandInParams { skill_signal: 1.0, ..StandInParams::default() },
            StandInParams { self_knowledge: 0.5, ..StandInParams::default() },
            StandInParams { lesson_half: 2.0, ..StandInParams::default() },
            StandInParams { refine_noise_correlation: 0.8, ..StandInParams::default() },
            StandInParams { complementary_topics: 0.3, ..StandInParams::default() },
        ] {
            assert_ne!(cells(&source_with(on)), v1, "{on:?} changes some cell");
        }
    }

    proptest::proptest! {
        #[test]
        fn a_likert_score_is_the_rounded_clamped_impression(v in -3.0f64..8.0, k in 0u8..6, side in 0usize..3) {
            proptest::prop_assert_eq!(likert(v), v.round().clamp(0.0, 5.0) as u8);
            // At every half point, and the floats either side of it.
            let half = f64::from(k) - 0.5;
            let edge = [half.next_down(), half, half.next_up()][side];
            proptest::prop_assert_eq!(likert(edge), edge.round().clamp(0.0, 5.0) as u8, "{}", edge);
        }
    }

    #[test]
    fn a_likert_score_of_no_number_is_zero() {
        assert_eq!(likert(f64::NAN), f64::NAN.round().clamp(0.0, 5.0) as u8);
        assert_eq!(likert(f64::INFINITY), 5);
        assert_eq!(likert(f64::NEG_INFINITY), 0);
    }

    /// No stand-in effect is keyed on price: repricing the pool (here reversing it) leaves every
    /// plan, jury score and execution as it was, with every model feature on.
    #[test]
    fn no_draw_reads_an_agents_price() {
        let every = StandInParams {
            verbosity_bias: 0.7,
            skill_signal: 1.0,
            self_knowledge: 0.4,
            lesson_half: 2.0,
            refine_noise_correlation: 0.3,
            complementary_topics: 0.3,
            ..StandInParams::default()
        };
        let priced = source_with(every);
        let mut profiles = priced.profiles.clone();
        let prices: Vec<f64> = profiles.iter().rev().map(|p| p.price * 3.0).collect();
        for (p, price) in profiles.iter_mut().zip(prices) {
            p.price = price;
        }
        let repriced = SyntheticSource::new(profiles, every, &workload(1)).unwrap();
        assert_eq!(cells(&priced), cells(&repriced));
    }

    /// Verbosity bias reads the plan's length, not its author: two plans of one length score
    /// alike whoever wrote them, longer plans score higher, and execution does not change.
    #[test]
    fn verbosity_bias_rewards_long_plans_whoever_wrote_them_without_touching_execution() {
        let (off, on) = (
            source_with(StandInParams::default()),
            source_with(StandInParams { verbosity_bias: 0.8, ..StandInParams::default() }),
        );
        let tasks = workload(1).generate(0);
        let (mut lengths, mut lifts) = (Vec::new(), Vec::new());
        for e in 0..3000 {
            for author in 0..2 {
                let k = key(&tasks[1], author, e);
                let plan = on.plan(k);
                assert_eq!(plan, off.plan(k), "the bias changes no plan");
                let score = |s: &SyntheticSource| f64::from(s.judge(k, &plan, 1 - author).score.unwrap_or(0));
                lengths.push(f64::from(plan.length).ln());
                lifts.push(score(&on) - score(&off));
                assert_eq!(on.execute(k, Some(&plan)), off.execute(k, Some(&plan)));
            }
        }
        assert!(corr(&lengths, &lifts) > 0.5, "longer plans gain more: {}", corr(&lengths, &lifts));
        // The same length, either author: the same lift on average (authorship is not read).
        let typical = on.typical_log_length;
        let near: Vec<f64> =
            lengths.iter().zip(&lifts).filter(|(l, _)| (**l - typical).abs() < 0.05).map(|(_, d)| *d).collect();
        let mean = near.iter().sum::<f64>() / near.len() as f64;
        assert!(mean.abs() < 0.1, "at the typical length the bias adds nothing: {mean}");
    }

    #[test]
    fn skill_signal_lets_plan_entropy_tell_a_strong_agent_from_a_weak_one() {
        let entropy = |s: &SyntheticSource, agent: usize| mean_over(4000, |k| s.plan(CellKey { agent, ..k }).entropy);
        let off = source_with(StandInParams::default());
        let on = source_with(StandInParams { skill_signal: 1.0, ..StandInParams::default() });
        assert!((entropy(&off, 1) - entropy(&off, 0)).abs() < 0.02, "v1: the same mean for every agent");
        assert!(entropy(&on, 1) > entropy(&on, 0) + 0.05, "the stronger agent's plans read stronger");
    }

    #[test]
    fn self_knowledge_makes_a_bidders_own_score_more_informative() {
        let s = source_with(StandInParams { self_knowledge: 0.9, ..StandInParams::default() });
        let tasks = workload(1).generate(0);
        let (mut own, mut peer, mut ok) = (Vec::new(), Vec::new(), Vec::new());
        for e in 0..4000 {
            let k = key(&tasks[1], 0, e);
            let plan = s.plan(k);
            own.push(f64::from(s.judge(k, &plan, 0).score.unwrap_or(0)));
            peer.push(f64::from(s.judge(k, &plan, 1).score.unwrap_or(0)));
            ok.push(f64::from(u8::from(s.execute(k, Some(&plan)).success)));
        }
        assert!(corr(&own, &ok) > corr(&peer, &ok) + 0.1, "{} vs {}", corr(&own, &ok), corr(&peer, &ok));
    }

    #[test]
    fn memory_gain_grows_with_accumulated_lessons() {
        let s = source_with(StandInParams { lesson_half: 3.0, ..StandInParams::default() });
        let pair = RetrievedPair { similarity: 0.9, winner_succeeded: true, ..Default::default() };
        let pairs = [pair; 4];
        let young = Lessons::every(&[0.9], &[true]);
        let old = Lessons::every(&[0.9; 40], &[true; 40]);
        let unrelated = Lessons::every(&[0.3; 40], &[true; 40]);
        let sampled = Lessons { weight: 4.0, ..Lessons::every(&[0.9; 10], &[true; 10]) };
        let [young, old, unrelated, sampled] = [&young, &old, &unrelated, &sampled].map(|m| Recall {
            pairs: &pairs,
            k: 4,
            memory: Some(m as &dyn MemoryView),
            per_task: None,
        });
        assert_eq!(s.lessons(&sampled), s.lessons(&old), "a sample's entries stand for `weight` past tasks each");
        assert!(s.gain(0, &old) > 2.0 * s.gain(0, &young), "more relevant lessons, more gain");
        assert_eq!(s.gain(0, &unrelated), 0.0, "dissimilar tasks teach nothing");
        let v1 = source_with(StandInParams::default());
        assert_eq!(v1.gain(0, &young), v1.gain(0, &old), "v1: only the k retrieved pairs matter");
    }

    proptest::proptest! {
        #[test]
        fn the_lesson_count_skipping_entries_below_its_floor_is_the_full_sum_to_the_bit(
            entries in proptest::collection::vec((-1.0f32..1.001, proptest::bool::ANY), 0..200),
            floor in 0.0f64..0.99,
            failed in 0.0f64..1.0,
        ) {
            let source = source_with(StandInParams {
                lesson_min_similarity: floor,
                failed_lesson_weight: failed,
                ..StandInParams::default()
            });
            let (similarities, succeeded): (Vec<f32>, Vec<bool>) = entries.into_iter().unzip();
            let lessons = Lessons::every(&similarities, &succeeded);
            let recall = Recall { pairs: &[], k: 4, memory: Some(&lessons), per_task: None };
            // Every term summed, as the count was first written.
            let full: f64 = similarities
                .iter()
                .zip(&succeeded)
                .map(|(&sim, &ok)| ((f64::from(sim) - floor) / (1.0 - floor)).max(0.0) * if ok { 1.0 } else { failed })
                .sum();
            proptest::prop_assert_eq!(source.lessons(&recall).to_bits(), full.to_bits());
            // An index that leaves out the entries at or below the floor gives it too.
            let (above, above_succeeded): (Vec<f32>, Vec<bool>) =
                similarities.iter().zip(&succeeded).filter(|&(&sim, _)| f64::from(sim) > floor).unzip();
            let left_out = Lessons { read: similarities.len(), ..Lessons::every(&above, &above_succeeded) };
            let recall = Recall { pairs: &[], k: 4, memory: Some(&left_out), per_task: None };
            proptest::prop_assert_eq!(source.lessons(&recall).to_bits(), full.to_bits());
        }
    }

    /// A recall of `n` retrieved pairs of this similarity, all successful, out of `k = 4`.
    fn recall_of(pairs: &[RetrievedPair]) -> Recall<'_> {
        Recall { pairs, k: 4, memory: None, per_task: None }
    }

    #[test]
    fn refined_noise_follows_the_initial_bids() {
        let full = [RetrievedPair { similarity: 1.0, winner_succeeded: true, ..Default::default() }; 4];
        let entropies = |rho: f64| {
            let s = source_with(StandInParams { refine_noise_correlation: rho, ..StandInParams::default() });
            let tasks = workload(1).generate(0);
            let (mut first, mut again) = (Vec::new(), Vec::new());
            for e in 0..3000 {
                let k = key(&tasks[1], 0, e);
                first.push(s.plan(k).entropy);
                again.push(s.refine(k, &recall_of(&full)).entropy);
            }
            corr(&first, &again)
        };
        // The fit is common to both rounds; the noise adds the rest of the correlation.
        assert!(entropies(0.9) > entropies(0.0) + 0.4);
    }

    /// Refinement learns only from memory: with nothing relevant retrieved the refined bid is the
    /// initial one (length, entropy and every juror's score), and the more memory teaches, the
    /// further the rewrite departs from it.
    #[test]
    fn a_refinement_with_nothing_relevant_retrieved_is_the_initial_bid() {
        let s = source_with(StandInParams { refine_noise_correlation: 0.2, verbosity_bias: 0.3, ..Default::default() });
        let tasks = workload(10).generate(2);
        let unrelated = [RetrievedPair { similarity: 0.0, winner_succeeded: true, ..Default::default() }; 4];
        let some = [RetrievedPair { similarity: 0.5, winner_succeeded: true, ..Default::default() }; 2];
        let full = [RetrievedPair { similarity: 1.0, winner_succeeded: true, ..Default::default() }; 4];
        let mut moved = [0.0; 2];
        for t in &tasks {
            for a in 0..2 {
                for e in 0..50 {
                    let k = key(t, a, e);
                    let first = s.plan(k);
                    for recall in [Recall::default(), recall_of(&unrelated)] {
                        let same = s.refine(k, &recall);
                        assert_eq!((same.length, same.entropy, same.boost), (first.length, first.entropy, 0.0));
                        for j in 0..2 {
                            assert_eq!(s.judge(k, &same, j), s.judge(k, &first, j));
                        }
                    }
                    for (slot, pairs) in moved.iter_mut().zip([&some[..], &full[..]]) {
                        *slot += (s.refine(k, &recall_of(pairs)).entropy - first.entropy).abs();
                    }
                }
            }
        }
        assert!(moved[1] > moved[0] && moved[0] > 0.0, "a fuller memory rewrites more: {moved:?}");
    }

    #[test]
    fn complementary_topics_let_the_terser_planner_win_some_topics_and_keep_pass_at_1() {
        let s = source_with(StandInParams {
            complementary_topics: 0.25,
            complementary_strength: 1.5,
            ..StandInParams::default()
        });
        let w = workload(400);
        let (mut wins_small_topic, mut rates) = (0, [0.0; 2]);
        let episodes = 60u64;
        for e in 0..episodes {
            let tasks = w.generate(e);
            let mut by_topic = [[0i32; 2]; 8];
            for t in &tasks {
                for a in 0..2 {
                    let ok = s.execute(CellKey { episode_seed: e, task: t, agent: a }, None).success;
                    by_topic[t.topic as usize][a] += i32::from(ok);
                    rates[a] += f64::from(u8::from(ok));
                }
            }
            wins_small_topic += by_topic.iter().filter(|c| c[0] > c[1]).count();
        }
        assert!(wins_small_topic > 0, "on some topics the smaller agent does better");
        let n = (episodes * 800) as f64;
        // Calibrated means: (0.7 + 0.2) / 2 and (0.9 + 0.5) / 2.
        assert!((rates[0] / n - 0.45).abs() < 0.03, "small: {}", rates[0] / n);
        assert!((rates[1] / n - 0.70).abs() < 0.03, "large: {}", rates[1] / n);
    }

    /// How far a topic predicts which agent does better: the correlation, over topics and
    /// episodes, of the small agent's edge (its successes less the large agent's) on a topic's
    /// even-numbered tasks with its edge on the odd-numbered ones; and how often the small
    /// agent alone succeeds.
    fn topic_edge_reliability(params: StandInParams) -> (f64, f64) {
        let s = source_with(params);
        let mut w = workload(400);
        w.domains[0].topics = 20;
        let (mut xs, mut ys, mut upsets, mut n) = (Vec::new(), Vec::new(), 0.0, 0.0);
        for e in 0..20u64 {
            let mut edge = vec![[0.0f64; 2]; 20];
            for t in &w.generate(e) {
                let ok =
                    |a| f64::from(u8::from(s.execute(CellKey { episode_seed: e, task: t, agent: a }, None).success));
                edge[t.topic as usize][(t.id % 2) as usize] += ok(0) - ok(1);
                upsets += ok(0) * (1.0 - ok(1));
                n += 1.0;
            }
            xs.extend(edge.iter().map(|h| h[0]));
            ys.extend(edge.iter().map(|h| h[1]));
        }
        (correlation(&xs, &ys), upsets / n)
    }

    fn correlation(xs: &[f64], ys: &[f64]) -> f64 {
        let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
        let (mx, my) = (mean(xs), mean(ys));
        let cov = xs.iter().zip(ys).map(|(x, y)| (x - mx) * (y - my)).sum::<f64>();
        let vx = xs.iter().map(|x| (x - mx).powi(2)).sum::<f64>();
        let vy = ys.iter().map(|y| (y - my).powi(2)).sum::<f64>();
        cov / (vx * vy).sqrt()
    }

    #[test]
    fn complementary_by_task_keeps_the_terse_planners_edge_but_hides_it_from_the_topic() {
        let comp = StandInParams {
            topic_affinity: 0.0,
            complementary_topics: 0.25,
            complementary_strength: 1.5,
            ..StandInParams::default()
        };
        let none = StandInParams { complementary_topics: 0.0, ..comp };
        let by_task = StandInParams { complementary_by_task: 1.0, ..comp };
        let ((topic_r, topic_upsets), (task_r, task_upsets), (none_r, none_upsets)) =
            (topic_edge_reliability(comp), topic_edge_reliability(by_task), topic_edge_reliability(none));
        // By topic, half a topic's tasks say which agent wins the other half; by task, no
        // more than without complementarity at all.
        assert!(topic_r > none_r + 0.3, "topics carry the edge: {topic_r} against {none_r}");
        assert!((task_r - none_r).abs() < 0.1, "tasks carry it: {task_r} against {none_r}");
        // The edge itself is as large, task by task.
        assert!(task_upsets > 1.2 * none_upsets, "upsets {task_upsets} against {none_upsets}");
        assert!((task_upsets - topic_upsets).abs() < 0.02, "upsets {task_upsets} against {topic_upsets}");
    }

    /// Per-topic success rates of the two agents over many topics: their correlation.
    fn topic_rate_correlation(params: StandInParams) -> (f64, [f64; 2]) {
        let s = source_with(params);
        let mut w = workload(300);
        w.domains[0].topics = 40;
        let (mut xs, mut ys, mut rates) = (Vec::new(), Vec::new(), [0.0; 2]);
        for e in 0..20u64 {
            let tasks = w.generate(e);
            let mut by_topic = vec![[0.0f64; 3]; 40];
            for t in &tasks {
                by_topic[t.topic as usize][2] += 1.0;
                for a in 0..2 {
                    let ok =
                        f64::from(u8::from(s.execute(CellKey { episode_seed: e, task: t, agent: a }, None).success));
                    by_topic[t.topic as usize][a] += ok;
                    rates[a] += ok / (tasks.len() * 20) as f64;
                }
            }
            for c in by_topic.iter().filter(|c| c[2] > 0.0) {
                xs.push(c[0] / c[2]);
                ys.push(c[1] / c[2]);
            }
        }
        let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
        let (mx, my) = (mean(&xs), mean(&ys));
        let cov = xs.iter().zip(&ys).map(|(x, y)| (x - mx) * (y - my)).sum::<f64>();
        let vx = xs.iter().map(|x| (x - mx).powi(2)).sum::<f64>();
        let vy = ys.iter().map(|y| (y - my).powi(2)).sum::<f64>();
        (cov / (vx * vy).sqrt(), rates)
    }

    #[test]
    fn topic_difficulty_makes_a_hard_topic_hard_for_everyone_and_keeps_pass_at_1() {
        let base = StandInParams { shared_difficulty: 0.0, topic_affinity: 0.1, ..StandInParams::default() };
        let (without, _) = topic_rate_correlation(base);
        let (with, rates) = topic_rate_correlation(StandInParams { topic_difficulty: 0.3, ..base });
        // Without it, per-topic rates still co-vary a little: a topic with more easy-bin tasks is
        // easier for both agents.
        assert!(without.abs() < 0.3, "agents' topic affinities are independent: {without}");
        assert!(with > without + 0.3, "a shared topic difficulty: {with} against {without}");
        assert!((rates[0] - 0.45).abs() < 0.03 && (rates[1] - 0.70).abs() < 0.03, "{rates:?}");
        let mut c = Checker::default();
        StandInParams { shared_difficulty: 0.6, topic_difficulty: 0.3, topic_affinity: 0.2, ..base }.check(&mut c);
        assert!(c.finish().unwrap_err().to_string().contains("shared_difficulty + topic_difficulty + topic_affinity"));
    }

    #[test]
    fn jurors_abstain_on_peers_fail_to_be_read_and_saturate_as_their_profile_says() {
        use crate::observe::Verdicts;
        let mut small = agent("small", [0.7, 0.2], 0.5);
        small.juror = JurorProfile { abstain: 0.5, unreadable: 0.2, saturation: 0.8, ..small.juror };
        let s =
            SyntheticSource::new(vec![small, agent("large", [0.9, 0.5], 0.8)], StandInParams::default(), &workload(1))
                .unwrap();
        let (mut own, mut peers, mut plain) = (Verdicts::default(), Verdicts::default(), Verdicts::default());
        for e in 0..400u64 {
            for task in &workload(1).generate(e) {
                for author in 0..2 {
                    let key = CellKey { episode_seed: e, task, agent: author };
                    let plan = s.plan(key);
                    let v = s.judge(key, &plan, 0);
                    if author == 0 {
                        own.add(&v)
                    } else {
                        peers.add(&v)
                    }
                    plain.add(&s.judge(key, &plan, 1));
                }
            }
        }
        assert_eq!(own.abstained, 0, "a juror never abstains on its own plan");
        assert!((peers.abstention_rate() - 0.5).abs() < 0.05, "{peers:?}");
        assert!((own.unparsed_rate() - 0.2).abs() < 0.05, "{own:?}");
        let (score, share) = own.modal_share();
        assert!(score == 5 && share > 0.8, "{own:?}");
        assert_eq!((plain.abstained, plain.unparsed), (0, 0), "the other juror reads every plan");
        assert!(plain.modal_share().1 < 0.6, "{plain:?}");
    }

    #[test]
    fn invalid_profiles_name_the_field_and_range() {
        let mut bad = agent("x", [0.5, 1.5], 0.5);
        bad.juror.accuracy = -0.1;
        let errs = SyntheticSource::new(vec![bad], StandInParams::default(), &workload(1)).unwrap_err();
        let fields: Vec<_> = errs.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["agents[0].skill[\"qa\"][1]", "agents[0].juror.accuracy"]);
        assert!(errs[0].allowed.contains("[0, 1]"));
    }
}
