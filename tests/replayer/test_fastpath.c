/* SPDX-License-Identifier: MIT */
/* Replayer fast paths against the slow ones: strict matching of a call in place (against
 * building the access and comparing it field by field), the analysis of a pair of passes when
 * the later one repeats the earlier one, and matching in place when the keys come in the same
 * order (against sorting). Every event is run through an engine with the fast paths and one
 * without; the reports must be the same byte for byte, and the counters show which path ran:
 * synthetic events where the fast path must fall back, then the simulated host's scenarios. */
#include "synth.h"

#include "hvtrace/host.h"
#include "replayer/internal.h"

static struct sy S;
static char dir[200];

static struct hvt_rpl_engine *engine(const struct hvt_fmt_header *hdr, const char *core,
                                     unsigned cache, unsigned match, int slow)
{
    struct hvt_rpl_options o;
    struct hvt_rpl_engine *e = NULL;
    char err[256];
    hvt_rpl_options_init(&o);
    o.core = core;
    o.cache = cache;
    o.match = match;
    CHECK_EQ(hvt_rpl_engine_new(&e, &o, hdr, err, sizeof(err)), 0);
    if (e && slow) {
        e->slow_take = 1;
        e->sc.slow = 1;
    }
    return e;
}

/* The reports of one event by the fast and the slow engine are the same. */
static void same_reports(const struct hvt_rpl_event_report *a, const struct hvt_rpl_event_report *b,
                         uint64_t id)
{
    int same =
        a->status == b->status && !strcmp(a->why, b->why) && !strcmp(a->mnemonic, b->mnemonic) &&
        !strcmp(a->disasm, b->disasm) && a->n_findings == b->n_findings &&
        a->n_divergent == b->n_divergent && a->accesses == b->accesses && a->whatif == b->whatif &&
        a->whatif_completes == b->whatif_completes && !strcmp(a->whatif_detail, b->whatif_detail);
    for (size_t i = 0; same && i < a->n_findings; i++)
        same = !memcmp(&a->findings[i], &b->findings[i], sizeof(a->findings[i]));
    if (!same)
        fprintf(stderr,
                "event %llu: the fast and the slow paths report differently (%zu vs %zu "
                "findings, status %d vs %d)\n",
                (unsigned long long)id, a->n_findings, b->n_findings, a->status, b->status);
    CHECK(same);
}

/* Counters of the fast paths, summed over the engines of a comparison. */
struct counts {
    uint64_t fast_takes, repeats, positional, sorted, findings, mismatches;
};

static void run_both(struct hvt_rpl_engine *fast, struct hvt_rpl_engine *slow,
                     const struct hvt_event *ev, struct counts *n)
{
    struct hvt_rpl_event_report rf, rs;
    uint64_t t0 = fast->n_fast_takes, r0 = fast->sc.n_repeats, p0 = fast->sc.n_positional;
    uint64_t s0 = fast->sc.n_sorted;
    CHECK_EQ(hvt_rpl_engine_event(fast, ev, NULL, &rf), 0);
    CHECK_EQ(hvt_rpl_engine_event(slow, ev, NULL, &rs), 0);
    same_reports(&rf, &rs, ev->id);
    CHECK_U64(slow->n_fast_takes, 0);
    CHECK_U64(slow->sc.n_repeats + slow->sc.n_positional, 0);
    n->fast_takes += fast->n_fast_takes - t0;
    n->repeats += fast->sc.n_repeats - r0;
    n->positional += fast->sc.n_positional - p0;
    n->sorted += fast->sc.n_sorted - s0;
    n->findings += rf.n_findings;
    for (size_t i = 0; i < rf.n_findings; i++)
        n->mismatches += rf.findings[i].cls == HVT_RPL_REPLAY_MISMATCH;
}

/* ---- synthetic events: each mutation of the recording takes another path ---------------- */

typedef void (*mutate_fn)(struct sy *s);

static void hook_remap(struct sy *s, uint32_t k)
{
    (void)k;
    sy_put64(s, SY_WIN_PTE, (SY_MMIO + 0x1000) | 0x67);
}

static void hook_data(struct sy *s, uint32_t k)
{
    (void)k;
    s->mem[SY_DATA] ^= 0xff;
}

/* pass 1's walks moved first, in reverse order: the keys are out of order, so sorted */
static void mut_reorder_walks(struct sy *s)
{
    struct hvt_access tmp[256];
    uint32_t n = s->passes[1].n_accesses, m = 0;
    for (uint32_t i = n; i-- > 0;)
        if (s->acc[1][i].tag.cls == HVT_TAG_WALK || s->acc[1][i].tag.cls == HVT_TAG_AD)
            tmp[m++] = s->acc[1][i];
    for (uint32_t i = 0; i < n; i++)
        if (s->acc[1][i].tag.cls != HVT_TAG_WALK && s->acc[1][i].tag.cls != HVT_TAG_AD)
            tmp[m++] = s->acc[1][i];
    memcpy(s->acc[1], tmp, n * sizeof(tmp[0]));
}

/* pass 1's last two non-walk accesses swapped (a reordering the analysis reports) */
static void mut_swap_data(struct sy *s)
{
    int32_t last = -1, prev = -1;
    for (uint32_t i = 0; i < s->passes[1].n_accesses; i++) {
        if (s->acc[1][i].tag.cls == HVT_TAG_WALK || s->acc[1][i].tag.cls == HVT_TAG_AD)
            continue;
        prev = last;
        last = (int32_t)i;
    }
    if (prev >= 0) {
        struct hvt_access t = s->acc[1][prev];
        s->acc[1][prev] = s->acc[1][last];
        s->acc[1][last] = t;
    }
}

/* pass 1 loses its last access: shorter than pass 0, which it no longer repeats */
static void mut_truncate(struct sy *s)
{
    if (s->passes[1].n_accesses)
        s->passes[1].n_accesses--;
}

/* pass 0's first walk entry recorded with another value: the core's calls no longer match
 * the recording in place (a replay mismatch), and pass 1 does not repeat pass 0 */
static void mut_walk_value(struct sy *s)
{
    s->acc[0][0].data[1] ^= 0x10;
}

/* pass 1's last access (the MMIO write) recorded with other data: the fast call match falls
 * back and names the data */
static void mut_write_data(struct sy *s)
{
    uint32_t n = s->passes[1].n_accesses;
    if (n)
        s->acc[1][n - 1].data[0] ^= 0x5a;
}

/* pass 0's fetch recorded at another linear address */
static void mut_linear(struct sy *s)
{
    for (uint32_t i = 0; i < s->passes[0].n_accesses; i++)
        if (s->acc[0][i].kind == HVT_ACC_FETCH) {
            s->acc[0][i].linear += 0x1000;
            return;
        }
}

/* pass 0 recorded as having committed an iteration of its REP: the analysis then shifts the
 * elements, which the repeat test does not (and the replayed outcome differs) */
static void mut_committed(struct sy *s)
{
    s->passes[0].out.iterations = 1;
}

/* pass 1's walk's tag level changed: keys differ in place */
static void mut_tag(struct sy *s)
{
    s->acc[1][1].tag.level = 7;
}

struct scase {
    const char *name, *hex;
    uint64_t rbx, rsi, rdi, rcx;
    sy_hook hook;
    mutate_fn mutate;
    /* what must have run: fast takes, repeats, sorting, replay mismatches */
    int want_fast, want_repeat, want_sorted, want_mismatch;
};

static const struct scase cases[] = {
    /* mov eax, [rbx] through the MMIO window: pass 1 repeats pass 0 */
    {"clean read", "8b 03", SY_WIN, 0, 0, 0, NULL, NULL, 1, 1, 0, 0},
    /* mov [rbx+8], eax: a write */
    {"clean write", "89 43 08", SY_WIN, 0, 0, 0, NULL, NULL, 1, 1, 0, 0},
    {"translation changed", "8b 03", SY_WIN, 0, 0, 0, hook_remap, NULL, 1, 0, 0, 0},
    /* movsb from RAM to MMIO with the RAM byte changed between the passes */
    {"data changed", "a4", 0, SY_DATA, SY_WIN, 0, hook_data, NULL, 1, 0, 0, 0},
    /* rep movsb of 4 bytes into MMIO: the first write retried, so pass 1 repeats pass 0 */
    {"rep", "f3 a4", 0, SY_DATA, SY_WIN, 4, NULL, NULL, 1, 1, 0, 0},
    {"rep committed", "f3 a4", 0, SY_DATA, SY_WIN, 4, NULL, mut_committed, 1, 0, 0, 1},
    {"walks reordered", "8b 03", SY_WIN, 0, 0, 0, NULL, mut_reorder_walks, 1, 0, 1, 1},
    {"data reordered", "a4", 0, SY_DATA, SY_WIN, 0, NULL, mut_swap_data, 1, 0, 1, 1},
    {"later pass shorter", "8b 03", SY_WIN, 0, 0, 0, NULL, mut_truncate, 1, 0, 0, 1},
    {"walk value", "8b 03", SY_WIN, 0, 0, 0, NULL, mut_walk_value, 1, 0, 0, 1},
    {"write data", "89 43 08", SY_WIN, 0, 0, 0, NULL, mut_write_data, 1, 0, 0, 1},
    {"fetch linear", "8b 03", SY_WIN, 0, 0, 0, NULL, mut_linear, 1, 0, 0, 1},
    {"walk tag", "8b 03", SY_WIN, 0, 0, 0, NULL, mut_tag, 1, 0, 1, 1},
};

/* The paths case T took without what-if (whose simulated passes are analysed too). */
static void check_counts(const struct scase *t, const struct counts *n)
{
    if ((n->fast_takes > 0) != t->want_fast || (n->repeats > 0) != t->want_repeat ||
        (n->sorted > 0) != t->want_sorted || (n->mismatches > 0) != t->want_mismatch)
        fprintf(stderr, "%s: fast takes %llu, repeats %llu, sorted %llu, mismatches %llu\n",
                t->name, (unsigned long long)n->fast_takes, (unsigned long long)n->repeats,
                (unsigned long long)n->sorted, (unsigned long long)n->mismatches);
    CHECK_EQ(n->fast_takes > 0, t->want_fast);
    CHECK_EQ(n->repeats > 0, t->want_repeat);
    CHECK_EQ(n->sorted > 0, t->want_sorted);
    CHECK_EQ(n->mismatches > 0, t->want_mismatch);
}

static void test_synthetic(void)
{
    for (unsigned cache = HVT_RPL_CACHE_NONE; cache <= HVT_RPL_CACHE_FULL; cache++) {
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
            const struct scase *t = &cases[i];
            struct hvt_rpl_engine *fast = engine(NULL, NULL, cache, HVT_RPL_MATCH_STRICT, 0);
            struct hvt_rpl_engine *slow = engine(NULL, NULL, cache, HVT_RPL_MATCH_STRICT, 1);
            struct counts n = {0};
            sy_free(&S);
            sy_init(&S, NULL);
            S.mem[SY_DATA] = 0x11;
            S.mem[SY_DATA + 1] = 0x22;
            S.st.gpr[HVT_RBX] = t->rbx;
            S.st.gpr[HVT_RSI] = t->rsi;
            S.st.gpr[HVT_RDI] = t->rdi;
            S.st.gpr[HVT_RCX] = t->rcx;
            CHECK(sy_event(&S, t->hex, t->hook) >= 2);
            if (t->mutate)
                t->mutate(&S);
            if (fast && slow)
                run_both(fast, slow, &S.ev, &n);
            if (cache == HVT_RPL_CACHE_NONE)
                check_counts(t, &n);
            /* a divergence is found where one was made */
            if (t->hook || t->mutate)
                CHECK(n.findings > 0);
            hvt_rpl_engine_free(fast);
            hvt_rpl_engine_free(slow);
        }
    }
}

/* ---- the simulated host's scenarios -------------------------------------------------------- */

/* Every event of PATH through both engines (CORE, CACHE, MATCH); sums the counters into N. */
static void compare_trace(const char *path, const char *core, unsigned cache, unsigned match,
                          struct counts *n)
{
    struct hvt_fmt_reader *r = NULL;
    struct hvt_rpl_engine *fast, *slow;
    int64_t nc;
    CHECK_EQ(hvt_fmt_reader_open(&r, path, NULL), 0);
    if (!r)
        return;
    fast = engine(hvt_fmt_reader_header(r), core, cache, match, 0);
    slow = engine(hvt_fmt_reader_header(r), core, cache, match, 1);
    nc = hvt_fmt_reader_chunk_count(r);
    CHECK(nc > 0);
    for (int64_t k = 0; fast && slow && k < nc; k++) {
        struct hvt_fmt_chunk *c = NULL;
        CHECK_EQ(hvt_fmt_reader_load_chunk(r, (uint64_t)k, &c), 0);
        for (size_t i = 0; c && i < hvt_fmt_chunk_records(c); i++) {
            struct hvt_record rec;
            CHECK_EQ(hvt_fmt_chunk_record(c, i, &rec), 0);
            if (rec.type == HVT_REC_EVENT)
                run_both(fast, slow, rec.u.event, n);
        }
        hvt_fmt_chunk_free(c);
    }
    hvt_rpl_engine_free(fast);
    hvt_rpl_engine_free(slow);
    hvt_fmt_reader_close(r);
}

static void test_scenarios(void)
{
    static const char *const names[] = {"clean", "pageout", "ptwrite", "pae-pdpte",
                                        "cmps",  "gather",  "adbits",  "mixed"};
    struct counts all = {0};
    unsigned ran = 0;
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        for (unsigned every = 0; every < 2; every++) {
            struct hvt_host_options o;
            char path[256], err[256];
            int rc;
            hvt_host_options_init(&o);
            o.scenario = names[i];
            o.seed = 3;
            o.events = strcmp(names[i], "mixed") ? 0 : 3000;
            o.flags = HVT_HOST_OVERWRITE | (every ? HVT_HOST_RECORD_ALL : 0);
            snprintf(path, sizeof(path), "%s/fastpath-%s-%u.hvt", dir, names[i], every);
            rc = hvt_host_record(path, &o, NULL, err, sizeof(err));
            if (rc == -HVT_E_UNSUPPORTED) {
                fprintf(stderr, "SKIP %s: %s\n", names[i], err);
                continue;
            }
            CHECK_EQ(rc, 0);
            if (rc) {
                fprintf(stderr, "record %s: %s\n", names[i], err);
                continue;
            }
            ran++;
            compare_trace(path, NULL, HVT_RPL_CACHE_NONE, HVT_RPL_MATCH_AUTO, &all);
            compare_trace(path, NULL, HVT_RPL_CACHE_WALK, HVT_RPL_MATCH_AUTO, &all);
            unlink(path);
        }
    }
    CHECK(ran > 0);
    /* the fast paths carry the scenarios; the findings they make are compared too */
    CHECK(all.fast_takes > 0);
    CHECK(all.repeats > 0);
    CHECK(all.positional > 0);
    CHECK(all.findings > 0);
}

/* A core other than the recording's (a mutant that drops the A/D update), matched strictly:
 * calls differ from the recording, the fast path falls back and the mismatches are the slow
 * path's. */
static void test_mutant(void)
{
    struct hvt_host_options o;
    struct counts n = {0};
    char path[256], err[256];
    int rc;
    hvt_host_options_init(&o);
    o.scenario = "adbits";
    o.flags = HVT_HOST_OVERWRITE;
    snprintf(path, sizeof(path), "%s/fastpath-mutant.hvt", dir);
    rc = hvt_host_record(path, &o, NULL, err, sizeof(err));
    if (rc == -HVT_E_UNSUPPORTED)
        return;
    CHECK_EQ(rc, 0);
    compare_trace(path, MUTANT_NOAD, HVT_RPL_CACHE_NONE, HVT_RPL_MATCH_STRICT, &n);
    CHECK(n.mismatches > 0);
    CHECK(n.fast_takes > 0);
    unlink(path);
}

int main(void)
{
    const char *t = getenv("TMPDIR");
    snprintf(dir, sizeof(dir), "%s", t && *t && strlen(t) < 150 ? t : "/tmp");
    sy_init(&S, NULL);
    RUN(test_synthetic);
    RUN(test_scenarios);
    RUN(test_mutant);
    sy_free(&S);
    TEST_DONE();
}
