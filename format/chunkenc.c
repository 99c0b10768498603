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
#include "common/wordiff.h"

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

/* Writers of one state delta (slot gaps and values). */
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

/* Words of struct hvt_vcpu_state below flags/mxcsr (GPRs .. PDPTEs), and the YMM words. */
#define ST_LO_WORDS (offsetof(struct hvt_vcpu_state, flags) / 8)
#define ST_YMM_WORDS (sizeof(((struct hvt_vcpu_state *)0)->ymm) / 8)
_Static_assert(ST_LO_WORDS == 57 && ST_YMM_WORDS == 64, "state layout");
_Static_assert(offsetof(struct hvt_vcpu_state, seg) == 8 * 18 &&
                   sizeof(struct hvt_segment) == 24 &&
                   offsetof(struct hvt_vcpu_state, gdtr) == 8 * 42 &&
                   offsetof(struct hvt_vcpu_state, cr0) == 8 * 46 &&
                   offsetof(struct hvt_vcpu_state, pdpte) == 8 * 53 &&
                   HVT_SLOT_GDTR_BASE == 42 + 8 && HVT_SLOT_PDPTE + 3 == 56 + 8,
               "state words map to slots in order (state.h)");
HVT_DEFINE_DIFF_WORDS_SPLIT(diff_lo, ST_LO_WORDS, 21) /* segments .. PDPTEs rarely change */
HVT_DEFINE_DIFF_WORDS_SPLIT(diff_ymm, ST_YMM_WORDS, 0)

static inline uint64_t st_word(const struct hvt_vcpu_state *s, unsigned w)
{
    return ((const hvt_word_t *)s)[w];
}

/* T as a delta against BASE into States columns S, in slot order (state.h). The words that
 * changed are found with vector compares; the struct's words are in slot order, so walking
 * the changed words in order emits the slots in order. BASE_SIMD says whether BASE's SIMD part
 * is meaningful (else it counts as zero). */
static void state_delta(struct hvt_colbuf *s, const struct hvt_vcpu_state *b, int base_simd,
                        const struct hvt_vcpu_state *t)
{
    static const uint8_t zero_ymm[16][32];
    struct sd d = {s[FS_SLOT_GAP].p + s[FS_SLOT_GAP].n, s[FS_VALUE].p + s[FS_VALUE].n, -1, 0};
    uint64_t m = diff_lo(t, b);
    while (m) {
        unsigned w = (unsigned)__builtin_ctzll(m);
        m &= m - 1;
        if (w < HVT_SLOT_SEG) { /* GPRs, RIP, RFLAGS: slot = word */
            sd_put(&d, (int)w, st_word(t, w), st_word(b, w));
        } else if (w < 42) { /* segments: (sel, attr), (limit), (base) per 3 words */
            unsigned i = (w - 18) / 3, k = (w - 18) % 3;
            const struct hvt_segment *ts = &t->seg[i], *bs = &b->seg[i];
            int slot = HVT_SLOT_SEG + 4 * (int)i;
            if (k == 0) {
                sd_put(&d, slot, ts->sel, bs->sel);
                sd_put(&d, slot + 1, ts->attr, bs->attr);
            } else if (k == 1) {
                sd_put(&d, slot + 2, ts->limit, bs->limit);
            } else {
                sd_put(&d, slot + 3, ts->base, bs->base);
            }
        } else if (w == 43) {
            sd_put(&d, HVT_SLOT_GDTR_LIMIT, t->gdtr.limit, b->gdtr.limit);
        } else if (w == 45) {
            sd_put(&d, HVT_SLOT_IDTR_LIMIT, t->idtr.limit, b->idtr.limit);
        } else { /* GDTR/IDTR bases, control registers, EFER, XCR0, PDPTEs: slot = word + 8 */
            sd_put(&d, (int)w + 8, st_word(t, w), st_word(b, w));
        }
    }
    sd_put(&d, HVT_SLOT_FLAGS, t->flags, b->flags);
    if (t->flags & HVT_STATE_SIMD_VALID) {
        const uint8_t(*by)[32] = base_simd ? b->ymm : zero_ymm;
        sd_put(&d, HVT_SLOT_MXCSR, t->mxcsr, base_simd ? b->mxcsr : 0);
        m = diff_ymm(t->ymm, by);
        while (m) {
            unsigned q = (unsigned)__builtin_ctzll(m);
            m &= m - 1;
            sd_put(&d, HVT_SLOT_YMM + (int)q, ((const hvt_word_t *)t->ymm)[q],
                   ((const hvt_word_t *)by)[q]);
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
        if ((q->out.retire & ~(HVT_RETIRE_KNOWN | HVT_RETIRE_REPORTED)) ||
            ((q->out.retire & HVT_RETIRE_KNOWN) && q->out.kind != HVT_OUT_OKAY))
            return BAD("event %" PRIu64 " pass %u: retire flags 0x%x (known flags on an OKAY "
                       "pass only, and HVT_RETIRE_REPORTED)",
                       ev->id, p, q->out.retire);
        na += q->n_accesses;
    }
    if (na > HVT_FMT_MAX_EVENT_ACCESSES)
        return BAD("event %" PRIu64 ": %zu accesses (max %u)", ev->id, na,
                   HVT_FMT_MAX_EVENT_ACCESSES);
    /* the access columns' write pointers are formed for every pass, also in a chunk whose
     * events have no access yet: their buffers must exist (NULL + 0 is undefined) */
    size_t nacc = na ? na : 1;
    for (int f = F_LOST_AT; f < F__COUNT; f++) {
        size_t need;
        if (f <= F_EV_PASSES)
            need = f == F_EV_INSN ? HVT_INSN_MAX : 10;
        else if (f <= F_PASS_ACCESSES)
            need = np * 10;
        else if (f == F_ACC_DATA)
            need = nacc * HVT_DATA_MAX;
        else if (f == F_ACC_CMPXCHG)
            need = nacc * 2 * HVT_DATA_MAX;
        else if (f <= F_ACC_CMPXCHG)
            need = nacc * 10;
        else
            need = 0;
        if (need && cb_reserve(&c->col[f], need))
            return -HVT_E_NOMEM;
    }
    if (cb_reserve(&c->retire, np * 5))
        return -HVT_E_NOMEM;
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
            /* one branch per access: the tests are combined without short-circuit */
            if ((a->kind >= HVT_ACC__COUNT) | (a->space >= HVT_SPACE__COUNT) |
                ((a->seg > HVT_SEG_IDTR) & (a->seg != HVT_SEG_NONE)) |
                (a->outcome >= HVT_OP__COUNT) | (a->tag.cls >= HVT_TAG__COUNT) |
                (a->tag.level > HVT_WALK_PAE_PDPTE) | (a->size - 1u >= HVT_DATA_MAX))
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
        pu(&c->retire, q->out.retire);
        c->retire_any |= q->out.retire;
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
            /* a constant-size copy (two vector moves, no call): the column has room for
             * HVT_DATA_MAX bytes per access, and the bytes past size are overwritten by the
             * next access or lie beyond the column's length */
            memcpy(w_ACC_DATA, a->data, HVT_DATA_MAX);
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
    c->n_passes += ev->n_passes;
    for (uint32_t p = 0; p < ev->n_passes; p++)
        c->n_accesses += ev->passes[p].n_accesses;
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
    return n + (c->retire_any ? c->retire.n : 0);
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
    if (c->retire_any) /* absent: every pass 0 (older traces, version-1 cores) */
        p = put_ld(p, F_PASS_RETIRE, c->retire.p, c->retire.n);
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
    c->retire.n = 0;
    c->retire_any = 0;
    c->n_events = c->n_records = 0;
    c->n_passes = c->n_accesses = 0;
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
    free(c->retire.p);
    free(c->cs_set);
    free(c->cs_list);
    memset(c, 0, sizeof(*c));
}
