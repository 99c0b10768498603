/* SPDX-License-Identifier: MIT */
/* Simulated host: internal structures shared by the host's modules (layout, vCPU, device). */
#ifndef HVT_HOST_INT_H
#define HVT_HOST_INT_H

#include <pthread.h>
#include <stdint.h>

#include "hvtrace/core.h"
#include "hvtrace/host.h"

/* ---- guest-physical and linear layout (docs/SCENARIOS.md has the picture) ---------------- */

#define GPA_CODE 0x1000ull     /* guest program (copied from the library) */
#define GPA_STACKS 0x10000ull  /* vCPU i: stack top at GPA_STACKS + (i + 1) * 0x1000 */
#define GPA_SCRATCH 0x60000ull /* vCPU i: scratch RAM page at GPA_SCRATCH + i * 0x1000 */
#define GPA_TABLES 0x100000ull /* page tables, bump-allocated, 4 KiB each */
#define GPA_TABLES_END 0x180000ull
#define GPA_FRAMES 0x200000ull /* pageout frames (the agent moves the buffer among them) */
#define N_FRAMES 3
#define GPA_GATHER 0x300000ull /* gather base (RAM) */

#define GPA_MMIO 0xfe000000ull /* MMIO pages, identity mapped */
/* start time of a deterministic recording (2023-11-14T22:13:20Z): fixed, not the clock */
#define HVT_HOST_FIXED_START_NS 1700000000000000000ull
#define MMIO_PAGES 8
#define MMIO_DEV0 0   /* general device registers (clean, mixed) */
#define MMIO_CMPS 1   /* the register both CMPS operands read */
#define MMIO_GATHER 2 /* gather element 4 */
#define MMIO_ADBITS 3 /* target of the adbits window */
#define MMIO_PTW_A 4  /* ptwrite / pae-pdpte window, original mapping */
#define MMIO_PTW_B 5  /* ... mapping after an agent's rewrite */
#define MMIO_SINK 6   /* pageout REP MOVSB destination */
#define MMIO_GPA(page) (GPA_MMIO + (uint64_t)(page)*0x1000)
#define MMIO_COUNTER_OFF 0xff8 /* reading it returns a counter that advances per read */

#define PORT_PAGEOUT 0xe0 /* REP OUTSB sink */
#define PORT_COUNTER 0xe4 /* IN: a counter that advances per read */
#define PORT_CLEAN 0xe8   /* OUT sink */
#define PORT_LO 0xe0
#define PORT_HI 0xf0 /* ports [PORT_LO, PORT_HI) belong to the device model */

/* Linear windows (64-bit guests), each with its own paging structures so an agent can
 * rewrite one entry without touching the rest. */
#define LA_PTW 0x8000000000ull    /* PML4 slot 1 -> PDPT_A -> PD_A -> PT_A -> MMIO_PTW_A */
#define LA_PAGEOUT 0x140000000ull /* PML4 0, PDPT slot 5 -> PD -> PT -> a frame */
#define LA_ADBITS 0x180000000ull  /* PML4 0, PDPT slot 6 -> PD -> PT -> MMIO_ADBITS */
#define LA_PAE_WIN 0x80000000ull  /* 32-bit PAE: PDPTE 2 -> PD_A -> PT_A -> MMIO_PTW_A */

/* Architectural bits: HVT_CR4_*, HVT_EFER_*, HVT_PTE_* (include/hvtrace/types.h). */

/* Paging-entry bits (short names for the public ones). */
#define PTE_P HVT_PTE_P
#define PTE_RW HVT_PTE_W
#define PTE_A HVT_PTE_A
#define PTE_D HVT_PTE_D
#define PTE_PS HVT_PTE_PS
#define PTE_ADDR 0x000ffffffffff000ull

/* ---- device model ------------------------------------------------------------------------ */

enum ioreq_type { IOREQ_MMIO = 0, IOREQ_PIO = 1 };
enum ioreq_dir { IOREQ_READ = 0, IOREQ_WRITE = 1 };

/* One request to the device model, as a hypervisor would send it (Xen ioreq_t). */
struct ioreq {
    uint8_t type; /* enum ioreq_type */
    uint8_t dir;  /* enum ioreq_dir */
    uint16_t reserved;
    uint32_t size;
    uint64_t addr; /* GPA or port */
    uint32_t count;
    uint32_t element; /* tag element of the access that issued it (REP/gather progress) */
    uint8_t data[HVT_DATA_MAX];
};

/* ---- per-vCPU state ---------------------------------------------------------------------- */

#define SB_MAX 64     /* probe store-buffer entries */
#define CACHE_MAX 256 /* access-once buffer entries per event */
#define DONE_MAX 64   /* completed requests kept for one event */
#define PASS_MAX 256  /* passes before an event is declared stuck */

struct sb_entry {
    uint64_t gpa;
    uint32_t size;
    int cas;                      /* from a compare-exchange: commit only if RAM still holds */
    uint8_t expect[HVT_DATA_MAX]; /* ... the value the probe compared against */
    uint8_t data[HVT_DATA_MAX];
};

struct cache_entry {
    struct hvt_tag tag;
    uint64_t gpa;
    uint32_t size;
    uint8_t data[HVT_DATA_MAX];
};

enum vcpu_run { VCPU_RUNNABLE = 0, VCPU_WAIT_IO, VCPU_STOPPED };

struct hvt_host;

/* Which events a deterministic run records. Event ids follow completion, so a recording of N
 * events that is a prefix of every longer one with the same seed holds the first N events to
 * complete: a dry run (PLAN_DRY, no recorder) finds how many of those each vCPU begins, and
 * the recorded run (PLAN_SET) records exactly those; every other event still runs, unrecorded,
 * so the schedule is the same in both. PLAN_NONE (hvt_host_run called directly): the first N
 * events to begin are recorded, later ones run unrecorded until those have ended. */
enum host_plan { HOST_PLAN_NONE = 0, HOST_PLAN_DRY = 1, HOST_PLAN_SET = 2 };

struct vcpu {
    struct hvt_host *h;
    uint32_t id;
    struct hvt_vcpu_state st;
    struct hvt_core *core;
    int run;       /* enum vcpu_run */
    uint64_t rng;  /* threads mode: this vCPU's PRNG */
    uint64_t tick; /* threads mode: this vCPU's clock (steps and waits) */

    /* probe */
    int probe_hit; /* the probe tried a device access */
    unsigned n_sb;
    int sb_overflow;
    struct sb_entry sb[SB_MAX];

    /* event in progress */
    int in_event;
    int unrecorded;       /* this event runs as recorded ones do, but is not recorded */
    uint64_t rec_started; /* recorded events begun */
    uint64_t rec_quota;   /* HOST_PLAN_SET: how many of its events are recorded */
    uint32_t pass;   /* index of the next pass */
    uint32_t io_idx; /* device accesses made so far in the current pass */
    int mismatch;    /* the current pass hit an ioreq mismatch */
    int has_pending, pending_ready;
    uint64_t pending_due; /* scheduler tick (or spin count) when the device answers */
    struct ioreq pending;
    unsigned n_done;
    struct ioreq done[DONE_MAX];
    unsigned n_cache;
    struct cache_entry cache[CACHE_MAX];
    int targeted; /* an agent acts on this event */
    int unhandleable_streak;

    /* recording: the ops the core is called with for event passes */
    struct hvt_core_ops ev_ops;
    void *ev_ctx;
    uint64_t insn_count;
    uint64_t last_event_rip;

    /* figures */
    uint64_t n_instructions, n_events, n_passes, n_ioreqs, n_mismatch, n_agent, n_faults,
        n_cache_hits;
};

/* ---- scenarios --------------------------------------------------------------------------- */

#define AG_PAGEOUT (1u << 0) /* rewrite the buffer's leaf PTE (remap; sometimes unmap) */
#define AG_PTWRITE (1u << 1) /* rewrite a PML4E / PDPTE / PDE of the ptwrite window */
#define AG_PDPTE (1u << 2)   /* rewrite PAE PDPTE 2 in memory */
#define AG_CMPS (1u << 3)    /* write the CMPS device register */
#define AG_ADBITS (1u << 4)  /* clear A/D bits of the adbits window after each event */

struct scenario {
    const char *name;
    const char *summary;
    const char *guest; /* guest program name (host/guests/NAME.S) */
    int pae;           /* 32-bit PAE guest */
    int simd;          /* needs AVX state (CR4.OSXSAVE, XCR0) */
    uint32_t vcpus;    /* default vCPU count */
    uint64_t events;   /* default event budget */
    unsigned agents;   /* AG_* */
    unsigned rate;     /* an eligible event is targeted with probability 1/rate */
};

const struct scenario *hvt_host_scenario_find(const char *name);

/* ---- the host ---------------------------------------------------------------------------- */

#define LOCK_STRIPES 64

struct hvt_host {
    struct hvt_host_options opt;
    const struct scenario *sc;
    char scenario_name[32];
    char core_name[256];
    struct hvt_kv core_kv[HVT_HOST_MAX_CORE_OPTIONS];
    char core_kv_buf[HVT_HOST_MAX_CORE_OPTIONS][2][64];
    char core_hdr_key[HVT_HOST_MAX_CORE_OPTIONS][56];
    struct hvt_cpu_profile cpu; /* what the guests are shown */
    int core_ignores_cpu;

    uint8_t *ram;
    uint64_t ram_bytes;
    int threads;

    /* page tables */
    uint64_t next_table;
    uint64_t pml4, pae_pdpt;
    uint64_t pdpt_a, pd_a, pt_a, pdpt_b, pd_b, pt_b; /* ptwrite chains */
    uint64_t pae_pd_a, pae_pd_b;
    uint64_t po_pt;                    /* pageout window PT */
    uint64_t ad_pdpte, ad_pde, ad_pte; /* GPAs of the adbits window's entries */

    /* device model (guarded by lock) */
    uint64_t mmio_regs[MMIO_PAGES][512];
    uint64_t mmio_counter, port_counter, port_sink;

    /* agents (guarded by lock) */
    unsigned po_frame; /* frame the pageout buffer is in */
    int po_unmapped;
    int flip_active; /* a ptwrite / pdpte rewrite waits to be undone */
    uint32_t flip_vcpu;
    uint64_t flip_gpa, flip_old;
    uint64_t cmps_value;

    /* scheduling */
    uint64_t rng;
    uint64_t now;
    uint64_t events_budget;
    uint64_t events_done;    /* atomic in threads mode */
    uint64_t events_started; /* atomic in threads mode */
    uint64_t recorded_open;  /* deterministic mode: recorded events begun and not ended */
    int plan;                /* enum host_plan (deterministic mode) */
    int stop;                /* atomic in threads mode */
    int ran;

    struct hvt_rec *rec;
    uint32_t n_vcpus;
    struct vcpu *vcpus;

    pthread_mutex_t lock; /* device model, agents, error */
    pthread_mutex_t stripes[LOCK_STRIPES];
    int err;
    char errmsg[256];
    uint64_t wall_ns;

    /* header options */
    struct hvt_kv hdr_kv[24];
    char hdr_buf[24][96];
    size_t n_hdr;
};

/* host.c */
void hvt_host_fail(struct hvt_host *h, int err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
uint64_t hvt_host_rand(struct hvt_host *h, struct vcpu *v);

/* world.c: RAM, page tables, guest state, device model */
int hvt_host_world_build(struct hvt_host *h);
void hvt_host_vcpu_init_state(struct hvt_host *h, struct vcpu *v);
int hvt_host_in_ram(const struct hvt_host *h, uint64_t gpa, uint32_t size);
int hvt_host_in_mmio(uint64_t gpa, uint32_t size);
void hvt_host_ram_read(struct hvt_host *h, uint64_t gpa, void *buf, uint32_t size);
void hvt_host_ram_write(struct hvt_host *h, uint64_t gpa, const void *buf, uint32_t size);
int hvt_host_ram_cmpxchg(struct hvt_host *h, uint64_t gpa, void *old, const void *new_,
                         uint32_t size);
uint64_t hvt_host_ram_get64(struct hvt_host *h, uint64_t gpa);
void hvt_host_ram_put64(struct hvt_host *h, uint64_t gpa, uint64_t v);
void hvt_host_device_complete(struct hvt_host *h, struct ioreq *rq);

/* vcpu.c: probe and event execution */
void hvt_host_vcpu_step(struct vcpu *v);
extern const struct hvt_core_ops hvt_host_event_ops;

/* agents.c */
void hvt_host_agents_after_retry(struct vcpu *v, const struct hvt_core_result *res);
void hvt_host_agents_event_end(struct vcpu *v);
int hvt_host_agents_fault(struct vcpu *v, const struct hvt_core_result *res);

/* rec_adapter.c: the only file that calls the recorder */
int hvt_host_rec_bind(struct vcpu *v);
int hvt_host_rec_event_begin(struct vcpu *v, const uint8_t *insn, size_t len);
int hvt_host_rec_pass_begin(struct vcpu *v);
int hvt_host_rec_pass_end(struct vcpu *v, const struct hvt_pass_outcome *out);
int hvt_host_rec_event_end(struct vcpu *v);
int hvt_host_rec_healthy(struct hvt_host *h);         /* 0, or the recorder's error */
const char *hvt_host_rec_message(struct hvt_host *h); /* why the recording stopped */

#endif
