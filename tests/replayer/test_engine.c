/* SPDX-License-Identifier: MIT */
/* Replayer engine on synthetic events: each class of finding, replay mismatches, bad args. */
#include "synth.h"

static struct sy S;

static struct hvt_rpl_engine *engine_with(unsigned flags, unsigned cache, unsigned match)
{
    struct hvt_rpl_options o;
    struct hvt_rpl_engine *e = NULL;
    char err[256];
    hvt_rpl_options_init(&o);
    o.flags = flags;
    o.cache = cache;
    o.match = match;
    CHECK_EQ(hvt_rpl_engine_new(&e, &o, NULL, err, sizeof(err)), 0);
    return e;
}

static struct hvt_rpl_engine *engine(unsigned flags, unsigned cache)
{
    return engine_with(flags, cache, HVT_RPL_MATCH_AUTO);
}

static struct hvt_rpl_engine *engine_match(unsigned match)
{
    struct hvt_rpl_engine *e = engine_with(HVT_RPL_NO_ANALYSIS, 0, match);
    CHECK_EQ(hvt_rpl_engine_match(e, NULL, 0), match);
    return e;
}

static void reset(void)
{
    sy_free(&S);
    sy_init(&S, NULL);
}

static void hook_remap(struct sy *s, uint32_t k)
{
    (void)k;
    sy_put64(s, SY_WIN_PTE, (SY_MMIO + 0x1000) | 0x67);
}

static void hook_unmap(struct sy *s, uint32_t k)
{
    (void)k;
    sy_put64(s, SY_WIN_PTE, 0);
}

static void hook_data(struct sy *s, uint32_t k)
{
    (void)k;
    s->mem[SY_DATA] ^= 0xff;
}

static void test_clean(void)
{
    struct hvt_rpl_engine *e = engine(0, 0);
    struct hvt_rpl_event_report r;
    reset();
    S.st.gpr[HVT_RBX] = SY_WIN;
    CHECK_EQ(sy_event(&S, "8b 03", NULL), 2); /* mov eax, [rbx] */
    CHECK_EQ(hvt_rpl_engine_event(e, &S.ev, NULL, &r), 0);
    CHECK_EQ(r.status, HVT_RPL_ST_REPLAYED);
    CHECK_EQ(r.n_findings, 0);
    CHECK_EQ(r.n_divergent, 0);
    CHECK(r.accesses > 4);
    hvt_rpl_engine_free(e);
}

static void test_translation(void)
{
    struct hvt_rpl_engine *e = engine(0, 0);
    struct hvt_rpl_event_report r;
    const struct hvt_rpl_finding *f;
    reset();
    S.st.gpr[HVT_RBX] = SY_WIN;
    CHECK_EQ(sy_event(&S, "8b 03", hook_remap), 2);
    CHECK_EQ(hvt_rpl_engine_event(e, &S.ev, NULL, &r), 0);
    CHECK_EQ(sy_count(&r, HVT_RPL_REPLAY_MISMATCH), 0);
    CHECK_EQ(sy_count(&r, HVT_RPL_TRANSLATION_CHANGED), 1);
    CHECK_EQ(r.n_divergent, 1);
    f = sy_find(&r, HVT_RPL_TRANSLATION_CHANGED);
    if (f) {
        CHECK_EQ(f->acc_a.tag.cls, HVT_TAG_WALK);
        CHECK_EQ(f->acc_a.tag.level, 1);
        CHECK_U64(f->acc_a.phys, SY_WIN_PTE);
        CHECK(f->has_data_phys);
        CHECK_U64(f->data_phys_a, SY_MMIO);
        CHECK_U64(f->data_phys_b, SY_MMIO + 0x1000);
        CHECK_EQ(f->pass_a, 0);
        CHECK_EQ(f->pass_b, 1);
    }
    CHECK_STR(r.mnemonic, "mov");
    hvt_rpl_engine_free(e);
}

static void test_fault(void)
{
    struct hvt_rpl_engine *e = engine(0, 0);
    struct hvt_rpl_event_report r;
    reset();
    S.st.gpr[HVT_RBX] = SY_WIN;
    CHECK_EQ(sy_event(&S, "8b 03", hook_unmap), 2);
    CHECK_EQ(S.passes[1].out.kind, HVT_OUT_EXCEPTION);
    CHECK_EQ(hvt_rpl_engine_event(e, &S.ev, NULL, &r), 0);
    CHECK_EQ(sy_count(&r, HVT_RPL_REPLAY_MISMATCH), 0);
    CHECK_EQ(sy_count(&r, HVT_RPL_TRANSLATION_CHANGED), 1);
    CHECK_EQ(sy_count(&r, HVT_RPL_FAULT_CHANGED), 1);
    hvt_rpl_engine_free(e);
}

static void test_data(void)
{
    struct hvt_rpl_engine *e = engine(0, 0);
    struct hvt_rpl_event_report r;
    reset();
    S.mem[SY_DATA] = 0x11;
    S.st.gpr[HVT_RSI] = SY_DATA;
    S.st.gpr[HVT_RDI] = SY_WIN;
    CHECK_EQ(sy_event(&S, "a4", hook_data), 2); /* movsb */
    CHECK_EQ(hvt_rpl_engine_event(e, &S.ev, NULL, &r), 0);
    CHECK_EQ(sy_count(&r, HVT_RPL_REPLAY_MISMATCH), 0);
    CHECK_EQ(sy_count(&r, HVT_RPL_DATA_CHANGED), 1);
    CHECK_EQ(sy_count(&r, HVT_RPL_WRITE_DATA_CHANGED), 1);
    CHECK_EQ(sy_count(&r, HVT_RPL_TRANSLATION_CHANGED), 0);
    hvt_rpl_engine_free(e);
}

static void test_adbits(void)
{
    struct hvt_rpl_engine *e = engine(0, 0);
    struct hvt_rpl_event_report r;
    reset();
    sy_put64(&S, SY_PT + 8 * (SY_DATA >> 12), SY_DATA | 0x07); /* no A, no D */
    S.st.gpr[HVT_RSI] = SY_DATA;
    S.st.gpr[HVT_RDI] = SY_WIN;
    CHECK_EQ(sy_event(&S, "a4", NULL), 2);
    CHECK_EQ(hvt_rpl_engine_event(e, &S.ev, NULL, &r), 0);
    CHECK_EQ(sy_count(&r, HVT_RPL_AD_BITS_BY_EARLIER_PASS), 1);
    CHECK_EQ(r.n_divergent, 0);
    hvt_rpl_engine_free(e);
}

static void test_distinct(void)
{
    struct hvt_rpl_engine *e = engine(0, 0);
    struct hvt_rpl_event_report r;
    reset();
    S.st.gpr[HVT_RSI] = SY_WIN;
    S.st.gpr[HVT_RDI] = SY_WIN;
    CHECK_EQ(sy_event(&S, "a6", NULL), 2); /* cmpsb, both operands one device register */
    CHECK_EQ(hvt_rpl_engine_event(e, &S.ev, NULL, &r), 0);
    CHECK_EQ(sy_count(&r, HVT_RPL_DISTINCT_OPERANDS), 1);
    CHECK_EQ(r.n_divergent, 0);
    hvt_rpl_engine_free(e);
}

static void test_regs_and_mismatch(void)
{
    struct hvt_rpl_engine *e = engine(0, 0), *ea = engine(HVT_RPL_NO_REPLAY, 0);
    struct hvt_rpl_event_report r;
    const struct hvt_rpl_finding *f;
    reset();
    S.st.gpr[HVT_RBX] = SY_WIN;
    CHECK_EQ(sy_event(&S, "8b 03", NULL), 2);
    S.passes[0].end.gpr[HVT_RAX] ^= 1; /* a RETRY pass that touched a register */
    CHECK_EQ(hvt_rpl_engine_event(ea, &S.ev, NULL, &r), 0);
    CHECK_EQ(sy_count(&r, HVT_RPL_REGS_MODIFIED_BEFORE_RETRY), 1);
    CHECK_EQ(sy_count(&r, HVT_RPL_REPLAY_MISMATCH), 0);
    /* the core, replayed, leaves rax alone: the recorded end state is not reproduced */
    CHECK_EQ(hvt_rpl_engine_event(e, &S.ev, NULL, &r), 0);
    CHECK_EQ(sy_count(&r, HVT_RPL_REPLAY_MISMATCH), 1);
    f = sy_find(&r, HVT_RPL_REPLAY_MISMATCH);
    CHECK(f && strstr(f->detail, "rax"));
    CHECK(f && strstr(f->detail, "(rax: recorded 0x") && strstr(f->detail, ", replayed 0x"));
    S.passes[0].end.gpr[HVT_RAX] ^= 1;

    /* a recorded write with other data than the core writes */
    reset();
    S.st.gpr[HVT_RSI] = SY_DATA;
    S.st.gpr[HVT_RDI] = SY_WIN;
    CHECK_EQ(sy_event(&S, "a4", NULL), 2);
    for (uint32_t i = 0; i < S.passes[1].n_accesses; i++)
        if (S.acc[1][i].kind == HVT_ACC_WRITE)
            S.acc[1][i].data[0] ^= 0x80;
    CHECK_EQ(hvt_rpl_engine_event(e, &S.ev, NULL, &r), 0);
    CHECK_EQ(sy_count(&r, HVT_RPL_REPLAY_MISMATCH), 1);
    f = sy_find(&r, HVT_RPL_REPLAY_MISMATCH);
    if (f) {
        CHECK_EQ(f->pass_a, 1);
        CHECK_EQ(f->acc_a.kind, HVT_ACC_WRITE);
        CHECK_EQ(f->acc_b.kind, HVT_ACC_WRITE);
        CHECK(f->idx_a >= 0 && f->idx_a == f->idx_b);
        CHECK(strstr(f->detail, "data") != NULL);
    }
    /* the core makes fewer calls than recorded */
    S.passes[1].n_accesses++;
    S.acc[1][S.passes[1].n_accesses - 1] = S.acc[1][0];
    CHECK_EQ(hvt_rpl_engine_event(e, &S.ev, NULL, &r), 0);
    CHECK(sy_count(&r, HVT_RPL_REPLAY_MISMATCH) >= 1);
    hvt_rpl_engine_free(e);
    hvt_rpl_engine_free(ea);
}

static void test_sequence(void)
{
    struct hvt_rpl_engine *ea = engine(HVT_RPL_NO_REPLAY, 0);
    struct hvt_rpl_event_report r;
    struct hvt_pass *p;
    reset();
    S.st.gpr[HVT_RSI] = SY_DATA;
    S.st.gpr[HVT_RDI] = SY_WIN;
    CHECK_EQ(sy_event(&S, "a4", NULL), 2);
    /* drop pass 1's data read: a missing access */
    p = &S.passes[1];
    for (uint32_t i = 0; i < p->n_accesses; i++) {
        if (S.acc[1][i].tag.cls == HVT_TAG_DATA && S.acc[1][i].kind == HVT_ACC_READ) {
            memmove(&S.acc[1][i], &S.acc[1][i + 1], (p->n_accesses - i - 1) * sizeof(S.acc[1][0]));
            p->n_accesses--;
            break;
        }
    }
    CHECK_EQ(hvt_rpl_engine_event(ea, &S.ev, NULL, &r), 0);
    CHECK_EQ(sy_count(&r, HVT_RPL_SEQUENCE_CHANGED), 1);
    hvt_rpl_engine_free(ea);
}

static void test_cannot(void)
{
    struct hvt_rpl_engine *e = engine(0, 0);
    struct hvt_rpl_event_report r;
    reset();
    /* a synthetic event the core cannot do: its recording says it completed */
    sy_event(&S, "0f 0b", NULL);    /* ud2 */
    sy_event(&S, "0f c7 f0", NULL); /* rdrand eax: not modelled by the core */
    if (S.passes[S.ev.n_passes - 1].out.kind != HVT_OUT_UNIMPLEMENTED) {
        fprintf(stderr, "note: rdrand is implemented; cannot-replay check skipped\n");
        hvt_rpl_engine_free(e);
        return;
    }
    S.passes[S.ev.n_passes - 1].out.kind = HVT_OUT_OKAY;
    CHECK_EQ(hvt_rpl_engine_event(e, &S.ev, NULL, &r), 0);
    CHECK_EQ(r.status, HVT_RPL_ST_CANNOT);
    hvt_rpl_engine_free(e);
}

static void test_bad_args(void)
{
    struct hvt_rpl_options o;
    struct hvt_rpl_engine *e = NULL;
    struct hvt_rpl_event_report r;
    char err[128];
    hvt_rpl_options_init(&o);
    CHECK_EQ(hvt_rpl_engine_new(NULL, &o, NULL, NULL, 0), -HVT_E_INVALID);
    CHECK_EQ(hvt_rpl_engine_new(&e, NULL, NULL, NULL, 0), -HVT_E_INVALID);
    o.cache = 7;
    CHECK_EQ(hvt_rpl_engine_new(&e, &o, NULL, err, sizeof(err)), -HVT_E_INVALID);
    o.cache = 0;
    o.core = "/nonexistent/core.so";
    CHECK_EQ(hvt_rpl_engine_new(&e, &o, NULL, err, sizeof(err)), -HVT_E_NOT_FOUND);
    CHECK(e == NULL);
    o.core = NULL;
    CHECK_EQ(hvt_rpl_engine_new(&e, &o, NULL, err, sizeof(err)), 0);
    CHECK_EQ(hvt_rpl_engine_event(e, NULL, NULL, &r), -HVT_E_INVALID);
    CHECK_EQ(hvt_rpl_engine_event(NULL, &S.ev, NULL, &r), -HVT_E_INVALID);
    hvt_rpl_engine_free(e);
    hvt_rpl_engine_free(NULL);
    CHECK_STR(hvt_rpl_class_name(HVT_RPL_TRANSLATION_CHANGED), "translation_changed");
    CHECK_STR(hvt_rpl_class_name(999), "?");
    CHECK(hvt_rpl_class_benign(HVT_RPL_DISTINCT_OPERANDS));
    CHECK(!hvt_rpl_class_benign(HVT_RPL_DATA_CHANGED));
}

/* The core follows the trace's CPU profile, the default for a trace that records none, or
 * the what-if override; recorded core options this core does not know are warnings. */
static void test_cpu_and_warnings(void)
{
    struct hvt_rpl_options o;
    struct hvt_rpl_engine *e = NULL;
    struct hvt_fmt_header h;
    struct hvt_fmt_cpu_strings cs;
    struct hvt_cpu_profile zen3, sandy;
    const struct hvt_cpu_profile *got;
    static const struct hvt_kv opts[] = {
        {"core.no-such-option", "1"}, {"core.pdpte-reread", "1"}, {"seed", "7"}};
    static const struct hvt_kv bad_value[] = {{"core.pdpte-reread", "maybe"}};
    char err[256];
    int src;

    hvt_rpl_options_init(&o);
    memset(&h, 0, sizeof(h));
    h.format_major = 1; /* a trace before CPU profiles */
    CHECK_EQ(hvt_rpl_engine_new(&e, &o, &h, err, sizeof(err)), 0);
    got = hvt_rpl_engine_cpu(e, &src);
    CHECK_STR(got->name, HVT_CPU_DEFAULT);
    CHECK_EQ(src, HVT_RPL_CPU_DEFAULT);
    CHECK(strstr(hvt_rpl_engine_warnings(e), "records no CPU profile") != NULL);
    hvt_rpl_engine_free(e);

    CHECK_EQ(hvt_cpu_profile_named(&zen3, "amd-zen3"), 0);
    CHECK_EQ(hvt_fmt_header_set_cpu(&h, &zen3, &cs), 0);
    h.options = opts;
    h.n_options = 3;
    CHECK_EQ(hvt_rpl_engine_new(&e, &o, &h, err, sizeof(err)), 0);
    got = hvt_rpl_engine_cpu(e, &src);
    CHECK_EQ(src, HVT_RPL_CPU_TRACE);
    CHECK(hvt_cpu_profile_equal(got, &zen3));
    CHECK(strstr(hvt_rpl_engine_warnings(e), "no-such-option=1 is unknown to core") != NULL);
    CHECK(strstr(hvt_rpl_engine_warnings(e), "pdpte-reread") == NULL);
    hvt_rpl_engine_free(e);

    CHECK_EQ(hvt_cpu_profile_named(&sandy, "intel-sandybridge"), 0);
    o.cpu = &sandy;
    h.n_options = 0;
    CHECK_EQ(hvt_rpl_engine_new(&e, &o, &h, err, sizeof(err)), 0);
    got = hvt_rpl_engine_cpu(e, &src);
    CHECK_EQ(src, HVT_RPL_CPU_OVERRIDE);
    CHECK_STR(got->name, "intel-sandybridge");
    CHECK_STR(hvt_rpl_engine_warnings(e), "");
    hvt_rpl_engine_free(e);
    o.cpu = NULL;

    /* a recorded profile with tokens of a newer build: used, with a warning */
    h.cpu_profile = "amd-zen3 future-choice=x";
    CHECK_EQ(hvt_rpl_engine_new(&e, &o, &h, err, sizeof(err)), 0);
    got = hvt_rpl_engine_cpu(e, &src);
    CHECK_EQ(src, HVT_RPL_CPU_TRACE);
    CHECK_STR(got->vendor, "AuthenticAMD");
    CHECK(strstr(hvt_rpl_engine_warnings(e), "future-choice") != NULL);
    hvt_rpl_engine_free(e);
    /* one that does not parse: the default, with a warning */
    h.cpu_profile = "family=banana";
    CHECK_EQ(hvt_rpl_engine_new(&e, &o, &h, err, sizeof(err)), 0);
    got = hvt_rpl_engine_cpu(e, &src);
    CHECK_EQ(src, HVT_RPL_CPU_DEFAULT);
    CHECK(strstr(hvt_rpl_engine_warnings(e), "does not parse") != NULL);
    hvt_rpl_engine_free(e);

    /* a value the core refuses for an option it knows is still an error */
    h.options = bad_value;
    h.n_options = 1;
    CHECK_EQ(hvt_rpl_engine_new(&e, &o, &h, err, sizeof(err)), -HVT_E_INVALID);
    CHECK(strstr(err, "pdpte-reread=maybe") != NULL);
    CHECK(hvt_rpl_engine_cpu(NULL, NULL) == NULL);
    CHECK(hvt_rpl_engine_warnings(NULL) == NULL);
}

/* Pass K's accesses with the walks and A/D updates moved first, in reverse order, the rest in
 * their order: another legal order (every translation before its use). */
static void reorder_walks_first(struct sy *s, uint32_t k)
{
    struct hvt_access tmp[256];
    uint32_t n = s->passes[k].n_accesses, m = 0;
    for (uint32_t i = n; i-- > 0;)
        if (s->acc[k][i].tag.cls == HVT_TAG_WALK || s->acc[k][i].tag.cls == HVT_TAG_AD)
            tmp[m++] = s->acc[k][i];
    for (uint32_t i = 0; i < n; i++)
        if (s->acc[k][i].tag.cls != HVT_TAG_WALK && s->acc[k][i].tag.cls != HVT_TAG_AD)
            tmp[m++] = s->acc[k][i];
    memcpy(s->acc[k], tmp, n * sizeof(tmp[0]));
}

/* Splits pass K's first fetch into two accesses at byte AT. */
static void split_fetch(struct sy *s, uint32_t k, uint32_t at)
{
    struct hvt_pass *p = &s->passes[k];
    for (uint32_t i = 0; i < p->n_accesses; i++) {
        struct hvt_access *a = &s->acc[k][i];
        if (a->kind != HVT_ACC_FETCH || a->size <= at)
            continue;
        memmove(a + 1, a, (p->n_accesses - i) * sizeof(*a));
        p->n_accesses++;
        a[1].phys += at;
        a[1].linear += at;
        a[1].size -= at;
        memmove(a[1].data, a[1].data + at, a[1].size);
        a[0].size = at;
        return;
    }
}

static unsigned count_cls(const struct hvt_rpl_event_report *r, unsigned cls, const char *text)
{
    unsigned n = 0;
    for (size_t i = 0; i < r->n_findings; i++)
        n += r->findings[i].cls == cls && (!text || strstr(r->findings[i].detail, text));
    return n;
}

/* Semantic replay: the same accesses in another legal order match, and the notes say how the
 * order differs; what changes the meaning (a missing A/D update, other data, an entry the
 * recording never read) is still a mismatch. */
static void test_semantic(void)
{
    struct hvt_rpl_engine *strict = engine_match(HVT_RPL_MATCH_STRICT);
    struct hvt_rpl_engine *sem = engine_match(HVT_RPL_MATCH_SEMANTIC);
    struct hvt_rpl_event_report r;
    char why[200];

    /* movsb from RAM to a device page: walks of both operands, a fetch, read, write */
    reset();
    S.st.gpr[HVT_RSI] = SY_DATA;
    S.st.gpr[HVT_RDI] = SY_WIN;
    CHECK_EQ(sy_event(&S, "a4", NULL), 2);
    CHECK_EQ(hvt_rpl_engine_event(strict, &S.ev, NULL, &r), 0);
    CHECK_EQ(count_cls(&r, HVT_RPL_REPLAY_MISMATCH, NULL), 0);
    CHECK_EQ(hvt_rpl_engine_event(sem, &S.ev, NULL, &r), 0);
    CHECK_EQ(count_cls(&r, HVT_RPL_REPLAY_MISMATCH, NULL), 0);
    CHECK_EQ(count_cls(&r, HVT_RPL_NOTE, NULL), 0); /* the recording's own order: no note */

    /* the recording in another order: strict flags it, semantic notes it */
    reorder_walks_first(&S, 1);
    CHECK_EQ(hvt_rpl_engine_event(strict, &S.ev, NULL, &r), 0);
    CHECK_EQ(count_cls(&r, HVT_RPL_REPLAY_MISMATCH, NULL), 1);
    CHECK_EQ(hvt_rpl_engine_event(sem, &S.ev, NULL, &r), 0);
    CHECK_EQ(count_cls(&r, HVT_RPL_REPLAY_MISMATCH, NULL), 0);
    CHECK_EQ(count_cls(&r, HVT_RPL_NOTE, "order differs"), 1);
    CHECK(hvt_rpl_class_benign(HVT_RPL_NOTE));
    CHECK(!strcmp(hvt_rpl_class_name(HVT_RPL_NOTE), "note"));

    /* the recording read the same entries twice (once per operand on one page): a core that
     * reads them once has read the set */
    reset();
    S.st.gpr[HVT_RDI] = SY_WIN;
    CHECK_EQ(sy_event(&S, "aa", NULL), 2);
    {
        struct hvt_pass *p = &S.passes[1];
        uint32_t n = p->n_accesses;
        for (uint32_t i = 0; i < n; i++)
            if (S.acc[1][i].tag.cls == HVT_TAG_WALK && S.acc[1][i].linear >> 12 == SY_WIN >> 12)
                S.acc[1][p->n_accesses++] = S.acc[1][i];
        CHECK(p->n_accesses > n);
    }
    CHECK_EQ(hvt_rpl_engine_event(sem, &S.ev, NULL, &r), 0);
    CHECK_EQ(count_cls(&r, HVT_RPL_REPLAY_MISMATCH, NULL), 0);

    /* a fetch split otherwise: the same bytes */
    reset();
    S.st.gpr[HVT_RBX] = SY_WIN;
    CHECK_EQ(sy_event(&S, "8b 03", NULL), 2);
    split_fetch(&S, 0, 1);
    CHECK_EQ(hvt_rpl_engine_event(strict, &S.ev, NULL, &r), 0);
    CHECK_EQ(count_cls(&r, HVT_RPL_REPLAY_MISMATCH, NULL), 1);
    CHECK_EQ(hvt_rpl_engine_event(sem, &S.ev, NULL, &r), 0);
    CHECK_EQ(count_cls(&r, HVT_RPL_REPLAY_MISMATCH, NULL), 0);
    /* a fetched byte the recording does not hold */
    for (uint32_t i = 0; i < S.passes[0].n_accesses; i++)
        if (S.acc[0][i].kind == HVT_ACC_FETCH && S.acc[0][i].size > 1)
            S.acc[0][i].size = 1; /* only 2 bytes left of the fetch: "8b 03" needs them all */
    CHECK_EQ(hvt_rpl_engine_event(sem, &S.ev, NULL, &r), 0);
    CHECK_EQ(count_cls(&r, HVT_RPL_REPLAY_MISMATCH, "did not fetch"), 1);

    /* the A/D update of the data page gone from the recording: the core's is one too many */
    reset();
    S.st.gpr[HVT_RDI] = SY_WIN;
    S.st.gpr[HVT_RAX] = 0x5a;
    sy_put64(&S, SY_WIN_PTE, SY_MMIO | 0x07); /* A and D clear: the write sets them */
    CHECK_EQ(sy_event(&S, "aa", NULL), 2);    /* stosb */
    {
        struct hvt_pass *p = &S.passes[0];
        uint32_t j = 0;
        int dropped = 0;
        for (uint32_t i = 0; i < p->n_accesses; i++) {
            if (!dropped && S.acc[0][i].tag.cls == HVT_TAG_AD) {
                dropped = 1;
                continue;
            }
            S.acc[0][j++] = S.acc[0][i];
        }
        CHECK(dropped);
        p->n_accesses = j;
    }
    CHECK_EQ(hvt_rpl_engine_event(sem, &S.ev, NULL, &r), 0);
    CHECK_EQ(count_cls(&r, HVT_RPL_REPLAY_MISMATCH, "A/D update the recording did not"), 1);

    /* other data written */
    reset();
    S.st.gpr[HVT_RDI] = SY_WIN;
    S.st.gpr[HVT_RAX] = 0x5a;
    CHECK_EQ(sy_event(&S, "aa", NULL), 2);
    for (uint32_t i = 0; i < S.passes[1].n_accesses; i++)
        if (S.acc[1][i].kind == HVT_ACC_WRITE)
            S.acc[1][i].data[0] ^= 1;
    CHECK_EQ(hvt_rpl_engine_event(sem, &S.ev, NULL, &r), 0);
    CHECK_EQ(count_cls(&r, HVT_RPL_REPLAY_MISMATCH, "data"), 1);

    /* every differing field is named, not just the first (strict and semantic alike) */
    for (uint32_t i = 0; i < S.passes[1].n_accesses; i++)
        if (S.acc[1][i].kind == HVT_ACC_WRITE) {
            S.acc[1][i].data[0] ^= 1; /* back as it was */
            S.acc[1][i].tag.element = 3;
            S.acc[1][i].phys += 0x100;
            S.acc[1][i].size = 2;
            S.acc[1][i].seg = HVT_SEG_FS;
        }
    CHECK_EQ(hvt_rpl_engine_event(strict, &S.ev, NULL, &r), 0);
    CHECK_EQ(count_cls(&r, HVT_RPL_REPLAY_MISMATCH, "tag, address, size, segment"), 1);

    /* a paging entry the recording never read (another physical address) */
    reset();
    S.st.gpr[HVT_RDI] = SY_WIN;
    CHECK_EQ(sy_event(&S, "aa", NULL), 2);
    for (uint32_t i = 0; i < S.passes[1].n_accesses; i++)
        if (S.acc[1][i].tag.cls == HVT_TAG_WALK && S.acc[1][i].tag.level == 1)
            S.acc[1][i].phys += 8;
    CHECK_EQ(hvt_rpl_engine_event(sem, &S.ev, NULL, &r), 0);
    CHECK_EQ(count_cls(&r, HVT_RPL_REPLAY_MISMATCH, "paging entry the recording did not"), 1);

    /* a recorded data access the core does not make */
    reset();
    S.st.gpr[HVT_RDI] = SY_WIN;
    CHECK_EQ(sy_event(&S, "aa", NULL), 2);
    S.acc[1][S.passes[1].n_accesses] = S.acc[1][S.passes[1].n_accesses - 1];
    S.acc[1][S.passes[1].n_accesses].tag.element = 1;
    S.passes[1].n_accesses++;
    CHECK_EQ(hvt_rpl_engine_event(sem, &S.ev, NULL, &r), 0);
    CHECK_EQ(count_cls(&r, HVT_RPL_REPLAY_MISMATCH, "did not make this recorded access"), 1);

    /* retire flags: compared when both sides report them */
    reset();
    S.st.gpr[HVT_RDI] = SY_WIN;
    CHECK_EQ(sy_event(&S, "aa", NULL), 2);
    CHECK_EQ(S.passes[1].out.retire, HVT_RETIRE_REPORTED); /* the reference core reports */
    S.passes[1].out.retire |= HVT_RETIRE_STI_SHADOW;
    CHECK_EQ(hvt_rpl_engine_event(strict, &S.ev, NULL, &r), 0);
    CHECK_EQ(count_cls(&r, HVT_RPL_REPLAY_MISMATCH, "retire flags"), 1);
    S.passes[1].out.retire = 0; /* not reported (an older trace): not compared */
    CHECK_EQ(hvt_rpl_engine_event(strict, &S.ev, NULL, &r), 0);
    CHECK_EQ(count_cls(&r, HVT_RPL_REPLAY_MISMATCH, NULL), 0);

    CHECK_EQ(hvt_rpl_engine_match(sem, why, sizeof(why)), HVT_RPL_MATCH_SEMANTIC);
    CHECK(!strcmp(why, "asked for"));
    CHECK(!strcmp(hvt_rpl_match_name(HVT_RPL_MATCH_AUTO), "auto"));
    CHECK(!strcmp(hvt_rpl_match_name(99), "?"));
    hvt_rpl_engine_free(strict);
    hvt_rpl_engine_free(sem);
}

/* AUTO: no header to compare with is strict; a header naming another core is semantic. */
static void test_match_auto(void)
{
    struct hvt_rpl_options o;
    struct hvt_rpl_engine *e = NULL;
    struct hvt_fmt_header h;
    char why[200];
    hvt_rpl_options_init(&o);
    CHECK_EQ(hvt_rpl_engine_new(&e, &o, NULL, why, sizeof(why)), 0);
    CHECK_EQ(hvt_rpl_engine_match(e, NULL, 0), HVT_RPL_MATCH_STRICT);
    hvt_rpl_engine_free(e);
    memset(&h, 0, sizeof(h));
    h.core_name = "xen-x86-emulate";
    h.core_build_id = "4.19";
    CHECK_EQ(hvt_rpl_engine_new(&e, &o, &h, why, sizeof(why)), 0);
    CHECK_EQ(hvt_rpl_engine_match(e, why, sizeof(why)), HVT_RPL_MATCH_SEMANTIC);
    CHECK(strstr(why, "xen-x86-emulate") != NULL);
    hvt_rpl_engine_free(e);
    h.core_name = hvt_core_ref()->name;
    h.core_build_id = hvt_core_ref()->build_id;
    CHECK_EQ(hvt_rpl_engine_new(&e, &o, &h, why, sizeof(why)), 0);
    CHECK_EQ(hvt_rpl_engine_match(e, why, sizeof(why)), HVT_RPL_MATCH_STRICT);
    hvt_rpl_engine_free(e);
    o.match = HVT_RPL_MATCH__COUNT;
    CHECK_EQ(hvt_rpl_engine_new(&e, &o, &h, why, sizeof(why)), -HVT_E_INVALID);
}

int main(void)
{
    sy_init(&S, NULL);
    RUN(test_cpu_and_warnings);
    RUN(test_clean);
    RUN(test_translation);
    RUN(test_fault);
    RUN(test_data);
    RUN(test_adbits);
    RUN(test_distinct);
    RUN(test_regs_and_mismatch);
    RUN(test_sequence);
    RUN(test_cannot);
    RUN(test_bad_args);
    RUN(test_semantic);
    RUN(test_match_auto);
    sy_free(&S);
    TEST_DONE();
}
