/* SPDX-License-Identifier: MIT */
/* hvtrace CLI: one-line text and JSON printing of events, passes, accesses and lost markers. */
#ifndef HVT_TOOLS_PRINT_H
#define HVT_TOOLS_PRINT_H

#include <stdio.h>

/* hvt_text_str, hvt_tag_text, hvt_text_hex: the printing shared with the replayer */
#include "common/print.h"
#include "hvtrace/format.h"
#include "hvtrace/types.h"

/* Every printer writes exactly one line (newline included). The text form is for people and
 * its columns may change; the JSON form (one object per line) is documented in docs/TOOLS.md
 * and only grows new keys. Addresses and 64-bit values are hex strings in JSON. */
#define HVT_PRINT_JSON (1u << 0)

/* "event ID vcpu V rip R insn BYTES passes N ...". */
void hvt_print_event(FILE *f, const struct hvt_event *ev, unsigned flags);
/* As hvt_print_event; in JSON, PREV (the previous event's initial state on the same vCPU, or
 * NULL) turns the full "init" state into "init_changed": {"reg":["old","new"],...}. DIS (may be
 * NULL: none) is the disassembly the line shows ("disasm" in JSON). */
void hvt_print_event_delta(FILE *f, const struct hvt_event *ev, const struct hvt_vcpu_state *prev,
                           const char *dis, unsigned flags);

/* "pass I OUTCOME ..." with vector/error code/CR2 or retry cause, iterations, the number of
 * accesses, and the registers whose end value differs from INIT (the event's initial state). */
void hvt_print_pass(FILE *f, const struct hvt_event *ev, const struct hvt_pass *p, unsigned flags);

/* One access: index IDX within its pass, kind, space, tag, segment, addresses, size, data,
 * outcome and call site. CS is the call site the access names (NULL when unknown): its
 * innermost frame is printed after the id. EV and P give the JSON object its event/pass ids;
 * both may be NULL in text mode. */
void hvt_print_access(FILE *f, const struct hvt_event *ev, const struct hvt_pass *p, uint32_t idx,
                      const struct hvt_access *a, const struct hvt_callsite *cs, unsigned flags);

/* A lost-records marker. */
void hvt_print_lost(FILE *f, const struct hvt_lost *l, unsigned flags);

/* Writes the registers that differ between A and B as "name=old->new" separated by spaces
 * (text) or as a JSON object {"name":["old","new"],...} (JSON). Returns the number printed. */
int hvt_print_state_diff(FILE *f, const struct hvt_vcpu_state *a, const struct hvt_vcpu_state *b,
                         unsigned flags);

/* "hvtrace: PATH: offset N, chunk C: MESSAGE" on stderr (", chunk C" left out when the problem
 * is outside any chunk, "record R" added when known). */
void hvt_print_fmt_error(const char *path, const struct hvt_fmt_error_info *e);

/* Opens PATH for reading with FLAGS (HVT_FMT_R_*), printing the error line on failure.
 * Returns 0 with *OUT, or the exit code to return (HVT_EXIT_CORRUPT for unreadable or corrupt
 * files, HVT_EXIT_USAGE for bad arguments). */
int hvt_print_open(struct hvt_fmt_reader **out, const char *path, unsigned flags);

/* Prints the reader's last error when it is not the one in *SEEN (then remembers it in SEEN).
 * A salvaging reader skips bad chunks silently; this is how tools still report each of them.
 * Returns 1 when a new error was printed, 0 otherwise. */
int hvt_print_new_error(const char *path, const struct hvt_fmt_reader *r,
                        struct hvt_fmt_error_info *seen);

/* The next record of a tool's read loop over R: hvt_fmt_reader_next with each new reader error
 * printed once (hvt_print_new_error), which sets *STATUS to HVT_EXIT_CORRUPT. Returns 1 with
 * *REC, 0 at the end of the trace or after an error that ends reading (printed). */
int hvt_print_next(const char *path, struct hvt_fmt_reader *r, struct hvt_record *rec,
                   struct hvt_fmt_error_info *seen, int *status);

/* The trace header as one line (text: "trace ..."; JSON: {"type":"header",...}). */
void hvt_print_header(FILE *f, const struct hvt_fmt_header *h, unsigned flags);

/* The CPU profile the trace records (hvt_fmt_header_cpu). JSON (HVT_PRINT_JSON): the member
 * "cpu":{"source","name","vendor","family","model","stepping","features":[...],
 * "choices":{...}[,"warning"]} without a leading comma. Text: lines that start with INDENT. */
void hvt_print_cpu(FILE *f, const struct hvt_fmt_header *h, unsigned flags, const char *indent);

/* Paging-structure entries (page-walk reads and A/D updates of 4 or 8 bytes): 1 with the entry
 * value (little-endian data) in *VALUE, 0 for other accesses. */
int hvt_print_entry_value(const struct hvt_access *a, uint64_t *value);

/* The decoded entry: "frame 0x201000 P RW US A D PS NX" (the flags that are set; "not present"
 * when P is clear). LEVEL is the walk level (PS only means a large page at 2 and 3); SIZE 4 is
 * a 32-bit entry (no NX, 32-bit frames). Returns BUF. */
const char *hvt_print_entry_text(char *buf, size_t len, uint64_t v, unsigned level, unsigned size);
/* The frame address an entry points at (the page for a large page). */
uint64_t hvt_print_entry_frame(uint64_t v, unsigned level, unsigned size);


/* Events in the trace when its index says (last event id + 1), 0 when not known. */
uint64_t hvt_print_event_total(struct hvt_fmt_reader *r);


#endif
