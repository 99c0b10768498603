/* SPDX-License-Identifier: MIT */
/* lint against the simulated host: every scenario's trace lints clean, with each access-once
 * policy, with every instruction an event, and with a core option that re-reads PDPTEs. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hvt_test.h"
#include "hvtrace/host.h"
#include "hvtrace/lint.h"

static char path[256];
static int skipped;

static int report(void *arg, const struct hvt_lint_problem *p)
{
    const char *what = arg;
    fprintf(stderr, "%s: event %llu pass %lld access %lld: [%s] %s\n", what,
            (unsigned long long)p->event, (long long)p->pass, (long long)p->access, p->check,
            p->reason);
    return 0;
}

static void lint_scenario(const char *scenario, unsigned cache, unsigned flags,
                          const struct hvt_kv *copt, size_t ncopt)
{
    struct hvt_host_options o;
    struct hvt_lint_stats st;
    struct hvt_fmt_error_info err;
    char msg[256], what[128];
    int rc;
    hvt_host_options_init(&o);
    o.scenario = scenario;
    o.seed = 3;
    o.events = 600;
    o.cache = cache;
    o.flags = flags | HVT_HOST_OVERWRITE;
    o.core_options = copt;
    o.n_core_options = ncopt;
    rc = hvt_host_record(path, &o, NULL, msg, sizeof(msg));
    if (rc == -HVT_E_UNSUPPORTED) {
        fprintf(stderr, "SKIP %s: %s\n", scenario, msg);
        skipped++;
        return;
    }
    CHECK_EQ(rc, 0);
    if (rc) {
        fprintf(stderr, "record %s: %s\n", scenario, msg);
        return;
    }
    snprintf(what, sizeof(what), "%s cache %u flags %u%s", scenario, cache, flags,
             ncopt ? " pdpte-reread" : "");
    CHECK_EQ(hvt_lint_file(path, report, what, &st, &err), 0);
    CHECK(st.events > 0);
    CHECK(st.accesses > st.events);
}

int main(void)
{
    static const struct hvt_kv reread = {"pdpte-reread", "1"};
    const char *tmp = getenv("TMPDIR");
    snprintf(path, sizeof(path), "%s/lint-scn.%d.hvt", tmp && *tmp ? tmp : "/tmp", (int)getpid());
    CHECK(hvt_host_scenario_count() >= 8);
    for (size_t i = 0; i < hvt_host_scenario_count(); i++) {
        const char *s = hvt_host_scenario_name(i);
        for (unsigned cache = 0; cache < HVT_HOST_CACHE__COUNT; cache++)
            lint_scenario(s, cache, 0, NULL, 0);
        lint_scenario(s, HVT_HOST_CACHE_NONE, HVT_HOST_RECORD_ALL, NULL, 0);
    }
    lint_scenario("pae-pdpte", HVT_HOST_CACHE_NONE, 0, &reread, 1);
    unlink(path);
    if (skipped && skipped == (int)hvt_host_scenario_count() * 4 + 1)
        return 77;
    TEST_DONE();
}
