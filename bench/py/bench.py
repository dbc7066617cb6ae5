"""One workload run by Python versioned-hdf5 ("vh5") or by plain h5py ("plain"), in a
process of its own. Usage: python bench.py <impl> '<spec json>'; prints one line
`RESULT <json>`. The orchestrator is bench/run.mts; the data files are its.

Plain HDF5 writes the same data into ordinary chunked datasets with the same chunks
and filters, and flushes where the versioned libraries commit; it keeps no history.
"""

import datetime
import json
import os
import resource
import sys
import time

import h5py
import numpy as np
from versioned_hdf5 import VersionedHDF5File
from versioned_hdf5.versions import get_version_by_timestamp


def now_ms():
    return time.perf_counter() * 1000


def rss():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def filters(spec):
    c = spec.get("compression")
    return {"compression": c} if c else {}


def commit(impl, f, vf, name, apply):
    """One version: `apply` on a staged version (vh5), or on the plain file, then a flush."""
    if impl == "vh5":
        with vf.stage_version(name) as g:
            apply(g)
    else:
        apply(f)
        f.flush()


def p1_records(data):
    off = 0
    while off < len(data):
        add, nc = int(data[off]), int(data[off + 1])
        vals = data[off + 2 : off + 2 + add]
        idx = data[off + 2 + add : off + 2 + add + nc].astype(np.int64)
        cvals = data[off + 2 + add + nc : off + 2 + add + 2 * nc]
        off += 2 + add + 2 * nc
        yield add, vals, idx, cvals


def p1(impl, spec):
    data = np.fromfile(spec["data"], dtype="<f8")
    chunks = tuple(spec["chunks"])
    f = h5py.File(spec["file"], "w")
    vf = VersionedHDF5File(f) if impl == "vh5" else None
    commits = []
    t0 = now_ms()
    for v, (add, vals, idx, cvals) in enumerate(p1_records(data)):
        t = now_ms()

        def apply(g):
            if v == 0:
                g.create_dataset("x", data=vals, chunks=chunks, maxshape=(None,), **filters(spec))
            else:
                x = g["x"]
                n = x.shape[0]
                x.resize((n + add,))
                x[n : n + add] = vals
                x[idx] = cvals

        commit(impl, f, vf, f"v{v}", apply)
        commits.append(now_ms() - t)
    seconds = (now_ms() - t0) / 1000
    last = (vf[vf.current_version]["x"] if impl == "vh5" else f["x"])[:]
    f.close()
    return dict(seconds=seconds, commitsMs=commits[1:], initialMs=commits[0], checksum=[float(np.sum(last))])


def p2(impl, spec):
    data = np.fromfile(spec["data"], dtype="<f8")
    chunks = tuple(spec["chunks"])
    f = h5py.File(spec["file"], "w")
    vf = VersionedHDF5File(f) if impl == "vh5" else None
    commits = []
    off, rows, cols = 0, 0, 0
    t0 = now_ms()
    v = 0
    while off < len(data):
        ar, ac = int(data[off]), int(data[off + 1])
        new_rows = data[off + 2 : off + 2 + ar * (cols + ac)].reshape(ar, cols + ac)
        k = off + 2 + ar * (cols + ac)
        new_cols = data[k : k + rows * ac].reshape(rows, ac)
        off = k + rows * ac
        t = now_ms()

        def apply(g):
            if v == 0:
                x = g.create_dataset(
                    "x", shape=(0, 0), dtype="f8", chunks=chunks, maxshape=(None, None), **filters(spec)
                )
            else:
                x = g["x"]
            x.resize((rows + ar, cols + ac))
            x[rows : rows + ar, :] = new_rows
            if ac > 0 and rows > 0:
                x[:rows, cols : cols + ac] = new_cols

        commit(impl, f, vf, f"v{v}", apply)
        commits.append(now_ms() - t)
        rows += ar
        cols += ac
        v += 1
    seconds = (now_ms() - t0) / 1000
    last = (vf[vf.current_version]["x"] if impl == "vh5" else f["x"])[:]
    f.close()
    return dict(seconds=seconds, commitsMs=commits[1:], initialMs=commits[0], checksum=[float(np.sum(last))])


def p3(impl, spec):
    n, ln = spec["nChunks"], spec["chunkLen"]
    base = np.arange(n * ln, dtype="f8") + 0.5
    f = h5py.File(spec["file"], "w")
    vf = VersionedHDF5File(f) if impl == "vh5" else None
    t = now_ms()
    commit(impl, f, vf, "v0", lambda g: g.create_dataset("x", data=base, chunks=(ln,), maxshape=(None,)))
    initial = now_ms() - t
    commits = []
    t0 = now_ms()
    for k in range(spec["versions"]):
        c = (k * 7919 + 13) % n
        vals = -(k + 1) - np.arange(ln) / ln
        t = now_ms()

        def apply(g):
            g["x"][c * ln : (c + 1) * ln] = vals

        commit(impl, f, vf, f"v{k + 1}", apply)
        commits.append(now_ms() - t)
    seconds = (now_ms() - t0) / 1000
    last = (vf[vf.current_version]["x"] if impl == "vh5" else f["x"])[:]
    f.close()
    return dict(seconds=seconds, commitsMs=commits, initialMs=initial, checksum=[float(np.sum(last))])


def p4(impl, spec):
    data = np.fromfile(spec["data"], dtype="<f8")
    base = rss()
    chunks = tuple(spec["chunks"])
    t = now_ms()
    f = h5py.File(spec["file"], "w")
    if impl == "vh5":
        vf = VersionedHDF5File(f)
        with vf.stage_version("v0") as g:
            g.create_dataset("x", data=data, chunks=chunks, maxshape=(None,), **filters(spec))
    else:
        f.create_dataset("x", data=data, chunks=chunks, maxshape=(None,), **filters(spec))
    f.close()
    return dict(seconds=(now_ms() - t) / 1000, baseRss=base, extra=dict(bytes=data.nbytes))


def p9(impl, spec):
    """One stream of pieces appended: in one version (vh5), or to a resizable dataset."""
    base = np.fromfile(spec["data"], dtype="<f8")
    rows = spec["pieceBytes"] // 8
    pieces = spec["bytes"] // spec["pieceBytes"]
    per_cycle = len(base) // rows
    chunks = tuple(spec["chunks"])

    def append_all(g):
        x = g.create_dataset("x", shape=(0,), dtype="f8", chunks=chunks, maxshape=(None,), **filters(spec))
        for p in range(pieces):
            at = (p % per_cycle) * rows
            n = x.shape[0]
            x.resize((n + rows,))
            x[n:] = base[at : at + rows] + p // per_cycle

    start = rss()
    t = now_ms()
    f = h5py.File(spec["file"], "w")
    if impl == "vh5":
        with VersionedHDF5File(f).stage_version("v0") as g:
            append_all(g)
    else:
        append_all(f)
    f.close()
    seconds = (now_ms() - t) / 1000
    f = h5py.File(spec["file"], "r")
    x = f["_version_data/versions/v0/x"] if impl == "vh5" else f["x"]
    total = 0.0
    step = 1 << 20
    for a in range(0, x.shape[0], step):
        total += float(np.sum(x[a : a + step]))
    f.close()
    return dict(seconds=seconds, baseRss=start, checksum=[total], extra=dict(bytes=spec["bytes"]))


VENUES = ["XNYS", "XNAS", "BATS", "IEXG"]


def p10(impl, spec):
    """Ticks of four columns, `rows` per commit (a version, or a flush)."""
    n, commits_n = spec["rows"], spec["commits"]
    chunks = tuple(spec["chunks"])
    f = h5py.File(spec["file"], "w")
    vf = VersionedHDF5File(f) if impl == "vh5" else None
    dtypes = {"time": "i8", "price": "f8", "size": "i4", "venue": h5py.string_dtype()}
    commits = []
    start = rss()
    t0 = now_ms()
    for c in range(commits_n):
        i = np.arange(c * n, (c + 1) * n, dtype=np.int64)
        cols = {
            "time": 1_700_000_000_000_000 + i * 1000,
            "price": 100 + (i % 9973) * 0.01,
            "size": (i % 500).astype(np.int32),
            "venue": np.array([VENUES[k % 4] for k in i], dtype=object),
        }

        def apply(g):
            for name, dt in dtypes.items():
                if c == 0:
                    g.create_dataset(name, shape=(0,), dtype=dt, chunks=chunks, maxshape=(None,))
                d = g[name]
                m = d.shape[0]
                d.resize((m + n,))
                d[m:] = cols[name]

        t = now_ms()
        commit(impl, f, vf, f"c{c}", apply)
        commits.append(now_ms() - t)
    seconds = (now_ms() - t0) / 1000
    g = vf[vf.current_version] if impl == "vh5" else f
    check = [float(np.sum(g["price"][:])), float(np.sum(g["size"][:])), int(g["venue"].shape[0])]
    f.close()
    return dict(seconds=seconds, baseRss=start, commitsMs=commits, checksum=check, extra=dict(rows=n * commits_n))


def p5_states(spec):
    """The P1 dataset at its first, middle and latest version, rebuilt in memory."""
    data = np.fromfile(spec["data"], dtype="<f8")
    recs = list(p1_records(data))
    want = {0: "first", len(recs) // 2: "middle", len(recs) - 1: "latest"}
    x = np.empty(0)
    out = {}
    for v, (add, vals, idx, cvals) in enumerate(recs):
        x = np.concatenate([x, vals])
        x[idx] = cvals
        if v in want:
            out[want[v]] = x.copy()
    return out


def p5(impl, spec):
    sl = np.fromfile(spec["slices"], dtype="<f8").astype(np.int64).reshape(-1, 2)
    if impl == "plain":
        # The same data in plain datasets with the same chunks.
        with h5py.File(spec["file"], "w") as f:
            for label, x in p5_states(spec).items():
                f.create_dataset(label, data=x, chunks=tuple(spec["chunks"]), maxshape=(None,))
        f = h5py.File(spec["file"], "r")
        dsets = {k: f[k] for k in ("first", "middle", "latest")}
    else:
        f = h5py.File(spec["file"], "r")
        vf = VersionedHDF5File(f)
        names = sorted((v for v in f["_version_data/versions"] if v != "__first_version__"), key=lambda s: int(s[1:]))
        picks = dict(first=names[0], middle=names[len(names) // 2], latest=names[-1])
        dsets = {k: vf[v]["x"] for k, v in picks.items()}
    full, checksum = {}, []
    for label in ("first", "middle", "latest"):
        ds = dsets[label]
        times = []
        for _ in range(5):
            t = now_ms()
            a = ds[:]
            times.append(now_ms() - t)
        full[label] = sorted(times)[2]
        checksum.append(float(np.sum(a)))
    ds = dsets["latest"]
    acc = 0.0
    t = now_ms()
    for a, b in sl:
        acc += ds[a:b][0]
    slices_ms = now_ms() - t
    checksum.append(acc)
    f.close()
    seconds = (slices_ms + sum(full.values())) / 1000
    return dict(seconds=seconds, checksum=checksum, extra=dict(fullMs=full, slicesMs=slices_ms, slices=len(sl)))


def p5l(impl, spec):
    """P5-large: reads of the latest version of the file the Node run wrote (vh5), or of
    the same data copied into a plain dataset with the same chunks and filters (plain;
    the copy is made before the clock starts)."""
    sl = np.fromfile(spec["slices"], dtype="<f8").astype(np.int64).reshape(-1, 3)
    two_d = len(spec["shape"]) == 2
    if impl == "plain":
        with h5py.File(spec["file"], "r") as src:
            vf = VersionedHDF5File(src)
            data = vf[vf.current_version]["x"][()]
        with h5py.File(spec["plainFile"], "w") as f:
            f.create_dataset("x", data=data, chunks=tuple(spec["chunks"]), **filters(spec))
        del data
    t = now_ms()
    f = h5py.File(spec["plainFile"] if impl == "plain" else spec["file"], "r")
    vf = VersionedHDF5File(f) if impl == "vh5" else None
    open_ms = now_ms() - t
    t = now_ms()
    ds = vf[vf.current_version]["x"] if impl == "vh5" else f["x"]
    a = ds[()]
    cold_ms = now_ms() - t
    checksum = [float(np.sum(a))]
    times = []
    for _ in range(3):
        t = now_ms()
        a = ds[()]
        times.append(now_ms() - t)
    warm_ms = sorted(times)[1]
    nbytes = a.nbytes
    del a
    acc = 0.0
    t = now_ms()
    for r, lo, hi in sl:
        acc += (ds[r, lo:hi] if two_d else ds[lo:hi])[0]
    slices_ms = now_ms() - t
    checksum.append(acc)
    extra = dict(openMs=open_ms, coldMs=cold_ms, warmMs=warm_ms, slicesMs=slices_ms, bytes=nbytes)
    if two_d:
        rows, cols = spec["shape"]
        b = spec["chunks"]
        block_sum = 0.0
        row_ms = col_ms = 0.0
        for r in range(0, rows, b[0]):
            t = now_ms()
            blk = ds[r : r + b[0], :]
            row_ms += now_ms() - t
            block_sum += float(np.sum(blk))
        for c in range(0, cols, b[1]):
            t = now_ms()
            blk = ds[:, c : c + b[1]]
            col_ms += now_ms() - t
            block_sum += float(np.sum(blk))
        extra.update(rowBlocksMs=row_ms, colBlocksMs=col_ms)
        checksum.append(block_sum)
    f.close()
    return dict(seconds=warm_ms / 1000, checksum=checksum, extra=extra)


def p7(impl, spec):
    """Lookups by time in the files the Node run wrote (one per checkpoint)."""
    base = datetime.datetime(2030, 1, 1, tzinfo=datetime.timezone.utc)
    rng = np.random.default_rng(7)
    lookups = {}
    t0 = now_ms()
    for cp in spec["checkpoints"]:
        t = now_ms()
        f = h5py.File(f"{spec['file']}.{cp}.h5", "r")
        open_ms = now_ms() - t
        n = min(spec["pyLookups"], 4)
        ms = timed_lookups(f, cp, rng, n, base, "P7")
        f.close()
        lookups[str(cp)] = dict(openMs=open_ms, perSecond=n / (ms / 1000))
    return dict(seconds=(now_ms() - t0) / 1000, extra=dict(lookups=lookups))


def timed_lookups(f, cp, rng, n, base, label):
    """Milliseconds of `n` lookups by time (half exact, half between versions) in a
    file whose version v was committed at `base` + v seconds. Each lookup reads every
    version's timestamp, so callers keep `n` small."""
    t = now_ms()
    for i in range(n):
        k = int(rng.integers(cp))
        exact = i % 2 == 0
        when = base + datetime.timedelta(seconds=k, milliseconds=0 if exact else 500)
        if get_version_by_timestamp(f, when, exact=exact) != f"v{k}":
            raise SystemExit(f"{label}: wrong version for v{k}")
    return now_ms() - t


def repack(path):
    """h5repack of `path` (Python's way to shrink a file) put in its place: the
    seconds it took and the new size."""
    import subprocess

    packed = path + ".repack.h5"
    t = now_ms()
    subprocess.run(["h5repack", path, packed], check=True)
    seconds = (now_ms() - t) / 1000
    os.replace(packed, path)
    return seconds, os.path.getsize(path)


def latest_x(path):
    """P1's dataset in the latest version."""
    with h5py.File(path, "r") as f:
        vf = VersionedHDF5File(f)
        latest = max(vf.versions, key=lambda v: f["_version_data/versions"][v].attrs["timestamp"])
        return vf[latest]["x"][:]


def p12(impl, spec):
    """P12: open, lookups by time and the first commit after an open, in the deep
    histories the Node run wrote (copies, since commits change them)."""
    import shutil

    base = datetime.datetime(2030, 1, 1, tzinfo=datetime.timezone.utc)
    rng = np.random.default_rng(10)
    out = {}
    for cp in spec["checkpoints"]:
        path = f"{spec['file']}.py.{cp}.h5"
        shutil.copyfile(spec["files"][str(cp)], path)
        t = now_ms()
        f = h5py.File(path, "r")
        VersionedHDF5File(f)
        open_r = now_ms() - t
        k = int(rng.integers(cp))
        t = now_ms()
        if get_version_by_timestamp(f, base + datetime.timedelta(seconds=k)) != f"v{k}":
            raise SystemExit("P12: wrong version")
        first_lookup = now_ms() - t
        n = min(spec["pyLookups"], 4)
        lookup_us = timed_lookups(f, cp, rng, n, base, "P12") * 1000 / n
        f.close()
        t = now_ms()
        f = h5py.File(path, "r+")
        vf = VersionedHDF5File(f)
        open_a = now_ms() - t
        commits = []
        for i in range(6):
            t = now_ms()
            with vf.stage_version(f"w{i}", timestamp=base + datetime.timedelta(seconds=cp + i)) as g:
                g["x"][i % 16] = -i
            commits.append(now_ms() - t)
        f.close()
        os.remove(path)
        out[str(cp)] = dict(
            openR=open_r,
            firstLookupMs=first_lookup,
            lookupUs=lookup_us,
            openA=open_a,
            firstCommitMs=commits[0],
            steadyCommitMs=sorted(commits[1:])[2],
        )
    return dict(seconds=0, extra=dict(p12=out))


def p8(impl, spec):
    """delete_versions of all versions but one in keepEvery, then h5repack (Python's
    way to shrink a file)."""
    from versioned_hdf5 import delete_versions

    before = os.path.getsize(spec["file"])
    with h5py.File(spec["file"], "r") as f:
        names = sorted(VersionedHDF5File(f).versions, key=lambda v: f["_version_data/versions"][v].attrs["timestamp"])
    k = spec["keepEvery"]
    doomed = [n for i, n in enumerate(names) if i % k != k - 1]
    t = now_ms()
    with h5py.File(spec["file"], "r+") as f:
        delete_versions(f, doomed)
    delete_s = (now_ms() - t) / 1000
    after_delete = os.path.getsize(spec["file"])
    repack_s, after_repack = repack(spec["file"])
    data = latest_x(spec["file"])
    return dict(seconds=delete_s + repack_s, checksum=[float(np.sum(data))],
                extra=dict(deleted=len(doomed), kept=len(names) - len(doomed), deleteS=delete_s,
                           compactS=repack_s, bytesBefore=before, bytesAfterDelete=after_delete,
                           bytesAfterCompact=after_repack))


def p8meta(impl, spec):
    """modify_metadata rechunking P1's dataset in every version, then h5repack."""
    from versioned_hdf5 import modify_metadata

    before = os.path.getsize(spec["file"])
    with h5py.File(spec["file"], "r") as f:
        versions = len(VersionedHDF5File(f).versions)
    t = now_ms()
    with h5py.File(spec["file"], "r+") as f:
        modify_metadata(f, "x", chunks=tuple(spec["chunks"]))
    seconds = (now_ms() - t) / 1000
    after_modify = os.path.getsize(spec["file"])
    repack_s, after_repack = repack(spec["file"])
    data = latest_x(spec["file"])
    return dict(seconds=seconds, checksum=[float(np.sum(data))],
                extra=dict(versions=versions, modifyS=seconds, bytesBefore=before, bytesAfterModify=after_modify,
                           compactS=repack_s, bytesAfterCompact=after_repack,
                           chunks=spec["chunks"]))


def p8diff(impl, spec):
    """get_diff of two versions of the P3 dataset (read-only, as get_diff requires)."""
    with h5py.File(spec["file"], "r") as f:
        vf = VersionedHDF5File(f)
        t = now_ms()
        first = vf.get_diff("x", spec["a"], spec["b"])
        first_ms = now_ms() - t
        ms = []
        for _ in range(max(1, spec["runs"] // 5)):
            t = now_ms()
            vf.get_diff("x", spec["a"], spec["b"])
            ms.append(now_ms() - t)
    ms.sort()
    return dict(seconds=(first_ms + sum(ms)) / 1000, checksum=[len(first)],
                extra=dict(firstMs=first_ms, medianMs=ms[(len(ms) - 1) // 2], regions=len(first)))


def main():
    impl, spec = sys.argv[1], json.loads(sys.argv[2])
    base = rss()
    r = dict(baseRss=base)
    run = {"P1": p1, "P2": p2, "P3": p3, "P4": p4, "P5": p5, "P5L": p5l, "P7": p7, "P8": p8, "P8diff": p8diff,
           "P8meta": p8meta, "P9": p9, "P10": p10, "P12": p12}
    r.update(run[spec["workload"]](impl, spec))
    r["peakRss"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    if spec["workload"] == "P5L":
        r["fileBytes"] = os.path.getsize(spec["plainFile"] if impl == "plain" else spec["file"])
    elif spec["workload"] not in ("P5", "P7", "P8diff", "P12"):
        r["fileBytes"] = os.path.getsize(spec["file"])
    print("RESULT " + json.dumps(r))


if __name__ == "__main__":
    main()
