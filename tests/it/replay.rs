//! Replaying recorded benchmark tables: RouterBench and RouteLLM fixtures written for the
//! project, and RouteLLM's real GSM8K trace when `../shared/data` is present.

use crate::util::{project, tender, text};

use std::path::{Path, PathBuf};
use std::process::Output;

fn fixture(name: &str) -> PathBuf {
    project("tests/fixtures").join(name)
}

/// A `routing.csv` row: (mechanism, curve, strong share, accuracy, $ per task, PGR).
type Row = (String, String, f64, f64, f64, f64);

/// `routing.csv` as mechanism rows and `(curve, APGR)` rows.
fn routing(dir: &Path) -> (Vec<Row>, Vec<(String, f64)>) {
    let text = std::fs::read_to_string(dir.join("routing.csv")).expect("routing.csv");
    let mut rows = Vec::new();
    let mut apgr = Vec::new();
    assert!(text.starts_with("mechanism,curve,"), "a plain CSV with a header row");
    for line in text.lines().skip(1) {
        let f: Vec<&str> = line.split(',').collect();
        let num = |i: usize| f[i].parse::<f64>().unwrap_or(f64::NAN);
        if f[1] == "APGR" {
            apgr.push((f[0].to_string(), num(9)));
        } else {
            rows.push((f[0].to_string(), f[1].to_string(), num(2), num(5), num(8), num(9)));
        }
    }
    (rows, apgr)
}

fn run(scenario: &Path, out: &Path, extra: &[&str]) -> Output {
    let mut args = vec!["run", scenario.to_str().expect("utf-8"), "--out", out.to_str().expect("utf-8")];
    args.extend_from_slice(extra);
    tender(&args)
}

#[test]
fn routerbench_table_replays_with_recorded_costs_and_an_apgr() {
    let out = tempfile::tempdir().expect("temp dir");
    let o = run(&fixture("routerbench-mini.ron"), out.path(), &[]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let stdout = text(&o.stdout);
    assert!(stdout.contains("APGR of kNN"), "{stdout}");
    let (rows, apgr) = routing(out.path());
    let get = |name: &str| rows.iter().find(|r| r.0 == name).unwrap_or_else(|| panic!("no row {name}"));
    let (small, big, oracle) = (get("small alone"), get("big alone"), get("oracle"));
    assert_eq!((small.2, big.2), (0.0, 1.0), "strong shares of the single agents");
    assert!(oracle.3 >= big.3 && oracle.3 >= small.3, "the oracle is at least as accurate as any agent");
    assert!((big.5 - 1.0).abs() < 1e-12 && small.5.abs() < 1e-12, "PGR anchors");
    assert_eq!(apgr.len(), 1);
    assert!(apgr[0].1 > 0.0 && apgr[0].1 < 1.5, "{apgr:?}");
    // Costs are the table's recorded `total_cost`, billed as is: the big model's mean over the
    // evaluated tasks lies within the column's range.
    assert!(big.4 > 0.003 && big.4 < 0.0095, "{}", big.4);
    for file in ["accuracy_vs_strong_share.png", "accuracy_vs_strong_share.svg", "report.html"] {
        assert!(out.path().join(file).exists(), "{file}");
    }
}

#[test]
fn auctions_of_plans_are_refused_on_recorded_tables_with_a_clear_error() {
    let dir = tempfile::tempdir().expect("temp dir");
    let text_in = std::fs::read_to_string(fixture("routellm-mini.ron")).expect("fixture");
    let with_sale = text_in.replace("mechanisms: [EachAgent,", "mechanisms: [Sale(w_c: 0.01), EachAgent,");
    let path = dir.path().join("sale.ron");
    std::fs::write(&path, with_sale).expect("written");
    std::fs::copy(fixture("routellm-mini.csv"), dir.path().join("routellm-mini.csv")).expect("copied");
    let o = tender(&["validate", path.to_str().expect("utf-8")]);
    assert!(!o.status.success());
    let err = text(&o.stderr);
    assert!(err.contains("mechanisms[0]") && err.contains("needs plans and jury scores"), "{err}");
}

#[test]
fn routellm_fixture_replays_deterministically() {
    let (a, b) = (tempfile::tempdir().expect("temp dir"), tempfile::tempdir().expect("temp dir"));
    let scenario = fixture("routellm-mini.ron");
    assert!(run(&scenario, a.path(), &["--no-plots", "--jobs", "1"]).status.success());
    assert!(run(&scenario, b.path(), &["--no-plots", "--jobs", "2"]).status.success());
    let read = |d: &Path| std::fs::read_to_string(d.join("tasks.csv")).expect("tasks.csv");
    assert_eq!(read(a.path()), read(b.path()));
    let (rows, _) = routing(a.path());
    let weak = rows.iter().find(|r| r.0 == "weak alone").expect("weak");
    let strong = rows.iter().find(|r| r.0 == "strong alone").expect("strong");
    assert!(strong.3 > weak.3, "the strong model is the more accurate in the fixture");
    assert!(strong.4 > weak.4 * 10.0, "and the dearer");
}

#[test]
#[cfg_attr(
    not(tender_routellm_data),
    ignore = "../shared/data/routellm is absent (the real RouteLLM trace is not shipped)"
)]
fn routellm_gsm8k_real_trace() {
    let out = tempfile::tempdir().expect("temp dir");
    let scenario = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/routellm-gsm8k.ron");
    let o = run(&scenario, out.path(), &["--episodes", "2", "--no-plots"]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let (rows, apgr) = routing(out.path());
    let acc = |name: &str| rows.iter().find(|r| r.0 == name).map(|r| r.3).expect("row");
    // RouteLLM's GSM8K: GPT-4 solves 1130 of 1319 (85.7%), Mixtral 842 (63.8%).
    assert!((acc("gpt-4 alone") - 0.857).abs() < 0.04, "{}", acc("gpt-4 alone"));
    assert!((acc("mixtral-8x7b alone") - 0.638).abs() < 0.04, "{}", acc("mixtral-8x7b alone"));
    assert!(acc("oracle") > acc("gpt-4 alone"));
    assert!(apgr[0].1 > 0.3 && apgr[0].1 < 0.9, "{apgr:?}");
}

#[test]
fn stand_ins_calibrate_to_a_recorded_table() {
    let out = tempfile::tempdir().expect("temp dir");
    let o = tender(&[
        "calibrate",
        fixture("routerbench-standins.ron").to_str().expect("utf-8"),
        "--targets-from",
        fixture("routerbench-mini.ron").to_str().expect("utf-8"),
        "--iterations",
        "60",
        "--out",
        out.path().to_str().expect("utf-8"),
    ]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let fit = std::fs::read_to_string(out.path().join("fit.md")).expect("fit table");
    // Per-agent pass@1 per domain, every pair's joint success and the oracle: 6 + 3 + 1 targets.
    let rows: Vec<&str> = fit.lines().filter(|l| l.contains("recorded: ")).collect();
    assert_eq!(rows.len(), 10, "{fit}");
    assert_eq!(rows.iter().filter(|l| l.contains("`joint_success`")).count(), 3);
    assert!(rows.iter().any(|l| l.starts_with("| big alone | trivia | `pass_at_1` |")), "{fit}");
    // The recorded table's per-domain pass@1 is what the skill table exists to match.
    let within = rows.iter().filter(|l| l.contains("| yes |")).count();
    assert!(within >= 8, "{within} of 10 targets within tolerance:\n{fit}");
    let calibrated = std::fs::read_to_string(out.path().join("scenario.ron")).expect("calibrated scenario");
    assert!(calibrated.contains("routerbench-standins"));
}

#[test]
fn sale_weights_are_not_fitted_on_a_recorded_pool() {
    let o = tender(&["fit", fixture("routerbench-mini.ron").to_str().expect("utf-8"), "--episodes", "1"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o.stderr).contains("recorded agents (trace tables) do not have"), "{}", text(&o.stderr));
}

#[test]
fn validate_checks_recorded_agents_columns_as_run_does() {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::copy(fixture("routellm-mini.csv"), dir.path().join("routellm-mini.csv")).expect("copied");
    let scenario = std::fs::read_to_string(fixture("routellm-mini.ron")).expect("fixture");
    let path = dir.path().join("s.ron");
    std::fs::write(&path, scenario.replace("\"strong-model\"", "\"no-such-model\"")).expect("written");
    let shown = path.to_str().expect("utf-8");
    for command in ["validate", "run"] {
        let out = dir.path().join("out");
        let args = [command, shown, "--out", out.to_str().expect("utf-8")];
        let o = tender(&args[..if command == "validate" { 2 } else { 4 }]);
        assert_eq!(o.status.code(), Some(1), "{command}: {}", text(&o.stderr));
        assert!(text(&o.stderr).contains("no-such-model"), "{command}: {}", text(&o.stderr));
    }
}

/// Task ids of a run's tasks.csv (the `task` column), sorted and deduplicated.
fn task_ids(dir: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(dir.join("tasks.csv")).expect("tasks.csv");
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().expect("header").split(',').collect();
    let column = header.iter().position(|h| *h == "task").expect("a task column");
    let mut ids: Vec<String> = lines.map(|l| l.split(',').nth(column).expect("field").to_string()).collect();
    ids.sort();
    ids.dedup();
    ids
}

#[test]
fn a_split_keeps_disjoint_parts_that_together_hold_every_task() {
    let dir = tempfile::tempdir().expect("temp dir");
    // Every task evaluated in every episode: no training split.
    let text_of = std::fs::read_to_string(fixture("routellm-mini.ron"))
        .expect("fixture")
        .replace("training: Holdout(0.5),", "")
        .replace(
            "mechanisms: [EachAgent, Random, Oracle, Carrot(name: \"kNN\", k: 5, lambdas: [0, 100, 1000])]",
            "mechanisms: [EachAgent]",
        );
    let scenario = dir.path().join("mini.ron");
    std::fs::write(
        &scenario,
        text_of.replace("routellm-mini.csv", fixture("routellm-mini.csv").to_str().expect("utf-8")),
    )
    .expect("written");
    let mut parts = Vec::new();
    for part in ["task:0/2:3", "task:1/2:3"] {
        let out = dir.path().join(part.replace([':', '/'], "-"));
        let o = run(&scenario, &out, &["--episodes", "2", "--no-plots", "--split", part]);
        assert!(o.status.success(), "{}", text(&o.stderr));
        parts.push(task_ids(&out));
    }
    let whole = dir.path().join("whole");
    assert!(run(&scenario, &whole, &["--episodes", "2", "--no-plots"]).status.success());
    assert!(parts[0].iter().all(|t| !parts[1].contains(t)), "the parts are disjoint");
    assert_eq!(task_ids(&whole).len(), 40);
    assert_eq!(parts[0].len() + parts[1].len(), 40, "the parts hold every task");
    for bad in ["task:2/2", "subject:0/2", "task:0"] {
        let o = run(&scenario, &dir.path().join("bad"), &["--split", bad]);
        assert!(!o.status.success(), "{bad} is refused");
        assert!(
            text(&o.stderr).contains("BY:PART/PARTS") || text(&o.stderr).contains("must be below"),
            "{}",
            text(&o.stderr)
        );
    }
}

#[test]
fn a_routellm_folder_read_as_one_domain_keeps_ids_unique_and_subjects_as_topics() {
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("mmlu");
    std::fs::create_dir(&data).expect("mkdir");
    let table = std::fs::read_to_string(fixture("routellm-mini.csv")).expect("fixture");
    for subject in ["mmlu_algebra", "mmlu_anatomy", "mmlu_law"] {
        std::fs::write(data.join(format!("{subject}.csv")), &table).expect("written");
    }
    let scenario = std::fs::read_to_string(fixture("routellm-mini.ron")).expect("fixture").replace(
        "(path: \"routellm-mini.csv\", format: RouteLlm)",
        "(path: \"mmlu\", format: RouteLlm, domain: \"mmlu\", split: (by: Topic, part: 0, parts: 3))",
    );
    let file = dir.path().join("mmlu.ron");
    std::fs::write(&file, scenario).expect("written");
    let out = dir.path().join("out");
    let o = run(&file, &out, &["--episodes", "1", "--no-plots"]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let ids = task_ids(&out);
    assert!(!ids.is_empty());
    // One subject of three: its rows, named by file.
    let prefixes: std::collections::BTreeSet<&str> = ids.iter().filter_map(|t| t.split(':').next()).collect();
    assert_eq!(prefixes.len(), 1, "{prefixes:?}");
    let summary = std::fs::read_to_string(out.join("summary.csv")).expect("summary");
    assert!(summary.contains("mmlu"), "one domain, named by `domain:`");
}

#[test]
#[cfg_attr(
    not(tender_validation_data),
    ignore = "../shared/data/routellm or ../shared/data/live/example30 is absent (real data is not shipped)"
)]
fn validation_calibrates_on_one_part_and_predicts_the_other() {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = dir.path().join("validation.md");
    let tracked = std::fs::read(project("docs/validation.md")).expect("the tracked report");
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_tender"))
        .current_dir(project(""))
        .args([
            "validation",
            "--episodes",
            "2",
            "--calibration-episodes",
            "2",
            "--iterations",
            "8",
            "--live-episodes",
            "40",
            "--out",
        ])
        .arg(&out)
        .output()
        .expect("tender runs");
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert_eq!(std::fs::read(project("docs/validation.md")).expect("tracked report"), tracked);
    let doc = std::fs::read_to_string(&out).expect("report");
    for needle in ["## MMLU, split by subject", "## GSM8K, split by prompt", "`topic_difficulty`", "| kNN: APGR |"] {
        assert!(doc.contains(needle), "{needle} missing:\n{doc}");
    }
    // Per dataset: each agent's pass@1, joint success, the oracle, and three of the router's.
    assert_eq!(doc.lines().filter(|l| l.starts_with("| kNN: ")).count(), 6, "{doc}");
    assert_eq!(doc.lines().filter(|l| l.contains("(target on A)")).count(), 8, "{doc}");
    assert!(dir.path().join("validation/mmlu-knn.png").exists());
    // The live run beside its stand-in twin: behaviour per agent, then SALE predicted and live.
    assert!(doc.contains("# example30: a live run and its simulation"), "{doc}");
    assert_eq!(doc.lines().filter(|l| l.contains("| plans: ln length, mean ± sd |")).count(), 3, "{doc}");
    assert!(doc.contains("| SALE (k=4): pass@1 | 0.333 |"), "the live SALE scored 10 of 30: {doc}");
    // Plan lengths are read into the stand-ins: their mean log length follows the trace's.
    for line in doc.lines().filter(|l| l.starts_with("| qwen2.5-0.5b | plans: ln length")) {
        let cells: Vec<f64> = line.split('|').filter_map(|c| c.trim().split(' ').next()?.parse().ok()).collect();
        assert!((cells[0] - cells[1]).abs() < 0.15, "{line}");
    }
    // A file Tender did not write is never replaced.
    let foreign = dir.path().join("mine.md");
    std::fs::write(&foreign, "my notes").expect("written");
    let o = crate::util::tender(&["validation", "--episodes", "2", "--out", foreign.to_str().expect("utf-8")]);
    assert!(!o.status.success() && text(&o.stderr).contains("refusing to overwrite"), "{}", text(&o.stderr));
    assert_eq!(std::fs::read_to_string(&foreign).expect("kept"), "my notes");
}
