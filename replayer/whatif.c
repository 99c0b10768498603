/* SPDX-License-Identifier: MIT */
/* Replayer what-if: later passes simulated with an access-once buffer filled by the first. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define WI_MAX_PASSES 16
#define WI_MAX_BUF 4096

/* One buffered read of the first pass: served again to later passes with the same tag and
 * address, as the host's access-once buffer does. */
struct wi_ent {
    struct hvt_tag tag;
    uint64_t phys;
    uint32_t size;
    uint8_t space;
    uint8_t data[HVT_DATA_MAX];
};

struct wi_ctx {
    const struct hvt_event *ev;
    unsigned cache;
    uint32_t pass; /* simulated pass index (>= 1) */
    struct rpl_avec *out;
    struct wi_ent *buf;
    size_t n_buf;
    int unknown; /* an access the trace holds no answer for */
    struct hvt_access unknown_acc;
    int approx; /* a device answer the trace never recorded was made up */
    int str;    /* string instruction: elements count from 0 in every pass */
    int nomem;
};

static int same_tag(const struct hvt_tag *a, const struct hvt_tag *b)
{
    return a->cls == b->cls && a->operand == b->operand && a->level == b->level &&
           a->element == b->element;
}

/* As same_tag, except that a string instruction's iterations are numbered from 0 in each pass,
 * so the element says nothing across passes there. */
static int same_role(const struct wi_ctx *c, const struct hvt_tag *a, const struct hvt_tag *b)
{
    return a->cls == b->cls && a->operand == b->operand && a->level == b->level &&
           (c->str || a->element == b->element);
}

static int covered(unsigned cache, const struct hvt_access *a)
{
    if (a->kind != HVT_ACC_READ && a->kind != HVT_ACC_FETCH)
        return 0;
    if (cache == HVT_RPL_CACHE_WALK)
        return a->tag.cls == HVT_TAG_WALK;
    return cache == HVT_RPL_CACHE_FULL && a->space == HVT_SPACE_RAM;
}

static struct wi_ent *buf_find(struct wi_ctx *c, const struct hvt_access *a, int by_tag)
{
    for (size_t i = 0; i < c->n_buf; i++) {
        struct wi_ent *b = &c->buf[i];
        if (b->phys == a->phys && b->size == a->size && (!by_tag || same_role(c, &b->tag, &a->tag)))
            return b;
    }
    return NULL;
}

/* Writes of the event update the buffered bytes (same address and size). */
static void buf_write(struct wi_ctx *c, uint64_t phys, uint32_t size, const uint8_t *data)
{
    for (size_t i = 0; i < c->n_buf; i++)
        if (c->buf[i].phys == phys && c->buf[i].size == size)
            memcpy(c->buf[i].data, data, size);
}

static int same_access(const struct wi_ctx *c, const struct hvt_access *r,
                       const struct hvt_access *a, int tag)
{
    return r->kind == a->kind && r->phys == a->phys && r->size == a->size &&
           (!tag || same_role(c, &r->tag, &a->tag));
}

/* The recorded answer for A in simulated pass C->pass: the same pass's recording first, then
 * the other passes (latest first, completed answers preferred), then without the tag. */
static const struct hvt_access *lookup(struct wi_ctx *c, const struct hvt_access *a)
{
    const struct hvt_event *ev = c->ev;
    const struct hvt_access *retry = NULL;
    if (c->pass < ev->n_passes) {
        const struct hvt_pass *p = &ev->passes[c->pass];
        for (uint32_t i = 0; i < p->n_accesses; i++)
            if (same_access(c, &p->accesses[i], a, 1))
                return &p->accesses[i];
    }
    /* memory as the recording saw it closest in time to this pass: passes j, j+1, j-1, ... */
    for (int tag = 1; tag >= 0; tag--) {
        for (uint32_t d = 0; d < 2 * ev->n_passes + 2; d++) {
            int64_t k = (int64_t)c->pass + ((d & 1) ? (int64_t)(d / 2 + 1) : -(int64_t)(d / 2));
            const struct hvt_pass *p;
            if (k < 0 || k >= (int64_t)ev->n_passes)
                continue;
            p = &ev->passes[k];
            for (uint32_t i = 0; i < p->n_accesses; i++) {
                const struct hvt_access *r = &p->accesses[i];
                if (!same_access(c, r, a, tag))
                    continue;
                if (r->outcome == HVT_OP_OKAY)
                    return r;
                if (!retry)
                    retry = r;
            }
        }
    }
    /* an answer only ever requested, never completed, at this address (the recording went
     * elsewhere): the device's answer to this operand in this pass stands in for it */
    if (c->pass < ev->n_passes && (a->kind == HVT_ACC_READ || a->kind == HVT_ACC_IO_IN)) {
        const struct hvt_pass *p = &ev->passes[c->pass];
        for (uint32_t i = 0; i < p->n_accesses; i++) {
            const struct hvt_access *r = &p->accesses[i];
            if (r->kind == a->kind && same_tag(&r->tag, &a->tag) && r->size == a->size &&
                r->outcome == HVT_OP_OKAY)
                return r;
        }
    }
    return retry;
}

static int emit(struct wi_ctx *c, struct hvt_access *a, int outcome)
{
    a->outcome = (uint8_t)outcome;
    if (hvt_rpl_avec_push(c->out, a) < 0)
        c->nomem = 1;
    return outcome;
}

static void mk(struct hvt_access *a, uint8_t kind, uint64_t gpa, uint32_t size,
               const struct hvt_op_info *info)
{
    memset(a, 0, sizeof(*a));
    a->kind = kind;
    a->space = info->space;
    a->seg = info->seg;
    a->tag = info->tag;
    a->size = size;
    a->flags = info->flags & (HVT_AF_LINEAR_VALID | HVT_AF_LOCKED | HVT_AF_SPLIT);
    a->linear = (info->flags & HVT_OPF_LINEAR_VALID) ? info->linear : 0;
    a->phys = gpa;
}

static int wi_in(struct wi_ctx *c, struct hvt_access *a, void *buf, struct hvt_op_info *info)
{
    const struct hvt_access *r;
    struct wi_ent *b;
    if (a->size == 0 || a->size > HVT_DATA_MAX)
        return emit(c, a, HVT_OP_UNHANDLEABLE);
    if (c->unknown)
        return HVT_OP_UNHANDLEABLE;
    b = covered(c->cache, a) || a->tag.cls == HVT_TAG_WALK ? buf_find(c, a, 1) : NULL;
    if (b && (c->cache == HVT_RPL_CACHE_FULL || a->tag.cls == HVT_TAG_WALK) &&
        c->cache != HVT_RPL_CACHE_NONE) {
        memcpy(buf, b->data, a->size);
        memcpy(a->data, b->data, a->size);
        a->space = info->space = b->space;
        return emit(c, a, HVT_OP_OKAY);
    }
    r = lookup(c, a);
    if (!r) {
        c->unknown = 1;
        c->unknown_acc = *a;
        return HVT_OP_UNHANDLEABLE;
    }
    a->space = info->space = r->space;
    if (r->outcome == HVT_OP_RETRY && r->space != HVT_SPACE_RAM &&
        !(c->pass < c->ev->n_passes && r >= c->ev->passes[c->pass].accesses &&
          r < c->ev->passes[c->pass].accesses + c->ev->passes[c->pass].n_accesses)) {
        /* the request an earlier pass left pending is complete by now, but the recording never
         * saw the device's answer (its own pass went elsewhere): zeros stand in for it */
        memset(buf, 0, a->size);
        c->approx = 1;
        return emit(c, a, HVT_OP_OKAY);
    }
    if (r->outcome == HVT_OP_OKAY) {
        memcpy(buf, r->data, a->size);
        memcpy(a->data, r->data, a->size);
        /* access-once: what one pass read, the later ones get again */
        a->space = r->space;
        if (covered(c->cache, a) && !buf_find(c, a, 1) && c->n_buf < WI_MAX_BUF) {
            struct wi_ent *nb = &c->buf[c->n_buf++];
            nb->tag = a->tag;
            nb->phys = a->phys;
            nb->size = a->size;
            nb->space = a->space;
            memcpy(nb->data, a->data, a->size);
        }
    }
    return emit(c, a, r->outcome);
}

static int wi_out(struct wi_ctx *c, struct hvt_access *a, struct hvt_op_info *info)
{
    const struct hvt_access *r;
    if (a->size == 0 || a->size > HVT_DATA_MAX)
        return emit(c, a, HVT_OP_UNHANDLEABLE);
    if (c->unknown)
        return HVT_OP_UNHANDLEABLE;
    r = lookup(c, a);
    if (!r) {
        c->unknown = 1;
        c->unknown_acc = *a;
        return HVT_OP_UNHANDLEABLE;
    }
    a->space = info->space = r->space;
    buf_write(c, a->phys, a->size, a->data);
    /* a request another pass left pending has been completed by the device by now */
    if (r->outcome == HVT_OP_RETRY &&
        !(c->pass < c->ev->n_passes && r >= c->ev->passes[c->pass].accesses &&
          r < c->ev->passes[c->pass].accesses + c->ev->passes[c->pass].n_accesses))
        return emit(c, a, HVT_OP_OKAY);
    return emit(c, a, r->outcome == HVT_OP_CMPXCHG_FAILED ? HVT_OP_OKAY : r->outcome);
}

static int w_read(void *ctx, uint64_t gpa, void *buf, uint32_t size, struct hvt_op_info *info)
{
    struct hvt_access a;
    mk(&a, info->kind == HVT_ACC_FETCH ? HVT_ACC_FETCH : HVT_ACC_READ, gpa, size, info);
    return wi_in(ctx, &a, buf, info);
}

static int w_io_in(void *ctx, uint16_t port, void *buf, uint32_t size, struct hvt_op_info *info)
{
    struct hvt_access a;
    mk(&a, HVT_ACC_IO_IN, port, size, info);
    return wi_in(ctx, &a, buf, info);
}

static int w_write(void *ctx, uint64_t gpa, const void *buf, uint32_t size,
                   struct hvt_op_info *info)
{
    struct hvt_access a;
    mk(&a, HVT_ACC_WRITE, gpa, size, info);
    if (size <= HVT_DATA_MAX)
        memcpy(a.data, buf, size);
    return wi_out(ctx, &a, info);
}

static int w_io_out(void *ctx, uint16_t port, const void *buf, uint32_t size,
                    struct hvt_op_info *info)
{
    struct hvt_access a;
    mk(&a, HVT_ACC_IO_OUT, port, size, info);
    if (size <= HVT_DATA_MAX)
        memcpy(a.data, buf, size);
    return wi_out(ctx, &a, info);
}

static int w_cmpxchg(void *ctx, uint64_t gpa, void *old, const void *new_, uint32_t size,
                     struct hvt_op_info *info)
{
    struct hvt_access a;
    mk(&a, HVT_ACC_CMPXCHG, gpa, size, info);
    if (size <= HVT_DATA_MAX) {
        memcpy(a.data, new_, size);
        memcpy(a.old, old, size);
        memcpy(a.cur, old, size);
    }
    return wi_out(ctx, &a, info);
}

static const struct hvt_core_ops wi_ops = {
    sizeof(struct hvt_core_ops), w_read, w_write, w_cmpxchg, w_io_in, w_io_out,
};

/* The first pass's reads (the buffer), with its own later writes applied. */
static int fill(struct wi_ctx *c, const struct hvt_pass *p0)
{
    for (uint32_t i = 0; i < p0->n_accesses; i++) {
        const struct hvt_access *a = &p0->accesses[i];
        if ((a->kind == HVT_ACC_WRITE || a->kind == HVT_ACC_CMPXCHG) && a->outcome == HVT_OP_OKAY) {
            buf_write(c, a->phys, a->size, a->data);
            continue;
        }
        if (!covered(c->cache, a) || a->outcome != HVT_OP_OKAY || a->size > HVT_DATA_MAX ||
            buf_find(c, a, 1) || c->n_buf >= WI_MAX_BUF)
            continue;
        c->buf[c->n_buf].tag = a->tag;
        c->buf[c->n_buf].phys = a->phys;
        c->buf[c->n_buf].size = a->size;
        c->buf[c->n_buf].space = a->space;
        memcpy(c->buf[c->n_buf].data, a->data, a->size);
        c->n_buf++;
    }
    return 0;
}

static int ensure(struct hvt_rpl_engine *e)
{
    if (e->sim)
        return 0;
    e->sim = calloc(WI_MAX_PASSES, sizeof(*e->sim));
    e->simacc = calloc(WI_MAX_PASSES, sizeof(*e->simacc));
    if (!e->sim || !e->simacc)
        return -HVT_E_NOMEM;
    e->sim_cap = WI_MAX_PASSES;
    return 0;
}

int hvt_rpl_whatif(struct hvt_rpl_engine *e, const struct hvt_event *ev,
               struct hvt_rpl_event_report *rep)
{
    struct wi_ctx c;
    struct rpl_fvec fv = {0};
    uint32_t n = 1;
    int rc = ensure(e), div = 0, stopped = 0;

    if (rc < 0)
        return rc;
    memset(&c, 0, sizeof(c));
    c.ev = ev;
    c.cache = e->cache;
    c.str = hvt_rpl_is_string_insn(ev);
    c.buf = malloc(WI_MAX_BUF * sizeof(*c.buf));
    if (!c.buf)
        return -HVT_E_NOMEM;
    fill(&c, &ev->passes[0]);
    e->sim[0] = ev->passes[0];
    for (uint32_t j = 1; j < WI_MAX_PASSES; j++) {
        struct hvt_pass *p = &e->sim[j];
        struct hvt_core_result res;
        c.pass = j;
        c.out = &e->simacc[j];
        c.out->n = 0;
        memset(p, 0, sizeof(*p));
        p->index = j;
        p->end = e->sim[j - 1].end;
        memset(&res, 0, sizeof(res));
        rc = hvt_core_emulate(e->core, &p->end, &wi_ops, &c, &res);
        if (rc < 0)
            goto out;
        if (c.nomem) {
            rc = -HVT_E_NOMEM;
            goto out;
        }
        p->out = res.out;
        p->accesses = c.out->v;
        p->n_accesses = c.out->n;
        n = j + 1;
        if (c.unknown) {
            stopped = 1;
            break;
        }
        if (res.out.kind != HVT_OUT_RETRY)
            break;
    }
    rc = hvt_rpl_analyze(&fv, &e->sc, ev, e->sim, n);
    if (rc < 0)
        goto out;
    for (size_t i = 0; i < fv.n; i++) {
        unsigned cls = fv.v[i].cls;
        if (hvt_rpl_class_benign(cls) || cls == HVT_RPL_REPLAY_MISMATCH)
            continue;
        /* a simulation that ran out of recorded values ends early: not a fault */
        if (stopped && fv.v[i].pass_b == n - 1 &&
            (cls == HVT_RPL_FAULT_CHANGED || cls == HVT_RPL_SEQUENCE_CHANGED)) {
            stopped = 2;
            continue;
        }
        if (!div)
            snprintf(rep->whatif_detail, sizeof(rep->whatif_detail), "still %s: %.100s",
                     hvt_rpl_class_name(cls), fv.v[i].detail);
        div++;
    }
    if (div) {
        rep->whatif = HVT_RPL_WHATIF_KEPT;
    } else if (stopped == 2) {
        rep->whatif = HVT_RPL_WHATIF_UNKNOWN;
        snprintf(rep->whatif_detail, sizeof(rep->whatif_detail),
                 "pass %u needs a value the trace does not hold: %s %s:L%u/op%u/el%u at 0x%llx",
                 n - 1, hvt_access_kind_name(c.unknown_acc.kind),
                 hvt_tag_class_name(c.unknown_acc.tag.cls), c.unknown_acc.tag.level,
                 c.unknown_acc.tag.operand, c.unknown_acc.tag.element,
                 (unsigned long long)c.unknown_acc.phys);
    } else {
        rep->whatif = HVT_RPL_WHATIF_REMOVED;
        rep->whatif_completes = stopped ? 1 : e->sim[n - 1].out.kind == HVT_OUT_OKAY;
        snprintf(rep->whatif_detail, sizeof(rep->whatif_detail),
                 "%u simulated pass(es), last %s%s%s", n - 1,
                 stopped ? "stopped" : hvt_outcome_name(e->sim[n - 1].out.kind),
                 stopped ? " past the first pass's accesses (the trace holds no later values)" : "",
                 c.approx ? "; a device answer the trace lacks was taken as zeros" : "");
    }
out:
    hvt_rpl_fvec_free(&fv);
    free(c.buf);
    return rc;
}
