/* SPDX-License-Identifier: MIT */
/* hvtrace format: decoding of one chunk payload, straight from the protobuf wire form of message
 * Chunk into records, validating as it goes (one pass over the columns). */
#ifndef HVT_FMT_DECODE_H
#define HVT_FMT_DECODE_H

#include <stddef.h>
#include <stdint.h>

#include "chunkenc.h" /* the Chunk field numbers */
#include "hvtrace/format.h"
#include "layout.h"

/* One field of the payload: where its bytes are, and for a packed varint column the number of
 * elements (bytes without the continuation bit). */
struct hvt_dcol {
    const uint8_t *p;
    size_t len, n;
};

/* A decoded access shape (encoding 2): the first 16 bytes of its accesses (element 0), their
 * flags and call site, its shape bits, its predictor context, and its decode plan: which of the
 * prediction rules (docs/FORMAT.md "Encoding 2") gives each value of its accesses, worked out
 * once per shape so that the per-access loop does not test the shape's fields again. */
struct hvt_dshape {
    uint8_t hdr[16]; /* kind, space, seg, outcome, tag (element 0), size */
    uint32_t flags;
    uint8_t lin, phys, data, upd; /* the plan (decode.c: PL_*, PP_*, PD_*, PU_*) */
    uint32_t callsite;
    uint16_t bits;
    uint8_t ctx;   /* its accesses' predictor context */
    uint8_t shift; /* a walk entry predicted from its table: the level's index shift */
};

struct hvt_pred;

/* A decoded chunk: every record materialised. The storage is kept and reused by the next
 * hvt_dchunk_decode into the same struct (the sequential reader decodes every chunk into one). */
struct hvt_dchunk {
    size_t n_events, n_passes, n_accesses, n_lost, n_records;
    uint64_t first_id, last_id; /* HVT_NO_EVENT when the chunk has no event */
    struct hvt_record *recs;
    struct hvt_event *evs;
    struct hvt_lost *losts;
    struct hvt_pass *passes;
    struct hvt_access *accs;
    struct hvt_callsite *cs; /* sorted by id */
    struct hvt_frame *frames;
    char *strings;                  /* frame names, NUL-terminated */
    uint8_t *ev_dirty, *pass_dirty; /* per state: its SIMD part may be nonzero */
    struct hvt_dshape *shapes;      /* encoding 2: the chunk's access shapes */
    void *pred;                     /* encoding 2: the predictor state */
    size_t n_cs;
    size_t mem_need;  /* decode memory measured before anything was allocated */
    size_t mem_alloc; /* bytes of storage held now (capacities) */
    /* for error messages */
    int64_t chunk;
    uint64_t offset;
    /* storage capacities, in elements (bytes for strings) */
    size_t cap_recs, cap_evs, cap_losts, cap_passes, cap_accs, cap_cs, cap_frames, cap_strings;
    size_t cap_shapes;
    /* tests: decode encoding 2 with format/predict.h's functions, as the encoder runs them,
     * instead of the decoder's per-shape plans (the two must give identical results) */
    int reference_predictor;
};

/* Decode memory of a chunk from its counts: what materialising every record costs. */
size_t hvt_chunk_records_mem(size_t n_events, size_t n_lost, size_t n_passes, size_t n_accesses);
/* What a chunk of encoding 2 with N_SHAPES shapes needs besides: the shapes, the predictor. */
size_t hvt_chunk_enc2_mem(size_t n_shapes);

/* Upper bound of the decode memory of a chunk the writer is building, for RAW payload bytes and
 * N_CALLSITES call-site definitions (each up to HVT_FMT_MAX_FRAMES frames): the writer closes
 * a chunk before this reaches half of HVT_FMT_MAX_CHUNK_MEM, so every chunk it writes decodes
 * within a reader's default budget. */
size_t hvt_chunk_mem_bound(size_t raw, size_t n_events, size_t n_lost, size_t n_passes,
                           size_t n_accesses, size_t n_callsites);

/* Readable bytes a payload buffer must have after its end: the decoder loads varints 8 bytes
 * at a time. */
#define HVT_DCHUNK_PAD 16

/* Decodes RAW (LEN bytes followed by HVT_DCHUNK_PAD readable bytes, the payload of the chunk whose
 * header is H) into D, which holds every record afterwards (pointers into D's storage, valid until
 * the next decode into D or hvt_dchunk_free). D is zeroed before its first use; d->chunk and
 * d->offset name the chunk in errors. Before anything is allocated the wire form is walked: the
 * columns whose length the header fixes (events, lost markers) must have it, and the memory the
 * chunk needs (every record, the call-site tables) must be at most MAX_MEM, else -HVT_E_LIMIT;
 * d->mem_need receives that figure. Then each column is read once, every value checked before it is
 * used; every column must be consumed exactly. All or nothing: on error D holds no records. Errors:
 * -HVT_E_LIMIT, -HVT_E_BAD_RECORD (which field, which record), -HVT_E_NOMEM, with detail in *E. */
int hvt_dchunk_decode(struct hvt_dchunk *d, const uint8_t *raw, size_t len,
                      const struct hvt_chunk_hdr *h, size_t max_mem, struct hvt_fmt_error_info *e);

/* Row N keeps the first N of HVT_DATA_MAX bytes (0xff, then 0): fixed-size masked copies of
 * access data, for the decoder and the encoder. */
const uint8_t (*hvt_keep_masks(void))[HVT_DATA_MAX];

/* Frees D's storage (D itself is the caller's); accepts NULL. */
void hvt_dchunk_free(struct hvt_dchunk *d);

const struct hvt_callsite *hvt_dchunk_callsite(const struct hvt_dchunk *d, uint32_t id);

#endif
