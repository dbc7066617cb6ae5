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

fn meta_of(vf: &VersionedFile, v: &str, p: &str) -> vh5::DatasetMeta {
    match vf.node(v, p).unwrap() {
        vh5::Node::Dataset(m) => m,
        other => panic!("{p} in {v} is {other:?}"),
    }
}

#[test]
fn modify_metadata_rewrites_every_version_and_refuses_bad_input() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.h5");
    let path = path.to_str().unwrap();
    let vf = VersionedFile::open(path, Mode::Truncate).unwrap();
    let s = vf.stage("a", StageOptions::default()).unwrap();
    s.create_dataset(
        "g/i",
        CreateOptions {
            data: Some(vh5::Values::Raw(
                (0..40i16).flat_map(|i| (i - 20).to_le_bytes()).collect(),
            )),
            dtype: Some(Dtype::Int16),
            chunks: Some(vec![8]),
            fill: Some(vh5::Values::Raw(3i16.to_le_bytes().to_vec())),
            ..Default::default()
        },
    )
    .unwrap();
    s.create_dataset(
        "b",
        CreateOptions {
            data: Some(vh5::Values::Strings(vec![
                b"ab".to_vec(),
                b"".to_vec(),
                b"xyz".to_vec(),
            ])),
            dtype: Some(Dtype::FixedString {
                len: 3,
                utf8: false,
            }),
            chunks: Some(vec![2]),
            ..Default::default()
        },
    )
    .unwrap();
    s.commit().unwrap();
    commit(&vf, "b", true, 5, 1.0);
    commit(&vf, "c", false, 95, 3.0);

    let change = |f: fn(&mut vh5::MetadataChange)| {
        let mut c = vh5::MetadataChange::default();
        f(&mut c);
        c
    };
    let code = |p: &str, c: vh5::MetadataChange| vf.modify_metadata(p, &c).unwrap_err().kind;
    use vh5::ErrorKind::*;
    assert_eq!(code("nope", change(|c| c.chunks = Some(vec![4]))), NotFound);
    assert_eq!(
        code("g", change(|c| c.chunks = Some(vec![4]))),
        InvalidArgument
    );
    assert_eq!(code("x", vh5::MetadataChange::default()), InvalidArgument);
    assert_eq!(
        code("x", change(|c| c.chunks = Some(vec![10]))),
        InvalidArgument
    );
    assert_eq!(
        code("x", change(|c| c.chunks = Some(vec![0]))),
        InvalidArgument
    );
    assert_eq!(
        code("x", change(|c| c.dtype = Some(Dtype::Int64))),
        InvalidArgument
    );
    assert_eq!(
        code("g/i", change(|c| c.dtype = Some(Dtype::UInt32))),
        InvalidArgument
    );
    assert_eq!(
        code(
            "b",
            change(|c| c.dtype = Some(Dtype::FixedString {
                len: 2,
                utf8: false
            }))
        ),
        InvalidArgument
    );

    // Rechunking: every version keeps its data, the generation moves on.
    let before: Vec<Vec<f64>> = ["b", "c"]
        .iter()
        .map(|v| to_f64(&vf.read(v, "x", &[]).unwrap().0))
        .collect();
    let g0 = vf.catalog_stats().generation;
    vf.modify_metadata("x", &change(|c| c.chunks = Some(vec![7])))
        .unwrap();
    assert_eq!(vf.catalog_stats().generation, g0 + 1);
    for (v, want) in ["b", "c"].iter().zip(&before) {
        assert_eq!(&to_f64(&vf.read(v, "x", &[]).unwrap().0), want);
        assert_eq!(meta_of(&vf, v, "x").chunks, vec![7]);
    }

    // A cast with a new fill value: elements equal to the old fill (3) take it.
    vf.modify_metadata(
        "g/i",
        &change(|c| {
            c.dtype = Some(Dtype::Int32);
            c.fill = Some(vh5::Scalar::Number(-100.0));
        }),
    )
    .unwrap();
    let m = meta_of(&vf, "a", "g/i");
    assert_eq!(
        (m.dtype, m.fill),
        (Dtype::Int32, (-100i32).to_le_bytes().to_vec())
    );
    let vh5::Values::Raw(b) = vf.read("c", "g/i", &[]).unwrap().0 else {
        panic!("numbers")
    };
    let got: Vec<i32> = b
        .chunks_exact(4)
        .map(|c| i32::from_le_bytes(c.try_into().unwrap()))
        .collect();
    let want: Vec<i32> = (0..40)
        .map(|i| if i - 20 == 3 { -100 } else { i - 20 })
        .collect();
    assert_eq!(got, want);

    // Fixed-length byte strings to variable-length ones (trailing NULs dropped).
    vf.modify_metadata(
        "b",
        &change(|c| c.dtype = Some(Dtype::VlenString { utf8: true })),
    )
    .unwrap();
    assert_eq!(
        vf.read("a", "b", &[]).unwrap().0,
        vh5::Values::Strings(vec![b"ab".to_vec(), b"".to_vec(), b"xyz".to_vec()])
    );
    assert!(vf.verify().unwrap().ok());
    commit(&vf, "d", false, 0, 4.0);
    let got = to_f64(&vf.read("d", "x", &[]).unwrap().0);
    assert_eq!((got[0], got[5], got[95]), (4.0, 1.0, 3.0));
    vf.close().unwrap();
    // Full-size chunks of fill value are left unmapped: of x's 15 chunks, only those
    // holding indices 5 and 95 (b, c), the edge chunk (stored, as commits do) and d's
    // new first chunk have slots.
    assert_eq!(slots(path, "x", 7), 4, "the slots of x");
}
