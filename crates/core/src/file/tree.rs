//! A committed version's tree: groups and datasets with their attributes, dataset
//! metadata, and the decoding of a version dataset's virtual mappings into a chunk
//! map.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::catalog::DatasetFacts;
use super::{ChunkMap, DatasetMeta, Inner, Node, VersionedFile};
use crate::attrs::{AttrValue, Attrs, DATASET_RESERVED, VERSION_RESERVED};
use crate::error::{bail, ErrorKind, Result};
use crate::grid::{self};
use crate::h5::{self, Hid};
use crate::layout::attr;
use crate::layout::{self, normalize_path, version_group_path, version_relative};

/// The dataset at `ds_path` in version `version`, if that version has one there.
pub(crate) fn version_dataset(file: &Hid, version: &str, ds_path: &str) -> Result<Option<Hid>> {
    let vg = h5::open_group(file, &version_group_path(version))?;
    if !h5::exists(&vg, ds_path)? {
        return Ok(None);
    }
    let obj = h5::open_object(&vg, ds_path)?;
    Ok((h5::kind_of(&obj) == h5::ObjKind::Dataset).then_some(obj))
}

/// The path of `name` inside the group at `prefix` (`""`: the root).
fn child_path(prefix: &str, name: &str) -> String {
    if prefix.is_empty() {
        name.to_string()
    } else {
        format!("{prefix}/{name}")
    }
}

/// A version's tree: group paths with attributes; dataset paths with metadata and
/// attributes.
pub(crate) type Tree = (
    BTreeMap<String, Attrs>,
    BTreeMap<String, (DatasetMeta, Attrs)>,
);

/// Walks a version's tree: every group path and every dataset path with its metadata.
/// With `cached`, the tree and dataset facts come from (and go to) the catalog:
/// reading a version dataset's fill value copies its whole creation property list,
/// virtual mappings included, which for tens of thousands of mappings costs as much
/// as creating the dataset. `verify()` walks uncached, to check what is on disk.
pub(crate) fn walk_version(inner: &mut Inner, version: &str, cached: bool) -> Result<Tree> {
    if cached {
        if let Some(t) = inner.catalog.tree(version) {
            return Ok((*t).clone());
        }
    }
    let root = h5::open_group(inner.file()?, &version_group_path(version))?;
    let vg = h5::open_group(inner.file()?, &version_group_path(version))?;
    let mut groups = BTreeMap::new();
    let mut datasets = BTreeMap::new();
    let mut stack: Vec<(String, Hid)> = vec![(String::new(), root)];
    while let Some((prefix, g)) = stack.pop() {
        for name in h5::list(&g)? {
            let path = child_path(&prefix, &name);
            let known = if cached {
                inner.catalog.dataset(version, &path).cloned()
            } else {
                None
            };
            if let Some((meta, Some(attrs))) = known.as_ref().map(|d| (&d.meta, &d.attrs)) {
                // A dataset already seen: opening it again would decode all its
                // virtual mappings.
                datasets.insert(path, (meta.clone(), attrs.clone()));
                continue;
            }
            // A dataset known without its attributes or read by our own decoder
            // (docs/design/032): not opened (which decodes every mapping).
            if cached && h5::kind_at(&g, &name)? == h5::ObjKind::Dataset {
                if let Some(f) = inner.facts_by_name(version, &vg, &path)? {
                    let entry = (f.meta.clone(), f.attrs.clone().unwrap_or_default());
                    inner.catalog.note_dataset(version, &path, f);
                    datasets.insert(path, entry);
                    continue;
                }
            }
            let obj = h5::open_object(&g, &name)?;
            match h5::kind_of(&obj) {
                h5::ObjKind::Group => {
                    groups.insert(path.clone(), read_user_attrs(&obj, &[])?);
                    stack.push((path, obj));
                }
                h5::ObjKind::Dataset => {
                    let (meta, raw_path) = match known {
                        Some(d) => (d.meta.clone(), d.raw_path.clone()),
                        None => inner.dataset_meta(&obj)?,
                    };
                    let attrs = read_user_attrs(&obj, &DATASET_RESERVED)?;
                    if cached {
                        inner.catalog.note_dataset(
                            version,
                            &path,
                            DatasetFacts {
                                meta: meta.clone(),
                                raw_path,
                                attrs: Some(attrs.clone()),
                                map: None,
                            },
                        );
                    }
                    datasets.insert(path, (meta, attrs));
                }
                h5::ObjKind::Other => {}
            }
        }
    }
    if cached {
        inner
            .catalog
            .note_tree(version, Arc::new((groups.clone(), datasets.clone())));
    }
    Ok((groups, datasets))
}

/// The dataset paths of a version's tree, sorted, without opening any dataset
/// ([`h5::kind_at`]): what a history rewrite needs of the versions it deletes. From
/// the catalog when the tree was walked before.
/// `versions` is the open group of all versions (`_version_data/versions`).
pub(crate) fn version_dataset_paths(
    inner: &Inner,
    versions: &Hid,
    version: &str,
) -> Result<Vec<String>> {
    if let Some(t) = inner.catalog.tree(version) {
        return Ok(t.1.keys().cloned().collect());
    }
    let root = h5::open_group(versions, version)?;
    let mut out = Vec::new();
    let mut stack: Vec<(String, Hid)> = vec![(String::new(), root)];
    while let Some((prefix, g)) = stack.pop() {
        for name in h5::list(&g)? {
            let path = child_path(&prefix, &name);
            match h5::kind_at(&g, &name)? {
                h5::ObjKind::Group => {
                    let sub = h5::open_group(&g, &name)?;
                    stack.push((path, sub));
                }
                h5::ObjKind::Dataset => out.push(path),
                h5::ObjKind::Other => {}
            }
        }
    }
    out.sort();
    Ok(out)
}

/// What a history rewrite needs of a surviving version's dataset
/// ([`Inner::mapped_dataset`]).
pub(crate) struct MappedDataset {
    /// Its metadata.
    pub(crate) meta: DatasetMeta,
    /// Its chunk map.
    pub(crate) map: Arc<ChunkMap>,
    /// Its user attributes (those the format reserves left out).
    pub(crate) attrs: Attrs,
    /// The value of its `raw_data` attribute.
    pub(crate) raw_path: String,
}

/// A version dataset's metadata and, from the same copy of its creation properties
/// (which holds every mapping), its chunk map; `None` for the map where the mappings
/// cannot be decoded (a read of it finds out on its own).
fn read_facts(inner: &Inner, obj: &Hid, version: &str, path: &str) -> Result<DatasetFacts> {
    let dcpl = h5::create_plist(obj).ok();
    let (meta, raw_path) = match &dcpl {
        Some(p) => inner.dataset_meta_in(obj, p)?,
        None => inner.dataset_meta(obj)?,
    };
    let map = dcpl
        .as_ref()
        .and_then(|p| h5::read_mappings_in(p).ok())
        .and_then(|m| chunk_map_of(m, &meta, version, path).ok())
        .map(Arc::new);
    Ok(DatasetFacts {
        meta,
        raw_path,
        attrs: None,
        map,
    })
}

impl Inner {
    /// Reads a version dataset's metadata.
    pub(crate) fn dataset_meta(&self, ds: &Hid) -> Result<(DatasetMeta, String)> {
        let dtype = h5::dtype_of(&h5::ds_type(ds)?)?;
        let fill = h5::ds_fill(ds, &dtype)?;
        self.dataset_meta_with(ds, dtype, fill)
    }

    /// [`dataset_meta`](Self::dataset_meta) reading the fill value from the
    /// dataset's creation properties `dcpl` (`h5::create_plist`), which the caller
    /// then reuses (for the mappings: [`chunk_map_in`](Self::chunk_map_in)).
    pub(crate) fn dataset_meta_in(&self, ds: &Hid, dcpl: &Hid) -> Result<(DatasetMeta, String)> {
        let dtype = h5::dtype_of(&h5::ds_type(ds)?)?;
        let fill = h5::ds_fill_in(dcpl, &dtype)?;
        self.dataset_meta_with(ds, dtype, fill)
    }

    fn dataset_meta_with(
        &self,
        ds: &Hid,
        dtype: crate::dtype::Dtype,
        fill: Vec<u8>,
    ) -> Result<(DatasetMeta, String)> {
        let shape = h5::ds_shape(ds)?;
        let raw_path = raw_data_value(h5::read_attr(ds, layout::attr::RAW_DATA))?;
        let chunks = chunks_value(h5::read_attr(ds, attr::CHUNKS), "a version dataset")?;
        let filters = self.raw_filters(&raw_path)?;
        Ok((
            DatasetMeta {
                shape,
                dtype,
                chunks,
                fill,
                filters,
            },
            raw_path,
        ))
    }

    /// `version`'s dataset at `path` (relative to the version's open group `vg`), as
    /// the catalog knows it or our own decoder reads it ([`dataset_fast`]), with its
    /// user attributes: read by name when they are not known yet, without opening the
    /// dataset. For the caller to note in the catalog. `None` when neither knows it:
    /// the caller opens the dataset.
    ///
    /// [`dataset_fast`]: Self::dataset_fast
    fn facts_by_name(
        &mut self,
        version: &str,
        vg: &Hid,
        path: &str,
    ) -> Result<Option<DatasetFacts>> {
        let known = match self.catalog.dataset(version, path).cloned() {
            Some(d) => d,
            None => match self
                .dataset_fast(version, vg, path)
                .and_then(|_| self.catalog.dataset(version, path).cloned())
            {
                Some(d) => d,
                None => return Ok(None),
            },
        };
        let attrs = match &known.attrs {
            Some(a) => a.clone(),
            None => read_user_attrs_at(vg, path, &DATASET_RESERVED)?,
        };
        Ok(Some(DatasetFacts {
            meta: known.meta.clone(),
            raw_path: known.raw_path.clone(),
            attrs: Some(attrs),
            map: known.map.clone(),
        }))
    }

    /// Metadata, chunk map, user attributes and `raw_data` path of `version`'s
    /// dataset at `path`, from the catalog or read with one open of the dataset and
    /// one copy of its creation properties (and noted in the catalog). The dataset
    /// must exist.
    pub(crate) fn mapped_dataset(&mut self, version: &str, path: &str) -> Result<MappedDataset> {
        let known = self.catalog.dataset(version, path).cloned();
        let full = format!("{}/{path}", version_group_path(version));
        let (meta, map, attrs, raw_path) = match known {
            Some(d) if d.attrs.is_some() => (
                d.meta.clone(),
                d.map.clone(),
                d.attrs.clone(),
                d.raw_path.clone(),
            ),
            _ => {
                let vg = h5::open_group(self.file()?, &version_group_path(version))?;
                let facts = match self.facts_by_name(version, &vg, path)? {
                    Some(f) => f,
                    None => {
                        let ds = h5::open_dataset(self.file()?, &full)?;
                        let mut facts = read_facts(self, &ds, version, path)?;
                        facts.attrs = Some(read_user_attrs(&ds, &DATASET_RESERVED)?);
                        facts
                    }
                };
                let out = (
                    facts.meta.clone(),
                    facts.map.clone(),
                    facts.attrs.clone(),
                    facts.raw_path.clone(),
                );
                self.catalog.note_dataset(version, path, facts);
                out
            }
        };
        let map = match map {
            Some(m) => m,
            None => self.chunk_map(version, path, &meta)?,
        };
        Ok(MappedDataset {
            meta,
            map,
            attrs: attrs.unwrap_or_default(),
            raw_path,
        })
    }

    /// The filters of the raw data at `raw_path`, which a version dataset maps (those
    /// of its loaded data group, which were read off the same `raw_data`).
    fn raw_filters(&self, raw_path: &str) -> Result<h5::Filters> {
        if let Some(dg) = layout::raw_data_owner(raw_path).and_then(|p| self.data_groups.get(p)) {
            return Ok(dg.meta.filters);
        }
        match h5::open_storage(self.file()?, raw_path) {
            Ok(raw) => h5::ds_filters(&raw),
            Err(_) => bail!(
                CorruptFile,
                "the raw data '{raw_path}' of a version dataset is missing"
            ),
        }
    }

    /// Looks up `version`'s dataset at `path` (relative to its version group `vg`)
    /// without opening it: its metadata and chunk map, read by our own decoder of the
    /// version dataset (`h5::version_facts`, docs/design/032), recorded in the catalog
    /// as [`VersionedFile::node`] records them. On 40,000 mappings this takes a few
    /// milliseconds where opening the dataset and reading its mappings back through
    /// libhdf5 takes most of a second.
    ///
    /// `None` (nothing recorded) where the decoder cannot tell or anything on the way
    /// fails: the caller then opens the dataset through libhdf5, which reports what is
    /// wrong as before.
    pub(crate) fn dataset_fast(
        &mut self,
        version: &str,
        vg: &Hid,
        path: &str,
    ) -> Option<(DatasetMeta, String, Arc<ChunkMap>)> {
        let facts = h5::version_facts(self.file().ok()?, vg, path)?;
        let dtype = h5::dtype_of(&facts.dtype).ok()?;
        let fill = h5::fill_value(&facts.fill, &facts.dtype, &dtype).ok()?;
        let raw_path = raw_data_value(h5::read_attr_at(vg, path, layout::attr::RAW_DATA)).ok()?;
        let chunks = chunks_value(
            h5::read_attr_at(vg, path, attr::CHUNKS),
            "a version dataset",
        )
        .ok()?;
        let filters = self.raw_filters(&raw_path).ok()?;
        let meta = DatasetMeta {
            shape: facts.shape,
            dtype,
            chunks,
            fill,
            filters,
        };
        let map = Arc::new(chunk_map_of(Some(facts.mappings), &meta, version, path).ok()?);
        // With every attribute's name in the header, only user attributes are read
        // (none, for most version datasets), without listing them through libhdf5.
        let attrs = facts.attr_names.and_then(|names| {
            user_attrs(names, &DATASET_RESERVED, |name| {
                h5::read_attr_at(vg, path, name)
            })
            .ok()
        });
        self.catalog.note_dataset(
            version,
            path,
            DatasetFacts {
                meta: meta.clone(),
                raw_path: raw_path.clone(),
                attrs,
                map: Some(map.clone()),
            },
        );
        Some((meta, raw_path, map))
    }

    /// Decoded chunk map of `version`'s dataset at `path` (cached).
    pub(crate) fn chunk_map(
        &mut self,
        version: &str,
        path: &str,
        meta: &DatasetMeta,
    ) -> Result<Arc<ChunkMap>> {
        self.chunk_map_in(version, path, meta, None)
    }

    /// [`chunk_map`](Self::chunk_map), decoding from the version dataset's creation
    /// properties `dcpl` when the caller has them already (`h5::create_plist`).
    pub(crate) fn chunk_map_in(
        &mut self,
        version: &str,
        path: &str,
        meta: &DatasetMeta,
        dcpl: Option<&Hid>,
    ) -> Result<Arc<ChunkMap>> {
        if let Some(m) = self
            .catalog
            .dataset(version, path)
            .and_then(|d| d.map.clone())
        {
            return Ok(m);
        }
        let full = format!("{}/{path}", version_group_path(version));
        if dcpl.is_none() {
            // Our own decoder first (`h5::version_facts`): it does not open the dataset.
            let file = self.file()?;
            if let Some(f) = h5::version_facts(file, file, &full) {
                let raw_path = match self.catalog.dataset(version, path) {
                    Some(d) => Some(d.raw_path.clone()),
                    None => {
                        raw_data_value(h5::read_attr_at(file, &full, layout::attr::RAW_DATA)).ok()
                    }
                };
                if let (Some(raw_path), Ok(map)) = (
                    raw_path,
                    chunk_map_of(Some(f.mappings), meta, version, path),
                ) {
                    let arc = Arc::new(map);
                    self.catalog
                        .note_map(version, path, meta, &raw_path, arc.clone());
                    return Ok(arc);
                }
            }
        }
        let ds = h5::open_dataset(self.file()?, &full)?;
        let mappings = match dcpl {
            Some(p) => h5::read_mappings_in(p)?,
            None => h5::read_mappings(&ds)?,
        };
        let map = chunk_map_of(mappings, meta, version, path)?;
        let arc = Arc::new(map);
        let raw_path = match self.catalog.dataset(version, path) {
            Some(d) => d.raw_path.clone(),
            None => raw_data_attr(&ds)?,
        };
        self.catalog
            .note_map(version, path, meta, &raw_path, arc.clone());
        Ok(arc)
    }
}

/// A version dataset's decoded mappings (`h5::read_mappings`) as a chunk map; every
/// mapping must cover exactly one chunk of `meta`'s grid.
fn chunk_map_of(
    mappings: Option<(Vec<h5::Mapping>, Option<String>)>,
    meta: &DatasetMeta,
    version: &str,
    path: &str,
) -> Result<ChunkMap> {
    let mut map = ChunkMap::with_capacity(mappings.as_ref().map_or(0, |m| m.0.len()));
    if let Some((mappings, _)) = mappings {
        for m in mappings {
            let mut k = Vec::with_capacity(m.vstart.len());
            for (i, &s) in m.vstart.iter().enumerate() {
                if s % meta.chunks[i] != 0 {
                    bail!(
                        CorruptFile,
                        "misaligned chunk in '{path}' of version '{version}'"
                    );
                }
                k.push(s / meta.chunks[i]);
            }
            if grid::chunk_extent(&meta.shape, &meta.chunks, &k).as_slice() != m.extent.as_slice() {
                bail!(
                    CorruptFile,
                    "a mapping of '{path}' in version '{version}' does not cover exactly one chunk"
                );
            }
            map.insert(k, m.src_row);
        }
    }
    Ok(map)
}

/// The `raw_data` attribute of a version dataset: the path of the storage it maps.
fn raw_data_attr(ds: &Hid) -> Result<String> {
    raw_data_value(h5::read_attr(ds, layout::attr::RAW_DATA))
}

/// [`raw_data_attr`] from the attribute as read.
fn raw_data_value(v: Result<AttrValue>) -> Result<String> {
    match v {
        Ok(AttrValue::Str(s)) => Ok(s),
        _ => bail!(CorruptFile, "a version dataset has no 'raw_data' attribute: the file is not a valid versioned-hdf5 file"),
    }
}

/// Reads an object's attributes except `skip`; attributes of unsupported types are
/// left out.
pub(crate) fn read_user_attrs(obj: &Hid, skip: &[&str]) -> Result<Attrs> {
    user_attrs(h5::attr_names(obj)?, skip, |name| h5::read_attr(obj, name))
}

/// [`read_user_attrs`] of the object at `path` relative to `loc`, without opening it.
pub(crate) fn read_user_attrs_at(loc: &Hid, path: &str, skip: &[&str]) -> Result<Attrs> {
    user_attrs(h5::attr_names_at(loc, path)?, skip, |name| {
        h5::read_attr_at(loc, path, name)
    })
}

/// The attributes called `names` but not `skip`, read by `read`; those of types
/// outside [`crate::attrs::AttrValue`] are left out.
fn user_attrs(
    names: Vec<String>,
    skip: &[&str],
    read: impl Fn(&str) -> Result<crate::attrs::AttrValue>,
) -> Result<Attrs> {
    let mut out = Vec::new();
    for name in names {
        if skip.contains(&name.as_str()) {
            continue;
        }
        match read(&name) {
            Ok(v) => out.push((name, v)),
            Err(e) if e.kind == ErrorKind::UnsupportedDtype => {}
            Err(e) => return Err(e),
        }
    }
    Ok(out)
}

impl VersionedFile {
    /// What `path` names in a committed version (`""` is the version's root group).
    pub fn node(&self, version: &str, path: &str) -> Result<Node> {
        let path = normalize_path(path)?;
        let mut g = self.lock();
        g.committed(version)?;
        if path.is_empty() {
            return Ok(Node::Group);
        }
        // A dataset seen before: opening it again would decode all its mappings.
        if let Some(d) = g.catalog.dataset(version, &path) {
            return Ok(Node::Dataset(d.meta.clone()));
        }
        let vg = h5::open_group(g.file()?, &version_group_path(version))?;
        if !h5::exists(&vg, &path)? {
            bail!(
                NotFound,
                "version '{version}' has nothing at '{path}': see keys() for what it holds"
            );
        }
        if let Some((meta, _, _)) = g.dataset_fast(version, &vg, &path) {
            return Ok(Node::Dataset(meta));
        }
        let obj = h5::open_object(&vg, &path)?;
        match h5::kind_of(&obj) {
            h5::ObjKind::Group => Ok(Node::Group),
            h5::ObjKind::Dataset => {
                // The creation properties are copied (with every mapping) once, for the
                // fill value and, while at hand, the chunk map: a dataset looked up is
                // usually read next, and a second copy costs as much again.
                let facts = read_facts(&g, &obj, version, &path)?;
                let meta = facts.meta.clone();
                g.catalog.note_dataset(version, &path, facts);
                Ok(Node::Dataset(meta))
            }
            h5::ObjKind::Other => bail!(
                NotFound,
                "'{path}' in version '{version}' is neither a group nor a dataset"
            ),
        }
    }

    /// Whether `path` names a group or dataset in a committed version. Accepts
    /// relative paths (trailing `/` allowed) and absolute paths inside the file.
    pub fn has(&self, version: &str, path: &str) -> Result<bool> {
        let Some(rel) = version_relative(version, path) else {
            return Ok(false);
        };
        let path = normalize_path(&rel)?;
        let g = self.lock();
        g.committed(version)?;
        if path.is_empty() {
            return Ok(true);
        }
        let vg = h5::open_group(g.file()?, &version_group_path(version))?;
        h5::exists(&vg, &path)
    }

    /// Names inside a group of a committed version, sorted.
    pub fn keys(&self, version: &str, group: &str) -> Result<Vec<String>> {
        let group = normalize_path(group)?;
        let g = self.lock();
        g.committed(version)?;
        let vg = h5::open_group(g.file()?, &version_group_path(version))?;
        let target = if group.is_empty() {
            vg
        } else {
            if !h5::exists(&vg, &group)? {
                bail!(NotFound, "version '{version}' has no group '{group}'");
            }
            h5::open_group(&vg, &group)?
        };
        h5::list(&target)
    }

    /// Every dataset path of a committed version, sorted.
    pub fn dataset_paths(&self, version: &str) -> Result<Vec<String>> {
        let mut g = self.lock();
        g.committed(version)?;
        Ok(walk_version(&mut g, version, true)?.1.into_keys().collect())
    }

    /// User attributes of a version (`path` = `""`), group or dataset; the format's
    /// reserved attributes are left out.
    pub fn attrs(&self, version: &str, path: &str) -> Result<Attrs> {
        let path = normalize_path(path)?;
        let g = self.lock();
        g.committed(version)?;
        let vg = h5::open_group(g.file()?, &version_group_path(version))?;
        if path.is_empty() {
            return read_user_attrs(&vg, &VERSION_RESERVED);
        }
        if !h5::exists(&vg, &path)? {
            bail!(NotFound, "version '{version}' has nothing at '{path}'");
        }
        let obj = h5::open_object(&vg, &path)?;
        let skip: &[&str] = if h5::kind_of(&obj) == h5::ObjKind::Dataset {
            &DATASET_RESERVED
        } else {
            &[]
        };
        read_user_attrs(&obj, skip)
    }
}

/// The `chunks` attribute of a version dataset or `raw_data` (`what` names it in errors).
pub(crate) fn chunks_attr(obj: &Hid, what: &str) -> Result<Vec<u64>> {
    chunks_value(h5::read_attr(obj, attr::CHUNKS), what)
}

/// [`chunks_attr`] from the attribute as read.
fn chunks_value(v: Result<AttrValue>, what: &str) -> Result<Vec<u64>> {
    match v {
        Ok(AttrValue::IntArray(v)) => Ok(v.into_iter().map(|c| c.max(1) as u64).collect()),
        Ok(AttrValue::UIntArray(v)) => Ok(v.into_iter().map(|c| c.max(1)).collect()),
        _ => bail!(CorruptFile, "{what} has no valid 'chunks' attribute"),
    }
}
