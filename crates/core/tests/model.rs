//! Model-based tests of the engine: random histories of create / write / resize / delete /
//! commit / abort / reopen on `VersionedFile` and `StagedVersion`, every read checked against
//! a dense in-memory model, and the deduplication properties of the format:
//!
//! - `histories_match_a_dense_model`: datasets of float64 / int32 / int64 / bool / UTF-8
//!   strings, 1-3 axes, random chunks, fill values and filters (fixed per path, as the file
//!   fixes them); writes of random selections (indices, negative indices, slices with steps
//!   and open / negative bounds, index lists on any axes, broadcast values); resizes of any
//!   axis; deletes and re-creates; staged reads; commits from the current version, from an
//!   older one (a branch) or from no parent, made current or not; aborts (the name is
//!   reusable, raw_data does not change); writes that must fail and change nothing; close
//!   and reopen. After each commit the new version and every older one read back in full;
//!   at the end `verify()` is clean and the file reopened read-only reads the same.
//! - `chunk_math_on_one_nd_dataset_matches_a_dense_model`: the same on one 2-3 axis dataset
//!   under long sequences of writes, resizes and reads over several versions.
//! - `identical_chunks_are_stored_once`: a version whose chunks repeat a few patterns stores
//!   each distinct (extent, content) once; later versions add exactly the new ones; the
//!   hash table has no duplicate hash.
//! - `raw_data_holds_exactly_the_distinct_chunks_that_are_not_all_fill`: after a random
//!   history, each path stores one slot per distinct (extent, content) among the chunks of
//!   its committed versions that are not entirely the fill value (README: "Chunks that were
//!   never written (or are entirely fill value) are not stored").
//! - `rewriting_a_committed_version_adds_no_slots`: staging, over any parent, exactly the
//!   content of an earlier version and committing it adds no raw_data slot.
//!
//! Cases per run: 192 + 128 + 160 + 64 + 64 (about 20-30 s in the debug profile on two
//! cores). Bugs found are kept as fixed regression tests at the end of the file.
//!
//! Each property prints its seed; replay a failure with
//! `PROPTEST_RNG_SEED=<seed> cargo test -p versioned-hdf5-core --test model <name>` and run
//! more cases with `PROPTEST_CASES=<n>`. Failures shrink and show the minimal history and
//! the engine calls it made. Nothing is persisted next to the sources.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "a failing test panics with what it found"
)]

mod common;
use common::*;

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::fmt::Debug;

use proptest::prelude::*;
use proptest::test_runner::{Config, RngSeed, TestCaseError, TestRunner};
use vh5::{
    AxisSel, Compression, CreateOptions, Dtype, Filters, HashKind, Mode, StageOptions,
    StagedVersion, Values, VersionedFile,
};

// ---- running properties -----------------------------------------------------------------------

/// Runs a property with a printed seed (`PROPTEST_RNG_SEED` fixes it, `PROPTEST_CASES`
/// overrides `default_cases`); no failure persistence files.
fn run_property<S>(
    name: &str,
    default_cases: u32,
    strategy: S,
    test: impl Fn(S::Value) -> Result<(), String>,
) where
    S: Strategy,
    S::Value: Debug,
{
    let seed: u64 = match std::env::var("PROPTEST_RNG_SEED") {
        Ok(s) => s.parse().expect("PROPTEST_RNG_SEED must be a u64"),
        Err(_) => {
            use std::hash::{BuildHasher, Hasher};
            let mut h = std::collections::hash_map::RandomState::new().build_hasher();
            h.write_u64(std::process::id() as u64);
            h.finish()
        }
    };
    let mut config = Config::default();
    if std::env::var("PROPTEST_CASES").is_err() {
        config.cases = default_cases;
    }
    config.rng_seed = RngSeed::Fixed(seed);
    config.failure_persistence = None;
    let cases = config.cases;
    eprintln!("{name}: PROPTEST_RNG_SEED={seed} PROPTEST_CASES={cases}");
    let mut runner = TestRunner::new(config);
    if let Err(e) = runner.run(&strategy, |v| test(v).map_err(TestCaseError::fail)) {
        panic!("{name} failed (seed {seed}; replay: PROPTEST_RNG_SEED={seed} PROPTEST_CASES={cases} cargo test -p versioned-hdf5-core --test model {name})\n{e}");
    }
}

trait Ctx<T> {
    fn ctx(self, what: impl FnOnce() -> String) -> Result<T, String>;
}
impl<T> Ctx<T> for vh5::Result<T> {
    fn ctx(self, what: impl FnOnce() -> String) -> Result<T, String> {
        self.map_err(|e| format!("{}: {} {}", what(), e.code(), e.message))
    }
}

// ---- element types and values ------------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Dt {
    F64,
    I32,
    I64,
    Bool,
    Str,
}

impl Dt {
    fn dtype(self) -> Dtype {
        match self {
            Dt::F64 => Dtype::Float64,
            Dt::I32 => Dtype::Int32,
            Dt::I64 => Dtype::Int64,
            Dt::Bool => Dtype::Bool,
            Dt::Str => Dtype::VlenString { utf8: true },
        }
    }
    fn size(self) -> usize {
        match self {
            Dt::F64 | Dt::I64 => 8,
            Dt::I32 => 4,
            Dt::Bool => 1,
            Dt::Str => 0,
        }
    }
}

const STRS: [&str; 8] = [
    "",
    "a",
    "b",
    "ab",
    "é",
    "日本語",
    "🙂x",
    "a longer string, past any small-string optimisation",
];

/// One element (its bytes; a string's UTF-8) that the raw generated number `r` stands for.
fn el(dt: Dt, r: i32) -> Vec<u8> {
    let special = (100..108).contains(&r).then(|| (r - 100) as usize);
    match dt {
        Dt::F64 => {
            let f = [
                f64::NAN,
                -0.0,
                f64::INFINITY,
                f64::NEG_INFINITY,
                0.5,
                -2.25,
                5e-324,
                f64::MAX,
            ];
            special.map_or(r as f64, |i| f[i]).to_le_bytes().to_vec()
        }
        Dt::I32 => {
            let f = [
                i32::MAX,
                i32::MIN,
                65536,
                -65537,
                1 << 30,
                123_456_789,
                -7,
                8,
            ];
            special.map_or(r, |i| f[i]).to_le_bytes().to_vec()
        }
        Dt::I64 => {
            let f = [
                i64::MAX,
                i64::MIN,
                (1 << 53) + 1,
                -(1 << 53) - 3,
                1 << 32,
                1,
                -1,
                0,
            ];
            special.map_or(r as i64, |i| f[i]).to_le_bytes().to_vec()
        }
        Dt::Bool => vec![r.rem_euclid(2) as u8],
        Dt::Str => STRS[r.rem_euclid(STRS.len() as i32) as usize]
            .as_bytes()
            .to_vec(),
    }
}

fn to_values(dt: Dt, els: &[Vec<u8>]) -> Values {
    if dt == Dt::Str {
        Values::Strings(els.to_vec())
    } else {
        Values::Raw(els.concat())
    }
}

fn from_values(dt: Dt, v: Values) -> Vec<Vec<u8>> {
    match v {
        Values::Raw(b) => b
            .chunks_exact(dt.size().max(1))
            .map(<[u8]>::to_vec)
            .collect(),
        Values::Strings(s) => s,
    }
}

fn show(dt: Dt, e: &[u8]) -> String {
    match dt {
        Dt::F64 => format!("{:?}", f64::from_le_bytes(e.try_into().unwrap())),
        Dt::I32 => format!("{}", i32::from_le_bytes(e.try_into().unwrap())),
        Dt::I64 => format!("{}", i64::from_le_bytes(e.try_into().unwrap())),
        Dt::Bool => format!("{}", e[0]),
        Dt::Str => format!("{:?}", String::from_utf8_lossy(e)),
    }
}

fn raw_arb() -> impl Strategy<Value = i32> {
    prop_oneof![6 => -3i32..=3, 2 => 100i32..108, 1 => -1_000_000i32..=1_000_000]
}

// ---- per-path settings ---------------------------------------------------------------------------

const PATHS: [&str; 3] = ["a", "g/b", "g/h/c"];

#[derive(Clone, Debug)]
struct Spec {
    path: &'static str,
    dt: Dt,
    chunks: Vec<u64>,
    fill_raw: i32,
    /// Pass the fill value explicitly (always, when it is not the default zero).
    explicit_fill: bool,
    compression: u8,
    level: u32,
    shuffle: bool,
    fletcher32: bool,
    sha256: bool,
}

impl Spec {
    fn fill(&self) -> Vec<u8> {
        if self.dt == Dt::Str {
            Vec::new()
        } else {
            el(self.dt, self.fill_raw)
        }
    }
    fn filters(&self) -> Filters {
        Filters {
            shuffle: self.shuffle,
            compression: match self.compression {
                1 => Compression::Gzip(self.level),
                2 => Compression::Lzf,
                _ => Compression::None,
            },
            fletcher32: self.fletcher32,
        }
    }
    fn create(&self, shape: Vec<u64>, data: Option<&[Vec<u8>]>) -> CreateOptions {
        let fill = self.fill();
        let default_fill = fill.iter().all(|&b| b == 0);
        CreateOptions {
            shape: Some(shape),
            dtype: Some(self.dt.dtype()),
            data: data.map(|d| to_values(self.dt, d)),
            chunks: Some(self.chunks.clone()),
            fill: (self.explicit_fill || !default_fill).then(|| to_values(self.dt, &[fill])),
            filters: self.filters(),
            hash: Some(if self.sha256 {
                HashKind::Sha256
            } else {
                HashKind::Blake3
            }),
        }
    }
}

fn spec_arb(path: &'static str, min_dim: usize) -> impl Strategy<Value = Spec> {
    (
        prop_oneof![
            Just(Dt::F64),
            Just(Dt::I32),
            Just(Dt::I64),
            Just(Dt::Bool),
            Just(Dt::Str)
        ],
        proptest::collection::vec(1u64..=4, min_dim..=3),
        raw_arb(),
        any::<bool>(),
        0u8..3,
        0u32..=9,
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(
            move |(
                dt,
                chunks,
                fill_raw,
                explicit_fill,
                compression,
                level,
                shuffle,
                fletcher32,
                sha256,
            )| Spec {
                path,
                dt,
                chunks,
                fill_raw,
                explicit_fill,
                compression,
                level,
                shuffle,
                // libhdf5 refuses Fletcher-32 on variable-length strings (regression test below).
                fletcher32: fletcher32 && dt != Dt::Str,
                sha256,
            },
        )
}

// ---- selections -------------------------------------------------------------------------------------

#[derive(Clone, Debug)]
enum Ax {
    All,
    Idx(u64, bool),
    Slice(Option<i64>, Option<i64>, i64),
    List(Vec<u64>, bool),
}

fn ax_arb() -> impl Strategy<Value = Ax> {
    prop_oneof![
        2 => Just(Ax::All),
        2 => (0u64..20, any::<bool>()).prop_map(|(r, n)| Ax::Idx(r, n)),
        3 => (proptest::option::of(-8i64..=8), proptest::option::of(-8i64..=8), 1i64..=3).prop_map(|(s, e, st)| Ax::Slice(s, e, st)),
        2 => (proptest::collection::vec(0u64..20, 0..4), any::<bool>()).prop_map(|(v, n)| Ax::List(v, n)),
    ]
}

fn sel_arb() -> impl Strategy<Value = Vec<Ax>> {
    proptest::collection::vec(ax_arb(), 0..=3)
}

/// The engine selection and the selected coordinates per axis (Python slice rules, negative
/// indices from the end, missing trailing axes = all). Writes get duplicate-free lists.
fn resolve(sel: &[Ax], shape: &[u64], write: bool) -> (Vec<AxisSel>, Vec<Vec<u64>>) {
    let mut out = Vec::new();
    let mut coords = Vec::new();
    for (i, &n) in shape.iter().enumerate() {
        let all: Vec<u64> = (0..n).collect();
        let Some(a) = sel.get(i) else {
            coords.push(all);
            continue;
        };
        let ni = n as i64;
        match a {
            Ax::Idx(r, neg) if n > 0 => {
                let j = r % n;
                out.push(AxisSel::Index(if *neg { j as i64 - ni } else { j as i64 }));
                coords.push(vec![j]);
            }
            Ax::Slice(s, e, step) => {
                let clamp = |v: i64| (if v < 0 { v + ni } else { v }).clamp(0, ni);
                let b = s.map_or(0, clamp);
                let e2 = e.map_or(ni, clamp);
                coords.push(
                    (b..e2.max(b))
                        .step_by(*step as usize)
                        .map(|x| x as u64)
                        .collect(),
                );
                out.push(AxisSel::Slice {
                    start: *s,
                    stop: *e,
                    step: *step,
                });
            }
            Ax::List(rs, neg) => {
                let mut c: Vec<u64> = if n == 0 {
                    Vec::new()
                } else {
                    rs.iter().map(|r| r % n).collect()
                };
                if write {
                    let mut seen = HashSet::new();
                    c.retain(|x| seen.insert(*x));
                }
                out.push(AxisSel::List(
                    c.iter()
                        .map(|&j| if *neg { j as i64 - ni } else { j as i64 })
                        .collect(),
                ));
                coords.push(c);
            }
            _ => {
                out.push(AxisSel::All);
                coords.push(all);
            }
        }
    }
    (out, coords)
}

/// Flat C-order positions of the selected elements, in selection order.
fn positions(coords: &[Vec<u64>], shape: &[u64]) -> Vec<usize> {
    let mut out = vec![0usize];
    for (i, c) in coords.iter().enumerate() {
        let stride: u64 = shape[i + 1..].iter().product();
        out = out
            .iter()
            .flat_map(|&b| c.iter().map(move |&x| b + (x * stride) as usize))
            .collect();
    }
    out
}

// ---- the model -----------------------------------------------------------------------------------------

#[derive(Clone, Debug)]
struct DsM {
    spec: usize,
    shape: Vec<u64>,
    data: Vec<Vec<u8>>,
}

type Tree = BTreeMap<&'static str, DsM>;

#[derive(Clone, Debug)]
struct VerM {
    name: String,
    prev: String,
    tree: Tree,
}

fn resized(m: &DsM, shape: &[u64], fill: &[u8]) -> Vec<Vec<u8>> {
    let mut out = vec![fill.to_vec(); shape.iter().product::<u64>() as usize];
    let overlap: Vec<Vec<u64>> = shape
        .iter()
        .zip(&m.shape)
        .map(|(&a, &b)| (0..a.min(b)).collect())
        .collect();
    for (f, t) in positions(&overlap, &m.shape)
        .into_iter()
        .zip(positions(&overlap, shape))
    {
        out[t] = m.data[f].clone();
    }
    out
}

/// Every chunk of a dataset: (extent, content in C order within the chunk, entirely fill).
fn chunks_of(m: &DsM, chunks: &[u64], fill: &[u8]) -> Vec<(Vec<u64>, Vec<Vec<u8>>, bool)> {
    let grid: Vec<u64> = m
        .shape
        .iter()
        .zip(chunks)
        .map(|(&n, &c)| n.div_ceil(c))
        .collect();
    let total: u64 = grid.iter().product();
    let mut out = Vec::new();
    for mut lin in 0..total {
        let mut k = vec![0u64; grid.len()];
        for i in (0..grid.len()).rev() {
            k[i] = lin % grid[i];
            lin /= grid[i];
        }
        let ext: Vec<u64> = (0..grid.len())
            .map(|i| chunks[i].min(m.shape[i] - k[i] * chunks[i]))
            .collect();
        let coords: Vec<Vec<u64>> = (0..grid.len())
            .map(|i| (k[i] * chunks[i]..k[i] * chunks[i] + ext[i]).collect())
            .collect();
        let content: Vec<Vec<u8>> = positions(&coords, &m.shape)
            .into_iter()
            .map(|p| m.data[p].clone())
            .collect();
        let all_fill = content.iter().all(|e| e.as_slice() == fill);
        out.push((ext, content, all_fill));
    }
    out
}

// ---- reading the file's storage directly ---------------------------------------------------------------

#[derive(hdf5::H5Type, Clone, Copy)]
#[repr(C)]
struct Row {
    hash: [u8; 32],
    shape: [i64; 2],
}

/// The hashes of a path's hash table, rows below largest_index.
fn table_hashes(file: &str, ds: &str) -> Vec<[u8; 32]> {
    let f = peek(file);
    let Ok(t) = f.dataset(&format!("_version_data/{ds}/hash_table")) else {
        return Vec::new();
    };
    let li: i64 = t.attr("largest_index").unwrap().read_scalar().unwrap();
    t.read_raw::<Row>()
        .unwrap()
        .into_iter()
        .take(li as usize)
        .map(|r| r.hash)
        .collect()
}

// ---- histories -----------------------------------------------------------------------------------------------

#[derive(Clone, Debug)]
enum Prev {
    Current,
    None,
    Pick(usize),
}

fn prev_arb() -> impl Strategy<Value = Prev> {
    prop_oneof![5 => Just(Prev::Current), 1 => Just(Prev::None), 3 => (0usize..8).prop_map(Prev::Pick)]
}

#[derive(Clone, Debug)]
enum Bad {
    OutOfBounds,
    Shape,
    Dtype,
}

#[derive(Clone, Debug)]
enum Op {
    /// Create (or replace) a path: dense with `Some(values)`, else sparse.
    Create {
        p: usize,
        shape: Vec<u64>,
        dense: Option<Vec<i32>>,
    },
    Write {
        p: usize,
        sel: Vec<Ax>,
        vals: Vec<i32>,
        broadcast: bool,
    },
    Resize {
        p: usize,
        shape: Vec<u64>,
    },
    Delete {
        p: usize,
    },
    Read {
        p: usize,
        sel: Vec<Ax>,
    },
    /// Commit, then stage the next version over `prev`, made current when committed or not.
    Commit {
        prev: Prev,
        make_current: bool,
    },
    /// Abort, then stage a version of the same name over the same parent.
    Abort,
    ReadCommitted {
        v: usize,
        p: usize,
        sel: Vec<Ax>,
    },
    /// Commit, close, reopen read-write.
    Reopen,
    Bad {
        p: usize,
        kind: Bad,
        sel: Vec<Ax>,
    },
}

fn op_arb(max_dim: u64, structural: bool) -> impl Strategy<Value = Op> {
    let shape = move || proptest::collection::vec(0u64..=max_dim, 3);
    let vals = || proptest::collection::vec(raw_arb(), 1..6);
    let s = if structural { 1 } else { 0 };
    prop_oneof![
        2 * s => (0usize..3, shape(), proptest::option::of(vals())).prop_map(|(p, shape, dense)| Op::Create { p, shape, dense }),
        8 => (0usize..3, sel_arb(), vals(), any::<bool>()).prop_map(|(p, sel, vals, broadcast)| Op::Write { p, sel, vals, broadcast }),
        5 => (0usize..3, proptest::collection::vec(0u64..=max_dim + 2, 3)).prop_map(|(p, shape)| Op::Resize { p, shape }),
        s => (0usize..3).prop_map(|p| Op::Delete { p }),
        4 => (0usize..3, sel_arb()).prop_map(|(p, sel)| Op::Read { p, sel }),
        3 => (prev_arb(), prop_oneof![3 => Just(true), 1 => Just(false)]).prop_map(|(prev, make_current)| Op::Commit { prev, make_current }),
        1 => Just(Op::Abort),
        2 => (0usize..8, 0usize..3, sel_arb()).prop_map(|(v, p, sel)| Op::ReadCommitted { v, p, sel }),
        s => Just(Op::Reopen),
        1 => (0usize..3, prop_oneof![Just(Bad::OutOfBounds), Just(Bad::Shape), Just(Bad::Dtype)], sel_arb()).prop_map(|(p, kind, sel)| Op::Bad { p, kind, sel }),
    ]
}

#[derive(Clone, Debug)]
struct History {
    specs: Vec<Spec>,
    /// The first version creates every path: (shape, dense values or sparse).
    initial: Vec<(Vec<u64>, Option<Vec<i32>>)>,
    ops: Vec<Op>,
}

fn history_arb(
    paths: usize,
    min_dim: usize,
    max_dim: u64,
    max_ops: usize,
    structural: bool,
) -> impl Strategy<Value = History> {
    let specs: Vec<_> = PATHS[..paths]
        .iter()
        .map(|&p| spec_arb(p, min_dim))
        .collect();
    let initial = proptest::collection::vec(
        (
            proptest::collection::vec(0u64..=max_dim, 3),
            proptest::option::of(proptest::collection::vec(raw_arb(), 1..6)),
        ),
        paths,
    );
    (
        specs,
        initial,
        proptest::collection::vec(op_arb(max_dim, structural), 1..max_ops),
    )
        .prop_map(|(specs, initial, ops)| History {
            specs,
            initial,
            ops,
        })
}

// ---- the runner -------------------------------------------------------------------------------------------------

const BASE_TS: i64 = 1_700_000_000_000_000;

struct World {
    _dir: tempfile::TempDir,
    file: String,
    vf: VersionedFile,
    specs: Vec<Spec>,
    /// Committed versions in commit order (timestamps increase with it).
    versions: Vec<VerM>,
    current: String,
    stage: StagedVersion,
    stage_name: String,
    stage_prev: String,
    stage_current: bool,
    staged: Tree,
    log: Vec<String>,
    /// Check every committed version after every commit (the dense-model property).
    thorough: bool,
    /// Every other version gets a memory budget of 0, so that each chunk is written to
    /// the file ahead of the commit as soon as it is written (`StagedVersion::spill`).
    spill: bool,
}

impl World {
    fn new(specs: Vec<Spec>, thorough: bool) -> Result<World, String> {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("m.h5").to_str().unwrap().to_string();
        let vf = VersionedFile::open(&file, Mode::Truncate).ctx(|| "open".into())?;
        let stage = vf
            .stage(
                "v0",
                StageOptions {
                    timestamp: Some(BASE_TS),
                    ..Default::default()
                },
            )
            .ctx(|| "stage v0".into())?;
        Ok(World {
            _dir: dir,
            file,
            vf,
            specs,
            versions: Vec::new(),
            current: "__first_version__".into(),
            stage,
            stage_name: "v0".into(),
            stage_prev: "__first_version__".into(),
            stage_current: true,
            staged: Tree::new(),
            log: vec!["stage('v0')".into()],
            thorough,
            spill: true,
        })
    }

    fn fail(&self, msg: String) -> String {
        let start = self.log.len().saturating_sub(60);
        format!(
            "{msg}\n--- engine calls ({} in all, last {}) ---\n{}",
            self.log.len(),
            self.log.len() - start,
            self.log[start..].join("\n")
        )
    }

    fn same(&self, got: &[Vec<u8>], want: &[Vec<u8>], dt: Dt, what: &str) -> Result<(), String> {
        if got.len() != want.len() {
            return Err(self.fail(format!(
                "{what}: {} elements, want {}",
                got.len(),
                want.len()
            )));
        }
        if let Some(i) = (0..got.len()).find(|&i| got[i] != want[i]) {
            let g: Vec<String> = got.iter().map(|e| show(dt, e)).collect();
            let w: Vec<String> = want.iter().map(|e| show(dt, e)).collect();
            return Err(self.fail(format!(
                "{what}: element {i} is {}, want {}\n got  {g:?}\n want {w:?}",
                g[i], w[i]
            )));
        }
        Ok(())
    }

    fn slot_counts(&self) -> Vec<u64> {
        self.specs
            .iter()
            .map(|s| slots(&self.file, s.path, s.chunks[0]))
            .collect()
    }

    /// The spec index an operation on `p` works on: among the staged datasets when any.
    fn pick(&self, p: usize) -> usize {
        let present: Vec<usize> = (0..self.specs.len())
            .filter(|&i| self.staged.contains_key(self.specs[i].path))
            .collect();
        if present.is_empty() {
            p % self.specs.len()
        } else {
            present[p % present.len()]
        }
    }

    fn create(&mut self, i: usize, shape: &[u64], dense: Option<&[i32]>) -> Result<(), String> {
        let spec = self.specs[i].clone();
        let shape: Vec<u64> = shape[..spec.chunks.len()].to_vec();
        let n = shape.iter().product::<u64>() as usize;
        let data: Vec<Vec<u8>> = match dense {
            Some(v) => (0..n).map(|k| el(spec.dt, v[k % v.len()])).collect(),
            None => vec![spec.fill(); n],
        };
        self.log.push(format!(
            "create_dataset('{}', shape {shape:?}, {})",
            spec.path,
            if dense.is_some() { "dense" } else { "sparse" }
        ));
        let meta = self
            .stage
            .create_dataset(
                spec.path,
                spec.create(shape.clone(), dense.map(|_| data.as_slice())),
            )
            .ctx(|| self.fail(format!("create_dataset('{}')", spec.path)))?;
        if meta.shape != shape {
            return Err(self.fail(format!("create_dataset returned shape {:?}", meta.shape)));
        }
        self.staged.insert(
            spec.path,
            DsM {
                spec: i,
                shape,
                data,
            },
        );
        Ok(())
    }

    fn check_staged(&self, path: &str) -> Result<(), String> {
        let m = &self.staged[path];
        let dt = self.specs[m.spec].dt;
        let (v, shape) = self
            .stage
            .read(path, &[])
            .ctx(|| self.fail(format!("staged read of '{path}'")))?;
        if shape != m.shape {
            return Err(self.fail(format!(
                "staged '{path}' has shape {shape:?}, want {:?}",
                m.shape
            )));
        }
        self.same(
            &from_values(dt, v),
            &m.data,
            dt,
            &format!("staged '{path}' {:?}", m.shape),
        )
    }

    fn check_version(&self, vf: &VersionedFile, vm: &VerM, what: &str) -> Result<(), String> {
        let info = vf
            .version(&vm.name)
            .ctx(|| self.fail(format!("{what}: version('{}')", vm.name)))?;
        if info.prev_version != vm.prev {
            return Err(self.fail(format!(
                "{what}: '{}' has prev_version '{}', want '{}'",
                vm.name, info.prev_version, vm.prev
            )));
        }
        let paths = vf
            .dataset_paths(&vm.name)
            .ctx(|| self.fail(format!("{what}: dataset_paths('{}')", vm.name)))?;
        let want: Vec<&str> = vm.tree.keys().copied().collect();
        if paths != want {
            return Err(self.fail(format!(
                "{what}: '{}' has datasets {paths:?}, want {want:?}",
                vm.name
            )));
        }
        for (path, m) in &vm.tree {
            let spec = &self.specs[m.spec];
            let (v, shape) = vf
                .read(&vm.name, path, &[])
                .ctx(|| self.fail(format!("{what}: read('{}', '{path}')", vm.name)))?;
            if shape != m.shape {
                return Err(self.fail(format!(
                    "{what}: '{}' '{path}' has shape {shape:?}, want {:?}",
                    vm.name, m.shape
                )));
            }
            self.same(
                &from_values(spec.dt, v),
                &m.data,
                spec.dt,
                &format!("{what}: '{}' '{path}'", vm.name),
            )?;
            match vf
                .node(&vm.name, path)
                .ctx(|| self.fail(format!("{what}: node('{path}')")))?
            {
                vh5::Node::Dataset(meta) => {
                    let want_fill = if spec.dt == Dt::Str {
                        Dtype::VlenString { utf8: true }.zero()
                    } else {
                        spec.fill()
                    };
                    if meta.chunks != spec.chunks
                        || meta.dtype != spec.dt.dtype()
                        || meta.filters != spec.filters()
                        || meta.fill != want_fill
                    {
                        return Err(self.fail(format!(
                            "{what}: '{}' '{path}' metadata {meta:?}, want {spec:?}",
                            vm.name
                        )));
                    }
                }
                vh5::Node::Group => return Err(self.fail(format!("{what}: '{path}' is a group"))),
            }
        }
        Ok(())
    }

    fn check_all(&self, vf: &VersionedFile, what: &str) -> Result<(), String> {
        let names: Vec<String> = self.versions.iter().map(|v| v.name.clone()).collect();
        let got = vf.versions().ctx(|| self.fail("versions()".into()))?;
        if got != names {
            return Err(self.fail(format!("{what}: versions() is {got:?}, want {names:?}")));
        }
        if vf
            .current_version()
            .ctx(|| self.fail("current_version()".into()))?
            != self.current
        {
            return Err(self.fail(format!("{what}: current version is not '{}'", self.current)));
        }
        for vm in &self.versions {
            self.check_version(vf, vm, what)?;
        }
        Ok(())
    }

    fn start_stage(&mut self, name: String, prev: &Prev, make_current: bool) -> Result<(), String> {
        let (opt, prev_name) = match prev {
            Prev::Current => (None, self.current.clone()),
            Prev::None => (Some(String::new()), "__first_version__".to_string()),
            Prev::Pick(i) if !self.versions.is_empty() => {
                let n = self.versions[i % self.versions.len()].name.clone();
                (Some(n.clone()), n)
            }
            Prev::Pick(_) => (None, self.current.clone()),
        };
        self.log.push(format!(
            "stage('{name}', prev {opt:?}, make_current {make_current}) over '{prev_name}'"
        ));
        let ts = BASE_TS + 1000 * (self.versions.len() as i64 + 1);
        self.stage = self
            .vf
            .stage(
                &name,
                StageOptions {
                    prev_version: opt.clone(),
                    make_current: if make_current { None } else { Some(false) },
                    timestamp: Some(ts),
                    // Reads, writes and resizes then go through chunks written ahead
                    // of the commit (see `World::spill`).
                    memory_budget: Some(if self.spill && ts % 2 == 0 {
                        0
                    } else {
                        64 << 20
                    }),
                },
            )
            .ctx(|| self.fail(format!("stage('{name}')")))?;
        if self.stage.prev_version() != prev_name {
            return Err(self.fail(format!(
                "stage('{name}') has prev '{}', want '{prev_name}'",
                self.stage.prev_version()
            )));
        }
        self.staged = if prev_name == "__first_version__" {
            Tree::new()
        } else {
            self.versions
                .iter()
                .find(|v| v.name == prev_name)
                .unwrap()
                .tree
                .clone()
        };
        self.stage_name = name;
        self.stage_prev = prev_name;
        self.stage_current = make_current;
        Ok(())
    }

    fn commit(&mut self) -> Result<(), String> {
        self.log.push(format!("commit('{}')", self.stage_name));
        let info = self
            .stage
            .commit()
            .ctx(|| self.fail(format!("commit('{}')", self.stage_name)))?;
        if info.name != self.stage_name || info.prev_version != self.stage_prev {
            return Err(self.fail(format!("commit returned {info:?}")));
        }
        if self.stage_current {
            self.current = self.stage_name.clone();
        }
        let vm = VerM {
            name: self.stage_name.clone(),
            prev: self.stage_prev.clone(),
            tree: std::mem::take(&mut self.staged),
        };
        self.versions.push(vm);
        if self.thorough {
            // The new version, and every earlier one, read back in full.
            self.check_all(&self.vf, &format!("after committing '{}'", self.stage_name))?;
        } else {
            self.check_version(&self.vf, self.versions.last().unwrap(), "just committed")?;
        }
        Ok(())
    }

    fn op(&mut self, op: &Op) -> Result<(), String> {
        match op {
            Op::Create { p, shape, dense } => {
                let i = *p % self.specs.len();
                self.create(i, shape, dense.as_deref())?;
                self.check_staged(self.specs[i].path)
            }
            Op::Write {
                p,
                sel,
                vals,
                broadcast,
            } => {
                let i = self.pick(*p);
                let spec = self.specs[i].clone();
                let Some(m) = self.staged.get(spec.path) else {
                    return self.absent(spec.path);
                };
                let (s, coords) = resolve(sel, &m.shape, true);
                let pos = positions(&coords, &m.shape);
                let els: Vec<Vec<u8>> = if *broadcast {
                    vec![el(spec.dt, vals[0])]
                } else {
                    (0..pos.len())
                        .map(|k| el(spec.dt, vals[k % vals.len()]))
                        .collect()
                };
                self.log.push(format!(
                    "write('{}' {:?}, {s:?}, {} values)",
                    spec.path,
                    m.shape,
                    els.len()
                ));
                self.stage
                    .write(spec.path, &s, &to_values(spec.dt, &els))
                    .ctx(|| self.fail(format!("write('{}')", spec.path)))?;
                self.stage
                    .spill()
                    .ctx(|| self.fail(format!("spill after write('{}')", spec.path)))?;
                let m = self.staged.get_mut(spec.path).unwrap();
                for (k, &q) in pos.iter().enumerate() {
                    m.data[q] = if *broadcast {
                        els[0].clone()
                    } else {
                        els[k].clone()
                    };
                }
                self.check_staged(spec.path)
            }
            Op::Resize { p, shape } => {
                let i = self.pick(*p);
                let spec = self.specs[i].clone();
                let Some(m) = self.staged.get(spec.path) else {
                    return self.absent(spec.path);
                };
                let shape: Vec<u64> = shape[..m.shape.len()].to_vec();
                self.log
                    .push(format!("resize('{}' {:?}, {shape:?})", spec.path, m.shape));
                let meta = self
                    .stage
                    .resize(spec.path, &shape)
                    .ctx(|| self.fail(format!("resize('{}')", spec.path)))?;
                self.stage
                    .spill()
                    .ctx(|| self.fail(format!("spill after resize('{}')", spec.path)))?;
                if meta.shape != shape {
                    return Err(self.fail(format!("resize returned shape {:?}", meta.shape)));
                }
                let m = self.staged.get_mut(spec.path).unwrap();
                m.data = resized(m, &shape, &spec.fill());
                m.shape = shape;
                self.check_staged(spec.path)
            }
            Op::Delete { p } => {
                let path = self.specs[*p % self.specs.len()].path;
                self.log.push(format!("delete('{path}')"));
                let r = self.stage.delete(path);
                if self.staged.remove(path).is_some() {
                    r.ctx(|| self.fail(format!("delete('{path}')")))?;
                } else if r.as_ref().map_err(vh5::Error::code) != Err("NOT_FOUND") {
                    return Err(self.fail(format!(
                        "delete('{path}') of a missing dataset gave {:?}, want NOT_FOUND",
                        r.map_err(|e| e.code())
                    )));
                }
                Ok(())
            }
            Op::Read { p, sel } => {
                let i = self.pick(*p);
                let spec = self.specs[i].clone();
                let Some(m) = self.staged.get(spec.path) else {
                    return self.absent(spec.path);
                };
                let (s, coords) = resolve(sel, &m.shape, false);
                let want: Vec<Vec<u8>> = positions(&coords, &m.shape)
                    .into_iter()
                    .map(|q| m.data[q].clone())
                    .collect();
                let what = format!("staged read('{}' {:?}, {s:?})", spec.path, m.shape);
                self.log.push(what.clone());
                let (v, _) = self
                    .stage
                    .read(spec.path, &s)
                    .ctx(|| self.fail(what.clone()))?;
                self.same(&from_values(spec.dt, v), &want, spec.dt, &what)
            }
            Op::Commit { prev, make_current } => {
                self.commit()?;
                let name = format!("v{}", self.versions.len());
                self.start_stage(name, prev, *make_current)
            }
            Op::Abort => {
                let before = self.slot_counts();
                self.log.push(format!("abort('{}')", self.stage_name));
                self.stage.abort();
                if self
                    .stage
                    .write(PATHS[0], &[], &Values::Raw(Vec::new()))
                    .is_ok()
                {
                    return Err(self.fail("an aborted stage accepted a write".into()));
                }
                if self.slot_counts() != before {
                    return Err(self.fail(format!(
                        "abort changed raw_data: {before:?} -> {:?}",
                        self.slot_counts()
                    )));
                }
                self.check_all(&self.vf, "after abort")?;
                // The name is free again: stage it over the same parent.
                let prev = if self.stage_prev == "__first_version__" {
                    Prev::None
                } else {
                    Prev::Pick(
                        self.versions
                            .iter()
                            .position(|v| v.name == self.stage_prev)
                            .unwrap(),
                    )
                };
                self.start_stage(self.stage_name.clone(), &prev, self.stage_current)
            }
            Op::ReadCommitted { v, p, sel } => {
                if self.versions.is_empty() {
                    return Ok(());
                }
                let vm = &self.versions[v % self.versions.len()];
                let spec = &self.specs[p % self.specs.len()];
                let Some(m) = vm.tree.get(spec.path) else {
                    return match self.vf.read(&vm.name, spec.path, &[]) {
                        Err(e) if e.code() == "NOT_FOUND" => Ok(()),
                        other => Err(self.fail(format!(
                            "read of '{}' missing from '{}' gave {:?}",
                            spec.path,
                            vm.name,
                            other.map(|_| ()).map_err(|e| e.code())
                        ))),
                    };
                };
                let (s, coords) = resolve(sel, &m.shape, false);
                let want: Vec<Vec<u8>> = positions(&coords, &m.shape)
                    .into_iter()
                    .map(|q| m.data[q].clone())
                    .collect();
                let what = format!("read('{}', '{}' {:?}, {s:?})", vm.name, spec.path, m.shape);
                self.log.push(what.clone());
                let (got, _) = self
                    .vf
                    .read(&vm.name, spec.path, &s)
                    .ctx(|| self.fail(what.clone()))?;
                self.same(&from_values(spec.dt, got), &want, spec.dt, &what)
            }
            Op::Reopen => {
                self.commit()?;
                self.log.push("close(), open('r+')".into());
                self.vf.close().ctx(|| self.fail("close".into()))?;
                if self.vf.versions().map_err(|e| e.code()) != Err("FILE_CLOSED") {
                    return Err(
                        self.fail("versions() after close() did not fail with FILE_CLOSED".into())
                    );
                }
                self.vf = VersionedFile::open(&self.file, Mode::ReadWrite)
                    .ctx(|| self.fail("reopen".into()))?;
                self.check_all(&self.vf, "reopened")?;
                let name = format!("v{}", self.versions.len());
                self.start_stage(name, &Prev::Current, true)
            }
            Op::Bad { p, kind, sel } => {
                let i = self.pick(*p);
                let spec = self.specs[i].clone();
                let Some(m) = self.staged.get(spec.path) else {
                    return Ok(());
                };
                let (s, code, data) = match kind {
                    Bad::OutOfBounds => {
                        let axis = sel.len() % m.shape.len();
                        let mut s: Vec<AxisSel> = vec![AxisSel::All; m.shape.len()];
                        s[axis] = AxisSel::Index(m.shape[axis] as i64);
                        (s, "OUT_OF_BOUNDS", to_values(spec.dt, &[spec.fill()]))
                    }
                    Bad::Shape => {
                        let (s, coords) = resolve(sel, &m.shape, true);
                        let n = positions(&coords, &m.shape).len();
                        let len = if n == 0 { 2 } else { n + 1 };
                        (
                            s,
                            "SHAPE_MISMATCH",
                            to_values(spec.dt, &vec![spec.fill(); len]),
                        )
                    }
                    Bad::Dtype => {
                        let (s, coords) = resolve(sel, &m.shape, true);
                        let n = positions(&coords, &m.shape).len().max(1);
                        let data = if spec.dt == Dt::Str {
                            Values::Raw(vec![0; 8 * n])
                        } else {
                            Values::Strings(vec![b"x".to_vec(); n])
                        };
                        (s, "DTYPE_MISMATCH", data)
                    }
                };
                self.log.push(format!(
                    "write('{}' {:?}, {s:?}, bad data) must fail with {code}",
                    spec.path, m.shape
                ));
                match self.stage.write(spec.path, &s, &data) {
                    Err(e) if e.code() == code => self.check_staged(spec.path),
                    other => Err(self.fail(format!(
                        "bad write gave {:?}, want {code}",
                        other.map_err(|e| (e.code(), e.message))
                    ))),
                }
            }
        }
    }

    fn absent(&self, path: &str) -> Result<(), String> {
        match self.stage.has(path) {
            Ok(false) => Ok(()),
            other => Err(self.fail(format!("has('{path}') of a missing dataset: {other:?}"))),
        }
    }

    /// Runs a history: the first version creates every path, then the ops; the last staged
    /// version is committed.
    fn run(h: &History, thorough: bool) -> Result<World, String> {
        World::run_with(h, thorough, true)
    }

    /// [`run`](Self::run), with or without versions that spill (see `World::spill`).
    fn run_with(h: &History, thorough: bool, spill: bool) -> Result<World, String> {
        let mut w = World::new(h.specs.clone(), thorough)?;
        w.spill = spill;
        w.log.push(format!("specs {:?}", h.specs));
        for (i, (shape, dense)) in h.initial.iter().enumerate() {
            w.create(i, shape, dense.as_deref())?;
        }
        for op in &h.ops {
            w.op(op)?;
        }
        w.commit()?;
        Ok(w)
    }

    /// verify() is clean and counts the model's versions and datasets; the file reopened
    /// read-only reads the same.
    fn finish(mut self) -> Result<(), String> {
        self.check_all(&self.vf, "final")?;
        let rep = self.vf.verify().ctx(|| self.fail("verify".into()))?;
        let datasets: usize = self.versions.iter().map(|v| v.tree.len()).sum();
        if !rep.ok()
            || !rep.warnings.is_empty()
            || rep.versions != self.versions.len()
            || rep.datasets != datasets
        {
            return Err(self.fail(format!(
                "verify(): {rep:?}, want ok with {} versions and {datasets} datasets",
                self.versions.len()
            )));
        }
        self.vf.close().ctx(|| self.fail("close".into()))?;
        self.vf =
            VersionedFile::open(&self.file, Mode::Read).ctx(|| self.fail("open 'r'".into()))?;
        self.check_all(&self.vf, "reopened read-only")?;
        Ok(())
    }
}

// ---- the properties -----------------------------------------------------------------------------------------------

#[test]
fn histories_match_a_dense_model() {
    run_property(
        "histories_match_a_dense_model",
        192,
        history_arb(3, 1, 6, 40, true),
        |h| World::run(&h, true)?.finish(),
    );
}

#[test]
fn chunk_math_on_one_nd_dataset_matches_a_dense_model() {
    run_property(
        "chunk_math_on_one_nd_dataset_matches_a_dense_model",
        128,
        history_arb(1, 2, 7, 60, false),
        |h| World::run(&h, true)?.finish(),
    );
}

/// The distinct (extent, content) keys of the chunks of every committed version of `path`
/// that are not entirely the fill value.
fn stored_keys(w: &World, i: usize) -> BTreeSet<(Vec<u64>, Vec<Vec<u8>>)> {
    let spec = &w.specs[i];
    let mut keys = BTreeSet::new();
    for v in &w.versions {
        if let Some(m) = v.tree.get(spec.path) {
            for (ext, content, all_fill) in chunks_of(m, &spec.chunks, &spec.fill()) {
                if !all_fill {
                    keys.insert((ext, content));
                }
            }
        }
    }
    keys
}

/// The distinct extents of edge chunks (shorter than the chunk shape) that are entirely
/// fill value, over every committed version of `path`.
fn fill_edge_keys(w: &World, i: usize) -> BTreeSet<Vec<u64>> {
    let spec = &w.specs[i];
    let mut keys = BTreeSet::new();
    for v in &w.versions {
        if let Some(m) = v.tree.get(spec.path) {
            for (ext, _, all_fill) in chunks_of(m, &spec.chunks, &spec.fill()) {
                if all_fill && ext != spec.chunks {
                    keys.insert(ext);
                }
            }
        }
    }
    keys
}

#[test]
fn raw_data_holds_exactly_the_distinct_chunks_that_are_not_all_fill() {
    run_property(
        "raw_data_holds_exactly_the_distinct_chunks_that_are_not_all_fill",
        64,
        history_arb(3, 1, 6, 30, true),
        |h| {
            // A chunk spilled and then written again leaves its first slot unmapped
            // (docs/design/014-bounded-staging.md): exactness holds without spills.
            let w = World::run_with(&h, false, false)?;
            for i in 0..w.specs.len() {
                let spec = &w.specs[i];
                let want = stored_keys(&w, i).len() as u64;
                // Written all-fill edge chunks are stored too (as Python's staged engine
                // does); the model does not track which were written, so they bound.
                let edges = fill_edge_keys(&w, i).len() as u64;
                let got = slots(&w.file, spec.path, spec.chunks[0]);
                if got < want || got > want + edges {
                    return Err(w.fail(format!("'{}' stores {got} slots; its versions have {want} distinct chunks that are not entirely fill and {edges} all-fill edge chunks", spec.path)));
                }
            }
            w.finish()
        },
    );
}

#[test]
fn rewriting_a_committed_version_adds_no_slots() {
    let strategy = (history_arb(3, 1, 6, 30, true), 0usize..16, prev_arb());
    run_property(
        "rewriting_a_committed_version_adds_no_slots",
        64,
        strategy,
        |(h, target, over)| {
            let mut w = World::run(&h, false)?;
            let before = w.slot_counts();
            let target = w.versions[target % w.versions.len()].clone();
            let name = format!("v{}", w.versions.len());
            w.start_stage(name, &over, true)?;
            w.log
                .push(format!("rewrite the content of '{}'", target.name));
            for (i, spec) in w.specs.clone().iter().enumerate() {
                match target.tree.get(spec.path) {
                    None if w.staged.contains_key(spec.path) => {
                        w.stage.delete(spec.path).ctx(|| "delete".into())?;
                        w.staged.remove(spec.path);
                    }
                    None => {}
                    Some(m) if w.staged.contains_key(spec.path) => {
                        w.log.push(format!(
                            "resize('{}', {:?}) and write it whole",
                            spec.path, m.shape
                        ));
                        w.stage
                            .resize(spec.path, &m.shape)
                            .ctx(|| "resize".into())?;
                        w.stage
                            .write(spec.path, &[], &to_values(spec.dt, &m.data))
                            .ctx(|| "write".into())?;
                        w.staged.insert(spec.path, m.clone());
                    }
                    Some(m) => {
                        w.log.push(format!(
                            "create_dataset('{}', {:?}) with the content",
                            spec.path, m.shape
                        ));
                        w.stage
                            .create_dataset(spec.path, spec.create(m.shape.clone(), Some(&m.data)))
                            .ctx(|| "create".into())?;
                        w.staged.insert(
                            spec.path,
                            DsM {
                                spec: i,
                                ..m.clone()
                            },
                        );
                    }
                }
            }
            w.commit()?;
            let after = w.slot_counts();
            // Only all-fill edge chunks that were never stored may be added.
            let allowed: Vec<u64> = (0..w.specs.len())
                .map(|i| fill_edge_keys(&w, i).len() as u64)
                .collect();
            let grew_too_much = before
                .iter()
                .zip(&after)
                .zip(&allowed)
                .any(|((b, a), e)| a < b || a - b > *e);
            if grew_too_much {
                return Err(w.fail(format!("rewriting the content of '{}' added slots: {before:?} -> {after:?} (paths {:?})", target.name, PATHS)));
            }
            w.finish()
        },
    );
}

/// Chunk patterns: data whose chunks repeat a few patterns, with a fill value outside the
/// values used, so that no chunk is ever entirely fill.
#[derive(Clone, Debug)]
struct Patterned {
    spec: Spec,
    shape: Vec<u64>,
    patterns: Vec<Vec<i32>>,
    /// Pattern of each chunk of the first version (cycled).
    assign: Vec<usize>,
    /// Later versions: chunk-aligned writes of a pattern (chunk index, pattern), and
    /// single elements (position, value).
    later: Vec<Vec<(usize, usize, usize, i32)>>,
}

fn patterned_arb() -> impl Strategy<Value = Patterned> {
    (spec_arb("p", 1), proptest::collection::vec(0u64..=7, 3))
        .prop_flat_map(|(spec, shape)| {
            let per_chunk: usize = spec.chunks.iter().product::<u64>() as usize;
            (
                Just(spec),
                Just(shape),
                proptest::collection::vec(proptest::collection::vec(0i32..3, per_chunk), 1..4),
                proptest::collection::vec(0usize..4, 1..8),
                proptest::collection::vec(
                    proptest::collection::vec((0usize..64, 0usize..4, 0usize..512, 0i32..3), 0..5),
                    0..4,
                ),
            )
        })
        .prop_map(|(spec, shape, patterns, assign, later)| Patterned {
            spec,
            shape,
            patterns,
            assign,
            later,
        })
}

#[test]
fn identical_chunks_are_stored_once() {
    run_property(
        "identical_chunks_are_stored_once",
        160,
        patterned_arb(),
        |t| {
            // Values 0..3 map to these; the fill value is none of them.
            let domain = |dt: Dt, r: i32| match dt {
                Dt::Bool => vec![1u8],
                Dt::Str => ["x", "y", "z"][r as usize].as_bytes().to_vec(),
                _ => el(dt, r),
            };
            let mut spec = t.spec.clone();
            spec.fill_raw = -7;
            if spec.dt == Dt::Bool {
                spec.fill_raw = 0;
            }
            let dt = spec.dt;
            let ndim = spec.chunks.len();
            let shape: Vec<u64> = t.shape[..ndim].to_vec();
            let mut w = World::new(vec![spec.clone()], false)?;
            // Element at coordinate x: its chunk's pattern, at its position inside the chunk.
            let grid: Vec<u64> = shape
                .iter()
                .zip(&spec.chunks)
                .map(|(&n, &c)| n.div_ceil(c))
                .collect();
            let pattern_el = |coord: &[u64], pat: &[i32]| {
                let inner = coord
                    .iter()
                    .zip(&spec.chunks)
                    .fold(0usize, |acc, (&x, &c)| acc * c as usize + (x % c) as usize);
                domain(dt, pat[inner])
            };
            let n = shape.iter().product::<u64>() as usize;
            let mut m = DsM {
                spec: 0,
                shape: shape.clone(),
                data: vec![spec.fill(); n],
            };
            let unravel = |mut lin: usize, shape: &[u64]| {
                let mut c = vec![0u64; shape.len()];
                for i in (0..shape.len()).rev() {
                    c[i] = lin as u64 % shape[i];
                    lin /= shape[i] as usize;
                }
                c
            };
            for lin in 0..n {
                let c = unravel(lin, &shape);
                let mut k = 0usize;
                for i in 0..ndim {
                    k = k * grid[i] as usize + (c[i] / spec.chunks[i]) as usize;
                }
                let pat = &t.patterns[t.assign[k % t.assign.len()] % t.patterns.len()];
                m.data[lin] = pattern_el(&c, pat);
            }
            w.log.push(format!(
                "create_dataset('p', {shape:?}) from {} patterns",
                t.patterns.len()
            ));
            w.stage
                .create_dataset("p", spec.create(shape.clone(), Some(&m.data)))
                .ctx(|| "create".into())?;
            w.staged.insert("p", m);
            w.commit()?;
            let check = |w: &World, what: &str| -> Result<(), String> {
                let want = stored_keys(w, 0).len() as u64;
                let got = slots(&w.file, "p", spec.chunks[0]);
                if got != want {
                    return Err(w.fail(format!("{what}: {got} slots for {want} distinct chunks")));
                }
                let hashes = table_hashes(&w.file, "p");
                let distinct: HashSet<_> = hashes.iter().collect();
                if hashes.len() as u64 != got || distinct.len() != hashes.len() {
                    return Err(w.fail(format!(
                        "{what}: hash table has {} rows, {} distinct, for {got} slots",
                        hashes.len(),
                        distinct.len()
                    )));
                }
                Ok(())
            };
            check(&w, "first version")?;
            for (v, writes) in t.later.iter().enumerate() {
                w.start_stage(format!("v{}", v + 1), &Prev::Current, true)?;
                for &(chunk, pat, pos, val) in writes {
                    let total: usize = grid.iter().product::<u64>() as usize;
                    if total == 0 {
                        continue;
                    }
                    let mut dm = w.staged["p"].clone();
                    let sel: Vec<AxisSel>;
                    let els: Vec<Vec<u8>>;
                    let targets: Vec<usize>;
                    if chunk % 2 == 0 {
                        // A whole chunk, written with a pattern.
                        let k = unravel(chunk % total, &grid);
                        let coords: Vec<Vec<u64>> = (0..ndim)
                            .map(|i| {
                                (k[i] * spec.chunks[i]
                                    ..(k[i] * spec.chunks[i] + spec.chunks[i]).min(shape[i]))
                                    .collect()
                            })
                            .collect();
                        sel = coords
                            .iter()
                            .map(|c| AxisSel::Slice {
                                start: Some(c[0] as i64),
                                stop: Some(*c.last().unwrap() as i64 + 1),
                                step: 1,
                            })
                            .collect();
                        targets = positions(&coords, &shape);
                        let pat = &t.patterns[pat % t.patterns.len()];
                        els = targets
                            .iter()
                            .map(|&q| pattern_el(&unravel(q, &shape), pat))
                            .collect();
                    } else {
                        let q = pos % n;
                        sel = unravel(q, &shape)
                            .into_iter()
                            .map(|x| AxisSel::Index(x as i64))
                            .collect();
                        targets = vec![q];
                        els = vec![domain(dt, val)];
                    }
                    w.log.push(format!("write('p', {sel:?})"));
                    w.stage
                        .write("p", &sel, &to_values(dt, &els))
                        .ctx(|| "write".into())?;
                    for (e, q) in els.into_iter().zip(targets) {
                        dm.data[q] = e;
                    }
                    w.staged.insert("p", dm);
                }
                w.commit()?;
                check(&w, &format!("version {}", v + 1))?;
            }
            w.finish()
        },
    );
}

// ---- fixed regression tests -----------------------------------------------------------------------------------

/// Full-size chunks entirely fill value are not stored; an edge chunk (shorter than the
/// chunk shape) that holds only the fill value is stored when written, as Python's staged
/// engine does, so both libraries deduplicate the same chunks.
#[test]
fn all_fill_edge_chunks_are_stored_like_python_full_ones_are_not() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("e.h5");
    let file = file.to_str().unwrap();
    let vf = VersionedFile::open(file, Mode::Truncate).unwrap();
    let f64s = |v: &[f64]| Values::Raw(v.iter().flat_map(|x| x.to_le_bytes()).collect());
    // [0, 0, 0, 0 | 0]: both chunks are entirely fill, the second is an edge chunk.
    let s = vf.stage("v1", StageOptions::default()).unwrap();
    s.create_dataset(
        "zeros",
        CreateOptions {
            data: Some(f64s(&[0.0; 5])),
            chunks: Some(vec![4]),
            ..Default::default()
        },
    )
    .unwrap();
    s.create_dataset(
        "x",
        CreateOptions {
            shape: Some(vec![5]),
            dtype: Some(Dtype::Float64),
            chunks: Some(vec![4]),
            ..Default::default()
        },
    )
    .unwrap();
    s.write("x", &[AxisSel::Index(0)], &f64s(&[7.0])).unwrap();
    s.commit().unwrap();
    assert_eq!(slots(file, "x", 4), 1, "v1: one chunk of x holds data");
    // Rewriting v1's content of x exactly.
    let s = vf.stage("v2", StageOptions::default()).unwrap();
    s.write("x", &[], &f64s(&[7.0, 0.0, 0.0, 0.0, 0.0]))
        .unwrap();
    s.commit().unwrap();
    assert_eq!(
        vf.read("v2", "x", &[]).unwrap().0,
        f64s(&[7.0, 0.0, 0.0, 0.0, 0.0])
    );
    assert!(vf.verify().unwrap().ok());
    assert_eq!(
        slots(file, "zeros", 4),
        1,
        "of [0, 0, 0, 0 | 0] only the all-fill edge chunk is stored"
    );
    assert_eq!(
        slots(file, "x", 4),
        2,
        "writing x whole stores its all-fill edge chunk once"
    );
}

/// libhdf5 refuses Fletcher-32 on variable-length strings, so the commit that would create
/// that storage fails. "On error nothing visible is left: the version does not exist, its
/// name is free, and earlier versions are untouched": the path must stay usable, but the
/// failed commit leaves /_version_data/<path> behind and every later commit of the path
/// fails with HDF5_ERROR.
#[test]
fn regression_failed_commit_leaves_the_path_usable() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("f.h5");
    let file = file.to_str().unwrap();
    let vf = VersionedFile::open(file, Mode::Truncate).unwrap();
    let strings = || Values::Strings(vec![b"a".to_vec(), b"b".to_vec(), b"c".to_vec()]);
    let s = vf.stage("v1", StageOptions::default()).unwrap();
    let bad = CreateOptions {
        data: Some(strings()),
        chunks: Some(vec![2]),
        filters: Filters {
            fletcher32: true,
            ..Filters::default()
        },
        ..Default::default()
    };
    // Refusing the setting (when staging or when committing) is fine; what matters is
    // what the failure leaves behind.
    let refused = match s.create_dataset("s", bad) {
        Ok(_) => match s.commit() {
            Ok(_) => false,
            Err(e) => {
                eprintln!("the failing commit: {} {}", e.code(), e.message);
                true
            }
        },
        Err(e) => {
            eprintln!("create_dataset refused it: {} {}", e.code(), e.message);
            s.abort();
            true
        }
    };
    if refused {
        assert!(vf.versions().unwrap().is_empty());
        let s = vf
            .stage("v1", StageOptions::default())
            .expect("the name is free again");
        s.create_dataset(
            "s",
            CreateOptions {
                data: Some(strings()),
                chunks: Some(vec![2]),
                ..Default::default()
            },
        )
        .unwrap();
        let r = s.commit();
        assert!(
            r.is_ok(),
            "committing a valid dataset at the path after the failed commit: {:?}",
            r.map_err(|e| (e.code(), e.message))
        );
    }
    assert_eq!(vf.read("v1", "s", &[]).unwrap().0, strings());
    let rep = vf.verify().unwrap();
    assert!(rep.ok() && rep.warnings.is_empty(), "{rep:?}");
}
