//! The SALE paper's qualitative findings hold in the calibrated simulation
//! (`scenarios/sale-paper/`), across replications; `tender reproduce` reports them.

use std::path::Path;

use tender_analysis::metrics::{Metric, Scope, Summary};
use tender_analysis::summarise;
use tender_engine::mechanisms::baselines::{Oracle, Single};
use tender_engine::scenario::ron_options;
use tender_engine::{BatchResult, MechanismSpec, Scenario};

/// The scenario with only the methods the findings are about: its headline SALE, the same
/// without memory, the 32B agent alone and the paper's oracle.
fn run(file: &str, episodes: u32) -> (BatchResult, Summary, Scenario) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/sale-paper");
    let text = std::fs::read_to_string(dir.join(file)).expect("scenario");
    let mut scenario = Scenario::parse(&text, file).expect("valid");
    scenario.attach_files(&dir, file, &|p| std::fs::read_to_string(p)).expect("weights");
    // SALE, its ablations (calibration targets too) and the min-max fit.
    let sale: Vec<MechanismSpec> = scenario.mechanisms.iter().filter(|m| m.kind() == "Sale").cloned().collect();
    scenario.mechanisms = sale;
    scenario.mechanisms.push(MechanismSpec::new(Single { agent: "qwen3-32b".into(), name: None }));
    scenario.mechanisms.push(MechanismSpec::new(Oracle));
    scenario.episodes = episodes;
    // Prepared: each SALE fits its weights on the training split, as in a run.
    let prepared = tender_engine::Prepared::synthetic(scenario).expect("fits");
    let batch = prepared.run(&prepared.options(None), &|| {}).expect("runs");
    let summary = summarise(&batch, &prepared.scenario.workload);
    (batch, summary, prepared.scenario)
}

fn mean(s: &Summary, mechanism: &str, metric: &Metric) -> f64 {
    let m = s.mechanisms.iter().position(|n| n == mechanism).expect("mechanism");
    s.get(m, &Scope::All, metric).expect("metric").mean
}

/// The smallest agent's share of wins in the first tenth of the stream (memory nearly empty) and
/// in its second half, over every episode of `mechanism`.
fn early_and_late_share(batch: &BatchResult, mechanism: &str) -> (f64, f64) {
    let m = batch.mechanisms.iter().position(|m| m.name == mechanism).expect("mechanism") as u16;
    let (mut early, mut late, mut n_early, mut n_late) = (0.0, 0.0, 0.0, 0.0);
    for run in batch.runs.iter().filter(|r| r.mechanism == m) {
        let (tenth, half) = (run.records.len() / 10, run.records.len() / 2);
        for r in &run.records {
            let small = f64::from(u8::from(r.winner == 0));
            if (r.step as usize) < tenth {
                early += small;
                n_early += 1.0;
            } else if r.step as usize >= half {
                late += small;
                n_late += 1.0;
            }
        }
    }
    (early / n_early, late / n_late)
}

/// Targets the calibrated stand-ins miss by more than twice their tolerance, with the structure
/// docs/reproduction.md names for each: a new miss fails the test.
const KNOWN_MISSES: [(&str, &str, &str); 1] = [
    // Peers know nearly all the full jury knows: peer-scores only does not collapse on coding.
    ("coding.ron", "SALE (peer-scores only)", "pass_at_1"),
];

/// The calibration targets of the methods run here hold at the scenario's values within twice
/// their tolerance (a 30-episode check; docs/reproduction.md has the exact figures), except the
/// known misses.
fn check_targets(file: &str, s: &Summary, scenario: &Scenario) {
    let spec = scenario.calibrate.as_ref().expect("a calibrate block");
    let mut checked = 0;
    for t in spec.targets.iter().filter(|t| s.mechanisms.contains(&t.mechanism)) {
        let m = s.mechanisms.iter().position(|n| *n == t.mechanism).expect("mechanism");
        let row = s
            .rows
            .iter()
            .find(|r| r.mechanism == m && s.scope_name(&r.scope) == t.scope && r.metric.id(&s.agents) == t.metric)
            .expect("target metric");
        let got = row.estimate.mean;
        let known = KNOWN_MISSES.contains(&(file, t.mechanism.as_str(), t.metric.as_str()));
        assert!(
            known || (got - t.value).abs() <= 2.0 * t.tolerance,
            "{file}: {} {} is {got:.3}, target {} ± {}",
            t.mechanism,
            t.metric,
            t.value,
            t.tolerance
        );
        checked += 1;
    }
    assert!(checked >= 14, "{file}: SALE, its ablations, the 32B agent and the oracle are targets ({checked})");
}

fn check_findings(file: &str) {
    let (batch, s, scenario) = run(file, 30);
    check_targets(file, &s, &scenario);
    let (sale, no_memory, large) = ("SALE", "SALE (no memory)", "qwen3-32b alone");
    let pass = |m| mean(&s, m, &Metric::PassAt1);
    let cost = |m| mean(&s, m, &Metric::CostPerDeliveredMTok);
    assert!(pass(sale) >= pass(large), "{file}: SALE pass@1 {} < 32B {}", pass(sale), pass(large));
    assert!(cost(sale) <= 0.8 * cost(large), "{file}: SALE cost {} > 0.8 × {}", cost(sale), cost(large));
    let reliance = mean(&s, sale, &Metric::RelianceReduction);
    assert!(reliance >= 0.3, "{file}: the 32B share falls by only {reliance}");
    assert!(
        pass(sale) > pass(no_memory) || cost(sale) < cost(no_memory),
        "{file}: memory helps neither pass@1 nor cost"
    );
    let (early, late) = early_and_late_share(&batch, sale);
    eprintln!("{file}: 4B share of wins, first tenth {early:.3}, second half {late:.3} (with memory)");
    // The paper's share rises severalfold; the calibrated stand-ins' rises less (an out-of-sample
    // miss docs/reproduction.md reports), but it must rise.
    assert!(late > 1.1 * early, "{file}: with memory the 4B agent's share goes {early} -> {late}");
    let (early, late) = early_and_late_share(&batch, no_memory);
    eprintln!("{file}: 4B share of wins, first tenth {early:.3}, second half {late:.3} (without memory)");
    assert!(late < early + 0.02, "{file}: without memory the 4B agent's share goes {early} -> {late}");
}

#[test]
fn deep_search_findings_hold() {
    check_findings("deep-search.ron");
}

#[test]
fn coding_findings_hold() {
    check_findings("coding.ron");
}

/// The paper scenarios made small enough for a test: an eighth of the tasks, two or three free
/// parameters, SALE fitted on one training episode. Everything else (targets, mechanisms,
/// published numbers) is as shipped.
fn small_paper_scenarios(into: &Path) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/sale-paper");
    for file in ["deep-search.ron", "coding.ron"] {
        let text = std::fs::read_to_string(root.join(file)).expect("paper scenario");
        let mut out = String::new();
        let mut params_kept = 0;
        let mut in_params = false;
        for line in text.lines() {
            if line.trim_start().starts_with("params: [") {
                in_params = true;
            } else if in_params && line.trim_start().starts_with("],") {
                in_params = false;
            } else if in_params && line.trim_start().starts_with("(path:") {
                params_kept += 1;
                // Deep search's jury noise stays free: the report leaves a calibrated
                // parameter out of its sensitivities.
                if params_kept > 2 && !line.contains("jury_shared_noise") {
                    continue;
                }
            }
            out.push_str(line);
            out.push('\n');
        }
        let mut small = String::new();
        let mut rest = out.as_str();
        while let Some(i) = rest.find("tasks: ") {
            let digits: String = rest[i + 7..].chars().take_while(char::is_ascii_digit).collect();
            small.push_str(&rest[..i + 7]);
            match digits.parse::<u32>() {
                Ok(n) => small.push_str(&(n / 8).max(4).to_string()),
                Err(_) => small.push_str(&digits),
            }
            rest = &rest[i + 7 + digits.len()..];
        }
        small.push_str(rest);
        let small = small
            .replace("fit: (objective: Welfare)", "fit: (objective: Welfare, episodes: 1)")
            .replace("fit: (objective: MinMax)", "fit: (objective: MinMax, episodes: 1)");
        std::fs::write(into.join(file), small).expect("write");
    }
}

#[test]
fn reproduce_writes_the_report_with_the_papers_numbers_beside_tenders() {
    let dir = tempfile::tempdir().expect("temp dir");
    let results = dir.path().join("results");
    let scenarios = dir.path().join("scenarios");
    std::fs::create_dir(&scenarios).expect("mkdir");
    small_paper_scenarios(&scenarios);
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let tracked = std::fs::read(root.join("docs/reproduction.md")).expect("the tracked report");
    // Fewer episodes than documented: the report goes beside the results, not over docs/.
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_tender"))
        .current_dir(dir.path())
        .args(["reproduce", "--episodes", "5", "--sweep-episodes", "2", "--scenarios"])
        .arg(&scenarios)
        .arg("--results")
        .arg(&results)
        .output()
        .expect("tender runs");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let out = results.join("reproduction.md");
    assert!(!dir.path().join("docs").exists(), "a quick run wrote docs/");
    assert_eq!(std::fs::read(root.join("docs/reproduction.md")).expect("tracked report"), tracked);
    let doc = std::fs::read_to_string(&out).expect("report written");
    for needle in [
        "## Deep search",
        "## Coding",
        "| SALE (`SALE`) |",
        "SALE (min-max fit)",
        "| 67.3 |",
        "| 61.1 |",
        "### Calibration fit",
        "| oracle | all | `pass_at_1` | 0.779 |",
        "values that fit as well",
        "The paper's claim (the smallest agent's share rises",
        "### Out-of-sample predictions",
        "#### SALE's allocation along the stream",
        "#### SALE ablations",
        "SALE (no jury)",
        "SALE (peer-scores only)",
        "`standins.failed_lesson_weight`",
        // Calibrated on deep search (no sensitivity there), swept on coding.
        "**`standins.jury_shared_noise`**: calibrated in this domain",
        "**`standins.jury_shared_noise`**: share of a juror's noise",
        "juror accuracy",
        "| 77.9 |",
        "| 68.4 |",
        "oracle with best refinements",
        "## Calibration",
        "### Deep search: the stand-ins' inputs",
        "## Reading these results",
    ] {
        assert!(doc.contains(needle), "the report lacks {needle:?}");
    }
    for figure in ["deep-search-learning_curve.png", "coding-shares_by_bin.png", "coding-pass_by_bin.png"] {
        assert!(results.join("reproduction").join(figure).exists(), "{figure}");
        assert!(doc.contains(&format!("reproduction/{figure}")), "{figure} not linked");
    }
}

#[test]
fn the_welfare_fit_writes_grid_weights_with_positive_training_welfare() {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = dir.path().join("w.ron");
    let scenario = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/sale-paper/deep-search.ron");
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_tender"))
        .args(["fit", scenario.to_str().expect("utf-8"), "--objective", "welfare", "--episodes", "1", "--out"])
        .arg(&out)
        .output()
        .expect("tender runs");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let text = std::fs::read_to_string(&out).expect("weights written");
    let w: tender_engine::fit::FittedWeights = ron_options()
        .from_str(text.lines().filter(|l| !l.starts_with("//")).collect::<Vec<_>>().join("\n").as_str())
        .expect("weights parse");
    assert_eq!(w.objective, tender_engine::fit::Objective::Welfare);
    assert!(tender_engine::mechanisms::sale::WELFARE_GRID_W_C.contains(&w.w_c), "{w:?}");
    assert!(tender_engine::mechanisms::sale::WELFARE_GRID_W_H.contains(&w.w_h), "{w:?}");
    assert!(w.loss < 0.0, "SALE earns positive welfare on the training tasks: {w:?}");
    assert!(w.juror_weights.values().all(|&j| j == 1.0));
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(stdout.contains("per training task"));
    // Outside the scenario's folder, the path to paste is absolute.
    let pasted = format!("Sale(weights: \"{}\")", out.canonicalize().expect("written").display());
    assert!(stdout.contains(&pasted), "{stdout}");
}
