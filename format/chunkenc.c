/* SPDX-License-Identifier: MIT */
/* hvtrace format: chunk column encoder (see chunkenc.h and docs/FORMAT.md "Chunk payload"). */
#include "chunkenc.h"

#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hvtrace/format.h"
#include "internal.h"

static int cb_reserve(struct hvt_colbuf *b, size_t extra)
{
    if (b->n + extra <= b->cap)
        return 0;
    size_t nc = b->cap ? b->cap : 1024;
    while (nc < b->n + extra)
        nc *= 2;
    uint8_t *p = realloc(b->p, nc);
    if (!p)
        return -1;
    b->p = p;
    b->cap = nc;
    return 0;
}

/* Room reserved beforehand: no checks on the hot path. */
static inline void pu(struct hvt_colbuf *b, uint64_t v)
{
    b->n = (size_t)(hvt_pb_varint(b->p + b->n, v) - b->p);
}
static inline void ps(struct hvt_colbuf *b, int64_t v)
{
    pu(b, hvt_zigzag(v));
}
static inline void pbytes(struct hvt_colbuf *b, const uint8_t *p, size_t n)
{
    memcpy(b->p + b->n, p, n);
    b->n += n;
}

/* T as a delta against BASE into States columns S, in slot order (state.h). Works on the
 * structs directly: whole blocks that did not change are skipped with one memcmp. BASE_SIMD
 * says whether BASE's SIMD part is meaningful (else it counts as zero). */
struct sd {
    uint8_t *gap, *val;
    int prev;
    uint32_t n;
};
static inline void sd_put(struct sd *d, int slot, uint64_t t, uint64_t b)
{
    if (t == b)
        return;
    d->gap = hvt_pb_varint(d->gap, (uint64_t)(slot - d->prev));
    d->val = hvt_pb_varint(d->val, hvt_zigzag((int64_t)(t - b)));
    d->prev = slot;
    d->n++;
}

static void state_delta(struct hvt_colbuf *s, const struct hvt_vcpu_state *b, int base_simd,
                        const struct hvt_vcpu_state *t)
{
    struct sd d = {s[FS_SLOT_GAP].p + s[FS_SLOT_GAP].n, s[FS_VALUE].p + s[FS_VALUE].n, -1, 0};
    for (int i = 0; i < 16; i++)
        sd_put(&d, HVT_SLOT_GPR + i, t->gpr[i], b->gpr[i]);
    sd_put(&d, HVT_SLOT_RIP, t->rip, b->rip);
    sd_put(&d, HVT_SLOT_RFLAGS, t->rflags, b->rflags);
    if (memcmp(t->seg, b->seg, sizeof(t->seg)))
        for (int i = 0; i < 8; i++) {
            int k = HVT_SLOT_SEG + 4 * i;
            sd_put(&d, k, t->seg[i].sel, b->seg[i].sel);
            sd_put(&d, k + 1, t->seg[i].attr, b->seg[i].attr);
            sd_put(&d, k + 2, t->seg[i].limit, b->seg[i].limit);
            sd_put(&d, k + 3, t->seg[i].base, b->seg[i].base);
        }
    sd_put(&d, HVT_SLOT_GDTR_BASE, t->gdtr.base, b->gdtr.base);
    sd_put(&d, HVT_SLOT_GDTR_LIMIT, t->gdtr.limit, b->gdtr.limit);
    sd_put(&d, HVT_SLOT_IDTR_BASE, t->idtr.base, b->idtr.base);
    sd_put(&d, HVT_SLOT_IDTR_LIMIT, t->idtr.limit, b->idtr.limit);
    sd_put(&d, HVT_SLOT_CR0, t->cr0, b->cr0);
    sd_put(&d, HVT_SLOT_CR2, t->cr2, b->cr2);
    sd_put(&d, HVT_SLOT_CR3, t->cr3, b->cr3);
    sd_put(&d, HVT_SLOT_CR4, t->cr4, b->cr4);
    sd_put(&d, HVT_SLOT_CR8, t->cr8, b->cr8);
    sd_put(&d, HVT_SLOT_EFER, t->efer, b->efer);
    sd_put(&d, HVT_SLOT_XCR0, t->xcr0, b->xcr0);
    for (int i = 0; i < 4; i++)
        sd_put(&d, HVT_SLOT_PDPTE + i, t->pdpte[i], b->pdpte[i]);
    sd_put(&d, HVT_SLOT_FLAGS, t->flags, b->flags);
    if (t->flags & HVT_STATE_SIMD_VALID) {
        sd_put(&d, HVT_SLOT_MXCSR, t->mxcsr, base_simd ? b->mxcsr : 0);
        if (!base_simd || memcmp(t->ymm, b->ymm, sizeof(t->ymm))) {
            static const uint8_t zero[16][32];
            const uint8_t(*by)[32] = base_simd ? b->ymm : zero;
            for (int r = 0; r < 16; r++)
                for (int q = 0; q < 4; q++) {
                    uint64_t tv, bv;
                    memcpy(&tv, &t->ymm[r][8 * q], 8);
                    memcpy(&bv, &by[r][8 * q], 8);
                    sd_put(&d, HVT_SLOT_YMM + 4 * r + q, tv, bv);
                }
        }
    }
    s[FS_SLOT_GAP].n = (size_t)(d.gap - s[FS_SLOT_GAP].p);
    s[FS_VALUE].n = (size_t)(d.val - s[FS_VALUE].p);
    pu(&s[FS_COUNT], d.n);
}

static const struct hvt_vcpu_state zero_state;

static int cs_add(struct hvt_chunkenc *c, uint32_t id)
{
    if (id == c->cs_last)
        return 0;
    if ((c->cs_n + 1) * 2 > c->cs_set_cap) {
        size_t nc = c->cs_set_cap ? c->cs_set_cap * 2 : 64;
        uint32_t *set = calloc(nc, sizeof(*set));
        uint32_t *list = realloc(c->cs_list, nc * sizeof(*list));
        if (!set || !list) {
            free(set);
            if (list)
                c->cs_list = list;
            return -1;
        }
        c->cs_list = list;
        c->cs_cap = nc;
        for (size_t i = 0; i < c->cs_n; i++) {
            size_t j = (c->cs_list[i] * 2654435761u) & (nc - 1);
            while (set[j])
                j = (j + 1) & (nc - 1);
            set[j] = c->cs_list[i];
        }
        free(c->cs_set);
        c->cs_set = set;
        c->cs_set_cap = nc;
    }
    size_t mask = c->cs_set_cap - 1;
    size_t j = (id * 2654435761u) & mask;
    while (c->cs_set[j] && c->cs_set[j] != id)
        j = (j + 1) & mask;
    if (!c->cs_set[j]) {
        c->cs_set[j] = id;
        c->cs_list[c->cs_n++] = id;
    }
    c->cs_last = id;
    return 0;
}

#define BAD(...) (snprintf(msg, msg_size, __VA_ARGS__), -HVT_E_INVALID)

#define ACC_COLS(X)                                                                                \
    X(ACC_KIND)                                                                                    \
    X(ACC_SPACE) X(ACC_SEG) X(ACC_OUTCOME) X(ACC_TAG_CLASS) X(ACC_TAG_OPERAND) X(ACC_TAG_LEVEL)    \
        X(ACC_TAG_ELEMENT) X(ACC_SIZE) X(ACC_FLAGS) X(ACC_LINEAR_DELTA) X(ACC_PHYS_DELTA)          \
            X(ACC_CALLSITE) X(ACC_DATA) X(ACC_CMPXCHG)
#define DECL(f) uint8_t *w_##f = col[F_##f].p + col[F_##f].n;
#define STORE(f) col[F_##f].n = (size_t)(w_##f - col[F_##f].p);
/* one varint, with the one-byte case inline */
#define W(f, v)                                                                                    \
    do {                                                                                           \
        uint64_t v_ = (v);                                                                         \
        if (v_ < 0x80)                                                                             \
            *w_##f++ = (uint8_t)v_;                                                                \
        else                                                                                       \
            w_##f = hvt_pb_varint(w_##f, v_);                                                      \
    } while (0)

int hvt_chunkenc_event(struct hvt_chunkenc *c, const struct hvt_event *ev, char *msg,
                       size_t msg_size)
{
    /* event and pass level checks, and the sizes to reserve */
    if (ev->insn_len > HVT_INSN_MAX)
        return BAD("event %" PRIu64 ": insn_len %u > %u", ev->id, ev->insn_len, HVT_INSN_MAX);
    if (ev->n_passes > HVT_FMT_MAX_PASSES || (ev->n_passes && !ev->passes))
        return BAD("event %" PRIu64 ": %u passes (max %u)", ev->id, ev->n_passes,
                   HVT_FMT_MAX_PASSES);
    size_t na = 0, np = ev->n_passes;
    for (uint32_t p = 0; p < ev->n_passes; p++) {
        const struct hvt_pass *q = &ev->passes[p];
        if (q->n_accesses > HVT_FMT_MAX_ACCESSES || (q->n_accesses && !q->accesses))
            return BAD("event %" PRIu64 " pass %u: %u accesses (max %u)", ev->id, p, q->n_accesses,
                       HVT_FMT_MAX_ACCESSES);
        if (q->out.kind >= HVT_OUT__COUNT || q->out.retry_cause >= HVT_RETRY__COUNT)
            return BAD("event %" PRIu64 " pass %u: bad outcome %u/%u", ev->id, p, q->out.kind,
                       q->out.retry_cause);
        na += q->n_accesses;
    }
    if (na > HVT_FMT_MAX_EVENT_ACCESSES)
        return BAD("event %" PRIu64 ": %zu accesses (max %u)", ev->id, na,
                   HVT_FMT_MAX_EVENT_ACCESSES);
    for (int f = F_LOST_AT; f < F__COUNT; f++) {
        size_t need;
        if (f <= F_EV_PASSES)
            need = f == F_EV_INSN ? HVT_INSN_MAX : 10;
        else if (f <= F_PASS_ACCESSES)
            need = np * 10;
        else if (f == F_ACC_DATA)
            need = na * HVT_DATA_MAX;
        else if (f == F_ACC_CMPXCHG)
            need = na * 2 * HVT_DATA_MAX;
        else if (f <= F_ACC_CMPXCHG)
            need = na * 10;
        else
            need = 0;
        if (need && cb_reserve(&c->col[f], need))
            return -HVT_E_NOMEM;
    }
    for (int k = 0; k < 2; k++) {
        size_t ns = k ? np : 1;
        if (cb_reserve(&c->st[k][FS_COUNT], ns * 5) ||
            cb_reserve(&c->st[k][FS_SLOT_GAP], ns * HVT_NSLOTS * 2) ||
            cb_reserve(&c->st[k][FS_VALUE], ns * HVT_NSLOTS * 10))
            return -HVT_E_NOMEM;
    }

    /* every access checked before anything is written: the append is all or nothing */
    for (uint32_t p = 0; p < ev->n_passes; p++)
        for (uint32_t i = 0; i < ev->passes[p].n_accesses; i++) {
            const struct hvt_access *a = &ev->passes[p].accesses[i];
            if (a->kind >= HVT_ACC__COUNT || a->space >= HVT_SPACE__COUNT ||
                (a->seg > HVT_SEG_IDTR && a->seg != HVT_SEG_NONE) || a->outcome >= HVT_OP__COUNT ||
                a->tag.cls >= HVT_TAG__COUNT || a->tag.level > HVT_WALK_PAE_PDPTE || a->size < 1 ||
                a->size > HVT_DATA_MAX)
                return BAD("event %" PRIu64 " pass %u access %u: field out of range (kind %u "
                           "space %u seg %u outcome %u class %u level %u size %u)",
                           ev->id, p, i, a->kind, a->space, a->seg, a->outcome, a->tag.cls,
                           a->tag.level, a->size);
        }

    struct hvt_colbuf *col = c->col;
    uint64_t prev_id = c->n_events ? c->prev_id : ev->id;
    pu(&col[F_EV_ID_DELTA], ev->id - prev_id);
    pu(&col[F_EV_VCPU], ev->vcpu);
    pu(&col[F_EV_FLAGS], ev->flags);
    ps(&col[F_EV_TIME_DELTA], (int64_t)(ev->time_ns - c->prev_time));
    pu(&col[F_EV_INSN_LEN], ev->insn_len);
    pbytes(&col[F_EV_INSN], ev->insn, ev->insn_len);

    /* init state: against this vCPU's previous init state in the chunk when the vCPU is one of
     * the first HVT_MAX_VCPU_SLOTS seen in the chunk, else against zero */
    int slot = -1;
    for (unsigned i = 0; i < c->n_vcpus; i++)
        if (c->vcpu_ids[i] == ev->vcpu) {
            slot = (int)i;
            break;
        }
    pu(&col[F_EV_INIT_BASE], slot >= 0);
    if (slot >= 0)
        state_delta(c->st[0], &c->vcpu_state[slot],
                    (c->vcpu_state[slot].flags & HVT_STATE_SIMD_VALID) != 0, &ev->init);
    else
        state_delta(c->st[0], &zero_state, 1, &ev->init);
    pu(&col[F_EV_PASSES], ev->n_passes);

    for (uint32_t p = 0; p < ev->n_passes; p++) {
        const struct hvt_pass *q = &ev->passes[p];
        pu(&col[F_PASS_INDEX], q->index);
        pu(&col[F_PASS_LOST], q->lost);
        pu(&col[F_PASS_KIND], q->out.kind);
        pu(&col[F_PASS_RETRY_CAUSE], q->out.retry_cause);
        pu(&col[F_PASS_VECTOR], q->out.vector);
        pu(&col[F_PASS_FLAGS], q->out.flags);
        pu(&col[F_PASS_ERROR_CODE], q->out.error_code);
        pu(&col[F_PASS_CR2], q->out.cr2);
        pu(&col[F_PASS_ITERATIONS], q->out.iterations);
        state_delta(c->st[1], &ev->init, (ev->init.flags & HVT_STATE_SIMD_VALID) != 0, &q->end);
        pu(&col[F_PASS_ACCESSES], q->n_accesses);
        /* the access columns through local write pointers: byte stores through a column's
         * pointer could alias every other column's length, which would force reloads */
        ACC_COLS(DECL)
        for (uint32_t i = 0; i < q->n_accesses; i++) {
            const struct hvt_access *a = &q->accesses[i];
            W(ACC_KIND, a->kind);
            W(ACC_SPACE, a->space);
            W(ACC_SEG, a->seg);
            W(ACC_OUTCOME, a->outcome);
            W(ACC_TAG_CLASS, a->tag.cls);
            W(ACC_TAG_OPERAND, a->tag.operand);
            W(ACC_TAG_LEVEL, a->tag.level);
            W(ACC_TAG_ELEMENT, a->tag.element);
            W(ACC_SIZE, a->size);
            W(ACC_FLAGS, a->flags);
            unsigned ctx = a->tag.cls * 8u + a->tag.level;
            W(ACC_LINEAR_DELTA, hvt_zigzag((int64_t)(a->linear - c->lin_ctx[ctx])));
            W(ACC_PHYS_DELTA, hvt_zigzag((int64_t)(a->phys - c->phys_ctx[ctx])));
            c->lin_ctx[ctx] = a->linear;
            c->phys_ctx[ctx] = a->phys;
            W(ACC_CALLSITE, a->callsite);
            memcpy(w_ACC_DATA, a->data, a->size);
            w_ACC_DATA += a->size;
            if (a->kind == HVT_ACC_CMPXCHG) {
                memcpy(w_ACC_CMPXCHG, a->old, a->size);
                memcpy(w_ACC_CMPXCHG + a->size, a->cur, a->size);
                w_ACC_CMPXCHG += 2 * a->size;
            }
            /* a failed insert only loses a definition (the reader then returns NULL) */
            if (a->callsite)
                (void)cs_add(c, a->callsite);
        }
        ACC_COLS(STORE)
    }

    /* committed: update the context */
    if (slot < 0 && c->n_vcpus < HVT_MAX_VCPU_SLOTS) {
        slot = (int)c->n_vcpus++;
        c->vcpu_ids[slot] = ev->vcpu;
    }
    if (slot >= 0) {
        /* the SIMD part is copied only when valid (state_delta ignores it otherwise) */
        struct hvt_vcpu_state *b = &c->vcpu_state[slot];
        if (ev->init.flags & HVT_STATE_SIMD_VALID)
            *b = ev->init;
        else
            memcpy(b, &ev->init, offsetof(struct hvt_vcpu_state, mxcsr));
    }
    if (!c->n_events)
        c->first_id = ev->id;
    c->prev_id = ev->id;
    c->prev_time = ev->time_ns;
    c->n_events++;
    c->n_records++;
    return 0;
}

int hvt_chunkenc_lost(struct hvt_chunkenc *c, const struct hvt_lost *l)
{
    static const int f[] = {F_LOST_AT,       F_LOST_VCPU, F_LOST_COUNT,
                            F_LOST_EVENT_ID, F_LOST_PASS, F_LOST_ACCESS};
    for (size_t i = 0; i < sizeof(f) / sizeof(f[0]); i++)
        if (cb_reserve(&c->col[f[i]], 10))
            return -HVT_E_NOMEM;
    pu(&c->col[F_LOST_AT], c->n_records);
    pu(&c->col[F_LOST_VCPU], l->vcpu);
    pu(&c->col[F_LOST_COUNT], l->count);
    pu(&c->col[F_LOST_EVENT_ID], l->event_id);
    pu(&c->col[F_LOST_PASS], l->pass);
    pu(&c->col[F_LOST_ACCESS], l->access);
    c->n_records++;
    return 0;
}

size_t hvt_chunkenc_size(const struct hvt_chunkenc *c)
{
    size_t n = 0;
    for (int f = 0; f < F__COUNT; f++)
        n += c->col[f].n;
    for (int k = 0; k < 2; k++)
        for (int f = 0; f < FS__COUNT; f++)
            n += c->st[k][f].n;
    return n;
}

/* A length-delimited field: tag, length, bytes. */
static uint8_t *put_ld(uint8_t *p, unsigned field, const uint8_t *data, size_t n)
{
    p = hvt_pb_varint(p, (uint64_t)field << 3 | 2);
    p = hvt_pb_varint(p, n);
    memcpy(p, data, n);
    return p + n;
}

static size_t states_len(const struct hvt_colbuf *s)
{
    size_t n = 0;
    for (int f = 1; f < FS__COUNT; f++)
        if (s[f].n)
            n += 1 + hvt_varint_len(s[f].n) + s[f].n;
    return n;
}

int64_t hvt_chunkenc_finish(const struct hvt_chunkenc *c, const uint8_t *extra, size_t extra_len,
                            uint8_t **buf, size_t *cap)
{
    /* upper bound: every field's tag and length fit in 2 + 10 bytes */
    size_t need = hvt_chunkenc_size(c) + extra_len + (F__COUNT + 2 * FS__COUNT + 4) * 12;
    if (need > *cap) {
        uint8_t *p = realloc(*buf, need);
        if (!p)
            return -HVT_E_NOMEM;
        *buf = p;
        *cap = need;
    }
    uint8_t *p = *buf;
    if (c->n_events && c->first_id) {
        p = hvt_pb_varint(p, F_FIRST_EVENT_ID << 3);
        p = hvt_pb_varint(p, c->first_id);
    }
    for (int f = F_LOST_AT; f < F_CALLSITES; f++) {
        if (f == F_EV_INIT || f == F_PASS_END) {
            const struct hvt_colbuf *s = c->st[f == F_PASS_END];
            size_t len = states_len(s);
            if (!len)
                continue;
            p = hvt_pb_varint(p, (uint64_t)f << 3 | 2);
            p = hvt_pb_varint(p, len);
            for (int g = 1; g < FS__COUNT; g++)
                if (s[g].n)
                    p = put_ld(p, (unsigned)g, s[g].p, s[g].n);
            continue;
        }
        if (c->col[f].n)
            p = put_ld(p, (unsigned)f, c->col[f].p, c->col[f].n);
    }
    if (extra_len) {
        memcpy(p, extra, extra_len);
        p += extra_len;
    }
    return (int64_t)(p - *buf);
}

void hvt_chunkenc_reset(struct hvt_chunkenc *c)
{
    for (int f = 0; f < F__COUNT; f++)
        c->col[f].n = 0;
    for (int k = 0; k < 2; k++)
        for (int f = 0; f < FS__COUNT; f++)
            c->st[k][f].n = 0;
    c->n_events = c->n_records = 0;
    c->first_id = c->prev_id = c->prev_time = 0;
    c->n_vcpus = 0;
    memset(c->lin_ctx, 0, sizeof(c->lin_ctx));
    memset(c->phys_ctx, 0, sizeof(c->phys_ctx));
    if (c->cs_set)
        memset(c->cs_set, 0, c->cs_set_cap * sizeof(*c->cs_set));
    c->cs_n = 0;
    c->cs_last = 0;
}

void hvt_chunkenc_free(struct hvt_chunkenc *c)
{
    for (int f = 0; f < F__COUNT; f++)
        free(c->col[f].p);
    for (int k = 0; k < 2; k++)
        for (int f = 0; f < FS__COUNT; f++)
            free(c->st[k][f].p);
    free(c->cs_set);
    free(c->cs_list);
    memset(c, 0, sizeof(*c));
}
