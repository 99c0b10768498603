/* SPDX-License-Identifier: MIT */
/* Recorder: the per-access path never allocates. malloc/calloc/realloc are interposed in this
 * binary and count calls made on the recording thread between pass begin and pass end. */
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "fake_fmt.h"
#include "hvt_test.h"
#include "rec_gen.h"

#if defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define HVT_CLANG_SANITIZED 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__) || defined(HVT_CLANG_SANITIZED)
#define SANITIZED 1
#else
#define SANITIZED 0
#endif

#if !SANITIZED
extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);

static __thread int in_pass;
static __thread long bad_allocs;

void *malloc(size_t n)
{
    if (in_pass)
        bad_allocs++;
    return __libc_malloc(n);
}

void *calloc(size_t a, size_t b)
{
    if (in_pass)
        bad_allocs++;
    return __libc_calloc(a, b);
}

void *realloc(void *p, size_t n)
{
    if (in_pass)
        bad_allocs++;
    return __libc_realloc(p, n);
}

/* Records events with the interposer and with hvt_rec_access, flagging the pass windows. */
static int ram_read(void *ctx, uint64_t gpa, void *buf, uint32_t size, struct hvt_op_info *info)
{
    memset(buf, (int)gpa, size);
    return HVT_OP_OKAY;
}

static int ram_write(void *ctx, uint64_t gpa, const void *buf, uint32_t size,
                     struct hvt_op_info *info)
{
    return HVT_OP_OKAY;
}

static int ram_cmpxchg(void *ctx, uint64_t gpa, void *old, const void *new_, uint32_t size,
                       struct hvt_op_info *info)
{
    return HVT_OP_OKAY;
}

static void run(unsigned depth, unsigned backpressure)
{
    struct hvt_rec_options o;
    struct hvt_rec *rec = NULL;
    struct hvt_core_ops inner = {sizeof(inner), ram_read, ram_write, ram_cmpxchg, NULL, NULL};
    struct hvt_core_ops w;
    void *ctx;
    struct hvt_vcpu_state s;
    struct hvt_pass_outcome out = {0};
    struct hvt_rec_stats st = {.size = sizeof(st)};
    long bad;

    fake_reset();
    hvt_rec_options_init(&o);
    o.callsite_depth = depth;
    o.backpressure = backpressure;
    o.ring_bytes = 16384; /* small: the ring fills and the slow paths run too */
    CHECK_EQ(hvt_rec_open_writer(&rec, fake_writer(), &o), 0);
    if (!rec)
        return;
    CHECK_EQ(hvt_rec_wrap_ops(rec, 0, &inner, NULL, &w, &ctx), 0);
    memset(&s, 0, sizeof(s));
    bad_allocs = 0;
    for (uint64_t e = 0; e < 2000; e++) {
        hvt_rec_event_begin(rec, 0, &s, NULL, 0);
        hvt_rec_pass_begin(rec, 0);
        in_pass = 1;
        for (uint32_t i = 0; i < 40; i++) {
            struct hvt_op_info info;
            struct hvt_access a;
            uint8_t buf[32], old[8] = {0};
            memset(&info, 0, sizeof(info));
            info.kind = HVT_ACC_READ;
            info.tag.cls = HVT_TAG_WALK;
            info.tag.level = (uint8_t)(1 + i % 4);
            info.seg = HVT_SEG_NONE;
            w.read(ctx, i * 8, buf, 8, &info);
            info.kind = HVT_ACC_WRITE;
            info.tag.cls = HVT_TAG_DATA;
            info.tag.level = 0;
            w.write(ctx, i * 8, buf, 32, &info);
            info.kind = HVT_ACC_CMPXCHG;
            info.tag.cls = HVT_TAG_AD;
            info.tag.level = 1;
            w.cmpxchg(ctx, i * 8, old, buf, 8, &info);
            gen_access(&a, 0, e, 0, i);
            hvt_rec_access(rec, 0, &a);
        }
        in_pass = 0;
        hvt_rec_pass_end(rec, 0, &out, &s);
        hvt_rec_event_end(rec, 0);
    }
    bad = bad_allocs;
    CHECK_EQ(hvt_rec_close(rec, &st), 0);
    CHECK_EQ(bad, 0);
    CHECK_U64(st.accesses + st.dropped, 2000 * 160);
    fprintf(stderr, "depth %u, %s: %ld allocations on the access path, %llu block waits\n", depth,
            backpressure ? "drop" : "block", bad, (unsigned long long)st.block_waits);
}

/* The interposition itself works (otherwise the test would prove nothing). */
static void test_interposition_works(void)
{
    /* Through a volatile pointer: GCC assumes the builtin malloc reads no globals and would
     * drop the in_pass stores around it. */
    void *(*volatile mp)(size_t) = malloc;
    void *p;
    bad_allocs = 0;
    in_pass = 1;
    p = mp(16);
    in_pass = 0;
    free(p);
    CHECK_EQ(bad_allocs, 1);
}

static void test_noalloc_plain(void)
{
    run(0, HVT_REC_BLOCK);
    run(0, HVT_REC_DROP);
}

static void test_noalloc_callsites(void)
{
    /* libunwind may set up per-thread caches on first use: warm it up outside a pass. */
    struct hvt_rec_options o;
    struct hvt_rec *rec = NULL;
    struct hvt_vcpu_state s;
    struct hvt_access a;
    struct hvt_pass_outcome out = {0};
    fake_reset();
    hvt_rec_options_init(&o);
    o.callsite_depth = 8;
    CHECK_EQ(hvt_rec_open_writer(&rec, fake_writer(), &o), 0);
    memset(&s, 0, sizeof(s));
    gen_access(&a, 0, 0, 0, 0);
    hvt_rec_event_begin(rec, 0, &s, NULL, 0);
    hvt_rec_pass_begin(rec, 0);
    hvt_rec_access(rec, 0, &a);
    hvt_rec_pass_end(rec, 0, &out, &s);
    hvt_rec_event_end(rec, 0);
    hvt_rec_close(rec, NULL);
    run(8, HVT_REC_BLOCK);
}

int main(void)
{
    RUN(test_interposition_works);
    RUN(test_noalloc_plain);
    RUN(test_noalloc_callsites);
    fake_reset();
    TEST_DONE();
}
#else
int main(void)
{
    /* The sanitizers own malloc: interposing it here would fight them. */
    (void)hvt_test_failures;
    (void)hvt_test_checks;
    fprintf(stderr, "skipped: malloc interposition is not possible under sanitizers\n");
    return 77;
}
#endif
