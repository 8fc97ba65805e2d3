"""Checks a parameter file written by `train ... --save` from the h5py side: one float32
dataset per parameter at the root, C order, dotted names, finite values. Exit code 1 on any
problem. Used by scripts/test.sh.
"""
import sys

import h5py
import numpy as np


def main(path):
    with h5py.File(path, "r") as f:
        names = []
        f.visititems(lambda n, o: names.append(n) if isinstance(o, h5py.Dataset) else None)
        if not names:
            sys.exit(f"{path}: no datasets")
        for name in names:
            d = f[name]
            if "/" in name:
                sys.exit(f"{path}: {name}: parameters must sit at the root")
            if d.dtype != np.float32:
                sys.exit(f"{path}: {name}: dtype {d.dtype}, expected float32")
            if not np.all(np.isfinite(d[()])):
                sys.exit(f"{path}: {name}: non-finite values")
        print(f"h5py reads {len(names)} float32 parameters from {path}: "
              + ", ".join(f"{n}{list(f[n].shape)}" for n in sorted(names)[:3]) + ", ...")


if __name__ == "__main__":
    main(sys.argv[1])
