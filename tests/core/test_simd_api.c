/* SPDX-License-Identifier: MIT */
/* String, SIMD and gather forms through the public core API: decode, dispatch and commit. */
#include "mmu_fixture.h"

static struct fx f;
static struct hvt_core *core;

#define CODE 0x10000ull

static void setup(const uint8_t *insn, unsigned len)
{
    fx_setup(&f, FX_L4);
    for (uint64_t a = 0x10000; a < 0x30000; a += 0x1000)
        fx_map4k(&f, a, a, P_URW | P_A | P_D, P_URW | P_A | P_D);
    f.st.rip = CODE;
    f.st.flags |= HVT_STATE_SIMD_VALID;
    f.st.cr4 |= (1ull << 9) | HVT_CR4_OSXSAVE;
    f.st.xcr0 = 7;
    memcpy(f.r->mem + CODE, insn, len);
    for (uint32_t i = 0; i < 1024; i++)
        ram_put32(f.r, 0x20000 + 4 * i, 0xd0000000u + i);
}

static int emulate(void)
{
    ram_clear_log(f.r);
    CHECK_EQ(hvt_core_emulate(core, &f.st, &ram_ops, f.r, &f.res), 0);
    return f.res.out.kind;
}

/* REP MOVSB stopped by a device: RETRY, with the completed iterations committed to the caller's
 * state; the next pass finishes it. */
static void test_rep_partial_commit(void)
{
    static const uint8_t rep_movsb[] = {0xf3, 0xa4};
    setup(rep_movsb, 2);
    f.st.gpr[HVT_RCX] = 8;
    f.st.gpr[HVT_RSI] = 0x20000;
    f.st.gpr[HVT_RDI] = 0x21000;
    f.r->mmio_lo = 0x21005;
    f.r->mmio_hi = 0x21006;
    CHECK_EQ(emulate(), HVT_OUT_RETRY);
    CHECK_EQ(f.res.out.retry_cause, HVT_RETRY_MMIO);
    CHECK_EQ(f.res.out.iterations, 5);
    CHECK_EQ(f.res.insn_len, 2);
    CHECK_U64(f.st.gpr[HVT_RCX], 3);
    CHECK_U64(f.st.gpr[HVT_RSI], 0x20005);
    CHECK_U64(f.st.rip, CODE);
    f.r->mmio_lo = f.r->mmio_hi = 0;
    CHECK_EQ(emulate(), HVT_OUT_OKAY);
    CHECK_EQ(f.res.out.iterations, 3);
    CHECK_U64(f.st.gpr[HVT_RCX], 0);
    CHECK_U64(f.st.rip, CODE + 2);
    CHECK_MEM(f.r->mem + 0x21000, f.r->mem + 0x20000, 8);
}

static void test_simd_commit(void)
{
    static const uint8_t vmovdqu[] = {0xc5, 0xfe, 0x6f, 0x08}; /* vmovdqu ymm1, [rax] */
    static const uint8_t lock_c8[] = {0xf0, 0x0f, 0xc7, 0x0e}; /* lock cmpxchg8b [rsi] */
    setup(vmovdqu, 4);
    f.st.gpr[HVT_RAX] = 0x20004;
    CHECK_EQ(emulate(), HVT_OUT_OKAY);
    CHECK_MEM(f.st.ymm[1], f.r->mem + 0x20004, 32);
    CHECK_U64(f.st.rip, CODE + 4);
    setup(lock_c8, 4);
    f.st.gpr[HVT_RSI] = 0x21000;
    f.st.gpr[HVT_RBX] = 7;
    CHECK_EQ(emulate(), HVT_OUT_OKAY);
    CHECK(f.st.rflags & HVT_RFLAGS_ZF);
    CHECK_U64(ram_get64(f.r, 0x21000), 7);
    CHECK_EQ(fx_count(&f, HVT_ACC_CMPXCHG), 1);
}

/* A gather stopped by a device: the mask and completed elements reach the caller with "keep",
 * not with "discard". */
static void test_gather_option(void)
{
    static const uint8_t gdd[] = {0xc4, 0xe2, 0x6d, 0x90, 0x04, 0x88};
    for (int discard = 0; discard < 2; discard++) {
        uint32_t idx[8] = {0, 1, 2, 3, 4, 5, 6, 7}, m;
        setup(gdd, 6);
        CHECK_EQ(hvt_core_set_option(core, "gather-partial", discard ? "discard" : "keep"), 0);
        memcpy(f.st.ymm[1], idx, 32);
        memset(f.st.ymm[2], 0x80, 32);
        f.st.gpr[HVT_RAX] = 0x20000;
        f.r->mmio_lo = 0x2000c; /* element 3 */
        f.r->mmio_hi = 0x20010;
        CHECK_EQ(emulate(), HVT_OUT_RETRY);
        CHECK_EQ(f.res.out.iterations, 3);
        memcpy(&m, f.st.ymm[2], 4);
        CHECK_U64(m, discard ? 0x80808080u : 0);
        memcpy(&m, f.st.ymm[0] + 8, 4);
        CHECK_U64(m, discard ? 0 : 0xd0000002u);
    }
    CHECK_EQ(hvt_core_set_option(core, "gather-partial", "sometimes"), -HVT_E_INVALID);
    CHECK_EQ(hvt_core_set_option(core, "gather-partial", "keep"), 0);
}

int main(void)
{
    char err[128];
    CHECK_EQ(hvt_core_open(&core, HVT_CORE_REF, err, sizeof(err)), 0);
    if (!core)
        TEST_DONE();
    RUN(test_rep_partial_commit);
    RUN(test_simd_commit);
    RUN(test_gather_option);
    hvt_core_close(core);
    fx_free(&f);
    TEST_DONE();
}
