/* SPDX-License-Identifier: MIT */
/* Replayer against the simulated host's scenarios: expected classes per scenario, what-if,
 * mutated cores caught by replay, bisect and good/bad bisection. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hvt_test.h"
#include "hvtrace/format.h"
#include "hvtrace/host.h"
#include "hvtrace/replay.h"

static char dir[200];
static int skipped;

/* Records SCENARIO into a temporary trace (PATH, 256 bytes). 0, or 1 when it cannot run yet. */
static int record(const char *scenario, uint64_t events, const struct hvt_kv *copt, size_t ncopt,
                  char *path)
{
    struct hvt_host_options o;
    char err[256];
    int rc;
    hvt_host_options_init(&o);
    o.scenario = scenario;
    o.seed = 7;
    o.events = events;
    o.flags = HVT_HOST_OVERWRITE;
    o.core_options = copt;
    o.n_core_options = ncopt;
    snprintf(path, 256, "%s/rpl-%s%s.hvt", dir, scenario, ncopt ? "-opt" : "");
    rc = hvt_host_record(path, &o, NULL, err, sizeof(err));
    if (rc == -HVT_E_UNSUPPORTED) {
        fprintf(stderr, "SKIP %s: %s\n", scenario, err);
        skipped++;
        return 1;
    }
    CHECK_EQ(rc, 0);
    if (rc)
        fprintf(stderr, "record %s: %s\n", scenario, err);
    return rc ? 1 : 0;
}

/* The match mode replay() asks for (enum hvt_rpl_match). */
static unsigned match_mode;

static int replay(const char *path, const char *core, unsigned cache, unsigned flags, unsigned jobs,
                  struct hvt_rpl_summary *s)
{
    struct hvt_rpl_options o;
    struct hvt_rpl_run_info info;
    int rc;
    hvt_rpl_options_init(&o);
    o.match = match_mode;
    o.core = core;
    o.cache = cache;
    o.flags = flags;
    o.jobs = jobs;
    rc = hvt_rpl_run(path, &o, NULL, NULL, NULL, NULL, s, &info);
    if (rc)
        fprintf(stderr, "replay %s: %s %s\n", path, hvt_strerror(rc), info.message);
    return rc;
}

/* The policy removes the divergences: all of them (STRICT), or nine in ten (a walk buffer
 * leaves a REP's later, unbuffered data reads exposed to the racing writer). */
static void expect_whatif_removed(const char *path, unsigned cache, int strict)
{
    struct hvt_rpl_summary s;
    CHECK_EQ(replay(path, NULL, cache, 0, 1, &s), 0);
    CHECK(s.divergent_events > 0);
    CHECK(s.whatif[HVT_RPL_WHATIF_REMOVED] > 0);
    CHECK(s.whatif_completes > 0);
    if (strict) {
        CHECK_EQ(s.whatif[HVT_RPL_WHATIF_KEPT], 0);
        CHECK_EQ(s.whatif[HVT_RPL_WHATIF_REMOVED], s.divergent_events);
    } else {
        CHECK(s.whatif[HVT_RPL_WHATIF_REMOVED] * 10 >= s.divergent_events * 9);
    }
}

/* A mutant: replay flags it, bisect finds the first affected event, and so does the
 * good/bad bisection between the reference core (as a plugin) and the mutant. */
static void expect_mutant(const char *path, const char *mutant)
{
    struct hvt_rpl_summary s, ref;
    struct hvt_rpl_options o;
    struct hvt_rpl_bisect_result r;
    uint64_t first[2];
    /* the mutation is caught whether accesses must match one by one or by meaning, at the
     * same first event */
    for (unsigned m = HVT_RPL_MATCH_STRICT; m <= HVT_RPL_MATCH_SEMANTIC; m++) {
        match_mode = m;
        CHECK_EQ(replay(path, NULL, 0, HVT_RPL_NO_ANALYSIS, 1, &ref), 0);
        CHECK_EQ(ref.by_class[HVT_RPL_REPLAY_MISMATCH], 0);
        CHECK_EQ(replay(path, mutant, 0, HVT_RPL_NO_ANALYSIS, 1, &s), 0);
        if (s.by_class[HVT_RPL_REPLAY_MISMATCH] == 0)
            fprintf(stderr, "mutant %s not caught in match mode %s\n", mutant,
                    hvt_rpl_match_name(m));
        CHECK(s.by_class[HVT_RPL_REPLAY_MISMATCH] > 0);
        CHECK(s.first_divergent != HVT_NO_EVENT);
        first[m - 1] = s.first_divergent;
        hvt_rpl_options_init(&o);
        o.core = mutant;
        o.flags = HVT_RPL_NO_ANALYSIS;
        o.match = m;
        CHECK_EQ(hvt_rpl_bisect(path, &o, NULL, 0, &r, NULL), 0);
        CHECK_U64(r.event, s.first_divergent);
    }
    match_mode = HVT_RPL_MATCH_AUTO;
    CHECK_U64(first[0], first[1]);
    o.core = REF_PLUGIN;
    o.match = HVT_RPL_MATCH_AUTO;
    CHECK_EQ(hvt_rpl_bisect(path, &o, mutant, 0, &r, NULL), 0);
    CHECK_U64(r.event, first[0]);
    CHECK(r.detail[0] != 0);
}

static void test_clean(void)
{
    char path[256];
    struct hvt_rpl_summary s;
    if (record("clean", 120, NULL, 0, path))
        return;
    CHECK_EQ(replay(path, NULL, 0, 0, 1, &s), 0);
    CHECK(s.events > 0);
    CHECK_EQ(s.divergent_events, 0);
    for (unsigned c = 0; c < HVT_RPL__COUNT; c++)
        CHECK_EQ(s.by_class[c], 0);
    CHECK_EQ(s.cannot_replay, 0);
    expect_mutant(path, MUTANT_FLAG);
    unlink(path);
}

/* The simulated host runs the reference core, a version-2 core that reports retire flags:
 * every pass that ended OKAY carries HVT_RETIRE_REPORTED through the trace (the pass_retire
 * column), no other pass carries any, and the replay compares them without a mismatch. */
static void test_retire_recorded(void)
{
    char path[256];
    if (record("mixed", 300, NULL, 0, path))
        return;
    struct hvt_fmt_reader *r;
    CHECK_EQ(hvt_fmt_reader_open(&r, path, NULL), 0);
    struct hvt_record rec;
    uint64_t okay = 0, other = 0;
    int rc;
    while ((rc = hvt_fmt_reader_next(r, &rec)) == 1) {
        if (rec.type != HVT_REC_EVENT)
            continue;
        for (uint32_t p = 0; p < rec.u.event->n_passes; p++) {
            const struct hvt_pass_outcome *o = &rec.u.event->passes[p].out;
            if (o->kind == HVT_OUT_OKAY) {
                okay++;
                CHECK((o->retire & HVT_RETIRE_REPORTED) != 0);
                CHECK_EQ(o->retire & ~(HVT_RETIRE_KNOWN | HVT_RETIRE_REPORTED), 0);
            } else {
                other++;
                CHECK_EQ(o->retire & HVT_RETIRE_KNOWN, 0);
            }
        }
    }
    CHECK_EQ(rc, 0);
    hvt_fmt_reader_close(r);
    CHECK(okay > 100);
    fprintf(stderr, "  %" PRIu64 " OKAY passes, %" PRIu64 " others\n", okay, other);
    struct hvt_rpl_summary s;
    CHECK_EQ(replay(path, NULL, 0, 0, 1, &s), 0);
    CHECK(s.replayed > 0);
    CHECK_EQ(s.by_class[HVT_RPL_REPLAY_MISMATCH], 0);
    unlink(path);
}

static void test_translation(const char *scenario)
{
    char path[256];
    struct hvt_rpl_summary s;
    if (record(scenario, 80, NULL, 0, path))
        return;
    CHECK_EQ(replay(path, NULL, 0, 0, 1, &s), 0);
    CHECK(s.by_class[HVT_RPL_TRANSLATION_CHANGED] > 0);
    CHECK_EQ(s.by_class[HVT_RPL_REPLAY_MISMATCH], 0);
    CHECK(s.by_tag[HVT_TAG_WALK] > 0);
    if (!strcmp(scenario, "pageout")) /* REP iterations committed on RETRY: benign */
        CHECK(s.by_class[HVT_RPL_REP_PROGRESS] > 0);
    expect_whatif_removed(path, HVT_RPL_CACHE_WALK, !strcmp(scenario, "ptwrite"));
    expect_whatif_removed(path, HVT_RPL_CACHE_FULL, 1);
    unlink(path);
}

static void test_pageout(void)
{
    test_translation("pageout");
}

static void test_ptwrite(void)
{
    test_translation("ptwrite");
}

static void test_cmps(void)
{
    char path[256];
    struct hvt_rpl_summary s;
    if (record("cmps", 60, NULL, 0, path))
        return;
    CHECK_EQ(replay(path, NULL, 0, 0, 1, &s), 0);
    CHECK(s.by_class[HVT_RPL_DISTINCT_OPERANDS] > 0);
    CHECK_EQ(s.by_class[HVT_RPL_DATA_CHANGED], 0);
    CHECK_EQ(s.divergent_events, 0);
    unlink(path);
}

static void test_gather(void)
{
    char path[256];
    struct hvt_rpl_summary s;
    if (record("gather", 40, NULL, 0, path))
        return;
    CHECK_EQ(replay(path, NULL, 0, 0, 1, &s), 0);
    CHECK(s.by_class[HVT_RPL_REGS_MODIFIED_BEFORE_RETRY] > 0);
    CHECK_EQ(s.by_class[HVT_RPL_REPLAY_MISMATCH], 0);
    CHECK_EQ(s.by_class[HVT_RPL_SEQUENCE_CHANGED], 0);
    expect_mutant(path, MUTANT_GATHER);
    unlink(path);
}

static void test_adbits(void)
{
    char path[256];
    struct hvt_rpl_summary s;
    if (record("adbits", 60, NULL, 0, path))
        return;
    CHECK_EQ(replay(path, NULL, 0, 0, 1, &s), 0);
    CHECK(s.by_class[HVT_RPL_AD_BITS_BY_EARLIER_PASS] > 0);
    CHECK_EQ(s.divergent_events, 0);
    expect_mutant(path, MUTANT_NOAD);
    unlink(path);
}

static void test_pae(void)
{
    char path[256];
    struct hvt_rpl_summary s;
    static const struct hvt_kv reread[] = {{"pdpte-reread", "1"}};
    if (record("pae-pdpte", 60, NULL, 0, path))
        return;
    CHECK_EQ(replay(path, NULL, 0, 0, 1, &s), 0);
    CHECK_EQ(s.divergent_events, 0); /* PDPTE registers: the change is not seen */
    expect_mutant(path, MUTANT_PDPTE);
    unlink(path);
    /* recorded by a core that re-reads PDPTEs (core.pdpte-reread=1 in the header): the
     * replay applies the option, and the PDPTE change is a translation change */
    if (record("pae-pdpte", 60, reread, 1, path))
        return;
    CHECK_EQ(replay(path, NULL, 0, 0, 1, &s), 0);
    CHECK_EQ(s.by_class[HVT_RPL_REPLAY_MISMATCH], 0);
    CHECK(s.by_class[HVT_RPL_TRANSLATION_CHANGED] > 0);
    unlink(path);
}

static void test_mixed_jobs(void)
{
    char path[256];
    struct hvt_rpl_summary a, b;
    if (record("mixed", 1500, NULL, 0, path))
        return;
    CHECK_EQ(replay(path, NULL, 0, 0, 1, &a), 0);
    CHECK_EQ(replay(path, NULL, 0, 0, 2, &b), 0);
    CHECK_EQ(a.events, 1500);
    CHECK_EQ(b.events, a.events);
    CHECK_EQ(b.divergent_events, a.divergent_events);
    CHECK_U64(b.first_divergent, a.first_divergent);
    for (unsigned c = 0; c < HVT_RPL__COUNT; c++)
        CHECK_EQ(b.by_class[c], a.by_class[c]);
    CHECK_EQ(a.by_class[HVT_RPL_REPLAY_MISMATCH], 0);
    unlink(path);
}

int main(void)
{
    const char *t = getenv("TMPDIR");
    snprintf(dir, sizeof(dir), "%s", t && *t && strlen(t) < 150 ? t : "/tmp");
    RUN(test_clean);
    RUN(test_retire_recorded);
    RUN(test_pageout);
    RUN(test_ptwrite);
    RUN(test_cmps);
    RUN(test_gather);
    RUN(test_adbits);
    RUN(test_pae);
    RUN(test_mixed_jobs);
    if (skipped && !hvt_test_failures) {
        fprintf(stderr, "%d scenario(s) skipped: an instruction they need is unimplemented\n",
                skipped);
        return 77;
    }
    TEST_DONE();
}
