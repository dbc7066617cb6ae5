//! Attribute values: what user attributes on versions, groups and datasets may hold.

use crate::layout::attr;

/// One attribute value. Integers are stored as int64 (uint64 when read from a file
/// that has unsigned attributes), numbers with a fraction as float64, booleans as
/// h5py's bool enum, strings as variable-length UTF-8.
#[derive(Clone, Debug, PartialEq)]
pub enum AttrValue {
    /// Signed integer scalar.
    Int(i64),
    /// Unsigned integer scalar.
    UInt(u64),
    /// Floating-point scalar.
    Float(f64),
    /// Boolean scalar.
    Bool(bool),
    /// String scalar.
    Str(String),
    /// 1-D array of signed integers.
    IntArray(Vec<i64>),
    /// 1-D array of unsigned integers.
    UIntArray(Vec<u64>),
    /// 1-D array of floats.
    FloatArray(Vec<f64>),
    /// 1-D array of booleans.
    BoolArray(Vec<bool>),
    /// 1-D array of strings.
    StrArray(Vec<String>),
}

/// Attribute names the format reserves on version groups.
pub const VERSION_RESERVED: [&str; 3] = [attr::PREV_VERSION, attr::COMMITTED, attr::TIMESTAMP];
/// Attribute names the format reserves on version datasets.
pub const DATASET_RESERVED: [&str; 2] = [attr::RAW_DATA, attr::CHUNKS];

/// An ordered list of attributes.
pub type Attrs = Vec<(String, AttrValue)>;

/// Sets `name` in `attrs`, replacing an existing entry.
pub fn set_attr(attrs: &mut Attrs, name: &str, value: AttrValue) {
    match attrs.iter_mut().find(|(k, _)| k == name) {
        Some(slot) => slot.1 = value,
        None => attrs.push((name.to_string(), value)),
    }
}
