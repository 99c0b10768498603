/* SPDX-License-Identifier: MIT */
/* Recorder: the writer thread: drains vCPU rings, rebuilds events, writes them in id order. */
#include <linux/futex.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "rec_internal.h"

/* Records taken from one ring before looking at the next (fairness between vCPUs). */
#define DRAIN_BUDGET 4096
/* The writer sleeps between drain rounds for an adaptive time: doubled while the fullest ring
 * stays under 1/16 of its size at the start of a round, halved once it exceeds 1/4. Draining
 * in batches instead of chasing the producers record by record roughly halved the writer's
 * CPU time per record: a record just written on another core is a cache-to-cache transfer
 * with nothing to overlap it, while a long run of them streams (and the vCPU threads, which
 * often share a core with the writer on a loaded host, are preempted far less often).
 * Producers never wake the writer on their fast path (no system call there); one that finds
 * its ring full wakes it at once. */
#define MIN_SLEEP_NS 50000L
#define MAX_SLEEP_NS 1000000L

void hvt_rec_writer_wake(struct hvt_rec *rec)
{
    atomic_fetch_add_explicit(&rec->writer_wake, 1, memory_order_seq_cst);
    if (atomic_load_explicit(&rec->writer_sleeping, memory_order_seq_cst))
        syscall(SYS_futex, (uint32_t *)&rec->writer_wake, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
}

static void writer_sleep(struct hvt_rec *rec, long ns)
{
    struct timespec ts = {0, ns};
    uint32_t seq = atomic_load_explicit(&rec->writer_wake, memory_order_seq_cst);
    atomic_store_explicit(&rec->writer_sleeping, 1, memory_order_seq_cst);
    if (!atomic_load_explicit(&rec->stopping, memory_order_seq_cst))
        syscall(SYS_futex, (uint32_t *)&rec->writer_wake, FUTEX_WAIT_PRIVATE, seq, &ts, NULL, 0);
    atomic_store_explicit(&rec->writer_sleeping, 0, memory_order_relaxed);
}

static void stat_add(_Atomic uint64_t *c, uint64_t n)
{
    atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + n,
                          memory_order_relaxed);
}

/* ---- builders ---------------------------------------------------------------------------- */

void hvt_rec_builder_free(struct rec_builder *b)
{
    free(b->passes);
    free(b->pass_first);
    free(b->pass_gen);
    free(b->accs);
    free(b->gaps);
    memset(b, 0, sizeof(*b));
}

static int grow(void **p, uint32_t *cap, uint32_t need, size_t elem)
{
    uint32_t n;
    void *q;
    if (need <= *cap)
        return 0;
    n = *cap ? *cap : 16;
    while (n < need)
        n *= 2;
    q = realloc(*p, (size_t)n * elem);
    if (!q)
        return -HVT_E_NOMEM;
    *p = q;
    *cap = n;
    return 0;
}

static int builder_open_pass(struct rec_builder *b)
{
    uint32_t cap = b->cap_passes;
    void *pf = b->pass_first;
    int err = grow((void **)&b->passes, &b->cap_passes, b->ev.n_passes + 1, sizeof(*b->passes));
    if (err)
        return err;
    /* pass_first and pass_gen follow passes' capacity; a new pass end was never made. */
    if (b->cap_passes != cap || !pf) {
        uint64_t *pg;
        pf = realloc(b->pass_first, (size_t)b->cap_passes * sizeof(*b->pass_first));
        if (!pf)
            return -HVT_E_NOMEM;
        b->pass_first = pf;
        pg = realloc(b->pass_gen, (size_t)b->cap_passes * sizeof(*b->pass_gen));
        if (!pg)
            return -HVT_E_NOMEM;
        if (!b->pass_gen)
            cap = 0;
        memset(pg + cap, 0, (size_t)(b->cap_passes - cap) * sizeof(*pg));
        b->pass_gen = pg;
    }
    b->pass_first[b->ev.n_passes] = b->n_accs;
    b->pass_open = 1;
    b->cur_pass_accesses_seen = 0;
    return 0;
}

static int builder_gap(struct rec_builder *b, uint32_t vcpu, uint32_t upto)
{
    struct hvt_lost *g;
    int err;
    if (upto <= b->cur_pass_accesses_seen)
        return 0;
    err = grow((void **)&b->gaps, &b->cap_gaps, b->n_gaps + 1, sizeof(*b->gaps));
    if (err)
        return err;
    g = &b->gaps[b->n_gaps++];
    memset(g, 0, sizeof(*g));
    g->vcpu = vcpu;
    g->count = upto - b->cur_pass_accesses_seen;
    g->event_id = HVT_NO_EVENT;
    g->pass = b->ev.n_passes;
    g->access = b->cur_pass_accesses_seen;
    b->cur_pass_accesses_seen = upto;
    return 0;
}

/* Applies a state delta to V's base (the writer's copy of the vCPU's last state): one
 * generation more, its masks logged. */
static void delta_apply(struct rec_vcpu *v, const struct rr_state_delta *d)
{
    struct rec_builder *b = &v->b;
    uint8_t *base = (uint8_t *)&v->wstate;
    uint64_t lo = d->mask_lo, ymm = d->mask_ymm;
    uint32_t k = 0;

    b->wgen++;
    b->glog_lo[b->wgen % REC_GLOG] = lo;
    b->glog_ymm[b->wgen % REC_GLOG] = ymm;
    while (lo) {
        memcpy(base + 8 * (unsigned)__builtin_ctzll(lo), &d->words[k++], 8);
        lo &= lo - 1;
    }
    while (ymm) {
        memcpy(base + 8 * (SD_LO_WORDS + (unsigned)__builtin_ctzll(ymm)), &d->words[k++], 8);
        ymm &= ymm - 1;
    }
}

/* Makes DST (a state the builder holds, last equal to the base at generation *GEN) equal to
 * V's base. */
static void state_sync(struct rec_vcpu *v, struct hvt_vcpu_state *dst, uint64_t *gen)
{
    struct rec_builder *b = &v->b;
    uint64_t since = b->wgen - *gen, lo = 0, ymm = 0;
    const uint8_t *src = (const uint8_t *)&v->wstate;
    uint8_t *d = (uint8_t *)dst;

    if (!*gen || since >= REC_GLOG) {
        *dst = v->wstate;
        *gen = b->wgen;
        return;
    }
    for (uint64_t g = *gen + 1; g <= b->wgen; g++) {
        lo |= b->glog_lo[g % REC_GLOG];
        ymm |= b->glog_ymm[g % REC_GLOG];
    }
    while (lo) {
        unsigned i = (unsigned)__builtin_ctzll(lo);
        memcpy(d + 8 * i, src + 8 * i, 8);
        lo &= lo - 1;
    }
    while (ymm) {
        unsigned i = SD_LO_WORDS + (unsigned)__builtin_ctzll(ymm);
        memcpy(d + 8 * i, src + 8 * i, 8);
        ymm &= ymm - 1;
    }
    *gen = b->wgen;
}

/* Closes V's open pass with OUT, its end state the base; MADE is the number of accesses the
 * pass made. */
static int builder_close_pass(struct rec_vcpu *v, uint32_t made, const struct hvt_pass_outcome *out)
{
    struct rec_builder *b = &v->b;
    struct hvt_pass *p;
    int err;

    if (!b->pass_open && (err = builder_open_pass(b)))
        return err;
    if ((err = builder_gap(b, v->wid, made)))
        return err;
    p = &b->passes[b->ev.n_passes];
    p->index = b->ev.n_passes;
    p->lost = 0;
    p->out = *out;
    state_sync(v, &p->end, &b->pass_gen[b->ev.n_passes]);
    p->n_accesses = 0;
    p->accesses = NULL;
    for (uint32_t i = 0; i < b->n_gaps; i++)
        if (b->gaps[i].pass == p->index)
            p->lost += (uint32_t)b->gaps[i].count;
    b->ev.n_passes++;
    b->pass_open = 0;
    return 0;
}

/* Rebuilds an access from its ring record (layout in rec_internal.h). Only SIZE bytes of data
 * (and of old and cur for a cmpxchg) are meaningful: the format encoder reads no further, so
 * the rest of the buffers is left as it was (zeroing 96 bytes per access cost more than all
 * the rest of this). The head of struct hvt_access (kind .. flags) is written as whole words
 * built from the record's. Returns 0, or -HVT_E_INTERNAL when the record's size disagrees with
 * its contents (a recorder bug: never trusted to copy). */
static inline int decode_access(struct hvt_access *a, const struct rr_access *r)
{
    uint32_t hf = r->h.flags, size = hf & 0xff;
    uint32_t has_lin = (hf & (HVT_AF_LINEAR_VALID << RRA_FLAGS_SHIFT)) != 0;
    uint32_t has_ext = (hf & RRA_EXT) != 0, kind = RRI_KIND(r->info);
    uint32_t dbytes = kind == HVT_ACC_CMPXCHG ? 3 * size : size;
    const uint64_t *p = r->opt;
    const uint8_t *d;
    uint64_t ext, w1;

    if (size - 1 >= HVT_DATA_MAX ||
        r->h.nslots != 3 + has_lin + has_ext + (dbytes + RING_SLOT - 1) / RING_SLOT)
        return -HVT_E_INTERNAL;
    a->linear = has_lin ? *p++ : 0;
    ext = has_ext ? *p++ : 0;
    memcpy(a, &r->info, 8);                    /* kind .. the tag's reserved byte */
    w1 = (uint32_t)ext | (uint64_t)size << 32; /* the tag's element, then size */
    memcpy((uint8_t *)a + 8, &w1, 8);
    a->flags = (hf >> RRA_FLAGS_SHIFT) & RRA_FLAGS_MAX;
    a->phys = r->phys;
    a->callsite = (uint32_t)(ext >> 32);
    a->reserved = 0;
    d = (const uint8_t *)p;
    if (kind != HVT_ACC_CMPXCHG && size <= 8) {
        memcpy(a->data, d, 8); /* the record's word, zero past SIZE */
    } else {
        memcpy(a->data, d, size);
        if (kind == HVT_ACC_CMPXCHG) {
            memcpy(a->old, d + size, size);
            memcpy(a->cur, d + 2 * size, size);
        }
    }
    return 0;
}
_Static_assert(offsetof(struct hvt_access, kind) == 0 && offsetof(struct hvt_access, space) == 1 &&
                   offsetof(struct hvt_access, seg) == 2 &&
                   offsetof(struct hvt_access, outcome) == 3 &&
                   offsetof(struct hvt_access, tag) == 4 && offsetof(struct hvt_tag, cls) == 0 &&
                   offsetof(struct hvt_tag, operand) == 1 && offsetof(struct hvt_tag, level) == 2 &&
                   offsetof(struct hvt_tag, reserved) == 3 &&
                   offsetof(struct hvt_tag, element) == 4 &&
                   offsetof(struct hvt_access, size) == 12,
               "decode_access writes struct hvt_access's head as two words");

/* Applies one ring record to V's builder. */
static int builder_apply(struct hvt_rec *rec, struct rec_vcpu *v, const struct ring_hdr *h)
{
    struct rec_builder *b = &v->b;
    int err;

    switch (h->type) {
    case RT_BEGIN: {
        const struct rr_begin *r = (const struct rr_begin *)h;
        if (b->open)
            return -HVT_E_INTERNAL;
        delta_apply(v, &r->st);
        memset(&b->ev, 0, offsetof(struct hvt_event, init));
        state_sync(v, &b->ev.init, &b->init_gen);
        b->ev.n_passes = 0;
        b->ev.passes = NULL;
        b->ev.vcpu = v->wid;
        b->ev.time_ns =
            (rec->opt.flags & HVT_REC_NO_TIME) ? 0 : hvt_rec_clock_ns(&rec->clk, r->stamp);
        b->ev.insn_len = r->insn_len;
        memcpy(b->ev.insn, r->insn, sizeof(b->ev.insn));
        b->n_accs = 0;
        b->n_gaps = 0;
        b->pass_open = 0;
        b->open = 1;
        return 0;
    }
    case RT_ACCESS: {
        const struct rr_access *r = (const struct rr_access *)h;
        if (!b->open)
            return -HVT_E_INTERNAL;
        if (!b->pass_open && (err = builder_open_pass(b)))
            return err;
        if ((err = builder_gap(b, v->wid, h->aux)))
            return err;
        if ((err = grow((void **)&b->accs, &b->cap_accs, b->n_accs + 1, sizeof(*b->accs))))
            return err;
        if ((err = decode_access(&b->accs[b->n_accs], r)))
            return err;
        b->n_accs++;
        b->cur_pass_accesses_seen = h->aux + 1;
        return 0;
    }
    case RT_PASS_END: {
        const struct rr_pass_end *r = (const struct rr_pass_end *)h;
        if (!b->open)
            return -HVT_E_INTERNAL;
        delta_apply(v, &r->st);
        return builder_close_pass(v, h->aux, &r->out);
    }
    case RT_END: {
        const struct rr_end *r = (const struct rr_end *)h;
        if (!b->open)
            return -HVT_E_INTERNAL;
        if ((h->flags & RR_END_PASS_OPEN) || b->pass_open) {
            /* A pass that never ended: keep what it did, say so by the outcome; its end state
             * is the last one recorded (the base). */
            struct hvt_pass_outcome out = {.kind = HVT_OUT_UNHANDLEABLE};
            if ((err = builder_close_pass(v, h->aux, &out)))
                return err;
            if (!(h->flags & RR_END_ABANDONED))
                b->ev.flags |= HVT_EV_INCOMPLETE;
        }
        if (h->flags & RR_END_ABANDONED)
            b->ev.flags |= HVT_EV_ABANDONED;
        if (b->n_gaps)
            b->ev.flags |= HVT_EV_INCOMPLETE;
        b->ev.id = r->id;
        b->complete = 1;
        return 0;
    }
    default:
        return -HVT_E_INTERNAL;
    }
}

/* ---- writing ----------------------------------------------------------------------------- */

static int define_callsites(struct hvt_rec *rec, const struct rec_builder *b)
{
    struct hvt_frame frames[HVT_REC_MAX_DEPTH];
    for (uint32_t i = 0; i < b->n_accs; i++) {
        uint32_t id = b->accs[i].callsite;
        struct hvt_callsite cs;
        int err;
        if (!id || id > CS_TABLE_SLOTS || rec->cs_defined[id])
            continue;
        cs.id = id;
        cs.n_frames = hvt_cs_symbolize(rec->cs, id, frames);
        cs.frames = frames;
        if (!cs.n_frames)
            continue;
        err = hvt_fmt_writer_add_callsite(rec->w, &cs);
        if (err)
            return err;
        rec->cs_defined[id] = 1;
    }
    return 0;
}

static void write_failed(struct hvt_rec *rec, int err, const char *what, uint64_t id)
{
    const struct hvt_fmt_error_info *ei = hvt_fmt_writer_error(rec->w);
    hvt_rec_fail(rec, err, "%s of event %llu: %s%s%s", what, (unsigned long long)id,
                 hvt_strerror(err), ei && ei->message[0] ? ": " : "", ei ? ei->message : "");
}

/* Appends V's completed event (and its lost markers before it). */
static void write_event(struct hvt_rec *rec, struct rec_vcpu *v)
{
    struct rec_builder *b = &v->b;
    uint64_t accs = b->n_accs;
    int err;

    for (uint32_t i = 0; i < b->ev.n_passes; i++) {
        uint32_t first = b->pass_first[i];
        uint32_t next = i + 1 < b->ev.n_passes ? b->pass_first[i + 1] : b->n_accs;
        /* no access buffer yet when no pass of the event made an access */
        b->passes[i].accesses = b->accs ? b->accs + first : NULL;
        b->passes[i].n_accesses = next - first;
    }
    b->ev.passes = b->passes;
    b->open = 0;
    b->complete = 0;
    rec->next_write_id = b->ev.id + 1;
    if (atomic_load_explicit(&rec->failed, memory_order_relaxed))
        return;
    if (rec->cs && (err = define_callsites(rec, b))) {
        write_failed(rec, err, "call sites", b->ev.id);
        return;
    }
    for (uint32_t i = 0; i < b->n_gaps; i++) {
        b->gaps[i].event_id = b->ev.id;
        err = hvt_fmt_writer_append_lost(rec->w, &b->gaps[i]);
        if (err) {
            write_failed(rec, err, "lost marker", b->ev.id);
            return;
        }
        stat_add(&rec->st_lost_markers, 1);
    }
    err = hvt_fmt_writer_append(rec->w, &b->ev);
    if (err) {
        write_failed(rec, err, "append", b->ev.id);
        return;
    }
    stat_add(&rec->st_events, 1);
    stat_add(&rec->st_passes, b->ev.n_passes);
    stat_add(&rec->st_accesses, accs);
    if (b->ev.flags & HVT_EV_ABANDONED)
        stat_add(&rec->st_abandoned, 1);
    if (b->ev.flags & HVT_EV_INCOMPLETE)
        stat_add(&rec->st_incomplete, 1);
}

/* Writes every completed event whose turn it is. Returns how many were written. */
static int emit_ready(struct hvt_rec *rec)
{
    int written = 0, again = 1;
    uint32_t hi = atomic_load_explicit(&rec->hi_vcpu, memory_order_acquire);
    while (again) {
        again = 0;
        for (uint32_t i = 0; i < hi; i++) {
            struct rec_vcpu *v = atomic_load_explicit(&rec->vcpus[i], memory_order_acquire);
            if (v && v->b.complete && v->b.ev.id == rec->next_write_id) {
                write_event(rec, v);
                written++;
                again = 1;
            }
        }
    }
    return written;
}

/* Takes the run of accesses at the head of V's ring that continue its open pass, at most
 * BUDGET, into the builder's buffer (as far as it has room): the common case, in a loop of
 * its own with the ring's and builder's indices in registers. Returns the records taken; *BAD
 * is set after a record that does not decode (taken too). */
static int drain_accesses(struct rec_vcpu *v, int budget, int *bad)
{
    struct ring *r = &v->ring;
    struct rec_builder *b = &v->b;
    uint64_t t = r->ctail, end = r->cached_head, mask = r->mask;
    const uint8_t *mem = r->mem;
    uint32_t seen = b->cur_pass_accesses_seen, na = b->n_accs;
    struct hvt_access *acc = b->accs;
    int k = 0, lim = b->cap_accs - na < (uint32_t)budget ? (int)(b->cap_accs - na) : budget;

    while (t != end && k < lim) {
        const struct rr_access *a =
            (const struct rr_access *)(const void *)(mem + (t & mask) * RING_SLOT);
        if (a->h.type != RT_ACCESS || a->h.aux != seen)
            break;
        if (t + RING_PREFETCH_R_SLOTS < end)
            __builtin_prefetch(mem + ((t + RING_PREFETCH_R_SLOTS) & mask) * RING_SLOT);
        t += a->h.nslots;
        k++;
        if (decode_access(&acc[na], a)) {
            *bad = 1;
            break;
        }
        seen++;
        na++;
    }
    r->ctail = t;
    b->cur_pass_accesses_seen = seen;
    b->n_accs = na;
    if (t - atomic_load_explicit(&r->tail, memory_order_relaxed) >= RING_RELEASE_SLOTS)
        ring_release(r);
    return k;
}

/* Drains V's ring until it is empty, the budget is spent, or V holds a completed event that
 * must wait for a lower id. Returns the records taken; *MAX_FILL is raised to V's fill (slots)
 * at the start. */
static int drain(struct hvt_rec *rec, struct rec_vcpu *v, uint64_t *max_fill)
{
    struct rec_builder *b = &v->b;
    int n = 0, failed;
    uint64_t fill = ring_fill(&v->ring);

    if (fill > *max_fill)
        *max_fill = fill;
    if (fill > atomic_load_explicit(&rec->st_max_fill, memory_order_relaxed))
        atomic_store_explicit(&rec->st_max_fill, fill, memory_order_relaxed);
    /* Only this thread sets failed while the recording runs (hvt_rec_fail's callers): read once,
     * again after each call that may fail. */
    failed = atomic_load_explicit(&rec->failed, memory_order_relaxed) != 0;
    while (n < DRAIN_BUDGET && !b->complete) {
        const struct ring_hdr *h = ring_peek(&v->ring);
        if (!h)
            break;
        ring_prefetch(&v->ring);
        if (!failed && h->type == RT_ACCESS && b->pass_open) {
            int bad = 0, k = drain_accesses(v, DRAIN_BUDGET - n, &bad);
            if (bad) {
                hvt_rec_fail(rec, -HVT_E_INTERNAL, "vCPU %u: access record: %s", v->wid,
                             hvt_strerror(-HVT_E_INTERNAL));
                failed = 1;
            }
            if (k) {
                n += k;
                continue;
            }
        }
        if (failed) {
            stat_add(&rec->st_drained_dropped, 1);
        } else {
            int err = builder_apply(rec, v, h);
            if (err) {
                hvt_rec_fail(rec, err, "vCPU %u: record type %u: %s", v->wid, h->type,
                         hvt_strerror(err));
                failed = 1;
            }
        }
        ring_pop(&v->ring, h);
        n++;
        if (b->complete && b->ev.id == rec->next_write_id) {
            /* the event's records are copied out: free their room before the append */
            ring_release(&v->ring);
            write_event(rec, v);
            failed = atomic_load_explicit(&rec->failed, memory_order_relaxed) != 0;
        }
    }
    if (n) {
        ring_release(&v->ring);
        hvt_ring_notify(&v->ring);
    }
    if (atomic_load_explicit(&rec->failed, memory_order_relaxed) && v->b.complete) {
        /* Nothing is written any more: let the ring keep draining. */
        v->b.complete = 0;
        v->b.open = 0;
    }
    return n;
}

/* At close: events still open are written as abandoned, with the next ids in vCPU order. */
static void abandon_open(struct hvt_rec *rec)
{
    uint32_t hi = atomic_load_explicit(&rec->hi_vcpu, memory_order_acquire);
    for (uint32_t i = 0; i < hi; i++) {
        struct rec_vcpu *v = atomic_load_explicit(&rec->vcpus[i], memory_order_acquire);
        struct rr_end e;
        int err;
        if (!v || !v->b.open || v->b.complete)
            continue;
        memset(&e, 0, sizeof(e));
        e.h.type = RT_END;
        e.h.nslots = RR_END_SLOTS;
        e.h.flags = RR_END_ABANDONED | (v->pass_open ? RR_END_PASS_OPEN : 0);
        e.h.aux = v->access_idx;
        e.id = atomic_fetch_add(&rec->next_event_id, 1);
        err = builder_apply(rec, v, &e.h);
        if (err) {
            hvt_rec_fail(rec, err, "vCPU %u: abandoning the open event: %s", v->wid,
                         hvt_strerror(err));
            return;
        }
        atomic_store(&v->last_id, e.id);
        emit_ready(rec);
    }
}

static void finish(struct hvt_rec *rec)
{
    int err;
    if (!atomic_load(&rec->failed)) {
        uint32_t hi = atomic_load(&rec->hi_vcpu);
        abandon_open(rec);
        /* Every event must have been written by now; one still waiting for its turn would
         * be a silent loss. */
        for (uint32_t i = 0; i < hi; i++) {
            struct rec_vcpu *v = atomic_load(&rec->vcpus[i]);
            if (v && v->b.complete)
                hvt_rec_fail(rec, -HVT_E_INTERNAL, "vCPU %u: event %llu never got its turn", i,
                         (unsigned long long)v->b.ev.id);
        }
    }
    if (rec->own_writer) {
        struct hvt_fmt_writer_stats ws;
        memset(&ws, 0, sizeof(ws));
        err = hvt_fmt_writer_close(rec->w, &ws);
        rec->file_bytes = ws.file_bytes;
        rec->chunks = ws.chunks;
        rec->w = NULL;
        if (err && !atomic_load(&rec->failed))
            hvt_rec_fail(rec, err, "closing the trace: %s", hvt_fmt_writer_last_error()->message);
    } else if (!atomic_load(&rec->failed)) {
        err = hvt_fmt_writer_flush(rec->w);
        if (err)
            write_failed(rec, err, "flush", rec->next_write_id);
    }
}

void *hvt_rec_writer_main(void *arg)
{
    struct hvt_rec *rec = arg;
    uint64_t start = hvt_rec_mono_ns(), last_flush = start, flush_ns;
    uint64_t written_since_flush = 0;
    long sleep_ns = MIN_SLEEP_NS;

    flush_ns = (uint64_t)rec->opt.flush_ms * 1000000ull;
    for (;;) {
        int stopping = atomic_load_explicit(&rec->stopping, memory_order_acquire);
        uint64_t t = hvt_rec_mono_ns(), now, max_fill = 0, nslots = 0;
        uint32_t hi = atomic_load_explicit(&rec->hi_vcpu, memory_order_acquire);
        uint64_t done = 0, events_before = atomic_load(&rec->st_events);

        for (uint32_t i = 0; i < hi; i++) {
            struct rec_vcpu *v = atomic_load_explicit(&rec->vcpus[i], memory_order_acquire);
            if (v) {
                done += (uint64_t)drain(rec, v, &max_fill);
                nslots = v->ring.nslots;
            }
        }
        if (done)
            emit_ready(rec);
        written_since_flush += atomic_load(&rec->st_events) - events_before;
        now = hvt_rec_mono_ns();
        if (written_since_flush && flush_ns && now - last_flush >= flush_ns &&
            !atomic_load_explicit(&rec->failed, memory_order_relaxed)) {
            int err = hvt_fmt_writer_flush(rec->w);
            if (err)
                write_failed(rec, err, "flush", rec->next_write_id);
            written_since_flush = 0;
            last_flush = hvt_rec_mono_ns();
            now = last_flush;
        } else if (!written_since_flush) {
            last_flush = now;
        }
        if (done || now - t > 1000000)
            stat_add(&rec->st_busy_ns, now - t);
        /* Empty everywhere. Producers are quiescent once stopping is set (close's contract),
         * so an empty pass after seeing it means everything was taken. */
        if (!done && stopping)
            break;
        if (max_fill * 4 > nslots) { /* falling behind: drain again at once */
            sleep_ns = sleep_ns / 2 > MIN_SLEEP_NS ? sleep_ns / 2 : MIN_SLEEP_NS;
            if (done)
                continue;
        } else if (max_fill * 16 < nslots) {
            sleep_ns = sleep_ns * 2 < MAX_SLEEP_NS ? sleep_ns * 2 : MAX_SLEEP_NS;
        }
        if (stopping) /* closing: drain to the end without pausing */
            continue;
        writer_sleep(rec, sleep_ns);
    }
    finish(rec);
    atomic_store(&rec->st_total_ns, hvt_rec_mono_ns() - start);
    return NULL;
}
