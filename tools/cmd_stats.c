/* SPDX-License-Identifier: MIT */
/* hvtrace stats: counts, sizes and compression of a trace. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "hvtrace/format.h"
#include "print.h"
#include "util.h"

struct stats {
    uint64_t events, passes, accesses, data_bytes;
    uint64_t by_outcome[HVT_OUT__COUNT + 1]; /* last slot: values out of range */
    uint64_t by_kind[HVT_ACC__COUNT + 1];
    uint64_t by_class[HVT_TAG__COUNT + 1];
    uint64_t by_space[HVT_SPACE__COUNT + 1];
    uint64_t lost_markers, lost_records, lost_in_passes;
    uint64_t chunks, raw_bytes, compressed_bytes, file_bytes;
    int has_index;
};

static void help(FILE *f)
{
    fprintf(f, "usage: hvtrace stats FILE [--json]\n"
               "\n"
               "Counts events, passes (per outcome) and accesses (by kind, tag class and space),\n"
               "and reports bytes per access (file bytes / accesses), the compression ratio (raw\n"
               "payload bytes / compressed payload bytes over all chunks), the number of chunks,\n"
               "lost records (markers, and accesses lost inside passes) and whether the index is\n"
               "present.\n"
               "\n"
               "  --json   one JSON object (schema: docs/TOOLS.md)\n"
               "\n"
               "Bad chunks are reported on stderr and skipped; the counts are then those of the\n"
               "readable part. exit: 0 ok, 2 usage error, 3 corrupt or unreadable trace\n");
}

static void count_event(struct stats *s, const struct hvt_event *ev)
{
    s->events++;
    for (uint32_t p = 0; ev->passes && p < ev->n_passes; p++) {
        const struct hvt_pass *ps = &ev->passes[p];
        s->passes++;
        s->by_outcome[ps->out.kind < HVT_OUT__COUNT ? ps->out.kind : HVT_OUT__COUNT]++;
        s->lost_in_passes += ps->lost;
        for (uint32_t i = 0; ps->accesses && i < ps->n_accesses; i++) {
            const struct hvt_access *a = &ps->accesses[i];
            s->accesses++;
            s->data_bytes += a->size;
            s->by_kind[a->kind < HVT_ACC__COUNT ? a->kind : HVT_ACC__COUNT]++;
            s->by_class[a->tag.cls < HVT_TAG__COUNT ? a->tag.cls : HVT_TAG__COUNT]++;
            s->by_space[a->space < HVT_SPACE__COUNT ? a->space : HVT_SPACE__COUNT]++;
        }
    }
}

typedef const char *(*name_fn)(unsigned);

static void print_counts(FILE *f, const char *label, const uint64_t *c, unsigned n, name_fn name,
                         int json)
{
    if (json) {
        fprintf(f, ",\"%s\":{", label);
        for (unsigned i = 0; i < n; i++)
            fprintf(f, "%s\"%s\":%" PRIu64, i ? "," : "", name(i), c[i]);
        if (c[n])
            fprintf(f, ",\"other\":%" PRIu64, c[n]);
        fputc('}', f);
        return;
    }
    fprintf(f, "  %-14s", label);
    for (unsigned i = 0; i < n; i++)
        fprintf(f, "%s%s %" PRIu64, i ? ", " : "", name(i), c[i]);
    if (c[n])
        fprintf(f, ", other %" PRIu64, c[n]);
    fputc('\n', f);
}

static double ratio(uint64_t a, uint64_t b)
{
    return b ? (double)a / (double)b : 0.0;
}

static void print_stats(FILE *f, const char *path, const struct hvt_fmt_header *h,
                        const struct stats *s, int json)
{
    if (json) {
        fputs("{\"file\":", f);
        hvt_json_str(f, path);
        fprintf(f, ",\"format\":\"%" PRIu32 ".%" PRIu32 "\",\"producer\":", h->format_major,
                h->format_minor);
        hvt_json_str(f, h->producer);
        fprintf(f,
                ",\"file_bytes\":%" PRIu64 ",\"has_index\":%s,\"chunks\":%" PRIu64
                ",\"events\":%" PRIu64 ",\"passes\":%" PRIu64,
                s->file_bytes, s->has_index ? "true" : "false", s->chunks, s->events, s->passes);
        print_counts(f, "passes_by_outcome", s->by_outcome, HVT_OUT__COUNT, hvt_outcome_name, 1);
        fprintf(f, ",\"accesses\":%" PRIu64, s->accesses);
        print_counts(f, "accesses_by_kind", s->by_kind, HVT_ACC__COUNT, hvt_access_kind_name, 1);
        print_counts(f, "accesses_by_class", s->by_class, HVT_TAG__COUNT, hvt_tag_class_name, 1);
        print_counts(f, "accesses_by_space", s->by_space, HVT_SPACE__COUNT, hvt_space_name, 1);
        fprintf(f,
                ",\"data_bytes\":%" PRIu64 ",\"bytes_per_access\":%.3f,\"raw_bytes\":%" PRIu64
                ",\"compressed_bytes\":%" PRIu64 ",\"compression_ratio\":%.3f"
                ",\"lost_markers\":%" PRIu64 ",\"lost_records\":%" PRIu64
                ",\"lost_accesses_in_passes\":%" PRIu64 ",",
                s->data_bytes, ratio(s->file_bytes, s->accesses), s->raw_bytes, s->compressed_bytes,
                ratio(s->raw_bytes, s->compressed_bytes), s->lost_markers, s->lost_records,
                s->lost_in_passes);
        hvt_print_cpu(f, h, HVT_PRINT_JSON, "");
        fputs("}\n", f);
        return;
    }
    fputs("file            ", f);
    hvt_text_str(f, path);
    fputc('\n', f);
    fprintf(f, "format          %" PRIu32 ".%" PRIu32 "  producer ", h->format_major,
            h->format_minor);
    hvt_text_str(f, h->producer);
    fputc('\n', f);
    hvt_print_cpu(f, h, 0, "cpu             ");
    fprintf(f, "file bytes      %" PRIu64 "\n", s->file_bytes);
    fprintf(f, "index           %s\n", s->has_index ? "present" : "missing");
    fprintf(f, "chunks          %" PRIu64 "\n", s->chunks);
    fprintf(f, "events          %" PRIu64 "\n", s->events);
    fprintf(f, "passes          %" PRIu64 "\n", s->passes);
    print_counts(f, "by outcome", s->by_outcome, HVT_OUT__COUNT, hvt_outcome_name, 0);
    fprintf(f, "accesses        %" PRIu64 "  (%" PRIu64 " data bytes)\n", s->accesses,
            s->data_bytes);
    print_counts(f, "by kind", s->by_kind, HVT_ACC__COUNT, hvt_access_kind_name, 0);
    print_counts(f, "by tag class", s->by_class, HVT_TAG__COUNT, hvt_tag_class_name, 0);
    print_counts(f, "by space", s->by_space, HVT_SPACE__COUNT, hvt_space_name, 0);
    fprintf(f, "bytes/access    %.3f\n", ratio(s->file_bytes, s->accesses));
    fprintf(f, "compression     %.3fx  (raw %" PRIu64 ", compressed %" PRIu64 ")\n",
            ratio(s->raw_bytes, s->compressed_bytes), s->raw_bytes, s->compressed_bytes);
    fprintf(f,
            "lost            %" PRIu64 " records in %" PRIu64 " markers, %" PRIu64
            " accesses inside passes\n",
            s->lost_records, s->lost_markers, s->lost_in_passes);
}

int hvt_cmd_stats(int argc, char **argv)
{
    const char *path = NULL;
    int json = 0, status = HVT_EXIT_OK, rc;
    struct hvt_fmt_reader *r;
    struct hvt_fmt_error_info seen = {0};
    struct hvt_record rec;
    static struct stats s;
    struct stat sb;
    int64_t n;

    if (hvt_tool_wants_help(argc, argv)) {
        help(stdout);
        return HVT_EXIT_OK;
    }
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--json")) {
            json = 1;
        } else if (argv[i][0] != '-' && !path) {
            path = argv[i];
        } else {
            hvt_tool_err("stats: unexpected argument '%s'", argv[i]);
            help(stderr);
            return HVT_EXIT_USAGE;
        }
    }
    if (!path) {
        hvt_tool_err("stats: no trace file given");
        help(stderr);
        return HVT_EXIT_USAGE;
    }
    rc = hvt_print_open(&r, path, HVT_FMT_R_SALVAGE);
    if (rc)
        return rc;
    memset(&s, 0, sizeof(s));
    for (;;) {
        rc = hvt_fmt_reader_next(r, &rec);
        if (hvt_print_new_error(path, r, &seen))
            status = HVT_EXIT_CORRUPT;
        if (rc < 0) {
            if (!seen.code)
                hvt_tool_err("%s: %s", path, hvt_strerror(rc));
            status = HVT_EXIT_CORRUPT;
            break;
        }
        if (rc == 0)
            break;
        if (rec.type == HVT_REC_EVENT && rec.u.event) {
            count_event(&s, rec.u.event);
        } else if (rec.type == HVT_REC_LOST && rec.u.lost) {
            s.lost_markers++;
            s.lost_records += rec.u.lost->count;
        }
    }
    /* Chunk sizes come from the index (or the scan the loop above completed), so the ratio is
     * over the chunks as stored, not as re-encoded. */
    n = hvt_fmt_reader_chunk_count(r);
    for (int64_t k = 0; k < n; k++) {
        struct hvt_fmt_chunk_info ci;
        if (hvt_fmt_reader_chunk_info(r, (uint64_t)k, &ci) < 0)
            continue;
        s.chunks++;
        s.raw_bytes += ci.raw_size;
        s.compressed_bytes += ci.compressed_size;
    }
    s.has_index = hvt_fmt_reader_has_index(r) == 1;
    s.file_bytes = stat(path, &sb) == 0 ? (uint64_t)sb.st_size : 0;
    print_stats(stdout, path, hvt_fmt_reader_header(r), &s, json);
    hvt_fmt_reader_close(r);
    if (fflush(stdout) || ferror(stdout)) {
        hvt_tool_err("stats: cannot write the output");
        return HVT_EXIT_USAGE;
    }
    return status;
}
