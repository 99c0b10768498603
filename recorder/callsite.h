/* SPDX-License-Identifier: MIT */
/* Recorder: call-site capture (libunwind), lock-free interning, and off-path symbolization. */
#ifndef HVT_REC_CALLSITE_H
#define HVT_REC_CALLSITE_H

#include <stdint.h>

#include "hvtrace/types.h"

/* Interned chains live in one fixed open-addressing table shared by all vCPUs: insertion claims
 * a slot with one compare-and-swap, so the access path never takes a lock. The id of a chain is
 * its slot index + 1, stable for the recording's life. */
#define CS_TABLE_SLOTS 8192u

struct cs_table;

int hvt_cs_table_new(struct cs_table **out, unsigned depth);
void hvt_cs_table_free(struct cs_table *t);

/* A per-vCPU memo of the chains seen lately (producer-private), keyed by the return address
 * through which the recorder was entered (the anchor). A chain is remembered as its return
 * addresses and the stack slots they were found in, relative to the anchor's CFA (the stack
 * address above the anchor's slot). A capture whose anchor has entries reads those slots on
 * its own stack: when each holds the remembered return address, the chain is the same (see
 * hvt_cs_capture), at a tenth of the cost of unwinding. x86-64 only (the return address sits at
 * CFA - 8); elsewhere, and without a memo, every capture unwinds. */
struct cs_memo;
/* A memo for chains of DEPTH frames after SKIP frames of the caller's own. */
int hvt_cs_memo_new(struct cs_memo **out, unsigned depth, unsigned skip);
void hvt_cs_memo_free(struct cs_memo *m);
/* Binds M to the calling thread (its stack bounds), unless it is bound to it already; may
 * allocate (reads /proc for the main thread), so called at event begin, outside any pass.
 * Captures on another thread than the bound one unwind. */
void hvt_cs_memo_bind(struct cs_memo *m);
/* Captures answered from M, and captures that had to unwind. */
void hvt_cs_memo_counts(const struct cs_memo *m, uint64_t *hits, uint64_t *misses);

/* Captures the caller chain of the function calling hvt_cs_capture: skips OWN further frames (the
 * recorder's), then USER frames (the caller's own wrappers), and interns the chain. ANCHOR_IP
 * and ANCHOR_CFA (0: unknown) are the return address and CFA of the last of the OWN frames,
 * so that the memo M (may be NULL) can answer without unwinding. Returns the chain's id, or 0
 * when nothing was captured or the table is full (then *overflow is set to 1). No lock, no
 * allocation once libunwind is warmed up. */
uint32_t hvt_cs_capture(struct cs_table *t, unsigned own, unsigned user, int *overflow,
                    struct cs_memo *m, uintptr_t anchor_ip, uintptr_t anchor_cfa);

/* Distinct chains interned so far. */
uint64_t hvt_cs_count(const struct cs_table *t);

/* Symbolizes chain ID into FRAMES (at least the table's depth entries): module from dladdr,
 * function and offset from the module's ELF symbol table (.symtab, else .dynsym; read once per
 * module and cached in T), else from dladdr. Strings belong to the loader or to T and live until
 * hvt_cs_table_free. Writer thread only (the symbol cache is not locked). Returns the frame count,
 * 0 when ID is not a published chain. */
uint32_t hvt_cs_symbolize(struct cs_table *t, uint32_t id, struct hvt_frame *frames);

#endif
