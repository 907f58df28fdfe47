//! SALE fitted as published: `Sale(fit: ...)` fits its weights on the training split when the
//! scenario is prepared, each ablation on the features it keeps.

use std::sync::Arc;

use tender_agents::OutcomeSource;
use tender_engine::training_bids::ScenarioTraining;
use tender_engine::{Prepared, SaleParams, Scenario};

use crate::util::{fixture, load};

/// The small market with a training split and these SALE variants.
fn with_sales(variants: &[&str]) -> Scenario {
    let text = std::fs::read_to_string(fixture("small.ron")).expect("fixture");
    let mechanisms = variants.iter().map(|v| format!("Sale({v}),")).collect::<String>();
    let text = text
        .replace("        Sale(w_c: 0.06, w_h: 2.0),\n        Sale(w_c: 0.06, w_h: 2.0, memory: false),", &mechanisms)
        .replace("    mechanisms: [", "    training: Separate(1),\n    mechanisms: [");
    Scenario::parse(&text, "small+fit").expect("valid")
}

fn fitted(variants: &[&str]) -> Vec<SaleParams> {
    let prepared = Prepared::synthetic(with_sales(variants)).expect("fits");
    prepared.scenario.mechanisms.iter().filter_map(|m| m.get::<SaleParams>().cloned()).collect()
}

#[test]
fn each_ablation_is_fitted_on_the_features_it_keeps() {
    let sales = fitted(&[
        "fit: (objective: MinMax, episodes: 2)",
        "fit: (objective: MinMax, episodes: 2), jury: Off",
        "fit: (objective: MinMax, episodes: 2), entropy: false",
        "name: \"welfare, no entropy\", fit: (objective: Welfare, episodes: 1), entropy: false",
        "name: \"welfare, w_c held\", fit: (objective: Welfare, episodes: 1), w_c: 0.03",
    ]);
    // Every request is replaced by the weights it fitted, so a saved copy stands alone.
    assert!(sales.iter().all(|s| s.fit.is_none() && s.w_c.is_some() && s.w_h.is_some()), "{sales:?}");
    assert!(sales[0].juror_weights.values().any(|&w| w > 0.0), "the full fit weighs the jury: {:?}", sales[0]);
    assert!(sales[1].juror_weights.values().all(|&w| w == 0.0), "no jury, no juror weight: {:?}", sales[1]);
    assert_eq!(sales[2].w_h, Some(0.0), "no entropy, no entropy weight");
    assert_eq!(sales[3].w_h, Some(0.0));
    assert_eq!(sales[4].w_c, Some(0.03), "a given weight is held; the welfare search fits the other");
    assert!(tender_engine::mechanisms::sale::WELFARE_GRID_W_H.contains(&sales[4].w_h.unwrap_or(f64::NAN)));
}

/// Fitting twice from scratch (not through the process's cache of fits) gives the same weights.
#[test]
fn a_fit_is_a_function_of_the_scenario() {
    let scenario = with_sales(&[
        "fit: (objective: Welfare, episodes: 1)",
        "fit: (objective: MinMax, episodes: 1), jury: PeerOnly",
    ]);
    let fit_afresh = || {
        let source: Arc<dyn OutcomeSource> = Arc::new(scenario.source().expect("pool"));
        let data = ScenarioTraining::new(&scenario, source);
        let mut mechanisms = scenario.mechanisms.clone();
        for m in &mut mechanisms {
            m.fit_weights(&data).expect("fits");
        }
        mechanisms
    };
    let (first, again) = (fit_afresh(), fit_afresh());
    assert_eq!(first, again);
    assert_ne!(first, scenario.mechanisms, "something was fitted");
}

#[test]
fn a_fit_needs_a_training_split_and_says_so() {
    let text = std::fs::read_to_string(fixture("small.ron"))
        .expect("fixture")
        .replace("Sale(w_c: 0.06, w_h: 2.0),", "Sale(fit: ()),");
    let err = Scenario::parse(&text, "small.ron").expect_err("no training split").to_string();
    assert!(err.contains("training"), "{err}");
    // One weight with the min-max program cannot be held.
    let text = std::fs::read_to_string(fixture("small.ron"))
        .expect("fixture")
        .replace("Sale(w_c: 0.06, w_h: 2.0),", "Sale(fit: (objective: MinMax), w_c: 0.01),")
        .replace("    mechanisms: [", "    training: Separate(1),\n    mechanisms: [");
    let err = Scenario::parse(&text, "small.ron").expect_err("w_c with min-max").to_string();
    assert!(err.contains("w_c") && err.contains("Welfare"), "{err}");
    let _ = load(&fixture("small.ron"));
}

/// With one agent every weight gives the same market (it wins every auction and no one is
/// cheaper to refine): a fit there has nothing to learn, keeps what is given and does not fail,
/// so a one-agent coalition of `tender shapley` runs.
#[test]
fn one_agent_has_nothing_to_fit() {
    let mut scenario = with_sales(&[
        "fit: (objective: Welfare, episodes: 1)",
        "name: \"held\", fit: (objective: Welfare, episodes: 1), w_h: 1.5",
    ]);
    scenario.agents.truncate(1);
    scenario.mechanisms.retain(|m| m.get::<SaleParams>().is_some());
    let prepared = Prepared::synthetic(scenario).expect("a one-agent market prepares");
    let sales: Vec<SaleParams> =
        prepared.scenario.mechanisms.iter().filter_map(|m| m.get::<SaleParams>().cloned()).collect();
    assert_eq!(sales.len(), 2);
    assert!(sales.iter().all(|s| s.fit.is_none()), "{sales:?}");
    assert_eq!((sales[0].w_c, sales[0].w_h), (Some(0.0), Some(0.0)));
    assert_eq!(sales[1].w_h, Some(1.5), "a given weight stands");
}
