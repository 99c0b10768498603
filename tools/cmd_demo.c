/* SPDX-License-Identifier: MIT */
/* hvtrace demo: record a page-table race with and without the access-once buffer, explain it. */
#include <capstone/capstone.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "hvtrace/format.h"
#include "hvtrace/host.h"
#include "hvtrace/replay.h"
#include "util.h"

#define DEMO_EVENTS 40
#define DEMO_SCENARIO "pageout"

static void demo_usage(FILE *f)
{
    fprintf(f, "usage: hvtrace demo [--keep DIR] [--seed N]\n"
               "\n"
               "Records the 'pageout' scenario of the simulated host twice, without and with the\n"
               "access-once buffer for page walks, and shows which access of which pass diverged\n"
               "and that the buffer removes the divergence. Takes a second or two.\n"
               "\n"
               "  --keep DIR   write the two traces into DIR (created if needed) instead of a new\n"
               "               temporary directory; the traces are kept in both cases\n"
               "  --seed N     scheduler/agent seed (default: the first seed from 1 on whose\n"
               "               first divergence is a remapped buffer; " HVT_TOOL_NUMBER_HINT ")\n"
               "\n"
               "exit: 0 shown, 1 a recording failed, 2 usage error, 3 a trace does not read back,\n"
               "      4 the traces cannot be written (DIR cannot be created, full disk, ...)\n");
}

/* ---- reading the traces ------------------------------------------------------------------ */

struct events {
    size_t n;
    struct hvt_event **ev;
};

static void events_free(struct events *e)
{
    for (size_t i = 0; i < e->n; i++)
        hvt_event_free(e->ev[i]);
    free(e->ev);
    e->ev = NULL;
    e->n = 0;
}

static int events_load(const char *path, struct events *out)
{
    struct hvt_fmt_reader *r = NULL;
    struct hvt_record rec;
    size_t cap = 0;
    int rc;
    memset(out, 0, sizeof(*out));
    rc = hvt_fmt_reader_open(&r, path, NULL);
    while (rc >= 0 && (rc = hvt_fmt_reader_next(r, &rec)) > 0) {
        if (rec.type != HVT_REC_EVENT)
            continue;
        if (out->n == cap) {
            struct hvt_event **p;
            cap = cap ? 2 * cap : 64;
            p = realloc(out->ev, cap * sizeof(*p));
            if (!p) {
                rc = -HVT_E_NOMEM;
                break;
            }
            out->ev = p;
        }
        rc = hvt_event_clone(&out->ev[out->n], rec.u.event);
        if (rc < 0)
            break;
        out->n++;
    }
    if (rc < 0) {
        const struct hvt_fmt_error_info *ei = r ? hvt_fmt_reader_error(r) : NULL;
        hvt_tool_err("demo: %s: %s", path, ei && ei->message[0] ? ei->message : hvt_strerror(rc));
    }
    hvt_fmt_reader_close(r);
    return rc < 0 ? rc : 0;
}

/* The walk read of pass P for the same level and linear page as A (first one), or NULL. */
static const struct hvt_access *walk_of(const struct hvt_pass *p, unsigned level, uint64_t la)
{
    for (uint32_t i = 0; i < p->n_accesses; i++) {
        const struct hvt_access *x = &p->accesses[i];
        if (x->tag.cls == HVT_TAG_WALK && x->tag.level == level && (x->linear >> 12) == (la >> 12))
            return x;
    }
    return NULL;
}

static uint64_t val64(const struct hvt_access *a)
{
    uint64_t v = 0;
    memcpy(&v, a->data, a->size < 8 ? a->size : 8);
    return v;
}

/* The first walk read of pass Q that reads other data (or another entry) than pass 0 did for
 * the same level and linear page, ignoring the accessed/dirty bits. */
static const struct hvt_access *diverging_walk(const struct hvt_event *e, uint32_t q)
{
    const struct hvt_pass *p0 = &e->passes[0], *pq = &e->passes[q];
    for (uint32_t i = 0; i < pq->n_accesses; i++) {
        const struct hvt_access *b = &pq->accesses[i], *a;
        if (b->tag.cls != HVT_TAG_WALK || b->outcome != HVT_OP_OKAY)
            continue;
        a = walk_of(p0, b->tag.level, b->linear);
        if (a && a->outcome == HVT_OP_OKAY &&
            (a->phys != b->phys || ((val64(a) ^ val64(b)) & ~0x60ull)))
            return b;
    }
    return NULL;
}

static int event_diverges(const struct hvt_event *e)
{
    for (uint32_t q = 1; q < e->n_passes; q++) {
        if (diverging_walk(e, q))
            return 1;
    }
    return 0;
}

/* The data read of pass P on the linear page of LA (the buffer byte), or NULL. */
static const struct hvt_access *data_read(const struct hvt_pass *p, uint64_t la)
{
    for (uint32_t i = 0; i < p->n_accesses; i++) {
        const struct hvt_access *x = &p->accesses[i];
        if (x->tag.cls == HVT_TAG_DATA && x->kind == HVT_ACC_READ &&
            (x->linear >> 12) == (la >> 12))
            return x;
    }
    return NULL;
}

/* The device access that ended pass P with RETRY, else its first device access, or NULL. */
static const struct hvt_access *device_access(const struct hvt_pass *p)
{
    const struct hvt_access *first = NULL;
    for (uint32_t i = 0; i < p->n_accesses; i++) {
        const struct hvt_access *x = &p->accesses[i];
        if (x->space == HVT_SPACE_RAM)
            continue;
        if (x->outcome == HVT_OP_RETRY)
            return x;
        if (!first)
            first = x;
    }
    return first;
}

/* ---- printing ---------------------------------------------------------------------------- */

static void disasm(const struct hvt_event *e, char *buf, size_t len)
{
    csh cs;
    cs_insn *insn = NULL;
    int mode = (e->init.seg[HVT_SEG_CS].attr & HVT_SEG_ATTR_L) ? CS_MODE_64 : CS_MODE_32;
    snprintf(buf, len, "(instruction bytes not recorded)");
    if (!e->insn_len || cs_open(CS_ARCH_X86, mode, &cs) != CS_ERR_OK)
        return;
    if (cs_disasm(cs, e->insn, e->insn_len, e->init.rip, 1, &insn) == 1)
        snprintf(buf, len, "%s %s", insn->mnemonic, insn->op_str);
    cs_free(insn, 1);
    cs_close(&cs);
}

static const char *level_name(unsigned level)
{
    static const char *const names[] = {"?", "PTE", "PDE", "PDPTE", "PML4E", "PML5E", "PDPTE"};
    return level < sizeof(names) / sizeof(names[0]) ? names[level] : "?";
}

static void print_outcome(const struct hvt_pass *p)
{
    const struct hvt_access *d = device_access(p);
    switch (p->out.kind) {
    case HVT_OUT_RETRY:
        if (d)
            printf("RETRY: %s %s 0x%" PRIx64 " needs the device model, so the request is "
                   "queued and\n           the instruction will be emulated again from the "
                   "start",
                   hvt_access_kind_name(d->kind), d->space == HVT_SPACE_PORT ? "port" : "MMIO",
                   d->phys);
        else
            printf("RETRY (%s)", hvt_retry_cause_name(p->out.retry_cause));
        break;
    case HVT_OUT_EXCEPTION:
        printf("EXCEPTION: vector %u (page fault at 0x%" PRIx64 ")", p->out.vector, p->out.cr2);
        break;
    default:
        printf("%s", hvt_outcome_name(p->out.kind));
        break;
    }
    printf("\n");
}

static void row(const char *what, const char *a, const char *b, int differs)
{
    if (differs)
        printf("    %-26s %-26s %-26s <- differs\n", what, a, b);
    else
        printf("    %-26s %-26s %s\n", what, a, b);
}

/* Side by side: the walk of the diverging linear page in pass 0 and pass Q, then the data read
 * through it. Returns 1 when any line differs. */
static int side_by_side(const struct hvt_event *e, uint32_t q, uint64_t la)
{
    const struct hvt_pass *p0 = &e->passes[0], *pq = &e->passes[q];
    const struct hvt_access *d0, *dq;
    int differs = 0;
    printf("    %-26s %-26s %s\n", "page walk of the buffer", "pass 0 read", "pass 1 read");
    for (unsigned level = 6; level >= 1; level--) {
        const struct hvt_access *a = walk_of(p0, level, la), *b = walk_of(pq, level, la);
        char where[40], va[40], vb[40];
        int diff;
        if (!a && !b)
            continue;
        snprintf(where, sizeof(where), "L%u %-5s @ 0x%" PRIx64, level == 6 ? 3 : level,
                 level_name(level), (a ? a : b)->phys);
        snprintf(va, sizeof(va), a ? "0x%016" PRIx64 : "-", a ? val64(a) : 0);
        snprintf(vb, sizeof(vb), b ? "0x%016" PRIx64 : "(not read)", b ? val64(b) : 0);
        diff = !a || !b || a->phys != b->phys || val64(a) != val64(b);
        differs |= diff;
        row(where, va, vb, diff);
    }
    d0 = data_read(p0, la);
    dq = data_read(pq, la);
    if (d0 || dq) {
        char va[48] = "-", vb[48] = "(not read)";
        if (d0)
            snprintf(va, sizeof(va), "0x%02x from 0x%" PRIx64, d0->data[0], d0->phys);
        if (dq)
            snprintf(vb, sizeof(vb), "0x%02x from 0x%" PRIx64, dq->data[0], dq->phys);
        row("buffer byte (physical)", va, vb,
            d0 && dq && (d0->phys != dq->phys || d0->data[0] != dq->data[0]));
    }
    return differs;
}

static void explain(const struct hvt_event *e, uint32_t q, uint64_t la)
{
    const struct hvt_access *dev = device_access(&e->passes[0]);
    const struct hvt_access *dq = data_read(&e->passes[q], la);
    printf("  => pass %u translated linear 0x%" PRIx64 " differently from pass 0.\n", q, la);
    if (e->passes[q].out.kind == HVT_OUT_EXCEPTION) {
        printf("     It faulted where pass 0 succeeded, yet the device already has pass 0's "
               "request:\n     an access the instruction, as finally executed, never made.\n");
    } else if (dev && dq) {
        printf("     Pass 0 sent byte 0x%02x to the device; pass %u read 0x%02x from another "
               "frame and\n     completed with pass 0's request: the guest's state and the "
               "device disagree.\n",
               dev->data[0], q, dq->data[0]);
    }
    printf("     Re-execution is only correct if every pass sees what the first one saw.\n");
}

static unsigned count_multi(const struct events *t, unsigned *diverging)
{
    unsigned multi = 0;
    *diverging = 0;
    for (size_t i = 0; i < t->n; i++) {
        if (t->ev[i]->n_passes > 1) {
            multi++;
            *diverging += event_diverges(t->ev[i]);
        }
    }
    return multi;
}

/* The first event of T whose later pass read different walk data than its first pass: *Q gets
 * that pass, *LA the linear address whose walk differs. */
static const struct hvt_event *first_divergence(const struct events *t, uint32_t *q, uint64_t *la)
{
    for (size_t i = 0; i < t->n; i++) {
        for (uint32_t p = 1; p < t->ev[i]->n_passes; p++) {
            const struct hvt_access *d = diverging_walk(t->ev[i], p);
            if (d) {
                *q = p;
                *la = d->linear;
                return t->ev[i];
            }
        }
    }
    return NULL;
}

/* 1 when event E's pass Q completed its buffer read from another frame (a remap, not an
 * unmap): the clearest story for a first look. */
static int is_remap(const struct hvt_event *e, uint32_t q, uint64_t la)
{
    const struct hvt_access *d0 = data_read(&e->passes[0], la), *dq = data_read(&e->passes[q], la);
    return d0 && dq && d0->phys != dq->phys && e->passes[q].out.kind != HVT_OUT_EXCEPTION;
}

static int record_one(const char *path, unsigned cache, uint64_t seed, struct hvt_host_stats *st)
{
    struct hvt_host_options o;
    char err[512];
    int rc;
    hvt_host_options_init(&o);
    o.scenario = DEMO_SCENARIO;
    o.seed = seed;
    o.events = DEMO_EVENTS;
    o.cache = cache;
    o.flags = HVT_HOST_OVERWRITE;
    memset(st, 0, sizeof(*st));
    st->size = sizeof(*st);
    rc = hvt_host_record(path, &o, st, err, sizeof(err));
    if (rc < 0)
        hvt_tool_err("demo: recording %s: %s", path, err[0] ? err : hvt_strerror(rc));
    return rc;
}

/* Replays PATH offline on the reference core (optionally with a what-if access-once policy)
 * and prints one verdict paragraph. Returns the number of divergent events, or -1. */
static long demo_replay(const char *label, const char *path, unsigned cache)
{
    struct hvt_rpl_options o;
    struct hvt_rpl_summary sum;
    struct hvt_rpl_run_info info;
    const char *sep = " (";
    int rc;

    hvt_rpl_options_init(&o);
    o.cache = cache;
    rc = hvt_rpl_run(path, &o, NULL, NULL, NULL, NULL, &sum, &info);
    if (rc < 0) {
        hvt_tool_err("%s: replay failed: %s %s", path, hvt_strerror(rc),
                     info.err.code ? info.err.message : info.message);
        return -1;
    }
    printf("  %s: %" PRIu64 " events replayed, %" PRIu64 " with several passes;\n", label,
           sum.replayed, sum.multi_pass);
    printf("    the core behaves as recorded: %s (%" PRIu64 " replay mismatches)\n",
           sum.by_class[HVT_RPL_REPLAY_MISMATCH] ? "NO" : "yes",
           sum.by_class[HVT_RPL_REPLAY_MISMATCH]);
    printf("    events whose passes diverge: %" PRIu64, sum.divergent_events);
    for (unsigned c = 0; c < HVT_RPL__COUNT; c++) {
        if (c == HVT_RPL_REPLAY_MISMATCH || hvt_rpl_class_benign((unsigned)c) || !sum.by_class[c])
            continue;
        printf("%s%s %" PRIu64, sep, hvt_rpl_class_name(c), sum.by_class[c]);
        sep = ", ";
    }
    printf("%s\n", *sep == ',' ? ")" : "");
    if (cache != HVT_RPL_CACHE_NONE && sum.divergent_events)
        printf("    what-if --cache walk: the buffer removes the divergence of %" PRIu64
               " of them\n    (%" PRIu64 " kept, %" PRIu64 " undetermined)\n",
               sum.whatif[HVT_RPL_WHATIF_REMOVED], sum.whatif[HVT_RPL_WHATIF_KEPT],
               sum.whatif[HVT_RPL_WHATIF_UNKNOWN]);
    return (long)sum.divergent_events;
}


int hvt_cmd_demo(int argc, char **argv)
{
    char dir[4096], none_path[4200], walk_path[4200], what[192];
    const char *keep = NULL;
    uint64_t seed = 1;
    int seed_given = 0, rc;
    struct hvt_host_stats s_none, s_walk;
    struct events t_none, t_walk;
    const struct hvt_event *e = NULL, *w = NULL;
    unsigned multi_none, div_none, multi_walk, div_walk;
    uint32_t q = 0;
    uint64_t la = 0;

    if (hvt_tool_wants_help(argc, argv)) {
        demo_usage(stdout);
        return HVT_EXIT_OK;
    }
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--keep") && i + 1 < argc) {
            keep = argv[++i];
        } else if (!strcmp(argv[i], "--seed") && i + 1 < argc) {
            seed_given = 1;
            if (hvt_tool_parse_u64(argv[++i], &seed)) {
                hvt_tool_err("demo: --seed '%s': not a number (" HVT_TOOL_NUMBER_HINT ")", argv[i]);
                return HVT_EXIT_USAGE;
            }
        } else {
            static const char *const known[] = {"--keep", "--seed", "--help", NULL};
            return hvt_tool_bad_arg("demo", argv[i], known);
        }
    }
    if (keep) {
        if (strlen(keep) >= sizeof(dir) || (mkdir(keep, 0700) && errno != EEXIST)) {
            hvt_tool_err("demo: cannot create directory %s: %s", keep, strerror(errno));
            return HVT_EXIT_WRITE;
        }
        snprintf(dir, sizeof(dir), "%s", keep);
    } else {
        const char *tmp = getenv("TMPDIR");
        snprintf(dir, sizeof(dir), "%s/hvtrace-demo-XXXXXX", tmp && *tmp ? tmp : "/tmp");
        if (!mkdtemp(dir)) {
            hvt_tool_err("demo: cannot create a temporary directory %s: %s", dir, strerror(errno));
            return HVT_EXIT_WRITE;
        }
    }
    snprintf(none_path, sizeof(none_path), "%s/pageout-nocache.hvt", dir);
    snprintf(walk_path, sizeof(walk_path), "%s/pageout-walk.hvt", dir);

    printf("hvtrace demo: a guest page table changes under an instruction being re-executed\n\n");
    printf("The simulated host runs scenario '%s': a guest copies a RAM buffer to a device\n"
           "(REP OUTSB to a port, REP MOVSB to MMIO). The device model cannot answer at once,\n"
           "so the emulator stops with RETRY and later emulates the whole instruction again\n"
           "(passes 1, 2, ... after the first, pass 0). Meanwhile the guest OS moves the buffer\n"
           "to another page frame (rewrites its PTE).\n\n",
           DEMO_SCENARIO);

    /* Unless a seed was given, take the first seed whose first divergence is a remap (pass 1
     * reads the buffer from another frame) rather than an unmap (pass 1 faults): both are real,
     * the first is easier to read. Each try takes milliseconds. */
    for (uint64_t tries = 0;; tries++) {
        rc = record_one(none_path, HVT_HOST_CACHE_NONE, seed, &s_none);
        if (rc < 0)
            return rc == -HVT_E_IO || rc == -HVT_E_NOSPACE ? HVT_EXIT_WRITE : 1;
        if (events_load(none_path, &t_none) < 0)
            return HVT_EXIT_CORRUPT;
        e = first_divergence(&t_none, &q, &la);
        if (seed_given || tries >= 32 || (e && is_remap(e, q, la)))
            break;
        events_free(&t_none);
        seed++;
    }
    rc = record_one(walk_path, HVT_HOST_CACHE_WALK, seed, &s_walk);
    if (rc < 0) {
        events_free(&t_none);
        return rc == -HVT_E_IO || rc == -HVT_E_NOSPACE ? HVT_EXIT_WRITE : 1;
    }
    printf("Recorded %" PRIu64 " events twice (seed %" PRIu64 "):\n", s_none.rec_events, seed);
    printf("  without the access-once buffer:  %s\n", none_path);
    printf("  with it, for page walks:         %s   (hvtrace record --cache walk)\n\n", walk_path);
    if (events_load(walk_path, &t_walk) < 0) {
        events_free(&t_none);
        return HVT_EXIT_CORRUPT;
    }
    /* Replay step (the replayer's to add, include/hvtrace/replay.h): re-run both traces with
     * hvt_rpl_run and print its verdicts next to the trace-level view below. */
    multi_none = count_multi(&t_none, &div_none);
    multi_walk = count_multi(&t_walk, &div_walk);

    if (!e) {
        printf("No event diverged in this run (seed %" PRIu64 "): try another --seed.\n", seed);
    } else {
        disasm(e, what, sizeof(what));
        printf("WITHOUT the buffer: event %" PRIu64 " on vCPU %u, rip 0x%" PRIx64 ": %s\n", e->id,
               e->vcpu, e->init.rip, what);
        printf("  pass 0 ended ");
        print_outcome(&e->passes[0]);
        printf("  between the passes, another writer rewrote the buffer's page-table entry;\n");
        printf("  pass %u ended ", q);
        print_outcome(&e->passes[q]);
        side_by_side(e, q, la);
        explain(e, q, la);
        printf("  %u of %u multi-pass events read different page-walk data between passes.\n\n",
               div_none, multi_none);

        /* The same event in the second trace: same seed, same history up to here. */
        for (size_t i = 0; i < t_walk.n && !w; i++) {
            if (t_walk.ev[i]->id == e->id && t_walk.ev[i]->vcpu == e->vcpu &&
                t_walk.ev[i]->init.rip == e->init.rip && t_walk.ev[i]->n_passes > q)
                w = t_walk.ev[i];
        }
        if (w) {
            printf("WITH the buffer: the same event %" PRIu64 " (the PTE was rewritten at the "
                   "same moment)\n",
                   w->id);
            printf("  pass %u ended ", q);
            print_outcome(&w->passes[q]);
            if (!side_by_side(w, q, la))
                printf("  => pass %u got pass 0's page-walk values from the access-once "
                       "buffer: same\n     translation, same data, as if the instruction had "
                       "run once.\n",
                       q);
        }
    }
    printf("  %u of %u multi-pass events read different page-walk data with the buffer "
           "(%" PRIu64 " reads\n  served from it, %" PRIu64 " page-table rewrites by the racing "
           "writer).\n\n",
           div_walk, multi_walk, s_walk.cache_hits, s_walk.agent_actions);
    printf("Replayed offline on the reference core (hvtrace replay):\n");
    long rn = demo_replay("without the buffer", none_path, HVT_RPL_CACHE_WALK);
    long rw = demo_replay("with the buffer", walk_path, HVT_RPL_CACHE_NONE);
    printf("\n");
    printf("Look at them yourself:\n");
    if (e) {
        printf("  hvtrace dump %s --events %" PRIu64 "\n", none_path, e->id);
        printf("  hvtrace dump %s --events %" PRIu64 "\n", walk_path, e->id);
        printf("  hvtrace replay %s --cache walk\n", none_path);
    } else {
        printf("  hvtrace dump %s\n", none_path);
    }
    events_free(&t_none);
    events_free(&t_walk);
    if (rn < 0 || rw < 0)
        return HVT_EXIT_CORRUPT;
    return e && div_walk == 0 && rw == 0 ? HVT_EXIT_OK : 1;
}
