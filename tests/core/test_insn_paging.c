/* SPDX-License-Identifier: MIT */
/* Executor over 4-level paging with 4 KiB pages: the op sequence of a read-modify-write (one
 * walk, A/D updates after it), determinism (same state and answers give the same op calls,
 * with and without the decode cache), and a short guest loop run to completion. */
#include "insn_fixture.h"

static struct ix f;

/* 4-level identity map of the first 2 MiB with 4 KiB pages, A/D clear. */
static void map_4k(void)
{
    ram_put64(f.r, 0x1000, 0x2000 | 0x07);
    ram_put64(f.r, 0x2000, 0x3000 | 0x07);
    ram_put64(f.r, 0x3000, 0x4000 | 0x07);
    for (unsigned i = 0; i < 512; i++)
        ram_put64(f.r, 0x4000 + 8 * i, ((uint64_t)i << 12) | 0x07);
}

static void test_rmw_sequence(void)
{
    static const uint8_t want_cls[] = {
        HVT_TAG_WALK,  HVT_TAG_WALK, HVT_TAG_WALK, HVT_TAG_WALK, /* fetch walk */
        HVT_TAG_AD,    HVT_TAG_AD,   HVT_TAG_AD,   HVT_TAG_AD,   /* accessed bits */
        HVT_TAG_FETCH,                                           /* the instruction */
        HVT_TAG_WALK,  HVT_TAG_WALK, HVT_TAG_WALK, HVT_TAG_WALK, /* one walk, for writing */
        HVT_TAG_AD,                                              /* leaf: accessed + dirty */
        HVT_TAG_DATA,  HVT_TAG_DATA};
    ix_setup(&f, 1);
    map_4k();
    f.st.gpr[HVT_RBX] = IX_DATA;
    f.st.gpr[HVT_RAX] = 1;
    CHECK_EQ(ix_run(&f, "48 01 03"), HVT_OUT_OKAY);
    CHECK_EQ(f.r->n_log, sizeof(want_cls));
    for (unsigned i = 0; i < f.r->n_log && i < sizeof(want_cls); i++)
        CHECK_EQ(f.r->log[i].info.tag.cls, want_cls[i]);
    CHECK_EQ(f.r->log[14].kind, HVT_ACC_READ);
    CHECK_EQ(f.r->log[15].kind, HVT_ACC_WRITE);
    CHECK_U64(ram_get64(f.r, 0x4000 + 8 * (IX_DATA >> 12)), IX_DATA | 0x67);
    CHECK_U64(ram_get64(f.r, 0x4000 + 8 * (IX_CODE >> 12)), IX_CODE | 0x27);
    CHECK_U64(ram_get64(f.r, IX_DATA), 1);
}

/* Runs BYTES from a fixed start and returns a copy of the op log. */
static unsigned run_logged(const char *hex, int cache, struct ram_log_entry *out, unsigned max)
{
    unsigned n;
    ix_setup(&f, 1);
    map_4k();
    CHECK_EQ(hvt_core_ref()->set_option(f.inst, "decode-cache", cache ? "1" : "0"), 0);
    f.st.gpr[HVT_RBX] = IX_DATA;
    f.st.gpr[HVT_RSP] = IX_STACK;
    f.st.gpr[HVT_RCX] = 3;
    ram_put64(f.r, IX_DATA, 0x12345);
    ix_run(&f, hex);
    n = f.r->n_log < max ? f.r->n_log : max;
    memcpy(out, f.r->log, n * sizeof(*out));
    return n;
}

static void test_determinism(void)
{
    static const char *insns[] = {"f0 48 0f c1 0b", "ff 33", "0f ab 0b", "48 d3 23",
                                  "87 0b",          "ff 13", "48 f7 33"};
    static struct ram_log_entry a[64], b[64], c[64];
    for (unsigned i = 0; i < sizeof(insns) / sizeof(insns[0]); i++) {
        unsigned na = run_logged(insns[i], 1, a, 64);
        unsigned nb = run_logged(insns[i], 1, b, 64); /* warm cache */
        unsigned nc = run_logged(insns[i], 0, c, 64); /* no cache */
        CHECK(na > 9);
        CHECK_EQ(na, nb);
        CHECK_EQ(na, nc);
        CHECK(na == nb && !memcmp(a, b, na * sizeof(a[0])));
        CHECK(na == nc && !memcmp(a, c, na * sizeof(a[0])));
    }
    CHECK_EQ(hvt_core_ref()->set_option(f.inst, "decode-cache", "1"), 0);
}

/* sum = 0; for (rcx = 10; rcx; rcx--) sum += data[rcx]; then call/ret and hlt */
static void test_guest_loop(void)
{
    unsigned steps = 0;
    ix_setup(&f, 1);
    map_4k();
    for (unsigned i = 0; i <= 10; i++)
        ram_put64(f.r, IX_DATA + 8 * i, i * i);
    ix_put_hex(&f, IX_CODE,
               "48 31 c0"       /* xor rax, rax */
               "b9 0a 00 00 00" /* mov ecx, 10 */
               "48 03 04 cb"    /* add rax, [rbx+rcx*8] */
               "e2 fa"          /* loop -6 */
               "e8 01 00 00 00" /* call +1 */
               "f4"             /* hlt */
               "48 89 43 60"    /* mov [rbx+0x60], rax */
               "c3");           /* ret */
    f.st.gpr[HVT_RBX] = IX_DATA;
    for (;;) {
        ram_clear_log(f.r);
        CHECK_EQ(hvt_core_ref()->emulate(f.inst, &f.st, &ram_ops, f.r, &f.res), 0);
        if (f.res.out.kind != HVT_OUT_OKAY || ++steps > 100)
            break;
    }
    CHECK_EQ(f.res.out.kind, HVT_OUT_UNHANDLEABLE);
    CHECK_STR(f.res.detail, "hlt");
    CHECK_EQ(steps, 2 + 20 + 3);
    CHECK_U64(f.st.gpr[HVT_RAX], 385);
    CHECK_U64(ram_get64(f.r, IX_DATA + 0x60), 385);
    CHECK_U64(f.st.rip, IX_CODE + 19);
    CHECK_U64(f.st.gpr[HVT_RSP], IX_STACK);
}

int main(void)
{
    RUN(test_rmw_sequence);
    RUN(test_determinism);
    RUN(test_guest_loop);
    ix_free(&f);
    TEST_DONE();
}
