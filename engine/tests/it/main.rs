//! The engine's integration tests, as one test binary: whole batches and scenario files, sharing
//! the helpers in `util`.

mod bare_loop;
mod batch;
mod clock;
mod fitting;
mod scenarios;
mod util;
