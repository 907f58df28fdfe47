//! Shapley values: each agent's average marginal contribution to a market's outcome over the
//! orders in which the agents could join it.
//!
//! A coalition is a set of agents (a bit mask over the pool's indices); its value `v(S)` is a
//! metric of the market those agents alone make, and `v(∅) = 0` (no market: nothing solved,
//! nothing spent). Agent `i`'s Shapley value is
//! `φᵢ = Σ_{S ∌ i} |S|! (n − |S| − 1)! / n! · (v(S ∪ {i}) − v(S))`, and the values sum to
//! `v(N)` (efficiency). With few agents every coalition is valued ([`Method::Exact`]); with many,
//! the marginals are averaged over sampled join orders ([`Method::Permutations`]), which keeps
//! efficiency exactly (each order's marginals telescope to `v(N)`) and states its sampling error.

use rand::RngExt;
use tender_agents::streams::Stream;

/// A set of agents: bit `i` is set when agent `i` is in it.
pub type Coalition = u64;

/// Most agents valued over every coalition (`2ⁿ − 1` markets); past it, orders are sampled.
pub const EXACT_LIMIT: usize = 12;

/// Join orders sampled when the pool is too large for every coalition and none are asked for.
pub const DEFAULT_ORDERS: u32 = 200;

/// Most agents a coalition mask holds.
pub const MAX_AGENTS: usize = 63;

/// The join orders of a sampled Shapley value, drawn from their own stream.
const ORDERS: Stream = Stream::named("shapley.orders");

/// How the values are computed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Method {
    /// Every coalition.
    Exact,
    /// The marginals along these join orders, each a permutation of the agents.
    Permutations(Vec<Vec<usize>>),
}

/// The coalition of every agent of a pool of `n`.
#[must_use]
pub fn grand(n: usize) -> Coalition {
    if n >= 64 { u64::MAX } else { (1u64 << n) - 1 }
}

/// The members of `c`, in index order.
#[must_use]
pub fn members(c: Coalition) -> Vec<usize> {
    (0..64).filter(|i| c >> i & 1 == 1).collect()
}

impl Method {
    /// `count` join orders of `n` agents, uniformly drawn (Fisher–Yates) from the stream keyed
    /// by `seed`: the same seed gives the same orders.
    #[must_use]
    pub fn sampled(n: usize, count: u32, seed: u64) -> Self {
        let orders = (0..u64::from(count))
            .map(|k| {
                let mut rng = ORDERS.rng(seed, &[k]);
                let mut order: Vec<usize> = (0..n).collect();
                for i in (1..n).rev() {
                    order.swap(i, rng.random_range(0..=i));
                }
                order
            })
            .collect();
        Self::Permutations(orders)
    }

    /// The non-empty coalitions whose values the method reads, ascending.
    #[must_use]
    pub fn coalitions(&self, n: usize) -> Vec<Coalition> {
        match self {
            Self::Exact => (1..=grand(n)).collect(),
            Self::Permutations(orders) => {
                let mut seen: Vec<Coalition> = orders
                    .iter()
                    .flat_map(|order| {
                        order.iter().scan(0, |c: &mut Coalition, &i| {
                            *c |= 1 << i;
                            Some(*c)
                        })
                    })
                    .collect();
                seen.sort_unstable();
                seen.dedup();
                seen
            }
        }
    }

    /// Each agent's Shapley value under `value` (asked only for the coalitions of
    /// [`Method::coalitions`]; the empty coalition is worth 0).
    #[must_use]
    pub fn values(&self, n: usize, value: &dyn Fn(Coalition) -> f64) -> Vec<f64> {
        let v = |c: Coalition| if c == 0 { 0.0 } else { value(c) };
        match self {
            Self::Exact => {
                let weights = exact_weights(n);
                (0..n)
                    .map(|i| {
                        let bit = 1u64 << i;
                        // Summed in coalition order: the same values give the same bits.
                        (0..=grand(n))
                            .filter(|s| s & bit == 0)
                            .map(|s| weights[s.count_ones() as usize] * (v(s | bit) - v(s)))
                            .sum()
                    })
                    .collect()
            }
            Self::Permutations(orders) => {
                let marginals = marginals(orders, n, &v);
                marginals.iter().map(|m| m.iter().sum::<f64>() / m.len().max(1) as f64).collect()
            }
        }
    }

    /// The standard error of each sampled value (the spread of its marginals over the orders,
    /// over the square root of their number); `None` for exact values.
    #[must_use]
    pub fn sampling_error(&self, n: usize, value: &dyn Fn(Coalition) -> f64) -> Option<Vec<f64>> {
        let Self::Permutations(orders) = self else { return None };
        let v = |c: Coalition| if c == 0 { 0.0 } else { value(c) };
        let errors = marginals(orders, n, &v)
            .iter()
            .map(|m| {
                let k = m.len() as f64;
                if m.len() < 2 {
                    return f64::NAN;
                }
                let mean = m.iter().sum::<f64>() / k;
                (m.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (k - 1.0) / k).sqrt()
            })
            .collect();
        Some(errors)
    }
}

/// `|S|! (n − |S| − 1)! / n!` by the size of `S`.
fn exact_weights(n: usize) -> Vec<f64> {
    let factorial = |k: usize| (1..=k).map(|x| x as f64).product::<f64>();
    (0..n).map(|s| factorial(s) * factorial(n - s - 1) / factorial(n)).collect()
}

/// Each agent's marginal contribution along each order.
fn marginals(orders: &[Vec<usize>], n: usize, v: &dyn Fn(Coalition) -> f64) -> Vec<Vec<f64>> {
    let mut out = vec![Vec::with_capacity(orders.len()); n];
    for order in orders {
        let mut before: Coalition = 0;
        for &i in order {
            let after = before | 1 << i;
            out[i].push(v(after) - v(before));
            before = after;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    /// The glove game: agent 0 holds a left glove, agents 1 and 2 right ones; a pair is worth 1.
    fn gloves(c: Coalition) -> f64 {
        f64::from(u8::from(c & 1 == 1 && c & 0b110 != 0))
    }

    #[test]
    fn the_glove_game_has_its_known_values() {
        let phi = Method::Exact.values(3, &gloves);
        let want = [4.0 / 6.0, 1.0 / 6.0, 1.0 / 6.0];
        for (got, want) in phi.iter().zip(want) {
            assert!((got - want).abs() < 1e-12, "{phi:?}");
        }
    }

    #[test]
    fn an_additive_game_gives_each_agent_its_own_worth_and_a_null_agent_nothing() {
        let worth = [3.0, -1.0, 0.0, 2.5];
        let v = |c: Coalition| members(c).iter().map(|&i| worth[i]).sum::<f64>();
        let phi = Method::Exact.values(4, &v);
        for (got, want) in phi.iter().zip(worth) {
            assert!((got - want).abs() < 1e-12, "{phi:?}");
        }
    }

    #[test]
    fn sampled_orders_replay_and_cover_only_the_coalitions_they_need() {
        let a = Method::sampled(20, 50, 7);
        assert_eq!(a, Method::sampled(20, 50, 7));
        assert_ne!(a, Method::sampled(20, 50, 8));
        let Method::Permutations(orders) = &a else { unreachable!() };
        for order in orders {
            let mut sorted = order.clone();
            sorted.sort_unstable();
            assert_eq!(sorted, (0..20).collect::<Vec<_>>());
        }
        // 50 orders of 20 agents touch at most 50 × 20 coalitions, not 2^20.
        let needed = a.coalitions(20);
        assert!(needed.len() <= 1000 && needed.contains(&grand(20)), "{}", needed.len());
    }

    #[test]
    fn sampled_values_near_the_exact_ones_within_their_stated_error() {
        // A game with interactions: a coalition's worth is the square of its size-weighted sum.
        let v = |c: Coalition| {
            let s: f64 = members(c).iter().map(|&i| 1.0 + i as f64 / 4.0).sum();
            s * s - members(c).len() as f64
        };
        let exact = Method::Exact.values(8, &v);
        let sampled = Method::sampled(8, 4000, 1);
        let values = sampled.values(8, &v);
        let errors = sampled.sampling_error(8, &v).unwrap_or_default();
        for ((e, s), se) in exact.iter().zip(&values).zip(&errors) {
            assert!((e - s).abs() < 4.0 * se + 1e-9, "exact {e}, sampled {s} ± {se}");
        }
        assert!(Method::Exact.sampling_error(8, &v).is_none());
    }

    proptest! {
        /// Efficiency: the values sum to the grand coalition's worth, exactly or sampled.
        #[test]
        fn values_sum_to_the_grand_coalitions_worth(
            n in 1usize..7,
            worths in proptest::collection::vec(-10.0f64..10.0, 128),
            orders in 1u32..30,
        ) {
            let v = |c: Coalition| worths[c as usize % worths.len()];
            let total = v(grand(n));
            let exact: f64 = Method::Exact.values(n, &v).iter().sum();
            prop_assert!((exact - total).abs() < 1e-9, "{} vs {}", exact, total);
            let sampled: f64 = Method::sampled(n, orders, 3).values(n, &v).iter().sum();
            prop_assert!((sampled - total).abs() < 1e-9, "{} vs {}", sampled, total);
        }

        /// Symmetry: two agents who add the same to every coalition get the same value.
        #[test]
        fn symmetric_agents_get_equal_values(worths in proptest::collection::vec(-5.0f64..5.0, 5)) {
            // Agents 0 and 1 are interchangeable: a coalition's worth depends on how many of
            // them it holds, and on the others by index.
            let v = |c: Coalition| {
                let pair = (c & 0b11).count_ones() as usize;
                worths[pair] + members(c >> 2).iter().map(|&i| worths[3 + i % 2]).sum::<f64>()
            };
            let phi = Method::Exact.values(4, &v);
            prop_assert!((phi[0] - phi[1]).abs() < 1e-9, "{:?}", phi);
        }
    }
}
