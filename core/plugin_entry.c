/* SPDX-License-Identifier: MIT */
/* Reference core as a loadable plugin: the one exported symbol, HVT_CORE_ENTRY_SYMBOL. */
#include <string.h>

#include "hvtrace/core.h"

/* The plugin target builds with -fvisibility=hidden: this is the only symbol it exports. */
__attribute__((visibility("default"))) const struct hvt_core_plugin *
hvt_core_entry(uint32_t abi_version);

#ifdef HVT_CORE_PLUGIN_V1
/* Tests of the host's version negotiation: the same core, offering only a version-1
 * descriptor (no emulate2, the version-1 size), as a plugin built before version 2 does. */
const struct hvt_core_plugin *hvt_core_entry(uint32_t abi_version)
{
    static struct hvt_core_plugin v1;
    if (abi_version != 1)
        return NULL;
    memcpy(&v1, hvt_core_ref(), HVT_CORE_PLUGIN_SIZE_V1);
    v1.abi_version = 1;
    v1.size = HVT_CORE_PLUGIN_SIZE_V1;
    return &v1;
}
#else
const struct hvt_core_plugin *hvt_core_entry(uint32_t abi_version)
{
    return abi_version == HVT_CORE_ABI_VERSION ? hvt_core_ref() : NULL;
}
#endif
