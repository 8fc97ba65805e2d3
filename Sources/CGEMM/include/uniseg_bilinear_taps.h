// The four bilinear taps of a pixel position (grid_sample's arithmetic, align_corners = false,
// zero padding): the one definition that Autograd's Swift samplers (`BilinearTaps`, through
// Swift's import of this inline function), the C point readers (kernels.c) and the deformable
// attention (deformable_attention.c) all use, so that every reader agrees bit for bit.
#ifndef UNISEG_BILINEAR_TAPS_H
#define UNISEG_BILINEAR_TAPS_H

#include <math.h>
#include <stdint.h>

/// Offsets of the top-left, top-right, bottom-left and bottom-right taps (clamped into the
/// map), their weights (0 for a tap outside), which taps are inside (bits 1, 2, 4, 8), and the
/// fractional position.
typedef struct {
    int64_t o[4];
    float w[4];
    float lx, ly;
    int inside;
} uniseg_taps;

/// The taps of pixel position (ix, iy) on an h x w map (align_corners = false, zero padding):
/// the fast path when all four taps are inside (most points), else clamped offsets and zero
/// weights outside; NaN and far-away positions read only zeros.
static inline uniseg_taps uniseg_pixel_taps(float ix, float iy, int64_t h, int64_t w) {
#pragma clang fp contract(off)
    uniseg_taps t;
    if (ix >= 0 && ix < (float)(w - 1) && iy >= 0 && iy < (float)(h - 1)) {
        int64_t x0 = (int64_t)ix, y0 = (int64_t)iy;
        float lx = ix - (float)x0, ly = iy - (float)y0;
        t.o[0] = y0 * w + x0; t.o[1] = t.o[0] + 1; t.o[2] = t.o[0] + w; t.o[3] = t.o[0] + w + 1;
        t.w[0] = (1 - ly) * (1 - lx); t.w[1] = (1 - ly) * lx; t.w[2] = ly * (1 - lx); t.w[3] = ly * lx;
        t.lx = lx; t.ly = ly; t.inside = 15;
        return t;
    }
    float cx = ix != ix ? -2.0f : fminf(fmaxf(ix, -2.0f), (float)w + 1.0f);
    float cy = iy != iy ? -2.0f : fminf(fmaxf(iy, -2.0f), (float)h + 1.0f);
    int64_t x0 = (int64_t)floorf(cx), y0 = (int64_t)floorf(cy);
    float lx = cx - (float)x0, ly = cy - (float)y0;
    int in_y0 = y0 >= 0 && y0 < h, in_y1 = y0 + 1 >= 0 && y0 + 1 < h;
    int in_x0 = x0 >= 0 && x0 < w, in_x1 = x0 + 1 >= 0 && x0 + 1 < w;
#define CLAMP(a, hi) ((a) < 0 ? 0 : ((a) > (hi) ? (hi) : (a)))
    int64_t cy0 = CLAMP(y0, h - 1), cy1 = CLAMP(y0 + 1, h - 1), cx0 = CLAMP(x0, w - 1), cx1 = CLAMP(x0 + 1, w - 1);
#undef CLAMP
    t.o[0] = cy0 * w + cx0; t.o[1] = cy0 * w + cx1; t.o[2] = cy1 * w + cx0; t.o[3] = cy1 * w + cx1;
    t.inside = (in_y0 && in_x0 ? 1 : 0) | (in_y0 && in_x1 ? 2 : 0) | (in_y1 && in_x0 ? 4 : 0) | (in_y1 && in_x1 ? 8 : 0);
    t.w[0] = t.inside & 1 ? (1 - ly) * (1 - lx) : 0; t.w[1] = t.inside & 2 ? (1 - ly) * lx : 0;
    t.w[2] = t.inside & 4 ? ly * (1 - lx) : 0; t.w[3] = t.inside & 8 ? ly * lx : 0;
    t.lx = lx; t.ly = ly;
    return t;
}

#endif
