/* SPDX-License-Identifier: MIT */
/* hvtrace format: verify (check every chunk and the index) and salvage (rewrite what is good). */
#include <inttypes.h>
#include <string.h>

#include "internal.h"

static int report(hvt_fmt_problem_fn fn, void *arg, int *first, const struct hvt_fmt_error_info *e)
{
    if (!*first)
        *first = e->code;
    return fn ? fn(arg, e) : 0;
}

int hvt_fmt_verify(const char *path, struct hvt_fmt_verify_report *rep, hvt_fmt_problem_fn fn,
                   void *arg)
{
    struct hvt_fmt_verify_report dummy;
    if (!rep)
        rep = &dummy;
    memset(rep, 0, sizeof(*rep));
    if (!path)
        return -HVT_E_INVALID;
    int first = 0;

    /* pass 1: scan every chunk from the start, ignoring the index, and decode it */
    struct hvt_fmt_reader_options o;
    hvt_fmt_reader_options_init(&o);
    o.flags = HVT_FMT_R_SCAN | HVT_FMT_R_SALVAGE;
    struct hvt_fmt_reader *scan = NULL;
    int rc = hvt_fmt_reader_open(&scan, path, &o);
    if (rc < 0) {
        if (scan)
            report(fn, arg, &first, hvt_fmt_reader_error(scan));
        hvt_fmt_reader_close(scan);
        return rc;
    }
    struct hvt_fmt_reader_diag *dg = hvt_fmt_reader_diag(scan);
    dg->fn = fn;
    dg->arg = arg;
    struct hvt_record rec;
    while ((rc = hvt_fmt_reader_next(scan, &rec)) > 0) {
        if (rec.type == HVT_REC_EVENT)
            rep->events++;
        else
            rep->lost_records += rec.u.lost->count;
    }
    if (rc < 0) /* only resource errors stop a SALVAGE reader */
        report(fn, arg, &first, hvt_fmt_reader_error(scan));
    first = dg->first_code ? dg->first_code : first;
    rep->chunks_good = dg->chunks_good;
    rep->chunks_bad = dg->chunks_bad;
    rep->truncated_tail = dg->truncated_tail;
    rep->good_bytes = dg->good_bytes;
    int stop = dg->stop;
    int64_t n_scanned = hvt_fmt_reader_chunk_count(scan);

    /* pass 2: the index, compared with what the scan found */
    struct hvt_fmt_reader *idx = NULL;
    rc = hvt_fmt_reader_open(&idx, path, NULL);
    if (rc == 0 && !stop) {
        struct hvt_fmt_reader_diag *di = hvt_fmt_reader_diag(idx);
        /* a valid footer means the trace has an index, usable or not */
        rep->has_index = hvt_fmt_reader_has_index(idx) || di->footer_valid;
        if (!hvt_fmt_reader_has_index(idx)) {
            stop = report(fn, arg, &first, &di->index_err);
        } else {
            int64_t n = hvt_fmt_reader_chunk_count(idx);
            rep->index_consistent = n == n_scanned;
            if (!rep->index_consistent) {
                struct hvt_fmt_error_info e;
                hvt_fmt_seterr(&e, -HVT_E_BAD_RECORD, 0, -1, -1,
                               "the index lists %" PRId64 " chunks, a scan finds %" PRId64, n,
                               n_scanned);
                stop = report(fn, arg, &first, &e);
            }
            for (int64_t k = 0; rep->index_consistent && k < n; k++) {
                struct hvt_fmt_chunk_info a, b;
                if (hvt_fmt_reader_chunk_info(idx, (uint64_t)k, &a) < 0 ||
                    hvt_fmt_reader_chunk_info(scan, (uint64_t)k, &b) < 0 ||
                    memcmp(&a, &b, sizeof(a))) {
                    rep->index_consistent = 0;
                    struct hvt_fmt_error_info e;
                    hvt_fmt_seterr(&e, -HVT_E_BAD_RECORD, a.offset, k, -1,
                                   "index entry %" PRId64 " does not match the chunk found by "
                                   "scanning",
                                   k);
                    stop = report(fn, arg, &first, &e);
                }
            }
        }
    }
    (void)stop;
    hvt_fmt_reader_close(idx);
    hvt_fmt_reader_close(scan);
    return first < 0 ? first : 0;
}

int64_t hvt_fmt_salvage(const char *in, const char *out, const struct hvt_fmt_writer_options *opt,
                        hvt_fmt_problem_fn fn, void *arg)
{
    if (!in || !out)
        return -HVT_E_INVALID;
    struct hvt_fmt_reader_options o;
    hvt_fmt_reader_options_init(&o);
    o.flags = HVT_FMT_R_SCAN | HVT_FMT_R_SALVAGE;
    struct hvt_fmt_reader *r = NULL;
    int first = 0;
    int rc = hvt_fmt_reader_open(&r, in, &o);
    if (rc < 0) {
        if (r)
            report(fn, arg, &first, hvt_fmt_reader_error(r));
        hvt_fmt_reader_close(r);
        return rc;
    }
    /* comparing inodes, not names: a symbolic or hard link to IN is IN */
    if (hvt_fmt_reader_same_file(r, out)) {
        hvt_fmt_reader_close(r);
        return -HVT_E_SAME_FILE;
    }
    struct hvt_fmt_reader_diag *dg = hvt_fmt_reader_diag(r);
    dg->fn = fn;
    dg->arg = arg;
    struct hvt_fmt_header h = *hvt_fmt_reader_header(r);
    struct hvt_fmt_writer *w = NULL;
    rc = hvt_fmt_writer_open(&w, out, &h, opt);
    if (rc < 0) {
        hvt_fmt_reader_close(r);
        return rc;
    }
    int64_t events = 0;
    struct hvt_record rec;
    while ((rc = hvt_fmt_reader_next(r, &rec)) > 0) {
        if (rec.type == HVT_REC_LOST) {
            rc = hvt_fmt_writer_append_lost(w, rec.u.lost);
        } else {
            const struct hvt_event *ev = rec.u.event;
            for (uint32_t p = 0; p < ev->n_passes; p++)
                for (uint32_t i = 0; i < ev->passes[p].n_accesses; i++) {
                    uint32_t id = ev->passes[p].accesses[i].callsite;
                    const struct hvt_callsite *cs = id ? hvt_fmt_reader_callsite(r, id) : NULL;
                    /* a redefinition with other frames keeps the first one */
                    if (cs)
                        (void)hvt_fmt_writer_add_callsite(w, cs);
                }
            rc = hvt_fmt_writer_append(w, ev);
            events++;
        }
        if (rc < 0)
            break;
    }
    if (rc < 0 && rc != -HVT_E_INVALID && rc != -HVT_E_CLOSED) {
        /* the reader stopped (out of memory); keep what was written */
        report(fn, arg, &first, hvt_fmt_reader_error(r));
    }
    int wrc = hvt_fmt_writer_close(w, NULL);
    hvt_fmt_reader_close(r);
    if (rc < 0)
        return rc;
    return wrc < 0 ? wrc : events;
}
