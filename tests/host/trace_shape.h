/* SPDX-License-Identifier: MIT */
/* Host tests: load a trace's events and measure its shape (walk divergences between passes,
 * state changes on RETRY, CMPS operands), and hash records to compare two runs. */
#ifndef HVT_TEST_TRACE_SHAPE_H
#define HVT_TEST_TRACE_SHAPE_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "hvtrace/format.h"

struct trace {
    size_t n;
    struct hvt_event **ev;
    size_t n_lost;
    uint64_t *hash; /* one per record, in file order (events and lost markers) */
    size_t n_records;
};

static inline uint64_t fnv(uint64_t h, const void *p, size_t len)
{
    const uint8_t *b = p;
    for (size_t i = 0; i < len; i++)
        h = (h ^ b[i]) * 0x100000001b3ull;
    return h;
}
#define FNV(h, x) ((h) = fnv((h), &(x), sizeof(x)))

static inline uint64_t hash_state(uint64_t h, const struct hvt_vcpu_state *s)
{
    h = fnv(h, s->gpr, sizeof(s->gpr));
    FNV(h, s->rip);
    FNV(h, s->rflags);
    FNV(h, s->cr0);
    FNV(h, s->cr3);
    FNV(h, s->cr4);
    FNV(h, s->efer);
    return fnv(h, s->ymm, sizeof(s->ymm));
}

/* Everything a rerun with the same seed must reproduce (not the time). */
static inline uint64_t hash_event(const struct hvt_event *e)
{
    uint64_t h = 0xcbf29ce484222325ull;
    FNV(h, e->id);
    FNV(h, e->vcpu);
    FNV(h, e->flags);
    FNV(h, e->insn_len);
    h = fnv(h, e->insn, e->insn_len);
    h = hash_state(h, &e->init);
    FNV(h, e->n_passes);
    for (uint32_t p = 0; p < e->n_passes; p++) {
        const struct hvt_pass *ps = &e->passes[p];
        FNV(h, ps->out.kind);
        FNV(h, ps->out.retry_cause);
        FNV(h, ps->out.vector);
        FNV(h, ps->out.error_code);
        FNV(h, ps->out.cr2);
        FNV(h, ps->out.iterations);
        h = hash_state(h, &ps->end);
        FNV(h, ps->n_accesses);
        for (uint32_t a = 0; a < ps->n_accesses; a++) {
            const struct hvt_access *x = &ps->accesses[a];
            FNV(h, x->kind);
            FNV(h, x->space);
            FNV(h, x->seg);
            FNV(h, x->outcome);
            FNV(h, x->tag.cls);
            FNV(h, x->tag.operand);
            FNV(h, x->tag.level);
            FNV(h, x->tag.element);
            FNV(h, x->size);
            FNV(h, x->flags);
            FNV(h, x->linear);
            FNV(h, x->phys);
            FNV(h, x->callsite);
            if (x->size <= HVT_DATA_MAX)
                h = fnv(h, x->data, x->size);
        }
    }
    return h;
}

static inline void trace_free(struct trace *t)
{
    for (size_t i = 0; i < t->n; i++)
        hvt_event_free(t->ev[i]);
    free(t->ev);
    free(t->hash);
    memset(t, 0, sizeof(*t));
}

/* Loads every record of PATH. Returns 0 or a negative error. */
static inline int trace_load(const char *path, struct trace *t)
{
    struct hvt_fmt_reader *r = NULL;
    struct hvt_record rec;
    size_t cap = 0, hcap = 0;
    int rc;
    memset(t, 0, sizeof(*t));
    rc = hvt_fmt_reader_open(&r, path, NULL);
    if (rc < 0) {
        hvt_fmt_reader_close(r);
        return rc;
    }
    while ((rc = hvt_fmt_reader_next(r, &rec)) > 0) {
        uint64_t hh;
        if (t->n_records == hcap) {
            hcap = hcap ? hcap * 2 : 256;
            t->hash = realloc(t->hash, hcap * sizeof(*t->hash));
            if (!t->hash)
                abort();
        }
        if (rec.type == HVT_REC_EVENT) {
            if (t->n == cap) {
                cap = cap ? cap * 2 : 256;
                t->ev = realloc(t->ev, cap * sizeof(*t->ev));
                if (!t->ev)
                    abort();
            }
            if (hvt_event_clone(&t->ev[t->n], rec.u.event) < 0)
                abort();
            hh = hash_event(rec.u.event);
            t->n++;
        } else {
            hh = rec.u.lost->count * 31 + rec.u.lost->event_id;
            t->n_lost++;
        }
        t->hash[t->n_records++] = hh;
    }
    hvt_fmt_reader_close(r);
    return rc < 0 ? rc : 0;
}

/* 1 when the two traces hold the same records (ids, passes, accesses, data, states). */
static inline int trace_same(const struct trace *a, const struct trace *b)
{
    return a->n_records == b->n_records && a->n == b->n &&
           !memcmp(a->hash, b->hash, a->n_records * sizeof(*a->hash));
}

#define AD_BITS 0x60ull

/* The same walk read in two passes: one level of the walk of one linear page for one operand
 * and element (cores may tag every walk with element 0, so the page tells elements apart). */
static inline int same_walk(const struct hvt_access *a, const struct hvt_access *b)
{
    return a->tag.cls == HVT_TAG_WALK && b->tag.cls == HVT_TAG_WALK &&
           a->tag.level == b->tag.level && a->tag.operand == b->tag.operand &&
           a->tag.element == b->tag.element && (a->linear >> 12) == (b->linear >> 12);
}

/* Walk reads of pass Q that differ from the same walk read (same_walk, and rank among those)
 * of pass 0: returns the number of such differences; *BEYOND_AD counts
 * those that differ in more than the A/D bits (address or other bits). */
static inline unsigned walk_diffs(const struct hvt_event *e, unsigned *beyond_ad)
{
    unsigned diffs = 0;
    *beyond_ad = 0;
    if (e->n_passes < 2)
        return 0;
    const struct hvt_pass *p0 = &e->passes[0];
    for (uint32_t q = 1; q < e->n_passes; q++) {
        const struct hvt_pass *pq = &e->passes[q];
        for (uint32_t i = 0; i < pq->n_accesses; i++) {
            const struct hvt_access *b = &pq->accesses[i];
            unsigned rank_b = 0, rank_a = 0;
            if (b->tag.cls != HVT_TAG_WALK || b->outcome != HVT_OP_OKAY)
                continue;
            for (uint32_t k = 0; k < i; k++) {
                rank_b += same_walk(&pq->accesses[k], b);
            }
            for (uint32_t k = 0; k < p0->n_accesses; k++) {
                const struct hvt_access *a = &p0->accesses[k];
                uint64_t va = 0, vb = 0;
                if (!same_walk(a, b) || a->outcome != HVT_OP_OKAY)
                    continue;
                if (rank_a++ != rank_b)
                    continue;
                memcpy(&va, a->data, a->size < 8 ? a->size : 8);
                memcpy(&vb, b->data, b->size < 8 ? b->size : 8);
                if (a->phys != b->phys || va != vb) {
                    diffs++;
                    if (a->phys != b->phys || ((va ^ vb) & ~AD_BITS))
                        (*beyond_ad)++;
                }
                break;
            }
        }
    }
    return diffs;
}

#endif
