//! The catalog: what is known of committed versions while a file is open, in one
//! place and bounded in memory.
//!
//! A committed version never changes (its group, virtual datasets and the `raw_data`
//! slots they map are immutable), so what was read of it once can answer every later
//! question about it: a dataset's metadata and `raw_data` path, its user attributes,
//! its decoded chunk map, and the version's whole tree. One entry per version holds
//! all of it ([`VersionFacts`], with one [`DatasetFacts`] per dataset path); reads,
//! staging and `node()` look there first and fill in what they had to read from the
//! file, and a commit records everything it knows of the version it wrote
//! ([`Catalog::record_commit`]), so staging over it and reading it read nothing back.
//!
//! Invariants:
//! - an entry describes the version as it is in the file: it is only ever filled from
//!   the file or from the commit that wrote the version, and facts once there do not
//!   change;
//! - the total estimated weight (bytes of the facts held, see [`facts_weight`])
//!   stays within the capacity; the versions used least recently go first. An
//!   evicted version is read from the file again when next needed: nothing relies on
//!   an entry being present;
//! - the generation counts the times the catalog was emptied because the file's
//!   versions may have changed under it ([`Catalog::invalidate`]): a history rewrite,
//!   or another process's commits seen by a reader. Anything derived from entries
//!   (e.g. a dataset's furthest mapped row) is kept only together with the generation
//!   it was derived at.

use std::cell::Cell;
use std::collections::BTreeMap;
use std::sync::Arc;

use super::{ChunkMap, DatasetMeta, Tree};
use crate::attrs::{AttrValue, Attrs};
use crate::cache::FastMap;

/// Default capacity of a file's catalog, in estimated bytes.
pub const DEFAULT_CATALOG_BYTES: u64 = 128 << 20;

/// The state of a file's catalog ([`crate::VersionedFile::catalog_stats`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CatalogStats {
    /// Versions with an entry.
    pub versions: usize,
    /// Estimated bytes held.
    pub bytes: u64,
    /// Capacity in estimated bytes.
    pub capacity: u64,
    /// Times the catalog was invalidated since the file was opened.
    pub generation: u64,
}

/// What is known of one dataset of a committed version.
#[derive(Debug)]
pub(crate) struct DatasetFacts {
    /// Its metadata in that version.
    pub(crate) meta: DatasetMeta,
    /// The path of the `raw_data` its mappings point at.
    pub(crate) raw_path: String,
    /// Its user attributes, once read.
    pub(crate) attrs: Option<Attrs>,
    /// Its decoded chunk map, once decoded.
    pub(crate) map: Option<Arc<ChunkMap>>,
}

/// What is known of one committed version.
#[derive(Debug, Default)]
pub(crate) struct VersionFacts {
    /// Its whole tree, once walked (or committed here).
    tree: Option<Arc<Tree>>,
    /// Its datasets seen so far, by path.
    datasets: FastMap<String, Arc<DatasetFacts>>,
}

/// Bytes an entry costs beyond what it holds (key, tables, bookkeeping).
const ENTRY_OVERHEAD: u64 = 256;

fn attrs_weight(attrs: &Attrs) -> u64 {
    attrs
        .iter()
        .map(|(k, v)| {
            48 + k.len() as u64
                + match v {
                    AttrValue::Str(s) => s.len() as u64,
                    AttrValue::StrArray(a) => a.iter().map(|s| 24 + s.len() as u64).sum(),
                    AttrValue::IntArray(a) => a.len() as u64 * 8,
                    AttrValue::UIntArray(a) => a.len() as u64 * 8,
                    AttrValue::FloatArray(a) => a.len() as u64 * 8,
                    AttrValue::BoolArray(a) => a.len() as u64,
                    _ => 8,
                }
        })
        .sum()
}

fn meta_weight(meta: &DatasetMeta) -> u64 {
    96 + (meta.shape.len() + meta.chunks.len()) as u64 * 8 + meta.fill.len() as u64
}

fn dataset_weight(path: &str, d: &DatasetFacts) -> u64 {
    let map = d.map.as_ref().map_or(0, |m| {
        m.len() as u64 * (64 + 8 * m.keys().next().map_or(0, |k| k.len() as u64))
    });
    ENTRY_OVERHEAD
        + path.len() as u64
        + d.raw_path.len() as u64
        + meta_weight(&d.meta)
        + d.attrs.as_ref().map_or(0, attrs_weight)
        + map
}

fn tree_weight(t: &Tree) -> u64 {
    let groups: u64 =
        t.0.iter()
            .map(|(p, a)| 64 + p.len() as u64 + attrs_weight(a))
            .sum();
    let datasets: u64 =
        t.1.iter()
            .map(|(p, (m, a))| 64 + p.len() as u64 + meta_weight(m) + attrs_weight(a))
            .sum();
    groups + datasets
}

/// Estimated heap bytes of a version's facts: what bounds the catalog. The numbers
/// are what the containers cost on a 64-bit target, roughly (a hash map entry of a
/// chunk map is its coordinate vector, its heap block and the row).
fn facts_weight(name: &str, v: &VersionFacts) -> u64 {
    ENTRY_OVERHEAD
        + name.len() as u64
        + v.tree.as_deref().map_or(0, tree_weight)
        + v.datasets
            .iter()
            .map(|(p, d)| dataset_weight(p, d))
            .sum::<u64>()
}

/// One version's entry: its facts, their weight, and when it was last used.
#[derive(Debug)]
struct Slot {
    facts: VersionFacts,
    weight: u64,
    used: Cell<u64>,
}

/// The catalog of one open file. See the module docs.
///
/// Eviction is least-recently-used, by weight: what a service uses is the versions
/// it committed, staged over or read last. (A scan-resistant policy such as the read
/// cache's keeps the first versions it saw, which for a file taking commits all day
/// are the stale ones.) A use only stamps the entry; eviction takes the oldest stamp
/// in `order` and skips entries used since (their stamp there is stale), so a use
/// costs no reordering.
pub(crate) struct Catalog {
    entries: FastMap<String, Slot>,
    /// Use stamps, oldest first (some stale: see above).
    order: BTreeMap<u64, String>,
    clock: Cell<u64>,
    weight: u64,
    capacity: u64,
    generation: u64,
}

impl std::fmt::Debug for Catalog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Catalog")
            .field("versions", &self.entries.len())
            .field("weight", &self.weight)
            .field("capacity", &self.capacity)
            .field("generation", &self.generation)
            .finish()
    }
}

impl Catalog {
    /// An empty catalog holding up to `capacity` estimated bytes.
    pub(crate) fn new(capacity: u64) -> Catalog {
        Catalog {
            entries: FastMap::default(),
            order: BTreeMap::new(),
            clock: Cell::new(0),
            weight: 0,
            capacity,
            generation: 0,
        }
    }

    /// Its state now.
    pub(crate) fn stats(&self) -> CatalogStats {
        CatalogStats {
            versions: self.entries.len(),
            bytes: self.weight,
            capacity: self.capacity,
            generation: self.generation,
        }
    }

    /// Changes the capacity, evicting what no longer fits.
    pub(crate) fn set_capacity(&mut self, capacity: u64) {
        self.capacity = capacity;
        self.evict(None);
    }

    /// Forgets everything, because the file's versions may have changed under it;
    /// bumps the generation.
    pub(crate) fn invalidate(&mut self) {
        self.clear();
        self.generation += 1;
    }

    /// The generation this catalog is at (bumped by [`invalidate`](Self::invalidate)).
    pub(crate) fn generation(&self) -> u64 {
        self.generation
    }

    /// Starts a catalog that replaces one at `generation` (a file opened anew after a
    /// rewrite of its history): one past it, so what was derived before is stale.
    pub(crate) fn follow(&mut self, generation: u64) {
        self.clear();
        self.generation = generation + 1;
    }

    /// Forgets everything (the file is closing).
    pub(crate) fn clear(&mut self) {
        self.entries.clear();
        self.order.clear();
        self.weight = 0;
    }

    fn tick(&self) -> u64 {
        let t = self.clock.get() + 1;
        self.clock.set(t);
        t
    }

    /// The facts of `version`, stamped as used now.
    fn get(&self, version: &str) -> Option<&VersionFacts> {
        let slot = self.entries.get(version)?;
        slot.used.set(self.tick());
        Some(&slot.facts)
    }

    /// What is known of dataset `path` of committed version `version`.
    pub(crate) fn dataset(&self, version: &str, path: &str) -> Option<&Arc<DatasetFacts>> {
        self.get(version)?.datasets.get(path)
    }

    /// [`dataset`](Self::dataset), without counting as a use (for scans over every
    /// version, which must not keep all of them).
    pub(crate) fn peek_dataset(&self, version: &str, path: &str) -> Option<&Arc<DatasetFacts>> {
        self.entries.get(version)?.facts.datasets.get(path)
    }

    /// A dataset whose chunk map is decoded: what a read needs, all of it.
    pub(crate) fn reader(&self, version: &str, path: &str) -> Option<Arc<DatasetFacts>> {
        self.dataset(version, path)
            .filter(|d| d.map.is_some())
            .cloned()
    }

    /// The whole tree of `version`, when it was walked or committed here.
    pub(crate) fn tree(&self, version: &str) -> Option<Arc<Tree>> {
        self.get(version)?.tree.clone()
    }

    /// Records what was read of dataset `path` of `version`; what was known before
    /// and is not given again (attributes, chunk map) is kept.
    pub(crate) fn note_dataset(&mut self, version: &str, path: &str, facts: DatasetFacts) {
        let facts = match self.peek_dataset(version, path) {
            Some(old) => DatasetFacts {
                attrs: facts.attrs.or_else(|| old.attrs.clone()),
                map: facts.map.or_else(|| old.map.clone()),
                ..facts
            },
            None => facts,
        };
        self.update(version, |v| {
            v.datasets.insert(path.to_string(), Arc::new(facts));
        });
    }

    /// Records the decoded chunk map of dataset `path` of `version`, whose metadata
    /// is `meta` (stored at `raw_path`).
    pub(crate) fn note_map(
        &mut self,
        version: &str,
        path: &str,
        meta: &DatasetMeta,
        raw_path: &str,
        map: Arc<ChunkMap>,
    ) {
        self.note_dataset(
            version,
            path,
            DatasetFacts {
                meta: meta.clone(),
                raw_path: raw_path.to_string(),
                attrs: None,
                map: Some(map),
            },
        );
    }

    /// Records the whole tree of `version`.
    pub(crate) fn note_tree(&mut self, version: &str, tree: Arc<Tree>) {
        self.update(version, |v| v.tree = Some(tree));
    }

    /// Records everything a commit knows of the version `name` it wrote: its tree and,
    /// per dataset, the facts (a dataset whose map the commit did not make, one copied
    /// from the parent, comes with the parent's facts when they are known).
    pub(crate) fn record_commit(
        &mut self,
        name: &str,
        tree: Tree,
        datasets: Vec<(String, DatasetFacts)>,
    ) {
        self.update(name, |v| {
            v.tree = Some(Arc::new(tree));
            for (path, d) in datasets {
                v.datasets.insert(path, Arc::new(d));
            }
        });
    }

    /// Changes (or creates) the entry of `version`, stamps it as used, and evicts
    /// what no longer fits (never this entry, unless it alone is over the capacity).
    fn update(&mut self, version: &str, f: impl FnOnce(&mut VersionFacts)) {
        let t = self.tick();
        let slot = self
            .entries
            .entry(version.to_string())
            .or_insert_with(|| Slot {
                facts: VersionFacts::default(),
                weight: 0,
                used: Cell::new(0),
            });
        f(&mut slot.facts);
        let w = facts_weight(version, &slot.facts);
        self.weight = self.weight - slot.weight + w;
        slot.weight = w;
        slot.used.set(t);
        self.order.insert(t, version.to_string());
        self.evict(Some(version));
    }

    /// Drops the least recently used entries until the weight fits the capacity,
    /// keeping `keep` while anything else is left.
    fn evict(&mut self, keep: Option<&str>) {
        while self.weight > self.capacity {
            let Some((t, name)) = self.order.pop_first() else {
                break;
            };
            let Some(slot) = self.entries.get(&name) else {
                continue;
            };
            let used = slot.used.get();
            if used != t {
                // Used since this stamp: its newest stamp is (or goes) in `order`.
                self.order.entry(used).or_insert(name);
                continue;
            }
            if keep == Some(name.as_str()) && self.entries.len() > 1 {
                // Newest anyway: put it back behind the others.
                let t = self.tick();
                slot.used.set(t);
                self.order.insert(t, name);
                continue;
            }
            if let Some(slot) = self.entries.remove(&name) {
                self.weight -= slot.weight;
            }
        }
        // Stale stamps are dropped as eviction meets them; bound them when it does not
        // run for long (every use adds none, every update one).
        if self.order.len() > 2 * self.entries.len() + 64 {
            self.order = self
                .entries
                .iter()
                .map(|(n, s)| (s.used.get(), n.clone()))
                .collect();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dtype::Dtype;
    use crate::h5::Filters;

    fn meta(n: u64) -> DatasetMeta {
        DatasetMeta {
            shape: vec![n],
            dtype: Dtype::Float64,
            chunks: vec![10],
            fill: vec![0; 8],
            filters: Filters::default(),
        }
    }

    fn facts(chunks: u64) -> DatasetFacts {
        let map: ChunkMap = (0..chunks).map(|k| (vec![k], k * 10)).collect();
        DatasetFacts {
            meta: meta(chunks * 10),
            raw_path: "/_version_data/x/raw_data".into(),
            attrs: None,
            map: Some(Arc::new(map)),
        }
    }

    #[test]
    fn stays_within_its_capacity_and_forgets_versions_used_least() {
        let mut c = Catalog::new(1 << 20);
        for v in 0..2_000 {
            c.record_commit(
                &format!("v{v}"),
                Tree::default(),
                vec![("x".into(), facts(100))],
            );
            // One old version is read again and again: it stays.
            assert!(c.reader("v0", "x").is_some(), "after v{v}");
        }
        let s = c.stats();
        assert!(s.bytes <= 1 << 20, "{s:?}");
        // About 7.8 KB a version: some 130 fit.
        assert!(s.versions > 50 && s.versions < 200, "{s:?}");
        let old = (1..1_000).filter(|v| c.entries.contains_key(&format!("v{v}")));
        let old: Vec<u32> = old.collect();
        assert!(old.len() < 20, "{old:?} {s:?}");
        assert!(c.dataset("v1999", "x").is_some());
    }

    #[test]
    fn noting_a_dataset_again_keeps_what_was_known() {
        let mut c = Catalog::new(1 << 20);
        c.note_map(
            "v",
            "x",
            &meta(100),
            "/_version_data/x/raw_data",
            Arc::new(ChunkMap::new()),
        );
        c.note_dataset(
            "v",
            "x",
            DatasetFacts {
                meta: meta(100),
                raw_path: "/_version_data/x/raw_data".into(),
                attrs: Some(vec![("a".into(), AttrValue::Int(1))]),
                map: None,
            },
        );
        let d = c.reader("v", "x").expect("map kept");
        assert_eq!(d.attrs.as_ref().map(Vec::len), Some(1));
        // Weight follows what the entry holds.
        let before = c.stats().bytes;
        c.note_tree("v", Arc::new(Tree::default()));
        assert!(c.tree("v").is_some());
        assert!(c.stats().bytes >= before);
    }

    #[test]
    fn invalidating_forgets_everything_and_bumps_the_generation() {
        let mut c = Catalog::new(1 << 20);
        c.record_commit("v", Tree::default(), vec![("x".into(), facts(3))]);
        c.invalidate();
        let s = c.stats();
        assert_eq!((s.versions, s.generation), (0, 1));
        assert!(c.dataset("v", "x").is_none() && c.tree("v").is_none());
    }
}
