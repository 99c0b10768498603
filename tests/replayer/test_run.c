/* SPDX-License-Identifier: MIT */
/* Replayer driver on a synthetic multi-chunk trace: order with --jobs, ranges, bisect, errors. */
#include <errno.h>

#include "synth.h"

#define N_EVENTS 240
#define FIRST_BAD 150 /* events from here on have a translation change */

static struct sy S;
static char path[64];

struct seen {
    uint64_t ids[N_EVENTS + 8];
    unsigned cls[N_EVENTS + 8];
    size_t n;
};

static void hook_remap(struct sy *s, uint32_t k)
{
    (void)k;
    sy_put64(s, SY_WIN_PTE, (SY_MMIO + 0x1000) | 0x67);
}

static void make_trace(void)
{
    struct hvt_fmt_writer *w = sy_writer(path, 2048);
    for (unsigned i = 0; i < N_EVENTS; i++) {
        sy_put64(&S, SY_WIN_PTE, SY_MMIO | 0x67);
        S.st.rip = SY_CODE;
        S.st.gpr[HVT_RBX] = SY_WIN;
        sy_event(&S, "8b 03", i >= FIRST_BAD && i % 3 == 0 ? hook_remap : NULL);
        CHECK_EQ(hvt_fmt_writer_append(w, &S.ev), 0);
    }
    CHECK_EQ(hvt_fmt_writer_close(w, NULL), 0);
}

static int collect(void *arg, const struct hvt_rpl_event_report *rep)
{
    struct seen *s = arg;
    if (s->n < N_EVENTS + 8) {
        s->ids[s->n] = rep->ev->id;
        s->cls[s->n] = rep->n_findings ? rep->findings[0].cls + 1 : 0;
        s->n++;
    }
    return 0;
}

static void test_jobs_order(void)
{
    struct hvt_rpl_options o;
    struct hvt_rpl_summary s1, s2;
    struct hvt_rpl_run_info info;
    static struct seen a, b;
    hvt_rpl_options_init(&o);
    CHECK_EQ(hvt_rpl_run(path, &o, collect, &a, NULL, NULL, &s1, &info), 0);
    CHECK(info.chunks > 4); /* small chunks: the parallel path has work to share */
    o.jobs = 2;
    CHECK_EQ(hvt_rpl_run(path, &o, collect, &b, NULL, NULL, &s2, &info), 0);
    CHECK_EQ(a.n, N_EVENTS);
    CHECK_EQ(b.n, N_EVENTS);
    for (size_t i = 0; i < a.n && i < b.n; i++) {
        CHECK_U64(a.ids[i], i);
        CHECK_U64(b.ids[i], a.ids[i]);
        CHECK_EQ(b.cls[i], a.cls[i]);
    }
    CHECK_EQ(s1.events, N_EVENTS);
    CHECK_U64(s1.first_divergent, FIRST_BAD);
    CHECK_EQ(s1.divergent_events, (N_EVENTS - FIRST_BAD) / 3);
    CHECK_EQ(s1.by_class[HVT_RPL_TRANSLATION_CHANGED], (N_EVENTS - FIRST_BAD) / 3);
    CHECK_EQ(s1.by_class[HVT_RPL_REPLAY_MISMATCH], 0);
    CHECK_EQ(s2.divergent_events, s1.divergent_events);
    CHECK_EQ(s2.by_tag[HVT_TAG_WALK], s1.by_tag[HVT_TAG_WALK]);
    CHECK_EQ(s1.n_mnemonics, 1);
    CHECK_STR(s1.mnemonics[0].name, "mov");
}

static int stop_at_10(void *arg, const struct hvt_rpl_event_report *rep)
{
    unsigned *n = arg;
    (*n)++;
    return rep->ev->id == 10;
}

static void progress(void *arg, uint64_t done, uint64_t total)
{
    uint64_t *last = arg;
    CHECK(done > *last && done <= total);
    *last = done;
}

/* The callback can stop a parallel run; progress counts chunks up to the total. */
static void test_stop_progress(void)
{
    struct hvt_rpl_options o;
    struct hvt_rpl_summary s;
    struct hvt_rpl_run_info info;
    unsigned n = 0;
    uint64_t last = 0;
    hvt_rpl_options_init(&o);
    o.jobs = 2;
    CHECK_EQ(hvt_rpl_run(path, &o, stop_at_10, &n, progress, &last, &s, &info), 0);
    CHECK_EQ(n, 11);
    o.jobs = 1;
    last = 0;
    CHECK_EQ(hvt_rpl_run(path, &o, NULL, NULL, progress, &last, &s, &info), 0);
    CHECK_U64(last, info.chunks_replayed);
}

/* Options of an older caller (the first version, before cpu): what lies beyond their size is
 * never read (here it would be a wild cpu pointer); a size below the first version's is
 * refused. */
static void test_older_options_struct_accepted(void)
{
    struct hvt_rpl_options o;
    struct hvt_rpl_summary s;
    static struct seen a;
    hvt_rpl_options_init(&o);
    o.first = 0;
    o.last = 9;
    o.size = HVT_RPL_OPTIONS_SIZE_V1;
    memset((char *)&o + HVT_RPL_OPTIONS_SIZE_V1, 0xee, sizeof(o) - HVT_RPL_OPTIONS_SIZE_V1);
    CHECK_EQ(hvt_rpl_run(path, &o, collect, &a, NULL, NULL, &s, NULL), 0);
    CHECK_EQ(s.events, 10);
    o.size = HVT_RPL_OPTIONS_SIZE_V1 - 1;
    CHECK_EQ(hvt_rpl_run(path, &o, NULL, NULL, NULL, NULL, &s, NULL), -HVT_E_INVALID);
}

static void test_range(void)
{
    struct hvt_rpl_options o;
    struct hvt_rpl_summary s;
    static struct seen a;
    hvt_rpl_options_init(&o);
    o.first = 100;
    o.last = 119;
    o.jobs = 2;
    CHECK_EQ(hvt_rpl_run(path, &o, collect, &a, NULL, NULL, &s, NULL), 0);
    CHECK_EQ(a.n, 20);
    CHECK_U64(a.ids[0], 100);
    CHECK_U64(a.ids[19], 119);
    CHECK_EQ(s.events, 20);
}

static void test_whatif(void)
{
    struct hvt_rpl_options o;
    struct hvt_rpl_summary s;
    hvt_rpl_options_init(&o);
    o.cache = HVT_RPL_CACHE_WALK;
    CHECK_EQ(hvt_rpl_run(path, &o, NULL, NULL, NULL, NULL, &s, NULL), 0);
    CHECK_EQ(s.whatif[HVT_RPL_WHATIF_REMOVED], (N_EVENTS - FIRST_BAD) / 3);
    CHECK_EQ(s.whatif_completes, (N_EVENTS - FIRST_BAD) / 3);
    CHECK_EQ(s.whatif[HVT_RPL_WHATIF_KEPT], 0);
    o.cache = HVT_RPL_CACHE_FULL;
    CHECK_EQ(hvt_rpl_run(path, &o, NULL, NULL, NULL, NULL, &s, NULL), 0);
    CHECK_EQ(s.whatif[HVT_RPL_WHATIF_REMOVED], (N_EVENTS - FIRST_BAD) / 3);
}

static void test_bisect(void)
{
    struct hvt_rpl_options o;
    struct hvt_rpl_bisect_result r;
    hvt_rpl_options_init(&o);
    CHECK_EQ(hvt_rpl_bisect(path, &o, NULL, 0, &r, NULL), 0);
    CHECK_U64(r.event, FIRST_BAD);
    CHECK(!r.exhaustive);
    CHECK(r.chunks_tested < r.chunks);
    CHECK_EQ(hvt_rpl_bisect(path, &o, NULL, 1, &r, NULL), 0);
    CHECK_U64(r.event, FIRST_BAD);
    CHECK(r.exhaustive);
    /* the same core twice: no difference anywhere */
    CHECK_EQ(hvt_rpl_bisect(path, &o, "ref", 0, &r, NULL), 0);
    CHECK_U64(r.event, HVT_NO_EVENT);
    o.first = 0;
    o.last = FIRST_BAD - 1;
    CHECK_EQ(hvt_rpl_bisect(path, &o, NULL, 0, &r, NULL), 0);
    CHECK_U64(r.event, HVT_NO_EVENT);
}

static void test_errors(void)
{
    struct hvt_rpl_options o;
    struct hvt_rpl_summary s;
    struct hvt_rpl_run_info info;
    char bad[80];
    FILE *f;
    hvt_rpl_options_init(&o);
    CHECK_EQ(hvt_rpl_run(NULL, &o, NULL, NULL, NULL, NULL, &s, NULL), -HVT_E_INVALID);
    CHECK_EQ(hvt_rpl_run(path, NULL, NULL, NULL, NULL, NULL, &s, NULL), -HVT_E_INVALID);
    CHECK_EQ(hvt_rpl_run(path, &o, NULL, NULL, NULL, NULL, NULL, NULL), -HVT_E_INVALID);
    CHECK(hvt_rpl_run("/nonexistent/x.hvt", &o, NULL, NULL, NULL, NULL, &s, &info) < 0);
    CHECK(info.err.code < 0);
    o.core = "no-such-core";
    CHECK_EQ(hvt_rpl_run(path, &o, NULL, NULL, NULL, NULL, &s, &info), -HVT_E_NOT_FOUND);
    CHECK(info.message[0] != 0);
    o.core = NULL;
    /* a copy with garbage in the middle: an error saying where, not a crash */
    snprintf(bad, sizeof(bad), "%s.bad", path);
    {
        FILE *in = fopen(path, "rb");
        static uint8_t buf[1 << 20];
        size_t n = in ? fread(buf, 1, sizeof(buf), in) : 0;
        if (in)
            fclose(in);
        for (size_t i = n / 2; i < n / 2 + 64 && i < n; i++)
            buf[i] ^= 0x5a;
        f = fopen(bad, "wb");
        CHECK(f != NULL);
        if (f) {
            fwrite(buf, 1, n, f);
            fclose(f);
        }
    }
    o.jobs = 2;
    CHECK(hvt_rpl_run(bad, &o, NULL, NULL, NULL, NULL, &s, &info) < 0);
    CHECK(info.err.code < 0);
    CHECK(s.events < N_EVENTS);
    /* a crashed writer: no index, the file ends inside a chunk. The good chunks before it are
     * replayed, then the damage is reported. */
    {
        FILE *in = fopen(path, "rb");
        static uint8_t buf[1 << 20];
        size_t n = in ? fread(buf, 1, sizeof(buf), in) : 0;
        if (in)
            fclose(in);
        f = fopen(bad, "wb");
        CHECK(f != NULL);
        if (f) {
            fwrite(buf, 1, n * 2 / 3, f);
            fclose(f);
        }
    }
    for (unsigned j = 1; j <= 2; j++) {
        o.jobs = j;
        CHECK_EQ(hvt_rpl_run(bad, &o, NULL, NULL, NULL, NULL, &s, &info), -HVT_E_TRUNCATED);
        CHECK(info.err.code < 0);
        CHECK(s.events > N_EVENTS / 3 && s.events < N_EVENTS);
    }
    unlink(bad);
}

int main(void)
{
    sy_init(&S, NULL);
    make_trace();
    RUN(test_jobs_order);
    RUN(test_range);
    RUN(test_older_options_struct_accepted);
    RUN(test_stop_progress);
    RUN(test_whatif);
    RUN(test_bisect);
    RUN(test_errors);
    unlink(path);
    sy_free(&S);
    TEST_DONE();
}
