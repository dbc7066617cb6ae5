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
        n = spec["pyLookups"]
        t = now_ms()
        for i in range(n):
            k = int(rng.integers(cp))
            exact = i % 2 == 0
            when = base + datetime.timedelta(seconds=k, milliseconds=0 if exact else 500)
            if get_version_by_timestamp(f, when, exact=exact) != f"v{k}":
                raise SystemExit(f"P7: wrong version for v{k}")
        ms = now_ms() - t
        f.close()
        lookups[str(cp)] = dict(openMs=open_ms, perSecond=n / (ms / 1000))
    return dict(seconds=(now_ms() - t0) / 1000, extra=dict(lookups=lookups))


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
    r.update({"P1": p1, "P2": p2, "P3": p3, "P4": p4, "P5": p5, "P7": p7, "P8": p8, "P8diff": p8diff, "P8meta": p8meta}[spec["workload"]](impl, spec))
    r["peakRss"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    if spec["workload"] not in ("P5", "P7", "P8diff"):
        r["fileBytes"] = os.path.getsize(spec["file"])
    print("RESULT " + json.dumps(r))


if __name__ == "__main__":
    main()
