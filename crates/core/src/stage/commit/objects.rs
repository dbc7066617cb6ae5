//! The HDF5 objects a commit creates: a dataset path's storage (`raw_data`,
//! `hash_table`) on its first commit, the version group with its groups, virtual
//! datasets and attributes, and the commit mark.

use std::collections::BTreeMap;

use crate::attrs::{AttrValue, Attrs, DATASET_RESERVED};
use crate::error::Result;
use crate::file::{read_user_attrs, ChunkMap, DatasetMeta, Inner};
use crate::grid::{self, ChunkCoord};
use crate::h5::{self, Hid, Mapping};
use crate::hash::{HashKind, HASH_ATTR};
use crate::layout::{attr, hash_table_path, raw_data_path, versions_path};
use crate::layout::{data_group_path, version_group_path};
use crate::stage::commit::Plan;

pub(crate) fn create_data_group(
    f: &mut Inner,
    path: &str,
    meta: &DatasetMeta,
    hash: HashKind,
) -> Result<()> {
    let gpath = data_group_path(path);
    // The group exists already when another dataset path lives below it ('a' after
    // 'a/b'): then only raw_data and hash_table are new, and only they may go again.
    let existed = h5::exists(f.file()?, &gpath)?;
    let leaves = [raw_data_path(path), hash_table_path(path)];
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

pub(crate) fn create_data_group_objects(
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
        attr::CHUNKS,
        &AttrValue::IntArray(meta.chunks.iter().map(|&c| c as i64).collect()),
    )?;
    let table = h5::create_hash_table(&g)?;
    if hash != HashKind::Sha256 {
        h5::write_attr(&table, HASH_ATTR, &AttrValue::Str(hash.name().to_string()))?;
    }
    Ok(())
}

#[allow(
    clippy::too_many_arguments,
    reason = "the parts of one version group, as staged"
)]
pub(crate) fn write_version(
    f: &mut Inner,
    name: &str,
    prev: &str,
    ts: &str,
    root_attrs: &Attrs,
    groups: &BTreeMap<String, Attrs>,
    plans: &[(String, DatasetMeta, Attrs, Plan)],
) -> Result<(BTreeMap<String, Attrs>, Vec<Attrs>)> {
    let file = f.file()?;
    let versions = h5::open_group(file, &versions_path())?;
    let vg = h5::create_group(&versions, name)?;
    h5::write_new_attr(&vg, attr::PREV_VERSION, &AttrValue::Str(prev.to_string()))?;
    h5::write_new_attr(&vg, attr::COMMITTED, &AttrValue::Bool(false))?;
    h5::write_new_attr(&vg, attr::TIMESTAMP, &AttrValue::Str(ts.to_string()))?;
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
        let raw_path = raw_data_path(path);
        let (ds, patch) = match plan {
            Plan::Copy { from } => {
                let src = h5::open_group(file, &version_group_path(from))?;
                h5::copy_object(&src, path, &vg, path)?;
                let ds = h5::open_dataset(&vg, path)?;
                for a in h5::attr_names(&ds)? {
                    h5::delete_attr(&ds, &a)?;
                }
                (ds, None)
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
                create_mapped_dataset(&vg, path, meta, map, &raw_dims)?
            }
        };
        // Both plans leave the dataset without attributes.
        for (k, v) in attrs {
            h5::write_new_attr(&ds, k, v)?;
        }
        h5::write_new_attr(&ds, attr::RAW_DATA, &AttrValue::Str(raw_path))?;
        h5::write_new_attr(
            &ds,
            attr::CHUNKS,
            &AttrValue::IntArray(meta.chunks.iter().map(|&c| c as i64).collect()),
        )?;
        // As a later read of the file gives them (order, types), while the dataset is
        // open: staging over this version then need not open it again.
        written.push(read_user_attrs(&ds, &DATASET_RESERVED)?);
        // The dataset closed (its header evicted), its layout gets its mapping list.
        drop(ds);
        if let Some(p) = patch {
            p.apply(file)?;
        }
    }
    Ok((group_attrs, written))
}

/// Creates the dataset `path` of the version group `vg` (its parent groups exist) as
/// a virtual dataset over the path's `raw_data` of extent `raw_dims`: one mapping per
/// chunk of `map` (chunk → first row of its slot), in chunk order. No attributes.
/// The [`ListPatch`](h5::ListPatch), when there is one, is applied once the dataset
/// is closed ([`h5::create_version_dataset`]).
pub(crate) fn create_mapped_dataset(
    vg: &Hid,
    path: &str,
    meta: &DatasetMeta,
    map: &ChunkMap,
    raw_dims: &[u64],
) -> Result<(Hid, Option<h5::ListPatch>)> {
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
        Some((p, l)) => (Some(h5::open_group(vg, p)?), l),
        None => (None, path),
    };
    let loc = parent.as_ref().unwrap_or(vg);
    h5::create_version_dataset(
        loc,
        leaf,
        &meta.dtype,
        &meta.shape,
        &meta.fill,
        &raw_data_path(path),
        raw_dims,
        &mappings,
    )
}

/// The commit mark: `committed = True` on the version group, then `current_version`,
/// then the storage marks ([`Inner::write_storage_marks`]), then a flush.
pub(crate) fn finish_version(f: &Inner, name: &str, make_current: bool) -> Result<()> {
    let file = f.file()?;
    let versions = h5::open_group(file, &versions_path())?;
    let vg = h5::open_group(&versions, name)?;
    h5::write_attr(&vg, attr::COMMITTED, &AttrValue::Bool(true))?;
    if make_current {
        h5::write_attr(
            &versions,
            attr::CURRENT_VERSION,
            &AttrValue::Str(name.to_string()),
        )?;
    }
    f.write_storage_marks()?;
    h5::file_flush(file)
}
