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

int cs_table_new(struct cs_table **out, unsigned depth);
void cs_table_free(struct cs_table *t);

/* Captures the caller chain of the function calling cs_capture, skipping SKIP further frames,
 * and interns it. Returns its id, or 0 when nothing was captured or the table is full (then
 * *overflow is set to 1). No lock, no allocation once libunwind is warmed up. */
uint32_t cs_capture(struct cs_table *t, unsigned skip, int *overflow);

/* Distinct chains interned so far. */
uint64_t cs_count(const struct cs_table *t);

/* Symbolizes chain ID into FRAMES (at least the table's depth entries): module from dladdr,
 * function and offset from the module's ELF symbol table (.symtab, else .dynsym; read once per
 * module and cached in T), else from dladdr. Strings belong to the loader or to T and live until
 * cs_table_free. Writer thread only (the symbol cache is not locked). Returns the frame count,
 * 0 when ID is not a published chain. */
uint32_t cs_symbolize(struct cs_table *t, uint32_t id, struct hvt_frame *frames);

#endif
