/* SPDX-License-Identifier: MIT */
/* Generates the golden corpus of corrupt traces (tests/golden/corpus/) and its expectations. */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zstd.h>

#include "crc32c.h" /* format/: the container's checksum */
#include "hvtrace/format.h"
#include "sample.h"

/* Usage: mkcorpus OUTDIR EXPECTFILE
 * The base trace is the gen-sample trace (12 events, seed 1, 1100-byte chunks: 4 chunks),
 * whose bytes are fixed (fixed UUID and start time). Every file derives from it by an edit
 * whose effect on a correct reader is known; the expectation says which error verify must
 * report first (code, byte offset, chunk, a fragment of the message) and what a plain
 * reader (hvt_fmt_reader_open + _next to the end) must return. Layout: docs/FORMAT.md. */

#define FILE_HDR 32
#define CHUNK_HDR 48
#define FOOTER 32
#define MAX_CHUNKS 16

struct buf {
    uint8_t *p;
    size_t n;
};

static struct buf base;
static uint64_t chunk_off[MAX_CHUNKS + 1]; /* chunks, then the index block */
static uint32_t chunk_csize[MAX_CHUNKS + 1];
static unsigned n_chunks;
static uint64_t index_off, footer_off, data_start;
static const char *outdir;
static FILE *expect;

static void die(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));

static void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("mkcorpus: ", stderr);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    exit(1);
}

static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

static void put32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static void put64(uint8_t *p, uint64_t v)
{
    put32(p, (uint32_t)v);
    put32(p + 4, (uint32_t)(v >> 32));
}

static struct buf copy_base(void)
{
    struct buf b = {malloc(base.n + 1), base.n};
    if (!b.p)
        die("out of memory");
    memcpy(b.p, base.p, base.n);
    return b;
}

/* Re-seals the structures an edit touched, so that the edit itself is what a reader meets. */
static void fix_file_hdr(struct buf *b)
{
    put32(b->p + 28, hvt_crc32c(0, b->p, 28));
}

static void fix_chunk_hdr(struct buf *b, uint64_t off)
{
    put32(b->p + off + 44, hvt_crc32c(0, b->p + off, 44));
}

static void fix_footer(struct buf *b)
{
    put32(b->p + b->n - FOOTER + 20, hvt_crc32c(0, b->p + b->n - FOOTER, 20));
}

/* Writes NAME and its expectation line: the exit code of `hvtrace verify`, verify's first
 * problem (code name, offset or '-', chunk or '-', message fragment) and the plain reader's
 * result code. */
static void emit(const char *name, const struct buf *b, int exit_code, const char *code,
                 int64_t offset, int64_t chunk, const char *reader, const char *fragment)
{
    char path[4096], off[32], ch[32];
    FILE *f;
    snprintf(path, sizeof(path), "%s/%s", outdir, name);
    f = fopen(path, "wb");
    if (!f || (b->n && fwrite(b->p, 1, b->n, f) != b->n) || fclose(f))
        die("%s: %s", path, strerror(errno));
    snprintf(off, sizeof(off), offset < 0 ? "-" : "%" PRId64, offset);
    snprintf(ch, sizeof(ch), chunk < 0 ? "-" : "%" PRId64, chunk);
    fprintf(expect, "%-36s %d  %-11s %6s %3s  %-10s %s\n", name, exit_code, code, off, ch, reader,
            fragment);
}

static void emit_free(const char *name, struct buf *b, int exit_code, const char *code,
                      int64_t offset, int64_t chunk, const char *reader, const char *fragment)
{
    emit(name, b, exit_code, code, offset, chunk, reader, fragment);
    free(b->p);
}

static void load_base(const char *tmp)
{
    struct hvt_fmt_writer_options opt;
    struct hvt_fmt_error_info err;
    FILE *f;
    long n;
    uint64_t pos;

    hvt_fmt_writer_options_init(&opt);
    opt.chunk_bytes = 1100;
    opt.flags = HVT_FMT_W_OVERWRITE;
    if (hvt_sample_write(tmp, 12, 1, &opt, NULL, &err) < 0)
        die("writing the base trace: %s", err.message);
    f = fopen(tmp, "rb");
    if (!f || fseek(f, 0, SEEK_END) || (n = ftell(f)) < 0 || fseek(f, 0, SEEK_SET))
        die("%s: %s", tmp, strerror(errno));
    base.n = (size_t)n;
    base.p = malloc(base.n + 1);
    if (!base.p || fread(base.p, 1, base.n, f) != base.n)
        die("%s: short read", tmp);
    fclose(f);
    unlink(tmp);

    data_start = FILE_HDR + get32(base.p + 16);
    footer_off = base.n - FOOTER;
    for (pos = data_start; pos + CHUNK_HDR <= footer_off;) {
        if (n_chunks > MAX_CHUNKS)
            die("base trace has too many chunks");
        chunk_off[n_chunks] = pos;
        chunk_csize[n_chunks] = get32(base.p + pos + 8);
        if (!memcmp(base.p + pos, "HVTI", 4)) {
            index_off = pos;
            break;
        }
        if (memcmp(base.p + pos, "HVTC", 4))
            die("no chunk magic at %" PRIu64, pos);
        pos += CHUNK_HDR + chunk_csize[n_chunks];
        n_chunks++;
    }
    if (!index_off || n_chunks != 4)
        die("unexpected base layout: %u chunks, index at %" PRIu64, n_chunks, index_off);
}

/* Truncations: at every chunk boundary (a crashed writer: readable by scanning, but verify
 * must say the index is missing) and inside every structure. */
static void truncations(void)
{
    char name[64];
    struct buf b;
    b = copy_base();
    b.n = 0;
    emit_free("zero-length.hvt", &b, 3, "truncated", 0, -1, "truncated", "file of 0 bytes");
    b = copy_base();
    b.n = 5;
    emit_free("truncated-in-magic.hvt", &b, 3, "truncated", 5, -1, "truncated", "file of 5 bytes");
    b = copy_base();
    b.n = 20;
    emit_free("truncated-in-file-header.hvt", &b, 3, "truncated", 20, -1, "truncated",
              "file of 20 bytes");
    b = copy_base();
    b.n = data_start - 10;
    emit_free("truncated-in-header-message.hvt", &b, 3, "truncated", FILE_HDR, -1, "truncated",
              "past the end of the file");
    for (unsigned k = 0; k <= n_chunks; k++) {
        /* The file ends exactly before chunk k (k == n_chunks: before the index). */
        b = copy_base();
        b.n = chunk_off[k];
        snprintf(name, sizeof(name), "truncated-before-chunk-%u.hvt", k);
        if (k == n_chunks)
            snprintf(name, sizeof(name), "truncated-before-index.hvt");
        /* The footer would be the last 32 bytes; with no room for it after the header
         * message, the problem is at the end of the file. */
        emit_free(name, &b, 3, "no_index", (int64_t)chunk_off[k] - (k ? FOOTER : 0), -1, "ok",
                  "no footer");
    }
    for (unsigned k = 0; k < n_chunks; k++) {
        b = copy_base();
        b.n = chunk_off[k] + 20;
        snprintf(name, sizeof(name), "truncated-in-chunk-%u-header.hvt", k);
        emit_free(name, &b, 3, "truncated", (int64_t)chunk_off[k], k, "truncated", "ends inside");
        b = copy_base();
        b.n = chunk_off[k] + CHUNK_HDR + chunk_csize[k] / 2;
        snprintf(name, sizeof(name), "truncated-in-chunk-%u-payload.hvt", k);
        emit_free(name, &b, 3, "truncated", (int64_t)chunk_off[k], k, "truncated",
                  "ends inside the chunk payload");
    }
    b = copy_base();
    b.n = index_off + CHUNK_HDR + 3;
    /* A writer that died while writing the index: the chunks are whole, the footer missing. */
    emit_free("truncated-in-index.hvt", &b, 3, "no_index", (int64_t)b.n - FOOTER, -1, "ok",
              "no footer");
    b = copy_base();
    b.n = footer_off;
    emit_free("truncated-before-footer.hvt", &b, 3, "no_index", (int64_t)footer_off - FOOTER, -1,
              "ok", "no footer");
    b = copy_base();
    b.n = base.n - 10;
    emit_free("truncated-in-footer.hvt", &b, 3, "no_index", (int64_t)base.n - 10 - FOOTER, -1, "ok",
              "no footer");
}

/* Bit flips in every structure, with the CRC that covers them left as it was. */
static void bit_flips(void)
{
    struct buf b;
    b = copy_base();
    b.p[1] ^= 0x10; /* "HVT" -> "XVT" */
    emit_free("wrong-magic.hvt", &b, 3, "bad_magic", 0, -1, "bad_magic", "bad magic");
    b = copy_base();
    memcpy(b.p, "hello, this is not a trace file, just text\n", 32);
    emit_free("not-a-trace.hvt", &b, 3, "bad_magic", 0, -1, "bad_magic", "bad magic");
    b = copy_base();
    b.p[10] ^= 0x04; /* minor version */
    emit_free("bitflip-file-header.hvt", &b, 3, "checksum", 28, -1, "checksum",
              "file header CRC32C");
    b = copy_base();
    b.p[FILE_HDR + 5] ^= 0x01;
    emit_free("bitflip-header-message.hvt", &b, 3, "checksum", FILE_HDR, -1, "checksum",
              "header message CRC32C");
    b = copy_base();
    b.p[chunk_off[1] + 9] ^= 0x01; /* compressed size */
    emit_free("bitflip-chunk-1-header.hvt", &b, 3, "checksum", (int64_t)chunk_off[1], 1, "checksum",
              "chunk header CRC32C");
    b = copy_base();
    b.p[chunk_off[2] + CHUNK_HDR + chunk_csize[2] / 2] ^= 0x20;
    emit_free("bitflip-chunk-2-payload.hvt", &b, 3, "checksum", (int64_t)(chunk_off[2] + CHUNK_HDR),
              2, "checksum", "CRC32C");
    b = copy_base();
    b.p[chunk_off[0] + CHUNK_HDR + 1] ^= 0x80;
    emit_free("bitflip-chunk-0-payload-start.hvt", &b, 3, "checksum",
              (int64_t)(chunk_off[0] + CHUNK_HDR), 0, "checksum", "CRC32C");
    /* The index and footer are only an accelerator: a reader falls back to scanning, verify
     * reports them. */
    b = copy_base();
    b.p[index_off + CHUNK_HDR + 2] ^= 0x01;
    emit_free("bitflip-index-payload.hvt", &b, 3, "checksum", (int64_t)(index_off + CHUNK_HDR), -1,
              "ok", "CRC32C");
    b = copy_base();
    b.p[index_off + 12] ^= 0x01;
    /* The index is only an accelerator: a plain reader falls back to scanning and stops
     * before the damaged index block; verify's scan reports it as the block after the last
     * chunk. */
    emit_free("bitflip-index-header.hvt", &b, 3, "checksum", (int64_t)index_off, n_chunks, "ok",
              "chunk header CRC32C");
    b = copy_base();
    b.p[footer_off + 1] ^= 0x01; /* index offset */
    emit_free("bitflip-footer.hvt", &b, 3, "checksum", (int64_t)footer_off, -1, "ok",
              "footer CRC32C");
}

/* Lengths and versions that lie, with their CRCs recomputed so that the lie is what a reader
 * meets. */
static void lying_fields(void)
{
    struct buf b;
    /* The index block header's event fields have fixed values; with others it is no index
     * (the plain reader scans, verify reports it). */
    b = copy_base();
    put32(b.p + index_off + 24, 5); /* n_events */
    fix_chunk_hdr(&b, index_off);
    emit_free("index-header-n-events.hvt", &b, 3, "bad_record", (int64_t)index_off, -1, "ok",
              "index header has n_events 5");
    b = copy_base();
    put64(b.p + index_off + 16, 0); /* first_event_id */
    fix_chunk_hdr(&b, index_off);
    emit_free("index-header-first-event.hvt", &b, 3, "bad_record", (int64_t)index_off, -1, "ok",
              "index header has n_events 0, first");
    b = copy_base();
    put32(b.p + 16, 0x8000); /* header message length past the end */
    fix_file_hdr(&b);
    emit_free("header-length-past-end.hvt", &b, 3, "truncated", FILE_HDR, -1, "truncated",
              "past the end of the file");
    b = copy_base();
    put32(b.p + 16, 0x40000000); /* 1 GiB header message */
    fix_file_hdr(&b);
    emit_free("header-length-over-limit.hvt", &b, 3, "limit", 16, -1, "limit", "exceeds");
    b = copy_base();
    put16(b.p + 8, HVT_FMT_VERSION_MAJOR + 1);
    put16(b.p + 12, HVT_FMT_VERSION_MAJOR + 1);
    fix_file_hdr(&b);
    emit_free("newer-major-version.hvt", &b, 3, "bad_version", 8, -1, "bad_version",
              "needs a reader of major version");
    b = copy_base();
    put32(b.p + chunk_off[3] + 8, 0x00100000); /* compressed size: 1 MiB, past the end */
    fix_chunk_hdr(&b, chunk_off[3]);
    /* The index disagrees with a valid chunk header, so the plain reader does not use it and
     * scans: the chunk decides, as it does for verify. */
    emit_free("chunk-3-length-past-end.hvt", &b, 3, "truncated", (int64_t)chunk_off[3], 3,
              "truncated", "ends inside the chunk payload");
    b = copy_base();
    put32(b.p + chunk_off[1] + 12, 0x7fffffff); /* raw size: 2 GiB */
    fix_chunk_hdr(&b, chunk_off[1]);
    emit_free("chunk-1-raw-size-over-limit.hvt", &b, 3, "limit", (int64_t)chunk_off[1], 1,
              "limit", "exceeds the limit");
    b = copy_base();
    put32(b.p + chunk_off[2] + 12, get32(b.p + chunk_off[2] + 12) + 1); /* raw size off by 1 */
    fix_chunk_hdr(&b, chunk_off[2]);
    emit_free("chunk-2-raw-size-mismatch.hvt", &b, 3, "bad_record",
              (int64_t)(chunk_off[2] + CHUNK_HDR), 2, "bad_record", "content size");
    b = copy_base();
    put16(b.p + chunk_off[1] + 6, 3); /* chunk header version (payload encoding) */
    fix_chunk_hdr(&b, chunk_off[1]);
    emit_free("chunk-1-header-version-3.hvt", &b, 3, "bad_version", (int64_t)chunk_off[1], 1,
              "bad_version", "unknown size/version");
    b = copy_base();
    memcpy(b.p + chunk_off[2], "HVTX", 4);
    emit_free("chunk-2-wrong-magic.hvt", &b, 3, "bad_magic", (int64_t)chunk_off[2], 2, "bad_magic",
              "no chunk magic");
    b = copy_base();
    put32(b.p + chunk_off[1] + 24, get32(b.p + chunk_off[1] + 24) + 1); /* one event more */
    fix_chunk_hdr(&b, chunk_off[1]);
    emit_free("chunk-1-event-count-wrong.hvt", &b, 3, "bad_record", (int64_t)chunk_off[1], 1,
              "bad_record", "counts are inconsistent");
    b = copy_base();
    put32(b.p + chunk_off[1] + 24, 0); /* zero events but ids given */
    fix_chunk_hdr(&b, chunk_off[1]);
    emit_free("chunk-1-counts-inconsistent.hvt", &b, 3, "bad_record", (int64_t)chunk_off[1], 1,
              "bad_record", "inconsistent");
    b = copy_base();
    put64(b.p + footer_off, base.n + 4096); /* index offset past the end */
    fix_footer(&b);
    emit_free("footer-index-past-end.hvt", &b, 3, "bad_record", (int64_t)footer_off, -1, "ok",
              "footer places the index");
    b = copy_base();
    put32(b.p + footer_off + 12, n_chunks + 1); /* the footer counts one chunk more */
    fix_footer(&b);
    emit_free("footer-chunk-count-wrong.hvt", &b, 3, "bad_record", (int64_t)index_off, -1, "ok",
              "disagrees with the footer");
}

/* Chunks in the wrong place: swapped, duplicated, garbage in between. */
static void moved_chunks(void)
{
    struct buf b = copy_base();
    size_t l1 = CHUNK_HDR + chunk_csize[1], l2 = CHUNK_HDR + chunk_csize[2];
    uint8_t *tmp = malloc(l1 + l2);
    if (!tmp)
        die("out of memory");
    /* c0 c2 c1 c3 index footer: ids go backwards, and the index no longer matches */
    memcpy(tmp, base.p + chunk_off[2], l2);
    memcpy(tmp + l2, base.p + chunk_off[1], l1);
    memcpy(b.p + chunk_off[1], tmp, l1 + l2);
    free(tmp);
    /* Chunk 1 (old chunk 2) still follows chunk 0 in id order; chunk 2 goes back. */
    emit_free("chunks-1-2-swapped.hvt", &b, 3, "bad_record", (int64_t)(chunk_off[1] + l2), 2,
              "bad_record", "event ids go back");

    /* c0 c1 c1 c2 c3 index footer: a duplicated chunk repeats event ids */
    b.n = base.n + l1;
    b.p = malloc(b.n);
    if (!b.p)
        die("out of memory");
    memcpy(b.p, base.p, chunk_off[2]);
    memcpy(b.p + chunk_off[2], base.p + chunk_off[1], l1);
    memcpy(b.p + chunk_off[2] + l1, base.p + chunk_off[2], base.n - chunk_off[2]);
    emit_free("chunk-1-duplicated.hvt", &b, 3, "bad_record", (int64_t)chunk_off[2], 2, "bad_record",
              "event ids go back");

    /* 100 bytes of garbage before chunk 2: scanning resynchronises on the next magic */
    b.n = base.n + 100;
    b.p = malloc(b.n);
    if (!b.p)
        die("out of memory");
    memcpy(b.p, base.p, chunk_off[2]);
    memset(b.p + chunk_off[2], 0x5a, 100);
    memcpy(b.p + chunk_off[2] + 100, base.p + chunk_off[2], base.n - chunk_off[2]);
    emit_free("garbage-before-chunk-2.hvt", &b, 3, "bad_magic", (int64_t)chunk_off[2], 2,
              "bad_magic", "no chunk magic");
}

/* Replaces chunk K's payload by FRAME (compressed) with header sizes CSIZE/RAW, re-sealed. */
static struct buf with_payload(unsigned k, const void *frame, size_t flen, uint32_t raw)
{
    struct buf b;
    uint64_t off = chunk_off[k], old_end = off + CHUNK_HDR + chunk_csize[k];
    b.n = base.n - chunk_csize[k] + flen;
    b.p = malloc(b.n);
    if (!b.p)
        die("out of memory");
    memcpy(b.p, base.p, off + CHUNK_HDR);
    memcpy(b.p + off + CHUNK_HDR, frame, flen);
    memcpy(b.p + off + CHUNK_HDR + flen, base.p + old_end, base.n - old_end);
    put32(b.p + off + 8, (uint32_t)flen);
    put32(b.p + off + 12, raw);
    put32(b.p + off + 40, hvt_crc32c(0, frame, flen));
    fix_chunk_hdr(&b, off);
    return b;
}

/* Payloads with valid CRCs whose zstd frame or protobuf content is bad. */
static void bad_payloads(void)
{
    size_t big = 80u << 20, bound = ZSTD_compressBound(big), n;
    uint8_t *zeros = calloc(1, big), *frame = malloc(bound);
    static const uint8_t junk[64] = {0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x12, 0x34};
    struct buf b;
    if (!zeros || !frame)
        die("out of memory");
    /* A bomb: 80 MiB of zeros in a few KiB, declared as such (above the 64 MiB limit). */
    n = ZSTD_compress(frame, bound, zeros, big, 19);
    if (ZSTD_isError(n))
        die("zstd: %s", ZSTD_getErrorName(n));
    b = with_payload(1, frame, n, (uint32_t)big);
    emit_free("zstd-bomb-declared.hvt", &b, 3, "limit", (int64_t)chunk_off[1], 1, "limit",
              "exceeds the limit");
    /* The same bomb with a small declared raw size: the frame header gives it away. */
    b = with_payload(1, frame, n, 4096);
    emit_free("zstd-bomb-undeclared.hvt", &b, 3, "limit", (int64_t)(chunk_off[1] + CHUNK_HDR), 1,
              "limit", "content size");
    /* A frame without a content size (streaming mode): refused, a reader cannot bound it. */
    {
        ZSTD_CCtx *cc = ZSTD_createCCtx();
        ZSTD_inBuffer in = {zeros, 1 << 20, 0};
        ZSTD_outBuffer out = {frame, bound, 0};
        size_t left;
        ZSTD_CCtx_setParameter(cc, ZSTD_c_contentSizeFlag, 0);
        do
            left = ZSTD_compressStream2(cc, &out, &in, ZSTD_e_end);
        while (left && !ZSTD_isError(left));
        ZSTD_freeCCtx(cc);
        if (ZSTD_isError(left))
            die("zstd stream");
        b = with_payload(2, frame, out.pos, 1 << 20);
        emit_free("zstd-frame-without-size.hvt", &b, 3, "bad_record",
                  (int64_t)(chunk_off[2] + CHUNK_HDR), 2, "bad_record", "content size");
    }
    /* Not zstd at all. */
    b = with_payload(2, "this is not a zstd frame", 24, 100);
    emit_free("chunk-2-payload-not-zstd.hvt", &b, 3, "bad_record",
              (int64_t)(chunk_off[2] + CHUNK_HDR), 2, "bad_record", "not a zstd frame");
    /* Valid zstd, bad protobuf. */
    n = ZSTD_compress(frame, bound, junk, sizeof(junk), 3);
    b = with_payload(3, frame, n, sizeof(junk));
    emit_free("chunk-3-payload-bad-protobuf.hvt", &b, 3, "bad_record", (int64_t)chunk_off[3], 3,
              "bad_record", "does not decode");
    /* Valid zstd, empty payload: a chunk that claims events but holds none. */
    n = ZSTD_compress(frame, bound, junk, 0, 3);
    b = with_payload(3, frame, n, 0);
    emit_free("chunk-3-payload-empty.hvt", &b, 3, "bad_record", (int64_t)chunk_off[3], 3,
              "bad_record", "holds 0 events");
    free(zeros);
    free(frame);
}

/* Files that must be accepted. */
static void good_files(void)
{
    struct buf b = copy_base();
    emit("good-base.hvt", &b, 0, "ok", -1, -1, "ok", "");
    put16(b.p + 10, HVT_FMT_VERSION_MINOR + 7); /* a newer minor version is readable */
    fix_file_hdr(&b);
    emit_free("good-newer-minor-version.hvt", &b, 0, "ok", -1, -1, "ok", "");
}

int main(int argc, char **argv)
{
    char tmp[4200];
    if (argc != 3)
        die("usage: mkcorpus OUTDIR EXPECTFILE");
    outdir = argv[1];
    snprintf(tmp, sizeof(tmp), "%s/.base.tmp", outdir);
    load_base(tmp);
    expect = fopen(argv[2], "w");
    if (!expect)
        die("%s: %s", argv[2], strerror(errno));
    fprintf(expect,
            "# Golden corpus of damaged traces, made by tests/golden/mkcorpus.c from the 12-event\n"
            "# gen-sample trace (seed 1, 1100-byte chunks: chunks at");
    for (unsigned k = 0; k < n_chunks; k++)
        fprintf(expect, " %" PRIu64, chunk_off[k]);
    fprintf(expect,
            ", index at %" PRIu64 ", footer at %" PRIu64 ").\n"
            "# Columns: file, exit code of `hvtrace verify`, first problem verify reports (error\n"
            "# code, byte offset, chunk; '-' = none), result of a plain reader (open, read to the\n"
            "# end), and a fragment of verify's first message (may be empty). Checked by\n"
            "# tests/golden/check_corpus.c; regenerate with the mkcorpus target.\n",
            index_off, footer_off);
    good_files();
    truncations();
    bit_flips();
    lying_fields();
    moved_chunks();
    bad_payloads();
    if (fclose(expect))
        die("%s: %s", argv[2], strerror(errno));
    free(base.p);
    return 0;
}
