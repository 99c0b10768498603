/* SPDX-License-Identifier: MIT */
/* KVM host: a minimal VMM on /dev/kvm (VM, RAM slots, vCPUs with sync regs, state conversion). */
#ifndef HVT_KVM_VM_H
#define HVT_KVM_VM_H

#include <linux/kvm.h>
#include <stddef.h>
#include <stdint.h>

#include "hvtrace/cpu.h"
#include "hvtrace/types.h"

struct kvm_vm {
    int kvm_fd, vm_fd;
    int run_size;
    int has_sync_regs;
    uint8_t *ram; /* guest-physical 0..ram_bytes, one slot */
    uint64_t ram_bytes;
    struct kvm_cpuid2 *cpuid; /* what KVM_GET_SUPPORTED_CPUID gave, as set on each vCPU */
    char module[32];          /* kvm_intel, kvm_amd, kvm_pvm, ... ("" when unknown) */
    char release[65];         /* uname -r */
};

struct kvm_vcpu {
    struct kvm_vm *vm;
    int fd;
    uint32_t id;
    struct kvm_run *run;
    int singlestep; /* guest debug as last set */
};

/* Opens /dev/kvm and creates a VM with RAM_BYTES of anonymous RAM at GPA 0. Returns 0,
 * -HVT_E_UNSUPPORTED when KVM is absent or unusable (ERR says why: the caller skips), or
 * -HVT_E_NOMEM / -HVT_E_IO. */
int hvt_kvm_vm_open(struct kvm_vm *vm, uint64_t ram_bytes, char *err, size_t len);
void hvt_kvm_vm_close(struct kvm_vm *vm);

/* Creates vCPU ID with the supported CPUID (less FEATURES_OFF bits as below), mapped kvm_run
 * and sync regs when KVM has them. CLEAR_XSAVE drops XSAVE/OSXSAVE/AVX/CX16 (a KVM emulator
 * without them must not see guests use them). */
int hvt_kvm_vcpu_open(struct kvm_vm *vm, struct kvm_vcpu *v, uint32_t id, char *err, size_t len);
void hvt_kvm_vcpu_close(struct kvm_vcpu *v);

/* Loads / reads the vCPU state (GPRs, RIP, RFLAGS, segments, tables, control registers,
 * EFER; with SIMD: XMM and MXCSR through KVM_{GET,SET}_FPU). Through the sync-regs area when
 * KVM has it (no system call), else the ioctls. */
int hvt_kvm_vcpu_set_state(struct kvm_vcpu *v, const struct hvt_vcpu_state *st);
int hvt_kvm_vcpu_get_state(struct kvm_vcpu *v, struct hvt_vcpu_state *st);
int hvt_kvm_vcpu_get_simd(struct kvm_vcpu *v, struct hvt_vcpu_state *st);
int hvt_kvm_vcpu_set_simd(struct kvm_vcpu *v, const struct hvt_vcpu_state *st);

/* Single-step (KVM_GUESTDBG_SINGLESTEP) on or off for the following KVM_RUNs. */
int hvt_kvm_vcpu_singlestep(struct kvm_vcpu *v, int on);

/* KVM_RUN; retries EINTR/EAGAIN up to a bound. Returns 0 (exit reason in v->run) or -HVT_E_IO. */
int hvt_kvm_vcpu_run(struct kvm_vcpu *v);

/* The CPU profile the VM's guests are shown: vendor, family/model/stepping and features from
 * the CPUID KVM supports (as set on the vCPUs), the vendor's default choices. */
int hvt_kvm_vm_cpu_profile(const struct kvm_vm *vm, struct hvt_cpu_profile *p);

/* Name of an exit reason ("mmio", "io", "debug", "hlt", ...). */
const char *hvt_kvm_exit_name(uint32_t reason);

#endif
