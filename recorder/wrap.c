/* SPDX-License-Identifier: MIT */
/* Recorder: the phys-ops interposer: forwards each op to the host's table and records it. */
#include <stddef.h>
#include <string.h>

#include "rec_internal.h"
#include "common/sized.h"

/* Each wrapper calls the inner op first (so the recorded data is what the host answered and
 * info->space is what the host set), then records. With call sites on, the wrapper adds one
 * frame between the core and hvt_rec_push_access_op: call-site capture skips it. */

/* Records a plain access (not cmpxchg) of V. The common case (a pass open, a size the ABI
 * allows, call sites off) is written into the ring right here, inline; everything else goes
 * through hvt_rec_push_access_op, which also keeps the frame layout call-site capture expects. */
static inline __attribute__((always_inline)) void record(struct rec_vcpu *v, uint8_t kind, int res,
                                                         const struct hvt_op_info *info,
                                                         uint64_t phys, uint32_t size,
                                                         const void *data)
{
    static const uint8_t zero[HVT_DATA_MAX];
    uint32_t kw, so;
    uint64_t iw, lin;

    /* A read the host did not complete has no data: record zeros, not stale bytes. */
    if (res != HVT_OP_OKAY && kind != HVT_ACC_WRITE && kind != HVT_ACC_IO_OUT)
        data = zero;
    /* The info word from the op's kind, seg, space (one load, the bytes moved) and tag (one
     * load), the kind replaced by the op's. */
    memcpy(&kw, &info->kind, 4);
    iw = kind | (kw & 0xff0000u) >> 8 | (kw & 0xff00u) << 8 |
         (uint64_t)((unsigned)res & 0xff) << 24 | rri_tag(&info->tag);
    so = rec_so(size, (kw >> 24) & RRA_AFLAGS);
    lin = (so & (HVT_AF_LINEAR_VALID << RRA_FLAGS_SHIFT)) ? info->linear : 0;
    /* the checks of hvt_rec_access too: a core or host that breaks the rules must not reach
     * the writer (the slow path refuses the access, with the detail). fast_limit is 0 with no
     * pass open or with call sites on. */
    if (__builtin_expect(v->access_idx < v->fast_limit && size - 1 < HVT_DATA_MAX &&
                             (unsigned)res < HVT_OP__COUNT && rec_shape_ok(v, iw, so, phys),
                         1)) {
        rec_push_access(v, iw, so, lin, phys, info->tag.element, data, NULL, NULL);
        return;
    }
    /* Inlined into the op wrapper: the anchor is the wrapper's return into the core. */
    hvt_rec_push_access_op(v, kind, (unsigned)res, info, phys, size, data, NULL, NULL,
                           REC_ANCHOR_IP(), REC_ANCHOR_CFA());
}

_Static_assert(offsetof(struct hvt_op_info, tag) == 0 && offsetof(struct hvt_tag, cls) == 0 &&
                   offsetof(struct hvt_tag, operand) == 1 && offsetof(struct hvt_tag, level) == 2 &&
                   offsetof(struct hvt_tag, reserved) == 3 &&
                   offsetof(struct hvt_op_info, kind) == 8 &&
                   offsetof(struct hvt_op_info, seg) == 9 &&
                   offsetof(struct hvt_op_info, space) == 10 &&
                   offsetof(struct hvt_op_info, flags) == 11,
               "record() builds the info word from struct hvt_op_info's bytes");

static int w_read(void *ctx, uint64_t gpa, void *buf, uint32_t size, struct hvt_op_info *info)
{
    struct rec_wrap *w = ctx;
    int res = w->inner->read(w->inner_ctx, gpa, buf, size, info);
    record(w->v, info->kind == HVT_ACC_FETCH ? HVT_ACC_FETCH : HVT_ACC_READ, res, info, gpa, size,
           buf);
    return res;
}

static int w_write(void *ctx, uint64_t gpa, const void *buf, uint32_t size,
                   struct hvt_op_info *info)
{
    struct rec_wrap *w = ctx;
    int res = w->inner->write(w->inner_ctx, gpa, buf, size, info);
    record(w->v, HVT_ACC_WRITE, res, info, gpa, size, buf);
    return res;
}

static int w_cmpxchg(void *ctx, uint64_t gpa, void *old, const void *new_, uint32_t size,
                     struct hvt_op_info *info)
{
    struct rec_wrap *w = ctx;
    uint8_t expected[HVT_DATA_MAX];
    int res;

    if (size > HVT_DATA_MAX || size == 0) {
        res = w->inner->cmpxchg(w->inner_ctx, gpa, old, new_, size, info);
        hvt_rec_push_access_op(w->v, HVT_ACC_CMPXCHG, (unsigned)res, info, gpa, size, NULL, NULL,
                               NULL, 0, 0); /* counted as lost */
        return res;
    }
    memcpy(expected, old, size);
    res = w->inner->cmpxchg(w->inner_ctx, gpa, old, new_, size, info);
    /* cur: what memory held. On CMPXCHG_FAILED the op copied it into *old; on success it was
     * the expected value. */
    hvt_rec_push_access_op(w->v, HVT_ACC_CMPXCHG, (unsigned)res, info, gpa, size, new_, expected,
                           res == HVT_OP_CMPXCHG_FAILED ? old : expected, REC_ANCHOR_IP(),
                           REC_ANCHOR_CFA());
    return res;
}

static int w_io_in(void *ctx, uint16_t port, void *buf, uint32_t size, struct hvt_op_info *info)
{
    struct rec_wrap *w = ctx;
    int res = w->inner->io_in(w->inner_ctx, port, buf, size, info);
    record(w->v, HVT_ACC_IO_IN, res, info, port, size, buf);
    return res;
}

static int w_io_out(void *ctx, uint16_t port, const void *buf, uint32_t size,
                    struct hvt_op_info *info)
{
    struct rec_wrap *w = ctx;
    int res = w->inner->io_out(w->inner_ctx, port, buf, size, info);
    record(w->v, HVT_ACC_IO_OUT, res, info, port, size, buf);
    return res;
}

int hvt_rec_wrap_ops(struct hvt_rec *rec, uint32_t vcpu, const struct hvt_core_ops *inner,
                     void *inner_ctx, struct hvt_core_ops *out_ops, void **out_ctx)
{
    struct rec_vcpu *v;
    struct hvt_core_ops ops;
    int err;

    if (!rec || !inner || !out_ops || !out_ctx || vcpu >= rec->max_vcpus ||
        hvt_sized_in(&ops, sizeof(ops), inner, inner->size, HVT_CORE_OPS_SIZE_V1))
        return -HVT_E_INVALID;
    err = hvt_rec_vcpu_add(rec, vcpu);
    if (err)
        return err;
    v = rec_vcpu_get(rec, vcpu);
    ops.size = sizeof(ops);
    v->wrap.inner_ops = ops;
    v->wrap.inner = &v->wrap.inner_ops;
    inner = &v->wrap.inner_ops;
    v->wrap.inner_ctx = inner_ctx;
    memset(out_ops, 0, sizeof(*out_ops));
    out_ops->size = sizeof(*out_ops);
    out_ops->read = inner->read ? w_read : NULL;
    out_ops->write = inner->write ? w_write : NULL;
    out_ops->cmpxchg = inner->cmpxchg ? w_cmpxchg : NULL;
    out_ops->io_in = inner->io_in ? w_io_in : NULL;
    out_ops->io_out = inner->io_out ? w_io_out : NULL;
    *out_ctx = &v->wrap;
    return 0;
}
