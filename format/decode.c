/* SPDX-License-Identifier: MIT */
/* hvtrace format: chunk payload decoding, straight from the wire form. Nothing read from the
 * file is used before it is checked: the wire structure and column lengths first, then every
 * value as the records are rebuilt. */
#include "decode.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

#include "internal.h"
#include "predict.h"
#include "state.h"

#define BAD(code, rec, ...)                                                                        \
    hvt_fmt_seterr(e, code, d->offset, d->chunk, (int64_t)(rec), __VA_ARGS__)

static const char *const field_name[F__COUNT] = {
    [F_FIRST_EVENT_ID] = "first_event_id",
    [F_LOST_AT] = "lost_at",
    [F_EV_ID_DELTA] = "ev_id_delta",
    [F_EV_VCPU] = "ev_vcpu",
    [F_EV_FLAGS] = "ev_flags",
    [F_EV_TIME_DELTA] = "ev_time_delta",
    [F_EV_INSN_LEN] = "ev_insn_len",
    [F_EV_INSN] = "ev_insn",
    [F_EV_INIT_BASE] = "ev_init_base",
    [F_EV_INIT] = "ev_init",
    [F_EV_PASSES] = "ev_passes",
    [F_PASS_INDEX] = "pass_index",
    [F_PASS_LOST] = "pass_lost",
    [F_PASS_KIND] = "pass_kind",
    [F_PASS_RETRY_CAUSE] = "pass_retry_cause",
    [F_PASS_VECTOR] = "pass_vector",
    [F_PASS_FLAGS] = "pass_flags",
    [F_PASS_ERROR_CODE] = "pass_error_code",
    [F_PASS_CR2] = "pass_cr2",
    [F_PASS_ITERATIONS] = "pass_iterations",
    [F_PASS_END] = "pass_end",
    [F_PASS_ACCESSES] = "pass_accesses",
    [F_ACC_KIND] = "acc_kind",
    [F_ACC_SPACE] = "acc_space",
    [F_ACC_SEG] = "acc_seg",
    [F_ACC_OUTCOME] = "acc_outcome",
    [F_ACC_TAG_CLASS] = "acc_tag_class",
    [F_ACC_TAG_OPERAND] = "acc_tag_operand",
    [F_ACC_TAG_LEVEL] = "acc_tag_level",
    [F_ACC_TAG_ELEMENT] = "acc_tag_element",
    [F_ACC_SIZE] = "acc_size",
    [F_ACC_FLAGS] = "acc_flags",
    [F_ACC_LINEAR_DELTA] = "acc_linear_delta",
    [F_ACC_PHYS_DELTA] = "acc_phys_delta",
    [F_ACC_CALLSITE] = "acc_callsite",
    [F_ACC_DATA] = "acc_data",
    [F_ACC_CMPXCHG] = "acc_cmpxchg",
    [F_LOST_VCPU] = "lost_vcpu",
    [F_LOST_COUNT] = "lost_count",
    [F_LOST_EVENT_ID] = "lost_event_id",
    [F_LOST_PASS] = "lost_pass",
    [F_LOST_ACCESS] = "lost_access",
    [F_CALLSITES] = "callsites",
};
static const char *const field2_name[F2_N] = {"acc_shape",  "acc_shapes", "acc_element",
                                              "acc_linear", "acc_phys",   "acc_bytes"};
static const char *const states_name[2] = {"ev_init", "pass_end"};
static const char *const states_field[FS__COUNT] = {"", "count", "slot_gap", "value"};

/* ---- the wire form ---------------------------------------------------------------------- */

/* A bounded varint read: 0, or -1 when it runs past END or is longer than 10 bytes. */
static int wire_varint(const uint8_t **p, const uint8_t *end, uint64_t *v)
{
    uint64_t x = 0;
    for (unsigned sh = 0; sh < 70 && *p < end; sh += 7) {
        uint8_t b = *(*p)++;
        x |= (uint64_t)(b & 0x7f) << (sh < 64 ? sh : 63);
        if (!(b & 0x80)) {
            *v = x;
            return 0;
        }
    }
    return -1;
}

/* Elements of a packed varint column: one per byte without the continuation bit. */
static size_t packed_count(const uint8_t *p, size_t len)
{
    size_t n = 0, i = 0;
#ifdef __SSE2__
    /* 16 bytes at a time: per-lane counts of continuation bytes, summed every 255 rounds */
    const __m128i zero = _mm_setzero_si128();
    while (len - i >= 16) {
        __m128i acc = zero;
        for (unsigned k = 0; k < 255 && len - i >= 16; k++, i += 16) {
            __m128i x = _mm_loadu_si128((const __m128i *)(const void *)(p + i));
            acc = _mm_sub_epi8(acc, _mm_cmplt_epi8(x, zero));
        }
        __m128i sum = _mm_sad_epu8(acc, zero);
        n -= (size_t)_mm_cvtsi128_si64(sum) +
             (size_t)_mm_cvtsi128_si64(_mm_unpackhi_epi64(sum, sum));
    }
    n += i; /* every byte so far, less the continuation bytes subtracted above */
#endif
    for (; i + 8 <= len; i += 8) {
        uint64_t w;
        memcpy(&w, p + i, 8);
        /* the continuation bits, summed by a multiply (no popcount instruction needed) */
        n += 8 - (size_t)((((w & 0x8080808080808080ull) >> 7) * 0x0101010101010101ull) >> 56);
    }
    for (; i < len; i++)
        n += !(p[i] & 0x80);
    return n;
}

/* One field of a message: number, wire type, and its payload (varint value or bytes). */
struct wire_field {
    uint64_t num;
    unsigned type;
    uint64_t v;
    const uint8_t *p;
    size_t len;
    size_t at; /* offset of the field's tag in the message */
};

/* The next field of [*P, END): 1, 0 at the end, -1 when the wire form is broken (a truncated
 * tag, varint or length, a group, an unknown wire type). */
static int wire_next(const uint8_t **p, const uint8_t *start, const uint8_t *end,
                     struct wire_field *f)
{
    if (*p >= end)
        return 0;
    f->at = (size_t)(*p - start);
    uint64_t tag;
    if (wire_varint(p, end, &tag) < 0)
        return -1;
    f->num = tag >> 3;
    f->type = (unsigned)(tag & 7);
    f->p = NULL;
    f->len = 0;
    switch (f->type) {
    case 0:
        return wire_varint(p, end, &f->v) < 0 ? -1 : 1;
    case 1:
    case 5: {
        size_t n = f->type == 1 ? 8 : 4;
        if ((size_t)(end - *p) < n)
            return -1;
        f->p = *p;
        f->len = n;
        *p += n;
        return 1;
    }
    case 2:
        if (wire_varint(p, end, &f->v) < 0 || f->v > (uint64_t)(end - *p))
            return -1;
        f->p = *p;
        f->len = (size_t)f->v;
        *p += f->len;
        return 1;
    default:
        return -1; /* groups (3, 4) and 6, 7: not in this schema */
    }
}

/* Stores a length-delimited column field; each at most once (the writer packs each column
 * into one field). */
static int take_col(const struct hvt_dchunk *d, struct hvt_dcol *c, const struct wire_field *f,
                    const char *msg, const char *name, int packed, struct hvt_fmt_error_info *e)
{
    if (f->type != 2)
        return BAD(-HVT_E_BAD_RECORD, -1,
                   "payload offset %zu: %s field %s: wire type %u, expected a packed column", f->at,
                   msg, name, f->type);
    if (c->p)
        return BAD(-HVT_E_BAD_RECORD, -1, "payload offset %zu: %s field %s appears twice", f->at,
                   msg, name);
    c->p = f->p ? f->p : (const uint8_t *)"";
    c->len = f->len;
    if (packed) {
        c->n = packed_count(f->p, f->len);
        /* every element ends inside the column: reading at most n varints stays inside it */
        if (f->len && (f->p[f->len - 1] & 0x80))
            return BAD(-HVT_E_BAD_RECORD, -1,
                       "payload offset %zu: %s column %s ends inside a varint", f->at, msg, name);
    } else {
        c->n = f->len;
    }
    return 0;
}

/* The wire structure of one chunk: columns, states, call-site counts. */
struct wire {
    uint64_t first_event_id;
    struct hvt_dcol col[F__COUNT];
    struct hvt_dcol st[2][FS__COUNT];
    struct hvt_dcol retire;     /* pass_retire (since 1.2); absent: every pass 0 */
    struct hvt_dcol col2[F2_N]; /* encoding 2's access columns */
    int enc;                    /* the payload's encoding: the chunk header's version */
    size_t n_cs, n_frames, n_string_bytes;
};

static int is_bytes_field(uint64_t f)
{
    return f == F_EV_INSN || f == F_ACC_DATA || f == F_ACC_CMPXCHG;
}

static int walk_states(const struct hvt_dchunk *d, const struct wire_field *f, int k,
                       struct hvt_dcol *st, size_t base, struct hvt_fmt_error_info *e)
{
    if (f->type != 2)
        return BAD(-HVT_E_BAD_RECORD, -1, "payload offset %zu: field %s: wire type %u", f->at,
                   states_name[k], f->type);
    if (st[FS_COUNT].p || st[FS_SLOT_GAP].p || st[FS_VALUE].p)
        return BAD(-HVT_E_BAD_RECORD, -1, "payload offset %zu: field %s appears twice", f->at,
                   states_name[k]);
    const uint8_t *p = f->p, *end = f->p + f->len;
    struct wire_field g;
    int rc;
    while ((rc = wire_next(&p, f->p, end, &g)) > 0) {
        g.at += base;
        if (g.num >= FS_COUNT && g.num < FS__COUNT) {
            int r = take_col(d, &st[g.num], &g, states_name[k], states_field[g.num], 1, e);
            if (r < 0)
                return r;
        }
    }
    if (rc < 0)
        return BAD(-HVT_E_BAD_RECORD, -1, "payload offset %zu: message %s does not decode", f->at,
                   states_name[k]);
    /* a States written with no changed slot is still an (empty) message: mark it seen */
    if (!st[FS_COUNT].p)
        st[FS_COUNT].p = (const uint8_t *)"";
    return 0;
}

/* Walks a CallSite message: counts its frames and their string bytes (FILL == NULL), or
 * stores it. */
struct cs_fill {
    struct hvt_callsite *cs;
    struct hvt_frame *frames;
    char *strings;
    size_t n_frames, n_strings;
};

static int walk_callsite(const struct hvt_dchunk *d, const struct wire_field *f, size_t index,
                         struct wire *w, struct cs_fill *fill, struct hvt_fmt_error_info *e)
{
    if (f->type != 2)
        return BAD(-HVT_E_BAD_RECORD, -1, "payload offset %zu: call site %zu: wire type %u", f->at,
                   index, f->type);
    const uint8_t *p = f->p, *end = f->p + f->len;
    struct wire_field g;
    uint32_t id = 0, n_frames = 0;
    struct hvt_frame *frames = fill ? fill->frames + fill->n_frames : NULL;
    int rc;
    while ((rc = wire_next(&p, f->p, end, &g)) > 0) {
        if (g.num == 1 && g.type == 0) {
            id = (uint32_t)g.v;
        } else if (g.num == 2 && g.type == 2) {
            if (n_frames >= HVT_FMT_MAX_FRAMES)
                return BAD(-HVT_E_LIMIT, -1, "call site %zu has more than %u frames", index,
                           HVT_FMT_MAX_FRAMES);
            struct hvt_frame fr = {0};
            size_t str_len[2] = {0, 0};
            const uint8_t *str[2] = {NULL, NULL};
            const uint8_t *q = g.p, *qend = g.p + g.len;
            struct wire_field h;
            while ((rc = wire_next(&q, g.p, qend, &h)) > 0) {
                if (h.num == 1 && h.type == 0) {
                    fr.ip = h.v;
                } else if (h.num == 2 && h.type == 0) {
                    fr.offset = h.v;
                } else if ((h.num == 3 || h.num == 4) && h.type == 2) {
                    if (h.len > HVT_FMT_MAX_STRING)
                        return BAD(-HVT_E_LIMIT, -1, "call site %zu frame %u: name longer than %u",
                                   index, n_frames, HVT_FMT_MAX_STRING);
                    str[h.num - 3] = h.p;
                    str_len[h.num - 3] = h.len;
                }
            }
            if (rc < 0)
                break;
            if (!fill) {
                w->n_string_bytes += str_len[0] + str_len[1] + 2;
            } else {
                const char **dst[2] = {&fr.function, &fr.module};
                for (int s = 0; s < 2; s++) {
                    /* a name ends at its first NUL, as the C string it becomes */
                    size_t n = str[s] ? strnlen((const char *)str[s], str_len[s]) : 0;
                    if (!n)
                        continue;
                    char *o = fill->strings + fill->n_strings;
                    memcpy(o, str[s], n);
                    o[n] = 0;
                    fill->n_strings += n + 1;
                    *dst[s] = o;
                }
                frames[n_frames] = fr;
            }
            n_frames++;
        }
    }
    if (rc < 0)
        return BAD(-HVT_E_BAD_RECORD, -1, "payload offset %zu: call site %zu does not decode",
                   f->at, index);
    if (!fill) {
        w->n_frames += n_frames;
        return 0;
    }
    if (!id)
        return BAD(-HVT_E_BAD_RECORD, -1, "call site %zu has id 0", index);
    struct hvt_callsite *cs = &fill->cs[index];
    cs->id = id;
    cs->n_frames = n_frames;
    cs->frames = n_frames ? frames : NULL;
    fill->n_frames += n_frames;
    return 0;
}

static int walk_chunk(const struct hvt_dchunk *d, const uint8_t *raw, size_t len, struct wire *w,
                      struct hvt_fmt_error_info *e)
{
    const uint8_t *p = raw, *end = raw + len;
    struct wire_field f;
    int rc;
    while ((rc = wire_next(&p, raw, end, &f)) > 0) {
        uint64_t n = f.num;
        int r = 0;
        if (n == F_FIRST_EVENT_ID) {
            if (f.type != 0)
                return BAD(-HVT_E_BAD_RECORD, -1,
                           "payload offset %zu: field first_event_id: wire type %u", f.at, f.type);
            w->first_event_id = f.v;
        } else if (n == F_EV_INIT || n == F_PASS_END) {
            int k = n == F_PASS_END;
            r = walk_states(d, &f, k, w->st[k], (size_t)(f.p - raw), e);
        } else if (n == F_CALLSITES) {
            if (w->n_cs >= HVT_FMT_MAX_CALLSITES)
                return BAD(-HVT_E_LIMIT, -1, "more than %u call sites", HVT_FMT_MAX_CALLSITES);
            r = walk_callsite(d, &f, w->n_cs++, w, NULL, e);
        } else if (n > F_FIRST_EVENT_ID && n < F_CALLSITES) {
            r = take_col(d, &w->col[n], &f, "chunk", field_name[n], !is_bytes_field(n), e);
        } else if (n == F_PASS_RETIRE) {
            r = take_col(d, &w->retire, &f, "chunk", "pass_retire", 1, e);
        } else if (n >= F2_FIRST && n < F2__END && w->enc >= HVT_CHUNK_ENC_2) {
            r = take_col(d, &w->col2[n - F2_FIRST], &f, "chunk", field2_name[n - F2_FIRST],
                         n != F2_ACC_BYTES, e);
        } /* else: a field this reader does not know, skipped */
        if (r < 0)
            return r;
    }
    if (rc < 0)
        return BAD(-HVT_E_BAD_RECORD, -1,
                   "payload offset %zu: chunk message does not decode (protobuf wire form)",
                   (size_t)(p - raw));
    return 0;
}

/* ---- decode memory ---------------------------------------------------------------------- */

size_t hvt_chunk_records_mem(size_t n_events, size_t n_lost, size_t n_passes, size_t n_accesses)
{
    /* each state has a flag byte besides (its SIMD part may be nonzero) */
    return (n_events + n_lost + 1) * sizeof(struct hvt_record) +
           (n_events + 1) * (sizeof(struct hvt_event) + 1) +
           (n_lost + 1) * sizeof(struct hvt_lost) + (n_passes + 1) * (sizeof(struct hvt_pass) + 1) +
           (n_accesses + 1) * sizeof(struct hvt_access);
}

size_t hvt_chunk_enc2_mem(size_t n_shapes)
{
    return n_shapes * sizeof(struct hvt_dshape) + sizeof(struct hvt_pred);
}

/* The call-site tables a decode builds. */
static size_t callsite_tables(size_t n_cs, size_t n_frames, size_t string_bytes)
{
    return (n_cs + 1) * sizeof(struct hvt_callsite) + (n_frames + 1) * sizeof(struct hvt_frame) +
           string_bytes + 1;
}

size_t hvt_chunk_mem_bound(size_t raw, size_t n_events, size_t n_lost, size_t n_passes,
                           size_t n_accesses, size_t n_callsites)
{
    /* names cost at most their bytes in the payload plus a NUL each */
    /* each shape takes at least HVT_SHAPE_FIELDS payload bytes */
    return raw + callsite_tables(n_callsites, n_callsites * HVT_FMT_MAX_FRAMES, raw) +
           hvt_chunk_records_mem(n_events, n_lost, n_passes, n_accesses) +
           (raw / HVT_SHAPE_FIELDS + 1) * sizeof(struct hvt_dshape) + sizeof(struct hvt_pred);
}

static size_t max_count(const struct wire *w, int lo, int hi)
{
    size_t n = 0;
    for (int f = lo; f <= hi; f++)
        if (f != F_PASS_END && w->col[f].n > n)
            n = w->col[f].n;
    return n;
}

/* Grows one storage array to N elements (contents not kept), with a quarter to spare when
 * SLACK: chunks of one trace differ a little in size, and a fresh allocation costs a page fault
 * per page. */
static int fit(void **p, size_t *cap, size_t n, size_t elem, int slack)
{
    if (n <= *cap && *p)
        return 0;
    free(*p);
    size_t want = slack ? n + n / 4 : n;
    *p = malloc((want ? want : 1) * elem);
    *cap = *p ? want : 0;
    return *p ? 0 : -1;
}

/* fit() for the arrays of states, with a flag per element saying whether its SIMD part may be
 * nonzero (so that states without SIMD registers need not clear it again on reuse); fresh
 * elements are flagged (not zeroed: a one-shot decode would pay for it). */
static int fit_states(void **p, size_t *cap, uint8_t **dirty, size_t n, size_t elem, int slack)
{
    if (n <= *cap && *p && *dirty)
        return 0;
    free(*p);
    free(*dirty);
    size_t want = slack ? n + n / 4 : n;
    *p = malloc(want * elem);
    *dirty = malloc(want);
    *cap = *p && *dirty ? want : 0;
    if (*dirty)
        memset(*dirty, 1, want);
    return *cap ? 0 : -1;
}

/* Bytes the storage would hold with N more elements of ELEM in an array of CAP (grown with
 * slack when too small). */
static size_t held(size_t cap, size_t n, size_t elem)
{
    return (n <= cap ? cap : n + n / 4) * elem;
}

static void storage_release(struct hvt_dchunk *d)
{
    free(d->recs);
    free(d->evs);
    free(d->losts);
    free(d->passes);
    free(d->accs);
    free(d->cs);
    free(d->frames);
    free(d->strings);
    free(d->ev_dirty);
    free(d->pass_dirty);
    free(d->shapes);
    free(d->pred);
    d->shapes = NULL;
    d->pred = NULL;
    d->cap_shapes = 0;
    d->recs = NULL;
    d->evs = NULL;
    d->losts = NULL;
    d->passes = NULL;
    d->accs = NULL;
    d->cs = NULL;
    d->frames = NULL;
    d->strings = NULL;
    d->ev_dirty = d->pass_dirty = NULL;
    d->cap_recs = d->cap_evs = d->cap_losts = d->cap_passes = d->cap_accs = 0;
    d->cap_cs = d->cap_frames = d->cap_strings = 0;
}

/* Storage for the records of a chunk. What is kept from earlier chunks (each array at the
 * largest size it needed) plus this chunk's growth stays within MAX_MEM: beyond it, everything
 * is released and this chunk's need (at most MAX_MEM, checked before) allocated exactly. */
static int storage(struct hvt_dchunk *d, size_t n_ev, size_t n_lost, size_t n_pass, size_t n_acc,
                   size_t n_shapes, const struct wire *w, size_t max_mem)
{
    size_t total = held(d->cap_recs, n_ev + n_lost + 1, sizeof(*d->recs)) +
                   held(d->cap_evs, n_ev + 1, sizeof(*d->evs) + 1) +
                   held(d->cap_losts, n_lost + 1, sizeof(*d->losts)) +
                   held(d->cap_passes, n_pass + 1, sizeof(*d->passes) + 1) +
                   held(d->cap_accs, n_acc + 1, sizeof(*d->accs)) +
                   held(d->cap_cs, w->n_cs + 1, sizeof(*d->cs)) +
                   held(d->cap_frames, w->n_frames + 1, sizeof(*d->frames)) +
                   held(d->cap_strings, w->n_string_bytes + 1, 1) +
                   held(d->cap_shapes, n_shapes + 1, sizeof(*d->shapes)) +
                   (w->enc >= HVT_CHUNK_ENC_2 ? sizeof(struct hvt_pred) : 0);
    int slack = total <= max_mem;
    if (!slack)
        storage_release(d);
#define FIT(ptr, capf, n) fit((void **)&d->ptr, &d->capf, (n) + 1, sizeof(*d->ptr), slack)
    if (FIT(recs, cap_recs, n_ev + n_lost) ||
        fit_states((void **)&d->evs, &d->cap_evs, &d->ev_dirty, n_ev + 1, sizeof(*d->evs), slack) ||
        FIT(losts, cap_losts, n_lost) ||
        fit_states((void **)&d->passes, &d->cap_passes, &d->pass_dirty, n_pass + 1,
                   sizeof(*d->passes), slack) ||
        FIT(accs, cap_accs, n_acc) || FIT(cs, cap_cs, w->n_cs) ||
        FIT(frames, cap_frames, w->n_frames) || FIT(strings, cap_strings, w->n_string_bytes) ||
        FIT(shapes, cap_shapes, n_shapes))
        return -1;
    if (w->enc >= HVT_CHUNK_ENC_2 && !d->pred && !(d->pred = malloc(sizeof(struct hvt_pred))))
        return -1;
#undef FIT
    d->mem_alloc = d->cap_recs * sizeof(*d->recs) + d->cap_evs * (sizeof(*d->evs) + 1) +
                   d->cap_losts * sizeof(*d->losts) + d->cap_passes * (sizeof(*d->passes) + 1) +
                   d->cap_accs * sizeof(*d->accs) + d->cap_cs * sizeof(*d->cs) +
                   d->cap_frames * sizeof(*d->frames) + d->cap_strings +
                   d->cap_shapes * sizeof(*d->shapes) + (d->pred ? sizeof(struct hvt_pred) : 0);
    return 0;
}

/* ---- records ------------------------------------------------------------------------------ */

/* Unchecked varint read from a column whose last byte ends an element and whose element count
 * bounds the reads (checked by the caller): never leaves the column. A varint longer than 10
 * bytes sets *OVERLONG (the chunk is refused at the end). */
static uint64_t rd_slow(const uint8_t **pp, int *overlong)
{
    const uint8_t *p = *pp;
    uint64_t x = 0;
    unsigned i = 0;
    for (;; i++) {
        uint8_t b = p[i];
        if (i < 10)
            x |= (uint64_t)(b & 0x7f) << (7 * i);
        if (!(b & 0x80))
            break;
    }
    if (i >= 10)
        *overlong = 1;
    *pp = p + i + 1;
    return x;
}

/* A varint of 2..8 bytes from one 8-byte load, without a loop (the payload buffer has
 * HVT_DCHUNK_PAD bytes after its end, so the load never leaves it). */
static inline uint64_t rd_multi(const uint8_t **pp, int *overlong)
{
    const uint8_t *p = *pp;
    if (!(p[1] & 0x80)) { /* two bytes, the most frequent case after one */
        *pp = p + 2;
        return (uint64_t)(p[0] & 0x7f) | (uint64_t)p[1] << 7;
    }
    uint64_t w;
    memcpy(&w, p, 8);
    uint64_t stop = ~w & 0x8080808080808080ull;
    if (!stop)
        return rd_slow(pp, overlong);
    uint64_t x = w & (stop ^ (stop - 1)) & 0x7f7f7f7f7f7f7f7full;
    x = ((x & 0x7f007f007f007f00ull) >> 1) | (x & 0x007f007f007f007full);
    x = ((x & 0x3fff00003fff0000ull) >> 2) | (x & 0x00003fff00003fffull);
    x = ((x & 0x0fffffff00000000ull) >> 4) | (x & 0x000000000fffffffull);
    *pp = p + ((unsigned)__builtin_ctzll(stop) >> 3) + 1;
    return x;
}

#define RD(ptr) (*(ptr) < 0x80 ? (uint64_t) * (ptr)++ : rd_multi(&(ptr), &overlong))
#define RDS(ptr) hvt_unzigzag(RD(ptr))

static inline int64_t hvt_unzigzag(uint64_t v)
{
    return (int64_t)(v >> 1) ^ -(int64_t)(v & 1);
}

/* Masks that keep the first N of 32 bytes (data copies of a fixed size). */
static uint8_t keep_mask[HVT_DATA_MAX + 1][HVT_DATA_MAX];
static void init_masks(void)
{
    for (int n = 0; n <= HVT_DATA_MAX; n++)
        for (int i = 0; i < HVT_DATA_MAX; i++)
            keep_mask[n][i] = i < n ? 0xff : 0;
}

/* The state columns of one States message, being read. */
struct srd {
    const uint8_t *cnt, *gap, *val;
    size_t n_left; /* slot entries (gap, value) not yet read */
};

/* Where each slot (state.h) lives in struct hvt_vcpu_state, and how wide it is: the deltas
 * are applied to the struct directly. */
struct slot_at {
    uint16_t off;
    uint8_t bytes;
};
static struct slot_at slot_at[HVT_NSLOTS];
static void init_slots(void)
{
    typedef struct hvt_vcpu_state S;
    for (int i = 0; i < 16; i++)
        slot_at[HVT_SLOT_GPR + i] = (struct slot_at){(uint16_t)(offsetof(S, gpr) + 8 * i), 8};
    slot_at[HVT_SLOT_RIP] = (struct slot_at){offsetof(S, rip), 8};
    slot_at[HVT_SLOT_RFLAGS] = (struct slot_at){offsetof(S, rflags), 8};
    for (int i = 0; i < 8; i++) {
        uint16_t o = (uint16_t)(offsetof(S, seg) + sizeof(struct hvt_segment) * (size_t)i);
        struct slot_at *q = &slot_at[HVT_SLOT_SEG + 4 * i];
        q[0] = (struct slot_at){(uint16_t)(o + offsetof(struct hvt_segment, sel)), 2};
        q[1] = (struct slot_at){(uint16_t)(o + offsetof(struct hvt_segment, attr)), 4};
        q[2] = (struct slot_at){(uint16_t)(o + offsetof(struct hvt_segment, limit)), 4};
        q[3] = (struct slot_at){(uint16_t)(o + offsetof(struct hvt_segment, base)), 8};
    }
    slot_at[HVT_SLOT_GDTR_BASE] = (struct slot_at){offsetof(S, gdtr.base), 8};
    slot_at[HVT_SLOT_GDTR_LIMIT] = (struct slot_at){offsetof(S, gdtr.limit), 4};
    slot_at[HVT_SLOT_IDTR_BASE] = (struct slot_at){offsetof(S, idtr.base), 8};
    slot_at[HVT_SLOT_IDTR_LIMIT] = (struct slot_at){offsetof(S, idtr.limit), 4};
    static const uint16_t cr[] = {offsetof(S, cr0), offsetof(S, cr2), offsetof(S, cr3),
                                  offsetof(S, cr4), offsetof(S, cr8), offsetof(S, efer),
                                  offsetof(S, xcr0)};
    for (int i = 0; i < 7; i++)
        slot_at[HVT_SLOT_CR0 + i] = (struct slot_at){cr[i], 8};
    for (int i = 0; i < 4; i++)
        slot_at[HVT_SLOT_PDPTE + i] = (struct slot_at){(uint16_t)(offsetof(S, pdpte) + 8 * i), 8};
    slot_at[HVT_SLOT_FLAGS] = (struct slot_at){offsetof(S, flags), 4};
    slot_at[HVT_SLOT_MXCSR] = (struct slot_at){offsetof(S, mxcsr), 4};
    for (int i = 0; i < 64; i++)
        slot_at[HVT_SLOT_YMM + i] = (struct slot_at){(uint16_t)(offsetof(S, ymm) + 8 * i), 8};
}

/* *DST = *SRC, whose SIMD part is zero unless valid: that part is then not copied, and cleared
 * only when *DIRTY says DST's may not be zero. The copy goes to the C library's vector copy
 * (the compilers expand a copy of a known size, or of one of two, as a string instruction,
 * twice as slow here). */
static void state_copy(struct hvt_vcpu_state *dst, const struct hvt_vcpu_state *src, uint8_t *dirty)
{
    int simd = (src->flags & HVT_STATE_SIMD_VALID) != 0;
    size_t n = simd ? sizeof(*src) : offsetof(struct hvt_vcpu_state, ymm);
    __asm__("" : "+r"(n)); /* n unknown to the compiler: a library call, not rep movs */
    memcpy(dst, src, n);
    if (!simd && *dirty)
        memset(dst->ymm, 0, sizeof(dst->ymm));
    *dirty = (uint8_t)simd;
}

/* *DST = the zero state. */
static void state_zero(struct hvt_vcpu_state *dst, uint8_t *dirty)
{
    size_t n = *dirty ? sizeof(*dst) : offsetof(struct hvt_vcpu_state, ymm);
    __asm__("" : "+r"(n));
    memset(dst, 0, n);
    *dirty = 0;
}

/* Applies the next state delta of S to OUT, a copy of the base SRC (a state whose SIMD part is
 * zero unless valid). Each changed field is read from SRC, not from OUT: OUT was just written
 * by a vector copy, and reading a part of a wide store back can stall. A narrow field must
 * still fit after its delta (mod 2^64). Returns the number of slots changed, or an error. */
static int apply_state(const struct hvt_dchunk *d, struct srd *s, struct hvt_vcpu_state *out,
                       const struct hvt_vcpu_state *src, uint64_t rip_adj, size_t rec,
                       const char *what, int *overlong_out, struct hvt_fmt_error_info *e)
{
    out->rip = src->rip + rip_adj; /* the base's RIP (encoding 2: past the instruction) */
    int overlong = 0;
    uint64_t n = RD(s->cnt);
    if (n == 0)
        return 0;
    if (n > HVT_NSLOTS)
        return BAD(-HVT_E_LIMIT, rec, "%s: changes %" PRIu64 " slots (max %d)", what, n,
                   HVT_NSLOTS);
    if (n > s->n_left)
        return BAD(-HVT_E_BAD_RECORD, rec, "%s: column slot_gap/value ends early", what);
    s->n_left -= n;
    int was_simd = (src->flags & HVT_STATE_SIMD_VALID) != 0, simd = 0;
    uint8_t *base = (uint8_t *)out;
    const uint8_t *from = (const uint8_t *)src;
    int64_t slot = -1;
    for (uint64_t k = 0; k < n; k++) {
        uint32_t gap = (uint32_t)RD(s->gap);
        uint64_t v = (uint64_t)hvt_unzigzag(RD(s->val));
        slot += gap;
        if (gap == 0 || slot >= HVT_NSLOTS)
            return BAD(-HVT_E_BAD_RECORD, rec, "%s: slot gap %u leads to slot %" PRId64, what, gap,
                       slot);
        struct slot_at at = slot_at[slot];
        uint8_t *f = base + at.off;
        if (at.bytes == 8) {
            uint64_t x;
            memcpy(&x, from + at.off, 8);
            x += v + (slot == HVT_SLOT_RIP ? rip_adj : 0);
            memcpy(f, &x, 8);
        } else {
            uint64_t x = 0;
            memcpy(&x, from + at.off, at.bytes);
            x += v;
            /* MXCSR comes after the flags: without valid SIMD registers it is dropped */
            if ((x >> (8 * at.bytes)) &&
                (slot != HVT_SLOT_MXCSR || (out->flags & HVT_STATE_SIMD_VALID)))
                return BAD(-HVT_E_BAD_RECORD, rec, "%s: value 0x%" PRIx64 " does not fit slot %d",
                           what, x, (int)slot);
            memcpy(f, &x, at.bytes);
        }
        simd |= slot >= HVT_SLOT_SIMD;
    }
    /* without valid SIMD registers the SIMD part is zero, whatever the deltas said */
    if (!(out->flags & HVT_STATE_SIMD_VALID) && (was_simd || simd)) {
        out->mxcsr = 0;
        memset(out->ymm, 0, sizeof(out->ymm));
    }
    *overlong_out |= overlong;
    return (int)n;
}

static int cmp_cs(const void *a, const void *b)
{
    const struct hvt_callsite *x = a, *y = b;
    return x->id < y->id ? -1 : x->id > y->id;
}

/* The first access a column-wise check found wrong: reported when the record pass reaches it,
 * so that an earlier record's error still comes first. */
struct acc_bad {
    size_t at; /* SIZE_MAX: none */
    int field;
    uint64_t v;
};

static inline void note_bad(struct acc_bad *b, size_t i, int field, uint64_t v)
{
    if (i < b->at) {
        b->at = i;
        b->field = field;
        b->v = v;
    }
}

/* One scalar access column into MEMBER of the accesses [I0, I1): when the column is as many
 * bytes as values (every value below 128: the usual case for the small fields), a plain
 * widening loop without a branch; else varint by varint. BADV(v) says a value is out of range. */
#define ACC_COL(F, MEMBER, TYPE, BADV)                                                             \
    do {                                                                                           \
        const uint8_t *p = cp[F];                                                                  \
        if (fast[F]) {                                                                             \
            unsigned bad_ = 0;                                                                     \
            for (size_t i = i0; i < i1; i++) {                                                     \
                uint32_t v = p[i - i0];                                                            \
                a[i].MEMBER = (TYPE)v;                                                             \
                bad_ |= (unsigned)(BADV);                                                          \
            }                                                                                      \
            for (size_t i = i0; bad_ && i < i1; i++) {                                             \
                uint32_t v = p[i - i0];                                                            \
                if (BADV) {                                                                        \
                    note_bad(bad, i, F, v);                                                        \
                    break;                                                                         \
                }                                                                                  \
            }                                                                                      \
            p += i1 - i0;                                                                          \
        } else {                                                                                   \
            for (size_t i = i0; i < i1; i++) {                                                     \
                uint32_t v = (uint32_t)RD(p);                                                      \
                a[i].MEMBER = (TYPE)v;                                                             \
                if (BADV)                                                                          \
                    note_bad(bad, i, F, v);                                                        \
            }                                                                                      \
        }                                                                                          \
        cp[F] = p;                                                                                 \
    } while (0)

/* Accesses decoded column by column in blocks that stay in the first-level cache. */
#define ACC_BLOCK 64

/* The largest of the M bytes at P, SKIP (when nonzero) counting as 0. */
static inline unsigned col_max(const uint8_t *p, size_t m, uint8_t skip)
{
    unsigned mx = 0;
    size_t i = 0;
#ifdef __SSE2__
    __m128i vm = _mm_setzero_si128(), vs = _mm_set1_epi8((char)skip);
    for (; i + 16 <= m; i += 16) {
        __m128i x = _mm_loadu_si128((const __m128i *)(const void *)(p + i));
        if (skip)
            x = _mm_andnot_si128(_mm_cmpeq_epi8(x, vs), x);
        vm = _mm_max_epu8(vm, x);
    }
    uint8_t lanes[16];
    _mm_storeu_si128((__m128i *)(void *)lanes, vm);
    for (int l = 0; l < 16; l++)
        mx = lanes[l] > mx ? lanes[l] : mx;
#endif
    for (; i < m; i++) {
        unsigned v = p[i] == skip && skip ? 0 : p[i];
        mx = v > mx ? v : mx;
    }
    return mx;
}

/* The smallest of the M bytes at P (255 when M is 0). */
static inline unsigned col_min(const uint8_t *p, size_t m)
{
    unsigned mn = 255;
    size_t i = 0;
#ifdef __SSE2__
    __m128i vm = _mm_set1_epi8((char)0xff);
    for (; i + 16 <= m; i += 16)
        vm = _mm_min_epu8(vm, _mm_loadu_si128((const __m128i *)(const void *)(p + i)));
    uint8_t lanes[16];
    _mm_storeu_si128((__m128i *)(void *)lanes, vm);
    for (int l = 0; l < 16; l++)
        mn = lanes[l] < mn ? lanes[l] : mn;
#endif
    for (; i < m; i++)
        mn = p[i] < mn ? p[i] : mn;
    return mn;
}

/* The scalar fields of accesses [I0, I1) when every one of their columns is one byte per value:
 * range checks over the bytes (loops the compiler vectorises), then each access's fields in a
 * few word stores. Returns 0 (nothing stored) when a value is out of range: the caller's
 * column loops then find and note it. */
static int fast_block(struct hvt_access *a, size_t i0, size_t i1, const uint8_t **cp,
                      struct acc_bad *bad)
{
    (void)bad;
    size_t m = i1 - i0;
    const uint8_t *k = cp[F_ACC_KIND], *sp = cp[F_ACC_SPACE], *sg = cp[F_ACC_SEG],
                  *oc = cp[F_ACC_OUTCOME], *cl = cp[F_ACC_TAG_CLASS], *op = cp[F_ACC_TAG_OPERAND],
                  *lv = cp[F_ACC_TAG_LEVEL], *el = cp[F_ACC_TAG_ELEMENT], *sz = cp[F_ACC_SIZE],
                  *fl = cp[F_ACC_FLAGS], *cs = cp[F_ACC_CALLSITE];
    if (col_max(k, m, 0) >= HVT_ACC__COUNT || col_max(sp, m, 0) >= HVT_SPACE__COUNT ||
        col_max(sg, m, HVT_SEG_NONE) > HVT_SEG_IDTR || col_max(oc, m, 0) >= HVT_OP__COUNT ||
        col_max(cl, m, 0) >= HVT_TAG__COUNT || col_max(lv, m, 0) > HVT_WALK_PAE_PDPTE ||
        col_max(sz, m, 0) > HVT_DATA_MAX || col_min(sz, m) < 1)
        return 0;
    _Static_assert(
        offsetof(struct hvt_access, tag) == 4 && offsetof(struct hvt_access, tag.element) == 8 &&
            offsetof(struct hvt_access, size) == 12 && offsetof(struct hvt_access, flags) == 16 &&
            offsetof(struct hvt_access, reserved) == offsetof(struct hvt_access, callsite) + 4,
        "access layout");
    size_t i = 0;
#ifdef __SSE2__
    /* 16 accesses at a time: the seven byte columns interleaved into each access's first
     * 8 bytes (kind, space, seg, outcome, class, operand, level, 0), and element and size
     * widened into the next 8 */
    const __m128i z = _mm_setzero_si128();
    for (; i + 16 <= m; i += 16) {
#define LD(q) _mm_loadu_si128((const __m128i *)(const void *)((q) + i))
        __m128i K = LD(k), SP = LD(sp), SG = LD(sg), OC = LD(oc), CL = LD(cl), OP = LD(op),
                LV = LD(lv), EL = LD(el), SZ = LD(sz);
#undef LD
        __m128i b01[2] = {_mm_unpacklo_epi8(K, SP), _mm_unpackhi_epi8(K, SP)};
        __m128i b23[2] = {_mm_unpacklo_epi8(SG, OC), _mm_unpackhi_epi8(SG, OC)};
        __m128i b45[2] = {_mm_unpacklo_epi8(CL, OP), _mm_unpackhi_epi8(CL, OP)};
        __m128i b67[2] = {_mm_unpacklo_epi8(LV, z), _mm_unpackhi_epi8(LV, z)};
        __m128i e16[2] = {_mm_unpacklo_epi8(EL, z), _mm_unpackhi_epi8(EL, z)};
        __m128i s16[2] = {_mm_unpacklo_epi8(SZ, z), _mm_unpackhi_epi8(SZ, z)};
        for (int h = 0; h < 2; h++) {
            __m128i lo4[2] = {_mm_unpacklo_epi16(b01[h], b23[h]),
                              _mm_unpackhi_epi16(b01[h], b23[h])};
            __m128i hi4[2] = {_mm_unpacklo_epi16(b45[h], b67[h]),
                              _mm_unpackhi_epi16(b45[h], b67[h])};
            __m128i e32[2] = {_mm_unpacklo_epi16(e16[h], z), _mm_unpackhi_epi16(e16[h], z)};
            __m128i s32[2] = {_mm_unpacklo_epi16(s16[h], z), _mm_unpackhi_epi16(s16[h], z)};
            for (int q = 0; q < 2; q++) {
                __m128i w0[2] = {_mm_unpacklo_epi32(lo4[q], hi4[q]),
                                 _mm_unpackhi_epi32(lo4[q], hi4[q])};
                __m128i w1[2] = {_mm_unpacklo_epi32(e32[q], s32[q]),
                                 _mm_unpackhi_epi32(e32[q], s32[q])};
                for (int r = 0; r < 2; r++) {
                    size_t j = i + (size_t)(8 * h + 4 * q + 2 * r);
                    struct hvt_access *x = &a[i0 + j];
                    _mm_storel_epi64((__m128i *)(void *)&x[0].kind, w0[r]);
                    _mm_storel_epi64((__m128i *)(void *)&x[0].tag.element, w1[r]);
                    _mm_storel_epi64((__m128i *)(void *)&x[1].kind,
                                     _mm_unpackhi_epi64(w0[r], w0[r]));
                    _mm_storel_epi64((__m128i *)(void *)&x[1].tag.element,
                                     _mm_unpackhi_epi64(w1[r], w1[r]));
                }
            }
        }
        for (size_t j = i; j < i + 16; j++) {
            struct hvt_access *x = &a[i0 + j];
            uint64_t w3 = cs[j]; /* callsite, reserved */
            x->flags = fl[j];
            memcpy(&x->callsite, &w3, 8);
        }
    }
#endif
    for (; i < m; i++) {
        struct hvt_access *x = &a[i0 + i];
        uint64_t w0 = (uint64_t)k[i] | (uint64_t)sp[i] << 8 | (uint64_t)sg[i] << 16 |
                      (uint64_t)oc[i] << 24 | (uint64_t)cl[i] << 32 | (uint64_t)op[i] << 40 |
                      (uint64_t)lv[i] << 48;
        uint64_t w1 = (uint64_t)el[i] | (uint64_t)sz[i] << 32;
        uint64_t w3 = cs[i]; /* callsite, reserved */
        memcpy(&x->kind, &w0, 8);
        memcpy(&x->tag.element, &w1, 8);
        x->flags = fl[i];
        memcpy(&x->callsite, &w3, 8);
    }
    for (int f = F_ACC_KIND; f <= F_ACC_CALLSITE; f++)
        if (f != F_ACC_LINEAR_DELTA && f != F_ACC_PHYS_DELTA)
            cp[f] += m;
    return 1;
}

/* Every access of the chunk, column by column: scalar fields, address contexts, data. Values
 * out of range are noted in *BAD (the records stay memory-safe to build). Returns the
 * overlong-varint flag. */
static int decode_accesses(struct hvt_access *a, size_t n, const struct wire *w,
                           struct acc_bad *bad)
{
    static const uint8_t empty[1];
    int overlong = 0;
    const uint8_t *cp[F__COUNT];
    uint8_t fast[F__COUNT];
    for (int f = F_ACC_KIND; f <= F_ACC_CALLSITE; f++) {
        cp[f] = w->col[f].p ? w->col[f].p : empty;
        fast[f] = w->col[f].len == n;
    }
    uint64_t lin_ctx[HVT_NCTX] = {0}, phys_ctx[HVT_NCTX] = {0};
    const uint8_t *data = w->col[F_ACC_DATA].p, *cx = w->col[F_ACC_CMPXCHG].p;
    size_t data_len = w->col[F_ACC_DATA].len, cx_len = w->col[F_ACC_CMPXCHG].len;
    size_t off = 0, cx_off = 0;
    int all_fast = 1;
    for (int f = F_ACC_KIND; f <= F_ACC_CALLSITE; f++)
        if (f != F_ACC_LINEAR_DELTA && f != F_ACC_PHYS_DELTA)
            all_fast &= fast[f];
    for (size_t i0 = 0; i0 < n && bad->at == SIZE_MAX; i0 += ACC_BLOCK) {
        size_t i1 = n - i0 < ACC_BLOCK ? n : i0 + ACC_BLOCK;
        if (all_fast && fast_block(a, i0, i1, cp, bad))
            goto addresses;
        ACC_COL(F_ACC_KIND, kind, uint8_t, v >= HVT_ACC__COUNT);
        ACC_COL(F_ACC_SPACE, space, uint8_t, v >= HVT_SPACE__COUNT);
        ACC_COL(F_ACC_SEG, seg, uint8_t, (v > HVT_SEG_IDTR) & (v != HVT_SEG_NONE));
        ACC_COL(F_ACC_OUTCOME, outcome, uint8_t, v >= HVT_OP__COUNT);
        ACC_COL(F_ACC_TAG_CLASS, tag.cls, uint8_t, v >= HVT_TAG__COUNT);
        ACC_COL(F_ACC_TAG_OPERAND, tag.operand, uint8_t, v > 255);
        ACC_COL(F_ACC_TAG_LEVEL, tag.level, uint8_t, v > HVT_WALK_PAE_PDPTE);
        ACC_COL(F_ACC_TAG_ELEMENT, tag.element, uint32_t, 0);
        ACC_COL(F_ACC_SIZE, size, uint32_t, v - 1u >= HVT_DATA_MAX);
        ACC_COL(F_ACC_FLAGS, flags, uint32_t, 0);
        ACC_COL(F_ACC_CALLSITE, callsite, uint32_t, 0);

    addresses:;
        /* addresses: deltas against the previous access of the same tag class and level */
        const uint8_t *pl = cp[F_ACC_LINEAR_DELTA], *pp = cp[F_ACC_PHYS_DELTA];
        for (size_t i = i0; i < i1; i++) {
            /* out-of-range class or level (noted above) still index inside the tables */
            unsigned cls = a[i].tag.cls < HVT_TAG__COUNT ? a[i].tag.cls : 0;
            unsigned ctx = cls * 8 + (a[i].tag.level & 7u);
            a[i].linear = lin_ctx[ctx] += (uint64_t)hvt_unzigzag(RD(pl));
            a[i].phys = phys_ctx[ctx] += (uint64_t)hvt_unzigzag(RD(pp));
            a[i].tag.reserved = 0;
            a[i].reserved = 0;
        }
        cp[F_ACC_LINEAR_DELTA] = pl;
        cp[F_ACC_PHYS_DELTA] = pp;

        /* data, and the cmpxchg operands */
        for (size_t i = i0; i < i1; i++) {
            uint32_t size = a[i].size - 1u < HVT_DATA_MAX ? a[i].size : 1;
            memset(a[i].old, 0, sizeof(a[i].old) + sizeof(a[i].cur));
            if (data_len - off >= HVT_DATA_MAX) {
                /* a fixed-size copy, the bytes past SIZE masked to zero */
                uint64_t x[4], m[4];
                memcpy(x, data + off, sizeof(x));
                memcpy(m, keep_mask[size], sizeof(m));
                for (int b = 0; b < 4; b++)
                    x[b] &= m[b];
                memcpy(a[i].data, x, sizeof(x));
            } else {
                memset(a[i].data, 0, sizeof(a[i].data));
                if (data_len - off < size) {
                    note_bad(bad, i, F_ACC_DATA, 0);
                    break;
                }
                memcpy(a[i].data, data + off, size);
            }
            off += size;
            if (a[i].kind == HVT_ACC_CMPXCHG) {
                if (cx_len - cx_off < 2 * (size_t)size) {
                    note_bad(bad, i, F_ACC_CMPXCHG, 0);
                    break;
                }
                memcpy(a[i].old, cx + cx_off, size);
                memcpy(a[i].cur, cx + cx_off + size, size);
                cx_off += 2 * (size_t)size;
            }
        }
    }
    /* every byte consumed (checked only when every access was good: else that error wins) */
    if (bad->at == SIZE_MAX && (off != data_len || cx_off != cx_len))
        note_bad(bad, n, off != data_len ? F_ACC_DATA : F_ACC_CMPXCHG, 0);
    return overlong;
}

/* ---- encoding 2: access shapes and predictions ------------------------------------------- */

/* ---- encoding 2: the decoder's form of the predictions ------------------------------------ */

/* The decoder runs the rules of format/predict.h (the reference, which the encoder runs) in a
 * form made for decoding: which rule applies to an access depends only on its shape, so each
 * shape gets a plan (below) and the per-access loop takes the plan's rule directly. The last
 * access of each context and of each line is kept as a pointer to its decoded record (whose
 * fields are what predict.h copies into its tables: addresses, size, element, data zero past
 * its size) rather than as a copy. format_test_enc2 decodes every trace it makes both ways and
 * requires identical records and identical errors. */

/* The linear address when the access has no reference (hvt_pred_linear). */
enum {
    PL_WALK,  /* walk, A/D: the previous access's when it is a walk or A/D, else the context's */
    PL_FETCH, /* fetch: the end of the pass's last fetch (at first the instruction's) */
    PL_NEXT,  /* other, linear valid: after a walk its linear, else the context's + size */
    PL_SAME,  /* other: after a walk its linear, else the context's */
};
/* The physical address when the reference's does not apply (hvt_pred_phys). */
enum {
    PP_TABLE, /* walk of level 1..5, entries of 4 or 8 bytes: indexed in the table above */
    PP_CTX,   /* another walk, or no valid linear address: the context's */
    PP_AD,    /* A/D: the entry the pass walked at its level */
    PP_LINEAR /* linear valid: the last leaf translation, else as the context's page */
};
/* The data when the shape does not carry it (hvt_pred_data). */
enum {
    PD_ZERO,  /* outcome not okay */
    PD_FETCH, /* fetch with a valid linear address: the instruction, the reference, the line */
    PD_READ,  /* read, or fetch without it: the reference, the line */
    PD_COPY,  /* write, port output: a copy of the read just made, the line */
    PD_LINE   /* the line */
};
/* What the access changes in the pass state besides its context (hvt_pred_update). */
#define PU_FETCH 1u /* class fetch: the end of the last fetch */
#define PU_WALK 2u  /* class walk: the entry walked at its level */
#define PU_LEAF 4u  /* ... and it may be a leaf (okay, level 1..3, 4- or 8-byte entries) */
#define PU_OKAY 8u  /* okay: its line takes it */

static void plan_shape(struct hvt_dshape *sh, const struct hvt_access *a)
{
    unsigned cls = a->tag.cls, lvl = a->tag.level, s = a->size;
    int lv = (a->flags & HVT_AF_LINEAR_VALID) != 0, okay = a->outcome == HVT_OP_OKAY;
    int walk = cls == HVT_TAG_WALK, ad = cls == HVT_TAG_AD;
    sh->lin = walk || ad ? PL_WALK : cls == HVT_TAG_FETCH ? PL_FETCH : lv ? PL_NEXT : PL_SAME;
    sh->shift = 0;
    if (walk && lvl >= 1 && lvl <= 5 && (s == 8 || s == 4)) {
        sh->phys = PP_TABLE;
        sh->shift = (uint8_t)(12 + (s == 8 ? 9 : 10) * (lvl - 1));
    } else if (walk) {
        sh->phys = PP_CTX;
    } else if (ad) {
        sh->phys = PP_AD;
    } else {
        sh->phys = lv ? PP_LINEAR : PP_CTX;
    }
    if (!okay)
        sh->data = PD_ZERO;
    else if (a->kind == HVT_ACC_FETCH && lv)
        sh->data = PD_FETCH;
    else if (a->kind == HVT_ACC_READ || a->kind == HVT_ACC_FETCH)
        sh->data = PD_READ;
    else if (a->kind == HVT_ACC_WRITE || a->kind == HVT_ACC_IO_OUT)
        sh->data = PD_COPY;
    else
        sh->data = PD_LINE;
    unsigned u = okay ? PU_OKAY : 0;
    if (cls == HVT_TAG_FETCH)
        u |= PU_FETCH;
    else if (walk)
        u |= PU_WALK | (okay && (s == 8 || s == 4) && lvl >= 1 && lvl <= 3 ? PU_LEAF : 0);
    sh->upd = (uint8_t)u;
}

/* The decoder's predictor state, reset at each chunk: the last access of each context of each
 * vCPU slot and of each line (a record of the chunk, or none_acc). */
struct dpred {
    const struct hvt_access *ctx[HVT_PRED_VSLOTS][HVT_PRED_NCTX];
    const struct hvt_access *line[HVT_PRED_LINES];
};
_Static_assert(sizeof(struct dpred) <= sizeof(struct hvt_pred), "the predictor's storage");

/* No access: all zero (a context's start), and size 0, which no line lookup matches; its kind
 * and class match no rule that looks at the previous access. */
static const struct hvt_access none_acc = {.kind = 0xff, .tag = {.cls = 0xff}};
static const struct hvt_access zero_acc;

static void dpred_reset(struct dpred *p)
{
    for (unsigned v = 0; v < HVT_PRED_VSLOTS; v++)
        for (unsigned c = 0; c < HVT_PRED_NCTX; c++)
            p->ctx[v][c] = &zero_acc;
    for (unsigned l = 0; l < HVT_PRED_LINES; l++)
        p->line[l] = &none_acc;
}

/* The shape table: HVT_SHAPE_FIELDS varints per shape, each field checked once here. */
static int decode_shapes(struct hvt_dchunk *d, const struct wire *w, size_t n_shapes,
                         struct hvt_fmt_error_info *e)
{
    int overlong = 0;
    const uint8_t *p = w->col2[F2_ACC_SHAPES - F2_FIRST].p;
    for (size_t i = 0; i < n_shapes; i++) {
        uint64_t v[HVT_SHAPE_FIELDS];
        for (int k = 0; k < HVT_SHAPE_FIELDS; k++)
            v[k] = RD(p);
        if (overlong)
            return BAD(-HVT_E_BAD_RECORD, -1, "shape %zu: a varint longer than 10 bytes", i);
        if (v[0] >= HVT_ACC__COUNT || v[1] >= HVT_SPACE__COUNT ||
            (v[2] > HVT_SEG_IDTR && v[2] != HVT_SEG_NONE) || v[3] >= HVT_OP__COUNT ||
            v[4] >= HVT_TAG__COUNT || v[5] > 255 || v[6] > HVT_WALK_PAE_PDPTE || v[7] < 1 ||
            v[7] > HVT_DATA_MAX || v[8] > UINT32_MAX || v[9] > UINT32_MAX || v[10] > HVT_SHAPE_BITS)
            return BAD(-HVT_E_BAD_RECORD, -1,
                       "shape %zu: field out of range (kind %" PRIu64 " space %" PRIu64
                       " seg %" PRIu64 " outcome %" PRIu64 " class %" PRIu64 " operand %" PRIu64
                       " level %" PRIu64 " size %" PRIu64 " flags %" PRIu64 " call site %" PRIu64
                       " bits %" PRIu64 ")",
                       i, v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7], v[8], v[9], v[10]);
        struct hvt_access a;
        memset(&a, 0, sizeof(a));
        a.kind = (uint8_t)v[0];
        a.space = (uint8_t)v[1];
        a.seg = (uint8_t)v[2];
        a.outcome = (uint8_t)v[3];
        a.tag.cls = (uint8_t)v[4];
        a.tag.operand = (uint8_t)v[5];
        a.tag.level = (uint8_t)v[6];
        a.size = (uint32_t)v[7];
        a.flags = (uint32_t)v[8];
        struct hvt_dshape *sh = &d->shapes[i];
        memcpy(sh->hdr, &a, sizeof(sh->hdr));
        sh->flags = a.flags;
        sh->callsite = (uint32_t)v[9];
        sh->bits = (uint16_t)v[10];
        sh->ctx = (uint8_t)hvt_pred_ctx_of(&a);
        plan_shape(sh, &a);
    }
    return 0;
}

/* The encoding 2 access columns being read, with the values each has left. */
struct rd2 {
    const uint8_t *shape, *el, *lin, *phys, *bytes, *cx;
    size_t n_el, n_lin, n_phys, bytes_left, cx_left;
    size_t n_shapes;
};

/* The next value of a residual column with *LEFT values left: 0, or -1 when it has none. */
static inline int residual(const uint8_t **col, size_t *left, uint64_t *v, int *overlong_out)
{
    int overlong = 0;
    if (!*left)
        return -1;
    --*left;
    const uint8_t *p = *col;
    *v = (uint64_t)RDS(p);
    *col = p;
    *overlong_out |= overlong;
    return 0;
}

/* A cmpxchg access's operands (SIZE bytes of old, then of cur) from column acc_cmpxchg into X:
 * 0, or -1 when the column has not that many left. */
static inline int take_cmpxchg(struct rd2 *r, struct hvt_access *x, unsigned size)
{
    if (r->cx_left < 2 * (size_t)size)
        return -1;
    memcpy(x->old, r->cx, size);
    memcpy(x->cur, r->cx + size, size);
    r->cx += 2 * (size_t)size;
    r->cx_left -= 2 * (size_t)size;
    return 0;
}

/* *V plus the next value of a residual column when the shape says it has one (TAKE): 0, or -1
 * when the column has none left. */
static inline int add_residual(unsigned take, const uint8_t **col, size_t *left, uint64_t *v,
                               int *overlong)
{
    uint64_t res;
    if (!take)
        return 0;
    if (residual(col, left, &res, overlong))
        return -1;
    *v += res;
    return 0;
}

/* An 8- or 4-byte paging entry at P (HVT_DATA_MAX readable bytes) and its frame. */
static inline uint64_t entry_frame(const uint8_t *p, unsigned size)
{
    return hvt_pred_frame(hvt_pred_entry(p, size), size);
}

/* The 32 data bytes at P (HVT_DATA_MAX readable) with those from SIZE on cleared, to DST. */
static inline void data_masked(uint8_t *dst, const uint8_t *p, unsigned size)
{
#ifdef __SSE2__
    const __m128i *m = (const __m128i *)(const void *)keep_mask[size];
    __m128i v0 = _mm_loadu_si128((const __m128i *)(const void *)p),
            v1 = _mm_loadu_si128((const __m128i *)(const void *)(p + 16));
    _mm_storeu_si128((__m128i *)(void *)dst, _mm_and_si128(v0, _mm_loadu_si128(m)));
    _mm_storeu_si128((__m128i *)(void *)(dst + 16), _mm_and_si128(v1, _mm_loadu_si128(m + 1)));
#else
    uint64_t v[4], m[4];
    memcpy(v, p, sizeof(v));
    memcpy(m, keep_mask[size], sizeof(m));
    for (int b = 0; b < 4; b++)
        v[b] &= m[b];
    memcpy(dst, v, sizeof(v));
#endif
}

/* SIZE bytes of column acc_bytes to DST, zero after them: 0, or -1 when the column has not
 * that many left. */
static inline int take_bytes(struct rd2 *r, uint8_t *dst, unsigned size)
{
    if (r->bytes_left < size)
        return -1;
    if (r->bytes_left >= HVT_DATA_MAX) {
        data_masked(dst, r->bytes, size); /* a fixed-size copy, the bytes past SIZE cleared */
    } else {
        memset(dst, 0, HVT_DATA_MAX);
        memcpy(dst, r->bytes, size);
    }
    r->bytes += size;
    r->bytes_left -= size;
    return 0;
}

/* The NA accesses at A of one pass of EV (vCPU slot VSLOT): each from its shape's plan, the
 * predictions and the values the shape says are written out. IA: the chunk index of the first.
 * The same results and errors as decode_pass2_ref, which runs format/predict.h. */
static int decode_pass2(const struct hvt_dchunk *d, struct rd2 *rp, struct hvt_access *a, size_t na,
                        const struct hvt_event *ev, uint32_t pass, int vslot, size_t rec, size_t ia,
                        struct hvt_fmt_error_info *e)
{
    struct rd2 *r = rp;
    int overlong = 0;
    struct dpred *dp = d->pred;
    const struct hvt_access **ctxv = dp->ctx[vslot < 0 ? 0 : (unsigned)vslot % HVT_PRED_VSLOTS];
    const struct hvt_access **lines = dp->line;
    const struct hvt_access *prev = &none_acc;
    const struct hvt_access *refs = pass ? ev->passes[pass - 1].accesses : NULL;
    size_t ref_n = pass ? ev->passes[pass - 1].n_accesses : 0;
    /* a context was used in this pass when its last access is one of the pass's (they are
     * A[0..NA): the earlier passes' records lie before A, none_acc and zero_acc elsewhere) */
    const uintptr_t pass_at = (uintptr_t)a, pass_bytes = na * sizeof(*a);
    /* the instruction bytes, zero after insn_len: HVT_DATA_MAX bytes readable at any offset
     * below it */
    unsigned insn_len = ev->insn_len <= HVT_INSN_MAX ? ev->insn_len : HVT_INSN_MAX;
    uint64_t insn[(HVT_INSN_MAX + 1 + HVT_DATA_MAX) / 8] = {0}, km[2];
    memcpy(insn, ev->insn, HVT_INSN_MAX);
    memcpy(km, keep_mask[insn_len], sizeof(km));
    insn[0] &= km[0];
    insn[1] &= km[1];
    const uint64_t rip_lin = ev->init.seg[HVT_SEG_CS].base + ev->init.rip, cr3 = ev->init.cr3;
    uint64_t fetch_next = rip_lin;
    int have_tr = 0;
    uint64_t tr_lin = 0, tr_phys = 0, tr_mask = 0;
    uint64_t walk_phys[8] = {0};
    const struct hvt_dshape *shapes = d->shapes;
    const size_t n_shapes = r->n_shapes;
    /* the shape column's cursor in a local: the record stores below are byte stores, which the
     * compiler must otherwise assume may change it */
    const uint8_t *sp = r->shape;
    /* in blocks: first each access's shape and the fields it fixes, then the predictions (the
     * second loop has fewer values to keep at hand) */
    const struct hvt_dshape *shp[ACC_BLOCK];
    for (size_t i0 = 0; i0 < na; i0 += ACC_BLOCK) {
        size_t i1 = na - i0 < ACC_BLOCK ? na : i0 + ACC_BLOCK, stop = i1;
        uint64_t bad_id = 0;
        for (size_t i = i0; i < i1; i++) {
            uint64_t id = RD(sp);
            if (id >= n_shapes) {
                stop = i; /* reported after the accesses before it */
                bad_id = id;
                break;
            }
            const struct hvt_dshape *sh = &shapes[id];
            struct hvt_access *x = &a[i];
            shp[i - i0] = sh;
            memcpy(x, sh->hdr, sizeof(sh->hdr));
            uint64_t w = sh->flags; /* flags, the padding after them */
            memcpy(&x->flags, &w, 8);
            w = sh->callsite; /* call site, reserved */
            memcpy(&x->callsite, &w, 8);
            memset(x->old, 0, sizeof(x->old) + sizeof(x->cur));
        }
        for (size_t i = i0; i < stop; i++) {
            struct hvt_access *x = &a[i];
            const struct hvt_dshape *sh = shp[i - i0];
            const uint64_t id = (uint64_t)(sh - shapes);
            uint32_t size;
            memcpy(&size, sh->hdr + offsetof(struct hvt_access, size), 4);
            const unsigned bits = sh->bits, ci = sh->ctx;
            const struct hvt_access *c = ctxv[ci];

            /* the reference: the previous pass's access here, when of the same kind */
            const struct hvt_access *ref = NULL;
            if (i < ref_n) {
                uint64_t p0, q0;
                memcpy(&p0, &refs[i], 8); /* compared: kind, space, class, operand, level */
                memcpy(&q0, sh->hdr, 8);
                if (!((p0 ^ q0) & 0x00ffffff0000ffffull) && refs[i].size == size)
                    ref = &refs[i];
            }
            uint32_t el;
            uint64_t lin;
            if (ref) {
                el = ref->tag.element;
                lin = ref->linear;
            } else {
                el = (uintptr_t)c - pass_at < pass_bytes ? c->tag.element + 1 : 0;
                switch (sh->lin) {
                case PL_WALK:
                    lin = prev->tag.cls == HVT_TAG_WALK || prev->tag.cls == HVT_TAG_AD
                              ? prev->linear
                              : c->linear;
                    break;
                case PL_FETCH:
                    lin = fetch_next;
                    break;
                case PL_NEXT:
                    lin = prev->tag.cls == HVT_TAG_WALK ? prev->linear : c->linear + c->size;
                    break;
                default:
                    lin = prev->tag.cls == HVT_TAG_WALK ? prev->linear : c->linear;
                    break;
                }
            }
            uint64_t el64 = el; /* elements are 32-bit: the sum wraps mod 2^32 */
            if (add_residual(bits & HVT_SHAPE_ELEMENT, &r->el, &r->n_el, &el64, &overlong))
                return BAD(-HVT_E_BAD_RECORD, rec, "access %zu: column acc_element ends early",
                           ia + i);
            x->tag.element = (uint32_t)el64;
            if (add_residual(bits & HVT_SHAPE_LINEAR, &r->lin, &r->n_lin, &lin, &overlong))
                return BAD(-HVT_E_BAD_RECORD, rec, "access %zu: column acc_linear ends early",
                           ia + i);
            x->linear = lin;

            uint64_t phys;
            if (ref && ref->linear == lin) {
                phys = ref->phys; /* the same address as in the previous pass */
            } else {
                switch (sh->phys) {
                case PP_TABLE: {
                    unsigned lvl = sh->hdr[offsetof(struct hvt_access, tag.level)];
                    uint64_t table;
                    uint32_t pt;
                    memcpy(&pt, &prev->tag, 4); /* class, operand, level */
                    if ((pt & 0x00ff00ffu) == (HVT_TAG_WALK | (lvl + 1) << 16) &&
                        prev->size == size)
                        table = entry_frame(prev->data, size);
                    else
                        table = hvt_pred_frame(cr3, size);
                    uint64_t idx_mask = size == 8 ? 511 : 1023;
                    phys = table + ((lin >> sh->shift) & idx_mask) * size;
                    break;
                }
                case PP_CTX:
                    phys = c->phys;
                    break;
                case PP_AD:
                    phys = walk_phys[sh->hdr[offsetof(struct hvt_access, tag.level)] & 7u];
                    break;
                default:
                    if (have_tr && !((lin ^ tr_lin) & ~tr_mask))
                        phys = tr_phys + (lin & tr_mask);
                    else
                        phys = c->phys + (lin - c->linear);
                    break;
                }
            }
            if (add_residual(bits & HVT_SHAPE_PHYS, &r->phys, &r->n_phys, &phys, &overlong))
                return BAD(-HVT_E_BAD_RECORD, rec, "access %zu: column acc_phys ends early",
                           ia + i);
            x->phys = phys;

            const unsigned li = hvt_pred_line_of(phys);
            if (bits & HVT_SHAPE_DATA) {
                if (take_bytes(r, x->data, size))
                    return BAD(-HVT_E_BAD_RECORD, rec, "access %zu: column acc_bytes ends early",
                               ia + i);
            } else {
                const uint8_t *pd = NULL;
                const struct hvt_access *l = lines[li];
                switch (sh->data) {
                case PD_ZERO:
                    pd = hvt_pred_zero; /* no value was transferred */
                    break;
                case PD_FETCH: {
                    uint64_t off = lin - rip_lin;
                    if (off < insn_len && size <= insn_len - off) {
                        pd = (const uint8_t *)insn + off;
                        break;
                    }
                }
                    /* fall through */
                case PD_READ:
                    if (ref && ref->phys == phys && ref->outcome == HVT_OP_OKAY) {
                        pd = ref->data; /* read again in the re-execution */
                        break;
                    }
                    goto line;
                case PD_COPY:
                    if ((prev->kind == HVT_ACC_READ || prev->kind == HVT_ACC_IO_IN) &&
                        prev->tag.cls == sh->hdr[offsetof(struct hvt_access, tag.cls)] &&
                        prev->size == size && prev->outcome == HVT_OP_OKAY) {
                        pd = prev->data; /* a copy: what was just read */
                        break;
                    }
                    /* fall through */
                default:
                line:
                    if (l->phys == phys && l->size == size &&
                        l->space == sh->hdr[offsetof(struct hvt_access, space)])
                        pd = l->data; /* the last value at this address */
                    break;
                }
                if (!pd)
                    return BAD(-HVT_E_BAD_RECORD, rec,
                               "access %zu: its shape (%" PRIu64
                               ") says the data is predicted, but "
                               "nothing predicts it",
                               ia + i, id);
                data_masked(x->data, pd, size);
            }
            if (sh->hdr[0] == HVT_ACC_CMPXCHG && take_cmpxchg(r, x, size))
                return BAD(-HVT_E_BAD_RECORD, rec, "access %zu: column acc_cmpxchg ends early",
                           ia + i);

            /* the predictor state moves on (hvt_pred_update) */
            ctxv[ci] = x;
            const unsigned u = sh->upd;
            if (u & PU_FETCH) {
                fetch_next = lin + size;
            } else if (u & PU_WALK) {
                unsigned lvl = sh->hdr[offsetof(struct hvt_access, tag.level)];
                walk_phys[lvl & 7u] = phys;
                if (u & PU_LEAF) {
                    uint64_t en = hvt_pred_entry(x->data, size);
                    unsigned page = hvt_pred_leaf_bits(en, lvl, size);
                    if (page) {
                        tr_mask = (1ull << page) - 1;
                        tr_lin = lin & ~tr_mask;
                        tr_phys = hvt_pred_frame(en, size) & ~tr_mask;
                        have_tr = 1;
                    }
                }
            }
            if (u & PU_OKAY)
                lines[li] = x;
            prev = x;
        }
        if (stop < i1)
            return BAD(-HVT_E_BAD_RECORD, rec,
                       "access %zu: shape %" PRIu64 " not defined (the chunk has %zu)", ia + stop,
                       bad_id, n_shapes);
    }
    if (overlong)
        return BAD(-HVT_E_BAD_RECORD, rec, "an access column holds a varint longer than 10 bytes");
    r->shape = sp;
    return 0;
}

/* decode_pass2 as format/predict.h says it (the reference the encoder runs): what
 * hvt_dchunk.reference_predictor selects, for the tests that hold decode_pass2 to it. */
static int decode_pass2_ref(const struct hvt_dchunk *d, struct rd2 *r, struct hvt_access *a,
                            size_t na, const struct hvt_event *ev, uint32_t pass, int vslot,
                            size_t rec, size_t ia, struct hvt_fmt_error_info *e)
{
    int overlong = 0;
    struct hvt_pred *pr = d->pred;
    struct hvt_pred_pass pp;
    hvt_pred_pass_begin(&pp, pr, vslot, ev, pass);
    for (size_t i = 0; i < na; i++) {
        struct hvt_access *x = &a[i];
        uint64_t id = RD(r->shape);
        if (id >= r->n_shapes)
            return BAD(-HVT_E_BAD_RECORD, rec,
                       "access %zu: shape %" PRIu64 " not defined (the chunk has %zu)", ia + i, id,
                       r->n_shapes);
        const struct hvt_dshape *sh = &d->shapes[id];
        memcpy(x, sh->hdr, sizeof(sh->hdr));
        uint64_t w = sh->flags; /* flags, the padding after them */
        memcpy(&x->flags, &w, 8);
        x->callsite = sh->callsite;
        x->reserved = 0;
        unsigned bits = sh->bits;
        unsigned ci = sh->ctx;
        struct hvt_pred_addr *ctx = &pp.ctx[ci];
        const struct hvt_access *ref = hvt_pred_ref(&pp, x, (uint32_t)i);
        x->tag.element = hvt_pred_element(&pp, ci, ctx, ref);
        uint64_t res;
        if (bits & HVT_SHAPE_ELEMENT) {
            if (residual(&r->el, &r->n_el, &res, &overlong))
                return BAD(-HVT_E_BAD_RECORD, rec, "access %zu: column acc_element ends early",
                           ia + i);
            x->tag.element += (uint32_t)res;
        }
        uint64_t lin = hvt_pred_linear(&pp, x, ctx, ref);
        if (bits & HVT_SHAPE_LINEAR) {
            if (residual(&r->lin, &r->n_lin, &res, &overlong))
                return BAD(-HVT_E_BAD_RECORD, rec, "access %zu: column acc_linear ends early",
                           ia + i);
            lin += res;
        }
        x->linear = lin;
        uint64_t phys = hvt_pred_phys(&pp, x, ctx, ref, lin);
        if (bits & HVT_SHAPE_PHYS) {
            if (residual(&r->phys, &r->n_phys, &res, &overlong))
                return BAD(-HVT_E_BAD_RECORD, rec, "access %zu: column acc_phys ends early",
                           ia + i);
            phys += res;
        }
        x->phys = phys;
        struct hvt_pred_line *ln = &pr->line[hvt_pred_line_of(phys)];
        uint32_t size = x->size;
        if (bits & HVT_SHAPE_DATA) {
            if (take_bytes(r, x->data, size))
                return BAD(-HVT_E_BAD_RECORD, rec, "access %zu: column acc_bytes ends early",
                           ia + i);
        } else {
            const uint8_t *pd = hvt_pred_data(&pp, x, (uint32_t)i, ln, lin, phys);
            if (!pd)
                return BAD(-HVT_E_BAD_RECORD, rec,
                           "access %zu: its shape (%" PRIu64 ") says the data is predicted, but "
                           "nothing predicts it",
                           ia + i, id);
            /* PD has HVT_DATA_MAX readable bytes: a fixed-size masked copy */
            uint64_t v[4], m[4];
            memcpy(v, pd, sizeof(v));
            memcpy(m, keep_mask[size], sizeof(m));
            for (int b = 0; b < 4; b++)
                v[b] &= m[b];
            memcpy(x->data, v, sizeof(v));
        }
        memset(x->old, 0, sizeof(x->old) + sizeof(x->cur));
        if (x->kind == HVT_ACC_CMPXCHG && take_cmpxchg(r, x, size))
            return BAD(-HVT_E_BAD_RECORD, rec, "access %zu: column acc_cmpxchg ends early", ia + i);
        hvt_pred_update(&pp, x, ci, ctx, ln, x->data);
    }
    if (overlong)
        return BAD(-HVT_E_BAD_RECORD, rec, "an access column holds a varint longer than 10 bytes");
    return 0;
}

/* Column pointers of the record pass. */
struct rd {
    const uint8_t *c[F__COUNT];
    size_t insn_off, data_off, cx_off;
};

static int decode_records(struct hvt_dchunk *d, const struct wire *w, size_t n_pass_col,
                          size_t n_acc_col, struct hvt_fmt_error_info *e)
{
    static const uint8_t empty[1];
    struct rd r;
    for (int f = 0; f < F__COUNT; f++)
        r.c[f] = w->col[f].p ? w->col[f].p : empty;
    r.insn_off = r.data_off = r.cx_off = 0;
    struct srd si = {w->st[0][FS_COUNT].p, w->st[0][FS_SLOT_GAP].p, w->st[0][FS_VALUE].p,
                     w->st[0][FS_SLOT_GAP].n};
    struct srd se = {w->st[1][FS_COUNT].p, w->st[1][FS_SLOT_GAP].p, w->st[1][FS_VALUE].p,
                     w->st[1][FS_SLOT_GAP].n};
    if (!si.gap)
        si.gap = si.val = empty;
    if (!se.gap)
        se.gap = se.val = empty;
    if (!si.cnt)
        si.cnt = empty;
    if (!se.cnt)
        se.cnt = empty;
    const uint8_t *retire = w->retire.p; /* NULL: absent, every pass 0 */
    const uint8_t *insn = w->col[F_EV_INSN].p;
    size_t insn_len = w->col[F_EV_INSN].len;

    int overlong = 0;
    unsigned n_vcpus = 0;
    uint32_t vcpu_ids[HVT_MAX_VCPU_SLOTS];
    const struct hvt_vcpu_state *vbase[HVT_MAX_VCPU_SLOTS]; /* each vCPU's last init state */
    uint64_t id = w->first_event_id, prev_time = 0;
    size_t n_rec = d->n_records, n_lost = d->n_lost;
    size_t ie = 0, il = 0, ip = 0, ia = 0;
    size_t next_lost = SIZE_MAX;
    if (n_lost) {
        next_lost = (size_t)RD(r.c[F_LOST_AT]);
        if (next_lost >= n_rec)
            return BAD(-HVT_E_BAD_RECORD, -1, "lost marker 0 at record %zu: out of range",
                       next_lost);
    }
    struct acc_bad bad = {SIZE_MAX, 0, 0};
    int enc2 = w->enc >= HVT_CHUNK_ENC_2;
    struct rd2 r2 = {0};
    const struct hvt_vcpu_state *vlast[HVT_MAX_VCPU_SLOTS]; /* encoding 2: each vCPU's last state */
    if (enc2) {
        const struct hvt_dcol *c2 = w->col2;
#define COL2(f) (c2[(f)-F2_FIRST].p ? c2[(f)-F2_FIRST].p : empty)
        r2.shape = COL2(F2_ACC_SHAPE);
        r2.el = COL2(F2_ACC_ELEMENT);
        r2.lin = COL2(F2_ACC_LINEAR);
        r2.phys = COL2(F2_ACC_PHYS);
        r2.bytes = COL2(F2_ACC_BYTES);
#undef COL2
        r2.n_el = c2[F2_ACC_ELEMENT - F2_FIRST].n;
        r2.n_lin = c2[F2_ACC_LINEAR - F2_FIRST].n;
        r2.n_phys = c2[F2_ACC_PHYS - F2_FIRST].n;
        r2.bytes_left = c2[F2_ACC_BYTES - F2_FIRST].len;
        r2.cx = w->col[F_ACC_CMPXCHG].p ? w->col[F_ACC_CMPXCHG].p : empty;
        r2.cx_left = w->col[F_ACC_CMPXCHG].len;
        r2.n_shapes = c2[F2_ACC_SHAPES - F2_FIRST].n / HVT_SHAPE_FIELDS;
        if (d->reference_predictor)
            hvt_pred_reset(d->pred);
        else
            dpred_reset(d->pred);
    } else {
        overlong |= decode_accesses(d->accs, n_acc_col, w, &bad);
    }
    int rc;
    for (size_t rec = 0; rec < n_rec; rec++) {
        if (rec == next_lost) {
            struct hvt_lost *l = &d->losts[il++];
            memset(l, 0, sizeof(*l));
            l->vcpu = (uint32_t)RD(r.c[F_LOST_VCPU]);
            l->count = RD(r.c[F_LOST_COUNT]);
            l->event_id = RD(r.c[F_LOST_EVENT_ID]);
            l->pass = (uint32_t)RD(r.c[F_LOST_PASS]);
            l->access = (uint32_t)RD(r.c[F_LOST_ACCESS]);
            d->recs[rec].type = HVT_REC_LOST;
            d->recs[rec].u.lost = l;
            if (il < n_lost) {
                uint64_t at = RD(r.c[F_LOST_AT]);
                if (at <= rec || at >= n_rec)
                    return BAD(-HVT_E_BAD_RECORD, -1,
                               "lost marker %zu at record %" PRIu64 ": out of order or range", il,
                               at);
                next_lost = (size_t)at;
            }
            continue;
        }
        struct hvt_event *ev = &d->evs[ie];
        memset(ev, 0, offsetof(struct hvt_event, init));
        uint64_t dl = RD(r.c[F_EV_ID_DELTA]);
        if (ie == 0) {
            if (dl != 0)
                return BAD(-HVT_E_BAD_RECORD, rec, "first event id delta is %" PRIu64, dl);
        } else if (dl == 0 || id + dl < id || id + dl == HVT_NO_EVENT) {
            return BAD(-HVT_E_BAD_RECORD, rec,
                       "event id delta %" PRIu64 " after %" PRIu64 ": not increasing", dl, id);
        }
        id += dl;
        ev->id = id;
        ev->vcpu = (uint32_t)RD(r.c[F_EV_VCPU]);
        ev->flags = (uint32_t)RD(r.c[F_EV_FLAGS]);
        prev_time += (uint64_t)RDS(r.c[F_EV_TIME_DELTA]);
        ev->time_ns = prev_time;
        uint32_t il_ = (uint32_t)RD(r.c[F_EV_INSN_LEN]);
        if (il_ > HVT_INSN_MAX)
            return BAD(-HVT_E_BAD_RECORD, rec, "ev_insn_len %u > %u", il_, HVT_INSN_MAX);
        if (insn_len - r.insn_off < il_)
            return BAD(-HVT_E_BAD_RECORD, rec, "column ev_insn ends early");
        memset(&ev->insn_len, 0,
               sizeof(*ev) - offsetof(struct hvt_event, insn_len)); /* insn .. passes */
        ev->insn_len = (uint8_t)il_;
        if (il_)
            memcpy(ev->insn, insn + r.insn_off, il_);
        r.insn_off += il_;

        /* init state: against the vCPU's previous init state in the chunk, or zero */
        int slot = -1;
        for (unsigned k = 0; k < n_vcpus; k++)
            if (vcpu_ids[k] == ev->vcpu) {
                slot = (int)k;
                break;
            }
        uint64_t base = RD(r.c[F_EV_INIT_BASE]);
        if (base > 1 || (base == 1 && slot < 0))
            return BAD(-HVT_E_BAD_RECORD, rec, "ev_init_base %" PRIu64 " not available for vCPU %u",
                       base, ev->vcpu);
        uint8_t *dirty = &d->ev_dirty[ie];
        static const struct hvt_vcpu_state zero_state;
        const struct hvt_vcpu_state *src =
            base == 1 ? (enc2 ? vlast[slot] : vbase[slot]) : &zero_state;
        if (base == 1)
            state_copy(&ev->init, src, dirty);
        else
            state_zero(&ev->init, dirty);
        rc = apply_state(d, &si, &ev->init, src, 0, rec, "init state", &overlong, e);
        /* without valid SIMD registers the part is zero now (copied so, or cleared) */
        *dirty = rc < 0 || (ev->init.flags & HVT_STATE_SIMD_VALID); /* an error: unknown */
        if (rc < 0)
            return rc;
        if (slot < 0 && n_vcpus < HVT_MAX_VCPU_SLOTS) {
            slot = (int)n_vcpus++;
            vcpu_ids[slot] = ev->vcpu;
        }
        if (slot >= 0)
            vbase[slot] = &ev->init;

        uint64_t np = RD(r.c[F_EV_PASSES]);
        if (np > HVT_FMT_MAX_PASSES)
            return BAD(-HVT_E_LIMIT, rec, "event has %" PRIu64 " passes (max %u)", np,
                       HVT_FMT_MAX_PASSES);
        if (np > n_pass_col - ip)
            return BAD(-HVT_E_BAD_RECORD, rec, "the pass columns end early (%zu values)",
                       n_pass_col);
        ev->n_passes = (uint32_t)np;
        ev->passes = np ? &d->passes[ip] : NULL;
        size_t ev_acc = 0;
        for (uint32_t k = 0; k < np; k++) {
            struct hvt_pass *ps = &d->passes[ip++];
            memset(ps, 0, offsetof(struct hvt_pass, end));
            ps->index = (uint32_t)RD(r.c[F_PASS_INDEX]);
            ps->lost = (uint32_t)RD(r.c[F_PASS_LOST]);
            uint32_t kind = (uint32_t)RD(r.c[F_PASS_KIND]),
                     rcause = (uint32_t)RD(r.c[F_PASS_RETRY_CAUSE]),
                     vec = (uint32_t)RD(r.c[F_PASS_VECTOR]), fl = (uint32_t)RD(r.c[F_PASS_FLAGS]);
            if (kind >= HVT_OUT__COUNT || rcause >= HVT_RETRY__COUNT || vec > 255 || fl > 255)
                return BAD(-HVT_E_BAD_RECORD, rec,
                           "pass %u: outcome out of range (kind %u cause %u vector %u flags %u)", k,
                           kind, rcause, vec, fl);
            ps->out.kind = (uint8_t)kind;
            ps->out.retry_cause = (uint8_t)rcause;
            ps->out.vector = (uint8_t)vec;
            ps->out.flags = (uint8_t)fl;
            ps->out.error_code = (uint32_t)RD(r.c[F_PASS_ERROR_CODE]);
            ps->out.cr2 = RD(r.c[F_PASS_CR2]);
            ps->out.iterations = (uint32_t)RD(r.c[F_PASS_ITERATIONS]);
            if (retire) {
                uint64_t rt = RD(retire);
                if ((rt & ~(uint64_t)(HVT_RETIRE_KNOWN | HVT_RETIRE_REPORTED)) ||
                    ((rt & HVT_RETIRE_KNOWN) && kind != HVT_OUT_OKAY))
                    return BAD(-HVT_E_BAD_RECORD, rec,
                               "pass %u: pass_retire 0x%" PRIx64
                               " out of range (unknown flags, or flags on a pass that did not "
                               "end OKAY)",
                               k, rt);
                ps->out.retire = (uint32_t)rt;
            }
            uint8_t *pdirty = &d->pass_dirty[ip - 1];
            state_copy(&ps->end, &ev->init, pdirty);
            rc = apply_state(d, &se, &ps->end, &ev->init,
                             enc2 && kind == HVT_OUT_OKAY ? ev->insn_len : 0, rec, "pass end state",
                             &overlong, e);
            *pdirty = rc < 0 || (ps->end.flags & HVT_STATE_SIMD_VALID);
            if (rc < 0)
                return rc;
            uint64_t na = RD(r.c[F_PASS_ACCESSES]);
            if (na > HVT_FMT_MAX_ACCESSES)
                return BAD(-HVT_E_LIMIT, rec, "pass %u has %" PRIu64 " accesses (max %u)", k, na,
                           HVT_FMT_MAX_ACCESSES);
            ev_acc += na;
            if (ev_acc > HVT_FMT_MAX_EVENT_ACCESSES)
                return BAD(-HVT_E_LIMIT, rec, "event has more than %u accesses",
                           HVT_FMT_MAX_EVENT_ACCESSES);
            if (na > n_acc_col - ia)
                return BAD(-HVT_E_BAD_RECORD, rec, "the access columns end early (%zu values)",
                           n_acc_col);
            ps->n_accesses = (uint32_t)na;
            ps->accesses = na ? &d->accs[ia] : NULL;
            if (enc2 && (rc = (d->reference_predictor ? decode_pass2_ref : decode_pass2)(
                             d, &r2, &d->accs[ia], (size_t)na, ev, k, slot, rec, ia, e)) < 0)
                return rc;
            if (bad.at < ia + na) {
                size_t i = bad.at;
                if (bad.field == F_ACC_DATA || bad.field == F_ACC_CMPXCHG)
                    return BAD(-HVT_E_BAD_RECORD, rec, "access %zu: column %s ends early", i,
                               field_name[bad.field]);
                return BAD(-HVT_E_BAD_RECORD, rec, "access %zu: %s %" PRIu64 " out of range", i,
                           field_name[bad.field], bad.v);
            }
            ia += na;
        }
        if (slot >= 0) /* encoding 2: the next event's base */
            vlast[slot] = np ? &ev->passes[np - 1].end : &ev->init;
        d->recs[rec].type = HVT_REC_EVENT;
        d->recs[rec].u.event = ev;
        ie++;
    }
    if (overlong)
        return BAD(-HVT_E_BAD_RECORD, -1, "a column holds a varint longer than 10 bytes");
    /* every column consumed exactly */
    if (ip != n_pass_col)
        return BAD(-HVT_E_BAD_RECORD, -1, "the pass columns hold %zu values for %zu passes",
                   n_pass_col, ip);
    if (ia != n_acc_col)
        return BAD(-HVT_E_BAD_RECORD, -1, "the access columns hold %zu values for %zu accesses",
                   n_acc_col, ia);
    if (si.n_left || se.n_left)
        return BAD(-HVT_E_BAD_RECORD, -1, "%s: slot entries left over",
                   si.n_left ? "ev_init" : "pass_end");
    if (r.insn_off != insn_len)
        return BAD(-HVT_E_BAD_RECORD, -1, "column ev_insn not consumed exactly (%zu of %zu bytes)",
                   r.insn_off, insn_len);
    if (bad.at != SIZE_MAX) /* only the byte columns' lengths are left to be wrong */
        return BAD(-HVT_E_BAD_RECORD, -1, "column %s not consumed exactly", field_name[bad.field]);
    if (enc2 && (r2.n_el || r2.n_lin || r2.n_phys || r2.bytes_left || r2.cx_left))
        return BAD(-HVT_E_BAD_RECORD, -1, "column %s not consumed exactly",
                   r2.n_el         ? "acc_element"
                   : r2.n_lin      ? "acc_linear"
                   : r2.n_phys     ? "acc_phys"
                   : r2.bytes_left ? "acc_bytes"
                                   : "acc_cmpxchg");
    d->n_passes = ip;
    d->n_accesses = ia;
    d->first_id = ie ? w->first_event_id : HVT_NO_EVENT;
    d->last_id = ie ? id : HVT_NO_EVENT;
    return 0;
}

/* ---- the chunk ------------------------------------------------------------------------------ */

static int check_cols(const struct hvt_dchunk *d, const struct wire *w, int lo, int hi, size_t n,
                      const char *what, struct hvt_fmt_error_info *e)
{
    for (int f = lo; f <= hi; f++) {
        if (f == F_EV_INSN || f == F_EV_INIT || f == F_PASS_END || f == F_ACC_DATA ||
            f == F_ACC_CMPXCHG)
            continue;
        if (w->col[f].n != n)
            return BAD(-HVT_E_BAD_RECORD, -1, "column %s has %zu values for %zu %s", field_name[f],
                       w->col[f].n, n, what);
    }
    return 0;
}

static int decode(struct hvt_dchunk *d, const uint8_t *raw, size_t len,
                  const struct hvt_chunk_hdr *h, size_t max_mem, struct hvt_fmt_error_info *e)
{
    static struct wire zero;
    struct wire w = zero;
    w.enc = h->version;
    int rc = walk_chunk(d, raw, len, &w, e);
    if (rc < 0)
        return rc;
    size_t n_ev = w.col[F_EV_ID_DELTA].n, n_lost = w.col[F_LOST_AT].n;
    if (n_ev != h->n_events || n_ev + n_lost != h->n_records)
        return BAD(-HVT_E_BAD_RECORD, -1,
                   "chunk holds %zu events and %zu records, its header says %u and %u", n_ev,
                   n_ev + n_lost, h->n_events, h->n_records);
    rc = check_cols(d, &w, F_EV_ID_DELTA, F_EV_PASSES, n_ev, "events", e);
    if (rc == 0)
        rc = check_cols(d, &w, F_LOST_VCPU, F_LOST_ACCESS, n_lost, "lost markers", e);
    if (rc < 0)
        return rc;
    /* the memory the records need, before anything is allocated */
    size_t n_pass = max_count(&w, F_PASS_INDEX, F_PASS_ACCESSES);
    size_t n_acc, n_shapes = 0;
    if (w.enc >= HVT_CHUNK_ENC_2) {
        /* encoding 2 has no per-field access columns */
        for (int f = F_ACC_KIND; f <= F_ACC_DATA; f++)
            if (w.col[f].p)
                return BAD(-HVT_E_BAD_RECORD, -1,
                           "column %s in a chunk of encoding 2 (access shapes)", field_name[f]);
        n_acc = w.col2[F2_ACC_SHAPE - F2_FIRST].n;
        size_t nf = w.col2[F2_ACC_SHAPES - F2_FIRST].n;
        if (nf % HVT_SHAPE_FIELDS)
            return BAD(-HVT_E_BAD_RECORD, -1,
                       "column acc_shapes holds %zu values, not a multiple of %d", nf,
                       HVT_SHAPE_FIELDS);
        n_shapes = nf / HVT_SHAPE_FIELDS;
    } else {
        n_acc = max_count(&w, F_ACC_KIND, F_ACC_CALLSITE);
    }
    size_t need = hvt_chunk_records_mem(n_ev, n_lost, n_pass, n_acc) +
                  callsite_tables(w.n_cs, w.n_frames, w.n_string_bytes) +
                  (w.enc >= HVT_CHUNK_ENC_2 ? hvt_chunk_enc2_mem(n_shapes) : 0);
    d->mem_need = need;
    if (need > max_mem)
        return BAD(-HVT_E_LIMIT, -1,
                   "chunk needs %zu bytes to decode (%zu events, %zu passes, %zu accesses, %zu "
                   "call sites), more than the budget of %zu",
                   need, n_ev, n_pass, n_acc, w.n_cs, max_mem);
    rc = check_cols(d, &w, F_PASS_INDEX, F_PASS_ACCESSES, n_pass, "passes", e);
    if (rc == 0 && w.enc < HVT_CHUNK_ENC_2)
        rc = check_cols(d, &w, F_ACC_KIND, F_ACC_CALLSITE, n_acc, "accesses", e);
    if (rc < 0)
        return rc;
    if (w.retire.p && w.retire.n != n_pass)
        return BAD(-HVT_E_BAD_RECORD, -1, "column pass_retire has %zu values for %zu passes",
                   w.retire.n, n_pass);
    for (int k = 0; k < 2; k++) {
        const struct hvt_dcol *s = w.st[k];
        size_t want = k ? n_pass : n_ev;
        if (s[FS_COUNT].n != want)
            return BAD(-HVT_E_BAD_RECORD, -1, "%s: %zu states for %zu %s", states_name[k],
                       s[FS_COUNT].n, want, k ? "passes" : "events");
        if (s[FS_SLOT_GAP].n != s[FS_VALUE].n)
            return BAD(-HVT_E_BAD_RECORD, -1, "%s: %zu slot gaps and %zu values", states_name[k],
                       s[FS_SLOT_GAP].n, s[FS_VALUE].n);
    }
    if (storage(d, n_ev, n_lost, n_pass, n_acc, n_shapes, &w, max_mem) < 0)
        return BAD(-HVT_E_NOMEM, -1, "chunk records (%zu bytes)", need);
    if (n_shapes && (rc = decode_shapes(d, &w, n_shapes, e)) < 0)
        return rc;
    d->n_events = n_ev;
    d->n_lost = n_lost;
    d->n_records = n_ev + n_lost;

    /* call sites: a second walk of the payload fills the tables counted by the first */
    struct cs_fill fill = {d->cs, d->frames, d->strings, 0, 0};
    const uint8_t *p = raw, *end = raw + len;
    struct wire_field f;
    size_t ncs = 0;
    while (ncs < w.n_cs && wire_next(&p, raw, end, &f) > 0)
        if (f.num == F_CALLSITES && (rc = walk_callsite(d, &f, ncs++, &w, &fill, e)) < 0)
            return rc;
    d->n_cs = w.n_cs;
    qsort(d->cs, d->n_cs, sizeof(*d->cs), cmp_cs);
    for (size_t i = 1; i < d->n_cs; i++)
        if (d->cs[i].id == d->cs[i - 1].id)
            return BAD(-HVT_E_BAD_RECORD, -1, "call site %u defined twice", d->cs[i].id);

    rc = decode_records(d, &w, n_pass, n_acc, e);
    if (rc < 0)
        return rc;
    if (d->first_id != h->first_event_id || d->last_id != h->last_event_id)
        return BAD(-HVT_E_BAD_RECORD, -1,
                   "chunk holds events %" PRIu64 "..%" PRIu64 ", its header says %" PRIu64
                   "..%" PRIu64,
                   d->first_id, d->last_id, h->first_event_id, h->last_event_id);
    return 0;
}

static void init_tables(void)
{
    init_masks();
    init_slots();
}

static pthread_once_t tables = PTHREAD_ONCE_INIT; /* chunks may be decoded on several threads */

const uint8_t (*hvt_keep_masks(void))[HVT_DATA_MAX]
{
    pthread_once(&tables, init_tables);
    return (const uint8_t(*)[HVT_DATA_MAX])keep_mask;
}

int hvt_dchunk_decode(struct hvt_dchunk *d, const uint8_t *raw, size_t len,
                      const struct hvt_chunk_hdr *h, size_t max_mem, struct hvt_fmt_error_info *e)
{
    pthread_once(&tables, init_tables);
    d->n_events = d->n_passes = d->n_accesses = d->n_lost = d->n_records = d->n_cs = 0;
    d->first_id = d->last_id = HVT_NO_EVENT;
    d->mem_need = 0;
    int rc = decode(d, raw, len, h, max_mem, e);
    if (rc < 0) /* all or nothing */
        d->n_events = d->n_passes = d->n_accesses = d->n_lost = d->n_records = d->n_cs = 0;
    return rc;
}

void hvt_dchunk_free(struct hvt_dchunk *d)
{
    if (!d)
        return;
    storage_release(d);
    d->n_events = d->n_passes = d->n_accesses = d->n_lost = d->n_records = d->n_cs = 0;
    d->mem_alloc = 0;
}

const struct hvt_callsite *hvt_dchunk_callsite(const struct hvt_dchunk *d, uint32_t id)
{
    size_t lo = 0, hi = d->n_cs;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (d->cs[mid].id == id)
            return &d->cs[mid];
        if (d->cs[mid].id < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}
