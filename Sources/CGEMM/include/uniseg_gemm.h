// A row-major single-precision GEMM micro-kernel for CPUs with AVX-512 (BLIS-style packing and
// blocking), used by Autograd's `sgemm` in place of OpenBLAS when the CPU has AVX-512: the
// Debian OpenBLAS is pinned to its Haswell (AVX2) kernels here, which run at half the
// machine's speed. Callers split work across threads; one call runs on the calling thread.
#ifndef UNISEG_GEMM_H
#define UNISEG_GEMM_H

// The elementwise kernels and the deformable attention share this module (an include here also makes module caches of
// existing builds notice the newer header).
#include "uniseg_kernels.h"
#include "uniseg_deformable_attention.h"
#include "uniseg_bilinear_taps.h"

#include <stdbool.h>

/// True when this CPU (and OS) can run `uniseg_sgemm_avx512`.
bool uniseg_gemm_avx512_available(void);

/// True when this CPU can also run the bfloat16 form (`bf16` below): AVX512-BF16 and AVX512-BW.
bool uniseg_gemm_bf16_available(void);

/// C = alpha * op(A) * op(B) + beta * C for row-major matrices; op(A) is m x k and op(B) is
/// k x n. `trans_a` means A is stored k x m (lda >= m), else m x k (lda >= k); likewise B.
/// With beta == 0, C is only written (it may hold NaN or garbage). Needs k > 0; m, n >= 0.
/// With `bf16` (only where `uniseg_gemm_bf16_available`), A and B are rounded to bfloat16
/// (nearest even) and their products summed in float32: mixed precision, twice the
/// multiply-adds per instruction.
void uniseg_sgemm_avx512(bool bf16, bool trans_a, bool trans_b, long m, long n, long k, float alpha,
                         const float *a, long lda, const float *b, long ldb, float beta,
                         float *c, long ldc);

/// The same with A not transposed and row p of op(B) given by a pointer: op(B)[p][j] =
/// b_rows[p][b_col0 + j]. Lowering-free convolution: the rows are shifted windows of the input.
void uniseg_sgemm_avx512_rows(bool bf16, long m, long n, long k, float alpha, const float *a, long lda,
                              const float *const *b_rows, long b_col0, float beta, float *c, long ldc);

/// dst[c * ldd + r] = src[r * lds + c] for r < rows, c < cols: 16 x 16 blocks transposed in
/// registers (a column-by-column copy reads one stream per row, which the prefetchers lose).
void uniseg_transpose_avx512(long rows, long cols, const float *src, long lds, float *dst, long ldd);

#endif
