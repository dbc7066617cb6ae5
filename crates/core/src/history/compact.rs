//! Compaction: the file rewritten into a sibling file holding only what is live, then
//! renamed over the original (docs/design/011-compaction.md). libhdf5 never gives
//! freed space back to the file system and keeps the bytes of freed objects (deleted
//! versions' chunks among them) in it; a copy of every live object into a new file
//! (`H5Ocopy`, which copies stored chunks as they are, and only the strings that
//! are referenced) is as small as the live data and holds nothing else.
//!
//! Crash safety: the copy is written, flushed, closed and synced under a temporary
//! name (`<file>.vh5-compact`) while the original stays as it was; the original is
//! then closed (its journal, empty after the last checkpoint, goes) and the copy
//! renamed over it, one atomic step. A kill before the rename leaves the original
//! and a stale temporary file (removed by the next `compact`); after it, the new
//! file, complete.

use std::path::{Path, PathBuf};

use crate::error::{bail, err, ErrorKind, Result};
use crate::file::{Inner, VersionedFile};
use crate::h5::{self, Hid};
use crate::history::{Progress, Ticker};
use crate::layout::{versions_path, VERSIONS, VERSION_DATA};

/// What [`VersionedFile::compact`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CompactStats {
    /// The file's size before, in bytes.
    pub bytes_before: u64,
    /// Its size after.
    pub bytes_after: u64,
}

/// The temporary file a compaction of `path` writes.
pub(crate) fn compact_path(path: &str) -> PathBuf {
    PathBuf::from(format!("{path}.vh5-compact"))
}

fn remove_if_there(p: &Path) -> Result<()> {
    match std::fs::remove_file(p) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => bail!(
            IoError,
            "removing the stale '{}' failed ({e}): remove it by hand, then compact again",
            p.display()
        ),
    }
}

/// Copies every attribute of `src` to `dst`.
fn copy_attrs(src: &Hid, dst: &Hid) -> Result<()> {
    for name in h5::attr_names(src)? {
        let v = h5::read_attr(src, &name)?;
        h5::write_new_attr(dst, &name, &v)?;
    }
    Ok(())
}

/// Writes the copy of the open file `g` into `tmp`: the root's attributes and
/// objects, `_version_data` object by object (each version group one step of
/// `progress`).
fn write_copy(g: &Inner, tmp: &str, progress: Option<&Progress>) -> Result<()> {
    let src = g.file()?;
    let dst = h5::file_open(tmp, h5::FileOpen::Exclusive)?;
    let src_root = h5::open_group(src, "/")?;
    let dst_root = h5::open_group(&dst, "/")?;
    copy_attrs(&src_root, &dst_root)?;
    let vd_src = h5::open_group(src, &format!("/{VERSION_DATA}"))?;
    let versions_src = h5::open_group(src, &versions_path())?;
    let data_children: Vec<String> = h5::list(&vd_src)?
        .into_iter()
        .filter(|n| n != VERSIONS)
        .collect();
    let version_names = h5::list(&versions_src)?;
    let mut ticker = Ticker::new(
        progress,
        (data_children.len() + version_names.len()) as u64 + 1,
    );
    for name in h5::list(&src_root)? {
        if name != VERSION_DATA {
            h5::copy_object(&src_root, &name, &dst_root, &name)?;
        }
    }
    let vd_dst = h5::create_group(&dst, &format!("/{VERSION_DATA}"))?;
    copy_attrs(&vd_src, &vd_dst)?;
    for name in &data_children {
        h5::copy_object(&vd_src, name, &vd_dst, name)?;
        ticker.tick();
    }
    let versions_dst = h5::create_group(&vd_dst, VERSIONS)?;
    copy_attrs(&versions_src, &versions_dst)?;
    for name in &version_names {
        h5::copy_object(&versions_src, name, &versions_dst, name)?;
        ticker.tick();
    }
    drop((versions_dst, vd_dst, dst_root));
    h5::file_flush(&dst)?;
    drop(dst);
    // The copy must be on disk before it replaces the original.
    std::fs::File::open(tmp)
        .and_then(|f| f.sync_all())
        .map_err(|e| err(ErrorKind::IoError, format!("syncing '{tmp}' failed: {e}")))?;
    ticker.tick();
    Ok(())
}

impl VersionedFile {
    /// Rewrites the file to the size of its live data: every object is copied into a
    /// sibling file (`<file>.vh5-compact`), which is then renamed over the original.
    /// A crash leaves the old file or the new one, each complete. `progress(done,
    /// total)` is called after each object copied. Refused while a version is being
    /// staged (`INVALID_ARGUMENT`).
    pub fn compact(&self, progress: Option<Progress>) -> Result<CompactStats> {
        let me = self.clone();
        crate::worker::run(move || me.compact_here(progress.as_ref()))
    }

    fn compact_here(&self, progress: Option<&Progress>) -> Result<CompactStats> {
        let mut g = self.lock();
        g.require_writable()?;
        if let Some(s) = g.staging.iter().next() {
            bail!(
                InvalidArgument,
                "version '{s}' is being staged: finish or abandon stageVersion before compacting"
            );
        }
        let path = g.path.clone();
        let tmp = compact_path(&path);
        let tmp_s = tmp.to_string_lossy().into_owned();
        remove_if_there(&tmp)?;
        remove_if_there(&h5::journal::journal_path(&tmp))?;
        remove_if_there(&h5::readers::commits_path(&tmp))?;
        let bytes_before = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
        // Nothing is flushed here: every operation of this handle ended in a flush, so
        // libhdf5's view is the committed state, and a kill before the rename leaves
        // the original byte for byte as it was (the journal undoes what opening it
        // wrote).
        let _ = h5::journal::take_last_fault();
        if let Err(e) = write_copy(&g, &tmp_s, progress) {
            let context = format!("compacting '{path}' (into '{tmp_s}')");
            let _ = remove_if_there(&tmp);
            let _ = remove_if_there(&h5::journal::journal_path(&tmp));
            let _ = remove_if_there(&h5::readers::commits_path(&tmp));
            if let Some(io) = g.after_io_fault(&context) {
                return Err(io);
            }
            // A failed write to the copy: the driver saw its cause (a full disk).
            if let Some(fault) = h5::journal::take_last_fault() {
                let mut io = fault.to_error(&context);
                io.message
                    .push_str(". The file is unchanged and the partial copy removed");
                return Err(io);
            }
            return Err(e);
        }
        // The original closes cleanly (its journal goes) before the copy takes its name:
        // a journal left next to the file would be applied to the new one.
        // The copy's own commits file (it was opened as a writer) is not the file's.
        remove_if_there(&h5::readers::commits_path(&tmp))?;
        // Readers in other processes drop what they know of the file before it is
        // replaced, and again once the copy has its name (they reopen it by path).
        h5::journal::new_generation(g.file()?)?;
        let generation = g.catalog.generation();
        let cache_bytes = g.chunks.capacity();
        g.forget_history();
        g.keep_open.clear();
        g.file = None;
        if let Some(k) = g.registered.take() {
            crate::file::writers().remove(&k);
        }
        if h5::journal::journal_path(Path::new(&path)).exists() {
            bail!(
                InternalError,
                "'{path}' kept its journal after closing; the compacted copy stays in '{tmp_s}' and the file is unchanged: open it again"
            );
        }
        std::fs::rename(&tmp, &path).map_err(|e| {
            err(
                ErrorKind::IoError,
                format!("renaming '{tmp_s}' over '{path}' failed ({e}); the file is unchanged: open it again"),
            )
        })?;
        if let Some(dir) = Path::new(&path).parent() {
            let dir = if dir.as_os_str().is_empty() {
                Path::new(".")
            } else {
                dir
            };
            if let Ok(d) = std::fs::File::open(dir) {
                let _ = d.sync_all();
            }
        }
        let mut fresh = Inner::open_fresh(&path, g.durability)?;
        h5::journal::new_generation(fresh.file()?)?;
        fresh.catalog.follow(generation);
        fresh.chunks.set_capacity(cache_bytes);
        *g = fresh;
        let bytes_after = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
        Ok(CompactStats {
            bytes_before,
            bytes_after,
        })
    }
}
