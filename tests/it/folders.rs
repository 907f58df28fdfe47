//! Nothing a user owns is lost: every command that writes a folder replaces only one it wrote
//! (or an empty one), one writer at a time, and cleans up or restores what a killed run left.

use std::path::Path;

use crate::util::{path, run_into, small, tender, text};

fn write(p: &Path, s: &str) {
    if let Some(parent) = p.parent() {
        std::fs::create_dir_all(parent).expect("folder");
    }
    std::fs::write(p, s).expect("written");
}

fn names(dir: &Path) -> Vec<String> {
    let mut n: Vec<String> = std::fs::read_dir(dir)
        .expect("listed")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    n.sort();
    n
}

/// The reproduction: a project folder with notes, a sub-folder and the scenario itself,
/// given as `--out` by a path that is not `.`.
#[test]
fn run_refuses_a_folder_holding_files_it_did_not_write() {
    let root = tempfile::tempdir().expect("temp dir");
    let proj = root.path().join("proj");
    write(&proj.join("notes.txt"), "keep");
    write(&proj.join("sub/y"), "x");
    let scenario = proj.join("quickstart.ron");
    std::fs::copy(small(), &scenario).expect("copied");
    let o = tender(&["run", path(&scenario), "--episodes", "1", "--out", path(&root.path().join("proj/../proj"))]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o.stderr));
    let err = text(&o.stderr);
    assert!(err.contains("refusing to replace") && err.contains("notes.txt, quickstart.ron, sub/"), "{err}");
    assert_eq!(names(&proj), ["notes.txt", "quickstart.ron", "sub"]);
    assert_eq!(std::fs::read_to_string(proj.join("sub/y")).expect("kept"), "x");
    assert_eq!(names(root.path()), [".proj.lock", "proj"], "no staging folder left");
    // The same for reproduce's results, calibrate's folder, and plot and sweep folders.
    let o = tender(&["plot", path(&proj)]);
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o.stderr).contains("is not a folder Tender wrote"), "{}", text(&o.stderr));
    let o = tender(&[
        "sweep",
        path(&scenario),
        "--set",
        "mechanisms.sale.w_c=0.01,0.02",
        "--replications",
        "1",
        "--out",
        path(&proj),
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o.stderr).contains("is not a folder Tender wrote"), "{}", text(&o.stderr));
    assert_eq!(names(&proj), ["notes.txt", "quickstart.ron", "sub"]);
}

#[test]
fn a_run_replaces_its_own_results_and_plot_records_what_it_adds() {
    let root = tempfile::tempdir().expect("temp dir");
    let out = root.path().join("results");
    for _ in 0..2 {
        let o = run_into(&small(), 1, &out);
        assert!(o.status.success(), "{}", text(&o.stderr));
    }
    assert!(out.join("tender-results.json").exists());
    let o = tender(&["plot", path(&out)]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let manifest = std::fs::read_to_string(out.join("tender-results.json")).expect("manifest");
    assert!(manifest.contains("report.html") && manifest.contains("cost_vs_pass.svg"), "{manifest}");
    // Weights `tender fit` wrote into the folder are kept by the next run.
    write(&out.join("fitted-weights.ron"), "// SALE weights fitted by `tender fit x.ron` (MinMax).\n");
    // The plotted folder is still one Tender may replace.
    let o = tender(&["run", path(&small()), "--episodes", "1", "--out", path(&out)]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert!(out.join("fitted-weights.ron").exists(), "the fitted weights survive the run");
    // The report names the results folder, not the staging folder it was drawn in.
    let report = std::fs::read_to_string(out.join("report.html")).expect("report");
    assert!(report.contains(&format!("<code>{}</code>", out.display())) && !report.contains(".partial"));
}

#[test]
fn a_second_writer_of_the_same_folder_fails_loudly() {
    let root = tempfile::tempdir().expect("temp dir");
    let out = root.path().join("results");
    // Another Tender holds the folder's lock.
    let lock = std::fs::File::create(root.path().join(".results.lock")).expect("lock file");
    lock.lock().expect("locked");
    let o = tender(&["run", path(&small()), "--episodes", "1", "--out", path(&out)]);
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o.stderr).contains("is being written by another Tender command"), "{}", text(&o.stderr));
    assert!(!out.exists());
    lock.unlock().expect("unlocked");
    let o = tender(&["run", path(&small()), "--episodes", "1", "--out", path(&out)]);
    assert!(o.status.success(), "{}", text(&o.stderr));
}

#[test]
fn the_next_run_cleans_up_or_restores_what_a_killed_run_left() {
    let root = tempfile::tempdir().expect("temp dir");
    let out = root.path().join("results");
    let o = run_into(&small(), 1, &out);
    assert!(o.status.success(), "{}", text(&o.stderr));
    // A kill -9 between the two renames of an earlier version: the old folder set aside, a
    // staging folder half written.
    std::fs::rename(&out, root.path().join(".results.old-999")).expect("set aside");
    write(&root.path().join(".results.partial-999/tasks.csv"), "half a file");
    let o = tender(&["plot", path(&out)]);
    assert_eq!(o.status.code(), Some(1), "plot does not recover; run does");
    let o = run_into(&small(), 1, &out);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let err = text(&o.stderr);
    assert!(err.contains("note: removed") && err.contains(".results.partial-999"), "{err}");
    assert!(err.contains("note: restored") && err.contains(".results.old-999"), "{err}");
    assert_eq!(names(root.path()), [".results.lock", "results"]);
}

/// `tender calibrate --out` and `tender reproduce --results` claim their folders before minutes
/// of work, and refuse one holding what Tender did not write.
#[test]
fn calibrate_and_reproduce_refuse_a_foreign_folder_before_any_work() {
    let root = tempfile::tempdir().expect("temp dir");
    let mine = root.path().join("mine");
    write(&mine.join("notes.txt"), "keep");
    let scenario = crate::util::project("scenarios/sale-paper/coding.ron");
    let o = tender(&["calibrate", path(&scenario), "--out", path(&mine)]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o.stderr));
    assert!(
        text(&o.stderr).contains("refusing to replace") && text(&o.stderr).contains("notes.txt"),
        "{}",
        text(&o.stderr)
    );
    let results = root.path().join("results");
    write(&results.join("coding/notes.txt"), "keep");
    let o = tender(&[
        "reproduce",
        "--episodes",
        "2",
        "--results",
        path(&results),
        "--out",
        path(&root.path().join("r.md")),
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o.stderr));
    assert!(
        text(&o.stderr).contains("refusing to replace") && text(&o.stderr).contains("coding"),
        "{}",
        text(&o.stderr)
    );
    // Nothing was run: no reproduction report, no staging folder.
    assert!(!root.path().join("r.md").exists());
    assert_eq!(names(&mine), ["notes.txt"]);
    assert_eq!(names(&results.join("coding")), ["notes.txt"]);
}

/// Two runs into one folder at once: never both silently; the folder holds one whole result.
#[test]
fn two_runs_into_one_folder_at_once_never_lose_a_result_silently() {
    let root = tempfile::tempdir().expect("temp dir");
    let out = root.path().join("results");
    let spawn = || {
        std::process::Command::new(env!("CARGO_BIN_EXE_tender"))
            .args(["run", path(&small()), "--episodes", "20", "--no-plots", "--out", path(&out)])
            .output()
    };
    let (a, b) = std::thread::scope(|s| {
        let a = s.spawn(spawn);
        let b = s.spawn(spawn);
        (a.join().expect("thread").expect("runs"), b.join().expect("thread").expect("runs"))
    });
    for o in [&a, &b] {
        assert!(
            o.status.success() || text(&o.stderr).contains("is being written by another Tender command"),
            "a run failed for another reason: {}",
            text(&o.stderr)
        );
    }
    assert!(a.status.success() || b.status.success(), "one of them finished");
    assert!(out.join("tender-results.json").exists() && out.join("summary.csv").exists());
    assert_eq!(names(root.path()), [".results.lock", "results"], "no staging folder left");
}
