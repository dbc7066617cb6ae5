//! New slots of a commit: deduplication against the dataset's hash table, the slots
//! appended to `raw_data` (direct chunk writes, encoded in parallel in bounded
//! batches, or deferred while the version's objects are created), and the new chunks
//! kept for the read cache.

use std::borrow::Cow;

use rayon::prelude::*;

use crate::codec;
use crate::dedup::{Assigned, SlotAssigner};
use crate::error::{bail, Result};
use crate::file::{ChunkMap, DataGroup, DatasetMeta, Inner};
use crate::grid::{self, AxisSel, Selection};
use crate::h5::{self};
use crate::layout::raw_data_path;
use crate::stage::commit::hashing::hash_chunks;
use crate::stage::commit::hashing::Chunks;
use crate::stage::commit::hashing::Hashed;
use crate::stage::commit::objects::create_data_group;
use crate::stage::commit::table::TableUpdate;
use crate::stage::commit::table::READ_CACHE_FILL_BYTES;
use crate::stage::dataset::StagedDataset;

/// The first free slot of a dataset path's `raw_data`, creating its storage when it
/// has none yet; forgets whatever the read cache holds from there on.
pub(crate) fn first_free_slot(f: &mut Inner, path: &str, ds: &StagedDataset) -> Result<u64> {
    let meta = &ds.meta;
    if f.data_group(path)?.is_none() {
        create_data_group(f, path, meta, ds.hash)?;
        if let Some(dg) = f.data_group(path)? {
            // New storage: no version maps any of it (`check_storage_absent`).
            dg.mapped_end = Some(Default::default());
        }
    }
    let c0 = meta.chunks[0];
    // New slots go at largest_index, the only chunk count the format trusts (Python
    // versioned-hdf5 2.6's rule): rows of raw_data past it that no version maps are
    // leftovers (Python 2.4 grows raw_data ahead; a failed commit may leave some), and
    // are overwritten. Never a slot a committed version maps, nor a hash-table row
    // below largest_index: `check_storage` rebuilt a table whose largest_index falls
    // short of what the versions map, so starting anywhere past largest_index would
    // leave rows of the table without a slot (a hole).
    let mapped = f.mapped_end(path)?;
    let Some(dg) = f.data_group(path)? else {
        bail!(
            InternalError,
            "the storage of '{path}' could not be created"
        );
    };
    let first_new = dg.largest_index;
    let relied = mapped.end.max(dg.table_end.end);
    if relied > first_new.saturating_mul(c0) {
        bail!(
            CorruptFile,
            "{} relies on rows {}..{} of '{}', at or past its hash table's largest_index {first_new}: new chunks would overwrite them. Nothing was written; open the file for writing again (the table is rebuilt then) or rebuild it with Python versioned-hdf5's rebuild_hashtables()",
            if mapped.end >= dg.table_end.end { &mapped.by } else { &dg.table_end.by },
            if mapped.end >= dg.table_end.end { mapped.start } else { dg.table_end.start },
            relied,
            raw_data_path(path)
        );
    }
    // Nothing should have cached rows past every stored slot, but the rows written
    // below must never be answered from before the write, whatever happens next.
    f.chunks.forget_rows(&raw_data_path(path), first_new * c0);
    Ok(first_new)
}

/// Deduplicates hashed chunks against the dataset's hash table and appends new slots;
/// returns the version's chunk map and the hash-table rows still to write. Streamed
/// chunks are hashed batch by batch, each batch while the one before is written.
/// Chunks the staged version wrote ahead of the commit ([`StagedDataset::spill`]) are
/// in its map already, and their rows go to the table with the new ones.
pub(crate) fn store_chunks(
    f: &mut Inner,
    path: &str,
    ds: &StagedDataset,
    chunks: Chunks,
) -> Result<(ChunkMap, Option<TableUpdate>, Option<Deferred>)> {
    let meta = &ds.meta;
    let gd = grid::grid_dims(&meta.shape, &meta.chunks);
    let mut map: ChunkMap = ds
        .base_map
        .as_ref()
        .map(|m| {
            m.iter()
                .filter(|(k, _)| k.iter().zip(&gd).all(|(a, b)| a < b))
                .map(|(k, v)| (k.clone(), *v))
                .collect()
        })
        .unwrap_or_default();
    let empty = match &chunks {
        Chunks::Hashed(c) => c.is_empty(),
        Chunks::Streamed(b) => b.is_empty(),
    };
    let spilled = ds.spill.as_ref();
    if empty && spilled.is_none() && f.data_group(path)?.is_some() {
        return Ok((map, None, None));
    }
    let c0 = meta.chunks[0];
    let (first_new, slots) = match spilled {
        // Slots written ahead of the commit: the assignment goes on after them.
        Some(sp) => (sp.first_new, sp.slots.clone()),
        None => {
            let first = first_free_slot(f, path, ds)?;
            (first, SlotAssigner::new(first, c0))
        }
    };
    let Some(dg) = f.data_group(path)? else {
        bail!(
            InternalError,
            "the storage of '{path}' vanished during a commit"
        );
    };
    if dg.largest_index != first_new {
        bail!(
            InternalError,
            "the hash table of '{path}' changed while its chunks were being staged"
        );
    }
    let mut acc = Appended {
        slots,
        cache: Vec::new(),
        budget: READ_CACHE_FILL_BYTES,
    };
    let mut later = None;
    match chunks {
        Chunks::Hashed(chunks) => {
            let to_write = acc.dedup(dg, &mut map, &chunks);
            later = acc.write(dg, ds, to_write, chunks, true)?;
        }
        Chunks::Streamed(batches) => {
            let mut batches = batches.into_iter();
            let mut current = batches.next().map(|b| hash_chunks(ds, b)).transpose()?;
            while let Some(chunks) = current.take() {
                let to_write = acc.dedup(dg, &mut map, &chunks);
                let next = batches.next();
                // The next batch is hashed on the thread pool while this thread writes.
                let (hashed, written) = std::thread::scope(|sc| {
                    let job = next.map(|b| sc.spawn(|| hash_chunks(ds, b)));
                    let written = acc.write(dg, ds, to_write, chunks, false);
                    let hashed = job.map(|j| {
                        j.join().unwrap_or_else(|_| {
                            Err(crate::error::Error::new(
                                crate::error::ErrorKind::InternalError,
                                "hashing a batch of chunks failed",
                            ))
                        })
                    });
                    (hashed, written)
                });
                written?;
                current = hashed.transpose()?;
            }
        }
    }
    let next = acc.slots.next_slot();
    if next == first_new {
        return Ok((map, None, None));
    }
    let mut dims = meta.chunks.clone();
    dims[0] = (next * c0).max(dg.meta.shape.first().copied().unwrap_or(0));
    dg.meta.shape = dims;
    Ok((
        map,
        Some(TableUpdate {
            path: path.to_string(),
            first_new,
            rows: acc.slots.into_rows(),
            next,
            cache: acc.cache,
        }),
        later,
    ))
}

/// New slots of a filtered dataset that fit in one batch, set aside by
/// [`Appended::write`]: `commit_state` encodes them on the thread pool while it
/// creates the version's objects, then writes them.
pub(crate) struct Deferred {
    /// The slot of the first of `slots`.
    pub(crate) first: u64,
    /// The chunks, in slot order.
    pub(crate) slots: Vec<Hashed>,
    /// The filters of the dataset's `raw_data`.
    pub(crate) pipeline: Vec<codec::Stage>,
    /// Bytes the read cache may still take.
    pub(crate) budget: usize,
}

/// What [`store_chunks`] has appended so far.
pub(crate) struct Appended {
    /// The slots given to the chunks so far, and the new ones' hash-table rows.
    pub(crate) slots: SlotAssigner,
    /// New slots for the read cache (see [`TableUpdate::cache`]).
    pub(crate) cache: Vec<(u64, Vec<u64>, Vec<u8>)>,
    /// Bytes the read cache may still take.
    pub(crate) budget: usize,
}

impl Appended {
    /// Maps `chunks` to rows (known hashes to their slot, new ones to new slots from
    /// the first free one on); returns the indices of the chunks to write, in slot order.
    pub(crate) fn dedup(
        &mut self,
        dg: &DataGroup,
        map: &mut ChunkMap,
        chunks: &[Hashed],
    ) -> Vec<usize> {
        let mut to_write = Vec::new();
        for (i, h) in chunks.iter().enumerate() {
            if h.fill_only {
                map.remove(&h.coord);
                continue;
            }
            let a = self.slots.assign(&dg.index, h.hash, h.ext[0]);
            if let Assigned::New(_) = a {
                to_write.push(i);
            }
            map.insert(h.coord.clone(), a.row());
        }
        to_write
    }

    /// Writes the chunks `to_write` (indices into `chunks`, from [`dedup`](Self::dedup))
    /// to the slots before `next`, growing `raw_data` to hold them. With `defer`, new
    /// slots of a filtered dataset that fit in one batch are not written but returned,
    /// for the caller to encode and write (see [`Deferred`]).
    pub(crate) fn write(
        &mut self,
        dg: &DataGroup,
        ds: &StagedDataset,
        to_write: Vec<usize>,
        chunks: Vec<Hashed>,
        defer: bool,
    ) -> Result<Option<Deferred>> {
        if to_write.is_empty() {
            return Ok(None);
        }
        let meta = &ds.meta;
        let c0 = meta.chunks[0];
        let next = self.slots.next_slot();
        let first = next - to_write.len() as u64;
        let mut dims = meta.chunks.clone();
        // Grown only: rows past the new slots (leftovers) stay as they are.
        let rows = h5::ds_shape(&dg.raw)?.first().copied().unwrap_or(0);
        dims[0] = (next * c0).max(rows);
        if dims[0] > rows {
            h5::ds_set_extent(&dg.raw, &dims)?;
        }
        // `to_write` is in increasing order: keep those chunks, in slot order.
        let mut wanted = to_write.iter().copied().peekable();
        let mut slots: Vec<Hashed> = chunks
            .into_iter()
            .enumerate()
            .filter(|(i, _)| wanted.next_if_eq(i).is_some())
            .map(|(_, h)| h)
            .collect();
        if meta.dtype.is_vlen() {
            let mut buf = Vec::new();
            for h in &slots {
                buf.extend_from_slice(&padded_slot(ds, h)?);
            }
            let mut start = vec![0u64; dims.len()];
            start[0] = first * c0;
            let mut count = meta.chunks.clone();
            count[0] = slots.len() as u64 * c0;
            let strings: Vec<&[u8]> = ds.pool.decode(&buf).collect();
            h5::write_strings(&dg.raw, &start, &count, &strings)?;
            return Ok(None);
        }
        let pipeline = h5::pipeline(&dg.raw)?;
        let slot_bytes = grid::volume(&meta.chunks)? * meta.dtype.size();
        if defer
            && !pipeline.is_empty()
            && codec::supported(&pipeline)
            && slots.len() * slot_bytes <= SLOT_BATCH_BYTES
        {
            return Ok(Some(Deferred {
                first,
                slots,
                pipeline,
                budget: std::mem::take(&mut self.budget),
            }));
        }
        write_slots(&dg.raw, ds, first, &slots, &pipeline)?;
        // Chunks staged by writes are what the next version over this one loads
        // first: they go to the read cache once the commit has succeeded.
        keep_for_cache(&mut self.cache, &mut self.budget, c0, first, &mut slots);
        Ok(None)
    }
}

/// Moves the elements of new slots (from slot `first` on) that were staged by writes
/// into `cache`, while `budget` allows.
pub(crate) fn keep_for_cache(
    cache: &mut Vec<(u64, Vec<u64>, Vec<u8>)>,
    budget: &mut usize,
    c0: u64,
    first: u64,
    slots: &mut [Hashed],
) {
    for (h, slot) in slots.iter_mut().zip(first..) {
        let Some(len) = h.data.as_ref().map(Vec::len) else {
            continue;
        };
        let Some(left) = budget.checked_sub(len) else {
            continue;
        };
        if let Some(bytes) = h.data.take() {
            *budget = left;
            cache.push((slot * c0, h.ext.clone(), bytes));
        }
    }
}

/// A new slot's bytes: the chunk, padded to the full chunk shape with the fill value
/// when it is an edge chunk.
pub(crate) fn padded_slot<'a>(ds: &'a StagedDataset, h: &'a Hashed) -> Result<Cow<'a, [u8]>> {
    let meta = &ds.meta;
    let data = h.bytes(ds)?;
    if h.ext == meta.chunks {
        return Ok(data);
    }
    let es = meta.dtype.size();
    let mut slot = grid::filled(&meta.fill, grid::volume(&meta.chunks)?);
    let sel: Vec<AxisSel> = h
        .ext
        .iter()
        .map(|&e| AxisSel::Slice {
            start: Some(0),
            stop: Some(e as i64),
            step: 1,
        })
        .collect();
    let s = Selection::resolve(&sel, &meta.chunks)?;
    grid::copy_selection(
        &s,
        &meta.chunks,
        grid::Direction::BlockToChunk,
        es,
        &data,
        &mut slot,
    );
    Ok(Cow::Owned(slot))
}

/// Bytes of new slots handled at once: bounds the memory a commit adds to the staged
/// data (two batches are in flight while one is written and the next encoded). Unit
/// tests use small batches, so that small data spans several.
pub(crate) const SLOT_BATCH_BYTES: usize = if cfg!(test) { 1 << 20 } else { 32 << 20 };

/// Writes new slots to `raw_data` from slot `first`. Without filters, or with filters
/// this library can apply (shuffle, gzip, lzf), chunks are written as they are stored
/// (direct chunk writes: no staging copy, and libhdf5 would filter them one by one):
/// unfiltered slots straight from the staged data, filtered ones encoded in parallel
/// in batches, each batch encoded while the one before is written. Otherwise each
/// batch is one write through libhdf5.
pub(crate) fn write_slots(
    raw: &h5::Hid,
    ds: &StagedDataset,
    first: u64,
    slots: &[Hashed],
    pipeline: &[codec::Stage],
) -> Result<()> {
    let meta = &ds.meta;
    let c0 = meta.chunks[0];
    let slot_bytes = grid::volume(&meta.chunks)? * meta.dtype.size();
    let per_batch = (SLOT_BATCH_BYTES / slot_bytes.max(1)).max(1);
    if !codec::supported(pipeline) {
        for (b, batch) in slots.chunks(per_batch).enumerate() {
            let first_slot = first + (b * per_batch) as u64;
            let mut buf = Vec::with_capacity(slot_bytes * batch.len());
            for h in batch {
                buf.extend_from_slice(&padded_slot(ds, h)?);
            }
            let mut start = vec![0u64; meta.chunks.len()];
            start[0] = first_slot * c0;
            let mut count = meta.chunks.clone();
            count[0] = batch.len() as u64 * c0;
            h5::write_block(raw, &meta.dtype, &start, &count, &buf)?;
        }
        return Ok(());
    }
    if pipeline.is_empty() {
        let mut offset = vec![0u64; meta.chunks.len()];
        for (i, h) in slots.iter().enumerate() {
            offset[0] = (first + i as u64) * c0;
            h5::write_chunk(raw, &offset, 0, &padded_slot(ds, h)?)?;
        }
        return Ok(());
    }
    let batches: Vec<&[Hashed]> = slots.chunks(per_batch).collect();
    let mut pending: Option<Vec<codec::Encoded>> = None;
    for b in 0..=batches.len() {
        let next = batches.get(b).copied();
        let (encoded, written) = rayon::join(
            || next.map(|n| encode_slots(ds, pipeline, n)).transpose(),
            || match pending.take() {
                Some(p) => write_encoded(raw, meta, first + ((b - 1) * per_batch) as u64, p),
                None => Ok(()),
            },
        );
        written?;
        pending = encoded?;
    }
    refresh_after_direct_writes(raw, meta, first, slots.len())
}

/// Encodes new slots through `pipeline`, in parallel.
pub(crate) fn encode_slots(
    ds: &StagedDataset,
    pipeline: &[codec::Stage],
    slots: &[Hashed],
) -> Result<Vec<codec::Encoded>> {
    let es = ds.meta.dtype.size();
    slots
        .par_iter()
        .map(|h| codec::encode(pipeline, es, &padded_slot(ds, h)?))
        .collect()
}

/// Writes encoded slots from slot `first` on, as direct chunk writes.
pub(crate) fn write_encoded(
    raw: &h5::Hid,
    meta: &DatasetMeta,
    first: u64,
    encoded: Vec<codec::Encoded>,
) -> Result<()> {
    let mut offset = vec![0u64; meta.chunks.len()];
    for (e, slot) in encoded.into_iter().zip(first..) {
        offset[0] = slot * meta.chunks[0];
        h5::write_chunk(raw, &offset, e.mask, &e.bytes)?;
    }
    Ok(())
}

/// After filtered direct chunk writes of `n` slots from `first` on: the last one was
/// written with a filter mask libhdf5 did not note (see `h5::refresh_chunk_lookup`),
/// so look up another slot.
pub(crate) fn refresh_after_direct_writes(
    raw: &h5::Hid,
    meta: &DatasetMeta,
    first: u64,
    n: usize,
) -> Result<()> {
    let last = first + n as u64 - 1;
    h5::refresh_chunk_lookup(raw, &probe_offset(last * meta.chunks[0], &meta.chunks))
}

/// The offset of a chunk other than the one at `[row, 0, …]`: the first chunk, or the
/// second along axis 0 when `row` is 0.
pub(crate) fn probe_offset(row: u64, chunks: &[u64]) -> Vec<u64> {
    let mut probe = vec![0u64; chunks.len()];
    if row == 0 {
        probe[0] = chunks[0];
    }
    probe
}
