//! Arrival times from data: a task file's own `arrival`s and a recorded trace's timestamps.

use std::path::Path;

use crate::util::{path, tender, tender_ok, text};

/// Per step, the `arrival_s` of the first mechanism's first episode in `tasks.csv`.
fn arrivals(out: &Path) -> Vec<(String, f64)> {
    let mut r = csv::Reader::from_path(out.join("tasks.csv")).expect("tasks.csv");
    let header = r.headers().expect("header").clone();
    let col = |name: &str| header.iter().position(|h| h == name).expect(name);
    let (episode, mechanism, task, arrival) = (col("episode"), col("mechanism"), col("task"), col("arrival_s"));
    let rows: Vec<csv::StringRecord> = r.records().map(|x| x.expect("row")).collect();
    let first = rows[0][mechanism].to_string();
    rows.iter()
        .filter(|x| &x[episode] == "0" && x[mechanism] == first)
        .map(|x| (x[task].to_string(), x[arrival].parse().expect("seconds")))
        .collect()
}

const POOL: &str = r#"agents: [
        (name: "s", price: 0.05, skill: {"qa": [0.8, 0.4]}),
        (name: "l", price: 0.36, skill: {"qa": [0.9, 0.6]}),
    ],"#;

#[test]
fn tasks_arrive_at_their_own_times_in_their_order() {
    let dir = tempfile::tempdir().expect("tempdir");
    // Written out of time order; the stream comes in the order of the arrivals.
    let lines = [("a", 30.0), ("b", 0.0), ("c", 12.5), ("d", 12.5), ("e", 4.0), ("f", 100.0)];
    let jsonl: String = lines
        .iter()
        .map(|(id, at)| {
            format!("{{\"id\": \"{id}\", \"text\": \"task {id}\", \"domain\": \"qa\", \"tau\": 0.2, \"answer\": \"x\", \"arrival\": {at}}}\n")
        })
        .collect();
    std::fs::write(dir.path().join("tasks.jsonl"), jsonl).expect("tasks");
    let scenario = format!(
        r#"Scenario(name: "given", seed: 3, episodes: 2, {POOL}
    workload: (domains: [(name: "qa", bins: [(tau_max: 0.5), (tau_max: 5.0)])], tasks: (path: "tasks.jsonl")),
    arrivals: FromTasks,
    mechanisms: [Single(agent: "s"), Random],
)"#
    );
    let file = dir.path().join("given.ron");
    std::fs::write(&file, scenario).expect("scenario");
    let out = dir.path().join("out");
    tender_ok(&["run", path(&file), "--out", path(&out), "--no-plots"]);
    let got = arrivals(&out);
    let times: Vec<f64> = got.iter().map(|(_, t)| *t).collect();
    assert_eq!(times, [0.0, 4.0, 12.5, 12.5, 30.0, 100.0], "{got:?}");
    // Tasks from a file are named by the file's ids, not their positions in it.
    let ids: Vec<&str> = got.iter().map(|(id, _)| id.as_str()).collect();
    assert_eq!(ids, ["b", "e", "d", "c", "a", "f"], "ties in arrival (c, d) in the episode's order");
    // Episode seeds are text, exact in any reader: `0x` and 16 hex digits.
    let mut r = csv::Reader::from_path(out.join("tasks.csv")).expect("tasks.csv");
    let at = r.headers().expect("header").iter().position(|h| h == "episode_seed").expect("episode_seed");
    for row in r.records() {
        let seed = row.expect("row")[at].to_string();
        assert!(seed.len() == 18 && u64::from_str_radix(&seed[2..], 16).is_ok() && seed.starts_with("0x"), "{seed}");
    }

    // A task without an arrival is named, and nothing runs.
    let jsonl = "{\"id\": \"a\", \"text\": \"t\", \"domain\": \"qa\", \"tau\": 0.2, \"answer\": \"x\", \"arrival\": 1}\n\
                 {\"id\": \"late\", \"text\": \"t\", \"domain\": \"qa\", \"tau\": 0.2, \"answer\": \"x\"}\n";
    std::fs::write(dir.path().join("tasks.jsonl"), jsonl).expect("tasks");
    let o = tender(&["run", path(&file), "--out", path(&dir.path().join("bad")), "--no-plots"]);
    let err = text(&o.stderr);
    assert!(!o.status.success() && err.contains("arrival") && err.contains("\"late\""), "{err}");
}

#[test]
fn tasks_arrive_at_a_traces_timestamps_sped_up() {
    let dir = tempfile::tempdir().expect("tempdir");
    // An Azure-style trace: date-times with seven decimals, one row per request.
    let trace = "TIMESTAMP,ContextTokens,GeneratedTokens\n\
                 2023-11-16 18:15:46.6805900,374,44\n\
                 2023-11-16 18:15:50.6805900,396,109\n\
                 2023-11-16 18:15:50.9305900,879,55\n\
                 2023-11-16 18:16:06.6805900,91,16\n";
    std::fs::write(dir.path().join("trace.csv"), trace).expect("trace");
    let scenario = |tasks: u32| {
        format!(
            r#"Scenario(name: "traced", seed: 3, episodes: 1, {POOL}
    workload: (domains: [(name: "qa", bins: [(tau_max: 0.5, tasks: {tasks}), (tau_max: 5.0, tasks: 0)])]),
    arrivals: Trace(path: "trace.csv", column: "TIMESTAMP", speedup: 2.0),
    mechanisms: [Single(agent: "l")],
)"#
        )
    };
    let file = dir.path().join("traced.ron");
    std::fs::write(&file, scenario(4)).expect("scenario");
    let out = dir.path().join("out");
    tender_ok(&["run", path(&file), "--out", path(&out), "--no-plots"]);
    let times: Vec<f64> = arrivals(&out).iter().map(|(_, t)| *t).collect();
    assert_eq!(times, [0.0, 2.0, 2.125, 10.0]);

    // More tasks than timestamps, a missing column, time going back: each named, nothing run.
    std::fs::write(&file, scenario(5)).expect("scenario");
    let o = tender(&["run", path(&file), "--out", path(&dir.path().join("bad")), "--no-plots"]);
    assert!(!o.status.success() && text(&o.stderr).contains("needs one timestamp per task (5)"), "{}", text(&o.stderr));
    std::fs::write(&file, scenario(4).replace("TIMESTAMP\"", "time\"")).expect("scenario");
    let o = tender(&["run", path(&file), "--out", path(&dir.path().join("bad")), "--no-plots"]);
    assert!(
        text(&o.stderr).contains("no column \"time\" (columns: TIMESTAMP, ContextTokens, GeneratedTokens)"),
        "{}",
        text(&o.stderr)
    );
    std::fs::write(dir.path().join("trace.csv"), "timestamp\n5\n3\n").expect("trace");
    std::fs::write(&file, scenario(2).replace("column: \"TIMESTAMP\", ", "")).expect("scenario");
    let o = tender(&["run", path(&file), "--out", path(&dir.path().join("bad")), "--no-plots"]);
    assert!(text(&o.stderr).contains("trace.csv:3: timestamps must not go back in time"), "{}", text(&o.stderr));
}
