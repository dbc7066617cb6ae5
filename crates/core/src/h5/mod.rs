//! The only module that talks to libhdf5.
//!
//! Every call runs under hdf5-metno's process-wide reentrant lock ([`locked`]), which
//! also initialises the library and registers the LZF filter. Handles are owned by
//! [`Hid`], which releases them (under the lock) when dropped. Functions here are
//! small and mechanical: the format logic lives in the modules above.

#![allow(non_snake_case)]

use std::ffi::{c_char, c_uint, c_void, CStr, CString};
use std::ptr;

use hdf5_sys::h5::{herr_t, hsize_t, htri_t, H5_index_t, H5_iter_order_t, H5free_memory};
use hdf5_sys::h5a::*;
use hdf5_sys::h5d::*;
use hdf5_sys::h5e::*;
use hdf5_sys::h5f::*;
use hdf5_sys::h5g::*;
use hdf5_sys::h5i::*;
use hdf5_sys::h5l::*;
use hdf5_sys::h5o::*;
use hdf5_sys::h5p::*;
use hdf5_sys::h5s::*;
use hdf5_sys::h5t::*;
use hdf5_sys::h5z::*;

use crate::attrs::AttrValue;
use crate::codec;
use crate::dtype::Dtype;
use crate::error::{bail, Error, ErrorKind, Result};

pub(crate) use hdf5_sys::h5i::hid_t;

pub mod journal;

/// HDF5 filter id of LZF (the h5py filter the format's hash tables use).
pub const FILTER_LZF: i32 = codec::FILTER_LZF;

/// Runs `f` under the HDF5 library lock.
pub fn locked<T>(f: impl FnOnce() -> T) -> T {
    hdf5::sync::sync(f)
}

/// An owned HDF5 identifier.
#[derive(Debug)]
pub struct Hid(hid_t);

impl Hid {
    /// The raw identifier, valid while `self` lives.
    pub fn id(&self) -> hid_t {
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
                    H5Idec_ref(self.0);
                    H5Eclear2(H5E_DEFAULT);
                }
            });
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
        #[allow(unused_comparisons)]
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

fn cstr(s: &str) -> Result<CString> {
    CString::new(s).map_err(|_| {
        Error::new(
            ErrorKind::InvalidArgument,
            format!("name {s:?} contains a NUL character"),
        )
    })
}

// ---------------------------------------------------------------------------------
// Files

/// How to open a file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FileOpen {
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
pub fn file_open(path: &str, how: FileOpen) -> Result<Hid> {
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
pub fn open_object_count() -> i64 {
    locked(|| {
        // SAFETY: H5F_OBJ_ALL as the file id asks about every open file; always valid.
        unsafe { H5Fget_obj_count(H5F_OBJ_ALL as hid_t, H5F_OBJ_ALL) as i64 }
    })
}

/// Flushes everything the file has buffered to disk, then makes the file as it is
/// now the state a crash rolls back to ([`journal::checkpoint`]): everything written
/// between two flushes is atomic.
pub fn file_flush(file: &Hid) -> Result<()> {
    locked(|| {
        // SAFETY: `file` is an open file id.
        unsafe { ck!("flushing the file", H5Fflush(file.id(), H5F_SCOPE_GLOBAL)) };
        journal::checkpoint(file)
    })
}

// ---------------------------------------------------------------------------------
// Groups, links, objects

/// Kind of an object in the file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ObjKind {
    /// A group.
    Group,
    /// A dataset.
    Dataset,
    /// Anything else (named datatype, …).
    Other,
}

/// Whether `path` (relative to `loc`, `/`-separated) exists, checking each component.
pub fn exists(loc: &Hid, path: &str) -> Result<bool> {
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
pub fn open_object(loc: &Hid, path: &str) -> Result<Hid> {
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
pub fn kind_of(obj: &Hid) -> ObjKind {
    locked(|| {
        // SAFETY: `obj` is an open id.
        match unsafe { H5Iget_type(obj.id()) } {
            H5I_type_t::H5I_GROUP | H5I_type_t::H5I_FILE => ObjKind::Group,
            H5I_type_t::H5I_DATASET => ObjKind::Dataset,
            _ => ObjKind::Other,
        }
    })
}

/// Opens a group.
pub fn open_group(loc: &Hid, path: &str) -> Result<Hid> {
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
pub fn create_group(loc: &Hid, path: &str) -> Result<Hid> {
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

/// Names of the links in a group, in name order: one iteration over the group (asking
/// for names by index instead re-sorts the group's links for every name).
pub fn list(group: &Hid) -> Result<Vec<String>> {
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
pub fn unlink(loc: &Hid, path: &str) -> Result<()> {
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

/// Copies an object (with its attributes) inside the file.
pub fn copy_object(src: &Hid, src_path: &str, dst: &Hid, dst_path: &str) -> Result<()> {
    let (a, b) = (cstr(src_path)?, cstr(dst_path)?);
    locked(|| {
        // SAFETY: valid locations and C strings.
        unsafe {
            ck!(
                &format!("copying '{src_path}'"),
                H5Ocopy(
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

// ---------------------------------------------------------------------------------
// Datatypes

fn dtype_file_type(d: &Dtype) -> Result<Hid> {
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
pub fn dtype_of(t: &Hid) -> Result<Dtype> {
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

// ---------------------------------------------------------------------------------
// Dataspaces and dataset I/O

fn simple_space(dims: &[u64], maxdims: Option<&[u64]>) -> Result<Hid> {
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
pub fn ds_shape(ds: &Hid) -> Result<Vec<u64>> {
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
pub fn ds_type(ds: &Hid) -> Result<Hid> {
    locked(|| {
        // SAFETY: `ds` is an open dataset.
        unsafe { Ok(hid!("reading a dataset type", H5Dget_type(ds.id()))) }
    })
}

/// Opens a dataset.
pub fn open_dataset(loc: &Hid, path: &str) -> Result<Hid> {
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
pub fn open_storage(loc: &Hid, path: &str) -> Result<Hid> {
    let c = cstr(path)?;
    locked(|| {
        // SAFETY: property list created and released here; valid location and name.
        unsafe {
            let dapl = hid!(
                "creating a dataset access property list",
                H5Pcreate(*H5P_CLS_DATASET_ACCESS)
            );
            ck!(
                "turning the chunk cache off",
                H5Pset_chunk_cache(dapl.id(), 0, 0, 1.0)
            );
            Ok(hid!(
                &format!("opening dataset '{path}'"),
                H5Dopen2(loc.id(), c.as_ptr(), dapl.id())
            ))
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
pub fn refresh_chunk_lookup(ds: &Hid, probe: &[u64]) -> Result<()> {
    // In libhdf5 since 1.10.2; not bound by hdf5-sys.
    extern "C" {
        fn H5Dget_chunk_storage_size(
            dset_id: hid_t,
            offset: *const hsize_t,
            chunk_bytes: *mut hsize_t,
        ) -> herr_t;
    }
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
pub fn ds_set_extent(ds: &Hid, dims: &[u64]) -> Result<()> {
    locked(|| {
        // SAFETY: `dims` has one entry per axis of `ds`.
        unsafe { ck!("resizing a dataset", H5Dset_extent(ds.id(), dims.as_ptr())) };
        Ok(())
    })
}

/// Reads or writes the block `[start, start+count)` of `ds` from/into `buf`
/// (C order, `mem` elements).
fn block_io(
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
pub fn read_block(
    ds: &Hid,
    dtype: &Dtype,
    start: &[u64],
    count: &[u64],
    buf: &mut [u8],
) -> Result<()> {
    if dtype.is_vlen() {
        bail!(
            Hdf5Error,
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
pub fn write_block(
    ds: &Hid,
    dtype: &Dtype,
    start: &[u64],
    count: &[u64],
    buf: &[u8],
) -> Result<()> {
    if dtype.is_vlen() {
        bail!(
            Hdf5Error,
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
pub fn read_strings(ds: &Hid, start: &[u64], count: &[u64]) -> Result<Vec<Vec<u8>>> {
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
pub fn write_strings<S: AsRef<[u8]>>(
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

// ---------------------------------------------------------------------------------
// Creation property lists: filters and fill values

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

fn apply_filters(dcpl: &Hid, f: &Filters) -> Result<()> {
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
pub fn ds_filters(ds: &Hid) -> Result<Filters> {
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
pub fn ds_chunk_dims(ds: &Hid) -> Result<Option<Vec<u64>>> {
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
pub fn pipeline(ds: &Hid) -> Result<Vec<codec::Stage>> {
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

/// Writes one chunk's stored bytes as they are (already filtered, `mask` saying which
/// filters were skipped) at chunk offset `offset`, bypassing libhdf5's filters.
pub fn write_chunk(ds: &Hid, offset: &[u64], mask: u32, bytes: &[u8]) -> Result<()> {
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

/// Reads a dataset's fill value as bytes of `dtype` (zero when undefined).
pub fn ds_fill(ds: &Hid, dtype: &Dtype) -> Result<Vec<u8>> {
    if dtype.is_vlen() {
        // The format allows no other fill than the empty string (pool index 0).
        return Ok(dtype.zero());
    }
    locked(|| {
        // SAFETY: `ds` is open; the buffer holds one element of `dtype`.
        unsafe {
            let dcpl = hid!("reading creation properties", H5Dget_create_plist(ds.id()));
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

/// Creates `raw_data`: shape `(0, c1, …)`, unlimited along axis 0, chunked by `chunks`.
pub fn create_raw_data(
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
                    c"raw_data".as_ptr(),
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

// ---------------------------------------------------------------------------------
// Hash tables

/// One row of a hash table: a chunk hash and the `(start, stop)` rows of its slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HashRow {
    /// The chunk digest.
    pub hash: [u8; 32],
    /// First row of the slot in raw_data.
    pub start: i64,
    /// One past the last row of the chunk (trimmed along axis 0).
    pub stop: i64,
}

fn hash_row_type() -> Result<Hid> {
    // SAFETY: building a compound type from predefined types; members are released.
    unsafe {
        let t = hid!(
            "creating the hash row type",
            H5Tcreate(H5T_class_t::H5T_COMPOUND, 48)
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

pub fn rows_to_bytes(rows: &[HashRow]) -> Vec<u8> {
    let mut out = Vec::with_capacity(rows.len() * 48);
    for r in rows {
        out.extend_from_slice(&r.hash);
        out.extend_from_slice(&r.start.to_le_bytes());
        out.extend_from_slice(&r.stop.to_le_bytes());
    }
    out
}

/// Creates an empty hash table: one all-zero row, `largest_index = 0`, LZF, chunks of
/// 4096 rows.
pub fn create_hash_table(group: &Hid) -> Result<Hid> {
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
            let chunk = [4096u64];
            ck!("setting chunks", H5Pset_chunk(dcpl.id(), 1, chunk.as_ptr()));
            ck!(
                "adding the lzf filter",
                H5Pset_filter(dcpl.id(), FILTER_LZF, H5Z_FLAG_OPTIONAL, 0, ptr::null())
            );
            let ds = hid!(
                "creating hash_table",
                H5Dcreate2(
                    group.id(),
                    c"hash_table".as_ptr(),
                    t.id(),
                    space.id(),
                    H5P_DEFAULT,
                    dcpl.id(),
                    H5P_DEFAULT
                )
            );
            let zero = [0u8; 48];
            block_io(&ds, &t, &[0], &[1], zero.as_ptr() as *mut c_void, true)?;
            Ok::<Hid, Error>(ds)
        }
    })?;
    write_attr(&ds, "largest_index", &AttrValue::Int(0))?;
    Ok(ds)
}

/// Reads rows `[0, n)` of a hash table.
pub fn read_hash_rows(table: &Hid, n: u64) -> Result<Vec<HashRow>> {
    if n == 0 {
        return Ok(Vec::new());
    }
    let mut buf = vec![0u8; n as usize * 48];
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
    Ok(buf
        .chunks_exact(48)
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
        .collect())
}

/// Writes `rows` at row `at`, growing the table to exactly `at + rows.len()` rows
/// (never below one row).
pub fn write_hash_rows(table: &Hid, at: u64, rows: &[HashRow]) -> Result<()> {
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

// ---------------------------------------------------------------------------------
// Virtual datasets

/// One mapping of a version dataset: the chunk region starting at `vstart` with
/// `extent` comes from raw_data rows starting at `src_row`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mapping {
    /// Start of the region in the virtual dataset.
    pub vstart: Vec<u64>,
    /// Extent of the region (edge-trimmed chunk shape).
    pub extent: Vec<u64>,
    /// First raw_data row of the slot.
    pub src_row: u64,
}

/// Creates a version dataset: a virtual dataset with one mapping per stored chunk, or,
/// when there is none, a plain dataset with no storage whose reads give the fill value.
#[allow(clippy::too_many_arguments)]
pub fn create_version_dataset(
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
pub struct FurthestSource {
    /// First source row of that mapping.
    pub start: u64,
    /// One past its last source row.
    pub end: u64,
    /// Where the mapping starts in the version dataset.
    pub vstart: Vec<u64>,
    /// Source dataset name of the first mapping.
    pub source: String,
}

/// The creation properties of a virtual dataset and its number of mappings; `None`
/// when `ds` is not virtual. Call under the library lock.
///
/// # Safety
/// `ds` must be an open dataset id.
unsafe fn virtual_plist(ds: &Hid) -> Result<Option<(Hid, usize)>> {
    // SAFETY: per the contract; the plist id is owned by the returned Hid.
    unsafe {
        let dcpl = hid!("reading creation properties", H5Dget_create_plist(ds.id()));
        if H5Pget_layout(dcpl.id()) != H5D_layout_t::H5D_VIRTUAL {
            return Ok(None);
        }
        let mut n: usize = 0;
        ck!(
            "counting virtual mappings",
            H5Pget_virtual_count(dcpl.id(), &mut n)
        );
        Ok(Some((dcpl, n)))
    }
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
pub fn furthest_source(ds: &Hid) -> Result<Option<FurthestSource>> {
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
pub fn read_mappings(ds: &Hid) -> Result<Option<(Vec<Mapping>, Option<String>)>> {
    locked(|| {
        // SAFETY: ids returned by the H5Pget_virtual_* calls are owned and released;
        // name buffers are sized from HDF5's answer.
        unsafe {
            let Some((dcpl, n)) = virtual_plist(ds)? else {
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
                    source = Some(virtual_source_name(&dcpl, 0)?);
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

// ---------------------------------------------------------------------------------
// Attributes

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
pub fn attr_names(obj: &Hid) -> Result<Vec<String>> {
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

/// Whether an attribute exists.
pub fn attr_exists(obj: &Hid, name: &str) -> Result<bool> {
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
pub fn write_attr(obj: &Hid, name: &str, value: &AttrValue) -> Result<()> {
    put_attr(obj, name, value, false)
}

/// Writes an attribute of an object just created, which has none yet (skips the
/// check for one to replace).
pub fn write_new_attr(obj: &Hid, name: &str, value: &AttrValue) -> Result<()> {
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
pub fn delete_attr(obj: &Hid, name: &str) -> Result<()> {
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
pub fn read_attr(obj: &Hid, name: &str) -> Result<AttrValue> {
    let c = cstr(name)?;
    locked(|| {
        // SAFETY: the attribute, its type and space are opened and released here;
        // buffers match the element counts read from the space; vlen strings returned
        // by HDF5 are freed with H5free_memory.
        unsafe {
            let a = hid!(
                &format!("opening attribute '{name}'"),
                H5Aopen(obj.id(), c.as_ptr(), H5P_DEFAULT)
            );
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
