//! Scenario files: every shipped one is valid; bad ones give the documented errors.

mod common;

use common::fixture;
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
                let s = Scenario::parse(&text, &path.display().to_string())
                    .unwrap_or_else(|e| panic!("{} does not validate: {e}", path.display()));
                assert!(!s.resolve_mechanisms().is_empty());
                seen += 1;
            }
        }
    }
    assert!(seen >= 2, "expected the shipped scenarios, found {seen}");
}

#[test]
fn the_test_fixture_validates() {
    common::load(&fixture("small.ron"));
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
