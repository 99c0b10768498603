/* SPDX-License-Identifier: MIT */
/* Core services: the session behind struct hvt_svc (what the host binds for one emulation). */
#ifndef HVT_CORE_SERVICES_H
#define HVT_CORE_SERVICES_H

#include <stddef.h>

#include "emu.h"

/* The R/W/X part of a services intent (the same values as the MMU's). */
#define HVT_MMU_ACC_MASK_SVC 3u

struct hvt_svc {
    struct hvt_emu e; /* the MMU's context: state, ops, result, options */
};

/* Binds S to one emulation: the state the core emulates, the host's ops (the caller's
 * validated copy), the result the core returns, and the options (CPU profile) the MMU
 * follows (NULL: the default profile). */
void hvt_svc_bind(struct hvt_svc *s, struct hvt_vcpu_state *st, const struct hvt_core_ops *ops,
                  void *ctx, struct hvt_core_result *res, const struct hvt_ref_opts *opts);

/* The XSAVE (standard layout) image of ST into BUF (at least HVT_XSAVE_SIZE bytes): x87 in its
 * initial configuration, MXCSR and XMM0..15, and the YMM upper halves when ST has SIMD state;
 * *VALID gets the components filled. The reverse copies SSE and AVX back. */
void hvt_xsave_from_state(uint8_t *buf, size_t len, const struct hvt_vcpu_state *st,
                          uint64_t *valid);
void hvt_xsave_to_state(const uint8_t *buf, size_t len, struct hvt_vcpu_state *st);

#endif
