/* SPDX-License-Identifier: MIT */
/* hvtrace lint: consistency checks of a trace from any recorder (hvtrace/lint.h). */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "hvtrace/lint.h"
#include "print.h"
#include "util.h"

/* Problems listed before lint stops listing them (it still counts them). */
#define DEFAULT_MAX 1000

struct out {
    const char *path;
    int json;
    uint64_t max, listed;
};

static void help(FILE *f)
{
    fprintf(f,
            "usage: hvtrace lint FILE [--json] [--max N]\n"
            "\n"
            "Checks that a trace, from any recorder, can be a recording of an x86 emulator: tag\n"
            "ranges and levels, kinds, spaces and segments that go together, walks that\n"
            "translate every page a pass uses (with paging on), fetches that cover the\n"
            "instruction, REP iterations numbered 0, 1, 2, ... per pass, consistent pass\n"
            "outcomes and lost-records markers (docs/TOOLS.md lists every rule). Each problem is\n"
            "one line: 'FILE: event E pass P access A: [check] reason', then a summary; a clean\n"
            "trace prints nothing.\n"
            "\n"
            "  --json    one JSON object per line: each problem, then a summary (docs/TOOLS.md)\n"
            "  --max N   list at most N problems (default %d; all are counted)\n"
            "\n"
            "exit: 0 nothing to say; 1 problems found; 2 usage error; 3 the trace is corrupt or\n"
            "      unreadable (the problems found before are listed)\n",
            DEFAULT_MAX);
}

static void json_int_or_null(int64_t v, int valid)
{
    if (valid)
        printf("%" PRId64, v);
    else
        fputs("null", stdout);
}

static int on_problem(void *arg, const struct hvt_lint_problem *p)
{
    struct out *o = arg;
    if (o->listed >= o->max)
        return 0;
    o->listed++;
    if (o->json) {
        printf("{\"type\":\"problem\",\"record\":%" PRIu64 ",\"event\":", p->record);
        json_int_or_null((int64_t)p->event, p->event != HVT_NO_EVENT);
        fputs(",\"pass\":", stdout);
        json_int_or_null(p->pass, p->pass >= 0);
        fputs(",\"access\":", stdout);
        json_int_or_null(p->access, p->access >= 0);
        fputs(",\"check\":", stdout);
        hvt_json_str(stdout, p->check);
        fputs(",\"reason\":", stdout);
        hvt_json_str(stdout, p->reason);
        fputs("}\n", stdout);
        return 0;
    }
    printf("%s: ", o->path);
    if (p->event != HVT_NO_EVENT)
        printf("event %" PRIu64, p->event);
    else
        printf("record %" PRIu64, p->record);
    if (p->pass >= 0)
        printf(" pass %" PRId64, p->pass);
    if (p->access >= 0)
        printf(" access %" PRId64, p->access);
    printf(": [%s] %s\n", p->check, p->reason);
    return 0;
}

int hvt_cmd_lint(int argc, char **argv)
{
    struct out o = {NULL, 0, DEFAULT_MAX, 0};
    struct hvt_lint_stats st;
    struct hvt_fmt_error_info err;
    int64_t n;

    if (hvt_tool_wants_help(argc, argv)) {
        help(stdout);
        return HVT_EXIT_OK;
    }
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--json")) {
            o.json = 1;
        } else if (!strcmp(argv[i], "--max") && i + 1 < argc) {
            if (hvt_tool_parse_u64(argv[++i], &o.max)) {
                hvt_tool_err("lint: --max: '%s' is not a number (" HVT_TOOL_NUMBER_HINT ")",
                             argv[i]);
                return HVT_EXIT_USAGE;
            }
        } else if (argv[i][0] != '-' && !o.path) {
            o.path = argv[i];
        } else {
            hvt_tool_err("lint: unexpected argument '%s'", argv[i]);
            help(stderr);
            return HVT_EXIT_USAGE;
        }
    }
    if (!o.path) {
        hvt_tool_err("lint: no trace file given");
        help(stderr);
        return HVT_EXIT_USAGE;
    }
    if (hvt_tool_check_path("lint", "trace", o.path))
        return HVT_EXIT_USAGE;
    n = hvt_lint_file(o.path, on_problem, &o, &st, &err);
    if (n < 0)
        hvt_print_fmt_error(o.path, &err);
    if (o.json) {
        printf("{\"type\":\"summary\",\"file\":");
        hvt_json_str(stdout, o.path);
        printf(",\"complete\":%s,\"records\":%" PRIu64 ",\"events\":%" PRIu64 ",\"passes\":%" PRIu64
               ",\"accesses\":%" PRIu64 ",\"lost_markers\":%" PRIu64 ",\"problems\":%" PRIu64
               ",\"listed\":%" PRIu64 "}\n",
               n < 0 ? "false" : "true", st.records, st.events, st.passes, st.accesses,
               st.lost_markers, st.problems, o.listed);
    } else if (st.problems || n < 0) { /* a clean trace: nothing to say */
        if (st.problems > o.listed)
            printf("%s: %" PRIu64 " more problems not listed (--max)\n", o.path,
                   st.problems - o.listed);
        printf("%s: %s%" PRIu64 " problems in %" PRIu64 " events, %" PRIu64 " passes, %" PRIu64
               " accesses, %" PRIu64 " lost markers\n",
               o.path, n < 0 ? "INCOMPLETE (read error above): " : "", st.problems, st.events,
               st.passes, st.accesses, st.lost_markers);
    }
    if (n < 0)
        return n == -HVT_E_INVALID ? HVT_EXIT_USAGE : HVT_EXIT_CORRUPT;
    return st.problems ? HVT_EXIT_DIVERGENCE : HVT_EXIT_OK;
}
