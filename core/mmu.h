/* SPDX-License-Identifier: MIT */
/* Reference core MMU: segmentation, paging walks with A/D updates, page-split memory access. */
#ifndef HVT_CORE_MMU_H
#define HVT_CORE_MMU_H

#include <stdint.h>

#include "emu.h"

/* Model notes (what the reference MMU does where the architecture leaves a choice):
 * - MAXPHYADDR is 52: no physical-address bit of an entry is reserved. Reserved bits that do
 *   give #PF(RSVD): XD when EFER.NXE = 0; PS in PML5Es/PML4Es; bits 29:13 of 1 GiB and 20:13
 *   of 2 MiB entries (bit 12 is PAT); PAE PDE/PTE bits 62:52; PAE PDPTE bits 63:52, 8:5, 2:1;
 *   bit 21 of a 4 MiB PDE. PSE-36 is modelled: 4 MiB PDE bits 20:13 are address bits 39:32.
 * - PAE PDPTEs come from st->pdpte[] (no op) when HVT_STATE_PDPTE_VALID is set and the option
 *   pdpte_reread is off. Otherwise the one PDPTE the translation needs is read from memory at
 *   (CR3 & ~0x1f) + 8 * index, tag HVT_TAG_WALK level HVT_WALK_PAE_PDPTE, on every
 *   translation. PDPTEs never get A/D updates. A not-present PDPTE gives #PF (P = 0); reserved
 *   bits in a PDPTE give #PF with RSVD (what a walk that reads PDPTEs does; Intel hardware
 *   would have refused the CR3 load with #GP, so such a register never occurs there).
 * - A/D bits are set only after the whole walk and the permission checks succeeded, top to
 *   bottom, one locked cmpxchg per entry lacking A (the leaf: A and D together for writes).
 *   A cmpxchg that finds the entry changed restarts the walk (reads again); after 8 walks in a
 *   row lose that race the access ends UNHANDLEABLE ("mmu: paging entries kept changing").
 *   A page-split operand translates (and A/D-updates) its first page before walking the
 *   second, so a fault on the second page leaves page 1's A/D updates in place, no data op.
 * - Protection keys (CR4.PKE) and shadow stacks are not modelled (no PK bit, ever).
 * - Order of checks in hvt_mmu_map: segmentation, then #AC, then paging (page 1, page 2).
 * - Outside 64-bit mode linear addresses wrap at 32 bits; segment limits are checked on the
 *   untruncated offset + size - 1, so an access running past offset 0xffffffff faults.
 *   Descriptor-table limit faults are #GP(0): an executor that needs #GP(selector) or #TS
 *   checks the limit itself first.
 * - Caller bugs (NULL pointers, bad segment, size or intent, a bad xlat) end the pass
 *   UNHANDLEABLE with e->res->detail = "mmu: <function>: <what>".
 * - Read-modify-write operands: map once with HVT_MMU_W (one walk that checks write rights and
 *   sets D), then hvt_mmu_read + hvt_mmu_write (or hvt_mmu_cmpxchg when locked) on that xlat.
 */

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
 * ALIGN_CHECK is set: 1 = natural alignment (the largest power of two <= SIZE), a larger value
 * = that alignment in bytes (a power of two). Never for fetches or HVT_MMU_IMPLICIT accesses.
 * SIZE is 1..4096; hvt_mmu_read/write issue pieces longer than HVT_DATA_MAX as several op
 * calls (only page pieces are flagged HVT_OPF_SPLIT). */
int hvt_mmu_map(struct hvt_emu *e, unsigned seg, uint64_t off, uint32_t size, unsigned intent,
                int align_check, struct hvt_mmu_xlat *x);

/* Data accesses on a mapped operand: one op call per piece, tagged TAG (kind READ / WRITE),
 * with the linear address, segment and HVT_OPF_LOCKED when e->locked. Return HVT_OUT_OKAY or
 * the outcome the op forced (RETRY, UNHANDLEABLE). */
int hvt_mmu_read(struct hvt_emu *e, const struct hvt_mmu_xlat *x, void *buf, struct hvt_tag tag);
int hvt_mmu_write(struct hvt_emu *e, const struct hvt_mmu_xlat *x, const void *buf,
                  struct hvt_tag tag);
/* Locked compare-exchange on a mapped operand (one piece only; a split locked operand is
 * UNHANDLEABLE, as in Xen). *OLD receives the current value on failure; *SUCCESS says which.
 * The op always carries HVT_OPF_LOCKED (a cmpxchg is atomic: XCHG's implicit lock too). */
int hvt_mmu_cmpxchg(struct hvt_emu *e, const struct hvt_mmu_xlat *x, void *old, const void *new_,
                    int *success, struct hvt_tag tag);

/* Instruction fetch: exactly LEN bytes at CS:(RIP + OFF) (address-size wrap per mode), checked
 * as an X access (segment limit, paging with the instruction-fetch error-code bit when NX or
 * SMEP apply), kind FETCH, tag HVT_TAG_FETCH, one op per page piece. The executor fetches up to
 * the end of the first page first and asks for the rest only when the decoder needs it, so an
 * instruction that ends before a page boundary never touches the next page. LEN is
 * 1..HVT_DATA_MAX; when one call crosses a page, both pages are translated before any fetch
 * op. RIP + OFF wraps at 16 bits in 16-bit code and at 32 bits in 32-bit code. */
int hvt_mmu_fetch(struct hvt_emu *e, uint64_t off, uint8_t *buf, uint32_t len);

#endif
