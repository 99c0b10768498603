/* SPDX-License-Identifier: MIT */
/* hvtrace: run-time library version. */
#include "hvtrace/version.h"

const char *hvt_version(void)
{
    return HVT_VERSION_STRING;
}
