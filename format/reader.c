/* SPDX-License-Identifier: MIT */
/* hvtrace format: the validating reader: header, index or scan, chunk loading, iteration. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zstd.h>
#include <zstd_errors.h>

#include "common/syserr.h"
#include "common/sized.h"
#include "crc32c.h"
#include "decode.h"
#include "internal.h"
#include "layout.h"
#include "pbmem.h"
#include "trace.pb-c.h"

/* Buffers and decompression context of one chunk load (one per thread). */
struct loadbuf {
    uint8_t *comp, *raw;
    size_t comp_cap, raw_cap;
    ZSTD_DCtx *dctx;
};

struct hvt_fmt_reader {
    int fd;
    uint64_t size;
    struct hvt_fmt_reader_options opt;
    unsigned window_log_max;

    struct hvt_fmt_header hdr;
    Hvtrace__V1__Header *hmsg;
    struct hvt_pbmem hmem;
    struct hvt_kv *kv;
    uint64_t data_start, data_end;
    int has_index;
    uint64_t footer_index_offset; /* from a valid footer, even if the index itself is bad */

    /* chunk table: from the index, or grown by scanning (under lock: load_chunk may scan) */
    pthread_mutex_t lock;
    struct hvt_fmt_chunk_info *chunks;
    size_t n_chunks, chunks_cap;
    int complete;
    uint64_t scan_off;
    struct hvt_fmt_error_info scan_err; /* code != 0: the scan stopped on this error */
    uint64_t *max_last;                 /* seek: highest event id in chunks 0..k */
    int max_last_valid;

    struct hvt_fmt_error_info err;
    struct hvt_fmt_reader_diag diag;

    /* sequential iteration */
    int stopped;
    uint64_t next_chunk;
    struct hvt_dchunk dc; /* the current chunk, decoded whole; its storage is reused */
    int have_cur;
    size_t cur_rec; /* next record of dc */
    int have_last_id;
    uint64_t last_id;
    int seeking;
    uint64_t seek_id;
    struct loadbuf lb;
    uint8_t *scanbuf; /* resync's read buffer */
};

#define RERR(e, code, off, chunk, rec, ...) hvt_fmt_seterr(e, code, off, chunk, rec, __VA_ARGS__)

void hvt_fmt_reader_options_init(struct hvt_fmt_reader_options *opt)
{
    if (!opt)
        return;
    memset(opt, 0, sizeof(*opt));
    opt->size = sizeof(*opt);
    opt->max_chunk_raw = 64u << 20;
    opt->max_chunk_mem = HVT_FMT_MAX_CHUNK_MEM;
}

struct hvt_fmt_reader_diag *hvt_fmt_reader_diag(struct hvt_fmt_reader *r)
{
    return &r->diag;
}

/* Reports a problem to the diag callback (verify) and keeps the first code. */
static void problem(struct hvt_fmt_reader *r, const struct hvt_fmt_error_info *e)
{
    if (!r->diag.first_code)
        r->diag.first_code = e->code;
    if (r->diag.fn && !r->diag.stop && r->diag.fn(r->diag.arg, e))
        r->diag.stop = 1;
}

/* pread of exactly LEN bytes: 0, -HVT_E_TRUNCATED (file too short) or -HVT_E_IO. */
static int pread_all(int fd, void *buf, size_t len, uint64_t off)
{
    size_t done = 0;
    while (done < len) {
        ssize_t n = pread(fd, (uint8_t *)buf + done, len - done, (off_t)(off + done));
        if (n > 0) {
            done += (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        return n == 0 ? -HVT_E_TRUNCATED : -HVT_E_IO;
    }
    return 0;
}

static int ensure(uint8_t **p, size_t *cap, size_t need)
{
    if (need <= *cap)
        return 0;
    uint8_t *n = realloc(*p, need);
    if (!n)
        return -HVT_E_NOMEM;
    *p = n;
    *cap = need;
    return 0;
}

static void loadbuf_free(struct loadbuf *b)
{
    free(b->comp);
    free(b->raw);
    ZSTD_freeDCtx(b->dctx);
    memset(b, 0, sizeof(*b));
}

/* Reads the block (chunk or index) at OFF whose header is H: payload CRC, zstd frame checks,
 * decompression into b->raw. Returns the raw size or a negative error with detail in *E. */
static int64_t read_block(struct hvt_fmt_reader *r, uint64_t off, const struct hvt_chunk_hdr *h,
                          int64_t k, struct loadbuf *b, struct hvt_fmt_error_info *e)
{
    uint64_t poff = off + HVT_CHUNK_HDR_SIZE;
    if (h->raw_size > r->opt.max_chunk_raw)
        return RERR(e, -HVT_E_LIMIT, off, k, -1, "raw size %u exceeds the limit %zu", h->raw_size,
                    r->opt.max_chunk_raw);
    if (h->compressed_size > ZSTD_compressBound(r->opt.max_chunk_raw))
        return RERR(e, -HVT_E_LIMIT, off, k, -1, "compressed size %u exceeds the limit %zu",
                    h->compressed_size, ZSTD_compressBound(r->opt.max_chunk_raw));
    if (poff > r->size || h->compressed_size > r->size - poff)
        return RERR(e, -HVT_E_TRUNCATED, off, k, -1,
                    "payload of %u bytes at %" PRIu64 " runs past the end of the file (%" PRIu64
                    " bytes)",
                    h->compressed_size, poff, r->size);
    if (ensure(&b->comp, &b->comp_cap, h->compressed_size + 1) ||
        ensure(&b->raw, &b->raw_cap, (size_t)h->raw_size + HVT_DCHUNK_PAD))
        return RERR(e, -HVT_E_NOMEM, off, k, -1, "chunk buffers");
    int rc = pread_all(r->fd, b->comp, h->compressed_size, poff);
    if (rc < 0)
        return RERR(e, rc, poff, k, -1, "reading %u payload bytes: %s", h->compressed_size,
                    rc == -HVT_E_IO ? strerror(errno) : "file ends early");
    uint32_t crc = hvt_crc32c(0, b->comp, h->compressed_size);
    if (crc != h->payload_crc)
        return RERR(e, -HVT_E_CHECKSUM, poff, k, -1,
                    "payload CRC32C is 0x%08x, the chunk header says 0x%08x", crc, h->payload_crc);
    unsigned long long fcs = ZSTD_getFrameContentSize(b->comp, h->compressed_size);
    if (fcs == ZSTD_CONTENTSIZE_ERROR || fcs == ZSTD_CONTENTSIZE_UNKNOWN)
        return RERR(e, -HVT_E_BAD_RECORD, poff, k, -1,
                    "payload is not a zstd frame with a content size");
    if (fcs > r->opt.max_chunk_raw)
        return RERR(e, -HVT_E_LIMIT, poff, k, -1, "zstd frame content size %llu exceeds %zu", fcs,
                    r->opt.max_chunk_raw);
    if (fcs != h->raw_size)
        return RERR(e, -HVT_E_BAD_RECORD, poff, k, -1,
                    "zstd frame content size %llu, the chunk header says %u", fcs, h->raw_size);
    size_t fsz = ZSTD_findFrameCompressedSize(b->comp, h->compressed_size);
    if (ZSTD_isError(fsz) || fsz != h->compressed_size)
        return RERR(e, -HVT_E_BAD_RECORD, poff, k, -1, "payload is not exactly one zstd frame");
    if (!b->dctx) {
        b->dctx = ZSTD_createDCtx();
        if (!b->dctx)
            return RERR(e, -HVT_E_NOMEM, off, k, -1, "zstd context");
        ZSTD_DCtx_setParameter(b->dctx, ZSTD_d_windowLogMax, (int)r->window_log_max);
    }
    size_t got = ZSTD_decompressDCtx(b->dctx, b->raw, h->raw_size, b->comp, h->compressed_size);
    if (ZSTD_isError(got)) {
        ZSTD_DCtx_reset(b->dctx, ZSTD_reset_session_only);
        int code = ZSTD_getErrorCode(got) == ZSTD_error_frameParameter_windowTooLarge
                       ? -HVT_E_LIMIT
                       : -HVT_E_BAD_RECORD;
        return RERR(e, code, poff, k, -1, "zstd: %s", ZSTD_getErrorName(got));
    }
    if (got != h->raw_size)
        return RERR(e, -HVT_E_BAD_RECORD, poff, k, -1,
                    "zstd frame decompressed to %zu bytes, not %u", got, h->raw_size);
    memset(b->raw + got, 0, HVT_DCHUNK_PAD); /* the decoder's 8-byte loads see defined bytes */
    return (int64_t)got;
}

/* ---- header, footer, index -------------------------------------------------------------- */

static int read_header(struct hvt_fmt_reader *r)
{
    struct hvt_fmt_error_info *e = &r->err;
    uint8_t b[HVT_FILE_HDR_SIZE];
    if (r->size < HVT_FILE_HDR_SIZE) {
        size_t n = (size_t)r->size;
        if (n && pread_all(r->fd, b, n, 0) == 0 && memcmp(b, HVT_FILE_MAGIC, n < 8 ? n : 8) != 0)
            return RERR(e, -HVT_E_BAD_MAGIC, 0, -1, -1, "not an hvtrace file (bad magic)");
        return RERR(e, -HVT_E_TRUNCATED, r->size, -1, -1,
                    "file of %" PRIu64 " bytes ends inside the %d-byte file header", r->size,
                    HVT_FILE_HDR_SIZE);
    }
    int rc = pread_all(r->fd, b, sizeof(b), 0);
    if (rc < 0)
        return RERR(e, rc, 0, -1, -1, "reading the file header: %s", strerror(errno));
    struct hvt_file_hdr fh;
    rc = hvt_file_hdr_decode(b, &fh);
    if (rc == -HVT_E_BAD_MAGIC)
        return RERR(e, rc, 0, -1, -1, "not an hvtrace file (bad magic)");
    if (rc < 0)
        return RERR(e, rc, 28, -1, -1, "file header CRC32C does not match");
    if (fh.min_reader_major > HVT_FMT_VERSION_MAJOR)
        return RERR(e, -HVT_E_BAD_VERSION, 8, -1, -1,
                    "trace format %u.%u needs a reader of major version %u or later; this reader "
                    "reads format %u.%u",
                    fh.major, fh.minor, fh.min_reader_major, HVT_FMT_VERSION_MAJOR,
                    HVT_FMT_VERSION_MINOR);
    if (fh.hdr_size < HVT_FILE_HDR_SIZE || fh.hdr_size > 4096)
        return RERR(e, -HVT_E_BAD_RECORD, 14, -1, -1, "file header size %u out of range",
                    fh.hdr_size);
    if (fh.msg_len > HVT_MAX_HEADER_MSG)
        return RERR(e, -HVT_E_LIMIT, 16, -1, -1, "header message of %u bytes exceeds %u",
                    fh.msg_len, HVT_MAX_HEADER_MSG);
    if ((uint64_t)fh.hdr_size + fh.msg_len > r->size)
        return RERR(e, -HVT_E_TRUNCATED, fh.hdr_size, -1, -1,
                    "header message of %u bytes runs past the end of the file", fh.msg_len);
    uint8_t *msg = malloc(fh.msg_len + 1);
    if (!msg)
        return RERR(e, -HVT_E_NOMEM, 0, -1, -1, "header");
    rc = pread_all(r->fd, msg, fh.msg_len, fh.hdr_size);
    if (rc < 0) {
        free(msg);
        return RERR(e, rc, fh.hdr_size, -1, -1, "reading the header message");
    }
    if (hvt_crc32c(0, msg, fh.msg_len) != fh.msg_crc) {
        free(msg);
        return RERR(e, -HVT_E_CHECKSUM, fh.hdr_size, -1, -1,
                    "header message CRC32C does not match");
    }
    hvt_pbmem_init(&r->hmem, hvt_pbmem_budget(fh.msg_len));
    r->hmsg = hvtrace__v1__header__unpack(&r->hmem.a, fh.msg_len, msg);
    free(msg);
    if (!r->hmsg)
        return RERR(e, r->hmem.exceeded ? -HVT_E_LIMIT : -HVT_E_BAD_RECORD, fh.hdr_size, -1, -1,
                    "header message does not decode");
    Hvtrace__V1__Header *m = r->hmsg;
    const char *strs[] = {m->producer,     m->producer_version, m->cpu_vendor,
                          m->cpu_features, m->hypervisor,       m->hypervisor_version,
                          m->core_name,    m->core_version,     m->core_build_id,
                          m->cpu_profile};
    for (size_t i = 0; i < sizeof(strs) / sizeof(strs[0]); i++)
        if (strlen(strs[i]) > HVT_FMT_MAX_STRING)
            return RERR(e, -HVT_E_LIMIT, fh.hdr_size, -1, -1, "header string longer than %u bytes",
                        HVT_FMT_MAX_STRING);
    if (m->n_options > HVT_FMT_MAX_OPTIONS)
        return RERR(e, -HVT_E_LIMIT, fh.hdr_size, -1, -1, "%zu header options (max %u)",
                    m->n_options, HVT_FMT_MAX_OPTIONS);
    if (m->uuid.len != 16 && m->uuid.len != 0)
        return RERR(e, -HVT_E_BAD_RECORD, fh.hdr_size, -1, -1, "uuid of %zu bytes", m->uuid.len);
    r->kv = calloc(m->n_options + 1, sizeof(*r->kv));
    if (!r->kv)
        return RERR(e, -HVT_E_NOMEM, 0, -1, -1, "header");
    for (size_t i = 0; i < m->n_options; i++) {
        if (strlen(m->options[i]->key) > HVT_FMT_MAX_STRING ||
            strlen(m->options[i]->value) > HVT_FMT_MAX_STRING)
            return RERR(e, -HVT_E_LIMIT, fh.hdr_size, -1, -1, "header option %zu too long", i);
        r->kv[i].key = m->options[i]->key;
        r->kv[i].value = m->options[i]->value;
    }
    struct hvt_fmt_header *h = &r->hdr;
    h->format_major = fh.major;
    h->format_minor = fh.minor;
    h->min_reader_major = fh.min_reader_major;
    h->producer = m->producer;
    h->producer_version = m->producer_version;
    h->cpu_vendor = m->cpu_vendor;
    h->cpu_family = m->cpu_family;
    h->cpu_model = m->cpu_model;
    h->cpu_stepping = m->cpu_stepping;
    h->cpu_features = m->cpu_features;
    h->hypervisor = m->hypervisor;
    h->hypervisor_version = m->hypervisor_version;
    h->core_name = m->core_name;
    h->core_version = m->core_version;
    h->core_build_id = m->core_build_id;
    h->cpu_profile = m->cpu_profile;
    h->n_options = m->n_options;
    h->options = r->kv;
    if (m->uuid.len == 16)
        memcpy(h->uuid, m->uuid.data, 16);
    h->start_time_ns = m->start_time_ns;
    r->data_start = (uint64_t)fh.hdr_size + fh.msg_len;
    return 0;
}

#define INDEX_WIN (64u << 10)

/* The 48 header bytes of indexed chunk C, or NULL. Small chunks' headers are read 64 KiB at a
 * time (WIN, at *WOFF, *WLEN bytes), so checking an index of many tiny chunks costs one read
 * per 64 KiB, and one of large chunks one read of 48 bytes per chunk. */
static const uint8_t *header_at(struct hvt_fmt_reader *r, const struct hvt_fmt_chunk_info *c,
                                uint8_t *win, uint64_t *woff, size_t *wlen)
{
    if (c->offset >= *woff && c->offset - *woff + HVT_CHUNK_HDR_SIZE <= *wlen)
        return win + (c->offset - *woff);
    size_t want = c->compressed_size < 1024 ? INDEX_WIN : HVT_CHUNK_HDR_SIZE;
    if (r->size - c->offset < want)
        want = (size_t)(r->size - c->offset);
    if (want < HVT_CHUNK_HDR_SIZE || pread_all(r->fd, win, want, c->offset) < 0)
        return NULL;
    r->diag.scan_reads++;
    *woff = c->offset;
    *wlen = want;
    return win;
}

/* Reads footer and index; on success the chunk table is complete. On failure the reason goes to
 * diag.index_err and the caller falls back to scanning. */
static int read_index(struct hvt_fmt_reader *r)
{
    struct hvt_fmt_error_info *e = &r->diag.index_err;
    if (r->size < r->data_start + HVT_FOOTER_SIZE)
        return RERR(e, -HVT_E_NO_INDEX, r->size, -1, -1, "no footer (file too short)");
    uint64_t foff = r->size - HVT_FOOTER_SIZE;
    uint8_t fb[HVT_FOOTER_SIZE];
    int rc = pread_all(r->fd, fb, sizeof(fb), foff);
    if (rc < 0)
        return RERR(e, rc, foff, -1, -1, "reading the footer");
    struct hvt_footer ft;
    rc = hvt_footer_decode(fb, &ft);
    if (rc == -HVT_E_BAD_MAGIC)
        return RERR(e, -HVT_E_NO_INDEX, foff, -1, -1,
                    "no footer (the writer did not close the "
                    "trace)");
    if (rc < 0)
        return RERR(e, rc, foff, -1, -1, "footer CRC32C does not match");
    r->diag.footer_valid = 1;
    if (ft.index_offset < r->data_start || ft.index_size < HVT_CHUNK_HDR_SIZE ||
        ft.index_offset + ft.index_size != foff)
        return RERR(e, -HVT_E_BAD_RECORD, foff, -1, -1,
                    "footer places the index at %" PRIu64 "+%u, not just before the footer",
                    ft.index_offset, ft.index_size);
    /* the footer checks out: the chunks end where it says, whatever state the index is in */
    r->footer_index_offset = ft.index_offset;
    if (ft.n_chunks > HVT_MAX_INDEX_ENTRIES)
        return RERR(e, -HVT_E_LIMIT, foff, -1, -1, "%u chunks in the index (max %u)", ft.n_chunks,
                    HVT_MAX_INDEX_ENTRIES);
    uint8_t hb[HVT_CHUNK_HDR_SIZE];
    rc = pread_all(r->fd, hb, sizeof(hb), ft.index_offset);
    if (rc < 0)
        return RERR(e, rc, ft.index_offset, -1, -1, "reading the index header");
    struct hvt_chunk_hdr ih;
    rc = hvt_chunk_hdr_decode(hb, &ih);
    if (rc < 0 || memcmp(ih.magic, HVT_INDEX_MAGIC, 4))
        return RERR(e, rc < 0 ? rc : -HVT_E_BAD_MAGIC, ft.index_offset, -1, -1,
                    "index block header is %s",
                    rc == -HVT_E_CHECKSUM ? "corrupt (CRC32C)" : "not an index header");
    if (HVT_CHUNK_HDR_SIZE + (uint64_t)ih.compressed_size != ft.index_size ||
        ih.n_records != ft.n_chunks)
        return RERR(e, -HVT_E_BAD_RECORD, ft.index_offset, -1, -1,
                    "index header disagrees with the footer");
    if (ih.n_events != 0 || ih.first_event_id != HVT_NO_EVENT || ih.last_event_id != HVT_NO_EVENT)
        return RERR(e, -HVT_E_BAD_RECORD, ft.index_offset, -1, -1,
                    "index header has n_events %u, first and last event id 0x%" PRIx64
                    " and 0x%" PRIx64 " (must be 0 and 0xffffffffffffffff)",
                    ih.n_events, ih.first_event_id, ih.last_event_id);
    struct loadbuf b = {0};
    int64_t raw = read_block(r, ft.index_offset, &ih, -1, &b, e);
    if (raw < 0) {
        loadbuf_free(&b);
        return (int)raw;
    }
    struct hvt_pbmem mem;
    hvt_pbmem_init(&mem, hvt_pbmem_budget((size_t)raw));
    Hvtrace__V1__Index *m = hvtrace__v1__index__unpack(&mem.a, (size_t)raw, b.raw);
    loadbuf_free(&b);
    if (!m)
        return RERR(e, mem.exceeded ? -HVT_E_LIMIT : -HVT_E_BAD_RECORD, ft.index_offset, -1, -1,
                    "index message does not decode");
    size_t n = ft.n_chunks;
    rc = 0;
    if (m->n_offset != n || m->n_compressed_size != n || m->n_raw_size != n ||
        m->n_first_event_id != n || m->n_last_event_id != n || m->n_n_events != n ||
        m->n_n_records != n) {
        rc = RERR(e, -HVT_E_BAD_RECORD, ft.index_offset, -1, -1,
                  "index columns do not all have %zu entries", n);
        goto out;
    }
    r->chunks = calloc(n + 1, sizeof(*r->chunks));
    if (!r->chunks) {
        rc = RERR(e, -HVT_E_NOMEM, ft.index_offset, -1, -1, "index");
        goto out;
    }
    uint64_t expect = r->data_start, last = 0;
    int have_last = 0;
    for (size_t i = 0; i < n; i++) {
        struct hvt_fmt_chunk_info *c = &r->chunks[i];
        c->offset = m->offset[i];
        c->compressed_size = m->compressed_size[i];
        c->raw_size = m->raw_size[i];
        c->first_event_id = m->first_event_id[i];
        c->last_event_id = m->last_event_id[i];
        c->n_events = m->n_events[i];
        c->n_records = m->n_records[i];
        int ok =
            c->offset == expect && c->n_events <= c->n_records &&
            (c->n_events
                 ? (c->first_event_id <= c->last_event_id && c->last_event_id != HVT_NO_EVENT &&
                    (!have_last || c->first_event_id > last))
                 : (c->first_event_id == HVT_NO_EVENT && c->last_event_id == HVT_NO_EVENT));
        if (!ok) {
            rc = RERR(e, -HVT_E_BAD_RECORD, ft.index_offset, (int64_t)i, -1,
                      "index entry %zu is inconsistent (offset %" PRIu64 ", expected %" PRIu64 ")",
                      i, c->offset, expect);
            goto out;
        }
        expect += HVT_CHUNK_HDR_SIZE + (uint64_t)c->compressed_size;
        if (c->n_events) {
            last = c->last_event_id;
            have_last = 1;
        }
    }
    if (expect != ft.index_offset) {
        rc = RERR(e, -HVT_E_BAD_RECORD, ft.index_offset, -1, -1,
                  "indexed chunks end at %" PRIu64 ", the index starts at %" PRIu64, expect,
                  ft.index_offset);
        goto out;
    }
    /* A chunk's fate is decided by the chunk alone: an entry that disagrees with a valid chunk
     * header makes the index unusable (the reader then scans, as verify does), never the chunk
     * bad. A header that does not check out is the chunk's problem, found when it is loaded. */
    uint8_t *win = malloc(INDEX_WIN);
    uint64_t woff = 0;
    size_t wlen = 0;
    if (!win) {
        rc = RERR(e, -HVT_E_NOMEM, ft.index_offset, -1, -1, "index");
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        const struct hvt_fmt_chunk_info *c = &r->chunks[i];
        const uint8_t *cb = header_at(r, c, win, &woff, &wlen);
        struct hvt_chunk_hdr ch;
        if (!cb || hvt_chunk_hdr_decode(cb, &ch) < 0 || memcmp(ch.magic, HVT_CHUNK_MAGIC, 4))
            continue;
        if (ch.compressed_size != c->compressed_size || ch.raw_size != c->raw_size ||
            ch.first_event_id != c->first_event_id || ch.last_event_id != c->last_event_id ||
            ch.n_events != c->n_events || ch.n_records != c->n_records) {
            rc = RERR(e, -HVT_E_BAD_RECORD, ft.index_offset, (int64_t)i, -1,
                      "index entry %zu disagrees with the chunk header at offset %" PRIu64
                      " (index: %u events, %u records; chunk: %u, %u)",
                      i, c->offset, c->n_events, c->n_records, ch.n_events, ch.n_records);
            free(win);
            goto out;
        }
    }
    free(win);
    r->n_chunks = r->chunks_cap = n;
    r->complete = 1;
    r->has_index = 1;
    r->data_end = ft.index_offset;
    memset(e, 0, sizeof(*e));
out:
    hvtrace__v1__index__free_unpacked(m, &mem.a);
    if (rc < 0) {
        free(r->chunks);
        r->chunks = NULL;
    }
    return rc;
}

/* ---- scanning --------------------------------------------------------------------------- */

static int table_add(struct hvt_fmt_reader *r, uint64_t off, const struct hvt_chunk_hdr *h)
{
    if (r->n_chunks == r->chunks_cap) {
        size_t nc = r->chunks_cap ? r->chunks_cap * 2 : 64;
        void *p = realloc(r->chunks, nc * sizeof(*r->chunks));
        if (!p)
            return -HVT_E_NOMEM;
        r->chunks = p;
        r->chunks_cap = nc;
    }
    r->chunks[r->n_chunks++] = (struct hvt_fmt_chunk_info){
        .offset = off,
        .compressed_size = h->compressed_size,
        .raw_size = h->raw_size,
        .first_event_id = h->first_event_id,
        .last_event_id = h->last_event_id,
        .n_events = h->n_events,
        .n_records = h->n_records,
    };
    return 0;
}

/* Checks the chunk header B found at OFF: 1 = chunk, 2 = index block, or a negative error. */
static int probe_hdr(struct hvt_fmt_reader *r, uint64_t off, const uint8_t *b,
                     struct hvt_chunk_hdr *h, struct hvt_fmt_error_info *e)
{
    int64_t k = (int64_t)r->n_chunks;
    int rc = hvt_chunk_hdr_decode(b, h);
    if (rc == -HVT_E_BAD_MAGIC)
        return RERR(e, rc, off, k, -1, "no chunk magic where a chunk should start");
    if (rc == -HVT_E_CHECKSUM)
        return RERR(e, rc, off, k, -1, "chunk header CRC32C does not match");
    if (rc < 0)
        return RERR(e, rc, off, k, -1, "chunk header of unknown size/version");
    if (!memcmp(h->magic, HVT_INDEX_MAGIC, 4))
        return 2;
    if (h->raw_size > r->opt.max_chunk_raw)
        return RERR(e, -HVT_E_LIMIT, off, k, -1, "raw size %u exceeds the limit %zu", h->raw_size,
                    r->opt.max_chunk_raw);
    if (h->compressed_size > r->data_end - off - HVT_CHUNK_HDR_SIZE)
        return RERR(e, -HVT_E_TRUNCATED, off, k, -1,
                    "file ends inside the chunk payload (%" PRIu64 " of %u bytes)",
                    r->data_end - off - HVT_CHUNK_HDR_SIZE, h->compressed_size);
    if (h->n_events > h->n_records ||
        (h->n_events ? h->first_event_id > h->last_event_id || h->last_event_id == HVT_NO_EVENT
                     : h->first_event_id != HVT_NO_EVENT || h->last_event_id != HVT_NO_EVENT))
        return RERR(e, -HVT_E_BAD_RECORD, off, k, -1, "chunk header counts are inconsistent");
    return 1;
}

/* Reads and checks the header of a chunk at OFF (see probe_hdr). */
static int probe(struct hvt_fmt_reader *r, uint64_t off, struct hvt_chunk_hdr *h,
                 struct hvt_fmt_error_info *e)
{
    int64_t k = (int64_t)r->n_chunks;
    if (r->data_end - off < HVT_CHUNK_HDR_SIZE)
        return RERR(e, -HVT_E_TRUNCATED, off, k, -1,
                    "file ends inside a chunk header (%" PRIu64 " of %d bytes)", r->data_end - off,
                    HVT_CHUNK_HDR_SIZE);
    uint8_t b[HVT_CHUNK_HDR_SIZE];
    int rc = pread_all(r->fd, b, sizeof(b), off);
    r->diag.scan_reads++;
    if (rc < 0)
        return RERR(e, rc, off, k, -1, "reading a chunk header");
    return probe_hdr(r, off, b, h, e);
}

#define RESYNC_BUF (1u << 20)

/* SALVAGE: the next offset after FROM where a chunk (or the index) header checks out. Holes
 * hold no header and are skipped (SEEK_DATA); in data, candidates are found with memchr and
 * checked in the buffer, so the work is one read per MiB of data whatever the bytes are. */
static uint64_t resync(struct hvt_fmt_reader *r, uint64_t from)
{
    if (!r->scanbuf && !(r->scanbuf = malloc(RESYNC_BUF)))
        return r->data_end;
    uint8_t *buf = r->scanbuf;
    uint64_t off = from;
    while (off + HVT_CHUNK_HDR_SIZE <= r->data_end) {
        off_t d = lseek(r->fd, (off_t)off, SEEK_DATA);
        r->diag.scan_reads++;
        if (d < 0 && errno == ENXIO)
            return r->data_end; /* nothing but a hole up to the end of the file */
        if (d > 0 && (uint64_t)d > off)
            off = (uint64_t)d;
        if (off + HVT_CHUNK_HDR_SIZE > r->data_end)
            break;
        size_t want = RESYNC_BUF;
        if (r->data_end - off < want)
            want = (size_t)(r->data_end - off);
        if (pread_all(r->fd, buf, want, off) < 0)
            return r->data_end;
        r->diag.scan_reads++;
        r->diag.scan_bytes += want;
        /* header starts that fit in the buffer; the next read starts at the first that did not */
        size_t starts = want - HVT_CHUNK_HDR_SIZE + 1;
        for (size_t i = 0; i < starts; i++) {
            const uint8_t *p = memchr(buf + i, 'H', starts - i);
            if (!p)
                break;
            i = (size_t)(p - buf);
            if (p[1] != 'V' || p[2] != 'T' || (p[3] != 'C' && p[3] != 'I') ||
                hvt_get16(p + 4) != HVT_CHUNK_HDR_SIZE ||
                hvt_get16(p + 6) < HVT_CHUNK_HDR_VERSION ||
                hvt_get16(p + 6) > HVT_CHUNK_HDR_VERSION_MAX)
                continue;
            struct hvt_chunk_hdr h;
            struct hvt_fmt_error_info e;
            if (probe_hdr(r, off + i, p, &h, &e) > 0)
                return off + i;
        }
        if (want < RESYNC_BUF)
            break;
        off += starts;
    }
    return r->data_end;
}

/* Grows the chunk table by scanning until it has more than K chunks or is complete. Returns 0,
 * or the scan error (not in SALVAGE mode, where problems are reported and skipped). */
static int scan_until(struct hvt_fmt_reader *r, uint64_t k)
{
    while (!r->complete && r->n_chunks <= k) {
        if (r->scan_err.code)
            return r->scan_err.code;
        uint64_t off = r->scan_off;
        if (off == r->data_end) {
            r->complete = 1;
            break;
        }
        struct hvt_chunk_hdr h;
        struct hvt_fmt_error_info e;
        int rc = probe(r, off, &h, &e);
        if (rc == 2) { /* an index block whose footer is gone: the chunks end here */
            r->complete = 1;
            break;
        }
        if (rc == 1) {
            if (table_add(r, off, &h) < 0)
                return RERR(&r->err, -HVT_E_NOMEM, off, -1, -1, "chunk table");
            r->scan_off = off + HVT_CHUNK_HDR_SIZE + h.compressed_size;
            continue;
        }
        if (rc == -HVT_E_TRUNCATED)
            r->diag.truncated_tail = 1;
        problem(r, &e);
        r->err = e; /* in SALVAGE mode too: the caller can see what was skipped */
        if (!(r->opt.flags & HVT_FMT_R_SALVAGE)) {
            r->scan_err = e;
            return e.code;
        }
        r->diag.chunks_bad++;
        r->scan_off = rc == -HVT_E_TRUNCATED ? r->data_end : resync(r, off + 1);
    }
    return 0;
}

/* ---- open / close ----------------------------------------------------------------------- */

int hvt_fmt_reader_open(struct hvt_fmt_reader **out, const char *path,
                        const struct hvt_fmt_reader_options *opt)
{
    if (!out)
        return -HVT_E_INVALID;
    *out = NULL;
    struct hvt_fmt_reader_options o;
    hvt_fmt_reader_options_init(&o);
    if (opt) {
        struct hvt_fmt_reader_options u;
        if (hvt_sized_in(&u, sizeof(u), opt, opt->size, HVT_FMT_READER_OPTIONS_SIZE_V1) ||
            (u.flags & ~(HVT_FMT_R_SCAN | HVT_FMT_R_SALVAGE)))
            return -HVT_E_INVALID;
        o.flags = u.flags;
        if (u.max_chunk_raw)
            o.max_chunk_raw = u.max_chunk_raw;
        if (o.max_chunk_raw > (1u << 30))
            return -HVT_E_INVALID;
        if (opt->size >= offsetof(struct hvt_fmt_reader_options, max_chunk_mem) + sizeof(size_t) &&
            opt->max_chunk_mem)
            o.max_chunk_mem = opt->max_chunk_mem;
    }
    if (!path || !*path)
        return -HVT_E_INVALID;
    struct hvt_fmt_reader *r = calloc(1, sizeof(*r));
    if (!r)
        return -HVT_E_NOMEM;
    r->opt = o;
    r->err.chunk = r->err.record = -1;
    pthread_mutex_init(&r->lock, NULL);
    r->window_log_max = 10;
    while (r->window_log_max < 30 && ((size_t)1 << r->window_log_max) < o.max_chunk_raw)
        r->window_log_max++;
    /* O_NONBLOCK: a FIFO without a writer must not block open(2); only regular files are
     * read, which the flag does not affect. */
    r->fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
    *out = r;
    char eb[128];
    if (r->fd < 0)
        return RERR(&r->err, -HVT_E_IO, 0, -1, -1, "cannot open: %s",
                    hvt_syserr(errno, eb, sizeof(eb)));
    struct stat st;
    if (fstat(r->fd, &st) < 0)
        return RERR(&r->err, -HVT_E_IO, 0, -1, -1, "stat: %s", hvt_syserr(errno, eb, sizeof(eb)));
    if (!S_ISREG(st.st_mode))
        return RERR(&r->err, -HVT_E_IO, 0, -1, -1, "not a regular file (%s)",
                    S_ISDIR(st.st_mode)    ? "a directory"
                    : S_ISFIFO(st.st_mode) ? "a FIFO"
                    : S_ISCHR(st.st_mode)  ? "a character device"
                    : S_ISBLK(st.st_mode)  ? "a block device"
                    : S_ISSOCK(st.st_mode) ? "a socket"
                                           : "not a file");
    r->size = (uint64_t)st.st_size;
    int rc = read_header(r);
    if (rc < 0)
        return rc;
    r->data_end = r->size;
    if (!(o.flags & HVT_FMT_R_SCAN))
        (void)read_index(r);
    else
        RERR(&r->diag.index_err, -HVT_E_NO_INDEX, 0, -1, -1, "index not read (scan mode)");
    if (!r->has_index) {
        r->data_end = r->footer_index_offset ? r->footer_index_offset : r->size;
        r->scan_off = r->data_start;
    }
    return 0;
}

static void cur_free(struct hvt_fmt_reader *r)
{
    r->have_cur = 0;
}

void hvt_fmt_reader_close(struct hvt_fmt_reader *r)
{
    if (!r)
        return;
    hvt_dchunk_free(&r->dc);
    if (r->hmsg)
        hvtrace__v1__header__free_unpacked(r->hmsg, &r->hmem.a);
    free(r->kv);
    free(r->chunks);
    free(r->max_last);
    loadbuf_free(&r->lb);
    free(r->scanbuf);
    if (r->fd >= 0)
        close(r->fd);
    pthread_mutex_destroy(&r->lock);
    free(r);
}

const struct hvt_fmt_header *hvt_fmt_reader_header(const struct hvt_fmt_reader *r)
{
    return r && r->hmsg && r->kv ? &r->hdr : NULL;
}

int hvt_fmt_reader_has_index(const struct hvt_fmt_reader *r)
{
    return r ? r->has_index : 0;
}

const struct hvt_fmt_error_info *hvt_fmt_reader_error(const struct hvt_fmt_reader *r)
{
    static const struct hvt_fmt_error_info none = {
        .chunk = -1, .record = -1, .message = "no reader"};
    return r ? &r->err : &none;
}

static int usable(const struct hvt_fmt_reader *r)
{
    return r && r->hmsg && r->kv;
}

int hvt_fmt_reader_same_file(const struct hvt_fmt_reader *r, const char *path)
{
    struct stat a, b;
    if (!r || r->fd < 0 || fstat(r->fd, &a) < 0 || stat(path, &b) < 0)
        return 0;
    return a.st_dev == b.st_dev && a.st_ino == b.st_ino;
}

/* ---- chunks ----------------------------------------------------------------------------- */

/* Decode-memory accounting: the largest figure one chunk load needed. */
static void note_mem(struct hvt_fmt_reader *r, size_t bytes)
{
    if (bytes > r->diag.decode_peak)
        r->diag.decode_peak = bytes;
}

int64_t hvt_fmt_reader_chunk_count(struct hvt_fmt_reader *r)
{
    if (!usable(r))
        return -HVT_E_INVALID;
    pthread_mutex_lock(&r->lock);
    int rc = scan_until(r, UINT64_MAX - 1);
    int64_t n = (int64_t)r->n_chunks;
    if (rc < 0)
        r->err = r->scan_err;
    pthread_mutex_unlock(&r->lock);
    return rc < 0 ? rc : n;
}

int hvt_fmt_reader_chunk_info(struct hvt_fmt_reader *r, uint64_t k, struct hvt_fmt_chunk_info *info)
{
    if (!usable(r) || !info)
        return -HVT_E_INVALID;
    pthread_mutex_lock(&r->lock);
    int rc = scan_until(r, k);
    if (rc == 0 && k >= r->n_chunks)
        rc = -HVT_E_NOT_FOUND;
    if (rc == 0)
        *info = r->chunks[k];
    else if (rc != -HVT_E_NOT_FOUND)
        r->err = r->scan_err;
    pthread_mutex_unlock(&r->lock);
    return rc;
}

/* Loads chunk K (described by INFO) into *D: header check against INFO, block read, and the
 * one validating decode of every record. */
static int load_dchunk(struct hvt_fmt_reader *r, uint64_t k, const struct hvt_fmt_chunk_info *info,
                       struct loadbuf *b, struct hvt_dchunk *d, struct hvt_fmt_error_info *e)
{
    uint8_t hb[HVT_CHUNK_HDR_SIZE];
    int64_t ki = (int64_t)k;
    d->chunk = ki;
    d->offset = info->offset;
    int rc = pread_all(r->fd, hb, sizeof(hb), info->offset);
    if (rc < 0)
        return RERR(e, rc, info->offset, ki, -1, "reading the chunk header");
    struct hvt_chunk_hdr h;
    rc = hvt_chunk_hdr_decode(hb, &h);
    if (rc < 0 || memcmp(h.magic, HVT_CHUNK_MAGIC, 4))
        return RERR(e, rc < 0 ? rc : -HVT_E_BAD_MAGIC, info->offset, ki, -1, "chunk header %s",
                    rc == -HVT_E_CHECKSUM ? "CRC32C does not match" : "is not a chunk header");
    if (h.compressed_size != info->compressed_size || h.raw_size != info->raw_size ||
        h.first_event_id != info->first_event_id || h.last_event_id != info->last_event_id ||
        h.n_events != info->n_events || h.n_records != info->n_records)
        return RERR(e, -HVT_E_BAD_RECORD, info->offset, ki, -1,
                    "chunk header disagrees with the index");
    int64_t raw = read_block(r, info->offset, &h, ki, b, e);
    if (raw < 0)
        return (int)raw;
    return hvt_dchunk_decode(d, b->raw, (size_t)raw, &h, r->opt.max_chunk_mem, e);
}

/* ---- sequential reading ----------------------------------------------------------------- */

/* Loads chunk r->next_chunk as the current one. 1 = loaded, 0 = no more chunks, < 0 error. */
static int advance(struct hvt_fmt_reader *r)
{
    for (;;) {
        if (r->diag.stop)
            return 0;
        pthread_mutex_lock(&r->lock);
        int rc = scan_until(r, r->next_chunk);
        struct hvt_fmt_chunk_info info;
        int have = rc == 0 && r->next_chunk < r->n_chunks;
        if (have)
            info = r->chunks[r->next_chunk];
        else if (rc < 0)
            r->err = r->scan_err;
        pthread_mutex_unlock(&r->lock);
        if (rc < 0)
            return rc;
        if (!have)
            return 0;
        uint64_t k = r->next_chunk;
        struct hvt_fmt_error_info e;
        rc = load_dchunk(r, k, &info, &r->lb, &r->dc, &e);
        note_mem(r, r->dc.mem_alloc + r->lb.raw_cap + r->lb.comp_cap);
        if (rc == 0 && r->dc.n_events && r->have_last_id && r->dc.first_id <= r->last_id)
            rc = RERR(&e, -HVT_E_BAD_RECORD, info.offset, (int64_t)k, 0,
                      "event ids go back: chunk starts at %" PRIu64 " after %" PRIu64,
                      r->dc.first_id, r->last_id);
        if (rc == 0) {
            r->diag.chunks_good++;
            r->diag.good_bytes = info.offset + HVT_CHUNK_HDR_SIZE + info.compressed_size;
            if (r->dc.n_events) {
                r->have_last_id = 1;
                r->last_id = r->dc.last_id;
            }
            r->have_cur = 1;
            r->cur_rec = 0;
            return 1;
        }
        cur_free(r);
        r->err = e;
        problem(r, &e);
        r->next_chunk++;
        if (!(r->opt.flags & HVT_FMT_R_SALVAGE))
            return rc;
        r->diag.chunks_bad++;
    }
}

int hvt_fmt_reader_next(struct hvt_fmt_reader *r, struct hvt_record *rec)
{
    if (!usable(r) || !rec)
        return -HVT_E_INVALID;
    if (r->stopped)
        return r->stopped;
    for (;;) {
        if (!r->have_cur) {
            int rc = advance(r);
            if (rc < 0)
                r->stopped = rc;
            if (rc <= 0)
                return rc;
        }
        if (r->cur_rec >= r->dc.n_records) {
            cur_free(r);
            r->next_chunk++;
            continue;
        }
        const struct hvt_record *x = &r->dc.recs[r->cur_rec++];
        if (r->seeking) {
            if (x->type != HVT_REC_EVENT || x->u.event->id < r->seek_id)
                continue;
            r->seeking = 0;
        }
        *rec = *x;
        return 1;
    }
}

const struct hvt_callsite *hvt_fmt_reader_callsite(const struct hvt_fmt_reader *r, uint32_t id)
{
    if (!r || !r->have_cur || !id)
        return NULL;
    return hvt_dchunk_callsite(&r->dc, id);
}

int hvt_fmt_reader_seek_event(struct hvt_fmt_reader *r, uint64_t id)
{
    if (!usable(r))
        return -HVT_E_INVALID;
    pthread_mutex_lock(&r->lock);
    int rc = scan_until(r, UINT64_MAX - 1);
    if (rc < 0) {
        r->err = r->scan_err;
        pthread_mutex_unlock(&r->lock);
        return rc;
    }
    if (!r->max_last_valid) {
        free(r->max_last);
        r->max_last = calloc(r->n_chunks + 1, sizeof(*r->max_last));
        if (!r->max_last) {
            pthread_mutex_unlock(&r->lock);
            return RERR(&r->err, -HVT_E_NOMEM, 0, -1, -1, "seek table");
        }
        uint64_t mx = 0;
        for (size_t k = 0; k < r->n_chunks; k++) {
            if (r->chunks[k].n_events && r->chunks[k].last_event_id > mx)
                mx = r->chunks[k].last_event_id;
            r->max_last[k] = mx;
        }
        r->max_last_valid = 1;
    }
    /* first chunk whose events reach ID (binary search: max_last is non-decreasing) */
    size_t lo = 0, hi = r->n_chunks;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (r->max_last[mid] >= id && (r->chunks[mid].n_events || mid > 0))
            hi = mid;
        else
            lo = mid + 1;
    }
    int found = lo < r->n_chunks && r->max_last[lo] >= id;
    int has_events = 0;
    for (size_t k = 0; k < r->n_chunks && !has_events; k++)
        has_events = r->chunks[k].n_events != 0;
    pthread_mutex_unlock(&r->lock);
    if (!found || !has_events)
        return RERR(&r->err, -HVT_E_NOT_FOUND, r->size, -1, -1,
                    "no event with id %" PRIu64 " or later", id);
    cur_free(r);
    r->next_chunk = lo;
    r->stopped = 0;
    r->have_last_id = 0;
    r->seeking = 1;
    r->seek_id = id;
    return 0;
}

/* ---- whole chunks ----------------------------------------------------------------------- */

struct hvt_fmt_chunk {
    struct hvt_dchunk d;
};

void hvt_fmt_chunk_free(struct hvt_fmt_chunk *c)
{
    if (!c)
        return;
    hvt_dchunk_free(&c->d);
    free(c);
}

int hvt_fmt_reader_load_chunk(struct hvt_fmt_reader *r, uint64_t k, struct hvt_fmt_chunk **out)
{
    if (!out)
        return -HVT_E_INVALID;
    *out = NULL;
    if (!usable(r))
        return -HVT_E_INVALID;
    struct hvt_fmt_chunk_info info;
    int rc = hvt_fmt_reader_chunk_info(r, k, &info);
    if (rc < 0)
        return rc;
    struct hvt_fmt_error_info e;
    struct loadbuf b = {0};
    struct hvt_fmt_chunk *c = calloc(1, sizeof(*c));
    if (!c) {
        rc = RERR(&e, -HVT_E_NOMEM, info.offset, (int64_t)k, -1, "chunk");
    } else {
        rc = load_dchunk(r, k, &info, &b, &c->d, &e);
        size_t transient = b.raw_cap + b.comp_cap;
        pthread_mutex_lock(&r->lock);
        note_mem(r, c->d.mem_alloc + transient);
        pthread_mutex_unlock(&r->lock);
    }
    loadbuf_free(&b);
    if (rc < 0) {
        pthread_mutex_lock(&r->lock);
        r->err = e;
        pthread_mutex_unlock(&r->lock);
        hvt_fmt_chunk_free(c);
        return rc;
    }
    *out = c;
    return 0;
}

size_t hvt_fmt_chunk_records(const struct hvt_fmt_chunk *c)
{
    return c ? c->d.n_records : 0;
}

int hvt_fmt_chunk_record(const struct hvt_fmt_chunk *c, size_t i, struct hvt_record *rec)
{
    if (!c || !rec)
        return -HVT_E_INVALID;
    if (i >= c->d.n_records)
        return -HVT_E_NOT_FOUND;
    *rec = c->d.recs[i];
    return 0;
}

const struct hvt_callsite *hvt_fmt_chunk_callsite(const struct hvt_fmt_chunk *c, uint32_t id)
{
    if (!c || !id)
        return NULL;
    return hvt_dchunk_callsite(&c->d, id);
}
