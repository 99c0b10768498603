/* SPDX-License-Identifier: MIT */
/* Executor: PUSH/POP, CALL/RET/JMP (relative, register, memory), Jcc, LOOP, JrCXZ, HLT, in
 * 64-bit and 32-bit modes, with stack tags and faults. */
#include "insn_fixture.h"

static struct ix f;

#define RUN_OK(hex) CHECK_EQ(ix_run(&f, hex), HVT_OUT_OKAY)
#define AGAIN() (f.st.rip = IX_CODE)

static void test_push_pop64(void)
{
    const struct ram_log_entry *ops[8];
    ix_setup(&f, 1);
    f.st.gpr[HVT_RAX] = 0x1122334455667788ull;
    RUN_OK("50"); /* push rax */
    CHECK_U64(f.st.gpr[HVT_RSP], IX_STACK - 8);
    CHECK_U64(ram_get64(f.r, IX_STACK - 8), 0x1122334455667788ull);
    CHECK_EQ(ix_data_ops(&f, ops, 8), 1);
    CHECK_EQ(ops[0]->kind, HVT_ACC_WRITE);
    CHECK_EQ(ops[0]->info.tag.cls, HVT_TAG_STACK);
    CHECK_EQ(ops[0]->info.seg, HVT_SEG_SS);
    CHECK_EQ(ops[0]->size, 8);

    AGAIN();
    RUN_OK("6a ff"); /* push -1 */
    CHECK_U64(ram_get64(f.r, IX_STACK - 16), ~0ull);
    AGAIN();
    RUN_OK("66 6a fe"); /* 16-bit push */
    CHECK_U64(f.st.gpr[HVT_RSP], IX_STACK - 18);
    CHECK_EQ(ram_get32(f.r, IX_STACK - 18) & 0xffff, 0xfffe);
    AGAIN();
    RUN_OK("54"); /* push rsp: the value before the push */
    CHECK_U64(ram_get64(f.r, IX_STACK - 26), IX_STACK - 18);

    ix_setup(&f, 1);
    f.st.gpr[HVT_RBX] = IX_DATA;
    ram_put64(f.r, IX_DATA, 0xabcdef);
    RUN_OK("ff 33"); /* push qword [rbx]: data read, then stack write */
    CHECK_EQ(ix_data_ops(&f, ops, 8), 2);
    CHECK_EQ(ops[0]->info.tag.cls, HVT_TAG_DATA);
    CHECK_EQ(ops[0]->kind, HVT_ACC_READ);
    CHECK_EQ(ops[1]->info.tag.cls, HVT_TAG_STACK);
    CHECK_U64(ram_get64(f.r, IX_STACK - 8), 0xabcdef);

    AGAIN();
    RUN_OK("41 5a"); /* pop r10 */
    CHECK_U64(f.st.gpr[HVT_R10], 0xabcdef);
    CHECK_U64(f.st.gpr[HVT_RSP], IX_STACK);
    CHECK_EQ(ix_data_ops(&f, ops, 8), 1);
    CHECK_EQ(ops[0]->info.tag.cls, HVT_TAG_STACK);
    CHECK_EQ(ops[0]->kind, HVT_ACC_READ);

    /* pop [rsp]: the address uses RSP after the increment */
    ix_setup(&f, 1);
    f.st.gpr[HVT_RSP] = IX_STACK - 8;
    ram_put64(f.r, IX_STACK - 8, 0x77);
    RUN_OK("8f 04 24");
    CHECK_U64(f.st.gpr[HVT_RSP], IX_STACK);
    CHECK_U64(ram_get64(f.r, IX_STACK), 0x77);
    CHECK_EQ(ix_data_ops(&f, ops, 8), 2);
    CHECK_EQ(ops[1]->info.tag.cls, HVT_TAG_DATA);
    CHECK_U64(ops[1]->gpa, IX_STACK);

    /* pop rsp loads RSP */
    AGAIN();
    f.st.gpr[HVT_RSP] = IX_STACK - 8;
    RUN_OK("5c");
    CHECK_U64(f.st.gpr[HVT_RSP], 0x77);

    /* a fault leaves RSP unchanged */
    ix_setup(&f, 1);
    f.st.gpr[HVT_RSP] = 0x40000008;
    CHECK_EQ(ix_run(&f, "50"), HVT_OUT_EXCEPTION);
    CHECK_EQ(f.res.out.vector, HVT_VEC_PF);
    CHECK_EQ(f.res.out.error_code, 2);
    CHECK_U64(f.res.out.cr2, 0x40000000);
    CHECK_U64(f.st.gpr[HVT_RSP], 0x40000008);
    /* pop into a faulting destination: RSP unchanged too */
    ix_setup(&f, 1);
    f.st.gpr[HVT_RBX] = 0x40000000;
    CHECK_EQ(ix_run(&f, "8f 03"), HVT_OUT_EXCEPTION);
    CHECK_U64(f.st.gpr[HVT_RSP], IX_STACK);
    /* non-canonical stack: #SS */
    f.st.gpr[HVT_RSP] = 0x0000800000000008ull;
    CHECK_EQ(ix_run(&f, "50"), HVT_OUT_EXCEPTION);
    CHECK_EQ(f.res.out.vector, HVT_VEC_SS);
}

static void test_call_ret64(void)
{
    const struct ram_log_entry *ops[8];
    ix_setup(&f, 1);
    RUN_OK("e8 10 00 00 00"); /* call rel32 */
    CHECK_U64(f.st.rip, IX_CODE + 5 + 0x10);
    CHECK_U64(f.st.gpr[HVT_RSP], IX_STACK - 8);
    CHECK_U64(ram_get64(f.r, IX_STACK - 8), IX_CODE + 5);
    RUN_OK("c3"); /* ret */
    CHECK_U64(f.st.rip, IX_CODE + 5);
    CHECK_U64(f.st.gpr[HVT_RSP], IX_STACK);

    ix_setup(&f, 1);
    f.st.gpr[HVT_RBX] = IX_DATA;
    ram_put64(f.r, IX_DATA, 0x12345);
    RUN_OK("ff 13"); /* call [rbx] */
    CHECK_U64(f.st.rip, 0x12345);
    CHECK_EQ(ix_data_ops(&f, ops, 8), 2);
    CHECK_EQ(ops[0]->info.tag.cls, HVT_TAG_DATA);
    CHECK_EQ(ops[1]->info.tag.cls, HVT_TAG_STACK);
    CHECK_U64(ram_get64(f.r, IX_STACK - 8), IX_CODE + 2);
    RUN_OK("c2 10 00"); /* ret 16 */
    CHECK_U64(f.st.rip, IX_CODE + 2);
    CHECK_U64(f.st.gpr[HVT_RSP], IX_STACK + 16);

    ix_setup(&f, 1);
    f.st.gpr[HVT_RAX] = 0x4000;
    RUN_OK("ff d0"); /* call rax */
    CHECK_U64(f.st.rip, 0x4000);
    ix_setup(&f, 1);
    f.st.gpr[HVT_RBX] = IX_DATA;
    ram_put64(f.r, IX_DATA + 8, 0x5000);
    RUN_OK("ff 63 08"); /* jmp [rbx+8] */
    CHECK_U64(f.st.rip, 0x5000);
    CHECK_U64(f.st.gpr[HVT_RSP], IX_STACK);
    ix_setup(&f, 1);
    RUN_OK("eb fe"); /* jmp to itself */
    CHECK_U64(f.st.rip, IX_CODE);
    RUN_OK("e9 00 f0 ff ff"); /* jmp rel32 backwards */
    CHECK_U64(f.st.rip, IX_CODE + 5 - 0x1000);

    /* non-canonical target: #GP(0) before anything is pushed */
    ix_setup(&f, 1);
    f.st.gpr[HVT_RAX] = 0x0000800000000000ull;
    CHECK_EQ(ix_run(&f, "ff d0"), HVT_OUT_EXCEPTION);
    CHECK_EQ(f.res.out.vector, HVT_VEC_GP);
    CHECK_EQ(ix_data_ops(&f, ops, 8), 0);
    CHECK_U64(f.st.rip, IX_CODE);
    /* 66-prefixed near branches are vendor-specific in 64-bit mode: not emulated */
    CHECK_EQ(ix_run(&f, "66 ff d0"), HVT_OUT_UNIMPLEMENTED);
    CHECK_EQ(ix_run(&f, "66 c3"), HVT_OUT_UNIMPLEMENTED);
}

static void test_jcc_loop(void)
{
    ix_setup(&f, 1);
    f.st.rflags = 2 | FL_ZF;
    RUN_OK("74 05"); /* je taken */
    CHECK_U64(f.st.rip, IX_CODE + 7);
    AGAIN();
    RUN_OK("75 05"); /* jne not taken */
    CHECK_U64(f.st.rip, IX_CODE + 2);
    AGAIN();
    f.st.rflags = 2 | FL_SF;
    RUN_OK("0f 8c 00 01 00 00"); /* jl rel32 */
    CHECK_U64(f.st.rip, IX_CODE + 6 + 0x100);
    AGAIN();
    RUN_OK("7f f0"); /* jg: SF != OF, not taken */
    CHECK_U64(f.st.rip, IX_CODE + 2);

    AGAIN();
    f.st.gpr[HVT_RCX] = 2;
    RUN_OK("e2 fe"); /* loop: 2 -> 1, taken */
    CHECK_U64(f.st.gpr[HVT_RCX], 1);
    CHECK_U64(f.st.rip, IX_CODE);
    RUN_OK("e2 fe"); /* 1 -> 0, falls through */
    CHECK_U64(f.st.gpr[HVT_RCX], 0);
    CHECK_U64(f.st.rip, IX_CODE + 2);
    AGAIN();
    f.st.gpr[HVT_RCX] = 5;
    f.st.rflags = 2;
    RUN_OK("e1 fe"); /* loope, ZF = 0: not taken */
    CHECK_U64(f.st.gpr[HVT_RCX], 4);
    CHECK_U64(f.st.rip, IX_CODE + 2);
    AGAIN();
    RUN_OK("e0 fe"); /* loopne: taken */
    CHECK_U64(f.st.rip, IX_CODE);
    f.st.gpr[HVT_RCX] = 0x100000000ull;
    RUN_OK("67 e2 fe"); /* loop with ECX: 0 - 1 = 0xffffffff, taken */
    CHECK_U64(f.st.gpr[HVT_RCX], 0xffffffffull);
    CHECK_U64(f.st.rip, IX_CODE + 1); /* 3-byte instruction, rel -2 */
    AGAIN();
    f.st.gpr[HVT_RCX] = 0x100000000ull;
    RUN_OK("e3 05"); /* jrcxz: RCX != 0 */
    CHECK_U64(f.st.rip, IX_CODE + 2);
    AGAIN();
    RUN_OK("67 e3 05"); /* jecxz: ECX == 0 */
    CHECK_U64(f.st.rip, IX_CODE + 8);
}

static void test_32bit(void)
{
    const struct ram_log_entry *ops[8];
    ix_setup(&f, 0);
    f.st.gpr[HVT_RAX] = 0x11223344;
    RUN_OK("50"); /* push eax */
    CHECK_U64(f.st.gpr[HVT_RSP], IX_STACK - 4);
    CHECK_EQ(ram_get32(f.r, IX_STACK - 4), 0x11223344);
    AGAIN();
    RUN_OK("e8 00 01 00 00"); /* call rel32 */
    CHECK_U64(f.st.rip, IX_CODE + 5 + 0x100);
    CHECK_EQ(ram_get32(f.r, IX_STACK - 8), IX_CODE + 5);
    RUN_OK("c3");
    CHECK_U64(f.st.rip, IX_CODE + 5);
    CHECK_U64(f.st.gpr[HVT_RSP], IX_STACK - 4);

    /* 16-bit stack (SS.B = 0): SP wraps, the upper half of ESP is kept */
    ix_setup(&f, 0);
    f.st.seg[HVT_SEG_SS].attr &= ~HVT_SEG_ATTR_DB;
    f.st.seg[HVT_SEG_SS].base = 0x40000;
    f.st.gpr[HVT_RSP] = 0x10000;
    RUN_OK("6a 7f"); /* push 0x7f (32-bit operand) */
    CHECK_U64(f.st.gpr[HVT_RSP], 0x1fffc);
    CHECK_EQ(ix_data_ops(&f, ops, 8), 1);
    CHECK_U64(ops[0]->gpa, 0x40000 + 0xfffc);

    /* 16-bit operand size: call pushes IP, the target wraps to 16 bits */
    ix_setup(&f, 0);
    RUN_OK("66 e8 10 00");
    CHECK_U64(f.st.rip, (IX_CODE + 4 + 0x10) & 0xffff);
    CHECK_U64(f.st.gpr[HVT_RSP], IX_STACK - 2);
    CHECK_EQ(ram_get32(f.r, IX_STACK - 2) & 0xffff, (IX_CODE + 4) & 0xffff);

    /* a target beyond CS's limit: #GP(0) */
    ix_setup(&f, 0);
    f.st.seg[HVT_SEG_CS].limit = 0xfffff;
    f.st.gpr[HVT_RAX] = 0x100000;
    CHECK_EQ(ix_run(&f, "ff e0"), HVT_OUT_EXCEPTION);
    CHECK_EQ(f.res.out.vector, HVT_VEC_GP);
    f.st.gpr[HVT_RAX] = 0xfffff;
    RUN_OK("ff e0");
    CHECK_U64(f.st.rip, 0xfffff);

    /* stack beyond SS's limit: #SS(0) */
    ix_setup(&f, 0);
    f.st.seg[HVT_SEG_SS].limit = 0xffff;
    f.st.gpr[HVT_RSP] = 0x10004;
    CHECK_EQ(ix_run(&f, "50"), HVT_OUT_EXCEPTION);
    CHECK_EQ(f.res.out.vector, HVT_VEC_SS);
    CHECK_U64(f.st.gpr[HVT_RSP], 0x10004);
}

static void test_hlt(void)
{
    ix_setup(&f, 1);
    CHECK_EQ(ix_run(&f, "f4"), HVT_OUT_UNHANDLEABLE);
    CHECK_STR(f.res.detail, "hlt");
    CHECK_U64(f.st.rip, IX_CODE);
    f.st.seg[HVT_SEG_SS].attr |= 3 << 5; /* CPL 3 */
    f.st.seg[HVT_SEG_CS].attr |= 3 << 5;
    CHECK_EQ(ix_run(&f, "f4"), HVT_OUT_EXCEPTION);
    CHECK_EQ(f.res.out.vector, HVT_VEC_GP);
}

int main(void)
{
    RUN(test_push_pop64);
    RUN(test_call_ret64);
    RUN(test_jcc_loop);
    RUN(test_32bit);
    RUN(test_hlt);
    ix_free(&f);
    TEST_DONE();
}
