/* SPDX-License-Identifier: MIT */
/* SIMD moves, MOVNTI and CMPXCHG8B/16B: data, zeroing rules, alignment #GP, #UD/#NM checks. */
#include "exec_ext.h"
#include "mmu_fixture.h"

#define CR4_OSFXSR (1ull << 9)

static struct fx f;

static void setup(void)
{
    fx_setup(&f, FX_L4);
    for (uint64_t a = 0x10000; a < 0x30000; a += 0x1000)
        fx_map4k(&f, a, a, P_URW | P_A | P_D, P_URW | P_A | P_D);
    f.st.rip = 0x10000;
    f.st.flags |= HVT_STATE_SIMD_VALID;
    f.st.mxcsr = 0x1f80;
    f.st.cr4 |= CR4_OSFXSR | HVT_CR4_OSXSAVE;
    f.st.xcr0 = 7;
    for (int r = 0; r < 16; r++)
        memset(f.st.ymm[r], 0xc0 + r, 32);
    for (int i = 0; i < 64; i++)
        f.r->mem[0x20000 + i] = (uint8_t)i;
    f.st.gpr[HVT_RAX] = 0x20000;
}

static int run(const uint8_t *b, unsigned n)
{
    memset(&f.res, 0, sizeof(f.res));
    ram_clear_log(f.r);
    f.e.partial = 0;
    f.st.rip = 0x10000;
    return hvt_exec_ext_bytes(&f.e, b, n);
}

static int is_fill(const uint8_t *p, unsigned n, uint8_t v)
{
    for (unsigned i = 0; i < n; i++)
        if (p[i] != v)
            return 0;
    return 1;
}

static void test_sse_moves(void)
{
    static const uint8_t movdqa_ld[] = {0x66, 0x0f, 0x6f, 0x08};
    static const uint8_t movdqa_st[] = {0x66, 0x0f, 0x7f, 0x08};
    static const uint8_t movdqu_ld[] = {0xf3, 0x0f, 0x6f, 0x10};
    static const uint8_t movups_st[] = {0x0f, 0x11, 0x18};
    static const uint8_t movaps_ld[] = {0x0f, 0x28, 0x00};
    setup();
    CHECK_EQ(run(movdqa_ld, 4), HVT_OUT_OKAY);
    CHECK_MEM(f.st.ymm[1], f.r->mem + 0x20000, 16);
    CHECK(is_fill(f.st.ymm[1] + 16, 16, 0xc1)); /* legacy SSE keeps bits 255:128 */
    CHECK_U64(f.st.rip, 0x10004);
    f.st.gpr[HVT_RAX] = 0x21000;
    CHECK_EQ(run(movdqa_st, 4), HVT_OUT_OKAY);
    CHECK_MEM(f.r->mem + 0x21000, f.st.ymm[1], 16);
    /* misaligned MOVDQA/MOVAPS: #GP(0) before any data access */
    f.st.gpr[HVT_RAX] = 0x20008;
    CHECK_EQ(run(movdqa_ld, 4), HVT_OUT_EXCEPTION);
    CHECK_EQ(f.res.out.vector, HVT_VEC_GP);
    CHECK_EQ(f.res.out.error_code, 0);
    CHECK_EQ(fx_count(&f, HVT_ACC_READ), 0);
    CHECK_EQ(run(movaps_ld, 3), HVT_OUT_EXCEPTION);
    CHECK_EQ(f.res.out.vector, HVT_VEC_GP);
    /* MOVDQU across a page boundary: two pieces */
    f.st.gpr[HVT_RAX] = 0x20ff8;
    CHECK_EQ(run(movdqu_ld, 4), HVT_OUT_OKAY);
    CHECK_MEM(f.st.ymm[2], f.r->mem + 0x20ff8, 16);
    f.st.gpr[HVT_RAX] = 0x21ffc;
    CHECK_EQ(run(movups_st, 3), HVT_OUT_OKAY);
    CHECK(is_fill(f.r->mem + 0x21ffc, 16, 0xc3));
}

static void test_avx_moves(void)
{
    static const uint8_t vmovdqu_ld256[] = {0xc5, 0xfe, 0x6f, 0x08};
    static const uint8_t vmovdqa_ld128[] = {0xc5, 0xf9, 0x6f, 0x08};
    static const uint8_t vmovdqa_ld256[] = {0xc5, 0xfd, 0x6f, 0x08};
    static const uint8_t vmovdqu_st256[] = {0xc5, 0xfe, 0x7f, 0x08};
    static const uint8_t vmovdqa_vvvv[] = {0xc5, 0xf1, 0x6f, 0x08};
    setup();
    f.st.gpr[HVT_RAX] = 0x20001;
    CHECK_EQ(run(vmovdqu_ld256, 4), HVT_OUT_OKAY);
    CHECK_MEM(f.st.ymm[1], f.r->mem + 0x20001, 32);
    f.st.gpr[HVT_RAX] = 0x20010;
    CHECK_EQ(run(vmovdqa_ld128, 4), HVT_OUT_OKAY);
    CHECK_MEM(f.st.ymm[1], f.r->mem + 0x20010, 16);
    CHECK(is_fill(f.st.ymm[1] + 16, 16, 0));            /* VEX.128 clears bits 255:128 */
    CHECK_EQ(run(vmovdqa_ld256, 4), HVT_OUT_EXCEPTION); /* 16- but not 32-aligned */
    CHECK_EQ(f.res.out.vector, HVT_VEC_GP);
    f.st.gpr[HVT_RAX] = 0x21000;
    memset(f.st.ymm[1], 0x77, 32);
    CHECK_EQ(run(vmovdqu_st256, 4), HVT_OUT_OKAY);
    CHECK(is_fill(f.r->mem + 0x21000, 32, 0x77));
    CHECK_EQ(run(vmovdqa_vvvv, 4), HVT_OUT_EXCEPTION);
    CHECK_EQ(f.res.out.vector, HVT_VEC_UD);
}

/* What is checked before a SIMD instruction runs. */
static void test_availability(void)
{
    static const uint8_t movdqu_ld[] = {0xf3, 0x0f, 0x6f, 0x10};
    static const uint8_t vmovdqu_ld256[] = {0xc5, 0xfe, 0x6f, 0x08};
    setup();
    f.st.cr0 |= 1ull << 3; /* TS */
    CHECK_EQ(run(movdqu_ld, 4), HVT_OUT_EXCEPTION);
    CHECK_EQ(f.res.out.vector, HVT_VEC_NM);
    CHECK_EQ(run(vmovdqu_ld256, 4), HVT_OUT_EXCEPTION);
    CHECK_EQ(f.res.out.vector, HVT_VEC_NM);
    f.st.cr0 &= ~(1ull << 3);
    f.st.cr0 |= 1ull << 2; /* EM: #UD for SSE, AVX does not care */
    CHECK_EQ(run(movdqu_ld, 4), HVT_OUT_EXCEPTION);
    CHECK_EQ(f.res.out.vector, HVT_VEC_UD);
    CHECK_EQ(run(vmovdqu_ld256, 4), HVT_OUT_OKAY);
    f.st.cr0 &= ~(1ull << 2);
    f.st.cr4 &= ~CR4_OSFXSR;
    CHECK_EQ(run(movdqu_ld, 4), HVT_OUT_EXCEPTION);
    CHECK_EQ(f.res.out.vector, HVT_VEC_UD);
    f.st.cr4 |= CR4_OSFXSR;
    f.st.xcr0 = 3; /* AVX state not enabled */
    CHECK_EQ(run(vmovdqu_ld256, 4), HVT_OUT_EXCEPTION);
    CHECK_EQ(f.res.out.vector, HVT_VEC_UD);
    f.st.xcr0 = 7;
    f.st.cr4 &= ~HVT_CR4_OSXSAVE;
    CHECK_EQ(run(vmovdqu_ld256, 4), HVT_OUT_EXCEPTION);
    CHECK_EQ(f.res.out.vector, HVT_VEC_UD);
    f.st.flags &= ~HVT_STATE_SIMD_VALID;
    CHECK_EQ(run(movdqu_ld, 4), HVT_OUT_UNHANDLEABLE);
}

static void test_movd_movq_movnti(void)
{
    static const uint8_t movd_ld[] = {0x66, 0x0f, 0x6e, 0x08};
    static const uint8_t movq_ld_w[] = {0x66, 0x48, 0x0f, 0x6e, 0x08};
    static const uint8_t movq_ld_f3[] = {0xf3, 0x0f, 0x7e, 0x08};
    static const uint8_t movq_st[] = {0x66, 0x0f, 0xd6, 0x08};
    static const uint8_t movd_st[] = {0x66, 0x0f, 0x7e, 0x08};
    static const uint8_t movd_reg[] = {0x66, 0x0f, 0x7e, 0xcb}; /* movd ebx, xmm1 */
    static const uint8_t movnti[] = {0x48, 0x0f, 0xc3, 0x08};
    static const uint8_t movnti_reg[] = {0x0f, 0xc3, 0xc8};
    setup();
    CHECK_EQ(run(movd_ld, 4), HVT_OUT_OKAY);
    CHECK_MEM(f.st.ymm[1], f.r->mem + 0x20000, 4);
    CHECK(is_fill(f.st.ymm[1] + 4, 12, 0));
    CHECK(is_fill(f.st.ymm[1] + 16, 16, 0xc1));
    CHECK_EQ(run(movq_ld_w, 5), HVT_OUT_OKAY);
    CHECK_MEM(f.st.ymm[1], f.r->mem + 0x20000, 8);
    CHECK(is_fill(f.st.ymm[1] + 8, 8, 0));
    memset(f.st.ymm[1], 0x99, 16);
    CHECK_EQ(run(movq_ld_f3, 4), HVT_OUT_OKAY);
    CHECK(is_fill(f.st.ymm[1] + 8, 8, 0));
    f.st.gpr[HVT_RAX] = 0x21000;
    memset(f.st.ymm[1], 0x55, 16);
    CHECK_EQ(run(movq_st, 4), HVT_OUT_OKAY);
    CHECK(is_fill(f.r->mem + 0x21000, 8, 0x55));
    CHECK_EQ(f.r->mem[0x21008], 0);
    CHECK_EQ(run(movd_st, 4), HVT_OUT_OKAY);
    f.st.gpr[HVT_RBX] = ~0ull;
    CHECK_EQ(run(movd_reg, 4), HVT_OUT_OKAY);
    CHECK_U64(f.st.gpr[HVT_RBX], 0x55555555);
    f.st.gpr[HVT_RCX] = 0x0123456789abcdefull;
    CHECK_EQ(run(movnti, 4), HVT_OUT_OKAY);
    CHECK_U64(ram_get64(f.r, 0x21000), 0x0123456789abcdefull);
    CHECK_EQ(run(movnti_reg, 3), HVT_OUT_EXCEPTION);
    CHECK_EQ(f.res.out.vector, HVT_VEC_UD);
}

static void test_cmpxchg8b_16b(void)
{
    static const uint8_t c8[] = {0x0f, 0xc7, 0x08};
    static const uint8_t lc8[] = {0xf0, 0x0f, 0xc7, 0x08};
    static const uint8_t lc16[] = {0xf0, 0x48, 0x0f, 0xc7, 0x08};
    static const uint8_t c8_reg[] = {0x0f, 0xc7, 0xc8};
    setup();
    f.st.gpr[HVT_RAX] = 0x21000;
    ram_put64(f.r, 0x21000, 0x1111111122222222ull);
    /* no LOCK, values differ: EDX:EAX loaded, ZF clear, the old value written back */
    f.st.gpr[HVT_RDX] = 0xffffffff00000001ull;
    CHECK_EQ(run(c8, 3), HVT_OUT_OKAY);
    CHECK(!(f.st.rflags & HVT_RFLAGS_ZF));
    CHECK_U64(f.st.gpr[HVT_RAX], 0x22222222);
    CHECK_U64(f.st.gpr[HVT_RDX], 0x11111111);
    CHECK_EQ(fx_count(&f, HVT_ACC_WRITE), 1);
    CHECK_U64(ram_get64(f.r, 0x21000), 0x1111111122222222ull);
    /* LOCK, values equal: ECX:EBX stored through the cmpxchg op */
    f.st.gpr[HVT_RAX] = 0x21000;
    CHECK_EQ(run(c8, 3), HVT_OUT_OKAY); /* loads EDX:EAX again (RAX was the address) */
    f.st.gpr[HVT_RSI] = 0;
    f.st.gpr[HVT_RBX] = 0xbbbbbbbb;
    f.st.gpr[HVT_RCX] = 0xcccccccc;
    {
        /* address through RSI this time: cmpxchg8b [rsi] */
        static const uint8_t lc8_rsi[] = {0xf0, 0x0f, 0xc7, 0x0e};
        f.st.gpr[HVT_RSI] = 0x21000;
        CHECK_EQ(run(lc8_rsi, 4), HVT_OUT_OKAY);
    }
    CHECK(f.st.rflags & HVT_RFLAGS_ZF);
    CHECK_U64(ram_get64(f.r, 0x21000), 0xccccccccbbbbbbbbull);
    CHECK_EQ(fx_count(&f, HVT_ACC_CMPXCHG), 1);
    CHECK_EQ(fx_count(&f, HVT_ACC_WRITE), 0);
    /* CMPXCHG16B: 16-byte alignment or #GP(0) */
    f.st.gpr[HVT_RAX] = 0x21008;
    CHECK_EQ(run(lc16, 5), HVT_OUT_EXCEPTION);
    CHECK_EQ(f.res.out.vector, HVT_VEC_GP);
    f.st.gpr[HVT_RAX] = 0x21010;
    f.st.gpr[HVT_RDX] = 0;
    CHECK_EQ(run(lc16, 5), HVT_OUT_OKAY); /* compares RDX:RAX = 0:0x21010 with zeros: fails */
    CHECK(!(f.st.rflags & HVT_RFLAGS_ZF));
    CHECK_U64(f.st.gpr[HVT_RAX], 0);
    CHECK_EQ(run(c8_reg, 3), HVT_OUT_EXCEPTION);
    CHECK_EQ(f.res.out.vector, HVT_VEC_UD);
    (void)lc8;
}

int main(void)
{
    RUN(test_sse_moves);
    RUN(test_avx_moves);
    RUN(test_availability);
    RUN(test_movd_movq_movnti);
    RUN(test_cmpxchg8b_16b);
    fx_free(&f);
    TEST_DONE();
}
