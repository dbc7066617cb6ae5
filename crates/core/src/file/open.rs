//! Opening a versioned file: the journal's recovery of an interrupted commit, the
//! file's format checks (`data_version`), removal of versions whose commit was
//! interrupted, and initialisation of a writable plain HDF5 file; and the registry of
//! files open for writing in this process.

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};

use super::versions::{VersionRef, Versions};
use super::{
    vindex, Catalog, Durability, Inner, Mode, VersionInfo, VersionedFile, DEFAULT_CATALOG_BYTES,
};
use crate::attrs::AttrValue;
use crate::cache::{ChunkCache, DEFAULT_READ_CACHE_BYTES};
use crate::error::{bail, err, ErrorKind, Result};
use crate::h5::{self, Hid};
use crate::layout::{attr, versions_path, RAW_DATA, VERSIONS};
use crate::layout::{DATA_VERSION, FIRST_VERSION, VERSION_DATA};
use crate::time;

/// Files open for writing in this process: libhdf5 would share one file between two
/// handles, whose in-memory indexes would then disagree.
pub(crate) fn writers() -> MutexGuard<'static, HashSet<std::path::PathBuf>> {
    static WRITERS: std::sync::LazyLock<Mutex<HashSet<std::path::PathBuf>>> =
        std::sync::LazyLock::new(|| Mutex::new(HashSet::new()));
    WRITERS.lock().unwrap_or_else(|p| p.into_inner())
}

pub(crate) fn read_version_info(vgroup: &Hid, name: &str) -> Result<VersionInfo> {
    let s = |k: &str| -> Result<Option<String>> {
        if !h5::attr_exists(vgroup, k)? {
            return Ok(None);
        }
        Ok(match h5::read_attr(vgroup, k)? {
            AttrValue::Str(s) => Some(s),
            _ => None,
        })
    };
    let committed = if h5::attr_exists(vgroup, attr::COMMITTED)? {
        matches!(
            h5::read_attr(vgroup, attr::COMMITTED)?,
            AttrValue::Bool(true) | AttrValue::Int(1)
        )
    } else {
        false
    };
    let timestamp = s(attr::TIMESTAMP)?.and_then(|t| time::parse_file_timestamp(&t));
    Ok(VersionInfo {
        name: name.to_string(),
        prev_version: s(attr::PREV_VERSION)?.unwrap_or_else(|| FIRST_VERSION.to_string()),
        timestamp,
        committed,
    })
}

impl VersionedFile {
    /// Opens (or creates) a versioned file. A writable file without `_version_data`
    /// is initialised as Python versioned-hdf5 does.
    ///
    /// Read-only (`Mode::Read`) opens while a writer of this library has the file open,
    /// in another process or in this one: the handle sees every version committed
    /// before it opened and nothing of a commit in progress, and keeps reading those
    /// versions exactly until [`refresh`](Self::refresh) takes in newer ones
    /// (docs/design/008-readers-and-writers.md).
    /// Commits survive the death of the process ([`Durability::Process`]); see
    /// [`open_with`](Self::open_with).
    pub fn open(path: &str, mode: Mode) -> Result<VersionedFile> {
        VersionedFile::open_with(path, mode, Durability::Process)
    }

    /// [`open`](Self::open) with a choice of what a returned commit survives:
    /// [`Durability::Fsync`] makes every commit (and every other write) durable
    /// across power loss before it returns (a read-only handle writes nothing).
    pub fn open_with(path: &str, mode: Mode, durability: Durability) -> Result<VersionedFile> {
        if mode == Mode::Read {
            if !Path::new(path).exists() {
                bail!(
                    FileNotFound,
                    "no file at '{path}': create it with mode 'a', 'w' or 'x'"
                );
            }
            let (locks, recovered) = super::follow::reader_locks(path)?;
            let mut last = None;
            for _ in 0..5 {
                let (hold, stamp, overlay) = super::follow::acquire(&locks)?;
                let opened = Self::open_inner(
                    path,
                    mode,
                    durability,
                    recovered,
                    Some((&locks, stamp, overlay)),
                );
                drop(hold);
                match opened {
                    Ok(None) => continue,
                    Ok(Some(vf)) => return Ok(vf),
                    Err(e) => last = Some(e),
                }
                break;
            }
            return Err(last.unwrap_or_else(|| {
                err(
                    ErrorKind::FileLocked,
                    format!("opening '{path}' failed: the writer kept writing past this reader's lock; try again"),
                )
            }));
        }
        let recovered = Self::prepare_write(path, mode)?;
        Self::open_inner(path, mode, durability, recovered, None)?
            .ok_or_else(|| err(ErrorKind::InternalError, "a writable open was torn"))
    }

    /// Before a writable open: the registry of writers in this process, the roll-back
    /// of a dead writer's commit, and mode 'w''s lock check. Whether it rolled back.
    fn prepare_write(path: &str, mode: Mode) -> Result<bool> {
        let exists = Path::new(path).exists();
        match mode {
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
            _ => {}
        }
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
            // a file another process is writing is refused, not emptied; and a file
            // whose journal cannot be created is refused before it is emptied.
            match h5::file_open(path, h5::FileOpen::Write) {
                Ok(f) => {
                    h5::check_journal_place(Path::new(path))?;
                    drop(f);
                }
                Err(e)
                    if matches!(
                        e.kind,
                        ErrorKind::FileLocked
                            | ErrorKind::ReadOnly
                            | ErrorKind::PermissionDenied
                            | ErrorKind::FileExists
                            | ErrorKind::NoSpace
                            | ErrorKind::IoError
                    ) =>
                {
                    return Err(e)
                }
                Err(_) => {}
            }
        } else if mode != Mode::Read && !exists {
            // No writer can hold a file that does not exist: check before creating it.
            h5::check_journal_place(Path::new(path))?;
        }
        Ok(recovered)
    }

    /// Opens the file and builds its state; for a reader, under its lock (`reader`:
    /// its locks, the stamp seen and whether to read through a dead writer's journal).
    /// `None` when a writer wrote past the reader's lock meanwhile (open again).
    fn open_inner(
        path: &str,
        mode: Mode,
        durability: Durability,
        recovered: bool,
        reader: Option<(
            &Arc<h5::readers::ReaderLocks>,
            Option<h5::readers::Stamp>,
            bool,
        )>,
    ) -> Result<Option<VersionedFile>> {
        let exists = Path::new(path).exists();
        let how = match mode {
            Mode::Read => h5::FileOpen::Read,
            Mode::ReadWrite => h5::FileOpen::Write,
            Mode::Append if exists => h5::FileOpen::Write,
            Mode::Append | Mode::Exclusive => h5::FileOpen::Exclusive,
            Mode::Truncate => h5::FileOpen::Truncate,
        };
        let opened = match reader {
            Some((_, _, overlay)) => h5::file_open_reader(path, overlay),
            None => h5::file_open_with(path, how, durability == Durability::Fsync),
        };
        let file = opened.map_err(|e| {
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
        // A repair of the open (initialising, upgrading data_version, removing an
        // interrupted commit's version group) that fails on I/O is NO_SPACE / IO_ERROR,
        // and what it wrote is rolled back at once.
        let repair = |r: Result<()>, what: &str| -> Result<()> {
            r.map_err(|e| match h5::io_fault(&file) {
                Some(fault) => {
                    let mut e = fault.to_error(&format!("{what} '{path}' while opening it"));
                    match h5::roll_back(&file) {
                        Ok(()) => e.message.push_str(". The file is unchanged"),
                        Err(r) => e.message.push_str(&format!(". {}", r.message)),
                    }
                    e
                }
                None => e,
            })
        };
        if writable && exists {
            // Under the file lock now: refuse here, not at the first commit, a place
            // where the journal cannot be created.
            h5::check_journal_place(Path::new(path))?;
        }
        if !h5::exists(&file, &versions_path())? {
            if !writable {
                bail!(NotVersionedFile, "'{path}' has no versioning data (_version_data): open it with mode 'a' or 'r+' to initialise it");
            }
            repair(initialise(&file), "initialising versioning in")?;
        }
        let vgroup = h5::open_group(&file, &versions_path())?;
        let data_version = if h5::attr_exists(&vgroup, attr::DATA_VERSION)? {
            match h5::read_attr(&vgroup, attr::DATA_VERSION)? {
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
            repair(
                h5::write_attr(&vgroup, attr::DATA_VERSION, &AttrValue::Int(DATA_VERSION))
                    .and_then(|()| h5::file_flush(&file)),
                "upgrading data_version of",
            )?;
            DATA_VERSION
        } else {
            data_version
        };
        let current = match h5::read_attr(&vgroup, attr::CURRENT_VERSION) {
            Ok(AttrValue::Str(s)) => s,
            _ => bail!(CorruptFile, "'{path}' has no current_version attribute"),
        };
        // The version index file, when it describes exactly this file (its stamp from
        // before anything wrote to it here); otherwise the version groups are read.
        let stamp = match reader {
            Some((_, _, true)) => None,
            Some(_) => h5::stamp_now(&file),
            None => h5::stamp_at_lock(&file),
        };
        let indexed = stamp
            .and_then(|s| vindex::load(Path::new(path), &s))
            .filter(|l| index_matches(&vgroup, l));
        let mut versions = Versions::default();
        let mut unmarked = HashSet::new();
        let mut vindex_state = None;
        if let Some(l) = indexed {
            versions = l.versions;
            vindex_state = Some(l.state);
        }
        let scan = vindex_state.is_none();
        let names = if scan { h5::list(&vgroup)? } else { Vec::new() };
        for name in names {
            if name == FIRST_VERSION {
                continue;
            }
            let g = h5::open_group(&vgroup, &name)?;
            if !h5::attr_exists(&g, attr::COMMITTED)? {
                unmarked.insert(name.clone());
            }
            versions.add_unsorted(&read_version_info(&g, &name)?);
        }
        // Recovery: a version group still marked committed=False is what an interrupted
        // commit leaves (the file lock rules out a writer still working on it). A writer
        // removes it, so the name is free again; slots it appended past largest_index
        // are simply overwritten by the next commit.
        let mut current = current;
        if writable && scan {
            let mut half: Vec<VersionInfo> = Vec::new();
            for v in versions.values().filter(|v| !v.committed) {
                // Only an explicit committed=False marks an interrupted commit; a group
                // missing the attribute is damaged, and is left for the user to inspect.
                if !unmarked.contains(v.name) {
                    half.push(v.to_info());
                }
            }
            let mut remove = || -> Result<()> {
                for v in &half {
                    h5::unlink(&vgroup, &v.name)?;
                    versions.remove(&v.name);
                    if current == v.name {
                        current = if versions.get(&v.prev_version).is_some_and(|p| p.committed) {
                            v.prev_version.clone()
                        } else {
                            FIRST_VERSION.to_string()
                        };
                        h5::write_attr(
                            &vgroup,
                            attr::CURRENT_VERSION,
                            &AttrValue::Str(current.clone()),
                        )?;
                    }
                }
                if !half.is_empty() {
                    h5::file_flush(&file)?;
                }
                Ok(())
            };
            repair(
                remove(),
                "removing an interrupted commit's version group from",
            )?;
        }
        let keep_open = vec![h5::open_group(&file, VERSION_DATA)?, vgroup];
        // After the repairs above: what the storage marks of the last commit carry.
        let mark_eoa = if writable {
            Some(h5::file_eoa(&file)?)
        } else {
            None
        };
        let mut inner = Inner {
            keep_open,
            file: Some(file),
            path: path.to_string(),
            writable,
            versions,
            current,
            staging: HashSet::new(),
            unmarked,
            data_groups: HashMap::new(),
            mark_eoa,
            marks_read: HashSet::new(),
            storage_scans: 0,
            catalog: Catalog::new(DEFAULT_CATALOG_BYTES),
            raws: HashMap::new(),
            data_file: None,
            direct_reads: 0,
            small_reads_unindexed: 0,
            chunks: ChunkCache::new(DEFAULT_READ_CACHE_BYTES),
            data_version,
            registered: None,
            recovered,
            spill_owner: None,
            follow: reader.map(|(locks, stamp, overlay)| super::follow::Follow {
                locks: locks.clone(),
                handle: stamp,
                overlay,
                view: stamp,
                held_begin: stamp.map(|s| s.begin),
                error: None,
                torn: false,
            }),
            durability,
            opened_from_index: !scan,
            vindex: match vindex_state {
                Some(st) if writable => Some(st),
                _ if writable => Some(vindex::IndexState::unsynced()),
                _ => None,
            },
        };
        if inner.torn_now() {
            return Ok(None);
        }
        if writable {
            // libhdf5's mark of the open is written: readers may read again.
            h5::end_writes(inner.file()?)?;
        }
        if scan {
            inner.rebuild_time_index();
            // A writer that had to read the groups writes the index now, so that the
            // next open (a restart after a kill included) need not.
            inner.update_version_index(None);
        }
        if writable {
            if let Ok(k) = std::fs::canonicalize(path) {
                writers().insert(k.clone());
                inner.registered = Some(k);
            }
        }
        Ok(Some(VersionedFile {
            inner: Arc::new(Mutex::new(inner)),
        }))
    }
}

/// Whether a version index file's records hold as many versions as `versions` has
/// groups (besides `__first_version__`), and its newest version's group is committed:
/// a check of two reads against a stamp that a coarse clock could not tell apart.
fn index_matches(vgroup: &Hid, l: &vindex::Loaded) -> bool {
    let Ok(links) = h5::link_count(vgroup) else {
        return false;
    };
    if links != l.versions.len() as u64 + 1 {
        return false;
    }
    let Some(newest) = l.versions.by_time().next_back() else {
        return true;
    };
    h5::open_group(vgroup, newest.name)
        .and_then(|g| read_version_info(&g, newest.name))
        .is_ok_and(|v| v.committed && VersionRef::from(&v) == newest)
}

/// Whether any data group under `_version_data` stores variable-length strings (an
/// unreadable `raw_data` type counts as yes, to stay on the safe side).
pub(crate) fn has_vlen_data(file: &Hid) -> Result<bool> {
    let root = h5::open_group(file, VERSION_DATA)?;
    let mut stack = vec![root];
    let mut top = true;
    while let Some(g) = stack.pop() {
        for name in h5::list(&g)? {
            if top && name == VERSIONS {
                continue;
            }
            let obj = h5::open_object(&g, &name)?;
            match h5::kind_of(&obj) {
                h5::ObjKind::Group => stack.push(obj),
                h5::ObjKind::Dataset if name == RAW_DATA => {
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
pub(crate) fn initialise(file: &Hid) -> Result<()> {
    let versions = h5::create_group(file, &versions_path())?;
    let first = h5::create_group(&versions, FIRST_VERSION)?;
    h5::write_attr(
        &first,
        attr::TIMESTAMP,
        &AttrValue::Str(time::format_micros(time::now_micros())?),
    )?;
    h5::write_attr(
        &versions,
        attr::CURRENT_VERSION,
        &AttrValue::Str(FIRST_VERSION.to_string()),
    )?;
    h5::write_attr(&versions, attr::DATA_VERSION, &AttrValue::Int(DATA_VERSION))?;
    h5::file_flush(file)
}
