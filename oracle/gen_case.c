/* SPDX-License-Identifier: MIT */
/* Oracle: one random case: mode, state, and an encoded instance of a form with its operands. */
#include <stdio.h>
#include <string.h>

#include "common/sized.h"
#include "gen.h"
#include "hvtrace/error.h"

#define R_RSP 4
#define R_RBP 5

/* The plan of one instruction, filled step by step. */
struct plan {
    const struct orc_form *f;
    unsigned opsize, asz, memsize;
    int seg;       /* segment of the memory operand (enum hvt_seg) */
    int seg_pfx;   /* override prefix byte, 0 none */
    int reg;       /* ModRM.reg register (or opcode register), -1 when ext */
    int lock, rex_force;
    uint64_t imm;
    unsigned imm_size;
    uint32_t reserved; /* registers whose values are fixed (not usable as base/index) */
    int stack;         /* 0 none, -1 push, +1 pop */
    unsigned stack_size;
    uint64_t bt_delta; /* BT r: bytes added to the effective address by the bit offset */
    /* memory encoding */
    int base, index; /* -1 none; base -2 = RIP-relative, -3 = absolute disp */
    unsigned scale, disp_size, mod16_rm;
    uint64_t disp;
    int disp_pos; /* offset of the displacement in the bytes (for RIP-relative patching) */
    int no_rip;   /* RIP-relative is out of reach */
};

static uint64_t mask_of(unsigned bytes)
{
    return bytes >= 8 ? ~0ull : (1ull << (8 * bytes)) - 1;
}

static uint64_t sext_to(uint64_t v, unsigned bytes)
{
    unsigned sh = 64 - 8 * bytes;
    return bytes >= 8 ? v : (uint64_t)((int64_t)(v << sh) >> sh);
}

/* ---- segments ----------------------------------------------------------------------------- */

static void set_seg(struct hvt_segment *s, uint16_t sel, uint32_t attr, uint64_t base,
                    uint32_t limit)
{
    s->sel = sel;
    s->attr = attr;
    s->base = base;
    s->limit = limit;
}

static void segs_64(struct hvt_orc_case *c, struct orc_rng *r)
{
    struct hvt_vcpu_state *st = &c->st;
    unsigned dpl = c->cpl;
    uint32_t data = 0x3 | HVT_SEG_ATTR_S | (dpl << 5) | HVT_SEG_ATTR_P | HVT_SEG_ATTR_DB |
                    HVT_SEG_ATTR_G;
    set_seg(&st->seg[HVT_SEG_CS], dpl ? ORC_SEL_CODE64_3 : ORC_SEL_CODE64_0,
            0xb | HVT_SEG_ATTR_S | (dpl << 5) | HVT_SEG_ATTR_P | HVT_SEG_ATTR_L | HVT_SEG_ATTR_G,
            0, 0xffffffffu);
    set_seg(&st->seg[HVT_SEG_SS], dpl ? ORC_SEL_DATA_3 : ORC_SEL_DATA_0, data, 0, 0xffffffffu);
    /* DS/ES are ignored in 64-bit mode; FS/GS keep a base (set through the MSRs) */
    set_seg(&st->seg[HVT_SEG_DS], dpl ? ORC_SEL_DATA_3 : ORC_SEL_DATA_0, data, 0, 0xffffffffu);
    set_seg(&st->seg[HVT_SEG_ES], dpl ? ORC_SEL_DATA_3 : ORC_SEL_DATA_0, data, 0, 0xffffffffu);
    set_seg(&st->seg[HVT_SEG_FS], 0, data, 0, 0xffffffffu);
    set_seg(&st->seg[HVT_SEG_GS], 0, data, 0, 0xffffffffu);
    st->seg[HVT_SEG_FS].base = orc_pct(r, 50) ? 0 : (orc_next(r) & 0x00007ffffffff000ull);
    st->seg[HVT_SEG_GS].base = orc_pct(r, 50) ? 0 : (orc_next(r) & 0x00007ffffffff000ull);
}

static void segs_32(struct hvt_orc_case *c, struct orc_rng *r)
{
    struct hvt_vcpu_state *st = &c->st;
    unsigned cpl = c->cpl;
    static const int data_segs[] = {HVT_SEG_ES, HVT_SEG_SS, HVT_SEG_DS, HVT_SEG_FS, HVT_SEG_GS};
    set_seg(&st->seg[HVT_SEG_CS], cpl ? ORC_SEL_CODE32_3 : ORC_SEL_CODE32_0,
            0xb | HVT_SEG_ATTR_S | (cpl << 5) | HVT_SEG_ATTR_P | HVT_SEG_ATTR_DB | HVT_SEG_ATTR_G,
            0, 0xffffffffu);
    for (unsigned i = 0; i < 5; i++) {
        int s = data_segs[i];
        unsigned dpl = s == HVT_SEG_SS ? cpl : (cpl ? 3 : (unsigned)orc_below(r, 4));
        uint64_t base = 0;
        if (orc_pct(r, 40))
            base = orc_pct(r, 50) ? (orc_next(r) & 0xfffff000u) : (orc_next(r) & 0xffffffffu);
        set_seg(&st->seg[s], ORC_SEL_CASE((unsigned)s, cpl),
                0x3 | HVT_SEG_ATTR_S | (dpl << 5) | HVT_SEG_ATTR_P | HVT_SEG_ATTR_DB |
                    HVT_SEG_ATTR_G,
                base, 0xffffffffu);
    }
}

/* ---- registers ------------------------------------------------------------------------------ */

static void set_gpr(struct hvt_orc_case *c, int reg, uint64_t v)
{
    c->st.gpr[reg] = c->bits == 32 ? (v & 0xffffffffu) : v;
}

/* Chooses how to address OFF (an offset in the operand's segment, address size P->asz), using
 * registers outside P->reserved, and sets their values. */
static void choose_mem(struct hvt_orc_case *c, struct orc_rng *r, struct plan *p, uint64_t off)
{
    uint64_t amask = mask_of(p->asz);
    unsigned nregs = c->bits == 64 ? 16 : 8;
    p->base = p->index = -1;
    p->scale = 1;
    p->disp = 0;
    if (p->asz == 2) {
        /* 16-bit forms: [si], [di], [bx] (+disp8/16), or [disp16] */
        static const int rm_reg[] = {6, 7, 3}, rm_code[] = {4, 5, 7};
        unsigned k = (unsigned)orc_below(r, 4);
        if (k == 3 || (p->reserved & ((1u << 6) | (1u << 7) | (1u << 3)))) {
            p->base = -3;
            p->disp_size = 2;
            p->disp = off & 0xffff;
            p->mod16_rm = 6;
            return;
        }
        p->base = rm_reg[k];
        p->mod16_rm = (unsigned)rm_code[k];
        p->disp_size = (unsigned)orc_below(r, 3); /* 0, 1, 2 */
        p->disp = p->disp_size == 1   ? sext_to(orc_next(r), 1)
                  : p->disp_size == 2 ? orc_next(r) & 0xffff
                                      : 0;
        set_gpr(c, p->base, (c->st.gpr[p->base] & ~0xffffull) | ((off - p->disp) & 0xffff));
        return;
    }
    unsigned style = (unsigned)orc_below(r, 10);
    if (style == 0 && c->bits == 64 && !p->no_rip) {
        p->base = -2; /* RIP-relative: patched once the layout is known */
        p->disp_size = 4;
        return;
    }
    if (style == 1 && (p->asz == 4 || off < 0x80000000ull || off >= 0xffffffff80000000ull)) {
        p->base = -3; /* absolute disp32 */
        p->disp_size = 4;
        p->disp = off & 0xffffffffu;
        return;
    }
    do
        p->base = (int)orc_below(r, nregs);
    while (p->reserved & (1u << p->base));
    if (orc_pct(r, 45)) {
        do
            p->index = (int)orc_below(r, nregs);
        while (p->index == R_RSP || p->index == p->base || (p->reserved & (1u << p->index)));
        p->scale = 1u << orc_below(r, 4);
        set_gpr(c, p->index, hvt_orc_interesting(r) & (orc_pct(r, 50) ? 0xffff : ~0ull));
    }
    p->disp_size = (unsigned)orc_below(r, 3) * 2; /* 0, 2 -> 1 byte, 4 */
    if (p->disp_size == 2)
        p->disp_size = 1;
    if ((p->base & 7) == R_RBP && p->disp_size == 0)
        p->disp_size = 1; /* mod 00 with rbp/r13 means something else */
    p->disp = p->disp_size == 1 ? sext_to(orc_next(r), 1)
              : p->disp_size == 4 ? sext_to(orc_next(r), 4)
                                  : 0;
    uint64_t idx = p->index >= 0 ? c->st.gpr[p->index] * p->scale : 0;
    uint64_t b = (off - idx - p->disp) & amask;
    if (p->asz < 8 && c->bits == 64 && orc_pct(r, 50))
        b |= orc_next(r) & ~amask; /* ignored upper bits: must be ignored */
    set_gpr(c, p->base, b);
}

/* ---- encoding ----------------------------------------------------------------------------- */

struct enc {
    uint8_t b[24];
    unsigned n;
};

static void put(struct enc *e, uint64_t v, unsigned n)
{
    for (unsigned i = 0; i < n; i++)
        e->b[e->n++] = (uint8_t)(v >> (8 * i));
}

static int needs_rex_w(const struct plan *p)
{
    switch (p->f->kind) {
    case K_SSE_LD:
    case K_SSE_ST:
        return p->f->wbit;
    case K_PUSH_R:
    case K_POP_R:
    case K_PUSH_M:
    case K_POP_M:
    case K_BRANCH_M:
    case K_RET:
    case K_RET_IMM:
        return 0;
    default:
        return p->opsize == 8;
    }
}

/* Encodes P into E (prefixes, REX, opcode, ModRM/SIB/disp, immediate). */
static void encode(struct hvt_orc_case *c, struct orc_rng *r, struct plan *p, struct enc *e)
{
    const struct orc_form *f = p->f;
    uint8_t pfx[4];
    unsigned np = 0;
    int has_mem = !(f->kind == K_PUSH_R || f->kind == K_POP_R || f->kind == K_RET ||
                    f->kind == K_RET_IMM);
    e->n = 0;
    if (p->seg_pfx)
        pfx[np++] = (uint8_t)p->seg_pfx;
    if (p->opsize == 2)
        pfx[np++] = 0x66;
    if ((c->bits == 64 && p->asz == 4) || (c->bits == 32 && p->asz == 2))
        pfx[np++] = 0x67;
    if (p->lock)
        pfx[np++] = 0xf0;
    for (unsigned i = np; i > 1; i--) { /* any order is valid */
        unsigned j = (unsigned)orc_below(r, i);
        uint8_t t = pfx[i - 1];
        pfx[i - 1] = pfx[j];
        pfx[j] = t;
    }
    for (unsigned i = 0; i < np; i++)
        e->b[e->n++] = pfx[i];
    if (f->mpfx) /* an SSE mandatory prefix: after the others, next to REX and the opcode */
        e->b[e->n++] = f->mpfx;

    int reg = p->reg >= 0 ? p->reg : f->ext;
    int rm_reg = -1;
    if (f->kind == K_PUSH_R || f->kind == K_POP_R)
        rm_reg = p->reg, reg = 0;
    if (c->bits == 64) {
        unsigned rex = 0x40;
        if (needs_rex_w(p))
            rex |= 8;
        if (reg >= 8)
            rex |= 4;
        if (p->index >= 8)
            rex |= 2;
        if (p->base >= 8 || rm_reg >= 8)
            rex |= 1;
        if (rex != 0x40 || p->rex_force)
            e->b[e->n++] = (uint8_t)rex;
    }
    if (f->esc)
        e->b[e->n++] = 0x0f;
    int op = p->opsize == 1 && f->op8 >= 0 ? f->op8 : f->opv;
    if (f->kind == K_SETCC || f->kind == K_CMOVCC)
        op += (int)orc_below(r, 16);
    if (f->kind == K_PUSH_R || f->kind == K_POP_R)
        op += rm_reg & 7;
    e->b[e->n++] = (uint8_t)op;
    if (f->kind == K_MOFFS_LD || f->kind == K_MOFFS_ST) {
        put(e, p->disp, p->asz);
        return;
    }
    if (has_mem) {
        unsigned r3 = (unsigned)reg & 7;
        if (p->asz == 2) {
            unsigned mod = p->base == -3 ? 0 : p->disp_size == 1 ? 1 : p->disp_size == 2 ? 2 : 0;
            e->b[e->n++] = (uint8_t)(mod << 6 | r3 << 3 | p->mod16_rm);
            put(e, p->disp, p->disp_size);
        } else if (p->base == -2) {
            e->b[e->n++] = (uint8_t)(r3 << 3 | 5);
            p->disp_pos = (int)e->n;
            put(e, 0, 4);
        } else if (p->base == -3) {
            if (c->bits == 32) {
                e->b[e->n++] = (uint8_t)(r3 << 3 | 5);
            } else {
                e->b[e->n++] = (uint8_t)(r3 << 3 | 4);
                e->b[e->n++] = 0x25; /* no index, no base */
            }
            put(e, p->disp, 4);
        } else {
            unsigned mod = p->disp_size == 0 ? 0 : p->disp_size == 1 ? 1 : 2;
            int sib = p->index >= 0 || (p->base & 7) == R_RSP;
            e->b[e->n++] = (uint8_t)(mod << 6 | r3 << 3 | (sib ? 4u : (unsigned)p->base & 7));
            if (sib) {
                unsigned ss = p->scale == 8 ? 3 : p->scale == 4 ? 2 : p->scale == 2 ? 1 : 0;
                unsigned idx = p->index >= 0 ? (unsigned)p->index & 7 : 4;
                e->b[e->n++] = (uint8_t)(ss << 6 | idx << 3 | ((unsigned)p->base & 7));
            }
            put(e, p->disp, p->disp_size);
        }
    }
    put(e, p->imm, p->imm_size);
}

/* ---- the case ------------------------------------------------------------------------------ */

static int form_ok(unsigned i, unsigned bits, const struct hvt_orc_filter *f)
{
    if (f->insn && !hvt_orc_form_matches(i, f->insn))
        return 0;
    if (bits == 32 && hvt_orc_forms[i].kind == K_MOVX && hvt_orc_forms[i].sub == 4)
        return 0; /* opcode 63 is ARPL outside 64-bit mode */
    if (bits == 32 && hvt_orc_forms[i].wbit)
        return 0; /* REX.W forms (cmpxchg16b, movq via 6E/7E) exist only in 64-bit mode */
    return 1;
}

void hvt_orc_filter_init(struct hvt_orc_filter *f)
{
    memset(f, 0, sizeof(*f));
    f->size = sizeof(*f);
    f->paging = -1;
}

uint64_t hvt_orc_case_seed(uint64_t seed, uint64_t i)
{
    struct orc_rng r = {seed ^ (i * 0xd1b54a32d192ed03ull)};
    return i == 0 ? seed : orc_next(&r);
}

static unsigned pick_opsize(struct hvt_orc_case *c, struct orc_rng *r, const struct orc_form *f)
{
    int b64 = c->bits == 64;
    switch (f->kind) {
    case K_SETCC:
        return 1;
    case K_CX8:
        return f->wbit ? 8 : 4; /* the halves: EDX:EAX or RDX:RAX */
    case K_SSE_LD:
    case K_SSE_ST:
        return 4; /* no 66 or REX.W beyond the form's own encoding */
    case K_PUSH_R:
    case K_POP_R:
    case K_PUSH_M:
    case K_POP_M:
        return orc_pct(r, 15) ? 2 : b64 ? 8 : 4;
    case K_BRANCH_M:
    case K_RET:
    case K_RET_IMM:
        /* 66 on near branches differs between vendors in 64-bit mode: not generated there */
        return b64 ? 8 : orc_pct(r, 10) ? 2 : 4;
    default:
        break;
    }
    if (f->op8 >= 0 && (f->opv < 0 || orc_pct(r, 25)))
        return 1;
    if (f->kind == K_RM_R && f->sub == 1) /* movnti: 32 or 64 bits only */
        return b64 && orc_pct(r, 50) ? 8 : 4;
    if (f->kind == K_MOVX && f->sub == 4) /* movsxd */
        return orc_pct(r, 80) ? 8 : orc_pct(r, 50) ? 4 : 2;
    if (f->kind == K_MOVX && f->sub == 2 && orc_pct(r, 50))
        return b64 && orc_pct(r, 50) ? 8 : 4;
    unsigned k = (unsigned)orc_below(r, 100);
    if (k < 20)
        return 2;
    if (b64 && k >= 65)
        return 8;
    return 4;
}

int hvt_orc_gen(struct hvt_orc_case *c, uint64_t case_seed, const struct hvt_orc_filter *flt)
{
    struct orc_gen g;
    struct plan p;
    struct enc e;
    struct hvt_orc_filter dflt, fl;
    struct orc_rng *r = &g.r;
    unsigned cand[256], n = 0;
    uint8_t *ram;

    if (!c || !c->ram)
        return -HVT_E_INVALID;
    if (!flt) {
        hvt_orc_filter_init(&dflt);
        flt = &dflt;
    }
    if (hvt_sized_in(&fl, sizeof(fl), flt, flt->size, HVT_ORC_FILTER_SIZE_V1))
        return -HVT_E_INVALID;
    fl.size = sizeof(fl);
    flt = &fl;
    if ((flt->bits && flt->bits != 32 && flt->bits != 64) ||
        flt->paging >= HVT_ORC_PG__COUNT)
        return -HVT_E_INVALID;
    ram = c->ram;
    memset(c, 0, sizeof(*c));
    c->ram = ram;
    c->seed = case_seed;
    r->s = case_seed;

    /* mode, paging, CPL, form */
    if (flt->paging >= 0)
        c->bits = flt->paging >= HVT_ORC_PG_4L ? 64 : 32;
    else
        c->bits = flt->bits ? flt->bits : (orc_pct(r, 60) ? 64 : 32);
    if (flt->bits && flt->bits != c->bits)
        return -HVT_E_INVALID;
    for (unsigned i = 0; i < hvt_orc_nforms; i++)
        if (form_ok(i, c->bits, flt))
            cand[n++] = i;
    if (!n && !flt->bits && flt->paging < 0) {
        /* the filter names 64-bit-only forms (cmpxchg16b, movq with REX.W) */
        c->bits = c->bits == 64 ? 32 : 64;
        for (unsigned i = 0; i < hvt_orc_nforms; i++)
            if (form_ok(i, c->bits, flt))
                cand[n++] = i;
    }
    if (!n)
        return -HVT_E_INVALID;
    c->form = cand[orc_below(r, n)];
    const struct orc_form *f = &hvt_orc_forms[c->form];
    if (flt->paging >= 0)
        c->paging = (unsigned)flt->paging;
    else if (c->bits == 64)
        c->paging = orc_pct(r, 75) ? HVT_ORC_PG_4L : HVT_ORC_PG_5L;
    else {
        static const unsigned p32[] = {HVT_ORC_PG_OFF, HVT_ORC_PG_2L, HVT_ORC_PG_2L_PSE,
                                       HVT_ORC_PG_PAE, HVT_ORC_PG_PAE};
        c->paging = p32[orc_below(r, 5)];
    }
    c->cpl = orc_pct(r, 50) ? 3 : 0;

    /* control registers */
    struct hvt_vcpu_state *st = &c->st;
    st->cr0 = HVT_CR0_PE | HVT_CR0_ET | HVT_CR0_NE;
    if (c->paging != HVT_ORC_PG_OFF)
        st->cr0 |= HVT_CR0_PG;
    if (orc_pct(r, 60))
        st->cr0 |= HVT_CR0_WP;
    if (c->paging >= HVT_ORC_PG_PAE)
        st->cr4 |= HVT_CR4_PAE;
    if (c->paging == HVT_ORC_PG_2L_PSE || (c->paging >= HVT_ORC_PG_PAE && orc_pct(r, 50)))
        st->cr4 |= HVT_CR4_PSE;
    if (c->paging == HVT_ORC_PG_5L)
        st->cr4 |= HVT_CR4_LA57;
    if (c->paging != HVT_ORC_PG_OFF) {
        if (orc_pct(r, 35))
            st->cr4 |= HVT_CR4_SMEP;
        if (orc_pct(r, 35))
            st->cr4 |= HVT_CR4_SMAP;
    }
    if (c->bits == 64)
        st->efer = HVT_EFER_LME | HVT_EFER_LMA;
    st->rflags = HVT_RFLAGS_FIXED | (orc_next(r) & (ORC_FLAGS_ARITH | HVT_RFLAGS_DF)) |
                 (orc_pct(r, 50) ? HVT_RFLAGS_IF : 0) | (orc_pct(r, 40) ? HVT_RFLAGS_AC : 0);
    st->gdtr.base = hvt_orc_stub_la(c) + 0x1000;
    st->gdtr.limit = ORC_GDT_ENTRIES * 8 - 1;
    if (c->bits == 64)
        segs_64(c, r);
    else
        segs_32(c, r);
    for (unsigned i = 0; i < 16; i++)
        set_gpr(c, (int)i, i < 8 || c->bits == 64 ? hvt_orc_interesting(r) : 0);
    if (f->kind == K_SSE_LD || f->kind == K_SSE_ST)
        hvt_orc_gen_simd_state(c, r);

    hvt_orc_gen_begin(&g, c);
    if (f->kind == K_STR) {
        hvt_orc_gen_str(&g, f);
        return 0;
    }

    /* the plan */
    memset(&p, 0, sizeof(p));
    p.f = f;
    p.opsize = pick_opsize(c, r, f);
    c->opsize = p.opsize;
    p.memsize = p.opsize;
    if (f->kind == K_MOVX)
        p.memsize = f->sub;
    if (f->kind == K_CX8)
        p.memsize = 2 * p.opsize;
    if (f->kind == K_SSE_LD || f->kind == K_SSE_ST)
        p.memsize = f->msize;
    p.asz = c->bits == 64 ? 8 : 4;
    if (f->kind != K_BT_R && orc_pct(r, 12))
        p.asz = c->bits == 64 ? 4 : 2;
    p.lock = f->lock && orc_pct(r, 40);
    p.rex_force = c->bits == 64 && orc_pct(r, 15);
    unsigned nregs = c->bits == 64 ? 16 : 8;
    p.reg =
        f->ext >= 0 && f->kind != K_PUSH_R && f->kind != K_POP_R ? -1 : (int)orc_below(r, nregs);
    if (f->kind == K_MOFFS_LD || f->kind == K_MOFFS_ST)
        p.reg = -1;
    switch (f->kind) {
    case K_PUSH_R:
    case K_PUSH_M:
    case K_BRANCH_M:
        p.stack = f->kind == K_BRANCH_M && f->ext == 4 ? 0 : -1;
        break;
    case K_POP_R:
    case K_POP_M:
    case K_RET:
    case K_RET_IMM:
        p.stack = 1;
        break;
    default:
        break;
    }
    if (p.stack)
        p.reserved |= 1u << R_RSP;
    if (f->fclass == F_DIV)
        p.reserved |= (1u << 0) | (1u << 2); /* the dividend is set below */
    p.stack_size = p.opsize;
    /* immediates and counts */
    uint64_t count = 1;
    switch (f->kind) {
    case K_RM_IMM:
        p.imm_size = p.opsize == 1 ? 1 : p.opsize == 2 ? 2 : 4;
        p.imm = hvt_orc_interesting(r) & mask_of(p.imm_size);
        break;
    case K_RM_IMM8:
    case K_BT_IMM:
        p.imm_size = 1;
        p.imm = hvt_orc_interesting(r) & 0xff;
        count = p.imm;
        break;
    case K_R_RM_IMM:
        p.imm_size = f->sub ? 1 : p.opsize == 2 ? 2 : 4;
        p.imm = hvt_orc_interesting(r) & mask_of(p.imm_size);
        break;
    case K_RET_IMM:
        p.imm_size = 2;
        p.imm = orc_pct(r, 60) ? orc_below(r, 64) * 2 : orc_next(r) & 0xffff;
        break;
    case K_RM_CL:
        count = c->st.gpr[1] & 0xff; /* may change below if RCX addresses memory */
        break;
    case K_BT_R:
        p.reserved |= 1u << p.reg;
        break;
    default:
        break;
    }
    /* segment of the memory operand */
    p.seg = HVT_SEG_DS;
    if (orc_pct(r, 30)) {
        static const uint8_t pf[] = {0x26, 0x2e, 0x36, 0x3e, 0x64, 0x65};
        static const int sg[] = {HVT_SEG_ES, HVT_SEG_CS, HVT_SEG_SS, HVT_SEG_DS, HVT_SEG_FS,
                                 HVT_SEG_GS};
        unsigned k = (unsigned)orc_below(r, 6);
        if (c->bits == 64 || sg[k] != HVT_SEG_CS) { /* CS is read-only/execute: not here */
            p.seg_pfx = pf[k];
            p.seg = sg[k];
        }
    }

    /* code page first: data may share its tables */
    uint64_t code_page = hvt_orc_place(&g, hvt_orc_rand_la(&g), 1) & ~0xfffull;

    /* the memory operand's linear address */
    int has_mem = !(f->kind == K_PUSH_R || f->kind == K_POP_R || f->kind == K_RET ||
                    f->kind == K_RET_IMM);
    uint64_t la = 0, off = 0;
    if (has_mem) {
        uint64_t page = hvt_orc_rand_la(&g);
        int fsgs = p.seg == HVT_SEG_FS || p.seg == HVT_SEG_GS;
        if (c->bits == 64 && p.asz == 4 && !fsgs) {
            page &= 0xfffff000ull;
            if (page < 0x40000000ull) /* above RAM: unicorn mirrors pages at their linear address */
                page |= 0x40000000ull;
        }
        unsigned pos;
        if (p.memsize > 1 && orc_pct(r, 20)) {
            pos = 0x1000 - 1 - (unsigned)orc_below(r, p.memsize - 1);
            c->provoked |= HVT_ORC_P_SPLIT;
        } else if (orc_pct(r, f->align || (f->kind == K_CX8 && f->wbit) ? 80 : 50)) {
            pos = (unsigned)orc_below(r, 0x1000 / p.memsize) * p.memsize;
        } else {
            pos = (unsigned)orc_below(r, 0x1000 - p.memsize + 1);
        }
        if (c->bits == 64 && orc_pct(r, 3) && !(p.asz == 4 && !fsgs)) {
            la = (page | pos) ^ (1ull << (c->paging == HVT_ORC_PG_5L ? 60 : 50));
            c->provoked |= HVT_ORC_P_NONCANON;
        } else {
            la = hvt_orc_place(&g, page | pos, 0);
            if (c->provoked & HVT_ORC_P_SPLIT)
                hvt_orc_place_exact(&g, la + p.memsize - 1, 0);
        }
        if (f->kind == K_BT_R) {
            uint64_t bo = c->st.gpr[p.reg];
            if (p.opsize == 2)
                bo = sext_to(bo, 2);
            else if (p.opsize == 4)
                bo = sext_to(bo, 4);
            unsigned sh = p.opsize == 2 ? 4 : p.opsize == 4 ? 5 : 6;
            p.bt_delta = (uint64_t)((int64_t)bo >> sh) * p.opsize;
            /* keep the bit offset's byte displacement representable in 32-bit mode */
            if (c->bits == 32)
                p.bt_delta &= 0xffffffffu;
        }
        uint64_t ea = la - p.bt_delta;
        /* offset in the segment */
        if (c->bits == 64) {
            uint64_t base = 0;
            if (fsgs) {
                off = p.asz == 4       ? (orc_next(r) & 0xffffffffu)
                      : orc_pct(r, 50) ? orc_below(r, 0x10000)
                                       : orc_next(r);
                base = ea - off;
                st->seg[p.seg].base = base;
            } else {
                off = ea;
            }
        } else {
            int s = p.seg;
            /* a base register of ESP/EBP switches the default segment to SS: decided after
             * choose_mem; 16-bit address sizes rebase the segment so the offset fits */
            off = (ea - st->seg[s].base) & 0xffffffffu;
            if (p.asz == 2) {
                off = orc_next(r) & 0xffff;
                st->seg[s].base = (ea - off) & 0xffffffffu;
            }
        }
        if (f->kind == K_MOFFS_LD || f->kind == K_MOFFS_ST) {
            p.disp = off & mask_of(p.asz);
        } else {
            choose_mem(c, r, &p, off);
            /* a default segment of SS (base EBP/ESP without override) */
            if (c->bits == 32 && !p.seg_pfx && p.asz == 4 && p.base >= 0 &&
                (p.base == R_RSP || p.base == R_RBP) && p.seg == HVT_SEG_DS) {
                uint64_t old = st->seg[HVT_SEG_DS].base;
                /* move the offset so that SS:off is the same linear address */
                uint64_t adj = (st->seg[HVT_SEG_SS].base - old) & 0xffffffffu;
                st->gpr[p.base] = (st->gpr[p.base] - adj) & 0xffffffffu;
                p.seg = HVT_SEG_SS;
                off = (off - adj) & 0xffffffffu;
            }
        }
        if (c->bits == 32 && orc_pct(r, 10)) {
            /* (never SS's type: the state could not even be loaded) */
            /* provoke a segment check: a limit below the operand, or a read-only segment */
            struct hvt_segment *sg = &st->seg[p.seg];
            if ((orc_pct(r, 50) || p.seg == HVT_SEG_SS) && off > 0) {
                if (off < 0x100000) {
                    sg->limit = (uint32_t)orc_below(r, off);
                    sg->attr &= ~HVT_SEG_ATTR_G;
                } else {
                    sg->limit = (uint32_t)(orc_below(r, off >> 12) << 12) | 0xfffu;
                }
            } else if (p.seg != HVT_SEG_SS) {
                sg->attr = (sg->attr & ~0xfu) | 0x1; /* read-only data */
            }
            c->provoked |= HVT_ORC_P_SEG_LIMIT;
        }
        c->mem_la = la;
    }
    if (f->kind == K_RM_CL)
        count = c->st.gpr[1] & 0xff;

    /* the stack */
    uint64_t slot = 0;
    if (p.stack) {
        uint64_t page = hvt_orc_rand_la(&g);
        unsigned pos;
        if (orc_pct(r, 12)) {
            pos = 0x1000 - 1 - (unsigned)orc_below(r, p.stack_size - 1);
            c->provoked |= HVT_ORC_P_SPLIT;
        } else {
            pos = (unsigned)orc_below(r, 0x1000 / p.stack_size) * p.stack_size;
        }
        if (c->bits == 64 && orc_pct(r, 3)) {
            slot = (page | pos) ^ (1ull << (c->paging == HVT_ORC_PG_5L ? 60 : 50));
            c->provoked |= HVT_ORC_P_NONCANON;
        } else {
            slot = hvt_orc_place(&g, page | pos, 0);
            hvt_orc_place_exact(&g, slot + p.stack_size - 1, 0);
        }
        uint64_t sp = c->bits == 64 ? slot : (slot - st->seg[HVT_SEG_SS].base) & 0xffffffffu;
        if (p.stack < 0)
            sp += p.stack_size;
        set_gpr(c, R_RSP, sp);
        c->stack_la = slot;
        if (!has_mem)
            c->mem_la = slot;
    }

    /* encode, then lay the code out */
    encode(c, r, &p, &e);
    c->insn_len = (uint8_t)e.n;
    unsigned cpos;
    if (e.n > 1 && orc_pct(r, 12)) {
        cpos = 0x1000 - 1 - (unsigned)orc_below(r, e.n - 1);
        hvt_orc_place_exact(&g, code_page + 0x1000, 1);
        c->provoked |= HVT_ORC_P_CODE_SPLIT;
    } else {
        /* not in the last 32 bytes: unicorn's translator reads ahead of the instruction
         * and would fault on the next page (qemu-translation-lookahead) */
        cpos = (unsigned)orc_below(r, 0x1000 - e.n - 32 + 1);
    }
    st->rip = code_page + cpos;
    if (p.base == -2) {
        uint64_t next = st->rip + e.n;
        uint64_t d = (off - next) & mask_of(p.asz);
        int64_t sd = (int64_t)(off - next);
        if (p.asz == 4 || (sd >= INT32_MIN && sd <= INT32_MAX)) {
            for (unsigned i = 0; i < 4; i++)
                e.b[p.disp_pos + (int)i] = (uint8_t)(d >> (8 * i));
        } else {
            /* too far for RIP-relative: rebuild with a base register */
            p.no_rip = 1;
            choose_mem(c, r, &p, off);
            encode(c, r, &p, &e);
            c->insn_len = (uint8_t)e.n;
            if (cpos + e.n + 32 > 0x1000 && !(c->provoked & HVT_ORC_P_CODE_SPLIT))
                cpos = 0x1000 - e.n - 32;
            st->rip = code_page + cpos;
        }
    }
    memcpy(c->insn, e.b, e.n);

    /* contents: random pages, then operand values, then the code */
    hvt_orc_fill_pages(&g);
    if (has_mem) {
        uint64_t v = hvt_orc_interesting(r), vv[2];
        if (f->kind == K_BRANCH_M && orc_pct(r, 70))
            v = hvt_orc_rand_la(&g) | orc_below(r, 0x1000);
        if (f->fclass == F_DIV && orc_pct(r, 70)) {
            if (!(v & mask_of(p.memsize)))
                v |= 1 + orc_below(r, 100);
            if (p.opsize == 1)
                set_gpr(c, 0, (c->st.gpr[0] & ~0xff00ull) |
                                  (f->ext == 7 ? ((c->st.gpr[0] & 0x80) ? 0xff00 : 0) : 0));
            else
                set_gpr(c, 2,
                        f->ext == 7 ? ((sext_to(c->st.gpr[0], p.opsize) >> 63) ? ~0ull : 0) : 0);
        }
        if (f->kind == K_RM_R && f->esc && f->opv == 0xb1 && orc_pct(r, 50))
            v = c->st.gpr[0];
        vv[0] = v;
        vv[1] = orc_pct(r, 50) ? hvt_orc_interesting(r) : orc_next(r);
        if (f->kind == K_CX8 && orc_pct(r, 50)) {
            /* equal to EDX:EAX / RDX:RAX half of the time */
            uint64_t m = p.opsize == 8 ? ~0ull : 0xffffffffull;
            vv[0] = p.opsize == 8 ? c->st.gpr[0] : ((c->st.gpr[2] & m) << 32 | (c->st.gpr[0] & m));
            vv[1] = c->st.gpr[2];
        }
        if (!(c->provoked & HVT_ORC_P_NONCANON))
            hvt_orc_put_la(&g, la, vv, p.memsize);
    }
    if (p.stack > 0 && !(c->provoked & HVT_ORC_P_NONCANON)) {
        uint64_t v =
            orc_pct(r, 70) ? (hvt_orc_rand_la(&g) | orc_below(r, 0x1000)) : hvt_orc_interesting(r);
        hvt_orc_put_la(&g, slot, &v, p.stack_size);
    }
    hvt_orc_put_la(&g, st->rip, c->insn, c->insn_len);
    {
        /* INT3 after the instruction (same page only) ends QEMU's translation block there:
         * unicorn translates ahead and would fault on a following page (see the deviation
         * qemu-translation-lookahead in docs/CORE-CHECKING.md) */
        static const uint8_t int3[2] = {0xcc, 0xcc};
        uint64_t end = st->rip + c->insn_len;
        unsigned room = (unsigned)(0x1000 - (end & 0xfff)) & 0xfff;
        hvt_orc_put_la(&g, end, int3, room < 2 ? room : 2);
    }
    hvt_orc_gen_end(&g);
    if (f->kind == K_RM_CL)
        count = c->st.gpr[1] & 0xff;
    c->flags_undef = hvt_orc_flags_undef(f, p.opsize, count);
    return 0;
}

static const char *const paging_names[] = {"off", "2-level", "2-level+PSE", "PAE", "4-level",
                                           "5-level"};

void hvt_orc_case_describe(const struct hvt_orc_case *c, char *buf, size_t len)
{
    char hex[3 * HVT_INSN_MAX + 1];
    size_t o = 0;
    for (unsigned i = 0; i < c->insn_len && o + 3 < sizeof(hex); i++)
        o += (size_t)snprintf(hex + o, sizeof(hex) - o, "%s%02x", i ? " " : "", c->insn[i]);
    hex[o] = 0;
    snprintf(buf, len, "%s, %u-bit, paging %s, CPL %u, opsize %u, bytes [%s], rip %#llx, mem %#llx",
             hvt_orc_form_name(c->form), c->bits,
             c->paging < HVT_ORC_PG__COUNT ? paging_names[c->paging] : "?", c->cpl, c->opsize,
             hex, (unsigned long long)c->st.rip, (unsigned long long)c->mem_la);
}

int hvt_orc_case_read(const struct hvt_orc_case *c, uint64_t la, void *buf, unsigned n)
{
    uint8_t *p = buf;
    for (unsigned i = 0; i < n; i++, la++) {
        uint64_t pa = UINT64_MAX;
        if (c->paging == HVT_ORC_PG_OFF) {
            pa = la;
        } else {
            for (unsigned j = 0; j < c->n_pages; j++)
                if (c->pages[j].la == (la & ~0xfffull))
                    pa = c->pages[j].pa + (la & 0xfff);
        }
        if (pa >= HVT_ORC_RAM_SIZE)
            return -HVT_E_NOT_FOUND;
        p[i] = c->ram[pa];
    }
    return 0;
}

void hvt_orc_case_dump(const struct hvt_orc_case *c, FILE *f)
{
    static const char *const n[16] = {"rax", "rcx", "rdx", "rbx", "rsp", "rbp", "rsi", "rdi",
                                      "r8",  "r9",  "r10", "r11", "r12", "r13", "r14", "r15"};
    uint8_t b[8];
    for (unsigned i = 0; i < (c->bits == 64 ? 16u : 8u); i++)
        fprintf(f, "%s%s=%#llx", i % 4 ? " " : "    ", n[i], (unsigned long long)c->st.gpr[i]),
            fputs(i % 4 == 3 ? "\n" : "", f);
    fprintf(f, "    rflags=%#llx cr0=%#llx cr3=%#llx cr4=%#llx efer=%#llx undefined-flags=%#llx\n",
            (unsigned long long)c->st.rflags, (unsigned long long)c->st.cr0,
            (unsigned long long)c->st.cr3, (unsigned long long)c->st.cr4,
            (unsigned long long)c->st.efer, (unsigned long long)c->flags_undef);
    if (c->mem_la && !hvt_orc_case_read(c, c->mem_la, b, 8))
        fprintf(f, "    memory at %#llx: %02x %02x %02x %02x %02x %02x %02x %02x\n",
                (unsigned long long)c->mem_la, b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]);
}
