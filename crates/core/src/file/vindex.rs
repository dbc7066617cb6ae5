//! The version index file `<file>.vh5-versions`: every committed version's name,
//! parent and commit time, so that an open need not read each version group's
//! attributes (docs/design/013, part 2).
//!
//! It is a cache, never the truth. The header carries the data file's stamp
//! ([`FileStamp`]: device, inode, length, modification and change times) as this
//! library's writer left it, and a hash of the records; an open trusts the records only
//! when the file's stamp, taken before anything wrote to it, is exactly that one. Any
//! other writer (h5py, Python versioned-hdf5, a copy over the file) changes the stamp,
//! and the open reads the version groups as before. A writer appends one record per
//! commit and rewrites the header; it writes the whole file anew (a sibling file renamed
//! over it) after an open that had to read the groups.
//!
//! Layout, little-endian: a header at byte 0 (`MAGIC`, dev, ino, length, mtime ns,
//! ctime ns, record count, records' byte length, 16 bytes of BLAKE3 over the records,
//! 8 bytes of BLAKE3 over the header before them), records from byte [`BODY`] on, each
//! `u32` name length, `u32` parent length, `i64` timestamp (µs), name, parent.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use super::versions::{VersionRef, Versions};
use crate::h5::FileStamp;

const MAGIC: &[u8; 8] = b"VH5VERS1";
const HEADER: usize = 88;
const BODY: u64 = 128;
/// Suffix of the index file beside the data file.
pub(crate) const SUFFIX: &str = ".vh5-versions";

/// The index file of the data file at `path`.
pub(crate) fn index_path(path: &Path) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(SUFFIX);
    PathBuf::from(s)
}

/// A writer's knowledge of the index file.
pub(crate) struct IndexState {
    /// Whether the file's records are exactly this handle's committed versions (then a
    /// commit appends one record; otherwise the next write rewrites the whole file).
    pub(crate) synced: bool,
    count: u64,
    body_len: u64,
    hasher: blake3::Hasher,
}

impl IndexState {
    /// Nothing known: the next write rewrites the whole file.
    pub(crate) fn unsynced() -> IndexState {
        IndexState {
            synced: false,
            count: 0,
            body_len: 0,
            hasher: blake3::Hasher::new(),
        }
    }
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    let mut w = [0u8; 8];
    w.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(w)
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    let mut w = [0u8; 4];
    w.copy_from_slice(&b[at..at + 4]);
    u32::from_le_bytes(w)
}

fn header(stamp: &FileStamp, st: &IndexState) -> [u8; HEADER] {
    let mut h = [0u8; HEADER];
    h[..8].copy_from_slice(MAGIC);
    let words = [
        stamp.dev,
        stamp.ino,
        stamp.size,
        stamp.mtime_ns as u64,
        stamp.ctime_ns as u64,
        st.count,
        st.body_len,
    ];
    for (i, w) in words.iter().enumerate() {
        h[8 + 8 * i..16 + 8 * i].copy_from_slice(&w.to_le_bytes());
    }
    h[64..80].copy_from_slice(&st.hasher.finalize().as_bytes()[..16]);
    let check = blake3::hash(&h[..80]);
    h[80..88].copy_from_slice(&check.as_bytes()[..8]);
    h
}

fn record(info: VersionRef<'_>, out: &mut Vec<u8>) {
    out.extend_from_slice(&(info.name.len() as u32).to_le_bytes());
    out.extend_from_slice(&(info.prev_version.len() as u32).to_le_bytes());
    out.extend_from_slice(&info.timestamp.unwrap_or(i64::MIN).to_le_bytes());
    out.extend_from_slice(info.name.as_bytes());
    out.extend_from_slice(info.prev_version.as_bytes());
}

/// Whether `versions` can be indexed: every one committed and timed (a damaged or
/// half-committed version group is left to the open's reading of the groups, which
/// reports it).
pub(crate) fn indexable<'a>(mut versions: impl Iterator<Item = VersionRef<'a>>) -> bool {
    versions.all(|v| v.committed && v.timestamp.is_some())
}

/// What a trusted index gives an open.
pub(crate) struct Loaded {
    pub(crate) versions: Versions,
    pub(crate) state: IndexState,
}

/// A name of a record as text: `None` when it is not UTF-8. Names are mostly ASCII,
/// whose check is cheaper than a general UTF-8 validation of a short string.
fn text(b: &[u8]) -> Option<&str> {
    if b.is_ascii() {
        // SAFETY: ASCII bytes are valid UTF-8.
        Some(unsafe { std::str::from_utf8_unchecked(b) })
    } else {
        std::str::from_utf8(b).ok()
    }
}

/// The index of the data file at `path`, when it was written for exactly `stamp`.
/// `None` for a missing, stale or damaged index (the caller reads the groups).
pub(crate) fn load(path: &Path, stamp: &FileStamp) -> Option<Loaded> {
    let bytes = std::fs::read(index_path(path)).ok()?;
    if bytes.len() < BODY as usize || &bytes[..8] != MAGIC {
        return None;
    }
    let h = &bytes[..HEADER];
    if blake3::hash(&h[..80]).as_bytes()[..8] != h[80..88] {
        return None;
    }
    let words: Vec<u64> = (0..7).map(|i| u64_at(h, 8 + 8 * i)).collect();
    let found = FileStamp {
        dev: words[0],
        ino: words[1],
        size: words[2],
        mtime_ns: words[3] as i64,
        ctime_ns: words[4] as i64,
    };
    if found != *stamp {
        return None;
    }
    let (count, body_len) = (words[5], words[6]);
    let body = bytes.get(BODY as usize..(BODY as usize).checked_add(body_len as usize)?)?;
    let mut hasher = blake3::Hasher::new();
    hasher.update(body);
    if hasher.finalize().as_bytes()[..16] != h[64..80] {
        return None;
    }
    let mut versions = Versions::with_capacity(count as usize, body.len());
    let mut at = 0usize;
    while at < body.len() {
        let fixed = body.get(at..at + 16)?;
        let (nl, pl) = (u32_at(fixed, 0) as usize, u32_at(fixed, 4) as usize);
        let t = u64_at(fixed, 8) as i64;
        let name = text(body.get(at + 16..at + 16 + nl)?)?;
        let prev = text(body.get(at + 16 + nl..at + 16 + nl + pl)?)?;
        at += 16 + nl + pl;
        if t == i64::MIN {
            return None;
        }
        if !versions.push_loaded(name, prev, t) {
            return None;
        }
    }
    if versions.len() as u64 != count {
        return None;
    }
    // An index out of time order (an earlier release wrote it so after an open that
    // read the groups) is rewritten in order by the next write.
    let sorted = !versions.finish_loaded();
    Some(Loaded {
        versions,
        state: IndexState {
            synced: sorted,
            count,
            body_len,
            hasher,
        },
    })
}

/// Writes the whole index of `versions` (in `order`) for `stamp`: a sibling file
/// renamed over the old one, so a reader sees one or the other.
pub(crate) fn write_full<'a>(
    path: &Path,
    stamp: &FileStamp,
    versions: impl Iterator<Item = VersionRef<'a>>,
) -> std::io::Result<IndexState> {
    let mut body = Vec::new();
    let mut count = 0;
    for v in versions {
        record(v, &mut body);
        count += 1;
    }
    let mut hasher = blake3::Hasher::new();
    hasher.update(&body);
    let st = IndexState {
        synced: true,
        count,
        body_len: body.len() as u64,
        hasher,
    };
    let mut out = vec![0u8; BODY as usize];
    out[..HEADER].copy_from_slice(&header(stamp, &st));
    out.extend_from_slice(&body);
    let target = index_path(path);
    let mut tmp = target.as_os_str().to_owned();
    tmp.push(".tmp");
    std::fs::write(&tmp, &out)?;
    std::fs::rename(&tmp, &target)?;
    Ok(st)
}

fn open_rw(path: &Path) -> std::io::Result<File> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .open(index_path(path))
}

/// Appends `info` to a synced index and says the file is now `stamp`. On an error the
/// index is left stale (its header is the old one) and `st` unsynced.
pub(crate) fn append(
    path: &Path,
    st: &mut IndexState,
    info: VersionRef<'_>,
    stamp: &FileStamp,
) -> std::io::Result<()> {
    let r = (|| {
        let f = open_rw(path)?;
        let mut rec = Vec::with_capacity(16 + info.name.len() + info.prev_version.len());
        record(info, &mut rec);
        f.write_all_at(&rec, BODY + st.body_len)?;
        st.hasher.update(&rec);
        st.body_len += rec.len() as u64;
        st.count += 1;
        f.write_all_at(&header(stamp, st), 0)
    })();
    if r.is_err() {
        st.synced = false;
    }
    r
}

/// Says a synced index's records describe the file as it is now, `stamp` (after a
/// write that changed no version: a close, `setCurrentVersion`).
pub(crate) fn restamp(path: &Path, st: &mut IndexState, stamp: &FileStamp) -> std::io::Result<()> {
    let r = open_rw(path).and_then(|f| f.write_all_at(&header(stamp, st), 0));
    if r.is_err() {
        st.synced = false;
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::file::VersionInfo;

    fn info(n: &str, p: &str, t: i64) -> VersionInfo {
        VersionInfo {
            name: n.into(),
            prev_version: p.into(),
            timestamp: Some(t),
            committed: true,
        }
    }

    #[test]
    fn round_trip_append_and_stale_stamps() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("f.h5");
        let s1 = FileStamp {
            dev: 1,
            ino: 2,
            size: 3,
            mtime_ns: 4,
            ctime_ns: 5,
        };
        let vs = [info("a", "__first_version__", 10), info("b", "a", 20)];
        let mut st = write_full(&data, &s1, vs.iter().map(VersionRef::from)).unwrap();
        let l = load(&data, &s1).unwrap();
        assert_eq!(l.versions.len(), 2);
        assert_eq!(
            l.versions.get("b").map(VersionRef::to_info),
            Some(vs[1].clone())
        );
        assert_eq!(l.versions.names_by_time(), ["a", "b"]);
        let s2 = FileStamp { size: 9, ..s1 };
        assert!(load(&data, &s2).is_none(), "another stamp is stale");
        append(&data, &mut st, (&info("c", "a", 15)).into(), &s2).unwrap();
        assert!(load(&data, &s1).is_none());
        let l = load(&data, &s2).unwrap();
        assert_eq!(l.versions.names_by_time(), ["a", "c", "b"]);
        assert_eq!(l.versions.get("c").unwrap().prev_version, "a");
        // Records out of time order are sorted, and the index is then to be rewritten
        // in order by the next write; written in order, it is taken as it is.
        assert!(!l.state.synced, "an append out of time order");
        let mut st = write_full(&data, &s2, l.versions.by_time()).unwrap();
        assert!(
            load(&data, &s2).unwrap().state.synced,
            "written in time order"
        );
        append(&data, &mut st, (&info("d", "b", 30)).into(), &s1).unwrap();
        let l = load(&data, &s1).unwrap();
        assert!(l.state.synced);
        assert_eq!(l.versions.names_by_time(), ["a", "c", "b", "d"]);
        // A damaged record is refused.
        let p = index_path(&data);
        let mut b = std::fs::read(&p).unwrap();
        let last = b.len() - 1;
        b[last] ^= 1;
        std::fs::write(&p, &b).unwrap();
        assert!(load(&data, &s2).is_none());
    }
}
