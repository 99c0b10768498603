/* SPDX-License-Identifier: MIT */
/* hvtrace CLI: helpers shared by the command files. */
#include "util.h"

#include "hvtrace/error.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>


void hvt_tool_err(const char *fmt, ...)
{
    va_list ap;
    fputs("hvtrace: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

int hvt_tool_parse_u64(const char *s, uint64_t *out)
{
    char *end = NULL;
    unsigned long long v;
    if (!s || !*s || *s == '-' || *s == '+' || *s == ' ')
        return -1;
    int hex = s[0] == '0' && (s[1] == 'x' || s[1] == 'X');
    if (hex && !isxdigit((unsigned char)s[2]))
        return -1;
    errno = 0;
    v = strtoull(hex ? s + 2 : s, &end, hex ? 16 : 10);
    if (errno || !end || *end || end == s)
        return -1;
    *out = v;
    return 0;
}

int hvt_tool_parse_range(const char *s, uint64_t *a, uint64_t *b)
{
    const char *dots;
    char buf[64];
    if (!s)
        return -1;
    dots = strstr(s, "..");
    if (!dots) {
        if (hvt_tool_parse_u64(s, a))
            return -1;
        *b = *a;
        return 0;
    }
    if ((size_t)(dots - s) >= sizeof(buf))
        return -1;
    memcpy(buf, s, (size_t)(dots - s));
    buf[dots - s] = 0;
    *a = 0;
    *b = UINT64_MAX;
    if (buf[0] && hvt_tool_parse_u64(buf, a))
        return -1;
    if (dots[2] && hvt_tool_parse_u64(dots + 2, b))
        return -1;
    return *a <= *b ? 0 : -1;
}

int hvt_tool_wants_help(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--"))
            break;
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help"))
            return 1;
    }
    return 0;
}

int hvt_tool_check_path(const char *cmd, const char *what, const char *path)
{
    if (path && *path)
        return 0;
    hvt_tool_err("%s: empty %s path", cmd, what);
    return -1;
}

int hvt_tool_write_exit(int rc)
{
    if (rc == -HVT_E_EXISTS || rc == -HVT_E_SAME_FILE || rc == -HVT_E_INVALID)
        return HVT_EXIT_USAGE;
    return HVT_EXIT_WRITE;
}
