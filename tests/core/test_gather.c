/* SPDX-License-Identifier: MIT */
/* AVX2 gathers: element order and tags, mask clearing, partial progress on RETRY and faults. */
#include "exec_ext.h"
#include "mmu_fixture.h"

static struct fx f;

/* vpgatherdd ymm0, [rax + ymm1*4], ymm2 */
static const uint8_t gdd256[] = {0xc4, 0xe2, 0x6d, 0x90, 0x04, 0x88};
/* vpgatherqd xmm0, [rax + xmm1*1], xmm2 */
static const uint8_t gqd128[] = {0xc4, 0xe2, 0x69, 0x91, 0x04, 0x08};
/* vpgatherqq ymm0, [rax + ymm1*8], ymm2 */
static const uint8_t gqq256[] = {0xc4, 0xe2, 0xed, 0x91, 0x04, 0xc8};
/* vpgatherdd ymm0, [rax + ymm1*4], ymm0: mask == destination */
static const uint8_t gdd_same[] = {0xc4, 0xe2, 0x7d, 0x90, 0x04, 0x88};

static const uint32_t idx8[8] = {0, 5, 2, 100, 7, 3, 1, 1023};

static void setup(void)
{
    uint32_t m[8];
    fx_setup(&f, FX_L4);
    for (uint64_t a = 0x10000; a < 0x30000; a += 0x1000)
        fx_map4k(&f, a, a, P_URW | P_A | P_D, P_URW | P_A | P_D);
    f.st.rip = 0x10000;
    f.st.flags |= HVT_STATE_SIMD_VALID;
    f.st.cr4 |= (1ull << 9) | HVT_CR4_OSXSAVE;
    f.st.xcr0 = 7;
    for (uint32_t i = 0; i < 1024; i++)
        ram_put32(f.r, 0x20000 + 4 * i, 0xd0000000u + i);
    f.st.gpr[HVT_RAX] = 0x20000;
    memset(f.st.ymm[0], 0x11, 32);
    memcpy(f.st.ymm[1], idx8, 32);
    for (int i = 0; i < 8; i++)
        m[i] = 0x80000000u | (uint32_t)i; /* only the sign bit counts */
    memcpy(f.st.ymm[2], m, 32);
    f.e.partial = 0;
}

static int run(const uint8_t *b, unsigned n)
{
    memset(&f.res, 0, sizeof(f.res));
    ram_clear_log(f.r);
    f.e.partial = 0;
    return hvt_exec_ext_bytes(&f.e, b, n);
}

static uint32_t d32(unsigned reg, unsigned i)
{
    uint32_t v;
    memcpy(&v, f.st.ymm[reg] + 4 * i, 4);
    return v;
}

static void test_full(void)
{
    unsigned nd = 0;
    setup();
    f.st.ymm[2][4 * 5 + 3] = 0x7f; /* element 5 masked off */
    CHECK_EQ(run(gdd256, 6), HVT_OUT_OKAY);
    CHECK_EQ(f.res.out.iterations, 7);
    for (unsigned i = 0; i < 8; i++) {
        CHECK_U64(d32(2, i), 0);
        CHECK_U64(d32(0, i), i == 5 ? 0x11111111u : 0xd0000000u + idx8[i]);
    }
    CHECK_U64(f.st.rip, 0x10006);
    for (unsigned i = 0, e = 0; i < f.r->n_log; i++) {
        const struct ram_log_entry *l = &f.r->log[i];
        if (l->info.tag.cls != HVT_TAG_DATA)
            continue;
        if (e == 5)
            e++;
        CHECK_EQ(l->kind, HVT_ACC_READ);
        CHECK_EQ(l->size, 4);
        CHECK_EQ(l->info.tag.element, e);
        CHECK_EQ(l->info.tag.operand, 0);
        CHECK_U64(l->gpa, 0x20000 + 4 * idx8[e]);
        e++;
        nd++;
    }
    CHECK_EQ(nd, 7);
    /* 128-bit, qword indexes, dword data: bits 255:64 of the destination are cleared */
    setup();
    {
        uint64_t qi[2] = {8, 16};
        memcpy(f.st.ymm[1], qi, 16);
    }
    CHECK_EQ(run(gqd128, 6), HVT_OUT_OKAY);
    CHECK_U64(d32(0, 0), 0xd0000002u);
    CHECK_U64(d32(0, 1), 0xd0000004u);
    for (unsigned i = 2; i < 8; i++)
        CHECK_U64(d32(0, i), 0);
    for (unsigned i = 0; i < 8; i++)
        CHECK_U64(d32(2, i), 0);
    /* qword data */
    setup();
    {
        uint64_t qi[4] = {0, 1, 2, 511}, v;
        memcpy(f.st.ymm[1], qi, 32);
        CHECK_EQ(run(gqq256, 6), HVT_OUT_OKAY);
        memcpy(&v, f.st.ymm[0] + 24, 8);
        CHECK_U64(v, ram_get64(f.r, 0x20000 + 8 * 511));
    }
}

/* A device region under element K: RETRY after K elements, with the completed elements and the
 * mask kept (default) or discarded (option), for every K. */
static void test_retry_each_element(void)
{
    for (int discard = 0; discard < 2; discard++) {
        for (unsigned k = 0; k < 8; k++) {
            uint8_t d0[32], m0[32];
            setup();
            f.opts.gather_discard = discard;
            f.r->mmio_lo = 0x20000 + 4 * idx8[k];
            f.r->mmio_hi = f.r->mmio_lo + 4;
            memcpy(d0, f.st.ymm[0], 32);
            memcpy(m0, f.st.ymm[2], 32);
            CHECK_EQ(run(gdd256, 6), HVT_OUT_RETRY);
            CHECK_EQ(f.res.out.retry_cause, HVT_RETRY_MMIO);
            CHECK_EQ(f.res.out.iterations, k);
            CHECK_U64(f.st.rip, 0x10000);
            if (discard || k == 0) {
                CHECK_EQ(f.e.partial, 0);
                CHECK_MEM(f.st.ymm[0], d0, 32);
                CHECK_MEM(f.st.ymm[2], m0, 32);
                continue;
            }
            CHECK_EQ(f.e.partial, 1);
            for (unsigned i = 0; i < 8; i++) {
                CHECK_U64(d32(0, i), i < k ? 0xd0000000u + idx8[i] : 0x11111111u);
                CHECK_U64(d32(2, i), i < k ? 0 : 0xffffffffu);
            }
            /* re-execution gathers only what is left */
            f.r->mmio_lo = f.r->mmio_hi = 0;
            CHECK_EQ(run(gdd256, 6), HVT_OUT_OKAY);
            CHECK_EQ(f.res.out.iterations, 8 - k);
            for (unsigned i = 0; i < 8; i++)
                CHECK_U64(d32(0, i), 0xd0000000u + idx8[i]);
        }
    }
}

/* A #PF at element K: the mask is written (sign-extended, completed elements cleared) even at
 * K = 0; the destination only once an element completed (what the hardware does). */
static void test_fault_each_element(void)
{
    for (unsigned k = 0; k < 8; k++) {
        setup();
        /* move element K's index onto a page that is not present */
        uint32_t idx[8];
        memcpy(idx, idx8, 32);
        idx[k] = (0x30000 - 0x20000) / 4 + 2;
        memcpy(f.st.ymm[1], idx, 32);
        CHECK_EQ(run(gdd256, 6), HVT_OUT_EXCEPTION);
        CHECK_EQ(f.res.out.vector, HVT_VEC_PF);
        CHECK_U64(f.res.out.cr2, 0x30008);
        CHECK_EQ(f.res.out.iterations, k);
        CHECK_EQ(f.e.partial, 1);
        for (unsigned i = 0; i < 8; i++) {
            CHECK_U64(d32(0, i), i < k ? 0xd0000000u + idx8[i] : 0x11111111u);
            CHECK_U64(d32(2, i), i < k ? 0 : 0xffffffffu);
        }
    }
}

static void test_ud(void)
{
    setup();
    CHECK_EQ(run(gdd_same, 6), HVT_OUT_EXCEPTION);
    CHECK_EQ(f.res.out.vector, HVT_VEC_UD);
    f.st.xcr0 = 3;
    CHECK_EQ(run(gdd256, 6), HVT_OUT_EXCEPTION);
    CHECK_EQ(f.res.out.vector, HVT_VEC_UD);
    CHECK_EQ(f.r->n_log, 0);
}

int main(void)
{
    RUN(test_full);
    RUN(test_retry_each_element);
    RUN(test_fault_each_element);
    RUN(test_ud);
    fx_free(&f);
    TEST_DONE();
}
