//! What every end-to-end test needs: the binary, the fixtures, and text from its output.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// `tender ARGS` with extra environment variables.
pub fn tender_env(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_tender"));
    cmd.args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("tender runs")
}

/// `tender ARGS`.
pub fn tender(args: &[&str]) -> Output {
    tender_env(args, &[])
}

/// `tender ARGS`, which must succeed.
pub fn tender_ok(args: &[&str]) -> Output {
    let o = tender(args);
    assert!(o.status.success(), "{args:?}: {}", text(&o.stderr));
    o
}

/// `tender run SCENARIO --episodes N --no-plots --out OUT`, whatever its outcome.
pub fn run_into(scenario: &Path, episodes: u32, out: &Path) -> Output {
    tender(&["run", path(scenario), "--episodes", &episodes.to_string(), "--no-plots", "--out", path(out)])
}

/// A file of the project, by its path from the root.
pub fn project(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

/// The engine's small test scenario.
pub fn small() -> PathBuf {
    project("engine/tests/fixtures/small.ron")
}

pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

pub fn path(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

/// The engine's small scenario with Poisson arrivals at `rate` per second, written into `dir`.
pub fn timed_small(dir: &Path, rate: f64) -> PathBuf {
    let text = std::fs::read_to_string(small())
        .expect("fixture")
        .replace("    mechanisms: [", &format!("    arrivals: Poisson(rate: {rate}),\n    mechanisms: ["));
    let path = dir.join("timed.ron");
    std::fs::write(&path, text).expect("scenario written");
    path
}
