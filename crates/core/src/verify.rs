//! `verify`: checks that a file is sound — every committed version and everything its
//! datasets point at — and reports each problem with its location, without changing
//! the file.

use std::collections::{BTreeMap, HashSet};

use crate::error::Result;
use crate::file::{walk_version, VersionedFile};
use crate::h5;
use crate::hash::{HashKind, HASH_ATTR};
use crate::history::{Progress, Ticker};
use crate::layout::{data_group_path, version_group_path, DATA_VERSION, FIRST_VERSION};
use crate::layout::{raw_data_path, versions_path, RAW_DATA};
use crate::strings::{hash_elements, StrPool};

/// One finding of [`VersionedFile::verify`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    /// Where, as text: a version, `version:path`, `version:path chunk at [..] -> slot k`,
    /// or a data group `/_version_data/<path>` with its hash-table row or slot and the
    /// version that maps it.
    pub location: String,
    /// What is wrong.
    pub message: String,
    /// The version that refers to what is wrong (the first one, by name, when several
    /// do); `None` for a problem of no version (or a slot no version maps).
    pub version: Option<String>,
    /// The dataset's path, when the problem is in a dataset or its stored data.
    pub dataset: Option<String>,
    /// The slot of `raw_data` (also its hash-table row), when the problem is in one.
    pub slot: Option<u64>,
}

impl Problem {
    fn new(location: impl Into<String>, message: impl Into<String>) -> Problem {
        Problem {
            location: location.into(),
            message: message.into(),
            version: None,
            dataset: None,
            slot: None,
        }
    }

    /// Names the version, and the dataset when there is one.
    fn of(mut self, version: Option<&str>, dataset: Option<&str>) -> Problem {
        self.version = version.map(str::to_string);
        self.dataset = dataset.map(str::to_string);
        self
    }

    fn slot(mut self, slot: u64) -> Problem {
        self.slot = Some(slot);
        self
    }
}

/// The result of [`VersionedFile::verify`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Report {
    /// Committed versions checked.
    pub versions: usize,
    /// Version datasets checked.
    pub datasets: usize,
    /// Distinct stored chunks read and hashed.
    pub chunks: usize,
    /// Chunks whose hash could not be checked (generation-1 string hash tables).
    pub unchecked_chunks: usize,
    /// Problems that make data wrong or unreadable.
    pub problems: Vec<Problem>,
    /// Findings that lose no committed data (e.g. a version group left by an
    /// interrupted commit).
    pub warnings: Vec<Problem>,
}

impl Report {
    /// Whether no problem was found.
    pub fn ok(&self) -> bool {
        self.problems.is_empty()
    }
}

/// A stored slot as versions reference it.
struct SlotUse {
    extent: Vec<u64>,
    /// The first mapping of it met (`version:path chunk at [..]`).
    first_user: String,
    /// That mapping's version.
    version: String,
}

impl VersionedFile {
    /// Checks the whole file: `current_version` names a committed version; every
    /// version group is marked committed or not and has a timestamp; every
    /// `prev_version` resolves; every mapping of every committed version points at a
    /// whole hash-table row inside `raw_data` below `largest_index`, always with the
    /// same geometry; every stored chunk reads and its hash equals its hash-table row.
    /// Read-only; works on files opened `'r'`. Runs on the library's libhdf5 worker
    /// thread (see `worker`); blocks the caller until done.
    pub fn verify(&self) -> Result<Report> {
        self.verify_with_progress(None)
    }

    /// [`verify`](Self::verify), calling `progress(done, total)` (on the worker
    /// thread) as it goes: one step per version checked, then one per stored chunk
    /// read and hashed. `total` is the number of versions until the versions are
    /// checked, then grows once by the number of chunks they map.
    pub fn verify_with_progress(&self, progress: Option<Progress>) -> Result<Report> {
        let me = self.clone();
        crate::worker::run(move || me.verify_here(progress.as_ref()))
    }

    fn verify_here(&self, progress: Option<&Progress>) -> Result<Report> {
        let mut ticker = Ticker::new(progress, 0);
        let mut g = self.lock();
        g.file()?;
        let mut rep = Report::default();
        let mut unmarked_blake3: HashSet<String> = HashSet::new();
        if let Err(e) = g.current_committed() {
            rep.problems.push(Problem::new(versions_path(), e.message));
        }
        let mut names: Vec<String> = g.versions.keys().map(str::to_string).collect();
        names.sort();
        let mut uses: BTreeMap<String, BTreeMap<u64, SlotUse>> = BTreeMap::new();
        ticker.grow(names.len() as u64);
        for name in &names {
            ticker.tick();
            let Some(info) = g.versions.get(name).map(|v| v.to_info()) else {
                continue;
            };
            if !info.committed && g.unmarked.contains(name) {
                // Committed children mean it was committed once: damage, not an
                // interrupted commit (which writes committed = False first).
                let child = g
                    .versions
                    .values()
                    .filter(|c| c.committed && c.prev_version == *name)
                    .map(|c| c.name.to_string())
                    .min();
                let p = Problem::new(
                    name.clone(),
                    match &child {
                        Some(c) => format!("version group has no 'committed' attribute, although version '{c}' was committed on top of it: reading it is CORRUPT_FILE; if its data is whole, h5py can restore the attribute (attrs['committed'] = True)"),
                        None => "version group has no 'committed' attribute (a commit interrupted before it was marked?); it is not listed and can be deleted".into(),
                    },
                )
                .of(Some(name), None);
                if child.is_some() {
                    rep.problems.push(p);
                } else {
                    rep.warnings.push(p);
                }
                continue;
            }
            if !info.committed {
                rep.warnings.push(
                    Problem::new(name.clone(), "version group was never committed (an interrupted commit); it is not listed and can be deleted")
                        .of(Some(name), None),
                );
                continue;
            }
            rep.versions += 1;
            if info.timestamp.is_none() {
                rep.problems.push(
                    Problem::new(name.clone(), "version group has no readable 'timestamp' attribute: its commit time is unknown, so lookups by time (versionAt) fail; h5py can write one in the format 'YYYY-MM-DD HH:MM:SS.ffffff+0000'")
                        .of(Some(name), None),
                );
            }
            if info.prev_version != FIRST_VERSION
                && !g
                    .versions
                    .get(&info.prev_version)
                    .is_some_and(|p| p.committed)
            {
                rep.problems.push(
                    Problem::new(
                        name.clone(),
                        format!(
                            "prev_version '{}' is not a committed version",
                            info.prev_version
                        ),
                    )
                    .of(Some(name), None),
                );
            }
            let tree = match walk_version(&mut g, name, false) {
                Ok(t) => t,
                Err(e) => {
                    rep.problems.push(
                        Problem::new(
                            name.clone(),
                            format!("cannot read the version's tree: {}", e.message),
                        )
                        .of(Some(name), None),
                    );
                    continue;
                }
            };
            for (path, (meta, _)) in tree.1 {
                rep.datasets += 1;
                let loc = format!("{name}:{path}");
                let here = |location: String, message: String| {
                    Problem::new(location, message).of(Some(name), Some(&path))
                };
                let vds = match h5::open_group(g.file()?, &version_group_path(name))
                    .and_then(|vg| h5::open_dataset(&vg, &path))
                {
                    Ok(d) => d,
                    Err(e) => {
                        rep.problems.push(here(loc, e.message));
                        continue;
                    }
                };
                let mappings = match h5::read_mappings(&vds) {
                    Ok(Some((m, source))) => {
                        let want = raw_data_path(&path);
                        if let Some(s) = source
                            .filter(|s| s.trim_start_matches('/') != want.trim_start_matches('/'))
                        {
                            rep.problems
                                .push(here(loc.clone(), format!("maps '{s}' instead of '{want}'")));
                        }
                        m
                    }
                    Ok(None) => Vec::new(),
                    Err(e) => {
                        rep.problems.push(here(loc, e.message));
                        continue;
                    }
                };
                if let Err(e) = g.chunk_map(name, &path, &meta) {
                    rep.problems.push(here(loc.clone(), e.message));
                }
                if mappings.is_empty() {
                    continue;
                }
                // Load without the writer's repair: verify changes nothing.
                let dg = match g
                    .load_data_group(&path)
                    .map(|()| g.data_groups.get_mut(&path))
                {
                    Ok(Some(dg)) => dg,
                    Ok(None) => {
                        rep.problems.push(here(
                            loc,
                            "its raw_data is missing: the mapped data is lost".into(),
                        ));
                        continue;
                    }
                    Err(e) => {
                        // The table is an index over raw_data: a writer rebuilds it.
                        rep.warnings.push(here(
                            format!("{} (read for {loc})", data_group_path(&path)),
                            format!("hash table is damaged ({}); it is rebuilt from the stored chunks when the file is next opened for writing", e.message),
                        ));
                        continue;
                    }
                };
                let c0 = dg.meta.chunks[0];
                let raw_rows = h5::ds_shape(&dg.raw)?.first().copied().unwrap_or(0);
                let slots = uses.entry(path.clone()).or_default();
                for m in mappings {
                    let user = format!("{loc} chunk at {:?}", m.vstart);
                    // The slot the mapping points into (the one it starts in, when it
                    // does not start at a slot boundary).
                    let slot = m.src_row / c0;
                    let at = format!(
                        "{user} -> {} slot {slot} (hash-table row {slot})",
                        data_group_path(&path)
                    );
                    let here = |message: String| here(at.clone(), message).slot(slot);
                    if m.src_row % c0 != 0 {
                        rep.problems.push(here(format!(
                            "source row {} is not at a slot boundary",
                            m.src_row
                        )));
                        continue;
                    }
                    if slot >= dg.largest_index {
                        rep.problems.push(here(format!(
                            "source slot {slot} is at or past largest_index {}",
                            dg.largest_index
                        )));
                        continue;
                    }
                    if m.src_row + m.extent[0] > raw_rows {
                        rep.problems.push(here(format!(
                            "source rows {}..{} run past the end of raw_data ({raw_rows} rows)",
                            m.src_row,
                            m.src_row + m.extent[0]
                        )));
                        continue;
                    }
                    if m.extent.iter().zip(&dg.meta.chunks).any(|(e, c)| e > c) {
                        rep.problems.push(here(format!(
                            "extent {:?} is larger than a chunk {:?}",
                            m.extent, dg.meta.chunks
                        )));
                        continue;
                    }
                    match slots.get(&m.src_row) {
                        Some(u) if u.extent != m.extent => rep.problems.push(here(format!(
                            "slot {slot} (rows {}..) is used with extent {:?} here and {:?} by {}",
                            m.src_row, m.extent, u.extent, u.first_user
                        ))),
                        Some(_) => {}
                        None => {
                            slots.insert(
                                m.src_row,
                                SlotUse {
                                    extent: m.extent.clone(),
                                    first_user: user,
                                    version: name.clone(),
                                },
                            );
                        }
                    }
                }
            }
        }
        // Every referenced slot: its hash-table row, its bytes, its hash.
        let data_version = g.data_version;
        ticker.grow(uses.values().map(|s| s.len() as u64).sum::<u64>());
        for (path, slots) in uses {
            let loc = data_group_path(&path);
            let Ok(Some(dg)) = g
                .load_data_group(&path)
                .map(|()| g.data_groups.get_mut(&path))
            else {
                continue;
            };
            let table_len = h5::ds_shape(&dg.table)?.first().copied().unwrap_or(0);
            let rows = match h5::read_hash_rows(&dg.table, dg.largest_index.min(table_len)) {
                Ok(r) => r,
                Err(e) => {
                    let first = slots.values().next().map(|u| u.version.as_str());
                    rep.problems.push(
                        Problem::new(loc, format!("hash table unreadable: {}", e.message))
                            .of(first, Some(&path)),
                    );
                    continue;
                }
            };
            let c0 = dg.meta.chunks[0].max(1);
            // Row k of the table names slot k (rows k*c0 on): a row that starts
            // elsewhere is a hole (all zeros, as a failed commit of an older version
            // of this library could leave) or damage, and says nothing about slot k.
            for (k, r) in rows.iter().enumerate() {
                let want = k as u64 * c0;
                if r.start != want as i64 {
                    let user = slots.get(&want);
                    rep.problems.push(
                        Problem::new(
                            format!(
                                "{loc} hash-table row {k} (slot {k}, {})",
                                user.map_or_else(
                                    || "mapped by no committed version".to_string(),
                                    |u| format!("mapped by {}", u.first_user)
                                )
                            ),
                            format!(
                                "row names raw_data rows {}..{}, but row {k} is the row of slot {k} (rows {want}..{}): the table has a hole here (a failed commit's slot without its row?); a writable open does not repair it, Python versioned-hdf5's rebuild_hashtables() does",
                                r.start,
                                r.stop,
                                want + c0
                            ),
                        )
                        .of(user.map(|u| u.version.as_str()), Some(&path))
                        .slot(k as u64),
                    );
                }
            }
            let meta = dg.meta.clone();
            let kind = dg.hash;
            let trusted = !(meta.dtype.is_vlen() && data_version < DATA_VERSION);
            let raw_path = format!("{loc}/{RAW_DATA}");
            for (row, u) in slots {
                ticker.tick();
                let slot = row / c0;
                let at = format!(
                    "{loc} slot at row {row} (slot {slot}, hash-table row {slot}, mapped by {})",
                    u.first_user
                );
                let here = |message: String| {
                    Problem::new(at.clone(), message)
                        .of(Some(&u.version), Some(&path))
                        .slot(slot)
                };
                let Some((stop, hash)) = rows
                    .get(slot as usize)
                    .filter(|r| r.start == row as i64)
                    .map(|r| (r.stop, r.hash))
                else {
                    rep.problems.push(here(format!(
                        "hash-table row {slot} does not name this slot"
                    )));
                    continue;
                };
                if stop - row as i64 != u.extent[0] as i64 {
                    rep.problems.push(here(format!(
                        "hash-table row says {} rows, {} maps {}",
                        stop - row as i64,
                        u.first_user,
                        u.extent[0]
                    )));
                }
                let mut pool = StrPool::default();
                let bytes =
                    match g.read_stored_slot(&raw_path, &meta, row, &u.extent, Some(&mut pool)) {
                        Ok(b) => b,
                        Err(e) => {
                            rep.problems
                                .push(here(format!("unreadable: {}", e.message)));
                            continue;
                        }
                    };
                rep.chunks += 1;
                if !trusted {
                    rep.unchecked_chunks += 1;
                    continue;
                }
                let got = hash_elements(kind, &meta.dtype, &bytes, &pool, &u.extent);
                if got != hash
                    && kind == HashKind::Sha256
                    && hash_elements(HashKind::Blake3, &meta.dtype, &bytes, &pool, &u.extent)
                        == hash
                {
                    // Python's delete_versions and modify_metadata rewrite a hash table
                    // without the attribute that names our hash function.
                    if unmarked_blake3.insert(raw_path.clone()) {
                        rep.warnings.push(
                            Problem::new(raw_path.clone(), format!("its hash table holds {} hashes but lost the '{HASH_ATTR}' attribute that says so (Python's delete_versions and modify_metadata rewrite the table without it): the data is whole; new chunks are hashed with SHA-256 here, so they are not deduplicated against the old ones", HashKind::Blake3.name()))
                                .of(None, Some(&path)),
                        );
                    }
                } else if got != hash {
                    rep.problems.push(here(format!("stored chunk does not match its {} hash: the data changed after it was written", kind.name())));
                }
            }
        }
        // Chunks of a data group that could not be checked count as done.
        ticker.finish();
        Ok(rep)
    }
}
