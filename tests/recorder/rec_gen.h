/* SPDX-License-Identifier: MIT */
/* Recorder tests: a deterministic event generator (what a vCPU records) and its checker, so
 * that what was read back can be compared access by access with what was recorded. */
#ifndef HVT_TEST_REC_GEN_H
#define HVT_TEST_REC_GEN_H

#include <stdint.h>
#include <string.h>

#include "hvtrace/recorder.h"

static inline uint64_t gen_mix(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

/* Shape of event E of vCPU V. */
static inline uint32_t gen_passes(uint32_t v, uint64_t e)
{
    return 1 + (uint32_t)(gen_mix(v * 1000003ull + e) % 3 == 0);
}

static inline uint32_t gen_accesses(uint32_t v, uint64_t e, uint32_t p, uint32_t per_pass)
{
    return per_pass ? (uint32_t)(gen_mix((v * 7919ull + e) * 31 + p) % (2 * per_pass)) + 1 : 0;
}

static inline void gen_state(struct hvt_vcpu_state *st, uint32_t v, uint64_t e, uint32_t p)
{
    memset(st, 0, sizeof(*st));
    st->gpr[0] = e;
    st->gpr[1] = v;
    st->gpr[2] = p;
    st->rip = 0x1000 + e * 3;
    st->cr3 = 0x5000;
    st->flags = (e % 5 == 0) ? HVT_STATE_SIMD_VALID : 0;
    if (st->flags & HVT_STATE_SIMD_VALID)
        st->ymm[3][7] = (uint8_t)e;
}

static inline void gen_access(struct hvt_access *a, uint32_t v, uint64_t e, uint32_t p, uint32_t i)
{
    uint64_t h = gen_mix(((v * 131ull + e) * 17 + p) * 4099 + i);
    memset(a, 0, sizeof(*a));
    a->kind = (uint8_t)(h % 6);
    a->space = a->kind >= HVT_ACC_IO_IN ? HVT_SPACE_PORT : (uint8_t)((h >> 8) & 1);
    a->seg = a->kind >= HVT_ACC_IO_IN ? HVT_SEG_NONE : (uint8_t)((h >> 12) % 6);
    a->outcome = (h >> 16) % 7 == 0 ? HVT_OP_RETRY : HVT_OP_OKAY;
    if (a->kind == HVT_ACC_CMPXCHG && (h >> 20) % 3 == 0)
        a->outcome = HVT_OP_CMPXCHG_FAILED;
    /* every tag class, each with the kinds the tag rules allow it (common/rules.h) */
    {
        static const uint8_t rd[] = {HVT_TAG_DATA, HVT_TAG_STACK, HVT_TAG_DESC, HVT_TAG_WALK};
        static const uint8_t wr[] = {HVT_TAG_DATA, HVT_TAG_STACK, HVT_TAG_DESC, HVT_TAG_AD};
        unsigned k = (unsigned)((h >> 24) % 4);
        a->tag.cls = a->kind == HVT_ACC_READ      ? rd[k]
                     : a->kind == HVT_ACC_WRITE   ? wr[k]
                     : a->kind == HVT_ACC_CMPXCHG ? (k & 1 ? HVT_TAG_AD : HVT_TAG_DATA)
                     : a->kind == HVT_ACC_FETCH   ? HVT_TAG_FETCH
                                                  : HVT_TAG_IO;
    }
    a->tag.level = a->tag.cls == HVT_TAG_WALK ? (uint8_t)(1 + (h >> 28) % 6)
                   : a->tag.cls == HVT_TAG_AD ? (uint8_t)(1 + (h >> 28) % 5)
                                              : 0;
    /* every combination of the ring record's optional words: linear, element */
    a->tag.element = (h >> 48) & 1 ? (uint32_t)(h >> 40) & 0xff : 0;
    a->size =
        (h >> 32) % 4 == 0 ? 1 + (uint32_t)((h >> 36) % HVT_DATA_MAX) : (1u << ((h >> 34) % 4));
    a->flags = ((h >> 49) & 1 ? HVT_AF_LINEAR_VALID : 0) | ((h >> 50) & 1 ? HVT_AF_LOCKED : 0) |
               ((h >> 51) & 1 ? HVT_AF_SPLIT : 0);
    a->linear = (a->flags & HVT_AF_LINEAR_VALID) ? 0x7f0000000000ull + (h & 0xfffff) : 0;
    a->phys = a->kind >= HVT_ACC_IO_IN ? i & 0xffff /* a port, unique in the pass */
                                       : ((uint64_t)v << 56) | (e << 20) | ((uint64_t)p << 16) | i;
    for (uint32_t k = 0; k < a->size; k++)
        a->data[k] = (uint8_t)(h >> (k % 8 * 8)) ^ (uint8_t)k;
    if (a->kind == HVT_ACC_CMPXCHG) {
        for (uint32_t k = 0; k < a->size; k++) {
            a->old[k] = (uint8_t)(a->data[k] + 1);
            a->cur[k] = a->outcome == HVT_OP_CMPXCHG_FAILED ? (uint8_t)(a->data[k] + 2) : a->old[k];
        }
    }
}

static inline void gen_outcome(struct hvt_pass_outcome *o, uint32_t p, uint32_t n_passes)
{
    memset(o, 0, sizeof(*o));
    o->kind = p + 1 < n_passes ? HVT_OUT_RETRY : HVT_OUT_OKAY;
    o->retry_cause = p + 1 < n_passes ? HVT_RETRY_MMIO : 0;
    o->iterations = p;
}

/* Records event E of vCPU V with about PER_PASS accesses per pass. Returns accesses made. */
static inline uint64_t gen_record(struct hvt_rec *rec, uint32_t v, uint64_t e, uint32_t per_pass)
{
    struct hvt_vcpu_state st;
    struct hvt_access a;
    struct hvt_pass_outcome o;
    uint32_t np = gen_passes(v, e);
    uint64_t made = 0;
    uint8_t insn[3] = {0x8b, 0x03, (uint8_t)e};

    gen_state(&st, v, e, 0);
    hvt_rec_event_begin(rec, v, &st, insn, e % 4 ? 3 : 0);
    for (uint32_t p = 0; p < np; p++) {
        uint32_t na = gen_accesses(v, e, p, per_pass);
        hvt_rec_pass_begin(rec, v);
        for (uint32_t i = 0; i < na; i++) {
            gen_access(&a, v, e, p, i);
            hvt_rec_access(rec, v, &a);
        }
        made += na;
        gen_state(&st, v, e, p + 1);
        gen_outcome(&o, p, np);
        hvt_rec_pass_end(rec, v, &o, &st);
    }
    hvt_rec_event_end(rec, v);
    return made;
}

/* Compares one recorded access with the generated one (data/old/cur up to size). */
static inline int gen_access_equal(const struct hvt_access *got, const struct hvt_access *want)
{
    return got->kind == want->kind && got->space == want->space && got->seg == want->seg &&
           got->outcome == want->outcome && !memcmp(&got->tag, &want->tag, sizeof(got->tag)) &&
           got->size == want->size && got->flags == want->flags && got->linear == want->linear &&
           got->phys == want->phys && !memcmp(got->data, want->data, want->size) &&
           (want->kind != HVT_ACC_CMPXCHG ||
            (!memcmp(got->old, want->old, want->size) && !memcmp(got->cur, want->cur, want->size)));
}

/* Checks event EV (read back) against event number E of its vCPU, allowing lost accesses
 * (drop mode): LOST_OUT receives the accesses missing. Returns 1 when it matches. */
static inline int gen_check_event(const struct hvt_event *ev, uint64_t e, uint32_t per_pass,
                                  uint64_t *lost_out)
{
    uint32_t v = ev->vcpu;
    uint32_t np = gen_passes(v, e);
    struct hvt_vcpu_state st;
    struct hvt_access a;
    uint64_t lost = 0;

    gen_state(&st, v, e, 0);
    if (ev->n_passes != np || memcmp(&ev->init, &st, sizeof(st)) != 0)
        return 0;
    if (ev->insn_len != (e % 4 ? 3 : 0))
        return 0;
    for (uint32_t p = 0; p < np; p++) {
        const struct hvt_pass *ps = &ev->passes[p];
        uint32_t na = gen_accesses(v, e, p, per_pass), j = 0;
        struct hvt_pass_outcome o;
        gen_state(&st, v, e, p + 1);
        gen_outcome(&o, p, np);
        if (ps->index != p || memcmp(&ps->out, &o, sizeof(o)) || memcmp(&ps->end, &st, sizeof(st)))
            return 0;
        /* Recorded accesses must be the generated ones in order, with gaps only. */
        for (uint32_t i = 0; i < na && j < ps->n_accesses; i++) {
            gen_access(&a, v, e, p, i);
            if (ps->accesses[j].phys == a.phys) {
                if (!gen_access_equal(&ps->accesses[j], &a))
                    return 0;
                j++;
            }
        }
        if (j != ps->n_accesses || ps->lost != na - ps->n_accesses)
            return 0;
        lost += na - ps->n_accesses;
    }
    if ((lost != 0) != ((ev->flags & HVT_EV_INCOMPLETE) != 0))
        return 0;
    *lost_out = lost;
    return 1;
}

#endif
