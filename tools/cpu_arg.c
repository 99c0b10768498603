/* SPDX-License-Identifier: MIT */
/* hvtrace CLI: the `--cpu NAME|host|TEXT` argument of record, replay and check-core. */
#include <stdio.h>
#include <string.h>

#include "hvtrace/cpu.h"
#include "hvtrace/error.h"
#include "hvtrace/oracle.h"
#include "util.h"

int hvt_tool_cpu(const char *who, const char *arg, struct hvt_cpu_profile *out)
{
    char warn[512];
    int rc;
    if (!strcmp(arg, "host")) {
        char report[2048];
        rc = hvt_orc_cpu_host(out, report, sizeof(report));
        if (rc < 0) {
            hvt_tool_err("%s: --cpu host: %s", who, hvt_strerror(rc));
            return -1;
        }
        if (rc > 0)
            fprintf(stderr,
                    "hvtrace: %s: warning: --cpu host: %d probe(s) matched no known "
                    "alternative (the vendor's default is used):\n%s",
                    who, rc, report);
        return 0;
    }
    rc = hvt_cpu_profile_parse(out, arg, warn, sizeof(warn));
    if (rc < 0) {
        hvt_tool_err("%s: --cpu: %s (see --cpu list)", who, warn[0] ? warn : hvt_strerror(rc));
        return -1;
    }
    if (rc > 0)
        fprintf(stderr, "hvtrace: %s: warning: --cpu: %s\n", who, warn);
    if (!out->name[0])
        snprintf(out->name, sizeof(out->name), "custom");
    return 0;
}

void hvt_tool_cpu_list(FILE *f)
{
    const char *n;
    for (size_t i = 0; (n = hvt_cpu_profile_builtin(i)); i++)
        fprintf(f, "%-22s %s\n", n, hvt_cpu_profile_builtin_summary(i));
    fprintf(f, "%-22s %s\n", "host", "this machine: CPUID, and each choice probed natively");
}
