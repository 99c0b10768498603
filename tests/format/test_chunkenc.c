/* SPDX-License-Identifier: MIT */
/* The chunk encoder's own form of the prediction rules against format/predict.h's functions
 * (the reference): the same events encoded both ways give the same payload, byte for byte.
 * The events are made so that the rules' cases are taken often: addresses, entries and values
 * come from small pools (so predictions hit as well as miss), page walks are consistent or not,
 * re-executions repeat the previous pass's accesses with a few changes, data bytes past an
 * access's size are garbage. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chunkenc.h"
#include "gen.h"
#include "hvt_test.h"
#include "predict.h"

static uint64_t pick(const uint64_t *pool, size_t n)
{
    return pool[rndn(n)];
}

static const uint64_t lins[] = {0x401000,           0x401008,  0x402ff8, 0x7fff0000, 0x7fff0008,
                                0xffffffff80001000, 0x1000000, 0x1200000};
static const uint64_t physs[] = {0x5000, 0x5008, 0x6000, 0x7ff8, 0x123000, 0x200000, 0x3f5000, 0};
static const uint64_t vals[] = {0, 1, 0x5067, 0x6067, 0x2000e7, 0x123063, 0xffffffff, 0x81};

/* A page walk of LEVELS for LIN (top level first), consistent with CR3 unless chance says
 * otherwise; entries present, sometimes large pages. */
static void walk(struct hvt_access *acc, uint32_t *n, uint64_t lin, uint64_t cr3, unsigned size,
                 int levels)
{
    uint64_t table = cr3 & (size == 8 ? 0x000ffffffffff000ull : 0xfffff000ull);
    unsigned bits = size == 8 ? 9 : 10;
    for (int lvl = levels; lvl >= 1; lvl--) {
        struct hvt_access *a = &acc[(*n)++];
        memset(a, 0, sizeof(*a));
        a->kind = HVT_ACC_READ;
        a->tag.cls = rndn(6) ? HVT_TAG_WALK : HVT_TAG_AD;
        a->tag.level = (uint8_t)lvl;
        a->size = rndn(8) ? size : (unsigned)(1 + rndn(8));
        a->linear = rndn(6) ? lin : pick(lins, 8);
        a->outcome = rndn(10) ? HVT_OP_OKAY : (uint8_t)rndn(HVT_OP__COUNT);
        a->phys = rndn(5) ? table + ((lin >> (12 + bits * (lvl - 1))) & ((1u << bits) - 1)) * size
                          : pick(physs, 8);
        uint64_t next = rndn(4) ? pick(physs, 8) : (uint64_t)0x200000 * (1 + rndn(4));
        uint64_t e = (next & ~0xfffull) | (rndn(8) ? 1 : 0) | (rndn(4) ? 0 : 0x80) | 0x62;
        if (a->tag.cls == HVT_TAG_AD) {
            a->kind = rndn(2) ? HVT_ACC_CMPXCHG : HVT_ACC_WRITE;
            memcpy(a->old, &e, 8);
            e |= 0x20;
            memcpy(a->cur, &e, 8);
        }
        memcpy(a->data, &e, 8);
        for (unsigned i = a->size; i < HVT_DATA_MAX && rndn(2); i++)
            a->data[i] = (uint8_t)rnd(); /* garbage past the size */
        table = next & ~0xfffull;
    }
}

static struct hvt_event *make_event(uint64_t id, uint32_t vcpu)
{
    struct hvt_event *ev = calloc(1, sizeof(*ev));
    ev->id = id;
    ev->vcpu = vcpu;
    gen_state(&ev->init, NULL);
    ev->init.cr3 = pick(physs, 8) | (rndn(2) ? 0x18 : 0);
    ev->init.seg[HVT_SEG_CS].base = rndn(2) ? 0 : 0x10000;
    ev->init.rip = pick(lins, 8);
    if (rndn(3))
        ev->init.flags |= HVT_STATE_SIMD_VALID;
    ev->insn_len = (uint8_t)rndn(HVT_INSN_MAX + 1);
    for (int i = 0; i < HVT_INSN_MAX; i++)
        ev->insn[i] = (uint8_t)rnd(); /* garbage past insn_len */
    ev->n_passes = 1 + (uint32_t)rndn(3);
    ev->passes = calloc(ev->n_passes, sizeof(*ev->passes));
    uint64_t rip_lin = ev->init.seg[HVT_SEG_CS].base + ev->init.rip;
    for (uint32_t p = 0; p < ev->n_passes; p++) {
        struct hvt_pass *ps = &ev->passes[p];
        ps->index = p;
        ps->out.kind = (uint8_t)(p + 1 < ev->n_passes ? HVT_OUT_RETRY : rndn(HVT_OUT__COUNT));
        gen_state(&ps->end, &ev->init);
        if (rndn(2))
            ps->end.rip = ev->init.rip + ev->insn_len; /* what a completed pass predicts */
        ps->accesses = calloc(64, sizeof(*ps->accesses));
        struct hvt_access *acc = ps->accesses;
        uint32_t n = 0;
        if (p && rndn(3)) { /* a re-execution: the previous pass again, a few things changed */
            const struct hvt_pass *pv = &ev->passes[p - 1];
            for (uint32_t i = 0; i < pv->n_accesses && n < 60; i++) {
                acc[n] = pv->accesses[i];
                struct hvt_access *a = &acc[n++];
                switch (rndn(8)) {
                case 0:
                    a->linear = pick(lins, 8);
                    break;
                case 1:
                    a->phys = pick(physs, 8);
                    break;
                case 2:
                    a->data[0] ^= 1;
                    break;
                case 3:
                    a->tag.element++;
                    break;
                case 4:
                    a->outcome = (uint8_t)rndn(HVT_OP__COUNT);
                    break;
                default:
                    break;
                }
            }
            ps->n_accesses = n;
            continue;
        }
        /* fetches of the instruction, at its address or not */
        for (uint32_t k = 0, nf = (uint32_t)rndn(3); k < nf; k++) {
            uint64_t lin = k == 0 && rndn(4) ? rip_lin : rip_lin + rndn(20);
            if (rndn(2))
                walk(acc, &n, lin, ev->init.cr3, rndn(5) ? 8 : 4, rndn(5) ? 4 : 2);
            struct hvt_access *a = &acc[n++];
            memset(a, 0, sizeof(*a));
            a->kind = HVT_ACC_FETCH;
            a->tag.cls = rndn(8) ? HVT_TAG_FETCH : HVT_TAG_DATA;
            a->seg = HVT_SEG_CS;
            a->flags = rndn(6) ? HVT_AF_LINEAR_VALID : 0;
            a->size = 1 + (uint32_t)rndn(16);
            a->linear = lin;
            a->phys = rndn(2) ? 0x5000 + (lin & 0xfff) : pick(physs, 8);
            a->outcome = rndn(10) ? HVT_OP_OKAY : HVT_OP_RETRY;
            uint64_t off = lin - rip_lin;
            for (uint32_t i = 0; i < a->size; i++)
                a->data[i] = off + i < HVT_INSN_MAX && rndn(8) ? ev->insn[off + i] : (uint8_t)i;
        }
        /* data, stack, descriptor and port accesses, some after a walk for them */
        for (uint32_t k = 0, nd = (uint32_t)rndn(6); k < nd && n < 50; k++) {
            uint64_t lin = rndn(3) ? pick(lins, 8) + 8 * rndn(3) : rnd();
            unsigned cls = (unsigned)rndn(HVT_TAG__COUNT);
            if (cls == HVT_TAG_WALK || cls == HVT_TAG_AD || rndn(3) == 0)
                walk(acc, &n, lin, ev->init.cr3, 8, rndn(6) ? 4 : (int)(1 + rndn(5)));
            struct hvt_access *a = &acc[n++];
            memset(a, 0, sizeof(*a));
            a->tag.cls = (uint8_t)cls;
            a->tag.operand = (uint8_t)(rndn(4) ? rndn(3) : rndn(256));
            a->tag.level = (uint8_t)rndn(7);
            a->tag.element = (uint32_t)(rndn(3) ? rndn(4) : rnd());
            a->kind = (uint8_t)(cls == HVT_TAG_IO ? HVT_ACC_IO_IN + rndn(2) : rndn(4));
            if (a->kind == HVT_ACC_FETCH && rndn(2))
                a->kind = HVT_ACC_WRITE;
            a->space = (uint8_t)(cls == HVT_TAG_IO ? HVT_SPACE_PORT : rndn(2));
            a->seg = (uint8_t)rndn(10);
            a->flags = (uint32_t)(rndn(4) ? HVT_AF_LINEAR_VALID : 0) | (uint32_t)rndn(2) * 2;
            a->size = rndn(4) ? 1u << rndn(4) : 1 + (uint32_t)rndn(HVT_DATA_MAX);
            a->linear = lin;
            a->phys = rndn(2) ? 0x200000 + (lin & 0x1fffff) : rndn(2) ? 0x5000 + (lin & 0xfff)
                                                                       : pick(physs, 8);
            a->outcome = rndn(8) ? HVT_OP_OKAY : (uint8_t)rndn(HVT_OP__COUNT);
            a->callsite = (uint32_t)rndn(4);
            uint64_t v = pick(vals, 8);
            if (n >= 2 && rndn(2)) /* a copy of what was just read */
                memcpy(a->data, acc[n - 2].data, HVT_DATA_MAX);
            else
                for (uint32_t i = 0; i < a->size; i++)
                    a->data[i] = (uint8_t)(i < 8 ? v >> (8 * i) : rndn(2));
            for (uint32_t i = a->size; i < HVT_DATA_MAX && rndn(2); i++)
                a->data[i] = (uint8_t)rnd();
            if (a->kind == HVT_ACC_CMPXCHG)
                for (uint32_t i = 0; i < a->size; i++) {
                    a->old[i] = (uint8_t)rnd();
                    a->cur[i] = rndn(2) ? a->old[i] : (uint8_t)rnd();
                }
        }
        ps->n_accesses = n;
    }
    return ev;
}

static void free_event(struct hvt_event *ev)
{
    for (uint32_t p = 0; p < ev->n_passes; p++)
        free(ev->passes[p].accesses);
    free(ev->passes);
    free(ev);
}

/* What hvt_chunkenc_size keeps as a running count (hvt_chunkenc_finish sizes its buffer by it):
 * the columns' bytes, the shape table's, and pass_retire's when it is written. */
static size_t columns_size(const struct hvt_chunkenc *c)
{
    size_t n = c->shapes_bytes + (c->retire_any ? c->retire.n : 0);
    for (int f = 0; f < F__COUNT; f++)
        n += c->col[f].n;
    for (int k = 0; k < 2; k++)
        for (int f = 0; f < FS__COUNT; f++)
            n += c->st[k][f].n;
    for (int f = 0; f < F2_N; f++)
        n += c->col2[f].n;
    return n;
}

/* Encodes N events both ways, comparing the sizes after each and the payloads at every chunk
 * end, and a third time with an encoder made afresh for each chunk (what the others' reset
 * between chunks must amount to); returns the accesses and, in MISSED[b], how many of them missed the prediction of shape
 * bit 1 << b (element, linear, phys, data). */
static size_t run(int structured, int n, size_t missed[4])
{
    struct hvt_chunkenc *c[3] = {calloc(1, sizeof(struct hvt_chunkenc)),
                                 calloc(1, sizeof(struct hvt_chunkenc)),
                                 calloc(1, sizeof(struct hvt_chunkenc))};
    c[1]->ref_rules = 1;
    uint8_t *buf[3] = {NULL, NULL, NULL};
    size_t cap[3] = {0, 0, 0}, acc = 0;
    char msg[200];
    struct hvt_event *last[80] = {0};
    memset(missed, 0, 4 * sizeof(*missed));
    for (int i = 1; i <= n; i++) {
        uint32_t vcpu = rndn(8) ? (uint32_t)rndn(6) : (uint32_t)rndn(80);
        struct hvt_event *ev = structured ? make_event((uint64_t)i, vcpu)
                                          : gen_event((uint64_t)i, last[vcpu], vcpu);
        for (int k = 0; k < 3; k++)
            CHECK_EQ(hvt_chunkenc_event(c[k], ev, msg, sizeof(msg)), 0);
        for (uint32_t p = 0; p < ev->n_passes; p++)
            acc += ev->passes[p].n_accesses;
        CHECK_EQ(hvt_chunkenc_size(c[0]), hvt_chunkenc_size(c[1]));
        CHECK_EQ(hvt_chunkenc_size(c[0]), columns_size(c[0]));
        if (!rndn(50)) {
            struct hvt_lost l = {.vcpu = vcpu, .count = 3, .event_id = (uint64_t)i};
            for (int k = 0; k < 3; k++)
                CHECK_EQ(hvt_chunkenc_lost(c[k], &l), 0);
            CHECK_EQ(hvt_chunkenc_size(c[0]), columns_size(c[0]));
        }
        if (structured) {
            free_event(ev);
        } else {
            gen_free(last[vcpu]);
            last[vcpu] = ev;
        }
        if (i % 300 == 0 || i == n) {
            int64_t len[3];
            for (int k = 0; k < 3; k++)
                len[k] = hvt_chunkenc_finish(c[k], NULL, 0, &buf[k], &cap[k]);
            CHECK(len[0] > 0);
            CHECK_EQ(len[0], len[1]);
            CHECK(len[0] == len[1] && !memcmp(buf[0], buf[1], (size_t)len[0]));
            CHECK_EQ(len[0], len[2]);
            CHECK(len[0] == len[2] && !memcmp(buf[0], buf[2], (size_t)len[0]));
            CHECK_EQ(c[0]->shapes.n, c[1]->shapes.n);
            /* the shape of each access, from the shape column's varints */
            const struct hvt_colbuf *sc = &c[0]->col2[F2_ACC_SHAPE - F2_FIRST];
            for (size_t at = 0; at < sc->n;) {
                uint64_t id = 0;
                for (unsigned sh = 0; at < sc->n; sh += 7) {
                    uint8_t b = sc->p[at++];
                    id |= (uint64_t)(b & 0x7f) << sh;
                    if (!(b & 0x80))
                        break;
                }
                CHECK(id < c[0]->shapes.n);
                unsigned bits = (unsigned)(c[0]->shapes.list[id].k0 >> 52) & 15;
                for (int b = 0; b < 4; b++)
                    missed[b] += bits >> b & 1;
            }
            for (int k = 0; k < 2; k++)
                hvt_chunkenc_reset(c[k]);
            hvt_chunkenc_free(c[2]); /* zeroes it: a fresh encoder */
        }
    }
    for (int v = 0; v < 80; v++)
        gen_free(last[v]);
    for (int k = 0; k < 3; k++) {
        hvt_chunkenc_free(c[k]);
        free(c[k]);
        free(buf[k]);
    }
    return acc;
}

static void test_structured(void)
{
    size_t missed[4], acc = run(1, 3000, missed);
    CHECK(acc > 30000);
    /* the stream exercises the rules: each prediction both hits and misses, often */
    for (int b = 0; b < 4; b++) {
        printf("shape bit %u: %zu of %zu accesses\n", 1u << b, missed[b], acc);
        CHECK(missed[b] > acc / 20 && missed[b] < acc - acc / 5);
    }
}

static void test_random(void)
{
    size_t missed[4], acc = run(0, 2000, missed);
    CHECK(acc > 5000);
}

int main(void)
{
    RUN(test_structured);
    RUN(test_random);
    TEST_DONE();
}
