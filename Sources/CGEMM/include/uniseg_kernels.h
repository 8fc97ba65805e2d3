// Elementwise kernels chosen at run time on the CPU's features (AVX2 + FMA, else portable C),
// so that a plain `swift build -c release` runs them as fast as a `-target-cpu native` build.
// Both paths perform the same IEEE operations in the same order (fused multiply-adds exact in
// both): the same numbers on every CPU and build.
#ifndef UNISEG_KERNELS_H
#define UNISEG_KERNELS_H

#include <stdint.h>

/// The matcher's sigmoid / softplus pass (see Sources/Matching/SigmoidSoftplusSums.swift for the
/// arithmetic): for `rows` x `lanes` values at `x` (row-major, `lanes` a multiple of 8), writes
/// the sigmoids to `sigmoid` and the column sums of softplus and sigmoid to `softplus_sum` and
/// `sigmoid_sum` (`lanes` each); `scratch` holds 4·lanes floats.
void uniseg_sigmoid_softplus_sums(const float *x, int64_t rows, int64_t lanes, float *sigmoid,
                                  float *softplus_sum, float *sigmoid_sum, float *scratch);

/// The same with the portable path forced (for tests).
void uniseg_sigmoid_softplus_sums_portable(const float *x, int64_t rows, int64_t lanes, float *sigmoid,
                                           float *softplus_sum, float *sigmoid_sum, float *scratch);

/// Bilinear values of one `h` x `w` map at `n` points (x, y in the unit square, interleaved),
/// exactly as Autograd's `Tensor.sampleMap` defines them (gridSample's arithmetic, zero outside).
void uniseg_sample_map(const float *map, int64_t h, int64_t w, const float *points, int64_t n, float *out);

/// The same with the portable path forced (for tests).
void uniseg_sample_map_portable(const float *map, int64_t h, int64_t w, const float *points, int64_t n, float *out);

/// Its gradient: adds each point's `grad[e]` times its four bilinear weights into `dmap`
/// (`h` x `w`), point after point, as Autograd's `gridSample` backward does.
void uniseg_sample_map_backward(const float *grad, int64_t h, int64_t w, const float *points, int64_t n, float *dmap);

/// The same with the portable path forced (for tests).
void uniseg_sample_map_backward_portable(const float *grad, int64_t h, int64_t w, const float *points, int64_t n, float *dmap);

/// Bilinear values at `n` points of an `h` x `w` map of which only a `ww` x `wh` window is given,
/// its top-left pixel at (`ox`, `oy`) of the map, exactly as Autograd's `Tensor.sampleWindow`
/// defines them. A point whose taps leave the window reads 0 with `zero_ring`; without, the
/// index of the first such point is returned (values from its group of eight on unwritten); else -1.
int64_t uniseg_sample_window(const float *win, int64_t ww, int64_t wh, int64_t ox, int64_t oy, int64_t h, int64_t w,
                             const float *points, int64_t n, int zero_ring, float *out);

/// The same with the portable path forced (for tests).
int64_t uniseg_sample_window_portable(const float *win, int64_t ww, int64_t wh, int64_t ox, int64_t oy, int64_t h, int64_t w,
                                      const float *points, int64_t n, int zero_ring, float *out);

/// 1 when the AVX2 + FMA path runs on this CPU.
int uniseg_kernels_avx2(void);

#endif
