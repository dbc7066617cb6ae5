//! Virtual datasets: reading back a version dataset's mappings ([`read_mappings`]),
//! or only the one reaching furthest into the raw data ([`furthest_source`]).
//!
//! Invariant: [`read_mappings`] reports a mapping that is not one contiguous block,
//! whose source and virtual regions differ in shape, or whose source does not start at
//! a slot boundary as `CORRUPT_FILE`, never a guess. Version datasets are created in
//! `format`.

use std::ffi::c_char;
use std::ptr;

use hdf5_sys::h5::hsize_t;
use hdf5_sys::h5d::*;
use hdf5_sys::h5e::*;
use hdf5_sys::h5i::hid_t;
use hdf5_sys::h5p::*;
use hdf5_sys::h5s::*;

use super::{h5err, locked, Hid};
use crate::error::{bail, Result};

/// One mapping of a version dataset: the chunk region starting at `vstart` with
/// `extent` comes from raw_data rows starting at `src_row`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Mapping {
    /// Start of the region in the virtual dataset.
    pub vstart: Vec<u64>,
    /// Extent of the region (edge-trimmed chunk shape).
    pub extent: Vec<u64>,
    /// First raw_data row of the slot.
    pub src_row: u64,
}

fn regular_block(space: hid_t, what: &str) -> Result<(Vec<u64>, Vec<u64>)> {
    // SAFETY: `space` is a dataspace id owned by the caller; buffers have `rank` entries.
    unsafe {
        let rank = ck!(
            "reading a selection rank",
            H5Sget_simple_extent_ndims(space)
        ) as usize;
        if H5Sget_select_type(space) != H5S_sel_type::H5S_SEL_HYPERSLABS
            || H5Sis_regular_hyperslab(space) <= 0
        {
            H5Eclear2(H5E_DEFAULT);
            bail!(
                CorruptFile,
                "{what} of a virtual mapping is not a regular hyperslab"
            );
        }
        let (mut start, mut stride, mut count, mut block) = (
            vec![0u64; rank],
            vec![0u64; rank],
            vec![0u64; rank],
            vec![0u64; rank],
        );
        ck!(
            "reading a hyperslab",
            H5Sget_regular_hyperslab(
                space,
                start.as_mut_ptr(),
                stride.as_mut_ptr(),
                count.as_mut_ptr(),
                block.as_mut_ptr()
            )
        );
        let mut extent = Vec::with_capacity(rank);
        for i in 0..rank {
            extent.push(if count[i] == 1 {
                block[i]
            } else if block[i] == 1 && stride[i] == 1 {
                count[i]
            } else {
                bail!(
                    CorruptFile,
                    "{what} of a virtual mapping is not one contiguous block"
                );
            });
        }
        Ok((start, extent))
    }
}

/// The mapping of a version dataset whose source reaches furthest along axis 0.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct FurthestSource {
    /// First source row of that mapping.
    pub start: u64,
    /// One past its last source row.
    pub end: u64,
    /// Where the mapping starts in the version dataset.
    pub vstart: Vec<u64>,
    /// Source dataset name of the first mapping.
    pub source: String,
}

/// The creation properties of a dataset (a copy: for a virtual dataset, with all its
/// mappings). Reading several things of one dataset's creation properties from one
/// copy saves a copy each: for tens of thousands of mappings, that is most of the
/// cost of a version dataset's first read.
pub(crate) fn create_plist(ds: &Hid) -> Result<Hid> {
    locked(|| {
        // SAFETY: `ds` is an open dataset; the plist id is owned by the returned Hid.
        unsafe {
            Ok(hid!(
                "reading creation properties",
                H5Dget_create_plist(ds.id())
            ))
        }
    })
}

/// The number of mappings of a virtual dataset's creation properties `dcpl`; `None`
/// when they are not a virtual dataset's. Call under the library lock.
///
/// # Safety
/// `dcpl` must be a dataset creation property list.
unsafe fn virtual_count(dcpl: &Hid) -> Result<Option<usize>> {
    // SAFETY: per the contract.
    unsafe {
        if H5Pget_layout(dcpl.id()) != H5D_layout_t::H5D_VIRTUAL {
            return Ok(None);
        }
        let mut n: usize = 0;
        ck!(
            "counting virtual mappings",
            H5Pget_virtual_count(dcpl.id(), &mut n)
        );
        Ok(Some(n))
    }
}

/// [`create_plist`] and [`virtual_count`].
///
/// # Safety
/// `ds` must be an open dataset id; call under the library lock.
unsafe fn virtual_plist(ds: &Hid) -> Result<Option<(Hid, usize)>> {
    let dcpl = create_plist(ds)?;
    // SAFETY: `dcpl` is a dataset creation property list.
    Ok(unsafe { virtual_count(&dcpl)? }.map(|n| (dcpl, n)))
}

/// The source dataset name of mapping `i` of a virtual dataset's creation
/// properties. Call under the library lock.
///
/// # Safety
/// `dcpl` must be a virtual dataset's creation plist with more than `i` mappings.
unsafe fn virtual_source_name(dcpl: &Hid, i: usize) -> Result<String> {
    // SAFETY: per the contract; the buffer is sized from HDF5's answer.
    unsafe {
        let len = ck!(
            "reading a source name",
            H5Pget_virtual_dsetname(dcpl.id(), i, ptr::null_mut(), 0)
        );
        let mut buf = vec![0u8; len as usize + 1];
        ck!(
            "reading a source name",
            H5Pget_virtual_dsetname(dcpl.id(), i, buf.as_mut_ptr() as *mut c_char, buf.len())
        );
        buf.truncate(len as usize);
        Ok(String::from_utf8_lossy(&buf).into_owned())
    }
}

/// The mapping whose source rows reach furthest, of a version dataset; `None` when it
/// is not virtual or maps nothing. Reads only each source selection's bounds: a
/// fraction of [`read_mappings`]'s work, for scans over every version.
pub(crate) fn furthest_source(ds: &Hid) -> Result<Option<FurthestSource>> {
    locked(|| {
        // SAFETY: ids returned by the H5Pget_virtual_* calls are owned and released;
        // bound buffers hold H5S_MAX_RANK entries; name buffers are sized from HDF5's
        // answer.
        unsafe {
            let Some((dcpl, n)) = virtual_plist(ds)? else {
                return Ok(None);
            };
            if n == 0 {
                return Ok(None);
            }
            let mut lo = [0 as hsize_t; 32];
            let mut hi = [0 as hsize_t; 32];
            let mut best = (0usize, 0u64, 0u64);
            for i in 0..n {
                let ss = hid!(
                    "reading a source region",
                    H5Pget_virtual_srcspace(dcpl.id(), i)
                );
                ck!(
                    "reading a source region's bounds",
                    H5Sget_select_bounds(ss.id(), lo.as_mut_ptr(), hi.as_mut_ptr())
                );
                let end = hi[0].saturating_add(1);
                if i == 0 || end > best.2 {
                    best = (i, lo[0], end);
                }
            }
            let vs = hid!(
                "reading a virtual region",
                H5Pget_virtual_vspace(dcpl.id(), best.0)
            );
            let rank = ck!(
                "reading a selection rank",
                H5Sget_simple_extent_ndims(vs.id())
            ) as usize;
            ck!(
                "reading a virtual region's bounds",
                H5Sget_select_bounds(vs.id(), lo.as_mut_ptr(), hi.as_mut_ptr())
            );
            Ok(Some(FurthestSource {
                start: best.1,
                end: best.2,
                vstart: lo[..rank.min(32)].to_vec(),
                source: virtual_source_name(&dcpl, 0)?,
            }))
        }
    })
}

/// Decodes a version dataset's mappings. `None` when the dataset is not virtual
/// (a fill-only dataset). Each mapping's source must be `raw_path`.
pub(crate) fn read_mappings(ds: &Hid) -> Result<Option<(Vec<Mapping>, Option<String>)>> {
    read_mappings_in(&create_plist(ds)?)
}

/// [`read_mappings`] from a version dataset's creation properties `dcpl`
/// ([`create_plist`]).
pub(crate) fn read_mappings_in(dcpl: &Hid) -> Result<Option<(Vec<Mapping>, Option<String>)>> {
    locked(|| {
        // SAFETY: `dcpl` is a dataset creation property list; ids returned by the
        // H5Pget_virtual_* calls are owned and released; name buffers are sized from
        // HDF5's answer.
        unsafe {
            let Some(n) = virtual_count(dcpl)? else {
                return Ok(None);
            };
            let mut out = Vec::with_capacity(n);
            let mut source: Option<String> = None;
            for i in 0..n {
                let vs = hid!(
                    "reading a virtual region",
                    H5Pget_virtual_vspace(dcpl.id(), i)
                );
                let ss = hid!(
                    "reading a source region",
                    H5Pget_virtual_srcspace(dcpl.id(), i)
                );
                let (vstart, vext) = regular_block(vs.id(), "the virtual region")?;
                let (sstart, sext) = regular_block(ss.id(), "the source region")?;
                if vext != sext {
                    bail!(
                        CorruptFile,
                        "virtual mapping {i} has a source region of another shape"
                    );
                }
                if sstart.iter().skip(1).any(|&s| s != 0) {
                    bail!(
                        CorruptFile,
                        "virtual mapping {i} does not start at a slot boundary"
                    );
                }
                if i == 0 {
                    source = Some(virtual_source_name(dcpl, 0)?);
                }
                out.push(Mapping {
                    vstart,
                    extent: vext,
                    src_row: sstart[0],
                });
            }
            Ok(Some((out, source)))
        }
    })
}
