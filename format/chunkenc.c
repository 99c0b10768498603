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

#ifdef __SSE2__
#include <emmintrin.h>
#endif

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
/* Each returns the bytes it added. */
static inline size_t pu(struct hvt_colbuf *b, uint64_t v)
{
    size_t n0 = b->n;
    b->n = (size_t)(hvt_pb_varint(b->p + b->n, v) - b->p);
    return b->n - n0;
}
static inline size_t ps(struct hvt_colbuf *b, int64_t v)
{
    return pu(b, hvt_zigzag(v));
}
static inline size_t pbytes(struct hvt_colbuf *b, const uint8_t *p, size_t n)
{
    memcpy(b->p + b->n, p, n);
    b->n += n;
    return n;
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
static size_t state_delta(struct hvt_colbuf *s, const struct hvt_vcpu_state *b, int base_simd,
                          const struct hvt_vcpu_state *t, uint64_t rip_adj)
{
    size_t n0 = s[FS_SLOT_GAP].n + s[FS_VALUE].n;
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
    return s[FS_SLOT_GAP].n + s[FS_VALUE].n - n0 + pu(&s[FS_COUNT], d.n);
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

/* A key no shape has (its kind byte is out of range). */
#define SHAPE_NONE UINT64_MAX

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
        struct hvt_shape_next *nx = realloc(s->next, nc * sizeof(*nx));
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
    s->next[s->n] = (struct hvt_shape_next){{SHAPE_NONE, 0}, 0, 0};
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

/* Nonzero when a field of A is out of range: kind, space, outcome, class and level at once in
 * the first 8 bytes (a byte at or above its limit, or above 127, sets its top bit in
 * x | (x + (128 - limit)); a byte below 128 cannot carry), the segment (0..HVT_SEG_IDTR or
 * HVT_SEG_NONE) and the size (1..HVT_DATA_MAX). */
static inline uint64_t access_bad(const struct hvt_access *a)
{
    _Static_assert(HVT_SEG_IDTR == 9 && HVT_SEG_NONE == 15 && HVT_DATA_MAX == 32, "field limits");
    uint64_t x8;
    memcpy(&x8, a, 8);
    unsigned seg = a->seg;
    return ((x8 | (x8 + RANGE_ADD)) & RANGE_TOP) | (((0x83ffu >> (seg & 15)) & 1) ^ 1) |
           (seg >> 4) | ((a->size - 1u) >> 5);
}

/* Room in every column for NE more events with NP passes and NA accesses in all (NA >= 1: the
 * access columns' write pointers are formed for every pass, so their buffers must exist). */
static int reserve_room(struct hvt_chunkenc *c, size_t ne, size_t np, size_t na)
{
    for (int f = F_EV_ID_DELTA; f <= F_PASS_ACCESSES; f++) {
        if (f == F_EV_INIT || f == F_PASS_END)
            continue; /* the States columns st[] hold them */
        size_t need = f <= F_EV_PASSES ? ne * (f == F_EV_INSN ? HVT_INSN_MAX : 10) : np * 10;
        if (cb_reserve(&c->col[f], need))
            return -1;
    }
    if (cb_reserve(&c->col[F_ACC_CMPXCHG], na * 2 * HVT_DATA_MAX))
        return -1;
    static const size_t per_acc[F2_N] = {5, 0, 5, 10, 10, HVT_DATA_MAX};
    for (int f = 0; f < F2_N; f++)
        if (per_acc[f] && cb_reserve(&c->col2[f], na * per_acc[f]))
            return -1;
    if (shapes_reserve(&c->shapes, na) || cb_reserve(&c->retire, np * 5))
        return -1;
    for (int k = 0; k < 2; k++) {
        size_t ns = k ? np : ne;
        if (cb_reserve(&c->st[k][FS_COUNT], ns * 5) ||
            cb_reserve(&c->st[k][FS_SLOT_GAP], ns * HVT_NSLOTS * 2) ||
            cb_reserve(&c->st[k][FS_VALUE], ns * HVT_NSLOTS * 10))
            return -1;
    }
    c->room_events = ne;
    c->room_passes = np;
    c->room_accesses = na;
    return 0;
}

/* one varint through a local write pointer, with the one-byte case inline */
#define WV(w, v)                                                                                   \
    do {                                                                                           \
        uint64_t v_ = (v);                                                                         \
        if (v_ < 0x80)                                                                             \
            *(w)++ = (uint8_t)v_;                                                                  \
        else                                                                                       \
            (w) = hvt_pb_varint((w), v_);                                                          \
    } while (0)

/* ---- the accesses of one pass ------------------------------------------------------------ */

/* The rules of predict.h (docs/FORMAT.md "Encoding 2"), run on the accesses of one pass with
 * the pass state in locals: the column stores are byte stores, which may alias anything as far
 * as the compiler knows, so every field of the access is loaded once, up front, and the pass
 * state never goes through memory the stores could reach. enc_pass_ref below is the same pass
 * on predict.h's functions themselves; format_test_chunkenc holds the two to the same bytes, and
 * the round-trip and golden tests hold the encoder to the decoder. */

/* 32 bytes: two SSE2 halves, or four words */
#ifdef __SSE2__
struct v32 {
    __m128i lo, hi;
};
static inline struct v32 v32_load(const uint8_t *p)
{
    struct v32 v = {_mm_loadu_si128((const __m128i *)p),
                    _mm_loadu_si128((const __m128i *)(p + 16))};
    return v;
}
static inline void v32_store(uint8_t *p, struct v32 v)
{
    _mm_storeu_si128((__m128i *)p, v.lo);
    _mm_storeu_si128((__m128i *)(p + 16), v.hi);
}
static inline struct v32 v32_and(struct v32 x, struct v32 m)
{
    struct v32 v = {_mm_and_si128(x.lo, m.lo), _mm_and_si128(x.hi, m.hi)};
    return v;
}
/* whether X and Y agree where M is set */
static inline int v32_same(struct v32 x, struct v32 y, struct v32 m)
{
    __m128i d = _mm_or_si128(_mm_and_si128(_mm_xor_si128(x.lo, y.lo), m.lo),
                             _mm_and_si128(_mm_xor_si128(x.hi, y.hi), m.hi));
    return _mm_movemask_epi8(_mm_cmpeq_epi8(d, _mm_setzero_si128())) == 0xffff;
}
static inline uint64_t v32_word0(struct v32 v)
{
    return (uint64_t)_mm_cvtsi128_si64(v.lo);
}
#else
struct v32 {
    uint64_t w[4];
};
static inline struct v32 v32_load(const uint8_t *p)
{
    struct v32 v;
    memcpy(v.w, p, sizeof(v.w));
    return v;
}
static inline void v32_store(uint8_t *p, struct v32 v)
{
    memcpy(p, v.w, sizeof(v.w));
}
static inline struct v32 v32_and(struct v32 x, struct v32 m)
{
    for (int i = 0; i < 4; i++)
        x.w[i] &= m.w[i];
    return x;
}
static inline int v32_same(struct v32 x, struct v32 y, struct v32 m)
{
    uint64_t d = 0;
    for (int i = 0; i < 4; i++)
        d |= (x.w[i] ^ y.w[i]) & m.w[i];
    return d == 0;
}
static inline uint64_t v32_word0(struct v32 v)
{
    return v.w[0];
}
#endif

#define B(h, i) ((unsigned)((h) >> (8 * (i))) & 0xffu) /* byte I of the access's first word */

struct pass_cols {
    uint8_t *shape, *element, *linear, *phys, *bytes, *cx;
};

static void enc_pass(struct hvt_chunkenc *c, struct pass_cols *w, struct hvt_pred_addr *ctxs,
                     const struct hvt_pass *q, const struct hvt_pass *refp, const uint8_t *insn,
                     unsigned insn_len, uint64_t rip_lin, uint64_t cr3,
                     const uint8_t (*keep)[HVT_DATA_MAX])
{
    /* no previous access: a class and kind no access has */
    static const struct hvt_access no_prev = {.kind = 0xff, .tag = {.cls = 0xff}};
    struct hvt_pred_line *lines = c->pred->line;
    struct hvt_shapes *sh = &c->shapes;
    const struct hvt_access *acc = q->accesses;
    const struct hvt_access *ref = refp ? refp->accesses : NULL;
    const uint32_t ref_n = refp ? refp->n_accesses : 0, n = q->n_accesses;
    uint8_t *w_shape = w->shape;
    uint64_t used = 0;
    int have_tr = 0;
    uint64_t fetch_next = rip_lin; /* the instruction, then on from the last fetch */
    uint64_t tr_lin = 0, tr_phys = 0, tr_mask = 0;
    uint64_t walk_phys[8] = {0};
    const struct hvt_access *prev = &no_prev;
    struct hvt_shape_next *pn = &sh->first;
    for (uint32_t i = 0; i < n; prev = &acc[i], i++) {
        const struct hvt_access *a = &acc[i];
        uint64_t h;
        memcpy(&h, a, 8);
        const uint32_t size = a->size;
        const uint64_t lin = a->linear, phys = a->phys;
        const unsigned cls = B(h, 4), lvl = B(h, 6);
        const int walk_or_ad = cls == HVT_TAG_WALK || cls == HVT_TAG_AD;
        const unsigned ci = cls * 8 + (walk_or_ad ? lvl & 7u : B(h, 5) < 7 ? B(h, 5) : 7u);
        struct hvt_pred_addr *ctx = &ctxs[ci];

        /* the reference: the previous pass's access I, of the same kind */
        const struct hvt_access *r = NULL;
        if (i < ref_n) {
            uint64_t rh;
            memcpy(&rh, &ref[i], 8);
            if (((rh ^ h) & 0x00ffffff0000ffffull) == 0 && ref[i].size == size)
                r = &ref[i];
        }
        uint32_t pel;
        uint64_t plinear, pphys;
        if (r) {
            pel = r->tag.element;
            plinear = r->linear;
        } else {
            pel = (used >> ci & 1) ? ctx->element + 1 : 0;
            if (walk_or_ad) /* the same translation */
                plinear = prev->tag.cls == HVT_TAG_WALK || prev->tag.cls == HVT_TAG_AD
                              ? prev->linear
                              : ctx->lin;
            else if (cls == HVT_TAG_FETCH)
                plinear = fetch_next;
            else if (prev->tag.cls == HVT_TAG_WALK) /* the walk was made for this access */
                plinear = prev->linear;
            else
                plinear = (a->flags & HVT_AF_LINEAR_VALID) ? ctx->lin + ctx->size : ctx->lin;
        }
        if (r && r->linear == lin) {
            pphys = r->phys;
        } else if (cls == HVT_TAG_WALK) {
            if (lvl - 1u > 4u || (size != 8 && size != 4)) {
                pphys = ctx->phys;
            } else {
                uint64_t table;
                if (prev->tag.cls == HVT_TAG_WALK && prev->tag.level == lvl + 1 &&
                    prev->size == size)
                    table = hvt_pred_frame(hvt_pred_entry(prev->data, size), size);
                else
                    table = hvt_pred_frame(cr3, size);
                unsigned bits = size == 8 ? 9 : 10;
                pphys = table + ((lin >> (12 + bits * (lvl - 1))) & ((1u << bits) - 1)) * size;
            }
        } else if (cls == HVT_TAG_AD) {
            pphys = walk_phys[lvl & 7u];
        } else if (a->flags & HVT_AF_LINEAR_VALID) {
            if (have_tr && !((lin ^ tr_lin) & ~tr_mask))
                pphys = tr_phys + (lin & tr_mask);
            else
                pphys = ctx->phys + (lin - ctx->lin);
        } else {
            pphys = ctx->phys;
        }
        struct hvt_pred_line *ln = &lines[hvt_pred_line_of(phys)];
        const unsigned kind = B(h, 0), outcome = B(h, 3);
        const uint8_t *pd;
        uint64_t off;
        if (outcome != HVT_OP_OKAY)
            pd = hvt_pred_zero;
        else if (kind == HVT_ACC_FETCH && (a->flags & HVT_AF_LINEAR_VALID) &&
                 (off = lin - rip_lin) < insn_len && size <= insn_len - off)
            pd = insn + off;
        else if (r && r->phys == phys && r->outcome == HVT_OP_OKAY &&
                 (kind == HVT_ACC_READ || kind == HVT_ACC_FETCH))
            pd = r->data;
        else if ((kind == HVT_ACC_WRITE || kind == HVT_ACC_IO_OUT) &&
                 (prev->kind == HVT_ACC_READ || prev->kind == HVT_ACC_IO_IN) &&
                 prev->tag.cls == cls && prev->size == size && prev->outcome == HVT_OP_OKAY)
            pd = prev->data;
        else if (ln->phys == phys && ln->size == size && ln->space == B(h, 1))
            pd = ln->data; /* (a line never written has size 0: no need to test valid) */
        else
            pd = NULL;

        const struct v32 m = v32_load(keep[size]);
        const struct v32 x = v32_and(v32_load(a->data), m);
        const uint32_t element = a->tag.element;
        unsigned bits = (element != pel ? HVT_SHAPE_ELEMENT : 0) |
                        (lin != plinear ? HVT_SHAPE_LINEAR : 0) |
                        (phys != pphys ? HVT_SHAPE_PHYS : 0) |
                        (!pd || !v32_same(v32_load(pd), x, m) ? HVT_SHAPE_DATA : 0);

        /* the shape: the one that followed the previous shape last time, else the hash set */
        /* its key: bytes kind, space, seg, outcome, class, operand, level | bits << 4, size
         * (the first seven are the access's own: one load), then flags and call site */
        struct hvt_shape_key k;
        k.k0 = (h & 0x00ffffffffffffffull) | (uint64_t)bits << 52 | (uint64_t)size << 56;
        k.k1 = (uint64_t)a->flags | (uint64_t)a->callsite << 32;
        uint32_t id = pn->id;
        if (pn->k.k0 != k.k0 || pn->k.k1 != k.k1) {
            int is_new = 0;
            id = shape_id(sh, k, &is_new);
            pn->k = k;
            pn->id = id;
            if (is_new) {
                c->shapes_bytes += shape_bytes(k);
                /* a failed insert only loses a definition (the reader then returns NULL) */
                if (a->callsite)
                    (void)cs_add(c, a->callsite);
            }
        }
        pn = &sh->next[id];
        WV(w_shape, id);
        if (bits) {
            if (bits & HVT_SHAPE_ELEMENT)
                WV(w->element, hvt_zigzag((int64_t)element - (int64_t)pel));
            if (bits & HVT_SHAPE_LINEAR)
                WV(w->linear, hvt_zigzag((int64_t)(lin - plinear)));
            if (bits & HVT_SHAPE_PHYS)
                WV(w->phys, hvt_zigzag((int64_t)(phys - pphys)));
            if (bits & HVT_SHAPE_DATA) {
                /* a constant-size store: the column has room for HVT_DATA_MAX bytes per
                 * access, and the bytes past size are overwritten by the next access or lie
                 * beyond the column's length */
                v32_store(w->bytes, x);
                w->bytes += size;
            }
        }
        if (kind == HVT_ACC_CMPXCHG) { /* the same way: room for 2 * HVT_DATA_MAX per access */
            v32_store(w->cx, v32_load(a->old));
            v32_store(w->cx + size, v32_load(a->cur));
            w->cx += 2 * size;
        }

        /* the predictor state moves on (hvt_pred_update) */
        ctx->lin = lin;
        ctx->phys = phys;
        ctx->size = size;
        ctx->element = element;
        used |= 1ull << ci;
        if (cls == HVT_TAG_FETCH) {
            fetch_next = lin + size;
        } else if (cls == HVT_TAG_WALK) {
            walk_phys[lvl & 7u] = phys;
            if (outcome == HVT_OP_OKAY && (size == 8 || size == 4) && lvl - 1u < 3u) {
                uint64_t e = v32_word0(x); /* masked: 4 bytes for size 4 */
                unsigned page = hvt_pred_leaf_bits(e, lvl, size);
                if (page) {
                    tr_mask = (1ull << page) - 1;
                    tr_lin = lin & ~tr_mask;
                    tr_phys = hvt_pred_frame(e, size) & ~tr_mask;
                    have_tr = 1;
                }
            }
        }
        if (outcome == HVT_OP_OKAY) {
            ln->phys = phys;
            ln->size = (uint8_t)size;
            ln->space = (uint8_t)B(h, 1);
            ln->valid = 1;
            v32_store(ln->data, x);
        }
    }
    w->shape = w_shape;
}

/* The same, written with predict.h's functions as they are: the reference the tests hold
 * enc_pass to (format_test_chunkenc encodes with both and compares the bytes). */
__attribute__((noinline, cold)) static void
enc_pass_ref(struct hvt_chunkenc *c, struct pass_cols *w, const struct hvt_event *ev, uint32_t p,
             int slot, const uint8_t (*keep)[HVT_DATA_MAX])
{
    struct hvt_pred *pr = c->pred;
    const struct hvt_pass *q = &ev->passes[p];
    struct hvt_pred_pass pp;
    hvt_pred_pass_begin(&pp, pr, slot, ev, p);
    struct hvt_shapes *sh = &c->shapes;
    struct hvt_shape_next *pn = &sh->first;
    for (uint32_t i = 0; i < q->n_accesses; i++) {
        const struct hvt_access *a = &q->accesses[i];
        unsigned ci = hvt_pred_ctx_of(a);
        struct hvt_pred_addr *ctx = &pp.ctx[ci];
        struct hvt_pred_line *ln = &pr->line[hvt_pred_line_of(a->phys)];
        const struct hvt_access *r = hvt_pred_ref(&pp, a, i);
        uint32_t pel = hvt_pred_element(&pp, ci, ctx, r);
        uint64_t plin = hvt_pred_linear(&pp, a, ctx, r);
        uint64_t pphys = hvt_pred_phys(&pp, a, ctx, r, a->linear);
        const uint8_t *pd = hvt_pred_data(&pp, a, i, ln, a->linear, a->phys);
        unsigned bits = (a->tag.element != pel ? HVT_SHAPE_ELEMENT : 0) |
                        (a->linear != plin ? HVT_SHAPE_LINEAR : 0) |
                        (a->phys != pphys ? HVT_SHAPE_PHYS : 0) |
                        (!pd || !hvt_pred_same(pd, a->data, keep[a->size]) ? HVT_SHAPE_DATA : 0);
        uint64_t h;
        memcpy(&h, a, 8);
        struct hvt_shape_key k = {(h & 0x00ffffffffffffffull) | (uint64_t)bits << 52 |
                                      (uint64_t)a->size << 56,
                                  (uint64_t)a->flags | (uint64_t)a->callsite << 32};
        int is_new = 0;
        uint32_t id = shape_id(sh, k, &is_new);
        pn->k = k; /* kept as enc_pass keeps it, should the other one follow */
        pn->id = id;
        pn = &sh->next[id];
        if (is_new) {
            c->shapes_bytes += shape_bytes(k);
            if (a->callsite)
                (void)cs_add(c, a->callsite);
        }
        WV(w->shape, id);
        if (bits & HVT_SHAPE_ELEMENT)
            WV(w->element, hvt_zigzag((int64_t)a->tag.element - (int64_t)pel));
        if (bits & HVT_SHAPE_LINEAR)
            WV(w->linear, hvt_zigzag((int64_t)(a->linear - plin)));
        if (bits & HVT_SHAPE_PHYS)
            WV(w->phys, hvt_zigzag((int64_t)(a->phys - pphys)));
        uint8_t x[HVT_DATA_MAX];
        for (unsigned b = 0; b < HVT_DATA_MAX; b++)
            x[b] = a->data[b] & keep[a->size][b];
        if (bits & HVT_SHAPE_DATA) {
            memcpy(w->bytes, x, a->size);
            w->bytes += a->size;
        }
        if (a->kind == HVT_ACC_CMPXCHG) {
            memcpy(w->cx, a->old, a->size);
            memcpy(w->cx + a->size, a->cur, a->size);
            w->cx += 2 * a->size;
        }
        hvt_pred_update(&pp, a, ci, ctx, ln, x);
    }
}

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
    /* room for the event in every column, reserved ahead for several events at a time */
    if (c->room_events < 1 || c->room_passes < np || c->room_accesses < na) {
        if (reserve_room(c, 16, np + 32, na + 1024) && reserve_room(c, 1, np, na ? na : 1))
            return -HVT_E_NOMEM;
    }
    c->room_events--;
    c->room_passes -= np;
    c->room_accesses -= na;

    /* every access checked before anything is written: the append is all or nothing. Each
     * pass's accesses are checked without a branch; a pass with a bad one is walked again to
     * name it */
    for (uint32_t p = 0; p < ev->n_passes; p++) {
        const struct hvt_access *acc = ev->passes[p].accesses;
        uint64_t bad = 0;
        for (uint32_t i = 0; i < ev->passes[p].n_accesses; i++)
            bad |= access_bad(&acc[i]);
        if (!bad)
            continue;
        for (uint32_t i = 0; i < ev->passes[p].n_accesses; i++) {
            const struct hvt_access *a = &acc[i];
            if (access_bad(a))
                return BAD("event %" PRIu64 " pass %u access %u: field out of range (kind %u "
                           "space %u seg %u outcome %u class %u level %u size %u)",
                           ev->id, p, i, a->kind, a->space, a->seg, a->outcome, a->tag.cls,
                           a->tag.level, a->size);
        }
    }

    struct hvt_colbuf *col = c->col;
    size_t add = 0; /* bytes added to the columns (c->bytes) */
    uint64_t prev_id = c->n_events ? c->prev_id : ev->id;
    add += pu(&col[F_EV_ID_DELTA], ev->id - prev_id);
    add += pu(&col[F_EV_VCPU], ev->vcpu);
    add += pu(&col[F_EV_FLAGS], ev->flags);
    add += ps(&col[F_EV_TIME_DELTA], (int64_t)(ev->time_ns - c->prev_time));
    add += pu(&col[F_EV_INSN_LEN], ev->insn_len);
    add += pbytes(&col[F_EV_INSN], ev->insn, ev->insn_len);

    /* init state: against this vCPU's last state in the chunk (the end of its previous
     * event's last pass) when the vCPU is one of the first HVT_MAX_VCPU_SLOTS seen in the
     * chunk, else against zero */
    int slot = -1;
    for (unsigned i = 0; i < c->n_vcpus; i++)
        if (c->vcpu_ids[i] == ev->vcpu) {
            slot = (int)i;
            break;
        }
    add += pu(&col[F_EV_INIT_BASE], slot >= 0);
    if (slot >= 0)
        add += state_delta(c->st[0], &c->vcpu_state[slot],
                    (c->vcpu_state[slot].flags & HVT_STATE_SIMD_VALID) != 0, &ev->init, 0);
    else
        add += state_delta(c->st[0], &zero_state, 1, &ev->init, 0);
    /* a new vCPU takes the next slot (nothing below can fail) */
    if (slot < 0 && c->n_vcpus < HVT_MAX_VCPU_SLOTS) {
        slot = (int)c->n_vcpus++;
        c->vcpu_ids[slot] = ev->vcpu;
    }
    add += pu(&col[F_EV_PASSES], ev->n_passes);

    /* the access columns through local write pointers: byte stores through a column's
     * pointer could alias every other column's length, which would force reloads */
    struct pass_cols w = {
        c->col2[F2_ACC_SHAPE - F2_FIRST].p + c->col2[F2_ACC_SHAPE - F2_FIRST].n,
        c->col2[F2_ACC_ELEMENT - F2_FIRST].p + c->col2[F2_ACC_ELEMENT - F2_FIRST].n,
        c->col2[F2_ACC_LINEAR - F2_FIRST].p + c->col2[F2_ACC_LINEAR - F2_FIRST].n,
        c->col2[F2_ACC_PHYS - F2_FIRST].p + c->col2[F2_ACC_PHYS - F2_FIRST].n,
        c->col2[F2_ACC_BYTES - F2_FIRST].p + c->col2[F2_ACC_BYTES - F2_FIRST].n,
        col[F_ACC_CMPXCHG].p + col[F_ACC_CMPXCHG].n,
    };
    const struct pass_cols w0 = w;
    const unsigned ctx_set = slot < 0 ? 0 : (unsigned)slot % HVT_PRED_VSLOTS;
    struct hvt_pred_addr *ctxs = c->pred->ctx[ctx_set];
    _Static_assert(HVT_PRED_VSLOTS <= 32, "ctx_sets holds a bit per context set");
    c->ctx_sets |= 1u << ctx_set;
    /* the instruction bytes, zero past them: HVT_DATA_MAX bytes readable at any offset below
     * insn_len */
    uint8_t insn[HVT_INSN_MAX + HVT_DATA_MAX + 1] = {0};
    memcpy(insn, ev->insn, HVT_INSN_MAX);
    for (unsigned i = ev->insn_len; i < HVT_INSN_MAX; i++)
        insn[i] = 0;
    const uint64_t rip_lin = ev->init.seg[HVT_SEG_CS].base + ev->init.rip;
    for (uint32_t p = 0; p < ev->n_passes; p++) {
        const struct hvt_pass *q = &ev->passes[p];
        add += pu(&col[F_PASS_INDEX], q->index);
        add += pu(&col[F_PASS_LOST], q->lost);
        add += pu(&col[F_PASS_KIND], q->out.kind);
        add += pu(&col[F_PASS_RETRY_CAUSE], q->out.retry_cause);
        add += pu(&col[F_PASS_VECTOR], q->out.vector);
        add += pu(&col[F_PASS_FLAGS], q->out.flags);
        add += pu(&col[F_PASS_ERROR_CODE], q->out.error_code);
        add += pu(&col[F_PASS_CR2], q->out.cr2);
        add += pu(&col[F_PASS_ITERATIONS], q->out.iterations);
        pu(&c->retire, q->out.retire);
        c->retire_any |= q->out.retire;
        /* a pass that completed is expected to have moved RIP past the instruction */
        add += state_delta(c->st[1], &ev->init, (ev->init.flags & HVT_STATE_SIMD_VALID) != 0, &q->end,
                    q->out.kind == HVT_OUT_OKAY ? ev->insn_len : 0);
        add += pu(&col[F_PASS_ACCESSES], q->n_accesses);
        if (c->ref_rules)
            enc_pass_ref(c, &w, ev, p, slot, keep_mask);
        else
            enc_pass(c, &w, ctxs, q, p ? &ev->passes[p - 1] : NULL, insn, ev->insn_len, rip_lin,
                     ev->init.cr3, keep_mask);
    }

    c->col2[F2_ACC_SHAPE - F2_FIRST].n = (size_t)(w.shape - c->col2[F2_ACC_SHAPE - F2_FIRST].p);
    c->col2[F2_ACC_ELEMENT - F2_FIRST].n =
        (size_t)(w.element - c->col2[F2_ACC_ELEMENT - F2_FIRST].p);
    c->col2[F2_ACC_LINEAR - F2_FIRST].n = (size_t)(w.linear - c->col2[F2_ACC_LINEAR - F2_FIRST].p);
    c->col2[F2_ACC_PHYS - F2_FIRST].n = (size_t)(w.phys - c->col2[F2_ACC_PHYS - F2_FIRST].p);
    c->col2[F2_ACC_BYTES - F2_FIRST].n = (size_t)(w.bytes - c->col2[F2_ACC_BYTES - F2_FIRST].p);
    col[F_ACC_CMPXCHG].n = (size_t)(w.cx - col[F_ACC_CMPXCHG].p);
    add += (size_t)((w.shape - w0.shape) + (w.element - w0.element) + (w.linear - w0.linear) +
                    (w.phys - w0.phys) + (w.bytes - w0.bytes) + (w.cx - w0.cx));
    c->bytes += add;

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
    size_t add = pu(&c->col[F_LOST_AT], c->n_records);
    add += pu(&c->col[F_LOST_VCPU], l->vcpu);
    add += pu(&c->col[F_LOST_COUNT], l->count);
    add += pu(&c->col[F_LOST_EVENT_ID], l->event_id);
    add += pu(&c->col[F_LOST_PASS], l->pass);
    add += pu(&c->col[F_LOST_ACCESS], l->access);
    c->bytes += add;
    c->n_records++;
    return 0;
}

size_t hvt_chunkenc_size(const struct hvt_chunkenc *c)
{
    return c->bytes + c->shapes_bytes + (c->retire_any ? c->retire.n : 0);
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
    c->bytes = 0;
    c->n_events = c->n_records = 0;
    c->n_passes = c->n_accesses = 0;
    c->first_id = c->prev_id = c->prev_time = 0;
    c->n_vcpus = 0;
    for (int f = 0; f < F2_N; f++)
        c->col2[f].n = 0;
    c->shapes.first = (struct hvt_shape_next){{SHAPE_NONE, 0}, 0, 0};
    c->shapes_bytes = 0;
    /* the hash sets emptied entry by entry (each found along its probe sequence, which goes on
     * past the entries already cleared), not cleared whole: a chunk uses a few dozen shapes and
     * call sites */
    if (c->shapes.set) {
        size_t mask = c->shapes.cap_set - 1;
        for (size_t i = c->shapes.n; i-- > 0;) {
            size_t j = shape_hash(c->shapes.list[i], mask);
            while (c->shapes.set[j] != i + 1)
                j = (j + 1) & mask;
            c->shapes.set[j] = 0;
        }
    }
    c->shapes.n = 0;
    if (c->cs_set) {
        size_t mask = c->cs_set_cap - 1;
        for (size_t i = 0; i < c->cs_n; i++) {
            size_t j = (c->cs_list[i] * 2654435761u) & mask;
            while (c->cs_set[j] != c->cs_list[i])
                j = (j + 1) & mask;
            c->cs_set[j] = 0;
        }
    }
    if (c->pred) {
        /* the contexts of the vCPU slots the chunk used; every line made invalid with size 0
         * (a line of size 0 matches no access: sizes are 1..HVT_DATA_MAX), its other fields
         * left as they are (they are read only once the line has been written again) */
        for (uint32_t m = c->ctx_sets; m; m &= m - 1)
            memset(c->pred->ctx[__builtin_ctz(m)], 0, sizeof(c->pred->ctx[0]));
        for (unsigned i = 0; i < HVT_PRED_LINES; i++) {
            c->pred->line[i].size = 0;
            c->pred->line[i].valid = 0;
        }
    }
    c->ctx_sets = 0;
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
