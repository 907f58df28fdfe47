//! Normal-form games from simulated payoffs: profiles, regrets, pure Nash equilibria and an
//! approximate mixed equilibrium by replicator dynamics.
//!
//! A game has `n` players, player `i` with `k_i` strategies; a profile (one strategy per player)
//! is numbered in mixed radix with the first player varying slowest. A payoff table holds, per
//! profile, each player's utility (`None` for a profile not simulated, when profiles are
//! sampled). A profile's regret is the most any player gains by changing its own strategy alone;
//! a pure Nash equilibrium has regret at most 0.

/// Steps of replicator dynamics `tender game` runs for a mixed equilibrium.
pub const REPLICATOR_STEPS: usize = 20_000;

/// The shape of a game: each player's number of strategies.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Game {
    pub strategies: Vec<usize>,
}

/// A profile's regret and the deviation that attains it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Regret {
    /// The largest gain of a unilateral deviation (0 or less: no player gains by deviating).
    pub gain: f64,
    /// `(player, strategy)` of the best deviation; `None` when no player has another strategy.
    pub deviation: Option<(usize, usize)>,
}

/// A mixed strategy per player and how far it is from an equilibrium.
#[derive(Clone, Debug, PartialEq)]
pub struct Mixed {
    /// `probabilities[player][strategy]`.
    pub probabilities: Vec<Vec<f64>>,
    /// The most any player gains by a pure strategy against the others' mixes (ε of an
    /// ε-equilibrium; 0 for an exact one).
    pub regret: f64,
}

impl Game {
    /// How many profiles the game has.
    #[must_use]
    pub fn profiles(&self) -> usize {
        self.strategies.iter().product()
    }

    /// The number of `profile`.
    #[must_use]
    pub fn index(&self, profile: &[usize]) -> usize {
        profile.iter().zip(&self.strategies).fold(0, |acc, (&s, &k)| acc * k + s)
    }

    /// The profile numbered `index`.
    #[must_use]
    pub fn profile(&self, mut index: usize) -> Vec<usize> {
        let mut out = vec![0; self.strategies.len()];
        for (slot, &k) in out.iter_mut().zip(&self.strategies).rev() {
            *slot = index % k;
            index /= k;
        }
        out
    }

    /// Every profile that differs from `profile` in one player's strategy, as `(player,
    /// strategy, profile number)`.
    #[must_use]
    pub fn deviations(&self, profile: &[usize]) -> Vec<(usize, usize, usize)> {
        let mut out = Vec::new();
        for (player, &k) in self.strategies.iter().enumerate() {
            for s in (0..k).filter(|&s| s != profile[player]) {
                let mut other = profile.to_vec();
                other[player] = s;
                out.push((player, s, self.index(&other)));
            }
        }
        out
    }

    /// The regret of profile `index`, or `None` when it or a deviation from it is missing.
    #[must_use]
    pub fn regret(&self, table: &[Option<Vec<f64>>], index: usize) -> Option<Regret> {
        let here = table.get(index)?.as_ref()?;
        let mut best = Regret { gain: f64::NEG_INFINITY, deviation: None };
        for (player, s, other) in self.deviations(&self.profile(index)) {
            let gain = table.get(other)?.as_ref()?[player] - here[player];
            if gain > best.gain {
                best = Regret { gain, deviation: Some((player, s)) };
            }
        }
        if best.deviation.is_none() {
            best.gain = 0.0;
        }
        Some(best)
    }

    /// The pure Nash equilibria: profiles whose regret is known and at most `tolerance`.
    #[must_use]
    pub fn pure_nash(&self, table: &[Option<Vec<f64>>], tolerance: f64) -> Vec<usize> {
        (0..self.profiles()).filter(|&i| self.regret(table, i).is_some_and(|r| r.gain <= tolerance)).collect()
    }

    /// Player `player`'s expected utility from its strategy `s` when the others play
    /// `mix`; `None` when a profile it needs is missing.
    #[must_use]
    pub fn expected(&self, table: &[Option<Vec<f64>>], mix: &[Vec<f64>], player: usize, s: usize) -> Option<f64> {
        let mut total = 0.0;
        for (index, payoffs) in table.iter().enumerate().take(self.profiles()) {
            let profile = self.profile(index);
            if profile[player] != s {
                continue;
            }
            let weight: f64 =
                profile.iter().enumerate().filter(|&(p, _)| p != player).map(|(p, &t)| mix[p][t]).product();
            if weight > 0.0 {
                total += weight * payoffs.as_ref()?[player];
            }
        }
        Some(total)
    }

    /// How much the best pure reply gains against `mix`, over all players.
    #[must_use]
    pub fn mixed_regret(&self, table: &[Option<Vec<f64>>], mix: &[Vec<f64>]) -> Option<f64> {
        let mut worst: f64 = 0.0;
        for (player, &k) in self.strategies.iter().enumerate() {
            let values: Vec<f64> = (0..k).map(|s| self.expected(table, mix, player, s)).collect::<Option<_>>()?;
            let current: f64 = values.iter().zip(&mix[player]).map(|(v, p)| v * p).sum();
            let best = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            worst = worst.max(best - current);
        }
        Some(worst)
    }

    /// An approximate mixed equilibrium by discrete replicator dynamics from the uniform mix:
    /// each strategy's probability grows with how much better than the player's average it
    /// does (payoffs scaled to [0, 1]), and the returned mix is the time average of the last
    /// half of `steps`, which settles where the dynamics cycle (matching pennies). A strictly
    /// dominated strategy always does worse than the average, so its weight decays to nothing.
    /// `None` unless every profile is in the table.
    #[must_use]
    pub fn replicator(&self, table: &[Option<Vec<f64>>], steps: usize) -> Option<Mixed> {
        if table.len() != self.profiles() || table.iter().any(Option::is_none) {
            return None;
        }
        let all = table.iter().flatten().flatten().copied();
        let (lo, hi) = all.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| (lo.min(v), hi.max(v)));
        let span = if hi > lo { hi - lo } else { 1.0 };
        let mut mix: Vec<Vec<f64>> = self.strategies.iter().map(|&k| vec![1.0 / k as f64; k]).collect();
        let mut average: Vec<Vec<f64>> = self.strategies.iter().map(|&k| vec![0.0; k]).collect();
        let kept = steps.div_ceil(2).max(1);
        for step in 0..steps.max(1) {
            let mut next = mix.clone();
            for (player, &k) in self.strategies.iter().enumerate() {
                let values: Vec<f64> = (0..k)
                    .map(|s| self.expected(table, &mix, player, s).map(|v| (v - lo) / span))
                    .collect::<Option<_>>()?;
                let mean: f64 = values.iter().zip(&mix[player]).map(|(v, p)| v * p).sum();
                for s in 0..k {
                    next[player][s] = mix[player][s] * (1.0 + values[s] - mean);
                }
                let total: f64 = next[player].iter().sum();
                next[player].iter_mut().for_each(|p| *p /= total);
            }
            mix = next;
            if step + kept >= steps.max(1) {
                for (a, m) in average.iter_mut().zip(&mix) {
                    a.iter_mut().zip(m).for_each(|(a, p)| *a += p / kept as f64);
                }
            }
        }
        let regret = self.mixed_regret(table, &average)?;
        Some(Mixed { probabilities: average, regret })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(rows: &[[f64; 2]]) -> Vec<Option<Vec<f64>>> {
        rows.iter().map(|r| Some(r.to_vec())).collect()
    }

    /// Profiles of a 2x2 game in order (0,0), (0,1), (1,0), (1,1).
    const PRISONERS: [[f64; 2]; 4] = [[-1.0, -1.0], [-3.0, 0.0], [0.0, -3.0], [-2.0, -2.0]];

    #[test]
    fn profiles_are_numbered_with_the_first_player_slowest() {
        let g = Game { strategies: vec![2, 3, 2] };
        assert_eq!(g.profiles(), 12);
        for i in 0..12 {
            assert_eq!(g.index(&g.profile(i)), i);
        }
        assert_eq!(g.profile(7), vec![1, 0, 1]);
        assert_eq!(g.deviations(&[1, 0, 1]).len(), 1 + 2 + 1);
    }

    #[test]
    fn the_prisoners_dilemma_has_one_equilibrium_both_defect() {
        let g = Game { strategies: vec![2, 2] };
        let t = table(&PRISONERS);
        assert_eq!(g.pure_nash(&t, 0.0), vec![3]);
        // Cooperating together is not stable: each gains 1 by defecting.
        assert_eq!(g.regret(&t, 0), Some(Regret { gain: 1.0, deviation: Some((0, 1)) }));
        let mixed = g.replicator(&t, 4000).expect("full table");
        assert!(mixed.probabilities.iter().all(|p| p[1] > 0.99), "{mixed:?}");
    }

    #[test]
    fn a_coordination_game_has_both_pure_equilibria() {
        let g = Game { strategies: vec![2, 2] };
        let t = table(&[[2.0, 2.0], [0.0, 0.0], [0.0, 0.0], [1.0, 1.0]]);
        assert_eq!(g.pure_nash(&t, 0.0), vec![0, 3]);
    }

    #[test]
    fn matching_pennies_has_no_pure_equilibrium_and_mixes_evenly() {
        let g = Game { strategies: vec![2, 2] };
        let t = table(&[[1.0, -1.0], [-1.0, 1.0], [-1.0, 1.0], [1.0, -1.0]]);
        assert!(g.pure_nash(&t, 0.0).is_empty());
        let mixed = g.replicator(&t, 20_000).expect("full table");
        for p in &mixed.probabilities {
            assert!((p[0] - 0.5).abs() < 0.05, "{mixed:?}");
        }
        assert!(mixed.regret < 0.1, "{mixed:?}");
    }

    #[test]
    fn a_dominated_strategy_is_never_in_the_support() {
        // Player 0's strategy 2 is strictly dominated by strategy 0; the rest is rock-paper-like.
        let g = Game { strategies: vec![3, 2] };
        let t = table(&[[3.0, 1.0], [0.0, 2.0], [1.0, 0.0], [2.0, 3.0], [2.5, 0.5], [-1.0, 1.0]]);
        let mixed = g.replicator(&t, 20_000).expect("full table");
        assert!(mixed.probabilities[0][2] < 1e-3, "{mixed:?}");
        assert!(g.pure_nash(&t, 0.0).iter().all(|&i| g.profile(i)[0] != 2));
    }

    #[test]
    fn missing_profiles_give_no_regret_and_no_mix() {
        let g = Game { strategies: vec![2, 2] };
        let mut t = table(&PRISONERS);
        t[1] = None;
        assert!(g.regret(&t, 0).is_none(), "a deviation is missing");
        assert!(g.regret(&t, 2).is_some(), "(1, 0) deviates to (0, 0) and (1, 1)");
        assert!(g.replicator(&t, 10).is_none());
    }
}
