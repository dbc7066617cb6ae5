//! A versioned file: the version index, per-dataset storage state, and reads of
//! committed versions.
//!
//! Invariants kept while a file is open:
//! - `versions` mirrors the version groups on disk (committed or not); `by_time` lists
//!   the committed ones sorted by (timestamp, name), so lookups by time are a binary
//!   search.
//! - a [`DataGroup`] in `data_groups` mirrors its on-disk hash table rows
//!   `[0, largest_index)`; it is loaded once and appended to by commits, never reloaded.
//! - decoded chunk maps of committed version datasets never change (versions are
//!   immutable), so they are cached by (version, path); so are the decoded chunks of
//!   `raw_data` that reads touch, up to a byte budget (see [`crate::cache`]).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::ops::Deref;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};

use crate::attrs::{AttrValue, Attrs, DATASET_RESERVED, VERSION_RESERVED};
use crate::buf::{AlignedBytes, ReadData};
use crate::cache::{ChunkCache, FastMap, DEFAULT_READ_CACHE_BYTES};
use crate::dtype::Dtype;
use crate::error::{bail, err, ErrorKind, Result};
use crate::grid::{self, AxisSel, ChunkCoord, Selection};
use crate::h5::{self, Filters, Hid};
use crate::hash::{HashKind, HASH_ATTR};
use crate::strings::{hash_elements, StrPool, Values};
use crate::time;

/// Name of the group that holds all versioning data.
pub const VERSION_DATA: &str = "_version_data";
/// Name of the empty root version.
pub const FIRST_VERSION: &str = "__first_version__";
/// The format generation this library writes.
pub const DATA_VERSION: i64 = 4;

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

/// What a read of one committed version dataset needs (it never changes).
#[derive(Debug)]
pub(crate) struct Reader {
    pub meta: DatasetMeta,
    pub raw_path: String,
    pub map: Arc<ChunkMap>,
}

/// The last `raw_data` rows something relies on, and what relies on them.
#[derive(Clone, Debug, Default)]
pub(crate) struct RowUse {
    /// First row of the mapping or hash-table row that reaches furthest.
    pub start: u64,
    /// One past its last row (0: nothing relies on any row).
    pub end: u64,
    /// Who relies on them, for messages: "version 'v2' (its chunk at [50])", "the
    /// hash table of 'x'".
    pub by: String,
}

impl RowUse {
    /// Keeps `[start, end)` if it reaches further than what is recorded.
    fn note(&mut self, start: u64, end: u64, by: impl FnOnce() -> String) {
        if end > self.end {
            *self = RowUse {
                start,
                end,
                by: by(),
            };
        }
    }
}

/// Storage state of one dataset path: its hash table, in memory.
#[derive(Debug)]
pub(crate) struct DataGroup {
    pub raw: Hid,
    pub table: Hid,
    pub meta: DatasetMeta,
    pub hash: HashKind,
    pub index: HashMap<[u8; 32], u64>,
    pub largest_index: u64,
    /// The table's rows `[0, largest_index)` as stored (48 bytes each), when they were
    /// read: commits rewrite the table's last chunk from it without reading it back.
    pub table_bytes: Option<Vec<u8>>,
    /// The furthest `raw_data` rows a hash-table row below `largest_index` names (a
    /// commit may deduplicate into them).
    pub table_end: RowUse,
    /// The furthest `raw_data` rows any version maps: computed on the first commit that
    /// stores chunks here (see [`Inner::check_storage`]), then kept up to date.
    pub mapped_end: Option<RowUse>,
    /// Whether the table's only filter is LZF, and its rows per chunk: read once.
    pub table_layout: Option<(bool, u64)>,
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
    pub versions: HashMap<String, VersionInfo>,
    pub by_time: Vec<(i64, String)>,
    pub current: String,
    pub staging: HashSet<String>,
    /// Version groups without a `committed` attribute: neither committed nor an
    /// interrupted commit (which writes `committed = False` first), so damaged.
    pub unmarked: HashSet<String>,
    pub data_groups: HashMap<String, DataGroup>,
    pub maps: HashMap<(String, String), Arc<ChunkMap>>,
    /// Metadata and raw_data path of committed version datasets, by (version, path):
    /// committed versions never change, so repeated reads skip opening them.
    pub read_metas: HashMap<(String, String), Arc<(DatasetMeta, String)>>,
    /// User attributes of committed version datasets, by (version, path), for
    /// staging over a version without opening its datasets again.
    pub ds_attrs: HashMap<(String, String), Attrs>,
    /// Trees of the committed versions staged over (or committed) last, newest last
    /// (at most [`TREES_KEPT`]): staging over a version then lists no groups.
    pub(crate) trees: Vec<(String, Arc<Tree>)>,
    /// What reads of a committed version dataset need, by version then path (looked
    /// up without allocating a key): filled by the first read of each.
    pub(crate) readers: FastMap<String, FastMap<String, Arc<Reader>>>,
    /// Open `raw_data` handles by path, kept for reads (each open copies property
    /// lists, and an open handle keeps libhdf5's chunk cache warm).
    pub raws: HashMap<String, Hid>,
    /// Decoded `raw_data` chunks that reads touched (see [`crate::cache`]).
    pub(crate) chunks: ChunkCache,
    /// The file's `data_version` (1 when the attribute is absent).
    pub data_version: i64,
    /// Canonical path registered as open for writing in this process.
    pub registered: Option<std::path::PathBuf>,
    /// Whether opening rolled back an interrupted commit.
    pub recovered: bool,
}

impl Drop for Inner {
    fn drop(&mut self) {
        if let Some(k) = self.registered.take() {
            writers().remove(&k);
        }
    }
}

/// Files open for writing in this process: libhdf5 would share one file between two
/// handles, whose in-memory indexes would then disagree.
fn writers() -> MutexGuard<'static, HashSet<std::path::PathBuf>> {
    static WRITERS: std::sync::LazyLock<Mutex<HashSet<std::path::PathBuf>>> =
        std::sync::LazyLock::new(|| Mutex::new(HashSet::new()));
    WRITERS.lock().unwrap_or_else(|p| p.into_inner())
}

/// An open versioned HDF5 file. Cheap to clone; clones share the same open file.
#[derive(Clone)]
pub struct VersionedFile {
    pub(crate) inner: Arc<Mutex<Inner>>,
}

/// Absolute HDF5 path of a dataset path's data group.
pub(crate) fn data_group_path(ds_path: &str) -> String {
    format!("/{VERSION_DATA}/{ds_path}")
}

/// Absolute HDF5 path of a version group.
pub(crate) fn version_group_path(name: &str) -> String {
    format!("/{VERSION_DATA}/versions/{name}")
}

/// Resolves a path given relative to a version, or absolute inside the file
/// (`/_version_data/versions/<version>/a/b`), to a path relative to `version`.
/// `None` when an absolute path points outside the version.
pub fn version_relative(version: &str, p: &str) -> Option<String> {
    if !p.starts_with('/') {
        return Some(p.to_string());
    }
    let root = version_group_path(version);
    let rest = p.strip_prefix(&root)?;
    if rest.is_empty() || rest.starts_with('/') {
        Some(rest.to_string())
    } else {
        None
    }
}

/// Normalises a user path inside a version: strips slashes at both ends, refuses
/// empty components, `.` and `..`.
pub fn normalize_path(p: &str) -> Result<String> {
    normalized(p).map(str::to_string)
}

/// [`normalize_path`] without allocating: the normalised path is a part of `p`.
fn normalized(p: &str) -> Result<&str> {
    let t = p.trim_matches('/');
    if t.is_empty() {
        return Ok("");
    }
    for part in t.split('/') {
        if part.is_empty() || part == "." || part == ".." {
            bail!(
                InvalidArgument,
                "invalid path '{p}': use names separated by single '/'"
            );
        }
    }
    Ok(t)
}

impl Inner {
    pub(crate) fn file(&self) -> Result<&Hid> {
        self.file.as_ref().ok_or_else(|| {
            err(
                ErrorKind::FileClosed,
                "the file is closed: open it again with VersionedFile.open",
            )
        })
    }

    pub(crate) fn require_writable(&self) -> Result<()> {
        self.file()?;
        if !self.writable {
            bail!(
                ReadOnly,
                "the file '{}' is open read-only: open it with mode 'a' or 'r+' to write",
                self.path
            );
        }
        Ok(())
    }

    pub(crate) fn rebuild_time_index(&mut self) {
        let mut v: Vec<(i64, String)> = self
            .versions
            .values()
            .filter(|i| i.committed)
            .map(|i| (i.timestamp.unwrap_or(i64::MIN), i.name.clone()))
            .collect();
        v.sort();
        self.by_time = v;
    }

    /// A committed version whose commit time is unknown (its `timestamp` attribute is
    /// missing or unreadable), if any. Such versions sort first in `by_time`.
    fn untimed(&self) -> Option<&str> {
        self.by_time
            .iter()
            .take_while(|(t, _)| *t == i64::MIN)
            .map(|(_, n)| n.as_str())
            .find(|n| self.versions.get(*n).is_some_and(|v| v.timestamp.is_none()))
    }

    /// Adds one committed version to the time index, keeping it sorted.
    pub(crate) fn index_time(&mut self, timestamp: i64, name: &str) {
        let key = (timestamp, name.to_string());
        let at = self.by_time.partition_point(|e| *e < key);
        self.by_time.insert(at, key);
    }

    pub(crate) fn committed(&self, name: &str) -> Result<&VersionInfo> {
        match self.versions.get(name) {
            Some(v) if v.committed => Ok(v),
            Some(_) if self.unmarked.contains(name) => {
                let child = self
                    .by_time
                    .iter()
                    .filter_map(|(_, n)| self.versions.get(n))
                    .find(|c| c.prev_version == name)
                    .map(|c| format!(" (version '{}' was committed on top of it)", c.name))
                    .unwrap_or_default();
                bail!(
                    CorruptFile,
                    "version '{name}' is damaged: its group has no 'committed' attribute, so whether it was committed is unknown{child}. verify() reports it; if its data is whole, h5py can restore the attribute (attrs['committed'] = True)"
                )
            }
            Some(_) => bail!(
                VersionNotFound,
                "version '{name}' was never committed (its commit was interrupted)"
            ),
            None if self.staging.contains(name) => {
                bail!(
                    VersionNotFound,
                    "version '{name}' is still being staged: wait for stageVersion to finish"
                )
            }
            None => bail!(
                VersionNotFound,
                "no version named '{name}': see versions for the committed names"
            ),
        }
    }

    /// The current version, or `CORRUPT_FILE` when `current_version` names no committed
    /// version. `None` when it is `__first_version__` (no version yet).
    pub(crate) fn current_committed(&self) -> Result<Option<&VersionInfo>> {
        if self.current == FIRST_VERSION {
            return Ok(None);
        }
        match self.committed(&self.current) {
            Ok(v) => Ok(Some(v)),
            Err(e) if e.kind == ErrorKind::VersionNotFound => bail!(
                CorruptFile,
                "the file's current_version names '{}', which is not a committed version: the file is damaged; make a committed version current with setCurrentVersion",
                self.current
            ),
            Err(e) => Err(e),
        }
    }

    /// Reads a version dataset's metadata.
    pub(crate) fn dataset_meta(&self, ds: &Hid) -> Result<(DatasetMeta, String)> {
        let shape = h5::ds_shape(ds)?;
        let dtype = h5::dtype_of(&h5::ds_type(ds)?)?;
        let fill = h5::ds_fill(ds, &dtype)?;
        let raw_path = match h5::read_attr(ds, "raw_data") {
            Ok(AttrValue::Str(s)) => s,
            _ => bail!(CorruptFile, "a version dataset has no 'raw_data' attribute: the file is not a valid versioned-hdf5 file"),
        };
        let chunks = chunks_attr(ds, "a version dataset")?;
        let file = self.file()?;
        let filters = match h5::open_storage(file, &raw_path) {
            Ok(raw) => h5::ds_filters(&raw)?,
            Err(_) => bail!(
                CorruptFile,
                "the raw data '{raw_path}' of a version dataset is missing"
            ),
        };
        Ok((
            DatasetMeta {
                shape,
                dtype,
                chunks,
                fill,
                filters,
            },
            raw_path,
        ))
    }

    /// Decoded chunk map of `version`'s dataset at `path` (cached).
    pub(crate) fn chunk_map(
        &mut self,
        version: &str,
        path: &str,
        meta: &DatasetMeta,
    ) -> Result<Arc<ChunkMap>> {
        let key = (version.to_string(), path.to_string());
        if let Some(m) = self.maps.get(&key) {
            return Ok(m.clone());
        }
        let ds = h5::open_dataset(
            self.file()?,
            &format!("{}/{path}", version_group_path(version)),
        )?;
        let mut map = ChunkMap::new();
        if let Some((mappings, _)) = h5::read_mappings(&ds)? {
            for m in mappings {
                let mut k = Vec::with_capacity(m.vstart.len());
                for (i, &s) in m.vstart.iter().enumerate() {
                    if s % meta.chunks[i] != 0 {
                        bail!(
                            CorruptFile,
                            "misaligned chunk in '{path}' of version '{version}'"
                        );
                    }
                    k.push(s / meta.chunks[i]);
                }
                if grid::chunk_extent(&meta.shape, &meta.chunks, &k).as_slice()
                    != m.extent.as_slice()
                {
                    bail!(CorruptFile, "a mapping of '{path}' in version '{version}' does not cover exactly one chunk");
                }
                map.insert(k, m.src_row);
            }
        }
        let arc = Arc::new(map);
        self.maps.insert(key, arc.clone());
        Ok(arc)
    }

    /// Loads (once) the storage state of a dataset path, or `None` if it has none yet.
    pub(crate) fn data_group(&mut self, ds_path: &str) -> Result<Option<&mut DataGroup>> {
        let loaded = self.load_data_group(ds_path);
        match loaded {
            Err(e)
                if self.writable
                    && matches!(e.kind, ErrorKind::CorruptFile | ErrorKind::Hdf5Error) =>
            {
                // A hash table that cannot be read or holds malformed rows (an
                // interrupted commit can leave its last chunk half-written) is an index,
                // not data: rebuild it from the chunks the committed versions map.
                self.rebuild_hash_table(ds_path).map_err(|r| {
                    err(
                        r.kind,
                        format!(
                            "{} (rebuilding the damaged hash table failed: {})",
                            e.message, r.message
                        ),
                    )
                })?;
                self.load_data_group(ds_path)?;
            }
            other => {
                other?;
            }
        }
        Ok(self.data_groups.get_mut(ds_path))
    }

    /// Rewrites the hash table of `ds_path` from scratch: one row per slot up to the
    /// last slot any committed version maps, hashed from the stored chunk (rows of
    /// unreferenced slots get an all-zero hash that matches nothing).
    fn rebuild_hash_table(&mut self, ds_path: &str) -> Result<()> {
        self.data_groups.remove(ds_path);
        self.raws.clear();
        let gpath = data_group_path(ds_path);
        let raw_path = format!("{gpath}/raw_data");
        let (meta, kind, slots) = {
            let file = self.file()?;
            let meta = raw_meta(&h5::open_storage(file, &raw_path)?, &raw_path)?;
            let table_path = format!("{gpath}/hash_table");
            let kind = h5::open_storage(file, &table_path)
                .and_then(|t| h5::read_attr(&t, HASH_ATTR))
                .ok()
                .and_then(|a| match a {
                    AttrValue::Str(s) => HashKind::parse(&s),
                    _ => None,
                })
                .unwrap_or(HashKind::Sha256);
            let mut slots: BTreeMap<u64, Vec<u64>> = BTreeMap::new();
            for v in self.versions.values().filter(|v| v.committed) {
                let vg = h5::open_group(file, &version_group_path(&v.name))?;
                if !h5::exists(&vg, ds_path)? {
                    continue;
                }
                let ds = h5::open_dataset(&vg, ds_path)?;
                if let Some((mappings, _)) = h5::read_mappings(&ds)? {
                    for m in mappings {
                        slots.entry(m.src_row).or_insert(m.extent);
                    }
                }
            }
            (meta, kind, slots)
        };
        let c0 = meta.chunks[0];
        let n = slots.keys().next_back().map_or(0, |r| r / c0 + 1);
        let mut rows = Vec::with_capacity(n as usize);
        for k in 0..n {
            let start = k * c0;
            let row = match slots.get(&start) {
                Some(ext) => {
                    let mut pool = StrPool::default();
                    let bytes =
                        self.read_stored_slot(&raw_path, &meta, start, ext, Some(&mut pool))?;
                    let hash = hash_elements(kind, &meta.dtype, &bytes, &pool, ext);
                    h5::HashRow {
                        hash,
                        start: start as i64,
                        stop: (start + ext[0]) as i64,
                    }
                }
                None => h5::HashRow {
                    hash: [0; 32],
                    start: start as i64,
                    stop: start as i64,
                },
            };
            rows.push(row);
        }
        // The old table goes only once every stored chunk was read and hashed: a failure
        // above (a chunk missing from raw_data) leaves the file as it was.
        let file = self.file()?;
        let table_path = format!("{gpath}/hash_table");
        if h5::exists(file, &table_path)? {
            h5::unlink(file, &table_path)?;
        }
        let g = h5::open_group(file, &gpath)?;
        let table = h5::create_hash_table(&g)?;
        if kind != HashKind::Sha256 {
            h5::write_attr(&table, HASH_ATTR, &AttrValue::Str(kind.name().to_string()))?;
        }
        h5::write_hash_rows(&table, 0, &rows)?;
        h5::write_attr(&table, "largest_index", &AttrValue::Int(n as i64))?;
        h5::file_flush(file)
    }

    /// Loads (once) the storage state of a dataset path into `data_groups`; nothing
    /// when the path has no storage yet.
    pub(crate) fn load_data_group(&mut self, ds_path: &str) -> Result<()> {
        if !self.data_groups.contains_key(ds_path) {
            let file = self.file()?;
            let gpath = data_group_path(ds_path);
            if !h5::exists(file, &format!("{gpath}/raw_data"))? {
                return Ok(());
            }
            let raw_path = format!("{gpath}/raw_data");
            let raw = h5::open_storage(file, &raw_path)?;
            let table = h5::open_storage(file, &format!("{gpath}/hash_table"))?;
            let meta = raw_meta(&raw, &raw_path)?;
            let hash = match h5::attr_exists(&table, HASH_ATTR)? {
                true => match h5::read_attr(&table, HASH_ATTR)? {
                    AttrValue::Str(s) => match HashKind::parse(&s) {
                        Some(k) => k,
                        None => bail!(UnsupportedFormat, "hash table of '{ds_path}' uses hash function '{s}', unknown to this version"),
                    },
                    _ => bail!(CorruptFile, "hash table of '{ds_path}' has a malformed '{HASH_ATTR}' attribute"),
                },
                false => HashKind::Sha256,
            };
            let largest_index = match h5::read_attr(&table, "largest_index")? {
                AttrValue::Int(v) if v >= 0 => v as u64,
                AttrValue::UInt(v) => v,
                _ => bail!(
                    CorruptFile,
                    "hash table of '{ds_path}' has no valid 'largest_index'"
                ),
            };
            let table_len = h5::ds_shape(&table)?.first().copied().unwrap_or(0);
            // Generation-1 files hashed strings by object pointer: those rows say
            // nothing about content, so they are not used for deduplication.
            let trusted = !(meta.dtype.is_vlen() && self.data_version < DATA_VERSION);
            let rows = if trusted {
                h5::read_hash_rows(&table, largest_index.min(table_len))?
            } else {
                Vec::new()
            };
            let table_bytes =
                (trusted && rows.len() as u64 == largest_index).then(|| h5::rows_to_bytes(&rows));
            let mut index = HashMap::with_capacity(rows.len());
            let mut table_end = RowUse::default();
            let c0 = meta.chunks[0] as i64;
            for r in rows {
                if r.start < 0 || r.stop < r.start || r.start % c0 != 0 {
                    bail!(
                        CorruptFile,
                        "hash table of '{ds_path}' has a malformed row ({}, {})",
                        r.start,
                        r.stop
                    );
                }
                if r.stop as u64 > largest_index * meta.chunks[0] {
                    bail!(
                        CorruptFile,
                        "hash table of '{ds_path}' points past largest_index: rebuild it with Python's rebuild_hashtables() before writing"
                    );
                }
                index.entry(r.hash).or_insert(r.start as u64);
                table_end.note(r.start as u64, r.stop as u64, || {
                    format!("the hash table of '{ds_path}'")
                });
            }
            let dg = DataGroup {
                raw,
                table,
                meta,
                hash,
                index,
                largest_index,
                table_bytes,
                table_end,
                mapped_end: None,
                table_layout: None,
            };
            self.data_groups.insert(ds_path.to_string(), dg);
        }
        Ok(())
    }

    /// Refuses (`CORRUPT_FILE`) a commit that would store chunks (of content `hashes`)
    /// of `ds_path` while committed data relies on `raw_data` rows that are not there.
    /// New slots are appended at the end of `raw_data`: rows a version maps past that
    /// end would silently start reading the new slots (or their fill); and a chunk
    /// deduplicated into missing rows would be lost. Likewise, when `raw_data` itself
    /// is gone but versions map data from it, new storage must not be created in its
    /// place. Reads only metadata, and writes nothing.
    ///
    /// Cost: the first commit after opening that appends to a path reads where every
    /// version's mappings of that path point (once; commits keep it up to date).
    pub(crate) fn check_storage(&mut self, ds_path: &str, hashes: &[[u8; 32]]) -> Result<()> {
        let Some(dg) = self.data_group(ds_path)? else {
            return self.check_storage_absent(ds_path);
        };
        let appends = hashes.iter().any(|h| !dg.index.contains_key(h));
        let mapped = if appends {
            self.mapped_end(ds_path)?
        } else {
            RowUse::default()
        };
        let Some(dg) = self.data_groups.get(ds_path) else {
            bail!(
                Hdf5Error,
                "the storage of '{ds_path}' vanished during a commit"
            );
        };
        let rows = h5::ds_shape(&dg.raw)?.first().copied().unwrap_or(0);
        for u in [&mapped, &dg.table_end] {
            if u.end > rows {
                bail!(
                    CorruptFile,
                    "{} relies on rows {}..{} of '{}/raw_data', which holds only {rows} rows: that data is lost, and data a commit adds to '{ds_path}' would land in those rows and read as theirs. Nothing was written. verify() lists the damaged chunks; remove the versions that map them (e.g. with Python versioned-hdf5's delete_versions) or copy the intact versions to a new file before writing '{ds_path}' again",
                    u.by,
                    u.start,
                    u.end,
                    data_group_path(ds_path)
                );
            }
        }
        Ok(())
    }

    /// The furthest `raw_data` rows of `ds_path` any version group maps: computed once
    /// per data group (from cached chunk maps where they are loaded, else from the
    /// version datasets' mappings), then kept up to date by [`Inner::note_mapped`].
    fn mapped_end(&mut self, ds_path: &str) -> Result<RowUse> {
        if let Some(u) = self
            .data_groups
            .get(ds_path)
            .and_then(|d| d.mapped_end.clone())
        {
            return Ok(u);
        }
        let raw_path = format!("{}/raw_data", data_group_path(ds_path));
        let mut names: Vec<&String> = self.versions.keys().collect();
        names.sort();
        let mut out = RowUse::default();
        let file = self.file()?;
        for name in names {
            let key = (name.clone(), ds_path.to_string());
            let by = |vstart: &[u64]| format!("version '{name}' (its chunk at {vstart:?})");
            if let (Some(map), Some(rm)) = (self.maps.get(&key), self.read_metas.get(&key)) {
                let meta = &rm.0;
                for (k, &row) in map.iter() {
                    let ext = grid::chunk_extent(&meta.shape, &meta.chunks, k);
                    out.note(row, row + ext[0], || {
                        by(&k
                            .iter()
                            .zip(&meta.chunks)
                            .map(|(a, c)| a * c)
                            .collect::<Vec<_>>())
                    });
                }
                continue;
            }
            let Some(obj) = version_dataset(file, name, ds_path)? else {
                continue;
            };
            match h5::furthest_source(&obj) {
                Ok(Some(f)) => {
                    if f.source.trim_start_matches('/') == raw_path.trim_start_matches('/') {
                        out.note(f.start, f.end, || by(&f.vstart));
                    }
                }
                Ok(None) => {}
                // libhdf5 cannot describe these mappings (seen after Python's
                // modify_metadata on string datasets, whose creation properties it
                // cannot copy): reads of them go through its virtual-dataset engine
                // (see `read`), and nothing here can say where they point.
                Err(_) => {}
            }
        }
        if let Some(dg) = self.data_groups.get_mut(ds_path) {
            dg.mapped_end = Some(out.clone());
        }
        Ok(out)
    }

    /// Records what a new version `name` maps into `ds_path`'s `raw_data`.
    pub(crate) fn note_mapped(
        &mut self,
        name: &str,
        ds_path: &str,
        meta: &DatasetMeta,
        map: &ChunkMap,
    ) {
        let Some(u) = self
            .data_groups
            .get_mut(ds_path)
            .and_then(|d| d.mapped_end.as_mut())
        else {
            return;
        };
        for (k, &row) in map {
            let ext = grid::chunk_extent(&meta.shape, &meta.chunks, k);
            u.note(row, row + ext[0], || {
                let vstart: Vec<u64> = k.iter().zip(&meta.chunks).map(|(a, c)| a * c).collect();
                format!("version '{name}' (its chunk at {vstart:?})")
            });
        }
    }

    /// Records hash-table rows a commit appended to `ds_path`'s table.
    pub(crate) fn note_table_rows(&mut self, ds_path: &str, rows: &[h5::HashRow]) {
        if let Some(dg) = self.data_groups.get_mut(ds_path) {
            for r in rows {
                dg.table_end.note(r.start as u64, r.stop as u64, || {
                    format!("the hash table of '{ds_path}'")
                });
            }
        }
    }

    /// [`Inner::check_storage`] for a path without `raw_data`: new storage may be
    /// created only where nothing refers to lost storage (no hash table left behind,
    /// no version mapping data from it). Costs one link lookup per version.
    fn check_storage_absent(&self, ds_path: &str) -> Result<()> {
        let file = self.file()?;
        let gpath = data_group_path(ds_path);
        if h5::exists(file, &format!("{gpath}/hash_table"))? {
            bail!(
                CorruptFile,
                "'{gpath}' has a hash table but no raw_data: the stored data of '{ds_path}' is lost. Nothing was written. verify() lists the versions that map it; remove them (e.g. with Python versioned-hdf5's delete_versions) or copy the intact versions to a new file before writing '{ds_path}' again"
            );
        }
        let mut names: Vec<&String> = self.versions.keys().collect();
        names.sort();
        for name in names {
            let Some(obj) = version_dataset(file, name, ds_path)? else {
                continue;
            };
            // Mappings that cannot be read count as data: refusing is the safe side.
            let maps_data = match h5::read_mappings(&obj) {
                Ok(None) => false,
                Ok(Some((m, _))) => !m.is_empty(),
                Err(_) => true,
            };
            if maps_data {
                bail!(
                    CorruptFile,
                    "version '{name}' maps data of '{ds_path}' from '{gpath}/raw_data', which is missing: that data is lost. Nothing was written. Remove the versions that map it (verify() lists them; e.g. with Python versioned-hdf5's delete_versions) or copy the intact versions to a new file before writing '{ds_path}' again"
                );
            }
        }
        Ok(())
    }

    /// Reads the edge-trimmed chunk stored at `row` of a data group: from the read
    /// cache when it holds it, else from `raw_data` (then cached). Variable-length
    /// strings are interned into `pool`, which they need, and never cached.
    pub(crate) fn read_slot(
        &mut self,
        raw_path: &str,
        meta: &DatasetMeta,
        row: u64,
        ext: &[u64],
        pool: Option<&mut StrPool>,
    ) -> Result<ChunkBytes<'static>> {
        if !meta.dtype.is_vlen() {
            if let Some(b) = self.chunks.get(raw_path, row, ext) {
                return Ok(ChunkBytes::Shared(b));
            }
        }
        let b = self.read_stored_slot(raw_path, meta, row, ext, pool)?;
        match b {
            ChunkBytes::Owned(b) if !meta.dtype.is_vlen() => {
                let b = Arc::new(b);
                self.chunks.insert(raw_path, row, ext, b.clone());
                Ok(ChunkBytes::Shared(b))
            }
            other => Ok(other),
        }
    }

    /// [`read_slot`](Self::read_slot) straight from `raw_data`, bypassing the read
    /// cache (for checks and repairs of what is stored, which also should not evict
    /// what reads use).
    pub(crate) fn read_stored_slot(
        &mut self,
        raw_path: &str,
        meta: &DatasetMeta,
        row: u64,
        ext: &[u64],
        pool: Option<&mut StrPool>,
    ) -> Result<ChunkBytes<'static>> {
        if !self.raws.contains_key(raw_path) {
            let h = h5::open_storage(self.file()?, raw_path)?;
            self.raws.insert(raw_path.to_string(), h);
        }
        let Some(raw) = self.raws.get(raw_path) else {
            bail!(Hdf5Error, "'{raw_path}' could not be opened");
        };
        let rows = h5::ds_shape(raw)?.first().copied().unwrap_or(0);
        if row + ext.first().copied().unwrap_or(0) > rows {
            bail!(
                CorruptFile,
                "a version maps rows {row}..{} of '{raw_path}', which has only {rows} rows: the stored data is missing (truncated file?)",
                row + ext.first().copied().unwrap_or(0)
            );
        }
        let mut start = vec![0u64; ext.len()];
        start[0] = row;
        if meta.dtype.is_vlen() {
            let Some(pool) = pool else {
                bail!(
                    Hdf5Error,
                    "reading strings of '{raw_path}' without a string pool (a bug in this library)"
                );
            };
            let strings = h5::read_strings(raw, &start, ext)?;
            return Ok(ChunkBytes::Owned(pool.encode(&strings)));
        }
        let mut buf = vec![0u8; grid::volume(ext)? * meta.dtype.size()];
        h5::read_block(raw, &meta.dtype, &start, ext, &mut buf)?;
        Ok(ChunkBytes::Owned(buf))
    }
}

/// The dataset at `ds_path` in version `version`, if that version has one there.
fn version_dataset(file: &Hid, version: &str, ds_path: &str) -> Result<Option<Hid>> {
    let vg = h5::open_group(file, &version_group_path(version))?;
    if !h5::exists(&vg, ds_path)? {
        return Ok(None);
    }
    let obj = h5::open_object(&vg, ds_path)?;
    Ok((h5::kind_of(&obj) == h5::ObjKind::Dataset).then_some(obj))
}

/// A version's tree: group paths with attributes; dataset paths with metadata and
/// attributes.
pub(crate) type Tree = (
    BTreeMap<String, Attrs>,
    BTreeMap<String, (DatasetMeta, Attrs)>,
);

/// Walks a version's tree: every group path and every dataset path with its metadata.
/// With `cached`, dataset metadata comes from (and goes to) `read_metas`: reading a
/// version dataset's fill value copies its whole creation property list, virtual
/// mappings included, which for tens of thousands of mappings costs as much as
/// creating the dataset. `verify()` walks uncached, to check what is on disk.
pub(crate) fn walk_version(inner: &mut Inner, version: &str, cached: bool) -> Result<Tree> {
    if cached {
        if let Some((_, t)) = inner.trees.iter().find(|(v, _)| v == version) {
            return Ok((**t).clone());
        }
    }
    let root = h5::open_group(inner.file()?, &version_group_path(version))?;
    let mut groups = BTreeMap::new();
    let mut datasets = BTreeMap::new();
    let mut stack: Vec<(String, Hid)> = vec![(String::new(), root)];
    while let Some((prefix, g)) = stack.pop() {
        for name in h5::list(&g)? {
            let path = if prefix.is_empty() {
                name.clone()
            } else {
                format!("{prefix}/{name}")
            };
            let key = (version.to_string(), path.clone());
            if cached {
                if let (Some(m), Some(a)) = (inner.read_metas.get(&key), inner.ds_attrs.get(&key)) {
                    // A dataset already seen: opening it again would decode all its
                    // virtual mappings.
                    datasets.insert(path, (m.0.clone(), a.clone()));
                    continue;
                }
            }
            let obj = h5::open_object(&g, &name)?;
            match h5::kind_of(&obj) {
                h5::ObjKind::Group => {
                    groups.insert(path.clone(), read_user_attrs(&obj, &[])?);
                    stack.push((path, obj));
                }
                h5::ObjKind::Dataset => {
                    let meta = match inner.read_metas.get(&key).filter(|_| cached) {
                        Some(m) => m.0.clone(),
                        None => {
                            let (meta, raw_path) = inner.dataset_meta(&obj)?;
                            if cached {
                                inner
                                    .read_metas
                                    .insert(key.clone(), Arc::new((meta.clone(), raw_path)));
                            }
                            meta
                        }
                    };
                    let attrs = read_user_attrs(&obj, &DATASET_RESERVED)?;
                    if cached {
                        inner.ds_attrs.insert(key, attrs.clone());
                    }
                    datasets.insert(path, (meta, attrs));
                }
                h5::ObjKind::Other => {}
            }
        }
    }
    if cached {
        inner.keep_tree(version, (groups.clone(), datasets.clone()));
    }
    Ok((groups, datasets))
}

/// How many version trees [`Inner::trees`] keeps.
const TREES_KEPT: usize = 4;

impl Inner {
    /// Keeps the tree of committed version `version` for the next stage over it.
    pub(crate) fn keep_tree(&mut self, version: &str, tree: Tree) {
        self.trees.retain(|(v, _)| v != version);
        if self.trees.len() >= TREES_KEPT {
            self.trees.remove(0);
        }
        self.trees.push((version.to_string(), Arc::new(tree)));
    }
}

/// Reads an object's attributes except `skip`; attributes of unsupported types are
/// left out.
pub(crate) fn read_user_attrs(obj: &Hid, skip: &[&str]) -> Result<Attrs> {
    let mut out = Vec::new();
    for name in h5::attr_names(obj)? {
        if skip.contains(&name.as_str()) {
            continue;
        }
        match h5::read_attr(obj, &name) {
            Ok(v) => out.push((name, v)),
            Err(e) if e.kind == ErrorKind::UnsupportedDtype => {}
            Err(e) => return Err(e),
        }
    }
    Ok(out)
}

fn read_version_info(vgroup: &Hid, name: &str) -> Result<VersionInfo> {
    let s = |k: &str| -> Result<Option<String>> {
        if !h5::attr_exists(vgroup, k)? {
            return Ok(None);
        }
        Ok(match h5::read_attr(vgroup, k)? {
            AttrValue::Str(s) => Some(s),
            _ => None,
        })
    };
    let committed = if h5::attr_exists(vgroup, "committed")? {
        matches!(
            h5::read_attr(vgroup, "committed")?,
            AttrValue::Bool(true) | AttrValue::Int(1)
        )
    } else {
        false
    };
    let timestamp = s("timestamp")?.and_then(|t| time::parse_file_timestamp(&t));
    Ok(VersionInfo {
        name: name.to_string(),
        prev_version: s("prev_version")?.unwrap_or_else(|| FIRST_VERSION.to_string()),
        timestamp,
        committed,
    })
}

impl VersionedFile {
    /// Opens (or creates) a versioned file. A writable file without `_version_data`
    /// is initialised as Python versioned-hdf5 does.
    pub fn open(path: &str, mode: Mode) -> Result<VersionedFile> {
        let exists = Path::new(path).exists();
        let how = match mode {
            Mode::Read | Mode::ReadWrite if !exists => {
                bail!(
                    FileNotFound,
                    "no file at '{path}': create it with mode 'a', 'w' or 'x'"
                )
            }
            Mode::Exclusive if exists => bail!(
                FileExists,
                "'{path}' exists already: open it with mode 'a' or 'r+', or use 'w' to overwrite"
            ),
            Mode::Read => h5::FileOpen::Read,
            Mode::ReadWrite => h5::FileOpen::Write,
            Mode::Append if exists => h5::FileOpen::Write,
            Mode::Append | Mode::Exclusive => h5::FileOpen::Exclusive,
            Mode::Truncate => h5::FileOpen::Truncate,
        };
        if let Ok(k) = std::fs::canonicalize(path) {
            if writers().contains(&k) {
                bail!(
                    FileLocked,
                    "'{path}' is already open for writing by another VersionedFile in this process: use that one, or close it first"
                );
            }
        }
        // A commit a dead writer left half-done is rolled back before anything reads
        // the file (libhdf5 included).
        let recovered = h5::journal::recover(Path::new(path))?;
        if mode == Mode::Truncate && exists {
            // libhdf5 truncates before it takes its file lock: take the lock first, so
            // a file another process is writing is refused, not emptied.
            if let Err(e) = h5::file_open(path, h5::FileOpen::Write) {
                if e.kind == ErrorKind::FileLocked {
                    return Err(e);
                }
            }
        }
        let file = h5::file_open(path, how).map_err(|e| {
            if e.kind == ErrorKind::Hdf5Error && e.message.contains("already open") {
                // libhdf5 keeps one handle per file per process: an open read-only
                // handle here blocks a writer here.
                err(
                    ErrorKind::FileLocked,
                    format!(
                        "'{path}' is already open in this process in another mode: close the other VersionedFile first ({})",
                        e.message
                    ),
                )
            } else if e.kind == ErrorKind::Hdf5Error && exists {
                err(
                    ErrorKind::NotVersionedFile,
                    format!(
                        "'{path}' is not an HDF5 file, or it is damaged: {}",
                        e.message
                    ),
                )
            } else {
                e
            }
        })?;
        let writable = mode != Mode::Read;
        if !h5::exists(&file, &format!("{VERSION_DATA}/versions"))? {
            if !writable {
                bail!(NotVersionedFile, "'{path}' has no versioning data (_version_data): open it with mode 'a' or 'r+' to initialise it");
            }
            initialise(&file)?;
        }
        let vgroup = h5::open_group(&file, &format!("{VERSION_DATA}/versions"))?;
        let data_version = if h5::attr_exists(&vgroup, "data_version")? {
            match h5::read_attr(&vgroup, "data_version")? {
                AttrValue::Int(v) => v,
                AttrValue::UInt(v) => v as i64,
                _ => bail!(CorruptFile, "'data_version' of '{path}' is not an integer"),
            }
        } else {
            1
        };
        match data_version {
            2 | 3 => bail!(
                CorruptFile,
                "'{path}' has data_version {data_version}, whose hash tables are corrupted: rebuild them with Python versioned-hdf5's rebuild_hashtables() or recreate the file"
            ),
            v if v > DATA_VERSION => bail!(
                UnsupportedFormat,
                "'{path}' was written by a later versioned-hdf5 (data_version {v}); update this library to read it"
            ),
            _ => {}
        }
        // Like Python: a generation-1 file opened for writing is upgraded when it has
        // no variable-length string data (the only data its generation hashed wrong).
        let data_version = if writable && data_version < DATA_VERSION && !has_vlen_data(&file)? {
            h5::write_attr(&vgroup, "data_version", &AttrValue::Int(DATA_VERSION))?;
            h5::file_flush(&file)?;
            DATA_VERSION
        } else {
            data_version
        };
        let current = match h5::read_attr(&vgroup, "current_version") {
            Ok(AttrValue::Str(s)) => s,
            _ => bail!(CorruptFile, "'{path}' has no current_version attribute"),
        };
        let mut versions = HashMap::new();
        let mut unmarked = HashSet::new();
        for name in h5::list(&vgroup)? {
            if name == FIRST_VERSION {
                continue;
            }
            let g = h5::open_group(&vgroup, &name)?;
            if !h5::attr_exists(&g, "committed")? {
                unmarked.insert(name.clone());
            }
            versions.insert(name.clone(), read_version_info(&g, &name)?);
        }
        // Recovery: a version group still marked committed=False is what an interrupted
        // commit leaves (the file lock rules out a writer still working on it). A writer
        // removes it, so the name is free again; slots it appended past largest_index
        // are simply overwritten by the next commit.
        let mut current = current;
        if writable {
            let mut half: Vec<VersionInfo> = Vec::new();
            for v in versions.values().filter(|v| !v.committed) {
                // Only an explicit committed=False marks an interrupted commit; a group
                // missing the attribute is damaged, and is left for the user to inspect.
                if !unmarked.contains(&v.name) {
                    half.push(v.clone());
                }
            }
            for v in &half {
                h5::unlink(&vgroup, &v.name)?;
                versions.remove(&v.name);
                if current == v.name {
                    current = if versions.get(&v.prev_version).is_some_and(|p| p.committed) {
                        v.prev_version.clone()
                    } else {
                        FIRST_VERSION.to_string()
                    };
                    h5::write_attr(&vgroup, "current_version", &AttrValue::Str(current.clone()))?;
                }
            }
            if !half.is_empty() {
                h5::file_flush(&file)?;
            }
        }
        let keep_open = vec![h5::open_group(&file, VERSION_DATA)?, vgroup];
        let mut inner = Inner {
            keep_open,
            file: Some(file),
            path: path.to_string(),
            writable,
            versions,
            by_time: Vec::new(),
            current,
            staging: HashSet::new(),
            unmarked,
            data_groups: HashMap::new(),
            maps: HashMap::new(),
            read_metas: HashMap::new(),
            ds_attrs: HashMap::new(),
            trees: Vec::new(),
            readers: FastMap::default(),
            raws: HashMap::new(),
            chunks: ChunkCache::new(DEFAULT_READ_CACHE_BYTES),
            data_version,
            registered: None,
            recovered,
        };
        inner.rebuild_time_index();
        if writable {
            if let Ok(k) = std::fs::canonicalize(path) {
                writers().insert(k.clone());
                inner.registered = Some(k);
            }
        }
        Ok(VersionedFile {
            inner: Arc::new(Mutex::new(inner)),
        })
    }

    /// The file's lock if it is free now (as [`lock`](Self::lock) for a poisoned one).
    fn try_lock(&self) -> Option<MutexGuard<'_, Inner>> {
        match self.inner.try_lock() {
            Ok(g) => Some(g),
            Err(std::sync::TryLockError::Poisoned(p)) => Some(p.into_inner()),
            Err(std::sync::TryLockError::WouldBlock) => None,
        }
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock cannot leave the file state half-updated in
        // a way that matters more than refusing all further use, so recover the guard.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Closes the file, flushing it. Idempotent. Staged versions not yet committed are
    /// discarded.
    pub fn close(&self) -> Result<()> {
        let mut g = self.lock();
        if let Some(f) = g.file.as_ref() {
            if g.writable {
                h5::file_flush(f)?;
            }
        }
        g.data_groups.clear();
        g.maps.clear();
        g.read_metas.clear();
        g.ds_attrs.clear();
        g.trees.clear();
        g.readers.clear();
        g.raws.clear();
        g.chunks.clear();
        g.keep_open.clear();
        g.file = None;
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
        self.lock().chunks.set_capacity(bytes);
    }

    /// The read cache's capacity and the bytes it holds now (chunk bytes plus a small
    /// per-chunk overhead), as `(capacity, used)`.
    pub fn read_cache_bytes(&self) -> (u64, u64) {
        let g = self.lock();
        (g.chunks.capacity(), g.chunks.weight())
    }

    /// Whether [`close`](Self::close) was called.
    pub fn is_closed(&self) -> bool {
        self.lock().file.is_none()
    }

    /// Whether the file accepts writes.
    pub fn is_writable(&self) -> bool {
        self.lock().writable
    }

    /// Whether opening the file rolled back an interrupted commit (a writer that died
    /// between two flushes; see [`h5::journal`]).
    pub fn recovered(&self) -> bool {
        self.lock().recovered
    }

    /// Path the file was opened with.
    pub fn path(&self) -> String {
        self.lock().path.clone()
    }

    /// The current version's name (`__first_version__` in an empty file).
    pub fn current_version(&self) -> Result<String> {
        let g = self.lock();
        g.file()?;
        Ok(g.current.clone())
    }

    /// Makes `name` the current version.
    pub fn set_current_version(&self, name: &str) -> Result<()> {
        let mut g = self.lock();
        g.require_writable()?;
        if name != FIRST_VERSION {
            g.committed(name)?;
        }
        let vg = h5::open_group(g.file()?, &format!("{VERSION_DATA}/versions"))?;
        h5::write_attr(&vg, "current_version", &AttrValue::Str(name.to_string()))?;
        h5::file_flush(g.file()?)?;
        g.current = name.to_string();
        Ok(())
    }

    /// Committed version names, oldest first (by timestamp, then name; versions whose
    /// timestamp is missing from the file come first).
    pub fn versions(&self) -> Result<Vec<String>> {
        let g = self.lock();
        g.file()?;
        Ok(g.by_time.iter().map(|(_, n)| n.clone()).collect())
    }

    /// Committed versions' metadata, oldest first.
    pub fn version_infos(&self) -> Result<Vec<VersionInfo>> {
        let g = self.lock();
        g.file()?;
        Ok(g.by_time
            .iter()
            .filter_map(|(_, n)| g.versions.get(n).cloned())
            .collect())
    }

    /// A committed version by name.
    pub fn version(&self, name: &str) -> Result<VersionInfo> {
        if name.starts_with('/') {
            bail!(
                InvalidArgument,
                "'{name}' is not a version name: names cannot start with '/' (see versions for the names)"
            );
        }
        let g = self.lock();
        g.file()?;
        g.committed(name).cloned()
    }

    /// The latest committed version at or before `micros` (or exactly at it, with
    /// `exact`). Among versions with the same timestamp, the last by name wins.
    pub fn version_at(&self, micros: i64, exact: bool) -> Result<VersionInfo> {
        let g = self.lock();
        g.file()?;
        if let Some(name) = g.untimed() {
            // Its time could be any: no lookup by time can be answered for sure.
            bail!(
                CorruptFile,
                "version '{name}' has no readable 'timestamp' attribute, so no version can be looked up by time: the file is damaged (verify() reports it); look versions up by name instead"
            );
        }
        let idx = g.by_time.partition_point(|(t, _)| *t <= micros);
        let shown = time::format_micros(micros).unwrap_or_else(|_| micros.to_string());
        if idx == 0 {
            bail!(
                NoVersionAtTime,
                "no version was committed at or before {shown}"
            );
        }
        let (t, name) = &g.by_time[idx - 1];
        if exact && *t != micros {
            bail!(NoVersionAtTime, "no version was committed exactly at {shown}: pass exact: false for the latest before it");
        }
        g.committed(name).cloned()
    }

    /// The `n`-th ancestor of the current version (0 = the current version), walking
    /// `prev_version` links. A link to no committed version is `CORRUPT_FILE`.
    pub fn nth_previous(&self, n: u64) -> Result<VersionInfo> {
        let g = self.lock();
        g.file()?;
        let start = g.current.clone();
        let Some(mut info) = g.current_committed()? else {
            bail!(
                VersionNotFound,
                "'{start}' has fewer than {n} versions before it (0 found)"
            );
        };
        for i in 1..=n {
            let prev = info.prev_version.as_str();
            if prev == FIRST_VERSION {
                bail!(
                    VersionNotFound,
                    "'{start}' has fewer than {n} versions before it ({i} found)"
                );
            }
            info = match g.committed(prev) {
                Ok(p) => p,
                Err(e) if e.kind == ErrorKind::VersionNotFound => bail!(
                    CorruptFile,
                    "version '{}' names '{prev}' as its prev_version, which is not a committed version ({}): the file is damaged (verify() reports it)",
                    info.name,
                    e.message
                ),
                Err(e) => return Err(e),
            };
        }
        Ok(info.clone())
    }

    /// What `path` names in a committed version (`""` is the version's root group).
    pub fn node(&self, version: &str, path: &str) -> Result<Node> {
        let path = normalize_path(path)?;
        let mut g = self.lock();
        g.committed(version)?;
        if path.is_empty() {
            return Ok(Node::Group);
        }
        // A dataset seen before: opening it again would decode all its mappings.
        if let Some(m) = g.read_metas.get(&(version.to_string(), path.clone())) {
            return Ok(Node::Dataset(m.0.clone()));
        }
        let vg = h5::open_group(g.file()?, &version_group_path(version))?;
        if !h5::exists(&vg, &path)? {
            bail!(
                NotFound,
                "version '{version}' has nothing at '{path}': see keys() for what it holds"
            );
        }
        let obj = h5::open_object(&vg, &path)?;
        match h5::kind_of(&obj) {
            h5::ObjKind::Group => Ok(Node::Group),
            h5::ObjKind::Dataset => {
                let key = (version.to_string(), path.clone());
                if let Some(m) = g.read_metas.get(&key) {
                    return Ok(Node::Dataset(m.0.clone()));
                }
                let (meta, raw_path) = g.dataset_meta(&obj)?;
                g.read_metas.insert(key, Arc::new((meta.clone(), raw_path)));
                Ok(Node::Dataset(meta))
            }
            h5::ObjKind::Other => bail!(
                NotFound,
                "'{path}' in version '{version}' is neither a group nor a dataset"
            ),
        }
    }

    /// Whether `path` names a group or dataset in a committed version. Accepts
    /// relative paths (trailing `/` allowed) and absolute paths inside the file.
    pub fn has(&self, version: &str, path: &str) -> Result<bool> {
        let Some(rel) = version_relative(version, path) else {
            return Ok(false);
        };
        let path = normalize_path(&rel)?;
        let g = self.lock();
        g.committed(version)?;
        if path.is_empty() {
            return Ok(true);
        }
        let vg = h5::open_group(g.file()?, &version_group_path(version))?;
        h5::exists(&vg, &path)
    }

    /// Names inside a group of a committed version, sorted.
    pub fn keys(&self, version: &str, group: &str) -> Result<Vec<String>> {
        let group = normalize_path(group)?;
        let g = self.lock();
        g.committed(version)?;
        let vg = h5::open_group(g.file()?, &version_group_path(version))?;
        let target = if group.is_empty() {
            vg
        } else {
            if !h5::exists(&vg, &group)? {
                bail!(NotFound, "version '{version}' has no group '{group}'");
            }
            h5::open_group(&vg, &group)?
        };
        h5::list(&target)
    }

    /// Every dataset path of a committed version, sorted.
    pub fn dataset_paths(&self, version: &str) -> Result<Vec<String>> {
        let mut g = self.lock();
        g.committed(version)?;
        Ok(walk_version(&mut g, version, true)?.1.into_keys().collect())
    }

    /// User attributes of a version (`path` = `""`), group or dataset; the format's
    /// reserved attributes are left out.
    pub fn attrs(&self, version: &str, path: &str) -> Result<Attrs> {
        let path = normalize_path(path)?;
        let g = self.lock();
        g.committed(version)?;
        let vg = h5::open_group(g.file()?, &version_group_path(version))?;
        if path.is_empty() {
            return read_user_attrs(&vg, &VERSION_RESERVED);
        }
        if !h5::exists(&vg, &path)? {
            bail!(NotFound, "version '{version}' has nothing at '{path}'");
        }
        let obj = h5::open_object(&vg, &path)?;
        let skip: &[&str] = if h5::kind_of(&obj) == h5::ObjKind::Dataset {
            &DATASET_RESERVED
        } else {
            &[]
        };
        read_user_attrs(&obj, skip)
    }

    /// Reads a selection of a committed version's dataset. Returns the bytes (C order)
    /// and the result shape (single-index axes dropped). [`read_data`](Self::read_data)
    /// returns the same without copying numbers into a plain `Vec<u8>`.
    pub fn read(&self, version: &str, path: &str, sel: &[AxisSel]) -> Result<(Values, Vec<u64>)> {
        let (data, shape) = self.read_data(version, path, sel)?;
        Ok((data.into_values(), shape))
    }

    /// Reads a selection of a committed version's dataset into an 8-byte-aligned
    /// buffer (or strings). Returns the data (C order) and the result shape
    /// (single-index axes dropped).
    ///
    /// Chunks come from the file's read cache when they were read before (see
    /// [`set_read_cache_bytes`](Self::set_read_cache_bytes)), else from `raw_data`.
    pub fn read_data(
        &self,
        version: &str,
        path: &str,
        sel: &[AxisSel],
    ) -> Result<(ReadData, Vec<u64>)> {
        let path = normalized(path)?;
        let mut g = self.lock();
        // Readers are made for committed versions only and dropped on close, and a
        // committed version stays committed: a hit needs no other check.
        if let Some(r) = g.readers.get(version).and_then(|m| m.get(path)).cloned() {
            return read_mapped(&mut g, &r.meta, &r.raw_path, &r.map, sel);
        }
        g.committed(version)?;
        let path = path.to_string();
        let key = (version.to_string(), path.clone());
        if let (Some(rm), Some(map)) = (g.read_metas.get(&key).cloned(), g.maps.get(&key).cloned())
        {
            let (meta, raw_path) = &*rm;
            let reader = Arc::new(Reader {
                meta: meta.clone(),
                raw_path: raw_path.clone(),
                map,
            });
            g.readers
                .entry(key.0)
                .or_default()
                .insert(key.1, reader.clone());
            return read_mapped(&mut g, &reader.meta, &reader.raw_path, &reader.map, sel);
        }
        let vg = h5::open_group(g.file()?, &version_group_path(version))?;
        if !h5::exists(&vg, &path)? {
            bail!(NotFound, "version '{version}' has no dataset '{path}'");
        }
        let ds = h5::open_dataset(&vg, &path)?;
        let (meta, raw_path) = g.dataset_meta(&ds)?;
        drop(vg);
        let map = match g.chunk_map(version, &path, &meta) {
            Ok(m) => m,
            Err(e) if e.kind == ErrorKind::Hdf5Error => {
                // The mappings cannot be decoded (seen after Python's modify_metadata on
                // string datasets, which stores a fill value libhdf5 cannot read back):
                // read through libhdf5's own virtual-dataset engine instead, as h5py does.
                return read_through_vds(&ds, &meta, sel);
            }
            Err(e) => return Err(e),
        };
        drop(ds);
        let out = read_mapped(&mut g, &meta, &raw_path, &map, sel)?;
        g.read_metas
            .insert(key, Arc::new((meta.clone(), raw_path.clone())));
        g.readers.entry(version.to_string()).or_default().insert(
            path,
            Arc::new(Reader {
                meta,
                raw_path,
                map,
            }),
        );
        Ok(out)
    }
}

impl VersionedFile {
    /// [`read_data`](Self::read_data), but only when it can be answered at once: the
    /// file is not busy (its lock is free), the dataset was read before, its elements
    /// are not variable-length strings, the result holds at most `max_bytes`, and every
    /// chunk it needs is in the read cache. Then no libhdf5 call is made. `None`
    /// otherwise (nothing was done: read with `read_data`). A selection that does not
    /// fit the dataset is answered with its error.
    pub fn read_cached(
        &self,
        version: &str,
        path: &str,
        sel: &[AxisSel],
        max_bytes: usize,
    ) -> Option<Result<(ReadData, Vec<u64>)>> {
        let mut own = OwnedSink::default();
        let shape = self.read_cached_into(version, path, sel, max_bytes, &mut own)?;
        Some(shape.map(|shape| (ReadData::Raw(own.into_bytes()), shape)))
    }

    /// [`read_cached`](Self::read_cached) into a buffer `out` provides (for a caller
    /// that can hand its own memory over, e.g. a JS `ArrayBuffer`, saving a copy);
    /// returns the result shape. Only for datasets whose elements are not
    /// variable-length strings.
    pub fn read_cached_into(
        &self,
        version: &str,
        path: &str,
        sel: &[AxisSel],
        max_bytes: usize,
        out: &mut dyn ReadSink,
    ) -> Option<Result<Vec<u64>>> {
        let path = normalized(path).ok()?;
        let mut g = self.try_lock()?;
        let r = g.readers.get(version)?.get(path)?.clone();
        let meta = &r.meta;
        if meta.dtype.is_vlen() {
            return None;
        }
        let s = match Selection::resolve(sel, &meta.shape) {
            Ok(s) => s,
            Err(e) => return Some(Err(e)),
        };
        let bytes = grid::volume(&s.block_shape())
            .ok()?
            .checked_mul(meta.dtype.size())?;
        if bytes > max_bytes {
            return None;
        }
        let mut pieces = s.pieces(&meta.chunks);
        let groups = grid::group_by_chunk(&mut pieces);
        for cp in &groups {
            if let Some(&row) = r.map.get(&cp.coord) {
                let ext = grid::chunk_extent(&meta.shape, &meta.chunks, &cp.coord);
                if !g.chunks.contains(&r.raw_path, row, &ext) {
                    return None;
                }
            }
        }
        let map = &r.map;
        let raw_path = &r.raw_path;
        let res = gather_into(
            meta,
            &s,
            &groups,
            |k| map.contains_key(k),
            |k, ext| match map.get(k) {
                Some(&row) => g.read_slot(raw_path, meta, row, ext, None).map(Some),
                None => Ok(None),
            },
            out,
        );
        Some(res.map(|()| s.result_shape()))
    }
}

/// Reads a selection of a version dataset from its decoded chunk map.
fn read_mapped(
    g: &mut Inner,
    meta: &DatasetMeta,
    raw_path: &str,
    map: &ChunkMap,
    sel: &[AxisSel],
) -> Result<(ReadData, Vec<u64>)> {
    let s = Selection::resolve(sel, &meta.shape)?;
    let mut pool = meta.dtype.is_vlen().then(StrPool::default);
    let data = gather(
        meta,
        &s,
        |k| map.contains_key(k),
        |k, ext| match map.get(k) {
            Some(&row) => g
                .read_slot(raw_path, meta, row, ext, pool.as_mut())
                .map(Some),
            None => Ok(None),
        },
    )?;
    Ok((
        read_result(&meta.dtype, data, pool.as_ref()),
        s.result_shape(),
    ))
}

/// Gathered elements as a read's result: strings are looked up in `pool`.
pub(crate) fn read_result(dtype: &Dtype, data: AlignedBytes, pool: Option<&StrPool>) -> ReadData {
    match pool {
        Some(pool) if dtype.is_vlen() => {
            ReadData::Strings(pool.decode(data.as_bytes()).map(<[u8]>::to_vec).collect())
        }
        _ => ReadData::Raw(data),
    }
}

/// A chunk's bytes as a read gets them: shared with the read cache, owned, or
/// borrowed from a staged version's written chunks.
pub(crate) enum ChunkBytes<'a> {
    /// Shared with the read cache.
    Shared(Arc<Vec<u8>>),
    /// Read for this call alone.
    Owned(Vec<u8>),
    /// Borrowed.
    Borrowed(&'a [u8]),
}

impl Deref for ChunkBytes<'_> {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        match self {
            ChunkBytes::Shared(b) => b,
            ChunkBytes::Owned(b) => b,
            ChunkBytes::Borrowed(b) => b,
        }
    }
}

impl ChunkBytes<'_> {
    /// The bytes as an owned vector (copies unless they were owned already).
    pub(crate) fn into_vec(self) -> Vec<u8> {
        match self {
            ChunkBytes::Owned(b) => b,
            other => other.to_vec(),
        }
    }
}

/// The `chunks` attribute of a version dataset or `raw_data` (`what` names it in errors).
fn chunks_attr(obj: &Hid, what: &str) -> Result<Vec<u64>> {
    match h5::read_attr(obj, "chunks") {
        Ok(AttrValue::IntArray(v)) => Ok(v.into_iter().map(|c| c.max(1) as u64).collect()),
        Ok(AttrValue::UIntArray(v)) => Ok(v.into_iter().map(|c| c.max(1)).collect()),
        _ => bail!(CorruptFile, "{what} has no valid 'chunks' attribute"),
    }
}

/// A data group's fixed settings, read off its `raw_data`; `shape` is raw_data's own.
fn raw_meta(raw: &Hid, raw_path: &str) -> Result<DatasetMeta> {
    let dtype = h5::dtype_of(&h5::ds_type(raw)?)?;
    Ok(DatasetMeta {
        shape: h5::ds_shape(raw)?,
        chunks: chunks_attr(raw, &format!("'{raw_path}'"))?,
        fill: h5::ds_fill(raw, &dtype)?,
        filters: h5::ds_filters(raw)?,
        dtype,
    })
}

/// Reads a selection of a version dataset through libhdf5's virtual-dataset engine:
/// the whole dataset at once, then the selection out of it. Only for datasets whose
/// mappings cannot be decoded.
fn read_through_vds(ds: &Hid, meta: &DatasetMeta, sel: &[AxisSel]) -> Result<(ReadData, Vec<u64>)> {
    let s = Selection::resolve(sel, &meta.shape)?;
    let zeros = vec![0u64; meta.shape.len()];
    let mut pool = StrPool::default();
    let whole = if meta.dtype.is_vlen() {
        pool.encode(&h5::read_strings(ds, &zeros, &meta.shape)?)
    } else {
        let mut buf = vec![0u8; grid::volume(&meta.shape)? * meta.dtype.size()];
        h5::read_block(ds, &meta.dtype, &zeros, &meta.shape, &mut buf)?;
        buf
    };
    // The whole dataset as one chunk.
    let one = DatasetMeta {
        chunks: meta.shape.iter().map(|&d| d.max(1)).collect(),
        ..meta.clone()
    };
    let data = gather(
        &one,
        &s,
        |_| true,
        |_, _| Ok(Some(ChunkBytes::Borrowed(&whole))),
    )?;
    Ok((
        read_result(&meta.dtype, data, Some(&pool)),
        s.result_shape(),
    ))
}

/// Whether any data group under `_version_data` stores variable-length strings (an
/// unreadable `raw_data` type counts as yes, to stay on the safe side).
fn has_vlen_data(file: &Hid) -> Result<bool> {
    let root = h5::open_group(file, VERSION_DATA)?;
    let mut stack = vec![root];
    let mut top = true;
    while let Some(g) = stack.pop() {
        for name in h5::list(&g)? {
            if top && name == "versions" {
                continue;
            }
            let obj = h5::open_object(&g, &name)?;
            match h5::kind_of(&obj) {
                h5::ObjKind::Group => stack.push(obj),
                h5::ObjKind::Dataset if name == "raw_data" => {
                    match h5::ds_type(&obj).and_then(|t| h5::dtype_of(&t)) {
                        Ok(d) if !d.is_vlen() => {}
                        _ => return Ok(true),
                    }
                }
                _ => {}
            }
        }
        top = false;
    }
    Ok(false)
}

/// Creates `_version_data`, `versions`, `__first_version__` and their attributes.
fn initialise(file: &Hid) -> Result<()> {
    let versions = h5::create_group(file, &format!("{VERSION_DATA}/versions"))?;
    let first = h5::create_group(&versions, FIRST_VERSION)?;
    h5::write_attr(
        &first,
        "timestamp",
        &AttrValue::Str(time::format_micros(time::now_micros())?),
    )?;
    h5::write_attr(
        &versions,
        "current_version",
        &AttrValue::Str(FIRST_VERSION.to_string()),
    )?;
    h5::write_attr(&versions, "data_version", &AttrValue::Int(DATA_VERSION))?;
    h5::file_flush(file)
}

/// Assembles a selection chunk by chunk. `chunk(k, extent)` returns the chunk's
/// trimmed bytes, or `None` when it is unmapped (fill value); `mapped(k)` says
/// beforehand whether it will return bytes, so that a selection whose chunks all have
/// bytes is not filled with the fill value first.
pub(crate) fn gather<'a>(
    meta: &DatasetMeta,
    sel: &Selection,
    mapped: impl Fn(&ChunkCoord) -> bool,
    chunk: impl FnMut(&ChunkCoord, &[u64]) -> Result<Option<ChunkBytes<'a>>>,
) -> Result<AlignedBytes> {
    let mut own = OwnedSink::default();
    let mut pieces = sel.pieces(&meta.chunks);
    gather_into(
        meta,
        sel,
        &grid::group_by_chunk(&mut pieces),
        mapped,
        chunk,
        &mut own,
    )?;
    Ok(own.into_bytes())
}

/// A [`ReadSink`] that allocates the buffer (zeroed: [`gather_into`] writes the fill
/// value where no chunk has bytes).
#[derive(Default)]
struct OwnedSink {
    block: Option<AlignedBytes>,
}

impl OwnedSink {
    fn into_bytes(self) -> AlignedBytes {
        self.block.unwrap_or_else(|| AlignedBytes::zeroed(0))
    }
}

impl ReadSink for OwnedSink {
    fn buffer(&mut self, bytes: usize, _all_mapped: bool) -> Result<(&mut [u8], bool)> {
        Ok((
            self.block
                .insert(AlignedBytes::zeroed(bytes))
                .as_bytes_mut(),
            false,
        ))
    }
}

/// Where a read puts its elements (C order, little-endian as stored).
pub trait ReadSink {
    /// Asked once, with the result's byte length and whether every chunk the read
    /// touches has bytes; returns a buffer of exactly that length and whether it
    /// already holds the dataset's fill value (else it is filled first where needed).
    fn buffer(&mut self, bytes: usize, all_mapped: bool) -> Result<(&mut [u8], bool)>;
}

/// [`gather`] into a buffer `out` provides (filled with the fill value first when it
/// is not already and some chunk has no bytes), for the selection's chunk `groups`
/// ([`grid::group_by_chunk`]).
pub(crate) fn gather_into<'a>(
    meta: &DatasetMeta,
    sel: &Selection,
    groups: &[grid::ChunkPieces<'_>],
    mapped: impl Fn(&ChunkCoord) -> bool,
    mut chunk: impl FnMut(&ChunkCoord, &[u64]) -> Result<Option<ChunkBytes<'a>>>,
    out: &mut dyn ReadSink,
) -> Result<()> {
    let es = meta.dtype.size();
    let block_dims = sel.block_shape();
    let count = grid::volume(&block_dims)?;
    // A typed array holds fewer than 2^32 elements; refuse before allocating.
    if count as u64 >= 1 << 32 || (count as u128) * (es as u128) >= 1 << 34 {
        bail!(
            InvalidArgument,
            "the selection has {count} elements, too many to read at once: read it in parts"
        );
    }
    let all_mapped = groups.iter().all(|cp| mapped(&cp.coord));
    let (buf, filled) = out.buffer(count * es, all_mapped)?;
    if buf.len() != count * es {
        bail!(Hdf5Error, "a read's buffer has the wrong size");
    }
    if !all_mapped && !filled && es > 0 {
        for e in buf.chunks_exact_mut(es) {
            e.copy_from_slice(&meta.fill);
        }
    }
    for cp in groups {
        let ext = grid::chunk_extent(&meta.shape, &meta.chunks, &cp.coord);
        if let Some(bytes) = chunk(&cp.coord, &ext)? {
            cp.copy(
                grid::Direction::ChunkToBlock,
                &ext,
                &block_dims,
                es,
                false,
                &bytes,
                buf,
            );
        }
    }
    Ok(())
}
