/* SPDX-License-Identifier: MIT */
/* Simulated host: one-call recording of a scenario (trace header, recorder, run, figures). */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "hvtrace/version.h"
#include "host_int.h"

static void set_err(char *errbuf, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void set_err(char *errbuf, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    if (!errbuf || !errlen)
        return;
    va_start(ap, fmt);
    vsnprintf(errbuf, errlen, fmt, ap);
    va_end(ap);
}

int hvt_host_record(const char *path, const struct hvt_host_options *opt, struct hvt_host_stats *st,
                    char *errbuf, size_t errlen)
{
    struct hvt_host *h = NULL;
    struct hvt_rec *rec = NULL;
    struct hvt_fmt_header hdr;
    struct hvt_fmt_cpu_strings cpu_strs;
    struct hvt_rec_options ro;
    struct hvt_rec_stats rs;
    const struct hvt_core_plugin *ci;
    struct stat sb;
    int rc, rc2;

    if (errbuf && errlen)
        errbuf[0] = 0;
    if (!path || !path[0]) {
        set_err(errbuf, errlen, "no output path");
        return -HVT_E_INVALID;
    }
    if (st && st->size < HVT_HOST_STATS_SIZE_V1) {
        set_err(errbuf, errlen, "statistics smaller than their first version");
        return -HVT_E_INVALID;
    }
    rc = hvt_host_create(&h, opt, errbuf, errlen);
    if (rc < 0)
        return rc;

    memset(&hdr, 0, sizeof(hdr));
    hdr.producer = "hvtrace-sim";
    hdr.producer_version = hvt_version();
    hdr.hypervisor = "hvtrace-sim";
    hdr.hypervisor_version = HVT_VERSION_STRING;
    rc = hvt_fmt_header_set_cpu(&hdr, hvt_host_cpu(h), &cpu_strs);
    if (rc < 0) {
        set_err(errbuf, errlen, "CPU profile for the trace header: %s", hvt_strerror(rc));
        hvt_host_destroy(h);
        return rc;
    }
    ci = hvt_core_info(h->vcpus[0].core);
    if (ci) {
        hdr.core_name = ci->name;
        hdr.core_version = ci->version;
        hdr.core_build_id = ci->build_id;
    }
    hdr.options = hvt_host_header_options(h, &hdr.n_options);

    hvt_rec_options_init(&ro);
    ro.n_vcpus = h->n_vcpus;
    ro.max_vcpus = h->n_vcpus;
    ro.callsite_depth = opt->callsite_depth;
    if (opt->flags & HVT_HOST_OVERWRITE)
        ro.flags |= HVT_REC_OVERWRITE;
    if (opt->flags & HVT_HOST_FOLLOW)
        ro.flags |= HVT_REC_FOLLOW;
    if (!h->threads)
        ro.flags |= HVT_REC_NO_TIME; /* reruns with the same seed compare equal */
    rc = hvt_rec_open(&rec, path, &hdr, &ro);
    if (rc < 0) {
        const struct hvt_fmt_error_info *oe = hvt_fmt_writer_last_error();
        if (oe->code == rc && oe->message[0])
            set_err(errbuf, errlen, "%s%s", oe->message,
                    rc == -HVT_E_EXISTS ? " (use -f to overwrite)" : "");
        else
            set_err(errbuf, errlen, "%s: %s%s", path, hvt_strerror(rc),
                    rc == -HVT_E_EXISTS ? " (use -f to overwrite)" : "");
        hvt_host_destroy(h);
        return rc;
    }
    rc = hvt_host_run(h, rec);
    if (rc < 0)
        set_err(errbuf, errlen, "%s", hvt_host_error_message(h));
    memset(&rs, 0, sizeof(rs));
    rs.size = sizeof(rs);
    rc2 = hvt_rec_close(rec, &rs);
    /* a write error stops the recorder (and then the run); its message names the system
     * error (ENOSPC, EFBIG) */
    if (rc2 < 0 && (rc >= 0 || rc == rc2)) {
        set_err(errbuf, errlen, "%s: %s", path, rs.error[0] ? rs.error : hvt_strerror(rc2));
        rc = rc2;
    }
    if (st) {
        hvt_host_get_stats(h, st);
        st->rec_events = rs.events;
        st->rec_passes = rs.passes;
        st->rec_accesses = rs.accesses;
        st->rec_dropped = rs.dropped;
        st->file_bytes = stat(path, &sb) == 0 ? (uint64_t)sb.st_size : rs.bytes_written;
    }
    hvt_host_destroy(h);
    return rc;
}
