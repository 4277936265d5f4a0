//! Values kept in reused slots, named by ids that carry the slot's generation: found without
//! hashing, and an id of a value removed never finds the value that reuses its slot. Slots
//! come in chunks that never move (growing copies nothing), and the slot freed last is reused
//! first (its memory is the likeliest to be in cache).

/// Slots per chunk.
const CHUNK: usize = 1024;

/// An id is the slot's generation above its index: 24 bits of index (16.7 million slots at
/// most), 40 of generation — a slot reused 10,000 times a second gives the same id again
/// after three years.
const INDEX_BITS: u32 = 24;
const INDEX_MASK: u64 = (1 << INDEX_BITS) - 1;
const GENERATION_MASK: u64 = (1 << (64 - INDEX_BITS)) - 1;

struct Slot<T> {
    /// Bumped each time the slot is emptied (within 40 bits).
    generation: u64,
    value: Option<T>,
}

pub struct Slab<T> {
    chunks: Vec<Box<[Slot<T>]>>,
    /// Empty slots, the last freed at the end.
    free: Vec<u32>,
    len: usize,
}

impl<T> Default for Slab<T> {
    fn default() -> Slab<T> {
        Slab {
            chunks: Vec::new(),
            free: Vec::new(),
            len: 0,
        }
    }
}

impl<T: std::fmt::Debug> std::fmt::Debug for Slab<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Slab({} of {} slots)",
            self.len,
            self.chunks.len() * CHUNK
        )
    }
}

fn split(id: u64) -> (usize, u64) {
    ((id & INDEX_MASK) as usize, id >> INDEX_BITS)
}

impl<T> Slab<T> {
    /// Keeps `value`; its id (`None` when all 16.7 million slots are taken).
    pub fn insert(&mut self, value: T) -> Option<u64> {
        let index = match self.free.pop() {
            Some(i) => i as usize,
            None => {
                let at = self.chunks.len() * CHUNK;
                if at + CHUNK > 1 << INDEX_BITS {
                    return None;
                }
                self.chunks.push(
                    (0..CHUNK)
                        .map(|_| Slot {
                            generation: 0,
                            value: None,
                        })
                        .collect(),
                );
                // The new chunk's slots, the lowest taken first.
                self.free
                    .extend((at + 1..at + CHUNK).rev().map(|i| i as u32));
                at
            }
        };
        let slot = &mut self.chunks[index / CHUNK][index % CHUNK];
        slot.value = Some(value);
        self.len += 1;
        Some((slot.generation << INDEX_BITS) | index as u64)
    }

    fn slot(&self, id: u64) -> Option<&Slot<T>> {
        let (index, generation) = split(id);
        let slot = self.chunks.get(index / CHUNK)?.get(index % CHUNK)?;
        (slot.generation == generation).then_some(slot)
    }

    pub fn get(&self, id: u64) -> Option<&T> {
        self.slot(id)?.value.as_ref()
    }

    pub fn get_mut(&mut self, id: u64) -> Option<&mut T> {
        let (index, generation) = split(id);
        let slot = self.chunks.get_mut(index / CHUNK)?.get_mut(index % CHUNK)?;
        if slot.generation != generation {
            return None;
        }
        slot.value.as_mut()
    }

    pub fn remove(&mut self, id: u64) -> Option<T> {
        let (index, generation) = split(id);
        let slot = self.chunks.get_mut(index / CHUNK)?.get_mut(index % CHUNK)?;
        if slot.generation != generation {
            return None;
        }
        let value = slot.value.take()?;
        slot.generation = (slot.generation + 1) & GENERATION_MASK;
        self.free.push(index as u32);
        self.len -= 1;
        Some(value)
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_id_finds_its_value_and_never_the_next_one_in_its_slot() {
        let mut s = Slab::default();
        let a = s.insert("a").unwrap();
        let b = s.insert("b").unwrap();
        assert_eq!((s.get(a), s.get(b), s.len()), (Some(&"a"), Some(&"b"), 2));
        assert_eq!(s.remove(a), Some("a"));
        assert_eq!(s.remove(a), None, "removed once");
        let c = s.insert("c").unwrap();
        assert_eq!(
            c & INDEX_MASK,
            a & INDEX_MASK,
            "the slot freed last is reused"
        );
        assert_ne!(c, a);
        assert_eq!((s.get(a), s.get(c)), (None, Some(&"c")));
        *s.get_mut(c).unwrap() = "d";
        assert_eq!(s.get(c), Some(&"d"));
        assert!(s.get_mut(a).is_none() && s.get(u64::MAX).is_none());
        // Past one chunk, ids stay apart and everything is found.
        let ids: Vec<u64> = (0..3 * CHUNK).map(|_| s.insert("x").unwrap()).collect();
        assert_eq!(s.len(), 2 + 3 * CHUNK);
        assert!(ids.iter().all(|&i| s.get(i) == Some(&"x")));
        for &i in &ids {
            s.remove(i);
        }
        assert_eq!(s.len(), 2);
        assert!(!s.is_empty());
    }
}
