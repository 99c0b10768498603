/* SPDX-License-Identifier: MIT */
/* Semantic replay: a core's accesses held to the recording by what they mean, not by their
 * order. Walk and A/D accesses form a set per (linear page, level, physical address); fetches
 * are the bytes they cover; data, stack, descriptor and I/O accesses keep their order per
 * (class, operand, element). See enum hvt_rpl_match and docs/REPLAY.md. */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* ---- the recorded pass, indexed ------------------------------------------------------------ */

static int is_map(unsigned cls)
{
    return cls == HVT_TAG_WALK || cls == HVT_TAG_AD;
}

/* The key of an access: walks and A/D updates by (class, level, physical address), the rest
 * by (class, operand, element). Linear pages of walks are checked within the run. */
static void key_of(const struct hvt_access *a, uint64_t *k1, uint64_t *k2)
{
    if (is_map(a->tag.cls)) {
        *k1 = (uint64_t)a->tag.cls << 56 | (uint64_t)a->tag.level << 48;
        *k2 = a->phys;
    } else {
        *k1 = (uint64_t)a->tag.cls << 56 | (uint64_t)a->tag.operand << 48;
        *k2 = a->tag.element;
    }
}

static int ent_cmp(const void *pa, const void *pb)
{
    const struct rpl_sem_ent *a = pa, *b = pb;
    if (a->k1 != b->k1)
        return a->k1 < b->k1 ? -1 : 1;
    if (a->k2 != b->k2)
        return a->k2 < b->k2 ? -1 : 1;
    return a->idx < b->idx ? -1 : a->idx > b->idx;
}

static int u64_cmp(const void *pa, const void *pb)
{
    uint64_t a = *(const uint64_t *)pa, b = *(const uint64_t *)pb;
    return a < b ? -1 : a > b;
}

static int grow(void **v, uint32_t *cap, uint32_t need, size_t elem)
{
    void *n;
    uint32_t c;
    if (need <= *cap)
        return 0;
    c = *cap ? *cap : 64;
    while (c < need)
        c *= 2;
    n = realloc(*v, (size_t)c * elem);
    if (!n)
        return -HVT_E_NOMEM;
    *v = n;
    *cap = c;
    return 0;
}

static uint64_t page_of(const struct hvt_access *a)
{
    return (a->flags & HVT_AF_LINEAR_VALID) ? a->linear >> 12 : UINT64_MAX;
}

int hvt_rpl_sem_begin(struct rpl_sem *s, const struct hvt_pass *p)
{
    uint32_t n = p->n_accesses;
    s->p = p;
    s->n_ent = s->n_fetch = s->n_walked = s->n_overlay = s->n_used_pages = 0;
    s->last_idx = -1;
    s->order_noted = 0;
    if (grow((void **)&s->ent, &s->ent_cap, n, sizeof(*s->ent)) ||
        grow((void **)&s->used, &s->used_cap, n, 1) ||
        grow((void **)&s->fetch, &s->fetch_cap, n, sizeof(*s->fetch)))
        return -HVT_E_NOMEM;
    memset(s->used, 0, n);
    for (uint32_t i = 0; i < n; i++) {
        const struct hvt_access *a = &p->accesses[i];
        if (a->tag.cls == HVT_TAG_FETCH) {
            s->fetch[s->n_fetch++] = i;
            continue;
        }
        key_of(a, &s->ent[s->n_ent].k1, &s->ent[s->n_ent].k2);
        s->ent[s->n_ent++].idx = i;
    }
    qsort(s->ent, s->n_ent, sizeof(*s->ent), ent_cmp);
    /* the linear pages the recording walked, sorted and unique */
    if (grow((void **)&s->walk_pages, &s->walk_pages_cap, n, sizeof(*s->walk_pages)))
        return -HVT_E_NOMEM;
    s->n_walk_pages = 0;
    for (uint32_t i = 0; i < n; i++)
        if (p->accesses[i].tag.cls == HVT_TAG_WALK && page_of(&p->accesses[i]) != UINT64_MAX)
            s->walk_pages[s->n_walk_pages++] = page_of(&p->accesses[i]);
    qsort(s->walk_pages, s->n_walk_pages, sizeof(*s->walk_pages), u64_cmp);
    {
        uint32_t m = 0;
        for (uint32_t i = 0; i < s->n_walk_pages; i++)
            if (!m || s->walk_pages[m - 1] != s->walk_pages[i])
                s->walk_pages[m++] = s->walk_pages[i];
        s->n_walk_pages = m;
    }
    return 0;
}

void hvt_rpl_sem_free(struct rpl_sem *s)
{
    free(s->ent);
    free(s->used);
    free(s->fetch);
    free(s->walked);
    free(s->overlay);
    free(s->used_pages);
    free(s->walk_pages);
    memset(s, 0, sizeof(*s));
}

/* The first entry of key (K1, K2), or n_ent. */
static uint32_t lower(const struct rpl_sem *s, uint64_t k1, uint64_t k2)
{
    uint32_t lo = 0, hi = s->n_ent;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        const struct rpl_sem_ent *e = &s->ent[mid];
        if (e->k1 < k1 || (e->k1 == k1 && e->k2 < k2))
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* The recorded access of GOT's key, in recorded order, that is not used yet, and whose linear
 * page (walks) agrees when both have one. *LAST gets the last one of the run whatever its
 * use (-1: the key has none). Returns the index or -1. */
static int32_t find(const struct rpl_sem *s, const struct hvt_access *got, int32_t *last)
{
    uint64_t k1, k2, pg = page_of(got);
    uint32_t i;
    key_of(got, &k1, &k2);
    *last = -1;
    for (i = lower(s, k1, k2); i < s->n_ent && s->ent[i].k1 == k1 && s->ent[i].k2 == k2; i++) {
        uint32_t idx = s->ent[i].idx;
        const struct hvt_access *r = &s->p->accesses[idx];
        if (is_map(got->tag.cls) && pg != UINT64_MAX && page_of(r) != UINT64_MAX &&
            page_of(r) != pg)
            continue;
        *last = (int32_t)idx;
        if (!s->used[idx])
            return (int32_t)idx;
    }
    return -1;
}

static int push_u64(uint64_t **v, uint32_t *n, uint32_t *cap, uint64_t x)
{
    for (uint32_t i = 0; i < *n; i++)
        if ((*v)[i] == x)
            return 0;
    if (grow((void **)v, cap, *n + 1, sizeof(**v)))
        return -HVT_E_NOMEM;
    (*v)[(*n)++] = x;
    return 0;
}

static int has_u64(const uint64_t *v, uint32_t n, uint64_t x)
{
    for (uint32_t i = 0; i < n; i++)
        if (v[i] == x)
            return 1;
    return 0;
}

/* Whether the recording walked linear page PG in this pass. */
static int recorded_walks_page(const struct rpl_sem *s, uint64_t pg)
{
    return bsearch(&pg, s->walk_pages, s->n_walk_pages, sizeof(pg), u64_cmp) != NULL;
}

/* ---- answering the core's calls ----------------------------------------------------------- */

static void note(struct replay_ctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void note(struct replay_ctx *c, const char *fmt, ...)
{
    struct hvt_rpl_finding *f;
    va_list ap;
    if (c->notes >= HVT_RPL_SEM_MAX_NOTES)
        return;
    c->notes++;
    f = hvt_rpl_fvec_add(&c->e->fv, HVT_RPL_NOTE, c->p->index, c->p->index);
    if (!f)
        return;
    va_start(ap, fmt);
    vsnprintf(f->detail, sizeof(f->detail), fmt, ap);
    va_end(ap);
}

/* Marks recorded access IDX used by the core, noting the first time the core's order leaves
 * the recording's. */
static void use(struct replay_ctx *c, int32_t idx)
{
    struct rpl_sem *s = c->sem;
    s->used[idx] = 1;
    if (idx < s->last_idx && !s->order_noted) {
        s->order_noted = 1;
        note(c,
             "the core's access order differs from the recording's (recorded access %d "
             "came after %d)",
             idx, s->last_idx);
    }
    if (idx > s->last_idx)
        s->last_idx = idx;
}

/* A memory access through linear page PG: its translation must have come first. */
static int check_translated(struct replay_ctx *c, const struct hvt_access *got)
{
    struct rpl_sem *s = c->sem;
    uint64_t pg = page_of(got);
    if (pg == UINT64_MAX)
        return 0;
    if (push_u64(&s->used_pages, &s->n_used_pages, &s->used_pages_cap, pg))
        return -HVT_E_NOMEM;
    if (!has_u64(s->walked, s->n_walked, pg) && recorded_walks_page(s, pg)) {
        hvt_rpl_mismatch(c, got, -1, -1,
                         "the core used linear page before walking it: ", "translation order");
        return 1;
    }
    return 0;
}

/* The value an entry at PHYS reads after the core's own A/D updates; 0 when it made none. */
static int overlay_get(const struct rpl_sem *s, uint64_t phys, uint32_t size, uint8_t *out)
{
    for (uint32_t i = s->n_overlay; i-- > 0;) {
        if (s->overlay[i].phys == phys && s->overlay[i].size == size) {
            memcpy(out, s->overlay[i].val, size);
            return 1;
        }
    }
    return 0;
}

static int overlay_put(struct rpl_sem *s, uint64_t phys, uint32_t size, const uint8_t *val)
{
    if (size > sizeof(s->overlay[0].val))
        return 0;
    if (grow((void **)&s->overlay, &s->overlay_cap, s->n_overlay + 1, sizeof(*s->overlay)))
        return -HVT_E_NOMEM;
    s->overlay[s->n_overlay].phys = phys;
    s->overlay[s->n_overlay].size = size;
    memcpy(s->overlay[s->n_overlay++].val, val, size);
    return 0;
}

/* A page-walk read: answered from the recorded read of that entry (in recorded order for
 * repeated reads), or, once they are all used, from the last one as the core's own A/D
 * updates left it. */
static int walk_read(struct replay_ctx *c, const struct hvt_access *got, void *buf,
                     struct hvt_op_info *info)
{
    struct rpl_sem *s = c->sem;
    int32_t last, idx = find(s, got, &last);
    const struct hvt_access *r;
    if (idx < 0 && last < 0) {
        hvt_rpl_mismatch(c, got, -1, -1,
                         "the core read a paging entry the recording did not: ", "walk");
        return HVT_OP_UNHANDLEABLE;
    }
    if (push_u64(&s->walked, &s->n_walked, &s->walked_cap, page_of(got)))
        c->oom = 1;
    r = &s->p->accesses[idx >= 0 ? idx : last];
    if (idx >= 0)
        use(c, idx);
    if (r->size != got->size) {
        hvt_rpl_mismatch(c, got, idx >= 0 ? idx : last, -1,
                         "the core's access differs from the recorded one: ", "size");
        return HVT_OP_UNHANDLEABLE;
    }
    info->space = r->space;
    if (r->outcome != HVT_OP_OKAY)
        return r->outcome;
    if (idx >= 0 || !overlay_get(s, got->phys, got->size, buf))
        memcpy(buf, r->data, got->size);
    return HVT_OP_OKAY;
}

/* Recorded access IDX answers GOT: it is used, and must hold the same fields. Returns it, or
 * NULL after the mismatch. */
static const struct hvt_access *take_recorded(struct replay_ctx *c, const struct hvt_access *got,
                                              int32_t idx, struct hvt_op_info *info)
{
    const struct hvt_access *r = &c->sem->p->accesses[idx];
    char wbuf[96];
    const char *why;
    use(c, idx);
    why = hvt_rpl_access_differs(r, got, wbuf, sizeof(wbuf));
    if (why) {
        hvt_rpl_mismatch(c, got, idx, -1, "the core's access differs from the recorded one: ", why);
        return NULL;
    }
    info->space = r->space;
    return r;
}

/* An A/D update: the recorded one of that entry, with the same expected and new values. */
static int ad_update(struct replay_ctx *c, const struct hvt_access *got, void *old,
                     struct hvt_op_info *info)
{
    struct rpl_sem *s = c->sem;
    int32_t last, idx = find(s, got, &last);
    const struct hvt_access *r;
    if (idx < 0) {
        hvt_rpl_mismatch(c, got, last, -1,
                         "the core made an A/D update the recording did not: ", "A/D");
        return HVT_OP_UNHANDLEABLE;
    }
    r = take_recorded(c, got, idx, info);
    if (!r)
        return HVT_OP_UNHANDLEABLE;
    if (r->outcome == HVT_OP_CMPXCHG_FAILED)
        memcpy(old, r->cur, got->size);
    else if (r->outcome == HVT_OP_OKAY && overlay_put(s, got->phys, got->size, got->data))
        c->oom = 1;
    return r->outcome;
}

/* A fetch: every byte must be one the recording fetched; split as the core likes. */
static int fetch(struct replay_ctx *c, const struct hvt_access *got, uint8_t *buf,
                 struct hvt_op_info *info)
{
    struct rpl_sem *s = c->sem;
    int r = check_translated(c, got);
    if (r)
        return HVT_OP_UNHANDLEABLE;
    for (uint32_t b = 0; b < got->size; b++) {
        uint64_t a = got->phys + b;
        int found = 0;
        for (uint32_t j = 0; j < s->n_fetch && !found; j++) {
            const struct hvt_access *f = &s->p->accesses[s->fetch[j]];
            if (a < f->phys || a - f->phys >= f->size)
                continue;
            found = 1;
            use(c, (int32_t)s->fetch[j]);
            if (f->outcome != HVT_OP_OKAY) {
                info->space = f->space;
                return f->outcome;
            }
            buf[b] = f->data[a - f->phys];
        }
        if (!found) {
            hvt_rpl_mismatch(c, got, -1, -1,
                             "the core fetched bytes the recording did not fetch: ", "fetch");
            return HVT_OP_UNHANDLEABLE;
        }
    }
    info->space = HVT_SPACE_RAM;
    return HVT_OP_OKAY;
}

/* A read the recording's pass does not hold (the recording ended the pass before it, in its
 * order): the same read in another pass of the event answers it; a device read, or one no
 * pass made, cannot be answered. */
static int unrecorded_read(struct replay_ctx *c, const struct hvt_access *got, void *buf,
                           struct hvt_op_info *info)
{
    const struct hvt_event *ev = c->ev;
    for (uint32_t k = 0; k < ev->n_passes; k++) {
        const struct hvt_pass *p = &ev->passes[k];
        for (uint32_t i = 0; i < p->n_accesses; i++) {
            const struct hvt_access *r = &p->accesses[i];
            if (r->phys != got->phys || r->kind == HVT_ACC_IO_IN || r->kind == HVT_ACC_IO_OUT)
                continue;
            if (r->space == HVT_SPACE_MMIO) {
                hvt_rpl_mismatch(c, got, -1, -1,
                                 "the core read a device register the recording did not read "
                                 "in this pass: ",
                                 "device read");
                return HVT_OP_UNHANDLEABLE;
            }
            if (r->kind == HVT_ACC_READ && r->size == got->size && r->outcome == HVT_OP_OKAY &&
                k != c->p->index) {
                memcpy(buf, r->data, got->size);
                info->space = r->space;
                note(c,
                     "the core read %u bytes at 0x%" PRIx64 " that this pass of the recording "
                     "did not (its order ended the pass first): answered from pass %u",
                     got->size, got->phys, k + 1);
                return HVT_OP_OKAY;
            }
        }
    }
    hvt_rpl_mismatch(c, got, -1, -1,
                     "the core made a read no pass of the recording made: ", "unrecorded read");
    return HVT_OP_UNHANDLEABLE;
}

/* Data, stack, descriptor and I/O accesses: the next recorded one of the same class,
 * operand and element, with the same kind, address, size and data. */
static int data(struct replay_ctx *c, const struct hvt_access *got, void *buf,
                struct hvt_op_info *info)
{
    struct rpl_sem *s = c->sem;
    int32_t last, idx;
    const struct hvt_access *r;
    if (got->kind != HVT_ACC_IO_IN && got->kind != HVT_ACC_IO_OUT && check_translated(c, got))
        return HVT_OP_UNHANDLEABLE;
    idx = find(s, got, &last);
    if (idx < 0) {
        if (got->kind == HVT_ACC_READ)
            return unrecorded_read(c, got, buf, info);
        hvt_rpl_mismatch(c, got, last, -1, "the core made an access the recording did not: ",
                         hvt_access_kind_name(got->kind));
        return HVT_OP_UNHANDLEABLE;
    }
    r = take_recorded(c, got, idx, info);
    if (!r)
        return HVT_OP_UNHANDLEABLE;
    if (r->outcome == HVT_OP_OKAY && (r->kind == HVT_ACC_READ || r->kind == HVT_ACC_IO_IN))
        memcpy(buf, r->data, got->size);
    else if (r->outcome == HVT_OP_CMPXCHG_FAILED)
        memcpy(buf, r->cur, got->size);
    return r->outcome;
}

int hvt_rpl_sem_answer(struct replay_ctx *c, struct hvt_access *got, void *buf,
                       struct hvt_op_info *info)
{
    if (got->tag.cls == HVT_TAG_WALK && got->kind == HVT_ACC_READ)
        return walk_read(c, got, buf, info);
    if (got->tag.cls == HVT_TAG_AD && got->kind == HVT_ACC_CMPXCHG)
        return ad_update(c, got, buf, info);
    if (got->kind == HVT_ACC_FETCH)
        return fetch(c, got, buf, info);
    return data(c, got, buf, info);
}

/* ---- end of the pass ---------------------------------------------------------------------- */

/* Whether recorded walk or A/D access I repeats one the core made: the same class, level,
 * physical address, linear page and value (the reference core walks a page once per operand,
 * so CMPS with both operands on one page reads each entry twice). As a set, one covers both. */
static int duplicate_of_used(const struct rpl_sem *s, uint32_t i)
{
    const struct hvt_access *r = &s->p->accesses[i];
    uint64_t k1, k2;
    key_of(r, &k1, &k2);
    for (uint32_t j = lower(s, k1, k2); j < s->n_ent && s->ent[j].k1 == k1 && s->ent[j].k2 == k2;
         j++) {
        const struct hvt_access *u = &s->p->accesses[s->ent[j].idx];
        if (s->ent[j].idx != i && s->used[s->ent[j].idx] && page_of(u) == page_of(r) &&
            u->size == r->size && u->outcome == r->outcome && !memcmp(u->data, r->data, r->size) &&
            (r->kind != HVT_ACC_CMPXCHG || !memcmp(u->old, r->old, r->size)))
            return 1;
    }
    return 0;
}

/* What the core left undone: a recorded data access it did not make is a mismatch; a recorded
 * walk or A/D update of a page the core used, too; of a page it never used (its order ended
 * the pass first), a note. */
void hvt_rpl_sem_finish(struct replay_ctx *c)
{
    struct rpl_sem *s = c->sem;
    const struct hvt_pass *p = s->p;
    int walk_noted = 0;
    for (uint32_t i = 0; i < p->n_accesses && !c->mismatch; i++) {
        const struct hvt_access *r = &p->accesses[i];
        if (s->used[i] || r->tag.cls == HVT_TAG_FETCH)
            continue;
        if (!is_map(r->tag.cls)) {
            c->next = i;
            hvt_rpl_mismatch(c, NULL, (int32_t)i, -1, "the core did not make this recorded access",
                             "");
            return;
        }
        if (duplicate_of_used(s, i))
            continue; /* the same entry, read again by the recording: one read covers both */
        if (has_u64(s->used_pages, s->n_used_pages, page_of(r))) {
            hvt_rpl_mismatch(c, NULL, (int32_t)i, -1,
                             r->tag.cls == HVT_TAG_AD
                                 ? "the core used the page without this recorded A/D update"
                                 : "the core used the page without reading this paging entry",
                             "");
            return;
        }
        /* a page the recording mapped ahead of need (the reference core translates every
         * operand before its first data access): nothing the core used */
        if (!walk_noted && has_u64(s->walked, s->n_walked, page_of(r)) == 0) {
            walk_noted = 1;
            note(c,
                 "the recording walked linear page 0x%" PRIx64 " (level %u), which the core "
                 "did not use before the pass ended",
                 (uint64_t)(r->linear & ~(uint64_t)0xfff), r->tag.level);
        }
    }
}
