//! The creators whose shape the versioned-hdf5 format decides: of all of `h5`, the only
//! functions that encode format decisions rather than wrap a libhdf5 call.
//!
//! The decisions that live here:
//! - `raw_data`: its name, shape `(0, c1, …)`, maxshape `(unlimited, c1, …)`, chunks
//!   `(c0, c1, …)` (the dataset's chunk shape), the dataset's filters and, for
//!   fixed-size dtypes, its fill value ([`create_raw_data`]);
//! - the hash table: its name `hash_table`, its 48-byte row type (`hash`: 32 × u8,
//!   `shape`: 2 × i64 holding a slot's start and stop row), one all-zero row to start
//!   with, unlimited maxshape, chunks of 4096 rows, LZF, and `largest_index = 0`
//!   ([`create_hash_table`]); its rows in that layout ([`HashRow`], [`rows_to_bytes`],
//!   [`read_hash_rows`], [`write_hash_rows`]);
//! - a version dataset: a virtual dataset of fixed shape with one mapping per stored
//!   chunk into the raw data (source file `.`), or a dataset with no storage when
//!   nothing is stored ([`create_version_dataset`]).
//!
//! Which rows, chunks and versions a file holds is decided outside `h5` (`file`, `stage`).

use std::ffi::c_void;
use std::ptr;

use hdf5_sys::h5::hsize_t;
use hdf5_sys::h5d::*;
use hdf5_sys::h5i::hid_t;
use hdf5_sys::h5p::*;
use hdf5_sys::h5s::*;
use hdf5_sys::h5t::*;
use hdf5_sys::h5z::*;

use super::attrs::write_attr;
use super::filters::{apply_filters, Filters};
use super::io::{block_io, ds_set_extent, simple_space};
use super::own_list::{self, ListPatch};
use super::types::dtype_file_type;
use super::vds::Mapping;
use super::{cstr, h5err, locked, Hid, FILTER_LZF};
use crate::attrs::AttrValue;
use crate::dtype::Dtype;
use crate::error::{Error, Result};
use crate::layout::{attr, HASH_ROW_BYTES, HASH_TABLE, HASH_TABLE_CHUNK_ROWS, RAW_DATA};

/// Creates `raw_data`: shape `(0, c1, …)`, unlimited along axis 0, chunked by `chunks`.
pub(crate) fn create_raw_data(
    group: &Hid,
    dtype: &Dtype,
    chunks: &[u64],
    fill: &[u8],
    filters: &Filters,
) -> Result<Hid> {
    locked(|| {
        // SAFETY: property lists and spaces are created and released here; `fill`
        // holds one element of `dtype`.
        unsafe {
            let t = dtype_file_type(dtype)?;
            let mut dims = chunks.to_vec();
            dims[0] = 0;
            let mut maxd = chunks.to_vec();
            maxd[0] = H5S_UNLIMITED;
            let space = simple_space(&dims, Some(&maxd))?;
            let dcpl = hid!(
                "creating creation properties",
                H5Pcreate(*H5P_CLS_DATASET_CREATE)
            );
            ck!(
                "setting chunks",
                H5Pset_chunk(dcpl.id(), chunks.len() as i32, chunks.as_ptr())
            );
            if !dtype.is_vlen() {
                ck!(
                    "setting the fill value",
                    H5Pset_fill_value(dcpl.id(), t.id(), fill.as_ptr() as *const c_void)
                );
            }
            apply_filters(&dcpl, filters)?;
            Ok(hid!(
                "creating raw_data",
                H5Dcreate2(
                    group.id(),
                    cstr(RAW_DATA)?.as_ptr(),
                    t.id(),
                    space.id(),
                    H5P_DEFAULT,
                    dcpl.id(),
                    H5P_DEFAULT
                )
            ))
        }
    })
}

/// One row of a hash table: a chunk hash and the `(start, stop)` rows of its slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct HashRow {
    /// The chunk digest.
    pub hash: [u8; 32],
    /// First row of the slot in raw_data.
    pub start: i64,
    /// One past the last row of the chunk (trimmed along axis 0).
    pub stop: i64,
}

/// The hash table's row type: a 48-byte compound of `hash` (32 × u8) at offset 0 and
/// `shape` (2 × i64: start, stop) at offset 32.
fn hash_row_type() -> Result<Hid> {
    // SAFETY: building a compound type from predefined types; members are released.
    unsafe {
        let t = hid!(
            "creating the hash row type",
            H5Tcreate(H5T_class_t::H5T_COMPOUND, HASH_ROW_BYTES)
        );
        let d32: [hsize_t; 1] = [32];
        let d2: [hsize_t; 1] = [2];
        let h = hid!(
            "creating the hash field",
            H5Tarray_create2(*H5T_STD_U8LE, 1, d32.as_ptr())
        );
        let s = hid!(
            "creating the shape field",
            H5Tarray_create2(*H5T_STD_I64LE, 1, d2.as_ptr())
        );
        ck!(
            "building the hash row type",
            H5Tinsert(t.id(), c"hash".as_ptr(), 0, h.id())
        );
        ck!(
            "building the hash row type",
            H5Tinsert(t.id(), c"shape".as_ptr(), 32, s.id())
        );
        Ok(t)
    }
}

/// Hash rows in the table's 48-byte file layout: the hash, then start and stop as
/// little-endian i64 (the bytes [`write_hash_rows`] writes, before LZF).
pub(crate) fn rows_to_bytes(rows: &[HashRow]) -> Vec<u8> {
    let mut out = Vec::with_capacity(rows.len() * HASH_ROW_BYTES);
    for r in rows {
        out.extend_from_slice(&r.hash);
        out.extend_from_slice(&r.start.to_le_bytes());
        out.extend_from_slice(&r.stop.to_le_bytes());
    }
    out
}

/// Creates an empty hash table: one all-zero row, `largest_index = 0`, LZF, chunks of
/// 4096 rows.
pub(crate) fn create_hash_table(group: &Hid) -> Result<Hid> {
    let ds = locked(|| {
        // SAFETY: spaces and property lists are created and released here.
        unsafe {
            let t = hash_row_type()?;
            let dims = [1u64];
            let maxd = [H5S_UNLIMITED];
            let space = simple_space(&dims, Some(&maxd))?;
            let dcpl = hid!(
                "creating creation properties",
                H5Pcreate(*H5P_CLS_DATASET_CREATE)
            );
            let chunk = [HASH_TABLE_CHUNK_ROWS];
            ck!("setting chunks", H5Pset_chunk(dcpl.id(), 1, chunk.as_ptr()));
            ck!(
                "adding the lzf filter",
                H5Pset_filter(dcpl.id(), FILTER_LZF, H5Z_FLAG_OPTIONAL, 0, ptr::null())
            );
            let ds = hid!(
                "creating hash_table",
                H5Dcreate2(
                    group.id(),
                    cstr(HASH_TABLE)?.as_ptr(),
                    t.id(),
                    space.id(),
                    H5P_DEFAULT,
                    dcpl.id(),
                    H5P_DEFAULT
                )
            );
            let zero = [0u8; HASH_ROW_BYTES];
            block_io(&ds, &t, &[0], &[1], zero.as_ptr() as *mut c_void, true)?;
            Ok::<Hid, Error>(ds)
        }
    })?;
    write_attr(&ds, attr::LARGEST_INDEX, &AttrValue::Int(0))?;
    Ok(ds)
}

/// Reads rows `[0, n)` of a hash table.
pub(crate) fn read_hash_rows(table: &Hid, n: u64) -> Result<Vec<HashRow>> {
    read_hash_table(table, n).map(|(rows, _)| rows)
}

/// Reads rows `[0, n)` of a hash table, also as their bytes in the table's layout
/// (what [`rows_to_bytes`] gives of them).
pub(crate) fn read_hash_table(table: &Hid, n: u64) -> Result<(Vec<HashRow>, Vec<u8>)> {
    if n == 0 {
        return Ok((Vec::new(), Vec::new()));
    }
    let mut buf = vec![0u8; n as usize * HASH_ROW_BYTES];
    locked(|| {
        let t = hash_row_type()?;
        block_io(
            table,
            &t,
            &[0],
            &[n],
            buf.as_mut_ptr() as *mut c_void,
            false,
        )
    })?;
    let rows = buf
        .chunks_exact(HASH_ROW_BYTES)
        .map(|r| {
            let mut hash = [0u8; 32];
            hash.copy_from_slice(&r[..32]);
            let mut a = [0u8; 8];
            a.copy_from_slice(&r[32..40]);
            let mut b = [0u8; 8];
            b.copy_from_slice(&r[40..48]);
            HashRow {
                hash,
                start: i64::from_le_bytes(a),
                stop: i64::from_le_bytes(b),
            }
        })
        .collect();
    Ok((rows, buf))
}

/// Writes `rows` at row `at`, growing the table to exactly `at + rows.len()` rows
/// (never below one row).
pub(crate) fn write_hash_rows(table: &Hid, at: u64, rows: &[HashRow]) -> Result<()> {
    let total = (at + rows.len() as u64).max(1);
    ds_set_extent(table, &[total])?;
    if rows.is_empty() {
        return Ok(());
    }
    let bytes = rows_to_bytes(rows);
    locked(|| {
        let t = hash_row_type()?;
        block_io(
            table,
            &t,
            &[at],
            &[rows.len() as u64],
            bytes.as_ptr() as *mut c_void,
            true,
        )
    })
}

/// Creates a version dataset: a virtual dataset with one mapping per stored chunk, or,
/// when there is none, a plain dataset with no storage whose reads give the fill value.
///
/// From [`own_list_min`](super::own_list::own_list_min) mappings on, in a file that
/// qualifies, the mapping list is encoded here rather than by libhdf5
/// (`h5::own_list`): the dataset is then returned with a [`ListPatch`], which the
/// caller applies once it has closed the dataset (until then it reads as fill).
#[allow(
    clippy::too_many_arguments,
    reason = "every property of the virtual dataset libhdf5 needs at creation"
)]
pub(crate) fn create_version_dataset(
    loc: &Hid,
    name: &str,
    dtype: &Dtype,
    shape: &[u64],
    fill: &[u8],
    raw_path: &str,
    raw_dims: &[u64],
    mappings: &[Mapping],
) -> Result<(Hid, Option<ListPatch>)> {
    if mappings.len() >= own_list::own_list_min() {
        if let Some((ds, patch)) =
            create_version_dataset_by_own_list(loc, name, dtype, shape, fill, raw_path, mappings)?
        {
            return Ok((ds, Some(patch)));
        }
    }
    create_version_dataset_by_libhdf5(loc, name, dtype, shape, fill, raw_path, raw_dims, mappings)
        .map(|ds| (ds, None))
}

/// [`create_version_dataset`] with the mapping list encoded here, whatever the number
/// of mappings; `None` when the list or the file does not qualify (then nothing was
/// created).
pub(crate) fn create_version_dataset_by_own_list(
    loc: &Hid,
    name: &str,
    dtype: &Dtype,
    shape: &[u64],
    fill: &[u8],
    raw_path: &str,
    mappings: &[Mapping],
) -> Result<Option<(Hid, ListPatch)>> {
    let cname = cstr(name)?;
    let craw = cstr(raw_path)?;
    let Some(blob) = own_list::encode_list(&craw, mappings) else {
        return Ok(None);
    };
    locked(|| {
        // SAFETY: every id is created and released here; `fill` holds one element of
        // `dtype`; under the libhdf5 lock.
        unsafe {
            let t = dtype_file_type(dtype)?;
            let space = simple_space(shape, Some(shape))?;
            let dcpl = version_dcpl(dtype, &t, fill)?;
            own_list::create_empty(loc, &cname, &t, &space, &dcpl, &blob)
        }
    })
}

/// A version dataset's creation properties before its layout: the fill value (none
/// for variable-length types).
///
/// # Safety
/// Under the libhdf5 lock; `t` is `dtype`'s file type; `fill` holds one element.
unsafe fn version_dcpl(dtype: &Dtype, t: &Hid, fill: &[u8]) -> Result<Hid> {
    // SAFETY: as the caller promises; the list is owned by the returned Hid.
    unsafe {
        let dcpl = hid!(
            "creating creation properties",
            H5Pcreate(*H5P_CLS_DATASET_CREATE)
        );
        if !dtype.is_vlen() {
            ck!(
                "setting the fill value",
                H5Pset_fill_value(dcpl.id(), t.id(), fill.as_ptr() as *const c_void)
            );
        }
        Ok(dcpl)
    }
}

/// [`create_version_dataset`] with libhdf5 encoding the mapping list: one
/// `H5Pset_virtual` per mapping.
#[allow(
    clippy::too_many_arguments,
    reason = "every property of the virtual dataset libhdf5 needs at creation"
)]
pub(crate) fn create_version_dataset_by_libhdf5(
    loc: &Hid,
    name: &str,
    dtype: &Dtype,
    shape: &[u64],
    fill: &[u8],
    raw_path: &str,
    raw_dims: &[u64],
    mappings: &[Mapping],
) -> Result<Hid> {
    let cname = cstr(name)?;
    let craw = cstr(raw_path)?;
    locked(|| {
        // SAFETY: every id is created and released here; selections are built on
        // dataspaces of the right rank; `fill` holds one element of `dtype`.
        unsafe {
            let t = dtype_file_type(dtype)?;
            let space = simple_space(shape, Some(shape))?;
            let dcpl = version_dcpl(dtype, &t, fill)?;
            if !mappings.is_empty() {
                let vspace = simple_space(shape, Some(shape))?;
                let mut maxd = raw_dims.to_vec();
                maxd[0] = H5S_UNLIMITED;
                let sspace = simple_space(raw_dims, Some(&maxd))?;
                let ones = vec![1u64; shape.len()];
                let mut sstart = vec![0u64; shape.len()];
                for m in mappings {
                    ck!(
                        "selecting a virtual region",
                        H5Sselect_hyperslab(
                            vspace.id(),
                            H5S_seloper_t::H5S_SELECT_SET,
                            m.vstart.as_ptr(),
                            ptr::null(),
                            ones.as_ptr(),
                            m.extent.as_ptr()
                        )
                    );
                    sstart[0] = m.src_row;
                    ck!(
                        "selecting a source region",
                        H5Sselect_hyperslab(
                            sspace.id(),
                            H5S_seloper_t::H5S_SELECT_SET,
                            sstart.as_ptr(),
                            ptr::null(),
                            ones.as_ptr(),
                            m.extent.as_ptr()
                        )
                    );
                    ck!(
                        "adding a virtual mapping",
                        H5Pset_virtual(
                            dcpl.id(),
                            vspace.id(),
                            c".".as_ptr(),
                            craw.as_ptr(),
                            sspace.id()
                        )
                    );
                }
            }
            Ok(hid!(
                &format!("creating version dataset '{name}'"),
                H5Dcreate2(
                    loc.id(),
                    cname.as_ptr(),
                    t.id(),
                    space.id(),
                    H5P_DEFAULT,
                    dcpl.id(),
                    H5P_DEFAULT
                )
            ))
        }
    })
}
