/* SPDX-License-Identifier: MIT */
/* Simulated host: the scenario table and the racing agents that act between passes. */
#include <string.h>

#include "host_int.h"

/* Defaults: vCPUs, events; agents target one eligible event in RATE. */
static const struct scenario scenarios[] = {
    {.name = "clean",
     .summary = "MMIO, port and RAM emulation with no racing writer: no divergence",
     .guest = "clean", .vcpus = 2, .events = 400, .rate = 1},
    {.name = "pageout",
     .summary = "REP OUTSB/MOVSB from a RAM buffer to a device while the buffer's leaf PTE "
                "is rewritten between passes",
     .guest = "pageout", .vcpus = 2, .events = 200, .agents = AG_PAGEOUT, .rate = 2},
    {.name = "ptwrite",
     .summary = "MOV to MMIO through a pointer whose PML4E/PDPTE/PDE is rewritten between "
                "passes",
     .guest = "ptwrite", .vcpus = 2, .events = 200, .agents = AG_PTWRITE, .rate = 2},
    {.name = "pae-pdpte",
     .summary = "32-bit PAE guest whose PDPTE in memory changes between passes (seen only "
                "with the core option pdpte-reread=1)",
     .guest = "pae", .pae = 1, .vcpus = 2, .events = 200, .agents = AG_PDPTE, .rate = 2},
    {.name = "cmps",
     .summary = "CMPSQ with both operands at one device register that another vCPU writes",
     .guest = "cmps", .vcpus = 2, .events = 100, .agents = AG_CMPS, .rate = 2},
    {.name = "gather",
     .summary = "AVX2 gather with an element in MMIO: partial progress, mask written back, "
                "RETRY",
     .guest = "gather", .simd = 1, .vcpus = 2, .events = 100, .rate = 1},
    {.name = "adbits",
     .summary = "the first pass's walk sets A/D bits, the second pass reads them set",
     .guest = "adbits", .vcpus = 1, .events = 100, .agents = AG_ADBITS, .rate = 1},
    {.name = "mixed",
     .summary = "long mostly-clean workload with all of the above at low rates (--events)",
     .guest = "mixed", .simd = 1, .vcpus = 4, .events = 5000,
     .agents = AG_PAGEOUT | AG_PTWRITE | AG_CMPS | AG_ADBITS, .rate = 4},
};

#define N_SCENARIOS (sizeof(scenarios) / sizeof(scenarios[0]))

size_t hvt_host_scenario_count(void)
{
    return N_SCENARIOS;
}

const char *hvt_host_scenario_name(size_t i)
{
    return i < N_SCENARIOS ? scenarios[i].name : NULL;
}

const char *hvt_host_scenario_summary(size_t i)
{
    return i < N_SCENARIOS ? scenarios[i].summary : NULL;
}

const struct scenario *hvt_host_scenario_find(const char *name)
{
    for (size_t i = 0; name && i < N_SCENARIOS; i++) {
        if (!strcmp(scenarios[i].name, name))
            return &scenarios[i];
    }
    return NULL;
}

/* ---- agents ----------------------------------------------------------------------------- */

static int in_mmio_page(const struct ioreq *rq, unsigned page)
{
    return rq->type == IOREQ_MMIO && rq->addr >= MMIO_GPA(page) && rq->addr < MMIO_GPA(page + 1);
}

/* Which agent a request makes its event eligible for. */
static unsigned classify(const struct hvt_host *h, const struct ioreq *rq)
{
    if ((rq->type == IOREQ_PIO && rq->addr == PORT_PAGEOUT) || in_mmio_page(rq, MMIO_SINK))
        return AG_PAGEOUT;
    if (in_mmio_page(rq, MMIO_PTW_A))
        return h->sc->pae ? AG_PDPTE : AG_PTWRITE;
    if (in_mmio_page(rq, MMIO_CMPS))
        return AG_CMPS;
    if (in_mmio_page(rq, MMIO_ADBITS))
        return AG_ADBITS;
    return 0;
}

/* The guest OS pages the buffer out and back in at another frame (or leaves it unmapped,
 * one time in four: the re-executed pass then faults and the "guest handler" maps it). */
static void act_pageout(struct hvt_host *h, struct vcpu *v)
{
    uint64_t pte_gpa = h->po_pt;
    h->po_frame = (h->po_frame + 1) % N_FRAMES;
    if (!h->po_unmapped && hvt_host_rand(h, v) % 4 == 0) {
        hvt_host_ram_put64(h, pte_gpa, 0);
        h->po_unmapped = 1;
    } else {
        hvt_host_ram_put64(h, pte_gpa,
                           (GPA_FRAMES + h->po_frame * 0x1000ull) | PTE_P | PTE_RW | PTE_A | PTE_D);
        h->po_unmapped = 0;
    }
    v->n_agent++;
}

/* Another vCPU repoints one upper-level entry of the window's chain A at chain B; undone when
 * the targeted event ends. */
static void act_flip(struct hvt_host *h, struct vcpu *v, unsigned kind)
{
    uint64_t gpa, val;
    if (h->flip_active)
        return;
    if (kind == AG_PDPTE) {
        gpa = h->pae_pdpt + 2 * 8;
        val = h->pae_pd_b | PTE_P;
    } else {
        switch (hvt_host_rand(h, v) % 3) {
        case 0: /* PML4E */
            gpa = h->pml4 + 1 * 8;
            val = h->pdpt_b | PTE_P | PTE_RW | PTE_A;
            break;
        case 1: /* PDPTE */
            gpa = h->pdpt_a;
            val = h->pd_b | PTE_P | PTE_RW | PTE_A;
            break;
        default: /* PDE */
            gpa = h->pd_a;
            val = h->pt_b | PTE_P | PTE_RW | PTE_A;
            break;
        }
    }
    h->flip_old = hvt_host_ram_get64(h, gpa);
    h->flip_gpa = gpa;
    h->flip_vcpu = v->id;
    h->flip_active = 1;
    hvt_host_ram_put64(h, gpa, val);
    v->n_agent++;
}

void hvt_host_agents_after_retry(struct vcpu *v, const struct hvt_core_result *res)
{
    struct hvt_host *h = v->h;
    (void)res;
    if (!v->has_pending || !h->sc->agents)
        return;
    if (v->pass == 1) {
        unsigned kind = classify(h, &v->pending) & h->sc->agents;
        if (kind && hvt_host_rand(h, v) % h->sc->rate == 0)
            v->targeted = (int)kind;
    }
    if (!v->targeted)
        return;
    pthread_mutex_lock(&h->lock);
    switch (v->targeted) {
    case AG_PAGEOUT:
        if (v->pass == 1)
            act_pageout(h, v);
        break;
    case AG_PTWRITE:
    case AG_PDPTE:
        if (v->pass == 1)
            act_flip(h, v, (unsigned)v->targeted);
        break;
    case AG_CMPS:
        /* another vCPU stores to the register between every two passes */
        h->mmio_regs[MMIO_CMPS][0] += 0x0101010101010101ull;
        v->n_agent++;
        break;
    default:
        break;
    }
    pthread_mutex_unlock(&h->lock);
}

void hvt_host_agents_event_end(struct vcpu *v)
{
    struct hvt_host *h = v->h;
    if (!v->targeted)
        return;
    pthread_mutex_lock(&h->lock);
    if (h->flip_active && h->flip_vcpu == v->id) {
        hvt_host_ram_put64(h, h->flip_gpa, h->flip_old);
        h->flip_active = 0;
    }
    if (v->targeted == AG_ADBITS) {
        /* the guest OS ages the window: clears accessed (and dirty) bits, so the next event's
         * first pass sets them again */
        const uint64_t ad = PTE_A | PTE_D;
        hvt_host_ram_put64(h, h->ad_pdpte, hvt_host_ram_get64(h, h->ad_pdpte) & ~ad);
        hvt_host_ram_put64(h, h->ad_pde, hvt_host_ram_get64(h, h->ad_pde) & ~ad);
        hvt_host_ram_put64(h, h->ad_pte, hvt_host_ram_get64(h, h->ad_pte) & ~ad);
        v->n_agent++;
    }
    pthread_mutex_unlock(&h->lock);
    v->targeted = 0;
}

int hvt_host_agents_fault(struct vcpu *v, const struct hvt_core_result *res)
{
    struct hvt_host *h = v->h;
    int handled = 0;
    if (res->out.kind != HVT_OUT_EXCEPTION || res->out.vector != 14 /* #PF */)
        return 0;
    pthread_mutex_lock(&h->lock);
    if ((res->out.cr2 & ~0xfffull) == LA_PAGEOUT) {
        /* the guest's page-fault handler pages the buffer back in (unless another vCPU's
         * handler already did: a spurious fault) and returns to the faulting instruction */
        if (h->po_unmapped) {
            hvt_host_ram_put64(h, h->po_pt,
                               (GPA_FRAMES + h->po_frame * 0x1000ull) | PTE_P | PTE_RW | PTE_A |
                                   PTE_D);
            h->po_unmapped = 0;
        }
        handled = 1;
        v->n_faults++;
    }
    pthread_mutex_unlock(&h->lock);
    return handled;
}
