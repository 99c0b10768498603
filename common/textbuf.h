/* SPDX-License-Identifier: MIT */
/* hvtrace common: appending formatted text to a fixed, NUL-terminated buffer. */
#ifndef HVT_COMMON_TEXTBUF_H
#define HVT_COMMON_TEXTBUF_H

#include <stddef.h>

/* Appends the formatted text to the string in BUF (LEN bytes in all), after SEP when BUF is
 * not empty (SEP may be NULL). Truncates at LEN - 1; a NULL BUF or 0 LEN does nothing. */
void hvt_text_append(char *buf, size_t len, const char *sep, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#endif
