/* SPDX-License-Identifier: MIT */
/* hvtrace common: system error texts that name the cause. */
#include "common/syserr.h"

#include <stdio.h>
#include <string.h>

const char *hvt_syserr(int err, char *buf, size_t size)
{
    const char *name = strerrorname_np(err);
    if (name)
        snprintf(buf, size, "%s (%s)", strerror(err), name);
    else
        snprintf(buf, size, "%s (errno %d)", strerror(err), err);
    return buf;
}
