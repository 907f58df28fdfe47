//! The example's binary runs its scenario: the ladder and the posted-price market beside SALE,
//! from outside the engine, and what they report reaches every output.

use std::path::Path;
use std::process::Command;

fn scenario() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tau-ladder.ron")
}

#[test]
fn the_outside_mechanisms_run_beside_sale_and_report_their_quantities() {
    let out = tempfile::tempdir().expect("temp dir");
    let run = Command::new(env!("CARGO_BIN_EXE_tau-ladder"))
        .args(["run", scenario().to_str().expect("utf-8"), "--episodes", "4", "--no-plots", "--out"])
        .arg(out.path())
        .output()
        .expect("tau-ladder runs");
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    assert!(stdout.contains("τ ladder") && stdout.contains("SALE"), "{stdout}");
    assert!(stdout.contains("mean rung") && stdout.contains("escalated %"), "{stdout}");

    let tasks = std::fs::read_to_string(out.path().join("tasks.csv")).expect("tasks.csv");
    let header: Vec<&str> = tasks.lines().next().expect("header").split(',').collect();
    let rung = header.iter().position(|c| *c == "rung").expect("a rung column");
    let mechanism = header.iter().position(|c| *c == "mechanism").expect("a mechanism column");
    for line in tasks.lines().skip(1) {
        let cells: Vec<&str> = line.split(',').collect();
        // Only the ladder's rows carry a rung, each one of the four agents'.
        match cells[mechanism] {
            "τ ladder" => assert!(["0", "1", "2", "3"].contains(&cells[rung]), "{line}"),
            _ => assert_eq!(cells[rung], "", "{line}"),
        }
    }
    let summary = std::fs::read_to_string(out.path().join("summary.csv")).expect("summary.csv");
    assert!(summary.lines().any(|l| l.starts_with("τ ladder,all,escalated,")), "{summary}");

    // The posted-price market pays through the engine's one payment quantity: the money tables,
    // its tasks' `payment_usd` and the summary's money metrics all read it.
    assert!(stdout.contains("Money") && stdout.contains("takers"), "{stdout}");
    let column = |name: &str| header.iter().position(|c| *c == name).unwrap_or_else(|| panic!("a {name} column"));
    let (paid, winner) = (column("payment_usd"), column("winner"));
    let mut posted = 0;
    for line in tasks.lines().skip(1) {
        let cells: Vec<&str> = line.split(',').collect();
        if cells[mechanism] == "posted price" {
            posted += 1;
            // Paid exactly when served.
            assert_eq!(cells[paid].is_empty(), cells[winner].is_empty(), "{line}");
        } else {
            assert_eq!(cells[paid], "", "{line}");
        }
    }
    assert!(posted > 0);
    for metric in ["payment_usd", "takers", "agents_profit_usd", "buyer_pays_usd", "profit:qwen3-4b"] {
        assert!(summary.lines().any(|l| l.starts_with(&format!("posted price,all,{metric},"))), "{metric}: {summary}");
    }
}

/// A sweep's rows carry what each mechanism declares it reports, whatever it is called.
#[test]
fn sweep_rows_carry_the_outside_mechanisms_quantities() {
    let out = tempfile::tempdir().expect("temp dir");
    let run = Command::new(env!("CARGO_BIN_EXE_tau-ladder"))
        .args(["sweep", scenario().to_str().expect("utf-8"), "--set", "mechanisms[2].markup=1.2,2"])
        .args(["--replications", "2", "--no-plots", "--out"])
        .arg(out.path())
        .output()
        .expect("tau-ladder sweeps");
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    let rows = std::fs::read_to_string(out.path().join("rows.csv")).expect("rows.csv");
    let header: Vec<&str> = rows.lines().next().expect("header").split(',').collect();
    let column = |name: &str| header.iter().position(|c| *c == name).unwrap_or_else(|| panic!("a {name} column"));
    let (mechanism, markup, paid, rung, refined) =
        (column("mechanism"), column("mechanisms[2].markup"), column("payment_usd"), column("rung"), column("refined"));
    let number = |cell: &str| cell.parse::<f64>().ok().filter(|x| x.is_finite());
    let mut payments = Vec::new();
    for line in rows.lines().skip(1) {
        let cells: Vec<&str> = line.split(',').collect();
        match cells[mechanism] {
            "posted price" => payments.push((cells[markup] == "2", number(cells[paid]).expect("a payment"))),
            "τ ladder" => assert!(number(cells[rung]).is_some() && number(cells[paid]).is_none(), "{line}"),
            "SALE" => assert!(number(cells[refined]).is_some_and(|x| (0.0..=1.0).contains(&x)), "{line}"),
            _ => assert!(number(cells[paid]).is_none(), "{line}"),
        }
    }
    // A higher post pays more, replication by replication (common random numbers).
    let at = |two: bool| payments.iter().filter(|p| p.0 == two).map(|p| p.1).collect::<Vec<f64>>();
    let (low, high) = (at(false), at(true));
    assert_eq!(low.len(), 2);
    for (a, b) in low.iter().zip(&high) {
        assert!(b > a, "{payments:?}");
    }
    let manifest = std::fs::read_to_string(out.path().join("sweep.json")).expect("sweep.json");
    assert!(manifest.contains("\"flags\"") && manifest.contains("\"escalated\""), "{manifest}");
}

#[test]
fn plain_tender_refuses_the_kind_it_does_not_know() {
    let text = std::fs::read_to_string(scenario()).expect("scenario");
    let err = tender_engine::Scenario::parse(&text, "tau-ladder.ron").expect_err("TauLadder is not registered here");
    assert!(err.to_string().contains("unknown mechanism `TauLadder`"), "{err}");
}

#[test]
fn the_outside_mechanisms_parameters_print_from_their_one_definition() {
    let o = Command::new(env!("CARGO_BIN_EXE_tau-ladder")).args(["fields"]).output().expect("runs");
    let listed = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success() && listed.contains("postedprice") && listed.contains("tauladder"), "{listed}");
    let o = Command::new(env!("CARGO_BIN_EXE_tau-ladder")).args(["fields", "PostedPrice"]).output().expect("runs");
    let table = String::from_utf8_lossy(&o.stdout);
    assert!(
        table.contains("| `markup` | required | [0, 1,000] | The post over the median predicted cost. |"),
        "{table}"
    );
}
