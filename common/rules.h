/* SPDX-License-Identifier: MIT */
/* hvtrace common: the rules every recorded access and pass outcome follows (checked calls). */
#ifndef HVT_COMMON_RULES_H
#define HVT_COMMON_RULES_H

#include <stddef.h>
#include <stdint.h>

#include "hvtrace/types.h"

/* Every access flag there is. */
#define HVT_AF_ALL (HVT_AF_LINEAR_VALID | HVT_AF_LOCKED | HVT_AF_SPLIT | HVT_AF_RECONSTRUCTED)
/* Highest port number (port I/O addresses are 16-bit). */
#define HVT_PORT_MAX 0xffffu

/* 1 when an access with these fields follows the rules of docs/INTEGRATION.md ("Tag rules"),
 * 0 when it cannot be right. Branch-free, for the recording hot path; hvt_access_explain says
 * which rule failed. The rules:
 *   - every enum field in range, size 1..HVT_DATA_MAX, only HVT_AF_* flags, tag.reserved 0;
 *   - WALK: kind read, level 1..5 or HVT_WALK_PAE_PDPTE; AD: kind cmpxchg or write, level
 *     1..5; every other class: level 0;
 *   - io-in/io-out <=> tag class IO <=> space PORT, and the port is at most 0xffff;
 *   - fetch <=> tag class FETCH;
 *   - outcome cmpxchg-failed only on a cmpxchg. */
static inline int hvt_access_ok(unsigned kind, unsigned space, unsigned seg, unsigned outcome,
                                const struct hvt_tag *tag, uint32_t flags, uint64_t phys,
                                uint32_t size)
{
    unsigned cls = tag->cls, level = tag->level;
    unsigned is_io = (kind == HVT_ACC_IO_IN) | (kind == HVT_ACC_IO_OUT);
    unsigned bad = (kind >= HVT_ACC__COUNT) | (space >= HVT_SPACE__COUNT) |
                   ((seg > HVT_SEG_IDTR) & (seg != HVT_SEG_NONE)) | (outcome >= HVT_OP__COUNT) |
                   (cls >= HVT_TAG__COUNT) | (size - 1u >= HVT_DATA_MAX) |
                   ((flags & ~HVT_AF_ALL) != 0) | (tag->reserved != 0);
    bad |= (cls == HVT_TAG_WALK) ? ((level - 1u >= HVT_WALK_PAE_PDPTE) | (kind != HVT_ACC_READ))
           : (cls == HVT_TAG_AD)
               ? ((level - 1u >= 5u) | ((kind != HVT_ACC_CMPXCHG) & (kind != HVT_ACC_WRITE)))
               : (level != 0);
    bad |= (is_io != (cls == HVT_TAG_IO)) | (is_io != (space == HVT_SPACE_PORT)) |
           (is_io & (phys > HVT_PORT_MAX));
    bad |= ((kind == HVT_ACC_FETCH) != (cls == HVT_TAG_FETCH)) |
           ((outcome == HVT_OP_CMPXCHG_FAILED) & (kind != HVT_ACC_CMPXCHG));
    return !bad;
}

/* 0 when A follows the rules above; else -HVT_E_INVALID with the first broken rule in MSG
 * ("walk level 9 (walk levels are 1..5 or 6, the PAE PDPTE)"). MSG may be NULL. */
int hvt_access_explain(const struct hvt_access *a, char *msg, size_t len);

/* 0 when OUT is a pass outcome that can be right; else -HVT_E_INVALID and why in MSG: kind
 * and retry cause in range, a retry cause only with RETRY, a vector (< 32) and
 * HVT_PO_HAS_ERROR_CODE only with EXCEPTION, no unknown flags, reserved 0. */
int hvt_outcome_explain(const struct hvt_pass_outcome *out, char *msg, size_t len);

#endif
