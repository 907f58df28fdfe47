//! Parameter sweeps: which scenario variants to run, and with which seeds.
//!
//! A sweep names scenario parameters by path (`mechanisms.sale.w_c`, `agents.qwen3-4b.memory_gain`,
//! `standins.shared_difficulty`, `workload.complexity_signal`, `mechanisms[1].k`) and the values
//! each takes. A path is followed through the scenario as JSON: object keys by name, list entries
//! by `[index]`, by the value of their `name` field, or — in `mechanisms` — by their kind or table
//! name (`sale`, `carrot`, `sale (no memory)`); a mechanism's parameters are then reached directly.
//! Designs: the full factorial grid, zipped (matched) lists, uniform random and Latin-hypercube
//! samples of intervals. By default every point runs on the same episode seeds (common random
//! numbers: replication `r` of every point runs on `episode_seed(base, r)`, as `tender run`'s
//! episode `r` does), so differences between points are paired and a mechanism a parameter
//! cannot affect gives the same numbers at every point. With independent draws, each point gets
//! its own seed stream: replication `r` of point `p` runs on `episode_seed(point_seed(base, p), r)`.

use crate::scenario::Scenario;
pub use crate::sweep_spec::{Design, Draws, ParamSpec, Point, SweepError, SweepSpec, Values, parse_set, point_seed};

/// A sweep point ready to run.
pub struct PreparedPoint {
    pub point: Point,
    pub prepared: crate::Prepared,
    pub seed: u64,
}

/// Prepare every point: apply it to the scenario and build its pool.
pub fn prepare(base: &Scenario, points: &[Point], seed: u64, draws: Draws) -> Result<Vec<PreparedPoint>, SweepError> {
    points
        .iter()
        .map(|p| {
            let prepared = crate::Prepared::synthetic(base.at(p)?).map_err(|e| SweepError::Invalid {
                point: p.index,
                assignments: p.label(),
                message: e.to_string(),
            })?;
            Ok(PreparedPoint { point: p.clone(), prepared, seed: draws.point_seed(seed, p.index) })
        })
        .collect()
}

/// Everything one replication of one point produced: each mechanism's records.
pub struct UnitResult {
    pub point: usize,
    pub replication: u32,
    pub episode_seed: u64,
    pub runs: Vec<Vec<crate::TaskRecord>>,
}

/// Run `units` — (point, replication) pairs — in parallel, handing each finished unit to `done`
/// (from worker threads, in no particular order). Stops at the first error `done` returns.
pub fn run_units<E: Send>(
    points: &[PreparedPoint],
    units: &[(usize, u32)],
    jobs: Option<usize>,
    done: &(dyn Fn(UnitResult) -> Result<(), E> + Sync),
) -> Result<Result<(), E>, crate::EngineError> {
    use rayon::prelude::*;
    let work = || {
        units.par_iter().try_for_each(|&(p, r)| {
            let (point, seed) = (&points[p].prepared, points[p].seed);
            let mut runs = Vec::with_capacity(point.mechanisms.len());
            let draw = crate::mechanisms::draw_for(&point.mechanisms);
            let (seed, tasks) = point.scenario.training.episode(&point.scenario.workload, seed, u64::from(r), draw);
            let timing = point.options(None).timing;
            for m in &point.mechanisms {
                let source = std::sync::Arc::clone(&point.source);
                let run =
                    crate::episode::play_episode(source, tasks.clone(), &*m.mechanism, &m.name, seed, timing.as_ref());
                match run {
                    Ok((records, _)) => runs.push(records),
                    Err(e) => return Err(Err(e)),
                }
            }
            done(UnitResult { point: p, replication: r, episode_seed: seed, runs }).map_err(Ok)
        })
    };
    let outcome = crate::batch::on_threads(jobs, work)?;
    match outcome {
        Ok(()) => Ok(Ok(())),
        Err(Ok(e)) => Ok(Err(e)),
        Err(Err(e)) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: &str = r#"Scenario(
    name: "s",
    seed: 1,
    episodes: 2,
    agents: [(name: "a", price: 0.1, skill: {"qa": [0.5]}), (name: "b", price: 0.3, skill: {"qa": [0.7]})],
    workload: (domains: [(name: "qa", bins: [(tau_max: 1.0, tasks: 4)])]),
    mechanisms: [Sale(w_c: 0.01, w_h: 1.0), Sale(w_c: 0.01, w_h: 1.0, memory: false), EachAgent],
)"#;

    fn scenario() -> Scenario {
        Scenario::parse(BASE, "s").unwrap()
    }

    #[test]
    fn set_arguments_parse_into_ranges_intervals_and_lists() {
        assert_eq!(
            parse_set("mechanisms.sale.w_c=0..2:0.5").unwrap().values,
            Values::Range { start: 0.0, end: 2.0, step: 0.5 }
        );
        assert_eq!(parse_set("x=0.1..0.9").unwrap().values, Values::Interval { low: 0.1, high: 0.9 });
        assert_eq!(
            parse_set("k=4,8,true,abc").unwrap().values,
            Values::List(vec![4.into(), 8.into(), true.into(), "abc".into()])
        );
        assert!(matches!(parse_set("nothing"), Err(SweepError::Syntax(_))));
    }

    #[test]
    fn grids_are_factorial_and_zips_are_matched() {
        let spec = SweepSpec {
            params: vec![parse_set("a=1,2").unwrap(), parse_set("b=0..1:0.5").unwrap()],
            design: Design::Grid,
            replications: None,
            draws: Draws::Common,
        };
        let points = spec.points(0).unwrap();
        assert_eq!(points.len(), 6);
        assert_eq!(points[1].assignments, [("a".to_string(), 1.into()), ("b".to_string(), 0.5.into())]);
        let zip = SweepSpec {
            params: vec![parse_set("a=1,2,3").unwrap(), parse_set("b=4,5,6").unwrap()],
            design: Design::Zip,
            replications: None,
            draws: Draws::Common,
        };
        assert_eq!(zip.points(0).unwrap()[2].label(), "a=3, b=6");
        let bad = SweepSpec {
            params: vec![parse_set("a=1,2").unwrap(), parse_set("b=4").unwrap()],
            design: Design::Zip,
            replications: None,
            draws: Draws::Common,
        };
        assert!(bad.points(0).is_err());
    }

    #[test]
    fn latin_hypercubes_fill_every_stratum_once() {
        let spec = SweepSpec {
            params: vec![parse_set("a=0..1").unwrap(), parse_set("b=10..20").unwrap()],
            design: Design::LatinHypercube(10),
            replications: None,
            draws: Draws::Common,
        };
        let points = spec.points(7).unwrap();
        for (d, (lo, hi)) in [(0, (0.0, 1.0)), (1, (10.0, 20.0))] {
            let mut strata: Vec<usize> = points
                .iter()
                .map(|p| (((p.assignments[d].1.as_f64().unwrap() - lo) / (hi - lo)) * 10.0) as usize)
                .collect();
            strata.sort_unstable();
            assert_eq!(strata, (0..10).collect::<Vec<_>>());
        }
        assert_eq!(points, spec.points(7).unwrap());
        assert_ne!(points, spec.points(8).unwrap());
    }

    #[test]
    fn paths_reach_mechanisms_by_kind_and_name_and_agents_by_name() {
        let s = scenario();
        let point = Point {
            index: 0,
            assignments: vec![
                ("mechanisms.sale.w_c".into(), 0.5.into()),
                ("mechanisms.sale (no memory).w_h".into(), 3.into()),
                ("mechanisms[0].k".into(), 4.0.into()),
                ("agents.b.memory_gain".into(), 0.7.into()),
                ("standins.shared_difficulty".into(), 0.3.into()),
            ],
        };
        let out = s.at(&point).unwrap();
        let first = out.mechanisms[0].get::<crate::SaleParams>().unwrap();
        let second = out.mechanisms[1].get::<crate::SaleParams>().unwrap();
        assert_eq!((first.w_c, first.k, second.w_h), (Some(0.5), 4, Some(3.0)));
        assert_eq!(out.agents[1].memory_gain, 0.7);
        assert_eq!(out.standins.shared_difficulty, 0.3);
    }

    #[test]
    fn bad_paths_and_values_are_named() {
        let s = scenario();
        let spec = SweepSpec {
            params: vec![parse_set("mechanisms.sale.w_x=1,2").unwrap()],
            design: Design::Grid,
            replications: None,
            draws: Draws::Common,
        };
        let err = s.check_paths(&spec.params).unwrap_err().to_string();
        assert!(err.contains("mechanisms.sale.w_x") && err.contains("no field `w_x`"), "{err}");
        let point = Point { index: 3, assignments: vec![("agents.a.juror.accuracy".into(), 1.5.into())] };
        let err = s.at(&point).unwrap_err().to_string();
        assert!(err.contains("point 3") && err.contains("must lie in [0, 1]"), "{err}");
    }
}
