/* SPDX-License-Identifier: MIT */
/* Hostile inputs: bounded decode memory, bounded scanning time, the index checked against the
 * chunks, outputs that never overwrite their input or follow a symbolic link. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zstd.h>

#include "chunkenc.h" /* Chunk field numbers, hvt_pb_varint */
#include "crc32c.h"
#include "decode.h"
#include "hvt_test.h"
#include "internal.h"
#include "layout.h"
#include "trace.pb-c.h"

static char dir[256];

static const char *tmp(const char *name)
{
    static char p[4][512];
    static int k;
    k = (k + 1) % 4;
    snprintf(p[k], sizeof(p[k]), "%s/%s", dir, name);
    return p[k];
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint8_t *load(const char *p, size_t *len)
{
    FILE *f = fopen(p, "rb");
    CHECK(f != NULL);
    fseek(f, 0, SEEK_END);
    *len = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *b = malloc(*len + 1);
    CHECK_EQ(fread(b, 1, *len, f), *len);
    fclose(f);
    return b;
}

static void save(const char *p, const uint8_t *b, size_t len)
{
    FILE *f = fopen(p, "wb");
    CHECK(f != NULL);
    CHECK_EQ(fwrite(b, 1, len, f), len);
    fclose(f);
}

/* A trace of N small events (one pass, two accesses each) in chunks of CHUNK raw bytes;
 * with CALLSITES, the accesses name call sites of up to 20 frames. */
static void write_trace_cs(const char *p, int n, size_t chunk, int callsites)
{
    struct hvt_fmt_writer_options o;
    struct hvt_fmt_writer *w;
    static struct hvt_event ev;
    static struct hvt_pass ps;
    static struct hvt_access acc[2];
    hvt_fmt_writer_options_init(&o);
    o.chunk_bytes = chunk;
    o.flags = HVT_FMT_W_OVERWRITE;
    CHECK_EQ(hvt_fmt_writer_open(&w, p, NULL, &o), 0);
    static struct hvt_frame fr[20];
    for (uint32_t id = 1; callsites && id <= 20; id++) {
        for (uint32_t f = 0; f < id; f++)
            fr[f] = (struct hvt_frame){.ip = 0x400000 + f, .offset = f, .function = "fn",
                                       .module = f & 1 ? "mod" : NULL};
        struct hvt_callsite cs = {.id = id, .n_frames = id, .frames = fr};
        CHECK_EQ(hvt_fmt_writer_add_callsite(w, &cs), 0);
    }
    for (int i = 0; i < n; i++) {
        memset(&ev, 0, sizeof(ev));
        memset(&ps, 0, sizeof(ps));
        memset(acc, 0, sizeof(acc));
        ev.id = (uint64_t)i;
        ev.vcpu = (uint32_t)(i & 1);
        ev.init.rip = 0x1000 + (uint64_t)i;
        ev.n_passes = 1;
        ev.passes = &ps;
        ps.end = ev.init;
        ps.end.rip += 3;
        ps.n_accesses = 2;
        ps.accesses = acc;
        for (int a = 0; a < 2; a++) {
            acc[a].kind = HVT_ACC_READ;
            acc[a].seg = HVT_SEG_NONE;
            acc[a].size = 8;
            acc[a].phys = 0x2000 + 8 * (uint64_t)(i + a);
            acc[a].data[0] = (uint8_t)i;
            acc[a].callsite = callsites ? 1 + (uint32_t)(i + a) % 20 : 0;
        }
        CHECK_EQ(hvt_fmt_writer_append(w, &ev), 0);
    }
    CHECK_EQ(hvt_fmt_writer_close(w, NULL), 0);
}

static void write_trace(const char *p, int n, size_t chunk)
{
    write_trace_cs(p, n, chunk, 0);
}

/* The file header and Header message of a trace (its data_start bytes). */
static uint8_t *trace_prefix(size_t *len)
{
    const char *p = tmp("prefix.hvt");
    write_trace(p, 0, 0);
    size_t n;
    uint8_t *b = load(p, &n);
    *len = HVT_FILE_HDR_SIZE + hvt_get32(b + 16);
    CHECK(*len <= n);
    return b;
}

/* Appends to the file FD a chunk whose payload is RAW (compressed here), with header counts. */
static void append_chunk(int fd, const uint8_t *raw, size_t raw_len, uint32_t n_events,
                         uint32_t n_records, uint64_t first, uint64_t last)
{
    size_t bound = ZSTD_compressBound(raw_len);
    uint8_t *c = malloc(HVT_CHUNK_HDR_SIZE + bound);
    size_t cs = ZSTD_compress(c + HVT_CHUNK_HDR_SIZE, bound, raw, raw_len, 1);
    CHECK(!ZSTD_isError(cs));
    struct hvt_chunk_hdr h = {.compressed_size = (uint32_t)cs,
                              .raw_size = (uint32_t)raw_len,
                              .first_event_id = first,
                              .n_events = n_events,
                              .n_records = n_records,
                              .last_event_id = last};
    memcpy(h.magic, HVT_CHUNK_MAGIC, 4);
    h.payload_crc = hvt_crc32c(0, c + HVT_CHUNK_HDR_SIZE, cs);
    hvt_chunk_hdr_encode(c, &h);
    CHECK_EQ(write(fd, c, HVT_CHUNK_HDR_SIZE + cs), (ssize_t)(HVT_CHUNK_HDR_SIZE + cs));
    free(c);
}

/* A chunk payload holding one packed column (field F) of N one-byte varints. */
static uint8_t *one_column(unsigned f, size_t n, size_t *len)
{
    uint8_t *b = calloc(1, n + 16), *p = b;
    p = hvt_pb_varint(p, (uint64_t)f << 3 | 2);
    p = hvt_pb_varint(p, n);
    memset(p, 1, n);
    *len = (size_t)(p - b) + n;
    return b;
}

static size_t decode_peak(const char *p, unsigned flags, int whole, int *rc)
{
    struct hvt_fmt_reader_options o;
    struct hvt_fmt_reader *r = NULL;
    struct hvt_record rec;
    hvt_fmt_reader_options_init(&o);
    o.flags = flags;
    CHECK_EQ(hvt_fmt_reader_open(&r, p, &o), 0);
    if (whole) {
        struct hvt_fmt_chunk *c = NULL;
        *rc = hvt_fmt_reader_load_chunk(r, 0, &c);
        hvt_fmt_chunk_free(c);
    } else {
        *rc = hvt_fmt_reader_next(r, &rec);
    }
    if (*rc < 0)
        fprintf(stderr, "  (refused: %s)\n", hvt_fmt_reader_error(r)->message);
    size_t peak = hvt_fmt_reader_diag(r)->decode_peak;
    hvt_fmt_reader_close(r);
    return peak;
}

/* One chunk that declares 64 MiB raw and holds one packed column of one-byte varints: refused
 * before protobuf-c unpacks it (which took 8 bytes per varint: 500+ MB). */
static void test_decode_memory_bounded(void)
{
    size_t plen, raw_len;
    uint8_t *prefix = trace_prefix(&plen);
    size_t n = (64u << 20) - 16;
    static const struct {
        unsigned field;
        uint32_t n_events;
        int code;
    } cases[] = {
        {F_ACC_LINEAR_DELTA, 0, -HVT_E_LIMIT},  /* not fixed by the header: the budget */
        {F_EV_TIME_DELTA, 1, -HVT_E_BAD_RECORD}, /* fixed by the header: its count */
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        uint8_t *raw = one_column(cases[i].field, n, &raw_len);
        if (cases[i].n_events) { /* the one event's id delta */
            uint8_t *p = raw + raw_len;
            p = hvt_pb_varint(p, F_EV_ID_DELTA << 3 | 2);
            p = hvt_pb_varint(p, 1);
            *p++ = 0;
            raw_len = (size_t)(p - raw);
        }
        const char *path = tmp("amplify.hvt");
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        CHECK(fd >= 0);
        CHECK_EQ(write(fd, prefix, plen), (ssize_t)plen);
        append_chunk(fd, raw, raw_len, cases[i].n_events, cases[i].n_events,
                     cases[i].n_events ? 0 : HVT_NO_EVENT, cases[i].n_events ? 0 : HVT_NO_EVENT);
        close(fd);
        free(raw);
        for (int whole = 0; whole < 2; whole++) {
            int rc;
            size_t peak = decode_peak(path, 0, whole, &rc);
            CHECK_EQ(rc, cases[i].code);
            /* the raw buffer (64 MiB) and the compressed one: nothing unpacked */
            CHECK(peak < (72u << 20));
        }
        /* what dump and verify do: the chunk is reported and skipped */
        struct hvt_fmt_verify_report rep;
        CHECK_EQ(hvt_fmt_verify(path, &rep, NULL, NULL), cases[i].code);
        CHECK_U64(rep.chunks_bad, 1);
    }
    free(prefix);
}

/* The measured need is an upper bound of what decoding a real chunk takes. */
static void test_decode_memory_accounted(void)
{
    const char *p = tmp("legit.hvt");
    write_trace(p, 3000, 16384);
    struct hvt_fmt_reader *r = NULL;
    CHECK_EQ(hvt_fmt_reader_open(&r, p, NULL), 0);
    int64_t n = hvt_fmt_reader_chunk_count(r);
    CHECK(n > 3);
    for (int64_t k = 0; k < n; k++) {
        struct hvt_fmt_chunk *c = NULL;
        CHECK_EQ(hvt_fmt_reader_load_chunk(r, (uint64_t)k, &c), 0);
        hvt_fmt_chunk_free(c);
    }
    size_t peak = hvt_fmt_reader_diag(r)->decode_peak;
    CHECK(peak > 0 && peak < (8u << 20));
    hvt_fmt_reader_close(r);
}

/* The decode-memory measure never refuses what the writer writes: chunks of every size, down
 * to one event, with and without call sites, read sequentially and whole. */
static void test_decode_budget_fits_writer(void)
{
    static const size_t sizes[] = {1, 64, 200, 500, 1000, 2000, 5000, 20000, 1u << 20};
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        for (int cs = 0; cs < 2; cs++) {
            const char *p = tmp("sizes.hvt");
            write_trace_cs(p, 400, sizes[i], cs);
            struct hvt_fmt_reader *r = NULL;
            CHECK_EQ(hvt_fmt_reader_open(&r, p, NULL), 0);
            struct hvt_record rec;
            int n = 0, rc;
            while ((rc = hvt_fmt_reader_next(r, &rec)) > 0)
                n++;
            CHECK_EQ(rc, 0);
            CHECK_EQ(n, 400);
            int64_t nc = hvt_fmt_reader_chunk_count(r);
            for (int64_t k = 0; k < nc; k++) {
                struct hvt_fmt_chunk *c = NULL;
                CHECK_EQ(hvt_fmt_reader_load_chunk(r, (uint64_t)k, &c), 0);
                hvt_fmt_chunk_free(c);
            }
            hvt_fmt_reader_close(r);
        }
    }
}

/* The writer closes a chunk before its decode memory could pass a reader's budget, so a
 * trace of tiny events with the largest chunk_bytes still loads whole. */
static void test_writer_bounds_chunk_memory(void)
{
    const char *p = tmp("dense.hvt");
    struct hvt_fmt_writer_options o;
    struct hvt_fmt_writer *w;
    struct hvt_fmt_writer_stats st;
    static struct hvt_event ev;
    hvt_fmt_writer_options_init(&o);
    o.chunk_bytes = HVT_FMT_MAX_CHUNK_BYTES;
    o.flags = HVT_FMT_W_OVERWRITE;
    o.level = 1;
    CHECK_EQ(hvt_fmt_writer_open(&w, p, NULL, &o), 0);
    size_t n = (HVT_FMT_MAX_CHUNK_MEM / 2) / sizeof(struct hvt_event) + 1000;
    for (size_t i = 0; i < n; i++) {
        memset(&ev, 0, sizeof(ev));
        ev.id = i;
        CHECK_EQ(hvt_fmt_writer_append(w, &ev), 0);
    }
    CHECK_EQ(hvt_fmt_writer_close(w, &st), 0);
    CHECK(st.raw_bytes < HVT_FMT_MAX_CHUNK_BYTES); /* one chunk by size... */
    CHECK(st.chunks >= 2);                         /* ...two by memory */
    struct hvt_fmt_reader *r = NULL;
    CHECK_EQ(hvt_fmt_reader_open(&r, p, NULL), 0);
    for (uint64_t k = 0; k < st.chunks; k++) {
        struct hvt_fmt_chunk *c = NULL;
        CHECK_EQ(hvt_fmt_reader_load_chunk(r, k, &c), 0);
        hvt_fmt_chunk_free(c);
    }
    CHECK(hvt_fmt_reader_diag(r)->decode_peak <= HVT_FMT_MAX_CHUNK_MEM);
    hvt_fmt_reader_close(r);
    unlink(p);
}

/* A valid header, a 3 GiB hole, one chunk: the scan skips the hole (SEEK_DATA) and finds the
 * chunk, reading a few MiB instead of 3 GiB. */
static void test_scan_skips_holes(void)
{
    const char *src = tmp("small.hvt");
    write_trace(src, 50, 1u << 20);
    size_t len;
    uint8_t *b = load(src, &len);
    size_t start = HVT_FILE_HDR_SIZE + hvt_get32(b + 16);
    struct hvt_fmt_reader *r0 = NULL;
    struct hvt_fmt_chunk_info ci;
    CHECK_EQ(hvt_fmt_reader_open(&r0, src, NULL), 0);
    CHECK_EQ(hvt_fmt_reader_chunk_info(r0, 0, &ci), 0);
    hvt_fmt_reader_close(r0);
    const char *p = tmp("hole.hvt");
    int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    CHECK(fd >= 0);
    CHECK_EQ(write(fd, b, start), (ssize_t)start);
    uint64_t at = 3ull << 30;
    CHECK_EQ(pwrite(fd, b + ci.offset, HVT_CHUNK_HDR_SIZE + ci.compressed_size, (off_t)at),
             (ssize_t)(HVT_CHUNK_HDR_SIZE + ci.compressed_size));
    close(fd);

    double t0 = now_s();
    struct hvt_fmt_reader_options o;
    hvt_fmt_reader_options_init(&o);
    o.flags = HVT_FMT_R_SCAN | HVT_FMT_R_SALVAGE;
    struct hvt_fmt_reader *r = NULL;
    CHECK_EQ(hvt_fmt_reader_open(&r, p, &o), 0);
    struct hvt_record rec;
    int events = 0, rc;
    while ((rc = hvt_fmt_reader_next(r, &rec)) > 0)
        events++;
    CHECK_EQ(rc, 0);
    CHECK_EQ(events, 50);
    const struct hvt_fmt_reader_diag *dg = hvt_fmt_reader_diag(r);
    fprintf(stderr, "  3 GiB hole: %llu bytes read, %llu reads and seeks, %.3f s\n",
            (unsigned long long)dg->scan_bytes, (unsigned long long)dg->scan_reads,
            now_s() - t0);
    CHECK(dg->scan_bytes < (4u << 20));
    CHECK(dg->scan_reads < 64);
    hvt_fmt_reader_close(r);
    struct hvt_fmt_verify_report rep;
    CHECK(hvt_fmt_verify(p, &rep, NULL, NULL) < 0);
    CHECK_U64(rep.events, 50);
    /* generous: the whole of it takes milliseconds; reading the hole took 17 s */
    CHECK(now_s() - t0 < 10.0);
    unlink(p);
    free(b);
}

/* 32 MiB of "HVTC": one read per MiB, candidates checked in the buffer (a read per candidate
 * took a minute for 200 MB). */
static void test_scan_magic_flood(void)
{
    size_t plen;
    uint8_t *prefix = trace_prefix(&plen);
    size_t n = 32u << 20;
    uint8_t *flood = malloc(n);
    for (size_t i = 0; i < n; i += 4)
        memcpy(flood + i, "HVTC", 4);
    const char *p = tmp("flood.hvt");
    int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    CHECK(fd >= 0);
    CHECK_EQ(write(fd, prefix, plen), (ssize_t)plen);
    CHECK_EQ(write(fd, flood, n), (ssize_t)n);
    close(fd);
    free(flood);
    free(prefix);

    double t0 = now_s();
    struct hvt_fmt_reader_options o;
    hvt_fmt_reader_options_init(&o);
    o.flags = HVT_FMT_R_SALVAGE;
    struct hvt_fmt_reader *r = NULL;
    CHECK_EQ(hvt_fmt_reader_open(&r, p, &o), 0);
    struct hvt_record rec;
    CHECK_EQ(hvt_fmt_reader_next(r, &rec), 0);
    const struct hvt_fmt_reader_diag *dg = hvt_fmt_reader_diag(r);
    fprintf(stderr, "  32 MiB of HVTC: %llu reads and seeks, %.3f s\n",
            (unsigned long long)dg->scan_reads, now_s() - t0);
    CHECK(dg->scan_reads < 100);
    CHECK(dg->scan_bytes <= n + (1u << 20));
    hvt_fmt_reader_close(r);
    CHECK(hvt_fmt_verify(p, NULL, NULL, NULL) < 0);
    CHECK(now_s() - t0 < 10.0);
    unlink(p);
}

/* Rewrites the index block of the trace in B (LEN bytes) with EDIT applied to the unpacked
 * Index message and/or the block header; returns the new file (length *OUT_LEN). */
static uint8_t *rewrite_index(const uint8_t *b, size_t len, size_t *out_len,
                              void (*edit)(Hvtrace__V1__Index *m, struct hvt_chunk_hdr *h))
{
    uint64_t ioff = hvt_get64(b + len - HVT_FOOTER_SIZE);
    struct hvt_chunk_hdr h;
    CHECK_EQ(hvt_chunk_hdr_decode(b + ioff, &h), 0);
    uint8_t *raw = malloc(h.raw_size + 1);
    CHECK_EQ(ZSTD_decompress(raw, h.raw_size, b + ioff + HVT_CHUNK_HDR_SIZE, h.compressed_size),
             h.raw_size);
    Hvtrace__V1__Index *m = hvtrace__v1__index__unpack(NULL, h.raw_size, raw);
    CHECK(m != NULL);
    edit(m, &h);
    size_t plen = hvtrace__v1__index__get_packed_size(m);
    uint8_t *packed = malloc(plen + 1);
    hvtrace__v1__index__pack(m, packed);
    hvtrace__v1__index__free_unpacked(m, NULL);
    size_t bound = ZSTD_compressBound(plen);
    uint8_t *o = malloc(ioff + HVT_CHUNK_HDR_SIZE + bound + HVT_FOOTER_SIZE);
    memcpy(o, b, ioff);
    size_t cs = ZSTD_compress(o + ioff + HVT_CHUNK_HDR_SIZE, bound, packed, plen, 1);
    CHECK(!ZSTD_isError(cs));
    h.compressed_size = (uint32_t)cs;
    h.raw_size = (uint32_t)plen;
    h.payload_crc = hvt_crc32c(0, o + ioff + HVT_CHUNK_HDR_SIZE, cs);
    hvt_chunk_hdr_encode(o + ioff, &h);
    struct hvt_footer ft = {.index_offset = ioff,
                            .index_size = (uint32_t)(HVT_CHUNK_HDR_SIZE + cs),
                            .n_chunks = h.n_records};
    hvt_footer_encode(o + ioff + HVT_CHUNK_HDR_SIZE + cs, &ft);
    *out_len = ioff + HVT_CHUNK_HDR_SIZE + cs + HVT_FOOTER_SIZE;
    free(raw);
    free(packed);
    return o;
}

static void n_events_5(Hvtrace__V1__Index *m, struct hvt_chunk_hdr *h)
{
    (void)m;
    h->n_events = 5;
}
static void first_event_0(Hvtrace__V1__Index *m, struct hvt_chunk_hdr *h)
{
    (void)m;
    h->first_event_id = 0;
}
static void last_event_7(Hvtrace__V1__Index *m, struct hvt_chunk_hdr *h)
{
    (void)m;
    h->last_event_id = 7;
}
static void no_edit(Hvtrace__V1__Index *m, struct hvt_chunk_hdr *h)
{
    (void)m;
    (void)h;
}

/* The index block header's event fields have fixed values: anything else is not an index. */
static void test_index_header_fields(void)
{
    const char *src = tmp("idx.hvt");
    write_trace(src, 200, 2000);
    size_t len, nlen;
    uint8_t *b = load(src, &len);
    void (*edits[])(Hvtrace__V1__Index *, struct hvt_chunk_hdr *) = {no_edit, n_events_5,
                                                                     first_event_0, last_event_7};
    for (size_t i = 0; i < sizeof(edits) / sizeof(edits[0]); i++) {
        uint8_t *nb = rewrite_index(b, len, &nlen, edits[i]);
        const char *p = tmp("idx-edit.hvt");
        save(p, nb, nlen);
        free(nb);
        struct hvt_fmt_verify_report rep;
        int rc = hvt_fmt_verify(p, &rep, NULL, NULL);
        struct hvt_fmt_reader *r = NULL;
        CHECK_EQ(hvt_fmt_reader_open(&r, p, NULL), 0);
        if (i == 0) { /* the rewrite itself keeps a valid trace */
            CHECK_EQ(rc, 0);
            CHECK_EQ(hvt_fmt_reader_has_index(r), 1);
        } else {
            CHECK_EQ(rc, -HVT_E_BAD_RECORD);
            CHECK(rep.has_index && !rep.index_consistent);
            CHECK_EQ(hvt_fmt_reader_has_index(r), 0);
            CHECK(strstr(hvt_fmt_reader_diag(r)->index_err.message, "index header") != NULL);
        }
        CHECK_U64(rep.events, 200);
        hvt_fmt_reader_close(r);
    }
    free(b);
}

/* Checking the index against the chunk headers reads tiny chunks' headers in batches. */
static void test_index_check_reads(void)
{
    const char *p = tmp("tiny.hvt");
    write_trace(p, 3000, 1);
    struct stat st;
    CHECK_EQ(stat(p, &st), 0);
    struct hvt_fmt_reader *r = NULL;
    CHECK_EQ(hvt_fmt_reader_open(&r, p, NULL), 0);
    CHECK_EQ(hvt_fmt_reader_has_index(r), 1);
    CHECK_EQ(hvt_fmt_reader_chunk_count(r), 3000);
    CHECK(hvt_fmt_reader_diag(r)->scan_reads <= (uint64_t)st.st_size / (64 << 10) + 2);
    hvt_fmt_reader_close(r);
}

static uint32_t bump_chunk;
static void bump_n_records(Hvtrace__V1__Index *m, struct hvt_chunk_hdr *h)
{
    (void)h;
    m->n_records[bump_chunk] += 1;
}

/* An index entry with a valid CRC but a wrong n_records: the chunk is good, the index is
 * not; the reader behind dump and verify agree on every event. */
static void test_index_entry_vs_chunk(void)
{
    const char *src = tmp("entry.hvt");
    write_trace(src, 300, 2000);
    size_t len, nlen;
    uint8_t *b = load(src, &len);
    bump_chunk = 1;
    uint8_t *nb = rewrite_index(b, len, &nlen, bump_n_records);
    const char *p = tmp("entry-edit.hvt");
    save(p, nb, nlen);
    free(nb);
    free(b);

    struct hvt_fmt_verify_report rep;
    CHECK_EQ(hvt_fmt_verify(p, &rep, NULL, NULL), -HVT_E_BAD_RECORD);
    CHECK_U64(rep.events, 300);
    CHECK_U64(rep.chunks_bad, 0);
    CHECK(rep.has_index && !rep.index_consistent);

    /* what dump does: the default reader, skipping bad chunks */
    struct hvt_fmt_reader_options o;
    hvt_fmt_reader_options_init(&o);
    o.flags = HVT_FMT_R_SALVAGE;
    struct hvt_fmt_reader *r = NULL;
    CHECK_EQ(hvt_fmt_reader_open(&r, p, &o), 0);
    CHECK_EQ(hvt_fmt_reader_has_index(r), 0);
    CHECK(strstr(hvt_fmt_reader_diag(r)->index_err.message, "disagrees") != NULL);
    struct hvt_record rec;
    uint64_t events = 0;
    int rc;
    while ((rc = hvt_fmt_reader_next(r, &rec)) > 0)
        events += rec.type == HVT_REC_EVENT;
    CHECK_EQ(rc, 0);
    CHECK_U64(events, rep.events);
    hvt_fmt_reader_close(r);
}

/* Salvage compares inodes: OUT as a symbolic or hard link to IN is refused, IN untouched. */
static void test_salvage_same_file(void)
{
    const char *in = tmp("in.hvt"), *sym = tmp("in-sym.hvt"), *hard = tmp("in-hard.hvt");
    write_trace(in, 20, 1u << 20);
    size_t len0, len1;
    uint8_t *before = load(in, &len0);
    unlink(sym);
    unlink(hard);
    CHECK_EQ(symlink(in, sym), 0);
    CHECK_EQ(link(in, hard), 0);
    struct hvt_fmt_writer_options o;
    hvt_fmt_writer_options_init(&o);
    o.flags = HVT_FMT_W_OVERWRITE;
    const char *outs[] = {in, sym, hard};
    for (size_t i = 0; i < 3; i++)
        CHECK_EQ(hvt_fmt_salvage(in, outs[i], &o, NULL, NULL), -HVT_E_SAME_FILE);
    uint8_t *after = load(in, &len1);
    CHECK_EQ(len0, len1);
    CHECK(memcmp(before, after, len0) == 0);
    free(before);
    free(after);
}

/* The writer writes PATH.part and renames it; a symbolic link at PATH is refused (unless
 * HVT_FMT_W_FOLLOW), its target untouched; the error names the cause. */
static void test_writer_output_path(void)
{
    const char *target = tmp("target"), *link_path = tmp("link.hvt");
    FILE *f = fopen(target, "w");
    fputs("precious", f);
    fclose(f);
    chmod(target, 0644);
    unlink(link_path);
    CHECK_EQ(symlink(target, link_path), 0);
    struct hvt_fmt_writer_options o;
    hvt_fmt_writer_options_init(&o);
    o.flags = HVT_FMT_W_OVERWRITE;
    struct hvt_fmt_writer *w = NULL;
    CHECK_EQ(hvt_fmt_writer_open(&w, link_path, NULL, &o), -HVT_E_IO);
    CHECK(strstr(hvt_fmt_writer_last_error()->message, "ELOOP") != NULL);
    struct stat st;
    CHECK_EQ(stat(target, &st), 0);
    CHECK_EQ(st.st_size, 8);
    CHECK_EQ(st.st_mode & 0777, 0644);
    o.flags |= HVT_FMT_W_FOLLOW;
    CHECK_EQ(hvt_fmt_writer_open(&w, link_path, NULL, &o), 0);
    CHECK_EQ(hvt_fmt_writer_close(w, NULL), 0);
    CHECK_EQ(lstat(link_path, &st), 0);
    CHECK(S_ISLNK(st.st_mode));
    CHECK_EQ(hvt_fmt_verify(target, NULL, NULL, NULL), 0);

    /* the file appears at its path only when closed */
    const char *p = tmp("late.hvt");
    char part[600];
    snprintf(part, sizeof(part), "%s.part", p);
    unlink(p);
    CHECK_EQ(hvt_fmt_writer_open(&w, p, NULL, &o), 0);
    CHECK(access(p, F_OK) < 0 && access(part, F_OK) == 0);
    CHECK_EQ(hvt_fmt_writer_close(w, NULL), 0);
    CHECK(access(p, F_OK) == 0 && access(part, F_OK) < 0);

    /* named causes */
    CHECK_EQ(hvt_fmt_writer_open(&w, tmp("no/such/dir/x.hvt"), NULL, &o), -HVT_E_IO);
    CHECK(strstr(hvt_fmt_writer_last_error()->message, "ENOENT") != NULL);
    CHECK_EQ(hvt_fmt_writer_open(&w, dir, NULL, &o), -HVT_E_IO);
    CHECK(strstr(hvt_fmt_writer_last_error()->message, "EISDIR") != NULL);
    if (access("/dev/full", W_OK) == 0) {
        CHECK_EQ(hvt_fmt_writer_open(&w, "/dev/full", NULL, &o), -HVT_E_NOSPACE);
        CHECK(strstr(hvt_fmt_writer_last_error()->message, "ENOSPC") != NULL);
    }
    CHECK_EQ(hvt_fmt_writer_open(&w, "", NULL, &o), -HVT_E_INVALID);
}

/* A FIFO without a writer: open does not block, the reader refuses it. */
static void test_reader_fifo(void)
{
    const char *p = tmp("fifo");
    unlink(p);
    CHECK_EQ(mkfifo(p, 0600), 0);
    alarm(20); /* a blocking open(2) fails the test instead of hanging it */
    struct hvt_fmt_reader *r = NULL;
    CHECK_EQ(hvt_fmt_reader_open(&r, p, NULL), -HVT_E_IO);
    CHECK(strstr(hvt_fmt_reader_error(r)->message, "FIFO") != NULL);
    hvt_fmt_reader_close(r);
    alarm(0);
    unlink(p);
}

/* ---- the wire form of a chunk ------------------------------------------------------------ */

/* Appends field F as a length-delimited column of the N bytes V. */
static uint8_t *put_col(uint8_t *p, unsigned f, const uint8_t *v, size_t n)
{
    p = hvt_pb_varint(p, (uint64_t)f << 3 | 2);
    p = hvt_pb_varint(p, n);
    memcpy(p, v, n);
    return p + n;
}

/* A payload of one event with no pass, its columns written one by one; column SKIP is left out
 * and EXTRA (LEN bytes, already encoded fields) appended. */
static size_t one_event(uint8_t *b, unsigned skip, const uint8_t *extra, size_t len)
{
    static const uint8_t zero = 0;
    static const unsigned cols[] = {F_EV_ID_DELTA, F_EV_VCPU,      F_EV_FLAGS, F_EV_TIME_DELTA,
                                    F_EV_INSN_LEN, F_EV_INIT_BASE, F_EV_PASSES};
    uint8_t *p = b;
    for (size_t i = 0; i < sizeof(cols) / sizeof(cols[0]); i++)
        if (cols[i] != skip)
            p = put_col(p, cols[i], &zero, 1);
    static const uint8_t states[] = {FS_COUNT << 3 | 2, 1, 0}; /* one state, no slot changed */
    p = put_col(p, F_EV_INIT, states, sizeof(states));
    memcpy(p, extra, len);
    return (size_t)(p - b) + len;
}

/* The decoder reads columns straight from the wire form: whatever is not the form the writer
 * produces (a column given twice, a field of the wrong wire type, a varint that runs past its
 * column or is longer than 10 bytes, a length past the end) is refused with the field named,
 * and a field it does not know is skipped. */
static void test_wire_form_checked(void)
{
    size_t plen;
    uint8_t *prefix = trace_prefix(&plen);
    static const uint8_t vcpu_twice[] = {F_EV_VCPU << 3 | 2, 1, 0};
    static const uint8_t vcpu_unpacked[] = {F_EV_VCPU << 3, 0};
    static const uint8_t vcpu_open[] = {F_EV_VCPU << 3 | 2, 1, 0x80};
    static const uint8_t vcpu_overlong[] = {F_EV_VCPU << 3 | 2, 11, 0x80, 0x80, 0x80, 0x80,
                                            0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0};
    static const uint8_t vcpu_past_end[] = {F_EV_VCPU << 3 | 2, 5, 0};
    static const uint8_t group[] = {F_EV_VCPU << 3 | 3};
    /* fields 200 (bytes) and 201 (varint): tags 0xc2 0x0c and 0xc8 0x0c */
    static const uint8_t unknown[] = {0xc2, 0x0c, 2, 0xff, 0xff, 0xc8, 0x0c, 0x81, 0x01,
                                      F_EV_VCPU << 3 | 2, 1, 7};
    static const struct {
        unsigned skip;
        const uint8_t *extra;
        size_t len;
        int code;
        const char *msg;
    } cases[] = {
        {0, vcpu_twice, sizeof(vcpu_twice), -HVT_E_BAD_RECORD, "ev_vcpu appears twice"},
        {F_EV_VCPU, vcpu_unpacked, sizeof(vcpu_unpacked), -HVT_E_BAD_RECORD,
         "ev_vcpu: wire type 0"},
        {F_EV_VCPU, vcpu_open, sizeof(vcpu_open), -HVT_E_BAD_RECORD, "ends inside a varint"},
        {F_EV_VCPU, vcpu_overlong, sizeof(vcpu_overlong), -HVT_E_BAD_RECORD,
         "longer than 10 bytes"},
        {F_EV_VCPU, vcpu_past_end, sizeof(vcpu_past_end), -HVT_E_BAD_RECORD, "does not decode"},
        {F_EV_VCPU, group, sizeof(group), -HVT_E_BAD_RECORD, "does not decode"},
        {F_EV_VCPU, unknown, sizeof(unknown), 1, NULL},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        uint8_t raw[256];
        size_t len = one_event(raw, cases[i].skip, cases[i].extra, cases[i].len);
        const char *path = tmp("wire.hvt");
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        CHECK(fd >= 0);
        CHECK_EQ(write(fd, prefix, plen), (ssize_t)plen);
        append_chunk(fd, raw, len, 1, 1, 0, 0);
        close(fd);
        struct hvt_fmt_reader *r = NULL;
        struct hvt_record rec;
        CHECK_EQ(hvt_fmt_reader_open(&r, path, NULL), 0);
        int rc = hvt_fmt_reader_next(r, &rec);
        CHECK_EQ(rc, cases[i].code);
        if (cases[i].msg) {
            const struct hvt_fmt_error_info *e = hvt_fmt_reader_error(r);
            fprintf(stderr, "  case %zu: %s\n", i, e->message);
            CHECK(strstr(e->message, cases[i].msg) != NULL);
            CHECK_EQ(e->chunk, 0);
        } else {
            CHECK_EQ(rec.type, HVT_REC_EVENT);
            CHECK_EQ(rec.u.event->vcpu, 7);
        }
        hvt_fmt_reader_close(r);
    }
    free(prefix);
}

/* The reader keeps its record storage from chunk to chunk, each array at the largest size a
 * chunk needed: a chunk of many events, then one of many accesses, each within the budget,
 * must not add up to more than the budget. */
static void test_kept_storage_within_budget(void)
{
    const char *p = tmp("shapes.hvt");
    struct hvt_fmt_writer_options o;
    struct hvt_fmt_writer *w;
    static struct hvt_event ev;
    static struct hvt_pass ps;
    static struct hvt_access acc[60000];
    hvt_fmt_writer_options_init(&o);
    o.flags = HVT_FMT_W_OVERWRITE;
    CHECK_EQ(hvt_fmt_writer_open(&w, p, NULL, &o), 0);
    for (int i = 0; i < 6000; i++) { /* chunk 0: events without passes */
        memset(&ev, 0, sizeof(ev));
        ev.id = (uint64_t)i;
        CHECK_EQ(hvt_fmt_writer_append(w, &ev), 0);
    }
    CHECK_EQ(hvt_fmt_writer_flush(w), 0);
    memset(&ev, 0, sizeof(ev)); /* chunk 1: one event of 60,000 accesses */
    ev.id = 6000;
    ev.n_passes = 1;
    ev.passes = &ps;
    ps.n_accesses = 60000;
    ps.accesses = acc;
    for (int a = 0; a < 60000; a++) {
        acc[a].kind = HVT_ACC_READ;
        acc[a].seg = HVT_SEG_NONE;
        acc[a].size = 1;
    }
    CHECK_EQ(hvt_fmt_writer_append(w, &ev), 0);
    struct hvt_fmt_writer_stats st;
    CHECK_EQ(hvt_fmt_writer_close(w, &st), 0);
    CHECK_U64(st.chunks, 2);
    /* both chunks of encoding 2: chunk 1 with one access shape */
    size_t need0 = hvt_chunk_records_mem(6000, 0, 0, 0) + hvt_chunk_enc2_mem(0),
           need1 = hvt_chunk_records_mem(1, 0, 1, 60000) + hvt_chunk_enc2_mem(1);
    size_t budget = (need0 > need1 ? need0 : need1) + 4096;
    CHECK(need0 + need1 > budget); /* what keeping both would hold */
    struct hvt_fmt_reader_options ro;
    hvt_fmt_reader_options_init(&ro);
    ro.max_chunk_mem = budget;
    struct hvt_fmt_reader *r = NULL;
    CHECK_EQ(hvt_fmt_reader_open(&r, p, &ro), 0);
    struct hvt_record rec;
    int n = 0, rc;
    while ((rc = hvt_fmt_reader_next(r, &rec)) > 0)
        n++;
    CHECK_EQ(rc, 0);
    CHECK_EQ(n, 6001);
    /* decode_peak: the record storage plus the raw and compressed buffers (< 2 MiB here) */
    size_t peak = hvt_fmt_reader_diag(r)->decode_peak;
    fprintf(stderr, "  budget %zu, decode peak %zu\n", budget, peak);
    CHECK(peak <= budget + (2u << 20));
    hvt_fmt_reader_close(r);
    unlink(p);
}

int main(void)
{
    const char *t = getenv("TMPDIR");
    snprintf(dir, sizeof(dir), "%s/hvt-hostile-XXXXXX", t ? t : "/tmp");
    CHECK(mkdtemp(dir) != NULL);
    RUN(test_decode_memory_bounded);
    RUN(test_decode_memory_accounted);
    RUN(test_wire_form_checked);
    RUN(test_kept_storage_within_budget);
    RUN(test_decode_budget_fits_writer);
    RUN(test_writer_bounds_chunk_memory);
    RUN(test_scan_skips_holes);
    RUN(test_scan_magic_flood);
    RUN(test_index_header_fields);
    RUN(test_index_entry_vs_chunk);
    RUN(test_index_check_reads);
    RUN(test_salvage_same_file);
    RUN(test_writer_output_path);
    RUN(test_reader_fifo);
    char cmd[600];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    CHECK_EQ(system(cmd), 0);
    TEST_DONE();
}
