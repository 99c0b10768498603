/* SPDX-License-Identifier: MIT */
/* Executor: MUL/IMUL/DIV/IDIV, BT*, shifts and rotates, SETcc/CMOVcc, XCHG/CMPXCHG/XADD,
 * sign extensions, flag instructions, LEA, NOP. */
#include "insn_fixture.h"
#include "flags_undef.h"

#include <capstone/capstone.h>

static struct ix f;

#define RUN_OK(hex) CHECK_EQ(ix_run(&f, hex), HVT_OUT_OKAY)
#define AGAIN() (f.st.rip = IX_CODE)

static void test_mul(void)
{
    ix_setup(&f, 1);
    f.st.gpr[HVT_RAX] = 0x80000000;
    f.st.gpr[HVT_RBX] = 4;
    f.st.gpr[HVT_RDX] = ~0ull;
    RUN_OK("f7 e3"); /* mul ebx */
    CHECK_U64(f.st.gpr[HVT_RAX], 0);
    CHECK_U64(f.st.gpr[HVT_RDX], 2);
    CHECK_U64(f.st.rflags & FL_ARITH, FL_CF | FL_OF | FL_ZF | FL_PF);

    ix_setup(&f, 1);
    f.st.gpr[HVT_RAX] = 0x8000000000000000ull;
    f.st.gpr[HVT_RBX] = IX_DATA;
    ram_put64(f.r, IX_DATA, 6);
    RUN_OK("48 f7 23"); /* mul qword [rbx] */
    CHECK_U64(f.st.gpr[HVT_RAX], 0);
    CHECK_U64(f.st.gpr[HVT_RDX], 3);

    ix_setup(&f, 1);
    f.st.gpr[HVT_RAX] = 0xff10;
    f.st.gpr[HVT_RBX] = 0x10;
    RUN_OK("f6 e3"); /* mul bl: AX = 0x100 */
    CHECK_U64(f.st.gpr[HVT_RAX], 0x0100);
    CHECK_U64(f.st.rflags & (FL_CF | FL_OF), FL_CF | FL_OF);

    ix_setup(&f, 1);
    f.st.gpr[HVT_RAX] = 0xfffffffe; /* -2 */
    f.st.gpr[HVT_RBX] = 3;
    RUN_OK("f7 eb"); /* imul ebx */
    CHECK_U64(f.st.gpr[HVT_RAX], 0xfffffffaull);
    CHECK_U64(f.st.gpr[HVT_RDX], 0xffffffffull);
    CHECK_U64(f.st.rflags & (FL_CF | FL_OF), 0);

    ix_setup(&f, 1);
    f.st.gpr[HVT_RAX] = 0x10000;
    f.st.gpr[HVT_RBX] = IX_DATA;
    ram_put32(f.r, IX_DATA, 0x10000);
    RUN_OK("0f af 03"); /* imul eax, [rbx] */
    CHECK_U64(f.st.gpr[HVT_RAX], 0);
    CHECK_U64(f.st.rflags & (FL_CF | FL_OF), FL_CF | FL_OF);

    ix_setup(&f, 1);
    f.st.gpr[HVT_RBX] = 5;
    RUN_OK("6b c3 fd"); /* imul eax, ebx, -3 */
    CHECK_U64(f.st.gpr[HVT_RAX], 0xfffffff1ull);
    CHECK_U64(f.st.rflags & (FL_CF | FL_OF), 0);
    AGAIN();
    f.st.gpr[HVT_RBX] = 0x8000;
    RUN_OK("66 6b c3 ff"); /* imul ax, bx, -1: 0x8000 * -1 overflows */
    CHECK_U64(f.st.gpr[HVT_RAX] & 0xffff, 0x8000);
    CHECK_U64(f.st.rflags & (FL_CF | FL_OF), FL_CF | FL_OF);
    AGAIN();
    f.st.gpr[HVT_RBX] = IX_DATA;
    ram_put64(f.r, IX_DATA, 0x4000000000000000ull);
    RUN_OK("48 69 03 02 00 00 00"); /* imul rax, [rbx], 2 */
    CHECK_U64(f.st.gpr[HVT_RAX], 0x8000000000000000ull);
    CHECK_U64(f.st.rflags & (FL_CF | FL_OF), FL_CF | FL_OF);
}

static void test_div(void)
{
    struct hvt_vcpu_state before;
    ix_setup(&f, 1);
    f.st.gpr[HVT_RAX] = 100;
    f.st.gpr[HVT_RBX] = 7;
    f.st.rflags |= FL_CF | FL_ZF;
    RUN_OK("f7 f3"); /* div ebx */
    CHECK_U64(f.st.gpr[HVT_RAX], 14);
    CHECK_U64(f.st.gpr[HVT_RDX], 2);
    CHECK_U64(f.st.rflags, 2 | FL_CF | FL_ZF); /* flags unchanged (our rule) */

    ix_setup(&f, 1);
    f.st.gpr[HVT_RAX] = 0x1234;
    f.st.gpr[HVT_RBX] = 0x56;
    RUN_OK("f6 f3"); /* div bl */
    CHECK_U64(f.st.gpr[HVT_RAX], 0x1036);

    ix_setup(&f, 1);
    f.st.gpr[HVT_RAX] = 0xfffffff9; /* -7 */
    f.st.gpr[HVT_RDX] = 0xffffffff;
    f.st.gpr[HVT_RBX] = 2;
    RUN_OK("f7 fb"); /* idiv ebx */
    CHECK_U64(f.st.gpr[HVT_RAX], 0xfffffffdull);
    CHECK_U64(f.st.gpr[HVT_RDX], 0xffffffffull);

    ix_setup(&f, 1);
    f.st.gpr[HVT_RAX] = 0;
    f.st.gpr[HVT_RDX] = 1;
    f.st.gpr[HVT_RBX] = IX_DATA;
    ram_put64(f.r, IX_DATA, 0x10);
    RUN_OK("48 f7 33"); /* div qword [rbx]: 2^64 / 16 */
    CHECK_U64(f.st.gpr[HVT_RAX], 0x1000000000000000ull);
    CHECK_U64(f.st.gpr[HVT_RDX], 0);

    /* #DE: divide by zero, quotient overflow (unsigned and signed), INT128_MIN / -1 */
    ix_setup(&f, 1);
    f.st.gpr[HVT_RBX] = IX_DATA;
    before = f.st;
    CHECK_EQ(ix_run(&f, "f7 33"), HVT_OUT_EXCEPTION);
    CHECK_EQ(f.res.out.vector, HVT_VEC_DE);
    CHECK(!(f.res.out.flags & HVT_PO_HAS_ERROR_CODE));
    CHECK(!memcmp(&before, &f.st, sizeof(before)));
    f.st.gpr[HVT_RDX] = 1;
    f.st.gpr[HVT_RCX] = 1;
    CHECK_EQ(ix_run(&f, "f7 f1"), HVT_OUT_EXCEPTION); /* div ecx: 2^32 / 1 */
    CHECK_EQ(f.res.out.vector, HVT_VEC_DE);
    f.st.gpr[HVT_RDX] = ~0ull;
    f.st.gpr[HVT_RAX] = 0x8000000000000000ull;
    f.st.gpr[HVT_RCX] = ~0ull;
    CHECK_EQ(ix_run(&f, "48 f7 f9"), HVT_OUT_EXCEPTION); /* idiv rcx: 2^63 */
    CHECK_EQ(f.res.out.vector, HVT_VEC_DE);
    f.st.gpr[HVT_RDX] = 0x8000000000000000ull;
    f.st.gpr[HVT_RAX] = 0;
    CHECK_EQ(ix_run(&f, "48 f7 f9"), HVT_OUT_EXCEPTION);
    CHECK_EQ(f.res.out.vector, HVT_VEC_DE);
    f.st.gpr[HVT_RAX] = 0x80;
    f.st.gpr[HVT_RCX] = 0xff;
    RUN_OK("f6 f9"); /* idiv cl: AX = +128 / -1 = -128 fits in AL */
    CHECK_U64(f.st.gpr[HVT_RAX] & 0xffff, 0x0080);
    f.st.gpr[HVT_RAX] = 0xff80;                       /* AX = -128 */
    CHECK_EQ(ix_run(&f, "f6 f9"), HVT_OUT_EXCEPTION); /* 128 does not fit in AL */
    f.st.gpr[HVT_RAX] = 0xff81;                       /* AX = -127 */
    RUN_OK("f6 f9");
    CHECK_U64(f.st.gpr[HVT_RAX] & 0xffff, 0x007f);
}

static void test_bt(void)
{
    const struct ram_log_entry *ops[8];
    ix_setup(&f, 1);
    f.st.gpr[HVT_RBX] = IX_DATA + 0x100;
    f.st.gpr[HVT_RAX] = 35; /* dword at +4, bit 3 */
    ram_put32(f.r, IX_DATA + 0x104, 8);
    f.st.rflags |= FL_ZF | FL_OF;
    RUN_OK("0f a3 03"); /* bt [rbx], eax */
    CHECK_U64(f.st.rflags, 2 | FL_CF | FL_ZF | FL_OF);
    CHECK_EQ(ix_data_ops(&f, ops, 8), 1);
    CHECK_U64(ops[0]->gpa, IX_DATA + 0x104);
    CHECK_EQ(ops[0]->kind, HVT_ACC_READ);

    AGAIN();
    f.st.gpr[HVT_RAX] = 0xffffffff; /* -1: bit 31 of the dword at -4 */
    ram_put32(f.r, IX_DATA + 0xfc, 0x80000000u);
    f.st.rflags = 2;
    RUN_OK("0f a3 03");
    CHECK_U64(f.st.rflags, 2 | FL_CF);
    CHECK_EQ(ix_data_ops(&f, ops, 8), 1);
    CHECK_U64(ops[0]->gpa, IX_DATA + 0xfc);

    AGAIN();
    f.st.gpr[HVT_RAX] = 64 * 3 + 5;
    RUN_OK("48 0f ab 03"); /* bts [rbx], rax: qword at +24, bit 5 */
    CHECK_U64(ram_get64(f.r, IX_DATA + 0x118), 0x20);
    CHECK_U64(f.st.rflags & FL_CF, 0);
    CHECK_EQ(ix_data_ops(&f, ops, 8), 2);
    CHECK_U64(ops[1]->gpa, IX_DATA + 0x118);

    AGAIN();
    f.st.gpr[HVT_RAX] = 0xfff0; /* -16: the word at -2, bit 0 */
    ram_put32(f.r, IX_DATA + 0xfc, 0xffffffff);
    RUN_OK("66 0f b3 03"); /* btr [rbx], ax */
    CHECK_U64(ram_get32(f.r, IX_DATA + 0xfc), 0xfffeffffu);
    CHECK_U64(f.st.rflags & FL_CF, FL_CF);

    AGAIN();
    ram_put32(f.r, IX_DATA + 0x100, 0);
    RUN_OK("0f ba 2b 24"); /* bts dword [rbx], 36: immediate masked to 4, no move */
    CHECK_U64(ram_get32(f.r, IX_DATA + 0x100), 0x10);

    AGAIN();
    f.st.gpr[HVT_RAX] = 4;
    RUN_OK("f0 0f bb 03"); /* lock btc [rbx], eax */
    CHECK_U64(ram_get32(f.r, IX_DATA + 0x100), 0);
    CHECK_U64(f.st.rflags & FL_CF, FL_CF);
    CHECK_EQ(ix_data_ops(&f, ops, 8), 2);
    CHECK_EQ(ops[1]->kind, HVT_ACC_CMPXCHG);

    AGAIN();
    f.st.gpr[HVT_RAX] = 33;
    f.st.gpr[HVT_RBX] = 2;
    RUN_OK("0f a3 c3"); /* bt ebx, eax: modulo 32 */
    CHECK_U64(f.st.rflags & FL_CF, FL_CF);
    AGAIN();
    RUN_OK("0f ab c3"); /* bts ebx, eax */
    CHECK_U64(f.st.gpr[HVT_RBX], 2);
}

static void test_shift(void)
{
    const struct ram_log_entry *ops[8];
    ix_setup(&f, 1);
    f.st.gpr[HVT_RBX] = IX_DATA;
    ram_put32(f.r, IX_DATA, 0x10000001);
    RUN_OK("c1 23 04"); /* shl dword [rbx], 4 */
    CHECK_U64(ram_get32(f.r, IX_DATA), 0x10);
    CHECK_U64(f.st.rflags & FL_ARITH, FL_CF | FL_OF);

    AGAIN();
    ram_put32(f.r, IX_DATA, 0x80000001);
    RUN_OK("d1 2b"); /* shr dword [rbx], 1 */
    CHECK_U64(ram_get32(f.r, IX_DATA), 0x40000000);
    CHECK_U64(f.st.rflags & FL_ARITH, FL_CF | FL_OF | FL_PF);

    AGAIN();
    ram_put32(f.r, IX_DATA, 0x80000001);
    RUN_OK("d1 3b"); /* sar dword [rbx], 1 */
    CHECK_U64(ram_get32(f.r, IX_DATA), 0xc0000000);
    CHECK_U64(f.st.rflags & FL_ARITH, FL_CF | FL_SF | FL_PF);

    AGAIN();
    ram_put32(f.r, IX_DATA, 0x80000001);
    f.st.gpr[HVT_RCX] = 33; /* masked to 1 */
    f.st.rflags = 2 | FL_ZF;
    RUN_OK("d3 03"); /* rol dword [rbx], cl: only CF and OF change */
    CHECK_U64(ram_get32(f.r, IX_DATA), 3);
    CHECK_U64(f.st.rflags, 2 | FL_ZF | FL_CF | FL_OF);

    AGAIN();
    f.r->mem[IX_DATA] = 0x81;
    f.st.rflags = 2;
    RUN_OK("c0 0b 08"); /* ror byte [rbx], 8: rotates by 0, flags from the result */
    CHECK_EQ(f.r->mem[IX_DATA], 0x81);
    CHECK_U64(f.st.rflags, 2 | FL_CF | FL_OF);

    AGAIN();
    f.r->mem[IX_DATA] = 0x80;
    f.st.rflags = 2;
    RUN_OK("d0 13"); /* rcl byte [rbx], 1 */
    CHECK_EQ(f.r->mem[IX_DATA], 0x00);
    CHECK_U64(f.st.rflags, 2 | FL_CF | FL_OF);

    AGAIN();
    f.r->mem[IX_DATA] = 0x01;
    f.st.rflags = 2 | FL_CF;
    RUN_OK("c0 1b 02"); /* rcr byte [rbx], 2: CF in at bit 6, bit 0 through CF to bit 7 */
    CHECK_EQ(f.r->mem[IX_DATA], 0xc0);
    CHECK_U64(f.st.rflags & FL_CF, 0);

    AGAIN();
    f.r->mem[IX_DATA] = 0x5a;
    f.st.rflags = 2 | FL_CF | FL_OF;
    RUN_OK("c0 1b 09"); /* rcr byte [rbx], 9: a full 9-bit turn, nothing changes */
    CHECK_EQ(f.r->mem[IX_DATA], 0x5a);
    CHECK_U64(f.st.rflags, 2 | FL_CF | FL_OF);

    AGAIN();
    f.st.rflags = 2 | FL_CF | FL_SF;
    RUN_OK("c1 23 20"); /* shl dword [rbx], 32: masked 0, no flags, value stored back */
    CHECK_U64(f.st.rflags, 2 | FL_CF | FL_SF);
    CHECK_EQ(ix_data_ops(&f, ops, 8), 2);
    CHECK_EQ(ops[1]->kind, HVT_ACC_WRITE);

    ix_setup(&f, 1);
    f.st.gpr[HVT_RAX] = 0x8000000000000001ull;
    f.st.gpr[HVT_RCX] = 63;
    RUN_OK("48 d3 f8"); /* sar rax, 63 */
    CHECK_U64(f.st.gpr[HVT_RAX], ~0ull);
    CHECK_U64(f.st.rflags & FL_CF, 0);
    AGAIN();
    f.st.gpr[HVT_RAX] = 0xff;
    f.st.gpr[HVT_RCX] = 10;
    RUN_OK("d2 e0"); /* shl al, 10: count >= 8, result 0 */
    CHECK_U64(f.st.gpr[HVT_RAX], 0);
    CHECK_U64(f.st.rflags & (FL_ZF | FL_CF), FL_ZF);
    AGAIN();
    f.st.gpr[HVT_RAX] = 0x1234;
    f.st.gpr[HVT_RCX] = 20;
    RUN_OK("66 d3 c0"); /* rol ax, 20 = rol ax, 4 */
    CHECK_U64(f.st.gpr[HVT_RAX], 0x2341);
}

static void test_setcc_cmov(void)
{
    const struct ram_log_entry *ops[8];
    ix_setup(&f, 1);
    f.st.gpr[HVT_RBX] = IX_DATA;
    f.r->mem[IX_DATA] = 0x55;
    f.st.rflags = 2 | FL_ZF;
    RUN_OK("0f 94 03"); /* sete [rbx] */
    CHECK_EQ(f.r->mem[IX_DATA], 1);
    CHECK_EQ(ix_data_ops(&f, ops, 8), 1);
    CHECK_EQ(ops[0]->kind, HVT_ACC_WRITE);
    AGAIN();
    RUN_OK("0f 9f c1"); /* setg cl: ZF set -> 0 */
    CHECK_U64(f.st.gpr[HVT_RCX] & 0xff, 0);
    AGAIN();
    f.st.rflags = 2 | FL_SF;
    RUN_OK("0f 9c c1"); /* setl cl: SF != OF */
    CHECK_U64(f.st.gpr[HVT_RCX] & 0xff, 1);

    ix_setup(&f, 1);
    f.st.gpr[HVT_RBX] = IX_DATA;
    f.st.gpr[HVT_RAX] = 0xffffffff00000005ull;
    ram_put32(f.r, IX_DATA, 9);
    RUN_OK("0f 44 03"); /* cmove eax, [rbx], ZF = 0: read anyway, upper half cleared */
    CHECK_U64(f.st.gpr[HVT_RAX], 5);
    CHECK_EQ(ix_data_ops(&f, ops, 8), 1);
    AGAIN();
    f.st.gpr[HVT_RAX] = 0xffffffff00000005ull;
    RUN_OK("48 0f 44 03"); /* 64-bit, false: unchanged */
    CHECK_U64(f.st.gpr[HVT_RAX], 0xffffffff00000005ull);
    AGAIN();
    RUN_OK("66 0f 44 03"); /* 16-bit, false: unchanged */
    CHECK_U64(f.st.gpr[HVT_RAX], 0xffffffff00000005ull);
    AGAIN();
    f.st.rflags = 2 | FL_ZF;
    RUN_OK("0f 44 03");
    CHECK_U64(f.st.gpr[HVT_RAX], 9);
    /* a faulting source faults even when the condition is false */
    AGAIN();
    f.st.rflags = 2;
    f.st.gpr[HVT_RBX] = 0x40000000;
    CHECK_EQ(ix_run(&f, "0f 44 03"), HVT_OUT_EXCEPTION);
    CHECK_EQ(f.res.out.vector, HVT_VEC_PF);
}

static void test_xchg_family(void)
{
    const struct ram_log_entry *ops[8];
    ix_setup(&f, 1);
    f.st.gpr[HVT_RBX] = IX_DATA;
    f.st.gpr[HVT_RAX] = 0x11;
    ram_put32(f.r, IX_DATA, 0x22);
    RUN_OK("87 03"); /* xchg [rbx], eax: implicitly locked */
    CHECK_U64(f.st.gpr[HVT_RAX], 0x22);
    CHECK_EQ(ram_get32(f.r, IX_DATA), 0x11);
    CHECK_EQ(ix_data_ops(&f, ops, 8), 2);
    CHECK_EQ(ops[0]->kind, HVT_ACC_READ);
    CHECK(ops[0]->info.flags & HVT_OPF_LOCKED);
    CHECK_EQ(ops[1]->kind, HVT_ACC_CMPXCHG);

    AGAIN();
    f.st.gpr[HVT_RCX] = 0x3344;
    RUN_OK("86 e9"); /* xchg cl, ch */
    CHECK_U64(f.st.gpr[HVT_RCX], 0x4433);

    ix_setup(&f, 1);
    f.st.gpr[HVT_RBX] = IX_DATA;
    f.st.gpr[HVT_RAX] = 5;
    f.st.gpr[HVT_RCX] = 9;
    ram_put32(f.r, IX_DATA, 5);
    RUN_OK("0f b1 0b"); /* cmpxchg [rbx], ecx: equal */
    CHECK_EQ(ram_get32(f.r, IX_DATA), 9);
    CHECK_U64(f.st.rflags & FL_ZF, FL_ZF);
    CHECK_EQ(ix_data_ops(&f, ops, 8), 2);
    AGAIN();
    f.st.gpr[HVT_RAX] = 0xffffffff00000005ull;
    RUN_OK("0f b1 0b"); /* not equal: EAX loaded (zero-extended), no store */
    CHECK_U64(f.st.gpr[HVT_RAX], 9);
    CHECK_U64(f.st.rflags & FL_ZF, 0);
    CHECK_EQ(ix_data_ops(&f, ops, 8), 1);
    AGAIN();
    f.st.gpr[HVT_RCX] = 1;
    RUN_OK("f0 0f b1 0b"); /* lock cmpxchg, equal */
    CHECK_EQ(ram_get32(f.r, IX_DATA), 1);
    CHECK_EQ(ix_data_ops(&f, ops, 8), 2);
    CHECK_EQ(ops[1]->kind, HVT_ACC_CMPXCHG);
    CHECK_EQ(ops[1]->old[0], 9);

    ix_setup(&f, 1);
    f.st.gpr[HVT_RBX] = IX_DATA;
    f.st.gpr[HVT_RCX] = 3;
    ram_put32(f.r, IX_DATA, 5);
    RUN_OK("0f c1 0b"); /* xadd [rbx], ecx */
    CHECK_EQ(ram_get32(f.r, IX_DATA), 8);
    CHECK_U64(f.st.gpr[HVT_RCX], 5);
    AGAIN();
    f.st.gpr[HVT_RAX] = 3;
    RUN_OK("0f c1 c0"); /* xadd eax, eax */
    CHECK_U64(f.st.gpr[HVT_RAX], 6);
    AGAIN();
    f.st.gpr[HVT_RAX] = 0xff;
    f.st.gpr[HVT_RCX] = 1;
    RUN_OK("0f c0 c8"); /* xadd al, cl */
    CHECK_U64(f.st.gpr[HVT_RAX], 0);
    CHECK_U64(f.st.gpr[HVT_RCX], 0xff);
    CHECK_U64(f.st.rflags & FL_ARITH, FL_CF | FL_ZF | FL_AF | FL_PF);
}

static void test_misc(void)
{
    ix_setup(&f, 1);
    f.st.gpr[HVT_RAX] = 0xffffffff0000ff80ull;
    RUN_OK("98"); /* cwde */
    CHECK_U64(f.st.gpr[HVT_RAX], 0xffffff80ull);
    AGAIN();
    RUN_OK("48 98"); /* cdqe */
    CHECK_U64(f.st.gpr[HVT_RAX], 0xffffffffffffff80ull);
    AGAIN();
    f.st.gpr[HVT_RAX] = 0x1234567800000080ull;
    RUN_OK("66 98"); /* cbw */
    CHECK_U64(f.st.gpr[HVT_RAX], 0x123456780000ff80ull);
    AGAIN();
    f.st.gpr[HVT_RAX] = 0x80000000;
    f.st.gpr[HVT_RDX] = 0x1111111111111111ull;
    RUN_OK("99"); /* cdq */
    CHECK_U64(f.st.gpr[HVT_RDX], 0xffffffffull);
    AGAIN();
    RUN_OK("48 99"); /* cqo: RAX positive */
    CHECK_U64(f.st.gpr[HVT_RDX], 0);
    AGAIN();
    f.st.gpr[HVT_RAX] = 0x8000;
    RUN_OK("66 99"); /* cwd */
    CHECK_U64(f.st.gpr[HVT_RDX], 0xffff);

    AGAIN();
    f.st.rflags = 2;
    RUN_OK("f9");
    CHECK_U64(f.st.rflags, 2 | FL_CF);
    AGAIN();
    RUN_OK("f5");
    CHECK_U64(f.st.rflags, 2);
    AGAIN();
    RUN_OK("fd");
    CHECK_U64(f.st.rflags, 2 | HVT_RFLAGS_DF);
    AGAIN();
    RUN_OK("fc");
    CHECK_U64(f.st.rflags, 2);
    AGAIN();
    f.st.rflags = 2 | FL_CF;
    RUN_OK("f8");
    CHECK_U64(f.st.rflags, 2);

    ix_setup(&f, 1);
    f.st.gpr[HVT_RAX] = 0x100;
    f.st.gpr[HVT_RBX] = 0x10;
    RUN_OK("48 8d 44 98 10"); /* lea rax, [rax+rbx*4+0x10] */
    CHECK_U64(f.st.gpr[HVT_RAX], 0x150);
    CHECK_EQ(f.r->n_log, 1 + 2); /* the fetch and its walk only */
    AGAIN();
    f.st.gpr[HVT_RBX] = 0x1ffffffffull;
    RUN_OK("67 8d 43 01"); /* lea eax, [ebx+1]: 32-bit address wraps */
    CHECK_U64(f.st.gpr[HVT_RAX], 0);
    AGAIN();
    RUN_OK("0f 1f 44 00 00"); /* nop dword [rax+rax]: no access */
    CHECK_EQ(f.r->n_log, 1 + 2);
    CHECK_U64(f.st.rip, IX_CODE + 5);
    AGAIN();
    RUN_OK("f3 90"); /* pause */
    CHECK_U64(f.st.rip, IX_CODE + 2);
}

static void test_undef_table(void)
{
    CHECK_U64(hvt_core_undef_flags(X86_INS_AND, 4, 0), FL_AF);
    CHECK_U64(hvt_core_undef_flags(X86_INS_ADD, 4, 0), 0);
    CHECK_U64(hvt_core_undef_flags(X86_INS_MUL, 8, 0), FL_SF | FL_ZF | FL_AF | FL_PF);
    CHECK_U64(hvt_core_undef_flags(X86_INS_DIV, 1, 0), FL_ARITH);
    CHECK_U64(hvt_core_undef_flags(X86_INS_SHL, 4, 1), FL_AF);
    CHECK_U64(hvt_core_undef_flags(X86_INS_SHL, 4, 33), FL_AF);
    CHECK_U64(hvt_core_undef_flags(X86_INS_SHL, 4, 32), 0);
    CHECK_U64(hvt_core_undef_flags(X86_INS_SHR, 1, 9), FL_AF | FL_OF | FL_CF);
    CHECK_U64(hvt_core_undef_flags(X86_INS_ROL, 4, 2), FL_OF);
    CHECK_U64(hvt_core_undef_flags(X86_INS_BTS, 2, 0), FL_OF | FL_SF | FL_AF | FL_PF);
    /* the public lookup by mnemonic (what a differential harness uses) is the same table */
    CHECK_U64(hvt_core_undef_flags_of("shl", 4, 1), FL_AF);
    CHECK_U64(hvt_core_undef_flags_of("div", 1, 0), FL_ARITH);
    CHECK_U64(hvt_core_undef_flags_of("add", 4, 0), 0);
    CHECK_U64(hvt_core_undef_flags_of(NULL, 4, 0), 0);
}

int main(void)
{
    RUN(test_mul);
    RUN(test_div);
    RUN(test_bt);
    RUN(test_shift);
    RUN(test_setcc_cmov);
    RUN(test_xchg_family);
    RUN(test_misc);
    RUN(test_undef_table);
    ix_free(&f);
    TEST_DONE();
}
