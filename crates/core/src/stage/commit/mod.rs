//! Committing a staged version, in three phases:
//! 1. under the file lock: settle each modified dataset's storage settings against the
//!    file (dtype, chunks, fill, filters, hash function) and its parent's chunk map;
//! 2. without the lock: hash every written chunk in parallel ([`hashing`]);
//! 3. under the lock: check that the storage may be appended to, deduplicate and
//!    append new slots ([`slots`]), create the version's objects ([`objects`]) while
//!    deferred slots are encoded on the pool, write the hash-table rows and
//!    `largest_index` ([`table`]), mark the version committed and flush: one journal
//!    transaction. Then the file's in-memory state records the commit.

pub(crate) mod hashing;
pub(crate) mod objects;
pub(crate) mod slots;
mod table;

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::attrs::{AttrValue, Attrs};
use crate::codec;
use crate::error::{bail, Result};
use crate::file::{ChunkMap, DatasetMeta, VersionInfo, VersionedFile};
use crate::file::{CommitRecord, DatasetFacts};
use crate::grid::{self, ChunkCoord};
use crate::h5::{self};
use crate::layout::version_group_path;
use crate::layout::{attr, raw_data_path, versions_path};
use crate::stage::commit::hashing::hash_chunks;
use crate::stage::commit::hashing::Chunks;
use crate::stage::commit::objects::finish_version;
use crate::stage::commit::objects::write_version;
use crate::stage::commit::slots::encode_slots;
use crate::stage::commit::slots::keep_for_cache;
use crate::stage::commit::slots::refresh_after_direct_writes;
use crate::stage::commit::slots::store_chunks;
use crate::stage::commit::slots::write_encoded;
use crate::stage::commit::slots::Deferred;
use crate::stage::commit::slots::SLOT_BATCH_BYTES;
use crate::stage::commit::table::apply_table_update;
use crate::stage::commit::table::TableUpdate;
use crate::stage::dataset::check_compatible;
use crate::stage::dataset::StagedDataset;
use crate::stage::State;
use crate::time;

pub(crate) enum Plan {
    Copy { from: String },
    Virtual { map: Arc<ChunkMap> },
}

/// Commits the staged version `st`. A write the file driver saw fail (a full disk, a
/// failing device) fails the commit with `NO_SPACE` / `IO_ERROR` and leaves the file
/// byte for byte as before it, with the handle ready for the next commit
/// ([`Inner::after_io_fault`](crate::file::Inner::after_io_fault)).
pub(crate) fn commit_state(file: &VersionedFile, st: State, id: usize) -> Result<VersionInfo> {
    let name = st.name.clone();
    commit_staged(file, st, id).map_err(|e| {
        let mut f = file.lock();
        let path = f.path.clone();
        let e = f
            .after_io_fault(&format!("committing version '{name}' to '{path}'"))
            .unwrap_or(e);
        if let Ok(fh) = f.file() {
            h5::release_writes(fh);
        }
        e
    })
}

fn commit_staged(file: &VersionedFile, st: State, id: usize) -> Result<VersionInfo> {
    // Phase 1 (file lock): settle each modified dataset's storage settings.
    let mut work: Vec<(String, StagedDataset)> = Vec::new();
    let mut copies: Vec<(String, StagedDataset)> = Vec::new();
    // Paths with no storage yet: their chunks need no deduplication check up front.
    let mut new_paths: std::collections::HashSet<String> = Default::default();
    {
        let mut f = file.lock();
        f.require_writable_by(Some(id))?;
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
    f.require_writable_by(Some(id))?;
    // Readers in other processes (or this one) finish their call first; they wait for
    // the commit point from here (docs/design/008-readers-and-writers.md).
    h5::hold_writes(f.file()?)?;
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
    let mut updates: Vec<TableUpdate> = Vec::new();
    // Deferred slots, with the index in `work` of their dataset.
    let mut deferred: Vec<(usize, Deferred)> = Vec::new();
    for (at, ((path, ds), chunks)) in work.iter_mut().zip(hashed).enumerate() {
        let (map, update, later) = store_chunks(&mut f, path, ds, chunks)?;
        updates.extend(update);
        deferred.extend(later.map(|d| (at, d)));
        let map = Arc::new(map);
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
                    InternalError,
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
        // Readers learn from the commits file what this checkpoint commits.
        h5::note_commit(
            f.file()?,
            h5::readers::CommitNote {
                name: st.name.clone(),
                prev: st.prev.clone(),
                timestamp: Some(timestamp),
                current: st.make_current,
            },
        )?;
        finish_version(&f, &st.name, st.make_current)?;
        // The transaction that held chunks written ahead of the commit is over.
        f.spill_owner = None;
        Ok(written)
    });
    let (group_attrs, written) = match res {
        Ok(w) => w,
        Err(e) => {
            // A write the driver saw fail: its journal undoes the whole transaction
            // (`commit_state`); writing the clean-up below first could end it instead.
            if f.file().ok().and_then(h5::io_fault).is_some() {
                return Err(e);
            }
            // Chunks written ahead of the commit: the caller undoes the whole
            // transaction from the journal (`StagedVersion::commit`).
            if f.spill_owner.is_some() {
                return Err(e);
            }
            // Leave no half-written version behind; slots appended above are recorded in
            // the hash tables and simply stay unreferenced.
            if let Ok(fh) = f.file() {
                if h5::exists(fh, &vpath).unwrap_or(false) {
                    let _ = h5::unlink(fh, &vpath);
                }
                if st.make_current {
                    let cur = f.current.clone();
                    if let Ok(vg) = h5::open_group(fh, &versions_path()) {
                        let _ = h5::write_attr(&vg, attr::CURRENT_VERSION, &AttrValue::Str(cur));
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
    // What the commit knows of the new version goes to the file's state: later stages
    // over it and reads of it need not read it back (see `walk_version`).
    let mut tree_datasets = BTreeMap::new();
    let mut facts = Vec::with_capacity(plans.len());
    for ((path, meta, _, plan), attrs) in plans.into_iter().zip(written) {
        tree_datasets.insert(path.clone(), (meta.clone(), attrs.clone()));
        let known = match plan {
            Plan::Virtual { map } => Some(DatasetFacts {
                raw_path: raw_data_path(&path),
                meta,
                attrs: Some(attrs),
                map: Some(map),
            }),
            // The copy maps what its source maps.
            Plan::Copy { from } => f.catalog.peek_dataset(&from, &path).map(|d| DatasetFacts {
                meta,
                raw_path: d.raw_path.clone(),
                attrs: Some(attrs),
                map: d.map.clone(),
            }),
        };
        facts.extend(known.map(|d| (path, d)));
    }
    let new_chunks = updates
        .into_iter()
        .flat_map(|u| {
            let raw_path = raw_data_path(&u.path);
            u.cache
                .into_iter()
                .map(move |(row, ext, bytes)| (raw_path.clone(), row, ext, bytes))
        })
        .collect();
    f.record_commit(CommitRecord {
        info: info.clone(),
        make_current: st.make_current,
        tree: (group_attrs, tree_datasets),
        datasets: facts,
        new_chunks,
    });
    Ok(info)
}
