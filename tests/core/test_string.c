/* SPDX-License-Identifier: MIT */
/* String ops: MOVS/CMPS/STOS/LODS/SCAS/INS/OUTS, REP forms, tags, partial progress on RETRY. */
#include "exec_ext.h"
#include "mmu_fixture.h"

static struct fx f;

/* 64-bit mode, 4-level paging identity-mapping pages [0x10000, 0x30000) writable. */
static void setup64(void)
{
    fx_setup(&f, FX_L4);
    for (uint64_t a = 0x10000; a < 0x30000; a += 0x1000)
        fx_map4k(&f, a, a, P_URW | P_A | P_D, P_URW | P_A | P_D);
    f.st.rip = 0x10000;
    f.e.partial = 0;
}

static void setup32(void)
{
    fx_setup(&f, FX_NOPAGING);
    f.st.rip = 0x10000;
    f.e.partial = 0;
}

static int run(const uint8_t *b, unsigned n)
{
    memset(&f.res, 0, sizeof(f.res));
    ram_clear_log(f.r);
    f.e.partial = 0;
    return hvt_exec_ext_bytes(&f.e, b, n);
}

/* Data ops of the log (walks and A/D updates left out), in order. */
static unsigned data_ops(struct ram_log_entry **out, unsigned max)
{
    unsigned n = 0;
    for (unsigned i = 0; i < f.r->n_log && n < max; i++)
        if (f.r->log[i].info.tag.cls == HVT_TAG_DATA || f.r->log[i].info.tag.cls == HVT_TAG_IO)
            out[n++] = &f.r->log[i];
    return n;
}

static void test_movsb_tags(void)
{
    static const uint8_t rep_movsb[] = {0xf3, 0xa4};
    struct ram_log_entry *l[64];
    unsigned n;
    setup64();
    for (int i = 0; i < 10; i++)
        f.r->mem[0x20000 + i] = (uint8_t)(0x30 + i);
    f.st.gpr[HVT_RCX] = 10;
    f.st.gpr[HVT_RSI] = 0x20000;
    f.st.gpr[HVT_RDI] = 0x21000;
    CHECK_EQ(run(rep_movsb, 2), HVT_OUT_OKAY);
    CHECK_EQ(f.res.out.iterations, 10);
    CHECK_U64(f.st.gpr[HVT_RCX], 0);
    CHECK_U64(f.st.gpr[HVT_RSI], 0x2000a);
    CHECK_U64(f.st.gpr[HVT_RDI], 0x2100a);
    CHECK_U64(f.st.rip, 0x10002);
    CHECK_MEM(f.r->mem + 0x21000, f.r->mem + 0x20000, 10);
    n = data_ops(l, 64);
    CHECK_EQ(n, 20);
    for (unsigned i = 0; i < n && i < 20; i++) {
        CHECK_EQ(l[i]->kind, i % 2 ? HVT_ACC_WRITE : HVT_ACC_READ);
        CHECK_EQ(l[i]->info.tag.operand, i % 2);
        CHECK_EQ(l[i]->info.tag.element, i / 2);
        CHECK_EQ(l[i]->info.seg, i % 2 ? HVT_SEG_ES : HVT_SEG_DS);
        CHECK_U64(l[i]->info.linear, (i % 2 ? 0x21000 : 0x20000) + i / 2);
    }
    /* source and destination at the same address stay distinct operands */
    f.st.gpr[HVT_RCX] = 1;
    f.st.gpr[HVT_RSI] = f.st.gpr[HVT_RDI] = 0x22000;
    f.st.rip = 0x10000;
    CHECK_EQ(run(rep_movsb, 2), HVT_OUT_OKAY);
    n = data_ops(l, 64);
    CHECK_EQ(n, 2);
    CHECK(n == 2 && l[0]->info.tag.operand == 0 && l[1]->info.tag.operand == 1);
    CHECK(n == 2 && l[0]->gpa == l[1]->gpa);
}

static void test_df_sizes(void)
{
    static const uint8_t movsd[] = {0xa5}; /* movsd, not rep */
    static const uint8_t rep_movsq[] = {0xf3, 0x48, 0xa5};
    static const uint8_t rep_stosw[] = {0x66, 0xf3, 0xab};
    setup64();
    f.st.rflags |= HVT_RFLAGS_DF;
    ram_put32(f.r, 0x20010, 0xdeadbeef);
    f.st.gpr[HVT_RSI] = 0x20010;
    f.st.gpr[HVT_RDI] = 0x21010;
    f.st.gpr[HVT_RCX] = 77; /* not used without REP */
    CHECK_EQ(run(movsd, 1), HVT_OUT_OKAY);
    CHECK_U64(ram_get32(f.r, 0x21010), 0xdeadbeef);
    CHECK_U64(f.st.gpr[HVT_RSI], 0x2000c);
    CHECK_U64(f.st.gpr[HVT_RDI], 0x2100c);
    CHECK_U64(f.st.gpr[HVT_RCX], 77);
    CHECK_EQ(f.res.out.iterations, 1);
    f.st.rip = 0x10000;
    ram_put64(f.r, 0x20008, 0x1122334455667788ull);
    ram_put64(f.r, 0x20000, 0x99aabbccddeeff00ull);
    f.st.gpr[HVT_RSI] = 0x20008;
    f.st.gpr[HVT_RDI] = 0x21108;
    f.st.gpr[HVT_RCX] = 2;
    CHECK_EQ(run(rep_movsq, 3), HVT_OUT_OKAY);
    CHECK_U64(ram_get64(f.r, 0x21108), 0x1122334455667788ull);
    CHECK_U64(ram_get64(f.r, 0x21100), 0x99aabbccddeeff00ull);
    CHECK_U64(f.st.gpr[HVT_RSI], 0x1fff8);
    CHECK_U64(f.st.rip, 0x10003);
    f.st.rflags &= ~HVT_RFLAGS_DF;
    f.st.rip = 0x10000;
    f.st.gpr[HVT_RAX] = 0xabcd1234;
    f.st.gpr[HVT_RDI] = 0x21200;
    f.st.gpr[HVT_RCX] = 3;
    CHECK_EQ(run(rep_stosw, 3), HVT_OUT_OKAY);
    CHECK_U64(ram_get32(f.r, 0x21200), 0x12341234);
    CHECK_U64(ram_get32(f.r, 0x21204), 0x00001234);
    CHECK_U64(f.st.gpr[HVT_RDI], 0x21206);
}

/* 32-bit address size in 64-bit mode (67): ECX/ESI/EDI, upper halves cleared. */
static void test_addr32(void)
{
    static const uint8_t a32_rep_lodsb[] = {0x67, 0xf3, 0xac};
    setup64();
    f.r->mem[0x20005] = 0x7e;
    f.st.gpr[HVT_RSI] = 0xffffffff00020004ull;
    f.st.gpr[HVT_RCX] = 0x1234567800000002ull;
    f.st.gpr[HVT_RAX] = 0x1111111111111111ull;
    CHECK_EQ(run(a32_rep_lodsb, 3), HVT_OUT_OKAY);
    CHECK_U64(f.st.gpr[HVT_RAX], 0x111111111111117eull);
    CHECK_U64(f.st.gpr[HVT_RSI], 0x20006);
    CHECK_U64(f.st.gpr[HVT_RCX], 0);
    /* REP with ECX = 0 (upper half set): no access at all */
    f.st.rip = 0x10000;
    f.st.gpr[HVT_RCX] = 0x100000000ull;
    CHECK_EQ(run(a32_rep_lodsb, 3), HVT_OUT_OKAY);
    CHECK_EQ(f.r->n_log, 0);
    CHECK_U64(f.st.rip, 0x10003);
    /* 32-bit protected mode, 16-bit address size: SI/DI/CX only */
    static const uint8_t a16_rep_movsb[] = {0x67, 0xf3, 0xa4};
    setup32();
    f.r->mem[0x2fffe] = 1;
    f.r->mem[0x2ffff] = 2;
    f.r->mem[0x20000] = 3; /* SI wraps from 0xffff to 0 within the 64 KiB */
    f.st.gpr[HVT_RSI] = 0x2fffe;
    f.st.gpr[HVT_RDI] = 0x40000;
    f.st.gpr[HVT_RCX] = 0xabcd0003;
    f.st.seg[HVT_SEG_DS].base = 0x20000;
    f.st.seg[HVT_SEG_ES].base = 0x30000;
    f.st.gpr[HVT_RSI] = 0xfffe;
    f.st.gpr[HVT_RDI] = 0x5;
    CHECK_EQ(run(a16_rep_movsb, 3), HVT_OUT_OKAY);
    CHECK_U64(f.st.gpr[HVT_RCX], 0xabcd0000);
    CHECK_U64(f.st.gpr[HVT_RSI], 0x1);
    CHECK_EQ(f.r->mem[0x30005], 1);
    CHECK_EQ(f.r->mem[0x30006], 2);
    CHECK_EQ(f.r->mem[0x30007], 3);
}

static void test_cmps_scas(void)
{
    static const uint8_t repe_cmpsb[] = {0xf3, 0xa6};
    static const uint8_t repne_scasb[] = {0xf2, 0xae};
    static const uint8_t cmpsd[] = {0xa7};
    setup64();
    memcpy(f.r->mem + 0x20000, "abcdefgh", 8);
    memcpy(f.r->mem + 0x21000, "abcxefgh", 8);
    f.st.gpr[HVT_RSI] = 0x20000;
    f.st.gpr[HVT_RDI] = 0x21000;
    f.st.gpr[HVT_RCX] = 8;
    CHECK_EQ(run(repe_cmpsb, 2), HVT_OUT_OKAY);
    CHECK_EQ(f.res.out.iterations, 4);
    CHECK_U64(f.st.gpr[HVT_RCX], 4);
    CHECK_U64(f.st.gpr[HVT_RSI], 0x20004);
    CHECK(!(f.st.rflags & HVT_RFLAGS_ZF));
    CHECK(f.st.rflags & HVT_RFLAGS_CF); /* 'd' < 'x' */
    f.st.rip = 0x10000;
    f.st.gpr[HVT_RAX] = 'f';
    f.st.gpr[HVT_RDI] = 0x21000;
    f.st.gpr[HVT_RCX] = 8;
    CHECK_EQ(run(repne_scasb, 2), HVT_OUT_OKAY);
    CHECK_EQ(f.res.out.iterations, 6);
    CHECK_U64(f.st.gpr[HVT_RDI], 0x21006);
    CHECK(f.st.rflags & HVT_RFLAGS_ZF);
    /* flags of src - dst at 32 bits: 1 - 2 */
    f.st.rip = 0x10000;
    ram_put32(f.r, 0x20100, 1);
    ram_put32(f.r, 0x21100, 2);
    f.st.gpr[HVT_RSI] = 0x20100;
    f.st.gpr[HVT_RDI] = 0x21100;
    CHECK_EQ(run(cmpsd, 1), HVT_OUT_OKAY);
    CHECK(f.st.rflags & HVT_RFLAGS_CF);
    CHECK(f.st.rflags & HVT_RFLAGS_SF);
    CHECK(!(f.st.rflags & HVT_RFLAGS_OF));
    CHECK(f.st.rflags & HVT_RFLAGS_PF); /* 0xffffffff: even parity */
    CHECK(f.st.rflags & HVT_RFLAGS_AF);
}

/* A forced RETRY at every op call of REP MOVSW (RCX = 4) commits exactly the iterations that
 * completed before it, and nothing else. */
static void test_retry_every_op(void)
{
    static const uint8_t rep_movsw[] = {0x66, 0xf3, 0xa5};
    unsigned total;
    setup64();
    f.st.gpr[HVT_RCX] = 4;
    f.st.gpr[HVT_RSI] = 0x20ffc; /* the source crosses into the next page on iteration 2 */
    f.st.gpr[HVT_RDI] = 0x22000;
    CHECK_EQ(run(rep_movsw, 3), HVT_OUT_OKAY);
    total = f.r->n_log;
    CHECK(total > 8);
    for (unsigned n = 0; n < total; n++) {
        unsigned done = 0;
        setup64();
        for (int i = 0; i < 8; i++)
            f.r->mem[0x20ffc + i] = (uint8_t)(0xa0 + i);
        f.st.gpr[HVT_RCX] = 4;
        f.st.gpr[HVT_RSI] = 0x20ffc;
        f.st.gpr[HVT_RDI] = 0x22000;
        f.r->fail_at = n;
        f.r->fail_result = HVT_OP_RETRY;
        CHECK_EQ(run(rep_movsw, 3), HVT_OUT_RETRY);
        for (unsigned i = 0; i < n; i++)
            if (f.r->log[i].kind == HVT_ACC_WRITE && f.r->log[i].info.tag.cls == HVT_TAG_DATA)
                done++;
        CHECK_EQ(f.res.out.iterations, done);
        CHECK_EQ(f.e.partial, done > 0);
        CHECK_U64(f.st.gpr[HVT_RCX], 4 - done);
        CHECK_U64(f.st.gpr[HVT_RSI], 0x20ffc + 2 * done);
        CHECK_U64(f.st.gpr[HVT_RDI], 0x22000 + 2 * done);
        CHECK_U64(f.st.rip, 0x10000);
        CHECK_MEM(f.r->mem + 0x22000, f.r->mem + 0x20ffc, 2 * done);
        CHECK_EQ(f.r->mem[0x22000 + 2 * done], 0);
    }
}

/* A device region under the destination: RETRY with cause MMIO after the iterations before
 * it, for every position of the region. */
static void test_mmio_stop(void)
{
    static const uint8_t rep_stosb[] = {0xf3, 0xaa};
    for (unsigned k = 0; k < 5; k++) {
        setup64();
        f.r->mmio_lo = 0x21000 + k;
        f.r->mmio_hi = 0x21001 + k;
        f.st.gpr[HVT_RCX] = 5;
        f.st.gpr[HVT_RDI] = 0x21000;
        f.st.gpr[HVT_RAX] = 0x5a;
        CHECK_EQ(run(rep_stosb, 2), HVT_OUT_RETRY);
        CHECK_EQ(f.res.out.kind, HVT_OUT_RETRY);
        CHECK_EQ(f.res.out.retry_cause, HVT_RETRY_MMIO);
        CHECK_EQ(f.res.out.iterations, k);
        CHECK_U64(f.st.gpr[HVT_RCX], 5 - k);
        CHECK_U64(f.st.gpr[HVT_RDI], 0x21000 + k);
        /* re-execution continues from there once the device answers */
        f.r->mmio_lo = f.r->mmio_hi = 0;
        CHECK_EQ(run(rep_stosb, 2), HVT_OUT_OKAY);
        CHECK_EQ(f.res.out.iterations, 5 - k);
        CHECK_U64(f.st.gpr[HVT_RCX], 0);
        CHECK_U64(ram_get32(f.r, 0x21000), 0x5a5a5a5a);
        CHECK_EQ(f.r->mem[0x21004], 0x5a);
        CHECK_EQ(f.r->mem[0x21005], 0);
    }
}

/* A #PF in the middle keeps the completed iterations, as hardware does. */
static void test_fault_mid(void)
{
    static const uint8_t rep_movsd[] = {0xf3, 0xa5};
    setup64();
    ram_put64(f.r, fx_ent(1, 0x23000), 0); /* not present */
    f.st.gpr[HVT_RCX] = 6;
    f.st.gpr[HVT_RSI] = 0x20000;
    f.st.gpr[HVT_RDI] = 0x22ff8;
    CHECK_EQ(run(rep_movsd, 2), HVT_OUT_EXCEPTION);
    CHECK_EQ(f.res.out.vector, HVT_VEC_PF);
    CHECK_U64(f.res.out.cr2, 0x23000);
    CHECK_U64(f.res.out.error_code, 2);
    CHECK_EQ(f.res.out.iterations, 2);
    CHECK_EQ(f.e.partial, 1);
    CHECK_U64(f.st.gpr[HVT_RCX], 4);
    CHECK_U64(f.st.gpr[HVT_RDI], 0x23000);
}

static void test_ins_outs(void)
{
    static const uint8_t rep_insb[] = {0xf3, 0x6c};
    static const uint8_t rep_outsw[] = {0x66, 0xf3, 0x6f};
    static const uint8_t lock_movsb[] = {0xf0, 0xa4};
    struct ram_log_entry *l[16];
    unsigned n;
    setup64();
    f.r->port_value = 0x42;
    f.st.gpr[HVT_RDX] = 0x3f8;
    f.st.gpr[HVT_RDI] = 0x21000;
    f.st.gpr[HVT_RCX] = 3;
    CHECK_EQ(run(rep_insb, 2), HVT_OUT_OKAY);
    CHECK_EQ(f.r->mem[0x21002], 0x42);
    n = data_ops(l, 16);
    CHECK_EQ(n, 6);
    for (unsigned i = 0; i < n; i += 2) {
        CHECK_EQ(l[i]->kind, HVT_ACC_IO_IN);
        CHECK_U64(l[i]->gpa, 0x3f8);
        CHECK_EQ(l[i]->info.tag.cls, HVT_TAG_IO);
        CHECK_EQ(l[i]->info.tag.element, i / 2);
        CHECK_EQ(l[i + 1]->kind, HVT_ACC_WRITE);
        CHECK_EQ(l[i + 1]->info.tag.element, i / 2);
    }
    f.st.rip = 0x10000;
    f.st.gpr[HVT_RSI] = 0x20000;
    f.st.gpr[HVT_RCX] = 3;
    f.r->port_result = HVT_OP_OKAY;
    CHECK_EQ(run(rep_outsw, 3), HVT_OUT_OKAY);
    {
        unsigned outs = 0, at = 0;
        for (unsigned i = 0; i < f.r->n_log; i++)
            if (f.r->log[i].kind == HVT_ACC_IO_OUT && ++outs == 2)
                at = i;
        CHECK(at > 0);
        f.st.rip = 0x10000;
        f.st.gpr[HVT_RSI] = 0x20000;
        f.st.gpr[HVT_RCX] = 3;
        f.r->fail_at = at; /* the port needs the device model on the second element */
        f.r->fail_result = HVT_OP_RETRY;
        CHECK_EQ(run(rep_outsw, 3), HVT_OUT_RETRY);
    }
    CHECK_EQ(f.res.out.retry_cause, HVT_RETRY_PIO);
    CHECK_EQ(f.res.out.iterations, 1);
    CHECK_U64(f.st.gpr[HVT_RCX], 2);
    CHECK_U64(f.st.gpr[HVT_RSI], 0x20002);
    f.r->fail_at = -1;
    /* CPL 3 with IOPL 0: the TSS bitmap decides (test_io.c has the details); this TSS's map
     * base (0) puts port 0x3f8's bitmap bytes beyond its limit: #GP(0), no port access.
     * The TSS page (0x7000) must be mapped (supervisor-only: the CPU reads it with CPL 0
     * rights), else the map-base read is a #PF. */
    fx_map4k(&f, 0x7000, 0x7000, P_URW | P_A | P_D, P_P | P_RW | P_A | P_D);
    f.st.rip = 0x10000;
    f.e.cpl = 3;
    CHECK_EQ(run(rep_insb, 2), HVT_OUT_EXCEPTION);
    CHECK_EQ(f.res.out.vector, HVT_VEC_GP);
    CHECK_EQ(f.e.partial, 0);
    for (unsigned i = 0; i < f.r->n_log; i++)
        CHECK(f.r->log[i].info.tag.cls != HVT_TAG_IO);
    f.e.cpl = 0;
    CHECK_EQ(run(lock_movsb, 2), HVT_OUT_EXCEPTION);
    CHECK_EQ(f.res.out.vector, HVT_VEC_UD);
}

/* REPE CMPS stopped after progress: RCX/RSI/RDI committed, RFLAGS as at the start (what the CPU
 * leaves on a fault after progress; the native check compares it). */
static void test_cmps_partial_flags(void)
{
    static const uint8_t repe_cmpsb[] = {0xf3, 0xa6};
    setup64();
    memcpy(f.r->mem + 0x20000, "aaaaaaaa", 8);
    memcpy(f.r->mem + 0x21000, "aaaaaaaa", 8);
    f.st.rflags = 2 | HVT_RFLAGS_CF | HVT_RFLAGS_SF;
    f.st.gpr[HVT_RCX] = 6;
    f.st.gpr[HVT_RSI] = 0x20000;
    f.st.gpr[HVT_RDI] = 0x21000;
    f.r->mmio_lo = 0x20003;
    f.r->mmio_hi = 0x20004;
    CHECK_EQ(run(repe_cmpsb, 2), HVT_OUT_RETRY);
    CHECK_EQ(f.res.out.iterations, 3);
    CHECK_EQ(f.e.partial, 1);
    CHECK_U64(f.st.gpr[HVT_RCX], 3);
    CHECK_U64(f.st.gpr[HVT_RSI], 0x20003);
    CHECK_U64(f.st.rflags, 2 | HVT_RFLAGS_CF | HVT_RFLAGS_SF);
    /* 32-bit address size: ECX is written (upper half cleared) even without progress on a
     * fault, as the CPU does; a RETRY without progress commits nothing */
    static const uint8_t a32_rep_stosb[] = {0x67, 0xf3, 0xaa};
    setup64();
    f.st.gpr[HVT_RCX] = 0xabcd000000000004ull;
    f.st.gpr[HVT_RDI] = 0x1234000000021000ull;
    f.r->mmio_lo = 0x21000;
    f.r->mmio_hi = 0x21001;
    CHECK_EQ(run(a32_rep_stosb, 3), HVT_OUT_RETRY);
    CHECK_EQ(f.e.partial, 0);
    ram_put64(f.r, fx_ent(1, 0x21000), 0);
    f.r->mmio_lo = f.r->mmio_hi = 0;
    /* (the working state is f.st itself here: restore what a RETRY would not commit) */
    f.st.gpr[HVT_RCX] = 0xabcd000000000004ull;
    f.st.gpr[HVT_RDI] = 0x1234000000021000ull;
    CHECK_EQ(run(a32_rep_stosb, 3), HVT_OUT_EXCEPTION);
    CHECK_EQ(f.e.partial, 1);
    CHECK_U64(f.st.gpr[HVT_RCX], 4);
    CHECK_U64(f.st.gpr[HVT_RDI], 0x21000);
}

int main(void)
{
    RUN(test_movsb_tags);
    RUN(test_df_sizes);
    RUN(test_addr32);
    RUN(test_cmps_scas);
    RUN(test_retry_every_op);
    RUN(test_mmio_stop);
    RUN(test_fault_mid);
    RUN(test_ins_outs);
    RUN(test_cmps_partial_flags);
    fx_free(&f);
    TEST_DONE();
}
