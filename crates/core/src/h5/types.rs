//! Datatypes: the HDF5 type of each engine [`Dtype`], and the `Dtype` of an HDF5 type.
//!
//! Invariants: types are built the way h5py builds them (little-endian numbers,
//! float16 from IEEE fields, bool as an int8 enum of `FALSE`/`TRUE`, null-padded
//! fixed-length strings), so files read the same in Python; a type outside `Dtype`
//! reads as `UNSUPPORTED_DTYPE` naming it, never as a near match.

use std::ffi::{c_uint, c_void, CStr};

use hdf5_sys::h5::H5free_memory;
use hdf5_sys::h5i::hid_t;
use hdf5_sys::h5t::*;

use super::{cstr, h5err, locked, Hid};
use crate::dtype::Dtype;
use crate::error::{bail, Result};

pub(super) fn dtype_file_type(d: &Dtype) -> Result<Hid> {
    // SAFETY: every branch copies a predefined type and adjusts the copy, or builds an
    // enum/compound type from such copies; member names are valid C strings.
    unsafe {
        Ok(match d {
            Dtype::Int8 => hid!("copying a type", H5Tcopy(*H5T_STD_I8LE)),
            Dtype::Int16 => hid!("copying a type", H5Tcopy(*H5T_STD_I16LE)),
            Dtype::Int32 => hid!("copying a type", H5Tcopy(*H5T_STD_I32LE)),
            Dtype::Int64 => hid!("copying a type", H5Tcopy(*H5T_STD_I64LE)),
            Dtype::UInt8 => hid!("copying a type", H5Tcopy(*H5T_STD_U8LE)),
            Dtype::UInt16 => hid!("copying a type", H5Tcopy(*H5T_STD_U16LE)),
            Dtype::UInt32 => hid!("copying a type", H5Tcopy(*H5T_STD_U32LE)),
            Dtype::UInt64 => hid!("copying a type", H5Tcopy(*H5T_STD_U64LE)),
            Dtype::Float16 => {
                // IEEE binary16 built the way h5py builds it, so it is the same type
                // on every libhdf5 (older ones have no predefined half type).
                let t = hid!("copying a type", H5Tcopy(*H5T_IEEE_F32LE));
                ck!("building float16", H5Tset_fields(t.id(), 15, 10, 5, 0, 10));
                ck!("building float16", H5Tset_size(t.id(), 2));
                ck!("building float16", H5Tset_ebias(t.id(), 15));
                t
            }
            Dtype::Float32 => hid!("copying a type", H5Tcopy(*H5T_IEEE_F32LE)),
            Dtype::Float64 => hid!("copying a type", H5Tcopy(*H5T_IEEE_F64LE)),
            Dtype::Bool => {
                // h5py's bool: enum over int8 with FALSE=0, TRUE=1.
                let t = hid!("creating the bool enum", H5Tenum_create(*H5T_NATIVE_INT8));
                let (f, tr) = (0i8, 1i8);
                ck!(
                    "building the bool enum",
                    H5Tenum_insert(t.id(), c"FALSE".as_ptr(), &f as *const i8 as *const c_void)
                );
                ck!(
                    "building the bool enum",
                    H5Tenum_insert(t.id(), c"TRUE".as_ptr(), &tr as *const i8 as *const c_void)
                );
                t
            }
            Dtype::FixedString { len, utf8 } => {
                let t = hid!("copying a type", H5Tcopy(*H5T_C_S1));
                ck!("sizing a string type", H5Tset_size(t.id(), *len));
                ck!(
                    "setting string padding",
                    H5Tset_strpad(t.id(), H5T_str_t::H5T_STR_NULLPAD)
                );
                ck!("setting a character set", H5Tset_cset(t.id(), cset(*utf8)));
                t
            }
            Dtype::VlenString { utf8 } => {
                let t = hid!("copying a type", H5Tcopy(*H5T_C_S1));
                ck!("sizing a string type", H5Tset_size(t.id(), H5T_VARIABLE));
                ck!("setting a character set", H5Tset_cset(t.id(), cset(*utf8)));
                t
            }
            Dtype::Compound(c) => {
                let t = hid!(
                    "creating a compound type",
                    H5Tcreate(H5T_class_t::H5T_COMPOUND, c.size)
                );
                for f in &c.fields {
                    let ft = dtype_file_type(&f.dtype)?;
                    let name = cstr(&f.name)?;
                    ck!(
                        "building a compound type",
                        H5Tinsert(t.id(), name.as_ptr(), f.offset, ft.id())
                    );
                }
                t
            }
        })
    }
}

fn cset(utf8: bool) -> H5T_cset_t {
    if utf8 {
        H5T_cset_t::H5T_CSET_UTF8
    } else {
        H5T_cset_t::H5T_CSET_ASCII
    }
}

/// The engine dtype of an HDF5 type, or `UNSUPPORTED_DTYPE` naming it.
pub(crate) fn dtype_of(t: &Hid) -> Result<Dtype> {
    locked(|| {
        // SAFETY: `t` is an open datatype id.
        unsafe { dtype_of_id(t.id()) }
    })
}

/// # Safety
/// `t` must be an open datatype id; call under the library lock.
unsafe fn dtype_of_id(t: hid_t) -> Result<Dtype> {
    let class = H5Tget_class(t);
    let size = H5Tget_size(t);
    let little = || H5Tget_order(t) == H5T_order_t::H5T_ORDER_LE;
    match class {
        H5T_class_t::H5T_INTEGER => {
            let signed = H5Tget_sign(t) == H5T_sign_t::H5T_SGN_2;
            if !little() {
                bail!(
                    UnsupportedDtype,
                    "big-endian integer datasets are not supported"
                );
            }
            Ok(match (signed, size) {
                (true, 1) => Dtype::Int8,
                (true, 2) => Dtype::Int16,
                (true, 4) => Dtype::Int32,
                (true, 8) => Dtype::Int64,
                (false, 1) => Dtype::UInt8,
                (false, 2) => Dtype::UInt16,
                (false, 4) => Dtype::UInt32,
                (false, 8) => Dtype::UInt64,
                _ => bail!(
                    UnsupportedDtype,
                    "integer type of {size} bytes is not supported"
                ),
            })
        }
        H5T_class_t::H5T_FLOAT => {
            if !little() {
                bail!(UnsupportedDtype, "big-endian float datasets are not supported");
            }
            match size {
                2 => Ok(Dtype::Float16),
                4 => Ok(Dtype::Float32),
                8 => Ok(Dtype::Float64),
                _ => bail!(
                    UnsupportedDtype,
                    "float type of {size} bytes (float{}) is not supported",
                    size * 8
                ),
            }
        }
        H5T_class_t::H5T_ENUM => {
            let n = H5Tget_nmembers(t);
            let mut names = Vec::new();
            for i in 0..n.max(0) as c_uint {
                let p = H5Tget_member_name(t, i);
                if !p.is_null() {
                    names.push(CStr::from_ptr(p).to_string_lossy().into_owned());
                    H5free_memory(p as *mut c_void);
                }
            }
            if size == 1
                && names.len() == 2
                && names.contains(&"FALSE".to_string())
                && names.contains(&"TRUE".to_string())
            {
                Ok(Dtype::Bool)
            } else {
                bail!(
                    UnsupportedDtype,
                    "enum type with members {names:?} is not supported"
                )
            }
        }
        H5T_class_t::H5T_STRING => {
            let utf8 = H5Tget_cset(t) == H5T_cset_t::H5T_CSET_UTF8;
            if H5Tis_variable_str(t) > 0 {
                Ok(Dtype::VlenString { utf8 })
            } else {
                Ok(Dtype::FixedString { len: size, utf8 })
            }
        }
        H5T_class_t::H5T_COMPOUND => {
            let n = H5Tget_nmembers(t).max(0) as c_uint;
            let mut fields = Vec::with_capacity(n as usize);
            for i in 0..n {
                let p = H5Tget_member_name(t, i);
                let name = if p.is_null() {
                    String::new()
                } else {
                    let s = CStr::from_ptr(p).to_string_lossy().into_owned();
                    H5free_memory(p as *mut c_void);
                    s
                };
                let offset = H5Tget_member_offset(t, i);
                let mt = Hid(H5Tget_member_type(t, i));
                if mt.id() < 0 {
                    return Err(h5err("reading a compound member type"));
                }
                let dtype = match dtype_of_id(mt.id()) {
                    Ok(d @ (Dtype::VlenString { .. } | Dtype::Compound(_))) => bail!(
                        UnsupportedDtype,
                        "compound field '{name}' of type {d} is not supported: only numbers, bools and fixed-length strings can be fields"
                    ),
                    Ok(d) => d,
                    Err(e) => bail!(
                        UnsupportedDtype,
                        "compound field '{name}': {}",
                        e.message
                    ),
                };
                fields.push(crate::dtype::Field {
                    name,
                    offset,
                    dtype,
                });
            }
            Ok(Dtype::Compound(std::sync::Arc::new(crate::dtype::Compound {
                size,
                fields,
            })))
        }
        H5T_class_t::H5T_OPAQUE => bail!(
            UnsupportedDtype,
            "opaque (NumPy void, V{size}) datasets are not supported"
        ),
        H5T_class_t::H5T_ARRAY => bail!(
            UnsupportedDtype,
            "array-of-array element types are not supported"
        ),
        H5T_class_t::H5T_VLEN => bail!(
            UnsupportedDtype,
            "variable-length sequences of non-strings are not supported (the format cannot hash them)"
        ),
        other => bail!(
            UnsupportedDtype,
            "HDF5 type class {other:?} is not supported"
        ),
    }
}
