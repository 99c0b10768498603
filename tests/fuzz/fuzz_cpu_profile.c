/* SPDX-License-Identifier: MIT */
/* Fuzz target for the CPU profile's text form, which traces from strangers carry in their
 * header and which the core takes as its "cpu" option. Whatever the text: parsing ends with a
 * profile or an error and a message; a parsed profile formats, and its text parses back to the
 * same profile without warnings; the header path and the state check accept it. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "hvtrace/cpu.h"
#include "hvtrace/format.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char text[HVT_CPU_TEXT_MAX + 64], warn[512], out[HVT_CPU_TEXT_MAX];
    struct hvt_cpu_profile p, q;
    struct hvt_fmt_header h;
    struct hvt_vcpu_state st;
    size_t n = size < sizeof(text) - 1 ? size : sizeof(text) - 1;
    int rc;

    memcpy(text, data, n);
    text[n] = 0;
    rc = hvt_cpu_profile_parse(&p, text, warn, sizeof(warn));
    if (memchr(warn, 0, sizeof(warn)) == NULL)
        abort();
    if (rc < 0 && !warn[0] && rc != -HVT_E_INVALID)
        abort(); /* an error says which token */
    if (rc >= 0) {
        int len = hvt_cpu_profile_format(&p, out, sizeof(out));
        if (len < 0 || (size_t)len != strlen(out))
            abort();
        if (hvt_cpu_profile_parse(&q, out, warn, sizeof(warn)) != 0)
            abort();
        /* the name and vendor are written as "?" when they would not parse back */
        if (!hvt_cpu_profile_equal(&p, &q) && strcmp(q.vendor, "?"))
            abort();
        memset(&st, 0, sizeof(st));
        if (size >= 16) {
            memcpy(&st.cr4, data, 8);
            memcpy(&st.efer, data + 8, 8);
        }
        if (hvt_cpu_profile_check_state(&p, &st, warn, sizeof(warn)) < 0)
            abort();
    }
    memset(&h, 0, sizeof(h));
    h.cpu_profile = text;
    rc = hvt_fmt_header_cpu(&h, &q, warn, sizeof(warn));
    if (rc < HVT_FMT_CPU_RECORDED || rc > HVT_FMT_CPU_UNREADABLE)
        abort();
    return 0;
}
