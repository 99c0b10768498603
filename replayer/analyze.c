/* SPDX-License-Identifier: MIT */
/* Replayer: pass-to-pass analysis: match accesses of two passes by tag and classify changes. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <stddef.h>
#include <string.h>

#include "internal.h"

#define AD_BITS 0x60ull /* Accessed (bit 5) and Dirty (bit 6) of a paging-structure entry */
#define MAX_CHANGED_PAGES 64
#define MAX_DISTINCT_READS 512

void hvt_rpl_scratch_free(struct rpl_scratch *s)
{
    free(s->keys);
    s->keys = NULL;
    s->cap = 0;
}

int hvt_rpl_is_string_insn(const struct hvt_event *ev)
{
    const struct hvt_vcpu_state *st = &ev->init;
    int long64 = (st->seg[HVT_SEG_CS].attr & HVT_SEG_ATTR_L) && (st->efer & (1ull << 10));
    unsigned i = 0;

    while (i < ev->insn_len && i < HVT_INSN_MAX) {
        uint8_t b = ev->insn[i];
        if (b == 0x66 || b == 0x67 || b == 0xf2 || b == 0xf3 || b == 0x2e || b == 0x36 ||
            b == 0x3e || b == 0x26 || b == 0x64 || b == 0x65 || b == 0xf0 ||
            (long64 && b >= 0x40 && b <= 0x4f)) {
            i++;
            continue;
        }
        return (b >= 0xa4 && b <= 0xa7) || (b >= 0xaa && b <= 0xaf) || (b >= 0x6c && b <= 0x6f);
    }
    return 0;
}

/* The first min(size, 8) bytes at P (a record's data, HVT_DATA_MAX bytes) as a little-endian
 * value. */
static uint64_t value(const struct hvt_access *a, const uint8_t *p)
{
    uint64_t v = 0;
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    memcpy(&v, p, sizeof(v));
#else
    for (unsigned i = 0; i < 8; i++)
        v |= (uint64_t)p[i] << (8 * i);
#endif
    return a->size >= 8 ? v : v & ((1ull << (8 * a->size)) - 1);
}

/* Whether A and B differ in kind, tag class, operand, level, element or size: the first 16
 * bytes of an access (kind, space, seg, outcome, the tag, size) compared as two words, the
 * space, segment, outcome and the tag's reserved byte masked out. */
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
_Static_assert(offsetof(struct hvt_access, kind) == 0 && offsetof(struct hvt_access, tag) == 4 &&
                   offsetof(struct hvt_tag, level) == 2 && offsetof(struct hvt_tag, element) == 4 &&
                   offsetof(struct hvt_access, size) == 12,
               "the key words of an access");
static inline int key_words_differ(const struct hvt_access *A, const struct hvt_access *B)
{
    uint64_t a0, a1, b0, b1;
    memcpy(&a0, A, 8);
    memcpy(&b0, B, 8);
    memcpy(&a1, (const uint8_t *)A + 8, 8);
    memcpy(&b1, (const uint8_t *)B + 8, 8);
    return ((a0 ^ b0) & 0x00ffffff000000ffull) || a1 != b1;
}
#else
static inline int key_words_differ(const struct hvt_access *A, const struct hvt_access *B)
{
    return A->kind != B->kind || A->tag.cls != B->tag.cls || A->tag.operand != B->tag.operand ||
           A->tag.level != B->tag.level || A->tag.element != B->tag.element || A->size != B->size;
}
#endif

static int is_read(const struct hvt_access *a)
{
    return a->kind == HVT_ACC_READ || a->kind == HVT_ACC_FETCH || a->kind == HVT_ACC_IO_IN;
}

static unsigned data_len(const struct hvt_access *a)
{
    return a->size <= HVT_DATA_MAX ? a->size : HVT_DATA_MAX;
}

static void set_sides(struct hvt_rpl_finding *f, const struct hvt_pass *a, uint32_t ia,
                      const struct hvt_pass *b, uint32_t ib)
{
    if (a) {
        f->idx_a = (int32_t)ia;
        f->acc_a = a->accesses[ia];
    }
    if (b) {
        f->idx_b = (int32_t)ib;
        f->acc_b = b->accesses[ib];
    }
}

/* ---- registers and distinct operands (one pass) ------------------------------------------- */

static void check_regs(struct rpl_fvec *fv, const struct hvt_event *ev,
                       const struct hvt_pass *passes, uint32_t k, int str)
{
    const struct hvt_pass *p = &passes[k];
    const struct hvt_vcpu_state *start = k ? &passes[k - 1].end : &ev->init;
    struct hvt_rpl_finding *f;
    char regs[100];
    int only_rep;
    unsigned cls;

    if (p->out.kind != HVT_OUT_RETRY ||
        !hvt_rpl_state_diff_rep(start, &p->end, regs, sizeof(regs), &only_rep))
        return;
    /* REP string instructions are interruptible between iterations: committing the finished
     * ones (RCX, RSI, RDI) is the architected restart state, not a broken RETRY contract. */
    cls = str && only_rep && p->out.iterations ? HVT_RPL_REP_PROGRESS
                                               : HVT_RPL_REGS_MODIFIED_BEFORE_RETRY;
    f = hvt_rpl_fvec_add(fv, cls, k, k);
    if (f)
        snprintf(
            f->detail, sizeof(f->detail),
            "pass %u ended RETRY (%s) with changed registers: %.60s; %u iteration(s) committed", k,
            hvt_retry_cause_name(p->out.retry_cause), regs, p->out.iterations);
}

static void check_distinct(struct rpl_fvec *fv, const struct hvt_pass *p, uint32_t k)
{
    uint32_t seen = 0;
    for (uint32_t i = 0; i < p->n_accesses && seen < MAX_DISTINCT_READS; i++) {
        const struct hvt_access *x = &p->accesses[i];
        if (x->tag.cls != HVT_TAG_DATA || x->kind != HVT_ACC_READ || x->outcome != HVT_OP_OKAY)
            continue;
        seen++;
        for (uint32_t j = i + 1; j < p->n_accesses; j++) {
            const struct hvt_access *y = &p->accesses[j];
            struct hvt_rpl_finding *f;
            if (y->tag.cls != HVT_TAG_DATA || y->kind != HVT_ACC_READ ||
                y->outcome != HVT_OP_OKAY || y->tag.operand == x->tag.operand ||
                y->tag.element != x->tag.element || y->phys != x->phys || y->size != x->size ||
                !memcmp(x->data, y->data, data_len(x)))
                continue;
            f = hvt_rpl_fvec_add(fv, HVT_RPL_DISTINCT_OPERANDS, k, k);
            if (f) {
                set_sides(f, p, i, p, j);
                snprintf(f->detail, sizeof(f->detail),
                         "operands %u and %u of pass %u read phys 0x%" PRIx64
                         " with different data (allowed: distinct operands)",
                         x->tag.operand, y->tag.operand, k, x->phys);
            }
            break;
        }
    }
}

/* ---- matching ------------------------------------------------------------------------------ */

struct ent {
    uint64_t key;
    uint32_t idx; /* access index in its pass */
    uint32_t occ; /* occurrence of this key in its pass */
};

static int ent_cmp(const void *x, const void *y)
{
    const struct ent *a = x, *b = y;
    if (a->key != b->key)
        return a->key < b->key ? -1 : 1;
    if (a->occ != b->occ)
        return a->occ < b->occ ? -1 : 1;
    return a->idx < b->idx ? -1 : a->idx > b->idx;
}

/* Sorts E by (key, index) and numbers the occurrences of each key. */
static void number(struct ent *e, size_t n)
{
    for (size_t i = 0; i < n; i++)
        e[i].occ = 0;
    if (n <= 64) {
        /* a pass's few accesses: a stable insertion sort by key (E is in index order), with no
         * comparator call per step */
        for (size_t i = 1; i < n; i++) {
            struct ent t = e[i];
            size_t j = i;
            for (; j > 0 && e[j - 1].key > t.key; j--)
                e[j] = e[j - 1];
            e[j] = t;
        }
    } else {
        qsort(e, n, sizeof(*e), ent_cmp);
    }
    for (size_t i = 1; i < n; i++)
        if (e[i].key == e[i - 1].key)
            e[i].occ = e[i - 1].occ + 1;
}

static const struct ent *find(const struct ent *e, size_t n, uint64_t key, uint32_t occ)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (e[mid].key < key || (e[mid].key == key && e[mid].occ < occ))
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < n && e[lo].key == key && e[lo].occ == occ ? &e[lo] : NULL;
}

static int is_walk(const struct hvt_access *a)
{
    return a->tag.cls == HVT_TAG_WALK;
}

static uint64_t walk_key(const struct hvt_access *a)
{
    uint64_t la = (a->flags & HVT_AF_LINEAR_VALID) ? a->linear : 0;
    return ((la >> 12) << 4) | (a->tag.level & 0xf);
}

/* Key of a non-walk access; element shifted by SHIFT (REP iterations committed before). */
static uint64_t acc_key(const struct hvt_access *a, uint32_t shift)
{
    return ((uint64_t)a->tag.cls << 56) | ((uint64_t)a->tag.operand << 48) |
           ((uint64_t)a->kind << 40) | ((uint64_t)(a->tag.level & 0xff) << 32) |
           (uint64_t)(a->tag.element - shift);
}

/* Did a pass before B set BITS of the entry at PHYS with an A/D compare-exchange? */
static int ad_set_earlier(const struct hvt_pass *passes, uint32_t b, uint64_t phys, uint64_t bits)
{
    for (uint32_t k = 0; k < b; k++) {
        const struct hvt_pass *p = &passes[k];
        for (uint32_t i = 0; i < p->n_accesses; i++) {
            const struct hvt_access *a = &p->accesses[i];
            if (a->tag.cls == HVT_TAG_AD && a->kind == HVT_ACC_CMPXCHG && a->phys == phys &&
                a->outcome == HVT_OP_OKAY && (value(a, a->data) & bits) == bits)
                return 1;
        }
    }
    return 0;
}

struct changed {
    uint64_t page;
    size_t finding; /* index in the finding vector */
};

struct pair_ctx {
    struct rpl_fvec *fv;
    struct rpl_scratch *sc;
    const struct hvt_pass *passes;
    const struct hvt_pass *a, *b;
    uint32_t ka, kb;
    struct changed ch[MAX_CHANGED_PAGES];
    unsigned n_ch;
};

static struct changed *changed_page(struct pair_ctx *c, uint64_t page)
{
    for (unsigned i = 0; i < c->n_ch; i++)
        if (c->ch[i].page == page)
            return &c->ch[i];
    return NULL;
}

/* Matches the entries of B (NB, in access order) with those of A (NA, in access order): the
 * j-th occurrence of a key in B with the j-th occurrence of that key in A. Sets POS[idx of each
 * B entry] to the access index of its partner in A, or -1. When the keys of A and B agree
 * entry by entry up to the shorter of the two (a retried pass repeating the one before), the
 * j-th occurrence of a key sits at the same place on both sides, so the partner is the entry
 * at the same place; otherwise both sides are sorted by key and occurrence. */
static void match_keys(struct rpl_scratch *sc, struct ent *ea, size_t na, struct ent *eb, size_t nb,
                       int32_t *pos)
{
    size_t n = na < nb ? na : nb, i = 0;

    while (!sc->slow && i < n && ea[i].key == eb[i].key)
        i++;
    if (!sc->slow && i == n) {
        sc->n_positional++;
        for (size_t j = 0; j < nb; j++)
            pos[eb[j].idx] = j < na ? (int32_t)ea[j].idx : -1;
        return;
    }
    sc->n_sorted++;
    number(ea, na);
    number(eb, nb);
    for (size_t j = 0; j < nb; j++) {
        const struct ent *m = find(ea, na, eb[j].key, eb[j].occ);
        pos[eb[j].idx] = m ? (int32_t)m->idx : -1;
    }
}

static void walks(struct pair_ctx *c, struct ent *ea, struct ent *eb, int32_t *pos)
{
    const struct hvt_pass *a = c->a, *b = c->b;
    size_t na = 0, nb = 0;

    for (uint32_t i = 0; i < a->n_accesses; i++)
        if (is_walk(&a->accesses[i]))
            ea[na++] = (struct ent){walk_key(&a->accesses[i]), i, 0};
    for (uint32_t i = 0; i < b->n_accesses; i++)
        if (is_walk(&b->accesses[i]))
            eb[nb++] = (struct ent){walk_key(&b->accesses[i]), i, 0};
    match_keys(c->sc, ea, na, eb, nb, pos);
    /* visit pass b's walks in access order, so the first difference of a page is the highest
     * level (walks go top-down) and the lower ones are its consequences */
    for (uint32_t ib = 0; ib < b->n_accesses; ib++) {
        const struct hvt_access *B = &b->accesses[ib], *A;
        struct hvt_rpl_finding *f;
        uint64_t va, vb, page;
        uint32_t ia;
        if (!is_walk(B) || pos[ib] < 0)
            continue;
        ia = (uint32_t)pos[ib];
        A = &a->accesses[ia];
        if (A->outcome != HVT_OP_OKAY || B->outcome != HVT_OP_OKAY)
            continue;
        va = value(A, A->data);
        vb = value(B, B->data);
        if (A->phys == B->phys && A->size == B->size && va == vb)
            continue;
        page = walk_key(B) >> 4;
        if (changed_page(c, page))
            continue;
        if (A->phys == B->phys && !((va ^ vb) & ~AD_BITS) && (vb & (va ^ vb)) == (va ^ vb) &&
            ad_set_earlier(c->passes, c->kb, B->phys, va ^ vb)) {
            f = hvt_rpl_fvec_add(c->fv, HVT_RPL_AD_BITS_BY_EARLIER_PASS, c->ka, c->kb);
            if (f) {
                set_sides(f, a, ia, b, ib);
                snprintf(f->detail, sizeof(f->detail),
                         "walk L%u entry at 0x%" PRIx64 " differs only by %s set by an earlier "
                         "pass of this event",
                         B->tag.level, B->phys,
                         (va ^ vb) == AD_BITS ? "A/D"
                         : ((va ^ vb) & 0x20) ? "A"
                                              : "D");
            }
            continue;
        }
        f = hvt_rpl_fvec_add(c->fv, HVT_RPL_TRANSLATION_CHANGED, c->ka, c->kb);
        if (!f)
            continue;
        set_sides(f, a, ia, b, ib);
        if (A->phys == B->phys)
            snprintf(f->detail, sizeof(f->detail),
                     "walk L%u entry at 0x%" PRIx64 " for linear 0x%" PRIx64 " changed: 0x%" PRIx64
                     " -> 0x%" PRIx64,
                     B->tag.level, B->phys, B->linear, va, vb);
        else
            snprintf(f->detail, sizeof(f->detail),
                     "walk L%u for linear 0x%" PRIx64 " read another entry: 0x%" PRIx64
                     " -> 0x%" PRIx64,
                     B->tag.level, B->linear, A->phys, B->phys);
        if (c->n_ch < MAX_CHANGED_PAGES)
            c->ch[c->n_ch++] = (struct changed){page, c->fv->n - 1};
    }
}

static void accesses(struct pair_ctx *c, struct ent *ea, struct ent *eb, uint8_t *matched_a,
                     int32_t *match_b, uint32_t shift, int committed)
{
    const struct hvt_pass *a = c->a, *b = c->b;
    size_t na = 0, nb = 0;
    int32_t max_a = -1, last_b = -1;
    int reordered = 0, extra = 0;

    for (uint32_t i = 0; i < a->n_accesses; i++) {
        const struct hvt_access *x = &a->accesses[i];
        matched_a[i] = 0;
        if (is_walk(x) || x->tag.cls == HVT_TAG_AD)
            continue;
        /* iterations pass a committed are done: pass b does not repeat them */
        if (shift && (x->tag.cls == HVT_TAG_DATA || x->tag.cls == HVT_TAG_IO) &&
            x->tag.element < shift) {
            matched_a[i] = 2;
            continue;
        }
        ea[na++] = (struct ent){
            acc_key(x, (x->tag.cls == HVT_TAG_DATA || x->tag.cls == HVT_TAG_IO) ? shift : 0), i, 0};
    }
    for (uint32_t i = 0; i < b->n_accesses; i++) {
        const struct hvt_access *x = &b->accesses[i];
        match_b[i] = -1;
        if (is_walk(x) || x->tag.cls == HVT_TAG_AD)
            continue;
        eb[nb++] = (struct ent){acc_key(x, 0), i, 0};
    }
    match_keys(c->sc, ea, na, eb, nb, match_b);
    for (size_t j = 0; j < nb; j++)
        if (match_b[eb[j].idx] >= 0)
            matched_a[match_b[eb[j].idx]] = 1;

    for (uint32_t ib = 0; ib < b->n_accesses; ib++) {
        const struct hvt_access *A, *B = &b->accesses[ib];
        struct hvt_rpl_finding *f;
        int32_t ia = match_b[ib];
        if (ia < 0)
            continue;
        last_b = (int32_t)ib;
        if (ia < max_a && !reordered) {
            reordered = 1;
            f = hvt_rpl_fvec_add(c->fv, HVT_RPL_SEQUENCE_CHANGED, c->ka, c->kb);
            if (f) {
                set_sides(f, a, (uint32_t)ia, b, ib);
                snprintf(f->detail, sizeof(f->detail),
                         "accesses reordered: access %d of pass "
                         "%u comes after access %d in pass %u",
                         ia, c->ka, max_a, c->kb);
            }
        }
        if (ia > max_a)
            max_a = ia;
        A = &a->accesses[ia];
        if (A->phys != B->phys) {
            int lin = (A->flags & B->flags & HVT_AF_LINEAR_VALID) != 0;
            struct changed *ch = lin ? changed_page(c, B->linear >> 12) : NULL;
            if (ch) {
                f = &c->fv->v[ch->finding];
                if (!f->has_data_phys) {
                    f->has_data_phys = 1;
                    f->data_phys_a = A->phys;
                    f->data_phys_b = B->phys;
                }
                continue;
            }
            if ((lin && A->linear != B->linear) || B->kind == HVT_ACC_IO_IN ||
                B->kind == HVT_ACC_IO_OUT || !lin) {
                f = hvt_rpl_fvec_add(c->fv, HVT_RPL_SEQUENCE_CHANGED, c->ka, c->kb);
                if (f) {
                    set_sides(f, a, (uint32_t)ia, b, ib);
                    snprintf(f->detail, sizeof(f->detail),
                             "the access moved: linear 0x%" PRIx64 " phys 0x%" PRIx64
                             " -> linear 0x%" PRIx64 " phys 0x%" PRIx64,
                             A->linear, A->phys, B->linear, B->phys);
                }
                continue;
            }
            /* same linear address, another frame, and no walk of this page in both passes
             * (a TLB hit on one side): the translation changed all the same */
            f = hvt_rpl_fvec_add(c->fv, HVT_RPL_TRANSLATION_CHANGED, c->ka, c->kb);
            if (f) {
                set_sides(f, a, (uint32_t)ia, b, ib);
                f->has_data_phys = 1;
                f->data_phys_a = A->phys;
                f->data_phys_b = B->phys;
                snprintf(f->detail, sizeof(f->detail),
                         "linear 0x%" PRIx64 " translated to another frame (no walk of it "
                         "recorded in both passes)",
                         B->linear);
                if (c->n_ch < MAX_CHANGED_PAGES)
                    c->ch[c->n_ch++] = (struct changed){B->linear >> 12, c->fv->n - 1};
            }
            continue;
        }
        if (A->size != B->size) {
            f = hvt_rpl_fvec_add(c->fv, HVT_RPL_SEQUENCE_CHANGED, c->ka, c->kb);
            if (f) {
                set_sides(f, a, (uint32_t)ia, b, ib);
                snprintf(f->detail, sizeof(f->detail), "size changed: %u -> %u", A->size, B->size);
            }
            continue;
        }
        if (is_read(B)) {
            if (A->outcome == HVT_OP_OKAY && B->outcome == HVT_OP_OKAY &&
                memcmp(A->data, B->data, data_len(B))) {
                f = hvt_rpl_fvec_add(c->fv, HVT_RPL_DATA_CHANGED, c->ka, c->kb);
                if (f) {
                    set_sides(f, a, (uint32_t)ia, b, ib);
                    snprintf(f->detail, sizeof(f->detail),
                             "%s at phys 0x%" PRIx64 " returned other data",
                             hvt_access_kind_name(B->kind), B->phys);
                }
            }
            continue;
        }
        if (memcmp(A->data, B->data, data_len(B)) ||
            (B->kind == HVT_ACC_CMPXCHG && memcmp(A->old, B->old, data_len(B)))) {
            f = hvt_rpl_fvec_add(c->fv, HVT_RPL_WRITE_DATA_CHANGED, c->ka, c->kb);
            if (f) {
                set_sides(f, a, (uint32_t)ia, b, ib);
                snprintf(f->detail, sizeof(f->detail), "%s to phys 0x%" PRIx64 " with other data",
                         hvt_access_kind_name(B->kind), B->phys);
            }
        }
    }

    /* accesses of pass b with no counterpart before the point pass b caught up with pass a:
     * extra (after that point pass b simply goes further than the RETRY let pass a go) */
    for (uint32_t ib = 0; (int32_t)ib < last_b && !extra; ib++) {
        const struct hvt_access *B = &b->accesses[ib];
        struct hvt_rpl_finding *f;
        if (match_b[ib] >= 0 || is_walk(B) || B->tag.cls == HVT_TAG_AD)
            continue;
        extra = 1;
        f = hvt_rpl_fvec_add(c->fv, HVT_RPL_SEQUENCE_CHANGED, c->ka, c->kb);
        if (f) {
            set_sides(f, NULL, 0, b, ib);
            snprintf(f->detail, sizeof(f->detail),
                     "pass %u makes an access pass %u did not "
                     "make",
                     c->kb, c->ka);
        }
    }
    /* accesses of pass a that pass b never made */
    for (uint32_t ia = 0; ia < a->n_accesses; ia++) {
        const struct hvt_access *A = &a->accesses[ia];
        struct hvt_rpl_finding *f;
        int fault;
        if (matched_a[ia] || is_walk(A) || A->tag.cls == HVT_TAG_AD)
            continue;
        /* elements pass a completed and committed (gathers): pass b has no reason to redo them */
        if (committed && A->tag.cls == HVT_TAG_DATA && A->outcome == HVT_OP_OKAY)
            continue;
        fault = (b->out.kind == HVT_OUT_EXCEPTION || b->out.kind == HVT_OUT_UNHANDLEABLE) &&
                b->out.kind != a->out.kind;
        f = hvt_rpl_fvec_add(c->fv, fault ? HVT_RPL_FAULT_CHANGED : HVT_RPL_SEQUENCE_CHANGED, c->ka,
                         c->kb);
        if (f) {
            set_sides(f, a, ia, NULL, 0);
            if (fault && b->out.kind == HVT_OUT_EXCEPTION)
                snprintf(f->detail, sizeof(f->detail),
                         "pass %u ends with exception %u (error 0x%x, cr2 0x%" PRIx64
                         ") before an access pass %u made",
                         c->kb, b->out.vector, b->out.error_code, b->out.cr2, c->ka);
            else if (fault)
                snprintf(f->detail, sizeof(f->detail),
                         "pass %u ends unhandleable before an "
                         "access pass %u made",
                         c->kb, c->ka);
            else
                snprintf(f->detail, sizeof(f->detail),
                         "pass %u does not make an access "
                         "pass %u made",
                         c->kb, c->ka);
        }
        break;
    }
}

/* The comparison of passes finds nothing in access B of the later pass, at the place of
 * access A of the earlier one: same kind, tag, size, linear and physical address (so the same
 * matching key), and the same data where it is compared (a read's or a walk's only when both
 * returned OKAY; a write's, and a compare-exchange's expected value, always). */
static int unchanged(const struct hvt_access *A, const struct hvt_access *B)
{
    if (key_words_differ(A, B) || A->phys != B->phys ||
        ((A->flags ^ B->flags) & HVT_AF_LINEAR_VALID) || A->linear != B->linear)
        return 0;
    if (is_read(A) && (A->outcome != HVT_OP_OKAY || B->outcome != HVT_OP_OKAY))
        return 1;
    if (A->size <= 8 ? value(A, A->data) != value(B, B->data)
                     : memcmp(A->data, B->data, data_len(A)) != 0)
        return 0;
    return A->kind != HVT_ACC_CMPXCHG || !memcmp(A->old, B->old, data_len(A));
}

/* Pass B begins with pass A's accesses, each unchanged (a retried pass repeating the one
 * before it, then going further). When no REP iteration was committed between them, the
 * comparison of the two passes then finds nothing: walks and accesses have the same keys in
 * the same order on both sides, so each of A's is matched with B's at the same place (in
 * order: nothing reordered), none differs, none of A's is missing and none of B's before the
 * last of A's is extra. */
static int repeats(const struct hvt_pass *a, const struct hvt_pass *b)
{
    if (b->n_accesses < a->n_accesses)
        return 0;
    for (uint32_t i = 0; i < a->n_accesses; i++)
        if (!unchanged(&a->accesses[i], &b->accesses[i]))
            return 0;
    return 1;
}

int hvt_rpl_analyze(struct rpl_fvec *fv, struct rpl_scratch *sc, const struct hvt_event *ev,
                const struct hvt_pass *passes, uint32_t n)
{
    int str = hvt_rpl_is_string_insn(ev);
    size_t need = 0;

    for (uint32_t k = 0; k < n; k++) {
        check_regs(fv, ev, passes, k, str);
        check_distinct(fv, &passes[k], k);
    }
    for (uint32_t k = 1; k < n; k++) {
        size_t m = (size_t)passes[k - 1].n_accesses + passes[k].n_accesses;
        if (m > need)
            need = m;
    }
    if (n < 2)
        return 0;
    /* one buffer: entries of a and b, then pass a's matched flags and pass b's matches */
    {
        size_t bytes = need * (sizeof(struct ent) + sizeof(int32_t) + 1) + 16;
        size_t words = (bytes + 7) / 8;
        if (words > sc->cap) {
            uint64_t *k = realloc(sc->keys, words * 8);
            if (!k)
                return -HVT_E_NOMEM;
            sc->keys = k;
            sc->cap = words;
        }
    }
    for (uint32_t k = 1; k < n; k++) {
        const struct hvt_pass *a = &passes[k - 1], *b = &passes[k];
        struct pair_ctx c;
        struct ent *ea = (struct ent *)sc->keys, *eb = ea + a->n_accesses;
        int32_t *match_b = (int32_t *)(eb + b->n_accesses);
        uint8_t *matched_a = (uint8_t *)(match_b + b->n_accesses);
        uint32_t shift = 0;

        c.n_ch = 0;
        c.fv = fv;
        c.sc = sc;
        c.passes = passes;
        c.a = a;
        c.b = b;
        c.ka = k - 1;
        c.kb = k;
        if (str && a->out.kind == HVT_OUT_RETRY)
            shift = a->out.iterations;
        if (!sc->slow && !shift && repeats(a, b)) {
            sc->n_repeats++;
            continue;
        }
        walks(&c, ea, eb, match_b);
        accesses(&c, ea, eb, matched_a, match_b, shift,
                 !str && a->out.kind == HVT_OUT_RETRY && a->out.iterations);
    }
    return fv->oom ? -HVT_E_NOMEM : 0;
}
