/* SPDX-License-Identifier: MIT */
/* Recorder unit tests against an in-memory format writer: API contract, bad arguments,
 * interposer, abandoned events, event ids, call sites (with the ELF symbolizer on good and
 * malformed files), drop accounting, write errors. */
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/ram.h"
#include "fake_fmt.h"
#include "hvt_test.h"
#include "rec_gen.h"
#include "recorder/symtab.h"

static struct hvt_rec *open_fake(unsigned backpressure, size_t ring, unsigned depth)
{
    struct hvt_rec_options o;
    struct hvt_rec *rec = NULL;
    fake_reset();
    hvt_rec_options_init(&o);
    o.backpressure = backpressure;
    o.ring_bytes = ring;
    o.callsite_depth = depth;
    o.flags = HVT_REC_NO_TIME;
    CHECK_EQ(hvt_rec_open_writer(&rec, fake_writer(), &o), 0);
    return rec;
}

static struct hvt_event *item_ev(size_t i)
{
    return i < fake.n && fake.items[i].type == HVT_REC_EVENT ? fake.items[i].ev : NULL;
}

/* ---- bad arguments ---------------------------------------------------------------------- */

static void test_bad_args(void)
{
    struct hvt_rec_options o;
    struct hvt_rec *rec = NULL;
    struct hvt_rec_stats st = {.size = sizeof(st)};
    struct hvt_vcpu_state s;
    struct hvt_access a;
    struct hvt_pass_outcome out = {0};
    struct hvt_core_ops ops = {.size = sizeof(ops)}, wops;
    void *wctx;
    uint8_t insn[16] = {0};

    memset(&s, 0, sizeof(s));
    hvt_rec_options_init(NULL); /* must not crash */
    hvt_rec_options_init(&o);
    CHECK_EQ(o.size, sizeof(o));
    CHECK_EQ(hvt_rec_open(NULL, "/tmp/x", NULL, &o), -HVT_E_INVALID);
    CHECK_EQ(hvt_rec_open(&rec, NULL, NULL, &o), -HVT_E_INVALID);
    CHECK_EQ(hvt_rec_open_writer(NULL, fake_writer(), &o), -HVT_E_INVALID);
    CHECK_EQ(hvt_rec_open_writer(&rec, NULL, &o), -HVT_E_INVALID);
    o.size = 4;
    CHECK_EQ(hvt_rec_open_writer(&rec, fake_writer(), &o), -HVT_E_INVALID);
    hvt_rec_options_init(&o);
    o.backpressure = 7;
    CHECK_EQ(hvt_rec_open_writer(&rec, fake_writer(), &o), -HVT_E_INVALID);
    hvt_rec_options_init(&o);
    o.callsite_depth = HVT_REC_MAX_DEPTH + 1;
    CHECK_EQ(hvt_rec_open_writer(&rec, fake_writer(), &o), -HVT_E_INVALID);
    hvt_rec_options_init(&o);
    o.n_vcpus = 8;
    o.max_vcpus = 4;
    CHECK_EQ(hvt_rec_open_writer(&rec, fake_writer(), &o), -HVT_E_INVALID);
    hvt_rec_options_init(&o);
    o.max_vcpus = HVT_REC_MAX_VCPUS + 1;
    CHECK_EQ(hvt_rec_open_writer(&rec, fake_writer(), &o), -HVT_E_INVALID);
    hvt_rec_options_init(&o);
    o.flags = 1u << 30;
    CHECK_EQ(hvt_rec_open_writer(&rec, fake_writer(), &o), -HVT_E_INVALID);
    CHECK(rec == NULL);

    CHECK_EQ(hvt_rec_close(NULL, NULL), 0);
    CHECK_EQ(hvt_rec_error(NULL), -HVT_E_INVALID);
    CHECK_STR(hvt_rec_error_message(NULL), "");
    CHECK_EQ(hvt_rec_stats(NULL, &st), -HVT_E_INVALID);
    CHECK_EQ(hvt_rec_vcpu_add(NULL, 0), -HVT_E_INVALID);
    CHECK_EQ(hvt_rec_event_begin(NULL, 0, &s, NULL, 0), -HVT_E_INVALID);
    CHECK_EQ(hvt_rec_pass_begin(NULL, 0), -HVT_E_INVALID);
    CHECK_EQ(hvt_rec_access(NULL, 0, &a), -HVT_E_INVALID);
    CHECK_EQ(hvt_rec_pass_end(NULL, 0, &out, &s), -HVT_E_INVALID);
    CHECK_EQ(hvt_rec_event_end(NULL, 0), -HVT_E_INVALID);
    CHECK_U64(hvt_rec_last_event_id(NULL, 0), HVT_NO_EVENT);
    CHECK_EQ(hvt_rec_wrap_ops(NULL, 0, &ops, NULL, &wops, &wctx), -HVT_E_INVALID);

    rec = open_fake(HVT_REC_BLOCK, 0, 0);
    if (!rec)
        return;
    CHECK_EQ(hvt_rec_error(rec), 0);
    CHECK_STR(hvt_rec_error_message(rec), "");
    st.size = 3;
    CHECK_EQ(hvt_rec_stats(rec, &st), -HVT_E_INVALID);
    st.size = sizeof(st);
    CHECK_EQ(hvt_rec_stats(rec, NULL), -HVT_E_INVALID);
    CHECK_EQ(hvt_rec_vcpu_add(rec, 64), -HVT_E_INVALID); /* default max_vcpus is 64 */
    CHECK_EQ(hvt_rec_vcpu_add(rec, 3), 0);
    CHECK_EQ(hvt_rec_vcpu_add(rec, 3), 0);
    /* out of order calls */
    CHECK_EQ(hvt_rec_pass_begin(rec, 0), -HVT_E_INVALID);
    CHECK_EQ(hvt_rec_pass_end(rec, 0, &out, &s), -HVT_E_INVALID);
    CHECK_EQ(hvt_rec_event_end(rec, 0), -HVT_E_INVALID);
    CHECK_EQ(hvt_rec_event_begin(rec, 99, &s, NULL, 0), -HVT_E_INVALID);
    CHECK_EQ(hvt_rec_event_begin(rec, 0, NULL, NULL, 0), -HVT_E_INVALID);
    CHECK_EQ(hvt_rec_event_begin(rec, 0, &s, NULL, 3), -HVT_E_INVALID);
    CHECK_EQ(hvt_rec_event_begin(rec, 0, &s, insn, 16), -HVT_E_INVALID);
    CHECK_EQ(hvt_rec_event_begin(rec, 0, &s, insn, 15), 0);
    CHECK_EQ(hvt_rec_pass_end(rec, 0, &out, &s), -HVT_E_INVALID); /* no pass open */
    CHECK_EQ(hvt_rec_pass_begin(rec, 0), 0);
    CHECK_EQ(hvt_rec_pass_begin(rec, 0), -HVT_E_INVALID); /* already open */
    gen_access(&a, 0, 0, 0, 0);
    CHECK_EQ(hvt_rec_access(rec, 0, NULL), -HVT_E_INVALID);
    CHECK_EQ(hvt_rec_access(rec, 999, &a), -HVT_E_INVALID);
    a.size = 0;
    CHECK_EQ(hvt_rec_access(rec, 0, &a), -HVT_E_INVALID);
    a.size = HVT_DATA_MAX + 1;
    CHECK_EQ(hvt_rec_access(rec, 0, &a), -HVT_E_INVALID);
    gen_access(&a, 0, 0, 0, 0);
    a.kind = HVT_ACC__COUNT;
    CHECK_EQ(hvt_rec_access(rec, 0, &a), -HVT_E_INVALID);
    gen_access(&a, 0, 0, 0, 0);
    a.seg = 12;
    CHECK_EQ(hvt_rec_access(rec, 0, &a), -HVT_E_INVALID);
    /* access flags outside HVT_AF_* and a nonzero reserved tag byte would not survive the
     * ring record: refused, not silently cut */
    gen_access(&a, 0, 0, 0, 0);
    a.flags |= 1u << 8;
    CHECK_EQ(hvt_rec_access(rec, 0, &a), -HVT_E_INVALID);
    gen_access(&a, 0, 0, 0, 0);
    a.tag.reserved = 1;
    CHECK_EQ(hvt_rec_access(rec, 0, &a), -HVT_E_INVALID);
    gen_access(&a, 0, 0, 0, 0);
    CHECK_EQ(hvt_rec_access(rec, 0, &a), 0);
    CHECK_EQ(hvt_rec_pass_end(rec, 0, NULL, &s), -HVT_E_INVALID);
    CHECK_EQ(hvt_rec_pass_end(rec, 0, &out, NULL), -HVT_E_INVALID);
    CHECK_EQ(hvt_rec_pass_end(rec, 0, &out, &s), 0);
    CHECK_EQ(hvt_rec_event_end(rec, 0), 0);
    CHECK_EQ(hvt_rec_event_end(rec, 0), -HVT_E_INVALID);
    CHECK_U64(hvt_rec_last_event_id(rec, 0), 0);
    CHECK_U64(hvt_rec_last_event_id(rec, 1), HVT_NO_EVENT);
    CHECK_U64(hvt_rec_last_event_id(rec, 5000), HVT_NO_EVENT);
    /* wrap_ops */
    CHECK_EQ(hvt_rec_wrap_ops(rec, 0, NULL, NULL, &wops, &wctx), -HVT_E_INVALID);
    CHECK_EQ(hvt_rec_wrap_ops(rec, 0, &ops, NULL, NULL, &wctx), -HVT_E_INVALID);
    CHECK_EQ(hvt_rec_wrap_ops(rec, 0, &ops, NULL, &wops, NULL), -HVT_E_INVALID);
    CHECK_EQ(hvt_rec_wrap_ops(rec, 64, &ops, NULL, &wops, &wctx), -HVT_E_INVALID);
    ops.size = 8;
    CHECK_EQ(hvt_rec_wrap_ops(rec, 0, &ops, NULL, &wops, &wctx), -HVT_E_INVALID);
    ops.size = sizeof(ops);
    CHECK_EQ(hvt_rec_wrap_ops(rec, 0, &ops, NULL, &wops, &wctx), 0);
    CHECK(wops.read == NULL && wops.write == NULL); /* inner NULL ops stay NULL */
    CHECK_EQ(hvt_rec_close(rec, &st), 0);
    CHECK_U64(st.events, 1);
    CHECK_U64(st.accesses, 1);
    /* the six refused accesses of the pass are where the lost-records marker says */
    CHECK(fake.n == 2 && fake.items[0].type == HVT_REC_LOST && fake.items[0].lost.count == 6 &&
          fake.items[0].lost.access == 0);
    CHECK(fake.n == 2 && item_ev(1) && item_ev(1)->insn_len == 15 &&
          item_ev(1)->flags == HVT_EV_INCOMPLETE);
}

/* ---- one event, read back exactly --------------------------------------------------------- */

static void test_roundtrip(void)
{
    struct hvt_rec *rec = open_fake(HVT_REC_BLOCK, 0, 0);
    struct hvt_rec_stats st = {.size = sizeof(st)};
    uint64_t lost = 99;

    if (!rec)
        return;
    for (uint64_t e = 0; e < 50; e++)
        gen_record(rec, 2, e, 6);
    CHECK_EQ(hvt_rec_close(rec, &st), 0);
    CHECK_U64(st.events, 50);
    CHECK_U64(st.dropped, 0);
    CHECK_EQ(fake.n, 50);
    CHECK_EQ(fake.order_violation, 0);
    for (size_t i = 0; i < fake.n && i < 50; i++) {
        struct hvt_event *ev = item_ev(i);
        CHECK(ev != NULL);
        if (!ev)
            continue;
        CHECK_U64(ev->id, i);
        CHECK_EQ(ev->vcpu, 2);
        CHECK_EQ(ev->flags, 0);
        CHECK(gen_check_event(ev, i, 6, &lost));
        CHECK_U64(lost, 0);
    }
    CHECK(st.max_ring_fill > 0 && st.max_ring_fill <= st.ring_bytes);
}

/* The writer reuses its state buffers from event to event and copies into each only the words
 * changed since it last held the base: pass counts that jump around (so a pass-end buffer is
 * refreshed after 1, a few, or more deltas than the writer keeps a log of), SIMD state coming
 * and going, a pass left open by an abandoned event. Every state must come out whole. */
static void st_make(struct hvt_vcpu_state *st, uint64_t e, uint32_t p)
{
    uint64_t h = gen_mix(e * 977 + p);
    memset(st, 0, sizeof(*st));
    st->rip = 0x1000 + e;
    st->gpr[h % 16] = h;
    st->gpr[(h >> 8) % 16] = e;
    st->cr3 = 0x1000 * ((e / 7) % 3);
    st->seg[(h >> 16) % 6].base = e / 11;
    if ((e / 3) % 2) {
        st->flags = HVT_STATE_SIMD_VALID;
        st->ymm[(h >> 20) % 16][(h >> 24) % 32] = (uint8_t)(e + p);
        st->ymm[5][0] = (uint8_t)(e / 5);
    }
}

static void test_state_reuse(void)
{
    static const uint32_t passes[] = {1, 20, 3, 0, 17, 2, 1, 19, 5, 18, 1, 1, 4, 20, 2, 0};
    enum { N = 96 };
    struct hvt_rec *rec = open_fake(HVT_REC_BLOCK, 0, 0);
    struct hvt_rec_stats st = {.size = sizeof(st)};
    struct hvt_vcpu_state s;
    struct hvt_pass_outcome o;
    int bad = 0;

    if (!rec)
        return;
    for (uint64_t e = 0; e < N; e++) {
        uint32_t np = passes[e % 16];
        st_make(&s, e, 0);
        hvt_rec_event_begin(rec, 3, &s, NULL, 0);
        for (uint32_t p = 0; p < np; p++) {
            memset(&o, 0, sizeof(o));
            o.kind = p + 1 < np ? HVT_OUT_RETRY : HVT_OUT_OKAY;
            o.retry_cause = p + 1 < np ? HVT_RETRY_MMIO : 0;
            hvt_rec_pass_begin(rec, 3);
            st_make(&s, e, p + 1);
            hvt_rec_pass_end(rec, 3, &o, &s);
        }
        if (e % 16 == 9)
            hvt_rec_pass_begin(rec, 3); /* left open: the next begin abandons the event */
        else
            hvt_rec_event_end(rec, 3);
    }
    CHECK_EQ(hvt_rec_close(rec, &st), 0);
    CHECK_EQ(fake.n, N);
    for (size_t i = 0; i < fake.n && i < N; i++) {
        const struct hvt_event *ev = item_ev(i);
        uint32_t np = passes[i % 16], extra = i % 16 == 9;
        if (!ev || ev->n_passes != np + extra) {
            bad++;
            continue;
        }
        st_make(&s, i, 0);
        if (memcmp(&ev->init, &s, sizeof(s)))
            bad++;
        for (uint32_t p = 0; p < np; p++) {
            st_make(&s, i, p + 1);
            if (memcmp(&ev->passes[p].end, &s, sizeof(s)))
                bad++;
        }
        /* the open pass ends in the last state recorded */
        if (extra &&
            (ev->passes[np].out.kind != HVT_OUT_UNHANDLEABLE ||
             memcmp(&ev->passes[np].end, np ? &ev->passes[np - 1].end : &ev->init, sizeof(s))))
            bad++;
    }
    CHECK_EQ(bad, 0);
}

/* ---- interposer -------------------------------------------------------------------------- */

struct mini_ram {
    uint8_t mem[4096];
    int calls;
};

static int r_read(void *ctx, uint64_t gpa, void *buf, uint32_t size, struct hvt_op_info *info)
{
    struct mini_ram *m = ctx;
    m->calls++;
    if (gpa >= 0x800) {
        info->space = HVT_SPACE_MMIO;
        return HVT_OP_RETRY;
    }
    memcpy(buf, m->mem + gpa, size);
    return HVT_OP_OKAY;
}

static int r_write(void *ctx, uint64_t gpa, const void *buf, uint32_t size,
                   struct hvt_op_info *info)
{
    struct mini_ram *m = ctx;
    m->calls++;
    return hvt_ram_write(&(struct hvt_ram){.mem = m->mem, .size = sizeof(m->mem)}, gpa, buf, size);
}

static int r_cmpxchg(void *ctx, uint64_t gpa, void *old, const void *new_, uint32_t size,
                     struct hvt_op_info *info)
{
    struct mini_ram *m = ctx;
    m->calls++;
    return hvt_ram_cmpxchg(&(struct hvt_ram){.mem = m->mem, .size = sizeof(m->mem)}, gpa, old, new_,
                           size);
}

static int r_in(void *ctx, uint16_t port, void *buf, uint32_t size, struct hvt_op_info *info)
{
    memset(buf, 0x5a, size);
    return HVT_OP_OKAY;
}

static int r_out(void *ctx, uint16_t port, const void *buf, uint32_t size, struct hvt_op_info *info)
{
    return HVT_OP_RETRY;
}

static void test_interposer(void)
{
    struct hvt_rec *rec = open_fake(HVT_REC_BLOCK, 0, 0);
    struct hvt_core_ops inner = {sizeof(inner), r_read, r_write, r_cmpxchg, r_in, r_out}, w;
    struct mini_ram *ram = calloc(1, sizeof(*ram));
    struct hvt_op_info info;
    struct hvt_vcpu_state s;
    struct hvt_pass_outcome out = {0};
    struct hvt_rec_stats st = {.size = sizeof(st)};
    void *ctx = NULL;
    uint8_t buf[8], old[4], nw[4];
    const struct hvt_pass *p;

    if (!rec)
        return;
    memset(&s, 0, sizeof(s));
    CHECK_EQ(hvt_rec_wrap_ops(rec, 1, &inner, ram, &w, &ctx), 0);
    memset(&info, 0, sizeof(info));
    /* outside a pass: forwarded, not recorded */
    CHECK_EQ(w.read(ctx, 0x10, buf, 4, &info), HVT_OP_OKAY);
    CHECK_EQ(ram->calls, 1);

    memcpy(ram->mem + 0x10, "\x11\x22\x33\x44", 4);
    hvt_rec_event_begin(rec, 1, &s, NULL, 0);
    hvt_rec_pass_begin(rec, 1);
    memset(&info, 0, sizeof(info));
    info.kind = HVT_ACC_READ;
    info.seg = HVT_SEG_DS;
    info.flags = HVT_OPF_LINEAR_VALID;
    info.linear = 0xabc010;
    info.tag.cls = HVT_TAG_DATA;
    CHECK_EQ(w.read(ctx, 0x10, buf, 4, &info), HVT_OP_OKAY);
    CHECK_MEM(buf, "\x11\x22\x33\x44", 4);
    memset(&info, 0, sizeof(info));
    info.kind = HVT_ACC_FETCH;
    info.seg = HVT_SEG_CS;
    info.tag.cls = HVT_TAG_FETCH;
    CHECK_EQ(w.read(ctx, 0x900, buf, 2, &info), HVT_OP_RETRY); /* MMIO: inner sets space */
    memset(&info, 0, sizeof(info));
    info.kind = HVT_ACC_WRITE;
    info.tag.cls = HVT_TAG_STACK;
    CHECK_EQ(w.write(ctx, 0x20, "\x01\x02", 2, &info), HVT_OP_OKAY);
    CHECK_EQ(ram->mem[0x21], 2);
    /* cmpxchg that fails: old = expected, cur = found */
    memset(&info, 0, sizeof(info));
    info.kind = HVT_ACC_CMPXCHG;
    info.seg = HVT_SEG_NONE;
    info.tag.cls = HVT_TAG_AD;
    info.tag.level = 1;
    info.flags = HVT_OPF_LOCKED;
    memcpy(old, "\x00\x00\x00\x00", 4);
    memcpy(nw, "\x20\x00\x00\x00", 4);
    CHECK_EQ(w.cmpxchg(ctx, 0x10, old, nw, 4, &info), HVT_OP_CMPXCHG_FAILED);
    CHECK_MEM(old, "\x11\x22\x33\x44", 4);
    /* cmpxchg that succeeds */
    CHECK_EQ(w.cmpxchg(ctx, 0x10, old, nw, 4, &info), HVT_OP_OKAY);
    memset(&info, 0, sizeof(info));
    info.kind = HVT_ACC_IO_IN;
    info.seg = HVT_SEG_NONE;
    info.space = HVT_SPACE_PORT;
    info.tag.cls = HVT_TAG_IO;
    CHECK_EQ(w.io_in(ctx, 0x3f8, buf, 1, &info), HVT_OP_OKAY);
    info.kind = HVT_ACC_IO_OUT;
    CHECK_EQ(w.io_out(ctx, 0x3f9, "\x7e", 1, &info), HVT_OP_RETRY);
    out.kind = HVT_OUT_RETRY;
    hvt_rec_pass_end(rec, 1, &out, &s);
    hvt_rec_event_end(rec, 1);
    CHECK_EQ(hvt_rec_close(rec, &st), 0);
    CHECK_U64(st.outside_pass, 1);
    CHECK_U64(st.accesses, 7);
    CHECK_EQ(fake.n, 1);
    if (fake.n != 1 || !item_ev(0) || item_ev(0)->n_passes != 1) {
        free(ram);
        return;
    }
    p = &item_ev(0)->passes[0];
    CHECK_EQ(p->n_accesses, 7);
    if (p->n_accesses != 7) {
        free(ram);
        return;
    }
    CHECK_EQ(p->accesses[0].kind, HVT_ACC_READ);
    CHECK_EQ(p->accesses[0].seg, HVT_SEG_DS);
    CHECK_EQ(p->accesses[0].flags, HVT_AF_LINEAR_VALID);
    CHECK_U64(p->accesses[0].linear, 0xabc010);
    CHECK_U64(p->accesses[0].phys, 0x10);
    CHECK_EQ(p->accesses[0].size, 4);
    CHECK_MEM(p->accesses[0].data, "\x11\x22\x33\x44", 4);
    CHECK_EQ(p->accesses[1].kind, HVT_ACC_FETCH);
    CHECK_EQ(p->accesses[1].space, HVT_SPACE_MMIO);
    CHECK_EQ(p->accesses[1].outcome, HVT_OP_RETRY);
    CHECK_EQ(p->accesses[1].linear, 0);
    CHECK_EQ(p->accesses[2].kind, HVT_ACC_WRITE);
    CHECK_EQ(p->accesses[2].tag.cls, HVT_TAG_STACK);
    CHECK_MEM(p->accesses[2].data, "\x01\x02", 2);
    CHECK_EQ(p->accesses[3].kind, HVT_ACC_CMPXCHG);
    CHECK_EQ(p->accesses[3].outcome, HVT_OP_CMPXCHG_FAILED);
    CHECK_EQ(p->accesses[3].flags, HVT_AF_LOCKED);
    CHECK_EQ(p->accesses[3].tag.level, 1);
    CHECK_MEM(p->accesses[3].old, "\x00\x00\x00\x00", 4);
    CHECK_MEM(p->accesses[3].data, "\x20\x00\x00\x00", 4);
    CHECK_MEM(p->accesses[3].cur, "\x11\x22\x33\x44", 4);
    CHECK_EQ(p->accesses[4].outcome, HVT_OP_OKAY);
    CHECK_MEM(p->accesses[4].old, "\x11\x22\x33\x44", 4);
    CHECK_MEM(p->accesses[4].cur, "\x11\x22\x33\x44", 4);
    CHECK_EQ(p->accesses[5].kind, HVT_ACC_IO_IN);
    CHECK_EQ(p->accesses[5].space, HVT_SPACE_PORT);
    CHECK_U64(p->accesses[5].phys, 0x3f8);
    CHECK_EQ(p->accesses[5].data[0], 0x5a);
    CHECK_EQ(p->accesses[6].kind, HVT_ACC_IO_OUT);
    CHECK_EQ(p->accesses[6].outcome, HVT_OP_RETRY);
    CHECK_EQ(p->accesses[6].data[0], 0x7e);
    free(ram);
}

/* The checks remember good access shapes: a shape that differs from a remembered one in any
 * checked field (reserved byte, level, outcome, flags beyond a byte, the port of port I/O) is
 * still refused after it, on both the interposer's path and hvt_rec_access, and what is
 * recorded comes out field for field. */
static int r_bad_outcome(void *ctx, uint64_t gpa, void *buf, uint32_t size,
                         struct hvt_op_info *info)
{
    (void)ctx;
    (void)gpa;
    (void)info;
    memset(buf, 0x33, size);
    return 7; /* no such hvt_op_result */
}

static void test_shape_memo(void)
{
    struct hvt_rec *rec = open_fake(HVT_REC_BLOCK, 0, 0);
    struct hvt_core_ops inner = {sizeof(inner), r_read, r_write, r_cmpxchg, r_in, r_out}, w;
    struct hvt_core_ops badin = {sizeof(badin), r_bad_outcome, r_write, r_cmpxchg, r_in, r_out};
    struct hvt_core_ops wb;
    struct mini_ram *ram = calloc(1, sizeof(*ram));
    struct hvt_op_info info;
    struct hvt_access a;
    struct hvt_vcpu_state s;
    struct hvt_pass_outcome out = {0};
    struct hvt_rec_stats st = {.size = sizeof(st)};
    void *ctx = NULL, *ctxb = NULL;
    uint8_t buf[8];
    uint64_t refused = 0;
    const struct hvt_pass *p;

    if (!rec || !ram) {
        free(ram);
        return;
    }
    memset(&s, 0, sizeof(s));
    CHECK_EQ(hvt_rec_wrap_ops(rec, 0, &inner, ram, &w, &ctx), 0);
    CHECK_EQ(hvt_rec_wrap_ops(rec, 1, &badin, ram, &wb, &ctxb), 0);
    hvt_rec_event_begin(rec, 0, &s, NULL, 0);
    hvt_rec_pass_begin(rec, 0);
    hvt_rec_event_begin(rec, 1, &s, NULL, 0);
    hvt_rec_pass_begin(rec, 1);
    for (int round = 0; round < 3; round++) {
        /* good walk reads of levels 4..1, twice each: the second is answered by the memo */
        for (int level = 4; level >= 1; level--) {
            memset(&info, 0, sizeof(info));
            info.kind = HVT_ACC_READ;
            info.seg = HVT_SEG_NONE;
            info.tag.cls = HVT_TAG_WALK;
            info.tag.level = (uint8_t)level;
            info.tag.operand = 1;
            info.tag.element = (uint32_t)round; /* not part of the shape */
            CHECK_EQ(w.read(ctx, 0x100 + 8 * (uint64_t)level, buf, 8, &info), HVT_OP_OKAY);
        }
        /* the same with the reserved byte set, then with level 9: refused every time */
        memset(&info, 0, sizeof(info));
        info.kind = HVT_ACC_READ;
        info.seg = HVT_SEG_NONE;
        info.tag.cls = HVT_TAG_WALK;
        info.tag.level = 1;
        info.tag.operand = 1;
        info.tag.reserved = 1;
        w.read(ctx, 0x108, buf, 8, &info);
        CHECK(strstr(hvt_rec_last_error(rec, 0), "reserved") != NULL);
        info.tag.reserved = 0;
        info.tag.level = 9;
        w.read(ctx, 0x108, buf, 8, &info);
        CHECK(strstr(hvt_rec_last_error(rec, 0), "level") != NULL);
        /* an op that answers an outcome that does not exist: refused, not recorded as 7 & 0xff */
        memset(&info, 0, sizeof(info));
        info.kind = HVT_ACC_READ;
        info.seg = HVT_SEG_DS;
        info.tag.cls = HVT_TAG_DATA;
        wb.read(ctxb, 0x10, buf, 4, &info);
        /* hvt_rec_access: a good port read, then the same shape on a port past 0xffff, then
         * flags past a byte */
        memset(&a, 0, sizeof(a));
        a.kind = HVT_ACC_IO_IN;
        a.space = HVT_SPACE_PORT;
        a.seg = HVT_SEG_NONE;
        a.tag.cls = HVT_TAG_IO;
        a.size = 2;
        a.phys = 0x60;
        CHECK_EQ(hvt_rec_access(rec, 0, &a), 0);
        a.phys = 0x10060;
        CHECK_EQ(hvt_rec_access(rec, 0, &a), -HVT_E_INVALID);
        a.phys = 0x60;
        a.flags = 0x100;
        CHECK_EQ(hvt_rec_access(rec, 0, &a), -HVT_E_INVALID);
        /* a data write, good, twice (the second through the memo), with flags the op may set */
        memset(&a, 0, sizeof(a));
        a.kind = HVT_ACC_WRITE;
        a.seg = HVT_SEG_SS;
        a.tag.cls = HVT_TAG_STACK;
        a.size = 8;
        a.flags = HVT_AF_LINEAR_VALID | HVT_AF_SPLIT;
        a.linear = 0x7ff0;
        a.phys = 0x3ff0;
        a.data[0] = (uint8_t)(0x40 + round);
        CHECK_EQ(hvt_rec_access(rec, 0, &a), 0);
        CHECK_EQ(hvt_rec_access(rec, 0, &a), 0);
        refused += 5;
    }
    hvt_rec_pass_end(rec, 0, &out, &s);
    hvt_rec_event_end(rec, 0);
    hvt_rec_pass_end(rec, 1, &out, &s);
    hvt_rec_event_end(rec, 1);
    CHECK_EQ(hvt_rec_close(rec, &st), 0);
    CHECK_U64(st.refused, refused);
    CHECK_U64(st.accesses, 3 * 7);
    CHECK_EQ(fake.n >= 2, 1);
    for (size_t i = 0; i < fake.n; i++) {
        const struct hvt_event *ev = item_ev(i);
        if (!ev || ev->n_passes != 1)
            continue;
        p = &ev->passes[0];
        if (ev->vcpu == 1) {
            CHECK_EQ(p->n_accesses, 0); /* every access of vCPU 1 was refused */
            continue;
        }
        CHECK_EQ(p->n_accesses, 21);
        if (p->n_accesses != 21)
            continue;
        for (uint32_t k = 0; k < 21; k++) {
            const struct hvt_access *x = &p->accesses[k];
            uint32_t round = k / 7, j = k % 7;
            if (j < 4) {
                CHECK_EQ(x->kind, HVT_ACC_READ);
                CHECK_EQ(x->tag.cls, HVT_TAG_WALK);
                CHECK_EQ(x->tag.level, 4 - j);
                CHECK_EQ(x->tag.operand, 1);
                CHECK_EQ(x->tag.element, round);
                CHECK_EQ(x->tag.reserved, 0);
                CHECK_EQ(x->seg, HVT_SEG_NONE);
                CHECK_EQ(x->size, 8);
                CHECK_EQ(x->flags, 0);
                CHECK_U64(x->phys, 0x100 + 8 * (4 - j));
            } else if (j == 4) {
                CHECK_EQ(x->kind, HVT_ACC_IO_IN);
                CHECK_EQ(x->space, HVT_SPACE_PORT);
                CHECK_U64(x->phys, 0x60);
                CHECK_EQ(x->size, 2);
            } else {
                CHECK_EQ(x->kind, HVT_ACC_WRITE);
                CHECK_EQ(x->seg, HVT_SEG_SS);
                CHECK_EQ(x->tag.cls, HVT_TAG_STACK);
                CHECK_EQ(x->flags, HVT_AF_LINEAR_VALID | HVT_AF_SPLIT);
                CHECK_U64(x->linear, 0x7ff0);
                CHECK_U64(x->phys, 0x3ff0);
                CHECK_EQ(x->size, 8);
                CHECK_EQ(x->data[0], 0x40 + round);
            }
        }
    }
    free(ram);
}

/* An op larger than the core ABI allows is forwarded and shows up as a marked loss. */
static void test_interposer_oversize(void)
{
    struct hvt_rec *rec = open_fake(HVT_REC_BLOCK, 0, 0);
    struct hvt_core_ops inner = {sizeof(inner), r_read, r_write, r_cmpxchg, r_in, r_out}, w;
    struct mini_ram *ram = calloc(1, sizeof(*ram));
    struct hvt_op_info info;
    struct hvt_vcpu_state s;
    struct hvt_pass_outcome out = {0};
    struct hvt_rec_stats st = {.size = sizeof(st)};
    uint8_t big[48] = {1};
    void *ctx = NULL;

    if (!rec)
        return;
    memset(&s, 0, sizeof(s));
    memset(&info, 0, sizeof(info));
    info.tag.cls = HVT_TAG_DATA;
    CHECK_EQ(hvt_rec_wrap_ops(rec, 0, &inner, ram, &w, &ctx), 0);
    hvt_rec_event_begin(rec, 0, &s, NULL, 0);
    hvt_rec_pass_begin(rec, 0);
    CHECK_EQ(w.write(ctx, 0x40, big, 4, &info), HVT_OP_OKAY);
    CHECK_EQ(w.write(ctx, 0x40, big, sizeof(big), &info), HVT_OP_OKAY);
    CHECK_EQ(ram->calls, 2); /* forwarded all the same */
    CHECK_EQ(w.write(ctx, 0x40, big, 2, &info), HVT_OP_OKAY);
    hvt_rec_pass_end(rec, 0, &out, &s);
    hvt_rec_event_end(rec, 0);
    CHECK_EQ(hvt_rec_close(rec, &st), 0);
    CHECK_U64(st.dropped, 1);
    CHECK_EQ(fake.n, 2);
    if (fake.n == 2) {
        CHECK_EQ(fake.items[0].type, HVT_REC_LOST);
        CHECK_U64(fake.items[0].lost.count, 1);
        CHECK_EQ(fake.items[0].lost.access, 1);
        CHECK(item_ev(1) && item_ev(1)->flags == HVT_EV_INCOMPLETE);
        CHECK(item_ev(1) && item_ev(1)->passes[0].n_accesses == 2 &&
              item_ev(1)->passes[0].lost == 1);
    }
    free(ram);
}

/* ---- abandoned events, open pass at end, open event at close ------------------------------- */

static void test_abandoned(void)
{
    struct hvt_rec *rec = open_fake(HVT_REC_BLOCK, 0, 0);
    struct hvt_rec_stats st = {.size = sizeof(st)};
    struct hvt_vcpu_state s, s2;
    struct hvt_access a;
    struct hvt_pass_outcome out = {.kind = HVT_OUT_RETRY, .retry_cause = HVT_RETRY_MMIO};

    if (!rec)
        return;
    gen_state(&s, 0, 1, 0);
    gen_state(&s2, 0, 1, 1);
    gen_access(&a, 0, 1, 0, 0);
    /* event A: one pass ends RETRY, then the vCPU moves on without completing it */
    hvt_rec_event_begin(rec, 0, &s, NULL, 0);
    hvt_rec_pass_begin(rec, 0);
    hvt_rec_access(rec, 0, &a);
    hvt_rec_pass_end(rec, 0, &out, &s2);
    /* event B abandons A; B ends with a pass still open */
    hvt_rec_event_begin(rec, 0, &s, NULL, 0);
    CHECK_U64(hvt_rec_last_event_id(rec, 0), 0);
    hvt_rec_pass_begin(rec, 0);
    hvt_rec_access(rec, 0, &a);
    hvt_rec_access(rec, 0, &a);
    hvt_rec_event_end(rec, 0);
    /* event C on vCPU 1: left open with an open pass and no access at close */
    hvt_rec_event_begin(rec, 1, &s, NULL, 0);
    hvt_rec_pass_begin(rec, 1);
    CHECK_EQ(hvt_rec_close(rec, &st), 0);
    CHECK_U64(st.events, 3);
    CHECK_U64(st.abandoned, 2);
    CHECK_U64(st.incomplete, 1);
    CHECK_EQ(fake.n, 3);
    if (fake.n != 3)
        return;
    CHECK_U64(item_ev(0)->id, 0);
    CHECK_EQ(item_ev(0)->flags, HVT_EV_ABANDONED);
    CHECK_EQ(item_ev(0)->n_passes, 1);
    CHECK_EQ(item_ev(0)->passes[0].out.kind, HVT_OUT_RETRY);
    CHECK_EQ(item_ev(0)->passes[0].n_accesses, 1);
    CHECK_U64(item_ev(1)->id, 1);
    CHECK_EQ(item_ev(1)->flags, HVT_EV_INCOMPLETE);
    CHECK_EQ(item_ev(1)->n_passes, 1);
    CHECK_EQ(item_ev(1)->passes[0].n_accesses, 2);
    CHECK_EQ(item_ev(1)->passes[0].out.kind, HVT_OUT_UNHANDLEABLE);
    CHECK_U64(item_ev(2)->id, 2);
    CHECK_EQ(item_ev(2)->vcpu, 1);
    CHECK_EQ(item_ev(2)->flags, HVT_EV_ABANDONED);
    CHECK_EQ(item_ev(2)->n_passes, 1);
    CHECK_EQ(item_ev(2)->passes[0].n_accesses, 0);
}

/* ---- ids: completion order, deterministic --------------------------------------------------- */

static void interleave(struct hvt_rec *rec)
{
    struct hvt_vcpu_state s;
    struct hvt_access a;
    struct hvt_pass_outcome out = {.kind = HVT_OUT_RETRY};
    memset(&s, 0, sizeof(s));
    /* vCPU 0 starts first, waits for the device model; vCPU 1 completes two events meanwhile */
    hvt_rec_event_begin(rec, 0, &s, NULL, 0);
    hvt_rec_pass_begin(rec, 0);
    gen_access(&a, 0, 0, 0, 0);
    hvt_rec_access(rec, 0, &a);
    hvt_rec_pass_end(rec, 0, &out, &s);
    for (int k = 0; k < 2; k++) {
        s.gpr[0] = 100 + (uint64_t)k;
        hvt_rec_event_begin(rec, 1, &s, NULL, 0);
        hvt_rec_pass_begin(rec, 1);
        gen_access(&a, 1, (uint64_t)k, 0, 0);
        hvt_rec_access(rec, 1, &a);
        out.kind = HVT_OUT_OKAY;
        hvt_rec_pass_end(rec, 1, &out, &s);
        hvt_rec_event_end(rec, 1);
    }
    hvt_rec_pass_begin(rec, 0);
    hvt_rec_access(rec, 0, &a);
    hvt_rec_pass_end(rec, 0, &out, &s);
    hvt_rec_event_end(rec, 0);
}

static void test_ids(void)
{
    uint64_t first[3][2];
    for (int run = 0; run < 2; run++) {
        struct hvt_rec *rec = open_fake(HVT_REC_BLOCK, 0, 0);
        if (!rec)
            return;
        interleave(rec);
        CHECK_EQ(hvt_rec_close(rec, NULL), 0);
        CHECK_EQ(fake.n, 3);
        CHECK_EQ(fake.order_violation, 0);
        if (fake.n != 3)
            return;
        /* completion order: vCPU 1's two events, then vCPU 0's */
        CHECK_EQ(item_ev(0)->vcpu, 1);
        CHECK_EQ(item_ev(1)->vcpu, 1);
        CHECK_EQ(item_ev(2)->vcpu, 0);
        CHECK_EQ(item_ev(2)->n_passes, 2);
        for (int i = 0; i < 3; i++) {
            CHECK_U64(item_ev((size_t)i)->id, (uint64_t)i);
            if (run == 0) {
                first[i][0] = item_ev((size_t)i)->vcpu;
                first[i][1] = item_ev((size_t)i)->init.gpr[0];
            } else {
                CHECK_U64(item_ev((size_t)i)->vcpu, first[i][0]);
                CHECK_U64(item_ev((size_t)i)->init.gpr[0], first[i][1]);
            }
        }
    }
}

/* ---- call sites ---------------------------------------------------------------------------- */

/* Exported (the test links with -rdynamic) so dladdr can name them. */
void test_cs_site_alpha(struct hvt_rec *rec, const struct hvt_access *a);
void test_cs_site_beta(struct hvt_rec *rec, const struct hvt_access *a);
void test_callsites(void);
__attribute__((noinline)) void test_cs_site_alpha(struct hvt_rec *rec, const struct hvt_access *a)
{
    hvt_rec_access(rec, 0, a);
    __asm__ volatile("" ::: "memory"); /* keep the call a call, not a tail jump */
}

__attribute__((noinline)) void test_cs_site_beta(struct hvt_rec *rec, const struct hvt_access *a)
{
    hvt_rec_access(rec, 0, a);
    __asm__ volatile("" ::: "memory");
}

/* Static, so not in the dynamic symbol table even with -rdynamic: dladdr alone cannot name it
 * (at best it names a farther exported function); the ELF symbolizer must. */
static __attribute__((noinline)) void cs_static_site(struct hvt_rec *rec,
                                                     const struct hvt_access *a)
{
    hvt_rec_access(rec, 0, a);
    __asm__ volatile("" ::: "memory");
}

__attribute__((noinline)) void test_callsites(void)
{
    struct hvt_rec *rec = open_fake(HVT_REC_BLOCK, 0, 4);
    struct hvt_rec_stats st = {.size = sizeof(st)};
    struct hvt_vcpu_state s;
    struct hvt_access a;
    struct hvt_pass_outcome out = {0};
    const struct hvt_access *acc;
    const struct fake_cs *cs;

    if (!rec)
        return;
    memset(&s, 0, sizeof(s));
    gen_access(&a, 0, 0, 0, 0);
    hvt_rec_event_begin(rec, 0, &s, NULL, 0);
    hvt_rec_pass_begin(rec, 0);
    /* one call instruction, three times (volatile: no unrolling into three call sites) */
    for (volatile int i = 0; i < 3; i++)
        test_cs_site_alpha(rec, &a);
    test_cs_site_beta(rec, &a);
    cs_static_site(rec, &a);
    hvt_rec_pass_end(rec, 0, &out, &s);
    hvt_rec_event_end(rec, 0);
    CHECK_EQ(hvt_rec_close(rec, &st), 0);
    CHECK_U64(st.callsites, 3);
    CHECK_U64(st.callsite_overflow, 0);
    if (fake.n != 1 || item_ev(0)->passes[0].n_accesses != 5) {
        CHECK(0);
        return;
    }
    acc = item_ev(0)->passes[0].accesses;
    CHECK(acc[0].callsite != 0);
    CHECK_EQ(acc[0].callsite, acc[1].callsite);
    CHECK_EQ(acc[0].callsite, acc[2].callsite);
    CHECK(acc[3].callsite != 0 && acc[3].callsite != acc[0].callsite);
    CHECK_EQ(fake.n_cs, 3);
    cs = fake_callsite(acc[0].callsite);
    CHECK(cs && cs->n >= 2);
    if (cs) {
        CHECK(cs->frames[0].function && !strcmp(cs->frames[0].function, "test_cs_site_alpha"));
        CHECK(cs->frames[0].module != NULL);
        CHECK(cs->frames[0].offset > 0 && cs->frames[0].offset < 256);
        CHECK(cs->frames[1].function && !strcmp(cs->frames[1].function, "test_callsites"));
    }
    cs = fake_callsite(acc[3].callsite);
    CHECK(cs && cs->frames[0].function && !strcmp(cs->frames[0].function, "test_cs_site_beta"));
    cs = fake_callsite(acc[4].callsite);
    CHECK(cs && cs->n >= 2);
    if (cs) {
        Dl_info di;
        /* the case dladdr alone gets wrong: it has no name (or another one) for this frame */
        CHECK(!dladdr((void *)(uintptr_t)(cs->frames[0].ip - 1), &di) || !di.dli_sname ||
              strcmp(di.dli_sname, "cs_static_site"));
        CHECK(cs->frames[0].function && !strcmp(cs->frames[0].function, "cs_static_site"));
        CHECK(cs->frames[0].module != NULL);
        CHECK(cs->frames[0].offset > 0 && cs->frames[0].offset < 256);
        CHECK(cs->frames[1].function && !strcmp(cs->frames[1].function, "test_callsites"));
    }
}

/* The call-site memo (a chain found by reading return addresses back from the stack slots they
 * were seen in) must give exactly the ids unwinding gives: one anchor reached by several paths,
 * recursion at several depths (the anchor's CFA moves), a variable-length array in the chain
 * (a frame whose size changes under the same return address), and the vCPU moving to another
 * thread (another stack). Run with the memo and without (HVT_REC_CALLSITE_MEMO=0); the ids,
 * access by access, and their chains must be the same. */
void test_cs_leaf(struct hvt_rec *rec, const struct hvt_access *a);
void test_cs_path_a(struct hvt_rec *rec, const struct hvt_access *a);
void test_cs_path_b(struct hvt_rec *rec, const struct hvt_access *a);
void test_cs_recurse(struct hvt_rec *rec, const struct hvt_access *a, int n);
void test_cs_vla(struct hvt_rec *rec, const struct hvt_access *a, int n);
__attribute__((noinline)) void test_cs_leaf(struct hvt_rec *rec, const struct hvt_access *a)
{
    hvt_rec_access(rec, 0, a);
    __asm__ volatile("" ::: "memory");
}
__attribute__((noinline)) void test_cs_path_a(struct hvt_rec *rec, const struct hvt_access *a)
{
    test_cs_leaf(rec, a);
    __asm__ volatile("" ::: "memory");
}
__attribute__((noinline)) void test_cs_path_b(struct hvt_rec *rec, const struct hvt_access *a)
{
    test_cs_leaf(rec, a);
    __asm__ volatile("" ::: "memory");
}
__attribute__((noinline)) void test_cs_recurse(struct hvt_rec *rec, const struct hvt_access *a,
                                               int n)
{
    if (n > 0)
        test_cs_recurse(rec, a, n - 1);
    else
        test_cs_leaf(rec, a);
    __asm__ volatile("" ::: "memory");
}
__attribute__((noinline)) void test_cs_vla(struct hvt_rec *rec, const struct hvt_access *a, int n)
{
    volatile char pad[n * 24 + 1];
    pad[0] = 1;
    if (n % 2)
        test_cs_path_a(rec, a);
    else
        test_cs_leaf(rec, a);
    __asm__ volatile("" ::: "memory");
    (void)pad[0];
}

struct cs_work {
    struct hvt_rec *rec;
    int round;
};

/* One event of ROUND's accesses on vCPU 0. */
static void cs_event(struct hvt_rec *rec, int round)
{
    struct hvt_access a;
    struct hvt_vcpu_state s;
    struct hvt_pass_outcome out = {0};

    memset(&s, 0, sizeof(s));
    gen_access(&a, 0, 0, 0, 0);
    hvt_rec_event_begin(rec, 0, &s, NULL, 0);
    hvt_rec_pass_begin(rec, 0);
    for (int i = 0; i < 6; i++) {
        test_cs_path_a(rec, &a);
        test_cs_path_b(rec, &a);
        test_cs_recurse(rec, &a, (i * 5 + round) % 7);
        test_cs_vla(rec, &a, (i * 3 + round) % 5);
        test_cs_leaf(rec, &a);
    }
    hvt_rec_pass_end(rec, 0, &out, &s);
    hvt_rec_event_end(rec, 0);
}

static void *cs_thread(void *p)
{
    struct cs_work *w = p;
    cs_event(w->rec, w->round);
    return NULL;
}

/* TSan's runtime crashes in libunwind's per-thread cache destructor when a thread that unwound
 * exits (an interaction of the two, not of ours): under TSan the vCPU stays on one thread. */
#if defined(__SANITIZE_THREAD__)
#define CS_TEST_THREADS 0
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define CS_TEST_THREADS 0
#endif
#endif
#ifndef CS_TEST_THREADS
#define CS_TEST_THREADS 1
#endif

static void record_cs_workload(int memo, uint32_t *ids, size_t cap, size_t *n,
                               struct hvt_rec_stats *st)
{
    struct hvt_rec *rec;

    if (!memo)
        setenv("HVT_REC_CALLSITE_MEMO", "0", 1);
    rec = open_fake(HVT_REC_BLOCK, 0, 6);
    unsetenv("HVT_REC_CALLSITE_MEMO");
    *n = 0;
    if (!rec)
        return;
    for (int round = 0; round < 4; round++) {
        if (round == 2 && CS_TEST_THREADS) { /* the vCPU moves to another thread, and back */
            pthread_t t;
            struct cs_work w = {rec, round};
            pthread_create(&t, NULL, cs_thread, &w);
            pthread_join(t, NULL);
        } else {
            cs_event(rec, round);
        }
    }
    CHECK_EQ(hvt_rec_close(rec, st), 0);
    CHECK_EQ(fake.n, 4);
    for (size_t e = 0; e < fake.n && e < 4; e++)
        for (uint32_t i = 0; i < item_ev(e)->passes[0].n_accesses && *n < cap; i++)
            ids[(*n)++] = item_ev(e)->passes[0].accesses[i].callsite;
}

static void test_callsite_memo(void)
{
    enum { CAP = 256 };
    uint32_t with[CAP], without[CAP];
    size_t nw = 0, nwo = 0;
    struct hvt_rec_stats sw = {.size = sizeof(sw)}, swo = {.size = sizeof(swo)};
    char names[CAP][96];

    record_cs_workload(0, without, CAP, &nwo, &swo);
    /* the chains unwinding found, by name (the fake writer keeps them until its reset) */
    for (size_t i = 0; i < nwo; i++) {
        const struct fake_cs *cs = fake_callsite(without[i]);
        snprintf(names[i], sizeof(names[i]), "%s<-%s<-%s",
                 cs && cs->n > 0 && cs->frames[0].function ? cs->frames[0].function : "?",
                 cs && cs->n > 1 && cs->frames[1].function ? cs->frames[1].function : "?",
                 cs && cs->n > 2 && cs->frames[2].function ? cs->frames[2].function : "?");
    }
    record_cs_workload(1, with, CAP, &nw, &sw);
    CHECK_EQ(nw, nwo);
    CHECK_EQ(nw, 4 * 6 * 5);
    CHECK_U64(swo.callsite_memo_hits, 0);
    CHECK_U64(swo.callsite_unwinds, 0); /* no memo: nothing counted */
    CHECK(sw.callsite_memo_hits > nw / 2);
    CHECK_U64(sw.callsite_memo_hits + sw.callsite_unwinds, nw);
    CHECK_U64(sw.callsites, swo.callsites);
    for (size_t i = 0; i < nw && i < nwo; i++) {
        const struct fake_cs *cs = fake_callsite(with[i]);
        char got[96];
        snprintf(got, sizeof(got), "%s<-%s<-%s",
                 cs && cs->n > 0 && cs->frames[0].function ? cs->frames[0].function : "?",
                 cs && cs->n > 1 && cs->frames[1].function ? cs->frames[1].function : "?",
                 cs && cs->n > 2 && cs->frames[2].function ? cs->frames[2].function : "?");
        /* The two runs call the workload from different places (the chains' outer frames
         * differ), so the ids differ; but they must split the accesses alike: two accesses
         * share an id with the memo exactly when they share one without it. */
        int same = 1;
        for (size_t j = 0; j < i; j++)
            if ((with[i] == with[j]) != (without[i] == without[j]))
                same = 0;
        if (!same || strcmp(got, names[i]))
            fprintf(stderr, "access %zu: memo id %u %s, unwinding id %u %s\n", i, with[i], got,
                    without[i], names[i]);
        CHECK(same);
        CHECK_STR(got, names[i]);
    }
    CHECK(nwo > 0 && !strcmp(names[0], "test_cs_leaf<-test_cs_path_a<-cs_event"));
}

/* The ELF symbolizer on this program's own file, then on damaged copies of it: truncated,
 * garbage, and random byte flips in its headers and tables must give no name, never a crash. */
static void test_symtab_files(void)
{
    static const char tmp[] = "/tmp/hvt_test_symtab.elf";
    struct hvt_rec_symtab *st = hvt_rec_symtab_new();
    uintptr_t fn = (uintptr_t)(void *)cs_static_site, start = 0, fbase;
    const char *name;
    unsigned char *img = NULL;
    size_t size = 0, cap = 0, nread;
    Dl_info di;
    FILE *f;
    unsigned seed = 12345;

    CHECK(st != NULL);
    CHECK(dladdr((void *)fn, &di) != 0);
    fbase = (uintptr_t)di.dli_fbase;
    name = hvt_rec_symtab_lookup(st, "/proc/self/exe", fbase, fn + 3, &start);
    CHECK(name && !strcmp(name, "cs_static_site"));
    CHECK(start == fn);
    CHECK(hvt_rec_symtab_lookup(st, "/proc/self/exe", fbase, fbase - 1, &start) == NULL);
    CHECK(hvt_rec_symtab_lookup(st, "/nonexistent/file", 0x1000, 0x1234, &start) == NULL);
    CHECK(hvt_rec_symtab_lookup(st, "/dev/zero", 0x2000, 0x2234, &start) == NULL);
    CHECK(hvt_rec_symtab_lookup(st, "", 0x3000, 0x3234, &start) == NULL);
    CHECK(hvt_rec_symtab_lookup(NULL, "/proc/self/exe", fbase, fn, &start) == NULL);
    hvt_rec_symtab_free(st);

    f = fopen("/proc/self/exe", "rb");
    CHECK(f != NULL);
    if (!f)
        return;
    for (;;) {
        if (size == cap) {
            unsigned char *p = realloc(img, cap = cap ? cap * 2 : 1 << 16);
            if (!p)
                break;
            img = p;
        }
        nread = fread(img + size, 1, cap - size, f);
        if (!nread)
            break;
        size += nread;
    }
    fclose(f);
    CHECK(img && size > 64);
    if (!img || size <= 64) {
        free(img);
        return;
    }
    for (int iter = 0; iter < 120; iter++) {
        unsigned char *copy = malloc(size);
        size_t len = size;
        if (!copy)
            break;
        memcpy(copy, img, size);
        if (iter < 20) {
            len = iter * (size / 20) + (size_t)(rand_r(&seed) % 64); /* truncated */
        } else if (iter < 30) {
            for (size_t i = 0; i < len; i++) /* garbage after a valid ELF header */
                copy[i] = i < 64 ? copy[i] : (unsigned char)rand_r(&seed);
        } else {
            for (int k = 0; k < 16; k++) { /* flips in the ELF header and anywhere else */
                size_t at = k < 8 ? (size_t)rand_r(&seed) % 64 : (size_t)rand_r(&seed) % size;
                copy[at] ^= (unsigned char)(1u << (rand_r(&seed) % 8));
                if (k % 4 == 0)
                    copy[at] = 0xff;
            }
        }
        f = fopen(tmp, "wb");
        CHECK(f != NULL);
        if (f) {
            CHECK_EQ(fwrite(copy, 1, len, f), len);
            fclose(f);
            st = hvt_rec_symtab_new();
            name = hvt_rec_symtab_lookup(st, tmp, fbase, fn + 3, &start);
            /* a damaged file may still name it; if so, inside the table's own strings */
            if (name)
                CHECK(strlen(name) < size);
            hvt_rec_symtab_lookup(st, tmp, fbase, fbase + (size_t)rand_r(&seed) % size, &start);
            hvt_rec_symtab_free(st);
        }
        free(copy);
    }
    unlink(tmp);
    free(img);
}

/* ---- drop mode: every loss counted and marked ---------------------------------------------- */

static void test_drop_accounting(void)
{
    struct hvt_rec *rec = open_fake(HVT_REC_DROP, 8192, 0);
    struct hvt_rec_stats st = {.size = sizeof(st)};
    uint64_t made = 0, got = 0, marked = 0, lost_ev = 0;
    uint64_t next_e = 0;
    int bad = 0;

    if (!rec)
        return;
    /* Long passes from one thread: the ring (128 slots, 50 kept for boundaries) overflows. */
    for (uint64_t e = 0; e < 400; e++)
        made += gen_record(rec, 0, e, 200);
    CHECK_EQ(hvt_rec_close(rec, &st), 0);
    CHECK_EQ(fake.order_violation, 0);
    for (size_t i = 0; i < fake.n; i++) {
        if (fake.items[i].type == HVT_REC_LOST) {
            const struct hvt_lost *l = &fake.items[i].lost;
            /* the marker names the event that follows it */
            size_t j = i;
            while (j < fake.n && fake.items[j].type == HVT_REC_LOST)
                j++;
            CHECK(j < fake.n && item_ev(j) && item_ev(j)->id == l->event_id);
            CHECK(j < fake.n && item_ev(j) && l->pass < item_ev(j)->n_passes);
            CHECK(l->count > 0);
            marked += l->count;
            continue;
        }
        {
            struct hvt_event *ev = item_ev(i);
            uint64_t lost = 0;
            if (!gen_check_event(ev, next_e, 200, &lost))
                bad++;
            next_e++;
            lost_ev += lost;
            for (uint32_t p = 0; p < ev->n_passes; p++)
                got += ev->passes[p].n_accesses;
        }
    }
    CHECK_EQ(bad, 0);
    CHECK_U64(next_e, 400);
    CHECK(st.dropped > 0);
    CHECK_U64(made - got, st.dropped);
    CHECK_U64(marked, st.dropped);
    CHECK_U64(lost_ev, st.dropped);
    CHECK_U64(st.accesses, got);
    CHECK(st.lost_markers > 0);
    fprintf(stderr, "drop: made %llu, dropped %llu, markers %llu\n", (unsigned long long)made,
            (unsigned long long)st.dropped, (unsigned long long)st.lost_markers);
}

/* ---- write errors: stop cleanly, release waiting vCPUs ---------------------------------- */

struct err_arg {
    struct hvt_rec *rec;
    uint32_t vcpu;
    int done;
};

static void *err_vcpu(void *p)
{
    struct err_arg *a = p;
    for (uint64_t e = 0; e < 3000; e++)
        gen_record(a->rec, a->vcpu, e, 50);
    a->done = 1;
    return NULL;
}

static void test_write_error(void)
{
    struct hvt_rec *rec = open_fake(HVT_REC_BLOCK, 8192, 0);
    struct hvt_rec_stats st = {.size = sizeof(st)};
    pthread_t t[2];
    struct err_arg args[2];

    if (!rec)
        return;
    fake.fail_after = 20;
    fake.fail_err = -HVT_E_NOSPACE;
    for (int i = 0; i < 2; i++) {
        args[i].rec = rec;
        args[i].vcpu = (uint32_t)i;
        args[i].done = 0;
        pthread_create(&t[i], NULL, err_vcpu, &args[i]);
    }
    /* The vCPUs (block mode, tiny rings) must all finish: nothing may stall after the error. */
    for (int i = 0; i < 2; i++)
        pthread_join(t[i], NULL);
    CHECK(args[0].done && args[1].done);
    CHECK_EQ(hvt_rec_error(rec), -HVT_E_NOSPACE);
    CHECK(strstr(hvt_rec_error_message(rec), "No space") ||
          strstr(hvt_rec_error_message(rec), "space"));
    fprintf(stderr, "error message: %s\n", hvt_rec_error_message(rec));
    CHECK_EQ(hvt_rec_close(rec, &st), -HVT_E_NOSPACE);
    CHECK(st.dropped > 0);
    CHECK(st.events <= 20);
}

/* ---- time-bounded flushing ------------------------------------------------------------------ */

static void test_flush_timer(void)
{
    struct hvt_rec_options o;
    struct hvt_rec *rec = NULL;
    struct timespec ts = {0, 10 * 1000 * 1000};
    fake_reset();
    hvt_rec_options_init(&o);
    o.flush_ms = 10;
    CHECK_EQ(hvt_rec_open_writer(&rec, fake_writer(), &o), 0);
    if (!rec)
        return;
    gen_record(rec, 0, 0, 3);
    /* the writer flushes on its own, with no close and no more records; how soon depends on
     * when a loaded machine (sanitizers, other jobs) schedules its thread: up to 10 s */
    for (int i = 0; i < 1000 && fake.flushes < 1; i++)
        nanosleep(&ts, NULL);
    CHECK(fake.flushes >= 1);
    CHECK_EQ(hvt_rec_close(rec, NULL), 0);
    CHECK_EQ(fake.closed, 0); /* the caller's writer is not closed */
}

/* ---- event times ------------------------------------------------------------------------- */

static uint64_t mono_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Event times are CLOCK_MONOTONIC offsets from open, whichever stamp the vCPUs take (TSC or
 * clock_gettime): each must fall between clock readings taken around its event, within the
 * error of one clock read (200 us allowed), from the first event after open on. */
static void check_event_times(const char *clock_env)
{
    enum { N = 5 };
    uint64_t open_lo, open_hi, lo[N], hi[N];
    struct hvt_rec_options o;
    struct hvt_rec *rec = NULL;
    const uint64_t tol = 200000;

    if (clock_env)
        setenv("HVT_REC_CLOCK", clock_env, 1);
    else
        unsetenv("HVT_REC_CLOCK");
    fake_reset();
    hvt_rec_options_init(&o);
    open_lo = mono_now();
    CHECK_EQ(hvt_rec_open_writer(&rec, fake_writer(), &o), 0);
    open_hi = mono_now();
    unsetenv("HVT_REC_CLOCK");
    if (!rec)
        return;
    for (int i = 0; i < N; i++) {
        struct timespec ts = {0, (long)(i * 7) * 1000 * 1000};
        nanosleep(&ts, NULL);
        lo[i] = mono_now();
        gen_record(rec, 1, (uint64_t)i, 2);
        hi[i] = mono_now();
    }
    CHECK_EQ(hvt_rec_close(rec, NULL), 0);
    CHECK_EQ(fake.n, N);
    for (size_t i = 0; i < fake.n && i < N; i++) {
        struct hvt_event *ev = item_ev(i);
        CHECK(ev != NULL);
        if (!ev)
            continue;
        if (!(ev->time_ns + open_hi + tol >= lo[i] && ev->time_ns + open_lo <= hi[i] + tol))
            fprintf(stderr, "clock %s: event %zu at %llu ns, expected %llu..%llu\n",
                    clock_env ? clock_env : "default", i, (unsigned long long)ev->time_ns,
                    (unsigned long long)(lo[i] - open_hi), (unsigned long long)(hi[i] - open_lo));
        CHECK(ev->time_ns + open_hi + tol >= lo[i]);
        CHECK(ev->time_ns + open_lo <= hi[i] + tol);
        if (i)
            CHECK(ev->time_ns > item_ev(i - 1)->time_ns);
    }
}

static void test_event_times(void)
{
    check_event_times(NULL);   /* the TSC where it is invariant */
    check_event_times("mono"); /* clock_gettime */
}

int main(void)
{
    RUN(test_bad_args);
    RUN(test_roundtrip);
    RUN(test_state_reuse);
    RUN(test_interposer);
    RUN(test_shape_memo);
    RUN(test_interposer_oversize);
    RUN(test_abandoned);
    RUN(test_ids);
    RUN(test_callsites);
    RUN(test_symtab_files);
    RUN(test_drop_accounting);
    RUN(test_write_error);
    RUN(test_flush_timer);
    RUN(test_event_times);
    RUN(test_callsite_memo);
    fake_reset();
    TEST_DONE();
}
