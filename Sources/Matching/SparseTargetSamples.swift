import Autograd
import Targets

/// The target masks of one image sampled at the matcher's points, keeping only the values that
/// are not 0: per target, ascending point indices and their values, and the sum of all its values.
///
/// A target is 0 at most points, and a zero adds nothing to the cost's sums. The points are in
/// raster order of the prediction map (`HungarianMatcher.rasterOrdered`), so the points in the
/// prediction pixels near a target's rectangle are one contiguous range per pixel row; of these,
/// only the points within two pixels of the rectangle are sampled, from the target's crop
/// (`Tensor.sampleWindow`: the values of `Tensor.sampledValues` on the whole mask).
struct SparseTargetSamples {
    /// Target j's entries are `start[j]..<start[j + 1]` of `index` and `value`.
    var start: [Int]
    var index: [Int32]
    var value: [Float]
    /// Σ of each target's values over all points.
    var sums: [Double]

    /// `crops`: the targets' masks (`height` x `width`) by `MaskCrop.of`. `points`: `[P, 2]` in
    /// the unit square, raster-ordered on a prediction map `gridWidth` pixels wide
    /// (`pixelStarts[i]` is the first point in pixel i, by `HungarianMatcher.rasterOrdered`).
    init(crops: [MaskCrop], height h: Int, width w: Int, points: [Float], pixelStarts: [Int], gridWidth: Int) {
        let gridRows = (pixelStarts.count - 1) / gridWidth
        let b = MaskCrop.border
        start = [0]
        index = []
        value = []
        sums = []
        let capacity = points.count / 2
        let chosen = UnsafeMutablePointer<Int32>.allocate(capacity: capacity)
        let coords = UnsafeMutablePointer<Float>.allocate(capacity: 2 * capacity)
        let values = UnsafeMutablePointer<Float>.allocate(capacity: capacity)
        defer { chosen.deallocate(); coords.deallocate(); values.deallocate() }
        points.withUnsafeBufferPointer { pp in
            let P = pp.baseAddress!
            for crop in crops {
                var m = 0
                if !crop.rows.isEmpty {
                    // A point's taps reach the pixels around u·W − 0.5: sample the points within
                    // two pixels of the rectangle (one would do; the second keeps rounding away).
                    let (u0, u1) = (Float(crop.cols.lowerBound - 2) / Float(w), Float(crop.cols.upperBound + 2) / Float(w))
                    let (v0, v1) = (Float(crop.rows.lowerBound - 2) / Float(h), Float(crop.rows.upperBound + 2) / Float(h))
                    let r0 = Swift.max(Int((v0 * Float(gridRows)).rounded(.down)) - 1, 0)
                    let r1 = Swift.min(Int((v1 * Float(gridRows)).rounded(.down)) + 1, gridRows - 1)
                    let c0 = Swift.max(Int((u0 * Float(gridWidth)).rounded(.down)) - 1, 0)
                    let c1 = Swift.min(Int((u1 * Float(gridWidth)).rounded(.down)) + 1, gridWidth - 1)
                    if r0 <= r1 && c0 <= c1 {
                        for r in r0...r1 {
                            for k in pixelStarts[r * gridWidth + c0]..<pixelStarts[r * gridWidth + c1 + 1] {
                                let (u, v) = (P[2 &* k], P[2 &* k &+ 1])
                                // NaN coordinates fail the test (and would sample as 0).
                                if u >= u0 && u <= u1 && v >= v0 && v <= v1 {
                                    chosen[m] = Int32(truncatingIfNeeded: k)
                                    coords[2 &* m] = u
                                    coords[2 &* m &+ 1] = v
                                    m &+= 1
                                }
                            }
                        }
                    }
                    crop.values.withUnsafeBufferPointer {
                        Tensor.sampleWindow($0, origin: (crop.cols.lowerBound - b, crop.rows.lowerBound - b), windowWidth: crop.windowWidth,
                                            height: h, width: w, points: coords, count: m, into: values)
                    }
                }
                var (kept, sum) = (0, 0.0)
                for i in 0..<m where values[i] != 0 {
                    chosen[kept] = chosen[i]
                    values[kept] = values[i]
                    sum += Double(values[i])
                    kept += 1
                }
                index.append(contentsOf: UnsafeBufferPointer(start: chosen, count: kept))
                value.append(contentsOf: UnsafeBufferPointer(start: values, count: kept))
                start.append(index.count)
                sums.append(sum)
            }
        }
    }

    /// The first of target j's entries whose point index is `point` or later.
    @inline(__always)
    func firstEntry(of j: Int, atOrAfter point: Int) -> Int {
        var (lo, hi) = (start[j], start[j + 1])
        while lo < hi {
            let mid = (lo + hi) / 2
            if Int(index[mid]) < point { lo = mid + 1 } else { hi = mid }
        }
        return lo
    }
}
