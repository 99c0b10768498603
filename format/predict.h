/* SPDX-License-Identifier: MIT */
/* hvtrace format: the access predictions of chunk encoding 2 (docs/FORMAT.md, "Encoding 2:
 * access shapes and predictions").
 *
 * Each access's linear address, physical address and data are predicted from what came before
 * it in the chunk: the previous access of the pass, the page walk just made, the last access of
 * the same kind on the same vCPU, the last value seen at the same physical address, the
 * instruction bytes. A value equal to its prediction takes no bytes in the payload; the access's
 * shape says which values are written out. The decoder makes the same predictions on the same
 * accesses in the same order (on what it has decoded so far), so every prediction the encoder
 * made is made again by the decoder. This code is the reference: the encoder (format/chunkenc.c)
 * and the decoder (format/decode.c, the rule for each value chosen once per shape) each run the
 * rules in a form of their own, held to these functions by format_test_chunkenc (payloads byte
 * for byte) and format_test_enc2 (identical records and errors), which run both forms. */
#ifndef HVT_FMT_PREDICT_H
#define HVT_FMT_PREDICT_H

#include <stdint.h>
#include <string.h>

#include "hvtrace/types.h"

/* Address contexts: per vCPU slot (slot mod HVT_PRED_VSLOTS; vCPUs beyond the chunk's first
 * HVT_MAX_VCPU_SLOTS share slot 0) and per tag class x (walk/A-D level, or operand). */
#define HVT_PRED_VSLOTS 16
#define HVT_PRED_NCTX 64
/* Last values by physical address: a direct-mapped table. */
#define HVT_PRED_LINES 1024

/* Shape bits: which values the payload carries for an access. */
#define HVT_SHAPE_ELEMENT 1u /* tag.element != its prediction: column acc_element */
#define HVT_SHAPE_LINEAR 2u  /* linear != its prediction: column acc_linear */
#define HVT_SHAPE_PHYS 4u    /* phys != its prediction: column acc_phys */
#define HVT_SHAPE_DATA 8u    /* data != its prediction (or none): column acc_bytes */
#define HVT_SHAPE_BITS 15u

struct hvt_pred_addr {
    uint64_t lin, phys;
    uint32_t size, element;
};

struct hvt_pred_line {
    uint64_t phys;
    uint8_t size, space, valid, pad[5];
    uint8_t data[HVT_DATA_MAX]; /* zero past size */
};

/* The chunk's predictor state, reset at each chunk. */
struct hvt_pred {
    struct hvt_pred_addr ctx[HVT_PRED_VSLOTS][HVT_PRED_NCTX];
    struct hvt_pred_line line[HVT_PRED_LINES];
};

/* The pass's predictor state, reset at each pass. */
struct hvt_pred_pass {
    struct hvt_pred_addr *ctx;     /* this vCPU's contexts */
    const struct hvt_access *prev; /* the previous access of the pass, or NULL */
    const struct hvt_access *ref;  /* the event's previous pass: a re-execution repeats it */
    uint32_t ref_n;
    uint64_t used; /* contexts used in this pass (bit = context index) */
    unsigned insn_len;
    /* the event's instruction bytes, zero after insn_len: HVT_DATA_MAX bytes can be read at
     * any offset below insn_len */
    uint8_t insn[HVT_INSN_MAX + HVT_DATA_MAX];
    int have_fetch, have_tr;
    uint64_t rip_lin; /* CS.base + RIP of the event's initial state */
    uint64_t cr3;
    uint64_t fetch_next;               /* linear address after the pass's last fetch */
    uint64_t tr_lin, tr_phys, tr_mask; /* the last leaf translation the pass walked */
    uint64_t walk_phys[8];             /* by level: the last entry the pass walked */
};

static const uint8_t hvt_pred_zero[HVT_DATA_MAX];

static inline void hvt_pred_reset(struct hvt_pred *p)
{
    memset(p, 0, sizeof(*p));
}

/* Pass PASS of EV (whose earlier passes are final) begins; VSLOT: the vCPU's slot or -1. */
static inline void hvt_pred_pass_begin(struct hvt_pred_pass *pp, struct hvt_pred *p, int vslot,
                                       const struct hvt_event *ev, uint32_t pass)
{
    pp->ctx = p->ctx[vslot < 0 ? 0 : (unsigned)vslot % HVT_PRED_VSLOTS];
    pp->prev = NULL;
    pp->ref = pass ? ev->passes[pass - 1].accesses : NULL;
    pp->ref_n = pass ? ev->passes[pass - 1].n_accesses : 0;
    pp->used = 0;
    unsigned n = ev->insn_len <= HVT_INSN_MAX ? ev->insn_len : HVT_INSN_MAX;
    pp->insn_len = n;
    /* fixed-size copies (no library call); the bytes past insn_len cleared */
    memset(pp->insn, 0, sizeof(pp->insn));
    memcpy(pp->insn, ev->insn, HVT_INSN_MAX);
    for (unsigned i = n; i < HVT_INSN_MAX; i++)
        pp->insn[i] = 0;
    pp->have_fetch = pp->have_tr = 0;
    pp->rip_lin = ev->init.seg[HVT_SEG_CS].base + ev->init.rip;
    pp->cr3 = ev->init.cr3;
    memset(pp->walk_phys, 0, sizeof(pp->walk_phys));
}

/* The context of an access of class CLS (< HVT_TAG__COUNT), level and operand. */
static inline unsigned hvt_pred_ctx_of(const struct hvt_access *a)
{
    unsigned cls = a->tag.cls;
    unsigned sub = cls == HVT_TAG_WALK || cls == HVT_TAG_AD ? a->tag.level & 7u
                   : a->tag.operand < 7                     ? a->tag.operand
                                                            : 7u;
    return cls * 8 + sub;
}

/* The access of the previous pass at index I when it is of A's kind (class, level, operand,
 * kind, size): a re-execution makes the same accesses. NULL otherwise. */
static inline const struct hvt_access *hvt_pred_ref(const struct hvt_pred_pass *pp,
                                                    const struct hvt_access *a, uint32_t i)
{
    if (i >= pp->ref_n)
        return NULL;
    const struct hvt_access *r = &pp->ref[i];
    uint64_t x, y;
    memcpy(&x, r, 8); /* compared: kind, space, class, operand, level */
    memcpy(&y, a, 8);
    return ((x ^ y) & 0x00ffffff0000ffffull) == 0 && r->size == a->size ? r : NULL;
}

/* The element index of an access (CI, C: its context's index and context, R: its reference or
 * NULL): the reference's, else the next after the context's last in this pass, else 0. */
static inline uint32_t hvt_pred_element(const struct hvt_pred_pass *pp, unsigned ci,
                                        const struct hvt_pred_addr *c, const struct hvt_access *r)
{
    if (r)
        return r->tag.element;
    return (pp->used >> ci & 1) ? c->element + 1 : 0;
}

static inline int hvt_pred_is_walk(const struct hvt_access *a)
{
    return a && (a->tag.cls == HVT_TAG_WALK || a->tag.cls == HVT_TAG_AD);
}

/* The linear address of A (its shape known: class, level, operand, flags), C its context
 * (&pp->ctx[hvt_pred_ctx_of(a)]). */
static inline uint64_t hvt_pred_linear(const struct hvt_pred_pass *pp, const struct hvt_access *a,
                                       const struct hvt_pred_addr *c, const struct hvt_access *r)
{
    if (r) /* the previous pass's access at this index */
        return r->linear;
    if (a->tag.cls == HVT_TAG_WALK || a->tag.cls == HVT_TAG_AD) /* the same translation */
        return hvt_pred_is_walk(pp->prev) ? pp->prev->linear : c->lin;
    if (a->tag.cls == HVT_TAG_FETCH) /* the instruction, then on from the last fetch */
        return pp->have_fetch ? pp->fetch_next : pp->rip_lin;
    if (pp->prev && pp->prev->tag.cls == HVT_TAG_WALK) /* the walk was made for this access */
        return pp->prev->linear;
    /* on from the last access of its kind (a string instruction's next element) */
    return (a->flags & HVT_AF_LINEAR_VALID) ? c->lin + c->size : c->lin;
}

/* A paging-structure entry of SIZE 4 or 8 at P. */
static inline uint64_t hvt_pred_entry(const uint8_t *p, unsigned size)
{
    uint64_t e;
    memcpy(&e, p, 8); /* every data array has HVT_DATA_MAX bytes */
    return size == 8 ? e : (uint32_t)e;
}

static inline uint64_t hvt_pred_frame(uint64_t entry, unsigned size)
{
    return size == 8 ? entry & 0x000ffffffffff000ull : entry & 0xfffff000ull;
}

/* The page a walk entry E of SIZE 4 or 8 at level LVL (1-3) maps, as its size in bits (12: a
 * 4 KiB page; 21, 22 or 30: a large page, PS at level 2 or 3), or 0 when it maps none (not
 * present, or a pointer to the next table). The one statement of the leaf rule for the
 * reference, the encoder and the decoder. */
static inline unsigned hvt_pred_leaf_bits(uint64_t e, unsigned lvl, unsigned size)
{
    if (!(e & 1) || (lvl != 1 && !(e & 0x80)))
        return 0;
    return lvl == 1 ? 12 : size == 4 ? 22 : lvl == 2 ? 21 : 30;
}

/* The physical address of A, whose linear address is LIN (C: its context). */
static inline uint64_t hvt_pred_phys(const struct hvt_pred_pass *pp, const struct hvt_access *a,
                                     const struct hvt_pred_addr *c, const struct hvt_access *r,
                                     uint64_t lin)
{
    if (r && r->linear == lin) /* the same address as in the previous pass */
        return r->phys;
    unsigned lvl = a->tag.level, s = a->size;
    if (a->tag.cls == HVT_TAG_WALK) {
        if (lvl < 1 || lvl > 5 || (s != 8 && s != 4))
            return c->phys;
        /* the table the entry above points to (or CR3's), indexed by the linear address */
        const struct hvt_access *q = pp->prev;
        uint64_t table;
        if (q && q->tag.cls == HVT_TAG_WALK && q->tag.level == lvl + 1 && q->size == s) {
            table = hvt_pred_frame(hvt_pred_entry(q->data, s), s);
        } else {
            table = hvt_pred_frame(pp->cr3, s);
        }
        unsigned bits = s == 8 ? 9 : 10;
        return table + ((lin >> (12 + bits * (lvl - 1))) & ((1u << bits) - 1)) * s;
    }
    if (a->tag.cls == HVT_TAG_AD) /* the entry the walk read */
        return pp->walk_phys[lvl & 7u];
    if (a->flags & HVT_AF_LINEAR_VALID) {
        if (pp->have_tr && !((lin ^ pp->tr_lin) & ~pp->tr_mask))
            return pp->tr_phys + (lin & pp->tr_mask);
        return c->phys + (lin - c->lin); /* the same page as the last access of its kind */
    }
    return c->phys;
}

static inline unsigned hvt_pred_line_of(uint64_t phys)
{
    return (unsigned)(((phys >> 3) ^ (phys >> 13)) & (HVT_PRED_LINES - 1));
}

/* The data of A, the pass's access IDX, at LIN/PHYS (L: &p->line[hvt_pred_line_of(phys)]):
 * A's size bytes at the returned pointer (which has HVT_DATA_MAX readable bytes); NULL when
 * nothing predicts it. */
static inline const uint8_t *hvt_pred_data(const struct hvt_pred_pass *pp,
                                           const struct hvt_access *a, uint32_t idx,
                                           const struct hvt_pred_line *l, uint64_t lin,
                                           uint64_t phys)
{
    if (a->outcome != HVT_OP_OKAY) /* no value was transferred */
        return hvt_pred_zero;
    if (a->kind == HVT_ACC_FETCH && (a->flags & HVT_AF_LINEAR_VALID)) {
        uint64_t off = lin - pp->rip_lin;
        if (off < pp->insn_len && a->size <= pp->insn_len - off)
            return pp->insn + off;
    }
    const struct hvt_access *r = hvt_pred_ref(pp, a, idx);
    if (r && r->phys == phys && r->outcome == HVT_OP_OKAY &&
        (a->kind == HVT_ACC_READ || a->kind == HVT_ACC_FETCH))
        return r->data; /* read again in the re-execution */
    const struct hvt_access *q = pp->prev;
    if ((a->kind == HVT_ACC_WRITE || a->kind == HVT_ACC_IO_OUT) && q &&
        (q->kind == HVT_ACC_READ || q->kind == HVT_ACC_IO_IN) && q->tag.cls == a->tag.cls &&
        q->size == a->size && q->outcome == HVT_OP_OKAY) /* a copy: what was just read */
        return q->data;
    if (l->valid && l->phys == phys && l->size == a->size && l->space == a->space)
        return l->data; /* the last value at this address */
    return NULL;
}

/* Whether the first SIZE bytes at P and Q (each HVT_DATA_MAX bytes readable) are equal. */
static inline int hvt_pred_same(const uint8_t *p, const uint8_t *q, const uint8_t *keep)
{
    uint64_t x[HVT_DATA_MAX / 8], y[HVT_DATA_MAX / 8], m[HVT_DATA_MAX / 8], d = 0;
    memcpy(x, p, sizeof(x));
    memcpy(y, q, sizeof(y));
    memcpy(m, keep, sizeof(m));
    for (unsigned i = 0; i < HVT_DATA_MAX / 8; i++)
        d |= (x[i] ^ y[i]) & m[i];
    return d == 0;
}

/* After A (its values final; DATA is A's data with the bytes past its size zero; CI, C and L
 * its context's index, its context and its line). */
static inline void hvt_pred_update(struct hvt_pred_pass *pp, const struct hvt_access *a,
                                   unsigned ci, struct hvt_pred_addr *c, struct hvt_pred_line *l,
                                   const uint8_t *data)
{
    c->lin = a->linear;
    c->phys = a->phys;
    c->size = a->size;
    c->element = a->tag.element;
    pp->used |= 1ull << ci;
    if (a->tag.cls == HVT_TAG_FETCH) {
        pp->have_fetch = 1;
        pp->fetch_next = a->linear + a->size;
    } else if (a->tag.cls == HVT_TAG_WALK) {
        unsigned lvl = a->tag.level, s = a->size;
        pp->walk_phys[lvl & 7u] = a->phys;
        if (a->outcome == HVT_OP_OKAY && (s == 8 || s == 4) && lvl >= 1 && lvl <= 3) {
            uint64_t e = hvt_pred_entry(data, s);
            unsigned page = hvt_pred_leaf_bits(e, lvl, s);
            if (page) {
                pp->tr_mask = (1ull << page) - 1;
                pp->tr_lin = a->linear & ~pp->tr_mask;
                pp->tr_phys = hvt_pred_frame(e, s) & ~pp->tr_mask;
                pp->have_tr = 1;
            }
        }
    }
    if (a->outcome == HVT_OP_OKAY) {
        l->phys = a->phys;
        l->size = (uint8_t)a->size;
        l->space = a->space;
        l->valid = 1;
        memcpy(l->data, data, HVT_DATA_MAX);
    }
    pp->prev = a;
}

#endif
