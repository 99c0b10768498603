/* SPDX-License-Identifier: MIT */
/* Replayer tests: synthetic traces made by running the reference core on a tiny machine (flat
 * RAM, 4-level paging, an MMIO window that answers RETRY on the first pass) and writing what
 * it did with the format writer; a hook between passes plays the racing writer. */
#ifndef HVT_TEST_REPLAYER_SYNTH_H
#define HVT_TEST_REPLAYER_SYNTH_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hvt_test.h"
#include "common/ram.h"
#include "hvtrace/core.h"
#include "hvtrace/format.h"
#include "hvtrace/replay.h"

#define SY_RAM (4u << 20)
#define SY_CODE 0x10000ull /* code, identity-mapped */
#define SY_DATA 0x20000ull /* RAM data, identity-mapped */
#define SY_PT 0x5000ull    /* the page table (L1) of the first 2 MiB */
#define SY_WIN 0x400000ull /* a linear page mapped by PTE SY_WIN_PTE */
#define SY_PT2 0x6000ull   /* the L1 table of 0x400000..0x5fffff */
#define SY_WIN_PTE (SY_PT2 + 0)
#define SY_MMIO 0x300000ull /* [SY_MMIO, SY_MMIO + 64 KiB): device registers */
#define SY_MMIO_END (SY_MMIO + 0x10000)
#define SY_PASSES 8

struct sy {
    struct hvt_core *core;
    uint8_t *mem;
    struct hvt_vcpu_state st;
    uint32_t pass;        /* pass being run */
    uint8_t mmio_counter; /* value of the next MMIO read answered OKAY */
    struct hvt_access acc[SY_PASSES][256];
    struct hvt_pass passes[SY_PASSES];
    struct hvt_event ev;
    uint64_t next_id;
};

/* Records one op the way the recorder would. */
static inline struct hvt_access *sy_log(struct sy *s, uint8_t kind, uint64_t gpa, uint32_t size,
                                        const struct hvt_op_info *info)
{
    struct hvt_pass *p = &s->passes[s->pass];
    struct hvt_access *a;
    if (p->n_accesses >= 256)
        abort();
    a = &s->acc[s->pass][p->n_accesses++];
    memset(a, 0, sizeof(*a));
    a->kind = kind;
    a->space = gpa >= SY_MMIO && gpa < SY_MMIO_END ? HVT_SPACE_MMIO : HVT_SPACE_RAM;
    a->seg = info->seg;
    a->tag = info->tag;
    a->size = size;
    a->flags = info->flags & 7u;
    a->linear = (info->flags & HVT_OPF_LINEAR_VALID) ? info->linear : 0;
    a->phys = gpa;
    return a;
}

static inline int sy_mmio(uint64_t gpa)
{
    return gpa >= SY_MMIO && gpa < SY_MMIO_END;
}

static int sy_read(void *ctx, uint64_t gpa, void *buf, uint32_t size, struct hvt_op_info *info)
{
    struct sy *s = ctx;
    struct hvt_access *a =
        sy_log(s, info->kind == HVT_ACC_FETCH ? HVT_ACC_FETCH : HVT_ACC_READ, gpa, size, info);
    if (sy_mmio(gpa)) {
        info->space = HVT_SPACE_MMIO;
        if (s->pass == 0)
            return a->outcome = HVT_OP_RETRY;
        memset(buf, s->mmio_counter++, size);
    } else {
        int r = hvt_ram_read(&(struct hvt_ram){.mem = s->mem, .size = SY_RAM}, gpa, buf, size);
        if (r != HVT_OP_OKAY)
            return a->outcome = (uint8_t)r;
    }
    memcpy(a->data, buf, size);
    return HVT_OP_OKAY;
}

static int sy_write(void *ctx, uint64_t gpa, const void *buf, uint32_t size,
                    struct hvt_op_info *info)
{
    struct sy *s = ctx;
    struct hvt_access *a = sy_log(s, HVT_ACC_WRITE, gpa, size, info);
    memcpy(a->data, buf, size);
    if (sy_mmio(gpa)) {
        info->space = HVT_SPACE_MMIO;
        return a->outcome = s->pass == 0 ? HVT_OP_RETRY : HVT_OP_OKAY;
    }
    return a->outcome =
               (uint8_t)hvt_ram_write(&(struct hvt_ram){.mem = s->mem, .size = SY_RAM}, gpa, buf, size);
}

static int sy_cmpxchg(void *ctx, uint64_t gpa, void *old, const void *new_, uint32_t size,
                      struct hvt_op_info *info)
{
    struct sy *s = ctx;
    struct hvt_access *a = sy_log(s, HVT_ACC_CMPXCHG, gpa, size, info);
    memcpy(a->data, new_, size);
    memcpy(a->old, old, size);
    if (sy_mmio(gpa) || gpa + size > SY_RAM)
        return a->outcome = HVT_OP_UNHANDLEABLE;
    memcpy(a->cur, s->mem + gpa, size);
    return a->outcome = (uint8_t)hvt_ram_cmpxchg(&(struct hvt_ram){.mem = s->mem, .size = SY_RAM},
                                                 gpa, old, new_, size);
}

static int sy_io_in(void *ctx, uint16_t port, void *buf, uint32_t size, struct hvt_op_info *info)
{
    struct sy *s = ctx;
    struct hvt_access *a = sy_log(s, HVT_ACC_IO_IN, port, size, info);
    a->space = HVT_SPACE_PORT;
    if (s->pass == 0)
        return a->outcome = HVT_OP_RETRY;
    memset(buf, 0x5a, size);
    memcpy(a->data, buf, size);
    return HVT_OP_OKAY;
}

static int sy_io_out(void *ctx, uint16_t port, const void *buf, uint32_t size,
                     struct hvt_op_info *info)
{
    struct sy *s = ctx;
    struct hvt_access *a = sy_log(s, HVT_ACC_IO_OUT, port, size, info);
    a->space = HVT_SPACE_PORT;
    memcpy(a->data, buf, size);
    return a->outcome = s->pass == 0 ? HVT_OP_RETRY : HVT_OP_OKAY;
}

static const struct hvt_core_ops sy_ops = {
    sizeof(struct hvt_core_ops), sy_read, sy_write, sy_cmpxchg, sy_io_in, sy_io_out,
};

static inline void sy_put64(struct sy *s, uint64_t gpa, uint64_t v)
{
    memcpy(s->mem + gpa, &v, 8);
}

/* A 64-bit machine: PML4 0x1000 -> PDPT 0x2000 -> PD 0x3000 -> PT SY_PT (first 2 MiB, 4 KiB
 * pages, identity) and PT2 SY_PT2 (0x400000.., SY_WIN -> MMIO). A/D set unless ADCLEAR. */
static inline void sy_init(struct sy *s, const char *core)
{
    char err[256];
    memset(s, 0, sizeof(*s));
    s->mem = calloc(1, SY_RAM);
    if (!s->mem || hvt_core_open(&s->core, core, err, sizeof(err))) {
        fprintf(stderr, "synth: %s\n", err);
        abort();
    }
    sy_put64(s, 0x1000, 0x2000 | 0x67);
    sy_put64(s, 0x2000, 0x3000 | 0x67);
    sy_put64(s, 0x3000, SY_PT | 0x67);
    sy_put64(s, 0x3000 + 2 * 8, SY_PT2 | 0x67);
    for (uint64_t i = 0; i < 512; i++)
        sy_put64(s, SY_PT + 8 * i, (i << 12) | 0x67);
    for (uint64_t i = 0; i < 512; i++)
        sy_put64(s, SY_PT2 + 8 * i, (SY_MMIO + (i % 16) * 0x1000) | 0x67);
    for (unsigned i = 0; i < 6; i++) {
        s->st.seg[i].limit = 0xffffffffu;
        s->st.seg[i].attr = HVT_SEG_ATTR_P | HVT_SEG_ATTR_S | HVT_SEG_ATTR_DB | HVT_SEG_ATTR_G | 3;
    }
    s->st.seg[HVT_SEG_CS].attr =
        HVT_SEG_ATTR_P | HVT_SEG_ATTR_S | HVT_SEG_ATTR_G | 0xb | HVT_SEG_ATTR_L;
    s->st.seg[HVT_SEG_LDTR].attr = HVT_SEG_ATTR_UNUSABLE;
    s->st.seg[HVT_SEG_TR].attr = HVT_SEG_ATTR_P | 0xb;
    s->st.seg[HVT_SEG_TR].limit = 0x67;
    s->st.cr0 = 0x80000001ull; /* PE PG */
    s->st.cr4 = 0x20;          /* PAE */
    s->st.efer = 0x500;        /* LME LMA */
    s->st.cr3 = 0x1000;
    s->st.rflags = 2;
    s->st.rip = SY_CODE;
    s->st.gpr[HVT_RSP] = 0x30000;
}

static inline void sy_free(struct sy *s)
{
    hvt_core_close(s->core);
    free(s->mem);
}

/* Hook called after each RETRY pass K (the racing writer's moment). */
typedef void (*sy_hook)(struct sy *s, uint32_t k);

/* Emulates the instruction HEX (placed at RIP) as one event: passes until one does not end
 * RETRY. Fills s->ev (pointing into s). Returns the number of passes. */
static inline uint32_t sy_event(struct sy *s, const char *hex, sy_hook hook)
{
    unsigned n = 0, v;
    const char *h = hex;
    struct hvt_core_result res;

    while (*h) {
        while (*h == ' ')
            h++;
        if (!*h || sscanf(h, "%2x", &v) != 1)
            break;
        s->mem[s->st.rip + n++] = (uint8_t)v;
        h += 2;
    }
    memset(&s->ev, 0, sizeof(s->ev));
    memset(s->passes, 0, sizeof(s->passes));
    s->ev.id = s->next_id++;
    s->ev.init = s->st;
    s->ev.insn_len = (uint8_t)n;
    memcpy(s->ev.insn, s->mem + s->st.rip, n);
    s->ev.passes = s->passes;
    for (s->pass = 0; s->pass < SY_PASSES; s->pass++) {
        struct hvt_pass *p = &s->passes[s->pass];
        p->index = s->pass;
        p->accesses = s->acc[s->pass];
        memset(&res, 0, sizeof(res));
        if (hvt_core_emulate(s->core, &s->st, &sy_ops, s, &res))
            abort();
        p->out = res.out;
        p->end = s->st;
        s->ev.n_passes = s->pass + 1;
        if (res.out.kind != HVT_OUT_RETRY)
            break;
        if (hook)
            hook(s, s->pass);
    }
    return s->ev.n_passes;
}

/* Opens a writer on a fresh temporary file (name in PATH, 64 bytes). */
static inline struct hvt_fmt_writer *sy_writer(char *path, size_t chunk_bytes)
{
    struct hvt_fmt_header hdr;
    struct hvt_fmt_writer_options o;
    struct hvt_fmt_writer *w = NULL;
    const char *tmp = getenv("TMPDIR");
    int fd;
    snprintf(path, 64, "%s/rplXXXXXX", tmp && strlen(tmp) < 40 ? tmp : "/tmp");
    fd = mkstemp(path);
    if (fd < 0)
        abort();
    close(fd);
    memset(&hdr, 0, sizeof(hdr));
    hdr.producer = "test-synth";
    hvt_fmt_writer_options_init(&o);
    o.flags = HVT_FMT_W_OVERWRITE;
    if (chunk_bytes)
        o.chunk_bytes = chunk_bytes;
    if (hvt_fmt_writer_open(&w, path, &hdr, &o))
        abort();
    return w;
}

/* Counts findings of class CLS in a report. */
static inline unsigned sy_count(const struct hvt_rpl_event_report *r, unsigned cls)
{
    unsigned n = 0;
    for (size_t i = 0; i < r->n_findings; i++)
        n += r->findings[i].cls == cls;
    return n;
}

static inline const struct hvt_rpl_finding *sy_find(const struct hvt_rpl_event_report *r,
                                                    unsigned cls)
{
    for (size_t i = 0; i < r->n_findings; i++)
        if (r->findings[i].cls == cls)
            return &r->findings[i];
    return NULL;
}

#endif
