/* SPDX-License-Identifier: MIT */
/* Reference core as a loadable plugin: the one exported symbol, HVT_CORE_ENTRY_SYMBOL. */
#include "hvtrace/core.h"

/* The plugin target builds with -fvisibility=hidden: this is the only symbol it exports. */
__attribute__((visibility("default"))) const struct hvt_core_plugin *
hvt_core_entry(uint32_t abi_version);

const struct hvt_core_plugin *hvt_core_entry(uint32_t abi_version)
{
    return abi_version == HVT_CORE_ABI_VERSION ? hvt_core_ref() : NULL;
}
