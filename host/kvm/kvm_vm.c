/* SPDX-License-Identifier: MIT */
/* KVM host: a minimal VMM on /dev/kvm (VM, RAM slot, vCPUs with sync regs, state conversion). */
#include "kvm_vm.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "common/cpuid.h"
#include "hvtrace/error.h"

static int fail(char *err, size_t len, int rc, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int fail(char *err, size_t len, int rc, const char *fmt, ...)
{
    va_list ap;
    if (err && len) {
        va_start(ap, fmt);
        vsnprintf(err, len, fmt, ap);
        va_end(ap);
    }
    return rc;
}

/* Which KVM module serves /dev/kvm: the first loaded of the known vendor modules. */
static void find_module(char *buf, size_t len)
{
    static const char *const names[] = {"kvm_pvm", "kvm_intel", "kvm_amd"};
    buf[0] = 0;
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        char path[64];
        snprintf(path, sizeof(path), "/sys/module/%s", names[i]);
        if (!access(path, F_OK)) {
            snprintf(buf, len, "%s", names[i]);
            return;
        }
    }
}

int hvt_kvm_vm_open(struct kvm_vm *vm, uint64_t ram_bytes, char *err, size_t len)
{
    struct kvm_userspace_memory_region mr;
    struct utsname un;
    int n = 64, rc;

    memset(vm, 0, sizeof(*vm));
    vm->kvm_fd = vm->vm_fd = -1;
    if (uname(&un) == 0)
        snprintf(vm->release, sizeof(vm->release), "%s", un.release);
    find_module(vm->module, sizeof(vm->module));
    /* HVT_KVM_DEVICE names another device node: tests use it to see the no-KVM path */
    const char *dev = getenv("HVT_KVM_DEVICE") ? getenv("HVT_KVM_DEVICE") : "/dev/kvm";
    vm->kvm_fd = open(dev, O_RDWR | O_CLOEXEC);
    if (vm->kvm_fd < 0)
        return fail(err, len, -HVT_E_UNSUPPORTED, "%s: %s", dev, strerror(errno));
    if (ioctl(vm->kvm_fd, KVM_GET_API_VERSION, 0) != KVM_API_VERSION) {
        hvt_kvm_vm_close(vm);
        return fail(err, len, -HVT_E_UNSUPPORTED, "%s: KVM API version is not %d", dev,
                    KVM_API_VERSION);
    }
    vm->vm_fd = ioctl(vm->kvm_fd, KVM_CREATE_VM, 0);
    if (vm->vm_fd < 0) {
        rc = errno;
        hvt_kvm_vm_close(vm);
        return fail(err, len, -HVT_E_UNSUPPORTED, "KVM_CREATE_VM: %s", strerror(rc));
    }
    vm->run_size = ioctl(vm->kvm_fd, KVM_GET_VCPU_MMAP_SIZE, 0);
    vm->has_sync_regs =
        (ioctl(vm->vm_fd, KVM_CHECK_EXTENSION, KVM_CAP_SYNC_REGS) & KVM_SYNC_X86_REGS) &&
        (ioctl(vm->vm_fd, KVM_CHECK_EXTENSION, KVM_CAP_SYNC_REGS) & KVM_SYNC_X86_SREGS);
    if (getenv("HVT_KVM_NO_SYNC_REGS"))
        vm->has_sync_regs = 0;
    /* VMX needs a TSS region below 4 GiB outside RAM; elsewhere the call is harmless */
    (void)ioctl(vm->vm_fd, KVM_SET_TSS_ADDR, 0xfffbd000ul);
    vm->ram = mmap(NULL, ram_bytes, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (vm->ram == MAP_FAILED) {
        vm->ram = NULL;
        hvt_kvm_vm_close(vm);
        return fail(err, len, -HVT_E_NOMEM, "guest RAM of %llu bytes: %s",
                    (unsigned long long)ram_bytes, strerror(errno));
    }
    vm->ram_bytes = ram_bytes;
    memset(&mr, 0, sizeof(mr));
    mr.slot = 0;
    mr.guest_phys_addr = 0;
    mr.memory_size = ram_bytes;
    mr.userspace_addr = (uintptr_t)vm->ram;
    if (ioctl(vm->vm_fd, KVM_SET_USER_MEMORY_REGION, &mr) < 0) {
        rc = errno;
        hvt_kvm_vm_close(vm);
        return fail(err, len, -HVT_E_UNSUPPORTED, "KVM_SET_USER_MEMORY_REGION: %s", strerror(rc));
    }
    for (;;) {
        vm->cpuid = calloc(1, sizeof(*vm->cpuid) + (size_t)n * sizeof(vm->cpuid->entries[0]));
        if (!vm->cpuid) {
            hvt_kvm_vm_close(vm);
            return fail(err, len, -HVT_E_NOMEM, "out of memory");
        }
        vm->cpuid->nent = (uint32_t)n;
        if (ioctl(vm->kvm_fd, KVM_GET_SUPPORTED_CPUID, vm->cpuid) == 0)
            break;
        rc = errno;
        free(vm->cpuid);
        vm->cpuid = NULL;
        if (rc != E2BIG || n >= 4096) {
            hvt_kvm_vm_close(vm);
            return fail(err, len, -HVT_E_UNSUPPORTED, "KVM_GET_SUPPORTED_CPUID: %s", strerror(rc));
        }
        n *= 2;
    }
    /* What the guests are shown: KVM's supported CPUID less the features whose instructions
     * some KVM emulators cannot emulate (CMPXCHG16B, XSAVE and with it AVX), and no
     * hypervisor-specific leaves beyond what KVM reports. */
    for (uint32_t i = 0; i < vm->cpuid->nent; i++) {
        struct kvm_cpuid_entry2 *e = &vm->cpuid->entries[i];
        if (e->function == 1) {
            e->ecx &=
                ~((1u << 13) | (1u << 26) | (1u << 27) | (1u << 28)); /* CX16 XSAVE OSXSAVE AVX */
        }
        if (e->function == 7 && e->index == 0)
            e->ebx &= ~((1u << 5) | (1u << 16)); /* AVX2, AVX-512F */
    }
    return 0;
}

void hvt_kvm_vm_close(struct kvm_vm *vm)
{
    if (!vm)
        return;
    if (vm->vm_fd >= 0)
        close(vm->vm_fd);
    if (vm->kvm_fd >= 0)
        close(vm->kvm_fd);
    if (vm->ram)
        munmap(vm->ram, vm->ram_bytes);
    free(vm->cpuid);
    vm->ram = NULL;
    vm->cpuid = NULL;
    vm->vm_fd = vm->kvm_fd = -1;
}

int hvt_kvm_vcpu_open(struct kvm_vm *vm, struct kvm_vcpu *v, uint32_t id, char *err, size_t len)
{
    int rc;
    memset(v, 0, sizeof(*v));
    v->vm = vm;
    v->id = id;
    v->fd = ioctl(vm->vm_fd, KVM_CREATE_VCPU, (unsigned long)id);
    if (v->fd < 0)
        return fail(err, len, -HVT_E_UNSUPPORTED, "KVM_CREATE_VCPU %u: %s", id, strerror(errno));
    if (ioctl(v->fd, KVM_SET_CPUID2, vm->cpuid) < 0) {
        rc = errno;
        hvt_kvm_vcpu_close(v);
        return fail(err, len, -HVT_E_UNSUPPORTED, "KVM_SET_CPUID2: %s", strerror(rc));
    }
    v->run = mmap(NULL, (size_t)vm->run_size, PROT_READ | PROT_WRITE, MAP_SHARED, v->fd, 0);
    if (v->run == MAP_FAILED) {
        rc = errno;
        v->run = NULL;
        hvt_kvm_vcpu_close(v);
        return fail(err, len, -HVT_E_IO, "mmap of kvm_run: %s", strerror(rc));
    }
    if (vm->has_sync_regs)
        v->run->kvm_valid_regs = KVM_SYNC_X86_REGS | KVM_SYNC_X86_SREGS;
    return 0;
}

void hvt_kvm_vcpu_close(struct kvm_vcpu *v)
{
    if (!v || !v->vm)
        return;
    if (v->run)
        munmap(v->run, (size_t)v->vm->run_size);
    if (v->fd > 0)
        close(v->fd);
    v->run = NULL;
    v->fd = -1;
}

/* ---- state conversion ------------------------------------------------------------------ */

static void seg_to_kvm(const struct hvt_segment *s, struct kvm_segment *k)
{
    memset(k, 0, sizeof(*k));
    k->base = s->base;
    k->limit = s->limit;
    k->selector = s->sel;
    k->type = (uint8_t)HVT_SEG_ATTR_TYPE(s->attr);
    k->s = !!(s->attr & HVT_SEG_ATTR_S);
    k->dpl = (uint8_t)HVT_SEG_ATTR_DPL(s->attr);
    k->present = !!(s->attr & HVT_SEG_ATTR_P);
    k->avl = !!(s->attr & HVT_SEG_ATTR_AVL);
    k->l = !!(s->attr & HVT_SEG_ATTR_L);
    k->db = !!(s->attr & HVT_SEG_ATTR_DB);
    k->g = !!(s->attr & HVT_SEG_ATTR_G);
    k->unusable = !!(s->attr & HVT_SEG_ATTR_UNUSABLE);
}

static void seg_from_kvm(const struct kvm_segment *k, struct hvt_segment *s)
{
    memset(s, 0, sizeof(*s));
    s->base = k->base;
    s->limit = k->limit;
    s->sel = k->selector;
    if (k->unusable) {
        s->attr = HVT_SEG_ATTR_UNUSABLE;
        return;
    }
    s->attr = (k->type & 0xfu) | (k->s ? HVT_SEG_ATTR_S : 0) | ((k->dpl & 3u) << 5) |
              (k->present ? HVT_SEG_ATTR_P : 0) | (k->avl ? HVT_SEG_ATTR_AVL : 0) |
              (k->l ? HVT_SEG_ATTR_L : 0) | (k->db ? HVT_SEG_ATTR_DB : 0) |
              (k->g ? HVT_SEG_ATTR_G : 0);
}

static void regs_to_kvm(const struct hvt_vcpu_state *st, struct kvm_regs *r)
{
    memset(r, 0, sizeof(*r));
    r->rax = st->gpr[HVT_RAX];
    r->rcx = st->gpr[HVT_RCX];
    r->rdx = st->gpr[HVT_RDX];
    r->rbx = st->gpr[HVT_RBX];
    r->rsp = st->gpr[HVT_RSP];
    r->rbp = st->gpr[HVT_RBP];
    r->rsi = st->gpr[HVT_RSI];
    r->rdi = st->gpr[HVT_RDI];
    r->r8 = st->gpr[HVT_R8];
    r->r9 = st->gpr[HVT_R9];
    r->r10 = st->gpr[HVT_R10];
    r->r11 = st->gpr[HVT_R11];
    r->r12 = st->gpr[HVT_R12];
    r->r13 = st->gpr[HVT_R13];
    r->r14 = st->gpr[HVT_R14];
    r->r15 = st->gpr[HVT_R15];
    r->rip = st->rip;
    r->rflags = st->rflags;
}

static void regs_from_kvm(const struct kvm_regs *r, struct hvt_vcpu_state *st)
{
    st->gpr[HVT_RAX] = r->rax;
    st->gpr[HVT_RCX] = r->rcx;
    st->gpr[HVT_RDX] = r->rdx;
    st->gpr[HVT_RBX] = r->rbx;
    st->gpr[HVT_RSP] = r->rsp;
    st->gpr[HVT_RBP] = r->rbp;
    st->gpr[HVT_RSI] = r->rsi;
    st->gpr[HVT_RDI] = r->rdi;
    st->gpr[HVT_R8] = r->r8;
    st->gpr[HVT_R9] = r->r9;
    st->gpr[HVT_R10] = r->r10;
    st->gpr[HVT_R11] = r->r11;
    st->gpr[HVT_R12] = r->r12;
    st->gpr[HVT_R13] = r->r13;
    st->gpr[HVT_R14] = r->r14;
    st->gpr[HVT_R15] = r->r15;
    st->rip = r->rip;
    st->rflags = r->rflags;
}

static void sregs_to_kvm(const struct hvt_vcpu_state *st, struct kvm_sregs *s)
{
    /* apic_base and the interrupt bitmap are the caller's (kept from KVM's) */
    seg_to_kvm(&st->seg[HVT_SEG_ES], &s->es);
    seg_to_kvm(&st->seg[HVT_SEG_CS], &s->cs);
    seg_to_kvm(&st->seg[HVT_SEG_SS], &s->ss);
    seg_to_kvm(&st->seg[HVT_SEG_DS], &s->ds);
    seg_to_kvm(&st->seg[HVT_SEG_FS], &s->fs);
    seg_to_kvm(&st->seg[HVT_SEG_GS], &s->gs);
    seg_to_kvm(&st->seg[HVT_SEG_LDTR], &s->ldt);
    seg_to_kvm(&st->seg[HVT_SEG_TR], &s->tr);
    s->gdt.base = st->gdtr.base;
    s->gdt.limit = (uint16_t)st->gdtr.limit;
    s->idt.base = st->idtr.base;
    s->idt.limit = (uint16_t)st->idtr.limit;
    s->cr0 = st->cr0;
    s->cr2 = st->cr2;
    s->cr3 = st->cr3;
    s->cr4 = st->cr4;
    s->cr8 = st->cr8;
    s->efer = st->efer;
}

static void sregs_from_kvm(const struct kvm_sregs *s, struct hvt_vcpu_state *st)
{
    seg_from_kvm(&s->es, &st->seg[HVT_SEG_ES]);
    seg_from_kvm(&s->cs, &st->seg[HVT_SEG_CS]);
    seg_from_kvm(&s->ss, &st->seg[HVT_SEG_SS]);
    seg_from_kvm(&s->ds, &st->seg[HVT_SEG_DS]);
    seg_from_kvm(&s->fs, &st->seg[HVT_SEG_FS]);
    seg_from_kvm(&s->gs, &st->seg[HVT_SEG_GS]);
    seg_from_kvm(&s->ldt, &st->seg[HVT_SEG_LDTR]);
    seg_from_kvm(&s->tr, &st->seg[HVT_SEG_TR]);
    st->gdtr.base = s->gdt.base;
    st->gdtr.limit = s->gdt.limit;
    st->idtr.base = s->idt.base;
    st->idtr.limit = s->idt.limit;
    st->cr0 = s->cr0;
    st->cr2 = s->cr2;
    st->cr3 = s->cr3;
    st->cr4 = s->cr4;
    st->cr8 = s->cr8;
    st->efer = s->efer;
}

int hvt_kvm_vcpu_set_state(struct kvm_vcpu *v, const struct hvt_vcpu_state *st)
{
    struct kvm_regs r;
    struct kvm_sregs s;
    if (v->vm->has_sync_regs) {
        /* the sync area holds what KVM last reported: keep apic_base and pending interrupts */
        regs_to_kvm(st, &v->run->s.regs.regs);
        sregs_to_kvm(st, &v->run->s.regs.sregs);
        v->run->kvm_dirty_regs |= KVM_SYNC_X86_REGS | KVM_SYNC_X86_SREGS;
    } else {
        if (ioctl(v->fd, KVM_GET_SREGS, &s) < 0)
            return -HVT_E_IO;
        regs_to_kvm(st, &r);
        sregs_to_kvm(st, &s);
        if (ioctl(v->fd, KVM_SET_SREGS, &s) < 0 || ioctl(v->fd, KVM_SET_REGS, &r) < 0)
            return -HVT_E_IO;
    }
    if (st->xcr0 && st->xcr0 != 1) {
        struct kvm_xcrs x;
        memset(&x, 0, sizeof(x));
        x.nr_xcrs = 1;
        x.xcrs[0].xcr = 0;
        x.xcrs[0].value = st->xcr0;
        (void)ioctl(v->fd, KVM_SET_XCRS, &x);
    }
    if (st->flags & HVT_STATE_SIMD_VALID)
        return hvt_kvm_vcpu_set_simd(v, st);
    return 0;
}

int hvt_kvm_vcpu_get_state(struct kvm_vcpu *v, struct hvt_vcpu_state *st)
{
    struct kvm_regs r;
    struct kvm_sregs s;
    uint32_t flags = st->flags;
    if (v->vm->has_sync_regs) {
        regs_from_kvm(&v->run->s.regs.regs, st);
        sregs_from_kvm(&v->run->s.regs.sregs, st);
    } else {
        if (ioctl(v->fd, KVM_GET_REGS, &r) < 0 || ioctl(v->fd, KVM_GET_SREGS, &s) < 0)
            return -HVT_E_IO;
        regs_from_kvm(&r, st);
        sregs_from_kvm(&s, st);
    }
    st->flags = flags & HVT_STATE_SIMD_VALID;
    return 0;
}

int hvt_kvm_vcpu_get_simd(struct kvm_vcpu *v, struct hvt_vcpu_state *st)
{
    struct kvm_fpu f;
    if (ioctl(v->fd, KVM_GET_FPU, &f) < 0)
        return -HVT_E_IO;
    for (unsigned i = 0; i < 16; i++) {
        memcpy(st->ymm[i], f.xmm[i], 16);
        memset(st->ymm[i] + 16, 0, 16);
    }
    st->mxcsr = f.mxcsr;
    st->flags |= HVT_STATE_SIMD_VALID;
    return 0;
}

int hvt_kvm_vcpu_set_simd(struct kvm_vcpu *v, const struct hvt_vcpu_state *st)
{
    struct kvm_fpu f;
    if (ioctl(v->fd, KVM_GET_FPU, &f) < 0)
        return -HVT_E_IO;
    for (unsigned i = 0; i < 16; i++)
        memcpy(f.xmm[i], st->ymm[i], 16);
    f.mxcsr = st->mxcsr;
    return ioctl(v->fd, KVM_SET_FPU, &f) < 0 ? -HVT_E_IO : 0;
}

int hvt_kvm_vcpu_singlestep(struct kvm_vcpu *v, int on)
{
    struct kvm_guest_debug d;
    if (v->singlestep == on)
        return 0;
    memset(&d, 0, sizeof(d));
    d.control = on ? (KVM_GUESTDBG_ENABLE | KVM_GUESTDBG_SINGLESTEP) : 0;
    if (ioctl(v->fd, KVM_SET_GUEST_DEBUG, &d) < 0)
        return -HVT_E_IO;
    v->singlestep = on;
    return 0;
}

int hvt_kvm_vcpu_run(struct kvm_vcpu *v)
{
    for (int tries = 0; tries < 1000; tries++) {
        if (ioctl(v->fd, KVM_RUN, 0) == 0) {
            v->run->kvm_dirty_regs = 0;
            return 0;
        }
        if (errno != EINTR && errno != EAGAIN)
            return -HVT_E_IO;
        if (errno == EINTR) {
            /* a signal (or immediate_exit) stopped it: the caller decides whether to go on */
            v->run->exit_reason = KVM_EXIT_INTR;
            return 0;
        }
    }
    return -HVT_E_IO;
}

struct cpuid_ctx {
    const struct kvm_cpuid2 *t;
};

static void table_cpuid(void *arg, unsigned leaf, unsigned sub, unsigned r[4])
{
    const struct cpuid_ctx *c = arg;
    r[0] = r[1] = r[2] = r[3] = 0;
    for (uint32_t i = 0; i < c->t->nent; i++) {
        const struct kvm_cpuid_entry2 *e = &c->t->entries[i];
        if (e->function != leaf)
            continue;
        if ((e->flags & KVM_CPUID_FLAG_SIGNIFCANT_INDEX) && e->index != sub)
            continue;
        r[0] = e->eax;
        r[1] = e->ebx;
        r[2] = e->ecx;
        r[3] = e->edx;
        return;
    }
}

int hvt_kvm_vm_cpu_profile(const struct kvm_vm *vm, struct hvt_cpu_profile *p)
{
    struct cpuid_ctx c = {vm->cpuid};
    int rc = hvt_cpu_profile_from_cpuid(p, table_cpuid, &c, 0);
    if (rc == 0)
        snprintf(p->name, sizeof(p->name), "kvm-cpuid");
    return rc;
}

const char *hvt_kvm_exit_name(uint32_t reason)
{
    switch (reason) {
    case KVM_EXIT_IO:
        return "io";
    case KVM_EXIT_MMIO:
        return "mmio";
    case KVM_EXIT_DEBUG:
        return "debug";
    case KVM_EXIT_HLT:
        return "hlt";
    case KVM_EXIT_SHUTDOWN:
        return "shutdown";
    case KVM_EXIT_FAIL_ENTRY:
        return "fail-entry";
    case KVM_EXIT_INTERNAL_ERROR:
        return "internal-error";
    case KVM_EXIT_INTR:
        return "intr";
    case KVM_EXIT_EXCEPTION:
        return "exception";
    default:
        return "other";
    }
}
