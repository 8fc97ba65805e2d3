/// Pictures of predictions for people to look at: regions tinted over the image, class names
/// drawn in the bitmap font, panels side by side, a legend underneath. Used by `train predict`
/// and `train evaluate --dump`.
public enum OverlayPicture {
    /// A bright, well-spread colour for index `i` (golden-ratio hue steps), as RGB.
    public static func colour(_ i: Int) -> [UInt8] {
        let hue = (Double(i) * 0.618_033_988_75).truncatingRemainder(dividingBy: 1) * 6
        let x = 1 - abs(hue.truncatingRemainder(dividingBy: 2) - 1)
        let sextant: (Double, Double, Double)
        switch min(5, Int(hue)) {
        case 0: sextant = (1, x, 0)
        case 1: sextant = (x, 1, 0)
        case 2: sextant = (0, 1, x)
        case 3: sextant = (0, x, 1)
        case 4: sextant = (x, 0, 1)
        default: sextant = (1, 0, x)
        }
        return [sextant.0, sextant.1, sextant.2].map { UInt8(255 * $0) }
    }

    /// `image` (RGB) with each pixel of region `regions[p]` >= 0 blended half with
    /// `colour(colourIndex(region))`.
    public static func tinted(_ image: Image8, regions: [Int], colourIndex: (Int) -> Int = { $0 }) -> Image8 {
        precondition(image.channels == 3 && regions.count == image.width * image.height, "tinted: \(regions.count) regions for a \(image.width)x\(image.height)x\(image.channels) image")
        var out = image
        var cache: [Int: [UInt8]] = [:]
        for (p, r) in regions.enumerated() where r >= 0 {
            let c = cache[r] ?? colour(colourIndex(r))
            cache[r] = c
            for k in 0..<3 { out.pixels[p * 3 + k] = UInt8((Int(image.pixels[p * 3 + k]) + Int(c[k])) / 2) }
        }
        return out
    }

    /// Panels left to right (RGB, equal heights).
    public static func sideBySide(_ panels: [Image8]) -> Image8 {
        let h = panels[0].height, w = panels.reduce(0) { $0 + $1.width }
        precondition(panels.allSatisfy { $0.height == h && $0.channels == 3 }, "sideBySide: panels differ in height or are not RGB")
        var pixels = [UInt8](repeating: 0, count: h * w * 3)
        var x0 = 0
        for panel in panels {
            for y in 0..<h {
                let src = y * panel.width * 3, dst = (y * w + x0) * 3
                pixels.replaceSubrange(dst..<(dst + panel.width * 3), with: panel.pixels[src..<(src + panel.width * 3)])
            }
            x0 += panel.width
        }
        return Image8(width: w, height: h, channels: 3, pixels: pixels)
    }

    /// `text` drawn with its top-left corner at (x, y) in white on a dark box (clipped to the
    /// image); characters outside printable ASCII draw as "?".
    public static func drawText(_ text: String, x: Int, y: Int, into image: inout Image8, background: [UInt8] = [0, 0, 0]) {
        let scalars = Array(text.unicodeScalars)
        let (fw, fh) = (BitmapFont.width, BitmapFont.height)
        for yy in 0..<fh {
            let py = y + yy
            guard py >= 0, py < image.height else { continue }
            for (i, c) in scalars.enumerated() {
                for xx in 0..<fw {
                    let px = x + i * fw + xx
                    guard px >= 0, px < image.width else { continue }
                    let o = (py * image.width + px) * image.channels
                    let on = BitmapFont.isSet(c, x: xx, y: yy)
                    for k in 0..<min(3, image.channels) { image.pixels[o + k] = on ? 255 : background[k] }
                }
            }
        }
    }

    /// `image` with a legend underneath: a colour swatch and a name per entry, as many columns
    /// as fit the width.
    public static func withLegend(_ image: Image8, entries: [(name: String, colourIndex: Int)]) -> Image8 {
        guard !entries.isEmpty else { return image }
        let (fw, fh) = (BitmapFont.width, BitmapFont.height), pad = 4
        let longest = entries.map { $0.name.unicodeScalars.count }.max() ?? 0
        let cell = fh + 4 + min(longest, 24) * fw + 2 * pad
        let columns = max(1, image.width / cell), rows = (entries.count + columns - 1) / columns
        let legendHeight = rows * (fh + pad) + pad
        var out = Image8(width: image.width, height: image.height + legendHeight, channels: 3,
                         pixels: image.pixels + [UInt8](repeating: 32, count: image.width * legendHeight * 3))
        for (i, e) in entries.enumerated() {
            let x = pad + (i % columns) * cell, y = image.height + pad + (i / columns) * (fh + pad)
            let c = colour(e.colourIndex)
            for yy in y..<min(y + fh, out.height) {
                for xx in x..<min(x + fh, out.width) { for k in 0..<3 { out.pixels[(yy * out.width + xx) * 3 + k] = c[k] } }
            }
            drawText(String(e.name.prefix(24)), x: x + fh + 4, y: y, into: &out, background: [32, 32, 32])
        }
        return out
    }
}
