"""Python half of __test__/interop-random.spec.ts: writes and reads random histories.

Usage: python interop_random.py JOB.json

JOB.json is written by the spec (the op lists are generated there, from a seed):

    {"write": [{"file": str, "history": History}, ...],   # histories Python writes
     "read":  [{"file": str, "reads": {version: {path: Sel}}}, ...]}

Everything in "write" is executed first, with Python versioned-hdf5 (stage_version,
create_dataset, ds[idx] = ..., resize(tuple), del g[path], create_group); then every
file in "read" (written by Node or just above by Python) is read back twice:

* "r":     VersionedHDF5File over h5py.File(file, 'r'): plain h5py groups, data read
           through the virtual datasets (what any HDF5 reader sees);
* "rplus": VersionedHDF5File over h5py.File(copy of file, 'r+'): InMemoryGroup /
           InMemoryDataset, data read from raw_data through the decoded mappings (what
           Python reads before writing a new version).

Prints one JSON object:

    {"write": {file: {"error": str | null, "staged": {version: Tree}}},
     "read":  {file: {"r": Dump | {"error": str}, "rplus": Dump | {"error": str}}}}

    Dump = {"current": str, "versions": {name: {"prev": str, "ts": str (microseconds
            since the epoch), "by_ts": str (get_version_by_timestamp(exact=True)),
            "tree": Tree}}}
    Tree = {"groups": [path, ...], "datasets": {path: {"dtype", "shape", "chunks",
            "fill", "compression", "level", "shuffle", "fletcher32", "data": [flat],
            "sel": [flat] (when a selection was asked for)}}}

Values: integers as decimal strings (64-bit exact), floats as JSON numbers except NaN /
Infinity / -Infinity (strings), bools as booleans, strings decoded from UTF-8.
dtype names follow the Node library (README): 'string', 'ascii', 'S<n>', 'utf8[<n>]',
NumPy names otherwise.

A History is {"seed", "settings": {path: Settings}, "versions": [{"name", "prev" (null =
the current version, "" = no parent), "makeCurrent", "ts" (microseconds, decimal
string), "ops": [Op, ...]}]}; Settings = {"dtype", "ndim", "chunks" (null = default),
"fill" (encoded), "compression" (null | "gzip" | "lzf"), "level", "shuffle",
"fletcher32"}; an Op is one of
    {"op": "create", "path", "shape", "data": [encoded] | null}   (null: sparse)
    {"op": "write", "path", "sel", "shape" (of the selection), "values": [...]} or
        {..., "value": encoded}                                   (broadcast)
    {"op": "resize", "path", "shape"}
    {"op": "delete", "path"}                                      (dataset or group)
    {"op": "group", "path"}
and a Sel is a list, one entry per leading axis, of {"i": int} | {"s": [start, stop,
step]} (entries may be null) | {"l": [int, ...]}.
"""

import datetime
import json
import os
import shutil
import sys
import traceback

import h5py
import numpy as np

from vh5names import dtype_name, json_float
from versioned_hdf5 import VersionedHDF5File

EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)
TS_FMT = '%Y-%m-%d %H:%M:%S.%f%z'
ONE_US = datetime.timedelta(microseconds=1)


# ---- dtypes and values ---------------------------------------------------------------

def kind(name):
    if name in ('string', 'ascii'):
        return 'vlen'
    if name.startswith('S') or name.startswith('utf8['):
        return 'fixed'
    if name == 'bool':
        return 'bool'
    if name.startswith('float'):
        return 'float'
    return 'int'


def np_dtype(name):
    if name == 'string':
        return h5py.string_dtype()
    if name == 'ascii':
        return h5py.string_dtype('ascii')
    if name.startswith('utf8['):
        return h5py.string_dtype('utf-8', int(name[5:-1]))
    return np.dtype(name)


def dec(name, v):
    k = kind(name)
    if k == 'int':
        return int(v)
    if k == 'float':
        return float(v)  # numbers, and 'NaN' / 'Infinity' / '-Infinity' / '-0'
    if k == 'bool':
        return bool(v)
    if name == 'string':
        return v
    if name == 'ascii':
        return v.encode('ascii')
    return v.encode('utf-8')  # S<n> (ASCII), utf8[<n>]


def to_array(name, vals, shape):
    if shape == ():
        # A single element: a 0-d object array would be stored as the element itself.
        return to_scalar(name, vals[0])
    if kind(name) == 'vlen':
        a = np.empty(len(vals), dtype=object)
        a[:] = [dec(name, v) for v in vals]
        return a.reshape(shape)
    # NumPy converts each Python float (a double) straight to float16/float32 with
    # round-to-nearest-even, and cuts bytes longer than n for S<n>.
    return np.array([dec(name, v) for v in vals], dtype=np_dtype(name)).reshape(shape)


def to_scalar(name, v):
    if kind(name) == 'vlen':
        return dec(name, v)
    return np.array(dec(name, v), dtype=np_dtype(name))



def out_value(x):
    if isinstance(x, (bytes, np.bytes_)):
        return bytes(x).decode('utf-8')
    if isinstance(x, (str, np.str_)):
        return str(x)
    if isinstance(x, (bool, np.bool_)):
        return bool(x)
    if isinstance(x, (int, np.integer)):
        return str(int(x))
    if isinstance(x, (float, np.floating)):
        return json_float(x)
    raise TypeError(f'unsupported element {x!r} of type {type(x).__name__}')


def flat(arr):
    arr = np.asarray(arr)
    return [out_value(x) for x in arr.ravel(order='C').tolist()]


# ---- selections ------------------------------------------------------------------------

def py_index(sel):
    out = []
    for s in sel:
        if 'i' in s:
            out.append(s['i'])
        elif 's' in s:
            out.append(slice(*s['s']))
        else:
            out.append(list(s['l']))
    return tuple(out)


def read_sel_plain(ds, sel):
    """Plain h5py wants increasing, unique index lists: read sorted, then reorder."""
    idx = list(py_index(sel))
    if np.empty(ds.shape, dtype=bool)[tuple(idx)].size == 0:
        # libhdf5 2.0.0 (h5py 3.16's) fails an empty selection on a virtual dataset with
        # 50 or more mappings: "unable to get selection bounds" (reproduced with h5py
        # alone, no versioned file involved). Nothing to read: zero elements.
        return np.empty(0, dtype=ds.dtype)
    for a, s in enumerate(idx):
        if isinstance(s, list):
            n = ds.shape[a]
            norm = [i + n if i < 0 else i for i in s]
            order = sorted(set(norm))
            idx[a] = order
            res = np.asarray(ds[tuple(idx)])
            pos = a - sum(1 for b in idx[:a] if isinstance(b, int))
            return np.take(res, [order.index(i) for i in norm], axis=pos)
    return ds[tuple(idx)]


# ---- writing ---------------------------------------------------------------------------

def apply_op(g, hist, op):
    path = op['path']
    kind_ = op['op']
    if kind_ == 'create':
        st = hist['settings'][path]
        name = st['dtype']
        kw = dict(shape=tuple(op['shape']), dtype=np_dtype(name))
        if st['chunks'] is not None:
            kw['chunks'] = tuple(st['chunks'])
        if kind(name) == 'vlen':
            # The explicit default. Left out, versioned-hdf5 2.4.0 gives a sparse vlen
            # string dataset the fill value int 0 instead of b'' (staged reads return 0,
            # and a partial write then fails at commit: "TypeError: object of type 'int'
            # has no len()" in Hashtable.hash). A Python bug, not a format question.
            kw['fillvalue'] = b''
        elif kind(name) != 'fixed':
            kw['fillvalue'] = to_scalar(name, st['fill'])[()]
        if st['compression'] is not None:
            kw['compression'] = st['compression']
            if st['compression'] == 'gzip' and st['level'] is not None:
                kw['compression_opts'] = st['level']
        if st['shuffle']:
            kw['shuffle'] = True
        if st['fletcher32']:
            kw['fletcher32'] = True
        if op['data'] is not None:
            kw['data'] = to_array(name, op['data'], tuple(op['shape']))
        g.create_dataset(path, **kw)
    elif kind_ == 'write':
        ds = g[path]
        name = hist['settings'][path]['dtype']
        if 'value' in op:
            ds[py_index(op['sel'])] = to_scalar(name, op['value'])
        else:
            ds[py_index(op['sel'])] = to_array(name, op['values'], tuple(op['shape']))
    elif kind_ == 'resize':
        g[path].resize(tuple(op['shape']))
    elif kind_ == 'delete':
        del g[path]
    elif kind_ == 'group':
        g.create_group(path)
    else:
        raise ValueError(f'unknown op {kind_}')


def walk(g, prefix=''):
    """(datasets {path: obj}, groups [path]) below g, through g.keys() / g[name]."""
    datasets, groups = {}, []
    for name in list(g.keys()):
        obj = g[name]
        path = prefix + name
        if isinstance(obj, h5py.Group):
            groups.append(path)
            d, gs = walk(obj, path + '/')
            datasets.update(d)
            groups.extend(gs)
        else:
            datasets[path] = obj
    return datasets, groups


def staged_tree(g):
    datasets, groups = walk(g)
    return {
        'groups': sorted(groups),
        'datasets': {p: {'dtype': dtype_name(d.dtype), 'shape': [int(n) for n in d.shape], 'data': flat(d[()])}
                     for p, d in sorted(datasets.items())},
    }


def write_history(path, hist):
    staged = {}
    with h5py.File(path, 'w') as f:
        vf = VersionedHDF5File(f)
        for ver in hist['versions']:
            kw = dict(make_current=ver['makeCurrent'], timestamp=EPOCH + int(ver['ts']) * ONE_US)
            if ver['prev'] is not None:
                kw['prev_version'] = ver['prev']
            where = f"version {ver['name']!r}"
            try:
                with vf.stage_version(ver['name'], **kw) as g:
                    for k, op in enumerate(ver['ops']):
                        where = f"version {ver['name']!r} op #{k} {json.dumps(op)[:400]}"
                        apply_op(g, hist, op)
                    where = f"version {ver['name']!r}: staged read after the ops"
                    staged[ver['name']] = staged_tree(g)
                    where = f"version {ver['name']!r}: commit"
            except Exception as e:
                raise RuntimeError(f'{where}: {type(e).__name__}: {e}') from e
        vf.close()
    return staged


# ---- reading ---------------------------------------------------------------------------

def dump_dataset(ds, mode, sel):
    name = dtype_name(ds.dtype)
    out = {'dtype': name, 'shape': [int(n) for n in ds.shape]}
    if mode == 'r':
        # A version dataset is virtual: chunks and filters live on raw_data.
        out['chunks'] = [int(c) for c in ds.attrs['chunks']]
        filt = ds.file[ds.attrs['raw_data']]
    else:
        out['chunks'] = [int(c) for c in ds.chunks]
        filt = ds
    out['fill'] = out_value(ds.fillvalue)
    out['compression'] = filt.compression
    out['level'] = int(filt.compression_opts) if filt.compression == 'gzip' else None
    out['shuffle'] = bool(filt.shuffle)
    out['fletcher32'] = bool(filt.fletcher32)
    out['data'] = flat(ds[()])
    if sel is not None:
        out['sel'] = flat(read_sel_plain(ds, sel) if mode == 'r' else ds[py_index(sel)])
    return out


def dump_dataset_at(version, path, ds, mode, sel):
    try:
        return dump_dataset(ds, mode, sel)
    except Exception as e:
        raise RuntimeError(f'version {version!r} dataset {path!r} shape {ds.shape} selection {json.dumps(sel)}: {type(e).__name__}: {e}') from e


def text(v):
    return v.decode('utf-8') if isinstance(v, bytes) else str(v)


def dump_file(path, reads, mode):
    with h5py.File(path, 'r' if mode == 'r' else 'r+') as f:
        vf = VersionedHDF5File(f)
        out = {'current': vf.current_version, 'versions': {}}
        for name in list(vf):
            g = vf[name]
            ts = datetime.datetime.strptime(text(g.attrs['timestamp']), TS_FMT)
            by_ts = vf.get_version_by_timestamp(ts, exact=True).name.rsplit('/', 1)[-1]
            datasets, groups = walk(g)
            vreads = reads.get(name, {})
            out['versions'][name] = {
                'prev': text(g.attrs['prev_version']),
                'ts': str((ts - EPOCH) // ONE_US),
                'by_ts': by_ts,
                'tree': {
                    'groups': sorted(groups),
                    'datasets': {p: dump_dataset_at(name, p, d, mode, vreads.get(p)) for p, d in sorted(datasets.items())},
                },
            }
        vf.close()
    return out


def main(job_path):
    with open(job_path) as fh:
        job = json.load(fh)
    result = {'write': {}, 'read': {}}
    for item in job['write']:
        try:
            result['write'][item['file']] = {'error': None, 'staged': write_history(item['file'], item['history'])}
        except Exception:
            result['write'][item['file']] = {'error': traceback.format_exc(limit=4), 'staged': {}}
    for item in job['read']:
        res = {}
        if not os.path.exists(item['file']):
            res = {'r': {'error': 'file missing'}, 'rplus': {'error': 'file missing'}}
        else:
            try:
                res['r'] = dump_file(item['file'], item['reads'], 'r')
            except Exception:
                res['r'] = {'error': traceback.format_exc(limit=4)}
            copy = item['file'] + '.rplus.h5'
            shutil.copyfile(item['file'], copy)
            try:
                res['rplus'] = dump_file(copy, item['reads'], 'rplus')
            except Exception:
                res['rplus'] = {'error': traceback.format_exc(limit=4)}
            os.remove(copy)
        result['read'][item['file']] = res
    json.dump(result, sys.stdout, allow_nan=False)
    sys.stdout.write('\n')


if __name__ == '__main__':
    if len(sys.argv) != 2:
        sys.exit('usage: interop_random.py JOB.json')
    main(sys.argv[1])
