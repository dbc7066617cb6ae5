//! `storageStats`: how a file's bytes are used, per dataset path and in all.

use napi::bindgen_prelude::*;
use napi::{Env, Task};

use crate::guard::{guard, guard_engine};
use crate::versioned_file::VersionedFile;

/// Storage of one dataset path: its `raw_data` under `/_version_data/<path>`, shared
/// by every version that holds the path.
#[napi(object, object_from_js = false)]
pub struct DatasetStorage {
    /// The dataset path.
    pub path: String,
    /// Slots `raw_data`'s extent holds (one chunk each).
    pub slots: f64,
    /// Chunks stored on disk (a slot never written has none).
    pub stored_chunks: f64,
    /// Bytes those chunks take in the file, as stored (after compression).
    pub stored_bytes: f64,
    /// Slots that at least one committed version maps.
    pub live_slots: f64,
    /// Bytes the stored chunks of those slots take.
    pub live_bytes: f64,
    /// `true` for variable-length strings: the chunks hold references, and the
    /// strings themselves lie in the file's global heap, which these bytes do not count.
    pub heap_strings: bool,
}

/// What `storageStats` found.
#[napi(object, object_from_js = false)]
pub struct StorageStats {
    /// The file's size on disk, in bytes.
    pub file_bytes: f64,
    /// Bytes of every stored chunk of every dataset path.
    pub stored_bytes: f64,
    /// Bytes of the stored chunks some committed version maps.
    pub live_bytes: f64,
    /// The file's live metadata as libhdf5 counts it (what `h5stat` lists):
    /// superblock, object headers, group and chunk indexes, heaps, attribute storage
    /// and virtual-dataset mappings of every object reachable from the root.
    pub metadata_bytes: f64,
    /// `metadataBytes` plus the stored data of every dataset (`raw_data` chunks and
    /// hash tables): what `compact()` copies, so about the size it leaves.
    pub object_bytes: f64,
    /// `fileBytes - objectBytes` (at least 0): space no live object takes, freed by
    /// deleted versions and rewritten metadata (libhdf5 never gives it back): about
    /// what `compact()` would reclaim, at most; the heap collections of
    /// variable-length strings and attributes are not in `objectBytes`.
    pub reclaimable_bytes: f64,
    /// Per dataset path, sorted by path.
    pub datasets: Vec<DatasetStorage>,
}

impl From<vh5::StorageStats> for StorageStats {
    fn from(s: vh5::StorageStats) -> Self {
        StorageStats {
            file_bytes: s.file_bytes as f64,
            stored_bytes: s.stored_bytes as f64,
            live_bytes: s.live_bytes as f64,
            metadata_bytes: s.metadata_bytes as f64,
            object_bytes: s.object_bytes as f64,
            reclaimable_bytes: s.reclaimable_bytes() as f64,
            datasets: s
                .datasets
                .into_iter()
                .map(|d| DatasetStorage {
                    path: d.path,
                    slots: d.slots as f64,
                    stored_chunks: d.stored_chunks as f64,
                    stored_bytes: d.stored_bytes as f64,
                    live_slots: d.live_slots as f64,
                    live_bytes: d.live_bytes as f64,
                    heap_strings: d.heap_strings,
                })
                .collect(),
        }
    }
}

/// Runs `storageStats` off the event loop.
pub struct StorageStatsTask {
    file: vh5::VersionedFile,
}

impl Task for StorageStatsTask {
    type Output = vh5::Result<vh5::StorageStats>;
    type JsValue = StorageStats;

    fn compute(&mut self) -> Result<Self::Output> {
        Ok(guard_engine(|| self.file.storage_stats()))
    }

    fn resolve(&mut self, env: Env, output: Self::Output) -> Result<Self::JsValue> {
        guard(&env, || Ok(output?.into()))
    }
}

#[napi]
impl VersionedFile {
    /// How the file's bytes are used (off the event loop): per dataset path, the
    /// slots of its `raw_data`, the chunks stored on disk and their bytes, and the
    /// slots and bytes at least one committed version maps; in all, the file's size
    /// and the stored and live bytes. Reads metadata only (chunk indexes and the
    /// versions' chunk maps), no chunk data; changes nothing.
    #[napi(ts_return_type = "Promise<StorageStats>")]
    pub fn storage_stats(&self, env: &Env) -> Result<AsyncTask<StorageStatsTask>> {
        guard(env, || {
            Ok(AsyncTask::new(StorageStatsTask {
                file: self.inner.clone(),
            }))
        })
    }

    /// Synchronous twin of `storageStats`.
    #[napi]
    pub fn storage_stats_sync(&self, env: &Env) -> Result<StorageStats> {
        guard(env, || Ok(self.inner.storage_stats()?.into()))
    }
}
