/* SPDX-License-Identifier: MIT */
/* hvtrace format tests: random events (every field exercised) and field-by-field comparison. */
#ifndef HVT_TEST_FORMAT_GEN_H
#define HVT_TEST_FORMAT_GEN_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hvt_test.h"
#include "hvtrace/format.h"

static uint64_t gen_seed = 0x9e3779b97f4a7c15ull;
static uint64_t rnd(void)
{
    gen_seed ^= gen_seed << 13;
    gen_seed ^= gen_seed >> 7;
    gen_seed ^= gen_seed << 17;
    return gen_seed;
}
static uint64_t rndn(uint64_t n)
{
    return n ? rnd() % n : 0;
}
/* mostly small values, sometimes anything */
static uint64_t rndv(void)
{
    switch (rndn(4)) {
    case 0:
        return rnd();
    case 1:
        return rndn(256);
    case 2:
        return 0xffffffff80000000ull + rndn(1u << 20);
    default:
        return rndn(1u << 20);
    }
}

static void gen_state(struct hvt_vcpu_state *s, const struct hvt_vcpu_state *like)
{
    if (like && rndn(3)) {
        *s = *like;
        for (int i = 0, n = (int)rndn(4); i < n; i++)
            s->gpr[rndn(16)] = rndv();
        s->rip += rndn(16);
        if (!rndn(4))
            s->rflags ^= 1u << rndn(12);
        return;
    }
    memset(s, 0, sizeof(*s));
    for (int i = 0; i < 16; i++)
        s->gpr[i] = rndv();
    s->rip = rndv();
    s->rflags = 2 | rndn(1u << 22);
    for (int i = 0; i < 8; i++) {
        s->seg[i].sel = (uint16_t)rnd();
        s->seg[i].attr = (uint32_t)rndn(1u << 17);
        s->seg[i].limit = (uint32_t)rnd();
        s->seg[i].base = rndv();
    }
    s->gdtr.base = rndv();
    s->gdtr.limit = (uint32_t)rndn(65536);
    s->idtr.base = rndv();
    s->idtr.limit = (uint32_t)rndn(65536);
    s->cr0 = rndv();
    s->cr2 = rndv();
    s->cr3 = rndv();
    s->cr4 = rndv();
    s->cr8 = rndn(16);
    s->efer = rndv();
    s->xcr0 = rndv();
    s->flags = (uint32_t)rndn(4);
    if (s->flags & HVT_STATE_PDPTE_VALID)
        for (int i = 0; i < 4; i++)
            s->pdpte[i] = rndv();
    if (s->flags & HVT_STATE_SIMD_VALID) {
        s->mxcsr = (uint32_t)rnd();
        for (int i = 0; i < 16; i++)
            for (int j = 0; j < 32; j++)
                s->ymm[i][j] = (uint8_t)(rndn(3) ? 0 : rnd());
    }
}

static void gen_access(struct hvt_access *a)
{
    memset(a, 0, sizeof(*a));
    a->kind = (uint8_t)rndn(HVT_ACC__COUNT);
    a->space = (uint8_t)rndn(HVT_SPACE__COUNT);
    a->seg = rndn(5) ? (uint8_t)rndn(10) : HVT_SEG_NONE;
    a->outcome = (uint8_t)rndn(HVT_OP__COUNT);
    a->tag.cls = (uint8_t)rndn(HVT_TAG__COUNT);
    a->tag.operand = (uint8_t)rndn(3);
    a->tag.level = (uint8_t)rndn(7);
    a->tag.element = (uint32_t)(rndn(4) ? 0 : rndv());
    a->size = (uint32_t)(1 + rndn(HVT_DATA_MAX));
    a->flags = (uint32_t)rndn(8);
    a->linear = rndv();
    a->phys = rndv();
    a->callsite = (uint32_t)rndn(6); /* 0 none, 1..5 defined by the tests */
    for (uint32_t i = 0; i < a->size; i++) {
        a->data[i] = (uint8_t)rnd();
        if (a->kind == HVT_ACC_CMPXCHG) {
            a->old[i] = (uint8_t)rnd();
            a->cur[i] = rndn(2) ? a->old[i] : (uint8_t)rnd();
        }
    }
}

/* A random event with id ID; storage from malloc, freed with gen_free. */
static struct hvt_event *gen_event(uint64_t id, const struct hvt_event *prev_same_vcpu,
                                   uint32_t vcpu)
{
    struct hvt_event *ev = calloc(1, sizeof(*ev));
    ev->id = id;
    ev->vcpu = vcpu;
    ev->flags = (uint32_t)rndn(4);
    ev->time_ns = rndv();
    gen_state(&ev->init, prev_same_vcpu ? &prev_same_vcpu->init : NULL);
    ev->insn_len = (uint8_t)rndn(HVT_INSN_MAX + 1);
    for (int i = 0; i < ev->insn_len; i++)
        ev->insn[i] = (uint8_t)rnd();
    ev->n_passes = (uint32_t)rndn(4);
    ev->passes = calloc(ev->n_passes + 1, sizeof(*ev->passes));
    for (uint32_t p = 0; p < ev->n_passes; p++) {
        struct hvt_pass *ps = &ev->passes[p];
        ps->index = p;
        ps->lost = (uint32_t)rndn(2);
        ps->out.kind = (uint8_t)rndn(HVT_OUT__COUNT);
        ps->out.retry_cause = (uint8_t)rndn(HVT_RETRY__COUNT);
        ps->out.vector = (uint8_t)rndn(32);
        ps->out.flags = (uint8_t)rndn(2);
        ps->out.error_code = (uint32_t)rndn(1u << 16);
        ps->out.cr2 = rndv();
        ps->out.iterations = (uint32_t)rndn(100);
        gen_state(&ps->end, &ev->init);
        ps->n_accesses = (uint32_t)rndn(12);
        ps->accesses = calloc(ps->n_accesses + 1, sizeof(*ps->accesses));
        for (uint32_t i = 0; i < ps->n_accesses; i++)
            gen_access(&ps->accesses[i]);
    }
    return ev;
}

__attribute__((unused)) static void gen_free(struct hvt_event *ev)
{
    if (!ev)
        return;
    for (uint32_t p = 0; p < ev->n_passes; p++)
        free(ev->passes[p].accesses);
    free(ev->passes);
    free(ev);
}

/* Compares states as the format defines them (SIMD part only when valid). */
static int state_eq(const struct hvt_vcpu_state *a, const struct hvt_vcpu_state *b)
{
    struct hvt_vcpu_state x = *a, y = *b;
    if (!(x.flags & HVT_STATE_SIMD_VALID)) {
        x.mxcsr = y.mxcsr = 0;
        memset(x.ymm, 0, sizeof(x.ymm));
        memset(y.ymm, 0, sizeof(y.ymm));
    }
    return !memcmp(&x, &y, sizeof(x));
}

static int access_eq(const struct hvt_access *a, const struct hvt_access *b)
{
    if (a->kind != b->kind || a->space != b->space || a->seg != b->seg ||
        a->outcome != b->outcome || memcmp(&a->tag, &b->tag, sizeof(a->tag)) ||
        a->size != b->size || a->flags != b->flags || a->linear != b->linear ||
        a->phys != b->phys || a->callsite != b->callsite || memcmp(a->data, b->data, a->size))
        return 0;
    if (a->kind == HVT_ACC_CMPXCHG &&
        (memcmp(a->old, b->old, a->size) || memcmp(a->cur, b->cur, a->size)))
        return 0;
    return 1;
}

/* Field-by-field comparison; reports the first difference. */
__attribute__((unused)) static int event_eq(const struct hvt_event *a, const struct hvt_event *b)
{
#define DIFF(what)                                                                                 \
    do {                                                                                           \
        fprintf(stderr, "event %" PRIu64 ": %s differs\n", a->id, what);                           \
        return 0;                                                                                  \
    } while (0)
    if (a->id != b->id || a->vcpu != b->vcpu || a->flags != b->flags || a->time_ns != b->time_ns)
        DIFF("id/vcpu/flags/time");
    if (!state_eq(&a->init, &b->init))
        DIFF("init state");
    if (a->insn_len != b->insn_len || memcmp(a->insn, b->insn, a->insn_len))
        DIFF("insn");
    if (a->n_passes != b->n_passes)
        DIFF("n_passes");
    for (uint32_t p = 0; p < a->n_passes; p++) {
        const struct hvt_pass *x = &a->passes[p], *y = &b->passes[p];
        if (x->index != y->index || x->lost != y->lost || x->n_accesses != y->n_accesses ||
            memcmp(&x->out, &y->out, sizeof(x->out)))
            DIFF("pass");
        if (!state_eq(&x->end, &y->end))
            DIFF("pass end state");
        for (uint32_t i = 0; i < x->n_accesses; i++)
            if (!access_eq(&x->accesses[i], &y->accesses[i]))
                DIFF("access");
    }
    return 1;
#undef DIFF
}

/* A writer on PATH (overwritten) with chunks of CHUNK_BYTES; the test fails if it cannot open. */
__attribute__((unused)) static struct hvt_fmt_writer *gen_writer(const char *path,
                                                                 size_t chunk_bytes)
{
    struct hvt_fmt_writer_options o;
    hvt_fmt_writer_options_init(&o);
    o.chunk_bytes = chunk_bytes;
    o.flags = HVT_FMT_W_OVERWRITE;
    struct hvt_fmt_writer *w = NULL;
    CHECK_EQ(hvt_fmt_writer_open(&w, path, NULL, &o), 0);
    return w;
}

/* A temporary file name under $TMPDIR (the build dir in ctest). */
__attribute__((unused)) static void tmp_path(char *buf, size_t n, const char *tag)
{
    const char *dir = getenv("TMPDIR");
    snprintf(buf, n, "%s/hvt_%s_%d.hvt", dir ? dir : "/tmp", tag, (int)getpid());
}

#endif
