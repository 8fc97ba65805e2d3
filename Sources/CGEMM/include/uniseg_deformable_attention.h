// Multi-scale deformable attention's sample loops (Autograd's `Tensor.deformableAttention`),
// chosen at run time on the CPU's features (AVX2, else portable C): a plain
// `swift build -c release` runs them as fast as a `-target-cpu native` build. Both paths
// perform the same IEEE operations in the same order: the same numbers on every CPU and build.
//
// Layouts (row-major): `value` [N, S, heads, D] with the levels' tokens concatenated (level l
// holds shapes[2l] x shapes[2l+1] = H x W tokens); `locations` [N, Q, heads, levels, points, 2]
// as (x, y) in [0, 1] of each level's map; `weights` [N, Q, heads, levels, points].
#ifndef UNISEG_DEFORMABLE_ATTENTION_H
#define UNISEG_DEFORMABLE_ATTENTION_H

#include <stdint.h>

/// The attention's output rows `row_begin..<row_end` of [N·Q·heads, D] (row (b·Q + q)·heads + h
/// holds query q's head h of image b): for each level and point, the attention weight times
/// the bilinear value of its location, added in level-then-point order.
void uniseg_deformable_attention_forward(const float *value, const int64_t *shapes, int64_t levels, int64_t points,
                                         int64_t s, int64_t q, int64_t heads, int64_t d,
                                         const float *locations, const float *weights,
                                         int64_t row_begin, int64_t row_end, float *out);

/// The gradients of one (image, head, level) — `task` = (b·heads + h)·levels + l — from the
/// output's gradient `grad` [N·Q·heads, D]: adds into `dvalue` (that level's tokens of head h of
/// image b, query after query, point after point; NULL: not wanted) and writes the entries of
/// that level of `dlocations` and `dweights` (both NULL: not wanted). Tasks touch disjoint
/// memory and may run in parallel.
void uniseg_deformable_attention_backward(const float *grad, const float *value, const int64_t *shapes, int64_t levels,
                                          int64_t points, int64_t s, int64_t q, int64_t heads, int64_t d,
                                          const float *locations, const float *weights, int64_t task,
                                          float *dvalue, float *dlocations, float *dweights);

/// The same two with the portable path forced (for tests).
void uniseg_deformable_attention_forward_portable(const float *value, const int64_t *shapes, int64_t levels, int64_t points,
                                                  int64_t s, int64_t q, int64_t heads, int64_t d,
                                                  const float *locations, const float *weights,
                                                  int64_t row_begin, int64_t row_end, float *out);
void uniseg_deformable_attention_backward_portable(const float *grad, const float *value, const int64_t *shapes, int64_t levels,
                                                   int64_t points, int64_t s, int64_t q, int64_t heads, int64_t d,
                                                   const float *locations, const float *weights, int64_t task,
                                                   float *dvalue, float *dlocations, float *dweights);

#endif
