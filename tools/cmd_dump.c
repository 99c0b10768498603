/* SPDX-License-Identifier: MIT */
/* hvtrace dump: print events, passes and accesses, one line each (text or JSON lines). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "filter.h"

#include "hvtrace/format.h"
#include "print.h"
#include "util.h"

static const char *const known[] = {"--json", "--full-state", "--no-disasm",
                                    HVT_FILTER_OPTION_NAMES, "--help", NULL};

static void help(FILE *f)
{
    fprintf(f, "usage: hvtrace dump FILE [--json [--full-state]] [--no-disasm] [selection]\n"
               "\n"
               "Prints the trace header, then every event with its instruction disassembled,\n"
               "each of its passes and each access of every pass on a line of its own, and\n"
               "lost-records markers where they are. A pass line ends with the registers that\n"
               "differ from the event's initial state. Page-walk reads and A/D updates show the\n"
               "entry as a value, decoded (frame, P RW US A D PS NX).\n"
               "\n"
               "  --json          one JSON object per line (schema: docs/TOOLS.md); an event's\n"
               "                  initial state is given in full for the first event of each\n"
               "                  vCPU and as the registers that changed since that vCPU's\n"
               "                  previous event after that (init_changed)\n"
               "  --full-state    every event's initial state in full\n"
               "  --no-disasm     leave the disassembly out\n"
               "selection (see also docs/TOOLS.md):\n%s"
               "\n"
               "A damaged trace is dumped as far as it can be read: each bad chunk is reported as\n"
               "'hvtrace: FILE: offset N, chunk C: what' on stderr and skipped. A selection that\n"
               "matches no event is not an error: a warning says so.\n"
               "exit: 0 ok, 2 usage error, 3 corrupt or unreadable trace\n",
            hvt_filter_help);
}

/* The previous initial state of each vCPU, for --json deltas (vCPUs past the table get their
 * state in full). */
#define DELTA_VCPUS 256

struct dump {
    unsigned flags;
    int full_state, disasm;
    const struct hvt_filter *sel;
    struct hvt_vcpu_state *prev; /* DELTA_VCPUS entries */
    uint8_t *have_prev;
};

static void dump_event(FILE *f, struct dump *d, const struct hvt_fmt_reader *r,
                       const struct hvt_event *ev)
{
    const struct hvt_vcpu_state *prev = NULL;
    if ((d->flags & HVT_PRINT_JSON) && !d->full_state && ev->vcpu < DELTA_VCPUS &&
        d->have_prev[ev->vcpu])
        prev = &d->prev[ev->vcpu];
    char dis[96];
    if (d->disasm)
        hvt_tool_disasm(ev, dis, sizeof(dis), NULL, 0);
    hvt_print_event_delta(f, ev, prev, d->disasm ? dis : NULL, d->flags);
    if (ev->vcpu < DELTA_VCPUS) {
        d->prev[ev->vcpu] = ev->init;
        d->have_prev[ev->vcpu] = 1;
    }
    for (uint32_t p = 0; ev->passes && p < ev->n_passes; p++) {
        const struct hvt_pass *ps = &ev->passes[p];
        hvt_print_pass(f, ev, ps, d->flags);
        for (uint32_t i = 0; ps->accesses && i < ps->n_accesses; i++) {
            const struct hvt_access *a = &ps->accesses[i];
            const struct hvt_callsite *cs =
                a->callsite ? hvt_fmt_reader_callsite(r, a->callsite) : NULL;
            if (hvt_filter_access(d->sel, a))
                hvt_print_access(f, ev, ps, i, a, cs, d->flags);
        }
    }
}

int hvt_cmd_dump(int argc, char **argv)
{
    const char *path = NULL;
    int status = HVT_EXIT_OK, rc;
    uint64_t shown = 0, seen_events = 0, total;
    struct hvt_filter sel;
    struct dump d = {.disasm = 1};
    struct hvt_fmt_reader *r;
    struct hvt_fmt_error_info seen = {0};
    struct hvt_progress prog;
    struct hvt_record rec;

    if (hvt_tool_wants_help(argc, argv)) {
        help(stdout);
        return HVT_EXIT_OK;
    }
    hvt_filter_init(&sel, 0);
    d.sel = &sel;
    for (int i = 1; i < argc; i++) {
        int k = hvt_filter_parse(&sel, "dump", argc, argv, &i);
        if (k < 0)
            return HVT_EXIT_USAGE;
        if (k)
            continue;
        if (!strcmp(argv[i], "--json")) {
            d.flags |= HVT_PRINT_JSON;
        } else if (!strcmp(argv[i], "--full-state")) {
            d.full_state = 1;
        } else if (!strcmp(argv[i], "--no-disasm")) {
            d.disasm = 0;
        } else if (argv[i][0] != '-' && !path) {
            path = argv[i];
        } else {
            return hvt_tool_bad_arg("dump", argv[i], known);
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
    d.prev = calloc(DELTA_VCPUS, sizeof(*d.prev));
    d.have_prev = calloc(DELTA_VCPUS, 1);
    if (!d.prev || !d.have_prev) {
        hvt_tool_err("dump: out of memory");
        free(d.prev);
        free(d.have_prev);
        hvt_fmt_reader_close(r);
        return HVT_EXIT_USAGE;
    }
    hvt_progress_init(&prog, "dump");
    total = hvt_print_event_total(r);
    hvt_print_header(stdout, hvt_fmt_reader_header(r), d.flags);
    rc = sel.first > 0 ? hvt_fmt_reader_seek_event(r, sel.first) : 0;
    if (rc < 0 && rc != -HVT_E_NOT_FOUND) {
        if (!hvt_print_new_error(path, r, &seen))
            hvt_tool_err("%s: %s", path, hvt_strerror(rc));
        status = HVT_EXIT_CORRUPT;
    }
    while (rc >= 0) { /* -HVT_E_NOT_FOUND: the range starts past the last event */
        if (!hvt_print_next(path, r, &rec, &seen, &status))
            break;
        if (rec.type == HVT_REC_EVENT && rec.u.event) {
            const struct hvt_event *ev = rec.u.event;
            if (ev->id > sel.last)
                break;
            hvt_progress_update(&prog, "event", ev->id + 1, total);
            seen_events++;
            if (hvt_filter_event(&sel, ev, NULL)) {
                hvt_progress_clear(&prog);
                dump_event(stdout, &d, r, ev);
                shown++;
            }
        } else if (rec.type == HVT_REC_LOST && rec.u.lost) {
            const struct hvt_lost *l = rec.u.lost;
            if (!sel.ranged || l->event_id == HVT_NO_EVENT ||
                (l->event_id >= sel.first && l->event_id <= sel.last)) {
                hvt_progress_clear(&prog);
                hvt_print_lost(stdout, l, d.flags);
            }
        }
    }
    hvt_progress_clear(&prog);
    hvt_fmt_reader_close(r);
    free(d.prev);
    free(d.have_prev);
    if (fflush(stdout) || ferror(stdout)) {
        hvt_tool_err("dump: cannot write the output");
        return HVT_EXIT_USAGE;
    }
    if (!shown && (sel.ranged || hvt_filter_narrows(&sel)) && status == HVT_EXIT_OK)
        hvt_filter_warn_empty(&sel, "dump");
    (void)seen_events;
    return status;
}
