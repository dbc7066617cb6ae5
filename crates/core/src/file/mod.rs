//! A versioned file: its open handle and the state kept while it is open.
//!
//! The parts, one module each:
//! - [`open`](self::open): opening (with recovery of an interrupted commit) and
//!   initialising a file; the registry of files open for writing in this process;
//! - `index`: the version index (names, parents, timestamps; lookups by name, by
//!   time, by ancestry);
//! - `tree`: a version's groups, datasets and attributes, and the decoding of a
//!   version dataset's chunk map;
//! - `storage`: per dataset path, the storage state (`raw_data`, the hash table in
//!   memory) and the checks that a commit may append to it;
//! - `read`: reads of committed versions, chunk by chunk, through the read cache;
//! - `direct`: reads of many chunks outside libhdf5, with positioned reads of the
//!   stored slots, decoded in parallel (docs/design/012).
//! - `follow`: read-only handles beside a writer (the reader's lock for each call,
//!   libhdf5's handle reopened when the file changed, `refresh()`).
//!
//! Invariants kept while a file is open:
//! - `versions` mirrors the version groups on disk (committed or not), and keeps the
//!   committed ones sorted by (timestamp, name), so lookups by time are a binary
//!   search ([`versions`]); at an open it comes from the version index file when that
//!   describes exactly this file ([`vindex`]), else from reading every group.
//! - a [`DataGroup`] in `data_groups` mirrors its on-disk hash table rows
//!   `[0, largest_index)`; it is loaded once and appended to by commits, never reloaded.
//! - decoded chunk maps of committed version datasets never change (versions are
//!   immutable), so they are cached by (version, path); so are the decoded chunks of
//!   `raw_data` that reads touch, up to a byte budget (see [`crate::cache`]).

mod catalog;
mod direct;
mod follow;
mod index;
mod open;
mod read;
mod storage;
mod tree;
pub(crate) mod versions;
pub(crate) mod vindex;

pub use crate::layout::{normalize_path, version_relative};
pub(crate) use catalog::{Catalog, DatasetFacts};
pub use catalog::{CatalogStats, DEFAULT_CATALOG_BYTES};

pub use read::ReadSink;
pub(crate) use read::{gather, read_mapped, read_result, ChunkBytes};
pub(crate) use storage::DataGroup;
pub(crate) use tree::{read_user_attrs, version_dataset_paths, walk_version, MappedDataset, Tree};

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};

use crate::cache::ChunkCache;
use crate::dtype::Dtype;
use crate::error::{bail, err, Error, ErrorKind, Result};
use crate::grid::ChunkCoord;
use crate::h5::{self, Filters, Hid};
pub(crate) use open::writers;

/// How to open a file (h5py's modes).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// `r`: read-only; the file must exist and be versioned.
    Read,
    /// `r+`: read-write; the file must exist.
    ReadWrite,
    /// `a`: read-write; created if missing.
    Append,
    /// `w`: create, truncating any existing file.
    Truncate,
    /// `x`: create; fail if the file exists.
    Exclusive,
}

impl Mode {
    /// Parses `r`, `r+`, `a`, `w`, `x` (also `w-`).
    pub fn parse(s: &str) -> Result<Mode> {
        Ok(match s {
            "r" => Mode::Read,
            "r+" => Mode::ReadWrite,
            "a" => Mode::Append,
            "w" => Mode::Truncate,
            "x" | "w-" => Mode::Exclusive,
            _ => bail!(
                InvalidArgument,
                "unknown mode '{s}': use 'r', 'r+', 'a', 'w' or 'x'"
            ),
        })
    }
}

/// What a returned commit survives (docs/design/007-power-loss-durability.md).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Durability {
    /// `'process'` (the default): a commit that returned survives the death of the
    /// process (SIGKILL, OOM kill, a crash); nothing is synced, so a power loss or an
    /// operating-system crash may lose it (never half of it, if the disk keeps the
    /// order of writes, which is not promised either).
    #[default]
    Process,
    /// `'fsync'`: a commit returns only once it is on stable storage, and survives
    /// power loss too; a half-done one is rolled back at the next open. Costs a few
    /// fsyncs per commit.
    Fsync,
}

impl Durability {
    /// Parses `'process'` or `'fsync'`.
    pub fn parse(s: &str) -> Result<Durability> {
        Ok(match s {
            "process" => Durability::Process,
            "fsync" => Durability::Fsync,
            _ => bail!(
                InvalidArgument,
                "unknown durability '{s}': use 'process' (the default) or 'fsync'"
            ),
        })
    }
}

/// Metadata of one version.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VersionInfo {
    /// Version name.
    pub name: String,
    /// Parent version name (`__first_version__` for a root version).
    pub prev_version: String,
    /// Commit time, microseconds since the Unix epoch (UTC); `None` when the version
    /// group's `timestamp` attribute is missing or unreadable (a damaged file: see
    /// [`VersionInfo::commit_time`]).
    pub timestamp: Option<i64>,
    /// Whether the version finished committing.
    pub committed: bool,
}

impl VersionInfo {
    /// The commit time, or `CORRUPT_FILE` when the file does not hold a readable one
    /// (never a made-up date).
    pub fn commit_time(&self) -> Result<i64> {
        match self.timestamp {
            Some(t) => Ok(t),
            None => bail!(
                CorruptFile,
                "version '{}' has no readable 'timestamp' attribute, so its commit time is unknown: the file is damaged (verify() reports it); its data still reads",
                self.name
            ),
        }
    }
}

/// Everything fixed about a dataset path, plus its shape in one version.
#[derive(Clone, Debug, PartialEq)]
pub struct DatasetMeta {
    /// Shape in this version.
    pub shape: Vec<u64>,
    /// Element type.
    pub dtype: Dtype,
    /// Chunk shape.
    pub chunks: Vec<u64>,
    /// Fill value, one element as bytes.
    pub fill: Vec<u8>,
    /// Filters of `raw_data`.
    pub filters: Filters,
}

/// A chunk map: chunk coordinates → first raw_data row of the chunk's slot.
pub type ChunkMap = HashMap<ChunkCoord, u64>;

/// What a path in a version names.
#[derive(Clone, Debug, PartialEq)]
pub enum Node {
    /// A group.
    Group,
    /// A dataset, with its metadata.
    Dataset(DatasetMeta),
}

pub(crate) struct Inner {
    /// `_version_data` and `_version_data/versions`, open while the file is (declared
    /// first, so dropped before it). Files are opened with evict-on-close: closing a
    /// group drops its link index from libhdf5's metadata cache, and every lookup of a
    /// version by path would read the growing index of `versions` from disk again.
    pub keep_open: Vec<Hid>,
    pub file: Option<Hid>,
    pub path: String,
    pub writable: bool,
    /// Every version group's name, parent, time and commit state.
    pub(crate) versions: versions::Versions,
    pub current: String,
    pub staging: HashSet<String>,
    /// Version groups without a `committed` attribute: neither committed nor an
    /// interrupted commit (which writes `committed = False` first), so damaged.
    pub unmarked: HashSet<String>,
    pub data_groups: HashMap<String, DataGroup>,
    /// The file's end of allocation when this writable handle opened it: a data
    /// group's storage mark carrying it is trusted on the group's first load
    /// (`None`: read-only, or the history was rewritten since; see [`storage`]).
    pub(crate) mark_eoa: Option<u64>,
    /// Data groups loaded since the open (a mark is trusted on the first load only).
    pub(crate) marks_read: HashSet<String>,
    /// How often the storage check scanned every version's mappings (for tests).
    pub(crate) storage_scans: u64,
    /// What is known of committed versions: trees, dataset metadata, attributes and
    /// chunk maps, bounded (see [`catalog`]).
    pub(crate) catalog: Catalog,
    /// Open `raw_data` handles by path, kept for reads (each open copies property
    /// lists, and an open handle keeps libhdf5's chunk cache warm).
    pub raws: HashMap<String, Hid>,
    /// A second descriptor of the file, for positioned reads of stored slots outside
    /// libhdf5 (`direct`); opened on first use.
    pub data_file: Option<Arc<std::fs::File>>,
    /// Reads answered by the direct path since the file was opened.
    pub direct_reads: u64,
    /// Small reads that went through the read cache because their storage's slot
    /// index was not built yet (`direct::read_direct`): after
    /// `direct::SMALL_BEFORE_INDEX` of them the index is built.
    pub small_reads_unindexed: u32,
    /// Decoded `raw_data` chunks that reads touched (see [`crate::cache`]).
    pub(crate) chunks: ChunkCache,
    /// The file's `data_version` (1 when the attribute is absent).
    pub data_version: i64,
    /// Canonical path registered as open for writing in this process.
    pub registered: Option<std::path::PathBuf>,
    /// Whether opening rolled back an interrupted commit.
    pub recovered: bool,
    /// The staged version (its [`id`](crate::StagedVersion::id) and name) that wrote
    /// chunks to the file before its commit (docs/design/014-bounded-staging.md): the
    /// file's journal transaction stays open until that version commits or is
    /// abandoned, and nothing else may write meanwhile.
    pub(crate) spill_owner: Option<(usize, String)>,
    /// A read-only handle's part of the protocol with writers in other processes (or
    /// in this one): see [`follow`].
    pub(crate) follow: Option<follow::Follow>,
    /// What a returned commit survives (kept for a reopen after an I/O fault).
    pub durability: Durability,
    /// A writer's state of the version index file beside the data file ([`vindex`]);
    /// `None` for a read-only handle, which never writes it.
    pub(crate) vindex: Option<vindex::IndexState>,
    /// Whether the open took the versions from the version index file (for tests).
    pub(crate) opened_from_index: bool,
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.close_file();
        if let Some(k) = self.registered.take() {
            writers().remove(&k);
        }
    }
}

/// An open versioned HDF5 file. Cheap to clone; clones share the same open file.
#[derive(Clone)]
pub struct VersionedFile {
    pub(crate) inner: Arc<Mutex<Inner>>,
}

/// Everything a commit tells the file's state about the version it wrote.
pub(crate) struct CommitRecord {
    /// The new version.
    pub(crate) info: VersionInfo,
    /// Whether it became the current version.
    pub(crate) make_current: bool,
    /// Its tree, as a later read of the file gives it.
    pub(crate) tree: Tree,
    /// What is known of its datasets.
    pub(crate) datasets: Vec<(String, DatasetFacts)>,
    /// New slots for the read cache: `raw_data` path, first row, extent, elements.
    pub(crate) new_chunks: Vec<(String, u64, Vec<u64>, Vec<u8>)>,
}

impl Inner {
    /// Records a commit that reached the file: the version index, the current
    /// version, the catalog, what the new version maps (for the storage checks) and
    /// its new chunks (for the read cache).
    pub(crate) fn record_commit(&mut self, c: CommitRecord) {
        let name = c.info.name.clone();
        self.versions.insert(c.info);
        if c.make_current {
            self.current = name.clone();
        }
        for (path, d) in &c.datasets {
            if let Some(map) = &d.map {
                self.note_mapped(&name, path, &d.meta, map);
            }
        }
        for (raw_path, row, ext, bytes) in c.new_chunks {
            self.chunks.insert(&raw_path, row, &ext, Arc::new(bytes));
        }
        self.catalog.record_commit(&name, c.tree, c.datasets);
        self.update_version_index(Some(&name));
    }

    /// Brings the version index file up to the file as it is now, after a write that
    /// reached it: appends the record of the version `added` when the index file
    /// holds exactly the other versions, and otherwise writes it anew (when every
    /// version is committed and timed). A failure only leaves the index stale: the
    /// next open reads the version groups.
    pub(crate) fn update_version_index(&mut self, added: Option<&str>) {
        let Some(mut st) = self.vindex.take() else {
            return;
        };
        match self.file.as_ref().and_then(h5::stamp_now) {
            Some(stamp) => self.write_version_index(&mut st, added, &stamp),
            None => st.synced = false,
        }
        self.vindex = Some(st);
    }

    fn write_version_index(
        &self,
        st: &mut vindex::IndexState,
        added: Option<&str>,
        stamp: &h5::FileStamp,
    ) {
        let path = std::path::Path::new(&self.path);
        if st.synced {
            let r = match added.and_then(|n| self.versions.get(n)) {
                Some(info) => vindex::append(path, st, info, stamp),
                None => vindex::restamp(path, st, stamp),
            };
            if r.is_ok() {
                return;
            }
        }
        if self.unmarked.is_empty() && vindex::indexable(self.versions.values()) {
            // In time order (every version is committed here, so all are in it): an
            // open then finds the order it needs without sorting.
            *st = vindex::write_full(path, stamp, self.versions.by_time())
                .unwrap_or_else(|_| vindex::IndexState::unsynced());
        }
    }

    /// Drops every libhdf5 object of the file but the file itself, and what was read
    /// through them (storage, catalog, read cache, the second descriptor).
    fn drop_file_state(&mut self) {
        self.data_groups.clear();
        self.catalog.clear();
        self.raws.clear();
        self.data_file = None;
        self.chunks.clear();
        self.keep_open.clear();
    }

    /// Closes libhdf5's file (every object of it first), then, for a writer whose
    /// close left the file whole, says so in the version index file.
    pub(crate) fn close_file(&mut self) {
        let id = self
            .file
            .as_ref()
            .and_then(h5::stamp_now)
            .map(|s| (s.dev, s.ino));
        self.drop_file_state();
        self.file = None;
        let (Some((dev, ino)), Some(mut st)) = (id, self.vindex.take()) else {
            return;
        };
        if let Some(stamp) = h5::take_close_stamp(dev, ino) {
            self.write_version_index(&mut st, None, &stamp);
        }
    }

    /// Marks `name` as being staged: no other version may take it until
    /// [`end_staging`](Self::end_staging).
    pub(crate) fn begin_staging(&mut self, name: &str) {
        self.staging.insert(name.to_string());
    }

    /// Frees a name [`begin_staging`](Self::begin_staging) took.
    pub(crate) fn end_staging(&mut self, name: &str) {
        self.staging.remove(name);
    }

    pub(crate) fn file(&self) -> Result<&Hid> {
        if let Some(e) = self.follow.as_ref().and_then(|f| f.error.as_ref()) {
            if self.file.is_some() {
                return Err(e.clone());
            }
        }
        self.file.as_ref().ok_or_else(|| {
            err(
                ErrorKind::FileClosed,
                "the file is closed: open it again with VersionedFile.open",
            )
        })
    }

    /// After a failed write operation: when the file driver saw an I/O error in the
    /// open transaction (a full disk, a failing device), the error for the caller
    /// (`NO_SPACE` / `IO_ERROR`, naming the file and the cause, then `context`), with
    /// the file put back as the last checkpoint left it and this state opened anew
    /// over it (docs/design/006-io-faults.md): the driver writes the journaled bytes
    /// back and cuts the file to its checkpoint length, then refuses every write, so
    /// closing libhdf5's now stale view of the file changes nothing; the file is then
    /// opened again and its state (version index, catalog, storage, read cache)
    /// rebuilt, so the same handle commits again once the cause is gone. `None` when
    /// the driver saw no I/O error (the caller's own error stands).
    pub(crate) fn after_io_fault(&mut self, context: &str) -> Option<Error> {
        let fault = h5::io_fault(self.file.as_ref()?)?;
        let e = fault.to_error(context);
        Some(self.reopen_rolled_back(e))
    }

    /// Puts the file back as the last checkpoint left it (the undo journal's old bytes
    /// written back, the file cut to its checkpoint length) and opens this state anew
    /// over it; returns `e` with what became of the handle appended. For an operation
    /// that failed part way through its transaction ([`after_io_fault`] for I/O
    /// errors; history rewrites for any error).
    ///
    /// [`after_io_fault`]: Self::after_io_fault
    pub(crate) fn reopen_rolled_back(&mut self, mut e: Error) -> Error {
        match self.roll_back_and_reopen() {
            Ok(()) => e.message.push_str(
                ". Nothing of it is in the file, which is as the last successful commit left it; this handle is ready for the next one",
            ),
            Err(r) => e.message.push_str(&format!(
                ". The handle is closed ({}); the file is rolled back to the last successful commit the next time it is opened",
                r.message
            )),
        }
        e
    }

    /// Undoes the file's open journal transaction (everything written since the last
    /// flush) and opens the file again in this handle, whose cached state described
    /// the undone writes (see [`reopen_rolled_back`](Self::reopen_rolled_back)). Names
    /// being staged stay taken. On an error the handle is closed, and the next open
    /// rolls the file back.
    pub(crate) fn roll_back_and_reopen(&mut self) -> Result<()> {
        self.spill_owner = None;
        let rolled = self.file.as_ref().map(h5::roll_back);
        let staging = std::mem::take(&mut self.staging);
        let cache_bytes = self.chunks.capacity();
        self.drop_file_state();
        // Objects whose close failed inside libhdf5 on the failed write are closed again
        // (what they write is dropped). Any left keep libhdf5's stale view of the file
        // open until the process ends; the driver makes it equal to no other file, so
        // the open below gets a state of its own.
        if let Some(f) = self.file.as_ref() {
            h5::close_leftover_objects(f);
        }
        self.file = None;
        if let Some(k) = self.registered.take() {
            writers().remove(&k);
        }
        let reopen = match rolled {
            Some(Err(r)) => Err(r),
            _ => Inner::open_fresh(&self.path, self.durability),
        };
        let mut fresh = reopen?;
        fresh.staging = staging;
        fresh.catalog.follow(self.catalog.generation());
        fresh.chunks.set_capacity(cache_bytes);
        *self = fresh;
        Ok(())
    }

    /// The state of `path` opened anew for writing (to replace a state whose view of
    /// the file is stale).
    /// Opens `path` writable again as a bare `Inner` (after a rollback or a
    /// rewrite), keeping the durability the handle had.
    pub(crate) fn open_fresh(path: &str, durability: Durability) -> Result<Inner> {
        VersionedFile::open_with(path, Mode::ReadWrite, durability).and_then(|vf| {
            Arc::try_unwrap(vf.inner)
                .map(|m| m.into_inner().unwrap_or_else(|p| p.into_inner()))
                .map_err(|_| err(ErrorKind::InternalError, "the reopened file is shared"))
        })
    }

    /// [`require_writable_by`](Self::require_writable_by) for a caller that is no
    /// staged version.
    pub(crate) fn require_writable(&self) -> Result<()> {
        self.require_writable_by(None)
    }

    /// Fails unless the file is open for writing and no staged version other than
    /// `stage` (a [`StagedVersion::id`](crate::StagedVersion::id)) has an open
    /// transaction on it (see [`spill_owner`](Self::spill_owner)).
    pub(crate) fn require_writable_by(&self, stage: Option<usize>) -> Result<()> {
        self.file()?;
        if let Some((id, name)) = &self.spill_owner {
            if Some(*id) != stage {
                bail!(
                    FileLocked,
                    "version '{name}' is being staged and has written part of its data to '{}' already: commit or abandon it before writing anything else to this file",
                    self.path
                );
            }
        }
        if !self.writable {
            bail!(
                ReadOnly,
                "the file '{}' is open read-only: open it with mode 'a' or 'r+' to write",
                self.path
            );
        }
        Ok(())
    }
}

/// The file's lock, as [`VersionedFile::lock`] gives it: for a read-only handle, with
/// the reader's lock on the file for the call (see [`follow`]), let go when dropped.
pub(crate) struct FileGuard<'a> {
    // Declared first: let go before the state's lock.
    _hold: Option<h5::readers::ReadHold>,
    g: MutexGuard<'a, Inner>,
}

impl Drop for FileGuard<'_> {
    fn drop(&mut self) {
        if self._hold.is_some() {
            // Still under the reader's lock: whether a writer wrote past it.
            self.g.torn_now();
        }
        // A failure to take the reader's lock belongs to this call only.
        if let Some(f) = self.g.follow.as_mut() {
            f.error = None;
            f.held_begin = None;
        }
    }
}

impl std::ops::Deref for FileGuard<'_> {
    type Target = Inner;

    fn deref(&self) -> &Inner {
        &self.g
    }
}

impl std::ops::DerefMut for FileGuard<'_> {
    fn deref_mut(&mut self) -> &mut Inner {
        &mut self.g
    }
}

impl VersionedFile {
    /// The file's lock if it is free now (as [`lock`](Self::lock) for a poisoned one),
    /// without a reader's lock on the file: only for what needs no libhdf5 call.
    pub(crate) fn try_lock(&self) -> Option<MutexGuard<'_, Inner>> {
        match self.inner.try_lock() {
            Ok(g) => Some(g),
            Err(std::sync::TryLockError::Poisoned(p)) => Some(p.into_inner()),
            Err(std::sync::TryLockError::WouldBlock) => None,
        }
    }

    /// The file's lock for one call. For a read-only handle it also takes the reader's
    /// lock on the file and brings libhdf5's handle up to the file's last commit (see
    /// [`follow`]); a failure there is reported by the call's first use of the file.
    pub(crate) fn lock(&self) -> FileGuard<'_> {
        let mut g = self.lock_raw();
        let hold = g.sync();
        FileGuard { _hold: hold, g }
    }

    /// The file's lock alone (no reader's lock on the file).
    pub(crate) fn lock_raw(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock is caught (the worker and the binding turn it
        // into INTERNAL_ERROR) and the guard is taken back: the state it guards is
        // updated only after the file was, so it stays usable, and refusing every
        // later call would lose the handle to a bug in one of them.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Closes the file, flushing it. Idempotent. Staged versions not yet committed are
    /// discarded.
    pub fn close(&self) -> Result<()> {
        let mut g = self.lock_raw();
        if g.spill_owner.take().is_some() {
            // A staged version wrote chunks ahead of its commit: it is abandoned, and
            // the file goes back to the last commit.
            let rolled = g.file.as_ref().map(h5::roll_back).transpose();
            drop(g);
            let _ = self.close_now();
            return rolled.map(|_| ());
        }
        if let Some(f) = g.file.as_ref() {
            if g.writable {
                // What closing writes waits for readers' calls, as a commit does.
                h5::hold_writes(f)?;
                if let Err(e) = h5::file_flush(f) {
                    // A write that failed (a full disk): the file goes back to the last
                    // commit, and closing then changes nothing.
                    let context = format!("closing '{}'", g.path);
                    let e = g.after_io_fault(&context).unwrap_or(e);
                    drop(g);
                    let _ = self.close_now();
                    return Err(e);
                }
            }
        }
        drop(g);
        self.close_now()
    }

    /// Closes the file without flushing it (see [`close`](Self::close)).
    fn close_now(&self) -> Result<()> {
        let mut g = self.lock_raw();
        g.close_file();
        g.follow = None;
        if let Some(k) = g.registered.take() {
            writers().remove(&k);
        }
        Ok(())
    }

    /// Sets the capacity of this file's read cache: decoded `raw_data` chunks that
    /// reads touched, kept so that reading them again skips libhdf5 (stored chunks of
    /// committed versions never change). 0 turns it off and frees it. The default is
    /// [`DEFAULT_READ_CACHE_BYTES`] (64 MiB); variable-length strings are not cached.
    pub fn set_read_cache_bytes(&self, bytes: u64) {
        self.lock_raw().chunks.set_capacity(bytes);
    }

    /// How many reads since the file was opened were answered outside libhdf5, with
    /// positioned reads of the stored slots (reads of many chunks; docs/design/012).
    /// For tests and diagnostics.
    pub fn direct_read_count(&self) -> u64 {
        self.lock().direct_reads
    }

    /// The read cache's capacity and the bytes it holds now (chunk bytes plus a small
    /// per-chunk overhead), as `(capacity, used)`.
    pub fn read_cache_bytes(&self) -> (u64, u64) {
        let g = self.lock_raw();
        (g.chunks.capacity(), g.chunks.weight())
    }

    /// Sets the capacity of this file's catalog: what is known of committed versions
    /// (trees, dataset metadata, attributes, chunk maps), kept so that staging over a
    /// version and reading it do not read it from the file again. Versions used least
    /// are forgotten first, and read again when needed. The default is
    /// [`DEFAULT_CATALOG_BYTES`] (128 MiB, estimated).
    pub fn set_catalog_bytes(&self, bytes: u64) {
        self.lock_raw().catalog.set_capacity(bytes);
    }

    /// The catalog's state now (see [`set_catalog_bytes`](Self::set_catalog_bytes)).
    pub fn catalog_stats(&self) -> CatalogStats {
        self.lock_raw().catalog.stats()
    }

    /// Whether [`close`](Self::close) was called.
    pub fn is_closed(&self) -> bool {
        self.lock_raw().file.is_none()
    }

    /// Whether the file accepts writes.
    pub fn is_writable(&self) -> bool {
        self.lock_raw().writable
    }

    /// Whether opening the file rolled back an interrupted commit (a writer that died
    /// between two flushes; see [`h5::journal`]).
    pub fn recovered(&self) -> bool {
        self.lock_raw().recovered
    }

    /// The file's format generation, its `data_version` attribute: 4 for files
    /// written by this library and by Python versioned-hdf5 since 1.8 (1 when the
    /// attribute is absent: files of the first generation). A writable open may have
    /// upgraded it (see [`open`]). `FILE_CLOSED` after [`close`](Self::close).
    pub fn data_version(&self) -> Result<i64> {
        let g = self.lock();
        g.file()?;
        Ok(g.data_version)
    }

    /// What a returned commit survives (the `durability` the file was opened with).
    pub fn durability(&self) -> Durability {
        self.lock().durability
    }

    /// Path the file was opened with.
    pub fn path(&self) -> String {
        self.lock_raw().path.clone()
    }
}
