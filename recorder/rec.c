/* SPDX-License-Identifier: MIT */
/* Recorder: open/close, options, and the per-vCPU producer side (event, pass, access calls). */
#include <errno.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "rec_internal.h"

#define DEF_RING_BYTES (1u << 20)
#define MIN_RING_BYTES 8192u
#define DEF_MAX_VCPUS 64u
#define SPIN_TRIES 200

_Static_assert(SD_LO_WORDS <= 64 && SD_YMM_WORDS <= 64, "state delta masks are 64-bit");
_Static_assert(sizeof(struct hvt_vcpu_state) == 8 * (SD_LO_WORDS + SD_YMM_WORDS),
               "the vCPU state is a whole number of words, ymm last");
_Static_assert(RR_STATE_SLOTS <= 16 && MIN_RING_BYTES / RING_SLOT >= RR_DROP_KEEP + 16,
               "the smallest ring holds the largest record beyond the drop-mode reserve");

void hvt_rec_options_init(struct hvt_rec_options *opt)
{
    if (!opt)
        return;
    memset(opt, 0, sizeof(*opt));
    opt->size = sizeof(*opt);
    opt->level = 3;
    opt->chunk_bytes = 1u << 20;
    opt->ring_bytes = DEF_RING_BYTES;
    opt->backpressure = HVT_REC_BLOCK;
    opt->callsite_depth = 0;
    opt->flush_ms = 100;
}

uint64_t rec_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Event times are offsets on the monotonic clock (the wall clock may step back). */
static uint64_t mono_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

void rec_fail(struct hvt_rec *rec, int err, const char *fmt, ...)
{
    int expect = 0;
    va_list ap;
    /* Only the writer thread (and open/close) report errors, so the message is written once,
     * before failed is published. */
    if (atomic_load_explicit(&rec->failed, memory_order_relaxed))
        return;
    va_start(ap, fmt);
    vsnprintf(rec->errmsg, sizeof(rec->errmsg), fmt, ap);
    va_end(ap);
    atomic_compare_exchange_strong_explicit(&rec->failed, &expect, err, memory_order_release,
                                            memory_order_relaxed);
    /* Release everyone sleeping on a full ring: after an error nothing waits. */
    for (uint32_t i = 0; i < atomic_load(&rec->hi_vcpu); i++) {
        struct rec_vcpu *v = atomic_load_explicit(&rec->vcpus[i], memory_order_acquire);
        if (v) {
            atomic_store(&v->ring.waiting, 1);
            ring_notify(&v->ring);
        }
    }
}

/* ---- options and open ------------------------------------------------------------------ */

static int check_options(struct hvt_rec_options *o, const struct hvt_rec_options *in)
{
    hvt_rec_options_init(o);
    if (in) {
        if (in->size < sizeof(*in))
            return -HVT_E_INVALID;
        memcpy(o, in, sizeof(*o));
        o->size = sizeof(*o);
    }
    if (o->backpressure != HVT_REC_BLOCK && o->backpressure != HVT_REC_DROP)
        return -HVT_E_INVALID;
    if (o->callsite_depth > HVT_REC_MAX_DEPTH || o->callsite_skip > 16)
        return -HVT_E_INVALID;
    if (o->n_vcpus > HVT_REC_MAX_VCPUS || o->max_vcpus > HVT_REC_MAX_VCPUS)
        return -HVT_E_INVALID;
    if (o->max_vcpus == 0)
        o->max_vcpus = o->n_vcpus > DEF_MAX_VCPUS ? o->n_vcpus : DEF_MAX_VCPUS;
    if (o->n_vcpus > o->max_vcpus)
        return -HVT_E_INVALID;
    if (o->ring_bytes == 0)
        o->ring_bytes = DEF_RING_BYTES;
    if (o->ring_bytes < MIN_RING_BYTES)
        o->ring_bytes = MIN_RING_BYTES;
    if (o->ring_bytes > ((size_t)1 << 30))
        return -HVT_E_INVALID;
    if (o->flags & ~(HVT_REC_OVERWRITE | HVT_REC_NO_TIME))
        return -HVT_E_INVALID;
    return 0;
}

static void rec_free(struct hvt_rec *rec)
{
    if (!rec)
        return;
    if (rec->vcpus) {
        for (uint32_t i = 0; i < rec->max_vcpus; i++) {
            struct rec_vcpu *v = atomic_load(&rec->vcpus[i]);
            if (v) {
                ring_fini(&v->ring);
                rec_builder_free(&v->b);
                free(v);
            }
        }
        free(rec->vcpus);
    }
    cs_table_free(rec->cs);
    free(rec->cs_defined);
    free(rec);
}

static int rec_new(struct hvt_rec **out, const struct hvt_rec_options *opt)
{
    struct hvt_rec *rec;
    int err;
    void *mem = NULL;

    if (posix_memalign(&mem, 64, sizeof(*rec)))
        return -HVT_E_NOMEM;
    rec = mem;
    memset(rec, 0, sizeof(*rec));
    err = check_options(&rec->opt, opt);
    if (err) {
        free(rec);
        return err;
    }
    rec->max_vcpus = rec->opt.max_vcpus;
    rec->vcpus = calloc(rec->max_vcpus, sizeof(*rec->vcpus));
    if (!rec->vcpus) {
        rec_free(rec);
        return -HVT_E_NOMEM;
    }
    if (rec->opt.callsite_depth) {
        err = cs_table_new(&rec->cs, rec->opt.callsite_depth);
        if (!err) {
            rec->cs_defined = calloc(CS_TABLE_SLOTS + 1, 1);
            if (!rec->cs_defined)
                err = -HVT_E_NOMEM;
        }
        if (err) {
            rec_free(rec);
            return err;
        }
    }
    for (uint32_t i = 0; i < rec->opt.n_vcpus; i++) {
        err = hvt_rec_vcpu_add(rec, i);
        if (err) {
            rec_free(rec);
            return err;
        }
    }
    rec->t0_ns = rec_now_ns();
    rec->t0_mono = mono_now_ns();
    *out = rec;
    return 0;
}

static int rec_start(struct hvt_rec *rec)
{
    if (pthread_create(&rec->thread, NULL, rec_writer_main, rec))
        return -HVT_E_IO;
    rec->thread_started = 1;
    return 0;
}

int hvt_rec_open(struct hvt_rec **out, const char *path, const struct hvt_fmt_header *hdr,
                 const struct hvt_rec_options *opt)
{
    struct hvt_rec *rec;
    struct hvt_fmt_writer_options wo;
    struct hvt_fmt_header h;
    int err;

    if (!out || !path)
        return -HVT_E_INVALID;
    *out = NULL;
    err = rec_new(&rec, opt);
    if (err)
        return err;
    hvt_fmt_writer_options_init(&wo);
    wo.level = rec->opt.level;
    wo.chunk_bytes = rec->opt.chunk_bytes;
    wo.flags = (rec->opt.flags & HVT_REC_OVERWRITE) ? HVT_FMT_W_OVERWRITE : 0;
    if (hdr) {
        h = *hdr;
    } else {
        memset(&h, 0, sizeof(h));
        h.producer = "hvtrace-recorder";
    }
    if (!h.start_time_ns)
        h.start_time_ns = rec->t0_ns;
    err = hvt_fmt_writer_open(&rec->w, path, &h, &wo);
    if (err) {
        rec_free(rec);
        return err;
    }
    rec->own_writer = 1;
    err = rec_start(rec);
    if (err) {
        hvt_fmt_writer_close(rec->w, NULL);
        rec_free(rec);
        return err;
    }
    *out = rec;
    return 0;
}

int hvt_rec_open_writer(struct hvt_rec **out, struct hvt_fmt_writer *w,
                        const struct hvt_rec_options *opt)
{
    struct hvt_rec *rec;
    int err;

    if (!out || !w)
        return -HVT_E_INVALID;
    *out = NULL;
    err = rec_new(&rec, opt);
    if (err)
        return err;
    rec->w = w;
    err = rec_start(rec);
    if (err) {
        rec_free(rec);
        return err;
    }
    *out = rec;
    return 0;
}

static void fill_stats(const struct hvt_rec *crec, struct hvt_rec_stats *st)
{
    struct hvt_rec *rec = (struct hvt_rec *)crec;
    size_t size = st->size;
    memset(st, 0, sizeof(*st));
    st->size = size;
    st->events = atomic_load(&rec->st_events);
    st->passes = atomic_load(&rec->st_passes);
    st->accesses = atomic_load(&rec->st_accesses);
    st->abandoned = atomic_load(&rec->st_abandoned);
    st->incomplete = atomic_load(&rec->st_incomplete);
    st->lost_markers = atomic_load(&rec->st_lost_markers);
    st->max_ring_fill = atomic_load(&rec->st_max_fill) * RING_SLOT;
    st->ring_bytes = RING_SLOT;
    while (st->ring_bytes < rec->opt.ring_bytes)
        st->ring_bytes <<= 1;
    st->writer_busy_ns = atomic_load(&rec->st_busy_ns);
    st->writer_total_ns = atomic_load(&rec->st_total_ns);
    st->dropped = atomic_load(&rec->st_drained_dropped);
    for (uint32_t i = 0; i < atomic_load(&rec->hi_vcpu); i++) {
        struct rec_vcpu *v = atomic_load_explicit(&rec->vcpus[i], memory_order_acquire);
        if (!v)
            continue;
        st->dropped += atomic_load_explicit(&v->dropped, memory_order_relaxed);
        st->outside_pass += atomic_load_explicit(&v->outside_pass, memory_order_relaxed);
        st->block_waits += atomic_load_explicit(&v->block_waits, memory_order_relaxed);
        st->callsite_overflow += atomic_load_explicit(&v->cs_overflow, memory_order_relaxed);
    }
    st->callsites = rec->cs ? cs_count(rec->cs) : 0;
    st->bytes_written = rec->file_bytes;
    st->chunks = rec->chunks;
}

int hvt_rec_stats(const struct hvt_rec *rec, struct hvt_rec_stats *stats)
{
    if (!rec || !stats || stats->size < sizeof(*stats))
        return -HVT_E_INVALID;
    fill_stats(rec, stats);
    return 0;
}

int hvt_rec_close(struct hvt_rec *rec, struct hvt_rec_stats *stats)
{
    int err;

    if (!rec)
        return 0;
    if (stats && stats->size < sizeof(*stats))
        stats = NULL;
    /* The vCPUs are quiescent (our contract): publish what they committed but did not
     * publish yet (the tail of an open event), so the writer can write it as abandoned. */
    for (uint32_t i = 0; i < atomic_load(&rec->hi_vcpu); i++) {
        struct rec_vcpu *v = atomic_load_explicit(&rec->vcpus[i], memory_order_acquire);
        if (v)
            ring_publish(&v->ring);
    }
    atomic_store(&rec->stopping, 1);
    rec_writer_wake(rec);
    if (rec->thread_started)
        pthread_join(rec->thread, NULL);
    /* The writer finished the file (index, footer) or flushed the caller's writer. */
    err = atomic_load(&rec->failed);
    if (stats)
        fill_stats(rec, stats);
    rec_free(rec);
    return err;
}

int hvt_rec_error(const struct hvt_rec *rec)
{
    if (!rec)
        return -HVT_E_INVALID;
    return atomic_load_explicit(&((struct hvt_rec *)rec)->failed, memory_order_acquire);
}

const char *hvt_rec_error_message(const struct hvt_rec *rec)
{
    if (!rec || !hvt_rec_error(rec))
        return "";
    return rec->errmsg;
}

/* ---- vCPUs ----------------------------------------------------------------------------- */

int hvt_rec_vcpu_add(struct hvt_rec *rec, uint32_t vcpu)
{
    struct rec_vcpu *v;
    void *mem = NULL;
    int err;
    uint32_t hi;

    if (!rec || vcpu >= rec->max_vcpus)
        return -HVT_E_INVALID;
    if (atomic_load_explicit(&rec->vcpus[vcpu], memory_order_relaxed))
        return 0;
    if (posix_memalign(&mem, 64, sizeof(*v)))
        return -HVT_E_NOMEM;
    v = mem;
    memset(v, 0, sizeof(*v));
    err = ring_init(&v->ring, rec->opt.ring_bytes);
    if (err) {
        free(v);
        return err;
    }
    v->rec = rec;
    v->id = vcpu;
    atomic_store_explicit(&v->last_id, HVT_NO_EVENT, memory_order_relaxed);
    v->wrap.rec = rec;
    v->wrap.v = v;
    {
        /* Two threads registering the same vCPU (say, a management thread wrapping ops while
         * the vCPU starts an event) must not both install a ring. */
        struct rec_vcpu *expect = NULL;
        if (!atomic_compare_exchange_strong_explicit(&rec->vcpus[vcpu], &expect, v,
                                                     memory_order_acq_rel, memory_order_acquire)) {
            ring_fini(&v->ring);
            free(v);
            return 0;
        }
    }
    hi = atomic_load(&rec->hi_vcpu);
    while (hi < vcpu + 1 && !atomic_compare_exchange_weak(&rec->hi_vcpu, &hi, vcpu + 1))
        ;
    return 0;
}

uint64_t hvt_rec_last_event_id(const struct hvt_rec *rec, uint32_t vcpu)
{
    struct rec_vcpu *v;
    if (!rec || vcpu >= rec->max_vcpus)
        return HVT_NO_EVENT;
    v = atomic_load_explicit(&rec->vcpus[vcpu], memory_order_acquire);
    return v ? atomic_load_explicit(&v->last_id, memory_order_relaxed) : HVT_NO_EVENT;
}

/* ---- pushing records --------------------------------------------------------------------- */

static inline void count(_Atomic uint64_t *c)
{
    /* Single writer (the vCPU): a plain load+store, no locked instruction. */
    atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + 1,
                          memory_order_relaxed);
}

/* Reserves N slots for a record that must not be dropped (event and pass boundaries): waits
 * for room in both modes. NULL only after a write error stopped the recording. */
static void *reserve_wait(struct rec_vcpu *v, uint32_t n)
{
    struct hvt_rec *rec = v->rec;
    void *p = ring_reserve(&v->ring, n, 0);
    int tries = 0;

    if (p)
        return p;
    count(&v->block_waits);
    ring_publish(&v->ring); /* the writer must see what we wait on it to take */
    rec_writer_wake(rec);
    for (;;) {
        if (atomic_load_explicit(&rec->failed, memory_order_relaxed))
            return NULL;
        p = ring_reserve(&v->ring, n, 0);
        if (p)
            return p;
        if (tries < SPIN_TRIES) {
            tries++;
            sched_yield();
        } else {
            ring_wait(&v->ring);
        }
    }
}

/* The state read as words; may_alias makes that a defined way to look at the struct. */
typedef uint64_t __attribute__((may_alias)) state_word_t;

static inline uint64_t state_word(const struct hvt_vcpu_state *st, size_t i)
{
    return ((const state_word_t *)st)[i];
}

/* Marks in *MASK the words W[FIRST..FIRST+N) that differ from BASE (bit i-FIRST for word i);
 * returns how many. Blocks of 8 words are checked with one XOR-OR reduction first (a fixed
 * trip count the compiler vectorizes): most of a state does not change between two
 * recordings. */
static inline uint32_t diff_words(const struct hvt_vcpu_state *st, const uint64_t *base,
                                  size_t first, size_t n, uint64_t *mask)
{
    const state_word_t *w = (const state_word_t *)st + first;
    const uint64_t *b = base + first;
    uint32_t count = 0;

    for (size_t blk = 0; blk < n; blk += 8) {
        size_t end = blk + 8 <= n ? blk + 8 : n;
        uint64_t any = 0;
        if (end == blk + 8) {
            for (size_t i = 0; i < 8; i++)
                any |= w[blk + i] ^ b[blk + i];
        } else {
            for (size_t i = blk; i < end; i++)
                any |= w[i] ^ b[i];
        }
        if (!any)
            continue;
        for (size_t i = blk; i < end; i++) {
            if (w[i] != b[i]) {
                *mask |= 1ull << i;
                count++;
            }
        }
    }
    return count;
}

/* Compares ST with V's delta base; returns the number of changed words and their masks. */
static uint32_t delta_prepare(const struct rec_vcpu *v, const struct hvt_vcpu_state *st,
                              uint64_t *mlo, uint64_t *mymm)
{
    uint32_t n;
    *mlo = 0;
    *mymm = 0;
    n = diff_words(st, v->last_state, 0, SD_LO_WORDS, mlo);
    if (st->flags & HVT_STATE_SIMD_VALID) {
        n += diff_words(st, v->last_state, SD_LO_WORDS, SD_YMM_WORDS, mymm);
    } else if (v->last_ymm_nonzero) {
        /* without SIMD state the ymm words count as zero */
        for (size_t i = 0; i < SD_YMM_WORDS; i++) {
            if (v->last_state[SD_LO_WORDS + i]) {
                *mymm |= 1ull << i;
                n++;
            }
        }
    }
    return n;
}

/* Writes the delta of ST (masks from delta_prepare) into D and moves the base to ST. */
static void delta_write(struct rec_vcpu *v, const struct hvt_vcpu_state *st, uint64_t lo,
                        uint64_t ymm, struct rr_state_delta *d)
{
    uint32_t k = 0;
    int simd = (st->flags & HVT_STATE_SIMD_VALID) != 0;
    d->mask_lo = lo;
    d->mask_ymm = ymm;
    while (lo) {
        unsigned i = (unsigned)__builtin_ctzll(lo);
        uint64_t w = state_word(st, i);
        d->words[k++] = w;
        v->last_state[i] = w;
        lo &= lo - 1;
    }
    if (ymm)
        v->last_ymm_nonzero = simd;
    while (ymm) {
        unsigned i = (unsigned)__builtin_ctzll(ymm);
        uint64_t w = simd ? state_word(st, SD_LO_WORDS + i) : 0;
        d->words[k++] = w;
        v->last_state[SD_LO_WORDS + i] = w;
        ymm &= ymm - 1;
    }
}

static uint32_t slots_for(size_t bytes)
{
    return (uint32_t)((bytes + RING_SLOT - 1) / RING_SLOT);
}

/* Writes the end record of V's open event with a fresh id. */
static void push_end(struct rec_vcpu *v, uint16_t flags)
{
    struct hvt_rec *rec = v->rec;
    struct rr_end *e;
    uint64_t id;

    /* Reserve before taking the id, so that an id is never taken for a record that cannot
     * be written (after an error nothing more is written anyway). */
    e = reserve_wait(v, 1);
    if (!e) {
        count(&v->dropped);
        return;
    }
    id = atomic_fetch_add_explicit(&rec->next_event_id, 1, memory_order_relaxed);
    e->h.type = RT_END;
    e->h.nslots = 1;
    e->h.flags = flags | (v->pass_open ? RR_END_PASS_OPEN : 0);
    e->h.aux = v->access_idx;
    e->id = id;
    ring_commit(&v->ring);
    ring_publish(&v->ring); /* the event is complete: the writer may write it now */
    atomic_store_explicit(&v->last_id, id, memory_order_relaxed);
}

int hvt_rec_event_begin(struct hvt_rec *rec, uint32_t vcpu, const struct hvt_vcpu_state *init,
                        const uint8_t *insn, size_t insn_len)
{
    struct rec_vcpu *v;
    struct rr_begin *b;
    uint64_t mlo, mymm;
    uint32_t n;
    int err;

    if (!rec || !init || vcpu >= rec->max_vcpus || insn_len > HVT_INSN_MAX || (insn_len && !insn))
        return -HVT_E_INVALID;
    v = rec_vcpu_get(rec, vcpu);
    if (!v) {
        err = hvt_rec_vcpu_add(rec, vcpu);
        if (err)
            return err;
        v = rec_vcpu_get(rec, vcpu);
    }
    if (v->ev_open)
        push_end(v, RR_END_ABANDONED);
    v->ev_open = 1;
    v->pass_open = 0;
    v->pass_idx = 0;
    v->access_idx = 0;
    if (atomic_load_explicit(&rec->failed, memory_order_relaxed)) {
        count(&v->dropped);
        return 0;
    }
    n = slots_for(sizeof(*b) + 8 * delta_prepare(v, init, &mlo, &mymm));
    b = reserve_wait(v, n);
    if (!b) {
        count(&v->dropped);
        return 0;
    }
    b->h.type = RT_BEGIN;
    b->h.nslots = (uint8_t)n;
    b->h.flags = 0;
    b->h.aux = 0;
    b->time_ns = (rec->opt.flags & HVT_REC_NO_TIME) ? 0 : mono_now_ns() - rec->t0_mono;
    b->insn_len = (uint8_t)insn_len;
    memset(b->insn, 0, sizeof(b->insn));
    if (insn_len)
        memcpy(b->insn, insn, insn_len);
    delta_write(v, init, mlo, mymm, &b->st);
    ring_commit(&v->ring);
    return 0;
}

int hvt_rec_pass_begin(struct hvt_rec *rec, uint32_t vcpu)
{
    struct rec_vcpu *v;

    if (!rec || !(v = rec_vcpu_get(rec, vcpu)) || !v->ev_open || v->pass_open)
        return -HVT_E_INVALID;
    /* Nothing goes to the ring: the writer starts a pass at the first record after a begin or
     * a pass end. */
    v->pass_open = 1;
    v->access_idx = 0;
    return 0;
}

int hvt_rec_pass_end(struct hvt_rec *rec, uint32_t vcpu, const struct hvt_pass_outcome *out,
                     const struct hvt_vcpu_state *end)
{
    struct rec_vcpu *v;
    struct rr_pass_end *p;
    uint64_t mlo, mymm;
    uint32_t n;

    if (!rec || !out || !end || !(v = rec_vcpu_get(rec, vcpu)) || !v->pass_open)
        return -HVT_E_INVALID;
    v->pass_open = 0;
    v->pass_idx++;
    if (atomic_load_explicit(&rec->failed, memory_order_relaxed)) {
        count(&v->dropped);
        return 0;
    }
    n = slots_for(sizeof(*p) + 8 * delta_prepare(v, end, &mlo, &mymm));
    p = reserve_wait(v, n);
    if (!p) {
        count(&v->dropped);
        return 0;
    }
    p->h.type = RT_PASS_END;
    p->h.nslots = (uint8_t)n;
    p->h.flags = 0;
    p->h.aux = v->access_idx;
    p->out = *out;
    delta_write(v, end, mlo, mymm, &p->st);
    ring_commit(&v->ring);
    return 0;
}

int hvt_rec_event_end(struct hvt_rec *rec, uint32_t vcpu)
{
    struct rec_vcpu *v;

    if (!rec || !(v = rec_vcpu_get(rec, vcpu)) || !v->ev_open)
        return -HVT_E_INVALID;
    if (atomic_load_explicit(&rec->failed, memory_order_relaxed))
        count(&v->dropped);
    else
        push_end(v, 0);
    v->ev_open = 0;
    v->pass_open = 0;
    return 0;
}

/* ---- the access path ------------------------------------------------------------------- */

/* Writes one access record into V's ring: the hot path. DATA/OLD/CUR hold SIZE bytes (OLD and
 * CUR only for cmpxchg). */
static inline int push_access(struct rec_vcpu *v, uint8_t kind, uint8_t space, uint8_t seg,
                              uint8_t outcome, const struct hvt_tag *tag, uint32_t flags,
                              uint64_t linear, uint64_t phys, uint32_t size, uint32_t callsite,
                              const void *data, const void *old, const void *cur)
{
    struct hvt_rec *rec = v->rec;
    uint32_t bytes =
        (uint32_t)sizeof(struct rr_access) + (kind == HVT_ACC_CMPXCHG ? 3 * size : size);
    uint32_t n = (bytes + RING_SLOT - 1) / RING_SLOT;
    struct rr_access *r;
    uint32_t idx = v->access_idx++;

    if (__builtin_expect(atomic_load_explicit(&rec->failed, memory_order_relaxed) != 0, 0)) {
        count(&v->dropped);
        return 0;
    }
    if (rec->opt.backpressure == HVT_REC_DROP) {
        r = ring_reserve(&v->ring, n, RR_DROP_KEEP);
        if (__builtin_expect(!r, 0)) {
            /* The gap in access indices tells the writer where; it writes the marker. */
            count(&v->dropped);
            return 0;
        }
    } else {
        r = ring_reserve(&v->ring, n, 0);
        if (__builtin_expect(!r, 0)) {
            r = reserve_wait(v, n);
            if (!r) {
                count(&v->dropped);
                return 0;
            }
        }
    }
    r->h.type = RT_ACCESS;
    r->h.nslots = (uint8_t)n;
    r->h.flags = 0;
    r->h.aux = idx;
    r->kind = kind;
    r->space = space;
    r->seg = seg;
    r->outcome = outcome;
    r->size = size;
    r->tag = *tag;
    r->flags = flags;
    r->callsite = callsite;
    r->linear = linear;
    r->phys = phys;
    /* Constant-size copies for the common sizes compile to one or two moves. */
    switch (size) {
    case 1:
        memcpy(r->data, data, 1);
        break;
    case 2:
        memcpy(r->data, data, 2);
        break;
    case 4:
        memcpy(r->data, data, 4);
        break;
    case 8:
        memcpy(r->data, data, 8);
        break;
    default:
        memcpy(r->data, data, size);
        break;
    }
    if (kind == HVT_ACC_CMPXCHG) {
        memcpy(r->data + size, old, size);
        memcpy(r->data + 2 * size, cur, size);
    }
    ring_commit(&v->ring);
    return 0;
}

/* always_inline: the skip counts below assume this helper adds no frame, at any -O level. */
static inline __attribute__((always_inline)) uint32_t capture(struct hvt_rec *rec,
                                                              struct rec_vcpu *v, uint32_t skip)
{
    int overflow = 0;
    uint32_t id = cs_capture(rec->cs, skip + rec->opt.callsite_skip, &overflow);
    if (overflow)
        count(&v->cs_overflow);
    return id;
}

__attribute__((noinline)) int hvt_rec_access(struct hvt_rec *rec, uint32_t vcpu,
                                             const struct hvt_access *a)
{
    struct rec_vcpu *v;
    uint32_t cs;

    if (!rec || !a || vcpu >= rec->max_vcpus)
        return -HVT_E_INVALID;
    v = rec_vcpu_get(rec, vcpu);
    if (!v)
        return -HVT_E_INVALID;
    if (!v->pass_open) {
        count(&v->outside_pass);
        return -HVT_E_INVALID;
    }
    if (a->size == 0 || a->size > HVT_DATA_MAX || a->kind >= HVT_ACC__COUNT ||
        a->space >= HVT_SPACE__COUNT || a->outcome >= HVT_OP__COUNT ||
        (a->seg > HVT_SEG_IDTR && a->seg != HVT_SEG_NONE) || a->tag.cls >= HVT_TAG__COUNT)
        return -HVT_E_INVALID;
    /* Frame 0 of the capture is this function; the host's caller is next. */
    cs = rec->cs ? capture(rec, v, 1) : a->callsite;
    return push_access(v, a->kind, a->space, a->seg, a->outcome, &a->tag, a->flags, a->linear,
                       a->phys, a->size, cs, a->data, a->old, a->cur);
}

/* Used by the interposer (wrap.c): the op has been forwarded; record what it did. */
__attribute__((noinline)) int rec_push_access_op(struct rec_vcpu *v, uint8_t kind, uint8_t outcome,
                                                 const struct hvt_op_info *info, uint64_t phys,
                                                 uint32_t size, const void *data, const void *old,
                                                 const void *cur)
{
    struct hvt_rec *rec = v->rec;
    uint32_t cs = 0, flags = 0;

    if (!v->pass_open) {
        count(&v->outside_pass);
        return -HVT_E_INVALID;
    }
    if (size == 0 || size > HVT_DATA_MAX) {
        /* The core ABI never does this; if a core does, the access shows up as lost. */
        v->access_idx++;
        count(&v->dropped);
        return -HVT_E_INVALID;
    }
    /* Frames of ours: this function and the wrapper op; then the core that made the access. */
    if (rec->cs)
        cs = capture(rec, v, 2);
    if (info->flags & HVT_OPF_LINEAR_VALID)
        flags |= HVT_AF_LINEAR_VALID;
    if (info->flags & HVT_OPF_LOCKED)
        flags |= HVT_AF_LOCKED;
    if (info->flags & HVT_OPF_SPLIT)
        flags |= HVT_AF_SPLIT;
    return push_access(v, kind, info->space, info->seg, outcome, &info->tag, flags,
                       (info->flags & HVT_OPF_LINEAR_VALID) ? info->linear : 0, phys, size, cs,
                       data, old, cur);
}
