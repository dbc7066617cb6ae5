//! The only module that talks to libhdf5.
//!
//! Every call runs under hdf5-metno's process-wide reentrant lock ([`locked`]), which
//! also initialises the library and registers the LZF filter. Handles are owned by
//! [`Hid`], which releases them (under the lock) when dropped; a failed call becomes an
//! [`Error`] carrying libhdf5's error stack, which is then cleared.
//!
//! The submodules follow libhdf5's families and are small mechanical wrappers:
//! `file` (files, through the journal file driver of [`journal`]), `objects` (groups,
//! links, objects), `types` (datatypes and [`Dtype`](crate::dtype::Dtype)), `io` (dataspaces, dataset
//! reads and writes, direct chunk writes), `filters` (filter pipelines, chunk shapes,
//! fill values), `vds` (reading virtual mappings), `layout` (our own decoder of version
//! datasets' object headers and mapping lists, docs/design/032) and `attrs` (attributes). The one
//! exception is `format`: the creators whose shape the versioned-hdf5 format decides
//! (`raw_data`, the hash table and its rows, version datasets), gathered there with a
//! list of those decisions. What a file holds (versions, chunk maps, deduplication) is
//! decided outside `h5`, by the rest of the crate (`file`, `stage`, `verify`, …).
//!
//! This file keeps what every submodule shares: [`locked`], [`Hid`], the error helpers
//! (`h5err`, `cstr`) and the checking macros (`ck!`, `hid!`). Every public item is
//! re-exported here, so callers name `h5::foo` whichever file it lives in.

#![allow(
    non_snake_case,
    reason = "libhdf5's names (H5Dcreate2, …) as its headers spell them"
)]

use std::ffi::{c_uint, c_void, CStr, CString};

use hdf5_sys::h5::herr_t;
use hdf5_sys::h5e::*;
use hdf5_sys::h5i::*;

use crate::codec;
use crate::error::{Error, ErrorKind, Result};

pub(crate) use hdf5_sys::h5i::hid_t;

pub(crate) mod journal;
pub(crate) mod readers;

/// HDF5 filter id of LZF (the h5py filter the format's hash tables use).
pub(crate) const FILTER_LZF: i32 = codec::FILTER_LZF;

/// Runs `f` under the HDF5 library lock.
pub(crate) fn locked<T>(f: impl FnOnce() -> T) -> T {
    hdf5::sync::sync(f)
}

/// An owned HDF5 identifier.
#[derive(Debug)]
pub(crate) struct Hid(hid_t);

impl Hid {
    /// The raw identifier, valid while `self` lives.
    pub(crate) fn id(&self) -> hid_t {
        self.0
    }
}

impl Drop for Hid {
    fn drop(&mut self) {
        if self.0 > 0 {
            locked(|| {
                // SAFETY: the id was returned by an HDF5 open/create call and is released
                // exactly once here; a failure (id already invalid) is harmless.
                unsafe {
                    release(self.0);
                    H5Eclear2(H5E_DEFAULT);
                }
            });
        }
    }
}

/// Gives up one reference to `id`. A dataset goes through `H5Dclose`: when closing it
/// fails (its close writes, as an anonymous dataset's deletion does, and the write
/// fails), `H5Dclose` still removes the id, while `H5Idec_ref` would keep an id whose
/// object libhdf5 has already freed, which the file's close then dereferences.
///
/// # Safety
/// Under the libhdf5 lock.
pub(crate) unsafe fn release(id: hid_t) -> herr_t {
    // SAFETY: as the caller promises; both calls check the id themselves.
    unsafe {
        if H5Iget_type(id) == H5I_type_t::H5I_DATASET {
            hdf5_sys::h5d::H5Dclose(id)
        } else {
            H5Idec_ref(id)
        }
    }
}

unsafe extern "C" fn walk_cb(_n: c_uint, e: *const H5E_error2_t, data: *mut c_void) -> herr_t {
    // SAFETY: HDF5 passes a valid error record; `data` is the `Vec<String>` given to
    // H5Ewalk2 below, alive for the whole walk.
    unsafe {
        let v = &mut *(data as *mut Vec<String>);
        let desc = if (*e).desc.is_null() {
            ""
        } else {
            CStr::from_ptr((*e).desc).to_str().unwrap_or("")
        };
        let func = if (*e).func_name.is_null() {
            ""
        } else {
            CStr::from_ptr((*e).func_name).to_str().unwrap_or("")
        };
        v.push(format!("{func}: {desc}"));
    }
    0
}

/// Builds an error from HDF5's current error stack, then clears it.
fn h5err(what: &str) -> Error {
    let mut msgs: Vec<String> = Vec::new();
    // SAFETY: walking the default stack with a callback that only reads the records.
    unsafe {
        H5Ewalk2(
            H5E_DEFAULT,
            H5E_WALK_DOWNWARD,
            Some(walk_cb),
            &mut msgs as *mut Vec<String> as *mut c_void,
        );
        H5Eclear2(H5E_DEFAULT);
    }
    let detail = msgs.join("; ");
    // File locking only (libhdf5 also says "unable to lock" for its chunk cache).
    let kind = if detail.contains("unable to lock file") {
        ErrorKind::FileLocked
    } else {
        ErrorKind::Hdf5Error
    };
    let mut message = format!("{what} failed");
    if !detail.is_empty() {
        message.push_str(&format!(" ({detail})"));
    }
    if kind == ErrorKind::FileLocked {
        message.push_str(": another process has this file open for writing (HDF5 locks the whole file); close it there first");
    }
    Error::new(kind, message)
}

/// Checks an HDF5 return value (negative means failure).
macro_rules! ck {
    ($what:expr, $e:expr) => {{
        let r = $e;
        #[allow(
            unused_comparisons,
            reason = "the macro also checks unsigned return values, which are never negative"
        )]
        if (r as i64) < 0 {
            return Err(h5err($what));
        }
        r
    }};
}

/// Checks a returned identifier and wraps it.
macro_rules! hid {
    ($what:expr, $e:expr) => {{
        let r: hid_t = $e;
        if r < 0 {
            return Err(h5err($what));
        }
        Hid(r)
    }};
}

/// `s` as a C string, or `INVALID_ARGUMENT` when it contains a NUL character.
fn cstr(s: &str) -> Result<CString> {
    CString::new(s).map_err(|_| {
        Error::new(
            ErrorKind::InvalidArgument,
            format!("name {s:?} contains a NUL character"),
        )
    })
}

// The submodules come after the macros above, which they use (a `macro_rules!` is in
// scope only after its definition).
mod attrs;
mod file;
mod filters;
mod format;
mod io;
mod layout;
mod objects;
mod own_list;
mod space;
mod types;
mod vds;

pub(crate) use attrs::{
    attr_exists, attr_names, attr_names_at, delete_attr, read_attr, read_attr_at, write_attr,
    write_new_attr,
};
pub(crate) use file::{
    close_leftover_objects, file_eoa, file_flush, file_open, file_open_reader, file_open_with,
    flush_cache,
};
pub(crate) use file::{open_object_count, FileOpen};
pub(crate) use filters::{ds_chunk_dims, ds_fill, ds_fill_in, ds_filters, fill_value, pipeline};
pub use filters::{Compression, Filters};
pub(crate) use format::{
    create_hash_table, create_raw_data, create_version_dataset, create_version_dataset_by_libhdf5,
    read_hash_rows, read_hash_table, rows_to_bytes, write_hash_rows, HashRow,
};
pub(crate) use io::{
    ds_set_extent, ds_shape, ds_type, open_dataset, open_storage, read_block, read_chunk,
    read_strings, refresh_chunk_lookup, stored_as, stored_chunks, write_block, write_chunk,
    write_strings, StoredChunk,
};
pub(crate) use journal::{
    check_journal_place, data_reader, end_writes, fault as io_fault, hold_writes, note_commit,
    release_writes, roll_back, stamp_at_lock, stamp_now, take_close_stamp, FileStamp,
};
pub(crate) use objects::{
    copy_object, create_group, exists, kind_at, kind_of, link_count, list, move_link, open_group,
    open_object, unlink, ObjKind,
};
pub(crate) use own_list::ListPatch;
pub(crate) use space::file_space;
pub(crate) use types::dtype_of;
pub(crate) use vds::{
    create_plist, furthest_source, read_mappings, read_mappings_in, version_facts, Mapping,
};
