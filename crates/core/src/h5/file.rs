//! Files: opening and creating them, flushing them, and counting the HDF5 objects open
//! in the process.
//!
//! Invariants: every file is opened through the journal file driver
//! ([`journal::fapl`]), after a transaction a dead writer left in the journal has been
//! rolled back; a flush is also a journal checkpoint, so everything written between
//! two flushes is atomic.

use hdf5_sys::h5f::*;
use hdf5_sys::h5i::hid_t;
use hdf5_sys::h5p::H5P_DEFAULT;

use super::{cstr, h5err, journal, locked, Hid};
use crate::error::Result;

/// How to open a file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum FileOpen {
    /// Existing file, read-only.
    Read,
    /// Existing file, read-write.
    Write,
    /// New file, truncating an existing one.
    Truncate,
    /// New file, failing if one exists.
    Exclusive,
}

/// Opens or creates an HDF5 file, through the journal file driver ([`journal`]).
/// A transaction a dead writer left in the file's journal is rolled back first.
pub(crate) fn file_open(path: &str, how: FileOpen) -> Result<Hid> {
    file_open_with(path, how, false)
}

/// [`file_open`]; with `fsync`, a writable file's checkpoints are durable across
/// power loss (the journal driver's `fsync` durability).
pub(crate) fn file_open_with(path: &str, how: FileOpen, fsync: bool) -> Result<Hid> {
    let c = cstr(path)?;
    journal::recover(std::path::Path::new(path))?;
    let fapl = journal::fapl(fsync)?;
    journal::take_last_fault();
    journal::take_open_errno();
    let opened = locked(|| {
        let f = fapl.id();
        // SAFETY: `c` is a valid C string and `fapl` an open file access list.
        unsafe {
            Ok(match how {
                FileOpen::Read => hid!(
                    "opening the file read-only",
                    H5Fopen(c.as_ptr(), H5F_ACC_RDONLY, f)
                ),
                FileOpen::Write => hid!(
                    "opening the file for writing",
                    H5Fopen(c.as_ptr(), H5F_ACC_RDWR, f)
                ),
                FileOpen::Truncate => {
                    hid!(
                        "creating the file",
                        H5Fcreate(c.as_ptr(), H5F_ACC_TRUNC, H5P_DEFAULT, f)
                    )
                }
                FileOpen::Exclusive => {
                    hid!(
                        "creating the file",
                        H5Fcreate(c.as_ptr(), H5F_ACC_EXCL, H5P_DEFAULT, f)
                    )
                }
            })
        }
    });
    let refused = journal::take_open_errno();
    opened.map_err(|e| match journal::take_last_fault() {
        // A write of the open itself failed (libhdf5 marks the superblock at a writable
        // open): the journal kept what it changed, and the roll-back puts it back.
        Some(fault) => {
            let mut e = fault.to_error(&format!("opening '{path}'"));
            match journal::recover(std::path::Path::new(path)) {
                Ok(_) => e.message.push_str(". The file is unchanged"),
                Err(r) => e.message.push_str(&format!(
                    ". Rolling back what the open wrote failed ({}); the next open does it",
                    r.message
                )),
            }
            e
        }
        // The operating system refused the open itself: a read-only file system, or
        // no permission to open the file (for writing, or at all).
        None => match journal::access_kind(refused) {
            Some(kind @ crate::error::ErrorKind::ReadOnly) => crate::error::Error::new(
                kind,
                format!("'{path}' is on a read-only file system: it cannot be opened for writing; open it with mode 'r' to read it"),
            ),
            Some(kind) => crate::error::Error::new(
                kind,
                format!(
                    "no permission to open '{path}'{}: {}. Nothing was changed",
                    if how == FileOpen::Read { "" } else { " for writing (or to create it)" },
                    e.message
                ),
            ),
            None => e,
        },
    })
}

/// Opens a file read-only for a reader that coordinates with writers
/// (docs/design/008-readers-and-writers.md): no roll-back of the journal (a live
/// writer's, or one the next writer rolls back), and with `overlay`, what a dead
/// writer's journal saved is laid over what is read, so the file reads as its last
/// checkpoint left it.
pub(crate) fn file_open_reader(path: &str, overlay: bool) -> Result<Hid> {
    let c = cstr(path)?;
    let fapl = journal::fapl(false)?;
    journal::with_overlay(overlay, || {
        locked(|| {
            // SAFETY: `c` is a valid C string and `fapl` an open file access list.
            unsafe {
                Ok(hid!(
                    "opening the file read-only",
                    H5Fopen(c.as_ptr(), H5F_ACC_RDONLY, fapl.id())
                ))
            }
        })
    })
}

/// Number of HDF5 objects (files, groups, datasets, types, attributes) open in this
/// process, across all files.
pub(crate) fn open_object_count() -> i64 {
    locked(|| {
        // SAFETY: H5F_OBJ_ALL as the file id asks about every open file; always valid.
        unsafe { H5Fget_obj_count(H5F_OBJ_ALL as hid_t, H5F_OBJ_ALL) as i64 }
    })
}

/// Closes every object of `file` still open other than the file itself, and returns
/// how many there were. Only for a file whose state was rolled back (`journal::
/// roll_back`): an object whose close failed on the failed write (a dataset flushing
/// its chunk cache) keeps its id, and would keep libhdf5's stale view of the file
/// alive past the file's close. The engine holds no handle of its own then.
pub(crate) fn close_leftover_objects(file: &Hid) -> i64 {
    locked(|| {
        let kinds =
            H5F_OBJ_DATASET | H5F_OBJ_GROUP | H5F_OBJ_DATATYPE | H5F_OBJ_ATTR | H5F_OBJ_LOCAL;
        // SAFETY: `file` is an open file id; the buffer holds as many ids as libhdf5
        // said are open, and it writes at most that many.
        unsafe {
            let n = H5Fget_obj_count(file.id(), kinds);
            if n <= 0 {
                return 0;
            }
            let mut ids = vec![0 as hid_t; n as usize];
            let got = H5Fget_obj_ids(file.id(), kinds, ids.len(), ids.as_mut_ptr());
            for &id in ids.iter().take(got.max(0) as usize) {
                while hdf5_sys::h5i::H5Iis_valid(id) > 0 {
                    if super::release(id) < 0 {
                        break;
                    }
                }
            }
            n as i64
        }
    })
}

/// Flushes everything the file has buffered to disk, then makes the file as it is
/// now the state a crash rolls back to ([`journal::checkpoint`]): everything written
/// between two flushes is atomic.
pub(crate) fn file_flush(file: &Hid) -> Result<()> {
    locked(|| {
        flush_cache(file)?;
        journal::checkpoint(file)
    })
}

/// Writes libhdf5's caches to the file without ending the journal transaction. It
/// allocates what is still unallocated (chunks held in dataset caches) and gives back
/// the unused rest of libhdf5's allocation blocks (a part of one that only came to
/// lie at the end of the file once another was given back waits for the next flush:
/// see [`file_eoa`]).
pub(crate) fn flush_cache(file: &Hid) -> Result<()> {
    locked(|| {
        // SAFETY: `file` is an open file id.
        unsafe { ck!("flushing the file", H5Fflush(file.id(), H5F_SCOPE_GLOBAL)) };
        Ok(())
    })
}

/// The file's end of allocation: one past the last byte libhdf5 allocated in it.
/// Whatever adds or rebuilds an object allocates and moves it. Once a flush
/// ([`flush_cache`]) leaves it where the next flush does, it is what a close writes
/// to the superblock and the next open reads back. Read with `H5Fget_filesize`, the
/// larger of the end of allocation and the file's length, which a flush cuts to the
/// former (`H5Fget_eoa` needs a SWMR-capable file driver).
pub(crate) fn file_eoa(file: &Hid) -> Result<u64> {
    locked(|| {
        let mut size: u64 = 0;
        // SAFETY: `file` is an open file id; `size` is a valid out-pointer.
        unsafe {
            ck!(
                "reading the file's end of allocation",
                H5Fget_filesize(file.id(), &mut size)
            )
        };
        Ok(size)
    })
}
