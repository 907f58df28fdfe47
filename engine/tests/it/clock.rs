//! Markets in time: no task lost, no slot over-subscribed, Little's law, the M/G/1 queue's
//! Pollaczek-Khinchine mean wait, and records that do not depend on threads.

use std::sync::Arc;

use tender_agents::OutcomeSource;
use tender_engine::clock::{Arrivals, Timing};
use tender_engine::episode::play_in_time;
use tender_engine::{RunOptions, Scenario, TaskRecord, run_batch};

/// Two agents, one domain; `mechanisms` a RON list, `rate` tasks per second.
fn market(mechanisms: &str, rate: f64, slots: u32) -> Scenario {
    market_with(mechanisms, rate, (slots, slots), "", "")
}

/// [`market`] with the small and the large agent's slots, extra `serving` fields for both
/// (`queue_limit: 2, `) and extra top-level fields (`training: Separate(1),`).
fn market_with(mechanisms: &str, rate: f64, slots: (u32, u32), serving: &str, top: &str) -> Scenario {
    let (small_slots, large_slots) = slots;
    let text = format!(
        r#"Scenario(
    name: "timed",
    seed: 4,
    episodes: 1,
    agents: [
        (name: "s", price: 0.05, skill: {{"qa": [0.7, 0.3]}}, trace: (median_at_1min: 400, tau_exponent: 0.0, sigma: 0.3, output_share: 1.0),
         serving: ({serving}slots: {small_slots}, output_tokens_per_second: 400, prefill_tokens_per_second: 1e9, time_to_first_token: 0.0)),
        (name: "l", price: 0.36, skill: {{"qa": [0.9, 0.6]}}, trace: (median_at_1min: 400, tau_exponent: 0.0, sigma: 0.3, output_share: 1.0),
         serving: ({serving}slots: {large_slots}, output_tokens_per_second: 200, prefill_tokens_per_second: 1e9, time_to_first_token: 0.0)),
    ],
    workload: (domains: [(name: "qa", bins: [(tau_max: 0.5, tasks: 200), (tau_max: 5.0, tasks: 200)], topics: 4)]),
    {top}
    arrivals: Poisson(rate: {rate}),
    mechanisms: {mechanisms},
)"#
    );
    Scenario::parse(&text, "timed").expect("valid scenario")
}

fn timing(s: &Scenario) -> Timing {
    tender_engine::Prepared::synthetic(s.clone()).expect("pool").options(None).timing.expect("a timed scenario")
}

/// Every mechanism's records and calls over `episodes` episodes.
fn play(s: &Scenario, episodes: u64) -> Vec<(String, Vec<TaskRecord>, Vec<tender_engine::clock::Call>)> {
    let source: Arc<dyn OutcomeSource> = Arc::new(s.source().expect("pool"));
    let mut out = Vec::new();
    for e in 0..episodes {
        let (seed, tasks) = s.training.episode(&s.workload, s.seed, e, tender_engine::Draw::All);
        for m in s.resolve_mechanisms() {
            let (records, calls) =
                play_in_time(Arc::clone(&source), tasks.clone(), &*m.mechanism, &m.name, seed, &timing(s))
                    .expect("a timed run");
            out.push((m.name, records, calls));
        }
    }
    out
}

fn mean(xs: impl Iterator<Item = f64>) -> f64 {
    let v: Vec<f64> = xs.collect();
    v.iter().sum::<f64>() / v.len() as f64
}

#[test]
fn every_task_is_answered_in_order_of_its_clock_and_no_slot_is_over_subscribed() {
    let s = market("[Sale(w_c: 0.05, w_h: 1.0), EachAgent, Random, Oracle]", 4.0, 2);
    for (name, records, calls) in play(&s, 2) {
        assert_eq!(records.len(), 400, "{name}: every arrival ends recorded");
        for r in &records {
            let t = *r.timing.as_deref().expect("timed");
            assert!(
                t.arrival <= t.awarded && t.awarded <= t.execution_start && t.execution_start < t.done,
                "{name}: {t:?}"
            );
        }
        for agent in 0..2u16 {
            // Sweep the agent's calls: never more at once than its slots.
            let mut edges: Vec<(f64, i32)> =
                calls.iter().filter(|c| c.agent == agent).flat_map(|c| [(c.start, 1), (c.end, -1)]).collect();
            edges.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
            let mut busy = 0;
            for (_, d) in edges {
                busy += d;
                assert!(busy <= 2, "{name}: agent {agent} runs {busy} calls on 2 slots");
            }
        }
    }
}

#[test]
fn littles_law_holds_arrivals_see_on_average_rate_times_time_in_system() {
    let rate = 0.2;
    let s = market("[Sale(w_c: 0.05, w_h: 1.0), Single(agent: \"l\")]", rate, 2);
    for (name, records, _) in play(&s, 1) {
        // Poisson arrivals see time averages: the mean number they find is L.
        let found = mean(records.iter().map(|r| f64::from(r.timing.as_deref().expect("a timed run").found_in_system)));
        let w = mean(records.iter().map(|r| {
            r.timing.as_deref().expect("a timed run").done - r.timing.as_deref().expect("a timed run").arrival
        }));
        let little = rate * w;
        eprintln!("{name}: L {found} vs λW {little}");
        assert!((found - little).abs() <= 0.1 * little + 0.1, "{name}: L {found} vs λW {little}");
    }
}

#[test]
fn one_agent_with_one_slot_waits_as_pollaczek_khinchine_says() {
    // M/G/1: service = the execution call (the agent alone runs no auction); Wq = λE[S²]/2(1-ρ).
    let rate = 0.25;
    let s = market("[Single(agent: \"l\")]", rate, 1);
    let (mut waits, mut s1, mut s2, mut n) = (0.0, 0.0, 0.0, 0.0);
    let mut busy = Vec::new();
    for (_, records, calls) in play(&s, 6) {
        busy.push(tender_engine::clock::utilisation(&calls, &timing(&s).serving)[1]);
        for r in &records {
            let t = r.timing.as_deref().expect("a timed run");
            let service = t.done - t.execution_start;
            waits += t.execution_start - t.awarded;
            s1 += service;
            s2 += service * service;
            n += 1.0;
        }
    }
    let (es, es2) = (s1 / n, s2 / n);
    let rho = rate * es;
    assert!(rho > 0.3 && rho < 0.8, "load {rho}");
    let predicted = rate * es2 / (2.0 * (1.0 - rho));
    let measured = waits / n;
    assert!((measured - predicted).abs() < 0.15 * predicted, "Wq {measured} vs P-K {predicted} (ρ {rho})");
    // The one slot is busy a share ρ of the time.
    let utilisation = mean(busy.into_iter());
    assert!((utilisation - rho).abs() < 0.1 * rho, "utilisation {utilisation} vs ρ {rho}");
}

#[test]
fn timed_records_do_not_depend_on_threads() {
    let s = market("[Sale(w_c: 0.05, w_h: 1.0), EachAgent, Random]", 6.0, 2);
    let source: Arc<dyn OutcomeSource> = Arc::new(s.source().expect("a timed run"));
    let run = |jobs| {
        let options =
            RunOptions { seed: s.seed, episodes: 4, jobs: Some(jobs), timing: Some(timing(&s)), cancel: None };
        run_batch(Arc::clone(&source), &s.workload, s.training, &s.resolve_mechanisms(), &options, &|| {})
            .expect("a timed run")
            .runs
    };
    assert_eq!(run(1), run(2));
}

#[test]
fn sequential_arrivals_keep_every_record_untimed() {
    let mut s = market("[Sale(w_c: 0.05, w_h: 1.0)]", 1.0, 1);
    s.arrivals = Arrivals::Sequential;
    let source: Arc<dyn OutcomeSource> = Arc::new(s.source().expect("a timed run"));
    let options = RunOptions { seed: s.seed, episodes: 1, jobs: None, timing: None, cancel: None };
    let batch =
        run_batch(source, &s.workload, s.training, &s.resolve_mechanisms(), &options, &|| {}).expect("a timed run");
    assert!(batch.runs[0].records.iter().all(|r| r.timing.is_none()));
}

#[test]
fn under_overload_a_queue_limit_drops_tasks_and_records_every_one() {
    // The large agent serves one execution at a time, about 2 s each, at 2 arrivals a second.
    let s = market_with("[Single(agent: \"l\")]", 2.0, (1, 1), "queue_limit: 2, ", "");
    for (name, records, calls) in play(&s, 1) {
        assert_eq!(records.len(), 400, "{name}: every arrival recorded");
        let dropped: Vec<&TaskRecord> = records.iter().filter(|r| r.winner == u16::MAX).collect();
        assert!(dropped.len() > 100, "{name}: only {} dropped", dropped.len());
        assert!(dropped.iter().all(|r| !r.success && r.executions == 0 && r.execution_cost == 0.0));
        assert_eq!(calls.len(), records.len() - dropped.len(), "one execution per answered task");
        // Never more than two executions waiting behind the one running.
        for r in records.iter().filter(|r| r.winner != u16::MAX) {
            let t = r.timing.as_deref().expect("timed");
            let waiting_ahead = calls.iter().filter(|c| c.start > t.awarded && c.start < t.execution_start).count();
            assert!(waiting_ahead < 2, "{name}: {waiting_ahead} waited ahead");
        }
    }
}

#[test]
fn under_overload_a_timeout_cancels_late_executions_and_records_every_task() {
    // One slot, about 2 s per execution, 2 arrivals a second: the queue grows until tasks time
    // out after 10 s, some while waiting for their slot, some mid-execution.
    let s = market_with("[Single(agent: \"l\"), Sale(w_c: 0.05, w_h: 1.0)]", 2.0, (1, 1), "", "timeout: 10.0,");
    let (mut cancelled_anywhere, mut never_ran_anywhere) = (0, 0);
    for (name, records, calls) in play(&s, 1) {
        assert_eq!(records.len(), 400, "{name}: every arrival recorded");
        let timed_out: Vec<&TaskRecord> =
            records.iter().filter(|r| r.timing.as_deref().expect("timed").timed_out).collect();
        assert!(timed_out.len() > 100, "{name}: only {} timed out", timed_out.len());
        assert!(timed_out.iter().all(|r| !r.success && r.delivered.total() == 0), "{name}: a late answer counted");
        let cancelled = timed_out.iter().filter(|r| r.executions > 0).count();
        let never_ran = timed_out.iter().filter(|r| r.executions == 0).count();
        eprintln!("{name}: {} timed out ({cancelled} cancelled mid-execution, {never_ran} never ran)", timed_out.len());
        cancelled_anywhere += cancelled;
        never_ran_anywhere += never_ran;
        for r in &records {
            let t = r.timing.as_deref().expect("timed");
            if r.executions > 0 {
                // No call of the task outlives its timeout; an answer in time is one.
                assert!(t.done <= t.arrival + 10.0 + 1e-9, "{name}: {t:?}");
            }
            if r.executions == 0 {
                assert!(r.execution_cost == 0.0 && r.winner == u16::MAX, "{name}: unexecuted but {r:?}");
            }
            assert!(t.timed_out || r.winner != u16::MAX, "{name}: every task answered or timed out");
        }
        // Cancelled executions free their slot: the agent is never over-subscribed.
        let mut edges: Vec<(f64, i32)> =
            calls.iter().filter(|c| c.agent == 1).flat_map(|c| [(c.start, 1), (c.end, -1)]).collect();
        edges.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        let mut busy = 0;
        for (_, d) in edges {
            busy += d;
            assert!(busy <= 1, "{name}: {busy} calls on one slot");
        }
    }
    // The agent alone's executions are cut short; SALE's auctions queue on the same slots, so its
    // tasks time out before their execution.
    assert!(cancelled_anywhere > 0 && never_ran_anywhere > 0);
    // A cancelled execution is paid for the share that ran: less than the same task in full.
    let mut s_long = s.clone();
    s_long.timeout = None;
    let full = &play(&s_long, 1)[0].1;
    let cut = &play(&s, 1)[0].1;
    for (c, f) in cut.iter().zip(full) {
        if c.timing.as_deref().expect("timed").timed_out && c.executions > 0 {
            assert!(c.execution_cost < f.execution_cost, "{c:?} against {f:?}");
        }
    }
}

#[test]
fn load_aware_sale_moves_work_away_from_a_queue_and_waits_less() {
    // Without a price term SALE sends many tasks to the large agent, whose one slot queues them;
    // the small agent has slots to spare.
    let s = market_with("[Sale(w_c: 0.0, w_h: 1.0), Sale(w_c: 0.0, w_h: 1.0, w_wait: 1.0)]", 0.3, (16, 1), "", "");
    let runs = play(&s, 2);
    let (plain, aware): (Vec<_>, Vec<_>) = runs.iter().partition(|(name, _, _)| name == "SALE");
    assert_eq!(aware[0].0, "SALE (load-aware)");
    let share_large = |rs: &[&(String, Vec<TaskRecord>, Vec<tender_engine::clock::Call>)]| {
        mean(rs.iter().flat_map(|(_, records, _)| records.iter().map(|r| f64::from(u8::from(r.winner == 1)))))
    };
    let latency = |rs: &[&(String, Vec<TaskRecord>, Vec<tender_engine::clock::Call>)]| {
        mean(rs.iter().flat_map(|(_, records, _)| {
            records.iter().map(|r| r.timing.as_deref().map_or(0.0, |t| t.done - t.arrival))
        }))
    };
    eprintln!(
        "large share {} vs {}, latency {} vs {}",
        share_large(&plain),
        share_large(&aware),
        latency(&plain),
        latency(&aware)
    );
    assert!(share_large(&aware) < share_large(&plain));
    assert!(latency(&aware) < latency(&plain));
}

#[test]
fn mohaf_reads_the_real_load_and_spreads_work_when_load_is_weighed() {
    let mechanisms =
        r#"[Mohaf(name: "blind", w_load: 0.0, w_fairness: 0.0), Mohaf(name: "loaded", w_load: 5.0, w_fairness: 0.0)]"#;
    let s = market_with(mechanisms, 0.5, (1, 1), "", "training: Separate(1),");
    let runs = play(&s, 2);
    let latency = |name: &str| {
        mean(runs.iter().filter(|(n, _, _)| n == name).flat_map(|(_, records, _)| {
            records.iter().map(|r| r.timing.as_deref().map_or(0.0, |t| t.done - t.arrival))
        }))
    };
    eprintln!("latency blind {} loaded {}", latency("blind"), latency("loaded"));
    assert!(latency("loaded") < latency("blind"));
}

#[test]
fn online_matching_reads_the_real_load_and_never_exceeds_its_capacity_in_flight() {
    let s = market_with("[Matching(rule: Greedy, window: 10, capacity: 2)]", 2.0, (4, 4), "", "training: Separate(1),");
    for (name, records, calls) in play(&s, 1) {
        let answered: Vec<&TaskRecord> = records.iter().filter(|r| r.winner != u16::MAX).collect();
        assert!(answered.len() < records.len(), "{name}: overload drops some tasks");
        // Executions run or wait at most two at a time per agent: at each execution's start,
        // fewer than two others of its agent were unfinished.
        for c in &calls {
            let others = calls.iter().filter(|o| o.agent == c.agent && o.start < c.start && o.end > c.start).count();
            assert!(others < 2, "{name}: {others} in flight beside one starting");
        }
    }
}
