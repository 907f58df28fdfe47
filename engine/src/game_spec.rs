//! A game as a scenario file writes it (`game:`): the players (agents of the pool), each
//! one's strategies, what each wants, and which profiles `tender game` simulates.

use serde::{Deserialize, Serialize};
use tender_agents::strategy::Strategy;
use tender_agents::validate::Checker;

/// Most profiles a game simulates.
pub const MAX_PROFILES: usize = 4096;

/// Most profiles a game may have, sampled or not: its payoff table is held whole.
pub const MAX_GAME: usize = 65_536;

tender_agents::documented! {
    /// The game a scenario's agents play in its markets (`game: (...)`).
    #[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct GameSpec {
        /// The markets it is played in, by table name; each is solved on its own.
        pub mechanisms: Vec<String>, allowed "1 to 64 mechanisms of the scenario";
        /// The players (their fields below); every other agent of the pool plays as the scenario
        /// says.
        pub players: Vec<Player>, allowed "1 player to one per agent, each agent once";
        /// What each player wants, per episode: what it is paid less what producing the tokens
        /// costs it (its `unit_cost`, or its prices), what it is paid, or its share of the tasks.
        #[serde(default)]
        pub utility: Utility, shown "`Profit`", allowed "`Profit`, `Revenue`, `WinShare`";
        /// Which profiles are simulated: every one, or this many drawn uniformly (without
        /// replacement, from the scenario's seed), each with every unilateral deviation from it,
        /// so each drawn profile's regret is exact.
        #[serde(default)]
        pub profiles: Profiles, shown "`All`", allowed "`All` (at most 4,096 profiles), `Sampled(n)` (games of at most 65,536)";
    }
}

tender_agents::documented! {
    /// One player: an agent of the pool and the strategies it may play, the reference (truthful)
    /// one first.
    #[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct Player {
        /// The agent that plays.
        pub agent: String, allowed "an agent of the pool";
        /// Its strategies, each `(name, strategy)`: the name tables show it by, and an agent's
        /// `strategy: (...)` (truthful when left out). The first is the reference the equilibria
        /// are compared with.
        pub strategies: Vec<NamedStrategy>, allowed "1 to 64, names unique";
    }
}

/// A strategy with the name tables show it by.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NamedStrategy {
    pub name: String,
    #[serde(default)]
    pub strategy: Strategy,
}

/// What a player maximises, per episode.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub enum Utility {
    /// What it is paid for the tasks it executes, less what producing their tokens costs it
    /// (its `unit_cost`, or its prices), dollars.
    #[default]
    Profit,
    /// What it is paid for the tasks it executes, dollars.
    Revenue,
    /// Its share of the tasks executed.
    WinShare,
}

/// Which profiles a game simulates.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub enum Profiles {
    /// Every profile.
    #[default]
    All,
    /// This many profiles drawn uniformly (without replacement, from the scenario's seed),
    /// each with every unilateral deviation from it, so each drawn profile's regret is exact.
    Sampled(u32),
}

impl GameSpec {
    /// The number of strategies of each player.
    #[must_use]
    pub fn shape(&self) -> Vec<usize> {
        self.players.iter().map(|p| p.strategies.len()).collect()
    }

    /// Check the game against the pool's agents and the scenario's markets; each error names
    /// its field.
    pub fn check(&self, c: &mut Checker, agents: &[&str], markets: &[String]) {
        c.count("mechanisms", self.mechanisms.len() as u64, 1, 64);
        for (i, m) in self.mechanisms.iter().enumerate() {
            c.require(
                markets.contains(m),
                &format!("mechanisms[{i}]"),
                format!("{m:?}"),
                &format!(
                    "must name a mechanism of the scenario by its table name: {}",
                    markets.iter().map(|m| format!("{m:?}")).collect::<Vec<_>>().join(", ")
                ),
            );
        }
        c.count("players", self.players.len() as u64, 1, agents.len() as u64);
        for (i, p) in self.players.iter().enumerate() {
            c.within(format!("players[{i}]"), |c| {
                c.require(
                    agents.contains(&p.agent.as_str()),
                    "agent",
                    format!("{:?}", p.agent),
                    "must name an agent of the pool",
                );
                c.require(
                    !self.players[..i].iter().any(|q| q.agent == p.agent),
                    "agent",
                    format!("{:?}", p.agent),
                    "must be another player's agent than the players before",
                );
                c.count("strategies", p.strategies.len() as u64, 1, 64);
                for (j, s) in p.strategies.iter().enumerate() {
                    c.within(format!("strategies[{j}]"), |c| {
                        c.require(
                            !s.name.trim().is_empty() && !p.strategies[..j].iter().any(|t| t.name == s.name),
                            "name",
                            format!("{:?}", s.name),
                            "must be a name no other strategy of the player has",
                        );
                        c.within("strategy", |c| s.strategy.check(c, agents, &p.agent));
                    });
                }
            });
        }
        let total = self.shape().iter().try_fold(1usize, |acc, &k| acc.checked_mul(k.max(1)));
        match self.profiles {
            Profiles::All => c.require(
                total.is_some_and(|t| t <= MAX_PROFILES),
                "profiles",
                "All",
                &format!(
                    "simulates every profile, and this game has {}: at most {MAX_PROFILES}; sample them \
                     (`Sampled(100)`)",
                    total.map_or("too many".to_string(), |t| t.to_string())
                ),
            ),
            Profiles::Sampled(n) => {
                c.count("profiles.Sampled", n.into(), 1, MAX_PROFILES as u64);
                c.require(
                    total.is_some_and(|t| t <= MAX_GAME),
                    "players",
                    format!("{} players", self.players.len()),
                    &format!("make a game of at most {MAX_GAME} profiles (the product of the strategies' counts)"),
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The limits the `profiles` field's docs state are the code's.
    #[test]
    fn the_profiles_field_states_the_limits() {
        let thousands = |n: usize| format!("{},{:03}", n / 1000, n % 1000);
        let profiles = GameSpec::FIELDS.iter().find(|f| f.name == "profiles").expect("profiles");
        let allowed = profiles.allowed.cell();
        assert!(allowed.contains(&thousands(MAX_PROFILES)) && allowed.contains(&thousands(MAX_GAME)), "{allowed}");
    }
}
