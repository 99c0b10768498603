/* SPDX-License-Identifier: MIT */
/* hvtrace format tests: damaged traces give the specific error at the right place, and salvage
 * recovers exactly the complete chunks. Also versions and unknown fields. */
#include "gen.h"

#include <fcntl.h>
#include <inttypes.h>
#include <zstd.h>

#include "crc32c.h"
#include "layout.h"

#define N_EVENTS 600

static struct hvt_event *evs[N_EVENTS];
static uint8_t *orig;
static size_t orig_len;
static uint64_t n_chunks;
static struct hvt_fmt_chunk_info info[256];
static uint64_t events_before[257]; /* events in chunks < k */
static char path[512], path2[512], path3[512];

static void load_file(const char *p, uint8_t **buf, size_t *len)
{
    FILE *f = fopen(p, "rb");
    fseek(f, 0, SEEK_END);
    *len = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    *buf = malloc(*len + 1);
    CHECK_EQ(fread(*buf, 1, *len, f), *len);
    fclose(f);
}

static void save(const char *p, const uint8_t *buf, size_t len)
{
    FILE *f = fopen(p, "wb");
    CHECK_EQ(fwrite(buf, 1, len, f), len);
    fclose(f);
}

static void setup(void)
{
    struct hvt_fmt_writer *w = gen_writer(path, 16384);
    for (int i = 0; i < N_EVENTS; i++) {
        evs[i] = gen_event(10 + (uint64_t)i * 3, i ? evs[i - 1] : NULL, 0);
        CHECK_EQ(hvt_fmt_writer_append(w, evs[i]), 0);
    }
    CHECK_EQ(hvt_fmt_writer_close(w, NULL), 0);
    load_file(path, &orig, &orig_len);
    struct hvt_fmt_reader *r;
    CHECK_EQ(hvt_fmt_reader_open(&r, path, NULL), 0);
    int64_t n = hvt_fmt_reader_chunk_count(r);
    CHECK(n > 5 && n < 256);
    n_chunks = (uint64_t)n;
    for (uint64_t k = 0; k < n_chunks; k++) {
        CHECK_EQ(hvt_fmt_reader_chunk_info(r, k, &info[k]), 0);
        events_before[k + 1] = events_before[k] + info[k].n_events;
    }
    CHECK_EQ(events_before[n_chunks], N_EVENTS);
    hvt_fmt_reader_close(r);
}

/* Reads P to the end; returns the events read and the terminating code in *rc. */
static uint64_t read_all(const char *p, unsigned flags, int *rc, struct hvt_fmt_error_info *ei)
{
    struct hvt_fmt_reader_options ro;
    hvt_fmt_reader_options_init(&ro);
    ro.flags = flags;
    struct hvt_fmt_reader *r;
    *rc = hvt_fmt_reader_open(&r, p, &ro);
    uint64_t n = 0;
    if (*rc == 0) {
        struct hvt_record rec;
        while ((*rc = hvt_fmt_reader_next(r, &rec)) == 1) {
            /* ids are 10 + 3i: compare with the event written (salvage may skip chunks) */
            uint64_t i = (rec.u.event->id - 10) / 3;
            CHECK(i < N_EVENTS && event_eq(evs[i], rec.u.event));
            n++;
        }
    }
    if (ei)
        *ei = *hvt_fmt_reader_error(r);
    hvt_fmt_reader_close(r);
    return n;
}

static int count_problems(void *arg, const struct hvt_fmt_error_info *e)
{
    (void)e;
    (*(int *)arg)++;
    return 0;
}

/* Salvages P into path3 and checks it holds exactly WANT events and verifies clean. */
static void check_salvage(const char *p, uint64_t want)
{
    unlink(path3);
    int problems = 0;
    int64_t got = hvt_fmt_salvage(p, path3, NULL, count_problems, &problems);
    CHECK_EQ(got, (int64_t)want);
    struct hvt_fmt_verify_report rep;
    CHECK_EQ(hvt_fmt_verify(path3, &rep, NULL, NULL), 0);
    CHECK_EQ(rep.events, want);
    int rc;
    CHECK_EQ(read_all(path3, 0, &rc, NULL), want);
    CHECK_EQ(rc, 0);
}

static void test_truncate_at_boundaries(void)
{
    for (uint64_t k = 0; k <= n_chunks; k++) {
        size_t len = k < n_chunks ? info[k].offset
                                  : info[n_chunks - 1].offset + HVT_CHUNK_HDR_SIZE +
                                        info[n_chunks - 1].compressed_size;
        save(path2, orig, len);
        int rc;
        CHECK_EQ(read_all(path2, 0, &rc, NULL), events_before[k]);
        CHECK_EQ(rc, 0);
        struct hvt_fmt_verify_report rep;
        CHECK_EQ(hvt_fmt_verify(path2, &rep, NULL, NULL), -HVT_E_NO_INDEX);
        CHECK_EQ(rep.events, events_before[k]);
        CHECK_EQ(rep.chunks_good, k);
        CHECK(!rep.has_index && !rep.truncated_tail);
        check_salvage(path2, events_before[k]);
    }
}

static void test_truncate_mid_chunk(void)
{
    for (uint64_t k = 0; k < n_chunks; k++) {
        size_t cuts[] = {info[k].offset + 20, info[k].offset + HVT_CHUNK_HDR_SIZE + 1,
                         info[k].offset + HVT_CHUNK_HDR_SIZE + info[k].compressed_size - 1};
        for (int c = 0; c < 3; c++) {
            /* all three cuts for a few chunks, the mid-payload one for the rest (time) */
            if (c != 2 && k > 1 && k != n_chunks / 2 && k != n_chunks - 1)
                continue;
            save(path2, orig, cuts[c]);
            int rc;
            struct hvt_fmt_error_info ei;
            CHECK_EQ(read_all(path2, 0, &rc, &ei), events_before[k]);
            CHECK_EQ(rc, -HVT_E_TRUNCATED);
            CHECK_EQ(ei.chunk, (int64_t)k);
            CHECK_U64(ei.offset, info[k].offset);
            struct hvt_fmt_verify_report rep;
            CHECK_EQ(hvt_fmt_verify(path2, &rep, NULL, NULL), -HVT_E_TRUNCATED);
            CHECK(rep.truncated_tail);
            CHECK_EQ(rep.chunks_good, k);
            CHECK_U64(rep.good_bytes, k ? info[k].offset : 0);
            check_salvage(path2, events_before[k]);
        }
    }
    /* inside the index and the footer: every chunk is still there */
    for (size_t cut = orig_len - 1; cut > info[n_chunks - 1].offset + 60; cut -= 7) {
        uint64_t idx_start =
            info[n_chunks - 1].offset + HVT_CHUNK_HDR_SIZE + info[n_chunks - 1].compressed_size;
        if (cut < idx_start)
            break;
        save(path2, orig, cut);
        int rc;
        CHECK_EQ(read_all(path2, 0, &rc, NULL), N_EVENTS);
        CHECK_EQ(rc,
                 cut >= idx_start + HVT_CHUNK_HDR_SIZE || cut == idx_start ? 0 : -HVT_E_TRUNCATED);
    }
}

static void expect_open(const uint8_t *buf, size_t len, int code, const char *msg_part)
{
    save(path2, buf, len);
    struct hvt_fmt_reader *r;
    int rc = hvt_fmt_reader_open(&r, path2, NULL);
    CHECK_EQ(rc, code);
    if (msg_part && !strstr(hvt_fmt_reader_error(r)->message, msg_part)) {
        fprintf(stderr, "message \"%s\" lacks \"%s\"\n", hvt_fmt_reader_error(r)->message,
                msg_part);
        CHECK(0);
    }
    hvt_fmt_reader_close(r);
}

static void test_header_damage(void)
{
    expect_open(orig, 0, -HVT_E_TRUNCATED, "ends inside");
    expect_open(orig, 5, -HVT_E_TRUNCATED, NULL);
    expect_open((const uint8_t *)"GIF89a", 6, -HVT_E_BAD_MAGIC, "magic");
    uint8_t *b = malloc(orig_len);
    memcpy(b, orig, orig_len);
    b[1] = 'X';
    expect_open(b, orig_len, -HVT_E_BAD_MAGIC, "magic");
    memcpy(b, orig, orig_len);
    b[17] ^= 0x10; /* header message length */
    expect_open(b, orig_len, -HVT_E_CHECKSUM, "CRC");
    memcpy(b, orig, orig_len);
    b[HVT_FILE_HDR_SIZE + 3] ^= 1; /* in the header message */
    expect_open(b, orig_len, -HVT_E_CHECKSUM, "header message");

    /* a newer major is refused naming both versions; a newer minor is read */
    memcpy(b, orig, orig_len);
    hvt_put16(b + 8, HVT_FMT_VERSION_MAJOR + 1);
    hvt_put16(b + 12, HVT_FMT_VERSION_MAJOR + 1);
    hvt_put32(b + 28, hvt_crc32c(0, b, 28));
    {
        char want[64];
        snprintf(want, sizeof(want), "%d.%d needs a reader of major version %d",
                 HVT_FMT_VERSION_MAJOR + 1, HVT_FMT_VERSION_MINOR, HVT_FMT_VERSION_MAJOR + 1);
        expect_open(b, orig_len, -HVT_E_BAD_VERSION, want);
    }
    save(path2, b, orig_len);
    struct hvt_fmt_reader *r;
    hvt_fmt_reader_open(&r, path2, NULL);
    {
        char want[32];
        snprintf(want, sizeof(want), "reads format %d.%d", HVT_FMT_VERSION_MAJOR,
                 HVT_FMT_VERSION_MINOR);
        CHECK(strstr(hvt_fmt_reader_error(r)->message, want) != NULL);
    }
    hvt_fmt_reader_close(r);
    memcpy(b, orig, orig_len);
    hvt_put16(b + 10, 9);
    hvt_put32(b + 28, hvt_crc32c(0, b, 28));
    expect_open(b, orig_len, 0, NULL);
    int rc;
    CHECK_EQ(read_all(path2, 0, &rc, NULL), N_EVENTS);
    CHECK_EQ(rc, 0);
    /* header message length past the end */
    memcpy(b, orig, orig_len);
    hvt_put32(b + 16, (uint32_t)orig_len);
    hvt_put32(b + 28, hvt_crc32c(0, b, 28));
    expect_open(b, orig_len, -HVT_E_TRUNCATED, "past the end");
    hvt_put32(b + 16, 0x7fffffff);
    hvt_put32(b + 28, hvt_crc32c(0, b, 28));
    expect_open(b, orig_len, -HVT_E_LIMIT, "exceeds");
    free(b);
}

static void test_chunk_damage(void)
{
    uint8_t *b = malloc(orig_len);
    uint64_t k = n_chunks / 2;
    int rc;
    struct hvt_fmt_error_info ei;
    /* payload bit flip: CHECKSUM at chunk k; SALVAGE skips exactly that chunk */
    memcpy(b, orig, orig_len);
    b[info[k].offset + HVT_CHUNK_HDR_SIZE + info[k].compressed_size / 2] ^= 0x40;
    save(path2, b, orig_len);
    for (unsigned fl = 0; fl <= HVT_FMT_R_SCAN; fl += HVT_FMT_R_SCAN) {
        CHECK_EQ(read_all(path2, fl, &rc, &ei), events_before[k]);
        CHECK_EQ(rc, -HVT_E_CHECKSUM);
        CHECK_EQ(ei.chunk, (int64_t)k);
        CHECK_U64(ei.offset, info[k].offset + HVT_CHUNK_HDR_SIZE);
        CHECK_EQ(read_all(path2, fl | HVT_FMT_R_SALVAGE, &rc, &ei), N_EVENTS - info[k].n_events);
        CHECK_EQ(rc, 0);
        CHECK_EQ(ei.code, -HVT_E_CHECKSUM);
    }
    struct hvt_fmt_verify_report rep;
    int problems = 0;
    CHECK_EQ(hvt_fmt_verify(path2, &rep, count_problems, &problems), -HVT_E_CHECKSUM);
    CHECK_EQ(rep.chunks_bad, 1);
    CHECK_EQ(rep.chunks_good, n_chunks - 1);
    CHECK_EQ(problems, 1);
    CHECK(rep.has_index && rep.index_consistent);
    check_salvage(path2, N_EVENTS - info[k].n_events);

    /* chunk header bit flip: CHECKSUM; a scan resynchronises on the next chunk magic */
    memcpy(b, orig, orig_len);
    b[info[k].offset + 9] ^= 0x01;
    save(path2, b, orig_len);
    CHECK_EQ(read_all(path2, 0, &rc, &ei), events_before[k]);
    CHECK_EQ(rc, -HVT_E_CHECKSUM);
    CHECK_EQ(read_all(path2, HVT_FMT_R_SCAN, &rc, &ei), events_before[k]);
    CHECK_EQ(rc, -HVT_E_CHECKSUM);
    CHECK_EQ(read_all(path2, HVT_FMT_R_SCAN | HVT_FMT_R_SALVAGE, &rc, &ei),
             N_EVENTS - info[k].n_events);
    CHECK_EQ(rc, 0);
    check_salvage(path2, N_EVENTS - info[k].n_events);

    /* a length pointing past the end (header CRC recomputed, as a hostile file would) */
    memcpy(b, orig, orig_len);
    uint8_t *h = b + info[k].offset;
    hvt_put32(h + 8, 0x10000000);
    hvt_put32(h + 44, hvt_crc32c(0, h, 44));
    save(path2, b, orig_len);
    CHECK_EQ(read_all(path2, HVT_FMT_R_SCAN, &rc, &ei), events_before[k]);
    CHECK(rc == -HVT_E_TRUNCATED || rc == -HVT_E_LIMIT);
    /* the index disagrees with the (valid) chunk header: not used, the chunk decides */
    CHECK_EQ(read_all(path2, 0, &rc, &ei), events_before[k]);
    CHECK(rc == -HVT_E_TRUNCATED || rc == -HVT_E_LIMIT);

    /* a frame that decompresses beyond the limit */
    struct hvt_fmt_reader_options ro;
    hvt_fmt_reader_options_init(&ro);
    ro.max_chunk_raw = 1000;
    struct hvt_fmt_reader *r;
    CHECK_EQ(hvt_fmt_reader_open(&r, path, &ro), 0);
    struct hvt_record rec;
    CHECK_EQ(hvt_fmt_reader_next(r, &rec), -HVT_E_LIMIT);
    CHECK_EQ(hvt_fmt_reader_error(r)->chunk, 0);
    hvt_fmt_reader_close(r);

    /* footer bit flip: the index is not used, everything is read by scanning */
    memcpy(b, orig, orig_len);
    b[orig_len - 20] ^= 0x02;
    save(path2, b, orig_len);
    CHECK_EQ(hvt_fmt_reader_open(&r, path2, NULL), 0);
    CHECK_EQ(hvt_fmt_reader_has_index(r), 0);
    hvt_fmt_reader_close(r);
    CHECK_EQ(read_all(path2, 0, &rc, &ei), N_EVENTS);
    CHECK_EQ(rc, 0);
    CHECK_EQ(hvt_fmt_verify(path2, &rep, NULL, NULL), -HVT_E_CHECKSUM);
    CHECK(!rep.has_index);
    CHECK_EQ(rep.events, N_EVENTS);

    /* index header bit flip: the footer still says where the chunks end */
    memcpy(b, orig, orig_len);
    b[info[n_chunks - 1].offset + HVT_CHUNK_HDR_SIZE + info[n_chunks - 1].compressed_size + 9] ^= 4;
    save(path2, b, orig_len);
    CHECK_EQ(read_all(path2, 0, &rc, &ei), N_EVENTS);
    CHECK_EQ(rc, 0);
    CHECK_EQ(hvt_fmt_verify(path2, &rep, NULL, NULL), -HVT_E_CHECKSUM);
    CHECK_EQ(rep.events, N_EVENTS);

    /* index payload bit flip */
    memcpy(b, orig, orig_len);
    b[orig_len - HVT_FOOTER_SIZE - 3] ^= 0x02;
    save(path2, b, orig_len);
    CHECK_EQ(read_all(path2, 0, &rc, &ei), N_EVENTS);
    CHECK_EQ(rc, 0);
    CHECK_EQ(hvt_fmt_verify(path2, &rep, NULL, NULL), -HVT_E_CHECKSUM);
    free(b);
}

/* A chunk rebuilt from RAW payload bytes (valid CRCs), followed by nothing (scan mode). */
static void write_one_chunk(const char *p, const uint8_t *raw, size_t raw_len,
                            const struct hvt_fmt_chunk_info *ci)
{
    size_t bound = ZSTD_compressBound(raw_len);
    uint8_t *buf = malloc(info[0].offset + HVT_CHUNK_HDR_SIZE + bound);
    memcpy(buf, orig, info[0].offset);
    uint8_t *ch = buf + info[0].offset;
    size_t clen = ZSTD_compress(ch + HVT_CHUNK_HDR_SIZE, bound, raw, raw_len, 3);
    struct hvt_chunk_hdr h = {.compressed_size = (uint32_t)clen,
                              .raw_size = (uint32_t)raw_len,
                              .first_event_id = ci->first_event_id,
                              .last_event_id = ci->last_event_id,
                              .n_events = ci->n_events,
                              .n_records = ci->n_records,
                              /* the payload's encoding, as the original chunk said */
                              .version = hvt_get16(orig + info[0].offset + 6)};
    memcpy(h.magic, HVT_CHUNK_MAGIC, 4);
    h.payload_crc = hvt_crc32c(0, ch + HVT_CHUNK_HDR_SIZE, clen);
    hvt_chunk_hdr_encode(ch, &h);
    save(p, buf, info[0].offset + HVT_CHUNK_HDR_SIZE + clen);
    free(buf);
}

static void test_unknown_fields(void)
{
    /* chunk 0's payload, plus fields a newer writer might add (varint field 100, bytes field
     * 101, and an unknown field inside nested message States at the end) */
    const uint8_t *comp = orig + info[0].offset + HVT_CHUNK_HDR_SIZE;
    uint8_t *raw = malloc(info[0].raw_size + 64);
    size_t n = ZSTD_decompress(raw, info[0].raw_size, comp, info[0].compressed_size);
    CHECK_U64(n, info[0].raw_size);
    static const uint8_t extra[] = {0xa0, 0x06, 0x05,                /* field 100 varint 5 */
                                    0xaa, 0x06, 0x03, 'a', 'b', 'c', /* field 101 bytes */
                                    0xfd, 0x06, 1,    2,   3,   4};  /* field 111 fixed32 */
    memcpy(raw + n, extra, sizeof(extra));
    write_one_chunk(path2, raw, n + sizeof(extra), &info[0]);
    int rc;
    CHECK_EQ(read_all(path2, 0, &rc, NULL), info[0].n_events);
    CHECK_EQ(rc, 0);
    /* and a different record count than the header says: BAD_RECORD */
    struct hvt_fmt_chunk_info ci = info[0];
    ci.n_records++;
    ci.n_events++;
    write_one_chunk(path2, raw, n, &ci);
    struct hvt_fmt_error_info ei;
    read_all(path2, 0, &rc, &ei);
    CHECK_EQ(rc, -HVT_E_BAD_RECORD);
    CHECK_EQ(ei.chunk, 0);
    /* garbage that is not protobuf */
    memset(raw, 0xff, 64);
    write_one_chunk(path2, raw, 64, &info[0]);
    read_all(path2, 0, &rc, &ei);
    CHECK_EQ(rc, -HVT_E_BAD_RECORD);
    free(raw);
}

/* An access with an out-of-range size: BAD_RECORD with the record index. */
static void test_bad_values(void)
{
    const uint8_t *comp = orig + info[0].offset + HVT_CHUNK_HDR_SIZE;
    uint8_t *raw = malloc(info[0].raw_size + 64);
    size_t n = ZSTD_decompress(raw, info[0].raw_size, comp, info[0].compressed_size);
    /* a second acc_size field (31, packed) appends values: column lengths stop matching */
    static const uint8_t extra[] = {0xfa, 0x01, 0x01, 0x40};
    memcpy(raw + n, extra, sizeof(extra));
    write_one_chunk(path2, raw, n + sizeof(extra), &info[0]);
    int rc;
    struct hvt_fmt_error_info ei;
    read_all(path2, 0, &rc, &ei);
    CHECK_EQ(rc, -HVT_E_BAD_RECORD);
    CHECK(strstr(ei.message, "acc_size") != NULL);
    free(raw);
}

int main(void)
{
    tmp_path(path, sizeof(path), "corrupt");
    tmp_path(path2, sizeof(path2), "corrupt2");
    tmp_path(path3, sizeof(path3), "corrupt3");
    RUN(setup);
    RUN(test_truncate_at_boundaries);
    RUN(test_truncate_mid_chunk);
    RUN(test_header_damage);
    RUN(test_chunk_damage);
    RUN(test_unknown_fields);
    RUN(test_bad_values);
    for (int i = 0; i < N_EVENTS; i++)
        gen_free(evs[i]);
    free(orig);
    unlink(path);
    unlink(path2);
    unlink(path3);
    TEST_DONE();
}
