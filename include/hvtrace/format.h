/* SPDX-License-Identifier: MIT */
/* hvtrace: the trace format: chunked zstd+protobuf-c writer, validating reader, verify, salvage. */
#ifndef HVTRACE_FORMAT_H
#define HVTRACE_FORMAT_H

#include "hvtrace/export.h"

#include <stdint.h>
#include <stddef.h>

#include "hvtrace/cpu.h"
#include "hvtrace/error.h"
#include "hvtrace/types.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Trace format version (independent of the library version). A reader reads every version
 * whose major is <= its own; a trace whose min_reader_major is above the reader's major is
 * refused with -HVT_E_BAD_VERSION naming both versions. */
#define HVT_FMT_VERSION_MAJOR 2
#define HVT_FMT_VERSION_MINOR 0 /* 1.1: the header records the CPU profile; 1.2: accesses may be
                                   flagged HVT_AF_RECONSTRUCTED (acc_flags bit 3),
                                   passes carry retire flags (pass_retire); 2.0: chunk
                                   encoding 2 (access shapes and predictions), which a 1.x
                                   reader cannot read */

/* Fixed limits. The writer refuses events beyond them (-HVT_E_INVALID) and the reader refuses
 * files that exceed them (-HVT_E_LIMIT), so every trace the writer makes is readable. */
#define HVT_FMT_MAX_PASSES 1024            /* passes per event */
#define HVT_FMT_MAX_ACCESSES 65536         /* accesses per pass */
#define HVT_FMT_MAX_EVENT_ACCESSES 262144  /* accesses per event, all passes */
#define HVT_FMT_MAX_FRAMES 64              /* frames per call site */
#define HVT_FMT_MAX_STRING 4096            /* bytes per string (header fields, frame names) */
#define HVT_FMT_MAX_OPTIONS 1024           /* header key/value options */
#define HVT_FMT_MAX_CALLSITES 65536        /* call-site definitions per chunk */
#define HVT_FMT_MAX_CHUNK_BYTES (32u << 20) /* largest writer chunk_bytes option */
/* Decode memory per chunk: a reader refuses (-HVT_E_LIMIT) a chunk that would need more to
 * decode, measured from its column counts before anything is allocated; the writer closes
 * chunks well before they need that much. */
#define HVT_FMT_MAX_CHUNK_MEM (256u << 20)

/* ---- header ---------------------------------------------------------------------------- */

struct hvt_kv {
    const char *key;
    const char *value;
};

/* The trace header. On write, strings are the caller's (copied by the writer); NULL means
 * empty. On read, the strings are owned by the reader and live until it is closed; empty ones
 * are "" (never NULL). */
struct hvt_fmt_header {
    uint32_t format_major, format_minor; /* filled by the writer; read from the file */
    uint32_t min_reader_major;           /* filled by the writer; read from the file */
    const char *producer;                /* e.g. "hvtrace-sim" */
    const char *producer_version;
    /* host */
    const char *cpu_vendor; /* "GenuineIntel", "AuthenticAMD", ... */
    uint32_t cpu_family, cpu_model, cpu_stepping;
    const char *cpu_features; /* space-separated feature names ("avx2 smep smap ...") */
    const char *hypervisor;   /* "xen", "kvm", "hvtrace-sim" */
    const char *hypervisor_version;
    /* emulator core that made the recording */
    const char *core_name, *core_version, *core_build_id;
    /* recording options (policy, seed, scenario, ...) */
    size_t n_options;
    const struct hvt_kv *options;
    uint8_t uuid[16];       /* all-zero on write: the writer generates a random one */
    uint64_t start_time_ns; /* ns since the Unix epoch; 0 on write: the writer takes now */
    /* the guest's CPU profile, text form (hvt_fmt_header_set_cpu fills it and the cpu_*
     * fields above from a profile); "" in traces before format 1.1 */
    const char *cpu_profile;
};

/* Storage for the strings hvt_fmt_header_set_cpu points a header at. */
struct hvt_fmt_cpu_strings {
    char vendor[HVT_CPU_VENDOR_MAX];
    char features[512];
    char profile[HVT_CPU_TEXT_MAX];
};

/* Points HDR's cpu_* fields and cpu_profile at a description of P kept in S (which must
 * outlive the header's use). Errors: -HVT_E_INVALID (NULL), -HVT_E_LIMIT (cannot happen for
 * a profile the library made). */
HVT_API int hvt_fmt_header_set_cpu(struct hvt_fmt_header *hdr, const struct hvt_cpu_profile *p,
                                   struct hvt_fmt_cpu_strings *s);

/* What hvt_fmt_header_cpu found. */
enum hvt_fmt_cpu_source {
    HVT_FMT_CPU_RECORDED = 0,   /* the trace's profile, every token known */
    HVT_FMT_CPU_PARTIAL = 1,    /* the trace's profile; tokens this build does not know were
                                   skipped (WARN names them) */
    HVT_FMT_CPU_DEFAULT = 2,    /* the trace records none (before format 1.1): the default */
    HVT_FMT_CPU_UNREADABLE = 3, /* the recorded text does not parse (WARN says why): the
                                   default */
};

/* The CPU profile a trace header records, into *OUT. Returns an enum hvt_fmt_cpu_source, or
 * -HVT_E_INVALID (NULL arguments). WARN (may be NULL) gets the detail. */
HVT_API int hvt_fmt_header_cpu(const struct hvt_fmt_header *hdr, struct hvt_cpu_profile *out,
                               char *warn, size_t len);

/* ---- records --------------------------------------------------------------------------- */

enum hvt_record_type {
    HVT_REC_EVENT = 1,
    HVT_REC_LOST = 2,
};

/* One item of the trace, in file order. Pointers are owned by the reader (or chunk) that
 * returned the record and stay valid until the next call on it. */
struct hvt_record {
    enum hvt_record_type type;
    union {
        const struct hvt_event *event;
        const struct hvt_lost *lost;
    } u;
};

/* ---- error detail ---------------------------------------------------------------------- */

/* Where and what, for the last error of a reader or writer. */
struct hvt_fmt_error_info {
    int code;         /* -HVT_E_... of the last error, 0 if none */
    uint64_t offset;  /* byte offset in the file where the problem is */
    int64_t chunk;    /* chunk index, -1 when not in a chunk */
    int64_t record;   /* record index within the chunk, -1 when not known */
    char message[256];/* "what went wrong", without the file name */
};

/* ---- writer ---------------------------------------------------------------------------- */

#define HVT_FMT_W_OVERWRITE (1u << 0) /* replace an existing file */
#define HVT_FMT_W_FOLLOW (1u << 1)    /* a symbolic link at the path: write its target */

struct hvt_fmt_writer_options {
    size_t size;        /* sizeof(struct hvt_fmt_writer_options) */
    int level;          /* zstd level; default 3 */
    size_t chunk_bytes; /* raw (uncompressed) bytes per chunk before it is closed; default 256 KiB */
    unsigned flags;     /* HVT_FMT_W_* */
};
/* The first version (size versioning as in recorder.h). */
#define HVT_FMT_WRITER_OPTIONS_SIZE_V1 sizeof(struct hvt_fmt_writer_options)

struct hvt_fmt_writer_stats {
    uint64_t events, passes, accesses, lost_records;
    uint64_t chunks;
    uint64_t raw_bytes;  /* encoded, uncompressed payload bytes */
    uint64_t file_bytes; /* bytes in the file, header, index and footer included */
};

struct hvt_fmt_writer;

/* Fills *opt with defaults (and opt->size). */
HVT_API void hvt_fmt_writer_options_init(struct hvt_fmt_writer_options *opt);

/* Creates PATH (mode 0600) and writes the file header. OPT may be NULL for defaults.
 * The trace is written to PATH.part in the same directory (created exclusively, never through
 * a symbolic link) and renamed over PATH by hvt_fmt_writer_close, so an existing PATH is only
 * replaced by a finished file, and a writer that is killed leaves PATH.part (every complete
 * chunk; hvt_fmt_salvage makes it whole). A file that fails part way (disk full) is still
 * renamed into place by close, holding every complete chunk. A symbolic link at PATH is
 * refused unless HVT_FMT_W_FOLLOW is given (its target is written then); a directory is
 * refused; a character device (/dev/null) is written directly.
 * Returns 0 and *out, or: -HVT_E_INVALID (NULL args, empty path, bad options), -HVT_E_EXISTS
 * (PATH or PATH.part exists and HVT_FMT_W_OVERWRITE not given), -HVT_E_IO / -HVT_E_NOSPACE
 * (cannot create or write). hvt_fmt_writer_last_error() says why, naming the system error. */
HVT_API int hvt_fmt_writer_open(struct hvt_fmt_writer **out, const char *path,
                                const struct hvt_fmt_header *hdr,
                                const struct hvt_fmt_writer_options *opt);

/* Detail of the last failed hvt_fmt_writer_open or hvt_fmt_writer_close of the calling thread
 * (no writer is left to ask): "cannot create x.hvt.part: Read-only file system (EROFS)".
 * Never NULL; code 0 when none failed. */
HVT_API const struct hvt_fmt_error_info *hvt_fmt_writer_last_error(void);

/* As hvt_fmt_writer_open, on an open file descriptor positioned at offset 0; the writer does
 * not close FD. */
HVT_API int hvt_fmt_writer_open_fd(struct hvt_fmt_writer **out, int fd,
                                   const struct hvt_fmt_header *hdr,
                                   const struct hvt_fmt_writer_options *opt);

/* Appends one event (copied). Event ids must increase strictly across the trace. A chunk is
 * written when the buffered raw size reaches chunk_bytes.
 * Errors: -HVT_E_INVALID (NULL, id not increasing, sizes out of range), -HVT_E_IO,
 * -HVT_E_NOSPACE (the file stays valid up to the last complete chunk), -HVT_E_CLOSED (an
 * earlier error stopped the writer). */
HVT_API int hvt_fmt_writer_append(struct hvt_fmt_writer *w, const struct hvt_event *ev);

/* Appends a lost-records marker at the current position. Errors as hvt_fmt_writer_append. */
HVT_API int hvt_fmt_writer_append_lost(struct hvt_fmt_writer *w, const struct hvt_lost *lost);

/* Defines call site CS->id (copied). Definitions are repeated in every chunk that references
 * them, so chunks stay self-contained. Errors: -HVT_E_INVALID (id 0 or redefined differently). */
HVT_API int hvt_fmt_writer_add_callsite(struct hvt_fmt_writer *w, const struct hvt_callsite *cs);

/* Writes the buffered records as a chunk (if any) and makes it durable in the file. */
HVT_API int hvt_fmt_writer_flush(struct hvt_fmt_writer *w);

/* Flushes, writes the index and footer, closes and frees the writer (also after an error, in
 * which case the earlier error is returned), and renames PATH.part over PATH (see _open;
 * -HVT_E_EXISTS when PATH appeared meanwhile and overwriting was not requested: the trace
 * then stays in PATH.part). STATS may be NULL. W may be NULL. */
HVT_API int hvt_fmt_writer_close(struct hvt_fmt_writer *w, struct hvt_fmt_writer_stats *stats);

/* Figures so far (raw_bytes and chunks count complete chunks only). Errors: -HVT_E_INVALID. */
HVT_API int hvt_fmt_writer_get_stats(const struct hvt_fmt_writer *w,
                                     struct hvt_fmt_writer_stats *stats);

/* Detail of the writer's last error. */
HVT_API const struct hvt_fmt_error_info *hvt_fmt_writer_error(const struct hvt_fmt_writer *w);

/* ---- reader ---------------------------------------------------------------------------- */

#define HVT_FMT_R_SCAN (1u << 0)    /* ignore the index; find chunks by scanning */
#define HVT_FMT_R_SALVAGE (1u << 1) /* skip corrupt chunks (resynchronising on the next magic)
                                       instead of stopping at the first error */

struct hvt_fmt_reader_options {
    size_t size;           /* sizeof(struct hvt_fmt_reader_options) */
    unsigned flags;        /* HVT_FMT_R_* */
    size_t max_chunk_raw;  /* refuse chunks that decompress beyond this; default 64 MiB */
    size_t max_chunk_mem;  /* refuse chunks that need more memory to decode (unpacked columns,
                              and every record for _load_chunk); default HVT_FMT_MAX_CHUNK_MEM */
};
/* The first version (size versioning as in recorder.h). */
#define HVT_FMT_READER_OPTIONS_SIZE_V1 sizeof(struct hvt_fmt_reader_options)

/* One chunk as the index (or a scan) describes it. */
struct hvt_fmt_chunk_info {
    uint64_t offset;         /* file offset of the chunk header */
    uint32_t compressed_size;
    uint32_t raw_size;
    uint64_t first_event_id; /* HVT_NO_EVENT when the chunk holds no event */
    uint64_t last_event_id;
    uint32_t n_events;
    uint32_t n_records;      /* events + lost markers */
};

struct hvt_fmt_reader;
struct hvt_fmt_chunk;

HVT_API void hvt_fmt_reader_options_init(struct hvt_fmt_reader_options *opt);

/* Opens PATH and validates the file header; reads the index when there is a valid one
 * (otherwise, and with HVT_FMT_R_SCAN, chunks are located by scanning). An index is used only
 * when every entry equals the header of the chunk it points at (when that checks out), so the
 * chunks read are the same either way. OPT may be NULL.
 * Errors: -HVT_E_INVALID, -HVT_E_IO (cannot open; not a regular file: a FIFO, device or
 * directory is refused without blocking), -HVT_E_BAD_MAGIC, -HVT_E_BAD_VERSION, -HVT_E_TRUNCATED,
 * -HVT_E_CHECKSUM, -HVT_E_BAD_RECORD, -HVT_E_LIMIT. On error *out is still set when a reader
 * could be allocated, so hvt_fmt_reader_error() can say where; free it with _close. */
HVT_API int hvt_fmt_reader_open(struct hvt_fmt_reader **out, const char *path,
                                const struct hvt_fmt_reader_options *opt);

/* Frees the reader. R may be NULL. */
HVT_API void hvt_fmt_reader_close(struct hvt_fmt_reader *r);

HVT_API const struct hvt_fmt_header *hvt_fmt_reader_header(const struct hvt_fmt_reader *r);

/* 1 when the file has a valid index and footer (a cleanly closed trace), 0 otherwise. */
HVT_API int hvt_fmt_reader_has_index(const struct hvt_fmt_reader *r);

/* Next record in file order. Returns 1 with *rec, 0 at the end, or a negative error (the
 * reader then stops, unless opened with HVT_FMT_R_SALVAGE, where it skips to the next good
 * chunk and the error can be read from hvt_fmt_reader_error()). */
HVT_API int hvt_fmt_reader_next(struct hvt_fmt_reader *r, struct hvt_record *rec);

/* Positions the reader so that the next record is event ID (or the first event after it).
 * Uses the index when there is one. Errors: -HVT_E_NOT_FOUND (past the last event). */
HVT_API int hvt_fmt_reader_seek_event(struct hvt_fmt_reader *r, uint64_t id);

/* Number of chunks (known from the index, or after a full scan) and their descriptions. */
HVT_API int64_t hvt_fmt_reader_chunk_count(struct hvt_fmt_reader *r);
HVT_API int hvt_fmt_reader_chunk_info(struct hvt_fmt_reader *r, uint64_t k,
                                      struct hvt_fmt_chunk_info *info);

/* Reads, verifies and decodes chunk K alone. Safe to call from several threads at once on the
 * same reader (each call uses its own buffers). The chunk is freed with hvt_fmt_chunk_free.
 * A chunk whose decoded form (records included) would need more than max_chunk_mem is refused
 * with -HVT_E_LIMIT before it is unpacked. */
HVT_API int hvt_fmt_reader_load_chunk(struct hvt_fmt_reader *r, uint64_t k,
                                      struct hvt_fmt_chunk **out);

/* Records of a loaded chunk; pointers live until the chunk is freed. */
HVT_API size_t hvt_fmt_chunk_records(const struct hvt_fmt_chunk *c);
HVT_API int hvt_fmt_chunk_record(const struct hvt_fmt_chunk *c, size_t i, struct hvt_record *rec);
/* Call site ID as defined in this chunk, or NULL. */
HVT_API const struct hvt_callsite *hvt_fmt_chunk_callsite(const struct hvt_fmt_chunk *c,
                                                          uint32_t id);
HVT_API void hvt_fmt_chunk_free(struct hvt_fmt_chunk *c);

/* Call site ID as defined in the chunk of the last record returned by _next, or NULL (also
 * for an id used but never defined). Frame names are NULL when unknown. */
HVT_API const struct hvt_callsite *hvt_fmt_reader_callsite(const struct hvt_fmt_reader *r,
                                                           uint32_t id);

/* Detail of the reader's last error. */
HVT_API const struct hvt_fmt_error_info *hvt_fmt_reader_error(const struct hvt_fmt_reader *r);

/* ---- verify and salvage ---------------------------------------------------------------- */

struct hvt_fmt_verify_report {
    uint64_t chunks_good, chunks_bad;
    uint64_t events, lost_records;
    int has_index;          /* a footer with a valid CRC was found (the trace was closed) */
    int index_consistent;   /* the index is usable and matches the chunks found by scanning */
    int truncated_tail;     /* the file ends inside a chunk (a crashed writer) */
    uint64_t good_bytes;    /* offset just past the last good chunk */
};

/* Called once per problem found (PATH-relative detail in INFO). Return nonzero to stop. */
typedef int (*hvt_fmt_problem_fn)(void *arg, const struct hvt_fmt_error_info *info);

/* Checks every chunk (CRC, decode, ids in order, index consistent with chunks). Returns 0 when
 * the trace is good, the first problem's -HVT_E_... code otherwise (all problems go to FN). */
HVT_API int hvt_fmt_verify(const char *path, struct hvt_fmt_verify_report *rep,
                           hvt_fmt_problem_fn fn, void *arg);

/* Writes OUT as a new valid trace of everything readable in IN (header, every good chunk's
 * records, a fresh index). Returns the number of events recovered, or a negative error:
 * -HVT_E_SAME_FILE when OUT is IN (same device and inode: also through a symbolic or hard
 * link; IN is left alone), the errors of hvt_fmt_reader_open and hvt_fmt_writer_open. */
HVT_API int64_t hvt_fmt_salvage(const char *in, const char *out,
                                const struct hvt_fmt_writer_options *opt, hvt_fmt_problem_fn fn,
                                void *arg);

/* ---- helpers --------------------------------------------------------------------------- */

/* Deep copy / free of an event (passes and accesses included); for holding records past the
 * lifetime of their reader. The clone is one allocation; free it only with hvt_event_free
 * (which accepts NULL). Errors: -HVT_E_INVALID (NULL, passes/accesses NULL with a count),
 * -HVT_E_NOMEM. */
HVT_API int hvt_event_clone(struct hvt_event **out, const struct hvt_event *ev);
HVT_API void hvt_event_free(struct hvt_event *ev);

#ifdef __cplusplus
}
#endif
#endif /* HVTRACE_FORMAT_H */
