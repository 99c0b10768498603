/* SPDX-License-Identifier: MIT */
/* KVM host: check-kvm: the oracle's cases single-stepped in a KVM guest (ring 0, where kvm_pvm
 * emulates every instruction) and compared with the reference core. */
#include <errno.h>
#include <stddef.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#include "hvtrace/oracle.h"
#include "kvm_int.h"

const char *const hvt_kvm_dev_names[KDEV__COUNT] = {"none",
                                                    "kvm-emulation-failure",
                                                    "kvm-fault-frame-rf",
                                                    "kvm-a-bits-on-faulting-walk",
                                                    "kvm-ins-reads-port-before-fault",
                                                    "kvm-split-rmw-faults-second-page",
                                                    "core-split-lock",
                                                    "kvm-ad-bits-not-set",
                                                    "kvm-split-store-partial-on-fault",
                                                    "kvm-pvm-xmm-state",
                                                    "kvm-maxphyaddr",
                                                    "kvm-cmpxchg16b-ignores-cpuid",
                                                    "kvm-64bit-null-segment-override",
                                                    "kvm-cmps-operand-fault-order",
                                                    "kvm-rep-cmps-fault-flags-initial"};

/*
 * The case runs at its own RIP with its own state, RAM and page tables. Exceptions are seen
 * through the guest: an IDT (32 gates on IST 1, CS 0x08) and a TSS are written into the
 * oracle's reserved stub window (the three frames the case's GDTR points into, never
 * compared), each vector's handler a HLT at its own address, so where the vCPU stops names
 * the vector and the IST frame holds the error code and the faulting RIP, RSP and RFLAGS.
 */

#define STUB_IDT 0x800u /* in the stub's code frame: 32 gates of 16 bytes */
#define STUB_TSS 0x000u /* in the stub's stack frame */
#define N_VEC 32u

struct kcheck {
    struct kvm_vm vm;
    struct kvm_vcpu v;
    struct hvt_core *core;
    struct hvt_cpu_profile cpu;
    uint64_t stub_la, stub_pa[3];
    FILE *out;
    int verbose;
    uint64_t cases, mismatches, skipped_cpl3, skipped_cpu, harness, queued_faults, rep_steps,
        excluded[KDEV__COUNT];
    uint64_t unemulated_by_form[256];
};

/* Physical address of LA through the case's 4-level tables (4K, 2M, 1G pages), or ~0. */
static uint64_t walk(const uint8_t *ram, uint64_t cr3, uint64_t la)
{
    uint64_t t = cr3 & 0x000ffffffffff000ull;
    for (int lvl = 4; lvl >= 1; lvl--) {
        unsigned idx = (unsigned)(la >> (12 + 9 * (lvl - 1))) & 511;
        uint64_t e;
        if (t + idx * 8 + 8 > HVT_ORC_RAM_SIZE)
            return ~0ull;
        memcpy(&e, ram + t + idx * 8, 8);
        if (!(e & HVT_PTE_P))
            return ~0ull;
        if (lvl > 1 && lvl < 4 && (e & HVT_PTE_PS)) {
            uint64_t mask = (1ull << (12 + 9 * (lvl - 1))) - 1;
            return ((e & 0x000ffffffffff000ull) & ~mask) | (la & mask);
        }
        t = e & 0x000ffffffffff000ull;
    }
    return t | (la & 0xfff);
}

static void put64(uint8_t *p, uint64_t v)
{
    memcpy(p, &v, 8);
}

static uint64_t get64(const uint8_t *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}

static uint64_t descriptor(uint32_t attr_hi)
{
    /* base 0, limit 0xfffff pages; ATTR_HI: access byte | flags << 8 */
    return 0xffffull | (0xfull << 48) | ((uint64_t)(attr_hi & 0xff) << 40) |
           ((uint64_t)((attr_hi >> 8) & 0xf) << 52);
}

/* Writes GDT, IDT, handlers and TSS into the stub frames of the VM's copy of the case. */
static int write_stub(struct kcheck *k, const struct hvt_orc_case *c)
{
    uint8_t *ram = k->vm.ram;
    k->stub_la = c->st.gdtr.base - 0x1000;
    for (unsigned i = 0; i < 3; i++) {
        k->stub_pa[i] = walk(ram, c->st.cr3, k->stub_la + i * 0x1000ull);
        if (k->stub_pa[i] == ~0ull || (k->stub_pa[i] & 0xfff) || k->stub_pa[i] >= HVT_ORC_RAM_SIZE)
            return -1;
    }
    uint8_t *code = ram + k->stub_pa[0], *gdt = ram + k->stub_pa[1], *stack = ram + k->stub_pa[2];
    memset(code, 0xf4, 0x800); /* HLT everywhere: handler V at V * 8 */
    memset(gdt, 0, 0x1000);
    put64(gdt + 0x08, descriptor(0x9b | (0xa << 8))); /* 64-bit code, DPL 0 (L, G) */
    put64(gdt + 0x10, descriptor(0x93 | (0xc << 8))); /* data, DPL 0 */
    memset(stack, 0, 0x1000);
    for (unsigned v = 0; v < N_VEC; v++) {
        uint64_t h = k->stub_la + v * 8;
        uint8_t *g = code + STUB_IDT + v * 16;
        memset(g, 0, 16);
        g[0] = (uint8_t)h;
        g[1] = (uint8_t)(h >> 8);
        g[2] = 0x08; /* selector */
        g[4] = 1;    /* IST 1 */
        g[5] = 0x8e; /* present, DPL 0, 64-bit interrupt gate */
        g[6] = (uint8_t)(h >> 16);
        g[7] = (uint8_t)(h >> 24);
        uint32_t hi = (uint32_t)(h >> 32);
        memcpy(g + 8, &hi, 4);
    }
    put64(stack + STUB_TSS + 0x24, k->stub_la + 0x3000); /* IST1: top of the stack frame */
    return 0;
}

static int load_ram(struct kcheck *k, const struct hvt_orc_case *c)
{
    struct kvm_userspace_memory_region mr;
    memset(&mr, 0, sizeof(mr));
    mr.slot = 0;
    /* delete and re-add the slot: KVM drops every shadow page built from the last case's
     * page tables, which userspace rewrites behind its write protection */
    if (ioctl(k->vm.vm_fd, KVM_SET_USER_MEMORY_REGION, &mr) < 0)
        return -HVT_E_IO;
    memcpy(k->vm.ram, c->ram, HVT_ORC_RAM_SIZE);
    if (write_stub(k, c) < 0)
        return 1;
    mr.memory_size = HVT_ORC_RAM_SIZE;
    mr.userspace_addr = (uintptr_t)k->vm.ram;
    if (ioctl(k->vm.vm_fd, KVM_SET_USER_MEMORY_REGION, &mr) < 0)
        return -HVT_E_IO;
    return 0;
}

static int has_error_code(unsigned v)
{
    return v == 8 || (v >= 10 && v <= 14) || v == 17;
}

/* Runs C on KVM into R. Returns 0 (R filled), 1 (KVM's emulator refused the instruction:
 * emulation failure), 2 (the harness could not run it: detail in R), or a negative error. */
static int run_kvm(struct kcheck *k, const struct hvt_orc_case *c, const struct hvt_orc_result *ref,
                   struct hvt_orc_result *r)
{
    struct hvt_vcpu_state st = c->st;
    struct kvm_run *run = k->v.run;
    int rc = load_ram(k, c);
    if (rc)
        return rc < 0 ? rc : 2;
    st.idtr.base = k->stub_la + STUB_IDT;
    st.idtr.limit = N_VEC * 16 - 1;
    memset(&st.seg[HVT_SEG_TR], 0, sizeof(st.seg[HVT_SEG_TR]));
    st.seg[HVT_SEG_TR].sel = 0x18;
    st.seg[HVT_SEG_TR].base = k->stub_la + 0x2000 + STUB_TSS;
    st.seg[HVT_SEG_TR].limit = 0x67;
    st.seg[HVT_SEG_TR].attr = 0xb | HVT_SEG_ATTR_P;
    if (hvt_kvm_vcpu_set_state(&k->v, &st) < 0)
        return -HVT_E_IO;
    {
        /* nothing of the last case carries over: no pending event, not halted */
        struct kvm_vcpu_events ev;
        struct kvm_mp_state mp = {KVM_MP_STATE_RUNNABLE};
        memset(&ev, 0, sizeof(ev));
        if (ioctl(k->v.fd, KVM_SET_VCPU_EVENTS, &ev) < 0 ||
            ioctl(k->v.fd, KVM_SET_MP_STATE, &mp) < 0)
            return -HVT_E_IO;
    }
    memset(r, 0, offsetof(struct hvt_orc_result, ram));
    r->status = HVT_ORC_HARNESS;
    r->io_n = 0;
    for (unsigned guard = 0; guard < 4096; guard++) {
        if (hvt_kvm_vcpu_run(&k->v) < 0)
            return -HVT_E_IO;
        if (run->exit_reason == KVM_EXIT_IO) {
            uint8_t *d = (uint8_t *)run + run->io.data_offset;
            for (uint32_t i = 0; i < run->io.count; i++, d += run->io.size) {
                uint32_t v = 0;
                if (run->io.direction == KVM_EXIT_IO_IN) {
                    /* the k-th input gets what the core's k-th input got */
                    if (r->io_n < ref->io_n && r->io_n < HVT_ORC_IO_LOG)
                        v = ref->io[r->io_n].value;
                    memcpy(d, &v, run->io.size);
                } else {
                    memcpy(&v, d, run->io.size);
                }
                if (r->io_n < HVT_ORC_IO_LOG) {
                    r->io[r->io_n].port = run->io.port;
                    r->io[r->io_n].size = run->io.size;
                    r->io[r->io_n].out = run->io.direction == KVM_EXIT_IO_OUT;
                    r->io[r->io_n].value = v;
                }
                r->io_n++;
            }
            continue;
        }
        if (run->exit_reason == KVM_EXIT_INTR)
            continue;
        if (run->exit_reason == KVM_EXIT_DEBUG && run->debug.arch.pc == c->st.rip &&
            (k->v.run->s.regs.regs.rflags & HVT_RFLAGS_RF)) {
            /* a REP string instruction traps after each iteration, as TF does: step on */
            k->rep_steps++;
            continue;
        }
        break;
    }
    if (run->exit_reason == KVM_EXIT_INTERNAL_ERROR)
        return 1;
    if (run->exit_reason != KVM_EXIT_DEBUG && run->exit_reason != KVM_EXIT_HLT) {
        snprintf(r->detail, sizeof(r->detail), "KVM exit %s (%u)",
                 hvt_kvm_exit_name(run->exit_reason), run->exit_reason);
        return 2;
    }
    struct hvt_vcpu_state ks = c->st;
    ks.flags = c->st.flags;
    if (hvt_kvm_vcpu_get_state(&k->v, &ks) < 0)
        return -HVT_E_IO;
    if ((c->st.flags & HVT_STATE_SIMD_VALID) && hvt_kvm_vcpu_get_simd(&k->v, &ks) < 0)
        return -HVT_E_IO;
    for (unsigned i = 0; i < 16 && (c->st.flags & HVT_STATE_SIMD_VALID); i++)
        memcpy(ks.ymm[i] + 16, c->st.ymm[i] + 16, 16); /* no AVX state on this path */
    memcpy(r->ram, k->vm.ram, HVT_ORC_RAM_SIZE);
    /* stopped at a handler's HLT, or just after it (the single-step trap follows the first
     * instruction of the handler) */
    uint64_t hrip = ks.rip & ~7ull;
    if (hrip >= k->stub_la && hrip < k->stub_la + N_VEC * 8 && ks.rip - hrip <= 1) {
        /* an exception: the IST frame has what the fault left */
        const uint8_t *top = k->vm.ram + k->stub_pa[2] + 0x1000;
        unsigned vec = (unsigned)((hrip - k->stub_la) / 8);
        r->status = HVT_ORC_FAULT;
        r->vector = vec;
        r->has_ec = has_error_code(vec);
        r->error_code = r->has_ec ? (uint32_t)get64(top - 48) : 0;
        r->cr2 = ks.cr2;
        ks.rip = get64(top - 40);
        ks.rflags = get64(top - 24);
        ks.gpr[HVT_RSP] = get64(top - 16);
    } else {
        /* KVM may stop for the single-step with the instruction's exception queued and not
         * yet delivered: that is the outcome too */
        struct kvm_vcpu_events ev;
        memset(&ev, 0, sizeof(ev));
        r->status = HVT_ORC_DONE;
        if (ioctl(k->v.fd, KVM_GET_VCPU_EVENTS, &ev) == 0 &&
            (ev.exception.injected || ev.exception.pending)) {
            r->status = HVT_ORC_FAULT;
            r->vector = ev.exception.nr;
            r->has_ec = ev.exception.has_error_code;
            r->error_code = ev.exception.error_code;
            r->cr2 = ks.cr2;
            k->queued_faults++;
        }
    }
    snprintf(r->detail, sizeof(r->detail), "exit %s", hvt_kvm_exit_name(run->exit_reason));
    /* what the harness changed is not the instruction's */
    ks.idtr = c->st.idtr;
    ks.seg[HVT_SEG_TR] = c->st.seg[HVT_SEG_TR];
    r->st = ks;
    return 0;
}

static const char *const gpr_names[16] = {"rax", "rcx", "rdx", "rbx", "rsp", "rbp", "rsi", "rdi",
                                          "r8",  "r9",  "r10", "r11", "r12", "r13", "r14", "r15"};

static const char *status_name(int s)
{
    static const char *const n[] = {"done",         "fault", "unimplemented",
                                    "unhandleable", "retry", "harness"};
    return s >= 0 && s <= HVT_ORC_HARNESS ? n[s] : "?";
}

struct say {
    char *buf;
    size_t len, pos;
    unsigned n;
};

static void say(struct say *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void say(struct say *s, const char *fmt, ...)
{
    va_list ap;
    s->n++;
    if (s->pos >= s->len)
        return;
    va_start(ap, fmt);
    int w = vsnprintf(s->buf + s->pos, s->len - s->pos, fmt, ap);
    va_end(ap);
    if (w > 0)
        s->pos += (size_t)w;
}

static int in_stub(const uint64_t stub_pa[3], uint64_t pa)
{
    for (unsigned i = 0; i < 3; i++)
        if (pa >= stub_pa[i] && pa < stub_pa[i] + 0x1000)
            return 1;
    return 0;
}

/* 0 when the core's REF and KVM's KV agree, 1 otherwise (DIFF says how), 2 when they differ
 * only by a named deviation (*DEV). */
static int both_fault_flags(const struct hvt_orc_result *ref, const struct hvt_orc_result *kv)
{
    return ref->status == HVT_ORC_FAULT && kv->status == HVT_ORC_FAULT;
}

/* 1 when profile P takes alternative V of choice C. */
static int takes_choice(const struct hvt_cpu_profile *p, unsigned c, unsigned v)
{
    return c < HVT_CPU_MAX_CHOICES && p->choice[c] == v;
}

/* CR2 is within an 8-byte element at REG (a 64- or a 32-bit address, either direction). */
static int near_operand(uint64_t cr2, uint64_t reg)
{
    uint64_t r32 = reg & 0xffffffffu;
    return cr2 - reg < 8 || reg - cr2 < 8 || cr2 - r32 < 8 || r32 - cr2 < 8;
}

int hvt_kvm_compare(const struct hvt_cpu_profile *cpu, const uint64_t stub_pa[3],
                    const struct hvt_orc_case *c, const struct hvt_orc_result *ref,
                    const struct hvt_orc_result *kv, char *diff, size_t len, unsigned *dev)
{
    struct say o = {diff, len, 0, 0};
    unsigned applied = KDEV_NONE;
    diff[0] = 0;
    if (ref->status == HVT_ORC_FAULT && ref->vector == HVT_VEC_PF &&
        (ref->error_code & HVT_PFEC_RSVD) &&
        (kv->status != HVT_ORC_FAULT || kv->vector != HVT_VEC_PF ||
         !(kv->error_code & HVT_PFEC_RSVD))) {
        *dev = KDEV_RSVD_MAXPHYADDR;
        return 2; /* KVM went on past the entry: nothing after it is comparable */
    }
    if (ref->status == HVT_ORC_FAULT && ref->vector == HVT_VEC_UD &&
        !HVT_CPU_HAS(cpu, HVT_CPUF_CX16) && strstr(hvt_orc_form_name(c->form), "cmpxchg16b") &&
        !(kv->status == HVT_ORC_FAULT && kv->vector == HVT_VEC_UD)) {
        *dev = KDEV_CX16_UNCHECKED;
        return 2;
    }
    if (ref->status == HVT_ORC_FAULT && kv->status == HVT_ORC_FAULT &&
        ((ref->vector == HVT_VEC_SS && kv->vector == HVT_VEC_GP) ||
         (ref->vector == HVT_VEC_GP && kv->vector == HVT_VEC_SS))) {
        for (unsigned i = 0; i < c->insn_len && i < 4; i++)
            if (c->insn[i] == 0x26 || c->insn[i] == 0x2e || c->insn[i] == 0x36 ||
                c->insn[i] == 0x3e) {
                applied = KDEV_SEG_OVR_64;
                break;
            }
    }
    if (ref->status == HVT_ORC_FAULT && kv->status == HVT_ORC_FAULT && ref->vector == HVT_VEC_PF &&
        kv->vector == HVT_VEC_PF && ref->cr2 != kv->cr2 &&
        strstr(hvt_orc_form_name(c->form), "cmps")) {
        /* one reports the operand at RSI, the other the one at RDI (either way round) */
        /* in 64-bit mode only an FS or GS override adds a base (to the source) */
        uint64_t base = 0;
        for (unsigned i = 0; i < c->insn_len && i < 4; i++)
            if (c->insn[i] == 0x64 || c->insn[i] == 0x65)
                base = c->st.seg[c->insn[i] == 0x64 ? HVT_SEG_FS : HVT_SEG_GS].base;
        uint64_t si = base + kv->st.gpr[HVT_RSI], di = kv->st.gpr[HVT_RDI];
        int k_si = near_operand(kv->cr2, si), k_di = near_operand(kv->cr2, di);
        int r_si = near_operand(ref->cr2, si), r_di = near_operand(ref->cr2, di);
        if ((k_si && r_di) || (k_di && r_si))
            applied = KDEV_CMPS_FAULT_ORDER;
    }
    if (ref->status == HVT_ORC_FAULT && kv->status == HVT_ORC_FAULT &&
        strstr(hvt_orc_form_name(c->form), "ins") && kv->io_n > ref->io_n) {
        /* KVM read ports for iterations whose memory writes then faulted, and its committed
         * progress is what it was before them: the registers are not comparable either */
        int all_in = 1;
        for (unsigned i = 0; i < kv->io_n && i < HVT_ORC_IO_LOG; i++)
            all_in &= !kv->io[i].out;
        if (all_in)
            applied = KDEV_INS_BEFORE_FAULT;
    }
    if (applied == KDEV_SEG_OVR_64 || applied == KDEV_CMPS_FAULT_ORDER ||
        applied == KDEV_INS_BEFORE_FAULT) {
        /* the rest is the other fault's: nothing after it compares */
        *dev = applied;
        return 2;
    }
    if (ref->status != kv->status) {
        say(&o, "outcome: core %s %u%s%s; kvm %s %u\n", status_name(ref->status), ref->vector,
            ref->detail[0] ? ": " : "", ref->detail, status_name(kv->status), kv->vector);
    } else if (ref->status == HVT_ORC_FAULT && ref->vector == HVT_VEC_PF &&
               kv->vector == HVT_VEC_PF && ref->cr2 != kv->cr2 && (kv->cr2 & 0xfff) == 0 &&
               kv->cr2 > ref->cr2 && kv->cr2 - ref->cr2 < 32 && kv->error_code != ref->error_code) {
        applied = KDEV_SPLIT_FAULT_ORDER;
    } else if (ref->status == HVT_ORC_FAULT) {
        if (ref->vector != kv->vector)
            say(&o, "vector: core %u; kvm %u\n", ref->vector, kv->vector);
        else if (ref->has_ec && kv->has_ec && ref->error_code != kv->error_code)
            say(&o, "error code: core %#x; kvm %#x\n", ref->error_code, kv->error_code);
        if (ref->vector == HVT_VEC_PF && ref->cr2 != kv->cr2)
            say(&o, "cr2: core %#llx; kvm %#llx\n", (unsigned long long)ref->cr2,
                (unsigned long long)kv->cr2);
    }
    for (unsigned i = 0; i < 16; i++)
        if (ref->st.gpr[i] != kv->st.gpr[i])
            say(&o, "%s: core %#llx; kvm %#llx (before %#llx)\n", gpr_names[i],
                (unsigned long long)ref->st.gpr[i], (unsigned long long)kv->st.gpr[i],
                (unsigned long long)c->st.gpr[i]);
    if (ref->st.rip != kv->st.rip)
        say(&o, "rip: core %#llx; kvm %#llx (before %#llx)\n", (unsigned long long)ref->st.rip,
            (unsigned long long)kv->st.rip, (unsigned long long)c->st.rip);
    uint64_t fm = 0x3f7fd7ull & ~(ref->status == HVT_ORC_DONE ? c->flags_undef : 0);
    uint64_t fx = (ref->st.rflags ^ kv->st.rflags) & fm;
    const char *fname = hvt_orc_form_name(c->form);
    if (fx == HVT_RFLAGS_RF && ref->status == HVT_ORC_FAULT && (kv->st.rflags & HVT_RFLAGS_RF))
        applied = KDEV_RF_ON_FAULT; /* the frame of a fault has RF set: the CPU does that */
    else if (fx && both_fault_flags(ref, kv) && fname && !strncmp(fname, "rep", 3) &&
             (strstr(fname, "cmps") || strstr(fname, "scas")) &&
             ((kv->st.rflags ^ c->st.rflags) & fm & ~HVT_RFLAGS_RF) == 0 &&
             takes_choice(cpu, HVT_CPUC_REP_CMPS_FAULT_FLAGS, 1))
        applied = KDEV_REP_CMPS_FLAGS;
    else if (fx)
        say(&o, "rflags: core %#llx; kvm %#llx (before %#llx)\n",
            (unsigned long long)ref->st.rflags, (unsigned long long)kv->st.rflags,
            (unsigned long long)c->st.rflags);
    int simd = !!(c->st.flags & HVT_STATE_SIMD_VALID);
    if (simd)
        for (unsigned i = 0; i < 16; i++)
            if (memcmp(ref->st.ymm[i], kv->st.ymm[i], 16)) {
                applied = KDEV_XMM_STATE;
                break;
            }
    int both_fault = ref->status == HVT_ORC_FAULT && kv->status == HVT_ORC_FAULT;
    if (ref->io_n != kv->io_n) {
        say(&o, "port accesses: core %u; kvm %u\n", ref->io_n, kv->io_n);
    } else {
        for (unsigned i = 0; i < ref->io_n && i < HVT_ORC_IO_LOG; i++) {
            const struct hvt_orc_io *p = &ref->io[i], *q = &kv->io[i];
            if (p->port != q->port || p->size != q->size || p->out != q->out ||
                p->value != q->value) {
                say(&o, "port access %u: core %s %#x/%u = %#x; kvm %s %#x/%u = %#x\n", i,
                    p->out ? "out" : "in", p->port, p->size, p->value, q->out ? "out" : "in",
                    q->port, q->size, q->value);
                break;
            }
        }
    }
    unsigned shown = 0;
    for (uint64_t i = 0; i < HVT_ORC_RAM_SIZE; i += 8) {
        if (in_stub(stub_pa, i) || !memcmp(ref->ram + i, kv->ram + i, 8))
            continue;
        uint64_t x = get64(ref->ram + i), y = get64(kv->ram + i);
        uint64_t w = get64(c->ram + i), ad = HVT_PTE_A | HVT_PTE_D;
        if (both_fault && ref->vector == HVT_VEC_PF && (x ^ y) == HVT_PTE_A && (y & HVT_PTE_A) &&
            (x & HVT_PTE_P)) {
            if (!applied)
                applied = KDEV_AD_ON_FAULT; /* a present entry the faulting walk used */
            continue;
        }
        if ((x & HVT_PTE_P) && !((x ^ y) & ~ad) && !(y & ~x) && (y & ~ad) == (w & ~ad)) {
            if (!applied)
                applied = KDEV_AD_NOT_SET;
            continue;
        }
        int untouched = 1; /* every byte KVM has otherwise is one the core left as it was */
        for (unsigned b = 0; b < 8; b++)
            if (ref->ram[i + b] != kv->ram[i + b] && ref->ram[i + b] != c->ram[i + b])
                untouched = 0;
        if (both_fault && kv->vector == HVT_VEC_PF && !(kv->cr2 & 0xfff) &&
            (i & 0xfff) >= 0x1000 - 32 && untouched) {
            if (!applied)
                applied = KDEV_SPLIT_STORE_PARTIAL;
            continue;
        }
        if (simd && x != w) {
            applied = KDEV_XMM_STATE;
            continue;
        }
        if (shown++ < 6)
            say(&o, "memory %#llx: core %#018llx; kvm %#018llx (before %#018llx)\n",
                (unsigned long long)i, (unsigned long long)get64(ref->ram + i),
                (unsigned long long)get64(kv->ram + i), (unsigned long long)get64(c->ram + i));
        else
            o.n++;
    }
    if (o.n)
        return 1;
    if (applied) {
        *dev = applied;
        return 2;
    }
    return 0;
}

static int check_open(struct kcheck *k, char *err, size_t len)
{
    char cerr[128];
    int rc = hvt_kvm_vm_open(&k->vm, HVT_ORC_RAM_SIZE, err, len);
    if (rc < 0)
        return rc;
    if (strcmp(k->vm.module, "kvm_pvm") && !getenv("HVT_KVM_CHECK_ANY")) {
        /* with VMX/SVM, ring-0 code runs on the CPU, not through KVM's emulator: the cases
         * would test the CPU. An MMIO-operand variant is what those hosts need. */
        snprintf(err, len,
                 "module %s runs guest ring 0 in hardware; check-kvm needs kvm_pvm, whose "
                 "emulator runs every ring-0 instruction",
                 k->vm.module[0] ? k->vm.module : "unknown");
        return -HVT_E_UNSUPPORTED;
    }
    rc = hvt_kvm_vcpu_open(&k->vm, &k->v, 0, err, len);
    if (rc < 0)
        return rc;
    if (hvt_kvm_vcpu_singlestep(&k->v, 1) < 0) {
        snprintf(err, len, "KVM_SET_GUEST_DEBUG (single-step): %s", strerror(errno));
        return -HVT_E_UNSUPPORTED;
    }
    hvt_kvm_vm_cpu_profile(&k->vm, &k->cpu);
    rc = hvt_core_open(&k->core, HVT_CORE_REF, cerr, sizeof(cerr));
    if (rc == 0)
        rc = hvt_orc_core_follow(k->core, &k->cpu);
    return rc;
}

int hvt_kvm_check(uint64_t seed, uint64_t cases, int verbose, FILE *out)
{
    struct kcheck *k = calloc(1, sizeof(*k));
    struct hvt_orc_case c;
    struct hvt_orc_result ref, kv;
    struct hvt_orc_filter f;
    char err[256] = "", diff[2048], desc[256];
    uint64_t shown = 0, i = 0;
    int rc;

    if (!k)
        return -HVT_E_NOMEM;
    if (!out)
        out = stdout;
    memset(&c, 0, sizeof(c));
    memset(&ref, 0, sizeof(ref));
    memset(&kv, 0, sizeof(kv));
    k->vm.kvm_fd = k->vm.vm_fd = -1;
    rc = check_open(k, err, sizeof(err));
    if (rc == 0 && (hvt_orc_case_init(&c) || hvt_orc_result_init(&ref) || hvt_orc_result_init(&kv)))
        rc = -HVT_E_NOMEM;
    if (rc < 0) {
        if (err[0])
            fprintf(stderr, "hvtrace: check-kvm: %s\n", err);
        goto done;
    }
    hvt_orc_filter_init(&f);
    f.bits = 64;
    f.paging = HVT_ORC_PG_4L;
    f.cpu = &k->cpu;
    fprintf(out, "kvm: %s on %s; cpu %s\n", k->vm.module, k->vm.release, k->cpu.name);
    /* CPL 3 cases run natively on kvm_pvm (guest user mode is not emulated): skipped, and
     * more cases drawn until CASES ran */
    while (k->cases < cases && i < cases * 8 + 100) {
        uint64_t cs = hvt_orc_case_seed(seed, i++);
        unsigned dev = 0;
        if (hvt_orc_gen(&c, cs, &f) < 0) {
            rc = -HVT_E_INVALID;
            goto done;
        }
        if (c.cpl != 0) {
            k->skipped_cpl3++;
            continue;
        }
        if (hvt_cpu_profile_check_state(&k->cpu, &c.st, NULL, 0)) {
            k->skipped_cpu++; /* e.g. CR4.SMEP where KVM's CPUID has no SMEP */
            continue;
        }
        hvt_orc_run_core(k->core, &c, &ref);
        if (ref.status == HVT_ORC_UNIMPLEMENTED || ref.status == HVT_ORC_HARNESS) {
            k->harness++;
            continue;
        }
        rc = run_kvm(k, &c, &ref, &kv);
        if (rc < 0)
            goto done;
        k->cases++;
        if (ref.status == HVT_ORC_UNHANDLEABLE && strstr(ref.detail, "locked access split")) {
            k->excluded[KDEV_CORE_SPLIT_LOCK]++;
            continue;
        }
        if (rc == 1) {
            k->excluded[KDEV_UNEMULATED]++;
            k->unemulated_by_form[c.form & 255]++;
            continue;
        }
        if (rc == 2) {
            int cmp_rc = 0;
            (void)cmp_rc;
            k->mismatches++;
            hvt_orc_case_describe(&c, desc, sizeof(desc));
            if (verbose || shown++ < 5)
                fprintf(out, "mismatch: case seed %#" PRIx64 ": %s\n    harness: %s\n", c.seed,
                        desc, kv.detail);
            continue;
        }
        int cr = hvt_kvm_compare(&k->cpu, k->stub_pa, &c, &ref, &kv, diff, sizeof(diff), &dev);
        if (cr == 2) {
            k->excluded[dev]++;
        } else if (cr == 1) {
            k->mismatches++;
            if (verbose || shown++ < 5) {
                const char *p = diff;
                hvt_orc_case_describe(&c, desc, sizeof(desc));
                fprintf(out, "mismatch: case seed %#" PRIx64 ": %s\n", c.seed, desc);
                if (verbose)
                    hvt_orc_case_dump(&c, out);
                while (*p) {
                    const char *e = strchr(p, '\n');
                    int n = e ? (int)(e - p) : (int)strlen(p);
                    fprintf(out, "    %.*s\n", n, p);
                    p += n + (e ? 1 : 0);
                }
                fprintf(out, "    reproduce: hvtrace check-kvm --seed %#" PRIx64 " --cases 1\n",
                        c.seed);
            }
        }
    }
    if (!verbose && shown > 5)
        fprintf(out, "... %" PRIu64 " more mismatches (--verbose shows all)\n", shown - 5);
    uint64_t ex = 0;
    for (unsigned d = 1; d < KDEV__COUNT; d++)
        ex += k->excluded[d];
    if (ex) {
        fprintf(out, "%" PRIu64 " cases excluded as known KVM deviations:", ex);
        for (unsigned d = 1; d < KDEV__COUNT; d++)
            if (k->excluded[d])
                fprintf(out, " %s=%" PRIu64, hvt_kvm_dev_names[d], k->excluded[d]);
        fprintf(out, "\n");
        if (k->excluded[KDEV_UNEMULATED]) {
            fprintf(out, "  not emulated by KVM:");
            for (unsigned fm = 0; fm < 256 && fm < hvt_orc_form_count(); fm++)
                if (k->unemulated_by_form[fm])
                    fprintf(out, " '%s'=%" PRIu64, hvt_orc_form_name(fm),
                            k->unemulated_by_form[fm]);
            fprintf(out, "\n");
        }
    }
    if (k->skipped_cpl3 || k->skipped_cpu || k->harness)
        fprintf(out,
                "skipped: %" PRIu64 " CPL-3 cases (not emulated by KVM), %" PRIu64
                " whose state KVM's CPUID forbids, %" PRIu64 " the core could not run\n",
                k->skipped_cpl3, k->skipped_cpu, k->harness);
    fprintf(out, "%" PRIu64 " cases, %" PRIu64 " mismatches\n", k->cases, k->mismatches);
    rc = (int)(k->mismatches > 0x7fffffff ? 0x7fffffff : k->mismatches);
done:
    hvt_orc_case_fini(&c);
    hvt_orc_result_fini(&ref);
    hvt_orc_result_fini(&kv);
    hvt_core_close(k->core);
    hvt_kvm_vcpu_close(&k->v);
    hvt_kvm_vm_close(&k->vm);
    free(k);
    return rc;
}
