//! A read-only handle beside a writer (docs/design/008-readers-and-writers.md): it
//! holds the reader's lock for each call, reopens libhdf5's handle when another
//! process committed (libhdf5 caches metadata that a commit changes in place), and
//! brings its version index up to date on [`VersionedFile::refresh`].
//!
//! Two states are kept apart: the stamp the libhdf5 handle reflects (`handle`: any
//! call moves it to the file's latest checkpoint, transparently) and the stamp the
//! version index reflects (`view`: only `refresh()` moves it). A handle that never
//! refreshes so keeps reading the versions it knew: committed version groups, their
//! datasets and the `raw_data` slots they map never change, and what the catalog and
//! the read cache hold of them stays valid (a new generation, from a history rewrite,
//! empties both).

use std::collections::HashSet;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::open::read_version_info;
use super::{Inner, VersionInfo, VersionedFile};
use crate::attrs::AttrValue;
use crate::error::{err, Error, ErrorKind, Result};
use crate::h5::readers::{self, Change, ReadHold, ReaderLocks, Stamp};
use crate::h5::{self};
use crate::layout::{attr, versions_path, FIRST_VERSION, VERSION_DATA};

/// A read-only handle's part of the protocol.
#[derive(Debug)]
pub(crate) struct Follow {
    pub(crate) locks: Arc<ReaderLocks>,
    /// The checkpoint libhdf5's handle reflects (`None`: unknown, reopen when a
    /// commits file appears).
    pub(crate) handle: Option<Stamp>,
    /// Whether the handle reads through a dead writer's journal.
    pub(crate) overlay: bool,
    /// The checkpoint the version index reflects.
    pub(crate) view: Option<Stamp>,
    /// `begin` when the current call took its lock (to tell a writer that wrote past
    /// it, see [`Inner::torn_now`]).
    pub(crate) held_begin: Option<u64>,
    /// Why the current call could not take its lock or bring the handle up to date.
    pub(crate) error: Option<Error>,
    /// A call since the last [`VersionedFile::untorn`] was torn.
    pub(crate) torn: bool,
}

/// How often a torn read (a writer wrote past this reader's lock) is tried again.
const TORN_TRIES: usize = 5;

/// Takes a reader's lock for one call and looks at the file's state: the lock, the
/// stamp, and whether the file must be read through a dead writer's journal.
pub(crate) fn acquire(locks: &Arc<ReaderLocks>) -> Result<(ReadHold, Option<Stamp>, bool)> {
    let deadline = Instant::now() + readers::READER_WAIT;
    loop {
        let hold = locks.hold()?;
        let Some(s) = locks.stamp() else {
            return Ok((hold, None, false));
        };
        if !s.writing() {
            return Ok((hold, Some(s), false));
        }
        if !locks.writer_alive() {
            // A writer died inside a write phase: until the next writer rolls its
            // transaction back, the file reads through the journal.
            return Ok((hold, Some(s), true));
        }
        // A live writer writes past a reader's lock it gave up waiting for: wait for
        // its checkpoint.
        drop(hold);
        if Instant::now() >= deadline {
            return Err(err(
                ErrorKind::FileLocked,
                format!(
                    "the writer has been writing for more than {} s (stopped?); try again later",
                    readers::READER_WAIT.as_secs()
                ),
            ));
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

impl Inner {
    /// At the start of each call of a read-only handle (under the file's lock): takes
    /// the reader's lock, and reopens libhdf5's handle when the file changed since it
    /// was opened. `None` for writable handles. A failure is kept in
    /// `follow.error`, which [`Inner::file`] reports.
    pub(crate) fn sync(&mut self) -> Option<ReadHold> {
        let f = self.follow.as_mut()?;
        self.file.as_ref()?;
        f.error = None;
        let mut locks = f.locks.clone();
        let mut acquired = acquire(&locks);
        if let Ok((_, Some(s), _)) = &acquired {
            if f.handle.is_some_and(|w| w.gen != s.gen) && locks.replaced() {
                // A new generation over a new file under the path (compaction renamed
                // a copy over it): the reader's locks move to the new file.
                acquired = ReaderLocks::open(locks.path()).and_then(|l| {
                    locks = Arc::new(l);
                    acquire(&locks)
                });
                f.locks = locks.clone();
            }
        }
        let (hold, stamp, overlay) = match acquired {
            Ok(x) => x,
            Err(e) => {
                f.error = Some(e);
                return None;
            }
        };
        let (was, had_overlay) = (f.handle, f.overlay);
        f.held_begin = stamp.map(|s| s.begin);
        if let Some(s) = stamp {
            if was != Some(s) || had_overlay != overlay {
                if let Err(e) = self.reopen_handle(overlay) {
                    if let Some(f) = self.follow.as_mut() {
                        f.error = Some(e);
                    }
                    return Some(hold);
                }
                let new_gen = was.is_some_and(|w| w.gen != s.gen);
                if new_gen {
                    // Committed versions changed (a history rewrite): nothing known of
                    // them holds any more.
                    self.catalog.invalidate();
                    self.chunks.clear();
                }
                if let Some(f) = self.follow.as_mut() {
                    f.handle = Some(s);
                    f.overlay = overlay;
                }
                if new_gen {
                    // Nor does the version index: it is read anew, as `refresh()` would,
                    // so a deleted version is `VERSION_NOT_FOUND`, not a missing group.
                    if let Err(e) = self.refresh_view() {
                        if let Some(f) = self.follow.as_mut() {
                            f.error = Some(e);
                        }
                    }
                }
            }
        }
        Some(hold)
    }

    /// Opens libhdf5's handle anew (its cached metadata may predate commits), then
    /// drops the old one with every object opened through it.
    fn reopen_handle(&mut self, overlay: bool) -> Result<()> {
        let file = h5::file_open_reader(&self.path, overlay)?;
        let keep = vec![
            h5::open_group(&file, VERSION_DATA)?,
            h5::open_group(&file, &versions_path())?,
        ];
        self.raws.clear();
        self.data_groups.clear();
        // Direct reads go through the new handle's descriptor: after compaction the
        // path names another file, and a journal overlay may have come or gone.
        self.data_file = None;
        self.keep_open = keep;
        self.file = Some(file);
        Ok(())
    }

    /// Whether a writer wrote past this call's lock (it gave up waiting for it): what
    /// the call read may mix two states, and is read again. The handle is reopened at
    /// the next call.
    pub(crate) fn torn_now(&mut self) -> bool {
        let Some(f) = self.follow.as_mut() else {
            return false;
        };
        let Some(b) = f.held_begin else {
            return false;
        };
        if f.locks.stamp().map(|s| s.begin) == Some(b) {
            return false;
        }
        f.handle = None;
        f.torn = true;
        // What the call put in the catalog or the read cache may be torn too.
        self.catalog.invalidate();
        self.chunks.clear();
        true
    }

    /// Brings the version index up to `now` from the commits file's ring alone, when it
    /// holds every checkpoint since the view and each committed a version (or changed
    /// nothing readers see): no lock, no read of the file. The names taken in, in
    /// commit order; `None` when the ring cannot say.
    fn refresh_from_ring(&mut self, now: Option<Stamp>) -> Option<Vec<String>> {
        let f = self.follow.as_ref()?;
        let (v, s) = (f.view?, now?);
        // While a write phase runs, the checkpoints before it are final: the index
        // moves up to the last of them (the commit under way comes at a later call),
        // without waiting for the writer.
        let s = Stamp { begin: s.end, ..s };
        if v.gen != s.gen || v.writing() || s.end < v.end {
            return None;
        }
        if s.end - v.end > readers::SLOTS {
            return None;
        }
        let mut notes = Vec::new();
        for e in v.end + 1..=s.end {
            match f.locks.change(e) {
                Change::Commit(c) => notes.push(c),
                Change::Nothing => {}
                Change::Unknown => return None,
            }
        }
        let mut names = Vec::new();
        for c in notes {
            if self.versions.get(&c.name).is_some_and(|i| i.committed) {
                continue;
            }
            if c.current {
                self.current = c.name.clone();
            }
            self.versions.insert(VersionInfo {
                name: c.name.clone(),
                prev_version: c.prev,
                timestamp: c.timestamp,
                committed: true,
            });
            names.push(c.name);
        }
        if let Some(f) = self.follow.as_mut() {
            f.view = Some(s);
        }
        Some(names)
    }

    /// Brings the version index up to the checkpoint the handle reflects; the names of
    /// the versions committed since, in commit order. `None` when the call was torn.
    fn refresh_view(&mut self) -> Result<Option<Vec<String>>> {
        let Some(f) = self.follow.as_ref() else {
            return Ok(Some(Vec::new()));
        };
        let (view, now) = (f.view, f.handle);
        if view == now {
            return Ok(Some(Vec::new()));
        }
        let locks = f.locks.clone();
        let vg = h5::open_group(self.file()?, &versions_path())?;
        // The names the ring gives for the checkpoints since the view, when it still
        // holds all of them and each committed a version.
        let from_ring = match (view, now) {
            (Some(v), Some(s))
                if v.gen == s.gen
                    && !s.writing()
                    && !v.writing()
                    && s.end >= v.end
                    && s.end - v.end <= readers::SLOTS =>
            {
                let mut names = Vec::new();
                let mut all = true;
                for e in v.end + 1..=s.end {
                    match locks.change(e) {
                        Change::Commit(c) => names.push(c.name),
                        Change::Nothing => {}
                        Change::Unknown => {
                            all = false;
                            break;
                        }
                    }
                }
                all.then_some(names)
            }
            _ => None,
        };
        let ringed = from_ring.is_some();
        let mut added: Vec<VersionInfo> = Vec::new();
        let mut unmarked: Vec<String> = Vec::new();
        let mut removed: Vec<String> = Vec::new();
        let known = |n: &str| self.versions.get(n).is_some_and(|v| v.committed);
        let names = match from_ring {
            Some(names) => names,
            None => {
                let list = h5::list(&vg)?;
                let on_disk: HashSet<&str> = list.iter().map(String::as_str).collect();
                removed = self
                    .versions
                    .keys()
                    .filter(|n| !on_disk.contains(n))
                    .map(str::to_string)
                    .collect();
                list.into_iter()
                    .filter(|n| n != FIRST_VERSION && !known(n))
                    .collect()
            }
        };
        for name in &names {
            if known(name) {
                continue;
            }
            let g = h5::open_group(&vg, name)?;
            if !h5::attr_exists(&g, attr::COMMITTED)? {
                unmarked.push(name.clone());
            }
            added.push(read_version_info(&g, name)?);
        }
        let current = match h5::read_attr(&vg, attr::CURRENT_VERSION) {
            Ok(AttrValue::Str(s)) => s,
            _ => self.current.clone(),
        };
        drop(vg);
        if self.torn_now() {
            return Ok(None);
        }
        let gen_changed = matches!((view, now), (Some(v), Some(s)) if v.gen != s.gen);
        self.versions.remove_all(&removed);
        for n in &removed {
            self.unmarked.remove(n);
        }
        let mut fresh: Vec<(Option<i64>, String)> = added
            .iter()
            .filter(|i| i.committed)
            .map(|i| (i.timestamp, i.name.clone()))
            .collect();
        for info in added {
            self.versions.insert(info);
        }
        self.unmarked.extend(unmarked);
        self.current = current;
        if !removed.is_empty() || gen_changed {
            self.rebuild_time_index();
        }
        if !ringed {
            // From a listing of the file: oldest first by time. (The ring gives commit
            // order.)
            fresh.sort_by_key(|(t, n)| (t.unwrap_or(i64::MIN), n.clone()));
        }
        if let Some(f) = self.follow.as_mut() {
            f.view = now;
        }
        Ok(Some(fresh.into_iter().map(|(_, n)| n).collect()))
    }
}

impl VersionedFile {
    /// Takes in the versions other processes committed since this read-only handle
    /// was opened or last refreshed: `versions`, the current version, lookups by name
    /// and by time then include them. Returns their names, in commit order (oldest
    /// first). Cheap when nothing was committed (one read of the commits file, no
    /// lock); after commits, it reads what they added (their version groups' attributes),
    /// not the whole index. A writable handle sees its own commits already: `[]`.
    pub fn refresh(&self) -> Result<Vec<String>> {
        {
            let mut g = self.lock_raw();
            g.file()?;
            let Some(f) = g.follow.as_ref() else {
                return Ok(Vec::new());
            };
            let now = f.locks.stamp();
            if now == f.view && !now.is_some_and(|s| s.writing()) {
                return Ok(Vec::new());
            }
            if let Some(names) = g.refresh_from_ring(now) {
                return Ok(names);
            }
        }
        for _ in 0..TORN_TRIES {
            let mut g = self.lock();
            g.file()?;
            if let Some(names) = g.refresh_view()? {
                return Ok(names);
            }
        }
        Err(err(
            ErrorKind::FileLocked,
            "refreshing failed: the writer kept writing past this reader's lock; try again",
        ))
    }

    /// Holds the file's lock (with a read-only handle's lock on the file) for `ms`
    /// milliseconds, as a long read would: for the tests of a reader stopped inside a
    /// call. Test builds only (feature `test-hooks`).
    #[cfg(feature = "test-hooks")]
    pub fn hold_reader_lock_for_test(&self, ms: u64) -> Result<()> {
        let g = self.lock();
        g.file()?;
        std::thread::sleep(Duration::from_millis(ms));
        Ok(())
    }

    /// Runs a call `f` of a read-only handle again while a writer wrote past its lock
    /// (see [`Inner::torn_now`]); once for other handles.
    pub(crate) fn untorn<T>(&self, mut f: impl FnMut() -> Result<T>) -> Result<T> {
        for _ in 0..TORN_TRIES {
            let r = f();
            let mut g = self.lock_raw();
            match g.follow.as_mut() {
                Some(fl) if fl.torn => fl.torn = false,
                _ => return r,
            }
        }
        Err(err(
            ErrorKind::FileLocked,
            "reading failed: the writer kept writing past this reader's lock; try again",
        ))
    }
}

/// The reader's state for a file opened read-only at `path`: its locks (no roll-back
/// of a live writer's journal), see [`VersionedFile::open`].
pub(crate) fn reader_locks(path: &str) -> Result<(Arc<ReaderLocks>, bool)> {
    let locks = Arc::new(ReaderLocks::open(Path::new(path))?);
    // A dead writer's journal is rolled back as before (when this process may write
    // the file and no one else is rolling it back); a live writer's is its own.
    let recovered = if locks.writer_alive() {
        false
    } else {
        h5::journal::recover(Path::new(path)).unwrap_or(false)
    };
    Ok((locks, recovered))
}
