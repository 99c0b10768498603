/* SPDX-License-Identifier: MIT */
/* Recorder internals shared by the API (rec.c), writer thread, interposer and call sites. */
#ifndef HVT_REC_INTERNAL_H
#define HVT_REC_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "hvtrace/recorder.h"

#include "common/rules.h"
#include "callsite.h"
#include "ring.h"

/* ---- ring records (all start with struct ring_hdr) ----------------------------------------- */

/* vCPU states travel as deltas against the previous state recorded on the same vCPU (the
 * last initial or pass-end state): a bit per changed 8-byte word, then the changed words.
 * An instruction typically changes rip, rflags and a register or two, so a state costs one
 * slot instead of sixteen. Without HVT_STATE_SIMD_VALID the ymm words count as zero. */
#define SD_LO_WORDS (offsetof(struct hvt_vcpu_state, ymm) / 8)       /* 58 */
#define SD_YMM_WORDS (sizeof(((struct hvt_vcpu_state *)0)->ymm) / 8) /* 64 */
struct rr_state_delta {
    uint64_t mask_lo;  /* words 0..SD_LO_WORDS-1 that changed */
    uint64_t mask_ymm; /* ymm words that changed */
    uint64_t words[];  /* the changed words, low words first */
};

/* RT_BEGIN */
struct rr_begin {
    struct ring_hdr h;
    uint64_t stamp; /* rec_stamp(); 0 with HVT_REC_NO_TIME */
    uint8_t insn_len;
    uint8_t insn[HVT_INSN_MAX];
    struct rr_state_delta st;
};

/* RT_ACCESS: three words, then the optional words the access needs, then its data:
 *   h      aux = index of the access within its pass (gaps are drop-mode losses);
 *          flags = size | access flags << 8 | RRA_EXT
 *   info   kind, space, seg, outcome, then the tag's cls, operand, level, reserved: the first
 *          eight bytes of struct hvt_access, so the writer copies it as one word
 *   phys
 *   [linear]                      when the access flags have LINEAR_VALID
 *   [element | callsite << 32]    with RRA_EXT (either is nonzero)
 *   data   size bytes; for cmpxchg size bytes of new, then old, then cur; padded to a word
 *          (with zeros when the access is not a cmpxchg and SIZE is at most 8).
 * A page-walk read takes 32 bytes, a data read 40: the ring carries about 40% fewer lines
 * than with a copy of struct hvt_access's head in a 64-byte slot. */
#define RRA_EXT 0x8000u
#define RRA_FLAGS_SHIFT 8
struct rr_access {
    struct ring_hdr h;
    uint64_t info;
    uint64_t phys;
    uint64_t opt[]; /* the optional words, then the data */
};
#define RRA_AFLAGS (HVT_AF_LINEAR_VALID | HVT_AF_LOCKED | HVT_AF_SPLIT) /* all an op can set */
/* The info word's fields. */
#define RRI_KIND(i) ((uint8_t)(i))
#define RRI_SPACE(i) ((uint8_t)((i) >> 8))
#define RRI_SEG(i) ((uint8_t)((i) >> 16))
#define RRI_OUTCOME(i) ((uint8_t)((i) >> 24))
#define RRI_CLS(i) ((uint8_t)((i) >> 32))
#define RRI_OPERAND(i) ((uint8_t)((i) >> 40))
#define RRI_LEVEL(i) ((uint8_t)((i) >> 48))
#define RRI_RESERVED(i) ((uint8_t)((i) >> 56))
/* The first eight bytes of struct hvt_tag, as the info word's upper half. */
static inline uint64_t rri_tag(const struct hvt_tag *tag)
{
    uint32_t t;
    memcpy(&t, tag, 4);
    return (uint64_t)t << 32;
}
static inline uint64_t rri_make(const struct hvt_tag *tag, unsigned kind, unsigned space,
                                unsigned seg, unsigned outcome)
{
    return (uint64_t)(kind & 0xff) | (uint64_t)(space & 0xff) << 8 | (uint64_t)(seg & 0xff) << 16 |
           (uint64_t)(outcome & 0xff) << 24 | rri_tag(tag);
}

/* RT_PASS_END; aux = accesses the pass made (recorded or dropped). */
struct rr_pass_end {
    struct ring_hdr h;
    struct hvt_pass_outcome out;
    struct rr_state_delta st;
};

/* RT_END; flags: RR_END_*; aux = accesses made by a pass still open at the end. */
struct rr_end {
    struct ring_hdr h;
    uint64_t id;
};
#define RR_END_ABANDONED 1u
#define RR_END_PASS_OPEN 2u

/* Largest record, in slots: a begin or pass end with a full state. */
#define RR_STATE_SLOTS                                                                             \
    ((sizeof(struct rr_begin) + sizeof(struct hvt_vcpu_state) + RING_SLOT - 1) / RING_SLOT)
#define RR_END_SLOTS ((sizeof(struct rr_end) + RING_SLOT - 1) / RING_SLOT)
/* Largest access record: three words, two optional ones, cmpxchg data of the largest size. */
#define RR_ACCESS_MAX_SLOTS (5 + (3 * HVT_DATA_MAX + RING_SLOT - 1) / RING_SLOT)
/* In drop mode an access leaves this many slots free so event and pass boundaries (which
 * wait rather than drop) almost never have to wait: two full states, an end, and padding. */
#define RR_DROP_KEEP (3 * RR_STATE_SLOTS + RR_END_SLOTS)

/* ---- event time stamps (clock.c) ------------------------------------------------------- */

struct rec_clock {
    int tsc;            /* stamps are TSC readings (invariant TSC); else CLOCK_MONOTONIC ns */
    uint64_t tsc0, ns0; /* the pair taken at open (ns0 alone without TSC) */
    uint64_t tsc1, ns1; /* the writer's latest pair */
    double scale;       /* (ns1 - ns0) / (tsc1 - tsc0), computed when the pair is taken */
};

#if defined(__x86_64__)
#include <x86intrin.h>
static inline uint64_t rec_stamp_tsc(void)
{
    return __rdtsc();
}
#else
static inline uint64_t rec_stamp_tsc(void)
{
    return 0;
}
#endif

uint64_t hvt_rec_mono_ns(void);
void hvt_rec_clock_init(struct rec_clock *c);
/* Writer: nanoseconds from open to the event stamped STAMP. */
uint64_t hvt_rec_clock_ns(struct rec_clock *c, uint64_t stamp);

/* ---- per vCPU --------------------------------------------------------------------------- */

#define REC_OK_SLOTS 64
#define REC_GLOG 16 /* generations of state deltas the writer's builder remembers */

/* The interposer's context: one per vCPU, owned by the recorder. */
struct rec_wrap {
    struct hvt_rec *rec;
    struct rec_vcpu *v;
    const struct hvt_core_ops *inner; /* &inner_ops */
    void *inner_ctx;
    struct hvt_core_ops inner_ops; /* the host's table, copied (it may be an older, smaller one) */
};

/* Writer-side reassembly of one event. */
struct rec_builder {
    int open;     /* a begin was seen, no end yet */
    int complete; /* end seen: waiting for its id's turn */
    struct hvt_event ev;
    uint32_t cap_passes;
    struct hvt_pass *passes;
    uint32_t *pass_first; /* index in accs of each pass's first access */
    uint32_t n_accs, cap_accs;
    struct hvt_access *accs;
    uint32_t cur_pass_accesses_seen; /* next expected access index in the open pass */
    int pass_open;                   /* accesses arrived for a pass not ended yet */
    /* lost-access gaps of this event, written as markers before it */
    uint32_t n_gaps, cap_gaps;
    struct hvt_lost *gaps;
    /* Generations of the writer's delta base (rec_vcpu.wstate): each delta applied to it is
     * one, its masks kept in a short log. Each state the builder holds (the event's init,
     * every pass end; their buffers are reused from event to event) remembers the generation
     * it last equalled the base at, so making it equal again copies only the words changed
     * since instead of the whole 976-byte state (0: never; a whole copy). */
    uint64_t wgen;
    uint64_t glog_lo[REC_GLOG], glog_ymm[REC_GLOG];
    uint64_t init_gen;
    uint64_t *pass_gen; /* [cap_passes] */
};

struct rec_vcpu {
    struct ring ring;

    /* producer-private (the vCPU's thread) */
    _Alignas(64) struct hvt_rec *rec;
    uint32_t id;
    uint32_t keep; /* slots an access leaves free: RR_DROP_KEEP in drop mode, else 0 */
    int ev_open;
    int pass_open;
    uint32_t pass_idx;
    uint32_t access_idx;
    struct rec_wrap wrap;
    uint64_t last_state[SD_LO_WORDS + SD_YMM_WORDS]; /* base of the next state delta */
    int last_ymm_nonzero; /* some ymm word of last_state may be nonzero */
    struct cs_memo *memo; /* call sites on: the chains this vCPU saw lately */
    uint32_t acc_limit;   /* accesses the open pass may make (the format's per-pass and
                             per-event limits); an access at access_idx >= acc_limit is refused */
    uint32_t fast_limit;  /* acc_limit while a pass is open and call sites are off, else 0: the
                             interposer's one test for its fast path */
    /* Access shapes (info word, size | access flags << 8) that passed hvt_access_ok lately, direct
     * mapped, two ways (slots i and i ^ 1): the checks cost about a fifth of recording an
     * access, and a core makes few shapes (a few dozen under the host's mixed scenario).
     * Port I/O is never kept (its check reads the port number too). */
    uint64_t ok_info[REC_OK_SLOTS];
    uint16_t ok_so[REC_OK_SLOTS]; /* 0xffff: free (no size is 255) */
    uint32_t ev_accesses; /* accesses made by the open event's ended passes */
    char why[192];        /* detail of the last refused call (hvt_rec_last_error) */

    /* producer-written counters, read by anyone (relaxed) */
    _Alignas(64) _Atomic uint64_t dropped;
    _Atomic uint64_t outside_pass;
    _Atomic uint64_t block_waits;
    _Atomic uint64_t cs_overflow;
    _Atomic uint64_t last_id;
    _Atomic uint64_t refused; /* calls refused by the checks (hvt_rec_last_error says why) */

    /* writer-private */
    _Alignas(64) uint32_t wid; /* copy of id: the writer never reads the producer's lines */
    struct rec_builder b;
    struct hvt_vcpu_state wstate; /* the writer's copy of the delta base */
};

/* ---- the recording ------------------------------------------------------------------------ */

struct hvt_rec {
    struct hvt_rec_options opt;
    struct hvt_fmt_writer *w;
    int own_writer;

    /* read on every call: kept apart from the counters the writer bumps */
    _Alignas(64) _Atomic int failed; /* the negated error that stopped us, 0 while healthy */
    _Atomic int stopping;
    uint32_t max_vcpus;
    struct cs_table *cs; /* NULL when call sites are off */
    int stamp_tsc;       /* copy of clk.tsc, read by the vCPUs */
    int cs_memo_off;     /* no call-site memo (HVT_REC_CALLSITE_MEMO=0 at open) */

    /* Taken at every event end, by every vCPU: alone on its line, so that the writer's reads
     * of the fields below do not make each vCPU's next increment wait for the line. */
    _Alignas(64) _Atomic uint64_t next_event_id;
    _Alignas(64) _Atomic uint32_t hi_vcpu; /* highest registered vCPU + 1 */
    _Atomic(struct rec_vcpu *) *vcpus;     /* [max_vcpus] */

    /* writer thread */
    _Alignas(64) pthread_t thread;
    int thread_started;
    _Atomic uint32_t writer_wake; /* futex word: producers bump it when they need the writer */
    _Atomic uint32_t writer_sleeping;
    uint64_t next_write_id; /* writer: id of the next event to append */
    uint8_t *cs_defined;    /* writer: call-site ids already given to the format writer */
    uint64_t t0_ns;         /* CLOCK_REALTIME at open (the header's start time) */
    struct rec_clock clk;   /* writer: event times are offsets from open */

    /* writer-maintained statistics (relaxed atomics: snapshot readers race benignly) */
    _Atomic uint64_t st_events, st_passes, st_accesses, st_abandoned, st_incomplete;
    _Atomic uint64_t st_lost_markers, st_lost_written, st_max_fill, st_busy_ns, st_total_ns;
    _Atomic uint64_t st_drained_dropped; /* records discarded by the writer after an error */
    _Atomic uint64_t refused_novcpu;     /* refused calls naming no registered vCPU */
    uint64_t file_bytes, chunks;

    char errmsg[256];
};

/* An event's time stamp (struct rr_begin), turned into time by hvt_rec_clock_ns. */
static inline uint64_t rec_stamp(const struct hvt_rec *rec)
{
    return rec->stamp_tsc ? rec_stamp_tsc() : hvt_rec_mono_ns();
}

/* rec.c */
void hvt_rec_fail(struct hvt_rec *rec, int err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
uint64_t hvt_rec_now_ns(void);
/* VCPU's state, or NULL when it is out of range or not registered. */
static inline struct rec_vcpu *rec_vcpu_get(struct hvt_rec *rec, uint32_t vcpu)
{
    if (vcpu >= rec->max_vcpus)
        return NULL;
    return atomic_load_explicit(&rec->vcpus[vcpu], memory_order_relaxed);
}
/* Counts one event in a producer-written counter: single writer (the vCPU), so a plain
 * load+store, no locked instruction. */
static inline void rec_count(_Atomic uint64_t *c)
{
    atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + 1,
                          memory_order_relaxed);
}

void *hvt_rec_reserve_access_slow(struct rec_vcpu *v, uint32_t n);
/* Refuses a call of V (checked calls): FMT is the detail hvt_rec_last_error gives back, the
 * refusal is counted, the recording goes on. Returns -HVT_E_INVALID. */
int hvt_rec_refuse(struct rec_vcpu *v, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Refuses access A of V's open pass (hvt_access_explain or a format limit says why); its
 * index is skipped, so the trace shows where it was as a lost-records marker. */
int hvt_rec_refuse_access(struct rec_vcpu *v, const struct hvt_access *a);

/* The shape of an access as its checks see it: INFO (rri_make) and SO = size | access flags
 * << 8, with size 1..HVT_DATA_MAX, outcome < HVT_OP__COUNT and the access flags within
 * RRA_FLAGS_MAX (callers check those three first). */
#define RRA_FLAGS_MAX 0x7fu
static inline uint32_t rec_so(uint32_t size, uint32_t aflags)
{
    return size | aflags << RRA_FLAGS_SHIFT;
}
static inline unsigned rec_ok_slot(uint64_t info, uint32_t so)
{
    uint64_t h = (info ^ (uint64_t)so << 40) * 0x9e3779b97f4a7c15ull;
    return (unsigned)(h >> 58) & (REC_OK_SLOTS - 1);
}
/* hvt_access_ok for the shape, remembered when it passes (out of line). */
int hvt_rec_shape_check(struct rec_vcpu *v, uint64_t info, uint32_t so, uint64_t phys);
static inline int rec_shape_ok(struct rec_vcpu *v, uint64_t info, uint32_t so, uint64_t phys)
{
    unsigned i = rec_ok_slot(info, so);
    if (__builtin_expect((v->ok_info[i] == info && v->ok_so[i] == so) ||
                             (v->ok_info[i ^ 1] == info && v->ok_so[i ^ 1] == so),
                         1))
        return 1;
    return hvt_rec_shape_check(v, info, so, phys);
}

/* Writes one access record into V's ring: the hot path. INFO and SO as for rec_shape_ok; EXT
 * = element | callsite << 32. DATA/OLD/CUR hold SIZE bytes (OLD and CUR only for cmpxchg).
 * Inlined into its callers (the interposer's ops among them) so that the arguments stay in
 * registers: as a separate function its prologue and spills were a fifth of the vCPU's
 * recording cost. */
static inline __attribute__((always_inline)) void
rec_push_access(struct rec_vcpu *v, uint64_t info, uint32_t so, uint64_t linear, uint64_t phys,
                uint64_t ext, const void *data, const void *old, const void *cur)
{
    uint32_t size = so & 0xff;
    int cx = RRI_KIND(info) == HVT_ACC_CMPXCHG;
    uint32_t has_lin = (so & (HVT_AF_LINEAR_VALID << RRA_FLAGS_SHIFT)) != 0;
    uint32_t has_ext = ext != 0;
    uint32_t dbytes = cx ? 3 * size : size;
    uint32_t n = 3 + has_lin + has_ext + (dbytes + RING_SLOT - 1) / RING_SLOT;
    uint32_t idx = v->access_idx++;
    struct ring *rg = &v->ring;
    struct rr_access *r;
    uint64_t *p, hw;

    /* v->keep: the drop-mode reserve (0 in block mode), so one reserve serves both modes. A
     * stopped recording is noticed on the slow path: the writer discards, so rings drain.
     * ring_reserve and ring_commit, with the ring's fields in locals: the data stores below
     * may alias them as far as the compiler knows. */
    uint64_t head = rg->phead, mask = rg->mask, nh;
    uint8_t *mem = rg->mem;
    if (__builtin_expect(head + n + v->keep <= rg->limit, 1)) {
        r = (struct rr_access *)(void *)(mem + (head & mask) * RING_SLOT);
        nh = head + n;
    } else {
        r = ring_reserve(rg, n, v->keep);
        if (!r)
            r = hvt_rec_reserve_access_slow(v, n);
        if (!r)
            return;
        nh = rg->phead + rg->pending;
    }
    /* The header built in a register and written with one store (struct ring_hdr's layout). */
    hw = RT_ACCESS | (uint64_t)n << 8 | (uint64_t)(so | (has_ext ? RRA_EXT : 0)) << 16 |
         (uint64_t)idx << 32;
    memcpy(&r->h, &hw, 8);
    r->info = info;
    r->phys = phys;
    p = r->opt;
    if (has_lin)
        *p++ = linear;
    if (has_ext)
        *p++ = ext;
    if (!cx && size <= 8) {
        /* Up to a word: loaded exactly (constant sizes compile to one load), written as one
         * word whose bytes past SIZE are zero, so the writer copies it as a word too. */
        uint64_t w = 0;
        switch (size) {
        case 1: {
            uint8_t x;
            memcpy(&x, data, 1);
            w = x;
            break;
        }
        case 2: {
            uint16_t x;
            memcpy(&x, data, 2);
            w = x;
            break;
        }
        case 4: {
            uint32_t x;
            memcpy(&x, data, 4);
            w = x;
            break;
        }
        case 8:
            memcpy(&w, data, 8);
            break;
        default:
            memcpy(&w, data, size);
            break;
        }
        *p = w;
    } else {
        memcpy(p, data, size);
        if (cx) {
            memcpy((uint8_t *)p + size, old, size);
            memcpy((uint8_t *)p + 2 * size, cur, size);
        }
    }
    rg->phead = nh;
    __builtin_prefetch(mem + ((nh + RING_PREFETCH_W_SLOTS) & mask) * RING_SLOT, 1);
    if (nh - rg->pub >= RING_PUBLISH_SLOTS)
        ring_publish(rg);
}

/* The interposer's general path: checks (pass open, size), call-site capture, then the push.
 * Returns 0, or -HVT_E_INVALID when the access was not recorded (counted). */
int hvt_rec_push_access_op(struct rec_vcpu *v, uint8_t kind, unsigned outcome,
                           const struct hvt_op_info *info, uint64_t phys, uint32_t size,
                           const void *data, const void *old, const void *cur, uintptr_t anchor_ip,
                           uintptr_t anchor_cfa);
/* The return address and CFA of the function using them (after inlining), the anchor of
 * hvt_rec_push_access_op's call-site memo; 0 where the compiler cannot give them. */
#if defined(__GNUC__) && defined(__x86_64__)
#define REC_ANCHOR_IP() ((uintptr_t)__builtin_return_address(0))
#define REC_ANCHOR_CFA() ((uintptr_t)__builtin_dwarf_cfa())
#else
#define REC_ANCHOR_IP() ((uintptr_t)0)
#define REC_ANCHOR_CFA() ((uintptr_t)0)
#endif

/* writer.c */
void *hvt_rec_writer_main(void *arg);
void hvt_rec_writer_wake(struct hvt_rec *rec);
void hvt_rec_builder_free(struct rec_builder *b);

#endif
