//! The `tender` binary end to end, as one test binary (one link, one process per `cargo test`):
//! each module a command or a backend, sharing the helpers in `util`.

mod arrivals;
mod cli;
mod docs;
mod folders;
mod games;
mod live;
mod paper;
mod plots;
mod replay;
mod sweep;
mod util;
