/* SPDX-License-Identifier: MIT */
/* Trace format: the header's CPU fields to and from a CPU profile. */
#include <stdio.h>
#include <string.h>

#include "hvtrace/format.h"

int hvt_fmt_header_set_cpu(struct hvt_fmt_header *hdr, const struct hvt_cpu_profile *p,
                           struct hvt_fmt_cpu_strings *s)
{
    int rc;
    if (!hdr || !p || !s)
        return -HVT_E_INVALID;
    snprintf(s->vendor, sizeof(s->vendor), "%s", p->vendor);
    if ((rc = hvt_cpu_profile_features_text(p, s->features, sizeof(s->features))) < 0 ||
        (rc = hvt_cpu_profile_format(p, s->profile, sizeof(s->profile))) < 0)
        return rc;
    hdr->cpu_vendor = s->vendor;
    hdr->cpu_family = p->family;
    hdr->cpu_model = p->model;
    hdr->cpu_stepping = p->stepping;
    hdr->cpu_features = s->features;
    hdr->cpu_profile = s->profile;
    return 0;
}

int hvt_fmt_header_cpu(const struct hvt_fmt_header *hdr, struct hvt_cpu_profile *out, char *warn,
                       size_t len)
{
    int rc;
    if (warn && len)
        warn[0] = 0;
    if (!hdr || !out)
        return -HVT_E_INVALID;
    if (!hdr->cpu_profile || !hdr->cpu_profile[0]) {
        hvt_cpu_profile_default(out);
        if (warn && len)
            snprintf(warn, len, "the trace records no CPU profile (format %u.%u): using %s",
                     hdr->format_major, hdr->format_minor, HVT_CPU_DEFAULT);
        return HVT_FMT_CPU_DEFAULT;
    }
    rc = hvt_cpu_profile_parse(out, hdr->cpu_profile, warn, len);
    if (rc < 0) {
        char why[256];
        snprintf(why, sizeof(why), "%s", warn && len ? warn : hvt_strerror(rc));
        hvt_cpu_profile_default(out);
        if (warn && len)
            snprintf(warn, len, "the trace's CPU profile does not parse (%s): using %s", why,
                     HVT_CPU_DEFAULT);
        return HVT_FMT_CPU_UNREADABLE;
    }
    if (!out->name[0])
        snprintf(out->name, sizeof(out->name), "recorded");
    return rc > 0 ? HVT_FMT_CPU_PARTIAL : HVT_FMT_CPU_RECORDED;
}
