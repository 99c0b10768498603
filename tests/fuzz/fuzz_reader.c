/* SPDX-License-Identifier: MIT */
/* Fuzz target for the trace reader: open (index, scan, salvage), iterate, seek, load every
 * chunk, verify, and salvage into a trace that must then verify clean.
 *
 * Two kinds of input, told apart by the file magic:
 * - a whole trace file: run as is, then again with every CRC recomputed, so that mutations
 *   get past the checksums into the zstd and protobuf decoders;
 * - anything else: 24 bytes of chunk header fields (first event id u64, event count u32,
 *   record count u32, last event id u64, little-endian) and a raw chunk payload, which the
 *   target compresses and wraps into a valid container, so that the fuzzer mutates the
 *   protobuf columns directly. The record count's top bit selects the payload's encoding
 *   (clear: 1, set: 2, the chunk header version) and is not part of the count. The payload
 *   is also decoded on its own twice, with the decoder's per-shape prediction plans and with
 *   format/predict.h's functions: both must give the same result, error and records. */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <zstd.h>

#include "crc32c.h" /* format/: the container's checksum */
#include "decode.h" /* format/: the chunk decoder, with its reference predictor */
#include "hvtrace/format.h"
#include "print.h" /* tools/: the dump printers see whatever the reader accepts */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Caps so that one input stays fast whatever it claims (the reader has its own limits; these
 * only bound the work the harness asks for). */
#define MAX_RECORDS 100000
#define MAX_CHUNKS 4096

/* The reader takes a path: an anonymous memory file keeps the fuzzer off the disk. */
static int mem_file(const uint8_t *data, size_t size, char *path, size_t path_size)
{
    int fd = memfd_create("hvt-fuzz", MFD_CLOEXEC);
    size_t done = 0;
    if (fd < 0)
        return -1;
    while (done < size) {
        ssize_t n = write(fd, data + done, size - done);
        if (n <= 0) {
            close(fd);
            return -1;
        }
        done += (size_t)n;
    }
    snprintf(path, path_size, "/proc/self/fd/%d", fd);
    return fd;
}

static void touch_event(const struct hvt_event *ev)
{
    /* Read every byte the reader hands out, so ASan sees any pointer that is off. */
    volatile uint8_t sink = 0;
    for (uint32_t p = 0; p < ev->n_passes; p++) {
        const struct hvt_pass *ps = &ev->passes[p];
        for (uint32_t i = 0; i < ps->n_accesses; i++) {
            const struct hvt_access *a = &ps->accesses[i];
            if (a->size > HVT_DATA_MAX)
                abort(); /* the reader must refuse this */
            for (uint32_t b = 0; b < a->size; b++)
                sink ^= a->data[b] ^ a->old[b] ^ a->cur[b];
        }
    }
    if (ev->insn_len > HVT_INSN_MAX)
        abort();
    (void)sink;
}

static void touch_header(const struct hvt_fmt_header *h)
{
    volatile size_t sink = 0;
    const char *s[] = {h->producer,     h->producer_version, h->cpu_vendor,
                       h->cpu_features, h->hypervisor,       h->hypervisor_version,
                       h->core_name,    h->core_version,     h->core_build_id};
    for (size_t i = 0; i < sizeof(s) / sizeof(s[0]); i++)
        sink += s[i] ? strlen(s[i]) : 0;
    for (size_t i = 0; i < h->n_options; i++)
        sink += strlen(h->options[i].key ? h->options[i].key : "") +
                strlen(h->options[i].value ? h->options[i].value : "");
    (void)sink;
}

/* What `hvtrace dump` does with an event, text and JSON, into /dev/null. */
static void print_event(const struct hvt_fmt_reader *r, const struct hvt_event *ev)
{
    static FILE *null;
    if (!null && !(null = fopen("/dev/null", "w")))
        return;
    for (unsigned flags = 0; flags <= HVT_PRINT_JSON; flags += HVT_PRINT_JSON) {
        hvt_print_event(null, ev, flags);
        for (uint32_t p = 0; p < ev->n_passes; p++) {
            const struct hvt_pass *ps = &ev->passes[p];
            hvt_print_pass(null, ev, ps, flags);
            for (uint32_t a = 0; a < ps->n_accesses; a++) {
                const struct hvt_access *acc = &ps->accesses[a];
                const struct hvt_callsite *cs =
                    acc->callsite ? hvt_fmt_reader_callsite(r, acc->callsite) : NULL;
                hvt_print_access(null, ev, ps, a, acc, cs, flags);
            }
        }
    }
}

static void read_all(const char *path, unsigned flags)
{
    struct hvt_fmt_reader_options opt;
    struct hvt_fmt_reader *r = NULL;
    struct hvt_record rec;
    uint64_t last_id = 0;
    int have_id = 0, rc;
    int64_t n;

    hvt_fmt_reader_options_init(&opt);
    opt.flags = flags;
    opt.max_chunk_raw = 4u << 20;  /* smaller than the defaults: fast, still bounded */
    opt.max_chunk_mem = 32u << 20; /* and the decode-memory budget is met more often */
    if (hvt_fmt_reader_open(&r, path, &opt) < 0) {
        hvt_fmt_reader_close(r);
        return;
    }
    touch_header(hvt_fmt_reader_header(r));
    if (!flags) {
        static FILE *null;
        if (null || (null = fopen("/dev/null", "w"))) {
            hvt_print_header(null, hvt_fmt_reader_header(r), 0);
            hvt_print_header(null, hvt_fmt_reader_header(r), HVT_PRINT_JSON);
        }
    }
    for (int i = 0; i < MAX_RECORDS; i++) {
        rc = hvt_fmt_reader_next(r, &rec);
        if (rc <= 0)
            break;
        if (rec.type == HVT_REC_LOST && !flags) {
            static FILE *null;
            if (null || (null = fopen("/dev/null", "w")))
                hvt_print_lost(null, rec.u.lost, HVT_PRINT_JSON);
        }
        if (rec.type == HVT_REC_EVENT) {
            const struct hvt_event *ev = rec.u.event;
            /* Event ids increase strictly in every trace the reader accepts. */
            if (have_id && ev->id <= last_id)
                abort();
            last_id = ev->id;
            have_id = 1;
            touch_event(ev);
            print_event(r, ev);
        }
    }
    n = hvt_fmt_reader_chunk_count(r);
    for (int64_t k = 0; k < n && k < MAX_CHUNKS; k++) {
        struct hvt_fmt_chunk_info ci;
        struct hvt_fmt_chunk *c = NULL;
        if (hvt_fmt_reader_chunk_info(r, (uint64_t)k, &ci) < 0)
            continue;
        if (hvt_fmt_reader_load_chunk(r, (uint64_t)k, &c) >= 0) {
            size_t nrec = hvt_fmt_chunk_records(c);
            for (size_t i = 0; i < nrec && i < MAX_RECORDS; i++) {
                if (hvt_fmt_chunk_record(c, i, &rec) >= 0 && rec.type == HVT_REC_EVENT)
                    touch_event(rec.u.event);
            }
            (void)hvt_fmt_chunk_callsite(c, 1);
        }
        hvt_fmt_chunk_free(c);
        /* Seek to the chunk's first event and read one record from there. */
        if (ci.first_event_id != HVT_NO_EVENT &&
            hvt_fmt_reader_seek_event(r, ci.first_event_id) >= 0) {
            if (hvt_fmt_reader_next(r, &rec) > 0 && rec.type == HVT_REC_EVENT)
                touch_event(rec.u.event);
        }
    }
    (void)hvt_fmt_reader_seek_event(r, 0);
    (void)hvt_fmt_reader_seek_event(r, UINT64_MAX - 1);
    hvt_fmt_reader_close(r);
}

static int count_problem(void *arg, const struct hvt_fmt_error_info *info)
{
    (void)info;
    return ++*(int *)arg > 10000;
}

#define FILE_MAGIC "\x89HVT\r\n\x1a\n"
#define FILE_HDR 32
#define CHUNK_HDR 48
#define FOOTER 32
#define MAX_PAYLOAD (1u << 20)

static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void put32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

/* Recomputes the file header, header message, chunk header, payload and footer CRCs of a
 * trace in place (layout: docs/FORMAT.md). Structures that do not fit are left alone. */
static void fix_crcs(uint8_t *d, size_t size)
{
    size_t pos;
    if (size < FILE_HDR || memcmp(d, FILE_MAGIC, 8))
        return;
    uint32_t msg_len = get32(d + 16);
    if (msg_len <= size - FILE_HDR)
        put32(d + 20, hvt_crc32c(0, d + FILE_HDR, msg_len));
    put32(d + 28, hvt_crc32c(0, d, 28));
    pos = FILE_HDR + (msg_len <= size - FILE_HDR ? msg_len : 0);
    while (pos + CHUNK_HDR <= size) {
        uint8_t *h = d + pos;
        if (memcmp(h, "HVTC", 4) && memcmp(h, "HVTI", 4)) {
            pos++;
            continue;
        }
        uint32_t csize = get32(h + 8);
        if (csize <= size - pos - CHUNK_HDR)
            put32(h + 40, hvt_crc32c(0, h + CHUNK_HDR, csize));
        put32(h + 44, hvt_crc32c(0, h, 44));
        pos += CHUNK_HDR + (csize <= size - pos - CHUNK_HDR ? csize : 0);
    }
    if (size >= FILE_HDR + FOOTER && !memcmp(d + size - 8, "HVTEND\r\n", 8))
        put32(d + size - FOOTER + 20, hvt_crc32c(0, d + size - FOOTER, 20));
}

/* The file header and header message of an empty trace, made once with the real writer. */
static uint8_t *prefix;
static size_t prefix_len;

static int make_prefix(void)
{
    struct hvt_fmt_header hdr = {.producer = "fuzz", .uuid = {1}, .start_time_ns = 1};
    struct hvt_fmt_writer_options wo;
    struct hvt_fmt_writer *w = NULL;
    char path[64];
    uint8_t buf[4096];
    ssize_t n;
    int fd = mem_file(NULL, 0, path, sizeof(path));
    if (fd < 0)
        return -1;
    hvt_fmt_writer_options_init(&wo);
    if (hvt_fmt_writer_open_fd(&w, fd, &hdr, &wo) < 0 || hvt_fmt_writer_close(w, NULL) < 0) {
        close(fd);
        return -1;
    }
    n = pread(fd, buf, sizeof(buf), 0);
    close(fd);
    if (n < FILE_HDR || get32(buf + 16) > (size_t)n - FILE_HDR)
        return -1;
    prefix_len = FILE_HDR + get32(buf + 16);
    prefix = malloc(prefix_len);
    if (!prefix)
        return -1;
    memcpy(prefix, buf, prefix_len);
    return 0;
}

/* Wraps header fields + raw payload (see the top of the file) into a one-chunk trace. */
static uint8_t *wrap_chunk(const uint8_t *data, size_t size, size_t *out_size)
{
    size_t raw = size - 24, bound = ZSTD_compressBound(raw), csize;
    uint8_t *f, *h;
    if (!prefix && make_prefix() < 0)
        abort(); /* the writer cannot write an empty trace: a bug, not an input problem */
    f = malloc(prefix_len + CHUNK_HDR + bound);
    if (!f)
        return NULL;
    memcpy(f, prefix, prefix_len);
    csize = ZSTD_compress(f + prefix_len + CHUNK_HDR, bound, data + 24, raw, 1);
    if (ZSTD_isError(csize)) {
        free(f);
        return NULL;
    }
    h = f + prefix_len;
    memcpy(h, "HVTC", 4);
    h[4] = CHUNK_HDR;
    h[5] = 0;
    h[6] = data[15] & 0x80 ? 2 : 1; /* chunk header version: the payload's encoding */
    h[7] = 0;
    put32(h + 8, (uint32_t)csize);
    put32(h + 12, (uint32_t)raw);
    memcpy(h + 16, data, 8);      /* first event id */
    memcpy(h + 24, data + 8, 8);  /* event and record counts */
    h[31] &= 0x7f;                /* the encoding bit */
    memcpy(h + 32, data + 16, 8); /* last event id */
    put32(h + 40, hvt_crc32c(0, h + CHUNK_HDR, csize));
    put32(h + 44, hvt_crc32c(0, h, 44));
    *out_size = prefix_len + CHUNK_HDR + csize;
    return f;
}

static void run_one(const uint8_t *data, size_t size);

static uint64_t get64(const uint8_t *p)
{
    return (uint64_t)get32(p) | (uint64_t)get32(p + 4) << 32;
}

/* The payload of a chunk-payload input of encoding 2 decoded with both predictors (decode.h's
 * reference_predictor): any difference in the result, the error or the records (every byte of
 * which encoding 2's decoder writes) is a bug. */
static void plans_vs_reference(const uint8_t *data, size_t size)
{
    static struct hvt_dchunk d[2];
    size_t raw = size - 24;
    if (!(data[15] & 0x80))
        return; /* encoding 1 has no predictions */
    uint8_t *buf = calloc(1, raw + HVT_DCHUNK_PAD);
    if (!buf)
        return;
    memcpy(buf, data + 24, raw);
    struct hvt_chunk_hdr h = {.first_event_id = get64(data),
                              .n_events = get32(data + 8),
                              .n_records = get32(data + 12) & 0x7fffffffu,
                              .last_event_id = get64(data + 16),
                              .version = 2};
    struct hvt_fmt_error_info e[2];
    int rc[2];
    for (int k = 0; k < 2; k++) {
        memset(&e[k], 0, sizeof(e[k]));
        d[k].reference_predictor = k;
        rc[k] = hvt_dchunk_decode(&d[k], buf, raw, &h, HVT_FMT_MAX_CHUNK_MEM, &e[k]);
    }
    free(buf);
    if (rc[0] != rc[1] || e[0].record != e[1].record || strcmp(e[0].message, e[1].message) ||
        d[0].n_accesses != d[1].n_accesses ||
        (d[0].n_accesses && memcmp(d[0].accs, d[1].accs, d[0].n_accesses * sizeof(*d[0].accs)))) {
        fprintf(stderr, "the prediction plans and predict.h differ: %d \"%s\" / %d \"%s\"\n", rc[0],
                e[0].message, rc[1], e[1].message);
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size >= 8 && !memcmp(data, FILE_MAGIC, 8)) {
        uint8_t *copy;
        run_one(data, size);
        copy = malloc(size);
        if (copy) {
            memcpy(copy, data, size);
            fix_crcs(copy, size);
            if (memcmp(copy, data, size))
                run_one(copy, size);
            free(copy);
        }
    } else if (size >= 24 && size - 24 <= MAX_PAYLOAD) {
        size_t n = 0;
        uint8_t *f = wrap_chunk(data, size, &n);
        if (f)
            run_one(f, n);
        free(f);
        plans_vs_reference(data, size);
    }
    return 0;
}

/* Salvage writes by path, next to its output (PATH.part, then a rename): a private directory,
 * in memory where /dev/shm exists. */
static char out_dir[64];

static void remove_out_dir(void)
{
    char p[96];
    snprintf(p, sizeof(p), "%s/out.hvt", out_dir);
    unlink(p);
    snprintf(p, sizeof(p), "%s/out.hvt.part", out_dir);
    unlink(p);
    rmdir(out_dir);
}

static const char *out_path(char *buf, size_t size)
{
    if (!out_dir[0]) {
        snprintf(out_dir, sizeof(out_dir), "%s/hvt-fuzz-XXXXXX",
                 access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp");
        if (!mkdtemp(out_dir)) {
            out_dir[0] = 0;
            return NULL;
        }
        atexit(remove_out_dir);
    }
    snprintf(buf, size, "%s/out.hvt", out_dir);
    return buf;
}

static void run_one(const uint8_t *data, size_t size)
{
    char in[64], out[96];
    struct hvt_fmt_verify_report rep;
    struct hvt_fmt_writer_options wo;
    int fd_in, problems = 0;
    int64_t ev;

    fd_in = mem_file(data, size, in, sizeof(in));
    if (fd_in < 0)
        return;
    read_all(in, 0);
    read_all(in, HVT_FMT_R_SCAN);
    read_all(in, HVT_FMT_R_SALVAGE);
    read_all(in, HVT_FMT_R_SCAN | HVT_FMT_R_SALVAGE);
    (void)hvt_fmt_verify(in, &rep, count_problem, &problems);

    /* Whatever salvage writes must be a valid trace. */
    if (out_path(out, sizeof(out))) {
        hvt_fmt_writer_options_init(&wo);
        wo.flags = HVT_FMT_W_OVERWRITE;
        wo.level = 1;
        ev = hvt_fmt_salvage(in, out, &wo, NULL, NULL);
        if (ev >= 0) {
            int rc = hvt_fmt_verify(out, &rep, NULL, NULL);
            if (rc != 0 || rep.events != (uint64_t)ev) {
                fprintf(stderr, "salvaged trace (%lld events) does not verify: %d, %llu events\n",
                        (long long)ev, rc, (unsigned long long)rep.events);
                abort();
            }
        }
    }
    close(fd_in);
}
