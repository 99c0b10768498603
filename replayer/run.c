/* SPDX-License-Identifier: MIT */
/* Replayer driver: a whole trace chunk by chunk, in parallel workers, reports in event order. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"

#define MAX_JOBS 64

unsigned hvt_rpl_max_jobs(void)
{
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    uint64_t by_mem = HVT_RPL_MEM_BUDGET / (2 * HVT_RPL_CHUNK_MEM);
    uint64_t n = cpus > 0 ? (uint64_t)cpus : 1;
    if (n > by_mem)
        n = by_mem;
    if (n > MAX_JOBS)
        n = MAX_JOBS;
    return n ? (unsigned)n : 1;
}

/* A report kept until its turn comes (the chunk it points into stays loaded until then). */
struct kept {
    struct hvt_rpl_event_report rep;
    struct hvt_rpl_finding *findings;
};

struct slot {
    uint64_t chunk; /* chunk index in the trace */
    struct hvt_fmt_chunk *c;
    struct kept *reps;
    size_t n, cap;
    uint64_t lost;
    int err; /* negative: loading or replaying failed */
    int done;
    char msg[160];
};

struct run {
    struct hvt_fmt_reader *r;
    const struct hvt_rpl_options *opt;
    struct slot *slots;
    size_t n;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    size_t next, emitted, window;
    int stop;
};

static int keep(struct slot *s, const struct hvt_rpl_event_report *rep)
{
    struct kept *k;
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 64;
        struct kept *v = realloc(s->reps, cap * sizeof(*v));
        if (!v)
            return -HVT_E_NOMEM;
        s->reps = v;
        s->cap = cap;
    }
    k = &s->reps[s->n];
    k->rep = *rep;
    k->findings = NULL;
    if (rep->n_findings) {
        k->findings = malloc(rep->n_findings * sizeof(*k->findings));
        if (!k->findings)
            return -HVT_E_NOMEM;
        memcpy(k->findings, rep->findings, rep->n_findings * sizeof(*k->findings));
    }
    k->rep.findings = k->findings;
    s->n++;
    return 0;
}

static void slot_free(struct slot *s)
{
    for (size_t i = 0; i < s->n; i++)
        free(s->reps[i].findings);
    free(s->reps);
    hvt_fmt_chunk_free(s->c);
    s->reps = NULL;
    s->c = NULL;
    s->n = s->cap = 0;
}

/* Loads and replays one chunk into its slot (the reports are kept for the emitter). */
static void do_chunk(struct run *ru, struct hvt_rpl_engine *e, struct slot *s)
{
    size_t nrec;
    int rc = hvt_fmt_reader_load_chunk(ru->r, s->chunk, &s->c);
    if (rc < 0) {
        s->err = rc;
        snprintf(s->msg, sizeof(s->msg), "chunk %llu: %s", (unsigned long long)s->chunk,
                 hvt_strerror(rc));
        return;
    }
    nrec = hvt_fmt_chunk_records(s->c);
    /* room for a report per record at once: growing by doubling would copy them all again */
    if (nrec > s->cap) {
        struct kept *v = realloc(s->reps, nrec * sizeof(*v));
        if (!v) {
            s->err = -HVT_E_NOMEM;
            snprintf(s->msg, sizeof(s->msg), "chunk %llu: %s", (unsigned long long)s->chunk,
                     hvt_strerror(s->err));
            return;
        }
        s->reps = v;
        s->cap = nrec;
    }
    for (size_t i = 0; i < nrec; i++) {
        struct hvt_record rec;
        struct hvt_rpl_event_report rep;
        rc = hvt_fmt_chunk_record(s->c, i, &rec);
        if (rc < 0) {
            s->err = rc;
            snprintf(s->msg, sizeof(s->msg), "chunk %llu, record %zu: %s",
                     (unsigned long long)s->chunk, i, hvt_strerror(rc));
            return;
        }
        if (rec.type == HVT_REC_LOST) {
            s->lost++;
            continue;
        }
        if (rec.type != HVT_REC_EVENT || rec.u.event->id < ru->opt->first ||
            rec.u.event->id > ru->opt->last)
            continue;
        rc = hvt_rpl_engine_event(e, rec.u.event, s->c, &rep);
        if (rc >= 0)
            rc = keep(s, &rep);
        if (rc < 0) {
            s->err = rc;
            snprintf(s->msg, sizeof(s->msg), "event %llu: %s", (unsigned long long)rec.u.event->id,
                     hvt_strerror(rc));
            return;
        }
    }
}

struct worker {
    struct run *ru;
    struct hvt_rpl_engine *e;
    pthread_t th;
};

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    struct run *ru = w->ru;
    for (;;) {
        size_t i;
        pthread_mutex_lock(&ru->mu);
        while (!ru->stop && ru->next < ru->n && ru->next >= ru->emitted + ru->window)
            pthread_cond_wait(&ru->cv, &ru->mu);
        if (ru->stop || ru->next >= ru->n) {
            pthread_mutex_unlock(&ru->mu);
            return NULL;
        }
        i = ru->next++;
        pthread_mutex_unlock(&ru->mu);
        do_chunk(ru, w->e, &ru->slots[i]);
        pthread_mutex_lock(&ru->mu);
        ru->slots[i].done = 1;
        pthread_cond_broadcast(&ru->cv);
        pthread_mutex_unlock(&ru->mu);
    }
}

/* Hands slot S's reports to FN in order; returns nonzero when FN asks to stop. */
static int emit(struct slot *s, hvt_rpl_report_fn fn, void *arg, struct hvt_rpl_summary *sum)
{
    sum->lost_markers += s->lost;
    for (size_t i = 0; i < s->n; i++) {
        hvt_rpl_summary_add(sum, &s->reps[i].rep);
        if (fn && fn(arg, &s->reps[i].rep))
            return 1;
    }
    return 0;
}

static int in_range(const struct hvt_fmt_chunk_info *ci, const struct hvt_rpl_options *opt)
{
    if (ci->first_event_id == HVT_NO_EVENT)
        return 1; /* lost markers only: counted */
    return !(ci->last_event_id < opt->first || ci->first_event_id > opt->last);
}

int hvt_rpl_run(const char *path, const struct hvt_rpl_options *opt, hvt_rpl_report_fn fn,
                void *arg, hvt_rpl_progress_fn progress, void *parg, struct hvt_rpl_summary *sum,
                struct hvt_rpl_run_info *info)
{
    struct hvt_rpl_run_info dummy;
    struct hvt_rpl_options o; /* the caller's, in this library's layout */
    struct hvt_fmt_reader_options ro;
    struct hvt_rpl_engine *eng[MAX_JOBS] = {0};
    struct worker wk[MAX_JOBS];
    struct run ru;
    unsigned jobs, started = 0;
    struct hvt_fmt_error_info scan_info;
    int64_t nchunks;
    int rc = 0, stopped = 0, scan_err = 0;

    if (!info)
        info = &dummy;
    memset(info, 0, sizeof(*info));
    if (!path || !opt || hvt_rpl_options_in(&o, opt) || !sum || o.jobs > MAX_JOBS)
        return -HVT_E_INVALID;
    opt = &o;
    hvt_rpl_summary_init(sum);
    memset(&ru, 0, sizeof(ru));
    ru.opt = opt;
    hvt_fmt_reader_options_init(&ro);
    ro.flags = opt->scan ? HVT_FMT_R_SCAN : 0;
    rc = hvt_fmt_reader_open(&ru.r, path, &ro);
    if (rc < 0) {
        if (ru.r)
            info->err = *hvt_fmt_reader_error(ru.r);
        else
            info->err.code = rc;
        hvt_fmt_reader_close(ru.r);
        return rc;
    }
    nchunks = hvt_fmt_reader_chunk_count(ru.r);
    if (nchunks < 0) {
        /* no index and a scan that stops at a damaged chunk (a crashed writer): replay the
         * good chunks before it, then report the damage */
        struct hvt_fmt_chunk_info ci;
        scan_err = (int)nchunks;
        scan_info = *hvt_fmt_reader_error(ru.r);
        nchunks = 0;
        while (nchunks < (1 << 30) &&
               hvt_fmt_reader_chunk_info(ru.r, (uint64_t)nchunks, &ci) >= 0)
            nchunks++;
    }
    info->chunks = (uint64_t)nchunks;
    ru.slots = calloc((size_t)nchunks + 1, sizeof(*ru.slots));
    if (!ru.slots) {
        rc = -HVT_E_NOMEM;
        goto out;
    }
    for (int64_t k = 0; k < nchunks; k++) {
        struct hvt_fmt_chunk_info ci;
        rc = hvt_fmt_reader_chunk_info(ru.r, (uint64_t)k, &ci);
        if (rc < 0) {
            info->err = *hvt_fmt_reader_error(ru.r);
            goto out;
        }
        if (in_range(&ci, opt))
            ru.slots[ru.n++].chunk = (uint64_t)k;
    }
    rc = 0;
    jobs = opt->jobs ? opt->jobs : 1;
    if (jobs > hvt_rpl_max_jobs())
        jobs = hvt_rpl_max_jobs();
    if (jobs > ru.n)
        jobs = ru.n ? (unsigned)ru.n : 1;
    for (unsigned j = 0; j < jobs; j++) {
        rc = hvt_rpl_engine_new(&eng[j], opt, hvt_fmt_reader_header(ru.r), info->message,
                                sizeof(info->message));
        if (rc < 0)
            goto out;
    }
    info->chunks_replayed = ru.n;
    /* every engine was set up alike: the first one speaks for them */
    snprintf(info->warnings, sizeof(info->warnings), "%s", hvt_rpl_engine_warnings(eng[0]));
    info->cpu = *hvt_rpl_engine_cpu(eng[0], &info->cpu_source);

    if (jobs == 1) {
        for (size_t i = 0; i < ru.n && !stopped; i++) {
            struct slot *s = &ru.slots[i];
            do_chunk(&ru, eng[0], s);
            if (s->err) {
                rc = s->err;
                goto chunk_error;
            }
            stopped = emit(s, fn, arg, sum);
            slot_free(s);
            if (progress)
                progress(parg, i + 1, ru.n);
        }
        goto out;
    }

    pthread_mutex_init(&ru.mu, NULL);
    pthread_cond_init(&ru.cv, NULL);
    ru.window = 2 * (size_t)jobs; /* room for a fast worker while a slow one finishes; the
                                     memory bound of hvt_rpl_max_jobs counts on 2 per job */
    for (unsigned j = 0; j < jobs; j++) {
        wk[j].ru = &ru;
        wk[j].e = eng[j];
        if (pthread_create(&wk[j].th, NULL, worker_main, &wk[j]))
            break;
        started++;
    }
    if (!started) {
        rc = -HVT_E_NOMEM;
        snprintf(info->message, sizeof(info->message), "cannot start worker threads");
    }
    for (size_t i = 0; started && i < ru.n; i++) {
        struct slot *s = &ru.slots[i];
        pthread_mutex_lock(&ru.mu);
        while (!s->done)
            pthread_cond_wait(&ru.cv, &ru.mu);
        pthread_mutex_unlock(&ru.mu);
        if (s->err) {
            rc = s->err;
            break;
        }
        stopped = emit(s, fn, arg, sum);
        slot_free(s);
        if (progress)
            progress(parg, i + 1, ru.n);
        pthread_mutex_lock(&ru.mu);
        ru.emitted = i + 1;
        if (stopped)
            ru.stop = 1;
        pthread_cond_broadcast(&ru.cv);
        pthread_mutex_unlock(&ru.mu);
        if (stopped)
            break;
    }
    pthread_mutex_lock(&ru.mu);
    ru.stop = 1;
    pthread_cond_broadcast(&ru.cv);
    pthread_mutex_unlock(&ru.mu);
    for (unsigned j = 0; j < started; j++)
        pthread_join(wk[j].th, NULL);
    pthread_mutex_destroy(&ru.mu);
    pthread_cond_destroy(&ru.cv);
    if (rc < 0)
        goto chunk_error;
    goto out;

chunk_error:
    for (size_t i = 0; i < ru.n; i++) {
        if (ru.slots[i].err) {
            info->err.code = ru.slots[i].err;
            info->err.chunk = (int64_t)ru.slots[i].chunk;
            info->err.record = -1;
            {
                struct hvt_fmt_chunk_info ci;
                if (hvt_fmt_reader_chunk_info(ru.r, ru.slots[i].chunk, &ci) >= 0)
                    info->err.offset = ci.offset;
            }
            snprintf(info->err.message, sizeof(info->err.message), "%s", ru.slots[i].msg);
            break;
        }
    }
out:
    if (rc == 0 && scan_err && !stopped) {
        rc = scan_err;
        info->err = scan_info;
    }
    for (size_t i = 0; ru.slots && i < ru.n; i++)
        slot_free(&ru.slots[i]);
    free(ru.slots);
    for (unsigned j = 0; j < MAX_JOBS; j++)
        hvt_rpl_engine_free(eng[j]);
    hvt_fmt_reader_close(ru.r);
    return rc;
}

int hvt_rpl_match_of(const char *path, const struct hvt_rpl_options *opt, char *why, size_t len)
{
    struct hvt_fmt_reader_options ro;
    struct hvt_fmt_reader *r = NULL;
    struct hvt_rpl_engine *e = NULL;
    int rc;

    if (why && len)
        why[0] = 0;
    if (!path || !opt)
        return -HVT_E_INVALID;
    hvt_fmt_reader_options_init(&ro);
    ro.flags = opt->scan ? HVT_FMT_R_SCAN : 0;
    rc = hvt_fmt_reader_open(&r, path, &ro);
    if (rc == 0)
        rc = hvt_rpl_engine_new(&e, opt, hvt_fmt_reader_header(r), why, len);
    if (rc == 0)
        rc = (int)hvt_rpl_engine_match(e, why, len);
    hvt_rpl_engine_free(e);
    hvt_fmt_reader_close(r);
    return rc;
}
