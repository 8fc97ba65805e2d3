"""Makes h5py_params.h5: a small parameter file written by h5py the way PyTorch users write
weights (one float32 dataset per parameter at the root, named by its dotted name), with
deflate + shuffle as in the project's parity fixtures, plus one group-nested dataset and an
int64 and a uint8 dataset. Read by HDF5Tests/HDF5FileTests.swift.

Run once:  python3 make_h5py_params.py   (numpy and h5py in a virtualenv)
"""
import os

import h5py
import numpy as np

out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "h5py_params.h5")
with h5py.File(out, "w") as f:
    f.create_dataset("layers.0.weight", data=np.arange(24, dtype=np.float32).reshape(6, 4) / 8,
                     compression="gzip", shuffle=True)
    f.create_dataset("layers.0.bias", data=np.array([0.5, -1.25, 2.0, 0.0, 3.5, -0.125], dtype=np.float32))
    f.create_dataset("layers.1.weight", data=np.linspace(-1, 1, 12, dtype=np.float32).reshape(2, 6))
    f.create_dataset("layers.1.bias", data=np.array([1.0, -1.0], dtype=np.float32))
    f.create_dataset("extra/nested/table", data=np.arange(6, dtype=np.float64).reshape(3, 2))
    f.create_dataset("classes", data=np.array([3, -7, 1 << 40], dtype=np.int64))
    f.create_dataset("image", data=np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4), compression="gzip")
    f.create_dataset("scalar", data=np.float32(2.5))
print("wrote", out)
