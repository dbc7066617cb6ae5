"""The Python side of the history specs (history-*.spec.ts), run with .venv26
(versioned-hdf5 2.6.0) or .venv (2.4.0).

Usage:
    python history.py delete FILE NAME[,NAME...]   delete_versions on FILE
    python history.py read FILE                    every version read through the library
    python history.py diff FILE DATASET V1 V2      get_diff's changed boxes
    python history.py make FILE                    a file written by Python (see make())
    python history.py modify FILE DATASET JSON...  modify_metadata(**JSON) on FILE, pair by pair
    python history.py meta FILE...                 per file: per version, each dataset's data and
                                                   metadata (h5py), and the raw_data settings

Prints one JSON value on stdout. `read` gives {"current": str, "versions": {name:
{"prev": str, "datasets": {path: {"shape": [...], "dtype": str, "data": [...]}}}},
"storage": {path: {"largest_index": int, "raw_rows": int, "live": int}}}, where `live`
counts the distinct slots the versions map.
"""

import json
import sys

import h5py
import numpy as np
from versioned_hdf5 import VersionedHDF5File, delete_versions, modify_metadata

from dump_versions import flat, text, value
from vh5names import dtype_name
from vh5storage import data_groups


def storage(f):
    out = {}
    versions = f['_version_data/versions']
    for path, obj in data_groups(f):
        live = set()
        for v in versions:
            if v == '__first_version__' or path not in versions[v]:
                continue
            ds = versions[v][path]
            if ds.is_virtual:
                for vs in ds.virtual_sources():
                    live.add(vs.src_space.get_select_bounds()[0][0])
        out[path] = {
            'largest_index': int(obj['hash_table'].attrs['largest_index']),
            'raw_rows': int(obj['raw_data'].shape[0]),
            'live': len(live),
        }
    return out


def meta(path):
    """Per version, every dataset's data, shape, dtype, chunks, fill value and user
    attributes as h5py sees them; per dataset path, raw_data's settings."""
    with h5py.File(path, 'r') as f:
        versions = f['_version_data/versions']
        out = {'versions': {}, 'storage': {}}
        for name in sorted(versions):
            if name == '__first_version__':
                continue
            ds = {}
            def visit(grp, prefix):
                for k in sorted(grp):
                    obj = grp[k]
                    if isinstance(obj, h5py.Dataset):
                        ds[prefix + k] = {
                            'shape': [int(n) for n in obj.shape],
                            'dtype': dtype_name(obj.dtype),
                            'chunks': [int(c) for c in obj.attrs['chunks']],
                            'fill': None if obj.fillvalue is None else value(obj.fillvalue),
                            'attrs': {a: flat(obj.attrs[a]) if np.ndim(obj.attrs[a]) else value(obj.attrs[a])
                                      for a in sorted(obj.attrs) if a not in ('raw_data', 'chunks')},
                            'data': flat(obj[()]),
                        }
                    else:
                        visit(obj, prefix + k + '/')
            visit(versions[name], '')
            out['versions'][name] = ds
        for p, obj in data_groups(f):
            r = obj['raw_data']
            out['storage'][p] = {
                'dtype': dtype_name(r.dtype),
                'chunks': [int(c) for c in r.chunks],
                'compression': r.compression,
                'compression_opts': None if r.compression_opts is None else int(r.compression_opts),
                'shuffle': bool(r.shuffle),
                'fletcher32': bool(r.fletcher32),
                'fill': None if r.fillvalue is None else value(r.fillvalue),
            }
        return out


def read(path):
    with h5py.File(path, 'r') as f:
        vf = VersionedHDF5File(f)
        versions = f['_version_data/versions']
        out = {'current': text(versions.attrs['current_version']), 'versions': {}}
        for name in sorted(vf.versions):
            g = vf[name]
            ds = {}
            def visit(grp, prefix):
                for k in sorted(grp):
                    obj = grp[k]
                    if hasattr(obj, 'shape') and hasattr(obj, 'dtype'):
                        arr = np.asarray(obj[()])
                        ds[prefix + k] = {
                            'shape': [int(n) for n in arr.shape],
                            'dtype': dtype_name(obj.dtype),
                            'data': flat(arr),
                        }
                    else:
                        visit(obj, prefix + k + '/')
            visit(g, '')
            out['versions'][name] = {'prev': text(versions[name].attrs['prev_version']), 'datasets': ds}
        out['storage'] = storage(f)
        return out


def diff(path, name, v1, v2):
    with h5py.File(path, 'r') as f:
        vf = VersionedHDF5File(f)
        d = vf.get_diff(name, v1, v2)
        boxes = []
        for key in d:
            raw = key.raw if hasattr(key, 'raw') else key
            boxes.append([[int(s.start), int(s.stop)] for s in raw])
        return sorted(boxes)


def make(path):
    """Versions p1..p5 of a float dataset x (25 elements, chunks 10, edge chunk), a
    string dataset s and a 2-D int dataset g/m (fill 9); p3 is marked for deletion
    with the value 777.25 in x, written nowhere else."""
    with h5py.File(path, 'w') as f:
        vf = VersionedHDF5File(f)
        with vf.stage_version('p1') as g:
            g.create_dataset('x', data=np.arange(25, dtype='f8'), chunks=(10,))
            g.create_dataset('s', data=np.array(['a', 'b', 'c', 'd', 'e'], dtype=object),
                             dtype=h5py.string_dtype(), chunks=(2,))
            g.create_group('g').create_dataset('m', data=np.full((5, 7), 9, dtype='i4'),
                                               chunks=(2, 3), fillvalue=9)
        with vf.stage_version('p2') as g:
            g['x'][3] = 30.5
            g['g/m'][4, 6] = 1
        with vf.stage_version('p3') as g:
            g['x'][22] = 777.25
            g['s'][4] = 'zzz'
        with vf.stage_version('p4') as g:
            g['x'][5] = 50.5
        with vf.stage_version('p5', prev_version='p2') as g:
            g['x'][0] = -1.0
    return {'ok': True}


def main(argv):
    cmd = argv[1]
    if cmd == 'delete':
        with h5py.File(argv[2], 'r+') as f:
            delete_versions(f, argv[3].split(','))
        out = {'ok': True}
    elif cmd == 'read':
        out = read(argv[2])
    elif cmd == 'diff':
        out = diff(argv[2], argv[3], argv[4], argv[5])
    elif cmd == 'meta':
        out = [meta(p) for p in argv[2:]]
    elif cmd == 'make':
        out = make(argv[2])
    elif cmd == 'modify':
        with h5py.File(argv[2], 'r+') as f:
            for name, opts in zip(argv[3::2], argv[4::2]):
                kw = json.loads(opts)
                if 'chunks' in kw and isinstance(kw['chunks'], list):
                    kw['chunks'] = tuple(kw['chunks'])
                if kw.get('dtype') == 'string':
                    kw['dtype'] = h5py.string_dtype()
                modify_metadata(f, name, **kw)
        out = {'ok': True}
    else:
        sys.exit(f'unknown command {cmd}')
    json.dump(out, sys.stdout, allow_nan=False)
    sys.stdout.write('\n')


if __name__ == '__main__':
    main(sys.argv)
