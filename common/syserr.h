/* SPDX-License-Identifier: MIT */
/* hvtrace common: system error texts that name the cause ("Read-only file system (EROFS)"). */
#ifndef HVT_COMMON_SYSERR_H
#define HVT_COMMON_SYSERR_H

#include <stddef.h>

/* strerror(ERR) followed by the errno name in parentheses, into BUF; returns BUF. */
const char *hvt_syserr(int err, char *buf, size_t size);

#endif
