"""Makes cmyk.jpg, a CMYK JPEG as Photoshop-style tools write them (Adobe marker, inverted
values), with Pillow, and cmyk_rgb.json, the RGB pixels Pillow decodes it to
(Image.open(...).convert("RGB")): what the converters must read from such a file.

    python3 make_cmyk_jpeg.py     (Pillow)
"""
import json
from PIL import Image

w, h = 8, 6
img = Image.new("CMYK", (w, h))
px = img.load()
for y in range(h):
    for x in range(w):
        px[x, y] = (x * 30 % 256, y * 40 % 256, (x + y) * 20 % 256, 40 if x < 4 else 0)
img.save("cmyk.jpg", quality=95)
back = Image.open("cmyk.jpg")
assert back.mode == "CMYK" and "adobe" in back.info, (back.mode, back.info.keys())
rgb = back.convert("RGB")
json.dump({"width": w, "height": h, "rgb": list(rgb.tobytes())}, open("cmyk_rgb.json", "w"))
print("wrote cmyk.jpg and cmyk_rgb.json")
