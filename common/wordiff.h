/* SPDX-License-Identifier: MIT */
/* hvtrace common: which 64-bit words of two vCPU states differ, as a bit mask (vectorised); used
 * by the recorder (state deltas on the vCPU path) and the format encoder. */
#ifndef HVT_COMMON_WORDIFF_H
#define HVT_COMMON_WORDIFF_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* The state delta of every event and pass compares two 976-byte states of which a handful of
 * words differ. Vector compares with a movemask give the mask of changed words directly, about
 * a tenth of the cost of comparing field by field. (The recorder has the same helper for its
 * ring deltas.) N <= 64; A and B need no alignment. */

typedef uint64_t __attribute__((may_alias)) hvt_word_t;

static inline uint64_t hvt_diff_words_scalar(const void *a, const void *b, size_t n)
{
    const uint8_t *x = a, *y = b;
    uint64_t m = 0;
    for (size_t i = 0; i < n; i++) {
        uint64_t p, q;
        memcpy(&p, x + 8 * i, 8); /* no alignment assumed */
        memcpy(&q, y + 8 * i, 8);
        m |= (uint64_t)(p != q) << i;
    }
    return m;
}

#if defined(__x86_64__)
#include <immintrin.h>

static inline __attribute__((always_inline, target("avx2"))) uint64_t
hvt_diff_words_avx2(const void *a, const void *b, size_t n)
{
    const uint8_t *x = a, *y = b;
    uint64_t m = 0;
    size_t i;
#pragma GCC unroll 16
    for (i = 0; i + 4 <= n; i += 4) {
        __m256i p = _mm256_loadu_si256((const __m256i *)(const void *)(x + 8 * i));
        __m256i q = _mm256_loadu_si256((const __m256i *)(const void *)(y + 8 * i));
        unsigned eq = (unsigned)_mm256_movemask_pd(_mm256_castsi256_pd(_mm256_cmpeq_epi64(p, q)));
        m |= (uint64_t)(~eq & 0xfu) << i;
    }
    /* the tail, written so that a constant N folds it away (no out-of-bounds diagnostics) */
    if (n % 4)
        m |= hvt_diff_words_scalar(x + 8 * (n & ~(size_t)3), y + 8 * (n & ~(size_t)3), n % 4)
             << (n & ~(size_t)3);
    return m;
}

/* Whether any of the N words differ (N a multiple of 4): XORs folded with OR, one test. Cheaper
 * than the mask for the parts of a state that rarely change. */
static inline __attribute__((always_inline, target("avx2"))) int
hvt_any_diff_avx2(const void *a, const void *b, size_t n)
{
    const uint8_t *x = a, *y = b;
    __m256i acc = _mm256_setzero_si256();
#pragma GCC unroll 16
    for (size_t i = 0; i < n; i += 4)
        acc = _mm256_or_si256(
            acc, _mm256_xor_si256(_mm256_loadu_si256((const __m256i *)(const void *)(x + 8 * i)),
                                  _mm256_loadu_si256((const __m256i *)(const void *)(y + 8 * i))));
    return !_mm256_testz_si256(acc, acc);
}

/* SSE2 (every x86-64): 32-bit lane compares; a word is equal when both its lanes are. */
static inline uint64_t hvt_diff_words_sse2(const void *a, const void *b, size_t n)
{
    const uint8_t *x = a, *y = b;
    uint64_t m = 0;
    size_t i;
    for (i = 0; i + 2 <= n; i += 2) {
        __m128i p = _mm_loadu_si128((const __m128i *)(const void *)(x + 8 * i));
        __m128i q = _mm_loadu_si128((const __m128i *)(const void *)(y + 8 * i));
        unsigned eq = (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi32(p, q));
        m |= (uint64_t)((eq & 0xffu) != 0xffu) << i;
        m |= (uint64_t)((eq >> 8) != 0xffu) << (i + 1);
    }
    if (n % 2)
        m |= hvt_diff_words_scalar(x + 8 * (n - 1), y + 8 * (n - 1), 1) << (n - 1);
    return m;
}

/* Defines FN(a, b): the mask for a constant count N, AVX2 when the CPU has it (checked with
 * __builtin_cpu_supports, a load of a word libgcc fills at startup). */
#define HVT_DEFINE_DIFF_WORDS(fn, N)                                                               \
    __attribute__((target("avx2"))) static uint64_t fn##_avx2(const void *a, const void *b)       \
    {                                                                                              \
        return hvt_diff_words_avx2(a, b, (N));                                                     \
    }                                                                                              \
    static uint64_t fn(const void *a, const void *b)                                               \
    {                                                                                              \
        if (__builtin_cpu_supports("avx2"))                                                        \
            return fn##_avx2(a, b);                                                                \
        return hvt_diff_words_sse2(a, b, (N));                                                     \
    }
/* As HVT_DEFINE_DIFF_WORDS, for words that mostly do not change past word FIRST: words
 * FIRST..N-1 (a multiple of 4 of them) are checked as a block before computing their mask. */
#define HVT_DEFINE_DIFF_WORDS_SPLIT(fn, N, FIRST)                                                  \
    _Static_assert(((N) - (FIRST)) % 4 == 0, "the block is whole vectors");                        \
    __attribute__((target("avx2"))) static uint64_t fn##_avx2(const void *a, const void *b)       \
    {                                                                                              \
        const uint8_t *x_ = a, *y_ = b;                                                            \
        uint64_t m_ = hvt_diff_words_avx2(a, b, (FIRST));                                          \
        if (hvt_any_diff_avx2(x_ + 8 * (FIRST), y_ + 8 * (FIRST), (N) - (FIRST)))                  \
            m_ |= hvt_diff_words_avx2(x_ + 8 * (FIRST), y_ + 8 * (FIRST), (N) - (FIRST))          \
                  << (FIRST);                                                                      \
        return m_;                                                                                 \
    }                                                                                              \
    static uint64_t fn(const void *a, const void *b)                                               \
    {                                                                                              \
        if (__builtin_cpu_supports("avx2"))                                                        \
            return fn##_avx2(a, b);                                                                \
        return hvt_diff_words_sse2(a, b, (N));                                                     \
    }
#else
#define HVT_DEFINE_DIFF_WORDS_SPLIT(fn, N, FIRST) HVT_DEFINE_DIFF_WORDS(fn, N)
#define HVT_DEFINE_DIFF_WORDS(fn, N)                                                               \
    static uint64_t fn(const void *a, const void *b)                                               \
    {                                                                                              \
        return hvt_diff_words_scalar(a, b, (N));                                                   \
    }
#endif

#endif
