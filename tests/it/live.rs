//! Live agents end to end through the `tender` binary: a run that meets failing backends
//! completes, and a run through a real OpenAI-compatible gateway (the LiteLLM proxy, started by
//! `.ci/run`) replays to identical records with zero calls.

use crate::util::{project, tender_env, text};

use std::path::{Path, PathBuf};
use std::process::Output;

use httpmock::prelude::*;

fn tasks_file() -> PathBuf {
    project("scenarios/tasks/example.jsonl")
}

/// A mixed pool: two live agents at `base_url` (models `small` and `large`) and a synthetic one.
fn scenario(dir: &Path, base_url: &str, small: &str, large: &str, key_env: &str) -> PathBuf {
    let text = format!(
        r#"Scenario(
    name: "live-test",
    seed: 3,
    episodes: 2,
    output: "{out}",
    agents: [
        (name: "small", price: 0.05, backend: Live(base_url: "{base_url}", model: "{small}", api_key_env: "{key_env}", max_retries: 1, backoff_ms: 10, timeout_secs: 20)),
        (name: "large", price: 0.36, backend: Live(base_url: "{base_url}", model: "{large}", api_key_env: "{key_env}", max_retries: 1, backoff_ms: 10, timeout_secs: 20)),
        (name: "standin", price: 0.16, skill: {{"math": [0.9, 0.7], "knowledge": [0.9, 0.8], "code": [0.7]}}),
    ],
    workload: (
        domains: [
            (name: "math", bins: [(tau_max: 1), (tau_max: 5)]),
            (name: "knowledge", bins: [(tau_max: 0.5), (tau_max: 2)]),
            (name: "code", bins: [(tau_max: 5)]),
        ],
        tasks: (path: "{tasks}"),
        order: Shuffled,
    ),
    training: Holdout(0.25),
    mechanisms: [Sale(w_c: 0.01, w_h: 2.0, w_j: 1.0, k: 2), EachAgent, Carrot(), Random, Oracle],
)"#,
        out = dir.join("out").display(),
        tasks = tasks_file().display(),
    );
    let path = dir.join("scenario.ron");
    std::fs::write(&path, text).expect("scenario written");
    path
}

fn run(path: &Path, extra: &[&str], env: &[(&str, &str)]) -> Output {
    let mut args = vec!["run", path.to_str().expect("utf-8 path"), "--no-plots"];
    args.extend_from_slice(extra);
    tender_env(&args, env)
}

fn calls(dir: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(dir.join("calls.json")).expect("calls.json")).expect("json")
}

/// Replaying `trace` with the scenario at `path` calls nothing, answers every recorded call, and
/// writes `files` byte for byte as the recorded run in `out` did.
fn replay_matches(path: &Path, trace: &Path, out: &Path, files: &[&str]) {
    let replayed_out = out.with_file_name("replayed");
    let o =
        run(path, &["--replay", trace.to_str().expect("utf-8"), "--out", replayed_out.to_str().expect("utf-8")], &[]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let (live, replay) = (calls(out), calls(&replayed_out));
    assert_eq!(replay["calls"], 0, "{replay}");
    assert_eq!(replay["replayed"], live["calls"], "{replay} vs {live}");
    for file in files {
        let recorded = std::fs::read(out.join(file)).expect("recorded");
        let replayed = std::fs::read(replayed_out.join(file)).expect("replayed");
        assert!(recorded == replayed, "{file}: the replay differs from the recorded run");
    }
}

/// A chat reply with `content`.
fn reply(content: &str) -> serde_json::Value {
    serde_json::json!({"choices": [{"message": {"content": content}}], "usage": {"prompt_tokens": 50, "completion_tokens": 12}})
}

/// A server whose plans are fine and whose jury and execution replies are `(status, body)`.
fn mock_calls(jury: (u16, String), execution: (u16, String)) -> MockServer {
    mock_calls_taking(jury, execution, std::time::Duration::ZERO)
}

/// [`mock_calls`] whose executions take at least `delay`.
fn mock_calls_taking(jury: (u16, String), execution: (u16, String), delay: std::time::Duration) -> MockServer {
    let server = MockServer::start();
    server.mock(|when, then| {
        when.method(POST).body_includes("Write a short plan");
        then.status(200).json_body(reply("1. Compute it."));
    });
    server.mock(|when, then| {
        when.method(POST).body_includes("how likely");
        then.status(jury.0).body(jury.1);
    });
    server.mock(|when, then| {
        when.method(POST).body_includes("Solve the task");
        then.status(execution.0).delay(delay).body(execution.1);
    });
    server
}

#[test]
fn a_run_completes_when_backends_fail() {
    let server = mock_calls((200, "{garbage".into()), (500, "boom".into()));
    let dir = tempfile::tempdir().expect("temp dir");
    let path = scenario(dir.path(), &server.url("/v1"), "a", "b", "TENDER_MOCK_KEY");
    // Every execution fails: the circuit breaker opens and, without `--keep-going`, stops the
    // run, writing nothing.
    let o = run(&path, &[], &[("TENDER_MOCK_KEY", "k")]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o.stderr));
    let stderr = text(&o.stderr);
    assert!(stderr.contains("circuit breaker") && stderr.contains("HTTP 500"), "{stderr}");
    // Said at once, not only in the final error.
    assert!(stderr.contains("circuit breaker open (last:"), "{stderr}");
    assert!(!dir.path().join("out/summary.csv").exists());
    // With it, the run completes, records the failures and says so in its exit code.
    let o = run(&path, &["--keep-going"], &[("TENDER_MOCK_KEY", "k")]);
    assert_eq!(o.status.code(), Some(3), "{}", text(&o.stderr));
    let stderr = text(&o.stderr);
    // Where to follow the trace while the run lasts is said at its start.
    assert!(
        stderr.contains(&format!("live calls are traced to {}", dir.path().join(".out.partial/trace.jsonl").display())),
        "{stderr}"
    );
    assert!(stderr.contains("live call(s) failed") && stderr.contains("HTTP 500"), "{stderr}");
    let out = dir.path().join("out");
    let c = calls(&out);
    assert!(c["failures"].as_u64().expect("failures") > 0, "{c}");
    let tasks = std::fs::read_to_string(out.join("tasks.csv")).expect("tasks.csv");
    let header = tasks.lines().next().expect("header");
    assert!(header.contains(",failed_calls,unparsed_replies,abstentions,"), "{header}");
    // Then what the mechanisms report: SALE's provisional winner and refined wins.
    assert!(header.contains(",provisional,refined"), "{header}");
    // Every live execution failed: the live agents alone solve nothing, yet every task has a row.
    let small_alone: Vec<&str> = tasks.lines().filter(|l| l.contains(",small alone,")).collect();
    assert_eq!(small_alone.len(), 2 * 22, "two episodes of the 22 evaluated tasks");
    assert!(small_alone.iter().all(|l| l.contains(",false,")), "a failed execution is a failure");
    // Without the key variable the run stops before calling anything, and says which.
    let o = run(&path, &[], &[]);
    assert!(!o.status.success());
    assert!(text(&o.stderr).contains("environment variable TENDER_MOCK_KEY"), "{}", text(&o.stderr));
}

/// A scenario whose two live agents allow `timeout` seconds an attempt, with default retries.
fn scenario_with_timeout(dir: &Path, base_url: &str, timeout: f64) -> PathBuf {
    let path = scenario(dir, base_url, "a", "b", "TENDER_MOCK_KEY");
    let text = std::fs::read_to_string(&path)
        .expect("scenario")
        .replace("max_retries: 1, backoff_ms: 10, timeout_secs: 20", &format!("timeout_secs: {timeout}"));
    std::fs::write(&path, text).expect("scenario written");
    path
}

#[test]
fn a_server_that_never_replies_is_announced_within_seconds_and_stops_the_run() {
    let server = MockServer::start();
    server.mock(|when, then| {
        when.method(GET).path("/v1/models");
        then.status(200).json_body(serde_json::json!({"data": [{"id": "a"}, {"id": "b"}]}));
    });
    server.mock(|when, then| {
        when.method(POST);
        then.status(200).delay(std::time::Duration::from_secs(600)).json_body(reply("too late"));
    });
    let dir = tempfile::tempdir().expect("temp dir");
    // Attempts of 4 s: the stall limit (`stall_timeout_secs`, by default 1.25 × `timeout_secs`)
    // is 5 s, the warning comes at 2.5 s (half of it, or 10 s at most).
    let path = scenario_with_timeout(dir.path(), &server.url("/v1"), 4.0);
    let started = std::time::Instant::now();
    let o = run(&path, &[], &[("TENDER_MOCK_KEY", "k")]);
    let took = started.elapsed();
    assert_eq!(o.status.code(), Some(1), "{}", text(&o.stderr));
    let stderr = text(&o.stderr);
    assert!(stderr.contains("warning: agent") && stderr.contains("no reply for"), "{stderr}");
    assert!(stderr.contains("does not answer") && stderr.contains("stall_timeout_secs"), "{stderr}");
    // Retries (4 by default, with a deadline of 600 s) would take minutes: the stall stops them.
    assert!(took < std::time::Duration::from_secs(20), "took {took:?}:\n{stderr}");
    assert!(!dir.path().join("out/summary.csv").exists());
}

#[test]
fn garbage_and_empty_replies_count_toward_the_circuit_breaker() {
    for body in ["{garbage", "", r#"{"choices": []}"#] {
        let server = MockServer::start();
        let chat = server.mock(|when, then| {
            when.method(POST);
            then.status(200).body(body);
        });
        let dir = tempfile::tempdir().expect("temp dir");
        let path = scenario(dir.path(), &server.url("/v1"), "a", "b", "TENDER_MOCK_KEY");
        let o = run(&path, &["--no-preflight"], &[("TENDER_MOCK_KEY", "k")]);
        assert_eq!(o.status.code(), Some(1), "{body:?}: {}", text(&o.stderr));
        assert!(text(&o.stderr).contains("circuit breaker"), "{}", text(&o.stderr));
        // Two agents, five consecutive unusable replies each (a few more in flight when it opens).
        assert!(chat.calls() <= 2 * (5 + 4), "{body:?}: {} calls", chat.calls());
    }
}

#[test]
fn a_timed_live_run_holds_slots_for_the_measured_latencies_and_its_replay_reuses_them() {
    // Executions take at least 300 ms, far longer than the modelled 62 tokens would.
    let server = mock_calls_taking(
        (200, reply("Score: 7").to_string()),
        (200, reply("The answer is 42.").to_string()),
        std::time::Duration::from_millis(300),
    );
    let dir = tempfile::tempdir().expect("temp dir");
    let path = scenario(dir.path(), &server.url("/v1"), "a", "b", "TENDER_MOCK_KEY");
    let text_in = std::fs::read_to_string(&path).expect("scenario");
    let timed = text_in
        .replace("timeout_secs: 20))", "timeout_secs: 20), serving: (measured: true, output_tokens_per_second: 1e6))")
        .replace(
            "mechanisms: [Sale(w_c: 0.01, w_h: 2.0, w_j: 1.0, k: 2), EachAgent, Carrot(), Random, Oracle]",
            "arrivals: Poisson(rate: 0.5),\n    mechanisms: [Single(agent: \"large\")]",
        );
    std::fs::write(&path, timed).expect("timed scenario");
    let o = run(&path, &[], &[("TENDER_MOCK_KEY", "k")]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let out = dir.path().join("out");
    let mut r = csv::Reader::from_path(out.join("tasks.csv")).expect("tasks.csv");
    let header = r.headers().expect("header").clone();
    let col = |name: &str| header.iter().position(|h| h == name).expect(name);
    let (start, done) = (col("execution_start_s"), col("done_s"));
    let mut held = Vec::new();
    for row in r.records() {
        let row = row.expect("row");
        held.push(row[done].parse::<f64>().expect("done") - row[start].parse::<f64>().expect("start"));
    }
    // Each execution held its slot for the latency measured (at least the server's delay), not
    // the 62 tokens at a million a second.
    // (Times are seconds in f64: a 0.3 s hold may read as 0.29999....)
    assert!(!held.is_empty() && held.iter().all(|&h| h >= 0.3 - 1e-9), "{held:?}");
    let trace = dir.path().join("trace.jsonl");
    std::fs::copy(out.join("trace.jsonl"), &trace).expect("trace kept");
    // The replay calls nothing and times every call as measured: identical records.
    replay_matches(&path, &trace, &out, &["tasks.csv"]);
}

#[test]
fn a_run_without_its_server_fails_at_once_and_says_why() {
    let port = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port").local_addr().expect("addr").port();
    let dir = tempfile::tempdir().expect("temp dir");
    let path = scenario(dir.path(), &format!("http://127.0.0.1:{port}/v1"), "a", "b", "TENDER_MOCK_KEY");
    let started = std::time::Instant::now();
    let o = run(&path, &[], &[("TENDER_MOCK_KEY", "k")]);
    assert!(started.elapsed() < std::time::Duration::from_secs(5), "took {:?}", started.elapsed());
    assert_eq!(o.status.code(), Some(1));
    let stderr = text(&o.stderr);
    assert!(
        stderr.contains("agent \"small\"")
            && stderr.contains(&format!("127.0.0.1:{port}"))
            && stderr.contains("nothing is listening"),
        "{stderr}"
    );
    assert!(!dir.path().join("out/summary.csv").exists(), "no episode ran");
}

#[test]
fn a_rejected_key_stops_the_run_before_any_episode_and_is_never_printed() {
    let server = MockServer::start();
    server.mock(|when, then| {
        when.method(GET).path("/v1/models");
        then.status(401).body("invalid api key you sent: Bearer sk-very-secret");
    });
    let chat = server.mock(|when, then| {
        when.method(POST);
        then.status(401).body("invalid api key you sent: Bearer sk-very-secret");
    });
    let dir = tempfile::tempdir().expect("temp dir");
    let path = scenario(dir.path(), &server.url("/v1"), "a", "b", "TENDER_MOCK_KEY");
    let o = run(&path, &[], &[("TENDER_MOCK_KEY", "sk-very-secret")]);
    assert_eq!(o.status.code(), Some(1));
    let stderr = text(&o.stderr);
    assert!(stderr.contains("refuses the credentials") && stderr.contains("HTTP 401"), "{stderr}");
    assert!(!stderr.contains("sk-very-secret"), "{stderr}");
    chat.assert_calls(0);
    // Past the preflight, every 401 is one attempt, and the key reaches no file.
    let o = run(&path, &["--no-preflight", "--keep-going"], &[("TENDER_MOCK_KEY", "sk-very-secret")]);
    assert_eq!(o.status.code(), Some(3), "{}", text(&o.stderr));
    assert!(!text(&o.stderr).contains("sk-very-secret"));
    let out = dir.path().join("out");
    let trace = std::fs::read_to_string(out.join("trace.jsonl")).expect("trace");
    assert!(!trace.contains("sk-very-secret"), "the trace holds the key");
    let c = calls(&out);
    assert_eq!(c["attempts"], c["calls"], "no 401 was retried: {c}");
}

#[test]
#[cfg_attr(
    not(tender_litellm),
    ignore = "needs a LiteLLM proxy (TENDER_LITELLM_URL and TENDER_LITELLM_KEY when building the tests); .ci/run starts one"
)]
fn a_live_run_through_the_litellm_gateway_replays_identically_with_zero_calls() {
    let (Ok(url), Ok(key)) = (std::env::var("TENDER_LITELLM_URL"), std::env::var("TENDER_LITELLM_KEY")) else {
        panic!("TENDER_LITELLM_URL and TENDER_LITELLM_KEY were set when the tests were built but are not now");
    };
    let dir = tempfile::tempdir().expect("temp dir");
    let path = scenario(dir.path(), &url, "mock-small", "mock-large", "TENDER_LITELLM_KEY");
    let env = [("TENDER_LITELLM_KEY", key.as_str())];
    let o = run(&path, &[], &env);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let out = dir.path().join("out");
    let live = calls(&out);
    assert!(live["calls"].as_u64().expect("calls") > 0, "{live}");
    assert_eq!(live["failures"], 0, "{live}");
    let recorded = std::fs::read_to_string(out.join("tasks.csv")).expect("tasks.csv");
    // The gateway's fixed answers solve some tasks and not others.
    assert!(recorded.contains(",small,") && recorded.contains(",true,") && recorded.contains(",false,"));
    let trace = dir.path().join("trace.jsonl");
    std::fs::copy(out.join("trace.jsonl"), &trace).expect("trace kept");
    assert!(!std::fs::read_to_string(&trace).expect("trace").contains(&key), "the trace holds the API key");

    replay_matches(&path, &trace, &out, &["tasks.csv"]);
}

#[test]
fn the_doctor_checks_every_live_agent_and_says_what_to_fix() {
    let server = mock_calls((200, reply("I like it.").to_string()), (200, reply("6 * 7 = 42\nAnswer: 42").to_string()));
    server.mock(|when, then| {
        when.method(GET).path("/props");
        then.status(200)
            .json_body(serde_json::json!({"total_slots": 2, "default_generation_settings": {"n_ctx": 8192}}));
    });
    let dir = tempfile::tempdir().expect("temp dir");
    let path = scenario(dir.path(), &server.url("/v1"), "a", "b", "TENDER_MOCK_KEY");
    let o = tender_env(&["doctor", path.to_str().expect("utf-8"), "--task", "math-04"], &[("TENDER_MOCK_KEY", "k")]);
    let stdout = text(&o.stdout);
    // Usable, with warnings: no log-probabilities, and a verdict without a score.
    assert_eq!(o.status.code(), Some(0), "{stdout}\n{}", text(&o.stderr));
    for expected in [
        "small",
        "large",
        "usable, with warnings",
        "no score (unparsed)",
        "no log-probabilities",
        "from the `Answer:` line: wrong",
        "\"Score: N\"",
    ] {
        assert!(stdout.contains(expected), "{expected:?} missing from:\n{stdout}");
    }
    assert!(!dir.path().join("out").exists(), "the doctor writes nothing");
    assert!(stdout.contains("context") && stdout.contains("8192 tok"), "the table shows the context: {stdout}");

    // Another model's one-model server (the wrong port): check `base_url`, do not swap `model`.
    let other = MockServer::start();
    other.mock(|when, then| {
        when.method(GET).path("/v1/models");
        then.status(200).json_body(serde_json::json!({"data": [{"id": "smollm2-135m"}]}));
    });
    let path = scenario(dir.path(), &other.url("/v1"), "a", "b", "TENDER_MOCK_KEY");
    let o = tender_env(&["doctor", path.to_str().expect("utf-8")], &[("TENDER_MOCK_KEY", "k")]);
    let stdout = text(&o.stdout);
    assert_eq!(o.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains("serves another model (\"smollm2-135m\")") && stdout.contains("check `base_url`"),
        "{stdout}"
    );

    // A context too small for its slots: the fix names -c and -np.
    let tight = mock_calls((200, reply("Score: 4").to_string()), (200, reply("Answer: 42").to_string()));
    tight.mock(|when, then| {
        when.method(GET).path("/props");
        then.status(200)
            .json_body(serde_json::json!({"total_slots": 4, "default_generation_settings": {"n_ctx": 512}}));
    });
    let path = scenario(dir.path(), &tight.url("/v1"), "a", "b", "TENDER_MOCK_KEY");
    let o = tender_env(&["doctor", path.to_str().expect("utf-8"), "--task", "math-04"], &[("TENDER_MOCK_KEY", "k")]);
    let stdout = text(&o.stdout);
    assert!(stdout.contains("-np 4 slots") && stdout.contains("-c 6144"), "{stdout}");

    // Nothing listening: not usable, with the fix, and exit code 1.
    let port = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port").local_addr().expect("addr").port();
    let path = scenario(dir.path(), &format!("http://127.0.0.1:{port}/v1"), "a", "b", "TENDER_MOCK_KEY");
    let o = tender_env(&["doctor", path.to_str().expect("utf-8")], &[("TENDER_MOCK_KEY", "k")]);
    let stdout = text(&o.stdout);
    assert_eq!(o.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("NOT USABLE") && stdout.contains("start the server"), "{stdout}");
}

/// The tasks of the real-model test: one of each check kind.
const REAL_MODEL_TASKS: [&str; 6] = ["math-04", "math-08", "know-01", "know-06", "know-12", "code-01"];

#[test]
#[cfg_attr(
    not(tender_llama),
    ignore = "needs a llama.cpp server with SmolLM2-135M-Instruct (TENDER_LLAMA_URL when building the tests); .ci/run builds and starts one"
)]
fn a_real_model_answers_every_call_and_replays_identically_with_zero_calls() {
    let Ok(url) = std::env::var("TENDER_LLAMA_URL") else {
        panic!("TENDER_LLAMA_URL was set when the tests were built but is not now");
    };
    let dir = tempfile::tempdir().expect("temp dir");
    let all = std::fs::read_to_string(tasks_file()).expect("example tasks");
    let few: Vec<&str> =
        all.lines().filter(|l| REAL_MODEL_TASKS.iter().any(|id| l.contains(&format!("\"id\": \"{id}\"")))).collect();
    assert_eq!(few.len(), REAL_MODEL_TASKS.len());
    let tasks = dir.path().join("tasks.jsonl");
    std::fs::write(&tasks, few.join("\n") + "\n").expect("tasks written");
    // Two agents on the one model (one sampling at temperature 0.7) and a stand-in; the
    // concurrency comes from the server's slots.
    let live = |name: &str, price: f64, temperature: f64| {
        format!(
            r#"(name: "{name}", price: {price}, backend: Live(base_url: "{url}", model: "smollm2", temperature: {temperature},
                plan_max_tokens: 128, answer_max_tokens: 192, timeout_secs: 180, deadline_secs: 900))"#
        )
    };
    let text_ = format!(
        r#"Scenario(
    name: "real-model",
    seed: 5,
    episodes: 1,
    output: "{out}",
    agents: [
        {a},
        {b},
        (name: "standin", price: 0.36, skill: {{"math": [0.9], "knowledge": [0.9], "code": [0.7]}}),
    ],
    workload: (
        domains: [
            (name: "math", bins: [(tau_max: 5)]),
            (name: "knowledge", bins: [(tau_max: 2)]),
            (name: "code", bins: [(tau_max: 5)]),
        ],
        tasks: (path: "{tasks}"),
    ),
    mechanisms: [Sale(w_c: 0.01, w_h: 2.0, w_j: 1.0, k: 2), EachAgent, Random],
)"#,
        out = dir.path().join("out").display(),
        a = live("smol-a", 0.05, 0.0),
        b = live("smol-b", 0.09, 0.7),
        tasks = tasks.display(),
    );
    let path = dir.path().join("scenario.ron");
    std::fs::write(&path, text_).expect("scenario written");

    let o = run(&path, &[], &[]);
    let stdout = text(&o.stdout);
    assert!(o.status.success(), "{}\n{stdout}", text(&o.stderr));
    assert!(
        text(&o.stderr).contains("as its server reports"),
        "concurrency from the server's slots: {}",
        text(&o.stderr)
    );
    let out = dir.path().join("out");
    let live_calls = calls(&out);
    assert!(live_calls["calls"].as_u64().expect("calls") > 0, "{live_calls}");
    assert_eq!(live_calls["failures"], 0, "every call answered: {live_calls}");
    // Plan entropy came from the server's log-probabilities, never the fallback.
    let trace = dir.path().join("trace.jsonl");
    std::fs::copy(out.join("trace.jsonl"), &trace).expect("trace kept");
    let records = tender_agents::live::read_records(&std::fs::read_to_string(&trace).expect("trace"), &trace)
        .expect("trace parses")
        .0;
    let plans: Vec<_> = records.iter().filter(|r| r.kind == "plan" || r.kind == "refine").collect();
    assert!(!plans.is_empty());
    assert!(plans.iter().all(|r| r.entropy.is_some()), "a plan without log-probabilities");
    // The parse and format rates are reported, in the output and in calls.json.
    for kind in ["plan", "judge", "execute"] {
        let r = &live_calls["replies"][kind];
        assert!(r["replies"].as_u64().expect("replies") > 0, "{kind}: {live_calls}");
        assert!(r["parsed"].as_u64().is_some() && r["formatted"].as_u64().is_some(), "{kind}: {live_calls}");
    }
    assert!(stdout.contains("as \"Score: N\"") && stdout.contains("in the asked format"), "{stdout}");
    if let Ok(report) = std::env::var("TENDER_LLAMA_REPORT") {
        let lines: Vec<&str> = stdout.lines().skip_while(|l| !l.starts_with("Cells per episode")).collect();
        std::fs::write(report, format!("{}\n{live_calls:#}\n", lines.join("\n"))).expect("report written");
    }

    replay_matches(&path, &trace, &out, &["tasks.csv", "summary.csv"]);
}

#[test]
fn stand_ins_calibrate_to_a_live_runs_trace_without_calling_anything() {
    let server = mock_calls((200, reply("Score: 4").to_string()), (200, reply("Answer: 4").to_string()));
    // Refinements.
    server.mock(|when, then| {
        when.method(POST);
        then.status(200).json_body(reply("1. Compute it again."));
    });
    let dir = tempfile::tempdir().expect("temp dir");
    let live = scenario(dir.path(), &server.url("/v1"), "a", "b", "TENDER_MOCK_KEY");
    let o = run(&live, &[], &[("TENDER_MOCK_KEY", "k")]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let trace = dir.path().join("out/trace.jsonl");
    // Stand-ins of the same pool, whose one free parameter is fitted to the live run's outcomes.
    let standins = dir.path().join("standins.ron");
    std::fs::write(
        &standins,
        r#"Scenario(
    name: "standins",
    seed: 1,
    episodes: 8,
    agents: [
        (name: "small", price: 0.05, skill: {"math": [0.5, 0.3], "knowledge": [0.5, 0.3], "code": [0.3]}),
        (name: "large", price: 0.36, skill: {"math": [0.6, 0.4], "knowledge": [0.6, 0.4], "code": [0.4]}),
        (name: "standin", price: 0.16, skill: {"math": [0.9, 0.7], "knowledge": [0.9, 0.8], "code": [0.7]}),
    ],
    workload: (domains: [
        (name: "math", bins: [(tau_max: 1, tasks: 5), (tau_max: 5, tasks: 5)]),
        (name: "knowledge", bins: [(tau_max: 0.5, tasks: 5), (tau_max: 2, tasks: 5)]),
        (name: "code", bins: [(tau_max: 5, tasks: 4)]),
    ]),
    mechanisms: [EachAgent, Oracle],
    calibrate: (episodes: 8, iterations: 20, params: [(path: "standins.shared_difficulty", min: 0.0, max: 0.85)], targets: []),
)"#,
    )
    .expect("stand-ins written");
    let out = dir.path().join("calibrated");
    // No server and no key: every answer comes from the trace.
    drop(server);
    let args = [
        "calibrate",
        standins.to_str().expect("utf-8"),
        "--targets-from",
        live.to_str().expect("utf-8"),
        "--targets-replay",
        trace.to_str().expect("utf-8"),
        "--out",
        out.to_str().expect("utf-8"),
    ];
    let o = tender_env(&args, &[]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let fit = std::fs::read_to_string(out.join("fit.md")).expect("fit table");
    for row in [
        "| small alone | math | `pass_at_1` |",
        "| small alone & large alone | all | `joint_success` |",
        "| oracle | all |",
    ] {
        assert!(fit.contains(row), "{row} missing:\n{fit}");
    }
    // And what the live agents did: the mock's jurors always say 4, and every plan is read.
    assert!(fit.contains("## Behaviour read from the trace"), "{fit}");
    for agent in ["small", "large"] {
        let row = fit.lines().find(|l| l.starts_with(&format!("| {agent} |"))).unwrap_or_else(|| panic!("{fit}"));
        assert!(row.ends_with("| 0.000 | 4 (1.000) |"), "{row}");
    }
    assert!(!fit.contains("| standin |"), "a stand-in of the live run is not live: {fit}");
    let calibrated = std::fs::read_to_string(out.join("scenario.ron")).expect("calibrated scenario");
    assert!(calibrated.contains("saturated_score: 4"), "{calibrated}");
    // Without the trace, live agents give no targets (nothing is called).
    let o = tender_env(&args[..5], &[]);
    assert!(!o.status.success());
    assert!(text(&o.stderr).contains("--targets-replay"), "{}", text(&o.stderr));
}
