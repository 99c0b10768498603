/* SPDX-License-Identifier: MIT */
/* Reference core: the instance behind the plugin descriptor (options, decoder) and its entry. */
#ifndef HVT_CORE_REF_H
#define HVT_CORE_REF_H

#include "decode.h"
#include "emu.h"

/* Decoded-instruction cache slots per instance. */
#define HVT_REF_CACHE_ENTRIES 4096

struct hvt_ref_core {
    struct hvt_ref_opts opts;
    struct hvt_decoder *dec;
};

/* Emulates one instruction (the plugin's emulate entry; see struct hvt_core_plugin).
 * Returns 0 with the outcome in RES, or -HVT_E_INVALID for bad arguments. */
int hvt_ref_emulate(struct hvt_ref_core *core, struct hvt_vcpu_state *state,
                    const struct hvt_core_ops *ops, void *ctx, struct hvt_core_result *res);

/* The retire flags (HVT_RETIRE_*) of an instruction that completed with RES, RFLAGS0 before
 * it and RFLAGS1 after it. */
uint32_t hvt_ref_retire(const struct hvt_core_result *res, uint64_t rflags0, uint64_t rflags1);

/* Decode-cache statistics of an instance made by hvt_core_ref()->create (tests, benches). */
void hvt_ref_dec_stats(void *inst, struct hvt_dec_stats *out);

#endif
