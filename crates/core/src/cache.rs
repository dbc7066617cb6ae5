//! The read cache of decoded `raw_data` chunks, one per open file.
//!
//! A slot of `raw_data` that a committed version maps never changes while the file is
//! open: commits only append slots past every slot `raw_data` holds (see
//! `stage::store_chunks`), and versions are immutable. So a slot read once (decoded
//! and edge-trimmed) can serve every later read of it, from any version that maps it
//! and from staged versions built over them, without libhdf5.
//!
//! Invariants:
//! - entries are keyed by (storage id, first row); the id stands for one `raw_data`
//!   object, so a `raw_data` that is deleted and created again at the same path
//!   ([`ChunkCache::forget_storage`]) never answers with the old object's chunks;
//! - rows a commit is about to write are dropped first ([`ChunkCache::forget_rows`]),
//!   whether or not that commit succeeds, so no row is served from before a write;
//! - the total weight (chunk bytes plus a small per-entry overhead) stays within the
//!   capacity; eviction is quick_cache's (CLOCK-Pro-like: chunks read once go before
//!   chunks read again);
//! - variable-length strings are not cached: their chunks are decoded into each
//!   read's own string pool;
//! - beside the chunks, the cache keeps where each storage's stored slots lie in the
//!   file ([`SlotIndex`], for reads outside libhdf5, docs/design/012), dropped by the
//!   same calls: `forget_rows` drops the locations of rows about to be written,
//!   `forget_storage` and `clear` all of a storage's. A capacity of 0 keeps them (they
//!   are small: 24 bytes a slot).

use std::collections::HashMap;
use std::sync::Arc;

use quick_cache::unsync::Cache;
use quick_cache::{DefaultHashBuilder, Weighter};

use crate::codec::Stage;
use crate::h5::StoredChunk;

/// A map keyed by strings that reads look up on every call: hashed with
/// quick_cache's fast hasher instead of SipHash (keys are paths, not hostile input
/// an attacker controls at scale).
pub(crate) type FastMap<K, V> = HashMap<K, V, DefaultHashBuilder>;

/// Default capacity of a file's read cache, in bytes.
pub const DEFAULT_READ_CACHE_BYTES: u64 = 64 << 20;

/// Bytes an entry costs beyond its chunk's bytes (key, extent, bookkeeping).
const ENTRY_OVERHEAD: u64 = 96;

/// One cached chunk: its edge-trimmed extent and its elements (C order).
#[derive(Clone)]
struct Slot {
    ext: Box<[u64]>,
    bytes: Arc<Vec<u8>>,
}

#[derive(Clone)]
struct SlotWeight;

impl Weighter<(u32, u64), Slot> for SlotWeight {
    fn weight(&self, _key: &(u32, u64), slot: &Slot) -> u64 {
        slot.bytes.len() as u64 + slot.ext.len() as u64 * 8 + ENTRY_OVERHEAD
    }
}

/// What the cache knows of one `raw_data` path.
struct Storage {
    id: u32,
    /// One past the last row any entry of this storage was stored for (an upper bound:
    /// evictions do not lower it).
    end: u64,
}

/// Where the stored slots of one `raw_data` lie in the file, as its chunk index said.
/// A committed slot never moves while the file is open (see the module docs), so this
/// is read once and extended as commits append slots.
#[derive(Debug)]
pub(crate) struct SlotIndex {
    /// Rows per slot (the chunk's first axis).
    pub(crate) chunk_rows: u64,
    /// Whether its stored chunks can be read and decoded outside libhdf5: elements
    /// stored as their bytes are read, filters that `codec` undoes, and HDF5
    /// addresses that are file offsets. When not, `slots` is empty.
    pub(crate) direct: bool,
    /// The `raw_data` filter pipeline, in order.
    pub(crate) pipeline: Vec<Stage>,
    /// Slot `i` (rows `i * chunk_rows ..`): where it is stored, `None` when it is not.
    pub(crate) slots: Vec<Option<StoredChunk>>,
}

/// Decoded chunks of `raw_data` slots, bounded by bytes. See the module docs.
pub(crate) struct ChunkCache {
    chunks: Cache<(u32, u64), Slot, SlotWeight>,
    storages: FastMap<String, Storage>,
    locations: FastMap<String, Arc<SlotIndex>>,
    next_id: u32,
    capacity: u64,
}

impl ChunkCache {
    /// An empty cache holding up to `capacity` bytes (0: caches nothing).
    pub(crate) fn new(capacity: u64) -> ChunkCache {
        ChunkCache {
            chunks: Self::make(capacity),
            storages: FastMap::default(),
            locations: FastMap::default(),
            next_id: 0,
            capacity,
        }
    }

    fn make(capacity: u64) -> Cache<(u32, u64), Slot, SlotWeight> {
        // Sized for chunks of 32 KiB on average; the map grows if they are smaller.
        let items = (capacity / (32 << 10)).clamp(16, 1 << 16) as usize;
        Cache::with_weighter(items, capacity.max(1), SlotWeight)
    }

    /// The cached chunk stored at `row` of `raw_path`, if it was read with extent `ext`.
    pub(crate) fn get(&self, raw_path: &str, row: u64, ext: &[u64]) -> Option<Arc<Vec<u8>>> {
        let id = self.storages.get(raw_path)?.id;
        let slot = self.chunks.get(&(id, row))?;
        (*slot.ext == *ext).then(|| slot.bytes.clone())
    }

    /// Whether [`get`](Self::get) would find the chunk (without marking it used).
    pub(crate) fn contains(&self, raw_path: &str, row: u64, ext: &[u64]) -> bool {
        self.storages
            .get(raw_path)
            .and_then(|s| self.chunks.peek(&(s.id, row)))
            .is_some_and(|slot| *slot.ext == *ext)
    }

    /// Keeps the chunk stored at `row` of `raw_path`, read with extent `ext`.
    pub(crate) fn insert(&mut self, raw_path: &str, row: u64, ext: &[u64], bytes: Arc<Vec<u8>>) {
        if self.capacity == 0 {
            return;
        }
        let end = row + ext.first().copied().unwrap_or(0);
        let id = match self.storages.get_mut(raw_path) {
            Some(s) => {
                s.end = s.end.max(end);
                s.id
            }
            None => {
                let id = self.next_id;
                self.next_id = self.next_id.wrapping_add(1);
                self.storages
                    .insert(raw_path.to_string(), Storage { id, end });
                id
            }
        };
        let slot = Slot {
            ext: ext.into(),
            bytes,
        };
        self.chunks.insert((id, row), slot);
    }

    /// Where the slots of `raw_path` lie, as last recorded by
    /// [`set_locations`](Self::set_locations).
    pub(crate) fn locations(&self, raw_path: &str) -> Option<Arc<SlotIndex>> {
        self.locations.get(raw_path).cloned()
    }

    /// Records where the slots of `raw_path` lie.
    pub(crate) fn set_locations(&mut self, raw_path: &str, index: Arc<SlotIndex>) {
        self.locations.insert(raw_path.to_string(), index);
    }

    /// Drops the cached chunks of `raw_path` that start at or after `from_row` (rows
    /// about to be written), and where those rows were stored.
    pub(crate) fn forget_rows(&mut self, raw_path: &str, from_row: u64) {
        if let Some(ix) = self.locations.get_mut(raw_path) {
            // Slots wholly below `from_row`.
            let keep = (from_row / ix.chunk_rows.max(1)) as usize;
            if ix.slots.len() > keep {
                *ix = Arc::new(SlotIndex {
                    chunk_rows: ix.chunk_rows,
                    direct: ix.direct,
                    pipeline: ix.pipeline.clone(),
                    slots: ix.slots[..keep].to_vec(),
                });
            }
        }
        let Some(s) = self.storages.get(raw_path) else {
            return;
        };
        if s.end <= from_row {
            return;
        }
        let id = s.id;
        self.chunks.retain(|&(i, row), _| i != id || row < from_row);
    }

    /// Drops everything cached of `raw_path` (its `raw_data` was deleted or replaced).
    pub(crate) fn forget_storage(&mut self, raw_path: &str) {
        self.locations.remove(raw_path);
        if let Some(s) = self.storages.remove(raw_path) {
            self.chunks.retain(|&(i, _), _| i != s.id);
        }
    }

    /// Drops everything.
    pub(crate) fn clear(&mut self) {
        self.chunks.clear();
        self.storages.clear();
        self.locations.clear();
    }

    /// Changes the capacity (0: caches nothing), evicting as needed.
    pub(crate) fn set_capacity(&mut self, capacity: u64) {
        self.capacity = capacity;
        if capacity == 0 {
            self.chunks.clear();
            self.storages.clear();
        }
        self.chunks = {
            let mut c = Self::make(capacity);
            for ((id, row), slot) in self.chunks.drain() {
                if capacity > 0 {
                    c.insert((id, row), slot);
                }
            }
            c
        };
    }

    /// The capacity in bytes.
    pub(crate) fn capacity(&self) -> u64 {
        self.capacity
    }

    /// Bytes held (chunk bytes plus per-entry overhead).
    pub(crate) fn weight(&self) -> u64 {
        self.chunks.weight()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunk(n: usize, v: u8) -> Arc<Vec<u8>> {
        Arc::new(vec![v; n])
    }

    #[test]
    fn hit_needs_same_storage_row_and_extent() {
        let mut c = ChunkCache::new(1 << 20);
        c.insert("/a/raw_data", 0, &[10], chunk(80, 1));
        assert_eq!(c.get("/a/raw_data", 0, &[10]).map(|b| b[0]), Some(1));
        assert!(c.get("/a/raw_data", 0, &[9]).is_none());
        assert!(c.get("/a/raw_data", 10, &[10]).is_none());
        assert!(c.get("/b/raw_data", 0, &[10]).is_none());
    }

    #[test]
    fn forgets_rows_and_storages() {
        let mut c = ChunkCache::new(1 << 20);
        for r in 0..4 {
            c.insert("/a/raw_data", r * 10, &[10], chunk(80, r as u8));
            c.insert("/b/raw_data", r * 10, &[10], chunk(80, r as u8));
        }
        c.forget_rows("/a/raw_data", 20);
        assert!(c.get("/a/raw_data", 10, &[10]).is_some());
        assert!(c.get("/a/raw_data", 20, &[10]).is_none());
        assert!(c.get("/a/raw_data", 30, &[10]).is_none());
        assert!(c.get("/b/raw_data", 30, &[10]).is_some());
        c.forget_storage("/b/raw_data");
        assert!(c.get("/b/raw_data", 0, &[10]).is_none());
        // Locations go with the rows and storages they describe.
        let loc = |a| {
            Some(StoredChunk {
                addr: a,
                size: 80,
                mask: 0,
            })
        };
        let ix = SlotIndex {
            chunk_rows: 10,
            direct: true,
            pipeline: vec![],
            slots: vec![loc(0), loc(80), loc(160)],
        };
        c.set_locations("/a/raw_data", Arc::new(ix));
        c.forget_rows("/a/raw_data", 30);
        assert_eq!(c.locations("/a/raw_data").map(|i| i.slots.len()), Some(3));
        c.forget_rows("/a/raw_data", 25);
        assert_eq!(
            c.locations("/a/raw_data").map(|i| i.slots.clone()),
            Some(vec![loc(0), loc(80)])
        );
        c.forget_storage("/a/raw_data");
        assert!(c.locations("/a/raw_data").is_none());
        // A storage created again at the same path starts empty.
        c.insert("/b/raw_data", 0, &[10], chunk(80, 9));
        assert_eq!(c.get("/b/raw_data", 0, &[10]).map(|b| b[0]), Some(9));
        assert!(c.get("/b/raw_data", 10, &[10]).is_none());
    }

    #[test]
    fn stays_within_capacity() {
        let mut c = ChunkCache::new(64 << 10);
        for r in 0..100 {
            c.insert("/a/raw_data", r * 1024, &[1024], chunk(8192, 0));
            assert!(c.weight() <= c.capacity());
        }
        c.set_capacity(20 << 10);
        assert!(c.weight() <= 20 << 10);
        c.set_capacity(0);
        c.insert("/a/raw_data", 0, &[1024], chunk(8192, 0));
        assert_eq!(c.weight(), 0);
        assert!(c.get("/a/raw_data", 0, &[1024]).is_none());
    }
}
