//! Maps keyed by the runtime's own sequential ids (calls, transactions): a multiplicative hash
//! instead of SipHash. Safe only for keys the runtime hands out itself — anything a peer
//! chooses (branches, Call-IDs) stays in maps with the standard, seeded hasher.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

#[derive(Default, Clone, Copy)]
pub struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u64(u64::from(b));
        }
    }

    fn write_u64(&mut self, n: u64) {
        // Fibonacci hashing: spreads sequential ids over the high bits hashbrown uses.
        self.0 = (self.0.rotate_left(5) ^ n).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

/// A map from an id the runtime assigned.
pub type IdMap<V> = HashMap<u64, V, BuildHasherDefault<IdHasher>>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sequential_ids_spread_and_round_trip() {
        let mut m: IdMap<u64> = IdMap::default();
        for i in 0..10_000u64 {
            m.insert(i, i * 2);
        }
        assert!((0..10_000u64).all(|i| m[&i] == i * 2));
        let mut h = IdHasher::default();
        h.write_u64(1);
        let a = h.finish();
        let mut h = IdHasher::default();
        h.write_u64(2);
        assert_ne!(
            a >> 57,
            h.finish() >> 57,
            "neighbours land in different groups"
        );
    }
}
