//! `tau-ladder`: Tender's command line with two more mechanisms written outside the engine,
//! `TauLadder` (a routing rule) and `PostedPrice` (a posted-price market with payments), each
//! registered by one line before anything is parsed. Every subcommand works as in `tender`:
//! `tau-ladder run tau-ladder.ron`.

mod ladder;
mod posted;

use std::process::ExitCode;

use tender_engine::prelude::{entry, register};

fn main() -> ExitCode {
    let registered = register(entry::<ladder::TauLadder>()).and_then(|()| register(entry::<posted::PostedPrice>()));
    if let Err(e) = registered {
        eprintln!("error: {e}");
        return ExitCode::FAILURE;
    }
    tender::main()
}
