"""Independent oracle for the fixture tests: what h5py sees in a versioned-hdf5 file.

Usage: python3 dump_versions.py FILE

Opens FILE read-only with plain h5py (no versioned-hdf5 library) and prints one JSON
object on stdout:

    {"current_version": str,
     "data_version": int | null,            # absent attribute = null (generation 1)
     "versions": {name: {"prev_version": str,
                         "timestamp": str,   # the attribute as stored
                         "datasets": {relative/path: {"dtype": str,
                                                      "shape": [int, ...],
                                                      "data": [...]}}}}}

for every version group under _version_data/versions except __first_version__.

Data is read THROUGH the per-version (virtual) datasets with ds[()] -- exactly what
any HDF5 reader sees -- never from raw_data/hash_table. It is flattened in C order.
Strings are decoded from bytes as UTF-8; numbers are JSON numbers (ints exact; the
non-finite floats NaN/Infinity/-Infinity, which JSON cannot hold, are the strings
"NaN", "Infinity", "-Infinity"); bools are JSON booleans. Compound datasets give
{"field": [flat values], ...}.

dtype names follow the Node library's dtype names (README): 'string' (vlen UTF-8), 'ascii' (vlen
ASCII), 'S<n>' (fixed n-byte ASCII), 'utf8[<n>]' (fixed n-byte UTF-8), numpy names
otherwise ('float64', 'int32', 'bool', 'float16', ...), and
'compound{a:int32,b:float64}' for compound types.

Never touches Dataset.fillvalue: h5py 3.7 segfaults on it for vlen string datasets.
"""

import json
import sys

import h5py
import numpy as np

from vh5names import dtype_name, json_float



def value(x):
    if isinstance(x, (bytes, np.bytes_)):
        return bytes(x).decode('utf-8')
    if isinstance(x, (str, np.str_)):
        return str(x)
    if isinstance(x, (bool, np.bool_)):
        return bool(x)
    if isinstance(x, (int, np.integer)):
        return int(x)
    if isinstance(x, (float, np.floating)):
        return json_float(x)
    raise TypeError(f'unsupported element {x!r} of type {type(x).__name__}')


def flat(arr):
    arr = np.asarray(arr)
    if arr.dtype.names is not None:
        return {n: flat(arr[n]) for n in arr.dtype.names}
    # ravel() of an object array keeps the Python objects (bytes for vlen strings).
    return [value(x) for x in arr.ravel(order='C')]


def datasets_of(group, prefix=''):
    out = {}
    for name in sorted(group):
        obj = group.get(name, getlink=False)
        path = prefix + name
        if isinstance(obj, h5py.Dataset):
            out[path] = {
                'dtype': dtype_name(obj.dtype),
                'shape': [int(n) for n in obj.shape],
                'data': flat(obj[()]),  # read through the VDS
            }
        elif isinstance(obj, h5py.Group):
            out.update(datasets_of(obj, path + '/'))
    return out


def text(v):
    return v.decode('utf-8') if isinstance(v, bytes) else str(v)


def main(path):
    with h5py.File(path, 'r') as f:
        versions = f['_version_data/versions']
        data_version = versions.attrs.get('data_version')
        result = {
            'current_version': text(versions.attrs['current_version']),
            'data_version': None if data_version is None else int(data_version),
            'versions': {},
        }
        for name in sorted(versions):
            if name == '__first_version__':
                continue
            g = versions[name]
            result['versions'][name] = {
                'prev_version': text(g.attrs['prev_version']),
                'timestamp': text(g.attrs['timestamp']),
                'datasets': datasets_of(g),
            }
    json.dump(result, sys.stdout, allow_nan=False)
    sys.stdout.write('\n')


if __name__ == '__main__':
    if len(sys.argv) != 2:
        sys.exit('usage: dump_versions.py FILE')
    main(sys.argv[1])
