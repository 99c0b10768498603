/* SPDX-License-Identifier: MIT */
/* hvtrace: the replayer: re-run a core against a trace, classify divergences, what-if, bisect. */
#ifndef HVTRACE_REPLAY_H
#define HVTRACE_REPLAY_H

#include "hvtrace/export.h"

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "hvtrace/core.h"
#include "hvtrace/error.h"
#include "hvtrace/format.h"
#include "hvtrace/types.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * What the replayer does with one event
 * -------------------------------------
 * 1. Replay. Each recorded pass runs again on the chosen core, from this start state:
 *      pass 0: the event's initial state;
 *      pass k > 0: pass k-1's recorded end state. The RETRY contract says a pass that ends
 *      RETRY leaves the registers alone unless it committed partial progress (REP iterations,
 *      gather elements), so this is the initial state exactly when nothing was committed and
 *      the committed state otherwise, as the host re-executes it.
 *    The core's ops are answered from that pass's recorded accesses: the k-th call must equal
 *    the k-th recorded access in kind, tag, address (physical; port for I/O), size, and data
 *    for writes / io-out and new + expected value for cmpxchg; reads get the recorded data and
 *    outcome (a recorded RETRY ends the pass as it did on the host). A call that differs, a
 *    call past the recorded ones, fewer calls, another outcome or end state are a
 *    REPLAY_MISMATCH (the first difference of the pass, both sides shown). Passes with lost
 *    records and events flagged incomplete are not replayed (counted as skipped).
 * 2. Pass-to-pass analysis, for events with two passes or more: pass k is compared with pass
 *    k-1 (see docs/REPLAY.md for the matching rules) and every difference gets a class.
 * 3. What-if (hvt_rpl_options.cache != NONE): the passes after the first are simulated again
 *    with an access-once buffer filled by the first pass; the verdict says whether the policy
 *    removes the event's pass-to-pass divergences and whether the event then completes as the
 *    first pass predicted.
 */

/* Classes of findings. The first group are divergences, the second benign (what the
 * architecture allows); benign findings are reported with --verbose and always counted. */
enum hvt_rpl_class {
    HVT_RPL_REPLAY_MISMATCH = 0,     /* the core under test behaves otherwise than recorded */
    HVT_RPL_TRANSLATION_CHANGED = 1, /* a page-walk read returned other data */
    HVT_RPL_DATA_CHANGED = 2,        /* same tag and address, another value read */
    HVT_RPL_SEQUENCE_CHANGED = 3,    /* extra, missing or reordered accesses, other address */
    HVT_RPL_FAULT_CHANGED = 4,       /* a later pass faults short of where an earlier got */
    HVT_RPL_WRITE_DATA_CHANGED = 5,  /* a write (or cmpxchg) with other data */
    HVT_RPL_REGS_MODIFIED_BEFORE_RETRY = 6, /* a RETRY pass changed registers */
    HVT_RPL_AD_BITS_BY_EARLIER_PASS = 7,    /* benign: A/D bits set by this event's own walk */
    HVT_RPL_DISTINCT_OPERANDS = 8,          /* benign: two operands, one address, two values */
    HVT_RPL_REP_PROGRESS = 9,               /* benign: committed REP iterations (RCX/RSI/RDI) */
    HVT_RPL__COUNT
};

/* Not a class: a note of semantic replay (an order difference, a read answered from another
 * pass, a recorded walk the core did not need). Benign; not counted in by_class. */
#define HVT_RPL_NOTE 64u

/* "translation_changed", ..., "note"; "?" when out of range. */
HVT_API const char *hvt_rpl_class_name(unsigned cls);
/* 1 for the benign classes, 0 otherwise. */
HVT_API int hvt_rpl_class_benign(unsigned cls);

/* Access-once buffer policy of the what-if (same values as enum hvt_host_cache). */
enum hvt_rpl_cache {
    HVT_RPL_CACHE_NONE = 0, /* no what-if */
    HVT_RPL_CACHE_WALK = 1, /* page-walk reads of the first pass are served again */
    HVT_RPL_CACHE_FULL = 2, /* every RAM read of the first pass is served again */
    HVT_RPL_CACHE__COUNT
};

/* One classified difference. For REPLAY_MISMATCH side a is the recording and side b the
 * replayed core (pass_a == pass_b); otherwise a and b are two passes of the event. */
struct hvt_rpl_finding {
    uint32_t cls; /* enum hvt_rpl_class */
    uint32_t pass_a, pass_b;
    int32_t idx_a, idx_b;           /* access index in each pass; -1 when that side has none */
    struct hvt_access acc_a, acc_b; /* the accesses (valid when idx >= 0) */
    int has_data_phys; /* translation_changed: data_phys_* are the physical addresses the */
    uint64_t data_phys_a, data_phys_b; /* translated data access got in each pass */
    char detail[160];                  /* one line: what differs */
};

/* What-if verdict of one event. */
enum hvt_rpl_whatif {
    HVT_RPL_WHATIF_NONE = 0,    /* not run (no policy, or no pass-to-pass divergence) */
    HVT_RPL_WHATIF_REMOVED = 1, /* the policy removes every pass-to-pass divergence */
    HVT_RPL_WHATIF_KEPT = 2,    /* at least one divergence remains */
    HVT_RPL_WHATIF_UNKNOWN = 3, /* the simulation needed a value the trace does not hold */
};

/* hvt_rpl_event_report.status */
enum hvt_rpl_status {
    HVT_RPL_ST_REPLAYED = 0,
    HVT_RPL_ST_CANNOT = 1,  /* the core cannot replay it (UNIMPLEMENTED where it completed) */
    HVT_RPL_ST_SKIPPED = 2, /* incomplete event or lost records: analysed, not replayed */
};

/* The result of one event. Pointers live until the next event of the same engine (or until
 * the report callback returns). */
struct hvt_rpl_event_report {
    const struct hvt_event *ev;
    const struct hvt_fmt_chunk *chunk; /* the event's chunk (call sites), NULL when unknown */
    int status;                        /* enum hvt_rpl_status */
    char why[128];                     /* status detail */
    char mnemonic[32];                 /* capstone mnemonic of ev->insn, "?" when unknown */
    char disasm[96];                   /* "mov dword ptr [rbx], eax", "" when unknown */
    size_t n_findings;
    const struct hvt_rpl_finding *findings;
    unsigned n_divergent; /* findings of non-benign classes */
    unsigned accesses;    /* recorded accesses replayed */
    int whatif;           /* enum hvt_rpl_whatif */
    int whatif_completes; /* REMOVED/KEPT: the simulated event ends OKAY with the
                             first pass's translations and data */
    char whatif_detail[256];
};

/* hvt_rpl_options.flags */
#define HVT_RPL_NO_ANALYSIS (1u << 0) /* replay only: skip the pass-to-pass analysis */
#define HVT_RPL_NO_REPLAY (1u << 1)   /* analysis only: do not run the core */

struct hvt_rpl_options {
    size_t size;           /* sizeof(struct hvt_rpl_options) */
    const char *core;      /* hvt_core_open name or path; NULL = reference core */
    unsigned cache;        /* enum hvt_rpl_cache */
    unsigned jobs;         /* hvt_rpl_run worker threads, 1..64; default 1 */
    uint64_t first, last;  /* event id range (inclusive); default 0..UINT64_MAX */
    unsigned flags;        /* HVT_RPL_* */
    size_t n_core_options; /* set on the core after the trace's recorded core.* options */
    const struct hvt_kv *core_options;
    unsigned scan; /* 1: locate chunks by scanning (HVT_FMT_R_SCAN) */
    /* what-if: the CPU profile the core follows instead of the trace's (copied); NULL = the
     * trace's (hvt_fmt_header_cpu: the default for traces that record none) */
    const struct hvt_cpu_profile *cpu;
    unsigned match; /* enum hvt_rpl_match: how the core's accesses are held to the recording */
};
/* The first version (older, smaller options are accepted with the missing tail zero, i.e.
 * cpu NULL; see recorder.h for the rules). */
#define HVT_RPL_OPTIONS_SIZE_V1 offsetof(struct hvt_rpl_options, cpu)

/* How a replayed core's accesses must match the recorded ones (docs/REPLAY.md).
 * STRICT: the same accesses in the same order, one by one (the recording's own core).
 * SEMANTIC: the same accesses in an order of the core's own: walk and A/D accesses as a set
 * per (linear page, level, physical address), needed only before the first access that uses
 * the translation; fetches as the bytes they cover; data, stack, descriptor and I/O accesses
 * in order per (class, operand, element), with address, size and data; the outcome and the
 * end state as in STRICT. Order differences are notes (HVT_RPL_NOTE), not mismatches.
 * AUTO: STRICT when the core under test is the recording's core (same name and build id),
 * SEMANTIC otherwise. */
enum hvt_rpl_match {
    HVT_RPL_MATCH_AUTO = 0,
    HVT_RPL_MATCH_STRICT = 1,
    HVT_RPL_MATCH_SEMANTIC = 2,
    HVT_RPL_MATCH__COUNT
};

/* "auto", "strict", "semantic"; "?" when out of range. */
HVT_API const char *hvt_rpl_match_name(unsigned match);

/* Fills *opt with defaults (and opt->size). */
HVT_API void hvt_rpl_options_init(struct hvt_rpl_options *opt);

/* ---- engine: one core instance, one event at a time (not thread-safe; one per thread) --- */

struct hvt_rpl_engine;

/* Opens the core OPT->core and applies the trace's recorded core options (header options
 * "core.KEY" = VALUE, when HDR is given) and then OPT->core_options.
 * Errors: -HVT_E_INVALID (NULL out/opt, opt->size below HVT_RPL_OPTIONS_SIZE_V1 or a newer
 * struct asking for more, bad cache), the errors of hvt_core_open, -HVT_E_UNSUPPORTED /
 * -HVT_E_INVALID (a caller's option the core refuses; a recorded option the core does not know is
 * skipped with a warning, hvt_rpl_engine_warnings), -HVT_E_INVALID (a recorded option value the
 * core refuses, a profile it refuses), -HVT_E_NOMEM. The core follows the trace's CPU profile, or
 * OPT->cpu. ERRBUF (may be NULL) gets a one-line message. */
HVT_API int hvt_rpl_engine_new(struct hvt_rpl_engine **out, const struct hvt_rpl_options *opt,
                               const struct hvt_fmt_header *hdr, char *errbuf, size_t errlen);

/* The match mode E uses (STRICT or SEMANTIC: AUTO resolved against the trace's header), and
 * in WHY (may be NULL) one line saying why ("core hvtrace-ref build ref-0.4.0 recorded the
 * trace"). */
HVT_API unsigned hvt_rpl_engine_match(const struct hvt_rpl_engine *e, char *why, size_t len);

/* The match mode a replay of PATH with OPT uses (what hvt_rpl_run will do: opens the trace's
 * header and the core to decide), with the reason in WHY. Returns HVT_RPL_MATCH_STRICT or
 * HVT_RPL_MATCH_SEMANTIC, or the errors of hvt_fmt_reader_open and hvt_rpl_engine_new. */
HVT_API int hvt_rpl_match_of(const char *path, const struct hvt_rpl_options *opt, char *why,
                             size_t len);

/* Where the profile an engine's core follows came from. */
enum hvt_rpl_cpu_source {
    HVT_RPL_CPU_TRACE = 0,    /* recorded in the trace */
    HVT_RPL_CPU_DEFAULT = 1,  /* the trace records none (or an unreadable one): the default */
    HVT_RPL_CPU_OVERRIDE = 2, /* opt->cpu, a what-if */
};

/* The CPU profile E's core follows and where it came from (enum hvt_rpl_cpu_source, in
 * *SOURCE when not NULL); NULL for a NULL E. */
HVT_API const struct hvt_cpu_profile *hvt_rpl_engine_cpu(const struct hvt_rpl_engine *e,
                                                         int *source);

/* Notes from setting E up that do not stop a replay, "; "-separated ("" when none): a trace
 * core option this core does not know (skipped), a recorded profile with unknown tokens or
 * none at all, a core that does not follow CPU profiles. Never NULL for a non-NULL E. */
HVT_API const char *hvt_rpl_engine_warnings(const struct hvt_rpl_engine *e);

/* Frees the engine and its core. E may be NULL. */
HVT_API void hvt_rpl_engine_free(struct hvt_rpl_engine *e);

/* Replays and analyses EV (see the top of this file), filling *REP. CHUNK (may be NULL) is
 * stored in REP for call-site lookup. REP's pointers live until the next call on E.
 * Errors: -HVT_E_INVALID (NULL args), -HVT_E_NOMEM, a negative error from the core's emulate
 * (bad arguments: a core bug). */
HVT_API int hvt_rpl_engine_event(struct hvt_rpl_engine *e, const struct hvt_event *ev,
                                 const struct hvt_fmt_chunk *chunk,
                                 struct hvt_rpl_event_report *rep);

/* Compares how two engines' cores behave on EV against the same recorded answers: the calls
 * each core makes, its outcomes and end states, pass by pass. Returns 0 when they behave
 * alike, 1 when not (DETAIL, may be NULL, gets the first difference), or a negative error. */
HVT_API int hvt_rpl_engine_compare(struct hvt_rpl_engine *a, struct hvt_rpl_engine *b,
                                   const struct hvt_event *ev, char *detail, size_t len);

/* ---- summary -------------------------------------------------------------------------- */

#define HVT_RPL_MAX_MNEMONICS 64

struct hvt_rpl_summary {
    uint64_t events, replayed, cannot_replay, skipped, multi_pass, accesses;
    uint64_t divergent_events; /* events with at least one non-benign finding */
    uint64_t first_divergent;  /* event id, HVT_NO_EVENT when none */
    uint64_t first_cannot;     /* event id, HVT_NO_EVENT when none */
    uint64_t by_class[HVT_RPL__COUNT];
    uint64_t by_tag[HVT_TAG__COUNT + 1]; /* non-benign findings by tag class of side a
                                            (side b when a has none); last: no access */
    uint64_t whatif[4];                  /* by enum hvt_rpl_whatif */
    uint64_t whatif_completes;
    size_t n_mnemonics; /* divergent events by mnemonic */
    struct {
        char name[32];
        uint64_t count;
    } mnemonics[HVT_RPL_MAX_MNEMONICS]; /* the rest count under "other" */
    uint64_t lost_markers;
};

HVT_API void hvt_rpl_summary_init(struct hvt_rpl_summary *s);
/* Adds one event's report to S. */
HVT_API void hvt_rpl_summary_add(struct hvt_rpl_summary *s, const struct hvt_rpl_event_report *rep);

/* ---- driver: a whole trace ------------------------------------------------------------ */

/* Called once per event in event order (also with --jobs); return nonzero to stop. */
typedef int (*hvt_rpl_report_fn)(void *arg, const struct hvt_rpl_event_report *rep);
/* Called on stderr-worthy progress: chunks done of total. May be NULL. */
typedef void (*hvt_rpl_progress_fn)(void *arg, uint64_t done, uint64_t total);

struct hvt_rpl_run_info {
    struct hvt_fmt_error_info err; /* the trace error that stopped the run (code 0: none) */
    char message[256];             /* core / option problems */
    char warnings[768];            /* hvt_rpl_engine_warnings of the run's engines */
    struct hvt_cpu_profile cpu;    /* the profile the core followed */
    int cpu_source;                /* enum hvt_rpl_cpu_source */
    uint64_t chunks, chunks_replayed;
};

/* Decode memory hvt_rpl_run may hold at once. A chunk in flight (being loaded, or loaded and
 * waiting for its turn) needs at most the reader's raw limit (64 MiB) plus its decode budget
 * (HVT_FMT_MAX_CHUNK_MEM), and each job has at most two in flight, so the jobs are capped at
 * HVT_RPL_MEM_BUDGET / (2 * (64 MiB + HVT_FMT_MAX_CHUNK_MEM)) whatever the trace holds. */
#define HVT_RPL_MEM_BUDGET (2048ull << 20)
#define HVT_RPL_CHUNK_MEM ((64ull << 20) + HVT_FMT_MAX_CHUNK_MEM)

/* The most worker threads hvt_rpl_run starts: the online CPUs, and the memory budget above;
 * at least 1. */
HVT_API unsigned hvt_rpl_max_jobs(void);

/* Replays the events of PATH in [opt->first, opt->last], chunk by chunk with opt->jobs
 * threads, capped at hvt_rpl_max_jobs() (each with its own engine and loaded chunk, at most
 * 2 * jobs chunks in memory),
 * calling FN for each event in event order and accumulating SUM (initialised here).
 * Returns 0 when the run finished (or FN stopped it), or: -HVT_E_INVALID (bad args), a reader
 * error (-HVT_E_IO, -HVT_E_BAD_MAGIC, -HVT_E_CHECKSUM, ... with INFO->err saying where), an
 * engine error (INFO->message), -HVT_E_NOMEM. INFO may be NULL. */
HVT_API int hvt_rpl_run(const char *path, const struct hvt_rpl_options *opt, hvt_rpl_report_fn fn,
                        void *arg, hvt_rpl_progress_fn progress, void *parg,
                        struct hvt_rpl_summary *sum, struct hvt_rpl_run_info *info);

/* ---- bisection ------------------------------------------------------------------------ */

struct hvt_rpl_bisect_result {
    uint64_t event;         /* the first event found, HVT_NO_EVENT when none */
    uint64_t chunk;         /* its chunk */
    uint64_t chunks;        /* chunks in range */
    uint64_t chunks_tested; /* chunks replayed by the search */
    int exhaustive;         /* the answer comes from a scan of every chunk in range */
    char detail[256];       /* good/bad: the first difference between the two cores */
};

/* Finds the first event of PATH (in [opt->first, opt->last]) that diverges when replayed
 * with opt->core (a non-benign finding; with HVT_RPL_NO_ANALYSIS only replay mismatches), or,
 * when BAD_CORE is given, the first event on which opt->core ("good") and BAD_CORE behave
 * differently (hvt_rpl_engine_compare). The search is binary over chunks (through the index)
 * and then linear within the chunk; like git bisect it assumes that once chunks diverge, the
 * later ones do too. When the last chunk does not diverge, or EXHAUSTIVE is nonzero, every
 * chunk is scanned in order instead (exact). Returns 0 (RES->event may be HVT_NO_EVENT) or a
 * negative error as hvt_rpl_run (INFO may be NULL). */
HVT_API int hvt_rpl_bisect(const char *path, const struct hvt_rpl_options *opt,
                           const char *bad_core, int exhaustive, struct hvt_rpl_bisect_result *res,
                           struct hvt_rpl_run_info *info);

/* ---- reports -------------------------------------------------------------------------- */

/* hvt_rpl_print_* flags */
#define HVT_RPL_PRINT_JSON (1u << 0)
#define HVT_RPL_PRINT_VERBOSE (1u << 1) /* benign findings too */

/* Prints the findings of one event (text: an event header line and one block per finding;
 * JSON: one "divergence" object per finding). Prints nothing when there is nothing to show.
 * Returns the number of findings printed. */
HVT_API int hvt_rpl_print_event(FILE *f, const struct hvt_rpl_event_report *rep, unsigned flags);

/* Prints the summary (text block, or one "summary" JSON object). */
HVT_API void hvt_rpl_print_summary(FILE *f, const struct hvt_rpl_summary *s, unsigned cache,
                                   unsigned flags);

/* Compares two vCPU states register by register (SIMD registers only when valid in one).
 * Returns 0 when equal, 1 otherwise with the differing registers' names in BUF ("rcx ymm2",
 * truncated to LEN). */
HVT_API int hvt_rpl_state_diff(const struct hvt_vcpu_state *a, const struct hvt_vcpu_state *b,
                               char *buf, size_t len);

/* Disassembles LEN bytes of INSN for the mode of STATE into MNEM / TEXT ("" on failure).
 * Returns 0, or -HVT_E_UNSUPPORTED when capstone cannot decode it. */
HVT_API int hvt_rpl_disasm(const struct hvt_vcpu_state *state, const uint8_t *insn, size_t len,
                           char *mnem, size_t mlen, char *text, size_t tlen);

#ifdef __cplusplus
}
#endif
#endif /* HVTRACE_REPLAY_H */
