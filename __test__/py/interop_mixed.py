"""Python half of __test__/interop-mixed.spec.ts: the real versioned-hdf5 (2.4.0, the
venv at .venv) writing to, maintaining and reading files the Node library wrote.

Usage: python interop_mixed.py COMMAND FILE [JSON ...]   (prints one JSON document)

Commands
  dump FILE                  every committed version, read twice: with the file opened
                             'r' (plain h5py through the virtual datasets) and 'r+'
                             (versioned-hdf5's own InMemoryDataset reader, which decodes
                             the VDS mappings and reads raw_data directly)
  stage FILE STAGE_JSON      stage one version with versioned_hdf5 and apply a list of
                             operations (create / write / resize / delete),
                             then print the dump of the file
  tables FILE                every hash table: attributes and its rows [hex, start, stop]
  chunks FILE                every hash-table row with one VDS mapping that references it
                             (version, dataset, virtual start and extent per axis) and
                             versioned-hdf5's own Hashtable.hash of that chunk today
  rebuild FILE               VersionedHDF5File(f).rebuild_hashtables()
  delete FILE JSON_NAMES     versioned_hdf5.delete_versions(f, names)
  modify FILE JSON_CALLS     versioned_hdf5.modify_metadata(f, name, **kwargs) for each
                             [name, kwargs]; then the dump, plus the version datasets
                             whose creation properties libhdf5 can no longer read
  write-hash-set FILE        write the files of the hash-agreement test (several
                             versions, both commit engines, many dtypes)

Conventions (shared with the TypeScript side): data travels flat in C order; 64-bit
integers as decimal strings (exact); bools as 0/1; strings as text (bytes decoded as
UTF-8); non-finite floats as the strings 'NaN', 'Infinity', '-Infinity'.
"""

import json
import sys

import h5py
import numpy as np

from vh5names import dtype_name, json_float
import versioned_hdf5
from versioned_hdf5 import VersionedHDF5File, delete_versions, modify_metadata
from versioned_hdf5.hashtable import Hashtable
from versioned_hdf5.slicetools import spaceid_to_slice


# --- dtypes and values -------------------------------------------------------------



def np_dtype(name):
    """numpy/h5py dtype for a Node dtype name."""
    if name == 'string':
        return h5py.string_dtype()
    if name == 'ascii':
        return h5py.string_dtype('ascii')
    if name.startswith('utf8['):
        return h5py.string_dtype('utf-8', int(name[5:-1]))
    if name.startswith('S'):
        return np.dtype(name)
    return np.dtype(name)


def to_array(values, dt, shape):
    """JSON values -> numpy array of dtype dt and shape."""
    info = h5py.check_string_dtype(dt)
    if info is not None or dt.kind in 'SO':
        if info is not None and info.length is None:
            arr = np.empty(len(values), dtype=dt)
            for i, v in enumerate(values):
                arr[i] = v  # str: h5py stores it as UTF-8 / ASCII
        else:
            arr = np.array([v.encode('utf-8') for v in values], dtype=dt)
    elif dt.kind == 'b':
        arr = np.array([bool(v) for v in values], dtype=dt)
    elif dt.kind in 'iu':
        arr = np.array([int(v) for v in values], dtype=dt)
    else:
        arr = np.array([float(v) if isinstance(v, str) else v for v in values], dtype=dt)
    return arr.reshape(shape)


def value(x, dt):
    if isinstance(x, (bytes, np.bytes_)):
        return bytes(x).decode('utf-8')
    if isinstance(x, (str, np.str_)):
        return str(x)
    if isinstance(x, (bool, np.bool_)):
        return 1 if x else 0
    if isinstance(x, (int, np.integer)):
        return str(int(x)) if dt.itemsize == 8 else int(x)
    if isinstance(x, (float, np.floating)):
        return json_float(x)
    raise TypeError(f'unsupported element {x!r} of type {type(x).__name__}')


def flat(arr, dt):
    arr = np.asarray(arr)
    return [value(x, dt) for x in arr.ravel(order='C')]


def fill_of(ds, dt):
    if h5py.check_string_dtype(dt) is not None and h5py.check_string_dtype(dt).length is None:
        return ''  # never touch h5py's fillvalue of vlen strings (segfaults in old h5py)
    fv = ds.fillvalue
    if fv is None:
        return None
    return value(np.asarray(fv, dtype=dt)[()], dt)


def text(v):
    return v.decode('utf-8') if isinstance(v, bytes) else str(v)


# --- reading -----------------------------------------------------------------------


def walk(group, prefix=''):
    """Relative paths of every dataset in a version group (plain h5py)."""
    out = []
    for name in sorted(group):
        obj = group.get(name, getlink=False)
        if isinstance(obj, h5py.Dataset):
            out.append(prefix + name)
        elif isinstance(obj, h5py.Group):
            out.extend(walk(obj, prefix + name + '/'))
    return out


def describe(ds, raw, dt):
    return {
        'dtype': dtype_name(dt),
        'shape': [int(n) for n in ds.shape],
        'chunks': [int(n) for n in raw.chunks],
        'fill': fill_of(raw, dt),
        'compression': raw.compression,
        'compression_opts': raw.compression_opts if raw.compression == 'gzip' else None,
    }


def dump_r(path):
    """Plain h5py through the VDS (what any HDF5 reader sees), via VersionedHDF5File('r')."""
    out = {}
    with h5py.File(path, 'r') as f:
        vf = VersionedHDF5File(f)
        versions = f['_version_data/versions']
        out['current_version'] = text(versions.attrs['current_version'])
        out['data_version'] = int(versions.attrs['data_version'])
        out['versions'] = {}
        for name in vf.versions:
            g = vf[name]  # a plain h5py.Group in mode 'r'
            entry = {'prev_version': text(g.attrs['prev_version']),
                     'timestamp': text(g.attrs['timestamp']), 'datasets': {}}
            for p in walk(g):
                ds = g[p]
                raw = f[text(ds.attrs['raw_data'])]
                dt = raw.dtype
                d = describe(ds, raw, dt)
                d['data'] = flat(ds[()], dt)
                entry['datasets'][p] = d
            out['versions'][name] = entry
        vf.close()
    return out


def dump_rplus(path):
    """versioned-hdf5's own reader (mode 'r+': InMemoryDataset over raw_data)."""
    out = {}
    with h5py.File(path, 'r+') as f:
        vf = VersionedHDF5File(f)
        for name in vf.versions:
            g = vf[name]
            entry = {}
            for p, ds in sorted(g.datasets().items()):
                dt = ds.dtype
                entry[p] = {
                    'dtype': dtype_name(dt),
                    'shape': [int(n) for n in ds.shape],
                    'chunks': [int(n) for n in ds.chunks],
                    'data': flat(ds[()], dt),
                }
            out[name] = entry
        vf.close()
    return out


def dump(path):
    r = dump_r(path)
    r['rplus'] = dump_rplus(path)
    return r


# --- staging -----------------------------------------------------------------------


def sel_of(sel):
    return tuple(slice(a, b) for a, b in sel)


def apply_op(g, op):
    kind = op['op']
    path = op['path']
    if kind == 'create':
        dt = np_dtype(op['dtype'])
        kwargs = {'chunks': tuple(op['chunks'])}
        if op.get('fill') is not None:
            kwargs['fillvalue'] = to_array([op['fill']], dt, ())[()]
        if op.get('compression'):
            kwargs['compression'] = op['compression']
            if op.get('compression_opts') is not None:
                kwargs['compression_opts'] = op['compression_opts']
        g.create_dataset(path, data=to_array(op['data'], dt, tuple(op['shape'])), dtype=dt, **kwargs)
    elif kind == 'write':
        ds = g[path]
        extent = tuple(b - a for a, b in op['sel'])
        ds[sel_of(op['sel'])] = to_array(op['data'], ds.dtype, extent)
    elif kind == 'resize':
        g[path].resize(tuple(op['shape']))
    elif kind == 'delete':
        del g[path]
    else:
        raise ValueError(f'unknown op {kind!r}')


def stage(path, spec):
    with h5py.File(path, 'a') as f:  # creates the file for a first version
        vf = VersionedHDF5File(f)
        prev = spec.get('prev_version')
        with vf.stage_version(spec['name'], prev_version=prev) as g:
            for op in spec['ops']:
                apply_op(g, op)
        vf.close()
    return dump(path)


# --- hash tables -------------------------------------------------------------------


def data_groups(f):
    out = []

    def rec(g, prefix):
        for name in sorted(g):
            if prefix == '' and name in ('versions', '__tmp__'):
                continue
            obj = g[name]
            if isinstance(obj, h5py.Group):
                if 'raw_data' in obj:
                    out.append(prefix + name)
                else:
                    rec(obj, prefix + name + '/')

    rec(f['_version_data'], '')
    return out


def tables(path):
    out = {}
    with h5py.File(path, 'r') as f:
        for name in data_groups(f):
            grp = f['_version_data/' + name]
            ht = grp['hash_table']
            n = int(ht.attrs['largest_index'])
            rows = ht[:n]
            # storage_mark: this library's extension, which Python ignores and drops
            # when it rewrites a table (storage-mark.spec.ts covers it).
            attrs = {k: (text(v) if isinstance(v, (bytes, str)) else int(v)) for k, v in ht.attrs.items()
                     if k != 'storage_mark'}
            out[name] = {
                'attrs': attrs,
                'largest_index': n,
                'raw_rows': int(grp['raw_data'].shape[0]),
                'rows': [[bytes(r['hash']).hex(), int(r['shape'][0]), int(r['shape'][1])] for r in rows],
            }
    return out


def chunks(path):
    """For every hash-table row: the row and one VDS mapping that reads that slot."""
    out = {}
    with h5py.File(path, 'r') as f:
        versions = f['_version_data/versions']
        refs = {}  # (data group, src start) -> mapping
        for vname in sorted(versions):
            if vname == '__first_version__':
                continue
            vg = versions[vname]
            for p in walk(vg):
                ds = vg[p]
                if not ds.is_virtual:
                    continue
                raw_name = text(ds.attrs['raw_data'])
                dg = raw_name[len('/_version_data/'):-len('/raw_data')]
                for vs in ds.virtual_sources():
                    v = spaceid_to_slice(vs.vspace)
                    s = spaceid_to_slice(vs.src_space)
                    vstart = [int(a.start) for a in v.args]
                    extent = [int(a.stop - a.start) for a in v.args]
                    sstart = int(s.args[0].start)
                    key = (dg, sstart)
                    if key in refs:
                        continue
                    # Today's Python hash of the chunk as read through the VDS (for the
                    # generation-1 fixtures, whose stored string hashes are known bad).
                    region = tuple(slice(a, a + n) for a, n in zip(vstart, extent))
                    refs[key] = {'version': vname, 'path': p, 'start': vstart, 'extent': extent,
                                 'src_stop': int(s.args[0].stop),
                                 'py_hash': Hashtable.hash(Hashtable, ds[region]).hex()}
        for name in data_groups(f):
            grp = f['_version_data/' + name]
            ht = grp['hash_table']
            n = int(ht.attrs['largest_index'])
            rows = []
            for r in ht[:n]:
                start, stop = int(r['shape'][0]), int(r['shape'][1])
                rows.append({'hash': bytes(r['hash']).hex(), 'start': start, 'stop': stop,
                             'ref': refs.get((name, start))})
            out[name] = {'dtype': dtype_name(grp['raw_data'].dtype),
                         'hash_function': text(ht.attrs['hash_function']) if 'hash_function' in ht.attrs else None,
                         'rows': rows}
    return out


# --- maintenance -------------------------------------------------------------------


def rebuild(path):
    with h5py.File(path, 'r+') as f:
        vf = VersionedHDF5File(f)
        vf.rebuild_hashtables()
        vf.close()
    return tables(path)


def delete(path, names):
    with h5py.File(path, 'r+') as f:
        delete_versions(f, names)
    return dump(path)


def dcpl_errors(path):
    """{version/dataset: error} for version datasets whose creation properties libhdf5
    cannot read (H5Dget_create_plist), e.g. a fill value pointing at a missing heap object."""
    out = {}
    with h5py.File(path, 'r') as f:
        versions = f['_version_data/versions']
        for vname in sorted(versions):
            if vname == '__first_version__':
                continue
            for p in walk(versions[vname]):
                try:
                    versions[vname][p].id.get_create_plist()
                except Exception as e:  # noqa: BLE001 - reported, not hidden
                    out[f'{vname}/{p}'] = f'{type(e).__name__}: {e}'
    return out


def modify(path, calls):
    """modify_metadata for each [name, kwargs]; then the file as every reader sees it.
    A reader that fails is reported (rplus_error), so the caller can assert on it."""
    with h5py.File(path, 'r+') as f:
        for name, kwargs in calls:
            kw = dict(kwargs)
            if 'chunks' in kw:
                kw['chunks'] = tuple(kw['chunks'])
            if 'dtype' in kw:
                kw['dtype'] = np_dtype(kw['dtype'])
            modify_metadata(f, name, **kw)
    out = dump_r(path)
    out['dcpl_errors'] = dcpl_errors(path)
    try:
        out['rplus'] = dump_rplus(path)
    except Exception as e:  # noqa: BLE001 - reported, not hidden
        out['rplus'] = None
        out['rplus_error'] = f'{type(e).__name__}: {e}'
    return out


# --- the hash-agreement files ------------------------------------------------------


def write_hash_set(path):
    """Datasets of many dtypes and geometries, written by both of Python's commit
    engines: v1 creates them with data= (legacy engine, every chunk hashed, also the
    all-fill ones), v2 edits a few chunks (staged engine), v3 resizes (edge chunks are
    re-hashed with their new trimmed shape), v4 overwrites some in full (legacy again)."""
    rng = np.random.default_rng(20240501)
    with h5py.File(path, 'w') as f:
        vf = VersionedHDF5File(f)
        with vf.stage_version('v1') as g:
            f8 = rng.normal(size=23)
            f8[1] = np.nan
            f8[2] = -0.0
            f8[3] = np.inf
            f8[4] = -np.inf
            f8[10:15] = 0.0  # one full chunk equal to the fill value
            g.create_dataset('num/f8', data=f8, chunks=(5,))
            g.create_dataset('num/i2', data=np.arange(35, dtype='i2').reshape(7, 5) - 17, chunks=(3, 2))
            g.create_dataset('num/u1_3d', data=(np.arange(60) * 7 % 256).astype('u1').reshape(5, 4, 3), chunks=(2, 3, 2))
            g.create_dataset('num/i8', data=np.array([2**62 + 1, -(2**63), 2**63 - 1, 0, 5, -5, 7], dtype='i8'), chunks=(3,))
            g.create_dataset('num/u8', data=np.array([2**64 - 1, 1, 2**53 + 1], dtype='u8'), chunks=(2,))
            g.create_dataset('num/f4', data=np.linspace(-2, 2, 17, dtype='f4').reshape(17, 1), chunks=(4, 1),
                             compression='gzip', compression_opts=7, shuffle=True)
            g.create_dataset('num/f2', data=np.array([0.5, -2, 65504, 1 / 3, 1e-3, 7], dtype='f2'), chunks=(4,),
                             compression='lzf')
            g.create_dataset('num/i4_fill', data=np.full(10, 9, dtype='i4'), chunks=(4,), fillvalue=9)
            g.create_dataset('b', data=np.array([1, 0, 0, 1, 1, 1, 0, 0, 0, 0], dtype=bool), chunks=(4,))
            g.create_dataset('s/fixed', data=np.array([b'', b'a', b'abcde', b'xy', b'\x01z', b'abc', b'', b'', b'q'],
                                                       dtype='S5'), chunks=(4,))
            g.create_dataset('s/fixed_utf8', data=np.array([s.encode('utf-8') for s in ['é', 'ab', '日本', '', 'xyz']],
                                                            dtype='S6'),
                             dtype=h5py.string_dtype('utf-8', 6), chunks=(2,))
            vl = np.array(['', 'a', 'ü', 'ab', 'héllo wörld', '日本語テキスト', '🙂 emoji', '', '', '', 'x' * 300],
                          dtype=object)
            g.create_dataset('s/vlen', data=vl, dtype=h5py.string_dtype(), chunks=(4,))
            g.create_dataset('s/vlen_ascii', data=np.array([b'a', b'', b'cd', b'', b'', b'', b'xyz'], dtype=object),
                             dtype=h5py.string_dtype('ascii'), chunks=(3,))
            g.create_dataset('s/vlen_2d', data=np.array([['a', 'bb', ''], ['ccc', 'é', '']] * 2 + [['', '', '']],
                                                        dtype=object), dtype=h5py.string_dtype(), chunks=(2, 2))
        with vf.stage_version('v2') as g:
            g['num/f8'][6] = 42.0
            g['num/i2'][6, 4] = 1000  # the corner edge chunk (1, 1) of a 3x2 grid chunk
            g['num/u1_3d'][4, 3, 2] = 1
            g['num/i8'][6] = -(2**62)
            g['b'][9] = True
            g['s/fixed'][8] = b'zzzzz'
            g['s/vlen'][1] = 'changed ✓'
            g['s/vlen'][9] = ''  # rewrite inside an all-'' chunk: staged engine re-hashes it
            g['s/vlen_2d'][4, 2] = 'new'
            g['s/vlen_ascii'][3] = b'q'
        with vf.stage_version('v3') as g:
            g['num/f8'].resize((26,))
            g['num/f8'][24] = 3.5
            g['num/i2'].resize((8, 4))
            g['s/vlen'].resize((13,))
            g['s/vlen'][12] = 'tail'
            g['s/fixed'].resize((6,))
            g['b'].resize((3,))
            g['s/vlen_2d'].resize((3, 3))
        with vf.stage_version('v4') as g:
            g['num/i2'][...] = np.arange(32, dtype='i2').reshape(8, 4) * 3
            g['s/vlen'][...] = np.array(['full', 'overwrite', '', 'ö'] * 3 + ['end'], dtype=object)
            g['num/f4'][...] = np.full((17, 1), 0.25, dtype='f4')
        vf.close()
    return tables(path)


# --- main --------------------------------------------------------------------------


def main(argv):
    cmd, path = argv[1], argv[2]
    rest = [json.loads(a) for a in argv[3:]]
    if cmd == 'dump':
        out = dump(path)
    elif cmd == 'stage':
        out = stage(path, rest[0])
    elif cmd == 'tables':
        out = tables(path)
    elif cmd == 'chunks':
        out = chunks(path)
    elif cmd == 'rebuild':
        out = rebuild(path)
    elif cmd == 'delete':
        out = delete(path, rest[0])
    elif cmd == 'modify':
        out = modify(path, rest[0])
    elif cmd == 'write-hash-set':
        out = write_hash_set(path)
    else:
        sys.exit(f'unknown command {cmd!r}')
    out_json = json.dumps(out, allow_nan=False)
    sys.stdout.write(out_json + '\n')


if __name__ == '__main__':
    assert versioned_hdf5.__version__.startswith('2.4.0'), versioned_hdf5.__version__
    main(sys.argv)
