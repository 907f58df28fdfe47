//! The `tender` binary: the command line of [`tender::main`] with the library's mechanisms.

use std::process::ExitCode;

fn main() -> ExitCode {
    tender::main()
}
