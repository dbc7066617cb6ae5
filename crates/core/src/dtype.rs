//! Element types. Values cross the engine as raw little-endian bytes in the layout of
//! the type (the in-memory layout of NumPy, which is also what the hash covers), except
//! variable-length strings: in memory one such element is a `u64` (little-endian)
//! index into a [`crate::strings::StrPool`], so that chunk and selection arithmetic
//! treats every dtype as fixed-size elements.

use std::sync::Arc;

use crate::error::{bail, Result};

/// One field of a compound (structured) dtype.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Field {
    /// Field name.
    pub name: String,
    /// Byte offset inside one record.
    pub offset: usize,
    /// Element type of the field (numeric, bool, float16 or fixed-length string).
    pub dtype: Dtype,
}

/// A compound (structured) dtype: named fields at byte offsets inside a record.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Compound {
    /// Size of one record in bytes.
    pub size: usize,
    /// Fields in stored order.
    pub fields: Vec<Field>,
}

/// An element type of a dataset.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Dtype {
    /// Signed 8-bit integer.
    Int8,
    /// Signed 16-bit integer.
    Int16,
    /// Signed 32-bit integer.
    Int32,
    /// Signed 64-bit integer.
    Int64,
    /// Unsigned 8-bit integer.
    UInt8,
    /// Unsigned 16-bit integer.
    UInt16,
    /// Unsigned 32-bit integer.
    UInt32,
    /// Unsigned 64-bit integer.
    UInt64,
    /// IEEE 754 binary16 (NumPy `float16`), as its 2-byte bit pattern.
    Float16,
    /// IEEE 754 binary32.
    Float32,
    /// IEEE 754 binary64.
    Float64,
    /// Boolean, one byte 0/1 (h5py's enum over int8 on disk).
    Bool,
    /// Fixed-length strings of `len` bytes, NUL-padded (NumPy `S<len>`); `utf8`
    /// tells the HDF5 character set (ASCII otherwise).
    FixedString {
        /// Bytes per element.
        len: usize,
        /// UTF-8 character set (else ASCII).
        utf8: bool,
    },
    /// Variable-length strings (h5py `string_dtype()`); `utf8` tells the HDF5
    /// character set (ASCII otherwise).
    VlenString {
        /// UTF-8 character set (else ASCII).
        utf8: bool,
    },
    /// Compound records; readable, not writable.
    Compound(Arc<Compound>),
}

const NAMES: &str = "int8, int16, int32, int64, uint8, uint16, uint32, uint64, float16, float32, float64, bool, string (variable-length UTF-8), ascii (variable-length ASCII), S<n> (fixed-length n bytes), utf8[<n>] (fixed-length n-byte UTF-8)";

impl Dtype {
    /// Size of one element in memory, in bytes (8 for a variable-length string index).
    pub fn size(&self) -> usize {
        match self {
            Dtype::Int8 | Dtype::UInt8 | Dtype::Bool => 1,
            Dtype::Int16 | Dtype::UInt16 | Dtype::Float16 => 2,
            Dtype::Int32 | Dtype::UInt32 | Dtype::Float32 => 4,
            Dtype::Int64 | Dtype::UInt64 | Dtype::Float64 => 8,
            Dtype::FixedString { len, .. } => *len,
            Dtype::VlenString { .. } => 8,
            Dtype::Compound(c) => c.size,
        }
    }

    /// The name users see: NumPy-style for numbers (`float64`, `int32`, `bool`),
    /// `string` / `ascii` for variable-length strings, `S<n>` / `utf8[<n>]` for
    /// fixed-length strings, `compound{a:int32,b:float64}` for records.
    pub fn name(&self) -> String {
        match self {
            Dtype::Int8 => "int8".into(),
            Dtype::Int16 => "int16".into(),
            Dtype::Int32 => "int32".into(),
            Dtype::Int64 => "int64".into(),
            Dtype::UInt8 => "uint8".into(),
            Dtype::UInt16 => "uint16".into(),
            Dtype::UInt32 => "uint32".into(),
            Dtype::UInt64 => "uint64".into(),
            Dtype::Float16 => "float16".into(),
            Dtype::Float32 => "float32".into(),
            Dtype::Float64 => "float64".into(),
            Dtype::Bool => "bool".into(),
            Dtype::FixedString { len, utf8: false } => format!("S{len}"),
            Dtype::FixedString { len, utf8: true } => format!("utf8[{len}]"),
            Dtype::VlenString { utf8: true } => "string".into(),
            Dtype::VlenString { utf8: false } => "ascii".into(),
            Dtype::Compound(c) => {
                let f: Vec<String> = c
                    .fields
                    .iter()
                    .map(|f| format!("{}:{}", f.name, f.dtype.name()))
                    .collect();
                format!("compound{{{}}}", f.join(","))
            }
        }
    }

    /// Parses a name: the ones [`Dtype::name`] gives, NumPy's short codes (`<f8`,
    /// `i4`, `?`, `f2`, `S20`) and `str`/`utf8` for variable-length UTF-8 strings.
    pub fn parse(name: &str) -> Result<Dtype> {
        let n = name.trim().trim_start_matches(['<', '=', '|']);
        let fixed = |digits: &str, utf8: bool| -> Result<Dtype> {
            match digits.parse::<usize>() {
                Ok(len) if len > 0 && len <= 1 << 24 => Ok(Dtype::FixedString { len, utf8 }),
                _ => bail!(
                    UnsupportedDtype,
                    "unsupported dtype '{name}': a fixed-length string needs a length from 1 to 16777216, as in S20 or utf8[20]"
                ),
            }
        };
        if let Some(rest) = n.strip_prefix('S') {
            if !rest.is_empty() && rest.bytes().all(|b| b.is_ascii_digit()) {
                return fixed(rest, false);
            }
        }
        for (prefix, utf8) in [("utf8[", true), ("ascii[", false)] {
            if let Some(rest) = n.strip_prefix(prefix).and_then(|r| r.strip_suffix(']')) {
                return fixed(rest, utf8);
            }
        }
        Ok(match n {
            "int8" | "i1" => Dtype::Int8,
            "int16" | "i2" => Dtype::Int16,
            "int32" | "i4" => Dtype::Int32,
            "int64" | "i8" => Dtype::Int64,
            "uint8" | "u1" => Dtype::UInt8,
            "uint16" | "u2" => Dtype::UInt16,
            "uint32" | "u4" => Dtype::UInt32,
            "uint64" | "u8" => Dtype::UInt64,
            "float16" | "f2" | "half" => Dtype::Float16,
            "float32" | "f4" => Dtype::Float32,
            "float64" | "f8" | "float" => Dtype::Float64,
            "bool" | "?" | "b1" => Dtype::Bool,
            "string" | "str" | "utf8" | "utf-8" => Dtype::VlenString { utf8: true },
            "ascii" => Dtype::VlenString { utf8: false },
            _ => bail!(
                UnsupportedDtype,
                "unsupported dtype '{name}': use one of {NAMES}"
            ),
        })
    }

    /// The default fill value as bytes: zero, the empty string (index 0 for
    /// variable-length strings, all NULs for fixed-length ones).
    pub fn zero(&self) -> Vec<u8> {
        vec![0; self.size()]
    }

    /// Whether elements are variable-length strings (pool indices in memory).
    pub fn is_vlen(&self) -> bool {
        matches!(self, Dtype::VlenString { .. })
    }

    /// Whether elements are strings of either kind.
    pub fn is_string(&self) -> bool {
        matches!(self, Dtype::VlenString { .. } | Dtype::FixedString { .. })
    }

    /// Whether a later version may store `other` in a dataset path of this dtype:
    /// equal types, or variable-length strings of either character set.
    pub fn compatible(&self, other: &Dtype) -> bool {
        self == other || (self.is_vlen() && other.is_vlen())
    }

    /// Fails with `UNSUPPORTED_DTYPE` for dtypes this library reads but cannot write.
    pub fn require_writable(&self) -> Result<()> {
        if let Dtype::Compound(_) = self {
            bail!(
                UnsupportedDtype,
                "{} datasets are read-only in this library: write each field as its own dataset",
                self.name()
            );
        }
        Ok(())
    }
}

/// IEEE binary16 bits of `x`, rounded once to nearest, ties to even (as NumPy's
/// `float16(x)`). Rounding through float32 first would round twice and can differ.
pub fn f16_bits_from_f64(x: f64) -> u16 {
    let bits = x.to_bits();
    let sign = ((bits >> 48) & 0x8000) as u16;
    let exp = ((bits >> 52) & 0x7ff) as i32;
    let man = bits & 0x000f_ffff_ffff_ffff;
    if exp == 0x7ff {
        // Infinity, or NaN keeping the top of its payload (and staying a NaN).
        return if man == 0 {
            sign | 0x7c00
        } else {
            sign | 0x7e00 | ((man >> 42) as u16 & 0x3ff)
        };
    }
    let e = exp - 1023 + 15;
    if e >= 31 {
        return sign | 0x7c00;
    }
    let round = |kept: u64, rem: u64, halfway: u64| -> u64 {
        if rem > halfway || (rem == halfway && kept & 1 == 1) {
            kept + 1
        } else {
            kept
        }
    };
    if e <= 0 {
        // Subnormal (or zero) in binary16: units of 2^-24.
        if e < -10 {
            return sign;
        }
        let m = man | (1u64 << 52);
        let shift = (43 - e) as u32;
        let kept = m >> shift;
        let rem = m & ((1u64 << shift) - 1);
        return sign | round(kept, rem, 1u64 << (shift - 1)) as u16;
    }
    let kept = ((e as u64) << 10) | (man >> 42);
    let rem = man & ((1u64 << 42) - 1);
    // A carry out of the mantissa correctly bumps the exponent (up to infinity).
    sign | round(kept, rem, 1u64 << 41) as u16
}

impl std::fmt::Display for Dtype {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn f16_rounds_once_to_nearest_even() {
        let p = |e: i32| 2f64.powi(e);
        for (x, want) in [
            (1.0, 0x3c00),
            (1.0 + p(-11) + p(-30), 0x3c01), // through float32 this became 1.0
            (1.0 + p(-11), 0x3c00),          // tie: to even
            (1.0 + 3.0 * p(-11), 0x3c02),    // tie: to even (up)
            (65504.0, 0x7bff),
            (65519.999, 0x7bff),
            (65520.0, 0x7c00),
            (p(-24), 0x0001),
            (p(-25), 0x0000),
            (p(-25) * 1.000001, 0x0001),
            (1.5 * p(-24), 0x0002),
            (2.5 * p(-24), 0x0002),
            (p(-14) - p(-25), 0x0400), // rounds up into the normals
            (0.1, 0x2e66),
            (1.0 / 3.0, 0x3555),
            (-2.0, 0xc000),
            (-0.0, 0x8000),
            (f64::INFINITY, 0x7c00),
            (f64::NEG_INFINITY, 0xfc00),
            (1e300, 0x7c00),
            (1e-300, 0x0000),
        ] {
            assert_eq!(f16_bits_from_f64(x), want, "{x:e}");
        }
        assert_eq!(f16_bits_from_f64(f64::NAN) & 0x7e00, 0x7e00);
    }

    #[test]
    fn names_round_trip() {
        for d in [
            Dtype::Int8,
            Dtype::Int16,
            Dtype::Int32,
            Dtype::Int64,
            Dtype::UInt8,
            Dtype::UInt16,
            Dtype::UInt32,
            Dtype::UInt64,
            Dtype::Float16,
            Dtype::Float32,
            Dtype::Float64,
            Dtype::Bool,
            Dtype::FixedString {
                len: 20,
                utf8: false,
            },
            Dtype::FixedString { len: 7, utf8: true },
            Dtype::VlenString { utf8: true },
            Dtype::VlenString { utf8: false },
        ] {
            assert_eq!(Dtype::parse(&d.name()).unwrap(), d);
        }
        assert_eq!(Dtype::parse("<f8").unwrap(), Dtype::Float64);
        assert_eq!(Dtype::parse("|S3").unwrap().size(), 3);
        for bad in ["complex128", "S0", "S", "utf8[x]", "U10"] {
            assert_eq!(
                Dtype::parse(bad).unwrap_err().code(),
                "UNSUPPORTED_DTYPE",
                "{bad}"
            );
        }
        assert!(Dtype::VlenString { utf8: true }.compatible(&Dtype::VlenString { utf8: false }));
        assert!(!Dtype::Float32.compatible(&Dtype::Float64));
    }
}
