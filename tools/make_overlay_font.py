"""Writes Sources/Images/BitmapFont.swift: printable ASCII (32-126) of DejaVu Sans Mono rendered
at 11 px by Pillow and thresholded at half intensity, one byte per glyph row (bit 7 = leftmost
pixel), for the class names drawn on overlay pictures. Run once; the output is committed.

  python3 tools/make_overlay_font.py [/usr/share/fonts/truetype/dejavu/DejaVuSansMono.ttf]
"""
import sys

from PIL import Image, ImageDraw, ImageFont

path = sys.argv[1] if len(sys.argv) > 1 else "/usr/share/fonts/truetype/dejavu/DejaVuSansMono.ttf"
font = ImageFont.truetype(path, 11)
ascent, descent = font.getmetrics()
height = ascent + descent
width = 7
rows = []
for code in range(32, 127):
    img = Image.new("L", (width, height), 0)
    ImageDraw.Draw(img).text((0, 0), chr(code), font=font, fill=255)
    px = img.load()
    for y in range(height):
        byte = 0
        for x in range(width):
            if px[x, y] >= 128:
                byte |= 0x80 >> x
        rows.append(byte)
hexdata = "".join(f"{b:02x}" for b in rows)
lines = [hexdata[i:i + 96] for i in range(0, len(hexdata), 96)]
swift = f'''/// A {width}x{height} bitmap font for the labels of overlay pictures: printable ASCII (32-126),
/// DejaVu Sans Mono at 11 px rendered by Pillow and thresholded (`tools/make_overlay_font.py`
/// made this file). DejaVu fonts are derived from Bitstream Vera: free to use, copy and
/// redistribute, embedded in software included (Bitstream Vera / DejaVu font licence).
public enum BitmapFont {{
    public static let width = {width}, height = {height}
    /// `height` bytes per glyph, bit 7 the leftmost pixel.
    static let rows: [UInt8] = {{
        let hex = """
{chr(10).join("        " + l for l in lines)}
        """.filter {{ !$0.isWhitespace }}
        var out: [UInt8] = []
        var i = hex.startIndex
        while i < hex.endIndex {{
            let j = hex.index(i, offsetBy: 2)
            out.append(UInt8(hex[i..<j], radix: 16)!)
            i = j
        }}
        return out
    }}()

    /// Whether pixel (x, y) of the glyph of `c` is set; characters outside printable ASCII draw as "?".
    public static func isSet(_ c: Unicode.Scalar, x: Int, y: Int) -> Bool {{
        let code = (32...126).contains(c.value) ? Int(c.value) : 63
        return rows[(code - 32) * height + y] & (0x80 >> UInt8(x)) != 0
    }}
}}
'''
open("Sources/Images/BitmapFont.swift", "w").write(swift)
print(f"Sources/Images/BitmapFont.swift: {width}x{height}, {len(rows)} bytes")
