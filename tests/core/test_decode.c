/* SPDX-License-Identifier: MIT */
/* Decoder: cache hits and misses, fetch split at page ends and CS limits, undecodable and
 * unimplemented instructions, real mode, decoded-form details. */
#include "insn_fixture.h"
#include "decode.h"

#include <capstone/capstone.h>

static struct ix f;

static void test_cache(void)
{
    struct hvt_dec_stats s0, s1;
    ix_setup(&f, 1);
    hvt_ref_dec_stats(f.inst, &s0);
    f.st.gpr[HVT_RBX] = IX_DATA;
    CHECK_EQ(ix_run(&f, "48 01 03"), HVT_OUT_OKAY);
    f.st.rip = IX_CODE;
    CHECK_EQ(ix_run(&f, "48 01 03"), HVT_OUT_OKAY);
    hvt_ref_dec_stats(f.inst, &s1);
    CHECK_EQ(s1.decodes - s0.decodes, 1);
    CHECK_EQ(s1.misses - s0.misses, 1);
    CHECK_EQ(s1.hits - s0.hits, 1);
    /* same bytes, other bytes after them: still a hit */
    f.st.rip = IX_CODE;
    ix_put_hex(&f, IX_CODE + 3, "cc cc cc");
    CHECK_EQ(ix_run(&f, "48 01 03"), HVT_OUT_OKAY);
    hvt_ref_dec_stats(f.inst, &s1);
    CHECK_EQ(s1.hits - s0.hits, 2);
    /* the same bytes in 32-bit mode are another instruction: a miss */
    ix_setup(&f, 0);
    f.st.gpr[HVT_RAX] = 1;
    CHECK_EQ(ix_run(&f, "48 01 03"), HVT_OUT_OKAY); /* dec eax in 32-bit mode */
    CHECK_STR(f.res.detail, "dec");
    CHECK_U64(f.st.gpr[HVT_RAX], 0);
    CHECK_EQ(f.res.insn_len, 1);
    hvt_ref_dec_stats(f.inst, &s1);
    CHECK_EQ(s1.decodes - s0.decodes, 2);
    /* rewritten code bytes are decoded afresh (the key is the bytes) */
    f.st.rip = IX_CODE;
    CHECK_EQ(ix_run(&f, "40"), HVT_OUT_OKAY); /* inc eax */
    CHECK_U64(f.st.gpr[HVT_RAX], 1);
    /* with the cache off, every emulation decodes */
    CHECK_EQ(hvt_core_ref()->set_option(f.inst, "decode-cache", "0"), 0);
    hvt_ref_dec_stats(f.inst, &s0);
    f.st.rip = IX_CODE;
    CHECK_EQ(ix_run(&f, "40"), HVT_OUT_OKAY);
    f.st.rip = IX_CODE;
    CHECK_EQ(ix_run(&f, "40"), HVT_OUT_OKAY);
    hvt_ref_dec_stats(f.inst, &s1);
    CHECK_EQ(s1.decodes - s0.decodes, 2);
    CHECK_EQ(s1.hits - s0.hits, 0);
    CHECK_EQ(hvt_core_ref()->set_option(f.inst, "decode-cache", "1"), 0);
}

/* A small cache keeps working when entries collide and are replaced. */
static void test_cache_direct(void)
{
    struct hvt_decoder *dec = hvt_dec_new(1);
    uint8_t b[16] = {0x48, 0x01, 0x03, 0x90};
    const struct hvt_dinsn *d;
    int err;
    CHECK(dec != NULL);
    CHECK(hvt_dec_lookup(dec, HVT_MODE_LONG64, b, 15) == NULL);
    d = hvt_dec_decode(dec, HVT_MODE_LONG64, b, 15, &err);
    CHECK(d && d->len == 3 && d->id == X86_INS_ADD && d->opsize == 8 && d->addrsize == 8);
    CHECK(d && d->op[0].kind == HVT_DOP_MEM && d->op[0].base == HVT_RBX &&
          d->op[0].seg == HVT_SEG_DS);
    CHECK(hvt_dec_lookup(dec, HVT_MODE_LONG64, b, 15) == d);
    CHECK(hvt_dec_lookup(dec, HVT_MODE_PROT32, b, 15) == NULL);
    CHECK(hvt_dec_lookup(dec, HVT_MODE_LONG64, b, 2) == NULL); /* fewer bytes than the insn */
    for (unsigned i = 0; i < 300; i++) {                       /* fill and overwrite every slot */
        uint8_t c[15] = {0xb8, (uint8_t)i, (uint8_t)(i >> 8), 0, 0};
        d = hvt_dec_decode(dec, HVT_MODE_LONG64, c, 15, &err);
        CHECK(d && d->len == 5 && d->op[1].val == (int64_t)i);
        d = hvt_dec_lookup(dec, HVT_MODE_LONG64, c, 15);
        CHECK(d && d->op[1].val == (int64_t)i);
    }
    /* prefixes in the decoded form */
    {
        uint8_t c[15] = {0x64, 0x67, 0xf0, 0x66, 0x41, 0x01, 0x00};
        d = hvt_dec_decode(dec, HVT_MODE_LONG64, c, 15, &err);
        CHECK(d && (d->pfx & HVT_PFX_LOCK) && (d->pfx & HVT_PFX_ADSZ) && (d->pfx & HVT_PFX_OPSZ) &&
              (d->pfx & HVT_PFX_SEG) && d->seg_ovr == HVT_SEG_FS && d->rex == 0x41 &&
              d->opsize == 2 && d->addrsize == 4 && d->fault == 0);
        CHECK(d && d->op[0].base == HVT_R8 && d->op[0].seg == HVT_SEG_FS);
    }
    hvt_dec_free(dec);
    hvt_dec_free(NULL);
}

static void test_fetch_split(void)
{
    const struct ram_log_entry *e;
    /* a 2-byte instruction that ends at the page end: one fetch of 2 bytes */
    ix_setup(&f, 1);
    f.st.rip = IX_CODE + 0xffe;
    f.st.gpr[HVT_RBX] = IX_DATA;
    CHECK_EQ(ix_run(&f, "01 03"), HVT_OUT_OKAY);
    CHECK_EQ(ix_count(&f, HVT_TAG_FETCH), 1);
    e = ix_op(&f, HVT_TAG_FETCH, 0);
    CHECK(e && e->size == 2 && e->gpa == IX_CODE + 0xffe && e->kind == HVT_ACC_FETCH);
    /* a 3-byte one across it: the rest is fetched from the next page */
    f.st.rip = IX_CODE + 0xffe;
    CHECK_EQ(ix_run(&f, "48 01 03"), HVT_OUT_OKAY);
    CHECK_EQ(ix_count(&f, HVT_TAG_FETCH), 2);
    e = ix_op(&f, HVT_TAG_FETCH, 1);
    CHECK(e && e->gpa == IX_CODE + 0x1000 && e->size == 13);
    CHECK_EQ(f.res.insn_len, 3);
    CHECK_EQ(f.res.insn[2], 0x03);
    ix_setup(&f, 1);
    /* code in MMIO: RETRY, nothing decoded */
    f.r->mmio_lo = IX_CODE;
    f.r->mmio_hi = IX_CODE + 0x1000;
    CHECK_EQ(ix_run(&f, "90"), HVT_OUT_RETRY);
    CHECK_EQ(f.res.insn_len, 0);
    CHECK_U64(f.st.rip, IX_CODE);

    /* 32-bit: CS limit stops the first fetch, an instruction that fits runs */
    ix_setup(&f, 0);
    f.st.seg[HVT_SEG_CS].limit = IX_CODE + 1;
    CHECK_EQ(ix_run(&f, "40"), HVT_OUT_OKAY);
    e = ix_op(&f, HVT_TAG_FETCH, 0);
    CHECK(e && e->size == 2);
    /* ... and one that does not fit faults #GP(0) */
    f.st.rip = IX_CODE;
    CHECK_EQ(ix_run(&f, "81 c0 01 00 00 00"), HVT_OUT_EXCEPTION);
    CHECK_EQ(f.res.out.vector, HVT_VEC_GP);
}

static void test_bad_insns(void)
{
    ix_setup(&f, 1);
    /* opcodes every CPU refuses are #UD (the core ABI: an invalid opcode is never
     * UNIMPLEMENTED), before any data access */
    {
        static const char *const ud[] = {"0f 04",    "c6 0b 00", "c7 38 00 00 00 00", "fe 10",
                                         "ff 38",    "0f ff",    "0f b9 00",          "0f 3b",
                                         "0f ba 18 01"};
        for (unsigned i = 0; i < sizeof(ud) / sizeof(ud[0]); i++) {
            f.st.rip = IX_CODE;
            CHECK_EQ(ix_run(&f, ud[i]), HVT_OUT_EXCEPTION);
            CHECK_EQ(f.res.out.vector, HVT_VEC_UD);
            CHECK_EQ(ix_count(&f, HVT_TAG_DATA), 0);
            CHECK_U64(f.st.rip, IX_CODE);
        }
    }
    f.st.rip = IX_CODE;
    CHECK_EQ(ix_run(&f, "0f 0b"), HVT_OUT_EXCEPTION); /* ud2 */
    CHECK_EQ(f.res.out.vector, HVT_VEC_UD);
    CHECK_EQ(ix_run(&f, "f0 01 d8"), HVT_OUT_EXCEPTION); /* capstone refuses: LOCK misuse */
    CHECK_EQ(f.res.out.vector, HVT_VEC_UD);
    CHECK_STR(f.res.detail, "lock add");
    CHECK_EQ(ix_run(&f, "8d c0"), HVT_OUT_EXCEPTION); /* lea eax, eax */
    CHECK_EQ(f.res.out.vector, HVT_VEC_UD);
    CHECK_EQ(ix_run(&f, "0f a2"), HVT_OUT_UNIMPLEMENTED); /* cpuid */
    CHECK_STR(f.res.detail, "cpuid");
    CHECK_EQ(f.res.insn_len, 2);
    CHECK_EQ(ix_run(&f, "0f 22 d8"), HVT_OUT_UNIMPLEMENTED); /* mov cr3, rax */
    CHECK_U64(f.st.rip, IX_CODE);
    CHECK_EQ(ix_run(&f, "0f 31"), HVT_OUT_UNIMPLEMENTED); /* rdtsc */
    CHECK_EQ(ix_run(&f, "cc"), HVT_OUT_UNIMPLEMENTED);    /* int3 */
    CHECK_STR(f.res.detail, "int3");
    CHECK_EQ(ix_run(&f, "16"), HVT_OUT_EXCEPTION); /* push ss: invalid in 64-bit mode */
    CHECK_EQ(f.res.out.vector, HVT_VEC_UD);
    /* real mode: UNHANDLEABLE */
    ix_setup(&f, 0);
    f.st.cr0 = 0;
    CHECK_EQ(ix_run(&f, "90"), HVT_OUT_UNHANDLEABLE);
    CHECK_EQ(f.r->n_log, 0);
}

int main(void)
{
    RUN(test_cache);
    RUN(test_cache_direct);
    RUN(test_fetch_split);
    RUN(test_bad_insns);
    ix_free(&f);
    TEST_DONE();
}
