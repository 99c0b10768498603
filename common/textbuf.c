/* SPDX-License-Identifier: MIT */
/* hvtrace common: appending formatted text to a fixed, NUL-terminated buffer. */
#include "common/textbuf.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

void hvt_text_append(char *buf, size_t len, const char *sep, const char *fmt, ...)
{
    size_t o;
    va_list ap;
    if (!buf || !len)
        return;
    o = strnlen(buf, len - 1);
    if (o && sep) {
        int n = snprintf(buf + o, len - o, "%s", sep);
        if (n < 0 || (size_t)n >= len - o) {
            buf[len - 1] = 0;
            return;
        }
        o += (size_t)n;
    }
    va_start(ap, fmt);
    vsnprintf(buf + o, len - o, fmt, ap);
    va_end(ap);
}
