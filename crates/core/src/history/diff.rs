//! What changed between two committed versions, from their chunk maps alone.
//!
//! Two versions of a dataset store a chunk in the same slot, or in slots whose hash
//! table rows name the same hash, exactly when its content is the same (the slot is
//! content-addressed), so the comparison reads no data: it needs the two chunk maps
//! (decoded once and kept in the catalog) and, only where the slots differ, the hash
//! table in memory. A chunk mapped on one side and unmapped on the other is unchanged
//! when the mapped slot holds the fill value (files of Python 2.4 map all-fill
//! chunks; 2.6 and this library do not).

use std::collections::{BTreeSet, HashMap};

use crate::attrs::Attrs;
use crate::buf::ReadData;
use crate::error::Result;
use crate::file::{read_mapped, walk_version, ChunkMap, DatasetMeta, Inner, VersionedFile};
use crate::grid::{self, AxisSel, ChunkCoord};
use crate::hash::HashKind;
use crate::layout::normalized;
use crate::strings::{hash_elements, StrPool};

/// How a dataset differs between two versions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DiffStatus {
    /// Only in the second version.
    Added,
    /// Only in the first version.
    Removed,
    /// In both, with different data, shape, dtype, fill value, chunks or attributes.
    Changed,
}

impl DiffStatus {
    /// `added`, `removed` or `changed`.
    pub fn name(self) -> &'static str {
        match self {
            DiffStatus::Added => "added",
            DiffStatus::Removed => "removed",
            DiffStatus::Changed => "changed",
        }
    }
}

/// One box whose elements may differ: per axis `[start, stop)`, chunk-aligned at its
/// start, clipped to the larger of the two shapes.
#[derive(Clone, Debug)]
pub struct DiffRegion {
    /// Per axis `[start, stop)`.
    pub bbox: Vec<[u64; 2]>,
    /// With `data`: the first version's elements of the box clipped to its shape
    /// (C order), `None` when the box lies outside it.
    pub old: Option<ReadData>,
    /// With `data`: the second version's elements, likewise.
    pub new: Option<ReadData>,
}

/// One dataset that differs.
#[derive(Clone, Debug)]
pub struct DatasetDiff {
    /// Dataset path.
    pub path: String,
    /// Added, removed or changed.
    pub status: DiffStatus,
    /// Its metadata in the first version (`None` when added).
    pub old: Option<DatasetMeta>,
    /// Its metadata in the second version (`None` when removed).
    pub new: Option<DatasetMeta>,
    /// Names of user attributes added, removed or changed, sorted.
    pub attrs: Vec<String>,
    /// Boxes whose elements may differ (none differ outside them). An added or removed
    /// dataset is one box, the whole dataset.
    pub regions: Vec<DiffRegion>,
}

/// What [`VersionedFile::diff`] compares.
#[derive(Clone, Debug, Default)]
pub struct DiffOptions {
    /// Only datasets at this path or below it (a dataset or a group); all when `None`.
    pub path: Option<String>,
    /// Read each region's elements in both versions.
    pub data: bool,
}

/// Boxes (per axis `[start, stop)`) covering every element present in only one of two
/// shapes, chunk-aligned: the box of the larger extents minus the interior both share
/// in whole chunks. Only axes whose lengths differ contribute; the boxes are disjoint.
fn shape_change_boxes(a: &[u64], b: &[u64], chunks: &[u64]) -> Vec<Vec<[u64; 2]>> {
    let n = a.len().min(b.len()).min(chunks.len());
    let max: Vec<u64> = (0..n).map(|i| a[i].max(b[i])).collect();
    let aligned: Vec<u64> = (0..n)
        .map(|i| (a[i].min(b[i]) / chunks[i].max(1)) * chunks[i].max(1))
        .collect();
    let differing: Vec<usize> = (0..n).filter(|&i| a[i] != b[i]).collect();
    let mut out = Vec::new();
    for (k, &axis) in differing.iter().enumerate() {
        let bbox: Vec<[u64; 2]> = (0..n)
            .map(|i| {
                if i == axis {
                    [aligned[i], max[i]]
                } else if differing[..k].contains(&i) {
                    [0, aligned[i]]
                } else {
                    [0, max[i]]
                }
            })
            .collect();
        if bbox.iter().all(|[s, e]| e > s) {
            out.push(bbox);
        }
    }
    out
}

/// Whether chunk `k` lies inside the shared interior of [`shape_change_boxes`] (so
/// that a box of its own does not overlap theirs).
fn in_interior(k: &[u64], a: &[u64], b: &[u64], chunks: &[u64]) -> bool {
    k.iter().enumerate().all(|(i, &ki)| {
        a[i] == b[i] || (ki + 1) * chunks[i] <= (a[i].min(b[i]) / chunks[i]) * chunks[i]
    })
}

/// Names of attributes that differ between `a` and `b`, sorted.
fn attr_changes(a: &Attrs, b: &Attrs) -> Vec<String> {
    let am: HashMap<&str, _> = a.iter().map(|(k, v)| (k.as_str(), v)).collect();
    let bm: HashMap<&str, _> = b.iter().map(|(k, v)| (k.as_str(), v)).collect();
    let mut names = BTreeSet::new();
    for (k, v) in &am {
        if bm.get(k) != Some(v) {
            names.insert(k.to_string());
        }
    }
    for k in bm.keys() {
        if !am.contains_key(k) {
            names.insert(k.to_string());
        }
    }
    names.into_iter().collect()
}

/// A dataset path's hash-table rows (48 bytes each, as stored) and hash function:
/// `None` when the table is not in memory (strings of generation-1 files).
fn table_rows(g: &mut Inner, path: &str) -> Result<Option<(Vec<u8>, HashKind, u64)>> {
    let Some(dg) = g.data_group(path)? else {
        return Ok(None);
    };
    Ok(dg
        .table_bytes
        .as_ref()
        .map(|b| (b.clone(), dg.hash, dg.meta.chunks[0])))
}

/// The hash of the slot starting at `row`: row `row / c0` of the table when it names
/// that slot (the usual layout), else the first row that does.
fn hash_at(rows: &[u8], row: u64, c0: u64) -> Option<[u8; 32]> {
    let start_of = |r: &[u8]| {
        let mut s = [0u8; 8];
        s.copy_from_slice(&r[32..40]);
        i64::from_le_bytes(s) as u64
    };
    let hash_of = |r: &[u8]| {
        let mut h = [0u8; 32];
        h.copy_from_slice(&r[..32]);
        h
    };
    let i = (row / c0.max(1)) as usize;
    if let Some(r) = rows.get(i * 48..i * 48 + 48) {
        if start_of(r) == row {
            return Some(hash_of(r));
        }
    }
    rows.chunks_exact(48)
        .find(|r| start_of(r) == row)
        .map(hash_of)
}

/// The chunks of two maps (over the same shape, dtype and chunks) whose content
/// differs: same slot or same hash is the same content; mapped against unmapped is the
/// same when the slot's hash is that of a chunk of the fill value.
fn changed_chunks(
    g: &mut Inner,
    path: &str,
    meta: &DatasetMeta,
    grid: &[u64],
    a: &ChunkMap,
    b: &ChunkMap,
) -> Result<Vec<ChunkCoord>> {
    let mut out = Vec::new();
    let suspects = match slot_changes(grid, a, b) {
        Some(s) => s,
        None => {
            let mut s = Vec::new();
            for (k, &ra) in a {
                match b.get(k) {
                    Some(&rb) if rb == ra => {}
                    _ => s.push(k.clone()),
                }
            }
            s.extend(b.keys().filter(|k| !a.contains_key(*k)).cloned());
            s
        }
    };
    if suspects.is_empty() {
        return Ok(out);
    }
    let table = table_rows(g, path)?;
    let mut fill_hash: HashMap<Vec<u64>, [u8; 32]> = HashMap::new();
    for k in suspects {
        let Some((rows, kind, c0)) = table.as_ref() else {
            out.push(k);
            continue;
        };
        let ha = a.get(&k).and_then(|&r| hash_at(rows, r, *c0));
        let hb = b.get(&k).and_then(|&r| hash_at(rows, r, *c0));
        let same = match (a.get(&k), b.get(&k), ha, hb) {
            (Some(_), Some(_), Some(x), Some(y)) => x == y,
            (Some(_), None, Some(h), _) | (None, Some(_), _, Some(h)) if !meta.dtype.is_vlen() => {
                let ext = grid::chunk_extent(&meta.shape, &meta.chunks, &k).to_vec();
                let fh = match fill_hash.get(&ext) {
                    Some(f) => *f,
                    None => {
                        let n = grid::volume(&ext)?;
                        let bytes = meta.fill.repeat(n);
                        let f =
                            hash_elements(*kind, &meta.dtype, &bytes, &StrPool::default(), &ext);
                        fill_hash.insert(ext, f);
                        f
                    }
                };
                h == fh
            }
            _ => false,
        };
        if !same {
            out.push(k);
        }
    }
    Ok(out)
}

/// [`slot_changes`] uses arrays over the whole grid up to this many grid chunks per
/// mapped chunk (16 bytes each per mapped chunk; a scan of a few hundred KiB).
const DENSE_PER_CHUNK: u64 = 4;

/// The chunks that `a` and `b` map to different slots, or that only one of them maps:
/// a merge of both maps' entries sorted by linear index in `grid`. Looking every chunk
/// of one map up in the other costs a few cache misses per chunk (a hash of the
/// coordinate vector, the probe, the key's own allocation); at 40,000 chunks that was
/// most of a diff. `None` when a coordinate lies outside `grid` or the grid has more
/// chunks than a `u64` counts (the caller then looks up one by one).
fn slot_changes(grid: &[u64], a: &ChunkMap, b: &ChunkMap) -> Option<Vec<ChunkCoord>> {
    let total = grid.iter().try_fold(1u64, |n, &d| n.checked_mul(d))?;
    // A grid the maps fill densely enough: an array of slots per map over the whole
    // grid instead of sorting (a third of the time at 40,000 chunks).
    let dense = total <= (DENSE_PER_CHUNK * (a.len() + b.len()) as u64).max(1 << 16);
    slot_changes_by(grid, total, a, b, dense)
}

/// [`slot_changes`] with arrays over the grid (`dense`) or by sorting.
fn slot_changes_by(
    grid: &[u64],
    total: u64,
    a: &ChunkMap,
    b: &ChunkMap,
    dense: bool,
) -> Option<Vec<ChunkCoord>> {
    let linear = |k: &[u64]| -> Option<u64> {
        if k.len() != grid.len() {
            return None;
        }
        k.iter()
            .zip(grid)
            .try_fold(0u64, |at, (&ki, &d)| (ki < d).then(|| at * d + ki))
    };
    let coord = |mut at: u64| -> ChunkCoord {
        let mut k = vec![0; grid.len()];
        for (ki, &d) in k.iter_mut().zip(grid).rev() {
            *ki = at % d;
            at /= d;
        }
        k
    };
    let mut out = Vec::new();
    if dense {
        // Slot + 1 per grid chunk, 0 where the map has none.
        let array = |m: &ChunkMap| -> Option<Vec<u64>> {
            let mut v = vec![0u64; usize::try_from(total).ok()?];
            for (k, &slot) in m {
                v[linear(k)? as usize] = slot.checked_add(1)?;
            }
            Some(v)
        };
        let (da, db) = (array(a)?, array(b)?);
        for (at, (x, y)) in da.iter().zip(&db).enumerate() {
            if x != y {
                out.push(coord(at as u64));
            }
        }
        return Some(out);
    }
    let sorted = |m: &ChunkMap| -> Option<Vec<(u64, u64)>> {
        let mut v = m
            .iter()
            .map(|(k, &slot)| Some((linear(k)?, slot)))
            .collect::<Option<Vec<_>>>()?;
        v.sort_unstable();
        Some(v)
    };
    let (va, vb) = (sorted(a)?, sorted(b)?);
    let (mut i, mut j) = (0, 0);
    loop {
        match (va.get(i), vb.get(j)) {
            (Some(&(x, sx)), Some(&(y, sy))) if x == y => {
                if sx != sy {
                    out.push(coord(x));
                }
                i += 1;
                j += 1;
            }
            (Some(&(x, _)), Some(&(y, _))) if x < y => {
                out.push(coord(x));
                i += 1;
            }
            (Some(&(x, _)), None) => {
                out.push(coord(x));
                i += 1;
            }
            (_, Some(&(y, _))) => {
                out.push(coord(y));
                j += 1;
            }
            (None, None) => break,
        }
    }
    Some(out)
}

/// A box as a read selection, clipped to `shape`; `None` when empty there.
fn clipped(bbox: &[[u64; 2]], shape: &[u64]) -> Option<Vec<AxisSel>> {
    let mut sel = Vec::with_capacity(bbox.len());
    for (i, [s, e]) in bbox.iter().enumerate() {
        let e = (*e).min(shape.get(i).copied().unwrap_or(0));
        if e <= *s {
            return None;
        }
        sel.push(AxisSel::Slice {
            start: Some(*s as i64),
            stop: Some(e as i64),
            step: 1,
        });
    }
    Some(sel)
}

impl VersionedFile {
    /// The datasets that differ between committed versions `a` and `b` (sorted by
    /// path), computed from their chunk maps: no data is read unless `opts.data` asks
    /// for each region's elements. Attributes of groups are not compared.
    pub fn diff(&self, a: &str, b: &str, opts: &DiffOptions) -> Result<Vec<DatasetDiff>> {
        let filter = match &opts.path {
            Some(p) => Some(normalized(p)?.to_string()),
            None => None,
        };
        let wanted = |p: &str| match &filter {
            None => true,
            Some(f) if f.is_empty() => true,
            Some(f) => p == f || (p.starts_with(f.as_str()) && p[f.len()..].starts_with('/')),
        };
        let mut g = self.lock();
        g.committed(a)?;
        g.committed(b)?;
        let (_, da) = walk_version(&mut g, a, true)?;
        let (_, db) = walk_version(&mut g, b, true)?;
        let paths: BTreeSet<&String> = da.keys().chain(db.keys()).filter(|p| wanted(p)).collect();
        let mut out = Vec::new();
        for path in paths {
            let ea = da.get(path);
            let eb = db.get(path);
            let (status, boxes, attrs) = match (ea, eb) {
                (Some((ma, aa)), Some((mb, ab))) => {
                    let attrs = attr_changes(aa, ab);
                    let boxes = if ma.dtype != mb.dtype
                        || ma.chunks != mb.chunks
                        || ma.fill != mb.fill
                    {
                        let max: Vec<u64> = ma
                            .shape
                            .iter()
                            .zip(&mb.shape)
                            .map(|(x, y)| *x.max(y))
                            .collect();
                        if max.iter().all(|&d| d > 0) {
                            vec![max.iter().map(|&d| [0, d]).collect()]
                        } else {
                            Vec::new()
                        }
                    } else {
                        let map_a = g.chunk_map(a, path, ma)?;
                        let map_b = g.chunk_map(b, path, mb)?;
                        let mut boxes = shape_change_boxes(&ma.shape, &mb.shape, &ma.chunks);
                        let same_shape = ma.shape == mb.shape;
                        // Over one grid, the chunks both shapes share in whole.
                        let common = DatasetMeta {
                            shape: ma
                                .shape
                                .iter()
                                .zip(&mb.shape)
                                .map(|(x, y)| *x.min(y))
                                .collect(),
                            ..ma.clone()
                        };
                        // Shapes differ: only chunks inside the interior both share in
                        // whole are compared one by one (the slabs cover the rest).
                        let keep = |m: &ChunkMap| -> ChunkMap {
                            m.iter()
                                .filter(|(k, _)| in_interior(k, &ma.shape, &mb.shape, &ma.chunks))
                                .map(|(k, v)| (k.clone(), *v))
                                .collect()
                        };
                        let filtered = (!same_shape).then(|| (keep(&map_a), keep(&map_b)));
                        let (ka, kb) = match &filtered {
                            Some((x, y)) => (x, y),
                            None => (map_a.as_ref(), map_b.as_ref()),
                        };
                        let grid: Vec<u64> = grid::grid_dims(&ma.shape, &ma.chunks)
                            .iter()
                            .zip(grid::grid_dims(&mb.shape, &mb.chunks))
                            .map(|(x, y)| (*x).max(y))
                            .collect();
                        let mut chunks = changed_chunks(&mut g, path, &common, &grid, ka, kb)?;
                        chunks.sort();
                        for k in chunks {
                            boxes.push(
                                k.iter()
                                    .enumerate()
                                    .map(|(i, &ki)| {
                                        let s = ki * ma.chunks[i];
                                        [s, (s + ma.chunks[i]).min(common.shape[i])]
                                    })
                                    .collect(),
                            );
                        }
                        boxes
                    };
                    if boxes.is_empty() && attrs.is_empty() && ma.shape == mb.shape {
                        continue;
                    }
                    (DiffStatus::Changed, boxes, attrs)
                }
                (Some((m, at)), None) | (None, Some((m, at))) => {
                    let status = if ea.is_some() {
                        DiffStatus::Removed
                    } else {
                        DiffStatus::Added
                    };
                    let boxes = if m.shape.iter().all(|&d| d > 0) {
                        vec![m.shape.iter().map(|&d| [0, d]).collect()]
                    } else {
                        Vec::new()
                    };
                    (
                        status,
                        boxes,
                        at.iter()
                            .map(|(k, _)| k.clone())
                            .collect::<BTreeSet<_>>()
                            .into_iter()
                            .collect(),
                    )
                }
                (None, None) => continue,
            };
            let mut regions = Vec::with_capacity(boxes.len());
            for bbox in boxes {
                let (old, new) = if opts.data {
                    (
                        region_data(&mut g, a, path, ea.map(|(m, _)| m), &bbox)?,
                        region_data(&mut g, b, path, eb.map(|(m, _)| m), &bbox)?,
                    )
                } else {
                    (None, None)
                };
                regions.push(DiffRegion { bbox, old, new });
            }
            out.push(DatasetDiff {
                path: path.clone(),
                status,
                old: ea.map(|(m, _)| m.clone()),
                new: eb.map(|(m, _)| m.clone()),
                attrs,
                regions,
            });
        }
        Ok(out)
    }
}

/// A version's elements of `bbox` clipped to its shape, `None` when the dataset is not
/// in the version or the box lies outside it.
fn region_data(
    g: &mut Inner,
    version: &str,
    path: &str,
    meta: Option<&DatasetMeta>,
    bbox: &[[u64; 2]],
) -> Result<Option<ReadData>> {
    let Some(meta) = meta else {
        return Ok(None);
    };
    let Some(sel) = clipped(bbox, &meta.shape) else {
        return Ok(None);
    };
    let map = g.chunk_map(version, path, meta)?;
    let raw_path = match g.catalog.dataset(version, path) {
        Some(d) => d.raw_path.clone(),
        None => crate::layout::raw_data_path(path),
    };
    Ok(Some(read_mapped(g, meta, &raw_path, &map, &sel)?.0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Chunk by chunk, as the fallback does.
    fn by_lookup(a: &ChunkMap, b: &ChunkMap) -> BTreeSet<ChunkCoord> {
        let mut s: BTreeSet<ChunkCoord> = a
            .iter()
            .filter(|(k, ra)| b.get(*k) != Some(ra))
            .map(|(k, _)| k.clone())
            .collect();
        s.extend(b.keys().filter(|k| !a.contains_key(*k)).cloned());
        s
    }

    fn map(grid: &[u64], entries: &[(u64, u8)]) -> ChunkMap {
        let total: u64 = grid.iter().product();
        entries
            .iter()
            .map(|&(at, slot)| {
                let mut at = at % total;
                let mut k = vec![0; grid.len()];
                for (ki, &d) in k.iter_mut().zip(grid).rev() {
                    *ki = at % d;
                    at /= d;
                }
                (k, u64::from(slot % 4))
            })
            .collect()
    }

    proptest! {
        #[test]
        fn the_merge_finds_what_lookups_find(
            grid in proptest::collection::vec(1u64..6, 1..4),
            ea in proptest::collection::vec((0u64..1000, any::<u8>()), 0..60),
            eb in proptest::collection::vec((0u64..1000, any::<u8>()), 0..60),
        ) {
            let (a, b) = (map(&grid, &ea), map(&grid, &eb));
            let total = grid.iter().product();
            for dense in [true, false] {
                let got = slot_changes_by(&grid, total, &a, &b, dense)
                    .expect("every coordinate is in the grid");
                let n = got.len();
                let got: BTreeSet<ChunkCoord> = got.into_iter().collect();
                prop_assert_eq!(n, got.len(), "a chunk reported twice");
                prop_assert_eq!(got, by_lookup(&a, &b));
            }
        }
    }

    #[test]
    fn a_coordinate_outside_the_grid_or_an_overflowing_grid_falls_back() {
        let a: ChunkMap = [(vec![0, 7], 1)].into_iter().collect();
        assert!(slot_changes(&[2, 4], &a, &ChunkMap::new()).is_none());
        assert!(slot_changes(&[u64::MAX, 3], &ChunkMap::new(), &ChunkMap::new()).is_none());
        for dense in [true, false] {
            assert!(slot_changes_by(&[2, 4], 8, &a, &ChunkMap::new(), dense).is_none());
            assert_eq!(
                slot_changes_by(&[2, 8], 16, &a, &ChunkMap::new(), dense),
                Some(vec![vec![0, 7]])
            );
        }
        // The largest slot does not fit the arrays: the caller looks up one by one.
        let top: ChunkMap = [(vec![0, 1], u64::MAX)].into_iter().collect();
        assert!(slot_changes_by(&[2, 8], 16, &top, &ChunkMap::new(), true).is_none());
    }
}
