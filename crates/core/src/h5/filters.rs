//! Creation property lists: filter pipelines (as [`Filters`] and as codec stages),
//! chunk shapes and fill values.
//!
//! Invariant: filters are written in h5py's order (shuffle, compression, fletcher32),
//! with gzip or LZF as the only compressors; another filter id is reported when read
//! (`Compression::Other`) and refused when written.

use std::ffi::{c_char, c_uint, c_void};
use std::ptr;

use hdf5_sys::h5d::*;
use hdf5_sys::h5i::hid_t;
use hdf5_sys::h5p::*;
use hdf5_sys::h5t::H5Tget_size;
use hdf5_sys::h5z::*;

use super::layout::Fill;
use super::types::dtype_file_type;
use super::{h5err, locked, Hid, FILTER_LZF};
use crate::codec;
use crate::dtype::Dtype;
use crate::error::{bail, Result};

/// Compression of a dataset's `raw_data`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Compression {
    /// No compression.
    None,
    /// Deflate at a level 0–9.
    Gzip(u32),
    /// LZF (filter 32000).
    Lzf,
    /// Another filter id that libhdf5 reports (read from files only).
    Other(i32),
}

/// The filter pipeline of a dataset, in h5py's order: shuffle, compression, fletcher32.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Filters {
    /// Byte shuffle before compression.
    pub shuffle: bool,
    /// The compressor.
    pub compression: Compression,
    /// Fletcher-32 checksum.
    pub fletcher32: bool,
}

impl Default for Filters {
    fn default() -> Self {
        Filters {
            shuffle: false,
            compression: Compression::None,
            fletcher32: false,
        }
    }
}

pub(super) fn apply_filters(dcpl: &Hid, f: &Filters) -> Result<()> {
    // SAFETY: `dcpl` is a dataset creation property list.
    unsafe {
        if f.shuffle {
            ck!("adding the shuffle filter", H5Pset_shuffle(dcpl.id()));
        }
        match f.compression {
            Compression::None => {}
            Compression::Gzip(level) => {
                ck!("adding the gzip filter", H5Pset_deflate(dcpl.id(), level));
            }
            Compression::Lzf => {
                ck!(
                    "adding the lzf filter",
                    H5Pset_filter(dcpl.id(), FILTER_LZF, H5Z_FLAG_OPTIONAL, 0, ptr::null())
                );
            }
            Compression::Other(id) => bail!(
                InvalidArgument,
                "cannot write with filter {id}: use gzip or lzf"
            ),
        }
        if f.fletcher32 {
            ck!("adding the fletcher32 filter", H5Pset_fletcher32(dcpl.id()));
        }
    }
    Ok(())
}

/// Reads the filter pipeline of a dataset, as [`Filters`].
pub(crate) fn ds_filters(ds: &Hid) -> Result<Filters> {
    let mut f = Filters::default();
    for stage in pipeline(ds)? {
        match stage.id {
            H5Z_FILTER_SHUFFLE => f.shuffle = true,
            H5Z_FILTER_FLETCHER32 => f.fletcher32 = true,
            H5Z_FILTER_DEFLATE => {
                f.compression = Compression::Gzip(stage.cd.first().copied().unwrap_or(4))
            }
            FILTER_LZF => f.compression = Compression::Lzf,
            other => f.compression = Compression::Other(other),
        }
    }
    Ok(f)
}

/// Chunk shape of a chunked dataset; `None` for other layouts.
pub(crate) fn ds_chunk_dims(ds: &Hid) -> Result<Option<Vec<u64>>> {
    locked(|| {
        // SAFETY: `ds` is an open dataset; the buffer holds up to 32 dimensions, the
        // most libhdf5 allows.
        unsafe {
            let dcpl = hid!("reading creation properties", H5Dget_create_plist(ds.id()));
            if H5Pget_layout(dcpl.id()) != H5D_layout_t::H5D_CHUNKED {
                return Ok(None);
            }
            let mut dims = [0u64; 32];
            let n = ck!(
                "reading the chunk shape",
                H5Pget_chunk(dcpl.id(), 32, dims.as_mut_ptr())
            );
            Ok(Some(dims[..n.max(0) as usize].to_vec()))
        }
    })
}

/// The filters of a dataset's pipeline, in order, with their client data.
pub(crate) fn pipeline(ds: &Hid) -> Result<Vec<codec::Stage>> {
    locked(|| {
        // SAFETY: `ds` is an open dataset; buffers are sized as declared.
        unsafe {
            let dcpl = hid!("reading creation properties", H5Dget_create_plist(ds.id()));
            let n = ck!("counting filters", H5Pget_nfilters(dcpl.id()));
            let mut out = Vec::with_capacity(n as usize);
            for i in 0..n as c_uint {
                let mut flags: c_uint = 0;
                let mut nelmts: usize = 8;
                let mut cd = [0 as c_uint; 8];
                let mut name = [0 as c_char; 64];
                let mut config: c_uint = 0;
                let id = ck!(
                    "reading a filter",
                    H5Pget_filter2(
                        dcpl.id(),
                        i,
                        &mut flags,
                        &mut nelmts,
                        cd.as_mut_ptr(),
                        name.len(),
                        name.as_mut_ptr(),
                        &mut config
                    )
                );
                out.push(codec::Stage {
                    id,
                    cd: cd[..nelmts.min(8)].to_vec(),
                });
            }
            Ok(out)
        }
    })
}

/// Reads a dataset's fill value as bytes of `dtype` (zero when undefined).
pub(crate) fn ds_fill(ds: &Hid, dtype: &Dtype) -> Result<Vec<u8>> {
    if dtype.is_vlen() {
        // The format allows no other fill than the empty string (pool index 0).
        return Ok(dtype.zero());
    }
    ds_fill_in(&super::vds::create_plist(ds)?, dtype)
}

/// [`ds_fill`] from a dataset's creation properties `dcpl` (`create_plist`).
pub(crate) fn ds_fill_in(dcpl: &Hid, dtype: &Dtype) -> Result<Vec<u8>> {
    if dtype.is_vlen() {
        return Ok(dtype.zero());
    }
    locked(|| {
        // SAFETY: `dcpl` is a dataset creation property list; the buffer holds one
        // element of `dtype`.
        unsafe {
            let mut status = H5D_fill_value_t::H5D_FILL_VALUE_UNDEFINED;
            ck!(
                "reading the fill value status",
                H5Pfill_value_defined(dcpl.id(), &mut status)
            );
            let mut buf = dtype.zero();
            if status != H5D_fill_value_t::H5D_FILL_VALUE_UNDEFINED {
                let mem = dtype_file_type(dtype)?;
                ck!(
                    "reading the fill value",
                    H5Pget_fill_value(dcpl.id(), mem.id(), buf.as_mut_ptr() as *mut c_void)
                );
            }
            Ok(buf)
        }
    })
}

/// The fill value `fill` of a dataset of datatype `file_type`, as
/// `vds::version_facts` reads it, in bytes of `dtype`: what [`ds_fill_in`] reads from
/// that dataset's creation properties (libhdf5 converts a stored value the same way).
pub(crate) fn fill_value(fill: &Fill, file_type: &Hid, dtype: &Dtype) -> Result<Vec<u8>> {
    let bytes = match fill {
        Fill::Value(b) if !dtype.is_vlen() => b,
        _ => return Ok(dtype.zero()),
    };
    let dcpl = locked(|| {
        // SAFETY: `file_type` is an open datatype; `bytes` holds one element of it (as
        // checked here), which libhdf5 copies.
        unsafe {
            if H5Tget_size(file_type.id()) != bytes.len() {
                bail!(
                    CorruptFile,
                    "a version dataset's fill value does not have the size of its datatype"
                );
            }
            let dcpl = hid!(
                "creating a dataset creation list",
                H5Pcreate(*H5P_CLS_DATASET_CREATE)
            );
            ck!(
                "setting a fill value",
                H5Pset_fill_value(dcpl.id(), file_type.id(), bytes.as_ptr() as *const c_void)
            );
            Ok(dcpl)
        }
    })?;
    ds_fill_in(&dcpl, dtype)
}
