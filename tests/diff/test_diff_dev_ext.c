/* SPDX-License-Identifier: MIT */
/* Differential tests: unicorn deviations of the string, SSE and CMPXCHG16B forms, each on a
 * hand-made case or found by a bounded scan (argv[1] names it). Each asserts unicorn's
 * behaviour, the architectural one (the core's), and that exactly that name is excluded; and
 * the choices QEMU shares with some CPUs, which the "unicorn" CPU profile makes compare equal. */
#include <string.h>

#include "diff_util.h"

static struct fix x;

static unsigned form_index(const char *name)
{
    for (unsigned i = 0; i < hvt_orc_form_count(); i++)
        if (!strcmp(hvt_orc_form_name(i), name))
            return i;
    fprintf(stderr, "no form %s\n", name);
    exit(1);
}

/* 64-bit CPL 0 case (hvt_orc_craft: code 0x400000, pages 0x401000.. on frames 0x11000..). */
static void craft(const char *form, const uint8_t *insn, unsigned len, const uint64_t leaf[3])
{
    hvt_orc_craft(&x.c, 64, 0, insn, len, leaf, 0x27);
    x.c.form = form_index(form);
    x.c.opsize = 1;
}

static void sse_on(void)
{
    x.c.st.flags |= HVT_STATE_SIMD_VALID;
    x.c.st.mxcsr = 0x1f80;
    x.c.st.cr4 |= HVT_CR4_OSFXSR | HVT_CR4_OSXMMEXCPT;
    for (unsigned i = 0; i < 16; i++)
        memset(x.c.st.ymm[i], 0x10 + (int)i, 32);
}

/* Runs the crafted case with the core on CPU profile NAME (then back on "unicorn"). */
static int run_on(const char *name, unsigned *dev)
{
    struct hvt_cpu_profile p;
    int rc;
    CHECK_EQ(hvt_cpu_profile_named(&p, name), 0);
    CHECK_EQ(hvt_core_set_cpu(x.core, &p), 0);
    rc = fix_run(&x, dev);
    CHECK_EQ(hvt_orc_core_follow(x.core, NULL), 0);
    return rc;
}

/* REP MOVSB with a 67 prefix and ECX = 0: QEMU skips the instruction and leaves RCX, RSI and
 * RDI, as AMD CPUs do (rep-a32-no-progress=keep, the "unicorn" profile's); the Intel profile
 * writes ECX, ESI and EDI, which then differs from unicorn. Once a deviation, now a choice. */
static void unicorn_profile_rep_a32_no_progress(void)
{
    static const uint8_t insn[] = {0xf3, 0x67, 0xa4};
    const uint64_t leaf[3] = {0x67, 0x67, 0x67};
    unsigned dev;
    craft("rep movs", insn, sizeof(insn), leaf);
    x.c.st.gpr[HVT_RCX] = 0xdead000000000000ull;
    x.c.st.gpr[HVT_RSI] = 0xbeef000000401000ull;
    x.c.st.gpr[HVT_RDI] = 0xf00d000000402000ull;
    CHECK_EQ(fix_run(&x, &dev), 0);
    CHECK_U64(x.uc.st.gpr[HVT_RCX], 0xdead000000000000ull);
    CHECK_U64(x.ref.st.gpr[HVT_RCX], 0xdead000000000000ull);
    CHECK_EQ(x.uc.status, HVT_ORC_DONE);
    CHECK_EQ(run_on(HVT_CPU_DEFAULT, &dev), 1);
    CHECK_U64(x.ref.st.gpr[HVT_RCX], 0);
    CHECK_U64(x.ref.st.gpr[HVT_RSI], 0x401000);
    CHECK_U64(x.ref.st.gpr[HVT_RDI], 0x402000);
}

/* REPE CMPSB: two equal bytes, then rDI reaches a not-present page. QEMU leaves the flags of
 * the second comparison (ZF), as AMD CPUs do (rep-cmps-fault-flags=last); the Intel profile
 * leaves RFLAGS as at the start. */
static void unicorn_profile_rep_cmps_fault_flags(void)
{
    static const uint8_t insn[] = {0xf3, 0xa6};
    const uint64_t leaf[3] = {0x67, 0x67, 0};
    unsigned dev;
    craft("repe cmps", insn, sizeof(insn), leaf);
    x.c.st.gpr[HVT_RCX] = 5;
    x.c.st.gpr[HVT_RSI] = 0x401800;
    x.c.st.gpr[HVT_RDI] = 0x402ffe;
    x.c.st.rflags = 0x2 | 0x1 | 0x80; /* CF SF, ZF clear */
    x.c.ram[0x11800] = x.c.ram[0x12ffe] = 0x42;
    x.c.ram[0x11801] = x.c.ram[0x12fff] = 0x43;
    CHECK_EQ(fix_run(&x, &dev), 0);
    CHECK_EQ(x.ref.status, HVT_ORC_FAULT);
    CHECK_EQ(x.ref.vector, 14);
    CHECK_U64(x.ref.cr2, 0x403000);
    CHECK_U64(x.ref.st.gpr[HVT_RCX], 3); /* two iterations committed, as on hardware */
    CHECK_U64(x.uc.st.gpr[HVT_RCX], 3);
    CHECK(x.uc.st.rflags & 0x40); /* ZF of the last equal comparison */
    CHECK(x.ref.st.rflags & 0x40);
    CHECK_EQ(run_on("intel-skylake", &dev), 1);
    CHECK_U64(x.ref.st.rflags, x.c.st.rflags);
}

/* MOVAPS xmm0, [rbx] with rbx 8-byte aligned only: #GP(0) on the CPU; QEMU 5.0 loads it. */
static void qemu_no_sse_alignment_check(void)
{
    static const uint8_t insn[] = {0x0f, 0x28, 0x03};
    const uint64_t leaf[3] = {0x67, 0x67, 0x67};
    unsigned dev;
    craft("movaps x,m", insn, sizeof(insn), leaf);
    sse_on();
    x.c.st.gpr[HVT_RBX] = 0x401008;
    x.c.mem_la = 0x401008;
    CHECK_EQ(fix_run(&x, &dev), 2);
    CHECK_EQ(dev, HVT_ORC_DEV_SSE_ALIGN);
    CHECK_EQ(x.ref.status, HVT_ORC_FAULT);
    CHECK_EQ(x.ref.vector, 13);
    CHECK_EQ(x.ref.error_code, 0);
    CHECK_EQ(x.uc.status, HVT_ORC_DONE);
    CHECK(!memcmp(x.uc.st.ymm[0], x.c.ram + 0x11008, 16));
}

/* MOVUPS xmm0, [rbx] with the operand's second half on a not-present page: the CPU faults with
 * nothing loaded; QEMU has already loaded the first 8 bytes. The store form writes them. */
static void qemu_sse_split_partial(void)
{
    static const uint8_t ld[] = {0x0f, 0x10, 0x03}, st[] = {0x0f, 0x11, 0x03};
    const uint64_t leaf[3] = {0x67, 0x67, 0};
    unsigned dev;
    craft("movups x,m", ld, sizeof(ld), leaf);
    sse_on();
    x.c.st.gpr[HVT_RBX] = x.c.mem_la = 0x402ff8;
    memset(x.c.ram + 0x12ff8, 0x77, 8);
    CHECK_EQ(fix_run(&x, &dev), 2);
    CHECK_EQ(dev, HVT_ORC_DEV_SSE_SPLIT_PARTIAL);
    CHECK_U64(x.ref.cr2, 0x403000);
    CHECK(!memcmp(x.ref.st.ymm[0], x.c.st.ymm[0], 32));
    CHECK(!memcmp(x.uc.st.ymm[0], x.c.ram + 0x12ff8, 8)); /* QEMU: low half loaded */
    craft("movups m,x", st, sizeof(st), leaf);
    sse_on();
    x.c.st.gpr[HVT_RBX] = x.c.mem_la = 0x402ff8;
    CHECK_EQ(fix_run(&x, &dev), 2);
    CHECK_EQ(dev, HVT_ORC_DEV_SSE_SPLIT_PARTIAL);
    CHECK(!memcmp(x.ref.ram + 0x12ff8, x.c.ram + 0x12ff8, 8));  /* the CPU: nothing stored */
    CHECK(!memcmp(x.uc.ram + 0x12ff8, x.c.st.ymm[0], 8));       /* QEMU: low half stored */
}

/* MOVUPS with CR4.OSFXSR = 0 and CR0.TS = 1: #UD (SDM vol. 3, table 13-1: OSFXSR = 0 gives #UD
 * whatever TS); QEMU checks TS first and raises #NM. */
static void qemu_sse_nm_before_ud(void)
{
    static const uint8_t insn[] = {0x0f, 0x10, 0x03};
    const uint64_t leaf[3] = {0x67, 0x67, 0x67};
    unsigned dev;
    craft("movups x,m", insn, sizeof(insn), leaf);
    sse_on();
    x.c.st.cr4 &= ~(HVT_CR4_OSFXSR | HVT_CR4_OSXMMEXCPT);
    x.c.st.cr0 |= HVT_CR0_TS;
    x.c.st.gpr[HVT_RBX] = 0x401000;
    CHECK_EQ(fix_run(&x, &dev), 2);
    CHECK_EQ(dev, HVT_ORC_DEV_SSE_NM_BEFORE_UD);
    CHECK_EQ(x.ref.vector, 6);
    CHECK_EQ(x.uc.vector, 7);
}

/* Found by a bounded scan of generated cases of FORM: some case is excluded as DEV, none
 * mismatches. Used where the behaviour needs a walk shape that generated cases provide. */
static void scan(const char *form, unsigned want, uint64_t seed, unsigned max)
{
    struct hvt_orc_filter f;
    unsigned hits = 0;
    hvt_orc_filter_init(&f);
    f.insn = form;
    f.bits = 64;
    for (unsigned i = 0; i < max && !hits; i++) {
        unsigned dev;
        CHECK_EQ(hvt_orc_gen(&x.c, hvt_orc_case_seed(seed, i), &f), 0);
        int rc = fix_run(&x, &dev);
        CHECK(rc != 1);
        if (rc == 2 && dev == want) {
            hits++;
            /* only A bits of paging structures differ, and unicorn set them */
            for (uint64_t a = ORC_PT_LO; a < ORC_PT_HI; a += 8) {
                uint64_t r = ram64(x.ref.ram, a), u = ram64(x.uc.ram, a);
                if (r != u)
                    CHECK((r ^ u) == 0x20 || (r ^ u) == 0x2000000020ull);
            }
        }
    }
    CHECK(hits > 0);
}

/* CMPXCHG16B on a misaligned operand: #GP(0) on both, but QEMU has walked the operand's upper
 * paging levels first (A bits); the CPU checks alignment before translating. */
static void qemu_walk_before_alignment_gp(void)
{
    scan("cmpxchg16b m", HVT_ORC_DEV_WALK_BEFORE_ALIGN, 3, 3000);
}

/* SSE #UD/#NM: QEMU raises them at translation (no fetch of the rest of the instruction, A bits
 * on the operand's upper levels); the CPU fetches the whole instruction first. */
static void qemu_sse_ud_nm_a_bits(void)
{
    scan("movups", HVT_ORC_DEV_SSE_UD_NM_A_BITS, 3, 3000);
}

int main(int argc, char **argv)
{
    static const struct hvt_named_test tests[] = {
        {"unicorn-profile-rep-a32-no-progress", unicorn_profile_rep_a32_no_progress},
        {"unicorn-profile-rep-cmps-fault-flags", unicorn_profile_rep_cmps_fault_flags},
        {"qemu-no-sse-alignment-check", qemu_no_sse_alignment_check},
        {"qemu-sse-split-partial", qemu_sse_split_partial},
        {"qemu-sse-nm-before-ud", qemu_sse_nm_before_ud},
        {"qemu-walk-before-alignment-gp", qemu_walk_before_alignment_gp},
        {"qemu-sse-ud-nm-before-fetch", qemu_sse_ud_nm_a_bits},
    };
    fix_init(&x);
    int found = hvt_run_named(tests, sizeof(tests) / sizeof(tests[0]), argc, argv);
    fix_fini(&x);
    CHECK(found);
    TEST_DONE();
}
