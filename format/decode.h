/* SPDX-License-Identifier: MIT */
/* hvtrace format: decoding of one chunk payload: bounded unpack, column checks, record cursor. */
#ifndef HVT_FMT_DECODE_H
#define HVT_FMT_DECODE_H

#include <stddef.h>
#include <stdint.h>

#include "hvtrace/format.h"
#include "layout.h"
#include "pbmem.h"
#include "state.h"
#include "trace.pb-c.h"

/* An unpacked chunk whose columns have consistent lengths (values are checked by the cursor). */
struct hvt_dchunk {
    struct hvt_pbmem mem; /* must not move while m is alive: hvt_dchunk lives on the heap */
    Hvtrace__V1__Chunk *m;
    size_t n_events, n_passes, n_accesses, n_lost, n_records;
    uint64_t first_id, last_id; /* HVT_NO_EVENT when the chunk has no event */
    struct hvt_callsite *cs;    /* sorted by id */
    struct hvt_frame *frames;
    size_t n_cs;
    size_t mem_need; /* decode memory measured before unpacking (see hvt_dchunk_unpack) */
    /* for error messages */
    int64_t chunk;
    uint64_t offset;
};

/* Decode memory of a chunk from its counts: what materialising every record costs
 * (hvt_fmt_reader_load_chunk) on top of the unpacked message. */
size_t hvt_chunk_records_mem(size_t n_events, size_t n_lost, size_t n_passes, size_t n_accesses);

/* Upper bound of the decode memory of a chunk the writer is building, for RAW payload bytes and
 * N_CALLSITES call-site definitions (each up to HVT_FMT_MAX_FRAMES frames): the writer closes
 * a chunk before this reaches half of HVT_FMT_MAX_CHUNK_MEM, so every chunk it writes decodes
 * within a reader's default budget. */
size_t hvt_chunk_mem_bound(size_t raw, size_t n_events, size_t n_lost, size_t n_passes,
                           size_t n_accesses, size_t n_callsites);

/* Unpacks RAW (LEN bytes) into D (zeroed by the caller) and checks it against the chunk header
 * H: column lengths, counts, limits, id range, call sites. Before anything is allocated, the
 * wire form is measured: the columns whose length the header fixes (events, lost markers) must
 * have it, and the memory the chunk needs (the unpacked message, plus every record when WHOLE)
 * must be at most MAX_MEM, else -HVT_E_LIMIT. d->mem_need receives that figure.
 * Errors: -HVT_E_LIMIT, -HVT_E_BAD_RECORD, -HVT_E_NOMEM, with detail in *E. D must be freed in
 * every case. */
int hvt_dchunk_unpack(struct hvt_dchunk *d, const uint8_t *raw, size_t len,
                      const struct hvt_chunk_hdr *h, size_t max_mem, int whole,
                      struct hvt_fmt_error_info *e);
void hvt_dchunk_free(struct hvt_dchunk *d);
const struct hvt_callsite *hvt_dchunk_callsite(const struct hvt_dchunk *d, uint32_t id);

/* Walks the records of a chunk in order, rebuilding them from the columns. */
struct hvt_cursor {
    const struct hvt_dchunk *d;
    size_t rec, ev, pass, acc, lost;
    size_t insn_off, data_off, cx_off;
    size_t si_n, si_v, se_n, se_v; /* positions in the init/end States columns */
    uint64_t prev_id;
    uint64_t prev_time;
    unsigned n_vcpus;
    uint32_t vcpu_ids[HVT_MAX_VCPU_SLOTS];
    uint64_t vcpu_slots[HVT_MAX_VCPU_SLOTS][HVT_NSLOTS];
    uint64_t lin_ctx[HVT_TAG__COUNT * 8], phys_ctx[HVT_TAG__COUNT * 8];
};

void hvt_cursor_init(struct hvt_cursor *c, const struct hvt_dchunk *d);

/* Type of the next record (HVT_REC_EVENT / HVT_REC_LOST), or 0 at the end; for an event, the
 * storage it needs. */
int hvt_cursor_peek(const struct hvt_cursor *c, uint32_t *n_passes, size_t *n_accesses);

/* Decodes the next record into EV (+ PASSES, ACCS: room for what peek said) or LOST. Returns
 * the record type, 0 at the end, or -HVT_E_BAD_RECORD with detail in *E. */
int hvt_cursor_next(struct hvt_cursor *c, struct hvt_event *ev, struct hvt_pass *passes,
                    struct hvt_access *accs, struct hvt_lost *lost, struct hvt_fmt_error_info *e);

/* After the last record: every byte and state column consumed exactly. 0 or -HVT_E_BAD_RECORD. */
int hvt_cursor_finish(const struct hvt_cursor *c, struct hvt_fmt_error_info *e);

#endif
