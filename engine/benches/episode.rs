//! The paper-sized episode: 753 tasks, the 4-agent Qwen3 pool, SALE with memory; and the same
//! stream in time with 8 agents under Poisson arrivals (the busiest server about 80% busy).
//!
//! The same SALE episodes as a bare loop over the model (`bare_loop/mod.rs`: no ECS, no records),
//! which picks the engine's winners (engine/tests/it/bare_loop.rs).
//!
//! Retrieval from a 100,000-task memory with each index (`scenarios/scale.ron`'s workload).
//!
//! `cargo bench -p tender-engine --bench episode`; `tender bench scenarios/hst-bench.ron` and
//! `tender bench scenarios/hst-bench-timed.ron` time whole batches on every core.

use std::hint::black_box;
use std::path::Path;
use std::sync::Arc;

use criterion::{Criterion, criterion_group, criterion_main};
use tender_agents::MemoryView;
use tender_agents::streams::episode_seed;
use tender_engine::episode::play_episode;
use tender_engine::mechanisms::sale::SaleParams;
use tender_engine::memory::{AuctionMemory, MemoryIndex};
use tender_engine::{Prepared, Scenario, run_episode};

mod bare_loop;

fn scenario(file: &str) -> Scenario {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios").join(file);
    let text = std::fs::read_to_string(&path).expect("the scenario is readable");
    Scenario::parse(&text, file).expect("the scenario is valid")
}

fn hst_bench() -> Scenario {
    scenario("hst-bench.ron")
}

fn episodes(c: &mut Criterion) {
    // Prepared, so that SALE's weights are fitted on the training split as in a run.
    let prepared = Prepared::synthetic(hst_bench()).expect("valid pool");
    let (scenario, source, mechanisms) = (&prepared.scenario, Arc::clone(&prepared.source), &prepared.mechanisms);
    let mut group = c.benchmark_group("episode_753_tasks");
    for name in ["SALE", "SALE (no memory)", "qwen3-32b alone", "oracle"] {
        let Some(column) = mechanisms.iter().find(|m| m.name == name) else { continue };
        let mechanism = &*column.mechanism;
        let mut e = 0u64;
        group.bench_function(name, |b| {
            b.iter(|| {
                e += 1;
                let seed = episode_seed(scenario.seed, e);
                let tasks = scenario.training.split(&scenario.workload, seed);
                black_box(run_episode(Arc::clone(&source), tasks, mechanism, name, seed).expect("episode runs"))
            });
        });
    }
    // The same SALE episode as a bare loop over the model (no ECS, no ledger, no records): the
    // engine's overhead is the difference.
    let names: Vec<&str> = scenario.agents.iter().map(|a| a.name.as_str()).collect();
    for (spec, column) in scenario.mechanisms.iter().zip(mechanisms).take(2) {
        let Some(params) = spec.get::<SaleParams>() else { continue };
        let config = params.config(&names);
        assert!(bare_loop::supports(&config), "the bare loop models {}", column.name);
        let mut e = 0u64;
        group.bench_function(format!("{}, bare loop", column.name), |b| {
            b.iter(|| {
                e += 1;
                let seed = episode_seed(scenario.seed, e);
                let tasks = scenario.training.split(&scenario.workload, seed);
                black_box(bare_loop::run(&*source, &config, &tasks.eval, seed))
            });
        });
    }
    group.finish();
}

fn timed(c: &mut Criterion) {
    let prepared = Prepared::synthetic(scenario("hst-bench-timed.ron")).expect("valid pool");
    let timing = prepared.options(Some(1)).timing.expect("a timed scenario");
    let s = &prepared.scenario;
    let column = &prepared.mechanisms[0];
    let mut e = 0u64;
    c.bench_function("episode_753_tasks_in_time/SALE, 8 agents", |b| {
        b.iter(|| {
            e += 1;
            let seed = episode_seed(s.seed, e);
            let tasks = s.training.split(&s.workload, seed);
            let source = Arc::clone(&prepared.source);
            black_box(
                play_episode(source, tasks, &*column.mechanism, &column.name, seed, Some(&timing))
                    .expect("episode runs"),
            )
        });
    });
}

fn retrieval(c: &mut Criterion) {
    let scenario = hst_bench();
    let tasks = scenario.workload.generate(1);
    let mut memory = AuctionMemory::new(tasks[0].embedding.len(), 4);
    for (i, t) in tasks.iter().take(752).enumerate() {
        memory.store(&t.embedding, &[200, 210, 220, 230], &[0; 4], i % 4, Some((i + 1) % 4), i % 3 == 0);
    }
    let query = &tasks[752].embedding;
    let mut out = tender_engine::memory::Neighbours::default();
    c.bench_function("memory_nearest_k8_of_752", |b| {
        b.iter(|| {
            memory.nearest_into(black_box(query), 8, &mut out);
            black_box(&out);
        });
    });
}

/// A long stream's memory: the nearest 8 of 100,000 past tasks with each index, and the lesson
/// sample's similarities (what a refinement reads beside its neighbours).
fn long_memory(c: &mut Criterion) {
    let workload = scale().workload.scaled_to(100_001).expect("synthetic");
    let tasks = workload.generate(1);
    let (query, past) = tasks.split_last().expect("tasks");
    let indexes = [
        ("scan", MemoryIndex::Scan),
        ("cells", MemoryIndex::Cells { lesson_sample: 4096 }),
        ("ivf probe=8", MemoryIndex::Ivf { probe: 8, lesson_sample: 4096 }),
    ];
    let mut group = c.benchmark_group("memory_nearest_k8_of_100000");
    for (name, index) in indexes {
        let mut memory = AuctionMemory::with_index(query.embedding.len(), 4, index);
        for (i, t) in past.iter().enumerate() {
            memory.store(&t.embedding, &[200, 210, 220, 230], &[0; 4], i % 4, Some((i + 1) % 4), i % 3 == 0);
        }
        let mut out = tender_engine::memory::Neighbours::default();
        group.bench_function(name, |b| {
            b.iter(|| {
                memory.nearest_into(black_box(&query.embedding), 8, &mut out);
                black_box(memory.view(&out, &query.embedding).lessons(0.5).similarities.len())
            });
        });
    }
    group.finish();
}

/// The similarity kernel alone (`Blocks::similarities_into`) over memories of growing size: a
/// similarity reads a task's 64 bytes, so past the caches the scan is bound by memory bandwidth.
fn kernel(c: &mut Criterion) {
    let mut group = c.benchmark_group("similarities_of");
    for n in [752usize, 5_000, 100_000, 1_000_000] {
        let tasks = scale().workload.scaled_to(n + 1).expect("synthetic").generate(1);
        let (query, past) = tasks.split_last().expect("tasks");
        let mut blocks = tender_engine::memory::blocks::Blocks::new(query.embedding.len());
        for t in past {
            blocks.push(&t.embedding);
        }
        let (mut sims, mut maxima) = (Vec::new(), Vec::new());
        group.throughput(criterion::Throughput::Elements(n as u64));
        group.bench_function(n.to_string(), |b| {
            b.iter(|| {
                blocks.similarities_into(black_box(&query.embedding), &mut sims, &mut maxima);
                black_box(&sims);
            });
        });
    }
    group.finish();
}

fn scale() -> Scenario {
    scenario("scale.ron")
}

criterion_group!(benches, episodes, timed, retrieval, long_memory, kernel);
criterion_main!(benches);
