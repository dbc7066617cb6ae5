//! Storage state of each dataset path: its `raw_data`, its hash table held in
//! memory, and the checks that a commit may append to them (committed data must not
//! rely on rows that are missing). A damaged hash table is rebuilt from the chunks the
//! committed versions map.

use std::collections::BTreeMap;

use super::tree::{chunks_attr, version_dataset};
use super::{ChunkMap, DatasetMeta, Inner};
use crate::attrs::AttrValue;
use crate::dedup::{index_rows, BadRow, HashIndex};
use crate::error::{bail, err, ErrorKind, Result};
use crate::grid::{self};
use crate::h5::{self, Hid};
use crate::hash::{HashKind, HASH_ATTR};
use crate::layout::{attr, hash_table_path, raw_data_path};
use crate::layout::{data_group_path, version_group_path, DATA_VERSION};
use crate::strings::{hash_elements, StrPool};

/// The last `raw_data` rows something relies on, and what relies on them.
#[derive(Clone, Debug, Default)]
pub(crate) struct RowUse {
    /// First row of the mapping or hash-table row that reaches furthest.
    pub start: u64,
    /// One past its last row (0: nothing relies on any row).
    pub end: u64,
    /// Who relies on them, for messages: "version 'v2' (its chunk at [50])", "the
    /// hash table of 'x'".
    pub by: String,
}

impl RowUse {
    /// Keeps `[start, end)` if it reaches further than what is recorded.
    fn note(&mut self, start: u64, end: u64, by: impl FnOnce() -> String) {
        if end > self.end {
            *self = RowUse {
                start,
                end,
                by: by(),
            };
        }
    }
}

/// Storage state of one dataset path: its hash table, in memory.
#[derive(Debug)]
pub(crate) struct DataGroup {
    pub raw: Hid,
    pub table: Hid,
    pub meta: DatasetMeta,
    pub hash: HashKind,
    pub index: HashIndex,
    pub largest_index: u64,
    /// The table's rows `[0, largest_index)` as stored (48 bytes each), when they were
    /// read: commits rewrite the table's last chunk from it without reading it back.
    pub table_bytes: Option<Vec<u8>>,
    /// The furthest `raw_data` rows a hash-table row below `largest_index` names (a
    /// commit may deduplicate into them).
    pub table_end: RowUse,
    /// The furthest `raw_data` rows any version maps: computed on the first commit that
    /// stores chunks here (see [`Inner::check_storage`]), then kept up to date.
    pub mapped_end: Option<RowUse>,
    /// Whether the table's only filter is LZF, and its rows per chunk: read once.
    pub table_layout: Option<(bool, u64)>,
}

impl Inner {
    /// Loads (once) the storage state of a dataset path, or `None` if it has none yet.
    pub(crate) fn data_group(&mut self, ds_path: &str) -> Result<Option<&mut DataGroup>> {
        let loaded = self.load_data_group(ds_path);
        match loaded {
            Err(e)
                if self.writable
                    && matches!(e.kind, ErrorKind::CorruptFile | ErrorKind::Hdf5Error) =>
            {
                // A hash table that cannot be read or holds malformed rows (an
                // interrupted commit can leave its last chunk half-written) is an index,
                // not data: rebuild it from the chunks the committed versions map.
                self.rebuild_hash_table(ds_path).map_err(|r| {
                    err(
                        r.kind,
                        format!(
                            "{} (rebuilding the damaged hash table failed: {})",
                            e.message, r.message
                        ),
                    )
                })?;
                self.load_data_group(ds_path)?;
            }
            other => {
                other?;
            }
        }
        Ok(self.data_groups.get_mut(ds_path))
    }

    /// Rewrites the hash table of `ds_path` from scratch: one row per slot up to the
    /// last slot any committed version maps, hashed from the stored chunk (rows of
    /// unreferenced slots get an all-zero hash that matches nothing).
    pub(crate) fn rebuild_hash_table(&mut self, ds_path: &str) -> Result<()> {
        self.data_groups.remove(ds_path);
        self.raws.clear();
        let gpath = data_group_path(ds_path);
        let raw_path = raw_data_path(ds_path);
        let (meta, kind, slots) = {
            let file = self.file()?;
            let meta = raw_meta(&h5::open_storage(file, &raw_path)?, &raw_path)?;
            let table_path = hash_table_path(ds_path);
            let kind = h5::open_storage(file, &table_path)
                .and_then(|t| h5::read_attr(&t, HASH_ATTR))
                .ok()
                .and_then(|a| match a {
                    AttrValue::Str(s) => HashKind::parse(&s),
                    _ => None,
                })
                .unwrap_or(HashKind::Sha256);
            let mut slots: BTreeMap<u64, Vec<u64>> = BTreeMap::new();
            for v in self.versions.values().filter(|v| v.committed) {
                let vg = h5::open_group(file, &version_group_path(v.name))?;
                if !h5::exists(&vg, ds_path)? {
                    continue;
                }
                let ds = h5::open_dataset(&vg, ds_path)?;
                if let Some((mappings, _)) = h5::read_mappings(&ds)? {
                    for m in mappings {
                        slots.entry(m.src_row).or_insert(m.extent);
                    }
                }
            }
            (meta, kind, slots)
        };
        let c0 = meta.chunks[0];
        let n = slots.keys().next_back().map_or(0, |r| r / c0 + 1);
        let mut rows = Vec::with_capacity(n as usize);
        for k in 0..n {
            let start = k * c0;
            let row = match slots.get(&start) {
                Some(ext) => {
                    let mut pool = StrPool::default();
                    let bytes =
                        self.read_stored_slot(&raw_path, &meta, start, ext, Some(&mut pool))?;
                    let hash = hash_elements(kind, &meta.dtype, &bytes, &pool, ext);
                    h5::HashRow {
                        hash,
                        start: start as i64,
                        stop: (start + ext[0]) as i64,
                    }
                }
                None => h5::HashRow {
                    hash: [0; 32],
                    start: start as i64,
                    stop: start as i64,
                },
            };
            rows.push(row);
        }
        // The old table goes only once every stored chunk was read and hashed: a failure
        // above (a chunk missing from raw_data) leaves the file as it was.
        let file = self.file()?;
        let table_path = hash_table_path(ds_path);
        if h5::exists(file, &table_path)? {
            h5::unlink(file, &table_path)?;
        }
        let g = h5::open_group(file, &gpath)?;
        let table = h5::create_hash_table(&g)?;
        if kind != HashKind::Sha256 {
            h5::write_attr(&table, HASH_ATTR, &AttrValue::Str(kind.name().to_string()))?;
        }
        h5::write_hash_rows(&table, 0, &rows)?;
        h5::write_attr(&table, attr::LARGEST_INDEX, &AttrValue::Int(n as i64))?;
        if self.spill_owner.is_some() {
            // A staged version's open transaction (docs/design/014-bounded-staging.md)
            // takes the rebuilt table with it: its commit flushes, its abandonment
            // undoes both.
            return Ok(());
        }
        h5::file_flush(file)
    }

    /// Loads (once) the storage state of a dataset path into `data_groups`; nothing
    /// when the path has no storage yet.
    pub(crate) fn load_data_group(&mut self, ds_path: &str) -> Result<()> {
        if !self.data_groups.contains_key(ds_path) {
            let file = self.file()?;
            let _gpath = data_group_path(ds_path);
            if !h5::exists(file, &raw_data_path(ds_path))? {
                return Ok(());
            }
            let raw_path = raw_data_path(ds_path);
            let raw = h5::open_storage(file, &raw_path)?;
            let table = h5::open_storage(file, &hash_table_path(ds_path))?;
            let meta = raw_meta(&raw, &raw_path)?;
            let hash = match h5::attr_exists(&table, HASH_ATTR)? {
                true => match h5::read_attr(&table, HASH_ATTR)? {
                    AttrValue::Str(s) => match HashKind::parse(&s) {
                        Some(k) => k,
                        None => bail!(UnsupportedFormat, "hash table of '{ds_path}' uses hash function '{s}', unknown to this version"),
                    },
                    _ => bail!(CorruptFile, "hash table of '{ds_path}' has a malformed '{HASH_ATTR}' attribute"),
                },
                false => HashKind::Sha256,
            };
            let largest_index = match h5::read_attr(&table, attr::LARGEST_INDEX)? {
                AttrValue::Int(v) if v >= 0 => v as u64,
                AttrValue::UInt(v) => v,
                _ => bail!(
                    CorruptFile,
                    "hash table of '{ds_path}' has no valid 'largest_index'"
                ),
            };
            let table_len = h5::ds_shape(&table)?.first().copied().unwrap_or(0);
            // Generation-1 files hashed strings by object pointer: those rows say
            // nothing about content, so they are not used for deduplication.
            let trusted = !(meta.dtype.is_vlen() && self.data_version < DATA_VERSION);
            let (rows, bytes) = if trusted {
                h5::read_hash_table(&table, largest_index.min(table_len))?
            } else {
                (Vec::new(), Vec::new())
            };
            let table_bytes = (trusted && rows.len() as u64 == largest_index).then_some(bytes);
            let index = match index_rows(&rows, largest_index, meta.chunks[0]) {
                Ok(i) => i,
                Err(BadRow::Malformed { start, stop }) => bail!(
                    CorruptFile,
                    "hash table of '{ds_path}' has a malformed row ({start}, {stop})"
                ),
                Err(BadRow::PastLargestIndex) => bail!(
                    CorruptFile,
                    "hash table of '{ds_path}' points past largest_index: rebuild it with Python's rebuild_hashtables() before writing"
                ),
            };
            let mut table_end = RowUse::default();
            for r in &rows {
                table_end.note(r.start as u64, r.stop as u64, || {
                    format!("the hash table of '{ds_path}'")
                });
            }
            // The last commit's storage mark, on the first load since the open only:
            // until then nothing here changed what this path's versions map.
            let first_load = self.writable && self.marks_read.insert(ds_path.to_string());
            let mapped_end = match (first_load, self.mark_eoa) {
                (true, Some(eoa)) => trusted_mark(&table, ds_path, eoa, &meta, largest_index),
                _ => None,
            };
            let dg = DataGroup {
                raw,
                table,
                meta,
                hash,
                index,
                largest_index,
                table_bytes,
                table_end,
                mapped_end,
                table_layout: None,
            };
            self.data_groups.insert(ds_path.to_string(), dg);
        }
        Ok(())
    }

    /// Refuses (`CORRUPT_FILE`) a commit that would store chunks (of content `hashes`)
    /// of `ds_path` while committed data relies on `raw_data` rows that are not there.
    /// New slots are appended at the end of `raw_data`: rows a version maps past that
    /// end would silently start reading the new slots (or their fill); and a chunk
    /// deduplicated into missing rows would be lost. Likewise, when `raw_data` itself
    /// is gone but versions map data from it, new storage must not be created in its
    /// place. Reads only metadata, and writes nothing.
    ///
    /// Cost: the first commit after opening that appends to a path reads where every
    /// version's mappings of that path point (once; commits keep it up to date).
    pub(crate) fn check_storage(&mut self, ds_path: &str, hashes: &[[u8; 32]]) -> Result<()> {
        let Some(dg) = self.data_group(ds_path)? else {
            return self.check_storage_absent(ds_path);
        };
        let appends = hashes.iter().any(|h| !dg.index.contains_key(h));
        let mapped = if appends {
            self.mapped_end(ds_path)?
        } else {
            RowUse::default()
        };
        let Some(dg) = self.data_groups.get(ds_path) else {
            bail!(
                InternalError,
                "the storage of '{ds_path}' vanished during a commit"
            );
        };
        let rows = h5::ds_shape(&dg.raw)?.first().copied().unwrap_or(0);
        let (c0, largest_index) = (dg.meta.chunks[0], dg.largest_index);
        for u in [&mapped, &dg.table_end] {
            if u.end > rows {
                bail!(
                    CorruptFile,
                    "{} relies on rows {}..{} of '{}/raw_data', which holds only {rows} rows: that data is lost, and data a commit adds to '{ds_path}' would land in those rows and read as theirs. Nothing was written. verify() lists the damaged chunks; remove the versions that map them (e.g. with Python versioned-hdf5's delete_versions) or copy the intact versions to a new file before writing '{ds_path}' again",
                    u.by,
                    u.start,
                    u.end,
                    data_group_path(ds_path)
                );
            }
        }
        if mapped.end > largest_index.saturating_mul(c0) {
            // A committed version maps slots at or past largest_index (a table lowered
            // or cut short by other tools): new slots go at largest_index and would
            // overwrite them. Rebuild the table from what the versions map first (its
            // own transaction, before this commit writes anything): its largest_index
            // then covers every mapped slot, and each row below it is whole.
            self.rebuild_hash_table(ds_path)?;
            self.load_data_group(ds_path)?;
        }
        Ok(())
    }

    /// The furthest `raw_data` rows of `ds_path` any version group maps: computed once
    /// per data group (from cached chunk maps where they are loaded, else from the
    /// version datasets' mappings), then kept up to date by [`Inner::note_mapped`].
    pub(crate) fn mapped_end(&mut self, ds_path: &str) -> Result<RowUse> {
        if let Some(u) = self
            .data_groups
            .get(ds_path)
            .and_then(|d| d.mapped_end.clone())
        {
            return Ok(u);
        }
        self.storage_scans += 1;
        let raw_path = raw_data_path(ds_path);
        let mut names: Vec<&str> = self.versions.keys().collect();
        names.sort();
        let mut out = RowUse::default();
        let file = self.file()?;
        let raw_rows = match self.data_groups.get(ds_path) {
            Some(dg) => h5::ds_shape(&dg.raw)?.first().copied().unwrap_or(0),
            None => 0,
        };
        for name in names {
            let by = |vstart: &[u64]| format!("version '{name}' (its chunk at {vstart:?})");
            let known = self.catalog.peek_dataset(name, ds_path);
            if let Some((map, meta)) = known.and_then(|d| d.map.as_ref().map(|m| (m, &d.meta))) {
                for (k, &row) in map.iter() {
                    let ext = grid::chunk_extent(&meta.shape, &meta.chunks, k);
                    out.note(row, row + ext[0], || {
                        by(&k
                            .iter()
                            .zip(&meta.chunks)
                            .map(|(a, c)| a * c)
                            .collect::<Vec<_>>())
                    });
                }
                continue;
            }
            let Some(obj) = version_dataset(file, name, ds_path)? else {
                continue;
            };
            match h5::furthest_source(&obj) {
                Ok(Some(f)) => {
                    if f.source.trim_start_matches('/') == raw_path.trim_start_matches('/') {
                        out.note(f.start, f.end, || by(&f.vstart));
                    }
                }
                Ok(None) => {}
                // libhdf5 cannot describe these mappings (seen after Python's
                // modify_metadata on string datasets, whose creation properties it
                // cannot copy): reads of them go through its virtual-dataset engine
                // (see `read`), and nothing here can say where they point: count
                // them as relying on every row raw_data holds, so that no new slot
                // lands on one of them.
                Err(_) => out.note(0, raw_rows, || {
                    format!("version '{name}' (mappings libhdf5 cannot describe)")
                }),
            }
        }
        if let Some(dg) = self.data_groups.get_mut(ds_path) {
            dg.mapped_end = Some(out.clone());
        }
        Ok(out)
    }

    /// Records what a new version `name` maps into `ds_path`'s `raw_data`.
    pub(crate) fn note_mapped(
        &mut self,
        name: &str,
        ds_path: &str,
        meta: &DatasetMeta,
        map: &ChunkMap,
    ) {
        let Some(u) = self
            .data_groups
            .get_mut(ds_path)
            .and_then(|d| d.mapped_end.as_mut())
        else {
            return;
        };
        for (k, &row) in map {
            let ext = grid::chunk_extent(&meta.shape, &meta.chunks, k);
            u.note(row, row + ext[0], || {
                let vstart: Vec<u64> = k.iter().zip(&meta.chunks).map(|(a, c)| a * c).collect();
                format!("version '{name}' (its chunk at {vstart:?})")
            });
        }
    }

    /// Writes the storage mark of every data group whose furthest mapped rows are
    /// known (`mapped_end`, including what the commit being finished maps), as the
    /// last step of a commit before its flush: the mark is that value, `raw_data`'s
    /// rows, `largest_index` and the file's end of allocation once the commit is
    /// written. The marks are written first with a zero end of allocation (creating
    /// one allocates), then libhdf5's caches are flushed (which allocates the rest
    /// and returns the unused part of its allocation blocks), the end of allocation
    /// is read and the marks are overwritten in place (same type and shape: no
    /// allocation), so the commit's own flush and a close leave that end of
    /// allocation. A group whose mark is not rewritten keeps an older end of
    /// allocation, which no later state of the file has while it only grows: stale.
    pub(crate) fn write_storage_marks(&self) -> Result<()> {
        let mut marks: Vec<(&Hid, [i64; 5])> = Vec::new();
        for dg in self.data_groups.values() {
            let Some(u) = &dg.mapped_end else {
                continue;
            };
            let rows = h5::ds_shape(&dg.raw)?.first().copied().unwrap_or(0);
            let mark = [
                u.start as i64,
                u.end as i64,
                rows as i64,
                dg.largest_index as i64,
                0,
            ];
            h5::write_attr(
                &dg.table,
                attr::STORAGE_MARK,
                &AttrValue::IntArray(mark.to_vec()),
            )?;
            marks.push((&dg.table, mark));
        }
        if marks.is_empty() {
            return Ok(());
        }
        let file = self.file()?;
        // A flush can end with the end of allocation above what the next flush
        // leaves: the first returns the unused parts of libhdf5's allocation blocks
        // one after the other, and a part that came to lie at the end only after its
        // own return waits for the next. Flush until it stays (twice, in practice).
        h5::flush_cache(file)?;
        let mut eoa = h5::file_eoa(file)?;
        for _ in 0..3 {
            h5::flush_cache(file)?;
            let now = h5::file_eoa(file)?;
            if now == eoa {
                break;
            }
            eoa = now;
        }
        let eoa = eoa as i64;
        for (table, mut mark) in marks {
            mark[4] = eoa;
            h5::write_attr(
                table,
                attr::STORAGE_MARK,
                &AttrValue::IntArray(mark.to_vec()),
            )?;
        }
        Ok(())
    }

    /// Records hash-table rows a commit appended to `ds_path`'s table.
    pub(crate) fn note_table_rows(&mut self, ds_path: &str, rows: &[h5::HashRow]) {
        if let Some(dg) = self.data_groups.get_mut(ds_path) {
            for r in rows {
                dg.table_end.note(r.start as u64, r.stop as u64, || {
                    format!("the hash table of '{ds_path}'")
                });
            }
        }
    }

    /// [`Inner::check_storage`] for a path without `raw_data`: new storage may be
    /// created only where nothing refers to lost storage (no hash table left behind,
    /// no version mapping data from it). Costs one link lookup per version.
    pub(crate) fn check_storage_absent(&self, ds_path: &str) -> Result<()> {
        let file = self.file()?;
        let gpath = data_group_path(ds_path);
        if h5::exists(file, &hash_table_path(ds_path))? {
            bail!(
                CorruptFile,
                "'{gpath}' has a hash table but no raw_data: the stored data of '{ds_path}' is lost. Nothing was written. verify() lists the versions that map it; remove them (e.g. with Python versioned-hdf5's delete_versions) or copy the intact versions to a new file before writing '{ds_path}' again"
            );
        }
        let mut names: Vec<&str> = self.versions.keys().collect();
        names.sort();
        for name in names {
            let Some(obj) = version_dataset(file, name, ds_path)? else {
                continue;
            };
            // Mappings that cannot be read count as data: refusing is the safe side.
            let maps_data = match h5::read_mappings(&obj) {
                Ok(None) => false,
                Ok(Some((m, _))) => !m.is_empty(),
                Err(_) => true,
            };
            if maps_data {
                bail!(
                    CorruptFile,
                    "version '{name}' maps data of '{ds_path}' from '{gpath}/raw_data', which is missing: that data is lost. Nothing was written. Remove the versions that map it (verify() lists them; e.g. with Python versioned-hdf5's delete_versions) or copy the intact versions to a new file before writing '{ds_path}' again"
                );
            }
        }
        Ok(())
    }
}

/// The furthest `raw_data` rows the versions of `ds_path` map, from the storage mark
/// on its hash `table`, when the mark can be trusted: written by the last commit here
/// at the end of allocation `eoa` the file has now (nothing was added or rebuilt in
/// the file since, by anyone), with `raw_data`'s rows and `largest_index` as they
/// are, and within both (a mark past them is left to the scan, whose messages name
/// the version). Anything else (no mark, malformed, stale) is `None`: the scan runs.
fn trusted_mark(
    table: &Hid,
    ds_path: &str,
    eoa: u64,
    meta: &DatasetMeta,
    largest_index: u64,
) -> Option<RowUse> {
    if !h5::attr_exists(table, attr::STORAGE_MARK).ok()? {
        return None;
    }
    let AttrValue::IntArray(v) = h5::read_attr(table, attr::STORAGE_MARK).ok()? else {
        return None;
    };
    let &[start, end, rows, li, at] = v.as_slice() else {
        return None;
    };
    let [start, end, rows, li, at] = [start, end, rows, li, at].map(|x| u64::try_from(x).ok());
    let (start, end, rows, li, at) = (start?, end?, rows?, li?, at?);
    let raw_rows = meta.shape.first().copied().unwrap_or(0);
    let c0 = meta.chunks.first().copied().unwrap_or(0);
    let valid = at == eoa
        && rows == raw_rows
        && li == largest_index
        && start <= end
        && end <= raw_rows
        && end <= largest_index.saturating_mul(c0);
    valid.then(|| RowUse {
        start,
        end,
        by: format!("a version of '{ds_path}' (as the storage mark of the last commit says)"),
    })
}

/// A data group's fixed settings, read off its `raw_data`; `shape` is raw_data's own.
pub(crate) fn raw_meta(raw: &Hid, raw_path: &str) -> Result<DatasetMeta> {
    let dtype = h5::dtype_of(&h5::ds_type(raw)?)?;
    Ok(DatasetMeta {
        shape: h5::ds_shape(raw)?,
        chunks: chunks_attr(raw, &format!("'{raw_path}'"))?,
        fill: h5::ds_fill(raw, &dtype)?,
        filters: h5::ds_filters(raw)?,
        dtype,
    })
}

impl super::VersionedFile {
    /// How often this handle's storage check scanned every version's mappings of a
    /// path (where no storage mark could be trusted). Test builds only (feature
    /// `test-hooks`).
    #[cfg(feature = "test-hooks")]
    pub fn storage_scans_for_test(&self) -> u64 {
        self.lock_raw().storage_scans
    }

    /// Whether this handle's open took the committed versions from the version index
    /// file instead of reading every version group (docs/design/013-deep-histories.md).
    /// Test builds only (feature `test-hooks`).
    #[cfg(feature = "test-hooks")]
    pub fn opened_from_index_for_test(&self) -> bool {
        self.lock_raw().opened_from_index
    }
}
