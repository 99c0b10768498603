/* SPDX-License-Identifier: MIT */
/* hvtrace format tests: chunk encoding 2 (format 2.0), access shapes and predictions.
 * - traces written by the format 1.2 writer read back, written again in encoding 2, and read
 *   back once more, field for field;
 * - a structured stream (page walks of 4- and 8-byte entries and large pages, split fetches,
 *   string copies, cmpxchg, faults, A/D updates, port I/O, more vCPUs than the predictor has
 *   slots, bytes past each size and past the instruction that are not zero) survives exactly,
 *   and the predictions do their work: a repeated pass costs one shape byte per access;
 * - malformed encoding 2 columns are refused with the column, shape or access named;
 * - the decoder's per-shape plans give what format/predict.h's functions (which the encoder
 *   runs) give: the same records and the same errors, on these streams, random events, and
 *   payloads whose access columns are mutated. */
#include "gen.h"

#include "chunkenc.h"
#include "decode.h"
#include "predict.h"

#ifndef HVT_LEGACY_DIR
#error "HVT_LEGACY_DIR: the directory of the traces of older format versions"
#endif

/* A copy of E with storage of its own (freed with gen_free). */
static struct hvt_event *event_copy(const struct hvt_event *e)
{
    struct hvt_event *c = calloc(1, sizeof(*c));
    *c = *e;
    c->passes = calloc(e->n_passes + 1, sizeof(*c->passes));
    for (uint32_t p = 0; p < e->n_passes; p++) {
        c->passes[p] = e->passes[p];
        c->passes[p].accesses = calloc(e->passes[p].n_accesses + 1, sizeof(struct hvt_access));
        memcpy(c->passes[p].accesses, e->passes[p].accesses,
               e->passes[p].n_accesses * sizeof(struct hvt_access));
    }
    return c;
}

/* Reads every event of PATH (copies, freed with gen_free). */
static size_t read_events(const char *path, struct hvt_event ***out, uint32_t *major)
{
    struct hvt_fmt_reader *r;
    CHECK_EQ(hvt_fmt_reader_open(&r, path, NULL), 0);
    if (major)
        *major = hvt_fmt_reader_header(r)->format_major;
    size_t n = 0, cap = 0;
    struct hvt_event **evs = NULL;
    struct hvt_record rec;
    int rc;
    while ((rc = hvt_fmt_reader_next(r, &rec)) == 1) {
        if (rec.type != HVT_REC_EVENT)
            continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 64;
            evs = realloc(evs, cap * sizeof(*evs));
        }
        evs[n++] = event_copy(rec.u.event);
    }
    CHECK_EQ(rc, 0);
    hvt_fmt_reader_close(r);
    *out = evs;
    return n;
}

/* Writes EVS to PATH with CHUNK_BYTES chunks, reads them back: every event equal. */
static void roundtrip(struct hvt_event **evs, size_t n, size_t chunk_bytes, const char *path)
{
    struct hvt_fmt_writer *w = gen_writer(path, chunk_bytes);
    for (size_t i = 0; i < n; i++)
        CHECK_EQ(hvt_fmt_writer_append(w, evs[i]), 0);
    CHECK_EQ(hvt_fmt_writer_close(w, NULL), 0);
    struct hvt_event **back;
    uint32_t major = 0;
    size_t m = read_events(path, &back, &major);
    CHECK_EQ(major, HVT_FMT_VERSION_MAJOR);
    CHECK_EQ(m, n);
    for (size_t i = 0; i < n && i < m; i++)
        if (!event_eq(back[i], evs[i])) {
            fprintf(stderr, "event %zu differs after the encoding 2 round trip\n", i);
            CHECK(0);
            break;
        }
    for (size_t i = 0; i < m; i++)
        gen_free(back[i]);
    free(back);
}

static void test_legacy_reencoded(void)
{
    static const char *const files[] = {"sample-1.2.hvt", "mixed-1.2.hvt"};
    char src[512], dst[256];
    tmp_path(dst, sizeof(dst), "enc2_legacy");
    for (size_t f = 0; f < sizeof(files) / sizeof(files[0]); f++) {
        snprintf(src, sizeof(src), "%s/%s", HVT_LEGACY_DIR, files[f]);
        struct hvt_event **evs;
        uint32_t major = 0;
        size_t n = read_events(src, &evs, &major);
        CHECK_EQ(major, 1);
        CHECK(n >= 12);
        roundtrip(evs, n, 4096, dst); /* small chunks: many chunk starts */
        roundtrip(evs, n, 1 << 20, dst);
        for (size_t i = 0; i < n; i++)
            gen_free(evs[i]);
        free(evs);
    }
    unlink(dst);
}

/* ---- a structured stream ------------------------------------------------------------------ */

static struct hvt_access *acc(struct hvt_pass *ps)
{
    struct hvt_access *a = &ps->accesses[ps->n_accesses++];
    memset(a, 0, sizeof(*a));
    /* bytes past each size are not zero: the reader returns zeros there */
    memset(a->data, 0xa5, sizeof(a->data));
    return a;
}

static void put(uint8_t *p, uint64_t v, unsigned n)
{
    for (unsigned i = 0; i < n; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

/* Where the walks below map LIN: a 4 KiB page (LEAF 1) or a 2 MiB one (LEAF 2). */
static uint64_t xlate(uint64_t lin, int leaf)
{
    uint64_t mask = leaf == 1 ? 0xfff : 0x1fffff;
    return ((lin & ~mask) & 0xffffffffffull) + 0x4000000 + (lin & mask);
}

/* A walk of LIN from CR3: LEVELS levels of SIZE-byte entries; the leaf at level LEAF (a large
 * page when above 1). */
static void walk(struct hvt_pass *ps, uint64_t cr3, uint64_t lin, int levels, unsigned size,
                 int leaf)
{
    unsigned bits = size == 8 ? 9 : 10;
    uint64_t table = cr3 & (size == 8 ? 0x000ffffffffff000ull : 0xfffff000ull);
    for (int l = levels; l >= leaf; l--) {
        struct hvt_access *a = acc(ps);
        a->kind = HVT_ACC_READ;
        a->space = HVT_SPACE_RAM;
        a->seg = HVT_SEG_NONE;
        a->tag.cls = HVT_TAG_WALK;
        a->tag.level = (uint8_t)l;
        a->size = size;
        a->linear = lin;
        a->phys = table + ((lin >> (12 + bits * (unsigned)(l - 1))) & ((1u << bits) - 1)) * size;
        uint64_t next = l > leaf ? 0x200000 + (uint64_t)l * 0x1000 : xlate(lin, leaf) & ~0xfffull;
        uint64_t e = next | 0x63 | (l == leaf && leaf > 1 ? 0x80 : 0);
        put(a->data, e, size);
        table = next;
    }
}

static struct hvt_pass passes[4];
static struct hvt_access accs[4][64];

static void gen_structured(struct hvt_event *ev, uint64_t id, unsigned k)
{
    memset(ev, 0, sizeof(*ev));
    memset(passes, 0, sizeof(passes));
    ev->id = id;
    ev->vcpu = (k * 7) % 70; /* more vCPUs than slots */
    ev->time_ns = id * 1000;
    ev->init.rip = 0xffffffff81000000ull + (k % 5) * 0x10 + (k & 1) * 0xff8;
    ev->init.cr3 = 0x100000 + (ev->vcpu % 3) * 0x10000;
    ev->init.seg[HVT_SEG_CS].base = k % 9 == 0 ? 0x1000 : 0;
    ev->insn_len = (uint8_t)(1 + k % HVT_INSN_MAX);
    memset(ev->insn, 0x5a, sizeof(ev->insn)); /* past insn_len: not zero */
    for (unsigned i = 0; i < ev->insn_len; i++)
        ev->insn[i] = (uint8_t)(0x40 + i + k);
    unsigned kind = k % 8;
    ev->n_passes = kind == 7 ? 0 : 1 + (k % 3 == 0);
    ev->passes = passes;
    for (uint32_t p = 0; p < ev->n_passes; p++) {
        struct hvt_pass *ps = &passes[p];
        ps->index = p;
        ps->accesses = accs[p];
        ps->end = ev->init;
        int four = kind == 3, levels = four ? 2 : k % 11 == 0 ? 5 : 4;
        unsigned esz = four ? 4 : 8;
        uint64_t rip = ev->init.seg[HVT_SEG_CS].base + ev->init.rip;
        walk(ps, ev->init.cr3, rip, levels, esz, 1);
        /* the fetch: the instruction, or more (up to 15 bytes), split at a page end */
        unsigned flen = kind == 1 ? 15 : ev->insn_len;
        unsigned first = (rip & 0xfff) + flen > 0x1000 ? (unsigned)(0x1000 - (rip & 0xfff)) : flen;
        for (unsigned off = 0; off < flen;) {
            unsigned n = off ? flen - off : first;
            if (off)
                walk(ps, ev->init.cr3, rip + off, levels, esz, 1);
            struct hvt_access *a = acc(ps);
            a->kind = HVT_ACC_FETCH;
            a->space = HVT_SPACE_RAM;
            a->seg = HVT_SEG_CS;
            a->tag.cls = HVT_TAG_FETCH;
            a->size = n;
            a->flags = HVT_AF_LINEAR_VALID | (n < flen ? HVT_AF_SPLIT : 0);
            a->linear = rip + off;
            a->phys = xlate(rip + off, 1);
            for (unsigned i = 0; i < n; i++)
                a->data[i] = off + i < ev->insn_len ? ev->insn[off + i] : (uint8_t)(0x90 + i);
            off += n;
        }
        if (kind == 0 || kind == 1) { /* a string copy: reads and writes, elements */
            uint64_t src = 0x7f0000001000ull + k * 64, dst = src + 0x20000;
            int leaf = k % 4 == 0 ? 2 : 1;
            walk(ps, ev->init.cr3, src, levels, esz, leaf);
            for (uint32_t i = 0; i < 6; i++)
                for (int wr = 0; wr < 2; wr++) {
                    struct hvt_access *a = acc(ps);
                    a->kind = wr ? HVT_ACC_WRITE : HVT_ACC_READ;
                    a->space = HVT_SPACE_RAM;
                    a->seg = wr ? HVT_SEG_ES : HVT_SEG_DS;
                    a->tag.cls = HVT_TAG_DATA;
                    a->tag.operand = (uint8_t)wr;
                    a->tag.element = i;
                    a->size = 8;
                    a->flags = HVT_AF_LINEAR_VALID;
                    a->linear = (wr ? dst : src) + 8 * i;
                    a->phys = xlate(a->linear, leaf);
                    put(a->data, wr ? 0 : id * 31 + i, 8);
                    if (wr)
                        memcpy(a->data, ps->accesses[ps->n_accesses - 2].data, 8);
                }
            ps->out.iterations = 6;
        } else if (kind == 2) { /* cmpxchg, failed on the second pass */
            struct hvt_access *a = acc(ps);
            a->kind = HVT_ACC_CMPXCHG;
            a->space = HVT_SPACE_RAM;
            a->seg = HVT_SEG_DS;
            a->tag.cls = HVT_TAG_DATA;
            a->size = 8;
            a->flags = HVT_AF_LINEAR_VALID | HVT_AF_LOCKED;
            a->linear = 0x7f0000400000ull;
            a->phys = 0x9000000;
            a->outcome = p ? HVT_OP_CMPXCHG_FAILED : HVT_OP_OKAY;
            put(a->data, id, 8);
            put(a->old, id - 1, 8);
            put(a->cur, p ? id + 7 : id - 1, 8);
        } else if (kind == 4) { /* unserved: no data, and (second pass) data left nonzero */
            struct hvt_access *a = acc(ps);
            a->kind = HVT_ACC_READ;
            a->space = HVT_SPACE_RAM;
            a->seg = HVT_SEG_SS;
            a->tag.cls = HVT_TAG_STACK;
            a->size = 8;
            a->flags = HVT_AF_LINEAR_VALID;
            a->linear = 0xffffc90000000ff8ull;
            a->phys = 0xa000ff8;
            a->outcome = HVT_OP_UNHANDLEABLE;
            if (!p)
                memset(a->data, 0, 8);
            ps->out.kind = HVT_OUT_UNHANDLEABLE;
        } else if (kind == 5) { /* A/D updates after the walk */
            for (int l = 2; l >= 1; l--) {
                struct hvt_access *a = acc(ps);
                a->kind = HVT_ACC_WRITE;
                a->space = HVT_SPACE_RAM;
                a->seg = HVT_SEG_NONE;
                a->tag.cls = HVT_TAG_AD;
                a->tag.level = (uint8_t)l;
                a->size = 8;
                a->linear = rip;
                a->phys = ps->accesses[levels - l].phys;
                put(a->data, 0x20 | 0x40, 8);
            }
        } else if (kind == 6) { /* port I/O and an MMIO retry */
            struct hvt_access *a = acc(ps);
            a->kind = p ? HVT_ACC_IO_IN : HVT_ACC_IO_OUT;
            a->space = HVT_SPACE_PORT;
            a->seg = HVT_SEG_NONE;
            a->tag.cls = HVT_TAG_IO;
            a->size = 1 + k % 4;
            a->phys = 0x3f8 + k % 2;
            put(a->data, k, a->size);
            a = acc(ps);
            a->kind = HVT_ACC_READ;
            a->space = HVT_SPACE_MMIO;
            a->seg = HVT_SEG_DS;
            a->tag.cls = HVT_TAG_DATA;
            a->size = 4;
            a->flags = HVT_AF_LINEAR_VALID;
            a->linear = 0xfee00020;
            a->phys = 0xfee00020;
            a->outcome = p ? HVT_OP_OKAY : HVT_OP_RETRY;
            a->callsite = 1 + k % 3;
            if (p)
                put(a->data, k * 3, 4);
            else
                memset(a->data, 0, 4);
        }
        if (!ps->out.kind && p + 1 < ev->n_passes) {
            ps->out.kind = HVT_OUT_RETRY;
            ps->out.retry_cause = HVT_RETRY_MMIO;
        }
        if (ps->out.kind == HVT_OUT_OKAY) {
            ps->end.rip += k % 13 == 0 ? 0x40 : ev->insn_len; /* a jump, or the next insn */
            ps->end.gpr[HVT_RAX] = id;
        }
    }
}

enum { N_STRUCTURED = 3000 };

/* The structured stream's N_STRUCTURED events (copies, freed with gen_free). */
static struct hvt_event **structured_events(void)
{
    static struct hvt_event *evs[N_STRUCTURED];
    for (unsigned k = 0; k < N_STRUCTURED; k++) {
        struct hvt_event tmp;
        gen_structured(&tmp, k + 1, k);
        evs[k] = event_copy(&tmp);
    }
    return evs;
}

static void test_structured(void)
{
    enum { N = N_STRUCTURED };
    struct hvt_event **evs = structured_events();
    char path[256];
    tmp_path(path, sizeof(path), "enc2_struct");
    roundtrip(evs, N, 2048, path);
    roundtrip(evs, N, 1 << 18, path);
    unlink(path);
    for (unsigned k = 0; k < N; k++)
        gen_free(evs[k]);
}

/* The same pass twice in one event (a re-execution after RETRY): the second costs one shape
 * byte per access and nothing in the other columns: its elements, addresses and data all come
 * out of the predictions. */
static void test_repeat_is_free(void)
{
    struct hvt_event ev;
    gen_structured(&ev, 9, 1); /* a 15-byte fetch and a string copy */
    CHECK_EQ(ev.n_passes, 1);
    passes[1] = passes[0];
    passes[1].index = 1;
    passes[1].accesses = accs[1];
    memcpy(accs[1], accs[0], passes[0].n_accesses * sizeof(accs[0][0]));
    passes[0].out.kind = HVT_OUT_RETRY;
    passes[0].out.retry_cause = HVT_RETRY_MMIO;
    static struct hvt_chunkenc c1, c2;
    char msg[256];
    CHECK_EQ(hvt_chunkenc_event(&c1, &ev, msg, sizeof(msg)), 0); /* one pass */
    ev.n_passes = 2;
    CHECK_EQ(hvt_chunkenc_event(&c2, &ev, msg, sizeof(msg)), 0); /* the same pass twice */
    for (int f = 0; f < F2_N; f++) {
        if (f == F2_ACC_SHAPE - F2_FIRST) {
            CHECK_EQ(c2.col2[f].n, 2 * c1.col2[f].n);
            continue;
        }
        if (c2.col2[f].n != c1.col2[f].n)
            fprintf(stderr, "column %d: %zu bytes for one pass, %zu for two\n", F2_FIRST + f,
                    c1.col2[f].n, c2.col2[f].n);
        CHECK_EQ(c2.col2[f].n, c1.col2[f].n);
    }
    hvt_chunkenc_free(&c1);
    hvt_chunkenc_free(&c2);
}

/* ---- malformed columns ------------------------------------------------------------------- */

struct wbuf {
    uint8_t p[1 << 16];
    size_t n;
};

static void wvarint(struct wbuf *b, uint64_t v)
{
    b->n = (size_t)(hvt_pb_varint(b->p + b->n, v) - b->p);
}

/* PAYLOAD with field FIELD replaced by REPL (LEN bytes; NULL: the field dropped), or with
 * REPL appended as field FIELD when the payload has none. */
static size_t rewrite(const uint8_t *payload, size_t n, unsigned field, const uint8_t *repl,
                      size_t len, struct wbuf *out)
{
    out->n = 0;
    size_t i = 0;
    int done = 0;
    while (i < n) {
        size_t start = i;
        uint64_t tag = 0, v = 0;
        for (unsigned s = 0;; s += 7) {
            tag |= (uint64_t)(payload[i] & 0x7f) << s;
            if (!(payload[i++] & 0x80))
                break;
        }
        size_t body = i;
        if ((tag & 7) == 0) {
            while (payload[i++] & 0x80)
                ;
        } else {
            for (unsigned s = 0;; s += 7) {
                v |= (uint64_t)(payload[i] & 0x7f) << s;
                if (!(payload[i++] & 0x80))
                    break;
            }
            body = i;
            i += v;
        }
        (void)body;
        if ((tag >> 3) == field && (tag & 7) == 2) {
            done = 1;
            if (!repl)
                continue;
            wvarint(out, (uint64_t)field << 3 | 2);
            wvarint(out, len);
            memcpy(out->p + out->n, repl, len);
            out->n += len;
            continue;
        }
        memcpy(out->p + out->n, payload + start, i - start);
        out->n += i - start;
    }
    if (!done && repl) {
        wvarint(out, (uint64_t)field << 3 | 2);
        wvarint(out, len);
        memcpy(out->p + out->n, repl, len);
        out->n += len;
    }
    return out->n;
}

/* The bytes of column FIELD of PAYLOAD (NULL when absent). */
static const uint8_t *column(const uint8_t *payload, size_t n, unsigned field, size_t *len)
{
    size_t i = 0;
    while (i < n) {
        uint64_t tag = 0, v = 0;
        for (unsigned s = 0;; s += 7) {
            tag |= (uint64_t)(payload[i] & 0x7f) << s;
            if (!(payload[i++] & 0x80))
                break;
        }
        if ((tag & 7) == 0) {
            while (payload[i++] & 0x80)
                ;
            continue;
        }
        for (unsigned s = 0;; s += 7) {
            v |= (uint64_t)(payload[i] & 0x7f) << s;
            if (!(payload[i++] & 0x80))
                break;
        }
        if ((tag >> 3) == field) {
            *len = (size_t)v;
            return payload + i;
        }
        i += v;
    }
    return NULL;
}

/* Decodes the payload P of N bytes (header H) twice: with the decoder's per-shape plans and
 * with format/predict.h's functions. Both must give the same result, the same error (code,
 * record, message) and the same records, byte for byte. The decoders' storage is kept from
 * call to call (as the reader keeps it from chunk to chunk) until FREE_ALL. Returns the
 * result, the error in *E. */
static int decode_both(const uint8_t *p, size_t n, const struct hvt_chunk_hdr *h,
                       struct hvt_fmt_error_info *e, int free_all)
{
    static struct hvt_dchunk d[2];
    if (free_all) {
        hvt_dchunk_free(&d[0]);
        hvt_dchunk_free(&d[1]);
        return 0;
    }
    uint8_t *raw = calloc(1, n + HVT_DCHUNK_PAD);
    memcpy(raw, p, n);
    struct hvt_fmt_error_info ee[2];
    int rc[2];
    for (int k = 0; k < 2; k++) {
        memset(&ee[k], 0, sizeof(ee[k]));
        d[k].chunk = 7;
        d[k].reference_predictor = k;
        rc[k] = hvt_dchunk_decode(&d[k], raw, n, h, HVT_FMT_MAX_CHUNK_MEM, &ee[k]);
    }
    free(raw);
    CHECK_EQ(rc[0], rc[1]);
    CHECK_EQ(ee[0].record, ee[1].record);
    if (strcmp(ee[0].message, ee[1].message))
        fprintf(stderr, "plans: \"%s\"\npredict.h: \"%s\"\n", ee[0].message, ee[1].message);
    CHECK(strcmp(ee[0].message, ee[1].message) == 0);
    CHECK_EQ(d[0].n_records, d[1].n_records);
    CHECK_EQ(d[0].n_accesses, d[1].n_accesses);
    if (d[0].n_accesses == d[1].n_accesses && d[0].n_accesses &&
        memcmp(d[0].accs, d[1].accs, d[0].n_accesses * sizeof(*d[0].accs))) {
        size_t i = 0;
        while (memcmp(&d[0].accs[i], &d[1].accs[i], sizeof(*d[0].accs)))
            i++;
        fprintf(stderr, "access %zu of the chunk differs between the plans and predict.h\n", i);
        CHECK(0);
    }
    *e = ee[0];
    return rc[0];
}

static int decode_v2(const uint8_t *p, size_t n, uint32_t n_events, uint64_t first, uint64_t last,
                     struct hvt_fmt_error_info *e)
{
    struct hvt_chunk_hdr h = {.first_event_id = first,
                              .last_event_id = last,
                              .n_events = n_events,
                              .n_records = n_events,
                              .version = HVT_CHUNK_ENC_2};
    return decode_both(p, n, &h, e, 0);
}

static void expect_bad(const uint8_t *p, size_t n, const char *frag)
{
    struct hvt_fmt_error_info e;
    int rc = decode_v2(p, n, 3, 1, 3, &e);
    if (rc != -HVT_E_BAD_RECORD || !strstr(e.message, frag))
        fprintf(stderr, "expected BAD_RECORD with \"%s\", got %d \"%s\"\n", frag, rc, e.message);
    CHECK_EQ(rc, -HVT_E_BAD_RECORD);
    CHECK(strstr(e.message, frag) != NULL);
    CHECK_EQ(e.chunk, 7);
}

static void test_malformed(void)
{
    /* three events: a string copy, a cmpxchg, a fetch longer than the instruction */
    static struct hvt_chunkenc c;
    char msg[256];
    static struct hvt_pass keep[3][4];
    static struct hvt_access keep_acc[3][4][64];
    static const unsigned ks[3] = {0, 2, 1};
    for (int i = 0; i < 3; i++) {
        struct hvt_event ev;
        gen_structured(&ev, (uint64_t)i + 1, ks[i]);
        for (uint32_t p = 0; p < ev.n_passes; p++) {
            keep[i][p] = passes[p];
            memcpy(keep_acc[i][p], accs[p], sizeof(accs[p]));
            keep[i][p].accesses = keep_acc[i][p];
        }
        ev.passes = keep[i];
        CHECK_EQ(hvt_chunkenc_event(&c, &ev, msg, sizeof(msg)), 0);
    }
    uint8_t *buf = NULL;
    size_t cap = 0;
    int64_t n = hvt_chunkenc_finish(&c, NULL, 0, &buf, &cap);
    CHECK(n > 0);
    struct hvt_fmt_error_info e;
    CHECK_EQ(decode_v2(buf, (size_t)n, 3, 1, 3, &e), 0);

    struct wbuf *w = malloc(sizeof(*w));
    size_t len, slen;
    const uint8_t *col = column(buf, (size_t)n, F2_ACC_SHAPE, &len);
    const uint8_t *shp = column(buf, (size_t)n, F2_ACC_SHAPES, &slen);
    CHECK(col && len > 2 && shp && slen > HVT_SHAPE_FIELDS);
    uint8_t *t = malloc(len + slen + 64);

    /* a shape index past the table */
    memcpy(t, col, len);
    t[1] = 0x7f;
    rewrite(buf, (size_t)n, F2_ACC_SHAPE, t, len, w);
    expect_bad(w->p, w->n, "shape 127 not defined");

    /* a shape whose kind is out of range (the first field of shape 0) */
    memcpy(t, shp, slen);
    t[0] = 0x63;
    rewrite(buf, (size_t)n, F2_ACC_SHAPES, t, slen, w);
    expect_bad(w->p, w->n, "shape 0: field out of range (kind 99");

    /* a table that is not whole shapes */
    rewrite(buf, (size_t)n, F2_ACC_SHAPES, shp, slen - 1, w);
    expect_bad(w->p, w->n, "not a multiple of 11");

    /* shape bits past the known ones (the last field of shape 0) */
    memcpy(t, shp, slen);
    {
        size_t at = 0;
        for (int k = 0; k < HVT_SHAPE_FIELDS - 1; k++)
            while (t[at++] & 0x80)
                ;
        t[at] = 0x10;
    }
    rewrite(buf, (size_t)n, F2_ACC_SHAPES, t, slen, w);
    expect_bad(w->p, w->n, "bits 16");

    /* the data column one byte short, one byte long */
    col = column(buf, (size_t)n, F2_ACC_BYTES, &len);
    CHECK(col && len > 8);
    rewrite(buf, (size_t)n, F2_ACC_BYTES, col, len - 1, w);
    expect_bad(w->p, w->n, "acc_bytes");
    memcpy(t, col, len);
    t[len] = 0;
    rewrite(buf, (size_t)n, F2_ACC_BYTES, t, len + 1, w);
    expect_bad(w->p, w->n, "column acc_bytes not consumed exactly");

    /* a residual column dropped: the accesses that need it find it empty */
    rewrite(buf, (size_t)n, F2_ACC_PHYS, NULL, 0, w);
    expect_bad(w->p, w->n, "column acc_phys ends early");
    rewrite(buf, (size_t)n, F2_ACC_ELEMENT, NULL, 0, w);
    expect_bad(w->p, w->n, "column acc_element ends early");

    /* the shape column short: the passes' access counts run past it */
    col = column(buf, (size_t)n, F2_ACC_SHAPE, &len);
    rewrite(buf, (size_t)n, F2_ACC_SHAPE, col, len - 1, w);
    expect_bad(w->p, w->n, "the access columns end early");

    /* every data byte predicted (the data bit cleared in every shape): the first access that
     * nothing predicts is named */
    memcpy(t, shp, slen);
    {
        size_t at = 0;
        while (at < slen) {
            for (int k = 0; k < HVT_SHAPE_FIELDS - 1; k++)
                while (t[at++] & 0x80)
                    ;
            t[at++] &= (uint8_t)~HVT_SHAPE_DATA;
        }
    }
    {
        static struct wbuf w2;
        rewrite(buf, (size_t)n, F2_ACC_SHAPES, t, slen, w);
        rewrite(w->p, w->n, F2_ACC_BYTES, NULL, 0, &w2);
        expect_bad(w2.p, w2.n, "says the data is predicted, but nothing predicts it");
    }

    /* a per-field access column of encoding 1 in a chunk of encoding 2 */
    static const uint8_t one[] = {1};
    rewrite(buf, (size_t)n, F_ACC_SIZE, one, 1, w);
    expect_bad(w->p, w->n, "column acc_size in a chunk of encoding 2");

    free(t);
    free(w);
    free(buf);
    hvt_chunkenc_free(&c);
}

/* ---- the decoder's plans against format/predict.h ----------------------------------------- */

/* Encodes EVS[0..N) in chunks of PER events and decodes each both ways (decode_both); each
 * chunk's payload also with M mutations of its access columns (bytes of acc_shape, acc_element,
 * acc_linear, acc_phys, acc_bytes, acc_cmpxchg changed in place): valid or not, both ways must
 * agree. Returns how many mutated payloads decoded without error. */
static size_t plans_vs_reference(struct hvt_event **evs, size_t n, size_t per, unsigned m)
{
    static struct hvt_chunkenc c;
    static const unsigned cols[] = {F2_ACC_SHAPE, F2_ACC_ELEMENT, F2_ACC_LINEAR,
                                    F2_ACC_PHYS,  F2_ACC_BYTES,   F_ACC_CMPXCHG};
    char msg[256];
    uint8_t *buf = NULL;
    size_t cap = 0, good = 0;
    for (size_t i0 = 0; i0 < n; i0 += per) {
        size_t i1 = n - i0 < per ? n : i0 + per;
        hvt_chunkenc_reset(&c);
        for (size_t i = i0; i < i1; i++)
            CHECK_EQ(hvt_chunkenc_event(&c, evs[i], msg, sizeof(msg)), 0);
        int64_t len = hvt_chunkenc_finish(&c, NULL, 0, &buf, &cap);
        CHECK(len > 0);
        struct hvt_chunk_hdr h = {.first_event_id = evs[i0]->id,
                                  .last_event_id = evs[i1 - 1]->id,
                                  .n_events = (uint32_t)(i1 - i0),
                                  .n_records = (uint32_t)(i1 - i0),
                                  .version = HVT_CHUNK_ENC_2};
        struct hvt_fmt_error_info e;
        CHECK_EQ(decode_both(buf, (size_t)len, &h, &e, 0), 0);
        uint8_t *t = malloc((size_t)len);
        for (unsigned k = 0; k < m; k++) {
            size_t clen;
            const uint8_t *col = column(buf, (size_t)len, cols[rndn(6)], &clen);
            if (!col || !clen)
                continue;
            memcpy(t, buf, (size_t)len);
            size_t at = (size_t)(col - buf);
            for (unsigned f = 0, nf = 1 + (unsigned)rndn(3); f < nf; f++) {
                size_t j = at + rndn(clen);
                /* small changes keep the varints' lengths and the columns valid more often */
                t[j] = rndn(2) ? (uint8_t)(t[j] ^ (1u << rndn(7))) : (uint8_t)rnd();
            }
            good += decode_both(t, (size_t)len, &h, &e, 0) == 0;
        }
        free(t);
    }
    free(buf);
    hvt_chunkenc_free(&c);
    return good;
}

static void test_plans_match_reference(void)
{
    /* the structured stream */
    enum { N = N_STRUCTURED };
    struct hvt_event **evs = structured_events();
    size_t good = plans_vs_reference(evs, N, 250, 300);
    plans_vs_reference(evs, N, N, 0);
    for (unsigned k = 0; k < N; k++)
        gen_free(evs[k]);
    /* mutations that still decode: predictions made from changed values */
    CHECK(good > 100);

    /* recorded traces (the legacy ones: the simulated host's scenarios) */
    static const char *const files[] = {"sample-1.2.hvt", "mixed-1.2.hvt"};
    char src[512];
    for (size_t f = 0; f < sizeof(files) / sizeof(files[0]); f++) {
        snprintf(src, sizeof(src), "%s/%s", HVT_LEGACY_DIR, files[f]);
        struct hvt_event **rec;
        size_t n = read_events(src, &rec, NULL);
        CHECK(n >= 12);
        plans_vs_reference(rec, n, 200, 200);
        for (size_t i = 0; i < n; i++)
            gen_free(rec[i]);
        free(rec);
    }

    /* random events: every value, most predictions wrong */
    static struct hvt_event *rnd_evs[400];
    const struct hvt_event *last[4] = {NULL, NULL, NULL, NULL};
    for (unsigned k = 0; k < 400; k++) {
        uint32_t vcpu = (uint32_t)rndn(4);
        rnd_evs[k] = gen_event(k + 1, last[vcpu], vcpu);
        last[vcpu] = rnd_evs[k];
    }
    plans_vs_reference(rnd_evs, 400, 100, 200);
    for (unsigned k = 0; k < 400; k++)
        gen_free(rnd_evs[k]);
    struct hvt_fmt_error_info e;
    decode_both(NULL, 0, NULL, &e, 1);
}

int main(void)
{
    RUN(test_legacy_reencoded);
    RUN(test_structured);
    RUN(test_repeat_is_free);
    RUN(test_malformed);
    RUN(test_plans_match_reference);
    TEST_DONE();
}
