/* SPDX-License-Identifier: MIT */
/* Reference core: the plugin descriptor (instances, options, emulate) it is built and loaded as. */
#include <stdlib.h>
#include <string.h>

#include "hvtrace/version.h"
#include "common/cpu_state.h"
#include "ref.h"

/* Mutated builds of the same sources (hvt_add_core_plugin) may rename themselves. */
#ifndef HVT_CORE_NAME
#define HVT_CORE_NAME "hvtrace-ref"
#endif
#ifndef HVT_CORE_BUILD_ID
#define HVT_CORE_BUILD_ID "ref-" HVT_VERSION_STRING
#endif

static int ref_create(void **inst)
{
    struct hvt_ref_core *c;
    if (!inst)
        return -HVT_E_INVALID;
    *inst = NULL;
    c = calloc(1, sizeof(*c));
    if (!c)
        return -HVT_E_NOMEM;
    c->dec = hvt_dec_new(HVT_REF_CACHE_ENTRIES);
    if (!c->dec) {
        free(c);
        return -HVT_E_NOMEM;
    }
    c->opts.decode_cache = 1;
    hvt_cpu_profile_default(&c->opts.cpu);
    hvt_cpu_state_forbidden(&c->opts.cpu, &c->opts.cr4_forbid, &c->opts.efer_forbid);
    *inst = c;
    return 0;
}

static void ref_destroy(void *inst)
{
    struct hvt_ref_core *c = inst;
    if (!c)
        return;
    hvt_dec_free(c->dec);
    free(c);
}

/* "0"/"1" -> 0/1; -1 for anything else. */
static int bool_value(const char *v)
{
    if (!strcmp(v, "0"))
        return 0;
    if (!strcmp(v, "1"))
        return 1;
    return -1;
}

static int ref_set_option(void *inst, const char *key, const char *value)
{
    struct hvt_ref_core *c = inst;
    int b;
    if (!c || !key || !value)
        return -HVT_E_INVALID;
    if (!strcmp(key, "pdpte-reread")) {
        if ((b = bool_value(value)) < 0)
            return -HVT_E_INVALID;
        c->opts.pdpte_reread = b;
        return 0;
    }
    if (!strcmp(key, "decode-cache")) {
        if ((b = bool_value(value)) < 0)
            return -HVT_E_INVALID;
        c->opts.decode_cache = b;
        hvt_dec_set_cache(c->dec, b);
        return 0;
    }
    if (!strcmp(key, "gather-partial")) {
        if (!strcmp(value, "keep"))
            c->opts.gather_discard = 0;
        else if (!strcmp(value, "discard"))
            c->opts.gather_discard = 1;
        else
            return -HVT_E_INVALID;
        return 0;
    }
    if (!strcmp(key, "cpu")) {
        /* the text form of a CPU profile (hvt_cpu_profile_format), or a built-in's name;
         * tokens this build does not know are the caller's to warn about */
        struct hvt_cpu_profile p;
        if (hvt_cpu_profile_parse(&p, value, NULL, 0) < 0)
            return -HVT_E_INVALID;
        c->opts.cpu = p;
        hvt_cpu_state_forbidden(&p, &c->opts.cr4_forbid, &c->opts.efer_forbid);
        return 0;
    }
    return -HVT_E_UNSUPPORTED;
}

static int ref_emulate(void *inst, struct hvt_vcpu_state *state, const struct hvt_core_ops *ops,
                       void *ctx, struct hvt_core_result *res)
{
    return hvt_ref_emulate(inst, state, ops, ctx, res);
}

/* Version 2: the same emulation, plus what the instruction leaves for the next one. */
static int ref_emulate2(void *inst, struct hvt_vcpu_state *state, struct hvt_core_env *env,
                        const struct hvt_core_ops *ops, void *ctx, struct hvt_core_result *res)
{
    uint64_t rflags0 = state ? state->rflags : 0;
    int rc;
    (void)env; /* the reference core reads its registers from STATE and walks with its MMU */
    rc = hvt_ref_emulate(inst, state, ops, ctx, res);
    if (rc == 0 && res->out.kind == HVT_OUT_OKAY)
        res->retire = hvt_ref_retire(res, rflags0, state->rflags);
    return rc;
}

static const struct hvt_core_plugin ref_plugin = {
    .abi_version = HVT_CORE_ABI_VERSION,
    .size = sizeof(struct hvt_core_plugin),
    .name = HVT_CORE_NAME,
    .version = HVT_VERSION_STRING,
    .build_id = HVT_CORE_BUILD_ID,
    .create = ref_create,
    .destroy = ref_destroy,
    .set_option = ref_set_option,
    .emulate = ref_emulate,
    .flags = HVT_COREF_NO_ENV, /* its own MMU, its registers from the state */
    .emulate2 = ref_emulate2,
};

const struct hvt_core_plugin *hvt_core_ref(void)
{
    return &ref_plugin;
}

/* Legacy prefixes and REX (the retire flags look at the opcode after them). */
static const uint8_t retire_prefix[256] = {
    [0x26] = 1, [0x2e] = 1, [0x36] = 1, [0x3e] = 1, [0x64] = 1, [0x65] = 1, [0x66] = 1,
    [0x67] = 1, [0xf0] = 1, [0xf2] = 1, [0xf3] = 1, [0x40] = 1, [0x41] = 1, [0x42] = 1,
    [0x43] = 1, [0x44] = 1, [0x45] = 1, [0x46] = 1, [0x47] = 1, [0x48] = 1, [0x49] = 1,
    [0x4a] = 1, [0x4b] = 1, [0x4c] = 1, [0x4d] = 1, [0x4e] = 1, [0x4f] = 1,
};

uint32_t hvt_ref_retire(const struct hvt_core_result *res, uint64_t rflags0, uint64_t rflags1)
{
    uint32_t r = 0;
    unsigned i = 0;
    while (i < res->insn_len && retire_prefix[res->insn[i]])
        i++;
    if (i < res->insn_len) {
        uint8_t op = res->insn[i];
        if (op == 0xfb && !(rflags0 & HVT_RFLAGS_IF) && (rflags1 & HVT_RFLAGS_IF))
            r |= HVT_RETIRE_STI_SHADOW;
        else if (op == 0x17 || (op == 0x8e && i + 1 < res->insn_len &&
                                ((res->insn[i + 1] >> 3) & 7) == HVT_SEG_SS))
            r |= HVT_RETIRE_MOV_SS_SHADOW;
        else if (op == 0xf4)
            r |= HVT_RETIRE_HLT;
    }
    /* TF at the start of the instruction traps after it (a POPF that sets TF does not) */
    if (rflags0 & HVT_RFLAGS_TF)
        r |= HVT_RETIRE_SINGLESTEP;
    return r;
}

void hvt_ref_dec_stats(void *inst, struct hvt_dec_stats *out)
{
    struct hvt_ref_core *c = inst;
    hvt_dec_stats(c->dec, out);
}
