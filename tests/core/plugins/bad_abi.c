/* SPDX-License-Identifier: MIT */
/* Test plugin: an entry that answers with a descriptor of another ABI version. */
#include "hvtrace/core.h"

static int create(void **inst)
{
    *inst = 0;
    return 0;
}
static void destroy(void *inst)
{
}
static int set_option(void *inst, const char *k, const char *v)
{
    return -HVT_E_UNSUPPORTED;
}
static int emulate(void *inst, struct hvt_vcpu_state *s, const struct hvt_core_ops *o, void *c,
                   struct hvt_core_result *r)
{
    return -HVT_E_INVALID;
}

static const struct hvt_core_plugin desc = {
    HVT_CORE_ABI_VERSION + 99,
    sizeof(struct hvt_core_plugin),
    "bad-abi",
    "0",
    "0",
    create,
    destroy,
    set_option,
    emulate,
    0,
    0,
    NULL,
};

const struct hvt_core_plugin *hvt_core_entry(uint32_t abi_version);
const struct hvt_core_plugin *hvt_core_entry(uint32_t abi_version)
{
    return &desc;
}
