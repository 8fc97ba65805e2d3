"""Compares label-space files made by `train labelspace` with the committed ones (made by
tools/embed_classes.py with sentence-transformers): same names, every component within --tol.

  python3 tools/compare_labelspaces.py labelspaces OTHER_FOLDER [--tol 1e-5]
"""
import argparse
import glob
import os
import sys

import h5py
import numpy as np

ap = argparse.ArgumentParser()
ap.add_argument("reference")
ap.add_argument("candidate")
ap.add_argument("--tol", type=float, default=1e-5)
args = ap.parse_args()
bad = 0
files = sorted(glob.glob(os.path.join(args.candidate, "*.h5")))
if not files:
    sys.exit(f"no .h5 files in {args.candidate}")
for path in files:
    name = os.path.basename(path)
    with h5py.File(os.path.join(args.reference, name)) as r, h5py.File(path) as c:
        rn = [x.decode() if isinstance(x, bytes) else x for x in r["names"][()]]
        cn = [x.decode() if isinstance(x, bytes) else x for x in c["names"][()]]
        diff = float(np.abs(r["embeddings"][()] - c["embeddings"][()]).max()) if rn == cn else float("inf")
        ok = rn == cn and diff <= args.tol
        bad += not ok
        print(f"{name}: {len(cn)} classes, largest difference {diff:.2e} {'ok' if ok else 'DIFFERS'}")
sys.exit(1 if bad else 0)
