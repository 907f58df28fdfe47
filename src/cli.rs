//! Command-line arguments.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

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
    /// 95% confidence intervals, and write summary.csv, tasks.csv and scenario.ron to the output
    /// folder.
    Run(RunArgs),
    /// Check a scenario file: syntax (with file, line and column) and every value's range.
    Validate {
        /// The scenario file (.ron).
        file: PathBuf,
    },
    /// Measure episodes per second for one mechanism of a scenario (no files written).
    Bench(BenchArgs),
    /// Fit SALE's weights on the scenario's training tasks with the paper's min-max program (a
    /// linear program; see ARCHITECTURE.md) and write them to a file that `Sale(weights: ...)`
    /// can name.
    Fit(FitArgs),
}

#[derive(Debug, Args)]
pub struct FitArgs {
    /// The scenario file (.ron); its `training` split provides the training tasks.
    pub file: PathBuf,
    /// Episodes whose training tasks are used.
    #[arg(long, default_value_t = 1)]
    pub episodes: u32,
    /// Minimise the worst training task's loss (the paper's choice) or the mean loss.
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
}

impl From<ObjectiveArg> for tender_engine::fit::Objective {
    fn from(o: ObjectiveArg) -> Self {
        match o {
            ObjectiveArg::MinMax => Self::MinMax,
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
    #[arg(long)]
    pub episodes: Option<u32>,
    /// Worker threads [default: one per core]. Results are identical for any value.
    #[arg(long, short = 'j')]
    pub jobs: Option<usize>,
    /// Output folder, replacing the scenario's `output`.
    #[arg(long)]
    pub out: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct BenchArgs {
    /// The scenario file (.ron).
    pub file: PathBuf,
    /// Episodes to time.
    #[arg(long, default_value_t = 1000)]
    pub episodes: u32,
    /// Worker threads [default: one per core].
    #[arg(long, short = 'j')]
    pub jobs: Option<usize>,
    /// The mechanism to time, by its table name [default: the scenario's first].
    #[arg(long)]
    pub mechanism: Option<String>,
}
