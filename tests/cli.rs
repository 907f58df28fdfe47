//! The `tender` binary, end to end.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn tender(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tender")).args(args).output().expect("tender runs")
}

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("engine/tests/fixtures").join(name)
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn run_prints_the_comparison_and_writes_results() {
    let out = tempfile::tempdir().expect("temp dir");
    let small = fixture("small.ron");
    let o = tender(&[
        "run",
        small.to_str().expect("utf-8 path"),
        "--episodes",
        "4",
        "--jobs",
        "2",
        "--out",
        out.path().to_str().expect("utf-8 path"),
    ]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let stdout = text(&o.stdout);
    for name in ["SALE", "SALE (no memory)", "small alone", "large alone", "random", "oracle", "pass@1 %"] {
        assert!(stdout.contains(name), "table lacks {name:?}:\n{stdout}");
    }
    let summary = std::fs::read_to_string(out.path().join("summary.csv")).expect("summary.csv written");
    assert!(summary.starts_with("mechanism,scope,metric,mean,ci_low,ci_high,episodes\n"));
    assert!(summary.contains("SALE,all,pass_at_1,"));
    assert!(summary.contains("SALE,qa/tau<=0.1,pass_at_1,"));
    let tasks = std::fs::read_to_string(out.path().join("tasks.csv")).expect("tasks.csv written");
    // 4 episodes x 7 mechanisms x 70 tasks, plus the header.
    assert_eq!(tasks.lines().count(), 1 + 4 * 7 * 70);
    // The effective scenario is saved, with the command line's overrides, and runs again.
    let saved = out.path().join("scenario.ron");
    let again = tender(&["validate", saved.to_str().expect("utf-8 path")]);
    assert!(again.status.success(), "{}", text(&again.stderr));
    assert!(std::fs::read_to_string(&saved).expect("scenario.ron written").contains("episodes: 4"));
}

#[test]
fn results_do_not_depend_on_the_thread_count() {
    let small = fixture("small.ron");
    let dirs: Vec<_> = (0..2).map(|_| tempfile::tempdir().expect("temp dir")).collect();
    for (jobs, dir) in ["1", "2"].iter().zip(&dirs) {
        let o = tender(&[
            "run",
            small.to_str().expect("utf-8 path"),
            "--episodes",
            "3",
            "-j",
            jobs,
            "--out",
            dir.path().to_str().expect("utf-8 path"),
        ]);
        assert!(o.status.success(), "{}", text(&o.stderr));
    }
    for file in ["summary.csv", "tasks.csv"] {
        let a = std::fs::read(dirs[0].path().join(file)).expect("written");
        let b = std::fs::read(dirs[1].path().join(file)).expect("written");
        assert!(a == b, "{file} differs between 1 and 2 threads");
    }
}

#[test]
fn validate_accepts_good_files_and_explains_bad_ones() {
    let ok = tender(&["validate", fixture("small.ron").to_str().expect("utf-8 path")]);
    assert!(ok.status.success());
    assert!(text(&ok.stdout).contains("ok — 3 agents, 70 tasks per episode, 7 mechanisms"));

    let bad = tender(&["validate", fixture("malformed.ron").to_str().expect("utf-8 path")]);
    assert_eq!(bad.status.code(), Some(1));
    let err = text(&bad.stderr);
    assert!(err.contains("malformed.ron:5:5:"), "{err}");

    let range = tender(&["validate", fixture("out-of-range.ron").to_str().expect("utf-8 path")]);
    assert_eq!(range.status.code(), Some(1));
    let err = text(&range.stderr);
    assert!(err.contains("`agents[0].juror.accuracy` = 1.7 is invalid: must lie in [0, 1]"), "{err}");
    assert!(err.contains("`mechanisms[0].k` = 0 is invalid: must lie in [1, 1024]"), "{err}");

    let missing = tender(&["validate", "no/such/file.ron"]);
    assert_eq!(missing.status.code(), Some(1));
    assert!(text(&missing.stderr).contains("cannot read no/such/file.ron"));
}

#[test]
fn invalid_overrides_are_refused_with_the_allowed_range() {
    let o = tender(&["run", fixture("small.ron").to_str().expect("utf-8 path"), "--episodes", "0"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o.stderr).contains("`episodes` = 0 is invalid: must lie in [1, 10000000]"), "{}", text(&o.stderr));
}

#[test]
fn help_explains_every_command() {
    let o = tender(&["--help"]);
    let help = text(&o.stdout);
    for cmd in ["run", "validate", "bench"] {
        assert!(help.contains(cmd), "{help}");
    }
    let run = text(&tender(&["run", "--help"]).stdout);
    for flag in ["--seed", "--episodes", "--jobs", "--out"] {
        assert!(run.contains(flag), "{run}");
    }
}

#[test]
fn bench_reports_episodes_per_second() {
    let o = tender(&["bench", fixture("small.ron").to_str().expect("utf-8 path"), "--episodes", "5"]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert!(text(&o.stdout).contains("episodes/s"));
    let bad = tender(&["bench", fixture("small.ron").to_str().expect("utf-8 path"), "--mechanism", "nope"]);
    assert!(text(&bad.stderr).contains("no mechanism named \"nope\""));
}
