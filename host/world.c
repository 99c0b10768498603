/* SPDX-License-Identifier: MIT */
/* Simulated host: guest RAM, page tables, initial vCPU state, and the device model. */
#include <string.h>

#include "host_int.h"

/* Guest programs assembled into the library by guest_blob.S. */
#define GUEST_SYMS(n) extern const uint8_t hvt_guest_##n[], hvt_guest_##n##_end[];
GUEST_SYMS(clean)
GUEST_SYMS(pageout)
GUEST_SYMS(ptwrite)
GUEST_SYMS(adbits)
GUEST_SYMS(cmps)
GUEST_SYMS(gather)
GUEST_SYMS(mixed)
GUEST_SYMS(pae)
#undef GUEST_SYMS

static const struct {
    const char *name;
    const uint8_t *start, *end;
} guests[] = {
    {"clean", hvt_guest_clean, hvt_guest_clean_end},
    {"pageout", hvt_guest_pageout, hvt_guest_pageout_end},
    {"ptwrite", hvt_guest_ptwrite, hvt_guest_ptwrite_end},
    {"adbits", hvt_guest_adbits, hvt_guest_adbits_end},
    {"cmps", hvt_guest_cmps, hvt_guest_cmps_end},
    {"gather", hvt_guest_gather, hvt_guest_gather_end},
    {"mixed", hvt_guest_mixed, hvt_guest_mixed_end},
    {"pae", hvt_guest_pae, hvt_guest_pae_end},
};

/* ---- RAM -------------------------------------------------------------------------------- */

int hvt_host_in_ram(const struct hvt_host *h, uint64_t gpa, uint32_t size)
{
    return gpa < h->ram_bytes && size <= h->ram_bytes - gpa;
}

int hvt_host_in_mmio(uint64_t gpa, uint32_t size)
{
    return gpa >= GPA_MMIO && gpa + size <= MMIO_GPA(MMIO_PAGES) && gpa + size > gpa;
}

/* In threads mode every RAM access holds the stripe lock of its page: accesses never cross a
 * page (the core splits them), so one lock per access makes racing vCPUs and agents
 * well-defined (and TSan-clean) without atomics on a byte array. */
static pthread_mutex_t *stripe(struct hvt_host *h, uint64_t gpa)
{
    return h->threads ? &h->stripes[(gpa >> 12) % LOCK_STRIPES] : NULL;
}

void hvt_host_ram_read(struct hvt_host *h, uint64_t gpa, void *buf, uint32_t size)
{
    pthread_mutex_t *m = stripe(h, gpa);
    if (m)
        pthread_mutex_lock(m);
    memcpy(buf, h->ram + gpa, size);
    if (m)
        pthread_mutex_unlock(m);
}

void hvt_host_ram_write(struct hvt_host *h, uint64_t gpa, const void *buf, uint32_t size)
{
    pthread_mutex_t *m = stripe(h, gpa);
    if (m)
        pthread_mutex_lock(m);
    memcpy(h->ram + gpa, buf, size);
    if (m)
        pthread_mutex_unlock(m);
}

int hvt_host_ram_cmpxchg(struct hvt_host *h, uint64_t gpa, void *old, const void *new_,
                         uint32_t size)
{
    pthread_mutex_t *m = stripe(h, gpa);
    int ok;
    if (m)
        pthread_mutex_lock(m);
    ok = !memcmp(h->ram + gpa, old, size);
    if (ok)
        memcpy(h->ram + gpa, new_, size);
    else
        memcpy(old, h->ram + gpa, size);
    if (m)
        pthread_mutex_unlock(m);
    return ok;
}

uint64_t hvt_host_ram_get64(struct hvt_host *h, uint64_t gpa)
{
    uint64_t v;
    hvt_host_ram_read(h, gpa, &v, 8);
    return v;
}

void hvt_host_ram_put64(struct hvt_host *h, uint64_t gpa, uint64_t v)
{
    hvt_host_ram_write(h, gpa, &v, 8);
}

/* ---- page tables ------------------------------------------------------------------------ */

static uint64_t table_alloc(struct hvt_host *h)
{
    uint64_t t = h->next_table;
    h->next_table += 0x1000;
    return t; /* RAM is zeroed at creation */
}

static void put_entry(struct hvt_host *h, uint64_t table, unsigned idx, uint64_t v)
{
    memcpy(h->ram + table + idx * 8ull, &v, 8);
}

/* Non-leaf and leaf entries come with A (and D on leaves) already set, so that walks read the
 * same bits every time and only the adbits window shows A/D updates. */
#define UPPER (PTE_P | PTE_RW | PTE_A)
#define LEAF (PTE_P | PTE_RW | PTE_A | PTE_D)

static void build_tables(struct hvt_host *h)
{
    uint64_t pdpt0, pd0, pd3, pt_mmio, pd_po, pd_ad, pt_ad;
    uint64_t n2m = h->ram_bytes >> 21;

    h->next_table = GPA_TABLES;
    h->pml4 = table_alloc(h);
    pdpt0 = table_alloc(h);
    pd0 = table_alloc(h);
    put_entry(h, h->pml4, 0, pdpt0 | UPPER);
    put_entry(h, pdpt0, 0, pd0 | UPPER);
    /* Identity map of RAM: 4 KiB pages for the first 4 MiB (code, stacks, tables, frames,
     * gather base), 2 MiB pages above. */
    for (uint64_t i = 0; i < n2m; i++) {
        if (i < 2) {
            uint64_t pt = table_alloc(h);
            put_entry(h, pd0, (unsigned)i, pt | UPPER);
            for (unsigned j = 0; j < 512; j++)
                put_entry(h, pt, j, ((i << 21) + ((uint64_t)j << 12)) | LEAF);
        } else {
            put_entry(h, pd0, (unsigned)i, (i << 21) | LEAF | PTE_PS);
        }
    }
    /* MMIO, identity mapped at 0xfe000000: PDPT slot 3, PD slot 0x1f0. */
    pd3 = table_alloc(h);
    pt_mmio = table_alloc(h);
    put_entry(h, pdpt0, 3, pd3 | UPPER);
    put_entry(h, pd3, (unsigned)((GPA_MMIO >> 21) & 511), pt_mmio | UPPER);
    for (unsigned i = 0; i < MMIO_PAGES; i++)
        put_entry(h, pt_mmio, i, MMIO_GPA(i) | LEAF);

    /* ptwrite window: two complete chains; the agent points one entry of chain A at chain B's
     * table of the level below. */
    h->pdpt_a = table_alloc(h);
    h->pd_a = table_alloc(h);
    h->pt_a = table_alloc(h);
    h->pdpt_b = table_alloc(h);
    h->pd_b = table_alloc(h);
    h->pt_b = table_alloc(h);
    put_entry(h, h->pml4, 1, h->pdpt_a | UPPER);
    put_entry(h, h->pdpt_a, 0, h->pd_a | UPPER);
    put_entry(h, h->pd_a, 0, h->pt_a | UPPER);
    put_entry(h, h->pt_a, 0, MMIO_GPA(MMIO_PTW_A) | LEAF);
    put_entry(h, h->pdpt_b, 0, h->pd_b | UPPER);
    put_entry(h, h->pd_b, 0, h->pt_b | UPPER);
    put_entry(h, h->pt_b, 0, MMIO_GPA(MMIO_PTW_B) | LEAF);

    /* pageout window: one 4 KiB buffer page whose leaf PTE the agent rewrites. */
    pd_po = table_alloc(h);
    h->po_pt = table_alloc(h);
    put_entry(h, pdpt0, (unsigned)((LA_PAGEOUT >> 30) & 511), pd_po | UPPER);
    put_entry(h, pd_po, 0, h->po_pt | UPPER);
    put_entry(h, h->po_pt, 0, GPA_FRAMES | LEAF);
    h->po_frame = 0;

    /* adbits window: A/D clear, so the first walk of each event sets them. */
    pd_ad = table_alloc(h);
    pt_ad = table_alloc(h);
    h->ad_pdpte = pdpt0 + ((LA_ADBITS >> 30) & 511) * 8;
    h->ad_pde = pd_ad;
    h->ad_pte = pt_ad;
    put_entry(h, pdpt0, (unsigned)((LA_ADBITS >> 30) & 511), pd_ad | PTE_P | PTE_RW);
    put_entry(h, pd_ad, 0, pt_ad | PTE_P | PTE_RW);
    put_entry(h, pt_ad, 0, MMIO_GPA(MMIO_ADBITS) | PTE_P | PTE_RW);

    /* PAE (32-bit guests): PDPTEs carry only P (their other low bits are reserved). The
     * page directories share the 64-bit ones: PAE PDEs have the same layout. */
    h->pae_pdpt = table_alloc(h);
    h->pae_pd_a = table_alloc(h);
    h->pae_pd_b = table_alloc(h);
    put_entry(h, h->pae_pdpt, 0, pd0 | PTE_P);
    put_entry(h, h->pae_pdpt, 2, h->pae_pd_a | PTE_P);
    put_entry(h, h->pae_pdpt, 3, pd3 | PTE_P);
    put_entry(h, h->pae_pd_a, 0, h->pt_a | UPPER);
    put_entry(h, h->pae_pd_b, 0, h->pt_b | UPPER);
}

/* ---- guest image and state -------------------------------------------------------------- */

int hvt_host_world_build(struct hvt_host *h)
{
    const uint8_t *code = NULL;
    size_t len = 0;
    for (size_t i = 0; i < sizeof(guests) / sizeof(guests[0]); i++) {
        if (!strcmp(guests[i].name, h->sc->guest)) {
            code = guests[i].start;
            len = (size_t)(guests[i].end - guests[i].start);
        }
    }
    if (!code || !len || len > GPA_STACKS - GPA_CODE)
        return -HVT_E_INTERNAL;
    memcpy(h->ram + GPA_CODE, code, len);
    build_tables(h);
    if (h->next_table > GPA_TABLES_END)
        return -HVT_E_INTERNAL;

    /* pageout frames: distinct contents, so a remapped buffer reads different bytes */
    for (unsigned k = 0; k < N_FRAMES; k++) {
        for (unsigned i = 0; i < 0x1000; i++)
            h->ram[GPA_FRAMES + k * 0x1000 + i] = (uint8_t)(0xa0 + k * 0x10 + (i & 0xf));
    }
    /* gather source: element i of the base reads i * 0x01010101 + 0x100 */
    for (unsigned i = 0; i < 64; i++) {
        uint32_t v = i * 0x01010101u + 0x100;
        memcpy(h->ram + GPA_GATHER + i * 4, &v, 4);
    }
    /* device registers start with recognisable values */
    for (unsigned p = 0; p < MMIO_PAGES; p++) {
        for (unsigned r = 0; r < 512; r++)
            h->mmio_regs[p][r] = 0x1000000000000000ull * p + 0x1111ull * r;
    }
    h->cmps_value = h->mmio_regs[MMIO_CMPS][0];
    return 0;
}

static void seg_set(struct hvt_segment *s, uint16_t sel, uint32_t attr, uint32_t limit)
{
    memset(s, 0, sizeof(*s));
    s->sel = sel;
    s->attr = attr;
    s->limit = limit;
}

void hvt_host_vcpu_init_state(struct hvt_host *h, struct vcpu *v)
{
    struct hvt_vcpu_state *st = &v->st;
    uint64_t scratch = GPA_SCRATCH + v->id * 0x1000ull;
    /* code: type 0xb (execute/read, accessed), S, P, G; data: type 3 (read/write, accessed) */
    const uint32_t code64 = 0xb | HVT_SEG_ATTR_S | HVT_SEG_ATTR_P | HVT_SEG_ATTR_L | HVT_SEG_ATTR_G;
    const uint32_t code32 =
        0xb | HVT_SEG_ATTR_S | HVT_SEG_ATTR_P | HVT_SEG_ATTR_DB | HVT_SEG_ATTR_G;
    const uint32_t data = 0x3 | HVT_SEG_ATTR_S | HVT_SEG_ATTR_P | HVT_SEG_ATTR_DB | HVT_SEG_ATTR_G;

    memset(st, 0, sizeof(*st));
    st->rip = GPA_CODE;
    st->rflags = 0x2;
    seg_set(&st->seg[HVT_SEG_CS], 0x08, h->sc->pae ? code32 : code64, 0xffffffffu);
    for (unsigned s = 0; s < 6; s++) {
        if (s != HVT_SEG_CS)
            seg_set(&st->seg[s], 0x10, data, 0xffffffffu);
    }
    seg_set(&st->seg[HVT_SEG_LDTR], 0, HVT_SEG_ATTR_UNUSABLE, 0);
    seg_set(&st->seg[HVT_SEG_TR], 0x18, 0xb | HVT_SEG_ATTR_P, 0x67);
    st->gdtr.limit = 0x1f;
    st->idtr.limit = 0xfff;
    /* CR0: PE MP ET NE WP PG */
    st->cr0 = 0x80010033ull;
    st->cr4 = HVT_CR4_PAE | HVT_CR4_OSFXSR | HVT_CR4_OSXMMEXCPT;
    st->gpr[HVT_RSP] = GPA_STACKS + (v->id + 1) * 0x1000ull;
    st->gpr[HVT_RBP] = scratch;
    st->gpr[HVT_R15] = v->id;
    st->mxcsr = 0x1f80;
    st->flags = HVT_STATE_SIMD_VALID;
    if (h->sc->pae) {
        st->cr3 = h->pae_pdpt;
        st->efer = 0;
        st->gpr[HVT_RBX] = LA_PAE_WIN + v->id * 16ull;
        /* the PDPTE registers, as loaded by the guest's last CR3 load */
        for (unsigned i = 0; i < 4; i++)
            memcpy(&st->pdpte[i], h->ram + h->pae_pdpt + i * 8, 8);
        st->flags |= HVT_STATE_PDPTE_VALID;
    } else {
        st->cr3 = h->pml4;
        st->efer = HVT_EFER_LME | HVT_EFER_LMA | HVT_EFER_NXE;
        st->gpr[HVT_RBX] = MMIO_GPA(MMIO_DEV0) + v->id * 32ull;
        st->gpr[HVT_R8] = LA_PTW + v->id * 16ull;
        st->gpr[HVT_R9] = MMIO_GPA(MMIO_CMPS);
        st->gpr[HVT_R10] = GPA_GATHER;
        st->gpr[HVT_R11] = LA_ADBITS + v->id * 16ull;
        st->gpr[HVT_R12] = LA_PAGEOUT + v->id * 8ull;
        st->gpr[HVT_R13] = MMIO_GPA(MMIO_SINK) + v->id * 8ull;
    }
    if (h->sc->simd) {
        st->cr4 |= HVT_CR4_OSXSAVE;
        st->xcr0 = 0x7; /* x87, SSE, AVX */
    }
    /* gather inputs in the scratch page: all-ones mask at +64, indices at +96 (element 4 points
     * into the gather MMIO page, the others into RAM) */
    for (unsigned i = 0; i < 8; i++) {
        uint32_t ones = 0xffffffffu;
        uint32_t idx = i == 4 ? (uint32_t)((MMIO_GPA(MMIO_GATHER) + 0x100 - GPA_GATHER) / 4) : i;
        memcpy(h->ram + scratch + 64 + i * 4, &ones, 4);
        memcpy(h->ram + scratch + 96 + i * 4, &idx, 4);
    }
}

/* ---- device model ----------------------------------------------------------------------- */

/* Completes RQ: reads get the device's answer now, writes take effect now. The counter
 * registers make reads non-idempotent, as real device registers often are: reading twice is
 * not the same as reading once. */
void hvt_host_device_complete(struct hvt_host *h, struct ioreq *rq)
{
    pthread_mutex_lock(&h->lock);
    if (rq->type == IOREQ_MMIO) {
        unsigned page = (unsigned)((rq->addr - GPA_MMIO) >> 12);
        unsigned off = (unsigned)(rq->addr & 0xfff);
        uint8_t *regs = (uint8_t *)h->mmio_regs[page];
        if (rq->dir == IOREQ_READ) {
            if (off == MMIO_COUNTER_OFF) {
                uint64_t c = ++h->mmio_counter;
                memcpy(rq->data, &c, rq->size < 8 ? rq->size : 8);
            } else {
                memcpy(rq->data, regs + off, rq->size);
            }
        } else {
            memcpy(regs + off, rq->data, rq->size);
        }
    } else {
        if (rq->dir == IOREQ_READ) {
            uint64_t c = rq->addr == PORT_COUNTER ? ++h->port_counter : ~0ull;
            memcpy(rq->data, &c, rq->size < 8 ? rq->size : 8);
        } else {
            uint64_t d = 0;
            memcpy(&d, rq->data, rq->size < 8 ? rq->size : 8);
            h->port_sink = h->port_sink * 31 + d;
        }
    }
    pthread_mutex_unlock(&h->lock);
}
