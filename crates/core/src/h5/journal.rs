//! The file driver every file is opened with: POSIX I/O as libhdf5's default driver
//! (sec2) does it, plus an undo journal that makes everything between two
//! checkpoints atomic.
//!
//! libhdf5 updates its metadata (group B-trees, heaps, object headers) in place and
//! has no journal of its own: a process killed while libhdf5 writes can leave a
//! group half-updated and unreadable. This driver keeps, next to `<file>`, a journal
//! `<file>.vh5-journal`. Before the first overwrite of any byte that existed at the
//! last checkpoint, it appends that byte range's old contents to the journal, then
//! writes the file. [`checkpoint`], called after every successful `H5Fflush`,
//! empties the journal: that one truncation is the commit point. Closing the file
//! is one too, unless a write failed since the last checkpoint; a clean close
//! removes the journal. [`recover`], run
//! before every open, finds a journal that still holds records (a writer died
//! between two checkpoints), writes the old bytes back and cuts the file to its
//! checkpoint length: the file is then byte for byte what it was at the last
//! checkpoint.
//!
//! Journal layout (little-endian): a header `b"VH5UNDO1"`, the file's length at the
//! checkpoint (u64), a check (u64); then records: offset (u64), length (u64), check
//! (u64), the old bytes. A check is the first 8 bytes of the BLAKE3 hash of the
//! fields before it (and the bytes). A record is appended whole before the write it
//! covers is issued, so a torn last record (the writer died appending it) covers a
//! write that never happened and is ignored.
//!
//! By default the guarantee rests on the kernel keeping the order of `write`s, which
//! holds when the process dies (SIGKILL, OOM kill, abort) but not when the machine
//! loses power. A file opened with `fsync` durability ([`fapl`]`(true)`, see
//! [`Durable`]) adds the barriers that keep it across power loss too: a journal record
//! is on stable storage before the overwrite it protects, the file before the journal
//! is emptied, the emptied journal before the checkpoint returns, and the directory
//! when the journal is created or removed.

use std::collections::{BTreeMap, HashMap};
use std::ffi::{c_char, c_int, c_uint, c_ulong, c_void, CStr, CString};
use std::fs::{File, OpenOptions};
use std::io::ErrorKind as IoKind;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use hdf5_sys::h5::{haddr_t, herr_t, hsize_t, H5get_libversion};
use hdf5_sys::h5e::*;
use hdf5_sys::h5f::{H5Fget_vfd_handle, H5F_ACC_CREAT, H5F_ACC_EXCL};
use hdf5_sys::h5f::{H5F_ACC_RDWR, H5F_ACC_TRUNC};
use hdf5_sys::h5fd::{H5FD_class_t, H5FDregister};
use hdf5_sys::h5i::hid_t;
use hdf5_sys::h5p::{H5Pcreate, H5Pget_driver_info, H5Pset_driver, H5P_CLS_FILE_ACCESS};

use super::readers::{self, Change, CommitNote, Commits, Stamp};
use super::{h5err, locked, Hid};
use crate::error::{bail, Error, ErrorKind, Result};

/// Suffix of the journal next to a file.
pub(crate) const SUFFIX: &str = ".vh5-journal";

const MAGIC: &[u8; 8] = b"VH5UNDO1";
const HEADER_LEN: u64 = 24;
const RECORD_HEAD: usize = 24;
/// Longest run of old bytes one record holds (bounds the memory of one save).
const RECORD_MAX: u64 = 8 << 20;
/// The offset field of a block's head: a run of records laid out ahead of time, all of
/// one length, which another thread fills in while libhdf5 goes on
/// ([`JFile::reserve_moves`]). The head's length field is the block's length; the 8
/// bytes after the head give the length of each record in it (head included). A slot
/// still empty or torn is skipped: its record is written before the change it covers,
/// so that change was never made.
const BLOCK: u64 = u64::MAX;

// libhdf5's memory types and feature flags (the same values in 1.10 and 2.x).
const MEM_SUPER: c_int = 1;
const MEM_DRAW: c_int = 3;
const FEAT_AGGREGATE_METADATA: c_ulong = 0x1;
const FEAT_ACCUMULATE_METADATA: c_ulong = 0x2 | 0x4;
const FEAT_DATA_SIEVE: c_ulong = 0x8;
const FEAT_AGGREGATE_SMALLDATA: c_ulong = 0x10;
const FEAT_DEFAULT_VFD_COMPATIBLE: c_ulong = 0x8000;
/// Largest address, as sec2 has it (the largest `off_t`).
const MAXADDR: haddr_t = (1 << 63) - 1;
/// H5F_CLOSE_WEAK.
const CLOSE_WEAK: c_int = 1;
/// Driver value in libhdf5 2.x's range for drivers outside the library.
const DRIVER_VALUE: c_int = 0x5648;
const NAME: &CStr = c"vh5_journal";

/// The path of `path`'s journal.
pub(crate) fn journal_path(path: &Path) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(SUFFIX);
    PathBuf::from(s)
}

fn check(parts: &[&[u8]]) -> u64 {
    let mut h = blake3::Hasher::new();
    for p in parts {
        h.update(p);
    }
    let b = h.finalize();
    let mut w = [0u8; 8];
    w.copy_from_slice(&b.as_bytes()[..8]);
    u64::from_le_bytes(w)
}

fn header(base_eof: u64) -> [u8; HEADER_LEN as usize] {
    let mut h = [0u8; HEADER_LEN as usize];
    h[..8].copy_from_slice(MAGIC);
    h[8..16].copy_from_slice(&base_eof.to_le_bytes());
    let c = check(&[&h[..16]]);
    h[16..].copy_from_slice(&c.to_le_bytes());
    h
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    let mut w = [0u8; 8];
    w.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(w)
}

/// What a journal says: the file's checkpoint length and the complete records.
struct Parsed {
    base_eof: u64,
    records: Vec<(u64, Vec<u8>)>,
}

fn parse(bytes: &[u8]) -> Option<Parsed> {
    if bytes.len() < HEADER_LEN as usize || &bytes[..8] != MAGIC {
        return None;
    }
    if check(&[&bytes[..16]]) != u64_at(bytes, 16) {
        return None;
    }
    let base_eof = u64_at(bytes, 8);
    let mut records = Vec::new();
    let mut at = HEADER_LEN as usize;
    while bytes.len() >= at + RECORD_HEAD {
        let off = u64_at(bytes, at);
        let len = u64_at(bytes, at + 8);
        let sum = u64_at(bytes, at + 16);
        let Some(end) = usize::try_from(len)
            .ok()
            .and_then(|l| (at + RECORD_HEAD).checked_add(l))
        else {
            break;
        };
        // Before the length check: a block the journal ends inside still holds whole
        // records, whose changes may have been made.
        if off == BLOCK {
            let Some(block) = parse_block(bytes, at, end, sum, &mut records) else {
                break;
            };
            at = block;
            continue;
        }
        if end > bytes.len() {
            break;
        }
        let data = &bytes[at + RECORD_HEAD..end];
        if check(&[&bytes[at..at + 16], data]) != sum {
            break;
        }
        records.push((off, data.to_vec()));
        at = end;
    }
    Some(Parsed { base_eof, records })
}

/// The whole records of the block whose head is at `at` and which ends at `end`
/// (see [`BLOCK`]), appended to `records`; where the records after it start, or `None`
/// when its head is torn or the journal ends inside it (nothing was written after an
/// unfinished block).
fn parse_block(
    bytes: &[u8],
    at: usize,
    end: usize,
    sum: u64,
    records: &mut Vec<(u64, Vec<u8>)>,
) -> Option<usize> {
    let first = at + RECORD_HEAD + 8;
    let stride_at = bytes.get(at + RECORD_HEAD..first)?;
    if check(&[&bytes[at..at + 16], stride_at]) != sum {
        return None;
    }
    let stride = usize::try_from(u64_at(bytes, at + RECORD_HEAD)).ok()?;
    if stride <= RECORD_HEAD || end < first || !(end - first).is_multiple_of(stride) {
        return None;
    }
    let mut s = first;
    while s + stride <= end.min(bytes.len()) {
        let rec = &bytes[s..s + stride];
        let n = u64_at(rec, 8);
        if n == (stride - RECORD_HEAD) as u64
            && check(&[&rec[..16], &rec[RECORD_HEAD..]]) == u64_at(rec, 16)
        {
            records.push((u64_at(rec, 0), rec[RECORD_HEAD..].to_vec()));
        }
        s += stride;
    }
    (end <= bytes.len()).then_some(end)
}

/// The code of an open refused by the operating system: `READ_ONLY` for a read-only
/// file system, `PERMISSION_DENIED` for file modes or ownership; `None` for others.
pub(crate) fn access_kind(errno: Option<i32>) -> Option<ErrorKind> {
    match errno {
        Some(30) => Some(ErrorKind::ReadOnly),
        Some(13) | Some(1) => Some(ErrorKind::PermissionDenied),
        _ => None,
    }
}

/// Checks, for a file just opened for writing (so under its lock: no other writer can
/// be creating its journal), that its journal can be created next to it: nothing but a
/// journal is at `<file>.vh5-journal`, and the directory takes a new file (a probe
/// created and removed at once). A commit would otherwise fail at its first write.
pub(crate) fn check_journal_place(path: &Path) -> Result<()> {
    let jpath = journal_path(path);
    match std::fs::symlink_metadata(&jpath) {
        Ok(m) if m.is_file() => return Ok(()),
        Ok(_) => bail!(
            FileExists,
            "'{}' is not a journal (a directory or another kind of file is there), but this library keeps the journal of '{}' at that path: move it away, or open the file with mode 'r'",
            jpath.display(),
            path.display()
        ),
        Err(e) if e.kind() == IoKind::NotFound => {}
        Err(e) => return Err(io_error("looking for the journal", &jpath, e)),
    }
    match OpenOptions::new().write(true).create_new(true).mode(0o644).open(&jpath) {
        Ok(f) => {
            drop(f);
            std::fs::remove_file(&jpath)
                .map_err(|e| io_error("removing the journal probe", &jpath, e))
        }
        Err(e) => Err(Error::new(
            access_kind(e.raw_os_error()).unwrap_or(ErrorKind::IoError),
            format!(
                "'{}' cannot be opened for writing: its journal '{}' cannot be created ({e}); the directory must be writable for this user. Nothing was changed; mode 'r' reads the file",
                path.display(),
                jpath.display()
            ),
        )),
    }
}

/// The OS error of the last open this driver failed (libhdf5 keeps only its text), for
/// the engine's code ([`take_open_errno`]).
fn open_errno() -> std::sync::MutexGuard<'static, Option<i32>> {
    static LAST: OnceLock<std::sync::Mutex<Option<i32>>> = OnceLock::new();
    LAST.get_or_init(Default::default)
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Takes (and clears) the OS error of the last failed open of a file of this driver.
pub(crate) fn take_open_errno() -> Option<i32> {
    open_errno().take()
}

fn io_error(what: &str, path: &Path, e: std::io::Error) -> Error {
    Error::new(
        ErrorKind::Hdf5Error,
        format!("{what} '{}' failed: {e}", path.display()),
    )
}

/// Rolls back an interrupted transaction of the file at `path`, if its journal holds
/// one: writes the journaled bytes back, cuts the file to its checkpoint length and
/// removes the journal. Returns whether anything was rolled back. Fails with
/// `FILE_LOCKED` while another process has the file open for writing (the journal
/// is then that writer's, and live).
pub(crate) fn recover(path: &Path) -> Result<bool> {
    // The same refusal as libhdf5's open, before any file-system call.
    super::cstr(&path.to_string_lossy())?;
    let jpath = journal_path(path);
    let jlen = match std::fs::symlink_metadata(&jpath) {
        // Something else where the journal goes (a directory): no journal, so nothing
        // to roll back; a writable open refuses it (`check_journal_place`).
        Ok(m) if !m.is_file() => return Ok(false),
        Ok(m) => m.len(),
        Err(e) if e.kind() == IoKind::NotFound => return Ok(false),
        Err(e) => return Err(io_error("reading the journal", &jpath, e)),
    };
    if jlen == 0 {
        // Between two transactions: nothing to undo. A writer may have the file open
        // (its journal is live); when none has (the lock is free), the journal is a
        // leftover of one that died between transactions, and goes.
        if let Ok(file) = OpenOptions::new().read(true).write(true).open(path) {
            if file.try_lock().is_ok() {
                let _ = std::fs::remove_file(&jpath);
            }
        }
        return Ok(false);
    }
    if !path.exists() {
        // The file is gone: its journal has nothing left to restore.
        let _ = std::fs::remove_file(&jpath);
        return Ok(false);
    }
    let file = OpenOptions::new().read(true).write(true).open(path).map_err(|e| {
        Error::new(
            access_kind(e.raw_os_error()).unwrap_or(ErrorKind::Hdf5Error),
            format!(
                "'{}' has an interrupted commit to roll back ({} bytes in '{}'), which needs write access to the file: {e}; open it once with write permission",
                path.display(),
                jlen,
                jpath.display()
            ),
        )
    })?;
    match lock_for_writing(&file) {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => bail!(
            FileLocked,
            "'{}' is open for writing in another process (HDF5 locks the whole file); close it there first",
            path.display()
        ),
        // File systems without locks: libhdf5 ignores that too.
        Err(std::fs::TryLockError::Error(_)) => {}
    }
    // Under the lock: the journal cannot change any more.
    let bytes = match std::fs::read(&jpath) {
        Ok(b) => b,
        Err(e) if e.kind() == IoKind::NotFound => return Ok(false),
        Err(e) => return Err(io_error("reading the journal", &jpath, e)),
    };
    // Readers of this library inside a call finish it first (bounded, as for a
    // commit); the roll-back is a write phase of its own, which they see end.
    readers::lock_writes(&file, readers::WRITER_WAIT);
    let commits = Commits::open_write(path);
    let mut stamp = commits
        .as_ref()
        .and_then(|c| c.stamp().ok().flatten())
        .unwrap_or_default();
    if let Some(c) = &commits {
        stamp.begin = stamp.begin.max(stamp.end) + 1;
        let _ = c.write_stamp(stamp);
    }
    let r = roll_back_file(path, &file, &jpath, &bytes);
    if let Some(c) = &commits {
        let _ = c.record(stamp.begin, &Change::Unknown);
        stamp.end = stamp.begin;
        let _ = c.write_stamp(stamp);
    }
    readers::unlock_writes(&file);
    r
}

/// Writes a journal's old bytes back into the file and cuts it to its checkpoint
/// length, then removes the journal ([`recover`], under the file's locks).
fn roll_back_file(path: &Path, file: &File, jpath: &Path, bytes: &[u8]) -> Result<bool> {
    let rolled = match parse(bytes) {
        // Empty, or a header torn before any write to the file was issued.
        None => false,
        Some(p) => {
            for (off, data) in &p.records {
                file.write_all_at(data, *off)
                    .map_err(|e| io_error("rolling back", path, e))?;
            }
            file.set_len(p.base_eof)
                .map_err(|e| io_error("rolling back", path, e))?;
            file.sync_all()
                .map_err(|e| io_error("rolling back", path, e))?;
            true
        }
    };
    std::fs::remove_file(jpath).map_err(|e| io_error("removing the journal", jpath, e))?;
    if rolled {
        // The journal's removal reaches the disk before anything writes the file again.
        sync_dir(jpath).map_err(|e| io_error("syncing the directory of", jpath, e))?;
    }
    Ok(rolled)
}

/// Byte ranges `[start, end)` already saved in the current transaction.
#[derive(Default)]
struct Saved(BTreeMap<u64, u64>);

impl Saved {
    /// The parts of `[a, b)` not saved yet.
    fn gaps(&self, a: u64, b: u64) -> Vec<(u64, u64)> {
        let mut out = Vec::new();
        let mut at = a;
        // The range starting at or before `a` may cover its start.
        if let Some((_, &e)) = self.0.range(..=a).next_back() {
            at = at.max(e);
        }
        for (&s, &e) in self.0.range(a..b) {
            if s > at {
                out.push((at, s.min(b)));
            }
            at = at.max(e);
            if at >= b {
                break;
            }
        }
        if at < b {
            out.push((at, b));
        }
        out
    }

    fn insert(&mut self, a: u64, b: u64) {
        let mut s = a;
        let mut e = b;
        if let Some((&ps, &pe)) = self.0.range(..=a).next_back() {
            if pe >= a {
                s = ps;
                e = e.max(pe);
            }
        }
        let inside: Vec<u64> = self.0.range(s..=e).map(|(&k, _)| k).collect();
        for k in inside {
            if let Some(ke) = self.0.remove(&k) {
                e = e.max(ke);
            }
        }
        self.0.insert(s, e);
    }
}

/// The undo journal of one writable file.
struct Journal {
    path: PathBuf,
    /// Opened at the first write (after libhdf5 took the file lock).
    file: Option<File>,
    /// Bytes in the journal; 0 between transactions.
    len: u64,
    /// The file's length at the last checkpoint.
    base_eof: u64,
    saved: Saved,
    /// A write or truncation failed since the last checkpoint.
    failed: bool,
    /// The first I/O error since the last checkpoint, for the engine's message.
    fault: Option<IoFault>,
    /// Rolled back after a failure ([`roll_back`]): libhdf5's view of the file is stale,
    /// so every later write and truncation is refused until the file is closed.
    poisoned: bool,
}

/// An I/O error the driver saw: what it was doing, where, and the OS error.
#[derive(Clone, Debug)]
pub(crate) struct IoFault {
    /// What failed: "writing the file", "appending to the journal", ...
    pub(crate) what: &'static str,
    /// The file (or the journal) the operation was on.
    pub(crate) path: PathBuf,
    /// The OS error number, when there is one (ENOSPC, EIO, EDQUOT, EROFS, ...).
    pub(crate) errno: Option<i32>,
    /// The OS error, as text.
    pub(crate) message: String,
}

impl IoFault {
    /// The engine error for this fault: `NO_SPACE` for a full disk or quota, else
    /// `IO_ERROR`; the message names the file and the cause, then `context`.
    pub(crate) fn to_error(&self, context: &str) -> Error {
        let (kind, cause) = match self.errno {
            Some(28) => (ErrorKind::NoSpace, "no space left on the device (ENOSPC)"),
            Some(122) => (ErrorKind::NoSpace, "the disk quota is exhausted (EDQUOT)"),
            Some(5) => (ErrorKind::IoError, "an I/O error (EIO)"),
            Some(30) => (ErrorKind::IoError, "the file system is read-only (EROFS)"),
            Some(13) | Some(1) => (ErrorKind::PermissionDenied, "permission denied"),
            // The journal's path is a directory.
            Some(21) => (
                ErrorKind::FileExists,
                "a directory where the journal goes (EISDIR)",
            ),
            _ => (ErrorKind::IoError, "an I/O error"),
        };
        Error::new(
            kind,
            format!(
                "{context}: {} '{}' failed with {cause}: {}. {}",
                self.what,
                self.path.display(),
                self.message,
                match kind {
                    ErrorKind::NoSpace => "Free space on that file system and try again",
                    ErrorKind::PermissionDenied => "The file and its directory (the journal goes next to the file) must be writable for this user; mode 'r' reads the file",
                    ErrorKind::FileExists => "Move what is at the journal's path away, or open the file with mode 'r'",
                    _ => "Check the device and the file system, then try again",
                }
            ),
        )
    }
}

/// libhdf5's public part of an open file (`H5FD_t`, the same in 1.10 and 2.x),
/// which libhdf5 fills in after `open` returns.
#[repr(C)]
struct Public {
    driver_id: hid_t,
    cls: *const c_void,
    fileno: c_ulong,
    access_flags: c_uint,
    feature_flags: c_ulong,
    maxaddr: haddr_t,
    base_addr: haddr_t,
    threshold: hsize_t,
    alignment: hsize_t,
    paged_aggr: bool,
    /// Room for fields a later libhdf5 may append.
    _spare: [u64; 8],
}

/// An open file of this driver; a pointer to it is libhdf5's `H5FD_t *`.
#[repr(C)]
struct JFile {
    public: Public,
    file: File,
    dev: u64,
    ino: u64,
    eoa: haddr_t,
    eof: haddr_t,
    journal: Option<Journal>,
    /// Buffer for the bytes a write would overwrite (see [`JFile::changed_span`]), from
    /// the write's address on; [`JFile::save`] takes the journal's old bytes from it.
    scratch: Vec<u8>,
    /// How many bytes of `scratch` the last [`JFile::changed_span`] read.
    known: usize,
    /// A writer's side of the reader protocol ([`readers`]).
    coord: Option<std::sync::Arc<std::sync::Mutex<WriterCoord>>>,
    /// A reader's view of the file as its last checkpoint left it, when the writer
    /// died inside a transaction (see [`Overlay`]).
    overlay: Option<Overlay>,
    /// Opened with truncation (a new file over an old one: readers start again).
    truncated: bool,
    /// A history rewrite is under way ([`note_rewrite`]) until the next checkpoint:
    /// objects of committed versions may have been replaced in libhdf5's cache only.
    rewriting: bool,
    /// Power-loss durability: the fsyncs this file still owes.
    durable: Durable,
    /// What `fstat` said of the file when the writer's `flock` was taken, before
    /// libhdf5 wrote anything ([`stamp_at_lock`]).
    locked: Option<FileStamp>,
}

/// What `fstat` says of a file: device, inode, length, and modification and change
/// times to the nanosecond. Any write to the file changes the times (to the clock's
/// granularity), and a replacement changes the inode: the version index file
/// (`file::vindex`) is trusted only for the exact stamp it was written for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct FileStamp {
    pub(crate) dev: u64,
    pub(crate) ino: u64,
    pub(crate) size: u64,
    pub(crate) mtime_ns: i64,
    pub(crate) ctime_ns: i64,
}

impl FileStamp {
    pub(crate) fn of(file: &File) -> Option<FileStamp> {
        let m = file.metadata().ok()?;
        Some(FileStamp {
            dev: m.dev(),
            ino: m.ino(),
            size: m.len(),
            mtime_ns: m
                .mtime()
                .saturating_mul(1_000_000_000)
                .saturating_add(m.mtime_nsec()),
            ctime_ns: m
                .ctime()
                .saturating_mul(1_000_000_000)
                .saturating_add(m.ctime_nsec()),
        })
    }
}

/// Stamps of writable files as their last close left them, once everything was
/// written and before the `flock` went, by `(dev, ino)` ([`take_close_stamp`]).
fn close_stamps() -> std::sync::MutexGuard<'static, HashMap<(u64, u64), FileStamp>> {
    static STAMPS: OnceLock<std::sync::Mutex<HashMap<(u64, u64), FileStamp>>> = OnceLock::new();
    STAMPS
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The stamp a clean close of the writable file `(dev, ino)` left (taken, so asked
/// once); `None` when it was not closed cleanly (a failed write keeps the journal) or
/// is still open.
pub(crate) fn take_close_stamp(dev: u64, ino: u64) -> Option<FileStamp> {
    close_stamps().remove(&(dev, ino))
}

/// The stamp of a writable `file` from the moment its writer's lock was taken, before
/// libhdf5 or a repair of the open wrote to it: what the file was when this writer
/// found it. `None` for a read-only open, or a file system without locks.
pub(crate) fn stamp_at_lock(file: &Hid) -> Option<FileStamp> {
    with_jfile(file, |jf| jf.locked).ok().flatten().flatten()
}

/// The stamp of `file` now (`fstat` of the driver's descriptor). `None` for another
/// driver's file.
pub(crate) fn stamp_now(file: &Hid) -> Option<FileStamp> {
    with_jfile(file, |jf| FileStamp::of(&jf.file))
        .ok()
        .flatten()
        .flatten()
}

/// The old bytes of a dead writer's transaction, laid over what a reader reads: the
/// reader sees the file as its last checkpoint left it without changing it (the
/// roll-back is for the next writer, which may need write access a reader lacks).
struct Overlay {
    base_eof: u64,
    /// Disjoint ranges (each byte is saved once per transaction), by offset.
    records: Vec<(u64, Vec<u8>)>,
}

impl Overlay {
    fn load(path: &Path) -> Option<Overlay> {
        let bytes = std::fs::read(journal_path(path)).ok()?;
        let mut p = parse(&bytes)?;
        p.records.sort_by_key(|r| r.0);
        Some(Overlay {
            base_eof: p.base_eof,
            records: p.records,
        })
    }

    /// Lays the saved bytes over `out`, read from the file at `addr`.
    fn apply(&self, addr: u64, out: &mut [u8]) {
        let end = addr + out.len() as u64;
        if end > self.base_eof {
            let from = (self.base_eof.saturating_sub(addr) as usize).min(out.len());
            out[from..].fill(0);
        }
        for (off, data) in &self.records {
            let (a, b) = (*off, *off + data.len() as u64);
            if b <= addr || a >= end {
                continue;
            }
            let s = a.max(addr);
            let e = b.min(end);
            out[(s - addr) as usize..(e - addr) as usize]
                .copy_from_slice(&data[(s - a) as usize..(e - a) as usize]);
        }
    }
}

/// The `fsync` durability of one writable file ([`fapl`]`(true)`): which barriers are
/// owed. Off (the default), nothing is synced on the commit path and a commit survives
/// the death of the process, not a power loss. On:
/// - the directory is synced when the journal is created ([`JFile::write_journal`]) or
///   removed (`cb_close`), and at the first checkpoint of a file this open created;
/// - the journal is synced before any change to the file that follows a journal write
///   ([`JFile::before_change`]): a record (and the header, which says where a roll-back
///   cuts the file) is durable before the overwrite it protects. Writes to the file are
///   held back until the next barrier ([`JFile::write_file`], [`JFile::flush_held`]; reads
///   see them), so one journal sync covers all the records of a flush, not one sync per
///   metadata block libhdf5 writes;
/// - at a checkpoint the file is synced, then the journal emptied and synced
///   ([`JFile::checkpoint`]): the emptying is the commit point, and it returns only once
///   the commit is on stable storage.
#[derive(Default)]
struct Durable {
    on: bool,
    /// Journal bytes written since the journal's last fsync.
    journal_dirty: bool,
    /// File bytes written or cut since the file's last fsync.
    file_dirty: bool,
    /// The file's directory entry is new (created by this open) and not synced yet.
    new_entry: bool,
    /// Writes to the file not issued yet, in order: `(offset, bytes)`.
    held: Vec<(u64, Vec<u8>)>,
    /// Their bytes.
    held_bytes: usize,
}

/// Held-back writes ([`Durable::held`]) issued at once past this many bytes.
const HELD_MAX: usize = 64 << 20;

/// Copies over `buf` (the file's bytes from `at` on) what the held-back writes
/// ([`Durable::held`]) put there: the file as libhdf5 wrote it.
fn lay_held(held: &[(u64, Vec<u8>)], buf: &mut [u8], at: u64) {
    let end = at + buf.len() as u64;
    for (a, d) in held {
        let (s, e) = ((*a).max(at), (a + d.len() as u64).min(end));
        if s < e {
            buf[(s - at) as usize..(e - at) as usize]
                .copy_from_slice(&d[(s - a) as usize..(e - a) as usize]);
        }
    }
}

thread_local! {
    /// Set around a reader's open that must see the file through its journal
    /// ([`Overlay`]); read by `cb_open`.
    static OVERLAY_NEXT: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Runs `f` (an open of a file read-only) so that the file driver lays the journal
/// of a dead writer over what it reads, when `overlay`.
pub(crate) fn with_overlay<T>(overlay: bool, f: impl FnOnce() -> T) -> T {
    OVERLAY_NEXT.with(|c| c.set(overlay));
    let r = f();
    OVERLAY_NEXT.with(|c| c.set(false));
    r
}

/// The writer's side of the reader protocol ([`readers`]): its locks, the commits
/// file and the write phase now open.
pub(crate) struct WriterCoord {
    path: PathBuf,
    /// A duplicate of the file's descriptor (the same open file description, so the
    /// same locks), once libhdf5 locked the file.
    fd: Option<File>,
    commits: Option<Commits>,
    stamp: Stamp,
    /// `begin` was bumped and `end` not yet.
    phase: bool,
    /// The write phase's locks are held.
    held: bool,
    /// The last wait for readers ran out.
    broke: bool,
    /// What the next checkpoint commits, when the engine said.
    note: Option<CommitNote>,
    /// The next checkpoint changes committed versions (a new generation).
    rewrite: bool,
}

impl WriterCoord {
    fn new(path: PathBuf) -> WriterCoord {
        WriterCoord {
            path,
            fd: None,
            commits: None,
            stamp: Stamp::default(),
            phase: false,
            held: false,
            broke: false,
            note: None,
            rewrite: false,
        }
    }

    /// Once libhdf5 has the file locked for writing: the writer's lock, the commits
    /// file, and an end to a write phase a dead writer left open.
    fn attach(&mut self, file: &File, truncated: bool) {
        let Ok(fd) = file.try_clone() else { return };
        readers::take_writer_lock(&fd);
        self.fd = Some(fd);
        self.commits = Commits::open_write(&self.path);
        if let Some(c) = &self.commits {
            self.stamp = c.stamp().ok().flatten().unwrap_or(Stamp {
                gen: 1,
                begin: 0,
                end: 0,
            });
        }
        if self.stamp.writing() || truncated {
            self.close_phase(truncated);
        }
    }

    /// Records a write phase as ended with an unknown change (a dead writer's, or a
    /// file replaced under readers), in a new generation when `new_gen`: readers
    /// that see it start from the file again.
    fn close_phase(&mut self, new_gen: bool) {
        if let Some(c) = &self.commits {
            let e = self.stamp.begin.max(self.stamp.end) + 1;
            let _ = c.record(e, &Change::Unknown);
            self.stamp = Stamp {
                gen: self.stamp.gen + u64::from(new_gen),
                begin: e,
                end: e,
            };
            let _ = c.write_stamp(self.stamp);
        }
    }

    /// Takes the write phase's locks, waiting for readers inside a call (see
    /// [`readers::lock_writes`]).
    pub(crate) fn hold(&mut self) {
        if self.held {
            return;
        }
        let Some(fd) = &self.fd else { return };
        let wait = if self.broke {
            readers::BROKEN_WAIT
        } else {
            readers::WRITER_WAIT
        };
        self.broke = !readers::lock_writes(fd, wait);
        self.held = true;
    }

    /// Before the first write of a transaction.
    fn begin(&mut self) {
        if self.phase || self.fd.is_none() {
            return;
        }
        self.hold();
        if let Some(c) = &self.commits {
            self.stamp.begin = self.stamp.end + 1;
            let _ = c.write_stamp(self.stamp);
        }
        self.phase = true;
    }

    /// After a checkpoint (or a roll-back, `undone`): the write phase ends, readers
    /// learn what it did, and the locks go.
    fn end(&mut self, undone: bool) {
        self.end_as(undone, false);
    }

    /// [`end`](Self::end); `quiet`: what was written is nothing readers see.
    fn end_as(&mut self, undone: bool, quiet: bool) {
        let note = self.note.take();
        if self.phase {
            if let Some(c) = &self.commits {
                let e = self.stamp.begin;
                let change = match note {
                    Some(n) if !undone && !self.rewrite => Change::Commit(n),
                    None if quiet && !self.rewrite => Change::Nothing,
                    _ => Change::Unknown,
                };
                let _ = c.record(e, &change);
                if self.rewrite && !undone {
                    self.stamp.gen += 1;
                }
                self.stamp.end = e;
                let _ = c.write_stamp(self.stamp);
            }
            self.phase = false;
            self.rewrite = false;
        }
        if self.held {
            if let Some(fd) = &self.fd {
                readers::unlock_writes(fd);
            }
            self.held = false;
        }
    }
}

/// Syncs the directory holding the journal `jpath` (its creation or removal, or its
/// file's creation, reaches the disk).
fn sync_dir(jpath: &Path) -> std::io::Result<()> {
    let dir = match jpath.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    trace::push_for(jpath, || trace::Op::SyncDir);
    File::open(dir)?.sync_all()
}

impl JFile {
    /// Reads `out.len()` bytes at `addr` as libhdf5 sees them: the file's bytes, with
    /// writes still held for the durability barrier and a dead writer's journal laid
    /// over them.
    fn read_at(&self, addr: u64, out: &mut [u8]) -> std::io::Result<()> {
        read_full(&self.file, out, addr)?;
        lay_held(&self.durable.held, out, addr);
        if let Some(o) = &self.overlay {
            o.apply(addr, out);
        }
        Ok(())
    }

    /// Writes `data` at `addr` inside the open transaction: the bytes it replaces are
    /// saved to the journal first (only the span that changes). On failure, the
    /// libhdf5 error class and message to report; the transaction is marked failed.
    fn write_at(&mut self, addr: u64, data: &[u8]) -> std::result::Result<(), (hid_t, String)> {
        if self.poisoned() {
            // Rolled back under libhdf5 (`roll_back`): what it writes now, closing its
            // stale view of the file, is dropped. Failing instead would leave its ids
            // half-closed.
            return Ok(());
        }
        let (lo, hi) = match self.changed_span(addr, data) {
            Ok(Some(span)) => span,
            Ok(None) => return Ok(()),
            Err(e) => {
                let p = self.path();
                self.mark_failed("reading the bytes a write replaces in", p.as_deref(), &e);
                return Err((
                    *H5E_READERROR,
                    format!("reading the bytes a write replaces failed: {e}"),
                ));
            }
        };
        let old = std::mem::take(&mut self.scratch);
        let (from, data) = (addr, &data[lo..hi]);
        let addr = from + lo as u64;
        let end = addr + data.len() as u64;
        let saved = self.save(addr, end, (from, &old[..self.known.min(old.len())]));
        self.scratch = old;
        if let Err(e) = saved {
            self.mark_failed("appending to the journal", None, &e);
            return Err((
                *H5E_WRITEERROR,
                format!("saving the old bytes to the journal failed: {e}"),
            ));
        }
        if let Err(e) = fault_point().and_then(|()| self.write_file(addr, data)) {
            let p = self.path();
            self.mark_failed("writing", p.as_deref(), &e);
            return Err((*H5E_WRITEERROR, format!("file write failed: {e}")));
        }
        self.eof = self.eof.max(end);
        Ok(())
    }

    fn write_journal(&mut self, at: u64, bytes: &[u8]) -> std::io::Result<()> {
        let Some(j) = self.journal.as_mut() else {
            return Ok(());
        };
        let f = match j.file.as_mut() {
            Some(f) => f,
            None => {
                let f = OpenOptions::new()
                    .read(true)
                    .write(true)
                    .create(true)
                    .truncate(false)
                    .mode(0o644)
                    .open(&j.path)?;
                if f.metadata()?.len() != 0 {
                    return Err(std::io::Error::other(format!(
                        "'{}' holds an interrupted commit that was not rolled back: close every handle and open the file again",
                        j.path.display()
                    )));
                }
                trace::push_for(&j.path, || trace::Op::CreateJournal);
                if self.durable.on {
                    sync_dir(&j.path)?;
                }
                j.file.insert(f)
            }
        };
        trace::push_for(&j.path, || {
            trace::Op::Write(trace::Target::Journal, at, bytes.to_vec())
        });
        f.write_all_at(bytes, at)?;
        self.durable.journal_dirty = true;
        Ok(())
    }

    /// Before a change to the file (a write or a cut): under `fsync` durability, the
    /// journal written so far (the header, and the records of the bytes this change
    /// overwrites) is synced first. The change is traced for the crash-state tests.
    fn before_change(&mut self, op: impl FnOnce() -> trace::Op) -> std::io::Result<()> {
        if self.durable.on && self.durable.journal_dirty {
            if let Some(f) = self.journal.as_ref().and_then(|j| j.file.as_ref()) {
                if let Some(j) = self.journal.as_ref() {
                    trace::push_for(&j.path, || trace::Op::Sync(trace::Target::Journal));
                }
                f.sync_data()?;
            }
            self.durable.journal_dirty = false;
        }
        if let Some(j) = self.journal.as_ref() {
            trace::push_for(&j.path, op);
        }
        self.durable.file_dirty = true;
        Ok(())
    }

    /// Writes `data` at `addr` to the file: at once by default; under `fsync`
    /// durability held back until the next barrier ([`flush_held`](Self::flush_held)),
    /// so that one journal sync covers every record written before it.
    fn write_file(&mut self, addr: u64, data: &[u8]) -> std::io::Result<()> {
        if self.durable.on {
            self.durable.held.push((addr, data.to_vec()));
            self.durable.held_bytes += data.len();
            if self.durable.held_bytes >= HELD_MAX {
                return self.flush_held();
            }
            return Ok(());
        }
        self.before_change(|| trace::Op::Write(trace::Target::File, addr, data.to_vec()))?;
        self.file.write_all_at(data, addr)
    }

    /// Issues the held-back writes, in order, after syncing the journal that protects
    /// them ([`before_change`](Self::before_change)).
    fn flush_held(&mut self) -> std::io::Result<()> {
        let held = std::mem::take(&mut self.durable.held);
        self.durable.held_bytes = 0;
        for (addr, data) in &held {
            self.before_change(|| trace::Op::Write(trace::Target::File, *addr, data.clone()))?;
            self.file.write_all_at(data, *addr)?;
        }
        Ok(())
    }

    /// Under `fsync` durability, makes the file's changes durable (and its directory
    /// entry, when this open created it): before the journal is emptied.
    fn sync_file(&mut self) -> std::io::Result<()> {
        if !self.durable.on {
            return Ok(());
        }
        self.flush_held()?;
        let Some(jpath) = self.journal.as_ref().map(|j| j.path.clone()) else {
            return Ok(());
        };
        if self.durable.file_dirty {
            trace::push_for(&jpath, || trace::Op::Sync(trace::Target::File));
            self.file.sync_data()?;
            self.durable.file_dirty = false;
        }
        if self.durable.new_entry {
            sync_dir(&jpath)?;
            self.durable.new_entry = false;
        }
        Ok(())
    }

    /// Empties the journal (the commit point); under `fsync` durability the file is
    /// synced before and the journal after.
    fn empty_journal(&mut self) -> std::io::Result<()> {
        self.sync_file()?;
        let on = self.durable.on;
        if let Some(j) = self.journal.as_ref() {
            if let Some(f) = j.file.as_ref() {
                trace::push_for(&j.path, || trace::Op::SetLen(trace::Target::Journal, 0));
                f.set_len(0)?;
                if on {
                    trace::push_for(&j.path, || trace::Op::Sync(trace::Target::Journal));
                    f.sync_data()?;
                }
            }
        }
        self.durable.journal_dirty = false;
        Ok(())
    }

    /// Before a change the journal covers: enters a write phase of the reader protocol
    /// (every write is inside one; one may have ended inside the transaction: see
    /// `end_writes`), and starts a transaction if none is open: the journal's header
    /// goes first, so a roll-back cuts away whatever the transaction appends to the
    /// file.
    fn begin(&mut self) -> std::io::Result<()> {
        if let Some(c) = &self.coord {
            c.lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .begin();
        }
        let Some(j) = self.journal.as_ref() else {
            return Ok(());
        };
        if j.len != 0 {
            return Ok(());
        }
        let h = header(j.base_eof);
        self.write_journal(0, &h)?;
        if let Some(j) = self.journal.as_mut() {
            j.len = HEADER_LEN;
        }
        Ok(())
    }

    /// Saves the old bytes of `[a, b)` that existed at the checkpoint and are not
    /// saved yet. `known` holds the file's current bytes from an offset on (what
    /// [`changed_span`](Self::changed_span) just read), which are taken instead of
    /// reading the file again where they cover a record.
    fn save(&mut self, a: u64, b: u64, known: (u64, &[u8])) -> std::io::Result<()> {
        self.begin()?;
        let Some(j) = self.journal.as_ref() else {
            return Ok(());
        };
        let b = b.min(j.base_eof);
        if a >= b {
            return Ok(());
        }
        let gaps = j.saved.gaps(a, b);
        for (gs, ge) in gaps {
            let mut s = gs;
            while s < ge {
                let e = ge.min(s + RECORD_MAX);
                let n = (e - s) as usize;
                let mut rec = Vec::with_capacity(RECORD_HEAD + n);
                rec.extend_from_slice(&s.to_le_bytes());
                rec.extend_from_slice(&(n as u64).to_le_bytes());
                rec.extend_from_slice(&[0; 8]);
                let (k0, kb) = known;
                match s
                    .checked_sub(k0)
                    .and_then(|o| kb.get(o as usize..o as usize + n))
                {
                    // Copied in without zero-filling first: this runs for every byte
                    // a transaction overwrites.
                    Some(old) => rec.extend_from_slice(old),
                    None => {
                        rec.resize(RECORD_HEAD + n, 0);
                        read_full(&self.file, &mut rec[RECORD_HEAD..], s)?;
                    }
                }
                let sum = check(&[&rec[..16], &rec[RECORD_HEAD..]]);
                rec[16..24].copy_from_slice(&sum.to_le_bytes());
                let at = self.journal.as_ref().map_or(0, |j| j.len);
                fault_point()?;
                self.write_journal(at, &rec)?;
                if let Some(j) = self.journal.as_mut() {
                    j.len += rec.len() as u64;
                    j.saved.insert(s, e);
                }
                s = e;
            }
        }
        Ok(())
    }

    /// Lays out a block of journal records ([`BLOCK`]) for writes of `slot` bytes at
    /// each of `dests`, for a [`MoveBlock`] to fill in and make from another thread.
    /// The block's head is written and the ranges are counted as saved now, so that
    /// libhdf5's own records go after the block. `None` (nothing done) under `fsync`
    /// durability (its held-back writes and syncs stay on libhdf5's thread), without a
    /// journal, for records longer than [`RECORD_MAX`], or when a destination is not a
    /// range of the checkpoint's bytes that this transaction has not saved yet.
    fn reserve_moves(&mut self, dests: &[u64], slot: usize) -> std::io::Result<Option<MoveBlock>> {
        let Some(j) = self.journal.as_ref() else {
            return Ok(None);
        };
        if self.durable.on || slot == 0 || slot as u64 > RECORD_MAX || dests.is_empty() {
            return Ok(None);
        }
        for &d in dests {
            let e = d.checked_add(slot as u64);
            if e.is_none_or(|e| e > j.base_eof || j.saved.gaps(d, e) != [(d, e)]) {
                return Ok(None);
            }
        }
        self.begin()?;
        let stride = RECORD_HEAD + slot;
        let len = 8 + dests.len() as u64 * stride as u64;
        let mut head = [0u8; RECORD_HEAD + 8];
        head[..8].copy_from_slice(&BLOCK.to_le_bytes());
        head[8..16].copy_from_slice(&len.to_le_bytes());
        head[RECORD_HEAD..].copy_from_slice(&(stride as u64).to_le_bytes());
        let sum = check(&[&head[..16], &head[RECORD_HEAD..]]);
        head[16..24].copy_from_slice(&sum.to_le_bytes());
        let at = self.journal.as_ref().map_or(0, |j| j.len);
        fault_point()?;
        self.write_journal(at, &head)?;
        let Some(j) = self.journal.as_mut() else {
            return Ok(None);
        };
        j.len = at + RECORD_HEAD as u64 + len;
        for &d in dests {
            j.saved.insert(d, d + slot as u64);
        }
        let Some(jf) = j.file.as_ref() else {
            return Ok(None);
        };
        Ok(Some(MoveBlock {
            journal: jf.try_clone()?,
            data: self.file.try_clone()?,
            jpath: j.path.clone(),
            first: at + RECORD_HEAD as u64 + 8,
            stride,
        }))
    }

    /// The part of a write of `data` at `addr` that changes the file: `None` when
    /// every byte equals what the file holds, else the range `[lo, hi)` of `data`
    /// from its first to its last changed byte (bytes past the end of the file count
    /// as changed). libhdf5 rewrites whole metadata blocks and chunks where a few
    /// bytes changed (a hash table's last chunk, an object header); writing only the
    /// changed range also keeps the journal's copy of the old bytes that small.
    fn changed_span(&mut self, addr: u64, data: &[u8]) -> std::io::Result<Option<(usize, usize)>> {
        let inside = self.eof.saturating_sub(addr).min(data.len() as u64) as usize;
        self.known = 0;
        if inside == 0 {
            return Ok(Some((0, data.len())));
        }
        // The buffer only grows: zero-filling it anew for every large write (the hash
        // table's 192 KiB chunk, each commit) showed in profiles.
        if self.scratch.len() < inside {
            self.scratch.resize(inside, 0);
        }
        let r = read_full(&self.file, &mut self.scratch[..inside], addr);
        lay_held(&self.durable.held, &mut self.scratch[..inside], addr);
        let old = &self.scratch[..inside];
        let span = r.map(|()| {
            let (new_in, beyond) = data.split_at(inside);
            match first_difference(old, new_in) {
                None if beyond.is_empty() => None,
                None => Some((inside, data.len())),
                Some(lo) => {
                    let hi = if beyond.is_empty() {
                        last_difference(old, new_in).map_or(inside, |i| i + 1)
                    } else {
                        data.len()
                    };
                    Some((lo, hi))
                }
            }
        });
        if span.is_ok() {
            self.known = inside;
        }
        span
    }

    fn mark_failed(&mut self, what: &'static str, path: Option<&Path>, e: &std::io::Error) {
        if let Some(j) = self.journal.as_mut() {
            j.failed = true;
            if j.fault.is_none() {
                let fault = IoFault {
                    what,
                    path: path.map_or_else(|| j.path.clone(), Path::to_path_buf),
                    errno: e.raw_os_error(),
                    message: e.to_string(),
                };
                *last_fault() = Some(fault.clone());
                j.fault = Some(fault);
            }
        }
    }

    /// The file's own path (the journal's without its suffix).
    fn path(&self) -> Option<PathBuf> {
        let j = self.journal.as_ref()?;
        let s = j.path.as_os_str().as_bytes();
        let n = s.len().checked_sub(SUFFIX.len())?;
        Some(PathBuf::from(std::ffi::OsStr::from_bytes(&s[..n])))
    }

    /// Whether writes are dropped: a write failed in this transaction (which can only
    /// be undone now, so what libhdf5 writes after it would only have to be undone
    /// too, and a write that failed again inside the close of an object would leave
    /// that object's id unclosable), or the file was rolled back under libhdf5.
    fn poisoned(&self) -> bool {
        self.journal
            .as_ref()
            .is_some_and(|j| j.poisoned || j.fault.is_some())
    }

    /// Undoes the open transaction in place, as [`recover`] would at the next open:
    /// the journaled bytes go back, the file is cut to its checkpoint length, the
    /// journal is emptied. From then on every write and truncation is dropped (libhdf5's
    /// cached metadata describes the undone state): the file must be closed and opened
    /// again, and closing it then changes nothing.
    /// When the roll-back itself fails, the journal is left for the next open.
    fn roll_back(&mut self) -> std::io::Result<()> {
        let Some(j) = self.journal.as_mut() else {
            return Ok(());
        };
        j.poisoned = true;
        j.failed = true;
        // Held-back writes never reached the file: nothing of them to undo.
        self.durable.held.clear();
        self.durable.held_bytes = 0;
        let Some(j) = self.journal.as_mut() else {
            return Ok(());
        };
        if j.len == 0 {
            return Ok(());
        }
        let Some(jfile) = j.file.as_ref() else {
            return Ok(());
        };
        let mut bytes = vec![0u8; j.len as usize];
        // A short journal (an append that failed part way) parses up to its last whole
        // record: what follows covers a write that was never issued.
        let n = jfile.read_at(&mut bytes, 0)?;
        bytes.truncate(n);
        let base_eof = j.base_eof;
        if let Some(p) = parse(&bytes) {
            for (off, data) in &p.records {
                self.before_change(|| trace::Op::Write(trace::Target::File, *off, data.clone()))?;
                self.file.write_all_at(data, *off)?;
            }
        }
        self.before_change(|| trace::Op::SetLen(trace::Target::File, base_eof))?;
        self.file.set_len(base_eof)?;
        self.eof = base_eof;
        // The new open of the file takes the lock (libhdf5 may never close this one).
        let _ = self.file.unlock();
        if let Some(c) = &self.coord {
            let mut c = c.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            c.end(true);
            if let Some(fd) = c.fd.take() {
                readers::drop_writer_lock(&fd);
            }
        }
        self.empty_journal()?;
        if let Some(j) = self.journal.as_mut() {
            j.len = 0;
            j.saved = Saved::default();
        }
        Ok(())
    }

    /// Ends the transaction: the file as it is now is the new checkpoint.
    fn checkpoint(&mut self) -> std::io::Result<()> {
        let eof = self.eof;
        let Some(j) = self.journal.as_mut() else {
            return Ok(());
        };
        if j.len != 0 && j.file.is_some() {
            fault_point()?;
            self.empty_journal()?;
        }
        let Some(j) = self.journal.as_mut() else {
            return Ok(());
        };
        j.len = 0;
        j.saved = Saved::default();
        j.base_eof = eof;
        j.failed = false;
        j.fault = None;
        if let Some(c) = &self.coord {
            c.lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .end(false);
        }
        Ok(())
    }
}

/// Bytes compared at once by [`first_difference`] and [`last_difference`] (whole
/// blocks compare as slices, which is a `memcmp`).
const CMP_BLOCK: usize = 256;

/// Index of the first byte where `a` and `b` (of equal length) differ.
fn first_difference(a: &[u8], b: &[u8]) -> Option<usize> {
    let mut at = 0;
    for (x, y) in a.chunks(CMP_BLOCK).zip(b.chunks(CMP_BLOCK)) {
        if x != y {
            return x.iter().zip(y).position(|(p, q)| p != q).map(|i| at + i);
        }
        at += x.len();
    }
    None
}

/// Index of the last byte where `a` and `b` (of equal length) differ.
fn last_difference(a: &[u8], b: &[u8]) -> Option<usize> {
    let mut end = a.len();
    for (x, y) in a.rchunks(CMP_BLOCK).zip(b.rchunks(CMP_BLOCK)) {
        let start = end - x.len();
        if x != y {
            return x
                .iter()
                .zip(y)
                .rposition(|(p, q)| p != q)
                .map(|i| start + i);
        }
        end = start;
    }
    None
}

/// Reads `buf.len()` bytes at `at`; past the end of the file, zeros.
fn read_full(f: &File, buf: &mut [u8], at: u64) -> std::io::Result<()> {
    let mut done = 0;
    while done < buf.len() {
        match f.read_at(&mut buf[done..], at + done as u64) {
            Ok(0) => {
                buf[done..].fill(0);
                break;
            }
            Ok(n) => done += n,
            Err(e) if e.kind() == IoKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Pushes an error onto libhdf5's stack, so the caller's message names the cause.
fn push(minor: hid_t, msg: &str) {
    let m = CString::new(msg.replace('\0', " ")).unwrap_or_default();
    // SAFETY: the format string takes exactly the one C string passed; the error
    // class and ids are libhdf5's own, valid once the library is initialised (it
    // is: only libhdf5 calls the driver).
    unsafe {
        H5Epush2(
            H5E_DEFAULT,
            c"journal.rs".as_ptr(),
            c"vh5_journal".as_ptr(),
            line!(),
            *H5E_ERR_CLS,
            *H5E_VFL,
            minor,
            c"%s".as_ptr(),
            m.as_ptr(),
        );
    }
}

/// Fault injection for the crash and fault tests: with `VH5_FAULT_AT=n` in the
/// environment, the n-th change to a file of this driver (a write, a truncation, an
/// append to a journal, or the emptying of a journal at a checkpoint) does not happen:
/// the process aborts just before it, or, with `VH5_FAULT_ERRNO=ENOSPC` (or `EIO`),
/// that one operation fails with that error, as a full disk or a failing device
/// would fail it. A test can so stop a commit at every point of its write sequence in
/// turn. Compiled only with the `test-hooks` feature (the test build); the published
/// build has no such hook.
#[cfg(feature = "test-hooks")]
fn fault_point() -> std::io::Result<()> {
    use std::sync::atomic::{AtomicI64, Ordering};
    static LEFT: OnceLock<Option<(AtomicI64, Option<i32>)>> = OnceLock::new();
    let left = LEFT.get_or_init(|| {
        let errno = match std::env::var("VH5_FAULT_ERRNO").ok().as_deref() {
            Some("ENOSPC") => Some(28),
            Some("EIO") => Some(5),
            _ => None,
        };
        std::env::var("VH5_FAULT_AT")
            .ok()
            .and_then(|v| v.parse::<i64>().ok())
            .map(|n| (AtomicI64::new(n), errno))
    });
    if let Some((n, errno)) = left {
        if n.fetch_sub(1, Ordering::SeqCst) == 1 {
            match errno {
                Some(e) => return Err(std::io::Error::from_raw_os_error(*e)),
                None => std::process::abort(),
            }
        }
    }
    Ok(())
}

/// Without the `test-hooks` feature there is no fault injection.
#[cfg(not(feature = "test-hooks"))]
#[inline(always)]
fn fault_point() -> std::io::Result<()> {
    Ok(())
}

fn overflow(addr: haddr_t, size: u64) -> bool {
    addr > MAXADDR || size > MAXADDR || addr.checked_add(size).is_none_or(|e| e > MAXADDR)
}

// ---------------------------------------------------------------------------------
// Callbacks. libhdf5 calls them under its own lock, one at a time.

unsafe extern "C" fn cb_open(
    name: *const c_char,
    flags: c_uint,
    fapl: hid_t,
    maxaddr: haddr_t,
) -> *mut c_void {
    // SAFETY: a valid access property list; its driver info, when set, is the copy
    // libhdf5 made of one `DurabilityInfo` ([`fapl`]).
    let fsync = unsafe {
        let info = H5Pget_driver_info(fapl) as *const DurabilityInfo;
        !info.is_null() && (*info).fsync != 0
    };
    if name.is_null() || maxaddr == 0 || maxaddr > MAXADDR {
        push(*H5E_BADVALUE, "invalid file name or maximum address");
        return std::ptr::null_mut();
    }
    // SAFETY: libhdf5 passes a NUL-terminated file name.
    let name = unsafe { CStr::from_ptr(name) };
    let path = PathBuf::from(std::ffi::OsStr::from_bytes(name.to_bytes()));
    let rw = flags & H5F_ACC_RDWR != 0;
    let mut o = OpenOptions::new();
    o.read(true).write(rw).mode(0o644);
    if flags & H5F_ACC_CREAT != 0 {
        if flags & H5F_ACC_EXCL != 0 {
            o.create_new(true);
        } else {
            o.create(true);
        }
    }
    if flags & H5F_ACC_TRUNC != 0 {
        o.truncate(true);
    }
    let file = match o.open(&path) {
        Ok(f) => f,
        Err(e) => {
            *open_errno() = e.raw_os_error();
            push(
                *H5E_CANTOPENFILE,
                &format!("unable to open file: name = '{}', {e}", path.display()),
            );
            return std::ptr::null_mut();
        }
    };
    let meta = match file.metadata() {
        Ok(m) => m,
        Err(e) => {
            push(*H5E_CANTOPENFILE, &format!("unable to stat file: {e}"));
            return std::ptr::null_mut();
        }
    };
    let eof = meta.len();
    let overlay = if rw {
        None
    } else {
        OVERLAY_NEXT
            .with(|c| c.get())
            .then(|| Overlay::load(&path))
            .flatten()
    };
    let coord =
        rw.then(|| std::sync::Arc::new(std::sync::Mutex::new(WriterCoord::new(path.clone()))));
    let truncated = flags & H5F_ACC_TRUNC != 0;
    let journal = rw.then(|| Journal {
        path: journal_path(&path),
        file: None,
        len: 0,
        base_eof: eof,
        saved: Saved::default(),
        failed: false,
        fault: None,
        poisoned: false,
    });
    let jf = Box::new(JFile {
        // SAFETY: `Public` is plain data (integers, a raw pointer, a bool); all-zero
        // is a valid value, and libhdf5 fills it in.
        public: unsafe { std::mem::zeroed() },
        file,
        dev: meta.dev(),
        ino: meta.ino(),
        eoa: 0,
        eof,
        journal,
        scratch: Vec::new(),
        known: 0,
        coord,
        overlay,
        truncated,
        rewriting: false,
        durable: Durable {
            on: fsync && rw,
            new_entry: flags & (H5F_ACC_CREAT | H5F_ACC_TRUNC) != 0,
            ..Durable::default()
        },
        locked: None,
    });
    let raw = Box::into_raw(jf) as *mut c_void;
    open_files().insert(raw as usize);
    raw
}

/// Addresses of this driver's open files (`JFile`s), so that [`checkpoint`] can tell
/// a handle of this driver from another driver's without asking libhdf5 for the
/// file's access property list (a copy of all of it, on every commit).
fn open_files() -> std::sync::MutexGuard<'static, std::collections::HashSet<usize>> {
    static OPEN: OnceLock<std::sync::Mutex<std::collections::HashSet<usize>>> = OnceLock::new();
    OPEN.get_or_init(Default::default)
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// # Safety
/// `f` is a pointer this driver's `cb_open` returned and libhdf5 has not closed.
unsafe fn jf<'a>(f: *const c_void) -> &'a mut JFile {
    // SAFETY: per the contract above; libhdf5 serialises every call on a file.
    unsafe { &mut *(f as *mut JFile) }
}

unsafe extern "C" fn cb_close(f: *mut c_void) -> herr_t {
    open_files().remove(&(f as usize));
    // SAFETY: libhdf5 closes each file it opened exactly once; the box is ours.
    let mut jf = unsafe { Box::from_raw(f as *mut JFile) };
    // libhdf5 calls this last, once everything is flushed and the superblock's
    // open-for-writing mark is cleared: unless a write failed since the last
    // checkpoint, the file is whole, so that is a checkpoint too. Otherwise the
    // journal stays and the next open rolls back to the last checkpoint.
    let clean = jf.journal.as_ref().is_some_and(|j| !j.failed);
    // Rolled back in place (`roll_back`): the file is its last checkpoint and the
    // journal is empty, so it can go too, unless the file was opened again meanwhile
    // (the journal is then the new handle's).
    let reopened = {
        let open = open_files();
        open.iter().any(|&p| {
            // SAFETY: every address in `open_files` is an open file of this driver.
            let o = unsafe { &*(p as *const JFile) };
            (o.dev, o.ino) == (jf.dev, jf.ino)
        })
    };
    let undone = !reopened
        && jf
            .journal
            .as_ref()
            .is_some_and(|j| j.poisoned && j.len == 0);
    let whole = clean && jf.checkpoint().is_ok();
    if whole || undone {
        if let Some(j) = &jf.journal {
            if j.file.is_some() {
                trace::push_for(&j.path, || trace::Op::RemoveJournal);
                if std::fs::remove_file(&j.path).is_ok() && jf.durable.on {
                    let _ = sync_dir(&j.path);
                }
            }
        }
    }
    if whole && jf.locked.is_some() {
        // Still under the writer's lock: nothing else wrote since.
        if let Some(s) = FileStamp::of(&jf.file) {
            close_stamps().insert((jf.dev, jf.ino), s);
        }
    }
    drop(jf);
    0
}

unsafe extern "C" fn cb_cmp(a: *const c_void, b: *const c_void) -> c_int {
    // SAFETY: both are open files of this driver (libhdf5 compares drivers first).
    let (a, b) = unsafe { (jf(a), jf(b)) };
    // A file rolled back under libhdf5 (`roll_back`) equals no other: libhdf5 must not
    // give its stale state to a new open of the same file, which gets a state of its
    // own (the stale one is only closed, its writes dropped).
    // Each read-only open gets a state of its own too: a reader must not share the
    // metadata cache of a writer in this process (which holds what is not committed
    // yet), nor keep one across commits that another reader refreshed past.
    if a.poisoned() || b.poisoned() || a.journal.is_none() || b.journal.is_none() {
        return match (a as *const JFile).cmp(&(b as *const JFile)) {
            std::cmp::Ordering::Less => -1,
            std::cmp::Ordering::Equal => 0,
            std::cmp::Ordering::Greater => 1,
        };
    }
    match (a.dev, a.ino).cmp(&(b.dev, b.ino)) {
        std::cmp::Ordering::Less => -1,
        std::cmp::Ordering::Equal => 0,
        std::cmp::Ordering::Greater => 1,
    }
}

unsafe extern "C" fn cb_query(_f: *const c_void, flags: *mut c_ulong) -> herr_t {
    if !flags.is_null() {
        let mut v = FEAT_AGGREGATE_METADATA
            | FEAT_ACCUMULATE_METADATA
            | FEAT_DATA_SIEVE
            | FEAT_AGGREGATE_SMALLDATA;
        if version() >= (1, 14) {
            v |= FEAT_DEFAULT_VFD_COMPATIBLE;
        }
        // SAFETY: libhdf5 passes a valid out pointer.
        unsafe { *flags = v };
    }
    0
}

unsafe extern "C" fn cb_get_eoa(f: *const c_void, _t: c_int) -> haddr_t {
    // SAFETY: an open file of this driver.
    unsafe { jf(f) }.eoa
}

unsafe extern "C" fn cb_set_eoa(f: *mut c_void, _t: c_int, addr: haddr_t) -> herr_t {
    if addr > MAXADDR {
        push(*H5E_OVERFLOW, "address overflow");
        return -1;
    }
    // SAFETY: an open file of this driver.
    unsafe { jf(f) }.eoa = addr;
    0
}

unsafe extern "C" fn cb_get_eof(f: *const c_void, _t: c_int) -> haddr_t {
    // SAFETY: an open file of this driver.
    let jf = unsafe { jf(f) };
    match &jf.overlay {
        Some(o) => jf.eof.min(o.base_eof),
        None => jf.eof,
    }
}

unsafe extern "C" fn cb_get_handle(f: *mut c_void, _fapl: hid_t, h: *mut *mut c_void) -> herr_t {
    if h.is_null() {
        return -1;
    }
    // SAFETY: valid out pointer; the handle is the driver's own file struct, which
    // only `checkpoint` below uses.
    unsafe { *h = f };
    0
}

unsafe extern "C" fn cb_read(
    f: *mut c_void,
    _t: c_int,
    _dxpl: hid_t,
    addr: haddr_t,
    size: usize,
    buf: *mut c_void,
) -> herr_t {
    // SAFETY: an open file of this driver.
    let jf = unsafe { jf(f) };
    if overflow(addr, size as u64) || addr + size as u64 > jf.eoa {
        push(
            *H5E_OVERFLOW,
            &format!("read of {size} bytes at {addr} is past the end of the allocated space"),
        );
        return -1;
    }
    if size == 0 {
        return 0;
    }
    // SAFETY: libhdf5 passes a buffer of `size` writable bytes.
    let out = unsafe { std::slice::from_raw_parts_mut(buf as *mut u8, size) };
    match jf.read_at(addr, out) {
        Ok(()) => 0,
        Err(e) => {
            push(*H5E_READERROR, &format!("file read failed: {e}"));
            -1
        }
    }
}

unsafe extern "C" fn cb_write(
    f: *mut c_void,
    _t: c_int,
    _dxpl: hid_t,
    addr: haddr_t,
    size: usize,
    buf: *const c_void,
) -> herr_t {
    // SAFETY: an open file of this driver.
    let jf = unsafe { jf(f) };
    if overflow(addr, size as u64) || addr + size as u64 > jf.eoa {
        push(
            *H5E_OVERFLOW,
            &format!("write of {size} bytes at {addr} is past the end of the allocated space"),
        );
        return -1;
    }
    if size == 0 {
        return 0;
    }
    // SAFETY: libhdf5 passes `size` readable bytes.
    let data = unsafe { std::slice::from_raw_parts(buf as *const u8, size) };
    match jf.write_at(addr, data) {
        Ok(()) => 0,
        Err((minor, msg)) => {
            push(minor, &msg);
            -1
        }
    }
}

unsafe extern "C" fn cb_truncate(f: *mut c_void, _dxpl: hid_t, _closing: u8) -> herr_t {
    // SAFETY: an open file of this driver.
    let jf = unsafe { jf(f) };
    if jf.eoa == jf.eof {
        return 0;
    }
    if jf.poisoned() {
        // As in `cb_write`: the file stays at its checkpoint length.
        return 0;
    }
    // Held-back writes go first: they came before this cut.
    let r = jf
        .flush_held()
        .and_then(|()| jf.save(jf.eoa, jf.eof, (0, &[])))
        .and_then(|()| {
            fault_point()?;
            let eoa = jf.eoa;
            jf.before_change(|| trace::Op::SetLen(trace::Target::File, eoa))?;
            jf.file.set_len(jf.eoa)
        });
    match r {
        Ok(()) => {
            jf.eof = jf.eoa;
            0
        }
        Err(e) => {
            let p = jf.path();
            jf.mark_failed("extending or truncating", p.as_deref(), &e);
            push(
                *H5E_SEEKERROR,
                &format!("unable to extend or truncate the file: {e}"),
            );
            -1
        }
    }
}

unsafe extern "C" fn cb_lock(f: *mut c_void, rw: u8) -> herr_t {
    // SAFETY: an open file of this driver.
    let jf = unsafe { jf(f) };
    if rw == 0 {
        // Readers take no `flock`: they coordinate with this library's writer through
        // the byte-range locks of `readers`, one call at a time, and the writer keeps
        // its exclusive `flock` (which refuses h5py and other HDF5 programs).
        return 0;
    }
    let r = lock_for_writing(&jf.file);
    match r {
        Ok(()) => {
            jf.locked = FileStamp::of(&jf.file);
            if let Some(c) = &jf.coord {
                let truncated = jf.truncated;
                c.lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .attach(&jf.file, truncated);
            }
            0
        }
        Err(std::fs::TryLockError::WouldBlock) => {
            push(
                *H5E_CANTLOCKFILE,
                "unable to lock file: another process holds it",
            );
            -1
        }
        // File systems without locks: libhdf5's default is to go on without one.
        Err(std::fs::TryLockError::Error(e)) if e.raw_os_error() == Some(38) => 0,
        Err(std::fs::TryLockError::Error(e)) => {
            push(*H5E_CANTLOCKFILE, &format!("unable to lock file: {e}"));
            -1
        }
    }
}

/// The writer's `flock`. A reader recovering the file, or probing it, holds it for a
/// moment: while no writer of this library has the file open, a busy lock is tried
/// again for up to a second; a live writer's refuses at once.
fn lock_for_writing(file: &File) -> std::result::Result<(), std::fs::TryLockError> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(1);
    loop {
        match file.try_lock() {
            Err(std::fs::TryLockError::WouldBlock)
                if !readers::writer_alive(file) && std::time::Instant::now() < deadline =>
            {
                std::thread::sleep(std::time::Duration::from_millis(1));
            }
            r => return r,
        }
    }
}

unsafe extern "C" fn cb_unlock(f: *mut c_void) -> herr_t {
    // SAFETY: an open file of this driver.
    let jf = unsafe { jf(f) };
    match jf.file.unlock() {
        Ok(()) => 0,
        Err(e) if e.raw_os_error() == Some(38) => 0,
        Err(e) => {
            push(*H5E_CANTUNLOCKFILE, &format!("unable to unlock file: {e}"));
            -1
        }
    }
}

// ---------------------------------------------------------------------------------
// The class struct, in the two layouts libhdf5 has used.

type Cb = *const c_void;

/// `H5FD_class_t` of libhdf5 1.10.
#[repr(C)]
struct ClassV110 {
    name: *const c_char,
    maxaddr: haddr_t,
    fc_degree: c_int,
    terminate: Cb,
    sb_size: Cb,
    sb_encode: Cb,
    sb_decode: Cb,
    fapl_size: usize,
    fapl_get: Cb,
    fapl_copy: Cb,
    fapl_free: Cb,
    dxpl_size: usize,
    dxpl_copy: Cb,
    dxpl_free: Cb,
    open: Cb,
    close: Cb,
    cmp: Cb,
    query: Cb,
    get_type_map: Cb,
    alloc: Cb,
    free: Cb,
    get_eoa: Cb,
    set_eoa: Cb,
    get_eof: Cb,
    get_handle: Cb,
    read: Cb,
    write: Cb,
    flush: Cb,
    truncate: Cb,
    lock: Cb,
    unlock: Cb,
    fl_map: [c_int; 7],
}

/// `H5FD_class_t` of libhdf5 1.14 and 2.x (struct version 1).
#[repr(C)]
struct ClassV114 {
    version: c_uint,
    value: c_int,
    name: *const c_char,
    maxaddr: haddr_t,
    fc_degree: c_int,
    terminate: Cb,
    sb_size: Cb,
    sb_encode: Cb,
    sb_decode: Cb,
    fapl_size: usize,
    fapl_get: Cb,
    fapl_copy: Cb,
    fapl_free: Cb,
    dxpl_size: usize,
    dxpl_copy: Cb,
    dxpl_free: Cb,
    open: Cb,
    close: Cb,
    cmp: Cb,
    query: Cb,
    get_type_map: Cb,
    alloc: Cb,
    free: Cb,
    get_eoa: Cb,
    set_eoa: Cb,
    get_eof: Cb,
    get_handle: Cb,
    read: Cb,
    write: Cb,
    read_vector: Cb,
    write_vector: Cb,
    read_selection: Cb,
    write_selection: Cb,
    flush: Cb,
    truncate: Cb,
    lock: Cb,
    unlock: Cb,
    del: Cb,
    ctl: Cb,
    fl_map: [c_int; 7],
}

const FL_MAP: [c_int; 7] = [
    MEM_SUPER, MEM_SUPER, MEM_SUPER, MEM_DRAW, MEM_DRAW, MEM_SUPER, MEM_SUPER,
];

/// libhdf5's (major, minor) version, as linked.
fn version() -> (u32, u32) {
    static V: OnceLock<(u32, u32)> = OnceLock::new();
    *V.get_or_init(|| {
        let (mut a, mut b, mut c) = (0, 0, 0);
        // SAFETY: three valid out pointers.
        unsafe { H5get_libversion(&mut a, &mut b, &mut c) };
        (a, b)
    })
}

/// A leaked class struct of type `$ty` (one of the layouts above) for this driver:
/// the fields both layouts share are set here, `$extra` sets the others, and every
/// callback not named stays null (libhdf5's default behaviour, as sec2 has it).
macro_rules! class {
    ($ty:ident { $($extra:ident: $v:expr),* }) => {{
        // SAFETY: the class struct is plain data (integers, raw pointers); all zero
        // is a valid value, meaning "no callback" for every pointer.
        let mut c: $ty = unsafe { std::mem::zeroed() };
        c.name = NAME.as_ptr();
        c.maxaddr = MAXADDR;
        c.fc_degree = CLOSE_WEAK;
        c.open = cb_open as Cb;
        c.close = cb_close as Cb;
        c.cmp = cb_cmp as Cb;
        c.query = cb_query as Cb;
        c.get_eoa = cb_get_eoa as Cb;
        c.set_eoa = cb_set_eoa as Cb;
        c.get_eof = cb_get_eof as Cb;
        c.get_handle = cb_get_handle as Cb;
        c.read = cb_read as Cb;
        c.write = cb_write as Cb;
        c.truncate = cb_truncate as Cb;
        c.lock = cb_lock as Cb;
        c.unlock = cb_unlock as Cb;
        c.fl_map = FL_MAP;
        // Driver info: one `DurabilityInfo`, which libhdf5 copies and frees itself.
        c.fapl_size = std::mem::size_of::<DurabilityInfo>();
        $(c.$extra = $v;)*
        Box::leak(Box::new(c)) as *const $ty as *const H5FD_class_t
    }};
}

/// Registers the driver once; its id.
fn driver() -> Result<hid_t> {
    static ID: OnceLock<std::result::Result<hid_t, String>> = OnceLock::new();
    let r = ID.get_or_init(|| {
        locked(|| {
            let v = version();
            let cls: *const H5FD_class_t = if v >= (1, 14) {
                class!(ClassV114 {
                    version: 1,
                    value: DRIVER_VALUE
                })
            } else if v.0 == 1 && v.1 <= 10 {
                class!(ClassV110 {})
            } else {
                return Err(format!(
                    "libhdf5 {}.{} is not supported (1.10, 1.14 and 2.x are)",
                    v.0, v.1
                ));
            };
            // SAFETY: `cls` points to a leaked (so 'static) class struct in the
            // layout of the linked libhdf5's H5FD_class_t; libhdf5 copies it.
            let id = unsafe { H5FDregister(cls) };
            if id < 0 {
                return Err(h5err("registering the journal file driver").message);
            }
            Ok(id)
        })
    });
    r.clone().map_err(|m| Error::new(ErrorKind::Hdf5Error, m))
}

/// The driver info of a file access property list of this driver (plain data, so
/// libhdf5 copies it byte for byte).
#[repr(C)]
struct DurabilityInfo {
    /// Non-zero: `fsync` durability ([`Durable`]).
    fsync: u32,
}

/// A file access property list that opens files with this driver; with `fsync`, a
/// writable file gets power-loss durability ([`Durable`]).
pub(crate) fn fapl(fsync: bool) -> Result<Hid> {
    let id = driver()?;
    let info = DurabilityInfo {
        fsync: u32::from(fsync),
    };
    locked(|| {
        // SAFETY: creating a property list of a library class.
        let fapl = unsafe { H5Pcreate(*H5P_CLS_FILE_ACCESS) };
        if fapl < 0 {
            return Err(h5err("creating a file access property list"));
        }
        let fapl = Hid(fapl);
        // SAFETY: valid plist and driver ids; the driver info is a `DurabilityInfo`,
        // which libhdf5 copies (`fapl_size` bytes) before this returns.
        if unsafe {
            H5Pset_driver(
                fapl.id(),
                id,
                &info as *const DurabilityInfo as *const c_void,
            )
        } < 0
        {
            return Err(h5err("selecting the journal file driver"));
        }
        // SAFETY: valid file access plist.
        if unsafe { hdf5_sys::h5p::H5Pset_evict_on_close(fapl.id(), 1) } < 0 {
            return Err(h5err("setting evict-on-close"));
        }
        Ok(fapl)
    })
}

/// Runs `f` on the driver's file struct of `file`; `None` for another driver's file.
/// Writes to a file of this driver made from another thread while libhdf5 goes on,
/// each saved first in its slot of a block of the journal that
/// [`reserve_moves`] laid out (the history rewrites' slot moves). It owns its own
/// descriptors of the file and the journal, and touches nothing of the driver's state:
/// the slots and the saved ranges were taken when the block was laid out. Writes of
/// one block must not overlap what libhdf5 reads or writes until the caller joins it.
pub(crate) struct MoveBlock {
    journal: File,
    data: File,
    jpath: PathBuf,
    /// Journal offset of the block's first record.
    first: u64,
    /// Length of each record, head included.
    stride: usize,
}

/// A failed [`MoveBlock`] write: what failed, on which file, and the OS error.
#[derive(Debug)]
pub(crate) struct MoveFault {
    what: &'static str,
    on_journal: bool,
    error: std::io::Error,
}

impl MoveBlock {
    /// Bytes of one write: the length `reserve_moves` was given.
    pub(crate) fn slot(&self) -> usize {
        self.stride - RECORD_HEAD
    }

    /// Reads `buf.len()` bytes of the file at `at` (zeros past its end).
    pub(crate) fn read(&self, at: u64, buf: &mut [u8]) -> std::result::Result<(), MoveFault> {
        read_full(&self.data, buf, at).map_err(MoveFault::on("reading", false))
    }

    /// Write `i` of the block: the file's bytes at `dst` go to record `i`, then `new`
    /// (of [`slot`](Self::slot) bytes) is written there. `rec` is a buffer of the
    /// record's length, kept across calls.
    pub(crate) fn write(
        &self,
        i: usize,
        dst: u64,
        new: &[u8],
        rec: &mut Vec<u8>,
    ) -> std::result::Result<(), MoveFault> {
        let slot = self.slot();
        debug_assert_eq!(new.len(), slot);
        rec.resize(self.stride, 0);
        rec[..8].copy_from_slice(&dst.to_le_bytes());
        rec[8..16].copy_from_slice(&(slot as u64).to_le_bytes());
        self.read(dst, &mut rec[RECORD_HEAD..])?;
        let sum = check(&[&rec[..16], &rec[RECORD_HEAD..]]);
        rec[16..24].copy_from_slice(&sum.to_le_bytes());
        let at = self.first + (i * self.stride) as u64;
        let journal = MoveFault::on("appending to the journal", true);
        fault_point().map_err(journal)?;
        trace::push_for(&self.jpath, || {
            trace::Op::Write(trace::Target::Journal, at, rec.clone())
        });
        self.journal.write_all_at(rec, at).map_err(journal)?;
        let file = MoveFault::on("writing", false);
        fault_point().map_err(file)?;
        trace::push_for(&self.jpath, || {
            trace::Op::Write(trace::Target::File, dst, new.to_vec())
        });
        self.data.write_all_at(new, dst).map_err(file)
    }
}

impl MoveFault {
    /// Makes the fault of an OS error while doing `what` (on the journal or the file).
    fn on(what: &'static str, on_journal: bool) -> impl Fn(std::io::Error) -> MoveFault + Copy {
        move |error| MoveFault {
            what,
            on_journal,
            error,
        }
    }
}

/// Lays out a [`MoveBlock`] in `file`'s open transaction for writes of `slot` bytes at
/// each of `dests` (file offsets; see [`JFile::reserve_moves`] for when it is `None`
/// and the caller makes the writes through libhdf5 instead).
pub(crate) fn reserve_moves(file: &Hid, dests: &[u64], slot: usize) -> Result<Option<MoveBlock>> {
    match with_jfile(file, |jf| {
        jf.reserve_moves(dests, slot)
            .inspect_err(|e| jf.mark_failed("appending to the journal", None, e))
    })? {
        Some(Ok(b)) => Ok(b),
        Some(Err(e)) => Err(Error::new(
            ErrorKind::IoError,
            format!("laying out the journal's records of the slot moves failed: {e}"),
        )),
        None => Ok(None),
    }
}

/// Reads `out.len()` bytes at file offset `addr` of `file` as libhdf5 would read
/// them through this driver. `Ok(false)`: another driver's file, nothing read.
pub(crate) fn read_through(file: &Hid, addr: u64, out: &mut [u8]) -> Result<bool> {
    match with_jfile(file, |jf| {
        if overflow(addr, out.len() as u64) || addr + out.len() as u64 > jf.eoa {
            return Err(std::io::Error::other(format!(
                "{} bytes at {addr} are past the end of the allocated space",
                out.len()
            )));
        }
        jf.read_at(addr, out)
    })? {
        Some(Ok(())) => Ok(true),
        Some(Err(e)) => Err(Error::new(
            ErrorKind::IoError,
            format!("reading the file failed: {e}"),
        )),
        None => Ok(false),
    }
}

/// Writes `data` at file offset `addr` of `file` as a write of libhdf5's through this
/// driver: inside the open transaction, its old bytes saved to the journal first. For
/// bytes libhdf5 has written and holds no copy of (an evicted object header). `Ok(false)`:
/// another driver's file, nothing written.
pub(crate) fn write_through(file: &Hid, addr: u64, data: &[u8]) -> Result<bool> {
    match with_jfile(file, |jf| {
        if overflow(addr, data.len() as u64) || addr + data.len() as u64 > jf.eoa {
            return Err(format!(
                "{} bytes at {addr} are past the end of the allocated space",
                data.len()
            ));
        }
        jf.write_at(addr, data).map_err(|(_, m)| m)
    })? {
        Some(Ok(())) => Ok(true),
        Some(Err(m)) => Err(Error::new(ErrorKind::IoError, m)),
        None => Ok(false),
    }
}

/// Records a [`MoveBlock`]'s failure as `file`'s transaction fault (what
/// [`fault`] reports and every later write of the transaction is dropped for).
pub(crate) fn note_move_fault(file: &Hid, f: &MoveFault) {
    let _ = with_jfile(file, |jf| {
        let path = if f.on_journal { None } else { jf.path() };
        jf.mark_failed(f.what, path.as_deref(), &f.error);
    });
}

fn with_jfile<T>(file: &Hid, f: impl FnOnce(&mut JFile) -> T) -> Result<Option<T>> {
    locked(|| {
        let mut h: *mut c_void = std::ptr::null_mut();
        // SAFETY: valid file id and out pointer.
        if unsafe { H5Fget_vfd_handle(file.id(), hdf5_sys::h5p::H5P_DEFAULT, &mut h) } < 0 {
            return Err(h5err("finding the file's journal"));
        }
        if h.is_null() || !open_files().contains(&(h as usize)) {
            return Ok(None);
        }
        // SAFETY: for this driver the handle is its file struct (`cb_get_handle`),
        // open (it is in `open_files` until `cb_close`), alive while the file is.
        Ok(Some(f(unsafe { jf(h) })))
    })
}

/// A duplicate descriptor of the file the driver has open for `file`, for positioned
/// reads of stored chunks outside libhdf5 (file offsets as libhdf5's chunk index gives
/// them). `None` for another driver's file, one whose HDF5 addresses do not start at
/// byte 0 (a user block), where those offsets would not be file offsets, or a reader's
/// file read through a dead writer's journal ([`Overlay`]).
pub(crate) fn data_reader(file: &Hid) -> Result<Option<File>> {
    reader_if(file, |_| true)
}

/// [`data_reader`], for reading committed versions' metadata (object headers, the
/// global heap) outside libhdf5 (`h5::layout`): also `None` while a history rewrite
/// is under way ([`note_rewrite`] until the next checkpoint), when what the file holds
/// at an object's address may not yet be what libhdf5 holds there. Otherwise every
/// committed version's metadata is in the file as libhdf5 knows it: a commit flushes
/// it, and only history rewrites change it.
pub(crate) fn metadata_reader(file: &Hid) -> Result<Option<File>> {
    reader_if(file, |j| !j.rewriting)
}

fn reader_if(file: &Hid, ok: impl FnOnce(&JFile) -> bool) -> Result<Option<File>> {
    match with_jfile(file, |j| {
        // A reader that sees the file through a dead writer's journal must not read
        // around it.
        (j.public.base_addr == 0 && j.overlay.is_none() && ok(j))
            .then(|| (j.file.try_clone(), j.path()))
    })? {
        Some(Some((Ok(f), _))) => Ok(Some(f)),
        Some(Some((Err(e), path))) => Err(io_error(
            "duplicating the descriptor of",
            &path.unwrap_or_default(),
            e,
        )),
        _ => Ok(None),
    }
}

/// The last I/O error the driver saw in any file, for errors of an open, when there is
/// no file handle yet to ask ([`fault`]).
fn last_fault() -> std::sync::MutexGuard<'static, Option<IoFault>> {
    static LAST: OnceLock<std::sync::Mutex<Option<IoFault>>> = OnceLock::new();
    LAST.get_or_init(Default::default)
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Takes (and clears) the last I/O error the driver saw (see [`last_fault`]).
pub(crate) fn take_last_fault() -> Option<IoFault> {
    last_fault().take()
}

/// The first I/O error the driver saw in `file`'s open transaction, if any: the
/// engine turns a failed operation into `NO_SPACE` / `IO_ERROR` with it.
pub(crate) fn fault(file: &Hid) -> Option<IoFault> {
    with_jfile(file, |jf| jf.journal.as_ref().and_then(|j| j.fault.clone()))
        .ok()
        .flatten()
        .flatten()
}

/// Undoes `file`'s open transaction in place after a failed write (see
/// [`JFile::roll_back`]); the file must then be closed and opened again. An error
/// means the journal stays, and the next open rolls back.
pub(crate) fn roll_back(file: &Hid) -> Result<()> {
    match with_jfile(file, |jf| jf.roll_back())? {
        Some(Err(e)) => Err(Error::new(
            ErrorKind::IoError,
            format!("rolling back the failed transaction failed: {e}; the journal is kept and the next open rolls it back"),
        )),
        _ => Ok(()),
    }
}

/// Before a commit's writes: takes the write phase's locks, waiting (bounded) for
/// readers inside a call to finish. Called outside libhdf5's lock, so that a reader in
/// this process, which needs that lock to finish its call, is not kept from it; the
/// first write of a transaction takes them otherwise. The next checkpoint lets them go.
pub(crate) fn hold_writes(file: &Hid) -> Result<()> {
    let coord = with_jfile(file, |jf| jf.coord.clone())?.flatten();
    if let Some(c) = coord {
        c.lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .hold();
    }
    Ok(())
}

/// After a commit that failed before it wrote anything: lets the locks
/// [`hold_writes`] took go (a write phase already begun ends at the next checkpoint).
pub(crate) fn release_writes(file: &Hid) {
    if let Ok(Some(Some(c))) = with_jfile(file, |jf| jf.coord.clone()) {
        let mut c = c.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if !c.phase {
            c.end(false);
        }
    }
}

/// At the end of a writable open: libhdf5 marked the superblock (its open-for-writing
/// flag) and the file is whole, so readers may read again, although the journal's
/// transaction goes on (the mark is undone with the next commit, if that fails).
pub(crate) fn end_writes(file: &Hid) -> Result<()> {
    if let Some(Some(c)) = with_jfile(file, |jf| jf.coord.clone())? {
        c.lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .end_as(false, true);
    }
    Ok(())
}

/// Says what the next checkpoint of `file` commits (readers take the version in from
/// the commits file without reading the file).
pub(crate) fn note_commit(file: &Hid, note: CommitNote) -> Result<()> {
    with_jfile(file, |jf| {
        if let Some(c) = &jf.coord {
            c.lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .note = Some(note);
        }
    })?;
    Ok(())
}

/// Says that the next checkpoint of `file` changes committed versions (a history
/// rewrite): readers that see it start from the file again (a new generation).
pub(crate) fn note_rewrite(file: &Hid) -> Result<()> {
    with_jfile(file, |jf| {
        jf.rewriting = true;
        if let Some(c) = &jf.coord {
            c.lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .rewrite = true;
        }
    })?;
    Ok(())
}

/// Starts a new generation of the commits file now, outside any transaction: for a
/// file about to be replaced (compaction renames a copy over it) and again for the
/// file that replaced it, so that readers reopen it by its path and drop what they
/// knew of the old one.
pub(crate) fn new_generation(file: &Hid) -> Result<()> {
    with_jfile(file, |jf| {
        if let Some(c) = &jf.coord {
            c.lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .close_phase(true);
        }
    })?;
    Ok(())
}

/// Ends the open transaction of `file` (after a successful flush): empties its
/// journal, so the file as it is now is what a crash rolls back to.
pub(crate) fn checkpoint(file: &Hid) -> Result<()> {
    locked(|| {
        let mut h: *mut c_void = std::ptr::null_mut();
        // SAFETY: valid file id and out pointer.
        if unsafe { H5Fget_vfd_handle(file.id(), hdf5_sys::h5p::H5P_DEFAULT, &mut h) } < 0 {
            return Err(h5err("finding the file's journal"));
        }
        // Another driver's handle (a file opened without the journal) is none of ours.
        if h.is_null() || !open_files().contains(&(h as usize)) {
            return Ok(());
        }
        // SAFETY: for this driver the handle is its file struct (`cb_get_handle`),
        // open (it is in `open_files` until `cb_close`), alive while the file is.
        let jf = unsafe { jf(h) };
        // A write failed in this transaction (and libhdf5 went on): the file is not
        // whole, so this is no commit point; the journal stays for the roll-back.
        if let Some(f) = jf.journal.as_ref().and_then(|j| j.fault.as_ref()) {
            return Err(f.to_error("ending the transaction"));
        }
        jf.checkpoint().map(|()| jf.rewriting = false).map_err(|e| {
            jf.mark_failed("emptying the journal", None, &e);
            match jf.journal.as_ref().and_then(|j| j.fault.as_ref()) {
                Some(f) => f.to_error("ending the transaction"),
                None => Error::new(
                    ErrorKind::IoError,
                    format!("emptying the journal failed: {e}"),
                ),
            }
        })
    })
}

/// A trace of what the driver does to one file and its journal (writes, cuts, fsyncs,
/// the journal's creation and removal), for the power-loss crash-state tests: they
/// replay subsets of it. Test builds only (`test-hooks`); without the feature every
/// call is empty and compiles away.
#[cfg_attr(
    not(feature = "test-hooks"),
    allow(
        dead_code,
        unreachable_pub,
        reason = "only test builds read the trace; the published build traces nothing"
    )
)]
pub mod trace {
    use std::path::Path;
    #[cfg(feature = "test-hooks")]
    use std::path::PathBuf;

    /// Which file an operation is on.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub enum Target {
        /// The HDF5 file.
        File,
        /// Its journal.
        Journal,
    }

    /// One operation on the file or its journal, in the order the driver issued it.
    #[derive(Clone, Debug, PartialEq, Eq)]
    pub enum Op {
        /// `bytes` written at an offset.
        Write(Target, u64, Vec<u8>),
        /// The length set (a cut or an extension).
        SetLen(Target, u64),
        /// An fsync (`fdatasync`) of the target.
        Sync(Target),
        /// The journal created (a new directory entry).
        CreateJournal,
        /// The journal removed.
        RemoveJournal,
        /// An fsync of the directory.
        SyncDir,
        /// A mark the test puts in ([`mark`]): an operation returned here.
        Mark,
    }

    /// The traced file's journal path, and the operations so far.
    #[cfg(feature = "test-hooks")]
    type Traced = Option<(PathBuf, Vec<Op>)>;

    #[cfg(feature = "test-hooks")]
    fn state() -> std::sync::MutexGuard<'static, Traced> {
        static S: std::sync::OnceLock<std::sync::Mutex<Traced>> = std::sync::OnceLock::new();
        S.get_or_init(Default::default)
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Starts tracing the operations on the file at `path` (and its journal).
    #[cfg(feature = "test-hooks")]
    pub fn start(path: &Path) {
        *state() = Some((super::journal_path(path), Vec::new()));
    }

    /// Stops tracing; the operations since [`start`].
    #[cfg(feature = "test-hooks")]
    pub fn stop() -> Vec<Op> {
        state().take().map(|(_, ops)| ops).unwrap_or_default()
    }

    /// Runs the recovery every open runs first (the roll-back of an interrupted
    /// transaction), without opening the file: a state that recovery does not bring
    /// back to a committed one is a damaged HDF5 file, which libhdf5 need not open.
    #[cfg(feature = "test-hooks")]
    pub fn recover(path: &Path) -> crate::Result<bool> {
        super::recover(path)
    }

    /// Puts a [`Op::Mark`] in the trace (the test's "a commit returned here").
    #[cfg(feature = "test-hooks")]
    pub fn mark() {
        if let Some((_, ops)) = state().as_mut() {
            ops.push(Op::Mark);
        }
    }

    /// Traces `op()` on the file whose journal is `journal`, if that one is traced.
    #[cfg(feature = "test-hooks")]
    pub(crate) fn push_for(journal: &Path, op: impl FnOnce() -> Op) {
        if let Some((p, ops)) = state().as_mut() {
            if p == journal {
                ops.push(op());
            }
        }
    }

    /// Without the `test-hooks` feature nothing is traced (`op` is never called).
    #[cfg(not(feature = "test-hooks"))]
    #[inline(always)]
    pub(crate) fn push_for(_journal: &Path, _op: impl FnOnce() -> Op) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn differences_match_a_byte_by_byte_scan() {
        let naive_first = |a: &[u8], b: &[u8]| a.iter().zip(b).position(|(x, y)| x != y);
        let naive_last = |a: &[u8], b: &[u8]| a.iter().zip(b).rposition(|(x, y)| x != y);
        let mut seed = 7u64;
        let mut next = move || {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (seed >> 33) as usize
        };
        for len in [0, 1, 255, 256, 257, 1000, 4096] {
            let a: Vec<u8> = (0..len).map(|i| (i * 31 % 251) as u8).collect();
            for _ in 0..50 {
                let mut b = a.clone();
                for _ in 0..next() % 4 {
                    if len > 0 {
                        let i = next() % len;
                        b[i] = b[i].wrapping_add(1 + (next() % 255) as u8);
                    }
                }
                assert_eq!(first_difference(&a, &b), naive_first(&a, &b), "len {len}");
                assert_eq!(last_difference(&a, &b), naive_last(&a, &b), "len {len}");
            }
        }
    }

    #[test]
    fn saved_ranges() {
        let mut s = Saved::default();
        assert_eq!(s.gaps(0, 10), vec![(0, 10)]);
        s.insert(2, 4);
        s.insert(6, 8);
        assert_eq!(s.gaps(0, 10), vec![(0, 2), (4, 6), (8, 10)]);
        assert_eq!(s.gaps(3, 7), vec![(4, 6)]);
        assert_eq!(s.gaps(2, 4), vec![]);
        s.insert(4, 6);
        assert_eq!(s.gaps(0, 10), vec![(0, 2), (8, 10)]);
        assert_eq!(s.0.len(), 1);
        s.insert(0, 20);
        assert_eq!(s.gaps(0, 30), vec![(20, 30)]);
        assert_eq!(s.0.len(), 1);
    }

    #[test]
    fn torn_records_are_ignored() {
        let mut j = header(100).to_vec();
        let data = [7u8; 5];
        let mut rec = Vec::new();
        rec.extend_from_slice(&10u64.to_le_bytes());
        rec.extend_from_slice(&5u64.to_le_bytes());
        let sum = check(&[&rec[..16], &data]);
        rec.extend_from_slice(&sum.to_le_bytes());
        rec.extend_from_slice(&data);
        j.extend_from_slice(&rec);
        j.extend_from_slice(&rec[..27]);
        let p = parse(&j).expect("header");
        assert_eq!(p.base_eof, 100);
        assert_eq!(p.records, vec![(10, data.to_vec())]);
        j[3] ^= 1;
        assert!(parse(&j).is_none());
    }

    /// A record of `data` saved from `off`, as `save` writes it.
    fn record(off: u64, data: &[u8]) -> Vec<u8> {
        let mut r = off.to_le_bytes().to_vec();
        r.extend((data.len() as u64).to_le_bytes());
        r.extend([0; 8]);
        r.extend(data);
        let sum = check(&[&r[..16], &r[RECORD_HEAD..]]);
        r[16..24].copy_from_slice(&sum.to_le_bytes());
        r
    }

    #[test]
    fn blocks_keep_their_whole_records_and_skip_the_rest() {
        let mut j = header(1000).to_vec();
        j.extend(record(5, b"ab"));
        let block_at = j.len();
        // Three slots of 4 bytes: one written, one never (zeros), one torn.
        let stride = RECORD_HEAD + 4;
        let len = 8 + 3 * stride as u64;
        let mut head = BLOCK.to_le_bytes().to_vec();
        head.extend(len.to_le_bytes());
        head.extend([0; 8]);
        head.extend((stride as u64).to_le_bytes());
        let sum = check(&[&head[..16], &head[RECORD_HEAD..]]);
        head[16..24].copy_from_slice(&sum.to_le_bytes());
        j.extend(&head);
        j.extend(record(100, b"wxyz"));
        j.extend(vec![0; stride]);
        let mut torn = record(300, b"1234");
        torn[RECORD_HEAD + 2] ^= 1;
        j.extend(torn);
        j.extend(record(7, b"c"));
        let p = parse(&j).unwrap();
        assert_eq!(
            p.records,
            vec![
                (5, b"ab".to_vec()),
                (100, b"wxyz".to_vec()),
                (7, b"c".to_vec())
            ]
        );
        // The journal ends inside the block (nothing was written after it).
        let cut = block_at + head.len() + stride + 3;
        let p = parse(&j[..cut]).unwrap();
        assert_eq!(
            p.records,
            vec![(5, b"ab".to_vec()), (100, b"wxyz".to_vec())]
        );
        // A torn block head: nothing from it on counts.
        let mut bad = j.clone();
        bad[block_at + 8] ^= 1;
        assert_eq!(parse(&bad).unwrap().records, vec![(5, b"ab".to_vec())]);
        // A stride that does not divide the block is a torn head too.
        let mut odd = j.clone();
        odd[block_at + RECORD_HEAD] ^= 1;
        assert_eq!(parse(&odd).unwrap().records, vec![(5, b"ab".to_vec())]);
    }
}
