/* SPDX-License-Identifier: MIT */
/* MMU tests: an emulation context over the logging flat RAM, page-table builders and checks of
 * the logged op calls (walk reads, A/D cmpxchgs, data ops). */
#ifndef HVT_TEST_MMU_FIXTURE_H
#define HVT_TEST_MMU_FIXTURE_H

#include <string.h>

#include "hvt_test.h"
#include "ram_ops.h"
#include "mmu.h"

#define FX_RAM (4u << 20)

/* Paging-entry bits. */
#define P_P (1ull << 0)
#define P_RW (1ull << 1)
#define P_US (1ull << 2)
#define P_A (1ull << 5)
#define P_D (1ull << 6)
#define P_PS (1ull << 7)
#define P_XD (1ull << 63)
#define P_URW (P_P | P_RW | P_US)

/* Table pages used by the builders: PML5 0x5000, PML4 0x1000, PDPT 0x2000, PD 0x3000, PT
 * 0x4000 (PAE PDPT at 0x6020, 32-byte aligned on purpose). */
#define T_PML5 0x5000ull
#define T_PML4 0x1000ull
#define T_PDPT 0x2000ull
#define T_PD 0x3000ull
#define T_PT 0x4000ull
#define T_PAE_PDPT 0x6020ull

struct fx {
    struct ram *r;
    struct hvt_vcpu_state st;
    struct hvt_core_result res;
    struct hvt_ref_opts opts;
    struct hvt_emu e;
};

enum fx_paging { FX_NOPAGING, FX_32, FX_PAE, FX_L4, FX_L5 };

/* Flat segments for 64-bit or 32-bit protected mode, CPL 0. */
static inline void fx_flat_segs(struct hvt_vcpu_state *st, int long64)
{
    for (unsigned i = 0; i < 6; i++) {
        st->seg[i].base = 0;
        st->seg[i].limit = 0xffffffffu;
        st->seg[i].attr = HVT_SEG_ATTR_P | HVT_SEG_ATTR_S | HVT_SEG_ATTR_DB | HVT_SEG_ATTR_G | 0x3;
    }
    st->seg[HVT_SEG_CS].attr = HVT_SEG_ATTR_P | HVT_SEG_ATTR_S | HVT_SEG_ATTR_G | 0xb |
                               (long64 ? HVT_SEG_ATTR_L : HVT_SEG_ATTR_DB);
    st->seg[HVT_SEG_LDTR].attr = HVT_SEG_ATTR_UNUSABLE;
    st->seg[HVT_SEG_TR].attr = HVT_SEG_ATTR_P | 0xb;
    st->seg[HVT_SEG_TR].limit = 0x67;
    st->seg[HVT_SEG_TR].base = 0x7000;
    st->gdtr.base = 0x8000;
    st->gdtr.limit = 0x7f;
    st->idtr.base = 0x9000;
    st->idtr.limit = 0xfff;
}

static inline void fx_setup(struct fx *f, enum fx_paging pg)
{
    if (!f->r)
        f->r = ram_new(FX_RAM);
    memset(f->r->mem, 0, FX_RAM);
    f->r->fail_at = -1;
    f->r->mmio_lo = f->r->mmio_hi = 0;
    f->r->mmio_result = HVT_OP_RETRY;
    f->r->port_result = HVT_OP_OKAY;
    ram_clear_log(f->r);
    memset(&f->st, 0, sizeof(f->st));
    memset(&f->res, 0, sizeof(f->res));
    memset(&f->opts, 0, sizeof(f->opts));
    hvt_cpu_profile_default(&f->opts.cpu); /* every feature, the first choices */
    f->st.cr0 = HVT_CR0_PE | HVT_CR0_WP | (pg != FX_NOPAGING ? HVT_CR0_PG : 0);
    f->st.rflags = 2;
    switch (pg) {
    case FX_NOPAGING:
        break;
    case FX_32:
        f->st.cr3 = T_PD;
        break;
    case FX_PAE:
        f->st.cr4 = HVT_CR4_PAE;
        f->st.cr3 = T_PAE_PDPT;
        f->st.efer = HVT_EFER_NXE;
        break;
    case FX_L4:
    case FX_L5:
        f->st.cr4 = HVT_CR4_PAE | (pg == FX_L5 ? HVT_CR4_LA57 : 0);
        f->st.cr3 = pg == FX_L5 ? T_PML5 : T_PML4;
        f->st.efer = HVT_EFER_LME | HVT_EFER_LMA | HVT_EFER_NXE;
        break;
    }
    fx_flat_segs(&f->st, pg == FX_L4 || pg == FX_L5);
    f->e.st = &f->st;
    f->e.ops = &ram_ops;
    f->e.opctx = f->r;
    f->e.res = &f->res;
    f->e.opts = &f->opts;
    f->e.mode = hvt_emu_mode_of(&f->st);
    f->e.cpl = 0;
    f->e.locked = 0;
}

static inline void fx_free(struct fx *f)
{
    ram_free(f->r);
    f->r = NULL;
}

/* Entry address of LA at LEVEL in the builder's fixed tables (4/5-level). */
static inline uint64_t fx_ent(unsigned level, uint64_t la)
{
    static const uint64_t table[6] = {0, T_PT, T_PD, T_PDPT, T_PML4, T_PML5};
    unsigned shift = 12 + 9 * (level - 1);
    return table[level] + 8 * ((la >> shift) & 511);
}

/* 4/5-level: maps LA to the 4 KiB page GPA through the fixed tables. UPPER are the bits of the
 * non-leaf entries, LEAF those of the PTE. */
static inline void fx_map4k(struct fx *f, uint64_t la, uint64_t gpa, uint64_t upper, uint64_t leaf)
{
    if (f->st.cr4 & HVT_CR4_LA57)
        ram_put64(f->r, fx_ent(5, la), T_PML4 | upper);
    ram_put64(f->r, fx_ent(4, la), T_PDPT | upper);
    ram_put64(f->r, fx_ent(3, la), T_PD | upper);
    ram_put64(f->r, fx_ent(2, la), T_PT | upper);
    ram_put64(f->r, fx_ent(1, la), gpa | leaf);
}

/* PAE: PDPTE register + memory copy of the PDPTE of LA, PD at T_PD, PT at T_PT. */
static inline void fx_map_pae(struct fx *f, uint64_t la, uint64_t gpa, uint64_t upper,
                              uint64_t leaf)
{
    unsigned i = (unsigned)(la >> 30) & 3;
    f->st.pdpte[i] = T_PD | P_P;
    f->st.flags |= HVT_STATE_PDPTE_VALID;
    ram_put64(f->r, T_PAE_PDPT + 8 * i, T_PD | P_P);
    ram_put64(f->r, T_PD + 8 * ((la >> 21) & 511), T_PT | upper);
    ram_put64(f->r, T_PT + 8 * ((la >> 12) & 511), gpa | leaf);
}

/* 32-bit: PD at T_PD, PT at T_PT. */
static inline void fx_map32(struct fx *f, uint32_t la, uint32_t gpa, uint32_t upper, uint32_t leaf)
{
    ram_put32(f->r, T_PD + 4 * (la >> 22), (uint32_t)T_PT | upper);
    ram_put32(f->r, T_PT + 4 * ((la >> 12) & 1023), gpa | leaf);
}

/* ---- checks on the log ------------------------------------------------------------------ */

#define CHECK_CTX(line)                                                                            \
    int fx_before_ = hvt_test_failures;                                                            \
    (void)fx_before_
#define CHECK_CTX_END(what, line)                                                                  \
    do {                                                                                           \
        if (hvt_test_failures != fx_before_)                                                       \
            fprintf(stderr, "  ... in %s called from line %d\n", what, line);                      \
    } while (0)

static inline void check_walk_at(struct fx *f, unsigned i, unsigned level, uint64_t gpa,
                                 uint32_t size, uint64_t la, int line)
{
    CHECK_CTX(line);
    CHECK(i < f->r->n_log);
    if (i < f->r->n_log) {
        const struct ram_log_entry *l = &f->r->log[i];
        CHECK_EQ(l->kind, HVT_ACC_READ);
        CHECK_EQ(l->info.kind, HVT_ACC_READ);
        CHECK_U64(l->gpa, gpa);
        CHECK_EQ(l->size, size);
        CHECK_EQ(l->info.tag.cls, HVT_TAG_WALK);
        CHECK_EQ(l->info.tag.level, level);
        CHECK_EQ(l->info.tag.operand, 0);
        CHECK_EQ(l->info.tag.element, 0);
        CHECK_EQ(l->info.tag.reserved, 0);
        CHECK_EQ(l->info.seg, HVT_SEG_NONE);
        CHECK_EQ(l->info.flags, HVT_OPF_LINEAR_VALID);
        CHECK_EQ(l->info.space, HVT_SPACE_RAM);
        CHECK_U64(l->info.linear, la);
    }
    CHECK_CTX_END("check_walk", line);
}
#define CHECK_WALK(f, i, level, gpa, size, la) check_walk_at(f, i, level, gpa, size, la, __LINE__)

static inline void check_ad_at(struct fx *f, unsigned i, unsigned level, uint64_t gpa,
                               uint32_t size, uint64_t la, uint64_t old, uint64_t nv, int line)
{
    CHECK_CTX(line);
    CHECK(i < f->r->n_log);
    if (i < f->r->n_log) {
        const struct ram_log_entry *l = &f->r->log[i];
        uint64_t o = 0, n = 0;
        memcpy(&o, l->old, size);
        memcpy(&n, l->data, size);
        CHECK_EQ(l->kind, HVT_ACC_CMPXCHG);
        CHECK_EQ(l->info.kind, HVT_ACC_CMPXCHG);
        CHECK_U64(l->gpa, gpa);
        CHECK_EQ(l->size, size);
        CHECK_EQ(l->info.tag.cls, HVT_TAG_AD);
        CHECK_EQ(l->info.tag.level, level);
        CHECK_EQ(l->info.tag.operand, 0);
        CHECK_EQ(l->info.seg, HVT_SEG_NONE);
        CHECK_EQ(l->info.flags, HVT_OPF_LINEAR_VALID | HVT_OPF_LOCKED);
        CHECK_U64(l->info.linear, la);
        CHECK_U64(o, old);
        CHECK_U64(n, nv);
    }
    CHECK_CTX_END("check_ad", line);
}
#define CHECK_AD(f, i, level, gpa, size, la, old, nv)                                              \
    check_ad_at(f, i, level, gpa, size, la, old, nv, __LINE__)

/* An exception outcome with this vector, error code and (for #PF) CR2. */
static inline void check_exc_at(struct fx *f, int rc, unsigned vec, uint32_t ec, uint64_t cr2,
                                int line)
{
    CHECK_CTX(line);
    CHECK_EQ(rc, HVT_OUT_EXCEPTION);
    CHECK_EQ(f->res.out.kind, HVT_OUT_EXCEPTION);
    CHECK_EQ(f->res.out.vector, vec);
    CHECK_EQ(f->res.out.flags & HVT_PO_HAS_ERROR_CODE, HVT_PO_HAS_ERROR_CODE);
    CHECK_EQ(f->res.out.error_code, ec);
    CHECK_U64(f->res.out.cr2, cr2);
    CHECK_CTX_END("check_exc", line);
}
#define CHECK_EXC(f, rc, vec, ec, cr2) check_exc_at(f, rc, vec, ec, cr2, __LINE__)
#define CHECK_PF(f, rc, ec, cr2) check_exc_at(f, rc, HVT_VEC_PF, ec, cr2, __LINE__)

/* Number of logged ops of KIND. */
static inline unsigned fx_count(struct fx *f, unsigned kind)
{
    unsigned n = 0;
    for (unsigned i = 0; i < f->r->n_log; i++)
        n += f->r->log[i].kind == kind;
    return n;
}

#endif
