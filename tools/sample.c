/* SPDX-License-Identifier: MIT */
/* hvtrace CLI: a deterministic synthetic trace (gen-sample, golden tests, fuzz seeds). */
#include "sample.h"

#include <string.h>

#define MAX_ACC 96
#define CODE_LIN 0xffffffff81000000ull
#define CODE_PHYS 0x01000000ull
#define MMIO_LIN 0xffffc90000010000ull
#define MMIO_PHYS 0xfebf0000ull
#define RAM_LIN 0xffff888000100000ull
#define RAM_PHYS 0x00100000ull
#define UNMAPPED_LIN 0x00007f0000000000ull
#define CR3 0x00001000ull
#define PTE_P 0x1ull
#define PTE_RW 0x2ull
#define PTE_A 0x20ull
#define PTE_D 0x40ull
#define UART 0x3f8

enum site { SITE_FETCH = 1, SITE_WALK, SITE_RAM, SITE_MMIO, SITE_PIO, SITE_AD, SITE__COUNT };

struct gen {
    uint64_t rng;
    struct hvt_event ev;
    struct hvt_pass pass[2];
    struct hvt_access acc[2][MAX_ACC];
};

/* splitmix64: small, fast, and the same on every platform. */
static uint64_t rnd(struct gen *g)
{
    uint64_t z = (g->rng += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static void put_le(uint8_t *p, uint64_t v, unsigned n)
{
    for (unsigned i = 0; i < n; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static struct hvt_access *new_acc(struct gen *g, unsigned pass)
{
    struct hvt_pass *p = &g->pass[pass];
    struct hvt_access *a;
    if (p->n_accesses >= MAX_ACC)
        return NULL;
    a = &g->acc[pass][p->n_accesses++];
    memset(a, 0, sizeof(*a));
    a->seg = HVT_SEG_NONE;
    return a;
}

/* Physical address of the paging structure at LEVEL (4 = PML4) that maps LIN. Upper levels
 * are shared by nearby addresses, as in a real guest. */
static uint64_t table_of(uint64_t lin, unsigned level)
{
    if (level == 4)
        return CR3;
    return 0x00200000ull * level + ((lin >> (12 + 9 * level)) & 0xff) * 0x1000;
}

/* The four walk reads that translate LIN to PAGE (leaf flags LEAF_FLAGS); returns the PTE's
 * physical address. A not-present PTE ends the walk there as hardware does. */
static uint64_t walk(struct gen *g, unsigned pass, uint8_t op, uint64_t lin, uint64_t page,
                     uint64_t leaf_flags)
{
    uint64_t pte_addr = 0;
    for (unsigned level = 4; level >= 1; level--) {
        struct hvt_access *a = new_acc(g, pass);
        uint64_t entry, at = table_of(lin, level) + ((lin >> (12 + 9 * (level - 1))) & 511) * 8;
        if (!a)
            return 0;
        entry = level > 1 ? table_of(lin, level - 1) | PTE_P | PTE_RW | PTE_A : page | leaf_flags;
        a->kind = HVT_ACC_READ;
        a->space = HVT_SPACE_RAM;
        a->tag.cls = HVT_TAG_WALK;
        a->tag.operand = op;
        a->tag.level = (uint8_t)level;
        a->phys = at;
        a->size = 8;
        a->callsite = SITE_WALK;
        put_le(a->data, entry, 8);
        pte_addr = at;
    }
    return pte_addr;
}

static void fetch(struct gen *g, unsigned pass)
{
    uint64_t rip = g->ev.init.rip, phys = CODE_PHYS + (rip - CODE_LIN);
    struct hvt_access *a;
    walk(g, pass, 0, rip, phys & ~0xfffull, PTE_P | PTE_A);
    a = new_acc(g, pass);
    if (!a)
        return;
    a->kind = HVT_ACC_FETCH;
    a->space = HVT_SPACE_RAM;
    a->tag.cls = HVT_TAG_FETCH;
    a->seg = HVT_SEG_CS;
    a->flags = HVT_AF_LINEAR_VALID;
    a->linear = rip;
    a->phys = phys;
    a->size = g->ev.insn_len;
    a->callsite = SITE_FETCH;
    memcpy(a->data, g->ev.insn, g->ev.insn_len);
}

static struct hvt_access *data_acc(struct gen *g, unsigned pass, uint8_t kind, uint8_t space,
                                   uint8_t op, uint32_t el, uint64_t lin, uint64_t phys,
                                   uint32_t size, uint64_t value)
{
    struct hvt_access *a = new_acc(g, pass);
    if (!a)
        return NULL;
    a->kind = kind;
    a->space = space;
    a->tag.cls = HVT_TAG_DATA;
    a->tag.operand = op;
    a->tag.element = el;
    a->seg = HVT_SEG_DS;
    a->flags = HVT_AF_LINEAR_VALID;
    a->linear = lin;
    a->phys = phys;
    a->size = size;
    a->callsite = space == HVT_SPACE_MMIO ? SITE_MMIO : SITE_RAM;
    put_le(a->data, value, size < 8 ? size : 8);
    return a;
}

static struct hvt_access *port_acc(struct gen *g, unsigned pass, uint8_t kind, uint64_t value)
{
    struct hvt_access *a = new_acc(g, pass);
    if (!a)
        return NULL;
    a->kind = kind;
    a->space = HVT_SPACE_PORT;
    a->tag.cls = HVT_TAG_IO;
    a->phys = UART;
    a->size = 1;
    a->callsite = SITE_PIO;
    a->data[0] = (uint8_t)value;
    return a;
}

static void set_insn(struct gen *g, const char *bytes, unsigned len)
{
    memcpy(g->ev.insn, bytes, len);
    g->ev.insn_len = (uint8_t)len;
}

static void init_state(struct hvt_vcpu_state *s, struct gen *g, uint32_t vcpu)
{
    static const uint32_t data_attr =
        0x3 | HVT_SEG_ATTR_S | HVT_SEG_ATTR_P | HVT_SEG_ATTR_DB | HVT_SEG_ATTR_G;
    memset(s, 0, sizeof(*s));
    for (int i = 0; i < 16; i++)
        s->gpr[i] = (rnd(g) & 0xffff) | ((uint64_t)i << 16);
    s->gpr[HVT_RSP] = 0xffffc90000200000ull - 0x1000ull * vcpu - 0x80;
    s->rip = CODE_LIN + (rnd(g) % 0x3000);
    s->rflags = 0x246;
    s->seg[HVT_SEG_CS] = (struct hvt_segment){.sel = 0x10,
                                              .attr = 0xb | HVT_SEG_ATTR_S | HVT_SEG_ATTR_P |
                                                      HVT_SEG_ATTR_L | HVT_SEG_ATTR_G,
                                              .limit = 0xffffffff};
    for (int seg = HVT_SEG_ES; seg <= HVT_SEG_GS; seg++) {
        if (seg != HVT_SEG_CS)
            s->seg[seg] = (struct hvt_segment){.sel = 0x18, .attr = data_attr, .limit = 0xffffffff};
    }
    s->seg[HVT_SEG_GS].base = 0xffff888007c00000ull + 0x40000ull * vcpu;
    s->seg[HVT_SEG_LDTR].attr = HVT_SEG_ATTR_UNUSABLE;
    s->seg[HVT_SEG_TR] = (struct hvt_segment){.sel = 0x40,
                                              .attr = 0xb | HVT_SEG_ATTR_P,
                                              .limit = 0x67,
                                              .base = 0xfffffe0000003000ull + 0x1000ull * vcpu};
    s->gdtr = (struct hvt_dtable){.base = 0xfffffe0000001000ull, .limit = 0x7f};
    s->idtr = (struct hvt_dtable){.base = 0xfffffe0000000000ull, .limit = 0xfff};
    s->cr0 = 0x80050033;
    s->cr3 = CR3;
    s->cr4 = 0x3706a0;
    s->efer = 0xd01;
    s->xcr0 = 0x7;
    s->mxcsr = 0x1f80;
}

/* End state of a pass that completed the instruction: the next RIP, plus what the caller
 * changes. */
static void finish(struct gen *g, unsigned pass)
{
    g->pass[pass].end = g->ev.init;
    g->pass[pass].end.rip += g->ev.insn_len;
    g->pass[pass].out.kind = HVT_OUT_OKAY;
}

static void retry(struct gen *g, unsigned pass, uint8_t cause)
{
    g->pass[pass].end = g->ev.init;
    g->pass[pass].out.kind = HVT_OUT_RETRY;
    g->pass[pass].out.retry_cause = cause;
}

/* mov eax, [rdi] on MMIO: RETRY on the first pass, the device's answer on the second. */
static void ev_mmio_read(struct gen *g)
{
    uint64_t off = (rnd(g) % 64) * 4, val = rnd(g) & 0xffffffff;
    set_insn(g, "\x8b\x07", 2);
    g->ev.init.gpr[HVT_RDI] = MMIO_LIN + off;
    for (unsigned p = 0; p < 2; p++) {
        struct hvt_access *a;
        fetch(g, p);
        walk(g, p, 0, MMIO_LIN + off, MMIO_PHYS, PTE_P | PTE_RW | PTE_A | PTE_D | 0x18);
        a = data_acc(g, p, HVT_ACC_READ, HVT_SPACE_MMIO, 0, 0, MMIO_LIN + off, MMIO_PHYS + off, 4,
                     p ? val : 0);
        if (a && !p)
            a->outcome = HVT_OP_RETRY;
    }
    g->ev.n_passes = 2;
    retry(g, 0, HVT_RETRY_MMIO);
    finish(g, 1);
    g->pass[1].end.gpr[HVT_RAX] = val;
}

/* mov [rdi], eax on MMIO: a posted write, done in one pass. */
static void ev_mmio_write(struct gen *g)
{
    uint64_t off = (rnd(g) % 64) * 4;
    set_insn(g, "\x89\x07", 2);
    g->ev.init.gpr[HVT_RDI] = MMIO_LIN + off;
    fetch(g, 0);
    walk(g, 0, 0, MMIO_LIN + off, MMIO_PHYS, PTE_P | PTE_RW | PTE_A | PTE_D | 0x18);
    data_acc(g, 0, HVT_ACC_WRITE, HVT_SPACE_MMIO, 0, 0, MMIO_LIN + off, MMIO_PHYS + off, 4,
             g->ev.init.gpr[HVT_RAX] & 0xffffffff);
    g->ev.n_passes = 1;
    finish(g, 0);
}

/* rep movsb from RAM to MMIO: the first pass stops after some iterations (rep-partial) and
 * commits RSI/RDI/RCX, the second finishes. */
static void ev_rep_movsb(struct gen *g)
{
    uint32_t total = 4 + (uint32_t)(rnd(g) % 5), first = 1 + (uint32_t)(rnd(g) % (total - 1));
    uint64_t src = RAM_LIN + 0x2000 + (rnd(g) % 0x100), dst = MMIO_LIN + 0x800;
    set_insn(g, "\xf3\xa4", 2);
    g->ev.init.gpr[HVT_RCX] = total;
    g->ev.init.gpr[HVT_RSI] = src;
    g->ev.init.gpr[HVT_RDI] = dst;
    for (unsigned p = 0; p < 2; p++) {
        uint32_t from = p ? first : 0, to = p ? total : first;
        fetch(g, p);
        walk(g, p, 0, src, RAM_PHYS + 0x2000, PTE_P | PTE_RW | PTE_A | PTE_D);
        walk(g, p, 1, dst, MMIO_PHYS, PTE_P | PTE_RW | PTE_A | PTE_D | 0x18);
        for (uint32_t i = from; i < to; i++) {
            uint64_t b = rnd(g) & 0xff;
            data_acc(g, p, HVT_ACC_READ, HVT_SPACE_RAM, 0, i, src + i,
                     RAM_PHYS + 0x2000 + (src - RAM_LIN - 0x2000) + i, 1, b);
            data_acc(g, p, HVT_ACC_WRITE, HVT_SPACE_MMIO, 1, i, dst + i, MMIO_PHYS + 0x800 + i, 1,
                     b);
        }
        g->pass[p].out.iterations = to - from;
    }
    g->ev.n_passes = 2;
    retry(g, 0, HVT_RETRY_REP_PARTIAL);
    g->pass[0].end.gpr[HVT_RCX] = total - first;
    g->pass[0].end.gpr[HVT_RSI] = src + first;
    g->pass[0].end.gpr[HVT_RDI] = dst + first;
    finish(g, 1);
    g->pass[1].end.gpr[HVT_RCX] = 0;
    g->pass[1].end.gpr[HVT_RSI] = src + total;
    g->pass[1].end.gpr[HVT_RDI] = dst + total;
}

/* mov [rbx], rax to a page whose PTE has A and D clear: the walk sets them with a locked
 * cmpxchg (tag ad, level 1) before the store. */
static void ev_ad_store(struct gen *g)
{
    uint64_t page = RAM_PHYS + 0x10000 + (rnd(g) % 16) * 0x1000, off = (rnd(g) % 512) * 8;
    uint64_t lin = RAM_LIN + (page - RAM_PHYS) + off, pte, pte_addr;
    struct hvt_access *a;
    set_insn(g, "\x48\x89\x03", 3);
    g->ev.init.gpr[HVT_RBX] = lin;
    fetch(g, 0);
    pte_addr = walk(g, 0, 0, lin, page, PTE_P | PTE_RW);
    pte = page | PTE_P | PTE_RW;
    a = new_acc(g, 0);
    if (a) {
        a->kind = HVT_ACC_CMPXCHG;
        a->space = HVT_SPACE_RAM;
        a->tag.cls = HVT_TAG_AD;
        a->tag.level = 1;
        a->flags = HVT_AF_LOCKED;
        a->phys = pte_addr;
        a->size = 8;
        a->callsite = SITE_AD;
        put_le(a->old, pte, 8);
        put_le(a->cur, pte, 8);
        put_le(a->data, pte | PTE_A | PTE_D, 8);
    }
    data_acc(g, 0, HVT_ACC_WRITE, HVT_SPACE_RAM, 0, 0, lin, page + off, 8, g->ev.init.gpr[HVT_RAX]);
    g->ev.n_passes = 1;
    finish(g, 0);
}

/* mov rax, [rsi] on an unmapped address: the walk finds a not-present PTE, #PF. */
static void ev_page_fault(struct gen *g)
{
    uint64_t lin = UNMAPPED_LIN + (rnd(g) % 0x100000) * 8;
    set_insn(g, "\x48\x8b\x06", 3);
    g->ev.init.gpr[HVT_RSI] = lin;
    fetch(g, 0);
    walk(g, 0, 0, lin, 0, 0);
    g->ev.n_passes = 1;
    g->pass[0].end = g->ev.init;
    g->pass[0].out.kind = HVT_OUT_EXCEPTION;
    g->pass[0].out.vector = 14;
    g->pass[0].out.flags = HVT_PO_HAS_ERROR_CODE;
    g->pass[0].out.error_code = 0;
    g->pass[0].out.cr2 = lin;
}

/* in al, dx: the device model answers on the second pass. */
static void ev_port_in(struct gen *g)
{
    uint64_t val = rnd(g) & 0xff;
    struct hvt_access *a;
    set_insn(g, "\xec", 1);
    g->ev.init.gpr[HVT_RDX] = UART + 5;
    for (unsigned p = 0; p < 2; p++) {
        fetch(g, p);
        a = port_acc(g, p, HVT_ACC_IO_IN, p ? val : 0);
        if (a) {
            a->phys = UART + 5;
            if (!p)
                a->outcome = HVT_OP_RETRY;
        }
    }
    g->ev.n_passes = 2;
    retry(g, 0, HVT_RETRY_PIO);
    finish(g, 1);
    g->pass[1].end.gpr[HVT_RAX] = (g->ev.init.gpr[HVT_RAX] & ~0xffull) | val;
}

/* out dx, al: done in one pass. */
static void ev_port_out(struct gen *g)
{
    set_insn(g, "\xee", 1);
    g->ev.init.gpr[HVT_RDX] = UART;
    fetch(g, 0);
    port_acc(g, 0, HVT_ACC_IO_OUT, g->ev.init.gpr[HVT_RAX]);
    g->ev.n_passes = 1;
    finish(g, 0);
}

static int define_callsites(struct hvt_fmt_writer *w)
{
    static const char *const names[SITE__COUNT] = {NULL,
                                                   "sim_insn_fetch",
                                                   "sim_walk_read",
                                                   "sim_ram_access",
                                                   "sim_mmio_access",
                                                   "sim_pio_access",
                                                   "sim_ad_update"};
    for (uint32_t id = 1; id < SITE__COUNT; id++) {
        struct hvt_frame fr[2] = {
            {.ip = 0x401000 + 0x100 * id + 0x1c,
             .offset = 0x1c,
             .function = names[id],
             .module = "hvtrace-sim"},
            {.ip = 0x400800 + 0x10 * id,
             .offset = 0x10 * id,
             .function = "sim_emulate_one",
             .module = "hvtrace-sim"},
        };
        struct hvt_callsite cs = {.id = id, .n_frames = 2, .frames = fr};
        int rc = hvt_fmt_writer_add_callsite(w, &cs);
        if (rc < 0)
            return rc;
    }
    return 0;
}

int hvt_sample_write(const char *path, uint64_t n_events, uint64_t seed,
                     const struct hvt_fmt_writer_options *opt, struct hvt_fmt_writer_stats *st,
                     struct hvt_fmt_error_info *err)
{
    static void (*const kinds[])(struct gen *) = {ev_mmio_read, ev_rep_movsb,  ev_ad_store,
                                                  ev_port_in,   ev_mmio_write, ev_page_fault,
                                                  ev_port_out};
    static const struct hvt_kv options[] = {{"generator", "gen-sample"}, {"policy", "none"}};
    struct hvt_fmt_header hdr = {
        .producer = "hvtrace gen-sample",
        .producer_version = "1",
        .hypervisor = "hvtrace-sim",
        .hypervisor_version = "synthetic",
        .core_name = "synthetic",
        .core_version = "0",
        .core_build_id = "none",
        .n_options = 2,
        .options = options,
        .uuid = {0x68, 0x76, 0x74, 0x72, 0x61, 0x63, 0x65, 0x2d, 0x73, 0x61, 0x6d, 0x70, 0x6c, 0x65,
                 0x00, 0x01},
        .start_time_ns = HVT_SAMPLE_START_NS,
    };
    struct hvt_fmt_writer *w = NULL;
    static struct gen g; /* large: keep it off the stack */
    static struct hvt_fmt_cpu_strings cpu_strs;
    struct hvt_cpu_profile cpu;
    int rc;

    if (err)
        memset(err, 0, sizeof(*err));
    /* a recorded profile other than the default, so that readers show what the trace says */
    if (hvt_cpu_profile_named(&cpu, "intel-skylake") < 0 ||
        hvt_fmt_header_set_cpu(&hdr, &cpu, &cpu_strs) < 0)
        return -HVT_E_INTERNAL;
    rc = hvt_fmt_writer_open(&w, path, &hdr, opt);
    if (rc < 0) {
        if (err)
            *err = *hvt_fmt_writer_last_error();
        return rc;
    }
    rc = define_callsites(w);
    memset(&g, 0, sizeof(g));
    g.rng = seed;
    for (uint64_t i = 0; rc >= 0 && i < n_events; i++) {
        memset(&g.ev, 0, sizeof(g.ev));
        memset(g.pass, 0, sizeof(g.pass));
        g.ev.id = i;
        g.ev.vcpu = (uint32_t)(i & 1);
        g.ev.time_ns = i * 1500 + rnd(&g) % 500;
        init_state(&g.ev.init, &g, g.ev.vcpu);
        kinds[i % (sizeof(kinds) / sizeof(kinds[0]))](&g);
        for (unsigned p = 0; p < 2; p++) {
            g.pass[p].index = p;
            g.pass[p].accesses = g.acc[p];
        }
        g.ev.passes = g.pass;
        /* Event 9 lost the tail of its first pass: the recorder says so in the event and in a
         * marker right after it. */
        if (i == 9) {
            g.ev.flags |= HVT_EV_INCOMPLETE;
            g.pass[0].lost = 2;
        }
        rc = hvt_fmt_writer_append(w, &g.ev);
        if (rc >= 0 && i == 9) {
            struct hvt_lost lost = {.vcpu = g.ev.vcpu,
                                    .count = 2,
                                    .event_id = i,
                                    .pass = 0,
                                    .access = g.pass[0].n_accesses};
            rc = hvt_fmt_writer_append_lost(w, &lost);
        }
    }
    if (rc < 0 && err)
        *err = *hvt_fmt_writer_error(w);
    {
        int crc = hvt_fmt_writer_close(w, st);
        if (rc >= 0 && crc < 0)
            rc = crc;
    }
    return rc < 0 ? rc : 0;
}
