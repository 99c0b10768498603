/* SPDX-License-Identifier: MIT */
/* hvtrace format: the chunk encoder: events and lost markers -> the columns of message Chunk,
 * kept directly in protobuf wire form (packed varints) so that closing a chunk is a few copies. */
#ifndef HVT_FMT_CHUNKENC_H
#define HVT_FMT_CHUNKENC_H

#include <stddef.h>
#include <stdint.h>

#include "hvtrace/types.h"
#include "layout.h"
#include "state.h"

/* Field numbers of message Chunk and States in trace.proto (the round-trip tests decode what
 * this encoder writes with the protoc-c generated code, so a mismatch cannot go unnoticed). */
enum {
    F_FIRST_EVENT_ID = 1,
    F_LOST_AT,
    F_EV_ID_DELTA,
    F_EV_VCPU,
    F_EV_FLAGS,
    F_EV_TIME_DELTA,
    F_EV_INSN_LEN,
    F_EV_INSN,
    F_EV_INIT_BASE,
    F_EV_INIT,
    F_EV_PASSES,
    F_PASS_INDEX,
    F_PASS_LOST,
    F_PASS_KIND,
    F_PASS_RETRY_CAUSE,
    F_PASS_VECTOR,
    F_PASS_FLAGS,
    F_PASS_ERROR_CODE,
    F_PASS_CR2,
    F_PASS_ITERATIONS,
    F_PASS_END,
    F_PASS_ACCESSES,
    F_ACC_KIND,
    F_ACC_SPACE,
    F_ACC_SEG,
    F_ACC_OUTCOME,
    F_ACC_TAG_CLASS,
    F_ACC_TAG_OPERAND,
    F_ACC_TAG_LEVEL,
    F_ACC_TAG_ELEMENT,
    F_ACC_SIZE,
    F_ACC_FLAGS,
    F_ACC_LINEAR_DELTA,
    F_ACC_PHYS_DELTA,
    F_ACC_CALLSITE,
    F_ACC_DATA,
    F_ACC_CMPXCHG,
    F_LOST_VCPU,
    F_LOST_COUNT,
    F_LOST_EVENT_ID,
    F_LOST_PASS,
    F_LOST_ACCESS,
    F_CALLSITES,
    F__COUNT
};
/* Columns past the dense range above (since format 1.2): kept apart from col[]. */
enum { F_PASS_RETIRE = 60 };
/* Encoding 2 (format 2.0, chunk header version 2): the access columns 23..36 are replaced by
 * these; acc_cmpxchg (37) keeps its meaning. */
enum {
    F2_ACC_SHAPE = 61, /* per access: its shape's index in acc_shapes */
    F2_ACC_SHAPES,     /* per shape: HVT_SHAPE_FIELDS varints */
    F2_ACC_ELEMENT,    /* per access with HVT_SHAPE_ELEMENT: zigzag(element - prediction) */
    F2_ACC_LINEAR,     /* per access with HVT_SHAPE_LINEAR: zigzag(linear - prediction) */
    F2_ACC_PHYS,       /* per access with HVT_SHAPE_PHYS: zigzag(phys - prediction) */
    F2_ACC_BYTES,      /* per access with HVT_SHAPE_DATA: its size bytes of data */
    F2__END
};
#define F2_FIRST F2_ACC_SHAPE
#define F2_N (F2__END - F2_FIRST)
/* kind, space, seg, outcome, class, operand, level, size, flags, call site, shape bits */
#define HVT_SHAPE_FIELDS 11
/* Chunk header versions: the payload's encoding. */
#define HVT_CHUNK_ENC_1 1
#define HVT_CHUNK_ENC_2 2
enum { FS_COUNT = 1, FS_SLOT_GAP = 2, FS_VALUE = 3, FS__COUNT };

struct hvt_colbuf {
    uint8_t *p;
    size_t n, cap;
};

#define HVT_NCTX (HVT_TAG__COUNT * 8) /* address delta contexts: tag class x level */

struct hvt_pred;

/* The chunk's access shapes: first-use order, and a hash set of their keys. */
struct hvt_shape_key {
    uint64_t k0, k1;
};
/* The shape that followed another one last time: its key and index. */
struct hvt_shape_next {
    struct hvt_shape_key k; /* k0 UINT64_MAX: none yet */
    uint32_t id, pad;
};
struct hvt_shapes {
    struct hvt_shape_key *list;
    struct hvt_shape_next *next; /* per shape: the shape that followed it last */
    struct hvt_shape_next first; /* the shape that began the last pass */
    size_t n, cap;
    uint32_t *set; /* index + 1, 0 = empty; cap_set a power of two >= 2 * cap */
    size_t cap_set;
};

struct hvt_chunkenc {
    struct hvt_colbuf col[F__COUNT];    /* by Chunk field number (F_EV_INIT, F_PASS_END unused) */
    struct hvt_colbuf st[2][FS__COUNT]; /* [0] ev_init, [1] pass_end, by States field number */
    struct hvt_colbuf retire;           /* pass_retire, written only when some value is nonzero */
    struct hvt_colbuf col2[F2_N];       /* encoding 2 access columns, by field - F2_FIRST */
    struct hvt_shapes shapes;
    size_t shapes_bytes; /* encoded size of the shape table */
    size_t bytes;        /* encoded bytes of the columns but pass_retire and acc_shapes */
    /* events, passes and accesses that fit in every column without reserving again */
    size_t room_events, room_passes, room_accesses;
    struct hvt_pred *pred;
    uint32_t ctx_sets; /* the predictor's context sets (vCPU slot mod 16) used in the chunk */
    uint32_t retire_any;                /* OR of the pass_retire values so far */
    uint32_t n_events, n_records;
    size_t n_passes, n_accesses; /* for the decode-memory bound */
    uint64_t first_id, prev_id, prev_time;
    unsigned n_vcpus;
    uint32_t vcpu_ids[HVT_MAX_VCPU_SLOTS];
    /* each slot's last state: the end of its previous event's last pass (SIMD part only if
     * valid) */
    struct hvt_vcpu_state vcpu_state[HVT_MAX_VCPU_SLOTS];
    /* call-site ids the chunk uses (a set, plus the list in first-use order) */
    uint32_t *cs_set;
    size_t cs_set_cap;
    uint32_t *cs_list;
    size_t cs_n, cs_cap;
    uint32_t cs_last;
    /* tests: predict each access with predict.h's functions themselves (the reference) instead
     * of the encoder's own form of the same rules */
    int ref_rules;
};

/* Validates EV (the rules of hvt_fmt_writer_append) and appends it; all or nothing.
 * Returns 0, -HVT_E_INVALID with a message in MSG, or -HVT_E_NOMEM. Ids are the caller's. */
int hvt_chunkenc_event(struct hvt_chunkenc *c, const struct hvt_event *ev, char *msg,
                       size_t msg_size);
int hvt_chunkenc_lost(struct hvt_chunkenc *c, const struct hvt_lost *l);

/* Encoded bytes so far (the payload size without call-site definitions). */
size_t hvt_chunkenc_size(const struct hvt_chunkenc *c);

/* Serialises the payload into *BUF (grown as needed): the columns, then EXTRA (already encoded
 * fields, i.e. the call-site definitions). Returns the payload size or -HVT_E_NOMEM. */
int64_t hvt_chunkenc_finish(const struct hvt_chunkenc *c, const uint8_t *extra, size_t extra_len,
                            uint8_t **buf, size_t *cap);

void hvt_chunkenc_reset(struct hvt_chunkenc *c);
void hvt_chunkenc_free(struct hvt_chunkenc *c);

/* Wire helpers, also used for the call-site definitions. */
static inline uint8_t *hvt_pb_varint(uint8_t *p, uint64_t v)
{
    while (v >= 0x80) {
        *p++ = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    *p++ = (uint8_t)v;
    return p;
}

#endif
