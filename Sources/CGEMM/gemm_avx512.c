// Row-major SGEMM for AVX-512 (see include/uniseg_gemm.h). The loop nest is GotoBLAS/BLIS's:
// for each NC-wide slice of op(B) and each KC-deep slice of K, pack op(B) into KC x NR panels
// (1.5 MB: stays in L2); for each MC-high slice of op(A), pack it into MR x KC panels; then a
// 12 x 32 micro-kernel keeps the C tile in 24 zmm registers while one A panel (18 KB, in L1)
// runs against every B panel in turn (from L2). Block sizes were tuned on the 2-core Xeon
// (48 KB L1, 2 MB L2 per core) of docs/performance.md; a 3 MB B block that spilled to L3 ran
// 25 % slower.
// Edges: rows by specialised kernels for 1...12 rows, columns by masked loads and stores.
// Products of at most 512 columns with a row-major A (a linear layer's x · Wᵀ at the model's
// widths) skip packing A: the kernel broadcasts A's values from its rows where they lie —
// packing transposed 12 x 16 blocks for only a few uses of each panel (same sums, same order).
#include "uniseg_gemm.h"

#include <immintrin.h>
#include <stdlib.h>

enum { MR = 12, NR = 32, KC = 384, MC = 120, NC = 1024, UNPACKED_A_MAX_N = 512 };

bool uniseg_gemm_avx512_available(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("fma");
}

// Per-thread packing buffers, grown once (64-byte aligned for aligned zmm loads).
static _Thread_local float *packed_a = NULL;
static _Thread_local float *packed_b = NULL;

static float *buffer(float **slot, size_t floats) {
    if (*slot == NULL) {
        void *p = NULL;
        if (posix_memalign(&p, 64, floats * sizeof(float)) != 0) return NULL;
        *slot = (float *)p;
    }
    return *slot;
}

bool uniseg_gemm_bf16_available(void) {
    __builtin_cpu_init();
    return uniseg_gemm_avx512_available() && __builtin_cpu_supports("avx512bw")
        && __builtin_cpu_supports("avx512bf16");
}

#define TARGET __attribute__((target("avx512f,fma")))
#define TARGET_BF16 __attribute__((target("avx512f,avx512bw,avx512bf16,fma")))

// Lane masks of the two 16-wide halves of a tile's row when only `nr` (1...NR) columns exist.
static inline void column_masks(long nr, __mmask16 *m0, __mmask16 *m1) {
    *m0 = nr >= 16 ? 0xFFFF : (__mmask16)((1u << nr) - 1);
    *m1 = nr >= 32 ? 0xFFFF : nr > 16 ? (__mmask16)((1u << (nr - 16)) - 1) : 0;
}

// r[i] <- column i of the 16 x 16 block whose rows are r[0...15].
TARGET static inline void transpose16(__m512 r[16]) {
    __m512 t[16];
    for (int i = 0; i < 16; i += 2) {
        t[i] = _mm512_unpacklo_ps(r[i], r[i + 1]);
        t[i + 1] = _mm512_unpackhi_ps(r[i], r[i + 1]);
    }
    for (int i = 0; i < 16; i += 4) {
        r[i] = _mm512_shuffle_ps(t[i], t[i + 2], _MM_SHUFFLE(1, 0, 1, 0));
        r[i + 1] = _mm512_shuffle_ps(t[i], t[i + 2], _MM_SHUFFLE(3, 2, 3, 2));
        r[i + 2] = _mm512_shuffle_ps(t[i + 1], t[i + 3], _MM_SHUFFLE(1, 0, 1, 0));
        r[i + 3] = _mm512_shuffle_ps(t[i + 1], t[i + 3], _MM_SHUFFLE(3, 2, 3, 2));
    }
    for (int i = 0; i < 4; i++) {
        t[i] = _mm512_shuffle_f32x4(r[i], r[i + 4], 0x88);
        t[i + 4] = _mm512_shuffle_f32x4(r[i], r[i + 4], 0xdd);
        t[i + 8] = _mm512_shuffle_f32x4(r[i + 8], r[i + 12], 0x88);
        t[i + 12] = _mm512_shuffle_f32x4(r[i + 8], r[i + 12], 0xdd);
    }
    for (int i = 0; i < 8; i++) {
        r[i] = _mm512_shuffle_f32x4(t[i], t[i + 8], 0x88);
        r[i + 8] = _mm512_shuffle_f32x4(t[i], t[i + 8], 0xdd);
    }
}

// The first `count` values of `rows` rows of `src` (row stride `ld`; missing rows read as 0),
// transposed: value q of every row goes to dst + q * dst_stride, in the lanes of `lanes`.
TARGET static inline void transpose_block(const float *src, long ld, long rows, long count, float *dst,
                                          long dst_stride, __mmask16 lanes) {
    __mmask16 m = count == 16 ? 0xFFFF : (__mmask16)((1u << count) - 1);
    __m512 r[16];
    _Pragma("clang loop unroll(full)")
    for (int i = 0; i < 16; i++) r[i] = i < rows ? _mm512_maskz_loadu_ps(m, src + i * ld) : _mm512_setzero_ps();
    transpose16(r);
    for (long q = 0; q < count; q++) _mm512_mask_storeu_ps(dst + q * dst_stride, lanes, r[q]);
}

// op(A)[rows, cols] -> MR-row panels: panel r holds, for each p, MR values (zero past `rows`).
TARGET static void pack_a(bool trans, const float *a, long lda, long rows, long cols, float *dst) {
    for (long r0 = 0; r0 < rows; r0 += MR) {
        long mr = rows - r0 < MR ? rows - r0 : MR;
        if (trans) {
            // A stored k x m: row p of the panel is contiguous.
            __mmask16 m = (__mmask16)((1u << mr) - 1);
            for (long p = 0; p < cols; p++)
                _mm512_mask_storeu_ps(dst + p * MR, 0x0FFF, _mm512_maskz_loadu_ps(m, a + p * lda + r0));
        } else {
            // Rows of A are contiguous: transpose 12 (padded to 16) x 16 blocks in registers.
            for (long p0 = 0; p0 < cols; p0 += 16)
                transpose_block(a + r0 * lda + p0, lda, mr, cols - p0 < 16 ? cols - p0 : 16,
                                dst + p0 * MR, MR, 0x0FFF);
        }
        dst += MR * cols;
    }
}

// Row p of op(B), `cols` values from `src`, into the NR-column panels at `dst` (`depth` rows
// each; zero past `cols`).
TARGET static inline void pack_b_row(const float *src, long p, long depth, long cols, float *dst) {
    float *d = dst + p * NR;
    long j0 = 0;
    for (; j0 + NR <= cols; j0 += NR, d += NR * depth) {
        _mm512_store_ps(d, _mm512_loadu_ps(src + j0));
        _mm512_store_ps(d + 16, _mm512_loadu_ps(src + j0 + 16));
    }
    if (j0 < cols) {
        __mmask16 m0, m1;
        column_masks(cols - j0, &m0, &m1);
        _mm512_store_ps(d, _mm512_maskz_loadu_ps(m0, src + j0));
        _mm512_store_ps(d + 16, _mm512_maskz_loadu_ps(m1, src + j0 + 16));
    }
}

// op(B)[rows = depth, cols] -> NR-column panels: panel j holds, for each p, NR values (zero past
// `cols`).
TARGET static void pack_b(bool trans, const float *b, long ldb, long depth, long cols, float *dst) {
    if (!trans) {
        // Row p of op(B) is contiguous: read it once from start to end (the prefetchers follow a
        // row, not a column of 128-byte pieces 16 KB apart).
        for (long p = 0; p < depth; p++) pack_b_row(b + p * ldb, p, depth, cols, dst);
        return;
    }
    // B stored n x k: column j of op(B) is row j of B. Transpose 16 x 16 blocks in registers.
    for (long j0 = 0; j0 < cols; j0 += NR) {
        for (long half = 0; half < 2; half++) {
            long rows = cols - j0 - 16 * half;
            if (rows > 16) rows = 16;
            for (long p0 = 0; p0 < depth; p0 += 16)
                transpose_block(b + (j0 + 16 * half) * ldb + p0, ldb, rows, depth - p0 < 16 ? depth - p0 : 16,
                                dst + p0 * NR + 16 * half, NR, 0xFFFF);
        }
        dst += NR * depth;
    }
}

// C tile <- alpha * (lo, hi) + beta * C tile: MR_ rows of up to NR columns (lanes m0, m1).
#define STORE_TILE(MR_)                                                                          \
    __m512 va = _mm512_set1_ps(alpha), vb = _mm512_set1_ps(beta);                              \
    _Pragma("clang loop unroll(full)")                                                         \
    for (int i = 0; i < MR_; i++) {                                                            \
        float *row = c + i * ldc;                                                              \
        __m512 r0 = _mm512_mul_ps(va, lo[i]), r1 = _mm512_mul_ps(va, hi[i]);                   \
        if (beta != 0) {                                                                       \
            r0 = _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(m0, row), r0);                      \
            r1 = _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(m1, row + 16), r1);                 \
        }                                                                                      \
        _mm512_mask_storeu_ps(row, m0, r0);                                                    \
        _mm512_mask_storeu_ps(row + 16, m1, r1);                                               \
    }

// The micro-kernel's loop: the C tile += A block x B panel over kc, A's value (i, p) read as
// A_AT(i), then A_NEXT; finally C = alpha * tile + beta * C.
#define KERNEL_LOOP(MR_, A_AT, A_NEXT)                                                           \
        __m512 lo[MR_], hi[MR_];                                                               \
        for (int i = 0; i < MR_; i++) { lo[i] = _mm512_setzero_ps(); hi[i] = _mm512_setzero_ps(); } \
        for (long p = 0; p < kc; p++) {                                                        \
            __m512 b0 = _mm512_load_ps(b), b1 = _mm512_load_ps(b + 16);                        \
            _Pragma("clang loop unroll(full)")                                                 \
            for (int i = 0; i < MR_; i++) {                                                    \
                __m512 ai = _mm512_set1_ps(A_AT(i));                                           \
                lo[i] = _mm512_fmadd_ps(ai, b0, lo[i]);                                        \
                hi[i] = _mm512_fmadd_ps(ai, b1, hi[i]);                                        \
            }                                                                                  \
            A_NEXT;                                                                            \
            b += NR;                                                                           \
        }                                                                                      \
        STORE_TILE(MR_)

// C[mr, nr] = alpha * (A panel x B panel) + beta * C, MR_ rows known at compile time.
#define PANEL_AT(i) a[i]
#define KERNEL(MR_)                                                                              \
    TARGET static void kernel_##MR_(long kc, const float *restrict a, const float *restrict b, \
                                    float *c, long ldc, __mmask16 m0, __mmask16 m1,            \
                                    float alpha, float beta) {                                 \
        KERNEL_LOOP(MR_, PANEL_AT, a += MR)                                                    \
    }

// The same reading A where it lies, row-major (row i at a + i * lda): no packing. The sums are
// the packed kernel's, in the same order.
#define ROW_AT(i) a[(i) * lda + p]
#define KERNEL_ROWS(MR_)                                                                         \
    TARGET static void kernel_rows_##MR_(long kc, const float *restrict a, long lda,          \
                                         const float *restrict b, float *c, long ldc,          \
                                         __mmask16 m0, __mmask16 m1, float alpha, float beta) {\
        KERNEL_LOOP(MR_, ROW_AT, (void)0)                                                      \
    }

// The same on bfloat16 panels (see `to_bf16_pairs`): `kc` is the panels' depth in pairs of
// K; each VDPBF16PS adds two products of bfloat16 values (exact in float32) to a float32 sum.
#define KERNEL_BF16(MR_)                                                                         \
    TARGET_BF16 static void kernel_bf16_##MR_(long kc, const float *restrict a,                \
                                              const float *restrict b, float *c, long ldc,     \
                                              __mmask16 m0, __mmask16 m1, float alpha,         \
                                              float beta) {                                    \
        __m512 lo[MR_], hi[MR_];                                                               \
        for (int i = 0; i < MR_; i++) { lo[i] = _mm512_setzero_ps(); hi[i] = _mm512_setzero_ps(); } \
        const int *aw = (const int *)a;                                                        \
        for (long q = 0; q < kc; q++) {                                                        \
            __m512bh b0 = (__m512bh)_mm512_load_si512(b), b1 = (__m512bh)_mm512_load_si512(b + 16); \
            _Pragma("clang loop unroll(full)")                                                 \
            for (int i = 0; i < MR_; i++) {                                                    \
                __m512bh ai = (__m512bh)_mm512_set1_epi32(aw[i]);                              \
                lo[i] = _mm512_dpbf16_ps(lo[i], ai, b0);                                       \
                hi[i] = _mm512_dpbf16_ps(hi[i], ai, b1);                                       \
            }                                                                                  \
            aw += MR;                                                                          \
            b += NR;                                                                           \
        }                                                                                      \
        STORE_TILE(MR_)                                                                        \
    }

KERNEL(1) KERNEL(2) KERNEL(3) KERNEL(4) KERNEL(5) KERNEL(6)
KERNEL(7) KERNEL(8) KERNEL(9) KERNEL(10) KERNEL(11) KERNEL(12)
KERNEL_ROWS(1) KERNEL_ROWS(2) KERNEL_ROWS(3) KERNEL_ROWS(4) KERNEL_ROWS(5) KERNEL_ROWS(6)
KERNEL_ROWS(7) KERNEL_ROWS(8) KERNEL_ROWS(9) KERNEL_ROWS(10) KERNEL_ROWS(11) KERNEL_ROWS(12)
KERNEL_BF16(1) KERNEL_BF16(2) KERNEL_BF16(3) KERNEL_BF16(4) KERNEL_BF16(5) KERNEL_BF16(6)
KERNEL_BF16(7) KERNEL_BF16(8) KERNEL_BF16(9) KERNEL_BF16(10) KERNEL_BF16(11) KERNEL_BF16(12)

typedef void (*kernel_fn)(long, const float *restrict, const float *restrict, float *, long,
                          __mmask16, __mmask16, float, float);
static const kernel_fn kernels[MR + 1] = {
    NULL, kernel_1, kernel_2, kernel_3, kernel_4, kernel_5, kernel_6,
    kernel_7, kernel_8, kernel_9, kernel_10, kernel_11, kernel_12,
};
typedef void (*kernel_rows_fn)(long, const float *restrict, long, const float *restrict, float *, long,
                               __mmask16, __mmask16, float, float);
static const kernel_rows_fn kernels_rows[MR + 1] = {
    NULL, kernel_rows_1, kernel_rows_2, kernel_rows_3, kernel_rows_4, kernel_rows_5, kernel_rows_6,
    kernel_rows_7, kernel_rows_8, kernel_rows_9, kernel_rows_10, kernel_rows_11, kernel_rows_12,
};
static const kernel_fn kernels_bf16[MR + 1] = {
    NULL, kernel_bf16_1, kernel_bf16_2, kernel_bf16_3, kernel_bf16_4, kernel_bf16_5, kernel_bf16_6,
    kernel_bf16_7, kernel_bf16_8, kernel_bf16_9, kernel_bf16_10, kernel_bf16_11, kernel_bf16_12,
};

// A packed float32 panel of `width` (MR or NR) values per k, `depth` deep, rewritten in place
// as bfloat16 pairs: 32-bit word j of pair q holds values (2q, j) in its low half and (2q + 1, j)
// in its high half (0 past `depth`), rounded to nearest even — the operand layout of VDPBF16PS.
// Pair q is written at word q * width, never past what later pairs still read.
TARGET_BF16 static void to_bf16_pairs(float *panel, long width, long depth) {
    const __m512i interleave = _mm512_set_epi16(31, 15, 30, 14, 29, 13, 28, 12, 27, 11, 26, 10, 25, 9, 24, 8,
                                                23, 7, 22, 6, 21, 5, 20, 4, 19, 3, 18, 2, 17, 1, 16, 0);
    __mmask16 lanes = width >= 16 ? 0xFFFF : (__mmask16)((1u << width) - 1);
    for (long q = 0; q < (depth + 1) / 2; q++) {
        const float *r0 = panel + 2 * q * width, *r1 = r0 + width;
        bool second = 2 * q + 1 < depth;
        for (long j = 0; j < width; j += 16) {
            __m512 v0 = _mm512_maskz_loadu_ps(lanes, r0 + j);
            __m512 v1 = second ? _mm512_maskz_loadu_ps(lanes, r1 + j) : _mm512_setzero_ps();
            __m512i w = _mm512_permutexvar_epi16(interleave, (__m512i)_mm512_cvtne2ps_pbh(v1, v0));
            _mm512_mask_storeu_epi32(panel + q * width + j, lanes, w);
        }
    }
}

// Both entry points: op(B) from (b, ldb, trans_b), or, with `b_rows`, row p at b_rows[p] + b_col0.
// With `bf16`, the packed panels are rounded to bfloat16 pairs and the bfloat16 kernels run.
TARGET static void gemm(bool bf16, bool trans_a, bool trans_b, long m, long n, long k, float alpha, const float *a,
                        long lda, const float *b, long ldb, const float *const *b_rows, long b_col0,
                        float beta, float *c, long ldc) {
    if (m <= 0 || n <= 0 || k <= 0) return;
    // Products with few columns spend much of their time packing A (transposing it) for few
    // uses of each panel: row-major A is then read in place.
    bool unpacked_a = !bf16 && !trans_a && n <= UNPACKED_A_MAX_N;
    float *pa = buffer(&packed_a, (size_t)MC * KC);
    float *pb = buffer(&packed_b, (size_t)KC * NC);
    if (pa == NULL || pb == NULL) abort();  // 3 MB per thread; out of memory is not recoverable here
    for (long jc = 0; jc < n; jc += NC) {
        long nc = n - jc < NC ? n - jc : NC;
        for (long pc = 0; pc < k; pc += KC) {
            long kc = k - pc < KC ? k - pc : KC;
            if (b_rows != NULL) {
                for (long p = 0; p < kc; p++) pack_b_row(b_rows[pc + p] + b_col0 + jc, p, kc, nc, pb);
            } else {
                pack_b(trans_b, trans_b ? b + jc * ldb + pc : b + pc * ldb + jc, ldb, kc, nc, pb);
            }
            if (bf16)
                for (long jr = 0; jr < nc; jr += NR) to_bf16_pairs(pb + (jr / NR) * NR * kc, NR, kc);
            const kernel_fn *run = bf16 ? kernels_bf16 : kernels;
            long depth = bf16 ? (kc + 1) / 2 : kc;
            float block_beta = pc == 0 ? beta : 1.0f;
            if (unpacked_a) {
                // A read in place: each 12-row block against every B panel in turn.
                for (long ir = 0; ir < m; ir += MR) {
                    long mr = m - ir < MR ? m - ir : MR;
                    for (long jr = 0; jr < nc; jr += NR) {
                        long nr = nc - jr < NR ? nc - jr : NR;
                        __mmask16 m0, m1;
                        column_masks(nr, &m0, &m1);
                        kernels_rows[mr](kc, a + ir * lda + pc, lda, pb + (jr / NR) * NR * kc, c + ir * ldc + jc + jr, ldc,
                                         m0, m1, alpha, block_beta);
                    }
                }
                continue;
            }
            for (long ic = 0; ic < m; ic += MC) {
                long mc = m - ic < MC ? m - ic : MC;
                const float *asrc = trans_a ? a + pc * lda + ic : a + ic * lda + pc;
                pack_a(trans_a, asrc, lda, mc, kc, pa);
                if (bf16)
                    for (long ir = 0; ir < mc; ir += MR) to_bf16_pairs(pa + (ir / MR) * MR * kc, MR, kc);
                for (long ir = 0; ir < mc; ir += MR) {
                    long mr = mc - ir < MR ? mc - ir : MR;
                    const float *apanel = pa + (ir / MR) * MR * kc;
                    for (long jr = 0; jr < nc; jr += NR) {
                        long nr = nc - jr < NR ? nc - jr : NR;
                        __mmask16 m0, m1;
                        column_masks(nr, &m0, &m1);
                        run[mr](depth, apanel, pb + (jr / NR) * NR * kc, c + (ic + ir) * ldc + jc + jr, ldc,
                                    m0, m1, alpha, block_beta);
                    }
                }
            }
        }
    }
}

TARGET void uniseg_sgemm_avx512(bool bf16, bool trans_a, bool trans_b, long m, long n, long k, float alpha,
                                const float *a, long lda, const float *b, long ldb, float beta,
                                float *c, long ldc) {
    gemm(bf16, trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, NULL, 0, beta, c, ldc);
}

TARGET void uniseg_sgemm_avx512_rows(bool bf16, long m, long n, long k, float alpha, const float *a, long lda,
                                     const float *const *b_rows, long b_col0, float beta, float *c, long ldc) {
    gemm(bf16, false, false, m, n, k, alpha, a, lda, NULL, 0, b_rows, b_col0, beta, c, ldc);
}

TARGET void uniseg_transpose_avx512(long rows, long cols, const float *src, long lds, float *dst, long ldd) {
    for (long r0 = 0; r0 < rows; r0 += 16) {
        long rn = rows - r0 < 16 ? rows - r0 : 16;
        __mmask16 lanes = rn == 16 ? 0xFFFF : (__mmask16)((1u << rn) - 1);
        for (long c0 = 0; c0 < cols; c0 += 16)
            transpose_block(src + r0 * lds + c0, lds, rn, cols - c0 < 16 ? cols - c0 : 16, dst + c0 * ldd + r0, ldd, lanes);
    }
}
