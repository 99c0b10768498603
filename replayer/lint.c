/* SPDX-License-Identifier: MIT */
/* Replayer: lint, consistency checks of decoded trace records from any recorder (lint.h). */
#include "hvtrace/lint.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/rules.h"
#include "hvtrace/error.h"

/* Lost markers held until the event they name: more than this many waiting is reported once
 * and the rest are not held (a hostile trace cannot make lint's memory or time grow). */
#define LINT_MAX_PENDING 4096
/* vCPUs and passes with lost records tracked at once, for the same reason. */
#define LINT_MAX_VCPUS 4096
#define LINT_MAX_ENTRIES 65536

/* Paging modes of an event, from its initial state. */
enum pg_mode { PG_OFF, PG_2LEVEL, PG_PAE, PG_4LEVEL, PG_5LEVEL };

/* A translated page: KEY is level << 60 | (linear >> page shift of that level). The slot is
 * live for the event with generation GEN (no clearing between events). */
struct xslot {
    uint64_t key;
    uint64_t gen;
};

/* A pass of a vCPU's last event with lost records, or named by a lost marker. */
struct lost_entry {
    uint32_t pass, lost, nacc;
    uint64_t sum; /* the counts of the markers naming it */
};

/* A vCPU's last event, open for the lost markers that name it. */
struct lint_vcpu {
    uint32_t vcpu, flags, npasses;
    int has_last;
    uint64_t id, record;
    struct lost_entry *e;
    size_t n, cap;
};

struct hvt_lint {
    hvt_lint_fn fn;
    void *arg;
    int stopped;
    struct hvt_lint_stats st;
    /* where the current problem is */
    uint64_t rec, ev_id;
    int found; /* problems found by the current call */
    /* translations of the current event */
    struct xslot *xs;
    size_t xcap, xn;
    uint64_t gen;
    /* lost markers waiting for their event */
    struct hvt_lost *pend;
    size_t npend;
    int pend_overflow;
    struct lint_vcpu *v;
    size_t nv, nentries;
    int lost_off; /* a limit was passed: lost markers are no longer checked */
    int nomem;
};

int hvt_lint_new(struct hvt_lint **out, hvt_lint_fn fn, void *arg)
{
    struct hvt_lint *l;
    if (!out)
        return -HVT_E_INVALID;
    *out = NULL;
    l = calloc(1, sizeof(*l));
    if (!l)
        return -HVT_E_NOMEM;
    l->pend = calloc(LINT_MAX_PENDING, sizeof(*l->pend));
    l->v = calloc(LINT_MAX_VCPUS, sizeof(*l->v));
    if (!l->pend || !l->v) {
        free(l->pend);
        free(l->v);
        free(l);
        return -HVT_E_NOMEM;
    }
    l->fn = fn;
    l->arg = arg;
    *out = l;
    return 0;
}

void hvt_lint_free(struct hvt_lint *l)
{
    if (!l)
        return;
    free(l->xs);
    free(l->pend);
    for (size_t i = 0; i < l->nv; i++)
        free(l->v[i].e);
    free(l->v);
    free(l);
}

int hvt_lint_get_stats(const struct hvt_lint *l, struct hvt_lint_stats *out)
{
    if (!l || !out)
        return -HVT_E_INVALID;
    *out = l->st;
    return 0;
}

static void problem(struct hvt_lint *l, int64_t pass, int64_t access, const char *check,
                    const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static void problem(struct hvt_lint *l, int64_t pass, int64_t access, const char *check,
                    const char *fmt, ...)
{
    char reason[256];
    struct hvt_lint_problem p;
    va_list ap;
    if (l->stopped)
        return;
    va_start(ap, fmt);
    vsnprintf(reason, sizeof(reason), fmt, ap);
    va_end(ap);
    l->st.problems++;
    l->found++;
    p.record = l->rec;
    p.event = l->ev_id;
    p.pass = pass;
    p.access = access;
    p.check = check;
    p.reason = reason;
    if (l->fn && l->fn(l->arg, &p))
        l->stopped = 1;
}

/* ---- the event's paging mode and translations ----------------------------------------- */

static enum pg_mode paging_of(const struct hvt_vcpu_state *s)
{
    if (!(s->cr0 & HVT_CR0_PG) || !(s->cr0 & HVT_CR0_PE))
        return PG_OFF;
    if (s->efer & HVT_EFER_LMA)
        return (s->cr4 & HVT_CR4_LA57) ? PG_5LEVEL : PG_4LEVEL;
    return (s->cr4 & HVT_CR4_PAE) ? PG_PAE : PG_2LEVEL;
}

static const char *const pg_names[] = {"paging off", "2-level paging", "PAE paging",
                                       "4-level paging", "5-level paging"};

/* Page shift of a leaf at LEVEL (1, 2, 3). */
static unsigned leaf_shift(enum pg_mode m, unsigned level)
{
    if (m == PG_2LEVEL)
        return level == 1 ? 12 : 22;
    return 12 + 9 * (level - 1);
}

static uint64_t xhash(uint64_t k)
{
    k ^= k >> 33;
    k *= 0xff51afd7ed558ccdull;
    k ^= k >> 33;
    return k;
}

static int xs_has(const struct hvt_lint *l, uint64_t key)
{
    if (!l->xcap)
        return 0;
    for (size_t i = xhash(key) & (l->xcap - 1);; i = (i + 1) & (l->xcap - 1)) {
        if (l->xs[i].gen != l->gen)
            return 0;
        if (l->xs[i].key == key)
            return 1;
    }
}

static int xs_add(struct hvt_lint *l, uint64_t key)
{
    size_t i;
    if (xs_has(l, key))
        return 0;
    if ((l->xn + 1) * 2 > l->xcap) {
        /* grow (at most one slot per walk access of the event, so bounded by the format) */
        size_t ncap = l->xcap ? l->xcap * 2 : 64;
        struct xslot *old = l->xs, *nx = calloc(ncap, sizeof(*nx));
        size_t ocap = l->xcap;
        if (!nx)
            return -HVT_E_NOMEM;
        l->xs = nx;
        l->xcap = ncap;
        for (size_t k = 0; k < ocap; k++) {
            if (old[k].gen != l->gen)
                continue;
            for (i = xhash(old[k].key) & (ncap - 1); nx[i].gen == l->gen; i = (i + 1) & (ncap - 1))
                ;
            nx[i] = old[k];
        }
        free(old);
    }
    for (i = xhash(key) & (l->xcap - 1); l->xs[i].gen == l->gen; i = (i + 1) & (l->xcap - 1))
        ;
    l->xs[i].key = key;
    l->xs[i].gen = l->gen;
    l->xn++;
    return 0;
}

/* Whether linear address LA (physical PA) was translated: by a walk of LA's page, or by a
 * walk recorded without a linear address whose leaf entry names PA's frame. */
static int covered(const struct hvt_lint *l, enum pg_mode m, uint64_t la, uint64_t pa)
{
    for (unsigned lv = 1; lv <= 3; lv++) {
        unsigned sh = leaf_shift(m, lv);
        if (lv == 3 && m != PG_4LEVEL && m != PG_5LEVEL)
            break;
        if (xs_has(l, (uint64_t)lv << 60 | la >> sh) ||
            xs_has(l, (uint64_t)(lv + 4) << 60 | pa >> sh))
            return 1;
    }
    return 0;
}

/* ---- the instruction, from its bytes ------------------------------------------------- */

enum insn_kind { INSN_OTHER, INSN_STRING, INSN_GATHER };

static enum insn_kind insn_kind_of(const struct hvt_event *ev, int long64)
{
    const uint8_t *b = ev->insn, *end = ev->insn + ev->insn_len;
    for (; b < end; b++) {
        if (*b == 0xf0 || *b == 0xf2 || *b == 0xf3 || *b == 0x66 || *b == 0x67 || *b == 0x26 ||
            *b == 0x2e || *b == 0x36 || *b == 0x3e || *b == 0x64 || *b == 0x65)
            continue;
        if (long64 && (*b & 0xf0) == 0x40)
            continue;
        break;
    }
    if (b >= end)
        return INSN_OTHER;
    if ((*b >= 0x6c && *b <= 0x6f) || (*b >= 0xa4 && *b <= 0xa7) || (*b >= 0xaa && *b <= 0xaf))
        return INSN_STRING;
    /* VEX.0F38 90..93: the AVX2 gathers (outside 64-bit mode C4 is VEX only with mod 3) */
    if (*b == 0xc4 && end - b >= 4 && (long64 || (b[1] & 0xc0) == 0xc0) && (b[1] & 0x1f) == 2 &&
        b[3] >= 0x90 && b[3] <= 0x93)
        return INSN_GATHER;
    return INSN_OTHER;
}

/* ---- per access ---------------------------------------------------------------------- */

static void check_tag_segment(struct hvt_lint *l, enum pg_mode m, uint32_t p, uint32_t i,
                              const struct hvt_access *a)
{
    char why[160];
    unsigned cls = a->tag.cls, want;

    if (hvt_access_explain(a, why, sizeof(why)))
        problem(l, p, i, "tag", "%s", why);
    if ((cls == HVT_TAG_WALK || cls == HVT_TAG_AD) && a->tag.level) {
        unsigned lv = a->tag.level;
        int ok = m == PG_2LEVEL   ? lv <= 2
                 : m == PG_PAE    ? lv <= 2 || (cls == HVT_TAG_WALK && lv == HVT_WALK_PAE_PDPTE)
                 : m == PG_4LEVEL ? lv <= 4
                 : m == PG_5LEVEL ? lv <= 5
                                  : 1; /* paging off: reported by the walk check */
        unsigned esz = m == PG_2LEVEL ? 4 : 8;
        if (!ok)
            problem(l, p, i, "tag", "%s level %u in %s", hvt_tag_class_name(cls), lv, pg_names[m]);
        if (m != PG_OFF && a->size != esz)
            problem(l, p, i, "tag", "%s of %u bytes (entries are %u bytes in %s)",
                    hvt_tag_class_name(cls), a->size, esz, pg_names[m]);
    }
    /* (a walk or a/d update may name the operand it translates for; a descriptor, which) */
    if (cls == HVT_TAG_DATA
            ? a->tag.operand > 1
            : a->tag.operand && (cls == HVT_TAG_FETCH || cls == HVT_TAG_STACK || cls == HVT_TAG_IO))
        problem(l, p, i, "tag",
                "operand %u on a %s access (data operands are 0 and 1, the second memory operand "
                "of MOVS/CMPS; fetch, stack and I/O accesses have none)",
                a->tag.operand, hvt_tag_class_name(cls));
    if (a->tag.element && cls != HVT_TAG_DATA && cls != HVT_TAG_IO)
        problem(l, p, i, "tag",
                "element %" PRIu32 " on a %s access (elements number the REP iterations and "
                "gather elements of data and I/O accesses)",
                a->tag.element, hvt_tag_class_name(cls));

    switch (cls) {
    case HVT_TAG_FETCH:
        want = HVT_SEG_CS;
        break;
    case HVT_TAG_STACK:
        want = HVT_SEG_SS;
        break;
    case HVT_TAG_DATA:
        if (a->seg > HVT_SEG_GS)
            problem(l, p, i, "segment", "data access with segment %s (data goes through ES..GS)",
                    hvt_seg_name(a->seg));
        want = a->seg;
        break;
    case HVT_TAG_DESC:
        if (a->seg < HVT_SEG_LDTR || a->seg > HVT_SEG_IDTR)
            problem(l, p, i, "segment",
                    "descriptor access with segment %s (descriptors come from LDTR, TR, GDTR or "
                    "IDTR)",
                    hvt_seg_name(a->seg));
        want = a->seg;
        break;
    default: /* walk, A/D, I/O: physical */
        want = HVT_SEG_NONE;
        break;
    }
    if (a->seg != want && cls != HVT_TAG_DATA && cls != HVT_TAG_DESC)
        problem(l, p, i, "segment", "%s access with segment %s (it goes through %s)",
                hvt_tag_class_name(cls), hvt_seg_name(a->seg), hvt_seg_name(want));
    if (cls == HVT_TAG_IO) {
        if (a->flags & HVT_AF_LINEAR_VALID)
            problem(l, p, i, "segment", "port I/O with a linear address");
        if (a->size != 1 && a->size != 2 && a->size != 4)
            problem(l, p, i, "segment", "port I/O of %u bytes (1, 2 or 4)", a->size);
    }
}

/* ---- per event ----------------------------------------------------------------------- */

/* Fetch bytes [OFF, OFF+SIZE) of the instruction into *MASK (bit k = byte k fetched). */
static uint32_t fetch_mask(uint64_t off, uint32_t size, unsigned len)
{
    uint32_t m = 0;
    for (uint64_t k = off; k < off + size && k < len; k++)
        m |= 1u << k;
    return m;
}

static void check_fetch(struct hvt_lint *l, const struct hvt_event *ev, uint32_t p,
                        const struct hvt_access *a, uint32_t i, uint64_t ip_la, int long64,
                        uint64_t *next_off, uint32_t *mask)
{
    uint64_t off = *next_off;
    unsigned len = ev->insn_len;
    if (a->flags & HVT_AF_LINEAR_VALID) {
        off = a->linear - ip_la;
        if (!long64)
            off &= 0xffffffffull;
    }
    *next_off = off + a->size;
    if (!len || off >= len || a->outcome != HVT_OP_OKAY)
        return;
    *mask |= fetch_mask(off, a->size, len);
    for (uint64_t k = off; k < off + a->size && k < len; k++) {
        if (a->data[k - off] != ev->insn[k]) {
            problem(l, p, i, "fetch",
                    "fetched byte %" PRIu64 " of the instruction is %02x, the event's instruction "
                    "bytes say %02x",
                    k, a->data[k - off], ev->insn[k]);
            return;
        }
    }
}

/* BASE: the iterations earlier passes completed (a recorder may number a re-execution's
 * iterations from 0 or go on from there). */
static void check_pass_elements(struct hvt_lint *l, const struct hvt_pass *ps, uint32_t p,
                                enum insn_kind kind, uint64_t base)
{
    int have = 0;
    uint32_t last = 0, start = 0;
    for (uint32_t i = 0; i < ps->n_accesses; i++) {
        const struct hvt_access *a = &ps->accesses[i];
        uint32_t e = a->tag.element;
        if (a->tag.cls != HVT_TAG_DATA && a->tag.cls != HVT_TAG_IO)
            continue;
        if (have && e < last) {
            problem(l, p, i, "element",
                    "element %" PRIu32 " after element %" PRIu32
                    " (elements never go backwards within a pass)",
                    e, last);
            return;
        }
        if (kind == INSN_STRING) {
            if (!have && e != 0 && e != base) {
                problem(l, p, i, "element",
                        "the pass's first iteration is %" PRIu32 " (0, or %" PRIu64
                        " to go on from the earlier passes)",
                        e, base);
                return;
            }
            if (!have)
                start = e;
            if (have && e > last + 1) {
                problem(l, p, i, "element",
                        "iteration %" PRIu32 " after %" PRIu32
                        " (REP iterations are numbered without gaps)",
                        e, last);
                return;
            }
            if (ps->out.iterations && e - start > ps->out.iterations) {
                problem(l, p, i, "element",
                        "iteration %" PRIu32 " beyond the pass's %" PRIu32 " completed iterations",
                        e, ps->out.iterations);
                return;
            }
        }
        have = 1;
        last = e;
    }
}

static void check_outcomes(struct hvt_lint *l, const struct hvt_event *ev)
{
    char why[160];
    if (ev->flags & ~(uint32_t)(HVT_EV_ABANDONED | HVT_EV_INCOMPLETE))
        problem(l, -1, -1, "outcome", "unknown event flags 0x%x",
                ev->flags & ~(uint32_t)(HVT_EV_ABANDONED | HVT_EV_INCOMPLETE));
    for (uint32_t p = 0; p < ev->n_passes; p++) {
        const struct hvt_pass *ps = &ev->passes[p];
        if (ps->index != p)
            problem(l, p, -1, "outcome", "pass %u has index %" PRIu32, p, ps->index);
        if (hvt_outcome_explain(&ps->out, why, sizeof(why)))
            problem(l, p, -1, "outcome", "%s", why);
        if (p + 1 < ev->n_passes && ps->out.kind != HVT_OUT_RETRY)
            problem(l, p, -1, "outcome",
                    "pass ended %s but pass %u follows (only RETRY re-executes)",
                    hvt_outcome_name(ps->out.kind), p + 1);
        for (uint32_t i = 0; i < ps->n_accesses; i++) {
            const struct hvt_access *a = &ps->accesses[i];
            if (a->outcome != HVT_OP_RETRY && a->outcome != HVT_OP_UNHANDLEABLE)
                continue;
            if (i + 1 < ps->n_accesses)
                problem(l, p, i, "outcome",
                        "access answered %s but the pass made %" PRIu32 " more accesses",
                        hvt_op_result_name(a->outcome), ps->n_accesses - i - 1);
            else if (a->outcome == HVT_OP_RETRY && ps->out.kind != HVT_OUT_RETRY)
                problem(l, p, i, "outcome", "access answered retry but the pass ended %s",
                        hvt_outcome_name(ps->out.kind));
        }
    }
}

/* ---- lost markers ----------------------------------------------------------------- */

/* A marker can come before the event it names (the recorder writes them so) or after it (as
 * the dump shows them): each vCPU's last event stays open for markers until the vCPU's next
 * event, when the markers of each pass must add up to the pass's lost count. */

static struct lint_vcpu *vcpu_of(struct hvt_lint *l, uint32_t vcpu)
{
    for (size_t i = 0; i < l->nv; i++)
        if (l->v[i].vcpu == vcpu)
            return &l->v[i];
    if (l->nv >= LINT_MAX_VCPUS) {
        if (!l->lost_off)
            problem(l, -1, -1, "lost",
                    "more than %d vCPUs: lost markers are not checked from here on",
                    LINT_MAX_VCPUS);
        l->lost_off = 1;
        return NULL;
    }
    memset(&l->v[l->nv], 0, sizeof(l->v[0]));
    l->v[l->nv].vcpu = vcpu;
    return &l->v[l->nv++];
}

static struct lost_entry *entry_of(struct hvt_lint *l, struct lint_vcpu *v, uint32_t pass)
{
    for (size_t i = 0; i < v->n; i++)
        if (v->e[i].pass == pass)
            return &v->e[i];
    if (l->nentries >= LINT_MAX_ENTRIES) {
        if (!l->lost_off)
            problem(l, -1, -1, "lost",
                    "more than %d passes with lost records open: lost markers are not checked "
                    "from here on",
                    LINT_MAX_ENTRIES);
        l->lost_off = 1;
        return NULL;
    }
    if (v->n == v->cap) {
        size_t nc = v->cap ? v->cap * 2 : 4;
        struct lost_entry *ne = realloc(v->e, nc * sizeof(*ne));
        if (!ne) {
            l->nomem = 1;
            return NULL;
        }
        v->e = ne;
        v->cap = nc;
    }
    l->nentries++;
    memset(&v->e[v->n], 0, sizeof(v->e[0]));
    v->e[v->n].pass = pass;
    return &v->e[v->n++];
}

/* Marker M against V's last event. */
static void apply_marker(struct hvt_lint *l, struct lint_vcpu *v, const struct hvt_lost *m)
{
    struct lost_entry *e;
    if (m->pass >= v->npasses) {
        problem(l, m->pass, -1, "lost", "lost marker names pass %" PRIu32 " of %" PRIu32, m->pass,
                v->npasses);
        return;
    }
    e = entry_of(l, v, m->pass);
    if (!e)
        return;
    e->sum += m->count;
    if (e->lost && (uint64_t)m->access > (uint64_t)e->nacc + e->lost)
        problem(l, m->pass, m->access, "lost",
                "lost marker at access %" PRIu32 " of a pass with %" PRIu32 " accesses and %" PRIu32
                " lost",
                m->access, e->nacc, e->lost);
}

/* Closes V's last event: the markers of each pass add up to its lost count; lost records
 * flag the event incomplete. */
static void close_last(struct hvt_lint *l, struct lint_vcpu *v)
{
    uint64_t rec = l->rec, id = l->ev_id;
    int lost = 0;
    if (!v->n)
        return;
    l->rec = v->record;
    l->ev_id = v->id;
    for (size_t i = 0; i < v->n; i++) {
        const struct lost_entry *e = &v->e[i];
        lost |= e->lost || e->sum;
        if (e->sum != e->lost)
            problem(l, e->pass, -1, "lost",
                    "the pass lost %" PRIu32 " accesses but its lost markers count %" PRIu64,
                    e->lost, e->sum);
    }
    if (lost && !(v->flags & HVT_EV_INCOMPLETE))
        problem(l, -1, -1, "lost", "event has lost records but is not flagged incomplete");
    l->nentries -= v->n;
    v->n = 0;
    l->rec = rec;
    l->ev_id = id;
}

static void lost_event(struct hvt_lint *l, const struct hvt_event *ev)
{
    struct lint_vcpu *v;
    size_t k = 0;
    if (l->lost_off || !(v = vcpu_of(l, ev->vcpu)))
        return;
    close_last(l, v);
    v->has_last = 1;
    v->id = ev->id;
    v->flags = ev->flags;
    v->npasses = ev->n_passes;
    v->record = l->rec;
    for (uint32_t p = 0; p < ev->n_passes; p++) {
        struct lost_entry *e;
        if (!ev->passes[p].lost)
            continue;
        if (!(e = entry_of(l, v, p)))
            return;
        e->lost = ev->passes[p].lost;
        e->nacc = ev->passes[p].n_accesses;
    }
    for (size_t j = 0; j < l->npend; j++) {
        const struct hvt_lost *m = &l->pend[j];
        if (m->vcpu != ev->vcpu) {
            l->pend[k++] = *m;
            continue;
        }
        if (m->event_id != ev->id)
            problem(l, -1, -1, "lost",
                    "a lost marker of vCPU %" PRIu32 " names event %" PRIu64
                    " but the vCPU's next event is %" PRIu64,
                    m->vcpu, m->event_id, ev->id);
        else
            apply_marker(l, v, m);
    }
    l->npend = k;
}

static void check_lost_marker(struct hvt_lint *l, const struct hvt_lost *m)
{
    struct lint_vcpu *v;
    l->ev_id = m->event_id;
    l->st.lost_markers++;
    if (!m->count)
        problem(l, -1, -1, "lost", "lost marker with a count of 0");
    if (m->event_id == HVT_NO_EVENT || l->lost_off || !(v = vcpu_of(l, m->vcpu)))
        return;
    if (v->has_last && m->event_id == v->id) {
        apply_marker(l, v, m);
        return;
    }
    if (v->has_last && m->event_id < v->id) {
        problem(l, -1, -1, "lost",
                "lost marker of vCPU %" PRIu32 " names event %" PRIu64
                ", neither the vCPU's last event (%" PRIu64 ") nor a later one",
                m->vcpu, m->event_id, v->id);
        return;
    }
    if (l->npend >= LINT_MAX_PENDING) {
        if (!l->pend_overflow)
            problem(l, -1, -1, "lost",
                    "more than %d lost markers wait for their events: the rest are not checked",
                    LINT_MAX_PENDING);
        l->pend_overflow = 1;
        return;
    }
    l->pend[l->npend++] = *m;
}

static int lint_event(struct hvt_lint *l, const struct hvt_event *ev)
{
    const struct hvt_vcpu_state *s = &ev->init;
    enum pg_mode m = paging_of(s);
    int long64 = (s->efer & HVT_EFER_LMA) && (s->seg[HVT_SEG_CS].attr & HVT_SEG_ATTR_L);
    enum insn_kind kind = insn_kind_of(ev, long64);
    uint64_t ip_la = long64 ? s->rip : (s->seg[HVT_SEG_CS].base + s->rip) & 0xffffffffull;
    uint32_t full = ev->insn_len ? (uint32_t)((1ull << ev->insn_len) - 1) : 0, fetched = 0;
    uint64_t done = 0; /* iterations completed by the passes so far */
    int err;

    l->ev_id = ev->id;
    l->gen++;
    l->xn = 0;
    l->st.events++;
    check_outcomes(l, ev);
    for (uint32_t p = 0; p < ev->n_passes && !l->stopped; p++) {
        const struct hvt_pass *ps = &ev->passes[p];
        uint64_t next_off = 0;
        int executed = ps->out.kind == HVT_OUT_OKAY;
        l->st.passes++;
        l->st.accesses += ps->n_accesses;
        for (uint32_t i = 0; i < ps->n_accesses && !l->stopped; i++) {
            const struct hvt_access *a = &ps->accesses[i];
            unsigned cls = a->tag.cls;
            check_tag_segment(l, m, p, i, a);
            if (cls == HVT_TAG_WALK || cls == HVT_TAG_AD) {
                if (m == PG_OFF) {
                    problem(l, p, i, "walk", "%s access with paging off (CR0.PG clear)",
                            hvt_tag_class_name(cls));
                    continue;
                }
                /* a present leaf entry read translates its page */
                if (cls == HVT_TAG_WALK && a->outcome == HVT_OP_OKAY && (a->data[0] & 1) &&
                    (a->tag.level == 1 ||
                     ((a->tag.level == 2 || (a->tag.level == 3 && m >= PG_4LEVEL)) &&
                      (a->data[0] & 0x80)))) {
                    unsigned lv = a->tag.level, sh = leaf_shift(m, lv);
                    uint64_t key;
                    if (a->flags & HVT_AF_LINEAR_VALID) {
                        key = (uint64_t)lv << 60 | a->linear >> sh;
                    } else {
                        /* a walk not attributed to a linear address translates to the frame
                         * its leaf entry names: later accesses to that frame are covered */
                        uint64_t e = 0;
                        memcpy(&e, a->data, a->size < 8 ? a->size : 8);
                        e &= m == PG_2LEVEL ? 0xfffff000ull : 0x000ffffffffff000ull;
                        key = (uint64_t)(lv + 4) << 60 | e >> sh;
                    }
                    if ((err = xs_add(l, key)))
                        return err;
                }
                continue;
            }
            if (cls == HVT_TAG_IO) {
                executed = 1;
                continue;
            }
            if (cls != HVT_TAG_FETCH)
                executed = 1;
            else
                check_fetch(l, ev, p, a, i, ip_la, long64, &next_off, &fetched);
            if (m != PG_OFF && (a->flags & HVT_AF_LINEAR_VALID)) {
                uint64_t last = a->linear + a->size - 1, plast = a->phys + a->size - 1;
                int c0 = covered(l, m, a->linear, a->phys);
                if (!c0 || !covered(l, m, last, plast))
                    problem(l, p, i, "walk",
                            "%s access at 0x%" PRIx64 " with no walk of its page in this or an "
                            "earlier pass",
                            hvt_tag_class_name(cls), c0 ? last : a->linear);
            }
        }
        if (executed && full && (fetched & full) != full) {
            unsigned first = 0;
            while ((fetched >> first) & 1)
                first++;
            problem(l, p, -1, "fetch",
                    "the fetches cover %u of the instruction's %u bytes (byte %u never fetched)",
                    (unsigned)__builtin_popcount(fetched & full), ev->insn_len, first);
        }
        check_pass_elements(l, ps, p, kind, done);
        done += ps->out.iterations;
    }
    lost_event(l, ev);
    return l->nomem ? -HVT_E_NOMEM : 0;
}

int hvt_lint_record(struct hvt_lint *l, const struct hvt_record *rec)
{
    int err = 0;
    if (!l || !rec)
        return -HVT_E_INVALID;
    if (rec->type == HVT_REC_EVENT ? !rec->u.event : rec->type == HVT_REC_LOST ? !rec->u.lost : 1)
        return -HVT_E_INVALID;
    l->found = 0;
    l->rec = l->st.records++;
    if (l->stopped)
        return 0;
    if (rec->type == HVT_REC_EVENT)
        err = lint_event(l, rec->u.event);
    else
        check_lost_marker(l, rec->u.lost);
    return err ? err : l->found;
}

int hvt_lint_finish(struct hvt_lint *l)
{
    if (!l)
        return -HVT_E_INVALID;
    l->found = 0;
    for (size_t i = 0; i < l->nv; i++)
        close_last(l, &l->v[i]);
    for (size_t j = 0; j < l->npend; j++) {
        l->ev_id = l->pend[j].event_id;
        problem(l, -1, -1, "lost",
                "lost marker of vCPU %" PRIu32 " names event %" PRIu64
                ", which does not follow in the trace",
                l->pend[j].vcpu, l->pend[j].event_id);
    }
    l->npend = 0;
    return l->found;
}

int64_t hvt_lint_file(const char *path, hvt_lint_fn fn, void *arg, struct hvt_lint_stats *stats,
                      struct hvt_fmt_error_info *err)
{
    struct hvt_fmt_reader *r = NULL;
    struct hvt_lint *l = NULL;
    struct hvt_record rec;
    int rc;

    if (stats)
        memset(stats, 0, sizeof(*stats));
    if (err) {
        memset(err, 0, sizeof(*err));
        err->chunk = -1;
        err->record = -1;
    }
    if (!path)
        return -HVT_E_INVALID;
    rc = hvt_lint_new(&l, fn, arg);
    if (rc)
        return rc;
    rc = hvt_fmt_reader_open(&r, path, NULL);
    while (rc == 0 && (rc = hvt_fmt_reader_next(r, &rec)) == 1) {
        rc = hvt_lint_record(l, &rec);
        rc = rc > 0 ? 0 : rc;
    }
    /* the reader ends quietly at a damaged tail (a crashed writer) but says so */
    if (rc == 0 && r && hvt_fmt_reader_error(r)->code < 0)
        rc = hvt_fmt_reader_error(r)->code;
    if (rc == 0)
        rc = hvt_lint_finish(l) < 0 ? -HVT_E_INTERNAL : 0;
    if (rc < 0 && err) {
        const struct hvt_fmt_error_info *e = r ? hvt_fmt_reader_error(r) : NULL;
        if (e && e->code)
            *err = *e;
        else {
            err->code = rc;
            snprintf(err->message, sizeof(err->message), "%s", hvt_strerror(rc));
        }
    }
    if (stats)
        *stats = l->st;
    {
        int64_t n = (int64_t)l->st.problems;
        hvt_fmt_reader_close(r);
        hvt_lint_free(l);
        return rc < 0 ? rc : n;
    }
}
