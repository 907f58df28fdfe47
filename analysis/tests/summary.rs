//! Summaries of real batches: golden tables, and metric identities.

use std::path::Path;
use std::sync::Arc;

use tender_agents::Usage;
use tender_analysis::{Metric, Scope, summarise, table};
use tender_engine::mechanisms::Resolved;
use tender_engine::mechanisms::baselines::{Alone, Hindsight, RandomChoice};
use tender_engine::{BatchResult, EpisodeRun, RunOptions, Scenario, TaskRecord, run_batch};

fn small() -> Scenario {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../engine/tests/fixtures/small.ron");
    let text = std::fs::read_to_string(path).expect("fixture is readable");
    Scenario::parse(&text, "small.ron").expect("fixture is valid")
}

#[test]
fn golden_summary_of_the_small_market() {
    let s = small();
    let mechanisms = s.resolve_mechanisms();
    let options = RunOptions { seed: s.seed, episodes: 8, jobs: Some(2), timing: None, cancel: None };
    let batch =
        run_batch(Arc::new(s.source().unwrap()), &s.workload, s.training, &mechanisms, &options, &|| {}).unwrap();
    let summary = summarise(&batch, &s.workload);
    insta::assert_snapshot!("overview", table::overview(&summary));
    insta::assert_snapshot!("allocation", table::allocation(&summary));
    insta::assert_snapshot!("per_bin", table::per_bin(&summary));
}

/// The small fixture's agents.
fn pool(s: &Scenario) -> Vec<tender_agents::AgentInfo> {
    s.agents.iter().map(tender_agents::AgentProfile::info).collect()
}

/// One mechanism's records of one episode.
fn run(episode: u32, mechanism: u16, records: Vec<TaskRecord>) -> EpisodeRun {
    EpisodeRun { episode, seed: 0, mechanism, records, utilisation: Vec::new(), busy_over_time: Vec::new() }
}

fn record(winner: u16, success: bool, exec_tokens: u64, exec_cost: f64, value: f64) -> TaskRecord {
    TaskRecord {
        step: 0,
        task: 0,
        domain: 0,
        bin: 0,
        tau: 1.0,
        value,
        winner,
        success,
        executions: 1,
        delivered: Usage { input: exec_tokens, output: 0 },
        overhead: Usage { input: 0, output: 0 },
        overhead_cost: 0.0,
        execution: Usage { input: exec_tokens, output: 0 },
        execution_cost: exec_cost,
        failed_calls: 0,
        unparsed: 0,
        abstained: 0,
        reported: Default::default(),
        timing: None,
    }
}

#[test]
fn metrics_follow_their_definitions() {
    let s = small();
    let agents = pool(&s);
    // Two tasks per episode. Mechanism 0 uses the cheap agent for one task; mechanism 1 is the
    // largest agent alone (index 2); mechanism 2 is the oracle.
    let runs = |episode| {
        vec![
            run(episode, 0, vec![record(0, true, 1_000_000, 0.05, 10.0), record(2, false, 1_000_000, 0.36, 20.0)]),
            run(episode, 1, vec![record(2, true, 1_000_000, 0.36, 10.0), record(2, false, 1_000_000, 0.36, 20.0)]),
            run(episode, 2, vec![record(0, true, 1_000_000, 0.05, 10.0), record(1, true, 1_000_000, 0.12, 20.0)]),
        ]
    };
    let batch = BatchResult {
        agents,
        mechanisms: vec![
            Resolved::new("mix", RandomChoice),
            Resolved::new("large alone", Alone(2)),
            Resolved::new("oracle", Hindsight { refined: false }),
        ],
        runs: (0..3).flat_map(runs).collect(),
    };
    let summary = summarise(&batch, &s.workload);
    let get = |m, metric| summary.get(m, &Scope::All, &metric).unwrap().mean;
    assert_eq!(summary.largest, 2);
    assert_eq!(get(0, Metric::PassAt1), 0.5);
    assert!((get(0, Metric::CostPerMTok) - 0.205).abs() < 1e-12);
    assert!((get(0, Metric::RelianceReduction) - 0.5).abs() < 1e-12);
    assert!((get(0, Metric::CostReduction) - (1.0 - 0.205 / 0.36)).abs() < 1e-12);
    assert!((get(0, Metric::SpendReduction) - (1.0 - 0.41 / 0.72)).abs() < 1e-12);
    assert!((get(0, Metric::OracleGap) - 0.5).abs() < 1e-12);
    assert!((get(0, Metric::Welfare) - (10.0 - 0.41)).abs() < 1e-12);
    assert!((get(0, Metric::CostOfPass) - 0.41).abs() < 1e-12);
    assert_eq!(get(1, Metric::CostReduction), 0.0);
    assert_eq!(get(2, Metric::OracleGap), 0.0);
    // Identical episodes: a zero-width interval.
    assert_eq!(summary.get(0, &Scope::All, &Metric::PassAt1).unwrap().half_width(), 0.0);
    // Every scope of the workload is summarised.
    assert!(summary.get(0, &Scope::Bin(0, 0), &Metric::PassAt1).is_some());
    assert!(summary.get(0, &Scope::Domain(1), &Metric::PassAt1).is_some());
}

#[test]
fn reported_quantities_reach_the_metrics_the_table_and_tasks_csv() {
    use tender_engine::mechanisms::{Aggregate, Meaning, Quantity};
    const BID: Quantity =
        Quantity { id: "bid_usd", label: "bids $", meaning: Meaning::Number(Aggregate::Sum), scale: 1.0, decimals: 2 };
    const WON: Quantity = Quantity { id: "won", label: "won %", meaning: Meaning::Flag, scale: 100.0, decimals: 1 };
    const PICK: Quantity = Quantity { id: "pick", label: "pick", meaning: Meaning::Agent, scale: 1.0, decimals: 0 };
    let s = small();
    let agents = pool(&s);
    let with = |reported: Vec<(&'static Quantity, f64)>| TaskRecord {
        reported: reported.into(),
        ..record(0, true, 10, 0.1, 1.0)
    };
    let runs = |episode| {
        vec![
            run(
                episode,
                0,
                vec![
                    with(vec![(&BID, 1.5), (&WON, 1.0), (&PICK, 1.0)]),
                    with(vec![(&BID, 2.5), (&WON, 0.0)]),
                    with(vec![]),
                ],
            ),
            run(episode, 1, vec![with(vec![])]),
        ]
    };
    let batch = BatchResult {
        agents,
        mechanisms: vec![Resolved::new("bidder", RandomChoice), Resolved::new("plain", Alone(0))],
        runs: (0..2).flat_map(runs).collect(),
    };
    let summary = summarise(&batch, &s.workload);
    let get = |m, q| summary.get(m, &Scope::All, &Metric::Reported(q)).map(|e| e.mean);
    assert_eq!(get(0, BID), Some(4.0), "summed per episode");
    assert_eq!(get(0, WON), Some(0.5), "averaged over the tasks that report it");
    assert_eq!(get(1, BID), None);
    assert_eq!(get(0, PICK), None, "an agent has no episode value");
    assert!(Metric::Reported(WON).is_proportion() && !Metric::Reported(BID).is_proportion());
    let shown = table::reported(&summary).unwrap();
    assert!(shown.contains("bids $") && shown.contains("won %") && shown.contains("bidder"), "{shown}");
    assert!(!shown.contains("plain"), "{shown}");

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tasks.csv");
    let domains = ["qa".to_string()];
    let names = tender_analysis::output::TaskNames { domains: &domains, ids: &[] };
    tender_analysis::output::write_tasks(&path, &batch, names).unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    let mut lines = text.lines();
    assert!(lines.next().unwrap().ends_with(",abstentions,bid_usd,won,pick"));
    let picked = format!(",1.5,true,{}", batch.agents[1].name);
    assert!(lines.next().unwrap().ends_with(&picked), "a flag is a boolean, an agent its name");
    assert!(lines.next().unwrap().ends_with(",2.5,false,"));
    assert!(lines.next().unwrap().ends_with(",0,,,"), "a task that reports nothing leaves the columns empty");
}

#[test]
fn timed_records_give_latency_percentiles_auction_share_queue_wait_and_throughput() {
    use tender_engine::clock::TaskTiming;
    let s = small();
    let timed = |arrival: f64, awarded: f64, start: f64, done: f64| TaskRecord {
        timing: Some(Box::new(TaskTiming {
            arrival,
            awarded,
            execution_start: start,
            done,
            found_in_system: 0,
            deadline: arrival + 5.0,
            timed_out: false,
        })),
        ..record(0, true, 10, 0.1, 1.0)
    };
    // Latencies 1, 2, ..., 10 s; auctions of 0.5 s; waits of 1 s for the last five.
    let mut records: Vec<TaskRecord> = (1..=10)
        .map(|i| {
            let a = f64::from(i);
            let wait = if i > 5 { 1.0 } else { 0.0 };
            timed(a, a + 0.5, a + 0.5 + wait, a + f64::from(i))
        })
        .collect();
    // An eleventh task timed out mid-execution: no answer, so no latency.
    let mut late = timed(2.0, 2.5, 2.5, 30.0);
    late.success = false;
    if let Some(t) = late.timing.as_deref_mut() {
        t.timed_out = true;
    }
    records.push(late);
    let batch = BatchResult {
        agents: pool(&s),
        mechanisms: vec![Resolved::new("m", RandomChoice)],
        runs: vec![run(0, 0, records.clone()), run(1, 0, records)],
    };
    let summary = summarise(&batch, &s.workload);
    let get = |metric| summary.get(0, &Scope::All, &metric).map(|e| e.mean);
    assert_eq!(get(Metric::Latency(50)), Some(5.0));
    assert_eq!(get(Metric::Latency(95)), Some(10.0));
    assert_eq!(get(Metric::AuctionTime), Some(0.5));
    assert_eq!(get(Metric::AuctionShare), Some(5.0 / 55.0));
    assert_eq!(get(Metric::QueueWait), Some(0.5));
    // Ten answers from the first arrival (1 s) to the last answer (20 s).
    assert_eq!(get(Metric::Throughput), Some(10.0 / 19.0));
    // Latencies 1 to 10 s against a 5 s target, and the timed-out task: 5 of 11 within it.
    assert_eq!(get(Metric::TargetMet), Some(5.0 / 11.0));
    assert_eq!(get(Metric::TimedOutShare), Some(1.0 / 11.0));
    assert_eq!(get(Metric::DroppedShare), Some(0.0), "timed out is not dropped");
    assert!(
        table::latency(&summary)
            .is_some_and(|t| t.contains("latency p95 s") && t.contains("within target %") && t.contains("timed out %"))
    );
}
