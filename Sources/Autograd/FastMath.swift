/// Float exp and log written with arithmetic, bit casts and selects only, so that loops calling
/// them vectorise (a call into libm per element does not). Cephes' single-precision
/// polynomials: within 2 ulp of the correctly rounded result on the normal range (tested against
/// libm in `FastMathTests`).

/// e^x. Underflows to 0 below −87.3 (where the true value is denormal), inf above 88.72;
/// NaN gives NaN. Between 88.376 and 88.72 it returns exp(88.376) (a known loss at the very top
/// of the float range, where any use would overflow a sum anyway).
@inlinable @inline(__always)
public func fastExp(_ x: Float) -> Float {
    // Clamped so that 2^n stays a normal float (exp(88.376) = 2.4e38); beyond, the selects below
    // give 0 or inf. NaN passes through min/max and the arithmetic as NaN.
    let clamped = Swift.min(Swift.max(x, -87.33654), 88.3762626647949)
    // x = n·ln2 + r, |r| <= ln2/2 (ln2 split in two for an exact product). n is rounded by the
    // 1.5·2^23 trick: no float-to-int conversion, whose range check would stop vectorisation.
    let shifted = clamped * 1.442695041 + 12582912
    let n = shifted - 12582912
    let ni = Int32(bitPattern: shifted.bitPattern) &- 0x4B40_0000
    let r = clamped - n * 0.693359375 + n * 2.12194440e-4
    var p: Float = 1.9875691500e-4
    p = p * r + 1.3981999507e-3
    p = p * r + 8.3334519073e-3
    p = p * r + 4.1665795894e-2
    p = p * r + 1.6666665459e-1
    p = p * r + 5.0000001201e-1
    p = p * r * r + r + 1
    var y = p * Float(bitPattern: UInt32(bitPattern: (ni &+ 127) &<< 23))
    y = x < -87.33654 ? 0 : y
    return x > 88.72284 ? .infinity : y
}

/// Natural logarithm. 0 gives −inf, negative numbers and NaN give NaN, inf gives inf.
/// Denormal inputs are scaled first.
@inlinable @inline(__always)
public func fastLog(_ x: Float) -> Float {
    // Denormals: scale into the normal range (2^23) and correct the exponent.
    let isDenormal = x < Float.leastNormalMagnitude && x > 0
    let v = isDenormal ? x * 8388608 : x
    let bits = v.bitPattern
    var e = Int32(bitPattern: (bits &>> 23) & 0xFF) &- 126
    // Mantissa m in [0.5, 1); then into [sqrt(0.5), sqrt(2)).
    var m = Float(bitPattern: (bits & 0x807F_FFFF) | 0x3F00_0000)
    let small = m < 0.707106781
    m = small ? m + m - 1 : m - 1
    e = small ? e &- 1 : e
    let f = Float(e) - (isDenormal ? 23 : 0)
    let z = m * m
    var y: Float = 7.0376836292e-2
    y = y * m - 1.1514610310e-1
    y = y * m + 1.1676998740e-1
    y = y * m - 1.2420140846e-1
    y = y * m + 1.4249322787e-1
    y = y * m - 1.6668057665e-1
    y = y * m + 2.0000714765e-1
    y = y * m - 2.4999993993e-1
    y = y * m + 3.3333331174e-1
    y = y * m * z
    y += f * -2.12194440e-4
    y += -0.5 * z
    var result = m + y + f * 0.693359375
    result = x == 0 ? -.infinity : result
    result = (x < 0 || x.isNaN) ? .nan : result
    return x == .infinity ? .infinity : result
}

/// log(1 + e) for e in [0, 1] (the range softplus needs), given t = e / (2 + e) in [0, 1/3]:
/// log(1 + e) = 2·atanh(t), summed as its odd series to t^13 (within 3e-7 relative). Plain
/// multiply-adds, no bit tricks.
@inlinable @inline(__always)
public func log1pOfUnit(t: Float) -> Float {
    let t2 = t * t
    var p: Float = 1.0 / 13
    p = p * t2 + 1.0 / 11
    p = p * t2 + 1.0 / 9
    p = p * t2 + 1.0 / 7
    p = p * t2 + 1.0 / 5
    p = p * t2 + 1.0 / 3
    p = p * t2 + 1
    return 2 * t * p
}

/// Stable log(1 + e^x).
@inlinable @inline(__always)
public func fastSoftplus(_ x: Float) -> Float {
    let e = fastExp(-Swift.abs(x))
    return Swift.max(x, 0) + log1pOfUnit(t: e / (2 + e))
}

/// Stable 1 / (1 + e^−x).
@inlinable @inline(__always)
public func fastSigmoid(_ x: Float) -> Float {
    let e = fastExp(-Swift.abs(x))
    let r = 1 / (1 + e)
    return x >= 0 ? r : e * r
}
