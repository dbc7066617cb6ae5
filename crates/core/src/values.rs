//! Element values as a dynamically typed host language (JavaScript, Python) hands
//! them over and gets them back: numbers (`f64`), big integers, booleans and strings,
//! encoded into a dtype's element bytes and decoded from them.
//!
//! The rules, the same for every host: a number must be exactly representable in an
//! integer dtype (whole and in range) and is rounded to nearest in a float dtype
//! (binary16 rounds half to even); a boolean is the number 0 or 1; a big integer is
//! exact for `int64`/`uint64` and goes through the number rules for narrower dtypes;
//! strings are only for string dtypes. Decoding is total: fixed-length strings lose
//! their trailing NULs and invalid UTF-8 becomes U+FFFD, float16 widens to float32,
//! and compound records split into one column per field.

use std::collections::BTreeMap;

use crate::buf::{AlignedBytes, ReadData};
use crate::dtype::{f16_bits_from_f64, Compound, Dtype};
use crate::error::{Error, ErrorKind, Result};
use crate::strings::Values;

/// One value of an element, as a host gives it or gets it back.
#[derive(Clone, Debug, PartialEq)]
pub enum Scalar {
    /// A double-precision number.
    Number(f64),
    /// An exact integer (a JavaScript `bigint`): 64-bit integers read back as these.
    BigInt(i128),
    /// A boolean.
    Bool(bool),
    /// Text.
    String(String),
}

fn mismatch(message: String) -> Error {
    Error::new(ErrorKind::DtypeMismatch, message)
}

/// Appends the number `v` as one element of `d`: `DTYPE_MISMATCH` when `d` holds no
/// numbers or `v` is not exactly one of its values (a fraction or out of range for an
/// integer dtype, anything but 0 and 1 for bool).
pub fn push_number(out: &mut Vec<u8>, d: &Dtype, v: f64) -> Result<()> {
    let bad = || mismatch(format!("{v} is not a valid {d} value"));
    let whole = v.is_finite() && v.fract() == 0.0;
    macro_rules! int {
        ($t:ty) => {
            out.extend_from_slice(&<$t>::try_from(v as i64).map_err(|_| bad())?.to_le_bytes())
        };
    }
    match d {
        Dtype::Float64 => out.extend_from_slice(&v.to_le_bytes()),
        Dtype::Float32 => out.extend_from_slice(&(v as f32).to_le_bytes()),
        Dtype::Float16 => out.extend_from_slice(&f16_bits_from_f64(v).to_le_bytes()),
        Dtype::Bool => out.push(if v == 0.0 {
            0
        } else if v == 1.0 {
            1
        } else {
            return Err(bad());
        }),
        Dtype::FixedString { .. } | Dtype::VlenString { .. } | Dtype::Compound(_) => {
            return Err(mismatch(format!(
                "numbers cannot be stored in a {d} dataset"
            )))
        }
        _ if !whole => return Err(bad()),
        Dtype::Int8 => int!(i8),
        Dtype::Int16 => int!(i16),
        Dtype::Int32 => int!(i32),
        Dtype::Int64 => {
            if v.abs() >= 9.223_372_036_854_776e18 {
                return Err(bad());
            }
            out.extend_from_slice(&(v as i64).to_le_bytes())
        }
        Dtype::UInt8 => int!(u8),
        Dtype::UInt16 => int!(u16),
        Dtype::UInt32 => int!(u32),
        Dtype::UInt64 => {
            if !(0.0..1.844_674_407_370_955_2e19).contains(&v) {
                return Err(bad());
            }
            out.extend_from_slice(&(v as u64).to_le_bytes())
        }
    }
    Ok(())
}

/// Appends the boolean `v` as one element of `d` (the number 1 or 0).
pub fn push_bool(out: &mut Vec<u8>, d: &Dtype, v: bool) -> Result<()> {
    push_number(out, d, if v { 1.0 } else { 0.0 })
}

/// Appends the exact integer `v` as one element of `d`: exact for `uint64` and
/// `int64` (`INVALID_ARGUMENT` outside their range), through [`push_number`] for the
/// other dtypes.
pub fn push_bigint(out: &mut Vec<u8>, d: &Dtype, v: i128) -> Result<()> {
    let invalid = |m: String| Error::new(ErrorKind::InvalidArgument, m);
    match d {
        Dtype::UInt64 => {
            let x = u64::try_from(v).map_err(|_| invalid("bigint out of uint64 range".into()))?;
            out.extend_from_slice(&x.to_le_bytes());
        }
        _ => {
            let x = i64::try_from(v).map_err(|_| invalid(format!("bigint out of {d} range")))?;
            if *d == Dtype::Int64 {
                out.extend_from_slice(&x.to_le_bytes());
            } else {
                push_number(out, d, x as f64)?;
            }
        }
    }
    Ok(())
}

/// Appends one host value as an element of `d` (strings are refused: they go to
/// [`Values::Strings`], see [`strings`]).
pub fn push_scalar(out: &mut Vec<u8>, d: &Dtype, v: &Scalar) -> Result<()> {
    match v {
        Scalar::Number(x) => push_number(out, d, *x),
        Scalar::Bool(b) => push_bool(out, d, *b),
        Scalar::BigInt(i) => push_bigint(out, d, *i),
        Scalar::String(_) => Err(mismatch(format!(
            "strings cannot be stored in a {d} dataset: pass numbers"
        ))),
    }
}

/// A fill value given by a host, as the values of `d` that [`crate::CreateOptions`]
/// takes.
pub fn fill_values(v: Scalar, d: &Dtype) -> Result<Values> {
    if let Scalar::String(s) = v {
        if !d.is_string() {
            return Err(mismatch(format!(
                "a string cannot be the fill value of a {d} dataset"
            )));
        }
        return Ok(Values::Strings(vec![s.into_bytes()]));
    }
    let mut out = Vec::new();
    push_scalar(&mut out, d, &v)?;
    Ok(Values::Raw(out))
}

/// Strings as the values of a string dataset `d`: `DTYPE_MISMATCH` when `d` is not one.
pub fn strings(items: Vec<String>, d: &Dtype) -> Result<Values> {
    if !d.is_string() {
        return Err(mismatch(format!(
            "strings cannot be stored in a {d} dataset: pass numbers"
        )));
    }
    Ok(Values::Strings(
        items.into_iter().map(String::into_bytes).collect(),
    ))
}

/// The dtype data given without one is stored as: variable-length UTF-8 strings for
/// text, float64 for numbers (typed arrays carry their own, see [`native`]).
pub fn default_dtype(text: bool) -> Dtype {
    if text {
        Dtype::VlenString { utf8: true }
    } else {
        Dtype::Float64
    }
}

/// How native elements (`own`: the element type of a host array, e.g. a
/// `Float64Array`) are stored in a dataset of `d`.
#[derive(Debug, PartialEq)]
pub enum Native {
    /// The bytes are elements of `d` as they are: store them without a copy.
    AsIs,
    /// Converted (float16 datasets take float32/float64 arrays, rounded).
    Converted(Values),
}

/// Checks native elements `bytes` of type `own` (named `own_name` in messages) for a
/// dataset of `d`: the same dtype, `uint8` 0/1 for bool, or float32/float64 for
/// float16 (rounded to nearest even). `DTYPE_MISMATCH` otherwise.
pub fn native(own: &Dtype, own_name: &str, d: &Dtype, bytes: &[u8]) -> Result<Native> {
    if *d == Dtype::Float16 && matches!(own, Dtype::Float32 | Dtype::Float64) {
        let out: Vec<u8> = if *own == Dtype::Float32 {
            bytemuck::pod_collect_to_vec::<u8, f32>(bytes)
                .into_iter()
                .flat_map(|x| f16_bits_from_f64(f64::from(x)).to_le_bytes())
                .collect()
        } else {
            bytemuck::pod_collect_to_vec::<u8, f64>(bytes)
                .into_iter()
                .flat_map(|x| f16_bits_from_f64(x).to_le_bytes())
                .collect()
        };
        return Ok(Native::Converted(Values::Raw(out)));
    }
    if !(own == d || (*d == Dtype::Bool && *own == Dtype::UInt8)) {
        return Err(mismatch(format!(
            "data is a {own_name} array but the dataset is {d}: pass the matching typed array"
        )));
    }
    if *d == Dtype::Bool && bytes.iter().any(|&b| b > 1) {
        return Err(mismatch("bool data must hold only 0 and 1".into()));
    }
    Ok(Native::AsIs)
}

/// The element type a dataset of `d` is handed out as when its stored bytes are those
/// elements as they are (`uint8` for bool); `None` for float16, strings and compounds,
/// which [`decode`] converts.
pub fn direct_element(d: &Dtype) -> Option<Dtype> {
    Some(match d {
        Dtype::Bool => Dtype::UInt8,
        Dtype::Float64
        | Dtype::Float32
        | Dtype::Int8
        | Dtype::Int16
        | Dtype::Int32
        | Dtype::Int64
        | Dtype::UInt8
        | Dtype::UInt16
        | Dtype::UInt32
        | Dtype::UInt64 => d.clone(),
        _ => return None,
    })
}

/// Decodes one element's bytes (a fill value) as a host value; `None` for compound
/// records. Integers up to 32 bits and floats are numbers, 64-bit integers exact.
pub fn scalar(b: &[u8], d: &Dtype) -> Option<Scalar> {
    let mut a = [0u8; 8];
    a[..b.len().min(8)].copy_from_slice(&b[..b.len().min(8)]);
    let [a0, a1, a2, a3, ..] = a;
    Some(match d {
        Dtype::Float64 => Scalar::Number(f64::from_le_bytes(a)),
        Dtype::Float32 => Scalar::Number(f32::from_le_bytes([a0, a1, a2, a3]) as f64),
        Dtype::Float16 => Scalar::Number(half::f16::from_le_bytes([a0, a1]).to_f64()),
        Dtype::Int8 => Scalar::Number(a0 as i8 as f64),
        Dtype::Int16 => Scalar::Number(i16::from_le_bytes([a0, a1]) as f64),
        Dtype::Int32 => Scalar::Number(i32::from_le_bytes([a0, a1, a2, a3]) as f64),
        Dtype::UInt8 => Scalar::Number(a0 as f64),
        Dtype::UInt16 => Scalar::Number(u16::from_le_bytes([a0, a1]) as f64),
        Dtype::UInt32 => Scalar::Number(u32::from_le_bytes([a0, a1, a2, a3]) as f64),
        Dtype::Int64 => Scalar::BigInt(i64::from_le_bytes(a).into()),
        Dtype::UInt64 => Scalar::BigInt(u64::from_le_bytes(a).into()),
        Dtype::Bool => Scalar::Bool(a0 != 0),
        Dtype::FixedString { len, .. } => Scalar::String(
            fixed_strings(b, *len)
                .into_iter()
                .next()
                .unwrap_or_default(),
        ),
        // The only fill value of variable-length strings is the empty string.
        Dtype::VlenString { .. } => Scalar::String(String::new()),
        Dtype::Compound(_) => return None,
    })
}

/// Fixed-length string elements as text: trailing NULs removed, UTF-8 decoded
/// (invalid bytes become U+FFFD).
pub fn fixed_strings(bytes: &[u8], len: usize) -> Vec<String> {
    bytes
        .chunks_exact(len.max(1))
        .map(|c| {
            let end = c.iter().rposition(|&b| b != 0).map_or(0, |i| i + 1);
            String::from_utf8_lossy(&c[..end]).into_owned()
        })
        .collect()
}

/// Byte strings as text (invalid UTF-8 becomes U+FFFD).
pub fn texts(items: Vec<Vec<u8>>) -> Vec<String> {
    items
        .into_iter()
        .map(|s| {
            String::from_utf8(s)
                .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
        })
        .collect()
}

/// One array of a read's result as a host gets it.
#[derive(Debug, PartialEq)]
pub enum Column {
    /// Numbers: `bytes` are elements of `element` (a dtype [`direct_element`] gives).
    Numbers {
        /// Element type of `bytes`.
        element: Dtype,
        /// The elements, C order.
        bytes: AlignedBytes,
    },
    /// Text, one string per element.
    Strings(Vec<String>),
}

/// A read's result decoded for a host.
#[derive(Debug, PartialEq)]
pub enum Decoded {
    /// Numbers or strings.
    Column(Column),
    /// Compound records: one column per field, by field name.
    Records(BTreeMap<String, Column>),
}

/// Decodes a read of a dataset of `d`.
pub fn decode(data: ReadData, d: &Dtype) -> Decoded {
    match (data, d) {
        (ReadData::Strings(v), _) => Decoded::Column(Column::Strings(texts(v))),
        (ReadData::Raw(buf), Dtype::Compound(c)) => Decoded::Records(
            split_records(&buf, c)
                .into_iter()
                .map(|(name, col, dtype)| (name, column(col, &dtype)))
                .collect(),
        ),
        (ReadData::Raw(buf), d) => Decoded::Column(column(buf, d)),
    }
}

/// Splits compound records into one buffer of elements per field: (name, elements,
/// field dtype), in stored order.
pub fn split_records(buf: &AlignedBytes, c: &Compound) -> Vec<(String, AlignedBytes, Dtype)> {
    let size = c.size.max(1);
    let n = buf.len() / size;
    c.fields
        .iter()
        .map(|f| {
            let w = f.dtype.size();
            let mut col = AlignedBytes::zeroed(n * w);
            for (dst, rec) in col
                .as_bytes_mut()
                .chunks_exact_mut(w.max(1))
                .zip(buf.as_bytes().chunks_exact(size))
            {
                dst.copy_from_slice(&rec[f.offset..f.offset + w]);
            }
            (f.name.clone(), col, f.dtype.clone())
        })
        .collect()
}

/// Elements of a non-compound dtype `d` (or of one compound field) as a column.
pub fn column(buf: AlignedBytes, d: &Dtype) -> Column {
    let numbers = |element: Dtype, bytes| Column::Numbers { element, bytes };
    match d {
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
            numbers(Dtype::Float32, out)
        }
        Dtype::FixedString { len, .. } => Column::Strings(fixed_strings(buf.as_bytes(), *len)),
        d => match direct_element(d) {
            Some(e) => numbers(e, buf),
            // Not reachable for fields (refused when the type is read) nor for whole
            // string datasets (read as strings); shown as raw bytes to stay total.
            None => numbers(Dtype::UInt8, buf),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_encode_exactly_or_are_refused() {
        let mut out = Vec::new();
        push_number(&mut out, &Dtype::Int8, -128.0).unwrap();
        assert_eq!(out, vec![0x80]);
        assert_eq!(
            push_number(&mut out, &Dtype::Int8, 128.0).unwrap_err().kind,
            ErrorKind::DtypeMismatch
        );
        assert_eq!(
            push_number(&mut out, &Dtype::Int32, 1.5).unwrap_err().kind,
            ErrorKind::DtypeMismatch
        );
        assert_eq!(
            push_number(&mut out, &Dtype::Bool, 2.0).unwrap_err().kind,
            ErrorKind::DtypeMismatch
        );
        assert_eq!(
            push_number(&mut out, &Dtype::UInt64, -1.0)
                .unwrap_err()
                .kind,
            ErrorKind::DtypeMismatch
        );
    }

    #[test]
    fn bigints_are_exact_for_64_bit_integers() {
        let mut out = Vec::new();
        push_bigint(&mut out, &Dtype::UInt64, u64::MAX.into()).unwrap();
        assert_eq!(out, u64::MAX.to_le_bytes());
        let err = push_bigint(&mut out, &Dtype::UInt64, -1).unwrap_err();
        assert_eq!(err.kind, ErrorKind::InvalidArgument);
        let err = push_bigint(&mut out, &Dtype::Int64, i128::from(i64::MAX) + 1).unwrap_err();
        assert_eq!(err.kind, ErrorKind::InvalidArgument);
        assert_eq!(
            push_bigint(&mut out, &Dtype::Int8, 300).unwrap_err().kind,
            ErrorKind::DtypeMismatch
        );
    }

    #[test]
    fn scalars_round_trip_through_fill_values() {
        for (d, v) in [
            (Dtype::Float64, Scalar::Number(2.5)),
            (Dtype::Int64, Scalar::BigInt(-7)),
            (Dtype::UInt64, Scalar::BigInt(u64::MAX.into())),
            (Dtype::Bool, Scalar::Bool(true)),
            (
                Dtype::FixedString {
                    len: 4,
                    utf8: false,
                },
                Scalar::String("ab".into()),
            ),
        ] {
            let bytes = match fill_values(v.clone(), &d).unwrap() {
                Values::Raw(b) => b,
                Values::Strings(s) => {
                    let mut b = s[0].clone();
                    b.resize(d.size(), 0);
                    b
                }
            };
            assert_eq!(scalar(&bytes, &d), Some(v), "{d}");
        }
    }

    #[test]
    fn records_split_into_columns() {
        let c = Compound {
            size: 5,
            fields: vec![
                crate::dtype::Field {
                    name: "a".into(),
                    offset: 0,
                    dtype: Dtype::Int32,
                },
                crate::dtype::Field {
                    name: "s".into(),
                    offset: 4,
                    dtype: Dtype::FixedString {
                        len: 1,
                        utf8: false,
                    },
                },
            ],
        };
        let mut raw = Vec::new();
        for (a, s) in [(1i32, b'x'), (2, 0)] {
            raw.extend_from_slice(&a.to_le_bytes());
            raw.push(s);
        }
        let got = decode(
            ReadData::Raw(AlignedBytes::copy_from(&raw)),
            &Dtype::Compound(c.into()),
        );
        let Decoded::Records(cols) = got else {
            panic!("records")
        };
        assert_eq!(cols["s"], Column::Strings(vec!["x".into(), String::new()]));
        let Column::Numbers { element, bytes } = &cols["a"] else {
            panic!("numbers")
        };
        assert_eq!(*element, Dtype::Int32);
        assert_eq!(bytes.as_bytes(), &[1, 0, 0, 0, 2, 0, 0, 0]);
    }
}
