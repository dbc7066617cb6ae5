//! Appending to staged datasets, and the staging memory budget
//! (docs/design/014-bounded-staging.md).
//!
//! [`StagedVersion::append`] grows a dataset along one axis by whole hyperplanes and
//! writes them: only the last, partial chunk row along that axis is loaded and re-cut.
//!
//! The written chunks a staged version holds (`StagedDataset::dirty`) are bounded by
//! its budget ([`StageOptions::memory_budget`](crate::StageOptions)). Past it,
//! [`StagedVersion::spill`] writes chunks to the file ahead of the commit, exactly as
//! the commit would (hashed in parallel, deduplicated against the hash table and
//! against each other, encoded in parallel, appended at the first free slot), and
//! maps them in the dataset's `base_map`, where reads, writes and resizes find them as
//! they find the parent's chunks (a spilled chunk written again is read back). The
//! slot assignment ([`Spill`]) carries on into the commit, which writes the remaining
//! chunks, every hash-table row and `largest_index`, then the version.
//!
//! Atomicity rests on the file's journal (record 001): spilled slots lie past the last
//! checkpoint, so the one transaction that ends with the commit's flush holds them. The
//! file's [`spill_owner`](crate::file::Inner) marks that transaction as this version's:
//! nothing else writes to the file until it commits (the flush is the commit point) or
//! is abandoned, which rolls the transaction back (`Inner::roll_back_and_reopen`):
//! the file is then byte for byte as before staging. A killed process leaves the
//! journal, which the next open rolls back.

use std::borrow::Cow;
use std::sync::Arc;

use crate::dedup::SlotAssigner;
use crate::dtype::Dtype;
use crate::error::{bail, Result};
use crate::file::DatasetMeta;
use crate::grid::{self, AxisSel, ChunkCoord, Selection};
use crate::layout::{normalize_path, raw_data_path};
use crate::stage::commit::{hashing::hash_chunks, slots::first_free_slot, slots::Appended};
use crate::stage::dataset::{base_map, check_compatible, recut, write_selection, StagedDataset};
use crate::stage::{dataset_mut, StagedVersion, State};
use crate::strings::{raw_elements, to_elements, StrPool, Values};

/// The default staging budget: 256 MiB of written chunks per staged version.
pub const DEFAULT_MEMORY_BUDGET: u64 = 256 << 20;

/// The slots a dataset's spilled chunks took; the commit assigns its own after them.
#[derive(Clone, Debug)]
pub(crate) struct Spill {
    /// The dataset's `largest_index` when the first chunk was spilled.
    pub(crate) first_new: u64,
    /// The slots given so far, with their hash-table rows.
    pub(crate) slots: SlotAssigner,
}

fn dirty_bytes(ds: &StagedDataset) -> u64 {
    ds.dirty.values().map(|v| v.len() as u64).sum()
}

impl State {
    /// Bytes of written chunks held in memory.
    fn staged_bytes(&self) -> u64 {
        self.datasets.values().map(dirty_bytes).sum()
    }
}

impl StagedVersion {
    /// Appends `data` to a dataset along `axis`: whole hyperplanes (the elements of
    /// the dataset's shape without `axis`, C order), one or more. Returns the new
    /// metadata. Works on new and inherited datasets, of any writable dtype.
    pub fn append(&self, path: &str, axis: usize, data: &Values) -> Result<DatasetMeta> {
        self.append_elements(
            path,
            axis,
            |d| data.len(d),
            |d, pool| to_elements(d, data, pool),
        )
    }

    /// [`append`](Self::append) from borrowed raw element bytes of the dataset's
    /// dtype.
    pub fn append_raw(&self, path: &str, axis: usize, bytes: &[u8]) -> Result<DatasetMeta> {
        self.append_elements(
            path,
            axis,
            |d| bytes.len() / d.size().max(1),
            |d, _| raw_elements(d, bytes).map(Cow::Borrowed),
        )
    }

    fn append_elements<'d>(
        &self,
        path: &str,
        axis: usize,
        len: impl FnOnce(&Dtype) -> usize,
        elements: impl FnOnce(&Dtype, &mut StrPool) -> Result<Cow<'d, [u8]>>,
    ) -> Result<DatasetMeta> {
        let path = normalize_path(path)?;
        let mut st = self.lock()?;
        let ds = dataset_mut(&mut st, &path)?;
        ds.meta.dtype.require_writable()?;
        let shape = ds.meta.shape.clone();
        if axis >= shape.len() {
            bail!(
                InvalidArgument,
                "axis {axis} is out of range for '{path}' of shape {shape:?}: give 0 to {}",
                shape.len() - 1
            );
        }
        let mut plane_dims = shape.clone();
        plane_dims[axis] = 1;
        let plane = grid::volume(&plane_dims)?;
        let n = len(&ds.meta.dtype);
        if plane == 0 || !n.is_multiple_of(plane) {
            bail!(
                ShapeMismatch,
                "'{path}' of shape {shape:?} takes whole hyperplanes along axis {axis}, {plane} elements each (C order): {n} elements are not a whole number of them"
            );
        }
        let data = elements(&ds.meta.dtype, &mut ds.pool)?;
        if data.len() != n * ds.meta.dtype.size() {
            bail!(
                ShapeMismatch,
                "the data has {} bytes, not whole elements of {}",
                data.len(),
                ds.meta.dtype
            );
        }
        let rows = (n / plane) as u64;
        if rows == 0 {
            return Ok(ds.meta.clone());
        }
        let mut grown = shape.clone();
        grown[axis] += rows;
        grid::volume(&grown)?;
        grow(self, &path, ds, axis, &grown)?;
        let sel: Vec<AxisSel> = grown
            .iter()
            .enumerate()
            .map(|(i, &d)| AxisSel::Slice {
                start: Some(if i == axis { shape[axis] as i64 } else { 0 }),
                stop: Some(d as i64),
                step: 1,
            })
            .collect();
        let s = Selection::resolve(&sel, &grown)?;
        write_selection(&self.file, &path, ds, &s, false, &data)?;
        Ok(ds.meta.clone())
    }

    /// Whether the written chunks held in memory exceed the budget, so that a
    /// [`spill`](Self::spill) is due.
    pub fn over_budget(&self) -> bool {
        self.lock()
            .map(|st| st.staged_bytes() > st.budget)
            .unwrap_or(false)
    }

    /// When the written chunks held in memory exceed the budget, writes chunks to the
    /// file ahead of the commit until at most half the budget is held: the largest
    /// datasets first, whole chunks before edge chunks. Runs on the libhdf5 worker
    /// thread; the caller blocks until it is done, and other calls on this staged
    /// version wait meanwhile. Chunks of a dataset created from data it still holds
    /// whole stay in memory (their data is the caller's). On an error the staged
    /// version is abandoned and the file is as before staging began.
    pub fn spill(&self) -> Result<()> {
        let me = self.clone();
        crate::worker::run(move || me.spill_now())
    }

    fn spill_now(&self) -> Result<()> {
        let mut st = self.lock()?;
        let mut total = st.staged_bytes();
        if total <= st.budget {
            return Ok(());
        }
        let target = st.budget / 2;
        let name = st.name.clone();
        let mut order: Vec<(u64, String)> = st
            .datasets
            .iter()
            .filter(|(_, d)| d.source.is_none())
            .map(|(p, d)| (dirty_bytes(d), p.clone()))
            .filter(|(b, _)| *b > 0)
            .collect();
        order.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
        for (_, path) in order {
            if total <= target {
                break;
            }
            let Some(ds) = st.datasets.get_mut(&path) else {
                continue;
            };
            match spill_dataset(self, &name, &path, ds, total - target) {
                Ok(took) => total = total.saturating_sub(took),
                Err(e) => {
                    // The version cannot go on: its chunks are partly gone from
                    // memory, and the file may hold part of a spill.
                    st.finished = true;
                    st.datasets.clear();
                    let mut f = self.file.lock();
                    f.end_staging(&name);
                    let context = format!("writing chunks of version '{name}' ahead of its commit");
                    let mut e = f.after_io_fault(&context).unwrap_or(e);
                    if f.spill_owner
                        .as_ref()
                        .is_some_and(|(id, _)| *id == self.id())
                    {
                        let _ = f.roll_back_and_reopen();
                    }
                    e.message.push_str(&format!(
                        "; version '{name}' was abandoned, and nothing of it is in the file"
                    ));
                    return Err(e);
                }
            }
        }
        Ok(())
    }
}

/// Grows `ds` along `axis` to `grown` (only that axis grows): the chunks of the last
/// chunk row along `axis`, when it was partial, are loaded and re-cut to their new
/// extent; every other chunk keeps its extent.
fn grow(
    stage: &StagedVersion,
    path: &str,
    ds: &mut StagedDataset,
    axis: usize,
    grown: &[u64],
) -> Result<()> {
    // The initial data's layout cannot follow a change of shape.
    ds.materialize()?;
    let old = ds.meta.shape.clone();
    let chunks = ds.meta.chunks.clone();
    let c = chunks[axis];
    if !old[axis].is_multiple_of(c) {
        let es = ds.meta.dtype.size();
        let mut rest = grid::grid_dims(&old, &chunks);
        rest[axis] = 1;
        let edge: Vec<ChunkCoord> = grid::all_chunks(&rest)
            .map(|mut k| {
                k[axis] = old[axis] / c;
                k
            })
            .collect();
        for k in edge {
            let from = grid::chunk_extent(&old, &chunks, &k);
            let to = grid::chunk_extent(grown, &chunks, &k);
            let buf = match ds.dirty.remove(&k) {
                Some(b) => b,
                None => match base_map(&stage.file, path, ds)?.and_then(|m| m.get(&k).copied()) {
                    Some(row) => {
                        let mut f = stage.file.lock();
                        f.read_slot(
                            &raw_data_path(path),
                            &ds.meta,
                            row,
                            &from,
                            Some(&mut ds.pool),
                        )?
                        .into_vec()
                    }
                    // Never written: fill value, before and after.
                    None => continue,
                },
            };
            ds.dirty
                .insert(k, recut(&buf, &from, &to, &ds.meta.fill, es)?);
        }
    }
    ds.meta.shape = grown.to_vec();
    ds.modified = true;
    Ok(())
}

/// Writes written chunks of `ds` (at least `need` bytes of them, whole chunks first,
/// then edge chunks, each group in chunk order) to the file, and maps them; returns
/// the bytes taken from memory.
fn spill_dataset(
    stage: &StagedVersion,
    name: &str,
    path: &str,
    ds: &mut StagedDataset,
    need: u64,
) -> Result<u64> {
    let id = stage.id();
    // Storage settings as the commit settles them (its phase 1), before hashing.
    {
        let mut f = stage.file.lock();
        f.require_writable_by(Some(id))?;
        if let Some(dg) = f.data_group(path)? {
            check_compatible(path, &dg.meta, &ds.meta)?;
            ds.hash = dg.hash;
            ds.meta.dtype = dg.meta.dtype.clone();
        }
    }
    // The parent's chunks, which spilled ones are mapped over.
    let base = base_map(&stage.file, path, ds)?;
    let chunks = ds.meta.chunks.clone();
    let mut keys: Vec<(bool, ChunkCoord)> = ds
        .dirty
        .keys()
        .map(|k| {
            let ext = grid::chunk_extent(&ds.meta.shape, &chunks, k);
            (ext[..] != chunks[..], k.clone())
        })
        .collect();
    keys.sort();
    let mut items = Vec::new();
    let mut took = 0u64;
    for (_, k) in keys {
        if took >= need {
            break;
        }
        if let Some(b) = ds.dirty.remove(&k) {
            took += b.len() as u64;
            items.push((k, Some(b)));
        }
    }
    if items.is_empty() {
        return Ok(0);
    }
    // Hashed in parallel, without the file lock.
    let hashed = hash_chunks(ds, items)?;
    let hashes: Vec<[u8; 32]> = hashed
        .iter()
        .filter(|h| !h.fill_only)
        .map(|h| h.hash)
        .collect();
    let mut f = stage.file.lock();
    f.require_writable_by(Some(id))?;
    f.check_storage(path, &hashes)?;
    let c0 = chunks[0];
    let spill = match ds.spill.take() {
        Some(s) => s,
        None => {
            let first = first_free_slot(&mut f, path, ds)?;
            Spill {
                first_new: first,
                slots: SlotAssigner::new(first, c0),
            }
        }
    };
    let first_new = spill.first_new;
    // From the first write on, the file's open transaction is this version's.
    f.spill_owner = Some((id, name.to_string()));
    let Some(dg) = f.data_group(path)? else {
        bail!(
            InternalError,
            "the storage of '{path}' vanished while chunks were written to it"
        );
    };
    let mut acc = Appended {
        slots: spill.slots,
        cache: Vec::new(),
        budget: 0,
    };
    let mut map = base.map(|m| (*m).clone()).unwrap_or_default();
    let to_write = acc.dedup(dg, &mut map, &hashed);
    acc.write(dg, ds, to_write, hashed, false)?;
    let next = acc.slots.next_slot();
    if let Some(rows) = dg.meta.shape.first_mut() {
        *rows = (*rows).max(next * c0);
    }
    ds.base_map = Some(Arc::new(map));
    ds.spill = Some(Spill {
        first_new,
        slots: acc.slots,
    });
    Ok(took)
}
