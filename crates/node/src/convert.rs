//! Conversions between JS values and engine types. The rules (how a number is stored
//! in a dtype, what a read hands back, selections, defaults) are the engine's
//! (`vh5::values`, `vh5::host`); this file only moves values across N-API.

use napi::bindgen_prelude::*;
use napi::{Env, JsValue, Status};

use std::collections::BTreeMap;

use vh5::host::Axis;
use vh5::values::{Column, Decoded, Native};
use vh5::{AlignedBytes, AttrValue, AxisSel, Dtype, ReadData, Values};

use crate::guard::{invalid, Out};

/// The dataset side of a lookup result; `INVALID_ARGUMENT` when `path` is a group.
pub fn want_dataset<D, G>(node: Either<D, G>, path: &str) -> Out<D> {
    match node {
        Either::A(d) => Ok(d),
        Either::B(_) => Err(invalid(format!("'{path}' is a group, not a dataset")).into()),
    }
}

/// The group side of a lookup result; `INVALID_ARGUMENT` when `path` is a dataset.
pub fn want_group<D, G>(node: Either<D, G>, path: &str) -> Out<G> {
    match node {
        Either::B(g) => Ok(g),
        Either::A(_) => Err(invalid(format!("'{path}' is a dataset, not a group")).into()),
    }
}

/// A slice given as an object: `{ start, stop, step }`, or an index list `{ indices }`.
#[napi(object, object_to_js = false)]
pub struct SliceSpec {
    /// First coordinate (default 0; negative counts from the end).
    pub start: Option<f64>,
    /// One past the last coordinate (default the axis length).
    pub stop: Option<f64>,
    /// Stride, a positive integer (default 1).
    pub step: Option<f64>,
    /// Explicit coordinates along this axis (any order; negative counts from the end):
    /// an array of numbers or an integer (or float64) typed array.
    #[napi(ts_type = "Array<number> | NumericArray")]
    pub indices: Option<Vec<f64>>,
}

impl From<SliceSpec> for Axis {
    fn from(s: SliceSpec) -> Axis {
        match s.indices {
            Some(ix) => Axis::List(ix),
            None => Axis::Slice {
                start: s.start,
                stop: s.stop,
                step: s.step,
            },
        }
    }
}

/// One axis of a selection: an index, `null` for the whole axis, `[start, stop, step?]`
/// (entries may be `null`), or a [`SliceSpec`] object.
type AxisSpec = Option<Either3<f64, Vec<Option<f64>>, SliceSpec>>;

/// A selection as JS passed it, not converted yet (see [`selection_arg`]).
pub type SelectionArg<'a> = Option<Unknown<'a>>;

/// Parses a selection argument: napi conversion errors (a value of a type no selection
/// takes) are thrown at once, the engine's checks come back as the inner error.
///
/// The forms reads use most — an array of indexes, `null`s and `[start, stop, step?]`
/// arrays of numbers, slice objects, index lists as arrays of numbers or typed
/// arrays — are read here directly, with a handful of N-API calls; anything else goes
/// through the generic conversion, so its results and errors are those of
/// `Option<Vec<AxisSpec>>`.
pub fn selection_arg(env: &Env, arg: SelectionArg) -> napi::Result<vh5::Result<Vec<AxisSel>>> {
    let Some(arg) = arg else {
        return Ok(Ok(Vec::new()));
    };
    let (env, value) = (env.raw(), arg.raw());
    if let Some(axes) = plain_selection(env, value) {
        return Ok(vh5::host::selection(axes.unwrap_or_default()));
    }
    // SAFETY: `value` is an argument of the current call, valid in `env` while it runs.
    let spec = unsafe { <Option<Vec<AxisSpec>>>::from_napi_value(env, value) }?;
    let axes = spec
        .unwrap_or_default()
        .into_iter()
        .map(|a| match a {
            None => Axis::All,
            Some(Either3::A(i)) => Axis::Index(i),
            Some(Either3::B(v)) => Axis::Bounds(v),
            Some(Either3::C(s)) => s.into(),
        })
        .collect();
    Ok(vh5::host::selection(axes))
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
fn slice_object(env: napi::sys::napi_env, value: napi::sys::napi_value) -> Option<Axis> {
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
    Some(
        SliceSpec {
            start: bound(c"start")?,
            stop: bound(c"stop")?,
            step: bound(c"step")?,
            indices,
        }
        .into(),
    )
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

/// Byte length of a typed array now (0 once its buffer was detached or transferred);
/// `None` for anything else.
pub fn typed_byte_length(value: Unknown) -> Option<usize> {
    use napi::sys::TypedarrayType as A;
    let (kind, len, _) = typed_info(value.value().env, value.raw())?;
    let size = match kind {
        A::int8_array | A::uint8_array | A::uint8_clamped_array => 1,
        A::int16_array | A::uint16_array => 2,
        A::int32_array | A::uint32_array | A::float32_array => 4,
        _ => 8,
    };
    Some(len * size)
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
) -> Option<Option<Vec<Axis>>> {
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
            T::napi_undefined | T::napi_null => Axis::All,
            T::napi_number => Axis::Index(number(env, item)?),
            T::napi_object if !is_array(env, item) => slice_object(env, item)?,
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
                Axis::Bounds(bounds)
            }
            _ => return None,
        });
    }
    Some(Some(out))
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

/// Data parsed from JS: a typed array whose bytes are already elements of the target
/// dtype (borrowed while the call lasts, never copied here; see [`Data::hold`] for
/// data a staged version keeps until it commits), or values converted by the engine's
/// rules (`vh5::values`).
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

/// Whether user data is a single value rather than an array.
pub fn is_scalar(d: &DataInput) -> Out<bool> {
    Ok(matches!(
        d.get_type()?,
        ValueType::Number | ValueType::Boolean | ValueType::BigInt | ValueType::String
    ))
}

/// One JS value as an engine scalar (`None`: not a number, bigint, boolean or string).
fn scalar_of(v: Unknown) -> Out<Option<vh5::Scalar>> {
    Ok(Some(match v.get_type()? {
        // SAFETY: the value was just checked to be a number.
        ValueType::Number => vh5::Scalar::Number(unsafe { v.cast::<f64>() }?),
        // SAFETY: the value was just checked to be a boolean.
        ValueType::Boolean => vh5::Scalar::Bool(unsafe { v.cast::<bool>() }?),
        // SAFETY: the value was just checked to be a bigint.
        ValueType::BigInt => vh5::Scalar::BigInt(bigint(unsafe { v.cast::<BigInt>() }?)),
        // SAFETY: the value was just checked to be a string.
        ValueType::String => vh5::Scalar::String(unsafe { v.cast::<String>() }?),
        _ => return Ok(None),
    }))
}

/// A bigint as an `i128` (saturating: anything wider is out of every dtype's range).
fn bigint(b: BigInt) -> i128 {
    match b.get_i128() {
        (v, true) => v,
        _ if b.sign_bit => i128::MIN,
        _ => i128::MAX,
    }
}

/// Parses and checks data for a dataset of `dtype` (inferred when `None`: from a typed
/// array, else [`vh5::values::default_dtype`]).
pub fn data_input<'a>(input: DataInput<'a>, dtype: Option<&Dtype>) -> Out<(Data<'a>, Dtype)> {
    if let Some(d) = dtype {
        d.require_writable()?;
    }
    let items: Vec<Unknown> = match input.get_type()? {
        ValueType::Number | ValueType::Boolean | ValueType::BigInt | ValueType::String => {
            vec![input]
        }
        ValueType::Object if input.is_typedarray()? => {
            // SAFETY: the value was just checked to be a typed array.
            let ta: TypedArray = unsafe { input.cast() }?;
            let Some(own) = dtype_of_typed(ta.typed_array_type) else {
                return Err(invalid(
                    "this typed array type is not supported: use Float64Array, Int32Array, …",
                )
                .into());
            };
            let d = dtype.cloned().unwrap_or_else(|| own.clone());
            let name = format!("{:?}", ta.typed_array_type);
            return Ok(match vh5::values::native(&own, &name, &d, &ta.arraybuffer)? {
                Native::AsIs => (Data::Typed(ta), d),
                Native::Converted(v) => (Data::Values(v), d),
            });
        }
        ValueType::Object if input.is_array()? => {
            // SAFETY: the value was just checked to be an array.
            unsafe { input.cast() }?
        }
        other => {
            return Err(invalid(format!(
                "data must be a typed array, an array of numbers or strings, or a single value, got {other:?}"
            ))
            .into())
        }
    };
    let text = match items.first() {
        Some(it) => it.get_type()? == ValueType::String,
        None => false,
    };
    let d = dtype
        .cloned()
        .unwrap_or_else(|| vh5::values::default_dtype(text));
    if d.is_string() {
        let mut out = Vec::with_capacity(items.len());
        for it in items {
            match scalar_of(it)? {
                Some(vh5::Scalar::String(s)) => out.push(s),
                _ => {
                    return Err(vh5::Error::new(
                        vh5::ErrorKind::DtypeMismatch,
                        format!("a {d} dataset takes strings: every entry must be a string"),
                    )
                    .into())
                }
            }
        }
        return Ok((Data::Values(vh5::values::strings(out, &d)?), d));
    }
    let mut out = Vec::with_capacity(items.len() * d.size());
    for it in items {
        let t = it.get_type()?;
        match scalar_of(it)? {
            Some(v) => vh5::values::push_scalar(&mut out, &d, &v)?,
            None => {
                return Err(invalid(format!(
                    "data entries must be numbers, bigints, booleans or strings, got {t:?}"
                ))
                .into())
            }
        }
    }
    Ok((Data::Values(Values::Raw(out)), d))
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

/// Frees the buffer of an external `ArrayBuffer` once JS collected it, or hands it back
/// for the next large read to reuse ([`vh5::buf::recycle`]).
unsafe extern "C" fn free_words(
    _env: napi::sys::napi_env,
    _data: *mut std::ffi::c_void,
    hint: *mut std::ffi::c_void,
) {
    // SAFETY: `hint` is the `Box<Vec<u64>>` leaked in `TypedOutput::to_napi_value` for
    // this ArrayBuffer alone; Node calls the finalizer once, after which nothing in JS
    // can reach the bytes.
    let words = unsafe { Box::from_raw(hint.cast::<Vec<u64>>()) };
    vh5::buf::recycle(*words);
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

/// The typed array kind that holds elements of `element` (a dtype
/// [`vh5::values::direct_element`] gives).
fn typed_kind(element: &Dtype) -> TypedArrayType {
    use TypedArrayType as T;
    match element {
        Dtype::Float64 => T::Float64,
        Dtype::Float32 => T::Float32,
        Dtype::Int8 => T::Int8,
        Dtype::Int16 => T::Int16,
        Dtype::Int32 => T::Int32,
        Dtype::Int64 => T::BigInt64,
        Dtype::UInt16 => T::Uint16,
        Dtype::UInt32 => T::Uint32,
        Dtype::UInt64 => T::BigUint64,
        _ => T::Uint8,
    }
}

/// The typed array a dataset of `d` reads into when its stored bytes are the array's
/// elements as they are (`None` for float16, strings and compounds, which convert).
pub fn direct_kind(d: &Dtype) -> Option<TypedArrayType> {
    vh5::values::direct_element(d).map(|e| typed_kind(&e))
}

fn column_output(c: Column) -> Either<TypedOutput, Vec<String>> {
    match c {
        Column::Numbers { element, bytes } => Either::A(TypedOutput::new(
            typed_kind(&element),
            element.size(),
            bytes,
        )),
        Column::Strings(s) => Either::B(s),
    }
}

/// A read's result as the JS value it returns (decoded by [`vh5::values::decode`]).
pub fn output(data: ReadData, d: &Dtype) -> DataOutput {
    match vh5::values::decode(data, d) {
        Decoded::Column(c) => match column_output(c) {
            Either::A(t) => Either3::A(t),
            Either::B(s) => Either3::B(s),
        },
        Decoded::Records(cols) => Either3::C(
            cols.into_iter()
                .map(|(k, c)| (k, column_output(c)))
                .collect(),
        ),
    }
}

/// A scalar of `dtype` as a JS value: number, bigint (64-bit integers), boolean or
/// string.
pub type Scalar = Either4<f64, BigInt, bool, String>;

/// An engine scalar as its JS value.
pub fn scalar_to_js(v: vh5::Scalar) -> Scalar {
    match v {
        vh5::Scalar::Number(x) => Either4::A(x),
        vh5::Scalar::BigInt(i) => Either4::B(BigInt::from(i)),
        vh5::Scalar::Bool(b) => Either4::C(b),
        vh5::Scalar::String(s) => Either4::D(s),
    }
}

/// A JS scalar as the engine's.
pub fn scalar_from_js(v: Scalar) -> vh5::Scalar {
    match v {
        Either4::A(x) => vh5::Scalar::Number(x),
        Either4::B(b) => vh5::Scalar::BigInt(bigint(b)),
        Either4::C(b) => vh5::Scalar::Bool(b),
        Either4::D(s) => vh5::Scalar::String(s),
    }
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

/// An attribute value as JS sees it.
pub type AttrJs = Either6<f64, BigInt, bool, String, Vec<Either3<f64, BigInt, bool>>, Vec<String>>;

const MAX_SAFE: i64 = vh5::host::MAX_SAFE_INTEGER;

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

/// A timestamp from JS: a `Date`, an ISO 8601 string, or bigint microseconds
/// (TypeScript: `Date | string | bigint`).
pub struct Time(pub i64);

impl TypeName for Time {
    fn type_name() -> &'static str {
        "Date | string | bigint"
    }

    fn value_type() -> ValueType {
        ValueType::Unknown
    }
}

impl FromNapiValue for Time {
    unsafe fn from_napi_value(
        env: napi::sys::napi_env,
        value: napi::sys::napi_value,
    ) -> napi::Result<Self> {
        let bad = |what: &str| napi::Error::new(Status::InvalidArg, what.to_string());
        let mut is_date = false;
        // SAFETY: `env` and `value` belong to the running call; the out-pointer is valid.
        unsafe { napi::sys::napi_is_date(env, value, &mut is_date) };
        if is_date {
            let mut ms = 0.0;
            // SAFETY: as above; `value` is a Date.
            unsafe { napi::sys::napi_get_date_value(env, value, &mut ms) };
            if !ms.is_finite() {
                return Err(bad("the timestamp is an invalid Date"));
            }
            return Ok(Time(ms as i64 * 1000));
        }
        let micros = match type_of(env, value) {
            Some(napi::sys::ValueType::napi_string) => {
                // SAFETY: forwarded; `value` is a string.
                let s = unsafe { String::from_napi_value(env, value) }?;
                vh5::time::parse_user_timestamp(&s)
            }
            Some(napi::sys::ValueType::napi_bigint) => {
                // SAFETY: forwarded; `value` is a bigint.
                let b = unsafe { BigInt::from_napi_value(env, value) }?;
                match b.get_i64() {
                    (x, true) => vh5::time::format_micros(x).map(|_| x),
                    _ => Err(invalid("timestamp bigint out of range")),
                }
            }
            _ => {
                return Err(bad(
                    "a timestamp is a Date, an ISO 8601 string or bigint microseconds",
                ))
            }
        };
        micros.map(Time).map_err(|e| bad(&e.message))
    }
}

/// Microseconds → a chrono time for JS `Date` (millisecond precision).
pub fn to_date(us: i64) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::from_timestamp_micros(us).unwrap_or_default()
}
