"""Makes the images `train predict` is tested on, with Pillow, from two validation images of the
synthetic world's panoptic dataset (a shard of `train synth --scale full`): the kinds of file
users bring.

  python3 Tests/TrainCommandTests/Fixtures/images/make_images.py data/synth/synth_panoptic/val-00000.h5

- portrait.jpg: 96 x 160 (w x h), baseline, 4:2:0
- landscape.jpg: 200 x 120, progressive
- gray.jpg: grayscale (one component)
- alpha.png: RGBA with a transparent band
- broken.jpg: a JPEG cut off after 300 bytes (reported and skipped)
- notes.png: text, not an image (reported and skipped)
"""
import io
import os
import sys

import h5py
import numpy as np
from PIL import Image

here = os.path.dirname(os.path.abspath(__file__))
with h5py.File(sys.argv[1]) as f:
    off, shape, data = f["images/offsets"][()], f["images/shape"][()], f["images/bytes"][()]
    enc = f["images"].attrs["encoding"]
    enc = enc.decode() if isinstance(enc, bytes) else enc

    def image(i):
        raw = data[off[i]:off[i + 1]].tobytes()
        if enc == "raw":
            return Image.fromarray(np.frombuffer(raw, np.uint8).reshape(shape[i]))
        return Image.open(io.BytesIO(raw)).convert("RGB")

    a, b = image(0), image(1)
a.resize((96, 160), Image.BILINEAR).save(os.path.join(here, "portrait.jpg"), quality=90)
b.resize((200, 120), Image.BILINEAR).save(os.path.join(here, "landscape.jpg"), quality=90, progressive=True)
a.convert("L").save(os.path.join(here, "gray.jpg"), quality=90)
rgba = b.convert("RGBA")
alpha = np.full((rgba.height, rgba.width), 255, np.uint8)
alpha[:, : rgba.width // 4] = 0
rgba.putalpha(Image.fromarray(alpha))
rgba.save(os.path.join(here, "alpha.png"))
whole = io.BytesIO()
a.save(whole, format="JPEG", quality=90)
open(os.path.join(here, "broken.jpg"), "wb").write(whole.getvalue()[:300])
open(os.path.join(here, "notes.png"), "w").write("not an image\n")
print("written", sorted(os.listdir(here)))
