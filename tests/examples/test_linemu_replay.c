/* SPDX-License-Identifier: MIT */
/* examples/linemu replays every scenario of the simulated host, recorded with the reference
 * core: in semantic mode with no replay_mismatch and (but for instructions it leaves
 * UNIMPLEMENTED, which are "cannot replay", not mismatches) at least nine events in ten
 * replayed; in strict mode with mismatches, since its access order is its own; with every
 * instruction an event (--record all) without mismatches either; and its broken variants are
 * caught in semantic mode. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hvt_test.h"
#include "hvtrace/host.h"
#include "hvtrace/replay.h"

#define EVENTS 1000

static char dir[200];

struct counts {
    uint64_t notes;
    char first_mismatch[200];
};

static int count_report(void *arg, const struct hvt_rpl_event_report *rep)
{
    struct counts *c = arg;
    for (size_t i = 0; i < rep->n_findings; i++) {
        const struct hvt_rpl_finding *f = &rep->findings[i];
        if (f->cls == HVT_RPL_NOTE)
            c->notes++;
        else if (f->cls == HVT_RPL_REPLAY_MISMATCH && !c->first_mismatch[0])
            snprintf(c->first_mismatch, sizeof(c->first_mismatch), "event %llu pass %u: %s",
                     (unsigned long long)rep->ev->id, f->pass_a, f->detail);
    }
    return 0;
}

static int replay(const char *path, const char *core, unsigned match, struct hvt_rpl_summary *s,
                  struct counts *c)
{
    struct hvt_rpl_options o;
    struct hvt_rpl_run_info info;
    int rc;
    hvt_rpl_options_init(&o);
    o.core = core;
    o.match = match;
    o.flags = HVT_RPL_NO_ANALYSIS;
    memset(c, 0, sizeof(*c));
    rc = hvt_rpl_run(path, &o, count_report, c, NULL, NULL, s, &info);
    if (rc)
        fprintf(stderr, "replay %s: %s %s\n", path, hvt_strerror(rc), info.message);
    return rc;
}

static int record(const char *scenario, unsigned flags, char *path)
{
    struct hvt_host_options o;
    char err[256];
    int rc;
    hvt_host_options_init(&o);
    o.scenario = scenario;
    o.seed = 7;
    o.events = EVENTS;
    o.flags = HVT_HOST_OVERWRITE | flags;
    snprintf(path, 256, "%s/linemu-%s%s.hvt", dir, scenario, flags ? "-all" : "");
    rc = hvt_host_record(path, &o, NULL, err, sizeof(err));
    if (rc)
        fprintf(stderr, "record %s: %s\n", scenario, err);
    return rc;
}

/* Scenarios built on an instruction linemu does not implement: every event is "cannot
 * replay". */
static int needs_unimplemented(const char *scenario)
{
    return !strcmp(scenario, "gather"); /* VPGATHERDD */
}

static void test_scenarios(void)
{
    size_t n = hvt_host_scenario_count();
    CHECK(n >= 8);
    for (size_t i = 0; i < n; i++) {
        const char *name = hvt_host_scenario_name(i);
        struct hvt_rpl_summary s, strict;
        struct counts c, cs;
        char path[256];
        if (record(name, 0, path)) {
            CHECK(0);
            continue;
        }
        if (i == 0) { /* by default, a core that did not record the trace replays semantically */
            struct hvt_rpl_options o;
            char why[256];
            hvt_rpl_options_init(&o);
            o.core = LINEMU_PLUGIN;
            CHECK_EQ(hvt_rpl_match_of(path, &o, why, sizeof(why)), HVT_RPL_MATCH_SEMANTIC);
            printf("default match mode: semantic (%s)\n", why);
        }
        CHECK_EQ(replay(path, LINEMU_PLUGIN, HVT_RPL_MATCH_SEMANTIC, &s, &c), 0);
        CHECK_EQ(replay(path, LINEMU_PLUGIN, HVT_RPL_MATCH_STRICT, &strict, &cs), 0);
        printf("%-10s %4llu events: semantic %4llu replayed, %3llu cannot, %llu skipped, "
               "%llu mismatches, %5llu notes; strict %4llu mismatches\n",
               name, (unsigned long long)s.events, (unsigned long long)s.replayed,
               (unsigned long long)s.cannot_replay, (unsigned long long)s.skipped,
               (unsigned long long)s.by_class[HVT_RPL_REPLAY_MISMATCH], (unsigned long long)c.notes,
               (unsigned long long)strict.by_class[HVT_RPL_REPLAY_MISMATCH]);
        if (c.first_mismatch[0])
            printf("  first semantic mismatch: %s\n", c.first_mismatch);
        CHECK_EQ(s.events, EVENTS);
        CHECK_EQ(s.by_class[HVT_RPL_REPLAY_MISMATCH], 0);
        if (needs_unimplemented(name)) {
            CHECK_EQ(s.cannot_replay, s.events);
        } else {
            CHECK(s.replayed * 10 >= s.events * 9);
            /* the order is linemu's own: one by one, it does not match */
            CHECK(strict.by_class[HVT_RPL_REPLAY_MISMATCH] > 0);
        }
        unlink(path);
    }
}

/* A broken variant replays SCENARIO with mismatches in semantic mode. */
static void expect_caught(const char *mutant, const char *scenario)
{
    struct hvt_rpl_summary s;
    struct counts c;
    char path[256];
    if (record(scenario, 0, path)) {
        CHECK(0);
        return;
    }
    CHECK_EQ(replay(path, mutant, HVT_RPL_MATCH_SEMANTIC, &s, &c), 0);
    printf("%s on %s: %llu mismatches (%s)\n", strrchr(mutant, '/') + 1, scenario,
           (unsigned long long)s.by_class[HVT_RPL_REPLAY_MISMATCH], c.first_mismatch);
    CHECK(s.by_class[HVT_RPL_REPLAY_MISMATCH] > 0);
    CHECK(s.first_divergent != HVT_NO_EVENT);
    unlink(path);
}

/* Every instruction an event (--record all): the RAM-only MOVs, ADDs and register forms
 * replay too, and what linemu does not implement (JMP, INC, MOV r, imm, ...) is "cannot
 * replay", never a mismatch. */
static void test_record_all(void)
{
    static const char *const names[] = {"clean", "pageout", "pae-pdpte", "mixed"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        struct hvt_rpl_summary s;
        struct counts c;
        char path[256];
        if (record(names[i], HVT_HOST_RECORD_ALL, path)) {
            CHECK(0);
            continue;
        }
        CHECK_EQ(replay(path, LINEMU_PLUGIN, HVT_RPL_MATCH_SEMANTIC, &s, &c), 0);
        printf("%-10s --record all, %4llu events: %4llu replayed, %4llu cannot, %llu mismatches\n",
               names[i], (unsigned long long)s.events, (unsigned long long)s.replayed,
               (unsigned long long)s.cannot_replay,
               (unsigned long long)s.by_class[HVT_RPL_REPLAY_MISMATCH]);
        if (c.first_mismatch[0])
            printf("  first mismatch: %s\n", c.first_mismatch);
        CHECK_EQ(s.by_class[HVT_RPL_REPLAY_MISMATCH], 0);
        CHECK(s.replayed * 2 >= s.events); /* its instructions are most of each loop */
        CHECK(s.cannot_replay > 0);
        unlink(path);
    }
}

static void test_mutants(void)
{
    expect_caught(LINEMU_NODIRTY, "adbits"); /* stores that do not set the dirty bit */
    expect_caught(LINEMU_BYTE, "pageout");   /* REP MOVSB writing the wrong byte */
}

int main(void)
{
    const char *t = getenv("TMPDIR");
    snprintf(dir, sizeof(dir), "%s", t && *t && strlen(t) < 150 ? t : "/tmp");
    RUN(test_scenarios);
    RUN(test_record_all);
    RUN(test_mutants);
    TEST_DONE();
}
