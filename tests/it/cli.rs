//! The `tender` binary, end to end.

use crate::util::{path, project, tender, tender_ok, text};

use std::path::PathBuf;

fn fixture(name: &str) -> PathBuf {
    project("engine/tests/fixtures").join(name)
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
    // The per-task file's size is said, with the smaller forms.
    assert!(stdout.contains("tasks.csv (") && stdout.contains(" MB; `--tasks gzip`"), "{stdout}");
    let summary = std::fs::read_to_string(out.path().join("summary.csv")).expect("summary.csv written");
    assert!(summary.starts_with("mechanism,scope,metric,mean,ci_low,ci_high,episodes\n"));
    assert!(summary.contains("SALE,all,pass_at_1,"));
    assert!(summary.contains("SALE,qa/tau<=0.1,pass_at_1,"));
    let tasks = std::fs::read_to_string(out.path().join("tasks.csv")).expect("tasks.csv written");
    // 4 episodes x 8 mechanisms x 70 tasks, plus the header.
    assert_eq!(tasks.lines().count(), 1 + 4 * 8 * 70);
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
    assert!(text(&ok.stdout).contains("ok — 3 agents, 70 tasks per episode, 8 mechanisms"));

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
    let o = tender(&["run", fixture("small.ron").to_str().expect("utf-8 path"), "--episodes", "20000000"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        text(&o.stderr).contains("`episodes` = 20000000 is invalid: must lie in [1, 10000000]"),
        "{}",
        text(&o.stderr)
    );
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

#[test]
fn bench_scales_the_stream_and_measures_memory_indexes() {
    let scale = project("scenarios/scale.ron");
    let o = tender_ok(&["bench", path(&scale), "--tasks", "400,800", "--jobs", "1"]);
    let out = text(&o.stdout);
    assert!(out.contains("(400 tasks each)") && out.contains("(800 tasks each)"), "{out}");
    let rows: Vec<&str> = out.lines().filter(|l| l.starts_with("| 400 |") || l.starts_with("| 800 |")).collect();
    assert_eq!(rows.len(), 2, "a row per length: {out}");
    let o = tender_ok(&["bench", path(&scale), "--recall", "--tasks", "2500"]);
    let out = text(&o.stdout);
    let exact = out.lines().find(|l| l.contains("`Cells(")).expect("the exact index's row");
    assert!(exact.contains("| 1.000 |"), "exact recall: {exact}");
    assert_eq!(out.lines().filter(|l| l.contains("`Ivf(")).count(), 3, "{out}");
    let recorded = tender(&["bench", path(&project("tests/fixtures/routellm-mini.ron")), "--tasks", "10"]);
    assert!(text(&recorded.stderr).contains("--tasks scales synthetic task streams"), "{}", text(&recorded.stderr));
}

#[test]
fn fit_writes_weights_a_scenario_can_name() {
    let dir = tempfile::tempdir().expect("temp dir");
    let scenario = dir.path().join("fitted.ron");
    let contents = std::fs::read_to_string(fixture("small.ron")).expect("fixture").replace(
        "mechanisms: [",
        "training: Holdout(0.3),\n    mechanisms: [\n        Sale(name: \"SALE (fitted)\", weights: \"w.ron\"),",
    );
    std::fs::write(&scenario, contents).expect("scenario written");
    let weights = dir.path().join("w.ron");
    // The scenario names a file that does not exist yet: running it says so.
    let early = tender(&["validate", scenario.to_str().expect("utf-8 path")]);
    assert_eq!(early.status.code(), Some(1));
    let said = text(&early.stderr);
    assert!(said.contains("cannot use a file a mechanism names") && said.contains("cannot read"), "{said}");

    let fit = tender(&["fit", scenario.to_str().expect("utf-8 path"), "--out", weights.to_str().expect("utf-8 path")]);
    assert!(fit.status.success(), "{}", text(&fit.stderr));
    assert!(text(&fit.stdout).contains("Fitted on 21 training tasks (MinMax)"), "{}", text(&fit.stdout));
    let written = std::fs::read_to_string(&weights).expect("weights written");
    assert!(written.contains("w_c:") && written.contains("juror_weights:"));

    let out = dir.path().join("out");
    let run = tender(&[
        "run",
        scenario.to_str().expect("utf-8 path"),
        "--episodes",
        "2",
        "--out",
        out.to_str().expect("utf-8 path"),
    ]);
    assert!(run.status.success(), "{}", text(&run.stderr));
    assert!(text(&run.stdout).contains("SALE (fitted)"));
    // The saved scenario carries the numbers, not the reference, so it runs from anywhere.
    let saved = std::fs::read_to_string(out.join("scenario.ron")).expect("saved");
    assert!(!saved.contains("w.ron") && saved.contains("juror_weights"));

    let average = tender(&[
        "fit",
        scenario.to_str().expect("utf-8 path"),
        "--objective",
        "average",
        "--out",
        weights.to_str().expect("utf-8 path"),
    ]);
    assert!(text(&average.stdout).contains("(Average)"));
}

#[test]
fn misuses_are_refused_with_a_usage_error() {
    let small = fixture("small.ron");
    let small = small.to_str().expect("utf-8 path");
    for (args, says) in [
        (vec!["bench", small, "--episodes", "0"], "0 is not in 1.."),
        (vec!["fit", small, "--episodes", "0"], "0 is not in 1.."),
        (vec!["run", small, "--jobs", "100000"], "from 1 to 512"),
        (vec!["run", small, "--episodes", "0"], "0 is not in 1.."),
    ] {
        let o = tender(&args);
        assert_eq!(o.status.code(), Some(2), "{args:?}");
        assert!(text(&o.stderr).contains(says), "{args:?}: {}", text(&o.stderr));
    }
    // A device is not a scenario file, however long it reads.
    let o = tender(&["validate", "/dev/zero"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o.stderr).contains("not a regular file"), "{}", text(&o.stderr));
    let o = tender(&["plot", "/nonexistent/results"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o.stderr).contains("no such folder"), "{}", text(&o.stderr));
    let o = tender(&["bench", small, "--episodes", "1", "-j", "1"]);
    assert!(text(&o.stdout).contains("1 episode of") && text(&o.stdout).contains(", 1 thread"), "{}", text(&o.stdout));
}

#[test]
fn a_run_too_large_for_the_machine_is_refused_before_it_starts() {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("huge.ron");
    std::fs::write(
        &file,
        r#"Scenario(
    name: "huge", seed: 1, episodes: 100,
    agents: [(name: "b", price: 1.0, skill: {"qa": [0.5]})],
    workload: (domains: [(name: "qa", bins: [(tau_max: 1.0, tasks: 10000000)])]),
    mechanisms: [EachAgent, Random],
)"#,
    )
    .expect("written");
    let started = std::time::Instant::now();
    let o = tender(&["run", file.to_str().expect("utf-8"), "--out", dir.path().join("out").to_str().expect("utf-8")]);
    assert_eq!(o.status.code(), Some(1));
    assert!(started.elapsed() < std::time::Duration::from_secs(10));
    assert!(
        text(&o.stderr).contains("this needs about") && text(&o.stderr).contains("GiB available"),
        "{}",
        text(&o.stderr)
    );
}

#[test]
fn proportions_keep_their_intervals_inside_zero_and_one_and_one_episode_has_none() {
    let dir = tempfile::tempdir().expect("temp dir");
    let small = fixture("small.ron");
    let out = dir.path().join("two");
    let o = crate::util::run_into(&small, 2, &out);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let mut r = csv::Reader::from_path(out.join("summary.csv")).expect("summary.csv");
    let mut checked = 0;
    for row in r.records() {
        let row = row.expect("row");
        let (metric, low, high) = (&row[2], row[4].parse::<f64>().expect("low"), row[5].parse::<f64>().expect("high"));
        if metric.starts_with("share:") || metric == "pass_at_1" {
            assert!((0.0..=1.0).contains(&low) && (0.0..=1.0).contains(&high), "{row:?}");
            checked += 1;
        }
    }
    assert!(checked > 100, "{checked}");
    let o = crate::util::run_into(&small, 1, &dir.path().join("one"));
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert!(text(&o.stdout).contains(" ± n/a"), "{}", text(&o.stdout));
}

#[test]
fn equal_prices_are_said_and_reference_agents_follow_sizes_or_marks() {
    let dir = tempfile::tempdir().expect("temp dir");
    let scenario = std::fs::read_to_string(fixture("small.ron"))
        .expect("fixture")
        .replace("(name: \"small\", price: 0.05,", "(name: \"qwen2.5-0.5b\", price: 0.0,")
        .replace("(name: \"medium\", price: 0.12,", "(name: \"smollm2-135m\", price: 0.0,")
        .replace("(name: \"large\", price: 0.36,", "(name: \"qwen2.5-7b\", price: 0.0,");
    let path = dir.path().join("local.ron");
    std::fs::write(&path, &scenario).expect("written");
    let o = tender(&["validate", path.to_str().expect("utf-8")]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let err = text(&o.stderr);
    assert!(
        err.contains("warning: mechanisms[0]: every agent has the same price")
            && err.contains("equals SALE without memory"),
        "{err}"
    );
    assert!(
        err.contains("the largest agent") && err.contains("\"qwen2.5-7b\", by the model size in its name"),
        "{err}"
    );
    assert!(err.contains("the smallest agent") && err.contains("\"smollm2-135m\""), "{err}");
    let out = dir.path().join("out");
    let o = crate::util::run_into(&path, 1, &out);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let agents = std::fs::read_to_string(out.join("agents.csv")).expect("agents.csv");
    assert!(agents.contains("qwen2.5-7b,0,0,largest") && agents.contains("smollm2-135m,0,0,smallest"), "{agents}");
    // A mark names the reference; the warning about it goes.
    std::fs::write(
        &path,
        scenario.replace(
            "(name: \"qwen2.5-0.5b\", price: 0.0,",
            "(name: \"qwen2.5-0.5b\", price: 0.0, reference: Largest,",
        ),
    )
    .expect("written");
    let o = tender(&["validate", path.to_str().expect("utf-8")]);
    assert!(o.status.success() && !text(&o.stderr).contains("the largest agent"), "{}", text(&o.stderr));
}
