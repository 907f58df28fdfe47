//! The criterion bench's bare loop (engine/benches/bare_loop/mod.rs) is the engine's SALE without the
//! engine: on the paper-sized scenario it picks the same winner with the same outcome on every
//! task, so timing the two compares like with like.

use std::path::Path;
use std::sync::Arc;

use tender_engine::mechanisms::sale::SaleParams;
use tender_engine::{Prepared, run_episode};

#[path = "../../benches/bare_loop/mod.rs"]
mod model_loop;

#[test]
fn the_bare_loop_picks_the_engines_winners_with_the_engines_outcomes() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios/hst-bench.ron");
    let prepared = Prepared::synthetic(super::util::load(&path)).expect("valid pool");
    let (scenario, source) = (&prepared.scenario, Arc::clone(&prepared.source));
    let names: Vec<&str> = scenario.agents.iter().map(|a| a.name.as_str()).collect();
    for (spec, column) in scenario.mechanisms.iter().zip(&prepared.mechanisms).take(2) {
        let config = spec.get::<SaleParams>().expect("hst-bench's first mechanisms are SALE").config(&names);
        assert!(model_loop::supports(&config), "{}", column.name);
        for e in 0..2 {
            let (seed, tasks) =
                scenario.training.episode(&scenario.workload, scenario.seed, e, tender_engine::Draw::All);
            let engine = run_episode(Arc::clone(&source), tasks.clone(), &*column.mechanism, &column.name, seed)
                .expect("episode runs");
            let bare = model_loop::run(&*source, &config, &tasks.eval, seed);
            let engine: Vec<(usize, bool)> = engine.iter().map(|r| (usize::from(r.winner), r.success)).collect();
            assert_eq!(engine.len(), 753);
            assert_eq!(bare, engine, "{} episode {e}", column.name);
        }
    }
}
