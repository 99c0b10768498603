/* SPDX-License-Identifier: MIT */
/* KVM host: the scenarios on KVM: vCPU threads, events and passes at device exits, the device
 * model with delays, the agent vCPU, the trace header. */
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "common/sized.h"
#include "hvtrace/version.h"
#include "kvm_int.h"

extern const uint8_t hvt_kvm_guest_agent[], hvt_kvm_guest_agent_end[];
extern const uint8_t hvt_kvm_guest_mixed[], hvt_kvm_guest_mixed_end[];

static const struct kvm_scenario scenarios[] = {
    {"clean", "MMIO, port and RAM work on every vCPU, no racing writer: no divergence", "clean", 0,
     0, 400},
    {"pageout",
     "REP OUTSB/MOVSB from a RAM buffer to a device while the agent vCPU remaps the buffer "
     "between two iterations' exits",
     "pageout", 0, KAG_PAGEOUT, 200},
    {"cmps",
     "CMPSQ with both operands at one device register that the agent vCPU writes "
     "between the two reads",
     "cmps", 0, KAG_CMPS, 100},
    {"mixed", "the clean workload with pageout REPs and CMPSQ at low rates, both agents", "pageout",
     1, KAG_PAGEOUT | KAG_CMPS, 2000},
};
#define N_SCEN (sizeof(scenarios) / sizeof(scenarios[0]))

size_t hvt_kvm_scenario_count(void)
{
    return N_SCEN;
}

const char *hvt_kvm_scenario_name(size_t i)
{
    return i < N_SCEN ? scenarios[i].name : NULL;
}

const char *hvt_kvm_scenario_summary(size_t i)
{
    return i < N_SCEN ? scenarios[i].summary : NULL;
}

void hvt_kvm_options_init(struct hvt_kvm_options *o)
{
    memset(o, 0, sizeof(*o));
    o->size = sizeof(*o);
    o->seed = 1;
}

static void set_err(char *err, size_t len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void set_err(char *err, size_t len, const char *fmt, ...)
{
    va_list ap;
    if (!err || !len)
        return;
    va_start(ap, fmt);
    vsnprintf(err, len, fmt, ap);
    va_end(ap);
}

void hvt_kvm_fail(struct kvm_host *k, int err, const char *fmt, ...)
{
    va_list ap;
    pthread_mutex_lock(&k->lock);
    if (!k->err) {
        va_start(ap, fmt);
        vsnprintf(k->errmsg, sizeof(k->errmsg), fmt, ap);
        va_end(ap);
        /* other vCPU threads poll it without the lock */
        __atomic_store_n(&k->err, err < 0 ? err : -HVT_E_INTERNAL, __ATOMIC_RELEASE);
    }
    pthread_mutex_unlock(&k->lock);
    __atomic_store_n(&k->stop, 1, __ATOMIC_RELEASE);
}

int hvt_kvm_probe(char *why, size_t len)
{
    struct kvm_vm vm;
    int rc = hvt_kvm_vm_open(&vm, 2u << 20, why, len);
    hvt_kvm_vm_close(&vm);
    return rc < 0 ? -HVT_E_UNSUPPORTED : 0;
}

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint64_t rnd(struct kvcpu *c)
{
    uint64_t z = (c->rng += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* ---- the agent vCPU ----------------------------------------------------------------------- */

static void mb_put32(struct kvm_host *k, unsigned off, uint32_t v)
{
    __atomic_store_n((uint32_t *)(void *)(k->vm.ram + KVM_GPA_MAILBOX + off), v, __ATOMIC_RELEASE);
}

static void mb_put64(struct kvm_host *k, unsigned off, uint64_t v)
{
    __atomic_store_n((uint64_t *)(void *)(k->vm.ram + KVM_GPA_MAILBOX + off), v, __ATOMIC_RELEASE);
}

static uint32_t mb_get32(struct kvm_host *k, unsigned off)
{
    return __atomic_load_n((uint32_t *)(void *)(k->vm.ram + KVM_GPA_MAILBOX + off),
                           __ATOMIC_ACQUIRE);
}

/* Asks the agent vCPU to store VALUE at ADDR and waits until it did (the device model's delay
 * of the exit that asked). Returns 0, or -HVT_E_INTERNAL when the agent does not answer. */
static int agent_request(struct kvm_host *k, uint32_t kind, uint64_t addr, uint64_t value)
{
    uint64_t t0 = now_ns();
    int rc = 0;
    pthread_mutex_lock(&k->agent_lock);
    uint32_t seq = ++k->agent_seq;
    mb_put32(k, KVM_MB_KIND, kind);
    mb_put64(k, KVM_MB_VALUE, value);
    mb_put64(k, KVM_MB_ADDR, addr);
    mb_put32(k, KVM_MB_REQ, seq);
    while (mb_get32(k, KVM_MB_ACK) != seq) {
        if (now_ns() - t0 > 2000000000ull) {
            rc = -HVT_E_INTERNAL;
            break;
        }
        if (__atomic_load_n(&k->err, __ATOMIC_ACQUIRE))
            break;
        sched_yield(); /* the agent vCPU's thread may need this CPU */
    }
    pthread_mutex_unlock(&k->agent_lock);
    return rc;
}

/* ---- events and passes -------------------------------------------------------------------- */

static uint64_t rep_iterations(const struct hvt_vcpu_state *p, const struct hvt_vcpu_state *s)
{
    return p->gpr[HVT_RCX] > s->gpr[HVT_RCX] ? p->gpr[HVT_RCX] - s->gpr[HVT_RCX] : 0;
}

static void note_mismatch(struct kvcpu *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void note_mismatch(struct kvcpu *c, const char *fmt, ...)
{
    va_list ap;
    c->n_mismatch++;
    if (c->first_mismatch[0])
        return;
    va_start(ap, fmt);
    vsnprintf(c->first_mismatch, sizeof(c->first_mismatch), fmt, ap);
    va_end(ap);
}

enum exit_kind { EX_READ, EX_WRITE, EX_STEP };

static void event_begin(struct kvcpu *c, const struct hvt_vcpu_state *pre)
{
    uint8_t insn[HVT_INSN_MAX];
    unsigned len = 0;
    struct hvt_core_result res;
    struct hvt_vcpu_state e;
    c->in_event = 1;
    c->ev_rip = pre->rip;
    c->P = *pre;
    c->pass = 0;
    c->n_ans = 0;
    c->n_events++;
    /* the instruction bytes, as the core decodes them from guest memory */
    c->obs_valid = 0;
    if (hvt_kvm_shadow(c, pre, &e, &res, 0) == 0 && res.insn_len) {
        len = res.insn_len;
        memcpy(insn, res.insn, len);
    }
    if (c->k->rec)
        hvt_rec_event_begin(c->k->rec, c->id, pre, len ? insn : NULL, len);
}

static void event_end(struct kvcpu *c)
{
    c->in_event = 0;
    if (c->k->rec)
        hvt_rec_event_end(c->k->rec, c->id);
    if (!c->agent)
        __atomic_add_fetch(&c->k->events_done, 1, __ATOMIC_ACQ_REL);
}

/* One pass: the shadow run from P, recorded, compared with KVM's exit state S. */
static void do_pass(struct kvcpu *c, enum exit_kind ex)
{
    struct hvt_vcpu_state e;
    struct hvt_core_result res;
    struct hvt_pass_outcome out;
    int at_insn = c->S.rip == c->ev_rip;

    if (c->k->rec)
        hvt_rec_pass_begin(c->k->rec, c->id);
    c->obs_valid = ex != EX_STEP;
    hvt_kvm_shadow(c, &c->P, &e, &res, 1);
    c->n_passes++;
    /* KVM's outcome: a read waits for the device; a REP still at its instruction committed
     * iterations and stops where the next one needs the device (or, after the last one, at
     * the REP with count 0); otherwise the instruction is done */
    memset(&out, 0, sizeof(out));
    if (ex == EX_READ || at_insn) {
        out.kind = HVT_OUT_RETRY;
        out.retry_cause = res.out.kind == HVT_OUT_RETRY ? res.out.retry_cause
                          : ex == EX_STEP               ? HVT_RETRY_REP_PARTIAL
                          : c->obs.port                 ? HVT_RETRY_PIO
                                                        : HVT_RETRY_MMIO;
    } else {
        out.kind = HVT_OUT_OKAY;
    }
    out.iterations =
        res.out.kind == out.kind ? res.out.iterations : (uint32_t)rep_iterations(&c->P, &c->S);

    /* the shadow against KVM */
    if (c->obs_valid && !c->obs_matched) {
        note_mismatch(c, "vcpu %u rip %#llx: KVM's %s of %u bytes at %#llx is not the core's",
                      c->id, (unsigned long long)c->ev_rip, c->obs.write ? "write" : "read",
                      c->obs.size, (unsigned long long)c->obs.addr);
    } else if (c->shadow_extra) {
        note_mismatch(c, "vcpu %u rip %#llx: the core made a device access KVM did not", c->id,
                      (unsigned long long)c->ev_rip);
    } else if (!memcmp(e.gpr, c->S.gpr, sizeof(e.gpr)) && e.rip == c->S.rip &&
               e.rflags == c->S.rflags) {
        c->n_ok++;
    } else if (!memcmp(e.gpr, c->S.gpr, sizeof(e.gpr)) && e.rip == c->S.rip &&
               ((e.rflags ^ c->S.rflags) & ~HVT_RFLAGS_RF) == 0) {
        c->n_named++;
        c->n_rep_rf++; /* KVM's mid-REP exit state has RF set, as an interrupted REP's has */
    } else if (!memcmp(e.gpr, c->S.gpr, sizeof(e.gpr)) && at_insn && c->S.gpr[HVT_RCX] == 0 &&
               res.out.kind == HVT_OUT_OKAY && e.rip == c->ev_rip + res.insn_len) {
        c->n_named++;
        c->n_rep_last++; /* the last iteration's exit: KVM is still at the REP, count 0 */
    } else {
        note_mismatch(c,
                      "vcpu %u rip %#llx pass %u: the core ends at rip %#llx (%s), KVM at "
                      "%#llx",
                      c->id, (unsigned long long)c->ev_rip, c->pass, (unsigned long long)e.rip,
                      hvt_outcome_name(res.out.kind), (unsigned long long)c->S.rip);
    }
    if (c->k->rec)
        hvt_rec_pass_end(c->k->rec, c->id, &out, &c->S);
    /* committed progress consumed the answers it used; the next pass starts where KVM is */
    if (memcmp(c->P.gpr, c->S.gpr, sizeof(c->S.gpr)) || c->P.rip != c->S.rip)
        c->n_ans = 0;
    c->P = c->S;
    c->pass++;
}

/* The device model: a read is answered after a seeded delay, a write takes effect. A string
 * I/O exit of COUNT elements (VMX/SVM batch them; kvm_pvm does not) gets the answer in each. */
static void serve(struct kvcpu *c, struct kvm_run *run)
{
    struct ioreq rq;
    uint64_t delay = rnd(c) % 4000, t0 = now_ns();
    uint32_t count = c->obs.port && run->io.count > 1 ? run->io.count : 1;
    memset(&rq, 0, sizeof(rq));
    rq.type = c->obs.port ? IOREQ_PIO : IOREQ_MMIO;
    rq.dir = c->obs.write ? IOREQ_WRITE : IOREQ_READ;
    rq.size = c->obs.size;
    rq.addr = c->obs.addr;
    rq.count = 1;
    memcpy(rq.data, c->obs.data, c->obs.size);
    if (c->k->kernel) {
        hvt_kvm_kernel_serve(c, run, rq.data);
        delay = 0;
    } else if (rq.type == IOREQ_MMIO && !hvt_host_in_mmio(rq.addr, rq.size)) {
        memset(rq.data, 0xff, sizeof(rq.data)); /* nothing there: reads all ones */
    } else if (rq.type == IOREQ_PIO && (rq.addr < PORT_LO || rq.addr >= PORT_HI)) {
        memset(rq.data, 0xff, sizeof(rq.data));
    } else {
        hvt_host_device_complete(c->k->sim, &rq);
    }
    if (!c->obs.write) {
        while (now_ns() - t0 < delay)
            ;
        if (c->obs.port) {
            for (uint32_t i = 0; i < count; i++)
                memcpy((uint8_t *)run + run->io.data_offset + i * run->io.size, rq.data,
                       c->obs.size);
        } else {
            memcpy(run->mmio.data, rq.data, c->obs.size);
        }
        if (c->n_ans < KVM_ANS_MAX) {
            c->ans[c->n_ans] = c->obs;
            memcpy(c->ans[c->n_ans].data, rq.data, c->obs.size);
            c->n_ans++;
        }
    }
}

/* Which agent action this exit asks for (the scenario's agents, one eligible exit in two). */
static void maybe_agent(struct kvcpu *c, enum exit_kind ex)
{
    struct kvm_host *k = c->k;
    unsigned ag = k->sc->agents;
    int rc = 0;
    if (k->kernel || k->agent_vcpu == UINT32_MAX || c->agent || (rnd(c) & 1))
        return;
    if ((ag & KAG_PAGEOUT) && ex == EX_WRITE && c->S.rip == c->ev_rip &&
        (c->obs.port
             ? c->obs.addr == PORT_PAGEOUT
             : c->obs.addr >= MMIO_GPA(MMIO_SINK) && c->obs.addr < MMIO_GPA(MMIO_SINK + 1))) {
        /* the guest OS pages the buffer out and in elsewhere: its leaf PTE gets another frame */
        pthread_mutex_lock(&k->lock);
        unsigned f = k->po_frame = (k->po_frame + 1) % N_FRAMES;
        pthread_mutex_unlock(&k->lock);
        rc = agent_request(k, KVM_AGENT_STORE, k->sim->po_pt,
                           (GPA_FRAMES + f * 0x1000ull) | PTE_P | PTE_RW | PTE_A | PTE_D);
    } else if ((ag & KAG_CMPS) && ex == EX_READ && c->pass == 1 && !c->obs.port &&
               c->obs.addr == MMIO_GPA(MMIO_CMPS)) {
        rc = agent_request(k, KVM_AGENT_STORE, MMIO_GPA(MMIO_CMPS), rnd(c));
    } else {
        return;
    }
    if (rc < 0)
        hvt_kvm_fail(k, rc, "the agent vCPU did not answer within 2 s");
    else
        c->n_agent++;
}

/* Handles one exit. Returns 1 to go on, 0 when the vCPU is done, -1 on error. */
static int handle_exit(struct kvcpu *c)
{
    struct kvm_run *run = c->kv.run;
    enum exit_kind ex;
    c->n_exits++;
    if (run->exit_reason == KVM_EXIT_INTR) {
        if (getenv("HVT_KVM_DEBUG")) {
            hvt_kvm_vcpu_get_state(&c->kv, &c->S);
            fprintf(stderr, "vcpu %u interrupted at rip %#llx\n", c->id,
                    (unsigned long long)c->S.rip);
        }
        return 1;
    }
    hvt_kvm_vcpu_get_state(&c->kv, &c->S);
    c->S.flags = 0;
    switch (run->exit_reason) {
    case KVM_EXIT_MMIO:
        c->n_mmio++;
        memset(&c->obs, 0, sizeof(c->obs));
        c->obs.port = 0;
        c->obs.write = run->mmio.is_write;
        c->obs.addr = run->mmio.phys_addr;
        c->obs.size = run->mmio.len > 8 ? 8 : run->mmio.len;
        if (c->obs.write)
            memcpy(c->obs.data, run->mmio.data, c->obs.size);
        break;
    case KVM_EXIT_IO:
        if (c->agent && run->io.port == KVM_AGENT_STOP_PORT)
            return 0;
        c->n_pio++;
        memset(&c->obs, 0, sizeof(c->obs));
        c->obs.port = 1;
        c->obs.write = run->io.direction == KVM_EXIT_IO_OUT;
        c->obs.addr = run->io.port;
        c->obs.size = run->io.size > 8 ? 8 : run->io.size;
        if (c->obs.write)
            memcpy(c->obs.data, (uint8_t *)run + run->io.data_offset, c->obs.size);
        break;
    case KVM_EXIT_DEBUG:
        c->n_debug++;
        if (c->in_event) {
            do_pass(c, EX_STEP);
            if (c->S.rip != c->ev_rip)
                event_end(c);
        }
        c->B = c->S;
        c->have_b = 1;
        return 1;
    case KVM_EXIT_HLT:
        if (c->agent)
            return 0;
        if (c->k->kernel)
            return 0; /* no interrupt controller to wake it: the boot ends here */
        hvt_kvm_fail(c->k, -HVT_E_INTERNAL, "vCPU %u: HLT at rip %#llx", c->id,
                     (unsigned long long)c->S.rip);
        return -1;
    case KVM_EXIT_SHUTDOWN:
    case KVM_EXIT_SYSTEM_EVENT:
        if (c->k->kernel)
            return 0; /* panic=-1 reboot=t: the kernel gave up or rebooted */
        /* fall through */
    default:
        hvt_kvm_fail(c->k, -HVT_E_INTERNAL, "vCPU %u: unexpected %s exit (%u) at rip %#llx", c->id,
                     hvt_kvm_exit_name(run->exit_reason), run->exit_reason,
                     (unsigned long long)c->S.rip);
        return -1;
    }
    ex = c->obs.write ? EX_WRITE : EX_READ;
    if (c->k->plain) {
        /* the baseline: a VMM that serves the exit and nothing else */
        serve(c, run);
        if (!c->agent)
            __atomic_add_fetch(&c->k->events_done, 1, __ATOMIC_ACQ_REL);
        return 1;
    }
    if (!c->in_event) {
        struct hvt_vcpu_state pre;
        if (ex == EX_READ) {
            pre = c->S;
        } else if (c->k->lockstep && c->have_b) {
            pre = c->B;
        } else if (hvt_kvm_reconstruct(c, &pre)) {
            c->n_recon++;
        } else {
            /* nothing explains the exit: the event starts from the state after it */
            c->n_unrecon++;
            pre = c->S;
        }
        event_begin(c, &pre);
    }
    do_pass(c, ex);
    serve(c, run);
    maybe_agent(c, ex);
    if (ex == EX_WRITE && c->S.rip != c->ev_rip) {
        event_end(c);
        c->B = c->S; /* a write exit ends its instruction: the next one starts here */
        c->have_b = 1;
    }
    return 1;
}

static void *vcpu_thread(void *arg)
{
    struct kvcpu *c = arg;
    struct kvm_host *k = c->k;
    for (;;) {
        int stopping =
            __atomic_load_n(&k->stop, __ATOMIC_ACQUIRE) ||
            (!c->agent && __atomic_load_n(&k->events_done, __ATOMIC_ACQUIRE) >= k->budget);
        if (stopping && !c->in_event && !c->agent)
            break;
        if (k->kernel && (stopping || now_ns() >= k->deadline_ns))
            break; /* a running kernel is stopped where it is; an open event is abandoned */
        if (__atomic_load_n(&k->err, __ATOMIC_ACQUIRE))
            break;
        if (hvt_kvm_vcpu_singlestep(&c->kv, !k->plain && (k->lockstep || c->in_event)) < 0 ||
            hvt_kvm_vcpu_run(&c->kv) < 0) {
            hvt_kvm_fail(k, -HVT_E_IO, "vCPU %u: KVM_RUN: %s", c->id, strerror(errno));
            break;
        }
        int rc = handle_exit(c);
        if (rc <= 0)
            break;
    }
    return NULL;
}

/* ---- set-up -------------------------------------------------------------------------------- */

static const struct kvm_scenario *find_scenario(const char *name)
{
    for (size_t i = 0; name && i < N_SCEN; i++)
        if (!strcmp(scenarios[i].name, name))
            return &scenarios[i];
    return NULL;
}

static void kvm_host_free(struct kvm_host *k)
{
    if (!k)
        return;
    for (uint32_t i = 0; k->v && i < k->n; i++) {
        hvt_kvm_vcpu_close(&k->v[i].kv);
        hvt_core_close(k->v[i].core);
    }
    free(k->v);
    hvt_host_destroy(k->sim);
    hvt_kvm_vm_close(&k->vm);
    pthread_mutex_destroy(&k->lock);
    pthread_mutex_destroy(&k->agent_lock);
    free(k);
}

static int kvm_host_create(struct kvm_host **out, const struct hvt_kvm_options *o,
                           struct hvt_cpu_profile *cpu, char *err, size_t len)
{
    struct hvt_host_options ho;
    struct kvm_host *k;
    int rc;

    *out = NULL;
    k = calloc(1, sizeof(*k));
    if (!k)
        return -HVT_E_NOMEM;
    pthread_mutex_init(&k->lock, NULL);
    pthread_mutex_init(&k->agent_lock, NULL);
    k->vm.kvm_fd = k->vm.vm_fd = -1;
    k->sc = find_scenario(o->scenario);
    k->n = o->vcpus ? o->vcpus : 2;
    k->lockstep = !!(o->flags & HVT_KVM_LOCKSTEP);
    k->budget = o->events ? o->events : k->sc->events;
    k->agent_vcpu = k->sc->agents ? k->n - 1 : UINT32_MAX;
    rc = hvt_kvm_vm_open(&k->vm, 8u << 20, err, len);
    if (rc < 0) {
        kvm_host_free(k);
        return rc;
    }
    hvt_kvm_vm_cpu_profile(&k->vm, cpu);
    /* the simulated host builds the world: page tables, guest program, device registers */
    hvt_host_options_init(&ho);
    ho.scenario = k->sc->sim;
    ho.vcpus = k->n;
    ho.seed = o->seed;
    ho.ram_bytes = k->vm.ram_bytes;
    rc = hvt_host_create(&k->sim, &ho, err, len);
    if (rc < 0) {
        kvm_host_free(k);
        return rc;
    }
    memcpy(k->vm.ram, k->sim->ram, k->vm.ram_bytes);
    if (k->sc->own_guest)
        memcpy(k->vm.ram + GPA_CODE, hvt_kvm_guest_mixed,
               (size_t)(hvt_kvm_guest_mixed_end - hvt_kvm_guest_mixed));
    memcpy(k->vm.ram + KVM_GPA_AGENT_CODE, hvt_kvm_guest_agent,
           (size_t)(hvt_kvm_guest_agent_end - hvt_kvm_guest_agent));
    memset(k->vm.ram + KVM_GPA_MAILBOX, 0, 0x1000);
    k->v = calloc(k->n, sizeof(*k->v));
    if (!k->v) {
        kvm_host_free(k);
        return -HVT_E_NOMEM;
    }
    for (uint32_t i = 0; i < k->n; i++) {
        struct kvcpu *c = &k->v[i];
        char cerr[128];
        c->k = k;
        c->id = i;
        c->rng = o->seed ^ (0x5851f42d4c957f2dull * (i + 1));
        c->agent = i == k->agent_vcpu;
        rc = hvt_kvm_vcpu_open(&k->vm, &c->kv, i, err, len);
        if (rc == 0)
            rc = hvt_core_open(&c->core, HVT_CORE_REF, cerr, sizeof(cerr));
        if (rc == 0)
            rc = hvt_core_set_cpu(c->core, cpu);
        if (rc < 0) {
            if (err && len && !err[0])
                set_err(err, len, "vCPU %u: %s", i, hvt_strerror(rc));
            kvm_host_free(k);
            return rc;
        }
        struct hvt_vcpu_state st = k->sim->vcpus[i].st;
        if (c->agent) {
            st.rip = KVM_GPA_AGENT_CODE;
            st.gpr[HVT_RDI] = KVM_GPA_MAILBOX;
            st.gpr[HVT_R14] = 0;
        }
        st.flags = 0;
        if (hvt_kvm_vcpu_get_state(&c->kv, &c->S) < 0 || hvt_kvm_vcpu_set_state(&c->kv, &st) < 0) {
            set_err(err, len, "vCPU %u: cannot load the initial state: %s", i, strerror(errno));
            kvm_host_free(k);
            return -HVT_E_IO;
        }
    }
    *out = k;
    return 0;
}

static int run_threads(struct kvm_host *k)
{
    pthread_t *tids = calloc(k->n, sizeof(*tids));
    uint32_t started = 0;
    if (!tids)
        return -HVT_E_NOMEM;
    for (; started < k->n; started++)
        if (pthread_create(&tids[started], NULL, vcpu_thread, &k->v[started])) {
            hvt_kvm_fail(k, -HVT_E_IO, "cannot start vCPU thread %u", started);
            break;
        }
    for (uint32_t i = 0; i < started; i++) {
        if (i == k->agent_vcpu)
            continue;
        pthread_join(tids[i], NULL);
    }
    if (k->agent_vcpu != UINT32_MAX && k->agent_vcpu < started) {
        if (agent_request(k, KVM_AGENT_STOP, 0, 0) < 0)
            hvt_kvm_fail(k, -HVT_E_INTERNAL, "the agent vCPU did not stop");
        pthread_join(tids[k->agent_vcpu], NULL);
    }
    free(tids);
    return k->err;
}

static void add_stats(const struct kvm_host *k, struct hvt_kvm_stats *st)
{
    for (uint32_t i = 0; i < k->n; i++) {
        const struct kvcpu *c = &k->v[i];
        st->exits += c->n_exits;
        st->mmio_exits += c->n_mmio;
        st->pio_exits += c->n_pio;
        st->debug_exits += c->n_debug;
        st->events += c->n_events;
        st->passes += c->n_passes;
        st->agent_actions += c->n_agent;
        st->reconstructed_init += c->n_recon;
        st->unreconstructed += c->n_unrecon;
        st->shadow_ok += c->n_ok;
        st->shadow_named += c->n_named;
        st->shadow_mismatch += c->n_mismatch;
        st->dev_rep_last_at_rep += c->n_rep_last;
        st->dev_rep_rf += c->n_rep_rf;
        st->rec_accesses += c->n_acc;
        if (!st->first_mismatch[0] && c->first_mismatch[0])
            snprintf(st->first_mismatch, sizeof(st->first_mismatch), "%s", c->first_mismatch);
    }
}

/* ---- a real guest ---------------------------------------------------------------------- */

static int kernel_host_create(struct kvm_host **out, const struct hvt_kvm_options *o,
                              struct hvt_cpu_profile *cpu, char *err, size_t len)
{
    struct kvm_host *k = calloc(1, sizeof(*k));
    int rc;
    *out = NULL;
    if (!k)
        return -HVT_E_NOMEM;
    pthread_mutex_init(&k->lock, NULL);
    pthread_mutex_init(&k->agent_lock, NULL);
    k->vm.kvm_fd = k->vm.vm_fd = -1;
    k->kernel = 1;
    k->agent_vcpu = UINT32_MAX;
    k->lockstep = !!(o->flags & HVT_KVM_LOCKSTEP);
    k->budget = o->events ? o->events : UINT64_MAX;
    k->sc = &scenarios[0]; /* for the names only: no scenario world */
    rc = hvt_kvm_kernel_setup(k, o, cpu, err, len);
    if (rc == 0 && o->console) {
        k->console = fopen(o->console, (o->flags & HVT_KVM_OVERWRITE) ? "w" : "wx");
        if (!k->console) {
            set_err(err, len, "console %s: %s%s", o->console, strerror(errno),
                    errno == EEXIST ? " (use -f to overwrite)" : "");
            rc = errno == EEXIST ? -HVT_E_EXISTS : -HVT_E_IO;
        }
    }
    if (rc < 0) {
        kvm_host_free(k);
        return rc;
    }
    *out = k;
    return 0;
}

static void kick(int sig)
{
    (void)sig; /* only to interrupt KVM_RUN */
}

struct watchdog {
    struct kvm_host *k;
    pthread_t vcpu;
    int done; /* atomic */
};

static void *watchdog_thread(void *arg)
{
    struct watchdog *w = arg;
    struct timespec ts = {0, 10 * 1000 * 1000};
    while (!__atomic_load_n(&w->done, __ATOMIC_ACQUIRE) && now_ns() < w->k->deadline_ns &&
           !__atomic_load_n(&w->k->stop, __ATOMIC_ACQUIRE))
        nanosleep(&ts, NULL);
    /* the vCPU may sit in KVM_RUN with no exit for long (HLT in the kernel's irqchip) */
    while (!__atomic_load_n(&w->done, __ATOMIC_ACQUIRE)) {
        __atomic_store_n(&w->k->v[0].kv.run->immediate_exit, 1, __ATOMIC_RELEASE);
        pthread_kill(w->vcpu, SIGUSR1);
        nanosleep(&ts, NULL);
    }
    return NULL;
}

static int run_kernel(struct kvm_host *k, uint32_t seconds)
{
    struct sigaction sa, old;
    struct watchdog w = {k, 0, 0};
    pthread_t wd;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = kick; /* no SA_RESTART: KVM_RUN returns EINTR */
    sigemptyset(&sa.sa_mask);
    sigaction(SIGUSR1, &sa, &old);
    k->deadline_ns = now_ns() + (uint64_t)seconds * 1000000000ull;
    if (pthread_create(&w.vcpu, NULL, vcpu_thread, &k->v[0])) {
        sigaction(SIGUSR1, &old, NULL);
        return -HVT_E_IO;
    }
    if (pthread_create(&wd, NULL, watchdog_thread, &w)) {
        __atomic_store_n(&k->stop, 1, __ATOMIC_RELEASE);
        pthread_join(w.vcpu, NULL);
        sigaction(SIGUSR1, &old, NULL);
        return -HVT_E_IO;
    }
    pthread_join(w.vcpu, NULL);
    __atomic_store_n(&w.done, 1, __ATOMIC_RELEASE);
    pthread_join(wd, NULL);
    sigaction(SIGUSR1, &old, NULL);
    return k->err;
}

int hvt_kvm_record(const char *path, const struct hvt_kvm_options *opt, struct hvt_kvm_stats *st,
                   char *err, size_t len)
{
    struct hvt_kvm_options o;
    struct kvm_host *k = NULL;
    struct hvt_cpu_profile cpu;
    struct hvt_kvm_stats s;
    struct hvt_fmt_header hdr;
    struct hvt_fmt_cpu_strings cs;
    struct hvt_rec_options ro;
    struct hvt_rec_stats rs;
    struct hvt_kv kv[12];
    char buf[12][80];
    size_t nkv = 0;
    uint64_t t0;
    int rc;

    if (err && len)
        err[0] = 0;
    if (!opt || hvt_sized_in(&o, sizeof(o), opt, opt->size, HVT_KVM_OPTIONS_SIZE_V1)) {
        set_err(err, len, "options missing, or of a size this library does not know");
        return -HVT_E_INVALID;
    }
    if (st && st->size < HVT_KVM_STATS_SIZE_V1) {
        set_err(err, len, "statistics smaller than their first version");
        return -HVT_E_INVALID;
    }
    if (o.flags & ~(HVT_KVM_LOCKSTEP | HVT_KVM_OVERWRITE)) {
        set_err(err, len, "unknown flags 0x%x", o.flags);
        return -HVT_E_INVALID;
    }
    if (o.events > 100000000ull) {
        set_err(err, len, "%llu events: at most 100000000", (unsigned long long)o.events);
        return -HVT_E_INVALID;
    }
    if (o.kernel) {
        rc = kernel_host_create(&k, &o, &cpu, err, len);
        if (rc < 0)
            return rc;
    } else if (!o.scenario) {
        set_err(err, len, "no scenario given");
        return -HVT_E_INVALID;
    }
    if (!o.kernel && !find_scenario(o.scenario)) {
        set_err(err, len, "unknown KVM scenario '%s' (clean, pageout, cmps, mixed)", o.scenario);
        return -HVT_E_NOT_FOUND;
    }
    if (!o.kernel && (o.vcpus == 1 || o.vcpus > HVT_KVM_MAX_VCPUS)) {
        set_err(err, len, "%u vCPUs: 2..%u", o.vcpus, HVT_KVM_MAX_VCPUS);
        return -HVT_E_INVALID;
    }
    if (!o.kernel) {
        rc = kvm_host_create(&k, &o, &cpu, err, len);
        if (rc < 0)
            return rc;
    }
    k->plain = !path;

    memset(&s, 0, sizeof(s));
    snprintf(s.module, sizeof(s.module), "%s", k->vm.module);
    snprintf(s.release, sizeof(s.release), "%s", k->vm.release);
    if (path) {
#define KV(K_, ...)                                                                                \
    do {                                                                                           \
        snprintf(buf[nkv], sizeof(buf[nkv]), __VA_ARGS__);                                         \
        kv[nkv].key = K_;                                                                          \
        kv[nkv].value = buf[nkv];                                                                  \
        nkv++;                                                                                     \
    } while (0)
        KV("host", "kvm");
        KV("kernel", "%s", k->vm.release);
        KV("kvm-module", "%s", k->vm.module[0] ? k->vm.module : "unknown");
        if (k->kernel)
            KV("kernel-image", "%s",
               strrchr(o.kernel, '/') ? strrchr(o.kernel, '/') + 1 : o.kernel);
        else
            KV("scenario", "%s", k->sc->name);
        KV("seed", "%llu", (unsigned long long)o.seed);
        KV("vcpus", "%u", k->n);
        KV("events", "%llu", (unsigned long long)k->budget);
        KV("agent-vcpu", "%d", k->agent_vcpu == UINT32_MAX ? -1 : (int)k->agent_vcpu);
        KV("pre-state", "%s", k->lockstep ? "lockstep" : "reconstructed");
        KV("reconstructed", "%s", "fetch walk ram device-cache");
        KV("sync-regs", "%d", k->vm.has_sync_regs);
#undef KV
        memset(&hdr, 0, sizeof(hdr));
        hdr.producer = "hvtrace-kvm";
        hdr.producer_version = hvt_version();
        hdr.hypervisor = "kvm";
        hdr.hypervisor_version = k->vm.release;
        hdr.core_name = "kvm-emulator";
        hdr.core_version = k->vm.module;
        hdr.options = kv;
        hdr.n_options = nkv;
        hvt_fmt_header_set_cpu(&hdr, &cpu, &cs);
        hvt_rec_options_init(&ro);
        ro.n_vcpus = ro.max_vcpus = k->n;
        if (o.flags & HVT_KVM_OVERWRITE)
            ro.flags |= HVT_REC_OVERWRITE;
        rc = hvt_rec_open(&k->rec, path, &hdr, &ro);
        if (rc < 0) {
            const struct hvt_fmt_error_info *oe = hvt_fmt_writer_last_error();
            set_err(err, len, "%s",
                    oe->code == rc && oe->message[0] ? oe->message : hvt_strerror(rc));
            kvm_host_free(k);
            return rc;
        }
    }
    t0 = now_ns();
    rc = k->kernel ? run_kernel(k, o.seconds ? o.seconds : 60) : run_threads(k);
    s.wall_ns = now_ns() - t0;
    if (rc < 0)
        set_err(err, len, "%s", k->errmsg);
    if (k->rec) {
        int rc2;
        memset(&rs, 0, sizeof(rs));
        rs.size = sizeof(rs);
        rc2 = hvt_rec_close(k->rec, &rs);
        k->rec = NULL;
        if (rc2 < 0 && rc >= 0) {
            set_err(err, len, "%s: %s", path, rs.error[0] ? rs.error : hvt_strerror(rc2));
            rc = rc2;
        }
        struct stat sb;
        s.file_bytes = stat(path, &sb) == 0 ? (uint64_t)sb.st_size : rs.bytes_written;
    }
    add_stats(k, &s);
    if (k->console)
        fclose(k->console);
    k->console = NULL;
    if (st) {
        size_t user = st->size;
        memcpy(st, &s, sizeof(s) < user ? sizeof(s) : user);
        st->size = user;
    }
    kvm_host_free(k);
    return rc;
}
