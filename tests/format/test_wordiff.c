/* SPDX-License-Identifier: MIT */
/* Format tests: the vectorised changed-word masks (wordiff.h) agree with the scalar one. */
#include <stdint.h>

#include "hvt_test.h"
#include "common/wordiff.h"

HVT_DEFINE_DIFF_WORDS(diff57, 57)
HVT_DEFINE_DIFF_WORDS_SPLIT(split57, 57, 21)
HVT_DEFINE_DIFF_WORDS_SPLIT(split64, 64, 0)

#if defined(__x86_64__)
__attribute__((target("avx2"))) static uint64_t avx2_n(const void *a, const void *b, size_t n)
{
    return hvt_diff_words_avx2(a, b, n);
}
#endif

static uint64_t rng = 88172645463325252ull;
static uint64_t next(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

/* Random word arrays that differ in 0..5 words, or in single bytes of a word (so that each
 * 32-bit half of the SSE2 compare is exercised alone). */
static void make_pair(uint64_t *a, uint64_t *b, size_t n)
{
    unsigned k = (unsigned)(next() % 6);
    for (size_t i = 0; i < n; i++)
        a[i] = b[i] = next();
    for (unsigned j = 0; j < k; j++) {
        size_t i = next() % n;
        if (next() & 1)
            b[i] ^= 1ull << (next() % 64);
        else
            b[i] = next();
    }
}

static void test_agree(void)
{
    uint64_t a[64], b[64];
    for (int round = 0; round < 20000; round++) {
        size_t n = 1 + next() % 64;
        make_pair(a, b, 64);
        uint64_t want = hvt_diff_words_scalar(a, b, n);
#if defined(__x86_64__)
        CHECK_U64(hvt_diff_words_sse2(a, b, n), want);
        if (__builtin_cpu_supports("avx2"))
            CHECK_U64(avx2_n(a, b, n), want);
#endif
        CHECK_U64(diff57(a, b), hvt_diff_words_scalar(a, b, 57));
        CHECK_U64(split57(a, b), hvt_diff_words_scalar(a, b, 57));
        CHECK_U64(split64(a, b), hvt_diff_words_scalar(a, b, 64));
    }
    /* unaligned operands */
    {
        uint8_t buf1[8 * 65 + 3], buf2[8 * 65 + 5];
        for (size_t i = 0; i < sizeof(buf1); i++)
            buf1[i] = (uint8_t)next();
        memcpy(buf2 + 5, buf1 + 3, 8 * 64);
        buf2[5 + 8 * 10 + 3] ^= 0x40;
        CHECK_U64(split64(buf1 + 3, buf2 + 5), 1ull << 10);
        CHECK_U64(diff57(buf1 + 3, buf2 + 5), 1ull << 10);
    }
}

int main(void)
{
    RUN(test_agree);
    TEST_DONE();
}
