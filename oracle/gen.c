/* SPDX-License-Identifier: MIT */
/* Oracle: random case generation: vCPU state, page tables, and the layout of code, data, stack. */
#include <stdlib.h>
#include <string.h>

#include "gen.h"

/* Frame bits of an entry: RAM is below 4 MiB, so reserved bits set on purpose never leak in. */
#define ORC_PA_MASK 0x00000000fffff000ull

/* ---- small helpers ---------------------------------------------------------------------- */

static uint64_t sext(uint64_t v, unsigned bits)
{
    return bits >= 64 ? v : (uint64_t)((int64_t)(v << (64 - bits)) >> (64 - bits));
}

uint64_t hvt_orc_interesting(struct orc_rng *r)
{
    static const uint64_t vals[] = {
        0, 1, 2, 0xffffffffffffffffull, 0x7f, 0x80, 0xff, 0x7fff, 0x8000, 0xffff,
        0x7fffffff, 0x80000000, 0xffffffff, 0x100000000ull, 0x7fffffffffffffffull,
        0x8000000000000000ull, 0xfffffffffffffffeull, 31, 32, 33, 63, 64, 65, 7, 8, 9, 15, 16,
    };
    switch (orc_below(r, 4)) {
    case 0:
        return vals[orc_below(r, sizeof(vals) / sizeof(vals[0]))];
    case 1:
        return orc_below(r, 80);
    case 2:
        return sext(orc_next(r), 8u << orc_below(r, 4));
    default:
        return orc_next(r);
    }
}

/* ---- physical frames --------------------------------------------------------------------- */

/* Data-pool frames come in pairs so that any operand can spill into the next frame. */
static uint64_t pool_alloc(struct orc_gen *g)
{
    uint64_t f = g->next_pool;
    g->next_pool += 0x2000;
    if (g->next_pool > ORC_POOL_HI)
        g->next_pool = ORC_POOL_LO; /* cannot happen with the few pages a case maps */
    return f;
}

static uint64_t pt_alloc(struct orc_gen *g, int stub)
{
    uint64_t f;
    if (stub) {
        f = g->next_stub_pt;
        g->next_stub_pt += 0x1000;
    } else {
        f = g->next_pt;
        g->next_pt += 0x1000;
    }
    memset(g->c->ram + f, 0, 0x1000);
    return f;
}

/* ---- paging structures -------------------------------------------------------------------- */

static unsigned top_level(const struct orc_gen *g)
{
    switch (g->c->paging) {
    case HVT_ORC_PG_5L:
        return 5;
    case HVT_ORC_PG_4L:
        return 4;
    case HVT_ORC_PG_PAE:
        return 3;
    default:
        return 2;
    }
}

static unsigned esize(const struct orc_gen *g)
{
    return g->c->paging == HVT_ORC_PG_2L || g->c->paging == HVT_ORC_PG_2L_PSE ? 4 : 8;
}

static unsigned pt_index(const struct orc_gen *g, uint64_t la, unsigned level)
{
    if (esize(g) == 4)
        return (unsigned)(la >> (level == 2 ? 22 : 12)) & 1023u;
    if (g->c->paging == HVT_ORC_PG_PAE && level == 3)
        return (unsigned)(la >> 30) & 3u;
    return (unsigned)(la >> (12 + 9 * (level - 1))) & 511u;
}

static uint64_t get_ent(const struct orc_gen *g, uint64_t addr)
{
    uint64_t v = 0;
    memcpy(&v, g->c->ram + addr, esize(g));
    return v;
}

static void put_ent(struct orc_gen *g, uint64_t addr, uint64_t v)
{
    memcpy(g->c->ram + addr, &v, esize(g));
}

/* Leaf size of a large page at LEVEL, or 0 when LEVEL cannot hold one in this mode. */
static uint64_t large_size(const struct orc_gen *g, unsigned level)
{
    switch (g->c->paging) {
    case HVT_ORC_PG_2L_PSE:
        return level == 2 ? 0x400000ull : 0;
    case HVT_ORC_PG_PAE:
        return level == 2 ? 0x200000ull : 0;
    case HVT_ORC_PG_4L:
    case HVT_ORC_PG_5L:
        return level == 2 ? 0x200000ull : level == 3 ? 0x40000000ull : 0;
    default:
        return 0;
    }
}

/* Random permission bits of one entry. IMPORTANT entries (code) fault less often. */
static uint64_t rand_bits(struct orc_gen *g, unsigned level, int leaf, int important)
{
    struct orc_rng *r = &g->r;
    uint64_t e = 0;
    int wide = esize(g) == 8;
    if (orc_pct(r, important ? 99 : 95))
        e |= 1;
    else
        g->c->provoked |= HVT_ORC_P_NOT_PRESENT;
    if (orc_pct(r, important ? 70 : 85))
        e |= 2;
    if (orc_pct(r, g->c->cpl == 3 ? (important ? 98 : 88) : 60))
        e |= 4;
    if (orc_pct(r, 50))
        e |= 0x20; /* A */
    if (leaf && orc_pct(r, 50))
        e |= 0x40; /* D */
    if (wide && orc_pct(r, 3)) {
        e |= 1ull << 63; /* NX: reserved while EFER.NXE = 0 (unicorn cannot set NXE) */
        g->c->provoked |= HVT_ORC_P_RSVD;
    }
    if (orc_pct(r, 3)) {
        /* reserved bits that do not depend on MAXPHYADDR (the core models 52, unicorn 40) */
        if (wide && !leaf && level >= 4) {
            e |= 0x80; /* PS in a PML4E/PML5E */
            g->c->provoked |= HVT_ORC_P_RSVD;
        } else if (leaf && level == 2 && !wide) {
            e |= 1ull << 21; /* 4 MiB PDE */
            g->c->provoked |= HVT_ORC_P_RSVD;
        } else if (leaf && level >= 2 && wide) {
            e |= 1ull << (13 + orc_below(r, 8)); /* bits 20:13 of a 2M/1G leaf */
            g->c->provoked |= HVT_ORC_P_RSVD;
        }
    }
    return e;
}

/*
 * Maps the page of LA. WANT is the leaf size asked for (0x1000 or a large size). Returns the
 * physical address LA translates to (existing mappings are kept: a large leaf already covering
 * LA gives LA's offset in it). Stub mappings use their own fixed bits and table frames.
 */
static uint64_t map_page(struct orc_gen *g, uint64_t la, uint64_t want, uint64_t frame,
                         int important, int stub)
{
    uint64_t table = g->top, e, addr;
    unsigned level;
    const uint64_t stub_bits = 0x63; /* P RW A D, supervisor */
    for (level = top_level(g); level >= 1; level--) {
        addr = table + (uint64_t)pt_index(g, la, level) * esize(g);
        e = get_ent(g, addr);
        if (g->c->paging == HVT_ORC_PG_PAE && level == 3) {
            if (!e) {
                /* PDPTE: only P and the address are defined (others are reserved) */
                uint64_t pd = pt_alloc(g, 0);
                e = pd | (stub || orc_pct(&g->r, 96) ? 1u : 0u);
                if (!(e & 1))
                    g->c->provoked |= HVT_ORC_P_NOT_PRESENT;
                put_ent(g, addr, e);
            }
            table = e & ORC_PA_MASK;
            continue;
        }
        uint64_t lsz = level == 1 ? 0x1000 : large_size(g, level);
        if (e) {
            if (level == 1 || ((e & 0x80) && lsz)) { /* existing leaf */
                uint64_t sz = level == 1 ? 0x1000 : lsz;
                uint64_t base = esize(g) == 4 && level == 2 ? (e & 0xffc00000ull)
                                                            : (e & ORC_PA_MASK & ~(sz - 1));
                return base + (la & (sz - 1));
            }
            table = esize(g) == 4 ? (e & 0xfffff000ull) : (e & ORC_PA_MASK);
            continue;
        }
        if (lsz == want || level == 1) {
            uint64_t bits = stub ? stub_bits : rand_bits(g, level, 1, important);
            if (level > 1)
                bits |= 0x80; /* PS; large leaves map physical 0 */
            e = (level == 1 ? frame : 0) | bits;
            put_ent(g, addr, e);
            return level == 1 ? frame + (la & 0xfff) : (la & (lsz - 1));
        }
        uint64_t next = pt_alloc(g, stub && !(level == top_level(g) && 0));
        uint64_t bits = stub ? stub_bits & ~0x40ull : rand_bits(g, level, 0, important);
        put_ent(g, addr, next | bits);
        table = next;
    }
    return 0; /* unreachable */
}

/* Is LA's leaf already there, and of which size? 0 when not mapped yet. */
static uint64_t mapped_size(struct orc_gen *g, uint64_t la)
{
    uint64_t table = g->top, e;
    unsigned level;
    for (level = top_level(g); level >= 1; level--) {
        e = get_ent(g, table + (uint64_t)pt_index(g, la, level) * esize(g));
        if (!e)
            return 0;
        if (g->c->paging == HVT_ORC_PG_PAE && level == 3) {
            table = e & ORC_PA_MASK;
            continue;
        }
        if (level == 1)
            return 0x1000;
        if ((e & 0x80) && large_size(g, level))
            return large_size(g, level);
        table = esize(g) == 4 ? (e & 0xfffff000ull) : (e & ORC_PA_MASK);
    }
    return 0;
}

/* Remembers a page so that bytes can be written at linear addresses. */
static void note_page(struct orc_gen *g, uint64_t la, uint64_t pa)
{
    for (unsigned i = 0; i < g->n_pages; i++)
        if (g->pages[i].la == (la & ~0xfffull))
            return; /* the first translation noted wins: one frame per linear page */
    if (g->n_pages < ORC_GEN_MAX_PAGES) {
        g->pages[g->n_pages].la = la & ~0xfffull;
        g->pages[g->n_pages].pa = pa & ~0xfffull;
        g->n_pages++;
    }
}

/* Chooses where LA_HINT's page goes, maps it, and returns the final linear address with the
 * same page offset (large pages force the bits below the page size). */
uint64_t hvt_orc_place(struct orc_gen *g, uint64_t la_hint, int important)
{
    uint64_t off = la_hint & 0xfff, la = la_hint & ~0xfffull, pa, sz;
    if (g->c->paging == HVT_ORC_PG_OFF) {
        note_page(g, la, la);
        return la_hint;
    }
    sz = mapped_size(g, la);
    if (sz == 0x1000) {
        pa = map_page(g, la, 0x1000, 0, important, 0);
        note_page(g, la, pa);
        return la | off;
    }
    uint64_t frame = pool_alloc(g);
    if (!sz) {
        /* a new leaf: sometimes large */
        uint64_t cands[3] = {0x1000, 0, 0};
        unsigned n = 1;
        for (unsigned lv = 2; lv <= 3; lv++)
            if (large_size(g, lv))
                cands[n++] = large_size(g, lv);
        sz = orc_pct(&g->r, 35) ? cands[orc_below(&g->r, n)] : 0x1000;
    }
    if (sz != 0x1000)
        la = (la & ~(sz - 1)) | frame;
    pa = map_page(g, la, sz, frame, important, 0);
    note_page(g, la, pa);
    /* the following page too, for operands that spill over */
    if (sz != 0x1000)
        note_page(g, la + 0x1000, pa + 0x1000);
    return la | off;
}

/* Maps exactly LA's page (no moving): used for the second page of a split operand. */
void hvt_orc_place_exact(struct orc_gen *g, uint64_t la, int important)
{
    uint64_t pa;
    la &= ~0xfffull;
    for (unsigned i = 0; i < g->n_pages; i++)
        if (g->pages[i].la == la)
            return;
    if (g->c->paging == HVT_ORC_PG_OFF) {
        note_page(g, la, la);
        return;
    }
    pa = mapped_size(g, la) ? map_page(g, la, 0x1000, 0, important, 0)
                            : map_page(g, la, 0x1000, pool_alloc(g), important, 0);
    note_page(g, la, pa);
}

/* Writes bytes at a linear address of a noted page (pages that fall outside RAM are skipped:
 * the case then faults or is refused, which both sides see alike). */
void hvt_orc_put_la(struct orc_gen *g, uint64_t la, const void *src, unsigned n)
{
    const uint8_t *p = src;
    for (unsigned i = 0; i < n; i++, la++) {
        for (unsigned j = 0; j < g->n_pages; j++) {
            if (g->pages[j].la == (la & ~0xfffull)) {
                uint64_t pa = g->pages[j].pa + (la & 0xfff);
                if (pa < HVT_ORC_RAM_SIZE && pa < ORC_STUB_PHYS)
                    g->c->ram[pa] = p[i];
                break;
            }
        }
    }
}

/* Fills the frames of every noted page with random bytes (before the operands are written). */
void hvt_orc_fill_pages(struct orc_gen *g)
{
    for (unsigned j = 0; j < g->n_pages; j++) {
        uint64_t pa = g->pages[j].pa;
        if (pa + 0x1000 > ORC_STUB_PHYS || (pa >= ORC_PT_LO))
            continue;
        for (unsigned i = 0; i < 0x1000; i += 8) {
            uint64_t v = orc_pct(&g->r, 25) ? hvt_orc_interesting(&g->r) : orc_next(&g->r);
            memcpy(g->c->ram + pa + i, &v, 8);
        }
    }
}

/* ---- linear addresses ---------------------------------------------------------------------- */

static uint64_t canon(const struct orc_gen *g, uint64_t la)
{
    return g->c->paging == HVT_ORC_PG_5L ? sext(la, 57) : sext(la, 48);
}

/* A random page-aligned linear address, sometimes near an earlier one (shared tables), never
 * in the stub's window. */
uint64_t hvt_orc_rand_la(struct orc_gen *g)
{
    struct orc_rng *r = &g->r;
    uint64_t la;
    for (;;) {
        if (g->c->paging == HVT_ORC_PG_OFF) {
            la = ORC_POOL_LO + orc_below(r, (ORC_POOL_HI - ORC_POOL_LO) / 0x2000) * 0x2000;
            return la;
        }
        if (g->n_pages && orc_pct(r, 60)) {
            uint64_t near = g->pages[orc_below(r, g->n_pages)].la;
            uint64_t span = orc_pct(r, 60) ? 0x200000 : 0x40000000;
            la = (near & ~(span - 1)) | (orc_next(r) & (span - 1));
        } else {
            la = orc_next(r);
        }
        la &= ~0xfffull;
        if (g->c->bits == 32) {
            la &= 0xffffffffull;
            /* above 8 MiB: unicorn mirrors each page at its linear address (see
             * run_unicorn.c), which must not collide with the case's physical RAM */
            if (la >= ORC_STUB_LA32 || la < 0x800000)
                continue;
            return la;
        }
        if (la < 0x40000000ull) /* 1G pages keep bits 29:0 of the frame: stay above 1 GiB */
            continue;
        la = canon(g, la);
        if (g->c->paging == HVT_ORC_PG_5L && ((la >> 48) & 511) == 1)
            continue;
        if (g->c->paging == HVT_ORC_PG_4L && ((la >> 39) & 511) == 255)
            continue;
        return la;
    }
}

/* ---- the stub's mappings -------------------------------------------------------------------- */

uint64_t hvt_orc_stub_la(const struct hvt_orc_case *c)
{
    switch (c->paging) {
    case HVT_ORC_PG_OFF:
        return ORC_STUB_PHYS;
    case HVT_ORC_PG_4L:
        return ORC_STUB_LA64;
    case HVT_ORC_PG_5L:
        return ORC_STUB_LA57;
    default:
        return ORC_STUB_LA32;
    }
}

void hvt_orc_map_stub(struct orc_gen *g)
{
    uint64_t la = hvt_orc_stub_la(g->c);
    if (g->c->paging == HVT_ORC_PG_OFF)
        return;
    for (unsigned i = 0; i < ORC_STUB_PAGES; i++)
        map_page(g, la + i * 0x1000ull, 0x1000, ORC_STUB_PHYS + i * 0x1000ull, 1, 1);
}

/* ---- the case --------------------------------------------------------------------------- */

void hvt_orc_gen_begin(struct orc_gen *g, struct hvt_orc_case *c)
{
    g->c = c;
    g->n_pages = 0;
    g->next_pool = ORC_POOL_LO;
    g->next_pt = ORC_PT_LO;
    g->next_stub_pt = ORC_STUB_PT;
    memset(c->ram, 0, HVT_ORC_RAM_SIZE);
    if (c->paging == HVT_ORC_PG_OFF) {
        g->top = 0;
        return;
    }
    g->top = pt_alloc(g, 0);
    hvt_orc_map_stub(g);
}

/* After all mappings: PAE PDPTE registers as loaded at CR3 load. */
void hvt_orc_gen_end(struct orc_gen *g)
{
    struct hvt_vcpu_state *st = &g->c->st;
    st->cr3 = g->top;
    g->c->n_pages = 0;
    for (unsigned i = 0; i < g->n_pages && i < HVT_ORC_MAX_PAGES; i++) {
        g->c->pages[i].la = g->pages[i].la;
        g->c->pages[i].pa = g->pages[i].pa;
        g->c->n_pages++;
    }
    if (g->c->paging == HVT_ORC_PG_PAE) {
        for (unsigned i = 0; i < 4; i++)
            memcpy(&st->pdpte[i], g->c->ram + g->top + 8 * i, 8);
        st->flags |= HVT_STATE_PDPTE_VALID;
    }
}

/* ---- hand-made cases (calibration, deviation tests) ----------------------------------------- */

static void flat_segs(struct hvt_vcpu_state *st, unsigned bits, unsigned cpl)
{
    uint32_t data = 0x3 | HVT_SEG_ATTR_S | (cpl << 5) | HVT_SEG_ATTR_P | HVT_SEG_ATTR_DB |
                    HVT_SEG_ATTR_G;
    for (unsigned s = 0; s < 6; s++) {
        st->seg[s].sel = bits == 64 ? (cpl ? ORC_SEL_DATA_3 : ORC_SEL_DATA_0)
                                    : ORC_SEL_CASE(s, cpl);
        st->seg[s].attr = data;
        st->seg[s].base = 0;
        st->seg[s].limit = 0xffffffffu;
    }
    st->seg[HVT_SEG_FS].sel = st->seg[HVT_SEG_GS].sel = bits == 64 ? 0 : st->seg[HVT_SEG_FS].sel;
    st->seg[HVT_SEG_CS].sel = bits == 64 ? (cpl ? ORC_SEL_CODE64_3 : ORC_SEL_CODE64_0)
                                         : (cpl ? ORC_SEL_CODE32_3 : ORC_SEL_CODE32_0);
    st->seg[HVT_SEG_CS].attr = 0xb | HVT_SEG_ATTR_S | (cpl << 5) | HVT_SEG_ATTR_P |
                               HVT_SEG_ATTR_G | (bits == 64 ? HVT_SEG_ATTR_L : HVT_SEG_ATTR_DB);
}

void hvt_orc_craft(struct hvt_orc_case *c, unsigned bits, unsigned cpl, const uint8_t *insn,
               unsigned len, const uint64_t leaf[3], uint64_t upper)
{
    struct orc_gen g;
    uint8_t *ram = c->ram;
    memset(c, 0, sizeof(*c));
    c->ram = ram;
    memset(ram, 0, HVT_ORC_RAM_SIZE);
    c->bits = bits;
    c->paging = bits == 64 ? HVT_ORC_PG_4L : HVT_ORC_PG_OFF;
    c->cpl = cpl;
    c->opsize = 8;
    c->st.cr0 = HVT_CR0_PE | HVT_CR0_ET | HVT_CR0_NE | (bits == 64 ? HVT_CR0_PG | HVT_CR0_WP : 0);
    c->st.cr4 = bits == 64 ? HVT_CR4_PAE : 0;
    c->st.efer = bits == 64 ? HVT_EFER_LME | HVT_EFER_LMA : 0;
    c->st.rflags = 2;
    flat_segs(&c->st, bits, cpl);
    uint64_t base = bits == 64 ? 0x400000 : 0x10000;
    c->st.rip = base;
    c->st.gdtr.base = hvt_orc_stub_la(c) + 0x1000;
    c->st.gdtr.limit = ORC_GDT_ENTRIES * 8 - 1;
    c->n_pages = 4;
    for (unsigned i = 0; i < 4; i++) {
        c->pages[i].la = base + 0x1000ull * i;
        c->pages[i].pa = 0x10000 + 0x1000ull * i;
    }
    c->mem_la = base + 0x1000;
    c->stack_la = base + 0x3000;
    memcpy(ram + 0x10000, insn, len);
    c->insn_len = (uint8_t)len;
    memcpy(c->insn, insn, len);
    if (bits == 64) {
        uint64_t pml4 = ORC_PT_LO, pdpt = pml4 + 0x1000, pd = pdpt + 0x1000, pt = pd + 0x1000;
        uint64_t v;
        v = pdpt | upper;
        memcpy(ram + pml4, &v, 8);
        v = pd | upper;
        memcpy(ram + pdpt, &v, 8);
        v = pt | upper;
        memcpy(ram + pd + 2 * 8, &v, 8); /* 0x400000: PD index 2 */
        v = 0x10000 | 0x67;
        memcpy(ram + pt, &v, 8);
        for (unsigned i = 0; i < 3; i++) {
            v = leaf[i] ? (0x11000 + 0x1000ull * i) | leaf[i] : 0;
            memcpy(ram + pt + 8 * (i + 1), &v, 8);
        }
        c->st.cr3 = pml4;
        memset(&g, 0, sizeof(g));
        g.c = c;
        g.top = pml4;
        g.next_stub_pt = ORC_STUB_PT;
        hvt_orc_map_stub(&g);
    }
}
