//! The example's binary runs its scenario: the ladder beside SALE, from outside the engine.

use std::path::Path;
use std::process::Command;

fn scenario() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tau-ladder.ron")
}

#[test]
fn the_ladder_runs_beside_sale_and_reports_its_quantities() {
    let out = tempfile::tempdir().expect("temp dir");
    let run = Command::new(env!("CARGO_BIN_EXE_tau-ladder"))
        .args(["run", scenario().to_str().expect("utf-8"), "--episodes", "4", "--no-plots", "--out"])
        .arg(out.path())
        .output()
        .expect("tau-ladder runs");
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    assert!(stdout.contains("τ ladder") && stdout.contains("SALE"), "{stdout}");
    assert!(stdout.contains("mean rung") && stdout.contains("escalated %"), "{stdout}");

    let tasks = std::fs::read_to_string(out.path().join("tasks.csv")).expect("tasks.csv");
    let header: Vec<&str> = tasks.lines().next().expect("header").split(',').collect();
    let rung = header.iter().position(|c| *c == "rung").expect("a rung column");
    let mechanism = header.iter().position(|c| *c == "mechanism").expect("a mechanism column");
    for line in tasks.lines().skip(1) {
        let cells: Vec<&str> = line.split(',').collect();
        // Only the ladder's rows carry a rung, each one of the four agents'.
        match cells[mechanism] {
            "τ ladder" => assert!(["0", "1", "2", "3"].contains(&cells[rung]), "{line}"),
            _ => assert_eq!(cells[rung], "", "{line}"),
        }
    }
    let summary = std::fs::read_to_string(out.path().join("summary.csv")).expect("summary.csv");
    assert!(summary.lines().any(|l| l.starts_with("τ ladder,all,escalated,")), "{summary}");
}

#[test]
fn plain_tender_refuses_the_kind_it_does_not_know() {
    let text = std::fs::read_to_string(scenario()).expect("scenario");
    let err = tender_engine::Scenario::parse(&text, "tau-ladder.ron").expect_err("TauLadder is not registered here");
    assert!(err.to_string().contains("unknown mechanism `TauLadder`"), "{err}");
}
