/* SPDX-License-Identifier: MIT */
/* hvtrace format: conversion between struct hvt_vcpu_state and its slot array. */
#include "state.h"

#include <string.h>

void hvt_state_to_slots(const struct hvt_vcpu_state *s, uint64_t slots[HVT_NSLOTS])
{
    memcpy(slots + HVT_SLOT_GPR, s->gpr, sizeof(s->gpr));
    slots[HVT_SLOT_RIP] = s->rip;
    slots[HVT_SLOT_RFLAGS] = s->rflags;
    for (int i = 0; i < 8; i++) {
        uint64_t *p = slots + HVT_SLOT_SEG + 4 * i;
        p[0] = s->seg[i].sel;
        p[1] = s->seg[i].attr;
        p[2] = s->seg[i].limit;
        p[3] = s->seg[i].base;
    }
    slots[HVT_SLOT_GDTR_BASE] = s->gdtr.base;
    slots[HVT_SLOT_GDTR_LIMIT] = s->gdtr.limit;
    slots[HVT_SLOT_IDTR_BASE] = s->idtr.base;
    slots[HVT_SLOT_IDTR_LIMIT] = s->idtr.limit;
    slots[HVT_SLOT_CR0] = s->cr0;
    slots[HVT_SLOT_CR2] = s->cr2;
    slots[HVT_SLOT_CR3] = s->cr3;
    slots[HVT_SLOT_CR4] = s->cr4;
    slots[HVT_SLOT_CR8] = s->cr8;
    slots[HVT_SLOT_EFER] = s->efer;
    slots[HVT_SLOT_XCR0] = s->xcr0;
    memcpy(slots + HVT_SLOT_PDPTE, s->pdpte, sizeof(s->pdpte));
    slots[HVT_SLOT_FLAGS] = s->flags;
    if (s->flags & HVT_STATE_SIMD_VALID) {
        slots[HVT_SLOT_MXCSR] = s->mxcsr;
        memcpy(slots + HVT_SLOT_YMM, s->ymm, sizeof(s->ymm)); /* little-endian host */
    } else {
        memset(slots + HVT_SLOT_SIMD, 0, (HVT_NSLOTS - HVT_SLOT_SIMD) * sizeof(uint64_t));
    }
}

int hvt_slots_to_state(const uint64_t slots[HVT_NSLOTS], struct hvt_vcpu_state *s)
{
    static const struct {
        uint8_t slot;
        uint8_t bits;
    } narrow[] = {
        {HVT_SLOT_GDTR_LIMIT, 32},
        {HVT_SLOT_IDTR_LIMIT, 32},
        {HVT_SLOT_FLAGS, 32},
        {HVT_SLOT_MXCSR, 32},
    };
    for (int i = 0; i < 8; i++) {
        const uint64_t *p = slots + HVT_SLOT_SEG + 4 * i;
        if (p[0] >> 16)
            return HVT_SLOT_SEG + 4 * i;
        if (p[1] >> 32)
            return HVT_SLOT_SEG + 4 * i + 1;
        if (p[2] >> 32)
            return HVT_SLOT_SEG + 4 * i + 2;
    }
    for (size_t i = 0; i < sizeof(narrow) / sizeof(narrow[0]); i++)
        if (slots[narrow[i].slot] >> narrow[i].bits)
            return narrow[i].slot;

    memcpy(s->gpr, slots + HVT_SLOT_GPR, sizeof(s->gpr));
    s->rip = slots[HVT_SLOT_RIP];
    s->rflags = slots[HVT_SLOT_RFLAGS];
    for (int i = 0; i < 8; i++) {
        const uint64_t *p = slots + HVT_SLOT_SEG + 4 * i;
        s->seg[i].sel = (uint16_t)p[0];
        s->seg[i].reserved = 0;
        s->seg[i].attr = (uint32_t)p[1];
        s->seg[i].limit = (uint32_t)p[2];
        s->seg[i].reserved2 = 0;
        s->seg[i].base = p[3];
    }
    s->gdtr.base = slots[HVT_SLOT_GDTR_BASE];
    s->gdtr.limit = (uint32_t)slots[HVT_SLOT_GDTR_LIMIT];
    s->gdtr.reserved = 0;
    s->idtr.base = slots[HVT_SLOT_IDTR_BASE];
    s->idtr.limit = (uint32_t)slots[HVT_SLOT_IDTR_LIMIT];
    s->idtr.reserved = 0;
    s->cr0 = slots[HVT_SLOT_CR0];
    s->cr2 = slots[HVT_SLOT_CR2];
    s->cr3 = slots[HVT_SLOT_CR3];
    s->cr4 = slots[HVT_SLOT_CR4];
    s->cr8 = slots[HVT_SLOT_CR8];
    s->efer = slots[HVT_SLOT_EFER];
    s->xcr0 = slots[HVT_SLOT_XCR0];
    memcpy(s->pdpte, slots + HVT_SLOT_PDPTE, sizeof(s->pdpte));
    s->flags = (uint32_t)slots[HVT_SLOT_FLAGS];
    if (s->flags & HVT_STATE_SIMD_VALID) {
        s->mxcsr = (uint32_t)slots[HVT_SLOT_MXCSR];
        memcpy(s->ymm, slots + HVT_SLOT_YMM, sizeof(s->ymm));
    } else {
        s->mxcsr = 0;
        memset(s->ymm, 0, sizeof(s->ymm));
    }
    return -1;
}
