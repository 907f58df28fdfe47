//! A per-thread memo for the stand-ins' pure draws.
//!
//! A stand-in draws an agent's latent fit to a task, and a plan's noise, from named streams: a
//! pure function of the key. Several cells read the same draw (the plan, the jury's panel, the
//! refinement, the execution), so each is kept here once drawn. The memo is direct-mapped (a
//! slot per key hash; a collision evicts) and holds the whole key, so a hit returns exactly what
//! the draw would; it never changes a result, only how often a draw is made. Each thread has its
//! own, so episodes on different threads share nothing.

use std::cell::RefCell;
use std::thread::LocalKey;

/// Slots per memo. A draw is read again while its task is in the market (the plan, the jury,
/// the refinement, the execution), so a few tasks' keys are all a memo must hold; more slots
/// only spread those over more cache lines (4,096 slots took 2% longer an episode than 512).
const SLOTS: usize = 1 << 9;

/// The full key of a draw: the source, the episode seed, and the draw's identities.
pub(crate) type Key = [u64; 4];

/// One thread's memo of values of type `V`.
pub(crate) struct Memo<V> {
    slots: Vec<Option<(Key, V)>>,
}

impl<V: Copy> Memo<V> {
    /// An empty memo; its slots are allocated on first use, so that a `const` thread-local
    /// needs no lazy initialisation on every access.
    pub(crate) const fn new() -> Self {
        Self { slots: Vec::new() }
    }
}

/// A slot for the key: one multiply of its parts folded together (Fibonacci hashing); the
/// parts that vary most (task, agent) land in the high bits it keeps.
fn slot(key: &Key) -> usize {
    let folded = key[0] ^ key[1] ^ key[2].rotate_left(29) ^ key[3].rotate_left(43);
    (folded.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> (64 - SLOTS.trailing_zeros())) as usize
}

/// The value of `key` from `memo`, drawn by `draw` on a miss.
pub(crate) fn get_or_draw<V: Copy + 'static>(
    memo: &'static LocalKey<RefCell<Memo<V>>>,
    key: Key,
    draw: impl FnOnce() -> V,
) -> V {
    let at = slot(&key);
    let hit = memo.with_borrow(|m| match m.slots.get(at) {
        Some(&Some((k, v))) if k == key => Some(v),
        _ => None,
    });
    hit.unwrap_or_else(|| {
        // Drawn outside the borrow: a draw may itself read another memo.
        let v = draw();
        memo.with_borrow_mut(|m| {
            if m.slots.is_empty() {
                m.slots = vec![None; SLOTS];
            }
            m.slots[at] = Some((key, v));
        });
        v
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    thread_local! {
        static SQUARES: RefCell<Memo<u64>> = const { RefCell::new(Memo::new()) };
    }

    #[test]
    fn a_memo_returns_what_the_draw_gives_and_draws_once_per_key() {
        let draws = std::cell::Cell::new(0);
        let square = |x: u64| {
            get_or_draw(&SQUARES, [1, 2, x, 0], || {
                draws.set(draws.get() + 1);
                x * x
            })
        };
        for x in 0..100 {
            assert_eq!(square(x), x * x);
        }
        let first = draws.get();
        for x in 0..100 {
            assert_eq!(square(x), x * x);
        }
        assert!(draws.get() < first + 5, "most keys stay cached");
        // Keys that collide evict each other but never mix up values.
        for x in 0..(4 * SLOTS as u64) {
            assert_eq!(square(x), x * x);
        }
    }
}
