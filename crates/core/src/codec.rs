//! Chunk encoding for direct chunk writes: the filters of a `raw_data` pipeline applied
//! here, in parallel and outside libhdf5, producing chunks libhdf5's own filters read.
//! Deflate is libdeflate's zlib format at the pipeline's level: the stream libhdf5's
//! deflate filter inflates, made about twice as fast as zlib's `compress2` (what that
//! filter calls when it writes) at the same level and ratio, though not the same
//! bytes. LZF is liblzf (what the h5py LZF filter calls), and, as that optional filter
//! does, a chunk LZF cannot shrink is stored as is with the filter's bit set in the
//! chunk's filter mask. Pipelines with any other filter (fletcher32, szip, …) are not
//! encoded here: the caller writes those through libhdf5.
//!
//! [`decode`] is the inverse, for reads of stored chunks outside libhdf5: the same
//! filters undone (inflate, LZF decompression, unshuffle) in reverse pipeline order,
//! skipping those the chunk's filter mask says were skipped.

use std::os::raw::{c_uint, c_void};

use crate::error::ErrorKind::Hdf5Error;
use crate::error::{bail, err, Result};

/// HDF5 filter ids this module implements.
pub const FILTER_DEFLATE: i32 = 1;
/// Byte shuffle.
pub const FILTER_SHUFFLE: i32 = 2;
/// LZF (the h5py filter).
pub const FILTER_LZF: i32 = 32000;

/// One filter of a pipeline: id and client data.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stage {
    /// HDF5 filter id.
    pub id: i32,
    /// Client data values (deflate: `[level]`).
    pub cd: Vec<u32>,
}

/// Whether every filter of `pipeline` can be applied here.
pub fn supported(pipeline: &[Stage]) -> bool {
    pipeline
        .iter()
        .all(|s| matches!(s.id, FILTER_DEFLATE | FILTER_SHUFFLE | FILTER_LZF))
}

/// A chunk as stored: its bytes and the filter mask (bit i set: filter i skipped).
pub struct Encoded {
    /// The stored bytes.
    pub bytes: Vec<u8>,
    /// HDF5 filter mask of the chunk.
    pub mask: u32,
}

/// Applies `pipeline` to one full chunk of elements of `es` bytes.
pub fn encode(pipeline: &[Stage], es: usize, chunk: &[u8]) -> Result<Encoded> {
    let mut cur: Vec<u8> = Vec::new();
    let mut have = false;
    let mut mask = 0u32;
    for (i, s) in pipeline.iter().enumerate() {
        let input: &[u8] = if have { &cur } else { chunk };
        let out = match s.id {
            FILTER_SHUFFLE => {
                // set_local stores the element size as the first client value.
                let size =
                    s.cd.first()
                        .map_or(es, |&v| if v > 0 { v as usize } else { es });
                Some(shuffle(input, size))
            }
            FILTER_DEFLATE => Some(deflate(input, s.cd.first().copied().unwrap_or(4))?),
            FILTER_LZF => lzf(input),
            id => bail!(Hdf5Error, "filter {id} cannot be applied outside libhdf5"),
        };
        match out {
            Some(o) => {
                cur = o;
                have = true;
            }
            None => mask |= 1 << i,
        }
    }
    if !have {
        cur = chunk.to_vec();
    }
    Ok(Encoded { bytes: cur, mask })
}

/// Undoes `pipeline` on one stored chunk (`mask`: its filter mask), writing the
/// chunk's elements (of `es` bytes) into `out`, which has the whole chunk's length. A
/// chunk that does not decode to exactly that length is an error, never a guess.
pub fn decode(
    pipeline: &[Stage],
    es: usize,
    stored: &[u8],
    mask: u32,
    out: &mut [u8],
) -> Result<()> {
    let active: Vec<usize> = (0..pipeline.len())
        .filter(|i| mask & (1 << i) == 0)
        .collect();
    let mut cur: std::borrow::Cow<'_, [u8]> = stored.into();
    for (k, &i) in active.iter().enumerate().rev() {
        let s = &pipeline[i];
        // The last step decompresses straight into `out` (the usual one-filter case
        // then needs no buffer of its own).
        let last = k == 0;
        cur = match s.id {
            FILTER_SHUFFLE => {
                let size =
                    s.cd.first()
                        .map_or(es, |&v| if v > 0 { v as usize } else { es });
                unshuffle(&cur, size).into()
            }
            FILTER_DEFLATE | FILTER_LZF if last => {
                let n = if s.id == FILTER_DEFLATE {
                    inflate_into(&cur, out)?
                } else {
                    unlzf_into(&cur, out)?
                };
                return exact(n, out.len());
            }
            FILTER_DEFLATE | FILTER_LZF => {
                let mut buf = vec![0u8; out.len()];
                let n = if s.id == FILTER_DEFLATE {
                    inflate_into(&cur, &mut buf)?
                } else {
                    unlzf_into(&cur, &mut buf)?
                };
                buf.truncate(n);
                buf.into()
            }
            id => bail!(Hdf5Error, "filter {id} cannot be undone outside libhdf5"),
        };
    }
    exact(cur.len(), out.len())?;
    out.copy_from_slice(&cur);
    Ok(())
}

/// A chunk that did not decode to its length is an error.
fn exact(got: usize, want: usize) -> Result<()> {
    if got != want {
        bail!(
            Hdf5Error,
            "a stored chunk decodes to {got} bytes where {want} were expected"
        );
    }
    Ok(())
}

/// The inverse of [`shuffle`].
pub fn unshuffle(data: &[u8], es: usize) -> Vec<u8> {
    if es <= 1 {
        return data.to_vec();
    }
    let n = data.len() / es;
    let mut out = vec![0u8; data.len()];
    for (j, lane) in data[..n * es].chunks_exact(n).enumerate() {
        for (i, &b) in lane.iter().enumerate() {
            out[i * es + j] = b;
        }
    }
    out[n * es..].copy_from_slice(&data[n * es..]);
    out
}

fn inflate_into(data: &[u8], out: &mut [u8]) -> Result<usize> {
    use libdeflater::Decompressor;
    use std::cell::RefCell;
    thread_local! {
        static DECOMPRESSOR: RefCell<Option<Decompressor>> = const { RefCell::new(None) };
    }
    DECOMPRESSOR.with(|cell| {
        let mut d = cell.borrow_mut();
        let d = d.get_or_insert_with(Decompressor::new);
        d.zlib_decompress(data, out).map_err(|e| {
            err(
                Hdf5Error,
                format!("failed to inflate a stored chunk: {e:?}"),
            )
        })
    })
}

fn unlzf_into(data: &[u8], out: &mut [u8]) -> Result<usize> {
    if data.is_empty() || out.is_empty() {
        return Ok(0);
    }
    // SAFETY: `data` has `data.len()` readable bytes and `out` `out.len()` writable
    // ones; lzf_decompress writes at most that many and returns 0 when they do not
    // suffice or the input is malformed.
    let n = unsafe {
        lzf_sys::lzf_decompress(
            data.as_ptr() as *const c_void,
            data.len() as c_uint,
            out.as_mut_ptr() as *mut c_void,
            out.len() as c_uint,
        )
    } as usize;
    if n == 0 {
        bail!(Hdf5Error, "failed to decompress a stored LZF chunk");
    }
    Ok(n)
}

/// HDF5's byte shuffle: byte j of every element, then byte j+1, ….
pub fn shuffle(data: &[u8], es: usize) -> Vec<u8> {
    if es <= 1 {
        return data.to_vec();
    }
    let n = data.len() / es;
    let mut out = vec![0u8; data.len()];
    for (j, lane) in out[..n * es].chunks_exact_mut(n).enumerate() {
        for (i, b) in lane.iter_mut().enumerate() {
            *b = data[i * es + j];
        }
    }
    // Bytes past the last whole element stay in place, as HDF5 leaves them.
    out[n * es..].copy_from_slice(&data[n * es..]);
    out
}

fn deflate(data: &[u8], level: u32) -> Result<Vec<u8>> {
    use libdeflater::{CompressionLvl, Compressor};
    use std::cell::RefCell;
    thread_local! {
        // A compressor holds its match-finder tables (hundreds of KiB): one per
        // thread and level, not one per chunk.
        static COMPRESSORS: RefCell<Vec<(u32, Compressor)>> = const { RefCell::new(Vec::new()) };
    }
    let level = level.min(9);
    COMPRESSORS.with(|cell| {
        let mut all = cell.borrow_mut();
        let at = match all.iter().position(|(l, _)| *l == level) {
            Some(i) => i,
            None => {
                let lvl = CompressionLvl::new(level as i32)
                    .map_err(|e| err(Hdf5Error, format!("deflate level {level}: {e:?}")))?;
                all.push((level, Compressor::new(lvl)));
                all.len() - 1
            }
        };
        let c = &mut all[at].1;
        let mut out = vec![0u8; c.zlib_compress_bound(data.len())];
        let n = c
            .zlib_compress(data, &mut out)
            .map_err(|e| err(Hdf5Error, format!("failed to deflate a chunk: {e:?}")))?;
        out.truncate(n);
        Ok(out)
    })
}

/// LZF with an output no larger than the input, as the h5py filter asks; `None` when
/// the chunk does not shrink (the filter is then skipped for this chunk).
fn lzf(data: &[u8]) -> Option<Vec<u8>> {
    if data.is_empty() {
        return None;
    }
    let mut out = vec![0u8; data.len()];
    // SAFETY: `data` has `data.len()` readable bytes and `out` as many writable ones;
    // lzf_compress writes at most that many and returns 0 when they do not suffice.
    let n = unsafe {
        lzf_sys::lzf_compress(
            data.as_ptr() as *const c_void,
            data.len() as c_uint,
            out.as_mut_ptr() as *mut c_void,
            out.len() as c_uint,
        )
    } as usize;
    if n == 0 {
        return None;
    }
    out.truncate(n);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shuffle_transposes_bytes() {
        let d: Vec<u8> = (0..12).collect();
        assert_eq!(shuffle(&d, 4), vec![0, 4, 8, 1, 5, 9, 2, 6, 10, 3, 7, 11]);
        assert_eq!(shuffle(&d[..7], 2), vec![0, 2, 4, 1, 3, 5, 6]);
    }

    #[test]
    fn decode_undoes_encode() {
        let data: Vec<u8> = (0..8192u32)
            .flat_map(|i| ((i / 7) as f64).to_le_bytes())
            .collect();
        let pipelines = [
            vec![],
            vec![Stage {
                id: FILTER_DEFLATE,
                cd: vec![4],
            }],
            vec![
                Stage {
                    id: FILTER_SHUFFLE,
                    cd: vec![8],
                },
                Stage {
                    id: FILTER_DEFLATE,
                    cd: vec![1],
                },
            ],
            vec![Stage {
                id: FILTER_LZF,
                cd: vec![],
            }],
            vec![
                Stage {
                    id: FILTER_SHUFFLE,
                    cd: vec![8],
                },
                Stage {
                    id: FILTER_LZF,
                    cd: vec![],
                },
            ],
        ];
        for p in &pipelines {
            let e = encode(p, 8, &data).unwrap();
            let mut out = vec![0u8; data.len()];
            decode(p, 8, &e.bytes, e.mask, &mut out).unwrap();
            assert_eq!(out, data, "{p:?}");
            let mut short = vec![0u8; data.len() - 8];
            assert!(decode(p, 8, &e.bytes, e.mask, &mut short).is_err(), "{p:?}");
        }
        assert_eq!(unshuffle(&shuffle(&data[..77], 4), 4), data[..77].to_vec());
    }

    #[test]
    fn lzf_skips_what_it_cannot_shrink() {
        let p = [Stage {
            id: FILTER_LZF,
            cd: vec![],
        }];
        let zeros = vec![0u8; 4096];
        let e = encode(&p, 8, &zeros).unwrap();
        assert_eq!(e.mask, 0);
        assert!(e.bytes.len() < 4096);
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        let noise: Vec<u8> = (0..4096)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (x >> 56) as u8
            })
            .collect();
        let e = encode(&p, 8, &noise).unwrap();
        assert_eq!((e.mask, e.bytes), (1, noise));
    }
}
