//! Staging a version and committing it.
//!
//! A staged version is a tree held in memory over its parent: groups with their
//! attributes, and datasets that keep only the chunks written so far (edge-trimmed,
//! C order). A dataset created from data keeps that data whole, as given (a
//! [`SharedBytes`], not copied), and its chunks are cut from it only when they are
//! needed: when a write touches one, and at commit. Nothing touches the file until
//! [`StagedVersion::commit`], unless the written chunks go past the version's memory
//! budget: [`StagedVersion::spill`] then writes some ahead of the commit, inside the
//! journal transaction the commit ends (see `append`). Dropping or aborting a staged
//! version leaves the file exactly as it was.
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

mod append;
pub(crate) mod commit;
pub(crate) mod dataset;

pub use append::DEFAULT_MEMORY_BUDGET;
pub use dataset::{CreateOptions, SharedBytes};

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};

use crate::attrs::{set_attr, AttrValue, Attrs};
use crate::error::{bail, err, Result};
use crate::file::{walk_version, DatasetMeta, VersionInfo, VersionedFile};
use crate::hash::HashKind;
use crate::layout::{normalize_path, FIRST_VERSION};
use crate::stage::commit::commit_state;
use crate::stage::dataset::StagedDataset;
use crate::strings::StrPool;
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
    /// Bytes of written chunks the staged version keeps in memory (default
    /// [`DEFAULT_MEMORY_BUDGET`]); past it, chunks are written to the file ahead of the
    /// commit ([`StagedVersion::spill`]).
    pub memory_budget: Option<u64>,
}

#[derive(Debug)]
pub(crate) struct State {
    pub(crate) name: String,
    pub(crate) prev: String,
    pub(crate) make_current: bool,
    pub(crate) timestamp: Option<i64>,
    pub(crate) finished: bool,
    /// Set once the commit succeeded: later use is a write to a committed version.
    pub(crate) committed: bool,
    pub(crate) root_attrs: Attrs,
    pub(crate) groups: BTreeMap<String, Attrs>,
    pub(crate) datasets: BTreeMap<String, StagedDataset>,
    /// See [`StageOptions::memory_budget`].
    pub(crate) budget: u64,
}

/// A version being staged. All methods fail with `FILE_CLOSED` once it was committed
/// or aborted.
#[derive(Clone)]
pub struct StagedVersion {
    pub(crate) file: VersionedFile,
    pub(crate) state: Arc<Mutex<State>>,
}

/// What a path names in a staged version.
#[derive(Clone, Debug, PartialEq)]
pub enum StagedNode {
    /// A group.
    Group,
    /// A dataset with its current metadata.
    Dataset(DatasetMeta),
}

pub(crate) fn validate_version_name(name: &str) -> Result<()> {
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
                    spill: None,
                },
            );
        }
        if let Some(ts) = opts.timestamp {
            time::format_micros(ts)?;
        }
        g.begin_staging(name);
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
                budget: opts.memory_budget.unwrap_or(DEFAULT_MEMORY_BUDGET),
            })),
        })
    }
}

impl StagedVersion {
    pub(crate) fn lock(&self) -> Result<MutexGuard<'_, State>> {
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
        let attrs = attrs_mut(&mut st, &path)?;
        set_attr(attrs, key, value);
        Ok(())
    }

    /// Deletes an attribute; returns whether it existed.
    pub fn delete_attr(&self, path: &str, key: &str) -> Result<bool> {
        let path = normalize_path(path)?;
        let mut st = self.lock()?;
        let attrs = attrs_mut(&mut st, &path)?;
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

    /// Whether `path` names a group or dataset in the staged tree. Accepts relative
    /// paths (trailing `/` allowed) and absolute paths inside the file.
    pub fn has(&self, path: &str) -> Result<bool> {
        let st = self.lock()?;
        let Some(rel) = crate::layout::version_relative(&st.name, path) else {
            return Ok(false);
        };
        let path = normalize_path(&rel)?;
        Ok(path.is_empty() || st.groups.contains_key(&path) || st.datasets.contains_key(&path))
    }

    /// Abandons the staged version: nothing is written, and its name is free again.
    /// Chunks it wrote ahead of the commit ([`spill`](Self::spill)) are undone with
    /// the file's journal: the file is byte for byte as before staging began.
    pub fn abort(&self) {
        let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        if !st.finished {
            st.finished = true;
            st.datasets.clear();
            let mut f = self.file.lock();
            f.end_staging(&st.name);
            if f.spill_owner
                .as_ref()
                .is_some_and(|(id, _)| *id == self.id())
            {
                // On an error the handle is closed; the next open rolls back.
                let _ = f.roll_back_and_reopen();
            }
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
                budget: st.budget,
            }
        };
        let name = state.name.clone();
        // On the libhdf5 worker thread, which turns a panic into an error.
        let file = self.file.clone();
        let id = self.id();
        let result = crate::worker::run(move || commit_state(&file, state, id));
        {
            let mut f = self.file.lock();
            f.end_staging(&name);
            if f.spill_owner.as_ref().is_some_and(|(o, _)| *o == id) {
                if result.is_ok() {
                    f.spill_owner = None;
                } else {
                    // Chunks written ahead of the commit go with it (a failure that
                    // was an I/O fault was undone already).
                    let _ = f.roll_back_and_reopen();
                }
            }
        }
        if result.is_ok() {
            self.state
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .committed = true;
        }
        result
    }
}

/// The attributes of the version (`path` = `""`), a group or a dataset of the staged
/// tree.
fn attrs_mut<'a>(st: &'a mut State, path: &str) -> Result<&'a mut Attrs> {
    if path.is_empty() {
        return Ok(&mut st.root_attrs);
    }
    if let Some(d) = st.datasets.get_mut(path) {
        return Ok(&mut d.attrs);
    }
    match st.groups.get_mut(path) {
        Some(a) => Ok(a),
        None => bail!(NotFound, "version '{}' has nothing at '{path}'", st.name),
    }
}

pub(crate) fn ensure_parents(st: &mut State, path: &str, include_self: bool) -> Result<()> {
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

pub(crate) fn dataset_mut<'a>(st: &'a mut State, path: &str) -> Result<&'a mut StagedDataset> {
    let name = st.name.clone();
    match st.datasets.get_mut(path) {
        Some(d) => Ok(d),
        None => bail!(NotFound, "version '{name}' has no dataset '{path}'"),
    }
}

pub(crate) fn refuse_absolute(path: &str) -> Result<()> {
    if path.starts_with('/') {
        bail!(
            InvalidArgument,
            "'{path}' starts with '/': paths inside a version are relative to its root, as in 'group/name'"
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests;
