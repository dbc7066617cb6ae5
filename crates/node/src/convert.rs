//! Conversions between JS values and engine types, and engine errors as JS errors.

use napi::bindgen_prelude::*;
use napi::{Env, JsValue, Status};

use std::collections::BTreeMap;

use vh5::{AlignedBytes, AttrValue, AxisSel, Dtype, ReadData, Values};

/// Turns an engine error into a thrown JS `Error` with `code` set.
pub fn js_err(env: &Env, e: vh5::Error) -> napi::Error {
    let build = || -> napi::Result<napi::Error> {
        let mut obj =
            env.create_error(napi::Error::new(Status::GenericFailure, e.message.clone()))?;
        obj.set_named_property("code", e.code())?;
        Ok(napi::Error::from(obj.to_unknown()))
    };
    build().unwrap_or_else(|_| {
        napi::Error::new(
            Status::GenericFailure,
            format!("{}: {}", e.code(), e.message),
        )
    })
}

/// `map_err` shorthand.
pub trait OrJs<T> {
    /// Converts the engine error into a JS error.
    fn js(self, env: &Env) -> napi::Result<T>;
}

impl<T> OrJs<T> for vh5::Result<T> {
    fn js(self, env: &Env) -> napi::Result<T> {
        self.map_err(|e| js_err(env, e))
    }
}

/// The dataset side of a lookup result; `INVALID_ARGUMENT` when `path` is a group.
pub fn want_dataset<D, G>(env: &Env, node: Either<D, G>, path: &str) -> napi::Result<D> {
    match node {
        Either::A(d) => Ok(d),
        Either::B(_) => Err(js_err(
            env,
            invalid(format!("'{path}' is a group, not a dataset")),
        )),
    }
}

/// The group side of a lookup result; `INVALID_ARGUMENT` when `path` is a dataset.
pub fn want_group<D, G>(env: &Env, node: Either<D, G>, path: &str) -> napi::Result<G> {
    match node {
        Either::B(g) => Ok(g),
        Either::A(_) => Err(js_err(
            env,
            invalid(format!("'{path}' is a dataset, not a group")),
        )),
    }
}

pub fn invalid(msg: impl Into<String>) -> vh5::Error {
    vh5::Error::new(vh5::ErrorKind::InvalidArgument, msg)
}

/// A slice given as an object: `{ start, stop, step }`, or an index list `{ indices }`.
#[napi(object)]
pub struct SliceSpec {
    /// First coordinate (default 0; negative counts from the end).
    pub start: Option<f64>,
    /// One past the last coordinate (default the axis length).
    pub stop: Option<f64>,
    /// Stride, a positive integer (default 1).
    pub step: Option<f64>,
    /// Explicit coordinates along this axis (any order; negative counts from the end):
    /// an array of numbers or an integer (or float64) typed array.
    #[napi(
        ts_type = "Array<number> | Int8Array | Uint8Array | Int16Array | Uint16Array | Int32Array | Uint32Array | Float32Array | Float64Array | BigInt64Array | BigUint64Array"
    )]
    pub indices: Option<Vec<f64>>,
}

/// One axis of a selection: an index, `null` for the whole axis, `[start, stop, step?]`
/// (entries may be `null`), or a [`SliceSpec`] object.
pub type AxisSpec = Option<Either3<f64, Vec<Option<f64>>, SliceSpec>>;

fn int(v: f64, what: &str) -> vh5::Result<i64> {
    if !v.is_finite() || v.fract() != 0.0 || v.abs() > 9_007_199_254_740_991.0 {
        return Err(invalid(format!("{what} must be a whole number, got {v}")));
    }
    Ok(v as i64)
}

/// A selection as JS passed it, not converted yet (see [`selection_arg`]).
pub type SelectionArg<'a> = Option<Unknown<'a>>;

/// Parses a selection argument: napi conversion errors (a value of a type no selection
/// takes) are thrown as they are, the engine's checks come back as the inner error.
///
/// The forms reads use most — an array of indexes, `null`s and `[start, stop, step?]`
/// arrays of numbers — are read here directly, with a handful of N-API calls; anything
/// else (slice objects, index lists, wrong types) goes through the generic conversion,
/// so its results and errors are those of `Option<Vec<AxisSpec>>`.
pub fn selection_arg(env: &Env, arg: SelectionArg) -> napi::Result<vh5::Result<Vec<AxisSel>>> {
    let Some(arg) = arg else {
        return Ok(selection(None));
    };
    let (env, value) = (env.raw(), arg.raw());
    if let Some(spec) = plain_selection(env, value) {
        return Ok(selection(spec));
    }
    // SAFETY: `value` is an argument of the current call, valid in `env` while it runs.
    let spec = unsafe { <Option<Vec<AxisSpec>>>::from_napi_value(env, value) }?;
    Ok(selection(spec))
}

/// `typeof value`, as an N-API value type.
fn type_of(env: napi::sys::napi_env, value: napi::sys::napi_value) -> Option<i32> {
    let mut t = 0;
    // SAFETY: `env` and `value` belong to the running call; `t` is a valid out-pointer.
    let status = unsafe { napi::sys::napi_typeof(env, value, &mut t) };
    (status == napi::sys::Status::napi_ok).then_some(t)
}

/// The elements of a JS array (`None` for anything else).
fn array_items(
    env: napi::sys::napi_env,
    value: napi::sys::napi_value,
) -> Option<impl Iterator<Item = Option<napi::sys::napi_value>>> {
    let mut len = 0u32;
    // SAFETY: `env` and `value` belong to the running call; `len` is a valid out-pointer.
    let ok = is_array(env, value)
        && unsafe { napi::sys::napi_get_array_length(env, value, &mut len) }
            == napi::sys::Status::napi_ok;
    ok.then(move || {
        (0..len).map(move |i| {
            let mut item = std::ptr::null_mut();
            // SAFETY: `value` is an array of the running call; `item` is a valid out-pointer.
            let status = unsafe { napi::sys::napi_get_element(env, value, i, &mut item) };
            (status == napi::sys::Status::napi_ok).then_some(item)
        })
    })
}

/// Whether `value` is a JS array.
fn is_array(env: napi::sys::napi_env, value: napi::sys::napi_value) -> bool {
    let mut is_array = false;
    // SAFETY: `env` and `value` belong to the running call; `is_array` is a valid out-pointer.
    let status = unsafe { napi::sys::napi_is_array(env, value, &mut is_array) };
    status == napi::sys::Status::napi_ok && is_array
}

/// A named property of an object (`None` when it cannot be read).
fn property(
    env: napi::sys::napi_env,
    object: napi::sys::napi_value,
    name: &std::ffi::CStr,
) -> Option<napi::sys::napi_value> {
    let mut out = std::ptr::null_mut();
    // SAFETY: `object` is an object of the running call, `name` a NUL-terminated string,
    // `out` a valid out-pointer.
    let status =
        unsafe { napi::sys::napi_get_named_property(env, object, name.as_ptr(), &mut out) };
    (status == napi::sys::Status::napi_ok).then_some(out)
}

/// A slice object `{ start, stop, step }` or `{ indices }`, with numbers (or `null`)
/// as bounds and the list an array of numbers or a typed array (`None`: anything
/// else, left to the generic conversion and its errors).
fn slice_object(env: napi::sys::napi_env, value: napi::sys::napi_value) -> Option<SliceSpec> {
    use napi::sys::ValueType as T;
    let optional = |name: &std::ffi::CStr| -> Option<Option<napi::sys::napi_value>> {
        let v = property(env, value, name)?;
        match type_of(env, v)? {
            T::napi_undefined | T::napi_null => Some(None),
            _ => Some(Some(v)),
        }
    };
    let bound = |name: &std::ffi::CStr| -> Option<Option<f64>> {
        match optional(name)? {
            Some(v) => Some(Some(number(env, v)?)),
            None => Some(None),
        }
    };
    let indices = match optional(c"indices")? {
        Some(list) => Some(match typed_numbers(env, list) {
            Some(v) => v,
            None => array_items(env, list)?
                .map(|item| number(env, item?))
                .collect::<Option<Vec<f64>>>()?,
        }),
        None => None,
    };
    Some(SliceSpec {
        start: bound(c"start")?,
        stop: bound(c"stop")?,
        step: bound(c"step")?,
        indices,
    })
}

/// Element type, length (in elements) and first element of a typed array (`None` for
/// anything else). The pointer is valid while the array is neither detached nor
/// collected: within the running call, as long as no JS runs.
fn typed_info(
    env: napi::sys::napi_env,
    value: napi::sys::napi_value,
) -> Option<(
    napi::sys::napi_typedarray_type,
    usize,
    *mut std::ffi::c_void,
)> {
    let mut is_typed = false;
    let (mut kind, mut len, mut data) = (0, 0usize, std::ptr::null_mut());
    // SAFETY: `env` and `value` belong to the running call; the out-pointers are valid;
    // the array buffer and byte offset are not asked for (null is allowed).
    let ok = unsafe {
        napi::sys::napi_is_typedarray(env, value, &mut is_typed) == napi::sys::Status::napi_ok
            && is_typed
            && napi::sys::napi_get_typedarray_info(
                env,
                value,
                &mut kind,
                &mut len,
                &mut data,
                std::ptr::null_mut(),
                std::ptr::null_mut(),
            ) == napi::sys::Status::napi_ok
    };
    ok.then_some((kind, len, data))
}

/// The elements of a typed array as numbers (`None` for anything else). 64-bit
/// integers beyond 2^53 lose precision here and are refused as indices later.
fn typed_numbers(env: napi::sys::napi_env, value: napi::sys::napi_value) -> Option<Vec<f64>> {
    use napi::sys::TypedarrayType as A;
    let (kind, len, data) = typed_info(env, value)?;
    if len == 0 || data.is_null() {
        return Some(Vec::new());
    }
    macro_rules! read {
        ($t:ty) => {{
            // SAFETY: V8 reports `len` elements of this type at `data`, alive for the
            // running call and aligned for the type (typed arrays require it); nothing
            // runs JS while they are copied.
            let items = unsafe { std::slice::from_raw_parts(data as *const $t, len) };
            items.iter().map(|&v| v as f64).collect()
        }};
    }
    Some(match kind {
        A::int8_array => read!(i8),
        A::uint8_array | A::uint8_clamped_array => read!(u8),
        A::int16_array => read!(i16),
        A::uint16_array => read!(u16),
        A::int32_array => read!(i32),
        A::uint32_array => read!(u32),
        A::float32_array => read!(f32),
        A::float64_array => read!(f64),
        A::bigint64_array => read!(i64),
        A::biguint64_array => read!(u64),
        _ => return None,
    })
}

/// A JS number (`None` for anything else).
fn number(env: napi::sys::napi_env, value: napi::sys::napi_value) -> Option<f64> {
    let mut v = 0.0;
    // SAFETY: `env` and `value` belong to the running call; `v` is a valid out-pointer.
    let status = unsafe { napi::sys::napi_get_value_double(env, value, &mut v) };
    (status == napi::sys::Status::napi_ok).then_some(v)
}

/// The plain forms of a selection (see [`selection_arg`]), or `None` to take the
/// generic conversion.
fn plain_selection(
    env: napi::sys::napi_env,
    value: napi::sys::napi_value,
) -> Option<Option<Vec<AxisSpec>>> {
    use napi::sys::ValueType as T;
    match type_of(env, value)? {
        T::napi_undefined | T::napi_null => return Some(None),
        T::napi_object => {}
        _ => return None,
    }
    let mut out = Vec::new();
    for item in array_items(env, value)? {
        let item = item?;
        out.push(match type_of(env, item)? {
            T::napi_undefined | T::napi_null => None,
            T::napi_number => Some(Either3::A(number(env, item)?)),
            T::napi_object if !is_array(env, item) => Some(Either3::C(slice_object(env, item)?)),
            T::napi_object => {
                let mut bounds = Vec::with_capacity(3);
                for b in array_items(env, item)? {
                    let b = b?;
                    bounds.push(match type_of(env, b)? {
                        T::napi_undefined | T::napi_null => None,
                        T::napi_number => Some(number(env, b)?),
                        _ => return None,
                    });
                }
                Some(Either3::B(bounds))
            }
            _ => return None,
        });
    }
    Some(Some(out))
}

/// Parses a JS selection.
pub fn selection(sel: Option<Vec<AxisSpec>>) -> vh5::Result<Vec<AxisSel>> {
    let Some(sel) = sel else {
        return Ok(Vec::new());
    };
    let lists = sel
        .iter()
        .filter(|a| {
            matches!(
                a,
                Some(Either3::C(SliceSpec {
                    indices: Some(_),
                    ..
                }))
            )
        })
        .count();
    if lists > 1 {
        return Err(invalid(
            "a selection takes at most one index list ({ indices }), as in h5py: read the other axes with slices",
        ));
    }
    sel.into_iter()
        .map(|a| {
            Ok(match a {
                None => AxisSel::All,
                Some(Either3::A(i)) => AxisSel::Index(int(i, "an index")?),
                Some(Either3::B(v)) => {
                    if v.is_empty() || v.len() > 3 {
                        return Err(invalid("a slice is [start, stop] or [start, stop, step]; use { indices: [...] } for a list"));
                    }
                    let opt = |x: Option<&Option<f64>>, w: &str| -> vh5::Result<Option<i64>> {
                        match x.copied().flatten() {
                            Some(v) => Ok(Some(int(v, w)?)),
                            None => Ok(None),
                        }
                    };
                    AxisSel::Slice {
                        start: opt(v.first(), "slice start")?,
                        stop: opt(v.get(1), "slice stop")?,
                        step: opt(v.get(2), "slice step")?.unwrap_or(1),
                    }
                }
                Some(Either3::C(s)) => match s.indices {
                    Some(ix) => AxisSel::List(ix.into_iter().map(|v| int(v, "an index")).collect::<vh5::Result<_>>()?),
                    None => AxisSel::Slice {
                        start: s.start.map(|v| int(v, "slice start")).transpose()?,
                        stop: s.stop.map(|v| int(v, "slice stop")).transpose()?,
                        step: s.step.map(|v| int(v, "slice step")).transpose()?.unwrap_or(1),
                    },
                },
            })
        })
        .collect()
}

/// A shape or chunk shape from JS numbers.
pub fn dims(v: &[f64], what: &str) -> vh5::Result<Vec<u64>> {
    v.iter()
        .map(|&d| {
            let i = int(d, what)?;
            if i < 0 {
                return Err(invalid(format!(
                    "{what} entries must not be negative, got {d}"
                )));
            }
            Ok(i as u64)
        })
        .collect()
}

/// The dtype a typed array carries.
pub fn dtype_of_typed(t: TypedArrayType) -> Option<Dtype> {
    Some(match t {
        TypedArrayType::Int8 => Dtype::Int8,
        TypedArrayType::Uint8 | TypedArrayType::Uint8Clamped => Dtype::UInt8,
        TypedArrayType::Int16 => Dtype::Int16,
        TypedArrayType::Uint16 => Dtype::UInt16,
        TypedArrayType::Int32 => Dtype::Int32,
        TypedArrayType::Uint32 => Dtype::UInt32,
        TypedArrayType::Float32 => Dtype::Float32,
        TypedArrayType::Float64 => Dtype::Float64,
        TypedArrayType::BigInt64 => Dtype::Int64,
        TypedArrayType::BigUint64 => Dtype::UInt64,
        _ => return None,
    })
}

/// Data given by the user: a typed array, a plain array of numbers, bigints, booleans
/// or strings, or one such value (broadcast on write).
pub type DataInput<'a> = Unknown<'a>;

fn push_num(out: &mut Vec<u8>, d: &Dtype, v: f64) -> vh5::Result<()> {
    let bad = || {
        vh5::Error::new(
            vh5::ErrorKind::DtypeMismatch,
            format!("{v} is not a valid {d} value"),
        )
    };
    let whole = v.is_finite() && v.fract() == 0.0;
    match d {
        Dtype::Float64 => out.extend_from_slice(&v.to_le_bytes()),
        Dtype::Float32 => out.extend_from_slice(&(v as f32).to_le_bytes()),
        Dtype::Float16 => out.extend_from_slice(&vh5::f16_bits_from_f64(v).to_le_bytes()),
        Dtype::Bool => out.push(if v == 0.0 {
            0
        } else if v == 1.0 {
            1
        } else {
            return Err(bad());
        }),
        Dtype::FixedString { .. } | Dtype::VlenString { .. } | Dtype::Compound(_) => {
            return Err(vh5::Error::new(
                vh5::ErrorKind::DtypeMismatch,
                format!("numbers cannot be stored in a {d} dataset"),
            ))
        }
        _ if !whole => return Err(bad()),
        Dtype::Int8 => {
            out.extend_from_slice(&i8::try_from(v as i64).map_err(|_| bad())?.to_le_bytes())
        }
        Dtype::Int16 => {
            out.extend_from_slice(&i16::try_from(v as i64).map_err(|_| bad())?.to_le_bytes())
        }
        Dtype::Int32 => {
            out.extend_from_slice(&i32::try_from(v as i64).map_err(|_| bad())?.to_le_bytes())
        }
        Dtype::Int64 => {
            if v.abs() >= 9.223_372_036_854_776e18 {
                return Err(bad());
            }
            out.extend_from_slice(&(v as i64).to_le_bytes())
        }
        Dtype::UInt8 => {
            out.extend_from_slice(&u8::try_from(v as i64).map_err(|_| bad())?.to_le_bytes())
        }
        Dtype::UInt16 => {
            out.extend_from_slice(&u16::try_from(v as i64).map_err(|_| bad())?.to_le_bytes())
        }
        Dtype::UInt32 => {
            out.extend_from_slice(&u32::try_from(v as i64).map_err(|_| bad())?.to_le_bytes())
        }
        Dtype::UInt64 => {
            if !(0.0..1.844_674_407_370_955_2e19).contains(&v) {
                return Err(bad());
            }
            out.extend_from_slice(&(v as u64).to_le_bytes())
        }
    }
    Ok(())
}

/// A bigint as one element of `d`.
fn push_bigint(out: &mut Vec<u8>, d: &Dtype, v: BigInt) -> vh5::Result<()> {
    match d {
        Dtype::UInt64 => {
            let (neg, x, lossless) = v.get_u64();
            if neg || !lossless {
                return Err(invalid("bigint out of uint64 range"));
            }
            out.extend_from_slice(&x.to_le_bytes());
        }
        _ => {
            let (x, lossless) = v.get_i64();
            if !lossless {
                return Err(invalid(format!("bigint out of {d} range")));
            }
            if *d == Dtype::Int64 {
                out.extend_from_slice(&x.to_le_bytes());
            } else {
                push_num(out, d, x as f64)?;
            }
        }
    }
    Ok(())
}

/// Converts user data to engine values of `dtype` (`None`: inferred from a typed
/// array, `string` for strings, float64 for plain arrays of numbers). Returns the
/// values and the dtype.
/// Data parsed from JS: a typed array whose bytes are already elements of the target
/// dtype (borrowed while the call lasts, never copied), or converted values.
pub enum Data<'a> {
    /// A typed array holding elements of the dtype as they are.
    Typed(TypedArray<'a>),
    /// Values converted from JS.
    Values(Values),
}

impl Data<'_> {
    /// The typed array's element bytes, when the data is one.
    pub fn bytes(&self) -> Option<&[u8]> {
        match self {
            Data::Typed(ta) => Some(&ta.arraybuffer),
            Data::Values(_) => None,
        }
    }

    /// The data as engine values (copies a typed array's bytes).
    pub fn into_values(self) -> Values {
        match self {
            Data::Typed(ta) => Values::Raw(ta.arraybuffer.to_vec()),
            Data::Values(v) => v,
        }
    }
}

/// A typed array kept alive by a reference while a staged version holds its elements
/// (a dataset's initial data, read at commit on a worker thread).
pub enum HeldArray {
    I8(Int8Array),
    U8(Uint8Array),
    U8c(Uint8ClampedArray),
    I16(Int16Array),
    U16(Uint16Array),
    I32(Int32Array),
    U32(Uint32Array),
    F32(Float32Array),
    F64(Float64Array),
    I64(BigInt64Array),
    U64(BigUint64Array),
}

impl vh5::SharedBytes for HeldArray {
    fn bytes(&self) -> &[u8] {
        match self {
            HeldArray::I8(a) => bytemuck::cast_slice(a),
            HeldArray::U8(a) => a,
            HeldArray::U8c(a) => a,
            HeldArray::I16(a) => bytemuck::cast_slice(a),
            HeldArray::U16(a) => bytemuck::cast_slice(a),
            HeldArray::I32(a) => bytemuck::cast_slice(a),
            HeldArray::U32(a) => bytemuck::cast_slice(a),
            HeldArray::F32(a) => bytemuck::cast_slice(a),
            HeldArray::F64(a) => bytemuck::cast_slice(a),
            HeldArray::I64(a) => bytemuck::cast_slice(a),
            HeldArray::U64(a) => bytemuck::cast_slice(a),
        }
    }
}

impl Data<'_> {
    /// A typed array's elements held by reference (no copy), for data a staged
    /// version keeps until it commits; `None` for converted values.
    pub fn hold(&self) -> vh5::Result<Option<std::sync::Arc<dyn vh5::SharedBytes>>> {
        let Data::Typed(ta) = self else {
            return Ok(None);
        };
        let v = (ta.value().env, ta.raw());
        fn take<T: FromNapiValue>(
            v: (napi::sys::napi_env, napi::sys::napi_value),
        ) -> vh5::Result<T> {
            // SAFETY: `v` is a live typed array of the current call's environment, on
            // its thread; the owned array takes a reference that keeps it alive and
            // releases it on the JS thread when dropped (napi-rs routes drops from
            // other threads there).
            unsafe { T::from_napi_value(v.0, v.1) }.map_err(|e| invalid(e.reason))
        }
        let held = match ta.typed_array_type {
            TypedArrayType::Int8 => HeldArray::I8(take(v)?),
            TypedArrayType::Uint8 => HeldArray::U8(take(v)?),
            TypedArrayType::Uint8Clamped => HeldArray::U8c(take(v)?),
            TypedArrayType::Int16 => HeldArray::I16(take(v)?),
            TypedArrayType::Uint16 => HeldArray::U16(take(v)?),
            TypedArrayType::Int32 => HeldArray::I32(take(v)?),
            TypedArrayType::Uint32 => HeldArray::U32(take(v)?),
            TypedArrayType::Float32 => HeldArray::F32(take(v)?),
            TypedArrayType::Float64 => HeldArray::F64(take(v)?),
            TypedArrayType::BigInt64 => HeldArray::I64(take(v)?),
            TypedArrayType::BigUint64 => HeldArray::U64(take(v)?),
            _ => return Err(invalid("this typed array type is not supported")),
        };
        Ok(Some(std::sync::Arc::new(held)))
    }
}

/// Parses and checks data for a dataset of `dtype` (inferred when `None`).
pub fn data_input<'a>(
    input: DataInput<'a>,
    dtype: Option<&Dtype>,
) -> vh5::Result<(Data<'a>, Dtype)> {
    if let Some(d) = dtype {
        d.require_writable()?;
    }
    let e = |e: napi::Error| invalid(e.reason);
    let parsed: Either<TypedArray, Vec<Unknown>> = match input.get_type().map_err(e)? {
        ValueType::Number | ValueType::Boolean | ValueType::BigInt | ValueType::String => {
            Either::B(vec![input])
        }
        ValueType::Object if input.is_typedarray().map_err(e)? => {
            // SAFETY: the value was just checked to be a typed array.
            Either::A(unsafe { input.cast() }.map_err(e)?)
        }
        ValueType::Object if input.is_array().map_err(e)? => {
            // SAFETY: the value was just checked to be an array.
            Either::B(unsafe { input.cast() }.map_err(e)?)
        }
        other => {
            return Err(invalid(format!(
                "data must be a typed array, an array of numbers or strings, or a single value, got {other:?}"
            )))
        }
    };
    match parsed {
        Either::A(ta) => {
            let Some(own) = dtype_of_typed(ta.typed_array_type) else {
                return Err(invalid(
                    "this typed array type is not supported: use Float64Array, Int32Array, …",
                ));
            };
            let d = dtype.cloned().unwrap_or_else(|| own.clone());
            let bytes: &[u8] = &ta.arraybuffer;
            if d == Dtype::Float16 && matches!(own, Dtype::Float32 | Dtype::Float64) {
                // float16 data comes as JS numbers, rounded to nearest even.
                let out: Vec<u8> = if own == Dtype::Float32 {
                    bytemuck::pod_collect_to_vec::<u8, f32>(bytes)
                        .into_iter()
                        .flat_map(|x| vh5::f16_bits_from_f64(f64::from(x)).to_le_bytes())
                        .collect()
                } else {
                    bytemuck::pod_collect_to_vec::<u8, f64>(bytes)
                        .into_iter()
                        .flat_map(|x| vh5::f16_bits_from_f64(x).to_le_bytes())
                        .collect()
                };
                return Ok((Data::Values(Values::Raw(out)), d));
            }
            let ok = own == d || (d == Dtype::Bool && own == Dtype::UInt8);
            if !ok {
                return Err(vh5::Error::new(
                    vh5::ErrorKind::DtypeMismatch,
                    format!("data is a {:?} array but the dataset is {d}: pass the matching typed array", ta.typed_array_type),
                ));
            }
            if d == Dtype::Bool && bytes.iter().any(|&b| b > 1) {
                return Err(vh5::Error::new(
                    vh5::ErrorKind::DtypeMismatch,
                    "bool data must hold only 0 and 1",
                ));
            }
            Ok((Data::Typed(ta), d))
        }
        Either::B(items) => {
            let first_is_string = match items.first() {
                Some(it) => it.get_type().map_err(e)? == ValueType::String,
                None => false,
            };
            let d = match dtype {
                Some(d) => d.clone(),
                None if first_is_string => Dtype::VlenString { utf8: true },
                None => Dtype::Float64,
            };
            if d.is_string() {
                let mut out = Vec::with_capacity(items.len());
                for it in items {
                    if it.get_type().map_err(e)? != ValueType::String {
                        return Err(vh5::Error::new(
                            vh5::ErrorKind::DtypeMismatch,
                            format!("a {d} dataset takes strings: every entry must be a string"),
                        ));
                    }
                    // SAFETY: the value was just checked to be a string.
                    let v: String = unsafe { it.cast() }.map_err(e)?;
                    out.push(v.into_bytes());
                }
                return Ok((Data::Values(Values::Strings(out)), d));
            }
            let mut out = Vec::with_capacity(items.len() * d.size());
            for it in items {
                match it.get_type().map_err(e)? {
                    ValueType::Number => {
                        // SAFETY: the value was just checked to be a number.
                        let v: f64 = unsafe { it.cast() }.map_err(e)?;
                        push_num(&mut out, &d, v)?;
                    }
                    ValueType::Boolean => {
                        // SAFETY: the value was just checked to be a boolean.
                        let v: bool = unsafe { it.cast() }.map_err(e)?;
                        push_num(&mut out, &d, if v { 1.0 } else { 0.0 })?;
                    }
                    ValueType::BigInt => {
                        // SAFETY: the value was just checked to be a bigint.
                        let v: BigInt = unsafe { it.cast() }.map_err(e)?;
                        push_bigint(&mut out, &d, v)?;
                    }
                    ValueType::String => {
                        return Err(vh5::Error::new(
                            vh5::ErrorKind::DtypeMismatch,
                            format!("strings cannot be stored in a {d} dataset: pass numbers"),
                        ))
                    }
                    other => {
                        return Err(invalid(format!(
                        "data entries must be numbers, bigints, booleans or strings, got {other:?}"
                    )))
                    }
                }
            }
            Ok((Data::Values(Values::Raw(out)), d))
        }
    }
}

/// Results of at most this many bytes are copied into a new JS `ArrayBuffer`; larger
/// ones are handed over without a copy (an external `ArrayBuffer` that frees the
/// buffer when collected). In Node 20 an external buffer costs a finalizer and weighs
/// on the garbage collector: reading 56 KiB a thousand times took about 30 µs a read
/// handed over, 8 µs copied.
const COPY_MAX_BYTES: usize = 1 << 20;

/// Numbers read from a dataset, on their way to JS as a typed array of `kind`.
pub struct TypedOutput {
    kind: TypedArrayType,
    elems: usize,
    buf: AlignedBytes,
}

impl TypedOutput {
    fn new(kind: TypedArrayType, elem_size: usize, buf: AlignedBytes) -> TypedOutput {
        TypedOutput {
            kind,
            elems: buf.len() / elem_size.max(1),
            buf,
        }
    }
}

impl TypeName for TypedOutput {
    fn type_name() -> &'static str {
        "TypedArray"
    }

    fn value_type() -> ValueType {
        ValueType::Object
    }
}

/// Frees the buffer of an external `ArrayBuffer` once JS collected it.
unsafe extern "C" fn free_words(
    _env: napi::sys::napi_env,
    _data: *mut std::ffi::c_void,
    hint: *mut std::ffi::c_void,
) {
    // SAFETY: `hint` is the `Box<Vec<u64>>` leaked in `TypedOutput::to_napi_value` for
    // this ArrayBuffer alone; Node calls the finalizer once.
    drop(unsafe { Box::from_raw(hint.cast::<Vec<u64>>()) });
}

impl ToNapiValue for TypedOutput {
    unsafe fn to_napi_value(
        env: napi::sys::napi_env,
        val: Self,
    ) -> napi::Result<napi::sys::napi_value> {
        use napi::sys;
        let TypedOutput { kind, elems, buf } = val;
        let len = buf.len();
        let (words, _) = buf.into_words();
        let mut words = Box::new(words);
        let mut ab = std::ptr::null_mut();
        if len > COPY_MAX_BYTES {
            let data = words.as_mut_ptr().cast::<std::ffi::c_void>();
            let hint = Box::into_raw(words);
            // SAFETY: `data` points to `len` initialised bytes owned by `hint`, which
            // stays alive (leaked) until `free_words` runs for this ArrayBuffer.
            let status = unsafe {
                sys::napi_create_external_arraybuffer(
                    env,
                    data,
                    len,
                    Some(free_words),
                    hint.cast(),
                    &mut ab,
                )
            };
            if status == sys::Status::napi_ok {
                return typed_array(env, kind, elems, ab);
            }
            // SAFETY: the ArrayBuffer was not created, so the buffer was not handed
            // over: take it back (it came from `Box::into_raw` above) and copy instead.
            words = unsafe { Box::from_raw(hint) };
        }
        let mut data = std::ptr::null_mut();
        // SAFETY: plain N-API call; on success `data` points to `len` writable bytes.
        let status = unsafe { sys::napi_create_arraybuffer(env, len, &mut data, &mut ab) };
        if status != sys::Status::napi_ok {
            return Err(napi::Error::new(
                Status::GenericFailure,
                format!("could not allocate an ArrayBuffer of {len} bytes"),
            ));
        }
        if len > 0 {
            let bytes: &[u8] = bytemuck::cast_slice(&words[..]);
            // SAFETY: `data` holds `len` bytes of a new ArrayBuffer, disjoint from the
            // source, which holds at least `len` bytes.
            unsafe { std::ptr::copy_nonoverlapping(bytes.as_ptr(), data.cast::<u8>(), len) };
        }
        typed_array(env, kind, elems, ab)
    }
}

/// A typed array of `elems` elements of `kind` over all of `ab`.
fn typed_array(
    env: napi::sys::napi_env,
    kind: TypedArrayType,
    elems: usize,
    ab: napi::sys::napi_value,
) -> napi::Result<napi::sys::napi_value> {
    let mut out = std::ptr::null_mut();
    // SAFETY: `ab` is an ArrayBuffer of `elems` elements of `kind`.
    let status =
        unsafe { napi::sys::napi_create_typedarray(env, kind.into(), elems, ab, 0, &mut out) };
    if status != napi::sys::Status::napi_ok {
        return Err(napi::Error::new(
            Status::GenericFailure,
            "could not create the typed array of a read",
        ));
    }
    Ok(out)
}

/// What a read returns: a typed array for numbers, `string[]` for strings, and for
/// compound datasets an object with one such array per field.
pub type DataOutput =
    Either3<TypedOutput, Vec<String>, BTreeMap<String, Either<TypedOutput, Vec<String>>>>;

/// Fixed-length string elements as text: trailing NULs removed, UTF-8 decoded
/// (invalid bytes become U+FFFD).
fn fixed_strings(bytes: &[u8], len: usize) -> Vec<String> {
    bytes
        .chunks_exact(len.max(1))
        .map(|c| {
            let end = c.iter().rposition(|&b| b != 0).map_or(0, |i| i + 1);
            String::from_utf8_lossy(&c[..end]).into_owned()
        })
        .collect()
}

/// One field (or a whole non-compound dataset) as its JS array.
fn field_output(buf: AlignedBytes, d: &Dtype) -> Either<TypedOutput, Vec<String>> {
    use TypedArrayType as T;
    let t = |kind, size, buf| Either::A(TypedOutput::new(kind, size, buf));
    match d {
        Dtype::Float64 => t(T::Float64, 8, buf),
        Dtype::Float32 => t(T::Float32, 4, buf),
        Dtype::Float16 => {
            let mut out = AlignedBytes::zeroed(buf.len() * 2);
            for (o, c) in out
                .as_bytes_mut()
                .chunks_exact_mut(4)
                .zip(buf.as_bytes().chunks_exact(2))
            {
                o.copy_from_slice(
                    &half::f16::from_le_bytes([c[0], c[1]])
                        .to_f32()
                        .to_ne_bytes(),
                );
            }
            t(T::Float32, 4, out)
        }
        Dtype::Int8 => t(T::Int8, 1, buf),
        Dtype::Int16 => t(T::Int16, 2, buf),
        Dtype::Int32 => t(T::Int32, 4, buf),
        Dtype::Int64 => t(T::BigInt64, 8, buf),
        Dtype::UInt8 | Dtype::Bool => t(T::Uint8, 1, buf),
        Dtype::UInt16 => t(T::Uint16, 2, buf),
        Dtype::UInt32 => t(T::Uint32, 4, buf),
        Dtype::UInt64 => t(T::BigUint64, 8, buf),
        Dtype::FixedString { len, .. } => Either::B(fixed_strings(buf.as_bytes(), *len)),
        // Not reachable for fields (refused when the type is read) nor for whole
        // datasets (handled by `output`); shown as raw bytes to stay total.
        Dtype::VlenString { .. } | Dtype::Compound(_) => t(T::Uint8, 1, buf),
    }
}

/// The typed array a dataset of `d` reads into when its stored bytes are the array's
/// elements as they are (`None` for float16, strings and compounds, which convert).
pub fn direct_kind(d: &Dtype) -> Option<TypedArrayType> {
    use TypedArrayType as T;
    Some(match d {
        Dtype::Float64 => T::Float64,
        Dtype::Float32 => T::Float32,
        Dtype::Int8 => T::Int8,
        Dtype::Int16 => T::Int16,
        Dtype::Int32 => T::Int32,
        Dtype::Int64 => T::BigInt64,
        Dtype::UInt8 | Dtype::Bool => T::Uint8,
        Dtype::UInt16 => T::Uint16,
        Dtype::UInt32 => T::Uint32,
        Dtype::UInt64 => T::BigUint64,
        _ => return None,
    })
}

/// A [`vh5::ReadSink`] that gives a read a new JS `ArrayBuffer` to fill, so the
/// elements are copied once, from the engine's cache into JS memory.
pub struct ArrayBufferSink {
    env: napi::sys::napi_env,
    ab: napi::sys::napi_value,
    len: usize,
}

impl ArrayBufferSink {
    pub fn new(env: &Env) -> ArrayBufferSink {
        ArrayBufferSink {
            env: env.raw(),
            ab: std::ptr::null_mut(),
            len: 0,
        }
    }

    /// The filled buffer as a typed array of `kind`.
    pub fn typed_array(
        self,
        kind: TypedArrayType,
        elem_size: usize,
    ) -> napi::Result<Unknown<'static>> {
        let v = typed_array(self.env, kind, self.len / elem_size.max(1), self.ab)?;
        // SAFETY: `v` is a typed array just created in `env`, returned to JS by the
        // calling method before its handle scope ends.
        Ok(unsafe { Unknown::from_raw_unchecked(self.env, v) })
    }
}

impl vh5::ReadSink for ArrayBufferSink {
    fn buffer(&mut self, bytes: usize, _all_mapped: bool) -> vh5::Result<(&mut [u8], bool)> {
        let mut data = std::ptr::null_mut();
        // SAFETY: plain N-API call on the JS thread (the sink is used by synchronous
        // calls only); on success `data` points to `bytes` writable, zeroed bytes owned
        // by the new ArrayBuffer, which the current handle scope keeps alive.
        let status =
            unsafe { napi::sys::napi_create_arraybuffer(self.env, bytes, &mut data, &mut self.ab) };
        if status != napi::sys::Status::napi_ok {
            return Err(vh5::Error::new(
                vh5::ErrorKind::InvalidArgument,
                format!(
                    "could not allocate an ArrayBuffer of {bytes} bytes: read a smaller selection"
                ),
            ));
        }
        self.len = bytes;
        if bytes == 0 || data.is_null() {
            return Ok((&mut [], false));
        }
        // SAFETY: see above; nothing else refers to these bytes while the read fills
        // them.
        let buf = unsafe { std::slice::from_raw_parts_mut(data.cast::<u8>(), bytes) };
        Ok((buf, false))
    }
}

/// The JS name of the typed array kind [`direct_kind`] gives.
fn typed_array_name(kind: TypedArrayType) -> &'static str {
    use TypedArrayType as T;
    match kind {
        T::Int8 => "Int8Array",
        T::Uint8 => "Uint8Array",
        T::Uint8Clamped => "Uint8ClampedArray",
        T::Int16 => "Int16Array",
        T::Uint16 => "Uint16Array",
        T::Int32 => "Int32Array",
        T::Uint32 => "Uint32Array",
        T::Float32 => "Float32Array",
        T::Float64 => "Float64Array",
        T::BigInt64 => "BigInt64Array",
        T::BigUint64 => "BigUint64Array",
        _ => "typed array",
    }
}

/// A typed array a read fills in place (`readInto`): its first elements receive the
/// selection, in C order. Valid for the running call only (see [`typed_info`]).
pub struct TargetSink {
    data: *mut u8,
    len: usize,
    elem: usize,
    written: usize,
}

impl TargetSink {
    /// Checks that `value` is the typed array `dtype` reads as (`Float64Array` for
    /// float64, `Uint8Array` for bool, ...).
    pub fn new(env: &Env, value: napi::sys::napi_value, dtype: &Dtype) -> vh5::Result<TargetSink> {
        let Some(want) = direct_kind(dtype) else {
            return Err(vh5::Error::new(
                vh5::ErrorKind::DtypeMismatch,
                format!(
                    "a {} dataset does not read into a typed array: use read()",
                    dtype.name()
                ),
            ));
        };
        let name = typed_array_name(want);
        let Some((kind, len, data)) = typed_info(env.raw(), value) else {
            return Err(invalid(format!(
                "readInto(target, selection): target must be a {name} (the {} dataset's elements)",
                dtype.name()
            )));
        };
        if kind != napi::sys::napi_typedarray_type::from(want) {
            return Err(vh5::Error::new(
                vh5::ErrorKind::DtypeMismatch,
                format!(
                    "readInto(target, selection): a {} dataset reads into a {name}, not this typed array",
                    dtype.name()
                ),
            ));
        }
        Ok(TargetSink {
            data: data.cast(),
            len,
            elem: dtype.size(),
            written: 0,
        })
    }

    /// Number of elements the read wrote.
    pub fn written(&self) -> usize {
        self.written
    }

    /// Copies a whole result (`bytes`, elements of the dataset's dtype) in.
    pub fn fill(&mut self, bytes: &[u8]) -> vh5::Result<()> {
        let (buf, _) = vh5::ReadSink::buffer(self, bytes.len(), true)?;
        buf.copy_from_slice(bytes);
        Ok(())
    }
}

impl vh5::ReadSink for TargetSink {
    fn buffer(&mut self, bytes: usize, _all_mapped: bool) -> vh5::Result<(&mut [u8], bool)> {
        let n = bytes / self.elem.max(1);
        if n > self.len {
            return Err(vh5::Error::new(
                vh5::ErrorKind::ShapeMismatch,
                format!(
                    "the selection has {n} elements but the target holds {}: pass a typed array of at least {n} elements, or use read()",
                    self.len
                ),
            ));
        }
        self.written = n;
        if bytes == 0 || self.data.is_null() {
            return Ok((&mut [], false));
        }
        // SAFETY: the target holds `len * elem >= bytes` bytes at `data` (checked
        // above), alive while the running call does not run JS; nothing else touches
        // them while the read fills them.
        let buf = unsafe { std::slice::from_raw_parts_mut(self.data, bytes) };
        Ok((buf, false))
    }
}

/// A read's result as the JS value it returns.
pub fn output(data: ReadData, d: &Dtype) -> DataOutput {
    match (data, d) {
        (ReadData::Strings(v), _) => Either3::B(
            v.into_iter()
                .map(|s| {
                    String::from_utf8(s)
                        .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
                })
                .collect(),
        ),
        (ReadData::Raw(buf), Dtype::Compound(c)) => {
            let size = c.size.max(1);
            let n = buf.len() / size;
            let mut out = BTreeMap::new();
            for f in &c.fields {
                let w = f.dtype.size();
                let mut col = AlignedBytes::zeroed(n * w);
                for (dst, rec) in col
                    .as_bytes_mut()
                    .chunks_exact_mut(w.max(1))
                    .zip(buf.as_bytes().chunks_exact(size))
                {
                    dst.copy_from_slice(&rec[f.offset..f.offset + w]);
                }
                out.insert(f.name.clone(), field_output(col, &f.dtype));
            }
            Either3::C(out)
        }
        (ReadData::Raw(buf), d) => match field_output(buf, d) {
            Either::A(t) => Either3::A(t),
            Either::B(s) => Either3::B(s),
        },
    }
}

/// A scalar of `dtype` as a JS value: number, bigint (64-bit integers), boolean or
/// string.
pub type Scalar = Either4<f64, BigInt, bool, String>;

/// Converts one element's bytes to a JS scalar (`null` for compound records).
pub fn scalar(b: &[u8], d: &Dtype) -> Option<Scalar> {
    let mut a = [0u8; 8];
    a[..b.len().min(8)].copy_from_slice(&b[..b.len().min(8)]);
    Some(match d {
        Dtype::Float64 => Either4::A(f64::from_le_bytes(a)),
        Dtype::Float32 => Either4::A(f32::from_le_bytes([a[0], a[1], a[2], a[3]]) as f64),
        Dtype::Float16 => Either4::A(half::f16::from_le_bytes([a[0], a[1]]).to_f64()),
        Dtype::Int8 => Either4::A(a[0] as i8 as f64),
        Dtype::Int16 => Either4::A(i16::from_le_bytes([a[0], a[1]]) as f64),
        Dtype::Int32 => Either4::A(i32::from_le_bytes([a[0], a[1], a[2], a[3]]) as f64),
        Dtype::UInt8 => Either4::A(a[0] as f64),
        Dtype::UInt16 => Either4::A(u16::from_le_bytes([a[0], a[1]]) as f64),
        Dtype::UInt32 => Either4::A(u32::from_le_bytes([a[0], a[1], a[2], a[3]]) as f64),
        Dtype::Int64 => Either4::B(BigInt::from(i64::from_le_bytes(a))),
        Dtype::UInt64 => Either4::B(BigInt::from(u64::from_le_bytes(a))),
        Dtype::Bool => Either4::C(a[0] != 0),
        Dtype::FixedString { len, .. } => Either4::D(
            fixed_strings(b, *len)
                .into_iter()
                .next()
                .unwrap_or_default(),
        ),
        // The only fill value of variable-length strings is the empty string.
        Dtype::VlenString { .. } => Either4::D(String::new()),
        Dtype::Compound(_) => return None,
    })
}

/// A fill value given by the user, as values of `d`.
pub fn fill_values(v: Scalar, d: &Dtype) -> vh5::Result<Values> {
    let mut out = Vec::new();
    match v {
        Either4::A(x) => push_num(&mut out, d, x)?,
        Either4::C(b) => push_num(&mut out, d, if b { 1.0 } else { 0.0 })?,
        Either4::B(b) => push_bigint(&mut out, d, b)?,
        Either4::D(s) => {
            if !d.is_string() {
                return Err(vh5::Error::new(
                    vh5::ErrorKind::DtypeMismatch,
                    format!("a string cannot be the fill value of a {d} dataset"),
                ));
            }
            return Ok(Values::Strings(vec![s.into_bytes()]));
        }
    }
    Ok(Values::Raw(out))
}

/// An attribute value as JS sees it.
pub type AttrJs = Either6<f64, BigInt, bool, String, Vec<Either3<f64, BigInt, bool>>, Vec<String>>;

const MAX_SAFE: i64 = 9_007_199_254_740_991;

/// Engine attribute → JS (integers become numbers when safe, else bigint).
pub fn attr_to_js(v: AttrValue) -> AttrJs {
    let int = |i: i64| {
        if i.unsigned_abs() <= MAX_SAFE as u64 {
            Either3::A(i as f64)
        } else {
            Either3::B(BigInt::from(i))
        }
    };
    let uint = |u: u64| {
        if u <= MAX_SAFE as u64 {
            Either3::A(u as f64)
        } else {
            Either3::B(BigInt::from(u))
        }
    };
    match v {
        AttrValue::Int(i) => match int(i) {
            Either3::A(f) => Either6::A(f),
            Either3::B(b) => Either6::B(b),
            Either3::C(c) => Either6::C(c),
        },
        AttrValue::UInt(u) => match uint(u) {
            Either3::A(f) => Either6::A(f),
            Either3::B(b) => Either6::B(b),
            Either3::C(c) => Either6::C(c),
        },
        AttrValue::Float(f) => Either6::A(f),
        AttrValue::Bool(b) => Either6::C(b),
        AttrValue::Str(s) => Either6::D(s),
        AttrValue::IntArray(v) => Either6::E(v.into_iter().map(int).collect()),
        AttrValue::UIntArray(v) => Either6::E(v.into_iter().map(uint).collect()),
        AttrValue::FloatArray(v) => Either6::E(v.into_iter().map(Either3::A).collect()),
        AttrValue::BoolArray(v) => Either6::E(v.into_iter().map(Either3::C).collect()),
        AttrValue::StrArray(v) => Either6::F(v),
    }
}

/// JS → engine attribute: safe integers are stored as int64, other numbers as float64.
pub fn attr_from_js(v: AttrJs) -> vh5::Result<AttrValue> {
    let big = |b: BigInt| -> vh5::Result<i64> {
        let (x, ok) = b.get_i64();
        if ok {
            Ok(x)
        } else {
            Err(invalid("bigint attribute out of int64 range"))
        }
    };
    Ok(match v {
        Either6::A(f) if f.is_finite() && f.fract() == 0.0 && f.abs() <= MAX_SAFE as f64 => {
            AttrValue::Int(f as i64)
        }
        Either6::A(f) => AttrValue::Float(f),
        Either6::B(b) => AttrValue::Int(big(b)?),
        Either6::C(b) => AttrValue::Bool(b),
        Either6::D(s) => AttrValue::Str(s),
        Either6::F(v) => AttrValue::StrArray(v),
        Either6::E(items) => {
            let all_bool = !items.is_empty() && items.iter().all(|i| matches!(i, Either3::C(_)));
            let all_int = items.iter().all(|i| match i {
                Either3::A(f) => f.is_finite() && f.fract() == 0.0 && f.abs() <= MAX_SAFE as f64,
                Either3::B(_) => true,
                Either3::C(_) => false,
            });
            if all_bool {
                AttrValue::BoolArray(
                    items
                        .into_iter()
                        .map(|i| matches!(i, Either3::C(true)))
                        .collect(),
                )
            } else if all_int {
                AttrValue::IntArray(
                    items
                        .into_iter()
                        .map(|i| match i {
                            Either3::A(f) => Ok(f as i64),
                            Either3::B(b) => big(b),
                            Either3::C(_) => Ok(0),
                        })
                        .collect::<vh5::Result<_>>()?,
                )
            } else {
                AttrValue::FloatArray(
                    items
                        .into_iter()
                        .map(|i| match i {
                            Either3::A(f) => Ok(f),
                            Either3::B(b) => Ok(big(b)? as f64),
                            Either3::C(_) => Err(invalid(
                                "an attribute array cannot mix booleans and numbers",
                            )),
                        })
                        .collect::<vh5::Result<_>>()?,
                )
            }
        }
    })
}

/// Timestamps from JS: a `Date`, an ISO 8601 string, or bigint microseconds.
pub type TimeInput = Either3<chrono::DateTime<chrono::Utc>, String, BigInt>;

/// Converts a JS timestamp to microseconds since the epoch.
pub fn micros(t: TimeInput) -> vh5::Result<i64> {
    match t {
        Either3::A(d) => {
            if d.timestamp_micros() == i64::MIN {
                return Err(invalid("invalid Date"));
            }
            Ok(d.timestamp_micros())
        }
        Either3::B(s) => vh5::time::parse_user_timestamp(&s),
        Either3::C(b) => {
            let (x, ok) = b.get_i64();
            if !ok {
                return Err(invalid("timestamp bigint out of range"));
            }
            vh5::time::format_micros(x)?;
            Ok(x)
        }
    }
}

/// Microseconds → a chrono time for JS `Date` (millisecond precision).
pub fn to_date(us: i64) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::from_timestamp_micros(us).unwrap_or_default()
}
