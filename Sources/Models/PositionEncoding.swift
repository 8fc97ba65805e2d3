import Autograd
import Synchronization

/// DETR's normalised 2-D sine position encoding `[128, H, W]` for `features = 64` per axis:
/// channels [y-features, x-features]; within an axis, channel 2i is sin and 2i+1 cos of
/// pos / 10000^(2i/64), pos = (index + 1) / (size + 1e-6) · 2π. Computed in Float in PyTorch's
/// order of operations.
///
/// Remembered by size (the last 16 asked for): every forward pass asks for the same few maps,
/// and one 32 x 32 map is 131 072 sines and cosines, 0.6 ms on one core.
public func sinePositionEncoding(height: Int, width: Int, features: Int = 64, temperature: Float = 10000) -> [Float] {
    let key = [height, width, features, Int(temperature.bitPattern)]
    if let known = rememberedEncodings.withLock({ $0[key] }) { return known }
    let values = computeSinePositionEncoding(height: height, width: width, features: features, temperature: temperature)
    rememberedEncodings.withLock { remembered in
        if remembered.count >= 16 { remembered.removeAll() }
        remembered[key] = values
    }
    return values
}

private let rememberedEncodings = Mutex<[[Int]: [Float]]>([:])

private func computeSinePositionEncoding(height: Int, width: Int, features: Int, temperature: Float) -> [Float] {
    let scale = 2 * Float.pi, eps: Float = 1e-6
    var dimT = [Float](repeating: 0, count: features)
    for k in 0..<features {
        dimT[k] = powf(temperature, Float(2 * (k / 2)) / Float(features))
    }
    var out = [Float](repeating: 0, count: 2 * features * height * width)
    for y in 0..<height {
        let yEmbed = Float(y + 1) / (Float(height) + eps) * scale
        for x in 0..<width {
            let xEmbed = Float(x + 1) / (Float(width) + eps) * scale
            for k in 0..<features {
                let py = yEmbed / dimT[k], px = xEmbed / dimT[k]
                out[(k * height + y) * width + x] = k % 2 == 0 ? sinf(py) : cosf(py)
                out[((features + k) * height + y) * width + x] = k % 2 == 0 ? sinf(px) : cosf(px)
            }
        }
    }
    return out
}

#if canImport(Glibc)
import Glibc
#endif
