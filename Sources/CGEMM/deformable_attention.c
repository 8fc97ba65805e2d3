// Multi-scale deformable attention's sample loops (see include/uniseg_deformable_attention.h).
// One loop per direction, instantiated twice: with AVX2 sample kernels (eight channels at a
// time) and with portable ones (one channel at a time, the same operations per channel, and
// the reductions kept in eight lanes so that they sum in the same order).
#include "uniseg_deformable_attention.h"
#include "uniseg_kernels.h"
#include "uniseg_bilinear_taps.h"

#include <immintrin.h>

// The Swift reference's operations, in its order, never fused into multiply-adds.
#pragma clang fp contract(off)

#define TARGET __attribute__((target("avx2")))
#define INLINE static inline __attribute__((always_inline))

/// The four tap rows of one sample (each `stride` floats apart per token).
typedef struct { const float *r[4]; } tap_rows;

static inline tap_rows rows_of(const float *base, int64_t stride, const uniseg_taps *t) {
    tap_rows r = {{base + t->o[0] * stride, base + t->o[1] * stride, base + t->o[2] * stride, base + t->o[3] * stride}};
    return r;
}

// ---- per-sample kernels over the D channels ----

/// out[k] += aw · (w0·v00 + w1·v01 + w2·v10 + w3·v11).
TARGET INLINE void gather_avx2(float *out, int64_t d, tap_rows r, const float w[4], float aw) {
    const __m256 w0 = _mm256_set1_ps(w[0]), w1 = _mm256_set1_ps(w[1]), w2 = _mm256_set1_ps(w[2]), w3 = _mm256_set1_ps(w[3]);
    const __m256 a = _mm256_set1_ps(aw);
    int64_t k = 0;
    for (; k + 8 <= d; k += 8) {
        __m256 v = _mm256_add_ps(_mm256_add_ps(_mm256_add_ps(_mm256_mul_ps(w0, _mm256_loadu_ps(r.r[0] + k)),
                                                             _mm256_mul_ps(w1, _mm256_loadu_ps(r.r[1] + k))),
                                               _mm256_mul_ps(w2, _mm256_loadu_ps(r.r[2] + k))),
                                 _mm256_mul_ps(w3, _mm256_loadu_ps(r.r[3] + k)));
        _mm256_storeu_ps(out + k, _mm256_add_ps(_mm256_loadu_ps(out + k), _mm256_mul_ps(a, v)));
    }
    for (; k < d; k++) out[k] += aw * (w[0] * r.r[0][k] + w[1] * r.r[1][k] + w[2] * r.r[2][k] + w[3] * r.r[3][k]);
}

INLINE void gather_portable(float *out, int64_t d, tap_rows r, const float w[4], float aw) {
    for (int64_t k = 0; k < d; k++) out[k] += aw * (w[0] * r.r[0][k] + w[1] * r.r[1][k] + w[2] * r.r[2][k] + w[3] * r.r[3][k]);
}

/// Each tap row of the value gradient gets weight · (aw · g[k]); rows clamped onto the same
/// token (at the border) alias, so the four updates go one after another.
TARGET INLINE void scatter_avx2(float *const dst[4], int64_t d, const float *g, const float w[4], float aw) {
    const __m256 w0 = _mm256_set1_ps(w[0]), w1 = _mm256_set1_ps(w[1]), w2 = _mm256_set1_ps(w[2]), w3 = _mm256_set1_ps(w[3]);
    const __m256 a = _mm256_set1_ps(aw);
    int64_t k = 0;
    for (; k + 8 <= d; k += 8) {
        __m256 gk = _mm256_mul_ps(a, _mm256_loadu_ps(g + k));
        _mm256_storeu_ps(dst[0] + k, _mm256_add_ps(_mm256_loadu_ps(dst[0] + k), _mm256_mul_ps(w0, gk)));
        _mm256_storeu_ps(dst[1] + k, _mm256_add_ps(_mm256_loadu_ps(dst[1] + k), _mm256_mul_ps(w1, gk)));
        _mm256_storeu_ps(dst[2] + k, _mm256_add_ps(_mm256_loadu_ps(dst[2] + k), _mm256_mul_ps(w2, gk)));
        _mm256_storeu_ps(dst[3] + k, _mm256_add_ps(_mm256_loadu_ps(dst[3] + k), _mm256_mul_ps(w3, gk)));
    }
    for (; k < d; k++) {
        float gk = aw * g[k];
        dst[0][k] += w[0] * gk; dst[1][k] += w[1] * gk; dst[2][k] += w[2] * gk; dst[3][k] += w[3] * gk;
    }
}

INLINE void scatter_portable(float *const dst[4], int64_t d, const float *g, const float w[4], float aw) {
    for (int64_t k = 0; k < d; k++) {
        float gk = aw * g[k];
        dst[0][k] += w[0] * gk; dst[1][k] += w[1] * gk; dst[2][k] += w[2] * gk; dst[3][k] += w[3] * gk;
    }
}

/// The gradient sums of one sample: Σ g·(bilinear value) (the attention weight's gradient) and
/// Σ g·∂value/∂x, Σ g·∂value/∂y, taps outside the map reading zero. Eight lane sums over the
/// channels in steps of eight, added lane 0 to 7, then the remaining channels one by one.
typedef struct { float sampled, gx, gy; } tap_sums;

INLINE float lanes_sum(const float lane[8]) {
    float s = lane[0];
    for (int j = 1; j < 8; j++) s += lane[j];
    return s;
}

INLINE void tap_sums_tail(tap_sums *t, int64_t k, int64_t d, const float *g, tap_rows r, const uniseg_taps *tp) {
    const float *w = tp->w;
    float lx = tp->lx, ly = tp->ly;
    int m = tp->inside;
    for (; k < d; k++) {
        float v00 = m & 1 ? r.r[0][k] : 0, v01 = m & 2 ? r.r[1][k] : 0, v10 = m & 4 ? r.r[2][k] : 0, v11 = m & 8 ? r.r[3][k] : 0;
        t->sampled += g[k] * (w[0] * v00 + w[1] * v01 + w[2] * v10 + w[3] * v11);
        t->gx += g[k] * ((1 - ly) * (v01 - v00) + ly * (v11 - v10));
        t->gy += g[k] * ((1 - lx) * (v10 - v00) + lx * (v11 - v01));
    }
}

TARGET INLINE tap_sums tap_sums_avx2(int64_t d, const float *g, tap_rows r, const uniseg_taps *tp) {
    const __m256 zero = _mm256_setzero_ps();
    const __m256 w0 = _mm256_set1_ps(tp->w[0]), w1 = _mm256_set1_ps(tp->w[1]), w2 = _mm256_set1_ps(tp->w[2]), w3 = _mm256_set1_ps(tp->w[3]);
    const __m256 lx = _mm256_set1_ps(tp->lx), ly = _mm256_set1_ps(tp->ly);
    const __m256 mx = _mm256_set1_ps(1 - tp->lx), my = _mm256_set1_ps(1 - tp->ly);
    int m = tp->inside;
    __m256 sv = zero, xv = zero, yv = zero;
    int64_t k = 0;
    for (; k + 8 <= d; k += 8) {
        __m256 gk = _mm256_loadu_ps(g + k);
        __m256 v00 = m & 1 ? _mm256_loadu_ps(r.r[0] + k) : zero, v01 = m & 2 ? _mm256_loadu_ps(r.r[1] + k) : zero;
        __m256 v10 = m & 4 ? _mm256_loadu_ps(r.r[2] + k) : zero, v11 = m & 8 ? _mm256_loadu_ps(r.r[3] + k) : zero;
        __m256 s = _mm256_add_ps(_mm256_add_ps(_mm256_add_ps(_mm256_mul_ps(w0, v00), _mm256_mul_ps(w1, v01)), _mm256_mul_ps(w2, v10)),
                                 _mm256_mul_ps(w3, v11));
        sv = _mm256_add_ps(sv, _mm256_mul_ps(gk, s));
        __m256 x = _mm256_add_ps(_mm256_mul_ps(my, _mm256_sub_ps(v01, v00)), _mm256_mul_ps(ly, _mm256_sub_ps(v11, v10)));
        xv = _mm256_add_ps(xv, _mm256_mul_ps(gk, x));
        __m256 y = _mm256_add_ps(_mm256_mul_ps(mx, _mm256_sub_ps(v10, v00)), _mm256_mul_ps(lx, _mm256_sub_ps(v11, v01)));
        yv = _mm256_add_ps(yv, _mm256_mul_ps(gk, y));
    }
    float sl[8], xl[8], yl[8];
    _mm256_storeu_ps(sl, sv); _mm256_storeu_ps(xl, xv); _mm256_storeu_ps(yl, yv);
    tap_sums t = {lanes_sum(sl), lanes_sum(xl), lanes_sum(yl)};
    tap_sums_tail(&t, k, d, g, r, tp);
    return t;
}

INLINE tap_sums tap_sums_portable(int64_t d, const float *g, tap_rows r, const uniseg_taps *tp) {
    const float *w = tp->w;
    float lx = tp->lx, ly = tp->ly;
    int m = tp->inside;
    float sl[8] = {0}, xl[8] = {0}, yl[8] = {0};
    int64_t k = 0;
    for (; k + 8 <= d; k += 8) {
        for (int j = 0; j < 8; j++) {
            int64_t c = k + j;
            float v00 = m & 1 ? r.r[0][c] : 0, v01 = m & 2 ? r.r[1][c] : 0, v10 = m & 4 ? r.r[2][c] : 0, v11 = m & 8 ? r.r[3][c] : 0;
            sl[j] += g[c] * (w[0] * v00 + w[1] * v01 + w[2] * v10 + w[3] * v11);
            xl[j] += g[c] * ((1 - ly) * (v01 - v00) + ly * (v11 - v10));
            yl[j] += g[c] * ((1 - lx) * (v10 - v00) + lx * (v11 - v01));
        }
    }
    tap_sums t = {lanes_sum(sl), lanes_sum(xl), lanes_sum(yl)};
    tap_sums_tail(&t, k, d, g, r, tp);
    return t;
}

// ---- the loops, each instantiated with one set of kernels ----

typedef void (*gather_fn)(float *, int64_t, tap_rows, const float *, float);
typedef void (*scatter_fn)(float *const *, int64_t, const float *, const float *, float);
typedef tap_sums (*tap_sums_fn)(int64_t, const float *, tap_rows, const uniseg_taps *);

/// The taps of sample (row, level l, point p): Deformable DETR's x·W − 0.5 pixel position.
INLINE uniseg_taps sample_taps(const float *locations, int64_t wi, int64_t h, int64_t w) {
    return uniseg_pixel_taps(locations[2 * wi] * (float)w - 0.5f, locations[2 * wi + 1] * (float)h - 0.5f, h, w);
}

INLINE void forward_rows(const float *value, const int64_t *shapes, int64_t levels, int64_t points, int64_t s, int64_t q,
                         int64_t heads, int64_t d, const float *locations, const float *weights,
                         int64_t row_begin, int64_t row_end, float *out, gather_fn gather) {
    const int64_t stride = heads * d;
    for (int64_t row = row_begin; row < row_end; row++) {
        const int64_t h = row % heads, b = row / (q * heads);
        const float *src = value + b * s * stride + h * d;
        float *o = out + row * d;
        for (int64_t k = 0; k < d; k++) o[k] = 0;
        int64_t start = 0;
        for (int64_t l = 0; l < levels; l++) {
            const int64_t lh = shapes[2 * l], lw = shapes[2 * l + 1];
            for (int64_t p = 0; p < points; p++) {
                const int64_t wi = (row * levels + l) * points + p;
                uniseg_taps t = sample_taps(locations, wi, lh, lw);
                gather(o, d, rows_of(src + start * stride, stride, &t), t.w, weights[wi]);
            }
            start += lh * lw;
        }
    }
}

INLINE void backward_task(const float *grad, const float *value, const int64_t *shapes, int64_t levels, int64_t points,
                          int64_t s, int64_t q, int64_t heads, int64_t d, const float *locations, const float *weights,
                          int64_t task, float *dvalue, float *dlocations, float *dweights,
                          scatter_fn scatter, tap_sums_fn sums) {
    const int64_t l = task % levels, h = task / levels % heads, b = task / (levels * heads);
    const int64_t stride = heads * d, lh = shapes[2 * l], lw = shapes[2 * l + 1];
    int64_t start = 0;
    for (int64_t k = 0; k < l; k++) start += shapes[2 * k] * shapes[2 * k + 1];
    const int64_t base = (b * s + start) * stride + h * d;
    for (int64_t qi = 0; qi < q; qi++) {
        const int64_t row = (b * q + qi) * heads + h;
        const float *g = grad + row * d;
        for (int64_t p = 0; p < points; p++) {
            const int64_t wi = (row * levels + l) * points + p;
            const float aw = weights[wi];
            uniseg_taps t = sample_taps(locations, wi, lh, lw);
            if (dvalue) {
                float *dv = dvalue + base;
                float *const dst[4] = {dv + t.o[0] * stride, dv + t.o[1] * stride, dv + t.o[2] * stride, dv + t.o[3] * stride};
                scatter(dst, d, g, t.w, aw);
            }
            if (dlocations) {
                tap_sums ts = sums(d, g, rows_of(value + base, stride, &t), &t);
                dweights[wi] = ts.sampled;
                // x = location·W − 0.5, so d/d location = W · d/d x.
                dlocations[2 * wi] = aw * ts.gx * (float)lw;
                dlocations[2 * wi + 1] = aw * ts.gy * (float)lh;
            }
        }
    }
}

TARGET static void forward_avx2(const float *value, const int64_t *shapes, int64_t levels, int64_t points, int64_t s, int64_t q,
                                int64_t heads, int64_t d, const float *locations, const float *weights,
                                int64_t row_begin, int64_t row_end, float *out) {
    forward_rows(value, shapes, levels, points, s, q, heads, d, locations, weights, row_begin, row_end, out, gather_avx2);
}

TARGET static void backward_avx2(const float *grad, const float *value, const int64_t *shapes, int64_t levels, int64_t points,
                                 int64_t s, int64_t q, int64_t heads, int64_t d, const float *locations, const float *weights,
                                 int64_t task, float *dvalue, float *dlocations, float *dweights) {
    backward_task(grad, value, shapes, levels, points, s, q, heads, d, locations, weights, task, dvalue, dlocations, dweights,
                  scatter_avx2, tap_sums_avx2);
}

void uniseg_deformable_attention_forward_portable(const float *value, const int64_t *shapes, int64_t levels, int64_t points,
                                                  int64_t s, int64_t q, int64_t heads, int64_t d,
                                                  const float *locations, const float *weights,
                                                  int64_t row_begin, int64_t row_end, float *out) {
    forward_rows(value, shapes, levels, points, s, q, heads, d, locations, weights, row_begin, row_end, out, gather_portable);
}

void uniseg_deformable_attention_backward_portable(const float *grad, const float *value, const int64_t *shapes, int64_t levels,
                                                   int64_t points, int64_t s, int64_t q, int64_t heads, int64_t d,
                                                   const float *locations, const float *weights, int64_t task,
                                                   float *dvalue, float *dlocations, float *dweights) {
    backward_task(grad, value, shapes, levels, points, s, q, heads, d, locations, weights, task, dvalue, dlocations, dweights,
                  scatter_portable, tap_sums_portable);
}

void uniseg_deformable_attention_forward(const float *value, const int64_t *shapes, int64_t levels, int64_t points,
                                         int64_t s, int64_t q, int64_t heads, int64_t d,
                                         const float *locations, const float *weights,
                                         int64_t row_begin, int64_t row_end, float *out) {
    if (uniseg_kernels_avx2()) forward_avx2(value, shapes, levels, points, s, q, heads, d, locations, weights, row_begin, row_end, out);
    else uniseg_deformable_attention_forward_portable(value, shapes, levels, points, s, q, heads, d, locations, weights, row_begin, row_end, out);
}

void uniseg_deformable_attention_backward(const float *grad, const float *value, const int64_t *shapes, int64_t levels,
                                          int64_t points, int64_t s, int64_t q, int64_t heads, int64_t d,
                                          const float *locations, const float *weights, int64_t task,
                                          float *dvalue, float *dlocations, float *dweights) {
    if (uniseg_kernels_avx2()) backward_avx2(grad, value, shapes, levels, points, s, q, heads, d, locations, weights, task, dvalue, dlocations, dweights);
    else uniseg_deformable_attention_backward_portable(grad, value, shapes, levels, points, s, q, heads, d, locations, weights, task,
                                                       dvalue, dlocations, dweights);
}
