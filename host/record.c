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

/* A deterministic recording is a function of its options: its UUID is derived from them
 * (FNV-1a over the header options, two lanes) and its start time is fixed, so that two runs
 * with the same seed give the same bytes. */
static void deterministic_identity(struct hvt_fmt_header *hdr)
{
    uint64_t lane[2] = {0xcbf29ce484222325ull, 0x84222325cbf29ce4ull};
    for (size_t i = 0; i < hdr->n_options; i++) {
        const char *parts[2] = {hdr->options[i].key, hdr->options[i].value};
        for (int k = 0; k < 2; k++)
            for (const char *c = parts[k] ? parts[k] : ""; ; c++) {
                for (int l = 0; l < 2; l++)
                    lane[l] = (lane[l] ^ (uint8_t)*c) * 0x100000001b3ull;
                if (!*c)
                    break;
            }
    }
    for (int i = 0; i < 16; i++)
        hdr->uuid[i] = (uint8_t)(lane[i / 8] >> (8 * (i % 8)));
    hdr->uuid[6] = (uint8_t)((hdr->uuid[6] & 0x0f) | 0x80); /* RFC 9562 version 8: custom */
    hdr->uuid[8] = (uint8_t)((hdr->uuid[8] & 0x3f) | 0x80);
    hdr->start_time_ns = HVT_HOST_FIXED_START_NS;
}

/* The dry run of enum host_plan: the same options without a recorder, stopped when the budget
 * of events has completed; each vCPU then records as many events as it completed there. */
static int plan_recording(struct hvt_host *h, const struct hvt_host_options *opt, char *errbuf,
                          size_t errlen)
{
    struct hvt_host *dry = NULL;
    int rc = hvt_host_create(&dry, opt, errbuf, errlen);
    if (rc < 0)
        return rc;
    dry->plan = HOST_PLAN_DRY;
    rc = hvt_host_run(dry, NULL);
    if (rc < 0) {
        set_err(errbuf, errlen, "%s", hvt_host_error_message(dry));
    } else {
        for (uint32_t i = 0; i < h->n_vcpus; i++)
            h->vcpus[i].rec_quota = dry->vcpus[i].n_events;
        h->plan = HOST_PLAN_SET;
    }
    hvt_host_destroy(dry);
    return rc;
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
    if (!h->threads && h->n_vcpus > 1) { /* one vCPU: events complete in the order they begin */
        rc = plan_recording(h, opt, errbuf, errlen);
        if (rc < 0) {
            hvt_host_destroy(h);
            return rc;
        }
    }

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
    if (!h->threads) {
        ro.flags |= HVT_REC_NO_TIME; /* reruns with the same seed compare equal */
        ro.flush_ms = 0; /* and chunks are cut by size alone, never by the flush timer */
        deterministic_identity(&hdr);
    }
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
