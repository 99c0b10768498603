/* SPDX-License-Identifier: MIT */
/* Core services: the reference MMU (segmentation, walks, A/D updates, split data access) as
 * the version-2 table a linear-address core calls, bound to one emulation. */
#include <stdio.h>
#include <string.h>

#include "exec_io.h"
#include "mmu.h"
#include "mmu_internal.h"
#include "services.h"

/* Every service starts here: the session must be bound, and the mode and CPL are read from
 * the state now (a core may have loaded CS or SS since the last call). Returns 0, or the
 * UNHANDLEABLE outcome already reported. */
static int enter(struct hvt_svc *s, unsigned flags, const char *what)
{
    struct hvt_emu *e;
    if (!s || !s->e.st || !s->e.ops || !s->e.res)
        return HVT_OUT_UNHANDLEABLE; /* nothing to report into */
    e = &s->e;
    e->mode = hvt_emu_mode_of(e->st);
    e->cpl = HVT_SEG_ATTR_DPL(e->st->seg[HVT_SEG_SS].attr);
    e->locked = (flags & HVT_SVC_LOCKED) != 0;
    if (e->mode == HVT_MODE_REAL) {
        e->res->out.kind = HVT_OUT_UNHANDLEABLE;
        snprintf(e->res->detail, sizeof(e->res->detail), "services: %s: real mode", what);
        return HVT_OUT_UNHANDLEABLE;
    }
    return HVT_OUT_OKAY;
}

/* The MMU's intent from the services' (the same bits but LOCKED, which the MMU takes from
 * the context). */
static unsigned intent_of(unsigned flags)
{
    return flags & (HVT_MMU_ACC_MASK_SVC | HVT_SVC_IMPLICIT | HVT_SVC_STACK);
}

static void xlat_out(struct hvt_svc_xlat *o, const struct hvt_mmu_xlat *x, unsigned intent)
{
    memset(o, 0, sizeof(*o));
    o->la = x->la;
    o->size = x->size;
    o->seg = (uint8_t)x->seg;
    o->n = (uint8_t)x->n;
    o->intent = (uint8_t)intent;
    for (unsigned i = 0; i < 2; i++) {
        o->gpa[i] = x->gpa[i];
        o->len[i] = x->len[i];
    }
}

/* A caller's translated operand back in the MMU's form; 0 when it cannot be one. */
static int xlat_in(struct hvt_mmu_xlat *x, const struct hvt_svc_xlat *o)
{
    if (!o || (o->n != 1 && o->n != 2) || o->seg > HVT_SEG_IDTR || o->size == 0 ||
        (uint64_t)o->len[0] + (o->n == 2 ? o->len[1] : 0) != o->size)
        return 0;
    x->la = o->la;
    x->seg = o->seg;
    x->size = o->size;
    x->n = o->n;
    for (unsigned i = 0; i < 2; i++) {
        x->gpa[i] = o->gpa[i];
        x->len[i] = i < o->n ? o->len[i] : 0;
    }
    return 1;
}

static int svc_bad(struct hvt_svc *s, const char *what)
{
    snprintf(s->e.res->detail, sizeof(s->e.res->detail), "services: %s", what);
    s->e.res->out.kind = HVT_OUT_UNHANDLEABLE;
    return HVT_OUT_UNHANDLEABLE;
}

static int s_linear(struct hvt_svc *s, unsigned seg, uint64_t off, uint32_t size, unsigned intent,
                    uint64_t *la)
{
    int r = enter(s, intent, "linear");
    if (r)
        return r;
    if (!la)
        return svc_bad(s, "linear: no output");
    return hvt_mmu_linear(&s->e, seg, off, size, intent_of(intent), la);
}

static int s_translate(struct hvt_svc *s, uint64_t la, unsigned intent, uint64_t *gpa)
{
    int r = enter(s, intent, "translate");
    if (r)
        return r;
    if (!gpa)
        return svc_bad(s, "translate: no output");
    return hvt_mmu_translate(&s->e, la, intent_of(intent), gpa);
}

static int s_map(struct hvt_svc *s, unsigned seg, uint64_t off, uint32_t size, unsigned intent,
                 unsigned align, struct hvt_svc_xlat *xo)
{
    struct hvt_mmu_xlat x;
    int r = enter(s, intent, "map");
    if (r)
        return r;
    if (!xo)
        return svc_bad(s, "map: no output");
    r = hvt_mmu_map(&s->e, seg, off, size, intent_of(intent), (int)align, &x);
    if (r == HVT_OUT_OKAY)
        xlat_out(xo, &x, intent);
    return r;
}

static int s_read_x(struct hvt_svc *s, const struct hvt_svc_xlat *xo, void *buf, struct hvt_tag tag)
{
    struct hvt_mmu_xlat x;
    int r = enter(s, xo ? xo->intent : 0, "read");
    if (r)
        return r;
    if (!xlat_in(&x, xo))
        return svc_bad(s, "read: bad translated operand");
    return hvt_mmu_read(&s->e, &x, buf, tag);
}

static int s_write_x(struct hvt_svc *s, const struct hvt_svc_xlat *xo, const void *buf,
                     struct hvt_tag tag)
{
    struct hvt_mmu_xlat x;
    int r = enter(s, xo ? xo->intent : 0, "write");
    if (r)
        return r;
    if (!xlat_in(&x, xo))
        return svc_bad(s, "write: bad translated operand");
    if ((xo->intent & HVT_MMU_ACC_MASK_SVC) != HVT_SVC_W)
        return svc_bad(s, "write: operand not translated for writing");
    return hvt_mmu_write(&s->e, &x, buf, tag);
}

static int s_cmpxchg_x(struct hvt_svc *s, const struct hvt_svc_xlat *xo, void *old,
                       const void *new_, int *success, struct hvt_tag tag)
{
    struct hvt_mmu_xlat x;
    int r = enter(s, xo ? xo->intent : 0, "cmpxchg");
    if (r)
        return r;
    if (!xlat_in(&x, xo))
        return svc_bad(s, "cmpxchg: bad translated operand");
    if ((xo->intent & HVT_MMU_ACC_MASK_SVC) != HVT_SVC_W)
        return svc_bad(s, "cmpxchg: operand not translated for writing");
    return hvt_mmu_cmpxchg(&s->e, &x, old, new_, success, tag);
}

static int s_read(struct hvt_svc *s, unsigned seg, uint64_t off, void *buf, uint32_t size,
                  unsigned flags, unsigned align, struct hvt_tag tag)
{
    struct hvt_svc_xlat x;
    int r = s_map(s, seg, off, size, (flags & ~HVT_MMU_ACC_MASK_SVC) | HVT_SVC_R, align, &x);
    return r ? r : s_read_x(s, &x, buf, tag);
}

static int s_write(struct hvt_svc *s, unsigned seg, uint64_t off, const void *buf, uint32_t size,
                   unsigned flags, unsigned align, struct hvt_tag tag)
{
    struct hvt_svc_xlat x;
    int r = s_map(s, seg, off, size, (flags & ~HVT_MMU_ACC_MASK_SVC) | HVT_SVC_W, align, &x);
    return r ? r : s_write_x(s, &x, buf, tag);
}

static int s_cmpxchg(struct hvt_svc *s, unsigned seg, uint64_t off, void *old, const void *new_,
                     uint32_t size, unsigned flags, int *success, struct hvt_tag tag)
{
    struct hvt_svc_xlat x;
    int r = s_map(s, seg, off, size, (flags & ~HVT_MMU_ACC_MASK_SVC) | HVT_SVC_W, 1, &x);
    return r ? r : s_cmpxchg_x(s, &x, old, new_, success, tag);
}

static int s_fetch(struct hvt_svc *s, uint64_t off, uint8_t *buf, uint32_t len)
{
    int r = enter(s, 0, "fetch");
    return r ? r : hvt_mmu_fetch(&s->e, off, buf, len);
}

static int s_io_check(struct hvt_svc *s, uint16_t port, uint32_t size)
{
    int r = enter(s, 0, "io_check");
    if (r)
        return r;
    if (size != 1 && size != 2 && size != 4)
        return svc_bad(s, "io_check: size not 1, 2 or 4");
    return hvt_io_check(&s->e, port, size);
}

static int s_io(struct hvt_svc *s, int in, uint16_t port, void *buf, uint32_t size,
                uint32_t element)
{
    int r = enter(s, 0, in ? "io_in" : "io_out");
    if (r)
        return r;
    if (!buf || (size != 1 && size != 2 && size != 4))
        return svc_bad(s, "port I/O: no buffer, or size not 1, 2 or 4");
    return hvt_io_port(&s->e, in, port, buf, size, element);
}

static int s_io_in(struct hvt_svc *s, uint16_t port, void *buf, uint32_t size, uint32_t element)
{
    return s_io(s, 1, port, buf, size, element);
}

static int s_io_out(struct hvt_svc *s, uint16_t port, const void *buf, uint32_t size,
                    uint32_t element)
{
    /* the op takes a const buffer: the cast only shares the checks with io_in */
    return s_io(s, 0, port, (void *)(uintptr_t)buf, size, element);
}

static int s_raise(struct hvt_svc *s, unsigned vector, int has_ec, uint32_t ec, uint64_t cr2)
{
    int r = enter(s, 0, "raise");
    if (r)
        return r;
    if (vector > 31)
        return svc_bad(s, "raise: vector above 31");
    return hvt_emu_raise(&s->e, vector, has_ec, ec, cr2);
}

static unsigned s_cpl(struct hvt_svc *s)
{
    return enter(s, 0, "cpl") ? 0 : s->e.cpl;
}

static unsigned s_mode_bits(struct hvt_svc *s)
{
    if (!s || !s->e.st)
        return 0;
    switch (hvt_emu_mode_of(s->e.st)) {
    case HVT_MODE_LONG64:
        return 64;
    case HVT_MODE_PROT32:
        return 32;
    case HVT_MODE_PROT16:
        return 16;
    default:
        return 0;
    }
}

static const struct hvt_core_services services = {
    .size = sizeof(struct hvt_core_services),
    .linear = s_linear,
    .translate = s_translate,
    .map = s_map,
    .read_x = s_read_x,
    .write_x = s_write_x,
    .cmpxchg_x = s_cmpxchg_x,
    .read = s_read,
    .write = s_write,
    .cmpxchg = s_cmpxchg,
    .fetch = s_fetch,
    .io_check = s_io_check,
    .io_in = s_io_in,
    .io_out = s_io_out,
    .raise = s_raise,
    .cpl = s_cpl,
    .mode_bits = s_mode_bits,
};

const struct hvt_core_services *hvt_core_services(void)
{
    return &services;
}

void hvt_xsave_from_state(uint8_t *buf, size_t len, const struct hvt_vcpu_state *st,
                          uint64_t *valid)
{
    uint64_t bv = HVT_XSTATE_X87;
    if (len < HVT_XSAVE_SIZE)
        return;
    memset(buf, 0, HVT_XSAVE_SIZE);
    buf[0] = 0x7f, buf[1] = 0x03; /* FCW 0x037f, as after FNINIT; FSW, FTW and the rest 0 */
    if (st->flags & HVT_STATE_SIMD_VALID) {
        memcpy(buf + 24, &st->mxcsr, 4);
        buf[28] = 0xff, buf[29] = 0xff; /* MXCSR_MASK: every MXCSR bit writable */
        for (unsigned i = 0; i < 16; i++) {
            memcpy(buf + 160 + 16 * i, st->ymm[i], 16);
            memcpy(buf + HVT_XSAVE_AVX + 16 * i, st->ymm[i] + 16, 16);
        }
        bv |= HVT_XSTATE_SSE | HVT_XSTATE_AVX;
    }
    memcpy(buf + HVT_XSAVE_HEADER, &bv, 8);
    if (valid)
        *valid = bv;
}

void hvt_xsave_to_state(const uint8_t *buf, size_t len, struct hvt_vcpu_state *st)
{
    if (len < HVT_XSAVE_AVX + 256)
        return;
    memcpy(&st->mxcsr, buf + 24, 4);
    for (unsigned i = 0; i < 16; i++) {
        memcpy(st->ymm[i], buf + 160 + 16 * i, 16);
        memcpy(st->ymm[i] + 16, buf + HVT_XSAVE_AVX + 16 * i, 16);
    }
}

void hvt_svc_bind(struct hvt_svc *s, struct hvt_vcpu_state *st, const struct hvt_core_ops *ops,
                  void *ctx, struct hvt_core_result *res, const struct hvt_ref_opts *opts)
{
    memset(s, 0, sizeof(*s));
    s->e.st = st;
    s->e.ops = ops;
    s->e.opctx = ctx;
    s->e.res = res;
    s->e.opts = opts;
}

_Static_assert(HVT_SVC_R == HVT_MMU_R && HVT_SVC_W == HVT_MMU_W && HVT_SVC_X == HVT_MMU_X &&
                   HVT_SVC_IMPLICIT == HVT_MMU_IMPLICIT && HVT_SVC_STACK == HVT_MMU_STACK &&
                   HVT_MMU_ACC_MASK_SVC == HVT_MMU_ACC_MASK,
               "the services' intents are the MMU's");
