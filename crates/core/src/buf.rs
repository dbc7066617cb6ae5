//! What reads return: element bytes in a buffer aligned for every numeric type, so a
//! binding can hand the buffer to a typed array as it is, without another copy.

use crate::strings::Values;

/// Bytes of fixed-size elements (C order) in a buffer aligned to 8 bytes: its start
/// suits a typed array of any element type.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AlignedBytes {
    words: Vec<u64>,
    len: usize,
}

impl AlignedBytes {
    /// `len` zero bytes.
    pub fn zeroed(len: usize) -> AlignedBytes {
        AlignedBytes {
            words: vec![0; len.div_ceil(8)],
            len,
        }
    }

    /// `count` copies of the element `fill`.
    pub fn filled(fill: &[u8], count: usize) -> AlignedBytes {
        let mut b = AlignedBytes::zeroed(fill.len() * count);
        if fill.iter().any(|&x| x != 0) {
            for e in b.as_bytes_mut().chunks_exact_mut(fill.len()) {
                e.copy_from_slice(fill);
            }
        }
        b
    }

    /// A copy of `bytes`.
    pub fn copy_from(bytes: &[u8]) -> AlignedBytes {
        let mut b = AlignedBytes::zeroed(bytes.len());
        b.as_bytes_mut().copy_from_slice(bytes);
        b
    }

    /// The bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &bytemuck::cast_slice(&self.words)[..self.len]
    }

    /// The bytes, writable.
    pub fn as_bytes_mut(&mut self) -> &mut [u8] {
        &mut bytemuck::cast_slice_mut(&mut self.words)[..self.len]
    }

    /// Number of bytes.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether there are no bytes.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The buffer and the number of bytes of it in use (the rest, under 8 bytes, is
    /// zero).
    pub fn into_words(self) -> (Vec<u64>, usize) {
        (self.words, self.len)
    }

    /// The bytes as a plain vector (a copy).
    pub fn to_vec(&self) -> Vec<u8> {
        self.as_bytes().to_vec()
    }
}

/// The result of a read: fixed-size elements, or one byte string per element for
/// variable-length string datasets.
#[derive(Clone, Debug, PartialEq)]
pub enum ReadData {
    /// Elements in C order as bytes of the dtype's layout, 8-byte aligned.
    Raw(AlignedBytes),
    /// One byte string per element, C order.
    Strings(Vec<Vec<u8>>),
}

impl ReadData {
    /// As [`Values`] (copies element bytes into a plain vector).
    pub fn into_values(self) -> Values {
        match self {
            ReadData::Raw(b) => Values::Raw(b.to_vec()),
            ReadData::Strings(s) => Values::Strings(s),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filled_and_aligned() {
        let b = AlignedBytes::filled(&[1, 2, 3], 5);
        assert_eq!(b.len(), 15);
        assert_eq!(b.as_bytes(), &[1, 2, 3].repeat(5)[..]);
        assert_eq!(b.as_bytes().as_ptr() as usize % 8, 0);
        let (w, n) = b.into_words();
        assert_eq!((w.len(), n), (2, 15));
        assert!(AlignedBytes::zeroed(0).is_empty());
        assert_eq!(AlignedBytes::copy_from(&[7; 9]).to_vec(), vec![7; 9]);
    }
}
