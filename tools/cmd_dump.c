/* SPDX-License-Identifier: MIT */
/* hvtrace dump: print events, passes and accesses, one line each (text or JSON lines). */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "hvtrace/format.h"
#include "print.h"
#include "util.h"

static void help(FILE *f)
{
    fprintf(f, "usage: hvtrace dump FILE [--events A..B] [--json]\n"
               "\n"
               "Prints the trace header, then every event, each of its passes and each access of\n"
               "every pass on a line of its own, and lost-records markers where they are. A pass\n"
               "line ends with the registers that differ from the event's initial state.\n"
               "\n"
               "  --events A..B   only events with ids A to B inclusive (also A.., ..B, A);\n"
               "                  found through the index, without reading earlier chunks\n"
               "  --json          one JSON object per line (schema: docs/TOOLS.md)\n"
               "\n"
               "A damaged trace is dumped as far as it can be read: each bad chunk is reported as\n"
               "'hvtrace: FILE: offset N, chunk C: what' on stderr and skipped.\n"
               "exit: 0 ok, 2 usage error, 3 corrupt or unreadable trace\n");
}

static void dump_event(FILE *f, const struct hvt_fmt_reader *r, const struct hvt_event *ev,
                       unsigned flags)
{
    hvt_print_event(f, ev, flags);
    for (uint32_t p = 0; ev->passes && p < ev->n_passes; p++) {
        const struct hvt_pass *ps = &ev->passes[p];
        hvt_print_pass(f, ev, ps, flags);
        for (uint32_t i = 0; ps->accesses && i < ps->n_accesses; i++) {
            const struct hvt_access *a = &ps->accesses[i];
            const struct hvt_callsite *cs =
                a->callsite ? hvt_fmt_reader_callsite(r, a->callsite) : NULL;
            hvt_print_access(f, ev, ps, i, a, cs, flags);
        }
    }
}

int hvt_cmd_dump(int argc, char **argv)
{
    const char *path = NULL;
    uint64_t first = 0, last = UINT64_MAX;
    int ranged = 0, status = HVT_EXIT_OK, rc;
    unsigned flags = 0;
    struct hvt_fmt_reader *r;
    struct hvt_fmt_error_info seen = {0};
    struct hvt_record rec;

    if (hvt_tool_wants_help(argc, argv)) {
        help(stdout);
        return HVT_EXIT_OK;
    }
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--json")) {
            flags |= HVT_PRINT_JSON;
        } else if (!strcmp(argv[i], "--events") && i + 1 < argc) {
            if (hvt_tool_parse_range(argv[++i], &first, &last)) {
                hvt_tool_err("dump: bad event range '%s' (expected A..B, A.., ..B or A)", argv[i]);
                return HVT_EXIT_USAGE;
            }
            ranged = 1;
        } else if (argv[i][0] != '-' && !path) {
            path = argv[i];
        } else {
            hvt_tool_err("dump: unexpected argument '%s'", argv[i]);
            help(stderr);
            return HVT_EXIT_USAGE;
        }
    }
    if (!path) {
        hvt_tool_err("dump: no trace file given");
        help(stderr);
        return HVT_EXIT_USAGE;
    }
    rc = hvt_print_open(&r, path, HVT_FMT_R_SALVAGE);
    if (rc)
        return rc;
    hvt_print_header(stdout, hvt_fmt_reader_header(r), flags);
    if (ranged && first > 0) {
        rc = hvt_fmt_reader_seek_event(r, first);
        if (rc == -HVT_E_NOT_FOUND) {
            /* An empty range is an answer, not an error. */
            hvt_fmt_reader_close(r);
            return HVT_EXIT_OK;
        }
        if (rc < 0) {
            if (!hvt_print_new_error(path, r, &seen))
                hvt_tool_err("%s: %s", path, hvt_strerror(rc));
            hvt_fmt_reader_close(r);
            return HVT_EXIT_CORRUPT;
        }
    }
    for (;;) {
        rc = hvt_fmt_reader_next(r, &rec);
        if (hvt_print_new_error(path, r, &seen))
            status = HVT_EXIT_CORRUPT;
        if (rc < 0) {
            if (!seen.code)
                hvt_tool_err("%s: %s", path, hvt_strerror(rc));
            status = HVT_EXIT_CORRUPT;
            break;
        }
        if (rc == 0)
            break;
        if (rec.type == HVT_REC_EVENT && rec.u.event) {
            if (rec.u.event->id > last)
                break;
            if (rec.u.event->id >= first)
                dump_event(stdout, r, rec.u.event, flags);
        } else if (rec.type == HVT_REC_LOST && rec.u.lost) {
            const struct hvt_lost *l = rec.u.lost;
            if (!ranged || l->event_id == HVT_NO_EVENT ||
                (l->event_id >= first && l->event_id <= last))
                hvt_print_lost(stdout, l, flags);
        }
    }
    hvt_fmt_reader_close(r);
    if (fflush(stdout) || ferror(stdout)) {
        hvt_tool_err("dump: cannot write the output");
        return HVT_EXIT_USAGE;
    }
    return status;
}
