/* SPDX-License-Identifier: MIT */
/* Port I/O: IN/OUT in every form and size, RETRY, and the TSS I/O permission check (also for
 * INS/OUTS) with its exact tagged descriptor reads, in 64-, 32- and 16-bit protected mode. */
#include "insn_fixture.h"
#include "exec_io.h"

static struct ix f;

#define TSS 0x40000ull /* TR.base in these tests */
#define MAPBASE 0x68u  /* I/O map base: right after the 104-byte TSS */
/* a full bitmap (65536 ports) plus the 0xff byte the SDM asks for after it */
#define TSS_LIMIT (MAPBASE + 0x2000u)

enum { M16, M32, M64 };

/* Flat segments in mode M (16-bit: CS based at IX_CODE with IP 0, as 16-bit code wraps IP at
 * 64 KiB), TR a busy 32/64-bit TSS at TSS with the bitmap above (all ports allowed). */
static void setup(int m)
{
    ix_setup(&f, m == M64);
    f.r->port_result = HVT_OP_OKAY;
    f.r->port_value = 0xab;
    if (m == M16) {
        f.st.seg[HVT_SEG_CS].attr &= ~HVT_SEG_ATTR_DB;
        f.st.seg[HVT_SEG_CS].base = IX_CODE;
        f.st.seg[HVT_SEG_CS].limit = 0xffff;
        f.st.rip = 0;
    }
    f.st.seg[HVT_SEG_TR].base = TSS;
    f.st.seg[HVT_SEG_TR].limit = TSS_LIMIT;
    f.st.seg[HVT_SEG_TR].attr = HVT_SEG_ATTR_P | 0xb;
    f.r->mem[TSS + 0x66] = MAPBASE;
    f.r->mem[TSS + 0x67] = 0;
    f.r->mem[TSS + MAPBASE + 0x2000] = 0xff;
}

/* CPL 3 (SS.DPL, CS.DPL, the data segments' DPL) with IOPL IOPL. */
static void user(unsigned iopl)
{
    for (unsigned i = 0; i < 6; i++)
        f.st.seg[i].attr |= 3u << 5;
    f.st.rflags = (f.st.rflags & ~(3ull << 12)) | ((uint64_t)iopl << 12);
}

static void deny(unsigned port)
{
    f.r->mem[TSS + MAPBASE + port / 8] |= (uint8_t)(1u << (port & 7));
}

/* Places HEX at CS:RIP (16-bit code too) and emulates it once. */
static int run(const char *hex)
{
    uint64_t la = f.st.seg[HVT_SEG_CS].base + f.st.rip;
    ix_put_hex(&f, la, hex);
    ram_clear_log(f.r);
    f.rc = hvt_core_ref()->emulate(f.inst, &f.st, &ram_ops, f.r, &f.res);
    CHECK_EQ(f.rc, 0);
    return f.res.out.kind;
}

/* The instruction's own ops (fetches, walks and A/D updates left out), in order. */
static unsigned own(const struct ram_log_entry **l, unsigned max)
{
    return ix_data_ops(&f, l, max);
}

static void check_io_op(const struct ram_log_entry *l, unsigned kind, unsigned port, unsigned size)
{
    CHECK_EQ(l->kind, kind);
    CHECK_U64(l->gpa, port);
    CHECK_EQ(l->size, size);
    CHECK_EQ(l->info.kind, kind);
    CHECK_EQ(l->info.tag.cls, HVT_TAG_IO);
    CHECK_EQ(l->info.tag.operand, 0);
    CHECK_EQ(l->info.tag.level, 0);
    CHECK_EQ(l->info.tag.element, 0);
    CHECK_EQ(l->info.seg, HVT_SEG_NONE);
    CHECK_EQ(l->info.space, HVT_SPACE_PORT);
    CHECK_EQ(l->info.flags, 0);
}

static void check_desc_read(const struct ram_log_entry *l, unsigned which, uint64_t off)
{
    CHECK_EQ(l->kind, HVT_ACC_READ);
    CHECK_EQ(l->info.kind, HVT_ACC_READ);
    CHECK_EQ(l->info.tag.cls, HVT_TAG_DESC);
    CHECK_EQ(l->info.tag.operand, which);
    CHECK_EQ(l->info.tag.element, 0);
    CHECK_EQ(l->info.seg, HVT_SEG_TR);
    CHECK_EQ(l->size, 2);
    CHECK_U64(l->gpa, TSS + off); /* paging off or identity-mapped */
    CHECK(l->info.flags & HVT_OPF_LINEAR_VALID);
    CHECK(!(l->info.flags & HVT_OPF_LOCKED));
    CHECK_U64(l->info.linear, TSS + off);
}

/* One IN form: HEX reads SIZE bytes from PORT into RAX (initially all ones). */
static void in_form(int m, const char *hex, unsigned len, unsigned port, unsigned size)
{
    const struct ram_log_entry *l[4];
    uint64_t rip;
    setup(m);
    rip = f.st.rip;
    f.st.gpr[HVT_RAX] = ~0ull;
    f.st.gpr[HVT_RDX] = 0x1234567800000000ull | port; /* only DX names the port */
    CHECK_EQ(run(hex), HVT_OUT_OKAY);
    CHECK_EQ(f.res.insn_len, len);
    CHECK_U64(f.st.rip, rip + len);
    CHECK_EQ(own(l, 4), 1);
    check_io_op(l[0], HVT_ACC_IO_IN, port, size);
    if (size == 1)
        CHECK_U64(f.st.gpr[HVT_RAX], 0xffffffffffffffabull);
    else if (size == 2)
        CHECK_U64(f.st.gpr[HVT_RAX], 0xffffffffffffababull);
    else /* a 32-bit register write zero-extends */
        CHECK_U64(f.st.gpr[HVT_RAX], 0xababababull);
    CHECK_U64(f.st.gpr[HVT_RDX], 0x1234567800000000ull | port);
}

/* One OUT form: HEX writes the low SIZE bytes of RAX to PORT. */
static void out_form(int m, const char *hex, unsigned len, unsigned port, unsigned size)
{
    static const uint8_t val[4] = {0x11, 0x22, 0x33, 0x44};
    const struct ram_log_entry *l[4];
    uint64_t rip;
    setup(m);
    rip = f.st.rip;
    f.st.gpr[HVT_RAX] = 0x8877665544332211ull;
    f.st.gpr[HVT_RDX] = 0xffff0000u | port;
    CHECK_EQ(run(hex), HVT_OUT_OKAY);
    CHECK_EQ(f.res.insn_len, len);
    CHECK_U64(f.st.rip, rip + len);
    CHECK_EQ(own(l, 4), 1);
    check_io_op(l[0], HVT_ACC_IO_OUT, port, size);
    CHECK_MEM(l[0]->data, val, size);
    CHECK_U64(f.st.gpr[HVT_RAX], 0x8877665544332211ull);
}

static void test_forms(void)
{
    for (int m = M16; m <= M64; m++) {
        /* 66 selects the other of 16/32 bits; REX.W does not widen IN/OUT */
        const char *w16 = m == M16 ? "" : "66 ";
        const char *w32 = m == M16 ? "66 " : "";
        unsigned p = m == M16 ? 0 : 1; /* prefix bytes the 16-bit forms add */
        unsigned q = m == M16 ? 1 : 0; /* and the 32-bit forms */
        char h[32];
        in_form(m, "e4 80", 2, 0x80, 1);
        in_form(m, "e4 ff", 2, 0xff, 1); /* imm8 zero-extended */
        in_form(m, "e4 ec", 2, 0xec, 1); /* an imm8 that looks like the DX form */
        snprintf(h, sizeof(h), "%se5 81", w16);
        in_form(m, h, 2 + p, 0x81, 2);
        snprintf(h, sizeof(h), "%se5 82", w32);
        in_form(m, h, 2 + q, 0x82, 4);
        in_form(m, "ec", 1, 0x3f8, 1);
        snprintf(h, sizeof(h), "%sed", w16);
        in_form(m, h, 1 + p, 0xcf8, 2);
        snprintf(h, sizeof(h), "%sed", w32);
        in_form(m, h, 1 + q, 0xfffc, 4);
        out_form(m, "e6 80", 2, 0x80, 1);
        snprintf(h, sizeof(h), "%se7 90", w16);
        out_form(m, h, 2 + p, 0x90, 2);
        snprintf(h, sizeof(h), "%se7 91", w32);
        out_form(m, h, 2 + q, 0x91, 4);
        out_form(m, "ee", 1, 0x3f8, 1);
        snprintf(h, sizeof(h), "%sef", w16);
        out_form(m, h, 1 + p, 0xcfc, 2);
        snprintf(h, sizeof(h), "%sef", w32);
        out_form(m, h, 1 + q, 0xffff, 4);
    }
    in_form(M64, "48 e5 82", 3, 0x82, 4); /* REX.W: still 32 bits, zero-extended */
    in_form(M64, "48 ed", 2, 0x1f0, 4);
    out_form(M64, "48 ef", 2, 0x1f0, 4);
    in_form(M64, "f3 ec", 2, 0x60, 1); /* REP is ignored on IN/OUT */
    setup(M64);
    CHECK_EQ(run("f0 ec"), HVT_OUT_EXCEPTION); /* LOCK: #UD */
    CHECK_EQ(f.res.out.vector, HVT_VEC_UD);
    CHECK_EQ(ix_count(&f, HVT_TAG_IO), 0);
}

/* RETRY (the device model must answer) or UNHANDLEABLE on the port op: nothing changes, and
 * the same state re-executes to the same op. */
static void test_retry(void)
{
    static const char *const forms[] = {"e4 80", "ed", "66 e7 90", "ee"};
    for (int m = M16; m <= M64; m++)
        for (unsigned i = 0; i < 4; i++) {
            struct hvt_vcpu_state before;
            setup(m);
            user(3);
            f.st.gpr[HVT_RAX] = 0x1122334455667788ull;
            f.st.gpr[HVT_RDX] = 0x3f8;
            f.st.rflags |= FL_CF | FL_ZF;
            before = f.st;
            f.r->port_result = HVT_OP_RETRY;
            CHECK_EQ(run(forms[i]), HVT_OUT_RETRY);
            CHECK_EQ(f.res.out.retry_cause, HVT_RETRY_PIO);
            CHECK(f.res.insn_len > 0);
            CHECK_MEM(&f.st, &before, sizeof(before));
            CHECK_EQ(ix_count(&f, HVT_TAG_IO), 1);
            f.r->port_result = HVT_OP_UNHANDLEABLE;
            CHECK_EQ(run(forms[i]), HVT_OUT_UNHANDLEABLE);
            CHECK_MEM(&f.st, &before, sizeof(before));
            /* the device answered: the same state completes */
            f.r->port_result = HVT_OP_OKAY;
            CHECK_EQ(run(forms[i]), HVT_OUT_OKAY);
            CHECK_U64(f.st.rip, before.rip + f.res.insn_len);
        }
}

/* CPL 3, IOPL 0: the two tagged TSS reads, then the port access. */
static void test_permitted(void)
{
    for (int m = M16; m <= M64; m++) {
        const struct ram_log_entry *l[8];
        setup(m);
        user(0);
        deny(0x3f7); /* neighbours denied, 0x3f8 itself allowed */
        deny(0x3f9);
        f.st.gpr[HVT_RDX] = 0x3f8;
        CHECK_EQ(run("ec"), HVT_OUT_OKAY);
        CHECK_EQ(own(l, 8), 3);
        check_desc_read(l[0], HVT_IO_DESC_MAPBASE, 0x66);
        check_desc_read(l[1], HVT_IO_DESC_BITMAP, MAPBASE + 0x3f8 / 8);
        check_io_op(l[2], HVT_ACC_IO_IN, 0x3f8, 1);
        CHECK_U64(f.st.gpr[HVT_RAX] & 0xff, 0xab);

        /* imm8 forms and OUT check the same way */
        setup(m);
        user(0);
        CHECK_EQ(run("e6 80"), HVT_OUT_OKAY);
        CHECK_EQ(own(l, 8), 3);
        check_desc_read(l[0], HVT_IO_DESC_MAPBASE, 0x66);
        check_desc_read(l[1], HVT_IO_DESC_BITMAP, MAPBASE + 0x10);
        check_io_op(l[2], HVT_ACC_IO_OUT, 0x80, 1);
    }
    /* CPL <= IOPL: no TSS read at all */
    for (unsigned iopl = 0; iopl < 4; iopl++) {
        const struct ram_log_entry *l[8];
        setup(M64);
        deny(0x3f8);
        if (iopl == 3)
            user(3);
        else
            f.st.rflags |= (uint64_t)iopl << 12; /* CPL 0 */
        f.st.gpr[HVT_RDX] = 0x3f8;
        CHECK_EQ(run("ec"), HVT_OUT_OKAY);
        CHECK_EQ(own(l, 8), 1);
        CHECK_EQ(ix_count(&f, HVT_TAG_DESC), 0);
    }
    /* IOPL 2 < CPL 3: checked */
    setup(M32);
    user(2);
    deny(0x3f8);
    f.st.gpr[HVT_RDX] = 0x3f8;
    CHECK_EQ(run("ec"), HVT_OUT_EXCEPTION);
    CHECK_EQ(f.res.out.vector, HVT_VEC_GP);
}

/* A #GP(0) from the permission check: nothing changed, no port op, DESC reads as given. */
static void expect_gp(const char *hex, unsigned desc_reads)
{
    struct hvt_vcpu_state before = f.st;
    CHECK_EQ(run(hex), HVT_OUT_EXCEPTION);
    CHECK_EQ(f.res.out.vector, HVT_VEC_GP);
    CHECK(f.res.out.flags & HVT_PO_HAS_ERROR_CODE);
    CHECK_EQ(f.res.out.error_code, 0);
    CHECK_EQ(ix_count(&f, HVT_TAG_IO), 0);
    CHECK_EQ(ix_count(&f, HVT_TAG_DESC), desc_reads);
    CHECK_EQ(ix_count(&f, HVT_TAG_DATA), 0);
    CHECK_MEM(&f.st, &before, sizeof(before));
}

static void test_denied(void)
{
    for (int m = M16; m <= M64; m++) {
        const struct ram_log_entry *l[8];
        const char *in_ax = m == M16 ? "ed" : "66 ed";
        const char *in_eax = m == M16 ? "66 ed" : "ed";
        setup(m);
        user(0);
        deny(0x3f9);
        deny(0xf9);
        f.st.gpr[HVT_RDX] = 0x3f9;
        expect_gp("ec", 2);
        expect_gp("ee", 2);
        f.st.gpr[HVT_RDX] = 0x3f8; /* a word at 0x3f8 covers 0x3f9 */
        expect_gp(in_ax, 2);
        f.st.gpr[HVT_RDX] = 0x3f6; /* a dword at 0x3f6 covers 0x3f6..0x3f9 */
        expect_gp(in_eax, 2);
        f.st.gpr[HVT_RAX] = 0;
        expect_gp("e4 f9", 2);     /* port 0xf9: a different byte of the bitmap */
        f.st.gpr[HVT_RDX] = 0x3f8; /* 0x3f8 alone is allowed */
        CHECK_EQ(run("ec"), HVT_OUT_OKAY);
        f.st.gpr[HVT_RDX] = 0x3fa; /* so is the word above 0x3f9 */
        CHECK_EQ(run(in_ax), HVT_OUT_OKAY);
        CHECK_EQ(own(l, 8), 3);
        check_desc_read(l[1], HVT_IO_DESC_BITMAP, MAPBASE + 0x7f);
    }
}

/* Ports straddling two bitmap bytes: the second byte of the 2-byte read decides. */
static void test_straddle(void)
{
    for (int m = M16; m <= M64; m++) {
        const struct ram_log_entry *l[8];
        const char *in_ax = m == M16 ? "ed" : "66 ed";
        const char *out_eax = m == M16 ? "66 ef" : "ef";
        setup(m);
        user(0);
        f.st.gpr[HVT_RDX] = 0x3ff; /* 0x3ff (byte 0x7f bit 7) and 0x400 (byte 0x80 bit 0) */
        CHECK_EQ(run(in_ax), HVT_OUT_OKAY);
        CHECK_EQ(own(l, 8), 3);
        check_desc_read(l[1], HVT_IO_DESC_BITMAP, MAPBASE + 0x7f);
        deny(0x400);
        expect_gp(in_ax, 2);
        f.st.gpr[HVT_RDX] = 0x3fd; /* dword 0x3fd..0x400 */
        expect_gp(out_eax, 2);
        f.st.gpr[HVT_RDX] = 0x3fc; /* dword 0x3fc..0x3ff: allowed */
        CHECK_EQ(run(out_eax), HVT_OUT_OKAY);
        /* port 0xffff: a word reaches the byte after the bitmap (0xff, as the SDM requires) */
        f.st.gpr[HVT_RDX] = 0xffff;
        CHECK_EQ(run("ec"), HVT_OUT_OKAY);
        expect_gp(in_ax, 2);
    }
}

/* The 2 bitmap bytes must lie within the TSS limit; a map base beyond it denies every port. */
static void test_limit(void)
{
    for (int m = M16; m <= M64; m++) {
        /* map base beyond the limit (the usual "no bitmap" TSS): one read, then #GP */
        setup(m);
        user(0);
        f.st.seg[HVT_SEG_TR].limit = 0x67;
        f.st.gpr[HVT_RDX] = 0;
        expect_gp("ec", 1);
        f.r->mem[TSS + 0x66] = 0xff;
        f.r->mem[TSS + 0x67] = 0xff; /* 0xffff: far beyond */
        f.st.seg[HVT_SEG_TR].limit = TSS_LIMIT;
        expect_gp("ec", 1);

        /* port byte at the limit: its second byte is outside -> #GP without the read */
        setup(m);
        user(0);
        f.st.seg[HVT_SEG_TR].limit = MAPBASE + 0x10; /* bytes for ports 0..0x87, + 1 */
        f.st.gpr[HVT_RDX] = 0x80;
        expect_gp("ec", 1);       /* byte 0x10 = the limit: 0x11 is outside */
        f.st.gpr[HVT_RDX] = 0x78; /* byte 0xf: bytes 0xf and 0x10 are inside */
        CHECK_EQ(run("ec"), HVT_OUT_OKAY);
        CHECK_EQ(ix_count(&f, HVT_TAG_DESC), 2);
    }
}

/* TR must be a present 32/64-bit TSS (type 9 or 11) of limit >= 103, else #GP(0) without any
 * TSS read. */
static void test_tr_unusable(void)
{
    static const struct {
        uint32_t attr, limit;
        int ok;
    } cases[] = {
        {HVT_SEG_ATTR_P | 0xb, TSS_LIMIT, 1},
        {HVT_SEG_ATTR_P | 0x9, TSS_LIMIT, 1},
        {HVT_SEG_ATTR_UNUSABLE, TSS_LIMIT, 0},
        {0xb, TSS_LIMIT, 0},                                   /* not present */
        {HVT_SEG_ATTR_P | 0x3, TSS_LIMIT, 0},                  /* 16-bit busy TSS */
        {HVT_SEG_ATTR_P | 0x1, TSS_LIMIT, 0},                  /* 16-bit available TSS */
        {HVT_SEG_ATTR_P | 0x2, TSS_LIMIT, 0},                  /* LDT */
        {HVT_SEG_ATTR_P | HVT_SEG_ATTR_S | 0xb, TSS_LIMIT, 0}, /* a code segment */
        {HVT_SEG_ATTR_P | 0xb, 102, 0},                        /* too small for the map base */
        {HVT_SEG_ATTR_P | 0xb | HVT_SEG_ATTR_UNUSABLE, TSS_LIMIT, 0},
    };
    for (int m = M16; m <= M64; m++)
        for (unsigned i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
            setup(m);
            user(0);
            f.st.seg[HVT_SEG_TR].attr = cases[i].attr;
            f.st.seg[HVT_SEG_TR].limit = cases[i].limit;
            f.st.gpr[HVT_RDX] = 0x3f8;
            if (cases[i].ok) {
                CHECK_EQ(run("ec"), HVT_OUT_OKAY);
                CHECK_EQ(ix_count(&f, HVT_TAG_DESC), 2);
            } else {
                expect_gp("ec", 0);
            }
        }
}

/* A TSS read that needs help (RETRY) or fails ends the pass before the port: state untouched. */
static void test_desc_retry(void)
{
    for (unsigned which = 0; which < 2; which++) {
        struct hvt_vcpu_state before;
        unsigned at = 0, seen = 0;
        setup(M64);
        user(0);
        f.st.gpr[HVT_RDX] = 0x3f8;
        CHECK_EQ(run("ec"), HVT_OUT_OKAY);
        for (unsigned i = 0; i < f.r->n_log; i++)
            if (f.r->log[i].info.tag.cls == HVT_TAG_DESC && seen++ == which)
                at = i;
        f.st.rip = IX_CODE;
        before = f.st;
        f.r->fail_at = at;
        f.r->fail_result = HVT_OP_RETRY;
        CHECK_EQ(run("ec"), HVT_OUT_RETRY);
        CHECK_EQ(f.res.out.retry_cause, HVT_RETRY_OTHER); /* a RAM read: the op said nothing */
        CHECK_EQ(ix_count(&f, HVT_TAG_IO), 0);
        CHECK_MEM(&f.st, &before, sizeof(before));
        f.r->fail_result = HVT_OP_UNHANDLEABLE;
        CHECK_EQ(run("ec"), HVT_OUT_UNHANDLEABLE);
        CHECK_MEM(&f.st, &before, sizeof(before));
    }
    /* the TSS behind a supervisor-only page (linear 1 GiB -> physical 0, U/S clear): the CPU
     * reads it with CPL 0 rights */
    setup(M64);
    user(0);
    ram_put64(f.r, 0x2008, 0x0 | 0xe3);
    f.st.seg[HVT_SEG_TR].base = (1ull << 30) + TSS;
    f.st.gpr[HVT_RDX] = 0x3f8;
    CHECK_EQ(run("ec"), HVT_OUT_OKAY);
    CHECK_EQ(ix_count(&f, HVT_TAG_DESC), 2);
    CHECK_U64(ix_op(&f, HVT_TAG_DESC, 0)->gpa, TSS + 0x66);
    CHECK_U64(ix_op(&f, HVT_TAG_DESC, 0)->info.linear, (1ull << 30) + TSS + 0x66);
    /* ... but a CPL 3 data access there faults (the page really is supervisor-only) */
    f.st.gpr[HVT_RBX] = (1ull << 30) + IX_DATA;
    CHECK_EQ(run("8b 03"), HVT_OUT_EXCEPTION);
    CHECK_EQ(f.res.out.vector, HVT_VEC_PF);
}

/* INS/OUTS: the same check, once per pass, before the zero-count test and any memory access. */
static void test_string(void)
{
    const struct ram_log_entry *l[16];
    unsigned n;

    /* permitted: DESC, DESC, then per iteration IN + WRITE */
    setup(M64);
    user(0);
    f.st.gpr[HVT_RDX] = 0x3f8;
    f.st.gpr[HVT_RDI] = IX_DATA;
    f.st.gpr[HVT_RCX] = 2;
    CHECK_EQ(run("f3 6c"), HVT_OUT_OKAY); /* rep insb */
    n = own(l, 16);
    CHECK_EQ(n, 6);
    check_desc_read(l[0], HVT_IO_DESC_MAPBASE, 0x66);
    check_desc_read(l[1], HVT_IO_DESC_BITMAP, MAPBASE + 0x7f);
    for (unsigned i = 0; i < 2; i++) {
        CHECK_EQ(l[2 + 2 * i]->kind, HVT_ACC_IO_IN);
        CHECK_EQ(l[2 + 2 * i]->info.tag.element, i);
        CHECK_EQ(l[3 + 2 * i]->kind, HVT_ACC_WRITE);
    }
    CHECK_EQ(f.r->mem[IX_DATA + 1], 0xab);
    CHECK_U64(f.st.gpr[HVT_RCX], 0);

    /* denied: #GP(0), no register changes, no memory op */
    setup(M64);
    user(0);
    deny(0x3f9);
    f.st.gpr[HVT_RDX] = 0x3f8;
    f.st.gpr[HVT_RSI] = IX_DATA;
    f.st.gpr[HVT_RDI] = IX_DATA;
    f.st.gpr[HVT_RCX] = 3;
    expect_gp("66 f3 6f", 2); /* rep outsw: 0x3f8..0x3f9 */
    expect_gp("66 6d", 2);    /* insw */
    f.st.gpr[HVT_RCX] = 0;
    expect_gp("f3 66 6d", 2); /* checked before the zero-count test */
    f.st.gpr[HVT_RCX] = 0xffffffff00000000ull;
    expect_gp("67 f3 66 6f", 2); /* ... and before the ECX write of a 67 REP */
    f.st.gpr[HVT_RCX] = 0;
    CHECK_EQ(run("f3 6c"), HVT_OUT_OKAY); /* byte at 0x3f8: allowed (RCX = 0: nothing) */
    CHECK_EQ(ix_count(&f, HVT_TAG_DESC), 2);
    CHECK_EQ(ix_count(&f, HVT_TAG_IO), 0);

    /* permission before memory: rDI beyond the mapped 1 GiB would be #PF */
    setup(M64);
    user(0);
    deny(0x60);
    f.st.gpr[HVT_RDX] = 0x60;
    f.st.gpr[HVT_RDI] = 1ull << 30;
    expect_gp("6c", 2);
    f.st.gpr[HVT_RDX] = 0x61; /* allowed: now the memory fault shows, after the DESC reads */
    CHECK_EQ(run("6c"), HVT_OUT_EXCEPTION);
    CHECK_EQ(f.res.out.vector, HVT_VEC_PF);
    CHECK_U64(f.res.out.cr2, 1ull << 30);
    CHECK_EQ(ix_count(&f, HVT_TAG_DESC), 2);
    CHECK_EQ(ix_count(&f, HVT_TAG_IO), 0);

    /* 32-bit mode, OUTSB at CPL 3 with IOPL 3: no TSS read */
    setup(M32);
    user(3);
    deny(0x80);
    f.st.gpr[HVT_RDX] = 0x80;
    f.st.gpr[HVT_RSI] = IX_DATA;
    f.r->mem[IX_DATA] = 0x5a;
    CHECK_EQ(run("6e"), HVT_OUT_OKAY);
    CHECK_EQ(ix_count(&f, HVT_TAG_DESC), 0);
    n = own(l, 16);
    CHECK_EQ(n, 2);
    check_io_op(l[1], HVT_ACC_IO_OUT, 0x80, 1);
    CHECK_EQ(l[1]->data[0], 0x5a);
    /* ... and with IOPL 0 the bit decides */
    user(0);
    f.st.gpr[HVT_RSI] = IX_DATA;
    expect_gp("6e", 2);
}

/* The check on its own, as INS/OUTS use it (bad arguments are the executor's business). */
static void test_check_direct(void)
{
    struct hvt_core_result res;
    struct hvt_ref_opts opts;
    struct hvt_emu e;
    setup(M32);
    user(0);
    deny(0x71);
    memset(&res, 0, sizeof(res));
    memset(&opts, 0, sizeof(opts));
    hvt_cpu_profile_default(&opts.cpu);
    memset(&e, 0, sizeof(e));
    e.st = &f.st;
    e.ops = &ram_ops;
    e.opctx = f.r;
    e.res = &res;
    e.opts = &opts;
    e.mode = HVT_MODE_PROT32;
    e.cpl = 3;
    CHECK_EQ(hvt_io_check(&e, 0x70, 1), HVT_OUT_OKAY);
    CHECK_EQ(hvt_io_check(&e, 0x70, 2), HVT_OUT_EXCEPTION);
    CHECK_EQ(res.out.vector, HVT_VEC_GP);
    e.cpl = 0;
    ram_clear_log(f.r);
    CHECK_EQ(hvt_io_check(&e, 0x71, 4), HVT_OUT_OKAY);
    CHECK_EQ(f.r->n_log, 0);
}

int main(void)
{
    RUN(test_forms);
    RUN(test_retry);
    RUN(test_permitted);
    RUN(test_denied);
    RUN(test_straddle);
    RUN(test_limit);
    RUN(test_tr_unusable);
    RUN(test_desc_retry);
    RUN(test_string);
    RUN(test_check_direct);
    ix_free(&f);
    TEST_DONE();
}
