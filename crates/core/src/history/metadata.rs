//! Changing one dataset path's metadata across history (Python versioned-hdf5's
//! `modify_metadata`): its chunk shape, filters, fill value and dtype, in every
//! version holding it, as one transaction of the undo journal
//! (docs/design/009-atomic-history-rewrites.md).
//!
//! The path's storage is built anew beside the old one (in `_version_data/__vh5_modify__`):
//! each version's data is cut into the new chunks one chunk at a time, converted (the
//! dtype cast, elements equal to the old fill value set to the new one), deduplicated
//! by hash and written; a new chunk whose covering old slots were already converted at
//! the same place (by an earlier version) is not read again. Then the old `raw_data`
//! and `hash_table` go, the new ones take their names, and every version's virtual
//! dataset is recreated over them with its attributes. Nothing is flushed before the
//! end: a failure at any point leaves the file as it was.
//!
//! Casts allowed: NumPy's "safe" casts between numbers and booleans (every value of
//! the old type is a value of the new one: `int8 → int16`, `uint16 → int32`,
//! `int32 → float64`, `bool → any number`; NumPy also counts `int64 → float64` and
//! `uint64 → float64`, which round past 2^53, as safe), narrowing between floats
//! (`float64 → float32 / float16`, rounding to nearest and overflowing to ±inf, as
//! NumPy and libhdf5 both do), `S<n> → S<m>` with `m ≥ n`, and `S<n> → string /
//! ascii` (trailing NULs dropped, as NumPy reads them). Any other cast is
//! `INVALID_ARGUMENT`: it could change values, and NumPy and libhdf5 disagree on how.

use std::collections::HashMap;

use super::delete::{for_each_run, rewrite_version_dataset, stop_on_fault};
use crate::attrs::AttrValue;
use crate::buf::ReadData;
use crate::dtype::Dtype;
use crate::error::{bail, Result};
use crate::file::{read_mapped, walk_version, ChunkMap, DatasetMeta, Inner, VersionedFile};
use crate::grid::{self, AxisSel, ChunkCoord};
use crate::h5::{self, Compression, HashRow, Hid};
use crate::hash::HashKind;
use crate::layout::{
    attr, hash_table_path, normalized, raw_data_path, version_group_path, HASH_TABLE, RAW_DATA,
    VERSION_DATA,
};
use crate::stage::commit::objects::create_data_group_objects;
use crate::stage::dataset::{check_chunks, fill_element};
use crate::strings::{hash_elements, StrPool};
use crate::values::{fill_values, Scalar};

/// Where the new storage is built before it takes the old one's place.
const TMP_GROUP: &str = "__vh5_modify__";

/// What [`VersionedFile::modify_metadata`] changes; `None` keeps the setting as it is.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct MetadataChange {
    /// New chunk shape (one positive entry per axis): every version is rechunked.
    pub chunks: Option<Vec<u64>>,
    /// New element type: every element is cast (see the module docs for the casts
    /// allowed).
    pub dtype: Option<Dtype>,
    /// New fill value: elements equal to the old fill value (stored or not) become it.
    pub fill: Option<Scalar>,
    /// `'gzip'`, `'lzf'` or `'none'` (no compression).
    pub compression: Option<String>,
    /// gzip level 0–9 (with `compression: 'gzip'`, or for a path already gzip'ed).
    pub compression_level: Option<f64>,
    /// Byte shuffle before compression.
    pub shuffle: Option<bool>,
    /// Fletcher-32 checksums.
    pub fletcher32: Option<bool>,
}

/// Numeric kinds of the cast rules, with their width in bits.
#[derive(Clone, Copy)]
enum Num {
    Bool,
    Int(u32),
    UInt(u32),
    Float(u32),
}

fn num(d: &Dtype) -> Option<Num> {
    Some(match d {
        Dtype::Bool => Num::Bool,
        Dtype::Int8 => Num::Int(8),
        Dtype::Int16 => Num::Int(16),
        Dtype::Int32 => Num::Int(32),
        Dtype::Int64 => Num::Int(64),
        Dtype::UInt8 => Num::UInt(8),
        Dtype::UInt16 => Num::UInt(16),
        Dtype::UInt32 => Num::UInt(32),
        Dtype::UInt64 => Num::UInt(64),
        Dtype::Float16 => Num::Float(16),
        Dtype::Float32 => Num::Float(32),
        Dtype::Float64 => Num::Float(64),
        _ => return None,
    })
}

/// Whether `from → to` is one of the casts modifyMetadata performs (module docs).
pub(crate) fn cast_allowed(from: &Dtype, to: &Dtype) -> bool {
    // An integer of `n` bits fits a float of `m` bits (NumPy's table).
    let int_to_float = |n: u32, m: u32| (n <= 8 && m >= 16) || (n <= 16 && m >= 32) || m >= 64;
    match (from, to) {
        (Dtype::FixedString { len: a, utf8: u }, Dtype::FixedString { len: b, utf8: v }) => {
            b >= a && u == v
        }
        (Dtype::FixedString { .. }, Dtype::VlenString { .. }) => true,
        _ => match (num(from), num(to)) {
            (Some(a), Some(b)) => match (a, b) {
                (Num::Bool, _) => true,
                (_, Num::Bool) => false,
                (Num::Int(n), Num::Int(m)) | (Num::UInt(n), Num::UInt(m)) => m >= n,
                (Num::UInt(n), Num::Int(m)) => m > n,
                (Num::Int(_), Num::UInt(_)) => false,
                (Num::Int(n) | Num::UInt(n), Num::Float(m)) => int_to_float(n, m),
                (Num::Float(_), Num::Float(_)) => true,
                (Num::Float(_), _) => false,
            },
            _ => false,
        },
    }
}

/// One number as the cast sees it.
#[derive(Clone, Copy, PartialEq)]
enum Value {
    Int(i128),
    Float(f64),
}

fn get(d: &Dtype, b: &[u8]) -> Value {
    let mut a = [0u8; 8];
    a[..b.len().min(8)].copy_from_slice(&b[..b.len().min(8)]);
    let [a0, a1, a2, a3, ..] = a;
    match d {
        Dtype::Bool => Value::Int(i128::from(a0 != 0)),
        Dtype::Int8 => Value::Int(i128::from(a0 as i8)),
        Dtype::Int16 => Value::Int(i128::from(i16::from_le_bytes([a0, a1]))),
        Dtype::Int32 => Value::Int(i128::from(i32::from_le_bytes([a0, a1, a2, a3]))),
        Dtype::Int64 => Value::Int(i128::from(i64::from_le_bytes(a))),
        Dtype::UInt8 => Value::Int(i128::from(a0)),
        Dtype::UInt16 => Value::Int(i128::from(u16::from_le_bytes([a0, a1]))),
        Dtype::UInt32 => Value::Int(i128::from(u32::from_le_bytes([a0, a1, a2, a3]))),
        Dtype::UInt64 => Value::Int(i128::from(u64::from_le_bytes(a))),
        Dtype::Float16 => Value::Float(half::f16::from_le_bytes([a0, a1]).to_f64()),
        Dtype::Float32 => Value::Float(f64::from(f32::from_le_bytes([a0, a1, a2, a3]))),
        _ => Value::Float(f64::from_le_bytes(a)),
    }
}

/// Appends `v` as one element of `d` (a cast [`cast_allowed`] allows: integers only
/// ever come from narrower integers or booleans).
fn put(d: &Dtype, v: Value, out: &mut Vec<u8>) {
    let f = match v {
        Value::Int(i) => i as f64,
        Value::Float(f) => f,
    };
    let i = match v {
        Value::Int(i) => i,
        Value::Float(f) => f as i128,
    };
    match d {
        Dtype::Bool => out.push(u8::from(i != 0)),
        Dtype::Int8 => out.push(i as i8 as u8),
        Dtype::Int16 => out.extend_from_slice(&(i as i16).to_le_bytes()),
        Dtype::Int32 => out.extend_from_slice(&(i as i32).to_le_bytes()),
        Dtype::Int64 => out.extend_from_slice(&(i as i64).to_le_bytes()),
        Dtype::UInt8 => out.push(i as u8),
        Dtype::UInt16 => out.extend_from_slice(&(i as u16).to_le_bytes()),
        Dtype::UInt32 => out.extend_from_slice(&(i as u32).to_le_bytes()),
        Dtype::UInt64 => out.extend_from_slice(&(i as u64).to_le_bytes()),
        Dtype::Float16 => out.extend_from_slice(&half::f16::from_f64(f).to_le_bytes()),
        Dtype::Float32 => out.extend_from_slice(&(f as f32).to_le_bytes()),
        _ => out.extend_from_slice(&f.to_le_bytes()),
    }
}

/// A new chunk's elements in the new dtype.
enum Block {
    Raw(Vec<u8>),
    Strings(Vec<Vec<u8>>),
}

/// How old elements become new ones.
struct Conversion {
    from: Dtype,
    to: Dtype,
    old_fill: Vec<u8>,
    new_fill: Vec<u8>,
    /// Whether elements equal to the old fill value take the new one.
    refill: bool,
}

impl Conversion {
    fn is_fill(&self, e: &[u8]) -> bool {
        match num(&self.from) {
            // By value: -0.0 equals 0.0, NaN equals nothing (NumPy's ==).
            Some(_) => get(&self.from, e) == get(&self.from, &self.old_fill),
            None => e == self.old_fill.as_slice(),
        }
    }

    fn apply(&self, data: ReadData) -> Block {
        let b = match data {
            // Variable-length strings stay as they are (their fill is always '').
            ReadData::Strings(s) => return Block::Strings(s),
            ReadData::Raw(b) => b,
        };
        let es = self.from.size();
        if self.from == self.to && !self.refill {
            return Block::Raw(b.to_vec());
        }
        let b = b.as_bytes();
        let elems = b.chunks_exact(es.max(1));
        if self.to.is_vlen() {
            return Block::Strings(
                elems
                    .map(|e| {
                        if self.refill && self.is_fill(e) {
                            return Vec::new();
                        }
                        let n = e.iter().rposition(|&c| c != 0).map_or(0, |p| p + 1);
                        e[..n].to_vec()
                    })
                    .collect(),
            );
        }
        let mut out = Vec::with_capacity(b.len() / es.max(1) * self.to.size());
        let numeric = num(&self.from).is_some() && num(&self.to).is_some();
        for e in elems {
            if self.refill && self.is_fill(e) {
                out.extend_from_slice(&self.new_fill);
            } else if numeric {
                put(&self.to, get(&self.from, e), &mut out);
            } else {
                // Fixed-length strings, widened with NULs (or kept).
                out.extend_from_slice(e);
                out.resize(out.len() + self.to.size() - e.len(), 0);
            }
        }
        Block::Raw(out)
    }
}

/// Everything a metadata change does, found before anything is written.
struct ModifyPlan {
    /// The storage's metadata afterwards (shape unused).
    new: DatasetMeta,
    hash: HashKind,
    /// Committed versions holding the path, oldest first.
    versions: Vec<String>,
    conv: Conversion,
}

/// The new storage, slot by slot.
struct Writer {
    raw: Hid,
    meta: DatasetMeta,
    rows: Vec<HashRow>,
    by_hash: HashMap<[u8; 32], u64>,
    /// Slots `raw_data` has room for.
    allocated: u64,
}

impl Writer {
    /// The first row of the slot holding `block` (of extent `ext`), written if no slot
    /// holds the same elements; `None` for a full-size chunk that is all fill value
    /// (left unmapped, as commits and Python 2.6 do).
    fn store(&mut self, block: &Block, ext: &[u64], kind: HashKind) -> Result<Option<u64>> {
        let full = self.meta.chunks.clone();
        let dtype = &self.meta.dtype;
        let whole = ext == full.as_slice();
        let hash = match block {
            Block::Raw(b) => {
                if whole && grid::is_all(b, &self.meta.fill) {
                    return Ok(None);
                }
                hash_elements(kind, dtype, b, &StrPool::default(), ext)
            }
            Block::Strings(s) => {
                if whole && s.iter().all(Vec::is_empty) {
                    return Ok(None);
                }
                let mut pool = StrPool::default();
                let bytes = pool.encode(s);
                hash_elements(kind, dtype, &bytes, &pool, ext)
            }
        };
        if let Some(&r) = self.by_hash.get(&hash) {
            return Ok(Some(r));
        }
        let c0 = full[0];
        let slot = self.rows.len() as u64;
        if slot >= self.allocated {
            self.allocated = (self.allocated * 2).max(64);
            let mut d = full.clone();
            d[0] = self.allocated * c0;
            h5::ds_set_extent(&self.raw, &d)?;
        }
        let row = slot * c0;
        let mut at = vec![0u64; full.len()];
        at[0] = row;
        let n = grid::volume(&full)?;
        match block {
            Block::Raw(b) if whole => h5::write_block(&self.raw, dtype, &at, &full, b)?,
            Block::Raw(b) => {
                let es = dtype.size();
                let mut s = grid::filled(&self.meta.fill, n);
                for_each_run(ext, &full, |src, dst, k| {
                    s[dst * es..(dst + k) * es].copy_from_slice(&b[src * es..(src + k) * es]);
                });
                h5::write_block(&self.raw, dtype, &at, &full, &s)?;
            }
            Block::Strings(v) => {
                let mut s: Vec<Vec<u8>> = vec![Vec::new(); n];
                for_each_run(ext, &full, |src, dst, k| {
                    s[dst..dst + k].clone_from_slice(&v[src..src + k]);
                });
                h5::write_strings(&self.raw, &at, &full, &s)?;
            }
        }
        self.rows.push(HashRow {
            hash,
            start: row as i64,
            stop: (row + ext[0]) as i64,
        });
        self.by_hash.insert(hash, row);
        Ok(Some(row))
    }
}

/// The metadata of `path`'s storage after `ch` (checked), and how elements convert.
fn target(
    path: &str,
    old: &DatasetMeta,
    shape: &[u64],
    ch: &MetadataChange,
) -> Result<(DatasetMeta, Conversion)> {
    let dtype = ch.dtype.clone().unwrap_or_else(|| old.dtype.clone());
    if dtype != old.dtype {
        dtype.require_writable()?;
        if !cast_allowed(&old.dtype, &dtype) {
            bail!(
                InvalidArgument,
                "'{path}' cannot be cast from {} to {dtype}: modifyMetadata only casts where every value stays what it is (NumPy's safe casts such as int16 → int32 or int32 → float64, bool → a number, float → a narrower float, S<n> → S<m> with m ≥ n, S<n> → string); convert the values yourself into a new dataset path instead",
                old.dtype
            );
        }
    }
    let chunks = ch.chunks.clone().unwrap_or_else(|| old.chunks.clone());
    check_chunks(&chunks, shape, dtype.size())?;
    // The old fill value in the new dtype.
    let cast_fill = if dtype == old.dtype {
        old.fill.clone()
    } else if dtype.is_vlen() {
        if old.fill.iter().any(|&b| b != 0) {
            bail!(
                InvalidArgument,
                "'{path}' has a fill value that is not the empty string, and {dtype} datasets only take '': pass fillValue: '' with the dtype"
            );
        }
        dtype.zero()
    } else {
        let conv = Conversion {
            from: old.dtype.clone(),
            to: dtype.clone(),
            old_fill: old.fill.clone(),
            new_fill: Vec::new(),
            refill: false,
        };
        match conv.apply(ReadData::Raw(crate::buf::AlignedBytes::copy_from(
            &old.fill,
        ))) {
            Block::Raw(b) => b,
            Block::Strings(_) => dtype.zero(),
        }
    };
    let fill = match &ch.fill {
        None => cast_fill.clone(),
        Some(s) => {
            let f = fill_element(
                &dtype,
                &fill_values(s.clone(), &dtype)?,
                &mut StrPool::default(),
            )?;
            if dtype.is_vlen() {
                dtype.zero()
            } else {
                f
            }
        }
    };
    let mut filters = old.filters;
    if let Some(c) = ch.compression.as_deref() {
        filters.compression =
            crate::host::filters(Some(c), ch.compression_level, None, None)?.compression;
    } else if let Some(l) = ch.compression_level {
        if !matches!(old.filters.compression, Compression::Gzip(_)) {
            bail!(
                InvalidArgument,
                "compressionLevel sets the gzip level, but '{path}' is not gzip-compressed: pass compression: 'gzip' with it"
            );
        }
        filters.compression = crate::host::filters(Some("gzip"), Some(l), None, None)?.compression;
    }
    if let Some(s) = ch.shuffle {
        filters.shuffle = s;
    }
    if let Some(f) = ch.fletcher32 {
        filters.fletcher32 = f;
    }
    if dtype.is_vlen() && filters.fletcher32 {
        bail!(
            InvalidArgument,
            "fletcher32 cannot checksum variable-length strings (libhdf5 refuses it): drop fletcher32 for '{path}'"
        );
    }
    if let Compression::Other(id) = filters.compression {
        bail!(
            InvalidArgument,
            "'{path}' is compressed with filter {id}, which this library cannot write: pass compression ('gzip', 'lzf' or 'none') to replace it"
        );
    }
    let conv = Conversion {
        from: old.dtype.clone(),
        to: dtype.clone(),
        old_fill: old.fill.clone(),
        new_fill: fill.clone(),
        refill: fill != cast_fill,
    };
    Ok((
        DatasetMeta {
            shape: Vec::new(),
            dtype,
            chunks,
            fill,
            filters,
        },
        conv,
    ))
}

impl VersionedFile {
    /// Changes the chunk shape, filters, fill value or dtype of the dataset at `path`
    /// in every version holding it, as Python versioned-hdf5's `modify_metadata`
    /// does, in one atomic transaction (a crash or an I/O error leaves the file as
    /// before). Data stays the same except for the dtype cast (module docs: only casts
    /// that keep every value) and, with a new fill value, elements equal to the old
    /// fill value, which take the new one; attributes are kept. `NOT_FOUND` when no
    /// version has the dataset, `INVALID_ARGUMENT` for a group, for nothing to change,
    /// for bad chunks and for a cast that is not allowed.
    pub fn modify_metadata(&self, path: &str, change: &MetadataChange) -> Result<()> {
        let me = self.clone();
        let path = path.to_string();
        let change = change.clone();
        crate::worker::run(move || me.modify_here(&path, &change))
    }

    fn modify_here(&self, path: &str, ch: &MetadataChange) -> Result<()> {
        let path = normalized(path)?.to_string();
        if path.is_empty() {
            bail!(
                InvalidArgument,
                "modifyMetadata needs a dataset path such as 'prices'"
            );
        }
        if *ch == MetadataChange::default() {
            bail!(
                InvalidArgument,
                "nothing to change: pass at least one of chunks, compression, compressionLevel, shuffle, fletcher32, fillValue, dtype"
            );
        }
        let mut g = self.lock();
        g.require_writable()?;
        if let Some(s) = g.staging.iter().next() {
            bail!(
                InvalidArgument,
                "version '{s}' is being staged: finish or abandon stageVersion before modifyMetadata"
            );
        }
        let plan = plan_modify(&mut g, &path, ch)?;
        let context = format!("changing the metadata of '{path}' in '{}'", g.path);
        match apply_modify(&mut g, &path, &plan) {
            Ok(()) => {
                g.forget_history();
                Ok(())
            }
            Err(e) => Err(g.undo_rewrite(e, &context)),
        }
    }
}

fn plan_modify(g: &mut Inner, path: &str, ch: &MetadataChange) -> Result<ModifyPlan> {
    let committed: Vec<String> = g.versions.names_by_time();
    let mut versions = Vec::new();
    let mut shape = None;
    for v in &committed {
        let (groups, datasets) = walk_version(g, v, true)?;
        if let Some((meta, _)) = datasets.get(path) {
            versions.push(v.clone());
            shape.get_or_insert_with(|| meta.shape.clone());
        } else if groups.contains_key(path) {
            bail!(
                InvalidArgument,
                "'{path}' is a group in version '{v}': modifyMetadata changes one dataset, name a dataset below it"
            );
        }
    }
    let Some(shape) = shape else {
        bail!(
            NotFound,
            "no version has a dataset '{path}': check the path (as given to createDataset, e.g. 'g/x')"
        );
    };
    let Some(dg) = g.data_group(path)? else {
        bail!(
            CorruptFile,
            "versions hold '{path}', but its raw_data is missing: the file is damaged (verify() reports it)"
        );
    };
    let old = dg.meta.clone();
    let hash = dg.hash;
    let (new, conv) = target(path, &old, &shape, ch)?;
    if new.dtype == old.dtype
        && new.chunks == old.chunks
        && new.fill == old.fill
        && new.filters == old.filters
    {
        bail!(
            InvalidArgument,
            "nothing to change: '{path}' already has these settings (chunks {:?}, dtype {}, the same fill value and filters)",
            old.chunks,
            old.dtype
        );
    }
    if h5::exists(g.file()?, &format!("/{VERSION_DATA}/{TMP_GROUP}"))? {
        bail!(
            InvalidArgument,
            "the file has a dataset path '{TMP_GROUP}', the name modifyMetadata builds new storage under: rename that path first"
        );
    }
    Ok(ModifyPlan {
        new,
        hash,
        versions,
        conv,
    })
}

/// The first rows of the old slots covering the box at `start` of extent `ext`, in
/// C order of the old chunks (`None`: unmapped, the fill value).
fn covering(start: &[u64], ext: &[u64], old_chunks: &[u64], map: &ChunkMap) -> Vec<Option<u64>> {
    let lo: Vec<u64> = start.iter().zip(old_chunks).map(|(s, c)| s / c).collect();
    let hi: Vec<u64> = start
        .iter()
        .zip(ext)
        .zip(old_chunks)
        .map(|((s, e), c)| (s + e - 1) / c)
        .collect();
    let mut out = Vec::new();
    let mut idx = lo.clone();
    loop {
        out.push(map.get(&idx).copied());
        let mut i = idx.len();
        loop {
            if i == 0 {
                return out;
            }
            i -= 1;
            if idx[i] < hi[i] {
                idx[i] += 1;
                break;
            }
            idx[i] = lo[i];
        }
    }
}

/// A converted chunk at one place: where it is, its extent, and the old slots under it.
type Seen = HashMap<(ChunkCoord, Vec<u64>, Vec<Option<u64>>), Option<u64>>;

/// Cuts one version's data into the new chunks, stores them; returns its new chunk map.
fn rechunk_version(
    g: &mut Inner,
    raw_path: &str,
    vmeta: &DatasetMeta,
    old_map: &ChunkMap,
    plan: &ModifyPlan,
    w: &mut Writer,
    seen: &mut Seen,
) -> Result<ChunkMap> {
    let new_chunks = &plan.new.chunks;
    let shape = &vmeta.shape;
    let mut map = ChunkMap::new();
    if shape.contains(&0) {
        return Ok(map);
    }
    let gd = grid::grid_dims(shape, new_chunks);
    for k in grid::all_chunks(&gd) {
        let ext = grid::chunk_extent(shape, new_chunks, &k).to_vec();
        let start: Vec<u64> = k.iter().zip(new_chunks).map(|(a, c)| a * c).collect();
        let rows = covering(&start, &ext, &vmeta.chunks, old_map);
        let key = (k, ext, rows);
        let row = match seen.get(&key) {
            Some(r) => *r,
            None => {
                let sel: Vec<AxisSel> = start
                    .iter()
                    .zip(&key.1)
                    .map(|(&s, &e)| AxisSel::Slice {
                        start: Some(s as i64),
                        stop: Some((s + e) as i64),
                        step: 1,
                    })
                    .collect();
                let (data, _) = read_mapped(g, vmeta, raw_path, old_map, &sel)?;
                let block = plan.conv.apply(data);
                let r = w.store(&block, &key.1, plan.hash)?;
                stop_on_fault(g)?;
                seen.insert(key.clone(), r);
                r
            }
        };
        if let Some(r) = row {
            map.insert(key.0, r);
        }
    }
    Ok(map)
}

fn apply_modify(g: &mut Inner, path: &str, plan: &ModifyPlan) -> Result<()> {
    // Readers in other processes see a new generation at the checkpoint, and start
    // from the file again (docs/design/008-readers-and-writers.md), as after
    // deleteVersions.
    h5::journal::note_rewrite(g.file()?)?;
    let tmp = format!("/{VERSION_DATA}/{TMP_GROUP}");
    create_data_group_objects(g, &tmp, false, &plan.new, plan.hash)?;
    stop_on_fault(g)?;
    let raw_path = raw_data_path(path);
    let (raw, table) = {
        let file = g.file()?;
        (
            h5::open_storage(file, &format!("{tmp}/{RAW_DATA}"))?,
            h5::open_storage(file, &format!("{tmp}/{HASH_TABLE}"))?,
        )
    };
    let mut w = Writer {
        raw,
        meta: plan.new.clone(),
        rows: Vec::new(),
        by_hash: HashMap::new(),
        allocated: 0,
    };
    let mut seen = Seen::new();
    let mut maps: Vec<(String, Vec<u64>, ChunkMap)> = Vec::with_capacity(plan.versions.len());
    for v in &plan.versions {
        let (_, datasets) = walk_version(g, v, true)?;
        let Some((vmeta, _)) = datasets.get(path).cloned() else {
            continue;
        };
        let old_map = g.chunk_map(v, path, &vmeta)?;
        let map = rechunk_version(g, &raw_path, &vmeta, &old_map, plan, &mut w, &mut seen)?;
        maps.push((v.clone(), vmeta.shape.clone(), map));
    }
    drop(seen);
    let n = w.rows.len() as u64;
    let mut raw_dims = plan.new.chunks.clone();
    raw_dims[0] = n * plan.new.chunks[0];
    h5::ds_set_extent(&w.raw, &raw_dims)?;
    h5::write_hash_rows(&table, 0, &w.rows)?;
    h5::write_attr(&table, attr::LARGEST_INDEX, &AttrValue::Int(n as i64))?;
    drop((w, table));
    stop_on_fault(g)?;
    // The new storage takes the old one's place.
    g.data_groups.remove(path);
    g.raws.remove(&raw_path);
    g.chunks.forget_storage(&raw_path);
    let file = g.file()?;
    h5::unlink(file, &raw_path)?;
    h5::unlink(file, &hash_table_path(path))?;
    h5::move_link(file, &format!("{tmp}/{RAW_DATA}"), file, &raw_path)?;
    h5::move_link(
        file,
        &format!("{tmp}/{HASH_TABLE}"),
        file,
        &hash_table_path(path),
    )?;
    h5::unlink(file, &tmp)?;
    stop_on_fault(g)?;
    for (v, shape, map) in &maps {
        let meta = DatasetMeta {
            shape: shape.clone(),
            ..plan.new.clone()
        };
        let vg = h5::open_group(g.file()?, &version_group_path(v))?;
        rewrite_version_dataset(g, &vg, path, &meta, map, &raw_dims, None)?;
        stop_on_fault(g)?;
    }
    h5::file_flush(g.file()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn casts_allowed_are_the_ones_that_keep_values() {
        use Dtype::*;
        let ok = [
            (Int8, Int16),
            (Int8, Float16),
            (Int16, Float32),
            (Int32, Float64),
            (UInt8, Int16),
            (UInt32, Int64),
            (UInt16, UInt64),
            (Bool, UInt8),
            (Bool, Float64),
            (Float16, Float64),
            (Float64, Float32),
        ];
        for (a, b) in ok {
            assert!(cast_allowed(&a, &b), "{a} -> {b}");
        }
        let refused = [
            (Int16, Int8),
            (Int8, UInt8),
            (UInt8, Int8),
            (Int32, Float32),
            (Float32, Int64),
            (Int8, Bool),
            (Float64, Bool),
            (
                VlenString { utf8: true },
                FixedString {
                    len: 4,
                    utf8: false,
                },
            ),
            (
                FixedString {
                    len: 4,
                    utf8: false,
                },
                FixedString {
                    len: 3,
                    utf8: false,
                },
            ),
        ];
        for (a, b) in refused {
            assert!(!cast_allowed(&a, &b), "{a} -> {b}");
        }
    }

    #[test]
    fn conversion_casts_and_refills_by_value() {
        let conv = Conversion {
            from: Dtype::Float64,
            to: Dtype::Float32,
            old_fill: 0f64.to_le_bytes().to_vec(),
            new_fill: 9f32.to_le_bytes().to_vec(),
            refill: true,
        };
        let input: Vec<u8> = [-0.0f64, 1e300, 0.5, f64::NAN]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        let Block::Raw(out) =
            conv.apply(ReadData::Raw(crate::buf::AlignedBytes::copy_from(&input)))
        else {
            panic!("numbers")
        };
        let got: Vec<f32> = out
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        // -0.0 equals the fill 0.0 (NumPy's ==), 1e300 overflows to inf, NaN stays.
        assert_eq!(&got[..3], &[9.0, f32::INFINITY, 0.5]);
        assert!(got[3].is_nan());

        let conv = Conversion {
            from: Dtype::UInt8,
            to: Dtype::Int16,
            old_fill: vec![0],
            new_fill: 0i16.to_le_bytes().to_vec(),
            refill: false,
        };
        let Block::Raw(out) = conv.apply(ReadData::Raw(crate::buf::AlignedBytes::copy_from(&[
            255, 0, 7,
        ]))) else {
            panic!("numbers")
        };
        assert_eq!(out, [255, 0, 0, 0, 7, 0]);
    }
}
