//! Content deduplication of chunk slots, as pure logic (no HDF5): the index of a
//! dataset's stored chunks by hash, built from its hash-table rows, and the
//! assignment of a commit's chunks to slots.
//!
//! The model: `raw_data` is a sequence of slots of `c0` rows each (`c0` = the chunk
//! shape's first axis); the hash table has one row per slot in use, `[0,
//! largest_index)`, naming the chunk's hash and the rows `[start, stop)` it fills.
//! Invariants:
//! - a hash known to the index is never stored again: its chunks map to the slot the
//!   index names (the first row of the table with that hash);
//! - every distinct unknown hash of a commit gets exactly one new slot, in the order
//!   the commit meets them, from the first free slot on, consecutively;
//! - a slot's first row is a multiple of `c0`, and `stop - start` is the chunk's
//!   extent along the first axis (at most `c0`).

use std::collections::HashMap;

use crate::h5::HashRow;

/// A dataset's stored chunks by hash: the first `raw_data` row of the slot. Keys are
/// content hashes, so the map's own hash needs only to be fast and seeded (foldhash,
/// hashbrown's default) rather than SipHash; the first commit after an open builds
/// it from every row of the hash table.
pub(crate) type HashIndex = hashbrown::HashMap<[u8; 32], u64>;

/// Why a hash-table row cannot be indexed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum BadRow {
    /// A negative start, a stop before its start, or a start that is not a slot's
    /// first row.
    Malformed { start: i64, stop: i64 },
    /// The row reaches past the rows `largest_index` slots hold.
    PastLargestIndex,
}

/// Indexes hash-table rows (those below `largest_index`) by hash; the first row of a
/// hash wins, as in Python versioned-hdf5.
pub(crate) fn index_rows(
    rows: &[HashRow],
    largest_index: u64,
    c0: u64,
) -> Result<HashIndex, BadRow> {
    let mut index = HashIndex::with_capacity(rows.len());
    for r in rows {
        if r.start < 0 || r.stop < r.start || c0 == 0 || !(r.start as u64).is_multiple_of(c0) {
            return Err(BadRow::Malformed {
                start: r.start,
                stop: r.stop,
            });
        }
        if r.stop as u64 > largest_index.saturating_mul(c0) {
            return Err(BadRow::PastLargestIndex);
        }
        index.entry(r.hash).or_insert(r.start as u64);
    }
    Ok(index)
}

/// The slots a commit assigns to one dataset's chunks, from the first free slot on.
#[derive(Clone, Debug)]
pub(crate) struct SlotAssigner {
    /// Rows per slot.
    c0: u64,
    /// The next free slot.
    next: u64,
    /// Hashes given new slots so far, to their first row.
    fresh: HashMap<[u8; 32], u64>,
    /// Hash-table rows of the new slots, in slot order.
    rows: Vec<HashRow>,
}

/// Where [`SlotAssigner::assign`] put a chunk.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Assigned {
    /// Its content is stored already, at this row (in the file, or earlier in this
    /// commit).
    Stored(u64),
    /// Its content gets a new slot starting at this row: the caller writes it.
    New(u64),
}

impl Assigned {
    /// The first row of the chunk's slot.
    pub(crate) fn row(self) -> u64 {
        match self {
            Assigned::Stored(r) | Assigned::New(r) => r,
        }
    }
}

impl SlotAssigner {
    /// An assigner whose first new slot is `first_free`, for slots of `c0` rows.
    pub(crate) fn new(first_free: u64, c0: u64) -> SlotAssigner {
        SlotAssigner {
            c0,
            next: first_free,
            fresh: HashMap::new(),
            rows: Vec::new(),
        }
    }

    /// Assigns a chunk of content `hash`, `len` rows long along the first axis.
    pub(crate) fn assign(&mut self, known: &HashIndex, hash: [u8; 32], len: u64) -> Assigned {
        if let Some(&r) = known.get(&hash).or_else(|| self.fresh.get(&hash)) {
            return Assigned::Stored(r);
        }
        let r = self.next * self.c0;
        self.next += 1;
        self.fresh.insert(hash, r);
        self.rows.push(HashRow {
            hash,
            start: r as i64,
            stop: (r + len) as i64,
        });
        Assigned::New(r)
    }

    /// The next free slot.
    pub(crate) fn next_slot(&self) -> u64 {
        self.next
    }

    /// The hash-table rows of the new slots, in slot order.
    pub(crate) fn into_rows(self) -> Vec<HashRow> {
        self.rows
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn h(b: u8) -> [u8; 32] {
        [b; 32]
    }

    proptest! {
        /// Equal contents share a slot, known contents are never stored again, and
        /// each distinct new content gets one new slot, consecutively from the first
        /// free one.
        #[test]
        fn assignment_deduplicates_and_appends_consecutively(
            known in proptest::collection::btree_set(0u8..16, 0..8),
            chunks in proptest::collection::vec((0u8..32, 1u64..=10), 0..64),
            first_free in 0u64..5,
        ) {
            let c0 = 10;
            let index: HashIndex = known.iter().enumerate().map(|(i, &b)| (h(b), i as u64 * c0)).collect();
            let first_free = first_free.max(known.len() as u64);
            let mut a = SlotAssigner::new(first_free, c0);
            let mut seen: HashMap<u8, u64> = HashMap::new();
            let mut new_order = Vec::new();
            for &(b, len) in &chunks {
                let got = a.assign(&index, h(b), len);
                if let Some(&r) = index.get(&h(b)) {
                    prop_assert_eq!(got, Assigned::Stored(r));
                } else if let Some(&r) = seen.get(&b) {
                    prop_assert_eq!(got, Assigned::Stored(r));
                } else {
                    prop_assert_eq!(got, Assigned::New((first_free + new_order.len() as u64) * c0));
                    seen.insert(b, got.row());
                    new_order.push((b, len));
                }
                prop_assert_eq!(got.row() % c0, 0);
            }
            prop_assert_eq!(a.next_slot(), first_free + new_order.len() as u64);
            let rows = a.into_rows();
            prop_assert_eq!(rows.len(), new_order.len());
            for (i, (r, (b, len))) in rows.iter().zip(new_order).enumerate() {
                let start = (first_free + i as u64) * c0;
                prop_assert_eq!(r.hash, h(b));
                prop_assert_eq!((r.start, r.stop), (start as i64, (start + len) as i64));
            }
        }

        /// Indexing keeps the first row of each hash and refuses rows past
        /// `largest_index` or off a slot boundary.
        #[test]
        fn indexing_keeps_first_rows_and_refuses_bad_ones(
            rows in proptest::collection::vec((0u8..8, 0i64..6, 0i64..=10), 0..24),
            largest_index in 0u64..8,
        ) {
            let c0 = 10u64;
            let table: Vec<HashRow> = rows
                .iter()
                .map(|&(b, slot, len)| HashRow { hash: h(b), start: slot * 10, stop: slot * 10 + len })
                .collect();
            let got = index_rows(&table, largest_index, c0);
            let past = table.iter().any(|r| r.stop as u64 > largest_index * c0);
            match got {
                Err(BadRow::PastLargestIndex) => prop_assert!(past),
                Err(e) => prop_assert!(false, "unexpected {:?}", e),
                Ok(index) => {
                    prop_assert!(!past);
                    for (b, start) in index {
                        let first = table.iter().find(|r| r.hash == b).map(|r| r.start as u64);
                        prop_assert_eq!(Some(start), first);
                    }
                }
            }
            let off = [HashRow { hash: h(0), start: 5, stop: 6 }];
            prop_assert_eq!(index_rows(&off, 8, c0), Err(BadRow::Malformed { start: 5, stop: 6 }));
        }
    }
}
