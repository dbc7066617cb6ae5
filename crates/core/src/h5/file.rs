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
    let c = cstr(path)?;
    journal::recover(std::path::Path::new(path))?;
    let fapl = journal::fapl()?;
    locked(|| {
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

/// Flushes everything the file has buffered to disk, then makes the file as it is
/// now the state a crash rolls back to ([`journal::checkpoint`]): everything written
/// between two flushes is atomic.
pub(crate) fn file_flush(file: &Hid) -> Result<()> {
    locked(|| {
        // SAFETY: `file` is an open file id.
        unsafe { ck!("flushing the file", H5Fflush(file.id(), H5F_SCOPE_GLOBAL)) };
        journal::checkpoint(file)
    })
}
