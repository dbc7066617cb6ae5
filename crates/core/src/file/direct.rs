//! Reads outside libhdf5 (docs/design/012): the stored slots a selection of many
//! chunks needs are read with positioned reads of the file (`pread`), at the file
//! offsets libhdf5's chunk index gave once ([`Inner::slot_index`]), adjacent slots in
//! one read, decoded (`codec::decode`) and copied into the result in parallel. A small
//! selection of unfiltered chunks reads just its bytes, a run at a time
//! ([`Reader::small_runs`]).
//!
//! Invariants:
//! - only committed slots are read: a read of a committed version maps only slots
//!   that its commit flushed, and a committed slot never moves while the file is open
//!   (the read cache's invariant, docs/design/003); [`Inner::slot_index`] is the one
//!   place that knows where slots lie, so a mode where the file changes under an open
//!   handle has one place to refresh;
//! - anything this path cannot do exactly (a slot the index does not know, a stored
//!   size that is not the chunk's, a chunk that does not decode, a failed read) makes
//!   it give up, and the read goes chunk by chunk through libhdf5 as before, which
//!   reports the problem as it always did;
//! - it does not fill the read cache: a scan of a large dataset leaves the chunks in
//!   steady use where they are.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::sync::Arc;

use rayon::prelude::*;

use super::{ChunkMap, DatasetMeta, Inner};
use crate::buf::AlignedBytes;
use crate::cache::SlotIndex;
use crate::codec;
use crate::error::{bail, Result};
use crate::grid::{self, ChunkPieces, Selection};
use crate::h5::{self, StoredChunk};

/// Reads touching fewer mapped chunks than this are small: they go chunk by chunk
/// through the read cache (slices read over and over) unless their chunks are
/// unfiltered and not cached, then here as [`Reader::small_runs`].
pub(crate) const DIRECT_MIN_CHUNKS: usize = 8;

/// Most runs (contiguous stretches along the last axis inside one chunk) a small read
/// goes direct with; more go chunk by chunk through the read cache.
const SMALL_RUNS_MAX: u64 = 256;

/// Small reads of a storage without a slot index that go through the read cache
/// before the index is built for the next one.
pub(crate) const SMALL_BEFORE_INDEX: u32 = 64;

/// How many runs along the last axis the selection makes inside its chunks, when each
/// chunk holds one box of it (one piece of step 1 per axis); `None` otherwise.
fn small_runs(groups: &[ChunkPieces<'_>]) -> Option<u64> {
    let mut total = 0u64;
    for cp in groups {
        let mut runs = 1u64;
        for (d, pieces) in cp.axes.iter().enumerate() {
            let [p] = pieces else {
                return None;
            };
            if p.step != 1 {
                return None;
            }
            if d + 1 < cp.axes.len() {
                runs = runs.checked_mul(p.n)?;
            }
        }
        total = total.checked_add(runs)?;
    }
    Some(total)
}

/// Positioned reads are split at this many bytes, so that one large run of adjacent
/// slots still spreads over the threads.
const PIECE_BYTES: usize = 4 << 20;

/// Decoded bytes the N-dimensional path holds at once before copying them out.
const BATCH_BYTES: usize = 64 << 20;

impl Inner {
    /// Where the stored slots of `raw_path` lie, covering at least its slots below
    /// `need`; `None` when its chunks cannot be read outside libhdf5. Read from the
    /// chunk index once (one pass, `h5::stored_chunks`), then extended by lookups of
    /// the slots commits appended since. Kept in the read cache, which drops it where
    /// rows are rewritten or the storage replaced.
    pub(crate) fn slot_index(
        &mut self,
        raw_path: &str,
        meta: &DatasetMeta,
        need: u64,
    ) -> Result<Option<Arc<SlotIndex>>> {
        if self.data_file.is_none() {
            self.data_file = h5::data_reader(self.file()?)?.map(Arc::new);
        }
        let known = self.chunks.locations(raw_path);
        if let Some(ix) = &known {
            if !ix.direct {
                return Ok(None);
            }
            if ix.slots.len() as u64 >= need {
                return Ok(Some(ix.clone()));
            }
        }
        self.storage_handle(raw_path)?;
        let Some(raw) = self.raws.get(raw_path) else {
            bail!(InternalError, "'{raw_path}' could not be opened");
        };
        let chunk_rows = meta.chunks.first().copied().unwrap_or(1).max(1);
        let (direct, pipeline) = match &known {
            Some(ix) => (true, ix.pipeline.clone()),
            None => {
                let pipeline = h5::pipeline(raw)?;
                let ok = self.data_file.is_some()
                    && codec::supported(&pipeline)
                    && h5::stored_as(raw, &meta.dtype)?
                    && h5::ds_chunk_dims(raw)?.as_deref() == Some(&meta.chunks[..]);
                (ok, pipeline)
            }
        };
        if !direct {
            self.chunks.set_locations(
                raw_path,
                Arc::new(SlotIndex {
                    chunk_rows,
                    direct,
                    pipeline,
                    slots: Vec::new(),
                }),
            );
            return Ok(None);
        }
        let rows = h5::ds_shape(raw)?.first().copied().unwrap_or(0);
        let mut slots = known.map(|k| k.slots.clone()).unwrap_or_default();
        let from = slots.len() as u64;
        // Whole slots only: a slot that `raw_data`'s extent cuts (a damaged file) is
        // left to libhdf5's path, which reports the rows it lacks as CORRUPT_FILE
        // (the stored chunk may still hold bytes past the extent).
        let to = (rows / chunk_rows).max(from);
        // One pass over the index for many slots, lookups for the few a commit added.
        let whole = to - from > 256;
        slots.extend(h5::stored_chunks(
            raw,
            chunk_rows,
            meta.chunks.len(),
            from,
            to,
            whole,
        )?);
        let ix = Arc::new(SlotIndex {
            chunk_rows,
            direct,
            pipeline,
            slots,
        });
        self.chunks.set_locations(raw_path, ix.clone());
        Ok((ix.slots.len() as u64 >= need).then_some(ix))
    }
}

/// Whether the direct path is turned off: only in the test build, with
/// `VH5_DIRECT_READS=0`, for A/B measurements against the chunk-by-chunk path.
fn disabled() -> bool {
    #[cfg(feature = "test-hooks")]
    {
        static OFF: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
        *OFF.get_or_init(|| std::env::var("VH5_DIRECT_READS").is_ok_and(|v| v == "0"))
    }
    #[cfg(not(feature = "test-hooks"))]
    false
}

/// One mapped chunk of the selection and where it is stored.
struct Job<'g, 'p> {
    cp: &'g ChunkPieces<'p>,
    loc: StoredChunk,
}

/// Reads selection `s` (chunk `groups`) of a committed version's dataset outside
/// libhdf5, or `None` when it cannot (then read it chunk by chunk). See the module
/// docs.
pub(crate) fn read_direct(
    g: &mut Inner,
    meta: &DatasetMeta,
    raw_path: &str,
    map: &ChunkMap,
    s: &Selection,
    groups: &[ChunkPieces<'_>],
) -> Result<Option<AlignedBytes>> {
    if meta.dtype.is_vlen() || meta.dtype.size() == 0 || disabled() {
        return Ok(None);
    }
    let mapped: Vec<(usize, u64)> = groups
        .iter()
        .enumerate()
        .filter_map(|(i, cp)| map.get(&cp.coord).map(|&row| (i, row)))
        .collect();
    // A small read whose chunks are all in the read cache is served from there; one
    // that is not goes here too, as positioned reads of just the bytes it selects
    // where the chunks are stored unfiltered ([`Reader::small_runs`]; the filters are
    // those of the same `raw_data`, read off its pipeline).
    let small = mapped.len() < DIRECT_MIN_CHUNKS;
    if small
        && (mapped.is_empty()
            || meta.filters != h5::Filters::default()
            || small_runs(groups).is_none_or(|n| n > SMALL_RUNS_MAX))
    {
        return Ok(None);
    }
    if small
        && mapped.iter().all(|&(i, row)| {
            let ext = grid::chunk_extent(&meta.shape, &meta.chunks, &groups[i].coord);
            g.chunks.contains(raw_path, row, &ext)
        })
    {
        return Ok(None);
    }
    let c0 = meta.chunks[0].max(1);
    if mapped.iter().any(|&(_, row)| !row.is_multiple_of(c0)) {
        return Ok(None);
    }
    let need = mapped
        .iter()
        .map(|&(_, row)| row / c0 + 1)
        .max()
        .unwrap_or(0);
    // Building the slot index takes one pass over the chunk index (about 10 ms at
    // 40,000 chunks): a few small reads do not pay for it, a run of them does.
    if small && g.chunks.locations(raw_path).is_none() {
        if g.small_reads_unindexed < SMALL_BEFORE_INDEX {
            g.small_reads_unindexed += 1;
            return Ok(None);
        }
        g.small_reads_unindexed = 0;
    }
    let Some(ix) = g.slot_index(raw_path, meta, need)? else {
        return Ok(None);
    };
    let Some(file) = g.data_file.clone() else {
        return Ok(None);
    };
    let es = meta.dtype.size();
    let chunk_bytes = grid::volume(&meta.chunks)? * es;
    let filtered = !ix.pipeline.is_empty();
    let mut jobs = Vec::with_capacity(mapped.len());
    for &(i, row) in &mapped {
        let Some(Some(loc)) = ix.slots.get((row / c0) as usize).copied() else {
            return Ok(None);
        };
        // An unfiltered chunk is stored whole; a filtered one holds something.
        if (!filtered && loc.size != chunk_bytes as u64) || loc.size == 0 {
            return Ok(None);
        }
        let cp = &groups[i];
        jobs.push(Job { cp, loc });
    }
    let block_dims = s.block_shape();
    let count = grid::volume(&block_dims)?;
    if count as u64 >= 1 << 32 || (count as u128) * (es as u128) >= 1 << 34 {
        bail!(
            InvalidArgument,
            "the selection has {count} elements, too many to read at once: read it in parts"
        );
    }
    let mut out = if jobs.len() == groups.len() {
        // Every element is in a stored chunk that the read below copies in, or the
        // read fails and `out` is dropped unseen.
        AlignedBytes::for_overwrite(count * es)
    } else {
        AlignedBytes::filled(&meta.fill, count)
    };
    let r = Reader {
        file: &file,
        pipeline: &ix.pipeline,
        es,
        chunk_bytes,
    };
    let done = if small {
        r.small_runs(&jobs, &meta.chunks, &block_dims, out.as_bytes_mut())
    } else if meta.shape.len() == 1
        && jobs
            .iter()
            .all(|j| j.cp.axes[0].len() == 1 && j.cp.axes[0][0].step == 1)
    {
        r.runs(&jobs, out.as_bytes_mut())
    } else {
        r.batches(&jobs, &meta.chunks, &block_dims, out.as_bytes_mut())
    };
    if done {
        g.direct_reads += 1;
    }
    Ok(done.then_some(out))
}

/// What every read of one call shares.
struct Reader<'a> {
    file: &'a File,
    pipeline: &'a [codec::Stage],
    es: usize,
    chunk_bytes: usize,
}

impl Reader<'_> {
    /// A stored chunk decoded (whole, `chunk_bytes`) into `dst`; false when it cannot
    /// be read or decoded.
    fn decode_into(&self, loc: &StoredChunk, dst: &mut [u8]) -> bool {
        if self.pipeline.is_empty() {
            return self.file.read_exact_at(dst, loc.addr).is_ok();
        }
        // One buffer per thread for the stored bytes, kept across chunks.
        thread_local! {
            static STORED: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
        }
        STORED.with(|cell| {
            let mut stored = cell.borrow_mut();
            stored.resize(loc.size as usize, 0);
            self.file.read_exact_at(&mut stored, loc.addr).is_ok()
                && codec::decode(self.pipeline, self.es, &stored, loc.mask, dst).is_ok()
        })
    }

    /// 1-D selections of consecutive elements: every chunk's part is one run of the
    /// result. Unfiltered: adjacent slots whose parts are adjacent in the result are
    /// read in one positioned read straight into it. Filtered: each chunk is decoded
    /// into its place (or, when only part of it is selected, next to it first).
    fn runs(&self, jobs: &[Job<'_, '_>], out: &mut [u8]) -> bool {
        let es = self.es as u64;
        // (result byte range, file offset or job index)
        let mut parts: Vec<(usize, usize, u64, usize)> = Vec::with_capacity(jobs.len());
        for (j, job) in jobs.iter().enumerate() {
            let p = job.cp.axes[0][0];
            let lo = (p.out * es) as usize;
            let hi = ((p.out + p.n) * es) as usize;
            let file_lo = job.loc.addr + p.inn * es;
            match parts.last_mut() {
                Some(last)
                    if self.pipeline.is_empty()
                        && last.1 == lo
                        && last.2 + (last.1 - last.0) as u64 == file_lo
                        && last.1 - last.0 < PIECE_BYTES =>
                {
                    last.1 = hi
                }
                _ => parts.push((lo, hi, file_lo, j)),
            }
        }
        parts.sort_by_key(|p| p.0);
        // Disjoint parts of `out`, one per part.
        let mut rest = out;
        let mut at = 0usize;
        let mut work: Vec<(&mut [u8], u64, usize)> = Vec::with_capacity(parts.len());
        for &(lo, hi, file_lo, j) in &parts {
            if lo < at || hi > at + rest.len() {
                return false;
            }
            let (_, tail) = std::mem::take(&mut rest).split_at_mut(lo - at);
            let (mine, tail) = tail.split_at_mut(hi - lo);
            rest = tail;
            at = hi;
            work.push((mine, file_lo, j));
        }
        work.into_par_iter().all(|(dst, file_lo, j)| {
            if self.pipeline.is_empty() {
                return self.file.read_exact_at(dst, file_lo).is_ok();
            }
            let job = &jobs[j];
            let p = job.cp.axes[0][0];
            if p.inn == 0 && dst.len() == self.chunk_bytes {
                return self.decode_into(&job.loc, dst);
            }
            let mut whole = vec![0u8; self.chunk_bytes];
            if !self.decode_into(&job.loc, &mut whole) {
                return false;
            }
            let from = (p.inn * es) as usize;
            match whole.get(from..from + dst.len()) {
                Some(src) => {
                    dst.copy_from_slice(src);
                    true
                }
                None => false,
            }
        })
    }

    /// A small selection of unfiltered chunks, each holding one box of it
    /// ([`small_runs`]): every run along the last axis is read from the file straight
    /// into its place in the result, on this thread (a few reads of a few hundred
    /// bytes each cost less than handing them to other threads).
    fn small_runs(
        &self,
        jobs: &[Job<'_, '_>],
        chunks: &[u64],
        block: &[u64],
        out: &mut [u8],
    ) -> bool {
        let n = chunks.len();
        if n == 0 || block.len() != n {
            return false;
        }
        let es = self.es as u64;
        // Element strides of a chunk and of the result, C order.
        let mut cstride: grid::Axes<u64> = smallvec::smallvec![1; n];
        let mut ostride: grid::Axes<u64> = smallvec::smallvec![1; n];
        for d in (0..n - 1).rev() {
            cstride[d] = cstride[d + 1] * chunks[d + 1];
            ostride[d] = ostride[d + 1] * block[d + 1];
        }
        for job in jobs {
            let p: grid::Axes<_> = job.cp.axes.iter().map(|a| a[0]).collect();
            let len = (p[n - 1].n * es) as usize;
            let runs: u64 = p[..n - 1].iter().map(|q| q.n).product();
            for r in 0..runs {
                // Run `r`'s position over every axis but the last, in C order.
                let (mut inn, mut at, mut rest) = (p[n - 1].inn, p[n - 1].out, r);
                for d in (0..n - 1).rev() {
                    let i = rest % p[d].n;
                    rest /= p[d].n;
                    inn += (p[d].inn + i) * cstride[d];
                    at += (p[d].out + i) * ostride[d];
                }
                let lo = (at * es) as usize;
                let Some(dst) = out.get_mut(lo..lo + len) else {
                    return false;
                };
                if self
                    .file
                    .read_exact_at(dst, job.loc.addr + inn * es)
                    .is_err()
                {
                    return false;
                }
            }
        }
        true
    }

    /// Any other selection: chunks read and decoded in parallel, a batch at a time,
    /// into buffers kept from call to call ([`pool`]: a scan would otherwise fault in
    /// fresh memory for every chunk), then copied into the result in parallel, each
    /// thread filling its own band of the result's first axis from every chunk of the
    /// batch that reaches into it.
    fn batches(&self, jobs: &[Job<'_, '_>], chunks: &[u64], block: &[u64], out: &mut [u8]) -> bool {
        let per_batch = (BATCH_BYTES / self.chunk_bytes.max(1)).max(1);
        let row_bytes = block[1..].iter().product::<u64>() as usize * self.es;
        let rows = block.first().copied().unwrap_or(0) as usize;
        if row_bytes == 0 || rows == 0 || out.len() != rows * row_bytes {
            return false;
        }
        let mut bufs = pool::take(per_batch.min(jobs.len()), self.chunk_bytes);
        let done = jobs.chunks(per_batch).all(|batch| {
            let bufs = &mut bufs[..batch.len()];
            let read = batch
                .par_iter()
                .zip(bufs.par_iter_mut())
                .all(|(job, buf)| self.decode_into(&job.loc, buf));
            if !read {
                return false;
            }
            // Bands of whole rows of the result, a few per thread.
            let band = rows.div_ceil(rayon::current_num_threads() * 4).max(1);
            out.par_chunks_mut(band * row_bytes)
                .enumerate()
                .for_each(|(b, dst)| {
                    let (lo, hi) = ((b * band) as u64, (b * band + dst.len() / row_bytes) as u64);
                    let mut band_block: grid::Axes<u64> = block.iter().copied().collect();
                    band_block[0] = hi - lo;
                    for (job, bytes) in batch.iter().zip(bufs.iter()) {
                        let first: Vec<grid::Piece> = job.cp.axes[0]
                            .iter()
                            .filter_map(|p| clip(p, lo, hi))
                            .collect();
                        if first.is_empty() {
                            continue;
                        }
                        let axes: grid::Axes<&[grid::Piece]> = std::iter::once(&first[..])
                            .chain(job.cp.axes[1..].iter().copied())
                            .collect();
                        let cp = ChunkPieces {
                            coord: job.cp.coord.clone(),
                            axes,
                        };
                        cp.copy(
                            grid::Direction::ChunkToBlock,
                            chunks,
                            &band_block,
                            self.es,
                            false,
                            bytes,
                            dst,
                        );
                    }
                });
            true
        });
        pool::give(bufs);
        done
    }
}

/// The part of axis-0 piece `p` whose block positions lie in `[lo, hi)`, moved to
/// start at `lo`; `None` when none does.
fn clip(p: &grid::Piece, lo: u64, hi: u64) -> Option<grid::Piece> {
    let a = p.out.max(lo);
    let b = (p.out + p.n).min(hi);
    (a < b).then(|| grid::Piece {
        chunk: p.chunk,
        out: a - lo,
        inn: p.inn + (a - p.out) * p.step,
        n: b - a,
        step: p.step,
    })
}

/// Chunk-sized buffers kept between reads (at most [`BATCH_BYTES`] of them), so that
/// reading a large dataset again reuses memory it already faulted in.
mod pool {
    use std::sync::Mutex;

    static FREE: Mutex<Vec<Vec<u8>>> = Mutex::new(Vec::new());

    /// `n` buffers of `len` bytes (contents unspecified).
    pub(super) fn take(n: usize, len: usize) -> Vec<Vec<u8>> {
        let mut free = FREE.lock().unwrap_or_else(|p| p.into_inner());
        let mut out = Vec::with_capacity(n);
        while out.len() < n {
            let mut b = match free.pop() {
                Some(b) if b.capacity() >= len => b,
                _ => Vec::new(),
            };
            b.resize(len, 0);
            out.push(b);
        }
        out
    }

    /// Keeps `bufs` for the next read, up to [`super::BATCH_BYTES`] in all.
    pub(super) fn give(bufs: Vec<Vec<u8>>) {
        let mut free = FREE.lock().unwrap_or_else(|p| p.into_inner());
        let mut held: usize = free.iter().map(Vec::capacity).sum();
        for b in bufs {
            if held + b.capacity() > super::BATCH_BYTES {
                break;
            }
            held += b.capacity();
            free.push(b);
        }
    }
}
