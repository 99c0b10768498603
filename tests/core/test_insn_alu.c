/* SPDX-License-Identifier: MIT */
/* Executor: MOV family, ALU, INC/DEC/NEG/NOT, LOCK, prefixes, faults and RETRY, 64/32-bit. */
#include "insn_fixture.h"

static struct ix f;

#define RUN_OK(hex) CHECK_EQ(ix_run(&f, hex), HVT_OUT_OKAY)

static void test_add_flags(void)
{
    ix_setup(&f, 1);
    f.st.gpr[HVT_RAX] = 0xffffffff7fffffffull;
    f.st.gpr[HVT_RBX] = 1;
    RUN_OK("01 d8");                             /* add eax, ebx */
    CHECK_U64(f.st.gpr[HVT_RAX], 0x80000000ull); /* 32-bit result zero-extends */
    CHECK_U64(f.st.rflags & FL_ARITH, FL_OF | FL_SF | FL_AF | FL_PF);
    CHECK_U64(f.st.rip, IX_CODE + 2);
    CHECK_STR(f.res.detail, "add");
    CHECK_EQ(f.res.insn_len, 2);
    CHECK_EQ(f.res.insn[0], 0x01);

    ix_setup(&f, 1);
    f.st.gpr[HVT_RAX] = 0x1200;
    f.st.gpr[HVT_RBX] = 1;
    RUN_OK("28 d8"); /* sub al, bl: 0 - 1 */
    CHECK_U64(f.st.gpr[HVT_RAX], 0x12ff);
    CHECK_U64(f.st.rflags & FL_ARITH, FL_CF | FL_SF | FL_AF | FL_PF);

    ix_setup(&f, 1);
    f.st.gpr[HVT_RAX] = 0xffffffff;
    f.st.rflags |= FL_CF;
    RUN_OK("11 d8"); /* adc eax, ebx: ffffffff + 0 + 1 */
    CHECK_U64(f.st.gpr[HVT_RAX], 0);
    CHECK_U64(f.st.rflags & FL_ARITH, FL_CF | FL_ZF | FL_AF | FL_PF);

    ix_setup(&f, 1);
    f.st.rflags |= FL_CF;
    RUN_OK("48 19 d8"); /* sbb rax, rbx: 0 - 0 - 1 */
    CHECK_U64(f.st.gpr[HVT_RAX], ~0ull);
    CHECK_U64(f.st.rflags & FL_ARITH, FL_CF | FL_SF | FL_AF | FL_PF);

    ix_setup(&f, 1);
    f.st.gpr[HVT_RAX] = 0x8000000000000000ull;
    f.st.gpr[HVT_RBX] = 0x8000000000000000ull;
    RUN_OK("48 01 d8"); /* add rax, rbx: carry and overflow out of bit 63 */
    CHECK_U64(f.st.gpr[HVT_RAX], 0);
    CHECK_U64(f.st.rflags & FL_ARITH, FL_CF | FL_OF | FL_ZF | FL_PF);

    ix_setup(&f, 1);
    f.st.gpr[HVT_RAX] = 0xf0f0;
    f.st.gpr[HVT_RBX] = 0xff00;
    f.st.rflags |= FL_CF | FL_OF | FL_AF;
    RUN_OK("21 d8"); /* and eax, ebx: CF = OF = 0, AF cleared (our rule) */
    CHECK_U64(f.st.gpr[HVT_RAX], 0xf000);
    CHECK_U64(f.st.rflags & FL_ARITH, FL_PF);

    ix_setup(&f, 1);
    f.st.gpr[HVT_RAX] = 0x1;
    RUN_OK("48 83 f0 ff"); /* xor rax, -1 (imm8 sign-extended) */
    CHECK_U64(f.st.gpr[HVT_RAX], 0xfffffffffffffffeull);
    CHECK_U64(f.st.rflags & FL_ARITH, FL_SF);

    ix_setup(&f, 1);
    f.st.gpr[HVT_RAX] = 0x10;
    RUN_OK("0c 81"); /* or al, 0x81 */
    CHECK_U64(f.st.gpr[HVT_RAX], 0x91);
    CHECK_U64(f.st.rflags & FL_ARITH, FL_SF); /* 0x91: 3 bits set, odd parity */

    ix_setup(&f, 1);
    f.st.gpr[HVT_RAX] = 0x1234;
    f.st.gpr[HVT_RCX] = 0x0100;
    RUN_OK("00 e5"); /* add ch, ah: 0x01 + 0x12 */
    CHECK_U64(f.st.gpr[HVT_RCX], 0x1300);
}

static void test_alu_memory(void)
{
    const struct ram_log_entry *ops[8];
    ix_setup(&f, 1);
    f.st.gpr[HVT_RBX] = IX_DATA;
    f.st.gpr[HVT_RAX] = 5;
    ram_put32(f.r, IX_DATA, 7);
    RUN_OK("01 03"); /* add [rbx], eax: one read, one write */
    CHECK_EQ(ram_get32(f.r, IX_DATA), 12);
    CHECK_EQ(ix_data_ops(&f, ops, 8), 2);
    CHECK_EQ(ops[0]->kind, HVT_ACC_READ);
    CHECK_EQ(ops[1]->kind, HVT_ACC_WRITE);
    CHECK_U64(ops[0]->gpa, IX_DATA);
    CHECK_EQ(ops[0]->size, 4);
    CHECK_EQ(ops[0]->info.tag.cls, HVT_TAG_DATA);
    CHECK_EQ(ops[0]->info.tag.operand, 0);
    CHECK_EQ(ops[0]->info.seg, HVT_SEG_DS);
    CHECK(ops[0]->info.flags & HVT_OPF_LINEAR_VALID);
    CHECK_U64(ops[0]->info.linear, IX_DATA);
    CHECK(!(ops[0]->info.flags & HVT_OPF_LOCKED));
    /* one page walk for the read-modify-write (mapped once, for writing) */
    CHECK_EQ(ix_count(&f, HVT_TAG_WALK), 2 + 2); /* fetch walk + data walk, 2 levels each */

    ix_setup(&f, 1);
    f.st.gpr[HVT_RBX] = IX_DATA;
    f.st.gpr[HVT_RAX] = 7;
    ram_put32(f.r, IX_DATA, 7);
    RUN_OK("39 03"); /* cmp [rbx], eax: a read, no write */
    CHECK_EQ(ix_data_ops(&f, ops, 8), 1);
    CHECK_EQ(ops[0]->kind, HVT_ACC_READ);
    CHECK_U64(f.st.rflags & FL_ARITH, FL_ZF | FL_PF);

    ix_setup(&f, 1);
    f.st.gpr[HVT_RBX] = IX_DATA;
    f.st.gpr[HVT_RAX] = 0xff;
    f.r->mem[IX_DATA] = 0x0f;
    RUN_OK("84 03"); /* test [rbx], al */
    CHECK_EQ(ix_data_ops(&f, ops, 8), 1);
    CHECK_U64(f.st.rflags & FL_ARITH, FL_PF);

    ix_setup(&f, 1);
    f.st.gpr[HVT_RBX] = IX_DATA;
    ram_put64(f.r, IX_DATA, 100);
    RUN_OK("48 2b 03"); /* sub rax, [rbx] */
    CHECK_U64(f.st.gpr[HVT_RAX], (uint64_t)-100);
    CHECK_EQ(ix_data_ops(&f, ops, 8), 1);

    ix_setup(&f, 1);
    f.st.gpr[HVT_RBX] = IX_DATA;
    ram_put32(f.r, IX_DATA + 8, 0x100);
    RUN_OK("81 6b 08 01 00 00 00"); /* sub dword [rbx+8], 1 */
    CHECK_EQ(ram_get32(f.r, IX_DATA + 8), 0xff);
    CHECK_U64(f.st.rflags & FL_ARITH, FL_AF | FL_PF);
}

static void test_unary(void)
{
    ix_setup(&f, 1);
    f.st.gpr[HVT_RAX] = 0x7fffffff;
    f.st.rflags |= FL_CF;
    RUN_OK("ff c0"); /* inc eax: CF kept */
    CHECK_U64(f.st.gpr[HVT_RAX], 0x80000000ull);
    CHECK_U64(f.st.rflags & FL_ARITH, FL_CF | FL_OF | FL_SF | FL_AF | FL_PF);

    ix_setup(&f, 1);
    f.st.gpr[HVT_RBX] = IX_DATA;
    ram_put32(f.r, IX_DATA, 1);
    RUN_OK("ff 0b"); /* dec dword [rbx] */
    CHECK_EQ(ram_get32(f.r, IX_DATA), 0);
    CHECK_U64(f.st.rflags & FL_ARITH, FL_ZF | FL_PF);

    ix_setup(&f, 1);
    f.st.gpr[HVT_RBX] = 0;
    f.st.rflags |= FL_CF;
    RUN_OK("f7 db"); /* neg ebx, 0: CF = 0 */
    CHECK_U64(f.st.rflags & FL_ARITH, FL_ZF | FL_PF);
    f.st.gpr[HVT_RBX] = 1;
    f.st.rip = IX_CODE;
    RUN_OK("f7 db");
    CHECK_U64(f.st.gpr[HVT_RBX], 0xffffffffull);
    CHECK_U64(f.st.rflags & FL_ARITH, FL_CF | FL_SF | FL_AF | FL_PF);
    f.st.gpr[HVT_RBX] = 0x80;
    f.st.rip = IX_CODE;
    RUN_OK("f6 db"); /* neg bl, 0x80: overflow */
    CHECK_U64(f.st.gpr[HVT_RBX], 0x80);
    CHECK_U64(f.st.rflags & FL_ARITH, FL_CF | FL_OF | FL_SF);

    ix_setup(&f, 1);
    f.st.gpr[HVT_RBX] = IX_DATA;
    f.r->mem[IX_DATA] = 0x0f;
    f.st.rflags |= FL_CF | FL_ZF;
    RUN_OK("f6 13"); /* not byte [rbx]: no flag changes */
    CHECK_EQ(f.r->mem[IX_DATA], 0xf0);
    CHECK_U64(f.st.rflags, 2 | FL_CF | FL_ZF);
}

/* A cmpxchg op that loses once: another writer bumps memory before the first cmpxchg. */
static int race_left;
static int racing_cmpxchg(void *ctx, uint64_t gpa, void *old, const void *new_, uint32_t size,
                          struct hvt_op_info *info)
{
    struct ram *r = ctx;
    if (race_left > 0) {
        race_left--;
        r->mem[gpa] += 100;
    }
    return ram_cmpxchg(ctx, gpa, old, new_, size, info);
}

static void test_lock(void)
{
    const struct ram_log_entry *ops[8];
    struct hvt_core_ops rops = ram_ops;

    ix_setup(&f, 1);
    f.st.gpr[HVT_RBX] = IX_DATA;
    f.st.gpr[HVT_RAX] = 5;
    ram_put32(f.r, IX_DATA, 7);
    RUN_OK("f0 01 03"); /* lock add [rbx], eax: read, then cmpxchg(7 -> 12) */
    CHECK_EQ(ram_get32(f.r, IX_DATA), 12);
    CHECK_EQ(ix_data_ops(&f, ops, 8), 2);
    CHECK_EQ(ops[0]->kind, HVT_ACC_READ);
    CHECK(ops[0]->info.flags & HVT_OPF_LOCKED);
    CHECK_EQ(ops[1]->kind, HVT_ACC_CMPXCHG);
    CHECK(ops[1]->info.flags & HVT_OPF_LOCKED);
    CHECK_EQ(ops[1]->old[0], 7);
    CHECK_EQ(ops[1]->data[0], 12);
    CHECK_EQ(ops[1]->result, HVT_OP_OKAY);
    CHECK_STR(f.res.detail, "lock add");

    /* a racing writer: the core recomputes from the value the failed cmpxchg returned */
    ix_setup(&f, 1);
    f.st.gpr[HVT_RBX] = IX_DATA;
    f.st.gpr[HVT_RAX] = 5;
    ram_put32(f.r, IX_DATA, 7);
    rops.cmpxchg = racing_cmpxchg;
    race_left = 1;
    ix_put_hex(&f, IX_CODE, "f0 01 03");
    ram_clear_log(f.r);
    CHECK_EQ(hvt_core_ref()->emulate(f.inst, &f.st, &rops, f.r, &f.res), 0);
    CHECK_EQ(f.res.out.kind, HVT_OUT_OKAY);
    CHECK_EQ(ram_get32(f.r, IX_DATA), 112);
    CHECK_EQ(ix_data_ops(&f, ops, 8), 3);
    CHECK_EQ(ops[1]->result, HVT_OP_CMPXCHG_FAILED);
    CHECK_EQ(ops[2]->old[0], 107);
    CHECK_EQ(ops[2]->result, HVT_OP_OKAY);

    /* a writer that always wins: bounded, UNHANDLEABLE, state untouched */
    ix_setup(&f, 1);
    f.st.gpr[HVT_RBX] = IX_DATA;
    race_left = 1000;
    ix_put_hex(&f, IX_CODE, "f0 ff 03");
    CHECK_EQ(hvt_core_ref()->emulate(f.inst, &f.st, &rops, f.r, &f.res), 0);
    CHECK_EQ(f.res.out.kind, HVT_OUT_UNHANDLEABLE);
    CHECK_U64(f.st.rip, IX_CODE);

    /* LOCK where it is not allowed: #UD */
    static const char *bad[] = {"f0 01 d8", "f0 89 03", "f0 39 03", "f0 0f a3 03",
                                "f0 8b 03", "f0 85 03", "f0 ff c0"};
    for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        ix_setup(&f, 1);
        f.st.gpr[HVT_RBX] = IX_DATA;
        CHECK_EQ(ix_run(&f, bad[i]), HVT_OUT_EXCEPTION);
        CHECK_EQ(f.res.out.vector, HVT_VEC_UD);
        CHECK_EQ(ix_data_ops(&f, ops, 8), 0);
        CHECK_U64(f.st.rip, IX_CODE);
    }
}

static void test_mov(void)
{
    const struct ram_log_entry *ops[8];
    ix_setup(&f, 1);
    f.st.gpr[HVT_RBX] = IX_DATA;
    f.st.gpr[HVT_RAX] = 0xffffffffffffffffull;
    ram_put64(f.r, IX_DATA, 0x1122334455667788ull);
    RUN_OK("8b 03"); /* mov eax, [rbx]: zero-extends */
    CHECK_U64(f.st.gpr[HVT_RAX], 0x55667788ull);
    f.st.rip = IX_CODE;
    RUN_OK("66 8b 0b"); /* mov cx, [rbx]: merges */
    CHECK_U64(f.st.gpr[HVT_RCX], 0x7788);
    f.st.rip = IX_CODE;
    RUN_OK("48 8b 13");
    CHECK_U64(f.st.gpr[HVT_RDX], 0x1122334455667788ull);
    CHECK_EQ(ix_data_ops(&f, ops, 8), 1);
    CHECK_EQ(ops[0]->size, 8);

    ix_setup(&f, 1);
    f.st.gpr[HVT_RBX] = IX_DATA;
    f.st.gpr[HVT_RAX] = 0xaabbccdd;
    RUN_OK("89 43 04"); /* mov [rbx+4], eax: one write, no read */
    CHECK_EQ(ix_data_ops(&f, ops, 8), 1);
    CHECK_EQ(ops[0]->kind, HVT_ACC_WRITE);
    CHECK_U64(ops[0]->gpa, IX_DATA + 4);
    CHECK_EQ(ram_get32(f.r, IX_DATA + 4), 0xaabbccdd);

    ix_setup(&f, 1);
    f.st.gpr[HVT_RBX] = IX_DATA;
    RUN_OK("48 c7 03 ff ff ff ff"); /* mov qword [rbx], -1 */
    CHECK_U64(ram_get64(f.r, IX_DATA), ~0ull);
    f.st.rip = IX_CODE;
    RUN_OK("c6 03 12"); /* mov byte [rbx], 0x12 */
    CHECK_U64(ram_get64(f.r, IX_DATA), 0xffffffffffffff12ull);

    /* moffs: 64-bit address, and with 0x67 a 32-bit one */
    ix_setup(&f, 1);
    ram_put64(f.r, IX_DATA, 0x0102030405060708ull);
    RUN_OK("48 a1 00 00 02 00 00 00 00 00");
    CHECK_U64(f.st.gpr[HVT_RAX], 0x0102030405060708ull);
    f.st.rip = IX_CODE;
    f.st.gpr[HVT_RAX] = 0x99;
    RUN_OK("a2 10 00 02 00 00 00 00 00"); /* mov [0x20010], al */
    CHECK_EQ(f.r->mem[IX_DATA + 0x10], 0x99);
    f.st.rip = IX_CODE;
    RUN_OK("67 8b 04 25 00 00 02 00"); /* mov eax, [0x20000] (32-bit address) */
    CHECK_U64(f.st.gpr[HVT_RAX], 0x05060708ull);
    f.st.rip = IX_CODE;
    RUN_OK("67 a1 04 00 02 00"); /* moffs32 */
    CHECK_U64(f.st.gpr[HVT_RAX], 0x01020304ull);

    /* RIP-relative: from the next instruction */
    ix_setup(&f, 1);
    ram_put32(f.r, IX_CODE + 6 + 0x100, 0xcafe);
    RUN_OK("8b 05 00 01 00 00");
    CHECK_U64(f.st.gpr[HVT_RAX], 0xcafe);

    /* high-byte and REX byte registers; immediates */
    ix_setup(&f, 1);
    f.st.gpr[HVT_RAX] = 0x1234;
    f.st.gpr[HVT_RSP] = 0x5600;
    RUN_OK("88 e0"); /* mov al, ah */
    CHECK_U64(f.st.gpr[HVT_RAX], 0x1212);
    f.st.rip = IX_CODE;
    RUN_OK("40 88 e0"); /* mov al, spl */
    CHECK_U64(f.st.gpr[HVT_RAX], 0x1200);
    f.st.rip = IX_CODE;
    f.st.gpr[HVT_RAX] = ~0ull;
    RUN_OK("b8 01 00 00 00");
    CHECK_U64(f.st.gpr[HVT_RAX], 1);
    f.st.rip = IX_CODE;
    RUN_OK("49 b8 88 77 66 55 44 33 22 11"); /* mov r8, imm64 */
    CHECK_U64(f.st.gpr[HVT_R8], 0x1122334455667788ull);

    /* segment override: FS base added, seg reported */
    ix_setup(&f, 1);
    f.st.seg[HVT_SEG_FS].base = 0x1000;
    f.st.gpr[HVT_RBX] = IX_DATA;
    ram_put32(f.r, IX_DATA + 0x1000, 77);
    RUN_OK("64 8b 03");
    CHECK_U64(f.st.gpr[HVT_RAX], 77);
    CHECK_EQ(ix_data_ops(&f, ops, 8), 1);
    CHECK_EQ(ops[0]->info.seg, HVT_SEG_FS);
    CHECK_U64(ops[0]->info.linear, IX_DATA + 0x1000);

    /* MOV from a segment register; MOV to one is not emulated */
    ix_setup(&f, 1);
    f.st.seg[HVT_SEG_DS].sel = 0x2b;
    f.st.gpr[HVT_RBX] = IX_DATA;
    RUN_OK("8c 1b"); /* mov [rbx], ds */
    CHECK_EQ(ram_get32(f.r, IX_DATA), 0x2b);
    f.st.rip = IX_CODE;
    CHECK_EQ(ix_run(&f, "8e d8"), HVT_OUT_UNIMPLEMENTED);
    CHECK_U64(f.st.rip, IX_CODE);
}

static void test_movx(void)
{
    ix_setup(&f, 1);
    f.st.gpr[HVT_RBX] = IX_DATA;
    ram_put64(f.r, IX_DATA, 0x80808080f0f0f080ull);
    f.st.gpr[HVT_RAX] = ~0ull;
    RUN_OK("0f b6 03");
    CHECK_U64(f.st.gpr[HVT_RAX], 0x80);
    f.st.rip = IX_CODE;
    RUN_OK("0f be 03");
    CHECK_U64(f.st.gpr[HVT_RAX], 0xffffff80ull);
    f.st.rip = IX_CODE;
    RUN_OK("48 0f bf 03");
    CHECK_U64(f.st.gpr[HVT_RAX], 0xfffffffffffff080ull);
    f.st.rip = IX_CODE;
    RUN_OK("66 0f b6 0b"); /* movzx cx, byte [rbx] */
    CHECK_U64(f.st.gpr[HVT_RCX], 0x80);
    f.st.rip = IX_CODE;
    RUN_OK("48 63 03"); /* movsxd rax, dword [rbx] */
    CHECK_U64(f.st.gpr[HVT_RAX], 0xfffffffff0f0f080ull);
    f.st.rip = IX_CODE;
    f.st.gpr[HVT_RAX] = ~0ull;
    RUN_OK("63 03"); /* without REX.W: a 32-bit move */
    CHECK_U64(f.st.gpr[HVT_RAX], 0xf0f0f080ull);
    f.st.rip = IX_CODE;
    RUN_OK("66 63 0b"); /* 16-bit: a word move, merged */
    CHECK_U64(f.st.gpr[HVT_RCX], 0xf080);
}

static void test_32bit(void)
{
    const struct ram_log_entry *ops[8];
    ix_setup(&f, 0);
    f.st.gpr[HVT_RBX] = IX_DATA;
    f.st.gpr[HVT_RAX] = 0x10001;
    ram_put32(f.r, IX_DATA, 0xffff);
    RUN_OK("66 01 03"); /* add [ebx], ax */
    CHECK_EQ(ram_get32(f.r, IX_DATA), 0x0000);
    CHECK_U64(f.st.rflags & FL_ARITH, FL_CF | FL_ZF | FL_AF | FL_PF);
    CHECK_U64(f.st.rip, IX_CODE + 3);

    /* 16-bit addressing: [bx+si] */
    ix_setup(&f, 0);
    f.st.gpr[HVT_RBX] = 0x12340100;
    f.st.gpr[HVT_RSI] = 0x20;
    f.st.gpr[HVT_RAX] = 3;
    RUN_OK("67 01 00");
    CHECK_EQ(ix_data_ops(&f, ops, 8), 2);
    CHECK_U64(ops[0]->gpa, 0x120);

    /* [ebp] defaults to SS: its base applies */
    ix_setup(&f, 0);
    f.st.seg[HVT_SEG_SS].base = 0x100;
    f.st.gpr[HVT_RBP] = IX_DATA;
    ram_put32(f.r, IX_DATA + 0x100, 42);
    RUN_OK("8b 45 00");
    CHECK_U64(f.st.gpr[HVT_RAX], 42);
    CHECK_EQ(ix_data_ops(&f, ops, 8), 1);
    CHECK_EQ(ops[0]->info.seg, HVT_SEG_SS);
    /* ... and DS with an override */
    f.st.rip = IX_CODE;
    ram_put32(f.r, IX_DATA, 43);
    RUN_OK("3e 8b 45 00");
    CHECK_U64(f.st.gpr[HVT_RAX], 43);

    /* limit violation: #GP(0), nothing changed */
    ix_setup(&f, 0);
    f.st.seg[HVT_SEG_DS].limit = 0xfff;
    f.st.gpr[HVT_RBX] = IX_DATA;
    CHECK_EQ(ix_run(&f, "01 03"), HVT_OUT_EXCEPTION);
    CHECK_EQ(f.res.out.vector, HVT_VEC_GP);
    CHECK(f.res.out.flags & HVT_PO_HAS_ERROR_CODE);
    CHECK_EQ(f.res.out.error_code, 0);
    CHECK_U64(f.st.rip, IX_CODE);
    CHECK_EQ(ix_data_ops(&f, ops, 8), 0);
}

/* 16-bit protected mode (CS.D = 0): 16-bit operands and addresses by default. */
static void test_16bit(void)
{
    const struct ram_log_entry *ops[8];
    ix_setup(&f, 0);
    f.st.seg[HVT_SEG_CS].attr &= ~HVT_SEG_ATTR_DB;
    f.st.seg[HVT_SEG_SS].attr &= ~HVT_SEG_ATTR_DB;
    f.st.rip = 0x1000; /* IP is 16 bits: code below 64 KiB (CS base 0, no paging) */
    f.st.gpr[HVT_RBX] = 0xabcd0100;
    f.st.gpr[HVT_RAX] = 0x11112222;
    ram_put32(f.r, 0x100, 0x33334444);
    CHECK_EQ(ix_run(&f, "01 07"), HVT_OUT_OKAY); /* add [bx], ax */
    CHECK_EQ(ram_get32(f.r, 0x100), 0x33336666);
    CHECK_EQ(ix_data_ops(&f, ops, 8), 2);
    CHECK_EQ(ops[0]->size, 2);
    CHECK_U64(f.st.rip, 0x1002);
    CHECK_EQ(ix_run(&f, "66 01 07"), HVT_OUT_OKAY); /* add [bx], eax */
    CHECK_EQ(ram_get32(f.r, 0x100), 0x44448888);
    CHECK_U64(f.st.rip, 0x1005);
    CHECK_EQ(ix_run(&f, "50"), HVT_OUT_OKAY); /* push ax: 2 bytes; SP 0 wraps, ESP's top kept */
    CHECK_U64(f.st.gpr[HVT_RSP], IX_STACK + 0xfffe);
    CHECK_EQ(ram_get32(f.r, 0xfffe) & 0xffff, 0x2222);
}

static void test_faults_retry(void)
{
    struct hvt_vcpu_state before;
    const struct ram_log_entry *ops[8];

    /* RETRY from an MMIO read: the caller's state is untouched */
    ix_setup(&f, 1);
    f.st.gpr[HVT_RBX] = IX_DATA;
    f.st.gpr[HVT_RAX] = 1;
    f.r->mmio_lo = IX_DATA;
    f.r->mmio_hi = IX_DATA + 0x1000;
    before = f.st;
    CHECK_EQ(ix_run(&f, "48 03 03"), HVT_OUT_RETRY);
    CHECK_EQ(f.res.out.retry_cause, HVT_RETRY_MMIO);
    CHECK(!memcmp(&before, &f.st, sizeof(before)));
    /* ... and answered: the value lands */
    f.r->mmio_result = HVT_OP_OKAY;
    f.r->mmio_value = 0x01;
    RUN_OK("48 03 03");
    CHECK_U64(f.st.gpr[HVT_RAX], 0x0101010101010102ull);

    /* RETRY on the write of a RMW: registers and flags untouched */
    ix_setup(&f, 1);
    f.st.gpr[HVT_RBX] = IX_DATA;
    f.r->fail_at = 6; /* 3 fetch ops, 2 walk reads, read, then the write */
    f.r->fail_result = HVT_OP_RETRY;
    before = f.st;
    CHECK_EQ(ix_run(&f, "48 83 03 01"), HVT_OUT_RETRY);
    CHECK_EQ(ix_data_ops(&f, ops, 8), 2);
    CHECK_EQ(ops[1]->kind, HVT_ACC_WRITE);
    CHECK(!memcmp(&before, &f.st, sizeof(before)));

    /* UNHANDLEABLE from an op */
    ix_setup(&f, 1);
    f.st.gpr[HVT_RBX] = IX_RAM + 0x1000; /* mapped by the 1G page, beyond the RAM */
    CHECK_EQ(ix_run(&f, "8b 03"), HVT_OUT_UNHANDLEABLE);

    /* #PF: not present (read, then write), CR2 = the linear address */
    ix_setup(&f, 1);
    f.st.gpr[HVT_RBX] = 0x40000010;
    before = f.st;
    CHECK_EQ(ix_run(&f, "8b 03"), HVT_OUT_EXCEPTION);
    CHECK_EQ(f.res.out.vector, HVT_VEC_PF);
    CHECK_EQ(f.res.out.error_code, 0);
    CHECK_U64(f.res.out.cr2, 0x40000010);
    CHECK(!memcmp(&before, &f.st, sizeof(before)));
    CHECK_EQ(ix_run(&f, "01 03"), HVT_OUT_EXCEPTION);
    CHECK_EQ(f.res.out.error_code, 2);

    /* non-canonical: #GP(0); through RSP/RBP: #SS(0) */
    ix_setup(&f, 1);
    f.st.gpr[HVT_RBX] = 0x0000800000000000ull;
    CHECK_EQ(ix_run(&f, "8b 03"), HVT_OUT_EXCEPTION);
    CHECK_EQ(f.res.out.vector, HVT_VEC_GP);
    f.st.gpr[HVT_RBP] = 0x0000800000000000ull;
    CHECK_EQ(ix_run(&f, "8b 45 00"), HVT_OUT_EXCEPTION);
    CHECK_EQ(f.res.out.vector, HVT_VEC_SS);
}

int main(void)
{
    RUN(test_add_flags);
    RUN(test_alu_memory);
    RUN(test_unary);
    RUN(test_lock);
    RUN(test_mov);
    RUN(test_movx);
    RUN(test_32bit);
    RUN(test_16bit);
    RUN(test_faults_retry);
    ix_free(&f);
    TEST_DONE();
}
