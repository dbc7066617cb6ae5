//! Staged datasets: creation with its checks (dtype, shape, chunks, fill value,
//! filters, and the settings a dataset path keeps for the life of the file), writes
//! and resizes that load only the chunks they touch, and reads of staged data. A
//! dataset created from data keeps that data whole until commit and cuts chunks out
//! of it only when they are needed.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::Arc;

use crate::attrs::Attrs;
use crate::buf::ReadData;
use crate::dtype::Dtype;
use crate::error::{bail, Result};
use crate::file::{gather, read_result, ChunkBytes, ChunkMap, DatasetMeta, VersionedFile};
use crate::grid::{self, AxisSel, ChunkCoord, Selection};
use crate::h5::{Compression, Filters};
use crate::hash::HashKind;
use crate::layout::normalize_path;
use crate::layout::{raw_data_path, VERSIONS};
use crate::stage::dataset_mut;
use crate::stage::ensure_parents;
use crate::stage::refuse_absolute;
use crate::stage::StagedVersion;
use crate::strings::{raw_elements, to_elements, StrPool, Values};

/// Options of [`StagedVersion::create_dataset`].
#[derive(Clone, Debug, Default)]
pub struct CreateOptions {
    /// Shape; may be omitted for 1-D data (its length is used).
    pub shape: Option<Vec<u64>>,
    /// Element type.
    pub dtype: Option<Dtype>,
    /// Initial data, C order, `prod(shape)` elements of `dtype`.
    pub data: Option<Values>,
    /// Chunk shape (default `[4096]` for 1-D; required for N-D).
    pub chunks: Option<Vec<u64>>,
    /// Fill value, one element of `dtype` (default zero / the empty string).
    /// Variable-length string datasets only take the empty string.
    pub fill: Option<Values>,
    /// Filters of the dataset's raw data.
    pub filters: Filters,
    /// Hash function for a new dataset path (default BLAKE3).
    pub hash: Option<HashKind>,
}

/// Element bytes shared with a staged version instead of copied into it: the
/// initial data of a dataset ([`StagedVersion::create_dataset_shared`]), C order,
/// read when the version commits (and when a write or a read of the staged version
/// needs one of its chunks before). The bytes must stay as they are until then.
pub trait SharedBytes: Send + Sync {
    /// The bytes.
    fn bytes(&self) -> &[u8];
}

impl SharedBytes for Vec<u8> {
    fn bytes(&self) -> &[u8] {
        self
    }
}

/// A dataset's initial data, whole.
#[derive(Clone)]
pub(crate) struct Source(pub(crate) Arc<dyn SharedBytes>);

impl std::fmt::Debug for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Source({} bytes)", self.0.bytes().len())
    }
}

#[derive(Debug)]
pub(crate) struct StagedDataset {
    pub(crate) meta: DatasetMeta,
    /// The version whose chunks this dataset starts from (None: new dataset).
    pub(crate) base: Option<String>,
    pub(crate) base_map: Option<Arc<ChunkMap>>,
    pub(crate) hash: HashKind,
    pub(crate) dirty: HashMap<ChunkCoord, Vec<u8>>,
    /// The data the dataset was created with (C order over `meta.shape`, which does
    /// not change while it is kept): every chunk not in `dirty` is cut from it.
    pub(crate) source: Option<Source>,
    pub(crate) modified: bool,
    pub(crate) attrs: Attrs,
    /// Strings of a variable-length string dataset (chunks hold indices into it).
    pub(crate) pool: StrPool,
    /// Chunks written to the file ahead of the commit (see
    /// [`StagedVersion::spill`]); their rows are in `base_map`.
    pub(crate) spill: Option<crate::stage::append::Spill>,
}

impl StagedVersion {
    /// Creates (or replaces) a dataset.
    pub fn create_dataset(&self, path: &str, opts: CreateOptions) -> Result<DatasetMeta> {
        self.create_dataset_with(path, opts, None)
    }

    /// [`create_dataset`](Self::create_dataset) with its initial data given as
    /// borrowed raw element bytes of `opts.dtype` (`opts.data` is ignored), copied
    /// once.
    pub fn create_dataset_raw(
        &self,
        path: &str,
        opts: CreateOptions,
        bytes: &[u8],
    ) -> Result<DatasetMeta> {
        self.create_dataset_with(path, opts, Some(Arc::new(bytes.to_vec())))
    }

    /// [`create_dataset`](Self::create_dataset) with its initial data given as raw
    /// element bytes of `opts.dtype` (`opts.data` is ignored) that the staged version
    /// keeps as they are, without a copy, until it is committed or abandoned: they
    /// are read then (see [`SharedBytes`]), so changes made to them before are
    /// committed.
    pub fn create_dataset_shared(
        &self,
        path: &str,
        opts: CreateOptions,
        bytes: Arc<dyn SharedBytes>,
    ) -> Result<DatasetMeta> {
        self.create_dataset_with(path, opts, Some(bytes))
    }

    pub(crate) fn create_dataset_with(
        &self,
        path: &str,
        opts: CreateOptions,
        raw: Option<Arc<dyn SharedBytes>>,
    ) -> Result<DatasetMeta> {
        refuse_absolute(path)?;
        let path = normalize_path(path)?;
        if path.is_empty() {
            bail!(
                InvalidArgument,
                "dataset path is empty: give a name such as 'prices'"
            );
        }
        if path == VERSIONS {
            bail!(
                InvalidArgument,
                "'versions' is reserved by the file format: choose another dataset name"
            );
        }
        let dtype = match (&opts.dtype, &opts.data) {
            (Some(d), _) => d.clone(),
            (None, Some(Values::Strings(_))) => Dtype::VlenString { utf8: true },
            (None, _) => Dtype::Float64,
        };
        dtype.require_writable()?;
        let es = dtype.size();
        let mut pool = StrPool::default();
        let data: Option<Arc<dyn SharedBytes>> = match (raw, opts.data) {
            (Some(b), _) => {
                raw_elements(&dtype, b.bytes())?;
                Some(b)
            }
            (None, Some(Values::Raw(v))) => {
                raw_elements(&dtype, &v)?;
                Some(Arc::new(v))
            }
            (None, Some(v)) => Some(Arc::new(to_elements(&dtype, &v, &mut pool)?.into_owned())),
            (None, None) => None,
        };
        let shape = match (&opts.shape, &data) {
            (Some(s), _) => s.clone(),
            (None, Some(d)) => vec![(d.bytes().len() / es) as u64],
            (None, None) => bail!(InvalidArgument, "createDataset needs data or shape"),
        };
        if shape.is_empty() {
            bail!(InvalidArgument, "scalar datasets are not supported by the format: give a shape with at least one axis");
        }
        let n = grid::volume(&shape)?;
        let chunks = match &opts.chunks {
            Some(c) => c.clone(),
            None if shape.len() == 1 => vec![4096],
            None => bail!(
                InvalidArgument,
                "chunks must be given for a {}-dimensional dataset",
                shape.len()
            ),
        };
        check_chunks(&chunks, &shape, es)?;
        let fill = match &opts.fill {
            None => dtype.zero(),
            Some(f) => fill_element(&dtype, f, &mut pool)?,
        };
        if let Some(d) = &data {
            if d.bytes().len() != n * es {
                bail!(
                    ShapeMismatch,
                    "data has {} elements but shape {shape:?} needs {n}",
                    d.bytes().len() / es
                );
            }
        }
        if dtype.is_vlen() && opts.filters.fletcher32 {
            bail!(
                InvalidArgument,
                "fletcher32 cannot checksum variable-length strings (libhdf5 refuses it): drop fletcher32 for '{path}'"
            );
        }
        if let Compression::Gzip(l) = opts.filters.compression {
            if l > 9 {
                bail!(
                    InvalidArgument,
                    "gzip level {l} is out of range: use 0 to 9"
                );
            }
        }
        let mut meta = DatasetMeta {
            shape: shape.clone(),
            dtype,
            chunks: chunks.clone(),
            fill,
            filters: opts.filters,
        };
        // Settings are fixed per dataset path for the life of the file.
        let hash = {
            let mut f = self.file.lock();
            f.require_writable_by(Some(self.id()))?;
            match f.data_group(&path)? {
                Some(dg) => {
                    check_compatible(&path, &dg.meta, &meta)?;
                    // Strings of either character set share one stored type.
                    meta.dtype = dg.meta.dtype.clone();
                    dg.hash
                }
                None => opts.hash.unwrap_or(HashKind::Blake3),
            }
        };
        let mut st = self.lock()?;
        if st.groups.contains_key(&path) {
            bail!(
                AlreadyExists,
                "'{path}' is a group in version '{}'",
                st.name
            );
        }
        ensure_parents(&mut st, &path, false)?;
        st.datasets.insert(
            path,
            StagedDataset {
                meta: meta.clone(),
                base: None,
                base_map: None,
                hash,
                dirty: HashMap::new(),
                // Chunks are cut from the data when they are needed (at commit, or
                // by a write): staging holds no second copy of it.
                source: data.map(Source),
                modified: true,
                attrs: Vec::new(),
                pool,
                spill: None,
            },
        );
        Ok(meta)
    }

    /// Writes `data` (C order, the selection's elements, or one element to broadcast)
    /// into a selection of a dataset. Only the chunks the selection touches are loaded.
    pub fn write(&self, path: &str, sel: &[AxisSel], data: &Values) -> Result<()> {
        self.write_elements(
            path,
            sel,
            |d| data.len(d),
            |d, pool| to_elements(d, data, pool),
        )
    }

    /// [`write`](Self::write) from borrowed raw element bytes (numbers, bools, fixed
    /// strings, records in the dataset's layout), without copying them first.
    pub fn write_raw(&self, path: &str, sel: &[AxisSel], bytes: &[u8]) -> Result<()> {
        self.write_elements(
            path,
            sel,
            |d| bytes.len() / d.size().max(1),
            |d, _| raw_elements(d, bytes).map(Cow::Borrowed),
        )
    }

    pub(crate) fn write_elements<'d>(
        &self,
        path: &str,
        sel: &[AxisSel],
        len: impl FnOnce(&Dtype) -> usize,
        elements: impl FnOnce(&Dtype, &mut StrPool) -> Result<Cow<'d, [u8]>>,
    ) -> Result<()> {
        let path = normalize_path(path)?;
        let mut st = self.lock()?;
        let ds = dataset_mut(&mut st, &path)?;
        let s = Selection::resolve(sel, &ds.meta.shape)?;
        let count = s.count()?;
        let n = len(&ds.meta.dtype);
        let broadcast = n == 1 && count != 1;
        if !broadcast && n != count {
            bail!(
                ShapeMismatch,
                "the selection has {count} elements (shape {:?}) but the data has {n}",
                s.result_shape(),
            );
        }
        let data = elements(&ds.meta.dtype, &mut ds.pool)?;
        if count == 0 {
            return Ok(());
        }
        write_selection(&self.file, &path, ds, &s, broadcast, &data)
    }

    /// Changes a dataset's shape as h5py's `resize` does: every axis may grow or
    /// shrink, existing coordinates keep their values, new elements read as the fill
    /// value. Only chunks whose edge-trimmed extent changes are loaded and re-stored.
    pub fn resize(&self, path: &str, shape: &[u64]) -> Result<DatasetMeta> {
        let path = normalize_path(path)?;
        let mut st = self.lock()?;
        let ds = dataset_mut(&mut st, &path)?;
        ds.meta.dtype.require_writable()?;
        let old = ds.meta.shape.clone();
        if shape.len() != old.len() {
            bail!(
                InvalidArgument,
                "cannot resize '{path}' of shape {old:?} to {shape:?}: the number of axes cannot change"
            );
        }
        grid::volume(shape)?;
        if shape == old.as_slice() {
            return Ok(ds.meta.clone());
        }
        ds.materialize()?;
        let chunks = ds.meta.chunks.clone();
        let new_grid = grid::grid_dims(shape, &chunks);
        let inside = |k: &ChunkCoord| k.iter().zip(&new_grid).all(|(a, b)| a < b);
        let es = ds.meta.dtype.size();
        // Written chunks: drop those now outside, re-cut those whose extent changes.
        let coords: Vec<ChunkCoord> = ds.dirty.keys().cloned().collect();
        for k in coords {
            let Some(buf) = ds.dirty.remove(&k) else {
                continue;
            };
            if !inside(&k) {
                continue;
            }
            let from = grid::chunk_extent(&old, &chunks, &k);
            let to = grid::chunk_extent(shape, &chunks, &k);
            let buf = if from == to {
                buf
            } else {
                recut(&buf, &from, &to, &ds.meta.fill, es)?
            };
            ds.dirty.insert(k, buf);
        }
        // Stored chunks of the parent: the same, loading the ones to re-cut.
        if let Some(base) = base_map(&self.file, &path, ds)? {
            let mut keep = (*base).clone();
            let mut changed = false;
            for (k, &row) in base.iter() {
                if ds.dirty.contains_key(k) {
                    continue;
                }
                if !inside(k) {
                    keep.remove(k);
                    changed = true;
                    continue;
                }
                let from = grid::chunk_extent(&old, &chunks, k);
                let to = grid::chunk_extent(shape, &chunks, k);
                if from != to {
                    let raw_path = raw_data_path(&path);
                    let buf = {
                        let mut f = self.file.lock();
                        f.read_slot(&raw_path, &ds.meta, row, &from, Some(&mut ds.pool))?
                    };
                    ds.dirty
                        .insert(k.clone(), recut(&buf, &from, &to, &ds.meta.fill, es)?);
                    keep.remove(k);
                    changed = true;
                }
            }
            if changed {
                ds.base_map = Some(Arc::new(keep));
            }
        }
        ds.meta.shape = shape.to_vec();
        ds.modified = true;
        Ok(ds.meta.clone())
    }

    /// Reads a selection of a dataset as staged (written chunks included).
    pub fn read(&self, path: &str, sel: &[AxisSel]) -> Result<(Values, Vec<u64>)> {
        let (data, shape) = self.read_data(path, sel)?;
        Ok((data.into_values(), shape))
    }

    /// [`read`](Self::read) into an 8-byte-aligned buffer (or strings), as
    /// [`VersionedFile::read_data`]. Chunks of the parent version come through the
    /// file's read cache.
    pub fn read_data(&self, path: &str, sel: &[AxisSel]) -> Result<(ReadData, Vec<u64>)> {
        let path = normalize_path(path)?;
        let mut st = self.lock()?;
        let ds = dataset_mut(&mut st, &path)?;
        let s = Selection::resolve(sel, &ds.meta.shape)?;
        let meta = ds.meta.clone();
        let base = base_map(&self.file, &path, ds)?;
        let raw_path = raw_data_path(&path);
        let StagedDataset {
            dirty,
            pool,
            source,
            ..
        } = ds;
        let (dirty, source) = (&*dirty, &*source);
        let es = meta.dtype.size();
        let data = gather(
            &meta,
            &s,
            // The initial data (`source`), when held, covers every chunk.
            |k| {
                dirty.contains_key(k)
                    || source.is_some()
                    || base.as_ref().is_some_and(|m| m.contains_key(k))
            },
            |k, ext| {
                if let Some(b) = dirty.get(k) {
                    return Ok(Some(ChunkBytes::Borrowed(b)));
                }
                if let Some(src) = source {
                    return Ok(Some(
                        match cut_chunk(src.0.bytes(), &meta.shape, &meta.chunks, k, es)? {
                            Cow::Borrowed(b) => ChunkBytes::Borrowed(b),
                            Cow::Owned(v) => ChunkBytes::Owned(v),
                        },
                    ));
                }
                match base.as_ref().and_then(|m| m.get(k).copied()) {
                    Some(row) => {
                        let mut f = self.file.lock();
                        f.read_slot(&raw_path, &meta, row, ext, Some(pool))
                            .map(Some)
                    }
                    None => Ok(None),
                }
            },
        )?;
        Ok((read_result(&meta.dtype, data, Some(pool)), s.result_shape()))
    }
}

/// Copies `data` (the selection's elements in C order, or one element to broadcast)
/// into the staged chunks `s` touches, loading each one first.
pub(crate) fn write_selection(
    file: &VersionedFile,
    path: &str,
    ds: &mut StagedDataset,
    s: &Selection,
    broadcast: bool,
    data: &[u8],
) -> Result<()> {
    let es = ds.meta.dtype.size();
    let block_dims = s.block_shape();
    let mut pieces = s.pieces(&ds.meta.chunks);
    for cp in grid::group_by_chunk(&mut pieces) {
        let ext = grid::chunk_extent(&ds.meta.shape, &ds.meta.chunks, &cp.coord);
        if !ds.dirty.contains_key(&cp.coord) {
            let buf = load_chunk(file, path, ds, &cp.coord, &ext)?;
            ds.dirty.insert(cp.coord.clone(), buf);
        }
        if let Some(buf) = ds.dirty.get_mut(&cp.coord) {
            cp.copy(
                grid::Direction::BlockToChunk,
                &ext,
                &block_dims,
                es,
                broadcast,
                data,
                buf,
            );
        }
    }
    ds.modified = true;
    Ok(())
}

pub(crate) fn chunk_selection(k: &[u64], chunks: &[u64], ext: &[u64]) -> Vec<AxisSel> {
    k.iter()
        .zip(chunks)
        .zip(ext)
        .map(|((&ki, &c), &e)| AxisSel::Slice {
            start: Some((ki * c) as i64),
            stop: Some((ki * c + e) as i64),
            step: 1,
        })
        .collect()
}

/// Chunk `k` (edge-trimmed, C order) of `data`, the elements of a whole dataset of
/// `shape` in C order: borrowed where the chunk's elements lie contiguously in it
/// (every 1-D chunk, and N-D chunks that span whole rows), else cut out.
pub(crate) fn cut_chunk<'a>(
    data: &'a [u8],
    shape: &[u64],
    chunks: &[u64],
    k: &[u64],
    es: usize,
) -> Result<Cow<'a, [u8]>> {
    let ext = grid::chunk_extent(shape, chunks, k);
    let len = grid::volume(&ext)? * es;
    if data.len() != grid::volume(shape)? * es {
        bail!(
            ShapeMismatch,
            "the data a dataset was created with changed size before the commit ({} bytes, shape {shape:?} needs {}): keep it unchanged until the version is committed",
            data.len(),
            grid::volume(shape)? * es
        );
    }
    // Contiguous: every axis before the first one longer than 1 has extent 1, and
    // every axis after it is whole.
    let p = ext.iter().position(|&e| e != 1).unwrap_or(ext.len());
    if ext.iter().zip(shape).skip(p + 1).all(|(e, s)| e == s) {
        let mut offset = 0u64;
        for ((&ki, &c), &s) in k.iter().zip(chunks).zip(shape) {
            offset = offset * s + ki * c;
        }
        let start = offset as usize * es;
        return Ok(Cow::Borrowed(&data[start..start + len]));
    }
    let mut buf = vec![0u8; len];
    let s = Selection::resolve(&chunk_selection(k, chunks, &ext), shape)?;
    // The whole dataset as one "chunk": copy this chunk's region out.
    grid::copy_selection(&s, shape, grid::Direction::ChunkToBlock, es, data, &mut buf);
    Ok(Cow::Owned(buf))
}

impl StagedDataset {
    /// Chunk `k` as staged, when it is written or cut from the initial data.
    pub(crate) fn staged_chunk(&self, k: &[u64]) -> Result<Option<Cow<'_, [u8]>>> {
        if let Some(b) = self.dirty.get(k) {
            return Ok(Some(Cow::Borrowed(b)));
        }
        match &self.source {
            Some(src) => Ok(Some(cut_chunk(
                src.0.bytes(),
                &self.meta.shape,
                &self.meta.chunks,
                k,
                self.meta.dtype.size(),
            )?)),
            None => Ok(None),
        }
    }

    /// Cuts every chunk of the initial data not yet written into `dirty` and drops
    /// the data (before a change of shape, which the data's layout cannot follow).
    pub(crate) fn materialize(&mut self) -> Result<()> {
        let Some(src) = self.source.take() else {
            return Ok(());
        };
        let es = self.meta.dtype.size();
        let gd = grid::grid_dims(&self.meta.shape, &self.meta.chunks);
        for k in grid::all_chunks(&gd) {
            if !self.dirty.contains_key(&k) {
                let b = cut_chunk(src.0.bytes(), &self.meta.shape, &self.meta.chunks, &k, es)?
                    .into_owned();
                self.dirty.insert(k, b);
            }
        }
        Ok(())
    }
}

pub(crate) fn check_compatible(path: &str, have: &DatasetMeta, want: &DatasetMeta) -> Result<()> {
    if !have.dtype.compatible(&want.dtype) {
        bail!(
            DtypeMismatch,
            "dataset '{path}' stores {} in this file; it cannot become {}",
            have.dtype,
            want.dtype
        );
    }
    if have.chunks != want.chunks {
        bail!(
            IncompatibleDataset,
            "dataset '{path}' is chunked {:?} in this file; chunks cannot change to {:?}",
            have.chunks,
            want.chunks
        );
    }
    if have.fill != want.fill {
        bail!(
            IncompatibleDataset,
            "dataset '{path}' has another fill value in this file; the fill value cannot change"
        );
    }
    if have.filters != want.filters {
        bail!(
            IncompatibleDataset,
            "dataset '{path}' uses filters {:?} in this file; they cannot change to {:?}",
            have.filters,
            want.filters
        );
    }
    Ok(())
}

pub(crate) fn base_map(
    file: &VersionedFile,
    path: &str,
    ds: &mut StagedDataset,
) -> Result<Option<Arc<ChunkMap>>> {
    let Some(base) = ds.base.clone() else {
        // A new dataset maps only the chunks it wrote ahead of the commit.
        return Ok(ds.base_map.clone());
    };
    if ds.base_map.is_none() {
        let mut f = file.lock();
        let m = f.chunk_map(&base, path, &ds.meta)?;
        ds.base_map = Some(m);
    }
    Ok(ds.base_map.clone())
}

/// A chunk's elements re-cut from extent `from` to extent `to` (same origin): the
/// overlap is kept, the rest is the fill value.
pub(crate) fn recut(
    buf: &[u8],
    from: &[u64],
    to: &[u64],
    fill: &[u8],
    es: usize,
) -> Result<Vec<u8>> {
    if !from.is_empty() && from.get(1..) == to.get(1..) {
        // Only the first axis changes (rows appended or dropped, the common resize):
        // the kept rows are a prefix of the buffer, the new ones follow it.
        let row = grid::volume(from.get(1..).unwrap_or(&[]))? * es;
        let keep = from[0].min(to[0]) as usize * row;
        let mut out = Vec::with_capacity(grid::volume(to)? * es);
        out.extend_from_slice(&buf[..keep]);
        out.extend_from_slice(&grid::filled(
            fill,
            (to[0] as usize * row - keep) / es.max(1),
        ));
        return Ok(out);
    }
    recut_any(buf, from, to, fill, es)
}

/// [`recut`] for extents that differ on any axis.
pub(crate) fn recut_any(
    buf: &[u8],
    from: &[u64],
    to: &[u64],
    fill: &[u8],
    es: usize,
) -> Result<Vec<u8>> {
    let mut out = grid::filled(fill, grid::volume(to)?);
    let overlap: Vec<AxisSel> = from
        .iter()
        .zip(to)
        .map(|(&a, &b)| AxisSel::Slice {
            start: Some(0),
            stop: Some(a.min(b) as i64),
            step: 1,
        })
        .collect();
    let s = Selection::resolve(&overlap, from)?;
    let mut tmp = grid::filled(fill, s.count()?);
    grid::copy_selection(&s, from, grid::Direction::ChunkToBlock, es, buf, &mut tmp);
    let t = Selection::resolve(&overlap, to)?;
    grid::copy_selection(&t, to, grid::Direction::BlockToChunk, es, &tmp, &mut out);
    Ok(out)
}

/// The current bytes of chunk `k`: from the parent's raw_data if mapped, else fill.
pub(crate) fn load_chunk(
    file: &VersionedFile,
    path: &str,
    ds: &mut StagedDataset,
    k: &ChunkCoord,
    ext: &[u64],
) -> Result<Vec<u8>> {
    if let Some(b) = ds.staged_chunk(k)? {
        return Ok(b.into_owned());
    }
    if let Some(row) = base_map(file, path, ds)?.and_then(|m| m.get(k).copied()) {
        let mut f = file.lock();
        return f
            .read_slot(&raw_data_path(path), &ds.meta, row, ext, Some(&mut ds.pool))
            .map(ChunkBytes::into_vec);
    }
    Ok(grid::filled(&ds.meta.fill, grid::volume(ext)?))
}

/// Checks a chunk shape for a dataset of `shape` with elements of `es` bytes: one
/// positive entry per axis, each below 2^32, less than 4 GiB in all (HDF5's limits).
pub(crate) fn check_chunks(chunks: &[u64], shape: &[u64], es: usize) -> Result<()> {
    if chunks.len() != shape.len() {
        bail!(
            InvalidArgument,
            "chunks {chunks:?} must have one entry per axis of shape {shape:?}"
        );
    }
    if chunks.contains(&0) {
        bail!(
            InvalidArgument,
            "chunk sizes must be positive, got {chunks:?}"
        );
    }
    let chunk_bytes = grid::volume(chunks)? as u128 * es as u128;
    if chunks.iter().any(|&c| c >= 1 << 32) || chunk_bytes >= 1 << 32 {
        bail!(
            InvalidArgument,
            "chunks {chunks:?} are too large: HDF5 chunks hold less than 4 GiB and each axis less than 2^32 elements"
        );
    }
    Ok(())
}

/// A fill value given as values, as one element of `dtype`: encoded strings (variable
/// length, fixed-length UTF-8) only take the empty string, the format's rule.
pub(crate) fn fill_element(dtype: &Dtype, f: &Values, pool: &mut StrPool) -> Result<Vec<u8>> {
    let utf8_fixed = matches!(dtype, Dtype::FixedString { utf8: true, .. });
    if (dtype.is_vlen() || utf8_fixed) && *f != Values::Strings(vec![Vec::new()]) {
        bail!(
            InvalidArgument,
            "{dtype} datasets only support the empty string as fill value (the format's rule for encoded strings); S<n> byte strings take any"
        );
    }
    let b = to_elements(dtype, f, pool)?;
    if b.len() != dtype.size() {
        bail!(DtypeMismatch, "fill value must be one {dtype} element");
    }
    Ok(b.into_owned())
}
