//! Command-line arguments.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use tender_analysis::store::Shard;
use tender_engine::sweep::{Design, ParamSpec, parse_set};

/// Tender simulates markets in which heterogeneous LLM agents compete for tasks: SALE strategy
/// auctions, the routers and auctions they are compared with, on synthetic stand-ins calibrated
/// to published numbers.
#[derive(Debug, Parser)]
#[command(name = "tender", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run every mechanism of a scenario over many seeded episodes, print a comparison table with
    /// 95% confidence intervals, and write summary.csv, agents.csv, tasks.csv and scenario.ron to
    /// the output folder.
    Run(RunArgs),
    /// Check every live agent of a scenario against its server: reachable, credentials
    /// accepted, model served, slots, log-probabilities and usage, and a sample plan, verdict
    /// and answer through the real prompts and parsers, with latency. One table, then a verdict
    /// and the fix for each problem per agent. Calls the servers (a few calls per agent); writes
    /// nothing.
    Doctor {
        /// The scenario file (.ron).
        file: PathBuf,
        /// The task the sample calls are about (its `id` in the task file) [default: the first].
        #[arg(long)]
        task: Option<String>,
    },
    /// Check a scenario file: syntax (with file, line and column) and every value's range.
    Validate {
        /// The scenario file (.ron).
        file: PathBuf,
    },
    /// Print the fields a scenario may write, from their one definition in the code: the list
    /// of tables, or one table (markdown) with each field's default, what it allows and its
    /// meaning. NAME: scenario, agent, standins, juror, trace, entropy, serving, strategy, live,
    /// workload, domain, scorer, or a mechanism (sale, carrot, ...).
    Fields {
        /// The table [default: list them].
        name: Option<String>,
    },
    /// Measure episodes per second for one mechanism of a scenario (no files written).
    Bench(BenchArgs),
    /// Fit SALE's weights on the scenario's training tasks with the paper's min-max program (a
    /// linear program; see ARCHITECTURE.md) and write them to a file that `Sale(weights: ...)`
    /// can name.
    Fit(FitArgs),
    /// Run a parameter sweep: every point x replication x mechanism, in parallel, streaming rows
    /// to OUT/rows.jsonl and per-point aggregates to OUT/points.jsonl as points finish. Rerun the
    /// same command after an interruption to compute only what is missing.
    Sweep(SweepArgs),
    /// Draw the plots (PNG and SVG) and report.html for saved results: a run's folder (cost vs
    /// pass@1 with the Pareto frontier, pass@1 per bin, shares per bin, SALE's learning curve) or
    /// a sweep's (welfare and cost vs each swept parameter, cost vs pass@1). Simulates nothing.
    Plot {
        /// The results folder.
        dir: PathBuf,
    },
    /// Combine the output folders of `tender sweep --shard K/N` runs into one, exactly as a
    /// single machine would have written it.
    Merge {
        /// The folder to write.
        out: PathBuf,
        /// The shard folders.
        #[arg(required = true)]
        shards: Vec<PathBuf>,
        /// Merge what the shards hold even when units are missing (they are listed either way).
        #[arg(long)]
        partial: bool,
    },
    /// Reproduce the SALE paper in calibrated simulation: run scenarios/sale-paper (every method,
    /// every SALE ablation, sensitivity sweeps over what the paper does not publish) and write
    /// docs/reproduction.md with its figures.
    Reproduce(ReproduceArgs),
    /// Calibrate a scenario's free parameters (its `calibrate:` block) to target numbers by
    /// simulation: Nelder-Mead over common random numbers; writes the calibrated scenario and a
    /// fit table.
    Calibrate(CalibrateArgs),
    /// Check the stand-in model against real data and write docs/validation.md: calibrate
    /// stand-ins on one part of RouteLLM's recorded tables and predict the other part (per-agent
    /// pass@1, oracle, the kNN router's curve). Needs ../shared/data.
    Validation(ValidationArgs),
    /// Each agent's Shapley value in each market of a scenario: its average marginal
    /// contribution to welfare, pass@1 or cost over the orders in which agents could join. Runs
    /// the market of every coalition of agents (or of those along sampled join orders) on the
    /// same episode seeds; writes shapley.csv, coalitions.csv and a plot to OUTPUT/shapley.
    Shapley(ShapleyArgs),
    /// Play the scenario's `game:` block: run the market for every profile of the players'
    /// strategies (or a sample, with every deviation from each) on the same episode seeds, and
    /// report the payoff table, each profile's regret, the pure Nash equilibria, a mixed
    /// equilibrium and the market at equilibrium against the truthful profile; writes
    /// payoffs.csv, profiles.csv and a regret plot to OUTPUT/game.
    Game(GameArgs),
}

#[derive(Debug, Args)]
pub struct GameArgs {
    /// The scenario file (.ron), with a `game:` block.
    pub file: PathBuf,
    #[command(flatten)]
    pub runs: ManyRuns,
}

/// The flags of the commands that run a scenario's market many times over (once per profile,
/// per coalition), each on the scenario's episode seeds.
#[derive(Debug, Args)]
pub struct ManyRuns {
    /// Episodes per run, replacing the scenario's.
    #[arg(long, value_parser = clap::value_parser!(u32).range(2..))]
    pub episodes: Option<u32>,
    /// Base seed, replacing the scenario's.
    #[arg(long)]
    pub seed: Option<u64>,
    #[command(flatten)]
    pub threads: Threads,
    /// Output folder [default: the scenario's `output`/COMMAND].
    #[arg(long)]
    pub out: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct ShapleyArgs {
    /// The scenario file (.ron), with stand-in or recorded agents.
    pub file: PathBuf,
    /// What a coalition is worth: its market's welfare (value of solved tasks minus spend, $
    /// per episode), pass@1, or spend ($ per episode). shapley.csv holds all three.
    #[arg(long, value_enum, default_value_t = ShapleyMetric::Welfare)]
    pub metric: ShapleyMetric,
    /// A market to value, by its table name; repeat for several [default: every market of the
    /// scenario, not agents alone or oracles].
    #[arg(long)]
    pub mechanism: Vec<String>,
    /// Sample this many join orders instead of running every coalition [default: every
    /// coalition up to 12 agents, 200 orders beyond].
    #[arg(long, value_parser = clap::value_parser!(u32).range(2..=100_000))]
    pub permutations: Option<u32>,
    #[command(flatten)]
    pub runs: ManyRuns,
}

/// What `tender shapley` values a coalition by.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum ShapleyMetric {
    Welfare,
    #[value(name = "pass_at_1")]
    PassAt1,
    Cost,
}

/// `tender validation`'s documented counts: episodes of every recorded and predicted run, of
/// every calibration evaluation, Nelder-Mead iterations, and episodes of the live run's prediction.
pub const VALIDATION_EPISODES: u32 = 8;
pub const VALIDATION_CALIBRATION_EPISODES: u32 = 6;
pub const VALIDATION_ITERATIONS: u32 = 60;
pub const VALIDATION_LIVE_EPISODES: u32 = 400;

#[derive(Debug, Args)]
pub struct ValidationArgs {
    /// The folder holding routellm-mmlu.ron and routellm-gsm8k.ron.
    #[arg(long, default_value = "scenarios")]
    pub scenarios: PathBuf,
    /// RouteLLM's recorded data (gsm8k_responses.csv and the mmlu folder).
    #[arg(long, default_value = "../shared/data/routellm")]
    pub routellm: PathBuf,
    /// The recorded live run: live-local.ron and its trace.jsonl.
    #[arg(long, default_value = "../shared/data/live/example30")]
    pub live: PathBuf,
    /// Episodes of the stand-ins' prediction of the live run.
    #[arg(long, default_value_t = VALIDATION_LIVE_EPISODES, value_parser = clap::value_parser!(u32).range(2..))]
    pub live_episodes: u32,
    /// The report to write [default: docs/validation.md at the documented counts,
    /// results/validation/validation.md otherwise, so a quick run never overwrites the tracked
    /// report].
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Episodes of every recorded and predicted run.
    #[arg(long, default_value_t = VALIDATION_EPISODES, value_parser = clap::value_parser!(u32).range(2..))]
    pub episodes: u32,
    /// Episodes per calibration evaluation.
    #[arg(long, default_value_t = VALIDATION_CALIBRATION_EPISODES, value_parser = clap::value_parser!(u32).range(1..))]
    pub calibration_episodes: u32,
    /// Nelder-Mead iterations of each calibration.
    #[arg(long, default_value_t = VALIDATION_ITERATIONS, value_parser = clap::value_parser!(u32).range(1..))]
    pub iterations: u32,
    #[command(flatten)]
    pub threads: Threads,
}

/// The flag every command that simulates shares.
#[derive(Debug, Args)]
pub struct Threads {
    /// Worker threads [default: one per core]. Results are identical for any value.
    #[arg(long, short = 'j', value_parser = jobs)]
    pub jobs: Option<usize>,
}

#[derive(Debug, Args)]
pub struct CalibrateArgs {
    /// The scenario file, with a `calibrate:` block.
    pub file: PathBuf,
    /// Episodes per evaluation [default: the block's].
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    pub episodes: Option<u32>,
    /// Nelder-Mead iterations per start [default: the block's].
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    pub iterations: Option<u32>,
    /// Starts [default: the block's].
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    pub starts: Option<u32>,
    /// Coordinate-search sweeps after Nelder-Mead [default: the block's `polish`].
    #[arg(long)]
    pub polish: Option<u32>,
    /// Episodes of the check run at the calibrated values [default: the scenario's].
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    pub check_episodes: Option<u32>,
    #[command(flatten)]
    pub threads: Threads,
    /// Output folder [default: results/calibrate/NAME].
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Take the targets from a recorded pool instead (a scenario of `Recorded` agents, such as a
    /// RouteLLM or RouterBench table): each common agent's pass@1 per domain, every pair's joint
    /// success and, when the pools match, the oracle's pass@1.
    #[arg(long, value_name = "RECORDED_SCENARIO")]
    pub targets_from: Option<PathBuf>,
    /// With `--targets-from` a live scenario: answer it from this trace of an earlier run
    /// (Tender's own `trace.jsonl`), calling nothing.
    #[arg(long, value_name = "TRACE", requires = "targets_from")]
    pub targets_replay: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct ReproduceArgs {
    /// The folder holding deep-search.ron and coding.ron.
    #[arg(long, default_value = "scenarios/sale-paper")]
    pub scenarios: PathBuf,
    /// Where the runs' results go.
    #[arg(long, default_value = "results/sale-paper")]
    pub results: PathBuf,
    /// The report to write; figures go to a `reproduction` folder beside it [default:
    /// docs/reproduction.md at the documented episode counts, RESULTS/reproduction.md otherwise,
    /// so a quick run never overwrites the tracked report].
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Episodes of the main comparison and the ablations [default: the scenarios' 100].
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    pub episodes: Option<u32>,
    /// Episodes per value of each sensitivity sweep, and per point of the calibration's
    /// profiles [default: 20 per sweep value; the scenario's `calibrate:` episodes per profile
    /// point, as `tender calibrate` evaluates them].
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    pub sweep_episodes: Option<u32>,
    #[command(flatten)]
    pub threads: Threads,
}

#[derive(Debug, Args)]
pub struct SweepArgs {
    /// The scenario file (.ron); its `sweep` is used unless `--set` is given.
    pub file: PathBuf,
    /// A swept parameter: PATH=START..END:STEP (a range), PATH=LOW..HIGH (an interval, for random
    /// and Latin-hypercube designs) or PATH=V1,V2,... (a list). Repeat for more parameters.
    /// Paths: mechanisms.sale.w_c, mechanisms[1].k, agents.qwen3-4b.memory_gain,
    /// standins.shared_difficulty, workload.complexity_signal, ...
    #[arg(long = "set", value_name = "PATH=VALUES", value_parser = set)]
    pub set: Vec<ParamSpec>,
    /// How parameters combine: grid (every combination), zip (matched lists), random:N or lhs:N.
    #[arg(long, default_value = "grid", value_parser = design)]
    pub design: Design,
    /// Replications per point [default: the sweep's, else the scenario's episodes].
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    pub replications: Option<u32>,
    /// Base seed, replacing the scenario's.
    #[arg(long)]
    pub seed: Option<u64>,
    #[command(flatten)]
    pub threads: Threads,
    /// Output folder [default: the scenario's `output`/sweep].
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Run only slice K of N (1-based): points whose index is K-1 modulo N.
    #[arg(long, value_name = "K/N", value_parser = shard)]
    pub shard: Option<Shard>,
    /// Do not draw plots and report.html at the end.
    #[arg(long)]
    pub no_plots: bool,
    /// Give every point its own random draws instead of the same episode seeds (common random
    /// numbers, the default, under which differences between points are paired).
    #[arg(long)]
    pub independent_draws: bool,
    /// `parquet` also writes rows.parquet and points.parquet: the same tables, typed and
    /// zstd-compressed, for pandas, polars, pyarrow and DuckDB.
    #[arg(long, value_enum, default_value_t = Format::Csv)]
    pub format: Format,
}

#[derive(Debug, Args)]
pub struct FitArgs {
    /// The scenario file (.ron); its `training` split provides the training tasks.
    pub file: PathBuf,
    /// Episodes whose training tasks are used.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
    pub episodes: u32,
    /// Minimise the worst training task's loss (the paper's choice) or the mean loss, or search
    /// a grid for the weights under which SALE earns the most welfare on the training tasks.
    #[arg(long, value_enum, default_value_t = ObjectiveArg::MinMax)]
    pub objective: ObjectiveArg,
    /// Where to write the weights [default: OUTPUT/fitted-weights.ron].
    #[arg(long)]
    pub out: Option<PathBuf>,
}

#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum ObjectiveArg {
    MinMax,
    Average,
    /// The weights (on a grid) under which SALE earns the most welfare on the training tasks.
    Welfare,
}

impl From<ObjectiveArg> for tender_engine::fit::Objective {
    fn from(o: ObjectiveArg) -> Self {
        match o {
            ObjectiveArg::MinMax => Self::MinMax,
            ObjectiveArg::Welfare => Self::Welfare,
            ObjectiveArg::Average => Self::Average,
        }
    }
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// The scenario file (.ron).
    pub file: PathBuf,
    /// Base seed, replacing the scenario's; episode seeds derive from it.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Number of episodes (replications), replacing the scenario's.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    pub episodes: Option<u32>,
    #[command(flatten)]
    pub threads: Threads,
    /// Output folder, replacing the scenario's `output`.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Do not draw plots and report.html at the end.
    #[arg(long)]
    pub no_plots: bool,
    /// Answer live agents from this recorded trace (a live run's OUTPUT/trace.jsonl), calling
    /// nothing.
    #[arg(long, value_name = "TRACE")]
    pub replay: Option<PathBuf>,
    /// Live agents' response cache [default: OUTPUT/cache.jsonl].
    #[arg(long, value_name = "FILE", conflicts_with = "replay")]
    pub cache: Option<PathBuf>,
    /// Call the servers even for requests the cache answers (and add nothing to it).
    #[arg(long, conflicts_with_all = ["replay", "cache"])]
    pub no_cache: bool,
    /// When a live endpoint's circuit breaker opens, record the rest of its cells as failed
    /// (without calling it) and finish the run, instead of stopping it.
    #[arg(long)]
    pub keep_going: bool,
    /// Skip the check, before any episode, that every live endpoint answers, accepts the key and
    /// serves the model (for a rerun answered entirely from the cache while the server is down).
    #[arg(long)]
    pub no_preflight: bool,
    /// Per-task rows, the bulk of a run's folder: `csv` (tasks.csv), `gzip` (tasks.csv.gz, about
    /// a quarter of the size) or `none` (no per-task file; the learning-curve plot is then left out).
    #[arg(long, value_enum, default_value_t = TaskRows::Csv)]
    pub tasks: TaskRows,
    /// Typed result files besides the CSV ones: `parquet` writes the per-task rows as
    /// tasks.parquet (instead of tasks.csv; not with `--tasks gzip`), the summary in tidy form as
    /// summary.parquet and the per-episode metrics as episodes.parquet, zstd-compressed and read
    /// with their types by pandas, polars, pyarrow and DuckDB; summary.csv stays.
    #[arg(long, value_enum, default_value_t = Format::Csv)]
    pub format: Format,
    /// Keep one part of the scenario's task file: BY:PART/PARTS[:SEED], BY `topic` (whole
    /// topics, such as MMLU's subjects) or `task`; e.g. `topic:0/2` (replaces the file's `split`).
    #[arg(long, value_name = "BY:PART/PARTS[:SEED]", value_parser = split)]
    pub split: Option<tender_agents::Split>,
}

/// `--split BY:PART/PARTS[:SEED]`.
fn split(arg: &str) -> Result<tender_agents::Split, String> {
    let bad = || format!("{arg:?}: expected BY:PART/PARTS[:SEED], BY `topic` or `task`, e.g. topic:0/2 or task:1/2:7");
    let mut fields = arg.split(':');
    let by = match fields.next() {
        Some("topic") => tender_agents::SplitBy::Topic,
        Some("task") => tender_agents::SplitBy::Task,
        _ => return Err(bad()),
    };
    let (part, parts) = fields.next().and_then(|p| p.split_once('/')).ok_or_else(bad)?;
    let number = |s: &str| s.trim().parse::<u32>().map_err(|_| bad());
    let seed = fields.next().map(|s| s.trim().parse::<u64>().map_err(|_| bad())).transpose()?.unwrap_or(0);
    if fields.next().is_some() {
        return Err(bad());
    }
    let split = tender_agents::Split { by, part: number(part)?, parts: number(parts)?, seed };
    let mut c = tender_agents::validate::Checker::default();
    split.check(&mut c);
    c.finish().map_err(|e| format!("{arg:?}: {e}"))?;
    Ok(split)
}

/// The form of a run's result files.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Csv,
    Parquet,
}

/// How a run writes its per-task rows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum TaskRows {
    Csv,
    Gzip,
    None,
}

#[derive(Debug, Args)]
pub struct BenchArgs {
    /// The scenario file (.ron).
    pub file: PathBuf,
    /// Episodes to time [default: 1000, or 1 with `--tasks`].
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    pub episodes: Option<u32>,
    /// Scale the scenario's synthetic task stream to this many tasks an episode; several
    /// (`--tasks 1000,10000`) print a table of time and peak memory against stream length.
    #[arg(long, value_delimiter = ',', value_parser = clap::value_parser!(u64).range(1..=100_000_000))]
    pub tasks: Vec<u64>,
    /// Instead of timing, stream the first episode's tasks through SALE's memory indexes and
    /// print each one's recall@k against the exact scan, the similarities it computed and how
    /// far its lesson count strays from the scan's.
    #[arg(long)]
    pub recall: bool,
    /// Neighbours retrieved, for `--recall`.
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u32).range(1..=1024))]
    pub k: u32,
    #[command(flatten)]
    pub threads: Threads,
    /// The mechanism to time, by its table name [default: the scenario's first].
    #[arg(long)]
    pub mechanism: Option<String>,
}

/// Most worker threads a command takes: far beyond any machine's useful parallelism for these
/// CPU-bound runs, and a guard against a typo spawning thousands of threads.
pub const MAX_JOBS: usize = 512;

/// `--jobs N` with 1 <= N <= [`MAX_JOBS`].
/// `--set PATH=VALUES`.
fn set(arg: &str) -> Result<ParamSpec, String> {
    parse_set(arg).map_err(|e| e.to_string())
}

/// `--design grid|zip|random:N|lhs:N`.
pub(crate) fn design(arg: &str) -> Result<Design, String> {
    let count = |n: &str| n.parse::<u32>().map_err(|_| "expected a count after ':'".to_string());
    match arg.split_once(':') {
        None if arg == "grid" => Ok(Design::Grid),
        None if arg == "zip" => Ok(Design::Zip),
        Some(("random", n)) => Ok(Design::Random(count(n)?)),
        Some(("lhs", n)) => Ok(Design::LatinHypercube(count(n)?)),
        _ => Err("expected grid, zip, random:N or lhs:N".into()),
    }
}

/// `--shard K/N` with 1 <= K <= N.
fn shard(arg: &str) -> Result<Shard, String> {
    let parsed = arg.split_once('/').and_then(|(k, n)| Some((k.parse::<usize>().ok()?, n.parse::<usize>().ok()?)));
    match parsed {
        Some((k, n)) if k >= 1 && k <= n => Ok(Shard { k, n }),
        _ => Err("expected K/N with 1 <= K <= N, e.g. 2/8".into()),
    }
}

fn jobs(arg: &str) -> Result<usize, String> {
    match arg.parse::<usize>() {
        Ok(n) if (1..=MAX_JOBS).contains(&n) => Ok(n),
        _ => Err(format!("expected a number of threads from 1 to {MAX_JOBS}")),
    }
}
