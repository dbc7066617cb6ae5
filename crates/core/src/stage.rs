//! Staging a version and committing it.
//!
//! A staged version is a tree held in memory over its parent: groups with their
//! attributes, and datasets that keep only the chunks written so far (edge-trimmed,
//! C order). A dataset created from data keeps that data whole, as given (a
//! [`SharedBytes`], not copied), and its chunks are cut from it only when they are
//! needed: when a write touches one, and at commit. Nothing touches the file until
//! [`StagedVersion::commit`]; dropping or aborting a staged version leaves the file
//! exactly as it was.
//!
//! Commit, in order: load the hash tables of touched datasets (file lock); hash the
//! written chunks in parallel (no lock; chunks of a dataset's initial data are hashed
//! where they lie in it); then, under the lock, deduplicate against the tables, append
//! new slots to each `raw_data` (encoded in bounded batches, in parallel, while the
//! previous batch is written; a filtered dataset's slots that fit in one batch are
//! encoded while the version group is created, and written after it), append hash
//! rows and write `largest_index`, create the version group with its virtual datasets
//! and attributes, write `committed = True`, update `current_version`, flush. What a commit holds beyond the staged data is
//! bounded by the batch size, whatever the size of the data.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};

use rayon::prelude::*;

use crate::attrs::{set_attr, AttrValue, Attrs, DATASET_RESERVED};
use crate::buf::ReadData;
use crate::codec;
use crate::dtype::Dtype;
use crate::error::{bail, err, Result};
use crate::file::{
    data_group_path, gather, normalize_path, read_result, read_user_attrs, version_group_path,
    walk_version, ChunkBytes, ChunkMap, DataGroup, DatasetMeta, Inner, VersionInfo, VersionedFile,
    FIRST_VERSION, VERSION_DATA,
};
use crate::grid::{self, AxisSel, ChunkCoord, Selection};
use crate::h5::{self, Compression, Filters, HashRow, Mapping};
use crate::hash::{HashKind, HASH_ATTR};
use crate::strings::{hash_elements, raw_elements, to_elements, StrPool, Values};
use crate::time;

/// Options of [`VersionedFile::stage`].
#[derive(Clone, Debug, Default)]
pub struct StageOptions {
    /// Parent version: `None` = the current version, `Some("")` = no parent.
    pub prev_version: Option<String>,
    /// Make the new version current (default true).
    pub make_current: Option<bool>,
    /// Commit timestamp in µs since the epoch (default: the time of commit).
    pub timestamp: Option<i64>,
}

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
struct Source(Arc<dyn SharedBytes>);

impl std::fmt::Debug for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Source({} bytes)", self.0.bytes().len())
    }
}

#[derive(Debug)]
struct StagedDataset {
    meta: DatasetMeta,
    /// The version whose chunks this dataset starts from (None: new dataset).
    base: Option<String>,
    base_map: Option<Arc<ChunkMap>>,
    hash: HashKind,
    dirty: HashMap<ChunkCoord, Vec<u8>>,
    /// The data the dataset was created with (C order over `meta.shape`, which does
    /// not change while it is kept): every chunk not in `dirty` is cut from it.
    source: Option<Source>,
    modified: bool,
    attrs: Attrs,
    /// Strings of a variable-length string dataset (chunks hold indices into it).
    pool: StrPool,
}

#[derive(Debug)]
struct State {
    name: String,
    prev: String,
    make_current: bool,
    timestamp: Option<i64>,
    finished: bool,
    /// Set once the commit succeeded: later use is a write to a committed version.
    committed: bool,
    root_attrs: Attrs,
    groups: BTreeMap<String, Attrs>,
    datasets: BTreeMap<String, StagedDataset>,
}

/// A version being staged. All methods fail with `FILE_CLOSED` once it was committed
/// or aborted.
#[derive(Clone)]
pub struct StagedVersion {
    file: VersionedFile,
    state: Arc<Mutex<State>>,
}

/// What a path names in a staged version.
#[derive(Clone, Debug, PartialEq)]
pub enum StagedNode {
    /// A group.
    Group,
    /// A dataset with its current metadata.
    Dataset(DatasetMeta),
}

fn validate_version_name(name: &str) -> Result<()> {
    if name.is_empty() {
        bail!(
            InvalidArgument,
            "version name is empty: give a non-empty name without '/'"
        );
    }
    if name.contains('/') {
        bail!(
            InvalidArgument,
            "version name '{name}' contains '/': version names cannot contain '/'"
        );
    }
    if name == "." || name == ".." || name == FIRST_VERSION || name.contains('\0') {
        bail!(InvalidArgument, "'{name}' cannot be used as a version name");
    }
    Ok(())
}

impl VersionedFile {
    /// Starts staging version `name`. The parent's tree is read now; data chunks are
    /// read only when touched.
    pub fn stage(&self, name: &str, opts: StageOptions) -> Result<StagedVersion> {
        validate_version_name(name)?;
        let mut g = self.lock();
        g.require_writable()?;
        if g.versions.contains_key(name) || g.staging.contains(name) {
            bail!(
                VersionExists,
                "a version named '{name}' exists already: choose another name"
            );
        }
        let prev = match opts.prev_version.as_deref() {
            None => {
                // A current_version naming no committed version is damage, not a
                // request for a root version.
                g.current_committed()?;
                g.current.clone()
            }
            Some("") => FIRST_VERSION.to_string(),
            Some(p) => p.to_string(),
        };
        let (groups, datasets) = if prev == FIRST_VERSION {
            (BTreeMap::new(), BTreeMap::new())
        } else {
            g.committed(&prev)
                .map_err(|e| err(e.kind, format!("previous version: {}", e.message)))?;
            walk_version(&mut g, &prev, true)?
        };
        let mut staged = BTreeMap::new();
        for (path, (meta, attrs)) in datasets {
            let hash = match g.data_group(&path)? {
                Some(dg) => dg.hash,
                None => HashKind::Blake3,
            };
            staged.insert(
                path,
                StagedDataset {
                    meta,
                    base: Some(prev.clone()),
                    base_map: None,
                    hash,
                    dirty: HashMap::new(),
                    source: None,
                    modified: false,
                    attrs,
                    pool: StrPool::default(),
                },
            );
        }
        if let Some(ts) = opts.timestamp {
            time::format_micros(ts)?;
        }
        g.staging.insert(name.to_string());
        Ok(StagedVersion {
            file: self.clone(),
            state: Arc::new(Mutex::new(State {
                name: name.to_string(),
                prev,
                make_current: opts.make_current.unwrap_or(true),
                timestamp: opts.timestamp,
                finished: false,
                committed: false,
                root_attrs: Vec::new(),
                groups,
                datasets: staged,
            })),
        })
    }
}

impl StagedVersion {
    fn lock(&self) -> Result<MutexGuard<'_, State>> {
        let g = self.state.lock().unwrap_or_else(|p| p.into_inner());
        if g.committed {
            bail!(
                ReadOnly,
                "version '{}' was committed and is immutable: read it with vf.version('{}'), or stage a new version to change it",
                g.name,
                g.name
            );
        }
        if g.finished {
            bail!(
                FileClosed,
                "version '{}' is no longer being staged: it was abandoned",
                g.name
            );
        }
        Ok(g)
    }

    /// A number that identifies this staged version among those alive (its clones
    /// share it).
    pub fn id(&self) -> usize {
        Arc::as_ptr(&self.state) as usize
    }

    /// Name of the version being staged.
    pub fn name(&self) -> String {
        self.state
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .name
            .clone()
    }

    /// Name of the parent version.
    pub fn prev_version(&self) -> String {
        self.state
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .prev
            .clone()
    }

    /// Creates a group (and missing parents).
    pub fn create_group(&self, path: &str) -> Result<()> {
        refuse_absolute(path)?;
        let path = normalize_path(path)?;
        if path.is_empty() {
            bail!(
                InvalidArgument,
                "group path is empty: give a name such as 'meta'"
            );
        }
        let mut st = self.lock()?;
        if st.datasets.contains_key(&path) {
            bail!(
                AlreadyExists,
                "'{path}' is a dataset in version '{}'",
                st.name
            );
        }
        if st.groups.contains_key(&path) {
            bail!(
                AlreadyExists,
                "group '{path}' exists already in version '{}'",
                st.name
            );
        }
        ensure_parents(&mut st, &path, true)
    }

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

    fn create_dataset_with(
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
        if path == "versions" {
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
        let chunk_bytes = grid::volume(&chunks)? as u128 * es as u128;
        if chunks.iter().any(|&c| c >= 1 << 32) || chunk_bytes >= 1 << 32 {
            bail!(
                InvalidArgument,
                "chunks {chunks:?} are too large: HDF5 chunks hold less than 4 GiB and each axis less than 2^32 elements"
            );
        }
        let fill = match &opts.fill {
            None => dtype.zero(),
            Some(f) => {
                let utf8_fixed = matches!(dtype, Dtype::FixedString { utf8: true, .. });
                if (dtype.is_vlen() || utf8_fixed) && *f != Values::Strings(vec![Vec::new()]) {
                    bail!(
                        InvalidArgument,
                        "{dtype} datasets only support the empty string as fill value (the format's rule for encoded strings); S<n> byte strings take any"
                    );
                }
                let b = to_elements(&dtype, f, &mut pool)?;
                if b.len() != es {
                    bail!(DtypeMismatch, "fill value must be one {dtype} element");
                }
                b.into_owned()
            }
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
            f.require_writable()?;
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
            },
        );
        Ok(meta)
    }

    /// What `path` names in the staged tree.
    pub fn node(&self, path: &str) -> Result<StagedNode> {
        let path = normalize_path(path)?;
        let st = self.lock()?;
        if path.is_empty() || st.groups.contains_key(&path) {
            return Ok(StagedNode::Group);
        }
        match st.datasets.get(&path) {
            Some(d) => Ok(StagedNode::Dataset(d.meta.clone())),
            None => bail!(NotFound, "version '{}' has nothing at '{path}'", st.name),
        }
    }

    /// Names directly inside a group of the staged tree, sorted.
    pub fn keys(&self, group: &str) -> Result<Vec<String>> {
        let group = normalize_path(group)?;
        let st = self.lock()?;
        if !group.is_empty() && !st.groups.contains_key(&group) {
            bail!(NotFound, "version '{}' has no group '{group}'", st.name);
        }
        let prefix = if group.is_empty() {
            String::new()
        } else {
            format!("{group}/")
        };
        let mut out: Vec<String> = st
            .groups
            .keys()
            .chain(st.datasets.keys())
            .filter_map(|p| p.strip_prefix(&prefix))
            .filter(|rest| !rest.is_empty() && !rest.contains('/'))
            .map(str::to_string)
            .collect();
        out.sort();
        out.dedup();
        Ok(out)
    }

    /// Deletes a dataset or a group (with everything below it) from the staged tree.
    pub fn delete(&self, path: &str) -> Result<()> {
        let path = normalize_path(path)?;
        let mut st = self.lock()?;
        if st.datasets.remove(&path).is_some() {
            return Ok(());
        }
        if st.groups.remove(&path).is_none() {
            bail!(
                NotFound,
                "version '{}' has nothing at '{path}' to delete",
                st.name
            );
        }
        let prefix = format!("{path}/");
        st.groups.retain(|k, _| !k.starts_with(&prefix));
        st.datasets.retain(|k, _| !k.starts_with(&prefix));
        Ok(())
    }

    /// Sets an attribute on the version (`path` = `""`), a group or a dataset.
    pub fn set_attr(&self, path: &str, key: &str, value: AttrValue) -> Result<()> {
        let path = normalize_path(path)?;
        if key.is_empty() {
            bail!(InvalidArgument, "attribute name is empty");
        }
        let mut st = self.lock()?;
        let reserved: &[&str] = if path.is_empty() {
            &crate::attrs::VERSION_RESERVED
        } else if st.datasets.contains_key(&path) {
            &crate::attrs::DATASET_RESERVED
        } else {
            &[]
        };
        if reserved.contains(&key) {
            bail!(
                InvalidArgument,
                "attribute name '{key}' is reserved by the file format here: choose another name"
            );
        }
        let name = st.name.clone();
        let attrs = if path.is_empty() {
            &mut st.root_attrs
        } else if let Some(d) = st.datasets.get_mut(&path) {
            &mut d.attrs
        } else if let Some(a) = st.groups.get_mut(&path) {
            a
        } else {
            bail!(NotFound, "version '{name}' has nothing at '{path}'");
        };
        set_attr(attrs, key, value);
        Ok(())
    }

    /// Deletes an attribute; returns whether it existed.
    pub fn delete_attr(&self, path: &str, key: &str) -> Result<bool> {
        let path = normalize_path(path)?;
        let mut st = self.lock()?;
        let name = st.name.clone();
        let attrs = if path.is_empty() {
            &mut st.root_attrs
        } else if let Some(d) = st.datasets.get_mut(&path) {
            &mut d.attrs
        } else if let Some(a) = st.groups.get_mut(&path) {
            a
        } else {
            bail!(NotFound, "version '{name}' has nothing at '{path}'");
        };
        let before = attrs.len();
        attrs.retain(|(k, _)| k != key);
        Ok(attrs.len() != before)
    }

    /// Attributes of the version (`""`), a group or a dataset in the staged tree.
    pub fn attrs(&self, path: &str) -> Result<Attrs> {
        let path = normalize_path(path)?;
        let st = self.lock()?;
        if path.is_empty() {
            return Ok(st.root_attrs.clone());
        }
        if let Some(d) = st.datasets.get(&path) {
            return Ok(d.attrs.clone());
        }
        match st.groups.get(&path) {
            Some(a) => Ok(a.clone()),
            None => bail!(NotFound, "version '{}' has nothing at '{path}'", st.name),
        }
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

    fn write_elements<'d>(
        &self,
        path: &str,
        sel: &[AxisSel],
        len: impl FnOnce(&Dtype) -> usize,
        elements: impl FnOnce(&Dtype, &mut StrPool) -> Result<Cow<'d, [u8]>>,
    ) -> Result<()> {
        let path = normalize_path(path)?;
        let mut st = self.lock()?;
        let ds = dataset_mut(&mut st, &path)?;
        let es = ds.meta.dtype.size();
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
        let block_dims = s.block_shape();
        let mut pieces = s.pieces(&ds.meta.chunks);
        for cp in grid::group_by_chunk(&mut pieces) {
            let ext = grid::chunk_extent(&ds.meta.shape, &ds.meta.chunks, &cp.coord);
            if !ds.dirty.contains_key(&cp.coord) {
                let buf = load_chunk(&self.file, &path, ds, &cp.coord, &ext)?;
                ds.dirty.insert(cp.coord.clone(), buf);
            }
            if let Some(buf) = ds.dirty.get_mut(&cp.coord) {
                cp.copy(
                    grid::Direction::BlockToChunk,
                    &ext,
                    &block_dims,
                    es,
                    broadcast,
                    &data,
                    buf,
                );
            }
        }
        ds.modified = true;
        Ok(())
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
                    let raw_path = format!("{}/raw_data", data_group_path(&path));
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
        let raw_path = format!("{}/raw_data", data_group_path(&path));
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

    /// Whether `path` names a group or dataset in the staged tree. Accepts relative
    /// paths (trailing `/` allowed) and absolute paths inside the file.
    pub fn has(&self, path: &str) -> Result<bool> {
        let st = self.lock()?;
        let Some(rel) = crate::file::version_relative(&st.name, path) else {
            return Ok(false);
        };
        let path = normalize_path(&rel)?;
        Ok(path.is_empty() || st.groups.contains_key(&path) || st.datasets.contains_key(&path))
    }

    /// Abandons the staged version: nothing is written, and its name is free again.
    pub fn abort(&self) {
        let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        if !st.finished {
            st.finished = true;
            st.datasets.clear();
            self.file.lock().staging.remove(&st.name);
        }
    }

    /// Commits the staged version. On error nothing visible is left: the version does
    /// not exist, its name is free, and earlier versions are untouched. The work runs
    /// on the library's libhdf5 worker thread (see `worker`); the caller blocks until
    /// it is done.
    pub fn commit(&self) -> Result<VersionInfo> {
        let state = {
            let mut st = self.lock()?;
            st.finished = true;
            State {
                name: st.name.clone(),
                prev: st.prev.clone(),
                make_current: st.make_current,
                timestamp: st.timestamp,
                finished: true,
                committed: false,
                root_attrs: std::mem::take(&mut st.root_attrs),
                groups: std::mem::take(&mut st.groups),
                datasets: std::mem::take(&mut st.datasets),
            }
        };
        let name = state.name.clone();
        // On the libhdf5 worker thread, which turns a panic into an error.
        let file = self.file.clone();
        let result = crate::worker::run(move || commit_state(&file, state));
        self.file.lock().staging.remove(&name);
        if result.is_ok() {
            self.state
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .committed = true;
        }
        result
    }
}

fn chunk_selection(k: &[u64], chunks: &[u64], ext: &[u64]) -> Vec<AxisSel> {
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
fn cut_chunk<'a>(
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
    fn staged_chunk(&self, k: &[u64]) -> Result<Option<Cow<'_, [u8]>>> {
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
    fn materialize(&mut self) -> Result<()> {
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

fn ensure_parents(st: &mut State, path: &str, include_self: bool) -> Result<()> {
    let parts: Vec<&str> = path.split('/').collect();
    let upto = if include_self {
        parts.len()
    } else {
        parts.len() - 1
    };
    for i in 1..=upto {
        let p = parts[..i].join("/");
        if st.datasets.contains_key(&p) {
            bail!(
                AlreadyExists,
                "'{p}' is a dataset, so '{path}' cannot be created below it"
            );
        }
        st.groups.entry(p).or_default();
    }
    Ok(())
}

fn check_compatible(path: &str, have: &DatasetMeta, want: &DatasetMeta) -> Result<()> {
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

fn base_map(
    file: &VersionedFile,
    path: &str,
    ds: &mut StagedDataset,
) -> Result<Option<Arc<ChunkMap>>> {
    let Some(base) = ds.base.clone() else {
        return Ok(None);
    };
    if ds.base_map.is_none() {
        let mut f = file.lock();
        let m = f.chunk_map(&base, path, &ds.meta)?;
        ds.base_map = Some(m);
    }
    Ok(ds.base_map.clone())
}

fn dataset_mut<'a>(st: &'a mut State, path: &str) -> Result<&'a mut StagedDataset> {
    let name = st.name.clone();
    match st.datasets.get_mut(path) {
        Some(d) => Ok(d),
        None => bail!(NotFound, "version '{name}' has no dataset '{path}'"),
    }
}

fn refuse_absolute(path: &str) -> Result<()> {
    if path.starts_with('/') {
        bail!(
            InvalidArgument,
            "'{path}' starts with '/': paths inside a version are relative to its root, as in 'group/name'"
        );
    }
    Ok(())
}

/// A chunk's elements re-cut from extent `from` to extent `to` (same origin): the
/// overlap is kept, the rest is the fill value.
fn recut(buf: &[u8], from: &[u64], to: &[u64], fill: &[u8], es: usize) -> Result<Vec<u8>> {
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
fn recut_any(buf: &[u8], from: &[u64], to: &[u64], fill: &[u8], es: usize) -> Result<Vec<u8>> {
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
fn load_chunk(
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
            .read_slot(
                &format!("{}/raw_data", data_group_path(path)),
                &ds.meta,
                row,
                ext,
                Some(&mut ds.pool),
            )
            .map(ChunkBytes::into_vec);
    }
    Ok(grid::filled(&ds.meta.fill, grid::volume(ext)?))
}

/// A written chunk after hashing.
struct Hashed {
    coord: ChunkCoord,
    ext: Vec<u64>,
    hash: [u8; 32],
    fill_only: bool,
    /// The chunk's elements; `None`: in the dataset's initial data.
    data: Option<Vec<u8>>,
}

impl Hashed {
    /// The chunk's elements, edge-trimmed.
    fn bytes<'a>(&'a self, ds: &'a StagedDataset) -> Result<Cow<'a, [u8]>> {
        if let Some(d) = &self.data {
            return Ok(Cow::Borrowed(d));
        }
        match ds.staged_chunk(&self.coord)? {
            Some(b) => Ok(b),
            None => bail!(
                Hdf5Error,
                "chunk {:?} of a staged dataset is missing at commit",
                self.coord
            ),
        }
    }
}

enum Plan {
    Copy { from: String },
    Virtual { map: Arc<ChunkMap> },
}

/// A dataset's chunks as a commit stores them: hashed up front, or in batches of
/// about [`SLOT_BATCH_BYTES`] each hashed while the batch before is written (the
/// initial data of a dataset with no storage yet, where nothing needs every hash
/// before the first write).
enum Chunks {
    Hashed(Vec<Hashed>),
    Streamed(Vec<Vec<(ChunkCoord, Option<Vec<u8>>)>>),
}

/// Hashes a dataset's chunks (written ones in `Some`, the others cut from its initial
/// data), in parallel.
fn hash_chunks(
    ds: &StagedDataset,
    items: Vec<(ChunkCoord, Option<Vec<u8>>)>,
) -> Result<Vec<Hashed>> {
    let full = &ds.meta.chunks;
    items
        .into_par_iter()
        .map(|(coord, data)| {
            let ext = grid::chunk_extent(&ds.meta.shape, full, &coord);
            let (fill_only, hash) = {
                let bytes = match &data {
                    Some(d) => Cow::Borrowed(&d[..]),
                    None => cut_chunk(
                        ds.source.as_ref().map_or(&[][..], |s| s.0.bytes()),
                        &ds.meta.shape,
                        full,
                        &coord,
                        ds.meta.dtype.size(),
                    )?,
                };
                // A full-size chunk entirely fill value is left unmapped (reads give
                // the fill). An all-fill edge chunk is stored, as Python's staged
                // engine does, so both libraries deduplicate the same chunks.
                let fill_only = *ext == **full && grid::is_all(&bytes, &ds.meta.fill);
                let hash = if fill_only {
                    [0; 32]
                } else {
                    hash_elements(ds.hash, &ds.meta.dtype, &bytes, &ds.pool, &ext)
                };
                (fill_only, hash)
            };
            Ok(Hashed {
                coord,
                ext: ext.to_vec(),
                hash,
                fill_only,
                data,
            })
        })
        .collect()
}

fn commit_state(file: &VersionedFile, st: State) -> Result<VersionInfo> {
    // Phase 1 (file lock): settle each modified dataset's storage settings.
    let mut work: Vec<(String, StagedDataset)> = Vec::new();
    let mut copies: Vec<(String, StagedDataset)> = Vec::new();
    // Paths with no storage yet: their chunks need no deduplication check up front.
    let mut new_paths: std::collections::HashSet<String> = Default::default();
    {
        let mut f = file.lock();
        f.require_writable()?;
        if f.versions.contains_key(&st.name) {
            bail!(
                VersionExists,
                "a version named '{}' exists already: choose another name",
                st.name
            );
        }
        for (path, mut ds) in st.datasets {
            if !ds.modified && ds.base.is_some() {
                copies.push((path, ds));
                continue;
            }
            if let Some(dg) = f.data_group(&path)? {
                check_compatible(&path, &dg.meta, &ds.meta)?;
                ds.hash = dg.hash;
                ds.meta.dtype = dg.meta.dtype.clone();
            } else {
                new_paths.insert(path.clone());
            }
            if ds.base.is_some() && ds.base_map.is_none() {
                let base = ds.base.clone().unwrap_or_default();
                ds.base_map = Some(f.chunk_map(&base, &path, &ds.meta)?);
            }
            work.push((path, ds));
        }
    }
    // Phase 2 (no lock): hash every written chunk, in parallel. A new dataset's
    // initial data larger than one batch is hashed in phase 3 instead, each batch
    // while the one before is written (`Chunks::Streamed`).
    let hashed: Vec<Chunks> = work
        .iter_mut()
        .map(|(path, ds)| {
            let mut items: Vec<(ChunkCoord, Option<Vec<u8>>)> =
                ds.dirty.drain().map(|(k, v)| (k, Some(v))).collect();
            if ds.source.is_some() {
                // Written chunks stay where they are; the others are read from the
                // initial data where they lie in it.
                let gd = grid::grid_dims(&ds.meta.shape, &ds.meta.chunks);
                let written: std::collections::HashSet<ChunkCoord> =
                    items.iter().map(|(k, _)| k.clone()).collect();
                items.extend(
                    grid::all_chunks(&gd)
                        .filter(|k| !written.contains(k))
                        .map(|k| (k, None)),
                );
            }
            items.sort_by(|a, b| a.0.cmp(&b.0));
            let chunk_bytes = grid::volume(&ds.meta.chunks)? * ds.meta.dtype.size();
            let per_batch = (SLOT_BATCH_BYTES / chunk_bytes.max(1)).max(1);
            if new_paths.contains(path.as_str())
                && !ds.meta.dtype.is_vlen()
                && items.len() > per_batch
            {
                let mut batches = Vec::new();
                let mut rest = items.into_iter().peekable();
                while rest.peek().is_some() {
                    batches.push(rest.by_ref().take(per_batch).collect());
                }
                return Ok(Chunks::Streamed(batches));
            }
            hash_chunks(ds, items).map(Chunks::Hashed)
        })
        .collect::<Result<_>>()?;
    // Phase 3 (file lock): deduplicate, write, create the version.
    let mut f = file.lock();
    f.require_writable()?;
    let timestamp = st.timestamp.unwrap_or_else(time::now_micros);
    let ts_string = time::format_micros(timestamp)?;
    // Before anything is written: committed data must not rely on raw_data rows that
    // are missing, which new slots (or new storage) would fill in.
    let mut hashed = hashed;
    for ((path, ds), chunks) in work.iter().zip(hashed.iter_mut()) {
        if let Chunks::Streamed(batches) = chunks {
            if f.data_group(path)?.is_some() {
                // Storage made since phase 1: deduplicate against it as usual.
                let items = std::mem::take(batches).into_iter().flatten().collect();
                *chunks = Chunks::Hashed(hash_chunks(ds, items)?);
            }
        }
        let hashes: Vec<[u8; 32]> = match chunks {
            Chunks::Hashed(c) => c.iter().filter(|h| !h.fill_only).map(|h| h.hash).collect(),
            Chunks::Streamed(_) => Vec::new(),
        };
        if !hashes.is_empty() || f.data_group(path)?.is_none() {
            f.check_storage(path, &hashes)?;
        }
    }
    let mut plans: Vec<(String, DatasetMeta, Attrs, Plan)> = Vec::new();
    let mut new_maps: Vec<(String, Arc<ChunkMap>)> = Vec::new();
    let mut updates: Vec<TableUpdate> = Vec::new();
    // Deferred slots, with the index in `work` of their dataset.
    let mut deferred: Vec<(usize, Deferred)> = Vec::new();
    for (at, ((path, ds), chunks)) in work.iter_mut().zip(hashed).enumerate() {
        let (map, update, later) = store_chunks(&mut f, path, ds, chunks)?;
        updates.extend(update);
        deferred.extend(later.map(|d| (at, d)));
        let map = Arc::new(map);
        new_maps.push((path.clone(), map.clone()));
        plans.push((
            path.clone(),
            ds.meta.clone(),
            std::mem::take(&mut ds.attrs),
            Plan::Virtual { map: map.clone() },
        ));
    }
    for (path, ds) in copies {
        let from = ds.base.clone().unwrap_or_default();
        plans.push((path, ds.meta, ds.attrs, Plan::Copy { from }));
    }
    let vpath = version_group_path(&st.name);
    // Deferred slots are encoded on the thread pool while this thread creates the
    // version's objects; they are written before the hash tables name them.
    let mut encoded: Option<Result<Vec<Vec<codec::Encoded>>>> = None;
    let res = rayon::in_place_scope(|sc| {
        if !deferred.is_empty() {
            let (out, deferred, work) = (&mut encoded, &deferred, &work);
            sc.spawn(move |_| {
                *out = Some(
                    deferred
                        .iter()
                        .map(|(at, d)| encode_slots(&work[*at].1, &d.pipeline, &d.slots))
                        .collect(),
                )
            });
        }
        write_version(
            &mut f,
            &st.name,
            &st.prev,
            &ts_string,
            &st.root_attrs,
            &st.groups,
            &plans,
        )
    })
    .and_then(|written| {
        let encoded = encoded.take().unwrap_or_else(|| Ok(Vec::new()))?;
        for ((at, d), enc) in deferred.iter_mut().zip(encoded) {
            let (path, ds) = &work[*at];
            let Some(dg) = f.data_group(path)? else {
                bail!(
                    Hdf5Error,
                    "the storage of '{path}' vanished during a commit"
                );
            };
            write_encoded(&dg.raw, &ds.meta, d.first, enc)?;
            refresh_after_direct_writes(&dg.raw, &ds.meta, d.first, d.slots.len())?;
            if let Some(u) = updates.iter_mut().find(|u| &u.path == path) {
                keep_for_cache(
                    &mut u.cache,
                    &mut d.budget,
                    ds.meta.chunks[0],
                    d.first,
                    &mut d.slots,
                );
            }
        }
        for u in &updates {
            apply_table_update(&mut f, u)?;
        }
        // The commit mark and one flush: everything since the last flush is one
        // transaction of the file's journal, so a crash before the flush ends leaves
        // the file as it was before this commit, and after it, with the version.
        finish_version(&f, &st.name, st.make_current)?;
        Ok(written)
    });
    let (group_attrs, written) = match res {
        Ok(w) => w,
        Err(e) => {
            // Leave no half-written version behind; slots appended above are recorded in
            // the hash tables and simply stay unreferenced.
            if let Ok(fh) = f.file() {
                if h5::exists(fh, &vpath).unwrap_or(false) {
                    let _ = h5::unlink(fh, &vpath);
                }
                if st.make_current {
                    let cur = f.current.clone();
                    if let Ok(vg) = h5::open_group(fh, &format!("{VERSION_DATA}/versions")) {
                        let _ = h5::write_attr(&vg, "current_version", &AttrValue::Str(cur));
                    }
                }
                let _ = h5::file_flush(fh);
            }
            return Err(e);
        }
    };
    let info = VersionInfo {
        name: st.name.clone(),
        prev_version: st.prev.clone(),
        timestamp: Some(timestamp),
        committed: true,
    };
    f.versions.insert(st.name.clone(), info.clone());
    f.index_time(timestamp, &st.name);
    if st.make_current {
        f.current = st.name.clone();
    }
    for (path, map) in new_maps {
        f.maps.insert((st.name.clone(), path), map);
    }
    for u in updates {
        let raw_path = format!("{}/raw_data", data_group_path(&u.path));
        for (row, ext, bytes) in u.cache {
            f.chunks.insert(&raw_path, row, &ext, Arc::new(bytes));
        }
    }
    // The new version's dataset metadata is known: later stages over it and reads of
    // it need not read it back (see `walk_version`).
    let mut tree_datasets = BTreeMap::new();
    for ((path, meta, _, plan), attrs) in plans.into_iter().zip(written) {
        tree_datasets.insert(path.clone(), (meta.clone(), attrs.clone()));
        f.ds_attrs.insert((st.name.clone(), path.clone()), attrs);
        if let Plan::Virtual { map } = &plan {
            f.note_mapped(&st.name, &path, &meta, map);
        }
        let cached = match plan {
            Plan::Virtual { .. } => Some(Arc::new((
                meta,
                format!("{}/raw_data", data_group_path(&path)),
            ))),
            Plan::Copy { from } => f.read_metas.get(&(from, path.clone())).cloned(),
        };
        if let Some(c) = cached {
            f.read_metas.insert((st.name.clone(), path), c);
        }
    }
    f.keep_tree(&st.name, (group_attrs, tree_datasets));
    Ok(info)
}

/// Deduplicates hashed chunks against the dataset's hash table and appends new slots;
/// returns the version's chunk map and the hash-table rows still to write. Streamed
/// chunks are hashed batch by batch, each batch while the one before is written.
fn store_chunks(
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
    if empty && f.data_group(path)?.is_some() {
        return Ok((map, None, None));
    }
    if f.data_group(path)?.is_none() {
        create_data_group(f, path, meta, ds.hash)?;
    }
    let Some(dg) = f.data_group(path)? else {
        bail!(Hdf5Error, "the storage of '{path}' could not be created");
    };
    let c0 = meta.chunks[0];
    // New slots go after every slot raw_data holds, even when largest_index says fewer
    // (a table rebuilt by other tools, or a damaged one): never over a live slot.
    let raw_slots = h5::ds_shape(&dg.raw)?
        .first()
        .copied()
        .unwrap_or(0)
        .div_ceil(c0);
    let first_new = dg.largest_index.max(raw_slots);
    // Nothing should have cached rows past every stored slot, but the rows written
    // below must never be answered from before the write, whatever happens next.
    f.chunks.forget_rows(
        &format!("{}/raw_data", data_group_path(path)),
        first_new * c0,
    );
    let Some(dg) = f.data_group(path)? else {
        bail!(
            Hdf5Error,
            "the storage of '{path}' vanished during a commit"
        );
    };
    let mut acc = Appended {
        next: first_new,
        fresh: HashMap::new(),
        rows: Vec::new(),
        cache: Vec::new(),
        budget: READ_CACHE_FILL_BYTES,
    };
    let mut later = None;
    match chunks {
        Chunks::Hashed(chunks) => {
            let to_write = acc.dedup(dg, &mut map, c0, &chunks);
            later = acc.write(dg, ds, to_write, chunks, true)?;
        }
        Chunks::Streamed(batches) => {
            let mut batches = batches.into_iter();
            let mut current = batches.next().map(|b| hash_chunks(ds, b)).transpose()?;
            while let Some(chunks) = current.take() {
                let to_write = acc.dedup(dg, &mut map, c0, &chunks);
                let next = batches.next();
                // The next batch is hashed on the thread pool while this thread writes.
                let (hashed, written) = std::thread::scope(|sc| {
                    let job = next.map(|b| sc.spawn(|| hash_chunks(ds, b)));
                    let written = acc.write(dg, ds, to_write, chunks, false);
                    let hashed = job.map(|j| {
                        j.join().unwrap_or_else(|_| {
                            Err(crate::error::Error::new(
                                crate::error::ErrorKind::Hdf5Error,
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
    if acc.next == first_new {
        return Ok((map, None, None));
    }
    let mut dims = meta.chunks.clone();
    dims[0] = acc.next * c0;
    dg.meta.shape = dims;
    Ok((
        map,
        Some(TableUpdate {
            path: path.to_string(),
            first_new,
            rows: acc.rows,
            next: acc.next,
            cache: acc.cache,
        }),
        later,
    ))
}

/// New slots of a filtered dataset that fit in one batch, set aside by
/// [`Appended::write`]: `commit_state` encodes them on the thread pool while it
/// creates the version's objects, then writes them.
struct Deferred {
    /// The slot of the first of `slots`.
    first: u64,
    /// The chunks, in slot order.
    slots: Vec<Hashed>,
    /// The filters of the dataset's `raw_data`.
    pipeline: Vec<codec::Stage>,
    /// Bytes the read cache may still take.
    budget: usize,
}

/// What [`store_chunks`] has appended so far.
struct Appended {
    /// The next free slot.
    next: u64,
    /// Hashes of the slots appended, to their first row.
    fresh: HashMap<[u8; 32], u64>,
    /// Hash-table rows of the slots appended.
    rows: Vec<HashRow>,
    /// New slots for the read cache (see [`TableUpdate::cache`]).
    cache: Vec<(u64, Vec<u64>, Vec<u8>)>,
    /// Bytes the read cache may still take.
    budget: usize,
}

impl Appended {
    /// Maps `chunks` to rows (known hashes to their slot, new ones to new slots from
    /// `next` on); returns the indices of the chunks to write, in slot order.
    fn dedup(
        &mut self,
        dg: &DataGroup,
        map: &mut ChunkMap,
        c0: u64,
        chunks: &[Hashed],
    ) -> Vec<usize> {
        let mut to_write = Vec::new();
        for (i, h) in chunks.iter().enumerate() {
            if h.fill_only {
                map.remove(&h.coord);
                continue;
            }
            let row = if let Some(&r) = dg.index.get(&h.hash) {
                r
            } else if let Some(&r) = self.fresh.get(&h.hash) {
                r
            } else {
                let r = self.next * c0;
                self.next += 1;
                self.fresh.insert(h.hash, r);
                to_write.push(i);
                self.rows.push(HashRow {
                    hash: h.hash,
                    start: r as i64,
                    stop: (r + h.ext[0]) as i64,
                });
                r
            };
            map.insert(h.coord.clone(), row);
        }
        to_write
    }

    /// Writes the chunks `to_write` (indices into `chunks`, from [`dedup`](Self::dedup))
    /// to the slots before `next`, growing `raw_data` to hold them. With `defer`, new
    /// slots of a filtered dataset that fit in one batch are not written but returned,
    /// for the caller to encode and write (see [`Deferred`]).
    fn write(
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
        let first = self.next - to_write.len() as u64;
        let mut dims = meta.chunks.clone();
        dims[0] = self.next * c0;
        h5::ds_set_extent(&dg.raw, &dims)?;
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
fn keep_for_cache(
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
fn padded_slot<'a>(ds: &'a StagedDataset, h: &'a Hashed) -> Result<Cow<'a, [u8]>> {
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
const SLOT_BATCH_BYTES: usize = if cfg!(test) { 1 << 20 } else { 32 << 20 };

/// Writes new slots to `raw_data` from slot `first`. Without filters, or with filters
/// this library can apply (shuffle, gzip, lzf), chunks are written as they are stored
/// (direct chunk writes: no staging copy, and libhdf5 would filter them one by one):
/// unfiltered slots straight from the staged data, filtered ones encoded in parallel
/// in batches, each batch encoded while the one before is written. Otherwise each
/// batch is one write through libhdf5.
fn write_slots(
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
fn encode_slots(
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
fn write_encoded(
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
fn refresh_after_direct_writes(
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
fn probe_offset(row: u64, chunks: &[u64]) -> Vec<u64> {
    let mut probe = vec![0u64; chunks.len()];
    if row == 0 {
        probe[0] = chunks[0];
    }
    probe
}

/// Hash-table rows a commit appends for one dataset path, written after its data.
struct TableUpdate {
    path: String,
    first_new: u64,
    rows: Vec<HashRow>,
    next: u64,
    /// New slots (first row, extent, elements) for the read cache once committed.
    cache: Vec<(u64, Vec<u64>, Vec<u8>)>,
}

/// At most this many bytes of a commit's new chunks per dataset go to the read cache
/// (a large ingest would only evict what reads use).
const READ_CACHE_FILL_BYTES: usize = 8 << 20;

fn apply_table_update(f: &mut Inner, u: &TableUpdate) -> Result<()> {
    let Some(dg) = f.data_group(&u.path)? else {
        bail!(
            Hdf5Error,
            "the storage of '{}' vanished during a commit",
            u.path
        );
    };
    write_table_rows(dg, u)?;
    // largest_index last: it is the format's commit marker for the table.
    h5::write_attr(&dg.table, "largest_index", &AttrValue::Int(u.next as i64))?;
    dg.largest_index = u.next;
    for r in &u.rows {
        dg.index.entry(r.hash).or_insert(r.start as u64);
    }
    f.note_table_rows(&u.path, &u.rows);
    Ok(())
}

/// Writes a commit's new hash-table rows. When the table's rows are known in memory
/// and its pipeline is LZF alone, the chunks holding the new rows are written whole
/// and uncompressed, with LZF marked skipped in the chunk's filter mask: what libhdf5
/// stores for any chunk LZF cannot shrink, as full chunks of hashes are. This spares
/// compressing a chunk of hashes (192 KiB at the format's 4,096 rows) on every commit.
fn write_table_rows(dg: &mut DataGroup, u: &TableUpdate) -> Result<()> {
    let (lzf_only, rows_per_chunk) = match dg.table_layout {
        Some(l) => l,
        None => {
            let lzf_only =
                matches!(&h5::pipeline(&dg.table)?[..], [s] if s.id == codec::FILTER_LZF);
            let rows_per_chunk = match h5::ds_chunk_dims(&dg.table)?.as_deref() {
                Some(&[n]) if n > 0 => n,
                _ => 0,
            };
            *dg.table_layout.insert((lzf_only, rows_per_chunk))
        }
    };
    let Some(tb) = dg
        .table_bytes
        .as_mut()
        .filter(|_| lzf_only && rows_per_chunk > 0)
    else {
        dg.table_bytes = None;
        return h5::write_hash_rows(&dg.table, u.first_new, &u.rows);
    };
    tb.resize(u.first_new as usize * 48, 0);
    tb.extend_from_slice(&h5::rows_to_bytes(&u.rows));
    let total = u.next;
    h5::ds_set_extent(&dg.table, &[total.max(1)])?;
    if u.rows.is_empty() {
        return Ok(());
    }
    let chunk_bytes = rows_per_chunk as usize * 48;
    let last = (total - 1) / rows_per_chunk;
    let len = tb.len();
    for c in u.first_new / rows_per_chunk..=last {
        let (from, to) = (c as usize * chunk_bytes, (c as usize + 1) * chunk_bytes);
        // The last chunk is padded with zero rows in place (and cut back after), so
        // no chunk-sized buffer is allocated and copied per commit.
        if to > tb.len() {
            tb.resize(to, 0);
        }
        let written = h5::write_chunk(&dg.table, &[c * rows_per_chunk], 1, &tb[from..to]);
        tb.truncate(len);
        written?;
    }
    // Written with LZF skipped, which libhdf5 did not note (see
    // `h5::refresh_chunk_lookup`).
    h5::refresh_chunk_lookup(
        &dg.table,
        &probe_offset(last * rows_per_chunk, &[rows_per_chunk]),
    )
}

fn create_data_group(f: &mut Inner, path: &str, meta: &DatasetMeta, hash: HashKind) -> Result<()> {
    let gpath = data_group_path(path);
    // The group exists already when another dataset path lives below it ('a' after
    // 'a/b'): then only raw_data and hash_table are new, and only they may go again.
    let existed = h5::exists(f.file()?, &gpath)?;
    let leaves = ["raw_data", "hash_table"].map(|l| format!("{gpath}/{l}"));
    let mut had = [false; 2];
    if existed {
        for (h, p) in had.iter_mut().zip(&leaves) {
            *h = h5::exists(f.file()?, p)?;
        }
    }
    let res = create_data_group_objects(f, &gpath, existed, meta, hash);
    if res.is_err() {
        // Leave no half-made storage behind: the path must stay usable.
        if let Ok(file) = f.file() {
            if existed {
                for (&h, p) in had.iter().zip(&leaves) {
                    if !h && h5::exists(file, p).unwrap_or(false) {
                        let _ = h5::unlink(file, p);
                    }
                }
            } else {
                let _ = h5::unlink(file, &gpath);
            }
        }
        f.raws.clear();
    }
    // A raw_data made (or removed again) here is a new object: nothing cached under
    // its path describes it.
    f.chunks.forget_storage(&leaves[0]);
    res
}

fn create_data_group_objects(
    f: &mut Inner,
    gpath: &str,
    existed: bool,
    meta: &DatasetMeta,
    hash: HashKind,
) -> Result<()> {
    let file = f.file()?;
    let g = if existed {
        h5::open_group(file, gpath)?
    } else {
        h5::create_group(file, gpath)?
    };
    let raw = h5::create_raw_data(&g, &meta.dtype, &meta.chunks, &meta.fill, &meta.filters)?;
    h5::write_attr(
        &raw,
        "chunks",
        &AttrValue::IntArray(meta.chunks.iter().map(|&c| c as i64).collect()),
    )?;
    let table = h5::create_hash_table(&g)?;
    if hash != HashKind::Sha256 {
        h5::write_attr(&table, HASH_ATTR, &AttrValue::Str(hash.name().to_string()))?;
    }
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn write_version(
    f: &mut Inner,
    name: &str,
    prev: &str,
    ts: &str,
    root_attrs: &Attrs,
    groups: &BTreeMap<String, Attrs>,
    plans: &[(String, DatasetMeta, Attrs, Plan)],
) -> Result<(BTreeMap<String, Attrs>, Vec<Attrs>)> {
    let file = f.file()?;
    let versions = h5::open_group(file, &format!("{VERSION_DATA}/versions"))?;
    let vg = h5::create_group(&versions, name)?;
    h5::write_new_attr(&vg, "prev_version", &AttrValue::Str(prev.to_string()))?;
    h5::write_new_attr(&vg, "committed", &AttrValue::Bool(false))?;
    h5::write_new_attr(&vg, "timestamp", &AttrValue::Str(ts.to_string()))?;
    for (k, v) in root_attrs {
        h5::write_new_attr(&vg, k, v)?;
    }
    let mut group_attrs = BTreeMap::new();
    for (path, attrs) in groups {
        let g = h5::create_group(&vg, path)?;
        for (k, v) in attrs {
            h5::write_new_attr(&g, k, v)?;
        }
        // As a later read of the file gives them (see below).
        let back = if attrs.is_empty() {
            Attrs::new()
        } else {
            read_user_attrs(&g, &[])?
        };
        group_attrs.insert(path.clone(), back);
    }
    let mut written = Vec::with_capacity(plans.len());
    for (path, meta, attrs, plan) in plans {
        let raw_path = format!("{}/raw_data", data_group_path(path));
        let ds = match plan {
            Plan::Copy { from } => {
                let src = h5::open_group(file, &version_group_path(from))?;
                h5::copy_object(&src, path, &vg, path)?;
                let ds = h5::open_dataset(&vg, path)?;
                for a in h5::attr_names(&ds)? {
                    h5::delete_attr(&ds, &a)?;
                }
                ds
            }
            Plan::Virtual { map } => {
                let raw_dims = match f.data_groups.get(path) {
                    Some(dg) => dg.meta.shape.clone(),
                    None => {
                        let mut d = meta.chunks.clone();
                        d[0] = 0;
                        d
                    }
                };
                let mut keys: Vec<&ChunkCoord> = map.keys().collect();
                keys.sort();
                let mappings: Vec<Mapping> = keys
                    .into_iter()
                    .map(|k| Mapping {
                        vstart: k.iter().zip(&meta.chunks).map(|(a, c)| a * c).collect(),
                        extent: grid::chunk_extent(&meta.shape, &meta.chunks, k).to_vec(),
                        src_row: map[k],
                    })
                    .collect();
                let (parent, leaf) = match path.rsplit_once('/') {
                    Some((p, l)) => (Some(h5::open_group(&vg, p)?), l),
                    None => (None, path.as_str()),
                };
                let loc = parent.as_ref().unwrap_or(&vg);
                h5::create_version_dataset(
                    loc,
                    leaf,
                    &meta.dtype,
                    &meta.shape,
                    &meta.fill,
                    &raw_path,
                    &raw_dims,
                    &mappings,
                )?
            }
        };
        // Both plans leave the dataset without attributes.
        for (k, v) in attrs {
            h5::write_new_attr(&ds, k, v)?;
        }
        h5::write_new_attr(&ds, "raw_data", &AttrValue::Str(raw_path))?;
        h5::write_new_attr(
            &ds,
            "chunks",
            &AttrValue::IntArray(meta.chunks.iter().map(|&c| c as i64).collect()),
        )?;
        // As a later read of the file gives them (order, types), while the dataset is
        // open: staging over this version then need not open it again.
        written.push(read_user_attrs(&ds, &DATASET_RESERVED)?);
    }
    Ok((group_attrs, written))
}

/// The commit mark: `committed = True` on the version group, then `current_version`,
/// then a flush.
fn finish_version(f: &Inner, name: &str, make_current: bool) -> Result<()> {
    let file = f.file()?;
    let versions = h5::open_group(file, &format!("{VERSION_DATA}/versions"))?;
    let vg = h5::open_group(&versions, name)?;
    h5::write_attr(&vg, "committed", &AttrValue::Bool(true))?;
    if make_current {
        h5::write_attr(
            &versions,
            "current_version",
            &AttrValue::Str(name.to_string()),
        )?;
    }
    h5::file_flush(file)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::file::Mode;
    use crate::hash::hash_chunk;

    #[test]
    fn recut_by_rows_equals_the_general_recut() {
        let fill = 7u16.to_le_bytes();
        for (from, to) in [
            (vec![5u64], vec![9u64]),
            (vec![9], vec![5]),
            (vec![3, 4], vec![6, 4]),
            (vec![6, 4], vec![2, 4]),
            (vec![2, 3, 2], vec![4, 3, 2]),
            (vec![4, 3, 2], vec![0, 3, 2]),
        ] {
            let n = grid::volume(&from).unwrap();
            let buf: Vec<u8> = (0..n as u16).flat_map(|v| v.to_le_bytes()).collect();
            assert_eq!(
                recut(&buf, &from, &to, &fill, 2).unwrap(),
                recut_any(&buf, &from, &to, &fill, 2).unwrap(),
                "{from:?} -> {to:?}"
            );
        }
    }

    fn le(v: &[f64]) -> Vec<u8> {
        v.iter().flat_map(|x| x.to_le_bytes()).collect()
    }

    fn floats(v: &Values) -> Vec<f64> {
        let Values::Raw(b) = v else {
            panic!("numbers expected")
        };
        b.chunks_exact(8)
            .map(|c| f64::from_le_bytes(c.try_into().unwrap()))
            .collect()
    }

    /// 301 chunks of 1,000 (the last one 500 long) over several slot batches: chunk i
    /// repeats pattern i % 7, chunk 5 is all fill value.
    fn patterned() -> Vec<f64> {
        (0..300_500)
            .map(|i| {
                let c = i / 1000;
                if c == 5 {
                    0.0
                } else {
                    ((c % 7) * 1_000_000 + i % 1000) as f64 + 0.5
                }
            })
            .collect()
    }

    #[test]
    fn shared_data_is_cut_hashed_deduplicated_and_written_in_batches() {
        let dir = tempfile::tempdir().unwrap();
        let data = patterned();
        for (i, compression) in [Compression::None, Compression::Gzip(4), Compression::Lzf]
            .into_iter()
            .enumerate()
        {
            let path = dir.path().join(format!("s{i}.h5"));
            let path = path.to_str().unwrap();
            let vf = VersionedFile::open(path, Mode::Truncate).unwrap();
            let s = vf.stage("v1", StageOptions::default()).unwrap();
            let shared: Arc<dyn SharedBytes> = Arc::new(le(&data));
            let opts = CreateOptions {
                chunks: Some(vec![1000]),
                dtype: Some(Dtype::Float64),
                filters: Filters {
                    compression,
                    ..Default::default()
                },
                ..Default::default()
            };
            s.create_dataset_shared("x", opts, shared.clone()).unwrap();
            // Staged reads and writes see the shared data.
            let (got, _) = s.read("x", &[]).unwrap();
            assert_eq!(floats(&got), data);
            let mut want = data.clone();
            want[2500] = -1.0;
            s.write("x", &[AxisSel::Index(2500)], &Values::Raw(le(&[-1.0])))
                .unwrap();
            s.commit().unwrap();
            assert_eq!(floats(&vf.read("v1", "x", &[]).unwrap().0), want);
            // 7 patterns of full chunks, the written chunk, the edge chunk; the fill
            // chunk is not stored.
            let mut f = vf.lock();
            let dg = f.data_group("x").unwrap().unwrap();
            assert_eq!(dg.largest_index, 9, "{compression:?}");
            let bytes = le(&want);
            for (c, ext) in [(0usize, 1000u64), (2, 1000), (300, 500)] {
                let chunk = &bytes[c * 8000..c * 8000 + ext as usize * 8];
                assert!(dg
                    .index
                    .contains_key(&hash_chunk(HashKind::Blake3, chunk, &[ext])));
            }
            drop(f);
            vf.close().unwrap();
        }
    }

    #[test]
    fn shared_nd_data_is_cut_where_chunks_are_not_contiguous() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nd.h5");
        let path = path.to_str().unwrap();
        let vf = VersionedFile::open(path, Mode::Truncate).unwrap();
        let data: Vec<f64> = (0..37 * 50).map(|i| (i % 211) as f64).collect();
        // Chunks of whole rows lie contiguously; the others are cut.
        for (name, chunks) in [("rows", vec![8, 50]), ("tiles", vec![8, 16])] {
            let s = vf.stage(name, StageOptions::default()).unwrap();
            s.create_dataset(
                name,
                CreateOptions {
                    shape: Some(vec![37, 50]),
                    data: Some(Values::Raw(le(&data))),
                    chunks: Some(chunks),
                    dtype: Some(Dtype::Float64),
                    ..Default::default()
                },
            )
            .unwrap();
            let sel = [
                AxisSel::Slice {
                    start: Some(3),
                    stop: Some(30),
                    step: 7,
                },
                AxisSel::Index(49),
            ];
            let (part, _) = s.read(name, &sel).unwrap();
            let want: Vec<f64> = (3..30).step_by(7).map(|r| data[r * 50 + 49]).collect();
            assert_eq!(floats(&part), want);
            s.commit().unwrap();
            assert_eq!(floats(&vf.read(name, name, &[]).unwrap().0), data);
        }
        // A resize after creation keeps the data and fills the rest.
        let s = vf.stage("grown", StageOptions::default()).unwrap();
        s.create_dataset(
            "g",
            CreateOptions {
                shape: Some(vec![37, 50]),
                data: Some(Values::Raw(le(&data))),
                chunks: Some(vec![8, 16]),
                dtype: Some(Dtype::Float64),
                ..Default::default()
            },
        )
        .unwrap();
        s.resize("g", &[20, 60]).unwrap();
        s.commit().unwrap();
        let got = floats(&vf.read("grown", "g", &[]).unwrap().0);
        for r in 0..20 {
            for c in 0..60 {
                let want = if c < 50 { data[r * 50 + c] } else { 0.0 };
                assert_eq!(got[r * 60 + c], want);
            }
        }
        vf.close().unwrap();
    }

    #[test]
    fn cut_chunk_borrows_contiguous_chunks() {
        let data: Vec<u8> = (0..60).collect();
        // shape [3, 4, 5], bytes as elements.
        let shape = [3, 4, 5];
        let c = cut_chunk(&data, &shape, &[1, 4, 5], &[2, 0, 0], 1).unwrap();
        assert!(matches!(c, Cow::Borrowed(_)));
        assert_eq!(&c[..], &data[40..60]);
        let c = cut_chunk(&data, &shape, &[1, 2, 5], &[1, 1, 0], 1).unwrap();
        assert!(matches!(c, Cow::Borrowed(_)));
        assert_eq!(&c[..], &data[30..40]);
        let c = cut_chunk(&data, &shape, &[2, 2, 5], &[1, 1, 0], 1).unwrap();
        assert!(matches!(c, Cow::Borrowed(_)), "an edge chunk one row high");
        assert_eq!(&c[..], &data[50..60]);
        let c = cut_chunk(&data, &shape, &[2, 2, 5], &[0, 1, 0], 1).unwrap();
        assert!(matches!(c, Cow::Owned(_)));
        let want: Vec<u8> = (10..20).chain(30..40).collect();
        assert_eq!(&c[..], &want[..]);
        assert!(cut_chunk(&data[..59], &shape, &[1, 4, 5], &[0, 0, 0], 1).is_err());
    }
}
