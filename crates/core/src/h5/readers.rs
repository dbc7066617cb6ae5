//! Many readers, one writer: the lock protocol between processes and the commit
//! counter readers check (docs/design/008-readers-and-writers.md).
//!
//! Locks are Linux open-file-description (OFD) byte-range locks on the data file
//! itself, on three bytes far past any data (they lock nothing of the file's contents,
//! and do not interact with the `flock` that libhdf5 and h5py use):
//! - `WRITER`: held exclusively by the writer for as long as it has the file open
//!   (beside its `flock`). Readers test it without taking it (`F_OFD_GETLK`): a journal
//!   is a live writer's while it is held, a dead writer's otherwise.
//! - `PENDING` and `READ`, SQLite's rollback-journal scheme: a reader takes `PENDING`
//!   shared, then `READ` shared, then lets `PENDING` go, and holds `READ` for one call
//!   (an open, a refresh, a read). The writer takes `PENDING` then `READ` exclusively
//!   for its write phase, from before its first write of a transaction to the
//!   checkpoint that ends it. Holding `PENDING` keeps new readers out while it waits
//!   for the ones inside to finish, so a stream of readers cannot starve it.
//!
//! The writer waits for readers at most [`WRITER_WAIT`]; past that (a reader stopped
//! or stuck inside a call) it writes anyway, and waits only [`BROKEN_WAIT`] at later
//! commits until it once gets the lock in time. A reader notices: the writer bumps
//! `begin` in the commits file before its first write, and a reader compares `begin`
//! at the end of each call with its value at the start, and reads again.
//!
//! The commits file, `<file>.vh5-commits`, next to the file, created by the first
//! writer and kept: a header (magic, `gen`, `begin`, `end`, a check) and a ring of the
//! last [`SLOTS`] checkpoints, each with what it did (committed a named version, or
//! something else). `begin` counts write phases started, `end` the ones finished; the
//! writer sets `end = begin` at each checkpoint (its commit point). `gen` changes when
//! committed versions change other than by new commits (history rewrites). A reader
//! whose state is at `end = e` learns the names of commits `e+1 ..= end` from the ring,
//! without listing the file's versions.

use std::fs::{File, OpenOptions};
use std::io::ErrorKind as IoKind;
use std::os::fd::AsRawFd;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::error::{Error, ErrorKind, Result};

/// Suffix of the commits file next to a file.
pub(crate) const COMMITS_SUFFIX: &str = ".vh5-commits";

/// Offset of the first lock byte: far past any file's data (locks past the end of a
/// file are allowed and lock no data).
const LOCK_BASE: i64 = 1 << 62;
const WRITER_BYTE: i64 = LOCK_BASE;
const PENDING_BYTE: i64 = LOCK_BASE + 1;
const READ_BYTE: i64 = LOCK_BASE + 2;

/// How long the writer waits for readers to finish their call before it writes
/// anyway (a reader stopped inside a call must not stall ingestion).
pub(crate) const WRITER_WAIT: Duration = Duration::from_millis(500);
/// How long it waits at later commits, once a wait ran out, until it again gets the
/// lock in time.
pub(crate) const BROKEN_WAIT: Duration = Duration::from_millis(5);
/// How long a reader waits for a writer's write phase to end before giving up.
pub(crate) const READER_WAIT: Duration = Duration::from_secs(30);

const MAGIC: &[u8; 8] = b"VH5CMIT1";
const HEADER_LEN: usize = 40;
/// Checkpoints the ring remembers.
pub(crate) const SLOTS: u64 = 64;
const SLOT_LEN: usize = 512;
/// end (8), kind (4), flags (4), timestamp (8), name and parent lengths (2 + 2),
/// reserved (4), check (8); then the name and the parent's name.
const SLOT_HEAD: usize = 40;
const RING_AT: u64 = 4096;
const FILE_LEN: u64 = RING_AT + SLOTS * SLOT_LEN as u64;
const KIND_COMMIT: u32 = 1;
const KIND_OTHER: u32 = 2;
const KIND_NOTHING: u32 = 3;

/// The commits file's header: what a reader compares.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub(crate) struct Stamp {
    /// Bumped when committed versions change other than by new commits.
    pub(crate) gen: u64,
    /// Write phases started.
    pub(crate) begin: u64,
    /// Write phases finished (checkpoints).
    pub(crate) end: u64,
}

impl Stamp {
    /// A write phase was started and not finished: a writer is writing (having broken
    /// a stuck reader's lock) or died while it wrote.
    pub(crate) fn writing(&self) -> bool {
        self.begin != self.end
    }
}

/// What one checkpoint did, as the ring remembers it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Change {
    /// It committed a version.
    Commit(CommitNote),
    /// Nothing readers see: libhdf5's own marks (a writer's open sets the superblock's
    /// open-for-writing flag).
    Nothing,
    /// Something else, or it is no longer in the ring: read everything again.
    Unknown,
}

/// What the ring says of a commit: enough for a reader to list the version without
/// reading the file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct CommitNote {
    /// The version's name.
    pub(crate) name: String,
    /// Its parent (`__first_version__` for a root version).
    pub(crate) prev: String,
    /// Its commit time, microseconds since the epoch.
    pub(crate) timestamp: Option<i64>,
    /// Whether it became the current version.
    pub(crate) current: bool,
}

fn check(b: &[u8]) -> u64 {
    let h = blake3::hash(b);
    let mut w = [0u8; 8];
    w.copy_from_slice(&h.as_bytes()[..8]);
    u64::from_le_bytes(w)
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    let mut w = [0u8; 8];
    w.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(w)
}

/// The path of `path`'s commits file.
pub(crate) fn commits_path(path: &Path) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(COMMITS_SUFFIX);
    PathBuf::from(s)
}

/// An open commits file.
#[derive(Debug)]
pub(crate) struct Commits {
    file: File,
}

impl Commits {
    /// Opens it for reading; `None` when there is none (no writer of this library has
    /// had the file open) or it cannot be opened.
    pub(crate) fn open_read(path: &Path) -> Option<Commits> {
        File::open(commits_path(path))
            .ok()
            .map(|file| Commits { file })
    }

    /// Opens it for writing, creating it when missing; `None` when it cannot be (a
    /// directory without write access: then no reader learns of commits, and the
    /// writer's journal cannot be created either).
    pub(crate) fn open_write(path: &Path) -> Option<Commits> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o644)
            .open(commits_path(path))
            .ok()?;
        let c = Commits { file };
        let len = c.file.metadata().ok()?.len();
        if len < FILE_LEN {
            // Zeros written, not a hole: later writes into it need no new blocks (a
            // full disk cannot fail them).
            let zeros = vec![0u8; (FILE_LEN - len) as usize];
            c.file.write_all_at(&zeros, len).ok()?;
        }
        if c.stamp().ok().flatten().is_none() {
            // New (or not ours): a first header.
            c.write_stamp(Stamp {
                gen: 1,
                begin: 0,
                end: 0,
            })
            .ok()?;
        }
        Some(c)
    }

    /// The header; `None` when it is not one (a new or foreign file).
    pub(crate) fn stamp(&self) -> std::io::Result<Option<Stamp>> {
        let mut b = [0u8; HEADER_LEN];
        // A read that races the writer's `pwrite` of the header could see part of it:
        // the check tells, and the read is repeated.
        for _ in 0..100 {
            let n = self.file.read_at(&mut b, 0)?;
            if n < HEADER_LEN || &b[..8] != MAGIC {
                return Ok(None);
            }
            if check(&b[..32]) == u64_at(&b, 32) {
                return Ok(Some(Stamp {
                    gen: u64_at(&b, 8),
                    begin: u64_at(&b, 16),
                    end: u64_at(&b, 24),
                }));
            }
            std::thread::yield_now();
        }
        Ok(None)
    }

    pub(crate) fn write_stamp(&self, s: Stamp) -> std::io::Result<()> {
        let mut b = [0u8; HEADER_LEN];
        b[..8].copy_from_slice(MAGIC);
        b[8..16].copy_from_slice(&s.gen.to_le_bytes());
        b[16..24].copy_from_slice(&s.begin.to_le_bytes());
        b[24..32].copy_from_slice(&s.end.to_le_bytes());
        let c = check(&b[..32]);
        b[32..].copy_from_slice(&c.to_le_bytes());
        self.file.write_all_at(&b, 0)
    }

    /// Remembers what checkpoint `end` did (before the header says it happened).
    pub(crate) fn record(&self, end: u64, change: &Change) -> std::io::Result<()> {
        let mut b = [0u8; SLOT_LEN];
        b[..8].copy_from_slice(&end.to_le_bytes());
        let (kind, c) = match change {
            Change::Commit(c) if c.name.len() + c.prev.len() <= SLOT_LEN - SLOT_HEAD => {
                (KIND_COMMIT, Some(c))
            }
            Change::Nothing => (KIND_NOTHING, None),
            _ => (KIND_OTHER, None),
        };
        b[8..12].copy_from_slice(&kind.to_le_bytes());
        if let Some(c) = c {
            let flags = u32::from(c.current) | (u32::from(c.timestamp.is_some()) << 1);
            b[12..16].copy_from_slice(&flags.to_le_bytes());
            b[16..24].copy_from_slice(&c.timestamp.unwrap_or(0).to_le_bytes());
            b[24..26].copy_from_slice(&(c.name.len() as u16).to_le_bytes());
            b[26..28].copy_from_slice(&(c.prev.len() as u16).to_le_bytes());
            let at = SLOT_HEAD + c.name.len();
            b[SLOT_HEAD..at].copy_from_slice(c.name.as_bytes());
            b[at..at + c.prev.len()].copy_from_slice(c.prev.as_bytes());
        }
        let sum = check(&[&b[..SLOT_HEAD - 8], &b[SLOT_HEAD..]].concat());
        b[SLOT_HEAD - 8..SLOT_HEAD].copy_from_slice(&sum.to_le_bytes());
        self.file
            .write_all_at(&b, RING_AT + (end % SLOTS) * SLOT_LEN as u64)
    }

    /// What checkpoint `end` did, if the ring still holds it.
    pub(crate) fn change(&self, end: u64) -> Change {
        let mut b = [0u8; SLOT_LEN];
        let at = RING_AT + (end % SLOTS) * SLOT_LEN as u64;
        match self.file.read_at(&mut b, at) {
            Ok(n) if n == SLOT_LEN => {}
            _ => return Change::Unknown,
        }
        // A slot being rewritten (the ring wrapped) fails the check.
        if u64_at(&b, 0) != end
            || check(&[&b[..SLOT_HEAD - 8], &b[SLOT_HEAD..]].concat()) != u64_at(&b, SLOT_HEAD - 8)
        {
            return Change::Unknown;
        }
        let kind = u32::from_le_bytes([b[8], b[9], b[10], b[11]]);
        if kind == KIND_NOTHING {
            return Change::Nothing;
        }
        let flags = u32::from_le_bytes([b[12], b[13], b[14], b[15]]);
        let n = u16::from_le_bytes([b[24], b[25]]) as usize;
        let m = u16::from_le_bytes([b[26], b[27]]) as usize;
        if kind != KIND_COMMIT || n + m > SLOT_LEN - SLOT_HEAD {
            return Change::Unknown;
        }
        let text = |r: std::ops::Range<usize>| std::str::from_utf8(&b[r]).map(str::to_string);
        match (
            text(SLOT_HEAD..SLOT_HEAD + n),
            text(SLOT_HEAD + n..SLOT_HEAD + n + m),
        ) {
            (Ok(name), Ok(prev)) => Change::Commit(CommitNote {
                name,
                prev,
                timestamp: (flags & 2 != 0).then(|| u64_at(&b, 16) as i64),
                current: flags & 1 != 0,
            }),
            _ => Change::Unknown,
        }
    }
}

// ---------------------------------------------------------------------------------
// OFD byte-range locks.

fn flock_struct(kind: i32, at: i64) -> libc::flock {
    // SAFETY: `flock` is plain data; all zero is a valid value (and l_pid must be 0
    // for OFD locks).
    let mut l: libc::flock = unsafe { std::mem::zeroed() };
    l.l_type = kind as libc::c_short;
    l.l_whence = libc::SEEK_SET as libc::c_short;
    l.l_start = at;
    l.l_len = 1;
    l
}

/// Outcome of a lock attempt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Got {
    /// Taken.
    Yes,
    /// Another open file description holds a conflicting lock.
    Busy,
    /// The file system has no such locks (e.g. some network file systems): going on
    /// unlocked, as libhdf5 does without `flock`.
    Unsupported,
}

fn set_lock(f: &File, kind: i32, at: i64) -> Got {
    let l = flock_struct(kind, at);
    // SAFETY: a valid descriptor and a valid `flock` struct that lives for the call.
    let r = unsafe { libc::fcntl(f.as_raw_fd(), libc::F_OFD_SETLK, &l) };
    if r == 0 {
        return Got::Yes;
    }
    match std::io::Error::last_os_error().raw_os_error() {
        Some(libc::EAGAIN) | Some(libc::EACCES) => Got::Busy,
        _ => Got::Unsupported,
    }
}

fn unlock(f: &File, at: i64) {
    let _ = set_lock(f, libc::F_UNLCK, at);
}

/// Whether another open file description holds a lock on `at` that conflicts with
/// `kind` (not taking any).
fn conflicts(f: &File, kind: i32, at: i64) -> bool {
    let mut l = flock_struct(kind, at);
    // SAFETY: a valid descriptor and a valid `flock` struct the call fills in.
    let r = unsafe { libc::fcntl(f.as_raw_fd(), libc::F_OFD_GETLK, &mut l) };
    r == 0 && l.l_type != libc::F_UNLCK as libc::c_short
}

/// Tries to take a lock until `deadline`, polling (from 10 µs up to 200 µs apart:
/// readers' calls and write phases take from tens of microseconds to milliseconds,
/// and a coarser poll would add its granularity to every wait).
fn lock_until(f: &File, kind: i32, at: i64, deadline: Instant) -> Got {
    let mut pause = Duration::from_micros(10);
    loop {
        match set_lock(f, kind, at) {
            Got::Busy => {}
            other => return other,
        }
        if Instant::now() >= deadline {
            return Got::Busy;
        }
        std::thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_micros(200));
    }
}

/// Takes the writer's lock (held while the writer has the file open); whether another
/// writer has it.
pub(crate) fn take_writer_lock(f: &File) -> Got {
    set_lock(f, libc::F_WRLCK, WRITER_BYTE)
}

/// Lets the writer's lock go.
pub(crate) fn drop_writer_lock(f: &File) {
    unlock(f, WRITER_BYTE);
}

/// Whether a writer of this library has the file open (in any process, this one
/// included), seen through `f`.
pub(crate) fn writer_alive(f: &File) -> bool {
    conflicts(f, libc::F_RDLCK, WRITER_BYTE)
}

/// Takes the write phase's locks through `f` (`PENDING`, then `READ`, exclusively),
/// waiting for readers inside a call at most `wait`. Returns whether readers finished
/// in time (false: it goes on without them; see the module docs).
pub(crate) fn lock_writes(f: &File, wait: Duration) -> bool {
    let deadline = Instant::now() + wait;
    let p = lock_until(f, libc::F_WRLCK, PENDING_BYTE, deadline);
    let r = lock_until(f, libc::F_WRLCK, READ_BYTE, deadline);
    p != Got::Busy && r != Got::Busy
}

/// Lets the write phase's locks go.
pub(crate) fn unlock_writes(f: &File) {
    unlock(f, READ_BYTE);
    unlock(f, PENDING_BYTE);
}

// ---------------------------------------------------------------------------------
// The reader's side.

/// A reader's handles for the protocol: its own descriptor of the data file (its lock
/// is its own, apart from libhdf5's) and the commits file once there is one.
#[derive(Debug)]
pub(crate) struct ReaderLocks {
    path: PathBuf,
    file: File,
    commits: std::sync::Mutex<Option<Commits>>,
}

/// A reader's `READ` lock, for one call; let go when dropped.
#[derive(Debug)]
pub(crate) struct ReadHold {
    locks: std::sync::Arc<ReaderLocks>,
}

impl Drop for ReadHold {
    fn drop(&mut self) {
        unlock(&self.locks.file, READ_BYTE);
    }
}

impl ReaderLocks {
    /// Opens the reader's descriptors for the file at `path`.
    pub(crate) fn open(path: &Path) -> Result<ReaderLocks> {
        let file = File::open(path).map_err(|e| {
            Error::new(
                if e.kind() == IoKind::NotFound {
                    ErrorKind::FileNotFound
                } else {
                    ErrorKind::Hdf5Error
                },
                format!("opening '{}' failed: {e}", path.display()),
            )
        })?;
        Ok(ReaderLocks {
            path: path.to_path_buf(),
            commits: std::sync::Mutex::new(Commits::open_read(path)),
            file,
        })
    }

    /// Whether the path now names another file than the one these locks are on
    /// (compaction renamed a copy over it).
    pub(crate) fn replaced(&self) -> bool {
        use std::os::unix::fs::MetadataExt;
        match (self.file.metadata(), std::fs::metadata(&self.path)) {
            (Ok(a), Ok(b)) => a.ino() != b.ino() || a.dev() != b.dev(),
            _ => false,
        }
    }

    /// The path these locks were opened for.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// The commits file's header now; `None` while there is no commits file.
    pub(crate) fn stamp(&self) -> Option<Stamp> {
        let mut c = self
            .commits
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if c.is_none() {
            *c = Commits::open_read(&self.path);
        }
        c.as_ref().and_then(|c| c.stamp().ok().flatten())
    }

    /// What checkpoint `end` did (see [`Commits::change`]).
    pub(crate) fn change(&self, end: u64) -> Change {
        let c = self
            .commits
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        c.as_ref().map_or(Change::Unknown, |c| c.change(end))
    }

    /// Whether a writer of this library has the file open.
    pub(crate) fn writer_alive(&self) -> bool {
        writer_alive(&self.file)
    }

    /// Takes the `READ` lock shared for one call, waiting (at most [`READER_WAIT`])
    /// while a writer is in its write phase.
    pub(crate) fn hold(self: &std::sync::Arc<Self>) -> Result<ReadHold> {
        let deadline = Instant::now() + READER_WAIT;
        let p = lock_until(&self.file, libc::F_RDLCK, PENDING_BYTE, deadline);
        let r = if p == Got::Busy {
            Got::Busy
        } else {
            lock_until(&self.file, libc::F_RDLCK, READ_BYTE, deadline)
        };
        unlock(&self.file, PENDING_BYTE);
        if r == Got::Busy {
            return Err(Error::new(
                ErrorKind::FileLocked,
                format!(
                    "'{}': the writer has been writing for more than {} s (stopped?); try again later",
                    self.path.display(),
                    READER_WAIT.as_secs()
                ),
            ));
        }
        Ok(ReadHold {
            locks: self.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ring_and_header_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f.h5");
        std::fs::write(&p, b"x").unwrap();
        let c = Commits::open_write(&p).unwrap();
        assert_eq!(
            c.stamp().unwrap(),
            Some(Stamp {
                gen: 1,
                begin: 0,
                end: 0
            })
        );
        let note = CommitNote {
            name: "v5".into(),
            prev: "v4".into(),
            timestamp: Some(-7),
            current: true,
        };
        c.record(5, &Change::Commit(note.clone())).unwrap();
        c.write_stamp(Stamp {
            gen: 1,
            begin: 5,
            end: 5,
        })
        .unwrap();
        let r = Commits::open_read(&p).unwrap();
        assert_eq!(r.stamp().unwrap().unwrap().end, 5);
        assert_eq!(r.change(5), Change::Commit(note));
        assert_eq!(r.change(6), Change::Unknown);
        c.record(5 + SLOTS, &Change::Unknown).unwrap();
        assert_eq!(r.change(5), Change::Unknown, "overwritten in the ring");
    }

    #[test]
    fn readers_and_the_writer_exclude_each_other() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f.h5");
        std::fs::write(&p, b"x").unwrap();
        let w = OpenOptions::new().read(true).write(true).open(&p).unwrap();
        let r = std::sync::Arc::new(ReaderLocks::open(&p).unwrap());
        assert!(!r.writer_alive());
        assert_eq!(take_writer_lock(&w), Got::Yes);
        assert!(r.writer_alive());
        let h = r.hold().unwrap();
        assert!(
            !lock_writes(&w, Duration::from_millis(5)),
            "a reader is inside"
        );
        unlock_writes(&w);
        drop(h);
        assert!(lock_writes(&w, Duration::from_millis(5)));
        unlock_writes(&w);
        drop_writer_lock(&w);
        assert!(!r.writer_alive());
    }
}
