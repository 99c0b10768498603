/* SPDX-License-Identifier: MIT */
/* hvtrace tests: a minimal assertion harness. A failed CHECK prints file:line and the values,
 * counts a failure and goes on; the test program exits nonzero when anything failed. */
#ifndef HVT_TEST_H
#define HVT_TEST_H

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int hvt_test_failures;
static int hvt_test_checks;

#define CHECK(cond)                                                                           \
    do {                                                                                      \
        hvt_test_checks++;                                                                    \
        if (!(cond)) {                                                                        \
            hvt_test_failures++;                                                              \
            fprintf(stderr, "%s:%d: CHECK(%s) failed\n", __FILE__, __LINE__, #cond);          \
        }                                                                                     \
    } while (0)

#define CHECK_EQ(a, b)                                                                        \
    do {                                                                                      \
        long long hvt_a_ = (long long)(a), hvt_b_ = (long long)(b);                           \
        hvt_test_checks++;                                                                    \
        if (hvt_a_ != hvt_b_) {                                                               \
            hvt_test_failures++;                                                              \
            fprintf(stderr, "%s:%d: CHECK_EQ(%s, %s) failed: %lld (0x%llx) != %lld (0x%llx)\n", \
                    __FILE__, __LINE__, #a, #b, hvt_a_, (unsigned long long)hvt_a_, hvt_b_,    \
                    (unsigned long long)hvt_b_);                                              \
        }                                                                                     \
    } while (0)

#define CHECK_U64(a, b)                                                                       \
    do {                                                                                      \
        uint64_t hvt_a_ = (uint64_t)(a), hvt_b_ = (uint64_t)(b);                              \
        hvt_test_checks++;                                                                    \
        if (hvt_a_ != hvt_b_) {                                                               \
            hvt_test_failures++;                                                              \
            fprintf(stderr, "%s:%d: CHECK_U64(%s, %s) failed: 0x%" PRIx64 " != 0x%" PRIx64 "\n", \
                    __FILE__, __LINE__, #a, #b, hvt_a_, hvt_b_);                              \
        }                                                                                     \
    } while (0)

#define CHECK_STR(a, b)                                                                       \
    do {                                                                                      \
        const char *hvt_a_ = (a), *hvt_b_ = (b);                                              \
        hvt_test_checks++;                                                                    \
        if (!hvt_a_ || !hvt_b_ || strcmp(hvt_a_, hvt_b_)) {                                   \
            hvt_test_failures++;                                                              \
            fprintf(stderr, "%s:%d: CHECK_STR(%s, %s) failed: \"%s\" != \"%s\"\n", __FILE__,    \
                    __LINE__, #a, #b, hvt_a_ ? hvt_a_ : "(null)", hvt_b_ ? hvt_b_ : "(null)"); \
        }                                                                                     \
    } while (0)

#define CHECK_MEM(a, b, n) CHECK(memcmp((a), (b), (n)) == 0)

/* Runs one test function, naming it on failure. */
#define RUN(fn)                                                                               \
    do {                                                                                      \
        int hvt_before_ = hvt_test_failures;                                                  \
        fn();                                                                                 \
        if (hvt_test_failures != hvt_before_)                                                 \
            fprintf(stderr, "FAIL %s\n", #fn);                                                \
    } while (0)

/* A table of named tests: runs every entry, or only the one named by ARGV[1] (so ctest can run
 * each case as its own test). Returns 1 when at least one test ran. */
struct hvt_named_test {
    const char *name;
    void (*fn)(void);
};

static inline int hvt_run_named(const struct hvt_named_test *t, size_t n, int argc, char **argv)
{
    int found = 0;
    for (size_t i = 0; i < n; i++) {
        if (argc > 1 && strcmp(argv[1], t[i].name))
            continue;
        found = 1;
        int before = hvt_test_failures;
        t[i].fn();
        if (hvt_test_failures != before)
            fprintf(stderr, "FAIL %s\n", t[i].name);
    }
    return found;
}

/* Ends main(): summary line and exit status. */
#define TEST_DONE()                                                                           \
    do {                                                                                      \
        fprintf(stderr, "%d checks, %d failures\n", hvt_test_checks, hvt_test_failures);      \
        return hvt_test_failures ? 1 : 0;                                                     \
    } while (0)

#endif
