/* SPDX-License-Identifier: MIT */
/* Core services: a core on the services table alone makes the accesses the reference core
 * makes (one MMU: the same walks, A/D updates, data ops and faults), and core ABI version 2
 * around it: version negotiation with a version-1 plugin, retire flags, the environment. */
#include <stdio.h>
#include <string.h>

#include "mmu_fixture.h"
#include "hvtrace/core.h"

#define CODE 0x401000ull
#define DATA 0x402000ull

static struct fx F;

/* 64-bit paging: code at CODE, data at DATA (A/D clear on the data page). */
static void setup(const char *hex)
{
    uint8_t b[16];
    size_t n = 0;
    fx_setup(&F, FX_L4);
    fx_map4k(&F, CODE, 0x10000, P_URW | P_A, P_URW | P_A | P_D);
    fx_map4k(&F, DATA, 0x11000, P_URW | P_A, P_URW);
    while (*hex && n < sizeof(b)) {
        unsigned v;
        if (sscanf(hex, "%2x", &v) != 1)
            break;
        b[n++] = (uint8_t)v;
        hex += 2;
        while (*hex == ' ')
            hex++;
    }
    memcpy(F.r->mem + 0x10000, b, n);
    F.st.rip = CODE;
    F.st.gpr[HVT_RBX] = DATA + 0x10;
    F.st.gpr[HVT_RDI] = DATA + 0x20;
    F.st.gpr[HVT_RAX] = 0x11223344;
    F.st.gpr[HVT_RDX] = 0x80;
    ram_put32(F.r, 0x11010, 0xcafef00d);
    /* the TSS (I/O bitmap), supervisor */
    fx_map4k(&F, 0x7000, 0x7000, P_URW | P_A, P_P | P_RW | P_A | P_D);
}

/* Runs the state on C; returns the op log in LOG, its length in *N: the fetches and the walks
 * of the code page left out (the probe fetches a byte at a time, and walks for each). */
static struct hvt_core_result run(struct hvt_core *c, struct hvt_vcpu_state *end,
                                  struct ram_log_entry *log, unsigned *n)
{
    struct hvt_core_result res;
    *end = F.st;
    ram_clear_log(F.r);
    CHECK_EQ(hvt_core_emulate2(c, end, NULL, &ram_ops, F.r, &res), 0);
    *n = 0;
    for (unsigned i = 0; i < F.r->n_log; i++)
        if (F.r->log[i].kind != HVT_ACC_FETCH && !(F.r->log[i].info.tag.cls == HVT_TAG_WALK &&
                                                   F.r->log[i].info.linear >> 12 == CODE >> 12))
            log[(*n)++] = F.r->log[i];
    return res;
}

/* The same program on the reference core and on the services probe, from the same memory. */
static void same_as_ref(struct hvt_core *probe, const char *hex, unsigned want_kind)
{
    static struct ram_log_entry la[RAM_LOG_MAX], lb[RAM_LOG_MAX];
    struct hvt_core *ref = NULL;
    struct hvt_vcpu_state ea, eb;
    struct hvt_core_result ra, rb;
    uint8_t *mem0 = malloc(FX_RAM);
    unsigned na, nb;
    char err[200];

    CHECK_EQ(hvt_core_open(&ref, HVT_CORE_REF, err, sizeof(err)), 0);
    memcpy(mem0, F.r->mem, FX_RAM);
    ra = run(ref, &ea, la, &na);
    memcpy(F.r->mem, mem0, FX_RAM); /* the A/D updates again, from the same memory */
    rb = run(probe, &eb, lb, &nb);
    CHECK_EQ(ra.out.kind, want_kind);
    CHECK_EQ(rb.out.kind, ra.out.kind);
    CHECK_EQ(rb.out.vector, ra.out.vector);
    CHECK_EQ(rb.out.error_code, ra.out.error_code);
    CHECK_U64(rb.out.cr2, ra.out.cr2);
    CHECK_EQ(nb, na);
    for (unsigned i = 0; i < na && i < nb; i++) {
        CHECK_EQ(lb[i].kind, la[i].kind);
        CHECK_U64(lb[i].gpa, la[i].gpa);
        CHECK_EQ(lb[i].size, la[i].size);
        CHECK_EQ(lb[i].info.tag.cls, la[i].info.tag.cls);
        CHECK_EQ(lb[i].info.tag.level, la[i].info.tag.level);
        CHECK_EQ(lb[i].info.seg, la[i].info.seg);
        CHECK_EQ(lb[i].info.flags, la[i].info.flags);
        CHECK_U64(lb[i].info.linear, la[i].info.linear);
        CHECK(!memcmp(lb[i].data, la[i].data, la[i].size));
    }
    if (ra.out.kind == HVT_OUT_OKAY) {
        CHECK_U64(eb.rip, ea.rip);
        CHECK_U64(eb.gpr[HVT_RAX], ea.gpr[HVT_RAX]);
        CHECK_U64(eb.gpr[HVT_RDI], ea.gpr[HVT_RDI]);
    }
    free(mem0);
    hvt_core_close(ref);
}

static void test_one_mmu(void)
{
    struct hvt_core *probe = NULL;
    char err[200];
    CHECK_EQ(hvt_core_open(&probe, HVT_PLUGIN_SVC, err, sizeof(err)), 0);
    if (!probe) {
        fprintf(stderr, "%s\n", err);
        return;
    }
    CHECK_EQ(hvt_core_abi(probe), 2);

    setup("8b 03"); /* read: walk, A update, data read */
    same_as_ref(probe, "8b 03", HVT_OUT_OKAY);
    setup("89 03"); /* write: walk, A+D update, data write */
    same_as_ref(probe, "89 03", HVT_OUT_OKAY);
    setup("aa"); /* stosb through ES */
    same_as_ref(probe, "aa", HVT_OUT_OKAY);

    /* faults: not present, a user page read at CPL 3 with a supervisor mapping, a
     * non-canonical address, a write to a read-only page */
    setup("8b 03");
    ram_put64(F.r, fx_ent(1, DATA), 0);
    same_as_ref(probe, "8b 03", HVT_OUT_EXCEPTION);
    setup("89 03");
    ram_put64(F.r, fx_ent(1, DATA), 0x11000 | P_P | P_US | P_A);
    same_as_ref(probe, "89 03", HVT_OUT_EXCEPTION);
    setup("8b 03");
    F.st.gpr[HVT_RBX] = 0x0000900000000000ull;
    same_as_ref(probe, "8b 03", HVT_OUT_EXCEPTION);
    /* a device: the op's RETRY ends the pass with cause MMIO */
    setup("8b 03");
    F.r->mmio_lo = 0x11000;
    F.r->mmio_hi = 0x12000;
    same_as_ref(probe, "8b 03", HVT_OUT_RETRY);
    /* port I/O with the permission check at CPL 3, IOPL 0: the TSS bitmap */
    setup("ee");
    F.st.seg[HVT_SEG_CS].attr |= 3u << 5;
    F.st.seg[HVT_SEG_SS].attr |= 3u << 5;
    same_as_ref(probe, "ee", HVT_OUT_OKAY);
    setup("ee"); /* the bitmap denies port 0x80 */
    F.st.seg[HVT_SEG_CS].attr |= 3u << 5;
    F.st.seg[HVT_SEG_SS].attr |= 3u << 5;
    F.r->mem[0x7000 + 0x66] = 0x20; /* I/O map base 0x20 */
    F.r->mem[0x7000 + 0x20 + 0x10] = 0x01;
    same_as_ref(probe, "ee", HVT_OUT_EXCEPTION);

    /* real mode: the services refuse, with a detail */
    {
        struct hvt_core_result res;
        struct hvt_vcpu_state st;
        setup("8b 03");
        st = F.st;
        st.cr0 = 0;
        CHECK_EQ(hvt_core_emulate2(probe, &st, NULL, &ram_ops, F.r, &res), 0);
        CHECK_EQ(res.out.kind, HVT_OUT_UNHANDLEABLE); /* even raise: no real mode */
        CHECK(strstr(res.detail, "real mode") != NULL);
    }
    hvt_core_close(probe);
}

/* The table itself: every entry present, sized. */
static void test_table(void)
{
    const struct hvt_core_services *s = hvt_core_services();
    CHECK(s != NULL);
    CHECK_EQ(s->size, sizeof(*s));
    CHECK(s->linear && s->translate && s->map && s->read_x && s->write_x && s->cmpxchg_x &&
          s->read && s->write && s->cmpxchg && s->fetch && s->io_check && s->io_in && s->io_out &&
          s->raise && s->cpl && s->mode_bits);
    /* a NULL session: nothing to report into, UNHANDLEABLE */
    CHECK_EQ(s->translate(NULL, 0, HVT_SVC_R, NULL), HVT_OUT_UNHANDLEABLE);
    CHECK_EQ(s->mode_bits(NULL), 0);
}

/* Version 2 around the core: a version-1 plugin still loads and runs (no retire flags), the
 * reference core reports its retire flags, the default environment mirrors the state. */
static void test_abi_v2(void)
{
    struct hvt_core *v1 = NULL, *ref = NULL;
    struct hvt_core_result res;
    struct hvt_vcpu_state st;
    char err[200];

    CHECK_EQ(hvt_core_open(&v1, HVT_PLUGIN_V1, err, sizeof(err)), 0);
    CHECK_EQ(hvt_core_open(&ref, HVT_CORE_REF, err, sizeof(err)), 0);
    if (!v1 || !ref)
        return;
    CHECK_EQ(hvt_core_abi(v1), 1);
    CHECK_EQ(hvt_core_abi(ref), 2);
    CHECK(hvt_core_info(v1)->emulate2 == NULL);

    setup("8b 03");
    F.st.rflags |= HVT_RFLAGS_TF;
    st = F.st;
    memset(&res, 0xee, sizeof(res));
    CHECK_EQ(hvt_core_emulate2(v1, &st, NULL, &ram_ops, F.r, &res), 0);
    CHECK_EQ(res.out.kind, HVT_OUT_OKAY);
    CHECK_U64(st.gpr[HVT_RAX], 0xcafef00d);
    CHECK_EQ(res.retire, 0); /* a version-1 core reports none */

    st = F.st;
    CHECK_EQ(hvt_core_emulate2(ref, &st, NULL, &ram_ops, F.r, &res), 0);
    CHECK_EQ(res.out.kind, HVT_OUT_OKAY);
    CHECK_EQ(res.retire, HVT_RETIRE_SINGLESTEP | HVT_RETIRE_REPORTED);
    /* the version-1 entry point writes no more than a version-1 result */
    {
        union {
            struct hvt_core_result r;
            uint8_t b[sizeof(struct hvt_core_result)];
        } u;
        memset(&u, 0x5a, sizeof(u));
        st = F.st;
        CHECK_EQ(hvt_core_emulate(ref, &st, &ram_ops, F.r, &u.r), 0);
        CHECK_EQ(u.r.out.kind, HVT_OUT_OKAY);
        for (size_t i = HVT_CORE_RESULT_SIZE_V1; i < sizeof(u); i++)
            CHECK_EQ(u.b[i], 0x5a);
    }
    /* a caller's environment too small for this library */
    {
        struct hvt_core_env env;
        memset(&env, 0, sizeof(env));
        env.size = 8;
        st = F.st;
        CHECK_EQ(hvt_core_emulate2(ref, &st, &env, &ram_ops, F.r, &res), -HVT_E_INVALID);
    }
    hvt_core_close(v1);
    hvt_core_close(ref);
}

int main(void)
{
    RUN(test_table);
    RUN(test_one_mmu);
    RUN(test_abi_v2);
    fx_free(&F);
    TEST_DONE();
}
