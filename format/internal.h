/* SPDX-License-Identifier: MIT */
/* hvtrace format: helpers shared by the writer, reader and verifier (not public). */
#ifndef HVT_FMT_INTERNAL_H
#define HVT_FMT_INTERNAL_H

#include <stdint.h>

#include "hvtrace/format.h"

/* Fills *E and returns CODE (a negative -HVT_E_...). */
int hvt_fmt_seterr(struct hvt_fmt_error_info *e, int code, uint64_t offset, int64_t chunk,
                   int64_t record, const char *fmt, ...) __attribute__((format(printf, 6, 7)));

/* What verify needs from a reader beyond the public API (see verify.c). */
struct hvt_fmt_reader_diag {
    hvt_fmt_problem_fn fn; /* called for each problem met while scanning or loading chunks */
    void *arg;
    int stop;       /* fn asked to stop */
    int first_code; /* code of the first problem */
    uint64_t chunks_good, chunks_bad;
    int truncated_tail;                  /* the scan met the end of the file inside a chunk */
    uint64_t good_bytes;                 /* offset just past the last good chunk */
    int footer_valid;                    /* a footer with a valid CRC was found */
    struct hvt_fmt_error_info index_err; /* why the index was not used (code 0: it was) */
    uint64_t scan_reads;                 /* scanning: reads and seeks made */
    uint64_t scan_bytes;                 /* resynchronising: bytes read */
    size_t decode_peak; /* largest decode memory of one chunk load (buffers, unpacked, records) */
};
struct hvt_fmt_reader_diag *hvt_fmt_reader_diag(struct hvt_fmt_reader *r);

/* 1 when PATH (symbolic links followed) is the file R reads: same device and inode. */
int hvt_fmt_reader_same_file(const struct hvt_fmt_reader *r, const char *path);

static inline uint64_t hvt_zigzag(int64_t v)
{
    return ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
}

/* Encoded size of a varint. */
static inline unsigned hvt_varint_len(uint64_t v)
{
    return 1 + (63 - (unsigned)__builtin_clzll(v | 1)) / 7;
}

#endif
