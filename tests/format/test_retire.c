/* SPDX-License-Identifier: MIT */
/* hvtrace format tests: the pass_retire column (since format 1.2): the retire flags of every
 * pass survive writer and reader, a chunk without any costs nothing, and a malformed column is
 * refused with the chunk, field and pass named. */
#include "gen.h"

#include "chunkenc.h"
#include "decode.h"

#define N_EVENTS 600

/* Random retire flags as a version-2 core reports them: flags only on OKAY passes. */
static void set_retire(struct hvt_event *ev)
{
    for (uint32_t p = 0; p < ev->n_passes; p++) {
        struct hvt_pass_outcome *o = &ev->passes[p].out;
        o->retire = HVT_RETIRE_REPORTED;
        if (o->kind == HVT_OUT_OKAY)
            o->retire |= (uint32_t)rndn(HVT_RETIRE_KNOWN + 1);
    }
}

/* Events with retire flags, then events without (a version-1 core), through writer and reader
 * in small chunks: every field back as written. */
static void test_roundtrip(void)
{
    static struct hvt_event *evs[N_EVENTS];
    char path[256];
    tmp_path(path, sizeof(path), "retire");
    struct hvt_fmt_writer_options o;
    hvt_fmt_writer_options_init(&o);
    o.chunk_bytes = 16 << 10;
    o.flags = HVT_FMT_W_OVERWRITE;
    struct hvt_fmt_writer *w;
    CHECK_EQ(hvt_fmt_writer_open(&w, path, NULL, &o), 0);
    size_t n_flags = 0;
    for (int i = 0; i < N_EVENTS; i++) {
        evs[i] = gen_event((uint64_t)i + 1, i ? evs[i - 1] : NULL, 0);
        if (i < N_EVENTS / 2)
            set_retire(evs[i]);
        for (uint32_t p = 0; p < evs[i]->n_passes; p++)
            n_flags += (evs[i]->passes[p].out.retire & HVT_RETIRE_KNOWN) != 0;
        CHECK_EQ(hvt_fmt_writer_append(w, evs[i]), 0);
    }
    CHECK(n_flags > 20); /* the test exercises flags, not only the REPORTED bit */
    struct hvt_fmt_writer_stats st;
    CHECK_EQ(hvt_fmt_writer_close(w, &st), 0);
    CHECK(st.chunks > 4);

    struct hvt_fmt_reader *r;
    CHECK_EQ(hvt_fmt_reader_open(&r, path, NULL), 0);
    struct hvt_record rec;
    int i = 0, rc;
    while ((rc = hvt_fmt_reader_next(r, &rec)) == 1 && i < N_EVENTS) {
        CHECK_EQ(rec.type, HVT_REC_EVENT);
        if (!event_eq(rec.u.event, evs[i]))
            fprintf(stderr, "event %d differs\n", i);
        CHECK(event_eq(rec.u.event, evs[i]));
        i++;
    }
    CHECK_EQ(rc, 0);
    CHECK_EQ(i, N_EVENTS);
    hvt_fmt_reader_close(r);
    for (i = 0; i < N_EVENTS; i++)
        gen_free(evs[i]);
    unlink(path);
}

/* One event of two passes (OKAY, then EXCEPTION) encoded as the writer does. */
static struct hvt_pass two_passes[2];
static struct hvt_event one_event(void)
{
    struct hvt_event ev;
    memset(&ev, 0, sizeof(ev));
    memset(two_passes, 0, sizeof(two_passes));
    ev.id = 5;
    ev.insn_len = 1;
    ev.insn[0] = 0xfb; /* sti */
    two_passes[0].out.kind = HVT_OUT_OKAY;
    two_passes[1].index = 1;
    two_passes[1].out.kind = HVT_OUT_EXCEPTION;
    two_passes[1].out.vector = 13;
    ev.n_passes = 2;
    ev.passes = two_passes;
    return ev;
}

static int64_t encode(const struct hvt_event *ev, uint8_t **buf, size_t *cap)
{
    static struct hvt_chunkenc c;
    char msg[256];
    hvt_chunkenc_reset(&c);
    CHECK_EQ(hvt_chunkenc_event(&c, ev, msg, sizeof(msg)), 0);
    int64_t n = hvt_chunkenc_finish(&c, NULL, 0, buf, cap);
    CHECK(n > 0);
    return n;
}

/* The payload of one_event() plus EXTRA (further fields), decoded. */
static int decode_with(const uint8_t *extra, size_t len, struct hvt_dchunk *d,
                       struct hvt_fmt_error_info *e)
{
    struct hvt_event ev = one_event();
    uint8_t *buf = NULL;
    size_t cap = 0;
    int64_t n = encode(&ev, &buf, &cap);
    uint8_t *raw = calloc(1, (size_t)n + len + HVT_DCHUNK_PAD);
    memcpy(raw, buf, (size_t)n);
    if (len)
        memcpy(raw + n, extra, len);
    struct hvt_chunk_hdr h = {.first_event_id = 5,
                              .last_event_id = 5,
                              .n_events = 1,
                              .n_records = 1,
                              .version = HVT_CHUNK_ENC_2}; /* what the encoder writes */
    memset(e, 0, sizeof(*e));
    d->chunk = 3;
    int rc = hvt_dchunk_decode(d, raw, (size_t)n + len, &h, HVT_FMT_MAX_CHUNK_MEM, e);
    free(raw);
    free(buf);
    return rc;
}

/* A chunk without retire flags carries no pass_retire column; one with flags grows by exactly
 * the column (tag 60: two bytes, length, one varint per pass). */
static void test_absent_when_zero(void)
{
    struct hvt_event ev = one_event();
    uint8_t *buf = NULL;
    size_t cap = 0;
    int64_t without = encode(&ev, &buf, &cap);
    two_passes[0].out.retire = HVT_RETIRE_REPORTED | HVT_RETIRE_STI_SHADOW; /* 5-byte varint */
    int64_t with = encode(&ev, &buf, &cap);
    CHECK_EQ(with - without, 2 + 1 + 5 + 1);
    /* the writer refuses what the reader would refuse */
    struct hvt_chunkenc c;
    memset(&c, 0, sizeof(c));
    char msg[256];
    two_passes[1].out.retire = HVT_RETIRE_HLT; /* on an EXCEPTION pass */
    CHECK_EQ(hvt_chunkenc_event(&c, &ev, msg, sizeof(msg)), -HVT_E_INVALID);
    CHECK(strstr(msg, "pass 1: retire flags 0x4") != NULL);
    two_passes[1].out.retire = 1u << 20;
    CHECK_EQ(hvt_chunkenc_event(&c, &ev, msg, sizeof(msg)), -HVT_E_INVALID);
    CHECK_EQ(c.n_events, 0);
    hvt_chunkenc_free(&c);
    free(buf);

    struct hvt_dchunk d;
    memset(&d, 0, sizeof(d));
    struct hvt_fmt_error_info e;
    CHECK_EQ(decode_with(NULL, 0, &d, &e), 0); /* absent: every pass 0 */
    CHECK_EQ(d.n_passes, 2);
    CHECK_EQ(d.passes[0].out.retire, 0);
    CHECK_EQ(d.passes[1].out.retire, 0);
    hvt_dchunk_free(&d);
}

/* A column present must hold one value per pass, each within the known flags, and flags only on
 * an OKAY pass (HVT_RETIRE_REPORTED alone may be on any pass). */
static void test_malformed(void)
{
    /* field 60, length-delimited: tag (60 << 3 | 2) = 482 = 0xe2 0x03 */
#define COL(...)                                                                                   \
    {                                                                                              \
        0xe2, 0x03, sizeof((uint8_t[]){__VA_ARGS__}), __VA_ARGS__                                  \
    }
    static const uint8_t good[] = COL(0x81, 0x80, 0x80, 0x80, 0x08, 0x80, 0x80, 0x80, 0x80, 0x08);
    static const uint8_t one[] = COL(0);
    static const uint8_t three[] = COL(0, 0, 0);
    static const uint8_t unknown[] = COL(0x10, 0);
    static const uint8_t on_exc[] = COL(0, 8);
    static const uint8_t open[] = COL(0, 0x80);
    static const uint8_t twice[] = {0xe2, 0x03, 2, 0, 0, 0xe2, 0x03, 2, 0, 0};
    static const uint8_t unpacked[] = {0xe0, 0x03, 0};
#undef COL
    static const struct {
        const uint8_t *p;
        size_t len;
        const char *msg;
        int64_t record;
    } cases[] = {
        {one, sizeof(one), "column pass_retire has 1 values for 2 passes", -1},
        {three, sizeof(three), "column pass_retire has 3 values for 2 passes", -1},
        {unknown, sizeof(unknown), "pass 0: pass_retire 0x10 out of range", 0},
        {on_exc, sizeof(on_exc), "pass 1: pass_retire 0x8 out of range", 0},
        {open, sizeof(open), "column pass_retire ends inside a varint", -1},
        {twice, sizeof(twice), "field pass_retire appears twice", -1},
        {unpacked, sizeof(unpacked), "field pass_retire: wire type 0", -1},
    };
    struct hvt_dchunk d;
    memset(&d, 0, sizeof(d));
    struct hvt_fmt_error_info e;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        CHECK_EQ(decode_with(cases[i].p, cases[i].len, &d, &e), -HVT_E_BAD_RECORD);
        fprintf(stderr, "  case %zu: %s\n", i, e.message);
        CHECK(strstr(e.message, cases[i].msg) != NULL);
        CHECK_EQ(e.chunk, 3);
        CHECK_EQ(e.record, cases[i].record);
        CHECK_EQ(d.n_records, 0);
    }
    CHECK_EQ(decode_with(good, sizeof(good), &d, &e), 0);
    CHECK_EQ(d.n_passes, 2);
    CHECK_EQ(d.passes[0].out.retire, HVT_RETIRE_REPORTED | HVT_RETIRE_STI_SHADOW);
    CHECK_EQ(d.passes[1].out.retire, HVT_RETIRE_REPORTED);
    hvt_dchunk_free(&d);
}

int main(void)
{
    RUN(test_roundtrip);
    RUN(test_absent_when_zero);
    RUN(test_malformed);
    TEST_DONE();
}
