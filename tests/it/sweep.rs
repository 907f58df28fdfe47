//! `tender sweep` and `tender merge`, end to end: determinism, sharding, resuming.

use crate::util::{path, small, tender, timed_small};

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const SETS: [&str; 4] = ["--set", "mechanisms.sale.w_c=0..0.04:0.02", "--set", "standins.shared_difficulty=0.4,0.6"];

fn sweep(out: &Path, extra: &[&str]) -> Output {
    let small = small();
    let mut args = vec!["sweep", path(&small)];
    args.extend(SETS);
    args.extend(["--replications", "4", "--out", path(out)]);
    args.extend(extra);
    let o = tender(&args);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    o
}

fn same_results(a: &Path, b: &Path) {
    for file in ["rows.csv", "points.csv"] {
        let x = std::fs::read(a.join(file)).expect("written");
        let y = std::fs::read(b.join(file)).expect("written");
        assert!(x == y, "{file} differs between {} and {}", a.display(), b.display());
    }
}

#[test]
fn a_sweep_gives_the_same_rows_with_one_and_two_threads() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (one, two) = (dir.path().join("one"), dir.path().join("two"));
    sweep(&one, &["-j", "1"]);
    sweep(&two, &["-j", "2"]);
    same_results(&one, &two);
    let rows = std::fs::read_to_string(one.join("rows.csv")).expect("rows");
    // 3 x 2 points, 4 replications, 8 mechanisms, and a header.
    assert_eq!(rows.lines().count(), 1 + 6 * 4 * 8);
    assert!(
        rows.lines()
            .next()
            .expect("header")
            .contains("mechanisms.sale.w_c,standins.shared_difficulty,mechanism,pass_at_1")
    );
    // After the fixed metrics, what the mechanisms declare they report: SALE's refined wins and
    // refiners.
    assert!(rows.lines().next().expect("header").ends_with(",smallest_share,refined,refiners"));
    let points = std::fs::read_to_string(one.join("points.csv")).expect("points");
    assert_eq!(points.lines().count(), 1 + 6 * 8 * (11 + 2));
}

#[test]
fn three_shards_merged_equal_one_run() {
    let dir = tempfile::tempdir().expect("temp dir");
    let whole = dir.path().join("whole");
    sweep(&whole, &[]);
    let shards: Vec<PathBuf> = (1..=3).map(|k| dir.path().join(format!("shard{k}"))).collect();
    for (k, shard) in shards.iter().enumerate() {
        sweep(shard, &["--shard", &format!("{}/3", k + 1)]);
    }
    let merged = dir.path().join("merged");
    let mut args = vec!["merge", path(&merged)];
    args.extend(shards.iter().map(|s| path(s)));
    let o = tender(&args);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    same_results(&whole, &merged);

    // One shard of three: refused, with what is missing, unless `--partial`.
    let some = dir.path().join("some");
    let o = tender(&["merge", path(&some), path(&shards[0])]);
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr).to_string();
    assert!(
        err.contains("16 of 24 units") && err.contains("point 1 (replications 0-3)") && err.contains("--partial"),
        "{err}"
    );
    assert!(!some.join("rows.csv").exists(), "nothing merged");
    let o = tender(&["merge", path(&some), path(&shards[0]), "--partial"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stderr).contains("16 of 24 units are missing"));

    // Shards of different splits do not merge.
    let half = dir.path().join("half");
    sweep(&half, &["--shard", "1/2"]);
    let o = tender(&["merge", path(&dir.path().join("mixed")), path(&half), path(&shards[1])]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("shards of one sweep share N"));
    let o = tender(&["merge", path(&dir.path().join("twice")), path(&shards[1]), path(&shards[1])]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("are both shard 2/3"));
}

#[test]
fn a_crashed_sweep_resumes_to_the_uninterrupted_result_computing_only_what_is_missing() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (whole, crashed) = (dir.path().join("whole"), dir.path().join("crashed"));
    sweep(&whole, &[]);
    sweep(&crashed, &[]);
    // A crash: the journals cut mid-line, the final tables never written.
    for (file, keep) in [("rows.jsonl", 0.55), ("points.jsonl", 0.3)] {
        let p = crashed.join(file);
        let bytes = std::fs::read(&p).expect("journal");
        std::fs::write(&p, &bytes[..(bytes.len() as f64 * keep) as usize]).expect("truncate");
    }
    std::fs::remove_file(crashed.join("rows.csv")).expect("remove");
    std::fs::remove_file(crashed.join("points.csv")).expect("remove");
    let o = sweep(&crashed, &[]);
    let said = String::from_utf8_lossy(&o.stdout).to_string();
    let computed: usize =
        said.split("computed ").nth(1).and_then(|s| s.split(' ').next()).and_then(|n| n.parse().ok()).expect("count");
    assert!(computed > 0 && computed < 24, "recomputed {computed} of 24 units: {said}");
    same_results(&whole, &crashed);
    // Running again computes nothing.
    let again = sweep(&crashed, &[]);
    assert!(String::from_utf8_lossy(&again.stdout).contains("computed 0 of 24 units"));
    same_results(&whole, &crashed);
}

#[test]
fn a_different_sweep_in_the_same_folder_is_refused() {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = dir.path().join("s");
    sweep(&out, &[]);
    let small = small();
    let o = tender(&["sweep", path(&small), "--set", "mechanisms.sale.w_c=1,2", "--out", path(&out)]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("holds a different sweep"));
}

#[test]
fn bad_sweep_arguments_are_explained() {
    let small = small();
    // Values a scenario refuses stop the command (1); malformed flags are usage errors (2).
    let cases: [(&[&str], &str, i32); 5] = [
        (&["--set", "mechanisms.sale.w_x=1,2"], "no field `w_x`", 1),
        (&["--set", "agents.small.juror.accuracy=0.5,1.5"], "must lie in [0, 1]", 1),
        (&["--set", "nonsense"], "expected PATH=VALUES", 2),
        (&["--set", "mechanisms.sale.w_c=0..1", "--design", "lhs:x"], "expected a count", 2),
        (&["--set", "mechanisms.sale.w_c=0..1", "--shard", "3/2"], "expected K/N", 2),
    ];
    for (extra, expected, code) in cases {
        let mut args = vec!["sweep", path(&small), "--out", "/nonexistent/never-written"];
        args.extend(extra);
        let o = tender(&args);
        assert_eq!(o.status.code(), Some(code), "{extra:?}");
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains(expected), "{extra:?}: {err}");
    }
}

#[test]
fn random_and_latin_hypercube_designs_run() {
    let dir = tempfile::tempdir().expect("temp dir");
    let small = small();
    for design in ["random:3", "lhs:3"] {
        let out = dir.path().join(design.replace(':', "-"));
        let o = tender(&[
            "sweep",
            path(&small),
            "--set",
            "mechanisms.sale.w_c=0..0.05",
            "--design",
            design,
            "--replications",
            "2",
            "--out",
            path(&out),
        ]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let rows = std::fs::read_to_string(out.join("rows.csv")).expect("rows");
        assert_eq!(rows.lines().count(), 1 + 3 * 2 * 8);
    }
}

#[test]
fn a_sweep_written_in_the_scenario_runs() {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = dir.path().join("s");
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/sweep.ron");
    let o = tender(&["sweep", path(&file), "--replications", "2", "--out", path(&out), "--no-plots"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let rows = std::fs::read_to_string(out.join("rows.csv")).expect("rows");
    // 5 x 3 grid points, 2 replications, 4 mechanisms.
    assert_eq!(rows.lines().count(), 1 + 15 * 2 * 4);
    assert!(rows.starts_with("point,replication,episode_seed,mechanisms.sale.w_c,agents.qwen3-4b.memory_gain,"));
}

#[test]
fn a_killed_sweep_resumes_to_the_uninterrupted_result() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (whole, killed) = (dir.path().join("whole"), dir.path().join("killed"));
    let small = small();
    let args = |out: &Path| -> Vec<String> {
        let mut a: Vec<String> = ["sweep", path(&small)].map(String::from).to_vec();
        a.extend(
            ["--set", "mechanisms.sale.w_c=0..0.05:0.01", "--replications", "12", "--no-plots", "-j", "1"]
                .map(String::from),
        );
        a.extend(["--out".to_string(), path(out).to_string()]);
        a
    };
    let mut child = Command::new(env!("CARGO_BIN_EXE_tender"))
        .args(args(&killed))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("tender starts");
    // Kill it once some rows are on disk (or give up waiting after a while and kill anyway).
    let journal = killed.join("rows.jsonl");
    for _ in 0..600 {
        if std::fs::metadata(&journal).is_ok_and(|m| m.len() > 0) {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    child.kill().expect("kill");
    child.wait().expect("reaped");
    let resumed = tender(&args(&killed).iter().map(String::as_str).collect::<Vec<_>>());
    assert!(resumed.status.success(), "{}", String::from_utf8_lossy(&resumed.stderr));
    let o = tender(&args(&whole).iter().map(String::as_str).collect::<Vec<_>>());
    assert!(o.status.success());
    same_results(&whole, &killed);
}

/// `(point, mechanism) -> pass@1 per replication` from rows.csv.
fn pass_by_point(rows: &str, mechanism: &str) -> Vec<Vec<String>> {
    let mut by_point: Vec<Vec<String>> = Vec::new();
    for line in rows.lines().skip(1) {
        let f: Vec<&str> = line.split(',').collect();
        if f[4] == mechanism {
            let p: usize = f[0].parse().expect("point");
            if by_point.len() <= p {
                by_point.resize(p + 1, Vec::new());
            }
            by_point[p].push(f[5].to_string());
        }
    }
    by_point
}

#[test]
fn points_share_their_draws_unless_asked_otherwise() {
    let dir = tempfile::tempdir().expect("temp dir");
    let small = small();
    let run = |out: &Path, extra: &[&str]| {
        let mut args = vec!["sweep", path(&small), "--set", "mechanisms.sale.w_c=0,0.05", "--replications", "3"];
        args.extend(["--no-plots", "--out", path(out)]);
        args.extend(extra);
        let o = tender(&args);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        std::fs::read_to_string(out.join("rows.csv")).expect("rows")
    };
    // SALE's cost weight cannot move the large agent alone: with common random numbers its
    // results are the same at every point, and the episode seeds those of `tender run`.
    let common = pass_by_point(&run(&dir.path().join("common"), &[]), "large alone");
    assert_eq!(common[0], common[1]);
    let independent = pass_by_point(&run(&dir.path().join("independent"), &["--independent-draws"]), "large alone");
    assert_ne!(independent[0], independent[1]);
}

#[test]
fn the_same_path_twice_is_refused() {
    let dir = tempfile::tempdir().expect("temp dir");
    let o = tender(&[
        "sweep",
        path(&small()),
        "--set",
        "mechanisms.sale.w_c=0,0.05",
        "--set",
        "mechanisms.sale.w_c=0.1",
        "--out",
        path(dir.path()),
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("swept twice"), "{}", String::from_utf8_lossy(&o.stderr));
}

#[test]
fn a_scenario_whose_output_is_a_sweep_folder_is_not_nested_again() {
    let dir = tempfile::tempdir().expect("temp dir");
    let text = std::fs::read_to_string(small()).expect("fixture");
    let out = dir.path().join("results/sweep");
    let scenario = dir.path().join("s.ron");
    std::fs::write(
        &scenario,
        text.replace("output: \"results/small\"", &format!("output: {:?}", out.display().to_string())),
    )
    .expect("written");
    let o =
        tender(&["sweep", path(&scenario), "--set", "mechanisms.sale.w_c=0,0.05", "--replications", "1", "--no-plots"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(out.join("rows.csv").exists() && !out.join("sweep").exists());
}

#[test]
fn a_timed_sweep_over_arrival_rate_plots_p95_latency_against_it() {
    let dir = tempfile::tempdir().expect("temp dir");
    let scenario = timed_small(dir.path(), 0.05);
    let out = dir.path().join("sweep");
    let args = [
        "sweep",
        scenario.to_str().expect("utf-8"),
        "--set",
        "arrivals.Poisson.rate=0.02,0.08",
        "--replications",
        "2",
        "--out",
        out.to_str().expect("utf-8"),
    ];
    let run = tender(&args);
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    // The p95 table: one column per swept rate and each mechanism's knee.
    let printed = String::from_utf8_lossy(&run.stdout);
    assert!(printed.contains("latency p95 s (simulated time) per arrivals.Poisson.rate"), "{printed}");
    for table in ["auction s", "auction % of latency", "pass@1 %"] {
        assert!(printed.contains(&format!("{table} (simulated time) per arrivals.Poisson.rate")), "{printed}");
    }
    // Rates are also shown per hour.
    assert!(printed.contains("0.02 (72/h)") && printed.contains("0.08 (288/h)"), "{printed}");
    let sale = printed.lines().find(|l| l.contains("│ SALE ")).expect("a SALE row");
    let cells: Vec<&str> = sale.trim_matches('│').split('┆').map(str::trim).collect();
    assert_eq!(cells.len(), 4, "mechanism, two rates, knee: {sale}");
    let (low, high): (f64, f64) = (cells[1].parse().expect("p95"), cells[2].parse().expect("p95"));
    let knee = if high >= 1.5 * low { "0.08 (288/h)" } else { "none up to 0.08 (288/h)" };
    assert_eq!(cells[3], knee, "{sale}");
    let rows = std::fs::read_to_string(out.join("rows.csv")).expect("rows");
    assert!(rows.lines().next().is_some_and(|h| {
        h.contains(",latency_p95_s,latency_p99_s,auction_s,auction_latency_share,queue_wait_s,throughput_per_s,timed_out_share")
    }));
    let svg = std::fs::read_to_string(out.join("latency_p95_vs_arrivals_Poisson_rate.svg")).expect("the p95 plot");
    assert!(svg.contains("p95 latency"));
}
