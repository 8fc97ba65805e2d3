import CGEMM

/// The matcher's elementwise kernel: sigmoid and softplus of every sampled prediction, with
/// fused multiply-adds and no division (the matcher's hottest loop: ~700 000 values
/// per image and prediction set).
///
/// Both functions share e = exp(−|v|) in (0, 1]: sigmoid(v) = 1/(1 + e) for v >= 0 and
/// e/(1 + e) below, softplus(v) = max(v, 0) + log(1 + e). exp is Cephes' polynomial (as
/// `fastExp`); 1/(1 + e) is a linear first guess refined by three Newton steps (relative error
/// (1/17)^8 before rounding); log(1 + e) = e·Q(e) with Q a degree-8 Chebyshev fit of
/// log(1 + e)/e on [0, 1] (within 2.1e-7 relative in Float; `scripts/fit_log1p.py` made it).
/// NaN inputs give NaN, +inf gives sigmoid 1 and softplus inf.

@inline(__always)
func load16(_ p: UnsafePointer<Float>) -> SIMD16<Float> {
    UnsafeRawPointer(p).loadUnaligned(as: SIMD16<Float>.self)
}

@inline(__always)
func store16(_ p: UnsafeMutablePointer<Float>, _ v: SIMD16<Float>) {
    UnsafeMutableRawPointer(p).storeBytes(of: v, as: SIMD16<Float>.self)
}

/// (sigmoid(v), softplus(v)) of 16 values.
@inline(__always)
func sigmoidSoftplus(_ v: SIMD16<Float>) -> (sigmoid: SIMD16<Float>, softplus: SIMD16<Float>) {
    typealias V = SIMD16<Float>
    // e = exp(x), x = −|v| <= 0, clamped where 2^n stays normal (e there is 1.2e-38, not 0).
    var x = -v.replacing(with: -v, where: v .< 0)
    x = x.replacing(with: -87.33654, where: x .< -87.33654)
    let shifted = V(repeating: 12582912).addingProduct(x, V(repeating: 1.442695041))
    let n = shifted - 12582912
    let twoToN = unsafeBitCast((unsafeBitCast(shifted, to: SIMD16<Int32>.self) &- (0x4B40_0000 - 127)) &<< 23, to: V.self)
    var r = x.addingProduct(n, V(repeating: -0.693359375))
    r = r.addingProduct(n, V(repeating: 2.12194440e-4))
    var p = V(repeating: 1.9875691500e-4)
    p = V(repeating: 1.3981999507e-3).addingProduct(p, r)
    p = V(repeating: 8.3334519073e-3).addingProduct(p, r)
    p = V(repeating: 4.1665795894e-2).addingProduct(p, r)
    p = V(repeating: 1.6666665459e-1).addingProduct(p, r)
    p = V(repeating: 5.0000001201e-1).addingProduct(p, r)
    let e = (r.addingProduct(p, r * r) + 1) * twoToN

    // 1/d for d = 1 + e in (1, 2]: 24/17 − 8/17·d, then Newton x += x·(1 − d·x).
    let d = e + 1
    var inv = V(repeating: 24.0 / 17).addingProduct(d, V(repeating: -8.0 / 17))
    for _ in 0..<3 { inv = inv.addingProduct(inv, V(repeating: 1).addingProduct(-d, inv)) }
    let sigmoid = (e * inv).replacing(with: inv, where: v .>= 0)

    var q = V(repeating: 0.005126102361828089)
    q = V(repeating: -0.029074065387248993).addingProduct(q, e)
    q = V(repeating: 0.0775160863995552).addingProduct(q, e)
    q = V(repeating: -0.13602247834205627).addingProduct(q, e)
    q = V(repeating: 0.19076880812644958).addingProduct(q, e)
    q = V(repeating: -0.2483539879322052).addingProduct(q, e)
    q = V(repeating: 0.3331812024116516).addingProduct(q, e)
    q = V(repeating: -0.4999944567680359).addingProduct(q, e)
    q = V(repeating: 0.9999999403953552).addingProduct(q, e)
    let softplus = v.replacing(with: 0, where: v .< 0).addingProduct(q, e)
    return (sigmoid, softplus)
}

/// For the `rows` x `lanes` values at `x` (row-major, `lanes` a multiple of 8): writes their
/// sigmoids to `sigmoid` and the column sums of softplus and sigmoid over the rows to
/// `softplusSum[0..<lanes]` and `sigmoidSum[0..<lanes]`; `scratch` holds 4·lanes floats.
///
/// Runs the C kernel (`Sources/CGEMM/kernels.c`) chosen at run time: AVX2 + FMA where the CPU
/// has them, portable C otherwise. Swift's SIMD code above is the same arithmetic but needs a
/// `-target-cpu` build to use FMA instructions (a plain `swift build -c release` ran it through
/// a library `fmaf` call per lane, 15x slower); the C kernel gives the same numbers bit for bit
/// (`PointMaskCostTests`), in every build.
func sigmoidSoftplusSums(_ x: UnsafePointer<Float>, rows: Int, lanes: Int, sigmoid: UnsafeMutablePointer<Float>,
                         softplusSum: UnsafeMutablePointer<Float>, sigmoidSum: UnsafeMutablePointer<Float>,
                         scratch: UnsafeMutablePointer<Float>) {
    precondition(lanes % 8 == 0, "sigmoidSoftplusSums: \(lanes) lanes")
    uniseg_sigmoid_softplus_sums(x, Int64(rows), Int64(lanes), sigmoid, softplusSum, sigmoidSum, scratch)
}
