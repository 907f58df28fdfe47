//! SALE's fitted weights as a file holds them: what `tender fit` writes and `Sale(weights:
//! "...")` reads. Fitting itself is in [`crate::fit`].

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Which loss over training tasks is minimised.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub enum Objective {
    /// The worst task's loss (the paper's choice).
    #[default]
    MinMax,
    /// The mean loss over tasks.
    Average,
    /// Not a linear program: the `(w_c, w_h)` of a grid (jurors weighted 1 each) under which
    /// SALE, run with memory on the training tasks, earns the most welfare (value of solved
    /// tasks minus everything spent), averaged over the training episodes.
    Welfare,
}

/// Fitted weights, as written to a file a scenario's `Sale(weights: "...")` can name.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FittedWeights {
    pub w_c: f64,
    pub w_h: f64,
    pub juror_weights: BTreeMap<String, f64>,
    pub objective: Objective,
    /// The objective's value on normalised features: the worst (MinMax) or mean (Average) loss;
    /// negative means targets win by that margin. For `Welfare`: minus the welfare per training
    /// task, in dollars.
    pub loss: f64,
    /// Share of training tasks whose target scores best with these weights. For `Welfare`: the
    /// share of training tasks SALE solved.
    pub targets_winning: f64,
    pub training_tasks: usize,
    /// What the training auctions (plans and jury) would have cost, in dollars.
    pub training_cost_usd: f64,
}

/// How a mechanism fits its weights when its scenario is prepared: `Sale(fit: (objective:
/// MinMax, episodes: 5))`, on the training tasks of the scenario's `training` split.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FitSpec {
    #[serde(default)]
    pub objective: Objective,
    /// Episodes whose training tasks are fitted on.
    #[serde(default = "five")]
    pub episodes: u32,
}

impl Default for FitSpec {
    fn default() -> Self {
        Self { objective: Objective::MinMax, episodes: five() }
    }
}

fn five() -> u32 {
    5
}
