/* SPDX-License-Identifier: MIT */
/* hvtrace format: chunk payload decoding. Nothing read from the file is used before it is
 * checked: column lengths here, every value in the cursor. */
#include "decode.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "chunkenc.h" /* the Chunk field numbers */
#include "internal.h"

static int bad(const struct hvt_dchunk *d, struct hvt_fmt_error_info *e, int code, int64_t rec,
               const char *what)
{
    return hvt_fmt_seterr(e, code, d->offset, d->chunk, rec, "%s", what);
}

#define BAD(code, rec, ...)                                                                        \
    hvt_fmt_seterr(e, code, d->offset, d->chunk, (int64_t)(rec), __VA_ARGS__)

static int cmp_cs(const void *a, const void *b)
{
    const struct hvt_callsite *x = a, *y = b;
    return x->id < y->id ? -1 : x->id > y->id;
}

/* Record index of event I (events and lost markers share the record numbering). */
static size_t event_record(const struct hvt_dchunk *d, size_t i)
{
    size_t r = i;
    for (size_t j = 0; j < d->n_lost && d->m->lost_at[j] <= r; j++)
        r++;
    return r;
}

static int check_states(const struct hvt_dchunk *d, const Hvtrace__V1__States *s, size_t n,
                        const char *what, struct hvt_fmt_error_info *e)
{
    size_t nc = s ? s->n_count : 0, ng = s ? s->n_slot_gap : 0, nv = s ? s->n_value : 0;
    if (nc != n)
        return BAD(-HVT_E_BAD_RECORD, -1, "%s: %zu states for %zu items", what, nc, n);
    size_t sum = 0;
    for (size_t i = 0; i < nc; i++) {
        if (s->count[i] > HVT_NSLOTS)
            return BAD(-HVT_E_LIMIT, -1, "%s: state %zu changes %u slots (max %d)", what, i,
                       s->count[i], HVT_NSLOTS);
        sum += s->count[i];
    }
    if (ng != sum || nv != sum)
        return BAD(-HVT_E_BAD_RECORD, -1, "%s: %zu slot gaps and %zu values for %zu slots", what,
                   ng, nv, sum);
    return 0;
}

/* ---- decode memory ---------------------------------------------------------------------- */

/* Every block protobuf-c allocates through hvt_pbmem costs its size plus this (pbmem.c). */
#define PB_BLOCK 32
#define NFIELDS 44 /* Chunk field numbers 1..43 */
#define SCANNED_MEMBER 40 /* protobuf-c's record of one field met while unpacking (32 bytes) */

/* What unpacking a message will allocate, found by walking its wire form (nothing allocated). */
struct wire_measure {
    size_t count[NFIELDS]; /* Chunk: elements per repeated scalar field */
    size_t bytes;          /* every allocation but the scalar arrays, upper bound */
    size_t n_callsites, n_frames;
};

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
    size_t n = 0;
    for (size_t i = 0; i < len; i++)
        n += !(p[i] & 0x80);
    return n;
}

enum wire_kind { W_CHUNK, W_STATES, W_CALLSITE, W_FRAME };

/* Walks one message of KIND. Repeated scalars of a Chunk are counted in m->count (their
 * arrays are added by the caller); of a States, added to m->bytes directly. */
static int wire_walk(const uint8_t *p, size_t len, enum wire_kind kind, struct wire_measure *m)
{
    const uint8_t *end = p + len;
    size_t scalars = 0, fields = 0;
    while (p < end) {
        fields++;
        uint64_t tag, v;
        if (wire_varint(&p, end, &tag) < 0)
            return -1;
        uint64_t f = tag >> 3;
        switch (tag & 7) {
        case 0:
            if (wire_varint(&p, end, &v) < 0)
                return -1;
            if (kind == W_CHUNK && f < NFIELDS)
                m->count[f]++;
            else
                scalars++;
            break;
        case 1:
        case 5: {
            size_t n = (tag & 7) == 1 ? 8 : 4;
            if ((size_t)(end - p) < n)
                return -1;
            p += n;
            m->bytes += sizeof(ProtobufCMessageUnknownField) + n + 2 * PB_BLOCK;
            break;
        }
        case 2: {
            if (wire_varint(&p, end, &v) < 0 || v > (uint64_t)(end - p))
                return -1;
            size_t n = (size_t)v;
            int rc = 0;
            if (kind == W_CHUNK && f == F_EV_INIT) {
                rc = wire_walk(p, n, W_STATES, m);
            } else if (kind == W_CHUNK && f == F_PASS_END) {
                rc = wire_walk(p, n, W_STATES, m);
            } else if (kind == W_CHUNK && f == F_CALLSITES) {
                m->n_callsites++;
                rc = wire_walk(p, n, W_CALLSITE, m);
            } else if (kind == W_CALLSITE && f == 2) {
                m->n_frames++;
                rc = wire_walk(p, n, W_FRAME, m);
            } else if (kind == W_CHUNK && f < NFIELDS && f != 8 && f != 36 && f != 37) {
                m->count[f] += packed_count(p, n); /* a packed column */
            } else if (kind == W_STATES) {
                scalars += packed_count(p, n);
            } else {
                /* bytes, strings, and unknown fields (kept by protobuf-c) */
                m->bytes += sizeof(ProtobufCMessageUnknownField) + n + 1 + 2 * PB_BLOCK;
            }
            if (rc < 0)
                return -1;
            p += n;
            break;
        }
        default:
            return -1; /* groups: protobuf-c refuses them too */
        }
    }
    static const size_t msg_size[] = {
        [W_CHUNK] = sizeof(Hvtrace__V1__Chunk),
        [W_STATES] = sizeof(Hvtrace__V1__States),
        [W_CALLSITE] = sizeof(Hvtrace__V1__CallSite),
        [W_FRAME] = sizeof(Hvtrace__V1__Frame),
    };
    /* the message, its slot in a parent's array, its scalar arrays (3 at most in a States) */
    m->bytes += msg_size[kind] + sizeof(void *) + 4 * PB_BLOCK + scalars * 8;
    /* protobuf-c notes every field it meets (each element of an unpacked repeated field too)
     * in slabs that double in size, the first 16 on its stack: at most twice the fields */
    if (fields > 16)
        m->bytes += fields * 2 * SCANNED_MEMBER + 32 * PB_BLOCK;
    return 0;
}

size_t hvt_chunk_records_mem(size_t n_events, size_t n_lost, size_t n_passes, size_t n_accesses)
{
    return (n_events + n_lost + 1) * sizeof(struct hvt_record) +
           (n_events + 1) * sizeof(struct hvt_event) + (n_lost + 1) * sizeof(struct hvt_lost) +
           (n_passes + 1) * sizeof(struct hvt_pass) + (n_accesses + 1) * sizeof(struct hvt_access);
}

/* The call-site tables hvt_dchunk_unpack builds. */
static size_t callsite_tables(size_t n_cs, size_t n_frames)
{
    return (n_cs + 1) * sizeof(struct hvt_callsite) + (n_frames + 1) * sizeof(struct hvt_frame);
}

size_t hvt_chunk_mem_bound(size_t raw, size_t n_events, size_t n_lost, size_t n_passes,
                           size_t n_accesses, size_t n_callsites)
{
    /* every packed element is at least one byte and unpacks to at most 8; bytes fields cost
     * their length; a call site's frames are bounded by HVT_FMT_MAX_FRAMES */
    size_t per_cs = sizeof(Hvtrace__V1__CallSite) + sizeof(void *) + 4 * PB_BLOCK +
                    HVT_FMT_MAX_FRAMES * (sizeof(Hvtrace__V1__Frame) + sizeof(void *) +
                                          6 * PB_BLOCK + 2 + sizeof(struct hvt_frame)) +
                    sizeof(struct hvt_callsite);
    return 8 * raw + (NFIELDS + 16) * PB_BLOCK + sizeof(Hvtrace__V1__Chunk) +
           n_callsites * per_cs + callsite_tables(0, 0) +
           hvt_chunk_records_mem(n_events, n_lost, n_passes, n_accesses);
}

static size_t max_count(const struct wire_measure *m, int lo, int hi)
{
    size_t n = 0;
    for (int f = lo; f <= hi; f++)
        if (f != F_PASS_END && m->count[f] > n)
            n = m->count[f];
    return n;
}

/* Checks the wire form of a chunk before it is unpacked: header-fixed column lengths, and the
 * decode memory against MAX_MEM. Sets d->mem_need and the protobuf allocation budget. */
static int measure_chunk(struct hvt_dchunk *d, const uint8_t *raw, size_t len,
                         const struct hvt_chunk_hdr *h, size_t max_mem, int whole,
                         struct hvt_fmt_error_info *e)
{
    struct wire_measure m;
    memset(&m, 0, sizeof(m));
    if (wire_walk(raw, len, W_CHUNK, &m) < 0)
        return BAD(-HVT_E_BAD_RECORD, -1, "chunk message does not decode (protobuf)");
    size_t n_ev = m.count[F_EV_ID_DELTA], n_lost = m.count[F_LOST_AT];
    if (n_ev != h->n_events || n_ev + n_lost != h->n_records)
        return BAD(-HVT_E_BAD_RECORD, -1,
                   "chunk holds %zu events and %zu records, its header says %u and %u", n_ev,
                   n_ev + n_lost, h->n_events, h->n_records);
    static const struct {
        int f;
        const char *name;
    } fixed[] = {{F_EV_VCPU, "ev_vcpu"},       {F_EV_FLAGS, "ev_flags"},
                 {F_EV_TIME_DELTA, "ev_time_delta"}, {F_EV_INSN_LEN, "ev_insn_len"},
                 {F_EV_INIT_BASE, "ev_init_base"},   {F_EV_PASSES, "ev_passes"},
                 {F_LOST_VCPU, "lost_vcpu"},     {F_LOST_COUNT, "lost_count"},
                 {F_LOST_EVENT_ID, "lost_event_id"}, {F_LOST_PASS, "lost_pass"},
                 {F_LOST_ACCESS, "lost_access"}};
    for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++) {
        int ev = fixed[i].f < F_LOST_VCPU;
        size_t want = ev ? n_ev : n_lost;
        if (m.count[fixed[i].f] != want)
            return BAD(-HVT_E_BAD_RECORD, -1, "column %s has %zu values for %zu %s",
                       fixed[i].name, m.count[fixed[i].f], want, ev ? "events" : "lost markers");
    }
    size_t unpack = m.bytes;
    for (int f = 1; f < NFIELDS; f++)
        if (m.count[f])
            unpack += m.count[f] * 8 + PB_BLOCK;
    size_t n_pass = max_count(&m, F_PASS_INDEX, F_PASS_ACCESSES);
    size_t n_acc = max_count(&m, F_ACC_KIND, F_ACC_CALLSITE);
    size_t need = unpack + callsite_tables(m.n_callsites, m.n_frames);
    if (whole)
        need += hvt_chunk_records_mem(n_ev, n_lost, n_pass, n_acc);
    d->mem_need = need;
    if (need > max_mem)
        return BAD(-HVT_E_LIMIT, -1,
                   "chunk needs %zu bytes to decode (%zu events, %zu passes, %zu accesses, %zu "
                   "call sites), more than the budget of %zu",
                   need, n_ev, n_pass, n_acc, m.n_callsites, max_mem);
    size_t budget = hvt_pbmem_budget(len);
    if (unpack < budget)
        budget = unpack;
    hvt_pbmem_init(&d->mem, budget);
    return 0;
}

int hvt_dchunk_unpack(struct hvt_dchunk *d, const uint8_t *raw, size_t len,
                      const struct hvt_chunk_hdr *h, size_t max_mem, int whole,
                      struct hvt_fmt_error_info *e)
{
    int mrc = measure_chunk(d, raw, len, h, max_mem, whole, e);
    if (mrc < 0)
        return mrc;
    d->m = hvtrace__v1__chunk__unpack(&d->mem.a, len, raw);
    if (!d->m) {
        if (d->mem.exceeded)
            return BAD(-HVT_E_LIMIT, -1, "chunk message needs more than %zu bytes to unpack",
                       d->mem.budget);
        return bad(d, e, -HVT_E_BAD_RECORD, -1, "chunk message does not decode (protobuf)");
    }
    const Hvtrace__V1__Chunk *m = d->m;

    d->n_events = m->n_ev_id_delta;
    d->n_lost = m->n_lost_at;
    d->n_records = d->n_events + d->n_lost;
    if (d->n_events != h->n_events || d->n_records != h->n_records)
        return BAD(-HVT_E_BAD_RECORD, -1,
                   "chunk holds %zu events and %zu records, its header says %u and %u", d->n_events,
                   d->n_records, h->n_events, h->n_records);

    /* every column of a group has the group's length */
    const struct {
        size_t n;
        const char *name;
    } ev_cols[] = {{m->n_ev_vcpu, "ev_vcpu"},
                   {m->n_ev_flags, "ev_flags"},
                   {m->n_ev_time_delta, "ev_time_delta"},
                   {m->n_ev_insn_len, "ev_insn_len"},
                   {m->n_ev_init_base, "ev_init_base"},
                   {m->n_ev_passes, "ev_passes"}};
    for (size_t i = 0; i < sizeof(ev_cols) / sizeof(ev_cols[0]); i++)
        if (ev_cols[i].n != d->n_events)
            return BAD(-HVT_E_BAD_RECORD, -1, "column %s has %zu values for %zu events",
                       ev_cols[i].name, ev_cols[i].n, d->n_events);
    const struct {
        size_t n;
        const char *name;
    } lost_cols[] = {{m->n_lost_vcpu, "lost_vcpu"},
                     {m->n_lost_count, "lost_count"},
                     {m->n_lost_event_id, "lost_event_id"},
                     {m->n_lost_pass, "lost_pass"},
                     {m->n_lost_access, "lost_access"}};
    for (size_t i = 0; i < sizeof(lost_cols) / sizeof(lost_cols[0]); i++)
        if (lost_cols[i].n != d->n_lost)
            return BAD(-HVT_E_BAD_RECORD, -1, "column %s has %zu values for %zu lost markers",
                       lost_cols[i].name, lost_cols[i].n, d->n_lost);
    for (size_t j = 0; j < d->n_lost; j++)
        if (m->lost_at[j] >= d->n_records || (j && m->lost_at[j] <= m->lost_at[j - 1]))
            return BAD(-HVT_E_BAD_RECORD, -1, "lost marker %zu at record %u: out of order or range",
                       j, m->lost_at[j]);

    /* event ids: first_event_id + deltas, strictly increasing, matching the header */
    if (d->n_events) {
        uint64_t id = m->first_event_id;
        if (m->ev_id_delta[0] != 0)
            return BAD(-HVT_E_BAD_RECORD, event_record(d, 0), "first event id delta is %" PRIu64,
                       m->ev_id_delta[0]);
        for (size_t i = 1; i < d->n_events; i++) {
            uint64_t dl = m->ev_id_delta[i];
            if (dl == 0 || id + dl < id || id + dl == HVT_NO_EVENT)
                return BAD(-HVT_E_BAD_RECORD, event_record(d, i),
                           "event id delta %" PRIu64 " after %" PRIu64 ": not increasing", dl, id);
            id += dl;
        }
        d->first_id = m->first_event_id;
        d->last_id = id;
    } else {
        d->first_id = d->last_id = HVT_NO_EVENT;
    }
    if (d->first_id != h->first_event_id || d->last_id != h->last_event_id)
        return BAD(-HVT_E_BAD_RECORD, -1,
                   "chunk holds events %" PRIu64 "..%" PRIu64 ", its header says %" PRIu64
                   "..%" PRIu64,
                   d->first_id, d->last_id, h->first_event_id, h->last_event_id);

    /* passes per event, accesses per pass and per event, within limits and column lengths */
    size_t np = 0;
    for (size_t i = 0; i < d->n_events; i++) {
        if (m->ev_passes[i] > HVT_FMT_MAX_PASSES)
            return BAD(-HVT_E_LIMIT, event_record(d, i), "event has %u passes (max %u)",
                       m->ev_passes[i], HVT_FMT_MAX_PASSES);
        np += m->ev_passes[i];
    }
    d->n_passes = np;
    const struct {
        size_t n;
        const char *name;
    } pass_cols[] = {{m->n_pass_index, "pass_index"},
                     {m->n_pass_lost, "pass_lost"},
                     {m->n_pass_kind, "pass_kind"},
                     {m->n_pass_retry_cause, "pass_retry_cause"},
                     {m->n_pass_vector, "pass_vector"},
                     {m->n_pass_flags, "pass_flags"},
                     {m->n_pass_error_code, "pass_error_code"},
                     {m->n_pass_cr2, "pass_cr2"},
                     {m->n_pass_iterations, "pass_iterations"},
                     {m->n_pass_accesses, "pass_accesses"}};
    for (size_t i = 0; i < sizeof(pass_cols) / sizeof(pass_cols[0]); i++)
        if (pass_cols[i].n != np)
            return BAD(-HVT_E_BAD_RECORD, -1, "column %s has %zu values for %zu passes",
                       pass_cols[i].name, pass_cols[i].n, np);
    size_t na = 0, p = 0;
    for (size_t i = 0; i < d->n_events; i++) {
        size_t ev_acc = 0;
        for (uint32_t k = 0; k < m->ev_passes[i]; k++, p++) {
            if (m->pass_accesses[p] > HVT_FMT_MAX_ACCESSES)
                return BAD(-HVT_E_LIMIT, event_record(d, i), "pass %u has %u accesses (max %u)", k,
                           m->pass_accesses[p], HVT_FMT_MAX_ACCESSES);
            ev_acc += m->pass_accesses[p];
        }
        if (ev_acc > HVT_FMT_MAX_EVENT_ACCESSES)
            return BAD(-HVT_E_LIMIT, event_record(d, i), "event has %zu accesses (max %u)", ev_acc,
                       HVT_FMT_MAX_EVENT_ACCESSES);
        na += ev_acc;
    }
    d->n_accesses = na;
    const struct {
        size_t n;
        const char *name;
    } acc_cols[] = {{m->n_acc_kind, "acc_kind"},
                    {m->n_acc_space, "acc_space"},
                    {m->n_acc_seg, "acc_seg"},
                    {m->n_acc_outcome, "acc_outcome"},
                    {m->n_acc_tag_class, "acc_tag_class"},
                    {m->n_acc_tag_operand, "acc_tag_operand"},
                    {m->n_acc_tag_level, "acc_tag_level"},
                    {m->n_acc_tag_element, "acc_tag_element"},
                    {m->n_acc_size, "acc_size"},
                    {m->n_acc_flags, "acc_flags"},
                    {m->n_acc_linear_delta, "acc_linear_delta"},
                    {m->n_acc_phys_delta, "acc_phys_delta"},
                    {m->n_acc_callsite, "acc_callsite"}};
    for (size_t i = 0; i < sizeof(acc_cols) / sizeof(acc_cols[0]); i++)
        if (acc_cols[i].n != na)
            return BAD(-HVT_E_BAD_RECORD, -1, "column %s has %zu values for %zu accesses",
                       acc_cols[i].name, acc_cols[i].n, na);
    int rc = check_states(d, m->ev_init, d->n_events, "ev_init", e);
    if (rc < 0)
        return rc;
    rc = check_states(d, m->pass_end, d->n_passes, "pass_end", e);
    if (rc < 0)
        return rc;

    /* call sites: unique nonzero ids, bounded frames and strings */
    if (m->n_callsites > HVT_FMT_MAX_CALLSITES)
        return BAD(-HVT_E_LIMIT, -1, "%zu call sites (max %u)", m->n_callsites,
                   HVT_FMT_MAX_CALLSITES);
    size_t nf = 0;
    for (size_t i = 0; i < m->n_callsites; i++) {
        const Hvtrace__V1__CallSite *cs = m->callsites[i];
        if (!cs->id)
            return BAD(-HVT_E_BAD_RECORD, -1, "call site %zu has id 0", i);
        if (cs->n_frames > HVT_FMT_MAX_FRAMES)
            return BAD(-HVT_E_LIMIT, -1, "call site %u has %zu frames (max %u)", cs->id,
                       cs->n_frames, HVT_FMT_MAX_FRAMES);
        for (size_t k = 0; k < cs->n_frames; k++)
            if (strlen(cs->frames[k]->function) > HVT_FMT_MAX_STRING ||
                strlen(cs->frames[k]->module) > HVT_FMT_MAX_STRING)
                return BAD(-HVT_E_LIMIT, -1, "call site %u frame %zu: name longer than %u", cs->id,
                           k, HVT_FMT_MAX_STRING);
        nf += cs->n_frames;
    }
    d->cs = calloc(m->n_callsites + 1, sizeof(*d->cs));
    d->frames = calloc(nf + 1, sizeof(*d->frames));
    if (!d->cs || !d->frames)
        return BAD(-HVT_E_NOMEM, -1, "call sites");
    size_t f = 0;
    for (size_t i = 0; i < m->n_callsites; i++) {
        const Hvtrace__V1__CallSite *cs = m->callsites[i];
        d->cs[i].id = cs->id;
        d->cs[i].n_frames = (uint32_t)cs->n_frames;
        d->cs[i].frames = d->frames + f;
        for (size_t k = 0; k < cs->n_frames; k++, f++) {
            d->frames[f].ip = cs->frames[k]->ip;
            d->frames[f].offset = cs->frames[k]->offset;
            d->frames[f].function = cs->frames[k]->function[0] ? cs->frames[k]->function : NULL;
            d->frames[f].module = cs->frames[k]->module[0] ? cs->frames[k]->module : NULL;
        }
    }
    d->n_cs = m->n_callsites;
    qsort(d->cs, d->n_cs, sizeof(*d->cs), cmp_cs);
    for (size_t i = 1; i < d->n_cs; i++)
        if (d->cs[i].id == d->cs[i - 1].id)
            return BAD(-HVT_E_BAD_RECORD, -1, "call site %u defined twice", d->cs[i].id);
    return 0;
}

void hvt_dchunk_free(struct hvt_dchunk *d)
{
    if (!d)
        return;
    if (d->m)
        hvtrace__v1__chunk__free_unpacked(d->m, &d->mem.a);
    d->m = NULL;
    free(d->cs);
    free(d->frames);
    d->cs = NULL;
    d->frames = NULL;
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

/* ---- cursor ----------------------------------------------------------------------------- */

void hvt_cursor_init(struct hvt_cursor *c, const struct hvt_dchunk *d)
{
    memset(c, 0, offsetof(struct hvt_cursor, vcpu_ids));
    memset(c->lin_ctx, 0, sizeof(c->lin_ctx));
    memset(c->phys_ctx, 0, sizeof(c->phys_ctx));
    c->d = d;
    c->prev_id = d->m->first_event_id;
}

static int next_is_lost(const struct hvt_cursor *c)
{
    return c->lost < c->d->n_lost && c->d->m->lost_at[c->lost] == c->rec;
}

int hvt_cursor_peek(const struct hvt_cursor *c, uint32_t *n_passes, size_t *n_accesses)
{
    if (c->rec >= c->d->n_records)
        return 0;
    if (next_is_lost(c))
        return HVT_REC_LOST;
    const Hvtrace__V1__Chunk *m = c->d->m;
    uint32_t np = m->ev_passes[c->ev];
    size_t na = 0;
    for (uint32_t k = 0; k < np; k++)
        na += m->pass_accesses[c->pass + k];
    *n_passes = np;
    *n_accesses = na;
    return HVT_REC_EVENT;
}

/* Applies the next state delta of S (at *pn, *pv) to the slot array OUT, which holds the base. */
static int apply_state(const struct hvt_dchunk *d, const Hvtrace__V1__States *s, size_t *pn,
                       size_t *pv, uint64_t *out, size_t rec, const char *what,
                       struct hvt_fmt_error_info *e)
{
    uint32_t n = s->count[(*pn)++];
    int64_t slot = -1;
    for (uint32_t k = 0; k < n; k++, (*pv)++) {
        uint32_t gap = s->slot_gap[*pv];
        slot += gap;
        if (gap == 0 || slot >= HVT_NSLOTS)
            return BAD(-HVT_E_BAD_RECORD, rec, "%s: slot gap %u leads to slot %" PRId64, what, gap,
                       slot);
        out[slot] += (uint64_t)s->value[*pv];
    }
    if (!(out[HVT_SLOT_FLAGS] & HVT_STATE_SIMD_VALID))
        memset(out + HVT_SLOT_SIMD, 0, (HVT_NSLOTS - HVT_SLOT_SIMD) * sizeof(uint64_t));
    return 0;
}

static int to_state(const struct hvt_dchunk *d, const uint64_t *slots, struct hvt_vcpu_state *st,
                    size_t rec, const char *what, struct hvt_fmt_error_info *e)
{
    int bad_slot = hvt_slots_to_state(slots, st);
    if (bad_slot >= 0)
        return BAD(-HVT_E_BAD_RECORD, rec, "%s: value 0x%" PRIx64 " does not fit slot %d", what,
                   slots[bad_slot], bad_slot);
    return 0;
}

static int decode_access(struct hvt_cursor *c, struct hvt_access *a, size_t rec,
                         struct hvt_fmt_error_info *e)
{
    const struct hvt_dchunk *d = c->d;
    const Hvtrace__V1__Chunk *m = d->m;
    size_t i = c->acc++;
    uint32_t kind = m->acc_kind[i], space = m->acc_space[i], seg = m->acc_seg[i],
             outc = m->acc_outcome[i], cls = m->acc_tag_class[i], op = m->acc_tag_operand[i],
             lvl = m->acc_tag_level[i], size = m->acc_size[i];
    if (kind >= HVT_ACC__COUNT || space >= HVT_SPACE__COUNT ||
        (seg > HVT_SEG_IDTR && seg != HVT_SEG_NONE) || outc >= HVT_OP__COUNT ||
        cls >= HVT_TAG__COUNT || op > 255 || lvl > HVT_WALK_PAE_PDPTE || size < 1 ||
        size > HVT_DATA_MAX)
        return BAD(-HVT_E_BAD_RECORD, rec,
                   "access %zu: field out of range (kind %u space %u seg %u outcome %u class %u "
                   "operand %u level %u size %u)",
                   i, kind, space, seg, outc, cls, op, lvl, size);
    memset(a, 0, sizeof(*a));
    a->kind = (uint8_t)kind;
    a->space = (uint8_t)space;
    a->seg = (uint8_t)seg;
    a->outcome = (uint8_t)outc;
    a->tag.cls = (uint8_t)cls;
    a->tag.operand = (uint8_t)op;
    a->tag.level = (uint8_t)lvl;
    a->tag.element = m->acc_tag_element[i];
    a->size = size;
    a->flags = m->acc_flags[i];
    unsigned ctx = cls * 8 + lvl;
    a->linear = c->lin_ctx[ctx] += (uint64_t)m->acc_linear_delta[i];
    a->phys = c->phys_ctx[ctx] += (uint64_t)m->acc_phys_delta[i];
    a->callsite = m->acc_callsite[i];
    if (m->acc_data.len - c->data_off < size)
        return BAD(-HVT_E_BAD_RECORD, rec, "access %zu: acc_data ends early", i);
    memcpy(a->data, m->acc_data.data + c->data_off, size);
    c->data_off += size;
    if (kind == HVT_ACC_CMPXCHG) {
        if (m->acc_cmpxchg.len - c->cx_off < 2 * (size_t)size)
            return BAD(-HVT_E_BAD_RECORD, rec, "access %zu: acc_cmpxchg ends early", i);
        memcpy(a->old, m->acc_cmpxchg.data + c->cx_off, size);
        memcpy(a->cur, m->acc_cmpxchg.data + c->cx_off + size, size);
        c->cx_off += 2 * (size_t)size;
    }
    return 0;
}

int hvt_cursor_next(struct hvt_cursor *c, struct hvt_event *ev, struct hvt_pass *passes,
                    struct hvt_access *accs, struct hvt_lost *lost, struct hvt_fmt_error_info *e)
{
    const struct hvt_dchunk *d = c->d;
    const Hvtrace__V1__Chunk *m = d->m;
    if (c->rec >= d->n_records)
        return 0;
    size_t rec = c->rec;
    if (next_is_lost(c)) {
        size_t j = c->lost++;
        memset(lost, 0, sizeof(*lost));
        lost->vcpu = m->lost_vcpu[j];
        lost->count = m->lost_count[j];
        lost->event_id = m->lost_event_id[j];
        lost->pass = m->lost_pass[j];
        lost->access = m->lost_access[j];
        c->rec++;
        return HVT_REC_LOST;
    }
    size_t i = c->ev++;
    memset(ev, 0, offsetof(struct hvt_event, init));
    ev->id = c->prev_id + m->ev_id_delta[i]; /* checked at unpack */
    c->prev_id = ev->id;
    ev->vcpu = m->ev_vcpu[i];
    ev->flags = m->ev_flags[i];
    c->prev_time += (uint64_t)m->ev_time_delta[i];
    ev->time_ns = c->prev_time;
    uint32_t il = m->ev_insn_len[i];
    if (il > HVT_INSN_MAX)
        return BAD(-HVT_E_BAD_RECORD, rec, "insn_len %u > %u", il, HVT_INSN_MAX);
    if (m->ev_insn.len - c->insn_off < il)
        return BAD(-HVT_E_BAD_RECORD, rec, "ev_insn ends early");
    ev->insn_len = (uint8_t)il;
    memset(ev->insn, 0, sizeof(ev->insn));
    if (il) /* ev_insn.data is NULL when no event of the chunk has instruction bytes */
        memcpy(ev->insn, m->ev_insn.data + c->insn_off, il);
    c->insn_off += il;

    /* init state: against the vCPU's previous init state in the chunk, or zero */
    uint64_t init[HVT_NSLOTS];
    int slot = -1;
    for (unsigned k = 0; k < c->n_vcpus; k++)
        if (c->vcpu_ids[k] == ev->vcpu) {
            slot = (int)k;
            break;
        }
    uint32_t base = m->ev_init_base[i];
    if (base > 1 || (base == 1 && slot < 0))
        return BAD(-HVT_E_BAD_RECORD, rec, "init state base %u not available for vCPU %u", base,
                   ev->vcpu);
    if (base == 1)
        memcpy(init, c->vcpu_slots[slot], sizeof(init));
    else
        memset(init, 0, sizeof(init));
    int rc = apply_state(d, m->ev_init, &c->si_n, &c->si_v, init, rec, "init state", e);
    if (rc < 0)
        return rc;
    rc = to_state(d, init, &ev->init, rec, "init state", e);
    if (rc < 0)
        return rc;
    if (slot < 0 && c->n_vcpus < HVT_MAX_VCPU_SLOTS) {
        slot = (int)c->n_vcpus++;
        c->vcpu_ids[slot] = ev->vcpu;
    }
    if (slot >= 0)
        memcpy(c->vcpu_slots[slot], init, sizeof(init));

    ev->n_passes = m->ev_passes[i];
    ev->passes = ev->n_passes ? passes : NULL;
    for (uint32_t k = 0; k < ev->n_passes; k++) {
        struct hvt_pass *ps = &passes[k];
        size_t p = c->pass++;
        memset(ps, 0, offsetof(struct hvt_pass, end));
        ps->index = m->pass_index[p];
        ps->lost = m->pass_lost[p];
        uint32_t kind = m->pass_kind[p], rcause = m->pass_retry_cause[p], vec = m->pass_vector[p],
                 fl = m->pass_flags[p];
        if (kind >= HVT_OUT__COUNT || rcause >= HVT_RETRY__COUNT || vec > 255 || fl > 255)
            return BAD(-HVT_E_BAD_RECORD, rec,
                       "pass %u: outcome out of range (kind %u cause %u vector %u flags %u)", k,
                       kind, rcause, vec, fl);
        ps->out.kind = (uint8_t)kind;
        ps->out.retry_cause = (uint8_t)rcause;
        ps->out.vector = (uint8_t)vec;
        ps->out.flags = (uint8_t)fl;
        ps->out.error_code = m->pass_error_code[p];
        ps->out.cr2 = m->pass_cr2[p];
        ps->out.iterations = m->pass_iterations[p];
        uint64_t end[HVT_NSLOTS];
        memcpy(end, init, sizeof(end));
        rc = apply_state(d, m->pass_end, &c->se_n, &c->se_v, end, rec, "pass end state", e);
        if (rc < 0)
            return rc;
        rc = to_state(d, end, &ps->end, rec, "pass end state", e);
        if (rc < 0)
            return rc;
        ps->n_accesses = m->pass_accesses[p];
        ps->accesses = ps->n_accesses ? accs : NULL;
        for (uint32_t a = 0; a < ps->n_accesses; a++) {
            rc = decode_access(c, accs++, rec, e);
            if (rc < 0)
                return rc;
        }
    }
    c->rec++;
    return HVT_REC_EVENT;
}

int hvt_cursor_finish(const struct hvt_cursor *c, struct hvt_fmt_error_info *e)
{
    const struct hvt_dchunk *d = c->d;
    const Hvtrace__V1__Chunk *m = d->m;
    if (c->insn_off != m->ev_insn.len || c->data_off != m->acc_data.len ||
        c->cx_off != m->acc_cmpxchg.len)
        return BAD(-HVT_E_BAD_RECORD, -1,
                   "byte columns not consumed exactly (insn %zu/%zu data %zu/%zu cmpxchg %zu/%zu)",
                   c->insn_off, m->ev_insn.len, c->data_off, m->acc_data.len, c->cx_off,
                   m->acc_cmpxchg.len);
    return 0;
}
