//! History rewrites through the engine alone: the catalog's generation moves on with
//! each rewrite (readers of other processes compare it), the handle reads and
//! commits on afterwards, and diff sees exactly the chunks a version changed.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "a failing test panics with what it found"
)]

mod common;
use common::*;
use vh5::{
    AxisSel, CreateOptions, DiffOptions, DiffStatus, Dtype, Mode, StageOptions, VersionedFile,
};

fn commit(vf: &VersionedFile, name: &str, create: bool, at: usize, v: f64) {
    let s = vf.stage(name, StageOptions::default()).unwrap();
    if create {
        s.create_dataset(
            "x",
            CreateOptions {
                data: Some(f64s(&[0.0; 100])),
                chunks: Some(vec![10]),
                dtype: Some(Dtype::Float64),
                ..Default::default()
            },
        )
        .unwrap();
    }
    s.write("x", &[AxisSel::Index(at as i64)], &f64s(&[v]))
        .unwrap();
    s.commit().unwrap();
}

#[test]
fn rewrites_move_the_catalog_generation_on_and_the_handle_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("h.h5");
    let path = path.to_str().unwrap();
    let vf = VersionedFile::open(path, Mode::Truncate).unwrap();
    commit(&vf, "a", true, 5, 1.0);
    commit(&vf, "b", false, 15, 2.0);
    commit(&vf, "c", false, 95, 3.0);

    let d = vf.diff("a", "c", &DiffOptions::default()).unwrap();
    assert_eq!(d.len(), 1);
    assert_eq!(d[0].status, DiffStatus::Changed);
    let boxes: Vec<_> = d[0].regions.iter().map(|r| r.bbox.clone()).collect();
    assert_eq!(boxes, vec![vec![[10, 20]], vec![[90, 100]]]);

    // Reads fill the catalog; a rewrite empties it and moves its generation on.
    vf.read("c", "x", &[]).unwrap();
    let g0 = vf.catalog_stats().generation;
    assert!(vf.catalog_stats().versions > 0);
    vf.delete_versions(&["b".to_string()]).unwrap();
    let st = vf.catalog_stats();
    assert_eq!(st.generation, g0 + 1);
    assert_eq!(st.versions, 0);
    assert_eq!(vf.versions().unwrap(), vec!["a", "c"]);
    assert_eq!(vf.version("c").unwrap().prev_version, "a");
    let got = to_f64(&vf.read("c", "x", &[]).unwrap().0);
    assert_eq!((got[5], got[15], got[95]), (1.0, 2.0, 3.0));

    let s = vf.compact(None).unwrap();
    assert!(s.bytes_after < s.bytes_before, "{s:?}");
    assert_eq!(vf.catalog_stats().generation, g0 + 2);
    commit(&vf, "d", false, 0, 4.0);
    let got = to_f64(&vf.read("d", "x", &[]).unwrap().0);
    assert_eq!((got[0], got[5], got[15], got[95]), (4.0, 1.0, 2.0, 3.0));
    assert!(vf.verify().unwrap().ok());
    vf.close().unwrap();
}
