/* SPDX-License-Identifier: MIT */
/* hvtrace: the recording library a hypervisor links in: events, passes, accesses, interposer. */
#ifndef HVTRACE_RECORDER_H
#define HVTRACE_RECORDER_H

#include "hvtrace/export.h"

#include <stddef.h>
#include <stdint.h>

#include "hvtrace/core.h"
#include "hvtrace/error.h"
#include "hvtrace/format.h"
#include "hvtrace/types.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * Where the types live
 * --------------------
 * This header declares the recorder; the data it records is defined with the data model:
 *   hvtrace/types.h   struct hvt_vcpu_state (registers), struct hvt_access and struct hvt_tag
 *                     (one access and its role), struct hvt_pass_outcome, enum hvt_access_kind,
 *                     enum hvt_space, enum hvt_tag_class, enum hvt_seg, enum hvt_op_result,
 *                     enum hvt_outcome, enum hvt_retry_cause, the HVT_AF_/HVT_PO_/HVT_STATE_
 *                     flags, and the x86 constants (exception vectors, RFLAGS, CR0/CR4, EFER)
 *   hvtrace/core.h    struct hvt_core_ops and struct hvt_op_info (the interposer's ops table)
 *   hvtrace/format.h  struct hvt_fmt_header (what the trace header says), struct
 *                     hvt_fmt_writer (hvt_rec_open_writer), the format's limits
 *                     (HVT_FMT_MAX_PASSES, HVT_FMT_MAX_ACCESSES, ...)
 *   hvtrace/error.h   enum hvt_error and hvt_strerror()
 * docs/INTEGRATION.md gives a valid 64-bit initial state and the tag rules.
 *
 * Threading model
 * ---------------
 * - Each vCPU id is a single producer: all calls that name vCPU V (event/pass/access calls and
 *   the wrapped ops of V) must come from one thread at a time (the host's vCPU thread, or any
 *   thread as long as the host orders those calls itself). Different vCPUs may be driven from
 *   different threads concurrently, without any lock in the recorder.
 * - One writer thread, owned by the recorder, drains every vCPU's ring, rebuilds events and
 *   writes chunks. hvt_rec_open starts it; hvt_rec_close stops it.
 * - hvt_rec_close must not run concurrently with any per-vCPU call (join the vCPU threads
 *   first).
 *
 * Hot path
 * --------
 * hvt_rec_access and the wrapped ops take no lock, make no system call and allocate nothing
 * while the ring has room. In block mode a full ring makes the vCPU wait (yield, then futex)
 * until the writer made room. In drop mode an access that does not fit (the ring keeps a
 * reserve for event and pass boundaries) is counted as dropped; the writer writes a
 * lost-records marker (struct hvt_lost: count, event, pass, index of the first lost access)
 * just before the event, sets hvt_pass.lost and flags the event HVT_EV_INCOMPLETE. Event and
 * pass boundaries are never dropped: if even the reserve is full they wait like block mode,
 * which only happens when the writer falls behind by a whole ring.
 * Records are bounded: an access takes 32 to 136 bytes of ring (3 words, the linear address
 * and element/call-site words when present, then SIZE data bytes, three times for cmpxchg,
 * padded to a word); a vCPU state at most about 1 KiB (states are sent as deltas against the
 * previous one, so typically a few words).
 * With call sites on, each vCPU remembers the chains it saw (bound to its thread at event
 * begin) and recognises one by reading its return addresses back from the stack; only a new
 * chain is unwound (docs/INTEGRATION.md says why this is sound, and where it is not).
 *
 * Event ids
 * ---------
 * Ids are assigned when an event is finished (hvt_rec_event_end, or implicitly when it is
 * abandoned), from one counter shared by all vCPUs, starting at 0: the file holds events in
 * completion order, which is also id order (the writer reorders the few events whose ring
 * records arrive out of id order). When the host issues recorder calls in a deterministic order
 * (e.g. one thread scheduling all vCPUs), the ids are deterministic. Events that are still open
 * at hvt_rec_close get the next ids in vCPU order and are flagged HVT_EV_ABANDONED. An event
 * that drop mode lost entirely gets no id (ids of written events stay dense).
 */

/* Backpressure policy when a vCPU's ring is full. */
enum hvt_rec_backpressure {
    HVT_REC_BLOCK = 0, /* the vCPU waits for room: nothing is lost */
    HVT_REC_DROP = 1,  /* the record is counted and dropped; a lost-records marker says where */
};

/* Upper bounds. */
#define HVT_REC_MAX_VCPUS 1024
#define HVT_REC_MAX_DEPTH 32

/* hvt_rec_options.flags */
#define HVT_REC_OVERWRITE (1u << 0) /* replace an existing file (path open only) */
#define HVT_REC_NO_TIME (1u << 1)   /* leave event time_ns at 0 (byte-identical reruns) */
#define HVT_REC_FOLLOW (1u << 2)    /* a symbolic link at the path: write its target */

struct hvt_rec_options {
    size_t size;             /* sizeof(struct hvt_rec_options) */
    int level;               /* zstd level (path open only); default the format writer's (3) */
    size_t chunk_bytes;      /* raw bytes per chunk (path open only); default the format
                                writer's (256 KiB) */
    size_t ring_bytes;       /* ring per vCPU, rounded up to a power of two; default 1 MiB,
                                minimum 8 KiB */
    unsigned backpressure;   /* enum hvt_rec_backpressure; default HVT_REC_BLOCK */
    unsigned callsite_depth; /* frames captured per access, 0 = off (default), max
                                HVT_REC_MAX_DEPTH */
    unsigned callsite_skip;  /* extra caller frames to skip above the recorder's own (for a
                                host that records through its own helper); default 0 */
    uint32_t n_vcpus;        /* vCPUs 0..n_vcpus-1 get their ring at open; 0 = none up front.
                                Other ids < max_vcpus are registered lazily by their first
                                hvt_rec_event_begin (or hvt_rec_vcpu_add) */
    uint32_t max_vcpus;      /* highest vCPU id + 1 accepted; default max(n_vcpus, 64),
                                at most HVT_REC_MAX_VCPUS */
    uint32_t flush_ms;       /* the writer flushes a chunk at least this often when it has
                                records (bounds what a kill loses); default 100, 0 = only on
                                chunk size */
    unsigned flags;          /* HVT_REC_* */
};

/* Statistics, from hvt_rec_close (final) or hvt_rec_stats (a live, approximate snapshot). */
struct hvt_rec_stats {
    size_t size;                /* sizeof(struct hvt_rec_stats); set by the caller */
    uint64_t events;            /* events written to the file (abandoned ones included) */
    uint64_t passes;            /* passes written */
    uint64_t accesses;          /* accesses written */
    uint64_t abandoned;         /* events written with HVT_EV_ABANDONED */
    uint64_t incomplete;        /* events written with HVT_EV_INCOMPLETE */
    uint64_t dropped;           /* records lost: drop mode, or after a write error */
    uint64_t lost_markers;      /* lost-records markers written */
    uint64_t outside_pass;      /* accesses recorded with no pass open (not recorded) */
    uint64_t bytes_written;     /* file bytes (0 when the writer is the caller's) */
    uint64_t chunks;            /* chunks written (0 when the writer is the caller's) */
    uint64_t max_ring_fill;     /* highest fill of any vCPU ring seen by the writer, bytes */
    uint64_t ring_bytes;        /* size of each ring, bytes */
    uint64_t block_waits;       /* times a vCPU found its ring full in block mode */
    uint64_t callsites;         /* distinct call sites interned */
    uint64_t callsite_overflow; /* accesses whose chain did not fit the intern table (id 0) */
    uint64_t writer_busy_ns;    /* writer thread time spent working (not sleeping) */
    uint64_t writer_total_ns;   /* writer thread lifetime */
    uint64_t callsite_memo_hits; /* call-site captures answered by the vCPU's memo */
    uint64_t callsite_unwinds;   /* call-site captures that unwound the stack */
    uint64_t refused;            /* calls refused by the checks (hvt_rec_last_error says why);
                                    refused accesses show in the trace as lost-records markers */
    char error[256]; /* what stopped the recording, "" when nothing did ("closing the trace:
                        writing the index (..): File too large (EFBIG)") */
};

/* Size versioning (a struct's size field holds the caller's sizeof): an older, smaller struct
 * is accepted, its missing fields read as zero (options) or are not written (statistics);
 * sizes below the first version's are refused, and so is a larger, newer struct whose bytes
 * beyond this library's struct are not all zero. The first versions: */
#define HVT_REC_OPTIONS_SIZE_V1 sizeof(struct hvt_rec_options)
#define HVT_REC_STATS_SIZE_V1 offsetof(struct hvt_rec_stats, callsite_memo_hits)

struct hvt_rec;

/* Fills *opt with defaults (and opt->size). OPT may not be NULL. */
HVT_API void hvt_rec_options_init(struct hvt_rec_options *opt);

/* Creates PATH (mode 0600) with header HDR (NULL: producer "hvtrace-recorder"), starts the
 * writer thread, and returns the recording in *out. OPT may be NULL for defaults.
 * Errors: -HVT_E_INVALID (NULL out/path, bad options: a size this library does not know (see
 * "Size versioning" above), depth or vCPU counts out of range, unknown backpressure), -HVT_E_EXISTS
 * (PATH exists without HVT_REC_OVERWRITE), -HVT_E_IO / -HVT_E_NOSPACE (cannot create or write the
 * header), -HVT_E_NOMEM. */
HVT_API int hvt_rec_open(struct hvt_rec **out, const char *path, const struct hvt_fmt_header *hdr,
                         const struct hvt_rec_options *opt);

/* As hvt_rec_open, but records into W, a writer the caller opened and still owns: the
 * recorder appends and flushes but never closes it (close it after hvt_rec_close). The
 * options level and chunk_bytes are ignored. Nothing else may use W until hvt_rec_close.
 * Errors: -HVT_E_INVALID, -HVT_E_NOMEM, -HVT_E_IO (cannot start the writer thread). */
HVT_API int hvt_rec_open_writer(struct hvt_rec **out, struct hvt_fmt_writer *w,
                                const struct hvt_rec_options *opt);

/* Stops recording: events still open are written as abandoned, every ring is drained, the
 * file is finished (index and footer) and closed (path open) or flushed (caller's writer),
 * and the recording is freed. STATS (may be NULL; its size field must be set) receives the
 * final figures. REC may be NULL (returns 0).
 * Returns 0, or the first error that stopped the recording (also after a write error the
 * recording is freed and the file is valid up to its last good chunk). */
HVT_API int hvt_rec_close(struct hvt_rec *rec, struct hvt_rec_stats *stats);

/* The error that stopped the recording (a negated enum hvt_error, e.g. -HVT_E_NOSPACE), 0
 * while it is healthy. Cheap; any thread. After an error every recording call is a no-op that
 * counts its records as dropped, and vCPUs waiting in block mode are released. */
HVT_API int hvt_rec_error(const struct hvt_rec *rec);

/* Text describing the stopping error ("write of chunk 12: No space left on device"), or ""
 * when healthy. The string lives as long as REC. */
HVT_API const char *hvt_rec_error_message(const struct hvt_rec *rec);

/* A live, approximate snapshot of the statistics (the counters are read without stopping
 * anyone). Errors: -HVT_E_INVALID (NULL, stats->size below HVT_REC_STATS_SIZE_V1). */
HVT_API int hvt_rec_stats(const struct hvt_rec *rec, struct hvt_rec_stats *stats);

/* Registers vCPU V ahead of use (allocates its ring), so that the first event does not
 * allocate. Idempotent. Not concurrent with other calls naming V.
 * Errors: -HVT_E_INVALID (NULL, V >= max_vcpus), -HVT_E_NOMEM. */
HVT_API int hvt_rec_vcpu_add(struct hvt_rec *rec, uint32_t vcpu);

/* ---- per-vCPU recording calls ------------------------------------------------------------
 * All return 0 on success (also when the record was dropped, in drop mode or after a write
 * error: that is counted, not an error of the call), or:
 *   -HVT_E_INVALID: the call is refused: NULL rec or required pointer, vCPU id >= max_vcpus,
 *                   a call out of order (pass_begin with no event, pass_end with no pass, ...),
 *                   or a record that breaks the rules (hvt_rec_access, hvt_rec_pass_end);
 *                   nothing recorded.
 * Checked calls: every call checks, when it is made, everything the trace writer would
 * reject and every value that cannot be right (docs/INTEGRATION.md, "Tag rules"), so a bad
 * record never reaches the writer thread. A refusal is never fatal to the recording: it is
 * counted (stats.refused), hvt_rec_last_error(rec, vcpu) gives the detail, and every other
 * record is kept. A refused access leaves its place in the pass empty: the trace shows it as
 * a lost-records marker and the event is flagged HVT_EV_INCOMPLETE.
 */

/* The detail of the last call refused on VCPU ("access 3 of pass 0: walk level 9 (walk levels
 * are 1..5, or 6 for a PAE PDPTE)"), "" when none was. Kept until the next refusal; read it
 * from the thread that drives VCPU. Calls naming no registered vCPU have no per-vCPU detail:
 * for those the text says so. Never NULL; the string lives as long as REC. */
HVT_API const char *hvt_rec_last_error(const struct hvt_rec *rec, uint32_t vcpu);

/* Starts an event on VCPU: INIT is the vCPU state before the first pass (copied). INSN and
 * INSN_LEN are the instruction bytes when the host knows them (INSN NULL or INSN_LEN 0: not
 * known; more than HVT_INSN_MAX bytes: -HVT_E_INVALID). If VCPU's previous event never ended,
 * it is written with HVT_EV_ABANDONED first. Registers VCPU if needed (may allocate its ring;
 * -HVT_E_NOMEM). */
HVT_API int hvt_rec_event_begin(struct hvt_rec *rec, uint32_t vcpu,
                                const struct hvt_vcpu_state *init, const uint8_t *insn,
                                size_t insn_len);

/* Starts the next pass of VCPU's open event. A pass still open is an order error; more than
 * HVT_FMT_MAX_PASSES passes in the event are refused. */
HVT_API int hvt_rec_pass_begin(struct hvt_rec *rec, uint32_t vcpu);

/* Records one access of VCPU's open pass (copied; only A->size bytes of data/old/cur are
 * kept, A->callsite is replaced by the captured call site when depth > 0). An access with no
 * open pass is not recorded: it is counted in stats.outside_pass and returns -HVT_E_INVALID.
 * Refused (-HVT_E_INVALID, see "Checked calls"): A->size outside 1..HVT_DATA_MAX; kind, space,
 * seg, outcome or tag class out of range; flags other than HVT_AF_*; A->tag.reserved not 0;
 * a WALK that is not a read or not at level 1..5 or HVT_WALK_PAE_PDPTE; an AD that is not a
 * cmpxchg or write at level 1..5; a level on any other class; io-in/io-out not tagged IO, not
 * in space PORT, or on a port above 0xffff, and IO or PORT on anything else; a fetch not
 * tagged FETCH or FETCH on anything else; CMPXCHG_FAILED on anything but a cmpxchg; more than
 * HVT_FMT_MAX_ACCESSES in the pass or HVT_FMT_MAX_EVENT_ACCESSES in the event.
 * A->linear is kept only with HVT_AF_LINEAR_VALID (else it reads back 0). Lock-free,
 * syscall-free, allocation-free. */
HVT_API int hvt_rec_access(struct hvt_rec *rec, uint32_t vcpu, const struct hvt_access *a);

/* Ends VCPU's open pass with OUT and the register state END (both copied). Without
 * HVT_STATE_SIMD_VALID in END->flags (or INIT->flags) the ymm registers are recorded as
 * zero. Refused (the pass stays open, so it can be ended again): OUT->kind or retry_cause out
 * of range, a retry cause on a pass that did not end RETRY, a vector or
 * HVT_PO_HAS_ERROR_CODE on one that did not end EXCEPTION, a vector above 31, unknown flags,
 * reserved not 0. OUT->iterations is free: REP iterations (or gather elements) completed by
 * this pass, also on a pass that ends OKAY (the count of the last run of the REP). */
HVT_API int hvt_rec_pass_end(struct hvt_rec *rec, uint32_t vcpu, const struct hvt_pass_outcome *out,
                             const struct hvt_vcpu_state *end);

/* Ends VCPU's open event. The event gets its id here (see "Event ids"). A pass still open is
 * written with the accesses it recorded, outcome HVT_OUT_UNHANDLEABLE and the previous state
 * (the last pass end or the initial state), and the event is flagged HVT_EV_INCOMPLETE. (The
 * same happens to the open pass of an abandoned event, flagged HVT_EV_ABANDONED.) */
HVT_API int hvt_rec_event_end(struct hvt_rec *rec, uint32_t vcpu);

/* The id of VCPU's last event finished by hvt_rec_event_end or abandonment, or HVT_NO_EVENT.
 * (Hosts use it to cross-reference their own logs.) */
HVT_API uint64_t hvt_rec_last_event_id(const struct hvt_rec *rec, uint32_t vcpu);

/* ---- interposer -------------------------------------------------------------------------- */

/* Fills *OUT_OPS with an ops table and *OUT_CTX with its context such that a core called with
 * (OUT_OPS, OUT_CTX) forwards every op to (INNER, INNER_CTX) unchanged and records it into
 * VCPU's open pass: kind (from the op and info->kind), space (as the inner op set it in
 * info->space), tag, seg, linear (when HVT_OPF_LINEAR_VALID), phys or port, size, the data
 * read or written, the op's result; cmpxchg: old = expected as passed, data = new,
 * cur = found (the inner op's *old on CMPXCHG_FAILED, else the expected value). The op's
 * return value and buffers are the inner op's. Ops INNER leaves NULL stay NULL.
 * A read that does not answer OKAY is recorded with zero data. OUT_CTX is owned by REC (one
 * per vCPU; wrapping again rebinds it) and valid until hvt_rec_close. An op called with no
 * pass open is forwarded but not recorded (stats.outside_pass); an op larger than
 * HVT_DATA_MAX (which the core ABI excludes) is forwarded and recorded as a lost access.
 * Call sites, when on, are the chain above the wrapped op (the core's frames first).
 * Registers VCPU if needed.
 * Errors: -HVT_E_INVALID (NULL args, inner->size below HVT_CORE_OPS_SIZE_V1 or a larger table
 * with ops this library does not know, vCPU out of range), -HVT_E_NOMEM. */
HVT_API int hvt_rec_wrap_ops(struct hvt_rec *rec, uint32_t vcpu, const struct hvt_core_ops *inner,
                             void *inner_ctx, struct hvt_core_ops *out_ops, void **out_ctx);

#ifdef __cplusplus
}
#endif
#endif /* HVTRACE_RECORDER_H */
