/* SPDX-License-Identifier: MIT */
/* Reference core MMU: segmentation, paging walks with A/D updates, page-split memory access. */
#ifndef HVT_CORE_MMU_H
#define HVT_CORE_MMU_H

#include <stdint.h>

#include "emu.h"

/* Access intent. */
#define HVT_MMU_R 0u /* data read */
#define HVT_MMU_W 1u /* data write, or read-modify-write (checks and sets as a write) */
#define HVT_MMU_X 2u /* instruction fetch */
/* Flags or'ed into the intent. */
#define HVT_MMU_IMPLICIT (1u << 4) /* implicit supervisor access (descriptor tables): treated as
                                      CPL 0 for U/S, SMAP applies regardless of RFLAGS.AC */
#define HVT_MMU_STACK (1u << 5)    /* stack access: limit/type faults are #SS, not #GP */

/* A translated operand: up to two physical pieces (an access that crosses a page boundary). */
struct hvt_mmu_xlat {
    uint64_t la;       /* linear address of the first byte */
    unsigned seg;      /* enum hvt_seg the operand was addressed through (for op info) */
    uint32_t size;     /* total bytes */
    unsigned n;        /* 1 or 2 pieces */
    uint64_t gpa[2];
    uint32_t len[2];
};

/* Segmentation: linear address of SEG:OFF for SIZE bytes with INTENT checks (64-bit: FS/GS
 * base, canonical check -> #GP(0) or #SS(0); protected mode: present, type, limit (expand-down
 * too) -> #GP(0)/#SS(0)). Address-size truncation of OFF is the caller's job.
 * Returns HVT_OUT_OKAY or HVT_OUT_EXCEPTION. */
int hvt_mmu_linear(struct hvt_emu *e, unsigned seg, uint64_t off, uint32_t size, unsigned intent,
                   uint64_t *la);

/* Paging: translates one linear address for INTENT. With paging off, gpa = la. Each entry read
 * is a tagged read op (HVT_TAG_WALK, level); on success, accessed bits (and the dirty bit of
 * the leaf for writes) not yet set are set with one locked cmpxchg per entry (HVT_TAG_AD,
 * level), after the walk succeeded. Faults: #PF with the exact error code, CR2 = LA.
 * Returns HVT_OUT_OKAY, HVT_OUT_EXCEPTION, HVT_OUT_RETRY or HVT_OUT_UNHANDLEABLE (an op said
 * so). */
int hvt_mmu_translate(struct hvt_emu *e, uint64_t la, unsigned intent, uint64_t *gpa);

/* Segmentation + translation of every page the operand touches (both pieces are translated
 * before any data access is made, so a fault on the second page leaves memory untouched).
 * Alignment check (#AC) when CPL 3, CR0.AM and RFLAGS.AC and the access is misaligned and
 * ALIGN_CHECK is set. */
int hvt_mmu_map(struct hvt_emu *e, unsigned seg, uint64_t off, uint32_t size, unsigned intent,
                int align_check, struct hvt_mmu_xlat *x);

/* Data accesses on a mapped operand: one op call per piece, tagged TAG (kind READ / WRITE),
 * with the linear address, segment and HVT_OPF_LOCKED when e->locked. Return HVT_OUT_OKAY or
 * the outcome the op forced (RETRY, UNHANDLEABLE). */
int hvt_mmu_read(struct hvt_emu *e, const struct hvt_mmu_xlat *x, void *buf, struct hvt_tag tag);
int hvt_mmu_write(struct hvt_emu *e, const struct hvt_mmu_xlat *x, const void *buf,
                  struct hvt_tag tag);
/* Locked compare-exchange on a mapped operand (one piece only; a split locked operand is
 * UNHANDLEABLE, as in Xen). *OLD receives the current value on failure; *SUCCESS says which. */
int hvt_mmu_cmpxchg(struct hvt_emu *e, const struct hvt_mmu_xlat *x, void *old, const void *new_,
                    int *success, struct hvt_tag tag);

/* Instruction fetch: exactly LEN bytes at CS:(RIP + OFF) (address-size wrap per mode), checked
 * as an X access (segment limit, paging with the instruction-fetch error-code bit when NX or
 * SMEP apply), kind FETCH, tag HVT_TAG_FETCH, one op per page piece. The executor fetches up to
 * the end of the first page first and asks for the rest only when the decoder needs it, so an
 * instruction that ends before a page boundary never touches the next page. */
int hvt_mmu_fetch(struct hvt_emu *e, uint64_t off, uint8_t *buf, uint32_t len);

#endif
