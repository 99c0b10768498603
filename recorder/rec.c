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
#include "common/sized.h"
#include "common/wordiff.h"

#define DEF_RING_BYTES (1u << 20)
#define MIN_RING_BYTES 8192u
#define DEF_MAX_VCPUS 64u
/* A vCPU that finds its ring full yields this many times (the writer may be about to take a
 * batch), then sleeps until a sixteenth of the ring (or the record, if larger) is free: the
 * writer wakes it at the end of the batch that frees that much, so it resumes while the
 * writer still drains, and a vCPU that runs faster than the writer pays one wakeup per
 * batch (a few microseconds per thousands of records), not one per record. */
#define SPIN_TRIES 50
#define WAIT_FRACTION 16

_Static_assert(SD_LO_WORDS <= 64 && SD_YMM_WORDS <= 64, "state delta masks are 64-bit");
_Static_assert(sizeof(struct hvt_vcpu_state) == 8 * (SD_LO_WORDS + SD_YMM_WORDS),
               "the vCPU state is a whole number of words, ymm last");
_Static_assert(RR_STATE_SLOTS <= 255 && RR_ACCESS_MAX_SLOTS <= 255 &&
                   MIN_RING_BYTES / RING_SLOT >= RR_DROP_KEEP + RR_STATE_SLOTS,
               "the smallest ring holds the largest record beyond the drop-mode reserve");
_Static_assert(offsetof(struct ring_hdr, nslots) == 1 && offsetof(struct ring_hdr, flags) == 2 &&
                   offsetof(struct ring_hdr, aux) == 4 && sizeof(struct ring_hdr) == 8 &&
                   __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
               "rec_push_access writes the header as one little-endian word");
_Static_assert(HVT_DATA_MAX < 0x100 && HVT_AF_ALL <= RRA_FLAGS_MAX,
               "an access shape's size and flags fit their bytes");

void hvt_rec_options_init(struct hvt_rec_options *opt)
{
    if (!opt)
        return;
    memset(opt, 0, sizeof(*opt));
    opt->size = sizeof(*opt);
    /* the trace's own defaults (zstd level, chunk size) are the format writer's */
    struct hvt_fmt_writer_options wo;
    hvt_fmt_writer_options_init(&wo);
    opt->level = wo.level;
    opt->chunk_bytes = wo.chunk_bytes;
    opt->ring_bytes = DEF_RING_BYTES;
    opt->backpressure = HVT_REC_BLOCK;
    opt->callsite_depth = 0;
    opt->flush_ms = 100;
}

uint64_t hvt_rec_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

void hvt_rec_fail(struct hvt_rec *rec, int err, const char *fmt, ...)
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
        if (v)
            hvt_ring_wake(&v->ring);
    }
}

/* ---- checked calls ----------------------------------------------------------------------- */

int hvt_rec_refuse(struct rec_vcpu *v, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(v->why, sizeof(v->why), fmt, ap);
    va_end(ap);
    rec_count(&v->refused);
    return -HVT_E_INVALID;
}

/* A call naming a vCPU the recording does not have: counted; the detail is computed when
 * hvt_rec_last_error asks. */
static int refuse_novcpu(struct hvt_rec *rec)
{
    atomic_fetch_add_explicit(&rec->refused_novcpu, 1, memory_order_relaxed);
    return -HVT_E_INVALID;
}

__attribute__((noinline)) int hvt_rec_refuse_access(struct rec_vcpu *v, const struct hvt_access *a)
{
    char why[160];
    uint32_t idx = v->access_idx++; /* the gap marks the place in the trace */

    if (hvt_access_explain(a, why, sizeof(why)) == 0)
        snprintf(why, sizeof(why), "more than %u accesses in the pass or %u in the event",
                 HVT_FMT_MAX_ACCESSES, HVT_FMT_MAX_EVENT_ACCESSES);
    return hvt_rec_refuse(v, "access %u of pass %u: %s", idx, v->pass_idx, why);
}

const char *hvt_rec_last_error(const struct hvt_rec *rec, uint32_t vcpu)
{
    struct rec_vcpu *v;
    if (!rec)
        return "no recording";
    if (vcpu >= rec->max_vcpus)
        return "vCPU id out of range (max_vcpus)";
    v = atomic_load_explicit(&rec->vcpus[vcpu], memory_order_acquire);
    if (!v)
        return "vCPU not registered (no event begun on it yet)";
    return v->why;
}

/* ---- options and open ------------------------------------------------------------------ */

static int check_options(struct hvt_rec_options *o, const struct hvt_rec_options *in)
{
    hvt_rec_options_init(o);
    if (in) {
        if (hvt_sized_in(o, sizeof(*o), in, in->size, HVT_REC_OPTIONS_SIZE_V1))
            return -HVT_E_INVALID;
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
    if (o->flags & ~(HVT_REC_OVERWRITE | HVT_REC_NO_TIME | HVT_REC_FOLLOW))
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
                hvt_ring_fini(&v->ring);
                hvt_rec_builder_free(&v->b);
                hvt_cs_memo_free(v->memo);
                free(v);
            }
        }
        free(rec->vcpus);
    }
    hvt_cs_table_free(rec->cs);
    free(rec->cs_defined);
    free(rec);
}

static int memo_disabled(void)
{
    const char *e = getenv("HVT_REC_CALLSITE_MEMO");
    return e && !strcmp(e, "0");
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
        /* HVT_REC_CALLSITE_MEMO=0: every call-site capture unwinds (to check the memo). */
        rec->cs_memo_off = memo_disabled();
        err = hvt_cs_table_new(&rec->cs, rec->opt.callsite_depth);
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
    rec->t0_ns = hvt_rec_now_ns();
    /* Event times are offsets on the monotonic clock (the wall clock may step back). */
    hvt_rec_clock_init(&rec->clk);
    rec->stamp_tsc = rec->clk.tsc;
    *out = rec;
    return 0;
}

static int rec_start(struct hvt_rec *rec)
{
    if (pthread_create(&rec->thread, NULL, hvt_rec_writer_main, rec))
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
    if (rec->opt.flags & HVT_REC_FOLLOW)
        wo.flags |= HVT_FMT_W_FOLLOW;
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

/* Fills ST (all of it: callers copy what the user's size holds). */
static void fill_stats(const struct hvt_rec *crec, struct hvt_rec_stats *st)
{
    struct hvt_rec *rec = (struct hvt_rec *)crec;
    memset(st, 0, sizeof(*st));
    st->size = sizeof(*st);
    st->refused = atomic_load(&rec->refused_novcpu);
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
    if (atomic_load(&rec->failed))
        snprintf(st->error, sizeof(st->error), "%s", rec->errmsg);
    for (uint32_t i = 0; i < atomic_load(&rec->hi_vcpu); i++) {
        struct rec_vcpu *v = atomic_load_explicit(&rec->vcpus[i], memory_order_acquire);
        if (!v)
            continue;
        st->dropped += atomic_load_explicit(&v->dropped, memory_order_relaxed);
        st->outside_pass += atomic_load_explicit(&v->outside_pass, memory_order_relaxed);
        st->block_waits += atomic_load_explicit(&v->block_waits, memory_order_relaxed);
        st->callsite_overflow += atomic_load_explicit(&v->cs_overflow, memory_order_relaxed);
        st->refused += atomic_load_explicit(&v->refused, memory_order_relaxed);
        if (v->memo) {
            uint64_t hits, misses;
            hvt_cs_memo_counts(v->memo, &hits, &misses);
            st->callsite_memo_hits += hits;
            st->callsite_unwinds += misses;
        }
    }
    st->callsites = rec->cs ? hvt_cs_count(rec->cs) : 0;
    st->bytes_written = rec->file_bytes;
    st->chunks = rec->chunks;
}

/* Copies the figures into the caller's STATS, as many as its size holds. */
static int stats_out(const struct hvt_rec *rec, struct hvt_rec_stats *stats)
{
    struct hvt_rec_stats all;
    if (stats->size < HVT_REC_STATS_SIZE_V1)
        return -HVT_E_INVALID;
    fill_stats(rec, &all);
    return hvt_sized_out(stats, stats->size, &all, sizeof(all), HVT_REC_STATS_SIZE_V1,
                         sizeof(all.size))
               ? -HVT_E_INVALID
               : 0;
}

int hvt_rec_stats(const struct hvt_rec *rec, struct hvt_rec_stats *stats)
{
    if (!rec || !stats)
        return -HVT_E_INVALID;
    return stats_out(rec, stats);
}

int hvt_rec_close(struct hvt_rec *rec, struct hvt_rec_stats *stats)
{
    int err;

    if (!rec)
        return 0;
    if (stats && stats->size < HVT_REC_STATS_SIZE_V1)
        stats = NULL;
    /* The vCPUs are quiescent (our contract): publish what they committed but did not
     * publish yet (the tail of an open event), so the writer can write it as abandoned. */
    for (uint32_t i = 0; i < atomic_load(&rec->hi_vcpu); i++) {
        struct rec_vcpu *v = atomic_load_explicit(&rec->vcpus[i], memory_order_acquire);
        if (v)
            ring_publish(&v->ring);
    }
    atomic_store(&rec->stopping, 1);
    hvt_rec_writer_wake(rec);
    if (rec->thread_started)
        pthread_join(rec->thread, NULL);
    /* The writer finished the file (index, footer) or flushed the caller's writer. */
    err = atomic_load(&rec->failed);
    if (stats)
        stats_out(rec, stats);
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
    err = hvt_ring_init(&v->ring, rec->opt.ring_bytes);
    if (err) {
        free(v);
        return err;
    }
    if (rec->cs && !rec->cs_memo_off &&
        (err = hvt_cs_memo_new(&v->memo, rec->opt.callsite_depth, rec->opt.callsite_skip))) {
        hvt_ring_fini(&v->ring);
        free(v);
        return err;
    }
    v->rec = rec;
    v->id = vcpu;
    v->wid = vcpu;
    v->keep = rec->opt.backpressure == HVT_REC_DROP ? RR_DROP_KEEP : 0;
    for (unsigned i = 0; i < REC_OK_SLOTS; i++) {
        v->ok_info[i] = ~0ull;
        v->ok_so[i] = 0xffff;
    }
    atomic_store_explicit(&v->last_id, HVT_NO_EVENT, memory_order_relaxed);
    v->wrap.rec = rec;
    v->wrap.v = v;
    {
        /* Two threads registering the same vCPU (say, a management thread wrapping ops while
         * the vCPU starts an event) must not both install a ring. */
        struct rec_vcpu *expect = NULL;
        if (!atomic_compare_exchange_strong_explicit(&rec->vcpus[vcpu], &expect, v,
                                                     memory_order_acq_rel, memory_order_acquire)) {
            hvt_ring_fini(&v->ring);
            hvt_cs_memo_free(v->memo);
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

#define count rec_count

/* Reserves N slots for a record that must not be dropped (event and pass boundaries): waits
 * for room in both modes. NULL only after a write error stopped the recording. */
static __attribute__((noinline)) void *reserve_wait_slow(struct rec_vcpu *v, uint32_t n)
{
    struct hvt_rec *rec = v->rec;
    void *p = ring_reserve(&v->ring, n, 0);
    int tries = 0;

    if (p)
        return p;
    count(&v->block_waits);
    ring_publish(&v->ring); /* the writer must see what we wait on it to take */
    hvt_rec_writer_wake(rec);
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
            /* the room this record needs, its padding at the end of the lap included */
            uint64_t idx = v->ring.phead & v->ring.mask;
            uint64_t want = n + (idx + n > v->ring.nslots ? v->ring.nslots - idx : 0);
            if (want < v->ring.nslots / WAIT_FRACTION)
                want = v->ring.nslots / WAIT_FRACTION;
            hvt_ring_wait(&v->ring, want);
        }
    }
}

static inline void *reserve_wait(struct rec_vcpu *v, uint32_t n)
{
    void *p = ring_reserve(&v->ring, n, 0);
    return p ? p : reserve_wait_slow(v, n);
}

/* The state read as words; may_alias makes that a defined way to look at the struct. */
typedef uint64_t __attribute__((may_alias)) state_word_t;

static inline uint64_t state_word(const struct hvt_vcpu_state *st, size_t i)
{
    return ((const state_word_t *)st)[i];
}

/* A state is compared with the delta base at every event begin and pass end (122 words with
 * SIMD registers). Word by word that cost about 800 instructions, as much as recording 8
 * accesses; vector compares give the mask of changed words directly (common/wordiff.h, shared
 * with the format's encoder). Words 0..19 (GPRs, RIP, RFLAGS, ES) change often; the rest of
 * the low part (most of the segments .. PDPTEs) and the YMM registers rarely, so those are tested
 * as a block first. */
HVT_DEFINE_DIFF_WORDS_SPLIT(diff_lo, SD_LO_WORDS - 2, 20)
HVT_DEFINE_DIFF_WORDS_SPLIT(diff_ymm, SD_YMM_WORDS, 0)

#if defined(__x86_64__)
/* delta_prepare in one AVX2 function: the helpers inline into it, and POPCNT counts the bits
 * (every AVX2 CPU has it). Half the instructions of the calls through the dispatchers. */
__attribute__((target("avx2,popcnt"))) static uint32_t
delta_prepare_avx2(const uint64_t *last, const state_word_t *w, const uint64_t *ymm_src,
                   uint64_t *mlo, uint64_t *mymm)
{
    enum { OFTEN = 20, RARE = SD_LO_WORDS - 2 - OFTEN };
    _Static_assert(OFTEN % 4 == 0 && RARE % 4 == 0 && SD_YMM_WORDS % 16 == 0, "whole vectors");
    uint64_t lo = hvt_diff_words_avx2(w, last, OFTEN), ymm = 0;
    /* The barriers keep the compiler from loading the rarely needed masks' operands ahead
     * (spilling vectors on the common path). */
    if (hvt_any_diff_avx2(w + OFTEN, last + OFTEN, RARE)) {
        __asm__ volatile("" ::: "memory");
        lo |= hvt_diff_words_avx2(w + OFTEN, last + OFTEN, RARE) << OFTEN;
    }
    for (unsigned i = SD_LO_WORDS - 2; i < SD_LO_WORDS; i++)
        lo |= (uint64_t)(w[i] != last[i]) << i;
    /* the ymm words in four blocks of four registers: an instruction that writes vector
     * registers changes one or two of them, so most blocks are passed over with one test */
    if (ymm_src)
        for (unsigned blk = 0; blk < SD_YMM_WORDS; blk += 16)
            if (hvt_any_diff_avx2(ymm_src + blk, last + SD_LO_WORDS + blk, 16)) {
                __asm__ volatile("" ::: "memory");
                ymm |= hvt_diff_words_avx2(ymm_src + blk, last + SD_LO_WORDS + blk, 16) << blk;
            }
    *mlo = lo;
    *mymm = ymm;
    return (uint32_t)(__builtin_popcountll(lo) + __builtin_popcountll(ymm));
}
#endif

/* Compares ST with V's delta base; returns the number of changed words and their masks. */
static uint32_t delta_prepare(const struct rec_vcpu *v, const struct hvt_vcpu_state *st,
                              uint64_t *mlo, uint64_t *mymm)
{
    static const uint64_t zero[SD_YMM_WORDS];
    const state_word_t *w = (const state_word_t *)st;
    const uint64_t *ymm_src = NULL; /* NULL: no ymm word can differ */
    if (st->flags & HVT_STATE_SIMD_VALID)
        ymm_src = (const uint64_t *)(w + SD_LO_WORDS);
    else if (v->last_ymm_nonzero) /* without SIMD state the ymm words count as zero */
        ymm_src = zero;
#if defined(__x86_64__)
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("popcnt"))
        return delta_prepare_avx2(v->last_state, w, ymm_src, mlo, mymm);
#endif
    /* words 0..55 as vectors, the last two (PDPTE3, flags+mxcsr) one by one */
    *mlo = diff_lo(st, v->last_state);
    for (unsigned i = SD_LO_WORDS - 2; i < SD_LO_WORDS; i++)
        *mlo |= (uint64_t)(w[i] != v->last_state[i]) << i;
    *mymm = ymm_src ? diff_ymm(ymm_src, v->last_state + SD_LO_WORDS) : 0;
    /* few bits are set: clearing them one by one beats libgcc's table popcount (no POPCNT in
     * the baseline instruction set) */
    uint32_t n = 0;
    for (uint64_t m = *mlo; m; m &= m - 1)
        n++;
    for (uint64_t m = *mymm; m; m &= m - 1)
        n++;
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
    e = reserve_wait(v, RR_END_SLOTS);
    if (!e) {
        count(&v->dropped);
        return;
    }
    id = atomic_fetch_add_explicit(&rec->next_event_id, 1, memory_order_relaxed);
    e->h.type = RT_END;
    e->h.nslots = RR_END_SLOTS;
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

    if (!rec)
        return -HVT_E_INVALID;
    if (vcpu >= rec->max_vcpus)
        return refuse_novcpu(rec);
    v = rec_vcpu_get(rec, vcpu);
    if (!v) {
        err = hvt_rec_vcpu_add(rec, vcpu);
        if (err)
            return err;
        v = rec_vcpu_get(rec, vcpu);
    }
    if (!init)
        return hvt_rec_refuse(v, "event begin: no initial state");
    if (insn_len > HVT_INSN_MAX || (insn_len && !insn))
        return hvt_rec_refuse(v, "event begin: %zu instruction bytes%s (at most %u)", insn_len,
                              insn ? "" : " and no buffer", HVT_INSN_MAX);
    if (v->ev_open)
        push_end(v, RR_END_ABANDONED);
    if (v->memo)
        hvt_cs_memo_bind(v->memo); /* the thread this event runs on, before any access */
    v->ev_open = 1;
    v->pass_open = 0;
    v->fast_limit = 0;
    v->pass_idx = 0;
    v->access_idx = 0;
    v->ev_accesses = 0;
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
    b->stamp = (rec->opt.flags & HVT_REC_NO_TIME) ? 0 : rec_stamp(rec);
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

    if (!rec)
        return -HVT_E_INVALID;
    if (!(v = rec_vcpu_get(rec, vcpu)))
        return refuse_novcpu(rec);
    if (!v->ev_open)
        return hvt_rec_refuse(v, "pass begin with no event open");
    if (v->pass_open)
        return hvt_rec_refuse(v, "pass begin: pass %u is still open", v->pass_idx);
    if (v->pass_idx >= HVT_FMT_MAX_PASSES)
        return hvt_rec_refuse(v, "pass begin: an event has at most %u passes",
                              HVT_FMT_MAX_PASSES);
    /* Nothing goes to the ring: the writer starts a pass at the first record after a begin or
     * a pass end. */
    v->pass_open = 1;
    v->access_idx = 0;
    /* ev_accesses counts refused indices too, so it can pass the event's limit: saturate */
    v->acc_limit = v->ev_accesses < HVT_FMT_MAX_EVENT_ACCESSES
                       ? HVT_FMT_MAX_EVENT_ACCESSES - v->ev_accesses
                       : 0;
    if (v->acc_limit > HVT_FMT_MAX_ACCESSES)
        v->acc_limit = HVT_FMT_MAX_ACCESSES;
    v->fast_limit = rec->cs ? 0 : v->acc_limit;
    return 0;
}

int hvt_rec_pass_end(struct hvt_rec *rec, uint32_t vcpu, const struct hvt_pass_outcome *out,
                     const struct hvt_vcpu_state *end)
{
    struct rec_vcpu *v;
    struct rr_pass_end *p;
    uint64_t mlo, mymm;
    uint32_t n;

    char why[128];

    if (!rec)
        return -HVT_E_INVALID;
    if (!(v = rec_vcpu_get(rec, vcpu)))
        return refuse_novcpu(rec);
    if (!v->pass_open)
        return hvt_rec_refuse(v, "pass end with no pass open");
    if (!out || !end)
        return hvt_rec_refuse(v, "pass end of pass %u: no %s", v->pass_idx,
                              out ? "end state" : "outcome");
    /* refused, the pass stays open: the host may end it again with a good outcome */
    if (hvt_outcome_explain(out, why, sizeof(why)))
        return hvt_rec_refuse(v, "pass end of pass %u: %s", v->pass_idx, why);
    v->pass_open = 0;
    v->fast_limit = 0;
    v->pass_idx++;
    /* every access index the pass used counts, refused and dropped ones too (conservative) */
    v->ev_accesses += v->access_idx;
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

    if (!rec)
        return -HVT_E_INVALID;
    if (!(v = rec_vcpu_get(rec, vcpu)))
        return refuse_novcpu(rec);
    if (!v->ev_open)
        return hvt_rec_refuse(v, "event end with no event open");
    if (atomic_load_explicit(&rec->failed, memory_order_relaxed))
        count(&v->dropped);
    else
        push_end(v, 0);
    v->ev_open = 0;
    v->pass_open = 0;
    v->fast_limit = 0;
    return 0;
}

/* ---- the access path ------------------------------------------------------------------- */

/* Slow path of an access that found no room (or a stopped recording): drop mode counts it,
 * block mode waits. NULL: not recorded (counted). Out of line to keep the fast path small. */
__attribute__((noinline)) void *hvt_rec_reserve_access_slow(struct rec_vcpu *v, uint32_t n)
{
    void *r = NULL;
    if (!atomic_load_explicit(&v->rec->failed, memory_order_relaxed) &&
        v->rec->opt.backpressure != HVT_REC_DROP)
        r = reserve_wait(v, n);
    /* In drop mode the gap in access indices tells the writer where; it writes the marker. */
    if (!r)
        rec_count(&v->dropped);
    return r;
}

/* always_inline: the skip counts below assume this helper adds no frame, at any -O level. */
static inline __attribute__((always_inline)) uint32_t capture(struct hvt_rec *rec,
                                                              struct rec_vcpu *v, uint32_t skip,
                                                              uintptr_t anchor_ip,
                                                              uintptr_t anchor_cfa)
{
    int overflow = 0;
    uint32_t id = hvt_cs_capture(rec->cs, skip, rec->opt.callsite_skip, &overflow, v->memo,
                                 anchor_ip, anchor_cfa);
    if (overflow)
        count(&v->cs_overflow);
    return id;
}

__attribute__((noinline)) int hvt_rec_shape_check(struct rec_vcpu *v, uint64_t info, uint32_t so,
                                                  uint64_t phys)
{
    struct hvt_tag tag = {.cls = RRI_CLS(info),
                          .operand = RRI_OPERAND(info),
                          .level = RRI_LEVEL(info),
                          .reserved = RRI_RESERVED(info)};
    unsigned kind = RRI_KIND(info), i;

    if (!hvt_access_ok(kind, RRI_SPACE(info), RRI_SEG(info), RRI_OUTCOME(info), &tag,
                       so >> RRA_FLAGS_SHIFT, phys, so & 0xff))
        return 0;
    if (kind == HVT_ACC_IO_IN || kind == HVT_ACC_IO_OUT)
        return 1; /* the port number is part of the check: not remembered */
    /* the newest in slot i, the one it displaces in its pair */
    i = rec_ok_slot(info, so);
    v->ok_info[i ^ 1] = v->ok_info[i];
    v->ok_so[i ^ 1] = v->ok_so[i];
    v->ok_info[i] = info;
    v->ok_so[i] = (uint16_t)so;
    return 1;
}

__attribute__((noinline)) int hvt_rec_access(struct hvt_rec *rec, uint32_t vcpu,
                                             const struct hvt_access *a)
{
    struct rec_vcpu *v;
    uint32_t cs;
    uint64_t info;

    if (!rec)
        return -HVT_E_INVALID;
    v = rec_vcpu_get(rec, vcpu);
    if (!v)
        return refuse_novcpu(rec);
    if (!a)
        return hvt_rec_refuse(v, "access: no access");
    if (!v->pass_open) {
        count(&v->outside_pass);
        return hvt_rec_refuse(v, "access with no pass open");
    }
    /* everything the format writer would refuse, and what cannot be right, is refused here:
     * a bad record must never reach the writer, where it would stop the recording */
    info = rri_make(&a->tag, a->kind, a->space, a->seg, a->outcome);
    if (__builtin_expect(a->size - 1 >= HVT_DATA_MAX || a->flags > RRA_FLAGS_MAX ||
                             v->access_idx >= v->acc_limit ||
                             !rec_shape_ok(v, info, rec_so(a->size, a->flags), a->phys),
                         0))
        return hvt_rec_refuse_access(v, a);
    /* Frame 0 of the capture is this function; the host's caller is next. */
    cs = rec->cs ? capture(rec, v, 1, REC_ANCHOR_IP(), REC_ANCHOR_CFA()) : a->callsite;
    rec_push_access(v, info, rec_so(a->size, a->flags),
                    (a->flags & HVT_AF_LINEAR_VALID) ? a->linear : 0, a->phys,
                    a->tag.element | (uint64_t)cs << 32, a->data, a->old, a->cur);
    return 0;
}

/* Used by the interposer (wrap.c): the op has been forwarded; record what it did. */
_Static_assert(HVT_OPF_LINEAR_VALID == HVT_AF_LINEAR_VALID && HVT_OPF_LOCKED == HVT_AF_LOCKED &&
                   HVT_OPF_SPLIT == HVT_AF_SPLIT,
               "op flags and access flags share their bits");
__attribute__((noinline)) int hvt_rec_push_access_op(struct rec_vcpu *v, uint8_t kind,
                                                     unsigned outcome,
                                                     const struct hvt_op_info *info, uint64_t phys,
                                                     uint32_t size, const void *data,
                                                     const void *old, const void *cur,
                                                     uintptr_t anchor_ip, uintptr_t anchor_cfa)
{
    uint32_t cs = 0, flags;
    uint64_t iw;

    if (__builtin_expect(!v->pass_open, 0)) {
        count(&v->outside_pass);
        return -HVT_E_INVALID;
    }
    if (__builtin_expect(size - 1 >= HVT_DATA_MAX, 0)) {
        /* The core ABI never does this; if a core does, the access shows up as lost. */
        v->access_idx++;
        count(&v->dropped);
        return -HVT_E_INVALID;
    }
    flags = info->flags & RRA_AFLAGS;
    iw = rri_make(&info->tag, kind, info->space, info->seg, outcome);
    if (outcome >= HVT_OP__COUNT || v->access_idx >= v->acc_limit ||
        !rec_shape_ok(v, iw, rec_so(size, flags), phys)) {
        struct hvt_access a = {.kind = kind,
                               .space = info->space,
                               .seg = info->seg,
                               .outcome = (uint8_t)outcome,
                               .tag = info->tag,
                               .size = size,
                               .flags = flags,
                               .phys = phys};
        if (outcome >= HVT_OP__COUNT)
            a.outcome = 0xff; /* out of range either way; explained as such */
        return hvt_rec_refuse_access(v, &a);
    }
    /* Frames of ours: this function and the wrapper op; then the core that made the access. */
    if (v->rec->cs)
        cs = capture(v->rec, v, 2, anchor_ip, anchor_cfa);
    rec_push_access(v, iw, rec_so(size, flags), (flags & HVT_AF_LINEAR_VALID) ? info->linear : 0,
                    phys, info->tag.element | (uint64_t)cs << 32, data, old, cur);
    return 0;
}
