//! The runtime's hash maps on a call's path. Keyed by the runtime's own ids (calls,
//! transactions, port numbers): a multiplicative hash ([`IdMap`]), safe only for keys the
//! runtime hands out itself. Keyed by what a peer chose (branches, Call-IDs, tags, source
//! addresses): std's seeded SipHash ([`PeerMap`]). These maps live as long as the server and
//! peers fill them, so their hash must resist peers that study the server's timing; the fast
//! seeded hashes (foldhash, hashbrown's default) say they do not, though one cut ~4,000 of a
//! call's ~130,000 instructions.

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

/// A map from an id the runtime assigned (or a port number it bound).
pub type IdMap<V, K = u64> = HashMap<K, V, BuildHasherDefault<IdHasher>>;

/// A map from a key a peer chose.
pub type PeerMap<K, V> = HashMap<K, V>;

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
