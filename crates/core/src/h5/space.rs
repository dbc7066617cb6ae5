//! What libhdf5 reports about the space a file's live objects take (as `h5stat`
//! counts it): file metadata (superblock, object headers, group and chunk indexes,
//! local and fractal heaps, attribute storage, virtual-dataset mappings) and the
//! stored data of every dataset. From metadata only: no dataset is read.

use std::ffi::{c_char, c_void};

use hdf5_sys::h5::{herr_t, H5_ih_info_t, H5_index_t, H5_iter_order_t};
use hdf5_sys::h5d::{H5Dget_storage_size, H5Dopen2};
use hdf5_sys::h5f::{H5F_info2_t, H5Fget_info2};
use hdf5_sys::h5i::hid_t;
use hdf5_sys::h5o::{
    H5O_hdr_info_t, H5O_info2_t, H5O_native_info_t, H5O_type_t, H5Oget_native_info, H5Ovisit3,
    H5O_INFO_BASIC, H5O_NATIVE_INFO_ALL,
};
use hdf5_sys::h5p::H5P_DEFAULT;

use super::{h5err, locked, Hid};
use crate::error::Result;

/// The space of a file's live objects, in bytes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct FileSpace {
    /// Superblock, shared-message tables, object headers, indexes, heaps and
    /// attribute storage of every object reachable from the root group.
    pub metadata: u64,
    /// Stored data of every dataset (chunks as stored, after filters; 0 for a
    /// virtual dataset, whose mappings count as metadata).
    pub data: u64,
}

/// `H5O_native_info_t` with its fields readable (hdf5-sys keeps them private); the
/// same layout as libhdf5's header.
#[repr(C)]
struct NativeInfo {
    hdr: H5O_hdr_info_t,
    obj: H5_ih_info_t,
    attr: H5_ih_info_t,
}

struct Visit {
    dapl: hid_t,
    space: FileSpace,
    failed: bool,
}

extern "C" fn visit(
    obj: hid_t,
    name: *const c_char,
    info: *const H5O_info2_t,
    op: *mut c_void,
) -> herr_t {
    // SAFETY: libhdf5 passes the location the visit started at, the object's name
    // relative to it (NUL-terminated) and its basic info; `op` is the `Visit` given to
    // H5Ovisit3 below, alive for the whole visit. Every id opened here is closed here.
    unsafe {
        let v = &mut *(op as *mut Visit);
        let id = if (*info).type_ == H5O_type_t::H5O_TYPE_DATASET {
            H5Dopen2(obj, name, v.dapl)
        } else {
            hdf5_sys::h5o::H5Oopen(obj, name, H5P_DEFAULT)
        };
        if id < 0 {
            v.failed = true;
            return -1;
        }
        let id = Hid(id);
        let mut ni: NativeInfo = std::mem::zeroed();
        if H5Oget_native_info(
            id.id(),
            &mut ni as *mut NativeInfo as *mut H5O_native_info_t,
            H5O_NATIVE_INFO_ALL,
        ) < 0
        {
            v.failed = true;
            return -1;
        }
        v.space.metadata += ni.hdr.space.total
            + ni.obj.index_size
            + ni.obj.heap_size
            + ni.attr.index_size
            + ni.attr.heap_size;
        if (*info).type_ == H5O_type_t::H5O_TYPE_DATASET {
            v.space.data += H5Dget_storage_size(id.id());
        }
        0
    }
}

/// The space of every object reachable from the root of `file`, and of the file's
/// own metadata. Opens each object once (datasets with libhdf5's chunk cache off, as
/// `open_storage` does), closes it again.
pub(crate) fn file_space(file: &Hid) -> Result<FileSpace> {
    locked(|| {
        // SAFETY: `file` is an open file; `info` is a valid out-struct; the property
        // list is created and released here; the callback only reads and opens by
        // the names libhdf5 gives it.
        unsafe {
            let mut info: H5F_info2_t = std::mem::zeroed();
            ck!(
                "reading the file's metadata sizes",
                H5Fget_info2(file.id(), &mut info)
            );
            let dapl = super::io::storage_dapl()?;
            let mut v = Visit {
                dapl: dapl.id(),
                space: FileSpace {
                    metadata: info.super_.super_size
                        + info.super_.super_ext_size
                        + info.sohm.hdr_size
                        + info.sohm.msgs_info.index_size
                        + info.sohm.msgs_info.heap_size,
                    data: 0,
                },
                failed: false,
            };
            let r = H5Ovisit3(
                file.id(),
                H5_index_t::H5_INDEX_NAME,
                H5_iter_order_t::H5_ITER_NATIVE,
                Some(visit),
                &mut v as *mut Visit as *mut c_void,
                H5O_INFO_BASIC,
            );
            if r < 0 || v.failed {
                return Err(h5err("measuring the file's objects"));
            }
            Ok(v.space)
        }
    })
}
