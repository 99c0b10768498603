/* SPDX-License-Identifier: MIT */
/* hvtrace: the simulated HVM host: guests, device model, racing agents, recording scenarios. */
#ifndef HVTRACE_HOST_H
#define HVTRACE_HOST_H

#include "hvtrace/export.h"

#include <stddef.h>
#include <stdint.h>

#include "hvtrace/error.h"
#include "hvtrace/format.h"
#include "hvtrace/recorder.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * What the host is
 * ----------------
 * A software HVM host: guest RAM, MMIO pages and I/O ports served by a device model, and N
 * vCPUs whose every instruction is executed by an emulator core (the reference core unless
 * told otherwise). It behaves like a hardware-virtualization host where it matters for
 * re-execution:
 *
 * - Exits. An instruction that touches MMIO or a port is an emulation EVENT, emulated through
 *   the recorder-wrapped ops with event/pass calls; every other instruction runs unrecorded
 *   (as it would run natively). Detection is a PROBE: each instruction first runs on a copy of
 *   the vCPU state through ops that serve RAM reads, keep RAM writes and compare-exchanges in
 *   a private store buffer (reads see it), and refuse MMIO/port accesses with UNHANDLEABLE
 *   before any device side effect. If the probe completed without touching a device, its
 *   buffered writes and state are committed; otherwise everything it did is thrown away and
 *   the instruction is emulated again from the same state as an event. Nothing of a refused
 *   probe is ever visible to the guest, the device model or the trace.
 *   HVT_HOST_RECORD_ALL makes every instruction an event.
 * - Device-model assistance. The first pass's MMIO/port access answers RETRY and queues an
 *   I/O request; the device model completes it after a seeded delay; the vCPU then emulates
 *   the instruction again from the start. The k-th device access of a later pass must match
 *   the k-th request completed for this event (type, address, size, direction, count), as Xen
 *   checks a completed ioreq: reads get the device's answer, writes are consumed. A mismatch
 *   is a detected fault (the pass ends UNHANDLEABLE, the event ends, the fault is counted in
 *   hvt_host_stats.ioreq_mismatches and the instruction is emulated again as a new event); it
 *   never crashes the host.
 * - REP string ops and gathers through MMIO complete partially: the core commits the finished
 *   iterations on RETRY and the next pass continues from there.
 * - Access-once buffer (enum hvt_host_cache): while an event runs, later passes get the first
 *   pass's values for page-walk reads (walk) or all RAM reads (full), matched by tag (class,
 *   operand, element, level) and address. Writes of the event update the buffered bytes.
 * - Agents: racing writers (another vCPU, the guest OS) that modify guest memory between
 *   pass 1 (RETRY) and pass 2 of a targeted event: a leaf PTE, an upper-level entry, a PAE
 *   PDPTE in memory, a device register, A/D bits.
 * - Scheduling. By default one thread interleaves vCPU steps, device completions and agents
 *   from a seeded PRNG: the same options give the same events, passes and accesses (the trace
 *   differs only in UUID and start time). HVT_HOST_THREADS runs each vCPU on its own thread
 *   instead: not deterministic; for stress and overhead figures.
 */

/* Access-once buffer policy applied while recording. */
enum hvt_host_cache {
    HVT_HOST_CACHE_NONE = 0, /* no buffer: later passes read memory again */
    HVT_HOST_CACHE_WALK = 1, /* page-walk reads of earlier passes are served again */
    HVT_HOST_CACHE_FULL = 2, /* every RAM read of earlier passes is served again */
    HVT_HOST_CACHE__COUNT
};

/* hvt_host_options.flags */
#define HVT_HOST_THREADS (1u << 0)    /* one thread per vCPU (not deterministic) */
#define HVT_HOST_RECORD_ALL (1u << 1) /* every instruction is an event */
#define HVT_HOST_OVERWRITE (1u << 2)  /* hvt_host_record: replace an existing file */
#define HVT_HOST_FOLLOW (1u << 3)     /* hvt_host_record: a symbolic link at PATH: write its target */

/* Limits. */
#define HVT_HOST_MAX_VCPUS 64
#define HVT_HOST_MIN_RAM (4u << 20)
#define HVT_HOST_MAX_RAM (1u << 30)
#define HVT_HOST_MAX_CORE_OPTIONS 8

struct hvt_host_options {
    size_t size;             /* sizeof(struct hvt_host_options) */
    const char *scenario;    /* a name from hvt_host_scenario_name(); required */
    uint64_t seed;           /* scheduler, delays and agent targeting; default 1 */
    uint32_t vcpus;          /* 1..HVT_HOST_MAX_VCPUS; 0 = the scenario's default */
    uint64_t events;         /* stop after this many events (1..10^9); 0 = scenario default */
    unsigned cache;          /* enum hvt_host_cache; default NONE */
    unsigned callsite_depth; /* recorder call-site depth, 0 = off (hvt_host_record only) */
    unsigned flags;          /* HVT_HOST_* */
    uint64_t ram_bytes;      /* guest RAM, a multiple of 2 MiB in [MIN_RAM, MAX_RAM]; 0 = 8 MiB */
    const char *core;        /* core to open (hvt_core_open name or path); NULL = reference core */
    size_t n_core_options;   /* core options set on every vCPU's core instance */
    const struct hvt_kv *core_options; /* e.g. {"pdpte-reread", "1"} */
    /* the CPU the guest is shown (copied): the cores follow it and the trace header records
     * it; NULL = the default profile (HVT_CPU_DEFAULT), the same on every machine */
    const struct hvt_cpu_profile *cpu;
};
/* First versions of the size-versioned structs (as in recorder.h: smaller, older ones are
 * accepted with the missing tail zero, i.e. cpu NULL). */
#define HVT_HOST_OPTIONS_SIZE_V1 offsetof(struct hvt_host_options, cpu)

/* Figures of a run. Counts are exact in deterministic mode. */
struct hvt_host_stats {
    size_t size;               /* sizeof(struct hvt_host_stats); set by the caller */
    uint64_t instructions;     /* guest instructions retired (events included) */
    uint64_t events;           /* emulation events (completed or ended by a fault) */
    uint64_t passes;           /* passes over all events */
    uint64_t ioreqs;           /* device-model requests completed */
    uint64_t ioreq_mismatches; /* re-issued requests that did not match (detected faults) */
    uint64_t agent_actions;    /* writes made by racing agents */
    uint64_t guest_faults;     /* exceptions delivered to (and handled by) the guest */
    uint64_t cache_hits;       /* reads served by the access-once buffer */
    uint64_t wall_ns;          /* wall time of hvt_host_run */
    /* filled by hvt_host_record from the recorder: */
    uint64_t rec_events, rec_passes, rec_accesses, rec_dropped;
    uint64_t file_bytes;
};
/* The first version; a smaller struct is refused, a larger one gets zeros after ours. */
#define HVT_HOST_STATS_SIZE_V1 sizeof(struct hvt_host_stats)

struct hvt_host;

/* Fills *opt with defaults (and opt->size). OPT may not be NULL. */
HVT_API void hvt_host_options_init(struct hvt_host_options *opt);

/* ---- scenarios ---------------------------------------------------------------------------- */

/* Number of scenarios, and the name / one-line summary of scenario I (NULL when out of
 * range). Names: "clean", "pageout", "ptwrite", "pae-pdpte", "cmps", "gather", "adbits",
 * "mixed". docs/SCENARIOS.md describes each. */
HVT_API size_t hvt_host_scenario_count(void);
HVT_API const char *hvt_host_scenario_name(size_t i);
HVT_API const char *hvt_host_scenario_summary(size_t i);

/* ---- host lifetime ------------------------------------------------------------------------ */

/* Creates a host for OPT: guest RAM with page tables and guest code of the scenario, device
 * model, agents, one core instance per vCPU (options applied). Nothing runs yet.
 * Errors: -HVT_E_INVALID (NULL args, opt->size below HVT_HOST_OPTIONS_SIZE_V1 or a newer
 * struct asking for more, bad vcpus/events/cache/RAM/flags, too many core options),
 * -HVT_E_NOT_FOUND (unknown scenario), -HVT_E_UNSUPPORTED (a core option the core refuses; the
 * message says which), -HVT_E_BAD_PLUGIN / -HVT_E_NOT_FOUND (the core does not open), -HVT_E_NOMEM.
 * On error, *out is NULL and ERRBUF (may be NULL) gets a one-line message. */
HVT_API int hvt_host_create(struct hvt_host **out, const struct hvt_host_options *opt, char *errbuf,
                            size_t errlen);

/* Frees the host and its cores. H may be NULL. */
HVT_API void hvt_host_destroy(struct hvt_host *h);

/* Runs the guests until the event budget is reached, recording into REC (NULL: no
 * recording, for baselines). Can be called once per host. The recorder must have been
 * opened for at least the host's vCPU count (ids 0..vcpus-1).
 * Errors (the message is in hvt_host_error_message):
 *   -HVT_E_INVALID (NULL host, second run), -HVT_E_UNSUPPORTED (the core returned
 *   UNIMPLEMENTED for a guest instruction: the message names it; tests skip on this),
 *   -HVT_E_INTERNAL (a guest faulted unexpectedly, an event did not complete, no progress),
 *   a recorder error (the recording stopped: -HVT_E_IO, -HVT_E_NOSPACE, ...). */
HVT_API int hvt_host_run(struct hvt_host *h, struct hvt_rec *rec);

/* Figures of the finished (or failed) run. Errors: -HVT_E_INVALID (NULL, size below
 * HVT_HOST_STATS_SIZE_V1). */
HVT_API int hvt_host_get_stats(const struct hvt_host *h, struct hvt_host_stats *st);

/* The error message of the last failure, "" when none. Lives as long as H. */
HVT_API const char *hvt_host_error_message(const struct hvt_host *h);

/* Number of vCPUs of the host (after scenario defaults), and the events budget. */
HVT_API uint32_t hvt_host_vcpus(const struct hvt_host *h);

/* Recording options as key/value pairs for a trace header (scenario, seed, vcpus, events,
 * cache, record, threads, ram, core.<key>): *N entries valid as long as H. */
HVT_API const struct hvt_kv *hvt_host_header_options(const struct hvt_host *h, size_t *n);

/* ---- one-call recording ------------------------------------------------------------------- */

/* Creates a host for OPT, records its run into PATH (header: producer and hypervisor
 * "hvtrace-sim", the core's name/version/build id, the host CPU read with CPUID, the
 * recording options), closes the trace and frees the host. ST (may be NULL; size set) gets
 * the figures, including the recorder's counts and the file size. Deterministic runs record
 * with HVT_REC_NO_TIME (event times 0) so that reruns compare equal.
 * Errors: those of hvt_host_create, hvt_host_run and hvt_rec_open (-HVT_E_EXISTS without
 * HVT_HOST_OVERWRITE, -HVT_E_IO for an unwritable path, a symbolic link without
 * HVT_HOST_FOLLOW, -HVT_E_NOSPACE for a full disk or file size limit); ERRBUF gets "what: why",
 * naming the system error. A failed run leaves a valid (possibly short) trace at PATH. */
HVT_API int hvt_host_record(const char *path, const struct hvt_host_options *opt,
                            struct hvt_host_stats *st, char *errbuf, size_t errlen);

/* The CPU profile H's guests are shown (the option's, or the default); NULL for a NULL H. */
HVT_API const struct hvt_cpu_profile *hvt_host_cpu(const struct hvt_host *h);

/* 1 when H's core does not take CPU profiles (a plugin without the "cpu" option): it records
 * the profile anyway, and the trace header says so with the option "core-ignores-cpu" = "1". */
HVT_API int hvt_host_core_ignores_cpu(const struct hvt_host *h);

#ifdef __cplusplus
}
#endif
#endif /* HVTRACE_HOST_H */
