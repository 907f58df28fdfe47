//! The paper-sized episode: 753 tasks, the 4-agent Qwen3 pool, SALE with memory.
//!
//! `cargo bench -p tender-engine --bench episode`; `tender bench scenarios/hst-bench.ron` times
//! whole batches on every core.

use std::hint::black_box;
use std::path::Path;
use std::sync::Arc;

use criterion::{Criterion, criterion_group, criterion_main};
use tender_agents::OutcomeSource;
use tender_agents::streams::episode_seed;
use tender_engine::memory::AuctionMemory;
use tender_engine::{Scenario, run_episode};

fn hst_bench() -> Scenario {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios/hst-bench.ron");
    let text = std::fs::read_to_string(&path).expect("scenarios/hst-bench.ron is readable");
    Scenario::parse(&text, "hst-bench.ron").expect("hst-bench.ron is valid")
}

fn episodes(c: &mut Criterion) {
    let scenario = hst_bench();
    let source: Arc<dyn OutcomeSource> = Arc::new(scenario.source().expect("valid pool"));
    let mechanisms = scenario.resolve_mechanisms();
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
    group.finish();
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

criterion_group!(benches, episodes, retrieval);
criterion_main!(benches);
