/* SPDX-License-Identifier: MIT */
/* Replayer bisection: the first diverging event, by binary search over chunks, then linear. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

struct bis {
    struct hvt_fmt_reader *r;
    const struct hvt_rpl_options *opt;
    struct hvt_rpl_engine *good, *bad; /* bad is NULL for a single-core bisection */
    uint64_t *chunks;                  /* chunk indices in range */
    size_t n;
    struct hvt_rpl_bisect_result *res;
};

/* First event of chunk K that diverges: 1 with *ID (and DETAIL), 0 when none, or an error. */
static int test_chunk(struct bis *b, uint64_t k, uint64_t *id, char *detail, size_t len)
{
    struct hvt_fmt_chunk *c = NULL;
    size_t n;
    int rc = hvt_fmt_reader_load_chunk(b->r, k, &c), found = 0;

    if (len)
        detail[0] = 0;
    if (rc < 0)
        return rc;
    b->res->chunks_tested++;
    n = hvt_fmt_chunk_records(c);
    for (size_t i = 0; i < n && !found; i++) {
        struct hvt_record rec;
        const struct hvt_event *ev;
        rc = hvt_fmt_chunk_record(c, i, &rec);
        if (rc < 0)
            break;
        if (rec.type != HVT_REC_EVENT)
            continue;
        ev = rec.u.event;
        if (ev->id < b->opt->first || ev->id > b->opt->last)
            continue;
        if (b->bad) {
            rc = hvt_rpl_engine_compare(b->good, b->bad, ev, detail, len);
        } else {
            struct hvt_rpl_event_report rep;
            rc = hvt_rpl_engine_event(b->good, ev, c, &rep);
            if (rc >= 0)
                rc = rep.n_divergent > 0;
            /* the detail of a single-core search: the event's first divergence */
            for (size_t f = 0; rc == 1 && f < rep.n_findings; f++) {
                const struct hvt_rpl_finding *x = &rep.findings[f];
                if (hvt_rpl_class_benign(x->cls))
                    continue;
                snprintf(detail, len, "%s: %s", hvt_rpl_class_name(x->cls), x->detail);
                break;
            }
        }
        if (rc < 0)
            break;
        if (rc == 1) {
            *id = ev->id;
            found = 1;
        }
    }
    hvt_fmt_chunk_free(c);
    return rc < 0 ? rc : found;
}

int hvt_rpl_bisect(const char *path, const struct hvt_rpl_options *opt, const char *bad_core,
                   int exhaustive, struct hvt_rpl_bisect_result *res, struct hvt_rpl_run_info *info)
{
    struct hvt_rpl_run_info dummy;
    struct hvt_rpl_options o; /* the caller's, in this library's layout */
    struct hvt_fmt_reader_options ro;
    struct bis b;
    int64_t nchunks;
    uint64_t id = HVT_NO_EVENT;
    int rc;

    if (!info)
        info = &dummy;
    memset(info, 0, sizeof(*info));
    if (!path || !opt || hvt_rpl_options_in(&o, opt) || !res)
        return -HVT_E_INVALID;
    opt = &o;
    memset(res, 0, sizeof(*res));
    res->event = res->chunk = HVT_NO_EVENT;
    memset(&b, 0, sizeof(b));
    b.opt = opt;
    b.res = res;
    hvt_fmt_reader_options_init(&ro);
    ro.flags = opt->scan ? HVT_FMT_R_SCAN : 0;
    rc = hvt_fmt_reader_open(&b.r, path, &ro);
    if (rc < 0) {
        if (b.r)
            info->err = *hvt_fmt_reader_error(b.r);
        else
            info->err.code = rc;
        goto out;
    }
    nchunks = hvt_fmt_reader_chunk_count(b.r);
    if (nchunks < 0) {
        rc = (int)nchunks;
        info->err = *hvt_fmt_reader_error(b.r);
        goto out;
    }
    b.chunks = calloc((size_t)nchunks + 1, sizeof(*b.chunks));
    if (!b.chunks) {
        rc = -HVT_E_NOMEM;
        goto out;
    }
    for (int64_t k = 0; k < nchunks; k++) {
        struct hvt_fmt_chunk_info ci;
        rc = hvt_fmt_reader_chunk_info(b.r, (uint64_t)k, &ci);
        if (rc < 0) {
            info->err = *hvt_fmt_reader_error(b.r);
            goto out;
        }
        if (ci.first_event_id != HVT_NO_EVENT && ci.last_event_id >= opt->first &&
            ci.first_event_id <= opt->last)
            b.chunks[b.n++] = (uint64_t)k;
    }
    res->chunks = b.n;
    rc = hvt_rpl_engine_new(&b.good, opt, hvt_fmt_reader_header(b.r), info->message,
                            sizeof(info->message));
    if (rc < 0)
        goto out;
    if (bad_core) {
        struct hvt_rpl_options o2 = *opt;
        o2.core = bad_core;
        rc = hvt_rpl_engine_new(&b.bad, &o2, hvt_fmt_reader_header(b.r), info->message,
                                sizeof(info->message));
        if (rc < 0)
            goto out;
    }
    rc = 0;
    if (!b.n)
        goto out;
    if (!exhaustive) {
        /* binary search for the first diverging chunk, the last one known to diverge */
        size_t lo = 0, hi = b.n - 1;
        uint64_t hid;
        char d[sizeof(res->detail)] = "";
        rc = test_chunk(&b, b.chunks[hi], &hid, d, sizeof(d));
        if (rc < 0)
            goto chunk_err;
        if (rc == 1) {
            size_t found = hi;
            memcpy(res->detail, d, sizeof(d));
            id = hid;
            while (lo < hi) {
                size_t mid = lo + (hi - lo) / 2;
                uint64_t mid_id;
                rc = test_chunk(&b, b.chunks[mid], &mid_id, d, sizeof(d));
                if (rc < 0) {
                    hi = mid;
                    goto chunk_err;
                }
                if (rc == 1) {
                    hi = found = mid;
                    id = mid_id;
                    memcpy(res->detail, d, sizeof(d));
                } else {
                    lo = mid + 1;
                }
            }
            res->event = id;
            res->chunk = b.chunks[found];
            rc = 0;
            goto out;
        }
        /* the last chunk is clean: the assumption does not hold, so scan */
    }
    res->exhaustive = 1;
    for (size_t i = 0; i < b.n; i++) {
        rc = test_chunk(&b, b.chunks[i], &id, res->detail, sizeof(res->detail));
        if (rc < 0) {
            b.n = i;
            goto chunk_err_at;
        }
        if (rc == 1) {
            res->event = id;
            res->chunk = b.chunks[i];
            break;
        }
    }
    rc = 0;
    goto out;

chunk_err:
chunk_err_at:
    info->err.code = rc;
    info->err.record = -1;
    info->err.chunk = -1;
    snprintf(info->err.message, sizeof(info->err.message), "a chunk does not load: %s",
             hvt_strerror(rc));
out:
    hvt_rpl_engine_free(b.good);
    hvt_rpl_engine_free(b.bad);
    free(b.chunks);
    hvt_fmt_reader_close(b.r);
    return rc;
}
