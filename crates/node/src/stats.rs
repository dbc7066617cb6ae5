//! `storageStats`: how a file's bytes are used, per dataset path and in all.

use napi::bindgen_prelude::*;
use napi::{Env, Task};

use crate::guard::{guard, guard_engine, Arg};
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
    /// Slots that at least one committed version maps (`null` with `{ live: false }`).
    pub live_slots: Either<f64, Null>,
    /// Bytes the stored chunks of those slots take (`null` with `{ live: false }`).
    pub live_bytes: Either<f64, Null>,
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
    /// Bytes of the stored chunks some committed version maps (`null` with
    /// `{ live: false }`, as the next three).
    pub live_bytes: Either<f64, Null>,
    /// The file's live metadata as libhdf5 counts it (what `h5stat` lists):
    /// superblock, object headers, group and chunk indexes, heaps, attribute storage
    /// and virtual-dataset mappings of every object reachable from the root.
    pub metadata_bytes: Either<f64, Null>,
    /// `metadataBytes` plus the stored data of every dataset (`raw_data` chunks and
    /// hash tables): what `compact()` copies, so about the size it leaves.
    pub object_bytes: Either<f64, Null>,
    /// `fileBytes - objectBytes` (at least 0): space no live object takes, freed by
    /// deleted versions and rewritten metadata (libhdf5 never gives it back): about
    /// what `compact()` would reclaim, at most; the heap collections of
    /// variable-length strings and attributes are not in `objectBytes`.
    pub reclaimable_bytes: Either<f64, Null>,
    /// Per dataset path, sorted by path.
    pub datasets: Vec<DatasetStorage>,
}

/// A figure that may be left out: a number, or `null`.
fn num(v: Option<u64>) -> Either<f64, Null> {
    v.map_or(Either::B(Null), |x| Either::A(x as f64))
}

/// Options of `storageStats`.
#[napi(object, object_to_js = false)]
pub struct StorageStatsOptions {
    /// `false`: only what the chunk indexes say (slots, stored chunks and bytes); the
    /// figures that need every version's chunk map and a visit of every object
    /// (`liveSlots`, `liveBytes`, `metadataBytes`, `objectBytes`, `reclaimableBytes`)
    /// are `null`. Much faster on files with many versions. Default `true`.
    pub live: Option<bool>,
}

impl From<vh5::StorageStats> for StorageStats {
    fn from(s: vh5::StorageStats) -> Self {
        StorageStats {
            file_bytes: s.file_bytes as f64,
            stored_bytes: s.stored_bytes as f64,
            live_bytes: num(s.live_bytes),
            metadata_bytes: num(s.metadata_bytes),
            object_bytes: num(s.object_bytes),
            reclaimable_bytes: num(s.reclaimable_bytes()),
            datasets: s
                .datasets
                .into_iter()
                .map(|d| DatasetStorage {
                    path: d.path,
                    slots: d.slots as f64,
                    stored_chunks: d.stored_chunks as f64,
                    stored_bytes: d.stored_bytes as f64,
                    live_slots: num(d.live_slots),
                    live_bytes: num(d.live_bytes),
                    heap_strings: d.heap_strings,
                })
                .collect(),
        }
    }
}

/// Runs `storageStats` off the event loop.
pub struct StorageStatsTask {
    file: vh5::VersionedFile,
    live: bool,
}

impl Task for StorageStatsTask {
    type Output = vh5::Result<vh5::StorageStats>;
    type JsValue = StorageStats;

    fn compute(&mut self) -> Result<Self::Output> {
        Ok(guard_engine(|| self.file.storage_stats(self.live)))
    }

    fn resolve(&mut self, env: Env, output: Self::Output) -> Result<Self::JsValue> {
        guard(&env, || Ok(output?.into()))
    }
}

fn live(options: Option<Arg<StorageStatsOptions>>) -> bool {
    options.and_then(|Arg(o)| o.live).unwrap_or(true)
}

#[napi]
impl VersionedFile {
    /// How the file's bytes are used (off the event loop): per dataset path, the
    /// slots of its `raw_data`, the chunks stored on disk and their bytes, and the
    /// slots and bytes at least one committed version maps; in all, the file's size
    /// and the stored and live bytes. Reads metadata only (chunk indexes and the
    /// versions' chunk maps, object headers), no chunk data; changes nothing. With
    /// `{ live: false }` only the chunk indexes are read (see `StorageStatsOptions`).
    #[napi(
        ts_args_type = "options?: StorageStatsOptions",
        ts_return_type = "Promise<StorageStats>"
    )]
    pub fn storage_stats(
        &self,
        env: &Env,
        options: Option<Arg<StorageStatsOptions>>,
    ) -> Result<AsyncTask<StorageStatsTask>> {
        guard(env, || {
            Ok(AsyncTask::new(StorageStatsTask {
                file: self.inner.clone(),
                live: live(options),
            }))
        })
    }

    /// Synchronous twin of `storageStats`.
    #[napi(ts_args_type = "options?: StorageStatsOptions")]
    pub fn storage_stats_sync(
        &self,
        env: &Env,
        options: Option<Arg<StorageStatsOptions>>,
    ) -> Result<StorageStats> {
        guard(env, || Ok(self.inner.storage_stats(live(options))?.into()))
    }
}
