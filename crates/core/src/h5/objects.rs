//! Groups, links and objects: testing for, opening, creating, listing, unlinking and
//! copying them.
//!
//! Paths are `/`-separated and relative to the given location; a name with a NUL
//! character is an `INVALID_ARGUMENT` error, never a truncated name.

use std::ffi::{c_char, c_void, CStr};

use hdf5_sys::h5::{herr_t, hsize_t, htri_t, H5_index_t, H5_iter_order_t};
use hdf5_sys::h5e::*;
use hdf5_sys::h5g::*;
use hdf5_sys::h5i::*;
use hdf5_sys::h5l::*;
use hdf5_sys::h5o::*;
use hdf5_sys::h5p::*;

use super::{cstr, h5err, locked, Hid};
use crate::error::Result;

/// Kind of an object in the file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ObjKind {
    /// A group.
    Group,
    /// A dataset.
    Dataset,
    /// Anything else (named datatype, …).
    Other,
}

/// Whether `path` (relative to `loc`, `/`-separated) exists, checking each component.
pub(crate) fn exists(loc: &Hid, path: &str) -> Result<bool> {
    let mut prefix = String::new();
    for part in path.split('/').filter(|p| !p.is_empty()) {
        if !prefix.is_empty() {
            prefix.push('/');
        }
        prefix.push_str(part);
        let c = cstr(&prefix)?;
        let r: htri_t = locked(|| {
            // SAFETY: valid location and C string.
            unsafe { H5Lexists(loc.id(), c.as_ptr(), H5P_DEFAULT) }
        });
        if r <= 0 {
            locked(|| {
                // SAFETY: clearing the default error stack is always valid.
                unsafe { H5Eclear2(H5E_DEFAULT) }
            });
            return Ok(false);
        }
    }
    Ok(true)
}

/// Opens any object.
pub(crate) fn open_object(loc: &Hid, path: &str) -> Result<Hid> {
    let c = cstr(path)?;
    locked(|| {
        // SAFETY: valid location and C string.
        unsafe {
            Ok(hid!(
                &format!("opening '{path}'"),
                H5Oopen(loc.id(), c.as_ptr(), H5P_DEFAULT)
            ))
        }
    })
}

/// Kind of an open object.
pub(crate) fn kind_of(obj: &Hid) -> ObjKind {
    locked(|| {
        // SAFETY: `obj` is an open id.
        match unsafe { H5Iget_type(obj.id()) } {
            H5I_type_t::H5I_GROUP | H5I_type_t::H5I_FILE => ObjKind::Group,
            H5I_type_t::H5I_DATASET => ObjKind::Dataset,
            _ => ObjKind::Other,
        }
    })
}

/// Kind of the object `name` (relative to `loc`) names, without opening it: opening
/// a virtual dataset decodes all its mappings, and a walk that only needs to tell
/// datasets from groups would pay that for every dataset.
pub(crate) fn kind_at(loc: &Hid, name: &str) -> Result<ObjKind> {
    #[cfg(feature = "static")]
    {
        let c = cstr(name)?;
        locked(|| {
            // SAFETY: valid location and C string; `info` is a plain C struct libhdf5
            // fills (the basic fields asked for) before it is read.
            unsafe {
                let mut info: H5O_info2_t = std::mem::zeroed();
                ck!(
                    &format!("looking at '{name}'"),
                    H5Oget_info_by_name3(
                        loc.id(),
                        c.as_ptr(),
                        &mut info,
                        H5O_INFO_BASIC,
                        H5P_DEFAULT
                    )
                );
                Ok(match info.type_ {
                    H5O_type_t::H5O_TYPE_GROUP => ObjKind::Group,
                    H5O_type_t::H5O_TYPE_DATASET => ObjKind::Dataset,
                    _ => ObjKind::Other,
                })
            }
        })
    }
    // Older libraries (the debug build's) lack the call above under this name.
    #[cfg(not(feature = "static"))]
    {
        Ok(kind_of(&open_object(loc, name)?))
    }
}

/// Opens a group.
pub(crate) fn open_group(loc: &Hid, path: &str) -> Result<Hid> {
    let c = cstr(path)?;
    locked(|| {
        // SAFETY: valid location and C string.
        unsafe {
            Ok(hid!(
                &format!("opening group '{path}'"),
                H5Gopen2(loc.id(), c.as_ptr(), H5P_DEFAULT)
            ))
        }
    })
}

/// Creates a group, and any missing intermediate groups.
pub(crate) fn create_group(loc: &Hid, path: &str) -> Result<Hid> {
    let c = cstr(path)?;
    locked(|| {
        // SAFETY: property list created and released here; valid location and name.
        unsafe {
            let lcpl = hid!(
                "creating a link property list",
                H5Pcreate(*H5P_CLS_LINK_CREATE)
            );
            ck!(
                "setting intermediate group creation",
                H5Pset_create_intermediate_group(lcpl.id(), 1)
            );
            Ok(hid!(
                &format!("creating group '{path}'"),
                H5Gcreate2(loc.id(), c.as_ptr(), lcpl.id(), H5P_DEFAULT, H5P_DEFAULT)
            ))
        }
    })
}

/// How many links `group` has (one read of its link info, not an iteration).
pub(crate) fn link_count(group: &Hid) -> Result<u64> {
    locked(|| {
        let mut info = std::mem::MaybeUninit::<H5G_info_t>::zeroed();
        // SAFETY: `group` is an open group; `info` is a writable H5G_info_t that
        // H5Gget_info fills in before it is read.
        unsafe {
            ck!(
                "reading a group's link count",
                H5Gget_info(group.id(), info.as_mut_ptr())
            );
            Ok(info.assume_init().nlinks)
        }
    })
}

/// Names of the links in a group, in name order: one iteration over the group (asking
/// for names by index instead re-sorts the group's links for every name).
pub(crate) fn list(group: &Hid) -> Result<Vec<String>> {
    extern "C" fn collect(
        _group: hid_t,
        name: *const c_char,
        _info: *const H5L_info_t,
        data: *mut c_void,
    ) -> herr_t {
        // SAFETY: `data` is the `Vec<String>` passed to H5Literate below, alive for
        // the whole iteration; `name` is a NUL-terminated string owned by libhdf5
        // for the duration of this call.
        unsafe {
            let names = &mut *(data as *mut Vec<String>);
            names.push(CStr::from_ptr(name).to_string_lossy().into_owned());
        }
        0
    }
    locked(|| {
        let mut names: Vec<String> = Vec::new();
        let mut idx: hsize_t = 0;
        // SAFETY: `group` is an open group; the callback only appends to `names`,
        // which outlives the call.
        unsafe {
            ck!(
                "listing a group",
                H5Literate(
                    group.id(),
                    H5_index_t::H5_INDEX_NAME,
                    H5_iter_order_t::H5_ITER_INC,
                    &mut idx,
                    Some(collect),
                    &mut names as *mut Vec<String> as *mut c_void
                )
            )
        };
        Ok(names)
    })
}

/// Removes a link.
pub(crate) fn unlink(loc: &Hid, path: &str) -> Result<()> {
    let c = cstr(path)?;
    locked(|| {
        // SAFETY: valid location and C string.
        unsafe {
            ck!(
                &format!("deleting '{path}'"),
                H5Ldelete(loc.id(), c.as_ptr(), H5P_DEFAULT)
            )
        };
        Ok(())
    })
}

/// Moves (renames) the link `src_path` of `src` to `dst_path` of `dst`; the object
/// keeps its identity (open handles stay valid).
pub(crate) fn move_link(src: &Hid, src_path: &str, dst: &Hid, dst_path: &str) -> Result<()> {
    from_to(src, src_path, dst, dst_path, "moving", H5Lmove)
}

/// Copies an object (with its attributes) inside the file.
pub(crate) fn copy_object(src: &Hid, src_path: &str, dst: &Hid, dst_path: &str) -> Result<()> {
    from_to(src, src_path, dst, dst_path, "copying", H5Ocopy)
}

/// A libhdf5 call from a path of `src` to a path of `dst` with default property lists
/// (`H5Lmove`, `H5Ocopy`).
fn from_to(
    src: &Hid,
    src_path: &str,
    dst: &Hid,
    dst_path: &str,
    what: &str,
    call: unsafe extern "C" fn(hid_t, *const c_char, hid_t, *const c_char, hid_t, hid_t) -> herr_t,
) -> Result<()> {
    let (a, b) = (cstr(src_path)?, cstr(dst_path)?);
    locked(|| {
        // SAFETY: valid locations and C strings; `call` takes two locations with a
        // path each and two property lists.
        unsafe {
            ck!(
                &format!("{what} '{src_path}' to '{dst_path}'"),
                call(
                    src.id(),
                    a.as_ptr(),
                    dst.id(),
                    b.as_ptr(),
                    H5P_DEFAULT,
                    H5P_DEFAULT
                )
            )
        };
        Ok(())
    })
}
