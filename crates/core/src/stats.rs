//! `storage_stats`: how the file's bytes are used — per dataset path, the chunks its
//! `raw_data` has on disk and how many of them some committed version still maps —
//! computed from metadata only (the chunk index of each `raw_data` and the versions'
//! chunk maps), never by reading chunk data (docs/design/031-storage-statistics.md).

use std::collections::{BTreeMap, HashSet};

use crate::error::Result;
use crate::file::{walk_version, VersionedFile};
use crate::h5::{self, ObjKind};
use crate::layout::{RAW_DATA, VERSIONS, VERSION_DATA};

/// Storage of one dataset path (its data group `/_version_data/<path>`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DatasetStorage {
    /// The dataset path.
    pub path: String,
    /// Slots `raw_data`'s extent holds (its rows divided by the chunk's rows).
    pub slots: u64,
    /// Chunks `raw_data` has on disk (a slot never written has none).
    pub stored_chunks: u64,
    /// Bytes those chunks take in the file, as stored (after compression).
    pub stored_bytes: u64,
    /// Slots mapped by at least one committed version (`None` when not asked for).
    pub live_slots: Option<u64>,
    /// Bytes the stored chunks of those slots take (`None` when not asked for).
    pub live_bytes: Option<u64>,
    /// Whether the elements are variable-length strings: then the chunks hold
    /// references, and the strings themselves lie in the file's global heap, which
    /// these figures do not count.
    pub heap_strings: bool,
}

/// The result of [`VersionedFile::storage_stats`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StorageStats {
    /// The file's size on disk, in bytes.
    pub file_bytes: u64,
    /// Sum of the datasets' `stored_bytes`.
    pub stored_bytes: u64,
    /// Sum of the datasets' `live_bytes` (`None` when not asked for, as the next two).
    pub live_bytes: Option<u64>,
    /// The file's live metadata as libhdf5 counts it (what `h5stat` lists):
    /// superblock, object headers, group and chunk indexes, heaps, attribute storage
    /// and virtual-dataset mappings of every object reachable from the root.
    pub metadata_bytes: Option<u64>,
    /// `metadata_bytes` plus the stored data of every dataset (`raw_data` chunks and
    /// hash tables): what a `compact()` copies, so about the size it leaves (it adds
    /// the heap collections of variable-length strings and a little alignment).
    pub object_bytes: Option<u64>,
    /// Per dataset path, sorted by path.
    pub datasets: Vec<DatasetStorage>,
}

impl StorageStats {
    /// `file_bytes - object_bytes`: space in the file that no live object takes (freed
    /// by deleted versions and rewritten metadata; libhdf5 never gives it back), about
    /// what `compact()` would reclaim. An upper bound: the global-heap collections of
    /// variable-length strings and attributes are not in `object_bytes`.
    pub fn reclaimable_bytes(&self) -> Option<u64> {
        self.object_bytes.map(|o| self.file_bytes.saturating_sub(o))
    }
}

impl VersionedFile {
    /// How the file's bytes are used: per data group, the slots of `raw_data`, the
    /// chunks stored on disk and their bytes, and the slots (and bytes) that at least
    /// one committed version maps; plus the file's size and the space its live objects
    /// take. Reads metadata only (chunk indexes, chunk maps, object headers), no chunk
    /// data. Without `live`, only what the chunk indexes say (the live figures are
    /// `None`): that skips reading every version's chunk map and visiting every
    /// object, the cost of the rest (about that of reading one element of every
    /// version). Read-only; runs on the library's libhdf5 worker thread.
    pub fn storage_stats(&self, live: bool) -> Result<StorageStats> {
        let me = self.clone();
        // A read-only handle beside a writer tries again when the writer wrote past its
        // lock meanwhile (see `untorn`).
        crate::worker::run(move || me.untorn(|| me.storage_stats_here(live)))
    }

    fn storage_stats_here(&self, live: bool) -> Result<StorageStats> {
        let mut g = self.lock();
        g.file()?;
        let file_bytes = std::fs::metadata(&g.path).map(|m| m.len()).unwrap_or(0);
        // The slots (by first row) every committed version maps, per path.
        let mut mapped_rows: BTreeMap<String, HashSet<u64>> = BTreeMap::new();
        let committed: Vec<String> = if live {
            g.versions.names_by_time()
        } else {
            Vec::new()
        };
        for v in &committed {
            let (_, datasets) = walk_version(&mut g, v, true)?;
            for (p, (meta, _)) in datasets {
                let map = g.chunk_map(v, &p, &meta)?;
                mapped_rows
                    .entry(p)
                    .or_default()
                    .extend(map.values().copied());
            }
        }
        let space = if live {
            Some(h5::file_space(g.file()?)?)
        } else {
            None
        };
        let mut stats = StorageStats {
            file_bytes,
            live_bytes: live.then_some(0),
            metadata_bytes: space.map(|s| s.metadata),
            object_bytes: space.map(|s| s.metadata + s.data),
            ..StorageStats::default()
        };
        for path in data_group_paths(g.file()?)? {
            let group = h5::open_group(g.file()?, &format!("/{VERSION_DATA}/{path}"))?;
            let raw = h5::open_storage(&group, RAW_DATA)?;
            let rows = h5::ds_shape(&raw)?.first().copied().unwrap_or(0);
            let c0 = h5::ds_chunk_dims(&raw)?
                .and_then(|c| c.first().copied())
                .unwrap_or(1)
                .max(1);
            let t = h5::ds_type(&raw)?;
            let heap_strings = h5::dtype_of(&t)?.is_vlen();
            let rank = h5::ds_shape(&raw)?.len();
            let slots = rows.div_ceil(c0);
            let chunks = h5::stored_chunks(&raw, c0, rank, 0, slots, true)?;
            let mapped = mapped_rows.get(&path);
            let mut d = DatasetStorage {
                path: path.clone(),
                slots,
                heap_strings,
                ..DatasetStorage::default()
            };
            let mut live_bytes = 0;
            for (slot, chunk) in chunks.iter().enumerate() {
                let Some(c) = chunk else { continue };
                d.stored_chunks += 1;
                d.stored_bytes += c.size;
                if mapped.is_some_and(|m| m.contains(&(slot as u64 * c0))) {
                    live_bytes += c.size;
                }
            }
            if live {
                d.live_slots = Some(mapped.map_or(0, |m| m.len() as u64));
                d.live_bytes = Some(live_bytes);
            }
            stats.stored_bytes += d.stored_bytes;
            stats.live_bytes = stats.live_bytes.map(|b| b + live_bytes);
            stats.datasets.push(d);
        }
        stats.datasets.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(stats)
    }
}

/// Paths of every data group under `/_version_data` (a group holding `raw_data`),
/// nested ones too. Only groups are opened.
pub(crate) fn data_group_paths(file: &h5::Hid) -> Result<Vec<String>> {
    let mut out = Vec::new();
    let mut stack = vec![(
        String::new(),
        h5::open_group(file, &format!("/{VERSION_DATA}"))?,
    )];
    while let Some((prefix, group)) = stack.pop() {
        for name in h5::list(&group)? {
            if prefix.is_empty() && name == VERSIONS {
                continue;
            }
            if h5::kind_at(&group, &name)? != ObjKind::Group {
                continue;
            }
            let obj = h5::open_group(&group, &name)?;
            let path = if prefix.is_empty() {
                name
            } else {
                format!("{prefix}/{name}")
            };
            if h5::exists(&obj, RAW_DATA)? {
                out.push(path.clone());
            }
            // A data group may also hold the one of a path below it: 'a' in one
            // version, 'a/b' in a later one.
            stack.push((path, obj));
        }
    }
    Ok(out)
}
