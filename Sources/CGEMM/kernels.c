// Elementwise kernels with run-time dispatch (see include/uniseg_kernels.h).
#include "uniseg_kernels.h"
#include "uniseg_bilinear_taps.h"

#include <immintrin.h>
#include <math.h>
#include <string.h>

int uniseg_kernels_avx2(void) {
    static int cached = -1;
    if (cached < 0) cached = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    return cached;
}

// ---- portable: one value at a time, fmaf (exact) where the vector code fuses ----

static inline float bits_to_float(int32_t i) { float f; memcpy(&f, &i, 4); return f; }
static inline int32_t float_to_bits(float f) { int32_t i; memcpy(&i, &f, 4); return i; }

static void sigmoid_softplus_1(float v, float *sigmoid, float *softplus) {
    float x = -(v < 0 ? -v : v);
    if (x < -87.33654f) x = -87.33654f;
    float shifted = fmaf(x, 1.442695041f, 12582912.0f);
    float n = shifted - 12582912.0f;
    float two_to_n = bits_to_float((int32_t)((uint32_t)(float_to_bits(shifted) - (0x4B400000 - 127)) << 23));
    float r = fmaf(n, -0.693359375f, x);
    r = fmaf(n, 2.12194440e-4f, r);
    float p = 1.9875691500e-4f;
    p = fmaf(p, r, 1.3981999507e-3f);
    p = fmaf(p, r, 8.3334519073e-3f);
    p = fmaf(p, r, 4.1665795894e-2f);
    p = fmaf(p, r, 1.6666665459e-1f);
    p = fmaf(p, r, 5.0000001201e-1f);
    float e = (fmaf(p, r * r, r) + 1.0f) * two_to_n;
    float d = e + 1.0f;
    float inv = fmaf(d, -8.0f / 17.0f, 24.0f / 17.0f);
    for (int k = 0; k < 3; k++) inv = fmaf(inv, fmaf(-d, inv, 1.0f), inv);
    *sigmoid = v >= 0 ? inv : e * inv;
    float q = 0.005126102361828089f;
    q = fmaf(q, e, -0.029074065387248993f);
    q = fmaf(q, e, 0.0775160863995552f);
    q = fmaf(q, e, -0.13602247834205627f);
    q = fmaf(q, e, 0.19076880812644958f);
    q = fmaf(q, e, -0.2483539879322052f);
    q = fmaf(q, e, 0.3331812024116516f);
    q = fmaf(q, e, -0.4999944567680359f);
    q = fmaf(q, e, 0.9999999403953552f);
    *softplus = fmaf(q, e, v < 0 ? 0.0f : v);
}

// ---- AVX2 + FMA: 8 values at a time, the same operations ----

#define TARGET __attribute__((target("avx2,fma")))

TARGET static inline void sigmoid_softplus_8(__m256 v, __m256 *sigmoid, __m256 *softplus) {
    const __m256 zero = _mm256_setzero_ps(), sign = _mm256_set1_ps(-0.0f);
    __m256 negative = _mm256_cmp_ps(v, zero, _CMP_LT_OQ);
    __m256 t = _mm256_blendv_ps(v, _mm256_xor_ps(v, sign), negative);      // |v| (NaN stays)
    __m256 x = _mm256_xor_ps(t, sign);
    const __m256 low = _mm256_set1_ps(-87.33654f);
    x = _mm256_blendv_ps(x, low, _mm256_cmp_ps(x, low, _CMP_LT_OQ));
    __m256 shifted = _mm256_fmadd_ps(x, _mm256_set1_ps(1.442695041f), _mm256_set1_ps(12582912.0f));
    __m256 n = _mm256_sub_ps(shifted, _mm256_set1_ps(12582912.0f));
    __m256 two_to_n = _mm256_castsi256_ps(_mm256_slli_epi32(
        _mm256_sub_epi32(_mm256_castps_si256(shifted), _mm256_set1_epi32(0x4B400000 - 127)), 23));
    __m256 r = _mm256_fmadd_ps(n, _mm256_set1_ps(-0.693359375f), x);
    r = _mm256_fmadd_ps(n, _mm256_set1_ps(2.12194440e-4f), r);
    __m256 p = _mm256_set1_ps(1.9875691500e-4f);
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.3981999507e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(8.3334519073e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.1665795894e-2f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.6666665459e-1f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(5.0000001201e-1f));
    const __m256 one = _mm256_set1_ps(1.0f);
    __m256 e = _mm256_mul_ps(_mm256_add_ps(_mm256_fmadd_ps(p, _mm256_mul_ps(r, r), r), one), two_to_n);
    __m256 d = _mm256_add_ps(e, one);
    __m256 inv = _mm256_fmadd_ps(d, _mm256_set1_ps(-8.0f / 17.0f), _mm256_set1_ps(24.0f / 17.0f));
    __m256 negd = _mm256_xor_ps(d, sign);
    for (int k = 0; k < 3; k++) inv = _mm256_fmadd_ps(inv, _mm256_fmadd_ps(negd, inv, one), inv);
    __m256 nonnegative = _mm256_cmp_ps(v, zero, _CMP_GE_OQ);
    *sigmoid = _mm256_blendv_ps(_mm256_mul_ps(e, inv), inv, nonnegative);
    __m256 q = _mm256_set1_ps(0.005126102361828089f);
    q = _mm256_fmadd_ps(q, e, _mm256_set1_ps(-0.029074065387248993f));
    q = _mm256_fmadd_ps(q, e, _mm256_set1_ps(0.0775160863995552f));
    q = _mm256_fmadd_ps(q, e, _mm256_set1_ps(-0.13602247834205627f));
    q = _mm256_fmadd_ps(q, e, _mm256_set1_ps(0.19076880812644958f));
    q = _mm256_fmadd_ps(q, e, _mm256_set1_ps(-0.2483539879322052f));
    q = _mm256_fmadd_ps(q, e, _mm256_set1_ps(0.3331812024116516f));
    q = _mm256_fmadd_ps(q, e, _mm256_set1_ps(-0.4999944567680359f));
    q = _mm256_fmadd_ps(q, e, _mm256_set1_ps(0.9999999403953552f));
    *softplus = _mm256_fmadd_ps(q, e, _mm256_blendv_ps(v, zero, negative));
}

TARGET static void sums_avx2(const float *x, int64_t rows, int64_t lanes, float *sigmoid, float *soft_sum, float *sig_sum, float *scratch) {
    int64_t period = 2 * lanes;
    float *soft = scratch, *sig = scratch + period;
    memset(scratch, 0, sizeof(float) * 2 * period);
    int64_t f = 0, pairs_end = rows / 2 * period;
    for (; f < pairs_end; f += period) {
        for (int64_t c = 0; c < period; c += 8) {
            __m256 s, sp;
            sigmoid_softplus_8(_mm256_loadu_ps(x + f + c), &s, &sp);
            _mm256_storeu_ps(sigmoid + f + c, s);
            _mm256_storeu_ps(soft + c, _mm256_add_ps(_mm256_loadu_ps(soft + c), sp));
            _mm256_storeu_ps(sig + c, _mm256_add_ps(_mm256_loadu_ps(sig + c), s));
        }
    }
    for (int64_t c = 0; c < lanes; c++) { soft_sum[c] = soft[c] + soft[lanes + c]; sig_sum[c] = sig[c] + sig[lanes + c]; }
    if (rows % 2 == 1) {
        for (int64_t c = 0; c < lanes; c += 8) {
            __m256 s, sp;
            sigmoid_softplus_8(_mm256_loadu_ps(x + f + c), &s, &sp);
            _mm256_storeu_ps(sigmoid + f + c, s);
            _mm256_storeu_ps(soft_sum + c, _mm256_add_ps(_mm256_loadu_ps(soft_sum + c), sp));
            _mm256_storeu_ps(sig_sum + c, _mm256_add_ps(_mm256_loadu_ps(sig_sum + c), s));
        }
    }
}

void uniseg_sigmoid_softplus_sums_portable(const float *x, int64_t rows, int64_t lanes, float *sigmoid,
                                           float *softplus_sum, float *sigmoid_sum, float *scratch);

static void sums_portable(const float *x, int64_t rows, int64_t lanes, float *sigmoid, float *soft_sum, float *sig_sum, float *scratch) {
    int64_t period = 2 * lanes;
    float *soft = scratch, *sig = scratch + period;
    memset(scratch, 0, sizeof(float) * 2 * period);
    int64_t f = 0, pairs_end = rows / 2 * period;
    for (; f < pairs_end; f += period) {
        for (int64_t c = 0; c < period; c++) {
            float s, sp;
            sigmoid_softplus_1(x[f + c], &s, &sp);
            sigmoid[f + c] = s;
            soft[c] += sp;
            sig[c] += s;
        }
    }
    for (int64_t c = 0; c < lanes; c++) { soft_sum[c] = soft[c] + soft[lanes + c]; sig_sum[c] = sig[c] + sig[lanes + c]; }
    if (rows % 2 == 1) {
        for (int64_t c = 0; c < lanes; c++) {
            float s, sp;
            sigmoid_softplus_1(x[f + c], &s, &sp);
            sigmoid[f + c] = s;
            soft_sum[c] += sp;
            sig_sum[c] += s;
        }
    }
}

void uniseg_sigmoid_softplus_sums_portable(const float *x, int64_t rows, int64_t lanes, float *sigmoid,
                                           float *softplus_sum, float *sigmoid_sum, float *scratch) {
    sums_portable(x, rows, lanes, sigmoid, softplus_sum, sigmoid_sum, scratch);
}

void uniseg_sigmoid_softplus_sums(const float *x, int64_t rows, int64_t lanes, float *sigmoid,
                                  float *softplus_sum, float *sigmoid_sum, float *scratch) {
    if (uniseg_kernels_avx2()) sums_avx2(x, rows, lanes, sigmoid, softplus_sum, sigmoid_sum, scratch);
    else sums_portable(x, rows, lanes, sigmoid, softplus_sum, sigmoid_sum, scratch);
}

// ---- bilinear point sampling (Autograd's `Tensor.sampleMap`) ----
// The Swift reference's operations, in its order, never fused into multiply-adds.
#pragma clang fp contract(off)

static inline float unit_to_pixel(float u, float size) { return ((2.0f * u - 1.0f + 1.0f) * size - 1.0f) / 2.0f; }

// One point's taps (uniseg_bilinear_taps.h).
static inline void taps_one(int64_t h, int64_t w, float u, float v, int64_t o[4], float wt[4]) {
    uniseg_taps t = uniseg_pixel_taps(unit_to_pixel(u, (float)w), unit_to_pixel(v, (float)h), h, w);
    for (int i = 0; i < 4; i++) { o[i] = t.o[i]; wt[i] = t.w[i]; }
}

static inline float sample_one(const float *map, int64_t h, int64_t w, float u, float v) {
    int64_t o[4]; float wt[4];
    taps_one(h, w, u, v, o, wt);
    return wt[0] * map[o[0]] + wt[1] * map[o[1]] + wt[2] * map[o[2]] + wt[3] * map[o[3]];
}

// The gradient: each point adds its four weighted taps, in point order.
static inline void scatter_one(float *dmap, const int64_t o[4], const float wt[4], float g) {
    dmap[o[0]] += wt[0] * g; dmap[o[1]] += wt[1] * g; dmap[o[2]] += wt[2] * g; dmap[o[3]] += wt[3] * g;
}

void uniseg_sample_map_backward_portable(const float *grad, int64_t h, int64_t w, const float *points, int64_t n, float *dmap) {
    for (int64_t e = 0; e < n; e++) {
        int64_t o[4]; float wt[4];
        taps_one(h, w, points[2 * e], points[2 * e + 1], o, wt);
        scatter_one(dmap, o, wt, grad[e]);
    }
}

void uniseg_sample_map_portable(const float *map, int64_t h, int64_t w, const float *points, int64_t n, float *out) {
    for (int64_t e = 0; e < n; e++) out[e] = sample_one(map, h, w, points[2 * e], points[2 * e + 1]);
}

// The pixel positions (`unit_to_pixel`) of eight interleaved (x, y) unit-square points.
TARGET static inline void pixel_positions_8(const float *points, __m256 fw, __m256 fh, __m256 *ix, __m256 *iy) {
    const __m256 one = _mm256_set1_ps(1.0f), two = _mm256_set1_ps(2.0f);
    __m256 a = _mm256_loadu_ps(points), b = _mm256_loadu_ps(points + 8);
    // (x0 y0 x1 y1 ...) -> x0..x7 and y0..y7
    __m256 xs = _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(_mm256_shuffle_ps(a, b, _MM_SHUFFLE(2, 0, 2, 0))), _MM_SHUFFLE(3, 1, 2, 0)));
    __m256 ys = _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(_mm256_shuffle_ps(a, b, _MM_SHUFFLE(3, 1, 3, 1))), _MM_SHUFFLE(3, 1, 2, 0)));
    *ix = _mm256_div_ps(_mm256_sub_ps(_mm256_mul_ps(_mm256_add_ps(_mm256_sub_ps(_mm256_mul_ps(two, xs), one), one), fw), one), two);
    *iy = _mm256_div_ps(_mm256_sub_ps(_mm256_mul_ps(_mm256_add_ps(_mm256_sub_ps(_mm256_mul_ps(two, ys), one), one), fh), one), two);
}

// The taps of eight points on the fast path: offsets of the top-left taps, the fractions, and
// which points are on it (the others get offset 0 and are redone one by one by the callers).
TARGET static inline int taps_8(const float *points, __m256 fw, __m256 fh, __m256 xmax, __m256 ymax, __m256i wv,
                                __m256i *o, __m256 *lx, __m256 *ly) {
    const __m256 zero = _mm256_setzero_ps();
    __m256 ix, iy;
    pixel_positions_8(points, fw, fh, &ix, &iy);
    __m256 fast = _mm256_and_ps(_mm256_and_ps(_mm256_cmp_ps(ix, zero, _CMP_GE_OQ), _mm256_cmp_ps(ix, xmax, _CMP_LT_OQ)),
                                _mm256_and_ps(_mm256_cmp_ps(iy, zero, _CMP_GE_OQ), _mm256_cmp_ps(iy, ymax, _CMP_LT_OQ)));
    ix = _mm256_and_ps(ix, fast);
    iy = _mm256_and_ps(iy, fast);
    __m256i x0 = _mm256_cvttps_epi32(ix), y0 = _mm256_cvttps_epi32(iy);
    *lx = _mm256_sub_ps(ix, _mm256_cvtepi32_ps(x0));
    *ly = _mm256_sub_ps(iy, _mm256_cvtepi32_ps(y0));
    *o = _mm256_add_epi32(_mm256_mullo_epi32(y0, wv), x0);
    return ~_mm256_movemask_ps(fast) & 0xFF;
}

// Eight points at a time with gathers; points off the fast path (near the border: a third of
// the groups on a 64-pixel map hold one) go one by one.
TARGET static void sample_map_avx2(const float *map, int64_t h, int64_t w, const float *points, int64_t n, float *out) {
    const __m256 one = _mm256_set1_ps(1.0f), fw = _mm256_set1_ps((float)w), fh = _mm256_set1_ps((float)h);
    const __m256 xmax = _mm256_set1_ps((float)(w - 1)), ymax = _mm256_set1_ps((float)(h - 1));
    const __m256i wv = _mm256_set1_epi32((int32_t)w), onei = _mm256_set1_epi32(1);
    int64_t e = 0;
    for (; e + 8 <= n; e += 8) {
        __m256i o; __m256 lx, ly;
        int slow = taps_8(points + 2 * e, fw, fh, xmax, ymax, wv, &o, &lx, &ly);
        __m256 mx = _mm256_sub_ps(one, lx), my = _mm256_sub_ps(one, ly);
        __m256 t00 = _mm256_i32gather_ps(map, o, 4), t01 = _mm256_i32gather_ps(map, _mm256_add_epi32(o, onei), 4);
        __m256i o1 = _mm256_add_epi32(o, wv);
        __m256 t10 = _mm256_i32gather_ps(map, o1, 4), t11 = _mm256_i32gather_ps(map, _mm256_add_epi32(o1, onei), 4);
        __m256 s = _mm256_add_ps(_mm256_mul_ps(_mm256_mul_ps(my, mx), t00), _mm256_mul_ps(_mm256_mul_ps(my, lx), t01));
        s = _mm256_add_ps(s, _mm256_mul_ps(_mm256_mul_ps(ly, mx), t10));
        s = _mm256_add_ps(s, _mm256_mul_ps(_mm256_mul_ps(ly, lx), t11));
        _mm256_storeu_ps(out + e, s);
        while (slow) {
            int k = __builtin_ctz(slow);
            out[e + k] = sample_one(map, h, w, points[2 * (e + k)], points[2 * (e + k) + 1]);
            slow &= slow - 1;
        }
    }
    for (; e < n; e++) out[e] = sample_one(map, h, w, points[2 * e], points[2 * e + 1]);
}

// The gradient with the taps of eight points computed at once; the adds stay in point order.
TARGET static void sample_map_backward_avx2(const float *grad, int64_t h, int64_t w, const float *points, int64_t n, float *dmap) {
    const __m256 one = _mm256_set1_ps(1.0f), fw = _mm256_set1_ps((float)w), fh = _mm256_set1_ps((float)h);
    const __m256 xmax = _mm256_set1_ps((float)(w - 1)), ymax = _mm256_set1_ps((float)(h - 1));
    const __m256i wv = _mm256_set1_epi32((int32_t)w);
    int64_t e = 0;
    for (; e + 8 <= n; e += 8) {
        __m256i o; __m256 lx, ly;
        int slow = taps_8(points + 2 * e, fw, fh, xmax, ymax, wv, &o, &lx, &ly);
        __m256 mx = _mm256_sub_ps(one, lx), my = _mm256_sub_ps(one, ly);
        int32_t off[8]; float w00[8], w01[8], w10[8], w11[8];
        _mm256_storeu_si256((__m256i *)off, o);
        _mm256_storeu_ps(w00, _mm256_mul_ps(my, mx)); _mm256_storeu_ps(w01, _mm256_mul_ps(my, lx));
        _mm256_storeu_ps(w10, _mm256_mul_ps(ly, mx)); _mm256_storeu_ps(w11, _mm256_mul_ps(ly, lx));
        for (int k = 0; k < 8; k++) {
            int64_t t[4]; float wt[4];
            if (slow >> k & 1) {
                taps_one(h, w, points[2 * (e + k)], points[2 * (e + k) + 1], t, wt);
            } else {
                t[0] = off[k]; t[1] = t[0] + 1; t[2] = t[0] + w; t[3] = t[0] + w + 1;
                wt[0] = w00[k]; wt[1] = w01[k]; wt[2] = w10[k]; wt[3] = w11[k];
            }
            scatter_one(dmap, t, wt, grad[e + k]);
        }
    }
    for (; e < n; e++) {
        int64_t t[4]; float wt[4];
        taps_one(h, w, points[2 * e], points[2 * e + 1], t, wt);
        scatter_one(dmap, t, wt, grad[e]);
    }
}

void uniseg_sample_map(const float *map, int64_t h, int64_t w, const float *points, int64_t n, float *out) {
    // Gathers index with 32-bit offsets: larger maps take the portable path.
    if (uniseg_kernels_avx2() && h * w < ((int64_t)1 << 31) - w - 1) sample_map_avx2(map, h, w, points, n, out);
    else uniseg_sample_map_portable(map, h, w, points, n, out);
}

void uniseg_sample_map_backward(const float *grad, int64_t h, int64_t w, const float *points, int64_t n, float *dmap) {
    if (uniseg_kernels_avx2() && h * w < ((int64_t)1 << 31) - w - 1) sample_map_backward_avx2(grad, h, w, points, n, dmap);
    else uniseg_sample_map_backward_portable(grad, h, w, points, n, dmap);
}

// ---- bilinear reads of a window of a map (Autograd's `Tensor.sampleWindow`) ----

// One point; -1 marks a point whose taps leave the window.
static inline float window_one(const float *win, int64_t ww, int64_t wh, float ox, float oy, float fw, float fh,
                               float u, float v, int *outside) {
    float ix = unit_to_pixel(u, fw), iy = unit_to_pixel(v, fh);
    float fx = floorf(ix), fy = floorf(iy);
    float dx = fx - ox, dy = fy - oy;
    if (!(dx >= 0 && dx < (float)(ww - 1) && dy >= 0 && dy < (float)(wh - 1))) { *outside = 1; return 0; }
    float lx = ix - fx, ly = iy - fy;
    const float *t = win + (int64_t)dy * ww + (int64_t)dx;
    return (1 - ly) * (1 - lx) * t[0] + (1 - ly) * lx * t[1] + ly * (1 - lx) * t[ww] + ly * lx * t[ww + 1];
}

int64_t uniseg_sample_window_portable(const float *win, int64_t ww, int64_t wh, int64_t ox, int64_t oy, int64_t h, int64_t w,
                                      const float *points, int64_t n, int zero_ring, float *out) {
    for (int64_t e = 0; e < n; e++) {
        int outside = 0;
        out[e] = window_one(win, ww, wh, (float)ox, (float)oy, (float)w, (float)h, points[2 * e], points[2 * e + 1], &outside);
        if (outside && !zero_ring) return e;
    }
    return -1;
}

TARGET static int64_t sample_window_avx2(const float *win, int64_t ww, int64_t wh, int64_t ox, int64_t oy, int64_t h, int64_t w,
                                         const float *points, int64_t n, int zero_ring, float *out) {
    const __m256 one = _mm256_set1_ps(1.0f), zero = _mm256_setzero_ps();
    const __m256 fw = _mm256_set1_ps((float)w), fh = _mm256_set1_ps((float)h);
    const __m256 oxv = _mm256_set1_ps((float)ox), oyv = _mm256_set1_ps((float)oy);
    const __m256 xmax = _mm256_set1_ps((float)(ww - 1)), ymax = _mm256_set1_ps((float)(wh - 1));
    const __m256i wwv = _mm256_set1_epi32((int32_t)ww), onei = _mm256_set1_epi32(1);
    int64_t e = 0;
    for (; e + 8 <= n; e += 8) {
        __m256 ix, iy;
        pixel_positions_8(points + 2 * e, fw, fh, &ix, &iy);
        __m256 fx = _mm256_floor_ps(ix), fy = _mm256_floor_ps(iy);
        __m256 dx = _mm256_sub_ps(fx, oxv), dy = _mm256_sub_ps(fy, oyv);
        __m256 in = _mm256_and_ps(_mm256_and_ps(_mm256_cmp_ps(dx, zero, _CMP_GE_OQ), _mm256_cmp_ps(dx, xmax, _CMP_LT_OQ)),
                                  _mm256_and_ps(_mm256_cmp_ps(dy, zero, _CMP_GE_OQ), _mm256_cmp_ps(dy, ymax, _CMP_LT_OQ)));
        int inside = _mm256_movemask_ps(in);
        if (inside != 0xFF && !zero_ring) return e + __builtin_ctz(~inside & 0xFF);
        __m256 lx = _mm256_sub_ps(ix, fx), ly = _mm256_sub_ps(iy, fy);
        __m256 mx = _mm256_sub_ps(one, lx), my = _mm256_sub_ps(one, ly);
        // Points outside read nothing (masked gathers at offset 0) and give 0.
        __m256i o = _mm256_add_epi32(_mm256_mullo_epi32(_mm256_cvttps_epi32(_mm256_and_ps(dy, in)), wwv),
                                     _mm256_cvttps_epi32(_mm256_and_ps(dx, in)));
        __m256i o1 = _mm256_add_epi32(o, wwv);
        __m256 t00 = _mm256_mask_i32gather_ps(zero, win, o, in, 4);
        __m256 t01 = _mm256_mask_i32gather_ps(zero, win, _mm256_add_epi32(o, onei), in, 4);
        __m256 t10 = _mm256_mask_i32gather_ps(zero, win, o1, in, 4);
        __m256 t11 = _mm256_mask_i32gather_ps(zero, win, _mm256_add_epi32(o1, onei), in, 4);
        __m256 s = _mm256_add_ps(_mm256_mul_ps(_mm256_mul_ps(my, mx), t00), _mm256_mul_ps(_mm256_mul_ps(my, lx), t01));
        s = _mm256_add_ps(s, _mm256_mul_ps(_mm256_mul_ps(ly, mx), t10));
        s = _mm256_add_ps(s, _mm256_mul_ps(_mm256_mul_ps(ly, lx), t11));
        _mm256_storeu_ps(out + e, _mm256_and_ps(s, in));
    }
    for (; e < n; e++) {
        int outside = 0;
        out[e] = window_one(win, ww, wh, (float)ox, (float)oy, (float)w, (float)h, points[2 * e], points[2 * e + 1], &outside);
        if (outside && !zero_ring) return e;
    }
    return -1;
}

int64_t uniseg_sample_window(const float *win, int64_t ww, int64_t wh, int64_t ox, int64_t oy, int64_t h, int64_t w,
                             const float *points, int64_t n, int zero_ring, float *out) {
    if (uniseg_kernels_avx2() && ww * wh < ((int64_t)1 << 31)) return sample_window_avx2(win, ww, wh, ox, oy, h, w, points, n, zero_ring, out);
    return uniseg_sample_window_portable(win, ww, wh, ox, oy, h, w, points, n, zero_ring, out);
}
