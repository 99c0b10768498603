/* SPDX-License-Identifier: MIT */
/* KVM host: internal structures shared by its modules (the recording run, the shadow core). */
#ifndef HVT_KVM_INT_H
#define HVT_KVM_INT_H

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>

#include "../host_int.h"
#include "hvtrace/kvm.h"
#include "hvtrace/recorder.h"
#include "kvm_vm.h"

/* Guest-physical additions to the simulated host's layout (host_int.h), in RAM it leaves free. */
#define KVM_GPA_AGENT_CODE 0xe0000ull /* the agent program */
#define KVM_GPA_MAILBOX 0xf0000ull    /* the agent's mailbox page */
#define KVM_MB_REQ 0                  /* u32 request sequence number */
#define KVM_MB_ACK 4                  /* u32 last request done */
#define KVM_MB_KIND 8                 /* u32: 1 store, 3 stop */
#define KVM_MB_VALUE 16               /* u64 value to store */
#define KVM_MB_ADDR 24                /* u64 where (identity-mapped linear = physical) */
#define KVM_AGENT_STORE 1u
#define KVM_AGENT_STOP 3u
#define KVM_AGENT_STOP_PORT 0xef /* the agent's OUT once stopped */

/* What the agent does, per scenario. */
#define KAG_PAGEOUT (1u << 0) /* remap the pageout buffer at a mid-REP exit */
#define KAG_CMPS (1u << 1)    /* write the cmps register between the two CMPS reads */

struct kvm_scenario {
    const char *name, *summary;
    const char *sim; /* the simulated host's scenario whose world (page tables, devices) it uses */
    int own_guest;   /* 1: the KVM guest program "mixed" replaces the simulated host's */
    unsigned agents; /* KAG_* */
    uint64_t events;
};

/* One device access KVM reported at an exit, or one answer served for the open event. */
struct kvm_devacc {
    uint8_t port, write;
    uint32_t size;
    uint64_t addr;
    uint8_t data[8];
};

#define KVM_ANS_MAX 32
#define KVM_SB_MAX 32

struct kvm_sbe {
    uint64_t gpa;
    uint32_t size;
    uint8_t data[HVT_DATA_MAX];
};

struct kvm_host;

struct kvcpu {
    struct kvm_host *k;
    struct kvm_vcpu kv;
    uint32_t id;
    int agent; /* this vCPU runs the agent program */
    uint64_t rng;
    struct hvt_core *core;
    struct hvt_vcpu_state S; /* at the last exit */
    struct hvt_vcpu_state B; /* the last instruction boundary seen (lockstep) */
    int have_b;

    /* the event in progress */
    int in_event;
    uint64_t ev_rip;
    struct hvt_vcpu_state P; /* start state of the next pass */
    uint32_t pass;
    unsigned n_ans;
    struct kvm_devacc ans[KVM_ANS_MAX];

    /* one shadow run */
    int recording;
    unsigned ans_idx;
    int obs_valid, obs_used, obs_matched, shadow_extra;
    struct kvm_devacc obs;
    unsigned n_sb;
    struct kvm_sbe sb[KVM_SB_MAX];

    /* figures (this thread's own; summed after the join) */
    uint64_t n_exits, n_mmio, n_pio, n_debug, n_events, n_passes, n_agent, n_recon, n_unrecon, n_ok,
        n_named, n_mismatch, n_rep_last, n_rep_rf, n_acc;
    char first_mismatch[160];
};

struct kvm_host {
    struct kvm_vm vm;
    struct hvt_host *sim; /* the world: RAM image, page tables, initial states, device model */
    const struct kvm_scenario *sc;
    uint32_t n;
    struct kvcpu *v;
    struct hvt_rec *rec;
    int lockstep;
    int plain;  /* no recording: device exits are served, nothing is stepped or shadowed */
    int kernel; /* a real guest (kvm_kernel.c) instead of a scenario */
    int kernel_irqchip;
    uint8_t uart_lcr;
    FILE *console;
    uint64_t deadline_ns;
    uint64_t budget;
    uint64_t events_done; /* atomic */
    int stop;             /* atomic */
    uint32_t agent_vcpu;  /* UINT32_MAX when none */
    pthread_mutex_t lock; /* error */
    pthread_mutex_t agent_lock;
    uint32_t agent_seq;
    unsigned po_frame;
    int err;
    char errmsg[256];
};

void hvt_kvm_fail(struct kvm_host *k, int err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* kvm_kernel.c: the real guest's VM, vCPU 0 and boot state; its device model */
int hvt_kvm_kernel_setup(struct kvm_host *k, const struct hvt_kvm_options *o,
                         struct hvt_cpu_profile *cpu, char *err, size_t len);
void hvt_kvm_kernel_serve(struct kvcpu *c, struct kvm_run *run, uint8_t *data);
/* Loads the PT_LOAD segments of the ELF64 x86-64 executable F (LEN bytes, untrusted) at their
 * physical addresses into RAM (RAM_BYTES); *ENTRY gets e_entry. 0, or -HVT_E_INVALID with ERR
 * naming what is wrong (a header, a segment outside the file or the RAM). */
int hvt_kvm_load_elf(uint8_t *ram, uint64_t ram_bytes, const uint8_t *f, size_t len,
                     uint64_t *entry, char *err, size_t elen);

/* kvm_shadow.c: the reference core's shadow run of one pass over live guest memory */
int hvt_kvm_shadow(struct kvcpu *c, const struct hvt_vcpu_state *from, struct hvt_vcpu_state *end,
                   struct hvt_core_result *res, int record);
/* Reconstructs the state before the instruction whose write exit left the vCPU in C->S.
 * Returns 1 and *PRE, or 0 when no candidate explains the exit. */
int hvt_kvm_reconstruct(struct kvcpu *c, struct hvt_vcpu_state *pre);

/* check-kvm (kvm_check.c): deviations of KVM's emulator from the reference core, excluded by name.
 */
enum kdev {
    KDEV_NONE = 0,
    KDEV_UNEMULATED,          /* kvm-emulation-failure: KVM's emulator does not emulate the form */
    KDEV_RF_ON_FAULT,         /* kvm-fault-frame-rf: (architectural) RF set in a fault's frame */
    KDEV_AD_ON_FAULT,         /* kvm-a-bits-on-faulting-walk: A bits set by a walk that faults */
    KDEV_INS_BEFORE_FAULT,    /* kvm-ins-reads-port-before-fault: INS reads the port (again and
                                 again, and ahead for a REP) before the fault on its memory
                                 destination, and a REP keeps none of the batch's progress */
    KDEV_SPLIT_FAULT_ORDER,   /* kvm-split-rmw-faults-second-page: an RMW split across pages
                                 faults on the second page (not present, reserved bit) before the
                                 first page's write protection */
    KDEV_CORE_SPLIT_LOCK,     /* core-split-lock: the core's documented UNHANDLEABLE for a LOCKed
                                 operand split across pages */
    KDEV_AD_NOT_SET,          /* kvm-ad-bits-not-set: an A or D bit the core's walk sets stays clear
                                 (a rotate whose count leaves the value as it was is not written
                                 back; a CMPS operand translated without a walk) */
    KDEV_SPLIT_STORE_PARTIAL, /* kvm-split-store-partial-on-fault: a store split across pages
                                 writes its first part, then faults on the second page */
    KDEV_XMM_STATE,           /* kvm-pvm-xmm-state: on kvm_pvm an emulated SSE store writes zeros
                                 and XMM registers read back otherwise than loaded */
    KDEV_RSVD_MAXPHYADDR,     /* kvm-maxphyaddr: a paging entry bit the core's profile reserves
                                 is an address bit under KVM's guest MAXPHYADDR (CPUID 80000008H) */
    KDEV_CX16_UNCHECKED,      /* kvm-cmpxchg16b-ignores-cpuid: CMPXCHG16B runs (or faults on its
                                 operand) where the guest's CPUID has no CX16: no #UD */
    KDEV_SEG_OVR_64,          /* kvm-64bit-null-segment-override: in 64-bit mode KVM honours an
                                 ES/CS/SS/DS override to choose #SS or #GP for a non-canonical operand
                                 (the CPU ignores those prefixes there) */
    KDEV_CMPS_FAULT_ORDER,    /* kvm-cmps-operand-fault-order: with both CMPS operands faulting,
                                 KVM reports DS:RSI's #PF (it reads SRC1 first), the core ES:RDI's
                                 (as QEMU) */
    KDEV_REP_CMPS_FLAGS,      /* kvm-rep-cmps-fault-flags-initial: a REPE/REPNE CMPS/SCAS that
                                 faults after progress keeps RFLAGS as before it, where the profile's
                                 rep-cmps-fault-flags choice (AMD: last) says the last comparison's */
    KDEV__COUNT
};
extern const char *const hvt_kvm_dev_names[KDEV__COUNT];

struct hvt_orc_case;
struct hvt_orc_result;
/* Compares the core's REF with KVM's KV for case C (STUB_PA: the harness's three frames, not
 * compared; CPU: the profile both followed). 0 agree, 1 differ (DIFF says how), 2 differ only
 * by the named deviation *DEV (enum kdev). */
int hvt_kvm_compare(const struct hvt_cpu_profile *cpu, const uint64_t stub_pa[3],
                    const struct hvt_orc_case *c, const struct hvt_orc_result *ref,
                    const struct hvt_orc_result *kv, char *diff, size_t len, unsigned *dev);

#endif
