/* SPDX-License-Identifier: MIT */
/* Replayer engine: trace-backed ops, one recorded pass replayed on a core, mismatch checks. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/textbuf.h"
#include "common/sized.h"
#include "internal.h"

/* ---- small containers ---------------------------------------------------------------------- */

struct hvt_rpl_finding *hvt_rpl_fvec_add(struct rpl_fvec *fv, unsigned cls, uint32_t pa,
                                         uint32_t pb)
{
    struct hvt_rpl_finding *f;
    if (fv->n == fv->cap) {
        size_t cap = fv->cap ? fv->cap * 2 : 16;
        struct hvt_rpl_finding *v = realloc(fv->v, cap * sizeof(*v));
        if (!v) {
            fv->oom = 1;
            return NULL;
        }
        fv->v = v;
        fv->cap = cap;
    }
    f = &fv->v[fv->n++];
    memset(f, 0, sizeof(*f));
    f->cls = cls;
    f->pass_a = pa;
    f->pass_b = pb;
    f->idx_a = f->idx_b = -1;
    return f;
}

void hvt_rpl_fvec_free(struct rpl_fvec *fv)
{
    free(fv->v);
    memset(fv, 0, sizeof(*fv));
}

int hvt_rpl_avec_push(struct rpl_avec *av, const struct hvt_access *a)
{
    if (av->n == av->cap) {
        uint32_t cap = av->cap ? av->cap * 2 : 64;
        struct hvt_access *v = realloc(av->v, (size_t)cap * sizeof(*v));
        if (!v)
            return -HVT_E_NOMEM;
        av->v = v;
        av->cap = cap;
    }
    av->v[av->n++] = *a;
    return 0;
}

void hvt_rpl_avec_free(struct rpl_avec *av)
{
    free(av->v);
    memset(av, 0, sizeof(*av));
}

/* ---- names --------------------------------------------------------------------------------- */

static const char *const class_names[HVT_RPL__COUNT] = {
    "replay_mismatch",
    "translation_changed",
    "data_changed",
    "sequence_changed",
    "fault_changed",
    "write_data_changed",
    "regs_modified_before_retry",
    "ad_bits_by_earlier_pass",
    "distinct_operands",
    "rep_progress",
};

const char *hvt_rpl_class_name(unsigned cls)
{
    if (cls == HVT_RPL_NOTE)
        return "note";
    return cls < HVT_RPL__COUNT ? class_names[cls] : "?";
}

int hvt_rpl_class_benign(unsigned cls)
{
    return cls == HVT_RPL_AD_BITS_BY_EARLIER_PASS || cls == HVT_RPL_DISTINCT_OPERANDS ||
           cls == HVT_RPL_REP_PROGRESS || cls == HVT_RPL_NOTE;
}

int hvt_rpl_options_in(struct hvt_rpl_options *o, const struct hvt_rpl_options *user)
{
    if (hvt_sized_in(o, sizeof(*o), user, user->size, HVT_RPL_OPTIONS_SIZE_V1))
        return -HVT_E_INVALID;
    o->size = sizeof(*o);
    return 0;
}

void hvt_rpl_options_init(struct hvt_rpl_options *opt)
{
    memset(opt, 0, sizeof(*opt));
    opt->size = sizeof(*opt);
    opt->jobs = 1;
    opt->last = UINT64_MAX;
}

/* ---- states -------------------------------------------------------------------------------- */

const struct hvt_vcpu_state *hvt_rpl_pass_start(const struct hvt_event *ev, uint32_t k)
{
    return k == 0 ? &ev->init : &ev->passes[k - 1].end;
}

static void add_name(char *buf, size_t len, size_t *n, const char *name, int idx)
{
    int w;
    if (*n >= len)
        return;
    if (idx >= 0)
        w = snprintf(buf + *n, len - *n, "%s%s%d", *n ? " " : "", name, idx);
    else
        w = snprintf(buf + *n, len - *n, "%s%s", *n ? " " : "", name);
    if (w > 0)
        *n += (size_t)w;
}

int hvt_rpl_state_diff_rep(const struct hvt_vcpu_state *a, const struct hvt_vcpu_state *b,
                           char *buf, size_t len, int *only_rep)
{
    static const char *const gpr[16] = {"rax", "rcx", "rdx", "rbx", "rsp", "rbp", "rsi", "rdi",
                                        "r8",  "r9",  "r10", "r11", "r12", "r13", "r14", "r15"};
    static const char *const seg[8] = {"es", "cs", "ss", "ds", "fs", "gs", "ldtr", "tr"};
    size_t n = 0;
    int diff = 0, other = 0;

    if (len)
        buf[0] = 0;
    /* the common case, equal states: one compare of the registers before YMM (and of YMM when
     * either side holds them) */
    if (!memcmp(a, b, offsetof(struct hvt_vcpu_state, ymm)) &&
        (!((a->flags | b->flags) & HVT_STATE_SIMD_VALID) || !memcmp(a->ymm, b->ymm, sizeof(a->ymm)))) {
        if (only_rep)
            *only_rep = 0;
        return 0;
    }
    for (int i = 0; i < 16; i++) {
        if (a->gpr[i] != b->gpr[i]) {
            add_name(buf, len, &n, gpr[i], -1);
            diff = 1;
            if (i != HVT_RCX && i != HVT_RSI && i != HVT_RDI)
                other = 1;
        }
    }
#define CMPF(field, name)                                                                          \
    do {                                                                                           \
        if (a->field != b->field) {                                                                \
            add_name(buf, len, &n, name, -1);                                                      \
            diff = other = 1;                                                                      \
        }                                                                                          \
    } while (0)
    CMPF(rip, "rip");
    if (a->rflags != b->rflags) {
        add_name(buf, len, &n, "rflags", -1);
        diff = 1;
    }
    for (int i = 0; i < 8; i++) {
        if (a->seg[i].sel != b->seg[i].sel || a->seg[i].attr != b->seg[i].attr ||
            a->seg[i].limit != b->seg[i].limit || a->seg[i].base != b->seg[i].base) {
            add_name(buf, len, &n, seg[i], -1);
            diff = other = 1;
        }
    }
    CMPF(gdtr.base, "gdtr");
    CMPF(gdtr.limit, "gdtr");
    CMPF(idtr.base, "idtr");
    CMPF(idtr.limit, "idtr");
    CMPF(cr0, "cr0");
    CMPF(cr2, "cr2");
    CMPF(cr3, "cr3");
    CMPF(cr4, "cr4");
    CMPF(cr8, "cr8");
    CMPF(efer, "efer");
    CMPF(xcr0, "xcr0");
    CMPF(flags, "state_flags");
#undef CMPF
    if ((a->flags | b->flags) & HVT_STATE_PDPTE_VALID) {
        for (int i = 0; i < 4; i++) {
            if (a->pdpte[i] != b->pdpte[i]) {
                add_name(buf, len, &n, "pdpte", i);
                diff = other = 1;
            }
        }
    }
    if ((a->flags | b->flags) & HVT_STATE_SIMD_VALID) {
        if (a->mxcsr != b->mxcsr) {
            add_name(buf, len, &n, "mxcsr", -1);
            diff = other = 1;
        }
        for (int i = 0; i < 16; i++) {
            if (memcmp(a->ymm[i], b->ymm[i], sizeof(a->ymm[i]))) {
                add_name(buf, len, &n, "ymm", i);
                diff = other = 1;
            }
        }
    }
    if (only_rep)
        *only_rep = diff && !other;
    return diff;
}

int hvt_rpl_state_diff(const struct hvt_vcpu_state *a, const struct hvt_vcpu_state *b, char *buf,
                       size_t len)
{
    char tmp[1];
    if (!a || !b)
        return 0;
    return hvt_rpl_state_diff_rep(a, b, buf ? buf : tmp, buf ? len : 0, NULL);
}

/* ---- trace-backed ops ---------------------------------------------------------------------- */

const char *hvt_rpl_access_differs(const struct hvt_access *rec, const struct hvt_access *got,
                                   char *buf, size_t len)
{
    size_t n = 0;
    int w;
#define DIFF(name)                                                                                 \
    do {                                                                                           \
        w = snprintf(buf + n, n < len ? len - n : 0, "%s%s", n ? ", " : "", name);                 \
        if (w > 0)                                                                                 \
            n += (size_t)w;                                                                        \
    } while (0)
    if (!len)
        return NULL;
    buf[0] = 0;
    if (rec->kind != got->kind)
        DIFF("kind");
    if (rec->tag.cls != got->tag.cls || rec->tag.operand != got->tag.operand ||
        rec->tag.level != got->tag.level || rec->tag.element != got->tag.element)
        DIFF("tag");
    if (rec->phys != got->phys)
        DIFF(rec->kind == HVT_ACC_IO_IN || rec->kind == HVT_ACC_IO_OUT ? "port" : "address");
    if ((rec->flags & got->flags & HVT_AF_LINEAR_VALID) && rec->linear != got->linear)
        DIFF("linear address");
    if (rec->size != got->size || rec->size > HVT_DATA_MAX)
        DIFF("size");
    else if (rec->kind == got->kind &&
             (rec->kind == HVT_ACC_WRITE || rec->kind == HVT_ACC_IO_OUT ||
              rec->kind == HVT_ACC_CMPXCHG) &&
             memcmp(rec->data, got->data, rec->size))
        DIFF(rec->kind == HVT_ACC_CMPXCHG ? "new value" : "data");
    if (rec->size == got->size && rec->size <= HVT_DATA_MAX && rec->kind == HVT_ACC_CMPXCHG &&
        got->kind == HVT_ACC_CMPXCHG && memcmp(rec->old, got->old, rec->size))
        DIFF("expected value");
    /* the segment is advisory: named only beside a difference that matters */
    if (n && rec->seg != got->seg)
        DIFF("segment");
#undef DIFF
    return n ? buf : NULL;
}

void hvt_rpl_mismatch(struct replay_ctx *c, const struct hvt_access *got, int32_t idx_a,
                      int32_t idx_b, const char *text, const char *what)
{
    struct hvt_rpl_finding *f;
    c->mismatch = 1;
    c->fast_n = 0;
    f = hvt_rpl_fvec_add(&c->e->fv, HVT_RPL_REPLAY_MISMATCH, c->p->index, c->p->index);
    if (!f)
        return;
    if (idx_a >= 0 && (uint32_t)idx_a < c->p->n_accesses) {
        f->idx_a = idx_a;
        f->acc_a = c->p->accesses[idx_a];
    }
    if (got) {
        f->idx_b = idx_b >= 0 ? idx_b : (int32_t)(c->ncalls ? c->ncalls - 1 : 0);
        f->acc_b = *got;
    }
    snprintf(f->detail, sizeof(f->detail), "%s%s", text, what);
}

/* strict mode: the finding names the next recorded access, and the core's call as the same
 * index */
static void mismatch(struct replay_ctx *c, const struct hvt_access *got, int idx_b,
                     const char *text, const char *what)
{
    hvt_rpl_mismatch(c, got, c->next < c->p->n_accesses ? (int32_t)c->next : -1,
                     got ? idx_b : -1, text, what);
}

/* One call of the core: checks it against the next recorded access; returns the recorded
 * access to answer from, or NULL (the call then gets UNHANDLEABLE, which ends the pass). */
static const struct hvt_access *take(struct replay_ctx *c, const struct hvt_access *got)
{
    const struct hvt_access *rec;
    const char *why;
    char wbuf[96];
    uint32_t idx = c->next;

    if (c->e->log_calls)
        (void)hvt_rpl_avec_push(&c->e->calls, got);
    if (c->mismatch)
        return NULL;
    if (got->size == 0 || got->size > HVT_DATA_MAX) {
        mismatch(c, got, (int32_t)idx, "the core made an access of an invalid size", "");
        return NULL;
    }
    if (idx >= c->p->n_accesses) {
        mismatch(c, got, (int32_t)idx, "the core made more accesses than recorded", "");
        return NULL;
    }
    rec = &c->p->accesses[idx];
    why = hvt_rpl_access_differs(rec, got, wbuf, sizeof(wbuf));
    if (why) {
        mismatch(c, got, (int32_t)idx, "the core's access differs from the recorded one: ", why);
        return NULL;
    }
    c->next++;
    return rec;
}

static void fill(struct replay_ctx *c, struct hvt_access *a, uint8_t kind, uint64_t gpa,
                 uint32_t size, const struct hvt_op_info *info)
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
    /* a core that runs one REP iteration per call numbers each call's element 0: the
     * iterations of its earlier calls come first */
    if (c->string_insn && (a->tag.cls == HVT_TAG_DATA || a->tag.cls == HVT_TAG_IO))
        a->tag.element += c->elem_base;
}

/* Strict mode, the common case: the call equals the next recorded access (what
 * hvt_rpl_access_differs checks, without building the access: the tag compared as one word,
 * its reserved byte included). Returns that access, or NULL when the call must take the slow
 * path (a difference, semantic mode, a logged call, an earlier mismatch, the end of the pass,
 * an invalid size), which builds the access and names what differs. DATA and OLD are the
 * written value and a compare-exchange's expected value, NULL for other kinds. */
static inline __attribute__((always_inline)) const struct hvt_access *
fast_take(struct replay_ctx *c, uint8_t kind, uint64_t gpa, uint32_t size,
          const struct hvt_op_info *info, const void *data, const void *old)
{
    const struct hvt_access *rec;
    struct hvt_tag want = info->tag;
    uint64_t tw, tr;

    if (c->next >= c->fast_n) /* not fast, or the end of the pass */
        return NULL;
    rec = &c->acc[c->next];
    if (rec->kind != kind || rec->phys != gpa || rec->size != size || size - 1 >= HVT_DATA_MAX)
        return NULL;
    if (c->elem_base && (want.cls == HVT_TAG_DATA || want.cls == HVT_TAG_IO))
        want.element += c->elem_base;
    memcpy(&tw, &want, sizeof(tw));
    memcpy(&tr, &rec->tag, sizeof(tr));
    if (tw != tr)
        return NULL;
    if ((rec->flags & info->flags & HVT_AF_LINEAR_VALID) && rec->linear != info->linear)
        return NULL;
    if ((data && memcmp(rec->data, data, size)) || (old && memcmp(rec->old, old, size)))
        return NULL;
    c->next++;
    c->n_fast++;
    return rec;
}

/* Semantic mode: the call is logged and answered by meaning. Returns the op result. */
static int sem_call(struct replay_ctx *c, struct hvt_access *got, void *buf,
                    struct hvt_op_info *info)
{
    c->ncalls++;
    if (c->e->log_calls)
        (void)hvt_rpl_avec_push(&c->e->calls, got);
    if (c->mismatch)
        return HVT_OP_UNHANDLEABLE;
    if (got->size == 0 || got->size > HVT_DATA_MAX) {
        hvt_rpl_mismatch(c, got, -1, -1, "the core made an access of an invalid size", "");
        return HVT_OP_UNHANDLEABLE;
    }
    return hvt_rpl_sem_answer(c, got, buf, info);
}

/* The slow path of a call: builds the access (DATA, OLD as in fast_take), answers it by
 * meaning in semantic mode (the read buffer, or the compare-exchange's OLD, is ANSWER) or checks
 * it against the next recorded access. Returns the recorded access to answer from, or NULL with
 * the op result in *RC. Kept out of line: the fast path needs no room for the access. */
static __attribute__((noinline)) const struct hvt_access *
slow_call(struct replay_ctx *c, uint8_t kind, uint64_t addr, uint32_t size,
          struct hvt_op_info *info, const void *data, const void *old, void *answer, int *rc)
{
    struct hvt_access got;
    const struct hvt_access *rec;
    fill(c, &got, kind, addr, size, info);
    if (size <= HVT_DATA_MAX) {
        if (data)
            memcpy(got.data, data, size);
        if (old)
            memcpy(got.old, old, size);
    }
    if (c->sem) {
        *rc = sem_call(c, &got, answer, info);
        return NULL;
    }
    rec = take(c, &got);
    *rc = HVT_OP_UNHANDLEABLE;
    return rec;
}

_Static_assert(HVT_AF_LINEAR_VALID == HVT_OPF_LINEAR_VALID,
               "fast_take tests the access's and the op's linear-valid bits with one mask");

/* The answer of a matched read-like call: its space and the recorded data. */
static inline __attribute__((always_inline)) int give_in(const struct hvt_access *rec, void *buf,
                                                         uint32_t size, struct hvt_op_info *info)
{
    info->space = rec->space;
    if (rec->outcome == HVT_OP_OKAY) {
        if (size == 8)
            memcpy(buf, rec->data, 8); /* a paging entry: one move */
        else
            memcpy(buf, rec->data, size);
    }
    return rec->outcome;
}

/* A read-like call that did not match in place: the slow path, then the answer. Out of line,
 * so that the fast path saves no registers for it. */
static __attribute__((noinline)) int answer_in_slow(struct replay_ctx *c, uint8_t kind,
                                                    uint64_t addr, void *buf, uint32_t size,
                                                    struct hvt_op_info *info)
{
    int rc;
    const struct hvt_access *rec = slow_call(c, kind, addr, size, info, NULL, NULL, buf, &rc);
    return rec ? give_in(rec, buf, size, info) : rc;
}

/* A read-like call (read, fetch, io-in): match it, then answer with the recorded data. */
static inline __attribute__((always_inline)) int answer_in(struct replay_ctx *c, uint8_t kind,
                                                           uint64_t addr, void *buf, uint32_t size,
                                                           struct hvt_op_info *info)
{
    const struct hvt_access *rec = fast_take(c, kind, addr, size, info, NULL, NULL);
    if (__builtin_expect(!rec, 0))
        return answer_in_slow(c, kind, addr, buf, size, info);
    return give_in(rec, buf, size, info);
}

/* A write-like call that did not match in place. */
static __attribute__((noinline)) int answer_out_slow(struct replay_ctx *c, uint8_t kind,
                                                     uint64_t addr, const void *buf, uint32_t size,
                                                     struct hvt_op_info *info)
{
    int rc;
    const struct hvt_access *rec = slow_call(c, kind, addr, size, info, buf, NULL, NULL, &rc);
    if (!rec)
        return rc;
    info->space = rec->space;
    return rec->outcome;
}

/* A write-like call (write, io-out): its data is part of what must match. */
static inline __attribute__((always_inline)) int answer_out(struct replay_ctx *c, uint8_t kind,
                                                            uint64_t addr, const void *buf,
                                                            uint32_t size, struct hvt_op_info *info)
{
    const struct hvt_access *rec = fast_take(c, kind, addr, size, info, buf, NULL);
    if (__builtin_expect(!rec, 0))
        return answer_out_slow(c, kind, addr, buf, size, info);
    info->space = rec->space;
    return rec->outcome;
}

static int op_read(void *ctx, uint64_t gpa, void *buf, uint32_t size, struct hvt_op_info *info)
{
    return answer_in(ctx, info->kind == HVT_ACC_FETCH ? HVT_ACC_FETCH : HVT_ACC_READ, gpa, buf,
                     size, info);
}

static int op_write(void *ctx, uint64_t gpa, const void *buf, uint32_t size,
                    struct hvt_op_info *info)
{
    return answer_out(ctx, HVT_ACC_WRITE, gpa, buf, size, info);
}

static int op_cmpxchg(void *ctx, uint64_t gpa, void *old, const void *new_, uint32_t size,
                      struct hvt_op_info *info)
{
    struct replay_ctx *c = ctx;
    int rc;
    const struct hvt_access *rec = fast_take(c, HVT_ACC_CMPXCHG, gpa, size, info, new_, old);
    if (!rec && !(rec = slow_call(c, HVT_ACC_CMPXCHG, gpa, size, info, new_, old, old, &rc)))
        return rc;
    info->space = rec->space;
    if (rec->outcome == HVT_OP_CMPXCHG_FAILED)
        memcpy(old, rec->cur, size);
    return rec->outcome;
}

static int op_io_in(void *ctx, uint16_t port, void *buf, uint32_t size, struct hvt_op_info *info)
{
    return answer_in(ctx, HVT_ACC_IO_IN, port, buf, size, info);
}

static int op_io_out(void *ctx, uint16_t port, const void *buf, uint32_t size,
                     struct hvt_op_info *info)
{
    return answer_out(ctx, HVT_ACC_IO_OUT, port, buf, size, info);
}

static const struct hvt_core_ops replay_ops = {
    sizeof(struct hvt_core_ops), op_read, op_write, op_cmpxchg, op_io_in, op_io_out,
};

/* Outcome fields that must match; NULL when they do. */
static const char *outcome_differs(const struct hvt_pass_outcome *r,
                                   const struct hvt_pass_outcome *g)
{
    if (r->kind != g->kind)
        return "outcome";
    if (r->kind == HVT_OUT_RETRY && r->retry_cause != g->retry_cause)
        return "retry cause";
    if (r->kind == HVT_OUT_EXCEPTION) {
        if (r->vector != g->vector)
            return "exception vector";
        if ((r->flags ^ g->flags) & HVT_PO_HAS_ERROR_CODE)
            return "error code presence";
        if ((r->flags & HVT_PO_HAS_ERROR_CODE) && r->error_code != g->error_code)
            return "error code";
        if (r->vector == 14 && r->cr2 != g->cr2)
            return "cr2";
    }
    if (r->iterations != g->iterations)
        return "iterations";
    /* what the instruction leaves for the next one, when both sides report it */
    if ((r->retire & g->retire & HVT_RETIRE_REPORTED) && r->retire != g->retire)
        return "retire flags (interrupt shadow, HLT, single-step)";
    return NULL;
}

/* " (rax: recorded 0x.., replayed 0x..)" for the first differing general register, RIP or
 * RFLAGS of A (recorded) and B (replayed); "" when none of them differs. */
static void first_diff_values(const struct hvt_vcpu_state *a, const struct hvt_vcpu_state *b,
                              char *buf, size_t len)
{
    static const char *const gpr[16] = {"rax", "rcx", "rdx", "rbx", "rsp", "rbp", "rsi", "rdi",
                                        "r8",  "r9",  "r10", "r11", "r12", "r13", "r14", "r15"};
    const char *name = NULL;
    uint64_t x = 0, y = 0;
    for (int i = 0; i < 16 && !name; i++)
        if (a->gpr[i] != b->gpr[i])
            name = gpr[i], x = a->gpr[i], y = b->gpr[i];
    if (!name && a->rip != b->rip)
        name = "rip", x = a->rip, y = b->rip;
    if (!name && a->rflags != b->rflags)
        name = "rflags", x = a->rflags, y = b->rflags;
    if (!name) {
        buf[0] = 0;
        return;
    }
    snprintf(buf, len, " (%s: recorded 0x%" PRIx64 ", replayed 0x%" PRIx64 ")", name, x, y);
}

/* The mask of the REP count register for EV's instruction (its address size). */
static uint64_t count_mask(const struct hvt_event *ev)
{
    const struct hvt_vcpu_state *st = &ev->init;
    int long64 = (st->seg[HVT_SEG_CS].attr & HVT_SEG_ATTR_L) && (st->efer & HVT_EFER_LMA);
    int d = (st->seg[HVT_SEG_CS].attr & HVT_SEG_ATTR_DB) != 0;
    int a67 = 0;
    for (unsigned i = 0; i < ev->insn_len && i < HVT_INSN_MAX; i++) {
        uint8_t b = ev->insn[i];
        if (b == 0x67)
            a67 = 1;
        else if (!(b == 0x66 || b == 0xf2 || b == 0xf3 || b == 0x2e || b == 0x36 || b == 0x3e ||
                   b == 0x26 || b == 0x64 || b == 0x65 || b == 0xf0 ||
                   (long64 && b >= 0x40 && b <= 0x4f)))
            break;
    }
    if (long64)
        return a67 ? 0xffffffffull : ~0ull;
    return (d ^ a67) ? 0xffffffffull : 0xffffull;
}

/* Replays pass K of EV (STR: hvt_rpl_is_string_insn of EV). Returns 1 when the core cannot replay
 * it (UNIMPLEMENTED where the recording got further), 0 otherwise (mismatches are in the findings),
 * or a negative error. A core that runs one REP iteration per call (OKAY, RIP unchanged, the count
 * stepped) is called again until it has done what the recorded pass did: the iterations add up, and
 * its elements are numbered on from the earlier calls'. */
static int replay_pass(struct hvt_rpl_engine *e, const struct hvt_event *ev, int str, uint32_t k,
                       struct hvt_rpl_event_report *rep, struct hvt_pass_outcome *out,
                       struct hvt_vcpu_state *end)
{
    const struct hvt_pass *p = &ev->passes[k];
    struct replay_ctx c;
    struct hvt_core_result res;
    const char *why;
    uint64_t rip0, mask = 0;
    uint32_t done = 0, calls = 0;
    int rc;

    memset(&c, 0, sizeof(c));
    c.e = e;
    c.ev = ev;
    c.p = p;
    c.acc = p->accesses;
    c.string_insn = str;
    /* in place only in strict mode, without a call log */
    c.fast_n =
        e->match != HVT_RPL_MATCH_SEMANTIC && !e->log_calls && !e->slow_take ? p->n_accesses : 0;
    if (e->match == HVT_RPL_MATCH_SEMANTIC) {
        rc = hvt_rpl_sem_begin(&e->sem, p);
        if (rc < 0)
            return rc;
        c.sem = &e->sem;
    }
    *end = *hvt_rpl_pass_start(ev, k);
    rip0 = end->rip;
    if (c.string_insn)
        mask = count_mask(ev);
    e->calls.n = 0;
    for (;;) {
        uint64_t rcx0 = end->gpr[HVT_RCX];
        uint32_t n;
        memset(&res, 0, sizeof(res));
        rc = hvt_core_emulate2(e->core, end, NULL, &replay_ops, &c, &res);
        e->n_fast_takes += c.n_fast;
        c.n_fast = 0;
        if (rc < 0)
            return rc;
        if (c.oom)
            return -HVT_E_NOMEM;
        calls++;
        n = res.out.iterations ? res.out.iterations
                               : (uint32_t)((rcx0 - end->gpr[HVT_RCX]) & mask);
        done += n;
        if (c.mismatch || !c.string_insn || res.out.kind != HVT_OUT_OKAY || end->rip != rip0 ||
            n == 0 || done > p->out.iterations ||
            (done == p->out.iterations && p->out.kind == HVT_OUT_OKAY) ||
            calls > p->out.iterations + 1)
            break;
        c.elem_base = done;
    }
    res.out.iterations = done;
    *out = res.out;
    if (res.out.kind == HVT_OUT_UNIMPLEMENTED && p->out.kind != HVT_OUT_UNIMPLEMENTED &&
        !c.mismatch) {
        snprintf(rep->why, sizeof(rep->why), "pass %u: the core does not implement it (%s)", k,
                 res.detail[0] ? res.detail : "unimplemented");
        return 1;
    }
    if (c.mismatch)
        return 0;
    if (c.sem) {
        hvt_rpl_sem_finish(&c);
        if (c.mismatch)
            return 0;
    } else if (c.next < p->n_accesses) {
        mismatch(&c, NULL, -1, "the core made fewer accesses than recorded", "");
        return 0;
    }
    why = outcome_differs(&p->out, &res.out);
    if (why) {
        struct hvt_rpl_finding *f = hvt_rpl_fvec_add(&e->fv, HVT_RPL_REPLAY_MISMATCH, k, k);
        if (f)
            snprintf(f->detail, sizeof(f->detail),
                     "%s differs: recorded %s vector %u error "
                     "0x%x iterations %u, replayed %s vector %u error 0x%x iterations %u",
                     why, hvt_outcome_name(p->out.kind), p->out.vector, p->out.error_code,
                     p->out.iterations, hvt_outcome_name(res.out.kind), res.out.vector,
                     res.out.error_code, res.out.iterations);
        return 0;
    }
    {
        char regs[120];
        if (hvt_rpl_state_diff_rep(&p->end, end, regs, sizeof(regs), NULL)) {
            struct hvt_rpl_finding *f = hvt_rpl_fvec_add(&e->fv, HVT_RPL_REPLAY_MISMATCH, k, k);
            if (f) {
                char vals[64];
                first_diff_values(&p->end, end, vals, sizeof(vals));
                snprintf(f->detail, sizeof(f->detail),
                         "end state differs from the recorded one: %.80s%s", regs, vals);
            }
        }
    }
    return 0;
}

/* ---- engine -------------------------------------------------------------------------------- */

/* a note from setting up E, "; "-separated from the earlier ones */
#define engine_warn(e, ...) hvt_text_append((e)->warnings, sizeof((e)->warnings), "; ", __VA_ARGS__)

const char *hvt_rpl_match_name(unsigned match)
{
    static const char *const names[HVT_RPL_MATCH__COUNT] = {"auto", "strict", "semantic"};
    return match < HVT_RPL_MATCH__COUNT ? names[match] : "?";
}

static const char *str_or(const char *s, const char *dflt)
{
    return s && s[0] ? s : dflt;
}

/* AUTO: strict for the recording's own core (same name and build id), semantic otherwise. */
static void resolve_match(struct hvt_rpl_engine *e, unsigned want, const struct hvt_fmt_header *hdr)
{
    const struct hvt_core_plugin *ci = hvt_core_info(e->core);
    const char *name = str_or(ci ? ci->name : NULL, "?"), *build = str_or(ci ? ci->build_id : NULL, "?");
    const char *rname = str_or(hdr ? hdr->core_name : NULL, "?");
    const char *rbuild = str_or(hdr ? hdr->core_build_id : NULL, "?");
    /* no header (an engine driven event by event): nothing says another core recorded it */
    int same = !hdr || (!strcmp(name, rname) && !strcmp(build, rbuild));

    if (want == HVT_RPL_MATCH_STRICT || want == HVT_RPL_MATCH_SEMANTIC) {
        e->match = want;
        snprintf(e->match_why, sizeof(e->match_why), "asked for");
        return;
    }
    e->match = same ? HVT_RPL_MATCH_STRICT : HVT_RPL_MATCH_SEMANTIC;
    if (!hdr)
        snprintf(e->match_why, sizeof(e->match_why), "no trace header to compare the core with");
    else if (same)
        snprintf(e->match_why, sizeof(e->match_why), "core %.40s build %.40s made the recording",
                 name, build);
    else
        snprintf(e->match_why, sizeof(e->match_why),
                 "core %.30s build %.30s is not the recording's (%.30s build %.30s)", name,
                 build, rname, rbuild);
}

unsigned hvt_rpl_engine_match(const struct hvt_rpl_engine *e, char *why, size_t len)
{
    if (!e)
        return HVT_RPL_MATCH_STRICT;
    if (why && len)
        snprintf(why, len, "%s", e->match_why);
    return e->match;
}

int hvt_rpl_engine_new(struct hvt_rpl_engine **out, const struct hvt_rpl_options *opt,
                       const struct hvt_fmt_header *hdr, char *errbuf, size_t errlen)
{
    struct hvt_rpl_engine *e;
    struct hvt_rpl_options o; /* the caller's, in this library's layout */
    int rc;

    if (errbuf && errlen)
        errbuf[0] = 0;
    if (!out)
        return -HVT_E_INVALID;
    *out = NULL;
    if (!opt || hvt_rpl_options_in(&o, opt) || o.cache >= HVT_RPL_CACHE__COUNT ||
        o.match >= HVT_RPL_MATCH__COUNT) {
        if (errbuf && errlen)
            snprintf(errbuf, errlen, "bad replay options");
        return -HVT_E_INVALID;
    }
    opt = &o;
    e = calloc(1, sizeof(*e));
    if (!e)
        return -HVT_E_NOMEM;
    e->cache = opt->cache;
    e->flags = opt->flags;
    rc = hvt_core_open(&e->core, opt->core, errbuf, errlen);
    if (rc < 0) {
        free(e);
        return rc;
    }
    /* The guest's CPU first (the trace's, or the what-if), then the recording's core options
     * (core.KEY), so that a replay reproduces the recorded configuration; the caller's
     * options then override them. */
    {
        char w[512];
        if (opt->cpu) {
            e->cpu = *opt->cpu;
            e->cpu_source = HVT_RPL_CPU_OVERRIDE;
        } else if (hdr) {
            int src = hvt_fmt_header_cpu(hdr, &e->cpu, w, sizeof(w));
            e->cpu_source = src == HVT_FMT_CPU_RECORDED || src == HVT_FMT_CPU_PARTIAL
                                ? HVT_RPL_CPU_TRACE
                                : HVT_RPL_CPU_DEFAULT;
            if (w[0])
                engine_warn(e, "%s", w);
        } else {
            hvt_cpu_profile_default(&e->cpu);
            e->cpu_source = HVT_RPL_CPU_DEFAULT;
        }
        rc = hvt_core_set_cpu(e->core, &e->cpu);
        if (rc == -HVT_E_UNSUPPORTED) {
            const struct hvt_core_plugin *ci = hvt_core_info(e->core);
            engine_warn(e, "core %s does not take a CPU profile: it follows its own CPU model",
                        ci && ci->name ? ci->name : "?");
        } else if (rc < 0) {
            if (errbuf && errlen)
                snprintf(errbuf, errlen, "the core refuses the CPU profile %s: %s", e->cpu.name,
                         hvt_strerror(rc));
            hvt_rpl_engine_free(e);
            return rc;
        }
    }
    resolve_match(e, opt->match, hdr);
    for (size_t i = 0; hdr && hdr->options && i < hdr->n_options; i++) {
        const struct hvt_kv *kv = &hdr->options[i];
        if (!kv->key || !kv->value || strncmp(kv->key, "core.", 5))
            continue;
        rc = hvt_core_set_option(e->core, kv->key + 5, kv->value);
        if (rc == -HVT_E_UNSUPPORTED) {
            /* a trace made with another core (or a newer build): its option means nothing to
             * this core, which replays without it */
            const struct hvt_core_plugin *ci = hvt_core_info(e->core);
            engine_warn(e, "the trace's core option %s=%s is unknown to core %s: skipped",
                        kv->key + 5, kv->value, ci && ci->name ? ci->name : "?");
            continue;
        }
        if (rc < 0) {
            if (errbuf && errlen)
                snprintf(errbuf, errlen, "the trace's core option %s=%s: %s", kv->key + 5,
                         kv->value, hvt_strerror(rc));
            hvt_rpl_engine_free(e);
            return rc;
        }
    }
    for (size_t i = 0; opt->core_options && i < opt->n_core_options; i++) {
        const struct hvt_kv *kv = &opt->core_options[i];
        rc = hvt_core_set_option(e->core, kv->key, kv->value);
        if (rc < 0) {
            if (errbuf && errlen)
                snprintf(errbuf, errlen, "core option %s=%s: %s", kv->key ? kv->key : "?",
                         kv->value ? kv->value : "?", hvt_strerror(rc));
            hvt_rpl_engine_free(e);
            return rc;
        }
    }
    *out = e;
    return 0;
}

const struct hvt_cpu_profile *hvt_rpl_engine_cpu(const struct hvt_rpl_engine *e, int *source)
{
    if (!e)
        return NULL;
    if (source)
        *source = e->cpu_source;
    return &e->cpu;
}

const char *hvt_rpl_engine_warnings(const struct hvt_rpl_engine *e)
{
    return e ? e->warnings : NULL;
}

void hvt_rpl_engine_free(struct hvt_rpl_engine *e)
{
    if (!e)
        return;
    hvt_core_close(e->core);
    hvt_rpl_fvec_free(&e->fv);
    hvt_rpl_scratch_free(&e->sc);
    hvt_rpl_avec_free(&e->calls);
    hvt_rpl_sem_free(&e->sem);
    hvt_rpl_disasm_close(&e->dis);
    for (uint32_t i = 0; e->simacc && i < e->sim_cap; i++)
        hvt_rpl_avec_free(&e->simacc[i]);
    free(e->simacc);
    free(e->sim);
    free(e);
}

int hvt_rpl_engine_event(struct hvt_rpl_engine *e, const struct hvt_event *ev,
                         const struct hvt_fmt_chunk *chunk, struct hvt_rpl_event_report *rep)
{
    int replay, rc = 0, str;

    if (!e || !ev || !rep || (ev->n_passes && !ev->passes))
        return -HVT_E_INVALID;
    memset(rep, 0, sizeof(*rep));
    rep->ev = ev;
    rep->chunk = chunk;
    e->fv.n = 0;
    e->fv.oom = 0;
    strcpy(rep->mnemonic, "?");
    for (uint32_t k = 0; k < ev->n_passes; k++) {
        if (ev->passes[k].n_accesses && !ev->passes[k].accesses)
            return -HVT_E_INVALID;
        rep->accesses += ev->passes[k].n_accesses;
    }

    replay = !(e->flags & HVT_RPL_NO_REPLAY);
    str = hvt_rpl_is_string_insn(ev);
    if (ev->flags & HVT_EV_INCOMPLETE) {
        rep->status = HVT_RPL_ST_SKIPPED;
        snprintf(rep->why, sizeof(rep->why), "records of this event were lost");
        replay = 0;
    }
    for (uint32_t k = 0; replay && k < ev->n_passes; k++) {
        struct hvt_pass_outcome out;
        struct hvt_vcpu_state end;
        if (ev->passes[k].lost) {
            if (rep->status == HVT_RPL_ST_REPLAYED) {
                rep->status = HVT_RPL_ST_SKIPPED;
                snprintf(rep->why, sizeof(rep->why), "pass %u lost %u accesses", k,
                         ev->passes[k].lost);
            }
            continue;
        }
        rc = replay_pass(e, ev, str, k, rep, &out, &end);
        if (rc < 0)
            return rc;
        if (rc == 1) {
            rep->status = HVT_RPL_ST_CANNOT;
            break;
        }
    }
    if (!(e->flags & HVT_RPL_NO_ANALYSIS) && ev->n_passes >= 1) {
        rc = hvt_rpl_analyze(&e->fv, &e->sc, ev, ev->passes, ev->n_passes);
        if (rc < 0)
            return rc;
    }
    for (size_t i = 0; i < e->fv.n; i++)
        rep->n_divergent += !hvt_rpl_class_benign(e->fv.v[i].cls);
    if (e->cache != HVT_RPL_CACHE_NONE && ev->n_passes >= 2) {
        int any = 0;
        for (size_t i = 0; i < e->fv.n; i++)
            any |=
                !hvt_rpl_class_benign(e->fv.v[i].cls) && e->fv.v[i].cls != HVT_RPL_REPLAY_MISMATCH;
        if (any) {
            rc = hvt_rpl_whatif(e, ev, rep);
            if (rc < 0)
                return rc;
        }
    }
    if (rep->n_findings == 0 && (e->fv.n || rep->status == HVT_RPL_ST_CANNOT))
        hvt_rpl_disasm_ctx(&e->dis, &ev->init, ev->insn, ev->insn_len, rep->mnemonic,
                           sizeof(rep->mnemonic), rep->disasm, sizeof(rep->disasm));
    rep->n_findings = e->fv.n;
    rep->findings = e->fv.v;
    if (e->fv.oom)
        return -HVT_E_NOMEM;
    return 0;
}

/* ---- two cores on the same answers ---------------------------------------------------------- */

int hvt_rpl_engine_compare(struct hvt_rpl_engine *a, struct hvt_rpl_engine *b,
                           const struct hvt_event *ev, char *detail, size_t len)
{
    struct hvt_rpl_event_report ra, rb;
    struct rpl_avec save = {0};
    int rc = 0, str;

    if (!a || !b || !ev || (ev->n_passes && !ev->passes))
        return -HVT_E_INVALID;
    if (detail && len)
        detail[0] = 0;
    memset(&ra, 0, sizeof(ra));
    memset(&rb, 0, sizeof(rb));
    a->log_calls = b->log_calls = 1;
    str = hvt_rpl_is_string_insn(ev);
    for (uint32_t k = 0; k < ev->n_passes && !rc; k++) {
        struct hvt_pass_outcome oa, ob;
        struct hvt_vcpu_state ea, eb;
        char regs[120];
        const char *why;
        char wbuf[96];
        int ua, ub;
        if (ev->passes[k].lost)
            continue;
        a->fv.n = b->fv.n = 0;
        ua = replay_pass(a, ev, str, k, &ra, &oa, &ea);
        if (ua < 0) {
            rc = ua;
            break;
        }
        save.n = 0;
        for (uint32_t i = 0; i < a->calls.n; i++) {
            if (hvt_rpl_avec_push(&save, &a->calls.v[i]) < 0) {
                rc = -HVT_E_NOMEM;
                break;
            }
        }
        if (rc)
            break;
        ub = replay_pass(b, ev, str, k, &rb, &ob, &eb);
        if (ub < 0) {
            rc = ub;
            break;
        }
        for (uint32_t i = 0; i < save.n || i < b->calls.n; i++) {
            if (i >= save.n || i >= b->calls.n) {
                if (detail)
                    snprintf(detail, len, "pass %u: %s core makes more accesses (%u vs %u)", k,
                             i >= save.n ? "bad" : "good", save.n, b->calls.n);
                rc = 1;
                break;
            }
            why = hvt_rpl_access_differs(&save.v[i], &b->calls.v[i], wbuf, sizeof(wbuf));
            if (why) {
                if (detail)
                    snprintf(detail, len,
                             "pass %u access %u: %s differs (phys 0x%" PRIx64 " vs 0x%" PRIx64 ")",
                             k, i, why, save.v[i].phys, b->calls.v[i].phys);
                rc = 1;
                break;
            }
        }
        if (rc)
            break;
        why = outcome_differs(&oa, &ob);
        if (why) {
            if (detail)
                snprintf(detail, len, "pass %u: %s differs (%s vs %s)", k, why,
                         hvt_outcome_name(oa.kind), hvt_outcome_name(ob.kind));
            rc = 1;
            break;
        }
        if (hvt_rpl_state_diff_rep(&ea, &eb, regs, sizeof(regs), NULL)) {
            if (detail)
                snprintf(detail, len, "pass %u: end state differs: %s", k, regs);
            rc = 1;
        }
    }
    a->log_calls = b->log_calls = 0;
    a->fv.n = b->fv.n = 0;
    hvt_rpl_avec_free(&save);
    return rc;
}
