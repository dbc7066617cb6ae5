//! What reads return: element bytes in a buffer aligned for every numeric type, so a
//! binding can hand the buffer to a typed array as it is, without another copy.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};

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

    /// `len` bytes for a caller that writes every one of them before it reads or hands
    /// out any: a recycled buffer ([`recycle`]) when one of about that size is there,
    /// its old bytes still in it, otherwise [`zeroed`](Self::zeroed). A fresh large
    /// buffer costs a page fault and the kernel's zeroing of every 4 KiB page on first
    /// write (most of a warm read of a few MiB); a recycled one has its pages already.
    pub fn for_overwrite(len: usize) -> AlignedBytes {
        let n = len.div_ceil(8);
        let Some(mut words) = take_recycled(n) else {
            return AlignedBytes::zeroed(len);
        };
        // Within its capacity: no reallocation, and a shorter one is zero-extended.
        words.resize(n, 0);
        // The bytes past `len` in the last word are zero, as `into_words` says.
        if let Some(last) = words.last_mut() {
            let used = len - (n - 1) * 8;
            if used < 8 {
                *last &= u64::MAX >> (8 * (8 - used));
            }
        }
        AlignedBytes { words, len }
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

/// Buffers of at least this many bytes are recycled (smaller ones come cheaply from
/// the allocator's free lists).
const RECYCLE_MIN: usize = 1 << 20;
/// Larger buffers are freed: one read of them is not worth holding their memory for.
const RECYCLE_MAX_ONE: usize = 32 << 20;
/// At most this many bytes of buffers wait for reuse; the oldest go first.
const RECYCLE_MAX_TOTAL: usize = 64 << 20;

/// Buffers whose bytes are dead (a binding's result that JS collected), oldest first,
/// with their total capacity in bytes.
static RECYCLED: Mutex<(VecDeque<Vec<u64>>, usize)> = Mutex::new((VecDeque::new(), 0));

/// How many buffers [`AlignedBytes::for_overwrite`] took from the pool (for tests).
static REUSED: AtomicU64 = AtomicU64::new(0);

/// How many recycled buffers were reused so far in this process.
pub fn recycled_reuses() -> u64 {
    REUSED.load(Ordering::Relaxed)
}

fn bytes_of(words: &Vec<u64>) -> usize {
    words.capacity() * 8
}

/// Hands back the buffer of a result nothing uses any more (from
/// [`AlignedBytes::into_words`]), for [`AlignedBytes::for_overwrite`] to reuse its
/// memory. Buffers under 1 MiB or over 32 MiB are freed, and so are the oldest once
/// more than 64 MiB wait.
pub fn recycle(words: Vec<u64>) {
    let bytes = bytes_of(&words);
    if !(RECYCLE_MIN..=RECYCLE_MAX_ONE).contains(&bytes) {
        return;
    }
    let mut freed = Vec::new();
    {
        let mut pool = RECYCLED.lock().unwrap_or_else(PoisonError::into_inner);
        while pool.1 + bytes > RECYCLE_MAX_TOTAL {
            let Some(old) = pool.0.pop_front() else { break };
            pool.1 -= bytes_of(&old);
            freed.push(old);
        }
        pool.1 += bytes;
        pool.0.push_back(words);
    }
    // Freed outside the lock (unmapping takes a while).
    drop(freed);
}

/// The smallest recycled buffer that holds `words` words without wasting more than a
/// quarter of itself, taken out of the pool.
fn take_recycled(words: usize) -> Option<Vec<u64>> {
    let need = words.checked_mul(8)?;
    if !(RECYCLE_MIN..=RECYCLE_MAX_ONE).contains(&need) {
        return None;
    }
    let mut pool = RECYCLED.lock().unwrap_or_else(PoisonError::into_inner);
    let (i, _) = pool
        .0
        .iter()
        .enumerate()
        .filter(|(_, w)| w.capacity() >= words && bytes_of(w) - need <= bytes_of(w) / 4)
        .min_by_key(|(_, w)| w.capacity())?;
    let w = pool.0.remove(i)?;
    pool.1 -= bytes_of(&w);
    REUSED.fetch_add(1, Ordering::Relaxed);
    Some(w)
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

    #[test]
    fn recycled_buffers_are_reused_with_their_tail_zeroed() {
        // A size no other test of this process recycles.
        let len = (3 << 20) + 5;
        let mut first = AlignedBytes::for_overwrite(len);
        first.as_bytes_mut().fill(0xAB);
        let (words, _) = first.into_words();
        let at = words.as_ptr() as usize;
        recycle(words);
        let again = AlignedBytes::for_overwrite(len);
        assert_eq!(
            again.as_bytes().as_ptr() as usize,
            at,
            "the recycled buffer"
        );
        assert_eq!(again.len(), len);
        // Its old bytes are there (the caller overwrites them), but not past `len`.
        assert_eq!(again.as_bytes()[len - 1], 0xAB);
        let (words, n) = again.into_words();
        assert_eq!(n, len);
        let tail: &[u8] = bytemuck::cast_slice(&words[words.len() - 1..]);
        assert_eq!(tail, &[0xAB, 0xAB, 0xAB, 0xAB, 0xAB, 0, 0, 0]);
        // Too small, too large: freed, not kept.
        recycle(vec![0; 100]);
        recycle(vec![0; (40 << 20) / 8]);
        assert!(take_recycled(100).is_none());
        assert!(take_recycled((40 << 20) / 8).is_none());
        // A buffer far larger than asked for is left for a read of its size.
        recycle(words);
        assert!(take_recycled((1 << 20) / 8).is_none());
        assert!(take_recycled(len.div_ceil(8)).is_some());
    }
}
