//! Variable-length strings in memory: an interning pool. A chunk of strings is held as
//! `u64` indices into a pool, so the chunk and selection arithmetic of [`crate::grid`]
//! works on them like on any fixed-size element; equal strings get equal indices, so
//! comparing chunks (fill detection, deduplication) compares strings.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::Arc;

use crate::dtype::Dtype;
use crate::error::{bail, Result};
use crate::hash::{hash_chunk, string_payload, HashKind};

/// Element values crossing the engine's API: raw element bytes (numbers, bools,
/// float16 bits, fixed-length strings, compound records) or byte strings.
#[derive(Clone, Debug, PartialEq)]
pub enum Values {
    /// Elements in C order as bytes of the dtype's layout.
    Raw(Vec<u8>),
    /// One byte string per element, C order.
    Strings(Vec<Vec<u8>>),
}

impl Values {
    /// Number of elements, given the dtype.
    pub fn len(&self, dtype: &Dtype) -> usize {
        match self {
            Values::Raw(b) => b.len() / dtype.size().max(1),
            Values::Strings(v) => v.len(),
        }
    }

    /// Whether there are no elements.
    pub fn is_empty(&self) -> bool {
        match self {
            Values::Raw(b) => b.is_empty(),
            Values::Strings(v) => v.is_empty(),
        }
    }
}

/// Checks that `bytes` are whole elements of `dtype` (which must not be a
/// variable-length string type) and returns them as they are.
pub fn raw_elements<'a>(dtype: &Dtype, bytes: &'a [u8]) -> Result<&'a [u8]> {
    dtype.require_writable()?;
    if let Dtype::VlenString { .. } = dtype {
        bail!(
            DtypeMismatch,
            "a {dtype} dataset takes strings: pass an array of strings"
        );
    }
    if !bytes.len().is_multiple_of(dtype.size()) {
        bail!(
            DtypeMismatch,
            "data of {} bytes is not a whole number of {dtype} elements",
            bytes.len()
        );
    }
    Ok(bytes)
}

/// Turns values into in-memory elements of `dtype` (interning strings in `pool`).
/// Fixed-length strings are NUL-padded, and truncated when longer, as NumPy does.
/// Raw bytes are borrowed, not copied.
pub fn to_elements<'a>(
    dtype: &Dtype,
    values: &'a Values,
    pool: &mut StrPool,
) -> Result<Cow<'a, [u8]>> {
    dtype.require_writable()?;
    match (values, dtype) {
        (Values::Raw(b), _) => raw_elements(dtype, b).map(Cow::Borrowed),
        (Values::Strings(v), Dtype::VlenString { utf8 }) => {
            for s in v {
                if s.contains(&0) {
                    bail!(
                        InvalidArgument,
                        "strings stored in HDF5 cannot contain NUL characters"
                    );
                }
                if !utf8 && !s.is_ascii() {
                    bail!(
                        InvalidArgument,
                        "the ascii dataset cannot store non-ASCII text: use dtype 'string' for UTF-8"
                    );
                }
            }
            Ok(Cow::Owned(pool.encode(v)))
        }
        (Values::Strings(v), Dtype::FixedString { len, .. }) => {
            let mut out = vec![0u8; v.len() * len];
            for (s, dst) in v.iter().zip(out.chunks_exact_mut(*len)) {
                let n = s.len().min(*len);
                dst[..n].copy_from_slice(&s[..n]);
            }
            Ok(Cow::Owned(out))
        }
        (Values::Strings(_), _) => bail!(
            DtypeMismatch,
            "strings cannot be stored in a {dtype} dataset: pass numbers"
        ),
    }
}

/// Hash of one chunk of in-memory elements of `dtype` (spec §2.2): the bytes as they
/// are, or for variable-length strings each string out of `pool`, length-prefixed.
pub fn hash_elements(
    kind: HashKind,
    dtype: &Dtype,
    bytes: &[u8],
    pool: &StrPool,
    shape: &[u64],
) -> [u8; 32] {
    if dtype.is_vlen() {
        let strings: Vec<&[u8]> = pool.decode(bytes).collect();
        hash_chunk(kind, &string_payload(&strings), shape)
    } else {
        hash_chunk(kind, bytes, shape)
    }
}

/// Turns in-memory elements of `dtype` back into values (strings out of `pool`).
pub fn from_elements(dtype: &Dtype, bytes: Vec<u8>, pool: &StrPool) -> Values {
    if dtype.is_vlen() {
        Values::Strings(pool.decode(&bytes).map(<[u8]>::to_vec).collect())
    } else {
        Values::Raw(bytes)
    }
}

/// An append-only set of byte strings; index 0 is always the empty string (the fill
/// value of every variable-length string dataset).
#[derive(Debug, Clone)]
pub struct StrPool {
    items: Vec<Arc<[u8]>>,
    index: HashMap<Arc<[u8]>, u64>,
}

impl Default for StrPool {
    fn default() -> Self {
        let empty: Arc<[u8]> = Arc::from(&b""[..]);
        StrPool {
            items: vec![empty.clone()],
            index: HashMap::from([(empty, 0)]),
        }
    }
}

impl StrPool {
    /// The index of `s`, adding it if new.
    pub fn intern(&mut self, s: &[u8]) -> u64 {
        if let Some(&i) = self.index.get(s) {
            return i;
        }
        let i = self.items.len() as u64;
        let a: Arc<[u8]> = Arc::from(s);
        self.items.push(a.clone());
        self.index.insert(a, i);
        i
    }

    /// The string at index `i` (the empty string for an unknown index).
    pub fn get(&self, i: u64) -> &[u8] {
        self.items.get(i as usize).map_or(&b""[..], |a| a)
    }

    /// Interns `values` and returns their indices as little-endian bytes.
    pub fn encode<S: AsRef<[u8]>>(&mut self, values: &[S]) -> Vec<u8> {
        let mut out = Vec::with_capacity(values.len() * 8);
        for v in values {
            out.extend_from_slice(&self.intern(v.as_ref()).to_le_bytes());
        }
        out
    }

    /// The strings of little-endian index bytes.
    pub fn decode<'a>(&'a self, indices: &'a [u8]) -> impl Iterator<Item = &'a [u8]> + 'a {
        indices.chunks_exact(8).map(|c| {
            let mut b = [0u8; 8];
            b.copy_from_slice(c);
            self.get(u64::from_le_bytes(b))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interns_and_decodes() {
        let mut p = StrPool::default();
        let enc = p.encode(&["a", "", "bc", "a"]);
        assert_eq!(&enc[8..16], &0u64.to_le_bytes());
        assert_eq!(&enc[0..8], &enc[24..32]);
        let back: Vec<&[u8]> = p.decode(&enc).collect();
        assert_eq!(back, vec![&b"a"[..], b"", b"bc", b"a"]);
    }
}
