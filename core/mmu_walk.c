/* SPDX-License-Identifier: MIT */
/* Reference core MMU: page walks (32-bit, PAE, 4- and 5-level), permissions, A/D updates. */
#include <string.h>

#include "mmu.h"
#include "mmu_internal.h"

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "the MMU reads paging entries as little-endian host integers"
#endif

/* short names for the public constants (include/hvtrace/types.h) */
#define PTE_P HVT_PTE_P
#define PTE_RW HVT_PTE_W
#define PTE_US HVT_PTE_U
#define PTE_A HVT_PTE_A
#define PTE_D HVT_PTE_D
#define PTE_PS HVT_PTE_PS
#define PTE_XD HVT_PTE_NX

#define PFEC_P HVT_PFEC_P
#define PFEC_W HVT_PFEC_W
#define PFEC_U HVT_PFEC_U
#define PFEC_RSVD HVT_PFEC_RSVD
#define PFEC_ID HVT_PFEC_I

/* The MMU models MAXPHYADDR = 52: no address bit of an entry is reserved, so the reserved
 * bits below are the architectural ones that do not depend on MAXPHYADDR. */
#define ADDR_MASK 0x000ffffffffff000ull                   /* bits 51:12 */
#define RSVD_PAE_HIGH 0x7ff0000000000000ull               /* PAE PDE/PTE bits 62:52 (62:M) */
#define RSVD_PAE_PDPTE (0xfff0000000000000ull | 0x1e6ull) /* 63:52, 8:5, 2:1 */
#define RSVD_2M 0x00000000001fe000ull /* bits 20:13 of a 2 MiB PDE (bit 12 is PAT) */
#define RSVD_1G 0x000000003fffe000ull /* bits 29:13 of a 1 GiB PDPTE (bit 12 is PAT) */
#define RSVD_4M (1ull << 21)          /* 4 MiB PDE bit 21 (PSE-36 uses 20:13) */

/* A/D updates that found the entry changed restart the walk; give up after this many. */
#define MAX_RESTARTS 8

/* Internal: an A/D cmpxchg lost a race, walk again. Not an enum hvt_outcome value. */
#define WALK_RESTART (-1)
/* Internal: the entry just read maps the page (the walk is complete). */
#define WALK_LEAF (-2)

struct walk_ent {
    uint64_t gpa;  /* where the entry lives */
    uint64_t val;  /* what the walk read */
    uint8_t level; /* tag level */
    uint8_t size;  /* 4 or 8 */
    uint8_t ad;    /* has accessed/dirty bits (PAE PDPTEs do not) */
};

struct walk {
    struct walk_ent ent[6];
    unsigned n;
    uint64_t gpa;    /* result */
    uint64_t us, rw; /* AND of the U/S and R/W bits of the entries that carry them */
    uint64_t xd;     /* OR of the XD bits (only ever set when EFER.NXE) */
    uint64_t no_a;   /* OR of the complemented entries that carry A/D bits: PTE_A set when one
                        of them lacks A (then the A/D pass has something to do) */
};

struct walk_req {
    uint64_t la;
    unsigned acc;  /* HVT_MMU_R/W/X */
    unsigned user; /* user-mode access: CPL 3 and not implicit */
    uint32_t ec;   /* error-code bits that describe the access (W, U, I/D) */
};

static int page_fault(struct hvt_emu *e, const struct walk_req *q, uint32_t bits)
{
    return hvt_emu_raise(e, HVT_VEC_PF, 1, q->ec | bits, q->la);
}

/* One tagged read of a paging-structure entry, recorded in W. */
static inline __attribute__((always_inline)) int
read_entry(struct hvt_emu *e, const struct walk_req *q, struct walk *w, uint64_t gpa, unsigned size,
           unsigned level, int ad, uint64_t *val)
{
    struct hvt_op_info info;
    struct walk_ent *ent;
    uint64_t v = 0;
    int r;

    info.tag = hvt_mktag(HVT_TAG_WALK, 0, level, 0);
    info.kind = HVT_ACC_READ;
    info.seg = HVT_SEG_NONE;
    info.space = HVT_SPACE_RAM;
    info.flags = HVT_OPF_LINEAR_VALID;
    info.reserved = 0;
    info.linear = q->la;
    r = e->ops->read(e->opctx, gpa, &v, size, &info);
    if (r != HVT_OP_OKAY)
        return hvt_emu_op_status(e, r, &info);
    ent = &w->ent[w->n++];
    ent->gpa = gpa;
    ent->val = v;
    ent->level = (uint8_t)level;
    ent->size = (uint8_t)size;
    ent->ad = (uint8_t)ad;
    if (ad)
        w->no_a |= ~v;
    *val = v;
    return HVT_OUT_OKAY;
}

static inline void accumulate(struct walk *w, uint64_t v)
{
    w->us &= v;
    w->rw &= v;
    w->xd |= v;
}

/* One entry of a 4- or 5-level walk at LEVEL (a constant where it is inlined): reads it from
 * *TABLE, checks P and the reserved bits RSVD (and RSVD_LEAF too when CAN_LEAF and PS is set),
 * then either maps the page (returns WALK_LEAF, the address in w->gpa) or sets *TABLE to the next
 * table (returns HVT_OUT_OKAY). Anything else is the outcome that ends the walk. */
static inline __attribute__((always_inline)) int
long_entry(struct hvt_emu *e, const struct walk_req *q, struct walk *w, uint64_t *table,
           unsigned level, uint64_t rsvd, int can_leaf, uint64_t rsvd_leaf)
{
    unsigned shift = 12 + 9 * (level - 1);
    uint64_t v = 0;
    int leaf, r = read_entry(e, q, w, *table + 8 * ((q->la >> shift) & 511), 8, level, 1, &v);
    if (r)
        return r;
    if (!(v & PTE_P))
        return page_fault(e, q, 0);
    leaf = level == 1 || (can_leaf && (v & PTE_PS));
    if (can_leaf && (v & PTE_PS))
        rsvd |= rsvd_leaf;
    if (v & rsvd)
        return page_fault(e, q, PFEC_P | PFEC_RSVD);
    accumulate(w, v);
    if (leaf) {
        uint64_t off = (1ull << shift) - 1;
        w->gpa = (v & ADDR_MASK & ~off) | (q->la & off);
        return WALK_LEAF;
    }
    *table = v & ADDR_MASK;
    return HVT_OUT_OKAY;
}

/* 4-level and 5-level paging: no 512 GiB pages (PS reserved in PML5Es and PML4Es); 1 GiB pages
 * only with pdpe1gb (PS reserved in PDPTEs otherwise). */
static int walk_long(struct hvt_emu *e, const struct walk_req *q, struct walk *w)
{
    const struct hvt_vcpu_state *st = e->st;
    uint64_t rsvd = (st->efer & HVT_EFER_NXE) ? 0 : PTE_XD;
    uint64_t table = st->cr3 & ADDR_MASK;
    int r;

    if ((st->cr4 & HVT_CR4_LA57) && (r = long_entry(e, q, w, &table, 5, rsvd | PTE_PS, 0, 0)))
        return r;
    if ((r = long_entry(e, q, w, &table, 4, rsvd | PTE_PS, 0, 0)))
        return r;
    if (hvt_emu_has(e, HVT_CPUF_PDPE1GB))
        r = long_entry(e, q, w, &table, 3, rsvd, 1, RSVD_1G);
    else
        r = long_entry(e, q, w, &table, 3, rsvd | PTE_PS, 0, 0);
    if (r)
        return r == WALK_LEAF ? HVT_OUT_OKAY : r;
    if ((r = long_entry(e, q, w, &table, 2, rsvd, 1, RSVD_2M)))
        return r == WALK_LEAF ? HVT_OUT_OKAY : r;
    r = long_entry(e, q, w, &table, 1, rsvd, 0, 0);
    return r == WALK_LEAF ? HVT_OUT_OKAY : r;
}

/* PAE paging: the PDPTE comes from the PDPTE registers (st->pdpte[], as loaded at the last CR3
 * load) unless the option pdpte_reread asks for a memory read, or the state has no valid
 * registers: then the one PDPTE this translation needs is read from memory (tag level
 * HVT_WALK_PAE_PDPTE). Reserved bits in a PDPTE give #PF with RSVD, as a walk that reads them
 * (AMD, nested paging) does; a CR3 load on Intel would have raised #GP instead, so a register
 * with reserved bits set is a state hardware never produces. */
static int walk_pae(struct hvt_emu *e, const struct walk_req *q, struct walk *w)
{
    const struct hvt_vcpu_state *st = e->st;
    uint64_t rsvd = RSVD_PAE_HIGH | ((st->efer & HVT_EFER_NXE) ? 0 : PTE_XD);
    unsigned idx = (unsigned)(q->la >> 30) & 3;
    int reread = e->opts && e->opts->pdpte_reread;
#ifdef HVT_MUTANT_PDPTE /* replayer tests: a deliberate bug, PDPTEs re-read from memory */
    reread = 1;
#endif
    uint64_t v = 0;
    int r;

    if (reread || !(st->flags & HVT_STATE_PDPTE_VALID)) {
        r = read_entry(e, q, w, (st->cr3 & 0xffffffe0ull) + 8 * idx, 8, HVT_WALK_PAE_PDPTE, 0, &v);
        if (r)
            return r;
    } else {
        v = st->pdpte[idx];
    }
    if (!(v & PTE_P))
        return page_fault(e, q, 0);
    if (v & RSVD_PAE_PDPTE)
        return page_fault(e, q, PFEC_P | PFEC_RSVD);

    r = read_entry(e, q, w, (v & ADDR_MASK) + 8 * ((q->la >> 21) & 511), 8, 2, 1, &v);
    if (r)
        return r;
    if (!(v & PTE_P))
        return page_fault(e, q, 0);
    if (v & (rsvd | ((v & PTE_PS) ? RSVD_2M : 0)))
        return page_fault(e, q, PFEC_P | PFEC_RSVD);
    accumulate(w, v);
    if (v & PTE_PS) {
        w->gpa = (v & ADDR_MASK & ~0x1fffffull) | (q->la & 0x1fffff);
        return HVT_OUT_OKAY;
    }

    r = read_entry(e, q, w, (v & ADDR_MASK) + 8 * ((q->la >> 12) & 511), 8, 1, 1, &v);
    if (r)
        return r;
    if (!(v & PTE_P))
        return page_fault(e, q, 0);
    if (v & rsvd)
        return page_fault(e, q, PFEC_P | PFEC_RSVD);
    accumulate(w, v);
    w->gpa = (v & ADDR_MASK) | (q->la & 0xfff);
    return HVT_OUT_OKAY;
}

/* 32-bit paging; 4 MiB pages with CR4.PSE, with PSE-36 (PDE bits 20:13 = address bits 39:32,
 * bit 21 reserved). No XD bit exists here. */
static int walk_32(struct hvt_emu *e, const struct walk_req *q, struct walk *w)
{
    const struct hvt_vcpu_state *st = e->st;
    uint64_t v = 0;
    int r;

    r = read_entry(e, q, w, (st->cr3 & 0xfffff000ull) + 4 * (q->la >> 22), 4, 2, 1, &v);
    if (r)
        return r;
    if (!(v & PTE_P))
        return page_fault(e, q, 0);
    if ((st->cr4 & HVT_CR4_PSE) && (v & PTE_PS)) {
        if (v & RSVD_4M)
            return page_fault(e, q, PFEC_P | PFEC_RSVD);
        accumulate(w, v);
        w->gpa = (((v >> 13) & 0xff) << 32) | (v & 0xffc00000ull) | (q->la & 0x3fffff);
        return HVT_OUT_OKAY;
    }
    accumulate(w, v);

    r = read_entry(e, q, w, (v & 0xfffff000ull) + 4 * ((q->la >> 12) & 1023), 4, 1, 1, &v);
    if (r)
        return r;
    if (!(v & PTE_P))
        return page_fault(e, q, 0);
    accumulate(w, v);
    w->gpa = (v & 0xfffff000ull) | (q->la & 0xfff);
    return HVT_OUT_OKAY;
}

/* Access rights of a completed walk (SDM vol. 3 4.6), protection keys not modelled. */
static int check_rights(struct hvt_emu *e, const struct walk_req *q, const struct walk *w,
                        unsigned intent)
{
    const struct hvt_vcpu_state *st = e->st;
    int user_page = (w->us & PTE_US) != 0;
    int writable = (w->rw & PTE_RW) != 0;

    if (q->user) {
        if (!user_page || (q->acc == HVT_MMU_W && !writable))
            return page_fault(e, q, PFEC_P);
        if (q->acc == HVT_MMU_X && (w->xd & PTE_XD))
            return page_fault(e, q, PFEC_P);
        return HVT_OUT_OKAY;
    }
    if (q->acc == HVT_MMU_X) {
        if ((w->xd & PTE_XD) || (user_page && (st->cr4 & HVT_CR4_SMEP)))
            return page_fault(e, q, PFEC_P);
        return HVT_OUT_OKAY;
    }
    if (q->acc == HVT_MMU_W && !writable && (st->cr0 & HVT_CR0_WP))
        return page_fault(e, q, PFEC_P);
    /* SMAP: explicit accesses at CPL < 3 may use user pages with RFLAGS.AC = 1; implicit
     * supervisor accesses never may. */
    if (user_page && (st->cr4 & HVT_CR4_SMAP) &&
        ((intent & HVT_MMU_IMPLICIT) || e->cpl == 3 || !(st->rflags & HVT_RFLAGS_AC)))
        return page_fault(e, q, PFEC_P);
    return HVT_OUT_OKAY;
}

/* Sets A on every entry lacking it, top to bottom, and D on the leaf for writes: one locked
 * cmpxchg per entry, expecting the value the walk read. */
static int update_ad(struct hvt_emu *e, const struct walk_req *q, const struct walk *w)
{
    for (unsigned i = 0; i < w->n; i++) {
        const struct walk_ent *ent = &w->ent[i];
        struct hvt_op_info info;
        uint64_t old = ent->val, nv = ent->val | PTE_A;
        int r;

        if (!ent->ad)
            continue;
        if (i == w->n - 1 && q->acc == HVT_MMU_W)
            nv |= PTE_D;
        if (nv == old)
            continue;
        info.tag = hvt_mktag(HVT_TAG_AD, 0, ent->level, 0);
        info.kind = HVT_ACC_CMPXCHG;
        info.seg = HVT_SEG_NONE;
        info.space = HVT_SPACE_RAM;
        info.flags = HVT_OPF_LINEAR_VALID | HVT_OPF_LOCKED;
        info.reserved = 0;
        info.linear = q->la;
        r = e->ops->cmpxchg(e->opctx, ent->gpa, &old, &nv, ent->size, &info);
        if (r == HVT_OP_CMPXCHG_FAILED)
            return WALK_RESTART;
        if (r != HVT_OP_OKAY)
            return hvt_emu_op_status(e, r, &info);
    }
    return HVT_OUT_OKAY;
}

int hvt_mmu_translate(struct hvt_emu *e, uint64_t la, unsigned intent, uint64_t *gpa)
{
    const struct hvt_vcpu_state *st;
    struct walk_req q;
    uint32_t ec;

    if (!hvt_mmu_ctx_ok(e))
        return hvt_mmu_bad(e, "translate: incomplete emulation context");
    if (!gpa)
        return hvt_mmu_bad(e, "translate: no result pointer");
    if (!hvt_mmu_intent_ok(intent))
        return hvt_mmu_bad(e, "translate: bad intent");
    st = e->st;
    if (!(st->efer & HVT_EFER_LMA))
        la &= 0xffffffffull;
    if (!(st->cr0 & HVT_CR0_PG)) {
        *gpa = la;
        return HVT_OUT_OKAY;
    }

    q.la = la;
    q.acc = intent & HVT_MMU_ACC_MASK;
    q.user = e->cpl == 3 && !(intent & HVT_MMU_IMPLICIT);
    ec = q.acc == HVT_MMU_W ? PFEC_W : 0;
    if (q.user)
        ec |= PFEC_U;
    /* I/D is reported only where fetches can be refused for being fetches: SMEP, or XD with
     * PAE-format entries (SDM 4.7). */
    if (q.acc == HVT_MMU_X &&
        ((st->cr4 & HVT_CR4_SMEP) || ((st->cr4 & HVT_CR4_PAE) && (st->efer & HVT_EFER_NXE))))
        ec |= PFEC_ID;
    q.ec = ec;

    for (unsigned restart = 0;; restart++) {
        struct walk w;
        int r;

        w.n = 0;
        w.gpa = 0;
        w.us = w.rw = ~0ull;
        w.xd = 0;
        w.no_a = 0;
        if (st->efer & HVT_EFER_LMA)
            r = walk_long(e, &q, &w);
        else if (st->cr4 & HVT_CR4_PAE)
            r = walk_pae(e, &q, &w);
        else
            r = walk_32(e, &q, &w);
        if (r)
            return r;
        r = check_rights(e, &q, &w, intent);
        if (r)
            return r;
#ifdef HVT_MUTANT_NO_AD /* replayer tests: a deliberate bug, the A/D update is dropped */
        r = HVT_OUT_OKAY;
        (void)update_ad;
#else
        /* the A/D pass only when an entry lacks A, or the leaf lacks D for a write */
        r = HVT_OUT_OKAY;
        if ((w.no_a & PTE_A) ||
            (q.acc == HVT_MMU_W && w.ent[w.n - 1].ad && !(w.ent[w.n - 1].val & PTE_D)))
            r = update_ad(e, &q, &w);
#endif
        if (r == HVT_OUT_OKAY) {
            *gpa = w.gpa;
            return HVT_OUT_OKAY;
        }
        if (r != WALK_RESTART)
            return r;
        if (restart + 1 >= MAX_RESTARTS)
            return hvt_mmu_bad(e, "paging entries kept changing under the A/D update");
    }
}
