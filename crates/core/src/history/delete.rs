//! Deleting versions (Python's `delete_versions`), as one transaction of the undo
//! journal: the slots only deleted versions use leave `raw_data` and the hash table,
//! the survivors' slots move down in order (edge chunks rewritten whole, so their
//! padding is the fill value again and no byte of a deleted version stays in
//! `raw_data`), the survivors' virtual datasets are rewritten where a slot moved,
//! children of deleted versions are re-parented to their nearest surviving ancestor
//! and the current version moves the same way. Nothing is flushed before the end: a
//! failure at any point (an error, a full disk, a kill) leaves the file as it was
//! (docs/design/009-atomic-history-rewrites.md).

use std::collections::{BTreeMap, HashMap, HashSet};

use crate::attrs::AttrValue;
use crate::attrs::Attrs;
use crate::error::{bail, Result};
use crate::file::{
    read_user_attrs, version_dataset_paths, DatasetMeta, Inner, MappedDataset, VersionedFile,
};
use crate::grid::{self, ChunkCoord};
use crate::h5::{self, HashRow};
use crate::history::mover::{Move, Mover, MoverError};
use crate::history::{Progress, Ticker};
use crate::layout::{
    attr, data_group_path, hash_table_path, raw_data_path, version_group_path, versions_path,
    FIRST_VERSION,
};
use crate::stage::commit::objects::create_mapped_dataset;
use crate::stage::commit::slots::probe_offset;
use crate::strings::{hash_elements, StrPool};

/// What happens to one dataset path's storage.
struct PathPlan {
    /// Metadata of the path (from a version holding it).
    meta: DatasetMeta,
    /// Rows of the slots surviving versions map, with the chunk extent stored there.
    kept: BTreeMap<u64, Vec<u64>>,
    /// Surviving versions holding the path.
    versions: Vec<String>,
}

/// Calls `run(src, dst, len)` for each contiguous run (along the last axis) of a block
/// of extent `ext` placed in the top-left corner of a block of extent `full`: element
/// offsets into the small block and the large one, and the run's length.
pub(crate) fn for_each_run(ext: &[u64], full: &[u64], mut run: impl FnMut(usize, usize, usize)) {
    let n = ext.len();
    if n == 0 || ext.contains(&0) {
        return;
    }
    let last = ext[n - 1] as usize;
    let outer: u64 = ext[..n - 1].iter().product();
    let mut idx = vec![0u64; n - 1];
    for r in 0..outer as usize {
        let mut dst = 0u64;
        for i in 0..n - 1 {
            dst = dst * full[i] + idx[i];
        }
        run(r * last, (dst * full[n - 1]) as usize, last);
        for i in (0..n - 1).rev() {
            idx[i] += 1;
            if idx[i] < ext[i] {
                break;
            }
            idx[i] = 0;
        }
    }
}

/// Rewrites the slot at `to` with the chunk of extent `ext` stored at `from`: the
/// chunk in its top-left corner, the fill value elsewhere. Returns the chunk's hash
/// computed from its elements when `want_hash` asks for it.
#[allow(clippy::too_many_arguments, reason = "one slot move")]
pub(crate) fn move_slot(
    raw: &h5::Hid,
    meta: &DatasetMeta,
    from: u64,
    to: u64,
    ext: &[u64],
    hash: Option<crate::hash::HashKind>,
) -> Result<Option<[u8; 32]>> {
    let mut start = vec![0u64; ext.len()];
    start[0] = from;
    let full = &meta.chunks;
    let mut at = vec![0u64; ext.len()];
    at[0] = to;
    if meta.dtype.is_vlen() {
        let strings = h5::read_strings(raw, &start, ext)?;
        let h = hash.map(|k| {
            let mut pool = StrPool::default();
            let bytes = pool.encode(&strings);
            hash_elements(k, &meta.dtype, &bytes, &pool, ext)
        });
        let mut slot: Vec<Vec<u8>> = vec![Vec::new(); grid::volume(full)?];
        for_each_run(ext, full, |s, d, n| {
            slot[d..d + n].clone_from_slice(&strings[s..s + n]);
        });
        h5::write_strings(raw, &at, full, &slot)?;
        return Ok(h);
    }
    let es = meta.dtype.size();
    let mut chunk = vec![0u8; grid::volume(ext)? * es];
    h5::read_block(raw, &meta.dtype, &start, ext, &mut chunk)?;
    let h = hash.map(|k| hash_elements(k, &meta.dtype, &chunk, &StrPool::default(), ext));
    if ext == full.as_slice() {
        h5::write_block(raw, &meta.dtype, &at, full, &chunk)?;
    } else {
        let mut slot = meta.fill.repeat(grid::volume(full)?);
        for_each_run(ext, full, |s, d, n| {
            slot[d * es..(d + n) * es].copy_from_slice(&chunk[s * es..(s + n) * es]);
        });
        h5::write_block(raw, &meta.dtype, &at, full, &slot)?;
    }
    Ok(h)
}

/// The survivors whose parent changes, and those already given the new one.
struct Reparent {
    /// Version → its new parent.
    to: HashMap<String, String>,
    done: HashSet<String>,
}

impl Reparent {
    /// Writes `version`'s new parent into its open group `vg`, if it has one and it
    /// is not written yet.
    fn write(&mut self, vg: &h5::Hid, version: &str) -> Result<()> {
        if let Some(p) = self.to.get(version) {
            if self.done.insert(version.to_string()) {
                h5::write_attr(vg, attr::PREV_VERSION, &AttrValue::Str(p.clone()))?;
            }
        }
        Ok(())
    }
}

/// Slot moves as stored bytes ([`h5::read_chunk`], [`h5::write_chunk`]), one chunk
/// at a time in a reused buffer.
struct StoredMove {
    offset: Vec<u64>,
    buf: Vec<u8>,
    /// Row of the last slot written.
    last: Option<u64>,
}

impl StoredMove {
    /// Copies the stored chunk at row `from` to row `to`; `false` (nothing written)
    /// when no chunk is stored at `from`.
    fn copy(&mut self, raw: &h5::Hid, from: u64, to: u64) -> Result<bool> {
        self.offset[0] = from;
        let Some(mask) = h5::read_chunk(raw, &self.offset, &mut self.buf)? else {
            return Ok(false);
        };
        self.offset[0] = to;
        h5::write_chunk(raw, &self.offset, mask, &self.buf)?;
        self.last = Some(to);
        Ok(true)
    }

    /// Copies the unfiltered edge chunk of extent `ext` stored at row `from` to row
    /// `to` as its stored bytes, with the padding outside `ext` set to zero bytes (the
    /// caller checks that this is the fill value); `false` (nothing written) when no
    /// chunk is stored at `from` or it is not a whole unfiltered slot of `full`.
    fn copy_edge(
        &mut self,
        raw: &h5::Hid,
        (from, to): (u64, u64),
        ext: &[u64],
        full: &[u64],
        es: usize,
    ) -> Result<bool> {
        self.offset[0] = from;
        let Some(mask) = h5::read_chunk(raw, &self.offset, &mut self.buf)? else {
            return Ok(false);
        };
        if mask != 0 || self.buf.len() != grid::volume(full)? * es {
            return Ok(false);
        }
        let mut slot = vec![0u8; self.buf.len()];
        for_each_run(ext, full, |_, d, n| {
            slot[d * es..(d + n) * es].copy_from_slice(&self.buf[d * es..(d + n) * es]);
        });
        self.offset[0] = to;
        h5::write_chunk(raw, &self.offset, 0, &slot)?;
        self.last = Some(to);
        Ok(true)
    }

    /// After the moves: the last chunk written directly may carry a filter mask
    /// libhdf5 did not note (`h5::refresh_chunk_lookup`).
    fn finish(&self, raw: &h5::Hid, chunks: &[u64]) -> Result<()> {
        match self.last {
            Some(row) => h5::refresh_chunk_lookup(raw, &probe_offset(row, chunks)),
            None => Ok(()),
        }
    }
}

/// Rewrites the dataset at `path` of a version (its open group `vg`) with the chunk
/// map `map` (chunk → first row of its slot in a `raw_data` of extent `raw_dims`)
/// and the metadata `meta`, keeping its attributes (its `chunks` attribute says
/// `meta.chunks`). `known` gives its user attributes and `raw_data` attribute where
/// the caller read them already; otherwise they are read from the dataset.
pub(crate) fn rewrite_version_dataset(
    g: &mut Inner,
    vg: &h5::Hid,
    path: &str,
    meta: &DatasetMeta,
    map: &HashMap<ChunkCoord, u64>,
    raw_dims: &[u64],
    known: Option<(&Attrs, &str)>,
) -> Result<()> {
    let chunks = AttrValue::IntArray(meta.chunks.iter().map(|&c| c as i64).collect());
    let attrs = match known {
        // In the order a read of all of them gives (by name).
        Some((user, raw_path)) => {
            let mut all = user.clone();
            all.push((
                attr::RAW_DATA.to_string(),
                AttrValue::Str(raw_path.to_string()),
            ));
            all.push((attr::CHUNKS.to_string(), chunks.clone()));
            all.sort_by(|a, b| a.0.cmp(&b.0));
            all
        }
        None => {
            let ds = h5::open_dataset(vg, path)?;
            read_user_attrs(&ds, &[])?
        }
    };
    stop_on_fault(g)?;
    h5::unlink(vg, path)?;
    stop_on_fault(g)?;
    let (ds, patch) = create_mapped_dataset(vg, path, meta, map, raw_dims)?;
    stop_on_fault(g)?;
    for (k, v) in &attrs {
        let v = if k == attr::CHUNKS { &chunks } else { v };
        h5::write_new_attr(&ds, k, v)?;
        stop_on_fault(g)?;
    }
    drop(ds);
    if let Some(p) = patch {
        p.apply(g.file()?)?;
        stop_on_fault(g)?;
    }
    Ok(())
}

/// Stops a rewrite as soon as the file driver saw an I/O error: libhdf5 goes on after
/// a failed write over a state that no longer matches the file, and creating a
/// virtual dataset over it was seen to crash (what it would do is undone anyway). Called
/// after every step that may write.
pub(crate) fn stop_on_fault(g: &Inner) -> Result<()> {
    if h5::io_fault(g.file()?).is_some() {
        bail!(IoError, "a write to the file failed");
    }
    Ok(())
}

impl Inner {
    /// Undoes the open transaction after a history rewrite failed part way: the
    /// journal puts the file back as the last checkpoint left it and the state is
    /// opened anew over it (as after an I/O fault, docs/design/006-io-faults.md).
    /// Returns the error to report.
    pub(crate) fn undo_rewrite(
        &mut self,
        e: crate::error::Error,
        context: &str,
    ) -> crate::error::Error {
        if let Some(io) = self.after_io_fault(context) {
            return io;
        }
        self.reopen_rolled_back(e)
    }

    /// Forgets everything derived from the file's history (after a rewrite): the
    /// catalog (its generation moves on), storage states, open `raw_data` handles and
    /// the read cache.
    pub(crate) fn forget_history(&mut self) {
        // Storage marks on disk predate the rewrite: none is trusted in this session.
        self.mark_eoa = None;
        // The version index file is written anew at the next commit or close.
        if let Some(st) = self.vindex.as_mut() {
            st.synced = false;
        }
        self.catalog.invalidate();
        self.data_groups.clear();
        self.raws.clear();
        self.chunks.clear();
    }
}

impl VersionedFile {
    /// Deletes committed versions, as Python versioned-hdf5's `delete_versions` does,
    /// in one atomic transaction. `__first_version__` is refused (`INVALID_ARGUMENT`),
    /// an unknown name is `VERSION_NOT_FOUND`; children of deleted versions get their
    /// nearest surviving ancestor as parent, and so does the current version. Chunks
    /// only deleted versions used leave `raw_data` and the hash table (the file's size
    /// shrinks only with [`compact`](Self::compact)).
    pub fn delete_versions(&self, names: &[String]) -> Result<()> {
        self.delete_versions_with_progress(names, None)
    }

    /// [`delete_versions`](Self::delete_versions), calling `progress(done, total)` (on
    /// the worker thread) after each step: each slot kept of a rewritten dataset path,
    /// each surviving version dataset rewritten, each path and version removed, and
    /// the final flush.
    pub fn delete_versions_with_progress(
        &self,
        names: &[String],
        progress: Option<Progress>,
    ) -> Result<()> {
        let me = self.clone();
        let names = names.to_vec();
        crate::worker::run(move || me.delete_here(&names, progress.as_ref()))
    }

    fn delete_here(&self, names: &[String], progress: Option<&Progress>) -> Result<()> {
        let mut g = self.lock();
        g.require_writable()?;
        let mut del: HashSet<String> = HashSet::new();
        for n in names {
            if n == FIRST_VERSION {
                bail!(
                    InvalidArgument,
                    "'{FIRST_VERSION}' is the root of history and cannot be deleted: pass only committed version names"
                );
            }
            g.committed(n)?;
            del.insert(n.clone());
        }
        if del.is_empty() {
            return Ok(());
        }
        if let Some(s) = g.staging.iter().next() {
            bail!(
                InvalidArgument,
                "version '{s}' is being staged: finish or abandon stageVersion before deleting versions"
            );
        }
        let plan = plan_delete(&mut g, &del)?;
        let context = format!("deleting versions of '{}'", g.path);
        let steps = plan
            .paths
            .values()
            .map(|pp| (pp.kept.len() + pp.versions.len()) as u64)
            .sum::<u64>()
            + (plan.gone.len() + del.len()) as u64
            + 1;
        let mut ticker = Ticker::new(progress, steps);
        match apply_delete(&mut g, &del, &plan, &mut ticker) {
            Ok(()) => {
                let (parents, current) = (plan.parents, plan.current);
                g.versions.remove_all(&del);
                for (v, p) in parents {
                    g.versions.set_prev(&v, &p);
                }
                g.current = current;
                g.rebuild_time_index();
                g.forget_history();
                Ok(())
            }
            Err(e) => Err(g.undo_rewrite(e, &context)),
        }
    }
}

/// Everything a deletion changes, found before anything is written.
struct DeletePlan {
    /// Surviving version groups whose parent changes, with the new parent.
    parents: Vec<(String, String)>,
    /// The current version afterwards.
    current: String,
    /// Dataset paths whose storage is rewritten.
    paths: BTreeMap<String, PathPlan>,
    /// Dataset paths that no surviving version holds: their storage goes.
    gone: Vec<String>,
}

fn surviving_ancestor(g: &Inner, del: &HashSet<String>, mut v: String) -> String {
    let mut steps = 0;
    while del.contains(&v) && steps <= g.versions.len() {
        v = g
            .versions
            .get(&v)
            .map_or_else(|| FIRST_VERSION.to_string(), |i| i.prev_version.to_string());
        steps += 1;
    }
    v
}

/// Rows (first axis) of `version`'s dataset at `path`.
fn rows_of(g: &Inner, version: &str, path: &str) -> Result<u64> {
    let shape = match g.catalog.dataset(version, path) {
        Some(d) => d.meta.shape.clone(),
        None => {
            let vg = h5::open_group(g.file()?, &version_group_path(version))?;
            h5::ds_shape(&h5::open_dataset(&vg, path)?)?
        }
    };
    Ok(shape.first().copied().unwrap_or(0))
}

fn plan_delete(g: &mut Inner, del: &HashSet<String>) -> Result<DeletePlan> {
    let current = surviving_ancestor(g, del, g.current.clone());
    let mut parents = Vec::new();
    for info in g.versions.values() {
        if del.contains(info.name) {
            continue;
        }
        let p = surviving_ancestor(g, del, info.prev_version.to_string());
        if p != info.prev_version {
            parents.push((info.name.to_string(), p));
        }
    }
    parents.sort();
    let committed: Vec<String> = g.versions.names_by_time();
    // Per path: whether a deleted version holds it non-empty (Python leaves a path
    // alone otherwise), and which survivors hold it. A deleted version's datasets are
    // not opened (opening a virtual dataset decodes all its mappings) but where its
    // shape still decides whether the path is touched.
    let mut touched: HashSet<String> = HashSet::new();
    let mut holders: BTreeMap<String, Vec<String>> = BTreeMap::new();
    // Once every path with storage (a data group) is touched, the other deleted
    // versions cannot change the plan: they are not even listed.
    let stored = crate::stats::data_group_paths(g.file()?)?;
    let mut all_touched = stored.is_empty();
    let versions = h5::open_group(g.file()?, &versions_path())?;
    for v in &committed {
        let deleted = del.contains(v);
        if deleted && all_touched {
            continue;
        }
        let held = version_dataset_paths(g, &versions, v)?;
        if !deleted {
            for p in held {
                holders.entry(p).or_default().push(v.clone());
            }
            continue;
        }
        for p in held {
            if !touched.contains(&p) && rows_of(g, v, &p)? != 0 {
                touched.insert(p);
                all_touched = stored.iter().all(|s| touched.contains(s));
            }
        }
    }
    let mut paths: BTreeMap<String, PathPlan> = BTreeMap::new();
    for (p, versions) in holders {
        if !touched.contains(&p) {
            continue;
        }
        // Loaded first: the survivors' metadata takes its filters from it.
        g.data_group(&p)?;
        let mut kept: BTreeMap<u64, Vec<u64>> = BTreeMap::new();
        let mut first = None;
        for v in &versions {
            let MappedDataset { meta, map, .. } = g.mapped_dataset(v, &p)?;
            for (k, &row) in map.iter() {
                kept.entry(row)
                    .or_insert_with(|| grid::chunk_extent(&meta.shape, &meta.chunks, k).to_vec());
            }
            first.get_or_insert(meta);
        }
        if let Some(meta) = first {
            paths.insert(
                p,
                PathPlan {
                    meta,
                    kept,
                    versions,
                },
            );
        }
    }
    let gone: Vec<String> = touched
        .iter()
        .filter(|p| !paths.contains_key(*p))
        .cloned()
        .collect();
    // Every slot that stays must be there to be moved.
    for (p, plan) in &paths {
        let Some(dg) = g.data_group(p)? else {
            bail!(
                CorruptFile,
                "versions map data of '{p}', but its raw_data is missing: the file is damaged (verify() reports it)"
            );
        };
        let rows = dg.meta.shape.first().copied().unwrap_or(0);
        if let Some((&last, ext)) = plan.kept.iter().next_back() {
            if last + ext[0] > rows {
                bail!(
                    CorruptFile,
                    "a version maps rows {last}..{} of '{}', which has only {rows} rows: the file is damaged (verify() reports it); nothing was deleted",
                    last + ext[0],
                    raw_data_path(p)
                );
            }
        }
    }
    let mut gone = gone;
    gone.sort();
    Ok(DeletePlan {
        parents,
        current,
        paths,
        gone,
    })
}

fn apply_delete(
    g: &mut Inner,
    del: &HashSet<String>,
    plan: &DeletePlan,
    ticker: &mut Ticker<'_>,
) -> Result<()> {
    // Readers in other processes see a new generation at the checkpoint, and start
    // from the file again (docs/design/008-readers-and-writers.md).
    h5::journal::note_rewrite(g.file()?)?;
    let versions = h5::open_group(g.file()?, &versions_path())?;
    // A survivor whose dataset is rewritten gets its new parent while its group is
    // open: libhdf5 evicts a closed object's metadata, so opening it again reads it
    // again.
    let mut parents = Reparent {
        to: plan.parents.iter().cloned().collect(),
        done: HashSet::new(),
    };
    // Slot moves running on their own thread; their `raw_data` gets its new extent
    // once they are done, after the groups below are unlinked. Dropping this stops and
    // joins them (an error on the way out), before the caller rolls back.
    let mut moving: Vec<Moving> = Vec::new();
    for (p, pp) in &plan.paths {
        // One mover thread at a time.
        for m in &mut moving {
            m.wait(g)?;
        }
        if let Some(m) = rewrite_storage(g, p, pp, &versions, &mut parents, ticker)? {
            moving.push(m);
        }
        stop_on_fault(g)?;
    }
    let file = g.file()?;
    for p in &plan.gone {
        // Only this path's own objects: a data group may also hold the storage of a
        // path below it ('a' and 'a/b').
        for leaf in [raw_data_path(p), hash_table_path(p)] {
            if h5::exists(file, &leaf)? {
                h5::unlink(file, &leaf)?;
            }
        }
        let gpath = data_group_path(p);
        if h5::exists(file, &gpath)? && h5::list(&h5::open_group(file, &gpath)?)?.is_empty() {
            h5::unlink(file, &gpath)?;
        }
        stop_on_fault(g)?;
        ticker.tick();
    }
    for (v, _) in &plan.parents {
        if !parents.done.contains(v) {
            parents.write(&h5::open_group(&versions, v)?, v)?;
        }
    }
    h5::write_attr(
        &versions,
        attr::CURRENT_VERSION,
        &AttrValue::Str(plan.current.clone()),
    )?;
    let mut gone_versions: Vec<&String> = del.iter().collect();
    gone_versions.sort();
    for v in gone_versions {
        h5::unlink(&versions, v)?;
        stop_on_fault(g)?;
        ticker.tick();
    }
    for mut m in moving {
        m.wait(g)?;
        let raw = h5::open_storage(g.file()?, &m.raw_path)?;
        h5::ds_set_extent(&raw, &m.raw_dims)?;
        stop_on_fault(g)?;
    }
    let file = g.file()?;
    h5::file_flush(file)?;
    ticker.finish();
    Ok(())
}

/// A path whose slot moves run on their own thread ([`Mover`]): its `raw_data` takes
/// its new extent `raw_dims` once they are done.
struct Moving {
    raw_path: String,
    raw_dims: Vec<u64>,
    mover: Mover,
}

impl Moving {
    /// Waits for the moves; a failed one becomes the transaction's fault.
    fn wait(&mut self, g: &Inner) -> Result<()> {
        match self.mover.wait() {
            Ok(()) => Ok(()),
            Err(MoverError::Fault(f)) => {
                h5::journal::note_move_fault(g.file()?, &f);
                stop_on_fault(g)?;
                bail!(IoError, "moving the slots of '{}' failed", self.raw_path)
            }
            Err(MoverError::Panicked) => bail!(
                InternalError,
                "the thread moving the slots of '{}' stopped",
                self.raw_path
            ),
        }
    }
}

/// The moves of `pp`'s kept slots to rows `0, c0, 2 c0, ...` of `raw` (slots of
/// `full` extent, `slot` bytes each) as positioned reads and writes of their stored
/// bytes on another thread, when every one of them can be made so: each source and
/// destination a whole stored slot of unfiltered data. The caller checks that edge
/// chunks may be padded with zero bytes. `None`: the caller moves them through
/// libhdf5.
fn start_mover(
    file: &h5::Hid,
    raw: &h5::Hid,
    pp: &PathPlan,
    full: &[u64],
    slot: usize,
    es: usize,
) -> Result<Option<Mover>> {
    let c0 = full[0];
    let rows = h5::ds_shape(raw)?.first().copied().unwrap_or(0);
    let stored = h5::stored_chunks(raw, c0, full.len(), 0, rows / c0, true)?;
    let at = |row: u64| {
        stored
            .get((row / c0) as usize)
            .copied()
            .flatten()
            .filter(|l| l.size == slot as u64 && l.mask == 0)
            .map(|l| l.addr)
    };
    let mut moves = Vec::new();
    for (i, (&old, ext)) in pp.kept.iter().enumerate() {
        let new = i as u64 * c0;
        let whole = ext == full;
        if whole && new == old {
            continue;
        }
        let (Some(src), Some(dst)) = (at(old), at(new)) else {
            return Ok(None);
        };
        moves.push(Move {
            src,
            dst,
            edge: (!whole).then(|| ext.clone()),
        });
    }
    if moves.is_empty() {
        return Ok(None);
    }
    let dests: Vec<u64> = moves.iter().map(|m| m.dst).collect();
    let Some(block) = h5::journal::reserve_moves(file, &dests, slot)? else {
        return Ok(None);
    };
    Ok(Some(Mover::start(block, moves, full.to_vec(), es)))
}

/// Compacts one path's `raw_data` to the slots survivors use, rewrites its hash table
/// and the survivors' virtual datasets whose slots moved. The slot moves may still be
/// running when it returns ([`Moving`]).
fn rewrite_storage(
    g: &mut Inner,
    p: &str,
    pp: &PathPlan,
    versions: &h5::Hid,
    parents: &mut Reparent,
    ticker: &mut Ticker<'_>,
) -> Result<Option<Moving>> {
    let Some(dg) = g.data_group(p)? else {
        bail!(InternalError, "the storage of '{p}' vanished");
    };
    let meta = dg.meta.clone();
    let kind = dg.hash;
    let largest_index = dg.largest_index;
    let c0 = meta.chunks[0];
    let file = g.file()?;
    let raw = h5::open_storage(file, &raw_data_path(p))?;
    let table = h5::open_storage(file, &hash_table_path(p))?;
    let table_len = h5::ds_shape(&table)?.first().copied().unwrap_or(0);
    let li = largest_index.min(table_len);
    let mut hashes: HashMap<u64, [u8; 32]> = HashMap::new();
    for r in h5::read_hash_rows(&table, li)? {
        hashes.entry(r.start as u64).or_insert(r.hash);
    }
    let chunk_meta = DatasetMeta {
        shape: meta.shape.clone(),
        ..pp.meta.clone()
    };
    // Edge chunks of unfiltered fixed-size data whose fill value is zero bytes move as
    // their stored bytes too, with the padding zeroed in the buffer.
    let es = meta.dtype.size();
    let raw_edges = !meta.dtype.is_vlen()
        && chunk_meta.filters == h5::Filters::default()
        && chunk_meta.fill.iter().all(|&b| b == 0);
    let mut moved: HashMap<u64, u64> = HashMap::with_capacity(pp.kept.len());
    let mut rows = Vec::with_capacity(pp.kept.len());
    // A whole chunk whose hash is known moves as its stored bytes (still filtered),
    // through libhdf5's direct chunk I/O: nothing to decode, convert or encode. Edge
    // chunks (their padding is rewritten) and variable-length strings (their stored
    // bytes point into the global heap) are decoded and written again.
    let mut stored = StoredMove {
        offset: vec![0u64; meta.chunks.len()],
        buf: Vec::new(),
        last: None,
    };
    // Every chunk's hash known and every edge chunk's padding zero bytes: the moves
    // may run on their own thread.
    let mover = if raw_edges && pp.kept.keys().all(|old| hashes.contains_key(old)) {
        start_mover(
            g.file()?,
            &raw,
            pp,
            &meta.chunks,
            grid::volume(&meta.chunks)? * es,
            es,
        )?
    } else {
        None
    };
    stop_on_fault(g)?;
    for (i, (&old, ext)) in pp.kept.iter().enumerate() {
        if mover.is_some() {
            let new = i as u64 * c0;
            rows.push(HashRow {
                hash: hashes[&old],
                start: new as i64,
                stop: (new + ext[0]) as i64,
            });
            moved.insert(old, new);
            ticker.tick();
            continue;
        }
        let new = i as u64 * c0;
        let known = hashes.get(&old).copied();
        let whole = ext == &meta.chunks;
        // In place already, or moved as stored bytes.
        let as_is = if whole {
            new == old
                || (known.is_some() && !meta.dtype.is_vlen() && stored.copy(&raw, old, new)?)
        } else {
            raw_edges
                && known.is_some()
                && stored.copy_edge(&raw, (old, new), ext, &meta.chunks, es)?
        };
        let hash = if as_is {
            known
        } else {
            move_slot(
                &raw,
                &chunk_meta,
                old,
                new,
                ext,
                known.is_none().then_some(kind),
            )?
            .or(known)
        };
        let hash = match hash {
            Some(h) => h,
            None => move_slot(&raw, &chunk_meta, new, new, ext, Some(kind))?.unwrap_or([0; 32]),
        };
        rows.push(HashRow {
            hash,
            start: new as i64,
            stop: (new + ext[0]) as i64,
        });
        moved.insert(old, new);
        stop_on_fault(g)?;
        ticker.tick();
    }
    stored.finish(&raw, &meta.chunks)?;
    let n = rows.len() as u64;
    let mut raw_dims = meta.chunks.clone();
    raw_dims[0] = n * c0;
    let moving = match mover {
        Some(mover) => Some(Moving {
            raw_path: raw_data_path(p),
            raw_dims: raw_dims.clone(),
            mover,
        }),
        None => {
            h5::ds_set_extent(&raw, &raw_dims)?;
            None
        }
    };
    if rows.is_empty() {
        h5::write_hash_rows(
            &table,
            0,
            &[HashRow {
                hash: [0; 32],
                start: 0,
                stop: 0,
            }],
        )?;
    } else {
        h5::write_hash_rows(&table, 0, &rows)?;
    }
    h5::write_attr(&table, attr::LARGEST_INDEX, &AttrValue::Int(n as i64))?;
    // The storage mark described the table before the rewrite.
    if h5::attr_exists(&table, attr::STORAGE_MARK)? {
        h5::delete_attr(&table, attr::STORAGE_MARK)?;
    }
    drop((raw, table));
    stop_on_fault(g)?;
    for v in &pp.versions {
        ticker.tick();
        let vd = g.mapped_dataset(v, p)?;
        let map = &vd.map;
        if map.values().all(|r| moved.get(r) == Some(r)) {
            continue;
        }
        let new_map: HashMap<ChunkCoord, u64> = map
            .iter()
            .map(|(k, r)| (k.clone(), moved.get(r).copied().unwrap_or(*r)))
            .collect();
        let vg = h5::open_group(versions, v)?;
        rewrite_version_dataset(
            g,
            &vg,
            p,
            &vd.meta,
            &new_map,
            &raw_dims,
            Some((&vd.attrs, &vd.raw_path)),
        )?;
        stop_on_fault(g)?;
        parents.write(&vg, v)?;
        stop_on_fault(g)?;
    }
    Ok(moving)
}
