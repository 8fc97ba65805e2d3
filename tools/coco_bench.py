"""COCO-sized synthetic instance set for `train bench score`, and pycocotools' timing on it.

  python3 coco_bench.py make DIR [--images 5000] [--detections 50000]
      writes DIR/gt.json (polygons), DIR/results_bbox.json, DIR/results_segm.json (RLE)
  python3 coco_bench.py time DIR bbox|segm
      prints {"seconds": evaluate + accumulate + summarize, "load_seconds": ..., "stats": [...]}

Needs numpy and pycocotools.
"""
import contextlib
import io
import json
import os
import sys
import time

import numpy as np


def make(out, n_images, n_dets):
    from pycocotools import mask as maskUtils
    rng = np.random.default_rng(0)
    os.makedirs(out, exist_ok=True)
    images, anns, bbox_res, segm_res = [], [], [], []
    per_image = n_dets // n_images
    aid = 1
    for i in range(1, n_images + 1):
        H, W = 480, 640
        images.append({"id": i, "height": H, "width": W, "file_name": f"{i}.jpg"})
        objs = []
        for _ in range(int(rng.integers(3, 12))):
            r = float(np.exp(rng.uniform(np.log(6), np.log(150))))
            cx, cy = rng.uniform(r, W - r), rng.uniform(r, H - r)
            k = int(rng.integers(6, 16))
            ang = np.sort(rng.uniform(0, 2 * np.pi, k))
            rad = r * (1 + rng.uniform(-0.3, 0.3, k))
            poly = np.stack([cx + rad * np.cos(ang), cy + rad * np.sin(ang)], 1).reshape(-1).round(1).tolist()
            rle = maskUtils.frPyObjects([poly], H, W)[0]
            cat = int(rng.integers(1, 81))
            anns.append({"id": aid, "image_id": i, "category_id": cat, "iscrowd": 0, "segmentation": [poly],
                         "area": float(maskUtils.area(rle)), "bbox": maskUtils.toBbox(rle).tolist()})
            objs.append((poly, cat))
            aid += 1
        for d in range(per_image):
            if d < len(objs) and rng.uniform() < 0.8:
                poly, cat = objs[d]
                p = (np.array(poly) + rng.normal(0, 3, len(poly))).round(1).tolist()
            else:
                cat = int(rng.integers(1, 81))
                r = float(rng.uniform(5, 80)); cx, cy = rng.uniform(r, W - r), rng.uniform(r, H - r)
                p = [cx - r, cy - r, cx + r, cy - r, cx + r, cy + r, cx - r, cy + r]
            rle = maskUtils.frPyObjects([p], H, W)[0]
            score = round(float(rng.uniform()), 3)
            bbox_res.append({"image_id": i, "category_id": cat, "bbox": [round(v, 2) for v in maskUtils.toBbox(rle).tolist()], "score": score})
            segm_res.append({"image_id": i, "category_id": cat, "segmentation": {"size": [H, W], "counts": rle["counts"].decode()}, "score": score})
    cats = [{"id": c, "name": str(c)} for c in range(1, 81)]
    for name, obj in [("gt.json", {"images": images, "annotations": anns, "categories": cats}),
                      ("results_bbox.json", bbox_res), ("results_segm.json", segm_res)]:
        with open(os.path.join(out, name), "w") as f:
            json.dump(obj, f)
    print(f"{n_images} images, {len(anns)} objects, {len(segm_res)} detections in {out}")


def time_eval(folder, iou_type):
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval
    with contextlib.redirect_stdout(io.StringIO()):
        t0 = time.perf_counter()
        gt = COCO(os.path.join(folder, "gt.json"))
        dt = gt.loadRes(os.path.join(folder, f"results_{iou_type}.json"))
        t1 = time.perf_counter()
        ev = COCOeval(gt, dt, iou_type)
        ev.evaluate(); ev.accumulate(); ev.summarize()
        t2 = time.perf_counter()
    print(json.dumps({"seconds": t2 - t1, "load_seconds": t1 - t0, "stats": list(map(float, ev.stats))}))


if __name__ == "__main__":
    if sys.argv[1] == "make":
        args = sys.argv[3:]
        n_images = int(args[args.index("--images") + 1]) if "--images" in args else 5000
        n_dets = int(args[args.index("--detections") + 1]) if "--detections" in args else 50000
        make(sys.argv[2], n_images, n_dets)
    else:
        time_eval(sys.argv[2], sys.argv[3])
