/* SPDX-License-Identifier: MIT */
/* hvtrace: lint, the consistency checks of a trace from any recorder (part of the replayer). */
#ifndef HVTRACE_LINT_H
#define HVTRACE_LINT_H

#include "hvtrace/export.h"

#include <stddef.h>
#include <stdint.h>

#include "hvtrace/format.h"
#include "hvtrace/types.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * The format's reader checks that a trace decodes (CRCs, ranges of every field, limits);
 * lint checks that what it decodes to can be a recording of an x86 emulator, which is what a
 * trace from someone else's recorder (a hypervisor calling the recorder API, or a program
 * writing the format itself) needs before replay can be trusted. It consumes decoded records
 * only (it parses nothing the reader has not validated). The checks, by name (docs/TOOLS.md,
 * "lint", lists each rule):
 *
 *   tag      the recording rules of every access (docs/INTEGRATION.md, "Checked calls"); walk
 *            and A/D levels and entry sizes possible in the event's paging mode; elements only
 *            on data and I/O accesses; data operands 0 and 1, no operand on fetch, stack and
 *            I/O accesses
 *   segment  the segment of each tag class (fetch CS, stack SS, data ES..GS, descriptor
 *            LDTR/TR/GDTR/IDTR, walk, A/D and I/O none); no linear address on port I/O; I/O
 *            sizes 1, 2, 4
 *   walk     with paging on (the event's CR0.PG), every linear page a fetch, data, stack or
 *            descriptor access touches was translated by a walk (a present leaf entry read)
 *            earlier in that pass or in an earlier pass of the event; no walk with paging off
 *   fetch    the fetches of a pass that executed the instruction (it made a data, stack,
 *            descriptor or I/O access, or ended OKAY), with those of earlier passes, cover the
 *            event's instruction bytes, and fetched bytes equal them
 *   element  REP string ops number their iterations 0, 1, 2, ... in each pass (no gap, never
 *            backwards, none beyond the pass's iterations); other instructions' elements (gather
 *            elements) never go backwards
 *   outcome  pass outcomes possible (kind, cause, vector, flags), pass indexes 0, 1, 2, ...,
 *            only the last pass ends other than RETRY, an access answered RETRY or
 *            UNHANDLEABLE ends its pass (and RETRY makes the pass RETRY); known event flags
 *   lost     lost-records markers: a count, and one that names an event comes before that
 *            event (the next event of its vCPU), points into one of its passes, and the
 *            markers of each pass add up to the pass's lost count; an event with lost records
 *            is flagged incomplete
 */

/* One problem. Strings live until the callback returns. */
struct hvt_lint_problem {
    uint64_t record;    /* record index in file order (events and lost markers) */
    uint64_t event;     /* the event's id, or HVT_NO_EVENT (a lost marker between events) */
    int64_t pass;       /* pass index, -1 when the problem is about no pass */
    int64_t access;     /* access index within the pass, -1 when about no access */
    const char *check;  /* "tag", "segment", "walk", "fetch", "element", "outcome", "lost" */
    const char *reason; /* what is wrong, e.g. "data access at 0x1000 with no walk of its page" */
};

/* Called once per problem; return nonzero to stop linting. */
typedef int (*hvt_lint_fn)(void *arg, const struct hvt_lint_problem *p);

/* Figures of a lint run. */
struct hvt_lint_stats {
    uint64_t records, events, passes, accesses, lost_markers;
    uint64_t problems;
};

struct hvt_lint;

/* Creates a linter (state across records: lost markers waiting for their event). FN (may be
 * NULL: problems are only counted) receives each problem with ARG.
 * Errors: -HVT_E_INVALID (NULL OUT), -HVT_E_NOMEM. */
HVT_API int hvt_lint_new(struct hvt_lint **out, hvt_lint_fn fn, void *arg);

/* Frees L. L may be NULL. */
HVT_API void hvt_lint_free(struct hvt_lint *l);

/* Checks the next record of the trace (records must come in file order). Returns the number
 * of problems it found (>= 0), 0 after the callback asked to stop, or -HVT_E_INVALID (NULL,
 * an unknown record type), -HVT_E_NOMEM. */
HVT_API int hvt_lint_record(struct hvt_lint *l, const struct hvt_record *rec);

/* Ends the trace: reports lost markers whose event never came. Returns the number of
 * problems found, or -HVT_E_INVALID. */
HVT_API int hvt_lint_finish(struct hvt_lint *l);

/* Figures so far. Errors: -HVT_E_INVALID. */
HVT_API int hvt_lint_get_stats(const struct hvt_lint *l, struct hvt_lint_stats *out);

/* Lints every record of the trace at PATH (hvt_lint_new, _record for each, _finish).
 * Returns the number of problems (>= 0), or a negative error of hvt_fmt_reader_open /
 * hvt_fmt_reader_next (the problems found before it were reported), with its detail in *ERR
 * (may be NULL). STATS (may be NULL) receives the figures either way. */
HVT_API int64_t hvt_lint_file(const char *path, hvt_lint_fn fn, void *arg,
                              struct hvt_lint_stats *stats, struct hvt_fmt_error_info *err);

#ifdef __cplusplus
}
#endif
#endif /* HVTRACE_LINT_H */
