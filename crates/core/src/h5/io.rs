//! Dataspaces and dataset I/O: opening datasets, their shape and type, resizing, block
//! reads and writes through libhdf5's filters, and direct writes of stored chunks.
//!
//! Invariants: a storage dataset (`raw_data`, `hash_table`) is only opened through
//! [`open_storage`], with libhdf5's chunk cache off; after a direct chunk write into a
//! filtered dataset, [`refresh_chunk_lookup`] must run before that chunk is read back
//! through libhdf5.

use std::ffi::{c_char, c_void, CStr, CString};
use std::ptr;

use hdf5_sys::h5::{herr_t, hsize_t, H5free_memory};
use hdf5_sys::h5d::*;
use hdf5_sys::h5e::*;
use hdf5_sys::h5i::hid_t;
use hdf5_sys::h5p::*;
use hdf5_sys::h5s::*;

use super::types::dtype_file_type;
use super::{cstr, h5err, locked, Hid};
use crate::dtype::Dtype;
use crate::error::{bail, Error, ErrorKind, Result};

pub(super) fn simple_space(dims: &[u64], maxdims: Option<&[u64]>) -> Result<Hid> {
    // SAFETY: `dims`/`maxdims` have `dims.len()` entries.
    unsafe {
        if dims.is_empty() {
            return Ok(hid!(
                "creating a scalar dataspace",
                H5Screate(H5S_class_t::H5S_SCALAR)
            ));
        }
        let mp = maxdims.map_or(ptr::null(), |m| m.as_ptr());
        Ok(hid!(
            "creating a dataspace",
            H5Screate_simple(dims.len() as i32, dims.as_ptr(), mp)
        ))
    }
}

/// Current dimensions of a dataset.
pub(crate) fn ds_shape(ds: &Hid) -> Result<Vec<u64>> {
    locked(|| {
        // SAFETY: `ds` is an open dataset; the buffer has `rank` entries.
        unsafe {
            let space = hid!("reading a dataspace", H5Dget_space(ds.id()));
            let rank = ck!("reading the rank", H5Sget_simple_extent_ndims(space.id()));
            let mut dims = vec![0u64; rank as usize];
            ck!(
                "reading dimensions",
                H5Sget_simple_extent_dims(space.id(), dims.as_mut_ptr(), ptr::null_mut())
            );
            Ok(dims)
        }
    })
}

/// The stored datatype of a dataset.
pub(crate) fn ds_type(ds: &Hid) -> Result<Hid> {
    locked(|| {
        // SAFETY: `ds` is an open dataset.
        unsafe { Ok(hid!("reading a dataset type", H5Dget_type(ds.id()))) }
    })
}

/// Opens a dataset.
pub(crate) fn open_dataset(loc: &Hid, path: &str) -> Result<Hid> {
    let c = cstr(path)?;
    locked(|| {
        // SAFETY: valid location and C string.
        unsafe {
            Ok(hid!(
                &format!("opening dataset '{path}'"),
                H5Dopen2(loc.id(), c.as_ptr(), H5P_DEFAULT)
            ))
        }
    })
}

/// Opens a storage dataset (`raw_data` or `hash_table`) for direct chunk I/O, with
/// libhdf5's chunk cache off: this library keeps its own cache of decoded chunks, and
/// a chunk held in libhdf5's cache would be looked up with a zero filter mask (see
/// [`refresh_chunk_lookup`]). Every handle to a storage dataset must come from here:
/// the cache settings of the first open apply to all handles open at the same time.
pub(crate) fn open_storage(loc: &Hid, path: &str) -> Result<Hid> {
    let c = cstr(path)?;
    locked(|| {
        let dapl = storage_dapl()?;
        // SAFETY: valid location, name and property list.
        unsafe {
            Ok(hid!(
                &format!("opening dataset '{path}'"),
                H5Dopen2(loc.id(), c.as_ptr(), dapl.id())
            ))
        }
    })
}

/// A dataset access property list with libhdf5's chunk cache off, as every handle to
/// a storage dataset is opened (see [`open_storage`]).
pub(super) fn storage_dapl() -> Result<Hid> {
    locked(|| {
        // SAFETY: the property list is created here and owned by the returned Hid.
        unsafe {
            let dapl = hid!(
                "creating a dataset access property list",
                H5Pcreate(*H5P_CLS_DATASET_ACCESS)
            );
            ck!(
                "turning the chunk cache off",
                H5Pset_chunk_cache(dapl.id(), 0, 0, 1.0)
            );
            Ok(dapl)
        }
    })
}

// In libhdf5 since 1.10.2; not bound by hdf5-sys.
extern "C" {
    fn H5Dget_chunk_storage_size(
        dset_id: hid_t,
        offset: *const hsize_t,
        chunk_bytes: *mut hsize_t,
    ) -> herr_t;
}

/// Reads the stored bytes of the chunk at chunk offset `offset` as they are (still
/// filtered) into `buf`, with their filter mask; `None` when no chunk is stored there.
pub(crate) fn read_chunk(ds: &Hid, offset: &[u64], buf: &mut Vec<u8>) -> Result<Option<u32>> {
    locked(|| {
        let mut size: hsize_t = 0;
        // SAFETY: `ds` is an open chunked dataset of rank `offset.len()`; `size` and
        // `mask` are valid out-pointers; `buf` holds the `size` bytes libhdf5 says the
        // stored chunk has, which is what H5Dread_chunk writes.
        unsafe {
            if H5Dget_chunk_storage_size(ds.id(), offset.as_ptr(), &mut size) < 0 {
                H5Eclear2(H5E_DEFAULT);
                return Ok(None);
            }
            if size == 0 {
                return Ok(None);
            }
            buf.resize(size as usize, 0);
            let mut mask: u32 = 0;
            // The static build's libhdf5 (2.x) has the call that is told the buffer's
            // size; older libraries only the other.
            #[cfg(feature = "static")]
            {
                let mut len: usize = buf.len();
                ck!(
                    "reading a chunk",
                    H5Dread_chunk2(
                        ds.id(),
                        H5P_DEFAULT,
                        offset.as_ptr(),
                        &mut mask,
                        buf.as_mut_ptr() as *mut c_void,
                        &mut len
                    )
                );
                buf.truncate(len);
            }
            #[cfg(not(feature = "static"))]
            ck!(
                "reading a chunk",
                H5Dread_chunk1(
                    ds.id(),
                    H5P_DEFAULT,
                    offset.as_ptr(),
                    &mut mask,
                    buf.as_mut_ptr() as *mut c_void
                )
            );
            Ok(Some(mask))
        }
    })
}

/// Makes libhdf5 forget what it noted about the chunk last written directly to a
/// dataset opened with [`open_storage`].
///
/// libhdf5 (1.10 to 2.x) keeps the address, size and filter mask of the chunk it looked
/// up last, per open dataset. `H5Dwrite_chunk` into a filtered dataset notes the
/// chunk's mask *before* it sets the new one, so a chunk written with a filter skipped
/// would be read back through that filter. Looking up another chunk (`probe`, the
/// offset of any chunk other than the last one written; it need not be stored)
/// replaces the note. With the chunk cache off, that lookup always reaches the index.
/// Not needed for datasets without filters, whose only mask is zero.
pub(crate) fn refresh_chunk_lookup(ds: &Hid, probe: &[u64]) -> Result<()> {
    locked(|| {
        let mut size: hsize_t = 0;
        // SAFETY: `ds` is an open chunked dataset of rank `probe.len()`; `size` is a
        // valid out-pointer. A probe at a chunk never stored fails after the lookup
        // is noted, which is all this needs: the failure is cleared, not reported.
        unsafe {
            if H5Dget_chunk_storage_size(ds.id(), probe.as_ptr(), &mut size) < 0 {
                H5Eclear2(H5E_DEFAULT);
            }
        }
        Ok(())
    })
}

/// Changes a chunked dataset's extent.
pub(crate) fn ds_set_extent(ds: &Hid, dims: &[u64]) -> Result<()> {
    locked(|| {
        // SAFETY: `dims` has one entry per axis of `ds`.
        unsafe { ck!("resizing a dataset", H5Dset_extent(ds.id(), dims.as_ptr())) };
        Ok(())
    })
}

/// Reads or writes the block `[start, start+count)` of `ds` from/into `buf`
/// (C order, `mem` elements).
pub(super) fn block_io(
    ds: &Hid,
    mem: &Hid,
    start: &[u64],
    count: &[u64],
    buf: *mut c_void,
    write: bool,
) -> Result<()> {
    // SAFETY: caller guarantees `buf` holds `prod(count)` elements of `mem`; the file
    // and memory spaces are created and released here.
    unsafe {
        let fspace = hid!("reading a dataspace", H5Dget_space(ds.id()));
        if !start.is_empty() {
            ck!(
                "selecting a hyperslab",
                H5Sselect_hyperslab(
                    fspace.id(),
                    H5S_seloper_t::H5S_SELECT_SET,
                    start.as_ptr(),
                    ptr::null(),
                    count.as_ptr(),
                    ptr::null()
                )
            );
        }
        let mspace = simple_space(count, None)?;
        if write {
            ck!(
                "writing data",
                H5Dwrite(
                    ds.id(),
                    mem.id(),
                    mspace.id(),
                    fspace.id(),
                    H5P_DEFAULT,
                    buf
                )
            );
        } else {
            ck!(
                "reading data",
                H5Dread(
                    ds.id(),
                    mem.id(),
                    mspace.id(),
                    fspace.id(),
                    H5P_DEFAULT,
                    buf
                )
            );
        }
    }
    Ok(())
}

/// Reads the block `[start, start+count)` of a dataset of `dtype` into `buf`
/// (fixed-size dtypes; variable-length strings go through [`read_strings`]).
pub(crate) fn read_block(
    ds: &Hid,
    dtype: &Dtype,
    start: &[u64],
    count: &[u64],
    buf: &mut [u8],
) -> Result<()> {
    if dtype.is_vlen() {
        bail!(
            InternalError,
            "read_block called on a variable-length string dataset"
        );
    }
    debug_assert_eq!(
        buf.len() as u64,
        count.iter().product::<u64>() * dtype.size() as u64
    );
    if buf.is_empty() {
        return Ok(());
    }
    locked(|| {
        let mem = dtype_file_type(dtype)?;
        block_io(
            ds,
            &mem,
            start,
            count,
            buf.as_mut_ptr() as *mut c_void,
            false,
        )
    })
}

/// Writes `buf` to the block `[start, start+count)` of a dataset of `dtype`
/// (fixed-size dtypes; variable-length strings go through [`write_strings`]).
pub(crate) fn write_block(
    ds: &Hid,
    dtype: &Dtype,
    start: &[u64],
    count: &[u64],
    buf: &[u8],
) -> Result<()> {
    if dtype.is_vlen() {
        bail!(
            InternalError,
            "write_block called on a variable-length string dataset"
        );
    }
    debug_assert_eq!(
        buf.len() as u64,
        count.iter().product::<u64>() * dtype.size() as u64
    );
    if buf.is_empty() {
        return Ok(());
    }
    locked(|| {
        let mem = dtype_file_type(dtype)?;
        block_io(ds, &mem, start, count, buf.as_ptr() as *mut c_void, true)
    })
}

/// Reads the block `[start, start+count)` of a variable-length string dataset, one
/// byte string per element in C order (a null element reads as empty).
pub(crate) fn read_strings(ds: &Hid, start: &[u64], count: &[u64]) -> Result<Vec<Vec<u8>>> {
    let n = count.iter().product::<u64>() as usize;
    if n == 0 {
        return Ok(Vec::new());
    }
    locked(|| {
        // The dataset's own type as memory type: libhdf5 does not convert between
        // character sets.
        let mem = ds_type(ds)?;
        let mut ptrs: Vec<*mut c_char> = vec![ptr::null_mut(); n];
        block_io(
            ds,
            &mem,
            start,
            count,
            ptrs.as_mut_ptr() as *mut c_void,
            false,
        )?;
        let mut out = Vec::with_capacity(n);
        for p in ptrs {
            if p.is_null() {
                out.push(Vec::new());
            } else {
                // SAFETY: libhdf5 returned a NUL-terminated string it allocated for
                // this read; it is copied, then released once with H5free_memory.
                unsafe {
                    out.push(CStr::from_ptr(p).to_bytes().to_vec());
                    H5free_memory(p as *mut c_void);
                }
            }
        }
        Ok(out)
    })
}

/// Writes byte strings (C order) to the block `[start, start+count)` of a
/// variable-length string dataset. Strings must not contain NUL bytes.
pub(crate) fn write_strings<S: AsRef<[u8]>>(
    ds: &Hid,
    start: &[u64],
    count: &[u64],
    values: &[S],
) -> Result<()> {
    if values.is_empty() {
        return Ok(());
    }
    let owned: Vec<CString> = values
        .iter()
        .map(|v| CString::new(v.as_ref()))
        .collect::<std::result::Result<_, _>>()
        .map_err(|_| {
            Error::new(
                ErrorKind::InvalidArgument,
                "strings cannot contain NUL characters",
            )
        })?;
    let ptrs: Vec<*const c_char> = owned.iter().map(|c| c.as_ptr()).collect();
    locked(|| {
        let mem = ds_type(ds)?;
        block_io(ds, &mem, start, count, ptrs.as_ptr() as *mut c_void, true)
    })
}

/// Writes one chunk's stored bytes as they are (already filtered, `mask` saying which
/// filters were skipped) at chunk offset `offset`, bypassing libhdf5's filters.
pub(crate) fn write_chunk(ds: &Hid, offset: &[u64], mask: u32, bytes: &[u8]) -> Result<()> {
    locked(|| {
        // SAFETY: `ds` is an open chunked dataset of rank `offset.len()`; `bytes` is
        // readable for its length, which is what libhdf5 is told.
        unsafe {
            ck!(
                "writing a chunk",
                H5Dwrite_chunk(
                    ds.id(),
                    H5P_DEFAULT,
                    mask,
                    offset.as_ptr(),
                    bytes.len(),
                    bytes.as_ptr() as *const c_void
                )
            )
        };
        Ok(())
    })
}

/// Where one stored chunk lies in the file, as libhdf5's chunk index says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct StoredChunk {
    /// Byte offset in the file.
    pub addr: u64,
    /// Stored (filtered) size in bytes.
    pub size: u64,
    /// Filter mask (bit i set: filter i was skipped for this chunk).
    pub mask: u32,
}

/// The stored chunks of a storage dataset (`raw_data`: chunks span every axis but the
/// first) that start at rows `from * chunk_rows .. to * chunk_rows`: entry `i` is the
/// chunk at row `(from + i) * chunk_rows`, `None` where none is stored.
///
/// With `whole`, one pass over the chunk index (`H5Dchunk_iter`, libhdf5 1.14 and
/// later, which this crate's static build bundles); otherwise, or on older libraries,
/// one lookup per chunk (`H5Dget_chunk_info_by_coord`), for the few chunks a commit
/// appended.
pub(crate) fn stored_chunks(
    ds: &Hid,
    chunk_rows: u64,
    rank: usize,
    from: u64,
    to: u64,
    whole: bool,
) -> Result<Vec<Option<StoredChunk>>> {
    let n = to.saturating_sub(from) as usize;
    let mut out: Vec<Option<StoredChunk>> = vec![None; n];
    if n == 0 || chunk_rows == 0 || rank == 0 {
        return Ok(out);
    }
    #[cfg(feature = "static")]
    if whole {
        struct Walk<'a> {
            out: &'a mut [Option<StoredChunk>],
            chunk_rows: u64,
            from: u64,
        }
        unsafe extern "C" fn cb(
            offset: *const hsize_t,
            mask: std::ffi::c_uint,
            addr: hdf5_sys::h5::haddr_t,
            size: hsize_t,
            data: *mut c_void,
        ) -> std::ffi::c_int {
            // SAFETY: `data` is the `Walk` passed to H5Dchunk_iter below, alive and
            // not otherwise borrowed during the iteration; `offset` has the
            // dataset's rank (at least 1) entries.
            unsafe {
                let w = &mut *(data as *mut Walk<'_>);
                let row = *offset;
                if row.is_multiple_of(w.chunk_rows) && row / w.chunk_rows >= w.from {
                    let i = (row / w.chunk_rows - w.from) as usize;
                    if let Some(slot) = w.out.get_mut(i) {
                        *slot = Some(StoredChunk { addr, size, mask });
                    }
                }
            }
            0
        }
        let mut walk = Walk {
            out: &mut out,
            chunk_rows,
            from,
        };
        locked(|| {
            // SAFETY: `ds` is an open chunked dataset; the callback only writes into
            // `walk`, which outlives the call.
            unsafe {
                ck!(
                    "reading the chunk index",
                    H5Dchunk_iter(
                        ds.id(),
                        H5P_DEFAULT,
                        Some(cb),
                        &mut walk as *mut Walk<'_> as *mut c_void
                    )
                )
            };
            Ok::<(), Error>(())
        })?;
        return Ok(out);
    }
    let _ = whole;
    locked(|| {
        let mut coord = vec![0u64; rank];
        for (i, slot) in out.iter_mut().enumerate() {
            coord[0] = (from + i as u64) * chunk_rows;
            let (mut mask, mut addr, mut size) = (0u32, 0u64, 0u64);
            // SAFETY: `coord` has the dataset's rank entries; out-pointers are valid.
            let r = unsafe {
                H5Dget_chunk_info_by_coord(ds.id(), coord.as_ptr(), &mut mask, &mut addr, &mut size)
            };
            if r < 0 {
                return Err(h5err("reading the chunk index"));
            }
            // An unallocated chunk has the undefined address.
            if addr != hdf5_sys::h5::HADDR_UNDEF {
                *slot = Some(StoredChunk { addr, size, mask });
            }
        }
        Ok(out)
    })
}

/// Whether the elements of dataset `ds` are stored exactly as `dtype`'s bytes (same
/// size, order and layout), so its stored chunks can be copied without conversion.
pub(crate) fn stored_as(ds: &Hid, dtype: &Dtype) -> Result<bool> {
    if dtype.is_vlen() {
        return Ok(false);
    }
    locked(|| {
        let mem = dtype_file_type(dtype)?;
        let stored = ds_type(ds)?;
        // SAFETY: both are open datatype ids.
        let eq = unsafe { hdf5_sys::h5t::H5Tequal(mem.id(), stored.id()) };
        Ok(eq > 0)
    })
}
