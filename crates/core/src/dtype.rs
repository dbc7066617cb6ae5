//! Element types. Values cross the engine as raw little-endian bytes in the layout of
//! the type (the in-memory layout of NumPy, which is also what the hash covers).

use crate::error::{bail, Result};

/// An element type of a dataset.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
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
    /// IEEE 754 binary32.
    Float32,
    /// IEEE 754 binary64.
    Float64,
    /// Boolean, one byte 0/1 (h5py's enum over int8 on disk).
    Bool,
}

impl Dtype {
    /// Size of one element in bytes.
    pub fn size(self) -> usize {
        match self {
            Dtype::Int8 | Dtype::UInt8 | Dtype::Bool => 1,
            Dtype::Int16 | Dtype::UInt16 => 2,
            Dtype::Int32 | Dtype::UInt32 | Dtype::Float32 => 4,
            Dtype::Int64 | Dtype::UInt64 | Dtype::Float64 => 8,
        }
    }

    /// The NumPy-style name (`float64`, `int32`, `bool`, …).
    pub fn name(self) -> &'static str {
        match self {
            Dtype::Int8 => "int8",
            Dtype::Int16 => "int16",
            Dtype::Int32 => "int32",
            Dtype::Int64 => "int64",
            Dtype::UInt8 => "uint8",
            Dtype::UInt16 => "uint16",
            Dtype::UInt32 => "uint32",
            Dtype::UInt64 => "uint64",
            Dtype::Float32 => "float32",
            Dtype::Float64 => "float64",
            Dtype::Bool => "bool",
        }
    }

    /// Parses a NumPy-style name; NumPy's short codes (`<f8`, `i4`, `?`) are accepted too.
    pub fn parse(name: &str) -> Result<Dtype> {
        let n = name.trim().trim_start_matches(['<', '=', '|']);
        Ok(match n {
            "int8" | "i1" => Dtype::Int8,
            "int16" | "i2" => Dtype::Int16,
            "int32" | "i4" => Dtype::Int32,
            "int64" | "i8" => Dtype::Int64,
            "uint8" | "u1" => Dtype::UInt8,
            "uint16" | "u2" => Dtype::UInt16,
            "uint32" | "u4" => Dtype::UInt32,
            "uint64" | "u8" => Dtype::UInt64,
            "float32" | "f4" => Dtype::Float32,
            "float64" | "f8" | "float" => Dtype::Float64,
            "bool" | "?" | "b1" => Dtype::Bool,
            _ => bail!(
                UnsupportedDtype,
                "unsupported dtype '{name}': use one of int8, int16, int32, int64, uint8, uint16, uint32, uint64, float32, float64, bool"
            ),
        })
    }

    /// The zero value of this type as bytes (the default fill value).
    pub fn zero(self) -> Vec<u8> {
        vec![0; self.size()]
    }
}

impl std::fmt::Display for Dtype {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
            Dtype::Float32,
            Dtype::Float64,
            Dtype::Bool,
        ] {
            assert_eq!(Dtype::parse(d.name()).unwrap(), d);
        }
        assert_eq!(Dtype::parse("<f8").unwrap(), Dtype::Float64);
        assert_eq!(
            Dtype::parse("complex128").unwrap_err().code(),
            "UNSUPPORTED_DTYPE"
        );
    }
}
