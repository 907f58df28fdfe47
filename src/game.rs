//! `tender game`: the scenario's `game:` block played out. Every profile (one strategy per
//! player) is the scenario with those strategies, run on the same episode seeds (common random
//! numbers: differences between profiles are paired); then per market the payoff table, each
//! profile's regret, the pure Nash equilibria, a mixed equilibrium by replicator dynamics, and
//! the market at equilibrium against the truthful profile.

use std::collections::BTreeSet;
use std::path::Path;

use anyhow::{Context, Result, bail};
use rand::RngExt;
use tender_agents::streams::Stream;
use tender_analysis::accounts::{accounts, buyer_pays};
use tender_analysis::game::Game;
use tender_analysis::metrics::{EpisodeTotals, Metric};
use tender_analysis::output::write_atomic;
use tender_analysis::stats::Estimate;
use tender_engine::Scenario;
use tender_engine::game_spec::{GameSpec, Profiles, Utility};

use crate::backends::LiveOptions;
use crate::cli::GameArgs;
use crate::io::{Bar, Progress, count, emit};

/// The profiles a `Sampled` game draws, from their own stream.
const DRAWS: Stream = Stream::named("game.profiles");

/// What one profile did in one market, per episode.
#[derive(Clone, Debug, Default)]
struct Outcome {
    /// `[player][episode]`.
    utilities: Vec<Vec<f64>>,
    welfare: Vec<f64>,
    pass: Vec<f64>,
    /// What the buyer pays ([`tender_analysis::accounts::buyer_pays`]).
    spend: Vec<f64>,
}

/// How `tender game` refuses live agents.
pub const DOING: &str = "`tender game` runs the market once for every profile of strategies";

pub fn game(args: &GameArgs) -> Result<()> {
    let (scenario, out) = crate::backends::load_for_many_runs(&args.file, &args.runs, "game", DOING)?;
    let text = play(scenario, &args.file, args.runs.threads.jobs, &out, &Bar::default())?;
    emit(&text)
}

/// Play the scenario's game into `out` (`file` locates the files the scenario names; `jobs`
/// threads) and return the report `tender game` prints.
pub fn play(
    mut scenario: Scenario,
    file: &Path,
    jobs: Option<usize>,
    out: &Path,
    progress: &dyn Progress,
) -> Result<String> {
    let spec = scenario.game.clone().with_context(|| {
        format!(
            "{} has no `game:` block: name the players, their strategies and the markets (docs/games.md)",
            file.display()
        )
    })?;
    let game = Game { strategies: spec.shape() };
    let profiles = profiles(&game, spec.profiles, scenario.seed);
    let players: Vec<usize> = spec
        .players
        .iter()
        .map(|p| scenario.agents.iter().position(|a| a.name == p.agent))
        .collect::<Option<_>>()
        .context("a player names no agent")?;
    // Only the markets the game is played in run.
    scenario.keep_mechanisms(&spec.mechanisms);
    // The designer fits a mechanism that fits itself once, on the market the agents make with
    // their first (truthful) strategies, and holds it fixed while they play.
    let quiet = LiveOptions { no_trace: true, no_cache: true, ..Default::default() };
    let truthful = with_profile(&scenario, &spec, &players, &game.profile(0));
    scenario.mechanisms = crate::backends::prepare(truthful, file, &quiet)
        .context("cannot prepare the truthful profile")?
        .prepared
        .scenario
        .mechanisms;
    progress.start(
        profiles.len() as u64 * u64::from(scenario.episodes) * scenario.resolve_mechanisms().len() as u64,
        "runs (profile × episode × mechanism)",
    );
    // outcomes[market][profile]
    let mut outcomes: Vec<Vec<Option<Outcome>>> = vec![vec![None; game.profiles()]; spec.mechanisms.len()];
    for &index in &profiles {
        let profile = game.profile(index);
        let label = label(&spec, &profile);
        if progress.cancelled() {
            bail!("cancelled before the profile {label}");
        }
        progress.message(label.clone());
        let sub = with_profile(&scenario, &spec, &players, &profile);
        if let Err(errors) = sub.validate() {
            bail!("the profile {label} is not a valid scenario:\n{errors}");
        }
        let prepared = crate::backends::prepare(sub, file, &quiet)
            .with_context(|| format!("cannot prepare the profile {label}"))?
            .prepared;
        let batch = prepared
            .run(&prepared.options(jobs), &|| progress.tick())
            .with_context(|| format!("the profile {label} failed"))?;
        for (k, market) in spec.mechanisms.iter().enumerate() {
            let column = batch.mechanisms.iter().position(|m| &m.name == market).context("a market did not run")?;
            let mut outcome = Outcome { utilities: vec![Vec::new(); players.len()], ..Outcome::default() };
            for run in batch.runs.iter().filter(|r| usize::from(r.mechanism) == column) {
                let books = accounts(&run.records, &batch.agents);
                let tasks = run.records.len().max(1) as f64;
                for (u, &agent) in outcome.utilities.iter_mut().zip(&players) {
                    let a = books[agent];
                    u.push(match spec.utility {
                        Utility::Profit => a.profit(),
                        Utility::Revenue => a.revenue,
                        Utility::WinShare => f64::from(a.wins) / tasks,
                    });
                }
                let t = EpisodeTotals::of(&run.records, batch.agents.len());
                let metric = |m: Metric| m.of(&t).unwrap_or(f64::NAN);
                outcome.welfare.push(metric(Metric::Welfare));
                outcome.pass.push(metric(Metric::PassAt1));
                outcome.spend.push(buyer_pays(&run.records));
            }
            outcomes[k][index] = Some(outcome);
        }
    }
    let solved: Vec<Solved> = outcomes.iter().map(|o| Solved::new(&game, o)).collect();
    let staged = crate::results::Staged::new(out, "game", &[])?;
    crate::io::write_scenario(staged.path(), &scenario)?;
    write_tables(staged.path(), &spec, &game, &outcomes, &solved)?;
    // Short labels (strategies only); the axis says whose they are.
    let groups: Vec<String> = profiles
        .iter()
        .map(|&i| {
            let profile = game.profile(i);
            spec.players
                .iter()
                .zip(&profile)
                .map(|(p, &s)| p.strategies[s].name.as_str())
                .collect::<Vec<_>>()
                .join(" / ")
        })
        .collect();
    let whose = format!("profile ({})", spec.players.iter().map(|p| p.agent.as_str()).collect::<Vec<_>>().join(" / "));
    let series = spec
        .mechanisms
        .iter()
        .zip(&solved)
        .map(|(m, s)| {
            let bars =
                profiles.iter().map(|&i| s.regrets[i].map_or([f64::NAN; 3], |r| [r.mean, r.low, r.high])).collect();
            (m.clone(), bars)
        })
        .collect();
    let title = format!("Regret of each profile in {} (at most 0: an equilibrium)", scenario.name);
    let unit = format!("{}, best unilateral gain", utility_unit(spec.utility));
    tender_analysis::plot::interval_bars(staged.path(), "regret", [&title, &whose, &unit], &groups, series)?;
    staged.commit()?;
    let mut text = String::new();
    for (k, market) in spec.mechanisms.iter().enumerate() {
        text.push_str(&report(&spec, &game, market, &outcomes[k], &solved[k], scenario.episodes));
    }
    text.push_str(&format!("Written to {}: payoffs.csv, profiles.csv, regret.png.", out.display()));
    Ok(text)
}

/// The scenario with each player (the agent at `players`) playing its strategy of `profile`;
/// the blocks that name the whole pool's agents are left out.
fn with_profile(scenario: &Scenario, spec: &GameSpec, players: &[usize], profile: &[usize]) -> Scenario {
    let mut sub = scenario.clone();
    for ((p, &agent), &s) in spec.players.iter().zip(players).zip(profile) {
        sub.agents[agent].strategy = p.strategies[s].strategy.clone();
    }
    (sub.game, sub.sweep, sub.calibrate) = (None, None, None);
    sub
}

/// The profiles to simulate: every one, or a sample with every unilateral deviation from each
/// (and the truthful profile with its deviations), ascending.
fn profiles(game: &Game, profiles: Profiles, seed: u64) -> Vec<usize> {
    let total = game.profiles();
    let Profiles::Sampled(n) = profiles else { return (0..total).collect() };
    let mut drawn = BTreeSet::from([0]);
    let mut rng = DRAWS.rng(seed, &[]);
    while drawn.len() < (n as usize + 1).min(total) {
        drawn.insert(rng.random_range(0..total));
    }
    let mut all = drawn.clone();
    for &i in &drawn {
        all.extend(game.deviations(&game.profile(i)).into_iter().map(|(_, _, j)| j));
    }
    all.into_iter().collect()
}

/// `4b: inflate / 32b: truthful`: each player's strategy.
fn label(spec: &GameSpec, profile: &[usize]) -> String {
    spec.players
        .iter()
        .zip(profile)
        .map(|(p, &s)| format!("{}: {}", p.agent, p.strategies[s].name))
        .collect::<Vec<_>>()
        .join(" / ")
}

fn utility_unit(u: Utility) -> &'static str {
    match u {
        Utility::Profit => "profit, $ per episode",
        Utility::Revenue => "revenue, $ per episode",
        Utility::WinShare => "share of tasks won",
    }
}

/// One market's game solved.
struct Solved {
    /// Each profile's regret: the best deviation's gain (chosen on the means), paired by
    /// episode, with its 95% interval.
    regrets: Vec<Option<Estimate>>,
    deviations: Vec<Option<(usize, usize)>>,
    nash: Vec<usize>,
    mixed: Option<tender_analysis::game::Mixed>,
}

impl Solved {
    fn new(game: &Game, outcomes: &[Option<Outcome>]) -> Self {
        let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len().max(1) as f64;
        let table: Vec<Option<Vec<f64>>> =
            outcomes.iter().map(|o| o.as_ref().map(|o| o.utilities.iter().map(|u| mean(u)).collect())).collect();
        let mut regrets = vec![None; game.profiles()];
        let mut deviations = vec![None; game.profiles()];
        for index in 0..game.profiles() {
            let Some(r) = game.regret(&table, index) else { continue };
            deviations[index] = r.deviation;
            regrets[index] = Some(match r.deviation {
                None => Estimate { mean: 0.0, low: f64::NAN, high: f64::NAN, n: 0 },
                Some((player, s)) => {
                    let mut other = game.profile(index);
                    other[player] = s;
                    let (here, there) = (&outcomes[index], &outcomes[game.index(&other)]);
                    let (Some(here), Some(there)) = (here, there) else { continue };
                    Estimate::of(there.utilities[player].iter().zip(&here.utilities[player]).map(|(a, b)| a - b))
                }
            });
        }
        let nash = game.pure_nash(&table, 0.0);
        let mixed = game.replicator(&table, tender_analysis::game::REPLICATOR_STEPS);
        Self { regrets, deviations, nash, mixed }
    }
}

fn cell(e: &Estimate, decimals: usize) -> String {
    if e.half_width().is_finite() {
        format!("{:.decimals$} ± {:.decimals$}", e.mean, e.half_width())
    } else {
        format!("{:.decimals$}", e.mean)
    }
}

/// One market's game as markdown.
fn report(
    spec: &GameSpec,
    game: &Game,
    market: &str,
    outcomes: &[Option<Outcome>],
    s: &Solved,
    episodes: u32,
) -> String {
    let decimals = if spec.utility == Utility::WinShare { 3 } else { 2 };
    let players: Vec<&str> = spec.players.iter().map(|p| p.agent.as_str()).collect();
    let mut text = format!(
        "{market}: {} of each player, mean ± 95% interval over {}, common random numbers\n\n\
         | profile | {} | regret | welfare $ | pass@1 % | buyer pays $ |\n|---|{}---|---|---|---|\n",
        utility_unit(spec.utility),
        count(episodes, "episode", "episodes"),
        players.join(" | "),
        "---|".repeat(players.len()),
    );
    for (index, outcome) in outcomes.iter().enumerate() {
        let Some(o) = outcome else { continue };
        let utilities: Vec<String> =
            o.utilities.iter().map(|u| cell(&Estimate::of(u.iter().copied()), decimals)).collect();
        let regret = match (s.regrets[index], s.deviations[index]) {
            (Some(r), Some((p, st))) if r.mean > 0.0 => {
                format!("{} ({} → {})", cell(&r, decimals), players[p], spec.players[p].strategies[st].name)
            }
            (Some(r), _) => format!("{} (Nash)", cell(&r, decimals)),
            (None, _) => "not all deviations run".into(),
        };
        text.push_str(&format!(
            "| {} | {} | {regret} | {} | {} | {} |\n",
            label(spec, &game.profile(index)),
            utilities.join(" | "),
            cell(&Estimate::of(o.welfare.iter().copied()), 2),
            cell(&Estimate::of(o.pass.iter().map(|p| p * 100.0)), 1),
            cell(&Estimate::of(o.spend.iter().copied()), 2),
        ));
    }
    let truthful = label(spec, &game.profile(0));
    text.push('\n');
    match s.regrets[0] {
        Some(r) if r.mean <= 0.0 => {
            text.push_str(&format!("The truthful profile ({truthful}) is a pure Nash equilibrium.\n"));
        }
        Some(r) => {
            let (p, st) = s.deviations[0].unwrap_or((0, 0));
            text.push_str(&format!(
                "The truthful profile ({truthful}) is not an equilibrium: {} gains {} by playing {}.\n",
                players[p],
                cell(&r, decimals),
                spec.players[p].strategies[st].name
            ));
        }
        None => {}
    }
    let at = |index: usize| outcomes[index].as_ref();
    if s.nash.is_empty() {
        text.push_str("No profile simulated is a pure Nash equilibrium.\n");
    }
    for &index in &s.nash {
        let (Some(o), Some(t)) = (at(index), at(0)) else { continue };
        let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len().max(1) as f64;
        text.push_str(&format!(
            "Pure Nash equilibrium {}: welfare ${:.2} against ${:.2} truthful (price of anarchy {:.3}), pass@1 {:.1}% against {:.1}%, the buyer pays ${:.2} against ${:.2}.\n",
            label(spec, &game.profile(index)),
            mean(&o.welfare),
            mean(&t.welfare),
            mean(&t.welfare) / mean(&o.welfare),
            mean(&o.pass) * 100.0,
            mean(&t.pass) * 100.0,
            mean(&o.spend),
            mean(&t.spend),
        ));
    }
    if let Some(m) = &s.mixed {
        let mixes: Vec<String> = spec
            .players
            .iter()
            .zip(&m.probabilities)
            .map(|(p, probs)| {
                let parts: Vec<String> =
                    p.strategies.iter().zip(probs).map(|(st, q)| format!("{} {:.3}", st.name, q)).collect();
                format!("{}: {}", p.agent, parts.join(", "))
            })
            .collect();
        text.push_str(&format!(
            "Mixed equilibrium (replicator dynamics): {}; no pure reply gains more than {:.4}.\n",
            mixes.join("; "),
            m.regret
        ));
    }
    text.push('\n');
    text
}

fn write_tables(
    dir: &Path,
    spec: &GameSpec,
    game: &Game,
    outcomes: &[Vec<Option<Outcome>>],
    solved: &[Solved],
) -> Result<()> {
    let mut payoffs = csv::Writer::from_writer(Vec::new());
    payoffs.write_record(["mechanism", "profile", "player", "strategy", "utility", "ci_low", "ci_high", "episodes"])?;
    let mut profiles = csv::Writer::from_writer(Vec::new());
    profiles.write_record([
        "mechanism",
        "profile",
        "regret",
        "regret_ci_low",
        "regret_ci_high",
        "deviation",
        "nash",
        "welfare_usd",
        "pass_at_1",
        "buyer_pays_usd",
    ])?;
    for ((market, outcomes), s) in spec.mechanisms.iter().zip(outcomes).zip(solved) {
        for (index, o) in outcomes.iter().enumerate() {
            let Some(o) = o else { continue };
            let profile = game.profile(index);
            let name = label(spec, &profile);
            for ((p, u), &st) in spec.players.iter().zip(&o.utilities).zip(&profile) {
                let e = Estimate::of(u.iter().copied());
                payoffs.write_record([
                    market.clone(),
                    name.clone(),
                    p.agent.clone(),
                    p.strategies[st].name.clone(),
                    e.mean.to_string(),
                    e.low.to_string(),
                    e.high.to_string(),
                    e.n.to_string(),
                ])?;
            }
            let r = s.regrets[index];
            let deviation = s.deviations[index]
                .map(|(p, st)| format!("{}: {}", spec.players[p].agent, spec.players[p].strategies[st].name))
                .unwrap_or_default();
            let num = |x: Option<f64>| x.map(|x| x.to_string()).unwrap_or_default();
            let mean = |v: &[f64]| (v.iter().sum::<f64>() / v.len().max(1) as f64).to_string();
            profiles.write_record([
                market.clone(),
                name,
                num(r.map(|r| r.mean)),
                num(r.map(|r| r.low)),
                num(r.map(|r| r.high)),
                deviation,
                s.nash.contains(&index).to_string(),
                mean(&o.welfare),
                mean(&o.pass),
                mean(&o.spend),
            ])?;
        }
    }
    for (name, writer) in [("payoffs.csv", payoffs), ("profiles.csv", profiles)] {
        let bytes = writer.into_inner().context("cannot finish a table")?;
        write_atomic(&dir.join(name), |w| w.write_all(&bytes))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sampled_profiles_include_the_truthful_one_and_every_deviation() {
        let game = Game { strategies: vec![4, 4, 4] };
        let drawn = profiles(&game, Profiles::Sampled(3), 9);
        assert_eq!(drawn, profiles(&game, Profiles::Sampled(3), 9), "seeded");
        assert!(drawn.contains(&0));
        for (_, _, j) in game.deviations(&game.profile(0)) {
            assert!(drawn.contains(&j));
        }
        assert!(drawn.len() < 64 && drawn.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(profiles(&game, Profiles::All, 9).len(), 64);
    }
}
