/* SPDX-License-Identifier: MIT */
/* hvtrace benchmark: trace format writer throughput vs zstd -1, bytes per access on a realistic
 * synthetic stream (with a row-wise encoding for comparison), and reader memory on a large trace.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <zstd.h>

#include "bench.h"
#include "hvtrace/format.h"
#include "util.h"

/* ---- a realistic synthetic stream ------------------------------------------------------- */

static uint64_t seed = 0x2545f4914f6cdd1dull;
static uint64_t rnd(void)
{
    seed ^= seed << 13;
    seed ^= seed >> 7;
    seed ^= seed << 17;
    return seed;
}

#define N_VCPU 4
#define POOL 32 /* events generated per batch; the stream never repeats */

struct gen {
    struct hvt_vcpu_state st[N_VCPU];
    uint64_t data_lin[N_VCPU];
    uint64_t time;
};

static void put_le(uint8_t *p, uint64_t v, unsigned n)
{
    for (unsigned i = 0; i < n; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static struct hvt_access *acc_new(struct hvt_pass *ps)
{
    struct hvt_access *a = &ps->accesses[ps->n_accesses++];
    memset(a, 0, sizeof(*a));
    return a;
}

/* A 4-level walk of LIN for vCPU V: the upper three levels are the same entries every time. */
static void walk(struct hvt_pass *ps, unsigned v, uint64_t lin)
{
    uint64_t cr3 = 0x1000000 + v * 0x100000;
    uint64_t table = cr3;
    for (int lvl = 4; lvl >= 1; lvl--) {
        unsigned idx = (unsigned)(lin >> (12 + 9 * (lvl - 1))) & 511;
        struct hvt_access *a = acc_new(ps);
        a->kind = HVT_ACC_READ;
        a->space = HVT_SPACE_RAM;
        a->seg = HVT_SEG_NONE;
        a->tag.cls = HVT_TAG_WALK;
        a->tag.level = (uint8_t)lvl;
        a->size = 8;
        a->phys = table + idx * 8;
        uint64_t next =
            lvl > 1 ? table + 0x1000 * (uint64_t)(5 - lvl + 1) : (lin & ~0xfffull) + 0x40000000ull;
        put_le(a->data, next | 0x67, 8);
        a->callsite = 1;
        table = next;
    }
}

static void fetch(struct hvt_pass *ps, const struct hvt_event *ev)
{
    struct hvt_access *a = acc_new(ps);
    a->kind = HVT_ACC_FETCH;
    a->space = HVT_SPACE_RAM;
    a->seg = HVT_SEG_CS;
    a->tag.cls = HVT_TAG_FETCH;
    a->size = ev->insn_len;
    a->flags = HVT_AF_LINEAR_VALID;
    a->linear = ev->init.rip;
    a->phys = (ev->init.rip & 0xfff) | 0x40100000ull;
    memcpy(a->data, ev->insn, ev->insn_len);
    a->callsite = 2;
}

static void gen_event(struct gen *g, struct hvt_event *ev)
{
    unsigned v = (unsigned)(rnd() % N_VCPU);
    struct hvt_vcpu_state *s = &g->st[v];
    struct hvt_pass *passes = ev->passes;
    memset(ev, 0, sizeof(*ev));
    ev->passes = passes;
    ev->vcpu = v;
    g->time += 500 + rnd() % 3000;
    ev->time_ns = g->time;
    /* guest progress since the last exit: RIP moved, a couple of registers changed */
    s->rip += 2 + rnd() % 64;
    s->gpr[rnd() % 4] = rnd() % 4096;
    s->gpr[HVT_RSI] = g->data_lin[v];
    ev->init = *s;
    unsigned kind = (unsigned)(rnd() % 10);
    static const uint8_t mov_store[] = {0x89, 0x07}, mov_load[] = {0x8b, 0x07},
                         rep_movs[] = {0xf3, 0x48, 0xa5}, out_dx[] = {0xee};
    const uint8_t *insn = kind < 4 ? mov_store : kind < 7 ? mov_load : kind < 9 ? rep_movs : out_dx;
    ev->insn_len = kind < 7 ? 2 : kind < 9 ? 3 : 1;
    memcpy(ev->insn, insn, ev->insn_len);

    int mmio = kind < 7;
    ev->n_passes = mmio ? 2 : 1;
    for (uint32_t p = 0; p < ev->n_passes; p++) {
        struct hvt_pass *ps = &ev->passes[p];
        ps->index = p;
        ps->n_accesses = 0;
        ps->end = ev->init;
        fetch(ps, ev);
        walk(ps, v, ev->init.rip);
        if (mmio) {
            uint64_t lin = 0xfee00000ull + (rnd() % 16) * 0x10;
            walk(ps, v, lin);
            struct hvt_access *a = acc_new(ps);
            a->kind = kind < 4 ? HVT_ACC_WRITE : HVT_ACC_READ;
            a->space = HVT_SPACE_MMIO;
            a->seg = HVT_SEG_DS;
            a->tag.cls = HVT_TAG_DATA;
            a->size = 4;
            a->flags = HVT_AF_LINEAR_VALID;
            a->linear = lin;
            a->phys = lin;
            put_le(a->data, rnd() % 256, 4);
            a->callsite = 3;
            if (p == 0) {
                a->outcome = HVT_OP_RETRY;
                ps->out.kind = HVT_OUT_RETRY;
                ps->out.retry_cause = HVT_RETRY_MMIO;
            }
        } else if (kind < 9) {
            /* REP MOVSQ, 8 iterations: sequential reads and writes */
            walk(ps, v, g->data_lin[v]);
            for (uint32_t i = 0; i < 8; i++) {
                for (int w = 0; w < 2; w++) {
                    struct hvt_access *a = acc_new(ps);
                    a->kind = w ? HVT_ACC_WRITE : HVT_ACC_READ;
                    a->space = HVT_SPACE_RAM;
                    a->seg = w ? HVT_SEG_ES : HVT_SEG_DS;
                    a->tag.cls = HVT_TAG_DATA;
                    a->tag.operand = (uint8_t)w;
                    a->tag.element = i;
                    a->size = 8;
                    a->flags = HVT_AF_LINEAR_VALID;
                    a->linear = g->data_lin[v] + (w ? 0x10000 : 0) + 8 * i;
                    a->phys = a->linear + 0x40000000ull;
                    put_le(a->data, rnd() % 65536, 8);
                    a->callsite = 4;
                }
            }
            g->data_lin[v] += 64;
            ps->out.iterations = 8;
            ps->end.gpr[HVT_RSI] += 64;
            ps->end.gpr[HVT_RDI] += 64;
            ps->end.gpr[HVT_RCX] = 0;
        } else {
            struct hvt_access *a = acc_new(ps);
            a->kind = HVT_ACC_IO_OUT;
            a->space = HVT_SPACE_PORT;
            a->seg = HVT_SEG_NONE;
            a->tag.cls = HVT_TAG_IO;
            a->size = 1;
            a->phys = 0x3f8;
            a->data[0] = (uint8_t)('a' + rnd() % 26);
            a->callsite = 5;
        }
        if (ps->out.kind == HVT_OUT_OKAY) {
            ps->end.rip += ev->insn_len;
            if (kind >= 4 && kind < 7) { /* the load's value lands in RAX */
                uint32_t val;
                memcpy(&val, ps->accesses[ps->n_accesses - 1].data, 4);
                ps->end.gpr[HVT_RAX] = val;
            }
        }
    }
}

/* A batch of freshly generated events, like the ones a recorder hands to the writer: the
 * generator's state (RIPs, data pointers, time) carries over from batch to batch. */
struct pool {
    struct gen g;
    struct hvt_event ev[POOL];
    struct hvt_pass passes[POOL][2];
    struct hvt_access accs[POOL][2][40];
};

static void pool_fill(struct pool *p)
{
    for (int i = 0; i < POOL; i++) {
        p->ev[i].passes = p->passes[i];
        for (int k = 0; k < 2; k++)
            p->passes[i][k].accesses = p->accs[i][k];
        gen_event(&p->g, &p->ev[i]);
    }
}

static struct pool *pool_new(void)
{
    struct pool *p = calloc(1, sizeof(*p));
    if (!p)
        return NULL;
    struct gen *g = &p->g;
    seed = 0x2545f4914f6cdd1dull;
    for (unsigned v = 0; v < N_VCPU; v++) {
        g->st[v].rip = 0xffffffff81000000ull + v * 0x10000;
        g->st[v].rflags = 0x202;
        g->st[v].cr0 = 0x80050033;
        g->st[v].cr3 = 0x1000000 + v * 0x100000;
        g->st[v].cr4 = 0x3706f0;
        g->st[v].efer = 0xd01;
        g->st[v].seg[HVT_SEG_CS] = (struct hvt_segment){.sel = 0x10, .attr = 0xa9b, .limit = ~0u};
        g->st[v].seg[HVT_SEG_SS] = (struct hvt_segment){.sel = 0x18, .attr = 0xc93, .limit = ~0u};
        g->st[v].gpr[HVT_RSP] = 0xffffc90000003f00ull;
        g->data_lin[v] = 0xffff888000100000ull + v * 0x1000000;
    }
    return p;
}

static void add_callsites(struct hvt_fmt_writer *w)
{
    static const struct hvt_frame f[] = {{0xffff82d040290000ull, 0x120, "x86_emulate", "xen"},
                                         {0xffff82d0402a0000ull, 0x40, "hvm_emulate_one", "xen"},
                                         {0xffff82d0402b0000ull, 0x10, "handle_mmio", "xen"}};
    for (uint32_t id = 1; id <= 5; id++) {
        struct hvt_callsite cs = {id, 3, f};
        hvt_fmt_writer_add_callsite(w, &cs);
    }
}

/* Writes events from the pool until RAW_TARGET raw bytes; returns seconds, fills *st. */
static double write_trace(const char *path, struct pool *p, uint64_t raw_target, int level,
                          struct hvt_fmt_writer_stats *st, int *rc, double *wall)
{
    struct hvt_fmt_writer_options o;
    hvt_fmt_writer_options_init(&o);
    o.flags = HVT_FMT_W_OVERWRITE;
    if (level != 999)
        o.level = level;
    struct hvt_fmt_writer *w;
    double t0 = hvt_bench_cpu_now(), w0 = hvt_bench_now();
    *rc = hvt_fmt_writer_open(&w, path, NULL, &o);
    if (*rc)
        return 0;
    add_callsites(w);
    uint64_t id = 1;
    /* writer time only, in CPU and in wall-clock seconds: event generation is not counted */
    double cpu = hvt_bench_cpu_now() - t0, wl = hvt_bench_now() - w0;
    for (;;) {
        pool_fill(p);
        double t1 = hvt_bench_cpu_now(), w1 = hvt_bench_now();
        for (int i = 0; i < POOL && *rc >= 0; i++) {
            p->ev[i].id = id++;
            *rc = hvt_fmt_writer_append(w, &p->ev[i]);
        }
        cpu += hvt_bench_cpu_now() - t1;
        wl += hvt_bench_now() - w1;
        struct hvt_fmt_writer_stats s;
        hvt_fmt_writer_get_stats(w, &s);
        if (*rc < 0 || s.raw_bytes >= raw_target)
            break;
    }
    double t2 = hvt_bench_cpu_now(), w2 = hvt_bench_now();
    int c = hvt_fmt_writer_close(w, st);
    cpu += hvt_bench_cpu_now() - t2;
    wl += hvt_bench_now() - w2;
    if (*rc >= 0)
        *rc = c;
    *wall = wl;
    return cpu;
}

/* ---- zstd -1 on the same raw bytes -------------------------------------------------------- */

/* Decompresses the payloads of up to MAX_RAW bytes of chunks of PATH (offsets from the public
 * chunk table, layout from docs/FORMAT.md: a 48-byte header, then one zstd frame). */
/* The compressed payloads of the chunks load_raw_chunks returned (for zstd's decompression
 * speed on the same bytes), kept when COMP is not NULL. */
struct comp_set {
    uint8_t **p;
    size_t *len;
};

static uint8_t **load_raw_chunks(const char *path, uint64_t max_raw, size_t **lens, size_t *n,
                                 struct comp_set *cs)
{
    struct hvt_fmt_reader *r;
    *n = 0;
    if (hvt_fmt_reader_open(&r, path, NULL)) {
        hvt_fmt_reader_close(r);
        return NULL;
    }
    int64_t nc = hvt_fmt_reader_chunk_count(r);
    uint8_t **bufs = calloc((size_t)(nc > 0 ? nc : 1), sizeof(*bufs));
    *lens = calloc((size_t)(nc > 0 ? nc : 1), sizeof(**lens));
    cs->p = calloc((size_t)(nc > 0 ? nc : 1), sizeof(*cs->p));
    cs->len = calloc((size_t)(nc > 0 ? nc : 1), sizeof(*cs->len));
    FILE *f = fopen(path, "rb");
    uint64_t total = 0;
    for (int64_t k = 0; f && bufs && *lens && cs->p && cs->len && k < nc && total < max_raw; k++) {
        struct hvt_fmt_chunk_info ci;
        if (hvt_fmt_reader_chunk_info(r, (uint64_t)k, &ci))
            break;
        uint8_t *comp = malloc(ci.compressed_size), *raw = malloc(ci.raw_size);
        if (!comp || !raw || fseeko(f, (off_t)ci.offset + 48, SEEK_SET) ||
            fread(comp, 1, ci.compressed_size, f) != ci.compressed_size ||
            ZSTD_decompress(raw, ci.raw_size, comp, ci.compressed_size) != ci.raw_size) {
            free(comp);
            free(raw);
            break;
        }
        cs->p[*n] = comp;
        cs->len[*n] = ci.compressed_size;
        bufs[*n] = raw;
        (*lens)[(*n)++] = ci.raw_size;
        total += ci.raw_size;
    }
    if (f)
        fclose(f);
    hvt_fmt_reader_close(r);
    return bufs;
}

/* zstd decompression of the chunk payloads: raw MB per CPU second. */
static double zstd_d_rate(const struct comp_set *cs, uint8_t **bufs, const size_t *lens, size_t n)
{
    ZSTD_DCtx *dc = ZSTD_createDCtx();
    uint64_t total = 0;
    double t0 = hvt_bench_cpu_now();
    for (int rep = 0; rep < 1; rep++)
        for (size_t i = 0; i < n; i++) {
            size_t r = ZSTD_decompressDCtx(dc, bufs[i], lens[i], cs->p[i], cs->len[i]);
            total += ZSTD_isError(r) ? 0 : r;
        }
    double dt = hvt_bench_cpu_now() - t0;
    ZSTD_freeDCtx(dc);
    return dt > 0 ? (double)total / dt / 1e6 : 0;
}

static double zstd_rate(uint8_t **bufs, const size_t *lens, size_t n, int level, double *ratio)
{
    ZSTD_CCtx *cc = ZSTD_createCCtx();
    size_t cap = 0;
    for (size_t i = 0; i < n; i++)
        if (ZSTD_compressBound(lens[i]) > cap)
            cap = ZSTD_compressBound(lens[i]);
    uint8_t *out = malloc(cap ? cap : 1);
    uint64_t in_total = 0, out_total = 0;
    double t0 = hvt_bench_cpu_now();
    for (size_t i = 0; i < n; i++) {
        size_t c = ZSTD_compressCCtx(cc, out, cap, bufs[i], lens[i], level);
        in_total += lens[i];
        out_total += ZSTD_isError(c) ? 0 : c;
    }
    double dt = hvt_bench_cpu_now() - t0;
    free(out);
    ZSTD_freeCCtx(cc);
    if (ratio)
        *ratio = out_total ? (double)in_total / (double)out_total : 0;
    return dt > 0 ? (double)in_total / dt / 1e6 : 0;
}

/* ---- row-wise encoding, for comparison ---------------------------------------------------- */

struct pb {
    uint8_t *p;
    size_t n, cap;
};

static void pb_byte(struct pb *b, uint8_t c)
{
    if (b->n == b->cap) {
        b->cap = b->cap ? b->cap * 2 : 4096;
        b->p = realloc(b->p, b->cap);
    }
    b->p[b->n++] = c;
}
static void pb_varint(struct pb *b, uint64_t v)
{
    while (v >= 0x80) {
        pb_byte(b, (uint8_t)(v | 0x80));
        v >>= 7;
    }
    pb_byte(b, (uint8_t)v);
}
static void pb_u(struct pb *b, unsigned field, uint64_t v)
{
    if (!v)
        return; /* proto3: defaults are not written */
    pb_varint(b, (uint64_t)field << 3);
    pb_varint(b, v);
}
static void pb_bytes(struct pb *b, unsigned field, const uint8_t *p, size_t n)
{
    pb_varint(b, (uint64_t)field << 3 | 2);
    pb_varint(b, n);
    for (size_t i = 0; i < n; i++)
        pb_byte(b, p[i]);
}
static void pb_sub(struct pb *b, unsigned field, struct pb *sub)
{
    pb_bytes(b, field, sub->p, sub->n);
    sub->n = 0;
}

/* The state as changed 64-bit words against BASE (what a row-wise writer with deltas does). */
static void row_state(struct pb *b, const struct hvt_vcpu_state *s,
                      const struct hvt_vcpu_state *base)
{
    const uint64_t *w = (const uint64_t *)(const void *)s,
                   *bw = (const uint64_t *)(const void *)base;
    for (unsigned i = 0; i < sizeof(*s) / 8; i++)
        if (w[i] != bw[i]) {
            pb_u(b, 1, i + 1);
            pb_u(b, 2, w[i] - bw[i]);
        }
}

/* What the row-wise encoding costs zstd: bytes per access at level 3, and CPU ns per access
 * for zstd -1 and for zstd's decompression of its level-3 payloads (best of 5 each). A reader
 * or writer of a trace could do no better than these if traces were stored one message per
 * access: the per-access yardstick next to the per-raw-byte ratios. */
struct rowwise {
    double bytes_per_access, zstd1_ns, zstd_d_ns;
};

static void rowwise_zstd_times(struct rowwise *rw, struct comp_set *cs, uint8_t **bufs,
                               const size_t *lens, size_t n, uint64_t accesses)
{
    double best1 = 0, bestd = 0;
    for (int k = 0; k < 5; k++) {
        double c1 = zstd_rate(bufs, lens, n, 1, NULL), d = zstd_d_rate(cs, bufs, lens, n);
        best1 = c1 > best1 ? c1 : best1;
        bestd = d > bestd ? d : bestd;
    }
    uint64_t raw = 0;
    for (size_t i = 0; i < n; i++)
        raw += lens[i];
    double per = accesses ? (double)raw / 1e6 / (double)accesses * 1e9 : 0;
    rw->zstd1_ns = best1 > 0 ? per / best1 : 0;
    rw->zstd_d_ns = bestd > 0 ? per / bestd : 0;
}

/* Row-wise: one Event message per event, one Pass message per pass, one Access message per
 * access with absolute addresses; zstd level 3 on ~1 MiB batches, like the chunks. */
static void rowwise_measure(struct rowwise *rw)
{
    memset(rw, 0, sizeof(*rw));
    struct pool *p = pool_new(); /* the same seed: the first events of the writer's stream */
    if (!p)
        return;
    enum { MAX_ROW_CHUNKS = 64 };
    uint8_t *raws[MAX_ROW_CHUNKS];
    size_t raw_lens[MAX_ROW_CHUNKS], n_raw = 0;
    struct comp_set cs = {0};
    uint8_t *comp[MAX_ROW_CHUNKS];
    size_t comp_lens[MAX_ROW_CHUNKS];
    cs.p = comp;
    cs.len = comp_lens;
    struct pb chunk = {0}, ev = {0}, ps = {0}, ac = {0}, st = {0};
    struct hvt_vcpu_state last[N_VCPU];
    memset(last, 0, sizeof(last));
    uint64_t accesses = 0, out = 0;
    uint8_t *cbuf = malloc(ZSTD_compressBound(2u << 20));
    for (int round = 0; round < 64; round++) {
        pool_fill(p);
        for (int i = 0; i < POOL; i++) {
            const struct hvt_event *e = &p->ev[i];
            pb_u(&ev, 1, (uint64_t)(round * POOL + i + 1));
            pb_u(&ev, 2, e->vcpu);
            pb_u(&ev, 3, e->time_ns);
            pb_bytes(&ev, 4, e->insn, e->insn_len);
            row_state(&st, &e->init, &last[e->vcpu % N_VCPU]);
            last[e->vcpu % N_VCPU] = e->init;
            pb_sub(&ev, 5, &st);
            for (uint32_t k = 0; k < e->n_passes; k++) {
                const struct hvt_pass *q = &e->passes[k];
                pb_u(&ps, 1, q->index);
                pb_u(&ps, 2, q->out.kind);
                pb_u(&ps, 3, q->out.retry_cause);
                pb_u(&ps, 4, q->out.iterations);
                row_state(&st, &q->end, &e->init);
                pb_sub(&ps, 5, &st);
                for (uint32_t j = 0; j < q->n_accesses; j++) {
                    const struct hvt_access *a = &q->accesses[j];
                    pb_u(&ac, 1, a->kind);
                    pb_u(&ac, 2, a->space);
                    pb_u(&ac, 3, a->seg);
                    pb_u(&ac, 4, a->outcome);
                    pb_u(&ac, 5, a->tag.cls);
                    pb_u(&ac, 6, a->tag.operand);
                    pb_u(&ac, 7, a->tag.level);
                    pb_u(&ac, 8, a->tag.element);
                    pb_u(&ac, 9, a->size);
                    pb_u(&ac, 10, a->flags);
                    pb_u(&ac, 11, a->linear);
                    pb_u(&ac, 12, a->phys);
                    pb_u(&ac, 13, a->callsite);
                    pb_bytes(&ac, 14, a->data, a->size);
                    pb_sub(&ps, 6, &ac);
                    accesses++;
                }
                pb_sub(&ev, 6, &ps);
            }
            pb_sub(&chunk, 1, &ev);
            if (chunk.n >= (1u << 20) || (round == 63 && i == POOL - 1)) {
                size_t c = ZSTD_compress(cbuf, ZSTD_compressBound(2u << 20), chunk.p, chunk.n, 3);
                out += ZSTD_isError(c) ? 0 : c + 48;
                if (!ZSTD_isError(c) && n_raw < MAX_ROW_CHUNKS) {
                    raws[n_raw] = malloc(chunk.n);
                    comp[n_raw] = malloc(c);
                    if (raws[n_raw] && comp[n_raw]) {
                        memcpy(raws[n_raw], chunk.p, chunk.n);
                        memcpy(comp[n_raw], cbuf, c);
                        raw_lens[n_raw] = chunk.n;
                        comp_lens[n_raw++] = c;
                    } else {
                        free(raws[n_raw]);
                        free(comp[n_raw]);
                    }
                }
                chunk.n = 0;
            }
        }
    }
    free(chunk.p);
    free(ev.p);
    free(ps.p);
    free(ac.p);
    free(st.p);
    free(cbuf);
    free(p);
    rw->bytes_per_access = accesses ? (double)out / (double)accesses : 0;
    rowwise_zstd_times(rw, &cs, raws, raw_lens, n_raw, accesses);
    for (size_t i = 0; i < n_raw; i++) {
        free(raws[i]);
        free(comp[i]);
    }
}

/* ---- reader memory ------------------------------------------------------------------------ */

static int read_trace(const char *path, double *rss_increase, double *mb_s, uint64_t raw_bytes,
                      uint64_t *events)
{
    struct hvt_fmt_reader *r;
    double base = hvt_bench_rss_mb(), peak = base;
    double t0 = hvt_bench_cpu_now();
    int rc = hvt_fmt_reader_open(&r, path, NULL);
    *events = 0;
    if (rc == 0) {
        struct hvt_record rec;
        while ((rc = hvt_fmt_reader_next(r, &rec)) == 1) {
            if ((++*events & 4095) == 0) {
                double now = hvt_bench_rss_mb();
                if (now > peak)
                    peak = now;
            }
        }
    }
    double now = hvt_bench_rss_mb();
    if (now > peak)
        peak = now;
    if (rc < 0)
        hvt_tool_err("reading %s: %s", path, hvt_fmt_reader_error(r)->message);
    hvt_fmt_reader_close(r);
    double dt = hvt_bench_cpu_now() - t0;
    *rss_increase = peak - base;
    *mb_s = dt > 0 ? (double)raw_bytes / dt / 1e6 : 0;
    return rc;
}

/* The reader over the first N_CHUNKS chunks only (the ones zstd_d_rate decompresses): raw MB
 * per CPU second. */
static double read_prefix(const char *path, uint64_t n_chunks)
{
    struct hvt_fmt_reader *r;
    uint64_t records = 0, raw = 0, seen = 0;
    double t0 = hvt_bench_cpu_now();
    if (hvt_fmt_reader_open(&r, path, NULL)) {
        hvt_fmt_reader_close(r);
        return 0;
    }
    for (uint64_t k = 0; k < n_chunks; k++) {
        struct hvt_fmt_chunk_info ci;
        if (hvt_fmt_reader_chunk_info(r, k, &ci))
            break;
        records += ci.n_records;
        raw += ci.raw_size;
    }
    struct hvt_record rec;
    while (seen < records && hvt_fmt_reader_next(r, &rec) == 1)
        seen++;
    hvt_fmt_reader_close(r);
    double dt = hvt_bench_cpu_now() - t0;
    return dt > 0 && seen == records ? (double)raw / dt / 1e6 : 0;
}

/* ---- main ----------------------------------------------------------------------------------- */

int hvt_bench_format(int argc, char **argv)
{
    int json = 0, write_only = 0, keep = 0;
    uint64_t raw_mb = 1024;
    int level = 999; /* the writer's default */
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--json")) {
            json = 1;
        } else if (!strcmp(argv[i], "--keep")) {
            keep = 1; /* leave the trace in $TMPDIR (for profiling the reader on it) */
        } else if (!strcmp(argv[i], "--write-only")) {
            write_only = 1; /* for profiling the writer */
        } else if (!strcmp(argv[i], "--level") && i + 1 < argc) {
            uint64_t v;
            const char *a = argv[++i];
            int neg = a[0] == '-';
            if (hvt_tool_parse_u64(a + neg, &v) || v > 100) {
                hvt_tool_err("bench format: bad --level value");
                return HVT_EXIT_USAGE;
            }
            level = neg ? -(int)v : (int)v;
        } else if (!strcmp(argv[i], "--raw-mb") && i + 1 < argc) {
            if (hvt_tool_parse_u64(argv[++i], &raw_mb) || raw_mb == 0) {
                hvt_tool_err("bench format: bad --raw-mb value");
                return HVT_EXIT_USAGE;
            }
        } else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            printf(
                "usage: hvtrace bench format [--json] [--raw-mb N] [--level L] [--write-only] "
                "[--keep]\n"
                "  Writes a synthetic trace of N MB of raw (encoded, uncompressed) chunk\n"
                "  payloads (default 1024) to $TMPDIR, measures writer speed against zstd -1 on\n"
                "  the same raw bytes, bytes per access (also for a row-wise encoding), and the\n"
                "  reader's RSS increase while reading the whole trace back. --keep leaves\n"
                "  the trace in $TMPDIR. --level: the writer's zstd level (default: the\n"
                "  writer's default).\n");
            return HVT_EXIT_OK;
        } else {
            hvt_tool_err("bench format: unknown argument %s", argv[i]);
            return HVT_EXIT_USAGE;
        }
    }
    const char *dir = getenv("TMPDIR");
    char path[4096];
    snprintf(path, sizeof(path), "%s/hvt_bench_format_%d.hvt", dir && *dir ? dir : "/tmp",
             (int)getpid());
    struct pool *p = pool_new();
    if (!p) {
        hvt_tool_err("bench format: out of memory");
        return HVT_EXIT_USAGE;
    }

    /* 1. bytes per access and writer speed on a 64 MB prefix-sized run, then the big trace */
    struct hvt_fmt_writer_stats st;
    int rc;
    uint64_t target = raw_mb * 1000000ull;
    double wall = 0;
    double dt = write_trace(path, p, target, level, &st, &rc, &wall);
    if (rc < 0) {
        hvt_tool_err("bench format: writing %s: %s", path, hvt_strerror(rc));
        unlink(path);
        free(p);
        return HVT_EXIT_USAGE;
    }
    double writer = dt > 0 ? (double)st.raw_bytes / dt / 1e6 : 0;
    if (write_only) {
        printf("writer_mb_s %.1f\n", writer);
        unlink(path);
        free(p);
        return HVT_EXIT_OK;
    }
    struct hvt_bench_report *rep = hvt_bench_report_new("format", json);

    size_t n = 0, *lens = NULL;
    struct comp_set cs = {0};
    uint8_t **bufs = load_raw_chunks(path, 256000000ull, &lens, &n, &cs);
    double r1 = 0, r3 = 0;
    double z1 = zstd_rate(bufs, lens, n, 1, &r1);
    double z3 = zstd_rate(bufs, lens, n, 3, &r3);
    /* zstd's decompression and the reader on the same chunks, in alternation, best of 3 each:
     * the two rates come from the same minutes of a shared machine */
    double zd = 0, rd = 0;
    for (int round = 0; round < 3; round++) {
        double z = zstd_d_rate(&cs, bufs, lens, n), x = read_prefix(path, n);
        zd = z > zd ? z : zd;
        rd = x > rd ? x : rd;
    }
    for (size_t i = 0; i < n; i++) {
        free(bufs[i]);
        free(cs.p[i]);
    }
    free(bufs);
    free(lens);
    free(cs.p);
    free(cs.len);

    double rss = 0, rmb = 0;
    uint64_t events = 0;
    read_trace(path, &rss, &rmb, st.raw_bytes, &events);

    hvt_bench_figure(rep, "writer_mb_s", writer,
                     "raw MB per CPU second (encoded payload) through encode+zstd3+write");
    double writer_wall = wall > 0 ? (double)st.raw_bytes / wall / 1e6 : 0;
    hvt_bench_figure(rep, "writer_wall_mb_s", writer_wall,
                     "per wall-clock second (generation excluded, fdatasync at close included)");
    hvt_bench_figure(rep, "zstd1_mb_s", z1, "ZSTD level 1 alone on the same raw bytes (CPU time)");
    hvt_bench_figure(rep, "writer_vs_zstd1", z1 > 0 ? writer / z1 : 0, "target >= 0.8");
    hvt_bench_figure(rep, "writer_wall_vs_zstd1", z1 > 0 ? writer_wall / z1 : 0,
                     "the same ratio on wall-clock writer time");
    hvt_bench_figure(rep, "zstd3_mb_s", z3, "ZSTD level 3 alone on the same raw bytes");
    /* the same figures per access: what a trace of N accesses costs, whatever its encoding's
     * raw size (the ratios above are per raw byte, and a more compact encoding gives zstd
     * fewer bytes to work on) */
    double acc = st.accesses ? (double)st.accesses : 1, rawm = (double)st.raw_bytes / 1e6;
    hvt_bench_figure(rep, "writer_ns_per_access", writer > 0 ? rawm / writer / acc * 1e9 : 0,
                     "writer CPU per access (encode + zstd + write)");
    hvt_bench_figure(rep, "zstd1_ns_per_access", z1 > 0 ? rawm / z1 / acc * 1e9 : 0,
                     "ZSTD level 1 alone per access, on the same raw bytes");
    hvt_bench_figure(rep, "bytes_per_access",
                     st.accesses ? (double)st.file_bytes / (double)st.accesses : 0,
                     "file bytes / accesses, target <= 2.0");
    hvt_bench_figure(rep, "raw_bytes_per_access",
                     st.accesses ? (double)st.raw_bytes / (double)st.accesses : 0,
                     "encoded bytes before zstd / accesses");
    struct rowwise rw;
    rowwise_measure(&rw);
    hvt_bench_figure(rep, "rowwise_bytes_per_access", rw.bytes_per_access,
                     "same stream, one protobuf message per access, zstd3");
    hvt_bench_figure(rep, "compression_ratio",
                     st.file_bytes ? (double)st.raw_bytes / (double)st.file_bytes : 0,
                     "raw / file bytes");
    hvt_bench_figure(rep, "zstd1_ratio", r1, "raw / zstd -1 bytes");
    hvt_bench_figure(rep, "raw_mb", (double)st.raw_bytes / 1e6, "raw MB written and read");
    hvt_bench_figure(rep, "file_mb", (double)st.file_bytes / 1e6, "trace file MB");
    hvt_bench_figure(rep, "events", (double)st.events, NULL);
    hvt_bench_figure(rep, "accesses", (double)st.accesses, NULL);
    hvt_bench_figure(rep, "chunks", (double)st.chunks, "default chunk size 256 KiB raw");
    hvt_bench_figure(rep, "reader_mb_s", rmb,
                     "raw MB per CPU second, sequential next() over the trace");
    hvt_bench_figure(rep, "zstd_d_mb_s", zd,
                     "ZSTD decompression alone of the first 256 MB of chunk payloads (raw MB per "
                     "CPU second, best of 3)");
    hvt_bench_figure(rep, "reader_prefix_mb_s", rd,
                     "the reader over the same chunks, rounds alternating with zstd's (best of 3)");
    hvt_bench_figure(rep, "reader_vs_zstd_d", zd > 0 ? rd / zd : 0,
                     "reader_prefix_mb_s / zstd_d_mb_s, target >= 0.5");
    hvt_bench_figure(rep, "reader_ns_per_access", rmb > 0 ? rawm / rmb / acc * 1e9 : 0,
                     "reader CPU per access (zstd + decode), whole trace");
    hvt_bench_figure(rep, "zstd_d_ns_per_access", zd > 0 ? rawm / zd / acc * 1e9 : 0,
                     "ZSTD decompression alone per access, on the same raw bytes");
    /* the per-access yardstick: zstd alone on the row-wise encoding of the same stream */
    double w_ns = writer > 0 ? rawm / writer / acc * 1e9 : 0;
    double r_ns = rmb > 0 ? rawm / rmb / acc * 1e9 : 0;
    hvt_bench_figure(rep, "rowwise_zstd1_ns_per_access", rw.zstd1_ns,
                     "ZSTD level 1 alone per access on the row-wise encoding (best of 5)");
    hvt_bench_figure(rep, "rowwise_zstd_d_ns_per_access", rw.zstd_d_ns,
                     "ZSTD decompression alone per access of the row-wise encoding (best of 5)");
    hvt_bench_figure(rep, "writer_vs_rowwise_zstd1", w_ns > 0 ? rw.zstd1_ns / w_ns : 0,
                     "rowwise_zstd1_ns_per_access / writer_ns_per_access (not the target)");
    hvt_bench_figure(rep, "reader_vs_rowwise_zstd_d", r_ns > 0 ? rw.zstd_d_ns / r_ns : 0,
                     "rowwise_zstd_d_ns_per_access / reader_ns_per_access (not the target)");
    hvt_bench_figure(rep, "reader_peak_rss_mb", rss,
                     "RSS increase while reading the whole trace (MiB)");
    hvt_bench_figure(rep, "reader_events", (double)events, "events read back");
    hvt_bench_report_done(rep);
    if (keep)
        fprintf(stderr, "bench format: trace kept as %s\n", path);
    else
        unlink(path);
    free(p);
    return HVT_EXIT_OK;
}
