//! The mechanism designer's commands: `tender shapley`.

use std::collections::BTreeMap;
use std::path::Path;

use crate::util::{path, project, small, tender, tender_ok, text};

/// `file`'s rows as maps from column to value.
fn rows(file: &Path) -> Vec<BTreeMap<String, String>> {
    let mut reader = csv::Reader::from_path(file).expect("csv written");
    let header = reader.headers().expect("header").clone();
    reader
        .records()
        .map(|r| header.iter().zip(r.expect("row").iter()).map(|(h, v)| (h.to_string(), v.to_string())).collect())
        .collect()
}

fn number(row: &BTreeMap<String, String>, column: &str) -> f64 {
    row[column].parse().unwrap_or_else(|_| panic!("{column} is not a number in {row:?}"))
}

/// The summary's mean of `metric` for `mechanism`, over all tasks.
fn summary(dir: &Path, mechanism: &str, metric: &str) -> f64 {
    let row = rows(&dir.join("summary.csv"))
        .into_iter()
        .find(|r| r["mechanism"] == mechanism && r["scope"] == "all" && r["metric"] == metric)
        .unwrap_or_else(|| panic!("no {metric} of {mechanism}"));
    number(&row, "mean")
}

#[test]
fn shapley_values_sum_to_the_market_of_all_agents_and_follow_each_agent_across_coalitions() {
    let tmp = tempfile::tempdir().expect("tmp");
    let (out, run) = (tmp.path().join("shapley"), tmp.path().join("run"));
    let o = tender_ok(&["shapley", path(&small()), "--episodes", "4", "--out", path(&out)]);
    let table = text(&o.stdout);
    assert!(table.contains("every coalition (7 markets)") && table.contains("| large |"), "{table}");
    tender_ok(&["run", path(&small()), "--episodes", "4", "--no-plots", "--out", path(&run)]);
    let values = rows(&out.join("shapley.csv"));
    // Three markets of the scenario (not agents alone or oracles) × three metrics × three agents.
    assert_eq!(values.len(), 27);
    for market in ["SALE", "SALE (no memory)", "random"] {
        for (metric, id) in [("welfare_usd", "welfare_usd"), ("pass_at_1", "pass_at_1"), ("cost_usd", "cost_usd")] {
            let of: Vec<_> = values.iter().filter(|r| r["mechanism"] == market && r["metric"] == metric).collect();
            // Efficiency: the values share out exactly what the market of every agent makes, and
            // that market is the run's (the same seeds, the same draws).
            let sum: f64 = of.iter().map(|r| number(r, "shapley")).sum();
            let grand = number(of[0], "grand");
            assert!((sum - grand).abs() < 1e-9 * grand.abs().max(1.0), "{market} {metric}: {sum} vs {grand}");
            let ran = summary(&run, market, id);
            assert!((grand - ran).abs() < 1e-9 * ran.abs().max(1.0), "{market} {metric}: {grand} vs the run's {ran}");
            assert!(of.iter().all(|r| r["sampling_se"].is_empty()), "exact values have no sampling error");
        }
    }
    // An agent's draws follow its name: alone in SALE's market it solves what it solves alone.
    for agent in ["small", "medium", "large"] {
        let alone = values
            .iter()
            .find(|r| r["mechanism"] == "SALE" && r["metric"] == "pass_at_1" && r["agent"] == agent)
            .map(|r| number(r, "alone"));
        assert_eq!(alone, Some(summary(&run, &format!("{agent} alone"), "pass_at_1")), "{agent}");
    }
    assert_eq!(rows(&out.join("coalitions.csv")).len(), 3 * 3 * 7);
    let svg = std::fs::read_to_string(out.join("shapley.svg")).expect("plot written");
    assert!(svg.contains("SALE (no memory)") && svg.contains("medium"), "the plot names markets and agents");
    assert!(out.join("shapley.png").is_file() && out.join("scenario.ron").is_file());
}

#[test]
fn sampled_join_orders_state_their_error_and_still_share_out_the_whole_market() {
    let tmp = tempfile::tempdir().expect("tmp");
    let out = tmp.path().join("sampled");
    let o = tender_ok(&[
        "shapley",
        path(&small()),
        "--episodes",
        "3",
        "--permutations",
        "4",
        "--mechanism",
        "SALE",
        "--metric",
        "cost",
        "--out",
        path(&out),
    ]);
    assert!(text(&o.stdout).contains("4 sampled join orders"), "{}", text(&o.stdout));
    let values: Vec<_> = rows(&out.join("shapley.csv")).into_iter().filter(|r| r["metric"] == "cost_usd").collect();
    assert_eq!(values.len(), 3);
    let sum: f64 = values.iter().map(|r| number(r, "shapley")).sum();
    assert!((sum - number(&values[0], "grand")).abs() < 1e-9);
    assert!(values.iter().all(|r| number(r, "sampling_se") >= 0.0));
}

#[test]
fn shapley_refuses_live_agents_and_unknown_markets_saying_why() {
    let o = tender(&["shapley", path(&project("scenarios/live.ron"))]);
    assert!(!o.status.success());
    let err = text(&o.stderr);
    assert!(err.contains("live") && err.contains("calibrate"), "{err}");
    let o = tender(&["shapley", path(&small()), "--mechanism", "SALE (vickrey)"]);
    let err = text(&o.stderr);
    assert!(!o.status.success() && err.contains("\"SALE (no memory)\""), "{err}");
}

/// The small market with SALE with and without self-scores, and a game in which the smallest
/// and the largest agent may score their own plans 5.
fn small_game(dir: &Path, players: &str) -> std::path::PathBuf {
    let text = std::fs::read_to_string(small()).expect("fixture").replace(
        "        Sale(w_c: 0.06, w_h: 2.0, memory: false),",
        "        Sale(w_c: 0.06, w_h: 2.0, jury: PeerOnly),",
    );
    let text = text.replace(
        "    ],\n)",
        &format!(
            "    ],\n    game: (\n        mechanisms: [\"SALE\", \"SALE (peer-scores only)\"],\n        players: [{players}],\n        utility: WinShare,\n    ),\n)"
        ),
    );
    let path = dir.join("game.ron");
    std::fs::write(&path, text).expect("scenario written");
    path
}

const INFLATE: &str = "(agent: \"small\", strategies: [(name: \"truthful\"), (name: \"self 5\", strategy: (own_plans: Score(5)))]), \
                       (agent: \"large\", strategies: [(name: \"truthful\"), (name: \"self 5\", strategy: (own_plans: Score(5)))])";

#[test]
fn a_game_reports_every_profile_its_regret_and_equilibria_and_self_scores_matter_only_where_read() {
    let tmp = tempfile::tempdir().expect("tmp");
    let scenario = small_game(tmp.path(), INFLATE);
    let (out, run) = (tmp.path().join("game"), tmp.path().join("run"));
    let o = tender_ok(&["game", path(&scenario), "--episodes", "4", "--out", path(&out)]);
    let report = text(&o.stdout);
    assert!(report.contains("SALE (peer-scores only): share of tasks won"), "{report}");
    assert!(report.contains("The truthful profile (small: truthful / large: truthful)"), "{report}");
    let payoffs = rows(&out.join("payoffs.csv"));
    assert_eq!(payoffs.len(), 2 * 4 * 2, "two markets × four profiles × two players");
    let utility = |market: &str, profile: &str, player: &str| {
        payoffs
            .iter()
            .find(|r| r["mechanism"] == market && r["profile"] == profile && r["player"] == player)
            .map(|r| number(r, "utility"))
            .unwrap_or_else(|| panic!("{market} {profile} {player}"))
    };
    let truthful = "small: truthful / large: truthful";
    // Without self-scores, scoring one's own plans 5 changes nothing: a strategy acts only
    // through what the market reads.
    for profile in
        ["small: self 5 / large: truthful", "small: truthful / large: self 5", "small: self 5 / large: self 5"]
    {
        for player in ["small", "large"] {
            assert_eq!(
                utility("SALE (peer-scores only)", profile, player),
                utility("SALE (peer-scores only)", truthful, player)
            );
        }
    }
    // With them, it wins more.
    assert!(utility("SALE", "small: self 5 / large: truthful", "small") > utility("SALE", truthful, "small"));
    // The truthful profile is the scenario as written: its win shares are the run's.
    std::fs::write(
        tmp.path().join("plain.ron"),
        std::fs::read_to_string(&scenario).expect("scenario").split("    game: (").next().expect("text").to_string()
            + ")\n",
    )
    .expect("written");
    tender_ok(&["run", path(&tmp.path().join("plain.ron")), "--episodes", "4", "--no-plots", "--out", path(&run)]);
    assert!((utility("SALE", truthful, "small") - summary(&run, "SALE", "share:small")).abs() < 1e-12);
    // Every profile's regret is known (all were run), and equilibria are exactly those at or below 0.
    let profiles = rows(&out.join("profiles.csv"));
    assert_eq!(profiles.len(), 8);
    for r in &profiles {
        assert_eq!(r["nash"] == "true", number(r, "regret") <= 0.0, "{r:?}");
    }
    assert!(profiles.iter().any(|r| r["nash"] == "true"), "a 2x2 game with these payoffs has a pure equilibrium");
    let svg = std::fs::read_to_string(out.join("regret.svg")).expect("plot");
    assert!(svg.contains("SALE (peer-scores only)") && svg.contains("self 5 / truthful"), "{svg:.200}");
}

#[test]
fn a_game_names_what_is_wrong_with_it() {
    let tmp = tempfile::tempdir().expect("tmp");
    let bad = "(agent: \"nobody\", strategies: [(name: \"truthful\"), (name: \"truthful\")]), \
               (agent: \"large\", strategies: [(name: \"x\", strategy: (plan_length: 0.0, cartel: [\"large\"]))])";
    let o = tender(&["validate", path(&small_game(tmp.path(), bad))]);
    let err = text(&o.stderr);
    assert!(!o.status.success());
    for field in [
        "game.players[0].agent",
        "game.players[0].strategies[1].name",
        "game.players[1].strategies[0].strategy.plan_length",
        "game.players[1].strategies[0].strategy.cartel[0]",
    ] {
        assert!(err.contains(field), "{field}: {err}");
    }
    let o = tender(&["game", path(&small())]);
    assert!(!o.status.success() && text(&o.stderr).contains("no `game:` block"), "{}", text(&o.stderr));
}

/// Money in a run's summary: each agent's revenue and profit, every agent's profit and what the
/// buyer pays, where the pool has unit costs or a mechanism pays, and nowhere else.
#[test]
fn a_run_reports_each_agents_money_where_there_is_any() {
    let tmp = tempfile::tempdir().expect("tmp");
    let out = tmp.path().join("auction");
    let o = tender_ok(&[
        "run",
        path(&project("scenarios/game-auction.ron")),
        "--episodes",
        "3",
        "--no-plots",
        "--out",
        path(&out),
    ]);
    assert!(text(&o.stdout).contains("Money (per episode"), "{}", text(&o.stdout));
    let agents = ["qwen3-4b", "qwen3-8b", "qwen3-14b", "qwen3-32b"];
    for market in ["first-price auction", "second-price auction"] {
        let profits: f64 = agents.iter().map(|a| summary(&out, market, &format!("profit:{a}"))).sum();
        assert!((profits - summary(&out, market, "agents_profit_usd")).abs() < 1e-9);
        // Procurement has no auction overhead: the buyer pays exactly the payments.
        let pays = summary(&out, market, "buyer_pays_usd");
        assert!((pays - summary(&out, market, "payment_usd")).abs() < 1e-9 * pays.max(1.0));
        let revenue: f64 = agents.iter().map(|a| summary(&out, market, &format!("revenue:{a}"))).sum();
        assert!((revenue - pays).abs() < 1e-9 * pays.max(1.0), "the agents are paid what the buyer pays");
    }
    // A pool without unit costs under pay-as-bid has no money to report beyond its cost.
    let plain = tmp.path().join("plain");
    let o = tender_ok(&["run", path(&small()), "--episodes", "2", "--no-plots", "--out", path(&plain)]);
    assert!(!text(&o.stdout).contains("Money (per episode"));
    assert!(!std::fs::read_to_string(plain.join("summary.csv")).expect("summary").contains("profit:"));
}
