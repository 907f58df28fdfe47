//! `tender`: simulate, run and compare markets in which LLM agents compete for tasks: SALE
//! strategy auctions, routers and classic auctions, on synthetic stand-ins, live models or
//! recorded traces.
//!
//! The command line is a library so that a crate with mechanisms of its own can run it: register
//! them, then call [`main`] (see `examples/tau-ladder`).
//!
//! ```no_run
//! fn main() -> std::process::ExitCode {
//!     // tender_engine::mechanisms::register(tender_engine::mechanisms::entry::<MyKind>())...
//!     tender::main()
//! }
//! ```

pub mod api;
mod backends;
mod calibrate;
mod cli;
mod commands;
mod doctor;
mod fields;
mod game;
mod io;
mod reproduce;
mod results;
mod shapley;
mod sweep;
mod validation;

use std::process::ExitCode;

use anyhow::Result;
use clap::Parser;

use crate::cli::{Cli, Command};

/// Parse the command line, run the command, print any error with its causes; the exit code is
/// the command's (0 done, 1 error, 2 usage, 3 failed live calls).
#[must_use]
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    match dispatch(cli) {
        Ok(code) => code,
        Err(e) => {
            // No key Tender holds reaches the terminal, in any encoding.
            let redact = |s: String| tender_agents::live::redact(&s);
            eprintln!("error: {}", redact(e.to_string()));
            for cause in e.chain().skip(1) {
                eprintln!("  caused by: {}", redact(cause.to_string()));
            }
            ExitCode::FAILURE
        }
    }
}

/// Run the command the user asked for.
fn dispatch(cli: Cli) -> Result<ExitCode> {
    let done = |r: Result<()>| r.map(|()| ExitCode::SUCCESS);
    done(match cli.command {
        Command::Run(args) => return commands::run(&args),
        Command::Validate { file } => commands::validate(&file),
        Command::Fields { name } => fields::fields(name.as_deref()),
        Command::Doctor { file, task } => return doctor::doctor(&file, task.as_deref()),
        Command::Bench(args) => commands::bench(&args),
        Command::Fit(args) => commands::fit(&args),
        Command::Plot { dir } => commands::plot(&dir),
        Command::Sweep(args) => sweep::sweep(&args),
        Command::Merge { out, shards, partial } => sweep::merge(&out, &shards, partial),
        Command::Reproduce(args) => reproduce::reproduce(&args),
        Command::Calibrate(args) => calibrate::calibrate(&args),
        Command::Validation(args) => validation::validation(&args),
        Command::Shapley(args) => shapley::shapley(&args),
        Command::Game(args) => game::game(&args),
    })
}
