"""Fits the polynomial Q of the matcher's log(1 + e) = e * Q(e), e in [0, 1]
(Sources/Matching/SigmoidSoftplusSums.swift): Chebyshev interpolation of log1p(e)/e at the
Chebyshev nodes of [0, 1], converted to the power basis, and its worst error when evaluated in
float32 with fused multiply-adds (Horner). Run: python3 scripts/fit_log1p.py [degree]  (numpy)."""
import sys
import numpy as np
from numpy.polynomial import chebyshev as C, polynomial as P

deg = int(sys.argv[1]) if len(sys.argv) > 1 else 8
k = np.arange(deg + 1)
nodes = 0.5 + 0.5 * np.cos(np.pi * (k + 0.5) / (deg + 1))
cheb = C.chebfit(2 * nodes - 1, np.log1p(nodes) / nodes, deg)
power = np.zeros(1)
s_pow = np.array([1.0])  # (2e - 1)^i
for c in C.cheb2poly(cheb):
    power = P.polyadd(power, c * s_pow)
    s_pow = P.polymul(s_pow, [-1, 2])
coef = power.astype(np.float32)

e = np.linspace(0, 1, 400001)[1:]
e32 = e.astype(np.float32)
q = np.full_like(e32, coef[-1])
for c in coef[-2::-1]:
    q = (q.astype(np.float64) * e32 + c).astype(np.float32)  # one rounding per step, as an FMA
y = (q.astype(np.float64) * e32).astype(np.float32)
err = np.abs(y.astype(np.float64) - np.log1p(e32.astype(np.float64)))
print(f"degree {deg}: max abs error {err.max():.3g}, max relative {(err / np.log1p(e32.astype(np.float64))).max():.3g}")
print("coefficients, highest first:", [float(c) for c in coef[::-1]])
