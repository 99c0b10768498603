/* SPDX-License-Identifier: MIT */
/* hvtrace CLI: a deterministic synthetic trace (gen-sample, golden tests, fuzz seeds). */
#ifndef HVT_TOOLS_SAMPLE_H
#define HVT_TOOLS_SAMPLE_H

#include <stdint.h>

#include "hvtrace/format.h"

/* The fixed UUID and start time every sample carries, so that the same arguments always give
 * the same bytes. */
#define HVT_SAMPLE_START_NS 1700000000000000000ull

/* Writes a synthetic trace of N_EVENTS events (ids 0..N-1) to PATH, with the writer options
 * OPT (NULL: defaults; the caller sets HVT_FMT_W_OVERWRITE if it wants it). The content is a
 * function of (N_EVENTS, SEED) only: 64-bit guest, two vCPUs, 4-level page walks on every
 * access, MMIO reads that RETRY once, MMIO writes, REP MOVSB stopped part way (RETRY
 * rep-partial), a store that sets the A and D bits with a locked cmpxchg, a #PF, port I/O
 * with a PIO retry, interned call sites, and (from 10 events on) a lost-records marker after
 * event 9. ERR, when not NULL, receives the writer's error detail.
 * Returns 0 or the writer's negative error. */
int hvt_sample_write(const char *path, uint64_t n_events, uint64_t seed,
                     const struct hvt_fmt_writer_options *opt, struct hvt_fmt_writer_stats *st,
                     struct hvt_fmt_error_info *err);

#endif
