//! Helpers shared by the engine's integration tests.

use std::path::PathBuf;
use std::sync::Arc;

use tender_engine::{BatchResult, RunOptions, Scenario, run_batch};

pub fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name)
}

pub fn load(path: &std::path::Path) -> Scenario {
    let text = std::fs::read_to_string(path).expect("fixture is readable");
    Scenario::parse(&text, &path.display().to_string()).expect("fixture is a valid scenario")
}

pub fn run(scenario: &Scenario, episodes: u32, jobs: Option<usize>) -> BatchResult {
    let source = Arc::new(scenario.source().expect("valid pool"));
    let options = RunOptions { seed: scenario.seed, episodes, jobs, timing: None, cancel: None };
    run_batch(source, &scenario.workload, scenario.training, &scenario.resolve_mechanisms(), &options, &|| {})
        .expect("batch runs")
}
