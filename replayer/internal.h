/* SPDX-License-Identifier: MIT */
/* Replayer internals shared by the engine, the analysis, the what-if and the driver. */
#ifndef HVT_REPLAYER_INTERNAL_H
#define HVT_REPLAYER_INTERNAL_H

#include <capstone/capstone.h>

#include "hvtrace/replay.h"

/* A growable array of findings. */
struct rpl_fvec {
    struct hvt_rpl_finding *v;
    size_t n, cap;
    int oom; /* an append failed: the report is short, the event says so */
};

/* Appends a zeroed finding of class CLS and returns it (NULL when out of memory). */
struct hvt_rpl_finding *hvt_rpl_fvec_add(struct rpl_fvec *fv, unsigned cls, uint32_t pa,
                                         uint32_t pb);
void hvt_rpl_fvec_free(struct rpl_fvec *fv);

/* A growable array of accesses (the calls a core made, a simulated pass). */
struct rpl_avec {
    struct hvt_access *v;
    uint32_t n, cap;
};
int hvt_rpl_avec_push(struct rpl_avec *av, const struct hvt_access *a);
void hvt_rpl_avec_free(struct rpl_avec *av);

/* Scratch space of the analysis, reused across events, and how its pairs of passes were
 * matched. */
struct rpl_scratch {
    uint64_t *keys;
    size_t cap;
    int slow;              /* tests: no fast paths (every pair matched by sorting) */
    uint64_t n_repeats;    /* pairs whose later pass repeats the earlier one: nothing to find */
    uint64_t n_positional; /* walk or access sets matched in place (same keys in order) */
    uint64_t n_sorted;     /* ... matched by sorting by key and occurrence */
};
void hvt_rpl_scratch_free(struct rpl_scratch *s);

/* Pass-to-pass analysis of PASSES[0..N) of EV (recorded, or simulated by the what-if),
 * appending findings to FV. Returns 0 or -HVT_E_NOMEM. */
int hvt_rpl_analyze(struct rpl_fvec *fv, struct rpl_scratch *sc, const struct hvt_event *ev,
                const struct hvt_pass *passes, uint32_t n);

/* 1 when EV's instruction is a string instruction (MOVS/CMPS/STOS/LODS/SCAS/INS/OUTS), whose
 * accesses carry the iteration of the pass as element. */
int hvt_rpl_is_string_insn(const struct hvt_event *ev);

/* State of a pass start: the rule of replay.h. */
const struct hvt_vcpu_state *hvt_rpl_pass_start(const struct hvt_event *ev, uint32_t k);

/* Compares two states register by register (SIMD only when valid in one of them). Returns 0
 * when equal, else 1 with the names of the differing registers in BUF ("rcx rsi", truncated)
 * and *ONLY_REP set when only rcx/rsi/rdi/rflags differ. */
/* Copies the caller's options USER (any size from HVT_RPL_OPTIONS_SIZE_V1) into O.
 * -HVT_E_INVALID for a size this library does not know. */
int hvt_rpl_options_in(struct hvt_rpl_options *o, const struct hvt_rpl_options *user);
int hvt_rpl_state_diff_rep(const struct hvt_vcpu_state *a, const struct hvt_vcpu_state *b,
                           char *buf, size_t len, int *only_rep);

/* Same kind/tag/address/size/data as the recorded access (what a replayed call must match).
 * Returns NULL when equal, else BUF (LEN bytes) naming every differing field ("kind, tag,
 * address, size"; the segment too, beside another difference). */
const char *hvt_rpl_access_differs(const struct hvt_access *rec, const struct hvt_access *got,
                                   char *buf, size_t len);

/* ---- semantic replay (semantic.c) ---- */

struct rpl_sem_ent {
    uint64_t k1, k2;
    uint32_t idx;
};

/* The recorded pass a semantic replay answers from, indexed, and what the core did so far. */
struct rpl_sem {
    const struct hvt_pass *p;
    struct rpl_sem_ent *ent; /* non-fetch accesses by key */
    uint32_t n_ent, ent_cap;
    uint8_t *used; /* per recorded access: the core made it */
    uint32_t used_cap;
    uint32_t *fetch; /* indexes of the fetches */
    uint32_t n_fetch, fetch_cap;
    uint64_t *walk_pages; /* linear pages the recording walked, sorted */
    uint32_t n_walk_pages, walk_pages_cap;
    uint64_t *walked; /* linear pages the core walked */
    uint32_t n_walked, walked_cap;
    uint64_t *used_pages; /* linear pages the core accessed (data, fetch) */
    uint32_t n_used_pages, used_pages_cap;
    struct {
        uint64_t phys;
        uint32_t size;
        uint8_t val[8];
    } *overlay; /* paging entries as the core's own A/D updates left them */
    uint32_t n_overlay, overlay_cap;
    int32_t last_idx; /* the latest recorded access the core matched */
    int order_noted;
};
void hvt_rpl_sem_free(struct rpl_sem *s);
int hvt_rpl_sem_begin(struct rpl_sem *s, const struct hvt_pass *p);

/* Notes one pass may add (the first of each kind matter; more are noise). */
#define HVT_RPL_SEM_MAX_NOTES 4

/* One replayed pass: the calls of the core checked against the recorded pass P. */
struct replay_ctx {
    struct hvt_rpl_engine *e;
    const struct hvt_event *ev;
    const struct hvt_pass *p;
    const struct hvt_access *acc; /* p->accesses */
    uint32_t next;        /* strict: the next recorded access */
    uint32_t fast_n;      /* calls may match in place while next < fast_n: the pass's access
                             count in strict mode without a call log and before any mismatch
                             (hvt_rpl_mismatch clears it), 0 otherwise */
    int mismatch;         /* a mismatch ended the comparison */
    uint32_t n_fast;      /* calls matched in place (added to the engine's n_fast_takes) */
    struct rpl_sem *sem;  /* semantic mode: the index; NULL in strict mode */
    uint32_t elem_base;   /* REP iterations of earlier calls (a one-iteration-per-call core) */
    int string_insn;      /* the event's instruction is a string instruction */
    unsigned notes;
    uint32_t ncalls; /* semantic mode: the core's calls so far */
    int oom;
};

/* Adds a replay_mismatch finding for the core's access GOT (NULL: none) against recorded
 * access IDX_A of the pass (-1: none), IDX_B the core's call index (-1: unknown). */
void hvt_rpl_mismatch(struct replay_ctx *c, const struct hvt_access *got, int32_t idx_a,
                      int32_t idx_b, const char *text, const char *what);
/* Semantic mode: answers the core's access GOT (the read buffer, or the cmpxchg's OLD, in
 * BUF) and returns the op result. */
int hvt_rpl_sem_answer(struct replay_ctx *c, struct hvt_access *got, void *buf,
                       struct hvt_op_info *info);
/* Semantic mode, after the core returned: recorded accesses it left undone. */
void hvt_rpl_sem_finish(struct replay_ctx *c);

/* What-if: fills REP's verdict for EV with policy CACHE. */
struct hvt_rpl_engine;
int hvt_rpl_whatif(struct hvt_rpl_engine *e, const struct hvt_event *ev,
               struct hvt_rpl_event_report *rep);

/* Capstone handles per mode, opened lazily. */
struct rpl_disasm {
    csh h[3];
    int open[3];
    cs_insn *insn;
};
void hvt_rpl_disasm_close(struct rpl_disasm *d);
int hvt_rpl_disasm_ctx(struct rpl_disasm *d, const struct hvt_vcpu_state *st, const uint8_t *insn,
               size_t len, char *mnem, size_t mlen, char *text, size_t tlen);

/* The engine. */
struct hvt_rpl_engine {
    struct hvt_core *core;
    unsigned cache;
    unsigned flags;
    struct rpl_fvec fv;
    struct rpl_scratch sc;
    struct rpl_avec calls; /* calls the core made in the current pass */
    int log_calls;         /* keep the calls (compare mode) */
    struct rpl_disasm dis;
    /* what-if scratch */
    struct hvt_pass *sim; /* simulated passes */
    struct rpl_avec *simacc;
    uint32_t sim_cap;
    unsigned match;             /* HVT_RPL_MATCH_STRICT or _SEMANTIC */
    int slow_take;              /* tests: strict calls always build the access and compare it */
    uint64_t n_fast_takes;      /* strict calls that equalled the recorded access in place */
    char match_why[200];
    struct rpl_sem sem;
    struct hvt_cpu_profile cpu; /* the profile the core follows */
    int cpu_source;             /* enum hvt_rpl_cpu_source */
    char warnings[768];         /* "; "-separated notes from setting the core up */
};

#endif
