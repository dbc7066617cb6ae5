//! The version table: every version group's name, parent, commit time and commit
//! state, by name and (committed ones) in time order.
//!
//! Deep histories have hundreds of thousands of versions, so the table holds no
//! allocation per version: names and parents live in one text buffer, records in
//! one vector, and the name index and the time order are vectors of record
//! numbers. Building it from the version index file is a few sequential passes, and
//! dropping it frees four buffers (a map of `String`s frees each of them, in an
//! order that misses the cache on every one: tens of milliseconds at 100,000).

use std::hash::BuildHasher;

use hashbrown::{DefaultHashBuilder, HashTable};

use super::VersionInfo;

/// One version (a record of the table), borrowed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct VersionRef<'a> {
    pub(crate) name: &'a str,
    pub(crate) prev_version: &'a str,
    pub(crate) timestamp: Option<i64>,
    pub(crate) committed: bool,
}

impl VersionRef<'_> {
    /// An owned copy.
    pub(crate) fn to_info(self) -> VersionInfo {
        VersionInfo {
            name: self.name.to_string(),
            prev_version: self.prev_version.to_string(),
            timestamp: self.timestamp,
            committed: self.committed,
        }
    }
}

impl<'a> From<&'a VersionInfo> for VersionRef<'a> {
    fn from(v: &'a VersionInfo) -> VersionRef<'a> {
        VersionRef {
            name: &v.name,
            prev_version: &v.prev_version,
            timestamp: v.timestamp,
            committed: v.committed,
        }
    }
}

#[derive(Clone, Copy)]
struct Rec {
    name: (u32, u32),
    prev: (u32, u32),
    timestamp: Option<i64>,
    committed: bool,
    removed: bool,
}

/// The versions of a file (see the module docs).
#[derive(Default)]
pub(crate) struct Versions {
    text: String,
    recs: Vec<Rec>,
    /// Live records by name.
    index: HashTable<u32>,
    hasher: DefaultHashBuilder,
    /// Committed live records by `(timestamp, name)`; an unknown time sorts first.
    time: Vec<u32>,
    live: usize,
}

fn text_of(text: &str, at: (u32, u32)) -> &str {
    &text[at.0 as usize..(at.0 + at.1) as usize]
}

/// The bytes of a name in `text`: what the name index hashes and compares (no
/// character-boundary checks on the way).
fn key_of(text: &str, at: (u32, u32)) -> &[u8] {
    &text.as_bytes()[at.0 as usize..(at.0 + at.1) as usize]
}

impl Versions {
    /// An empty table with room for `n` versions of `text` bytes of names.
    pub(crate) fn with_capacity(n: usize, text: usize) -> Versions {
        Versions {
            text: String::with_capacity(text),
            recs: Vec::with_capacity(n),
            index: HashTable::with_capacity(n),
            time: Vec::with_capacity(n),
            ..Versions::default()
        }
    }

    fn view(&self, i: u32) -> VersionRef<'_> {
        let r = &self.recs[i as usize];
        VersionRef {
            name: text_of(&self.text, r.name),
            prev_version: text_of(&self.text, r.prev),
            timestamp: r.timestamp,
            committed: r.committed,
        }
    }

    fn time_key(&self, i: u32) -> (i64, &str) {
        let r = &self.recs[i as usize];
        (r.timestamp.unwrap_or(i64::MIN), text_of(&self.text, r.name))
    }

    fn find(&self, name: &str) -> Option<u32> {
        let h = self.hasher.hash_one(name.as_bytes());
        let (text, recs) = (&self.text, &self.recs);
        self.index
            .find(h, |&i| {
                key_of(text, recs[i as usize].name) == name.as_bytes()
            })
            .copied()
    }

    /// Number of versions.
    pub(crate) fn len(&self) -> usize {
        self.live
    }

    pub(crate) fn get(&self, name: &str) -> Option<VersionRef<'_>> {
        self.find(name).map(|i| self.view(i))
    }

    pub(crate) fn contains_key(&self, name: &str) -> bool {
        self.find(name).is_some()
    }

    fn push_text(&mut self, s: &str) -> (u32, u32) {
        let at = (self.text.len() as u32, s.len() as u32);
        self.text.push_str(s);
        at
    }

    /// Adds a record at the end, without placing it in the time order (for
    /// [`push_loaded`](Self::push_loaded) and [`insert`](Self::insert)). Replaces a
    /// version of the same name. Returns the record's number.
    fn push(
        &mut self,
        name: &str,
        prev: &str,
        timestamp: Option<i64>,
        committed: bool,
    ) -> (u32, bool) {
        let replaced = self.remove_from_index(name);
        let i = self.recs.len() as u32;
        let rec = Rec {
            name: self.push_text(name),
            prev: self.push_text(prev),
            timestamp,
            committed,
            removed: false,
        };
        self.recs.push(rec);
        let h = self.hasher.hash_one(name.as_bytes());
        let (text, recs, hasher) = (&self.text, &self.recs, &self.hasher);
        self.index.insert_unique(h, i, |&j| {
            hasher.hash_one(key_of(text, recs[j as usize].name))
        });
        self.live += 1;
        (i, replaced)
    }

    /// Drops `name` from the name index (its record stays, marked removed); whether
    /// it was there. The caller fixes the time order.
    fn remove_from_index(&mut self, name: &str) -> bool {
        let h = self.hasher.hash_one(name.as_bytes());
        let (text, recs) = (&self.text, &self.recs);
        match self.index.find_entry(h, |&i| {
            key_of(text, recs[i as usize].name) == name.as_bytes()
        }) {
            Ok(e) => {
                let (i, _) = e.remove();
                self.recs[i as usize].removed = true;
                self.live -= 1;
                true
            }
            Err(_) => false,
        }
    }

    /// Adds a committed version read from the version index file, in the file's
    /// order; [`finish_loaded`](Self::finish_loaded) sorts the time order once.
    /// `false` (and nothing added) for a name already there.
    pub(crate) fn push_loaded(&mut self, name: &str, prev: &str, timestamp: i64) -> bool {
        let h = self.hasher.hash_one(name.as_bytes());
        let i = self.recs.len() as u32;
        let (text, recs, hasher) = (&self.text, &self.recs, &self.hasher);
        match self.index.entry(
            h,
            |&j| key_of(text, recs[j as usize].name) == name.as_bytes(),
            |&j| hasher.hash_one(key_of(text, recs[j as usize].name)),
        ) {
            hashbrown::hash_table::Entry::Occupied(_) => return false,
            hashbrown::hash_table::Entry::Vacant(v) => {
                v.insert(i);
            }
        }
        let rec = Rec {
            name: self.push_text(name),
            prev: self.push_text(prev),
            timestamp: Some(timestamp),
            committed: true,
            removed: false,
        };
        self.recs.push(rec);
        self.live += 1;
        self.time.push(i);
        true
    }

    /// Sorts the time order after [`push_loaded`](Self::push_loaded) (an index is
    /// written in time order and commits append in it, so this is usually one check).
    /// Whether it had to sort.
    pub(crate) fn finish_loaded(&mut self) -> bool {
        let recs = &self.recs;
        let sorted = self.time.windows(2).all(|w| {
            let (a, b) = (&recs[w[0] as usize], &recs[w[1] as usize]);
            // Loaded records all have a time; names are compared only on a tie.
            match a.timestamp.cmp(&b.timestamp) {
                std::cmp::Ordering::Less => true,
                std::cmp::Ordering::Greater => false,
                std::cmp::Ordering::Equal => self.time_key(w[0]) <= self.time_key(w[1]),
            }
        });
        if !sorted {
            self.rebuild_time();
        }
        !sorted
    }

    /// Adds a version read from its group, leaving the time order to one
    /// [`rebuild_time`](Self::rebuild_time) after all of them.
    pub(crate) fn add_unsorted(&mut self, info: &VersionInfo) {
        self.push(
            &info.name,
            &info.prev_version,
            info.timestamp,
            info.committed,
        );
    }

    /// Adds or replaces a version, keeping the time order.
    pub(crate) fn insert(&mut self, info: VersionInfo) {
        let (i, replaced) = self.push(
            &info.name,
            &info.prev_version,
            info.timestamp,
            info.committed,
        );
        if replaced {
            self.drop_removed_from_time();
        }
        if info.committed {
            let key = self.time_key(i);
            let at = self.time.partition_point(|&j| self.time_key(j) < key);
            self.time.insert(at, i);
        }
    }

    /// Removes a version; whether it was there.
    pub(crate) fn remove(&mut self, name: &str) -> bool {
        let Some(i) = self.find(name) else {
            return false;
        };
        self.remove_from_index(name);
        if self.recs[i as usize].committed {
            let key = self.time_key(i);
            let at = self.time.partition_point(|&j| self.time_key(j) < key);
            if self.time.get(at) == Some(&i) {
                self.time.remove(at);
            } else {
                self.drop_removed_from_time();
            }
        }
        true
    }

    /// Removes every version in `names` (one pass over the time order).
    pub(crate) fn remove_all<'a>(&mut self, names: impl IntoIterator<Item = &'a String>) {
        for n in names {
            self.remove_from_index(n);
        }
        self.drop_removed_from_time();
    }

    fn drop_removed_from_time(&mut self) {
        let recs = &self.recs;
        self.time.retain(|&i| !recs[i as usize].removed);
    }

    /// Sets the parent of `name` (when it is there).
    pub(crate) fn set_prev(&mut self, name: &str, prev: &str) {
        if let Some(i) = self.find(name) {
            let at = self.push_text(prev);
            self.recs[i as usize].prev = at;
        }
    }

    /// Sorts the time order anew from the records.
    pub(crate) fn rebuild_time(&mut self) {
        let mut t: Vec<u32> = (0..self.recs.len() as u32)
            .filter(|&i| {
                let r = &self.recs[i as usize];
                r.committed && !r.removed
            })
            .collect();
        t.sort_by(|&a, &b| self.time_key(a).cmp(&self.time_key(b)));
        self.time = t;
    }

    /// Every version, in no particular order.
    pub(crate) fn values(&self) -> impl Iterator<Item = VersionRef<'_>> {
        (0..self.recs.len() as u32)
            .filter(|&i| !self.recs[i as usize].removed)
            .map(|i| self.view(i))
    }

    /// Every version's name, in no particular order.
    pub(crate) fn keys(&self) -> impl Iterator<Item = &str> {
        self.values().map(|v| v.name)
    }

    /// Committed versions by `(timestamp, name)`, oldest first.
    pub(crate) fn by_time(
        &self,
    ) -> impl DoubleEndedIterator<Item = VersionRef<'_>> + ExactSizeIterator {
        self.time.iter().map(|&i| self.view(i))
    }

    /// Names of the committed versions, oldest first.
    pub(crate) fn names_by_time(&self) -> Vec<String> {
        self.by_time().map(|v| v.name.to_string()).collect()
    }

    /// The number of committed versions for which `pred(timestamp)` holds, when it
    /// holds for a prefix of the time order (a binary search).
    pub(crate) fn time_partition(&self, pred: impl Fn(i64) -> bool) -> usize {
        self.time.partition_point(|&i| pred(self.time_key(i).0))
    }

    /// The `k`-th committed version in time order.
    pub(crate) fn time_at(&self, k: usize) -> Option<VersionRef<'_>> {
        self.time.get(k).map(|&i| self.view(i))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(n: &str, p: &str, t: Option<i64>, committed: bool) -> VersionInfo {
        VersionInfo {
            name: n.into(),
            prev_version: p.into(),
            timestamp: t,
            committed,
        }
    }

    fn order(v: &Versions) -> Vec<&str> {
        v.by_time().map(|r| r.name).collect()
    }

    #[test]
    fn names_times_replacement_and_removal() {
        let mut v = Versions::default();
        v.insert(info("b", "a", Some(20), true));
        v.insert(info("a", "", Some(10), true));
        v.insert(info("c", "b", Some(20), true));
        v.insert(info("half", "c", Some(5), false));
        v.insert(info("untimed", "a", None, true));
        assert_eq!(v.len(), 5);
        assert_eq!(order(&v), ["untimed", "a", "b", "c"]);
        assert_eq!(v.get("b").map(|r| r.prev_version), Some("a"));
        assert!(!v.get("half").unwrap().committed);
        // Replacing a version moves it in the time order.
        v.insert(info("b", "a", Some(30), true));
        assert_eq!(v.len(), 5);
        assert_eq!(order(&v), ["untimed", "a", "c", "b"]);
        v.set_prev("c", "a");
        assert_eq!(v.get("c").unwrap().prev_version, "a");
        assert!(v.remove("a"));
        assert!(!v.remove("a"));
        assert!(v.get("a").is_none());
        assert_eq!(order(&v), ["untimed", "c", "b"]);
        v.remove_all(&["c".to_string(), "half".to_string()]);
        assert_eq!(order(&v), ["untimed", "b"]);
        assert_eq!(v.len(), 2);
        let mut names: Vec<&str> = v.keys().collect();
        names.sort();
        assert_eq!(names, ["b", "untimed"]);
        assert_eq!(v.time_partition(|t| t <= 30), 2);
        assert_eq!(v.time_partition(|t| t < 30), 1);
        assert_eq!(v.time_at(1).unwrap().name, "b");
        // Loading in file order sorts once.
        let mut l = Versions::with_capacity(3, 8);
        assert!(l.push_loaded("y", "x", 2));
        assert!(l.push_loaded("x", "", 1));
        assert!(!l.push_loaded("x", "", 3), "a repeated name is reported");
        l.finish_loaded();
        assert_eq!(order(&l), ["x", "y"]);
        // Many versions: the index grows and still finds each.
        let mut m = Versions::default();
        for i in 0..5000 {
            m.insert(info(&format!("v{i}"), "", Some(i), true));
        }
        assert!((0..5000).all(|i| m.get(&format!("v{i}")).unwrap().timestamp == Some(i)));
        assert_eq!(m.time_partition(|t| t < 2500), 2500);
    }
}
