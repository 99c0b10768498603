/* SPDX-License-Identifier: MIT */
/* Host tests: one scenario (argv[1]): same seed twice gives the same trace, the trace verifies,
 * and it has the shape the scenario exists to show. Exit 77 (skip) while the core reports
 * UNIMPLEMENTED for one of the scenario's instructions. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hvt_test.h"
#include "hvtrace/host.h"
#include "trace_shape.h"

static char dir[] = "/tmp/hvt-host-test-XXXXXX";
static const char *scenario;
static int skipped;

/* Records SCENARIO with the given cache policy / core option into dir/NAME. 0, or 77 when the
 * core cannot run the scenario yet (the caller skips). */
static int record(const char *name, unsigned cache, uint64_t seed, const struct hvt_kv *core_opt,
                  char *path, size_t len, struct hvt_host_stats *st)
{
    struct hvt_host_options o;
    char err[512];
    int rc;
    hvt_host_options_init(&o);
    o.scenario = scenario;
    o.seed = seed;
    o.cache = cache;
    o.flags = HVT_HOST_OVERWRITE;
    if (!strcmp(scenario, "mixed"))
        o.events = 1500; /* keep the test fast */
    if (core_opt) {
        o.core_options = core_opt;
        o.n_core_options = 1;
    }
    snprintf(path, len, "%s/%s", dir, name);
    memset(st, 0, sizeof(*st));
    st->size = sizeof(*st);
    rc = hvt_host_record(path, &o, st, err, sizeof(err));
    if (rc == -HVT_E_UNSUPPORTED && strstr(err, "does not implement")) {
        fprintf(stderr, "SKIP %s: %s\n", scenario, err);
        skipped = 1;
        return 77;
    }
    if (rc < 0)
        fprintf(stderr, "record %s: %s (%s)\n", name, hvt_strerror(rc), err);
    CHECK_EQ(rc, 0);
    return rc;
}

static int verify_ok(const char *path)
{
    struct hvt_fmt_verify_report rep;
    memset(&rep, 0, sizeof(rep));
    int rc = hvt_fmt_verify(path, &rep, NULL, NULL);
    if (rc < 0)
        fprintf(stderr, "%s: verify: %s\n", path, hvt_strerror(rc));
    return rc == 0 && rep.chunks_bad == 0 && rep.has_index;
}

struct shape {
    unsigned ev_walk_diff;      /* events whose later pass read different walk data */
    unsigned ev_walk_beyond_ad; /* ... differing in more than A/D bits */
    unsigned ev_retry_state;    /* events with a RETRY pass whose end state != init */
    unsigned ev_cmps_split;     /* events whose last pass read two values at one address */
    unsigned ev_unhandleable;   /* events ending UNHANDLEABLE (ioreq mismatch) */
    unsigned ev_pdpte_reads;    /* events with PAE PDPTE walk reads */
    unsigned ev_multi_pass;
};

static void measure(const struct trace *t, struct shape *s)
{
    memset(s, 0, sizeof(*s));
    for (size_t i = 0; i < t->n; i++) {
        const struct hvt_event *e = t->ev[i];
        unsigned beyond = 0;
        if (e->n_passes > 1)
            s->ev_multi_pass++;
        if (walk_diffs(e, &beyond)) {
            s->ev_walk_diff++;
            s->ev_walk_beyond_ad += beyond > 0;
        }
        for (uint32_t p = 0; p < e->n_passes; p++) {
            const struct hvt_pass *ps = &e->passes[p];
            if (ps->out.kind == HVT_OUT_RETRY &&
                (memcmp(ps->end.ymm, e->init.ymm, sizeof(e->init.ymm)) ||
                 memcmp(ps->end.gpr, e->init.gpr, sizeof(e->init.gpr)))) {
                s->ev_retry_state++;
                break;
            }
        }
        if (e->n_passes && e->passes[e->n_passes - 1].out.kind == HVT_OUT_UNHANDLEABLE)
            s->ev_unhandleable++;
        for (uint32_t p = 0; p < e->n_passes; p++) {
            int found = 0;
            for (uint32_t a = 0; a < e->passes[p].n_accesses; a++) {
                const struct hvt_access *x = &e->passes[p].accesses[a];
                found |= x->tag.cls == HVT_TAG_WALK && x->tag.level == HVT_WALK_PAE_PDPTE;
            }
            if (found) {
                s->ev_pdpte_reads++;
                break;
            }
        }
        if (e->n_passes) {
            /* CMPS: operand 0 and operand 1 read one address and got different values */
            const struct hvt_pass *ps = &e->passes[e->n_passes - 1];
            const struct hvt_access *op[2] = {NULL, NULL};
            for (uint32_t a = 0; a < ps->n_accesses; a++) {
                const struct hvt_access *x = &ps->accesses[a];
                if (x->tag.cls == HVT_TAG_DATA && x->kind == HVT_ACC_READ && x->tag.operand < 2 &&
                    x->outcome == HVT_OP_OKAY)
                    op[x->tag.operand] = x;
            }
            if (op[0] && op[1] && op[0]->phys == op[1]->phys &&
                memcmp(op[0]->data, op[1]->data, op[0]->size))
                s->ev_cmps_split++;
        }
    }
}

/* Operand 0 of a CMPS never changes between passes (the completed request is replayed). */
static void check_cmps_operand_stable(const struct trace *t)
{
    for (size_t i = 0; i < t->n; i++) {
        const struct hvt_event *e = t->ev[i];
        const uint8_t *first = NULL;
        for (uint32_t p = 0; p < e->n_passes; p++) {
            for (uint32_t a = 0; a < e->passes[p].n_accesses; a++) {
                const struct hvt_access *x = &e->passes[p].accesses[a];
                if (x->tag.cls != HVT_TAG_DATA || x->tag.operand != 0 ||
                    x->outcome != HVT_OP_OKAY || x->kind != HVT_ACC_READ)
                    continue;
                if (!first)
                    first = x->data;
                else
                    CHECK_MEM(first, x->data, x->size);
            }
        }
    }
}

static int run(void)
{
    char a[512], b[512], c[512];
    struct hvt_host_stats sa, sb, sc;
    struct trace ta, tb, tc;
    struct shape sh, shc;
    int rc;

    /* determinism: same seed twice */
    if ((rc = record("a.hvt", HVT_HOST_CACHE_NONE, 7, NULL, a, sizeof(a), &sa)))
        return rc;
    if ((rc = record("b.hvt", HVT_HOST_CACHE_NONE, 7, NULL, b, sizeof(b), &sb)))
        return rc;
    CHECK(verify_ok(a));
    CHECK(verify_ok(b));
    CHECK_EQ(trace_load(a, &ta), 0);
    CHECK_EQ(trace_load(b, &tb), 0);
    CHECK(ta.n > 0);
    CHECK(trace_same(&ta, &tb));
    CHECK_U64(sa.rec_events, ta.n);
    CHECK_U64(sa.rec_dropped, 0);
    measure(&ta, &sh);
    fprintf(stderr,
            "%s: %zu events, %u multi-pass, walk diffs %u (beyond A/D %u), retry-state "
            "%u, cmps split %u, unhandleable %u\n",
            scenario, ta.n, sh.ev_multi_pass, sh.ev_walk_diff, sh.ev_walk_beyond_ad,
            sh.ev_retry_state, sh.ev_cmps_split, sh.ev_unhandleable);

    /* a different seed gives a different interleaving (agents on other events) */
    if (strcmp(scenario, "adbits") && strcmp(scenario, "gather")) {
        if ((rc = record("c.hvt", HVT_HOST_CACHE_NONE, 8, NULL, c, sizeof(c), &sc)))
            return rc;
        CHECK_EQ(trace_load(c, &tc), 0);
        CHECK(!trace_same(&ta, &tc));
        trace_free(&tc);
    }

    if (!strcmp(scenario, "clean")) {
        CHECK_EQ(sh.ev_walk_diff, 0);
        CHECK_EQ(sh.ev_unhandleable, 0);
        CHECK(sh.ev_multi_pass > 0);
        CHECK_U64(sa.ioreq_mismatches, 0);
    } else if (!strcmp(scenario, "pageout") || !strcmp(scenario, "ptwrite")) {
        CHECK(sh.ev_walk_beyond_ad > 0);
        CHECK(sa.agent_actions > 0);
        /* with the access-once buffer for walks: no pass reads different walk data */
        if ((rc = record("w.hvt", HVT_HOST_CACHE_WALK, 7, NULL, c, sizeof(c), &sc)))
            return rc;
        CHECK(verify_ok(c));
        CHECK_EQ(trace_load(c, &tc), 0);
        measure(&tc, &shc);
        CHECK_EQ(shc.ev_walk_diff, 0);
        CHECK_U64(sc.ioreq_mismatches, 0);
        CHECK(sc.agent_actions > 0);
        CHECK(sc.cache_hits > 0);
        trace_free(&tc);
        if (!strcmp(scenario, "ptwrite"))
            CHECK(sa.ioreq_mismatches > 0 && sh.ev_unhandleable > 0);
    } else if (!strcmp(scenario, "pae-pdpte")) {
        /* hardware semantics: PDPTEs come from registers, the rewrite is invisible */
        CHECK_EQ(sh.ev_walk_diff, 0);
        CHECK_EQ(sh.ev_pdpte_reads, 0);
        CHECK_U64(sa.ioreq_mismatches, 0);
        /* a core that re-reads PDPTEs from memory sees it */
        struct hvt_kv reread = {"pdpte-reread", "1"};
        if ((rc = record("r.hvt", HVT_HOST_CACHE_NONE, 7, &reread, c, sizeof(c), &sc)))
            return rc;
        CHECK(verify_ok(c));
        CHECK_EQ(trace_load(c, &tc), 0);
        measure(&tc, &shc);
        CHECK(shc.ev_pdpte_reads > 0);
        CHECK(shc.ev_walk_beyond_ad > 0);
        CHECK(sc.ioreq_mismatches > 0);
        trace_free(&tc);
        /* ... and the walk buffer hides it again */
        if ((rc = record("rw.hvt", HVT_HOST_CACHE_WALK, 7, &reread, c, sizeof(c), &sc)))
            return rc;
        CHECK_EQ(trace_load(c, &tc), 0);
        measure(&tc, &shc);
        CHECK_EQ(shc.ev_walk_diff, 0);
        CHECK_U64(sc.ioreq_mismatches, 0);
        trace_free(&tc);
    } else if (!strcmp(scenario, "adbits")) {
        CHECK(sh.ev_walk_diff > 0);
        CHECK_EQ(sh.ev_walk_beyond_ad, 0); /* only A/D bits differ: allowed */
    } else if (!strcmp(scenario, "gather")) {
        CHECK(sh.ev_retry_state > 0);
    } else if (!strcmp(scenario, "cmps")) {
        CHECK(sh.ev_cmps_split > 0);
        check_cmps_operand_stable(&ta);
    } else if (!strcmp(scenario, "mixed")) {
        CHECK(sh.ev_multi_pass > 0);
    }
    trace_free(&ta);
    trace_free(&tb);
    return 0;
}

int main(int argc, char **argv)
{
    int rc;
    if (argc < 2) {
        fprintf(stderr, "usage: %s SCENARIO\n", argv[0]);
        return 2;
    }
    scenario = argv[1];
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    rc = run();
    {
        char cmd[600];
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
        if (system(cmd) != 0)
            fprintf(stderr, "cannot remove %s\n", dir);
    }
    if (rc == 77 && skipped)
        return 77;
    TEST_DONE();
}
