//! Attributes: listing, testing for, writing, deleting and reading them, as
//! [`AttrValue`]s.
//!
//! Invariants: numbers are written as int64, uint64, float64 or h5py's bool, strings as
//! variable-length UTF-8; a fixed-size attribute of the same type and shape is
//! overwritten in place, any other is deleted and created again. Scalars and 1-D arrays
//! only; other attributes read as `UNSUPPORTED_DTYPE`.

use std::ffi::{c_char, c_void, CStr, CString};
use std::ptr;

use hdf5_sys::h5::{herr_t, hsize_t, H5_index_t, H5_iter_order_t, H5free_memory};
use hdf5_sys::h5a::*;
use hdf5_sys::h5i::hid_t;
use hdf5_sys::h5p::*;
use hdf5_sys::h5s::*;
use hdf5_sys::h5t::*;

use super::io::simple_space;
use super::types::{dtype_file_type, dtype_of};
use super::{cstr, h5err, locked, Hid};
use crate::attrs::AttrValue;
use crate::dtype::Dtype;
use crate::error::{bail, Error, Result};

unsafe extern "C" fn attr_name_cb(
    _loc: hid_t,
    name: *const c_char,
    _info: *const H5A_info_t,
    data: *mut c_void,
) -> herr_t {
    // SAFETY: `data` is the Vec<String> passed to H5Aiterate2; `name` is a valid C string.
    unsafe {
        let v = &mut *(data as *mut Vec<String>);
        v.push(CStr::from_ptr(name).to_string_lossy().into_owned());
    }
    0
}

/// Names of an object's attributes, in name order.
pub(crate) fn attr_names(obj: &Hid) -> Result<Vec<String>> {
    let mut names: Vec<String> = Vec::new();
    locked(|| {
        let mut idx: hsize_t = 0;
        // SAFETY: the callback only appends to `names`, which outlives the call.
        unsafe {
            ck!(
                "listing attributes",
                H5Aiterate2(
                    obj.id(),
                    H5_index_t::H5_INDEX_NAME,
                    H5_iter_order_t::H5_ITER_INC,
                    &mut idx,
                    Some(attr_name_cb),
                    &mut names as *mut Vec<String> as *mut c_void
                )
            )
        };
        Ok::<(), Error>(())
    })?;
    Ok(names)
}

/// [`attr_names`] of the object at `path` relative to `loc`, without opening that
/// object (opening a virtual dataset decodes all its mappings, and iterating over
/// its attributes by name opens it).
pub(crate) fn attr_names_at(loc: &Hid, path: &str) -> Result<Vec<String>> {
    let p = cstr(path)?;
    locked(|| {
        // SAFETY: `loc` is open and `p` a valid C string; the info struct is plain data
        // written by libhdf5; each name buffer holds the size libhdf5 reported plus
        // its terminating NUL.
        unsafe {
            let mut info: hdf5_sys::h5o::H5O_info2_t = std::mem::zeroed();
            ck!(
                "counting attributes",
                hdf5_sys::h5o::H5Oget_info_by_name3(
                    loc.id(),
                    p.as_ptr(),
                    &mut info,
                    hdf5_sys::h5o::H5O_INFO_NUM_ATTRS,
                    H5P_DEFAULT
                )
            );
            let mut names = Vec::with_capacity(info.num_attrs as usize);
            for i in 0..info.num_attrs {
                let name_at = |buf: *mut c_char, size: usize| {
                    H5Aget_name_by_idx(
                        loc.id(),
                        p.as_ptr(),
                        H5_index_t::H5_INDEX_NAME,
                        H5_iter_order_t::H5_ITER_INC,
                        i,
                        buf,
                        size,
                        H5P_DEFAULT,
                    )
                };
                let len = ck!("reading an attribute name", name_at(ptr::null_mut(), 0));
                let mut buf = vec![0u8; len as usize + 1];
                ck!(
                    "reading an attribute name",
                    name_at(buf.as_mut_ptr() as *mut c_char, buf.len())
                );
                buf.truncate(len as usize);
                names.push(String::from_utf8_lossy(&buf).into_owned());
            }
            Ok(names)
        }
    })
}

/// Whether an attribute exists.
pub(crate) fn attr_exists(obj: &Hid, name: &str) -> Result<bool> {
    let c = cstr(name)?;
    locked(|| {
        // SAFETY: valid object and C string.
        Ok(unsafe { ck!("checking an attribute", H5Aexists(obj.id(), c.as_ptr())) } > 0)
    })
}

fn vlen_str_type() -> Result<Hid> {
    // SAFETY: copying and modifying a fresh string type.
    unsafe {
        let t = hid!("creating a string type", H5Tcopy(*H5T_C_S1));
        ck!("creating a string type", H5Tset_size(t.id(), usize::MAX));
        ck!(
            "creating a string type",
            H5Tset_cset(t.id(), H5T_cset_t::H5T_CSET_UTF8)
        );
        Ok(t)
    }
}

/// Overwrites attribute `name` of `obj` in place when it has file type `t` and shape
/// `dims` and `t` is of fixed size (a version's `committed` flag, the hash table's
/// `largest_index`: rewritten by every commit); otherwise deletes it if present (a
/// variable-length value is replaced whole, so its old heap object goes with it) and
/// returns false, for the caller to create it.
///
/// # Safety
/// `p` points to the value in `t`'s layout, `dims` elements of it.
unsafe fn overwrite_attr(
    obj: &Hid,
    name: &CStr,
    t: &Hid,
    dims: &[u64],
    p: *const c_void,
) -> Result<bool> {
    // SAFETY: valid object, C string and type; the attribute, its type and space are
    // opened and released here; `p` is as the caller promises.
    unsafe {
        if H5Aexists(obj.id(), name.as_ptr()) <= 0 {
            return Ok(false);
        }
        if H5Tis_variable_str(t.id()) == 0 && H5Tdetect_class(t.id(), H5T_class_t::H5T_VLEN) == 0 {
            let a = hid!(
                "opening an attribute",
                H5Aopen(obj.id(), name.as_ptr(), H5P_DEFAULT)
            );
            let at = hid!("reading an attribute's type", H5Aget_type(a.id()));
            let space = hid!("reading an attribute's shape", H5Aget_space(a.id()));
            let nd = H5Sget_simple_extent_ndims(space.id());
            let mut have = vec![0 as hsize_t; nd.max(0) as usize];
            let same_shape = nd >= 0
                && nd as usize == dims.len()
                && H5Sget_simple_extent_dims(space.id(), have.as_mut_ptr(), ptr::null_mut()) >= 0
                && have == dims;
            if same_shape && H5Tequal(at.id(), t.id()) > 0 {
                if dims.iter().product::<u64>() > 0 {
                    ck!("writing an attribute", H5Awrite(a.id(), t.id(), p));
                }
                return Ok(true);
            }
        }
        ck!("replacing an attribute", H5Adelete(obj.id(), name.as_ptr()));
        Ok(false)
    }
}

/// Writes (or replaces) an attribute.
pub(crate) fn write_attr(obj: &Hid, name: &str, value: &AttrValue) -> Result<()> {
    put_attr(obj, name, value, false)
}

/// Writes an attribute of an object just created, which has none yet (skips the
/// check for one to replace).
pub(crate) fn write_new_attr(obj: &Hid, name: &str, value: &AttrValue) -> Result<()> {
    put_attr(obj, name, value, true)
}

fn put_attr(obj: &Hid, name: &str, value: &AttrValue, fresh: bool) -> Result<()> {
    let c = cstr(name)?;
    locked(|| {
        // SAFETY: types, spaces and the attribute are created and released here; each
        // buffer matches the memory type and element count given to H5Awrite.
        unsafe {
            let scalar = |t: Hid, p: *const c_void| -> Result<()> {
                if !fresh && overwrite_attr(obj, &c, &t, &[], p)? {
                    return Ok(());
                }
                let space = simple_space(&[], None)?;
                let a = hid!(
                    "creating an attribute",
                    H5Acreate2(
                        obj.id(),
                        c.as_ptr(),
                        t.id(),
                        space.id(),
                        H5P_DEFAULT,
                        H5P_DEFAULT
                    )
                );
                ck!("writing an attribute", H5Awrite(a.id(), t.id(), p));
                Ok(())
            };
            let array = |t: Hid, n: usize, p: *const c_void| -> Result<()> {
                if !fresh && overwrite_attr(obj, &c, &t, &[n as u64], p)? {
                    return Ok(());
                }
                let space = simple_space(&[n as u64], None)?;
                let a = hid!(
                    "creating an attribute",
                    H5Acreate2(
                        obj.id(),
                        c.as_ptr(),
                        t.id(),
                        space.id(),
                        H5P_DEFAULT,
                        H5P_DEFAULT
                    )
                );
                if n > 0 {
                    ck!("writing an attribute", H5Awrite(a.id(), t.id(), p));
                }
                Ok(())
            };
            match value {
                AttrValue::Int(v) => scalar(
                    dtype_file_type(&Dtype::Int64)?,
                    v as *const i64 as *const c_void,
                ),
                AttrValue::UInt(v) => scalar(
                    dtype_file_type(&Dtype::UInt64)?,
                    v as *const u64 as *const c_void,
                ),
                AttrValue::Float(v) => scalar(
                    dtype_file_type(&Dtype::Float64)?,
                    v as *const f64 as *const c_void,
                ),
                AttrValue::Bool(v) => {
                    let b = *v as i8;
                    scalar(
                        dtype_file_type(&Dtype::Bool)?,
                        &b as *const i8 as *const c_void,
                    )
                }
                AttrValue::Str(s) => {
                    let cs = cstr(s)?;
                    let p = cs.as_ptr();
                    scalar(
                        vlen_str_type()?,
                        &p as *const *const c_char as *const c_void,
                    )
                }
                AttrValue::IntArray(v) => array(
                    dtype_file_type(&Dtype::Int64)?,
                    v.len(),
                    v.as_ptr() as *const c_void,
                ),
                AttrValue::UIntArray(v) => array(
                    dtype_file_type(&Dtype::UInt64)?,
                    v.len(),
                    v.as_ptr() as *const c_void,
                ),
                AttrValue::FloatArray(v) => array(
                    dtype_file_type(&Dtype::Float64)?,
                    v.len(),
                    v.as_ptr() as *const c_void,
                ),
                AttrValue::BoolArray(v) => {
                    let b: Vec<i8> = v.iter().map(|&x| x as i8).collect();
                    array(
                        dtype_file_type(&Dtype::Bool)?,
                        b.len(),
                        b.as_ptr() as *const c_void,
                    )
                }
                AttrValue::StrArray(v) => {
                    let cs: Vec<CString> = v.iter().map(|s| cstr(s)).collect::<Result<_>>()?;
                    let ps: Vec<*const c_char> = cs.iter().map(|s| s.as_ptr()).collect();
                    array(vlen_str_type()?, ps.len(), ps.as_ptr() as *const c_void)
                }
            }
        }
    })
}

/// Deletes an attribute if present.
pub(crate) fn delete_attr(obj: &Hid, name: &str) -> Result<()> {
    let c = cstr(name)?;
    locked(|| {
        // SAFETY: valid object and C string.
        unsafe {
            if H5Aexists(obj.id(), c.as_ptr()) > 0 {
                ck!("deleting an attribute", H5Adelete(obj.id(), c.as_ptr()));
            }
        }
        Ok(())
    })
}

/// Reads an attribute. Types outside [`AttrValue`] give `UNSUPPORTED_DTYPE`.
pub(crate) fn read_attr(obj: &Hid, name: &str) -> Result<AttrValue> {
    let c = cstr(name)?;
    let a = locked(|| {
        // SAFETY: `obj` is open and `c` a valid C string; the id is owned by the Hid.
        unsafe {
            Ok(hid!(
                &format!("opening attribute '{name}'"),
                H5Aopen(obj.id(), c.as_ptr(), H5P_DEFAULT)
            ))
        }
    })?;
    read_opened_attr(&a, name)
}

/// [`read_attr`] of the object at `path` relative to `loc`, without opening that
/// object (opening a virtual dataset decodes all its mappings).
pub(crate) fn read_attr_at(loc: &Hid, path: &str, name: &str) -> Result<AttrValue> {
    let (p, c) = (cstr(path)?, cstr(name)?);
    let a = locked(|| {
        // SAFETY: `loc` is open, `p` and `c` valid C strings; the id is owned by the Hid.
        unsafe {
            Ok(hid!(
                &format!("opening attribute '{name}'"),
                H5Aopen_by_name(loc.id(), p.as_ptr(), c.as_ptr(), H5P_DEFAULT, H5P_DEFAULT)
            ))
        }
    })?;
    read_opened_attr(&a, name)
}

/// Reads the open attribute `a`, called `name`.
fn read_opened_attr(a: &Hid, name: &str) -> Result<AttrValue> {
    locked(|| {
        // SAFETY: `a` is an open attribute; its type and space are opened and released
        // here; buffers match the element counts read from the space; vlen strings
        // returned by HDF5 are freed with H5free_memory.
        unsafe {
            let t = hid!("reading an attribute type", H5Aget_type(a.id()));
            let space = hid!("reading an attribute space", H5Aget_space(a.id()));
            let rank = ck!(
                "reading an attribute rank",
                H5Sget_simple_extent_ndims(space.id())
            );
            let n = ck!(
                "counting attribute elements",
                H5Sget_simple_extent_npoints(space.id())
            ) as usize;
            let is_scalar = rank == 0;
            if rank > 1 {
                bail!(UnsupportedDtype, "attribute '{name}' has {rank} dimensions; only scalars and 1-D arrays are supported");
            }
            let class = H5Tget_class(t.id());
            match class {
                H5T_class_t::H5T_STRING => {
                    let mut out = Vec::with_capacity(n);
                    if H5Tis_variable_str(t.id()) > 0 {
                        let mem = vlen_str_type()?;
                        let mut ptrs: Vec<*mut c_char> = vec![ptr::null_mut(); n];
                        ck!(
                            "reading a string attribute",
                            H5Aread(a.id(), mem.id(), ptrs.as_mut_ptr() as *mut c_void)
                        );
                        for p in ptrs {
                            if p.is_null() {
                                out.push(String::new());
                            } else {
                                out.push(CStr::from_ptr(p).to_string_lossy().into_owned());
                                H5free_memory(p as *mut c_void);
                            }
                        }
                    } else {
                        let size = H5Tget_size(t.id());
                        let mut buf = vec![0u8; size * n];
                        ck!(
                            "reading a string attribute",
                            H5Aread(a.id(), t.id(), buf.as_mut_ptr() as *mut c_void)
                        );
                        for chunk in buf.chunks(size.max(1)) {
                            let end = chunk.iter().position(|&b| b == 0).unwrap_or(chunk.len());
                            out.push(String::from_utf8_lossy(&chunk[..end]).into_owned());
                        }
                    }
                    Ok(if is_scalar {
                        AttrValue::Str(out.into_iter().next().unwrap_or_default())
                    } else {
                        AttrValue::StrArray(out)
                    })
                }
                H5T_class_t::H5T_INTEGER | H5T_class_t::H5T_FLOAT | H5T_class_t::H5T_ENUM => {
                    let d = match dtype_of(&t) {
                        Ok(d) => d,
                        Err(e) => bail!(UnsupportedDtype, "attribute '{name}': {}", e.message),
                    };
                    let (mem_d, kind) = match d {
                        Dtype::Float16 | Dtype::Float32 | Dtype::Float64 => (Dtype::Float64, 0),
                        Dtype::Bool => (Dtype::Bool, 1),
                        Dtype::UInt64 => (Dtype::UInt64, 2),
                        _ => (Dtype::Int64, 3),
                    };
                    let mem = dtype_file_type(&mem_d)?;
                    let mut buf = vec![0u8; mem_d.size() * n];
                    if n > 0 {
                        ck!(
                            "reading an attribute",
                            H5Aread(a.id(), mem.id(), buf.as_mut_ptr() as *mut c_void)
                        );
                    }
                    let w = mem_d.size();
                    let v8 = |c: &[u8]| {
                        let mut a = [0u8; 8];
                        a.copy_from_slice(c);
                        a
                    };
                    Ok(match (kind, is_scalar) {
                        (0, true) => AttrValue::Float(f64::from_le_bytes(v8(&buf[..8]))),
                        (0, false) => AttrValue::FloatArray(
                            buf.chunks_exact(w)
                                .map(|c| f64::from_le_bytes(v8(c)))
                                .collect(),
                        ),
                        (1, true) => AttrValue::Bool(buf[0] != 0),
                        (1, false) => AttrValue::BoolArray(buf.iter().map(|&b| b != 0).collect()),
                        (2, true) => AttrValue::UInt(u64::from_le_bytes(v8(&buf[..8]))),
                        (2, false) => AttrValue::UIntArray(
                            buf.chunks_exact(w)
                                .map(|c| u64::from_le_bytes(v8(c)))
                                .collect(),
                        ),
                        (_, true) => AttrValue::Int(i64::from_le_bytes(v8(&buf[..8]))),
                        (_, false) => AttrValue::IntArray(
                            buf.chunks_exact(w)
                                .map(|c| i64::from_le_bytes(v8(c)))
                                .collect(),
                        ),
                    })
                }
                other => bail!(
                    UnsupportedDtype,
                    "attribute '{name}' has HDF5 type class {other:?}, which is not supported"
                ),
            }
        }
    })
}
