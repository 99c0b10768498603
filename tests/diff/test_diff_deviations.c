/* SPDX-License-Identifier: MIT */
/* Differential tests: each known unicorn deviation, shown on a hand-made case (argv[1] names it).
 * Each test asserts what unicorn does, what the architecture (and the core) does, and that the
 * comparison excludes exactly that deviation by name. */
#include <string.h>

#include "diff_util.h"

static struct fix x;
static const uint64_t PML4E = ORC_PT_LO;

/* A #PF walk through upper levels whose A bits are clear: QEMU sets them level by level, before
 * it finds the leaf not present; the core sets A bits only once a walk succeeds. */
static void qemu_a_bits_on_faulting_walk(void)
{
    static const uint8_t insn[] = {0x48, 0x8b, 0x03}; /* mov rax, [rbx] */
    const uint64_t leaf[3] = {0x67, 0 /* not present */, 0x67};
    unsigned dev;
    const uint64_t pde3 = ORC_PT_LO + 0x2000 + 3 * 8, pt2 = ORC_PT_LO + 0x4000;
    hvt_orc_craft(&x.c, 64, 0, insn, sizeof(insn), leaf, 0x27);
    /* the data at 0x600000: its own PDE (A clear) and a PT whose entry is not present, so
     * that the code fetch's walk does not share the entry */
    uint64_t v = pt2 | 0x07;
    memcpy(x.c.ram + pde3, &v, 8);
    x.c.pages[1].la = 0x600000;
    x.c.pages[1].pa = 0x14000;
    x.c.st.gpr[HVT_RBX] = 0x600000;
    x.c.mem_la = 0x600000;
    CHECK_EQ(fix_run(&x, &dev), 2);
    CHECK_EQ(dev, HVT_ORC_DEV_AD_ON_FAULT);
    CHECK_EQ(x.uc.status, HVT_ORC_FAULT);
    CHECK_EQ(x.uc.vector, 14);
    CHECK(ram64(x.uc.ram, pde3) & 0x20);   /* unicorn: A set on the PDE */
    CHECK(!(ram64(x.ref.ram, pde3) & 0x20)); /* core: untouched */
    (void)PML4E;
}

/* ADD to a not-present page: QEMU faults in the load, with W = 0; the CPU reports W = 1. */
static void qemu_rmw_pf_as_read(void)
{
    static const uint8_t insn[] = {0x01, 0x03}; /* add [rbx], eax */
    const uint64_t leaf[3] = {0x67, 0, 0x67};
    unsigned dev;
    hvt_orc_craft(&x.c, 64, 0, insn, sizeof(insn), leaf, 0x27);
    x.c.st.gpr[HVT_RBX] = 0x402000;
    x.c.mem_la = 0x402000;
    x.c.opsize = 4;
    x.c.form = 0;
    for (unsigned i = 0; i < hvt_orc_form_count(); i++)
        if (!strcmp(hvt_orc_form_name(i), "add m,r"))
            x.c.form = i;
    CHECK_EQ(fix_run(&x, &dev), 2);
    CHECK_EQ(dev, HVT_ORC_DEV_RMW_PF_READ);
    CHECK_EQ(x.ref.error_code, 0x2);
    if (hvt_orc_unicorn_has_error_codes())
        CHECK_EQ(x.uc.error_code, 0x0);
}

/* JMP through memory to a non-canonical address: the CPU raises #GP(0) at the JMP; QEMU loads
 * RIP and faults only when fetching there. */
static void qemu_noncanonical_branch(void)
{
    static const uint8_t insn[] = {0xff, 0x23}; /* jmp [rbx] */
    const uint64_t leaf[3] = {0x67, 0x67, 0x67};
    const uint64_t target = 0x0000800000000000ull;
    unsigned dev;
    hvt_orc_craft(&x.c, 64, 0, insn, sizeof(insn), leaf, 0x27);
    memcpy(x.c.ram + 0x11000, &target, 8);
    x.c.st.gpr[HVT_RBX] = 0x401000;
    for (unsigned i = 0; i < hvt_orc_form_count(); i++)
        if (!strcmp(hvt_orc_form_name(i), "jmp m"))
            x.c.form = i;
    CHECK_EQ(fix_run(&x, &dev), 2);
    CHECK_EQ(dev, HVT_ORC_DEV_NONCANON_BRANCH);
    CHECK_EQ(x.uc.status, HVT_ORC_DONE);
    CHECK_U64(x.uc.st.rip, target);
    CHECK_EQ(x.ref.status, HVT_ORC_FAULT);
    CHECK_EQ(x.ref.vector, 13);
}

/* PUSH with a non-canonical RSP: #SS(0) on the CPU, #GP(0) in QEMU. */
static void qemu_noncanonical_stack_gp(void)
{
    static const uint8_t insn[] = {0x50}; /* push rax */
    const uint64_t leaf[3] = {0x67, 0x67, 0x67};
    unsigned dev;
    hvt_orc_craft(&x.c, 64, 0, insn, sizeof(insn), leaf, 0x27);
    x.c.st.gpr[HVT_RSP] = 0x0000800000000010ull;
    x.c.stack_la = x.c.mem_la = 0x0000800000000008ull;
    x.c.provoked |= HVT_ORC_P_NONCANON;
    CHECK_EQ(fix_run(&x, &dev), 2);
    CHECK_EQ(dev, HVT_ORC_DEV_NONCANON_STACK);
    CHECK_EQ(x.uc.vector, 13);
    CHECK_EQ(x.ref.vector, 12);
}

/* A read beyond DS's limit in 32-bit protected mode: #GP(0) on the CPU; QEMU's TCG does not
 * check data segment limits (nor writability) on access. */
static void qemu_no_seg_checks(void)
{
    static const uint8_t insn[] = {0x8b, 0x03}; /* mov eax, [ebx] */
    const uint64_t leaf[3] = {0, 0, 0};
    unsigned dev;
    hvt_orc_craft(&x.c, 32, 0, insn, sizeof(insn), leaf, 0);
    x.c.st.seg[HVT_SEG_DS].limit = 0xfff;
    x.c.st.seg[HVT_SEG_DS].attr &= ~HVT_SEG_ATTR_G;
    x.c.st.gpr[HVT_RBX] = 0x11000;
    x.c.provoked |= HVT_ORC_P_SEG_LIMIT;
    CHECK_EQ(fix_run(&x, &dev), 2);
    CHECK_EQ(dev, HVT_ORC_DEV_SEG_CHECKS);
    CHECK_EQ(x.uc.status, HVT_ORC_DONE);
    CHECK_EQ(x.ref.status, HVT_ORC_FAULT);
    CHECK_EQ(x.ref.vector, 13);
}

/* RET 0x8000: the CPU adds imm16 zero-extended (checked natively on the host: RSP grows by
 * 0x8000); QEMU sign-extends it. */
static void qemu_ret_imm16_signed(void)
{
    static const uint8_t insn[] = {0xc2, 0x00, 0x80}; /* ret 0x8000 */
    const uint64_t leaf[3] = {0x67, 0x67, 0x67};
    const uint64_t target = 0x400100;
    unsigned dev;
    hvt_orc_craft(&x.c, 64, 0, insn, sizeof(insn), leaf, 0x27);
    for (unsigned i = 0; i < hvt_orc_form_count(); i++)
        if (!strcmp(hvt_orc_form_name(i), "ret imm16"))
            x.c.form = i;
    memcpy(x.c.ram + 0x13800, &target, 8);
    x.c.st.gpr[HVT_RSP] = 0x403800;
    CHECK_EQ(fix_run(&x, &dev), 2);
    CHECK_EQ(dev, HVT_ORC_DEV_RET_IMM16);
    CHECK_U64(x.ref.st.gpr[HVT_RSP], 0x403808ull + 0x8000);
    CHECK_U64(x.uc.st.gpr[HVT_RSP], 0x403808ull - 0x8000);
}

/* LOCK NEG dword 0x2a: the CPU gives CF AF SF (0x91, checked natively); QEMU's atomic path
 * loses SF. */
static void qemu_lock_neg_flags(void)
{
    static const uint8_t insn[] = {0xf0, 0xf7, 0x1b}; /* lock neg dword [rbx] */
    const uint64_t leaf[3] = {0x67, 0x67, 0x67};
    const uint32_t v = 0x2a;
    unsigned dev;
    hvt_orc_craft(&x.c, 64, 0, insn, sizeof(insn), leaf, 0x27);
    for (unsigned i = 0; i < hvt_orc_form_count(); i++)
        if (!strcmp(hvt_orc_form_name(i), "neg m"))
            x.c.form = i;
    memcpy(x.c.ram + 0x11000, &v, 4);
    x.c.st.gpr[HVT_RBX] = 0x401000;
    CHECK_EQ(fix_run(&x, &dev), 2);
    CHECK_EQ(dev, HVT_ORC_DEV_LOCK_NEG_FLAGS);
    CHECK_U64(x.ref.st.rflags & 0x8d5, 0x91);
    CHECK(!(x.uc.st.rflags & 0x80));
}

/* CMPXCHG dword that succeeds, with RAX's upper half set: the CPU leaves RAX alone (checked
 * natively on the host); QEMU zero-extends EAX into RAX. */
static void qemu_cmpxchg32_zero_extends_rax(void)
{
    static const uint8_t insn[] = {0x0f, 0xb1, 0x0b}; /* cmpxchg [rbx], ecx */
    const uint64_t leaf[3] = {0x67, 0x67, 0x67};
    const uint32_t v = 0x12345678;
    unsigned dev;
    hvt_orc_craft(&x.c, 64, 0, insn, sizeof(insn), leaf, 0x27);
    for (unsigned i = 0; i < hvt_orc_form_count(); i++)
        if (!strcmp(hvt_orc_form_name(i), "cmpxchg m,r"))
            x.c.form = i;
    x.c.opsize = 4;
    memcpy(x.c.ram + 0x11000, &v, 4);
    x.c.st.gpr[HVT_RBX] = 0x401000;
    x.c.st.gpr[HVT_RAX] = 0xffff860312345678ull;
    x.c.st.gpr[HVT_RCX] = 0x9abcdef0;
    CHECK_EQ(fix_run(&x, &dev), 2);
    CHECK_EQ(dev, HVT_ORC_DEV_CMPXCHG32_RAX);
    CHECK_U64(x.ref.st.gpr[HVT_RAX], 0xffff860312345678ull);
    CHECK_U64(x.uc.st.gpr[HVT_RAX], 0x12345678ull);
}

/* RCR byte [rbx], 6 on a read-only page: both fault on the store; the CPU leaves the flags as
 * they were, QEMU has already changed CF (its helper computes flags before the store). */
static void qemu_rcl_rcr_flags_on_fault(void)
{
    static const uint8_t insn[] = {0xc0, 0x1b, 0x06}; /* rcr byte [rbx], 6 */
    const uint64_t leaf[3] = {0x65 /* read-only */, 0x67, 0x67};
    unsigned dev;
    hvt_orc_craft(&x.c, 64, 3, insn, sizeof(insn), leaf, 0x27);
    for (unsigned i = 0; i < hvt_orc_form_count(); i++)
        if (!strcmp(hvt_orc_form_name(i), "rcr m,imm8"))
            x.c.form = i;
    x.c.opsize = 1;
    x.c.ram[0x11000] = 0xc4;
    x.c.st.gpr[HVT_RBX] = 0x401000;
    x.c.st.gpr[HVT_RSP] = 0x403800;
    x.c.st.rflags = 0x3;
    CHECK_EQ(fix_run(&x, &dev), 2);
    CHECK_EQ(dev, HVT_ORC_DEV_RCX_FLAGS_ON_FAULT);
    CHECK_EQ(x.ref.vector, 14);
    CHECK_U64(x.ref.st.rflags, 0x3);
    CHECK_U64(x.uc.st.rflags & 1, 0);
}

/* A 3-byte instruction ending exactly at a page end, the next page not present: the CPU runs
 * it; unicorn's translator reads ahead and raises #PF on the next page. */
static void qemu_translation_lookahead(void)
{
    static const uint8_t insn[] = {0x48, 0x8b, 0x03}; /* mov rax, [rbx] */
    const uint64_t leaf[3] = {0x67, 0x67, 0x67};
    unsigned dev;
    hvt_orc_craft(&x.c, 64, 0, insn, sizeof(insn), leaf, 0x27);
    /* move the code to the end of its page; the following page (0x401000) is not present */
    memset(x.c.ram + 0x10000, 0, sizeof(insn));
    memcpy(x.c.ram + 0x10ffd, insn, sizeof(insn));
    x.c.st.rip = 0x400ffd;
    uint64_t np = 0;
    memcpy(x.c.ram + ORC_PT_LO + 0x3000 + 8, &np, 8);
    x.c.pages[1].la = 0x402000; /* (no frame for 0x401000 any more) */
    x.c.st.gpr[HVT_RBX] = 0x402010;
    x.c.mem_la = 0x402010;
    CHECK_EQ(fix_run(&x, &dev), 2);
    CHECK_EQ(dev, HVT_ORC_DEV_LOOKAHEAD);
    CHECK_EQ(x.ref.status, HVT_ORC_DONE);
    CHECK_EQ(x.uc.status, HVT_ORC_FAULT);
    CHECK_EQ(x.uc.vector, 14);
    CHECK_U64(x.uc.cr2, 0x401000);
}

int main(int argc, char **argv)
{
    static const struct hvt_named_test tests[] = {
        {"qemu-a-bits-on-faulting-walk", qemu_a_bits_on_faulting_walk},
        {"qemu-rmw-pf-as-read", qemu_rmw_pf_as_read},
        {"qemu-noncanonical-branch", qemu_noncanonical_branch},
        {"qemu-noncanonical-stack-gp", qemu_noncanonical_stack_gp},
        {"qemu-no-seg-checks", qemu_no_seg_checks},
        {"qemu-ret-imm16-signed", qemu_ret_imm16_signed},
        {"qemu-lock-neg-flags", qemu_lock_neg_flags},
        {"qemu-cmpxchg32-zero-extends-rax", qemu_cmpxchg32_zero_extends_rax},
        {"qemu-rcl-rcr-flags-on-fault", qemu_rcl_rcr_flags_on_fault},
        {"qemu-translation-lookahead", qemu_translation_lookahead},
    };
    fix_init(&x);
    int found = hvt_run_named(tests, sizeof(tests) / sizeof(tests[0]), argc, argv);
    fix_fini(&x);
    CHECK(found);
    TEST_DONE();
}
