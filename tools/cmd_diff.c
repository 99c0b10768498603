/* SPDX-License-Identifier: MIT */
/* hvtrace diff: compare two traces event by event; the first differing event and access. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hvtrace/format.h"
#include "hvtrace/replay.h"
#include "filter.h"
#include "print.h"
#include "util.h"

static void help(FILE *f)
{
    fprintf(f, "usage: hvtrace diff A B [--json] [selection]\n"
               "\n"
               "Compares two traces (for instance two recordings of one scenario with another\n"
               "seed, policy or core) event by event, in file order: vCPU, initial state,\n"
               "instruction, passes (outcome, end state) and every access (kind, tag, addresses,\n"
               "size, data, outcome). Prints the first differing event and access, both sides:\n"
               "each line says which side it is from (A: / B:, \"side\" in JSON).\n"
               "Lost-record markers are skipped; event ids are not compared. A selection applies\n"
               "to both traces: only the selected events of each are compared, in order.\n"
               "\n"
               "  --json            JSON lines (schema: docs/TOOLS.md)\n"
               "selection:\n%s"
               "\n"
               "exit: 0 same, 1 the traces differ, 2 usage error, 3 corrupt or unreadable trace\n",
            hvt_filter_help);
}

static const char *const known[] = {"--json", HVT_FILTER_OPTION_NAMES, "--help", NULL};

/* The side of a printed line: "A: " in text, a "side" member in JSON (spliced in after the
 * object's "type"). */
static void print_side(const char *buf, const char *side, unsigned flags, size_t indent)
{
    const char *comma = strchr(buf, ',');
    if ((flags & HVT_PRINT_JSON) && comma)
        printf("%.*s\"side\":\"%s\",%s", (int)(comma + 1 - buf), buf, side, comma + 1);
    else
        printf("%s: %s", side, buf + indent);
}

static void side_event(const struct hvt_event *ev, const char *side, unsigned flags)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&buf, &len);
    if (!m)
        return;
    hvt_print_event(m, ev, flags);
    fclose(m);
    print_side(buf, side, flags, 0);
    free(buf);
}

static void side_access(const struct hvt_event *ev, const struct hvt_pass *p, uint32_t i,
                        const struct hvt_callsite *cs, const char *side, unsigned flags)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&buf, &len);
    if (!m)
        return;
    hvt_print_access(m, ev, p, i, &p->accesses[i], cs, flags);
    fclose(m);
    print_side(buf, side, flags, 2); /* the access line's indent gives way to the side */
    free(buf);
}

static int next_event(struct hvt_fmt_reader *r, const char *path, const struct hvt_filter *sel,
                      struct hvt_progress *prog, const struct hvt_event **ev)
{
    struct hvt_record rec;
    for (;;) {
        int rc = hvt_fmt_reader_next(r, &rec);
        if (rc < 0) {
            hvt_progress_clear(prog);
            hvt_print_fmt_error(path, hvt_fmt_reader_error(r));
            return rc;
        }
        if (rc == 0) {
            *ev = NULL;
            return 0;
        }
        if (rec.type == HVT_REC_EVENT && rec.u.event->id > sel->last) {
            *ev = NULL;
            return 0;
        }
        if (rec.type == HVT_REC_EVENT && hvt_filter_event(sel, rec.u.event, NULL)) {
            *ev = rec.u.event;
            return 1;
        }
    }
}

static int access_differs(const struct hvt_access *a, const struct hvt_access *b, char *what,
                          size_t len)
{
    const char *w = NULL;
    if (a->kind != b->kind || a->tag.cls != b->tag.cls || a->tag.operand != b->tag.operand ||
        a->tag.level != b->tag.level || a->tag.element != b->tag.element)
        w = "kind or tag";
    else if (a->phys != b->phys || a->linear != b->linear || a->space != b->space)
        w = "address";
    else if (a->size != b->size)
        w = "size";
    else if (a->outcome != b->outcome)
        w = "outcome";
    else if (memcmp(a->data, b->data, a->size <= HVT_DATA_MAX ? a->size : HVT_DATA_MAX) ||
             (a->kind == HVT_ACC_CMPXCHG &&
              memcmp(a->old, b->old, a->size <= HVT_DATA_MAX ? a->size : HVT_DATA_MAX)))
        w = "data";
    if (w)
        snprintf(what, len, "%s", w);
    return w != NULL;
}

struct where {
    int level; /* 0 event, 1 pass, 2 access */
    uint32_t pass, access;
    char what[128];
};

static int event_differs(const struct hvt_event *a, const struct hvt_event *b, struct where *w)
{
    char regs[100];
    memset(w, 0, sizeof(*w));
    if (a->vcpu != b->vcpu) {
        snprintf(w->what, sizeof(w->what), "vCPU %u vs %u", a->vcpu, b->vcpu);
        return 1;
    }
    if (a->insn_len != b->insn_len || memcmp(a->insn, b->insn, a->insn_len)) {
        snprintf(w->what, sizeof(w->what), "instruction bytes");
        return 1;
    }
    if (hvt_rpl_state_diff(&a->init, &b->init, regs, sizeof(regs))) {
        snprintf(w->what, sizeof(w->what), "initial state: %s", regs);
        return 1;
    }
    for (uint32_t p = 0; p < a->n_passes && p < b->n_passes; p++) {
        const struct hvt_pass *pa = &a->passes[p], *pb = &b->passes[p];
        w->pass = p;
        for (uint32_t i = 0; i < pa->n_accesses && i < pb->n_accesses; i++) {
            if (access_differs(&pa->accesses[i], &pb->accesses[i], w->what, sizeof(w->what))) {
                w->level = 2;
                w->access = i;
                return 1;
            }
        }
        if (pa->n_accesses != pb->n_accesses) {
            w->level = 2;
            w->access = pa->n_accesses < pb->n_accesses ? pa->n_accesses : pb->n_accesses;
            snprintf(w->what, sizeof(w->what), "%u vs %u accesses", pa->n_accesses, pb->n_accesses);
            return 1;
        }
        w->level = 1;
        if (pa->out.kind != pb->out.kind || pa->out.vector != pb->out.vector ||
            pa->out.error_code != pb->out.error_code || pa->out.iterations != pb->out.iterations) {
            snprintf(w->what, sizeof(w->what), "outcome %s vs %s", hvt_outcome_name(pa->out.kind),
                     hvt_outcome_name(pb->out.kind));
            return 1;
        }
        if (hvt_rpl_state_diff(&pa->end, &pb->end, regs, sizeof(regs))) {
            snprintf(w->what, sizeof(w->what), "end state: %s", regs);
            return 1;
        }
    }
    if (a->n_passes != b->n_passes) {
        w->level = 0;
        snprintf(w->what, sizeof(w->what), "%u vs %u passes", a->n_passes, b->n_passes);
        return 1;
    }
    return 0;
}

int hvt_cmd_diff(int argc, char **argv)
{
    const char *pa = NULL, *pb = NULL;
    struct hvt_fmt_reader *ra = NULL, *rb = NULL;
    unsigned flags = 0;
    uint64_t n = 0;
    int rc, ret = HVT_EXIT_OK;
    struct hvt_filter sel;
    struct hvt_progress prog;
    uint64_t total;

    if (hvt_tool_wants_help(argc, argv)) {
        help(stdout);
        return HVT_EXIT_OK;
    }
    hvt_filter_init(&sel, 0);
    for (int i = 1; i < argc; i++) {
        int k = hvt_filter_parse(&sel, "diff", argc, argv, &i);
        if (k < 0)
            return HVT_EXIT_USAGE;
        if (k)
            continue;
        if (!strcmp(argv[i], "--json"))
            flags |= HVT_PRINT_JSON;
        else if (argv[i][0] == '-' || (pa && pb)) {
            return hvt_tool_bad_arg("diff", argv[i], known);
        } else if (!pa)
            pa = argv[i];
        else
            pb = argv[i];
    }
    if (!pa || !pb) {
        help(stderr);
        return HVT_EXIT_USAGE;
    }
    if ((rc = hvt_print_open(&ra, pa, 0)) || (rc = hvt_print_open(&rb, pb, 0))) {
        hvt_fmt_reader_close(ra);
        return rc;
    }
    /* a shortcut only: the selection still checks every event's id, and a reader error shows
     * again on the next read */
    if (sel.first > 0) {
        (void)hvt_fmt_reader_seek_event(ra, sel.first);
        (void)hvt_fmt_reader_seek_event(rb, sel.first);
    }
    hvt_progress_init(&prog, "diff");
    total = hvt_print_event_total(ra);
    for (;; n++) {
        const struct hvt_event *ea, *eb;
        struct where w;
        int ga = next_event(ra, pa, &sel, &prog, &ea), gb;
        if (ga < 0) {
            ret = HVT_EXIT_CORRUPT;
            break;
        }
        gb = next_event(rb, pb, &sel, &prog, &eb);
        if (gb < 0) {
            ret = HVT_EXIT_CORRUPT;
            break;
        }
        if (ga && gb)
            hvt_progress_update(&prog, "event", ea->id + 1, total);
        if (!ga || !gb || event_differs(ea, eb, &w))
            hvt_progress_clear(&prog);
        if (!ga && !gb) {
            if (!n && (sel.ranged || hvt_filter_narrows(&sel)))
                hvt_filter_warn_empty(&sel, "diff");
            if (flags & HVT_PRINT_JSON)
                printf("{\"type\":\"diff\",\"same\":true,\"events\":%" PRIu64 "}\n", n);
            else
                printf("diff: the traces are the same (%" PRIu64 " events)\n", n);
            break;
        }
        if (!ga || !gb) {
            if (flags & HVT_PRINT_JSON)
                printf("{\"type\":\"diff\",\"same\":false,\"index\":%" PRIu64
                       ",\"what\":\"%s ends first\"}\n",
                       n, !ga ? "A" : "B");
            else
                printf("diff: %s ends after %" PRIu64 " events; the other goes on\n", !ga ? pa : pb,
                       n);
            ret = HVT_EXIT_DIVERGENCE;
            break;
        }
        if (!event_differs(ea, eb, &w))
            continue;
        ret = HVT_EXIT_DIVERGENCE;
        if (flags & HVT_PRINT_JSON) {
            printf("{\"type\":\"diff\",\"same\":false,\"index\":%" PRIu64 ",\"event_a\":%" PRIu64
                   ",\"event_b\":%" PRIu64 ",\"pass\":%u,",
                   n, ea->id, eb->id, w.pass);
            if (w.level == 2)
                printf("\"access\":%u,", w.access);
            printf("\"what\":");
            hvt_json_str(stdout, w.what);
            printf("}\n");
        } else {
            printf("diff: event #%" PRIu64 " differs (A: event %" PRIu64 ", B: event %" PRIu64
                   "): ",
                   n, ea->id, eb->id);
            if (w.level)
                printf("pass %u: ", w.pass);
            if (w.level == 2)
                printf("access %u: ", w.access);
            printf("%s\n", w.what);
        }
        side_event(ea, "A", flags);
        side_event(eb, "B", flags);
        if (w.level == 2) {
            const struct hvt_pass *qa = &ea->passes[w.pass], *qb = &eb->passes[w.pass];
            if (w.access < qa->n_accesses)
                side_access(ea, qa, w.access,
                            hvt_fmt_reader_callsite(ra, qa->accesses[w.access].callsite), "A",
                            flags);
            if (w.access < qb->n_accesses)
                side_access(eb, qb, w.access,
                            hvt_fmt_reader_callsite(rb, qb->accesses[w.access].callsite), "B",
                            flags);
        }
        break;
    }
    hvt_fmt_reader_close(ra);
    hvt_fmt_reader_close(rb);
    return ret;
}
