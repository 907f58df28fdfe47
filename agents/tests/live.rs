//! Fault injection against a mock OpenAI-compatible server: every failure ends in its
//! documented outcome, and nothing stops the run.
#![allow(clippy::unwrap_used)] // helpers outside #[test] fns: a panic is the failure report

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use httpmock::prelude::*;
use serde_json::json;
use tender_agents::live::{CallRecord, LiveSource, Mode, Reasoning, ThinkingSwitch, read_records};
use tender_agents::{AgentInfo, AnswerCheck, CellKey, LiveSpec, PlanCell, Round, Status, Task, TaskContent, Usage};

fn spec(server: &MockServer) -> LiveSpec {
    LiveSpec {
        base_url: server.url("/v1"),
        model: "mock".into(),
        api_key_env: Some("TENDER_TEST_KEY".into()),
        timeout_secs: 0.3,
        deadline_secs: 60.0,
        max_retries: 2,
        backoff_ms: 150,
        concurrency: Some(2),
        circuit_breaker: 5,
        // Retries and the breaker are tested here; stalls through the binary (tests/it/live.rs).
        stall_timeout_secs: Some(3600.0),
        temperature: 0.0,
        plan_max_tokens: 64,
        answer_max_tokens: 64,
        verdict_max_tokens: 16,
        reasoning: Reasoning::Default,
        lesson_min_similarity: 0.2,
        logprobs: true,
        fallback_entropy: 0.7,
    }
}

fn task() -> Task {
    Task {
        id: 0,
        domain: 0,
        bin: 0,
        tau: 1.0,
        topic: 0,
        embedding: vec![1.0].into_boxed_slice(),
        value: 1.0,
        content: Some(Arc::new(TaskContent {
            key: "t1".into(),
            text: "What is 6 times 7?".into(),
            reference: "42".into(),
            check: AnswerCheck::Numeric { tolerance: 0.0 },
            arrival: None,
        })),
    }
}

fn agents() -> [AgentInfo; 1] {
    [AgentInfo {
        name: "m".into(),
        input_price: 1.0,
        output_price: 2.0,
        reference: None,
        unit_cost: None,
        bid_markup: 0.0,
    }]
}

struct Setup {
    live: LiveSource,
    dir: tempfile::TempDir,
}

fn setup(server: &MockServer) -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let mode = Mode::Live { cache: Some(dir.path().join("cache.jsonl")), trace: Some(dir.path().join("trace.jsonl")) };
    let env = |var: &str| (var == "TENDER_TEST_KEY").then(|| "sekrit-key".to_string());
    let live = LiveSource::new(&agents(), &[Some(spec(server))], &mode, &env).unwrap();
    Setup { live, dir }
}

fn reply(content: &str) -> serde_json::Value {
    json!({"choices": [{"message": {"role": "assistant", "content": content}}], "usage": {"prompt_tokens": 30, "completion_tokens": 5}})
}

fn key(task: &Task) -> CellKey<'_> {
    CellKey { episode_seed: 1, task, agent: 0 }
}

fn trace(s: &Setup) -> Vec<CallRecord> {
    let path = s.dir.path().join("trace.jsonl");
    read_records(&std::fs::read_to_string(&path).unwrap(), &path).unwrap().0
}

fn chat_mock<'a>(server: &'a MockServer, status: u16, body: &str) -> httpmock::Mock<'a> {
    server.mock(|when, then| {
        when.method(POST).path("/v1/chat/completions");
        then.status(status).header("content-type", "application/json").body(body);
    })
}

#[test]
fn success_is_checked_priced_and_recorded_without_the_key() {
    let server = MockServer::start();
    let m = server.mock(|when, then| {
        when.method(POST).path("/v1/chat/completions").header("authorization", "Bearer sekrit-key");
        then.status(200).json_body(reply("6 * 7 = 42\nAnswer: 42"));
    });
    let s = setup(&server);
    let t = task();
    let cell = s.live.execute(key(&t), None);
    assert!(cell.success && cell.status != Status::Failed);
    assert_eq!(cell.usage, Usage { input: 30, output: 5 });
    // Asked again (another mechanism, the same cell): no second call.
    assert_eq!(s.live.execute(key(&t), None), cell);
    assert_eq!(m.calls(), 1);
    let stats = s.live.finish().unwrap();
    assert_eq!((stats.calls, stats.attempts, stats.failures), (1, 1, 0));
    for file in ["trace.jsonl", "cache.jsonl"] {
        let text = std::fs::read_to_string(s.dir.path().join(file)).unwrap();
        assert!(!text.contains("sekrit"), "{file} holds the API key");
        assert_eq!(text.lines().count(), 1, "{file}");
    }
}

#[test]
fn a_429_is_retried_after_backoff_and_then_succeeds() {
    let server = MockServer::start();
    let limited = server.mock(|when, then| {
        when.method(POST).path("/v1/chat/completions");
        then.status(429).header("retry-after", "0").body("slow down");
    });
    let s = setup(&server);
    let t = task();
    let text_less = PlanCell {
        round: Round::Initial,
        length: 3,
        entropy: 0.0,
        boost: 0.0,
        usage: Usage::default(),
        text: 0,
        status: Status::Answered,
        seconds: None,
    };
    // A plan without text cannot be judged: an abstention, and no call.
    assert_eq!(s.live.judge(key(&t), &text_less, 0).score, None);
    let plan = std::thread::scope(|scope| {
        let asking = scope.spawn(|| s.live.plan(key(&t)));
        // Swap the 429 for a success once it has been served (the backoff leaves time).
        while limited.calls() == 0 {
            std::thread::sleep(Duration::from_millis(2));
        }
        let mut limited = limited;
        limited.delete();
        server.mock(|when, then| {
            when.method(POST).path("/v1/chat/completions");
            then.status(200).json_body(reply("1. Multiply. Score: 4"));
        });
        asking.join().unwrap()
    });
    assert!(plan.status != Status::Failed);
    assert_eq!(plan.entropy, 0.7, "no logprobs: the fallback entropy");
    assert_eq!(s.live.judge(key(&t), &plan, 0).score, Some(4));
    let records = trace(&s);
    assert_eq!(records[0].attempts, 2);
    assert!(records[0].ok);
}

#[test]
fn persistent_500s_end_in_a_failed_cell_after_the_retries() {
    let server = MockServer::start();
    let m = chat_mock(&server, 503, "overloaded");
    let s = setup(&server);
    let t = task();
    let cell = s.live.execute(key(&t), None);
    assert!(cell.status == Status::Failed && !cell.success);
    assert_eq!(cell.usage, Usage::default());
    assert_eq!(m.calls(), 3, "one attempt and two retries");
    let records = trace(&s);
    assert!(!records[0].ok);
    assert!(records[0].error.as_deref().unwrap().contains("HTTP 503"));
    // Failures are traced (a replay reproduces them) but never cached (a rerun tries again).
    assert_eq!(std::fs::read_to_string(s.dir.path().join("cache.jsonl")).unwrap(), "");
    assert_eq!(s.live.finish().unwrap().failures, 1);
}

#[test]
fn a_timeout_is_retried_then_fails() {
    let server = MockServer::start();
    let m = server.mock(|when, then| {
        when.method(POST).path("/v1/chat/completions");
        then.status(200).delay(Duration::from_millis(1500)).json_body(reply("Answer: 42"));
    });
    let s = setup(&server);
    let t = task();
    let cell = s.live.execute(key(&t), None);
    assert!(cell.status == Status::Failed);
    assert_eq!(m.calls(), 3);
}

#[test]
fn garbage_json_and_empty_choices_fail_at_once() {
    for body in ["{not json", r#"{"choices": [], "usage": {"prompt_tokens": 1, "completion_tokens": 1}}"#] {
        let server = MockServer::start();
        let m = chat_mock(&server, 200, body);
        let s = setup(&server);
        let t = task();
        let plan = s.live.plan(key(&t));
        assert!(plan.status == Status::Failed, "{body}");
        assert_eq!(m.calls(), 1, "an unusable answer is not retried: {body}");
        let error = trace(&s)[0].error.clone().unwrap();
        assert!(error.contains("malformed JSON") || error.contains("empty `choices`"), "{error}");
    }
}

#[test]
fn a_reply_without_usage_is_kept_with_estimated_tokens() {
    let server = MockServer::start();
    chat_mock(&server, 200, r#"{"choices": [{"message": {"content": "Answer: 42"}}]}"#);
    let s = setup(&server);
    let t = task();
    let cell = s.live.execute(key(&t), None);
    assert!(cell.success && cell.status != Status::Failed);
    assert_eq!(cell.usage.output, 3, "10 characters at four a token");
    assert!(cell.usage.input > 0);
    assert!(!trace(&s)[0].usage_reported);
}

#[test]
fn logprobs_give_the_plan_entropy_and_a_replay_makes_no_calls() {
    let server = MockServer::start();
    let m = chat_mock(
        &server,
        200,
        r#"{"choices": [{"message": {"content": "1. Multiply."}, "logprobs": {"content": [{"token": "1", "logprob": -0.25}]}}],
            "usage": {"prompt_tokens": 20, "completion_tokens": 4}}"#,
    );
    let s = setup(&server);
    let t = task();
    let plan = s.live.plan(key(&t));
    assert_eq!(plan.entropy, 0.25);
    assert_eq!(plan.length, 4);
    s.live.finish().unwrap();
    let replay = LiveSource::new(
        &agents(),
        &[Some(spec(&server))],
        &Mode::Replay { trace: s.dir.path().join("trace.jsonl") },
        &|_| None,
    )
    .unwrap();
    assert_eq!(replay.plan(key(&t)), plan);
    assert_eq!(m.calls(), 1);
    assert_eq!(replay.finish().unwrap().replayed, 1);
    // A cell the trace lacks is a miss, reported at the end.
    let missing = replay.execute(key(&t), None);
    assert!(missing.status == Status::Failed);
    let err = replay.finish().unwrap_err().to_string();
    assert!(err.contains("1 request(s) are not in the trace") && err.contains("execute by m"), "{err}");
}

#[test]
fn a_missing_key_variable_is_named() {
    let server = MockServer::start();
    let err = LiveSource::new(&agents(), &[Some(spec(&server))], &Mode::Live { cache: None, trace: None }, &|_| None)
        .err()
        .unwrap()
        .to_string();
    assert_eq!(err, "agent \"m\": environment variable TENDER_TEST_KEY (api_key_env) is not set");
}

#[test]
fn server_embeddings_are_unit_length_batched_cached_and_replayed() {
    let server = MockServer::start();
    let m = server.mock(|when, then| {
        when.method(POST).path("/v1/embeddings").body_includes("\"model\":\"embedder\"");
        then.status(200).json_body(json!({
            "data": [{"embedding": [3.0, 4.0]}, {"embedding": [0.0, 2.0]}],
            "usage": {"prompt_tokens": 7}
        }));
    });
    let s = setup(&server);
    let embedding = tender_agents::Embedding::Server(tender_agents::taskfile::EmbeddingServer {
        base_url: server.url("/v1"),
        model: "embedder".into(),
        api_key_env: None,
    });
    let texts = ["first task", "second task"];
    let v = tender_agents::live::embed_texts(&embedding, &texts, Some(&s.live), &|_| None).unwrap();
    assert_eq!(v, vec![vec![0.6, 0.8], vec![0.0, 1.0]]);
    assert_eq!(tender_agents::live::embed_texts(&embedding, &texts, Some(&s.live), &|_| None).unwrap(), v);
    assert_eq!(m.calls(), 1, "the second request is answered from memory");
    s.live.finish().unwrap();
    let replay =
        LiveSource::new(&agents(), &[None], &Mode::Replay { trace: s.dir.path().join("trace.jsonl") }, &|_| None)
            .unwrap();
    assert_eq!(tender_agents::live::embed_texts(&embedding, &texts, Some(&replay), &|_| None).unwrap(), v);
    assert_eq!(m.calls(), 1);
    // Without a live source there is nothing to ask.
    assert!(tender_agents::live::embed_texts(&embedding, &texts, None, &|_| None).is_err());
}

#[test]
#[cfg_attr(not(tender_python3), ignore = "python3 is not installed")]
fn a_coding_task_runs_its_tests_on_the_program() {
    let server = MockServer::start();
    server.mock(|when, then| {
        when.method(POST).path("/v1/chat/completions").body_includes("one Python code block");
        then.status(200).json_body(reply("```python\ndef double(x):\n    return 2 * x\n```"));
    });
    let s = setup(&server);
    let mut t = task();
    let mut check = |tests: &str| {
        t.content = Some(Arc::new(TaskContent {
            key: tests.into(),
            text: "Write double(x).".into(),
            reference: tests.into(),
            check: AnswerCheck::PythonTests { timeout_secs: 20.0 },
            arrival: None,
        }));
        s.live.execute(key(&t), None)
    };
    assert!(check("assert double(4) == 8").success);
    assert!(!check("assert double(4) == 9").success);
}

fn execution(s: &Setup) -> tender_agents::ExecutionCell {
    let t = task();
    s.live.execute(key(&t), None)
}

#[test]
fn auth_errors_fail_at_once_and_an_echoed_key_is_never_written() {
    let server = MockServer::start();
    let m = chat_mock(&server, 401, r#"{"error": "invalid api key you sent: Bearer sekrit-key"}"#);
    let s = setup(&server);
    let cell = execution(&s);
    assert!(cell.status == Status::Failed);
    m.assert_calls(1);
    let records = trace(&s);
    assert_eq!(records[0].attempts, 1, "a 401 cannot succeed on retry");
    let text = std::fs::read_to_string(s.dir.path().join("trace.jsonl")).unwrap();
    assert!(!text.contains("sekrit-key"), "the trace holds the key: {text}");
    assert!(records[0].error.as_deref().unwrap_or_default().contains("[redacted]"), "{:?}", records[0].error);
    let by_cause = s.live.failures_by_cause();
    assert_eq!(by_cause, [("m".to_string(), tender_agents::live::Cause::Status(401), 1)]);
}

/// Every encoding of the key a server might echo, in an error or inside a 200 reply's content.
fn encodings_of_the_key() -> Vec<String> {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD;
    vec![
        "sekrit-key".into(),
        "sekrit%2Dkey".into(),
        r"sekrit\u002dkey".into(),
        b64.encode("Bearer sekrit-key"),
        b64.encode("sekrit-key"),
    ]
}

#[test]
fn a_key_echoed_in_any_encoding_reaches_no_file() {
    for (n, echoed) in encodings_of_the_key().into_iter().enumerate() {
        // An error body echoing the key (JSON-escaped as the server writes it).
        let server = MockServer::start();
        let body = json!({"error": format!("invalid api key you sent: {echoed}")}).to_string();
        chat_mock(&server, 500, &body);
        let s = setup(&server);
        let cell = execution(&s);
        assert!(cell.status == Status::Failed);
        let text = std::fs::read_to_string(s.dir.path().join("trace.jsonl")).unwrap();
        assert!(!text.contains("sekrit") && !text.contains(&echoed), "encoding {n}: the trace holds the key: {text}");
        for (agent, _, _) in s.live.failures_by_cause() {
            assert!(!agent.contains("sekrit"));
        }
        // A 200 reply whose content echoes the key: the cache and the trace hold it redacted.
        let server = MockServer::start();
        server.mock(|when, then| {
            when.method(POST).path("/v1/chat/completions");
            then.status(200).json_body(reply(&format!("your key is {echoed}\nAnswer: 42")));
        });
        let s = setup(&server);
        let cell = execution(&s);
        assert!(cell.status != Status::Failed);
        s.live.finish().unwrap();
        for file in ["trace.jsonl", "cache.jsonl"] {
            let text = std::fs::read_to_string(s.dir.path().join(file)).unwrap();
            assert!(text.contains("[redacted]"), "encoding {n}: {file}: {text}");
            assert!(!text.contains("sekrit") && !text.contains(&echoed), "encoding {n}: {file} holds the key: {text}");
        }
    }
}

#[test]
fn oversize_and_undecodable_replies_get_one_attempt() {
    let server = MockServer::start();
    let big = "x".repeat(usize::try_from(tender_agents::live::MAX_BODY).unwrap() + 10);
    let m = chat_mock(&server, 200, &big);
    let s = setup(&server);
    assert!(execution(&s).status == Status::Failed);
    m.assert_calls(1);
    assert_eq!(trace(&s)[0].attempts, 1);

    let server = MockServer::start();
    let m = server.mock(|when, then| {
        when.method(POST).path("/v1/chat/completions");
        then.status(200).body(vec![0xff_u8, 0xfe, 0x00, 0x41]);
    });
    let s = setup(&server);
    assert!(execution(&s).status == Status::Failed);
    m.assert_calls(1);
    let by_cause = s.live.failures_by_cause();
    assert_eq!(by_cause, [("m".to_string(), tender_agents::live::Cause::Undecodable, 1)]);
}

#[test]
fn a_hanging_server_opens_the_circuit_and_is_not_called_again() {
    let server = MockServer::start();
    server.mock(|when, then| {
        when.method(POST).path("/v1/chat/completions");
        then.status(200).delay(Duration::from_secs(3)).json_body(reply("Answer: 42"));
    });
    let dir = tempfile::tempdir().unwrap();
    let mode = Mode::Live { cache: None, trace: Some(dir.path().join("trace.jsonl")) };
    let env = |_: &str| Some("k".to_string());
    let spec = LiveSpec { max_retries: 0, circuit_breaker: 2, ..spec(&server) };
    let live = LiveSource::new(&agents(), &[Some(spec)], &mode, &env).unwrap();
    let tasks: Vec<Task> = (0..4)
        .map(|i| {
            let mut t = task();
            t.id = i;
            let text = format!("What is {i} times 7?");
            t.content =
                Some(Arc::new(TaskContent { key: format!("t{i}"), text, ..(*task().content.unwrap()).clone() }));
            t
        })
        .collect();
    for t in &tasks {
        assert!(live.execute(key(t), None).status == Status::Failed);
    }
    // Two timed-out calls (one attempt each), then nothing sent.
    let path = dir.path().join("trace.jsonl");
    let records = read_records(&std::fs::read_to_string(&path).unwrap(), &path).unwrap().0;
    let attempts: Vec<u32> = records.iter().map(|r| r.attempts).collect();
    assert_eq!(attempts, [1, 1, 0, 0]);
    assert_eq!(live.stats().calls, 2, "the last two were never sent");
    assert_eq!(live.stats().failures, 4);
    let open = live.open_circuits();
    assert_eq!(open.len(), 1, "{open:?}");
    assert!(open[0].last_error.contains("timeout") || open[0].last_error.contains("imed out"), "{open:?}");
    let by_cause = live.failures_by_cause();
    assert!(by_cause.contains(&("m".to_string(), tender_agents::live::Cause::CircuitOpen, 2)), "{by_cause:?}");
}

#[test]
fn the_preflight_names_the_agent_url_and_cause() {
    let preflight = |server_url: String| {
        let dir = tempfile::tempdir().unwrap();
        let mode = Mode::Live { cache: None, trace: Some(dir.path().join("trace.jsonl")) };
        let env = |_: &str| Some("sekrit-key".to_string());
        let spec = LiveSpec { base_url: server_url, ..spec(&MockServer::start()) };
        let live = LiveSource::new(&agents(), &[Some(spec)], &mode, &env).unwrap();
        live.preflight(Duration::from_secs(2)).err().map(|e| e.to_string())
    };
    // Nothing listening: a port that was just free.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let started = std::time::Instant::now();
    let err = preflight(format!("http://127.0.0.1:{port}/v1")).unwrap();
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(
        err.contains("agent \"m\"")
            && err.contains(&format!("127.0.0.1:{port}"))
            && err.contains("nothing is listening"),
        "{err}"
    );

    let server = MockServer::start();
    server.mock(|when, then| {
        when.method(GET).path("/v1/models");
        then.status(401).body("bad key sekrit-key");
    });
    let err = preflight(server.url("/v1")).unwrap();
    assert!(err.contains("refuses the credentials") && !err.contains("sekrit-key"), "{err}");

    let server = MockServer::start();
    server.mock(|when, then| {
        when.method(GET).path("/v1/models");
        then.status(200).json_body(json!({"object": "list", "data": [{"id": "other"}, {"id": "more"}]}));
    });
    let err = preflight(server.url("/v1")).unwrap();
    assert!(err.contains("does not serve model \"mock\"") && err.contains("\"other\""), "{err}");
    assert!(err.contains("check `base_url`"), "{err}");

    let server = MockServer::start();
    server.mock(|when, then| {
        when.method(GET).path("/v1/models");
        then.status(200).json_body(json!({"object": "list", "data": [{"id": "mock"}]}));
    });
    assert_eq!(preflight(server.url("/v1")), None);
    // A server without the route is given the benefit of the doubt.
    assert_eq!(preflight(MockServer::start().url("/v1")), None);
}

/// Replies SmolLM2-135M-Instruct gave in a live run of the example tasks (jury verdicts and
/// answers), with what the parsers must read in each; a reader who disagrees with an
/// expectation should change the parser, not the fixture.
#[test]
fn recorded_real_replies_parse_as_reviewed() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let tasks: std::collections::HashMap<String, serde_json::Value> =
        std::fs::read_to_string(dir.join("../scenarios/tasks/example.jsonl"))
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
            .map(|v| (v["id"].as_str().unwrap().to_string(), v))
            .collect();
    let fixture = std::fs::read_to_string(dir.join("tests/fixtures/smollm2-replies.jsonl")).unwrap();
    let (mut verdicts, mut scored, mut answers, mut found) = (0, 0, 0, 0);
    for line in fixture.lines() {
        let r: serde_json::Value = serde_json::from_str(line).unwrap();
        let content = r["content"].as_str().unwrap();
        if r["kind"] == "judge" {
            let score = tender_agents::live::parse_score(content);
            assert_eq!(score.map(u64::from), r["score"].as_u64(), "{content:?}");
            verdicts += 1;
            scored += usize::from(score.is_some());
        } else {
            let t = &tasks[r["task"].as_str().unwrap()];
            let check: AnswerCheck = serde_json::from_value(t["check"].clone()).unwrap();
            let g = check.grade(t["text"].as_str().unwrap(), content, t["answer"].as_str().unwrap());
            assert_eq!(g.stage.map(|s| format!("{s:?}")).as_deref(), r["found"].as_str(), "{content:?}");
            assert_eq!(g.passed, r["passed"].as_bool().unwrap(), "{content:?}");
            answers += 1;
            found += usize::from(g.stage.is_some());
        }
    }
    // The stray digits of unparsed verdicts are not scores: most of these replies hold none.
    assert!(verdicts >= 25 && scored * 4 < verdicts, "{scored} of {verdicts}");
    assert!(answers >= 30 && found < answers, "echoed option lists are unparsed: {found} of {answers}");
}

/// A scripted reply body for `reasoning` tests: `content` beside `reasoning_content`.
fn reasoning_reply(content: Option<&str>) -> serde_json::Value {
    json!({"choices": [{"message": {"role": "assistant", "content": content, "reasoning_content": "Let me think."}}],
           "usage": {"prompt_tokens": 30, "completion_tokens": 50}})
}

#[test]
fn reasoning_is_stripped_switched_off_or_budgeted() {
    let server = MockServer::start();
    // Thinking off by the template flag: the request carries it.
    let flag = server.mock(|when, then| {
        when.method(POST).json_body_includes(r#"{"chat_template_kwargs": {"enable_thinking": false}}"#);
        then.status(200).json_body(reply("<think>Score: 1 seems harsh</think>\nScore: 4"));
    });
    let dir = tempfile::tempdir().unwrap();
    let mode = Mode::Live { cache: None, trace: Some(dir.path().join("trace.jsonl")) };
    let env = |_: &str| Some("k".to_string());
    let with = |reasoning: Reasoning, server: &MockServer| {
        let spec = LiveSpec { reasoning, ..spec(server) };
        LiveSource::new(&agents(), &[Some(spec)], &mode, &env).unwrap()
    };
    let t = task();
    let live = with(Reasoning::Off(ThinkingSwitch::TemplateFlag), &server);
    let plan = live.plan(key(&t));
    // The plan's text is the reply without its reasoning.
    let verdict = live.judge(key(&t), &plan, 0);
    assert_eq!((verdict.score, verdict.status), (Some(4), Status::Answered), "the thought's score is not read");
    assert!(flag.calls() >= 2);

    // The soft switch: `/no_think` closes the user message.
    let server = MockServer::start();
    let tag = server.mock(|when, then| {
        when.method(POST).body_includes(r#"Do not solve it yet.\n/no_think"#);
        then.status(200).json_body(reply("1. Multiply."));
    });
    assert_eq!(with(Reasoning::Off(ThinkingSwitch::NoThinkTag), &server).plan(key(&t)).status, Status::Answered);
    tag.assert_calls(1);

    // Thinking allowed: its budget is added, and a reply that is all thought is unparsed, not
    // a failed call.
    let server = MockServer::start();
    let budget = server.mock(|when, then| {
        when.method(POST).json_body_includes(r#"{"max_tokens": 1064}"#);
        then.status(200).json_body(reasoning_reply(None));
    });
    let live = with(Reasoning::Think { tokens: 1000 }, &server);
    let cell = live.execute(key(&t), None);
    assert_eq!((cell.status, cell.success), (Status::Unparsed, false));
    budget.assert_calls(1);
    assert_eq!(live.stats().failures, 0);
}

#[test]
fn the_deadline_bounds_a_call_and_its_retries() {
    let server = MockServer::start();
    let slow = server.mock(|when, then| {
        when.method(POST);
        then.status(200).delay(Duration::from_millis(800)).json_body(reply("Answer: 42"));
    });
    let dir = tempfile::tempdir().unwrap();
    let mode = Mode::Live { cache: None, trace: Some(dir.path().join("trace.jsonl")) };
    let env = |_: &str| Some("k".to_string());
    // Each attempt may take 0.3 s; the call 1 s in all, however many retries are left.
    let spec = LiveSpec { deadline_secs: 1.0, max_retries: 20, backoff_ms: 10, ..spec(&server) };
    let live = LiveSource::new(&agents(), &[Some(spec)], &mode, &env).unwrap();
    let t = task();
    let started = std::time::Instant::now();
    let cell = live.execute(key(&t), None);
    assert_eq!(cell.status, Status::Failed);
    assert!(started.elapsed() < Duration::from_millis(1900), "{:?}", started.elapsed());
    assert!((2..=4).contains(&slow.calls()), "{} attempts", slow.calls());
    let record = &read_records(
        &std::fs::read_to_string(dir.path().join("trace.jsonl")).unwrap(),
        &dir.path().join("trace.jsonl"),
    )
    .unwrap()
    .0[0];
    assert!(record.error.as_deref().unwrap().contains("deadline"), "{:?}", record.error);
}

#[test]
fn concurrency_comes_from_the_servers_slots_unless_set() {
    let server = MockServer::start();
    server.mock(|when, then| {
        when.method(GET).path("/v1/models");
        then.status(200).json_body(json!({"data": [{"id": "mock"}]}));
    });
    server.mock(|when, then| {
        when.method(GET).path("/props");
        then.status(200).json_body(json!({"total_slots": 3, "default_generation_settings": {"n_ctx": 4096}}));
    });
    let dir = tempfile::tempdir().unwrap();
    let mode = Mode::Live { cache: None, trace: Some(dir.path().join("trace.jsonl")) };
    let env = |_: &str| Some("k".to_string());
    let unset = LiveSpec { concurrency: None, ..spec(&server) };
    let live = LiveSource::new(&agents(), &[Some(unset.clone())], &mode, &env).unwrap();
    assert_eq!(live.preflight(Duration::from_secs(2)).unwrap(), vec![("m".to_string(), 3)]);
    let e = live.endpoint(0, Duration::from_secs(2)).unwrap();
    assert_eq!((e.slots, e.context), (Some(3), Some(4096)));
    // A set concurrency is the user's word.
    let set = LiveSpec { concurrency: Some(1), ..unset };
    let live = LiveSource::new(&agents(), &[Some(set)], &mode, &env).unwrap();
    assert!(live.preflight(Duration::from_secs(2)).unwrap().is_empty());
}

#[test]
fn lessons_below_the_minimum_similarity_are_not_quoted() {
    let server = MockServer::start();
    // A prompt that quotes the dissimilar lesson finds no mock, and fails.
    let calls = server.mock(|when, then| {
        when.method(POST).body_excludes("similarity 0.10");
        then.status(200).json_body(reply("1. Multiply 6 by 7."));
    });
    let s = setup(&server);
    let t = task();
    let plan = s.live.plan(key(&t));
    let lesson = |similarity: f32| tender_agents::RetrievedPair {
        similarity,
        losing_length: 5,
        winning_length: 5,
        winner_succeeded: true,
        losing_text: plan.text,
        winning_text: plan.text,
    };
    // Only a dissimilar task in memory: no refinement, and no call.
    let refined = s.live.refine(key(&t), &[lesson(0.1)], 4);
    assert_eq!(refined.status, Status::Abstained);
    assert_eq!(calls.calls(), 1);
    let refined = s.live.refine(key(&t), &[lesson(0.9), lesson(0.1)], 4);
    assert_eq!(refined.status, Status::Answered, "the similar lesson is quoted, the other is not");
    assert_eq!(calls.calls(), 2);
}

#[test]
fn waiting_for_a_request_slot_does_not_count_against_the_attempt_timeout() {
    let server = MockServer::start();
    let slow = server.mock(|when, then| {
        when.method(POST);
        then.status(200).delay(Duration::from_millis(200)).json_body(reply("Answer: 42"));
    });
    let dir = tempfile::tempdir().unwrap();
    let mode = Mode::Live { cache: None, trace: Some(dir.path().join("trace.jsonl")) };
    let env = |_: &str| Some("k".to_string());
    // One request at a time, 0.3 s per attempt, no retries: three calls queue for 0.2 s each,
    // so the last waits 0.4 s for its slot; each still answers within its own 0.3 s.
    let spec = LiveSpec { concurrency: Some(1), max_retries: 0, ..spec(&server) };
    let live = LiveSource::new(&agents(), &[Some(spec)], &mode, &env).unwrap();
    let tasks: Vec<Task> = (0..3)
        .map(|i| {
            let mut t = task();
            t.id = i;
            t.content = Some(Arc::new(TaskContent {
                key: format!("t{i}"),
                text: format!("What is {i} plus 42 minus {i}?"),
                reference: "42".into(),
                check: AnswerCheck::Numeric { tolerance: 0.0 },
                arrival: None,
            }));
            t
        })
        .collect();
    let cells: Vec<_> = std::thread::scope(|scope| {
        let handles: Vec<_> = tasks.iter().map(|t| scope.spawn(|| live.execute(key(t), None))).collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert!(cells.iter().all(|c| c.status == Status::Answered && c.success), "{cells:?}");
    assert_eq!(slow.calls(), 3);
}

/// A pool of live agents only, as an outcome source (the pool source pairs it with stand-ins).
struct LiveOnly(LiveSource, Vec<AgentInfo>);

impl tender_agents::OutcomeSource for LiveOnly {
    fn agents(&self) -> &[AgentInfo] {
        &self.1
    }
    fn plan(&self, key: CellKey<'_>) -> PlanCell {
        self.0.plan(key)
    }
    fn refine(&self, key: CellKey<'_>, recall: &tender_agents::Recall<'_>) -> PlanCell {
        self.0.refine(key, recall.pairs, recall.k)
    }
    fn best_plan(&self, _: CellKey<'_>) -> Option<PlanCell> {
        None
    }
    fn judge(&self, key: CellKey<'_>, plan: &PlanCell, juror: usize) -> tender_agents::JuryCell {
        self.0.judge(key, plan, juror)
    }
    fn execute(&self, key: CellKey<'_>, plan: Option<&PlanCell>) -> tender_agents::ExecutionCell {
        self.0.execute(key, plan)
    }
}

/// A strategy post-processes what a live agent really answered: its verdicts after they are
/// parsed, its plans' length; its executions never.
#[test]
fn a_live_agents_strategy_shifts_its_parsed_verdicts_and_pads_its_plans() {
    use tender_agents::OutcomeSource;
    use tender_agents::strategy::{Shift, Strategic, Strategy};
    let server = MockServer::start();
    server.mock(|when, then| {
        when.method(POST).path("/v1/chat/completions");
        then.status(200).json_body(reply("1. Multiply six by seven.\n2. Check it. Score: 3\nAnswer: 42"));
    });
    let dir = tempfile::tempdir().unwrap();
    let mode = Mode::Live { cache: None, trace: Some(dir.path().join("trace.jsonl")) };
    let env = |_: &str| Some("k".to_string());
    let pool = vec![agents()[0].clone(), AgentInfo { name: "n".into(), ..agents()[0].clone() }];
    let live = LiveSource::new(&pool, &[Some(spec(&server)), Some(spec(&server))], &mode, &env).unwrap();
    let inner: Arc<dyn OutcomeSource> = Arc::new(LiveOnly(live, pool));
    let gamer =
        Strategy { own_plans: Shift::Score(5), rivals: Shift::Lower(1), plan_length: 2.0, ..Strategy::default() };
    let strategic = Strategic::wrap(Arc::clone(&inner), vec![gamer, Strategy::default()]);
    let t = task();
    let of = |agent: usize| CellKey { episode_seed: 1, task: &t, agent };
    let (own, rival) = (inner.plan(of(0)), inner.plan(of(1)));
    assert_eq!(inner.judge(of(0), &own, 0).score, Some(3), "the server's verdict, parsed");
    assert_eq!(strategic.judge(of(0), &own, 0).score, Some(5), "its own plan, scored 5");
    assert_eq!(strategic.judge(of(1), &rival, 0).score, Some(2), "a rival's, lowered by one");
    assert_eq!(strategic.judge(of(0), &own, 1).score, Some(3), "the truthful juror is untouched");
    let padded = strategic.plan(of(0));
    assert_eq!(padded.length, own.length * 2);
    assert_eq!(padded.usage.output, own.usage.output * 2, "the padding is billed");
    assert_eq!(strategic.plan(of(1)), rival);
    assert_eq!(strategic.execute(of(0), Some(&padded)), inner.execute(of(0), Some(&padded)));
}
