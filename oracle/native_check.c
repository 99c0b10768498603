/* SPDX-License-Identifier: MIT */
/* check-core --against native: string, SIMD and gather forms on the reference core vs the CPU. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "hvtrace/core.h"
#include "hvtrace/error.h"
#include "hvtrace/oracle.h"
#include "common/ram.h"
#include "native.h"

/*
 * Layout shared by both sides. Linear: code at NC_CODE_LA (+ a small offset), NC_PAGES data
 * pages from NC_DATA_LA. The core sees them through 4-level paging (one PT) in a small guest
 * RAM: tables at 0x1000..0x4fff, the code frame at NC_CODE_GPA, data frames from NC_DATA_GPA.
 * Both run at CPL 3 in 64-bit mode; a PROT_NONE page is a not-present PTE, a read-only page a
 * PTE without R/W, so #PF error codes (P, W, U) compare exactly.
 */
#define NC_CODE_LA 0x20000000ull
#define NC_DATA_LA 0x20100000ull
#define NC_PAGES 4u
#define NC_RAM (64u * 4096u)
#define NC_PML4 0x1000u
#define NC_PDPT 0x2000u
#define NC_PD 0x3000u
#define NC_PT 0x4000u
#define NC_CODE_GPA 0x8000u
#define NC_DATA_GPA 0x10000u

#define PTE_P 1ull
#define PTE_RW 2ull
#define PTE_US 4ull
#define PTE_A 0x20ull
#define PTE_D 0x40ull

/* The core's guest RAM (common/ram.h): no device, port I/O is UNHANDLEABLE. */
struct nc_ram {
    struct hvt_ram ram;
    uint8_t mem[NC_RAM];
};

static void nc_ram_init(struct nc_ram *r)
{
    r->ram = (struct hvt_ram){.mem = r->mem, .size = NC_RAM, .io_result = HVT_OP_UNHANDLEABLE};
}

/* splitmix64 */
static uint64_t rnd(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}
static uint64_t below(uint64_t *s, uint64_t n)
{
    return n ? rnd(s) % n : 0;
}

/* ---- case generation ------------------------------------------------------------------ */

struct nc_case {
    struct hvt_native_case n;
    char name[32];
    const char *feature; /* CPU feature the form needs (skipped by name when absent) */
    int gather;          /* a gather: its destination and mask registers, element size */
    unsigned gdst, gmsk, gdsz;
};

static void put(struct nc_case *c, const uint8_t *b, unsigned len)
{
    memcpy(c->n.insn + c->n.insn_len, b, len);
    c->n.insn_len = (uint8_t)(c->n.insn_len + len);
}
static void put1(struct nc_case *c, uint8_t b)
{
    put(c, &b, 1);
}

/* An address in the data pages, OFFSET bytes from the start of page PAGE. */
static uint64_t data_la(unsigned page, uint64_t off)
{
    return NC_DATA_LA + (uint64_t)page * 4096u + off;
}

static void gen_string(struct nc_case *c, uint64_t *s)
{
    static const struct {
        uint8_t op;
        const char *name;
        int two; /* compares: REPE/REPNE matter */
    } ops[] = {{0xa4, "movs", 0},
               {0xaa, "stos", 0},
               {0xac, "lods", 0},
               {0xa6, "cmps", 1},
               {0xae, "scas", 1}};
    static const char sz[] = "bwdq";
    unsigned k = (unsigned)below(s, 5), size = (unsigned)below(s, 4), rep = (unsigned)below(s, 3);
    int a32 = below(s, 4) == 0;
    uint64_t hi = a32 ? (rnd(s) << 32) : 0;
    if (a32)
        put1(c, 0x67);
    if (size == 1)
        put1(c, 0x66);
    if (rep)
        put1(c, rep == 1 ? 0xf3 : 0xf2);
    if (size == 3)
        put1(c, 0x48);
    put1(c, (uint8_t)(ops[k].op | (size ? 1 : 0)));
    snprintf(c->name, sizeof(c->name), "%s%s%c",
             !rep          ? ""
             : !ops[k].two ? "rep "
             : rep == 1    ? "repe "
                           : "repne ",
             ops[k].name, sz[size]);
    c->n.in.gpr[HVT_RCX] = hi | below(s, 40);
    /* near a page boundary, in either direction */
    c->n.in.gpr[HVT_RSI] = hi | data_la((unsigned)below(s, NC_PAGES),
                                        below(s, 2) ? below(s, 64) : 4096 - below(s, 64));
    c->n.in.gpr[HVT_RDI] = hi | data_la((unsigned)below(s, NC_PAGES),
                                        below(s, 2) ? below(s, 64) : 4096 - below(s, 64));
    if (c->n.in.gpr[HVT_RSI] >= data_la(NC_PAGES, 0) - 8)
        c->n.in.gpr[HVT_RSI] -= 64;
    if (c->n.in.gpr[HVT_RDI] >= data_la(NC_PAGES, 0) - 8)
        c->n.in.gpr[HVT_RDI] -= 64;
    /* low-entropy data so that REPE/REPNE stop at varied places */
    if (ops[k].two)
        for (unsigned p = 0; p < c->n.n_pages; p++)
            for (unsigned i = 0; i < 4096; i++)
                c->n.pages[p].data[i] = (uint8_t)(below(s, 8) == 0);
    if (ops[k].two)
        c->n.in.gpr[HVT_RAX] = below(s, 2);
}

static void gen_simd(struct nc_case *c, uint64_t *s)
{
    static const struct {
        const char *name, *feature;
        uint8_t b[6];
        uint8_t len;
        uint8_t align; /* alignment the form needs, to bias addresses */
    } forms[] = {
        {"movdqa load", "sse2", {0x66, 0x0f, 0x6f}, 3, 16},
        {"movdqa store", "sse2", {0x66, 0x0f, 0x7f}, 3, 16},
        {"movdqu load", "sse2", {0xf3, 0x0f, 0x6f}, 3, 0},
        {"movdqu store", "sse2", {0xf3, 0x0f, 0x7f}, 3, 0},
        {"movaps load", "sse2", {0x0f, 0x28}, 2, 16},
        {"movaps store", "sse2", {0x0f, 0x29}, 2, 16},
        {"movups load", "sse2", {0x0f, 0x10}, 2, 0},
        {"movupd store", "sse2", {0x66, 0x0f, 0x11}, 3, 0},
        {"movapd load", "sse2", {0x66, 0x0f, 0x28}, 3, 16},
        {"movntdq", "sse2", {0x66, 0x0f, 0xe7}, 3, 16},
        {"movntps", "sse2", {0x0f, 0x2b}, 2, 16},
        {"movd load", "sse2", {0x66, 0x0f, 0x6e}, 3, 0},
        {"movq load (rex.w)", "sse2", {0x66, 0x48, 0x0f, 0x6e}, 4, 0},
        {"movd store", "sse2", {0x66, 0x0f, 0x7e}, 3, 0},
        {"movq load (f3)", "sse2", {0xf3, 0x0f, 0x7e}, 3, 0},
        {"movq store (d6)", "sse2", {0x66, 0x0f, 0xd6}, 3, 0},
        {"movnti", "sse2", {0x0f, 0xc3}, 2, 0},
        {"movnti (rex.w)", "sse2", {0x48, 0x0f, 0xc3}, 3, 0},
        {"vmovdqu128 load", "avx", {0xc5, 0xfa, 0x6f}, 3, 0},
        {"vmovdqu256 load", "avx", {0xc5, 0xfe, 0x6f}, 3, 0},
        {"vmovdqu256 store", "avx", {0xc5, 0xfe, 0x7f}, 3, 0},
        {"vmovdqa128 load", "avx", {0xc5, 0xf9, 0x6f}, 3, 16},
        {"vmovdqa256 load", "avx", {0xc5, 0xfd, 0x6f}, 3, 32},
        {"vmovdqa256 store", "avx", {0xc5, 0xfd, 0x7f}, 3, 32},
        {"vmovups256 load", "avx", {0xc5, 0xfc, 0x10}, 3, 0},
        {"vmovaps128 store", "avx", {0xc5, 0xf8, 0x29}, 3, 16},
        {"movdqu load (rex.r)", "sse2", {0xf3, 0x44, 0x0f, 0x6f}, 4, 0},
        {"vmovd load", "avx", {0xc5, 0xf9, 0x6e}, 3, 0},
        {"vmovq load (vex.w)", "avx", {0xc4, 0xe1, 0xf9, 0x6e}, 4, 0},
        {"vmovd store", "avx", {0xc5, 0xf9, 0x7e}, 3, 0},
        {"vmovq load (f3)", "avx", {0xc5, 0xfa, 0x7e}, 3, 0},
        {"vmovq store (d6)", "avx", {0xc5, 0xf9, 0xd6}, 3, 0},
        {"vmovdqu256 load (vex.r)", "avx", {0xc5, 0x7e, 0x6f}, 3, 0},
        {"cmpxchg8b", "sse2", {0x0f, 0xc7}, 2, 0},
        {"lock cmpxchg8b", "sse2", {0xf0, 0x0f, 0xc7}, 3, 0},
        {"cmpxchg16b", "cx16", {0x48, 0x0f, 0xc7}, 3, 16},
        {"lock cmpxchg16b", "cx16", {0xf0, 0x48, 0x0f, 0xc7}, 4, 16},
    };
    unsigned k = (unsigned)below(s, sizeof(forms) / sizeof(forms[0]));
    int cx = !strncmp(forms[k].name + (forms[k].name[0] == 'l' ? 5 : 0), "cmpxchg", 7);
    unsigned reg = cx ? 1 : (unsigned)below(s, 8);
    unsigned page = (unsigned)below(s, NC_PAGES);
    uint64_t off;
    put(c, forms[k].b, forms[k].len);
    /* [rsi] for cmpxchg (it uses rAX/rBX/rCX/rDX), [rax] otherwise; reg field random */
    put1(c, (uint8_t)((reg << 3) | (cx ? 6 : 0)));
    snprintf(c->name, sizeof(c->name), "%s", forms[k].name);
    c->feature = forms[k].feature;
    if (forms[k].align && below(s, 4))
        off = below(s, 4096 / forms[k].align) * forms[k].align;
    else
        off = below(s, 2) ? below(s, 4096) : 4096 - below(s, 40);
    if (page == NC_PAGES - 1 && off > 4096 - 32)
        off -= 32;
    c->n.in.gpr[cx ? HVT_RSI : HVT_RAX] = data_la(page, off);
    if (cx && below(s, 2) && off <= 4096 - 16) {
        /* make the comparison succeed half of the time */
        const struct hvt_native_page *p = &c->n.pages[page];
        uint64_t lo, hi2;
        memcpy(&lo, p->data + off, 8);
        memcpy(&hi2, p->data + off + 8, 8);
        if (strstr(forms[k].name, "16b")) {
            c->n.in.gpr[HVT_RAX] = lo;
            c->n.in.gpr[HVT_RDX] = hi2;
        } else {
            c->n.in.gpr[HVT_RAX] = (uint32_t)lo;
            c->n.in.gpr[HVT_RDX] = lo >> 32;
        }
    }
}

static void gen_gather(struct nc_case *c, uint64_t *s)
{
    static const char *const names[4][2] = {
        {"vpgatherdd", "vpgatherdq"},
        {"vpgatherqd", "vpgatherqq"},
        {"vgatherdps", "vgatherdpd"},
        {"vgatherqps", "vgatherqpd"},
    };
    unsigned op = (unsigned)below(s, 4), w = (unsigned)below(s, 2), l = (unsigned)below(s, 2);
    unsigned qidx = op & 1, isz = qidx ? 8 : 4, dsz = w ? 8 : 4;
    unsigned n = (l ? 32 : 16) / (isz > dsz ? isz : dsz);
    unsigned scale = (unsigned)below(s, 4);
    unsigned d = (unsigned)below(s, 16), m, x;
    uint8_t *yi, *ym;
    do
        m = (unsigned)below(s, 16);
    while (m == d);
    do
        x = (unsigned)below(s, 16);
    while (x == d || x == m);
    put1(c, 0xc4);
    put1(c, (uint8_t)((!(d & 8) << 7) | (!(x & 8) << 6) | (1 << 5) | 2)); /* R X B, map 0F38 */
    put1(c, (uint8_t)((w << 7) | ((~m & 15) << 3) | (l << 2) | 1));
    put1(c, (uint8_t)(0x90 + op));
    put1(c, (uint8_t)(((d & 7) << 3) | 4));
    put1(c, (uint8_t)((scale << 6) | ((x & 7) << 3) | 0)); /* base rax */
    snprintf(c->name, sizeof(c->name), "%s%s", names[op][w], l ? " ymm" : " xmm");
    c->feature = "avx2";
    c->gather = 1;
    c->gdst = d;
    c->gmsk = m;
    c->gdsz = dsz;
    c->n.in.gpr[HVT_RAX] = data_la(2, below(s, 4096));
    yi = c->n.in.ymm[x];
    ym = c->n.in.ymm[m];
    for (unsigned j = 0; j < n; j++) {
        /* an element offset within the data pages, relative to rax */
        int64_t target = (int64_t)data_la((unsigned)below(s, NC_PAGES), below(s, 4096 - 8));
        int64_t rel = (target - (int64_t)c->n.in.gpr[HVT_RAX]) >> scale;
        if (isz == 4) {
            int32_t v = (int32_t)rel;
            memcpy(yi + 4 * j, &v, 4);
        } else {
            memcpy(yi + 8 * j, &rel, 8);
        }
        if (below(s, 4) == 0)
            ym[j * dsz + dsz - 1] &= 0x7f;
        else
            ym[j * dsz + dsz - 1] |= 0x80;
    }
}

static void gen_case(struct nc_case *c, uint64_t seed)
{
    uint64_t s = seed;
    unsigned group;
    memset(c, 0, sizeof(*c));
    c->feature = "sse2";
    c->n.code_addr = NC_CODE_LA + below(&s, 64);
    c->n.n_pages = NC_PAGES;
    for (unsigned p = 0; p < NC_PAGES; p++) {
        c->n.pages[p].addr = data_la(p, 0);
        c->n.pages[p].prot = HVT_NATIVE_RW;
        for (unsigned i = 0; i < 4096; i += 8) {
            uint64_t v = rnd(&s);
            memcpy(c->n.pages[p].data + i, &v, 8);
        }
    }
    /* a page that faults (not present or read-only) forces a stop at some element */
    if (below(&s, 3) == 0)
        c->n.pages[below(&s, NC_PAGES)].prot = below(&s, 2) ? HVT_NATIVE_NONE : HVT_NATIVE_R;
    for (unsigned i = 0; i < 16; i++)
        c->n.in.gpr[i] = rnd(&s);
    c->n.in.rflags = (rnd(&s) & HVT_NATIVE_RFLAGS_MASK) | 2;
    c->n.in.flags = HVT_STATE_SIMD_VALID;
    c->n.in.mxcsr = 0x1f80;
    for (unsigned r = 0; r < 16; r++)
        for (unsigned i = 0; i < 32; i += 8) {
            uint64_t v = rnd(&s);
            memcpy(c->n.in.ymm[r] + i, &v, 8);
        }
    group = (unsigned)below(&s, 3);
    if (group == 0)
        gen_string(c, &s);
    else if (group == 1)
        gen_simd(c, &s);
    else
        gen_gather(c, &s);
}

/* ---- the core side --------------------------------------------------------------------- */

static void core_state(const struct nc_case *c, struct hvt_vcpu_state *st, struct nc_ram *ram)
{
    uint64_t pte;
    memset(st, 0, sizeof(*st));
    memset(ram->mem, 0, sizeof(ram->mem));
    memcpy(st->gpr, c->n.in.gpr, sizeof(st->gpr));
    st->rip = c->n.code_addr;
    st->rflags = c->n.in.rflags | HVT_RFLAGS_IF;
    st->flags = HVT_STATE_SIMD_VALID;
    st->mxcsr = c->n.in.mxcsr;
    memcpy(st->ymm, c->n.in.ymm, sizeof(st->ymm));
    st->cr0 = HVT_CR0_PE | HVT_CR0_MP | HVT_CR0_WP | HVT_CR0_PG;
    st->cr4 = HVT_CR4_PAE | HVT_CR4_OSFXSR | HVT_CR4_OSXMMEXCPT | HVT_CR4_OSXSAVE;
    st->efer = HVT_EFER_LME | HVT_EFER_LMA | HVT_EFER_NXE;
    st->xcr0 = 7;
    st->cr3 = NC_PML4;
    for (unsigned i = 0; i < 6; i++) {
        st->seg[i].attr =
            HVT_SEG_ATTR_P | HVT_SEG_ATTR_S | (3u << 5) | 0x3 | HVT_SEG_ATTR_DB | HVT_SEG_ATTR_G;
        st->seg[i].limit = 0xffffffffu;
        st->seg[i].sel = 0x2b;
    }
    st->seg[HVT_SEG_CS].attr =
        HVT_SEG_ATTR_P | HVT_SEG_ATTR_S | (3u << 5) | 0xb | HVT_SEG_ATTR_L | HVT_SEG_ATTR_G;
    st->seg[HVT_SEG_CS].sel = 0x33;
    st->seg[HVT_SEG_LDTR].attr = HVT_SEG_ATTR_UNUSABLE;
    st->seg[HVT_SEG_TR].attr = HVT_SEG_ATTR_P | 0xb;
    st->seg[HVT_SEG_TR].limit = 0x67;
    /* page tables: A and D preset everywhere, so no A/D write differs from the CPU's */
    pte = PTE_P | PTE_RW | PTE_US | PTE_A | PTE_D;
#define PUT64(gpa, v) memcpy(ram->mem + (gpa), &(uint64_t){(v)}, 8)
    PUT64(NC_PML4 + 8 * ((NC_CODE_LA >> 39) & 511), NC_PDPT | pte);
    PUT64(NC_PDPT + 8 * ((NC_CODE_LA >> 30) & 511), NC_PD | pte);
    PUT64(NC_PD + 8 * ((NC_CODE_LA >> 21) & 511), NC_PT | pte);
    PUT64(NC_PT + 8 * ((NC_CODE_LA >> 12) & 511), NC_CODE_GPA | PTE_P | PTE_US | PTE_A);
    for (unsigned p = 0; p < c->n.n_pages; p++) {
        const struct hvt_native_page *pg = &c->n.pages[p];
        uint64_t gpa = NC_DATA_GPA + 4096u * p;
        uint64_t e = pg->prot == HVT_NATIVE_NONE ? 0
                     : pg->prot == HVT_NATIVE_R  ? gpa | PTE_P | PTE_US | PTE_A | PTE_D
                                                 : gpa | pte;
        PUT64(NC_PT + 8 * ((pg->addr >> 12) & 511), e);
        memcpy(ram->mem + gpa, pg->data, 4096);
    }
#undef PUT64
    memcpy(ram->mem + NC_CODE_GPA + (c->n.code_addr & 4095), c->n.insn, c->n.insn_len);
}

/* A YMM register as SZ-byte elements, highest first ("[e7 e6 ... e0]"). */
static size_t put_elems(char *buf, size_t len, const uint8_t *y, unsigned sz)
{
    size_t o = 0;
    o += (size_t)snprintf(buf, len, "[");
    for (int i = 32 / (int)sz - 1; i >= 0; i--) {
        uint64_t v = 0;
        memcpy(&v, y + (unsigned)i * sz, sz);
        o += (size_t)snprintf(buf + (o < len ? o : len), o < len ? len - o : 0, "%s%0*" PRIx64,
                              i == 32 / (int)sz - 1 ? "" : " ", (int)sz * 2, v);
    }
    o += (size_t)snprintf(buf + (o < len ? o : len), o < len ? len - o : 0, "]");
    return o;
}

/* Compares; returns 0 when equal, 1 (and a description in DIFF) otherwise. */
static int compare(const struct nc_case *c, const struct hvt_core_result *res,
                   const struct hvt_vcpu_state *st, const struct nc_ram *ram,
                   const struct hvt_native_result *nr, char *diff, size_t len)
{
    size_t o = 0;
#define SAY(...) (o += (size_t)snprintf(diff + o, o < len ? len - o : 0, __VA_ARGS__))
    diff[0] = 0;
    if (nr->stop == HVT_NATIVE_DONE && res->out.kind != HVT_OUT_OKAY)
        SAY(" outcome: core %u (%s), cpu completed;", res->out.kind, res->detail);
    if (nr->stop == HVT_NATIVE_FAULT) {
        if (res->out.kind != HVT_OUT_EXCEPTION || res->out.vector != nr->vector)
            SAY(" outcome: core %u vector %u (%s), cpu fault %u;", res->out.kind, res->out.vector,
                res->detail, nr->vector);
        else if (nr->vector == HVT_VEC_PF && (res->out.cr2 != nr->cr2 ||
                                      (res->out.error_code & 0x1f) != (nr->error_code & 0x1f)))
            SAY(" #PF: core cr2 %#" PRIx64 " ec %#x, cpu cr2 %#" PRIx64 " ec %#" PRIx64 ";",
                res->out.cr2, res->out.error_code, nr->cr2, nr->error_code);
    }
    if (o)
        return 1;
    for (unsigned i = 0; i < 16; i++)
        if (st->gpr[i] != nr->out.gpr[i])
            SAY(" gpr%u: core %#" PRIx64 " cpu %#" PRIx64 ";", i, st->gpr[i], nr->out.gpr[i]);
    if (st->rip != nr->out.rip)
        SAY(" rip: core %#" PRIx64 " cpu %#" PRIx64 ";", st->rip, nr->out.rip);
    if ((st->rflags & HVT_NATIVE_RFLAGS_MASK) != nr->out.rflags)
        SAY(" rflags: core %#" PRIx64 " cpu %#" PRIx64 ";",
            (uint64_t)(st->rflags & HVT_NATIVE_RFLAGS_MASK), nr->out.rflags);
    for (unsigned r = 0; r < 16; r++) {
        char a[160], b[160];
        unsigned sz = 8;
        const char *role = "";
        if (!memcmp(st->ymm[r], nr->out.ymm[r], 32))
            continue;
        if (c->gather && (r == c->gdst || r == c->gmsk)) {
            sz = c->gdsz;
            role = r == c->gdst ? " (destination)" : " (mask)";
        }
        put_elems(a, sizeof(a), st->ymm[r], sz);
        put_elems(b, sizeof(b), nr->out.ymm[r], sz);
        SAY(" ymm%u%s: core %s cpu %s;", r, role, a, b);
    }
    if (c->gather && !memcmp(st->ymm[c->gdst], nr->out.ymm[c->gdst], 32) &&
        memcmp(st->ymm[c->gmsk], nr->out.ymm[c->gmsk], 32)) {
        /* the mask differs alone: show the destination too, both sides agree on it */
        char a[160];
        put_elems(a, sizeof(a), st->ymm[c->gdst], c->gdsz);
        SAY(" ymm%u (destination) both %s;", c->gdst, a);
    }
    for (unsigned p = 0; p < c->n.n_pages; p++)
        for (unsigned i = 0; i < 4096; i++)
            if (ram->mem[NC_DATA_GPA + 4096u * p + i] != nr->pages[p].data[i]) {
                SAY(" memory at %#" PRIx64 ": core %02x cpu %02x;", c->n.pages[p].addr + i,
                    ram->mem[NC_DATA_GPA + 4096u * p + i], nr->pages[p].data[i]);
                break;
            }
#undef SAY
    return o != 0;
}

struct nc_stat {
    char name[32];
    uint64_t cases, mismatches;
};

int hvt_oracle_native_check(uint64_t seed, uint64_t cases, int verbose,
                            const struct hvt_cpu_profile *cpu, FILE *out)
{
    struct hvt_cpu_profile prof;
    char text[HVT_CPU_TEXT_MAX], report[2048];
    struct hvt_core *core = NULL;
    struct nc_case *c = NULL;
    struct hvt_native_result *nr = NULL;
    struct nc_ram *ram = NULL;
    struct nc_stat *stats = NULL;
    unsigned nstats = 0;
    uint64_t mism = 0, skipped = 0, done = 0, excluded = 0;
    struct hvt_cpu_profile machine; /* what this host can run natively (CPUID, read once) */
    char errbuf[128], diff[2048];
    int rc;

    if (!out)
        return -HVT_E_INVALID;
    if (hvt_cpu_profile_cpuid(&machine) < 0 || !HVT_CPU_HAS(&machine, HVT_CPUF_SSE2))
        return -HVT_E_UNSUPPORTED;
    if (cpu) {
        prof = *cpu;
    } else {
        rc = hvt_orc_cpu_host(&prof, report, sizeof(report));
        if (rc < 0)
            return rc;
    }
    rc = hvt_core_open(&core, HVT_CORE_REF, errbuf, sizeof(errbuf));
    if (rc < 0)
        return rc;
    if ((rc = hvt_core_set_cpu(core, &prof)) < 0) {
        hvt_core_close(core);
        return rc;
    }
    if (hvt_cpu_profile_format(&prof, text, sizeof(text)) >= 0)
        fprintf(out, "cpu: %s\n", text);
    if (!cpu && verbose)
        fprintf(out, "probes:\n%s", report);
    c = malloc(sizeof(*c));
    nr = malloc(sizeof(*nr));
    ram = malloc(sizeof(*ram));
    stats = calloc(128, sizeof(*stats));
    if (!c || !nr || !ram || !stats) {
        rc = -HVT_E_NOMEM;
        goto done;
    }
    for (uint64_t i = 0; i < cases; i++) {
        uint64_t cseed = seed + i * 0x9e3779b97f4a7c15ull;
        struct hvt_vcpu_state st;
        struct hvt_core_result res;
        struct nc_stat *sp = NULL;
        int bad;

        gen_case(c, cseed);
        int f = hvt_cpu_feature_find(c->feature);
        if (f < 0 || !HVT_CPU_HAS(&machine, (unsigned)f)) {
            if (!skipped++)
                fprintf(out, "skipping forms that need %s: this host lacks it\n", c->feature);
            continue;
        }
        for (unsigned k = 0; k < nstats; k++)
            if (!strcmp(stats[k].name, c->name))
                sp = &stats[k];
        if (!sp && nstats < 128) {
            sp = &stats[nstats++];
            snprintf(sp->name, sizeof(sp->name), "%s", c->name);
        }
        rc = hvt_native_run(&c->n, nr);
        if (rc < 0) {
            fprintf(out, "case %" PRIu64 " (seed %#" PRIx64 ", %s): native run failed: %s\n", i,
                    cseed, c->name, hvt_strerror(rc));
            goto done;
        }
        core_state(c, &st, ram);
        nc_ram_init(ram);
        rc = hvt_core_emulate(core, &st, &hvt_ram_ops, &ram->ram, &res);
        if (rc < 0)
            goto done;
        bad = compare(c, &res, &st, ram, nr, diff, sizeof(diff));
        done++;
        if (bad && res.out.kind == HVT_OUT_UNHANDLEABLE && strstr(res.detail, "split") &&
            !strncmp(c->name, "lock ", 5)) {
            /* split-locked-unhandleable: the core (like Xen) refuses a LOCKed operand that
             * crosses a page; the CPU does a split lock */
            excluded++;
            continue;
        }
        if (sp) {
            sp->cases++;
            sp->mismatches += (uint64_t)bad;
        }
        if (bad) {
            mism++;
            if (verbose || mism <= 10) {
                fprintf(out, "mismatch: case seed %#" PRIx64 " %s, bytes", cseed, c->name);
                for (unsigned b = 0; b < c->n.insn_len; b++)
                    fprintf(out, " %02x", c->n.insn[b]);
                fprintf(out, ":%s\n", diff);
                if (verbose > 1) {
                    fprintf(out,
                            "  rcx %#" PRIx64 " rsi %#" PRIx64 " rdi %#" PRIx64 " rax %#" PRIx64
                            " rflags %#" PRIx64 " pages",
                            c->n.in.gpr[HVT_RCX], c->n.in.gpr[HVT_RSI], c->n.in.gpr[HVT_RDI],
                            c->n.in.gpr[HVT_RAX], c->n.in.rflags);
                    for (unsigned p = 0; p < c->n.n_pages; p++)
                        fprintf(out, " %u", c->n.pages[p].prot);
                    fprintf(out, "; core %s, cpu rcx %#" PRIx64 "\n", res.detail,
                            nr->out.gpr[HVT_RCX]);
                }
            }
        }
    }
    if (verbose) {
        fprintf(out, "%-24s %8s %10s\n", "form", "cases", "mismatches");
        for (unsigned k = 0; k < nstats; k++)
            fprintf(out, "%-24s %8" PRIu64 " %10" PRIu64 "\n", stats[k].name, stats[k].cases,
                    stats[k].mismatches);
    }
    if (excluded)
        fprintf(out, "%" PRIu64 " cases excluded by name: split-locked-unhandleable\n", excluded);
    if (skipped)
        fprintf(out, "%" PRIu64 " cases skipped (host lacks a feature)\n", skipped);
    fprintf(out, "%" PRIu64 " cases, %" PRIu64 " mismatches\n", done, mism);
    rc = mism > 0x7fffffff ? 0x7fffffff : (int)mism;
done:
    hvt_core_close(core);
    free(c);
    free(nr);
    free(ram);
    free(stats);
    return rc;
}
