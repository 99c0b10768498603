/* SPDX-License-Identifier: MIT */
/* Simulated host: assembles every guest program (each host/guests file) into the library's
 * read-only data, between start/end symbols. Guest code is position independent (relative
 * jumps only; every address comes in a register the host sets), so the host copies it
 * anywhere. */
    .intel_syntax noprefix
    .section .rodata.hvt_guests, "a"

#define GUEST_BEGIN(name) \
    .globl hvt_guest_##name; .globl hvt_guest_##name##_end; \
    .hidden hvt_guest_##name; .hidden hvt_guest_##name##_end; .balign 16; hvt_guest_##name:
#define GUEST_END(name) hvt_guest_##name##_end:

    .code64
GUEST_BEGIN(clean)
#include "guests/clean.S"
GUEST_END(clean)
GUEST_BEGIN(pageout)
#include "guests/pageout.S"
GUEST_END(pageout)
GUEST_BEGIN(ptwrite)
#include "guests/ptwrite.S"
GUEST_END(ptwrite)
GUEST_BEGIN(adbits)
#include "guests/adbits.S"
GUEST_END(adbits)
GUEST_BEGIN(cmps)
#include "guests/cmps.S"
GUEST_END(cmps)
GUEST_BEGIN(gather)
#include "guests/gather.S"
GUEST_END(gather)
GUEST_BEGIN(mixed)
#include "guests/mixed.S"
GUEST_END(mixed)
    .code32
GUEST_BEGIN(pae)
#include "guests/pae.S"
GUEST_END(pae)
    .code64

    .section .note.GNU-stack, "", @progbits
