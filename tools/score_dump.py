"""Scores a `train evaluate --dump DIR` folder with the reference tools (pycocotools,
panopticapi) and compares with the `--json` report of the same evaluate run.

    python tools/score_dump.py DIR EVAL.json

Needs pycocotools, and panopticapi (pip install git+https://github.com/cocodataset/panopticapi).
Exits non-zero when a number differs by more than 1e-9.
"""
import json
import os
import sys

from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

NAMES = "AP AP50 AP75 APs APm APl AR1 AR10 AR100 ARs ARm ARl".split()


def main(root, report_path):
    report = json.load(open(report_path))
    worst = 0.0
    for name in sorted(os.listdir(root)):
        folder = os.path.join(root, name)
        ours = report.get(name, {})
        if os.path.exists(os.path.join(folder, "instances_gt.json")):
            gt = COCO(os.path.join(folder, "instances_gt.json"))
            for iou in ("bbox", "segm"):
                results = os.path.join(folder, f"results_{iou}.json")
                if not os.path.exists(results):
                    continue
                E = COCOeval(gt, gt.loadRes(results), iou)
                E.evaluate(); E.accumulate(); E.summarize()
                diff = max(abs(E.stats[i] - ours[iou][n]) for i, n in enumerate(NAMES))
                print(f"{name} {iou}: pycocotools AP {E.stats[0]:.6f}, ours {ours[iou]['AP']:.6f}, max diff {diff:.2e}")
                worst = max(worst, diff)
        if os.path.exists(os.path.join(folder, "panoptic_gt.json")):
            from panopticapi.evaluation import pq_compute
            r = pq_compute(os.path.join(folder, "panoptic_gt.json"), os.path.join(folder, "panoptic_pred.json"),
                           os.path.join(folder, "panoptic_gt"), os.path.join(folder, "panoptic_pred"))
            diff = max(abs(r["All"]["pq"] - ours["panoptic"]["PQ"]), abs(r["Things"]["pq"] - ours["panoptic"]["PQ_th"]),
                       abs(r["Stuff"]["pq"] - ours["panoptic"]["PQ_st"]))
            print(f"{name} panoptic: panopticapi PQ {r['All']['pq']:.6f}, ours {ours['panoptic']['PQ']:.6f}, max diff {diff:.2e}")
            worst = max(worst, diff)
    print("max difference:", worst)
    sys.exit(0 if worst <= 1e-9 else 1)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
