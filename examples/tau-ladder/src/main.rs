//! `tau-ladder`: Tender's command line with one more mechanism, `TauLadder`, registered before
//! anything is parsed. Every subcommand works as in `tender`: `tau-ladder run tau-ladder.ron`.

mod ladder;

use std::process::ExitCode;

use tender_engine::prelude::{entry, register};

fn main() -> ExitCode {
    if let Err(e) = register(entry::<ladder::TauLadder>()) {
        eprintln!("error: {e}");
        return ExitCode::FAILURE;
    }
    tender::main()
}
