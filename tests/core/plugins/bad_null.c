/* SPDX-License-Identifier: MIT */
/* Test plugin: an entry that implements no ABI version the host asks for. */
#include "hvtrace/core.h"

const struct hvt_core_plugin *hvt_core_entry(uint32_t abi_version);
const struct hvt_core_plugin *hvt_core_entry(uint32_t abi_version)
{
    return 0;
}
