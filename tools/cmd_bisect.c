/* SPDX-License-Identifier: MIT */
/* hvtrace bisect: the first event where replay diverges, or where two core builds differ. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hvtrace/replay.h"
#include "print.h"
#include "util.h"

static void help(FILE *f)
{
    fprintf(f, "usage: hvtrace bisect FILE [--core C] [--events A..B] [--no-analysis]\n"
               "                           [--exhaustive] [--json] [--verbose]\n"
               "       hvtrace bisect FILE --good CORE_A --bad CORE_B [--events A..B]\n"
               "\n"
               "Finds the first event where replaying FILE with core C (default: the reference\n"
               "core) diverges, by binary search over the chunks (through the index) and then\n"
               "within the chunk, and prints that event's report. With --good/--bad, finds the\n"
               "first event on which the two core builds behave differently against the same\n"
               "recorded answers (accesses made, outcome, end state).\n"
               "\n"
               "Like git bisect, the binary search assumes that once chunks diverge, later ones\n"
               "do too; when the last chunk is clean, or with --exhaustive, every chunk is\n"
               "scanned in order instead. --no-analysis counts only replay mismatches (the core\n"
               "against the recording), not divergences between the recorded passes.\n"
               "\n"
               "exit: 0 nothing found, 1 found, 2 usage error, 3 corrupt or unreadable trace\n");
}

struct pr {
    unsigned flags;
};

static int print_one(void *arg, const struct hvt_rpl_event_report *rep)
{
    struct pr *p = arg;
    hvt_rpl_print_event(stdout, rep, p->flags);
    return 0;
}

int hvt_cmd_bisect(int argc, char **argv)
{
    struct hvt_rpl_options opt;
    struct hvt_rpl_bisect_result res;
    struct hvt_rpl_run_info info;
    struct hvt_rpl_summary sum;
    struct pr p = {0};
    const char *path = NULL, *good = NULL, *bad = NULL;
    int exhaustive = 0, json = 0, rc;
    struct hvt_ticker tick;

    if (hvt_tool_wants_help(argc, argv)) {
        help(stdout);
        return HVT_EXIT_OK;
    }
    hvt_rpl_options_init(&opt);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--json")) {
            json = 1;
            p.flags |= HVT_RPL_PRINT_JSON;
        } else if (!strcmp(a, "--verbose") || !strcmp(a, "-v")) {
            p.flags |= HVT_RPL_PRINT_VERBOSE;
        } else if (!strcmp(a, "--exhaustive")) {
            exhaustive = 1;
        } else if (!strcmp(a, "--no-analysis")) {
            opt.flags |= HVT_RPL_NO_ANALYSIS;
        } else if ((!strcmp(a, "--core") || !strcmp(a, "--good")) && v) {
            good = v;
            i++;
        } else if (!strcmp(a, "--bad") && v) {
            bad = v;
            i++;
        } else if (!strcmp(a, "--events") && v) {
            if (hvt_tool_parse_range(v, &opt.first, &opt.last) || opt.first > opt.last) {
                hvt_tool_err("bisect: bad --events range '%s'", v);
                return HVT_EXIT_USAGE;
            }
            i++;
        } else if (a[0] == '-' || path) {
            static const char *const known[] = {"--json", "--verbose", "--exhaustive",
                                                "--no-analysis", "--core", "--good", "--bad",
                                                "--events", "--help", NULL};
            return hvt_tool_bad_arg("bisect", a, known);
        } else {
            path = a;
        }
    }
    if (!path) {
        help(stderr);
        return HVT_EXIT_USAGE;
    }
    if (hvt_tool_check_path("bisect", "trace", path))
        return HVT_EXIT_USAGE;
    opt.core = good;
    hvt_ticker_start(&tick, "bisect", "searching", NULL);
    rc = hvt_rpl_bisect(path, &opt, bad, exhaustive, &res, &info);
    hvt_ticker_stop(&tick);
    if (rc < 0) {
        if (info.err.code) {
            hvt_print_fmt_error(path, &info.err);
            return HVT_EXIT_CORRUPT;
        }
        hvt_tool_err("bisect: %s", info.message[0] ? info.message : hvt_strerror(rc));
        return HVT_EXIT_USAGE;
    }
    if (json) {
        printf("{\"type\":\"bisect\",\"event\":");
        if (res.event == HVT_NO_EVENT)
            printf("null");
        else
            printf("%" PRIu64 ",\"chunk\":%" PRIu64, res.event, res.chunk);
        printf(",\"chunks\":%" PRIu64 ",\"chunks_tested\":%" PRIu64 ",\"exhaustive\":%s,"
               "\"detail\":",
               res.chunks, res.chunks_tested, res.exhaustive ? "true" : "false");
        if (res.event == HVT_NO_EVENT || !res.detail[0])
            fputs("null", stdout);
        else
            hvt_json_str(stdout, res.detail);
        printf("}\n");
    } else if (res.event == HVT_NO_EVENT) {
        printf("bisect: no %s in %" PRIu64 " chunk(s) (%" PRIu64 " replayed)\n",
               bad ? "difference between the two cores" : "diverging event", res.chunks,
               res.chunks_tested);
    } else {
        printf("bisect: first %s: event %" PRIu64 " (chunk %" PRIu64 "; %" PRIu64 " of %" PRIu64
               " chunks replayed%s)\n",
               bad ? "event where the cores differ" : "diverging event", res.event, res.chunk,
               res.chunks_tested, res.chunks, res.exhaustive ? ", scanned" : ", binary search");
        if (res.detail[0]) {
            fputs("  ", stdout);
            hvt_text_str(stdout, res.detail);
            fputc('\n', stdout);
        }
    }
    if (res.event == HVT_NO_EVENT)
        return HVT_EXIT_OK;
    /* the event's full report, replayed with the core that diverges */
    opt.first = opt.last = res.event;
    opt.core = bad ? bad : good;
    rc = hvt_rpl_run(path, &opt, print_one, &p, NULL, NULL, &sum, &info);
    if (rc < 0)
        hvt_tool_err("bisect: event %" PRIu64 ": %s", res.event,
                     info.message[0] ? info.message : hvt_strerror(rc));
    return HVT_EXIT_DIVERGENCE;
}
