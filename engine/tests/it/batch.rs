//! Whole batches: determinism, the oracle's bound, calibration of single agents.

use crate::util::{fixture, load, run};
use tender_engine::Role;

#[test]
fn same_seed_gives_identical_records_whatever_the_thread_count() {
    let s = load(&fixture("small.ron"));
    let a = run(&s, 6, Some(1));
    let b = run(&s, 6, Some(1));
    let c = run(&s, 6, Some(2));
    assert_eq!(a.runs, b.runs);
    assert_eq!(a.runs, c.runs);
    assert_eq!(a.runs.len(), 6 * a.mechanisms.len());
    // A different seed changes the records.
    let mut other = s.clone();
    other.seed += 1;
    assert_ne!(run(&other, 6, Some(2)).runs, a.runs);
}

#[test]
fn mechanisms_in_an_episode_share_the_same_tasks() {
    let s = load(&fixture("small.ron"));
    let batch = run(&s, 2, None);
    for episode in 0..2 {
        let orders: Vec<Vec<u32>> = batch
            .runs
            .iter()
            .filter(|r| r.episode == episode)
            .map(|r| r.records.iter().map(|t| t.task).collect())
            .collect();
        assert!(orders.windows(2).all(|w| w[0] == w[1]));
    }
}

#[test]
fn the_oracle_solves_every_task_any_mechanism_solves() {
    let s = load(&fixture("small.ron"));
    let oracle = s.resolve_mechanisms().iter().position(|m| m.role() == Role::RefinedOracle).unwrap();
    let batch = run(&s, 20, None);
    for episode in 0..20 {
        let runs: Vec<_> = batch.runs.iter().filter(|r| r.episode == episode).collect();
        let best = &runs[oracle].records;
        for r in &runs {
            for (o, t) in best.iter().zip(&r.records) {
                assert_eq!(o.task, t.task);
                assert!(o.success || !t.success, "episode {episode}: oracle fails task {} that another solves", t.task);
            }
            let solved = |rs: &[tender_engine::TaskRecord]| rs.iter().filter(|t| t.success).count();
            assert!(solved(best) >= solved(&r.records));
        }
    }
}

#[test]
fn single_agents_converge_to_their_calibrated_skill() {
    let mut s = load(&fixture("small.ron"));
    s.mechanisms = vec![tender_engine::MechanismSpec::new(tender_engine::mechanisms::baselines::EachAgent)];
    let episodes = 300;
    let batch = run(&s, episodes, None);
    for (agent, profile) in s.agents.iter().enumerate() {
        for (d, domain) in s.workload.domains.iter().enumerate() {
            for (b, bin) in domain.bins.iter().enumerate() {
                let outcomes: Vec<bool> = batch
                    .runs
                    .iter()
                    .filter(|r| usize::from(r.mechanism) == agent)
                    .flat_map(|r| &r.records)
                    .filter(|t| usize::from(t.domain) == d && usize::from(t.bin) == b)
                    .map(|t| t.success)
                    .collect();
                assert_eq!(outcomes.len(), episodes as usize * bin.tasks as usize);
                let rate = outcomes.iter().filter(|&&x| x).count() as f64 / outcomes.len() as f64;
                let p = profile.skill[&domain.name][b];
                // Tasks within an episode share a topic affinity, so allow a generous 5 standard errors.
                let se = (p * (1.0 - p) / outcomes.len() as f64).sqrt();
                assert!(
                    (rate - p).abs() < 5.0 * se + 0.005,
                    "{} on {}/{b}: {rate:.4} vs {p}",
                    profile.name,
                    domain.name
                );
            }
        }
    }
}

/// A cancelled batch stops with `Cancelled`, runs no episode it had not started, and a batch
/// that is never cancelled is unaffected by the flag's presence.
#[test]
fn a_cancelled_batch_stops_and_says_so() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    use tender_engine::{EngineError, RunOptions, run_batch};

    let s = load(&fixture("small.ron"));
    let source = Arc::new(s.source().unwrap());
    let cancel = Arc::new(AtomicBool::new(false));
    let options =
        RunOptions { seed: s.seed, episodes: 6, jobs: Some(1), timing: None, cancel: Some(Arc::clone(&cancel)) };
    let whole = run_batch(source.clone(), &s.workload, s.training, &s.resolve_mechanisms(), &options, &|| {}).unwrap();
    assert_eq!(whole.runs, run(&s, 6, Some(1)).runs);
    let done = AtomicUsize::new(0);
    let stop_after_two = || {
        if done.fetch_add(1, Ordering::SeqCst) + 1 == 2 {
            cancel.store(true, Ordering::SeqCst);
        }
    };
    let e = run_batch(source, &s.workload, s.training, &s.resolve_mechanisms(), &options, &stop_after_two).unwrap_err();
    assert!(matches!(e, EngineError::Cancelled), "{e}");
    assert_eq!(done.load(Ordering::SeqCst), 2, "no run starts after the flag is set (one thread)");
}
