//! The task stream: domains, complexity bins, topics, and arrival order.

use rand::RngExt;
use rand_distr::StandardNormal;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::streams::{Purpose, stream};
use crate::task::{Task, TaskContent};
use crate::taskfile::{TaskFile, TaskFileError, TaskRow};
use crate::validate::Checker;

crate::documented! {
    /// The tasks of an episode and the order they arrive in.
    #[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct WorkloadSpec {
        /// The task domains, each with its complexity bins: `[(name, bins: [(tau_max, tasks),
        /// ...]), ...]` (the domain's fields below).
        pub domains: Vec<DomainSpec>, allowed "at least one (none with `tasks` from a file: then every domain of the file, one bin each)";
        /// Arrival order: a new random order per episode; `Orders(n)`, n fixed random orders
        /// (episode e arrives in order e mod n, every other draw its own); as listed; by
        /// increasing or decreasing human solving time.
        #[serde(default)]
        pub order: Order, shown "`Shuffled`", allowed "`Shuffled`, `Orders(n)` (n in [1, 1,000,000]), `AsListed`, `EasyFirst`, `HardFirst`";
        /// Dimension of the synthetic task embeddings.
        #[serde(default = "default_dim")]
        pub embedding_dim: u16, default default_dim(), in [2, 4096];
        /// Spread of tasks around their topic's centroid; 0 makes all tasks of a topic identical,
        /// 1 makes the within-topic noise as large as the centroid itself.
        #[serde(default = "default_spread")]
        pub topic_spread: f64, default default_spread(), in [0.0, 10.0];
        /// How much a task's description reveals its complexity: the weight of the task's position
        /// within its domain's complexity range along one direction of the embedding. 0 hides
        /// complexity from anything that reads only the task (task-only routers learn from it).
        #[serde(default = "default_complexity_signal")]
        pub complexity_signal: f64, default default_complexity_signal(), in [0.0, 10.0];
        /// Real tasks from a file instead of synthetic ones: `(path, format: Jsonl | RouteLlm |
        /// RouterBench, embedding: Hashed(256) | Server(...), domain)`. The domains' bins then only
        /// give complexity bounds (their `tasks` counts must be left out), and with no domains
        /// listed, every domain found in the file gets a single bin
        /// ([docs/backends.md](docs/backends.md#real-tasks)).
        #[serde(default)]
        pub tasks: Option<TaskFile>, shown "none: synthetic tasks", allowed "a readable task file";
        /// The file's tasks once read ([`WorkloadSpec::attach_tasks`]); every episode gets them, in
        /// its own arrival order.
        #[serde(skip)]
        pub loaded: Option<Arc<[Task]>>, internal "read from `tasks`";
    }
}

/// Dollars a solved task is worth per minute of human solving time, unless a domain says.
pub const DEFAULT_VALUE_PER_MINUTE: f64 = 0.5;

const fn default_complexity_signal() -> f64 {
    0.5
}

const fn default_dim() -> u16 {
    16
}

const fn default_spread() -> f64 {
    0.6
}

crate::documented! {
    /// One domain of tasks (`workload.domains`).
    #[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct DomainSpec {
        /// The domain's name, which agents' `skill` tables key on.
        pub name: String, allowed "non-empty, unique, one line of at most 64 characters";
        /// Complexity bins in increasing order of human solving time τ (minutes): `(tau_max,
        /// tasks)`, `tasks` tasks with τ log-uniform between the previous bound (or a fifth of the
        /// first) and `tau_max`.
        pub bins: Vec<BinSpec>, allowed "1 to 255 bins, `tau_max` finite and increasing, `tasks` in [0, 10,000,000]";
        /// Number of topic clusters in the domain.
        #[serde(default = "default_topics")]
        pub topics: u32, default default_topics(), in [1, 1_000_000];
        /// What a solved task is worth per minute of human solving time, in dollars (the human
        /// labour it saves), used for welfare.
        #[serde(default = "default_value_per_minute")]
        pub value_per_minute: f64, default default_value_per_minute(), in [0.0, 1e9];
    }
}

const fn default_topics() -> u32 {
    12
}

const fn default_value_per_minute() -> f64 {
    DEFAULT_VALUE_PER_MINUTE
}

/// A complexity bin: tasks whose human solving time tau is at most `tau_max` minutes (and above
/// the previous bin's bound).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BinSpec {
    pub tau_max: f64,
    #[serde(default)]
    pub tasks: u32,
}

/// Arrival order of the tasks.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub enum Order {
    /// A fresh random order every episode (the paper averages over random orders).
    #[default]
    Shuffled,
    /// Domain by domain, bin by bin, as written.
    AsListed,
    /// Increasing human solving time.
    EasyFirst,
    /// Decreasing human solving time.
    HardFirst,
    /// `n` fixed random orders (the paper averages over five): episode `e` arrives in order
    /// `e mod n`, while every other draw is the episode's own, so each order is replicated.
    Orders(u32),
}

impl WorkloadSpec {
    /// The lower bound of bin `bin` of domain `domain`: the previous bin's bound, or a fifth of
    /// the first bound (the paper's bins grow five-fold).
    #[must_use]
    pub fn bin_floor(&self, domain: usize, bin: usize) -> f64 {
        let bins = &self.domains[domain].bins;
        if bin == 0 { bins[0].tau_max / 5.0 } else { bins[bin - 1].tau_max }
    }

    /// Total number of tasks per episode.
    #[must_use]
    pub fn task_count(&self) -> usize {
        if let Some(loaded) = &self.loaded {
            return loaded.len();
        }
        self.domains.iter().flat_map(|d| &d.bins).map(|b| b.tasks as usize).sum()
    }

    /// The same workload with `total` synthetic tasks, spread over the bins in proportion to
    /// their counts (largest remainders first, then the earlier bin); `None` for tasks read from
    /// a file, which cannot be scaled.
    #[must_use]
    pub fn scaled_to(&self, total: usize) -> Option<Self> {
        if self.loaded.is_some() || self.tasks.is_some() || self.task_count() == 0 {
            return None;
        }
        let now = self.task_count() as f64;
        let mut scaled = self.clone();
        let bins: Vec<&mut BinSpec> = scaled.domains.iter_mut().flat_map(|d| d.bins.iter_mut()).collect();
        let shares: Vec<f64> = bins.iter().map(|b| f64::from(b.tasks) / now * total as f64).collect();
        let mut counts: Vec<usize> = shares.iter().map(|s| s.floor() as usize).collect();
        let mut order: Vec<usize> = (0..shares.len()).collect();
        order.sort_by(|&a, &b| {
            (shares[b] - shares[b].floor()).total_cmp(&(shares[a] - shares[a].floor())).then(a.cmp(&b))
        });
        for &i in order.iter().cycle().take(total - counts.iter().sum::<usize>()) {
            counts[i] += 1;
        }
        for (bin, n) in bins.into_iter().zip(counts) {
            bin.tasks = u32::try_from(n).ok()?;
        }
        Some(scaled)
    }

    /// `(domain name, number of bins)` for each domain.
    #[must_use]
    pub fn domain_shapes(&self) -> Vec<(&str, usize)> {
        self.domains.iter().map(|d| (d.name.as_str(), d.bins.len())).collect()
    }

    pub fn check(&self, c: &mut Checker) {
        let min_domains = if self.tasks.is_some() { 0 } else { 1 };
        c.count("domains", self.domains.len() as u64, min_domains, u16::MAX.into());
        if let Some(file) = &self.tasks {
            c.within("tasks", |c| file.check(c));
            let counted: u32 = self.domains.iter().flat_map(|d| &d.bins).map(|b| b.tasks).sum();
            c.require(
                counted == 0,
                "domains",
                format!("{counted} tasks in bins"),
                "must not count tasks when they come from a file (leave `tasks` out of the bins)",
            );
        }
        self.check_ranges(c);
        if let Order::Orders(n) = self.order {
            c.count("order.Orders", n.into(), 1, 1_000_000);
        }
        for (i, d) in self.domains.iter().enumerate() {
            c.within("domains", |c| {
                c.within(format!("[{i}]"), |c| {
                    c.require(!d.name.trim().is_empty(), "name", format!("{:?}", d.name), "must not be empty");
                    c.require(
                        d.name.chars().count() <= crate::profile::MAX_NAME && !d.name.contains(['\n', '\r']),
                        "name",
                        format!("{:?}", d.name),
                        &format!("must be one line of at most {} characters", crate::profile::MAX_NAME),
                    );
                    c.require(
                        self.domains.iter().filter(|o| o.name == d.name).count() == 1,
                        "name",
                        format!("{:?}", d.name),
                        "must be unique among domains",
                    );
                    c.count("bins", d.bins.len() as u64, 1, u8::MAX.into());
                    d.check_ranges(c);
                    let mut floor = 0.0;
                    for (b, bin) in d.bins.iter().enumerate() {
                        c.within("bins", |c| {
                            c.within(format!("[{b}]"), |c| {
                                c.require(
                                    bin.tau_max.is_finite() && bin.tau_max > floor,
                                    "tau_max",
                                    bin.tau_max,
                                    &format!("must be finite and greater than the previous bin's bound ({floor})"),
                                );
                                c.count("tasks", bin.tasks.into(), 0, 10_000_000);
                            });
                        });
                        floor = bin.tau_max;
                    }
                });
            });
        }
        c.require(
            self.task_count() > 0 || (self.tasks.is_some() && self.loaded.is_none()),
            "domains",
            format!("{} tasks", self.task_count()),
            "must hold at least one task",
        );
    }

    /// The episode's tasks, in arrival order. Task ids and attributes do not depend on the
    /// order, so the same task keeps its outcomes under every ordering.
    #[must_use]
    pub fn generate(&self, episode_seed: u64) -> Vec<Task> {
        self.generate_ordered(episode_seed, episode_seed)
    }

    /// The episode's tasks in the arrival order keyed by `order_key` (see
    /// [`WorkloadSpec::order_key`]).
    #[must_use]
    pub fn generate_ordered(&self, episode_seed: u64, order_key: u64) -> Vec<Task> {
        let tasks = match &self.loaded {
            Some(loaded) => loaded.to_vec(),
            None => self.synthetic_set(episode_seed, 0),
        };
        self.arrange(tasks, order_key)
    }

    /// The key of episode `index`'s arrival order under base seed `base`: the episode's own
    /// seed, or with `Orders(n)` the key of order `index mod n`.
    #[must_use]
    pub fn order_key(&self, base: u64, index: u64, episode_seed: u64) -> u64 {
        match self.order {
            Order::Orders(n) => crate::streams::episode_seed(base ^ 0x0DE5_0DE5_0DE5_0DE5, index % u64::from(n.max(1))),
            _ => episode_seed,
        }
    }

    /// A set of tasks numbered from `first_id`. Sets of one episode share its topics and
    /// complexity direction (so what is learnt on one transfers to another) but, having distinct
    /// ids, none of their draws.
    #[must_use]
    pub fn generate_set(&self, episode_seed: u64, first_id: u32) -> Vec<Task> {
        let tasks = match &self.loaded {
            Some(loaded) => loaded.to_vec(),
            None => self.synthetic_set(episode_seed, first_id),
        };
        self.arrange(tasks, episode_seed)
    }

    fn synthetic_set(&self, episode_seed: u64, first_id: u32) -> Vec<Task> {
        let dim = usize::from(self.embedding_dim);
        let mut topic_base = 0u32;
        let mut tasks = Vec::with_capacity(self.task_count());
        let random_direction = |key: u64| {
            let mut rng = stream(episode_seed, Purpose::TopicCentroid, &[key]);
            normalised((0..dim).map(|_| rng.sample::<f64, _>(StandardNormal) as f32).collect())
        };
        for (d, domain) in self.domains.iter().enumerate() {
            let centroids: Vec<Vec<f32>> =
                (0..domain.topics).map(|t| random_direction(u64::from(topic_base + t))).collect();
            // Keys above every topic's: the direction along which the domain's tasks get harder.
            let harder = random_direction((1 << 40) + d as u64);
            let (floor, ceiling) = (self.bin_floor(d, 0).ln(), domain.bins.last().map_or(1.0, |b| b.tau_max).ln());
            for (b, bin) in domain.bins.iter().enumerate() {
                let (lo, hi) = (self.bin_floor(d, b).ln(), bin.tau_max.ln());
                for _ in 0..bin.tasks {
                    let id = first_id + tasks.len() as u32;
                    let mut rng = stream(episode_seed, Purpose::TaskAttributes, &[u64::from(id)]);
                    // Human solving times spread log-uniformly within the bin.
                    let tau = (lo + (hi - lo) * rng.random::<f64>()).exp();
                    let topic = rng.random_range(0..domain.topics);
                    let noise = self.topic_spread / (dim as f64).sqrt();
                    // Position in the domain's complexity range, in [-1, 1].
                    let position = (2.0 * (tau.ln() - floor) / (ceiling - floor).max(f64::EPSILON) - 1.0) as f32;
                    let signal = self.complexity_signal as f32 * position;
                    let embedding: Vec<f32> = centroids[topic as usize]
                        .iter()
                        .zip(&harder)
                        .map(|(&c, &h)| c + signal * h + (noise * rng.sample::<f64, _>(StandardNormal)) as f32)
                        .collect();
                    tasks.push(Task {
                        id,
                        domain: d as u16,
                        bin: b as u8,
                        tau,
                        topic: topic_base + topic,
                        embedding: normalised(embedding).into_boxed_slice(),
                        value: domain.value_per_minute * tau,
                        content: None,
                    });
                }
            }
            topic_base += domain.topics;
        }
        tasks
    }

    fn arrange(&self, mut tasks: Vec<Task>, order_key: u64) -> Vec<Task> {
        match self.order {
            Order::AsListed => {}
            Order::EasyFirst => tasks.sort_by(|a, b| a.tau.total_cmp(&b.tau).then(a.id.cmp(&b.id))),
            Order::HardFirst => tasks.sort_by(|a, b| b.tau.total_cmp(&a.tau).then(a.id.cmp(&b.id))),
            Order::Shuffled | Order::Orders(_) => {
                let mut rng = stream(order_key, Purpose::Order, &[]);
                for i in (1..tasks.len()).rev() {
                    let j = rng.random_range(0..=i);
                    tasks.swap(i, j);
                }
            }
        }
        tasks
    }
}

fn normalised(mut v: Vec<f32>) -> Vec<f32> {
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm > 0.0 {
        v.iter_mut().for_each(|x| *x /= norm);
    }
    v
}

impl WorkloadSpec {
    /// Place tasks read from a file (with their embeddings, in the same order) into the
    /// workload. With no domains listed, every domain found becomes one with a single bin.
    /// `file` names the file in errors.
    pub fn attach_tasks(
        &mut self,
        rows: &[TaskRow],
        embeddings: Vec<Vec<f32>>,
        file: &str,
    ) -> Result<(), TaskFileError> {
        if self.domains.is_empty() {
            for row in rows {
                if !self.domains.iter().any(|d| d.name == row.domain) {
                    self.domains.push(DomainSpec {
                        name: row.domain.clone(),
                        bins: vec![BinSpec { tau_max: 1.0, tasks: 0 }],
                        topics: 1,
                        value_per_minute: DEFAULT_VALUE_PER_MINUTE,
                    });
                }
            }
        }
        // Tasks without a topic share their domain's (id: the domain's index); named topics
        // follow, numbered in order of first appearance.
        let mut named: Vec<(&str, &str)> = Vec::new();
        let topic_ids: Vec<Option<u32>> = rows
            .iter()
            .map(|row| {
                let t = row.topic.as_deref()?;
                let key = (row.domain.as_str(), t);
                let i = named.iter().position(|k| *k == key).unwrap_or_else(|| {
                    named.push(key);
                    named.len() - 1
                });
                Some((self.domains.len() + i) as u32)
            })
            .collect();
        let mut c = Checker::default();
        let mut tasks = Vec::with_capacity(rows.len());
        for (i, (row, embedding)) in rows.iter().zip(embeddings).enumerate() {
            c.within(format!("task {:?}", row.key), |c| {
                let Some(d) = self.domains.iter().position(|d| d.name == row.domain) else {
                    c.require(
                        false,
                        "domain",
                        format!("{:?}", row.domain),
                        &format!(
                            "must be a domain of the workload: {}",
                            self.domains.iter().map(|d| format!("{:?}", d.name)).collect::<Vec<_>>().join(", ")
                        ),
                    );
                    return;
                };
                let domain = &self.domains[d];
                let bin = match (row.bin, row.tau) {
                    (Some(b), _) => Some(b),
                    (None, Some(tau)) => domain.bins.iter().position(|b| tau <= b.tau_max).map(|b| b as u8),
                    (None, None) if domain.bins.len() == 1 => Some(0),
                    (None, None) => None,
                };
                let Some(bin) = bin.filter(|b| usize::from(*b) < domain.bins.len()) else {
                    c.require(
                        false,
                        "bin",
                        format!("bin {:?}, tau {:?}", row.bin, row.tau),
                        &format!(
                            "must place the task in one of {}'s {} bins (tau at most {})",
                            domain.name,
                            domain.bins.len(),
                            domain.bins.last().map_or(0.0, |b| b.tau_max)
                        ),
                    );
                    return;
                };
                let tau = row.tau.unwrap_or_else(|| {
                    (self.bin_floor(d, usize::from(bin)) * domain.bins[usize::from(bin)].tau_max).sqrt()
                });
                c.range("tau", tau, 0.0, 1e9);
                if let Some(v) = row.value {
                    c.range("value", v, 0.0, 1e12);
                }
                tasks.push(Task {
                    id: i as u32,
                    domain: d as u16,
                    bin,
                    tau,
                    topic: topic_ids[i].unwrap_or(d as u32),
                    embedding: embedding.into_boxed_slice(),
                    value: row.value.unwrap_or(domain.value_per_minute * tau),
                    content: Some(Arc::new(TaskContent {
                        key: row.key.clone(),
                        text: row.text.clone(),
                        reference: row.reference.clone(),
                        check: row.check.clone(),
                        arrival: row.arrival,
                    })),
                });
            });
        }
        let mut keys = std::collections::HashSet::with_capacity(rows.len());
        for row in rows {
            if !keys.insert(row.key.as_str()) {
                c.require(false, "id", format!("{:?}", row.key), "must be unique in the file");
            }
        }
        c.finish().map_err(|errors| TaskFileError::Invalid { file: file.to_string(), errors })?;
        self.loaded = Some(tasks.into());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::task::cosine;

    fn spec(order: Order) -> WorkloadSpec {
        WorkloadSpec {
            domains: vec![DomainSpec {
                name: "d".into(),
                bins: vec![BinSpec { tau_max: 0.1, tasks: 30 }, BinSpec { tau_max: 0.5, tasks: 20 }],
                topics: 4,
                value_per_minute: 1.0,
            }],
            order,
            embedding_dim: 16,
            topic_spread: 0.3,
            complexity_signal: 0.0,
            tasks: None,
            loaded: None,
        }
    }

    #[test]
    fn fixed_orders_repeat_every_n_episodes_while_draws_do_not() {
        let w = spec(Order::Orders(5));
        let ids = |e: u64| {
            let seed = crate::streams::episode_seed(3, e);
            w.generate_ordered(seed, w.order_key(3, e, seed)).iter().map(|t| t.id).collect::<Vec<_>>()
        };
        assert_eq!(ids(2), ids(7));
        assert_ne!(ids(2), ids(3));
        let (s2, s7) = (crate::streams::episode_seed(3, 2), crate::streams::episode_seed(3, 7));
        assert_ne!(w.generate(s2)[0].embedding, w.generate(s7)[0].embedding, "each replication draws anew");
    }

    #[test]
    fn tasks_fall_in_their_bins_and_keep_their_identity_across_orders() {
        let listed = spec(Order::AsListed).generate(9);
        let shuffled = spec(Order::Shuffled).generate(9);
        assert_eq!(listed.len(), 50);
        assert_ne!(listed, shuffled);
        for t in &shuffled {
            assert_eq!(&listed[t.id as usize], t);
            let (lo, hi) = if t.bin == 0 { (0.02, 0.1) } else { (0.1, 0.5) };
            assert!(t.tau > lo && t.tau <= hi, "tau {} outside bin {}", t.tau, t.bin);
        }
    }

    #[test]
    fn a_scaled_workload_keeps_the_bins_proportions() {
        let w = spec(Order::Shuffled);
        let scaled = w.scaled_to(1000).expect("synthetic");
        assert_eq!(scaled.task_count(), 1000);
        let (a, b) = (&w.domains[0].bins, &scaled.domains[0].bins);
        for (x, y) in a.iter().zip(b) {
            let expected = f64::from(x.tasks) / w.task_count() as f64 * 1000.0;
            assert!((f64::from(y.tasks) - expected).abs() < 1.0, "{} for {expected}", y.tasks);
        }
        assert_eq!(w.scaled_to(w.task_count()).expect("synthetic"), w);
    }

    #[test]
    fn tasks_of_a_topic_are_more_alike_than_tasks_of_different_topics() {
        let tasks = spec(Order::AsListed).generate(1);
        let (mut same, mut ns, mut diff, mut nd) = (0.0, 0, 0.0, 0);
        for a in &tasks {
            for b in &tasks {
                if a.id < b.id {
                    let s = cosine(&a.embedding, &b.embedding);
                    if a.topic == b.topic {
                        same += s;
                        ns += 1;
                    } else {
                        diff += s;
                        nd += 1;
                    }
                }
            }
        }
        assert!(same / f32::from(ns as u16) > diff / nd as f32 + 0.3);
    }

    #[test]
    fn complexity_signal_makes_tasks_of_similar_complexity_alike() {
        let mut s = spec(Order::AsListed);
        s.domains[0].topics = 1;
        s.complexity_signal = 2.0;
        let tasks = s.generate(4);
        let mean_sim = |a: u8, b: u8| {
            let (mut sum, mut n) = (0.0, 0);
            for x in tasks.iter().filter(|t| t.bin == a) {
                for y in tasks.iter().filter(|t| t.bin == b && t.id != x.id) {
                    sum += cosine(&x.embedding, &y.embedding);
                    n += 1;
                }
            }
            sum / n as f32
        };
        assert!(mean_sim(0, 0) > mean_sim(0, 1) + 0.1);
    }

    #[test]
    fn separate_sets_share_topics_but_not_ids() {
        let s = spec(Order::AsListed);
        let a = s.generate_set(8, 0);
        let b = s.generate_set(8, 1000);
        assert!(b.iter().all(|t| t.id >= 1000));
        assert_ne!(a[0].embedding, b[0].embedding);
        // Same topic, same centroid: tasks of one topic across sets stay alike.
        let t = a[0].topic;
        let other = b.iter().find(|x| x.topic == t).unwrap();
        assert!(cosine(&a[0].embedding, &other.embedding) > 0.5);
    }

    #[test]
    fn easy_first_orders_by_tau() {
        let tasks = spec(Order::EasyFirst).generate(3);
        assert!(tasks.windows(2).all(|w| w[0].tau <= w[1].tau));
    }

    #[test]
    fn invalid_bins_name_the_field() {
        let mut s = spec(Order::AsListed);
        s.domains[0].bins[1].tau_max = 0.05;
        let mut c = Checker::default();
        s.check(&mut c);
        let errs = c.finish().unwrap_err();
        assert_eq!(errs[0].field, "domains[0].bins[1].tau_max");
    }
}
