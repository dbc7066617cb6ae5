//! Reads of committed versions: a selection is resolved to chunks, each chunk comes
//! from the read cache or `raw_data` (never through libhdf5's virtual-dataset engine,
//! except for mappings libhdf5 cannot describe), and is copied into the result.

use std::ops::Deref;
use std::sync::Arc;

use super::{ChunkMap, DatasetMeta, Inner, VersionedFile};
use crate::buf::{AlignedBytes, ReadData};
use crate::dtype::Dtype;
use crate::error::{bail, ErrorKind, Result};
use crate::grid::{self, AxisSel, ChunkCoord, Selection};
use crate::h5::{self, Hid};
use crate::layout::{normalized, version_group_path};
use crate::strings::{StrPool, Values};

impl Inner {
    /// Reads the edge-trimmed chunk stored at `row` of a data group: from the read
    /// cache when it holds it, else from `raw_data` (then cached). Variable-length
    /// strings are interned into `pool`, which they need, and never cached.
    pub(crate) fn read_slot(
        &mut self,
        raw_path: &str,
        meta: &DatasetMeta,
        row: u64,
        ext: &[u64],
        pool: Option<&mut StrPool>,
    ) -> Result<ChunkBytes<'static>> {
        if !meta.dtype.is_vlen() {
            if let Some(b) = self.chunks.get(raw_path, row, ext) {
                return Ok(ChunkBytes::Shared(b));
            }
        }
        let b = self.read_stored_slot(raw_path, meta, row, ext, pool)?;
        match b {
            ChunkBytes::Owned(b) if !meta.dtype.is_vlen() => {
                let b = Arc::new(b);
                self.chunks.insert(raw_path, row, ext, b.clone());
                Ok(ChunkBytes::Shared(b))
            }
            other => Ok(other),
        }
    }

    /// The `raw_data` at `raw_path`, opened once for reads and kept open.
    pub(crate) fn storage_handle(&mut self, raw_path: &str) -> Result<&Hid> {
        if !self.raws.contains_key(raw_path) {
            let h = h5::open_storage(self.file()?, raw_path)?;
            self.raws.insert(raw_path.to_string(), h);
        }
        match self.raws.get(raw_path) {
            Some(raw) => Ok(raw),
            None => bail!(InternalError, "'{raw_path}' could not be opened"),
        }
    }

    /// [`read_slot`](Self::read_slot) straight from `raw_data`, bypassing the read
    /// cache (for checks and repairs of what is stored, which also should not evict
    /// what reads use).
    pub(crate) fn read_stored_slot(
        &mut self,
        raw_path: &str,
        meta: &DatasetMeta,
        row: u64,
        ext: &[u64],
        pool: Option<&mut StrPool>,
    ) -> Result<ChunkBytes<'static>> {
        let raw = self.storage_handle(raw_path)?;
        let rows = h5::ds_shape(raw)?.first().copied().unwrap_or(0);
        if row + ext.first().copied().unwrap_or(0) > rows {
            bail!(
                CorruptFile,
                "a version maps rows {row}..{} of '{raw_path}', which has only {rows} rows: the stored data is missing (truncated file?)",
                row + ext.first().copied().unwrap_or(0)
            );
        }
        let mut start = vec![0u64; ext.len()];
        start[0] = row;
        if meta.dtype.is_vlen() {
            let Some(pool) = pool else {
                bail!(
                    InternalError,
                    "reading strings of '{raw_path}' without a string pool (a bug in this library)"
                );
            };
            let strings = h5::read_strings(raw, &start, ext)?;
            return Ok(ChunkBytes::Owned(pool.encode(&strings)));
        }
        let mut buf = vec![0u8; grid::volume(ext)? * meta.dtype.size()];
        h5::read_block(raw, &meta.dtype, &start, ext, &mut buf)?;
        Ok(ChunkBytes::Owned(buf))
    }
}

impl VersionedFile {
    /// Reads a selection of a committed version's dataset. Returns the bytes (C order)
    /// and the result shape (single-index axes dropped). [`read_data`](Self::read_data)
    /// returns the same without copying numbers into a plain `Vec<u8>`.
    pub fn read(&self, version: &str, path: &str, sel: &[AxisSel]) -> Result<(Values, Vec<u64>)> {
        let (data, shape) = self.read_data(version, path, sel)?;
        Ok((data.into_values(), shape))
    }

    /// Reads a selection of a committed version's dataset into an 8-byte-aligned
    /// buffer (or strings). Returns the data (C order) and the result shape
    /// (single-index axes dropped).
    ///
    /// Chunks come from the file's read cache when they were read before (see
    /// [`set_read_cache_bytes`](Self::set_read_cache_bytes)), else from `raw_data`.
    pub fn read_data(
        &self,
        version: &str,
        path: &str,
        sel: &[AxisSel],
    ) -> Result<(ReadData, Vec<u64>)> {
        // A read-only handle reads again when a writer wrote past its lock.
        self.untorn(|| self.read_data_once(version, path, sel))
    }

    fn read_data_once(
        &self,
        version: &str,
        path: &str,
        sel: &[AxisSel],
    ) -> Result<(ReadData, Vec<u64>)> {
        let path = normalized(path)?;
        let mut g = self.lock();
        // The catalog holds committed versions only, and a committed version stays
        // committed: a hit needs no other check.
        if let Some(r) = g.catalog.reader(version, path) {
            if let Some(map) = &r.map {
                return read_mapped(&mut g, &r.meta, &r.raw_path, map, sel);
            }
        }
        g.committed(version)?;
        let known = g.catalog.dataset(version, path).cloned();
        let vg = h5::open_group(g.file()?, &version_group_path(version))?;
        if known.is_none() && !h5::exists(&vg, path)? {
            bail!(NotFound, "version '{version}' has no dataset '{path}'");
        }
        // Our own decoder first: it reads the dataset without opening it.
        if known.as_ref().is_none_or(|d| d.map.is_none()) {
            if let Some((meta, raw_path, map)) = g.dataset_fast(version, &vg, path) {
                drop(vg);
                return read_mapped(&mut g, &meta, &raw_path, &map, sel);
            }
        }
        let ds = h5::open_dataset(&vg, path)?;
        // One copy of the creation properties (with every mapping) serves the fill
        // value and the chunk map. Where libhdf5 cannot copy them (see below), each
        // goes its own way, as before.
        let dcpl = h5::create_plist(&ds).ok();
        let (meta, raw_path) = match (known, &dcpl) {
            (Some(d), _) => (d.meta.clone(), d.raw_path.clone()),
            (None, Some(p)) => g.dataset_meta_in(&ds, p)?,
            (None, None) => g.dataset_meta(&ds)?,
        };
        drop(vg);
        // Decoding the chunk map records it, with the metadata, in the catalog.
        let map = match g.chunk_map_in(version, path, &meta, dcpl.as_ref()) {
            Ok(m) => m,
            Err(e) if e.kind == ErrorKind::Hdf5Error => {
                // The mappings cannot be decoded (seen after Python's modify_metadata on
                // string datasets, which stores a fill value libhdf5 cannot read back):
                // read through libhdf5's own virtual-dataset engine instead, as h5py does.
                return read_through_vds(&ds, &meta, sel);
            }
            Err(e) => return Err(e),
        };
        drop(dcpl);
        drop(ds);
        read_mapped(&mut g, &meta, &raw_path, &map, sel)
    }

    /// [`read_data`](Self::read_data), but only when it can be answered at once: the
    /// file is not busy (its lock is free), the dataset was read before, its elements
    /// are not variable-length strings, the result holds at most `max_bytes`, and every
    /// chunk it needs is in the read cache. Then no libhdf5 call is made. `None`
    /// otherwise (nothing was done: read with `read_data`). A selection that does not
    /// fit the dataset is answered with its error.
    pub fn read_cached(
        &self,
        version: &str,
        path: &str,
        sel: &[AxisSel],
        max_bytes: usize,
    ) -> Option<Result<(ReadData, Vec<u64>)>> {
        let mut own = OwnedSink::default();
        let shape = self.read_cached_into(version, path, sel, max_bytes, &mut own)?;
        Some(shape.map(|shape| (ReadData::Raw(own.into_bytes()), shape)))
    }

    /// [`read_cached`](Self::read_cached) into a buffer `out` provides (for a caller
    /// that can hand its own memory over, e.g. a JS `ArrayBuffer`, saving a copy);
    /// returns the result shape. Only for datasets whose elements are not
    /// variable-length strings.
    pub fn read_cached_into(
        &self,
        version: &str,
        path: &str,
        sel: &[AxisSel],
        max_bytes: usize,
        out: &mut dyn ReadSink,
    ) -> Option<Result<Vec<u64>>> {
        let path = normalized(path).ok()?;
        let mut g = self.try_lock()?;
        let r = g.catalog.reader(version, path)?;
        let map = r.map.as_ref()?;
        let meta = &r.meta;
        if meta.dtype.is_vlen() {
            return None;
        }
        let s = match Selection::resolve(sel, &meta.shape) {
            Ok(s) => s,
            Err(e) => return Some(Err(e)),
        };
        let bytes = grid::volume(&s.block_shape())
            .ok()?
            .checked_mul(meta.dtype.size())?;
        if bytes > max_bytes {
            return None;
        }
        let mut pieces = s.pieces(&meta.chunks);
        let groups = grid::group_by_chunk(&mut pieces);
        for cp in &groups {
            if let Some(&row) = map.get(&cp.coord) {
                let ext = grid::chunk_extent(&meta.shape, &meta.chunks, &cp.coord);
                if !g.chunks.contains(&r.raw_path, row, &ext) {
                    return None;
                }
            }
        }
        let raw_path = &r.raw_path;
        let res = gather_into(
            meta,
            &s,
            &groups,
            |k| map.contains_key(k),
            |k, ext| match map.get(k) {
                Some(&row) => g.read_slot(raw_path, meta, row, ext, None).map(Some),
                None => Ok(None),
            },
            out,
        );
        Some(res.map(|()| s.result_shape()))
    }
}

/// Reads a selection of a version dataset from its decoded chunk map.
pub(crate) fn read_mapped(
    g: &mut Inner,
    meta: &DatasetMeta,
    raw_path: &str,
    map: &ChunkMap,
    sel: &[AxisSel],
) -> Result<(ReadData, Vec<u64>)> {
    let s = Selection::resolve(sel, &meta.shape)?;
    if !meta.dtype.is_vlen() {
        let mut pieces = s.pieces(&meta.chunks);
        let groups = grid::group_by_chunk(&mut pieces);
        if let Some(data) = super::direct::read_direct(g, meta, raw_path, map, &s, &groups)? {
            return Ok((ReadData::Raw(data), s.result_shape()));
        }
    }
    let mut pool = meta.dtype.is_vlen().then(StrPool::default);
    let data = gather(
        meta,
        &s,
        |k| map.contains_key(k),
        |k, ext| match map.get(k) {
            Some(&row) => g
                .read_slot(raw_path, meta, row, ext, pool.as_mut())
                .map(Some),
            None => Ok(None),
        },
    )?;
    Ok((
        read_result(&meta.dtype, data, pool.as_ref()),
        s.result_shape(),
    ))
}

/// Gathered elements as a read's result: strings are looked up in `pool`.
pub(crate) fn read_result(dtype: &Dtype, data: AlignedBytes, pool: Option<&StrPool>) -> ReadData {
    match pool {
        Some(pool) if dtype.is_vlen() => {
            ReadData::Strings(pool.decode(data.as_bytes()).map(<[u8]>::to_vec).collect())
        }
        _ => ReadData::Raw(data),
    }
}

/// A chunk's bytes as a read gets them: shared with the read cache, owned, or
/// borrowed from a staged version's written chunks.
pub(crate) enum ChunkBytes<'a> {
    /// Shared with the read cache.
    Shared(Arc<Vec<u8>>),
    /// Read for this call alone.
    Owned(Vec<u8>),
    /// Borrowed.
    Borrowed(&'a [u8]),
}

impl Deref for ChunkBytes<'_> {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        match self {
            ChunkBytes::Shared(b) => b,
            ChunkBytes::Owned(b) => b,
            ChunkBytes::Borrowed(b) => b,
        }
    }
}

impl ChunkBytes<'_> {
    /// The bytes as an owned vector (copies unless they were owned already).
    pub(crate) fn into_vec(self) -> Vec<u8> {
        match self {
            ChunkBytes::Owned(b) => b,
            other => other.to_vec(),
        }
    }
}

/// Reads a selection of a version dataset through libhdf5's virtual-dataset engine:
/// the whole dataset at once, then the selection out of it. Only for datasets whose
/// mappings cannot be decoded.
pub(crate) fn read_through_vds(
    ds: &Hid,
    meta: &DatasetMeta,
    sel: &[AxisSel],
) -> Result<(ReadData, Vec<u64>)> {
    let s = Selection::resolve(sel, &meta.shape)?;
    let zeros = vec![0u64; meta.shape.len()];
    let mut pool = StrPool::default();
    let whole = if meta.dtype.is_vlen() {
        pool.encode(&h5::read_strings(ds, &zeros, &meta.shape)?)
    } else {
        let mut buf = vec![0u8; grid::volume(&meta.shape)? * meta.dtype.size()];
        h5::read_block(ds, &meta.dtype, &zeros, &meta.shape, &mut buf)?;
        buf
    };
    // The whole dataset as one chunk.
    let one = DatasetMeta {
        chunks: meta.shape.iter().map(|&d| d.max(1)).collect(),
        ..meta.clone()
    };
    let data = gather(
        &one,
        &s,
        |_| true,
        |_, _| Ok(Some(ChunkBytes::Borrowed(&whole))),
    )?;
    Ok((
        read_result(&meta.dtype, data, Some(&pool)),
        s.result_shape(),
    ))
}

/// Assembles a selection chunk by chunk. `chunk(k, extent)` returns the chunk's
/// trimmed bytes, or `None` when it is unmapped (fill value); `mapped(k)` says
/// beforehand whether it will return bytes, so that a selection whose chunks all have
/// bytes is not filled with the fill value first.
pub(crate) fn gather<'a>(
    meta: &DatasetMeta,
    sel: &Selection,
    mapped: impl Fn(&ChunkCoord) -> bool,
    chunk: impl FnMut(&ChunkCoord, &[u64]) -> Result<Option<ChunkBytes<'a>>>,
) -> Result<AlignedBytes> {
    let mut own = OwnedSink::default();
    let mut pieces = sel.pieces(&meta.chunks);
    gather_into(
        meta,
        sel,
        &grid::group_by_chunk(&mut pieces),
        mapped,
        chunk,
        &mut own,
    )?;
    Ok(own.into_bytes())
}

/// A [`ReadSink`] that allocates the buffer (zeroed: [`gather_into`] writes the fill
/// value where no chunk has bytes).
#[derive(Default)]
pub(crate) struct OwnedSink {
    block: Option<AlignedBytes>,
}

impl OwnedSink {
    fn into_bytes(self) -> AlignedBytes {
        self.block.unwrap_or_else(|| AlignedBytes::zeroed(0))
    }
}

impl ReadSink for OwnedSink {
    fn buffer(&mut self, bytes: usize, _all_mapped: bool) -> Result<(&mut [u8], bool)> {
        Ok((
            self.block
                .insert(AlignedBytes::zeroed(bytes))
                .as_bytes_mut(),
            false,
        ))
    }
}

/// Where a read puts its elements (C order, little-endian as stored).
pub trait ReadSink {
    /// Asked once, with the result's byte length and whether every chunk the read
    /// touches has bytes; returns a buffer of exactly that length and whether it
    /// already holds the dataset's fill value (else it is filled first where needed).
    fn buffer(&mut self, bytes: usize, all_mapped: bool) -> Result<(&mut [u8], bool)>;
}

/// [`gather`] into a buffer `out` provides (filled with the fill value first when it
/// is not already and some chunk has no bytes), for the selection's chunk `groups`
/// ([`grid::group_by_chunk`]).
pub(crate) fn gather_into<'a>(
    meta: &DatasetMeta,
    sel: &Selection,
    groups: &[grid::ChunkPieces<'_>],
    mapped: impl Fn(&ChunkCoord) -> bool,
    mut chunk: impl FnMut(&ChunkCoord, &[u64]) -> Result<Option<ChunkBytes<'a>>>,
    out: &mut dyn ReadSink,
) -> Result<()> {
    let es = meta.dtype.size();
    let block_dims = sel.block_shape();
    let count = grid::volume(&block_dims)?;
    // A typed array holds fewer than 2^32 elements; refuse before allocating.
    if count as u64 >= 1 << 32 || (count as u128) * (es as u128) >= 1 << 34 {
        bail!(
            InvalidArgument,
            "the selection has {count} elements, too many to read at once: read it in parts"
        );
    }
    let all_mapped = groups.iter().all(|cp| mapped(&cp.coord));
    let (buf, filled) = out.buffer(count * es, all_mapped)?;
    if buf.len() != count * es {
        bail!(InternalError, "a read's buffer has the wrong size");
    }
    if !all_mapped && !filled && es > 0 {
        for e in buf.chunks_exact_mut(es) {
            e.copy_from_slice(&meta.fill);
        }
    }
    for cp in groups {
        let ext = grid::chunk_extent(&meta.shape, &meta.chunks, &cp.coord);
        if let Some(bytes) = chunk(&cp.coord, &ext)? {
            cp.copy(
                grid::Direction::ChunkToBlock,
                &ext,
                &block_dims,
                es,
                false,
                &bytes,
                buf,
            );
        }
    }
    Ok(())
}
