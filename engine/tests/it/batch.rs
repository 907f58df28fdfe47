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

/// A mechanism that reads the training tasks without declaring it.
#[derive(Debug)]
struct Undeclared;

impl tender_engine::Mechanism for Undeclared {
    fn install(&self, world: &mut tender_engine::prelude::World, _: &mut tender_engine::prelude::Schedule) {
        let _ = tender_engine::prelude::TrainingSet::of(world);
    }
}

#[test]
fn an_episode_draws_training_tasks_only_for_mechanisms_that_read_them() {
    use tender_engine::{Draw, Training, mechanisms::draw_for};
    let text = std::fs::read_to_string(fixture("small.ron"))
        .expect("fixture is readable")
        .replace("    mechanisms: [", "    training: Separate(1),\n    mechanisms: [")
        .replace("        RefinedOracle,\n", "        RefinedOracle,\n        Carrot(k: 5),\n");
    let s = tender_engine::Scenario::parse(&text, "small.ron with a router").expect("a valid scenario");
    assert_eq!(s.training, Training::Separate(1));
    let columns = s.resolve_mechanisms();
    let router = columns.len() - 1;
    assert_eq!(draw_for(&columns[..1]), Draw::Evaluated, "SALE reads no training tasks while it plays");
    assert_eq!(draw_for(&columns[router..]), Draw::All);
    assert_eq!(draw_for(&columns), Draw::All, "a sweep point draws them when any of its mechanisms reads them");

    let (seed, all) = s.training.episode(&s.workload, s.seed, 0, Draw::All);
    let (_, evaluated) = s.training.episode(&s.workload, s.seed, 0, Draw::Evaluated);
    assert_eq!(all.train.len(), s.workload.task_count());
    assert!(evaluated.train.is_empty());
    assert_eq!(all.eval, evaluated.eval);
    // Undrawn training tasks change nothing a mechanism that does not read them does.
    let source: std::sync::Arc<dyn tender_agents::OutcomeSource> = std::sync::Arc::new(s.source().expect("a pool"));
    for column in &columns[..router] {
        let play = |tasks| tender_engine::run_episode(source.clone(), tasks, &*column.mechanism, &column.name, seed);
        assert_eq!(play(all.clone()).expect("plays"), play(evaluated.clone()).expect("plays"), "{}", column.name);
    }
    // And a batch gives the router its training tasks: it routes as it did when every episode drew them.
    let batch = run(&s, 2, Some(1));
    for r in batch.runs.iter().filter(|r| usize::from(r.mechanism) == router) {
        let (seed, tasks) = s.training.episode(&s.workload, s.seed, u64::from(r.episode), Draw::All);
        let column = &columns[router];
        let records = tender_engine::run_episode(source.clone(), tasks, &*column.mechanism, &column.name, seed);
        assert_eq!(records.expect("plays"), r.records);
    }
}

#[test]
#[should_panic(expected = "without declaring `Mechanism::reads_training_set`")]
fn reading_training_tasks_undeclared_stops_the_episode() {
    let mut s = load(&fixture("small.ron"));
    s.training = tender_engine::Training::Separate(1);
    let source = std::sync::Arc::new(s.source().expect("a pool"));
    let tasks = s.training.split(&s.workload, 1);
    let _ = tender_engine::run_episode(source, tasks, &Undeclared, "undeclared", 1);
}
