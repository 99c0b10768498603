/* SPDX-License-Identifier: MIT */
/* Oracle: the extension forms' cases for unicorn: string instructions (with REP), and the SIMD register file. */
#include <string.h>

#include "gen.h"

static uint64_t mask_of(unsigned bytes)
{
    return bytes >= 8 ? ~0ull : (1ull << (8 * bytes)) - 1;
}

static void set_gpr(struct hvt_orc_case *c, int reg, uint64_t v)
{
    c->st.gpr[reg] = c->bits == 32 ? (v & 0xffffffffu) : v;
}

/* ---- SIMD state ---------------------------------------------------------------------------- */

void hvt_orc_gen_simd_state(struct hvt_orc_case *c, struct orc_rng *r)
{
    struct hvt_vcpu_state *st = &c->st;
    for (unsigned i = 0; i < 16; i++)
        for (unsigned j = 0; j < 32; j += 8) {
            uint64_t v = orc_pct(r, 30) ? hvt_orc_interesting(r) : orc_next(r);
            memcpy(&st->ymm[i][j], &v, 8);
        }
    st->mxcsr = 0x1f80;
    st->flags |= HVT_STATE_SIMD_VALID;
    /* SSE enabled as an OS does it; now and then a #UD (no OSFXSR, CR0.EM) or #NM (CR0.TS) */
    st->cr0 |= HVT_CR0_MP;
    if (orc_pct(r, 96))
        st->cr4 |= HVT_CR4_OSFXSR | HVT_CR4_OSXMMEXCPT;
    if (orc_pct(r, 3))
        st->cr0 |= HVT_CR0_EM;
    if (orc_pct(r, 4))
        st->cr0 |= HVT_CR0_TS;
}

/* ---- string instructions ----------------------------------------------------------------- */

/* A deterministic value for the K-th port input of a case (both runners answer with it). */
uint32_t hvt_orc_io_value(uint16_t port, unsigned k)
{
    struct orc_rng r = {((uint64_t)port << 32) ^ (k * 0x9e37u) ^ 0x5bd1e995u};
    return (uint32_t)orc_next(&r);
}

struct str_op {
    int seg;          /* segment of the operand */
    uint64_t la;      /* linear address of the first element */
    uint64_t off;     /* offset in the segment (the register's value) */
};

/* Chooses where an operand of ITS elements of SIZE bytes lives (DF gives the direction), maps
 * every page it touches, and sets its segment base where the address size requires. */
static void place_str(struct orc_gen *g, struct str_op *o, unsigned asz, unsigned size,
                      unsigned its, int df)
{
    struct hvt_orc_case *c = g->c;
    struct orc_rng *r = &g->r;
    struct hvt_vcpu_state *st = &c->st;
    uint64_t span = (uint64_t)(its ? its : 1) * size;
    int fsgs = o->seg == HVT_SEG_FS || o->seg == HVT_SEG_GS;
    uint64_t page = hvt_orc_rand_la(g), pos;
    int cross = span > 1 && orc_pct(r, 30);

    if (c->bits == 64 && asz == 4 && !fsgs) {
        /* the linear address is the zero-extended 32-bit register: below 4 GiB, above RAM,
         * and far enough from 4 GiB that the range never wraps */
        page &= 0x7ffff000ull;
        page |= 0x40000000ull;
    }
    /* positions: LO..HI (relative to the first element) is the byte range of all elements */
    int64_t lo = df ? -(int64_t)(span - size) : 0, hi = df ? (int64_t)size : (int64_t)span;
    if (cross) {
        if (!df)
            pos = 0x1000 - 1 - orc_below(r, span - 1); /* the range ends on the next page */
        else
            pos = orc_below(r, span - 1 > 0 ? span - 1 : 1) % 0x1000; /* starts on the previous */
        if (df && (int64_t)pos + lo >= 0)
            cross = 0;
    } else {
        uint64_t room = 0x1000 - (uint64_t)(hi - lo);
        pos = (uint64_t)(-lo) + orc_below(r, room + 1);
        if (orc_pct(r, 50))
            pos &= ~(uint64_t)(size - 1);
        if ((int64_t)pos + lo < 0)
            pos = (uint64_t)(-lo);
    }
    /* keep the range inside one 1 GiB region (one top-level slot, never the stub's) */
    if (c->paging != HVT_ORC_PG_OFF && (page & 0x3fffffffull) < 0x2000)
        page += 0x4000;
    else if (c->paging != HVT_ORC_PG_OFF && (page & 0x3fffffffull) > 0x3fffd000ull)
        page -= 0x4000;
    else if (c->paging == HVT_ORC_PG_OFF && page < 0x12000)
        page += 0x4000;
    o->la = hvt_orc_place(g, page | pos, 0);
    for (int64_t b = lo; b < hi; b += 0x1000)
        hvt_orc_place_exact(g, o->la + (uint64_t)b, 0);
    hvt_orc_place_exact(g, o->la + (uint64_t)(hi - 1), 0);
    if (cross)
        c->provoked |= HVT_ORC_P_SPLIT;

    /* the register's value */
    if (c->bits == 64) {
        if (fsgs) {
            o->off = asz == 4 ? 0x2000 + orc_below(r, 0x7fff0000ull)
                              : orc_next(r) & 0x7fffffffffffull;
            st->seg[o->seg].base = o->la - o->off;
        } else {
            o->off = o->la;
        }
    } else if (asz == 2) {
        o->off = 0x2000 + orc_below(r, 0xc000); /* the range never wraps at 64K */
        st->seg[o->seg].base = (o->la - o->off) & 0xffffffffu;
    } else {
        o->off = (o->la - st->seg[o->seg].base) & 0xffffffffu;
    }
}

/* The register value for offset OFF under address size ASZ: bits above the address size are
 * random (ignored by the address, written back as the CPU does). */
static uint64_t str_reg(struct hvt_orc_case *c, struct orc_rng *r, uint64_t off, unsigned asz)
{
    uint64_t m = mask_of(asz);
    uint64_t upper = orc_pct(r, 50) ? orc_next(r) & ~m : 0;
    return (off & m) | upper;
}

/* Lays out the code: the instruction on CODE_PAGE (sometimes across its end) and INT3 after it. */
static void lay_code(struct orc_gen *g, uint64_t code_page, const uint8_t *b, unsigned n)
{
    struct hvt_orc_case *c = g->c;
    static const uint8_t int3[2] = {0xcc, 0xcc};
    unsigned cpos;
    if (n > 1 && orc_pct(&g->r, 12)) {
        cpos = 0x1000 - 1 - (unsigned)orc_below(&g->r, n - 1);
        hvt_orc_place_exact(g, code_page + 0x1000, 1);
        c->provoked |= HVT_ORC_P_CODE_SPLIT;
    } else {
        cpos = (unsigned)orc_below(&g->r, 0x1000 - n - 32 + 1); /* qemu-translation-lookahead */
    }
    c->st.rip = code_page + cpos;
    memcpy(c->insn, b, n);
    c->insn_len = (uint8_t)n;
    uint64_t end = c->st.rip + n;
    unsigned room = (unsigned)(0x1000 - (end & 0xfff)) & 0xfff;
    hvt_orc_put_la(g, end, int3, room < 2 ? room : 2);
}

void hvt_orc_gen_str(struct orc_gen *g, const struct orc_form *f)
{
    struct hvt_orc_case *c = g->c;
    struct hvt_vcpu_state *st = &c->st;
    struct orc_rng *r = &g->r;
    unsigned op = (unsigned)f->op8;
    int io = op == 0x6c || op == 0x6e;
    int has_src = op == 0xa4 || op == 0xa6 || op == 0xac || op == 0x6e;
    int has_dst = op == 0xa4 || op == 0xa6 || op == 0xaa || op == 0xae || op == 0x6c;
    int rep = f->sub != ORC_REP_NONE;
    unsigned size, asz, its;
    int df = !!(st->rflags & HVT_RFLAGS_DF);

    /* operand and address size */
    if (orc_pct(r, 30))
        size = 1;
    else if (io)
        size = orc_pct(r, 30) ? 2 : 4;
    else
        size = orc_pct(r, 25) ? 2 : c->bits == 64 && orc_pct(r, 50) ? 8 : 4;
    c->opsize = size;
    asz = c->bits == 64 ? 8 : 4;
    if (orc_pct(r, 20))
        asz = c->bits == 64 ? 4 : 2;

    /* the count: small, sometimes zero, sometimes enough to cross a page */
    uint64_t n = 1;
    if (rep) {
        unsigned k = (unsigned)orc_below(r, 100);
        n = k < 8 ? 0 : k < 60 ? 1 + orc_below(r, 8) : k < 90 ? 9 + orc_below(r, 56)
                                                         : 65 + orc_below(r, io ? 0 : 300);
        if (io && n > 40)
            n = 40;
        set_gpr(c, HVT_RCX, str_reg(c, r, n, asz));
    }
    its = (unsigned)n;
    if (io && c->cpl == 3)
        st->rflags |= HVT_RFLAGS_IOPL; /* no I/O permission bitmap needed (CPL <= IOPL) */

    /* the source segment: DS or an override (never CS in 32-bit mode: execute/read only) */
    int src_seg = HVT_SEG_DS, seg_pfx = 0;
    if (has_src && orc_pct(r, 30)) {
        static const uint8_t pf[] = {0x26, 0x2e, 0x36, 0x3e, 0x64, 0x65};
        static const int sg[] = {HVT_SEG_ES, HVT_SEG_CS, HVT_SEG_SS, HVT_SEG_DS, HVT_SEG_FS,
                                 HVT_SEG_GS};
        unsigned k = (unsigned)orc_below(r, 6);
        if ((c->bits == 64 || sg[k] != HVT_SEG_CS) && !(asz == 2 && sg[k] == HVT_SEG_ES)) {
            seg_pfx = pf[k];
            src_seg = sg[k];
        }
    }
    if (c->bits == 64 && src_seg == HVT_SEG_CS)
        src_seg = HVT_SEG_DS; /* CS, DS, ES, SS have base 0 in 64-bit mode */

    uint64_t code_page = hvt_orc_place(g, hvt_orc_rand_la(g), 1) & ~0xfffull;
    struct str_op src = {src_seg, 0, 0}, dst = {HVT_SEG_ES, 0, 0};
    if (c->bits == 64 && src.seg != HVT_SEG_FS && src.seg != HVT_SEG_GS)
        src.seg = HVT_SEG_DS;
    if (has_dst) {
        place_str(g, &dst, asz, size, its, df);
        set_gpr(c, HVT_RDI, str_reg(c, r, dst.off, asz));
    }
    if (has_src) {
        place_str(g, &src, asz, size, its, df);
        set_gpr(c, HVT_RSI, str_reg(c, r, src.off, asz));
    }
    if (io)
        set_gpr(c, HVT_RDX, (orc_next(r) & ~0xffffull) | orc_below(r, 0x10000));
    c->mem_la = has_dst ? dst.la : src.la;

    /* the instruction */
    uint8_t pfx[4], b[16];
    unsigned np = 0, nb = 0;
    if (seg_pfx)
        pfx[np++] = (uint8_t)seg_pfx;
    if (size == 2)
        pfx[np++] = 0x66;
    if ((c->bits == 64 && asz == 4) || (c->bits == 32 && asz == 2))
        pfx[np++] = 0x67;
    if (rep)
        pfx[np++] = f->sub == ORC_REP_F2 ? 0xf2 : 0xf3;
    for (unsigned i = np; i > 1; i--) {
        unsigned j = (unsigned)orc_below(r, i);
        uint8_t t = pfx[i - 1];
        pfx[i - 1] = pfx[j];
        pfx[j] = t;
    }
    memcpy(b, pfx, np);
    nb = np;
    if (c->bits == 64 && (size == 8 || orc_pct(r, 10)))
        b[nb++] = (uint8_t)(0x40 | (size == 8 ? 8 : 0));
    b[nb++] = (uint8_t)(size == 1 ? op : op + 1);

    hvt_orc_fill_pages(g);
    /* contents: CMPS/SCAS see equal elements for a while, so that REPE/REPNE stop anywhere */
    if (op == 0xa6 || op == 0xae) {
        unsigned stop = its ? (unsigned)orc_below(r, its + 1) : 0;
        uint64_t acc = c->st.gpr[HVT_RAX] & mask_of(size);
        for (unsigned i = 0; i < its && i <= stop; i++) {
            uint64_t v = op == 0xae ? acc : hvt_orc_interesting(r);
            int64_t d = (int64_t)i * (df ? -(int64_t)size : (int64_t)size);
            int equal = f->sub == ORC_REP_F2 ? i == stop : i < stop;
            if (op == 0xa6)
                hvt_orc_put_la(g, src.la + (uint64_t)d, &v, size);
            if (!equal)
                v ^= 1ull << orc_below(r, 8 * size);
            if (equal || orc_pct(r, 50))
                hvt_orc_put_la(g, dst.la + (uint64_t)d, &v, size);
        }
    }
    lay_code(g, code_page, b, nb);
    hvt_orc_put_la(g, st->rip, c->insn, c->insn_len);
    hvt_orc_gen_end(g);
    c->flags_undef = 0; /* CMPS/SCAS define all six flags; the others write none */
}
