/* SPDX-License-Identifier: MIT */
/* KVM host: assembles the KVM-only guest programs (host/kvm/guests) into the library's
 * read-only data, as host/guest_blob.S does for the simulated host's. */
    .intel_syntax noprefix
    .section .rodata.hvt_kvm_guests, "a"

#define GUEST_BEGIN(name) \
    .globl hvt_kvm_guest_##name; .globl hvt_kvm_guest_##name##_end; \
    .hidden hvt_kvm_guest_##name; .hidden hvt_kvm_guest_##name##_end; .balign 16; \
    hvt_kvm_guest_##name:
#define GUEST_END(name) hvt_kvm_guest_##name##_end:

    .code64
GUEST_BEGIN(agent)
#include "guests/agent.S"
GUEST_END(agent)
GUEST_BEGIN(mixed)
#include "guests/mixed.S"
GUEST_END(mixed)

    .section .note.GNU-stack, "", @progbits
