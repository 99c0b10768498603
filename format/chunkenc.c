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
#include "decode.h" /* hvt_keep_masks */
#include "predict.h"

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
                        const struct hvt_vcpu_state *t, uint64_t rip_adj)
{
    static const uint8_t zero_ymm[16][32];
    struct sd d = {s[FS_SLOT_GAP].p + s[FS_SLOT_GAP].n, s[FS_VALUE].p + s[FS_VALUE].n, -1, 0};
    uint64_t m = diff_lo(t, b);
    if (rip_adj) /* the base's RIP is b->rip + RIP_ADJ: compared whether or not it changed */
        m |= 1ull << HVT_SLOT_RIP;
    while (m) {
        unsigned w = (unsigned)__builtin_ctzll(m);
        m &= m - 1;
        if (w == HVT_SLOT_RIP) {
            sd_put(&d, (int)w, t->rip, b->rip + rip_adj);
        } else if (w < HVT_SLOT_SEG) { /* GPRs, RIP, RFLAGS: slot = word */
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

/* ---- access shapes ---------------------------------------------------------------------- */

/* The key of A's shape: bytes kind, space, seg, outcome, class, operand, level | bits << 4,
 * size (the first seven are A's first seven bytes: one load), then flags and call site. */
static inline struct hvt_shape_key shape_key(const struct hvt_access *a, unsigned bits)
{
    struct hvt_shape_key k;
    uint64_t x;
    memcpy(&x, a, 8);
    k.k0 = (x & 0x00ffffffffffffffull) | (uint64_t)bits << 52 | (uint64_t)a->size << 56;
    k.k1 = (uint64_t)a->flags | (uint64_t)a->callsite << 32;
    return k;
}

static inline size_t shape_hash(struct hvt_shape_key k, size_t mask)
{
    /* a product carries a key bit only upwards: the high half is folded back down */
    uint64_t h = (k.k0 ^ (k.k1 * 0xc2b2ae3d27d4eb4full)) * 0x9e3779b97f4a7c15ull;
    return (size_t)(h ^ h >> 32 ^ h >> 47) & mask;
}

/* The HVT_SHAPE_FIELDS values of shape K, in the order of column acc_shapes: kind, space, seg,
 * outcome, class, operand, level, size, flags, call site, shape bits. */
static void shape_fields(struct hvt_shape_key k, uint64_t v[HVT_SHAPE_FIELDS])
{
    for (int i = 0; i < 8; i++)
        v[i] = (k.k0 >> (8 * i)) & 0xff;
    v[6] &= 15; /* level; the shape bits share its byte */
    v[8] = k.k1 & 0xffffffffu;
    v[9] = k.k1 >> 32;
    v[10] = (k.k0 >> 52) & 15;
}

static size_t shape_bytes(struct hvt_shape_key k)
{
    uint64_t v[HVT_SHAPE_FIELDS];
    size_t n = 0;
    shape_fields(k, v);
    for (int i = 0; i < HVT_SHAPE_FIELDS; i++)
        n += hvt_varint_len(v[i]);
    return n;
}

/* Room for N more shapes, so that inserting them cannot fail. */
static int shapes_reserve(struct hvt_shapes *s, size_t n)
{
    if (s->n + n > s->cap) {
        size_t nc = s->cap ? s->cap : 64;
        while (nc < s->n + n)
            nc *= 2;
        struct hvt_shape_key *l = realloc(s->list, nc * sizeof(*l));
        if (!l)
            return -1;
        s->list = l;
        uint32_t *nx = realloc(s->next, nc * sizeof(*nx));
        if (!nx)
            return -1;
        s->next = nx;
        s->cap = nc;
    }
    if (s->cap_set < 2 * s->cap) {
        size_t nc = s->cap_set ? s->cap_set : 128;
        while (nc < 2 * s->cap)
            nc *= 2;
        uint32_t *set = calloc(nc, sizeof(*set));
        if (!set)
            return -1;
        for (size_t i = 0; i < s->n; i++) {
            size_t j = shape_hash(s->list[i], nc - 1);
            while (set[j])
                j = (j + 1) & (nc - 1);
            set[j] = (uint32_t)i + 1;
        }
        free(s->set);
        s->set = set;
        s->cap_set = nc;
    }
    return 0;
}

/* The index of shape K, added when new (room reserved; *NEW set). */
static inline uint32_t shape_id(struct hvt_shapes *s, struct hvt_shape_key k, int *is_new)
{
    size_t mask = s->cap_set - 1, j = shape_hash(k, mask);
    for (;;) {
        uint32_t v = s->set[j];
        if (!v)
            break;
        const struct hvt_shape_key *e = &s->list[v - 1];
        if (e->k0 == k.k0 && e->k1 == k.k1)
            return v - 1;
        j = (j + 1) & mask;
    }
    s->list[s->n] = k;
    s->next[s->n] = UINT32_MAX;
    s->set[j] = (uint32_t)++s->n;
    *is_new = 1;
    return (uint32_t)(s->n - 1);
}

#define BAD(...) (snprintf(msg, msg_size, __VA_ARGS__), -HVT_E_INVALID)

/* The range checks of an access's first 8 bytes (kind, space, seg, outcome, class, operand,
 * level, reserved): 128 - limit added to each checked byte, whose top bit then tells. */
_Static_assert(offsetof(struct hvt_access, kind) == 0 && offsetof(struct hvt_access, space) == 1 &&
                   offsetof(struct hvt_access, outcome) == 3 &&
                   offsetof(struct hvt_access, tag.cls) == 4 &&
                   offsetof(struct hvt_access, tag.level) == 6,
               "access layout");
#define RANGE_ADD                                                                                  \
    ((uint64_t)(128 - HVT_ACC__COUNT) | (uint64_t)(128 - HVT_SPACE__COUNT) << 8 |                  \
     (uint64_t)(128 - HVT_OP__COUNT) << 24 | (uint64_t)(128 - HVT_TAG__COUNT) << 32 |              \
     (uint64_t)(128 - (HVT_WALK_PAE_PDPTE + 1)) << 48)
#define RANGE_TOP 0x0080008080008080ull

#define ACC_COLS(X) X(SHAPE) X(ELEMENT) X(LINEAR) X(PHYS) X(BYTES)
#define DECL(f)                                                                                    \
    uint8_t *w_##f = c->col2[F2_ACC_##f - F2_FIRST].p + c->col2[F2_ACC_##f - F2_FIRST].n;
#define STORE(f)                                                                                   \
    c->col2[F2_ACC_##f - F2_FIRST].n = (size_t)(w_##f - c->col2[F2_ACC_##f - F2_FIRST].p);
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
    if (!c->pred) {
        c->pred = malloc(sizeof(*c->pred));
        if (!c->pred)
            return -HVT_E_NOMEM;
        hvt_pred_reset(c->pred);
    }
    const uint8_t(*keep_mask)[HVT_DATA_MAX] = hvt_keep_masks();
    /* the access columns' write pointers are formed for every pass, also in a chunk whose
     * events have no access yet: their buffers must exist (NULL + 0 is undefined) */
    size_t nacc = na ? na : 1;
    for (int f = F_LOST_AT; f <= F_PASS_ACCESSES; f++) {
        size_t need;
        if (f <= F_EV_PASSES)
            need = f == F_EV_INSN ? HVT_INSN_MAX : 10;
        else
            need = np * 10;
        if (cb_reserve(&c->col[f], need))
            return -HVT_E_NOMEM;
    }
    if (cb_reserve(&c->col[F_ACC_CMPXCHG], nacc * 2 * HVT_DATA_MAX))
        return -HVT_E_NOMEM;
    static const size_t per_acc[F2_N] = {5, 0, 5, 10, 10, HVT_DATA_MAX};
    for (int f = 0; f < F2_N; f++)
        if (per_acc[f] && cb_reserve(&c->col2[f], nacc * per_acc[f]))
            return -HVT_E_NOMEM;
    if (shapes_reserve(&c->shapes, na))
        return -HVT_E_NOMEM;
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
            /* one branch per access: kind, space, outcome, class and level checked at once
             * in the first 8 bytes (a byte at or above its limit, or above 127, sets its top
             * bit in x | (x + (128 - limit)); a byte below 128 cannot carry) */
            uint64_t x8;
            memcpy(&x8, a, 8);
            if (((x8 | (x8 + RANGE_ADD)) & RANGE_TOP) |
                ((a->seg > HVT_SEG_IDTR) & (a->seg != HVT_SEG_NONE)) |
                (a->size - 1u >= HVT_DATA_MAX))
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

    /* init state: against this vCPU's last state in the chunk (the end of its previous
     * event's last pass) when the vCPU is one of the first HVT_MAX_VCPU_SLOTS seen in the
     * chunk, else against zero */
    int slot = -1;
    for (unsigned i = 0; i < c->n_vcpus; i++)
        if (c->vcpu_ids[i] == ev->vcpu) {
            slot = (int)i;
            break;
        }
    pu(&col[F_EV_INIT_BASE], slot >= 0);
    if (slot >= 0)
        state_delta(c->st[0], &c->vcpu_state[slot],
                    (c->vcpu_state[slot].flags & HVT_STATE_SIMD_VALID) != 0, &ev->init, 0);
    else
        state_delta(c->st[0], &zero_state, 1, &ev->init, 0);
    /* a new vCPU takes the next slot (nothing below can fail) */
    if (slot < 0 && c->n_vcpus < HVT_MAX_VCPU_SLOTS) {
        slot = (int)c->n_vcpus++;
        c->vcpu_ids[slot] = ev->vcpu;
    }
    pu(&col[F_EV_PASSES], ev->n_passes);

    struct hvt_pred *pr = c->pred;
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
        /* a pass that completed is expected to have moved RIP past the instruction */
        state_delta(c->st[1], &ev->init, (ev->init.flags & HVT_STATE_SIMD_VALID) != 0, &q->end,
                    q->out.kind == HVT_OUT_OKAY ? ev->insn_len : 0);
        pu(&col[F_PASS_ACCESSES], q->n_accesses);
        /* the access columns through local write pointers: byte stores through a column's
         * pointer could alias every other column's length, which would force reloads */
        ACC_COLS(DECL)
        uint8_t *w_cx = col[F_ACC_CMPXCHG].p + col[F_ACC_CMPXCHG].n;
        struct hvt_pred_pass pp;
        hvt_pred_pass_begin(&pp, pr, slot, ev, p);
        uint32_t *prev_next = &c->shapes.first;
        for (uint32_t i = 0; i < q->n_accesses; i++) {
            const struct hvt_access *a = &q->accesses[i];
            unsigned ci = hvt_pred_ctx_of(a);
            struct hvt_pred_addr *ctx = &pp.ctx[ci];
            struct hvt_pred_line *ln = &pr->line[hvt_pred_line_of(a->phys)];
            const struct hvt_access *ref = hvt_pred_ref(&pp, a, i);
            uint32_t pel = hvt_pred_element(&pp, ci, ctx, ref);
            unsigned bits = a->tag.element != pel ? HVT_SHAPE_ELEMENT : 0;
            uint64_t plin = hvt_pred_linear(&pp, a, ctx, ref);
            bits |= a->linear != plin ? HVT_SHAPE_LINEAR : 0;
            uint64_t pphys = hvt_pred_phys(&pp, a, ctx, ref, a->linear);
            bits |= a->phys != pphys ? HVT_SHAPE_PHYS : 0;
            const uint8_t *pd = hvt_pred_data(&pp, a, i, ln, a->linear, a->phys);
            bits |= !pd || !hvt_pred_same(pd, a->data, keep_mask[a->size]) ? HVT_SHAPE_DATA : 0;
            int is_new = 0;
            struct hvt_shape_key k = shape_key(a, bits);
            /* the shape that followed the previous one last time, else the hash set */
            struct hvt_shapes *sh = &c->shapes;
            uint32_t id = *prev_next;
            if (id >= sh->n || sh->list[id].k0 != k.k0 || sh->list[id].k1 != k.k1) {
                id = shape_id(sh, k, &is_new);
                *prev_next = id;
            }
            prev_next = &sh->next[id];
            if (is_new) {
                c->shapes_bytes += shape_bytes(c->shapes.list[id]);
                /* a failed insert only loses a definition (the reader then returns NULL) */
                if (a->callsite)
                    (void)cs_add(c, a->callsite);
            }
            W(SHAPE, id);
            if (bits & HVT_SHAPE_ELEMENT)
                W(ELEMENT, hvt_zigzag((int64_t)a->tag.element - (int64_t)pel));
            if (bits & HVT_SHAPE_LINEAR)
                W(LINEAR, hvt_zigzag((int64_t)(a->linear - plin)));
            if (bits & HVT_SHAPE_PHYS)
                W(PHYS, hvt_zigzag((int64_t)(a->phys - pphys)));
            /* the data with the bytes past its size cleared: what a reader decodes */
            uint64_t x[HVT_DATA_MAX / 8], m[HVT_DATA_MAX / 8];
            memcpy(x, a->data, sizeof(x));
            memcpy(m, keep_mask[a->size], sizeof(m));
            for (unsigned b = 0; b < HVT_DATA_MAX / 8; b++)
                x[b] &= m[b];
            if (bits & HVT_SHAPE_DATA) {
                /* a constant-size copy: the column has room for HVT_DATA_MAX bytes per
                 * access, and the bytes past size are overwritten by the next access or lie
                 * beyond the column's length */
                memcpy(w_BYTES, x, HVT_DATA_MAX);
                w_BYTES += a->size;
            }
            if (a->kind == HVT_ACC_CMPXCHG) {
                memcpy(w_cx, a->old, a->size);
                memcpy(w_cx + a->size, a->cur, a->size);
                w_cx += 2 * a->size;
            }
            hvt_pred_update(&pp, a, ci, ctx, ln, (const uint8_t *)x);
        }
        ACC_COLS(STORE)
        col[F_ACC_CMPXCHG].n = (size_t)(w_cx - col[F_ACC_CMPXCHG].p);
    }

    /* committed: the vCPU's last state */
    if (slot >= 0) {
        const struct hvt_vcpu_state *last =
            ev->n_passes ? &ev->passes[ev->n_passes - 1].end : &ev->init;
        /* the SIMD part is copied only when valid (state_delta ignores it otherwise) */
        struct hvt_vcpu_state *b = &c->vcpu_state[slot];
        if (last->flags & HVT_STATE_SIMD_VALID)
            *b = *last;
        else
            memcpy(b, last, offsetof(struct hvt_vcpu_state, mxcsr));
    }
    if (!c->n_events)
        c->first_id = ev->id;
    c->prev_id = ev->id;
    c->prev_time = ev->time_ns;
    c->n_events++;
    c->n_records++;
    c->n_passes += ev->n_passes;
    c->n_accesses += na;
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
    for (int f = 0; f < F2_N; f++)
        n += c->col2[f].n;
    return n + c->shapes_bytes + (c->retire_any ? c->retire.n : 0);
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
    size_t need = hvt_chunkenc_size(c) + extra_len + (F__COUNT + 2 * FS__COUNT + F2_N + 4) * 12;
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
    for (int f = 0; f < F2_N; f++) {
        if (f == F2_ACC_SHAPES - F2_FIRST) {
            if (!c->shapes.n)
                continue;
            p = hvt_pb_varint(p, (uint64_t)F2_ACC_SHAPES << 3 | 2);
            p = hvt_pb_varint(p, c->shapes_bytes);
            for (size_t i = 0; i < c->shapes.n; i++) {
                uint64_t v[HVT_SHAPE_FIELDS];
                shape_fields(c->shapes.list[i], v);
                for (int f2 = 0; f2 < HVT_SHAPE_FIELDS; f2++)
                    p = hvt_pb_varint(p, v[f2]);
            }
            continue;
        }
        if (c->col2[f].n)
            p = put_ld(p, (unsigned)(F2_FIRST + f), c->col2[f].p, c->col2[f].n);
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
    c->retire.n = 0;
    c->retire_any = 0;
    c->n_events = c->n_records = 0;
    c->n_passes = c->n_accesses = 0;
    c->first_id = c->prev_id = c->prev_time = 0;
    c->n_vcpus = 0;
    for (int f = 0; f < F2_N; f++)
        c->col2[f].n = 0;
    c->shapes.n = 0;
    c->shapes.first = UINT32_MAX;
    c->shapes_bytes = 0;
    if (c->shapes.set)
        memset(c->shapes.set, 0, c->shapes.cap_set * sizeof(*c->shapes.set));
    if (c->pred)
        hvt_pred_reset(c->pred);
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
    for (int f = 0; f < F2_N; f++)
        free(c->col2[f].p);
    free(c->shapes.list);
    free(c->shapes.next);
    free(c->shapes.set);
    free(c->pred);
    free(c->cs_set);
    free(c->cs_list);
    memset(c, 0, sizeof(*c));
}
