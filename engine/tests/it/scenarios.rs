//! Scenario files: every shipped one is valid; bad ones give the documented errors.

use crate::util::fixture;
use tender_engine::fit::FittedWeights;
use tender_engine::scenario::ron_options;
use tender_engine::{Scenario, ScenarioError};

#[test]
fn every_shipped_scenario_loads_and_validates() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios");
    let mut seen = 0;
    let mut stack = vec![dir];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "ron") {
                let text = std::fs::read_to_string(&path).unwrap();
                if path.parent().is_some_and(|p| p.ends_with("weights")) {
                    // Fitted weights, named by scenarios.
                    let _: FittedWeights = ron_options().from_str(&text).unwrap();
                    continue;
                }
                let shown = path.display().to_string();
                let mut s = Scenario::parse(&text, &shown)
                    .unwrap_or_else(|e| panic!("{} does not validate: {e}", path.display()));
                s.attach_files(path.parent().unwrap(), &shown, &|p| std::fs::read_to_string(p)).unwrap();
                s.validate().unwrap();
                assert!(!s.resolve_mechanisms().is_empty());
                seen += 1;
            }
        }
    }
    assert!(seen >= 3, "expected the shipped scenarios, found {seen}");
}

/// A mechanism's parameters are fitted by its own procedure, never calibrated to its published
/// outcome: no shipped `calibrate:` block names a SALE parameter, and every shipped SALE on
/// stand-ins fits its weights on the training split.
#[test]
fn no_calibration_moves_a_sale_weight() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut files = Vec::new();
    let mut stack = vec![root.join("scenarios")];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "ron")
                && !path.parent().is_some_and(|p| p.ends_with("weights"))
            {
                files.push(path);
            }
        }
    }
    let mut fitted = 0;
    for path in &files {
        let text = std::fs::read_to_string(path).unwrap();
        let s = Scenario::parse(&text, &path.display().to_string()).unwrap();
        let names = s.table_names();
        let tree = serde_json::to_value(&s).unwrap();
        let sale_entries: Vec<usize> =
            (0..s.mechanisms.len()).filter(|&i| s.mechanisms[i].get::<tender_engine::SaleParams>().is_some()).collect();
        for p in s.calibrate.iter().flat_map(|c| &c.params) {
            for path_text in std::iter::once(&p.path).chain(&p.also) {
                let place =
                    tender_engine::paths::canonical(&tree, path_text, &names).unwrap_or_else(|_| path_text.clone());
                assert!(
                    !sale_entries.iter().any(|i| place.starts_with(&format!("mechanisms[{i}]"))),
                    "{}: the calibration moves SALE's {path_text}",
                    path.display()
                );
            }
        }
        let synthetic = s.agents.iter().all(|a| a.backend.is_synthetic());
        for i in &sale_entries {
            let sale = s.mechanisms[*i].get::<tender_engine::SaleParams>().unwrap();
            if synthetic {
                assert!(sale.fit.is_some(), "{}: a SALE with weights set by hand", path.display());
                fitted += 1;
            }
        }
    }
    assert!(fitted >= 10, "every shipped SALE fits itself: {fitted}");
}

#[test]
fn the_test_fixture_validates() {
    crate::util::load(&fixture("small.ron"));
}

#[test]
fn a_malformed_file_names_file_line_and_column() {
    let path = fixture("malformed.ron");
    let text = std::fs::read_to_string(&path).unwrap();
    let err = Scenario::parse(&text, "malformed.ron").unwrap_err();
    match &err {
        ScenarioError::Syntax { file, line, column, message } => {
            assert_eq!(file, "malformed.ron");
            // The missing comma after `episodes: 3` is noticed where `agents` starts.
            assert_eq!((*line, *column), (5, 5), "{message}");
        }
        other => panic!("expected a syntax error, got {other}"),
    }
    assert!(err.to_string().starts_with("malformed.ron:5:5: "), "{err}");
}

#[test]
fn out_of_range_values_name_the_field_and_the_allowed_range() {
    let path = fixture("out-of-range.ron");
    let text = std::fs::read_to_string(&path).unwrap();
    let err = Scenario::parse(&text, "out-of-range.ron").unwrap_err();
    let ScenarioError::Invalid { file, errors } = &err else { panic!("expected invalid values, got {err}") };
    assert_eq!(file, "out-of-range.ron");
    let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
    assert_eq!(fields, ["agents[0].juror.accuracy", "mechanisms[0].k"]);
    assert_eq!(errors[0].allowed, "must lie in [0, 1]");
    assert_eq!(errors[1].allowed, "must lie in [1, 1024]");
    let shown = err.to_string();
    assert!(shown.contains("`agents[0].juror.accuracy` = 1.7 is invalid: must lie in [0, 1]"), "{shown}");
}

#[test]
fn fitted_weights_replace_the_reference_and_missing_files_are_named() {
    let text = r#"Scenario(
    name: "w",
    seed: 1,
    episodes: 1,
    agents: [(name: "a", price: 0.1, skill: {"qa": [0.5]}), (name: "b", price: 0.2, skill: {"qa": [0.6]})],
    workload: (domains: [(name: "qa", bins: [(tau_max: 1.0, tasks: 4)])]),
    mechanisms: [Sale(weights: "w.ron")],
)"#;
    let mut s = Scenario::parse(text, "s.ron").unwrap();
    let fitted = r#"(w_c: 0.5, w_h: 0.25, juror_weights: {"a": 0.1, "b": 0.2}, objective: MinMax, loss: -0.1,
        targets_winning: 1.0, training_tasks: 4, training_cost_usd: 0.0)"#;
    s.attach_files(std::path::Path::new("dir"), "s.ron", &|p| {
        assert_eq!(p, std::path::Path::new("dir/w.ron"));
        Ok(fitted.to_string())
    })
    .unwrap();
    s.validate().unwrap();
    let config = s.mechanisms[0].get::<tender_engine::SaleParams>().unwrap().config(&["a", "b"]);
    assert_eq!((config.w_c, config.w_h, config.w_jury.clone()), (0.5, 0.25, vec![0.1, 0.2]));

    let mut s = Scenario::parse(text, "s.ron").unwrap();
    let err =
        s.attach_files(std::path::Path::new("dir"), "s.ron", &|_| Err(std::io::Error::other("gone"))).unwrap_err();
    let mut chain = vec![err.to_string()];
    let mut cause = std::error::Error::source(&err);
    while let Some(c) = cause {
        chain.push(c.to_string());
        cause = c.source();
    }
    assert_eq!(chain.join(": "), "s.ron: cannot use a file a mechanism names: cannot read dir/w.ron: gone");

    let both = text.replace(r#"Sale(weights: "w.ron")"#, r#"Sale(weights: "w.ron", w_c: 1.0, w_h: 1.0)"#);
    let err = Scenario::parse(&both, "s.ron").unwrap_err().to_string();
    assert!(err.contains("give one of: `w_c` and `w_h`, a `weights` file"), "{err}");
}

#[test]
fn validate_checks_a_sweep_block_as_tender_sweep_would() {
    let base = r#"Scenario(
    name: "s", seed: 1, episodes: 2,
    agents: [(name: "a", price: 0.1, skill: {"qa": [0.5]})],
    workload: (domains: [(name: "qa", bins: [(tau_max: 1.0, tasks: 5)])]),
    mechanisms: [Sale(w_c: 0.01, w_h: 1.0), EachAgent],
    sweep: SWEEP,
)"#;
    let errors = |sweep: &str| match Scenario::parse(&base.replace("SWEEP", sweep), "s.ron") {
        Err(ScenarioError::Invalid { errors, .. }) => {
            errors.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n")
        }
        other => panic!("{sweep}: expected an invalid scenario, got {other:?}"),
    };
    let e = errors(r#"(params: [(path: "mechanisms.sale.w_c", values: List([0.1]))], replications: 0)"#);
    assert!(e.contains("sweep.replications") && e.contains("[1, 10000000]"), "{e}");
    let e = errors(r#"(params: [(path: "mechanisms.sale.nope", values: List([0.1]))])"#);
    assert!(e.contains("mechanisms.sale.nope") && e.contains("no field `nope`"), "{e}");
    let e = errors(r#"(params: [(path: "mechanisms.sale.w_c", values: List(["high"]))])"#);
    assert!(e.contains("invalid type: string \"high\""), "{e}");
    let e = errors(
        r#"(params: [(path: "mechanisms.sale.w_c", values: List([0.1])), (path: "mechanisms.sale.w_c", values: List([0.2]))])"#,
    );
    assert!(e.contains("swept twice"), "{e}");
    let ok = base
        .replace("SWEEP", r#"(params: [(path: "mechanisms.sale.w_c", values: List([0.1, 0.2]))], replications: 2)"#);
    assert!(Scenario::parse(&ok, "s.ron").is_ok());
}

#[test]
fn the_embedding_syntax_shown_in_live_ron_parses() {
    let live = std::fs::read_to_string(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios/live.ron"))
        .expect("live.ron");
    let shown = live.split('`').find(|s| s.starts_with("embedding: Server(")).expect("the comment shows the syntax");
    let text = format!(
        r#"Scenario(
    name: "e", seed: 1, episodes: 1,
    agents: [(name: "a", price: 0.1)],
    workload: (domains: [], tasks: (path: "tasks.jsonl", {shown})),
    mechanisms: [EachAgent],
)"#
    );
    let parsed: Result<Scenario, _> = ron_options().from_str(&text);
    assert!(parsed.is_ok(), "{shown}: {parsed:?}");
}

#[test]
fn validate_reports_every_error_class_at_once() {
    let text = r#"Scenario(
    name: "m", seed: 1, episodes: 0,
    agents: [(name: "a", price: -1.0, skill: {"qa": [1.5]})],
    workload: (domains: [(name: "qa", bins: [(tau_max: 1.0, tasks: 5)])]),
    mechanisms: [Single(agent: "nobody")],
)"#;
    let Err(ScenarioError::Invalid { errors, .. }) = Scenario::parse(text, "m.ron") else { panic!("accepted") };
    let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
    for f in ["episodes", "agents[0].price", "agents[0].skill[\"qa\"][0]", "mechanisms[0].agent"] {
        assert!(fields.contains(&f), "{f} missing from {fields:?}");
    }
}

#[test]
fn bad_input_is_named_with_a_position_or_a_field() {
    let base = r#"Scenario(
    name: "x", seed: 1, episodes: 1,
    agents: [(name: "b", price: 1.0, skill: {"qa": [0.5]})],
    workload: (domains: [(name: "qa", bins: [(tau_max: 1.0, tasks: 5)])]),
    mechanisms: [EachAgent],
)"#;
    // A byte-order mark is accepted.
    assert!(Scenario::parse(&format!("\u{feff}{base}"), "bom.ron").is_ok());
    // A key written twice is refused, with its position, as a field written twice is.
    let dup = base.replace(r#"{"qa": [0.5]}"#, r#"{"qa": [0.5], "qa": [0.6]}"#);
    match Scenario::parse(&dup, "dup.ron") {
        Err(ScenarioError::Syntax { line, message, .. }) => {
            assert_eq!(line, 3);
            assert!(message.contains("duplicate key \"qa\""), "{message}");
        }
        other => panic!("{other:?}"),
    }
    // Invalid UTF-8 has a position.
    let mut bytes = base.as_bytes().to_vec();
    bytes.splice(20..20, [0xff]);
    match tender_engine::scenario::text_of(bytes, "bad.ron") {
        Err(ScenarioError::Syntax { line: 2, message, .. }) => assert!(message.contains("UTF-8")),
        other => panic!("{other:?}"),
    }
    // Long values are cut in errors, and names are bounded.
    let long = base.replace(r#"name: "b""#, &format!("name: {:?}", "b".repeat(100_000)));
    let Err(e) = Scenario::parse(&long, "long.ron") else { panic!("a 100 kB name passed") };
    let shown = e.to_string();
    assert!(shown.len() < 1_000 && shown.contains("at most 64 characters"), "{}", &shown[..shown.len().min(300)]);
}

#[test]
fn juror_names_in_a_weights_file_are_checked_when_it_is_attached() {
    let text = r#"Scenario(
    name: "w", seed: 1, episodes: 1,
    agents: [(name: "b", price: 1.0, skill: {"qa": [0.5]})],
    workload: (domains: [(name: "qa", bins: [(tau_max: 1.0, tasks: 5)])]),
    mechanisms: [Sale(weights: "w.ron")],
)"#;
    let weights = r#"(w_c: 0.01, w_h: 1.0, juror_weights: {"ghost": 1.0}, objective: MinMax, loss: 0.1,
        targets_winning: 0.5, training_tasks: 4, training_cost_usd: 0.1)"#;
    let mut s = Scenario::parse(text, "s.ron").unwrap();
    let Err(ScenarioError::Invalid { errors, .. }) =
        s.attach_files(std::path::Path::new("."), "s.ron", &|_| Ok(weights.into()))
    else {
        panic!("a juror outside the pool was accepted")
    };
    assert!(errors.iter().any(|e| e.field.contains("juror_weights") && e.value.contains("ghost")), "{errors:?}");
}

mod fuzz {
    //! The scenario parser under mutation: shipped files with bytes deleted, inserted, repeated or
    //! swapped never make it panic, and every rejection names a position or a field.

    use proptest::prelude::*;
    use tender_engine::{Scenario, ScenarioError};

    fn shipped() -> Vec<String> {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios");
        let mut texts = Vec::new();
        for entry in std::fs::read_dir(&dir).expect("scenarios") {
            let path = entry.expect("entry").path();
            if path.extension().is_some_and(|e| e == "ron") {
                texts.push(std::fs::read_to_string(&path).expect("readable"));
            }
        }
        texts.sort();
        texts
    }

    #[derive(Clone, Debug)]
    enum Mutation {
        Delete(usize, usize),
        Insert(usize, String),
        Repeat(usize, usize),
        Digit(usize, char),
    }

    fn mutation() -> impl Strategy<Value = Mutation> {
        prop_oneof![
            (any::<usize>(), 1usize..40).prop_map(|(at, n)| Mutation::Delete(at, n)),
            (any::<usize>(), "[(){}\\[\\],:\"a-z0-9 .\\-\\n#/]{1,12}").prop_map(|(at, s)| Mutation::Insert(at, s)),
            (any::<usize>(), 1usize..200).prop_map(|(at, n)| Mutation::Repeat(at, n)),
            (any::<usize>(), prop::char::range('0', '9')).prop_map(|(at, d)| Mutation::Digit(at, d)),
        ]
    }

    fn apply(text: &str, m: &Mutation) -> String {
        let chars: Vec<char> = text.chars().collect();
        let at = |i: usize| i % (chars.len() + 1);
        let mut out = chars.clone();
        match m {
            Mutation::Delete(i, n) => {
                let a = at(*i);
                out.drain(a..(a + n).min(chars.len()));
            }
            Mutation::Insert(i, s) => {
                let a = at(*i);
                out.splice(a..a, s.chars());
            }
            Mutation::Repeat(i, n) => {
                let a = at(*i);
                let piece: Vec<char> = chars[a..(a + n).min(chars.len())].to_vec();
                out.splice(a..a, piece);
            }
            Mutation::Digit(i, d) => {
                if let Some(p) = (at(*i)..chars.len()).find(|&p| chars[p].is_ascii_digit()) {
                    out[p] = *d;
                }
            }
        }
        out.into_iter().collect()
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 3000, failure_persistence: None, ..ProptestConfig::default() })]
        #[test]
        fn mutated_scenarios_are_parsed_or_refused_with_a_position_or_a_field(
            file in any::<prop::sample::Index>(),
            mutations in prop::collection::vec(mutation(), 1..4),
        ) {
            let texts = shipped();
            let mut text = file.get(&texts).clone();
            for m in &mutations {
                text = apply(&text, m);
            }
            match Scenario::parse(&text, "mutated.ron") {
                Ok(_) | Err(ScenarioError::Attach { .. } | ScenarioError::Trace { .. }) => {}
                Err(ScenarioError::Syntax { line, column, message, .. }) => {
                    prop_assert!(line >= 1 && column >= 1, "no position: {message}");
                    // Lists of allowed names stay whole; what the input echoes is cut.
                    prop_assert!(message.chars().count() < 2000, "a long message");
                    for echoed in message.split('`').skip(1).step_by(2) {
                        prop_assert!(echoed.chars().count() < 200, "an echoed part is not cut: {echoed}");
                    }
                }
                Err(ScenarioError::Invalid { errors, .. }) => {
                    prop_assert!(!errors.is_empty());
                    for e in &errors {
                        prop_assert!(!e.field.is_empty() || !e.allowed.is_empty(), "{e:?}");
                        prop_assert!(e.value.chars().count() < 200, "an echoed value is not cut");
                    }
                }
            }
        }
    }
}

#[test]
fn nesting_too_deep_is_explained_in_the_authors_words() {
    let deep = format!(
        r#"Scenario(name: "x", seed: 1, episodes: 1, agents: [(name: "b", price: 1.0, skill: {{"qa": [0.5]}})],
    workload: (domains: [(name: "qa", bins: [(tau_max: 1.0, tasks: 5)])]), mechanisms: [EachAgent],
    sweep: (params: [(path: "x", values: List({}{}))]))"#,
        "[".repeat(300),
        "]".repeat(300)
    );
    match Scenario::parse(&deep, "deep.ron") {
        Err(ScenarioError::Syntax { line: 3, message, .. }) => {
            assert!(message.contains("nested too deeply") && !message.contains("recursion_limit"), "{message}");
        }
        other => panic!("{other:?}"),
    }
}
