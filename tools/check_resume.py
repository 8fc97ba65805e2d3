"""A training run killed with SIGKILL and resumed gives the same losses as a run that never
stopped (the trainer issue's requirement). Used by scripts/test.sh:

  python3 tools/check_resume.py TRAIN_BINARY SYNTH_DATA_DIR WORK_DIR

Runs a small joint training twice: once straight through, once killed (kill -9) right after
its second checkpoint appears — mid-iteration, at whatever point the process is — then resumed
with --resume. Every logged iteration after the checkpoint must have the same losses.
"""
import json
import os
import shutil
import signal
import subprocess
import sys
import time

train, data, work = sys.argv[1:4]
common = ["--config", "configs/synth-joint.yaml", "--set", f"data.root={data}",
          "--set", "solver.max_iter=10", "--set", "solver.checkpoint_period=3", "--set", "solver.log_period=1",
          "--set", "solver.keep_checkpoints=5", "--set", "test.max_images=1", "--set", "model.queries=10",
          "--set", "model.decoupled_queries=[7, 3]",  # the main job's split of things and stuff queries, scaled
          "--set", "loss.points=256", "--set",
          "data.datasets=[{name: synth_panoptic, path: synth_panoptic, augmentation: {size: 64}},"
          " {name: synth_detection, path: synth_detection, augmentation: {size: 64}},"
          " {name: synth_labels, path: synth_labels, augmentation: {size: 64}}]"]


def losses(folder):
    out = {}
    for line in open(os.path.join(folder, "metrics.jsonl")):
        o = json.loads(line)
        if "total_loss" in o:
            out[o["iteration"]] = {k: v for k, v in o.items() if k.startswith("loss_") or k == "total_loss"}
    return out


shutil.rmtree(work, ignore_errors=True)
straight, killed = os.path.join(work, "straight"), os.path.join(work, "killed")
subprocess.run([train] + common + ["--output", straight], check=True, stdout=subprocess.DEVNULL)

proc = subprocess.Popen([train] + common + ["--output", killed], stdout=subprocess.DEVNULL)
target = os.path.join(killed, "model_0000005.h5")
deadline = time.time() + 600
while not os.path.exists(target) and proc.poll() is None and time.time() < deadline:
    time.sleep(0.05)
if proc.poll() is not None:
    sys.exit("the run ended before it could be killed")
time.sleep(0.3)                      # somewhere inside the next iterations
proc.send_signal(signal.SIGKILL)
proc.wait()
with open(os.path.join(killed, "last_checkpoint")) as f:
    resumed_from = f.read().strip()
subprocess.run([train] + common + ["--output", killed, "--resume"], check=True, stdout=subprocess.DEVNULL)

a, b = losses(straight), losses(killed)
start = int(resumed_from.split("_")[1].split(".")[0]) + 1 if resumed_from != "model_final.h5" else 10
checked = 0
for it in range(start, 10):
    if a[it] != b[it]:
        sys.exit(f"iteration {it}: resumed {b[it]} != uninterrupted {a[it]}")
    checked += 1
print(f"killed with SIGKILL after {resumed_from}, resumed: iterations {start}..9 match the uninterrupted run ({checked} checked)")
